/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_recorder.c: pkg/recorder's pure builders, without a server: UTF-8
 * cutting of multibyte notes, MicroTime, event names, reporting instances,
 * the Event bodies in both versions checked against the API document's
 * validation rules (§4; re-implemented here independently of the library),
 * series patch bodies, notes from a real verdict (the http-transport trace
 * from tests/fixtures), the per-pod state machine, and the annotation merge
 * patch (unchanged -> none, updated-at alone -> none, 4 KiB cap, opt-out ->
 * nulls). test_recorder_e2e.c sends all of this to the test API server.
 */
#include "harness.h"
#include "recorder/recorder.h"

#include <dirent.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

/* ---- an independent validator (kubernetes-api.md §4) --------------------------------- */

static int rx(const char *re, const char *s)
{
    regex_t r;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    int ok = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return ok;
}

static int dns_subdomain(const char *s)
{
    return strlen(s) <= 253 && rx("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", s);
}

static int qualified_name(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = s;
    if (slash) {
        char prefix[300];
        size_t pl = (size_t)(slash - s);
        if (pl == 0 || pl > 253)
            return 0;
        memcpy(prefix, s, pl);
        prefix[pl] = '\0';
        if (!dns_subdomain(prefix))
            return 0;
        name = slash + 1;
    }
    return strlen(name) >= 1 && strlen(name) <= 63 &&
           rx("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$", name);
}

