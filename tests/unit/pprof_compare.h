/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_compare.h: lw_same_profile(), field-by-field equality of two pprof
 * models (strings compared by content), for the tests and fuzz targets that
 * check "the stream gives the same profile as the whole-buffer parse"
 * (tests/unit/test_pprof_stream.c, tests/fuzz/fuzz_pprof_stream.c).
 */
#ifndef LW_TEST_PPROF_COMPARE_H
#define LW_TEST_PPROF_COMPARE_H

#include "pprof/pprof.h"

#include <stdint.h>
#include <string.h>

static inline int lw_test_str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* Stack s's label text through lw_stack_labels(), in b (reset first): NULL
 * when the stack has no labels, "(error N)" if the accessor fails. */
static inline const char *lw_test_labels(const struct lw_profile *p, const struct lw_stack *s,
                                         struct lw_buf *b)
{
    lw_buf_reset(b);
    if (!lw_stack_has_labels(s))
        return NULL;
    int rc = lw_stack_labels(p, s, b);
    if (rc != LW_OK) {
        lw_buf_reset(b);
        lw_buf_appendf(b, "(error %d)", rc);
    }
    return b->data ? b->data : "";
}

/* 1 if stacks a (of p) and b (of q) have the same label text. */
static inline int lw_test_same_labels(const struct lw_profile *p, const struct lw_stack *a,
                                      const struct lw_profile *q, const struct lw_stack *b)
{
    struct lw_buf x = LW_BUF_INIT(0), y = LW_BUF_INIT(0);
    int same = lw_test_str_eq(lw_test_labels(p, a, &x), lw_test_labels(q, b, &y));
    lw_buf_release(&x);
    lw_buf_release(&y);
    return same;
}

/* 1 if p and q hold the same model. */
static inline int lw_same_profile(const struct lw_profile *p, const struct lw_profile *q)
{
    if (p->kind != q->kind || p->format != q->format || p->total != q->total ||
        p->nstacks != q->nstacks || p->heap_sample_rate != q->heap_sample_rate ||
        p->time_nanos != q->time_nanos || p->go_version_hint != q->go_version_hint ||
        p->max_goid != q->max_goid || p->goid_cut != q->goid_cut ||
        memcmp(&p->memstats, &q->memstats, sizeof(p->memstats)) != 0)
        return 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *a = &p->stacks[i], *b = &q->stacks[i];
        if (a->nframes != b->nframes || a->flags != b->flags || a->count != b->count ||
            (a->ext != NULL) != (b->ext != NULL) ||
            lw_stack_max_wait(a) != lw_stack_max_wait(b) ||
            lw_stack_min_wait(a) != lw_stack_min_wait(b) ||
            lw_stack_min_goid(a) != lw_stack_min_goid(b) ||
            lw_stack_max_goid(a) != lw_stack_max_goid(b) ||
            lw_stack_old_goroutines(a) != lw_stack_old_goroutines(b) ||
            lw_stack_inuse_bytes(a) != lw_stack_inuse_bytes(b) ||
            lw_stack_alloc_objects(a) != lw_stack_alloc_objects(b) ||
            lw_stack_alloc_bytes(a) != lw_stack_alloc_bytes(b) ||
            lw_stack_created_by_line(a) != lw_stack_created_by_line(b) ||
            !lw_test_str_eq(lw_stack_created_by(a), lw_stack_created_by(b)) ||
            !lw_test_str_eq(lw_stack_created_by_file(a), lw_stack_created_by_file(b)) ||
            !lw_test_str_eq(lw_stack_state(a), lw_stack_state(b)) ||
            !lw_test_same_labels(p, a, q, b))
            return 0;
        for (uint32_t k = 0; k < a->nframes; k++) {
            const struct lw_frame *fa = lw_stack_frame(a, k), *fb = lw_stack_frame(b, k);
            if (!lw_test_str_eq(fa->func, fb->func) || !lw_test_str_eq(fa->file, fb->file) ||
                fa->line != fb->line)
                return 0;
        }
    }
    return 1;
}

#endif
