/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream.c: lw_pprof_stream_*, lw_pprof_parse_fd() and lw_pprof_parse_file():
 * a profile fed in chunks of any size (a file read 256 KiB at a time, an
 * HTTP body as it arrives), parsed as it comes, so memory follows the model
 * (distinct stacks, interned strings), not the input. A 60 MB debug=2 dump of
 * 100,000 goroutines in a few stacks parses in well under 1 MB.
 *
 * The result is the one lw_pprof_parse() gives on the concatenated bytes
 * (tests/unit/test_pprof_stream.c and tests/fuzz/fuzz_pprof_stream.c check
 * that), with one extra limit: a text line split across chunks is kept in a
 * carry buffer of at most LW_PPROF_STREAM_LINE_MAX bytes.
 *
 * How: the first bytes are held until they decide the format, exactly as
 * lw_pprof_sniff() would:
 *   - gzip: inflated chunk by chunk into an inner stream (two layers at most,
 *     concatenated members, max_inflated as the bomb cap, a cut stream is
 *     LW_ETRUNC);
 *   - the three text formats: lines go to the same line-driven parsers as
 *     lw_pprof_parse() uses (struct lw__textops), straight from the chunk,
 *     with only a line split across two chunks copied;
 *   - anything else (profile.proto, whose string table comes last, and every
 *     error page): the bytes are kept, up to max_input, and handed to the
 *     whole-buffer dispatcher at the end.
 */
#include "pprof/pprof_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define SNIFF_WANT 32             /* bytes past leading whitespace that decide a text format */
#define SNIFF_MAX (64u << 10)     /* more leading whitespace than this: decide anyway */
#define ZCHUNK (64u << 10)        /* inflate output chunk */
#define READ_CHUNK (256u << 10)   /* lw_pprof_parse_fd read size */

enum { M_SNIFF, M_TEXT, M_WHOLE, M_GZIP, M_DONE };
enum { Z_IN_MEMBER, Z_MEMBER_END, Z_TRAILING };

struct lw_pprof_stream {
    struct lw_pprof_limits lim; /* resolved: no zero fields */
    int depth;                  /* gzip layers above this stream */
    int mode;
    int rc;                     /* sticky error; its message is in eb */
    struct lw_errbuf eb;
    size_t total;               /* bytes fed */
    struct lw_buf head;         /* M_SNIFF: the bytes so far; M_WHOLE: all of them */
    /* M_TEXT */
    const struct lw__textops *ops;
    void *tp;
    struct lw_buf carry;        /* a line split across chunks */
    size_t lineno;
    size_t skip;                /* UTF-8 BOM bytes still to drop */
    size_t bom;
    /* M_GZIP */
    z_stream zs;
    int zinit, zstate;
    unsigned char zmagic[2];
    size_t nmagic;
    size_t zin, zout;
    unsigned char *zbuf;
    struct lw_pprof_stream *inner;
};

static struct lw_pprof_stream *stream_new(const struct lw_pprof_limits *lim, int depth)
{
    struct lw_pprof_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->lim = *lim;
    s->depth = depth;
    s->mode = M_SNIFF;
    lw_buf_init(&s->head, lim->max_input);
    size_t lm = LW_PPROF_STREAM_LINE_MAX;
    lw_buf_init(&s->carry, lm < lim->max_input ? lm : lim->max_input);
    return s;
}

int lw_pprof_stream_new(const struct lw_pprof_limits *limits, struct lw_pprof_stream **out,
                        struct lw_errbuf *eb)
{
    struct lw_pprof_limits tmp;
    *out = stream_new(lw__limits(limits, &tmp), 0);
    return *out ? LW_OK : lw_errf(eb, LW_ENOMEM, "out of memory");
}

void lw_pprof_stream_free(struct lw_pprof_stream *s)
{
    if (!s)
        return;
    if (s->tp) {
        struct lw_profile *p = NULL;
        s->ops->end(s->tp, LW_EINVAL, s->lineno, 0, &p); /* frees the parser state */
    }
    if (s->zinit)
        inflateEnd(&s->zs);
    free(s->zbuf);
    lw_pprof_stream_free(s->inner);
    lw_buf_release(&s->head);
    lw_buf_release(&s->carry);
    free(s);
}

/* Record an error (message already in s->eb) and drop the text parser. */
static int fail(struct lw_pprof_stream *s, int rc)
{
    s->rc = rc;
    if (s->tp) {
        struct lw_profile *p = NULL;
        s->ops->end(s->tp, rc, s->lineno, 0, &p);
        s->tp = NULL;
    }
    return rc;
}

