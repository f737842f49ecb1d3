/* SPDX-License-Identifier: Apache-2.0 */
/*
 * controller.c: `leakwatch controller` on one event loop. Owns the per-pod
 * state (keyed by pod UID) and connects the informer's add/update/delete,
 * the scraper's results, the working-set fetchers, the recorder and the
 * ops metrics/httpd. The flow and each pod's life are in docs/controller.md.
 */
#include "controller/controller.h"

#include "analysis/analysis.h"
#include "kube/kube.h"
#include "kubeconfig/kubeconfig.h"
#include "leader/leader.h"
#include "loop/loop.h"
#include "scraper/scraper.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CTL_MAX_PODS 100000
/* /metrics series: 10 per container (docs/metrics.md) for 10,000 pods, plus
 * the global families */
#define CTL_MAX_SERIES 120000

struct pod {
    char uid[LW_TARGET_UID_MAX + 1];
    char ns[LW_TARGET_NS_MAX + 1];
    char name[LW_TARGET_NAME_MAX + 1];
    char container[LW_TARGET_CONTAINER_MAX + 1];
    struct lw_series *series;
    bool scraping;                 /* upserted into the scraper */
    bool paused;                   /* scraping stopped by a lost lease; series kept */
    struct lw_ctl_incarnation inc;
    struct lw_ctl_prediction pred;
    double limit_bytes;            /* 0 = none */
    double last_verdict_t;
    enum lw_leak_state leak;       /* only used with --no-events */
    bool suspected;
    bool target_error;
    bool status_logged;            /* logged_status holds the last status logged at info */
    enum lw_pod_status logged_status;
    char last_kill_id[LW_TARGET_CID_MAX + 1];
    struct lw_pod_ref ref;         /* points into this struct */
    /* memory signal last fed to the series (named in the summary annotation) */
    enum mem_src { MEM_NONE = 0, MEM_RUNTIME, MEM_KUBELET, MEM_METRICS_API } mem_src;
    double mem_bytes;
    struct pod *hnext;             /* hash chain by uid */
    size_t idx;                    /* position in ctl.pods */
};

struct ws_cache {
    struct lw_ws_list list;
    double fetched_at;             /* unix s */
};

struct ctl {
    const struct lw_config *cfg;
    struct lw_loop *loop;
    struct lw_kube_endpoint ep;    /* the client keeps a pointer to it */
    struct lw_kube *kube;
    struct lw_informer *inf;
    struct lw_scraper *scraper;
    struct lw_recorder *rec;
    struct lw_metrics *reg;
    struct lw_ops_metrics m;
    struct lw_httpd *httpd;
    struct lw_leader *le;          /* NULL: no election (DaemonSet, --no-leader-elect) */
    struct lw_kube *kube_le;       /* the elector's own client: its own rate limiter, so a
                                    * burst of Events cannot delay lease renewals */
    bool leading;                  /* acting as the leader (always without election) */
    bool released;
    /* takeover: our Events are adopted before any pod is acted on */
    struct lw_rec_adopter *adopter;
    bool adopting;                 /* listing/adopting: may_act() is false meanwhile */
    bool adopt_wait_sync;          /* start the adoption once the informer has synced */
    bool adopted_ok;               /* the last adoption listed all of our Events */
    struct lw_timer *tick;
    struct lw_timer *ws_timer;
    struct lw_target_opts topts;
    struct lw_analysis_params aparams;

    struct pod **pods;             /* for iteration; a pod knows its index */
    size_t npods, cap;
    struct pod **buckets;          /* by uid, nbuckets a power of two: O(1) at 5,000 pods */
    size_t nbuckets;

    /* memory signal */
    struct ws_cache kubelet, mapi;
    struct lw_kubelet_req *kubelet_req;
    struct lw_kube_req *mapi_req;
    double mapi_retry_at;          /* metrics.k8s.io not served: ask again then (unix s) */
    char node_ip[LW_TARGET_IP_MAX + 1];  /* from the Node's status.addresses */
    bool node_ip_from_node;
    char host_ip[LW_TARGET_IP_MAX + 1];  /* a pod's status.hostIP: used once the Node
                                          * could not be read */
    struct lw_kube_req *node_req;
    double node_retry_at;          /* unix s */
    double kubelet_ok_at;          /* last successful kubelet fetch (unix s), 0 = never */
    int kubelet_failures;          /* in a row */

    bool stopping;
    bool synced_once;
    bool force_exit;
    double stop_deadline;
    struct lw_recorder_stats last_rs;
    uint64_t last_api_dropped;     /* kube client's stats.dropped at the last tick (queue cap) */
    uint64_t last_api_dropped_prio[LW_KUBE_PRIO__COUNT];
};

static double wall_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Only the leader scrapes and writes (lw_leader_is_leader also checks the
 * renew deadline, so a stalled loop cannot act on an expired lease). */
static bool may_act(const struct ctl *c)
{
    return c->leading && !c->adopting && (!c->le || lw_leader_is_leader(c->le));
}

static void adopt_begin(struct ctl *c);
static void adopt_cancel(struct ctl *c);

/* ---- pod table ----------------------------------------------------------------- */

static void update_counts(struct ctl *c)
{
    if (!c->inf)
        return;
    lw_metric_set(c->m.pods_watched, NULL, (double)lw_informer_count(c->inf));
    lw_metric_set(c->m.pods_scraped, NULL,
                  c->scraper ? (double)lw_scraper_count(c->scraper) : 0.0);
}

static size_t uid_bucket(const struct ctl *c, const char *uid)
{
    return (size_t)(lw_fnv1a(LW_FNV_INIT, uid, strlen(uid)) & (c->nbuckets - 1));
}

static struct pod *pod_find(struct ctl *c, const char *uid)
{
    if (!c->nbuckets)
        return NULL;
    for (struct pod *p = c->buckets[uid_bucket(c, uid)]; p; p = p->hnext)
        if (strcmp(p->uid, uid) == 0)
            return p;
    return NULL;
}

static int pod_hash_grow(struct ctl *c)
{
    size_t nb = c->nbuckets ? c->nbuckets * 2 : 64;
    struct pod **b = calloc(nb, sizeof(*b));
    if (!b)
        return LW_ENOMEM;
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
    for (size_t i = 0; i < c->npods; i++) {
        struct pod *p = c->pods[i];
        size_t h = uid_bucket(c, p->uid);
        p->hnext = b[h];
        b[h] = p;
    }
    return LW_OK;
}


/* The number of pods changed: a pod's numbers-only summary refresh follows
 * the fleet's size (lw_ctl_annot_refresh). */
static void fleet_changed(struct ctl *c)
{
    lw_recorder_set_annot_refresh(c->rec, lw_ctl_annot_refresh(c->npods, c->cfg->api_qps));
}
static struct pod *pod_get(struct ctl *c, const struct lw_target *t)
{
    struct pod *p = pod_find(c, t->uid);
    if (p)
        return p;
    if (c->npods >= CTL_MAX_PODS)
        return NULL;
    if (c->npods == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        struct pod **np = realloc(c->pods, nc * sizeof(*np));
        if (!np)
            return NULL;
        c->pods = np;
        c->cap = nc;
    }
    if (c->npods + 1 > c->nbuckets && pod_hash_grow(c) != LW_OK)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->series = lw_series_new(&c->aparams);
    if (!p->series) {
        free(p);
        return NULL;
    }
    snprintf(p->uid, sizeof(p->uid), "%s", t->uid);
    snprintf(p->ns, sizeof(p->ns), "%s", t->ns);
    snprintf(p->name, sizeof(p->name), "%s", t->name);
    p->inc.restart_count = -1;
    lw_ctl_prediction_reset(&p->pred);
    p->ref.ns = p->ns;
    p->ref.name = p->name;
    p->ref.uid = p->uid;
    p->idx = c->npods;
    c->pods[c->npods++] = p;
    fleet_changed(c);
    size_t h = uid_bucket(c, p->uid);
    p->hnext = c->buckets[h];
    c->buckets[h] = p;
    return p;
}

static void pod_labels(const struct pod *p, const char **v)
{
    v[0] = p->ns;
    v[1] = p->name;
    v[2] = p->container;
}

