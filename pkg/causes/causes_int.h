/* SPDX-License-Identifier: Apache-2.0 */
/*
 * causes_int.h: the declarative shape of one known-cause fingerprint, shared
 * by the matcher (causes.c) and the table (causes_table.c). A fingerprint is
 * data, not code, so adding one is one table entry plus one test.
 */
#ifndef LW_CAUSES_INT_H
#define LW_CAUSES_INT_H

#include "causes/causes.h"

#include <stdbool.h>
#include <stdint.h>

#define LW_CP_MAX 8 /* strings per list; lists end at the first NULL */

/* Pattern wait bit: also match when the wait kind is unknown (debug=1 hides
 * the runtime frames that say chan send/receive/select). */
#define LW_WAITS_UNKNOWN_OK (1u << 15)

/*
 * A pattern over one stack. Every list is optional (empty = no condition);
 * all substring tests are on function names ("net/http.(*persistConn).readLoop").
 */
struct lw_cause_pattern {
    const char *all[LW_CP_MAX];      /* each must occur in some frame */
    const char *any[LW_CP_MAX];      /* at least one must occur in some frame */
    const char *none[LW_CP_MAX];     /* none may occur in any frame */
    const char *leaf[LW_CP_MAX];     /* the leaf frame (first non-runtime) contains one */
    const char *creator[LW_CP_MAX];  /* created_by contains one; ignored when unknown */
    unsigned waits;                  /* allowed enum lw_wait_kind bits; 0 = any */
    bool user_leaf;                  /* the leaf frame is user code (not runtime/std) */
    bool user_frame;                 /* some frame is user code */
    int64_t min_wait_minutes;        /* evidence: debug=2 longest wait at least this; 0 = none */
    bool woken;                      /* goroutines woken periodically: debug=2 shows no wait of
                                      * a minute although the stack is LW_CAUSE_WOKEN_AGE_S old */
};

/* A goroutine blocked since before the last GC shows ">= 1 minutes" once a
 * GC has stamped it and a minute passed; the forced GC runs every 2 minutes,
 * so by 4 minutes of age a goroutine blocked all along shows a wait. */
#define LW_CAUSE_WOKEN_AGE_S 240.0

enum lw_cause_target {
    LW_CAUSE_GOROUTINE = 0, /* matched against growing goroutine stacks */
    LW_CAUSE_HEAP,          /* matched against growing heap allocation sites */
    LW_CAUSE_BOUNDED,       /* heap sites inside a structure bounded by design (an LRU):
                             * not a cause but evidence that growth may level off */
    LW_CAUSE_POOLED,        /* goroutines of connections that a pool or keep-alive keeps
                             * for reuse: not a cause, but growth that may be in use */
};

struct lw_cause_rule {
    const char *id;            /* diagnosis id; several entries may share one */
    enum lw_cause_target target;
    double confidence;         /* before the evidence factors (causes.c) */
    const char *hint;          /* one line, names the fix */
    struct lw_cause_pattern self;
    bool need_sibling;         /* another growing goroutine stack matches `sibling` */
    struct lw_cause_pattern sibling;
    const char *heap[LW_CP_MAX]; /* some growing heap site has a frame containing one */
};

extern const struct lw_cause_rule lw__cause_rules[];
extern const size_t lw__cause_nrules;

#endif