static const char *sget(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int microtime(const char *s)
{
    return s && rx("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$", s);
}

static int utf8_ok(const char *s)
{
    return s && lw_rec_utf8_valid(s, strlen(s));
}

/* Returns the number of rule violations (printing them). */
static int validate_events_v1(const cJSON *e)
{
    int bad = 0;
#define RULE(c, what)                                                      \
    do {                                                                   \
        if (!(c)) {                                                        \
            fprintf(stderr, "    rule broken: %s\n", what);                \
            bad++;                                                         \
        }                                                                  \
    } while (0)
    const cJSON *md = cJSON_GetObjectItem(e, "metadata");
    const char *ns = sget(md, "namespace"), *name = sget(md, "name");
    RULE(ns && dns_subdomain(ns), "namespace is a DNS subdomain");
    RULE(name && dns_subdomain(name), "metadata.name is a DNS subdomain");
    const cJSON *reg = cJSON_GetObjectItem(e, "regarding");
    RULE(sget(reg, "namespace") && ns && strcmp(sget(reg, "namespace"), ns) == 0,
         "regarding.namespace == event namespace");
    RULE(sget(reg, "kind") && strcmp(sget(reg, "kind"), "Pod") == 0, "regarding.kind Pod");
    RULE(sget(reg, "apiVersion") && strcmp(sget(reg, "apiVersion"), "v1") == 0, "regarding.apiVersion v1");
    RULE(sget(reg, "uid") && *sget(reg, "uid"), "regarding.uid");
    RULE(sget(reg, "name") && *sget(reg, "name"), "regarding.name");
    RULE(microtime(sget(e, "eventTime")), "eventTime is a MicroTime");
    const char *rc = sget(e, "reportingController");
    RULE(rc && qualified_name(rc), "reportingController qualified name");
    const char *ri = sget(e, "reportingInstance"), *ac = sget(e, "action"), *re = sget(e, "reason");
    const char *note = sget(e, "note"), *type = sget(e, "type");
    RULE(ri && *ri && strlen(ri) <= 128 && utf8_ok(ri), "reportingInstance 1..128 bytes");
    RULE(ac && *ac && strlen(ac) <= 128, "action 1..128 bytes");
    RULE(re && *re && strlen(re) <= 128, "reason 1..128 bytes");
    RULE(!note || (strlen(note) <= 1024 && utf8_ok(note)), "note <= 1024 bytes, UTF-8");
    RULE(type && (!strcmp(type, "Normal") || !strcmp(type, "Warning")), "type Normal|Warning");
    RULE(!cJSON_GetObjectItem(e, "deprecatedFirstTimestamp") &&
             !cJSON_GetObjectItem(e, "deprecatedLastTimestamp") &&
             !cJSON_GetObjectItem(e, "deprecatedCount") && !cJSON_GetObjectItem(e, "deprecatedSource"),
         "deprecated fields unset");
    const cJSON *se = cJSON_GetObjectItem(e, "series");
    if (se) {
        const cJSON *c = cJSON_GetObjectItem(se, "count");
        RULE(cJSON_IsNumber(c) && c->valuedouble >= 2, "series.count >= 2");
        RULE(microtime(sget(se, "lastObservedTime")), "series.lastObservedTime MicroTime");
    }
#undef RULE
    return bad;
}

/* ---- text helpers -------------------------------------------------------------------- */

TEST(utf8_cut_on_boundaries)
{
    char out[64];
    /* "日本語" is 9 bytes; cut to 7: "日" (3) + "…" (3) = 6, never half a character */
    size_t n = lw_rec_utf8_clean(out, sizeof(out), "日本語", 7);
    CHECK(n <= 7);
    CHECK(lw_rec_utf8_valid(out, n));
    CHECK_STR(out, "日…");
    /* fits exactly: no ellipsis */
    n = lw_rec_utf8_clean(out, sizeof(out), "日本語", 9);
    CHECK_STR(out, "日本語");
    /* every cut length of a mixed string stays valid and within the limit */
    const char *mix = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z-goroutines 1,204";
    for (size_t max = 0; max < 30; max++) {
        n = lw_rec_utf8_clean(out, sizeof(out), mix, max);
        CHECK(n <= max);
        CHECK(lw_rec_utf8_valid(out, n));
        CHECK_EQ_INT((int)strlen(out), (int)n);
    }
    /* invalid bytes become '?', newlines and tabs spaces */
    lw_rec_utf8_clean(out, sizeof(out), "a\xff\xc3(b\nc\td\xed\xa0\x80", 60);
    CHECK_STR(out, "a?" "?(b c d?" "?" "?");
    CHECK(!lw_rec_utf8_valid("\xc0\xaf", 2));  /* overlong '/' */
    CHECK(!lw_rec_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(lw_rec_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    /* the destination size bounds the output too */
    char small[5];
    n = lw_rec_utf8_clean(small, sizeof(small), "abcdefgh", 100);
    CHECK(n <= 4);
    CHECK(lw_rec_utf8_valid(small, n));
}

TEST(microtime_has_six_digits)
{
    char b[40];
    CHECK_STR(lw_rec_microtime(1764185400.123456, b, sizeof(b)), "2025-11-26T19:30:00.123456Z");
    CHECK_STR(lw_rec_microtime(1764185400.0, b, sizeof(b)), "2025-11-26T19:30:00.000000Z");
    /* rounding up into the next second carries */
    CHECK_STR(lw_rec_microtime(1764185400.9999997, b, sizeof(b)), "2025-11-26T19:30:01.000000Z");
    CHECK(microtime(lw_rec_microtime(0.5, b, sizeof(b))));
    CHECK(microtime(lw_rec_microtime(-3, b, sizeof(b)))); /* bad input still well-formed */
}

TEST(event_names)
{
    char name[300];
    lw_rec_event_name("leaky-1", 0x1879abcdef012345ULL, name, sizeof(name));
    CHECK_STR(name, "leaky-1.1879abcdef012345");
    CHECK(dns_subdomain(name));
    /* a 253-byte pod name is cut so the whole stays a DNS subdomain <= 253 */
    char pod[254];
    memset(pod, 'a', 253);
    pod[253] = '\0';
    pod[230] = '-'; /* the cut lands near a '-' which must not end the label */
    pod[236] = '-';
    lw_rec_event_name(pod, 0x1879abcdef012345ULL, name, sizeof(name));
    CHECK(strlen(name) <= 253);
    CHECK(dns_subdomain(name));
    CHECK(strncmp(name, pod, 200) == 0);
    CHECK(strstr(name, ".1879abcdef012345") != NULL);
    /* pod names with dots are fine; unusable ones fall back */
    lw_rec_event_name("web.v2", 255, name, sizeof(name));
    CHECK_STR(name, "web.v2.ff");
    lw_rec_event_name("Bad_Name", 255, name, sizeof(name));
    CHECK_STR(name, "leakwatch.ff");
    lw_rec_event_name("", 255, name, sizeof(name));
    CHECK_STR(name, "leakwatch.ff");
}

TEST(reporting_instance_bounded)
{
    char inst[300];
    lw_rec_reporting_instance("node-a", inst, sizeof(inst));
    CHECK_STR(inst, "leakwatch-node-a");
    char id[400] = "";
    for (int i = 0; i < 60; i++)
        strcat(id, "ü€"); /* 5 bytes each: 300 bytes */
    lw_rec_reporting_instance(id, inst, sizeof(inst));
    CHECK(strlen(inst) <= 128);
    CHECK(strlen(inst) >= 124);
    CHECK(utf8_ok(inst));
    lw_rec_reporting_instance(NULL, inst, sizeof(inst)); /* hostname */
    CHECK(strncmp(inst, "leakwatch-", 10) == 0 && strlen(inst) > 10);
}

/* ---- Event bodies ----------------------------------------------------------------------- */

static struct lw_event_spec spec_for(const char *note, enum lw_rec_reason r)
{
    struct lw_event_spec s;
    memset(&s, 0, sizeof(s));
    s.pod.ns = "default";
    s.pod.name = "leaky-1";
    s.pod.uid = "0b9c7a52-8f0e-4d1c-9a55-2f1a2b3c4d5e";
    s.reason = r;
    s.note = note;
    s.instance = "leakwatch-testhost";
    s.t = 1764185400.123456;
    return s;
}

TEST(events_v1_body_is_valid)
{
    /* a 3,000-byte multibyte note */
    char note[3100] = "";
    for (int i = 0; i < 150; i++) /* 19 bytes each */
        strcat(note, "goroutine é日本 ");
    for (int r = 0; r < LW_REASON__COUNT; r++) {
        struct lw_event_spec s = spec_for(note, (enum lw_rec_reason)r);
        struct lw_errbuf eb;
        cJSON *e = lw_rec_event_build(&s, 0, &eb);
        CHECK(e != NULL);
        CHECK_EQ_INT(validate_events_v1(e), 0);
        CHECK_STR(sget(e, "apiVersion"), "events.k8s.io/v1");
        CHECK_STR(sget(e, "kind"), "Event");
        CHECK_STR(sget(e, "reportingController"), "leakwatch.io/controller");
        CHECK_STR(sget(e, "reportingInstance"), "leakwatch-testhost");
        CHECK_STR(sget(e, "eventTime"), "2025-11-26T19:30:00.123456Z");
        CHECK(strlen(sget(e, "note")) > 1000); /* cut near the limit, not far below */
        CHECK(strcmp(sget(e, "type"), r == LW_REASON_LEAK_RESOLVED ? "Normal" : "Warning") == 0);
        const cJSON *md = cJSON_GetObjectItem(e, "metadata");
        CHECK(strncmp(sget(md, "name"), "leaky-1.", 8) == 0);
        CHECK(!cJSON_GetObjectItem(e, "series"));
        cJSON_Delete(e);
    }
    /* names from t are the hex nanoseconds */
    struct lw_event_spec s = spec_for("x", LW_REASON_OOM_PREDICTED);
    s.t = 1.5;
    cJSON *e = lw_rec_event_build(&s, 0, NULL);
    CHECK_STR(sget(cJSON_GetObjectItem(e, "metadata"), "name"), "leaky-1.59682f00");
    CHECK_STR(sget(e, "action"), "Predict");
    CHECK_STR(sget(e, "reason"), "OOMKillPredicted");
    cJSON_Delete(e);
    /* a re-created series carries a valid series */
    s = spec_for("x", LW_REASON_GOROUTINE_LEAK);
    s.series_count = 7;
    s.series_last = s.t + 600;
    e = lw_rec_event_build(&s, 0, NULL);
    CHECK_EQ_INT(validate_events_v1(e), 0);
    CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "series"), "count")->valueint, 7);
    cJSON_Delete(e);
    /* unusable pod references are refused */
    s = spec_for("x", LW_REASON_MEMORY_LEAK);
    s.pod.uid = "";
    struct lw_errbuf eb;
    CHECK(lw_rec_event_build(&s, 0, &eb) == NULL);
    CHECK(strstr(eb.msg, "uid") != NULL);
    s = spec_for("x", LW_REASON_MEMORY_LEAK);
    s.pod.ns = "Not_A_Namespace";
    CHECK(lw_rec_event_build(&s, 0, &eb) == NULL);
}

