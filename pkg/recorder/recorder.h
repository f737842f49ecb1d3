/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recorder: how leakwatch tells people what it found, through the two places
 * `kubectl describe pod` shows: Events and the pod's annotations
 * (issue 3 points 7 and 8; ../../shared/docs/kubernetes-api.md §4 and §5;
 * docs/events.md).
 *
 * Two layers:
 *  - pure builders (no I/O, unit-tested): UTF-8-safe truncation, MicroTime,
 *    event names, events.k8s.io/v1 and core/v1 Event bodies, series patches,
 *    one-line notes from a struct lw_verdict, the per-pod state machine
 *    (ok -> leaking -> oom-predicted -> resolved) and the annotation merge
 *    patch (only when something changed; nulls on opt-out; <= 4 KiB);
 *  - struct lw_recorder, an asynchronous sender over pkg/kube: correlates
 *    repeats into the event's series (client-go tools/events semantics), a
 *    token bucket per pod UID (client-go's spam filter: burst 25, one token
 *    per 300 s), ScrapeFailed further limited, and falls back to core/v1 when
 *    events.k8s.io/v1 answers 404 (the group is not served).
 *
 * Single-threaded like pkg/loop. All JSON is built with cJSON; every string
 * put into JSON is first made valid one-line UTF-8 and cut to its limit.
 */
#ifndef LW_RECORDER_H
#define LW_RECORDER_H

#include "analysis/analysis.h"
#include "base/base.h"
#include "kube/kube.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Limits from k/k pkg/apis/core/validation/events.go (bytes). */
#define LW_REC_REASON_MAX 128
#define LW_REC_ACTION_MAX 128
#define LW_REC_INSTANCE_MAX 128
#define LW_REC_NOTE_MAX 1024
#define LW_REC_NAME_MAX 253
#define LW_REC_CONTROLLER "leakwatch.io/controller"
/* Our annotations together (sum of key + value bytes) stay under this. */
#define LW_REC_ANNOT_TOTAL_MAX 4096

/* ---- text helpers ------------------------------------------------------------ */

/* Copy src into dst (size dstsize) as valid one-line UTF-8 of at most maxbytes
 * bytes (not counting the NUL): invalid bytes become '?', control characters
 * (newlines, tabs) become spaces, and a cut is made on a character boundary
 * and marked with "…" (U+2026) when it fits. Returns the bytes written. */
size_t lw_rec_utf8_clean(char *dst, size_t dstsize, const char *src, size_t maxbytes);
/* 1 if s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int lw_rec_utf8_valid(const char *s, size_t n);
/* "2026-11-26T19:30:00.123456Z": MicroTime, exactly 6 fraction digits, UTC. */
const char *lw_rec_microtime(double unix_seconds, char *out, size_t outlen);
/* DNS-1123 subdomain (<= 253, lower-case labels). */
int lw_rec_is_dns_subdomain(const char *s);
/* "<pod>.<hex unixnano>", the pod part cut so the whole is a DNS subdomain of
 * <= 253 bytes; "leakwatch.<hex>" when the pod name cannot be used. */
void lw_rec_event_name(const char *pod, uint64_t unix_nano, char *out, size_t outlen);
/* "leakwatch-<id>" cut to 128 bytes (id: hostname or pod name; NULL/empty =
 * gethostname()). */
void lw_rec_reporting_instance(const char *id, char *out, size_t outlen);
/* "2h10m", "45m", "3d4h": a short duration for notes. */
const char *lw_rec_fmt_duration(double seconds, char *out, size_t outlen);

/* ---- reasons ------------------------------------------------------------------ */

enum lw_rec_reason {
    LW_REASON_GOROUTINE_LEAK,
    LW_REASON_MEMORY_LEAK,
    LW_REASON_OOM_PREDICTED,
    LW_REASON_LEAK_RESOLVED,
    LW_REASON_OOMKILLED,
    LW_REASON_SCRAPE_FAILED,
    LW_REASON__COUNT
};
const char *lw_rec_reason_name(enum lw_rec_reason r);   /* "GoroutineLeak", ... */
const char *lw_rec_reason_type(enum lw_rec_reason r);   /* "Warning" | "Normal" */
const char *lw_rec_reason_action(enum lw_rec_reason r); /* "Analyze" | "Predict" | "PostMortem" | "Scrape" */

