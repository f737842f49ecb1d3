/* SPDX-License-Identifier: Apache-2.0 */
/*
 * recorder.c: the asynchronous side of the recorder: per-pod state (leak
 * state machine, token bucket, scrape failures, what we predicted for the
 * post-mortem), the series cache that turns repeats into series updates, and
 * the requests over pkg/kube (event create, series patch, annotation merge
 * patch), including the one-way fallback to core/v1 when events.k8s.io/v1
 * is not served. Design and numbers: docs/events.md.
 */
#include "recorder/recorder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EV_PER_POD 8
#define ANNOT_ECHO_WAIT 60.0  /* our patch not yet seen in the informer's cache */
#define SERIES_REFRESH 1800.0 /* client-go refreshTime: keep the 1 h TTL from expiring a live series */

enum ev_state { EV_FREE = 0, EV_CREATING, EV_CREATED };

struct ev_entry {
    enum ev_state state;
    enum lw_rec_reason reason;
    uint64_t class_hash;
    char name[LW_REC_NAME_MAX + 1];
    int core;           /* lives in core/v1 form (count/lastTimestamp) */
    int count;          /* occurrences so far */
    int written;        /* count the server has (1 after the create) */
    double first, last_obs, last_write;
    char *note;         /* latest note (core/v1 patches carry the message) */
    struct req_ctx *pending; /* its series patch, queued or on the wire (at most one) */
};

struct pod_entry {
    char uid[129], ns[254], name[254];
    double tokens, tok_t;
    double last_scrape_event;
    int scrape_failures;
    enum lw_leak_state leak;
    bool has_limit, oomkilled;
    double predicted_since, predicted_oom_at;
    char top[256];
    int64_t goroutines;
    double touched;
    uint64_t annot_hash;        /* values of the last annotation patch acknowledged (not
                                 * updated-at) */
    double annot_sent;          /* when it was acknowledged (the recorder's clock), 0 = never */
    /* at most one annotation patch per pod (see "annotations: one pending patch" below) */
    struct req_ctx *annot_req;  /* queued or on the wire, NULL = none */
    char *annot_next;           /* wanted while annot_req is on the wire: sent after it */
    uint64_t annot_next_hash;
    struct pod_entry *hnext;    /* hash chain by uid */
    size_t idx;                 /* position in r->pods */
    struct ev_entry ev[EV_PER_POD];
};

enum req_kind { REQ_CREATE, REQ_SERIES, REQ_ANNOT };

struct req_ctx {
    struct lw_recorder *r;
    struct req_ctx *next, *prev;
    struct lw_kube_req *h;
    enum req_kind kind;
    int core;
    char uid[129];
    char evname[LW_REC_NAME_MAX + 1];
    enum lw_rec_reason reason;  /* REQ_CREATE / REQ_SERIES */
    uint64_t ahash;             /* REQ_ANNOT: the values it carries (lw_recorder_annotate) */
    struct lw_event_spec spec;  /* strings below */
    char ns[254], pod[254], note[LW_REC_NOTE_MAX + 1];
};

struct lw_recorder {
    struct lw_kube *kube;
    struct lw_recorder_opts o;
    char instance[LW_REC_INSTANCE_MAX + 1];
    int core;
    uint64_t last_nano;
    struct pod_entry **pods;
    size_t npods, cap;
    struct pod_entry **buckets; /* by uid; nbuckets a power of two */
    size_t nbuckets;
    struct req_ctx *reqs;
    size_t nreqs;
    double last_now;            /* the latest time given to us: when an acknowledgement came */
    struct lw_recorder_stats st;
};

const char *lw_rec_result_name(enum lw_rec_result x)
{
    static const char *const n[] = {"created", "series_updated", "rate_limited", "failed"};
    return (unsigned)x < LW_ARRAY_SIZE(n) ? n[x] : "?";
}

static void count(struct lw_recorder *r, enum lw_rec_reason reason, enum lw_rec_result x)
{
    if ((unsigned)reason < LW_REASON__COUNT && (unsigned)x < LW_REC_RES__COUNT)
        r->st.by_reason[reason][x]++;
}

/* ---- pods ------------------------------------------------------------------------ */

static size_t uid_bucket(const struct lw_recorder *r, const char *uid)
{
    return (size_t)(lw_fnv1a(LW_FNV_INIT, uid, strlen(uid)) & (r->nbuckets - 1));
}

/* O(1): 5,000 pods are looked up on every scrape result. */
static struct pod_entry *pod_find(const struct lw_recorder *r, const char *uid, size_t *idx)
{
    if (!uid || !r->nbuckets)
        return NULL;
    for (struct pod_entry *p = r->buckets[uid_bucket(r, uid)]; p; p = p->hnext)
        if (strcmp(p->uid, uid) == 0) {
            if (idx)
                *idx = p->idx;
            return p;
        }
    return NULL;
}

static void pod_unhash(struct lw_recorder *r, struct pod_entry *p)
{
    struct pod_entry **pp = &r->buckets[uid_bucket(r, p->uid)];
    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    p->hnext = NULL;
}

