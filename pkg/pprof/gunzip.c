/* SPDX-License-Identifier: Apache-2.0 */
/* gunzip.c: bounded gzip inflation with zlib, for gzip'd profiles. The
 * output cap is the defence against gzip bombs: inflation stops the moment
 * the output would pass out->max. */
#include "pprof/pprof_int.h"

#include <zlib.h>

int lw__gunzip(const void *data, size_t len, struct lw_buf *out, struct lw_errbuf *eb)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 32) != Z_OK) /* 32: gzip or zlib header auto-detect */
        return lw_errf(eb, LW_ENOMEM, "gzip: cannot initialise zlib");
    const unsigned char *in = data;
    size_t left = len;
    unsigned char chunk[65536];
    int rc = LW_OK;
    for (;;) {
        if (zs.avail_in == 0 && left) {
            uInt n = left > (1u << 30) ? (1u << 30) : (uInt)left;
            zs.next_in = (unsigned char *)in;
            zs.avail_in = n;
            in += n;
            left -= n;
        }
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        int zr = inflate(&zs, Z_NO_FLUSH);
        size_t got = sizeof(chunk) - zs.avail_out;
        if (got && (rc = lw_buf_append(out, chunk, got)) != LW_OK) {
            if (rc == LW_ETOOBIG)
                lw_errf(eb, rc, "gzip: inflated data exceeds the %zu-byte limit (gzip bomb?)",
                        out->max);
            break;
        }
        if (zr == Z_STREAM_END) {
            /* another member may follow (concatenated gzip) */
            size_t rest = zs.avail_in + left;
            if (rest >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
                inflateReset(&zs);
                continue;
            }
            break;
        }
        if (zr == Z_BUF_ERROR && zs.avail_in == 0 && left == 0) {
            rc = lw_errf(eb, LW_ETRUNC, "gzip: stream truncated after %zu input bytes", len);
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = lw_errf(eb, LW_EFORMAT, "gzip: corrupt data at input byte %zu: %s",
                         (size_t)(zs.next_in - (const unsigned char *)data),
                         zs.msg ? zs.msg : "inflate failed");
            break;
        }
    }
    inflateEnd(&zs);
    if (rc == LW_OK && out->data == NULL)
        rc = lw_buf_append(out, "", 0);
    return rc;
}
