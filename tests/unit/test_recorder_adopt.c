/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_recorder_adopt.c: a leader change without duplicate Events (issue 4
 * point 2; docs/events.md "Adoption"). Recorder A writes Events to the
 * project's test API server and dies (freed, nothing released); recorder B
 * lists and adopts them, then records the same findings: they must update
 * the existing Events' series, never create a second Event for the same pod
 * + reason + class; an OOM kill already post-mortemed by A is known to B (no
 * second post-mortem), a third recorder C after B still finds one. Also:
 * parsing both Event forms, the class annotation, the legacy core/v1 form
 * patched through core/v1, paging with limit/continue, a server refusing
 * the field selector, the keep filter, idle Events not adopted, and the
 * controller's first-sight rule for a kill that happened while nobody led.
 */
#include "controller/controller.h"
#include "harness.h"
#include "kube_test_server.h"
#include "recorder/recorder.h"
#include "recorder_test_util.h"

#include <time.h>

/* Event objects (core/v1 view) about pod with reason (NULL = any). */
static int count_events(struct kt *t, const char *pod, const char *reason, int *series)
{
    char path[256];
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%%3D%s", pod);
    cJSON *ev = get_json(t, path), *it;
    int n = 0;
    if (series)
        *series = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(ev, "items"))
    {
        if (reason && strcmp(js(it, "reason", NULL), reason) != 0)
            continue;
        n++;
        if (series) {
            int c = jnum(it, "series", "count");
            if (c < 0)
                c = jnum(it, "count", NULL);
            if (c < 1)
                c = 1;
            if (c > *series)
                *series = c;
        }
    }
    cJSON_Delete(ev);
    return n;
}

struct adone {
    int calls, err;
    size_t adopted, listed;
    int keep_calls;
    const char *refuse_uid;
};

static void on_adopted(void *ud, int err, size_t adopted, size_t listed, const char *msg)
{
    struct adone *d = ud;
    (void)msg;
    d->calls++;
    d->err = err;
    d->adopted = adopted;
    d->listed = listed;
}

static bool keep_uid(void *ud, const char *uid)
{
    struct adone *d = ud;
    d->keep_calls++;
    return !d->refuse_uid || strcmp(uid, d->refuse_uid) != 0;
}

