/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text_heap1.c: the heap (and allocs) ?debug=1 text profile
 * (pprof-formats.md §5): a "heap profile: a: b [c: d] @ heap/R" header,
 * records "inuse_objects: inuse_bytes [alloc_objects: alloc_bytes] @ 0xPC..."
 * each followed by "#\t0xPC\tFUNC+0xOFF\tFILE:LINE" frame comments, and the
 * "# runtime.MemStats" trailer.
 *
 * The numbers in the file are raw samples; like pprof (§5.5), each record's
 * in-use pair and alloc pair are scaled by 1/(1-exp(-avg/R)), avg being the
 * record's average object size and R = MemProfileRate = header rate / 2.
 * Record order does not matter (descending before Go 1.23, ascending since).
 */
#include "pprof/pprof_int.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct h1 {
    struct lw_profile *p;
    const struct lw_pprof_limits *lim;
    struct lw_errbuf *eb;
    struct lw__frameset fs;
    struct lw__framebuf fb;
    struct lw__icache *ic;
    int in_rec;
    int64_t v[4];
    uint32_t flags;
    double rate; /* R in bytes; <= 1: no scaling */
    int have_header, in_memstats, in_map;
    int stopped; /* a cut last line was dropped: ignore the rest */
};

static int cap_error(struct h1 *h, size_t lineno)
{
    if (h->p->nstacks >= h->lim->max_stacks)
        return lw_errf(h->eb, LW_ETOOBIG, "line %zu: more than %zu records (limit)", lineno,
                       h->lim->max_stacks);
    return lw_errf(h->eb, LW_ENOMEM, "line %zu: profile memory limit (%zu bytes) reached",
                   lineno, h->lim->max_arena);
}

