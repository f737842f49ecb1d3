/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube: an asynchronous Kubernetes API client over the event loop (pkg/loop)
 * and libcurl multi, plus watch-stream decoding and a list+watch informer.
 *
 * Where the credentials and TLS material come from is not this module's
 * business: it is given a struct lw_kube_endpoint (kube_auth.h) and calls
 * apply() before every request, unauthorized() after a 401.
 *
 * What it does (see ../../shared/docs/kubernetes-api.md §1, §3, §9 and
 * docs/client.md):
 *  - requests GET/POST/PUT/PATCH/DELETE with JSON bodies; response bodies are
 *    capped; a per-request timeout; the completion callback gets the status,
 *    the parsed body and, for every API error, a one-line message built from
 *    the Status object: `pods "x" not found (NotFound, 404)`;
 *  - retries: 429 and 5xx with Retry-After (capped) or jittered exponential
 *    backoff (5xx without Retry-After only for idempotent methods),
 *    connection errors for idempotent methods; 401 -> unauthorized() and one
 *    retry; a client-side token bucket (client-go's 5 qps, burst 10);
 *  - watches: one JSON WatchEvent per line, split with a capped line buffer;
 *    ERROR events decoded as Status (410 detected in both forms);
 *  - an informer: paged list, watch from the list's resourceVersion with
 *    bookmarks and a randomized timeoutSeconds, re-watch from the last RV,
 *    relist on 410, client-go's backoff (0.8 s doubling to 30 s, jitter,
 *    reset after 2 min), a cache keyed by UID.
 *
 * Single-threaded like the loop. Error returns mean the callback never runs.
 * resourceVersions are opaque strings, compared only for equality.
 */
#ifndef LW_KUBE_H
#define LW_KUBE_H

#include "base/base.h"
#include "kube/kube_auth.h"
#include "loop/loop.h"

#include <cjson/cJSON.h>

struct lw_kube;
struct lw_kube_req;

struct lw_kube_opts {
    double qps;              /* client-side rate limit; 0 = 5 (client-go); < 0 = unlimited */
    int burst;               /* 0 = 10 (client-go) */
    int max_retries;         /* retries after the first attempt; 0 = 10 (client-go); < 0 = none */
    double retry_after_max;  /* cap on a server's Retry-After, seconds; 0 = 30 */
    double backoff_init;     /* retry backoff without Retry-After; 0 = 0.5 s */
    double backoff_max;      /* 0 = 30 s */
    double timeout;          /* per-request timeout, seconds; 0 = 30 */
    double connect_timeout;  /* 0 = 30 (client-go's dialer) */
    size_t max_body;         /* response body cap; 0 = 32 MiB */
    size_t max_line;         /* watch line cap; 0 = 8 MiB */
    const char *user_agent;  /* NULL = "leakwatch/0.1" */
    size_t max_queued;       /* requests waiting for the rate limiter, at most; 0 = 10,000
                              * (past it the least important are dropped: docs/client.md) */
};

/* Priority lanes of the rate limiter's queue (docs/client.md "Priorities and
 * the queue cap"). A token goes to the first request of the most important
 * non-empty lane: HIGH, then NORMAL, then EVENT, then ANNOT; FIFO within a
 * lane. At the queue cap, ANNOT requests are dropped first, then EVENT ones,
 * never a more important request for a less important one. */
enum lw_kube_prio {
    LW_KUBE_PRIO_NORMAL = 0, /* the default: reads, lists, watches, other writes */
    LW_KUBE_PRIO_HIGH,       /* goes before everything (lease renewals) */
    LW_KUBE_PRIO_EVENT,      /* Event creates and series patches */
    LW_KUBE_PRIO_ANNOT,      /* pod annotation patches: the first to be dropped */
    LW_KUBE_PRIO__COUNT
};
const char *lw_kube_prio_name(enum lw_kube_prio p); /* "normal", "high", "event", "annotation" */

enum lw_kube_method {
    LW_KUBE_GET,
    LW_KUBE_POST,
    LW_KUBE_PUT,
    LW_KUBE_PATCH_MERGE,      /* application/merge-patch+json */
    LW_KUBE_PATCH_STRATEGIC,  /* application/strategic-merge-patch+json */
    LW_KUBE_PATCH_JSON,       /* application/json-patch+json */
    LW_KUBE_DELETE,
};

