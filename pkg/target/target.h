/* SPDX-License-Identifier: Apache-2.0 */
/*
 * target: turn one Kubernetes pod object (cJSON, as the informer caches it)
 * into the pprof scrape target leakwatch should use for it, or say why not.
 *
 * Pure and I/O-free: no network, no files, no clock. The controller calls
 * lw_target_from_pod() on every ADDED/MODIFIED pod and acts on the status:
 *
 *   LW_TARGET_NONE   the pod did not opt in (or opted out): forget it quietly;
 *   LW_TARGET_SKIP   opted in but cannot be scraped right now (Pending, no
 *                    podIP, terminating, container not running...): reason
 *                    says why; wait for the next update;
 *   LW_TARGET_ERROR  opted in but the annotations are wrong or hostile:
 *                    reason names the pod and the annotation (the controller
 *                    records ScrapeFailed / the status annotation);
 *   LW_TARGET_OK     target holds everything needed to scrape.
 *
 * Opt-in conventions (docs/annotations.md has every key with defaults and
 * examples): the leakwatch.io keys, Pyroscope's profiles.grafana.com/goroutine.X keys,
 * Parca's parca.dev keys. Precedence leakwatch.io > Pyroscope > Parca: the first
 * convention whose scrape key is "true" supplies port/path/scheme; keys of
 * other conventions are not mixed in. leakwatch.io/scrape: "false" opts a
 * pod out even when another convention opts it in.
 *
 * SECURITY: the URL is built only from the pod's own status.podIP (checked
 * with inet_pton, IPv6 bracketed) and a validated port; the path annotation
 * is checked against a strict grammar (see lw_target_check_path) so no pod
 * can point leakwatch at another host, smuggle headers, or traverse paths.
 *
 * OWNERSHIP: every string in the output is a bounded copy in a fixed-size
 * array; nothing points into the cJSON, which may be freed right after.
 */
#ifndef LW_TARGET_H
#define LW_TARGET_H

#include "base/base.h"

#include <stdint.h>

struct cJSON;

/* Annotation conventions, a bit mask. */
enum lw_target_conv {
    LW_TARGET_CONV_LEAKWATCH = 1, /* leakwatch.io/scrape ... */
    LW_TARGET_CONV_PYROSCOPE = 2, /* profiles.grafana.com/goroutine.scrape ... */
    LW_TARGET_CONV_PARCA = 4,     /* parca.dev/scrape ... */
    LW_TARGET_CONV_ALL = 7,
};

struct lw_target_opts {
    unsigned conventions;      /* mask of enum lw_target_conv; 0 = all three */
    double default_interval_s; /* 0 = 30 */
    double min_interval_s;     /* 0 = 5; leakwatch.io/interval is clamped */
    double max_interval_s;     /* 0 = 3600 */
};

enum lw_target_status {
    LW_TARGET_NONE = 0,
    LW_TARGET_SKIP = 1,
    LW_TARGET_ERROR = 2,
    LW_TARGET_OK = 3,
};

/* Where the memory limit came from. */
enum lw_limit_source {
    LW_LIMIT_NONE = 0,       /* no limit anywhere: no OOM forecast ("no-limit") */
    LW_LIMIT_STATUS = 1,     /* status.containerStatuses[].resources.limits (enacted, in-place resize) */
    LW_LIMIT_SPEC = 2,       /* spec.containers[].resources.limits */
    LW_LIMIT_POD_STATUS = 3, /* status.resources.limits (pod level, enacted) */
    LW_LIMIT_POD_SPEC = 4,   /* spec.resources.limits (pod-level resources) */
};

/* Container state from status.containerStatuses[].state. */
enum lw_container_state {
    LW_CSTATE_UNKNOWN = 0, /* no status entry, or no state */
    LW_CSTATE_WAITING = 1,
    LW_CSTATE_RUNNING = 2,
    LW_CSTATE_TERMINATED = 3,
};

/* Caps (bytes, excluding the NUL). Values longer than a cap are an error,
 * never silently truncated, except the free-text fields marked "cut". */
#define LW_TARGET_NS_MAX 63        /* namespace: DNS label */
#define LW_TARGET_NAME_MAX 253     /* pod name: DNS subdomain */
#define LW_TARGET_UID_MAX 63
#define LW_TARGET_CONTAINER_MAX 63 /* container name: DNS label */
#define LW_TARGET_PORTNAME_MAX 15  /* IANA_SVC_NAME */
#define LW_TARGET_PATH_MAX 256     /* path annotation */
#define LW_TARGET_ANNOT_MAX 256    /* any annotation value we read */
#define LW_TARGET_CID_MAX 255      /* containerID (cut) */
#define LW_TARGET_REASON_MAX 63    /* termination / waiting reason (cut) */
#define LW_TARGET_TIME_MAX 39      /* RFC 3339 timestamp (cut) */
#define LW_TARGET_IP_MAX 45        /* INET6_ADDRSTRLEN - 1 */
#define LW_TARGET_URL_MAX 400      /* "https://[v6]:65535" + path + "/goroutine" fits */

