/* SPDX-License-Identifier: Apache-2.0 */
/*
 * causes: a table of known leak fingerprints -> short, actionable hints with
 * a confidence. Adding a fingerprint is one table entry (causes_table.c) plus
 * one test (tests/unit/test_causes.c).
 *
 * A fingerprint matches on the stack's function names (any frame, leaf
 * frame, creator), optionally on its state and wait minutes (debug=2), and
 * can look at the context: other stacks growing at the same time (e.g.
 * readLoop and writeLoop together) and heap allocation sites growing.
 */
#ifndef LW_CAUSES_H
#define LW_CAUSES_H

#include "pprof/pprof.h"

/* What the analysis knows about one growing goroutine stack. */
struct lw_cause_subject {
    const struct lw_stack *stack;   /* representative stack (frames, created_by, state, waits) */
    double growth_per_hour;         /* goroutines per hour (sustained), may be 0 */
    int64_t count;                  /* latest count */
    /* addition: how long the stack had existed (seconds since its identity
     * first appeared in the series) when its debug=2 wait minutes were
     * read; 0 = unknown. With max_wait_minutes == 0 at an age of minutes it
     * says the goroutines are woken periodically (a ticker loop), not
     * blocked forever. */
    double details_age_s;
};

/* Context: everything else that grows in the same container. */
struct lw_cause_context {
    const struct lw_cause_subject *goroutines; /* all growing goroutine stacks */
    size_t ngoroutines;
    const struct lw_stack *const *heap_sites;  /* growing heap allocation sites */
    size_t nheap;
};

struct lw_cause {
    const char *id;          /* stable id, e.g. "http-transport-per-request" */
    const char *hint;        /* one line, e.g. "likely an http.Transport built per request" */
    double confidence;       /* 0..1 */
};

/* Best matching cause for a goroutine stack; returns 1 and fills *out, or 0. */
int lw_causes_match_goroutine(const struct lw_cause_subject *s, const struct lw_cause_context *ctx,
                              struct lw_cause *out);
/* Best matching cause for a growing heap site; returns 1 and fills *out, or 0. */
int lw_causes_match_heap(const struct lw_stack *site, const struct lw_cause_context *ctx,
                         struct lw_cause *out);

/* Whether a heap allocation site lies inside a data structure that is bounded
 * by design (an LRU cache: it evicts at capacity), so that the memory it holds
 * grows while it fills and then levels off. Returns 1 and fills *out (id
 * "lru-cache-filling", the hint, a confidence) or 0. This is prior knowledge
 * about the structure, not a leak cause: the analysis uses it to wait before
 * extrapolating heap growth it cannot otherwise tell from a warm-up
 * (docs/analysis.md, "Bounded structures"). */
int lw_causes_match_bounded(const struct lw_stack *site, struct lw_cause *out);

/* Whether a goroutine stack is one of an HTTP connection kept for reuse (a
 * Transport's persistConn loops, a server's keep-alive conn.serve, their
 * HTTP/2 forms), whose count follows the load in a healthy process. Returns 1
 * and fills *out (id "pooled-connection") or 0. Prior knowledge, not a leak
 * cause: the analysis then asks the debug=2 waits whether the growth is in
 * use (docs/analysis.md §2.1). */
int lw_causes_match_pooled(const struct lw_stack *st, struct lw_cause *out);

/* Number of entries in the table, and their ids (for docs/tests). */
size_t lw_causes_count(void);
const char *lw_causes_id(size_t i);

/* ---- additions (analysis helper) ------------------------------------------ */

/* What a goroutine is blocked on, from its debug=2 state when present, else
 * from the runtime frames at its leaf (runtime.chansend, runtime.selectgo,
 * internal/poll.runtime_pollWait, time.Sleep, sync.runtime_Semacquire...). */
enum lw_wait_kind {
    LW_WAIT_UNKNOWN = 0,
    LW_WAIT_IO = 1 << 0,      /* "IO wait": netpoller (sockets, pipes) */
    LW_WAIT_SEND = 1 << 1,    /* "chan send" */
    LW_WAIT_RECV = 1 << 2,    /* "chan receive" */
    LW_WAIT_SELECT = 1 << 3,  /* "select", "select (no cases)" */
    LW_WAIT_SLEEP = 1 << 4,   /* "sleep" (time.Sleep) */
    LW_WAIT_SYNC = 1 << 5,    /* semacquire, sync.Mutex/RWMutex/Cond/WaitGroup */
    LW_WAIT_OTHER = 1 << 6,   /* running, runnable, syscall, GC states... */
};
unsigned lw_causes_wait_kind(const struct lw_stack *s);
/* "IO wait", "chan send", "chan receive", "select", "sleep", "sync", "other", "unknown". */
const char *lw_wait_kind_name(unsigned kind);

#endif
