/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c: robust statistics for short, noisy series (see stats.h and
 * docs/forecast.md for the formulas).
 *
 * DESIGN
 *  - Order statistics use an in-place quickselect with a three-way
 *    partition and a deterministic pseudo-random pivot: O(n) on average,
 *    never out of bounds, and it terminates even if the array holds NaN
 *    (NaN lands in the "equal" block; the result is then unspecified but
 *    finite work is guaranteed). Callers are expected to pass finite data.
 *  - lw_trend_fit works on a private copy: it drops non-finite points,
 *    downsamples deterministically to LW_STATS_MAX_POINTS evenly spaced
 *    points, and subtracts the first time so that unix seconds (~1.8e9)
 *    do not cost precision in the pairwise slopes.
 *  - Theil-Sen needs all n(n-1)/2 pairwise slopes (130,816 doubles, ~1 MiB,
 *    at the cap); the confidence band needs two more order statistics of
 *    the same array, so three quickselects on one allocation.
 */
#include "stats/stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/base.h"

/* ---- order statistics -------------------------------------------------- */

static void swapd(double *a, double *b)
{
    double t = *a;
    *a = *b;
    *b = t;
}

/* Reorder v so that v[k] is the k-th smallest (0-based), everything before
 * it <= v[k] and everything after >= v[k]. Returns v[k]. */
static double select_k(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* active range [lo, hi) containing index k */
    uint64_t rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (hi - lo > 1) {
        /* xorshift64: deterministic, avoids adversarial O(n^2) on sorted data */
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        double p = v[lo + (size_t)(rng % (hi - lo))];
        /* Dutch national flag: [lo,lt) < p, [lt,i) == p (or unordered), [gt,hi) > p */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (v[i] < p) {
                swapd(&v[lt], &v[i]);
                lt++;
                i++;
            } else if (v[i] > p) {
                gt--;
                swapd(&v[i], &v[gt]);
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return v[k];
    }
    return v[k];
}

/* Smallest element of v[from..n). */
static double min_from(const double *v, size_t from, size_t n)
{
    double m = v[from];
    for (size_t i = from + 1; i < n; i++)
        if (v[i] < m)
            m = v[i];
    return m;
}

double lw_quantile(double *v, size_t n, double q)
{
    if (!v || n == 0)
        return 0.0;
    if (!(q >= 0.0)) /* also catches NaN */
        q = 0.0;
    if (q > 1.0)
        q = 1.0;
    double pos = q * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    if (k >= n - 1)
        return select_k(v, n, n - 1);
    double frac = pos - (double)k;
    double a = select_k(v, n, k);
    if (frac <= 0.0)
        return a;
    double b = min_from(v, k + 1, n); /* after select_k, v[k+1..] are >= a */
    return a + frac * (b - a);
}

double lw_median(double *v, size_t n)
{
    return lw_quantile(v, n, 0.5);
}

double lw_mad(double *v, size_t n)
{
    if (!v || n == 0)
        return 0.0;
    double m = lw_median(v, n);
    for (size_t i = 0; i < n; i++)
        v[i] = fabs(v[i] - m);
    return lw_median(v, n);
}

double lw_diff_sigma(const double *t, const double *y, size_t n, double b, double *scratch)
{
    if (!t || !y || !scratch || n < 2)
        return 0.0;
    for (size_t i = 1; i < n; i++)
        scratch[i - 1] = (y[i] - y[i - 1]) - b * (t[i] - t[i - 1]);
    return 1.4826 * lw_mad(scratch, n - 1) / sqrt(2.0);
}

/* ---- normal distribution --------------------------------------------------- */

double lw_norm_cdf(double z)
{
    if (isnan(z))
        return 0.5;
    return 0.5 * erfc(-z / sqrt(2.0));
}

/* ---- least squares --------------------------------------------------------- */

void lw_ols(const double *t, const double *y, size_t n, double *slope, double *intercept)
{
    double s = 0.0, b = 0.0;
    size_t m = 0;
    double t0 = 0.0, mt = 0.0, my = 0.0;
    /* two passes, centred, skipping non-finite points */
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(t[i]) || !isfinite(y[i]))
            continue;
        if (m == 0)
            t0 = t[i];
        mt += t[i] - t0;
        my += y[i];
        m++;
    }
    if (m > 0) {
        mt /= (double)m;
        my /= (double)m;
        double sxx = 0.0, sxy = 0.0;
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(t[i]) || !isfinite(y[i]))
                continue;
            double dt = t[i] - t0 - mt;
            sxx += dt * dt;
            sxy += dt * (y[i] - my);
        }
        if (m >= 2 && sxx > 0.0)
            s = sxy / sxx;
        /* y = my + s*(t - t0 - mt)  =>  intercept at t = 0 */
        b = my - s * (t0 + mt);
    }
    if (slope)
        *slope = s;
    if (intercept)
        *intercept = b;
}

/* ---- Theil-Sen + Mann-Kendall ---------------------------------------------- */

/* z of the two-sided 90% band (Sen's confidence interval). */
#define LW_SEN_Z 1.6448536269514722

