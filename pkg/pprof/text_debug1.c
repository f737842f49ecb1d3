/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text_debug1.c: the goroutine / goroutineleak ?debug=1 text format
 * (pprof-formats.md §3, §7): a "NAME profile: total N" header, then groups
 * of "COUNT @ 0xPC..." + optional "# labels: {...}" + "#<TABs>0xPC<TABs>FUNC+0xOFF<TABs>FILE:LINE"
 * frame lines, each group closed by an empty line.
 *
 * One pass over the buffer, no per-line allocation: function, file and label
 * strings are interned, identical frame arrays are stored once. Frame lines
 * are split on runs of TABs (tabwriter padding), file:line at the last ':'.
 * A file that stops inside a group (no closing empty line) keeps what it has
 * and flags that last group LW_STACK_TRUNCATED; a final line cut mid-way is
 * dropped.
 */
#include "pprof/pprof_int.h"

#include <stdlib.h>
#include <string.h>

struct d1 {
    struct lw_profile *p;
    const struct lw_pprof_limits *lim;
    struct lw_errbuf *eb;
    struct lw__frameset fs;
    struct lw__framebuf fb;
    struct lw__icache *ic;
    int in_group;
    int64_t count;
    const char *labels;
    uint32_t flags;
    int64_t sum;
    int64_t total;   /* header total, -1 before the header */
    int have_header;
    int stopped;     /* a cut last line was dropped: ignore the rest */
};

static int cap_error(struct d1 *d, size_t lineno)
{
    if (d->p->nstacks >= d->lim->max_stacks)
        return lw_errf(d->eb, LW_ETOOBIG, "line %zu: more than %zu stacks (limit)", lineno,
                       d->lim->max_stacks);
    return lw_errf(d->eb, LW_ENOMEM, "line %zu: profile memory limit (%zu bytes) reached",
                   lineno, d->lim->max_arena);
}

static int finish_group(struct d1 *d, size_t lineno)
{
    if (!d->in_group)
        return LW_OK;
    d->in_group = 0;
    struct lw_stack *s = lw__profile_add_stack(d->p, d->lim);
    if (!s)
        return cap_error(d, lineno);
    s->count = d->count;
    s->labels_ = d->labels;
    s->flags = d->flags;
    if (d->p->kind == LW_KIND_GOROUTINELEAK)
        s->flags |= LW_STACK_LEAKED;
    if (lw__frames_store(d->p, &d->fs, s, d->fb.f, d->fb.n) != LW_OK)
        return cap_error(d, lineno);
    d->sum += d->count;
    d->fb.n = 0;
    return LW_OK;
}

/* "#\t0xPC\t\tFUNC+0xOFF\t\tFILE:LINE" (after the '#'), or the short "#\t0xPC". */
static int parse_frame(struct d1 *d, const char *s, size_t n, size_t lineno)
{
    struct lw_frame f;
    int rc = lw__parse_frame_comment(d->p, d->ic, s, n, &f);
    if (rc == LW_EINVAL)
        return lw_errf(d->eb, LW_EINVAL, "line %zu: frame line without a 0x address", lineno);
    if (rc != LW_OK)
        return cap_error(d, lineno);
    if (d->fb.n >= d->lim->max_frames) {
        d->flags |= LW_STACK_TRUNCATED;
        return LW_OK;
    }
    return lw__framebuf_push(&d->fb, &f) == LW_OK ? LW_OK : cap_error(d, lineno);
}

static int parse_count(struct d1 *d, const char *s, size_t n, size_t lineno)
{
    uint64_t c;
    size_t used;
    if (lw__parse_u64(s, n, &c, &used) != LW_OK || c > INT64_MAX)
        return lw_errf(d->eb, LW_ERANGE, "line %zu: goroutine count out of range", lineno);
    if (used == 0 || n - used < 2 || s[used] != ' ' || s[used + 1] != '@')
        return lw_errf(d->eb, LW_EINVAL, "line %zu: expected \"COUNT @ 0x...\"", lineno);
    d->in_group = 1;
    d->count = (int64_t)c;
    d->labels = NULL;
    d->flags = 0;
    d->fb.n = 0;
    return LW_OK;
}

static int parse_header(struct d1 *d, const char *s, size_t n, size_t lineno, int64_t *total)
{
    static const char mid[] = " profile: total ";
    size_t ml = sizeof(mid) - 1;
    const char *m = NULL;
    for (size_t i = 0; i + ml <= n; i++)
        if (memcmp(s + i, mid, ml) == 0) {
            m = s + i;
            break;
        }
    if (!m)
        return lw_errf(d->eb, LW_EFORMAT,
                       "line %zu: expected \"goroutine profile: total N\" (goroutine ?debug=1)",
                       lineno);
    size_t name = (size_t)(m - s);
    if (name == 9 && memcmp(s, "goroutine", 9) == 0)
        d->p->kind = LW_KIND_GOROUTINE;
    else if (name == 13 && memcmp(s, "goroutineleak", 13) == 0)
        d->p->kind = LW_KIND_GOROUTINELEAK;
    else
        return lw_errf(d->eb, LW_EUNSUPPORTED,
                       "line %zu: \"%.*s\" profiles are not supported (only goroutine and "
                       "goroutineleak)",
                       lineno, (int)LW_MIN(name, 40), s);
    const char *t = m + ml;
    size_t tn = (size_t)(s + n - t);
    uint64_t v;
    size_t used;
    if (lw__parse_u64(t, tn, &v, &used) != LW_OK || v > INT64_MAX)
        return lw_errf(d->eb, LW_ERANGE, "line %zu: total out of range", lineno);
    if (used == 0 || used != tn)
        return lw_errf(d->eb, LW_EINVAL, "line %zu: bad total in profile header", lineno);
    *total = (int64_t)v;
    return LW_OK;
}