static int pod_hash_grow(struct lw_recorder *r)
{
    size_t nb = r->nbuckets ? r->nbuckets * 2 : 64;
    struct pod_entry **b = calloc(nb, sizeof(*b));
    if (!b)
        return LW_ENOMEM;
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = nb;
    for (size_t i = 0; i < r->npods; i++) {
        struct pod_entry *p = r->pods[i];
        size_t h = uid_bucket(r, p->uid);
        p->hnext = b[h];
        b[h] = p;
    }
    return LW_OK;
}

static void pod_free(struct pod_entry *p)
{
    for (size_t i = 0; i < EV_PER_POD; i++)
        free(p->ev[i].note);
    free(p->annot_next);
    free(p);
}

static int annot_withdraw(struct lw_recorder *r, struct pod_entry *p);

static void pod_remove(struct lw_recorder *r, size_t i)
{
    annot_withdraw(r, r->pods[i]); /* a queued patch for a pod that is gone: not sent */
    pod_unhash(r, r->pods[i]);
    pod_free(r->pods[i]);
    r->pods[i] = r->pods[--r->npods];
    if (i < r->npods)
        r->pods[i]->idx = i;
}

static struct pod_entry *pod_get(struct lw_recorder *r, const struct lw_pod_ref *ref, double t)
{
    if (!ref || !ref->uid || !*ref->uid || strlen(ref->uid) >= 129)
        return NULL;
    struct pod_entry *p = pod_find(r, ref->uid, NULL);
    if (!p) {
        if (r->npods >= r->o.max_pods) { /* evict the least recently touched */
            size_t old = 0;
            for (size_t i = 1; i < r->npods; i++)
                if (r->pods[i]->touched < r->pods[old]->touched)
                    old = i;
            pod_remove(r, old);
        }
        if (r->npods == r->cap) {
            size_t nc = r->cap ? r->cap * 2 : 16;
            struct pod_entry **np = realloc(r->pods, nc * sizeof(*np));
            if (!np)
                return NULL;
            r->pods = np, r->cap = nc;
        }
        if (r->npods + 1 > r->nbuckets && pod_hash_grow(r) != LW_OK)
            return NULL;
        p = calloc(1, sizeof(*p));
        if (!p)
            return NULL;
        snprintf(p->uid, sizeof(p->uid), "%s", ref->uid);
        p->tokens = r->o.bucket_burst;
        p->tok_t = t;
        p->has_limit = true;
        p->goroutines = -1;
        p->last_scrape_event = -1e18;
        p->idx = r->npods;
        r->pods[r->npods++] = p;
        size_t h = uid_bucket(r, p->uid);
        p->hnext = r->buckets[h];
        r->buckets[h] = p;
    }
    if (ref->ns)
        snprintf(p->ns, sizeof(p->ns), "%s", ref->ns);
    if (ref->name)
        snprintf(p->name, sizeof(p->name), "%s", ref->name);
    if (t > p->touched)
        p->touched = t;
    return p;
}

static int take_token(struct lw_recorder *r, struct pod_entry *p, double t)
{
    if (t > p->tok_t) {
        p->tokens = LW_MIN(r->o.bucket_burst, p->tokens + (t - p->tok_t) / r->o.bucket_refill);
        p->tok_t = t;
    }
    if (p->tokens < 1.0)
        return 0;
    p->tokens -= 1.0;
    return 1;
}

/* ---- requests ------------------------------------------------------------------------- */

static void req_unlink(struct lw_recorder *r, struct req_ctx *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        r->reqs = c->next;
    if (c->next)
        c->next->prev = c->prev;
    r->nreqs--;
}

static void on_done(struct lw_kube *k, struct lw_kube_result *res, void *ud);

static int path_events(struct lw_buf *b, int core, const char *ns, const char *name)
{
    int rc = lw_buf_appendf(b, core ? "/api/v1/namespaces/" : "/apis/events.k8s.io/v1/namespaces/");
    if (!rc)
        rc = lw_kube_urlencode(b, ns);
    if (!rc)
        rc = lw_buf_appendf(b, "/events");
    if (!rc && name) {
        rc = lw_buf_appendf(b, "/");
        if (!rc)
            rc = lw_kube_urlencode(b, name);
    }
    return rc;
}

/* Send c (already filled) with body text txt; on failure c is freed. Events
 * and annotation patches go in the client's low-priority lanes (the first
 * dropped at its queue cap; docs/client.md). */
static int req_send_text(struct lw_recorder *r, struct req_ctx *c, enum lw_kube_method m,
                         const char *path, const char *txt)
{
    struct lw_errbuf eb;
    struct lw_kube_req_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.prio = c->kind == REQ_ANNOT ? LW_KUBE_PRIO_ANNOT : LW_KUBE_PRIO_EVENT;
    int rc = lw_kube_request(r->kube, m, path, txt, &ro, on_done, c, &c->h, &eb);
    if (rc != LW_OK) {
        r->st.failed++;
        if (c->kind != REQ_ANNOT)
            count(r, c->reason, LW_REC_RES_FAILED);
        free(c);
        return rc;
    }
    c->r = r;
    c->prev = NULL;
    c->next = r->reqs;
    if (r->reqs)
        r->reqs->prev = c;
    r->reqs = c;
    r->nreqs++;
    return LW_OK;
}

