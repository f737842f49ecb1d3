/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_recorder_e2e.c: pkg/recorder end to end through pkg/kube against the
 * project's test API server (strict Event validation, API doc §4/§5):
 * events.k8s.io/v1 creates accepted, a repeat becomes a series patch (then
 * bounded by series_every and flushed by tick), the per-pod token bucket,
 * ScrapeFailed limited, the fallback to core/v1 when the events API is
 * switched off through the control API (count/lastTimestamp repeats), an
 * expired event re-created with its series, the whole verdict -> event path,
 * and the annotation merge patch (shows on the pod, unchanged -> no request,
 * opt-out removes ours and keeps others').
 *
 * `test_recorder_e2e emit URL CA TOKENFILE NS POD UID` is a helper mode for
 * tests/cli/test_recorder_kubectl.sh: it sends one OOMKillPredicted event
 * and one repeat (a series) through the recorder over TLS and exits 0.
 */
#include "harness.h"
#include "kube_test_server.h"
#include "recorder/recorder.h"
#include "recorder_test_util.h"

/* All events (core/v1 view) about pod name. */
static cJSON *events_of(struct kt *t, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path),
             "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%%3D%s", name);
    return get_json(t, path);
}

TEST(create_repeat_series_and_limits)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "leaky-1", uid, sizeof(uid));
    struct lw_recorder_opts o = {.instance_id = "test-e2e", .bucket_burst = 4};
    struct lw_recorder *r = lw_recorder_new(t.kube, &o, NULL);
    struct lw_pod_ref pod = {"default", "leaky-1", uid};
    double t0 = 1764185400.25;
    const char *note = "goroutines 1,204 -> 20,311 in 6h (+3,180/h); top: net/http.(*persistConn).readLoop "
                       "créé par dialConn — 日本語";
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "readLoop", note, t0), LW_REC_CREATED);
    drain(&t, r);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.failed, 0);
    CHECK_EQ_INT(st.core_mode, 0);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events"), 1);
    cJSON *ev = events_of(&t, "leaky-1");
    cJSON *items = cJSON_GetObjectItem(ev, "items");
    CHECK_EQ_INT(cJSON_GetArraySize(items), 1);
    cJSON *e0 = cJSON_GetArrayItem(items, 0);
    CHECK_STR(js(e0, "reason", NULL), "GoroutineLeak");
    CHECK_STR(js(e0, "message", NULL), note);
    CHECK_STR(js(e0, "involvedObject", "uid"), uid);
    CHECK_STR(js(e0, "reportingComponent", NULL), "leakwatch.io/controller");
    CHECK_STR(js(e0, "reportingInstance", NULL), "leakwatch-test-e2e");
    CHECK_STR(js(e0, "eventTime", NULL), "2025-11-26T19:30:00.250000Z");
    char evname[300];
    snprintf(evname, sizeof(evname), "%s", js(e0, "metadata", "name"));
    CHECK(strncmp(evname, "leaky-1.", 8) == 0);
    cJSON_Delete(ev);

    /* the first repeat is a series patch at once */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "readLoop", note, t0 + 30),
                 LW_REC_SERIES_SENT);
    drain(&t, r);
    cJSON *req = kt_last_request(&t, "PATCH");
    CHECK_STR(js(req, "headers", "Content-Type"), "application/strategic-merge-patch+json");
    CHECK_EQ_INT(jnum(cJSON_GetObjectItem(req, "body"), "series", "count"), 2);
    CHECK_EQ_INT((int)jnum(req, "status", NULL), 200);
    cJSON_Delete(req);
    char path[512];
    snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/default/events/%s", evname);
    cJSON *one = get_json(&t, path);
    CHECK_EQ_INT(jnum(one, "series", "count"), 2);
    CHECK_STR(js(one, "series", "lastObservedTime"), "2025-11-26T19:30:30.250000Z");
    cJSON_Delete(one);
    /* later repeats within series_every only count in memory ... */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "readLoop", note, t0 + 60),
                 LW_REC_SERIES_DEFERRED);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "readLoop", note, t0 + 90),
                 LW_REC_SERIES_DEFERRED);
    lw_recorder_tick(r, t0 + 120);
    CHECK_EQ_INT((int)lw_recorder_pending(r), 0);
    /* ... and are written by tick once it has passed */
    lw_recorder_tick(r, t0 + 30 + 301);
    drain(&t, r);
    one = get_json(&t, path);
    CHECK_EQ_INT(jnum(one, "series", "count"), 4);
    CHECK_STR(js(one, "series", "lastObservedTime"), "2025-11-26T19:31:30.250000Z");
    cJSON_Delete(one);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events"), 1);

    /* another top stack is another event */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "other", "another stack", t0 + 340),
                 LW_REC_CREATED);
    /* the bucket (burst 4, one token per 300 s): 4 - 4 writes + 341/300 refilled = 1.14 */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_MEMORY_LEAK, "", "memory", t0 + 341),
                 LW_REC_CREATED);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_MEMORY_LEAK, "b", "memory b", t0 + 341),
                 LW_REC_RATE_LIMITED);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_MEMORY_LEAK, "b", "memory b", t0 + 341 + 300),
                 LW_REC_CREATED);
    drain(&t, r);
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.failed, 0);
    CHECK_EQ_INT((int)st.rate_limited, 1);
    /* the same outcomes per reason */
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_GOROUTINE_LEAK][LW_REC_RES_CREATED], 2);
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_GOROUTINE_LEAK][LW_REC_RES_SERIES_UPDATED], 2);
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_MEMORY_LEAK][LW_REC_RES_CREATED], 2);
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_MEMORY_LEAK][LW_REC_RES_RATE_LIMITED], 1);
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_GOROUTINE_LEAK][LW_REC_RES_RATE_LIMITED], 0);
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_OOM_PREDICTED][LW_REC_RES_CREATED], 0);
    CHECK_STR(lw_rec_result_name(LW_REC_RES_SERIES_UPDATED), "series_updated");
    ev = events_of(&t, "leaky-1");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "items")), 4);
    cJSON_Delete(ev);

    /* an expired event (TTL): the next series write re-creates it with its series */
    snprintf(path, sizeof(path), "objects/events/default/%s", evname);
    kt_ctl(&t, "DELETE", path, NULL);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "readLoop", note, t0 + 1000),
                 LW_REC_SERIES_SENT);
    drain(&t, r);
    ev = events_of(&t, "leaky-1");
    int found = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(ev, "items"))
    {
        if (strcmp(js(it, "reason", NULL), "GoroutineLeak") == 0 && strcmp(js(it, "message", NULL), note) == 0) {
            found++;
            CHECK_EQ_INT(jnum(it, "series", "count"), 5);
            CHECK(strcmp(js(it, "metadata", "name"), evname) != 0);
        }
    }
    CHECK_EQ_INT(found, 1);
    cJSON_Delete(ev);
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.failed, 0);

    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(repeat_while_creating)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "fast-1", uid, sizeof(uid));
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "fast-1", uid};
    double t0 = 1764185400;
    /* three occurrences before the create's answer: the first repeat is written when it lands */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_MEMORY_LEAK, NULL, "m", t0), LW_REC_CREATED);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_MEMORY_LEAK, NULL, "m", t0 + 1), LW_REC_SERIES_DEFERRED);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_MEMORY_LEAK, NULL, "m", t0 + 2), LW_REC_SERIES_DEFERRED);
    drain(&t, r);
    cJSON *ev = events_of(&t, "fast-1");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "items")), 1);
    CHECK_EQ_INT(jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "items"), 0), "series", "count"), 3);
    cJSON_Delete(ev);
    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(scrape_failed_limited)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "flaky-1", uid, sizeof(uid));
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "flaky-1", uid};
    double t0 = 1764185400;
    for (int i = 0; i < 40; i++) { /* every 30 s for 20 minutes */
        lw_recorder_scrape_failed(r, &pod, "GET http://10.0.0.7:6060/debug/pprof/goroutine: connection refused",
                                  t0 + 30.0 * i);
        drain(&t, r);
    }
    CHECK_EQ_INT(lw_recorder_status(r, uid), LW_STATUS_SCRAPE_FAILING);
    drain(&t, r);
    cJSON *ev = events_of(&t, "flaky-1");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "items")), 1);
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "items"), 0);
    CHECK_STR(js(e0, "reason", NULL), "ScrapeFailed");
    CHECK_STR(js(e0, "type", NULL), "Warning");
    /* created at the 3rd failure (t0+60), then one series write per 10 minutes: at t0+660 and t0+1260 > last */
    int writes = kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events");
    char path[512];
    snprintf(path, sizeof(path), "/apis/events.k8s.io/v1/namespaces/default/events/%s", js(e0, "metadata", "name"));
    writes += kt_count_requests(&t, "PATCH", path);
    CHECK_EQ_INT(writes, 2);
    CHECK_EQ_INT(jnum(e0, "series", "count"), 21); /* failures 3..23 (t0+60..t0+660) */
    cJSON_Delete(ev);
    lw_recorder_scrape_ok(r, &pod);
    CHECK_EQ_INT(lw_recorder_status(r, uid), LW_STATUS_OK);
    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(fallback_to_core_v1)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    kt_ctl(&t, "POST", "config", "{\"eventsAPI\":false}");
    char uid[64];
    seed(&t, "old-1", uid, sizeof(uid));
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "old-1", uid};
    double t0 = 1764185400;
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_OOM_PREDICTED, NULL, "OOM kill predicted in ~2h", t0),
                 LW_REC_CREATED);
    drain(&t, r);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT(st.core_mode, 1);
    CHECK_EQ_INT((int)st.failed, 0);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events"), 1);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/api/v1/namespaces/default/events"), 1);
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_OOM_PREDICTED, NULL, "OOM kill predicted in ~1h", t0 + 60),
                 LW_REC_SERIES_SENT);
    drain(&t, r);
    cJSON *ev = events_of(&t, "old-1");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(ev, "items")), 1);
    cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(ev, "items"), 0);
    CHECK_EQ_INT(jnum(e0, "count", NULL), 2);
    CHECK_STR(js(e0, "message", NULL), "OOM kill predicted in ~1h");
    CHECK_STR(js(e0, "lastTimestamp", NULL), "2025-11-26T19:31:00Z");
    CHECK_STR(js(e0, "involvedObject", "uid"), uid);
    CHECK_STR(js(e0, "reason", NULL), "OOMKillPredicted");
    cJSON_Delete(ev);
    /* later events go straight to core/v1 */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_LEAK_RESOLVED, NULL, "leak resolved", t0 + 900),
                 LW_REC_CREATED);
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/apis/events.k8s.io/v1/namespaces/default/events"), 1);
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/api/v1/namespaces/default/events"), 2);
    /* a missing namespace is not mistaken for a missing API */
    lw_recorder_free(r);
    kt_ctl(&t, "POST", "config", "{\"eventsAPI\":true}");
    r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref ghost = {"nowhere", "ghost", "0000-1111"};
    CHECK_EQ_INT(lw_recorder_event(r, &ghost, LW_REASON_MEMORY_LEAK, NULL, "x", t0), LW_REC_CREATED);
    drain(&t, r);
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT(st.core_mode, 0);
    CHECK_EQ_INT((int)st.failed, 1);
    CHECK_EQ_INT((int)st.by_reason[LW_REASON_MEMORY_LEAK][LW_REC_RES_FAILED], 1);
    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(verdicts_drive_events)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "leaky-2", uid, sizeof(uid));
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "leaky-2", uid};
    struct lw_verdict v;
    memset(&v, 0, sizeof(v));
    const char *frames[] = {"runtime.gopark", "net/http.(*persistConn).readLoop", "runtime.goexit"};
    struct lw_top_stack top = {.kind = "goroutine", .frames = frames, .nframes = 3,
                               .leaf = frames[0], .count = 20311, .first_count = 1204};
    double t0 = 1764185400;
    v.t = t0;
    v.memory.limit_bytes = 64 << 20;
    v.verdict = LW_VERDICT_NO_LEAK;
    snprintf(v.summary, sizeof(v.summary), "goroutines 12 -> 12 in 1h, no leak");
    CHECK_EQ_INT(lw_recorder_verdict(r, &pod, &v), LW_STATUS_OK);
    v.verdict = LW_VERDICT_LEAK;
    v.kinds = LW_LEAK_GOROUTINE;
    v.top = &top;
    v.ntop = 1;
    v.goroutines.present = true;
    v.goroutines.last = 20311;
    snprintf(v.summary, sizeof(v.summary), "goroutines 1,204 -> 20,311 in 6h (+3,180/h); top: "
                                           "net/http.(*persistConn).readLoop (+19,100)");
    for (int i = 0; i < 5; i++) { /* the same state scrape after scrape */
        v.t = t0 + 30 * (i + 1);
        CHECK_EQ_INT(lw_recorder_verdict(r, &pod, &v), LW_STATUS_LEAKING);
        drain(&t, r);
    }
    v.oom.predicted = true;
    v.oom.seconds_to_oom = 7200;
    v.oom.at = t0 + 7400;
    v.oom.confidence = 0.9;
    for (int i = 0; i < 5; i++) {
        v.t = t0 + 200 + 30 * i;
        CHECK_EQ_INT(lw_recorder_verdict(r, &pod, &v), LW_STATUS_OOM_PREDICTED);
        drain(&t, r);
    }
    drain(&t, r);
    struct lw_postmortem pm = {.container = "app", .limit_bytes = 64 << 20, .killed_at = t0 + 7000, .goroutines = -1};
    lw_recorder_oomkilled(r, &pod, "containerd://abc", &pm, t0 + 7010);
    CHECK_EQ_INT(lw_recorder_status(r, uid), LW_STATUS_OOMKILLED);
    drain(&t, r);
    cJSON *ev = events_of(&t, "leaky-2");
    int leak = 0, oom = 0, killed = 0, other = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(ev, "items"))
    {
        const char *reason = js(it, "reason", NULL);
        if (!strcmp(reason, "GoroutineLeak")) {
            leak++;
            CHECK_EQ_INT(jnum(it, "series", "count"), 2); /* 5 seen, the first repeat written at once */
        } else if (!strcmp(reason, "OOMKillPredicted")) {
            oom++;
            CHECK(strncmp(js(it, "message", NULL), "OOM kill predicted in ~2h", 25) == 0);
        } else if (!strcmp(reason, "OOMKilled")) {
            killed++;
            fprintf(stderr, "  post-mortem: %s\n", js(it, "message", NULL));
            CHECK(strstr(js(it, "message", NULL), "predicted 1h53m before (the kill came 7m before the forecast time)") != NULL);
            CHECK(strstr(js(it, "message", NULL), "top stack: net/http.(*persistConn).readLoop") != NULL);
            CHECK(strstr(js(it, "message", NULL), "20,311 goroutines") != NULL);
        } else {
            other++;
        }
    }
    CHECK_EQ_INT(leak, 1);
    CHECK_EQ_INT(oom, 1);
    CHECK_EQ_INT(killed, 1);
    CHECK_EQ_INT(other, 0);
    cJSON_Delete(ev);
    /* resolved after the restart */
    v.verdict = LW_VERDICT_NO_LEAK;
    v.t = t0 + 9000;
    CHECK_EQ_INT(lw_recorder_verdict(r, &pod, &v), LW_STATUS_OK); /* state was reset by the kill */
    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(annotations_on_the_pod)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "annot-1", uid, sizeof(uid));
    kt_ctl(&t, "PATCH", "pods/default/annot-1",
           "{\"metadata\":{\"annotations\":{\"leakwatch.io/scrape\":\"true\",\"team\":\"x\"}}}");
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "annot-1", uid};
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_OOM_PREDICTED;
    a.predicted_oom_at = 1764192600;
    snprintf(a.summary, sizeof(a.summary), "goroutines 1,204 -> 20,311 in 6h \"quoted\" — ünïcode");
    snprintf(a.top_stack, sizeof(a.top_stack), "net/http.(*persistConn).readLoop");
    cJSON *p = get_json(&t, "/api/v1/namespaces/default/pods/annot-1");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, 1764185400), 1);
    cJSON_Delete(p);
    drain(&t, r);
    cJSON *req = kt_last_request(&t, "PATCH");
    CHECK_STR(js(req, "headers", "Content-Type"), "application/merge-patch+json");
    CHECK_EQ_INT(jnum(req, "status", NULL), 200);
    cJSON_Delete(req);
    p = get_json(&t, "/api/v1/namespaces/default/pods/annot-1");
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    CHECK_STR(js(ann, LW_ANN_STATUS, NULL), "oom-predicted");
    CHECK_STR(js(ann, LW_ANN_SUMMARY, NULL), a.summary);
    CHECK_STR(js(ann, LW_ANN_OOM_AT, NULL), "2025-11-26T21:30:00Z");
    CHECK_STR(js(ann, LW_ANN_TOP_STACK, NULL), "net/http.(*persistConn).readLoop");
    CHECK_STR(js(ann, LW_ANN_UPDATED_AT, NULL), "2025-11-26T19:30:00Z");
    CHECK_STR(js(ann, "team", NULL), "x");
    /* unchanged: no request */
    int before = kt_count_requests(&t, "PATCH", "/api/v1/namespaces/default/pods/annot-1");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, 1764185430), 0);
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", "/api/v1/namespaces/default/pods/annot-1"), before);
    /* opt-out removes ours only */
    kt_ctl(&t, "PATCH", "pods/default/annot-1", "{\"metadata\":{\"annotations\":{\"leakwatch.io/scrape\":\"false\"}}}");
    cJSON_Delete(p);
    p = get_json(&t, "/api/v1/namespaces/default/pods/annot-1");
    CHECK_EQ_INT(lw_recorder_optout(r, &pod, p), 1);
    drain(&t, r);
    cJSON_Delete(p);
    p = get_json(&t, "/api/v1/namespaces/default/pods/annot-1");
    ann = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    for (size_t i = 0; i < 5; i++)
        CHECK(cJSON_GetObjectItem(ann, lw_rec_annotation_keys[i]) == NULL);
    CHECK_STR(js(ann, "team", NULL), "x");
    CHECK_STR(js(ann, "leakwatch.io/scrape", NULL), "false");
    CHECK_EQ_INT(lw_recorder_optout(r, &pod, p), 0);
    cJSON_Delete(p);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.failed, 0);
    CHECK_EQ_INT((int)st.annot_patches, 2);
    CHECK_EQ_INT((int)st.annot_unchanged, 1);
    lw_recorder_free(r);
    kt_teardown(&t);
}

