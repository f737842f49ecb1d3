/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_informer.c: the pod informer end to end against the test API
 * server: paged list (limit + continue) with a field selector, watch from
 * the list's resourceVersion with bookmarks, add/update/delete handlers,
 * updates that only touch our annotations ignored, re-watch from the last
 * RV after a clean or abrupt drop, relist after 410 in both forms, an
 * expired continue token, and the backoff between failed lists.
 */
#include "harness.h"
#include "kube_test_server.h"

struct seen {
    int adds, updates, deletes, synced, errors;
    int expired_errors, cont_expired;
    char last_deleted[64];
    struct kt *t;
    int compact_on_page; /* compact the history while a paged list runs */
};

static const char *name_of(const cJSON *o)
{
    const cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "name");
    return cJSON_IsString(n) ? n->valuestring : "";
}

static void h_add(void *ud, const cJSON *o) { ((struct seen *)ud)->adds++; }
static void h_update(void *ud, const cJSON *a, const cJSON *b) { ((struct seen *)ud)->updates++; }
static void h_delete(void *ud, const cJSON *o)
{
    struct seen *s = ud;
    s->deletes++;
    snprintf(s->last_deleted, sizeof(s->last_deleted), "%s", name_of(o));
}
static void h_synced(void *ud) { ((struct seen *)ud)->synced++; }
static void h_error(void *ud, const char *what, const struct lw_kube_result *res)
{
    struct seen *s = ud;
    s->errors++;
    if (lw_kube_is_expired(res))
        s->expired_errors++;
    if (strstr(what, "continue"))
        s->cont_expired++;
}

static const char *const ours[] = {"leakwatch.io/status", "leakwatch.io/summary"};

static void opts_for(struct lw_informer_opts *o, struct seen *s)
{
    memset(o, 0, sizeof(*o));
    o->path = "/api/v1/pods";
    o->node_name = "node-a";
    o->page_size = 3;
    o->min_watch_timeout = 30;
    o->backoff_init = 0.05;
    o->backoff_max = 0.4;
    o->ignore_annotations = ours;
    o->n_ignore_annotations = 2;
    o->on_add = h_add;
    o->on_update = h_update;
    o->on_delete = h_delete;
    o->on_synced = h_synced;
    o->on_error = h_error;
    o->ud = s;
}

/* Run the loop until *v >= want (or 20 s). */
static int wait_for(struct kt *t, const int *v, int want)
{
    double end = lw_clock_monotonic() + 20;
    while (*v < want && lw_clock_monotonic() < end)
        lw_loop_run_once(t->loop, 0.05);
    return *v >= want;
}

static int wait_watch_open(struct kt *t)
{
    for (int i = 0; i < 200; i++) {
        if (kt_open_watches(t) >= 1)
            return 1;
        lw_loop_run_once(t->loop, 0.05);
    }
    return 0;
}