/* ---- Event bodies ------------------------------------------------------------- */

struct lw_pod_ref {
    const char *ns;
    const char *name;
    const char *uid;
};

struct lw_event_spec {
    struct lw_pod_ref pod;
    enum lw_rec_reason reason;
    const char *note;        /* cleaned and cut to 1024 bytes here */
    const char *instance;    /* the reportingInstance as is (cleaned, cut to 128);
                              * NULL = lw_rec_reporting_instance(NULL) */
    double t;                /* eventTime (unix seconds) */
    uint64_t name_nano;      /* for the name; 0 = from t */
    int series_count;        /* >= 2: include series (a re-create of a series) */
    double series_last;      /* series.lastObservedTime */
    uint64_t class_hash;     /* != 0: metadata.annotations[LW_REC_ANN_CLASS], so that a later
                              * recorder can adopt the Event (lw_rec_class_hash; adopt.c) */
};

/* The Event to POST, events.k8s.io/v1 (core == 0) or core/v1 (core == 1;
 * legacy form: involvedObject, message, source, first/lastTimestamp, count).
 * NULL with eb set when the pod reference is unusable. */
cJSON *lw_rec_event_build(const struct lw_event_spec *s, int core, struct lw_errbuf *eb);
/* The strategic-merge patch for a repeat: events.k8s.io/v1
 * {"series":{"count":N,"lastObservedTime":µs}}; core/v1
 * {"count":N,"lastTimestamp":...,"message":note}. */
cJSON *lw_rec_series_patch(int core, int count, double last, const char *note);

/* ---- notes -------------------------------------------------------------------- */

/* The one-line note for reason r from a verdict (<= 1024 bytes, valid UTF-8). */
void lw_rec_note_verdict(const struct lw_verdict *v, enum lw_rec_reason r, char *out,
                         size_t outlen);

struct lw_postmortem {
    const char *container;
    double killed_at;         /* finishedAt of the terminated state (unix s), 0 unknown */
    double limit_bytes;       /* 0 unknown */
    bool predicted;           /* we had forecast this OOM */
    double predicted_at;      /* when we first said so (unix s) */
    double predicted_oom_at;  /* the kill time we forecast */
    const char *top_stack;    /* the top growing stack before death, may be NULL */
    int64_t goroutines;       /* last count seen, -1 unknown */
};
void lw_rec_note_oomkilled(const struct lw_postmortem *pm, char *out, size_t outlen);
void lw_rec_note_scrape_failed(const char *what, int failures, char *out, size_t outlen);

/* ---- state machine ------------------------------------------------------------- */

enum lw_leak_state { LW_LEAK_NONE = 0, LW_LEAK_OK, LW_LEAK_LEAKING, LW_LEAK_OOM };

enum lw_pod_status {
    LW_STATUS_OK,
    LW_STATUS_LEAKING,
    LW_STATUS_OOM_PREDICTED,
    LW_STATUS_OOMKILLED,
    LW_STATUS_NO_LIMIT,
    LW_STATUS_SCRAPE_FAILING,
};
const char *lw_pod_status_name(enum lw_pod_status s); /* "ok", "leaking", ... */

struct lw_rec_decision {
    enum lw_leak_state next;
    enum lw_rec_reason reasons[2];
    size_t nreasons;
    const char *note_class;   /* correlation class for the leak reasons (top leaf), borrowed from v */
};
/* The frame that names a top stack (a goroutine's root function, a heap
 * site's leaf), as the analysis summary's "top:"; borrowed. */
const char *lw_rec_top_name(const struct lw_top_stack *t);
/* What a verdict means for a pod whose leak state was prev: the new state and
 * the reasons that hold now. A reason held again on the next verdict is a
 * repeat (a series update), not a new event. INSUFFICIENT keeps the state;
 * NO_LEAK after LEAKING/OOM gives LeakResolved once. */
void lw_rec_decide(enum lw_leak_state prev, const struct lw_verdict *v, struct lw_rec_decision *d);
/* The status annotation value. Priority: oomkilled > oom-predicted > leaking
 * > scrape-failing > no-limit > ok. */
enum lw_pod_status lw_rec_status(enum lw_leak_state st, bool has_limit, bool scrape_failing,
                                 bool oomkilled);

/* ---- annotations ---------------------------------------------------------------- */

