/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim.c: a simulation sweep for pkg/forecast. It replays synthetic memory
 * series (leaks of several shapes and healthy controls, each with a GC
 * sawtooth and noise, many seeds) point by point as if live, and prints per
 * scenario: how often a warning was raised, the lead time of the first
 * warning as a share of the leak's lifetime, and the error of the predicted
 * kill time after the first warning. It is a design aid for the method in
 * docs/forecast.md, not the evaluation (that uses real services: bench/).
 *
 *   bench/forecast/run.sh            (builds against build-forecast and runs)
 *   sim [seeds] [scenario-substring]
 * Columns: warned = seeds with a warning before the kill (healthy: seeds
 * with any warning, i.e. false-alarmed); lead% = (kill -
 * first warning) / kill; maxerr% = worst |predicted - true kill| / time left
 * over the steps after the first warning while >= 10% of the life is left;
 * err50% = the same while >= 50% of the life is left (around the first warning);
 * lifeerr% = worst |predicted - true kill| / lifetime over all those steps;
 * alarms = warnings on healthy series (or after a leak's kill time);
 * gaps = steps after a leak's first warning where the warning was withdrawn.
 * SIM_VERBOSE=1 prints each alarm and each error > 20%; SIM_TRACE=SECONDS
 * SIM_SEED=k traces one seed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forecast/forecast.h"

#define MiB (1024.0 * 1024.0)

static uint64_t rs;
static double urand(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);
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

struct scen {
    const char *name;
    int leak;
    double dur;    /* seconds simulated (healthy) / max (leak) */
    double dt;     /* sample interval */
    double limit;
    double base;
    double rate;   /* shape parameter */
    double saw;    /* sawtooth amplitude (bytes) or share when prop */
    double period; /* GC period */
    double noise;  /* sd bytes */
    int kind;
};

enum { K_DIURNAL, K_NEARLIMIT, K_LINEAR, K_PROP, K_SQRT, K_QUAD, K_EXP, K_WARMUP, K_BURST, K_FLAT, K_LATE, K_STEP, K_GOMEMLIMIT, K_WARMUP_FAST, K_LINEAR_INIT, K_WARMUP_BENCH, K_FLAT_INIT, K_WARMUP_LEAK };

static double saw(double t, double P, double ph)
{
    return fmod(t + ph, P) / P;
}

static double bursts[4096][3];
static int nbursts;

/* noiseless usage at t */
static double model(const struct scen *s, double t, double ph)
{
    double u = s->base;
    switch (s->kind) {
    case K_LINEAR:
        u += s->rate * t + s->saw * saw(t, s->period, ph);
        break;
    case K_DIURNAL: { /* bench-like: the leak rate follows a load of 1 + 0.35 sin over a
                       * 4-minute "day" (bench/services/lwload), after a start-up jump */
        double w = 2.0 * M_PI / 240.0, p0 = ph * 0.37;
        return s->base * (t < 30.0 ? t / 30.0 : 1.0) + 2 * MiB +
               s->rate * (t - 0.35 / w * (cos(w * t + p0) - cos(p0))) +
               s->saw * saw(t, s->period, ph);
    }
    case K_PROP: { /* heap-like: live grows, peak = live*(1+share) */
        double live = s->base + s->rate * t;
        return live * (1.0 + s->saw * saw(t, s->period, ph));
    }
    case K_SQRT:
        u += s->rate * sqrt(t) + s->saw * saw(t, s->period, ph);
        break;
    case K_QUAD:
        u += s->rate * t * t + s->saw * saw(t, s->period, ph);
        break;
    case K_EXP:
        u *= exp(s->rate * t);
        u += s->saw * saw(t, s->period, ph);
        break;
    case K_LINEAR_INIT: /* runtime start-up: +base over the first 30 s, then linear */
        return s->base * (t < 30.0 ? t / 30.0 : 1.0) + 2 * MiB + s->rate * t +
               s->saw * saw(t, s->period, ph);
    case K_WARMUP_BENCH: /* cache filling: rate bytes approached with tau 15 min, from 2 MiB */
        return 2 * MiB + s->base * (t < 30.0 ? t / 30.0 : 1.0) +
               s->rate * (1.0 - exp(-t / 900.0)) + s->saw * saw(t, s->period, ph);
    case K_FLAT_INIT:
        return 2 * MiB + s->base * (t < 30.0 ? t / 30.0 : 1.0) + s->saw * saw(t, s->period, ph);
    case K_WARMUP_FAST: /* exponential approach, tau 3 min */
        u += s->rate * (1.0 - exp(-t / 180.0)) + s->saw * saw(t, s->period, ph);
        break;
    case K_WARMUP: /* exponential approach to base + rate (bytes), tau 15 min */
        u += s->rate * (1.0 - exp(-t / 900.0)) + s->saw * saw(t, s->period, ph);
        break;
    case K_BURST: { /* ok-bursty: every 40-80 s a burst of 12-80 MiB for 3-15 s */
        double b = 0.0;
        for (int i = 0; i < nbursts; i++)
            if (t >= bursts[i][0] && t < bursts[i][0] + bursts[i][1])
                b = bursts[i][2];
        u += b + s->saw * saw(t, s->period, ph);
        break;
    }
    case K_NEARLIMIT: /* ok-near-limit: load a table in 30 s, then saw 70%..85% of the limit */
        if (t < 30.0)
            return s->base * t / 30.0;
        return 0.70 * s->limit + 0.15 * s->limit * saw(t, s->period, ph);
    case K_FLAT:
        u += s->saw * saw(t, s->period, ph);
        break;
    case K_WARMUP_LEAK: /* a cache of 100 MiB filling with tau 10 min, and a slow leak */
        u += 100 * MiB * (1.0 - exp(-t / 600.0)) + s->rate * t + s->saw * saw(t, s->period, ph);
        break;
    case K_LATE: /* flat 1 h, then linear */
        u += (t > 3600.0 ? s->rate * (t - 3600.0) : 0.0) + s->saw * saw(t, s->period, ph);
        break;
    case K_STEP: /* a one-time jump of `rate` bytes at 40 min */
        u += (t > 2400.0 ? s->rate : 0.0) + s->saw * saw(t, s->period, ph);
        break;
    case K_GOMEMLIMIT: /* linear growth, held at 97% of the limit by the runtime */
        u += s->rate * t;
        if (u > 0.97 * s->limit)
            u = 0.97 * s->limit;
        u += s->saw * saw(t, s->period, ph) * 0.2;
        break;
    }
    return u;
}

static const struct scen scens[] = {
    /* leaks: lifetimes 1-6 h with 256 MiB limit */
    {"leak-linear-2h", 1, 5 * 3600, 15, 256 * MiB, 60 * MiB, 180 * MiB / 7200, 12 * MiB, 37, 1.5 * MiB, K_LINEAR},
    {"leak-linear-6h-noisy", 1, 12 * 3600, 15, 256 * MiB, 60 * MiB, 180 * MiB / 21600, 20 * MiB, 110, 4 * MiB, K_LINEAR},
    {"leak-linear-1h-slowgc", 1, 3 * 3600, 15, 256 * MiB, 40 * MiB, 190 * MiB / 3600, 25 * MiB, 125, 2 * MiB, K_LINEAR},
    {"leak-heap-prop", 1, 6 * 3600, 15, 256 * MiB, 30 * MiB, 80 * MiB / 3600, 0.5, 47, 1 * MiB, K_PROP},
    {"leak-linear-30s", 1, 8 * 3600, 30, 512 * MiB, 100 * MiB, 380 * MiB / 14400, 30 * MiB, 91, 5 * MiB, K_LINEAR},
    {"leak-sqrt", 1, 24 * 3600, 15, 256 * MiB, 40 * MiB, 190 * MiB / 120.0 /* sqrt(4 h) */, 10 * MiB, 61, 1.5 * MiB, K_SQRT},
    {"leak-quad", 1, 6 * 3600, 15, 256 * MiB, 40 * MiB, 200 * MiB / (3.0 * 3600 * 3 * 3600), 10 * MiB, 61, 1.5 * MiB, K_QUAD},
    {"leak-exp", 1, 8 * 3600, 15, 256 * MiB, 20 * MiB, 2.4849066497880004 / (3 * 3600.0) /* ln 12 over 3 h */, 4 * MiB, 61, 0.5 * MiB, K_EXP},
    {"leak-late-start", 1, 6 * 3600, 15, 256 * MiB, 60 * MiB, 180 * MiB / 7200, 12 * MiB, 37, 1.5 * MiB, K_LATE},
    /* bench-like: 5 s samples, lives of 8-15 min, a start-up jump (runtime init) */
    {"bench-leak-9m-5s", 1, 1800, 5, 96 * MiB, 12 * MiB, 80 * MiB / 510, 3 * MiB, 7, 1 * MiB, K_LINEAR_INIT},
    {"bench-leak-12m-5s", 1, 1800, 5, 192 * MiB, 15 * MiB, 175 * MiB / 700, 5 * MiB, 9, 2 * MiB, K_LINEAR_INIT},
    {"bench-diurnal-8m-5s", 1, 1800, 5, 96 * MiB, 12 * MiB, 80 * MiB / 480, 3 * MiB, 7, 1 * MiB, K_DIURNAL},
    {"bench-diurnal-12m-5s", 1, 1800, 5, 192 * MiB, 15 * MiB, 175 * MiB / 700, 5 * MiB, 9, 2 * MiB, K_DIURNAL},
    {"bench-warmup-10m-5s", 0, 600, 5, 256 * MiB, 10 * MiB, 140 * MiB, 4 * MiB, 9, 1.5 * MiB, K_WARMUP_BENCH},
    {"bench-bursty-10m-5s", 0, 600, 5, 256 * MiB, 10 * MiB, 0, 2 * MiB, 9, 1 * MiB, K_BURST},
    {"bench-nearlimit-10m-5s", 0, 600, 5, 256 * MiB, 165 * MiB, 0, 0, 23, 2 * MiB, K_NEARLIMIT},
    {"bench-churn-10m-5s", 0, 600, 5, 128 * MiB, 30 * MiB, 0, 20 * MiB, 9, 2 * MiB, K_FLAT_INIT},
    /* healthy */
    {"ok-churn", 0, 6 * 3600, 15, 256 * MiB, 120 * MiB, 0, 40 * MiB, 41, 3 * MiB, K_FLAT},
    {"ok-flat-near-limit", 0, 6 * 3600, 15, 256 * MiB, 215 * MiB, 0, 20 * MiB, 41, 3 * MiB, K_FLAT},
    {"ok-warmup", 0, 6 * 3600, 15, 256 * MiB, 50 * MiB, 130 * MiB, 15 * MiB, 41, 2 * MiB, K_WARMUP},
    {"ok-warmup-high", 0, 6 * 3600, 15, 256 * MiB, 50 * MiB, 170 * MiB, 10 * MiB, 41, 2 * MiB, K_WARMUP},
    {"ok-bursty", 0, 6 * 3600, 15, 256 * MiB, 60 * MiB, 0, 10 * MiB, 41, 3 * MiB, K_BURST},
    {"ok-near-limit", 0, 6 * 3600, 15, 256 * MiB, 165 * MiB, 0, 0, 23, 2 * MiB, K_NEARLIMIT},
    {"ok-warmup-fast", 0, 3 * 3600, 15, 256 * MiB, 30 * MiB, 150 * MiB, 10 * MiB, 41, 2 * MiB, K_WARMUP_FAST},
    {"ok-step", 0, 6 * 3600, 15, 256 * MiB, 80 * MiB, 60 * MiB, 10 * MiB, 41, 2 * MiB, K_STEP},
    {"x-ramp-then-gomemlimit", 0, 6 * 3600, 15, 256 * MiB, 100 * MiB, 150 * MiB / 3600, 10 * MiB, 41, 1 * MiB, K_GOMEMLIMIT},
    /* added after the scenarios above (their seeds depend on their index) */
    {"leak-after-warmup", 1, 8 * 3600, 15, 256 * MiB, 30 * MiB, 126 * MiB / 14400, 8 * MiB, 37, 1.5 * MiB, K_WARMUP_LEAK},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int seeds = argc > 1 ? atoi(argv[1]) : 20;
    const char *only = argc > 2 ? argv[2] : NULL;
    struct lw_forecast_params prm;
    lw_forecast_params_default(&prm);
    printf("%-24s %5s %6s %8s %8s %8s %8s %8s %8s %7s %5s\n", "scenario", "seeds", "warned",
           "lead%min", "lead%med", "err50%", "maxerr%", "p90err%", "lifeerr%", "alarms", "gaps");
    for (size_t si = 0; si < sizeof(scens) / sizeof(scens[0]); si++) {
        const struct scen *s = &scens[si];
        if (only && !strstr(s->name, only))
            continue;
        int warned = 0, alarms = 0, gaps = 0;
        double lead_min = 1e9, leads[256], maxerr_all = 0, errs[256], maxlife_all = 0, max50_all = 0;
        int nlead = 0;
        for (int seed = 1; seed <= seeds; seed++) {
            rs = (uint64_t)seed * 7919u + si;
            double ph = urand() * s->period;
            nbursts = 0;
            for (double bt = 20.0 + 40.0 * urand(); bt < s->dur && nbursts < 4096;
                 bt += 40.0 + 40.0 * urand()) {
                bursts[nbursts][0] = bt;
                bursts[nbursts][1] = 3.0 + 12.0 * urand();
                bursts[nbursts][2] = (12.0 + 68.0 * urand()) * MiB;
                nbursts++;
            }
            /* the process on a 5 s grid (noise per grid step); the kernel
             * kills at the first grid value >= the limit (the first touch:
             * on real kills max_usage equals the limit, docs/evaluation.md
             * D3). The heap-proportional case is scored on the envelope's
             * estimate (seconds_env), the others on `at`. The monitor
             * samples every dt. (Until 2026-11-27 the kill came when the
             * sustained level, the sawtooth at its mean, reached the limit.) */
            const double g = 5.0;
            size_t ng = (size_t)(s->dur / g) + 1;
            double *proc = malloc(ng * sizeof(double));
            double kill = -1;
            for (size_t i = 0; i < ng; i++) {
                double nz = s->noise * nrand();
                proc[i] = model(s, g * (double)i, ph) + nz;
                if (proc[i] < 0)
                    proc[i] = 0;
                if (kill < 0 && proc[i] >= s->limit)
                    kill = g * (double)i;
            }
            double end = kill > 0 ? kill : s->dur;
            size_t cap = (size_t)(end / s->dt) + 2, np = 0;
            struct lw_mem_point *pts = malloc(cap * sizeof(*pts));
            int alarmed_seed = 0;
            double t0 = 1.8e9, first = -1, maxerr = 0, maxerr_life = 0, maxerr50 = 0;
            size_t step = (size_t)(s->dt / g + 0.5);
            for (size_t gi = 0; g * (double)gi < end && np < cap; gi += step) {
                double t = g * (double)gi;
                double y = proc[gi];
                pts[np].t = t0 + t;
                pts[np].bytes = y;
                np++;
                struct lw_forecast fc;
                if (lw_forecast_compute(pts, np, s->limit, t0 + t, &prm, &fc) != 0)
                    return 1;
                if (getenv("SIM_TRACE") && fmod(t, atof(getenv("SIM_TRACE"))) < s->dt && seed == atoi(getenv("SIM_SEED") ? getenv("SIM_SEED") : "1"))
                    printf("  t=%.0f st=%s pred=%d g=%.1f rec=%.1f z=%.1f peak=%.1f sec=%.0f true=%.0f conf=%.2f [%.2f %.2f %.2f %.2f]\n",
                           t, lw_fc_state_name(fc.state), fc.predicted, fc.growth_bytes_per_hour / MiB,
                           fc.recent_growth_bytes_per_hour / MiB, fc.mk_z, fc.peak_bytes / MiB,
                           fc.seconds_to_oom, kill - t, fc.confidence, fc.conf_trend, fc.conf_agree,
                           fc.conf_extrap, fc.conf_fit);
                if (!fc.predicted && first >= 0 && s->leak)
                    gaps++;
                if (fc.predicted) {
                    if (!s->leak || kill < 0) {
                        if (!alarmed_seed)
                            warned++;
                        alarmed_seed = 1;
                        alarms++;
                        if (getenv("SIM_VERBOSE"))
                            printf("  alarm seed %d t=%.0f %s conf=%.2f [%.2f %.2f %.2f %.2f]\n", seed, t,
                                   fc.reason, fc.confidence, fc.conf_trend, fc.conf_agree,
                                   fc.conf_extrap, fc.conf_fit);
                        continue;
                    }
                    if (first < 0)
                        first = t;
                    double remain = kill - t;
                    if (s->kind == K_PROP)
                        fc.at = t0 + t + fc.seconds_env; /* peaks kill: the earliest estimate */
                    /* relative error against the time left; not scored in the
                     * last 3 samples, where sampling itself exceeds 20% */
                    double el = fabs((fc.at - t0) - kill) / kill;
                    if (el > maxerr_life)
                        maxerr_life = el;
                    if (remain >= 0.5 * kill) {
                        double e = fabs((fc.at - t0) - kill) / remain;
                        if (e > maxerr50)
                            maxerr50 = e;
                    }
                    if (remain > 0.1 * kill) {
                        double e = fabs((fc.at - t0) - kill) / remain;
                        if (e > maxerr)
                            maxerr = e;
                        if (getenv("SIM_VERBOSE") && e > 0.2)
                            printf("  err seed %d t=%.0f (%.0f%% life) err %.0f%% pred %.0f true %.0f %s\n",
                                   seed, t, 100 * t / kill, 100 * e, fc.seconds_to_oom, remain, fc.reason);
                    }
                }
            }
            if (s->leak && kill > 0) {
                if (first >= 0) {
                    warned++;
                    double lead = (kill - first) / kill;
                    if (lead < lead_min)
                        lead_min = lead;
                    if (nlead < 256) {
                        leads[nlead] = lead;
                        errs[nlead] = maxerr;
                        nlead++;
                    }
                    if (maxerr > maxerr_all)
                        maxerr_all = maxerr;
                    if (maxerr50 > max50_all)
                        max50_all = maxerr50;
                    if (maxerr_life > maxlife_all)
                        maxlife_all = maxerr_life;
                } else if (getenv("SIM_VERBOSE"))
                    printf("  never warned seed %d kill %.0f\n", seed, kill);
            }
            free(pts);
            free(proc);
        }
        /* medians */
        double lmed = 0, e90 = 0;
        if (nlead) {
            for (int i = 0; i < nlead; i++)
                for (int j = i + 1; j < nlead; j++) {
                    if (leads[j] < leads[i]) {
                        double x = leads[i]; leads[i] = leads[j]; leads[j] = x;
                    }
                    if (errs[j] < errs[i]) {
                        double x = errs[i]; errs[i] = errs[j]; errs[j] = x;
                    }
                }
            lmed = leads[nlead / 2];
            e90 = errs[(int)(0.9 * (nlead - 1))];
        }
        printf("%-24s %5d %6d %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %7d %5d\n", s->name, seeds, warned,
               nlead ? 100 * lead_min : 0, 100 * lmed, 100 * max50_all, 100 * maxerr_all, 100 * e90,
               100 * maxlife_all, alarms, gaps);
    }
    return 0;
}
