/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_forecast: the OOM forecast on synthetic memory series generated here
 * from a seeded PRNG (the math is what is under test; real services are
 * scored by bench/). Each series is a process simulated on a 5 s grid
 * (trend + Go GC sawtooth + Gaussian noise); the "kernel" kills it at the
 * first grid value >= the limit (the first touch: on real kills the
 * cgroup's max_usage equals the limit every time, docs/evaluation.md D3);
 * the monitor samples every 15 s (or gen.dt), so it misses most peaks.
 *
 * Covered: linear leak with sawtooth and noise (single evaluations and a
 * live replay: lead time of the first warning and error of the predicted
 * kill time), heap-proportional sawtooth, decelerating (sqrt) and
 * accelerating (quadratic) growth, warm-up plateau, bursts, flat near the
 * limit, steady churn, restart drop, too few points, no limit, NaN and
 * negative points, already above the limit, unsorted input, garbage input.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forecast/forecast.h"
#include "harness.h"

#define MiB (1024.0 * 1024.0)
#define T0 1.8e9

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

enum shape { LINEAR, LINEAR_INIT, HEAP_PROP, SQRT, QUAD, WARMUP, BURSTS, FLAT, DIURNAL, LATE,
             WARMUP_LEAK };

struct gen {
    enum shape shape;
    double base, rate;   /* bytes, bytes/s (or shape parameter) */
    double saw, period;  /* GC sawtooth amplitude (bytes, or share for HEAP_PROP) and period */
    double noise;        /* sd of per-grid noise */
    double limit;
    double dur;          /* seconds to simulate */
    double dt;           /* sampling interval (0 = 15 s) */
    int kill_peak;       /* which estimate a replay scores: 0 the expected kill (`at`: the
                          * line plus the excursions, docs/forecast.md §3.4), 1 the
                          * envelope's (seconds_env: a sawtooth that grows with the heap,
                          * which the excursions of the past understate) */
};

static double saw01(double t, double period, double phase)
{
    return fmod(t + phase, period) / period;
}

static double model_at(const struct gen *g, double t, double phase, double s);
static double model(const struct gen *g, double t, double phase)
{
    return model_at(g, t, phase, saw01(t, g->period, phase));
}
/* s = position in the sawtooth (0..1); 0.5 gives the sustained level */
static double model_at(const struct gen *g, double t, double phase, double s)
{
    switch (g->shape) {
    case LINEAR:
        return g->base + g->rate * t + g->saw * s;
    case LINEAR_INIT: /* process start-up: base reached over 30 s, then linear */
        return g->base * (t < 30.0 ? t / 30.0 : 1.0) + 2 * MiB + g->rate * t + g->saw * s;
    case HEAP_PROP:
        return (g->base + g->rate * t) * (1.0 + g->saw * s);
    case SQRT:
        return g->base + g->rate * sqrt(t) + g->saw * s;
    case QUAD:
        return g->base + g->rate * t * t + g->saw * s;
    case WARMUP: /* exponential approach to base + rate, time constant 10 min */
        return g->base + g->rate * (1.0 - exp(-t / 600.0)) + g->saw * s;
    case BURSTS: { /* every ~60 s a burst of rate bytes for 10 s */
        double x = fmod(t + phase * 7.0, 61.0);
        return g->base + (x < 10.0 ? g->rate : 0.0) + g->saw * s;
    }
    case FLAT:
        return g->base + g->saw * s;
    case LATE: /* flat for 1 h, then a linear leak */
        return g->base + (t > 3600.0 ? g->rate * (t - 3600.0) : 0.0) + g->saw * s;
    case WARMUP_LEAK: /* a 100 MiB cache filling (time constant 10 min), and a slow leak */
        return g->base + 100 * MiB * (1.0 - exp(-t / 600.0)) + g->rate * t + g->saw * s;
    case DIURNAL: { /* leak rate follows a load of 1 + 0.35 sin: a 4-minute "day" */
        double w = 2.0 * M_PI / 240.0, ph = phase * 0.37;
        return g->base + g->rate * (t - 0.35 / w * (cos(w * t + ph) - cos(ph))) + g->saw * s;
    }
    }
    return 0.0;
}

/* Simulate: fills pts (sampled every 15 s up to the kill or g->dur) and
 * returns the number of samples; *kill = kill time (s from start) or -1. */
static size_t simulate(const struct gen *g, uint64_t seed, struct lw_mem_point *pts, size_t cap,
                       double *kill)
{
    rng_state = seed;
    double phase = urand() * g->period;
    *kill = -1.0;
    size_t n = 0;
    for (double t = 0.0; t <= g->dur; t += 5.0) {
        double nz = g->noise * nrand();
        double y = model(g, t, phase) + nz;
        if (y < 0.0)
            y = 0.0;
        if (g->limit > 0.0 && y >= g->limit) {
            *kill = t;
            break;
        }
        if (fmod(t, g->dt > 0 ? g->dt : 15.0) == 0.0 && n < cap) {
            pts[n].t = T0 + t;
            pts[n].bytes = y;
            n++;
        }
    }
    return n;
}

static struct lw_mem_point pts[8192];

static int all_finite(const struct lw_forecast *f)
{
    return isfinite(f->seconds_to_oom) && isfinite(f->at) && isfinite(f->seconds_lo) &&
           isfinite(f->seconds_hi) && isfinite(f->confidence) && isfinite(f->current_bytes) &&
           isfinite(f->growth_bytes_per_hour) && isfinite(f->limit_bytes) &&
           isfinite(f->peak_bytes) && isfinite(f->span_s) && isfinite(f->mk_z) &&
           isfinite(f->recent_growth_bytes_per_hour) && f->confidence >= 0.0 &&
           f->confidence <= 1.0 && f->seconds_to_oom >= 0.0 && f->seconds_lo >= 0.0 &&
           f->seconds_lo <= f->seconds_to_oom + 1e-6 && f->seconds_hi + 1e-6 >= f->seconds_to_oom &&
           memchr(f->reason, '\0', sizeof(f->reason)) != NULL && f->reason[0] != '\0';
}

static int fc(size_t n, double limit, double now, struct lw_forecast *out)
{
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    return lw_forecast_compute(pts, n, limit, now, &p, out);
}

/* A 2-hour linear leak: 60 MiB -> 256 MiB, 12 MiB GC sawtooth (37 s), 1.5 MiB noise. */
static const struct gen LEAK2H = {LINEAR, 60 * MiB, 180 * MiB / 7200, 12 * MiB, 37, 1.5 * MiB,
                                  256 * MiB, 5 * 3600, 0, 0};

TEST(test_names_defaults)
{
    CHECK_STR(lw_fc_state_name(LW_FC_INSUFFICIENT), "insufficient");
    CHECK_STR(lw_fc_state_name(LW_FC_FLAT), "flat");
    CHECK_STR(lw_fc_state_name(LW_FC_PLATEAU), "plateau");
    CHECK_STR(lw_fc_state_name(LW_FC_GROWING), "growing");
    CHECK_STR(lw_fc_state_name(LW_FC_NO_LIMIT), "no-limit");
    CHECK_STR(lw_mem_source_name(LW_MEM_NONE), "none");
    CHECK_STR(lw_mem_source_name(LW_MEM_CONTAINER), "container");
    CHECK_STR(lw_mem_source_name(LW_MEM_RUNTIME), "runtime");
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    CHECK_NEAR(p.min_span_s, 120, 0);
    CHECK_EQ_INT(p.min_points, 6);
    CHECK_NEAR(p.horizon_s, 7 * 86400, 0);
    CHECK_NEAR(p.min_confidence, 0.5, 0);
    CHECK_NEAR(p.recent_fraction, 0.33, 0);
}

TEST(test_linear_leak_single_evaluations)
{
    double kill;
    size_t n = simulate(&LEAK2H, 11, pts, 8192, &kill);
    CHECK(kill > 7000 && kill < 7600); /* the peaks (72 MiB + 25 KiB/s) touch 256 MiB at ~7,360 s */
    /* evaluate at 40%, 60%, 80% of the life with only the data up to then */
    const double fr[] = {0.4, 0.6, 0.8};
    for (size_t k = 0; k < 3; k++) {
        double tnow = fr[k] * kill;
        size_t m = 0;
        while (m < n && pts[m].t - T0 <= tnow)
            m++;
        struct lw_forecast f;
        CHECK_EQ_INT(fc(m, LEAK2H.limit, T0 + tnow, &f), 0);
        CHECK(all_finite(&f));
        CHECK_EQ_INT(f.state, LW_FC_GROWING);
        CHECK_EQ_INT(f.trend, LW_FC_GROWING);
        CHECK(f.predicted);
        double remain = kill - tnow;
        CHECK(fabs(f.seconds_to_oom - remain) <= 0.2 * remain);
        CHECK_NEAR(f.at, T0 + tnow + f.seconds_to_oom, 1e-3);
        /* growth close to the true 90 MiB/h */
        CHECK_NEAR(f.growth_bytes_per_hour / MiB, 90.0, 13.5);
        CHECK(f.seconds_lo <= f.seconds_to_oom && f.seconds_to_oom <= f.seconds_hi);
        CHECK(f.confidence >= 0.5);
        CHECK(f.peak_bytes > f.current_bytes); /* the envelope is above the level */
        CHECK(strstr(f.reason, "reach the limit") != NULL);
    }
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* What a replay of a leak as if live measured: lead share; worst error
 * relative to the time left (while >= 10% of the life is left), and its
 * median; worst error relative to the life; steps that withdrew the warning. */
struct replay_res {
    double lead, err_left, median_err, err_life;
    int withdrawn;
};

/* Replay a leak as if live and print one line about it. */
static struct replay_res replay(const char *name, const struct gen *g, uint64_t seed)
{
    static double errs[8192];
    struct replay_res r = {0, 0, 0, 0, 0};
    size_t nerr = 0;
    double kill;
    size_t n = simulate(g, seed, pts, 8192, &kill);
    double first = -1;
    CHECK(kill > 0);
    for (size_t m = 1; m <= n; m++) {
        double tnow = pts[m - 1].t - T0;
        struct lw_forecast f;
        if (fc(m, g->limit, pts[m - 1].t, &f) != 0) {
            CHECK(0);
            return r;
        }
        CHECK(all_finite(&f));
        if (!f.predicted) {
            if (first >= 0)
                r.withdrawn++;
            continue;
        }
        if (first < 0)
            first = tnow;
        /* the estimate that models this kill: the line's (expected) or the
         * envelope's (earliest) */
        double at = g->kill_peak ? pts[m - 1].t + f.seconds_env : f.at;
        CHECK(f.seconds_lo <= f.seconds_env + 1e-6);
        double e_life = fabs(at - T0 - kill) / kill;
        if (e_life > r.err_life)
            r.err_life = e_life;
        double remain = kill - tnow;
        if (remain >= 0.1 * kill) {
            double e = fabs(at - T0 - kill) / remain;
            if (e > r.err_left)
                r.err_left = e;
            errs[nerr++] = e;
        }
    }
    if (first >= 0)
        r.lead = (kill - first) / kill;
    if (nerr) {
        qsort(errs, nerr, sizeof(double), cmpd);
        r.median_err = errs[nerr / 2];
    }
    fprintf(stderr, "  %s seed %d: lead %.1f%% of life, median err %.1f%% / max %.1f%% of time "
                    "left, %.1f%% of life, withdrawn %d steps\n",
            name, (int)seed, 100 * r.lead, 100 * r.median_err, 100 * r.err_left,
            100 * r.err_life, r.withdrawn);
    return r;
}

TEST(test_replay_linear_leak)
{
    /* Acceptance figures: first warning >= 50% of the life before the kill,
     * predicted kill time within 20% of the time left at every later step
     * (while >= 10% of the life is left: closer to the kill the noise of
     * the kill time itself exceeds 20% of what is left). */
    const uint64_t seeds[] = {1, 2, 3};
    for (size_t i = 0; i < 3; i++) {
        struct replay_res r = replay("linear 2h", &LEAK2H, seeds[i]);
        CHECK(r.lead >= 0.5);
        CHECK(r.err_left <= 0.2);
        CHECK(r.err_life <= 0.1);
    }
}

TEST(test_replay_short_lived_with_startup)
{
    /* Like the bench corpus: 5 s samples, a start-up jump to ~14 MiB in the
     * first 30 s, then a leak that reaches a 96 MiB limit in ~8.5 min. */
    const struct gen g = {LINEAR_INIT, 12 * MiB, 80 * MiB / 510, 3 * MiB, 7, 1 * MiB, 96 * MiB,
                          1800, 5, 0};
    const uint64_t seeds[] = {1, 2, 3, 4};
    for (size_t i = 0; i < 4; i++) {
        struct replay_res r = replay("short-lived", &g, seeds[i]);
        CHECK(r.lead >= 0.5);
        CHECK(r.median_err <= 0.2);
        CHECK(r.err_life <= 0.15);
    }
}

TEST(test_replay_diurnal_load)
{
    /* Like the bench corpus: the leak rate follows a load that swings
     * +-35% over a compressed 4-minute day; 5 s samples; killed in ~8 min.
     * The kill time comes from the line through the whole history (the
     * average over the cycles seen), not from the recent rate. */
    const struct gen g = {DIURNAL, 14 * MiB, 80 * MiB / 480, 3 * MiB, 7, 1 * MiB, 96 * MiB,
                          1800, 5, 0};
    const uint64_t seeds[] = {1, 2, 3, 4, 5, 6};
    for (size_t i = 0; i < 6; i++) {
        struct replay_res r = replay("diurnal", &g, seeds[i]);
        CHECK(r.lead >= 0.5);
        CHECK(r.median_err <= 0.2);
    }
}

TEST(test_expected_kill_after_earliest)
{
    /* A linear leak with a large sawtooth: the expected kill (the line)
     * comes after the earliest (the envelope), and both are reported. */
    double kill;
    size_t n = simulate(&LEAK2H, 12, pts, 8192, &kill);
    CHECK(kill > 0);
    size_t m = (size_t)(n * 0.6);
    struct lw_forecast f;
    CHECK_EQ_INT(fc(m, LEAK2H.limit, pts[m - 1].t, &f), 0);
    CHECK(all_finite(&f));
    CHECK(f.predicted);
    CHECK(f.line_bytes > 0.0);
    CHECK(f.line_bytes < f.peak_bytes);
    CHECK(f.seconds_env < f.seconds_to_oom);
    CHECK(f.seconds_lo <= f.seconds_env + 1e-6);
    /* the line's level is the sustained one: within the noise of the mean */
    double tnow = pts[m - 1].t - T0;
    double mean = LEAK2H.base + LEAK2H.rate * tnow + LEAK2H.saw * 0.5;
    CHECK_NEAR(f.line_bytes / MiB, mean / MiB, 3.0);
    /* the kill is expected at the line plus the 0.9 quantile of the
     * samples' excursions: here a 12 MiB sawtooth (uniform +-6 MiB about
     * its mean) plus 1.5 MiB noise, whose 0.9 quantile is 5.0 MiB */
    CHECK_NEAR(f.kill_margin_bytes / MiB, 5.0, 1.0);
    CHECK(f.line_bytes + f.kill_margin_bytes < LEAK2H.limit);
    CHECK(strstr(f.reason, "excursions reach the limit") != NULL);
}

TEST(test_replay_heap_proportional_sawtooth)
{
    /* runtime-heap-like: live heap grows, the GC peak is 1.5x live */
    const struct gen g = {HEAP_PROP, 30 * MiB, 80 * MiB / 3600, 0.5, 47, 1 * MiB, 256 * MiB,
                          6 * 3600, 0, 1};
    struct replay_res r = replay("heap-proportional", &g, 5);
    CHECK(r.lead >= 0.5);
    CHECK(r.err_left <= 0.2);
}

TEST(test_replay_slow_noisy_leak)
{
    /* 6 h life, 20 MiB sawtooth at 110 s, 4 MiB noise */
    const struct gen g = {LINEAR, 60 * MiB, 180 * MiB / 21600, 20 * MiB, 110, 4 * MiB, 256 * MiB,
                          12 * 3600, 0, 0};
    struct replay_res r = replay("slow noisy", &g, 3);
    CHECK(r.lead >= 0.5);
    CHECK(r.err_life <= 0.15);
}

TEST(test_sqrt_growth_documented)
{
    /* Documented behaviour: growth that keeps slowing down (sqrt) looks like
     * a warm-up: GROWING but with the deceleration lowering the agreement
     * factor, so no confident prediction far ahead. */
    const struct gen g = {SQRT, 40 * MiB, 190 * MiB / 120.0, 10 * MiB, 61, 1.5 * MiB, 256 * MiB,
                          3 * 3600, 0, 0};
    double kill;
    size_t n = simulate(&g, 4, pts, 8192, &kill);
    CHECK(kill < 0); /* not killed within 3 h */
    struct lw_forecast f;
    CHECK_EQ_INT(fc(n, g.limit, pts[n - 1].t, &f), 0);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(f.trend, LW_FC_GROWING);
    CHECK(f.conf_agree < 0.5);
    CHECK(!f.predicted);
}

TEST(test_accelerating_growth_documented)
{
    /* Quadratic growth: warned, but later than a linear leak, because the
     * straight line underestimates the current rate; once the recent slope
     * is clearly steeper it is used (the reason names the slope). */
    const struct gen g = {QUAD, 40 * MiB, 200 * MiB / (3.0 * 3600 * 3 * 3600), 10 * MiB, 61,
                          1.5 * MiB, 256 * MiB, 6 * 3600, 0, 0};
    struct replay_res r = replay("quadratic", &g, 6);
    CHECK(r.lead > 0.15); /* warned well before the kill ... */
    CHECK(r.lead < 0.5);  /* ... but later than a linear leak (documented) */
}

TEST(test_replay_late_start)
{
    /* Flat for an hour, then a leak that kills ~2 h later. The kill-time
     * line starts at the break in the growth regime (docs/forecast.md
     * §3.4), not at the start: a line through the flat hour too predicted
     * the kill up to ~100% of the time left too late. */
    const struct gen g = {LATE, 60 * MiB, 180 * MiB / 7200, 12 * MiB, 37, 1.5 * MiB, 256 * MiB,
                          6 * 3600, 0, 0};
    const uint64_t seeds[] = {1, 2, 3};
    for (size_t i = 0; i < 3; i++) {
        struct replay_res r = replay("late start", &g, seeds[i]);
        CHECK(r.lead > 0.3);
        CHECK(r.median_err <= 0.2);
        CHECK(r.err_left <= 0.3);
        /* the line starts near the onset (1 h) */
        double kill;
        size_t n = simulate(&g, seeds[i], pts, 8192, &kill);
        struct lw_forecast f;
        CHECK_EQ_INT(fc(n, g.limit, pts[n - 1].t, &f), 0);
        CHECK(f.predicted);
        CHECK_NEAR((f.line_since - T0) / 60.0, 60.0, 15.0);
    }
}

TEST(test_no_break_in_a_straight_or_swinging_leak)
{
    /* The break needs one side's slope at most a quarter of the other's
     * over at least a quarter of the history each: neither a straight leak
     * nor one whose rate swings +-35% with the load has one, so their
     * line keeps the whole history. */
    const struct gen d = {DIURNAL, 14 * MiB, 80 * MiB / 480, 3 * MiB, 7, 1 * MiB, 96 * MiB,
                          1800, 5, 0};
    const struct gen *gs[] = {&LEAK2H, &d};
    int warned = 0;
    for (size_t gi = 0; gi < 2; gi++)
        for (uint64_t seed = 1; seed <= 6; seed++) {
            double kill;
            size_t n = simulate(gs[gi], seed, pts, 8192, &kill);
            for (size_t m = 1; m <= n; m++) {
                struct lw_forecast f;
                CHECK_EQ_INT(fc(m, gs[gi]->limit, pts[m - 1].t, &f), 0);
                if (!f.predicted)
                    continue;
                warned++;
                if (f.line_bytes > 0.0 && f.line_since != pts[0].t) {
                    fprintf(stderr, "  shape %zu seed %d: line from %+.0f s at %.0f s\n", gi,
                            (int)seed, f.line_since - pts[0].t, pts[m - 1].t - T0);
                    CHECK(0);
                    m = n;
                }
            }
        }
    CHECK(warned > 100);
}

TEST(test_leak_after_warmup_kill_time)
{
    /* A cache that fills 100 MiB in the first ~30 min, and a slow leak
     * (31.5 MiB/h) that kills after ~4 h. Once the warm-up is over (from
     * 2.5 h), the kill time is within 20% of the time left at every step:
     * the warm-up is too short a part of the history to bend the robust
     * line, and too short to be a break (docs/forecast.md §3.4); the
     * warning itself comes late here (§9). */
    const struct gen g = {WARMUP_LEAK, 30 * MiB, 126 * MiB / 14400, 8 * MiB, 37, 1.5 * MiB,
                          256 * MiB, 8 * 3600, 0, 0};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double kill;
        size_t n = simulate(&g, seed, pts, 8192, &kill);
        CHECK(kill > 3 * 3600);
        int scored = 0;
        double worst = 0.0;
        for (size_t m = 1; m <= n; m++) {
            double tnow = pts[m - 1].t - T0, remain = kill - tnow;
            if (tnow < 9000.0 || remain < 0.1 * kill)
                continue;
            struct lw_forecast f;
            CHECK_EQ_INT(fc(m, g.limit, pts[m - 1].t, &f), 0);
            if (f.trend != LW_FC_GROWING || !(f.line_bytes > 0.0))
                continue;
            scored++;
            double e = fabs(f.at - T0 - kill) / remain;
            if (e > worst)
                worst = e;
        }
        fprintf(stderr, "  leak after warm-up seed %d: %d steps, worst err %.1f%% of time left\n",
                (int)seed, scored, 100 * worst);
        CHECK(scored > 100);
        CHECK(worst <= 0.2);
    }
}

/* Replays a healthy series; returns how many steps predicted an OOM. */
static int replay_healthy(const struct gen *g, uint64_t seed, struct lw_forecast *last)
{
    double kill;
    size_t n = simulate(g, seed, pts, 8192, &kill);
    CHECK(kill < 0);
    int alarms = 0;
    for (size_t m = 1; m <= n; m++) {
        struct lw_forecast f;
        CHECK_EQ_INT(fc(m, g->limit, pts[m - 1].t, &f), 0);
        CHECK(all_finite(&f));
        alarms += f.predicted;
        *last = f;
    }
    return alarms;
}

TEST(test_warmup_plateau)
{
    /* 50 -> 150 MiB with a 10 min time constant, limit 256 MiB, 4 h */
    const struct gen g = {WARMUP, 50 * MiB, 100 * MiB, 10 * MiB, 41, 2 * MiB, 256 * MiB,
                          4 * 3600, 0, 0};
    double kill;
    size_t n = simulate(&g, 8, pts, 8192, &kill);
    int alarms_after = 0, plateau_after = 0, steps_after = 0;
    for (size_t m = 1; m <= n; m++) {
        double tnow = pts[m - 1].t - T0;
        struct lw_forecast f;
        CHECK_EQ_INT(fc(m, g.limit, pts[m - 1].t, &f), 0);
        CHECK(all_finite(&f));
        /* growth is over by ~5 time constants (50 min); the plateau then has
         * to outlast the recent window (a third of the history): t >= 75 min */
        if (tnow >= 75 * 60) {
            steps_after++;
            alarms_after += f.predicted;
            plateau_after += f.state == LW_FC_PLATEAU || f.state == LW_FC_FLAT;
        }
    }
    CHECK_EQ_INT(alarms_after, 0);
    CHECK_EQ_INT(plateau_after, steps_after);
    struct lw_forecast f;
    CHECK_EQ_INT(fc(n, g.limit, pts[n - 1].t, &f), 0);
    CHECK(f.state == LW_FC_PLATEAU || f.state == LW_FC_FLAT);
    CHECK(!f.predicted);
    CHECK_NEAR(f.current_bytes / MiB, 155, 10); /* level of the plateau */
}

TEST(test_warmup_plateau_state)
{
    /* A warm-up observed long enough after it levelled off is PLATEAU:
     * significant growth over the history, none in the recent window. */
    const struct gen g = {WARMUP, 50 * MiB, 100 * MiB, 4 * MiB, 41, 1 * MiB, 256 * MiB, 7200, 0, 0};
    double kill;
    size_t n = simulate(&g, 9, pts, 8192, &kill);
    /* at 1 h: 6 time constants in, plateau for ~30 min > recent third (20 min) */
    size_t m = 0;
    while (m < n && pts[m].t - T0 <= 3600)
        m++;
    struct lw_forecast f;
    CHECK_EQ_INT(fc(m, g.limit, pts[m - 1].t, &f), 0);
    CHECK_EQ_INT(f.state, LW_FC_PLATEAU);
    CHECK(!f.predicted);
    CHECK(fabs(f.recent_growth_bytes_per_hour) < 0.2 * 100 * MiB);
}

TEST(test_bursts_return_to_baseline)
{
    const struct gen g = {BURSTS, 80 * MiB, 60 * MiB, 8 * MiB, 41, 3 * MiB, 256 * MiB, 3 * 3600, 0, 0};
    struct lw_forecast last;
    int alarms = replay_healthy(&g, 12, &last);
    CHECK_EQ_INT(alarms, 0);
    CHECK(last.state == LW_FC_FLAT);
}

TEST(test_flat_near_limit)
{
    /* saws between ~80% and ~88% of the limit, forever */
    const struct gen g = {FLAT, 205 * MiB, 0, 20 * MiB, 23, 2 * MiB, 256 * MiB, 3 * 3600, 0, 0};
    struct lw_forecast last;
    int alarms = replay_healthy(&g, 13, &last);
    CHECK_EQ_INT(alarms, 0);
    CHECK(last.state == LW_FC_FLAT);
    CHECK(last.peak_bytes > 0.85 * 256 * MiB && last.peak_bytes < 256 * MiB);
}

TEST(test_steady_churn)
{
    const struct gen g = {FLAT, 120 * MiB, 0, 40 * MiB, 41, 3 * MiB, 256 * MiB, 3 * 3600, 0, 0};
    struct lw_forecast last;
    int alarms = replay_healthy(&g, 14, &last);
    CHECK_EQ_INT(alarms, 0);
    CHECK(last.state == LW_FC_FLAT);
    CHECK(fabs(last.growth_bytes_per_hour) < 5 * MiB);
}

TEST(test_restart_drop)
{
    /* 70 min of leak up to ~200 MiB, a restart back to 60 MiB, 40 min more */
    double kill;
    size_t n1 = simulate(&LEAK2H, 21, pts, 8192, &kill);
    size_t cut = 0;
    while (cut < n1 && pts[cut].t - T0 < 70 * 60)
        cut++;
    static struct lw_mem_point post[4096];
    size_t n2 = simulate(&LEAK2H, 22, post, 4096, &kill);
    size_t m2 = 0;
    while (m2 < n2 && post[m2].t - T0 < 40 * 60)
        m2++;
    for (size_t i = 0; i < m2; i++) {
        pts[cut + i].t = post[i].t + 70 * 60 + 15;
        pts[cut + i].bytes = post[i].bytes;
    }
    size_t n = cut + m2;
    struct lw_forecast f, g;
    CHECK_EQ_INT(fc(n, LEAK2H.limit, pts[n - 1].t, &f), 0);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(f.npoints, m2);
    /* same answer as passing only the points since the restart */
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    CHECK_EQ_INT(lw_forecast_compute(pts + cut, m2, LEAK2H.limit, pts[n - 1].t, &p, &g), 0);
    CHECK_EQ_INT(f.state, g.state);
    CHECK_NEAR(f.seconds_to_oom, g.seconds_to_oom, 1e-6);
    CHECK_NEAR(f.confidence, g.confidence, 1e-12);
    CHECK_EQ_INT(f.state, LW_FC_GROWING);
    /* a single low outlier is not a restart */
    pts[n - 40].bytes = 1 * MiB;
    CHECK_EQ_INT(fc(n, LEAK2H.limit, pts[n - 1].t, &f), 0);
    CHECK_EQ_INT(f.npoints, m2);
    pts[cut + 100].bytes = 1 * MiB;
    CHECK_EQ_INT(fc(n, LEAK2H.limit, pts[n - 1].t, &f), 0);
    CHECK_EQ_INT(f.npoints, m2);
}

TEST(test_insufficient)
{
    struct lw_forecast f;
    /* too few points */
    for (int i = 0; i < 5; i++) {
        pts[i].t = T0 + 100.0 * i;
        pts[i].bytes = 1e8 + 1e6 * i;
    }
    CHECK_EQ_INT(fc(5, 256 * MiB, T0 + 400, &f), 0);
    CHECK_EQ_INT(f.state, LW_FC_INSUFFICIENT);
    CHECK(!f.predicted);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(f.npoints, 5);
    /* enough points, too short a span (12 x 10 s = 110 s < 120 s) */
    for (int i = 0; i < 20; i++) {
        pts[i].t = T0 + 10.0 * i;
        pts[i].bytes = 1e8 + 1e6 * i;
    }
    CHECK_EQ_INT(fc(12, 256 * MiB, T0 + 110, &f), 0);
    CHECK_EQ_INT(f.state, LW_FC_INSUFFICIENT);
    CHECK(strstr(f.reason, "need") != NULL);
    CHECK_NEAR(f.current_bytes, 1e8 + 5.5e6, 1e-3);
    /* one more sample reaches 120 s: a trend */
    CHECK_EQ_INT(fc(13, 256 * MiB, T0 + 120, &f), 0);
    CHECK(f.state != LW_FC_INSUFFICIENT);
    /* empty / NULL input */
    CHECK_EQ_INT(fc(0, 256 * MiB, T0, &f), 0);
    CHECK_EQ_INT(f.state, LW_FC_INSUFFICIENT);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(lw_forecast_compute(NULL, 10, 256 * MiB, T0, NULL, &f), 0);
    CHECK_EQ_INT(f.state, LW_FC_INSUFFICIENT);
    CHECK(lw_forecast_compute(pts, 20, 256 * MiB, T0, NULL, NULL) != 0);
    /* all points at one instant */
    for (int i = 0; i < 20; i++)
        pts[i].t = T0;
    CHECK_EQ_INT(fc(20, 256 * MiB, T0, &f), 0);
    CHECK_EQ_INT(f.state, LW_FC_INSUFFICIENT);
}

TEST(test_no_limit)
{
    double kill;
    struct gen g = LEAK2H;
    g.limit = 0; /* the simulation never kills */
    g.dur = 3600;
    size_t n = simulate(&g, 31, pts, 8192, &kill);
    const double limits[] = {0.0, -5.0, NAN, INFINITY};
    for (size_t i = 0; i < 4; i++) {
        struct lw_forecast f;
        CHECK_EQ_INT(fc(n, limits[i], pts[n - 1].t, &f), 0);
        CHECK(all_finite(&f));
        CHECK_EQ_INT(f.state, LW_FC_NO_LIMIT);
        CHECK_EQ_INT(f.trend, LW_FC_GROWING);
        CHECK(!f.predicted);
        CHECK_NEAR(f.limit_bytes, 0, 0);
        CHECK_NEAR(f.growth_bytes_per_hour / MiB, 90, 15);
        CHECK(strstr(f.reason, "no memory limit") != NULL);
    }
}

TEST(test_nonfinite_and_negative_points_ignored)
{
    double kill;
    size_t n = simulate(&LEAK2H, 41, pts, 8192, &kill);
    size_t m = 0;
    while (m < n && pts[m].t - T0 <= 3600)
        m++;
    struct lw_forecast clean, dirty;
    CHECK_EQ_INT(fc(m, LEAK2H.limit, pts[m - 1].t, &clean), 0);
    /* interleave junk: NaN/inf bytes, NaN/inf times, negative bytes, future points */
    static struct lw_mem_point mix[8192];
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        mix[k++] = pts[i];
        if (i % 7 == 0)
            mix[k++] = (struct lw_mem_point){pts[i].t + 1, NAN};
        if (i % 11 == 0)
            mix[k++] = (struct lw_mem_point){NAN, 1e8};
        if (i % 13 == 0)
            mix[k++] = (struct lw_mem_point){pts[i].t + 2, -5e7};
        if (i % 17 == 0)
            mix[k++] = (struct lw_mem_point){INFINITY, INFINITY};
        if (i % 19 == 0)
            mix[k++] = (struct lw_mem_point){pts[i].t + 3, -INFINITY};
    }
    mix[k++] = (struct lw_mem_point){pts[m - 1].t + 1000, 5e8}; /* after `now`: ignored */
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    CHECK_EQ_INT(lw_forecast_compute(mix, k, LEAK2H.limit, pts[m - 1].t, &p, &dirty), 0);
    CHECK(all_finite(&dirty));
    CHECK_EQ_INT(dirty.npoints, clean.npoints);
    CHECK_EQ_INT(dirty.state, clean.state);
    CHECK_NEAR(dirty.seconds_to_oom, clean.seconds_to_oom, 1e-6);
    CHECK_NEAR(dirty.confidence, clean.confidence, 1e-12);
    /* all junk */
    for (size_t i = 0; i < 50; i++)
        mix[i] = (struct lw_mem_point){NAN, -1};
    CHECK_EQ_INT(lw_forecast_compute(mix, 50, LEAK2H.limit, T0, &p, &dirty), 0);
    CHECK_EQ_INT(dirty.state, LW_FC_INSUFFICIENT);
    CHECK_EQ_INT(dirty.npoints, 0);
    CHECK(all_finite(&dirty));
}

