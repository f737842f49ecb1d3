/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops: what leakwatch needs to be operated, not what it computes.
 *
 *  - log:     leveled, one-line records in logfmt or JSON with an RFC 3339
 *             millisecond timestamp, written with one write(2) per record,
 *             and an optional rate limiter for repeated messages;
 *  - metrics: a registry of counters, gauges and histograms with labelled
 *             series that can be removed (a pod that goes away disappears
 *             from /metrics), a hard cap on the number of series, and the
 *             Prometheus text exposition format 0.0.4;
 *  - httpd:   a small non-blocking HTTP/1.1 server on the pkg/loop event loop
 *             (no threads) serving /metrics, /healthz and /readyz;
 *  - config:  one declarative option table (fluent-bit's config_map idea)
 *             that drives command-line flags, LEAKWATCH_* environment
 *             variables, a YAML config file, --help and docs/configuration.md.
 *
 * DESIGN
 *  - "One thread owns all state": everything here is called from the thread
 *    that runs the loop. The logger's settings are process-wide (set once in
 *    main); lw_log() itself keeps a small rate-limit table, so it is not
 *    meant to be called from other threads.
 *  - No printing except through the logger, which writes to the fd it was
 *    given (stderr by default); nothing here exits.
 *  - Every buffer has a cap: request headers, YAML files, series counts.
 */
#ifndef LW_OPS_H
#define LW_OPS_H

#include "base/base.h"
#include "loop/loop.h"

#include <stdarg.h>
#include <stdint.h>

/* ======================================================================= */
/* log                                                                      */
/* ======================================================================= */

enum lw_log_level { LW_LOG_DEBUG = 0, LW_LOG_INFO, LW_LOG_WARN, LW_LOG_ERROR };
enum lw_log_format { LW_LOG_LOGFMT = 0, LW_LOG_JSON };

/*
 * Configure the process-wide logger: records below min are dropped; fd is
 * where lines go (-1 = stderr, 2). Defaults: info, logfmt, stderr.
 */
void lw_log_setup(enum lw_log_level min, enum lw_log_format fmt, int fd);
/* "debug" | "info" | "warn" | "error" (also "warning"); LW_EINVAL otherwise. */
int lw_log_parse_level(const char *s, enum lw_log_level *out);
const char *lw_log_level_name(enum lw_log_level l);
/* Rate limiter for repeated messages, keyed by the msg string (not the
 * key/value pairs): at most burst records with the same msg per window
 * seconds; the first record after a suppressed stretch carries
 * suppressed=N. burst 0 turns it off (the default). */
void lw_log_set_ratelimit(unsigned burst, double window_seconds);
/* Clock for timestamps and the rate limiter (unix seconds); NULL = real. */
void lw_log_set_clock(double (*now)(void));

/*
 * Log one record: lw_log(LW_LOG_INFO, "scrape failed", "pod", "ns/name",
 * "err", msg, NULL). Arguments after msg are key, value pairs of C strings,
 * terminated by a NULL key; a NULL value prints as an empty string. Keys are
 * sanitised to [A-Za-z0-9_.-] (others become '_'). Record shape:
 *   logfmt: ts=2026-11-26T19:30:00.123Z level=info msg="scrape failed" pod=ns/name
 *   json:   {"ts":"2026-11-26T19:30:00.123Z","level":"info","msg":"scrape failed","pod":"ns/name"}
 * logfmt values are quoted when empty or when they contain a space, '=',
 * '"', '\\' or a control character; inside quotes \" \\ \n \r \t and \u00XX
 * escapes are used. JSON strings are escaped per RFC 8259. Invalid UTF-8
 * bytes are replaced by U+FFFD in both formats. A record is capped at 16 KiB
 * (longer values are cut and end in "...").
 */
void lw_log(enum lw_log_level level, const char *msg, ...);
void lw_logv(enum lw_log_level level, const char *msg, va_list ap);
/* True when a record at level would be written (skip building costly values). */
int lw_log_enabled(enum lw_log_level level);

/* Format one record into out (appending, including the trailing '\n'),
 * without filtering or rate limiting. For tests and for lw_log itself. */
int lw_log_format_record(struct lw_buf *out, enum lw_log_format fmt, double unix_time,
                         enum lw_log_level level, const char *msg, va_list ap);

/* ======================================================================= */
/* metrics                                                                  */
/* ======================================================================= */

enum lw_metric_type { LW_METRIC_COUNTER = 0, LW_METRIC_GAUGE, LW_METRIC_HISTOGRAM };

struct lw_metrics; /* a registry */
struct lw_metric;  /* one family: name, help, type, label names */

