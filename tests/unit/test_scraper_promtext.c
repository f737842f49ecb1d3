/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scraper_promtext.c: the memory-signal parsers of pkg/scraper: the
 * Prometheus text parser on a kubelet /metrics/resource body (written from
 * the metric set in kubernetes-api.md §7 / k/k resource_metrics.go: HELP,
 * TYPE, labels, float values, millisecond timestamps), escaping, NaN/Inf,
 * broken lines with clear errors, bounds; working-set extraction; PodMetrics
 * JSON with quantities.
 */
#include "harness.h"
#include "scraper/scraper.h"

#define CORPUS "tests/fuzz/corpus/fuzz_promtext/"

struct collect {
    size_t n;
    char names[32][64];
    double values[32];
    int has_ts[32];
    long long ts[32];
    char lab[32][128];   /* "k=v;k=v" */
};

static int on_sample(void *ud, const struct lw_prom_sample *s)
{
    struct collect *c = ud;
    if (c->n < 32) {
        snprintf(c->names[c->n], 64, "%s", s->name);
        c->values[c->n] = s->value;
        c->has_ts[c->n] = s->has_ts;
        c->ts[c->n] = s->ts_ms;
        size_t k = 0;
        c->lab[c->n][0] = '\0';
        for (size_t i = 0; i < s->nlabels && k < 120; i++)
            k += (size_t)snprintf(c->lab[c->n] + k, 128 - k, "%s%s=%s", i ? ";" : "",
                                  s->labels[i].name, s->labels[i].value);
    }
    c->n++;
    return 0;
}

static int parse_str(const char *txt, struct collect *c, struct lw_errbuf *eb)
{
    memset(c, 0, sizeof(*c));
    return lw_promtext_parse(txt, strlen(txt), NULL, on_sample, c, eb);
}

TEST(test_kubelet_sample)
{
    struct lw_buf b = LW_BUF_INIT(1 << 20);
    struct lw_errbuf eb = {""};
    CHECK_EQ_INT(lw_read_file(CORPUS "kubelet_metrics_resource.txt", &b, &eb), LW_OK);
    struct collect c;
    memset(&c, 0, sizeof(c));
    CHECK_EQ_INT(lw_promtext_parse(b.data, b.len, NULL, on_sample, &c, &eb), LW_OK);
    CHECK_EQ_INT(c.n, 13);
    CHECK_STR(c.names[0], "container_cpu_usage_seconds_total");
    CHECK_STR(c.lab[0], "container=coredns;namespace=kube-system;pod=coredns-55fddfc79-6gp8s");
    CHECK_NEAR(c.values[0], 15.186049917, 1e-9);
    CHECK(c.has_ts[0]);
    CHECK_EQ_INT(c.ts[0], 1764185400123LL);
    CHECK_NEAR(c.values[3], 2.01326592e8, 0.5);
    CHECK_STR(c.names[12], "resource_scrape_error");
    CHECK(!c.has_ts[12]);

    struct lw_ws_list l = {.v = NULL};
    CHECK_EQ_INT(lw_ws_from_kubelet(b.data, b.len, &l, &eb), LW_OK);
    CHECK_EQ_INT(l.n, 3);
    const struct lw_ws_sample *s = lw_ws_find(&l, "shop", "checkout-7d9f8c6b5-x2v4q", "leaky");
    CHECK(s != NULL);
    if (s) {
        CHECK_NEAR(s->bytes, 201326592.0, 0.5);
        CHECK_NEAR(s->t, 1764185399.870, 1e-3);
        CHECK_EQ_INT(s->source, LW_WS_KUBELET);
        CHECK_STR(lw_ws_source_name(s->source), "kubelet");
    }
    CHECK(lw_ws_find(&l, "shop", "checkout-7d9f8c6b5-x2v4q", "istio-proxy") != NULL);
    /* pod-level and node-level rows are not container rows */
    CHECK(lw_ws_find(&l, "shop", "checkout-7d9f8c6b5-x2v4q", "") == NULL);
    lw_ws_list_release(&l);
    lw_buf_release(&b);
}

/* The hash index gives what the linear scan gives, for 5,000 pods of a node,
 * duplicates (the first wins) and misses; appending invalidates it. */
