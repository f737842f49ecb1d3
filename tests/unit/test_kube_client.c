/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_client.c: pkg/kube end to end against the project's test API
 * server (tests/apiserver/apiserver.py, started here on 127.0.0.1 over plain
 * HTTP with a token file): Status errors, CRUD and patch content types, 429
 * with Retry-After, 5xx backoff, 401 -> unauthorized() -> one retry, the rate
 * limiter, the body cap, timeouts, watches (events, clean end, 410 as an
 * ERROR event and as HTTP, the line cap), and the request log to check what
 * the client actually sent. The informer has its own file
 * (test_kube_informer.c). The credentials provider is a trivial token-file
 * one written here (pkg/kubeconfig has the real ones).
 */
#include "harness.h"
#include "kube_test_server.h"

/* ---- helpers ------------------------------------------------------------------ */

struct done {
    int done;
    int err;
    long status;
    int attempts;
    int watch_error_event;
    int expired;
    char reason[64];
    char errmsg[512];
    cJSON *body;
    int events;
    char first_name[64];
    int stop_after;
};

static void on_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    struct done *d = ud;
    d->done = 1;
    d->err = res->err;
    d->status = res->status;
    d->attempts = res->attempts;
    d->watch_error_event = res->watch_error_event;
    d->expired = lw_kube_is_expired(res);
    snprintf(d->reason, sizeof(d->reason), "%s", res->reason);
    snprintf(d->errmsg, sizeof(d->errmsg), "%s", res->errmsg);
    cJSON_Delete(d->body);
    d->body = res->body; /* take it */
    res->body = NULL;
}

static int on_event(struct lw_kube *k, struct lw_watch_event *ev, void *ud)
{
    struct done *d = ud;
    d->events++;
    const cJSON *md = cJSON_GetObjectItem(ev->object, "metadata");
    const cJSON *name = cJSON_GetObjectItem(md, "name");
    if (d->events == 1 && cJSON_IsString(name))
        snprintf(d->first_name, sizeof(d->first_name), "%s", name->valuestring);
    return d->stop_after && d->events >= d->stop_after;
}

static struct done req(struct kt *t, enum lw_kube_method m, const char *path, const char *body,
                       const struct lw_kube_req_opts *ro)
{
    struct done d;
    memset(&d, 0, sizeof(d));
    struct lw_errbuf eb;
    int rc = lw_kube_request(t->kube, m, path, body, ro, on_done, &d, NULL, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (rc == LW_OK)
        CHECK_EQ_INT(lw_loop_run_until(t->loop, &d.done, 30), LW_OK);
    return d;
}

static const char *jpath(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    return cJSON_IsString(x) ? x->valuestring : "";
}

/* ---- tests --------------------------------------------------------------------- */

TEST(test_status_errors)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/nope", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_EHTTP);
    CHECK_EQ_INT(d.status, 404);
    CHECK_STR(d.reason, "NotFound");
    CHECK_STR(d.errmsg, "pods \"nope\" not found (NotFound, 404)");
    CHECK_EQ_INT(d.attempts, 1);
    cJSON_Delete(d.body);
    d = req(&t, LW_KUBE_POST, "/api/v1/namespaces/default/pods",
            "{\"metadata\":{\"name\":\"Bad_Name\"},\"spec\":{\"containers\":[]}}", NULL);
    CHECK_EQ_INT(d.status, 422);
    CHECK_STR(d.reason, "Invalid");
    CHECK(strstr(d.errmsg, "Bad_Name") != NULL);
    CHECK(strstr(d.errmsg, "(Invalid, 422)") != NULL);
    cJSON_Delete(d.body);
    /* a malformed path is refused before anything is sent: no callback */
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_kube_request(t.kube, LW_KUBE_GET, "api/v1", NULL, NULL, on_done, &d, NULL, &eb),
                 LW_EINVAL);
    kt_teardown(&t);
}

