/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_recorder_coalesce.c: the recorder keeps at most one pending write per
 * pod annotation set and per Event (pkg/recorder/recorder.c, "annotations:
 * one pending patch per pod" and "events: one pending series patch per
 * event"), against the project's test API server with a slow client rate
 * limit (one token every 4 s), so that writes wait in the client's queue:
 *  - N annotation updates of one pod while its patch waits -> one PATCH, with
 *    the last values;
 *  - the echo wait runs from the acknowledgement, not from queueing: the same
 *    values 70 s after queueing (still unsent) are not queued again;
 *  - new values while the patch is on the wire (the server delays it) are
 *    sent once after it, only the latest;
 *  - Event repeats while the series patch waits -> one PATCH with the last
 *    count;
 *  - at the client's queue cap annotation patches are refused and counted.
 */
#include "harness.h"
#include "kube_test_server.h"
#include "recorder/recorder.h"
#include "recorder_test_util.h"

static void got(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    (void)k, (void)res;
    *(int *)ud = 1;
}

/* Spend the client's token: what is queued next waits ~4 s for the next. */
static void spend_token(struct kt *t)
{
    int done = 0;
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_kube_request(t->kube, LW_KUBE_GET, "/api/v1/namespaces/default/pods", NULL,
                                 NULL, got, &done, NULL, &eb),
                 LW_OK);
    CHECK_EQ_INT(lw_loop_run_until(t->loop, &done, 20), LW_OK);
}

static int slow_setup(struct kt *t, size_t max_queued)
{
    struct lw_kube_opts o;
    memset(&o, 0, sizeof(o));
    o.qps = 0.25;
    o.burst = 1;
    o.max_queued = max_queued;
    return kt_setup(t, &o);
}

static uint64_t kube_queued(struct kt *t)
{
    struct lw_kube_stats st;
    lw_kube_get_stats(t->kube, &st);
    return st.queued;
}

/* The annotations of the last logged PATCH to path (borrowed from *hold). */
static const cJSON *last_patch_annotations(struct kt *t, cJSON **hold)
{
    *hold = kt_last_request(t, "PATCH");
    return cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(*hold, "body"), "metadata"),
                               "annotations");
}