/* Send c (already filled) with body; on failure c is freed. */
static int req_send(struct lw_recorder *r, struct req_ctx *c, enum lw_kube_method m,
                    const char *path, const cJSON *body)
{
    char *txt = body ? cJSON_PrintUnformatted(body) : NULL;
    if (body && !txt) {
        r->st.failed++;
        if (c->kind != REQ_ANNOT)
            count(r, c->reason, LW_REC_RES_FAILED);
        free(c);
        return LW_ENOMEM;
    }
    int rc = req_send_text(r, c, m, path, txt);
    free(txt);
    return rc;
}

static int send_create(struct lw_recorder *r, struct req_ctx *c)
{
    c->kind = REQ_CREATE;
    c->core = r->core;
    c->spec.pod.ns = c->ns;
    c->spec.pod.name = c->pod;
    c->spec.note = c->note;
    c->spec.instance = r->instance;
    struct lw_errbuf eb;
    cJSON *body = lw_rec_event_build(&c->spec, c->core, &eb);
    struct lw_buf path = LW_BUF_INIT(4096);
    int rc = body ? path_events(&path, c->core, c->ns, NULL) : LW_EINVAL;
    if (rc == LW_OK) {
        const cJSON *nm = cJSON_GetObjectItem(cJSON_GetObjectItem(body, "metadata"), "name");
        snprintf(c->evname, sizeof(c->evname), "%s", cJSON_IsString(nm) ? nm->valuestring : "");
        rc = req_send(r, c, LW_KUBE_POST, path.data, body);
    } else {
        r->st.failed++;
        count(r, c->reason, LW_REC_RES_FAILED);
        free(c);
    }
    cJSON_Delete(body);
    lw_buf_release(&path);
    return rc;
}

static uint64_t next_nano(struct lw_recorder *r, double t)
{
    uint64_t n = t > 0 ? (uint64_t)(t * 1e9) : 1;
    if (n <= r->last_nano)
        n = r->last_nano + 1;
    r->last_nano = n;
    return n;
}

static struct ev_entry *ev_by_name(struct pod_entry *p, const char *name)
{
    for (size_t i = 0; p && i < EV_PER_POD; i++)
        if (p->ev[i].state != EV_FREE && strcmp(p->ev[i].name, name) == 0)
            return &p->ev[i];
    return NULL;
}

static void ev_clear(struct ev_entry *e)
{
    free(e->note);
    memset(e, 0, sizeof(*e));
}

/* Create the event for entry e of pod p (a fresh create or a re-create of an
 * expired series). */
static int ev_create(struct lw_recorder *r, struct pod_entry *p, struct ev_entry *e, double t)
{
    struct req_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return LW_ENOMEM;
    snprintf(c->uid, sizeof(c->uid), "%s", p->uid);
    snprintf(c->ns, sizeof(c->ns), "%s", p->ns);
    snprintf(c->pod, sizeof(c->pod), "%s", p->name);
    snprintf(c->note, sizeof(c->note), "%s", e->note ? e->note : "");
    c->spec.pod.uid = c->uid;
    c->spec.reason = e->reason;
    c->reason = e->reason;
    c->spec.class_hash = e->class_hash; /* lets a later leader adopt it */
    c->spec.t = e->first;
    c->spec.name_nano = next_nano(r, t);
    if (e->count >= 2) {
        c->spec.series_count = e->count;
        c->spec.series_last = e->last_obs;
    }
    e->state = EV_CREATING;
    e->core = r->core;
    e->last_write = t;
    int rc = send_create(r, c);
    if (rc == LW_OK) {
        snprintf(e->name, sizeof(e->name), "%s", c->evname);
        r->st.created++;
        count(r, e->reason, LW_REC_RES_CREATED);
    } else {
        ev_clear(e);
    }
    return rc;
}

static int ev_patch(struct lw_recorder *r, struct pod_entry *p, struct ev_entry *e, double t)
{
    struct req_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        return LW_ENOMEM;
    c->kind = REQ_SERIES;
    c->reason = e->reason;
    c->core = e->core;
    snprintf(c->uid, sizeof(c->uid), "%s", p->uid);
    snprintf(c->evname, sizeof(c->evname), "%s", e->name);
    cJSON *body = lw_rec_series_patch(e->core, e->count, e->last_obs, e->note);
    struct lw_buf path = LW_BUF_INIT(4096);
    int rc = body ? path_events(&path, e->core, p->ns, e->name) : LW_ENOMEM;
    if (rc == LW_OK)
        rc = req_send(r, c, LW_KUBE_PATCH_STRATEGIC, path.data, body);
    else
        free(c);
    cJSON_Delete(body);
    lw_buf_release(&path);
    if (rc == LW_OK) {
        e->pending = c;
        e->written = e->count;
        e->last_write = t;
        r->st.series_patches++;
        count(r, e->reason, LW_REC_RES_SERIES_UPDATED);
    }
    return rc;
}

