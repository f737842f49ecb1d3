/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_target.c: pkg/target, pod object -> scrape target. Pods are built as
 * JSON in the test (single quotes stand for double quotes, for legibility)
 * and one real pod as the test API server returns it (tests/apiserver, saved
 * in the fuzz corpus). Covers the three annotation conventions and their
 * precedence, port/port-name resolution, containers, limits from every
 * source, hostile paths and ports, skip reasons and restart identity.
 */
#include "harness.h"

#include "base/base.h"
#include "target/target.h"

#include <cjson/cJSON.h>

/* Parse JSON with ' for ". */
static cJSON *J(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (!d)
        abort();
    for (size_t i = 0; i <= n; i++)
        d[i] = s[i] == '\'' ? '"' : s[i];
    cJSON *j = cJSON_Parse(d);
    if (!j)
        fprintf(stderr, "bad test JSON: %s\n", d);
    free(d);
    return j;
}

/* A Running pod "shop/app-1" with the given annotations (JSON object body),
 * containers (JSON array body) and containerStatuses (JSON array body);
 * extra_spec / extra_status are appended inside spec / status. */
static cJSON *pod5(const char *annots, const char *containers, const char *statuses,
                   const char *extra_spec, const char *extra_status)
{
    static char buf[16384];
    snprintf(buf, sizeof(buf),
             "{'kind':'Pod','apiVersion':'v1','metadata':{'name':'app-1','namespace':'shop',"
             "'uid':'0b5e1c2d-1111-4222-8333-944445555666','annotations':{%s}},"
             "'spec':{'containers':[%s]%s%s},"
             "'status':{'phase':'Running','podIP':'10.244.1.7','containerStatuses':[%s]%s%s}}",
             annots, containers, extra_spec[0] ? "," : "", extra_spec, statuses,
             extra_status[0] ? "," : "", extra_status);
    return J(buf);
}

#define APP_CT "{'name':'app','ports':[{'name':'pprof','containerPort':6060}],'resources':{'limits':{'memory':'256Mi'}}}"
#define APP_ST "{'name':'app','restartCount':0,'containerID':'containerd://c1','state':{'running':{}}}"

static cJSON *pod(const char *annots)
{
    return pod5(annots, APP_CT, APP_ST, "", "");
}

static int run(cJSON *p, const struct lw_target_opts *o, struct lw_target_set *s)
{
    struct lw_errbuf eb;
    eb.msg[0] = '\0';
    int rc = lw_target_from_pod(p, o, s, &eb);
    if (s->status == LW_TARGET_ERROR && strcmp(eb.msg, s->reason) != 0) {
        fprintf(stderr, "errbuf and reason differ: %s | %s\n", eb.msg, s->reason);
        rc = 12345;
    }
    cJSON_Delete(p);
    return rc;
}

static struct lw_target_set S; /* big: keep off the stack */