TEST(test_crud_and_patch_types)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.status, 200);
    CHECK_STR(jpath(d.body, "metadata", "name"), "p1");
    CHECK_STR(d.errmsg, "");
    cJSON_Delete(d.body);

    d = req(&t, LW_KUBE_PATCH_MERGE, "/api/v1/namespaces/default/pods/p1",
            "{\"metadata\":{\"annotations\":{\"leakwatch.io/status\":\"ok\"}}}", NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(d.body, "metadata"), "annotations");
    CHECK_STR(jpath(ann, "leakwatch.io/status", NULL), "ok");
    cJSON_Delete(d.body);
    cJSON *log = kt_last_request(&t, "PATCH");
    CHECK_STR(jpath(log, "headers", "Content-Type"), "application/merge-patch+json");
    CHECK_STR(jpath(log, "headers", "Accept"), "application/json");
    CHECK(strncmp(jpath(log, "headers", "Authorization"), "Bearer sha256:", 14) == 0);
    CHECK(strncmp(jpath(log, "headers", "User-Agent"), "leakwatch/", 10) == 0);
    cJSON_Delete(log);

    d = req(&t, LW_KUBE_PATCH_STRATEGIC, "/api/v1/namespaces/default/pods/p1",
            "{\"metadata\":{\"labels\":{\"app\":\"x\"}}}", NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_STR(jpath(cJSON_GetObjectItem(d.body, "metadata"), "labels", "app"), "x");
    cJSON_Delete(d.body);
    log = kt_last_request(&t, "PATCH");
    CHECK_STR(jpath(log, "headers", "Content-Type"), "application/strategic-merge-patch+json");
    cJSON_Delete(log);

    d = req(&t, LW_KUBE_PATCH_JSON, "/api/v1/namespaces/default/pods/p1",
            "[{\"op\":\"add\",\"path\":\"/metadata/labels/tier\",\"value\":\"db\"}]", NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_STR(jpath(cJSON_GetObjectItem(d.body, "metadata"), "labels", "tier"), "db");
    cJSON_Delete(d.body);

    /* optimistic concurrency: a stale RV is a 409 with the apiserver's words */
    d = req(&t, LW_KUBE_PATCH_MERGE, "/api/v1/namespaces/default/pods/p1",
            "{\"metadata\":{\"resourceVersion\":\"1\",\"labels\":{\"a\":\"b\"}}}", NULL);
    CHECK_EQ_INT(d.status, 409);
    CHECK(strstr(d.errmsg, "(Conflict, 409)") != NULL);
    cJSON_Delete(d.body);

    d = req(&t, LW_KUBE_POST, "/api/v1/namespaces/default/pods",
            "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p2\"},"
            "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}", NULL);
    CHECK_EQ_INT(d.status, 201);
    CHECK_EQ_INT(d.err, LW_OK);
    cJSON_Delete(d.body);
    d = req(&t, LW_KUBE_DELETE, "/api/v1/namespaces/default/pods/p2", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    cJSON_Delete(d.body);
    d = req(&t, LW_KUBE_DELETE, "/api/v1/namespaces/default/pods/p2", NULL, NULL);
    CHECK_EQ_INT(d.status, 404);
    cJSON_Delete(d.body);
    kt_teardown(&t);
}

TEST(test_retry_429_retry_after)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"get\",\"resource\":\"pods\",\"code\":429,\"retryAfter\":1,\"count\":2}");
    double t0 = lw_clock_monotonic();
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    double dt = lw_clock_monotonic() - t0;
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.attempts, 3);
    CHECK(dt >= 1.9); /* Retry-After: 1, twice */
    CHECK(dt < 10);
    cJSON_Delete(d.body);
    CHECK_EQ_INT(kt_count_requests(&t, "GET", "/api/v1/namespaces/default/pods/p1"), 3);
    struct lw_kube_stats st;
    lw_kube_get_stats(t.kube, &st);
    CHECK_EQ_INT(st.retries, 2);
    /* Retry-After is capped by retry_after_max */
    kt_teardown(&t);
    struct lw_kube_opts o = {.retry_after_max = 0.2, .backoff_init = 0.05};
    if (!kt_setup(&t, &o))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"get\",\"resource\":\"pods\",\"code\":429,\"retryAfter\":30,\"count\":1}");
    t0 = lw_clock_monotonic();
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK(lw_clock_monotonic() - t0 < 5);
    cJSON_Delete(d.body);
    kt_teardown(&t);
}