/* What a finished request (or watch) produced. Borrowed by the callback for
 * its duration; the callback may take body (set it to NULL, then it owns it). */
struct lw_kube_result {
    int err;            /* LW_OK for 2xx; LW_EHTTP API error; LW_ENET, LW_ETOOBIG, ... */
    long status;        /* HTTP status (or the Status code of a watch ERROR event); 0 = none */
    cJSON *body;        /* parsed JSON body, NULL if none or not JSON */
    const char *reason; /* Status.reason ("NotFound"), "" if none */
    const char *message;/* Status.message, "" if none */
    int attempts;       /* 1 + retries made */
    int watch_error_event; /* a watch ended by an ERROR event */
    char errmsg[LW_ERRBUF_SIZE]; /* one line for logs when err != LW_OK */
};

typedef void (*lw_kube_done_cb)(struct lw_kube *k, struct lw_kube_result *res, void *ud);

struct lw_kube_req_opts {
    double timeout;     /* 0 = the client's */
    int no_retry;       /* no 429/5xx/connection retries (401 still retried once) */
    enum lw_kube_prio prio; /* 0 = LW_KUBE_PRIO_NORMAL */
};

/* Takes ownership of ep (releases it in lw_kube_free, also on failure here). */
struct lw_kube *lw_kube_new(struct lw_loop *loop, struct lw_kube_endpoint *ep,
                            const struct lw_kube_opts *opts, struct lw_errbuf *eb);
/* Cancels every request and watch without callbacks. */
void lw_kube_free(struct lw_kube *k);
struct lw_loop *lw_kube_loop(struct lw_kube *k);

/* Send method to path ("/api/v1/namespaces/default/pods/x?..."; appended to
 * the endpoint's server). body (JSON text, copied) may be NULL. *out, when
 * given, receives a handle valid until the callback runs (for cancel).
 * LW_ENOMEM (no callback) when the queue is full of requests at least as
 * important (ro->prio); a less important queued one is dropped instead, its
 * callback getting LW_ENOMEM from the loop (docs/client.md). */
int lw_kube_request(struct lw_kube *k, enum lw_kube_method m, const char *path, const char *body,
                    const struct lw_kube_req_opts *ro, lw_kube_done_cb cb, void *ud,
                    struct lw_kube_req **out, struct lw_errbuf *eb);
/* Cancel a request or watch; its callbacks will not run. O(1). */
void lw_kube_cancel(struct lw_kube *k, struct lw_kube_req *r);
/* 1 while r has not been sent yet: waiting in the rate limiter's queue (also
 * between attempts, waiting for a retry), 0 once an attempt is on the wire. */
int lw_kube_req_waiting(const struct lw_kube_req *r);
/* Replace the body (JSON text, copied) of a request that is waiting
 * (lw_kube_req_waiting): the next attempt sends the new one; the request
 * keeps its place in the queue. LW_EINVAL when r is being sent (or is a
 * watch), LW_ENOMEM. For coalescing writes: one pending patch per object,
 * brought up to date in place. */
int lw_kube_replace_body(struct lw_kube *k, struct lw_kube_req *r, const char *body,
                         struct lw_errbuf *eb);

/* A client sharing parent's endpoint (server, TLS, credentials; parent keeps
 * owning it and must outlive the sibling) with its own rate limiter, retry
 * settings, queue and stats. For traffic that must not wait behind bulk
 * requests: the leader elector's lease renewals get a sibling, so a burst
 * of Events or annotation patches cannot starve them. opts as lw_kube_new. */
struct lw_kube *lw_kube_new_sibling(struct lw_kube *parent, const struct lw_kube_opts *opts,
                                    struct lw_errbuf *eb);

/* One finished attempt (retries are attempts too), for request metrics. */
struct lw_kube_attempt {
    enum lw_kube_method method;
    int watch;              /* a watch stream (it ends when the server closes it) */
    const char *path;       /* as given, with the query */
    long status;            /* HTTP status; 0 = transport failure, no response */
    int err;                /* LW_OK for 2xx (watch: stream ended cleanly) */
};
/* Called after every attempt (on the loop; must not call back into k).
 * NULL removes it. */
void lw_kube_set_observer(struct lw_kube *k, void (*fn)(void *ud, const struct lw_kube_attempt *a),
                          void *ud);
/* The Kubernetes verb of an attempt: "watch", "list" (GET on a collection),
 * "get", "create", "update", "patch", "delete". */