TEST(test_not_opted_in)
{
    CHECK_EQ_INT(run(pod(""), NULL, &S), LW_OK);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
    CHECK_STR(S.reason, "");
    CHECK_EQ_INT(run(pod("'leakwatch.io/scrape':'false'"), NULL, &S), LW_OK);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
    /* no annotations object at all */
    CHECK_EQ_INT(run(J("{'metadata':{'name':'x','namespace':'y','uid':'u'}}"), NULL, &S), LW_OK);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
    /* explicit opt-out wins over Pyroscope's opt-in */
    run(pod("'leakwatch.io/scrape':'false','profiles.grafana.com/goroutine.scrape':'true'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
    /* other tools' non-"true" values are quietly not an opt-in */
    run(pod("'parca.dev/scrape':'yes'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
    /* our own key with a bad value is an error naming it */
    CHECK_EQ_INT(run(pod("'leakwatch.io/scrape':'yes'"), NULL, &S), LW_EINVAL);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "leakwatch.io/scrape");
    CHECK(strstr(S.reason, "shop/app-1") != NULL);
    /* not an object */
    CHECK_EQ_INT(run(J("[1,2]"), NULL, &S), LW_EINVAL);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_EQ_INT(lw_target_from_pod(NULL, NULL, &S, NULL), LW_EINVAL);
}

TEST(test_leakwatch_defaults)
{
    CHECK_EQ_INT(run(pod("'leakwatch.io/scrape':'true'"), NULL, &S), LW_OK);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    const struct lw_target *t = &S.target;
    CHECK_EQ_INT(t->convention, LW_TARGET_CONV_LEAKWATCH);
    CHECK_STR(t->ns, "shop");
    CHECK_STR(t->name, "app-1");
    CHECK_STR(t->container, "app");
    CHECK_STR(t->series_key, "0b5e1c2d-1111-4222-8333-944445555666/app");
    CHECK_EQ_INT(t->port, 6060);
    CHECK_STR(t->port_name, "pprof");
    CHECK_STR(t->scheme, "http");
    CHECK_STR(t->path, "/debug/pprof");
    CHECK_STR(t->goroutine_path, "/debug/pprof/goroutine");
    CHECK_STR(t->base_url, "http://10.244.1.7:6060");
    CHECK_STR(t->url, "http://10.244.1.7:6060/debug/pprof/goroutine");
    CHECK_NEAR(t->interval_s, 30, 1e-9);
    CHECK_EQ_INT(t->limit_bytes, 256LL << 20);
    CHECK_EQ_INT(t->limit_source, LW_LIMIT_SPEC);
    CHECK_EQ_INT(t->no_limit, 0);
    CHECK_EQ_INT(t->restart_count, 0);
    CHECK_STR(t->container_id, "containerd://c1");
    CHECK_EQ_INT(t->state, LW_CSTATE_RUNNING);
    CHECK_STR(t->warning, "");
    char u[512];
    CHECK_EQ_INT(lw_target_url(t, "goroutine", "debug=1", u, sizeof(u)), LW_OK);
    CHECK_STR(u, "http://10.244.1.7:6060/debug/pprof/goroutine?debug=1");
    CHECK_EQ_INT(lw_target_url(t, "heap", NULL, u, sizeof(u)), LW_OK);
    CHECK_STR(u, "http://10.244.1.7:6060/debug/pprof/heap");
    CHECK_EQ_INT(lw_target_url(t, "goroutineleak", "", u, sizeof(u)), LW_OK);
    CHECK_STR(u, "http://10.244.1.7:6060/debug/pprof/goroutineleak");
    CHECK_EQ_INT(lw_target_url(t, "../x", NULL, u, sizeof(u)), LW_EINVAL);
    CHECK_EQ_INT(lw_target_url(t, "heap", "a b", u, sizeof(u)), LW_EINVAL);
    CHECK_EQ_INT(lw_target_url(t, "heap", "x\r\nHost:y", u, sizeof(u)), LW_EINVAL);
    CHECK_EQ_INT(lw_target_url(t, "heap", NULL, u, 10), LW_ETOOBIG);
    CHECK_STR(lw_target_status_name(S.status), "ok");
    CHECK_STR(lw_limit_source_name(t->limit_source), "container-spec");
    CHECK_STR(lw_target_conv_name(t->convention), "leakwatch.io");
}

TEST(test_leakwatch_all_keys)
{
    run(pod5("'leakwatch.io/scrape':'TRUE','leakwatch.io/port':'8443','leakwatch.io/scheme':'HTTPS',"
             "'leakwatch.io/path':'/internal/pprof/','leakwatch.io/interval':'2m30s'",
             "{'name':'app','ports':[{'name':'https','containerPort':8443},{'name':'pprof','containerPort':6060}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.url, "https://10.244.1.7:8443/internal/pprof/goroutine");
    CHECK_STR(S.target.path, "/internal/pprof");
    CHECK_STR(S.target.port_name, "https");
    CHECK_NEAR(S.target.interval_s, 150, 1e-9);
    /* path naming the goroutine endpoint: the prefix is its parent */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/path':'/x/goroutine'"), NULL, &S);
    CHECK_STR(S.target.goroutine_path, "/x/goroutine");
    CHECK_STR(S.target.path, "/x");
    /* root */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/path':'/'"), NULL, &S);
    CHECK_STR(S.target.url, "http://10.244.1.7:6060/goroutine");
    CHECK_STR(S.target.path, "");
    /* percent-encoding is fine when valid */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/path':'/a%7Eb/pprof'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.url, "http://10.244.1.7:6060/a%7Eb/pprof/goroutine");
}

TEST(test_interval)
{
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/interval':'1s'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_NEAR(S.target.interval_s, 5, 1e-9);
    CHECK(strstr(S.target.warning, "clamped") != NULL);
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/interval':'3h'"), NULL, &S);
    CHECK_NEAR(S.target.interval_s, 3600, 1e-9);
    CHECK_EQ_INT(run(pod("'leakwatch.io/scrape':'true','leakwatch.io/interval':'soon'"), NULL, &S),
                 LW_EINVAL);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "leakwatch.io/interval");
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/interval':'0s'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    struct lw_target_opts o;
    lw_target_opts_default(&o);
    o.default_interval_s = 60;
    o.min_interval_s = 10;
    run(pod("'leakwatch.io/scrape':'true'"), &o, &S);
    CHECK_NEAR(S.target.interval_s, 60, 1e-9);
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/interval':'7s'"), &o, &S);
    CHECK_NEAR(S.target.interval_s, 10, 1e-9);
}

TEST(test_pyroscope)
{
    run(pod5("'profiles.grafana.com/goroutine.scrape':'true','profiles.grafana.com/goroutine.port_name':'debug',"
             "'profiles.grafana.com/goroutine.path':'/custom/goroutines','profiles.grafana.com/goroutine.scheme':'https'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'debug','containerPort':7070}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.convention, LW_TARGET_CONV_PYROSCOPE);
    /* Pyroscope's path names the goroutine endpoint itself */
    CHECK_STR(S.target.url, "https://10.244.1.7:7070/custom/goroutines");
    CHECK_STR(S.target.path, "/custom");
    char u[512];
    CHECK_EQ_INT(lw_target_url(&S.target, "heap", "gc=1", u, sizeof(u)), LW_OK);
    CHECK_STR(u, "https://10.244.1.7:7070/custom/heap?gc=1");
    /* default Pyroscope path, numeric port */
    run(pod5("'profiles.grafana.com/goroutine.scrape':'true','profiles.grafana.com/goroutine.port':'8080'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'debug','containerPort':7070}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.url, "http://10.244.1.7:8080/debug/pprof/goroutine");
    CHECK_STR(S.target.port_name, "http");
    /* a Pyroscope path of "/" is the goroutine endpoint at the root, not an empty path */
    run(pod("'profiles.grafana.com/goroutine.scrape':'true','profiles.grafana.com/goroutine.path':'/'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.url, "http://10.244.1.7:6060/");
    CHECK_STR(S.target.path, "");
    /* Pyroscope's other profile types do not opt in */
    run(pod("'profiles.grafana.com/memory.scrape':'true'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
    /* disabled convention */
    struct lw_target_opts o;
    lw_target_opts_default(&o);
    o.conventions = LW_TARGET_CONV_LEAKWATCH | LW_TARGET_CONV_PARCA;
    run(pod("'profiles.grafana.com/goroutine.scrape':'true'"), &o, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_NONE);
}

TEST(test_parca_and_precedence)
{
    run(pod5("'parca.dev/scrape':'true','parca.dev/port':'7070','parca.dev/path':'/prof'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'debug','containerPort':7070}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.convention, LW_TARGET_CONV_PARCA);
    CHECK_STR(S.target.url, "http://10.244.1.7:7070/prof/goroutine");
    /* all three present: leakwatch.io wins, and other keys are not mixed in */
    run(pod5("'parca.dev/scrape':'true','parca.dev/port':'7070','parca.dev/path':'/prof',"
             "'profiles.grafana.com/goroutine.scrape':'true','profiles.grafana.com/goroutine.port':'9090',"
             "'leakwatch.io/scrape':'true','leakwatch.io/port':'8080'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'debug','containerPort':7070}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.convention, LW_TARGET_CONV_LEAKWATCH);
    CHECK_STR(S.target.url, "http://10.244.1.7:8080/debug/pprof/goroutine");
    /* Pyroscope beats Parca */
    run(pod5("'parca.dev/scrape':'true','parca.dev/port':'7070',"
             "'profiles.grafana.com/goroutine.scrape':'true','profiles.grafana.com/goroutine.port':'8080'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'debug','containerPort':7070}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.convention, LW_TARGET_CONV_PYROSCOPE);
    CHECK_EQ_INT(S.target.port, 8080);
    /* Parca has no port-name key: leakwatch.io/port-name is not mixed in */
    run(pod5("'parca.dev/scrape':'true','leakwatch.io/port-name':'debug'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'debug','containerPort':7070}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "parca.dev/port");
    CHECK(strstr(S.reason, "ambiguous") != NULL);
    CHECK(strstr(S.reason, "http:8080, debug:7070") != NULL);
}

TEST(test_port_resolution)
{
    /* a single declared port, not named pprof */
    run(pod5("'leakwatch.io/scrape':'true'", "{'name':'app','ports':[{'name':'metrics','containerPort':9090}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.port, 9090);
    /* several ports, one named pprof */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'pprof','containerPort':6061}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.port, 6061);
    /* UDP ports do not count */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'name':'dns','containerPort':53,'protocol':'UDP'},{'containerPort':6060}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.port, 6060);
    CHECK_STR(S.target.port_name, "");
    /* no ports */
    CHECK_EQ_INT(run(pod5("'leakwatch.io/scrape':'true'", "{'name':'app'}", APP_ST, "", ""), NULL, &S),
                 LW_EINVAL);
    CHECK(strstr(S.reason, "no port") != NULL);
    CHECK_STR(S.annotation, "leakwatch.io/port");
    /* ambiguous */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'name':'http','containerPort':8080},{'name':'metrics','containerPort':9090}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "ambiguous port: 2 TCP ports") != NULL);
    CHECK(strstr(S.reason, "leakwatch.io/port-name") != NULL);
    /* unknown port name, UDP port name */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'nope'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "leakwatch.io/port-name");
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'dns'",
             "{'name':'app','ports':[{'name':'dns','containerPort':53,'protocol':'UDP'}]}", APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "not a TCP port") != NULL);
    /* port and port-name must agree */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'pprof','leakwatch.io/port':'6060'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'pprof','leakwatch.io/port':'6061'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "disagree") != NULL);
    /* an undeclared numeric port is allowed (single container) */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/port':'7777'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.url, "http://10.244.1.7:7777/debug/pprof/goroutine");
}

TEST(test_hostile_ports)
{
    const char *bad[] = {"0", "70000", "80abc", "-1", "+80", " 80", "8 0", "", "0x50", "65536",
                         "123456", "80\n"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(bad); i++) {
        cJSON *p = pod("'leakwatch.io/scrape':'true'");
        cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations"),
                                "leakwatch.io/port", bad[i]);
        int rc = run(p, NULL, &S);
        CHECK(rc == LW_EINVAL || rc == LW_ERANGE);
        CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
        CHECK_STR(S.annotation, "leakwatch.io/port");
        CHECK(strstr(S.reason, "pod shop/app-1") == S.reason);
        CHECK(strchr(S.reason, '\n') == NULL);
        CHECK_STR(S.target.url, "");
    }
    /* parca's key too, and a non-string value */
    run(pod("'parca.dev/scrape':'true','parca.dev/port':'99999'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "parca.dev/port");
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/port':6060"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "must be a string") != NULL);
    /* a bad port name syntax */
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'Pprof@x'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    /* a declared containerPort out of range is ignored, not used */
    run(pod5("'leakwatch.io/scrape':'true'", "{'name':'app','ports':[{'name':'pprof','containerPort':70000}]}",
             APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "no port") != NULL);
}

TEST(test_hostile_paths)
{
    static char longp[400];
    longp[0] = '/';
    memset(longp + 1, 'a', 300);
    longp[301] = '\0';
    const char *bad[] = {"@evil/", "//host/", "http://x", "/a\r\nHost: x", "/../admin", "/a b",
                         longp, "/a/../b", "/a/..", "/./x", "/a\\b", "/a?x=1", "/a#f", "/a@b",
                         "/%2e%2e/admin", "/a%2Fb", "/a%0d%0aX", "/a%zz", "/a%4", "/a%00",
                         "/\x7f", "/\xc3\xa9", "debug/pprof", "/a//b", "/a%20b", "/a%40b",
                         "/a\tb", "/a%5cb"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(bad); i++) {
        cJSON *p = pod("'leakwatch.io/scrape':'true'");
        cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations"),
                                "leakwatch.io/path", bad[i]);
        int rc = run(p, NULL, &S);
        if (S.status != LW_TARGET_ERROR)
            fprintf(stderr, "accepted hostile path #%zu: %s\n", i, S.target.url);
        CHECK_EQ_INT(rc, LW_EINVAL);
        CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
        CHECK_STR(S.annotation, "leakwatch.io/path");
        CHECK(strstr(S.reason, "leakwatch.io/path") != NULL);
        CHECK(strchr(S.reason, '\r') == NULL && strchr(S.reason, '\n') == NULL);
        CHECK_STR(S.target.url, "");
    }
    /* the checker directly, on good paths */
    const char *good[] = {"/debug/pprof", "/", "/a/b/", "/x:y/z", "/a.b/c..d/...", "/a%7e", "/_-~+,;=!$&'()*"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(good); i++) {
        struct lw_errbuf eb;
        eb.msg[0] = '\0';
        int rc = lw_target_check_path(good[i], strlen(good[i]), &eb);
        if (rc != LW_OK)
            fprintf(stderr, "rejected good path %s: %s\n", good[i], eb.msg);
        CHECK_EQ_INT(rc, LW_OK);
    }
    /* the exact cap */
    longp[LW_TARGET_PATH_MAX] = '\0';
    CHECK_EQ_INT(lw_target_check_path(longp, strlen(longp), NULL), LW_OK);
    longp[LW_TARGET_PATH_MAX] = 'a';
    longp[LW_TARGET_PATH_MAX + 1] = '\0';
    CHECK_EQ_INT(lw_target_check_path(longp, strlen(longp), NULL), LW_EINVAL);
    /* Pyroscope path and scheme are checked the same way */
    run(pod("'profiles.grafana.com/goroutine.scrape':'true','profiles.grafana.com/goroutine.path':'@evil/x'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "profiles.grafana.com/goroutine.path");
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/scheme':'file'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "leakwatch.io/scheme");
    run(pod("'leakwatch.io/scrape':'true','leakwatch.io/scheme':'http://evil/'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    /* any annotation value we read is capped */
    static char longv[600];
    memset(longv, '1', 500);
    longv[500] = '\0';
    cJSON *p = pod("'leakwatch.io/scrape':'true'");
    cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "annotations"),
                            "leakwatch.io/interval", longv);
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "too long") != NULL);
}

#define TWO_CT                                                                                  \
    "{'name':'app','ports':[{'name':'pprof','containerPort':6060}],'resources':{'limits':{'memory':'500Mi'}}}," \
    "{'name':'sidecar','ports':[{'name':'admin','containerPort':15000}],'resources':{'limits':{'memory':'64Mi'}}}"
#define TWO_ST                                                                                  \
    APP_ST ",{'name':'sidecar','restartCount':3,'containerID':'containerd://s3','state':{'running':{}}}"

TEST(test_containers)
{
    /* the container owning the port */
    run(pod5("'leakwatch.io/scrape':'true'", TWO_CT, TWO_ST, "", ""), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.container, "app");
    CHECK_EQ_INT(S.target.limit_bytes, 500LL << 20);
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'admin'", TWO_CT, TWO_ST, "", ""), NULL, &S);
    CHECK_STR(S.target.container, "sidecar");
    CHECK_EQ_INT(S.target.port, 15000);
    CHECK_EQ_INT(S.target.limit_bytes, 64LL << 20);
    CHECK_EQ_INT(S.target.restart_count, 3);
    /* leakwatch.io/container chooses whose limit applies */
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port':'7000','leakwatch.io/container':'sidecar'",
             TWO_CT, TWO_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.container, "sidecar");
    CHECK_EQ_INT(S.target.port, 7000);
    /* port-name searched in the chosen container only */
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'pprof','leakwatch.io/container':'sidecar'",
             TWO_CT, TWO_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    /* with a container chosen, its single port is the default */
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/container':'sidecar'", TWO_CT, TWO_ST, "", ""), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.port, 15000);
    /* undeclared port with two containers: ambiguous, unless default-container says */
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port':'7000'", TWO_CT, TWO_ST, "", ""), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "leakwatch.io/container");
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port':'7000','kubectl.kubernetes.io/default-container':'sidecar'",
             TWO_CT, TWO_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.container, "sidecar");
    /* unknown container; init containers are not candidates */
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/container':'init'", TWO_CT, TWO_ST,
             "'initContainers':[{'name':'init','ports':[{'name':'pprof','containerPort':1}]}]", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK_STR(S.annotation, "leakwatch.io/container");
    /* an init container's pprof port does not make the choice ambiguous */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT, APP_ST,
             "'initContainers':[{'name':'init','ports':[{'name':'pprof','containerPort':1234}]}]",
             "'initContainerStatuses':[{'name':'init','restartCount':9,'state':{'terminated':{'reason':'Completed'}}}]"),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.port, 6060);
    CHECK_EQ_INT(S.target.restart_count, 0);
    /* same port name in two containers */
    run(pod5("'leakwatch.io/scrape':'true','leakwatch.io/port-name':'pprof'",
             "{'name':'a','ports':[{'name':'pprof','containerPort':1}]},{'name':'b','ports':[{'name':'pprof','containerPort':2}]}",
             "", "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "several") != NULL);
    /* no containers */
    run(pod5("'leakwatch.io/scrape':'true'", "", "", "", ""), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
}

TEST(test_limits)
{
    /* status (in-place resize) beats spec */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT,
             "{'name':'app','restartCount':0,'state':{'running':{}},'resources':{'limits':{'memory':'1.5Gi'}}}", "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_bytes, 1610612736LL);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_STATUS);
    /* a plain byte count */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'containerPort':6060}],'resources':{'limits':{'memory':'128974848'}}}", APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_bytes, 128974848LL);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_SPEC);
    /* decimal suffix */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'containerPort':6060}],'resources':{'limits':{'memory':'1G'}}}", APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_bytes, 1000000000LL);
    /* status entry without resources falls back to spec */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT,
             "{'name':'app','state':{'running':{}},'resources':{'requests':{'memory':'1Gi'}}}", "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_SPEC);
    CHECK_EQ_INT(S.target.limit_bytes, 256LL << 20);
    /* pod-level only */
    run(pod5("'leakwatch.io/scrape':'true'", "{'name':'app','ports':[{'containerPort':6060}]}", APP_ST,
             "'resources':{'limits':{'memory':'500Mi','cpu':'1'}}", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_bytes, 500LL << 20);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_POD_SPEC);
    CHECK_EQ_INT(S.target.pod_limit_bytes, 500LL << 20);
    CHECK_EQ_INT(S.target.no_limit, 0);
    /* pod-level status beats pod-level spec; the container limit still wins but pod limit is reported */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT, APP_ST, "'resources':{'limits':{'memory':'500Mi'}}",
             "'resources':{'limits':{'memory':'600Mi'}}"),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_SPEC);
    CHECK_EQ_INT(S.target.pod_limit_bytes, 600LL << 20);
    run(pod5("'leakwatch.io/scrape':'true'", "{'name':'app','ports':[{'containerPort':6060}]}", APP_ST,
             "'resources':{'limits':{'memory':'500Mi'}}", "'resources':{'limits':{'memory':'600Mi'}}"),
        NULL, &S);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_POD_STATUS);
    CHECK_EQ_INT(S.target.limit_bytes, 600LL << 20);
    /* no limit anywhere (requests only) */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'containerPort':6060}],'resources':{'requests':{'memory':'64Mi'}}}", APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.no_limit, 1);
    CHECK_EQ_INT(S.target.limit_bytes, 0);
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_NONE);
    CHECK_STR(lw_limit_source_name(S.target.limit_source), "none");
    /* a malformed quantity is an error naming the field */
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'containerPort':6060}],'resources':{'limits':{'memory':'12 Mi'}}}", APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "spec.containers[app].resources.limits.memory") != NULL);
    run(pod5("'leakwatch.io/scrape':'true'",
             "{'name':'app','ports':[{'containerPort':6060}],'resources':{'limits':{'memory':-5}}}", APP_ST, "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
}

TEST(test_skips_and_ips)
{
    /* IPv6 */
    cJSON *p = pod("'leakwatch.io/scrape':'true'");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "status"), "podIP",
                              cJSON_CreateString("FD00:10:244:0:0:0:0:1F"));
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.ipv6, 1);
    CHECK_STR(S.target.ip, "fd00:10:244::1f");
    CHECK_STR(S.target.url, "http://[fd00:10:244::1f]:6060/debug/pprof/goroutine");
    /* hostile or junk IPs */
    const char *badip[] = {"10.0.0.1:80", "evil.com", "10.0.0.1/x", "fe80::1%eth0", "1.2.3", "", " 10.0.0.1",
                           "[::1]", "10.0.0.1@evil"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(badip); i++) {
        p = pod("'leakwatch.io/scrape':'true'");
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "status"), "podIP", cJSON_CreateString(badip[i]));
        run(p, NULL, &S);
        CHECK(S.status == (badip[i][0] ? LW_TARGET_ERROR : LW_TARGET_SKIP));
        CHECK_STR(S.target.url, "");
    }
    /* missing podIP */
    p = pod("'leakwatch.io/scrape':'true'");
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(p, "status"), "podIP");
    CHECK_EQ_INT(run(p, NULL, &S), LW_OK);
    CHECK_EQ_INT(S.status, LW_TARGET_SKIP);
    CHECK(strstr(S.reason, "podIP") != NULL);
    /* pending */
    p = pod("'leakwatch.io/scrape':'true'");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "status"), "phase", cJSON_CreateString("Pending"));
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_SKIP);
    CHECK_STR(S.reason, "pod shop/app-1: phase is Pending, not Running");
    /* the identity and limit are still filled on a skip */
    CHECK_STR(S.target.series_key, "0b5e1c2d-1111-4222-8333-944445555666/app");
    CHECK_EQ_INT(S.target.limit_bytes, 256LL << 20);
    /* but annotation errors come before skips */
    p = pod("'leakwatch.io/scrape':'true','leakwatch.io/path':'//x'");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "status"), "phase", cJSON_CreateString("Pending"));
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    /* terminating */
    p = pod("'leakwatch.io/scrape':'true'");
    cJSON_AddStringToObject(cJSON_GetObjectItem(p, "metadata"), "deletionTimestamp", "2026-11-26T12:00:00Z");
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_SKIP);
    CHECK(strstr(S.reason, "terminating") != NULL);
    /* container waiting after an OOM kill: skipped, with the post-mortem data */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT,
             "{'name':'app','restartCount':4,'containerID':'containerd://c5','state':{'waiting':{'reason':'CrashLoopBackOff'}},"
             "'lastState':{'terminated':{'exitCode':137,'reason':'OOMKilled','finishedAt':'2026-11-26T12:00:00Z','containerID':'containerd://c4'}}}",
             "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_SKIP);
    CHECK_STR(S.reason, "pod shop/app-1: container app is waiting (CrashLoopBackOff)");
    CHECK_EQ_INT(S.target.restart_count, 4);
    CHECK_EQ_INT(S.target.has_last_terminated, 1);
    CHECK_STR(S.target.last_reason, "OOMKilled");
    CHECK_STR(S.target.last_finished_at, "2026-11-26T12:00:00Z");
    CHECK_EQ_INT(S.target.last_exit_code, 137);
    CHECK_STR(S.target.last_container_id, "containerd://c4");
    CHECK_STR(S.target.container_id, "containerd://c5");
    /* no status for the container yet */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT, "", "", ""), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_SKIP);
    CHECK_EQ_INT(S.target.restart_count, -1);
    /* hostNetwork: allowed, flagged, URL on the podIP (= node IP) */
    p = pod5("'leakwatch.io/scrape':'true'", APP_CT, APP_ST, "'hostNetwork':true", "");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "status"), "podIP", cJSON_CreateString("192.168.0.10"));
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.host_network, 1);
    CHECK_STR(S.target.url, "http://192.168.0.10:6060/debug/pprof/goroutine");
    /* invalid identity */
    run(J("{'metadata':{'name':'Bad Name','namespace':'shop','uid':'u1','annotations':{'leakwatch.io/scrape':'true'}}}"),
        NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "metadata.name") != NULL);
    run(J("{'metadata':{'name':'ok','namespace':'shop','annotations':{'leakwatch.io/scrape':'true'}}}"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_ERROR);
    CHECK(strstr(S.reason, "metadata.uid") != NULL);
}

