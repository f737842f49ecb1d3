/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_controller.c: the controller's pure decisions (pkg/controller
 * logic.c): restart detection from real pod JSON run through pkg/target,
 * OOMKilled recognition, memory source selection, the prediction record and
 * the post-mortem facts (checked through the recorder's own note text), and
 * RFC 3339 parsing of finishedAt.
 */
#include "harness.h"

#include "controller/controller.h"

#include <math.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* A Pod as the informer caches it; last_state is "" or a lastState JSON. */
static void target_of(int restarts, const char *cid, const char *last_state, struct lw_target *t)
{
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"metadata\":{\"name\":\"p\",\"namespace\":\"default\",\"uid\":\"u-1\","
             "\"annotations\":{\"leakwatch.io/scrape\":\"true\"}},"
             "\"spec\":{\"containers\":[{\"name\":\"app\",\"ports\":[{\"name\":\"pprof\","
             "\"containerPort\":6060}],\"resources\":{\"limits\":{\"memory\":\"64Mi\"}}}]},"
             "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.7\",\"containerStatuses\":"
             "[{\"name\":\"app\",\"ready\":true,\"restartCount\":%d,\"containerID\":\"%s\","
             "\"state\":{\"running\":{}}%s%s}]}}",
             restarts, cid, last_state[0] ? ",\"lastState\":" : "", last_state);
    cJSON *pod = cJSON_Parse(json);
    CHECK(pod != NULL);
    struct lw_target_set ts;
    lw_target_from_pod(pod, NULL, &ts, NULL);
    CHECK_EQ_INT(ts.status, LW_TARGET_OK);
    *t = ts.target;
    cJSON_Delete(pod);
}

TEST(restart_by_count_and_id)
{
    struct lw_ctl_incarnation inc;
    memset(&inc, 0, sizeof(inc));
    inc.restart_count = -1;
    struct lw_target t;
    target_of(0, "containerd://aaa", "", &t);
    CHECK(!lw_ctl_restart_detect(&inc, &t)); /* first sighting */
    CHECK(inc.known);
    CHECK_EQ_INT(inc.restart_count, 0);
    CHECK(!lw_ctl_restart_detect(&inc, &t)); /* same again */
    target_of(1, "containerd://bbb", "", &t);
    CHECK(lw_ctl_restart_detect(&inc, &t)); /* both changed */
    CHECK(!lw_ctl_restart_detect(&inc, &t));
    CHECK_STR(inc.container_id, "containerd://bbb");
    target_of(1, "containerd://ccc", "", &t);
    CHECK(lw_ctl_restart_detect(&inc, &t)); /* only the id changed */
    target_of(1, "", "", &t);
    CHECK(!lw_ctl_restart_detect(&inc, &t)); /* id not known yet: no restart, kept */
    CHECK_STR(inc.container_id, "containerd://ccc");
    target_of(2, "", "", &t);
    CHECK(lw_ctl_restart_detect(&inc, &t)); /* only the count changed */
    CHECK_EQ_INT(inc.restart_count, 2);
}

TEST(no_status_is_no_restart)
{
    struct lw_ctl_incarnation inc = {true, 3, "containerd://x"};
    struct lw_target t;
    memset(&t, 0, sizeof(t));
    t.restart_count = 7;
    CHECK(!lw_ctl_restart_detect(&inc, &t));
    CHECK_EQ_INT(inc.restart_count, 3);
}

TEST(oomkilled_from_last_state)
{
    struct lw_target t;
    target_of(1, "containerd://b", "{\"terminated\":{\"reason\":\"OOMKilled\",\"exitCode\":137,"
              "\"finishedAt\":\"2026-11-26T19:30:00Z\",\"containerID\":\"containerd://a\"}}", &t);
    CHECK(lw_ctl_oomkilled(&t));
    double at = 0;
    CHECK_EQ_INT(lw_ctl_parse_time(t.last_finished_at, &at), LW_OK);
    CHECK_NEAR(at, 1795721400.0, 1e-6);
    target_of(1, "containerd://b", "{\"terminated\":{\"reason\":\"Error\",\"exitCode\":2}}", &t);
    CHECK(!lw_ctl_oomkilled(&t));
    target_of(1, "containerd://b", "", &t);
    CHECK(!lw_ctl_oomkilled(&t));
}