static int report(const struct lw_pprof_stream *s, struct lw_errbuf *eb)
{
    if (s->rc && eb)
        memcpy(eb->msg, s->eb.msg, sizeof(eb->msg));
    return s->rc;
}

/* ---- text: lines to the line-driven parser ---- */

static int text_line(struct lw_pprof_stream *s, const char *b, size_t n, int had_lf)
{
    if (n > 0 && b[n - 1] == '\r')
        n--;
    s->lineno++;
    return s->ops->line(s->tp, b, n, s->lineno, had_lf);
}

static int carry_add(struct lw_pprof_stream *s, const char *p, size_t n)
{
    if (lw_buf_append(&s->carry, p, n) == LW_OK)
        return LW_OK;
    if (s->carry.len + n > s->carry.max)
        return lw_errf(&s->eb, LW_ETOOBIG, "line %zu: longer than %zu bytes", s->lineno + 1,
                       s->carry.max);
    return lw_errf(&s->eb, LW_ENOMEM, "out of memory");
}

static int text_feed(struct lw_pprof_stream *s, const char *d, size_t n)
{
    if (s->skip) {
        size_t k = n < s->skip ? n : s->skip;
        d += k;
        n -= k;
        s->skip -= k;
    }
    const char *p = d, *end = d + n;
    int rc;
    if (s->carry.len) {
        const char *nl = memchr(p, '\n', n);
        if (!nl)
            return carry_add(s, p, n);
        if ((rc = carry_add(s, p, (size_t)(nl - p))) != LW_OK)
            return rc;
        rc = text_line(s, s->carry.data, s->carry.len, 1);
        lw_buf_reset(&s->carry);
        if (rc)
            return rc;
        p = nl + 1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return carry_add(s, p, (size_t)(end - p));
        if ((rc = text_line(s, p, (size_t)(nl - p), 1)) != LW_OK)
            return rc;
        p = nl + 1;
    }
    return LW_OK;
}

static int text_finish(struct lw_pprof_stream *s, struct lw_profile **out)
{
    int rc = LW_OK;
    if (s->carry.len)
        rc = text_line(s, s->carry.data, s->carry.len, 0);
    void *tp = s->tp;
    s->tp = NULL;
    return s->ops->end(tp, rc, s->lineno, s->total - s->bom, out);
}

/* ---- gzip: inflate into the inner stream ---- */

static int inner_fail(struct lw_pprof_stream *s, int rc)
{
    memcpy(s->eb.msg, s->inner->eb.msg, sizeof(s->eb.msg));
    return rc;
}

static int feed_mode(struct lw_pprof_stream *s, const char *d, size_t n);

/* Inflate in[0..n) until it is used up or the member ends; *used = bytes taken. */
static int gz_inflate(struct lw_pprof_stream *s, const unsigned char *in, size_t n, size_t *used)
{
    uInt give = n > (1u << 30) ? (1u << 30) : (uInt)n;
    s->zs.next_in = (unsigned char *)in;
    s->zs.avail_in = give;
    int rc = LW_OK;
    for (;;) {
        s->zs.next_out = s->zbuf;
        s->zs.avail_out = ZCHUNK;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        size_t got = ZCHUNK - s->zs.avail_out;
        if (got) {
            if (got > s->lim.max_inflated - s->zout) {
                rc = lw_errf(&s->eb, LW_ETOOBIG,
                             "gzip: inflated data exceeds the %zu-byte limit (gzip bomb?)",
                             s->lim.max_inflated);
                break;
            }
            s->zout += got;
            if ((rc = feed_mode(s->inner, (const char *)s->zbuf, got)) != LW_OK) {
                rc = inner_fail(s, rc);
                break;
            }
        }
        if (zr == Z_STREAM_END) {
            s->zstate = Z_MEMBER_END;
            s->nmagic = 0;
            break;
        }
        if (zr == Z_BUF_ERROR || (zr == Z_OK && s->zs.avail_in == 0 && s->zs.avail_out != 0))
            break; /* needs more input */
        if (zr != Z_OK) {
            rc = lw_errf(&s->eb, LW_EFORMAT, "gzip: corrupt data at input byte %zu: %s",
                         s->zin + (size_t)(s->zs.next_in - in),
                         s->zs.msg ? s->zs.msg : "inflate failed");
            break;
        }
    }
    *used = (size_t)(s->zs.next_in - in);
    s->zin += *used;
    return rc;
}

