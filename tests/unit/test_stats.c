/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stats: order statistics against a sort-based reference, the normal
 * CDF against tabulated values, Theil-Sen / Sen band / Mann-Kendall against
 * hand-derived values and against their statistical promises (coverage of
 * the 90% band, robustness to outliers), on synthetic data from a seeded
 * PRNG (the math is what is under test).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "stats/stats.h"

static uint64_t rng_state;
static double urand(void) /* splitmix64 -> [0,1) */
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}
static double nrand(void)
{
    double u1 = urand(), u2 = urand();
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* reference quantile on a sorted copy, same interpolation rule (R type 7) */
static double ref_quantile(const double *v, size_t n, double q)
{
    double *c = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        c[i] = v[i];
    qsort(c, n, sizeof(double), cmpd);
    double pos = q * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    double r = k + 1 < n ? c[k] + (pos - (double)k) * (c[k + 1] - c[k]) : c[n - 1];
    free(c);
    return r;
}

TEST(test_median_small)
{
    double a[] = {5, 1, 3};
    CHECK_NEAR(lw_median(a, 3), 3.0, 0);
    double b[] = {4, 1, 3, 2};
    CHECK_NEAR(lw_median(b, 4), 2.5, 1e-12);
    double c[] = {7};
    CHECK_NEAR(lw_median(c, 1), 7.0, 0);
    double d[] = {2, 2, 2, 2, 2, 1, 2};
    CHECK_NEAR(lw_median(d, 7), 2.0, 0);
    CHECK_NEAR(lw_median(NULL, 0), 0.0, 0);
}

TEST(test_quantile_vs_sort)
{
    rng_state = 42;
    static double v[1001], w[1001];
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 1 + (size_t)(urand() * 1000);
        for (size_t i = 0; i < n; i++) {
            /* mix of continuous values and heavy ties */
            v[i] = trial % 3 == 0 ? floor(urand() * 5) : nrand() * 1e6;
        }
        double q = trial % 7 == 0 ? 0.0 : trial % 11 == 0 ? 1.0 : urand();
        double ref = ref_quantile(v, n, q);
        for (size_t i = 0; i < n; i++)
            w[i] = v[i];
        double got = lw_quantile(w, n, q);
        CHECK_NEAR(got, ref, 1e-9 * (1 + fabs(ref)));
    }
    /* sorted and reverse-sorted inputs (pivot choice must not degrade) */
    static double big[100000];
    for (size_t i = 0; i < 100000; i++)
        big[i] = (double)i;
    CHECK_NEAR(lw_median(big, 100000), 49999.5, 1e-9);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (double)(100000 - i);
    CHECK_NEAR(lw_quantile(big, 100000, 0.9), 90000.1, 1e-6);
    /* q outside [0,1] is clamped */
    double e[] = {3, 1, 2};
    CHECK_NEAR(lw_quantile(e, 3, -1), 1.0, 0);
    CHECK_NEAR(lw_quantile(e, 3, 2), 3.0, 0);
}

TEST(test_quantile_nan_terminates)
{
    /* NaN is documented as unspecified, but it must terminate and stay in bounds */
    double v[] = {1, NAN, 3, NAN, 2, 5, NAN};
    double r = lw_median(v, 7);
    (void)r;
    CHECK(1);
}

TEST(test_mad)
{
    double a[] = {1, 2, 3, 4, 100};
    /* median 3, deviations 2,1,0,1,97 -> median 1 */
    CHECK_NEAR(lw_mad(a, 5), 1.0, 0);
    rng_state = 7;
    static double g[20000];
    for (size_t i = 0; i < 20000; i++)
        g[i] = 10.0 + 2.0 * nrand();
    /* 1.4826 * MAD estimates sigma for Gaussian data */
    CHECK_NEAR(1.4826 * lw_mad(g, 20000), 2.0, 0.06);
}