/* The informer's copy of the pod lags behind our own patch: the same values
 * again right after sending them are not sent twice; a real change is; and
 * after the echo window a pod still missing them is written again. Then the
 * summary's numbers alone: at most every 5 minutes. */
TEST(annotations_echo_and_refresh)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "annot-2", uid, sizeof(uid));
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "annot-2", uid};
    const char *path = "/api/v1/namespaces/default/pods/annot-2";
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_LEAKING;
    snprintf(a.summary, sizeof(a.summary), "goroutines 10 -> 400 in 20m (+1,170/h)");
    snprintf(a.top_stack, sizeof(a.top_stack), "main.worker");
    const double t0 = 1764185400;
    cJSON *stale = get_json(&t, path); /* before our first write */
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0), 1);
    drain(&t, r);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 5), 0); /* the echo */
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 1);
    a.status = LW_STATUS_OOM_PREDICTED; /* a real change, even on the stale copy */
    a.predicted_oom_at = t0 + 3600;
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 10), 1);
    drain(&t, r);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 15), 0);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 71), 1); /* still missing */
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 3);
    cJSON_Delete(stale);
    /* from the fresh copy: nothing to write */
    cJSON *p = get_json(&t, path);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 80), 0);
    /* only the numbers move: not before 5 minutes after the last write */
    snprintf(a.summary, sizeof(a.summary), "goroutines 10 -> 520 in 25m (+1,224/h)");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 71 + 299), 0);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 71 + 301), 1);
    drain(&t, r);
    cJSON_Delete(p);
    p = get_json(&t, path);
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    CHECK_STR(js(ann, LW_ANN_SUMMARY, NULL), a.summary);
    CHECK_STR(js(ann, LW_ANN_STATUS, NULL), "oom-predicted");
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 4);
    /* the top stack changes: at once */
    snprintf(a.top_stack, sizeof(a.top_stack), "main.otherWorker");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 71 + 310), 1);
    drain(&t, r);
    cJSON_Delete(p);
    /* a large fleet stretches the numbers-only refresh (the controller sets
     * it from the pod count): 500 s, not 300 s */
    lw_recorder_set_annot_refresh(r, 500);
    p = get_json(&t, path);
    snprintf(a.summary, sizeof(a.summary), "goroutines 10 -> 700 in 30m (+1,380/h)");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 381 + 301), 0);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 381 + 499), 0);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, p, &a, t0 + 381 + 501), 1);
    drain(&t, r);
    cJSON_Delete(p);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.failed, 0);
    CHECK_EQ_INT((int)st.annot_patches, 6);
    lw_recorder_free(r);
    kt_teardown(&t);
}