TEST(core_v1_body)
{
    struct lw_event_spec s = spec_for("OOM \xff soon", LW_REASON_OOM_PREDICTED);
    cJSON *e = lw_rec_event_build(&s, 1, NULL);
    CHECK(e != NULL);
    CHECK_STR(sget(e, "apiVersion"), "v1");
    const cJSON *io = cJSON_GetObjectItem(e, "involvedObject");
    CHECK_STR(sget(io, "kind"), "Pod");
    CHECK_STR(sget(io, "uid"), "0b9c7a52-8f0e-4d1c-9a55-2f1a2b3c4d5e");
    CHECK_STR(sget(io, "namespace"), "default");
    CHECK_STR(sget(e, "message"), "OOM ? soon");
    CHECK_STR(sget(cJSON_GetObjectItem(e, "source"), "component"), "leakwatch.io/controller");
    CHECK_STR(sget(e, "reportingComponent"), "leakwatch.io/controller");
    CHECK_STR(sget(e, "firstTimestamp"), "2025-11-26T19:30:00Z");
    CHECK_EQ_INT(cJSON_GetObjectItem(e, "count")->valueint, 1);
    CHECK(!cJSON_GetObjectItem(e, "eventTime")); /* the legacy form */
    CHECK(!cJSON_GetObjectItem(e, "regarding") && !cJSON_GetObjectItem(e, "note"));
    cJSON_Delete(e);
}

