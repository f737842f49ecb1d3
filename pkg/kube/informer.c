/* SPDX-License-Identifier: Apache-2.0 */
/*
 * informer.c: client-go's Reflector + store for one collection (pods), on the
 * event loop. States: LIST (paged, limit + continue) -> WATCH (from the
 * list's metadata.resourceVersion, bookmarks on, timeoutSeconds random in
 * [min, 2*min]) -> on a clean end re-WATCH from the last RV seen (events and
 * bookmarks) -> on 410 (HTTP or ERROR event) LIST again. Failures wait on
 * client-go's reflector backoff (0.8 s doubling to 30 s, jitter 1.0, reset
 * after 2 min without failures). API doc §3.
 *
 * Lists are sent without resourceVersion (a consistent, paged read). An
 * expired continue token (410 on a later page) drops the pages so far and
 * lists from scratch. RVs are opaque: only stored and compared for equality.
 *
 * The store maps metadata.uid -> the object (cJSON, owned by the store).
 * A relist diffs the new list against the store: missing objects get
 * on_delete, new ones on_add, changed ones (RV differs) on_update.
 */
#include "kube/kube.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    char *uid;
    cJSON *obj;
    uint64_t gen;
};

struct lw_informer {
    struct lw_kube *k;
    struct lw_informer_opts o;
    char *path, *lsel, *fsel;
    char **ign;
    size_t nign;

    struct entry **buckets;
    size_t nbuckets, count;
    uint64_t gen;

    char *rv;               /* last resourceVersion ("" before the first list) */
    int synced;
    int started;

    cJSON *pending;         /* items of the pages listed so far */
    char *cont;             /* continue token of the next page */
    int cont_expired;       /* consecutive expired-continue relists */

    struct lw_kube_req *req;
    struct lw_timer *timer;
    struct lw_backoff bo;
    double watch_started;
    uint64_t watch_events;
    struct lw_informer_stats st;
};

static void start_list(struct lw_informer *inf);
static void start_watch(struct lw_informer *inf);

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static void set_rv(struct lw_informer *inf, const char *rv)
{
    if (!rv || !*rv || strcmp(rv, inf->rv) == 0)
        return;
    char *n = strdup(rv);
    if (!n)
        return; /* keep the old one: a re-watch replays a little more */
    free(inf->rv);
    inf->rv = n;
}

/* ---- store -------------------------------------------------------------------- */

static struct entry **slot(const struct lw_informer *inf, const char *uid)
{
    uint64_t h = lw_fnv1a(LW_FNV_INIT, uid, strlen(uid));
    struct entry **pp = &inf->buckets[h & (inf->nbuckets - 1)];
    while (*pp && strcmp((*pp)->uid, uid) != 0)
        pp = &(*pp)->next;
    return pp;
}

static int grow(struct lw_informer *inf)
{
    if (inf->count < inf->nbuckets)
        return LW_OK;
    size_t nb = inf->nbuckets * 2;
    struct entry **b = calloc(nb, sizeof(*b));
    if (!b)
        return LW_ENOMEM;
    for (size_t i = 0; i < inf->nbuckets; i++) {
        struct entry *e = inf->buckets[i];
        while (e) {
            struct entry *nx = e->next;
            uint64_t h = lw_fnv1a(LW_FNV_INIT, e->uid, strlen(e->uid));
            e->next = b[h & (nb - 1)];
            b[h & (nb - 1)] = e;
            e = nx;
        }
    }
    free(inf->buckets);
    inf->buckets = b;
    inf->nbuckets = nb;
    return LW_OK;
}

static const char *obj_uid(const cJSON *obj)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *uid = cJSON_GetObjectItemCaseSensitive(md, "uid");
    return cJSON_IsString(uid) && uid->valuestring[0] ? uid->valuestring : NULL;
}

static const char *obj_rv(const cJSON *obj)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    return cJSON_IsString(rv) ? rv->valuestring : "";
}

