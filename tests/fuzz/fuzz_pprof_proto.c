/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pprof_proto.c: lw_pprof_parse_proto() on arbitrary bytes (plain or
 * gzip'd). Never crashes, leaks or runs away; on success the model obeys
 * its invariants (frames present and capped, totals equal the sums).
 * Limits are lowered so a fuzzer's memory stays small.
 */
#include "pprof/pprof.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_pprof_limits lim;
    lw_pprof_limits_default(&lim);
    lim.max_inflated = 16u << 20;
    lim.max_arena = 64u << 20;
    lim.max_frames = 64;
    struct lw_profile *p = NULL;
    struct lw_errbuf eb;
    eb.msg[0] = '\0';
    int rc = lw_pprof_parse_proto(data, size, &lim, &p, &eb);
    if (rc != LW_OK) {
        if (p != NULL || eb.msg[0] == '\0' || rc >= 0)
            abort();
        return 0;
    }
    if (!p || p->format != LW_FMT_PROTO || p->kind == LW_KIND_UNKNOWN)
        abort();
    uint64_t sum = 0;
    struct lw_buf lb = LW_BUF_INIT(0);
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *s = &p->stacks[i];
        if (s->nframes > lim.max_frames || (s->nframes && !s->ftab))
            abort();
        for (uint32_t j = 0; j < s->nframes; j++)
            if (!lw_stack_frame(s, j)->func || strlen(lw_stack_frame(s, j)->func) > size)
                abort();
        /* the label text, formatted on demand from the sample: as the parse
         * checked, it is there, braced and within the 16 MiB a sample may have */
        lw_buf_reset(&lb);
        if (lw_stack_labels(p, s, &lb) != LW_OK)
            abort();
        if (lw_stack_has_labels(s) != (lb.len > 0) ||
            (lb.len && (lb.data[0] != '{' || lb.data[lb.len - 1] != '}' ||
                        lb.len > (16u << 20) || strlen(lb.data) != lb.len)))
            abort();
        if ((s->ext != NULL) != (p->kind == LW_KIND_HEAP)) /* heap stacks only have one */
            abort();
        sum += (uint64_t)(p->kind == LW_KIND_HEAP ? lw_stack_inuse_bytes(s) : s->count);
    }
    lw_buf_release(&lb);
    if ((int64_t)sum != p->total)
        abort();
    lw_profile_free(p);
    return 0;
}