TEST(series_patch_bodies)
{
    cJSON *p = lw_rec_series_patch(0, 2, 1764185400.5, "ignored");
    char *txt = cJSON_PrintUnformatted(p);
    CHECK_STR(txt, "{\"series\":{\"count\":2,\"lastObservedTime\":\"2025-11-26T19:30:00.500000Z\"}}");
    free(txt);
    cJSON_Delete(p);
    p = lw_rec_series_patch(1, 5, 1764185400.5, "again");
    txt = cJSON_PrintUnformatted(p);
    CHECK_STR(txt, "{\"count\":5,\"lastTimestamp\":\"2025-11-26T19:30:00Z\",\"message\":\"again\"}");
    free(txt);
    cJSON_Delete(p);
}

/* ---- notes from a real verdict ------------------------------------------------------------ */

static struct lw_verdict *judge_fixture(const char *trace, double limit)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/traces/%s", lw_t_fixtures(), trace);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d)
        return NULL;
    struct lw_series *s = lw_series_new(NULL);
    struct dirent *de;
    double tmax = 0;
    /* add in directory order: the series sorts by t (profiles at the same t merge) */
    char *names[4096];
    size_t n = 0;
    while ((de = readdir(d)) && n < 4096)
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
            names[n++] = strdup(de->d_name);
    closedir(d);
    /* sort by name = by time */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strtod(names[j], NULL) < strtod(names[j - 1], NULL); j--) {
            char *x = names[j];
            names[j] = names[j - 1];
            names[j - 1] = x;
        }
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        struct lw_buf b = LW_BUF_INIT((size_t)64 << 20);
        struct lw_errbuf eb;
        struct lw_profile *p = NULL;
        if (lw_read_file(path, &b, &eb) == LW_OK && lw_pprof_parse(b.data, b.len, NULL, &p, &eb) == LW_OK) {
            double t = strtod(names[i], NULL);
            lw_series_add_profile(s, t, p);
            tmax = LW_MAX(tmax, t);
            lw_profile_free(p);
        }
        lw_buf_release(&b);
        free(names[i]);
    }
    struct lw_verdict *v = NULL;
    CHECK_EQ_INT(lw_analyze(s, tmax, limit, &v), LW_OK);
    lw_series_free(s);
    return v;
}

TEST(notes_from_real_verdict)
{
    struct lw_verdict *v = judge_fixture("http-transport", 0);
    CHECK(v != NULL);
    if (!v)
        return;
    CHECK_EQ_INT(v->verdict, LW_VERDICT_LEAK);
    char note[LW_REC_NOTE_MAX + 1];
    lw_rec_note_verdict(v, LW_REASON_GOROUTINE_LEAK, note, sizeof(note));
    fprintf(stderr, "  note: %s\n", note);
    CHECK(strstr(note, "goroutines ") == note);
    CHECK(strstr(note, " -> ") != NULL);
    CHECK(strstr(note, "persistConn") != NULL);
    CHECK(strchr(note, '\n') == NULL);
    CHECK(utf8_ok(note) && strlen(note) <= 1024);
    struct lw_rec_decision d;
    lw_rec_decide(LW_LEAK_OK, v, &d);
    CHECK_EQ_INT(d.next, LW_LEAK_LEAKING); /* no limit: a leak but no OOM forecast */
    CHECK_EQ_INT((int)d.nreasons, 1);
    CHECK_EQ_INT(d.reasons[0], LW_REASON_GOROUTINE_LEAK);
    CHECK(d.note_class && strstr(d.note_class, "persistConn"));
    CHECK_EQ_INT(lw_rec_status(d.next, v->memory.limit_bytes > 0, false, false), LW_STATUS_LEAKING);
    /* annotations from it */
    struct lw_annot a;
    lw_rec_annot_from_verdict(&a, LW_STATUS_LEAKING, v);
    fprintf(stderr, "  top-stack: %s\n", a.top_stack);
    CHECK(strstr(a.top_stack, "persistConn") != NULL);
    CHECK(strstr(a.summary, "goroutines") != NULL);
    lw_verdict_free(v);

    v = judge_fixture("healthy", 0);
    CHECK(v && v->verdict == LW_VERDICT_NO_LEAK);
    if (v) {
        lw_rec_decide(LW_LEAK_LEAKING, v, &d);
        CHECK_EQ_INT(d.next, LW_LEAK_OK);
        CHECK_EQ_INT((int)d.nreasons, 1);
        CHECK_EQ_INT(d.reasons[0], LW_REASON_LEAK_RESOLVED);
        lw_rec_note_verdict(v, LW_REASON_LEAK_RESOLVED, note, sizeof(note));
        CHECK(strncmp(note, "leak resolved: ", 15) == 0);
        lw_verdict_free(v);
    }
}