static void strip_for_compare(cJSON *o, const char *const *keys, size_t nkeys)
{
    /* list items come without kind/apiVersion, watch objects with them */
    cJSON_DeleteItemFromObjectCaseSensitive(o, "kind");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "apiVersion");
    cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    if (!cJSON_IsObject(md))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
    cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
    cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
    if (cJSON_IsObject(ann)) {
        for (size_t i = 0; i < nkeys; i++)
            cJSON_DeleteItemFromObjectCaseSensitive(ann, keys[i]);
        if (!ann->child)
            cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
    }
}

int lw_informer_only_ignored_changed(const cJSON *a, const cJSON *b, const char *const *keys,
                                     size_t nkeys)
{
    if (!a || !b)
        return 0;
    cJSON *ca = cJSON_Duplicate(a, 1), *cb = cJSON_Duplicate(b, 1);
    int same = 0;
    if (ca && cb) {
        strip_for_compare(ca, keys, nkeys);
        strip_for_compare(cb, keys, nkeys);
        same = cJSON_Compare(ca, cb, 1) ? 1 : 0;
    }
    cJSON_Delete(ca);
    cJSON_Delete(cb);
    return same;
}

/* Insert or replace obj (takes ownership) and call the handlers. */
static void store_upsert(struct lw_informer *inf, cJSON *obj)
{
    const char *uid = obj_uid(obj);
    if (!uid) {
        cJSON_Delete(obj);
        return;
    }
    if (grow(inf) != LW_OK) {
        cJSON_Delete(obj);
        return;
    }
    struct entry **pp = slot(inf, uid);
    if (*pp) {
        struct entry *e = *pp;
        cJSON *old = e->obj;
        e->obj = obj;
        e->gen = inf->gen;
        if (strcmp(obj_rv(old), obj_rv(obj)) != 0) {
            if (inf->nign &&
                lw_informer_only_ignored_changed(old, obj, (const char *const *)inf->ign,
                                                 inf->nign))
                inf->st.ignored_updates++;
            else if (inf->o.on_update)
                inf->o.on_update(inf->o.ud, old, obj);
        }
        cJSON_Delete(old);
        return;
    }
    struct entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->uid = strdup(uid))) {
        free(e);
        cJSON_Delete(obj);
        return;
    }
    e->obj = obj;
    e->gen = inf->gen;
    *pp = e;
    inf->count++;
    if (inf->o.on_add)
        inf->o.on_add(inf->o.ud, obj);
}

static void store_delete(struct lw_informer *inf, cJSON *obj)
{
    const char *uid = obj_uid(obj);
    if (uid) {
        struct entry **pp = slot(inf, uid);
        if (*pp) {
            struct entry *e = *pp;
            *pp = e->next;
            inf->count--;
            if (inf->o.on_delete)
                inf->o.on_delete(inf->o.ud, obj); /* the final state, from the event */
            cJSON_Delete(e->obj);
            free(e->uid);
            free(e);
        }
    }
    cJSON_Delete(obj);
}

/* Remove entries not seen in the list of generation inf->gen. */
static void store_sweep(struct lw_informer *inf)
{
    for (size_t i = 0; i < inf->nbuckets; i++) {
        struct entry **pp = &inf->buckets[i];
        while (*pp) {
            struct entry *e = *pp;
            if (e->gen == inf->gen) {
                pp = &e->next;
                continue;
            }
            *pp = e->next;
            inf->count--;
            if (inf->o.on_delete)
                inf->o.on_delete(inf->o.ud, e->obj);
            cJSON_Delete(e->obj);
            free(e->uid);
            free(e);
        }
    }
}

static void store_clear(struct lw_informer *inf)
{
    for (size_t i = 0; i < inf->nbuckets; i++) {
        struct entry *e = inf->buckets[i];
        while (e) {
            struct entry *nx = e->next;
            cJSON_Delete(e->obj);
            free(e->uid);
            free(e);
            e = nx;
        }
        inf->buckets[i] = NULL;
    }
    inf->count = 0;
}