TEST(test_restart_identity)
{
    run(pod("'leakwatch.io/scrape':'true'"), NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    struct lw_target before = S.target;
    /* same pod after a restart: same series key, new restartCount/containerID */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT,
             "{'name':'app','restartCount':1,'containerID':'containerd://c2','state':{'running':{}},"
             "'lastState':{'terminated':{'exitCode':2,'reason':'Error','finishedAt':'2026-11-26T13:00:00Z'}}}",
             "", ""),
        NULL, &S);
    CHECK_STR(S.target.series_key, before.series_key);
    CHECK(S.target.restart_count != before.restart_count);
    CHECK(strcmp(S.target.container_id, before.container_id) != 0);
    CHECK_STR(S.target.last_reason, "Error");
    CHECK_EQ_INT(before.has_last_terminated, 0);
    /* containerID change alone (restartCount reset by a pod re-creation would change the UID) */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT,
             "{'name':'app','restartCount':0,'containerID':'containerd://c9','state':{'running':{}}}", "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.restart_count, before.restart_count);
    CHECK(strcmp(S.target.container_id, before.container_id) != 0);
    /* junk in free-text fields is cut and made printable */
    run(pod5("'leakwatch.io/scrape':'true'", APP_CT,
             "{'name':'app','restartCount':-3,'containerID':'a\\nb','state':{'running':{}}}", "", ""),
        NULL, &S);
    CHECK_EQ_INT(S.target.restart_count, -1);
    CHECK_STR(S.target.container_id, "a?b");
}