TEST(test_already_above_limit)
{
    /* growing and the peak already past a limit set lower than the data */
    double kill;
    struct gen g = LEAK2H;
    g.limit = 0;
    g.dur = 3600;
    size_t n = simulate(&g, 51, pts, 8192, &kill);
    struct lw_forecast f;
    CHECK_EQ_INT(fc(n, 120 * MiB, pts[n - 1].t, &f), 0);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(f.state, LW_FC_GROWING);
    CHECK_NEAR(f.seconds_to_oom, 0, 0);
    CHECK(strstr(f.reason, "already at/above the limit") != NULL);
    CHECK(f.predicted);
    /* flat and held at the limit (GOMEMLIMIT): no prediction, but said */
    const struct gen h = {FLAT, 250 * MiB, 0, 4 * MiB, 23, 0.5 * MiB, 0, 3600, 0, 0};
    n = simulate(&h, 52, pts, 8192, &kill);
    CHECK_EQ_INT(fc(n, 252 * MiB, pts[n - 1].t, &f), 0);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(f.state, LW_FC_FLAT);
    CHECK(!f.predicted);
    CHECK(strstr(f.reason, "at/above the limit") != NULL);
}

TEST(test_unsorted_input_is_sorted)
{
    /* documented: the input is sorted (on a copy) when out of order */
    double kill;
    size_t n = simulate(&LEAK2H, 61, pts, 8192, &kill);
    size_t m = 0;
    while (m < n && pts[m].t - T0 <= 3000)
        m++;
    struct lw_forecast a, b;
    CHECK_EQ_INT(fc(m, LEAK2H.limit, pts[m - 1].t, &a), 0);
    static struct lw_mem_point sh[8192];
    memcpy(sh, pts, m * sizeof(*sh));
    rng_state = 99;
    for (size_t i = m - 1; i > 0; i--) {
        size_t j = (size_t)(urand() * (double)(i + 1));
        struct lw_mem_point tmp = sh[i];
        sh[i] = sh[j];
        sh[j] = tmp;
    }
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    CHECK_EQ_INT(lw_forecast_compute(sh, m, LEAK2H.limit, pts[m - 1].t, &p, &b), 0);
    CHECK_EQ_INT(a.state, b.state);
    CHECK_EQ_INT(a.npoints, b.npoints);
    CHECK_NEAR(a.seconds_to_oom, b.seconds_to_oom, 1e-9);
    CHECK_NEAR(a.confidence, b.confidence, 1e-12);
    CHECK_STR(a.reason, b.reason);
}