TEST(test_retry_5xx)
{
    struct lw_kube_opts o = {.backoff_init = 0.05, .backoff_max = 0.2, .max_retries = 3};
    struct kt t;
    if (!kt_setup(&t, &o))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"get\",\"resource\":\"pods\",\"code\":500,\"count\":2}");
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.attempts, 3);
    cJSON_Delete(d.body);
    /* retries run out: the last Status is reported */
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"get\",\"resource\":\"pods\",\"code\":503,\"count\":-1}");
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    CHECK_EQ_INT(d.status, 503);
    CHECK_EQ_INT(d.attempts, 4);
    CHECK(strstr(d.errmsg, "503)") != NULL);
    cJSON_Delete(d.body);
    kt_ctl(&t, "DELETE", "faults", NULL);
    /* a POST that got a 500 without Retry-After may have been applied: not retried */
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"create\",\"resource\":\"pods\",\"code\":500}");
    d = req(&t, LW_KUBE_POST, "/api/v1/namespaces/default/pods",
            "{\"metadata\":{\"name\":\"p3\"},\"spec\":{\"containers\":[]}}", NULL);
    CHECK_EQ_INT(d.status, 500);
    CHECK_EQ_INT(d.attempts, 1);
    CHECK_STR(d.reason, "InternalError");
    cJSON_Delete(d.body);
    /* no_retry */
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"get\",\"resource\":\"pods\",\"code\":500}");
    struct lw_kube_req_opts ro = {.no_retry = 1};
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, &ro);
    CHECK_EQ_INT(d.status, 500);
    CHECK_EQ_INT(d.attempts, 1);
    cJSON_Delete(d.body);
    /* dropped connections are retried for a GET (libcurl itself may retry the
     * first one once, on a reused connection, so two drops) */
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"get\",\"resource\":\"pods\",\"action\":\"close\",\"count\":2}");
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK(d.attempts >= 2);
    cJSON_Delete(d.body);
    kt_teardown(&t);
}

TEST(test_unauthorized_refresh)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    cJSON_Delete(d.body);
    /* the token rotates on disk; the provider still has the old one cached */
    kt_write_token(&t, "tok-rotated-2");
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.attempts, 2);
    CHECK_EQ_INT(t.prov.unauth_calls, 1);
    cJSON_Delete(d.body);
    /* the provider's token stays wrong: one refresh, one retry, then the 401 */
    snprintf(t.prov.path, sizeof(t.prov.path), "%s/wrong-token", t.dir);
    kt_write_file(t.prov.path, "not-the-token\n");
    t.prov.have = 0;
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods", NULL, NULL);
    CHECK_EQ_INT(d.status, 401);
    CHECK_EQ_INT(d.attempts, 2);
    CHECK_EQ_INT(t.prov.unauth_calls, 2);
    CHECK_STR(d.errmsg, "Unauthorized (Unauthorized, 401)");
    cJSON_Delete(d.body);
    kt_teardown(&t);
}

static void on_done_count(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    int *n = ud;
    if (res->err == LW_OK)
        (*n)++;
}

TEST(test_rate_limiter)
{
    struct lw_kube_opts o = {.qps = 10, .burst = 2};
    struct kt t;
    if (!kt_setup(&t, &o))
        return;
    int n = 0;
    double t0 = lw_clock_monotonic();
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(lw_kube_request(t.kube, LW_KUBE_GET, "/api/v1/namespaces/default/pods", NULL,
                                     NULL, on_done_count, &n, NULL, NULL),
                     LW_OK);
    int target = 6;
    while (n < target && lw_clock_monotonic() - t0 < 20)
        lw_loop_run_once(t.loop, 0.1);
    double dt = lw_clock_monotonic() - t0;
    CHECK_EQ_INT(n, 6);
    CHECK(dt >= 0.38); /* burst 2, then 4 tokens at 10/s */
    struct lw_kube_stats st;
    lw_kube_get_stats(t.kube, &st);
    CHECK(st.throttled >= 3);
    CHECK_EQ_INT(st.requests, 6);
    kt_teardown(&t);
}