size_t lw_informer_count(const struct lw_informer *inf) { return inf->count; }
int lw_informer_has_synced(const struct lw_informer *inf) { return inf->synced; }
const char *lw_informer_last_rv(const struct lw_informer *inf) { return inf->rv; }
void lw_informer_get_stats(const struct lw_informer *inf, struct lw_informer_stats *st)
{
    *st = inf->st;
}

const cJSON *lw_informer_get(const struct lw_informer *inf, const char *uid)
{
    struct entry **pp = slot(inf, uid);
    return *pp ? (*pp)->obj : NULL;
}

void lw_informer_foreach(const struct lw_informer *inf, void (*fn)(void *ud, const cJSON *obj),
                         void *ud)
{
    for (size_t i = 0; i < inf->nbuckets; i++)
        for (struct entry *e = inf->buckets[i]; e; e = e->next)
            fn(ud, e->obj);
}

/* ---- state machine -------------------------------------------------------------- */

static void on_timer_list(struct lw_loop *loop, void *ud)
{
    struct lw_informer *inf = ud;
    inf->timer = NULL;
    start_list(inf);
}

static void on_timer_watch(struct lw_loop *loop, void *ud)
{
    struct lw_informer *inf = ud;
    inf->timer = NULL;
    start_watch(inf);
}

static void backoff_then(struct lw_informer *inf, int relist)
{
    double d = lw_backoff_next(&inf->bo, lw_loop_now(lw_kube_loop(inf->k)));
    inf->st.last_delay = d;
    inf->timer = lw_timer_add(lw_kube_loop(inf->k), d, 0, relist ? on_timer_list : on_timer_watch,
                              inf);
}

static void report(struct lw_informer *inf, const char *what, const struct lw_kube_result *res)
{
    inf->st.errors++;
    if (inf->o.on_error)
        inf->o.on_error(inf->o.ud, what, res);
}

static void on_list_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    struct lw_informer *inf = ud;
    inf->req = NULL;
    if (res->err != LW_OK) {
        int cont_expired = inf->cont && lw_kube_is_expired(res);
        report(inf, cont_expired ? "list (continue expired)" : "list", res);
        cJSON_Delete(inf->pending);
        inf->pending = NULL;
        free(inf->cont);
        inf->cont = NULL;
        if (cont_expired && inf->cont_expired++ == 0) {
            inf->timer = lw_timer_add(lw_kube_loop(k), 0, 0, on_timer_list, inf);
            return;
        }
        backoff_then(inf, 1);
        return;
    }
    inf->st.list_pages++;
    cJSON *items = cJSON_GetObjectItemCaseSensitive(res->body, "items");
    cJSON *md = cJSON_GetObjectItemCaseSensitive(res->body, "metadata");
    const cJSON *cont = cJSON_GetObjectItemCaseSensitive(md, "continue");
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    if (!inf->pending)
        inf->pending = cJSON_CreateArray();
    if (cJSON_IsArray(items) && inf->pending) {
        cJSON *it;
        while ((it = items->child) != NULL)
            cJSON_AddItemToArray(inf->pending, cJSON_DetachItemViaPointer(items, it));
    }
    free(inf->cont);
    inf->cont = cJSON_IsString(cont) && cont->valuestring[0] ? strdup(cont->valuestring) : NULL;
    if (inf->cont) {
        start_list(inf);
        return;
    }
    /* complete: apply it to the store */
    inf->cont_expired = 0;
    inf->gen++;
    cJSON *it;
    while (inf->pending && (it = inf->pending->child) != NULL)
        store_upsert(inf, cJSON_DetachItemViaPointer(inf->pending, it));
    cJSON_Delete(inf->pending);
    inf->pending = NULL;
    store_sweep(inf);
    set_rv(inf, cJSON_IsString(rv) ? rv->valuestring : NULL);
    inf->st.lists++;
    inf->synced = 1;
    if (inf->o.on_synced)
        inf->o.on_synced(inf->o.ud);
    start_watch(inf);
}