/* ---- events: one pending series patch per event ---------------------------------------
 * A repeat while the event's series patch still waits in the client's queue
 * is folded into that patch (its body is rebuilt with the new count, time
 * and note: no second request); while the patch is on the wire, repeats are
 * only counted and lw_recorder_tick writes them afterwards. */

/* Fold e's current count into its queued series patch. LW_OK when done. */
static int ev_coalesce(struct lw_recorder *r, struct ev_entry *e)
{
    struct req_ctx *c = e->pending;
    if (!c || !lw_kube_req_waiting(c->h))
        return LW_EINVAL;
    cJSON *body = lw_rec_series_patch(e->core, e->count, e->last_obs, e->note);
    char *txt = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    struct lw_errbuf eb;
    int rc = txt ? lw_kube_replace_body(r->kube, c->h, txt, &eb) : LW_ENOMEM;
    free(txt);
    if (rc == LW_OK) {
        e->written = e->count;
        r->st.series_coalesced++;
    }
    return rc;
}

static void annot_done(struct lw_recorder *r, struct pod_entry *p, struct req_ctx *c, int ok);

static void on_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    struct req_ctx *c = ud;
    struct lw_recorder *r = c->r;
    req_unlink(r, c);
    struct pod_entry *p = pod_find(r, c->uid, NULL);
    if (c->kind == REQ_ANNOT) {
        if (res->err != LW_OK)
            r->st.failed++;
        annot_done(r, p, c, res->err == LW_OK);
        return;
    }
    struct ev_entry *e = ev_by_name(p, c->evname);
    if (e && e->pending == c)
        e->pending = NULL;
    if (res->err == LW_OK) {
        int core = c->core, sent = c->spec.series_count >= 2 ? c->spec.series_count : 1;
        free(c);
        if (e && p && core == e->core && e->state == EV_CREATING) {
            e->state = EV_CREATED;
            e->written = sent; /* what the create carried */
            /* repeats seen while the create was in flight: the first is written now */
            if (e->count > e->written && e->written < 2 && take_token(r, p, e->last_obs))
                ev_patch(r, p, e, e->last_obs);
        }
        return;
    }
    if (c->kind == REQ_CREATE && !c->core && res->status == 404) {
        /* 404 on the collection: the group is not served, unless the namespace is missing */
        const cJSON *kind = cJSON_GetObjectItem(cJSON_GetObjectItem(res->body, "details"), "kind");
        if (!(cJSON_IsString(kind) && strcmp(kind->valuestring, "namespaces") == 0)) {
            r->core = 1;
            r->st.core_mode = 1;
            if (e)
                e->core = 1;
            c->h = NULL;
            if (send_create(r, c) == LW_OK)
                return;
            if (e)
                ev_clear(e);
            return;
        }
    }
    if (c->kind == REQ_SERIES && res->status == 404 && e && p) {
        /* the event expired (TTL): create it again, with its series */
        free(c);
        ev_create(r, p, e, e->last_obs);
        return;
    }
    r->st.failed++;
    if (c->kind != REQ_ANNOT)
        count(r, c->reason, LW_REC_RES_FAILED);
    if (e && c->kind == REQ_CREATE)
        ev_clear(e); /* the next occurrence creates a new event */
    free(c);
}

/* ---- public ------------------------------------------------------------------------------ */

struct lw_recorder *lw_recorder_new(struct lw_kube *k, const struct lw_recorder_opts *o,
                                    struct lw_errbuf *eb)
{
    struct lw_recorder *r = calloc(1, sizeof(*r));
    if (!r) {
        lw_errf(eb, LW_ENOMEM, "recorder: out of memory");
        return NULL;
    }
    r->kube = k;
    if (o)
        r->o = *o;
    if (r->o.bucket_burst <= 0)
        r->o.bucket_burst = 25;
    if (r->o.bucket_refill <= 0)
        r->o.bucket_refill = 300;
    if (r->o.scrape_failed_every <= 0)
        r->o.scrape_failed_every = 600;
    if (r->o.scrape_fail_threshold <= 0)
        r->o.scrape_fail_threshold = 3;
    if (r->o.series_every <= 0)
        r->o.series_every = 300;
    if (r->o.series_idle <= 0)
        r->o.series_idle = 3600;
    if (r->o.max_pods == 0)
        r->o.max_pods = 4096;
    r->core = r->o.force_core != 0;
    r->st.core_mode = r->core;
    lw_rec_reporting_instance(r->o.instance_id, r->instance, sizeof(r->instance));
    r->o.instance_id = NULL; /* not kept */
    return r;
}

void lw_recorder_free(struct lw_recorder *r)
{
    if (!r)
        return;
    while (r->reqs) {
        struct req_ctx *c = r->reqs;
        lw_kube_cancel(r->kube, c->h);
        req_unlink(r, c);
        free(c);
    }
    for (size_t i = 0; i < r->npods; i++)
        pod_free(r->pods[i]);
    free(r->pods);
    free(r->buckets);
    free(r);
}

