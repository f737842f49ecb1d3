/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analysis: the judgement on a time series of profiles from one container.
 *
 * A struct lw_series accumulates, per sample time, goroutine counts per
 * stack identity (see lw_stack_identity), the latest debug=2 details per
 * identity (state, longest wait, creator), heap in-use bytes per allocation
 * site, and memory points (container usage, else runtime MemStats).
 * Profiles are not retained: feeding a 100,000-goroutine dump costs only
 * its distinct stacks.
 *
 * lw_analyze() ranks stacks by *sustained* growth (robust trend over the
 * whole series that still holds in the recent window; a burst that returns
 * to baseline or a pool that fills once and stays flat is not a leak),
 * attaches known-cause hints, runs the OOM forecast, links goroutine growth
 * to memory growth, and returns a struct lw_verdict. Method: docs/analysis.md.
 *
 * Bounds: at most params.max_identities stacks are tracked per track (the
 * smallest and flattest are evicted), per-identity histories are downsampled
 * past params.max_slots slots (storage grows on demand up to that), and the
 * series' string table is compacted in proportion to the strings still
 * referenced, so memory is bounded for arbitrarily long traces
 * (docs/analysis.md, "Memory bounds").
 */
#ifndef LW_ANALYSIS_H
#define LW_ANALYSIS_H

#include "forecast/forecast.h"
#include "pprof/pprof.h"

#include <stdbool.h>
#include <stdint.h>

struct lw_analysis_params {
    size_t max_identities;      /* default 4096 */
    size_t top_n;               /* stacks reported, default 5 */
    double min_span_s;          /* below this the verdict is insufficient-data (default 300 s) */
    size_t min_samples;         /* and below this many goroutine samples (default 5) */
    double min_growth_per_hour; /* a stack must gain at least this many goroutines/h (default 10) */
    double min_rel_growth;      /* and grow by this fraction of its first level (default 0.5) */
    struct lw_forecast_params forecast;
    /* additions (analysis helper), set by lw_analysis_params_default: */
    double min_abs_growth;           /* and gain at least this many goroutines in all (default 10) */
    double heap_min_growth_per_hour; /* a heap site must gain at least this many bytes/h (default 1 MiB) */
    double heap_min_abs_growth;      /* and this many bytes in all (default 2 MiB) */
    double recent_fraction;          /* the most recent share of the series that must still grow (default 1/3) */
    double z_trend;                  /* Mann-Kendall z the whole series must reach (default 2.326, p < 0.01) */
    double z_recent;                 /* Mann-Kendall z the recent part must reach (default 1.645, p < 0.05) */
    /* memory bounds (docs/analysis.md, "Memory bounds"): */
    size_t max_slots;       /* history slots per track: a power of two in 16..256 (default 256) */
    size_t max_stack_bytes; /* string bytes kept per identity's representative stack
                             * (frames past it are dropped, flagged truncated); 0 = no cap (default) */
};
void lw_analysis_params_default(struct lw_analysis_params *p);

struct lw_series;

/* New empty series; params may be NULL (defaults). NULL on ENOMEM. */
struct lw_series *lw_series_new(const struct lw_analysis_params *params);
void lw_series_free(struct lw_series *s);

/* Feed a profile observed at unix time t. Goroutine profiles (debug=1,
 * debug=2, proto, goroutineleak) feed stack counts; debug=2 also details;
 * heap profiles feed allocation sites and, when present, MemStats.
 * Profiles at the same t are merged as one sample. Returns 0 or LW_ENOMEM. */
int lw_series_add_profile(struct lw_series *s, double t, const struct lw_profile *p);
/* Container memory usage (bytes) at t: preferred over MemStats when present. */
int lw_series_add_usage(struct lw_series *s, double t, double bytes);
/* The container restarted at t: forget everything before. */
void lw_series_restart(struct lw_series *s, double t);
/* Number of goroutine samples and time span currently held. */
size_t lw_series_samples(const struct lw_series *s);
/* Seconds between the first and the latest goroutine sample (addition). */
double lw_series_span(const struct lw_series *s);
/* The largest goroutine id of the latest debug=2 dump fed (0: none since
 * the last restart). Parse the next debug=2 dump with it as
 * lw_pprof_limits.goid_cut, so the analysis can tell how many of a stack's
 * goroutines outlived one dump interval (docs/analysis.md §2.1). */