/* Adopt into r (page size page, 0 = default); returns how many were adopted. */
static size_t adopt(struct kt *t, struct lw_recorder *r, size_t page, struct adone *d)
{
    struct lw_rec_adopt_opts o;
    memset(&o, 0, sizeof(o));
    o.page = page;
    o.keep = keep_uid;
    o.done = on_adopted;
    o.ud = d;
    struct lw_rec_adopter *h = NULL;
    struct lw_errbuf eb;
    d->calls = 0;
    CHECK_EQ_INT(lw_recorder_adopt_start(r, t->kube, &o, &h, &eb), LW_OK);
    CHECK(h != NULL);
    for (int i = 0; i < 400 && d->calls == 0; i++)
        lw_loop_run_once(t->loop, 0.05);
    CHECK_EQ_INT(d->calls, 1);
    CHECK(h == NULL); /* cleared when done */
    return d->adopted;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- pure ----------------------------------------------------------------------------- */

TEST(parse_both_forms)
{
    struct lw_event_spec s;
    memset(&s, 0, sizeof(s));
    s.pod = (struct lw_pod_ref){"default", "leaky-1", "uid-1"};
    s.reason = LW_REASON_GOROUTINE_LEAK;
    s.note = "goroutines grow";
    s.instance = "leakwatch-a";
    s.t = 1764185400.5;
    s.series_count = 3;
    s.series_last = 1764185460.25;
    s.class_hash = lw_rec_class_hash("net/http.(*persistConn).readLoop");
    CHECK(s.class_hash == lw_rec_class_hash("net/http.(*persistConn).readLoop"));
    CHECK(lw_rec_class_hash(NULL) == lw_rec_class_hash(""));
    CHECK(lw_rec_class_hash("a") != lw_rec_class_hash("b"));
    for (int core = 0; core <= 1; core++) {
        cJSON *e = lw_rec_event_build(&s, core, NULL);
        CHECK(e != NULL);
        char want[24];
        snprintf(want, sizeof(want), "%016llx", (unsigned long long)s.class_hash);
        CHECK_STR(js(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "metadata"), "annotations"),
                     LW_REC_ANN_CLASS, NULL),
                  want);
        struct lw_rec_adopted a;
        CHECK_EQ_INT(lw_rec_adopted_parse(e, &a), LW_OK);
        CHECK_STR(a.ns, "default");
        CHECK_STR(a.pod, "leaky-1");
        CHECK_STR(a.uid, "uid-1");
        CHECK_EQ_INT(a.reason, LW_REASON_GOROUTINE_LEAK);
        CHECK(a.class_hash == s.class_hash);
        CHECK_EQ_INT(a.core, core);
        CHECK_EQ_INT(a.count, 3);
        /* core/v1 timestamps have whole seconds */
        CHECK_NEAR(a.first, core ? 1764185400.0 : 1764185400.5, 1e-3);
        CHECK_NEAR(a.last, core ? 1764185460.0 : 1764185460.25, 1e-3);
        CHECK(strncmp(a.name, "leaky-1.", 8) == 0);

        /* not ours, not a pod, no class for a classed reason, unknown reason */
        cJSON *x = cJSON_Duplicate(e, 1);
        cJSON_ReplaceItemInObject(x, core ? "reportingComponent" : "reportingController",
                                  cJSON_CreateString("kubelet"));
        if (core)
            cJSON_DeleteItemFromObject(x, "source");
        CHECK_EQ_INT(lw_rec_adopted_parse(x, &a), LW_EINVAL);
        cJSON_Delete(x);
        x = cJSON_Duplicate(e, 1);
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(x, core ? "involvedObject" : "regarding"),
                                  "kind", cJSON_CreateString("Node"));
        CHECK_EQ_INT(lw_rec_adopted_parse(x, &a), LW_EINVAL);
        cJSON_Delete(x);
        x = cJSON_Duplicate(e, 1);
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(x, "metadata"), "annotations");
        CHECK_EQ_INT(lw_rec_adopted_parse(x, &a), LW_EINVAL);
        cJSON_ReplaceItemInObject(x, "reason", cJSON_CreateString("OOMKillPredicted"));
        CHECK_EQ_INT(lw_rec_adopted_parse(x, &a), LW_OK); /* no class: "" */
        CHECK(a.class_hash == lw_rec_class_hash(""));
        cJSON_ReplaceItemInObject(x, "reason", cJSON_CreateString("BackOff"));
        CHECK_EQ_INT(lw_rec_adopted_parse(x, &a), LW_EINVAL);
        cJSON_Delete(x);
        cJSON_Delete(e);
    }
    struct lw_rec_adopted a;
    CHECK_EQ_INT(lw_rec_adopted_parse(NULL, &a), LW_EINVAL);
    cJSON *bad = cJSON_Parse("{\"reportingController\":\"leakwatch.io/controller\",\"reason\":"
                             "\"ScrapeFailed\",\"regarding\":{\"kind\":\"Pod\",\"namespace\":\"d\","
                             "\"name\":\"p\",\"uid\":\"u\"},\"metadata\":{\"name\":\"p.1\"},"
                             "\"eventTime\":\"yesterday\"}");
    CHECK_EQ_INT(lw_rec_adopted_parse(bad, &a), LW_EINVAL); /* no usable time */
    cJSON_Delete(bad);
}

TEST(first_sight_rule)
{
    struct lw_target t;
    memset(&t, 0, sizeof(t));
    t.has_status = 1;
    t.restart_count = 1;
    t.has_last_terminated = 1;
    snprintf(t.last_reason, sizeof(t.last_reason), "OOMKilled");
    snprintf(t.last_finished_at, sizeof(t.last_finished_at), "2026-11-26T20:00:00Z");
    double k0 = 0, killed = -1;
    CHECK_EQ_INT(lw_ctl_parse_time("2026-11-26T20:00:00Z", &k0), LW_OK);
    double w_adopted = lw_ctl_first_sight_window(true, true, 15, 2, 5);
    double w_blind = lw_ctl_first_sight_window(false, true, 15, 2, 5);
    CHECK_NEAR(w_adopted, 600, 1e-9);
    CHECK_NEAR(lw_ctl_first_sight_window(true, false, 15, 2, 300), 1200, 1e-9);
    CHECK_NEAR(w_blind, 15 + 4.4 * 2 + 2 * 5, 1e-9); /* 33.8 s: nobody can have led that long */
    CHECK_NEAR(lw_ctl_first_sight_window(false, false, 15, 2, 5), 10, 1e-9);
    /* 20 s after the kill (a takeover): post-mortem either way */
    CHECK(lw_ctl_first_sight_oom(&t, k0 + 20, w_blind, &killed));
    CHECK_NEAR(killed, k0, 1e-9);
    /* 5 min after: only when the adopted Events tell whether it was written */
    CHECK(!lw_ctl_first_sight_oom(&t, k0 + 300, w_blind, &killed));
    CHECK_NEAR(killed, 0, 1e-9);
    CHECK(lw_ctl_first_sight_oom(&t, k0 + 300, w_adopted, &killed));
    CHECK(!lw_ctl_first_sight_oom(&t, k0 + 3600, w_adopted, &killed));
    /* a node clock a little ahead is fine, a time far ahead is not believed */
    CHECK(lw_ctl_first_sight_oom(&t, k0 - 30, w_adopted, &killed));
    CHECK(!lw_ctl_first_sight_oom(&t, k0 - 600, w_adopted, &killed));
    /* not an OOM kill, no time: nothing */
    snprintf(t.last_reason, sizeof(t.last_reason), "Error");
    CHECK(!lw_ctl_first_sight_oom(&t, k0 + 20, w_adopted, &killed));
    snprintf(t.last_reason, sizeof(t.last_reason), "OOMKilled");
    t.last_finished_at[0] = '\0';
    CHECK(!lw_ctl_first_sight_oom(&t, k0 + 20, w_adopted, &killed));
}