#define LW_ANN_STATUS "leakwatch.io/status"
#define LW_ANN_SUMMARY "leakwatch.io/summary"
#define LW_ANN_OOM_AT "leakwatch.io/predicted-oom-at"
#define LW_ANN_TOP_STACK "leakwatch.io/top-stack"
#define LW_ANN_UPDATED_AT "leakwatch.io/updated-at"
extern const char *const lw_rec_annotation_keys[5];

struct lw_annot {
    enum lw_pod_status status;
    char summary[1024];
    double predicted_oom_at;  /* 0 = none (the key is removed) */
    char top_stack[1024];     /* "" = none (the key is removed) */
};
/* Fill a from a verdict (summary, predicted OOM time, the top stack's first
 * frames "leaf <- ... <- root", at most 5, ending at lw_rec_top_name). */
void lw_rec_annot_from_verdict(struct lw_annot *a, enum lw_pod_status st,
                               const struct lw_verdict *v);

struct lw_annot_opts {
    double refresh;        /* a non-material difference (summary numbers, OOM time
                            * drift) is written at most this often; 0 = 300 s */
    double oom_tolerance;  /* predicted-oom-at moves less than max(this, 10% of the
                            * time left) are not material; 0 = 300 s */
};
/* The merge patch {"metadata":{"annotations":{...}}} that brings the pod
 * (its JSON; may be NULL = no annotations) to a at time now, or NULL when
 * nothing needs writing. Material changes (status, top stack, an OOM time
 * appearing/vanishing/moving beyond tolerance, a key of ours missing, a
 * summary that says something else, not just other numbers) are
 * written at once with updated-at; other differences at most every
 * o->refresh; updated-at alone never causes a write. Our values total
 * <= 4 KiB (summary, then top stack, are cut). */
cJSON *lw_rec_annot_patch(const struct lw_annot *a, const cJSON *pod, double now,
                          const struct lw_annot_opts *o);
/* 1 when two summaries differ only in their numbers ("1,204 -> 20,311 in 6h"
 * vs "1,204 -> 20,399 in 6h"): tokens holding a digit, and size units, are
 * values. Such a change is written at most every refresh; any other is
 * material (a new phrase: the memory source, a leak, a verdict). */
int lw_rec_summary_same_shape(const char *a, const char *b);
/* Opt-out: null for each of our keys the pod has; NULL when it has none. */
cJSON *lw_rec_annot_optout_patch(const cJSON *pod);

/* ---- the sender -------------------------------------------------------------------- */

struct lw_recorder_opts {
    const char *instance_id;     /* hostname or pod name; NULL = gethostname() */
    double bucket_burst;         /* per-pod token bucket; 0 = 25 */
    double bucket_refill;        /* seconds per token; 0 = 300 */
    double scrape_failed_every;  /* at most one ScrapeFailed write per pod per this; 0 = 600 */
    int scrape_fail_threshold;   /* consecutive failures before status scrape-failing; 0 = 3 */
    double series_every;         /* series writes at most this often per event; 0 = 300 */
    double series_idle;          /* series cache entries idle this long are dropped; 0 = 3600 */
    size_t max_pods;             /* 0 = 4096 (client-go's LRU size); the controller sets its own
                                  * pod cap so that no watched pod is evicted */
    int force_core;              /* start in core/v1 mode */
    struct lw_annot_opts annot;
};

/* Event outcomes counted per reason (for leakwatch_events_total{reason,result}). */
enum lw_rec_result {
    LW_REC_RES_CREATED,          /* an event create was sent */
    LW_REC_RES_SERIES_UPDATED,   /* a series patch was sent */
    LW_REC_RES_RATE_LIMITED,     /* dropped by the per-pod limits */
    LW_REC_RES_FAILED,           /* the API refused it or it could not be sent */
    LW_REC_RES__COUNT
};
const char *lw_rec_result_name(enum lw_rec_result x); /* "created", "series_updated", ... */

struct lw_recorder_stats {
    uint64_t created, series_patches, series_deferred, rate_limited, failed;
    uint64_t annot_patches, annot_unchanged;
    uint64_t annot_coalesced;    /* new values folded into the pod's pending patch */
    uint64_t annot_withdrawn;    /* queued patches cancelled, no longer needed (or shutdown) */
    uint64_t series_coalesced;   /* repeats folded into the event's queued series patch */
    int core_mode;               /* 1 once fallen back to core/v1 */
    /* events only (annotation failures are in `failed` alone) */
    uint64_t by_reason[LW_REASON__COUNT][LW_REC_RES__COUNT];
};