TEST(test_now_handling_and_params)
{
    double kill;
    size_t n = simulate(&LEAK2H, 71, pts, 8192, &kill);
    size_t m = 0;
    while (m < n && pts[m].t - T0 <= 3000)
        m++;
    struct lw_forecast a, b;
    /* now = 0 / NaN means "at the last sample" */
    CHECK_EQ_INT(fc(m, LEAK2H.limit, pts[m - 1].t, &a), 0);
    CHECK_EQ_INT(fc(m, LEAK2H.limit, 0, &b), 0);
    CHECK_NEAR(a.at, b.at, 1e-6);
    CHECK_EQ_INT(fc(m, LEAK2H.limit, NAN, &b), 0);
    CHECK_NEAR(a.at, b.at, 1e-6);
    /* a later `now` (stale data) moves the level along the trend: the
     * predicted kill instant stays about the same */
    CHECK_EQ_INT(fc(m, LEAK2H.limit, pts[m - 1].t + 600, &b), 0);
    CHECK_NEAR(a.at, b.at, 0.05 * a.seconds_to_oom);
    CHECK_NEAR(b.seconds_to_oom, a.seconds_to_oom - 600, 0.05 * a.seconds_to_oom);
    /* a short horizon suppresses the prediction but not the estimate */
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    p.horizon_s = 600;
    CHECK_EQ_INT(lw_forecast_compute(pts, m, LEAK2H.limit, pts[m - 1].t, &p, &b), 0);
    CHECK(!b.predicted);
    CHECK_EQ_INT(b.state, LW_FC_GROWING);
    CHECK_NEAR(b.seconds_to_oom, a.seconds_to_oom, 1e-6);
    CHECK(strstr(b.reason, "horizon") != NULL);
    /* nonsense params fall back to defaults */
    p.horizon_s = NAN;
    p.min_confidence = -3;
    p.recent_fraction = 7;
    p.min_span_s = NAN;
    p.min_points = 0;
    CHECK_EQ_INT(lw_forecast_compute(pts, m, LEAK2H.limit, pts[m - 1].t, &p, &b), 0);
    CHECK_EQ_INT(b.predicted, a.predicted);
    CHECK_NEAR(b.seconds_to_oom, a.seconds_to_oom, 1e-6);
    /* extreme but valid params */
    p.recent_fraction = 1e-300;
    p.horizon_s = INFINITY;
    p.min_span_s = 0;
    CHECK_EQ_INT(lw_forecast_compute(pts, m, LEAK2H.limit, pts[m - 1].t, &p, &b), 0);
    CHECK(all_finite(&b));
    p.recent_fraction = 1.0;
    p.min_points = (size_t)-1;
    CHECK_EQ_INT(lw_forecast_compute(pts, m, LEAK2H.limit, pts[m - 1].t, &p, &b), 0);
    CHECK_EQ_INT(b.state, LW_FC_INSUFFICIENT);
    /* min_confidence 1.0: only certainty predicts */
    lw_forecast_params_default(&p);
    p.min_confidence = 1.0;
    CHECK_EQ_INT(lw_forecast_compute(pts, m, LEAK2H.limit, pts[m - 1].t, &p, &b), 0);
    CHECK_EQ_INT(b.predicted, b.confidence >= 1.0);
}