TEST(test_informer_list_watch)
{
    struct kt t;
    struct lw_kube_opts ko = {.qps = -1};
    if (!kt_setup(&t, &ko))
        return;
    char name[32];
    for (int i = 0; i < 7; i++) {
        snprintf(name, sizeof(name), "a-%d", i);
        kt_seed_pod(&t, "default", name, "node-a", NULL);
    }
    kt_seed_pod(&t, "default", "b-0", "node-b", NULL);
    kt_seed_pod(&t, "other", "b-1", "node-b", NULL);
    struct seen s = {.t = &t};
    struct lw_informer_opts o;
    opts_for(&o, &s);
    struct lw_errbuf eb;
    struct lw_informer *inf = lw_informer_new(t.kube, &o, &eb);
    CHECK(inf);
    CHECK_STR(lw_informer_last_rv(inf), "");
    CHECK_EQ_INT(lw_informer_start(inf, &eb), LW_OK);
    CHECK(wait_for(&t, &s.synced, 1));
    CHECK(lw_informer_has_synced(inf));
    CHECK_EQ_INT(lw_informer_count(inf), 7); /* node-b pods filtered by the server */
    CHECK_EQ_INT(s.adds, 7);
    struct lw_informer_stats st;
    lw_informer_get_stats(inf, &st);
    CHECK_EQ_INT(st.list_pages, 3); /* 7 pods, limit 3 */
    CHECK_EQ_INT(st.lists, 1);
    char list_rv[64];
    snprintf(list_rv, sizeof(list_rv), "%s", lw_informer_last_rv(inf));
    CHECK(list_rv[0] != '\0');

    /* what was sent: paged lists with the selector, then a watch from the list's RV */
    CHECK(wait_watch_open(&t));
    cJSON *w = kt_last_request(&t, "GET");
    const cJSON *q = cJSON_GetObjectItem(w, "query");
    CHECK_STR(cJSON_GetObjectItem(q, "watch")->valuestring, "1");
    CHECK_STR(cJSON_GetObjectItem(q, "resourceVersion")->valuestring, list_rv);
    CHECK_STR(cJSON_GetObjectItem(q, "allowWatchBookmarks")->valuestring, "true");
    CHECK_STR(cJSON_GetObjectItem(q, "fieldSelector")->valuestring, "spec.nodeName=node-a");
    long to = atol(cJSON_GetObjectItem(q, "timeoutSeconds")->valuestring);
    CHECK(to >= 30 && to <= 60);
    CHECK(cJSON_GetObjectItem(q, "pretty") == NULL);
    cJSON_Delete(w);
    CHECK_EQ_INT(kt_count_requests_q(&t, "GET", "/api/v1/pods", 0), 3);

    /* add on node-a: seen; on node-b: not */
    kt_seed_pod(&t, "default", "a-7", "node-a", NULL);
    kt_seed_pod(&t, "default", "b-2", "node-b", NULL);
    CHECK(wait_for(&t, &s.adds, 8));
    CHECK_EQ_INT(lw_informer_count(inf), 8);

    /* our own annotation: a MODIFIED event, but no on_update */
    cJSON *pods = kt_ctl_json(&t, "GET", "pods/default/a-0", NULL);
    const char *uid = cJSON_GetObjectItem(cJSON_GetObjectItem(pods, "metadata"), "uid")->valuestring;
    kt_ctl(&t, "PATCH", "pods/default/a-0",
           "{\"metadata\":{\"annotations\":{\"leakwatch.io/status\":\"leaking\"}}}");
    for (int i = 0; i < 100; i++) {
        lw_informer_get_stats(inf, &st);
        if (st.ignored_updates >= 1)
            break;
        lw_loop_run_once(t.loop, 0.05);
    }
    CHECK_EQ_INT(st.ignored_updates, 1);
    CHECK_EQ_INT(s.updates, 0);
    /* the cache still holds the newest object */
    const cJSON *cached = lw_informer_get(inf, uid);
    CHECK(cached != NULL);
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(cached, "metadata"), "annotations");
    CHECK(cJSON_GetObjectItem(ann, "leakwatch.io/status") != NULL);
    cJSON_Delete(pods);
    /* somebody else's change: on_update */
    kt_ctl(&t, "PATCH", "pods/default/a-0", "{\"metadata\":{\"labels\":{\"team\":\"x\"}}}");
    CHECK(wait_for(&t, &s.updates, 1));
    /* delete */
    kt_ctl(&t, "DELETE", "pods/default/a-1", NULL);
    CHECK(wait_for(&t, &s.deletes, 1));
    CHECK_STR(s.last_deleted, "a-1");
    CHECK_EQ_INT(lw_informer_count(inf), 7);

    /* bookmarks (every second on this server) advance the RV */
    lw_informer_get_stats(inf, &st);
    uint64_t bm = st.bookmarks;
    for (int i = 0; i < 60 && st.bookmarks == bm; i++) {
        lw_loop_run_once(t.loop, 0.05);
        lw_informer_get_stats(inf, &st);
    }
    CHECK(st.bookmarks > bm);

    /* a clean end of the stream: re-watch from the last RV, no relist */
    char rv_before[64];
    snprintf(rv_before, sizeof(rv_before), "%s", lw_informer_last_rv(inf));
    CHECK(strcmp(rv_before, list_rv) != 0);
    kt_ctl(&t, "POST", "drop-watches", "{\"abrupt\":false}");
    int want_watches = (int)st.watches + 1;
    for (int i = 0; i < 200 && (int)st.watches < want_watches; i++) {
        lw_loop_run_once(t.loop, 0.05);
        lw_informer_get_stats(inf, &st);
    }
    CHECK_EQ_INT(st.watches, want_watches);
    CHECK_EQ_INT(st.lists, 1);
    CHECK(wait_watch_open(&t));
    w = kt_last_request(&t, "GET");
    q = cJSON_GetObjectItem(w, "query");
    const char *rewatch_rv = cJSON_GetObjectItem(q, "resourceVersion")->valuestring;
    /* the RV it resumed from is one it saw (a bookmark may have moved it on since) */
    CHECK(strcmp(rewatch_rv, list_rv) != 0);
    cJSON_Delete(w);

    /* an abrupt drop: an error, then a re-watch after backoff */
    int errs = s.errors;
    kt_ctl(&t, "POST", "drop-watches", "{\"abrupt\":true}");
    want_watches = (int)st.watches + 1;
    for (int i = 0; i < 200 && (int)st.watches < want_watches; i++) {
        lw_loop_run_once(t.loop, 0.05);
        lw_informer_get_stats(inf, &st);
    }
    CHECK_EQ_INT(st.watches, want_watches);
    CHECK(s.errors >= errs); /* a reset may read as a clean end or an error */

    /* 410 as an ERROR event on the re-watch: relist, no duplicate adds */
    int adds = s.adds;
    CHECK(wait_watch_open(&t));
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"watch\",\"resource\":\"pods\",\"code\":410,\"form\":\"event\"}");
    kt_ctl(&t, "POST", "drop-watches", "{\"abrupt\":false}");
    CHECK(wait_for(&t, &s.synced, 2));
    lw_informer_get_stats(inf, &st);
    CHECK_EQ_INT(st.relists, 1);
    CHECK_EQ_INT(st.lists, 2);
    CHECK_EQ_INT(s.adds, adds);
    CHECK_EQ_INT(lw_informer_count(inf), 7);

    /* 410 over HTTP, with a pod deleted while we were away: the relist deletes it */
    CHECK(wait_watch_open(&t));
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"watch\",\"resource\":\"pods\",\"code\":410,\"form\":\"http\"}");
    kt_ctl(&t, "POST", "drop-watches", "{\"abrupt\":false}");
    /* the re-watch gets the 410; meanwhile a-2 goes away without us watching */
    for (int i = 0; i < 200; i++) {
        lw_informer_get_stats(inf, &st);
        if (st.relists >= 2)
            break;
        lw_loop_run_once(t.loop, 0.01);
    }
    CHECK_EQ_INT(st.relists, 2);
    kt_ctl(&t, "DELETE", "pods/default/a-2", NULL); /* caught by the relist or the watch */
    CHECK(wait_for(&t, &s.synced, 3));
    CHECK(wait_for(&t, &s.deletes, 2));
    CHECK_STR(s.last_deleted, "a-2");
    CHECK_EQ_INT(lw_informer_count(inf), 6);
    CHECK(s.expired_errors >= 2);

    lw_informer_free(inf);
    kt_teardown(&t);
}

