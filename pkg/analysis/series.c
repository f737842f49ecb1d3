/* SPDX-License-Identifier: Apache-2.0 */
/*
 * series.c: feeding a struct lw_series (analysis_int.h explains the store).
 *
 * Cost per profile: one hash lookup per stack, O(identities) to close the
 * previous sample, plus an occasional O(identities * slots) pairwise merge.
 * Memory (docs/analysis.md, "Memory bounds"): at most max_identities
 * identities per track (the smallest and flattest are evicted a quarter at
 * a time), slot storage that grows on demand (16, doubling) up to max_slots
 * slots per identity, representative frames and strings in the series'
 * arena, which is compacted once it has doubled since the last compaction
 * (and is past LW__ARENA_MIN): at most about twice the strings still
 * referenced.
 */
#include "analysis/analysis_int.h"
#include "causes/causes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LW__ARENA_MIN ((size_t)16 << 10)
#define LW__DETAIL_MAX 512 /* bytes of a state/creator string kept when max_stack_bytes is set */

void lw_analysis_params_default(struct lw_analysis_params *p)
{
    memset(p, 0, sizeof(*p));
    p->max_identities = 4096;
    p->top_n = 5;
    p->min_span_s = 300;
    p->min_samples = 5;
    p->min_growth_per_hour = 10;
    p->min_rel_growth = 0.5;
    lw_forecast_params_default(&p->forecast);
    p->min_abs_growth = 10;
    p->heap_min_growth_per_hour = 1024.0 * 1024.0;
    p->heap_min_abs_growth = 2.0 * 1024.0 * 1024.0;
    p->recent_fraction = 1.0 / 3.0;
    p->z_trend = 2.326;
    p->z_recent = 1.645;
    p->max_slots = LW__SLOT_CAP;
    p->max_stack_bytes = 0;
}

const char *lw_verdict_name(enum lw_verdict_kind v)
{
    switch (v) {
    case LW_VERDICT_NO_LEAK: return "no-leak";
    case LW_VERDICT_LEAK: return "leak";
    default: return "insufficient-data";
    }
}

const char *lw_in_use_why_name(enum lw_in_use_why w)
{
    switch (w) {
    case LW_IN_USE_RENEWED: return "renewed";
    case LW_IN_USE_MOVED: return "moved";
    default: return "busy";
    }
}

/* ---- tracks -------------------------------------------------------------- */

/* A new identity (its values are a row of the track's vm: see track_repoint). */
static void ident_init(struct lw__ident *id, uint64_t key)
{
    memset(id, 0, sizeof(*id));
    id->key = key;
    id->ext = (struct lw_stack_ext)LW_STACK_EXT_INIT;
    id->st.ext = &id->ext;
}

/* Point the total and every identity at its row of vm. */
static void track_repoint(struct lw__track *tr)
{
    tr->total.v = tr->scap ? tr->vm : NULL;
    for (size_t i = 0; i < tr->nids; i++)
        tr->ids[i]->v = tr->scap ? tr->vm + (i + 1) * tr->scap : NULL;
}

/* Rows for at least `need` (total + identities) at the current scap. */
static int track_rows(struct lw__track *tr, size_t need)
{
    if (!tr->scap || need <= tr->vrows)
        return LW_OK;
    size_t nr = tr->vrows ? tr->vrows * 2 : 8;
    while (nr < need)
        nr *= 2;
    nr = LW_MAX(LW_MIN(nr, tr->max_ids + 1), need);
    float *m = realloc(tr->vm, nr * tr->scap * sizeof(*m));
    if (!m)
        return LW_ENOMEM;
    memset(m + tr->vrows * tr->scap, 0, (nr - tr->vrows) * tr->scap * sizeof(*m));
    tr->vm = m;
    tr->vrows = nr;
    track_repoint(tr);
    return LW_OK;
}

static void track_init(struct lw__track *tr, size_t max_ids, size_t max_slots, bool has_idents)
{
    memset(tr, 0, sizeof(*tr));
    tr->width = 1;
    tr->max_ids = max_ids ? max_ids : 1;
    tr->max_slots = max_slots;
    tr->has_idents = has_idents;
    ident_init(&tr->total, 0);
}

/* Room for `need` slots (need <= max_slots) in t and every identity's row:
 * storage grows by doubling from LW__SLOT_MIN, so a short or new series
 * costs a fraction of a full one. On failure nothing changes (t may have
 * grown: unused room). */
