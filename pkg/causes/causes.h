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

/* Number of entries in the table, and their ids (for docs/tests). */
size_t lw_causes_count(void);
const char *lw_causes_id(size_t i);

#endif