int lw_recorder_event(struct lw_recorder *r, const struct lw_pod_ref *pod, enum lw_rec_reason reason,
                      const char *note_class, const char *note, double t)
{
    if ((unsigned)reason >= LW_REASON__COUNT || !pod || !pod->ns || !pod->name)
        return LW_EINVAL;
    struct pod_entry *p = pod_get(r, pod, t);
    if (!p)
        return LW_EINVAL;
    uint64_t ch = lw_fnv1a(LW_FNV_INIT, note_class ? note_class : "", note_class ? strlen(note_class) : 0);
    struct ev_entry *e = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < EV_PER_POD; i++) {
        struct ev_entry *x = &p->ev[i];
        if (x->state == EV_FREE) {
            if (!free_slot)
                free_slot = x;
            continue;
        }
        if (x->reason == reason && x->class_hash == ch)
            e = x;
        if (!oldest || x->last_obs < oldest->last_obs)
            oldest = x;
    }
    if (e && t - e->last_obs > r->o.series_idle) { /* long quiet: a new event, not a series */
        ev_clear(e);
        free_slot = e;
        e = NULL;
    }
    if (reason == LW_REASON_SCRAPE_FAILED && !e) {
        if (t - p->last_scrape_event < r->o.scrape_failed_every) {
            r->st.rate_limited++;
            count(r, reason, LW_REC_RES_RATE_LIMITED);
            return LW_REC_RATE_LIMITED;
        }
    }
    if (e) {
        /* a repeat */
        char *nn = note ? strdup(note) : NULL;
        if (nn) {
            free(e->note);
            e->note = nn;
        }
        e->count++;
        if (t > e->last_obs)
            e->last_obs = t;
        if (t > r->last_now)
            r->last_now = t;
        if (e->pending && ev_coalesce(r, e) == LW_OK)
            return LW_REC_SERIES_SENT; /* carried by the patch already queued */
        int due = e->state == EV_CREATED && !e->pending &&
                  (e->written < 2 || t - e->last_write >= r->o.series_every) &&
                  !(reason == LW_REASON_SCRAPE_FAILED &&
                    t - p->last_scrape_event < r->o.scrape_failed_every);
        if (!due) {
            r->st.series_deferred++;
            return LW_REC_SERIES_DEFERRED;
        }
        if (!take_token(r, p, t)) {
            r->st.rate_limited++;
            count(r, reason, LW_REC_RES_RATE_LIMITED);
            return LW_REC_RATE_LIMITED;
        }
        if (reason == LW_REASON_SCRAPE_FAILED)
            p->last_scrape_event = t;
        int rc = ev_patch(r, p, e, t);
        return rc == LW_OK ? LW_REC_SERIES_SENT : rc;
    }
    if (!take_token(r, p, t)) {
        r->st.rate_limited++;
        count(r, reason, LW_REC_RES_RATE_LIMITED);
        return LW_REC_RATE_LIMITED;
    }
    if (!free_slot) {
        ev_clear(oldest);
        free_slot = oldest;
    }
    e = free_slot;
    e->reason = reason;
    e->class_hash = ch;
    e->count = 1;
    e->first = e->last_obs = t;
    e->note = strdup(note ? note : "");
    if (!e->note) {
        ev_clear(e);
        return LW_ENOMEM;
    }
    if (reason == LW_REASON_SCRAPE_FAILED)
        p->last_scrape_event = t;
    int rc = ev_create(r, p, e, t);
    return rc == LW_OK ? LW_REC_CREATED : rc;
}

enum lw_pod_status lw_recorder_verdict(struct lw_recorder *r, const struct lw_pod_ref *pod,
                                       const struct lw_verdict *v)
{
    double t = v ? v->t : 0;
    struct pod_entry *p = pod_get(r, pod, t);
    if (!p || !v)
        return LW_STATUS_OK;
    struct lw_rec_decision d;
    lw_rec_decide(p->leak, v, &d);
    p->has_limit = v->memory.limit_bytes > 0;
    if (v->verdict != LW_VERDICT_INSUFFICIENT)
        p->oomkilled = false;
    if (v->goroutines.present)
        p->goroutines = v->goroutines.last;
    if (v->verdict == LW_VERDICT_LEAK && v->ntop > 0 && v->top) {
        const char *leaf = lw_rec_top_name(&v->top[0]);
        if (leaf)
            lw_rec_utf8_clean(p->top, sizeof(p->top), leaf, sizeof(p->top) - 1);
    }
    if (d.next == LW_LEAK_OOM) {
        if (p->predicted_since <= 0)
            p->predicted_since = t;
        p->predicted_oom_at = v->oom.at;
    } else if (d.next == LW_LEAK_OK) {
        p->predicted_since = 0;
        p->predicted_oom_at = 0;
    }
    p->leak = d.next;
    for (size_t i = 0; i < d.nreasons; i++) {
        char note[LW_REC_NOTE_MAX + 1];
        lw_rec_note_verdict(v, d.reasons[i], note, sizeof(note));
        lw_recorder_event(r, pod, d.reasons[i], d.note_class, note, t);
    }
    return lw_rec_status(p->leak, p->has_limit, p->scrape_failures >= r->o.scrape_fail_threshold,
                         p->oomkilled);
}

