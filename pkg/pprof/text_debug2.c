/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text_debug2.c: the goroutine ?debug=2 traceback dump (pprof-formats.md §4),
 * which is also the grammar of crash dumps, so those parse too.
 *
 * Each block is "goroutine N [STATUS...]:" then frames (a function line
 * "pkg.F(args)" and a TAB-indented "file:line +0xOFF" line), elision markers,
 * "created by F [in goroutine N]" + its location, and optional ancestor
 * blocks (ignored). Blocks are separated by one empty line.
 *
 * Goroutines are AGGREGATED while parsing: those with the same frames
 * (func, file, line), creator (func, file, line), state, labels and flags
 * become one lw_stack with a count and the min/max wait minutes. A hash
 * table keyed on interned pointers makes that O(1) per goroutine, so the
 * whole parse is one linear pass; memory is the distinct stacks plus the
 * interned strings, far below the input size.
 *
 * State: the bracket's status with the ", N minutes", ", locked to thread",
 * "synctest group/bubble N" parts and the " (leaked)"/" (scan)" markers
 * removed ("(leaked)" becomes LW_STACK_LEAKED), e.g. "IO wait", "chan send",
 * "chan receive (durable)". Labels (1.26 " labels:{...}" inside the bracket,
 * 1.27 "{k: v}" after it) go to lw_stack.labels_.
 */
#include "pprof/pprof_int.h"

#include <stdlib.h>
#include <string.h>

#define STATE_MAX 256

struct agg_ent {
    uint64_t hash;
    uint32_t idx1; /* stack index + 1; 0 = empty */
};

struct d2 {
    struct lw_profile *p;
    const struct lw_pprof_limits *lim;
    struct lw_errbuf *eb;
    struct lw__frameset fs;
    struct lw__framebuf fb;
    struct lw__icache *ic;
    struct agg_ent *tab;
    size_t tabn, tabcount;
    /* current goroutine */
    int active;
    int in_ancestor;
    int want_loc;      /* 1: the last frame waits for its location line; 2: dropped frame */
    int want_cb_loc;   /* the "created by" line waits for its location */
    uint32_t flags;
    const char *state, *labels, *created_by, *cb_file;
    int cb_line;
    int64_t minutes;
    int64_t goid;      /* the current goroutine's id; -1 when too long to hold */
    size_t goroutines;
    int seen_header;
    int stopped; /* a cut last header was dropped: ignore the rest */
};

static int cap_error(struct d2 *d, size_t lineno)
{
    if (d->p->nstacks >= d->lim->max_stacks)
        return lw_errf(d->eb, LW_ETOOBIG, "line %zu: more than %zu distinct stacks (limit)",
                       lineno, d->lim->max_stacks);
    return lw_errf(d->eb, LW_ENOMEM, "line %zu: profile memory limit (%zu bytes) reached",
                   lineno, d->lim->max_arena);
}

static inline uint64_t mixp(uint64_t h, const void *p)
{
    h ^= (uint64_t)(uintptr_t)p + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 31);
}

static int same_group(const struct d2 *d, const struct lw_stack *s)
{
    const struct lw_stack_ext *e = s->ext; /* every debug=2 stack has one */
    if (s->nframes != d->fb.n || e->state != d->state || s->labels_ != d->labels ||
        e->created_by != d->created_by || e->created_by_file != d->cb_file ||
        e->created_by_line != d->cb_line || s->flags != d->flags)
        return 0;
    if (s->ftab == d->fb.f) /* text stacks: ftab is their own array */
        return 1;
    for (uint32_t i = 0; i < d->fb.n; i++) {
        const struct lw_frame *a = &s->ftab[i], *b = &d->fb.f[i];
        if (a->func != b->func || a->file != b->file || a->line != b->line)
            return 0;
    }
    return 1;
}