static void pod_forget(struct ctl *c, struct pod *p)
{
    if (p->scraping)
        lw_scraper_remove(c->scraper, p->uid, p->container);
    lw_recorder_forget(c->rec, p->uid);
    lw_ops_metrics_forget_container(&c->m, p->ns, p->name, p->container);
    struct pod **pp = &c->buckets[uid_bucket(c, p->uid)];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    if (p->idx < c->npods && c->pods[p->idx] == p) {
        c->pods[p->idx] = c->pods[--c->npods];
        if (p->idx < c->npods)
            c->pods[p->idx]->idx = p->idx;
        fleet_changed(c);
    }
    lw_series_free(p->series);
    free(p);
}

/* ---- annotations --------------------------------------------------------------- */

static const char *mem_src_phrase(enum mem_src s)
{
    switch (s) {
    case MEM_KUBELET: return "working set from the kubelet";
    case MEM_METRICS_API: return "working set from metrics.k8s.io";
    case MEM_RUNTIME: return "Go runtime";
    default: return NULL;
    }
}

static void annotate(struct ctl *c, struct pod *p, const struct lw_annot *a_in)
{
    if (!c->cfg->annotations || c->stopping || !may_act(c))
        return;
    const cJSON *obj = lw_informer_get(c->inf, p->uid);
    if (!obj)
        return;
    const struct lw_annot *a = a_in;
    struct lw_annot am;
    if (a_in->status != LW_STATUS_SCRAPE_FAILING && a_in->status != LW_STATUS_OOMKILLED &&
        p->mem_src != MEM_NONE) {
        am = *a_in;
        lw_ctl_summary_memory(am.summary, sizeof(am.summary), mem_src_phrase(p->mem_src),
                              p->mem_bytes);
        a = &am;
    }
    int rc = lw_recorder_annotate(c->rec, &p->ref, obj, a, wall_now());
    const char *res = rc == 1 ? "ok" : rc == 0 ? "unchanged" : "failed";
    const char *lv[] = {res};
    lw_metric_add(c->m.annotations_patched, lv, 1);
    if (rc < 0)
        lw_log(LW_LOG_WARN, "annotation patch failed", "pod", p->name, "namespace", p->ns,
               "err", lw_strerror(rc), NULL);
}

static void annotate_status(struct ctl *c, struct pod *p, enum lw_pod_status st,
                            const char *summary)
{
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = st;
    snprintf(a.summary, sizeof(a.summary), "%s", summary ? summary : "");
    annotate(c, p, &a);
}

/* ---- restarts and post-mortems ------------------------------------------------- */

static void on_restart(struct ctl *c, struct pod *p, const struct lw_target *t)
{
    double now = wall_now();
    char rc[16];
    snprintf(rc, sizeof(rc), "%d", (int)t->restart_count);
    lw_log(LW_LOG_INFO, "container restarted", "pod", p->name, "namespace", p->ns, "container",
           p->container, "restarts", rc, "last_reason", t->last_reason, NULL);
    if (lw_ctl_oomkilled(t)) {
        const char *kill_id = t->last_container_id[0] ? t->last_container_id : t->container_id;
        if (strcmp(kill_id, p->last_kill_id) != 0) {
            snprintf(p->last_kill_id, sizeof(p->last_kill_id), "%s", kill_id);
            double killed_at = 0;
            if (lw_ctl_parse_time(t->last_finished_at, &killed_at) != LW_OK)
                killed_at = 0;
            struct lw_postmortem pm;
            lw_ctl_postmortem(&p->pred, p->container, killed_at, p->limit_bytes, &pm);
            /* an OOMKillPredicted Event adopted from the previous leader may
             * say it was predicted earlier than this replica's own verdicts */
            double since = c->cfg->events ? lw_recorder_predicted_since(c->rec, p->uid) : 0;
            if (pm.predicted && since > 0 && since < pm.predicted_at)
                pm.predicted_at = since;
            if (c->cfg->events)
                lw_recorder_oomkilled(c->rec, &p->ref, kill_id, &pm, now);
            char note[LW_REC_NOTE_MAX + 1];
            lw_rec_note_oomkilled(&pm, note, sizeof(note));
            lw_log(LW_LOG_WARN, "container OOMKilled", "pod", p->name, "namespace", p->ns,
                   "container", p->container, "predicted", pm.predicted ? "true" : "false",
                   "note", note, NULL);
            annotate_status(c, p, LW_STATUS_OOMKILLED, note);
        }
    }
    lw_series_restart(p->series, now);
    lw_ctl_prediction_reset(&p->pred);
    if (p->scraping)
        lw_scraper_restarted(c->scraper, p->uid, p->container);
}

/* The first status we see already shows a recent OOM kill: it happened while
 * nobody acted (a leader change, a restart). The post-mortem is written once:
 * not when the OOMKilled Event of that kill exists (adopted); "predicted"
 * comes from the adopted OOMKillPredicted Event (since when) and the pod's
 * annotations (the forecast time, the top stack). takeover.c has the rule. */
static void first_sight_kill(struct ctl *c, struct pod *p, const struct lw_target *t,
                             const cJSON *obj)
{
    double now = wall_now(), killed_at = 0;
    double w = lw_ctl_first_sight_window(c->adopted_ok, c->le != NULL,
                                         c->cfg->leader_election_lease_duration,
                                         c->cfg->leader_election_retry_period,
                                         c->cfg->scrape_interval);
    if (!lw_ctl_first_sight_oom(t, now, w, &killed_at))
        return;
    const char *kill_id = t->last_container_id[0] ? t->last_container_id : t->container_id;
    snprintf(p->last_kill_id, sizeof(p->last_kill_id), "%s", kill_id);
    if (c->cfg->events && lw_recorder_has_event(c->rec, p->uid, LW_REASON_OOMKILLED, kill_id)) {
        lw_log(LW_LOG_INFO, "OOM kill already has its post-mortem", "pod", p->name, "namespace",
               p->ns, "container", p->container, NULL);
        return;
    }
    struct lw_postmortem pm;
    lw_ctl_postmortem(&p->pred, p->container, killed_at, p->limit_bytes, &pm);
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "annotations");
    const char *oom_at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, LW_ANN_OOM_AT));
    const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, LW_ANN_STATUS));
    const char *top = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ann, LW_ANN_TOP_STACK));
    double since = c->cfg->events ? lw_recorder_predicted_since(c->rec, p->uid) : 0, at = 0;
    if (!oom_at || lw_ctl_parse_time(oom_at, &at) != LW_OK)
        at = 0;
    if (!pm.predicted &&
        (since > 0 || at > 0 || (status && strcmp(status, "oom-predicted") == 0))) {
        pm.predicted = true;
        pm.predicted_at = since;
        pm.predicted_oom_at = at;
    }
    char topname[256] = "";
    if (!pm.top_stack && top && *top) {
        /* "leaf <- ... <- root (created by ...)": the part that names it */
        const char *last = top, *x;
        while ((x = strstr(last, " <- ")) != NULL)
            last = x + 4;
        snprintf(topname, sizeof(topname), "%s", last);
        pm.top_stack = topname;
    }
    if (c->cfg->events)
        lw_recorder_oomkilled(c->rec, &p->ref, kill_id, &pm, now);
    char note[LW_REC_NOTE_MAX + 1];
    lw_rec_note_oomkilled(&pm, note, sizeof(note));
    lw_log(LW_LOG_WARN, "container OOMKilled (while no leakwatch acted)", "pod", p->name,
           "namespace", p->ns, "container", p->container, "predicted",
           pm.predicted ? "true" : "false", "note", note, NULL);
    annotate_status(c, p, LW_STATUS_OOMKILLED, note);
}

/* ---- informer handlers ---------------------------------------------------------- */

static bool ns_allowed(const struct ctl *c, const char *ns)
{
    const struct lw_strlist *l = &c->cfg->namespaces;
    if (l->n == 0)
        return true;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], ns) == 0)
            return true;
    return false;
}

static bool has_our_annotations(const cJSON *obj)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "annotations");
    for (size_t i = 0; i < LW_ARRAY_SIZE(lw_rec_annotation_keys); i++)
        if (cJSON_GetObjectItemCaseSensitive(ann, lw_rec_annotation_keys[i]))
            return true;
    return false;
}