/* A tiny cursor over one line. */
struct cur {
    const char *s;
    size_t n, i;
};
static void skip_sp(struct cur *c)
{
    while (c->i < c->n && c->s[c->i] == ' ')
        c->i++;
}
static int expect(struct cur *c, char ch)
{
    skip_sp(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}
static int num(struct cur *c, int64_t *v)
{
    skip_sp(c);
    size_t used;
    if (lw__parse_i64(c->s + c->i, c->n - c->i, v, &used) != LW_OK || used == 0)
        return 0;
    c->i += used;
    return 1;
}
/* "a: b [c: d]" */
static int four(struct cur *c, int64_t v[4])
{
    return num(c, &v[0]) && expect(c, ':') && num(c, &v[1]) && expect(c, '[') &&
           num(c, &v[2]) && expect(c, ':') && num(c, &v[3]) && expect(c, ']');
}

static int64_t to_i64(double x)
{
    if (!(x == x))
        return 0;
    if (x >= 9.2e18)
        return INT64_MAX;
    if (x <= -9.2e18)
        return INT64_MIN;
    return (int64_t)x;
}

/* pprof's scaleHeapSample (§5.5) */
static void unsample(int64_t count, int64_t bytes, double rate, int64_t *oc, int64_t *ob)
{
    if (count == 0 || bytes == 0) {
        *oc = *ob = 0;
        return;
    }
    double avg = (double)bytes / (double)count;
    if (rate <= 1 || !(avg > 0)) {
        *oc = count;
        *ob = bytes;
        return;
    }
    double scale = 1.0 / (1.0 - exp(-avg / rate));
    *oc = to_i64((double)count * scale);
    *ob = to_i64((double)bytes * scale);
}

static int finish_rec(struct h1 *h, size_t lineno)
{
    if (!h->in_rec)
        return LW_OK;
    h->in_rec = 0;
    struct lw_stack *s = lw__profile_add_stack(h->p, h->lim);
    if (!s)
        return cap_error(h, lineno);
    struct lw_stack_ext *e = lw__stack_ext(h->p, s);
    if (!e) {
        h->p->nstacks--; /* undo: the error is the memory cap, not max_stacks */
        return cap_error(h, lineno);
    }
    unsample(h->v[0], h->v[1], h->rate, &s->count, &e->inuse_bytes);
    unsample(h->v[2], h->v[3], h->rate, &e->alloc_objects, &e->alloc_bytes);
    s->flags = (uint16_t)h->flags;
    if (lw__frames_store(h->p, &h->fs, s, h->fb.f, h->fb.n) != LW_OK)
        return cap_error(h, lineno);
    if ((e->inuse_bytes > 0 && h->p->total > INT64_MAX - e->inuse_bytes) ||
        (e->inuse_bytes < 0 && h->p->total < INT64_MIN - e->inuse_bytes))
        return lw_errf(h->eb, LW_ERANGE, "line %zu: in-use bytes overflow", lineno);
    h->p->total += e->inuse_bytes;
    h->fb.n = 0;
    return LW_OK;
}

static int parse_header(struct h1 *h, const char *s, size_t n, size_t lineno)
{
    if (n < 14 || memcmp(s, "heap profile: ", 14) != 0)
        return lw_errf(h->eb, LW_EFORMAT,
                       "line %zu: expected \"heap profile: a: b [c: d] @ heap/RATE\"", lineno);
    struct cur c = {s, n, 14};
    int64_t v[4], rate = 0;
    if (!four(&c, v) || !expect(&c, '@'))
        return lw_errf(h->eb, LW_EINVAL, "line %zu: bad heap profile header", lineno);
    skip_sp(&c);
    size_t name0 = c.i;
    while (c.i < n && c.s[c.i] != '/' && c.s[c.i] != ' ')
        c.i++;
    size_t namel = c.i - name0;
    if (namel < 4 || memcmp(s + name0, "heap", 4) != 0)
        return lw_errf(h->eb, LW_EUNSUPPORTED, "line %zu: unsupported heap profile type \"%.*s\"",
                       lineno, (int)LW_MIN(namel, 40), s + name0);
    if (c.i < n && c.s[c.i] == '/') {
        c.i++;
        if (c.i < n && !num(&c, &rate))
            return lw_errf(h->eb, LW_EINVAL, "line %zu: bad sampling rate in heap header",
                           lineno);
        if (rate < 0)
            return lw_errf(h->eb, LW_EINVAL, "line %zu: negative sampling rate", lineno);
    }
    /* "heap/R": R is 2*MemProfileRate (a C++ legacy); "heap_v2/R" is the rate itself */
    int64_t r = (namel == 4) ? rate / 2 : rate;
    h->p->heap_sample_rate = r;
    h->rate = (double)r;
    return LW_OK;
}

static int parse_record(struct h1 *h, const char *s, size_t n, size_t lineno)
{
    struct cur c = {s, n, 0};
    if (!four(&c, h->v) || !expect(&c, '@'))
        return lw_errf(h->eb, LW_EINVAL, "line %zu: expected \"a: b [c: d] @ 0x...\"", lineno);
    h->in_rec = 1;
    h->flags = 0;
    h->fb.n = 0;
    return LW_OK;
}

struct ms_field {
    const char *name;
    size_t off, off2; /* off2: second value of "A / B" lines, or (size_t)-1 */
};
#define MS(f) offsetof(struct lw_memstats, f)
static const struct ms_field ms_fields[] = {
    {"Alloc", MS(alloc), (size_t)-1},
    {"TotalAlloc", MS(total_alloc), (size_t)-1},
    {"Sys", MS(sys), (size_t)-1},
    {"HeapAlloc", MS(heap_alloc), (size_t)-1},
    {"HeapSys", MS(heap_sys), (size_t)-1},
    {"HeapIdle", MS(heap_idle), (size_t)-1},
    {"HeapInuse", MS(heap_inuse), (size_t)-1},
    {"HeapReleased", MS(heap_released), (size_t)-1},
    {"HeapObjects", MS(heap_objects), (size_t)-1},
    {"Stack", MS(stack_inuse), MS(stack_sys)},
    {"MSpan", MS(mspan_inuse), (size_t)-1},
    {"MCache", MS(mcache_inuse), (size_t)-1},
    {"GCSys", MS(gc_sys), (size_t)-1},
    {"OtherSys", MS(other_sys), (size_t)-1},
    {"NextGC", MS(next_gc), (size_t)-1},
    {"NumGC", MS(num_gc), (size_t)-1},
    {"MaxRSS", MS(max_rss), (size_t)-1},
};

/* "# Name = N" or "# Name = A / B"; unknown names and other values are skipped. */
static void memstats_line(struct lw_memstats *m, const char *s, size_t n)
{
    if (n < 3 || s[0] != '#' || s[1] != ' ')
        return;
    const char *eq = NULL;
    for (size_t i = 2; i + 2 < n; i++)
        if (s[i] == ' ' && s[i + 1] == '=' && s[i + 2] == ' ') {
            eq = s + i;
            break;
        }
    if (!eq)
        return;
    size_t nl = (size_t)(eq - (s + 2));
    for (size_t k = 0; k < LW_ARRAY_SIZE(ms_fields); k++) {
        const struct ms_field *f = &ms_fields[k];
        if (strlen(f->name) != nl || memcmp(f->name, s + 2, nl) != 0)
            continue;
        struct cur c = {s, n, (size_t)(eq - s) + 3};
        int64_t v;
        if (!num(&c, &v))
            return;
        *(int64_t *)((char *)m + f->off) = v;
        if (f->off2 != (size_t)-1 && expect(&c, '/') && num(&c, &v))
            *(int64_t *)((char *)m + f->off2) = v;
        return;
    }
}

/* ---- line-driven interface (shared by the buffer parser and the stream) ---- */

static void *h1_start(const struct lw_pprof_limits *lim, struct lw_errbuf *eb, int *rc)
{
    struct h1 *h = calloc(1, sizeof(*h));
    if (!h) {
        *rc = lw_errf(eb, LW_ENOMEM, "out of memory");
        return NULL;
    }
    if ((*rc = lw__text_start(0, lim, LW_KIND_HEAP, LW_FMT_HEAP1, &h->p, &h->ic, eb))) {
        free(h);
        return NULL;
    }
    h->lim = lim;
    h->eb = eb;
    return h;
}

static int h1_line(void *st, const char *s, size_t n, size_t lineno, int had_lf)
{
    struct h1 *h = st;
    int rc = LW_OK;
    if (h->stopped)
        return LW_OK;
    if (!h->have_header) {
        if (n == 0)
            return LW_OK;
        if ((rc = parse_header(h, s, n, lineno)) != LW_OK)
            return rc;
        h->have_header = 1;
        return LW_OK;
    }
    if (h->in_map)
        return LW_OK;
    if (n == 0) {
        rc = finish_rec(h, lineno);
    } else if (h->in_memstats) {
        memstats_line(&h->p->memstats, s, n);
    } else if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-') {
        if ((rc = finish_rec(h, lineno)) == LW_OK)
            rc = parse_record(h, s, n, lineno);
    } else if (s[0] == '#') {
        if (n == 18 && memcmp(s, "# runtime.MemStats", 18) == 0) {
            rc = finish_rec(h, lineno);
            h->in_memstats = 1;
            h->p->memstats.present = true;
        } else if (n >= 2 && s[1] == '\t' && h->in_rec) {
            struct lw_frame f;
            rc = lw__parse_frame_comment(h->p, h->ic, s + 1, n - 1, &f);
            if (rc == LW_EINVAL)
                rc = lw_errf(h->eb, LW_EINVAL, "line %zu: frame line without a 0x address",
                             lineno);
            else if (rc != LW_OK)
                rc = cap_error(h, lineno);
            else if (h->fb.n >= h->lim->max_frames)
                h->flags |= LW_STACK_TRUNCATED;
            else if (lw__framebuf_push(&h->fb, &f) != LW_OK)
                rc = cap_error(h, lineno);
        }
        /* other comments are skipped */
    } else if ((n >= 3 && memcmp(s, "---", 3) == 0) ||
               (n >= 17 && memcmp(s, "MAPPED_LIBRARIES:", 17) == 0)) {
        rc = finish_rec(h, lineno);
        h->in_map = 1; /* a memory-map section: not used */
    } else {
        rc = lw_errf(h->eb, LW_EINVAL, "line %zu: unexpected text \"%.*s\" in a heap profile",
                     lineno, (int)LW_MIN(n, 40), s);
    }
    if (rc != LW_OK && !had_lf && rc != LW_ENOMEM && rc != LW_ETOOBIG) {
        rc = LW_OK; /* cut inside the last line: keep the records before it */
        h->in_rec = 0;
        h->stopped = 1;
    }
    return rc;
}

static int h1_end(void *st, int rc, size_t lineno, size_t len, struct lw_profile **out)
{
    struct h1 *h = st;
    *out = NULL;
    if (rc == LW_OK && !h->have_header)
        rc = lw_errf(h->eb, LW_EEMPTY, len ? "no profile header (blank input)" : "empty input");
    if (rc == LW_OK && h->in_rec) {
        h->flags |= LW_STACK_TRUNCATED; /* no empty line closed the last record */
        rc = finish_rec(h, lineno);
    }
    lw__framebuf_free(&h->fb);
    lw__frameset_free(&h->fs);
    lw__icache_free(h->ic);
    if (rc != LW_OK)
        lw_profile_free(h->p);
    else
        *out = h->p;
    free(h);
    return rc;
}

const struct lw__textops lw__heap1_ops = {h1_start, h1_line, h1_end};

int lw_pprof_parse_heap1(const char *data, size_t len, const struct lw_pprof_limits *limits,
                         struct lw_profile **out, struct lw_errbuf *eb)
{
    return lw__text_run(&lw__heap1_ops, data, len, limits, out, eb);
}