TEST(note_oom_predicted_and_postmortem)
{
    struct lw_verdict v;
    memset(&v, 0, sizeof(v));
    v.verdict = LW_VERDICT_LEAK;
    v.oom.predicted = true;
    v.oom.seconds_to_oom = 7800;
    v.oom.at = 1764185400 + 7800;
    v.oom.confidence = 0.83;
    snprintf(v.summary, sizeof(v.summary), "goroutines 1,204 -> 20,311 in 6h (+3,180/h)");
    char note[LW_REC_NOTE_MAX + 1];
    lw_rec_note_verdict(&v, LW_REASON_OOM_PREDICTED, note, sizeof(note));
    CHECK_STR(note, "OOM kill predicted in ~2h10m (at 2025-11-26T21:40:00Z, confidence 0.83); "
                    "goroutines 1,204 -> 20,311 in 6h (+3,180/h)");
    /* the GC peaks reach the limit materially earlier than the level: said */
    v.oom.state = LW_FC_GROWING;
    v.oom.seconds_env = 5400;
    lw_rec_note_verdict(&v, LW_REASON_OOM_PREDICTED, note, sizeof(note));
    CHECK_STR(note, "OOM kill predicted in ~2h10m (at 2025-11-26T21:40:00Z, earliest ~1h30m, "
                    "confidence 0.83); goroutines 1,204 -> 20,311 in 6h (+3,180/h)");
    v.oom.seconds_env = 7000; /* within 20%: not worth a second time */
    lw_rec_note_verdict(&v, LW_REASON_OOM_PREDICTED, note, sizeof(note));
    CHECK(strstr(note, "earliest") == NULL);
    struct lw_postmortem pm = {.container = "app", .killed_at = 1000 + 7200 + 600,
                               .limit_bytes = 64.0 * 1024 * 1024, .predicted = true,
                               .predicted_at = 1000, .predicted_oom_at = 1000 + 7200,
                               .top_stack = "net/http.(*persistConn).readLoop", .goroutines = 20311};
    lw_rec_note_oomkilled(&pm, note, sizeof(note));
    CHECK_STR(note, "container app was OOM-killed at its 64.0 MiB limit; predicted 2h10m before "
                    "(the kill came 10m after the forecast time); 20,311 goroutines before death; top stack: "
                    "net/http.(*persistConn).readLoop");
    pm.predicted = false;
    pm.top_stack = NULL;
    pm.goroutines = -1;
    lw_rec_note_oomkilled(&pm, note, sizeof(note));
    CHECK_STR(note, "container app was OOM-killed at its 64.0 MiB limit; not predicted");
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    lw_rec_note_scrape_failed(big, 4, note, sizeof(note));
    CHECK(strlen(note) <= 1024 && utf8_ok(note));
    CHECK(strncmp(note, "pprof scrape failed 4 times in a row: xxx", 41) == 0);
}

/* ---- state machine -------------------------------------------------------------------------- */