struct lw_target {
    /* identity (filled for SKIP/ERROR/OK whenever the pod has them) */
    char ns[LW_TARGET_NS_MAX + 1];
    char name[LW_TARGET_NAME_MAX + 1];
    char uid[LW_TARGET_UID_MAX + 1];
    enum lw_target_conv convention; /* which convention opted the pod in */

    /* the container whose limit and restarts matter (filled once resolved) */
    char container[LW_TARGET_CONTAINER_MAX + 1];
    /* series key: "<uid>/<container>"; a new series also starts when
     * restart_count or container_id changes (the controller compares). */
    char series_key[LW_TARGET_UID_MAX + 1 + LW_TARGET_CONTAINER_MAX + 1];
    int has_status;                    /* a containerStatuses entry was found */
    int32_t restart_count;             /* -1 when unknown */
    char container_id[LW_TARGET_CID_MAX + 1]; /* "containerd://..."; "" if none */
    enum lw_container_state state;
    char state_reason[LW_TARGET_REASON_MAX + 1]; /* waiting/terminated reason, cut */
    /* lastState.terminated, for the OOMKilled post-mortem */
    int has_last_terminated;
    char last_reason[LW_TARGET_REASON_MAX + 1];      /* e.g. "OOMKilled" */
    char last_finished_at[LW_TARGET_TIME_MAX + 1];   /* RFC 3339 as given */
    int last_exit_code;                              /* 137 after an OOM kill */
    char last_container_id[LW_TARGET_CID_MAX + 1];

    /* memory limit (filled once the container is resolved) */
    int64_t limit_bytes;            /* 0 when no_limit */
    int no_limit;
    enum lw_limit_source limit_source;
    int64_t pod_limit_bytes;        /* pod-level limit if any (may bind too), else 0 */

    /* endpoint (complete only for LW_TARGET_OK) */
    char scheme[6];                        /* "http" | "https" */
    char ip[LW_TARGET_IP_MAX + 1];         /* status.podIP, as validated */
    int ipv6;
    uint16_t port;
    char port_name[LW_TARGET_PORTNAME_MAX + 1]; /* "" when given by number */
    char path[LW_TARGET_PATH_MAX + 1];     /* pprof prefix, no trailing '/', may be "" */
    char goroutine_path[LW_TARGET_PATH_MAX + 16]; /* path + "/goroutine" unless the
                                                    Pyroscope path names it */
    char base_url[64];                     /* "http://10.0.0.1:6060", "https://[fd00::1]:6060" */
    char url[LW_TARGET_URL_MAX + 1];       /* base_url + goroutine_path (no query) */
    double interval_s;
    int host_network;                      /* spec.hostNetwork: podIP is the node's IP */
    char warning[160];                     /* non-fatal remark (interval clamped...), or "" */
};

struct lw_target_set {
    enum lw_target_status status;
    /* SKIP/ERROR: one line naming the pod (ns/name) and, for errors, the
     * annotation; "" for NONE/OK. */
    char reason[LW_ERRBUF_SIZE];
    /* the annotation key at fault for ERROR ("" when not an annotation) */
    char annotation[64];
    /* at most one target per pod; meaningful fields as documented above */
    struct lw_target target;
};

/* Default opts (all conventions, 30 s in [5 s, 1 h]). */
void lw_target_opts_default(struct lw_target_opts *o);

/* Evaluate pod (a v1 Pod object). opts may be NULL (defaults). out is always
 * fully reset first. Returns LW_OK for NONE/SKIP/OK; for ERROR returns
 * LW_EINVAL (or LW_ERANGE for out-of-range numbers) and eb (may be NULL)
 * gets the same message as out->reason. A NULL or non-object pod is an ERROR. */
int lw_target_from_pod(const struct cJSON *pod, const struct lw_target_opts *opts,
                       struct lw_target_set *out, struct lw_errbuf *eb);

/* Validate a path annotation value: starts with '/', not "//"; only
 * RFC 3986 unreserved, sub-delims (minus none dangerous) ':' '/' and valid %XX;
 * no '@', '\\', '?', '#', spaces or control characters (raw or %-encoded);
 * no "." or ".." segments and no empty segments ("//"), also after decoding;
 * at most LW_TARGET_PATH_MAX bytes. LW_OK or LW_EINVAL with a reason. */
int lw_target_check_path(const char *s, size_t n, struct lw_errbuf *eb);

/* Build the URL of a profile endpoint of t: base_url + path + "/" + profile
 * (goroutine_path when profile is "goroutine"), plus "?" query when query is
 * non-NULL and non-empty. profile must be [a-z0-9_-]+ and query
 * [A-Za-z0-9_=&.-]*. LW_EINVAL on a bad argument, LW_ETOOBIG if out is short. */
int lw_target_url(const struct lw_target *t, const char *profile, const char *query,
                  char *out, size_t outlen);

const char *lw_target_status_name(enum lw_target_status s);   /* "none", "skip", ... */
const char *lw_limit_source_name(enum lw_limit_source s);     /* "container-status", ... */
const char *lw_target_conv_name(enum lw_target_conv c);       /* "leakwatch.io", ... */

#endif