static void count_obj(void *ud, const cJSON *o) { (*(size_t *)ud)++; }

TEST(test_informer_continue_expired_and_backoff)
{
    struct kt t;
    struct lw_kube_opts ko = {.qps = -1, .max_retries = -1};
    if (!kt_setup(&t, &ko))
        return;
    char name[32];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), "a-%d", i);
        kt_seed_pod(&t, "default", name, "node-a", NULL);
    }
    /* the first list page is fine, the second finds its continue token
     * expired (the server's 410 for a list with continue) */
    kt_ctl(&t, "POST", "faults",
           "[{\"verb\":\"list\",\"resource\":\"pods\",\"action\":\"delay\",\"seconds\":0.01,"
           "\"count\":1},{\"verb\":\"list\",\"resource\":\"pods\",\"code\":410,\"count\":1}]");
    struct seen s = {.t = &t};
    struct lw_informer_opts o;
    opts_for(&o, &s);
    struct lw_informer *inf = lw_informer_new(t.kube, &o, NULL);
    CHECK_EQ_INT(lw_informer_start(inf, NULL), LW_OK);
    CHECK(wait_for(&t, &s.synced, 1));
    CHECK_EQ_INT(s.cont_expired, 1);
    CHECK_EQ_INT(lw_informer_count(inf), 6);
    CHECK_EQ_INT(s.adds, 6); /* the dropped first page was not applied */
    struct lw_informer_stats st;
    lw_informer_get_stats(inf, &st);
    CHECK_EQ_INT(st.list_pages, 1 + 2); /* page 1, then a full fresh list of 2 pages */
    size_t n = 0;
    lw_informer_foreach(inf, count_obj, &n);
    CHECK_EQ_INT(n, 6);
    lw_informer_free(inf);

    /* failing lists back off: 0.05, 0.1, 0.2 (x [1,2) jitter) between attempts */
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"list\",\"resource\":\"pods\",\"code\":500,\"count\":3}");
    struct seen s2 = {.t = &t};
    opts_for(&o, &s2);
    inf = lw_informer_new(t.kube, &o, NULL);
    double t0 = lw_clock_monotonic();
    CHECK_EQ_INT(lw_informer_start(inf, NULL), LW_OK);
    CHECK(wait_for(&t, &s2.synced, 1));
    double dt = lw_clock_monotonic() - t0;
    CHECK_EQ_INT(s2.errors, 3);
    CHECK(dt >= 0.35);
    CHECK(dt < 10);
    lw_informer_get_stats(inf, &st);
    CHECK(st.last_delay >= 0.2 && st.last_delay < 0.4);
    CHECK_EQ_INT(lw_informer_count(inf), 6);
    lw_informer_free(inf);
    kt_teardown(&t);
}

