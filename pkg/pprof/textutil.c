/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textutil.c: small pieces shared by the text parsers (debug=1, debug=2,
 * heap debug=1): a line reader that tolerates CRLF and a missing final LF,
 * overflow-checked decimal parsing, a growable scratch frame array, and a
 * frame-array dedup table so that 100,000 stacks with the same frames (but
 * different labels or states) share one copy in the arena.
 */
#include "pprof/pprof_int.h"

#include <stdlib.h>
#include <string.h>

const struct lw_pprof_limits *lw__limits(const struct lw_pprof_limits *l,
                                         struct lw_pprof_limits *tmp)
{
    /* a zero field means "the default", never "nothing allowed" */
    lw_pprof_limits_default(tmp);
    if (l) {
        if (l->max_input)
            tmp->max_input = l->max_input;
        if (l->max_inflated)
            tmp->max_inflated = l->max_inflated;
        if (l->max_arena)
            tmp->max_arena = l->max_arena;
        if (l->max_frames)
            tmp->max_frames = l->max_frames;
        if (l->max_stacks)
            tmp->max_stacks = l->max_stacks;
        tmp->goid_cut = l->goid_cut > 0 ? l->goid_cut : 0;
    }
    return tmp;
}

int lw__next_line(struct lw__lines *r, const char **s, size_t *n)
{
    if (r->p >= r->end)
        return 0;
    const char *b = r->p;
    const char *nl = memchr(b, '\n', (size_t)(r->end - b));
    const char *e;
    if (nl) {
        e = nl;
        r->p = nl + 1;
        r->last_had_lf = 1;
    } else {
        e = r->end;
        r->p = r->end;
        r->last_had_lf = 0;
    }
    if (e > b && e[-1] == '\r')
        e--;
    r->lineno++;
    *s = b;
    *n = (size_t)(e - b);
    return 1;
}

int lw__parse_u64(const char *s, size_t n, uint64_t *v, size_t *used)
{
    uint64_t x = 0;
    size_t i = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (x > (UINT64_MAX - d) / 10) {
            *used = i;
            return LW_ERANGE;
        }
        x = x * 10 + d;
    }
    *v = x;
    *used = i;
    return LW_OK;
}

int lw__parse_i64(const char *s, size_t n, int64_t *v, size_t *used)
{
    int neg = n > 0 && s[0] == '-';
    uint64_t x;
    size_t u;
    int rc = lw__parse_u64(s + neg, n - (size_t)neg, &x, &u);
    if (rc != LW_OK || u == 0) {
        *used = 0;
        return rc != LW_OK ? rc : LW_OK;
    }
    if (x > (uint64_t)INT64_MAX + (uint64_t)neg) {
        *used = 0;
        return LW_ERANGE;
    }
    *v = neg ? (int64_t)(0 - x) : (int64_t)x;
    *used = u + (size_t)neg;
    return LW_OK;
}

/* ---- frames ---- */

int lw__framebuf_push(struct lw__framebuf *b, const struct lw_frame *f)
{
    if (b->n == b->cap) {
        uint32_t nc = b->cap ? b->cap * 2 : 64;
        struct lw_frame *nf = realloc(b->f, sizeof(*nf) * nc);
        if (!nf)
            return LW_ENOMEM;
        b->f = nf;
        b->cap = nc;
    }
    b->f[b->n++] = *f;
    return LW_OK;
}

void lw__framebuf_free(struct lw__framebuf *b)
{
    free(b->f);
    b->f = NULL;
    b->n = b->cap = 0;
}

static inline uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
}

uint64_t lw__frames_hash(uint64_t h, const struct lw_frame *f, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        h = mix64(h, (uint64_t)(uintptr_t)f[i].func);
        h = mix64(h, (uint64_t)(uintptr_t)f[i].file ^ ((uint64_t)(uint32_t)f[i].line << 40));
    }
    return mix64(h, n);
}

struct lw__fsent {
    uint64_t hash;
    const struct lw_frame *frames; /* NULL = empty slot */
    uint32_t n;
};