TEST(test_garbage_input_never_nan)
{
    rng_state = 1234;
    static struct lw_mem_point g[3000];
    for (int trial = 0; trial < 300; trial++) {
        size_t n = 1 + (size_t)(urand() * 2999);
        double tb = urand() < 0.5 ? T0 : 0.0;
        for (size_t i = 0; i < n; i++) {
            double r = urand();
            g[i].t = r < 0.05 ? NAN : r < 0.1 ? tb : tb + urand() * 1e5;
            double v = urand();
            g[i].bytes = v < 0.05   ? 0.0
                         : v < 0.1  ? 1e300
                         : v < 0.15 ? DBL_MIN
                         : v < 0.2  ? -1.0
                         : v < 0.6  ? urand() * 1e9
                                    : 5e8 + 1e3 * (double)i;
        }
        double limit = urand() < 0.2 ? 0.0 : urand() < 0.1 ? 1e-300 : urand() * 2e9;
        struct lw_forecast f;
        CHECK_EQ_INT(lw_forecast_compute(g, n, limit, tb + 1e5, NULL, &f), 0);
        CHECK(all_finite(&f));
        CHECK(f.npoints <= n);
    }
}

TEST(test_extreme_values)
{
    /* huge but finite values, sub-millisecond spacing, huge time jumps */
    static struct lw_mem_point e[600];
    for (size_t i = 0; i < 600; i++) {
        e[i].t = T0 + (i < 300 ? 1e-4 * (double)i : 1e7 * (double)(i - 299));
        e[i].bytes = (i % 3 == 0) ? 1.1e18 : (double)i * 1e15;
    }
    const double limits[] = {1e300, 1.0, 1e18, DBL_MAX};
    for (size_t k = 0; k < 4; k++) {
        struct lw_forecast f;
        CHECK_EQ_INT(lw_forecast_compute(e, 600, limits[k], 0, NULL, &f), 0);
        CHECK(all_finite(&f));
        CHECK(isfinite(f.at));
    }
    /* samples above 2^60 bytes are junk and dropped */
    for (size_t i = 0; i < 100; i++) {
        e[i].t = T0 + 15.0 * (double)i;
        e[i].bytes = i % 2 ? 1e19 : 1e8;
    }
    struct lw_forecast f;
    CHECK_EQ_INT(lw_forecast_compute(e, 100, 2e8, 0, NULL, &f), 0);
    CHECK_EQ_INT(f.npoints, 50);
    CHECK(all_finite(&f));
}