static void remove_optout(struct ctl *c, const cJSON *obj, const struct lw_target *t)
{
    struct pod *p = t->uid[0] ? pod_find(c, t->uid) : NULL;
    if (p) {
        lw_log(LW_LOG_INFO, "pod opted out", "pod", p->name, "namespace", p->ns, NULL);
        pod_forget(c, p);
    }
    if (c->cfg->annotations && t->uid[0] && has_our_annotations(obj)) {
        struct lw_pod_ref ref = {t->ns, t->name, t->uid};
        int rc = lw_recorder_optout(c->rec, &ref, obj);
        if (rc < 0)
            lw_log(LW_LOG_WARN, "opt-out annotation removal failed", "pod", t->name,
                   "namespace", t->ns, "err", lw_strerror(rc), NULL);
    }
}

/* A DNS subdomain (dots allowed) or DNS label: what the API server accepts
 * as a pod name / namespace; nothing that could change an API path. */
static bool k8s_name_ok(const char *v, size_t max, bool dots)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = v[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        if (!alnum && !(ch == '-' || (dots && ch == '.')))
            return false;
        if (!alnum && (i == 0 || i == n - 1))
            return false;
    }
    return true;
}

static void handle_pod(struct ctl *c, const cJSON *obj)
{
    if (c->stopping || !may_act(c))
        return;
    struct lw_target_set ts;
    struct lw_errbuf eb = {{0}};
    lw_target_from_pod(obj, &c->topts, &ts, &eb);
    const struct lw_target *t = &ts.target;
    if (ts.status != LW_TARGET_NONE && !ns_allowed(c, t->ns)) {
        /* outside --namespaces: not ours to act on (nor to clean up) */
        struct pod *gone = pod_find(c, t->uid);
        if (gone)
            pod_forget(c, gone);
        return;
    }
    if (ts.status == LW_TARGET_NONE) {
        /* pkg/target fills the identity only for opted-in pods: take the uid */
        struct lw_target id;
        memset(&id, 0, sizeof(id));
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(md, "uid");
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(md, "name");
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(md, "namespace");
        /* the name and namespace go into the PATCH URL: only valid ones
         * (a name such as "x/../victim" would patch another pod) */
        if (cJSON_IsString(u) && cJSON_IsString(n) && cJSON_IsString(s) &&
            k8s_name_ok(n->valuestring, LW_TARGET_NAME_MAX, true) &&
            k8s_name_ok(s->valuestring, LW_TARGET_NS_MAX, false)) {
            snprintf(id.uid, sizeof(id.uid), "%s", u->valuestring);
            snprintf(id.name, sizeof(id.name), "%s", n->valuestring);
            snprintf(id.ns, sizeof(id.ns), "%s", s->valuestring);
            remove_optout(c, obj, &id);
        }
        return;
    }
    if (!t->uid[0])
        return;
    struct pod *p = pod_get(c, t);
    if (!p) {
        lw_log(LW_LOG_ERROR, "out of memory for pod state", "pod", t->name, NULL);
        return;
    }
    /* the container may only become known once the pod has its status */
    if (t->container[0] && strcmp(p->container, t->container) != 0) {
        if (p->scraping) {
            lw_scraper_remove(c->scraper, p->uid, p->container);
            p->scraping = false;
        }
        lw_ops_metrics_forget_container(&c->m, p->ns, p->name, p->container);
        snprintf(p->container, sizeof(p->container), "%s", t->container);
    }
    if (!c->host_ip[0]) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(obj, "status");
        const cJSON *hip = cJSON_GetObjectItemCaseSensitive(st, "hostIP");
        unsigned char buf[16];
        if (cJSON_IsString(hip) && strlen(hip->valuestring) < sizeof(c->host_ip) &&
            (inet_pton(AF_INET, hip->valuestring, buf) == 1 ||
             inet_pton(AF_INET6, hip->valuestring, buf) == 1))
            snprintf(c->host_ip, sizeof(c->host_ip), "%s", hip->valuestring);
    }
    p->limit_bytes = t->no_limit ? 0 : (double)t->limit_bytes;
    bool first_sight = !p->inc.known;
    if (lw_ctl_restart_detect(&p->inc, t))
        on_restart(c, p, t);
    else if (first_sight && p->inc.known)
        first_sight_kill(c, p, t, obj);

    const char *lv[3];
    pod_labels(p, lv);
    if (p->limit_bytes > 0)
        lw_metric_set(c->m.memory_limit, lv, p->limit_bytes);
    else
        lw_metric_remove(c->m.memory_limit, lv);

    switch (ts.status) {
    case LW_TARGET_SKIP:
        if (p->scraping) {
            lw_log(LW_LOG_INFO, "scraping paused", "reason", ts.reason, NULL);
            lw_scraper_remove(c->scraper, p->uid, p->container);
            p->scraping = false;
        }
        return;
    case LW_TARGET_ERROR: {
        if (p->scraping) {
            lw_scraper_remove(c->scraper, p->uid, p->container);
            p->scraping = false;
        }
        lw_log(LW_LOG_WARN, "pod cannot be scraped", "reason", ts.reason, NULL);
        p->target_error = true;
        if (c->cfg->events) {
            char note[LW_REC_NOTE_MAX + 1];
            lw_rec_note_scrape_failed(ts.reason, 1, note, sizeof(note));
            lw_recorder_event(c->rec, &p->ref, LW_REASON_SCRAPE_FAILED, "target", note,
                              wall_now());
        }
        annotate_status(c, p, LW_STATUS_SCRAPE_FAILING, ts.reason);
        return;
    }
    case LW_TARGET_OK:
        break;
    default:
        return;
    }
    p->target_error = false;
    if (t->warning[0])
        lw_log(LW_LOG_INFO, "target warning", "pod", p->name, "namespace", p->ns, "warning",
               t->warning, NULL);
    struct lw_scrape_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.uid = p->uid;
    spec.container = p->container;
    spec.ip = t->ip;
    spec.port = t->port;
    spec.path = t->path[0] ? t->path : "/debug/pprof";
    spec.https = strcmp(t->scheme, "https") == 0;
    spec.interval = t->interval_s;
    spec.ud = p;
    int rc = lw_scraper_upsert(c->scraper, &spec, &eb);
    if (rc != LW_OK) {
        lw_log(LW_LOG_WARN, "scrape target refused", "pod", p->name, "namespace", p->ns, "err",
               eb.msg, NULL);
        annotate_status(c, p, LW_STATUS_SCRAPE_FAILING, eb.msg);
        return;
    }
    if (!p->scraping && !p->paused)
        lw_log(LW_LOG_INFO, "scraping pod", "pod", p->name, "namespace", p->ns, "container",
               p->container, "url", t->url, NULL);
    else if (!p->scraping)
        lw_log(LW_LOG_INFO, "scraping resumed", "pod", p->name, "namespace", p->ns,
               "container", p->container, NULL);
    p->scraping = true;
    p->paused = false;
}

static void on_add(void *ud, const cJSON *obj)
{
    handle_pod(ud, obj);
    update_counts(ud);
}

static void on_update(void *ud, const cJSON *old_obj, const cJSON *new_obj)
{
    (void)old_obj;
    handle_pod(ud, new_obj);
    update_counts(ud);
}

static void on_delete(void *ud, const cJSON *obj)
{
    struct ctl *c = ud;
    const cJSON *u =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "uid");
    if (!cJSON_IsString(u))
        return;
    struct pod *p = pod_find(c, u->valuestring);
    if (p) {
        lw_log(LW_LOG_INFO, "pod deleted", "pod", p->name, "namespace", p->ns, NULL);
        pod_forget(c, p);
    }
    update_counts(c);
}

static void ws_fetch(struct lw_loop *loop, void *ud);

static void on_synced(void *ud)
{
    struct ctl *c = ud;
    update_counts(c);
    if (c->synced_once) {
        const char *rv[] = {"relist"};
        lw_metric_add(c->m.watch_restarts, rv, 1);
    }
    if (c->httpd && !c->synced_once) {
        /* the working sets are there before the first heap scrapes */
        c->synced_once = true;
        ws_fetch(c->loop, c);
    }
    if (c->httpd)
        lw_httpd_set_ready(c->httpd, 1);
    char n[32];
    snprintf(n, sizeof(n), "%zu", lw_informer_count(c->inf));
    lw_log(LW_LOG_INFO, "pods synced", "pods", n, NULL);
    if (c->adopt_wait_sync)
        adopt_begin(c);
}