const char *lw_kube_verb(enum lw_kube_method m, int watch, const char *path);
/* The resource of an API path as kubectl spells it, "pods", "events",
 * "events.events.k8s.io", "leases.coordination.k8s.io",
 * "pods.metrics.k8s.io", with "/<subresource>" when there is one
 * ("pods/status"); "other" for anything else. Sets *collection to 1 when the
 * path names a collection (no object name). */
void lw_kube_resource(const char *path, char *out, size_t outlen, int *collection);

/* Counters for /metrics and tests. */
struct lw_kube_stats {
    uint64_t requests;      /* attempts sent (retries count) */
    uint64_t retries;
    uint64_t throttled;     /* requests that waited for the rate limiter */
    uint64_t api_errors;    /* completions with an HTTP error status */
    uint64_t net_errors;
    uint64_t unauthorized;  /* 401s seen */
    uint64_t queued;        /* requests waiting in the queue now (a gauge) */
    uint64_t queued_max;    /* the most ever waiting at once */
    uint64_t dropped;       /* requests dropped at the queue cap (sum of dropped_prio) */
    uint64_t dropped_prio[LW_KUBE_PRIO__COUNT];
    uint64_t queue_steps;   /* queue links followed (a cost measure: tests check that queue
                             * operations stay O(1) per request) */
};
void lw_kube_get_stats(const struct lw_kube *k, struct lw_kube_stats *st);

/* ---- status helpers --------------------------------------------------------- */

/* Format res->errmsg from a Status body or the transfer error:
 * `pods "x" not found (NotFound, 404)`. Exposed for tests. */
void lw_kube_format_error(struct lw_kube_result *res);
/* 410 Gone/Expired (either delivery form). */
int lw_kube_is_expired(const struct lw_kube_result *res);
/* Percent-encode s for a query value (RFC 3986 unreserved kept) into b. */
int lw_kube_urlencode(struct lw_buf *b, const char *s);

/* ---- watch streams ---------------------------------------------------------- */

/*
 * A line splitter with a hard cap: bytes are buffered until '\n'; each
 * complete line (without the '\n', a trailing '\r' removed) goes to on_line.
 * A line longer than max is LW_ETOOBIG and the splitter must be reset
 * (memory stays bounded by max). on_line returning non-zero stops feeding
 * and is returned.
 */
struct lw_linesplit {
    struct lw_buf buf;
};
void lw_linesplit_init(struct lw_linesplit *ls, size_t max);
int lw_linesplit_feed(struct lw_linesplit *ls, const char *data, size_t n,
                      int (*on_line)(void *ud, const char *line, size_t len), void *ud);
/* Bytes of an unterminated last line still buffered. */
size_t lw_linesplit_pending(const struct lw_linesplit *ls);
void lw_linesplit_release(struct lw_linesplit *ls);

enum lw_watch_type {
    LW_WATCH_ADDED,
    LW_WATCH_MODIFIED,
    LW_WATCH_DELETED,
    LW_WATCH_BOOKMARK,
    LW_WATCH_ERROR,
    LW_WATCH_UNKNOWN,  /* a type this client does not know: ignore it */
};

struct lw_watch_event {
    enum lw_watch_type type;
    const char *type_str;  /* as sent */
    cJSON *root;           /* the whole event (owned by whoever decoded it) */
    cJSON *object;         /* root's "object" (borrowed from root) */
    const char *rv;        /* object.metadata.resourceVersion or NULL */
    /* for ERROR: the Status */
    long code;
    const char *reason, *message;
};

/* Decode one line into ev (ev->root is the caller's to cJSON_Delete on
 * success). Blank lines are LW_EEMPTY. Anything that is not an object with a
 * string "type" and an object "object" is LW_EFORMAT, with eb saying why. */
int lw_watch_decode(const char *line, size_t len, struct lw_watch_event *ev, struct lw_errbuf *eb);

/* Per event of a watch. ev and its JSON are borrowed for the call; take the
 * object with cJSON_DetachItemFromObject(ev->root, "object") if needed.
 * Return 0 to go on, non-zero to end the watch (the done callback then gets
 * err LW_OK and status 200, unless it was an ERROR event). */
typedef int (*lw_kube_event_cb)(struct lw_kube *k, struct lw_watch_event *ev, void *ud);