TEST(test_diff_sigma)
{
    /* a line of slope 2 plus noise of +-1 alternating: consecutive
     * differences are 2 +- 2, i.e. +-2 around the line, so MAD 2 and sigma
     * 1.4826 * 2 / sqrt 2 whatever the slope or the level */
    double t[9], y[9], w[8];
    for (int i = 0; i < 9; i++) {
        t[i] = 1764000000.0 + 5.0 * i;
        y[i] = 1e6 + 2.0 * (t[i] - t[0]) + (i % 2 ? 1.0 : -1.0);
    }
    CHECK_NEAR(lw_diff_sigma(t, y, 9, 2.0, w), 1.4826 * 2.0 / sqrt(2.0), 1e-9);
    /* a bend alone (slope 0 at first, 4 after) is not noise: the
     * differences are 0 or 20, their median 0, MAD 0 */
    for (int i = 0; i < 9; i++)
        y[i] = i < 6 ? 0.0 : 20.0 * (i - 5);
    CHECK_NEAR(lw_diff_sigma(t, y, 9, 0.0, w), 0.0, 1e-12);
    CHECK_NEAR(lw_diff_sigma(t, y, 1, 0.0, w), 0.0, 0.0);
}

TEST(test_norm_cdf)
{
    CHECK_NEAR(lw_norm_cdf(0), 0.5, 1e-15);
    CHECK_NEAR(lw_norm_cdf(1.959963984540054), 0.975, 1e-12);
    CHECK_NEAR(lw_norm_cdf(-1.6448536269514722), 0.05, 1e-12);
    CHECK_NEAR(lw_norm_cdf(3.0), 0.9986501019683699, 1e-12);
    CHECK_NEAR(lw_norm_cdf(-40), 0.0, 1e-300);
    CHECK_NEAR(lw_norm_cdf(40), 1.0, 0);
    CHECK_NEAR(lw_norm_cdf(NAN), 0.5, 0);
}

TEST(test_ols)
{
    double t[] = {1.8e9, 1.8e9 + 10, 1.8e9 + 20, 1.8e9 + 30};
    double y[4];
    for (int i = 0; i < 4; i++)
        y[i] = 1000.0 + 3.5 * (t[i] - 1.8e9);
    double s, b;
    lw_ols(t, y, 4, &s, &b);
    CHECK_NEAR(s, 3.5, 1e-9);
    CHECK_NEAR(b + s * 1.8e9, 1000.0, 1e-3);
    /* least squares on a tiny example: (0,0),(1,1),(2,1) -> slope 0.5, intercept 1/6 */
    double t2[] = {0, 1, 2}, y2[] = {0, 1, 1};
    lw_ols(t2, y2, 3, &s, &b);
    CHECK_NEAR(s, 0.5, 1e-12);
    CHECK_NEAR(b, 1.0 / 6.0, 1e-12);
    /* degenerate: one point, or all at one time */
    double t3[] = {5, 5}, y3[] = {1, 3};
    lw_ols(t3, y3, 2, &s, &b);
    CHECK_NEAR(s, 0.0, 0);
    CHECK_NEAR(b, 2.0, 1e-12);
}

TEST(test_trend_exact_line_unix_time)
{
    enum { N = 200 };
    double t[N], y[N];
    for (int i = 0; i < N; i++) {
        t[i] = 1.8e9 + 15.0 * i;
        y[i] = 50e6 + 1234.5 * 15.0 * i;
    }
    struct lw_trend tr;
    CHECK_EQ_INT(lw_trend_fit(t, y, N, &tr), 0);
    CHECK_EQ_INT(tr.n, N);
    CHECK_NEAR(tr.slope, 1234.5, 1e-9);
    CHECK_NEAR(tr.slope_lo, 1234.5, 1e-9);
    CHECK_NEAR(tr.slope_hi, 1234.5, 1e-9);
    CHECK_NEAR(tr.t_ref, 1.8e9, 0);
    CHECK_NEAR(tr.level_ref, 50e6, 1e-6);
    CHECK_NEAR(tr.intercept + tr.slope * 1.8e9, 50e6, 1.0);
    CHECK_NEAR(tr.resid_mad, 0.0, 1e-6);
    /* strictly monotone: S = n(n-1)/2, Var = n(n-1)(2n+5)/18, z = (S-1)/sqrt(Var) */
    double S = N * (N - 1) / 2.0, var = N * (N - 1.0) * (2.0 * N + 5.0) / 18.0;
    CHECK_NEAR(tr.mk_z, (S - 1) / sqrt(var), 1e-9);
}