TEST(test_ws_index)
{
    struct lw_buf b = LW_BUF_INIT(8u << 20);
    CHECK_EQ_INT(lw_buf_appendf(&b, "# TYPE container_memory_working_set_bytes gauge\n"), LW_OK);
    for (int i = 0; i < 5000; i++)
        CHECK_EQ_INT(lw_buf_appendf(&b,
                                    "container_memory_working_set_bytes{container=\"app\","
                                    "namespace=\"ns%d\",pod=\"pod-%d\"} %d 1764185400000\n",
                                    i % 7, i, 1000 + i),
                     LW_OK);
    CHECK_EQ_INT(lw_buf_appendf(&b, "container_memory_working_set_bytes{container=\"app\","
                                    "namespace=\"ns0\",pod=\"pod-0\"} 5 1764185400000\n"),
                 LW_OK);
    struct lw_ws_list l = {.v = NULL};
    struct lw_errbuf eb = {""};
    CHECK_EQ_INT(lw_ws_from_kubelet(b.data, b.len, &l, &eb), LW_OK);
    CHECK_EQ_INT(l.n, 5001);
    CHECK_EQ_INT(lw_ws_list_index(&l), LW_OK);
    CHECK(l.slots != NULL && l.nslots >= 2 * l.n && l.indexed == l.n);
    int hits = 0;
    for (int i = 0; i < 5000; i++) {
        char ns[16], pod[32];
        snprintf(ns, sizeof(ns), "ns%d", i % 7);
        snprintf(pod, sizeof(pod), "pod-%d", i);
        const struct lw_ws_sample *s = lw_ws_find(&l, ns, pod, "app");
        hits += s && s->bytes == 1000 + i && s == &l.v[i];
        snprintf(ns, sizeof(ns), "ns%d", (i + 1) % 7); /* the wrong namespace */
        CHECK(lw_ws_find(&l, ns, pod, "app") == NULL);
    }
    CHECK_EQ_INT(hits, 5000);
    CHECK(lw_ws_find(&l, "ns0", "pod-0", "sidecar") == NULL);
    /* more samples appended: the index is stale and not used */
    CHECK_EQ_INT(lw_ws_from_kubelet("container_memory_working_set_bytes{container=\"x\","
                                    "namespace=\"n\",pod=\"p\"} 7\n",
                                    74, &l, &eb),
                 LW_OK);
    const struct lw_ws_sample *s = lw_ws_find(&l, "n", "p", "x");
    CHECK(s != NULL && s->bytes == 7);
    lw_ws_list_release(&l);
    CHECK(l.slots == NULL && l.n == 0);
    CHECK_EQ_INT(lw_ws_list_index(&l), LW_OK); /* empty: nothing to index */
    lw_buf_release(&b);
}