static int track_reserve(struct lw__track *tr, size_t need)
{
    if (need <= tr->scap)
        return LW_OK;
    size_t nc = tr->scap ? tr->scap : LW__SLOT_MIN;
    while (nc < need)
        nc *= 2;
    if (nc > tr->max_slots)
        nc = tr->max_slots;
    double *t = realloc(tr->t, nc * sizeof(*t));
    if (!t)
        return LW_ENOMEM;
    tr->t = t;
    size_t rows = LW_MAX(tr->vrows, tr->nids + 1);
    if (tr->has_idents)
        rows = LW_MAX(rows, LW_MIN((size_t)8, tr->max_ids + 1));
    float *m = calloc(rows * nc, sizeof(*m));
    if (!m)
        return LW_ENOMEM;
    for (size_t r = 0; tr->scap && r <= tr->nids; r++)
        memcpy(m + r * nc, tr->vm + r * tr->scap, tr->scap * sizeof(*m));
    free(tr->vm);
    tr->vm = m;
    tr->vrows = rows;
    tr->scap = nc;
    track_repoint(tr);
    return LW_OK;
}

static void track_free(struct lw__track *tr)
{
    for (size_t i = 0; i < tr->nids; i++)
        free(tr->ids[i]);
    free(tr->ids);
    free(tr->hash);
    free(tr->vm);
    free(tr->t);
    memset(tr, 0, sizeof(*tr));
}

static size_t hash_slot(uint64_t key, size_t hcap)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (size_t)key & (hcap - 1);
}

static int hash_rebuild(struct lw__track *tr, size_t want)
{
    size_t hcap = 16;
    while (hcap < want * 2)
        hcap <<= 1;
    struct lw__ident **h = calloc(hcap, sizeof(*h));
    if (!h)
        return LW_ENOMEM;
    for (size_t i = 0; i < tr->nids; i++) {
        size_t j = hash_slot(tr->ids[i]->key, hcap);
        while (h[j])
            j = (j + 1) & (hcap - 1);
        h[j] = tr->ids[i];
    }
    free(tr->hash);
    tr->hash = h;
    tr->hcap = hcap;
    return LW_OK;
}

static struct lw__ident *track_find(const struct lw__track *tr, uint64_t key)
{
    if (!tr->hcap)
        return NULL;
    size_t j = hash_slot(key, tr->hcap);
    while (tr->hash[j]) {
        if (tr->hash[j]->key == key)
            return tr->hash[j];
        j = (j + 1) & (tr->hcap - 1);
    }
    return NULL;
}

/* Current level of an identity, for eviction: the open sample or, if it is
 * absent there, the most recent committed/pending level. */
static double ident_level(const struct lw__track *tr, const struct lw__ident *id)
{
    double lv = id->cur;
    if (tr->pend_n)
        lv = fmax(lv, id->pend_sum / (double)tr->pend_n);
    if (tr->nslots)
        lv = fmax(lv, id->v[tr->nslots - 1]);
    return lv;
}

/* Eviction key: current level plus the growth since the identity's oldest
 * non-zero slot, so a small stack that grows outranks a flat one of the
 * same size (docs/analysis.md, "Memory bounds"). */
static double ident_keep_score(const struct lw__track *tr, const struct lw__ident *id)
{
    double lv = ident_level(tr, id);
    for (size_t k = 0; k < tr->nslots; k++)
        if (id->v[k] > 0)
            return lv + fmax(0.0, lv - id->v[k]);
    return lv;
}

struct evict_ent {
    double level;
    size_t idx;
};

static int evict_cmp(const void *a, const void *b)
{
    const struct evict_ent *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

/* Make room for a newcomer worth `val`: drop up to a quarter of the
 * identities not touched by profile gen, lowest keep score (level + growth)
 * first, but only those scoring below the newcomer's level (else the
 * newcomer is the smallest: no room). */
static int track_evict(struct lw__track *tr, unsigned gen, double val)
{
    struct evict_ent *e = malloc(tr->nids * sizeof(*e));
    if (!e)
        return LW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < tr->nids; i++) {
        double lv = tr->ids[i]->gen != gen ? ident_keep_score(tr, tr->ids[i]) : INFINITY;
        if (lv < val)
            e[n++] = (struct evict_ent){lv, i};
    }
    size_t drop = LW_MAX(tr->nids / 4, (size_t)1);
    if (drop > n)
        drop = n;
    qsort(e, n, sizeof(*e), evict_cmp);
    /* Every identity left untouched in this profile is now at least this
     * large: smaller newcomers of the same profile need no new scan. */
    tr->evict_gen = gen;
    tr->evict_floor = drop < n ? e[drop].level : val;
    for (size_t i = 0; i < drop; i++) {
        free(tr->ids[e[i].idx]);
        tr->ids[e[i].idx] = NULL;
    }
    free(e);
    size_t w = 0;
    for (size_t i = 0; i < tr->nids; i++)
        if (tr->ids[i]) {
            if (w != i && tr->scap) /* rows follow their identities */
                memcpy(tr->vm + (w + 1) * tr->scap, tr->vm + (i + 1) * tr->scap,
                       tr->scap * sizeof(float));
            tr->ids[w++] = tr->ids[i];
        }
    tr->nids = w;
    track_repoint(tr);
    if (drop && hash_rebuild(tr, tr->max_ids) != LW_OK) {
        /* the old index points at freed identities: drop it; the next
         * creation rebuilds one (or fails again, cleanly) */
        free(tr->hash);
        tr->hash = NULL;
        tr->hcap = 0;
        return LW_ENOMEM;
    }
    return LW_OK;
}