TEST(annotation_updates_while_queued_coalesce)
{
    struct kt t;
    if (!slow_setup(&t, 0))
        return;
    char uid[64];
    seed(&t, "co-1", uid, sizeof(uid));
    const char *path = "/api/v1/namespaces/default/pods/co-1";
    cJSON *stale = get_json(&t, path); /* the informer's copy: never sees our writes here */
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "co-1", uid};
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_LEAKING;
    snprintf(a.summary, sizeof(a.summary), "goroutines 10 -> 400 in 20m (+1,170/h)");
    const double t0 = 1764185400;
    spend_token(&t);
    /* five different top stacks (material changes) while the patch waits */
    for (int i = 0; i < 5; i++) {
        snprintf(a.top_stack, sizeof(a.top_stack), "main.worker%d", i);
        CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + i), i == 0); /* 1 = a request */
        lw_loop_run_once(t.loop, 0); /* the pump runs and finds no token */
        CHECK_EQ_INT((int)kube_queued(&t), 1);
    }
    CHECK_EQ_INT((int)lw_recorder_pending(r), 1);
    /* 70 s after queueing, still unsent: the same values are not queued again */
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 70), 0);
    CHECK_EQ_INT((int)kube_queued(&t), 1);
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 1);
    cJSON *hold;
    const cJSON *ann = last_patch_annotations(&t, &hold);
    CHECK_STR(js(ann, LW_ANN_TOP_STACK, NULL), "main.worker4");
    cJSON_Delete(hold);
    cJSON *now = get_json(&t, path);
    ann = cJSON_GetObjectItem(cJSON_GetObjectItem(now, "metadata"), "annotations");
    CHECK_STR(js(ann, LW_ANN_TOP_STACK, NULL), "main.worker4");
    CHECK_STR(js(ann, LW_ANN_STATUS, NULL), "leaking");
    cJSON_Delete(now);
    /* the echo wait runs from the acknowledgement (the recorder's clock: t0 + 70) */
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 125), 0);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 131), 1);
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 2);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.annot_patches, 2);
    CHECK_EQ_INT((int)st.annot_coalesced, 4);
    CHECK_EQ_INT((int)st.failed, 0);
    /* queued, then the pod turns out to show it already: the queued patch is withdrawn */
    snprintf(a.top_stack, sizeof(a.top_stack), "main.other");
    spend_token(&t);
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 140), 1);
    CHECK_EQ_INT((int)kube_queued(&t), 1);
    cJSON *fresh = get_json(&t, path);
    snprintf(a.top_stack, sizeof(a.top_stack), "main.worker4");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, fresh, &a, t0 + 141), 0);
    CHECK_EQ_INT((int)kube_queued(&t), 0);
    CHECK_EQ_INT((int)lw_recorder_pending(r), 0);
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.annot_withdrawn, 1);
    cJSON_Delete(fresh);
    cJSON_Delete(stale);
    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(annotation_while_on_the_wire_goes_after)
{
    struct kt t;
    if (!kt_setup(&t, NULL))
        return;
    char uid[64];
    seed(&t, "co-2", uid, sizeof(uid));
    const char *path = "/api/v1/namespaces/default/pods/co-2";
    cJSON *stale = get_json(&t, path);
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"patch\",\"resource\":\"pods\",\"action\":\"delay\",\"seconds\":1.0,\"count\":3}");
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "co-2", uid};
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_LEAKING;
    snprintf(a.summary, sizeof(a.summary), "goroutines 10 -> 400 in 20m (+1,170/h)");
    snprintf(a.top_stack, sizeof(a.top_stack), "main.first");
    const double t0 = 1764185400;
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0), 1);
    struct lw_kube_stats ks;
    lw_kube_get_stats(t.kube, &ks);
    uint64_t sent0 = ks.requests;
    for (int i = 0; i < 100 && ks.requests == sent0; i++) {
        lw_loop_run_once(t.loop, 0.01);
        lw_kube_get_stats(t.kube, &ks);
    }
    CHECK_EQ_INT((int)lw_recorder_pending(r), 1); /* on the wire: the server holds it 1 s */
    for (int i = 0; i < 3; i++) {
        snprintf(a.top_stack, sizeof(a.top_stack), "main.next%d", i);
        CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 1 + i), i == 0);
    }
    CHECK_EQ_INT((int)kube_queued(&t), 0); /* nothing queued behind it yet */
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 2);
    cJSON *now = get_json(&t, path);
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(now, "metadata"), "annotations");
    CHECK_STR(js(ann, LW_ANN_TOP_STACK, NULL), "main.next2");
    cJSON_Delete(now);
    /* values equal to the patch on the wire: nothing goes after it */
    snprintf(a.top_stack, sizeof(a.top_stack), "main.last");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 200), 1);
    for (int i = 0; i < 100 && kube_queued(&t) > 0; i++)
        lw_loop_run_once(t.loop, 0.01);
    snprintf(a.top_stack, sizeof(a.top_stack), "main.other");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 201), 1);
    snprintf(a.top_stack, sizeof(a.top_stack), "main.last");
    CHECK_EQ_INT(lw_recorder_annotate(r, &pod, stale, &a, t0 + 202), 0);
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", path), 3);
    cJSON_Delete(stale);
    lw_recorder_free(r);
    kt_teardown(&t);
}