static void on_inf_error(void *ud, const char *what, const struct lw_kube_result *res)
{
    (void)ud; /* counted by on_api_attempt: every request passes there */
    lw_log(LW_LOG_WARN, "pod informer error", "what", what, "err", res ? res->errmsg : "", NULL);
}

/* Every API attempt of both clients (retries included): requests by verb,
 * resource and code, errors, and the pod watch's restarts by why it ended
 * (the informer always watches again). */
static void on_api_attempt(void *ud, const struct lw_kube_attempt *a)
{
    struct ctl *c = ud;
    char res[96], code[16];
    int coll = 0;
    lw_kube_resource(a->path, res, sizeof(res), &coll);
    snprintf(code, sizeof(code), "%ld", a->status);
    const char *lv[] = {lw_kube_verb(a->method, a->watch, a->path), res, code};
    lw_metric_add(c->m.api_requests, lv, 1);
    if (a->err != LW_OK)
        lw_metric_add(c->m.api_errors, lv, 1);
    if (a->watch && strcmp(res, "pods") == 0 && !c->stopping) {
        const char *rv[] = {a->err == LW_OK ? "timeout" : a->status == 410 ? "gone" : "error"};
        lw_metric_add(c->m.watch_restarts, rv, 1);
    }
}

/* ---- scrape results ------------------------------------------------------------- */

static const char *profile_label(enum lw_scrape_kind k)
{
    switch (k) {
    case LW_SCRAPE_GOROUTINE1: return "goroutine";
    case LW_SCRAPE_GOROUTINE2: return "goroutine_debug2";
    case LW_SCRAPE_HEAP: return "heap";
    case LW_SCRAPE_GOROUTINELEAK: return "goroutineleak";
    default: return "other";
    }
}

static const char *result_label(const struct lw_scrape_result *r)
{
    switch (r->err) {
    case LW_OK: return "ok";
    case LW_ETOOBIG: return "too_big";
    case LW_EHTTP: return "http_error";
    case LW_EFORMAT:
    case LW_EINVAL:
    case LW_ETRUNC:
    case LW_EEMPTY: return "parse_error";
    default:
        if (strstr(r->errmsg, "timed out") || strstr(r->errmsg, "timeout"))
            return "timeout";
        return "connect_error";
    }
}

/* The working set of p's container: the newest recent sample of the
 * kubelet and metrics.k8s.io (the kubelet's when both are as new; while the
 * kubelet fails, metrics.k8s.io takes over as soon as it has newer data). */
static const struct lw_ws_sample *ws_lookup(struct ctl *c, const struct pod *p, double now)
{
    double max_age = 3 * LW_MAX(c->cfg->scrape_interval, 15.0);
    struct ws_cache *srcs[2] = {&c->kubelet, &c->mapi};
    const struct lw_ws_sample *best = NULL;
    double best_t = 0;
    for (int i = 0; i < 2; i++) {
        const struct lw_ws_sample *s = lw_ws_find(&srcs[i]->list, p->ns, p->name, p->container);
        if (!s)
            continue;
        double t = s->t > 0 ? s->t : srcs[i]->fetched_at;
        if (lw_ctl_pick_memory(t, now, max_age) == LW_CTL_MEM_WORKING_SET && (!best || t > best_t)) {
            best = s;
            best_t = t;
        }
    }
    return best;
}

static void judge(struct ctl *c, struct pod *p, double now)
{
    struct lw_verdict *v = NULL;
    if (lw_analyze_step(p->series, now, p->limit_bytes, &v) != LW_OK || !v) {
        lw_log(LW_LOG_ERROR, "analysis failed", "pod", p->name, "namespace", p->ns, NULL);
        return;
    }
    p->last_verdict_t = now;
    const char *lv[3];
    pod_labels(p, lv);
    if (v->goroutines.present) {
        lw_metric_set(c->m.goroutines, lv, (double)v->goroutines.last);
        lw_metric_set(c->m.goroutine_growth, lv, v->goroutines.growth_per_hour);
    }
    if (v->memory.growth_bytes_per_hour != 0 || v->memory.current_bytes > 0)
        lw_metric_set(c->m.memory_growth, lv, v->memory.growth_bytes_per_hour);
    if (v->oom.predicted && v->oom.seconds_to_oom >= 0)
        lw_metric_set(c->m.oom_seconds, lv, v->oom.seconds_to_oom);
    else
        lw_metric_remove(c->m.oom_seconds, lv);
    bool gor = v->verdict == LW_VERDICT_LEAK && (v->kinds & LW_LEAK_GOROUTINE);
    bool mem = v->verdict == LW_VERDICT_LEAK && (v->kinds & (LW_LEAK_HEAP | LW_LEAK_MEMORY));
    const char *kg[] = {lv[0], lv[1], lv[2], "goroutine"};
    const char *km[] = {lv[0], lv[1], lv[2], "memory"};
    lw_metric_set(c->m.leak_suspected, kg, gor ? 1 : 0);
    lw_metric_set(c->m.leak_suspected, km, mem ? 1 : 0);

    bool grows = v->goroutines.present &&
                 v->goroutines.growth_per_hour >= c->aparams.min_growth_per_hour;
    bool suspected = v->verdict == LW_VERDICT_LEAK || grows;
    if (suspected != p->suspected) {
        lw_scraper_set_suspected(c->scraper, p->uid, p->container, suspected);
        p->suspected = suspected;
    }
    lw_ctl_prediction_update(&p->pred, v, now);

    enum lw_pod_status st;
    if (c->cfg->events) {
        st = lw_recorder_verdict(c->rec, &p->ref, v);
    } else {
        struct lw_rec_decision d;
        lw_rec_decide(p->leak, v, &d);
        p->leak = d.next;
        st = lw_rec_status(p->leak, p->limit_bytes > 0, false, false);
    }
    /* One info line when a pod's status changes (a leak found, an OOM
     * predicted, cleared); the same verdict every scrape is debug only, so
     * a fleet with many leaking pods does not flood the log. */
    bool leak = v->verdict == LW_VERDICT_LEAK;
    bool info = (!p->status_logged || st != p->logged_status) && (leak || p->status_logged);
    if (info || (leak && lw_log_enabled(LW_LOG_DEBUG)))
        lw_log(info ? LW_LOG_INFO : LW_LOG_DEBUG, leak ? "leak" : "status", "pod", p->name,
               "namespace", p->ns, "status", lw_pod_status_name(st), "summary", v->summary, NULL);
    if (info) {
        p->status_logged = true;
        p->logged_status = st;
    }
    /* After an OOM kill the new container's series starts empty: until it
     * has a verdict, the post-mortem summary written at the kill stays (an
     * "insufficient data" line would hide why the pod restarted). */
    if (!(st == LW_STATUS_OOMKILLED && v->verdict == LW_VERDICT_INSUFFICIENT)) {
        struct lw_annot a;
        lw_rec_annot_from_verdict(&a, st, v);
        if (v->verdict == LW_VERDICT_INSUFFICIENT && !lw_verdict_waits(v))
            lw_ctl_summary_insufficient(a.summary, sizeof(a.summary),
                                        lw_series_first(p->series), c->aparams.min_samples,
                                        c->aparams.min_span_s);
        annotate(c, p, &a);
    }
    lw_verdict_free(v);
}