static int gz_feed(struct lw_pprof_stream *s, const unsigned char *p, size_t left)
{
    int rc;
    while (left > 0) {
        if (s->zstate == Z_TRAILING)
            return LW_OK; /* bytes after the last member are ignored, as lw_pprof_parse does */
        if (s->zstate == Z_MEMBER_END) {
            while (s->nmagic < 2 && left) {
                s->zmagic[s->nmagic++] = *p++;
                left--;
            }
            if (s->nmagic < 2)
                return LW_OK;
            if (s->zmagic[0] != 0x1f || s->zmagic[1] != 0x8b) {
                s->zstate = Z_TRAILING;
                return LW_OK;
            }
            inflateReset(&s->zs); /* another member (concatenated gzip) */
            s->zstate = Z_IN_MEMBER;
            size_t used;
            if ((rc = gz_inflate(s, s->zmagic, 2, &used)) != LW_OK)
                return rc;
            continue;
        }
        size_t used;
        if ((rc = gz_inflate(s, p, left, &used)) != LW_OK)
            return rc;
        if (used == 0 && s->zstate == Z_IN_MEMBER)
            return lw_errf(&s->eb, LW_EFORMAT, "gzip: no progress at input byte %zu", s->zin);
        p += used;
        left -= used;
    }
    return LW_OK;
}

/* ---- sniffing ---- */

/* 1: decided (s->mode set), 0: needs more bytes, < 0: error (in s->eb). */
static int decide(struct lw_pprof_stream *s, const unsigned char *d, size_t n, int final)
{
    if (n == 0) {
        if (!final)
            return 0;
        return lw_errf(&s->eb, LW_EEMPTY,
                       s->depth ? "empty input (gzip held no data)" : "empty input");
    }
    if (d[0] == 0x1f && n < 2 && !final)
        return 0;
    if (lw__is_gzip(d, n)) {
        if (s->depth >= 2)
            return lw_errf(&s->eb, LW_EFORMAT, "more than two gzip layers");
        struct lw_pprof_limits l2 = s->lim;
        l2.max_input = LW_MAX(s->lim.max_input, s->lim.max_inflated);
        s->inner = stream_new(&l2, s->depth + 1);
        s->zbuf = malloc(ZCHUNK);
        if (!s->inner || !s->zbuf || inflateInit2(&s->zs, 15 + 32) != Z_OK)
            return lw_errf(&s->eb, LW_ENOMEM, "gzip: cannot initialise zlib");
        s->zinit = 1;
        s->zstate = Z_IN_MEMBER;
        s->mode = M_GZIP;
        return 1;
    }
    size_t i = lw__skip_ws(d, n);
    if (!final && n - i < SNIFF_WANT && n < SNIFF_MAX)
        return 0;
    const struct lw__textops *ops = lw__text_ops_for(d + i, n - i);
    if (!ops) {
        s->mode = M_WHOLE; /* proto, or not a profile: the whole-buffer path decides */
        return 1;
    }
    int rc;
    s->ops = ops;
    s->tp = ops->start(&s->lim, &s->eb, &rc);
    if (!s->tp)
        return rc;
    if (n >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf)
        s->skip = s->bom = 3; /* a UTF-8 BOM from a text editor */
    s->mode = M_TEXT;
    return 1;
}

/* Feed bytes to the current mode; errors leave their message in s->eb. */
static int feed_mode(struct lw_pprof_stream *s, const char *d, size_t n)
{
    int rc;
    if (s->rc)
        return s->rc;
    if (n > s->lim.max_input - s->total) {
        lw_errf(&s->eb, LW_ETOOBIG, "input is more than %zu bytes, over the limit",
                s->lim.max_input);
        return fail(s, LW_ETOOBIG);
    }
    s->total += n;
    switch (s->mode) {
    case M_SNIFF:
        if (s->head.len == 0) {
            /* decide on the chunk itself when it is long enough: no copy */
            rc = decide(s, (const unsigned char *)d, n, 0);
            if (rc < 0)
                return fail(s, rc);
            if (rc == 1) {
                s->total -= n;
                return feed_mode(s, d, n);
            }
        }
        if ((rc = lw_buf_append(&s->head, d, n)) != LW_OK)
            return fail(s, lw_errf(&s->eb, rc, "out of memory"));
        rc = decide(s, (const unsigned char *)s->head.data, s->head.len, 0);
        if (rc < 0)
            return fail(s, rc);
        if (rc == 1 && s->mode != M_WHOLE) {
            struct lw_buf h = s->head;
            lw_buf_init(&s->head, s->lim.max_input);
            s->total -= h.len;
            rc = feed_mode(s, h.data, h.len);
            lw_buf_release(&h);
            return rc;
        }
        return LW_OK;
    case M_TEXT:
        rc = text_feed(s, d, n);
        return rc ? fail(s, rc) : LW_OK;
    case M_WHOLE:
        if ((rc = lw_buf_append(&s->head, d, n)) != LW_OK)
            return fail(s, lw_errf(&s->eb, rc, "out of memory"));
        return LW_OK;
    case M_GZIP:
        rc = gz_feed(s, (const unsigned char *)d, n);
        return rc ? fail(s, rc) : LW_OK;
    default:
        return fail(s, lw_errf(&s->eb, LW_EINVAL, "stream already finished"));
    }
}