/* Find or create; *out = NULL (and LW_OK) when the table is full of
 * identities seen in this very profile or at least as large as val. */
static int track_get(struct lw__track *tr, uint64_t key, unsigned gen, double val,
                     struct lw__ident **out)
{
    *out = track_find(tr, key);
    if (*out)
        return LW_OK;
    if (tr->nids >= tr->max_ids) {
        if (tr->evict_gen == gen && val <= tr->evict_floor)
            return LW_OK;
        int rc = track_evict(tr, gen, val);
        if (rc)
            return rc;
        if (tr->nids >= tr->max_ids)
            return LW_OK;
    }
    if (tr->nids == tr->idcap) {
        size_t nc = tr->idcap ? tr->idcap * 2 : 64;
        if (nc > tr->max_ids)
            nc = tr->max_ids;
        struct lw__ident **n = realloc(tr->ids, nc * sizeof(*n));
        if (!n)
            return LW_ENOMEM;
        tr->ids = n;
        tr->idcap = nc;
    }
    if (!tr->hcap || (tr->nids + 1) * 2 > tr->hcap) {
        int rc = hash_rebuild(tr, LW_MAX(tr->nids + 1, LW_MIN(tr->max_ids, tr->nids * 2 + 32)));
        if (rc)
            return rc;
    }
    if (track_rows(tr, tr->nids + 2))
        return LW_ENOMEM;
    struct lw__ident *id = malloc(sizeof(*id));
    if (!id)
        return LW_ENOMEM;
    ident_init(id, key);
    tr->ids[tr->nids++] = id;
    if (tr->scap) {
        id->v = tr->vm + tr->nids * tr->scap;
        memset(id->v, 0, tr->scap * sizeof(float));
    }
    size_t j = hash_slot(key, tr->hcap);
    while (tr->hash[j])
        j = (j + 1) & (tr->hcap - 1);
    tr->hash[j] = id;
    *out = id;
    return LW_OK;
}

static int slot_commit(struct lw__track *tr)
{
    int rc = track_reserve(tr, tr->nslots + 1);
    if (rc)
        return rc; /* the samples stay pending: the next close retries */
    double w = tr->peak ? 1.0 : (double)tr->pend_n; /* peak: pend_sum holds the max */
    tr->t[tr->nslots] = tr->pend_tsum / w;
    tr->total.v[tr->nslots] = (float)(tr->total.pend_sum / w);
    tr->total.pend_sum = 0;
    for (size_t i = 0; i < tr->nids; i++) {
        struct lw__ident *id = tr->ids[i];
        id->v[tr->nslots] = (float)(id->pend_sum / w);
        id->pend_sum = 0;
    }
    tr->nslots++;
    tr->pend_n = 0;
    tr->pend_tsum = 0;
    if (tr->nslots < tr->max_slots)
        return LW_OK;
    /* full: merge neighbours, every slot now stands for twice the samples */
    size_t h = tr->max_slots / 2;
    for (size_t k = 0; k < h; k++)
        tr->t[k] = (tr->t[2 * k] + tr->t[2 * k + 1]) / 2;
    for (size_t i = 0; i <= tr->nids; i++) {
        struct lw__ident *id = i < tr->nids ? tr->ids[i] : &tr->total;
        for (size_t k = 0; k < h; k++)
            id->v[k] = tr->peak ? fmaxf(id->v[2 * k], id->v[2 * k + 1])
                                : (id->v[2 * k] + id->v[2 * k + 1]) / 2;
        memset(id->v + h, 0, (tr->scap - h) * sizeof(float));
    }
    tr->nslots = h;
    tr->width *= 2;
    return LW_OK;
}

/* Close the open raw sample. Fails (ENOMEM) only to grow the slots; the
 * sample is closed anyway and stays pending. */
