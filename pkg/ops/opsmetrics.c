/* SPDX-License-Identifier: Apache-2.0 */
/*
 * opsmetrics.c: the controller's metric families, declared in one table so
 * names, types, labels and help text live in one place; docs/metrics.md
 * documents each of them and a unit test checks that every name below
 * appears there.
 */
#include "ops/ops.h"

#include <stddef.h>
#include <string.h>

struct def {
    const char *name;
    enum lw_metric_type type;
    size_t off;
    const char *labels[LW_METRICS_MAX_LABELS];
    const char *help;
};

#define OFF(f) offsetof(struct lw_ops_metrics, f)
#define POD "namespace", "pod", "container"

static const struct def defs[] = {
    {"leakwatch_build_info", LW_METRIC_GAUGE, OFF(build_info), {"version", "commit"},
     "Always 1; the labels say which leakwatch build is running."},
    {"leakwatch_pods_watched", LW_METRIC_GAUGE, OFF(pods_watched), {NULL},
     "Pods in the informer cache (after the node and label selectors)."},
    {"leakwatch_pods_scraped", LW_METRIC_GAUGE, OFF(pods_scraped), {NULL},
     "Opted-in pods that currently have a scrape target."},
    {"leakwatch_scrapes_total", LW_METRIC_COUNTER, OFF(scrapes), {"profile", "result"},
     "Profile scrapes by profile (goroutine, goroutine_debug2, heap, goroutineleak) and result "
     "(ok, timeout, http_error, too_big, parse_error, connect_error)."},
    {"leakwatch_scrape_duration_seconds", LW_METRIC_HISTOGRAM, OFF(scrape_duration), {"profile"},
     "Time from request to parsed profile, by profile."},
    {"leakwatch_goroutines", LW_METRIC_GAUGE, OFF(goroutines), {POD},
     "Goroutines in the last goroutine profile of a container."},
    {"leakwatch_goroutine_growth_per_hour", LW_METRIC_GAUGE, OFF(goroutine_growth), {POD},
     "Fitted goroutine growth rate (goroutines per hour; 0 when flat)."},
    {"leakwatch_memory_bytes", LW_METRIC_GAUGE, OFF(memory_bytes), {POD, "source"},
     "Last memory sample of a container, by source (working_set, heap_inuse, go_sys)."},
    {"leakwatch_memory_growth_bytes_per_hour", LW_METRIC_GAUGE, OFF(memory_growth), {POD},
     "Fitted memory growth rate of a container (bytes per hour)."},
    {"leakwatch_memory_limit_bytes", LW_METRIC_GAUGE, OFF(memory_limit), {POD},
     "Memory limit that applies to the container (absent when it has none)."},
    {"leakwatch_predicted_oom_seconds", LW_METRIC_GAUGE, OFF(oom_seconds), {POD},
     "Seconds until the predicted OOM kill (absent when none is predicted within the horizon)."},
    {"leakwatch_leak_suspected", LW_METRIC_GAUGE, OFF(leak_suspected), {POD, "kind"},
     "1 while a leak of the given kind (goroutine, memory) is suspected, else 0."},
    {"leakwatch_api_requests_total", LW_METRIC_COUNTER, OFF(api_requests),
     {"verb", "resource", "code"},
     "Kubernetes API requests (every attempt, retries included) by verb, resource and HTTP "
     "status code (0 = transport failure)."},
    {"leakwatch_api_errors_total", LW_METRIC_COUNTER, OFF(api_errors), {"verb", "resource", "code"},
     "Kubernetes API requests that failed, by verb, resource and HTTP status code (0 = "
     "transport failure)."},
    {"leakwatch_watch_restarts_total", LW_METRIC_COUNTER, OFF(watch_restarts), {"reason"},
     "Pod watch restarts by reason (timeout, gone, error, relist)."},
    {"leakwatch_events_total", LW_METRIC_COUNTER, OFF(events), {"reason", "result"},
     "Kubernetes Events by reason and result (created, series_updated, rate_limited, failed)."},
    {"leakwatch_annotations_patched_total", LW_METRIC_COUNTER, OFF(annotations_patched),
     {"result"}, "Pod annotation patches by result (ok, failed, unchanged)."},
    {"leakwatch_leader", LW_METRIC_GAUGE, OFF(leader), {NULL},
     "1 while this replica holds the leader lease (always 1 in DaemonSet mode)."},
    {"leakwatch_api_queue_length", LW_METRIC_GAUGE, OFF(api_queue_length), {NULL},
     "Kubernetes API requests waiting for the client-side rate limiter (--api-qps)."},
    {"leakwatch_api_requests_dropped_total", LW_METRIC_COUNTER, OFF(api_dropped), {"priority"},
     "Kubernetes API requests dropped at the client's queue cap (10,000), by priority lane "
     "(annotation, event, normal, high)."},
};