TEST(test_large_input_bounded)
{
    /* 100,000 points (a week at 6 s): works, and downsampling keeps the answer */
    enum { N = 100000 };
    struct lw_mem_point *big = malloc(N * sizeof(*big));
    CHECK(big != NULL);
    if (!big)
        return;
    rng_state = 77;
    double rate = 100 * MiB / (7 * 86400.0);
    for (size_t i = 0; i < N; i++) {
        double t = 6.0 * (double)i;
        big[i].t = T0 + t;
        big[i].bytes = 100 * MiB + rate * t + 10 * MiB * fmod(t, 37.0) / 37.0 + 1 * MiB * nrand();
    }
    struct lw_forecast f;
    CHECK_EQ_INT(lw_forecast_compute(big, N, 400 * MiB, big[N - 1].t, NULL, &f), 0);
    CHECK(all_finite(&f));
    CHECK_EQ_INT(f.npoints, N);
    CHECK_EQ_INT(f.state, LW_FC_GROWING);
    CHECK_NEAR(f.growth_bytes_per_hour, rate * 3600, 0.1 * rate * 3600);
    /* the regime line (grouped to FC_LINE_POINTS points over all N samples)
     * sits at the sustained level now: trend + the sawtooth's mean */
    double t_end = 6.0 * (double)(N - 1);
    CHECK_NEAR(f.line_bytes / MiB, (100 * MiB + rate * t_end + 5 * MiB) / MiB, 1.0);
    free(big);
}