static void start_list(struct lw_informer *inf)
{
    struct lw_kube_list_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.label_selector = inf->lsel;
    lo.field_selector = inf->fsel;
    lo.limit = inf->o.page_size;
    lo.continue_token = inf->cont;
    struct lw_buf url = LW_BUF_INIT(64 * 1024);
    struct lw_errbuf eb = {{0}};
    int rc = lw_kube_build_url(&url, inf->path, &lo, 0);
    if (rc == LW_OK)
        rc = lw_kube_request(inf->k, LW_KUBE_GET, url.data, NULL, NULL, on_list_done, inf,
                             &inf->req, &eb);
    lw_buf_release(&url);
    if (rc != LW_OK) {
        struct lw_kube_result res;
        memset(&res, 0, sizeof(res));
        res.err = rc;
        res.reason = res.message = "";
        snprintf(res.errmsg, sizeof(res.errmsg), "%s", eb.msg);
        report(inf, "list", &res);
        backoff_then(inf, 1);
    }
}

static int on_watch_event(struct lw_kube *k, struct lw_watch_event *ev, void *ud)
{
    struct lw_informer *inf = ud;
    inf->watch_events++;
    inf->st.events++;
    switch (ev->type) {
    case LW_WATCH_ADDED:
    case LW_WATCH_MODIFIED:
    case LW_WATCH_DELETED: {
        set_rv(inf, ev->rv);
        cJSON *obj = cJSON_DetachItemFromObjectCaseSensitive(ev->root, "object");
        if (ev->type == LW_WATCH_DELETED)
            store_delete(inf, obj);
        else
            store_upsert(inf, obj);
        break;
    }
    case LW_WATCH_BOOKMARK:
        inf->st.bookmarks++;
        set_rv(inf, ev->rv);
        break;
    default:
        break; /* unknown types are ignored, as client-go does */
    }
    return 0;
}

static void on_watch_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    struct lw_informer *inf = ud;
    inf->req = NULL;
    double age = lw_loop_now(lw_kube_loop(k)) - inf->watch_started;
    if (res->err == LW_OK) {
        if (age < 1.0 && inf->watch_events == 0) {
            snprintf(res->errmsg, sizeof(res->errmsg),
                     "very short watch: closed after %.2f s with no events", age);
            report(inf, "watch", res);
            backoff_then(inf, 0);
            return;
        }
        start_watch(inf); /* the server's timeoutSeconds: carry on from the last RV */
        return;
    }
    if (lw_kube_is_expired(res)) {
        report(inf, "watch (resourceVersion expired)", res);
        inf->st.relists++;
        backoff_then(inf, 1);
        return;
    }
    report(inf, "watch", res);
    /* an undecodable or oversized event would come back on a re-watch */
    backoff_then(inf, res->err == LW_ETOOBIG || res->err == LW_EFORMAT);
}

static void start_watch(struct lw_informer *inf)
{
    struct lw_kube_list_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.label_selector = inf->lsel;
    lo.field_selector = inf->fsel;
    lo.resource_version = inf->rv;
    lo.allow_bookmarks = 1;
    long min = inf->o.min_watch_timeout;
    lo.timeout_seconds = min + (long)(random() % (min + 1)); /* [min, 2*min] */
    struct lw_errbuf eb = {{0}};
    inf->watch_started = lw_loop_now(lw_kube_loop(inf->k));
    inf->watch_events = 0;
    int rc = lw_kube_watch(inf->k, inf->path, &lo, on_watch_event, on_watch_done, inf, &inf->req,
                           &eb);
    if (rc != LW_OK) {
        struct lw_kube_result res;
        memset(&res, 0, sizeof(res));
        res.err = rc;
        res.reason = res.message = "";
        snprintf(res.errmsg, sizeof(res.errmsg), "%s", eb.msg);
        report(inf, "watch", &res);
        backoff_then(inf, 0);
        return;
    }
    inf->st.watches++;
}