void lw_recorder_scrape_failed(struct lw_recorder *r, const struct lw_pod_ref *pod,
                               const char *what, double t)
{
    struct pod_entry *p = pod_get(r, pod, t);
    if (!p)
        return;
    if (p->scrape_failures < 1000000)
        p->scrape_failures++;
    if (p->scrape_failures < r->o.scrape_fail_threshold)
        return;
    char note[LW_REC_NOTE_MAX + 1];
    lw_rec_note_scrape_failed(what, p->scrape_failures, note, sizeof(note));
    lw_recorder_event(r, pod, LW_REASON_SCRAPE_FAILED, NULL, note, t);
}

void lw_recorder_scrape_ok(struct lw_recorder *r, const struct lw_pod_ref *pod)
{
    struct pod_entry *p = pod_find(r, pod ? pod->uid : NULL, NULL);
    if (p)
        p->scrape_failures = 0;
}

void lw_recorder_oomkilled(struct lw_recorder *r, const struct lw_pod_ref *pod, const char *kill_id,
                           const struct lw_postmortem *pm, double t)
{
    struct pod_entry *p = pod_get(r, pod, t);
    if (!p)
        return;
    struct lw_postmortem m;
    if (pm)
        m = *pm;
    else
        memset(&m, 0, sizeof(m)), m.goroutines = -1;
    if (!m.predicted && p->predicted_since > 0) {
        m.predicted = true;
        m.predicted_at = p->predicted_since;
        m.predicted_oom_at = p->predicted_oom_at;
    }
    if ((!m.top_stack || !*m.top_stack) && p->top[0])
        m.top_stack = p->top;
    if (m.goroutines < 0 || (!pm && p->goroutines >= 0))
        m.goroutines = p->goroutines;
    if (m.killed_at <= 0)
        m.killed_at = t;
    char note[LW_REC_NOTE_MAX + 1];
    lw_rec_note_oomkilled(&m, note, sizeof(note));
    lw_recorder_event(r, pod, LW_REASON_OOMKILLED, kill_id, note, t);
    p->oomkilled = true;
    p->leak = LW_LEAK_NONE; /* a new series starts */
    p->predicted_since = 0;
    p->predicted_oom_at = 0;
    p->goroutines = -1;
    p->top[0] = '\0';
}

enum lw_pod_status lw_recorder_status(const struct lw_recorder *r, const char *uid)
{
    const struct pod_entry *p = pod_find(r, uid, NULL);
    if (!p)
        return LW_STATUS_OK;
    return lw_rec_status(p->leak, p->has_limit, p->scrape_failures >= r->o.scrape_fail_threshold,
                         p->oomkilled);
}

void lw_recorder_set_annot_refresh(struct lw_recorder *r, double seconds)
{
    if (r && seconds > 0 && isfinite(seconds))
        r->o.annot.refresh = seconds;
}

void lw_recorder_tick(struct lw_recorder *r, double now)
{
    if (now > r->last_now)
        r->last_now = now;
    for (size_t i = 0; i < r->npods; i++) {
        struct pod_entry *p = r->pods[i];
        for (size_t j = 0; j < EV_PER_POD; j++) {
            struct ev_entry *e = &p->ev[j];
            if (e->state != EV_CREATED)
                continue;
            if (now - e->last_obs > r->o.series_idle) {
                ev_clear(e);
                continue;
            }
            if (e->pending)
                continue; /* one series patch per event at a time */
            int pending = e->count > e->written && now - e->last_write >= r->o.series_every;
            int refresh = e->count >= 2 && now - e->last_write >= SERIES_REFRESH;
            if ((pending || refresh) && take_token(r, p, now))
                ev_patch(r, p, e, now);
        }
    }
}

void lw_recorder_forget(struct lw_recorder *r, const char *uid)
{
    size_t i;
    if (pod_find(r, uid, &i))
        pod_remove(r, i);
}

/* ---- annotations: one pending patch per pod --------------------------------------------
 * At most one annotation patch per pod is queued or on the wire
 * (p->annot_req). A new wanted state replaces the body of a patch still
 * queued (coalescing: the queue never holds two patches for one pod); while
 * one is on the wire the latest wanted state waits in p->annot_next and is
 * sent when the first is answered, unless that one already carried the same
 * values. The echo wait (ANNOT_ECHO_WAIT) runs from the acknowledgement, not
 * from queueing: a patch that waited minutes in the queue is not sent again
 * just because the informer has not seen it yet. */

/* Queue a merge patch (text) for pod ns/name; *out = its context. */
static int annot_send(struct lw_recorder *r, const char *ns, const char *name, const char *uid,
                      const char *txt, uint64_t h, struct req_ctx **out)
{
    struct req_ctx *c = calloc(1, sizeof(*c));
    struct lw_buf path = LW_BUF_INIT(4096);
    int rc = c ? LW_OK : LW_ENOMEM;
    if (!rc)
        rc = lw_buf_appendf(&path, "/api/v1/namespaces/");
    if (!rc)
        rc = lw_kube_urlencode(&path, ns);
    if (!rc)
        rc = lw_buf_appendf(&path, "/pods/");
    if (!rc)
        rc = lw_kube_urlencode(&path, name);
    if (rc == LW_OK) {
        c->kind = REQ_ANNOT;
        c->ahash = h;
        snprintf(c->uid, sizeof(c->uid), "%s", uid ? uid : "");
        rc = req_send_text(r, c, LW_KUBE_PATCH_MERGE, path.data, txt);
    } else {
        free(c);
        c = NULL;
    }
    lw_buf_release(&path);
    if (rc == LW_OK) {
        r->st.annot_patches++;
        if (out)
            *out = c;
    }
    return rc;
}