TEST(test_verb_and_resource)
{
    char r[96];
    int coll = -1;
    lw_kube_resource("/api/v1/pods?watch=1&labelSelector=a%3Db", r, sizeof(r), &coll);
    CHECK_STR(r, "pods");
    CHECK_EQ_INT(coll, 1);
    lw_kube_resource("/api/v1/namespaces/shop/pods/web-1", r, sizeof(r), &coll);
    CHECK_STR(r, "pods");
    CHECK_EQ_INT(coll, 0);
    lw_kube_resource("/api/v1/namespaces/shop/pods/web-1/status", r, sizeof(r), &coll);
    CHECK_STR(r, "pods/status");
    lw_kube_resource("/api/v1/namespaces/shop/events", r, sizeof(r), &coll);
    CHECK_STR(r, "events");
    CHECK_EQ_INT(coll, 1);
    lw_kube_resource("/apis/events.k8s.io/v1/namespaces/shop/events/web-1.187a", r, sizeof(r),
                     &coll);
    CHECK_STR(r, "events.events.k8s.io");
    CHECK_EQ_INT(coll, 0);
    lw_kube_resource("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/leakwatch", r,
                     sizeof(r), NULL);
    CHECK_STR(r, "leases.coordination.k8s.io");
    lw_kube_resource("/apis/metrics.k8s.io/v1beta1/pods", r, sizeof(r), &coll);
    CHECK_STR(r, "pods.metrics.k8s.io");
    CHECK_EQ_INT(coll, 1);
    lw_kube_resource("/api/v1/nodes/node-1", r, sizeof(r), &coll);
    CHECK_STR(r, "nodes");
    CHECK_EQ_INT(coll, 0);
    lw_kube_resource("/api/v1/namespaces/shop", r, sizeof(r), &coll);
    CHECK_STR(r, "namespaces");
    CHECK_EQ_INT(coll, 0);
    /* anything else is "other", never a label made of user input */
    const char *junk[] = {"/healthz", "/", "", "/api/v1", "/api/v1/Pods", "/api/v1/po\"ds",
                          "/apis/x/v1", "/api/v1/namespaces/a/pods/b/c/d", "//api/v1/pods",
                          "/api/v1/pods//x"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(junk); i++) {
        lw_kube_resource(junk[i], r, sizeof(r), &coll);
        CHECK_STR(r, "other");
    }
    lw_kube_resource(NULL, r, sizeof(r), NULL);
    CHECK_STR(r, "other");
    CHECK_STR(lw_kube_verb(LW_KUBE_GET, 1, "/api/v1/pods"), "watch");
    CHECK_STR(lw_kube_verb(LW_KUBE_GET, 0, "/api/v1/pods?limit=500"), "list");
    CHECK_STR(lw_kube_verb(LW_KUBE_GET, 0, "/api/v1/namespaces/a/pods/b"), "get");
    CHECK_STR(lw_kube_verb(LW_KUBE_POST, 0, "/api/v1/namespaces/a/events"), "create");
    CHECK_STR(lw_kube_verb(LW_KUBE_PUT, 0, "/x"), "update");
    CHECK_STR(lw_kube_verb(LW_KUBE_PATCH_MERGE, 0, "/x"), "patch");
    CHECK_STR(lw_kube_verb(LW_KUBE_PATCH_STRATEGIC, 0, "/x"), "patch");
    CHECK_STR(lw_kube_verb(LW_KUBE_DELETE, 0, "/x"), "delete");
}

struct obs_log {
    int n;
    char line[32][160];
};
static void observer(void *ud, const struct lw_kube_attempt *a)
{
    struct obs_log *o = ud;
    char res[96];
    lw_kube_resource(a->path, res, sizeof(res), NULL);
    if (o->n < 32)
        snprintf(o->line[o->n], sizeof(o->line[0]), "%s %s %ld %s",
                 lw_kube_verb(a->method, a->watch, a->path), res, a->status,
                 a->err == LW_OK ? "ok" : "err");
    o->n++;
}
static int obs_has(const struct obs_log *o, const char *line)
{
    int n = 0;
    for (int i = 0; i < o->n && i < 32; i++)
        n += strcmp(o->line[i], line) == 0;
    return n;
}

static int releases;
static void count_release(void *ud)
{
    (void)ud;
    releases++;
}

/* A sibling client has its own rate limiter: a backlog on the parent (1 qps)
 * does not delay it. The observer sees every attempt, retries included. */