static int sample_close(struct lw__track *tr)
{
    if (!tr->open)
        return LW_OK;
    for (size_t i = 0; i <= tr->nids; i++) {
        struct lw__ident *id = i < tr->nids ? tr->ids[i] : &tr->total;
        if (tr->nraw == 0)
            id->first = id->cur;
        if (tr->peak)
            id->pend_sum = tr->pend_n ? fmax(id->pend_sum, id->cur) : id->cur;
        else
            id->pend_sum += id->cur;
        id->cur = 0;
    }
    tr->pend_tsum += tr->cur_t;
    tr->pend_n++;
    tr->nraw++;
    tr->open = false;
    if (tr->pend_n >= tr->width)
        return slot_commit(tr);
    return LW_OK;
}

/* Open the raw sample for time t (a time at or before the open one merges).
 * The new sample is open even when closing the previous one reports ENOMEM. */
static int sample_at(struct lw__track *tr, double t)
{
    if (tr->open && t <= tr->cur_t)
        return LW_OK;
    int rc = sample_close(tr);
    if (tr->nraw == 0)
        tr->first_t = t;
    tr->open = true;
    tr->cur_t = t;
    return rc;
}

/* Forget all samples; identities absent from the open sample at or after
 * keep_from are dropped, the open sample itself is kept if it is that late. */
static void track_restart(struct lw__track *tr, double keep_from)
{
    bool keep = tr->open && tr->cur_t >= keep_from;
    size_t w = 0;
    for (size_t i = 0; i < tr->nids; i++) {
        struct lw__ident *id = tr->ids[i];
        if (keep && id->cur > 0) {
            id->pend_sum = 0;
            id->first = 0;
            id->seen_t = tr->cur_t;
            id->alloc_first = id->alloc_cur; /* the open sample is the new process's */
            id->alloc_set = id->alloc_cur > 0;
            if (id->detail_t < tr->cur_t) { /* details of the old process */
                id->detail_t = 0;
                id->ext.state = NULL;
                id->ext.max_wait_minutes = id->ext.min_wait_minutes = -1;
                id->d2_seq = id->prev_seq = 0; /* goroutine ids start over */
            }
            tr->ids[w++] = id;
        } else {
            free(id);
        }
    }
    tr->nids = w;
    if (tr->scap) /* every value is forgotten: total and kept rows restart at 0 */
        memset(tr->vm, 0, (w + 1) * tr->scap * sizeof(float));
    track_repoint(tr);
    if (hash_rebuild(tr, LW_MAX(tr->nids, (size_t)16)) != LW_OK) {
        /* no memory for a new index: forget the identities too rather than
         * keep an index that points at freed ones */
        for (size_t i = 0; i < tr->nids; i++)
            free(tr->ids[i]);
        tr->nids = 0;
        free(tr->hash);
        tr->hash = NULL;
        tr->hcap = 0;
    }
    tr->total.pend_sum = 0;
    tr->total.first = 0;
    if (!keep) {
        tr->total.cur = 0;
        tr->open = false;
    }
    tr->nslots = 0;
    tr->width = 1;
    tr->pend_n = 0;
    tr->pend_tsum = 0;
    tr->nraw = 0;
    tr->first_t = keep ? tr->cur_t : 0;
}

size_t lw__track_npoints(const struct lw__track *tr)
{
    return tr->nslots + (tr->pend_n || tr->open ? 1 : 0);
}

size_t lw__track_view(const struct lw__track *tr, const struct lw__ident *id, double rel0, double *t,
                      double *y)
{
    size_t n = tr->nslots;
    for (size_t k = 0; k < n; k++) {
        if (t)
            t[k] = tr->t[k] - rel0;
        if (y)
            y[k] = id->v[k];
    }
    if (tr->pend_n || tr->open) {
        double m = (double)tr->pend_n + (tr->open ? 1 : 0);
        if (t)
            t[n] = (tr->pend_tsum + (tr->open ? tr->cur_t : 0)) / m - rel0;
        if (y)
            y[n] = (id->pend_sum + (tr->open ? id->cur : 0)) / m;
        n++;
    }
    return n;
}

double lw__ident_first(const struct lw__track *tr, const struct lw__ident *id)
{
    return tr->nraw == 0 ? id->cur : id->first;
}

/* ---- strings --------------------------------------------------------------- */

static const char *intern(struct lw_series *s, const char *str)
{
    if (!str)
        return NULL;
    return lw_strtab_intern(&s->strtab, str, strlen(str));
}

/* Length of a prefix of str of at most max bytes, not cutting a UTF-8
 * sequence. */
static size_t utf8_prefix(const char *str, size_t len, size_t max)
{
    if (len <= max)
        return len;
    while (max > 0 && ((unsigned char)str[max] & 0xC0) == 0x80)
        max--;
    return max;
}

/* intern the first max bytes (at most) of str */
static const char *intern_cap(struct lw_series *s, const char *str, size_t max)
{
    if (!str)
        return NULL;
    size_t n = strlen(str);
    return lw_strtab_intern(&s->strtab, str, utf8_prefix(str, n, max));
}