static int frames_equal(const struct lw_frame *a, const struct lw_frame *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i].func != b[i].func || a[i].file != b[i].file || a[i].line != b[i].line)
            return 0;
    return 1;
}

static int fs_grow(struct lw__frameset *fs)
{
    size_t nn = fs->nslots ? fs->nslots * 2 : 1024;
    struct lw__fsent *ns = calloc(nn, sizeof(*ns));
    if (!ns)
        return LW_ENOMEM;
    for (size_t i = 0; i < fs->nslots; i++) {
        struct lw__fsent *e = &fs->slots[i];
        if (!e->frames)
            continue;
        size_t j = (size_t)e->hash & (nn - 1);
        while (ns[j].frames)
            j = (j + 1) & (nn - 1);
        ns[j] = *e;
    }
    free(fs->slots);
    fs->slots = ns;
    fs->nslots = nn;
    return LW_OK;
}

int lw__frames_store(struct lw_profile *p, struct lw__frameset *fs, struct lw_stack *s,
                     const struct lw_frame *f, uint32_t n)
{
    return lw__frames_store_h(p, fs, s, f, n, lw__frames_hash(0, f, n));
}

int lw__frames_store_h(struct lw_profile *p, struct lw__frameset *fs, struct lw_stack *s,
                       const struct lw_frame *f, uint32_t n, uint64_t h)
{
    if (n == 0)
        return lw__stack_set_frames(p, s, f, 0);
    if ((fs->count + 1) * 2 > fs->nslots && fs_grow(fs) != LW_OK)
        return LW_ENOMEM;
    size_t j = (size_t)h & (fs->nslots - 1);
    while (fs->slots[j].frames) {
        struct lw__fsent *e = &fs->slots[j];
        if (e->hash == h && e->n == n && frames_equal(e->frames, f, n)) {
            s->ftab = e->frames;
            s->fidx = NULL;
            s->nframes = n;
            return LW_OK;
        }
        j = (j + 1) & (fs->nslots - 1);
    }
    int rc = lw__stack_set_frames(p, s, f, n);
    if (rc != LW_OK)
        return rc;
    fs->slots[j].hash = h;
    fs->slots[j].frames = s->ftab;
    fs->slots[j].n = n;
    fs->count++;
    return LW_OK;
}