/* Real pods as tests/apiserver returns them (GET after POST /_test/pods). */
TEST(test_apiserver_pods)
{
    struct lw_buf b = LW_BUF_INIT(1 << 20);
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_read_file("tests/fuzz/corpus/fuzz_target/apiserver_pod.json", &b, &eb), LW_OK);
    cJSON *p = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    CHECK(p != NULL);
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_STR(S.target.url, "http://10.244.1.17:6060/debug/pprof/goroutine");
    CHECK_STR(S.target.series_key, "2951628a-533a-4000-830d-33ce00a23749/app");
    CHECK_STR(S.target.ns, "shop");
    CHECK_STR(S.target.name, "leaky-7d9f");
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_STATUS);
    CHECK_EQ_INT(S.target.limit_bytes, 384LL << 20);
    CHECK_EQ_INT(S.target.restart_count, 2);
    CHECK_STR(S.target.container_id, "containerd://abc123");
    CHECK_STR(S.target.last_reason, "OOMKilled");
    CHECK_STR(S.target.last_finished_at, "2026-11-26T12:00:00Z");
    lw_buf_release(&b);

    lw_buf_init(&b, 1 << 20);
    CHECK_EQ_INT(lw_read_file("tests/fuzz/corpus/fuzz_target/apiserver_pod_v6.json", &b, &eb), LW_OK);
    p = cJSON_ParseWithLength(b.data ? b.data : "", b.len);
    run(p, NULL, &S);
    CHECK_EQ_INT(S.status, LW_TARGET_OK);
    CHECK_EQ_INT(S.target.convention, LW_TARGET_CONV_PYROSCOPE);
    CHECK_STR(S.target.url, "http://[fd00:10:244::1f]:6061/internal/debug/pprof/goroutine");
    CHECK_STR(S.target.container, "api");
    CHECK_EQ_INT(S.target.limit_source, LW_LIMIT_POD_SPEC);
    CHECK_EQ_INT(S.target.limit_bytes, 1610612736LL);
    lw_buf_release(&b);
}

TEST_LIST(T(test_not_opted_in), T(test_leakwatch_defaults), T(test_leakwatch_all_keys), T(test_interval),
          T(test_pyroscope), T(test_parca_and_precedence), T(test_port_resolution), T(test_hostile_ports),
          T(test_hostile_paths), T(test_containers), T(test_limits), T(test_skips_and_ips),
          T(test_restart_identity), T(test_apiserver_pods));
TEST_MAIN()
