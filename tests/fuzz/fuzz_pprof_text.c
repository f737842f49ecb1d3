/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pprof_text.c: libFuzzer target for the text parsers and the sniffing
 * dispatcher. Each input goes through lw_pprof_parse() (so gzip, sniffing and
 * the error paths are covered) and through each text parser directly, with
 * small limits so the caps are hit too. On success the model is walked
 * (identity, user frame, and with a goroutine id cut the count of older
 * goroutines) to catch dangling pointers and broken invariants. Any crash,
 * sanitizer report or leak is a bug.
 */
#include "pprof/pprof.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void walk(struct lw_profile *p)
{
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *s = &p->stacks[i];
        sink ^= lw_stack_identity(s);
        const struct lw_frame *u = lw_stack_user_frame(s);
        if (u)
            sink ^= strlen(u->func);
        sink ^= lw_stack_leaf_index(s);
        for (uint32_t k = 0; k < s->nframes; k++) {
            if (!lw_stack_frame(s, k)->func)
                abort();
            sink ^= strlen(lw_stack_frame(s, k)->func);
            if (lw_stack_frame(s, k)->file)
                sink ^= strlen(lw_stack_frame(s, k)->file);
        }
        /* debug=2 and heap stacks have their side record, debug=1 ones none */
        if ((s->ext != NULL) != (p->format == LW_FMT_DEBUG2 || p->format == LW_FMT_HEAP1 ||
                                 (p->format == LW_FMT_PROTO && p->kind == LW_KIND_HEAP)))
            abort();
        if (lw_stack_state(s))
            sink ^= strlen(lw_stack_state(s));
        if (lw_stack_has_labels(s)) {
            struct lw_buf lb = LW_BUF_INIT(0);
            if (lw_stack_labels(p, s, &lb) != LW_OK || lb.len != strlen(lb.data))
                abort();
            sink ^= lb.len;
            lw_buf_release(&lb);
        }
        if (lw_stack_created_by(s))
            sink ^= strlen(lw_stack_created_by(s));
        if (lw_stack_created_by_file(s))
            sink ^= strlen(lw_stack_created_by_file(s));
        sink ^= (uint64_t)lw_stack_min_wait(s) ^ (uint64_t)lw_stack_alloc_objects(s);
        /* debug=2 with a cut: 0 <= at-or-below-the-cut <= count (an id too
         * long for 63 bits is unknown, so not counted); else unknown */
        int64_t old = lw_stack_old_goroutines(s);
        if (p->format == LW_FMT_DEBUG2 && p->goid_cut > 0) {
            if (old < 0 || old > s->count)
                abort();
        } else if (old != -1) {
            abort();
        }
    }
    (void)sink;
}

typedef int (*parse_fn)(const char *, size_t, const struct lw_pprof_limits *,
                        struct lw_profile **, struct lw_errbuf *);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_inflated = 4u << 20;
    l.max_arena = 16u << 20;
    l.max_frames = 64;
    l.max_stacks = 10000;
    struct lw_errbuf eb;
    struct lw_profile *p = NULL;
    (void)lw_pprof_sniff(data, size);
    if (lw_pprof_parse(data, size, &l, &p, &eb) == LW_OK) {
        walk(p);
        lw_profile_free(p);
    } else if (p != NULL || eb.msg[0] == '\0') {
        abort(); /* errors must leave *out NULL and say why */
    }
    static const parse_fn fns[] = {lw_pprof_parse_debug1, lw_pprof_parse_debug2,
                                   lw_pprof_parse_heap1};
    /* tiny caps: every error path */
    struct lw_pprof_limits t = l;
    t.max_frames = 2;
    t.max_stacks = 3;
    t.max_arena = 70000;
    t.goid_cut = 1 + (int64_t)(size % 64); /* the counting of older goroutines too */
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        for (int pass = 0; pass < 2; pass++) {
            p = NULL;
            if (fns[i]((const char *)data, size, pass ? &t : &l, &p, &eb) == LW_OK) {
                walk(p);
                lw_profile_free(p);
            } else if (p != NULL) {
                abort();
            }
        }
    }
    return 0;
}