/* Intern every string of id but its frames into nt; with update, also point
 * id at the new copies. A first pass without update allocates everything,
 * so the second pass only finds existing strings and cannot fail half-way. */
static int reintern_ident(struct lw_strtab *nt, struct lw__ident *id, bool update)
{
    const char **refs[4];
    size_t n = 0;
    refs[n++] = &id->ext.created_by;
    refs[n++] = &id->ext.created_by_file;
    refs[n++] = &id->ext.state;
    refs[n++] = &id->user_frame;
    for (size_t i = 0; i < n; i++) {
        if (!*refs[i])
            continue;
        const char *q = lw_strtab_intern(nt, *refs[i], strlen(*refs[i]));
        if (!q)
            return LW_ENOMEM;
        if (update)
            *refs[i] = q;
    }
    return LW_OK;
}

/* A copy of id's frames in nt's arena, strings interned in nt; NULL on
 * ENOMEM (or when the identity has no frames). */
static struct lw_frame *recopy_frames(struct lw_strtab *nt, const struct lw__ident *id)
{
    if (!id->st.nframes)
        return NULL;
    struct lw_frame *fr = lw_arena_alloc(nt->arena, id->st.nframes * sizeof(*fr));
    if (!fr)
        return NULL;
    for (uint32_t i = 0; i < id->st.nframes; i++) {
        const struct lw_frame *f = lw_stack_frame(&id->st, i);
        fr[i].func = lw_strtab_intern(nt, f->func, strlen(f->func));
        fr[i].file = f->file ? lw_strtab_intern(nt, f->file, strlen(f->file)) : NULL;
        fr[i].line = f->line;
        if (!fr[i].func || (f->file && !fr[i].file))
            return NULL;
    }
    return fr;
}

/* Copy the frames and strings still referenced into a fresh arena and
 * table (bounded memory when identities churn or are re-detailed for a long
 * time). On failure nothing changes. */
static int strings_compact(struct lw_series *s)
{
    struct lw__track *trs[] = {&s->gor, &s->heap};
    size_t nall = s->gor.nids + s->heap.nids;
    struct lw_frame **nf = calloc(nall ? nall : 1, sizeof(*nf));
    struct lw_arena *na = malloc(sizeof(*na));
    if (!nf || !na) {
        free(nf);
        free(na);
        return LW_ENOMEM;
    }
    struct lw_strtab nt;
    lw_arena_init(na, 0);
    lw_strtab_init(&nt, na);
    for (int pass = 0; pass < 2; pass++) {
        size_t j = 0;
        for (size_t k = 0; k < LW_ARRAY_SIZE(trs); k++)
            for (size_t i = 0; i < trs[k]->nids; i++, j++) {
                struct lw__ident *id = trs[k]->ids[i];
                if (pass == 0)
                    nf[j] = recopy_frames(&nt, id);
                if ((pass == 0 && id->st.nframes && !nf[j]) || reintern_ident(&nt, id, pass == 1)) {
                    lw_strtab_release(&nt);
                    lw_arena_release(na);
                    free(na);
                    free(nf);
                    return LW_ENOMEM;
                }
                if (pass == 1)
                    id->st.ftab = nf[j];
            }
    }
    free(nf);
    lw_strtab_release(&s->strtab);
    lw_arena_release(&s->arena);
    s->arena = *na; /* the arena struct only holds the block list: safe to move */
    free(na);
    s->strtab = nt;
    s->strtab.arena = &s->arena;
    return LW_OK;
}

/* ---- series ------------------------------------------------------------------ */

struct lw_series *lw_series_new(const struct lw_analysis_params *params)
{
    struct lw_series *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (params)
        s->params = *params;
    else
        lw_analysis_params_default(&s->params);
    size_t maxid = s->params.max_identities ? s->params.max_identities : 4096;
    /* slots: a power of two in LW__SLOT_MIN..LW__SLOT_CAP (0: the default) */
    size_t ms = LW__SLOT_MIN;
    while (ms < LW__SLOT_CAP && ms * 2 <= s->params.max_slots)
        ms *= 2;
    if (!s->params.max_slots)
        ms = LW__SLOT_CAP;
    s->params.max_slots = ms;
    lw_arena_init(&s->arena, 0);
    lw_strtab_init(&s->strtab, &s->arena);
    track_init(&s->gor, maxid, ms, true);
    track_init(&s->heap, maxid, ms, true);
    track_init(&s->mstat, 1, ms, false);
    track_init(&s->usage, 1, ms, false);
    s->mstat.peak = s->usage.peak = true;
    s->heap_pregc_t = -1;
    return s;
}

