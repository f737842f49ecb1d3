/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats: robust statistics on short, noisy time series. Used by analysis
 * (goroutine counts per stack) and forecast (memory against a limit).
 *
 * Everything here is explicit about its assumptions (docs/forecast.md):
 *   - medians and MAD instead of means and standard deviations, so one burst
 *     or one GC spike cannot move an estimate far;
 *   - Theil-Sen slope (median of pairwise slopes), breakdown point ~29%;
 *   - the Mann-Kendall S statistic and its normal-approximation z score as a
 *     distribution-free test that a series trends up;
 * All functions are O(n^2) at worst in n points; callers keep n bounded
 * (analysis/forecast downsample to at most LW_STATS_MAX_POINTS).
 */
#ifndef LW_STATS_H
#define LW_STATS_H

#include <stddef.h>

#define LW_STATS_MAX_POINTS 512

/* Median of v[0..n) (n >= 1); v is reordered. */
double lw_median(double *v, size_t n);
/* Median absolute deviation around the median, unscaled; v is reordered. */
double lw_mad(double *v, size_t n);
/* Quantile q in [0,1] by linear interpolation; v is reordered. */
double lw_quantile(double *v, size_t n, double q);

/* Robust noise of a series around a line of slope b, from its consecutive
 * differences: 1.4826 MAD(d) / sqrt 2 with d_i = (y_i - y_{i-1}) -
 * b (t_i - t_{i-1}). Slow curvature cancels out of the differences, so the
 * bend of a warm-up or of a rise that turned is not taken for noise.
 * scratch holds n - 1 doubles; 0 when n < 2. */
double lw_diff_sigma(const double *t, const double *y, size_t n, double b, double *scratch);

struct lw_trend {
    size_t n;
    double slope;        /* units per second (Theil-Sen) */
    double intercept;    /* at t = 0 of the supplied times (median of y - slope*t) */
    double slope_lo;     /* ~90% confidence band of the slope (Sen's method) */
    double slope_hi;
    double mk_z;         /* Mann-Kendall z (positive = upward trend) */
    double resid_mad;    /* MAD of residuals, scaled by 1.4826 (robust sigma) */
    /* Added by the stats implementation (additive): the same line without
     * the precision loss of extrapolating to t = 0 from unix seconds:
     * y(t) = level_ref + slope * (t - t_ref), t_ref = first finite time. */
    double t_ref;
    double level_ref;
};

/* Fit a robust trend to (t[i], y[i]), i < n; t strictly increasing not
 * required but expected. n < 3 gives slope 0 and mk_z 0. Returns 0, or
 * LW_ENOMEM. */
int lw_trend_fit(const double *t, const double *y, size_t n, struct lw_trend *out);

/* Ordinary least squares (for the predict_linear baseline). */
void lw_ols(const double *t, const double *y, size_t n, double *slope, double *intercept);

/* Standard normal CDF. */
double lw_norm_cdf(double z);

#endif