int64_t lw_series_goid_cut(const struct lw_series *s);
/* Unix time of the first goroutine sample held (since the last restart); 0 = none. */
double lw_series_first(const struct lw_series *s);

enum lw_verdict_kind {
    LW_VERDICT_INSUFFICIENT = 0,
    LW_VERDICT_NO_LEAK,
    LW_VERDICT_LEAK,
};
const char *lw_verdict_name(enum lw_verdict_kind v); /* "insufficient-data", "no-leak", "leak" */

/* Why a goroutine stack that grew like a leak is in use (docs/analysis.md §2.1). */
enum lw_in_use_why {
    LW_IN_USE_RENEWED = 0, /* none of its goroutines outlived the last debug=2 interval */
    LW_IN_USE_MOVED,       /* the goroutines of its creator did not grow with it */
    LW_IN_USE_BUSY,        /* HTTP connections kept for reuse, none parked as a leak's would be */
    LW_IN_USE_NWHY
};
const char *lw_in_use_why_name(enum lw_in_use_why w); /* "renewed", "moved", "busy" */

enum lw_leak_kind_bits {
    LW_LEAK_GOROUTINE = 1 << 0,  /* goroutines of some stack grow */
    LW_LEAK_HEAP = 1 << 1,       /* in-use bytes of some allocation site grow */
    LW_LEAK_MEMORY = 1 << 2,     /* total memory grows (forecast state GROWING) */
};

struct lw_top_stack {
    const char *kind;           /* "goroutine" or "heap" */
    const char **frames;        /* leaf first, runtime frames skipped; at most 16 */
    size_t nframes;
    const char *leaf;           /* == frames[0] or NULL */
    const char *user_frame;     /* first non-runtime, non-std frame, "func file:line"; may be NULL */
    const char *created_by;     /* may be NULL */
    const char *state;          /* may be NULL */
    int64_t max_wait_minutes;   /* -1 when unknown */
    int64_t count;              /* goroutine: latest count; heap: in-use bytes */
    int64_t first_count;        /* at the series start */
    double growth;              /* per hour (goroutines/h or bytes/h), sustained trend */
    const char *hint;           /* may be NULL */
    const char *cause_id;       /* may be NULL */
    double hint_confidence;
};

struct lw_verdict {
    enum lw_verdict_kind verdict;
    double t;                   /* time of the verdict (last sample used) */
    unsigned kinds;             /* enum lw_leak_kind_bits */
    struct {
        bool present;
        int64_t first, last;
        double growth_per_hour;
    } goroutines;
    struct {
        double current_bytes;
        double limit_bytes;     /* 0 = none */
        double growth_bytes_per_hour;
        enum lw_mem_source source;
    } memory;
    struct lw_forecast oom;
    double bytes_per_goroutine; /* memory growth per leaked goroutine, 0 unknown */
    double share_explained;     /* 0..1 share of memory growth explained by goroutines */
    struct lw_top_stack *top;
    size_t ntop;
    char summary[512];          /* one line, like a person wrote it */
    bool oom_held;              /* oom.predicted is held by the hysteresis, not by this verdict */
    bool leak_held;             /* verdict LEAK is held by the hysteresis */
    /* The memory grows while a structure bounded by design (an LRU cache,
     * causes: "lru-cache-filling") fills, no goroutine stack leaks, and the
     * growth has lasted less than the time it would take to reach the limit:
     * no OOM warning and no heap or memory leak verdict yet
     * (docs/analysis.md, "Bounded structures"). bounded_site names the site. */
    bool bounded_wait;
    const char *bounded_site;
    /* An OOM is forecast, but no goroutine stack and no heap site leaks (so
     * nothing says the growth is unbounded), and the growth has lasted less
     * than the time it would take to reach the limit: no OOM warning and no
     * memory leak verdict yet, as for bounded_wait (docs/analysis.md,
     * "Growth that nothing explains"). */
    bool unexplained_wait;
    /* Heap sites that grew like a leak but are held by goroutines in use
     * (docs/analysis.md §4.6): goroutines that are still running the
     * function that allocated the site's bytes, are not a leak themselves,
     * and whose number explains the site's growth at a steady number of
     * bytes each. The first (largest) one is described; site is NULL when
     * there is none. */
    struct {
        const char *site;           /* the site's user function */
        const char *holders;        /* the holding goroutines' stack */
        size_t n;                   /* sites found held */
        int64_t goroutines;         /* holding goroutines now */
        double bytes_per_goroutine; /* median in-use bytes of the site per holding goroutine */
        double share;               /* share of the site's growth their growth explains */
    } held;
    /* An OOM is forecast, no goroutine stack leaks, and the heap sites that
     * grew are held by goroutines in use, which explain at least half of the
     * heap's growth: the memory follows the load (they end and give it
     * back), so no OOM warning and no memory leak verdict (§4.6). */
    bool load_wait;
    /* Goroutine stacks that grew like a leak but that the debug=2 dumps
     * show in use (docs/analysis.md §2.1, enum lw_in_use_why): not leaks.
     * The first one is described; stack is NULL when there is none. */
    struct {
        const char *stack;
        enum lw_in_use_why why;
        const char *creator;       /* LW_IN_USE_MOVED: the creating function; else NULL */
        size_t n[LW_IN_USE_NWHY];  /* stacks found in use, by why (lw_verdict_in_use: all) */
        int64_t count;
        double growth_per_hour;
        int64_t max_wait_minutes;  /* the longest wait its goroutines show */
        int64_t leak_wait_minutes; /* LW_IN_USE_BUSY: what leaked ones would show by now, at
                                    * least; else -1 */
    } in_use;
    /* private */
    struct lw_arena arena;
};