void lw_series_free(struct lw_series *s)
{
    if (!s)
        return;
    track_free(&s->gor);
    track_free(&s->heap);
    track_free(&s->mstat);
    track_free(&s->usage);
    free(s->touched);
    lw_strtab_release(&s->strtab);
    lw_arena_release(&s->arena);
    free(s);
}

static int format_rank(enum lw_prof_format f)
{
    switch (f) {
    case LW_FMT_DEBUG2: return 3; /* runtime frames, file:line, creator, state */
    case LW_FMT_PROTO: return 2;  /* runtime frames, file:line */
    case LW_FMT_DEBUG1:
    case LW_FMT_HEAP1: return 1;  /* leading runtime frames hidden (debug=1) */
    default: return 0;
    }
}

/* The representative frames: at most LW__REP_FRAMES, in the series' arena
 * (the old array, if any, is left for the next compaction). With
 * params.max_stack_bytes, frames are kept while their strings fit in it
 * (the leaf's strings are cut to fit): a hard bound per identity. */
static int set_frames(struct lw_series *s, struct lw__ident *id, const struct lw_stack *st, int rank)
{
    uint32_t n = LW_MIN(st->nframes, (uint32_t)LW__REP_FRAMES);
    struct lw_frame *fr = lw_arena_alloc(&s->arena, n * sizeof(*fr));
    if (!fr)
        return LW_ENOMEM;
    size_t budget = s->params.max_stack_bytes ? s->params.max_stack_bytes : SIZE_MAX;
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct lw_frame *sf = lw_stack_frame(st, i);
        const char *func = sf->func ? sf->func : "?";
        const char *file = sf->file;
        size_t fl = strlen(func), ll = file ? strlen(file) : 0;
        if (i > 0 && fl + ll > budget)
            break;
        fl = utf8_prefix(func, fl, budget);
        ll = utf8_prefix(file ? file : "", ll, budget - fl);
        fr[i].func = lw_strtab_intern(&s->strtab, func, fl);
        fr[i].file = file && (ll || !*file) ? lw_strtab_intern(&s->strtab, file, ll) : NULL;
        fr[i].line = sf->line;
        if (!fr[i].func || (file && (ll || !*file) && !fr[i].file))
            return LW_ENOMEM;
        if (budget != SIZE_MAX)
            budget -= fl + ll;
        kept++;
    }
    /* the new frames are complete: switch (the identity stays consistent on failure above) */
    id->st.ftab = fr;
    id->st.fidx = NULL;
    n = kept;
    id->st.nframes = n;
    id->st.flags = (uint16_t)(st->flags | (n < st->nframes ? LW_STACK_TRUNCATED : 0));
    id->rank = rank;
    id->user_frame = NULL;
    const struct lw_frame *uf = lw_stack_user_frame(st);
    if (uf) {
        char buf[1024];
        if (uf->file)
            snprintf(buf, sizeof(buf), "%s %s:%d", uf->func, uf->file, uf->line);
        else
            snprintf(buf, sizeof(buf), "%s", uf->func);
        id->user_frame = intern(s, buf);
        if (!id->user_frame)
            return LW_ENOMEM;
    }
    return LW_OK;
}

static int set_details(struct lw_series *s, struct lw__ident *id, const struct lw_stack *st)
{
    size_t cap = s->params.max_stack_bytes ? LW__DETAIL_MAX : SIZE_MAX;
    const char *state = lw_stack_state(st), *cb = lw_stack_created_by(st);
    id->ext.state = intern_cap(s, state, cap);
    id->ext.created_by = intern_cap(s, cb, cap);
    id->ext.created_by_file = intern_cap(s, lw_stack_created_by_file(st), cap);
    id->ext.created_by_line = lw_stack_created_by_line(st);
    if ((state && !id->ext.state) || (cb && !id->ext.created_by))
        return LW_ENOMEM;
    return LW_OK;
}

static int touch(struct lw_series *s, struct lw__ident *id)
{
    if (id->gen == s->gen)
        return LW_OK;
    if (s->ntouched == s->touchcap) {
        size_t nc = s->touchcap ? s->touchcap * 2 : 16;
        struct lw__ident **n = realloc(s->touched, nc * sizeof(*n));
        if (!n)
            return LW_ENOMEM;
        s->touched = n;
        s->touchcap = nc;
    }
    s->touched[s->ntouched++] = id;
    id->gen = s->gen;
    id->tmp = 0;
    id->alloc_tmp = 0;
    return LW_OK;
}