enum lw_rec_outcome {
    LW_REC_CREATED = 1,          /* a new event is being created */
    LW_REC_SERIES_SENT,          /* a repeat: the series patch is being sent */
    LW_REC_SERIES_DEFERRED,      /* a repeat counted in memory; written by tick/later */
    LW_REC_RATE_LIMITED,         /* dropped by the per-pod limit */
};

struct lw_recorder;
struct lw_recorder *lw_recorder_new(struct lw_kube *k, const struct lw_recorder_opts *o,
                                    struct lw_errbuf *eb);
/* Cancels outstanding requests (no callbacks). */
void lw_recorder_free(struct lw_recorder *r);

/* Record one occurrence of reason for pod at t with note; note_class ("" or
 * NULL for none) separates different notes of the same reason (another top
 * stack is another event). Returns an enum lw_rec_outcome or an lw_err. */
int lw_recorder_event(struct lw_recorder *r, const struct lw_pod_ref *pod, enum lw_rec_reason reason,
                      const char *note_class, const char *note, double t);
/* Feed a verdict: state machine, then events. Returns the pod's status. */
enum lw_pod_status lw_recorder_verdict(struct lw_recorder *r, const struct lw_pod_ref *pod,
                                       const struct lw_verdict *v);
/* A scrape failed / succeeded (what: one line). */
void lw_recorder_scrape_failed(struct lw_recorder *r, const struct lw_pod_ref *pod,
                               const char *what, double t);
void lw_recorder_scrape_ok(struct lw_recorder *r, const struct lw_pod_ref *pod);
/* The container was OOM-killed (kill_id: e.g. the old containerID, so each
 * kill is its own event). pm->predicted etc. may be filled by the caller or
 * left false: the recorder fills them from its own prediction record. */
void lw_recorder_oomkilled(struct lw_recorder *r, const struct lw_pod_ref *pod, const char *kill_id,
                           const struct lw_postmortem *pm, double t);
/* The pod's current status (ok for an unknown pod); has_limit as last seen. */
enum lw_pod_status lw_recorder_status(const struct lw_recorder *r, const char *uid);
/* Write pending series updates whose interval has passed; drop idle entries. */
void lw_recorder_tick(struct lw_recorder *r, double now);
/* How often, at most, a summary whose numbers alone moved is re-written
 * (struct lw_annot_opts.refresh); the controller scales it with the fleet. */
void lw_recorder_set_annot_refresh(struct lw_recorder *r, double seconds);
/* The pod is gone: drop its state. */
void lw_recorder_forget(struct lw_recorder *r, const char *uid);

/* Send the annotation patch for pod (its current JSON) if one is needed.
 * Returns 1 if a patch was sent, 0 if nothing changed, or an lw_err.
 * At most one patch per pod is pending: new values replace the body of a
 * patch still queued in the client (0: no new request; counted in
 * annot_coalesced), or, while one is on the wire, are sent after it (1 the
 * first time, 0 when they replace values already waiting for it) unless it
 * carried the same values; the same values as the last acknowledged patch
 * are not sent again for 60 s after the acknowledgement (the informer's echo
 * lag). When the pod already shows what a wants (0), a patch still queued
 * for it is cancelled. So 1 = one more PATCH request. */
int lw_recorder_annotate(struct lw_recorder *r, const struct lw_pod_ref *pod, const cJSON *pod_obj,
                         const struct lw_annot *a, double now);
/* Remove our annotations (the pod opted out). 1 sent, 0 nothing to do. */
int lw_recorder_optout(struct lw_recorder *r, const struct lw_pod_ref *pod, const cJSON *pod_obj);

/* Requests still in flight (tests wait for 0). */
size_t lw_recorder_pending(const struct lw_recorder *r);
/* Cancel every annotation patch still queued (not on the wire), e.g. at
 * shutdown: the next leader computes them again from the pods. Returns how
 * many. O(pods). */
size_t lw_recorder_drop_annotations(struct lw_recorder *r);
void lw_recorder_get_stats(const struct lw_recorder *r, struct lw_recorder_stats *st);