#define LW_METRICS_MAX_LABELS 8
#define LW_METRICS_MAX_BUCKETS 32
#define LW_METRICS_DEFAULT_MAX_SERIES 20000

/* max_series caps the series over all families (0 = the default). */
struct lw_metrics *lw_metrics_new(size_t max_series);
void lw_metrics_free(struct lw_metrics *r);

/*
 * Register a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]* without a leading "__" (and not "le" for
 * histograms); names must be unique in the registry. Histograms need
 * 1..LW_METRICS_MAX_BUCKETS strictly increasing finite upper bounds (+Inf is
 * implicit). The family lives until lw_metrics_free. NULL on error (eb says).
 */
struct lw_metric *lw_metrics_add(struct lw_metrics *r, enum lw_metric_type type, const char *name,
                                 const char *help, size_t nlabels, const char *const *label_names,
                                 size_t nbuckets, const double *buckets, struct lw_errbuf *eb);
struct lw_metric *lw_metrics_find(struct lw_metrics *r, const char *name);

/*
 * Series operations. values holds one label value per label name (any
 * bytes except NUL; NULL allowed when the family has no labels). A series
 * is created on first use; when the registry already holds max_series
 * series the call fails with LW_ETOOBIG and the refusal is counted in
 * leakwatch_metrics_series_dropped_total.
 *  - set: gauges only;  add: counters (delta >= 0) and gauges;
 *  - observe: histograms only.
 */
int lw_metric_set(struct lw_metric *m, const char *const *values, double v);
int lw_metric_add(struct lw_metric *m, const char *const *values, double delta);
int lw_metric_observe(struct lw_metric *m, const char *const *values, double v);
/* Current value of a counter/gauge series (histograms: the count);
 * LW_ENOTFOUND when the series does not exist. */
int lw_metric_get(struct lw_metric *m, const char *const *values, double *out);
/* Remove one series; LW_ENOTFOUND when absent. */
int lw_metric_remove(struct lw_metric *m, const char *const *values);
/*
 * Remove, in every family, each series whose labels include all of the
 * given name=value pairs (families lacking one of the names are skipped).
 * E.g. names {"namespace","pod"}: everything about one pod. Returns the
 * number of series removed.
 */
size_t lw_metrics_forget(struct lw_metrics *r, size_t n, const char *const *names,
                         const char *const *values);
size_t lw_metrics_series_count(const struct lw_metrics *r);

/*
 * Append the Prometheus text format (version 0.0.4) to out: families sorted
 * by name, each with "# HELP" and "# TYPE", series sorted by label values;
 * label values escape \\, \" and \n, HELP text escapes \\ and \n; values
 * print as integers when exact, else %.17g, and as +Inf/-Inf/NaN.
 * Families without series print only HELP and TYPE. A registry-level
 * counter leakwatch_metrics_series_dropped_total is always included.
 */
int lw_metrics_render(struct lw_metrics *r, struct lw_buf *out);
#define LW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * The controller's metrics, registered in one place so names, labels and
 * help text cannot drift from docs/metrics.md (a test checks that every
 * name here appears there). Label sets:
 *   per-pod series: namespace, pod, container.
 */
struct lw_ops_metrics {
    struct lw_metric *build_info;          /* gauge{version,commit} = 1 */
    struct lw_metric *pods_watched;        /* gauge */
    struct lw_metric *pods_scraped;        /* gauge: opted-in pods with a target */
    struct lw_metric *scrapes;             /* counter{profile,result} */
    struct lw_metric *scrape_duration;     /* histogram{profile} seconds */
    struct lw_metric *goroutines;          /* gauge{namespace,pod,container} */
    struct lw_metric *goroutine_growth;    /* gauge{...} goroutines per hour */
    struct lw_metric *memory_bytes;        /* gauge{...,source} */
    struct lw_metric *memory_growth;       /* gauge{...} bytes per hour */
    struct lw_metric *memory_limit;        /* gauge{...} bytes */
    struct lw_metric *oom_seconds;         /* gauge{...} seconds to predicted OOM */
    struct lw_metric *leak_suspected;      /* gauge{...,kind} 0/1 */
    struct lw_metric *api_errors;          /* counter{verb,resource,code} */
    struct lw_metric *api_requests;        /* counter{verb,resource,code} */
    struct lw_metric *watch_restarts;      /* counter{reason} */
    struct lw_metric *events;              /* counter{reason,result} */
    struct lw_metric *annotations_patched; /* counter{result} */
    struct lw_metric *leader;              /* gauge 0/1 */
    struct lw_metric *api_queue_length;    /* gauge: requests waiting for the client's limiter */
    struct lw_metric *api_dropped;         /* counter{priority}: dropped at the client's queue cap */
};
int lw_ops_metrics_init(struct lw_metrics *r, struct lw_ops_metrics *m, const char *version,
                        const char *commit, struct lw_errbuf *eb);