/* ---- against the test API server ------------------------------------------------------------ */

TEST(leader_change_updates_series_not_duplicates)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64], uid2[64];
    seed(&t, "leaky", uid, sizeof(uid));
    seed(&t, "killed", uid2, sizeof(uid2));
    struct lw_pod_ref pod = {"default", "leaky", uid}, pod2 = {"default", "killed", uid2};
    double t0 = now_s() - 900;
    const char *top = "net/http.(*persistConn).readLoop";

    /* ---- A leads: scrape failures, a leak with a repeat, an OOM forecast; a kill on pod2 */
    struct lw_recorder_opts oa = {.instance_id = "ctl-a", .scrape_failed_every = 1};
    struct lw_recorder *a = lw_recorder_new(t.kube, &oa, NULL);
    for (int i = 0; i < 4; i++)
        lw_recorder_scrape_failed(a, &pod, "connection refused", t0 + 5 * i);
    CHECK_EQ_INT(lw_recorder_event(a, &pod, LW_REASON_GOROUTINE_LEAK, top, "leak", t0 + 30), LW_REC_CREATED);
    drain(&t, a);
    CHECK_EQ_INT(lw_recorder_event(a, &pod, LW_REASON_GOROUTINE_LEAK, top, "leak", t0 + 60), LW_REC_SERIES_SENT);
    CHECK_EQ_INT(lw_recorder_event(a, &pod, LW_REASON_OOM_PREDICTED, NULL, "OOM kill predicted", t0 + 90),
                 LW_REC_CREATED);
    struct lw_postmortem pm = {.container = "app", .killed_at = t0 + 100, .goroutines = -1};
    lw_recorder_oomkilled(a, &pod2, "containerd://k1", &pm, t0 + 100);
    drain(&t, a);
    CHECK(lw_recorder_has_event(a, uid2, LW_REASON_OOMKILLED, "containerd://k1"));
    int series = 0;
    CHECK_EQ_INT(count_events(&t, "leaky", "ScrapeFailed", &series), 1);
    CHECK_EQ_INT(series, 2);
    CHECK_EQ_INT(count_events(&t, "leaky", "GoroutineLeak", &series), 1);
    CHECK_EQ_INT(series, 2);
    CHECK_EQ_INT(count_events(&t, "leaky", NULL, NULL), 3);
    CHECK_EQ_INT(count_events(&t, "killed", "OOMKilled", NULL), 1);
    lw_recorder_free(a); /* A dies: nothing released, its memory is gone */

    /* ---- B takes over: adopts the four Events (the keep filter sees each) */
    struct lw_recorder_opts ob = {.instance_id = "ctl-b", .scrape_failed_every = 1};
    struct lw_recorder *b = lw_recorder_new(t.kube, &ob, NULL);
    struct adone d = {0};
    CHECK_EQ_INT((int)adopt(&t, b, 0, &d), 4);
    CHECK_EQ_INT(d.err, LW_OK);
    CHECK_EQ_INT((int)d.listed, 4);
    CHECK_EQ_INT(d.keep_calls, 4);
    /* one list request, with the server-side selector */
    cJSON *req = kt_last_request(&t, "GET");
    CHECK_STR(js(req, "path", NULL), "/api/v1/events");
    CHECK_STR(js(req, "query", "fieldSelector"), "reportingComponent=leakwatch.io/controller");
    cJSON_Delete(req);
    /* what B now knows without having written anything */
    CHECK(lw_recorder_has_event(b, uid, LW_REASON_GOROUTINE_LEAK, top));
    CHECK(!lw_recorder_has_event(b, uid, LW_REASON_GOROUTINE_LEAK, "another.stack"));
    CHECK(lw_recorder_has_event(b, uid2, LW_REASON_OOMKILLED, "containerd://k1"));
    CHECK(!lw_recorder_has_event(b, uid2, LW_REASON_OOMKILLED, "containerd://k2"));
    CHECK_NEAR(lw_recorder_predicted_since(b, uid), t0 + 90, 1e-3);
    CHECK_EQ_INT(lw_recorder_status(b, uid), LW_STATUS_OOM_PREDICTED);
    CHECK_EQ_INT(lw_recorder_status(b, uid2), LW_STATUS_OOMKILLED);

    /* B finds the same things: the first repeat of each is a series update at once */
    int posts = kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events");
    for (int i = 0; i < 3; i++)
        lw_recorder_scrape_failed(b, &pod, "connection refused", t0 + 200 + 5 * i);
    CHECK_EQ_INT(lw_recorder_event(b, &pod, LW_REASON_GOROUTINE_LEAK, top, "leak", t0 + 230),
                 LW_REC_SERIES_SENT);
    CHECK_EQ_INT(lw_recorder_event(b, &pod, LW_REASON_OOM_PREDICTED, NULL, "OOM kill predicted", t0 + 230),
                 LW_REC_SERIES_SENT);
    drain(&t, b);
    /* the next repeat waits for series_every, as for a recorder's own Events */
    CHECK_EQ_INT(lw_recorder_event(b, &pod, LW_REASON_GOROUTINE_LEAK, top, "leak", t0 + 260),
                 LW_REC_SERIES_DEFERRED);
    drain(&t, b);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events"), posts);
    CHECK_EQ_INT(count_events(&t, "leaky", "ScrapeFailed", &series), 1);
    CHECK_EQ_INT(series, 3);
    CHECK_EQ_INT(count_events(&t, "leaky", "GoroutineLeak", &series), 1);
    CHECK_EQ_INT(series, 3);
    CHECK_EQ_INT(count_events(&t, "leaky", "OOMKillPredicted", &series), 1);
    CHECK_EQ_INT(series, 2);
    /* the kill A post-mortemed: B knows (the controller writes no second one) */
    CHECK_EQ_INT(count_events(&t, "killed", "OOMKilled", &series), 1);
    CHECK_EQ_INT(series, 1);
    /* a new kill of the same pod is a new post-mortem */
    CHECK(!lw_recorder_has_event(b, uid2, LW_REASON_OOMKILLED, "containerd://k2"));
    lw_recorder_oomkilled(b, &pod2, "containerd://k2", NULL, t0 + 300);
    drain(&t, b);
    CHECK_EQ_INT(count_events(&t, "killed", "OOMKilled", NULL), 2);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(b, &st);
    CHECK_EQ_INT((int)st.created, 1);
    CHECK_EQ_INT((int)st.failed, 0);
    lw_recorder_free(b);

    /* ---- C after B (SIGTERM hand-over): both kills known, no duplicate; a
     * page size of 2 lists the 5 Events in 3 pages; the keep filter drops pod2 */
    struct lw_recorder *c = lw_recorder_new(t.kube, &ob, NULL);
    struct adone dc = {0};
    dc.refuse_uid = uid2;
    int lists = kt_count_requests(&t, "GET", "/api/v1/events");
    CHECK_EQ_INT((int)adopt(&t, c, 2, &dc), 3);
    CHECK_EQ_INT((int)dc.listed, 5);
    CHECK_EQ_INT(kt_count_requests(&t, "GET", "/api/v1/events") - lists, 3);
    CHECK(!lw_recorder_has_event(c, uid2, LW_REASON_OOMKILLED, "containerd://k1"));
    CHECK(lw_recorder_has_event(c, uid, LW_REASON_SCRAPE_FAILED, NULL));
    lw_recorder_free(c);
    c = lw_recorder_new(t.kube, &ob, NULL);
    dc.refuse_uid = NULL;
    CHECK_EQ_INT((int)adopt(&t, c, 0, &dc), 5);
    CHECK(lw_recorder_has_event(c, uid2, LW_REASON_OOMKILLED, "containerd://k1"));
    CHECK(lw_recorder_has_event(c, uid2, LW_REASON_OOMKILLED, "containerd://k2"));
    CHECK_EQ_INT(lw_recorder_event(c, &pod, LW_REASON_OOM_PREDICTED, NULL, "OOM kill predicted", t0 + 400),
                 LW_REC_SERIES_SENT);
    drain(&t, c);
    CHECK_EQ_INT(count_events(&t, "leaky", "OOMKillPredicted", &series), 1);
    CHECK_EQ_INT(series, 3);
    CHECK_EQ_INT(count_events(&t, "killed", "OOMKilled", NULL), 2);
    lw_recorder_free(c);
    kt_teardown(&t);
}

