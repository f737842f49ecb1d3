/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analysis.c: the judgement on a series (docs/analysis.md has the method).
 *
 * For each track (goroutines per stack, heap in-use bytes per site):
 *   1. screen every identity in O(slots): the median of its most recent
 *      part must exceed the median of its first part by enough;
 *   2. fit the few survivors (at most LW__MAX_FITS) with Theil-Sen and
 *      Mann-Kendall over the whole series, Mann-Kendall over the recent
 *      part, and the current rate from its last two thirds;
 *   3. a leak is a trend that is significant over the whole series, still
 *      significant and not fading in the recent part, large in absolute and
 *      relative terms, and large against the noise around it.
 * Then known-cause hints, the OOM forecast on the memory series, the link
 * between goroutine and memory growth, and a one-line summary.
 *
 * Cost per call: O(identities * slots) for screening plus
 * O(LW__MAX_FITS * slots^2) for the fits, independent of how many samples
 * the series has seen (slots are bounded by LW__SLOT_CAP).
 */
#include "analysis/analysis_int.h"
#include "causes/causes.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LW__MAX_FITS 24      /* full trend fits per track and call */
#define LW__TOP_FRAMES 16    /* frames reported per top stack */
#define LW__NOISE_K 3.0      /* net growth must exceed this many residual sigmas */
#define LW__RECENT_MIN 4     /* points in the recent window (MK needs 4 to reach z 1.645) */
#define LW__RECENT_RATIO 0.25 /* current rate at least this share of the overall slope */
#define LW__PLATEAU_RATIO 0.5 /* current rate below this share of the earlier slope = plateau */
#define LW__HEAP_MATERIAL 0.01 /* a heap site must have grown by this share of the limit */
#define LW__HEAP_RETAINED 0.02 /* a heap site must still hold this share of what it allocated */
#define LW__HELD_MATERIAL 0.05 /* heap sites fitted for the held share: rise >= this share of the total's */
#define LW__FORCEGC_S 120.0  /* the runtime's forced GC period (forcegcperiod): a parked
                              * goroutine's wait is stamped by the next GC, at most this late */

/* ---- one candidate ------------------------------------------------------- */

struct cand {
    struct lw__ident *id;
    double rise;            /* screening: recent median - start median */
    struct lw_trend all, rec;
    double growth_h;        /* slope per hour */
    double net;             /* slope * span */
    double start_level;
    bool leak;
    double rec_rate;        /* current rate (current_rate) */
    double w0, w1;          /* the judged window's first and last point (absolute times) */
    int matched;            /* a known cause matched */
    struct lw_cause cause;
};

struct judge_ctx {
    const struct lw_analysis_params *p;
    double min_growth_h, min_abs;
    double *t, *y, *w;      /* scratch, LW_STATS_MAX_POINTS each */
    double skip_until;      /* drop view points at or before this absolute time (pre-GC heap) */
    bool repeats;           /* heap sites: significance from changes only (judge_window) */
    double *rt, *ry;        /* scratch for that, LW_STATS_MAX_POINTS each */
};

/* Drop the leading view points (t relative to rel0) at or before
 * c->skip_until: heap samples without in-use data. Returns the new count. */
static size_t skip_leading(const struct judge_ctx *c, double rel0, size_t n)
{
    size_t k = 0;
    while (k < n && c->t[k] + rel0 <= c->skip_until)
        k++;
    if (k == 0)
        return n;
    memmove(c->t, c->t + k, (n - k) * sizeof(double));
    memmove(c->y, c->y + k, (n - k) * sizeof(double));
    return n - k;
}

static size_t recent_len(const struct lw_analysis_params *p, size_t n)
{
    double f = p->recent_fraction > 0 && p->recent_fraction <= 1 ? p->recent_fraction : 1.0 / 3.0;
    size_t m = (size_t)ceil((double)n * f);
    if (m < LW__RECENT_MIN)
        m = LW__RECENT_MIN;
    return m > n ? n : m;
}

/* Cheap screen: the recent part's median must be above the start's. */
static double screen_rise(const struct judge_ctx *c, size_t n, double *start)
{
    size_t m = recent_len(c->p, n);
    memcpy(c->w, c->y, m * sizeof(double));
    double a = lw_median(c->w, m);
    memcpy(c->w, c->y + (n - m), m * sizeof(double));
    double b = lw_median(c->w, m);
    *start = a;
    return b - a;
}

/* The current rate of a window (t, y, n): from the medians of its middle
 * and last thirds (a two-group, Wald-Bartlett slope). A leak under a steady
 * load keeps its rate, so this is about the window's Theil-Sen slope; a
 * plateau, a finished burst or a fill-up that levelled off give ~0 even
 * when the noise of the flat part looks like a trend to Mann-Kendall. Unlike
 * Theil-Sen over a short stretch it does not go to 0 on a staircase: heap
 * in-use bytes change only when a GC completes, and GCs get rarer as the
 * heap grows, so a heap leak is flat steps. */
static double current_rate(const struct judge_ctx *c, const double *t, const double *y, size_t n)
{
    size_t g = n / 3 ? n / 3 : 1;
    const double *tm = t + (n - 2 * g), *ym = y + (n - 2 * g);
    const double *tl = t + (n - g), *yl = y + (n - g);
    memcpy(c->w, ym, g * sizeof(double));
    double y0 = lw_median(c->w, g);
    memcpy(c->w, tm, g * sizeof(double));
    double t0 = lw_median(c->w, g);
    memcpy(c->w, yl, g * sizeof(double));
    double y1 = lw_median(c->w, g);
    memcpy(c->w, tl, g * sizeof(double));
    double t1 = lw_median(c->w, g);
    return t1 > t0 ? (y1 - y0) / (t1 - t0) : 0;
}

/* A heap site's in-use bytes are read from the profile as of the last
 * completed GC, and they move only when sampled objects of the site are
 * allocated or freed; between two such changes every profile repeats the
 * same observation. So the Mann-Kendall significance of a heap site (the
 * whole window's and the recent part's) is computed on the series reduced
 * to its changes: the first point of every run of equal readings
 * (docs/analysis.md §4.1). The slopes, the rates, the plateau and the noise
 * tests keep the whole series, where a long run is what shows a site has
 * stopped growing. */
static bool same_reading(double a, double b)
{
    /* the proto and debug=1 forms of one reading can differ by a rounding
     * of the unsampling; one sampled object moves a site by far more */
    return fabs(a - b) <= 1e-6 * fmax(fabs(a), fabs(b)) + 1.0;
}

static int significance_of_changes(const struct judge_ctx *c, const double *t, const double *y,
                                   size_t n, struct cand *k)
{
    size_t r = 0;
    for (size_t i = 0; i < n; i++)
        if (r == 0 || !same_reading(y[i], c->ry[r - 1])) {
            c->rt[r] = t[i];
            c->ry[r] = y[i];
            r++;
        }
    if (r == n)
        return LW_OK;
    struct lw_trend all, rec;
    int rc = lw_trend_fit(c->rt, c->ry, r, &all);
    if (rc)
        return rc;
    size_t m = recent_len(c->p, r);
    rc = lw_trend_fit(c->rt + (r - m), c->ry + (r - m), m, &rec);
    if (rc)
        return rc;
    k->all.mk_z = all.mk_z;
    k->rec.mk_z = rec.mk_z;
    return LW_OK;
}

/* A leak never gives back what it took: the count of a leaking stack
 * falls only by the goroutines of it that were not leaked. A stack that,
 * since its highest count, has fallen by more than its noise (LW__NOISE_K
 * local sigmas) and significantly so (Mann-Kendall over the peak and the
 * LW__RECENT_MIN or more points after it, z at or below -z_recent) is not
 * leaking now, whatever its history: a load that rose and is going down
 * (docs/analysis.md §2, test 5). */
static int falling(const struct judge_ctx *c, const double *t, const double *y, size_t n,
                   bool *out)
{
    *out = false;
    if (n < 2)
        return LW_OK;
    size_t top = 0;
    for (size_t i = 1; i < n; i++)
        if (y[i] >= y[top])
            top = i;
    if (n - top - 1 < LW__RECENT_MIN)
        return LW_OK;
    /* the local noise: the bend of a rise that turned is not noise */
    if (y[top] - y[n - 1] < LW__NOISE_K * lw_diff_sigma(t, y, n, 0.0, c->w))
        return LW_OK;
    struct lw_trend tail;
    int rc = lw_trend_fit(t + top, y + top, n - top, &tail);
    if (rc)
        return rc;
    *out = tail.mk_z <= -c->p->z_recent;
    return LW_OK;
}