/* Drop every per-pod series of one pod (namespace + pod labels): a scan of
 * every series of the registry. */
size_t lw_ops_metrics_forget_pod(struct lw_metrics *r, const char *ns, const char *pod);
/* The same for one container in O(1): removes exactly the per-container
 * series the controller sets (the families with namespace/pod/container,
 * memory_bytes for every source, leak_suspected for every kind). Returns
 * how many existed. */
size_t lw_ops_metrics_forget_container(struct lw_ops_metrics *m, const char *ns, const char *pod,
                                       const char *container);
/* Values of the extra label of memory_bytes (source) and leak_suspected (kind). */
extern const char *const lw_ops_memory_sources[];  /* NULL-terminated */
extern const char *const lw_ops_leak_kinds[];      /* NULL-terminated */
/* Name of every metric lw_ops_metrics_init registers (NULL-terminated). */
extern const char *const lw_ops_metric_names[];

/* ======================================================================= */
/* httpd                                                                    */
/* ======================================================================= */

struct lw_httpd;

struct lw_httpd_opts {
    const char *bind;          /* "host:port", ":port", "[v6]:port"; NULL = ":8080"; port 0 = any */
    size_t max_conns;          /* concurrent connections; 0 = 64. Beyond: 503 and close */
    size_t max_header_bytes;   /* request line + headers; 0 = 8192. Beyond: 431 and close */
    double request_timeout;    /* seconds from accept to a complete response; 0 = 10 */
};

/*
 * Listen on opts->bind and serve on loop:
 *   GET/HEAD /metrics  200, lw_metrics_render(metrics) (metrics may be NULL: empty)
 *   GET/HEAD /healthz  200 "ok" (answering at all proves the loop runs), or
 *                      503 after lw_httpd_set_live(s, 0) (shutting down)
 *   GET/HEAD /readyz   503 "not ready" until lw_httpd_set_ready(s, 1), then 200 "ok"
 *   other paths 404; other methods 405 with "Allow: GET, HEAD";
 *   malformed request line 400; headers > max_header_bytes 431.
 * Every response carries "Connection: close" and the connection is closed
 * after it (a half-close, then unread input is drained for a moment so the
 * client receives the response instead of a reset). Slow or partial clients
 * only hold their own connection, until request_timeout. Numeric hosts only
 * (no DNS); an empty host listens on all addresses (IPv6 dual-stack when
 * available, else IPv4).
 */
struct lw_httpd *lw_httpd_new(struct lw_loop *loop, const struct lw_httpd_opts *opts,
                              struct lw_metrics *metrics, struct lw_errbuf *eb);
/* Closes the listener and every open connection. NULL is a no-op. */
void lw_httpd_free(struct lw_httpd *s);
void lw_httpd_set_ready(struct lw_httpd *s, int ready);
void lw_httpd_set_live(struct lw_httpd *s, int live);
/* The bound TCP port (useful with port 0). */
int lw_httpd_port(const struct lw_httpd *s);
size_t lw_httpd_conn_count(const struct lw_httpd *s);

/* Split "host:port" / ":port" / "[v6]:port" (no DNS). host gets "" for an
 * empty host. LW_EINVAL with a message otherwise. */
int lw_parse_bind(const char *s, char *host, size_t hostlen, int *port, struct lw_errbuf *eb);

/* ======================================================================= */
/* config                                                                   */
/* ======================================================================= */

struct lw_strlist {
    char **v;
    size_t n;
};

enum lw_mode { LW_MODE_DEPLOYMENT = 0, LW_MODE_DAEMONSET };
enum lw_tristate { LW_AUTO = 0, LW_TRUE, LW_FALSE };

/* Every field is filled from the option table (defaults first). Strings are
 * malloc'd ("" rather than NULL); free with lw_config_release. */
struct lw_config {
    /* where the config came from (set by lw_config_load, not an option) */
    char *config_file;
    int help;         /* --help given */

    /* Kubernetes connection */
    char *kubeconfig;
    char *context;
    int in_cluster;   /* enum lw_tristate */
    double api_qps;
    int64_t api_burst;

    /* what to watch */
    int mode;         /* enum lw_mode */
    char *node;
    char *label_selector;
    struct lw_strlist namespaces;
    struct lw_strlist annotation_conventions;

    /* scraping */
    double scrape_interval;
    double scrape_timeout;
    int64_t max_concurrent_scrapes;
    int64_t max_response_bytes;
    double debug2_min_interval;
    int64_t heap_every;
    int goroutineleak_profile;