static int sgn(double d)
{
    return (d > 0.0) - (d < 0.0);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int lw_trend_fit(const double *t, const double *y, size_t n, struct lw_trend *out)
{
    struct lw_trend r = {0};
    if (!out)
        return LW_EINVAL;
    *out = r;
    if (!t || !y || n == 0)
        return LW_OK;

    /* 1. keep finite points */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(t[i]) && isfinite(y[i]))
            m++;
    if (m == 0)
        return LW_OK;
    size_t use = m > LW_STATS_MAX_POINTS ? LW_STATS_MAX_POINTS : m;
    size_t npairs = use * (use - 1) / 2;
    /* one allocation: x[use], v[use], work[max(use, npairs)] */
    size_t nwork = npairs > use ? npairs : use;
    double *x = malloc((2 * use + nwork) * sizeof(double));
    if (!x)
        return LW_ENOMEM;
    double *v = x + use, *work = v + use;

    /* 2. deterministic downsample: evenly spaced ranks among finite points */
    size_t want = 0, seen = 0, got = 0;
    for (size_t i = 0; i < n && got < use; i++) {
        if (!(isfinite(t[i]) && isfinite(y[i])))
            continue;
        want = use == 1 ? 0 : (size_t)(((double)got * (double)(m - 1)) / (double)(use - 1) + 0.5);
        if (seen == want) {
            x[got] = t[i];
            v[got] = y[i];
            got++;
        }
        seen++;
    }
    use = got;
    double t0 = x[0];
    for (size_t i = 0; i < use; i++)
        x[i] -= t0;
    r.n = use;

    if (use < 3) {
        /* too few for a trend: level only */
        for (size_t i = 0; i < use; i++)
            work[i] = v[i];
        r.intercept = lw_median(work, use);
        r.slope = r.slope_lo = r.slope_hi = 0.0;
        r.mk_z = 0.0;
        r.resid_mad = 0.0;
        *out = r;
        free(x);
        return LW_OK;
    }

    /* 3. pairwise slopes and Mann-Kendall S, ordered by time */
    size_t ns = 0;
    long long S = 0;
    for (size_t i = 0; i < use; i++) {
        for (size_t j = i + 1; j < use; j++) {
            double dt = x[j] - x[i];
            double dy = v[j] - v[i];
            S += sgn(dt) * sgn(dy);
            if (dt != 0.0) {
                double s = dy / dt;
                if (isfinite(s))
                    work[ns++] = s;
            }
        }
    }

    /* 4. variance of S with the tie correction for tied y values */
    double nn = (double)use;
    double var = nn * (nn - 1.0) * (2.0 * nn + 5.0);
    {
        /* count tie groups on a sorted copy of y (work holds the slopes) */
        double *yc = malloc(use * sizeof(double));
        if (!yc) {
            free(x);
            return LW_ENOMEM;
        }
        for (size_t i = 0; i < use; i++)
            yc[i] = v[i];
        qsort(yc, use, sizeof(double), cmp_double);
        size_t i = 0;
        while (i < use) {
            size_t j = i + 1;
            while (j < use && yc[j] == yc[i])
                j++;
            double tp = (double)(j - i);
            if (tp > 1.0)
                var -= tp * (tp - 1.0) * (2.0 * tp + 5.0);
            i = j;
        }
        free(yc);
    }
    var /= 18.0;
    double sd = var > 0.0 ? sqrt(var) : 0.0;
    if (sd > 0.0) {
        if (S > 0)
            r.mk_z = ((double)S - 1.0) / sd;
        else if (S < 0)
            r.mk_z = ((double)S + 1.0) / sd;
    }

    /* 5. Theil-Sen slope and Sen's band */
    if (ns > 0) {
        r.slope = lw_median(work, ns);
        /* ranks (1-based) M1 = (N - C)/2 and M2 + 1 = (N + C)/2 + 1 */
        double C = LW_SEN_Z * sd;
        double N = (double)ns;
        double m1 = floor((N - C) / 2.0);
        double m2 = ceil((N + C) / 2.0) + 1.0;
        if (m1 < 1.0)
            m1 = 1.0;
        if (m2 > N)
            m2 = N;
        if (m1 > N)
            m1 = N;
        if (m2 < 1.0)
            m2 = 1.0;
        r.slope_lo = select_k(work, ns, (size_t)m1 - 1);
        r.slope_hi = select_k(work, ns, (size_t)m2 - 1);
        if (r.slope_lo > r.slope)
            r.slope_lo = r.slope;
        if (r.slope_hi < r.slope)
            r.slope_hi = r.slope;
    }

    /* 6. intercept (relative to t0) = median(y - slope*t), residual sigma */
    for (size_t i = 0; i < use; i++)
        work[i] = v[i] - r.slope * x[i];
    double b0 = lw_median(work, use);
    for (size_t i = 0; i < use; i++)
        work[i] = v[i] - (b0 + r.slope * x[i]);
    r.resid_mad = 1.4826 * lw_mad(work, use);
    r.intercept = b0 - r.slope * t0;
    r.t_ref = t0;
    r.level_ref = b0;

    *out = r;
    free(x);
    return LW_OK;
}