const char *const lw_ops_metric_names[] = {
    "leakwatch_build_info", "leakwatch_pods_watched", "leakwatch_pods_scraped",
    "leakwatch_scrapes_total", "leakwatch_scrape_duration_seconds", "leakwatch_goroutines",
    "leakwatch_goroutine_growth_per_hour", "leakwatch_memory_bytes",
    "leakwatch_memory_growth_bytes_per_hour", "leakwatch_memory_limit_bytes",
    "leakwatch_predicted_oom_seconds", "leakwatch_leak_suspected", "leakwatch_api_requests_total",
    "leakwatch_api_errors_total", "leakwatch_watch_restarts_total", "leakwatch_events_total",
    "leakwatch_annotations_patched_total", "leakwatch_leader", "leakwatch_api_queue_length",
    "leakwatch_api_requests_dropped_total",
    "leakwatch_metrics_series_dropped_total", NULL};

static const double scrape_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

int lw_ops_metrics_init(struct lw_metrics *r, struct lw_ops_metrics *m, const char *version,
                        const char *commit, struct lw_errbuf *eb)
{
    memset(m, 0, sizeof *m);
    for (size_t i = 0; i < LW_ARRAY_SIZE(defs); i++) {
        const struct def *d = &defs[i];
        size_t nl = 0;
        while (nl < LW_METRICS_MAX_LABELS && d->labels[nl])
            nl++;
        struct lw_metric *f = lw_metrics_add(r, d->type, d->name, d->help, nl, d->labels,
                                             LW_ARRAY_SIZE(scrape_buckets), scrape_buckets, eb);
        if (!f)
            return LW_EINVAL;
        *(struct lw_metric **)((char *)m + d->off) = f;
    }
    const char *bi[] = {version ? version : "unknown", commit ? commit : "unknown"};
    int rc = lw_metric_set(m->build_info, bi, 1);
    if (!rc)
        rc = lw_metric_set(m->pods_watched, NULL, 0);
    if (!rc)
        rc = lw_metric_set(m->pods_scraped, NULL, 0);
    if (!rc)
        rc = lw_metric_set(m->leader, NULL, 0);
    if (rc)
        return lw_errf(eb, rc, "metrics: cannot create initial series");
    return LW_OK;
}

size_t lw_ops_metrics_forget_pod(struct lw_metrics *r, const char *ns, const char *pod)
{
    const char *names[] = {"namespace", "pod"};
    const char *values[] = {ns, pod};
    return lw_metrics_forget(r, 2, names, values);
}

const char *const lw_ops_memory_sources[] = {"working_set", "heap_inuse", "go_sys", NULL};
const char *const lw_ops_leak_kinds[] = {"goroutine", "memory", NULL};

size_t lw_ops_metrics_forget_container(struct lw_ops_metrics *m, const char *ns, const char *pod,
                                       const char *container)
{
    const char *v[4] = {ns, pod, container, NULL};
    struct lw_metric *three[] = {m->goroutines, m->goroutine_growth, m->memory_growth,
                                 m->memory_limit, m->oom_seconds};
    size_t n = 0;
    for (size_t i = 0; i < LW_ARRAY_SIZE(three); i++)
        n += three[i] && lw_metric_remove(three[i], v) == LW_OK;
    for (size_t i = 0; lw_ops_memory_sources[i]; i++) {
        v[3] = lw_ops_memory_sources[i];
        n += m->memory_bytes && lw_metric_remove(m->memory_bytes, v) == LW_OK;
    }
    for (size_t i = 0; lw_ops_leak_kinds[i]; i++) {
        v[3] = lw_ops_leak_kinds[i];
        n += m->leak_suspected && lw_metric_remove(m->leak_suspected, v) == LW_OK;
    }
    return n;
}