TEST(test_sibling_and_observer)
{
    struct lw_kube_opts o = {.qps = 1, .burst = 1};
    struct kt t;
    if (!kt_setup(&t, &o))
        return;
    t.ep.release = count_release;
    releases = 0;
    struct obs_log ob;
    memset(&ob, 0, sizeof(ob));
    lw_kube_set_observer(t.kube, observer, &ob);
    struct lw_errbuf eb;
    struct lw_kube *sib = lw_kube_new_sibling(t.kube, NULL, &eb);
    CHECK(sib != NULL);
    if (!sib) {
        kt_teardown(&t);
        return;
    }
    CHECK(lw_kube_loop(sib) == t.loop);
    int n = 0;
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(lw_kube_request(t.kube, LW_KUBE_GET, "/api/v1/namespaces/default/pods", NULL,
                                     NULL, on_done_count, &n, NULL, NULL),
                     LW_OK);
    struct done d;
    memset(&d, 0, sizeof(d));
    double t0 = lw_clock_monotonic();
    CHECK_EQ_INT(lw_kube_request(sib, LW_KUBE_GET, "/api/v1/namespaces/default/pods/nope", NULL,
                                 NULL, on_done, &d, NULL, &eb),
                 LW_OK);
    CHECK_EQ_INT(lw_loop_run_until(t.loop, &d.done, 10), LW_OK);
    double dt = lw_clock_monotonic() - t0;
    CHECK_EQ_INT(d.status, 404);
    cJSON_Delete(d.body);
    CHECK(dt < 2.0); /* not behind the parent's 5 s backlog */
    CHECK(n <= 3);
    struct lw_kube_stats ps, ss;
    lw_kube_get_stats(sib, &ss);
    CHECK_EQ_INT(ss.requests, 1);
    CHECK_EQ_INT(ss.throttled, 0);
    /* the sibling's attempts are not reported to the parent's observer */
    CHECK_EQ_INT(obs_has(&ob, "get pods 404 err"), 0);
    lw_kube_free(sib); /* does not release the shared endpoint */
    CHECK_EQ_INT(releases, 0);
    while (n < 6 && lw_clock_monotonic() - t0 < 20)
        lw_loop_run_once(t.loop, 0.1);
    CHECK_EQ_INT(n, 6);
    lw_kube_get_stats(t.kube, &ps);
    CHECK(ps.throttled >= 4);
    CHECK_EQ_INT(obs_has(&ob, "list pods 200 ok"), 6);
    /* errors and a watch */
    memset(&d, 0, sizeof(d));
    CHECK_EQ_INT(lw_kube_request(t.kube, LW_KUBE_PATCH_MERGE, "/api/v1/namespaces/default/pods/nope",
                                 "{}", NULL, on_done, &d, NULL, &eb),
                 LW_OK);
    CHECK_EQ_INT(lw_loop_run_until(t.loop, &d.done, 10), LW_OK);
    CHECK_EQ_INT(obs_has(&ob, "patch pods 404 err"), 1);
    cJSON_Delete(d.body);
    memset(&d, 0, sizeof(d));
    d.stop_after = 1;
    kt_seed_pod(&t, "default", "w1", "n1", NULL);
    struct lw_kube_list_opts lo = {0};
    lo.resource_version = "0";
    CHECK_EQ_INT(lw_kube_watch(t.kube, "/api/v1/pods", &lo, on_event, on_done, &d, NULL, &eb),
                 LW_OK);
    CHECK_EQ_INT(lw_loop_run_until(t.loop, &d.done, 15), LW_OK);
    CHECK_EQ_INT(obs_has(&ob, "watch pods 200 ok"), 1);
    cJSON_Delete(d.body);
    lw_kube_set_observer(t.kube, NULL, NULL);
    kt_teardown(&t);
    CHECK_EQ_INT(releases, 1);
}