TEST(test_no_warmup_drops_the_saturation_model)
{
    /* Decelerating (sqrt) growth: the warm-up model lowers the confidence
     * and says so (warmup flag). With no_warmup (the caller has independent
     * evidence of unbounded growth, e.g. leaking goroutines) the slow-down is
     * not penalised: same trend, agreement factor 1, higher confidence. */
    const struct gen g = {SQRT, 40 * MiB, 190 * MiB / 120.0, 10 * MiB, 61, 1.5 * MiB, 256 * MiB,
                          3 * 3600, 0, 0};
    double kill;
    size_t n = simulate(&g, 4, pts, 8192, &kill);
    struct lw_forecast_params p;
    lw_forecast_params_default(&p);
    CHECK(!p.no_warmup);
    struct lw_forecast a, b;
    CHECK_EQ_INT(lw_forecast_compute(pts, n, g.limit, pts[n - 1].t, &p, &a), 0);
    p.no_warmup = true;
    CHECK_EQ_INT(lw_forecast_compute(pts, n, g.limit, pts[n - 1].t, &p, &b), 0);
    CHECK(all_finite(&a) && all_finite(&b));
    CHECK_EQ_INT(a.trend, LW_FC_GROWING);
    CHECK(a.warmup);
    CHECK(a.conf_agree < 0.5);
    CHECK(!b.warmup);
    CHECK_EQ_INT(b.trend, LW_FC_GROWING);
    CHECK_NEAR(b.conf_agree, 1.0, 1e-9);
    CHECK(b.confidence > a.confidence);
    CHECK_NEAR(b.seconds_to_oom, a.seconds_to_oom, 1e-6 * a.seconds_to_oom + 1e-6);
}