TEST(memory_source)
{
    CHECK_EQ_INT(lw_ctl_pick_memory(0, 1000, 60), LW_CTL_MEM_RUNTIME);
    CHECK_EQ_INT(lw_ctl_pick_memory(980, 1000, 60), LW_CTL_MEM_WORKING_SET);
    CHECK_EQ_INT(lw_ctl_pick_memory(940, 1000, 60), LW_CTL_MEM_WORKING_SET);
    CHECK_EQ_INT(lw_ctl_pick_memory(939, 1000, 60), LW_CTL_MEM_RUNTIME);
    CHECK_EQ_INT(lw_ctl_pick_memory(1100, 1000, 60), LW_CTL_MEM_RUNTIME); /* from the future */
    CHECK_EQ_INT(lw_ctl_pick_memory(1000, 1000, 0), LW_CTL_MEM_RUNTIME);
}

static const char *frames[] = {"net.(*conn).Read", "net/http.(*persistConn).readLoop"};

static void verdict(struct lw_verdict *v, struct lw_top_stack *top, enum lw_verdict_kind k,
                    bool predicted, double oom_at, int64_t goroutines)
{
    memset(v, 0, sizeof(*v));
    memset(top, 0, sizeof(*top));
    top->kind = "goroutine";
    top->frames = frames;
    top->nframes = 2;
    top->leaf = frames[0];
    top->created_by = "net/http.(*Transport).dialConn";
    top->count = goroutines;
    v->verdict = k;
    v->goroutines.present = true;
    v->goroutines.last = goroutines;
    v->oom.predicted = predicted;
    v->oom.at = oom_at;
    v->top = top;
    v->ntop = 1;
}

TEST(prediction_and_postmortem)
{
    struct lw_ctl_prediction p;
    lw_ctl_prediction_reset(&p);
    CHECK_EQ_INT((int)p.goroutines, -1);
    struct lw_verdict v;
    struct lw_top_stack top;
    verdict(&v, &top, LW_VERDICT_INSUFFICIENT, false, 0, 50);
    lw_ctl_prediction_update(&p, &v, 100);
    CHECK_NEAR(p.first_warning_at, 0, 0);
    CHECK_EQ_INT((int)p.goroutines, 50);

    struct lw_postmortem pm;
    lw_ctl_postmortem(&p, "app", 5000, 64.0 * 1048576, &pm);
    CHECK(!pm.predicted);
    char note[1100];
    lw_rec_note_oomkilled(&pm, note, sizeof(note));
    CHECK(strstr(note, "not predicted") != NULL);

    verdict(&v, &top, LW_VERDICT_LEAK, false, 0, 900);
    lw_ctl_prediction_update(&p, &v, 200);
    CHECK_NEAR(p.first_warning_at, 200, 0);
    CHECK_NEAR(p.first_predicted_at, 0, 0);
    verdict(&v, &top, LW_VERDICT_LEAK, true, 4000, 1500);
    lw_ctl_prediction_update(&p, &v, 300);
    verdict(&v, &top, LW_VERDICT_LEAK, true, 4200, 2500);
    lw_ctl_prediction_update(&p, &v, 400);
    CHECK_NEAR(p.first_warning_at, 200, 0);
    CHECK_NEAR(p.first_predicted_at, 300, 0);
    CHECK_NEAR(p.predicted_oom_at, 4200, 0);
    CHECK(strstr(p.top_stack, "readLoop") != NULL);

    lw_ctl_postmortem(&p, "app", 4300, 64.0 * 1048576, &pm);
    CHECK(pm.predicted);
    CHECK_NEAR(pm.predicted_at, 200, 0); /* the first warning: how early we said so */
    CHECK_NEAR(pm.predicted_oom_at, 4200, 0);
    CHECK_EQ_INT((int)pm.goroutines, 2500);
    CHECK_STR(pm.container, "app");
    lw_rec_note_oomkilled(&pm, note, sizeof(note));
    CHECK(strstr(note, "not predicted") == NULL);
    CHECK(strstr(note, "predicted") != NULL);
    CHECK(strstr(note, "readLoop") != NULL);

    lw_ctl_prediction_reset(&p); /* a new series after the restart */
    lw_ctl_postmortem(&p, "app", 0, 0, &pm);
    CHECK(!pm.predicted);
    CHECK(pm.top_stack == NULL);
}