int lw_pprof_stream_feed(struct lw_pprof_stream *s, const void *data, size_t len,
                         struct lw_errbuf *eb)
{
    if (len == 0 || s->rc)
        return report(s, eb);
    feed_mode(s, data, len);
    return report(s, eb);
}

static int finish_mode(struct lw_pprof_stream *s, struct lw_profile **out)
{
    int rc;
    *out = NULL;
    if (s->rc)
        return s->rc;
    if (s->mode == M_SNIFF) {
        rc = decide(s, (const unsigned char *)s->head.data, s->head.len, 1);
        if (rc < 0)
            return fail(s, rc);
        if (s->mode != M_WHOLE) {
            struct lw_buf h = s->head;
            lw_buf_init(&s->head, s->lim.max_input);
            s->total -= h.len;
            rc = feed_mode(s, h.data, h.len);
            lw_buf_release(&h);
            if (rc)
                return rc;
        }
    }
    int mode = s->mode;
    s->mode = M_DONE;
    switch (mode) {
    case M_TEXT:
        rc = text_finish(s, out);
        break;
    case M_WHOLE:
        /* a proto's bytes become the profile's backing store (no copy) */
        rc = lw__dispatch_owned(&s->head, &s->lim, out, &s->eb, s->depth);
        lw_buf_release(&s->head);
        break;
    case M_GZIP:
        if (s->zstate == Z_IN_MEMBER) {
            rc = lw_errf(&s->eb, LW_ETRUNC, "gzip: stream truncated after %zu input bytes",
                         s->total);
            break;
        }
        /* the inflater is done: free its state and buffer before the inner
         * stream parses (a proto parses here, with all its memory) */
        inflateEnd(&s->zs);
        s->zinit = 0;
        free(s->zbuf);
        s->zbuf = NULL;
        rc = finish_mode(s->inner, out);
        if (rc)
            inner_fail(s, rc);
        break;
    default:
        rc = lw_errf(&s->eb, LW_EINVAL, "stream already finished");
    }
    s->rc = rc ? rc : LW_EINVAL; /* later calls: an error */
    if (!rc)
        lw_errf(&s->eb, LW_EINVAL, "stream already finished");
    return rc;
}

int lw_pprof_stream_finish(struct lw_pprof_stream *s, struct lw_profile **out,
                           struct lw_errbuf *eb)
{
    int rc = finish_mode(s, out);
    if (rc && eb)
        memcpy(eb->msg, s->eb.msg, sizeof(eb->msg));
    return rc;
}

int lw_pprof_parse_fd(int fd, const struct lw_pprof_limits *limits, struct lw_profile **out,
                      struct lw_errbuf *eb)
{
    *out = NULL;
    struct lw_pprof_stream *s;
    int rc = lw_pprof_stream_new(limits, &s, eb);
    if (rc)
        return rc;
    char *buf = malloc(READ_CHUNK);
    if (!buf) {
        lw_pprof_stream_free(s);
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = read(fd, buf, READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = lw_errf(eb, LW_EIO, "read: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            free(buf); /* not needed while the end parses (a proto, kept whole, parses there) */
            buf = NULL;
            rc = lw_pprof_stream_finish(s, out, eb);
            break;
        }
        if ((rc = lw_pprof_stream_feed(s, buf, (size_t)n, eb)) != LW_OK)
            break;
    }
    free(buf);
    lw_pprof_stream_free(s);
    return rc;
}

int lw_pprof_parse_file(const char *path, const struct lw_pprof_limits *limits,
                        struct lw_profile **out, struct lw_errbuf *eb)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lw_errf(eb, LW_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return lw_errf(eb, LW_EIO, "%s: is a directory", path);
    }
    int rc = lw_pprof_parse_fd(fd, limits, out, eb);
    if (rc == LW_EIO) {
        char msg[LW_ERRBUF_SIZE];
        memcpy(msg, eb->msg, sizeof(msg));
        lw_errf(eb, LW_EIO, "%s: %.400s", path, msg);
    }
    close(fd);
    return rc;
}