static int noop_apply(void *ud, CURL *easy, struct curl_slist **headers, struct lw_errbuf *eb)
{
    (void)ud, (void)easy, (void)eb;
    *headers = curl_slist_append(*headers, "X-Test: 1");
    return *headers ? LW_OK : LW_ENOMEM;
}

/* 5,000 pods: every one keeps its own state (nothing evicted below max_pods),
 * found by uid; forgetting one leaves the others. Nothing is sent: the loop
 * never runs, the queued Event requests are cancelled by lw_recorder_free. */
TEST(many_pods_keep_state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lw_errbuf eb;
    struct lw_loop *l = lw_loop_new(&eb);
    struct lw_kube_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    snprintf(ep.server, sizeof(ep.server), "http://127.0.0.1:9");
    ep.apply = noop_apply;
    struct lw_kube *k = lw_kube_new(l, &ep, NULL, &eb);
    struct lw_recorder_opts o;
    memset(&o, 0, sizeof(o));
    o.max_pods = 10000;
    o.scrape_fail_threshold = 2;
    struct lw_recorder *r = lw_recorder_new(k, &o, &eb);
    CHECK(l && k && r);
    enum { N = 5000 };
    char uid[N][24], name[N][24];
    for (int i = 0; i < N; i++) {
        snprintf(uid[i], sizeof(uid[i]), "uid-%05d", i);
        snprintf(name[i], sizeof(name[i]), "pod-%05d", i);
    }
    /* odd pods fail twice (scrape-failing), even ones once (still ok) */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++)
            if (round == 0 || (i & 1)) {
                struct lw_pod_ref ref = {"default", name[i], uid[i]};
                lw_recorder_scrape_failed(r, &ref, "http://127.0.0.1:1/debug/pprof: refused",
                                          1764185400 + i);
            }
    int failing = 0, ok = 0;
    for (int i = 0; i < N; i++) {
        enum lw_pod_status st = lw_recorder_status(r, uid[i]);
        failing += (i & 1) && st == LW_STATUS_SCRAPE_FAILING;
        ok += !(i & 1) && st == LW_STATUS_OK;
    }
    CHECK_EQ_INT(failing, N / 2);
    CHECK_EQ_INT(ok, N / 2);
    for (int i = 1; i < N; i += 4)
        lw_recorder_forget(r, uid[i]);
    failing = 0;
    for (int i = 1; i < N; i += 2)
        failing += lw_recorder_status(r, uid[i]) == LW_STATUS_SCRAPE_FAILING;
    CHECK_EQ_INT(failing, N / 4);
    /* a success clears one pod only */
    struct lw_pod_ref ref = {"default", name[3], uid[3]};
    lw_recorder_scrape_ok(r, &ref);
    CHECK_EQ_INT(lw_recorder_status(r, uid[3]), LW_STATUS_OK);
    CHECK_EQ_INT(lw_recorder_status(r, uid[7]), LW_STATUS_SCRAPE_FAILING);
    CHECK_EQ_INT(lw_recorder_status(r, "no-such-uid"), LW_STATUS_OK);
    lw_recorder_free(r);
    lw_kube_free(k);
    lw_loop_free(l);
    curl_global_cleanup();
}