static int send_annot(struct lw_recorder *r, const struct lw_pod_ref *pod, cJSON *patch)
{
    char *txt = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    int rc = txt ? annot_send(r, pod->ns, pod->name, pod->uid, txt, 0, NULL) : LW_ENOMEM;
    free(txt);
    return rc == LW_OK ? 1 : rc;
}

/* The pod needs no patch (any more): cancel one still queued and forget the
 * one waiting for the wire. Returns 1 when a queued patch was cancelled. */
static int annot_withdraw(struct lw_recorder *r, struct pod_entry *p)
{
    free(p->annot_next);
    p->annot_next = NULL;
    struct req_ctx *c = p->annot_req;
    if (!c || !lw_kube_req_waiting(c->h))
        return 0;
    lw_kube_cancel(r->kube, c->h);
    req_unlink(r, c);
    free(c);
    p->annot_req = NULL;
    r->st.annot_withdrawn++;
    return 1;
}

/* c (an annotation patch) was answered; p is its pod (NULL: forgotten). */
static void annot_done(struct lw_recorder *r, struct pod_entry *p, struct req_ctx *c, int ok)
{
    uint64_t h = c->ahash;
    int mine = p && p->annot_req == c;
    free(c);
    if (!mine)
        return;
    p->annot_req = NULL;
    if (ok) {
        p->annot_hash = h;
        p->annot_sent = r->last_now > 0 ? r->last_now : 1;
    }
    char *next = p->annot_next;
    p->annot_next = NULL;
    if (next && !(ok && p->annot_next_hash == h)) {
        struct req_ctx *nc = NULL;
        if (annot_send(r, p->ns, p->name, p->uid, next, p->annot_next_hash, &nc) == LW_OK)
            p->annot_req = nc;
    }
    free(next);
}

/* The values of an annotation patch, updated-at aside. */
static uint64_t annot_values_hash(const cJSON *patch)
{
    uint64_t h = LW_FNV_INIT;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(patch, "metadata"), "annotations"))
    {
        if (strcmp(it->string, LW_ANN_UPDATED_AT) == 0)
            continue;
        h = lw_fnv1a(h, it->string, strlen(it->string) + 1);
        const char *v = cJSON_IsString(it) ? it->valuestring : "\x01null";
        h = lw_fnv1a(h, v, strlen(v) + 1);
    }
    return h;
}

int lw_recorder_annotate(struct lw_recorder *r, const struct lw_pod_ref *pod, const cJSON *pod_obj,
                         const struct lw_annot *a, double now)
{
    if (!pod || !pod->ns || !pod->name)
        return LW_EINVAL;
    if (now > r->last_now)
        r->last_now = now;
    cJSON *patch = lw_rec_annot_patch(a, pod_obj, now, &r->o.annot);
    if (!patch) {
        /* the pod already shows what we want: a patch still pending would
         * only write older values */
        struct pod_entry *q = pod_find(r, pod->uid, NULL);
        if (q)
            annot_withdraw(r, q);
        r->st.annot_unchanged++;
        return 0;
    }
    struct pod_entry *p = pod_get(r, pod, now);
    if (!p)
        return send_annot(r, pod, patch); /* no uid: nothing to coalesce with */
    uint64_t h = annot_values_hash(patch);
    if (p->annot_req) {
        struct req_ctx *c = p->annot_req;
        if (c->ahash == h) { /* the pending patch carries these values */
            cJSON_Delete(patch);
            free(p->annot_next);
            p->annot_next = NULL;
            r->st.annot_unchanged++;
            return 0;
        }
        char *txt = cJSON_PrintUnformatted(patch);
        cJSON_Delete(patch);
        if (!txt)
            return LW_ENOMEM;
        struct lw_errbuf eb;
        r->st.annot_coalesced++;
        if (lw_kube_req_waiting(c->h) && lw_kube_replace_body(r->kube, c->h, txt, &eb) == LW_OK) {
            c->ahash = h; /* still queued: brought up to date in place */
            free(txt);
            free(p->annot_next);
            p->annot_next = NULL;
            return 0; /* no new request */
        }
        int fresh = p->annot_next == NULL;
        free(p->annot_next); /* on the wire: this one goes after it */
        p->annot_next = txt;
        p->annot_next_hash = h;
        return fresh; /* 1: one more request will be made */
    }
    /* The pod object comes from the informer's cache, which learns of our
     * last patch only when its watch event arrives: the same values again
     * within ANNOT_ECHO_WAIT of their acknowledgement are that lag, not a
     * change. */
    if (p->annot_sent > 0 && p->annot_hash == h && now - p->annot_sent >= 0 &&
        now - p->annot_sent < ANNOT_ECHO_WAIT) {
        cJSON_Delete(patch);
        r->st.annot_unchanged++;
        return 0;
    }
    char *txt = cJSON_PrintUnformatted(patch);
    cJSON_Delete(patch);
    if (!txt)
        return LW_ENOMEM;
    struct req_ctx *c = NULL;
    int rc = annot_send(r, p->ns, p->name, p->uid, txt, h, &c);
    free(txt);
    if (rc != LW_OK)
        return rc;
    p->annot_req = c;
    return 1;
}