/* Test one window (t, y, n) of an identity's series. */
static int judge_window(const struct judge_ctx *c, const double *t, const double *y, size_t n,
                        struct cand *k)
{
    const struct lw_analysis_params *p = c->p;
    int rc = lw_trend_fit(t, y, n, &k->all);
    if (rc)
        return rc;
    size_t m = recent_len(p, n);
    rc = lw_trend_fit(t + (n - m), y + (n - m), m, &k->rec);
    if (rc)
        return rc;
    if (c->repeats) {
        rc = significance_of_changes(c, t, y, n, k);
        if (rc)
            return rc;
    }
    double span = t[n - 1] - t[0];
    k->w0 = t[0];
    k->w1 = t[n - 1];
    k->growth_h = k->all.slope * 3600.0;
    k->net = k->all.slope * span;
    /* level at the window's first point: intercept is at t = 0 */
    k->start_level = fmax(0.0, k->all.intercept + k->all.slope * t[0]);
    bool trend = k->all.mk_z >= p->z_trend && k->all.slope_lo > 0;
    k->rec_rate = current_rate(c, t, y, n);
    bool recent = k->rec.mk_z >= p->z_recent && k->rec_rate > 0 &&
                  k->rec_rate >= LW__RECENT_RATIO * k->all.slope;
    /* Plateau, the forecast's rule applied per stack/site: the current rate
     * must be at least LW__PLATEAU_RATIO of the slope before the recent
     * part (not of the whole slope, which itself shrinks as a plateau
     * lengthens). A cache or pool that filled and stopped fails it. */
    if (recent && n - m >= LW__RECENT_MIN) {
        struct lw_trend early;
        rc = lw_trend_fit(t, y, n - m, &early);
        if (rc)
            return rc;
        if (early.slope > 0 && k->rec_rate < LW__PLATEAU_RATIO * early.slope)
            recent = false;
    }
    bool big = k->growth_h >= c->min_growth_h && k->net >= c->min_abs &&
               k->net >= p->min_rel_growth * fmax(k->start_level, 1.0);
    bool clear = k->net >= LW__NOISE_K * k->all.resid_mad;
    k->leak = trend && recent && big && clear;
    if (k->leak && !c->repeats) {
        bool down;
        rc = falling(c, t, y, n, &down);
        if (rc)
            return rc;
        k->leak = !down;
    }
    return LW_OK;
}

/* The whole series first; if it does not show a leak, its most recent half
 * and quarter (a leak that started late in a long history), as long as the
 * window still spans min_span_s and holds enough points. */
static int judge(const struct judge_ctx *c, size_t n, struct cand *k)
{
    static const double frac[] = {1.0, 0.5, 0.25};
    const struct lw_analysis_params *p = c->p;
    size_t min_pts = LW_MAX(p->min_samples, (size_t)(2 * LW__RECENT_MIN));
    struct cand first = *k;
    for (size_t w = 0; w < LW_ARRAY_SIZE(frac); w++) {
        size_t m = (size_t)ceil((double)n * frac[w]);
        if (m > n)
            m = n;
        if (w > 0 && (m < min_pts || c->t[n - 1] - c->t[n - m] < p->min_span_s))
            break;
        struct cand trial = *k;
        int rc = judge_window(c, c->t + (n - m), c->y + (n - m), m, &trial);
        if (rc)
            return rc;
        if (w == 0)
            first = trial;
        if (trial.leak) {
            *k = trial;
            return LW_OK;
        }
    }
    *k = first;
    return LW_OK;
}

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    double kx = x->leak ? x->growth_h : x->rise, ky = y->leak ? y->growth_h : y->rise;
    if (x->leak != y->leak)
        return x->leak ? -1 : 1;
    return kx > ky ? -1 : (kx < ky);
}

/* Judge every identity of a track; *out gets the leaks, sorted by growth. */
static int judge_track(const struct lw__track *tr, const struct judge_ctx *c, struct cand **out,
                       size_t *nout)
{
    *out = NULL;
    *nout = 0;
    size_t npts = lw__track_npoints(tr);
    if (npts < 3 || tr->nids == 0)
        return LW_OK;
    struct cand *cs = calloc(tr->nids, sizeof(*cs));
    if (!cs)
        return LW_ENOMEM;
    size_t nc = 0;
    double rel0 = tr->nslots ? tr->t[0] : tr->cur_t;
    for (size_t i = 0; i < tr->nids; i++) {
        size_t n = skip_leading(c, rel0, lw__track_view(tr, tr->ids[i], rel0, c->t, c->y));
        if (n < 3)
            continue;
        double start;
        double rise = screen_rise(c, n, &start);
        if (rise > 0 && rise >= 0.5 * c->min_abs &&
            rise >= 0.5 * c->p->min_rel_growth * fmax(start, 1.0))
            cs[nc++] = (struct cand){.id = tr->ids[i], .rise = rise};
    }
    qsort(cs, nc, sizeof(*cs), cand_cmp);
    if (nc > LW__MAX_FITS)
        nc = LW__MAX_FITS;
    size_t nleak = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t n = skip_leading(c, rel0, lw__track_view(tr, cs[i].id, rel0, c->t, c->y));
        int rc = judge(c, n, &cs[i]);
        if (rc) {
            free(cs);
            return rc;
        }
        cs[i].w0 += rel0;
        cs[i].w1 += rel0;
        nleak += cs[i].leak;
    }
    qsort(cs, nc, sizeof(*cs), cand_cmp);
    if (nleak == 0) {
        free(cs);
        return LW_OK;
    }
    *out = cs;
    *nout = nleak;
    return LW_OK;
}

/* Leaks come sorted by growth. Growth rates whose Sen bands overlap cannot
 * be told apart; among those, a stack with a more specific known cause goes
 * first (e.g. the client readLoops before the server conns of the same
 * connections in one process). Insertion sort: n <= LW__MAX_FITS. */
static bool goes_before(const struct cand *a, const struct cand *b)
{
    bool overlap = a->all.slope_lo <= b->all.slope_hi && b->all.slope_lo <= a->all.slope_hi;
    double ca = a->matched ? a->cause.confidence : 0, cb = b->matched ? b->cause.confidence : 0;
    if (overlap && ca != cb)
        return ca > cb;
    return a->growth_h > b->growth_h;
}

static void rank_ties(struct cand *c, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct cand x = c[i];
        size_t j = i;
        while (j > 0 && goes_before(&x, &c[j - 1])) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = x;
    }
}

/* ---- verdict building ------------------------------------------------------ */

static const char *vdup(struct lw_verdict *v, const char *s)
{
    return s ? lw_arena_strndup(&v->arena, s, strlen(s)) : NULL;
}

/* The name a person would use for a stack: the goroutine's start function
 * (its root frame) unless the stack was cut, then the user frame or leaf. */
static const char *stack_name(const struct lw_stack *st, bool heap)
{
    if (!st->nframes)
        return "?";
    const struct lw_frame *uf = lw_stack_user_frame(st);
    if (heap)
        return uf ? uf->func : lw_stack_frame(st, lw_stack_leaf_index(st))->func;
    if (!(st->flags & (LW_STACK_ELIDED | LW_STACK_TRUNCATED))) {
        /* the root, above runtime.goexit / runtime.main; but a standard
         * library root with user code above it (an HTTP handler under
         * net/http.(*conn).serve) is better named by that code */
        uint32_t i = st->nframes - 1, leaf = lw_stack_leaf_index(st);
        while (i > leaf && lw_func_is_runtime(lw_stack_frame(st, i)->func))
            i--;
        if (lw_func_is_std(lw_stack_frame(st, i)->func) && uf)
            return uf->func;
        return lw_stack_frame(st, i)->func;
    }
    return uf ? uf->func : lw_stack_frame(st, lw_stack_leaf_index(st))->func;
}