/* Feed the stacks of p into track tr; value(stack) is the count or bytes. */
static int feed_stacks(struct lw_series *s, struct lw__track *tr, const struct lw_profile *p, bool heap)
{
    int rank = format_rank(p->format);
    s->gen++;
    s->ntouched = 0;
    if (!heap && p->format == LW_FMT_DEBUG2) {
        s->d2_seq++;
        s->d2_t = tr->cur_t;
        s->d2_cut_ok = s->d2_goid_max > 0 && p->goid_cut == s->d2_goid_max;
        s->d2_goid_max = p->max_goid > 0 ? p->max_goid : 0;
    }
    double sum = 0;
    int rc = LW_OK;
    for (size_t i = 0; i < p->nstacks && rc == LW_OK; i++) {
        const struct lw_stack *st = &p->stacks[i];
        double val = heap ? (double)lw_stack_inuse_bytes(st) : (double)st->count;
        if (!(val > 0)) {
            /* e.g. heap sites with allocations but nothing in use: no new
             * identity, but what they allocated counts for a known site */
            double al = heap ? (double)lw_stack_alloc_bytes(st) : 0.0;
            struct lw__ident *known = al > 0 ? track_find(tr, lw_stack_identity(st)) : NULL;
            if (known) {
                if ((rc = touch(s, known)) != LW_OK)
                    break;
                known->alloc_tmp += al;
            }
            continue;
        }
        sum += val;
        struct lw__ident *id;
        rc = track_get(tr, lw_stack_identity(st), s->gen, val, &id);
        if (rc || !id)
            continue;
        rc = touch(s, id);
        if (rc)
            break;
        id->tmp += val;
        if (heap && lw_stack_alloc_bytes(st) > 0)
            id->alloc_tmp += (double)lw_stack_alloc_bytes(st);
        if (id->seen_t == 0)
            id->seen_t = tr->cur_t;
        if (id->rank < rank && st->nframes) {
            rc = set_frames(s, id, st, rank);
            /* heap sites only: the analysis asks it of the heap track alone */
            if (heap)
                id->bounded = lw_causes_match_bounded(st, NULL) == 1;
            else
                id->pooled = lw_causes_match_pooled(st, NULL) == 1;
        }
        if (rc == LW_OK && p->format == LW_FMT_DEBUG2) {
            int64_t g0 = lw_stack_min_goid(st), g1 = lw_stack_max_goid(st);
            if (id->detail_gen != s->gen) {
                /* first stack of this identity in this dump */
                id->prev_seq = id->d2_seq;
                id->prev_goid_max = id->goid_max;
                id->prev_d2_count = id->d2_count;
                id->d2_seq = s->d2_seq;
                id->goid_min = g0;
                id->goid_max = g1;
                id->d2_count = st->count;
                id->old = s->d2_cut_ok ? lw_stack_old_goroutines(st) : -1;
                id->detail_gen = s->gen;
                id->detail_t = tr->cur_t;
                id->detail_best = st->count;
                id->ext.max_wait_minutes = lw_stack_max_wait(st);
                id->ext.min_wait_minutes = lw_stack_min_wait(st);
                rc = set_details(s, id, st);
            } else {
                if (g0 >= 0 && (id->goid_min < 0 || g0 < id->goid_min))
                    id->goid_min = g0;
                id->goid_max = LW_MAX(id->goid_max, g1);
                id->d2_count += st->count;
                int64_t old = lw_stack_old_goroutines(st);
                id->old = id->old < 0 || old < 0 ? -1 : id->old + old;
                id->ext.max_wait_minutes = LW_MAX(id->ext.max_wait_minutes, lw_stack_max_wait(st));
                int64_t mn = lw_stack_min_wait(st);
                if (mn >= 0 && (id->ext.min_wait_minutes < 0 || mn < id->ext.min_wait_minutes))
                    id->ext.min_wait_minutes = mn;
                if (st->count > id->detail_best) {
                    id->detail_best = st->count;
                    rc = set_details(s, id, st);
                }
            }
        }
        if (st->flags & LW_STACK_LEAKED)
            id->leaked = true;
    }
    for (size_t i = 0; i < s->ntouched; i++) {
        struct lw__ident *id = s->touched[i];
        id->cur = fmax(id->cur, id->tmp);
        if (heap && id->alloc_tmp > 0) {
            /* cumulative within a process: the max of the sample's profiles */
            id->alloc_cur = fmax(id->alloc_cur, id->alloc_tmp);
            if (!id->alloc_set && id->cur > 0) {
                id->alloc_first = id->alloc_cur;
                id->alloc_set = true;
            }
        }
    }
    double total = p->total > 0 ? (double)p->total : sum;
    tr->total.cur = fmax(tr->total.cur, total);
    return rc;
}

/* True for a heap profile without in-use data (before the first GC). */
static bool heap_pre_gc(const struct lw_profile *p)
{
    if (p->memstats.present && p->memstats.num_gc == 0 && p->memstats.total_alloc > 0)
        return true;
    for (size_t i = 0; i < p->nstacks; i++)
        if (lw_stack_inuse_bytes(&p->stacks[i]) > 0)
            return false;
    return true;
}