/* ---- lifecycle ------------------------------------------------------------------- */

void lw_informer_free(struct lw_informer *inf)
{
    if (!inf)
        return;
    if (inf->req)
        lw_kube_cancel(inf->k, inf->req);
    lw_timer_cancel(lw_kube_loop(inf->k), inf->timer);
    store_clear(inf);
    free(inf->buckets);
    cJSON_Delete(inf->pending);
    free(inf->cont);
    free(inf->rv);
    for (size_t i = 0; i < inf->nign; i++)
        free(inf->ign[i]);
    free(inf->ign);
    free(inf->path);
    free(inf->lsel);
    free(inf->fsel);
    free(inf);
}

struct lw_informer *lw_informer_new(struct lw_kube *k, const struct lw_informer_opts *o,
                                    struct lw_errbuf *eb)
{
    if (!o || !o->path || o->path[0] != '/') {
        lw_errf(eb, LW_EINVAL, "informer: a collection path starting with '/' is required");
        return NULL;
    }
    struct lw_informer *inf = calloc(1, sizeof(*inf));
    if (!inf) {
        lw_errf(eb, LW_ENOMEM, "informer: out of memory");
        return NULL;
    }
    inf->k = k;
    inf->o = *o;
    inf->path = xstrdup(o->path);
    inf->lsel = xstrdup(o->label_selector);
    if (o->node_name && *o->node_name) {
        size_t n = strlen(o->node_name) + (o->field_selector ? strlen(o->field_selector) : 0) + 16;
        inf->fsel = malloc(n);
        if (inf->fsel)
            snprintf(inf->fsel, n, "spec.nodeName=%s%s%s", o->node_name,
                     o->field_selector && *o->field_selector ? "," : "",
                     o->field_selector ? o->field_selector : "");
    } else {
        inf->fsel = xstrdup(o->field_selector);
    }
    inf->rv = strdup("");
    inf->nbuckets = 64;
    inf->buckets = calloc(inf->nbuckets, sizeof(*inf->buckets));
    int bad = !inf->path || !inf->rv || !inf->buckets || (o->label_selector && !inf->lsel) ||
              ((o->field_selector || (o->node_name && *o->node_name)) && !inf->fsel);
    if (!bad && o->n_ignore_annotations) {
        inf->ign = calloc(o->n_ignore_annotations, sizeof(char *));
        bad = !inf->ign;
        for (size_t i = 0; !bad && i < o->n_ignore_annotations; i++) {
            inf->ign[i] = xstrdup(o->ignore_annotations[i]);
            bad = !inf->ign[i];
            inf->nign = i + 1;
        }
    }
    inf->o.path = inf->o.label_selector = inf->o.field_selector = inf->o.node_name = NULL;
    inf->o.ignore_annotations = NULL;
    if (bad) {
        lw_informer_free(inf);
        lw_errf(eb, LW_ENOMEM, "informer: out of memory");
        return NULL;
    }
    if (inf->o.page_size <= 0)
        inf->o.page_size = 500;
    if (inf->o.min_watch_timeout <= 0)
        inf->o.min_watch_timeout = 300;
    lw_backoff_init(&inf->bo, inf->o.backoff_init > 0 ? inf->o.backoff_init : 0.8,
                    inf->o.backoff_max > 0 ? inf->o.backoff_max : 30.0,
                    inf->o.backoff_reset > 0 ? inf->o.backoff_reset : 120.0);
    return inf;
}

int lw_informer_start(struct lw_informer *inf, struct lw_errbuf *eb)
{
    if (inf->started)
        return lw_errf(eb, LW_EINVAL, "informer: already started");
    inf->started = 1;
    start_list(inf);
    return LW_OK;
}