TEST(test_trend_mk_small_hand)
{
    /* y = 1,3,2,4 : pairs (1,3)+ (1,2)+ (1,4)+ (3,2)- (3,4)+ (2,4)+ -> S = 4,
     * Var = 4*3*13/18 = 8.667, z = 3/sqrt(8.667) */
    double t[] = {0, 1, 2, 3}, y[] = {1, 3, 2, 4};
    struct lw_trend tr;
    CHECK_EQ_INT(lw_trend_fit(t, y, 4, &tr), 0);
    CHECK_NEAR(tr.mk_z, 3.0 / sqrt(4 * 3 * 13 / 18.0), 1e-12);
    /* slopes: 2, .5, 1, -1, .5, 2 -> sorted -1 .5 .5 1 2 2 -> median .75 */
    CHECK_NEAR(tr.slope, 0.75, 1e-12);
    /* ties: y = 1,1,2,2 -> S = 4 (the two cross pairs x2), tie groups of 2:
     * Var = (4*3*13 - 2*(2*1*9))/18 = (156 - 36)/18 = 6.667 */
    double y2[] = {1, 1, 2, 2};
    CHECK_EQ_INT(lw_trend_fit(t, y2, 4, &tr), 0);
    CHECK_NEAR(tr.mk_z, 3.0 / sqrt(120.0 / 18.0), 1e-12);
    /* constant series: Var = 0 -> z = 0, not NaN */
    double y3[] = {5, 5, 5, 5};
    CHECK_EQ_INT(lw_trend_fit(t, y3, 4, &tr), 0);
    CHECK_NEAR(tr.mk_z, 0.0, 0);
    CHECK_NEAR(tr.slope, 0.0, 0);
    CHECK_NEAR(tr.level_ref, 5.0, 0);
    /* decreasing: negative z */
    double y4[] = {4, 3, 2, 1};
    CHECK_EQ_INT(lw_trend_fit(t, y4, 4, &tr), 0);
    CHECK(tr.mk_z < -1.0);
    CHECK_NEAR(tr.slope, -1.0, 1e-12);
}

TEST(test_trend_few_points)
{
    double t[] = {0, 10}, y[] = {1, 5};
    struct lw_trend tr;
    CHECK_EQ_INT(lw_trend_fit(t, y, 2, &tr), 0);
    CHECK_NEAR(tr.slope, 0.0, 0);
    CHECK_NEAR(tr.mk_z, 0.0, 0);
    CHECK_EQ_INT(tr.n, 2);
    CHECK_EQ_INT(lw_trend_fit(t, y, 0, &tr), 0);
    CHECK_EQ_INT(tr.n, 0);
    CHECK_EQ_INT(lw_trend_fit(NULL, NULL, 5, &tr), 0);
    CHECK_EQ_INT(tr.n, 0);
}

TEST(test_trend_nonfinite_skipped)
{
    double t[] = {0, 1, NAN, 3, 4, 5, INFINITY, 7};
    double y[] = {0, 2, 4, NAN, 8, 10, 12, 14};
    struct lw_trend tr;
    CHECK_EQ_INT(lw_trend_fit(t, y, 8, &tr), 0);
    CHECK_EQ_INT(tr.n, 5);
    CHECK_NEAR(tr.slope, 2.0, 1e-12);
    CHECK(isfinite(tr.mk_z) && tr.mk_z > 0);
}