TEST(test_linear_leak_is_not_a_warmup)
{
    /* The warm-up model needs the second half's slope significantly below
     * half of the first's: a straight leak never raises the flag. */
    double kill;
    size_t n = simulate(&LEAK2H, 12, pts, 8192, &kill);
    size_t warm = 0, judged = 0;
    for (size_t m = 60; m <= n && pts[m - 1].t - T0 < 0.9 * kill; m += 10) {
        struct lw_forecast f;
        CHECK_EQ_INT(fc(m, LEAK2H.limit, pts[m - 1].t, &f), 0);
        judged++;
        warm += f.state == LW_FC_PLATEAU && f.warmup;
    }
    CHECK(judged > 10);
    CHECK_EQ_INT(warm, 0);
}

TEST_LIST(T(test_names_defaults), T(test_linear_leak_single_evaluations),
          T(test_replay_linear_leak), T(test_replay_short_lived_with_startup),
          T(test_replay_heap_proportional_sawtooth), T(test_replay_diurnal_load),
          T(test_replay_late_start), T(test_no_break_in_a_straight_or_swinging_leak),
          T(test_leak_after_warmup_kill_time),
          T(test_expected_kill_after_earliest),
          T(test_replay_slow_noisy_leak), T(test_sqrt_growth_documented),
          T(test_accelerating_growth_documented), T(test_warmup_plateau),
          T(test_warmup_plateau_state), T(test_bursts_return_to_baseline),
          T(test_flat_near_limit), T(test_steady_churn), T(test_restart_drop),
          T(test_insufficient), T(test_no_limit), T(test_nonfinite_and_negative_points_ignored),
          T(test_already_above_limit), T(test_unsorted_input_is_sorted),
          T(test_now_handling_and_params), T(test_garbage_input_never_nan), T(test_extreme_values),
          T(test_large_input_bounded), T(test_no_warmup_drops_the_saturation_model),
          T(test_linear_leak_is_not_a_warmup));
TEST_MAIN()