TEST(parse_time)
{
    double t = -1;
    CHECK_EQ_INT(lw_ctl_parse_time("1970-01-01T00:00:00Z", &t), LW_OK);
    CHECK_NEAR(t, 0, 0);
    CHECK_EQ_INT(lw_ctl_parse_time("2000-02-29T23:59:59Z", &t), LW_OK);
    CHECK_NEAR(t, 951868799.0, 0);
    CHECK_EQ_INT(lw_ctl_parse_time("2026-11-26T19:30:00.250Z", &t), LW_OK);
    CHECK_NEAR(t, 1795721400.25, 1e-6);
    CHECK_EQ_INT(lw_ctl_parse_time("2026-11-26T21:30:00+02:00", &t), LW_OK);
    CHECK_NEAR(t, 1795721400.0, 1e-6);
    CHECK_EQ_INT(lw_ctl_parse_time("2026-11-26T19:00:00-00:30", &t), LW_OK);
    CHECK_NEAR(t, 1795721400.0, 1e-6);
    const char *bad[] = {"", "2026-11-26", "2026-11-26T19:30:00", "2026-13-01T00:00:00Z",
                         "2026-11-26T24:00:00Z", "2026-11-26T19:30:00Zjunk", "2026-11-26T19:30:00.Z",
                         "x026-11-26T19:30:00Z", "2026-11-26T19:30:00+0200"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_INT(lw_ctl_parse_time(bad[i], &t), LW_EINVAL);
    CHECK_EQ_INT(lw_ctl_parse_time(NULL, &t), LW_EINVAL);
}

TEST(annot_refresh_scales_with_the_fleet)
{
    /* 5 min up to the fleet where numbers-only refreshes would take half of
     * the API budget, then npods / (qps / 2), at most 1 h */
    CHECK_NEAR(lw_ctl_annot_refresh(0, 20), 300, 1e-9);
    CHECK_NEAR(lw_ctl_annot_refresh(1000, 20), 300, 1e-9);
    CHECK_NEAR(lw_ctl_annot_refresh(3000, 20), 300, 1e-9);
    CHECK_NEAR(lw_ctl_annot_refresh(5000, 20), 500, 1e-9);
    CHECK_NEAR(lw_ctl_annot_refresh(5000, 50), 300, 1e-9);
    CHECK_NEAR(lw_ctl_annot_refresh(100000, 20), 3600, 1e-9);
    CHECK_NEAR(lw_ctl_annot_refresh(100000, 0), 300, 1e-9); /* no limit */
    /* the refreshes it allows stay within half of the budget */
    for (size_t n = 1; n <= 40000; n *= 2)
        CHECK(n / lw_ctl_annot_refresh(n, 20) <= 10.0 + 1e-9 || lw_ctl_annot_refresh(n, 20) == 3600);
}

/* While a pod has too little history the annotation says since when and
 * from when, not how many samples: the text stays the same from scrape to
 * scrape, so it is never stale between refreshes (a count read "2 samples
 * over 5s" for minutes in the demo). */
TEST(summary_insufficient_is_timeless)
{
    char s[512], s2[512];
    const double t0 = 1795780800; /* 2026-11-27T12:00:00Z */
    lw_ctl_summary_insufficient(s, sizeof(s), t0, 5, 300);
    CHECK_STR(s, "insufficient data: goroutine samples since 2026-11-27T12:00:00Z; a verdict from "
                 "about 2026-11-27T12:05:00Z (it needs at least 5 samples spanning 5m)");
    /* the same first sample later on: the same words, so no annotation write */
    lw_ctl_summary_insufficient(s2, sizeof(s2), t0, 5, 300);
    CHECK_STR(s2, s);
    lw_ctl_summary_memory(s2, sizeof(s2), "working set from the kubelet", 98765432);
    CHECK(strstr(s2, "; memory 94.2 MiB (working set from the kubelet)") != NULL);
    lw_ctl_summary_insufficient(s, sizeof(s), 0, 5, 300);
    CHECK_STR(s, "insufficient data: no goroutine sample yet (a verdict needs at least 5 samples "
                 "spanning 5m)");
    lw_ctl_summary_insufficient(s, sizeof(s), NAN, 6, 600);
    CHECK(strstr(s, "no goroutine sample yet") && strstr(s, "at least 6 samples spanning 10m"));
    /* bounded: a small buffer stays a valid, cut string */
    char small[16];
    lw_ctl_summary_insufficient(small, sizeof(small), t0, 5, 300);
    CHECK_EQ_INT((int)strlen(small), 15);
    lw_ctl_summary_insufficient(NULL, 10, t0, 5, 300); /* no crash */
}

TEST(summary_names_memory_source)
{
    char s[256];
    snprintf(s, sizeof(s), "no leak: goroutines 7 -> 7 in 10m; memory 118 MiB (container)");
    lw_ctl_summary_memory(s, sizeof(s), "working set from the kubelet", 123456789);
    CHECK_STR(s, "no leak: goroutines 7 -> 7 in 10m; memory 118 MiB (working set from the kubelet)");
    snprintf(s, sizeof(s), "insufficient data: 2 goroutine samples over 1s");
    lw_ctl_summary_memory(s, sizeof(s), "working set from metrics.k8s.io", 98765432);
    CHECK_STR(s, "insufficient data: 2 goroutine samples over 1s; memory 94.2 MiB (working set from metrics.k8s.io)");
    /* the runtime's number is already named by the engine */
    snprintf(s, sizeof(s), "no leak; memory 12 MiB (runtime)");
    lw_ctl_summary_memory(s, sizeof(s), "Go runtime", 5);
    CHECK_STR(s, "no leak; memory 12 MiB (runtime)");
    snprintf(s, sizeof(s), "x");
    lw_ctl_summary_memory(s, sizeof(s), NULL, 5);
    CHECK_STR(s, "x");
    lw_ctl_summary_memory(s, sizeof(s), "Go runtime", 0); /* no number: nothing to add */
    CHECK_STR(s, "x");
    /* bounded: a full buffer stays a valid, cut string */
    char small[24];
    snprintf(small, sizeof(small), "memory 1 MiB (container)");
    lw_ctl_summary_memory(small, sizeof(small), "working set from the kubelet", 1);
    CHECK(strlen(small) == sizeof(small) - 1);
    snprintf(small, sizeof(small), "0123456789012345678901");
    lw_ctl_summary_memory(small, sizeof(small), "working set from the kubelet", 1e6);
    CHECK(strlen(small) == sizeof(small) - 1);
}

TEST_LIST(T(annot_refresh_scales_with_the_fleet), T(summary_names_memory_source), T(summary_insufficient_is_timeless), T(restart_by_count_and_id), T(no_status_is_no_restart), T(oomkilled_from_last_state),
          T(memory_source), T(prediction_and_postmortem), T(parse_time));
TEST_MAIN()