TEST(test_informer_label_selector_bad)
{
    struct kt t;
    struct lw_kube_opts ko = {.qps = -1, .max_retries = -1};
    if (!kt_setup(&t, &ko))
        return;
    kt_seed_pod(&t, "default", "x", "node-a", "{\"leakwatch.io/scrape\":\"true\"}");
    kt_seed_pod(&t, "default", "y", "node-a", NULL);
    struct seen s = {.t = &t};
    struct lw_informer_opts o;
    opts_for(&o, &s);
    o.node_name = NULL;
    o.label_selector = "leakwatch.io/scrape=true";
    struct lw_informer *inf = lw_informer_new(t.kube, &o, NULL);
    lw_informer_start(inf, NULL);
    CHECK(wait_for(&t, &s.synced, 1));
    CHECK_EQ_INT(lw_informer_count(inf), 1);
    lw_informer_free(inf);
    /* a selector the server rejects: errors, retried with backoff, never synced */
    struct seen s2 = {.t = &t};
    opts_for(&o, &s2);
    o.field_selector = "spec.bogus=1"; /* with spec.nodeName=node-a */
    inf = lw_informer_new(t.kube, &o, NULL);
    lw_informer_start(inf, NULL);
    CHECK(wait_for(&t, &s2.errors, 2));
    CHECK_EQ_INT(s2.synced, 0);
    lw_informer_free(inf);
    /* options are checked */
    struct lw_errbuf eb;
    o.path = "api/v1/pods";
    CHECK(lw_informer_new(t.kube, &o, &eb) == NULL);
    CHECK(strstr(eb.msg, "path") != NULL);
    kt_teardown(&t);
}

TEST_LIST(T(test_informer_list_watch), T(test_informer_continue_expired_and_backoff),
          T(test_informer_label_selector_bad));
TEST_MAIN()