static int tab_grow(struct d2 *d)
{
    size_t nn = d->tabn ? d->tabn * 2 : 1024;
    struct agg_ent *nt = calloc(nn, sizeof(*nt));
    if (!nt)
        return LW_ENOMEM;
    for (size_t i = 0; i < d->tabn; i++) {
        if (!d->tab[i].idx1)
            continue;
        size_t j = (size_t)d->tab[i].hash & (nn - 1);
        while (nt[j].idx1)
            j = (j + 1) & (nn - 1);
        nt[j] = d->tab[i];
    }
    free(d->tab);
    d->tab = nt;
    d->tabn = nn;
    return LW_OK;
}

/* Does the current goroutine count as old: an id at or below
 * limits.goid_cut (it existed at the previous dump)? */
static bool goid_is_old(const struct d2 *d)
{
    return d->goid >= 0 && d->goid <= d->lim->goid_cut;
}

/* End of one goroutine block: fold it into its group. */
static int finish(struct d2 *d, size_t lineno)
{
    if (!d->active)
        return LW_OK;
    d->active = 0;
    d->goroutines++;
    if ((d->tabcount + 1) * 2 > d->tabn && tab_grow(d) != LW_OK)
        return cap_error(d, lineno);
    uint64_t fh = lw__frames_hash(0, d->fb.f, d->fb.n); /* reused by frames_store */
    uint64_t h = mixp(fh, d->state);
    h = mixp(h, d->labels);
    h = mixp(h, d->created_by);
    h = mixp(h, d->cb_file);
    h = mixp(h, (const void *)(uintptr_t)(((uint64_t)(uint32_t)d->cb_line << 8) | d->flags));
    size_t j = (size_t)h & (d->tabn - 1);
    while (d->tab[j].idx1) {
        if (d->tab[j].hash == h) {
            struct lw_stack *s = &d->p->stacks[d->tab[j].idx1 - 1];
            if (same_group(d, s)) {
                struct lw_stack_ext *e = lw__stack_ext(d->p, s); /* already made: no memory */
                s->count++;
                if (d->minutes > e->max_wait_minutes)
                    e->max_wait_minutes = d->minutes;
                if (d->minutes < e->min_wait_minutes)
                    e->min_wait_minutes = d->minutes;
                if (d->goid >= 0 && (e->min_goid < 0 || d->goid < e->min_goid))
                    e->min_goid = d->goid;
                if (d->goid > e->max_goid)
                    e->max_goid = d->goid;
                if (e->old_goroutines >= 0 && goid_is_old(d))
                    e->old_goroutines++;
                return LW_OK;
            }
        }
        j = (j + 1) & (d->tabn - 1);
    }
    struct lw_stack *s = lw__profile_add_stack(d->p, d->lim);
    if (!s)
        return cap_error(d, lineno);
    struct lw_stack_ext *e = lw__stack_ext(d->p, s);
    if (!e) {
        d->p->nstacks--; /* undo: the error is the memory cap, not max_stacks */
        return cap_error(d, lineno);
    }
    s->count = 1;
    s->flags = (uint16_t)d->flags;
    s->labels_ = d->labels;
    e->state = d->state;
    e->created_by = d->created_by;
    e->created_by_file = d->cb_file;
    e->created_by_line = d->cb_line;
    e->max_wait_minutes = e->min_wait_minutes = d->minutes;
    e->min_goid = e->max_goid = d->goid;
    e->old_goroutines = d->lim->goid_cut <= 0 ? -1 : goid_is_old(d);
    if (lw__frames_store_h(d->p, &d->fs, s, d->fb.f, d->fb.n, fh) != LW_OK)
        return cap_error(d, lineno);
    d->tab[j].hash = h;
    d->tab[j].idx1 = (uint32_t)d->p->nstacks;
    d->tabcount++;
    return LW_OK;
}

static const char *find(const char *s, size_t n, const char *pat)
{
    size_t pl = strlen(pat);
    if (pl > n)
        return NULL;
    const char *end = s + n - pl + 1;
    for (const char *c = s; c < end; c++) {
        c = memchr(c, pat[0], (size_t)(end - c));
        if (!c)
            return NULL;
        if (memcmp(c, pat, pl) == 0)
            return c;
    }
    return NULL;
}

