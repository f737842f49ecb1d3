/* SPDX-License-Identifier: Apache-2.0 */
/*
 * options.c: THE option table. Every knob of `leakwatch controller` is one
 * row here; config.c turns the rows into flag, environment and YAML parsing,
 * --help, and docs/configuration.md (a unit test keeps that file in sync).
 * To add an option: add a field to struct lw_config (ops.h), add a row
 * here, run `LW_UPDATE_DOCS=1 build/tests/test_ops_config docs_in_sync`.
 */
#include "ops/ops.h"

#include <stddef.h>

#define O(f) offsetof(struct lw_config, f)

static const char *const c_tristate[] = {"auto", "true", "false", NULL};
static const char *const c_mode[] = {"deployment", "daemonset", NULL};
static const char *const c_level[] = {"debug", "info", "warn", "error", NULL};
static const char *const c_format[] = {"logfmt", "json", NULL};
static const char *const c_conv[] = {"leakwatch", "pyroscope", "parca", NULL};

#define G_CONF "General"
#define G_KUBE "Kubernetes API"
#define G_WATCH "What to watch"
#define G_SCRAPE "Scraping"
#define G_MEM "Memory signal"
#define G_ANALYSIS "Analysis"
#define G_REPORT "Events and annotations"
#define G_LEADER "Leader election (Deployment mode)"
#define G_OPS "Operations"