size_t lw_recorder_drop_annotations(struct lw_recorder *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->npods; i++)
        n += (size_t)annot_withdraw(r, r->pods[i]);
    return n;
}

int lw_recorder_optout(struct lw_recorder *r, const struct lw_pod_ref *pod, const cJSON *pod_obj)
{
    if (!pod || !pod->ns || !pod->name)
        return LW_EINVAL;
    cJSON *patch = lw_rec_annot_optout_patch(pod_obj);
    if (!patch)
        return 0;
    if (pod->uid)
        lw_recorder_forget(r, pod->uid);
    return send_annot(r, pod, patch);
}

size_t lw_recorder_pending(const struct lw_recorder *r)
{
    return r->nreqs;
}

void lw_recorder_get_stats(const struct lw_recorder *r, struct lw_recorder_stats *st)
{
    *st = r->st;
    st->core_mode = r->core;
}

/* ---- adoption (the listing is in adopt.c; docs/events.md "Adoption") --------------------------- */

uint64_t lw_rec_class_hash(const char *note_class)
{
    return lw_fnv1a(LW_FNV_INIT, note_class ? note_class : "", note_class ? strlen(note_class) : 0);
}

int lw_recorder_adopt(struct lw_recorder *r, const struct lw_rec_adopted *a, double now)
{
    if (!r || !a || (unsigned)a->reason >= LW_REASON__COUNT || !a->name[0] || !a->uid[0])
        return LW_EINVAL;
    if (now - a->last > r->o.series_idle)
        return 0; /* long quiet: the next occurrence is a new event anyway */
    struct lw_pod_ref ref = {a->ns, a->pod, a->uid};
    struct pod_entry *p = pod_get(r, &ref, a->last);
    if (!p)
        return LW_ENOMEM;
    struct ev_entry *e = NULL, *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < EV_PER_POD; i++) {
        struct ev_entry *x = &p->ev[i];
        if (x->state == EV_FREE) {
            if (!free_slot)
                free_slot = x;
            continue;
        }
        if (x->reason == a->reason && x->class_hash == a->class_hash)
            e = x;
        else if (x->state == EV_CREATED && !x->pending &&
                 (!oldest || x->last_obs < oldest->last_obs))
            oldest = x;
    }
    if (e && e->last_obs > a->last)
        return 0; /* we know a newer one of the same key */
    if (e && (e->state == EV_CREATING || e->pending))
        return 0; /* our own write is in flight: we are its writer */
    if (!e)
        e = free_slot ? free_slot : oldest;
    if (!e)
        return 0;
    ev_clear(e);
    e->state = EV_CREATED;
    e->reason = a->reason;
    e->class_hash = a->class_hash;
    snprintf(e->name, sizeof(e->name), "%s", a->name);
    e->core = a->core || r->core;
    e->count = a->count >= 1 ? a->count : 1;
    e->written = e->count;
    e->first = a->first;
    e->last_obs = a->last >= a->first ? a->last : a->first;
    /* as if last written one interval before its last observation: the
     * first repeat is written at once, the 30-min refresh keeps its rhythm */
    e->last_write = e->last_obs - r->o.series_every;
    switch (a->reason) {
    case LW_REASON_GOROUTINE_LEAK:
    case LW_REASON_MEMORY_LEAK:
        p->leak = LW_LEAK_LEAKING;
        break;
    case LW_REASON_OOM_PREDICTED:
        p->leak = LW_LEAK_OOM;
        if (p->predicted_since <= 0 || a->first < p->predicted_since)
            p->predicted_since = a->first;
        break;
    case LW_REASON_LEAK_RESOLVED:
        p->leak = LW_LEAK_OK;
        p->predicted_since = 0;
        break;
    case LW_REASON_OOMKILLED:
        p->leak = LW_LEAK_NONE;
        p->predicted_since = 0;
        p->oomkilled = true;
        break;
    case LW_REASON_SCRAPE_FAILED:
        if (e->last_obs > p->last_scrape_event)
            p->last_scrape_event = e->last_obs;
        break;
    default:
        break;
    }
    return 1;
}

bool lw_recorder_has_event(const struct lw_recorder *r, const char *uid, enum lw_rec_reason reason,
                           const char *note_class)
{
    const struct pod_entry *p = pod_find(r, uid, NULL);
    uint64_t ch = lw_rec_class_hash(note_class);
    for (size_t i = 0; p && i < EV_PER_POD; i++)
        if (p->ev[i].state != EV_FREE && p->ev[i].reason == reason && p->ev[i].class_hash == ch)
            return true;
    return false;
}

double lw_recorder_predicted_since(const struct lw_recorder *r, const char *uid)
{
    const struct pod_entry *p = pod_find(r, uid, NULL);
    return p ? p->predicted_since : 0;
}