static int ends_with(const char *s, size_t n, const char *suf)
{
    size_t l = strlen(suf);
    return n >= l && memcmp(s + n - l, suf, l) == 0;
}

/* Remove every occurrence of pat from buf[0..*n); returns 1 if one was found. */
static int cut_all(char *buf, size_t *n, const char *pat)
{
    size_t pl = strlen(pat);
    int found = 0;
    const char *c;
    while ((c = find(buf, *n, pat)) != NULL) {
        size_t off = (size_t)(c - buf);
        memmove(buf + off, buf + off + pl, *n - off - pl);
        *n -= pl;
        found = 1;
    }
    return found;
}

static int is_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* "goroutine N [gp=.. m=..] [STATUS, ...]:" (also 1.27 "[...] {k: v}:") */
static int parse_header(struct d2 *d, const char *s, size_t n, size_t lineno)
{
    size_t i = 10; /* after "goroutine " */
    size_t id0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == id0)
        return lw_errf(d->eb, LW_EINVAL, "line %zu: bad goroutine header (no id)", lineno);
    d->goid = 0;
    for (size_t k = id0; k < i && d->goid >= 0; k++)
        d->goid = d->goid > (INT64_MAX - 9) / 10 ? -1 : d->goid * 10 + (s[k] - '0');
    if (d->goid > d->p->max_goid)
        d->p->max_goid = d->goid;
    const char *open = memchr(s + i, '[', n - i);
    if (!open)
        return lw_errf(d->eb, LW_EINVAL, "line %zu: bad goroutine header (no [status])", lineno);
    const char *close = NULL, *labels = NULL;
    size_t labels_n = 0;
    if (ends_with(s, n, "]:")) {
        close = s + n - 2; /* the LAST "]:" (1.26 label values may hold ']') */
    } else if (ends_with(s, n, "}:")) {
        close = find(open, (size_t)(s + n - open), "] {"); /* 1.27: labels after the bracket */
        if (close) {
            labels = close + 2;
            labels_n = (size_t)(s + n - 1 - labels);
        }
    }
    if (!close || close < open)
        return lw_errf(d->eb, LW_EINVAL, "line %zu: bad goroutine header (no closing \"]:\")",
                       lineno);
    const char *c = open + 1;
    size_t cn = (size_t)(close - c);
    const char *lab = find(c, cn, " labels:{");
    if (lab) {
        labels = lab + 8;
        labels_n = (size_t)(close - labels);
        cn = (size_t)(lab - c);
    }
    d->flags = 0;
    d->minutes = 0;
    d->labels = NULL;
    if (labels) {
        d->labels = lw__profile_intern(d->p, labels, labels_n);
        if (!d->labels)
            return cap_error(d, lineno);
    }
    /* split the bracket on ", " */
    char st[STATE_MAX];
    size_t sn = 0;
    size_t k = 0;
    int first = 1;
    while (k <= cn) {
        const char *e = find(c + k, cn - k, ", ");
        size_t pn = e ? (size_t)(e - (c + k)) : cn - k;
        const char *piece = c + k;
        k += pn + 2;
        if (first) {
            first = 0;
            size_t cp = LW_MIN(pn, STATE_MAX - 1);
            memcpy(st, piece, cp);
            sn = cp;
            if (cut_all(st, &sn, " (leaked)"))
                d->flags |= LW_STACK_LEAKED;
            cut_all(st, &sn, " (scan)");
        } else if (ends_with(piece, pn, " minutes") || ends_with(piece, pn, " minute")) {
            size_t dn = (size_t)((const char *)memchr(piece, ' ', pn) - piece);
            uint64_t m;
            size_t used;
            if (lw__parse_u64(piece, dn, &m, &used) == LW_OK && used == dn && dn > 0 &&
                m <= INT64_MAX)
                d->minutes = (int64_t)m;
        } else if ((pn == 16 && memcmp(piece, "locked to thread", 16) == 0) ||
                   (pn > 15 && memcmp(piece, "synctest group ", 15) == 0 &&
                    is_digits(piece + 15, pn - 15)) ||
                   (pn > 16 && memcmp(piece, "synctest bubble ", 16) == 0 &&
                    is_digits(piece + 16, pn - 16))) {
            /* not part of the state */
        } else if (sn + 2 + pn < STATE_MAX) {
            /* unknown part: keep it in the state text */
            memcpy(st + sn, ", ", 2);
            memcpy(st + sn + 2, piece, pn);
            sn += 2 + pn;
        }
        if (!e)
            break;
    }
    d->state = lw__intern_cached(d->p, d->ic, st, sn); /* the cache keeps no pointer to st */
    if (!d->state)
        return cap_error(d, lineno);
    d->active = 1;
    d->in_ancestor = 0;
    d->want_loc = 0;
    d->want_cb_loc = 0;
    d->created_by = NULL;
    d->cb_file = NULL;
    d->cb_line = 0;
    d->fb.n = 0;
    return LW_OK;
}