/* ---- line-driven interface (shared by the buffer parser and the stream) ---- */

static void *d1_start(const struct lw_pprof_limits *lim, struct lw_errbuf *eb, int *rc)
{
    struct d1 *d = calloc(1, sizeof(*d));
    if (!d) {
        *rc = lw_errf(eb, LW_ENOMEM, "out of memory");
        return NULL;
    }
    if ((*rc = lw__text_start(0, lim, LW_KIND_GOROUTINE, LW_FMT_DEBUG1, &d->p, &d->ic, eb))) {
        free(d);
        return NULL;
    }
    d->lim = lim;
    d->eb = eb;
    d->total = -1;
    return d;
}

static int d1_line(void *st, const char *s, size_t n, size_t lineno, int had_lf)
{
    struct d1 *d = st;
    int rc = LW_OK;
    if (d->stopped)
        return LW_OK;
    if (!d->have_header) {
        if (n == 0)
            return LW_OK;
        if ((rc = parse_header(d, s, n, lineno, &d->total)) != LW_OK)
            return rc;
        d->have_header = 1;
        return LW_OK;
    }
    if (n == 0)
        return finish_group(d, lineno);
    if (s[0] >= '0' && s[0] <= '9') {
        if ((rc = finish_group(d, lineno)) != LW_OK)
            return rc;
        rc = parse_count(d, s, n, lineno);
    } else if (s[0] == '#') {
        if (n >= 10 && memcmp(s, "# labels: ", 10) == 0) {
            if (!d->in_group) {
                rc = lw_errf(d->eb, LW_EINVAL, "line %zu: labels line without a count line",
                             lineno);
            } else {
                d->labels = lw__profile_intern(d->p, s + 10, n - 10);
                if (!d->labels)
                    rc = cap_error(d, lineno);
            }
        } else if (n >= 2 && s[1] == '\t') {
            if (!d->in_group)
                rc = lw_errf(d->eb, LW_EINVAL, "line %zu: frame line without a count line",
                             lineno);
            else
                rc = parse_frame(d, s + 1, n - 1, lineno);
        }
        /* other '#' lines are comments */
    } else {
        rc = lw_errf(d->eb, LW_EINVAL, "line %zu: unexpected text \"%.*s\" in a debug=1 profile",
                     lineno, (int)LW_MIN(n, 40), s);
    }
    if (rc != LW_OK && !had_lf && rc != LW_ENOMEM && rc != LW_ETOOBIG) {
        /* the input was cut inside this last line: keep what came before */
        rc = LW_OK;
        d->flags |= LW_STACK_TRUNCATED;
        if (d->in_group && (s[0] >= '0' && s[0] <= '9'))
            d->in_group = 0; /* the cut count line itself */
        d->stopped = 1;
    }
    return rc;
}

static int d1_end(void *st, int rc, size_t lineno, size_t len, struct lw_profile **out)
{
    struct d1 *d = st;
    *out = NULL;
    if (rc == LW_OK && !d->have_header)
        rc = len == 0 ? lw_errf(d->eb, LW_EEMPTY, "empty input")
                      : lw_errf(d->eb, LW_EEMPTY, "no profile header (blank input)");
    if (rc == LW_OK && d->in_group) {
        /* no empty line closed the last group: the input was cut */
        d->flags |= LW_STACK_TRUNCATED;
        rc = finish_group(d, lineno);
    }
    lw__framebuf_free(&d->fb);
    lw__frameset_free(&d->fs);
    lw__icache_free(d->ic);
    if (rc != LW_OK) {
        lw_profile_free(d->p);
    } else {
        /* The header total is authoritative (the runtime may return fewer
         * records than it counted, §8.14); fall back to the sum if it was
         * absent. */
        d->p->total = d->total >= 0 ? d->total : d->sum;
        *out = d->p;
    }
    free(d);
    return rc;
}

const struct lw__textops lw__debug1_ops = {d1_start, d1_line, d1_end};

int lw_pprof_parse_debug1(const char *data, size_t len, const struct lw_pprof_limits *limits,
                          struct lw_profile **out, struct lw_errbuf *eb)
{
    return lw__text_run(&lw__debug1_ops, data, len, limits, out, eb);
}
