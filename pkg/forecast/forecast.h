/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forecast: from one container's memory trajectory (since its last start)
 * and its memory limit, predict when the kernel will OOM-kill it, with a
 * confidence. Method and formulas: docs/forecast.md.
 *
 * Must hold up against: the Go GC sawtooth (heap grows to the GC goal, then
 * drops), warm-up that plateaus (a cache filling once must not leave a
 * lasting prediction), bursts that return to baseline, and noise. Restarts
 * are the caller's business: pass only the points since the current start.
 *
 * Pure computation: no I/O, no global state, bounded work (points beyond
 * LW_STATS_MAX_POINTS are downsampled).
 */
#ifndef LW_FORECAST_H
#define LW_FORECAST_H

#include <stdbool.h>
#include <stddef.h>

/* Cap of every seconds field of a forecast (10 years): further is "never". */
#define LW_FC_MAX_SECONDS (10.0 * 365.0 * 86400.0)

struct lw_mem_point {
    double t;      /* unix seconds */
    double bytes;
};

enum lw_mem_source {
    LW_MEM_NONE = 0,
    LW_MEM_CONTAINER,  /* container usage / working set (usage.jsonl, kubelet) */
    LW_MEM_RUNTIME,    /* Go runtime MemStats: Sys - HeapReleased */
};
const char *lw_mem_source_name(enum lw_mem_source s); /* "none", "container", "runtime" */

enum lw_fc_state {
    LW_FC_INSUFFICIENT = 0, /* too few points or too short a span */
    LW_FC_FLAT,             /* no significant sustained growth */
    LW_FC_PLATEAU,          /* grew earlier, flat in the recent window */
    LW_FC_GROWING,          /* sustained growth */
    LW_FC_NO_LIMIT,         /* growth may be known, but there is no limit */
};
const char *lw_fc_state_name(enum lw_fc_state s);

struct lw_forecast_params {
    double min_span_s;       /* need at least this much history (default 120 s) */
    size_t min_points;       /* and this many points (default 6) */
    double horizon_s;        /* predicted only if OOM is within this (default 7 days) */
    double min_confidence;   /* predicted only if confidence >= this (default 0.5) */
    double recent_fraction;  /* share of the history that must still be growing (default 0.33) */
    bool no_warmup;          /* skip the warm-up (saturation) model: the caller has independent
                              * evidence of unbounded growth (a leaking goroutine stack) */
};
void lw_forecast_params_default(struct lw_forecast_params *p);

struct lw_forecast {
    enum lw_fc_state state;
    bool predicted;             /* an OOM is forecast within the horizon with enough confidence */
    double seconds_to_oom;      /* from `now`; valid when state == GROWING and limit > 0 */
    double at;                  /* unix seconds of the predicted kill */
    double seconds_lo, seconds_hi; /* uncertainty band of seconds_to_oom */
    double confidence;          /* 0..1 */
    double current_bytes;       /* robust level now (not a GC trough/peak) */
    double growth_bytes_per_hour;
    double limit_bytes;         /* 0 = no limit */
    size_t npoints;             /* points used */
    char reason[160];           /* one line: why this state */
    /* Added by the forecast implementation (additive; docs/forecast.md): */
    enum lw_fc_state trend;     /* the state ignoring the limit (GROWING/FLAT/PLATEAU/
                                 * INSUFFICIENT): with no limit, state is NO_LIMIT and
                                 * this still says whether memory grows */
    double peak_bytes;          /* peak envelope now (per-window maxima trend): what meets
                                 * the limit first; seconds_env is measured from it */
    double seconds_env;         /* when the peak envelope reaches the limit: the earliest
                                 * plausible kill (sets the confidence and `predicted`) */
    double line_bytes;          /* level now of the regime line (Theil-Sen over all the
                                 * samples since the (re)start) from which seconds_to_oom is
                                 * measured; 0 when the envelope alone was used */
    double kill_margin_bytes;   /* the excursion above the line at which the kill is
                                 * expected: the 0.9 quantile of the samples' excursions
                                 * (docs/forecast.md §3.4); 0 when the envelope alone was used */
    double line_since;          /* when that line starts (unix s): the (re)start, or a
                                 * break in the growth regime (docs/forecast.md §3.4);
                                 * 0 when the envelope alone was used */
    double span_s;              /* history used (after dropping pre-restart points) */
    double mk_z;                /* Mann-Kendall z of the window maxima, whole history */
    double recent_growth_bytes_per_hour; /* Theil-Sen slope over the recent window */
    double conf_trend, conf_agree, conf_extrap, conf_fit; /* the four factors of confidence */
    bool warmup;                /* the warm-up view (saturation model below the limit, or a
                                 * significant slow-down) made this PLATEAU or lowered the
                                 * confidence; never set with params.no_warmup */
};

/* pts sorted by t; limit_bytes <= 0 means no limit. Returns 0 or LW_ENOMEM. */
int lw_forecast_compute(const struct lw_mem_point *pts, size_t n, double limit_bytes, double now,
                        const struct lw_forecast_params *params, struct lw_forecast *out);

#endif