/* "\tFILE:LINE[ +0xOFF][ fp=.. sp=.. pc=..]" -> file, line */
static int parse_loc(struct d2 *d, const char *s, size_t n, size_t lineno, const char **file,
                     int *line)
{
    size_t e = n;
    const char *x = find(s, e, " fp=");
    if (x)
        e = (size_t)(x - s);
    x = find(s, e, " pc=0x");
    if (x)
        e = (size_t)(x - s);
    /* a trailing " +0xHEX" */
    for (size_t k = e; k > 3; k--) {
        char ch = s[k - 1];
        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))
            continue;
        if (ch == 'x' && k >= 4 && s[k - 2] == '0' && s[k - 3] == '+' && s[k - 4] == ' ' &&
            k < e)
            e = k - 4;
        break;
    }
    *line = 0;
    for (size_t k = e; k > 0; k--) {
        if (s[k - 1] == ':') {
            uint64_t v;
            size_t used;
            if (k < e && lw__parse_u64(s + k, e - k, &v, &used) == LW_OK && used == e - k &&
                v <= INT32_MAX) {
                *line = (int)v;
                e = k - 1;
            }
            break;
        }
        if (s[k - 1] < '0' || s[k - 1] > '9')
            break;
    }
    *file = lw__intern_cached(d->p, d->ic, s, e);
    return *file ? LW_OK : cap_error(d, lineno);
}

static int body_line(struct d2 *d, const char *s, size_t n, size_t lineno)
{
    if (s[0] == '\t') {
        if (d->want_cb_loc) {
            d->want_cb_loc = 0;
            return parse_loc(d, s + 1, n - 1, lineno, &d->cb_file, &d->cb_line);
        }
        if (d->want_loc == 1) {
            d->want_loc = 0;
            struct lw_frame *f = &d->fb.f[d->fb.n - 1];
            return parse_loc(d, s + 1, n - 1, lineno, &f->file, &f->line);
        }
        d->want_loc = 0;
        return LW_OK; /* a dropped frame's location, or "\tgoroutine running on other thread" */
    }
    d->want_loc = 0;
    d->want_cb_loc = 0;
    if (s[0] == '.' && n >= 3 && s[1] == '.' && s[2] == '.') {
        if (find(s, n, "elided"))
            d->flags |= LW_STACK_ELIDED;
        return LW_OK;
    }
    if (n > 11 && memcmp(s, "created by ", 11) == 0) {
        const char *f = s + 11;
        size_t fn = n - 11;
        const char *in = find(f, fn, " in goroutine ");
        if (in) {
            fn = (size_t)(in - f);
            d->p->go_version_hint = 121;
        }
        d->created_by = lw__intern_cached(d->p, d->ic, f, fn);
        if (!d->created_by)
            return cap_error(d, lineno);
        d->want_cb_loc = 1;
        return LW_OK;
    }
    if (s[0] == '[' && n > 28 && memcmp(s, "[originating from goroutine ", 28) == 0) {
        d->in_ancestor = 1; /* GODEBUG=tracebackancestors: not this goroutine's stack */
        return LW_OK;
    }
    /* a function line: "pkg.F(args)" -- the arguments start at the LAST '(' */
    struct lw_frame fr = {"?", NULL, 0};
    size_t fn = n;
    if (n >= 15 && memcmp(s, "non-Go function", 15) == 0) {
        fn = 0;
    } else {
        for (size_t k = n; k > 0; k--)
            if (s[k - 1] == '(') {
                fn = k - 1;
                break;
            }
    }
    if (fn > 0) {
        fr.func = lw__intern_cached(d->p, d->ic, s, fn);
        if (!fr.func)
            return cap_error(d, lineno);
    }
    if (d->fb.n >= d->lim->max_frames) {
        d->flags |= LW_STACK_TRUNCATED;
        d->want_loc = 2;
        return LW_OK;
    }
    if (lw__framebuf_push(&d->fb, &fr) != LW_OK)
        return cap_error(d, lineno);
    d->want_loc = 1;
    return LW_OK;
}