TEST(test_trend_outliers)
{
    /* 25% of points replaced by gross outliers: Theil-Sen stays close, OLS does not */
    enum { N = 120 };
    double t[N], y[N];
    rng_state = 99;
    for (int i = 0; i < N; i++) {
        t[i] = 30.0 * i;
        y[i] = 1e8 + 500.0 * t[i] + 2e5 * nrand();
        if (i % 4 == 1 && i > N / 2)
            y[i] += 5e7; /* late bursts */
    }
    struct lw_trend tr;
    CHECK_EQ_INT(lw_trend_fit(t, y, N, &tr), 0);
    double s_ols;
    lw_ols(t, y, N, &s_ols, NULL);
    CHECK_NEAR(tr.slope, 500.0, 100.0);
    CHECK(fabs(s_ols - 500.0) > 3 * fabs(tr.slope - 500.0));
    CHECK(tr.slope_lo <= tr.slope && tr.slope <= tr.slope_hi);
    CHECK(tr.mk_z > 5);
}

TEST(test_trend_sen_band_coverage)
{
    /* The 90% band should contain the true slope roughly 90% of the time. */
    enum { N = 40, TRIALS = 400 };
    double t[N], y[N];
    rng_state = 2024;
    int covered = 0;
    double zsum_flat = 0;
    int flat_sig = 0;
    for (int k = 0; k < TRIALS; k++) {
        for (int i = 0; i < N; i++) {
            t[i] = 1.7e9 + 60.0 * i;
            y[i] = 1e7 + 10.0 * (t[i] - 1.7e9) + 3000.0 * nrand();
        }
        struct lw_trend tr;
        CHECK_EQ_INT(lw_trend_fit(t, y, N, &tr), 0);
        if (tr.slope_lo <= 10.0 && 10.0 <= tr.slope_hi)
            covered++;
        /* pure noise: z ~ N(0,1); one-sided 5% test rejects ~5% */
        for (int i = 0; i < N; i++)
            y[i] = 1e7 + 3000.0 * nrand();
        CHECK_EQ_INT(lw_trend_fit(t, y, N, &tr), 0);
        zsum_flat += tr.mk_z;
        if (tr.mk_z > 1.6448536269514722)
            flat_sig++;
    }
    double cov = (double)covered / TRIALS;
    fprintf(stderr, "  sen band coverage %.3f, flat mean z %.3f, flat false-positive %.3f\n", cov,
            zsum_flat / TRIALS, (double)flat_sig / TRIALS);
    CHECK(cov >= 0.84 && cov <= 0.97);
    CHECK(fabs(zsum_flat / TRIALS) < 0.2);
    CHECK((double)flat_sig / TRIALS < 0.10);
}

TEST(test_trend_downsample)
{
    enum { N = 5000 };
    static double t[N], y[N];
    for (int i = 0; i < N; i++) {
        t[i] = 1.8e9 + 5.0 * i;
        y[i] = 2e6 + 77.0 * 5.0 * i + ((i % 10) == 3 ? 1e5 : 0.0);
    }
    struct lw_trend tr;
    CHECK_EQ_INT(lw_trend_fit(t, y, N, &tr), 0);
    CHECK_EQ_INT(tr.n, LW_STATS_MAX_POINTS);
    CHECK_NEAR(tr.slope, 77.0, 0.5);
    CHECK_NEAR(tr.t_ref, 1.8e9, 0); /* first point is kept */
}

TEST_LIST(T(test_median_small), T(test_quantile_vs_sort), T(test_quantile_nan_terminates),
          T(test_mad), T(test_diff_sigma), T(test_norm_cdf), T(test_ols), T(test_trend_exact_line_unix_time),
          T(test_trend_mk_small_hand), T(test_trend_few_points), T(test_trend_nonfinite_skipped),
          T(test_trend_outliers), T(test_trend_sen_band_coverage), T(test_trend_downsample));
TEST_MAIN()
