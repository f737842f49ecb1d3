/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops_metrics.c: the metrics registry and its Prometheus text output:
 * exact exposition lines (HELP/TYPE, label escaping, number formatting),
 * ordering, series removal (per series and per pod), the series cap and its
 * dropped counter, histograms, registration errors, and that every metric
 * the controller registers is documented in docs/metrics.md. A small line
 * validator checks the whole output against the 0.0.4 text grammar.
 */
#include "harness.h"
#include "ops/ops.h"

#include <ctype.h>

static struct lw_buf render(struct lw_metrics *r)
{
    struct lw_buf b = LW_BUF_INIT(1 << 24);
    CHECK_EQ_INT(lw_metrics_render(r, &b), LW_OK);
    if (!b.data)
        lw_buf_append(&b, "", 0);
    return b;
}

static int valid_metric_name(const char *s, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(isalpha((unsigned char)c) || c == '_' || c == ':' || (i && isdigit((unsigned char)c))))
            return 0;
    }
    return 1;
}

/* Validate the text format line by line; returns the number of samples, -1
 * on the first malformed line (printed). Every sample must belong to the
 * family of the last TYPE line (name, or name_bucket/_sum/_count for
 * histograms). */
static int validate_exposition(const char *text)
{
    char fam[256] = "", type[32] = "";
    int samples = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) {
            fprintf(stderr, "no final newline\n");
            return -1;
        }
        size_t n = (size_t)(eol - p);
        char line[4096];
        if (n >= sizeof line)
            return -1;
        memcpy(line, p, n);
        line[n] = '\0';
        p = eol + 1;
        if (strncmp(line, "# HELP ", 7) == 0) {
            const char *name = line + 7;
            size_t nl = strcspn(name, " ");
            if (!valid_metric_name(name, nl))
                goto bad;
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            if (sscanf(line + 7, "%255s %31s", fam, type) != 2)
                goto bad;
            if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
                goto bad;
            continue;
        }
        if (line[0] == '#')
            goto bad;
        /* sample: name[{labels}] value */
        size_t nl = strcspn(line, "{ ");
        if (!valid_metric_name(line, nl))
            goto bad;
        char name[256];
        memcpy(name, line, nl);
        name[nl] = '\0';
        int ok = strcmp(name, fam) == 0;
        if (!ok && strcmp(type, "histogram") == 0) {
            size_t fl = strlen(fam);
            ok = strncmp(name, fam, fl) == 0 &&
                 (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
                  !strcmp(name + fl, "_count"));
        }
        if (!ok)
            goto bad;
        const char *q = line + nl;
        if (*q == '{') {
            q++;
            while (*q != '}') {
                size_t ln = strcspn(q, "=");
                if (!ln || q[ln] != '=' || q[ln + 1] != '"')
                    goto bad;
                q += ln + 2;
                while (*q && *q != '"') {
                    if (*q == '\\') {
                        if (q[1] != '\\' && q[1] != '"' && q[1] != 'n')
                            goto bad;
                        q++;
                    }
                    q++;
                }
                if (*q != '"')
                    goto bad;
                q++;
                if (*q == ',')
                    q++;
                else if (*q != '}')
                    goto bad;
            }
            q++;
        }
        if (*q != ' ')
            goto bad;
        q++;
        if (strcmp(q, "+Inf") && strcmp(q, "-Inf") && strcmp(q, "NaN")) {
            char *end;
            strtod(q, &end);
            if (end == q || *end)
                goto bad;
        }
        samples++;
        continue;
    bad:
        fprintf(stderr, "bad exposition line: %s\n", line);
        return -1;
    }
    return samples;
}