TEST(state_machine)
{
    struct lw_verdict v;
    memset(&v, 0, sizeof(v));
    struct lw_rec_decision d;
    v.verdict = LW_VERDICT_INSUFFICIENT;
    lw_rec_decide(LW_LEAK_LEAKING, &v, &d);
    CHECK_EQ_INT(d.next, LW_LEAK_LEAKING);
    CHECK_EQ_INT((int)d.nreasons, 0);
    v.verdict = LW_VERDICT_NO_LEAK;
    lw_rec_decide(LW_LEAK_NONE, &v, &d);
    CHECK_EQ_INT(d.next, LW_LEAK_OK);
    CHECK_EQ_INT((int)d.nreasons, 0); /* nothing to resolve */
    v.verdict = LW_VERDICT_LEAK;
    v.kinds = LW_LEAK_HEAP | LW_LEAK_MEMORY;
    lw_rec_decide(LW_LEAK_OK, &v, &d);
    CHECK_EQ_INT(d.next, LW_LEAK_LEAKING);
    CHECK_EQ_INT(d.reasons[0], LW_REASON_MEMORY_LEAK);
    v.oom.predicted = true;
    v.memory.limit_bytes = 64 << 20;
    lw_rec_decide(LW_LEAK_LEAKING, &v, &d);
    CHECK_EQ_INT(d.next, LW_LEAK_OOM);
    CHECK_EQ_INT((int)d.nreasons, 1);
    CHECK_EQ_INT(d.reasons[0], LW_REASON_OOM_PREDICTED);
    v.verdict = LW_VERDICT_NO_LEAK;
    lw_rec_decide(LW_LEAK_OOM, &v, &d);
    CHECK_EQ_INT(d.reasons[0], LW_REASON_LEAK_RESOLVED);
    CHECK_EQ_INT(lw_rec_status(LW_LEAK_OK, true, false, false), LW_STATUS_OK);
    CHECK_EQ_INT(lw_rec_status(LW_LEAK_OK, false, false, false), LW_STATUS_NO_LIMIT);
    CHECK_EQ_INT(lw_rec_status(LW_LEAK_OK, false, true, false), LW_STATUS_SCRAPE_FAILING);
    CHECK_EQ_INT(lw_rec_status(LW_LEAK_LEAKING, false, true, false), LW_STATUS_LEAKING);
    CHECK_EQ_INT(lw_rec_status(LW_LEAK_OOM, true, false, false), LW_STATUS_OOM_PREDICTED);
    CHECK_EQ_INT(lw_rec_status(LW_LEAK_OOM, true, false, true), LW_STATUS_OOMKILLED);
    CHECK_STR(lw_pod_status_name(LW_STATUS_OOM_PREDICTED), "oom-predicted");
    CHECK_STR(lw_pod_status_name(LW_STATUS_SCRAPE_FAILING), "scrape-failing");
    CHECK_STR(lw_pod_status_name(LW_STATUS_NO_LIMIT), "no-limit");
}

/* ---- annotations ------------------------------------------------------------------------------ */

/* RFC 7386 on metadata.annotations only (enough for these patches). */
static void apply_merge(cJSON *pod, const cJSON *patch)
{
    cJSON *md = cJSON_GetObjectItem(pod, "metadata");
    if (!md)
        md = cJSON_AddObjectToObject(pod, "metadata");
    cJSON *ann = cJSON_GetObjectItem(md, "annotations");
    if (!ann)
        ann = cJSON_AddObjectToObject(md, "annotations");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "metadata"), "annotations"))
    {
        cJSON_DeleteItemFromObjectCaseSensitive(ann, it->string);
        if (!cJSON_IsNull(it))
            cJSON_AddItemToObject(ann, it->string, cJSON_Duplicate(it, 1));
    }
}

static size_t our_total(const cJSON *pod)
{
    size_t n = 0;
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "annotations");
    for (size_t i = 0; i < 5; i++) {
        const char *v = sget(ann, lw_rec_annotation_keys[i]);
        if (v)
            n += strlen(lw_rec_annotation_keys[i]) + strlen(v);
    }
    return n;
}