void lw__frameset_free(struct lw__frameset *fs)
{
    free(fs->slots);
    fs->slots = NULL;
    fs->nslots = fs->count = 0;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int lw__parse_frame_comment(struct lw_profile *p, struct lw__icache *c, const char *s, size_t n,
                            struct lw_frame *out)
{
    size_t i = 0;
    while (i < n && s[i] == '\t')
        i++;
    size_t pc0 = i;
    while (i < n && s[i] != '\t')
        i++;
    if (i - pc0 < 3 || s[pc0] != '0' || s[pc0 + 1] != 'x')
        return LW_EINVAL;
    while (i < n && s[i] == '\t')
        i++;
    struct lw_frame f = {"?", NULL, 0};
    if (i < n) {
        size_t f0 = i;
        while (i < n && s[i] != '\t')
            i++;
        size_t f1 = i;
        /* strip a trailing "+0xOFF" */
        size_t h = f1;
        while (h > f0 && is_hex(s[h - 1]))
            h--;
        if (h < f1 && h >= f0 + 3 && s[h - 1] == 'x' && s[h - 2] == '0' && s[h - 3] == '+')
            f1 = h - 3;
        f.func = lw__intern_cached(p, c, s + f0, f1 - f0);
        if (!f.func)
            return LW_ENOMEM;
        while (i < n && s[i] == '\t')
            i++;
        if (i < n) {
            size_t l0 = i, l1 = n;
            size_t k = l1;
            while (k > l0 && s[k - 1] >= '0' && s[k - 1] <= '9')
                k--;
            if (k < l1 && k > l0 && s[k - 1] == ':') {
                uint64_t line;
                size_t used;
                if (lw__parse_u64(s + k, l1 - k, &line, &used) == LW_OK && line <= INT32_MAX) {
                    f.line = (int)line;
                    l1 = k - 1;
                }
            }
            f.file = lw__intern_cached(p, c, s + l0, l1 - l0);
            if (!f.file)
                return LW_ENOMEM;
        }
    }
    *out = f;
    return LW_OK;
}

/* ---- intern cache ---- */

#define ICACHE_BITS 12

struct lw__icache_ent {
    size_t n;
    const char *str; /* the interned copy (exactly n bytes, no NUL inside) */
};

struct lw__icache *lw__icache_new(void)
{
    return calloc((size_t)1 << ICACHE_BITS, sizeof(struct lw__icache_ent));
}

void lw__icache_free(struct lw__icache *c)
{
    free(c);
}

static inline uint64_t load64(const char *s)
{
    uint64_t v;
    memcpy(&v, s, 8);
    return v;
}

const char *lw__intern_cached(struct lw_profile *p, struct lw__icache *c, const char *s,
                              size_t n)
{
    if (!c)
        return lw__profile_intern(p, s, n);
    uint64_t h = (uint64_t)n * 0x9e3779b97f4a7c15ULL;
    if (n >= 8) {
        /* every 8-byte word of names up to 64 bytes (they may differ
         * anywhere: "main.(*router).Level07VariantA"), else the first, middle
         * and last words */
        size_t i = 0;
        if (n <= 64) {
            for (; i + 8 <= n; i += 8)
                h = (h ^ load64(s + i)) * 0x9e3779b97f4a7c15ULL;
        } else {
            h = (h ^ load64(s)) * 0x9e3779b97f4a7c15ULL;
            h = (h ^ load64(s + (n - 8) / 2)) * 0x9e3779b97f4a7c15ULL;
        }
        h ^= (load64(s + n - 8) << 17) | (load64(s + n - 8) >> 47);
    } else {
        for (size_t i = 0; i < n; i++)
            h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    }
    h *= 0xff51afd7ed558ccdULL;
    struct lw__icache_ent *e = (struct lw__icache_ent *)c + (h >> (64 - ICACHE_BITS));
    /* compared with the interned copy, not the source bytes: a stream's
     * chunks are reused, so input pointers do not stay valid */
    if (e->str && e->n == n && memcmp(e->str, s, n) == 0)
        return e->str;
    const char *str = lw__profile_intern(p, s, n);
    if (str && strnlen(str, n) == n) { /* an embedded NUL interns a prefix: not cached */
        e->n = n;
        e->str = str;
    }
    return str;
}

int lw__check_input_size(size_t len, const struct lw_pprof_limits *lim, struct lw_errbuf *eb)
{
    if (len > lim->max_input)
        return lw_errf(eb, LW_ETOOBIG, "input is %zu bytes, over the %zu-byte limit", len,
                       lim->max_input);
    return LW_OK;
}

int lw__text_start(size_t len, const struct lw_pprof_limits *lim, enum lw_prof_kind kind,
                   enum lw_prof_format fmt, struct lw_profile **p, struct lw__icache **ic,
                   struct lw_errbuf *eb)
{
    int rc = lw__check_input_size(len, lim, eb);
    if (rc)
        return rc;
    *p = lw__profile_new(kind, fmt, lim);
    *ic = lw__icache_new();
    if (!*p || !*ic) {
        lw_profile_free(*p);
        lw__icache_free(*ic);
        *p = NULL;
        *ic = NULL;
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    }
    return LW_OK;
}

int lw__text_run(const struct lw__textops *ops, const char *data, size_t len,
                 const struct lw_pprof_limits *limits, struct lw_profile **out,
                 struct lw_errbuf *eb)
{
    struct lw_pprof_limits tmp;
    const struct lw_pprof_limits *lim = lw__limits(limits, &tmp);
    *out = NULL;
    int rc = lw__check_input_size(len, lim, eb);
    if (rc)
        return rc;
    void *st = ops->start(lim, eb, &rc);
    if (!st)
        return rc;
    struct lw__lines r;
    lw__lines_init(&r, data, len);
    const char *s;
    size_t n;
    while (lw__next_line(&r, &s, &n))
        if ((rc = ops->line(st, s, n, r.lineno, r.last_had_lf)) != LW_OK)
            break;
    return ops->end(st, rc, r.lineno, len, out);
}