/* ---- adoption (adopt.c; docs/events.md "Adoption") ----------------------------------
 * A new leader, or a controller that restarted, continues the Events already
 * written by leakwatch instead of creating second ones: it lists them, and
 * each becomes the recorder's series entry for its pod + reason + note class
 * (a repeat then updates that Event's series). The note class travels on the
 * Event as an annotation. */

/* On every Event we create: 16 lower-case hex digits, lw_rec_class_hash(note_class). */
#define LW_REC_ANN_CLASS "leakwatch.io/class"
/* FNV-1a 64 of the note class ("" for NULL), as the recorder keys its series. */
uint64_t lw_rec_class_hash(const char *note_class);

struct lw_rec_adopted {
    char ns[254], pod[254], uid[129];
    char name[LW_REC_NAME_MAX + 1]; /* the Event's metadata.name */
    enum lw_rec_reason reason;
    uint64_t class_hash;            /* from LW_REC_ANN_CLASS; absent: lw_rec_class_hash("") */
    int core;                       /* legacy core/v1 form (no eventTime): repeats are patched
                                     * as count/lastTimestamp through core/v1 */
    int count;                      /* series.count / count, >= 1 */
    double first;                   /* eventTime / firstTimestamp (unix s) */
    double last;                    /* series.lastObservedTime / lastTimestamp, >= first */
};
/* One Event (core/v1 or events.k8s.io/v1 JSON) into a. LW_EINVAL when it is
 * not ours (reportingController/reportingComponent/source.component), not
 * about a Pod with namespace, name and uid, has a reason we do not write, an
 * unusable name or time, or (GoroutineLeak, MemoryLeak, OOMKilled: reasons
 * whose class is not "") no class annotation. */
int lw_rec_adopted_parse(const cJSON *ev, struct lw_rec_adopted *a);

/* Take over a (parsed) Event as if this recorder had created it: the pod's
 * entry for reason + class becomes that Event (a newer one replaces an older
 * entry of the same key; the pod's oldest entry makes room). Call in order of
 * a->last: the pod's leak state follows the latest leak reason (leaking,
 * oom-predicted with its first time, ok after LeakResolved, none after
 * OOMKilled), ScrapeFailed's per-pod write interval continues from a->last.
 * The first repeat after adoption is written at once (the previous holder
 * may have died with counts not yet written), later ones as usual. Events
 * idle longer than series_idle at now are not adopted (0). Returns 1 adopted,
 * 0 skipped, or an lw_err. */
int lw_recorder_adopt(struct lw_recorder *r, const struct lw_rec_adopted *a, double now);
/* Is there an entry (created or adopted) for uid + reason + note class? */
bool lw_recorder_has_event(const struct lw_recorder *r, const char *uid, enum lw_rec_reason reason,
                           const char *note_class);
/* When the pod's current OOM prediction was first made (unix s), 0 = none. */
double lw_recorder_predicted_since(const struct lw_recorder *r, const char *uid);

struct lw_rec_adopt_opts {
    size_t page;                 /* `limit` of each list request; 0 = 500 */
    size_t max_events;           /* adopt at most this many (the newest); 0 = 5000 */
    size_t max_pages;            /* list at most this many pages; 0 = 40 */
    double timeout;              /* per request, seconds; 0 = the client's */
    /* adopt only Events about pods this says yes to (NULL = all) */
    bool (*keep)(void *ud, const char *uid);
    /* called once (not after cancel), from the loop, also when listing
     * failed (err != LW_OK: what was listed before is still adopted) */
    void (*done)(void *ud, int err, size_t adopted, size_t listed, const char *errmsg);
    void *ud;
};
struct lw_rec_adopter;
/* List our Events (GET /api/v1/events, fieldSelector
 * reportingComponent=leakwatch.io/controller, paged with limit/continue; one
 * store serves both Event APIs, so this sees events.k8s.io Events too; a
 * server that refuses the selector (400) is asked again without it and the
 * Events are filtered here), then adopt them in order of their last
 * observation. `out` (may be NULL) is valid until done runs. */
int lw_recorder_adopt_start(struct lw_recorder *r, struct lw_kube *k,
                            const struct lw_rec_adopt_opts *o, struct lw_rec_adopter **out,
                            struct lw_errbuf *eb);
/* Stop listing; done is not called. NULL is fine. */
void lw_rec_adopter_cancel(struct lw_rec_adopter *a);

#endif
