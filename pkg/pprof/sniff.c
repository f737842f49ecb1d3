/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sniff.c: format detection from the first bytes (pprof-formats.md §2.4)
 * and the lw_pprof_parse() dispatcher.
 *
 * We never trust the URL's ?debug= or the Content-Type: a server can send
 * HTML (pprof index under another prefix, a proxy, the wrong port), a plain
 * "404 page not found", or a proto where text was asked for. The body
 * decides. gzip is inflated first (bounded by limits->max_inflated, so a
 * gzip bomb stops there) and the inflated bytes are sniffed again: they may
 * be a proto or gzip'd text (saved .txt.gz files), or a second gzip layer
 * added by a proxy.
 */
#include "pprof/pprof_int.h"

#include <string.h>
#include <zlib.h>

static int starts(const unsigned char *d, size_t n, const char *pfx)
{
    size_t l = strlen(pfx);
    return n >= l && memcmp(d, pfx, l) == 0;
}

/* Skip a UTF-8 BOM and leading whitespace (hand-edited or re-saved files). */
static size_t skip_ws(const unsigned char *d, size_t n)
{
    size_t i = 0;
    if (n >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf)
        i = 3;
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
        i++;
    return i;
}

static int varint(const unsigned char *d, size_t n, size_t *i, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= n)
            return 0;
        unsigned char b = d[(*i)++];
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

/* Does this look like a perftools.profiles.Profile message? Walk up to 8
 * top-level fields (or to the end of a short input): every tag must be a
 * Profile field (1..15) with the wire type the schema gives it, and every
 * length must fit. Text and HTML fail on the first byte. */