struct lw_kube_list_opts {
    const char *label_selector;
    const char *field_selector;
    const char *resource_version;   /* NULL = not sent */
    const char *continue_token;     /* lists only */
    long limit;                     /* lists only; 0 = not sent */
    long timeout_seconds;           /* watches; 0 = not sent */
    int allow_bookmarks;            /* watches */
};

/* Append "?a=b&..." (or "&..." when path already has '?') for o to path. */
int lw_kube_build_url(struct lw_buf *out, const char *path, const struct lw_kube_list_opts *o,
                      int watch);

/* Open a watch on path (a collection, e.g. "/api/v1/pods") with o. on_event
 * runs per event; done once at the end: status 200/err LW_OK when the server
 * ended the stream (timeoutSeconds), an HTTP error before streaming, or the
 * decoded Status of an ERROR event (watch_error_event = 1, status = its code),
 * LW_ETOOBIG for a line over the cap, LW_EFORMAT for an undecodable line.
 * Watches are not retried here (the informer owns that), except once after a
 * 401. */
int lw_kube_watch(struct lw_kube *k, const char *path, const struct lw_kube_list_opts *o,
                  lw_kube_event_cb on_event, lw_kube_done_cb done, void *ud,
                  struct lw_kube_req **out, struct lw_errbuf *eb);

/* ---- informer (reflector + cache) ------------------------------------------- */

struct lw_informer;

struct lw_informer_opts {
    const char *path;              /* collection, e.g. "/api/v1/pods" */
    const char *label_selector;    /* optional */
    const char *field_selector;    /* optional, e.g. "status.phase=Running" */
    const char *node_name;         /* optional: adds spec.nodeName=<node> (DaemonSet mode) */
    long page_size;                /* 0 = 500 */
    long min_watch_timeout;        /* seconds; 0 = 300; timeoutSeconds in [min, 2*min] */
    double backoff_init;           /* 0 = 0.8 s */
    double backoff_max;            /* 0 = 30 s */
    double backoff_reset;          /* 0 = 120 s */
    /* Updates whose only differences are these annotation keys (and
     * metadata.resourceVersion / managedFields, and kind/apiVersion, which
     * list items lack) do not call on_update. */
    const char *const *ignore_annotations;
    size_t n_ignore_annotations;
    /* Handlers; objects are borrowed (owned by the cache) for the call. */
    void (*on_add)(void *ud, const cJSON *obj);
    void (*on_update)(void *ud, const cJSON *old_obj, const cJSON *new_obj);
    void (*on_delete)(void *ud, const cJSON *obj);
    void (*on_synced)(void *ud);   /* after each complete list is applied */
    /* Each list/watch failure, for logs and metrics (res borrowed). */
    void (*on_error)(void *ud, const char *what, const struct lw_kube_result *res);
    void *ud;
};

struct lw_informer_stats {
    uint64_t lists;        /* complete lists applied */
    uint64_t list_pages;
    uint64_t watches;      /* watch requests opened */
    uint64_t relists;      /* lists after a 410 */
    uint64_t errors;
    uint64_t events;
    uint64_t bookmarks;
    uint64_t ignored_updates;
    double last_delay;     /* last backoff delay, seconds */
};

/* Options are copied. The informer does nothing until lw_informer_start(). */
struct lw_informer *lw_informer_new(struct lw_kube *k, const struct lw_informer_opts *o,
                                    struct lw_errbuf *eb);
int lw_informer_start(struct lw_informer *inf, struct lw_errbuf *eb);
/* Stops requests and timers, frees the cache (no handlers called). */
void lw_informer_free(struct lw_informer *inf);
int lw_informer_has_synced(const struct lw_informer *inf);
size_t lw_informer_count(const struct lw_informer *inf);
/* Borrowed; valid until the next loop iteration. */
const cJSON *lw_informer_get(const struct lw_informer *inf, const char *uid);
void lw_informer_foreach(const struct lw_informer *inf, void (*fn)(void *ud, const cJSON *obj),
                         void *ud);
/* The resourceVersion the next watch would start from ("" before the first list). */
const char *lw_informer_last_rv(const struct lw_informer *inf);
void lw_informer_get_stats(const struct lw_informer *inf, struct lw_informer_stats *st);

/* The same-but-for-annotations test used for ignore_annotations (exposed for tests). */
int lw_informer_only_ignored_changed(const cJSON *a, const cJSON *b, const char *const *keys,
                                     size_t nkeys);

#endif