static void on_scrape(struct lw_scraper *s, struct lw_scrape_result *r, void *ud)
{
    (void)s;
    struct ctl *c = ud;
    struct pod *p = r->target_ud;
    if (!p || c->stopping || !may_act(c))
        return;
    const char *ml[] = {profile_label(r->kind), result_label(r)};
    if (r->leak_absent)
        return; /* the target does not serve goroutineleak: not a failure */
    lw_metric_add(c->m.scrapes, ml, 1);
    double now = wall_now();
    if (r->err != LW_OK) {
        lw_log(LW_LOG_WARN, "scrape failed", "pod", p->name, "namespace", p->ns, "profile",
               ml[0], "err", r->errmsg, NULL);
        if (c->cfg->events) {
            lw_recorder_scrape_failed(c->rec, &p->ref, r->errmsg, now);
            if (lw_recorder_status(c->rec, p->uid) == LW_STATUS_SCRAPE_FAILING)
                annotate_status(c, p, LW_STATUS_SCRAPE_FAILING, r->errmsg);
        }
        return;
    }
    const char *dl[] = {ml[0]};
    lw_metric_observe(c->m.scrape_duration, dl, r->latency);
    if (c->cfg->events)
        lw_recorder_scrape_ok(c->rec, &p->ref);
    if (!r->profile)
        return;
    if (lw_series_add_profile(p->series, now, r->profile) != LW_OK) {
        lw_log(LW_LOG_ERROR, "out of memory feeding the series", "pod", p->name, NULL);
        return;
    }
    if (r->kind == LW_SCRAPE_GOROUTINE2)
        lw_scraper_set_goid_cut(c->scraper, p->uid, p->container, lw_series_goid_cut(p->series));
    const char *lv[3];
    pod_labels(p, lv);
    /* the working set goes with the heap profile; with --heap-every 0 (no
     * heap scrapes) with the goroutine profile instead */
    bool with_ws = r->kind == LW_SCRAPE_HEAP ||
                   (r->kind == LW_SCRAPE_GOROUTINE1 && c->cfg->heap_every <= 0);
    const struct lw_ws_sample *ws = with_ws ? ws_lookup(c, p, now) : NULL;
    enum mem_src was = p->mem_src;
    if (ws) {
        lw_series_add_usage(p->series, now, ws->bytes);
        const char *l4[] = {lv[0], lv[1], lv[2], "working_set"};
        lw_metric_set(c->m.memory_bytes, l4, ws->bytes);
        p->mem_src = ws->source == LW_WS_KUBELET ? MEM_KUBELET : MEM_METRICS_API;
        p->mem_bytes = ws->bytes;
    }
    if (r->kind == LW_SCRAPE_HEAP) {
        const struct lw_profile *pr = r->profile;
        if (!ws && pr->memstats.present) {
            p->mem_src = MEM_RUNTIME;
            p->mem_bytes = (double)pr->memstats.sys - (double)pr->memstats.heap_released;
        }
        if (pr->memstats.present) {
            const char *l4[] = {lv[0], lv[1], lv[2], "go_sys"};
            lw_metric_set(c->m.memory_bytes, l4,
                          (double)pr->memstats.sys - (double)pr->memstats.heap_released);
            const char *l5[] = {lv[0], lv[1], lv[2], "heap_inuse"};
            lw_metric_set(c->m.memory_bytes, l5, (double)pr->memstats.heap_inuse);
        }
    }
    if (p->mem_src != was)
        lw_log(LW_LOG_INFO, "memory source", "pod", p->name, "namespace", p->ns, "container",
               p->container, "source",
               p->mem_src == MEM_KUBELET       ? "kubelet"
               : p->mem_src == MEM_METRICS_API ? "metrics.k8s.io"
                                               : "runtime",
               NULL);
    if (r->kind == LW_SCRAPE_HEAP)
        return;
    judge(c, p, now);
}

/* ---- memory signal fetchers -------------------------------------------------------- */

/* The bearer token the endpoint would send, read back from apply(). */
static int kubelet_token(void *ud, char *out, size_t outlen, struct lw_errbuf *eb)
{
    struct ctl *c = ud;
    CURL *e = curl_easy_init();
    if (!e)
        return lw_errf(eb, LW_ENOMEM, "kubelet token: curl_easy_init failed");
    struct curl_slist *h = NULL;
    int rc = c->ep.apply(c->ep.ud, e, &h, eb);
    out[0] = 0;
    if (rc == LW_OK) {
        for (struct curl_slist *i = h; i; i = i->next) {
            const char *pfx = "Authorization: Bearer ";
            if (strncmp(i->data, pfx, strlen(pfx)) == 0) {
                snprintf(out, outlen, "%s", i->data + strlen(pfx));
                break;
            }
        }
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return rc;
}

static const char *kubelet_ip(const struct ctl *c);

static void on_kubelet(struct lw_ws_list *samples, int err, long status, const char *errmsg,
                       void *ud)
{
    struct ctl *c = ud;
    c->kubelet_req = NULL;
    if (err != LW_OK) {
        c->kubelet_failures++;
        lw_log(LW_LOG_WARN, "kubelet metrics fetch failed", "err", errmsg, NULL);
        return;
    }
    (void)status;
    if (c->kubelet_failures > 0 || c->kubelet_ok_at == 0) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", samples->n);
        lw_log(LW_LOG_INFO, "kubelet working sets", "node", c->cfg->node, "address",
               kubelet_ip(c) ? kubelet_ip(c) : "",
               "containers", n, NULL);
    }
    c->kubelet_failures = 0;
    lw_ws_list_release(&c->kubelet.list);
    c->kubelet.list = *samples;
    memset(samples, 0, sizeof(*samples));
    lw_ws_list_index(&c->kubelet.list);
    c->kubelet.fetched_at = wall_now();
    c->kubelet_ok_at = c->kubelet.fetched_at;
}

static void on_mapi(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    (void)k;
    struct ctl *c = ud;
    c->mapi_req = NULL;
    if (res->err != LW_OK) {
        if (res->status == 404 || res->status == 403) {
            c->mapi_retry_at = wall_now() + 600;
            lw_log(LW_LOG_INFO, "metrics.k8s.io not available; using other memory sources",
                   "err", res->errmsg, NULL);
        }
        return;
    }
    char *txt = res->body ? cJSON_PrintUnformatted(res->body) : NULL;
    if (!txt)
        return;
    struct lw_ws_list l;
    memset(&l, 0, sizeof(l));
    struct lw_errbuf eb = {{0}};
    if (lw_ws_from_podmetrics(txt, strlen(txt), &l, &eb) == LW_OK) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", l.n);
        lw_log(LW_LOG_DEBUG, "metrics.k8s.io working sets", "containers", n, NULL);
        lw_ws_list_release(&c->mapi.list);
        c->mapi.list = l;
        lw_ws_list_index(&c->mapi.list);
        c->mapi.fetched_at = wall_now();
    } else {
        lw_ws_list_release(&l);
        lw_log(LW_LOG_WARN, "metrics.k8s.io answer not understood", "err", eb.msg, NULL);
    }
    free(txt);
}

static bool kubelet_mode(const struct ctl *c)
{
    return c->cfg->mode == LW_MODE_DAEMONSET && c->cfg->kubelet_metrics && c->cfg->node[0];
}

/* The kubelet's address: the Node's InternalIP; a pod's hostIP only once
 * the Node could not be read (not while that request is in flight). */
static const char *kubelet_ip(const struct ctl *c)
{
    if (c->node_ip_from_node)
        return c->node_ip;
    if (!c->node_req && c->node_retry_at > 0 && c->host_ip[0])
        return c->host_ip;
    return NULL;
}

/* The node's InternalIP (else its first address that is an IP literal) from
 * status.addresses; "" when none. */
static void node_address(const cJSON *node, char *out, size_t n)
{
    const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(node, "status"), "addresses");
    out[0] = '\0';
    for (int pass = 0; pass < 2 && !out[0]; pass++) {
        const cJSON *a;
        cJSON_ArrayForEach(a, addrs)
        {
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "type"));
            const char *ip = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "address"));
            unsigned char buf[16];
            if (!ip || strlen(ip) >= n ||
                (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1))
                continue;
            if (pass == 0 && !(type && strcmp(type, "InternalIP") == 0))
                continue;
            snprintf(out, n, "%s", ip);
            break;
        }
    }
}

static void on_node(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    (void)k;
    struct ctl *c = ud;
    c->node_req = NULL;
    char ip[LW_TARGET_IP_MAX + 1] = "";
    if (res->err == LW_OK)
        node_address(res->body, ip, sizeof(ip));
    if (!ip[0]) {
        c->node_retry_at = wall_now() + 600;
        lw_log(LW_LOG_WARN, "cannot read the node's address; using the pods' status.hostIP",
               "node", c->cfg->node, "err",
               res->err != LW_OK ? res->errmsg : "no InternalIP in status.addresses", NULL);
        return;
    }
    snprintf(c->node_ip, sizeof(c->node_ip), "%s", ip);
    c->node_ip_from_node = true;
    lw_log(LW_LOG_INFO, "kubelet address", "node", c->cfg->node, "address", ip, NULL);
    if (c->synced_once)
        ws_fetch(c->loop, c);
}