static int fill_top(struct lw_verdict *v, struct lw_top_stack *ts, const struct lw__track *tr,
                    const struct cand *k, bool heap, const struct lw_cause *cause)
{
    const struct lw_stack *st = &k->id->st;
    ts->kind = heap ? "heap" : "goroutine";
    uint32_t leaf = st->nframes ? lw_stack_leaf_index(st) : 0;
    size_t nf = st->nframes > leaf ? LW_MIN((size_t)(st->nframes - leaf), (size_t)LW__TOP_FRAMES) : 0;
    ts->frames = nf ? lw_arena_alloc(&v->arena, nf * sizeof(char *)) : NULL;
    if (nf && !ts->frames)
        return LW_ENOMEM;
    for (size_t i = 0; i < nf; i++)
        if (!(ts->frames[i] = vdup(v, lw_stack_frame(st, leaf + i)->func)))
            return LW_ENOMEM;
    ts->nframes = nf;
    ts->leaf = nf ? ts->frames[0] : NULL;
    ts->user_frame = vdup(v, k->id->user_frame);
    ts->created_by = vdup(v, lw_stack_created_by(st));
    ts->state = vdup(v, lw_stack_state(st));
    ts->max_wait_minutes = lw_stack_max_wait(st);
    ts->count = (int64_t)llround(k->id->cur);
    ts->first_count = (int64_t)llround(lw__ident_first(tr, k->id));
    ts->growth = k->growth_h;
    if (cause) {
        ts->hint = vdup(v, cause->hint);
        ts->cause_id = vdup(v, cause->id);
        ts->hint_confidence = cause->confidence;
    }
    return LW_OK;
}

/* ---- formatting -------------------------------------------------------------- */

static const char *fmt_span(double s, char *out, size_t n)
{
    if (!(s > 0))
        s = 0;
    long long sec = (long long)llround(s);
    if (sec < 90)
        snprintf(out, n, "%llds", sec);
    else if (sec < 3600)
        snprintf(out, n, "%lldm", (sec + 30) / 60);
    else if (sec < 86400) {
        long long m = (sec + 30) / 60;
        if (m % 60)
            snprintf(out, n, "%lldh%lldm", m / 60, m % 60);
        else
            snprintf(out, n, "%lldh", m / 60);
    } else {
        long long h = (sec + 1800) / 3600;
        if (h % 24)
            snprintf(out, n, "%lldd%lldh", h / 24, h % 24);
        else
            snprintf(out, n, "%lldd", h / 24);
    }
    return out;
}

static const char *fmt_signed(double x, char *out, size_t n)
{
    long long r = llround(x);
    if (n < 2)
        return out;
    out[0] = r < 0 ? '-' : '+';
    lw_fmt_thousands(r < 0 ? -r : r, out + 1, n - 1);
    return out;
}

