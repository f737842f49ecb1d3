/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scraper: asynchronous pprof scraping of many targets over the event loop's
 * libcurl multi handle (pkg/loop), and the container memory signal (kubelet
 * /metrics/resource Prometheus text, metrics.k8s.io PodMetrics JSON).
 *
 * Why a module of its own: the controller watches hundreds of pods and must
 * never block, never be turned against anything but the pod it scrapes, and
 * never let a hostile or broken target (redirects, HTML, a gigabyte, a
 * trickle, a hang) cost it more than one bounded request. docs/scraping.md
 * explains every choice; the short version:
 *
 *  - A target is keyed by pod UID + container; its URL is built only from
 *    (scheme, pod IP literal, port, path) validated here, never from response
 *    content. Redirects are not followed, proxies from the environment are
 *    ignored, only http/https, and no Authorization header or cookie is ever
 *    attached (the API token is never sent to a pod).
 *  - Per cycle (interval +-10% jitter): goroutine?debug=1; heap?debug=1 every
 *    heap_every cycles (the heap text carries both the in-use sites and
 *    runtime.MemStats, so one request gives the memory signal);
 *    goroutineleak?debug=1 while the target serves it (probed; a 404 stops it
 *    until lw_scraper_restarted(), a new address or leak_reprobe_interval),
 *    at most every leak_min_interval; goroutine?debug=2 only while the caller
 *    marks the target suspected, at most every debug2_min_interval (it stops
 *    the target's world while it formats every goroutine).
 *  - A target has at most one request in flight; globally at most
 *    max_concurrent, the rest wait in a FIFO. A connection failure or a
 *    timeout ends the target's cycle (the other profiles would fail alike).
 *  - Every body is capped (transfer aborted past max_body), timed out,
 *    sniffed and parsed; the callback gets the parsed profile or one clear
 *    error line.
 *
 * Single-threaded, like the loop: call everything from the loop's thread.
 */
#ifndef LW_SCRAPER_H
#define LW_SCRAPER_H

#include "base/base.h"
#include "loop/loop.h"
#include "pprof/pprof.h"

#include <stdbool.h>
#include <stdint.h>

/* ==== pprof scraper ========================================================== */

struct lw_scraper;

enum lw_scrape_kind {
    LW_SCRAPE_GOROUTINE1 = 0,  /* goroutine?debug=1 */
    LW_SCRAPE_HEAP,            /* heap?debug=1 (sites + MemStats) */
    LW_SCRAPE_GOROUTINELEAK,   /* goroutineleak?debug=1 (Go 1.26+ with the experiment) */
    LW_SCRAPE_GOROUTINE2,      /* goroutine?debug=2 (only while suspected, rate-limited) */
    LW_SCRAPE_NKINDS
};
const char *lw_scrape_kind_name(enum lw_scrape_kind k); /* "goroutine1", "heap", ... */

struct lw_scraper_opts {
    int max_concurrent;          /* requests in flight over all targets; 0 = 8 */
    double timeout;              /* whole request, seconds; 0 = 10 */
    double connect_timeout;      /* seconds; 0 = 3 */
    size_t max_body;             /* bytes per response; 0 = 32 MiB (debug=2 of 20k goroutines is ~26 MB) */
    double jitter;               /* interval jitter fraction; 0 = 0.1; < 0 = none */
    double debug2_min_interval;  /* seconds between debug=2 dumps of one target; 0 = 300 */
    double leak_min_interval;    /* seconds between goroutineleak requests; 0 = 60 (each forces a GC) */
    double leak_reprobe_interval;/* after a 404 on goroutineleak, ask again after this long (the
                                  * binary may have been replaced in place); 0 = 3600; < 0 = only
                                  * after lw_scraper_restarted() or a new address */
    bool leak_disabled;          /* never request goroutineleak (--goroutineleak-profile=false) */
    int heap_every;              /* heap?debug=1 on every Nth cycle, the first included;
                                  * 0 = 1 (every cycle); < 0 = never (--heap-every 0) */
    double first_spread;         /* first scrape after rand*first_spread*interval; 0 = 1.0; < 0 = at once */
    bool tls_verify;             /* verify pod certificates (default false: see docs/scraping.md) */
    const char *ca_file;         /* CA bundle when tls_verify (copied); NULL = system */
    const char *user_agent;      /* NULL = "leakwatch/0.1 (scraper)" */
    struct lw_pprof_limits limits; /* all zero = defaults (max_input = max_body, 128 MiB inflated, 256 MiB model) */
    double (*rand01)(void *ud);  /* [0,1); NULL = random() */
    void *rand_ud;
};
void lw_scraper_opts_default(struct lw_scraper_opts *o);

/* What one request produced; borrowed by the callback for its duration. */
struct lw_scrape_result {
    const char *key;             /* "<uid>/<container>" */
    void *target_ud;             /* as given in the spec */
    enum lw_scrape_kind kind;
    int err;                     /* LW_OK or an lw_err (LW_EHTTP, LW_ENET, LW_ETOOBIG, LW_EFORMAT, ...) */
    long status;                 /* HTTP status, 0 if none */
    char errmsg[LW_ERRBUF_SIZE]; /* one line when err != LW_OK, naming the URL */
    const char *url;
    double started;              /* loop clock */
    double latency;              /* seconds from send to completion (real clock) */
    size_t bytes;                /* body bytes received */
    const char *body;            /* raw body (NUL-terminated), borrowed; NULL on transport errors */
    size_t body_len;
    /* Parsed profile when err == LW_OK. Still owned by the scraper, which
     * frees it after the callback; take it by setting it to NULL. */
    struct lw_profile *profile;
    /* goroutineleak answered 404: err is LW_ENOTFOUND but this is not a
     * failure (not counted in stats); it is not asked again until
     * lw_scraper_restarted() or a new address. */
    bool leak_absent;
};

typedef void (*lw_scrape_cb)(struct lw_scraper *s, struct lw_scrape_result *r, void *ud);

/* One target as the controller (pkg/target) knows it. Strings are copied. */
struct lw_scrape_spec {
    const char *uid;        /* pod UID (required) */
    const char *container;  /* container name (may be "") */
    const char *ip;         /* pod IP, an IPv4 or IPv6 literal: nothing else is accepted */
    int port;               /* 1..65535 */
    const char *path;       /* pprof prefix, e.g. "/debug/pprof" ("/" + safe characters, no "..", "//", '?', '#', '@') */
    bool https;
    double interval;        /* seconds; <= 0 = 30 */
    void *ud;               /* handed back in results */
};

/* Build the base URL for spec into out ("http://10.1.2.3:6060/debug/pprof"),
 * refusing anything that would reach another host or inject into the request
 * line. Exposed for tests and for pkg/target's own validation. */
int lw_scrape_base_url(const struct lw_scrape_spec *spec, char *out, size_t outlen,
                       struct lw_errbuf *eb);

struct lw_scraper *lw_scraper_new(struct lw_loop *loop, const struct lw_scraper_opts *o,
                                  lw_scrape_cb cb, void *ud, struct lw_errbuf *eb);
/* Cancels every transfer and timer without callbacks. Not from a callback.
 * Free the scraper before its loop. */
void lw_scraper_free(struct lw_scraper *s);

/* Add a target, or update it when the key exists. An update that changes the
 * URL cancels the target's in-flight request and queued work (a new pod IP
 * is a different process). Safe from inside the callback. */
int lw_scraper_upsert(struct lw_scraper *s, const struct lw_scrape_spec *spec,
                      struct lw_errbuf *eb);
/* Remove a target, cancelling its in-flight transfer (no callback for it).
 * Safe from inside the callback, also for the target being reported.
 * LW_ENOTFOUND if unknown. */
int lw_scraper_remove(struct lw_scraper *s, const char *uid, const char *container);
/* While suspected, debug=2 is requested (at most every debug2_min_interval). */
int lw_scraper_set_suspected(struct lw_scraper *s, const char *uid, const char *container,
                             bool suspected);
/* The container restarted: re-probe goroutineleak. */
int lw_scraper_restarted(struct lw_scraper *s, const char *uid, const char *container);
/* Parse the target's next debug=2 dump with this lw_pprof_limits.goid_cut
 * (the largest goroutine id of its previous dump, lw_series_goid_cut), so
 * its stacks say how many goroutines outlived one dump interval. */
int lw_scraper_set_goid_cut(struct lw_scraper *s, const char *uid, const char *container,
                            int64_t cut);
/* Start a cycle for the target now (and re-arm its timer from now). */
int lw_scraper_scrape_now(struct lw_scraper *s, const char *uid, const char *container);
size_t lw_scraper_count(const struct lw_scraper *s);

enum lw_leak_probe { LW_LEAK_UNKNOWN = 0, LW_LEAK_SERVED, LW_LEAK_ABSENT };

struct lw_scrape_target_stats {
    uint64_t requests, ok, failed;
    uint64_t by_kind_ok[LW_SCRAPE_NKINDS];
    uint32_t failures_in_row;    /* consecutive failed requests (any kind) */
    double last_latency;         /* seconds, last completed request */
    double last_ok;              /* loop clock of the last success, 0 = never */
    double last_debug2;          /* loop clock of the last debug=2 request, 0 = never */
    uint64_t cycles;             /* cycles started (the heap goes with every heap_every-th) */
    uint64_t cycles_cut;         /* cycles whose remaining requests were dropped after a
                                  * connection failure or timeout (they would fail alike) */
    enum lw_leak_probe leak_probe;
    double leak_absent_at;       /* loop clock of the last 404 on goroutineleak, 0 = none */
    char last_error[LW_ERRBUF_SIZE];
};
int lw_scraper_target_stats(const struct lw_scraper *s, const char *uid, const char *container,
                            struct lw_scrape_target_stats *st);

struct lw_scraper_stats {
    size_t targets, in_flight, queued;  /* queued = targets waiting for a slot */
    uint64_t started, ok, failed, cancelled;
    uint64_t too_big, timeouts, http_errors, format_errors;
    uint64_t bytes;
    size_t max_in_flight_seen;
};
void lw_scraper_get_stats(const struct lw_scraper *s, struct lw_scraper_stats *st);

/* ==== memory signal: Prometheus text ========================================== */

/*
 * A bounded parser for the Prometheus text exposition format 0.0.4, only
 * what the kubelet's /metrics/resource needs: '#' comments (HELP/TYPE are
 * checked for shape), samples `name{l="v",...} value [timestamp_ms]`,
 * label values with \\ \" \n escapes, values incl. NaN, +Inf, -Inf, and
 * blank lines. Errors name the line: "line 7: label value: unterminated
 * string". Bounds: max_line bytes per line, max_labels per sample,
 * max_samples per document.
 */
struct lw_prom_label {
    const char *name, *value;  /* NUL-terminated, valid during the callback */
};
struct lw_prom_sample {
    const char *name;
    const struct lw_prom_label *labels;
    size_t nlabels;
    double value;
    bool has_ts;
    int64_t ts_ms;
    size_t line;
};
struct lw_prom_limits {
    size_t max_line;      /* 0 = 64 KiB */
    size_t max_labels;    /* 0 = 64 */
    size_t max_samples;   /* 0 = 1,000,000 */
};
/* Returning non-zero from on_sample stops parsing with that value. */
typedef int (*lw_prom_sample_cb)(void *ud, const struct lw_prom_sample *s);
int lw_promtext_parse(const char *data, size_t len, const struct lw_prom_limits *lim,
                      lw_prom_sample_cb on_sample, void *ud, struct lw_errbuf *eb);
/* Value of label name in s, NULL if absent. */
const char *lw_prom_label(const struct lw_prom_sample *s, const char *name);

/* ==== memory signal: working-set samples ====================================== */

enum lw_ws_source {
    LW_WS_KUBELET = 1,      /* kubelet /metrics/resource container_memory_working_set_bytes */
    LW_WS_METRICS_API = 2,  /* metrics.k8s.io PodMetrics containers[].usage.memory */
};
const char *lw_ws_source_name(enum lw_ws_source s); /* "kubelet", "metrics.k8s.io" */

struct lw_ws_sample {
    char ns[64];
    char pod[254];
    char container[254];
    double bytes;
    double t;               /* unix seconds of the measurement; 0 = unknown */
    enum lw_ws_source source;
};
struct lw_ws_list {
    struct lw_ws_sample *v;
    size_t n, cap;
    size_t max;             /* 0 = 100,000 */
    /* optional hash index (lw_ws_list_index), valid while n == indexed */
    uint32_t *slots;        /* open addressing: sample index + 1, 0 = empty */
    size_t nslots, indexed;
};
void lw_ws_list_release(struct lw_ws_list *l);
/* Build the index so lw_ws_find is O(1) (the controller looks up every pod
 * of a node, or of the cluster, once per heap scrape). LW_ENOMEM leaves the
 * list usable with linear lookups. Appending samples invalidates it. */
int lw_ws_list_index(struct lw_ws_list *l);
/* Find (ns, pod, container); NULL if absent. */
const struct lw_ws_sample *lw_ws_find(const struct lw_ws_list *l, const char *ns, const char *pod,
                                      const char *container);

/* Append every container_memory_working_set_bytes sample of a kubelet
 * /metrics/resource body to out (NaN and negative values skipped, labels
 * too long for the fields refused). */
int lw_ws_from_kubelet(const char *data, size_t len, struct lw_ws_list *out, struct lw_errbuf *eb);
/* Append the containers of a PodMetrics or PodMetricsList JSON body. */
int lw_ws_from_podmetrics(const char *json, size_t len, struct lw_ws_list *out,
                          struct lw_errbuf *eb);

/* ==== memory signal: kubelet fetch ============================================= */

/*
 * One asynchronous GET of https://<nodeIP>:10250/metrics/resource over the
 * loop's multi handle, with the given bearer token (from the provider
 * callback, asked per request so rotation is picked up), a body cap and a
 * timeout; no redirects, no proxy. The kubelet's serving certificate is
 * often self-signed (not signed by the cluster CA), so verification is the
 * caller's choice: tls_verify = true with ca_file (recommended when the
 * kubelet certificates are cluster-signed), or false, which mirrors
 * metrics-server's --kubelet-insecure-tls. Note that the token IS sent to
 * this URL: only ever point it at the node's own kubelet.
 */
struct lw_kubelet_opts {
    const char *url;          /* required, http(s) only */
    bool tls_verify;
    const char *ca_file;      /* NULL = system bundle */
    double timeout;           /* 0 = 10 s */
    size_t max_body;          /* 0 = 16 MiB */
    /* Write the bearer token (no "Bearer ") into out; 0 or an lw_err. NULL = none. */
    int (*token)(void *ud, char *out, size_t outlen, struct lw_errbuf *eb);
    void *token_ud;
};
struct lw_kubelet_req;
/* samples is borrowed for the call (move it out by copying the struct and
 * zeroing the original). err != LW_OK: errmsg says what failed. */
typedef void (*lw_kubelet_cb)(struct lw_ws_list *samples, int err, long status,
                              const char *errmsg, void *ud);
int lw_kubelet_fetch(struct lw_loop *loop, const struct lw_kubelet_opts *o, lw_kubelet_cb cb,
                     void *ud, struct lw_kubelet_req **out, struct lw_errbuf *eb);
/* Cancel; the callback will not run. Not from inside that callback. */
void lw_kubelet_cancel(struct lw_kubelet_req *r);

#endif