TEST(test_body_cap_and_timeout)
{
    struct lw_kube_opts o = {.max_body = 2000, .backoff_init = 0.05};
    struct kt t;
    if (!kt_setup(&t, &o))
        return;
    char name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "pod-%d", i);
        kt_seed_pod(&t, "default", name, "node-a", NULL);
    }
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/pods", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_ETOOBIG);
    CHECK(strstr(d.errmsg, "2000-byte cap") != NULL);
    cJSON_Delete(d.body);
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"get\",\"resource\":\"pods\",\"action\":\"delay\",\"seconds\":3}");
    struct lw_kube_req_opts ro = {.timeout = 0.3, .no_retry = 1};
    double t0 = lw_clock_monotonic();
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/pod-1", NULL, &ro);
    CHECK_EQ_INT(d.err, LW_ENET);
    CHECK(strstr(d.errmsg, "imeout") != NULL);
    CHECK(lw_clock_monotonic() - t0 < 2.5);
    cJSON_Delete(d.body);
    /* cancel: no callback */
    struct lw_kube_req *r = NULL;
    memset(&d, 0, sizeof(d));
    CHECK_EQ_INT(lw_kube_request(t.kube, LW_KUBE_GET, "/api/v1/pods", NULL, NULL, on_done, &d, &r,
                                 NULL),
                 LW_OK);
    lw_kube_cancel(t.kube, r);
    lw_loop_run_until(t.loop, &d.done, 0.5);
    CHECK_EQ_INT(d.done, 0);
    kt_teardown(&t);
}

static struct done watch(struct kt *t, const struct lw_kube_list_opts *o, int stop_after,
                         void (*during)(struct kt *))
{
    struct done d;
    memset(&d, 0, sizeof(d));
    d.stop_after = stop_after;
    CHECK_EQ_INT(lw_kube_watch(t->kube, "/api/v1/pods", o, on_event, on_done, &d, NULL, NULL),
                 LW_OK);
    if (during) {
        /* wait until the server has the watch open */
        for (int i = 0; i < 100 && kt_open_watches(t) < 1; i++)
            lw_loop_run_once(t->loop, 0.05);
        during(t);
    }
    CHECK_EQ_INT(lw_loop_run_until(t->loop, &d.done, 30), LW_OK);
    return d;
}

static void add_pod_then_drop(struct kt *t)
{
    kt_seed_pod(t, "default", "new-pod", "node-a", NULL);
    for (int i = 0; i < 20; i++)
        lw_loop_run_once(t->loop, 0.02);
    kt_ctl(t, "POST", "drop-watches", "{\"abrupt\":false}");
}

TEST(test_watch_stream)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    char rv[64];
    kt_list_rv(&t, rv, sizeof(rv));
    struct lw_kube_list_opts o = {.resource_version = rv, .allow_bookmarks = 1,
                                  .timeout_seconds = 30};
    struct done d = watch(&t, &o, 0, add_pod_then_drop);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.status, 200);
    CHECK_EQ_INT(d.events, 1); /* from rv: only the new pod, no synthetic ADDED for p1 */
    CHECK_STR(d.first_name, "new-pod");
    cJSON *log = kt_last_request(&t, "GET");
    const cJSON *q = cJSON_GetObjectItem(log, "query");
    CHECK_STR(jpath(q, "watch", NULL), "1");
    CHECK_STR(jpath(q, "resourceVersion", NULL), rv);
    CHECK_STR(jpath(q, "allowWatchBookmarks", NULL), "true");
    CHECK_STR(jpath(q, "timeoutSeconds", NULL), "30");
    cJSON_Delete(log);

    /* from "0": synthetic ADDED events; the caller can stop the watch */
    struct lw_kube_list_opts o0 = {.resource_version = "0", .timeout_seconds = 30};
    d = watch(&t, &o0, 1, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.events, 1);

    /* the server's timeoutSeconds ends the stream silently */
    struct lw_kube_list_opts o1 = {.resource_version = rv, .timeout_seconds = 1};
    double t0 = lw_clock_monotonic();
    d = watch(&t, &o1, 0, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK(lw_clock_monotonic() - t0 >= 0.9);
    kt_teardown(&t);
}