/* The memory climbs but its OOM warning waits for even odds (bounded_wait
 * or unexplained_wait) or follows the load (load_wait): no warning and no
 * memory leak verdict yet. */
static inline bool lw_verdict_waits(const struct lw_verdict *v)
{
    return v->bounded_wait || v->unexplained_wait || v->load_wait;
}

/* The number of goroutine stacks found in use (v->in_use), whatever why. */
static inline size_t lw_verdict_in_use(const struct lw_verdict *v)
{
    size_t n = 0;
    for (int w = 0; w < LW_IN_USE_NWHY; w++)
        n += v->in_use.n[w];
    return n;
}

/* Judge the series as of time now (normally the last sample time), against
 * limit_bytes (<= 0: no limit). *out is owned by the caller. Stateless: the
 * same series always gives the same verdict. */
int lw_analyze(const struct lw_series *s, double now, double limit_bytes,
               struct lw_verdict **out);
void lw_verdict_free(struct lw_verdict *v);

/* Hysteresis between consecutive verdicts on one series (docs/analysis.md,
 * "Hysteresis"). An OOM warning is raised when the forecast predicts one
 * (confidence >= params.forecast.min_confidence); once raised it is held
 * while the forecast still sees growth (state GROWING) with confidence >=
 * LW_HOLD_CONFIDENCE, or while a goroutine stack keeps growing, and is
 * withdrawn only after LW_HOLD_STEPS consecutive verdicts without that
 * support, at once when memory is FLAT/INSUFFICIENT with no growing stack,
 * or on a restart. A held warning keeps the last predicted kill time (or the
 * forecast's newer one while it still sees growth), and makes the verdict
 * `leak` (kind memory) with leak_held set. */
#define LW_HOLD_CONFIDENCE 0.3
#define LW_HOLD_STEPS 3
struct lw_verdict_state {
    bool oom_on;          /* an OOM warning is raised */
    unsigned oom_misses;  /* consecutive verdicts without support since */
    double oom_at, oom_seconds_lo, oom_seconds_hi, oom_confidence; /* last real prediction */
    double oom_rate, oom_margin; /* its growth (bytes/s) and kill margin (bytes): a held
                                  * warning's kill time is re-anchored from them */
    size_t restarts;      /* lw_series restarts seen: a new one resets the state */
};
/* Zeroed state = no history. */
void lw_verdict_state_init(struct lw_verdict_state *st);
/* Apply the hysteresis to v (a fresh lw_analyze verdict, in time order),
 * updating st. restarts: the series' restart count (lw_series_restarts). */
void lw_verdict_hysteresis(struct lw_verdict *v, struct lw_verdict_state *st, size_t restarts);
/* Number of restarts the series has seen. */
size_t lw_series_restarts(const struct lw_series *s);
/* lw_analyze plus the hysteresis, with the state kept inside the series
 * (reset by lw_series_restart): what a live caller (the controller, analyze
 * --replay) uses step after step. */
int lw_analyze_step(struct lw_series *s, double now, double limit_bytes, struct lw_verdict **out);

#endif