TEST(annotations_written_only_on_change)
{
    const double t0 = 1764185400;
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"annotations\":{\"leakwatch.io/scrape\":\"true\"}}}");
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_LEAKING;
    snprintf(a.summary, sizeof(a.summary), "goroutines 1,204 -> 20,311 in 6h");
    snprintf(a.top_stack, sizeof(a.top_stack), "net/http.(*persistConn).readLoop");
    cJSON *p = lw_rec_annot_patch(&a, pod, t0, NULL);
    CHECK(p != NULL);
    const cJSON *pa = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    CHECK_STR(sget(pa, LW_ANN_STATUS), "leaking");
    CHECK_STR(sget(pa, LW_ANN_UPDATED_AT), "2025-11-26T19:30:00Z");
    CHECK(!cJSON_GetObjectItem(pa, LW_ANN_OOM_AT));      /* none, and the pod has none */
    CHECK(!cJSON_GetObjectItem(pa, "leakwatch.io/scrape")); /* others' keys untouched */
    apply_merge(pod, p);
    cJSON_Delete(p);
    /* the same state a scrape later: nothing to write (updated-at alone never writes) */
    CHECK(lw_rec_annot_patch(&a, pod, t0 + 30, NULL) == NULL);
    CHECK(lw_rec_annot_patch(&a, pod, t0 + 86400, NULL) == NULL);
    /* only the summary's numbers moved: not before the refresh interval */
    snprintf(a.summary, sizeof(a.summary), "goroutines 1,204 -> 20,399 in 6h");
    CHECK(lw_rec_annot_patch(&a, pod, t0 + 60, NULL) == NULL);
    p = lw_rec_annot_patch(&a, pod, t0 + 601, NULL);
    CHECK(p != NULL);
    apply_merge(pod, p);
    cJSON_Delete(p);
    /* a status change is written at once */
    a.status = LW_STATUS_OOM_PREDICTED;
    a.predicted_oom_at = t0 + 7200;
    p = lw_rec_annot_patch(&a, pod, t0 + 620, NULL);
    CHECK(p != NULL);
    pa = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    CHECK_STR(sget(pa, LW_ANN_OOM_AT), "2025-11-26T21:30:00Z");
    apply_merge(pod, p);
    cJSON_Delete(p);
    /* the forecast drifting by a minute is not material; by an hour it is */
    a.predicted_oom_at = t0 + 7260;
    CHECK(lw_rec_annot_patch(&a, pod, t0 + 650, NULL) == NULL);
    a.predicted_oom_at = t0 + 3600;
    p = lw_rec_annot_patch(&a, pod, t0 + 660, NULL);
    CHECK(p != NULL);
    apply_merge(pod, p);
    cJSON_Delete(p);
    /* resolved: the OOM time and top stack are removed with nulls */
    a.status = LW_STATUS_OK;
    a.predicted_oom_at = 0;
    a.top_stack[0] = '\0';
    p = lw_rec_annot_patch(&a, pod, t0 + 700, NULL);
    CHECK(p != NULL);
    pa = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(pa, LW_ANN_OOM_AT)));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(pa, LW_ANN_TOP_STACK)));
    apply_merge(pod, p);
    cJSON_Delete(p);
    CHECK(lw_rec_annot_patch(&a, pod, t0 + 710, NULL) == NULL);
    /* someone deleted one of ours: written again */
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "annotations"),
                               LW_ANN_STATUS);
    p = lw_rec_annot_patch(&a, pod, t0 + 720, NULL);
    CHECK(p != NULL);
    cJSON_Delete(p);
    cJSON_Delete(pod);
}

TEST(annotations_capped_at_4k)
{
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_OOM_PREDICTED;
    a.predicted_oom_at = 1764185400 + 3600;
    /* both near 1 KiB of 3-byte characters: under the cap as is */
    size_t n = 0;
    while (n + 3 < sizeof(a.summary) - 1)
        memcpy(a.summary + n, "語", 3), n += 3;
    memcpy(a.top_stack, a.summary, sizeof(a.summary));
    cJSON *pod = cJSON_Parse("{\"metadata\":{}}");
    cJSON *p = lw_rec_annot_patch(&a, pod, 1764185400, NULL);
    CHECK(p != NULL);
    apply_merge(pod, p);
    cJSON_Delete(p);
    CHECK(our_total(pod) < LW_REC_ANNOT_TOTAL_MAX);
    const cJSON *ann = cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "annotations");
    for (size_t i = 0; i < 5; i++) {
        const char *v = sget(ann, lw_rec_annotation_keys[i]);
        CHECK(v != NULL);
        CHECK(utf8_ok(v));
    }
    /* the patch is valid JSON even with quotes and backslashes in values */
    memset(&a, 0, sizeof(a));
    snprintf(a.summary, sizeof(a.summary), "\"},\"x\":\"\\ injected");
    cJSON_Delete(pod);
    pod = cJSON_Parse("{}");
    p = lw_rec_annot_patch(&a, pod, 1764185400, NULL);
    char *txt = cJSON_PrintUnformatted(p);
    cJSON *back = cJSON_Parse(txt);
    CHECK(back != NULL);
    CHECK_STR(sget(cJSON_GetObjectItem(cJSON_GetObjectItem(back, "metadata"), "annotations"), LW_ANN_SUMMARY),
              "\"},\"x\":\"\\ injected");
    cJSON_Delete(back);
    free(txt);
    cJSON_Delete(p);
    cJSON_Delete(pod);
}

TEST(optout_nulls_ours_only)
{
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"annotations\":{\"leakwatch.io/scrape\":\"false\","
                             "\"leakwatch.io/status\":\"leaking\",\"leakwatch.io/updated-at\":\"x\","
                             "\"other.io/x\":\"y\"}}}");
    cJSON *p = lw_rec_annot_optout_patch(pod);
    char *txt = cJSON_PrintUnformatted(p);
    CHECK_STR(txt, "{\"metadata\":{\"annotations\":{\"leakwatch.io/status\":null,"
                   "\"leakwatch.io/updated-at\":null}}}");
    free(txt);
    apply_merge(pod, p);
    cJSON_Delete(p);
    CHECK(lw_rec_annot_optout_patch(pod) == NULL); /* nothing left: no patch */
    CHECK(lw_rec_annot_optout_patch(NULL) == NULL);
    cJSON_Delete(pod);
}