const struct lw_option lw_options[] = {
    {"config", LW_OPT_STRING, "", O(config_file), 0, 0, NULL, NULL, G_CONF,
     "YAML file with options (keys are the option names below). Flags and environment "
     "variables override it. Only settable by flag or environment."},

    {"kubeconfig", LW_OPT_STRING, "", O(kubeconfig), 0, 0, NULL, NULL, G_KUBE,
     "Path of a kubeconfig file. Empty: in-cluster configuration when available, else "
     "$KUBECONFIG, else ~/.kube/config."},
    {"context", LW_OPT_STRING, "", O(context), 0, 0, NULL, NULL, G_KUBE,
     "kubeconfig context to use instead of current-context."},
    {"in-cluster", LW_OPT_ENUM, "auto", O(in_cluster), 0, 0, c_tristate, NULL, G_KUBE,
     "Use the in-cluster service account: auto (when KUBERNETES_SERVICE_HOST is set and no "
     "kubeconfig is given), true, or false."},
    {"api-qps", LW_OPT_FLOAT, "20", O(api_qps), 0.1, 10000, NULL, NULL, G_KUBE,
     "Client-side rate limit for Kubernetes API requests (requests per second)."},
    {"api-burst", LW_OPT_INT, "40", O(api_burst), 1, 100000, NULL, NULL, G_KUBE,
     "Burst allowed above api-qps."},

    {"mode", LW_OPT_ENUM, "deployment", O(mode), 0, 0, c_mode, NULL, G_WATCH,
     "deployment: watch the whole cluster, one active replica by leader election. daemonset: "
     "watch only this node's pods (needs node) and read its kubelet."},
    {"node", LW_OPT_STRING, "", O(node), 0, 0, NULL, "NODE_NAME", G_WATCH,
     "Only watch pods on this node (field selector spec.nodeName). Set from the downward API "
     "in DaemonSet mode."},
    {"label-selector", LW_OPT_STRING, "", O(label_selector), 0, 0, NULL, NULL, G_WATCH,
     "Only watch pods matching this label selector (e.g. team=payments,tier!=batch)."},
    {"namespaces", LW_OPT_LIST, "", O(namespaces), 0, 0, NULL, NULL, G_WATCH,
     "Only act on pods in these namespaces (comma-separated). Empty: all namespaces."},
    {"annotation-conventions", LW_OPT_LIST, "leakwatch,pyroscope,parca",
     O(annotation_conventions), 0, 0, c_conv, NULL, G_WATCH,
     "Opt-in annotation conventions to honour: leakwatch (leakwatch.io/scrape), pyroscope "
     "(profiles.grafana.com/goroutine.scrape), parca (parca.dev/scrape)."},

    {"scrape-interval", LW_OPT_DURATION, "30s", O(scrape_interval), 1, 86400, NULL, NULL,
     G_SCRAPE, "Default time between goroutine profile scrapes of a pod (jittered; a pod's "
     "leakwatch.io/interval annotation overrides it)."},
    {"scrape-timeout", LW_OPT_DURATION, "10s", O(scrape_timeout), 0.1, 600, NULL, NULL, G_SCRAPE,
     "Timeout of one profile request. Must not exceed scrape-interval."},
    {"max-concurrent-scrapes", LW_OPT_INT, "16", O(max_concurrent_scrapes), 1, 1024, NULL, NULL,
     G_SCRAPE, "Profile requests in flight at once, over all pods."},
    {"max-response-bytes", LW_OPT_BYTES, "64Mi", O(max_response_bytes), 4096,
     1073741824.0, NULL, NULL, G_SCRAPE,
     "Largest profile response accepted (Kubernetes quantity); larger ones fail the scrape."},
    {"debug2-min-interval", LW_OPT_DURATION, "5m", O(debug2_min_interval), 0, 86400, NULL, NULL,
     G_SCRAPE, "Least time between two goroutine?debug=2 scrapes of one pod; they are only "
     "taken while a leak is suspected because they are costly for the target."},
    {"heap-every", LW_OPT_INT, "2", O(heap_every), 0, 1000, NULL, NULL, G_SCRAPE,
     "Scrape the heap profile (in-use sites and Go MemStats) on the first of every N goroutine "
     "scrapes, and at once after a restart (0: never)."},
    {"goroutineleak-profile", LW_OPT_BOOL, "true", O(goroutineleak_profile), 0, 0, NULL, NULL,
     G_SCRAPE, "Also scrape /debug/pprof/goroutineleak (Go 1.26+) when the target serves it, at "
     "most every minute (each request forces a GC on the target). A 404 stops it until the "
     "container restarts or an hour has passed."},

    {"kubelet-metrics", LW_OPT_BOOL, "true", O(kubelet_metrics), 0, 0, NULL, NULL, G_MEM,
     "DaemonSet mode: read container working sets from the node's kubelet "
     "(https://<node InternalIP>/metrics/resource with the service-account token; needs get on "
     "nodes/metrics, and get on nodes to find the address, else the pods' hostIP is used). "
     "metrics.k8s.io is the fallback while the kubelet fails."},
    {"kubelet-port", LW_OPT_INT, "10250", O(kubelet_port), 1, 65535, NULL, NULL, G_MEM,
     "The kubelet's HTTPS port (tests point it at a fake kubelet on loopback)."},
    {"kubelet-insecure-skip-tls-verify", LW_OPT_BOOL, "false",
     O(kubelet_insecure_skip_tls_verify), 0, 0, NULL, NULL, G_MEM,
     "Do not verify the kubelet's serving certificate (for clusters whose kubelets use "
     "self-signed certificates)."},
    {"metrics-api", LW_OPT_BOOL, "true", O(metrics_api), 0, 0, NULL, NULL, G_MEM,
     "Read working sets from metrics.k8s.io when the API is served (in DaemonSet mode only "
     "while the kubelet fails)."},

    {"horizon", LW_OPT_DURATION, "7d", O(horizon), 60, 31536000.0, NULL, NULL, G_ANALYSIS,
     "How far ahead an OOM kill is predicted; later ones are not reported."},
    {"min-confidence", LW_OPT_FLOAT, "0.5", O(min_confidence), 0, 1, NULL, NULL, G_ANALYSIS,
     "Least confidence (0..1) of a leak verdict before it is reported."},

    {"events", LW_OPT_BOOL, "true", O(events), 0, 0, NULL, NULL, G_REPORT,
     "Record Kubernetes Events on pods (GoroutineLeak, MemoryLeak, OOMKillPredicted, ...)."},
    {"event-burst", LW_OPT_INT, "25", O(event_burst), 1, 1000, NULL, NULL, G_REPORT,
     "Events allowed per pod in a burst before the rate limit applies."},
    {"event-refill-interval", LW_OPT_DURATION, "5m", O(event_refill_interval), 1, 86400, NULL,
     NULL, G_REPORT, "One more event per pod is allowed after each interval."},
    {"scrape-failed-event-interval", LW_OPT_DURATION, "30m", O(scrape_failed_event_interval), 0,
     604800, NULL, NULL, G_REPORT, "Least time between two ScrapeFailed events of one pod."},
    {"annotations", LW_OPT_BOOL, "true", O(annotations), 0, 0, NULL, NULL, G_REPORT,
     "Write leakwatch.io/status, summary, predicted-oom-at, top-stack and updated-at "
     "annotations on pods."},

    {"leader-elect", LW_OPT_BOOL, "true", O(leader_elect), 0, 0, NULL, NULL, G_LEADER,
     "Run leader election on a coordination.k8s.io/v1 Lease so that one replica is active. "
     "Ignored in DaemonSet mode."},
    {"leader-election-lease-name", LW_OPT_STRING, "leakwatch", O(leader_election_lease_name), 0,
     0, NULL, NULL, G_LEADER, "Name of the Lease."},
    {"leader-election-namespace", LW_OPT_STRING, "", O(leader_election_namespace), 0, 0, NULL,
     "POD_NAMESPACE", G_LEADER,
     "Namespace of the Lease. Empty: the service account's namespace, else default."},
    {"leader-election-identity", LW_OPT_STRING, "", O(leader_election_identity), 0, 0, NULL,
     "POD_NAME", G_LEADER,
     "This replica's identity in the Lease and reportingInstance of Events. Empty: the host "
     "name."},
    {"leader-election-lease-duration", LW_OPT_DURATION, "15s", O(leader_election_lease_duration),
     1, 600, NULL, NULL, G_LEADER,
     "How long a lease is valid after it last changed; a standby takes over after this."},
    {"leader-election-renew-deadline", LW_OPT_DURATION, "10s",
     O(leader_election_renew_deadline), 1, 600, NULL, NULL, G_LEADER,
     "The leader gives up leadership if it cannot renew within this time."},
    {"leader-election-retry-period", LW_OPT_DURATION, "2s", O(leader_election_retry_period), 0.1,
     600, NULL, NULL, G_LEADER, "Time between attempts to acquire or renew the lease."},

    {"metrics-bind-address", LW_OPT_STRING, ":8080", O(metrics_bind_address), 0, 0, NULL, NULL,
     G_OPS, "Address of the /metrics, /healthz and /readyz server (host:port, :port, "
     "[v6]:port; port 0 picks a free port)."},
    {"log-level", LW_OPT_ENUM, "info", O(log_level), 0, 0, c_level, NULL, G_OPS,
     "Least severity logged: debug, info, warn or error."},
    {"log-format", LW_OPT_ENUM, "logfmt", O(log_format), 0, 0, c_format, NULL, G_OPS,
     "logfmt (key=value) or json, one record per line on stderr."},
    {"shutdown-timeout", LW_OPT_DURATION, "10s", O(shutdown_timeout), 0, 300, NULL, NULL, G_OPS,
     "On SIGTERM, how long to wait for in-flight requests and lease release before exiting."},
};

const size_t lw_options_count = sizeof(lw_options) / sizeof(lw_options[0]);