static void node_lookup(struct ctl *c)
{
    if (!kubelet_mode(c) || c->node_ip_from_node || c->node_req || c->stopping ||
        wall_now() < c->node_retry_at)
        return;
    struct lw_buf path = LW_BUF_INIT(1024);
    struct lw_errbuf eb = {{0}};
    int rc = lw_buf_appendf(&path, "/api/v1/nodes/");
    if (rc == LW_OK)
        rc = lw_kube_urlencode(&path, c->cfg->node);
    struct lw_kube_req_opts ro = {0, 1, LW_KUBE_PRIO_NORMAL};
    if (rc == LW_OK &&
        lw_kube_request(c->kube, LW_KUBE_GET, path.data, NULL, &ro, on_node, c, &c->node_req,
                        &eb) != LW_OK)
        c->node_req = NULL;
    if (rc != LW_OK || !c->node_req)
        c->node_retry_at = wall_now() + 60;
    lw_buf_release(&path);
}

static void ws_fetch(struct lw_loop *loop, void *ud)
{
    struct ctl *c = ud;
    if (c->stopping)
        return;
    node_lookup(c);
    if (c->npods == 0)
        return;
    struct lw_errbuf eb = {{0}};
    const char *kip = kubelet_ip(c);
    if (kubelet_mode(c) && kip && !c->kubelet_req) {
        char url[128];
        bool v6 = strchr(kip, ':') != NULL;
        snprintf(url, sizeof(url), v6 ? "https://[%s]:%d/metrics/resource"
                                       : "https://%s:%d/metrics/resource",
                 kip, (int)c->cfg->kubelet_port);
        struct lw_kubelet_opts ko;
        memset(&ko, 0, sizeof(ko));
        ko.url = url;
        ko.tls_verify = !c->cfg->kubelet_insecure_skip_tls_verify;
        ko.token = kubelet_token;
        ko.token_ud = c;
        if (lw_kubelet_fetch(loop, &ko, on_kubelet, c, &c->kubelet_req, &eb) != LW_OK) {
            c->kubelet_req = NULL;
            c->kubelet_failures++;
            lw_log(LW_LOG_WARN, "kubelet metrics fetch failed", "err", eb.msg, NULL);
        }
    }
    /* metrics.k8s.io is the fallback in DaemonSet mode: asked only while the
     * kubelet gives nothing (each instance would otherwise list every pod
     * of the cluster) */
    double now = wall_now();
    bool kubelet_failing =
        !kubelet_mode(c) || (!kip && !c->node_req) || c->kubelet_failures > 0 ||
        (c->kubelet_ok_at > 0 && now - c->kubelet_ok_at >= 3 * LW_MAX(c->cfg->scrape_interval, 15.0));
    if (c->cfg->metrics_api && kubelet_failing && now >= c->mapi_retry_at && !c->mapi_req) {
        struct lw_buf path = LW_BUF_INIT(4096);
        /* all pods (the label selector narrows it); samples are looked up
         * by namespace/pod/container, so other nodes' pods are never used */
        int rc = lw_buf_appendf(&path, "/apis/metrics.k8s.io/v1beta1/pods");
        if (c->cfg->label_selector[0] && rc == LW_OK) {
            rc = lw_buf_appendf(&path, "?labelSelector=");
            if (rc == LW_OK)
                rc = lw_kube_urlencode(&path, c->cfg->label_selector);
        }
        struct lw_kube_req_opts ro = {0, 1, LW_KUBE_PRIO_NORMAL};
        if (rc == LW_OK && lw_kube_request(c->kube, LW_KUBE_GET, path.data, NULL, &ro, on_mapi, c,
                                           &c->mapi_req, &eb) != LW_OK)
            c->mapi_req = NULL;
        lw_buf_release(&path);
    }
}

/* ---- housekeeping ----------------------------------------------------------------- */

static void on_tick(struct lw_loop *loop, void *ud)
{
    (void)loop;
    struct ctl *c = ud;
    lw_recorder_tick(c->rec, wall_now());
    update_counts(c);
    struct lw_recorder_stats rs;
    lw_recorder_get_stats(c->rec, &rs);
    for (int reason = 0; reason < LW_REASON__COUNT; reason++)
        for (int x = 0; x < LW_REC_RES__COUNT; x++) {
            uint64_t d = rs.by_reason[reason][x] - c->last_rs.by_reason[reason][x];
            if (d == 0)
                continue;
            const char *lr[] = {lw_rec_reason_name((enum lw_rec_reason)reason),
                                lw_rec_result_name((enum lw_rec_result)x)};
            lw_metric_add(c->m.events, lr, (double)d);
        }
    c->last_rs = rs;
    /* the client's request queue cap (docs/client.md "Priorities and the queue cap") */
    struct lw_kube_stats ks;
    lw_kube_get_stats(c->kube, &ks);
    lw_metric_set(c->m.api_queue_length, NULL, (double)ks.queued);
    for (int pr = 0; pr < LW_KUBE_PRIO__COUNT; pr++) {
        const char *lp[] = {lw_kube_prio_name((enum lw_kube_prio)pr)};
        if (ks.dropped_prio[pr] > c->last_api_dropped_prio[pr])
            lw_metric_add(c->m.api_dropped, lp,
                          (double)(ks.dropped_prio[pr] - c->last_api_dropped_prio[pr]));
        c->last_api_dropped_prio[pr] = ks.dropped_prio[pr];
    }
    if (ks.dropped > c->last_api_dropped) {
        char nd[32], nq[32], na[32], ne[32];
        snprintf(nd, sizeof(nd), "%llu", (unsigned long long)(ks.dropped - c->last_api_dropped));
        snprintf(nq, sizeof(nq), "%llu", (unsigned long long)ks.queued);
        snprintf(na, sizeof(na), "%llu", (unsigned long long)ks.dropped_prio[LW_KUBE_PRIO_ANNOT]);
        snprintf(ne, sizeof(ne), "%llu", (unsigned long long)ks.dropped_prio[LW_KUBE_PRIO_EVENT]);
        lw_log(LW_LOG_WARN, "API request queue full: requests dropped", "dropped", nd, "queued",
               nq, "annotations_total", na, "events_total", ne, NULL);
        c->last_api_dropped = ks.dropped;
    }
}

static void handle_cached(void *ud, const cJSON *obj)
{
    handle_pod(ud, obj);
}

/* ---- takeover: adopt our Events before acting (docs/events.md "Adoption") ----- */

static bool adopt_keep(void *ud, const char *uid)
{
    struct ctl *c = ud;
    return c->inf && lw_informer_get(c->inf, uid) != NULL; /* pods we watch */
}

static void act_on_cached(struct ctl *c)
{
    if (c->inf && !c->stopping && may_act(c))
        lw_informer_foreach(c->inf, handle_cached, c);
    update_counts(c);
}

static void adopt_done(void *ud, int err, size_t adopted, size_t listed, const char *errmsg)
{
    struct ctl *c = ud;
    c->adopter = NULL;
    c->adopting = false;
    c->adopted_ok = err == LW_OK;
    char na[32], nl[32];
    snprintf(na, sizeof(na), "%zu", adopted);
    snprintf(nl, sizeof(nl), "%zu", listed);
    if (err == LW_OK)
        lw_log(LW_LOG_INFO, "adopted our existing Events", "adopted", na, "listed", nl, NULL);
    else
        lw_log(LW_LOG_WARN, "could not list our existing Events (RBAC: events list?)", "adopted",
               na, "err", errmsg, NULL);
    act_on_cached(c);
}

/* Before a new leader (or an instance without election, at start) acts on
 * any pod: list the Events leakwatch wrote and continue them (the recorder
 * then updates their series), once the informer knows which pods we watch. */