/* ---- line-driven interface (shared by the buffer parser and the stream) ---- */

static void *d2_start(const struct lw_pprof_limits *lim, struct lw_errbuf *eb, int *rc)
{
    struct d2 *d = calloc(1, sizeof(*d));
    if (!d) {
        *rc = lw_errf(eb, LW_ENOMEM, "out of memory");
        return NULL;
    }
    if ((*rc = lw__text_start(0, lim, LW_KIND_GOROUTINE, LW_FMT_DEBUG2, &d->p, &d->ic, eb))) {
        free(d);
        return NULL;
    }
    d->lim = lim;
    d->eb = eb;
    return d;
}

static int d2_line(void *st, const char *s, size_t n, size_t lineno, int had_lf)
{
    struct d2 *d = st;
    int rc = LW_OK;
    if (d->stopped)
        return LW_OK;
    if (n == 0) {
        rc = finish(d, lineno);
    } else if (n > 10 && s[0] == 'g' && memcmp(s, "goroutine ", 10) == 0 && s[10] >= '0' &&
               s[10] <= '9') {
        if ((rc = finish(d, lineno)) == LW_OK)
            rc = parse_header(d, s, n, lineno);
        d->seen_header = 1;
        if (rc != LW_OK && !had_lf && rc != LW_ENOMEM && rc != LW_ETOOBIG) {
            rc = LW_OK; /* the dump was cut inside this header: drop it */
            d->active = 0;
            d->stopped = 1;
        }
    } else if (d->active && !d->in_ancestor) {
        rc = body_line(d, s, n, lineno);
        if (!had_lf)
            d->flags |= LW_STACK_TRUNCATED; /* cut (64 MiB cap, timeout): the last line may be a fragment */
    }
    /* lines before the first header (a panic message) and ancestor blocks
     * are skipped */
    return rc;
}

static int d2_end(void *st, int rc, size_t lineno, size_t len, struct lw_profile **out)
{
    struct d2 *d = st;
    (void)len;
    *out = NULL;
    if (rc == LW_OK)
        rc = finish(d, lineno);
    if (rc == LW_OK && !d->seen_header)
        rc = lw_errf(d->eb, LW_EFORMAT,
                     "no \"goroutine N [status]:\" header found: not a debug=2 dump");
    lw__framebuf_free(&d->fb);
    lw__frameset_free(&d->fs);
    lw__icache_free(d->ic);
    free(d->tab);
    if (rc != LW_OK) {
        lw_profile_free(d->p);
    } else {
        d->p->total = (int64_t)d->goroutines;
        *out = d->p;
    }
    free(d);
    return rc;
}

const struct lw__textops lw__debug2_ops = {d2_start, d2_line, d2_end};

int lw_pprof_parse_debug2(const char *data, size_t len, const struct lw_pprof_limits *limits,
                          struct lw_profile **out, struct lw_errbuf *eb)
{
    *out = NULL;
    if (len == 0)
        return lw_errf(eb, LW_EEMPTY, "empty input");
    return lw__text_run(&lw__debug2_ops, data, len, limits, out, eb);
}