    /* memory signal */
    int kubelet_metrics;
    int64_t kubelet_port;
    int kubelet_insecure_skip_tls_verify;
    int metrics_api;

    /* analysis */
    double horizon;
    double min_confidence;

    /* reporting */
    int events;
    int64_t event_burst;
    double event_refill_interval;
    double scrape_failed_event_interval;
    int annotations;

    /* leader election (Deployment mode) */
    int leader_elect;
    char *leader_election_lease_name;
    char *leader_election_namespace;
    char *leader_election_identity;
    double leader_election_lease_duration;
    double leader_election_renew_deadline;
    double leader_election_retry_period;

    /* operations */
    char *metrics_bind_address;
    int log_level;    /* enum lw_log_level */
    int log_format;   /* enum lw_log_format */
    double shutdown_timeout;
};

enum lw_opt_type {
    LW_OPT_STRING = 0,
    LW_OPT_INT,      /* int64_t, within [min, max] */
    LW_OPT_FLOAT,    /* double, within [min, max] */
    LW_OPT_DURATION, /* double seconds, Go syntax ("30s", "1h30m", "7d"), within [min, max] */
    LW_OPT_BYTES,    /* int64_t bytes, Kubernetes quantity ("64Mi"), within [min, max] */
    LW_OPT_BOOL,     /* int 0/1: true/false/1/0/yes/no/on/off */
    LW_OPT_ENUM,     /* int index into choices */
    LW_OPT_LIST,     /* struct lw_strlist; comma-separated (flag/env) or a YAML sequence;
                        when choices is set every item must be one of them */
};

struct lw_option {
    const char *name;      /* flag "--name", YAML key "name", env LEAKWATCH_NAME (upper, '-' -> '_') */
    enum lw_opt_type type;
    const char *def;       /* default, in the same syntax a user would write */
    size_t offset;         /* offsetof(struct lw_config, field) */
    double min, max;       /* numeric bounds (min == max == 0: none) */
    const char *const *choices; /* ENUM / LIST: NULL-terminated */
    const char *env_alias; /* also read from this variable (lower precedence than LEAKWATCH_*) */
    const char *group;     /* heading in --help and the docs */
    const char *help;      /* one or two sentences */
};

extern const struct lw_option lw_options[];
extern const size_t lw_options_count;

/* Set every option to its default (cfg must be zeroed or released). */
int lw_config_defaults(struct lw_config *cfg, struct lw_errbuf *eb);
void lw_config_release(struct lw_config *cfg);

/*
 * Build the configuration: defaults, then the YAML file (--config FILE from
 * argv, else LEAKWATCH_CONFIG), then the environment, then argv; each later
 * source overrides earlier ones (flags > env > file > defaults). Then
 * lw_config_validate. argv holds only options (argv[0] is NOT skipped: pass
 * argv + 1 from main); "--name value", "--name=value", "--name" for a bool
 * (= true) and "--no-name" (bool = false) are accepted; "--help"/"-h" sets
 * cfg->help and stops. envp: NULL-terminated "NAME=value" strings, NULL =
 * the process environment. Unknown flags and unknown YAML keys are errors
 * naming them; unknown LEAKWATCH_* variables are ignored. On failure cfg is
 * still valid (release it) and eb names the option, the source and the
 * problem.
 */
int lw_config_load(struct lw_config *cfg, int argc, char *const *argv, char *const *envp,
                   struct lw_errbuf *eb);
/* Apply one option by name from a given source label (for messages). */
int lw_config_set(struct lw_config *cfg, const char *name, const char *value, const char *source,
                  struct lw_errbuf *eb);
/* Apply a YAML document (text, len bytes; capped at LW_CONFIG_MAX_FILE,
 * nesting depth and aliases refused). source names it in messages. */
#define LW_CONFIG_MAX_FILE (1024 * 1024)
int lw_config_load_yaml(struct lw_config *cfg, const char *text, size_t len, const char *source,
                        struct lw_errbuf *eb);
/* Cross-option rules (scrape timeout <= interval, lease > renew > retry,
 * daemonset needs a node, ...). */
int lw_config_validate(const struct lw_config *cfg, struct lw_errbuf *eb);

/* --help text and docs/configuration.md, both from lw_options. */
int lw_config_help(struct lw_buf *out);
int lw_config_markdown(struct lw_buf *out);
/* Current value of an option, in user syntax ("30s", "64Mi", "a,b"). */
int lw_config_format_value(const struct lw_config *cfg, const struct lw_option *o,
                           struct lw_buf *out);
const struct lw_option *lw_config_find(const char *name);

#endif
