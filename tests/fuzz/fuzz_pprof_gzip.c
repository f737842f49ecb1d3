/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pprof_gzip.c: the gzip layer of the pprof parsers, with content the
 * fuzzer controls. Mutating a .pb.gz file rarely gets past the CRC, so here
 * the input (after one control byte) is gzip-compressed on the fly and the
 * result, or a copy damaged as the control byte says (a flipped byte in the
 * header, body or CRC/ISIZE trailer, a truncation, trailing junk, a second
 * gzip member), goes through lw_pprof_parse() (sniff + gunzip + proto or
 * text) and lw_pprof_parse_proto(), with small limits so the inflate cap is
 * hit too. Properties: never a crash or leak; every failure has a message and
 * no profile; an undamaged stream gives the same result (success or not) as
 * the plain bytes through the same parser, since gzip must be transparent.
 */
#include "pprof/pprof.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t gz(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        abort();
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return len;
}

static int parse(int proto, const uint8_t *p, size_t n, const struct lw_pprof_limits *lim)
{
    struct lw_profile *prof = NULL;
    struct lw_errbuf eb;
    eb.msg[0] = '\0';
    int rc = proto ? lw_pprof_parse_proto(p, n, lim, &prof, &eb)
                   : lw_pprof_parse(p, n, lim, &prof, &eb);
    if (rc != LW_OK) {
        if (prof != NULL || eb.msg[0] == '\0')
            abort();
        return rc;
    }
    if (!prof)
        abort();
    volatile size_t sink = 0;
    struct lw_buf lb = LW_BUF_INIT(0);
    for (size_t i = 0; i < prof->nstacks; i++) {
        const struct lw_stack *s = &prof->stacks[i];
        sink += s->nframes;
        for (uint32_t k = 0; k < s->nframes; k++)
            sink += (size_t)lw_stack_frame(s, k)->line;
        /* labels formatted from the profile's own copy of the input; a stack
         * without labels gives no text (debug=1 "# labels: " with nothing
         * after it is a label set whose text is empty) */
        lw_buf_reset(&lb);
        if (lw_stack_labels(prof, s, &lb) != LW_OK || (!lw_stack_has_labels(s) && lb.len > 0))
            abort();
        sink += lb.len;
    }
    lw_buf_release(&lb);
    (void)sink;
    lw_profile_free(prof);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (256u << 10))
        return 0;
    uint8_t ctl = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    size_t cap = compressBound((uLong)n) + 64;
    uint8_t *z = malloc(2 * cap + 64);
    if (!z)
        return 0;
    size_t zn = gz(in, n, z, cap);

    struct lw_pprof_limits lim;
    lw_pprof_limits_default(&lim);
    lim.max_inflated = 1u << 20;
    lim.max_arena = 32u << 20;
    lim.max_frames = 64;

    int proto = ctl & 1;
    switch ((ctl >> 1) % 8) {
    case 0: { /* undamaged: gzip is transparent */
        int plain = parse(proto, in, n, &lim);
        int zipped = parse(proto, z, zn, &lim);
        /* the only allowed difference: the inflated size cap */
        if ((plain == LW_OK) != (zipped == LW_OK) && n <= lim.max_inflated)
            abort();
        break;
    }
    case 1: /* one byte of the 10-byte header flipped */
        z[(ctl >> 4) % 10] ^= (uint8_t)(0x01u << (ctl % 8));
        parse(proto, z, zn, &lim);
        break;
    case 2: /* one byte of the deflate body flipped */
        if (zn > 18)
            z[10 + (size_t)(ctl >> 4) * 7 % (zn - 18)] ^= 0xA5;
        parse(proto, z, zn, &lim);
        break;
    case 3: /* CRC32 or ISIZE trailer damaged */
        z[zn - 1 - (ctl >> 4) % 8] ^= 0xFF;
        parse(proto, z, zn, &lim);
        break;
    case 4: /* truncated */
        parse(proto, z, zn - 1 - (size_t)(ctl >> 4) % (zn - 1), &lim);
        break;
    case 5: /* trailing junk after the member */
        memcpy(z + zn, "\0junk\n<html>", 12);
        parse(proto, z, zn + 12, &lim);
        break;
    case 6: /* two members back to back */
        memcpy(z + zn, z, zn);
        parse(proto, z, 2 * zn, &lim);
        break;
    default: /* double gzip */
    {
        uint8_t *zz = malloc(compressBound((uLong)zn) + 64);
        if (zz) {
            size_t zzn = gz(z, zn, zz, compressBound((uLong)zn) + 64);
            parse(proto, zz, zzn, &lim);
            free(zz);
        }
        break;
    }
    }
    free(z);
    return 0;
}
