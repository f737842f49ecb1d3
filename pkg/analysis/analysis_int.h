/* SPDX-License-Identifier: Apache-2.0 */
/*
 * analysis_int.h: the series store shared by series.c (feeding) and
 * analysis.c (judging).
 *
 * A track is one sample axis (goroutine profiles, heap profiles, MemStats,
 * container usage). It keeps at most LW__SLOT_CAP slots: a slot is the mean
 * of `width` consecutive raw samples; when the slots fill up, neighbours are
 * merged pairwise and width doubles, so memory is bounded and every slot
 * stands for the same number of samples. Samples not yet making a full slot
 * sit in a pending accumulator, and the newest raw sample stays open so that
 * several profiles taken at the same time merge into one sample (by max per
 * identity: debug=1 and debug=2 dumps of the same moment count the same
 * goroutines once).
 *
 * Each identity (lw_stack_identity) of a track has its values on the same
 * slots plus a representative stack whose strings live in the series' own
 * string table (profiles are freed after lw_series_add_profile).
 */
#ifndef LW_ANALYSIS_INT_H
#define LW_ANALYSIS_INT_H

#include "analysis/analysis.h"
#include "stats/stats.h"

#include <stdbool.h>
#include <stdint.h>

/* Slots per track: even, and with the open partial slot within
 * LW_STATS_MAX_POINTS. 256 points are plenty for the trend tests and keep
 * the O(n^2) Theil-Sen fits at ~33k pairs (a verdict per sample on long
 * traces stays around a millisecond). */
#define LW__SLOT_CAP 256
#define LW__SLOT_MIN 16     /* first allocation of a track's slots */
#define LW__REP_FRAMES 32

struct lw__ident {
    uint64_t key;
    float *v;               /* the track's scap values, aligned with its slots: a row of the
                             * track's vm (NULL while scap is 0) */
    double pend_sum;        /* sum over the pending raw samples */
    double cur;             /* value in the open raw sample */
    double first;           /* value in the track's first raw sample (0 if absent then) */
    double tmp;             /* accumulation within one profile */
    /* heap sites only: cumulative allocated bytes (alloc_space), for the
     * retained share (docs/analysis.md §4.1) */
    double alloc_tmp;       /* within one profile */
    double alloc_cur;       /* in the latest sample */
    double alloc_first;     /* in its first sample with in-use data since the last restart */
    bool alloc_set;         /* alloc_first holds a value */
    unsigned gen;           /* profile generation tmp belongs to */
    unsigned detail_gen;    /* profile generation of the debug=2 details */
    int64_t detail_best;    /* count of the stack the details were taken from */
    int rank;               /* detail rank of the representative frames (0 = none) */
    bool leaked;            /* seen in a goroutineleak profile / "(leaked)" state */
    bool bounded;           /* heap site inside a structure bounded by design (an LRU:
                             * lw_causes_match_bounded), set with its frames; heap track only */
    bool pooled;            /* goroutines of a connection kept for reuse (lw_causes_match_pooled),
                             * set with its frames; goroutine track only */
    double seen_t;          /* first sample time it was present (since the last restart) */
    double detail_t;        /* sample time of the debug=2 details; 0 = none */
    /* goroutine ids (debug=2) in the latest dump that held it (d2_seq of
     * the series' dumps) and the largest in the dump before, if it was held
     * there too (prev_seq == d2_seq - 1): whether any goroutine outlived a
     * dump interval (docs/analysis.md §2.1); 0 = not seen */
    unsigned d2_seq, prev_seq;
    int64_t goid_min, goid_max, prev_goid_max;
    /* its goroutines in that dump (d2_count) and in the dump before
     * (prev_d2_count, valid when prev_seq == d2_seq - 1), and how many of
     * the latest had an id at or below the dump before's largest (old;
     * -1 unknown: the dump was not parsed with that cut) */
    int64_t d2_count, prev_d2_count, old;
    struct lw_stack st;     /* representative; st.ftab: at most LW__REP_FRAMES frames in the
                             * series' arena (with its strings; moved by compaction);
                             * st.ext points at ext (an identity is never moved) */
    struct lw_stack_ext ext; /* its debug=2 details (creator, state, waits) */
    const char *user_frame; /* "func file:line" or NULL */
};