TEST(test_escapes_nan_inf)
{
    struct collect c;
    struct lw_errbuf eb = {""};
    int rc = parse_str("# TYPE m gauge\n"
                       "m{a=\"x\\\\y\\\"z\\n\",b=\"\" ,} NaN\n"
                       "m2 +Inf -17\n"
                       "m3{} -Inf\n"
                       "\n"
                       "  m4\t1e3\r\n"
                       "#just a comment\n"
                       "# HELP m5 doc with \\\\ and \\n\n"
                       "m5{le=\"0.5\"} 0.25 1\n",
                       &c, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    CHECK_EQ_INT(c.n, 5);
    CHECK_STR(c.lab[0], "a=x\\y\"z\n;b=");
    CHECK(isnan(c.values[0]));
    CHECK(isinf(c.values[1]) && c.values[1] > 0);
    CHECK(c.has_ts[1]);
    CHECK_EQ_INT(c.ts[1], -17);
    CHECK(isinf(c.values[2]) && c.values[2] < 0);
    CHECK_STR(c.names[3], "m4");
    CHECK_NEAR(c.values[3], 1000, 0);
    CHECK_STR(c.lab[4], "le=0.5");
    CHECK_NEAR(c.values[4], 0.25, 0);
}

static void expect_err(const char *txt, int want_rc, const char *want_sub)
{
    struct collect c;
    struct lw_errbuf eb = {""};
    int rc = parse_str(txt, &c, &eb);
    CHECK_EQ_INT(rc, want_rc);
    if (!strstr(eb.msg, want_sub)) {
        fprintf(stderr, "input %s: message \"%s\" lacks \"%s\"\n", txt, eb.msg, want_sub);
        CHECK(0);
    }
}

TEST(test_broken_lines)
{
    expect_err("ok 1\nm{a=\"x} 1\n", LW_EINVAL, "line 2: label a: unterminated string");
    expect_err("m{a=\"\\q\"} 1\n", LW_EINVAL, "invalid escape sequence '\\q'");
    expect_err("m{a=x} 1\n", LW_EINVAL, "label a: expected a quoted value");
    expect_err("m{a=\"x\" b=\"y\"} 1\n", LW_EINVAL, "expected ',' or '}'");
    expect_err("m{a=\"x\",a=\"y\"} 1\n", LW_EINVAL, "duplicate label \"a\"");
    expect_err("m 12abc\n", LW_EINVAL, "line 1: invalid value \"12abc\"");
    expect_err("m\n", LW_EINVAL, "sample m has no value");
    expect_err("m 1 1.5\n", LW_EINVAL, "invalid timestamp");
    expect_err("m 1 2 3\n", LW_EINVAL, "unexpected text after the timestamp");
    expect_err("9m 1\n", LW_EINVAL, "expected a metric name");
    expect_err("# TYPE m gaugez\n", LW_EINVAL, "# TYPE: expected counter");
    expect_err("# HELP\n", LW_EINVAL, "# HELP without a valid metric name");
    expect_err("m{a=\"1\"", LW_EINVAL, "missing '}'");
    expect_err("m 1 99999999999999999999\n", LW_EINVAL, "invalid timestamp");
    expect_err("m 1e999\n", LW_EINVAL, "invalid value");
    expect_err("m 0x10\n", LW_EINVAL, "invalid value");
}

TEST(test_bounds)
{
    struct lw_errbuf eb = {""};
    char big[300];
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    struct lw_prom_limits lim = {100, 2, 3};
    CHECK_EQ_INT(lw_promtext_parse(big, strlen(big), &lim, NULL, NULL, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "longer than 100 bytes") != NULL);
    const char *three = "m{a=\"1\",b=\"2\",c=\"3\"} 1\n";
    CHECK_EQ_INT(lw_promtext_parse(three, strlen(three), &lim, NULL, NULL, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "more than 2 labels") != NULL);
    const char *four = "a 1\nb 2\nc 3\nd 4\n";
    CHECK_EQ_INT(lw_promtext_parse(four, strlen(four), &lim, NULL, NULL, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "line 4: more than 3 samples") != NULL);
    /* NUL inside a line, and a length-delimited input without a final newline */
    const char nul[] = "m 1\nx\0y 2\n";
    CHECK_EQ_INT(lw_promtext_parse(nul, sizeof(nul) - 1, NULL, NULL, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "line 2: NUL byte") != NULL);
    struct collect c;
    memset(&c, 0, sizeof(c));
    CHECK_EQ_INT(lw_promtext_parse("m 1\nn 2 junk", 7, NULL, on_sample, &c, &eb), LW_OK);
    CHECK_EQ_INT(c.n, 2);
    /* the working-set list cap */
    struct lw_ws_list l = {.max = 1};
    const char *two = "container_memory_working_set_bytes{container=\"a\",pod=\"p\",namespace=\"n\"} 1\n"
                      "container_memory_working_set_bytes{container=\"b\",pod=\"p\",namespace=\"n\"} NaN\n"
                      "container_memory_working_set_bytes{container=\"c\",pod=\"p\",namespace=\"n\"} 3\n";
    CHECK_EQ_INT(lw_ws_from_kubelet(two, strlen(two), &l, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "line 3: more than 1 working-set samples") != NULL);
    CHECK_EQ_INT(l.n, 1);
    lw_ws_list_release(&l);
}

TEST(test_podmetrics)
{
    struct lw_buf b = LW_BUF_INIT(1 << 20);
    struct lw_errbuf eb = {""};
    CHECK_EQ_INT(lw_read_file(CORPUS "podmetrics.json", &b, &eb), LW_OK);
    struct lw_ws_list l = {.v = NULL};
    CHECK_EQ_INT(lw_ws_from_podmetrics(b.data, b.len, &l, &eb), LW_OK);
    CHECK_EQ_INT(l.n, 1);
    if (l.n == 1) {
        CHECK_STR(l.v[0].ns, "shop");
        CHECK_STR(l.v[0].pod, "checkout-7d9f8c6b5-x2v4q");
        CHECK_STR(l.v[0].container, "leaky");
        CHECK_NEAR(l.v[0].bytes, 196608.0 * 1024, 0);
        CHECK_NEAR(l.v[0].t, 1795721400.0, 0); /* 2026-11-26T19:30:00Z */
        CHECK_STR(lw_ws_source_name(l.v[0].source), "metrics.k8s.io");
    }
    lw_ws_list_release(&l);
    lw_buf_release(&b);

    const char *list =
        "{\"kind\":\"PodMetricsList\",\"items\":["
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"timestamp\":\"2026-11-26T19:30:00.5+01:00\","
        "\"containers\":[{\"name\":\"c1\",\"usage\":{\"memory\":\"1Mi\"}},{\"name\":\"c2\",\"usage\":{\"memory\":\"1.5G\"}}]},"
        "{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"},\"containers\":[]}]}";
    CHECK_EQ_INT(lw_ws_from_podmetrics(list, strlen(list), &l, &eb), LW_OK);
    CHECK_EQ_INT(l.n, 2);
    const struct lw_ws_sample *s = lw_ws_find(&l, "n", "a", "c2");
    CHECK(s && s->bytes == 1.5e9);
    CHECK(l.n == 2 && l.v[0].t == 1795721400.0 - 3600 + 0.5);
    lw_ws_list_release(&l);

    const char *badq = "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},"
                       "\"containers\":[{\"name\":\"c\",\"usage\":{\"memory\":\"12XB\"}}]}";
    CHECK(lw_ws_from_podmetrics(badq, strlen(badq), &l, &eb) != LW_OK);
    CHECK(strstr(eb.msg, "PodMetrics n/a container c: usage.memory") != NULL);
    lw_ws_list_release(&l);
    CHECK_EQ_INT(lw_ws_from_podmetrics("<html>", 6, &l, &eb), LW_EFORMAT);
    const char *badts = "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"timestamp\":\"yesterday\"}";
    CHECK_EQ_INT(lw_ws_from_podmetrics(badts, strlen(badts), &l, &eb), LW_EFORMAT);
    CHECK(strstr(eb.msg, "RFC 3339") != NULL);
    lw_ws_list_release(&l);
}

TEST_LIST(T(test_ws_index), T(test_kubelet_sample), T(test_escapes_nan_inf), T(test_broken_lines), T(test_bounds),
          T(test_podmetrics));
TEST_MAIN()