static int looks_like_proto(const unsigned char *d, size_t n)
{
    if (n == 0 || (d[0] != 0x0a && d[0] != 0x5a && d[0] != 0x12 && d[0] != 0x32))
        return 0;
    size_t i = 0;
    for (int k = 0; k < 8 && i < n; k++) {
        uint64_t tag, v;
        if (!varint(d, n, &i, &tag))
            return 0;
        uint64_t field = tag >> 3, wt = tag & 7;
        if (field < 1 || field > 15)
            return 0;
        int lenfield = (field <= 6 || field == 11);
        if (wt == 2) {
            if (!lenfield && field != 13) /* comment may be packed */
                return 0;
            if (!varint(d, n, &i, &v) || v > n - i) {
                /* a length past the end is fine only when we only see a prefix */
                return k > 0 || n >= 64;
            }
            i += (size_t)v;
        } else if (wt == 0) {
            if (lenfield || !varint(d, n, &i, &v))
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* Inflate the first bytes of a gzip stream (up to outcap) to sniff inside. */
static size_t gunzip_prefix(const void *data, size_t len, unsigned char *out, size_t outcap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return 0;
    zs.next_in = (unsigned char *)data;
    zs.avail_in = len > (1u << 30) ? (1u << 30) : (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)outcap;
    while (zs.avail_out > 0) {
        int zr = inflate(&zs, Z_SYNC_FLUSH);
        if (zr != Z_OK)
            break;
    }
    size_t got = outcap - zs.avail_out;
    inflateEnd(&zs);
    return got;
}

size_t lw__skip_ws(const unsigned char *d, size_t n)
{
    return skip_ws(d, n);
}

const struct lw__textops *lw__text_ops_for(const unsigned char *d, size_t len)
{
    /* the same tests, in the same order, as sniff_depth's text branch */
    if (starts(d, len, "goroutine profile: total ") ||
        starts(d, len, "goroutineleak profile: total ") ||
        starts(d, len, "threadcreate profile: total "))
        return &lw__debug1_ops;
    if (starts(d, len, "heap profile: "))
        return &lw__heap1_ops;
    if (starts(d, len, "goroutine ") && len > 10 && d[10] >= '0' && d[10] <= '9')
        return &lw__debug2_ops;
    return NULL;
}

static enum lw_prof_format sniff_depth(const void *data, size_t len, int depth)
{
    const unsigned char *d = data;
    if (!d || len == 0)
        return LW_FMT_UNKNOWN;
    if (lw__is_gzip(d, len)) {
        if (depth >= 2)
            return LW_FMT_UNKNOWN;
        unsigned char buf[512];
        size_t got = gunzip_prefix(d, len, buf, sizeof(buf));
        if (got == 0)
            return LW_FMT_PROTO; /* unreadable gzip: assume the usual debug=0 proto */
        return sniff_depth(buf, got, depth + 1);
    }
    size_t i = skip_ws(d, len);
    const unsigned char *raw = d;
    size_t rawlen = len;
    d += i;
    len -= i;
    if (starts(d, len, "goroutine profile: total ") ||
        starts(d, len, "goroutineleak profile: total ") ||
        starts(d, len, "threadcreate profile: total "))
        return LW_FMT_DEBUG1;
    if (starts(d, len, "heap profile: "))
        return LW_FMT_HEAP1;
    if (starts(d, len, "goroutine ") && len > 10 && d[10] >= '0' && d[10] <= '9')
        return LW_FMT_DEBUG2;
    if (looks_like_proto(raw, rawlen))
        return LW_FMT_PROTO;
    return LW_FMT_UNKNOWN;
}

enum lw_prof_format lw_pprof_sniff(const void *data, size_t len)
{
    return sniff_depth(data, len, 0);
}

/* Quote up to 72 printable bytes of the start, for messages. */
static void preview(const unsigned char *d, size_t n, char *out, size_t outn)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < 72 && o + 5 < outn; i++) {
        unsigned char c = d[i];
        if (c == '\n' || c == '\r')
            break;
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[o] = '\0';
}

int lw__explain_unknown(const void *data, size_t len, struct lw_errbuf *eb)
{
    const unsigned char *d = data;
    size_t i = skip_ws(d, len);
    if (len == 0 || i == len)
        return lw_errf(eb, LW_EEMPTY, "empty input (no profile data)");
    d += i;
    len -= i;
    char pv[96];
    preview(d, len, pv, sizeof(pv));
    if (d[0] == '<')
        return lw_errf(eb, LW_EFORMAT,
                       "looks like an HTML page (the pprof index or a proxy?): wrong port or "
                       "path?");
    if (starts(d, len, "404 page not found"))
        return lw_errf(eb, LW_EFORMAT, "`404 page not found`: pprof not registered at this path?");
    if (starts(d, len, "Unknown profile"))
        return lw_errf(eb, LW_EFORMAT,
                       "`Unknown profile`: the server has no such profile (goroutineleak needs Go "
                       "1.26 with GOEXPERIMENT=goroutineleakprofile)");
    if (starts(d, len, "Method Not Allowed") || starts(d, len, "405 method not allowed"))
        return lw_errf(eb, LW_EFORMAT, "`Method Not Allowed`: pprof answers GET only");
    if (starts(d, len, "Client sent an HTTP request to an HTTPS server"))
        return lw_errf(eb, LW_EFORMAT, "the server speaks HTTPS: use an https:// URL");
    if (starts(d, len, "--- contention:") || starts(d, len, "--- mutex:"))
        return lw_errf(eb, LW_EUNSUPPORTED,
                       "block/mutex contention profiles are not supported (want goroutine or heap)");
    if (d[0] == '{' || d[0] == '[')
        return lw_errf(eb, LW_EFORMAT, "looks like JSON (\"%s\"), not a pprof profile: wrong port "
                                       "or path?", pv);
    if (starts(d, len, "panic: ") || starts(d, len, "fatal error: "))
        return lw_errf(eb, LW_EFORMAT, "looks like a Go crash log (\"%s\"), not a profile", pv);
    if (starts(d, len, "seconds and debug params are incompatible") ||
        starts(d, len, "invalid value for \"seconds\"") ||
        starts(d, len, "\"seconds\" parameter is not supported") ||
        starts(d, len, "profile duration exceeds server's WriteTimeout"))
        return lw_errf(eb, LW_EFORMAT, "the server refused the request: \"%s\"", pv);
    size_t bin = 0, m = len < 256 ? len : 256;
    for (size_t k = 0; k < m; k++)
        if (d[k] < 0x09 || (d[k] > 0x0d && d[k] < 0x20))
            bin++;
    if (bin)
        return lw_errf(eb, LW_EFORMAT, "binary data that is not a gzip'd or plain profile.proto");
    const unsigned char *nl = memchr(d, '\n', len);
    if (len < 512 && (!nl || (size_t)(nl - d) + 1 >= len))
        return lw_errf(eb, LW_EFORMAT,
                       "the server answered \"%s\" instead of a profile (an error message?)", pv);
    return lw_errf(eb, LW_EFORMAT,
                   "not a pprof goroutine or heap profile: starts with \"%s\"", pv);
}

int lw__dispatch(const char *d, size_t n, const struct lw_pprof_limits *lim,
                 struct lw_profile **out, struct lw_errbuf *eb, int depth)
{
    if (n == 0)
        return lw_errf(eb, LW_EEMPTY, depth ? "empty input (gzip held no data)" : "empty input");
    if (lw__is_gzip(d, n)) {
        if (depth >= 2)
            return lw_errf(eb, LW_EFORMAT, "more than two gzip layers");
        struct lw_buf b = LW_BUF_INIT(lim->max_inflated);
        int rc = lw__gunzip(d, n, &b, eb);
        if (rc == LW_OK) {
            /* the inflated bytes are bounded by max_inflated, not max_input */
            struct lw_pprof_limits l2 = *lim;
            l2.max_input = LW_MAX(lim->max_input, lim->max_inflated);
            rc = lw__dispatch_owned(&b, &l2, out, eb, depth + 1);
        }
        lw_buf_release(&b);
        return rc;
    }
    enum lw_prof_format f = sniff_depth(d, n, 0);
    if (f != LW_FMT_PROTO && n >= 3 && (unsigned char)d[0] == 0xef &&
        (unsigned char)d[1] == 0xbb && (unsigned char)d[2] == 0xbf) {
        d += 3; /* a UTF-8 BOM from a text editor */
        n -= 3;
    }
    switch (f) {
    case LW_FMT_PROTO: return lw_pprof_parse_proto(d, n, lim, out, eb);
    case LW_FMT_DEBUG1: return lw_pprof_parse_debug1(d, n, lim, out, eb);
    case LW_FMT_DEBUG2: return lw_pprof_parse_debug2(d, n, lim, out, eb);
    case LW_FMT_HEAP1: return lw_pprof_parse_heap1(d, n, lim, out, eb);
    default: return lw__explain_unknown(d, n, eb);
    }
}

int lw__dispatch_owned(struct lw_buf *b, const struct lw_pprof_limits *lim,
                       struct lw_profile **out, struct lw_errbuf *eb, int depth)
{
    /* a plain proto: the profile keeps these bytes (gzip layers and text go
     * the usual way; a gzip'd proto's inflated bytes are kept the same way) */
    if (b->len && !lw__is_gzip(b->data, b->len) && sniff_depth(b->data, b->len, 0) == LW_FMT_PROTO)
        return lw__proto_parse_owned(b, lim, out, eb);
    return lw__dispatch(b->data, b->len, lim, out, eb, depth);
}

int lw_pprof_parse(const void *data, size_t len, const struct lw_pprof_limits *limits,
                   struct lw_profile **out, struct lw_errbuf *eb)
{
    struct lw_pprof_limits tmp;
    const struct lw_pprof_limits *lim = lw__limits(limits, &tmp);
    *out = NULL;
    int rc = lw__check_input_size(len, lim, eb);
    if (rc)
        return rc;
    if (!data || len == 0)
        return lw_errf(eb, LW_EEMPTY, "empty input");
    return lw__dispatch(data, len, lim, out, eb, 0);
}