static void adopt_begin(struct ctl *c)
{
    c->adopt_wait_sync = false;
    if (!c->cfg->events || c->stopping || !c->leading) {
        c->adopting = false;
        act_on_cached(c);
        return;
    }
    c->adopting = true;
    if (!c->inf || !lw_informer_has_synced(c->inf)) {
        c->adopt_wait_sync = true;
        return;
    }
    if (c->adopter)
        return; /* already listing */
    struct lw_rec_adopt_opts o;
    memset(&o, 0, sizeof(o));
    o.keep = adopt_keep;
    o.done = adopt_done;
    o.ud = c;
    o.timeout = 30;
    struct lw_errbuf eb = {{0}};
    if (lw_recorder_adopt_start(c->rec, c->kube, &o, &c->adopter, &eb) != LW_OK) {
        c->adopting = false;
        c->adopted_ok = false;
        lw_log(LW_LOG_WARN, "could not list our existing Events", "err", eb.msg, NULL);
        act_on_cached(c);
    }
}

static void adopt_cancel(struct ctl *c)
{
    lw_rec_adopter_cancel(c->adopter);
    c->adopter = NULL;
    c->adopting = false;
    c->adopt_wait_sync = false;
}

static void on_started_leading(void *ud)
{
    struct ctl *c = ud;
    c->leading = true;
    lw_metric_set(c->m.leader, NULL, 1);
    lw_log(LW_LOG_INFO, "leading", "identity", lw_leader_identity(c->le), NULL);
    adopt_begin(c); /* then the informer's pods */
}

static void on_stopped_leading(void *ud)
{
    struct ctl *c = ud;
    c->leading = false;
    adopt_cancel(c);
    lw_metric_set(c->m.leader, NULL, 0);
    lw_log(LW_LOG_INFO, "stopped leading", NULL);
    if (c->stopping)
        return; /* shutting down: keep the recorder's pending writes */
    /* Pause, do not forget: the lease is most often lost because renewals
     * failed (an API outage), not because another replica leads. Scraping
     * and writes stop (may_act() is false) and the recorder drops its
     * pending writes (a new term adopts the Events from the server), but
     * each pod's series stays, so a re-acquired lease continues the history
     * instead of starting every series from nothing. The series are dropped
     * when another replica is seen leading (on_new_leader). */
    for (size_t i = 0; i < c->npods; i++) {
        struct pod *p = c->pods[i];
        if (p->scraping) {
            lw_scraper_remove(c->scraper, p->uid, p->container);
            p->scraping = false;
            p->paused = true;
        }
        lw_recorder_forget(c->rec, p->uid);
    }
    update_counts(c);
}

static void on_new_leader(void *ud, const char *identity)
{
    struct ctl *c = ud;
    lw_log(LW_LOG_INFO, "leader", "holder", identity, NULL);
    /* Another replica acts now: the series kept through a lost lease would
     * only go stale here (the other replica scrapes these pods). */
    const char *self = c->le ? lw_leader_identity(c->le) : NULL;
    if (!c->leading && !c->stopping && identity && identity[0] && self &&
        strcmp(identity, self) != 0 && c->npods > 0) {
        lw_log(LW_LOG_INFO, "another replica leads: dropping kept series", "holder", identity,
               NULL);
        while (c->npods > 0)
            pod_forget(c, c->pods[c->npods - 1]);
        update_counts(c);
    }
}

static void on_released(void *ud)
{
    struct ctl *c = ud;
    c->released = true;
}

static void on_signal(struct lw_loop *loop, int signo, void *ud)
{
    struct ctl *c = ud;
    if (c->stopping) {
        c->force_exit = true; /* a second signal: stop waiting for writes */
        lw_loop_stop(loop);
        return;
    }
    char s[16];
    snprintf(s, sizeof(s), "%d", signo);
    lw_log(LW_LOG_INFO, "shutting down", "signal", s, NULL);
    c->stopping = true;
    if (c->httpd) {
        lw_httpd_set_live(c->httpd, 0);
        lw_httpd_set_ready(c->httpd, 0);
    }
    lw_loop_stop(loop);
}

/* ---- setup and teardown -------------------------------------------------------------- */

static unsigned conventions_mask(const struct lw_strlist *l)
{
    unsigned m = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i], "leakwatch") == 0)
            m |= LW_TARGET_CONV_LEAKWATCH;
        else if (strcmp(l->v[i], "pyroscope") == 0)
            m |= LW_TARGET_CONV_PYROSCOPE;
        else if (strcmp(l->v[i], "parca") == 0)
            m |= LW_TARGET_CONV_PARCA;
    }
    return m ? m : LW_TARGET_CONV_ALL;
}

static void ctl_free(struct ctl *c)
{
    adopt_cancel(c);
    if (c->kubelet_req)
        lw_kubelet_cancel(c->kubelet_req);
    if (c->mapi_req && c->kube)
        lw_kube_cancel(c->kube, c->mapi_req);
    if (c->node_req && c->kube)
        lw_kube_cancel(c->kube, c->node_req);
    if (c->le)
        lw_leader_free(c->le);
    if (c->kube_le)
        lw_kube_free(c->kube_le); /* before its parent, whose endpoint it borrows */
    if (c->inf)
        lw_informer_free(c->inf);
    if (c->scraper)
        lw_scraper_free(c->scraper);
    if (c->rec)
        lw_recorder_free(c->rec);
    while (c->npods > 0) {
        struct pod *p = c->pods[--c->npods];
        lw_series_free(p->series);
        free(p);
    }
    free(c->pods);
    free(c->buckets);
    if (c->kube)
        lw_kube_free(c->kube); /* releases the endpoint */
    else
        lw_kubeconfig_endpoint_release(&c->ep);
    if (c->httpd)
        lw_httpd_free(c->httpd);
    if (c->loop) {
        if (c->tick)
            lw_timer_cancel(c->loop, c->tick);
        if (c->ws_timer)
            lw_timer_cancel(c->loop, c->ws_timer);
        lw_loop_free(c->loop);
    }
    if (c->reg)
        lw_metrics_free(c->reg);
    lw_ws_list_release(&c->kubelet.list);
    lw_ws_list_release(&c->mapi.list);
}