static void summary_add(struct lw_verdict *v, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void summary_add(struct lw_verdict *v, size_t *len, const char *fmt, ...)
{
    if (*len >= sizeof(v->summary) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(v->summary + *len, sizeof(v->summary) - *len, fmt, ap);
    va_end(ap);
    if (w > 0)
        *len = LW_MIN(*len + (size_t)w, sizeof(v->summary) - 1);
}

static void phrase_memory(struct lw_verdict *v, size_t *len)
{
    char b1[32], b2[32];
    if (v->memory.source == LW_MEM_NONE)
        return;
    lw_fmt_bytes(v->memory.current_bytes, b1, sizeof(b1));
    summary_add(v, len, "; memory %s (%s)", b1, lw_mem_source_name(v->memory.source));
    switch (v->oom.trend) {
    case LW_FC_GROWING:
        if (v->memory.growth_bytes_per_hour > 0) {
            lw_fmt_bytes(v->memory.growth_bytes_per_hour, b2, sizeof(b2));
            summary_add(v, len, " growing +%s/h", b2);
        }
        break;
    case LW_FC_PLATEAU: summary_add(v, len, " levelled off"); break;
    case LW_FC_FLAT: summary_add(v, len, " flat"); break;
    default: break;
    }
    if (v->oom.predicted) {
        char sp[32];
        summary_add(v, len, ", OOM in ~%s (confidence %.2f)",
                    fmt_span(v->oom.seconds_to_oom, sp, sizeof(sp)), v->oom.confidence);
    }
    /* a warning that waits for even odds (§4.4, §4.5): why, and the clock */
    if (v->bounded_wait)
        summary_add(v, len, "; an LRU cache is filling (%s): bounded by design, so no OOM warning "
                    "until the growth has lasted as long as the time left",
                    v->bounded_site ? v->bounded_site : "?");
    else if (v->unexplained_wait)
        summary_add(v, len, "; no goroutine stack or heap site explains the growth, so no OOM warning "
                    "until it has lasted as long as the time left");
    else if (v->load_wait) {
        char c1[32], b3[32];
        summary_add(v, len, "; it follows the load: the heap grew at %s, held by %s goroutines of %s "
                    "in use (%s each), which end and give it back, so no OOM warning",
                    v->held.site, lw_fmt_thousands(v->held.goroutines, c1, sizeof(c1)), v->held.holders,
                    lw_fmt_bytes(v->held.bytes_per_goroutine, b3, sizeof(b3)));
    }
    if (v->bounded_wait || v->unexplained_wait) {
        char sp[32], sp2[32];
        summary_add(v, len, " (%s so far; the limit in ~%s if it %s)",
                    fmt_span(v->oom.span_s, sp, sizeof(sp)),
                    fmt_span(v->oom.seconds_to_oom, sp2, sizeof(sp2)),
                    v->bounded_wait ? "does not level off" : "goes on");
    }
}

static void write_summary(struct lw_verdict *v, const struct lw_series *s, double gspan,
                          const struct cand *gl, size_t ngl, const struct cand *hl, size_t nhl)
{
    size_t len = 0;
    char a[32], b[32], r[32], sp[32];
    const struct lw_analysis_params *p = &s->params;
    if (v->verdict == LW_VERDICT_INSUFFICIENT) {
        char need[32];
        summary_add(v, &len, "insufficient data: %zu goroutine samples over %s (need at least %zu spanning %s)",
                    lw_series_samples(s), fmt_span(gspan, sp, sizeof(sp)), p->min_samples,
                    fmt_span(p->min_span_s, need, sizeof(need)));
        if (lw_verdict_waits(v)) /* say why a climbing memory is not warned */
            phrase_memory(v, &len);
        return;
    }
    if (v->goroutines.present) {
        summary_add(v, &len, "%sgoroutines %s -> %s in %s",
                    v->verdict == LW_VERDICT_LEAK ? "" : "no leak: ",
                    lw_fmt_thousands(v->goroutines.first, a, sizeof(a)),
                    lw_fmt_thousands(v->goroutines.last, b, sizeof(b)), fmt_span(gspan, sp, sizeof(sp)));
        if (ngl)
            summary_add(v, &len, " (%s/h)", fmt_signed(v->goroutines.growth_per_hour, r, sizeof(r)));
    } else {
        summary_add(v, &len, "%s", v->verdict == LW_VERDICT_LEAK ? "memory leak" : "no leak");
    }
    const struct lw_top_stack *top = v->ntop ? &v->top[0] : NULL;
    if (ngl && top) {
        summary_add(v, &len, "; top: %s", stack_name(&gl[0].id->st, false));
        if (top->created_by)
            summary_add(v, &len, " created by %s", top->created_by);
        summary_add(v, &len, " (%s)", fmt_signed((double)(top->count - top->first_count), r, sizeof(r)));
        if (top->hint)
            summary_add(v, &len, "; %s", top->hint);
        if (ngl > 1)
            summary_add(v, &len, "; %zu more growing stack%s", ngl - 1, ngl > 2 ? "s" : "");
    }
    if (nhl) {
        const struct lw_top_stack *ht = NULL;
        for (size_t i = 0; i < v->ntop; i++)
            if (strcmp(v->top[i].kind, "heap") == 0) {
                ht = &v->top[i];
                break;
            }
        if (ht) {
            lw_fmt_bytes(fabs(ht->growth), r, sizeof(r));
            summary_add(v, &len, "; heap at %s +%s/h (%s -> %s)", stack_name(&hl[0].id->st, true), r,
                        lw_fmt_bytes((double)ht->first_count, a, sizeof(a)),
                        lw_fmt_bytes((double)ht->count, b, sizeof(b)));
            if (ht->hint && !(top && top->hint && ngl && strcmp(top->cause_id, ht->cause_id) == 0))
                summary_add(v, &len, "; %s", ht->hint);
        }
    }
    if (v->verdict != LW_VERDICT_LEAK) {
        if (!v->in_use.stack && !v->held.site)
            summary_add(v, &len, ", no stack grows steadily");
    } else if (!ngl && !nhl)
        summary_add(v, &len, "; no single stack stands out");
    if (v->in_use.stack) {
        char c1[32];
        summary_add(v, &len, "; %s grew to %s but is in use", v->in_use.stack,
                    lw_fmt_thousands(v->in_use.count, c1, sizeof(c1)));
        size_t n = lw_verdict_in_use(v);
        if (n > 1)
            summary_add(v, &len, " (as %zu more growing stack%s)", n - 1, n > 2 ? "s are" : " is");
        if (v->in_use.why == LW_IN_USE_RENEWED)
            summary_add(v, &len, ": most of its goroutines ended within the last debug=2 interval, "
                        "so it follows the load");
        else if (v->in_use.why == LW_IN_USE_MOVED)
            summary_add(v, &len, ": the goroutines %s keeps did not grow with it, so they moved "
                        "between its stacks (a fixed pool's busy share)", v->in_use.creator);
        else
            summary_add(v, &len, ": none of its goroutines parked %lld+ min as leaked ones would "
                        "(longest %lld), so a pool following the load",
                        (long long)v->in_use.leak_wait_minutes, (long long)v->in_use.max_wait_minutes);
    }
    if (v->held.site && !v->load_wait) {
        char c1[32], b1[32];
        summary_add(v, &len, "; heap at %s grew with %s goroutines of %s in use (%s each)", v->held.site,
                    lw_fmt_thousands(v->held.goroutines, c1, sizeof(c1)), v->held.holders,
                    lw_fmt_bytes(v->held.bytes_per_goroutine, b1, sizeof(b1)));
    }
    phrase_memory(v, &len);
}

/* The value at time x of a series (t, y, n) sorted by time: linear between
 * samples, the nearest one within eps outside them; false when x is more
 * than eps outside [t[0], t[n - 1]]. *j is a cursor for increasing x
 * (start at 0). */
static bool value_at(const double *t, const double *y, size_t n, double x, double eps, size_t *j,
                     double *out)
{
    if (n == 0 || x < t[0] - eps || x > t[n - 1] + eps)
        return false;
    while (*j + 1 < n && t[*j + 1] < x)
        (*j)++;
    size_t i = *j;
    *out = y[i];
    if (i + 1 < n && t[i + 1] > t[i] && x > t[i])
        *out += (y[i + 1] - y[i]) * (x - t[i]) / (t[i + 1] - t[i]);
    return true;
}

/* Memory growth per goroutine and the share of memory growth it explains
 * (docs/analysis.md): Theil-Sen slope of memory against the goroutine total
 * at the memory sample times (interpolated), when goroutines do grow. */
static int link_memory(struct lw_verdict *v, const struct lw_series *s, const struct lw__track *mt,
                       double leak_growth_h, const struct judge_ctx *c)
{
    const struct lw__track *gt = &s->gor;
    size_t ng = lw__track_npoints(gt), nm = lw__track_npoints(mt);
    if (ng < 3 || nm < 3 || !(leak_growth_h > 0) || !(v->memory.growth_bytes_per_hour > 0))
        return LW_OK;
    double *gx = c->w; /* goroutine view: times in c->t, totals in gx */
    lw__track_view(gt, &gt->total, 0, c->t, gx);
    double *mtm = malloc(2 * nm * sizeof(double));
    if (!mtm)
        return LW_ENOMEM;
    double *mb = mtm + nm;
    lw__track_view(mt, &mt->total, 0, mtm, mb);
    size_t k = 0, j = 0;
    for (size_t i = 0; i < nm; i++) {
        double g;
        if (!value_at(c->t, gx, ng, mtm[i], 0.0, &j, &g))
            continue;
        c->y[k] = mb[i];
        mtm[k] = g; /* reuse: x = goroutines (k <= i, so not yet read entries survive) */
        k++;
    }
    int rc = LW_OK;
    if (k >= 3) {
        struct lw_trend tr;
        rc = lw_trend_fit(mtm, c->y, k, &tr);
        if (rc == LW_OK && tr.slope > 0 && tr.mk_z >= s->params.z_recent) {
            v->bytes_per_goroutine = tr.slope;
            double share = tr.slope * leak_growth_h / v->memory.growth_bytes_per_hour;
            v->share_explained = share < 0 ? 0 : share > 1 ? 1 : share;
        }
    }
    free(mtm);
    return rc;
}

/* Does a track hold min_samples samples (the open one included) over at
 * least `span` seconds? The verdict's gate for every track. */
static bool has_history(const struct lw__track *tr, const struct lw_analysis_params *p, double span)
{
    size_t n = tr->nraw + (tr->open ? 1 : 0);
    return n >= p->min_samples && tr->cur_t - tr->first_t >= span;
}

/* Does the heap hold anything at a site inside a structure bounded by design? */
static bool holds_bounded(const struct lw__track *ht)
{
    for (size_t i = 0; i < ht->nids; i++)
        if (ht->ids[i]->bounded && ht->ids[i]->cur > 0)
            return true;
    return false;
}

/* Bounded structures (docs/analysis.md, "Bounded structures"): among the heap
 * sites inside a structure bounded by design (an LRU cache, id->bounded), the
 * one whose in-use bytes rose the most since its first sample with in-use
 * data (a cache that filled or is filling during this series); NULL if none
 * rose. */
static const struct lw__ident *bounded_filling(const struct lw__track *ht, const struct judge_ctx *c)
{
    const struct lw__ident *best = NULL;
    double best_rise = 0;
    double rel0 = ht->nslots ? ht->t[0] : ht->cur_t;
    for (size_t i = 0; i < ht->nids; i++) {
        const struct lw__ident *id = ht->ids[i];
        if (!id->bounded)
            continue;
        size_t n = skip_leading(c, rel0, lw__track_view(ht, id, rel0, c->t, c->y));
        if (n < 2)
            continue;
        double rise = c->y[n - 1] - c->y[0];
        if (rise > best_rise) {
            best_rise = rise;
            best = id;
        }
    }
    return best;
}

/* Share of what a heap site allocated since its first sample that it still
 * holds (in-use bytes now / allocated bytes since), or -1 when unknown (no
 * allocation counts, or nothing allocated since). By Little's law the
 * in-use bytes are the allocation rate times the bytes' mean residence
 * time, so this is that residence time over the site's age: a site whose
 * bytes are freed within seconds (requests in flight, batches, buffers)
 * keeps a tiny share however its level moves with the load, while a leak
 * keeps what it leaks (docs/analysis.md §4.1). */
static double heap_retained(const struct lw__ident *id)
{
    if (!id->alloc_set || !(id->alloc_cur > id->alloc_first))
        return -1.0;
    return id->cur / (id->alloc_cur - id->alloc_first);
}

/* The heap sites that leak (docs/analysis.md §4.1: the tests of §2 with the
 * heap's thresholds, after the pre-GC profile), still hold at least
 * LW__HEAP_RETAINED of what they allocated (not bytes in flight), and are
 * material: against a limit, a site whose net growth so far is below
 * LW__HEAP_MATERIAL of the limit cannot be told from allocator and cache
 * churn at container scale and cannot be what kills the container soon; it
 * is not reported as a leak. */
static int judge_heap(const struct lw_series *s, const struct lw_analysis_params *p,
                      const struct judge_ctx *c, double limit, struct cand **out, size_t *nout)
{
    struct judge_ctx hc = *c;
    hc.min_growth_h = p->heap_min_growth_per_hour;
    hc.min_abs = p->heap_min_abs_growth;
    hc.skip_until = s->heap_pregc_t;
    hc.repeats = true;
    int rc = judge_track(&s->heap, &hc, out, nout);
    if (rc == LW_OK) {
        size_t keep = 0;
        for (size_t i = 0; i < *nout; i++) {
            double r = heap_retained((*out)[i].id);
            if (r >= 0.0 && r < LW__HEAP_RETAINED)
                continue;
            if (limit > 0 && (*out)[i].net < LW__HEAP_MATERIAL * limit)
                continue;
            (*out)[keep++] = (*out)[i];
        }
        *nout = keep;
    }
    return rc;
}

/* Goroutines in use, not leaked (docs/analysis.md §2.1). A leaked goroutine
 * is a new goroutine that never runs again: it stays in its stack, parked,
 * for as long as it has leaked. The debug=2 dumps show three things a leak
 * cannot have (enum lw_in_use_why):
 *
 * Renewed: every goroutine the stack holds in the latest dump is newer than
 * the dump before (its smallest goroutine id is above the largest the stack
 * held then, or it held none). None outlived one dump interval, so its
 * count is a creation rate times a lifetime shorter than that interval
 * (Little's law): requests in flight, following the load.
 *
 * Moved: the goroutines whose details name the same creator, summed over
 * their stacks, grew by at most half as much over the window: the stack
 * grew by taking goroutines from its siblings (a fixed pool's busy share).
 *
 * Busy connections: the goroutines of an HTTP connection kept for reuse
 * (id->pooled) grow with the concurrency in a healthy process. If the
 * growth were leaked connections, those it added in the first half of its
 * window would by the latest dump have been parked for at least (dump time
 * - window middle - stamping delay): the runtime stamps a parked goroutine
 * at the next GC and prints its wait in whole minutes while it stays parked
 * (a wake-up clears it); the delay is twice the mean GC interval seen in
 * MemStats, or the forced GC period when unknown. When no goroutine of the
 * stack shows that many minutes, the connections are in use.
 *
 * Renewed and busy need a dump in the later half of the judged window (the
 * controller takes one every few minutes; an older one says little of the
 * growth since). */

/* Net growth over the candidate's window (Theil-Sen slope x span) of all the
 * goroutines whose debug=2 details name the same creator as the candidate's
 * (the candidate included): *net, or LW_ENOTFOUND when unknown or when no
 * other stack has that creator (the sum is then the candidate itself). */
static int creator_growth(const struct lw__track *tr, const struct cand *k, double *net)
{
    const char *cb = k->id->ext.created_by;
    size_t n = lw__track_npoints(tr), siblings = 0;
    if (!cb || n < 3)
        return LW_ENOTFOUND;
    for (size_t i = 0; i < tr->nids; i++)
        siblings += tr->ids[i] != k->id && tr->ids[i]->ext.created_by &&
                    strcmp(tr->ids[i]->ext.created_by, cb) == 0;
    if (!siblings)
        return LW_ENOTFOUND;
    double *t = malloc(3 * n * sizeof(double));
    if (!t)
        return LW_ENOMEM;
    double *g = t + n, *y = t + 2 * n;
    memset(g, 0, n * sizeof(double));
    double rel0 = tr->nslots ? tr->t[0] : tr->cur_t;
    for (size_t i = 0; i < tr->nids; i++) {
        const struct lw__ident *o = tr->ids[i];
        if (!o->ext.created_by || strcmp(o->ext.created_by, cb) != 0)
            continue;
        lw__track_view(tr, o, rel0, t, y);
        for (size_t j = 0; j < n; j++)
            g[j] += y[j];
    }
    size_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (t[j] + rel0 >= k->w0 - 1e-6 && t[j] + rel0 <= k->w1 + 1e-6) {
            t[m] = t[j];
            g[m++] = g[j];
        }
    int rc = LW_ENOTFOUND;
    struct lw_trend fit;
    if (m >= 3 && (rc = lw_trend_fit(t, g, m, &fit)) == LW_OK)
        *net = fit.slope * (t[m - 1] - t[0]);
    free(t);
    return rc;
}

/* Most of the goroutines a stack (or stacks) held at the dump before the
 * latest had ended by the latest: at most half of `before` kept. A leak
 * never gives a goroutine back (docs/analysis.md §2.1). */
static bool most_ended(int64_t kept, int64_t before)
{
    return before > 0 && 2 * kept <= before;
}

/* 1 and *why when candidate k is in use (*would: with LW_IN_USE_BUSY, the
 * minutes a leak would show), 0 when not, LW_ENOMEM. */
static int in_use(const struct lw_series *s, const struct cand *k, enum lw_in_use_why *why,
                  int64_t *would)
{
    const struct lw__ident *id = k->id;
    double mid = 0.5 * (k->w0 + k->w1);
    if (s->d2_seq >= 2 && id->d2_seq == s->d2_seq && s->d2_t >= mid && id->goid_min >= 0) {
        bool held_before = id->prev_seq == s->d2_seq - 1;
        bool none_left = !held_before || (id->prev_goid_max >= 0 && id->goid_min > id->prev_goid_max);
        if (none_left || (held_before && id->old >= 0 && most_ended(id->old, id->prev_d2_count))) {
            *why = LW_IN_USE_RENEWED;
            return 1;
        }
    }
    double gnet = 0;
    int rc = creator_growth(&s->gor, k, &gnet);
    if (rc == LW_ENOMEM)
        return rc;
    if (rc == LW_OK && k->net > 0 && gnet <= 0.5 * k->net) {
        *why = LW_IN_USE_MOVED;
        return 1;
    }
    if (!id->pooled || id->detail_t < mid || id->ext.max_wait_minutes < 0)
        return 0;
    double delay = LW__FORCEGC_S;
    if (s->gc_n1 > s->gc_n0 && s->gc_t1 > s->gc_t0)
        delay = fmin(delay, 2.0 * (s->gc_t1 - s->gc_t0) / (double)(s->gc_n1 - s->gc_n0));
    double parked = id->detail_t - mid - delay;
    *would = (int64_t)floor(parked / 60.0);
    *why = LW_IN_USE_BUSY;
    return *would >= 1 && id->ext.max_wait_minutes < *would;
}

/* Drop from the goroutine leaks (gl, *ngl, sorted) the stacks in use; the
 * first one dropped is described in v->in_use (v may be NULL). */
static int drop_in_use(const struct lw_series *s, struct cand *gl, size_t *ngl, struct lw_verdict *v)
{
    size_t keep = 0;
    for (size_t i = 0; i < *ngl; i++) {
        enum lw_in_use_why why = LW_IN_USE_BUSY;
        int64_t would = 0;
        int rc = in_use(s, &gl[i], &why, &would);
        if (rc < 0)
            return rc;
        if (!rc) {
            gl[keep++] = gl[i];
            continue;
        }
        if (!v)
            continue;
        v->in_use.n[why]++;
        if (v->in_use.stack)
            continue;
        const struct lw__ident *id = gl[i].id;
        v->in_use.stack = vdup(v, stack_name(&id->st, false));
        if (!v->in_use.stack)
            return LW_ENOMEM;
        v->in_use.why = why;
        if (why == LW_IN_USE_MOVED && !(v->in_use.creator = vdup(v, id->ext.created_by)))
            return LW_ENOMEM;
        v->in_use.count = (int64_t)llround(id->cur);
        v->in_use.growth_per_hour = gl[i].growth_h;
        v->in_use.max_wait_minutes = id->ext.max_wait_minutes;
        v->in_use.leak_wait_minutes = why == LW_IN_USE_BUSY ? would : -1;
    }
    *ngl = keep;
    return LW_OK;
}

/* Heap held by goroutines in use (docs/analysis.md §4.6). A goroutine that
 * is still running the function that allocated some bytes may be what keeps
 * them: a stream's buffers live as long as its handler. When such holders
 * are in use (not a goroutine leak: renewed, moved or busy, or not growing
 * like one), the site's bytes follow their number: at a steady number of
 * bytes per holder, the holders' growth explains the site's, and the bytes
 * go when they end. A leak under a rising load is told apart by the ratio:
 * what short-lived handlers put in a map that is never evicted piles up
 * (the integral of the load), while the handlers in flight only follow the
 * load, so the bytes per holder keep rising. */

static bool stack_has_func(const struct lw_stack *st, const char *func)
{
    for (uint32_t i = 0; i < st->nframes; i++) {
        const char *f = lw_stack_frame(st, i)->func;
        if (f && strcmp(f, func) == 0)
            return true;
    }
    return false;
}

struct held_by {
    const struct lw__ident *holder; /* the largest holding stack now */
    double holders;                 /* holding goroutines now (all their stacks) */
    double per_goroutine;           /* median bytes per holding goroutine */
    double share;                   /* share of the site's net growth explained */
};

/* 1 when heap candidate k is held by goroutines in use (*hb filled), 0 when
 * not, LW_ENOMEM. gl, ngl: the goroutine stacks that leak (a site held by
 * leaked goroutines is part of that leak and stays). */
static int held_by_in_use(const struct lw_series *s, const struct cand *k, const struct cand *gl,
                          size_t ngl, struct held_by *hb)
{
    const struct lw_analysis_params *p = &s->params;
    const struct lw_frame *uf = lw_stack_user_frame(&k->id->st);
    const struct lw__track *gt = &s->gor, *ht = &s->heap;
    size_t ng = lw__track_npoints(gt), nh = lw__track_npoints(ht);
    if (!uf || !uf->func || ng < 3 || nh < 3 || !(k->net > 0))
        return 0;
    double *buf = malloc((3 * ng + 4 * nh) * sizeof(double));
    if (!buf)
        return LW_ENOMEM;
    double *gtm = buf, *gsum = buf + ng, *gy = buf + 2 * ng;
    double *t = buf + 3 * ng, *b = t + nh, *h = b + nh, *r = h + nh;
    double rel0 = k->w0, now = 0;
    memset(gsum, 0, ng * sizeof(double));
    const struct lw__ident *top = NULL;
    int64_t kept = 0, before = 0; /* of the holders at the dump before the latest */
    int rc = 0;
    for (size_t i = 0; i < gt->nids; i++) {
        const struct lw__ident *id = gt->ids[i];
        if (!stack_has_func(&id->st, uf->func))
            continue;
        for (size_t j = 0; j < ngl; j++)
            if (gl[j].id == id)
                goto out; /* held by a leak: part of it */
        if (!top || id->cur > top->cur)
            top = id;
        if (id->d2_seq == s->d2_seq && id->prev_seq == s->d2_seq - 1) {
            if (id->old < 0)
                goto out; /* not parsed with the cut: unknown */
            kept += id->old;
            before += id->prev_d2_count;
        } else if (s->d2_seq >= 2 && id->d2_seq == s->d2_seq - 1) {
            before += id->d2_count; /* held then, none of them now */
        }
        lw__track_view(gt, id, rel0, gtm, gy);
        for (size_t j = 0; j < ng; j++)
            gsum[j] += gy[j];
        now += id->cur;
    }
    /* in use: most of the holders at the dump before the latest had ended
     * by the latest (the check of §2.1, over all their stacks); a worker
     * pool that keeps its goroutines holds nothing it will give back */
    if (!top || s->d2_seq < 2 || s->d2_t < k->w0 + 0.5 * (k->w1 - k->w0) || !most_ended(kept, before))
        goto out;
    /* The site over its judged window, at its changes only, against the
     * holders at the time the reading stands for. A heap profile repeats
     * the heap of a past GC until the next one, which can be minutes later
     * (up to the forced GC period) when little is allocated, and the
     * runtime publishes an allocation only at the second GC after it (its
     * profile cycles: an object allocated during cycle c is counted from
     * the end of cycle c + 1 on). So a new reading first seen at a sample
     * shows the heap as of about the GC before, which is when the previous
     * new reading was first seen: each change is paired with the holders
     * (linear between goroutine samples; none outside them) at the time of
     * the change before it. */
    size_t nv = lw__track_view(ht, k->id, rel0, t, b), m = 0, j = 0;
    double span = k->w1 - k->w0, prev_t = NAN, prev_b = NAN;
    for (size_t i = 0; i < nv; i++) {
        if (i > 0 && same_reading(b[i], prev_b))
            continue;
        double tp = prev_t, bi = b[i];
        prev_t = t[i];
        prev_b = b[i];
        if (isnan(tp) || t[i] < -1e-6 || t[i] > span + 1e-6)
            continue;
        double hv;
        if (!value_at(gtm, gsum, ng, tp, 1e-6, &j, &hv) || hv < 1.0)
            continue;
        t[m] = tp;
        b[m] = bi;
        h[m] = hv;
        r[m] = bi / hv;
        m++;
    }
    struct lw_trend fr, fh;
    if (m >= p->min_samples &&
        (rc = lw_trend_fit(t, r, m, &fr)) == LW_OK && (rc = lw_trend_fit(t, h, m, &fh)) == LW_OK) {
        /* The bytes per holder do not rise (the test of a trend, §2), and
         * at that level the holders' growth explains at least half of the
         * site's. Under a load that rises linearly from nothing, a leak
         * fills the site as the square of time and its holders in flight
         * only linearly: the share is then one half and the ratio rises
         * with time; from any load above nothing the share is below. The
         * pairing above is approximate (a reading is a GC old, the holders
         * a sample interval), so while the holders ramp up the ratio can
         * rise at first: the trend must be significant at the whole
         * series' level to keep the site on the ratio alone. */
        bool steady = !(fr.mk_z >= p->z_trend && fr.slope_lo > 0);
        memcpy(b, r, m * sizeof(double));
        double per = lw_median(b, m);
        double share = per * fh.slope * (t[m - 1] - t[0]) / k->net;
        if (steady && share >= 0.5) {
            hb->holder = top;
            hb->holders = now;
            hb->per_goroutine = per;
            hb->share = fmin(share, 1.0);
            rc = 1;
        }
    }
out:
    free(buf);
    return rc;
}

/* Record in v->held (when none is yet) the site of candidate k, held as hb
 * says. */
static int note_held(struct lw_verdict *v, const struct cand *k, const struct held_by *hb)
{
    if (v->held.n++)
        return LW_OK;
    v->held.site = vdup(v, stack_name(&k->id->st, true));
    v->held.holders = vdup(v, stack_name(&hb->holder->st, false));
    if (!v->held.site || !v->held.holders)
        return LW_ENOMEM;
    v->held.goroutines = (int64_t)llround(hb->holders);
    v->held.bytes_per_goroutine = hb->per_goroutine;
    v->held.share = hb->share;
    return LW_OK;
}

/* Drop from the heap leaks (hl, *nhl) the sites held by goroutines in use;
 * the first one dropped is described in v->held (v may be NULL). */
static int drop_held(const struct lw_series *s, const struct cand *gl, size_t ngl, struct cand *hl,
                     size_t *nhl, struct lw_verdict *v)
{
    size_t keep = 0;
    for (size_t i = 0; i < *nhl; i++) {
        struct held_by hb = {0};
        int rc = held_by_in_use(s, &hl[i], gl, ngl, &hb);
        if (rc < 0)
            return rc;
        if (!rc)
            hl[keep++] = hl[i];
        else if (v && (rc = note_held(v, &hl[i], &hb)))
            return rc;
    }
    *nhl = keep;
    return LW_OK;
}

/* The share of the heap's growth held by goroutines in use (§4.6), in
 * *share: over the heap track's history, the net growth (Theil-Sen slope x
 * span) of the sites held (held_by_in_use, whether or not they passed as
 * leaks) over the net growth of the heap total; 0 when the total did not
 * grow. Only sites whose screening rise is at least LW__HELD_MATERIAL of the
 * total's are fitted (at most 1 / LW__HELD_MATERIAL of them can be). The
 * largest held site is described in v->held if none is yet. */
static int held_share(const struct lw_series *s, const struct judge_ctx *c, const struct cand *gl,
                      size_t ngl, struct lw_verdict *v, double *share)
{
    *share = 0;
    const struct lw__track *ht = &s->heap;
    double rel0 = ht->nslots ? ht->t[0] : ht->cur_t;
    size_t n = skip_leading(c, rel0, lw__track_view(ht, &ht->total, rel0, c->t, c->y));
    if (n < 3)
        return LW_OK;
    struct lw_trend f;
    int rc = lw_trend_fit(c->t, c->y, n, &f);
    if (rc)
        return rc;
    double tnet = f.slope * (c->t[n - 1] - c->t[0]), held = 0;
    if (!(tnet > 0))
        return LW_OK;
    for (size_t i = 0; i < ht->nids; i++) {
        struct cand k = {.id = ht->ids[i]};
        n = skip_leading(c, rel0, lw__track_view(ht, k.id, rel0, c->t, c->y));
        double start;
        if (n < 3 || screen_rise(c, n, &start) < LW__HELD_MATERIAL * tnet)
            continue;
        if ((rc = lw_trend_fit(c->t, c->y, n, &f)))
            return rc;
        k.net = f.slope * (c->t[n - 1] - c->t[0]);
        k.w0 = c->t[0] + rel0;
        k.w1 = c->t[n - 1] + rel0;
        struct held_by hb = {0};
        rc = held_by_in_use(s, &k, gl, ngl, &hb);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            held += k.net;
            if (!v->held.site && (rc = note_held(v, &k, &hb)))
                return rc;
        }
    }
    *share = held / tnet;
    return LW_OK;
}

/* Memory counts as leaking when an OOM is predicted (with the forecast's
 * own minimum history, which may be shorter than ours: an early warning is
 * the point), or when, over at least min_span_s, the forecast sees
 * significant sustained growth (trend GROWING) by min_rel_growth of where
 * it started (the rule the stacks follow). A healthy process drifting 5% in
 * five minutes is not a leak yet. Memory alone (no goroutine stack or heap
 * site leaking: `alone`) against a limit is judged by the forecast only: a
 * Go process keeps the memory of its largest burst so far, so its working
 * set ratchets up while bursts grow and is "growing" without any leak;
 * whether that growth matters is whether it reaches the limit, which is the
 * forecast's question (docs/analysis.md §4). */
static bool memory_leaks(const struct lw_verdict *v, const struct lw_analysis_params *p,
                         bool mem_ok, bool alone)
{
    if (lw_verdict_waits(v)) /* not yet: §4.4, §4.5 */
        return false;
    if (v->oom.predicted) /* the forecast's own tests passed: warn now */
        return true;
    if (alone && v->memory.limit_bytes > 0)
        return false;
    if (!mem_ok || v->oom.trend != LW_FC_GROWING || !(v->oom.growth_bytes_per_hour > 0))
        return false;
    double grown = v->oom.growth_bytes_per_hour * v->oom.span_s / 3600.0;
    double start = v->oom.current_bytes - grown;
    return grown >= p->min_rel_growth * fmax(start, 1.0);
}

int lw_analyze(const struct lw_series *s, double now, double limit_bytes, struct lw_verdict **out)
{
    return lw__analyze(s, now, limit_bytes, false, out);
}

int lw__analyze(const struct lw_series *s, double now, double limit_bytes, bool warned,
                struct lw_verdict **out)
{
    if (!out)
        return LW_EINVAL;
    *out = NULL;
    if (!s)
        return LW_EINVAL;
    const struct lw_analysis_params *p = &s->params;
    struct lw_verdict *v = calloc(1, sizeof(*v));
    double *scratch = malloc(5 * LW_STATS_MAX_POINTS * sizeof(double));
    struct cand *gl = NULL, *hl = NULL;
    size_t ngl = 0, nhl = 0;
    int rc = LW_ENOMEM;
    if (!v || !scratch)
        goto fail;
    lw_arena_init(&v->arena, 0);
    struct judge_ctx c = {p, p->min_growth_per_hour, p->min_abs_growth, scratch,
                          scratch + LW_STATS_MAX_POINTS, scratch + 2 * LW_STATS_MAX_POINTS, -1, false,
                          scratch + 3 * LW_STATS_MAX_POINTS, scratch + 4 * LW_STATS_MAX_POINTS};

    /* time of the verdict: now, else the newest sample */
    double last_t = 0;
    const struct lw__track *all[] = {&s->gor, &s->heap, &s->mstat, &s->usage};
    for (size_t i = 0; i < LW_ARRAY_SIZE(all); i++)
        if (all[i]->open || all[i]->nraw)
            last_t = fmax(last_t, all[i]->cur_t);
    v->t = now > 0 ? now : last_t;

    /* goroutine totals */
    const struct lw__track *gt = &s->gor;
    size_t gsamples = gt->nraw + (gt->open ? 1 : 0);
    double gspan = gsamples ? gt->cur_t - gt->first_t : 0;
    if (gsamples) {
        v->goroutines.present = true;
        v->goroutines.first = (int64_t)llround(lw__ident_first(gt, &gt->total));
        v->goroutines.last = (int64_t)llround(gt->open ? gt->total.cur : 0);
        size_t n = lw__track_view(gt, &gt->total, gt->nslots ? gt->t[0] : gt->cur_t, c.t, c.y);
        struct lw_trend tr;
        if (n >= 3) {
            if ((rc = lw_trend_fit(c.t, c.y, n, &tr)))
                goto fail;
            v->goroutines.growth_per_hour = tr.slope * 3600.0;
        }
    }
    /* memory: container usage when known, else the runtime's own figure */
    const struct lw__track *mt = NULL;
    if (lw__track_npoints(&s->usage)) {
        mt = &s->usage;
        v->memory.source = LW_MEM_CONTAINER;
    } else if (lw__track_npoints(&s->mstat)) {
        mt = &s->mstat;
        v->memory.source = LW_MEM_RUNTIME;
    }
    v->memory.limit_bytes = limit_bytes > 0 ? limit_bytes : 0;
    if (mt) {
        size_t n = lw__track_npoints(mt);
        struct lw_mem_point *pts = malloc(n * sizeof(*pts));
        if (!pts) {
            rc = LW_ENOMEM;
            goto fail;
        }
        lw__track_view(mt, &mt->total, 0, c.t, c.y);
        for (size_t i = 0; i < n; i++)
            pts[i] = (struct lw_mem_point){c.t[i], c.y[i]};
        rc = lw_forecast_compute(pts, n, v->memory.limit_bytes, v->t, &p->forecast, &v->oom);
        /* Warm-up cross-check (docs/analysis.md, "Warm-up or leak"): the
         * memory series alone cannot tell a start-up/warm-up that levels off
         * from a leak whose rate dipped. A goroutine stack that grows
         * steadily over the same history is independent evidence that the
         * growth is not bounded (leaked goroutines never "fill up"), so the
         * warm-up model is dropped and the forecast redone. Goroutines are
         * judged here over the forecast's own minimum history. */
        if (rc == LW_OK && v->oom.warmup) {
            const char *why = NULL;
            if (has_history(gt, p, p->forecast.min_span_s)) {
                rc = judge_track(gt, &c, &gl, &ngl);
                if (rc == LW_OK)
                    rc = drop_in_use(s, gl, &ngl, NULL);
                if (rc == LW_OK && ngl)
                    why = "goroutines grow";
            }
            /* A heap site that leaks by every test of §4.1 over the same
             * history is the same evidence (a leaked map entry does not
             * "fill up" either), unless the heap holds a structure bounded
             * by design: what such a cache retains is allocated anywhere
             * (the values put into it), so no site is then evidence
             * (§4.4). */
            if (rc == LW_OK && !why && has_history(&s->heap, p, p->forecast.min_span_s) &&
                !holds_bounded(&s->heap)) {
                struct cand *h2 = NULL;
                size_t nh2 = 0;
                rc = judge_heap(s, p, &c, v->memory.limit_bytes, &h2, &nh2);
                if (rc == LW_OK)
                    rc = drop_held(s, gl, ngl, h2, &nh2, NULL);
                if (rc == LW_OK && nh2)
                    why = "a heap site grows";
                free(h2);
            }
            if (rc == LW_OK && why) {
                struct lw_forecast_params fp = p->forecast;
                struct lw_forecast f2;
                fp.no_warmup = true;
                rc = lw_forecast_compute(pts, n, v->memory.limit_bytes, v->t, &fp, &f2);
                if (rc == LW_OK && f2.state == LW_FC_GROWING) {
                    v->oom = f2;
                    size_t len = strlen(v->oom.reason);
                    if (len + 1 < sizeof(v->oom.reason))
                        snprintf(v->oom.reason + len, sizeof(v->oom.reason) - len,
                                 " (not a warm-up: %s)", why);
                }
            }
            free(gl);
            gl = NULL;
            ngl = 0;
        }
        free(pts);
        if (rc)
            goto fail;
        v->memory.current_bytes = v->oom.current_bytes;
        v->memory.growth_bytes_per_hour = v->oom.growth_bytes_per_hour;
    } else {
        v->oom.state = LW_FC_INSUFFICIENT;
        v->oom.limit_bytes = v->memory.limit_bytes;
        snprintf(v->oom.reason, sizeof(v->oom.reason), "no memory data (no usage, no heap debug=1 MemStats)");
    }

    /* Stacks are judged over at least min_span_s; when an OOM is already
     * predicted (the forecast has its own, shorter minimum), over what there
     * is, so that the warning names the stacks that grow. */
    /* One gate for every path: the same shorter minimum holds for as long as
     * an OOM warning stands (raised now, or raised earlier and still held by
     * the hysteresis: `warned`), so a standing warning never turns into
     * insufficient-data. */
    double span_need = v->oom.predicted || warned ? LW_MIN(p->min_span_s, p->forecast.min_span_s)
                                                  : p->min_span_s;
    bool gor_ok = has_history(gt, p, span_need);
    const struct lw__track *ht = &s->heap;
    bool heap_ok = has_history(ht, p, span_need);

    if (gor_ok && (rc = judge_track(gt, &c, &gl, &ngl)))
        goto fail;
    if ((rc = drop_in_use(s, gl, &ngl, v)))
        goto fail;
    if (heap_ok && (rc = judge_heap(s, p, &c, v->memory.limit_bytes, &hl, &nhl)))
        goto fail;
    /* heap sites held by goroutines in use (§4.6) */
    if ((rc = drop_held(s, gl, ngl, hl, &nhl, v)))
        goto fail;

    /* Heap corroboration (docs/analysis.md, "Heap sites"): a site's in-use
     * bytes are part of the container's memory. When no goroutine stack
     * leaks and the memory series shows positive evidence of having levelled
     * off (forecast trend PLATEAU: significant growth earlier, none over the
     * recent window), a still-creeping site is being absorbed by heap slack
     * (freed space reused, GC goal) and cannot drive an OOM now: no heap-only
     * verdict. A FLAT memory series (no significant trend either way) does
     * not veto: site data are more sensitive than the total. */
    if (nhl && !ngl && mt && v->oom.trend == LW_FC_PLATEAU)
        nhl = 0;

    /* Bounded structures (docs/analysis.md, "Bounded structures"). While an
     * LRU cache fills, nothing in the memory series or the profiles tells
     * the fill from a leak (both retain all they allocate until the cache is
     * full). With no goroutine stack leaking (independent evidence of
     * unbounded growth), growth that has lasted a time t is presumed to go
     * on for at least another T with probability t / (t + T) (the
     * "delta-t" argument: now is a random moment of the growth's life), so
     * the OOM warning and the heap and memory leak verdicts wait until the
     * growth has lasted as long as the time the forecast gives it to reach
     * the limit (t >= T: even odds that it gets there). A cache whose
     * capacity does not fit the limit is then warned half of its life
     * ahead; one that levels off below the limit is not warned at all. */
    if (!ngl && mt && v->memory.limit_bytes > 0 && ht->nids && v->oom.trend == LW_FC_GROWING &&
        v->oom.seconds_to_oom > 0 && v->oom.span_s < v->oom.seconds_to_oom) {
        struct judge_ctx bc = c;
        bc.skip_until = s->heap_pregc_t;
        const struct lw__ident *b = bounded_filling(ht, &bc);
        if (b) {
            v->bounded_wait = true;
            v->bounded_site = vdup(v, stack_name(&b->st, true));
            if (!v->bounded_site) {
                rc = LW_ENOMEM;
                goto fail;
            }
            nhl = 0;
            v->oom.predicted = false;
            /* the verdict's own minimum history again: no warning stands */
            gor_ok = has_history(gt, p, p->min_span_s);
            heap_ok = has_history(ht, p, p->min_span_s);
        }
    }

    /* Memory that follows the load (docs/analysis.md §4.6): no goroutine
     * stack and no heap site leaks, and at least half of the heap's growth
     * is at sites held by goroutines in use (the rest of the working set,
     * GC headroom and stacks, scales with the heap). Those goroutines end
     * and give their bytes back, so the memory can reach the limit only if
     * the load keeps rising, which no profile can tell: no OOM warning and
     * no memory leak verdict. As for §4.5, only raising a warning is
     * withheld. */
    if (!warned && !v->bounded_wait && !ngl && !nhl && mt && heap_ok &&
        (v->oom.predicted || v->oom.trend == LW_FC_GROWING)) {
        double share = 0;
        struct judge_ctx hc = c;
        hc.skip_until = s->heap_pregc_t;
        if ((rc = held_share(s, &hc, gl, ngl, v, &share)))
            goto fail;
        if (share >= 0.5) {
            v->load_wait = true;
            v->oom.predicted = false;
            gor_ok = has_history(gt, p, p->min_span_s);
            heap_ok = has_history(ht, p, p->min_span_s);
        }
    }

    /* Growth that nothing explains (docs/analysis.md §4.5). A goroutine
     * stack or a heap site that leaks is independent evidence that the
     * growth is unbounded; without any (judged over what there is, as for a
     * warning), the working set may be following the load (requests in
     * flight, a Go process keeping the memory of its largest burst), and
     * growth that has lasted t goes on for another T with probability
     * t / (t + T): the warning waits for even odds, t >= T, as a bounded
     * structure's does (§4.4). It only delays raising a warning: one that
     * stands (`warned`, raised earlier on evidence) is judged as before,
     * and held by the hysteresis while the memory grows. */
    if (!warned && v->oom.predicted && !v->bounded_wait && !v->load_wait && !ngl && !nhl && mt &&
        v->memory.limit_bytes > 0 &&
        v->oom.trend == LW_FC_GROWING && v->oom.seconds_to_oom > 0 &&
        v->oom.span_s < v->oom.seconds_to_oom) {
        v->unexplained_wait = true;
        v->oom.predicted = false;
        gor_ok = has_history(gt, p, p->min_span_s);
        heap_ok = has_history(ht, p, p->min_span_s);
    }

    /* verdict */
    if (ngl)
        v->kinds |= LW_LEAK_GOROUTINE;
    if (nhl)
        v->kinds |= LW_LEAK_HEAP;
    /* the same minimum history for memory as for stacks */
    bool mem_ok = mt && has_history(mt, p, p->min_span_s);
    if (memory_leaks(v, p, mem_ok, !(v->kinds & (LW_LEAK_GOROUTINE | LW_LEAK_HEAP))))
        v->kinds |= LW_LEAK_MEMORY;
    if (v->kinds)
        v->verdict = LW_VERDICT_LEAK;
    else if (gor_ok || heap_ok || mem_ok)
        v->verdict = LW_VERDICT_NO_LEAK;
    else
        v->verdict = LW_VERDICT_INSUFFICIENT;

    /* known causes, with every growing stack as context */
    if (ngl + nhl) {
        struct lw_cause_subject *subj = calloc(ngl ? ngl : 1, sizeof(*subj));
        const struct lw_stack **sites = calloc(nhl ? nhl : 1, sizeof(*sites));
        if (!subj || !sites) {
            free(subj);
            free(sites);
            rc = LW_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < ngl; i++)
            subj[i] = (struct lw_cause_subject){
                &gl[i].id->st, gl[i].growth_h, (int64_t)llround(gl[i].id->cur),
                gl[i].id->detail_t > 0 ? gl[i].id->detail_t - gl[i].id->seen_t : 0};
        for (size_t i = 0; i < nhl; i++)
            sites[i] = &hl[i].id->st;
        struct lw_cause_context cx = {subj, ngl, sites, nhl};
        for (size_t i = 0; i < ngl; i++)
            gl[i].matched = lw_causes_match_goroutine(&subj[i], &cx, &gl[i].cause);
        for (size_t i = 0; i < nhl; i++)
            hl[i].matched = lw_causes_match_heap(sites[i], &cx, &hl[i].cause);
        free(subj);
        free(sites);
        rank_ties(gl, ngl);
        rank_ties(hl, nhl);
    }

    /* top_n in all: goroutine stacks first, but leave heap sites (when some
     * grow) up to half of the places */
    size_t top_n = p->top_n ? p->top_n : 5;
    size_t hres = LW_MIN(nhl, ngl ? top_n / 2 : top_n);
    size_t ntop_g = LW_MIN(ngl, top_n - hres);
    size_t ntop_h = LW_MIN(nhl, top_n - ntop_g);
    if (ntop_g + ntop_h) {
        v->top = lw_arena_alloc(&v->arena, (ntop_g + ntop_h) * sizeof(*v->top));
        if (!v->top) {
            rc = LW_ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < ntop_g + ntop_h && rc == LW_OK; i++) {
            bool heap = i >= ntop_g;
            const struct cand *k = heap ? &hl[i - ntop_g] : &gl[i];
            rc = fill_top(v, &v->top[i], heap ? ht : gt, k, heap, k->matched ? &k->cause : NULL);
        }
        v->ntop = ntop_g + ntop_h;
        if (rc)
            goto fail;
    }

    /* goroutine growth -> memory growth */
    if (mt && ngl) {
        double lg = 0;
        for (size_t i = 0; i < ngl; i++)
            lg += gl[i].growth_h;
        if ((rc = link_memory(v, s, mt, lg, &c)))
            goto fail;
    }

    write_summary(v, s, gspan, gl, ngl, hl, nhl);
    free(gl);
    free(hl);
    free(scratch);
    *out = v;
    return LW_OK;
fail:
    free(gl);
    free(hl);
    free(scratch);
    lw_verdict_free(v);
    return rc;
}

void lw_verdict_free(struct lw_verdict *v)
{
    if (!v)
        return;
    lw_arena_release(&v->arena);
    free(v);
}