struct lw__track {
    double *t;              /* slot times, scap of them */
    size_t nslots;
    size_t scap;            /* slots allocated (t and every v): 0, then 16 doubling to max_slots */
    size_t max_slots;       /* slots before neighbours merge (params.max_slots) */
    float *vm;              /* values of all identities, one block: vrows rows of scap floats;
                             * row 0 = total, row i + 1 = ids[i] (one allocation per track, so
                             * growing never fragments the heap into per-identity pieces) */
    size_t vrows;
    size_t width;           /* raw samples per slot */
    size_t pend_n;
    double pend_tsum;
    bool open;              /* a raw sample is open at cur_t */
    double cur_t;
    double first_t;
    size_t nraw;            /* raw samples finalized (the open one not included) */
    struct lw__ident total; /* the track's total (goroutines, bytes); not hashed */
    struct lw__ident **ids;
    size_t nids, idcap, max_ids;
    struct lw__ident **hash; /* open addressing on key; NULL = empty */
    size_t hcap;
    bool has_idents;
    bool peak;              /* memory tracks: a slot keeps the max of its samples, not
                             * the mean, so downsampling never flattens GC peaks (the
                             * kernel kills at the peak; docs/forecast.md) */
    unsigned evict_gen;     /* profile generation of the last eviction scan */
    double evict_floor;     /* smallest untouched level after it (see track_evict) */
};

struct lw_series {
    struct lw_analysis_params params;
    struct lw__track gor;   /* goroutine profiles */
    struct lw__track heap;  /* heap profiles: in-use bytes per site */
    struct lw__track mstat; /* MemStats Sys - HeapReleased */
    struct lw__track usage; /* container usage */
    unsigned gen;
    unsigned d2_seq;        /* debug=2 goroutine dumps seen (one per sample time) */
    double d2_t;            /* sample time of the latest one */
    int64_t d2_goid_max;    /* the largest goroutine id of the latest one (0 none, or restarted) */
    bool d2_cut_ok;         /* the latest one was parsed with goid_cut = the one before's largest */
    struct lw__ident **touched;
    size_t ntouched, touchcap;
    struct lw_arena arena;  /* strings of representative stacks */
    struct lw_strtab strtab;
    size_t arena_live;      /* arena bytes right after the last compaction */
    size_t ncompact;        /* compactions so far (tests) */
    int64_t last_total_alloc; /* MemStats TotalAlloc, for restart detection */
    size_t restarts;
    struct lw_verdict_state vstate; /* hysteresis state for lw_analyze_step */
    double heap_pregc_t;      /* latest heap sample time with MemStats NumGC == 0, or -1:
                               * heap samples up to it carry no in-use data */
    /* MemStats NumGC at the first and the latest heap sample that carried
     * it since the last restart (gc_n0 == 0: none yet): the mean GC
     * interval, which bounds how late the runtime stamps a parked
     * goroutine's wait (docs/analysis.md §2.1) */
    double gc_t0, gc_t1;
    int64_t gc_n0, gc_n1;
};

/* lw_analyze with the stacks' minimum history relaxed as when an OOM warning
 * stands (warned: raised by an earlier verdict and held by the hysteresis). */
int lw__analyze(const struct lw_series *s, double now, double limit_bytes, bool warned,
                struct lw_verdict **out);

/* Number of points in the view of a track (slots + the open partial slot). */
size_t lw__track_npoints(const struct lw__track *tr);
/* Fill t[] (seconds relative to rel0) and, if id != NULL, y[] with the view
 * of identity id (the track's total when id == &tr->total). Returns the count. */
size_t lw__track_view(const struct lw__track *tr, const struct lw__ident *id, double rel0, double *t,
                      double *y);
/* Value in the first raw sample, and the latest value. */
double lw__ident_first(const struct lw__track *tr, const struct lw__ident *id);

#endif