TEST(test_watch_410_both_forms)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    char rv[64];
    kt_list_rv(&t, rv, sizeof(rv));
    struct lw_kube_list_opts o = {.resource_version = rv, .timeout_seconds = 30};
    /* form 1: HTTP 200, then an ERROR event carrying the Status */
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"watch\",\"resource\":\"pods\",\"code\":410,\"reason\":\"Expired\","
           "\"form\":\"event\"}");
    struct done d = watch(&t, &o, 0, NULL);
    CHECK_EQ_INT(d.err, LW_EHTTP);
    CHECK_EQ_INT(d.watch_error_event, 1);
    CHECK_EQ_INT(d.status, 410);
    CHECK_STR(d.reason, "Expired");
    CHECK(d.expired);
    CHECK(strstr(d.errmsg, "(Expired, 410)") != NULL);
    CHECK_EQ_INT(d.events, 0);
    cJSON_Delete(d.body);
    /* form 2: HTTP 410 before streaming */
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"watch\",\"resource\":\"pods\",\"code\":410,\"reason\":\"Gone\","
           "\"form\":\"http\"}");
    d = watch(&t, &o, 0, NULL);
    CHECK_EQ_INT(d.err, LW_EHTTP);
    CHECK_EQ_INT(d.watch_error_event, 0);
    CHECK_EQ_INT(d.status, 410);
    CHECK(d.expired);
    cJSON_Delete(d.body);
    /* the real thing: a compacted history */
    kt_seed_pod(&t, "default", "p2", "node-a", NULL);
    kt_ctl(&t, "POST", "compact", NULL);
    d = watch(&t, &o, 0, NULL);
    CHECK(d.expired);
    CHECK_EQ_INT(d.events, 0);
    cJSON_Delete(d.body);
    /* watches are not retried on 5xx (the informer owns that) */
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"watch\",\"resource\":\"pods\",\"code\":500}");
    d = watch(&t, &o, 0, NULL);
    CHECK_EQ_INT(d.status, 500);
    CHECK_EQ_INT(d.attempts, 1);
    cJSON_Delete(d.body);
    kt_teardown(&t);
}

TEST(test_watch_line_cap)
{
    struct lw_kube_opts ko = {.max_line = 200};
    struct kt t;
    if (!kt_setup(&t, &ko))
        return;
    kt_seed_pod(&t, "default", "p1", "node-a", NULL); /* its JSON is well over 200 bytes */
    struct lw_kube_list_opts o = {.resource_version = "0", .timeout_seconds = 30};
    struct done d = watch(&t, &o, 0, NULL);
    CHECK_EQ_INT(d.err, LW_ETOOBIG);
    CHECK(strstr(d.errmsg, "200-byte cap") != NULL);
    CHECK_EQ_INT(d.events, 0);
    kt_teardown(&t);
}

/* The same client over TLS (HTTP/1.1, the server's own CA): a request, a
 * watch with events, and a wrong CA that must fail, never fall back. */
TEST(test_tls)
{
    struct kt t;
    kt_use_tls = 1;
    int ok = kt_setup(&t, NULL);
    kt_use_tls = 0;
    if (!ok)
        return;
    CHECK(strncmp(t.url, "https://", 8) == 0);
    kt_seed_pod(&t, "default", "p1", "node-a", NULL);
    struct done d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, NULL);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_STR(jpath(d.body, "metadata", "name"), "p1");
    cJSON_Delete(d.body);
    char rv[64];
    kt_list_rv(&t, rv, sizeof(rv));
    struct lw_kube_list_opts o = {.resource_version = rv, .timeout_seconds = 30};
    d = watch(&t, &o, 0, add_pod_then_drop);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT(d.events, 1);
    CHECK_STR(d.first_name, "new-pod");
    /* verification stays on: a CA that did not sign the server's certificate fails */
    char bad[160];
    snprintf(bad, sizeof(bad), "%s/tls/client.crt", t.dir);
    snprintf(t.prov.ca, sizeof(t.prov.ca), "%s", bad);
    struct lw_kube_req_opts ro = {.no_retry = 1};
    d = req(&t, LW_KUBE_GET, "/api/v1/namespaces/default/pods/p1", NULL, &ro);
    CHECK_EQ_INT(d.err, LW_ENET);
    CHECK(strstr(d.errmsg, "SSL") || strstr(d.errmsg, "certificate"));
    if (d.err == LW_ENET)
        fprintf(stderr, "  (wrong CA: %s)\n", d.errmsg);
    kt_teardown(&t);
}

TEST_LIST(T(test_tls), T(test_status_errors), T(test_crud_and_patch_types), T(test_retry_429_retry_after),
          T(test_retry_5xx), T(test_unauthorized_refresh), T(test_rate_limiter),
          T(test_body_cap_and_timeout), T(test_watch_stream), T(test_watch_410_both_forms),
          T(test_watch_line_cap), T(test_verb_and_resource), T(test_sibling_and_observer));
TEST_MAIN()
