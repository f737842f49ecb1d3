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
};

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
};

/* Takes ownership of ep (releases it in lw_kube_free, also on failure here). */
struct lw_kube *lw_kube_new(struct lw_loop *loop, struct lw_kube_endpoint *ep,
                            const struct lw_kube_opts *opts, struct lw_errbuf *eb);
/* Cancels every request and watch without callbacks. */
void lw_kube_free(struct lw_kube *k);
struct lw_loop *lw_kube_loop(struct lw_kube *k);

/* Send method to path ("/api/v1/namespaces/default/pods/x?..."; appended to
 * the endpoint's server). body (JSON text, copied) may be NULL. *out, when
 * given, receives a handle valid until the callback runs (for cancel). */
int lw_kube_request(struct lw_kube *k, enum lw_kube_method m, const char *path, const char *body,
                    const struct lw_kube_req_opts *ro, lw_kube_done_cb cb, void *ud,
                    struct lw_kube_req **out, struct lw_errbuf *eb);
/* Cancel a request or watch; its callbacks will not run. */
void lw_kube_cancel(struct lw_kube *k, struct lw_kube_req *r);

/* Counters for /metrics and tests. */
struct lw_kube_stats {
    uint64_t requests;      /* attempts sent (retries count) */
    uint64_t retries;
    uint64_t throttled;     /* requests that waited for the rate limiter */
    uint64_t api_errors;    /* completions with an HTTP error status */
    uint64_t net_errors;
    uint64_t unauthorized;  /* 401s seen */
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