int lw_series_add_profile(struct lw_series *s, double t, const struct lw_profile *p)
{
    if (!s || !p || !isfinite(t))
        return LW_EINVAL;
    int rc = LW_OK, rc0 = LW_OK;
    switch (p->kind) {
    case LW_KIND_GOROUTINE:
        rc0 = sample_at(&s->gor, t);
        rc = feed_stacks(s, &s->gor, p, false);
        break;
    case LW_KIND_GOROUTINELEAK:
        /* The runtime's leak oracle: mark, but do not count (it is a subset
         * of the goroutines a goroutine profile of the same moment counts). */
        for (size_t i = 0; i < p->nstacks; i++) {
            struct lw__ident *id = track_find(&s->gor, lw_stack_identity(&p->stacks[i]));
            if (id)
                id->leaked = true;
        }
        break;
    case LW_KIND_HEAP:
        if (p->memstats.present && p->memstats.total_alloc > 0) {
            /* TotalAlloc only grows within one process: a drop is a restart. */
            if (s->last_total_alloc > 0 && p->memstats.total_alloc < s->last_total_alloc)
                lw_series_restart(s, t);
            s->last_total_alloc = p->memstats.total_alloc;
        }
        if (p->memstats.present && p->memstats.num_gc > 0) {
            if (s->gc_n0 == 0 || p->memstats.num_gc < s->gc_n1) {
                s->gc_t0 = s->gc_t1 = t;
                s->gc_n0 = s->gc_n1 = p->memstats.num_gc;
            } else if (t > s->gc_t1) {
                s->gc_t1 = t;
                s->gc_n1 = p->memstats.num_gc;
            }
        }
        /* A heap profile taken before the first GC cycle has no in-use
         * data (the runtime publishes in-use figures at the end of a
         * cycle): MemStats NumGC == 0, or every site at 0 in-use bytes. It
         * would read as "0 B" and make every site look like it grew from
         * nothing, so it does not enter the heap track (its MemStats still
         * feed the memory series). docs/analysis.md, "Heap sites". */
        if (p->memstats.present && p->memstats.num_gc == 0)
            s->heap_pregc_t = fmax(s->heap_pregc_t, t);
        if (!heap_pre_gc(p)) {
            rc0 = sample_at(&s->heap, t);
            rc = feed_stacks(s, &s->heap, p, true);
        }
        if (p->memstats.present && p->memstats.sys > 0) {
            double b = (double)(p->memstats.sys - p->memstats.heap_released);
            if (!rc0)
                rc0 = sample_at(&s->mstat, t);
            else
                sample_at(&s->mstat, t);
            s->mstat.total.cur = fmax(s->mstat.total.cur, b);
        }
        break;
    default:
        return LW_EINVAL;
    }
    /* compact when the arena doubled since the last compaction (and is
     * past LW__ARENA_MIN): amortised O(1) per string, and at most about
     * twice the frames and strings the identities still reference */
    if (rc == LW_OK && s->arena.used > LW_MAX(LW__ARENA_MIN, 2 * s->arena_live)) {
        rc = strings_compact(s);
        s->arena_live = s->arena.used;
        s->ncompact++;
    }
    return rc ? rc : rc0;
}

int lw_series_add_usage(struct lw_series *s, double t, double bytes)
{
    if (!s || !isfinite(t) || !isfinite(bytes) || bytes < 0)
        return LW_EINVAL;
    int rc = sample_at(&s->usage, t);
    s->usage.total.cur = fmax(s->usage.total.cur, bytes);
    return rc;
}

void lw_series_restart(struct lw_series *s, double t)
{
    if (!s)
        return;
    track_restart(&s->gor, t);
    track_restart(&s->heap, t);
    track_restart(&s->mstat, t);
    track_restart(&s->usage, t);
    s->last_total_alloc = 0;
    s->heap_pregc_t = -1;
    s->gc_t0 = s->gc_t1 = 0;
    s->gc_n0 = s->gc_n1 = 0;
    s->d2_goid_max = 0; /* goroutine ids start over */
    s->d2_cut_ok = false;
    s->restarts++;
}

int64_t lw_series_goid_cut(const struct lw_series *s)
{
    return s ? s->d2_goid_max : 0;
}

size_t lw_series_samples(const struct lw_series *s)
{
    return s ? s->gor.nraw + (s->gor.open ? 1 : 0) : 0;
}

double lw_series_first(const struct lw_series *s)
{
    return lw_series_samples(s) ? s->gor.first_t : 0;
}

double lw_series_span(const struct lw_series *s)
{
    if (!lw_series_samples(s))
        return 0;
    return s->gor.cur_t - s->gor.first_t;
}