TEST(duration_format)
{
    char b[32];
    CHECK_STR(lw_rec_fmt_duration(45, b, sizeof(b)), "45s");
    CHECK_STR(lw_rec_fmt_duration(600, b, sizeof(b)), "10m");
    CHECK_STR(lw_rec_fmt_duration(7800, b, sizeof(b)), "2h10m");
    CHECK_STR(lw_rec_fmt_duration(7200, b, sizeof(b)), "2h");
    CHECK_STR(lw_rec_fmt_duration(93600, b, sizeof(b)), "1d2h");
    CHECK_STR(lw_rec_fmt_duration(1e12, b, sizeof(b)), "11574074d");
}

/* Numbers alone vs a new phrase: the first waits for the refresh, the second
 * is written at once (e.g. the memory source named once the working set
 * arrives). */
TEST(summary_shape_is_material)
{
    CHECK(lw_rec_summary_same_shape("goroutines 1,204 -> 20,311 in 6h (+3,180/h)",
                                    "goroutines 1,204 -> 20,399 in 6h10m (+3,001/h)"));
    CHECK(lw_rec_summary_same_shape("insufficient data: 2 goroutine samples over 5s (need at least 5 spanning 5m)",
                                    "insufficient data: 3 goroutine samples over 10s (need at least 5 spanning 5m)"));
    CHECK(lw_rec_summary_same_shape("no leak; memory 12.5 MiB (runtime)", "no leak; memory 900 KiB (runtime)"));
    CHECK(lw_rec_summary_same_shape("", ""));
    CHECK(!lw_rec_summary_same_shape("insufficient data: 2 goroutine samples over 5s",
                                     "insufficient data: 2 goroutine samples over 5s; memory 118 MiB (working set from the kubelet)"));
    CHECK(!lw_rec_summary_same_shape("no leak; memory 12 MiB (working set from the kubelet)",
                                     "no leak; memory 12 MiB (working set from metrics.k8s.io)"));
    CHECK(!lw_rec_summary_same_shape("insufficient data: 4 goroutine samples", "no leak: goroutines 4 -> 4 in 5m"));
    CHECK(!lw_rec_summary_same_shape("a b", "a b c"));
    CHECK(!lw_rec_summary_same_shape("a", NULL));

    const double t0 = 1764185400;
    cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"p\"}}");
    struct lw_annot a;
    memset(&a, 0, sizeof(a));
    a.status = LW_STATUS_OK;
    snprintf(a.summary, sizeof(a.summary), "insufficient data: 1 goroutine samples over 0s");
    cJSON *p = lw_rec_annot_patch(&a, pod, t0, NULL);
    CHECK(p != NULL);
    apply_merge(pod, p);
    cJSON_Delete(p);
    snprintf(a.summary, sizeof(a.summary), "insufficient data: 2 goroutine samples over 1s");
    CHECK(lw_rec_annot_patch(&a, pod, t0 + 1, NULL) == NULL); /* numbers: wait */
    snprintf(a.summary, sizeof(a.summary),
             "insufficient data: 2 goroutine samples over 1s; memory 118 MiB (working set from the kubelet)");
    p = lw_rec_annot_patch(&a, pod, t0 + 2, NULL); /* a new phrase: now */
    CHECK(p != NULL);
    const cJSON *pa = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations");
    CHECK_STR(sget(pa, LW_ANN_SUMMARY), a.summary);
    apply_merge(pod, p);
    cJSON_Delete(p);
    /* the numbers move for 5 minutes: written once the refresh (300 s) is due */
    int writes = 0;
    for (int i = 3; i <= 400; i++) {
        snprintf(a.summary, sizeof(a.summary),
                 "insufficient data: %d goroutine samples over %ds; memory %d MiB (working set from the kubelet)",
                 i, i, 118 + i);
        p = lw_rec_annot_patch(&a, pod, t0 + i, NULL);
        if (p) {
            writes++;
            CHECK(i >= 302);
            apply_merge(pod, p);
            cJSON_Delete(p);
        }
    }
    CHECK_EQ_INT(writes, 1);
    cJSON_Delete(pod);
}

TEST_LIST(T(utf8_cut_on_boundaries), T(microtime_has_six_digits), T(event_names),
          T(reporting_instance_bounded), T(events_v1_body_is_valid), T(core_v1_body),
          T(series_patch_bodies), T(notes_from_real_verdict), T(note_oom_predicted_and_postmortem),
          T(state_machine), T(annotations_written_only_on_change), T(annotations_capped_at_4k),
          T(optout_nulls_ours_only), T(duration_format), T(summary_shape_is_material));
TEST_MAIN()
