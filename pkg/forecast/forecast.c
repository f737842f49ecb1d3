/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forecast.c: time to OOM-kill from one container's memory series and its
 * limit. The method, its assumptions and every constant below are explained
 * in docs/forecast.md; this comment is the short version.
 *
 * DESIGN
 *  1. Clean: drop non-finite / negative points and points after `now`; sort
 *     by time if needed (a copy; the caller's array is never touched).
 *  2. Regime: a drop to below half of the recent floor (25th percentile of
 *     the previous 8 points), confirmed by the next point, starts a new
 *     series (a restart the caller did not cut off); earlier points are
 *     ignored.
 *     The first min(60 s, span/3) (process start-up) are skipped for the fits.
 *  3. Envelope: split the span into W equal time windows (W = span / 150 s,
 *     150 s being a bit more than Go's 2-minute forced GC so a window
 *     normally holds a GC peak, clamped to 16..48) and keep each window's
 *     maximum. What meets the limit first is the peak of the GC sawtooth,
 *     not its mean.
 *  4. Trend: Theil-Sen slope + Sen's 90% band + Mann-Kendall z on the window
 *     maxima: whole history, the recent `recent_fraction` (>= 5 windows),
 *     the part before it, and the two halves. The noise of the maxima is
 *     estimated from differences of consecutive windows, so it is not
 *     inflated by curvature.
 *  5. State: GROWING needs a significant upward whole-history trend (MK z >=
 *     1.645) that persists (recent slope significantly > 0 and >= half the
 *     earlier slope; else PLATEAU), or, with wide windows, a significant
 *     recent trend alone (growth that started late). Otherwise FLAT.
 *  6. Time: (limit - peak now) / slope with the band from Sen's band. The
 *     slope is the whole-history one, unless the recent one is clearly
 *     steeper (z > 3, x1.5, and the second half steeper than the first):
 *     then growth accelerates and the recent slope is the current one.
 *  7. Warm-up check: when the second half grows slower than the first, fit
 *     a saturating (exponentially decaying slope) model; if its asymptote is
 *     below the limit: PLATEAU (slow-down significant) or a confidence
 *     weighted by the evidence against the slow-down.
 *  8. Confidence = trend significance x agreement (deceleration lowers it)
 *     x extrapolation distance x slope precision, each in [0, 1].
 * Work is O(n log n) for the copy/sort plus O(W^2) for the fits, W <= 48.
 */
#include "forecast/forecast.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "stats/stats.h"

/* Constants (docs/forecast.md, "Parameters"). */
#define FC_MIN_WINDOW_S 150.0  /* > Go's forced GC period (2 min) */
#define FC_MIN_WINDOWS_REC 5   /* windows in the recent part, at least */
#define FC_MAX_WINDOWS 48
#define FC_LINE_POINTS 192     /* samples behind the kill-time line (Theil-Sen: ~18k pairs) */
#define FC_BREAK_RATIO 0.25    /* a regime break: one side's slope at most this share of the other's */
#define FC_BREAK_Z 3.0         /* ... and the difference this many SEs (max over the candidates) */
#define FC_BREAK_SIDE 0.25     /* each side of a break spans at least this share of the history */
#define FC_BREAK_MIN_PTS 6     /* ... and has at least this many points */
#define FC_Z_SIG 1.6448536269514722 /* one-sided 95% */
#define FC_Z_CHANGE 3.0        /* recent slope this many SEs above the whole one = accelerating */
#define FC_ACCEL_RATIO 1.5     /* ... and at least this many times it */
#define FC_SAT_Z 0.0           /* consider the warm-up model whenever the 2nd half is slower */
#define FC_PLATEAU_RATIO 0.5   /* recent slope below this share of the earlier one = plateau */
#ifndef FC_WARMUP_RATIO /* overridable for the bench/forecast sweep */
#define FC_WARMUP_RATIO 0.5    /* warm-up = 2nd-half slope significantly below this share of the 1st */
#endif
#ifndef FC_EXTRAP_HALF /* overridable for the bench/forecast sweep */
#define FC_EXTRAP_HALF 2.5     /* extrapolating this many spans ahead halves confidence */
#endif
#define FC_FIT_HALF 0.5        /* relative slope half-band that halves confidence */
#ifndef FC_PEAK_Q /* overridable for the bench/forecast sweep */
#define FC_PEAK_Q 0.75         /* quantile of the recent windows' projected maxima = peak now */
#endif
#define FC_KILL_Q 0.9          /* the kill: the line plus this quantile of the samples' excursions */
#define FC_STARTUP_S 60.0      /* start-up transient skipped for the fits ... */
#define FC_STARTUP_SHARE (1.0 / 3.0) /* ... at most this share of the history */
#define FC_DROP_RATIO 0.5      /* a drop below this share of the floor = new regime */
#define FC_DROP_LOOKBACK 8
#define FC_MAX_SECONDS LW_FC_MAX_SECONDS
#define FC_MAX_BYTES 1152921504606846976.0     /* 2^60 (1 EiB): larger samples are junk */

const char *lw_mem_source_name(enum lw_mem_source s)
{
    switch (s) {
    case LW_MEM_CONTAINER:
        return "container";
    case LW_MEM_RUNTIME:
        return "runtime";
    case LW_MEM_NONE:
        break;
    }
    return "none";
}

const char *lw_fc_state_name(enum lw_fc_state s)
{
    switch (s) {
    case LW_FC_INSUFFICIENT:
        return "insufficient";
    case LW_FC_FLAT:
        return "flat";
    case LW_FC_PLATEAU:
        return "plateau";
    case LW_FC_GROWING:
        return "growing";
    case LW_FC_NO_LIMIT:
        return "no-limit";
    }
    return "unknown";
}

void lw_forecast_params_default(struct lw_forecast_params *p)
{
    if (!p)
        return;
    p->min_span_s = 120.0;
    p->min_points = 6;
    p->horizon_s = 7.0 * 86400.0;
    p->min_confidence = 0.5;
    p->recent_fraction = 0.33;
    p->no_warmup = false;
}

/* Caller's params with unusable values replaced by the defaults. */
static struct lw_forecast_params sane_params(const struct lw_forecast_params *in)
{
    struct lw_forecast_params d, p;
    lw_forecast_params_default(&d);
    if (!in)
        return d;
    p = *in;
    if (!(p.min_span_s >= 0.0) || !isfinite(p.min_span_s))
        p.min_span_s = d.min_span_s;
    if (p.min_points < 3)
        p.min_points = 3; /* a trend needs three points */
    if (!(p.horizon_s > 0.0) || isnan(p.horizon_s))
        p.horizon_s = d.horizon_s;
    if (!(p.min_confidence >= 0.0) || p.min_confidence > 1.0)
        p.min_confidence = d.min_confidence;
    if (!(p.recent_fraction > 0.0) || p.recent_fraction > 1.0)
        p.recent_fraction = d.recent_fraction;
    return p;
}

static int cmp_pt(const void *a, const void *b)
{
    const struct lw_mem_point *x = a, *y = b;
    if (x->t != y->t)
        return (x->t > y->t) - (x->t < y->t);
    return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

static double clamp01(double x)
{
    if (!(x > 0.0))
        return 0.0;
    return x > 1.0 ? 1.0 : x;
}

static double cap_s(double s)
{
    if (isnan(s) || s > FC_MAX_SECONDS)
        return FC_MAX_SECONDS;
    return s < 0.0 ? 0.0 : s;
}

/* Last line of defence for "never a NaN or an infinity in the output":
 * extreme but finite inputs (values near 2^60, times 1e5 s apart and 1 ms
 * apart) can overflow an intermediate. */
static void finite_or_zero(struct lw_forecast *f)
{
    double *lv[] = {&f->current_bytes, &f->growth_bytes_per_hour, &f->peak_bytes, &f->span_s,
                    &f->mk_z, &f->recent_growth_bytes_per_hour, &f->conf_trend, &f->conf_agree,
                    &f->conf_extrap, &f->conf_fit, &f->confidence, &f->line_bytes, &f->line_since,
                    &f->kill_margin_bytes};
    for (size_t i = 0; i < LW_ARRAY_SIZE(lv); i++)
        if (!isfinite(*lv[i]))
            *lv[i] = 0.0;
    double *sv[] = {&f->seconds_to_oom, &f->seconds_lo, &f->seconds_hi};
    for (size_t i = 0; i < LW_ARRAY_SIZE(sv); i++)
        *sv[i] = cap_s(*sv[i]);
    if (!isfinite(f->at))
        f->at = 0.0;
}

/* Start of the current regime: index of the last confirmed big drop. */
static size_t regime_start(const struct lw_mem_point *p, size_t n)
{
    size_t s = 0;
    double buf[FC_DROP_LOOKBACK];
    for (size_t i = 1; i + 1 < n; i++) {
        size_t from = i - s > FC_DROP_LOOKBACK ? i - FC_DROP_LOOKBACK : s;
        size_t k = 0;
        for (size_t j = from; j < i; j++)
            buf[k++] = p[j].bytes;
        double floor_ = lw_quantile(buf, k, 0.25);
        double cut = FC_DROP_RATIO * floor_;
        if (floor_ > 0.0 && p[i].bytes < cut && p[i + 1].bytes < cut)
            s = i;
    }
    return s;
}

struct window {
    double tmax, ymax; /* the window's highest point */
    double tmed, ymed; /* its median time and level */
};

/* level now = median over windows of (y_w + slope * (now - t_w)) */
static double level_now(const struct window *w, size_t nw, double now, double slope, int peak)
{
    double v[FC_MAX_WINDOWS];
    for (size_t i = 0; i < nw; i++)
        v[i] = peak ? w[i].ymax + slope * (now - w[i].tmax)
                    : w[i].ymed + slope * (now - w[i].tmed);
    return lw_quantile(v, nw, peak ? FC_PEAK_Q : 0.5);
}

/* sum of squared deviations of the windows' peak times */
static double sxx_windows(const struct window *w, size_t nw)
{
    if (nw < 2)
        return 0.0;
    double m = 0.0, s = 0.0;
    for (size_t i = 0; i < nw; i++)
        m += w[i].tmax - w[0].tmax;
    m /= (double)nw;
    for (size_t i = 0; i < nw; i++) {
        double d = w[i].tmax - w[0].tmax - m;
        s += d * d;
    }
    return s;
}

/* Noise of the window maxima around a line of slope b, from differences of
 * consecutive windows (1.4826 MAD / sqrt 2): slow curvature cancels out, so
 * a warm-up's bend is not mistaken for noise. */
static double local_sigma(const struct window *w, size_t nw, double b)
{
    double t[FC_MAX_WINDOWS], y[FC_MAX_WINDOWS], d[FC_MAX_WINDOWS];
    for (size_t i = 0; i < nw; i++) {
        t[i] = w[i].tmax;
        y[i] = w[i].ymax;
    }
    return lw_diff_sigma(t, y, nw, b, d);
}

static int fit_windows(const struct window *w, size_t nw, struct lw_trend *tr)
{
    double t[FC_MAX_WINDOWS], y[FC_MAX_WINDOWS];
    for (size_t i = 0; i < nw; i++) {
        t[i] = w[i].tmax;
        y[i] = w[i].ymax;
    }
    return lw_trend_fit(t, y, nw, tr);
}

/* A break in the growth regime among the line's points (docs/forecast.md
 * §3.4): the most likely split of the history into two straight segments
 * (least squares, each side spanning >= FC_BREAK_SIDE of the history and
 * >= FC_BREAK_MIN_PTS points), kept only when it is large (one side's slope
 * at most FC_BREAK_RATIO of the other's, the later one growing) and
 * significant (z of the slope difference >= FC_BREAK_Z, noise from the
 * differences of consecutive points, as in local_sigma). Returns the index
 * the current regime starts at, 0 for none. A growth that starts late
 * (flat, then a leak) or a steep warm-up that gave way to a slow leak then
 * gets the line of the current regime, not an average with the one before.
 * A load cycle cannot pass: over a quarter of the history or more, a +-35%
 * swing changes the mean rate by well under 4x. */
static size_t regime_break(const double *t, const double *y, size_t k)
{
    if (k < 2 * FC_BREAK_MIN_PTS + 1)
        return 0;
    double span = t[k - 1] - t[0];
    if (!(span > 0.0))
        return 0;
    /* prefix sums of x = t - t[0], y (relative to y[0]), x^2, xy, y^2 */
    double S[FC_LINE_POINTS + 1][5];
    memset(S[0], 0, sizeof(S[0]));
    for (size_t i = 0; i < k; i++) {
        double x = t[i] - t[0], v = y[i] - y[0];
        S[i + 1][0] = S[i][0] + x;
        S[i + 1][1] = S[i][1] + v;
        S[i + 1][2] = S[i][2] + x * x;
        S[i + 1][3] = S[i][3] + x * v;
        S[i + 1][4] = S[i][4] + v * v;
    }
    /* least squares over [a, e): slope, residual sum of squares, Sxx */
#define SEG(a, e, b_, sse_, sxx_)                                                                \
    do {                                                                                     \
        double n_ = (double)((e) - (a)), sx_ = S[e][0] - S[a][0], sy_ = S[e][1] - S[a][1];   \
        double xx_ = S[e][2] - S[a][2] - sx_ * sx_ / n_;                                     \
        double xy_ = S[e][3] - S[a][3] - sx_ * sy_ / n_;                                     \
        double yy_ = S[e][4] - S[a][4] - sy_ * sy_ / n_;                                     \
        (sxx_) = xx_;                                                                        \
        (b_) = xx_ > 0.0 ? xy_ / xx_ : 0.0;                                                  \
        (sse_) = xx_ > 0.0 ? yy_ - xy_ * xy_ / xx_ : yy_;                                    \
    } while (0)
    size_t best = 0;
    double best_sse = INFINITY, b1b = 0.0, b2b = 0.0, q1b = 0.0, q2b = 0.0;
    for (size_t c = FC_BREAK_MIN_PTS; c + FC_BREAK_MIN_PTS <= k; c++) {
        if (t[c - 1] - t[0] < FC_BREAK_SIDE * span || t[k - 1] - t[c] < FC_BREAK_SIDE * span)
            continue;
        double b1, b2, e1, e2, q1, q2;
        SEG(0, c, b1, e1, q1);
        SEG(c, k, b2, e2, q2);
        if (e1 + e2 < best_sse) {
            best_sse = e1 + e2;
            best = c;
            b1b = b1;
            b2b = b2;
            q1b = q1;
            q2b = q2;
        }
    }
#undef SEG
    if (best == 0 || !(b2b > 0.0) || !(q1b > 0.0) || !(q2b > 0.0))
        return 0;
    int onset = b1b <= FC_BREAK_RATIO * b2b;  /* growth started (or sped up) late */
    int settled = b2b <= FC_BREAK_RATIO * b1b; /* a steep start gave way to slow growth */
    if (!onset && !settled)
        return 0;
    /* noise of the points around the whole line, from consecutive differences */
    double d[FC_LINE_POINTS], bw = (S[k][3] - S[k][0] * S[k][1] / (double)k) /
                                   (S[k][2] - S[k][0] * S[k][0] / (double)k);
    if (!isfinite(bw))
        return 0;
    double sig = lw_diff_sigma(t, y, k, bw, d);
    double se = sig * sqrt(1.0 / q1b + 1.0 / q2b);
    double z = se > 0.0 ? fabs(b2b - b1b) / se : INFINITY;
    return z >= FC_BREAK_Z ? best : 0;
}

/* The Theil-Sen line through the regime's samples: its slope and its level
 * at now. Past FC_LINE_POINTS samples, consecutive groups of ceil(n /
 * FC_LINE_POINTS) samples become one point (mean time, median value): a
 * group spans several samples, so a GC sawtooth is averaged out instead of
 * aliased, as thinning to every k-th sample would. */
static size_t line_points(const struct lw_mem_point *p, size_t n, double *t, double *y)
{
    double g[64];
    size_t k = 0;
    size_t per = (n + FC_LINE_POINTS - 1) / FC_LINE_POINTS;
    for (size_t i = 0; i < n && k < FC_LINE_POINTS; i += per) {
        /* the group's mean time, and the median of (a bounded, evenly
         * strided sample of) its values */
        size_t e = i + per < n ? i + per : n, cnt = e - i, c = 0;
        size_t step = cnt > 64 ? (cnt + 63) / 64 : 1;
        double ts = 0.0;
        for (size_t j = i; j < e; j++)
            ts += p[j].t - p[0].t;
        for (size_t j = i; j < e && c < 64; j += step)
            g[c++] = p[j].bytes;
        t[k] = p[0].t + ts / (double)cnt;
        y[k] = c == 1 ? g[0] : lw_median(g, c);
        k++;
    }
    return k;
}

static int regime_line(const struct lw_mem_point *p, size_t n, double now, double *slope,
                       double *level, double *from)
{
    double t[FC_LINE_POINTS], y[FC_LINE_POINTS];
    *slope = 0.0;
    *level = 0.0;
    *from = n ? p[0].t : 0.0;
    if (n < 3)
        return LW_OK;
    size_t k = line_points(p, n, t, y);
    size_t b = regime_break(t, y, k);
    if (b > 0)
        *from = t[b];
    struct lw_trend tr;
    int rc = lw_trend_fit(t + b, y + b, k - b, &tr);
    if (rc != LW_OK)
        return rc;
    *slope = tr.slope;
    *level = tr.level_ref + tr.slope * (now - tr.t_ref);
    return LW_OK;
}

/* FC_KILL_Q quantile of the samples' excursions above the regime line
 * (slope b, level `at` at now), over the samples from `from` on; 0 when it
 * is negative or there are too few samples. `scratch` holds nq doubles. */
static void kill_margin(const struct lw_mem_point *q, size_t nq, double from, double b, double at,
                        double now, double *scratch, double *margin)
{
    *margin = 0.0;
    size_t k = 0;
    for (size_t i = 0; i < nq; i++)
        if (q[i].t >= from)
            scratch[k++] = q[i].bytes - (at - b * (now - q[i].t));
    if (k >= 3) {
        double v = lw_quantile(scratch, k, FC_KILL_Q);
        if (isfinite(v) && v > 0.0)
            *margin = v;
    }
}

int lw_forecast_compute(const struct lw_mem_point *pts, size_t n, double limit_bytes, double now,
                        const struct lw_forecast_params *params, struct lw_forecast *out)
{
    if (!out)
        return LW_EINVAL;
    memset(out, 0, sizeof(*out));
    out->state = out->trend = LW_FC_INSUFFICIENT;
    out->limit_bytes = (isfinite(limit_bytes) && limit_bytes > 0.0) ? limit_bytes : 0.0;
    const double limit = out->limit_bytes;
    struct lw_forecast_params P = sane_params(params);
    char b1[32], b2[32], b3[32];
    int rc = LW_OK;

    /* 1. clean copy, and one scratch array of n doubles for the steps
     * below (sampling intervals, excursions) */
    struct lw_mem_point *p = NULL;
    double *scratch = NULL;
    size_t m = 0;
    if (pts && n > 0) {
        p = n <= PTRDIFF_MAX / sizeof(*p) ? malloc(n * sizeof(*p)) : NULL;
        scratch = n <= PTRDIFF_MAX / sizeof(*scratch) ? malloc(n * sizeof(*scratch)) : NULL;
        if (!p || !scratch) {
            free(p);
            free(scratch);
            snprintf(out->reason, sizeof(out->reason), "out of memory");
            return LW_ENOMEM;
        }
        int have_now = isfinite(now) && now > 0.0;
        for (size_t i = 0; i < n; i++) {
            double t = pts[i].t, y = pts[i].bytes;
            if (!isfinite(t) || !isfinite(y) || y < 0.0 || y > FC_MAX_BYTES)
                continue;
            if (have_now && t > now)
                continue;
            p[m++] = pts[i];
        }
    }
    if (m == 0) {
        snprintf(out->reason, sizeof(out->reason), "no usable memory samples");
        goto done;
    }
    int sorted = 1;
    for (size_t i = 1; i < m && sorted; i++)
        if (p[i].t < p[i - 1].t)
            sorted = 0;
    if (!sorted)
        qsort(p, m, sizeof(*p), cmp_pt);
    if (!(isfinite(now) && now > 0.0) || now < p[m - 1].t)
        now = p[m - 1].t;

    /* 2. regime */
    size_t s0 = regime_start(p, m);
    struct lw_mem_point *q = p + s0;
    size_t nq = m - s0;
    double t0 = q[0].t, t1 = q[nq - 1].t, span = t1 - t0;
    out->npoints = nq;
    out->span_s = span;
    {
        /* level for the INSUFFICIENT case: median of the usable points */
        double v[64];
        size_t k = 0;
        for (size_t i = nq > 64 ? nq - 64 : 0; i < nq; i++)
            v[k++] = q[i].bytes;
        out->current_bytes = out->peak_bytes = lw_median(v, k);
    }
    if (nq < P.min_points || span < P.min_span_s || span <= 0.0) {
        snprintf(out->reason, sizeof(out->reason),
                 "%zu samples over %.0f s%s; need %zu over %.0f s", nq, span,
                 s0 ? " since a restart-like drop" : "", P.min_points, P.min_span_s);
        goto done;
    }
    /* Start-up transient: the first moments after a (re)start are process
     * initialisation (runtime, caches, connection pools), a jump that says
     * nothing about a leak's rate and looks like a warm-up. Skip the first
     * min(FC_STARTUP_S, span / 3) of the series for the fits. */
    {
        double skip = LW_MIN(FC_STARTUP_S, span * FC_STARTUP_SHARE);
        size_t k = 0;
        while (k < nq && q[k].t < t0 + skip)
            k++;
        if (nq - k >= P.min_points && k > 0) {
            q += k;
            nq -= k;
            t0 = q[0].t;
            span = t1 - t0;
        }
    }

    /* 3. envelope windows */
    double med_dt;
    {
        double *dts = scratch;
        size_t k = 0;
        for (size_t i = 1; i < nq; i++)
            if (q[i].t > q[i - 1].t)
                dts[k++] = q[i].t - q[i - 1].t;
        med_dt = k ? lw_median(dts, k) : span;
    }
    double nwm = ceil(FC_MIN_WINDOWS_REC / P.recent_fraction); /* clamp before the cast */
    size_t nw_min = nwm < 6.0 ? 6 : nwm > FC_MAX_WINDOWS ? FC_MAX_WINDOWS : (size_t)nwm;
    double width0 = LW_MAX(FC_MIN_WINDOW_S, 2.0 * med_dt);
    double nwd = floor(span / width0);
    size_t nw = nwd > FC_MAX_WINDOWS ? FC_MAX_WINDOWS : (size_t)nwd;
    if (nw < nw_min)
        nw = nw_min;
    if (nw > nq)
        nw = nq;
    double width = span / (double)nw;

    struct window win[FC_MAX_WINDOWS];
    int wix[FC_MAX_WINDOWS]; /* window index of each kept window */
    size_t nwin = 0;
    {
        double ybuf[64];
        size_t i = 0;
        while (i < nq) {
            size_t w = (size_t)((q[i].t - t0) / width);
            if (w >= nw)
                w = nw - 1;
            size_t j = i;
            struct window cur = {q[i].t, q[i].bytes, 0, 0};
            while (j < nq) {
                size_t wj = (size_t)((q[j].t - t0) / width);
                if (wj >= nw)
                    wj = nw - 1;
                if (wj != w)
                    break;
                if (q[j].bytes >= cur.ymax) {
                    cur.ymax = q[j].bytes;
                    cur.tmax = q[j].t;
                }
                j++;
            }
            /* median level and time of the window (bounded sample of it) */
            size_t cnt = j - i, step = cnt > 64 ? (cnt + 63) / 64 : 1, k = 0;
            for (size_t a = i; a < j && k < 64; a += step)
                ybuf[k++] = q[a].bytes;
            cur.ymed = lw_median(ybuf, k);
            cur.tmed = q[i + cnt / 2].t;
            win[nwin] = cur;
            wix[nwin] = (int)w;
            nwin++;
            i = j;
        }
    }

    /* 4. fits: whole history and the recent part */
    struct lw_trend all, rec;
    if ((rc = fit_windows(win, nwin, &all)) != LW_OK)
        goto oom;
    size_t w_rec0 = (size_t)floor((double)nw * (1.0 - P.recent_fraction) + 1e-9);
    size_t r0 = nwin;
    while (r0 > 0 && (size_t)wix[r0 - 1] >= w_rec0)
        r0--;
    size_t need = LW_MIN((size_t)FC_MIN_WINDOWS_REC, nwin);
    if (nwin - r0 < need)
        r0 = nwin - need;
    if ((rc = fit_windows(win + r0, nwin - r0, &rec)) != LW_OK)
        goto oom;
    out->mk_z = all.mk_z;
    out->recent_growth_bytes_per_hour = rec.slope * 3600.0;

    /* 5. state. The recent slope alone is trusted (to switch to it, or to
     * call growth that only shows recently) only when windows are at least
     * FC_MIN_WINDOW_S wide: with narrower windows a short recent part can
     * sit on one GC ramp and see the allocation rate, not the leak. */
    int wide = width >= FC_MIN_WINDOW_S * (1.0 - 1e-9);
    int sig_all = all.slope > 0.0 && all.mk_z >= FC_Z_SIG;
    int sig_rec = rec.slope > 0.0 && rec.mk_z >= FC_Z_SIG;
    enum lw_fc_state st;
    const struct lw_trend *use = &all;
    int late = 0;
    /* Did the trend change in the recent part? z of (recent - whole) slope
     * under the linear model: the residual sigma comes from the whole fit
     * (many windows, stable) and the variance of a nested difference of
     * slopes is sigma^2 (1/Sxx_recent - 1/Sxx_all). */
    double sxx_all = sxx_windows(win, nwin), sxx_rec = sxx_windows(win + r0, nwin - r0);
    double vd = sxx_rec > 0.0 && sxx_all > 0.0 ? 1.0 / sxx_rec - 1.0 / sxx_all : 0.0;
    double sig = local_sigma(win, nwin, all.slope);
    double se_diff = vd > 0.0 ? sig * sqrt(vd) : 0.0;
    double d = rec.slope - all.slope;
    double z_diff = se_diff > 0.0 ? d / se_diff : (d == 0.0 ? 0.0 : (d > 0.0 ? 1e9 : -1e9));
    /* Curvature: slope of the second half of the history against the
     * first half (independent halves, z under the same noise model). A
     * warm-up bends down (z_curv < 0); a leak stays straight. */
    double z_curv = 0.0, curv_ratio = 1.0;
    double z_halving = 0.0; /* z of (s2 - FC_WARMUP_RATIO * s1): a real slow-down */
    double s1 = 0.0, s2 = 0.0, c1 = 0.0, c2 = 0.0; /* half slopes and their mean times */
    {
        struct lw_trend f1, f2;
        double tm = t0 + span / 2.0;
        size_t h0 = 0;
        while (h0 < nwin && win[h0].tmax < tm)
            h0++;
        if (h0 >= 3 && nwin - h0 >= 3) {
            if ((rc = fit_windows(win, h0, &f1)) != LW_OK ||
                (rc = fit_windows(win + h0, nwin - h0, &f2)) != LW_OK)
                goto oom;
            double q1 = sxx_windows(win, h0), q2 = sxx_windows(win + h0, nwin - h0);
            double se = q1 > 0.0 && q2 > 0.0 ? sig * sqrt(1.0 / q1 + 1.0 / q2) : 0.0;
            double dd = f2.slope - f1.slope;
            z_curv = se > 0.0 ? dd / se : (dd == 0.0 ? 0.0 : (dd > 0.0 ? 1e9 : -1e9));
            double seh = q1 > 0.0 && q2 > 0.0
                             ? sig * sqrt(FC_WARMUP_RATIO * FC_WARMUP_RATIO / q1 + 1.0 / q2)
                             : 0.0;
            double dh = f2.slope - FC_WARMUP_RATIO * f1.slope;
            z_halving = seh > 0.0 ? dh / seh : (dh == 0.0 ? 0.0 : (dh > 0.0 ? 1e9 : -1e9));
            if (f1.slope > 0.0)
                curv_ratio = f2.slope > 0.0 ? f2.slope / f1.slope : 0.0;
            s1 = f1.slope;
            s2 = f2.slope;
            for (size_t i = 0; i < nwin; i++)
                *(i < h0 ? &c1 : &c2) += win[i].tmax;
            c1 /= (double)h0;
            c2 /= (double)(nwin - h0);
        }
    }
    /* Persistence: is there growth in the recent window at all? z of the
     * recent slope against 0 under the same noise model; and is it at least
     * half of the growth before the recent window (the earlier slope, not
     * the whole one, which itself shrinks as a plateau lengthens)? */
    double z_rec0 = sxx_rec > 0.0 && sig > 0.0 ? rec.slope * sqrt(sxx_rec) / sig
                                               : (rec.slope > 0.0 ? 1e9 : 0.0);
    double b_early = all.slope;
    if (r0 >= 3) {
        struct lw_trend early;
        if ((rc = fit_windows(win, r0, &early)) != LW_OK)
            goto oom;
        b_early = early.slope;
    }
    int persists = z_rec0 >= FC_Z_SIG && rec.slope >= FC_PLATEAU_RATIO * b_early;
    if (sig_all && persists) {
        st = LW_FC_GROWING;
        if (wide && z_diff > FC_Z_CHANGE && z_curv > FC_Z_SIG &&
            rec.slope > FC_ACCEL_RATIO * all.slope)
            use = &rec; /* accelerating: the recent slope is the current one */
    } else if (sig_all) {
        st = LW_FC_PLATEAU;
    } else if (sig_rec && wide) {
        st = LW_FC_GROWING;
        use = &rec;
        late = 1;
    } else {
        st = LW_FC_FLAT;
    }
    const struct window *rw = win + r0;
    size_t nrw = nwin - r0;
    double b = st == LW_FC_GROWING ? use->slope : 0.0;
    out->peak_bytes = level_now(rw, nrw, now, b, 1);
    out->current_bytes = level_now(rw, nrw, now, b, 0);

    /* 5b. Saturation check. When growth slows down (second half slower
     * than the first), fit the warm-up model too: a slope that decays
     * exponentially, s(t) = s1 exp(-(t - c1)/tau), tau from the two half
     * slopes. Memory then levels off at peak + s(now) * tau. If that
     * asymptote is below the limit (or there is no limit), the warm-up
     * model says "no OOM": when the slow-down is significant (z_curv <
     * -1.645) the state is PLATEAU (levelling off); otherwise the agreement
     * factor is weighted by Phi(z_curv), roughly the probability that the
     * growth is not slowing down. */
    double asymptote = -1.0;
    if (st == LW_FC_GROWING && !late && !P.no_warmup && z_curv < FC_SAT_Z && s1 > 0.0 && c2 > c1) {
        if (s2 <= 0.0) {
            asymptote = out->peak_bytes;
        } else if (s2 < s1) {
            double tau = (c2 - c1) / log(s1 / s2);
            double snow = s2 * exp(-(now - c2) / tau);
            asymptote = out->peak_bytes + snow * tau;
        }
    }

    /* A significant slow-down towards a level below the limit (or with no
     * limit at all) is a warm-up levelling off: PLATEAU, not growth. */
    int levelling = asymptote >= 0.0 && z_halving < -FC_Z_SIG && (limit <= 0.0 || asymptote < limit);
    /* the warm-up model has a say (PLATEAU, or a lower confidence below) */
    out->warmup = asymptote >= 0.0 && (limit <= 0.0 || asymptote < limit);
    if (levelling) {
        st = LW_FC_PLATEAU;
        b = 0.0;
        out->peak_bytes = level_now(rw, nrw, now, 0.0, 1);
        out->current_bytes = level_now(rw, nrw, now, 0.0, 0);
    }
    out->trend = st;
    if (st == LW_FC_GROWING)
        out->growth_bytes_per_hour = b * 3600.0;
    else if (st == LW_FC_PLATEAU)
        out->growth_bytes_per_hour = rec.slope * 3600.0;
    else
        out->growth_bytes_per_hour = all.slope * 3600.0;

    lw_fmt_bytes(out->peak_bytes, b1, sizeof(b1));
    lw_fmt_bytes(limit, b2, sizeof(b2));
    lw_fmt_bytes(fabs(out->growth_bytes_per_hour), b3, sizeof(b3));

    if (st != LW_FC_GROWING) {
        out->state = limit > 0.0 ? st : LW_FC_NO_LIMIT;
        const char *what = st == LW_FC_PLATEAU ? "grew earlier, flat over the recent window"
                                               : "no significant sustained growth";
        if (levelling) {
            char b4[32];
            lw_fmt_bytes(asymptote, b4, sizeof(b4));
            snprintf(out->reason, sizeof(out->reason),
                     "growth slowing down like a warm-up (%s/h): levels off near %s%s", b3, b4,
                     limit > 0.0 ? ", below the limit" : "");
        } else if (limit <= 0.0)
            snprintf(out->reason, sizeof(out->reason), "no memory limit; %s (peak %s)", what, b1);
        else if (out->peak_bytes >= limit)
            snprintf(out->reason, sizeof(out->reason),
                     "%s; peak %s at/above the limit %s (GOMEMLIMIT holding it?)",
                     what, b1, b2);
        else
            snprintf(out->reason, sizeof(out->reason), "%s (peak %s of limit %s)", what, b1, b2);
        goto done;
    }

    /* 6. time to the limit. First when the peak envelope reaches it: the
     * earliest plausible kill (a GC peak of anonymous memory cannot be
     * reclaimed), which sets the confidence and the warning; the expected
     * kill follows in 6b. */
    double headroom = limit - out->peak_bytes;
    double sec = 0.0, slo = 0.0, shi = 0.0;
    if (limit > 0.0 && headroom > 0.0) {
        sec = cap_s(headroom / b);
        slo = use->slope_hi > 0.0 ? cap_s(headroom / use->slope_hi) : sec;
        shi = use->slope_lo > 0.0 ? cap_s(headroom / use->slope_lo) : FC_MAX_SECONDS;
        if (slo > sec)
            slo = sec;
        if (shi < sec)
            shi = sec;
    }

    /* 6b. Expected kill time: the robust line through every sample of the
     * regime (docs/forecast.md §3.4). The envelope crossing above is the
     * earliest plausible kill (seconds_lo) and sets the confidence; the
     * kill itself is expected when the sustained level, the Theil-Sen line
     * through all the samples since the (re)start, start-up included,
     * reaches the limit: a load that varies (daily cycles) makes any shorter
     * history a worse estimate of the rate ahead, and at the limit the
     * kernel reclaims before it kills. Only when the whole history is one
     * growth (not for growth that started late or accelerates: there the
     * recent slope and the envelope stay). */
    double sec_env = sec;
    if (limit > 0.0 && use == &all && !late) {
        double line_at = 0.0, line_b = 0.0, line_t0 = 0.0;
        if ((rc = regime_line(p + s0, m - s0, now, &line_b, &line_at, &line_t0)) != LW_OK)
            goto oom;
        if (line_b > 0.0) {
            /* The kill is the first touch, not the level's arrival: the
             * line plus the excursion that memory exceeds in one sample
             * of FC_KILL_Q's complement (GC peaks, the high phase of the
             * load), measured on the samples behind the fits. */
            double mg = 0.0;
            kill_margin(q, nq, line_t0, line_b, line_at, now, scratch, &mg);
            out->kill_margin_bytes = mg;
            double hl = limit - line_at - mg;
            /* (also when the peaks are already at the limit: the kernel
             * reclaims there until the level gets there too) */
            sec = hl > 0.0 ? cap_s(hl / line_b) : 0.0;
            if (slo > sec)
                slo = sec;
            if (shi < sec)
                shi = sec;
            out->line_bytes = line_at;
            out->line_since = line_t0;
        }
    }

    char b4l[32];
    lw_fmt_bytes(out->line_bytes > 0.0 ? out->line_bytes : out->current_bytes, b4l, sizeof(b4l));

    /* 7. confidence */
    double ca = clamp01(2.0 * lw_norm_cdf(use->mk_z) - 1.0);
    double cb;
    if (all.slope <= 0.0 || rec.slope <= 0.0)
        cb = 0.0;
    else if (z_diff < -FC_Z_SIG && !P.no_warmup)
        cb = (rec.slope / all.slope) * (rec.slope / all.slope); /* decelerating: warm-up? */
    else
        cb = 1.0; /* agreeing, or accelerating (only ever brings the OOM closer) */
    /* no_warmup: the caller knows the growth is unbounded, so a slow-down
     * is a dip of the leak rate, not saturation: no penalty for it */
    if (z_curv < -FC_Z_SIG && !P.no_warmup)
        cb = LW_MIN(cb, curv_ratio * curv_ratio);
    if (asymptote >= 0.0 && limit > 0.0 && asymptote < limit && headroom > 0.0)
        cb *= lw_norm_cdf(z_curv); /* the warm-up model, weighted: P(no slow-down), roughly */
    if (cb < 1.0 && all.slope > 0.0 && rec.slope > 0.0)
        out->warmup = true; /* the slow-down (warm-up view) lowered the confidence */
    /* extrapolation distance in units of the history behind the slope used */
    double span_used = use == &rec ? win[nwin - 1].tmax - win[r0].tmax : span;
    if (!(span_used > 0.0))
        span_used = span;
    double h = sec_env / span_used / FC_EXTRAP_HALF;
    double cc = 1.0 / (1.0 + h * h);
    double rel = (use->slope_hi - use->slope_lo) / (2.0 * use->slope) / FC_FIT_HALF;
    double cd = isfinite(rel) ? 1.0 / (1.0 + rel * rel) : 0.0;
    out->conf_trend = ca;
    out->conf_agree = clamp01(cb);
    out->conf_extrap = clamp01(cc);
    out->conf_fit = clamp01(cd);
    double conf = clamp01(ca * cb * cc * cd);

    if (limit <= 0.0) {
        out->state = LW_FC_NO_LIMIT;
        snprintf(out->reason, sizeof(out->reason),
                 "no memory limit; memory growing %s/h%s (peak %s)", b3,
                 late ? " (recent growth only)" : "", b1);
        goto done;
    }
    out->state = LW_FC_GROWING;
    out->confidence = conf;
    out->seconds_to_oom = sec;
    out->seconds_lo = slo;
    out->seconds_hi = shi;
    out->at = now + sec;
    out->seconds_env = sec_env;
    out->predicted = conf >= P.min_confidence && sec_env <= P.horizon_s;
    if (headroom <= 0.0 && sec > 0.0)
        snprintf(out->reason, sizeof(out->reason),
                 "growing %s/h; peak %s is already at/above the limit %s, level %s in %.0f s",
                 b3, b1, b2, b4l, sec);
    else if (headroom <= 0.0)
        snprintf(out->reason, sizeof(out->reason),
                 "growing %s/h and peak %s is already at/above the limit %s", b3, b1, b2);
    else if (out->predicted && out->line_bytes > 0.0 && sec_env < sec) {
        char b5[32];
        lw_fmt_bytes(out->kill_margin_bytes, b5, sizeof(b5));
        snprintf(out->reason, sizeof(out->reason),
                 "growing %s/h; level %s + %s excursions reach the limit %s in %.0f s "
                 "(peaks %s, from %.0f s)",
                 b3, b4l, b5, b2, sec, b1, sec_env);
    }
    else if (out->predicted)
        snprintf(out->reason, sizeof(out->reason),
                 "growing %s/h%s; level %s (peak %s) reaches the limit %s in %.0f s", b3,
                 late ? " (recently)" : "", b4l, b1, b2, sec);
    else if (sec > P.horizon_s)
        snprintf(out->reason, sizeof(out->reason),
                 "growing %s/h; limit %s not reached within the horizon (%.0f s)", b3, b2, sec);
    else
        snprintf(out->reason, sizeof(out->reason),
                 "growing %s/h%s; OOM in %.0f s but confidence %.2f < %.2f", b3,
                 late ? " (recently)" : "", sec, conf, P.min_confidence);
    goto done;

oom:
    snprintf(out->reason, sizeof(out->reason), "out of memory");
    out->state = out->trend = LW_FC_INSUFFICIENT;
done:
    free(p);
    free(scratch);
    finite_or_zero(out);
    return rc;
}
