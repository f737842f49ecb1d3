/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pprof_stream.c: libFuzzer target for the streaming parser
 * (lw_pprof_stream_*). Each input is parsed whole by lw_pprof_parse() and
 * streamed in chunks of pseudo-random sizes (1 byte to 4 KiB, from a seed
 * drawn from the input, so a crash replays), twice with different seeds. The
 * contract checked: the stream succeeds exactly when the whole-buffer parse
 * does, with the same model (every field, strings by content); without gzip
 * the error code is the same too. Any crash, sanitizer report, leak or
 * mismatch is a bug.
 */
#include "pprof/pprof.h"
#include "../unit/pprof_compare.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int stream(const uint8_t *data, size_t size, uint64_t seed,
                  const struct lw_pprof_limits *l, struct lw_profile **out)
{
    struct lw_errbuf eb;
    struct lw_pprof_stream *s;
    if (lw_pprof_stream_new(l, &s, &eb) != LW_OK)
        abort();
    int rc = LW_OK;
    size_t off = 0;
    while (off < size && rc == LW_OK) {
        size_t max = (size_t)1 << (next(&seed) % 13);
        size_t n = 1 + (size_t)(next(&seed) % max);
        if (n > size - off)
            n = size - off;
        rc = lw_pprof_stream_feed(s, data + off, n, &eb);
        if (rc != LW_OK && eb.msg[0] == '\0')
            abort(); /* errors say why */
        off += n;
    }
    if (rc == LW_OK)
        rc = lw_pprof_stream_finish(s, out, &eb);
    if (rc != LW_OK && *out != NULL)
        abort();
    lw_pprof_stream_free(s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_inflated = 4u << 20;
    l.max_arena = 16u << 20;
    l.max_frames = 64;
    l.max_stacks = 10000;
    l.goid_cut = (int64_t)(size % 97); /* 0 (none) or a cut: both parsers count alike */
    struct lw_errbuf eb;
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(data, size, &l, &p, &eb);
    uint64_t seed = 0x9e3779b97f4a7c15ULL ^ size;
    for (size_t i = 0; i < size && i < 64; i++)
        seed = (seed ^ data[i]) * 0x100000001b3ULL;
    int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    for (int pass = 0; pass < 2; pass++) {
        struct lw_profile *q = NULL;
        int rc2 = stream(data, size, (seed | 1) + (uint64_t)pass * 0x2545f4914f6cdd1dULL, &l, &q);
        if ((rc == LW_OK) != (rc2 == LW_OK))
            abort(); /* one succeeded, the other did not */
        if (rc == LW_OK && !lw_same_profile(p, q))
            abort(); /* a different model */
        if (!gzip && rc != rc2)
            abort(); /* the same error, without gzip in the way */
        lw_profile_free(q);
    }
    lw_profile_free(p);
    return 0;
}