TEST_LIST(T(create_repeat_series_and_limits), T(repeat_while_creating), T(scrape_failed_limited), T(fallback_to_core_v1),
          T(verdicts_drive_events), T(annotations_on_the_pod),
          T(annotations_echo_and_refresh), T(many_pods_keep_state));

/* ---- emit mode for tests/cli/test_recorder_kubectl.sh ------------------------------------- */

static int emit_main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s emit URL CA TOKENFILE NS POD UID\n", argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct tokprov prov;
    memset(&prov, 0, sizeof(prov));
    snprintf(prov.path, sizeof(prov.path), "%s", argv[4]);
    snprintf(prov.ca, sizeof(prov.ca), "%s", argv[3]);
    struct lw_errbuf eb;
    struct lw_loop *loop = lw_loop_new(&eb);
    struct lw_kube_endpoint ep;
    memset(&ep, 0, sizeof(ep));
    snprintf(ep.server, sizeof(ep.server), "%s", argv[2]);
    ep.ud = &prov;
    ep.apply = prov_apply;
    ep.unauthorized = prov_unauthorized;
    struct lw_kube *k = loop ? lw_kube_new(loop, &ep, NULL, &eb) : NULL;
    struct lw_recorder *r = k ? lw_recorder_new(k, NULL, &eb) : NULL;
    if (!r) {
        fprintf(stderr, "emit: %s\n", eb.msg);
        return 1;
    }
    struct lw_pod_ref pod = {argv[5], argv[6], argv[7]};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    struct lw_verdict v;
    memset(&v, 0, sizeof(v));
    v.verdict = LW_VERDICT_LEAK;
    v.kinds = LW_LEAK_GOROUTINE | LW_LEAK_MEMORY;
    v.memory.limit_bytes = 64 << 20;
    v.oom.predicted = true;
    v.oom.seconds_to_oom = 7800;
    v.oom.at = now + 7800;
    v.oom.confidence = 0.87;
    snprintf(v.summary, sizeof(v.summary),
             "goroutines 1,204 -> 20,311 in 6h (+3,180/h); top: net/http.(*persistConn).readLoop "
             "created by net/http.(*Transport).dialConn (+19,100); likely an http.Transport built per request");
    v.t = now;
    lw_recorder_verdict(r, &pod, &v);
    v.t = now + 1;
    lw_recorder_verdict(r, &pod, &v); /* a repeat: series count 2 */
    for (int i = 0; i < 400 && lw_recorder_pending(r) > 0; i++)
        lw_loop_run_once(loop, 0.05);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    int rc = lw_recorder_pending(r) == 0 && st.failed == 0 && st.created == 1 ? 0 : 1;
    printf("created=%llu series=%llu failed=%llu core=%d\n", (unsigned long long)st.created,
           (unsigned long long)st.series_patches, (unsigned long long)st.failed, st.core_mode);
    lw_recorder_free(r);
    lw_kube_free(k);
    lw_loop_free(loop);
    curl_global_cleanup();
    return rc;
}

#define main lw_t_main
TEST_MAIN()
#undef main

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "emit") == 0)
        return emit_main(argc, argv);
    return lw_t_main(argc, argv);
}