TEST(event_repeats_while_queued_coalesce)
{
    struct kt t;
    if (!slow_setup(&t, 0))
        return;
    char uid[64];
    seed(&t, "co-3", uid, sizeof(uid));
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    struct lw_pod_ref pod = {"default", "co-3", uid};
    const double t0 = 1764185400;
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "main.w", "leak 1", t0),
                 LW_REC_CREATED);
    drain(&t, r);
    cJSON *post = kt_last_request(&t, "POST");
    char evpath[512];
    snprintf(evpath, sizeof(evpath), "/apis/events.k8s.io/v1/namespaces/default/events/%s",
             js(cJSON_GetObjectItem(cJSON_GetObjectItem(post, "body"), "metadata"), "name", NULL));
    cJSON_Delete(post);
    spend_token(&t);
    /* the first repeat is written at once: queued behind the empty bucket */
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "main.w", "leak 2", t0 + 30),
                 LW_REC_SERIES_SENT);
    lw_loop_run_once(t.loop, 0);
    CHECK_EQ_INT((int)kube_queued(&t), 1);
    for (int i = 3; i <= 6; i++) {
        char note[32];
        snprintf(note, sizeof(note), "leak %d", i);
        CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "main.w", note,
                                       t0 + 30 * (i - 1)),
                     LW_REC_SERIES_SENT);
        CHECK_EQ_INT((int)kube_queued(&t), 1);
    }
    drain(&t, r);
    CHECK_EQ_INT(kt_count_requests(&t, "PATCH", evpath), 1);
    cJSON *patch = kt_last_request(&t, "PATCH");
    const cJSON *series = cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "body"), "series");
    const cJSON *cnt = cJSON_GetObjectItem(series, "count");
    CHECK(cJSON_IsNumber(cnt) && cnt->valueint == 6);
    cJSON_Delete(patch);
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.series_patches, 1);
    CHECK_EQ_INT((int)st.series_coalesced, 4);
    lw_recorder_free(r);
    kt_teardown(&t);
}

/* The client's queue cap (3 here): annotation patches past it are refused
 * and counted; an Event pushes one out; lw_recorder_free cancels the rest. */
TEST(annotations_at_the_queue_cap)
{
    struct kt t;
    if (!slow_setup(&t, 3))
        return;
    struct lw_recorder *r = lw_recorder_new(t.kube, NULL, NULL);
    spend_token(&t);
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_OK;
    snprintf(a.summary, sizeof(a.summary), "goroutines flat");
    int queued = 0, refused = 0;
    for (int i = 0; i < 6; i++) {
        char name[32], uid[32];
        snprintf(name, sizeof(name), "cap-%d", i);
        snprintf(uid, sizeof(uid), "uid-cap-%d", i);
        struct lw_pod_ref pod = {"default", name, uid};
        int rc = lw_recorder_annotate(r, &pod, NULL, &a, 1764185400);
        queued += rc == 1;
        refused += rc == LW_ENOMEM;
    }
    CHECK_EQ_INT(queued, 3);
    CHECK_EQ_INT(refused, 3);
    struct lw_pod_ref pod = {"default", "cap-0", "uid-cap-0"};
    CHECK_EQ_INT(lw_recorder_event(r, &pod, LW_REASON_GOROUTINE_LEAK, "x", "leak", 1764185400),
                 LW_REC_CREATED);
    struct lw_kube_stats ks;
    lw_kube_get_stats(t.kube, &ks);
    CHECK_EQ_INT((int)ks.dropped, 4);
    CHECK_EQ_INT((int)ks.dropped_prio[LW_KUBE_PRIO_ANNOT], 4);
    CHECK_EQ_INT((int)ks.queued, 3);
    lw_loop_run_once(t.loop, 0); /* the pushed-out patch's callback: failed */
    struct lw_recorder_stats st;
    lw_recorder_get_stats(r, &st);
    CHECK_EQ_INT((int)st.failed, 4);
    CHECK_EQ_INT((int)lw_recorder_pending(r), 3);
    CHECK_EQ_INT((int)lw_recorder_drop_annotations(r), 2);
    CHECK_EQ_INT((int)lw_recorder_pending(r), 1); /* the Event */
    lw_recorder_free(r);
    lw_kube_get_stats(t.kube, &ks);
    CHECK_EQ_INT((int)ks.queued, 0);
    kt_teardown(&t);
}

TEST_LIST(T(annotation_updates_while_queued_coalesce), T(annotation_while_on_the_wire_goes_after),
          T(event_repeats_while_queued_coalesce), T(annotations_at_the_queue_cap));
TEST_MAIN()