TEST(legacy_form_selector_refused_and_idle)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "old", uid, sizeof(uid));
    struct lw_pod_ref pod = {"default", "old", uid};
    double t0 = now_s() - 300;
    /* A wrote through core/v1 (events.k8s.io not served) */
    kt_ctl(&t, "POST", "config", "{\"eventsAPI\":false}");
    struct lw_recorder_opts oa = {.instance_id = "ctl-a"};
    struct lw_recorder *a = lw_recorder_new(t.kube, &oa, NULL);
    CHECK_EQ_INT(lw_recorder_event(a, &pod, LW_REASON_MEMORY_LEAK, "leaf", "memory grows", t0),
                 LW_REC_CREATED);
    drain(&t, a);
    lw_recorder_free(a);
    kt_ctl(&t, "POST", "config", "{\"eventsAPI\":true}");
    /* B: the server refuses the field selector once (400): B lists all and filters */
    kt_ctl(&t, "POST", "faults",
           "[{\"verb\":\"list\",\"resource\":\"events\",\"code\":400,"
           "\"message\":\"field label not supported: reportingComponent\"}]");
    struct lw_recorder *b = lw_recorder_new(t.kube, NULL, NULL);
    struct adone d = {0};
    CHECK_EQ_INT((int)adopt(&t, b, 0, &d), 1);
    CHECK_EQ_INT(d.err, LW_OK);
    cJSON *req = kt_last_request(&t, "GET");
    CHECK_STR(js(req, "path", NULL), "/api/v1/events");
    CHECK_STR(js(req, "query", "fieldSelector"), "");
    cJSON_Delete(req);
    /* the legacy Event is continued in its own form: count/lastTimestamp through core/v1 */
    CHECK_EQ_INT(lw_recorder_event(b, &pod, LW_REASON_MEMORY_LEAK, "leaf", "memory still grows", t0 + 60),
                 LW_REC_SERIES_SENT);
    drain(&t, b);
    req = kt_last_request(&t, "PATCH");
    CHECK(strncmp(js(req, "path", NULL), "/api/v1/namespaces/default/events/", 34) == 0);
    CHECK_EQ_INT(jnum(cJSON_GetObjectItem(req, "body"), "count", NULL), 2);
    cJSON_Delete(req);
    int series = 0;
    CHECK_EQ_INT(count_events(&t, "old", "MemoryLeak", &series), 1);
    CHECK_EQ_INT(series, 2);
    lw_recorder_free(b);

    /* an Event idle longer than series_idle is not adopted (the next one is new) */
    struct lw_recorder_opts oc = {.series_idle = 30};
    struct lw_recorder *c = lw_recorder_new(t.kube, &oc, NULL);
    CHECK_EQ_INT((int)adopt(&t, c, 0, &d), 0);
    CHECK_EQ_INT((int)d.listed, 1);
    lw_recorder_free(c);

    /* listing fails (403: no list permission): done reports it, nothing adopted */
    kt_ctl(&t, "POST", "faults", "[{\"verb\":\"list\",\"resource\":\"events\",\"code\":403}]");
    c = lw_recorder_new(t.kube, NULL, NULL);
    CHECK_EQ_INT((int)adopt(&t, c, 0, &d), 0);
    CHECK(d.err != LW_OK);
    lw_recorder_free(c);

    /* cancel: no callback, nothing leaks */
    c = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_rec_adopt_opts o;
    memset(&o, 0, sizeof(o));
    o.done = on_adopted;
    o.ud = &d;
    d.calls = 0;
    struct lw_rec_adopter *h = NULL;
    CHECK_EQ_INT(lw_recorder_adopt_start(c, t.kube, &o, &h, NULL), LW_OK);
    lw_rec_adopter_cancel(h);
    for (int i = 0; i < 10; i++)
        lw_loop_run_once(t.loop, 0.02);
    CHECK_EQ_INT(d.calls, 0);
    lw_recorder_free(c);
    kt_teardown(&t);
}

TEST_LIST(T(parse_both_forms), T(first_sight_rule), T(leader_change_updates_series_not_duplicates),
          T(legacy_form_selector_refused_and_idle));
TEST_MAIN()