TEST(exposition_exact)
{
    struct lw_metrics *r = lw_metrics_new(0);
    struct lw_errbuf eb;
    const char *lab[] = {"namespace", "pod"};
    struct lw_metric *g = lw_metrics_add(r, LW_METRIC_GAUGE, "test_goroutines",
                                         "Goroutines \\ with\nnewline", 2, lab, 0, NULL, &eb);
    struct lw_metric *c = lw_metrics_add(r, LW_METRIC_COUNTER, "a_total", "A counter.", 0, NULL,
                                         0, NULL, &eb);
    CHECK(g && c);
    const char *v1[] = {"ns", "we\"ird\\na\nme"};
    const char *v2[] = {"ns", "alpha"};
    CHECK_EQ_INT(lw_metric_set(g, v1, 1204), LW_OK);
    CHECK_EQ_INT(lw_metric_set(g, v2, 0.25), LW_OK);
    CHECK_EQ_INT(lw_metric_add(c, NULL, 3), LW_OK);
    CHECK_EQ_INT(lw_metric_add(c, NULL, 2), LW_OK);
    struct lw_buf b = render(r);
    const char *want =
        "# HELP a_total A counter.\n"
        "# TYPE a_total counter\n"
        "a_total 5\n"
        "# HELP leakwatch_metrics_series_dropped_total Series not created because the registry "
        "was at its cap of 20000 series.\n"
        "# TYPE leakwatch_metrics_series_dropped_total counter\n"
        "leakwatch_metrics_series_dropped_total 0\n"
        "# HELP test_goroutines Goroutines \\\\ with\\nnewline\n"
        "# TYPE test_goroutines gauge\n"
        "test_goroutines{namespace=\"ns\",pod=\"alpha\"} 0.25\n"
        "test_goroutines{namespace=\"ns\",pod=\"we\\\"ird\\\\na\\nme\"} 1204\n";
    CHECK_STR(b.data, want);
    CHECK_EQ_INT(validate_exposition(b.data), 4);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST(special_values)
{
    struct lw_metrics *r = lw_metrics_new(0);
    const char *lab[] = {"k"};
    struct lw_metric *g = lw_metrics_add(r, LW_METRIC_GAUGE, "g", "", 1, lab, 0, NULL, NULL);
    const char *a[] = {"a"}, *b_[] = {"b"}, *c[] = {"c"}, *d[] = {"d"}, *e[] = {"e"};
    lw_metric_set(g, a, 1.0 / 0.0);
    lw_metric_set(g, b_, -1.0 / 0.0);
    lw_metric_set(g, c, 0.0 / 0.0);
    lw_metric_set(g, d, 1e20);
    lw_metric_set(g, e, -3.5);
    struct lw_buf b = render(r);
    CHECK(strstr(b.data, "g{k=\"a\"} +Inf\n"));
    CHECK(strstr(b.data, "g{k=\"b\"} -Inf\n"));
    CHECK(strstr(b.data, "g{k=\"c\"} NaN\n"));
    CHECK(strstr(b.data, "g{k=\"d\"} 1e+20\n"));
    CHECK(strstr(b.data, "g{k=\"e\"} -3.5\n"));
    CHECK(validate_exposition(b.data) == 6);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST(ordering_is_sorted)
{
    struct lw_metrics *r = lw_metrics_new(0);
    const char *lab[] = {"pod"};
    struct lw_metric *z = lw_metrics_add(r, LW_METRIC_GAUGE, "zz", "z", 1, lab, 0, NULL, NULL);
    struct lw_metric *a = lw_metrics_add(r, LW_METRIC_GAUGE, "aa", "a", 1, lab, 0, NULL, NULL);
    const char *names[] = {"p9", "p1", "p5", "p3"};
    for (int i = 0; i < 4; i++) {
        const char *v[] = {names[i]};
        lw_metric_set(z, v, i);
        lw_metric_set(a, v, i);
    }
    struct lw_buf b = render(r);
    const char *pa = strstr(b.data, "# TYPE aa"), *pl = strstr(b.data, "# TYPE leakwatch_"),
               *pz = strstr(b.data, "# TYPE zz");
    CHECK(pa && pl && pz && pa < pl && pl < pz);
    const char *p1 = strstr(b.data, "zz{pod=\"p1\"} 1"), *p3 = strstr(b.data, "zz{pod=\"p3\"} 3"),
               *p5 = strstr(b.data, "zz{pod=\"p5\"} 2"), *p9 = strstr(b.data, "zz{pod=\"p9\"} 0");
    CHECK(p1 && p3 && p5 && p9 && p1 < p3 && p3 < p5 && p5 < p9);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST(removal_and_forget)
{
    struct lw_metrics *r = lw_metrics_new(0);
    struct lw_ops_metrics m;
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_ops_metrics_init(r, &m, "1.2.3", "abc", &eb), LW_OK);
    size_t base = lw_metrics_series_count(r);
    const char *p1[] = {"ns1", "web-1", "app"}, *p2[] = {"ns1", "web-2", "app"},
               *p1b[] = {"ns1", "web-1", "sidecar"}, *o1[] = {"ns2", "web-1", "app"};
    const char *mem1[] = {"ns1", "web-1", "app", "working_set"};
    lw_metric_set(m.goroutines, p1, 100);
    lw_metric_set(m.goroutines, p1b, 7);
    lw_metric_set(m.goroutines, p2, 200);
    lw_metric_set(m.goroutines, o1, 300);
    lw_metric_set(m.oom_seconds, p1, 3600);
    lw_metric_set(m.memory_bytes, mem1, 1e6);
    CHECK_EQ_INT(lw_metrics_series_count(r), base + 6);
    double v = 0;
    CHECK_EQ_INT(lw_metric_get(m.goroutines, p1, &v), LW_OK);
    CHECK_NEAR(v, 100, 0);
    /* one series */
    CHECK_EQ_INT(lw_metric_remove(m.goroutines, p2), LW_OK);
    CHECK_EQ_INT(lw_metric_remove(m.goroutines, p2), LW_ENOTFOUND);
    CHECK_EQ_INT(lw_metric_get(m.goroutines, p2, &v), LW_ENOTFOUND);
    /* a whole pod, across families and containers, only in its namespace */
    CHECK_EQ_INT(lw_ops_metrics_forget_pod(r, "ns1", "web-1"), 4);
    CHECK_EQ_INT(lw_metrics_series_count(r), base + 1);
    struct lw_buf b = render(r);
    CHECK(!strstr(b.data, "pod=\"web-1\",container=\"app\"} 100"));
    CHECK(!strstr(b.data, "namespace=\"ns1\""));
    CHECK(strstr(b.data, "leakwatch_goroutines{namespace=\"ns2\",pod=\"web-1\",container=\"app\"} 300\n"));
    CHECK(strstr(b.data, "leakwatch_build_info{version=\"1.2.3\",commit=\"abc\"} 1\n"));
    CHECK(validate_exposition(b.data) > 0);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST(series_cap)
{
    struct lw_metrics *r = lw_metrics_new(3);
    const char *lab[] = {"pod"};
    struct lw_metric *g = lw_metrics_add(r, LW_METRIC_GAUGE, "g", "h", 1, lab, 0, NULL, NULL);
    char name[32];
    int refused = 0;
    for (int i = 0; i < 10; i++) {
        snprintf(name, sizeof name, "p%d", i);
        const char *v[] = {name};
        int rc = lw_metric_set(g, v, i);
        if (i < 3)
            CHECK_EQ_INT(rc, LW_OK);
        else if (rc == LW_ETOOBIG)
            refused++;
    }
    CHECK_EQ_INT(refused, 7);
    CHECK_EQ_INT(lw_metrics_series_count(r), 3);
    /* existing series still update at the cap */
    const char *p0[] = {"p0"};
    CHECK_EQ_INT(lw_metric_set(g, p0, 42), LW_OK);
    struct lw_buf b = render(r);
    CHECK(strstr(b.data, "leakwatch_metrics_series_dropped_total 7\n"));
    CHECK(strstr(b.data, "g{pod=\"p0\"} 42\n"));
    CHECK(!strstr(b.data, "p3"));
    lw_buf_release(&b);
    /* removal frees room */
    CHECK_EQ_INT(lw_metric_remove(g, p0), LW_OK);
    const char *p9[] = {"p9"};
    CHECK_EQ_INT(lw_metric_set(g, p9, 9), LW_OK);
    CHECK_EQ_INT(lw_metrics_series_count(r), 3);
    lw_metrics_free(r);
}

TEST(many_series_and_rehash)
{
    struct lw_metrics *r = lw_metrics_new(50000);
    const char *lab[] = {"namespace", "pod"};
    struct lw_metric *g = lw_metrics_add(r, LW_METRIC_GAUGE, "g", "h", 2, lab, 0, NULL, NULL);
    char pod[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(pod, sizeof pod, "pod-%05d", i);
        const char *v[] = {"ns", pod};
        CHECK_EQ_INT(lw_metric_set(g, v, i), LW_OK);
    }
    for (int i = 0; i < 20000; i += 2) {
        snprintf(pod, sizeof pod, "pod-%05d", i);
        const char *v[] = {"ns", pod};
        CHECK_EQ_INT(lw_metric_remove(g, v), LW_OK);
    }
    CHECK_EQ_INT(lw_metrics_series_count(r), 10000);
    double v = 0;
    const char *q[] = {"ns", "pod-12345"};
    CHECK_EQ_INT(lw_metric_get(g, q, &v), LW_OK);
    CHECK_NEAR(v, 12345, 0);
    struct lw_buf b = render(r);
    CHECK_EQ_INT(validate_exposition(b.data), 10001);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST(histogram)
{
    struct lw_metrics *r = lw_metrics_new(0);
    const char *lab[] = {"profile"};
    const double bounds[] = {0.1, 0.5, 1};
    struct lw_metric *h = lw_metrics_add(r, LW_METRIC_HISTOGRAM, "lat_seconds", "Latency.", 1,
                                         lab, 3, bounds, NULL);
    CHECK(h != NULL);
    const char *v[] = {"heap"};
    double obs[] = {0.0625, 0.5, 0.25, 0.75, 2.0, 5.0}; /* exact in binary; 0.5 sits on a bound */
    for (size_t i = 0; i < 6; i++)
        CHECK_EQ_INT(lw_metric_observe(h, v, obs[i]), LW_OK);
    CHECK_EQ_INT(lw_metric_observe(h, v, 0.0 / 0.0), LW_EINVAL);
    CHECK_EQ_INT(lw_metric_set(h, v, 1), LW_EINVAL);
    struct lw_buf b = render(r);
    const char *want = "# HELP lat_seconds Latency.\n"
                       "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{profile=\"heap\",le=\"0.1\"} 1\n"
                       "lat_seconds_bucket{profile=\"heap\",le=\"0.5\"} 3\n"
                       "lat_seconds_bucket{profile=\"heap\",le=\"1\"} 4\n"
                       "lat_seconds_bucket{profile=\"heap\",le=\"+Inf\"} 6\n"
                       "lat_seconds_sum{profile=\"heap\"} 8.5625\n"
                       "lat_seconds_count{profile=\"heap\"} 6\n";
    const char *got = strstr(b.data, "# HELP lat_seconds");
    CHECK(got != NULL);
    CHECK(got && strncmp(got, want, strlen(want)) == 0);
    CHECK_EQ_INT(validate_exposition(b.data), 7);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST(registration_errors)
{
    struct lw_metrics *r = lw_metrics_new(0);
    struct lw_errbuf eb;
    const char *bad1[] = {"__reserved"}, *bad2[] = {"a-b"}, *dup[] = {"x", "x"}, *le[] = {"le"};
    const double b_dec[] = {1, 0.5};
    CHECK(!lw_metrics_add(r, LW_METRIC_GAUGE, "1abc", "", 0, NULL, 0, NULL, &eb));
    CHECK(strstr(eb.msg, "1abc"));
    CHECK(!lw_metrics_add(r, LW_METRIC_GAUGE, "ok", "", 1, bad1, 0, NULL, &eb));
    CHECK(strstr(eb.msg, "__reserved"));
    CHECK(!lw_metrics_add(r, LW_METRIC_GAUGE, "ok", "", 1, bad2, 0, NULL, &eb));
    CHECK(!lw_metrics_add(r, LW_METRIC_GAUGE, "ok", "", 2, dup, 0, NULL, &eb));
    CHECK(!lw_metrics_add(r, LW_METRIC_HISTOGRAM, "ok", "", 1, le, 2, b_dec, &eb));
    CHECK(!lw_metrics_add(r, LW_METRIC_HISTOGRAM, "ok", "", 0, NULL, 2, b_dec, &eb));
    CHECK(strstr(eb.msg, "increasing"));
    CHECK(lw_metrics_add(r, LW_METRIC_COUNTER, "ok", "", 0, NULL, 0, NULL, &eb) != NULL);
    CHECK(!lw_metrics_add(r, LW_METRIC_GAUGE, "ok", "", 0, NULL, 0, NULL, &eb));
    CHECK(strstr(eb.msg, "already"));
    struct lw_metric *c = lw_metrics_find(r, "ok");
    CHECK_EQ_INT(lw_metric_add(c, NULL, -1), LW_ERANGE);
    CHECK_EQ_INT(lw_metric_set(c, NULL, 1), LW_EINVAL); /* counters only go up */
    const char *lab[] = {"a"};
    struct lw_metric *g = lw_metrics_add(r, LW_METRIC_GAUGE, "g", "", 1, lab, 0, NULL, &eb);
    CHECK_EQ_INT(lw_metric_set(g, NULL, 1), LW_EINVAL); /* missing label values */
    lw_metrics_free(r);
}

TEST(documented_in_metrics_md)
{
    struct lw_buf doc = LW_BUF_INIT(1 << 20);
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_read_file("docs/metrics.md", &doc, &eb), LW_OK);
    struct lw_metrics *r = lw_metrics_new(0);
    struct lw_ops_metrics m;
    CHECK_EQ_INT(lw_ops_metrics_init(r, &m, "v", "c", &eb), LW_OK);
    struct lw_buf b = render(r);
    int n = 0;
    for (size_t i = 0; lw_ops_metric_names[i]; i++, n++) {
        char want[160];
        snprintf(want, sizeof want, "`%s`", lw_ops_metric_names[i]);
        if (!doc.data || !strstr(doc.data, want)) {
            fprintf(stderr, "docs/metrics.md lacks %s\n", want);
            CHECK(0);
        }
        snprintf(want, sizeof want, "# TYPE %s ", lw_ops_metric_names[i]);
        CHECK(strstr(b.data, want) != NULL);
    }
    /* and the names list covers every registered family (+ the dropped counter) */
    int types = 0;
    for (const char *p = b.data; (p = strstr(p, "# TYPE ")); p++)
        types++;
    CHECK_EQ_INT(types, n);
    lw_buf_release(&b);
    lw_buf_release(&doc);
    lw_metrics_free(r);
}

/* O(1) removal of one container's per-pod series: every family and every
 * source/kind value the controller sets; other containers and pods stay. */
TEST(forget_container)
{
    struct lw_metrics *r = lw_metrics_new(0);
    struct lw_ops_metrics m;
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_ops_metrics_init(r, &m, "v", "c", &eb), LW_OK);
    size_t base = lw_metrics_series_count(r);
    const char *pods[][3] = {{"ns", "a", "app"}, {"ns", "a", "side"}, {"ns", "b", "app"}};
    size_t per = 0;
    for (int k = 0; k < 3; k++) {
        struct lw_metric *three[] = {m.goroutines, m.goroutine_growth, m.memory_growth,
                                     m.memory_limit, m.oom_seconds};
        per = 0;
        for (size_t i = 0; i < LW_ARRAY_SIZE(three); i++, per++)
            CHECK_EQ_INT(lw_metric_set(three[i], pods[k], 1), LW_OK);
        for (size_t i = 0; lw_ops_memory_sources[i]; i++, per++) {
            const char *v[] = {pods[k][0], pods[k][1], pods[k][2], lw_ops_memory_sources[i]};
            CHECK_EQ_INT(lw_metric_set(m.memory_bytes, v, 2), LW_OK);
        }
        for (size_t i = 0; lw_ops_leak_kinds[i]; i++, per++) {
            const char *v[] = {pods[k][0], pods[k][1], pods[k][2], lw_ops_leak_kinds[i]};
            CHECK_EQ_INT(lw_metric_set(m.leak_suspected, v, 0), LW_OK);
        }
    }
    CHECK_EQ_INT(per, 10);
    CHECK_EQ_INT(lw_metrics_series_count(r), base + 30);
    CHECK_EQ_INT(lw_ops_metrics_forget_container(&m, "ns", "a", "app"), 10);
    CHECK_EQ_INT(lw_ops_metrics_forget_container(&m, "ns", "a", "app"), 0);
    CHECK_EQ_INT(lw_metrics_series_count(r), base + 20);
    struct lw_buf b = render(r);
    CHECK(!strstr(b.data, "pod=\"a\",container=\"app\""));
    CHECK(strstr(b.data, "pod=\"a\",container=\"side\"") != NULL);
    CHECK(strstr(b.data, "pod=\"b\",container=\"app\"") != NULL);
    lw_buf_release(&b);
    lw_metrics_free(r);
}

TEST_LIST(T(exposition_exact), T(special_values), T(ordering_is_sorted), T(removal_and_forget),
          T(series_cap), T(many_series_and_rehash), T(histogram), T(registration_errors),
          T(documented_in_metrics_md), T(forget_container));
TEST_MAIN()