int lw_controller_run(const struct lw_config *cfg, struct lw_errbuf *eb)
{
    struct ctl c;
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    int rc = LW_OK;

    lw_target_opts_default(&c.topts);
    c.topts.conventions = conventions_mask(&cfg->annotation_conventions);
    c.topts.default_interval_s = cfg->scrape_interval;
    if (cfg->scrape_interval < 5)
        c.topts.min_interval_s = cfg->scrape_interval;
    lw_analysis_params_default(&c.aparams);
    /* Per pod and per track (goroutine stacks, heap sites) at most this many
     * identities of ~2 KiB each (256 downsampled slots): a bound of ~4 MiB a
     * pod even for a pathological binary, typical services use a few
     * hundred KiB. The smallest stacks are evicted; a leak is a big one. */
    /* per-pod memory bounds (docs/analysis.md, "Memory bounds"): 16 stacks per
     * track (top-K by count and growth), 32 history slots (64 cost ~6 MiB
     * more at 1,000 pods), 2 KiB of frame strings per stack */
    c.aparams.max_identities = 16;
    c.aparams.max_slots = 32;
    c.aparams.max_stack_bytes = 2048;
    c.aparams.forecast.horizon_s = cfg->horizon;
    c.aparams.forecast.min_confidence = cfg->min_confidence;

    c.reg = lw_metrics_new(CTL_MAX_SERIES);
    if (!c.reg) {
        rc = lw_errf(eb, LW_ENOMEM, "metrics registry: out of memory");
        goto out;
    }
    if ((rc = lw_ops_metrics_init(c.reg, &c.m, "0.1.0", "", eb)) != LW_OK)
        goto out;
    if (!(c.loop = lw_loop_new(eb))) {
        rc = LW_ENOMEM;
        goto out;
    }
    if ((rc = lw_loop_on_signal(c.loop, on_signal, &c, eb)) != LW_OK)
        goto out;

    /* where the API server is */
    struct lw_kubeconfig_opts ko;
    lw_kubeconfig_opts_default(&ko);
    ko.path = cfg->kubeconfig[0] ? cfg->kubeconfig : NULL;
    ko.context = cfg->context;
    struct lw_kubeconfig_info info;
    memset(&info, 0, sizeof(info));
    if (cfg->in_cluster == LW_TRUE)
        rc = lw_kubeconfig_load_incluster(&ko, &c.ep, &info, eb);
    else if (cfg->in_cluster == LW_FALSE)
        rc = lw_kubeconfig_load_file(&ko, &c.ep, &info, eb);
    else
        rc = lw_kubeconfig_load(&ko, &c.ep, &info, eb);
    if (rc != LW_OK)
        goto out;
    lw_log(LW_LOG_INFO, "kubernetes API", "server", c.ep.server, "source", info.source,
           "context", info.context, "auth", info.auth, NULL);

    struct lw_kube_opts kopts;
    memset(&kopts, 0, sizeof(kopts));
    kopts.qps = cfg->api_qps;
    kopts.burst = (int)cfg->api_burst;
    if (!(c.kube = lw_kube_new(c.loop, &c.ep, &kopts, eb))) {
        rc = LW_EINVAL;
        goto out;
    }
    lw_kube_set_observer(c.kube, on_api_attempt, &c);

    struct lw_recorder_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.instance_id = cfg->leader_election_identity[0] ? cfg->leader_election_identity : NULL;
    ro.bucket_burst = (double)cfg->event_burst;
    ro.bucket_refill = cfg->event_refill_interval;
    ro.scrape_failed_every = cfg->scrape_failed_event_interval > 0
                                 ? cfg->scrape_failed_event_interval
                                 : 1;
    ro.max_pods = CTL_MAX_PODS; /* never evict the state of a pod we watch */
    ro.annot.refresh = 300;     /* a summary whose numbers alone moved: every 5 min at most */
    if (!(c.rec = lw_recorder_new(c.kube, &ro, eb))) {
        rc = LW_ENOMEM;
        goto out;
    }

    struct lw_scraper_opts so;
    lw_scraper_opts_default(&so);
    so.max_concurrent = (int)cfg->max_concurrent_scrapes;
    so.timeout = cfg->scrape_timeout;
    so.max_body = (size_t)cfg->max_response_bytes;
    so.debug2_min_interval = cfg->debug2_min_interval > 0 ? cfg->debug2_min_interval : 1;
    so.heap_every = cfg->heap_every > 0 ? (int)cfg->heap_every : -1; /* 0: never */
    so.leak_disabled = !cfg->goroutineleak_profile;
    if (!(c.scraper = lw_scraper_new(c.loop, &so, on_scrape, &c, eb))) {
        rc = LW_ENOMEM;
        goto out;
    }

    struct lw_httpd_opts ho;
    memset(&ho, 0, sizeof(ho));
    ho.bind = cfg->metrics_bind_address;
    if (!(c.httpd = lw_httpd_new(c.loop, &ho, c.reg, eb))) {
        rc = LW_EINVAL;
        goto out;
    }
    char port[16];
    snprintf(port, sizeof(port), "%d", lw_httpd_port(c.httpd));
    lw_log(LW_LOG_INFO, "serving /metrics /healthz /readyz", "address",
           cfg->metrics_bind_address, "port", port, NULL);

    struct lw_informer_opts io;
    memset(&io, 0, sizeof(io));
    io.path = "/api/v1/pods";
    io.label_selector = cfg->label_selector[0] ? cfg->label_selector : NULL;
    io.node_name = cfg->node[0] ? cfg->node : NULL;
    io.ignore_annotations = lw_rec_annotation_keys;
    io.n_ignore_annotations = LW_ARRAY_SIZE(lw_rec_annotation_keys);
    io.on_add = on_add;
    io.on_update = on_update;
    io.on_delete = on_delete;
    io.on_synced = on_synced;
    io.on_error = on_inf_error;
    io.ud = &c;
    if (!(c.inf = lw_informer_new(c.kube, &io, eb))) {
        rc = LW_ENOMEM;
        goto out;
    }
    bool elect = cfg->leader_elect && cfg->mode == LW_MODE_DEPLOYMENT;
    if (elect) {
        struct lw_leader_opts lo;
        memset(&lo, 0, sizeof(lo));
        lo.ns = cfg->leader_election_namespace[0] ? cfg->leader_election_namespace
                : info.namespace_[0]                ? info.namespace_
                                                    : "default";
        lo.name = cfg->leader_election_lease_name;
        lo.identity = cfg->leader_election_identity[0] ? cfg->leader_election_identity : NULL;
        lo.lease_duration = cfg->leader_election_lease_duration;
        lo.renew_deadline = cfg->leader_election_renew_deadline;
        lo.retry_period = cfg->leader_election_retry_period;
        lo.on_started_leading = on_started_leading;
        lo.on_stopped_leading = on_stopped_leading;
        lo.on_new_leader = on_new_leader;
        lo.ud = &c;
        /* its own client (same endpoint), with its own rate limiter: lease
         * renewals never queue behind Events and annotation patches */
        struct lw_kube_opts leo;
        memset(&leo, 0, sizeof(leo));
        leo.qps = 5;
        leo.burst = 10;
        if (!(c.kube_le = lw_kube_new_sibling(c.kube, &leo, eb))) {
            rc = LW_ENOMEM;
            goto out;
        }
        lw_kube_set_observer(c.kube_le, on_api_attempt, &c);
        if (!(c.le = lw_leader_new(c.kube_le, &lo, eb))) {
            rc = LW_EINVAL;
            goto out;
        }
        lw_metric_set(c.m.leader, NULL, 0);
    } else {
        c.leading = true;
        lw_metric_set(c.m.leader, NULL, 1);
        /* no election (DaemonSet): adopt our Events once the pods are listed */
        c.adopting = c.adopt_wait_sync = cfg->events;
    }
    if ((rc = lw_informer_start(c.inf, eb)) != LW_OK)
        goto out;
    if (c.le && (rc = lw_leader_start(c.le, eb)) != LW_OK)
        goto out;
    node_lookup(&c); /* DaemonSet mode: where this node's kubelet is */
    c.tick = lw_timer_add(c.loop, 5, 5, on_tick, &c);
    double wsi = LW_MAX(cfg->scrape_interval, 5.0);
    c.ws_timer = lw_timer_add(c.loop, 2, wsi, ws_fetch, &c);
    if (!c.tick || !c.ws_timer) {
        rc = lw_errf(eb, LW_ENOMEM, "timers: out of memory");
        goto out;
    }
    lw_log(LW_LOG_INFO, "controller started", "mode", cfg->mode == LW_MODE_DAEMONSET ? "daemonset"
                                                                                     : "deployment",
           "node", cfg->node, NULL);

    rc = lw_loop_run(c.loop);
    if (rc < 0)
        lw_log(LW_LOG_ERROR, "event loop failed", "err", lw_strerror(rc), NULL);
    rc = LW_OK;

    /* Shutdown: stop the informer and the scraper, then let the recorder's
     * in-flight writes finish within the shutdown timeout. */
    c.stopping = true;
    lw_informer_free(c.inf);
    c.inf = NULL;
    {   /* queued annotation patches are not waited for (the next leader
         * computes them again); Events still are, within the timeout */
        size_t nd = lw_recorder_drop_annotations(c.rec);
        if (nd > 0) {
            char n[32];
            snprintf(n, sizeof(n), "%zu", nd);
            lw_log(LW_LOG_INFO, "shutdown: queued annotation patches dropped", "dropped", n, NULL);
        }
    }
    /* give the Lease up so a standby takes over within a retry period */
    c.released = !(c.le && lw_leader_release(c.le, on_released, &c) == 1);
    lw_scraper_free(c.scraper);
    c.scraper = NULL;
    double deadline = lw_clock_monotonic() + cfg->shutdown_timeout;
    while ((lw_recorder_pending(c.rec) > 0 || !c.released) && !c.force_exit &&
           lw_clock_monotonic() < deadline)
        lw_loop_run_once(c.loop, 0.05);
    if (!c.released)
        lw_log(LW_LOG_WARN, "shutdown timeout: lease not released", NULL);
    if (lw_recorder_pending(c.rec) > 0) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", lw_recorder_pending(c.rec));
        lw_log(LW_LOG_WARN, "shutdown timeout: dropping pending API writes", "pending", n, NULL);
    }
    lw_log(LW_LOG_INFO, "stopped", NULL);
out:
    ctl_free(&c);
    return rc;
}
