/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops_config.c: the option table and everything it drives: defaults,
 * precedence (flags > env > file > defaults), flag syntaxes, env aliases,
 * errors that name the culprit (unknown flag, unknown YAML key, bad value,
 * out of range), cross-option validation, YAML limits (size, nesting,
 * alias bombs, repeated keys, several documents), --help, and
 * docs/configuration.md being exactly what the table generates.
 * LW_UPDATE_DOCS=1 rewrites docs/configuration.md (run from the repo root).
 */
#include "harness.h"
#include "ops/ops.h"

#include <stdio.h>
#include <unistd.h>

static char *const no_env[] = {NULL};

static int load(struct lw_config *c, char *const *argv, char *const *envp, struct lw_errbuf *eb)
{
    int argc = 0;
    while (argv && argv[argc])
        argc++;
    memset(c, 0, sizeof *c);
    eb->msg[0] = '\0';
    return lw_config_load(c, argc, argv, envp ? envp : no_env, eb);
}

static const char *write_tmp(const char *name, const char *text, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "/tmp/lw_test_ops_config_%d_%s", (int)getpid(), name);
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    return path;
}

TEST(defaults)
{
    struct lw_config c;
    struct lw_errbuf eb;
    char *argv[] = {NULL};
    CHECK_EQ_INT(load(&c, argv, NULL, &eb), LW_OK);
    CHECK_NEAR(c.scrape_interval, 30, 0);
    CHECK_NEAR(c.scrape_timeout, 10, 0);
    CHECK_EQ_INT(c.max_concurrent_scrapes, 16);
    CHECK_EQ_INT(c.max_response_bytes, 64 * 1024 * 1024);
    CHECK_NEAR(c.debug2_min_interval, 300, 0);
    CHECK_NEAR(c.horizon, 7 * 86400, 0);
    CHECK_NEAR(c.min_confidence, 0.5, 0);
    CHECK_EQ_INT(c.annotation_conventions.n, 3);
    CHECK_STR(c.annotation_conventions.v[1], "pyroscope");
    CHECK_EQ_INT(c.namespaces.n, 0);
    CHECK_EQ_INT(c.mode, LW_MODE_DEPLOYMENT);
    CHECK_EQ_INT(c.in_cluster, LW_AUTO);
    CHECK_STR(c.metrics_bind_address, ":8080");
    CHECK_EQ_INT(c.log_level, LW_LOG_INFO);
    CHECK_EQ_INT(c.log_format, LW_LOG_LOGFMT);
    CHECK_EQ_INT(c.leader_elect, 1);
    CHECK_NEAR(c.leader_election_lease_duration, 15, 0);
    CHECK_NEAR(c.leader_election_renew_deadline, 10, 0);
    CHECK_NEAR(c.leader_election_retry_period, 2, 0);
    CHECK_STR(c.leader_election_lease_name, "leakwatch");
    CHECK_EQ_INT(c.kubelet_port, 10250);
    CHECK_EQ_INT(c.kubelet_insecure_skip_tls_verify, 0);
    CHECK_EQ_INT(c.metrics_api, 1);
    CHECK_EQ_INT(c.events, 1);
    CHECK_STR(c.node, "");
    CHECK(!c.help);
    lw_config_release(&c);
}

TEST(precedence)
{
    const char *yaml = "# leakwatch\n"
                       "scrape-interval: 45s\n"
                       "log-level: debug\n"
                       "max-concurrent-scrapes: 4\n"
                       "namespaces: [prod, staging]\n"
                       "events: false\n";
    const char *path = write_tmp("prec.yaml", yaml, strlen(yaml));
    char cfgflag[300];
    snprintf(cfgflag, sizeof cfgflag, "--config=%s", path);
    char *argv[] = {cfgflag, "--scrape-interval", "55s", NULL};
    char *envp[] = {"LEAKWATCH_SCRAPE_INTERVAL=50s", "LEAKWATCH_LOG_LEVEL=warn",
                    "LEAKWATCH_EVENTS=true", "UNRELATED=1", "LEAKWATCH_NOT_AN_OPTION=x", NULL};
    struct lw_config c;
    struct lw_errbuf eb;
    CHECK_EQ_INT(load(&c, argv, envp, &eb), LW_OK);
    CHECK_NEAR(c.scrape_interval, 55, 0);       /* flag > env > file */
    CHECK_EQ_INT(c.log_level, LW_LOG_WARN);     /* env > file */
    CHECK_EQ_INT(c.events, 1);                  /* env > file */
    CHECK_EQ_INT(c.max_concurrent_scrapes, 4);  /* file > default */
    CHECK_EQ_INT(c.namespaces.n, 2);
    CHECK_STR(c.namespaces.v[1], "staging");
    CHECK_NEAR(c.scrape_timeout, 10, 0);        /* default */
    CHECK_STR(c.config_file, path);
    lw_config_release(&c);

    /* LEAKWATCH_CONFIG names the file when no flag does */
    char envcfg[300];
    snprintf(envcfg, sizeof envcfg, "LEAKWATCH_CONFIG=%s", path);
    char *envp2[] = {envcfg, NULL};
    char *argv2[] = {"--log-level=error", NULL};
    CHECK_EQ_INT(load(&c, argv2, envp2, &eb), LW_OK);
    CHECK_NEAR(c.scrape_interval, 45, 0);
    CHECK_EQ_INT(c.log_level, LW_LOG_ERROR);
    CHECK_EQ_INT(c.events, 0);
    lw_config_release(&c);
    unlink(path);
}

TEST(flag_forms_and_aliases)
{
    struct lw_config c;
    struct lw_errbuf eb;
    char *argv[] = {"--no-events", "--leader-elect=false", "--kubelet-metrics",
                    "--namespaces", " a, b ,,c ", "--max-response-bytes", "1Gi",
                    "--horizon=36h", "--mode", "daemonset", NULL};
    char *envp[] = {"NODE_NAME=node-7", "POD_NAMESPACE=ops", NULL};
    CHECK_EQ_INT(load(&c, argv, envp, &eb), LW_OK);
    CHECK_EQ_INT(c.events, 0);
    CHECK_EQ_INT(c.leader_elect, 0);
    CHECK_EQ_INT(c.kubelet_metrics, 1);
    CHECK_EQ_INT(c.namespaces.n, 3);
    CHECK_STR(c.namespaces.v[0], "a");
    CHECK_STR(c.namespaces.v[2], "c");
    CHECK_EQ_INT(c.max_response_bytes, 1073741824LL);
    CHECK_NEAR(c.horizon, 36 * 3600, 0);
    CHECK_EQ_INT(c.mode, LW_MODE_DAEMONSET);
    CHECK_STR(c.node, "node-7");
    CHECK_STR(c.leader_election_namespace, "ops");
    lw_config_release(&c);
    /* LEAKWATCH_NODE beats NODE_NAME, a flag beats both */
    char *envp2[] = {"NODE_NAME=node-7", "LEAKWATCH_NODE=node-8", NULL};
    char *argv2[] = {"--mode=daemonset", NULL};
    CHECK_EQ_INT(load(&c, argv2, envp2, &eb), LW_OK);
    CHECK_STR(c.node, "node-8");
    lw_config_release(&c);
    char *argv3[] = {"--mode=daemonset", "--node", "node-9", NULL};
    CHECK_EQ_INT(load(&c, argv3, envp2, &eb), LW_OK);
    CHECK_STR(c.node, "node-9");
    lw_config_release(&c);
    char *argv4[] = {"--scrape-interval", "1m", "--help", NULL};
    CHECK_EQ_INT(load(&c, argv4, NULL, &eb), LW_OK);
    CHECK(c.help);
    lw_config_release(&c);
}

struct bad_case {
    const char *args[4];
    const char *env;
    const char *want[3]; /* substrings of the message */
};

TEST(bad_flags_and_values)
{
    static const struct bad_case cases[] = {
        {{"--scrape-intervall", "30s"}, NULL, {"--scrape-intervall", "unknown flag"}},
        {{"--scrape-interval", "banana"}, NULL, {"scrape-interval", "banana", "duration"}},
        {{"--scrape-interval", "0.5s"}, NULL, {"scrape-interval", "out of range", "1s..1d"}},
        {{"--max-concurrent-scrapes", "0"}, NULL, {"max-concurrent-scrapes", "range"}},
        {{"--max-concurrent-scrapes", "12abc"}, NULL, {"max-concurrent-scrapes", "integer"}},
        {{"--max-response-bytes", "lots"}, NULL, {"max-response-bytes", "quantity"}},
        {{"--max-response-bytes", "2Gi"}, NULL, {"max-response-bytes", "range", "1Gi"}},
        {{"--min-confidence", "1.5"}, NULL, {"min-confidence", "range"}},
        {{"--min-confidence", "nan"}, NULL, {"min-confidence", "not a number"}},
        {{"--log-format", "xml"}, NULL, {"log-format", "xml", "logfmt|json"}},
        {{"--events=maybe"}, NULL, {"events", "boolean"}},
        {{"--annotation-conventions", "leakwatch,prometheus"}, NULL, {"prometheus", "unknown item"}},
        {{"--annotation-conventions", ""}, NULL, {"annotation-conventions", "empty"}},
        {{"--context"}, NULL, {"--context", "needs a value"}},
        {{"stray"}, NULL, {"stray", "unexpected argument"}},
        {{"--no-context"}, NULL, {"--no-context", "unknown flag"}},
        {{NULL}, "LEAKWATCH_SCRAPE_TIMEOUT=forever", {"LEAKWATCH_SCRAPE_TIMEOUT", "forever"}},
        {{"--scrape-timeout", "40s"}, NULL, {"scrape-timeout (40s)", "scrape-interval (30s)"}},
        {{"--mode", "daemonset"}, NULL, {"daemonset", "NODE_NAME"}},
        {{"--leader-election-renew-deadline", "20s"}, NULL, {"lease-duration", "renew-deadline"}},
        {{"--leader-election-retry-period", "9s"}, NULL, {"renew-deadline", "retry-period"}},
        {{"--metrics-bind-address", "8080"}, NULL, {"metrics-bind-address"}},
        {{"--config", "/nonexistent/lw.yaml"}, NULL, {"/nonexistent/lw.yaml"}},
    };
    for (size_t i = 0; i < LW_ARRAY_SIZE(cases); i++) {
        char *argv[5] = {NULL};
        for (int k = 0; k < 4 && cases[i].args[k]; k++)
            argv[k] = (char *)cases[i].args[k];
        char *envp[] = {(char *)cases[i].env, NULL};
        struct lw_config c;
        struct lw_errbuf eb;
        int rc = load(&c, argv, envp, &eb);
        if (rc == LW_OK)
            fprintf(stderr, "case %zu: accepted\n", i);
        CHECK(rc != LW_OK);
        for (int k = 0; k < 3 && cases[i].want[k]; k++)
            if (!strstr(eb.msg, cases[i].want[k])) {
                fprintf(stderr, "case %zu: message \"%s\" lacks \"%s\"\n", i, eb.msg,
                        cases[i].want[k]);
                CHECK(0);
            }
        lw_config_release(&c);
    }
}

static int yaml_rc(const char *text, size_t len, struct lw_errbuf *eb)
{
    struct lw_config c;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(lw_config_defaults(&c, eb), LW_OK);
    eb->msg[0] = '\0';
    int rc = lw_config_load_yaml(&c, text, len, "test.yaml", eb);
    lw_config_release(&c);
    return rc;
}

TEST(yaml_errors)
{
    struct lw_errbuf eb;
    CHECK_EQ_INT(yaml_rc("scrape-interval: 30s\nscrape-intervl: 1m\n", 38, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "test.yaml:2:1") && strstr(eb.msg, "unknown option \"scrape-intervl\""));
    const char *t = "log-level: debug\nlog-level: info\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "log-level given twice"));
    t = "leader-elect:\n  enabled: true\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "leader-elect") && strstr(eb.msg, "single value"));
    t = "- a\n- b\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "mapping"));
    t = "mode: deployment\n---\nmode: daemonset\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "one YAML document"));
    t = "config: other.yaml\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "config file"));
    t = "scrape-timeout:\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "scrape-timeout has no value"));
    t = "namespaces: [a, [b]]\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    t = "namespaces: [\"a,b\"]\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    t = "mode: [deployment]\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    t = "mode: {a: b\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "test.yaml:"));
    t = "? [a]\n: b\n";
    CHECK(yaml_rc(t, strlen(t), &eb) != LW_OK);
    /* fine: empty file, empty document, comments only, null string */
    CHECK_EQ_INT(yaml_rc("", 0, &eb), LW_OK);
    CHECK_EQ_INT(yaml_rc("---\n", 4, &eb), LW_OK);
    CHECK_EQ_INT(yaml_rc("# nothing\n", 10, &eb), LW_OK);
    CHECK_EQ_INT(yaml_rc("context: ~\nnamespaces:\n", 23, &eb), LW_OK);
    /* NUL inside a value */
    CHECK(yaml_rc("context: \"a\\0b\"\n", 16, &eb) != LW_OK);
}

TEST(yaml_caps)
{
    struct lw_errbuf eb;
    /* alias bomb (billion laughs): refused at the first alias */
    const char *bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n";
    CHECK(yaml_rc(bomb, strlen(bomb), &eb) != LW_OK);
    const char *alias = "context: &x prod\nlabel-selector: *x\n";
    CHECK(yaml_rc(alias, strlen(alias), &eb) != LW_OK);
    CHECK(strstr(eb.msg, "aliases"));
    /* deep nesting: refused at the first level we do not expect, quickly */
    size_t depth = 200000;
    char *deep = malloc(depth * 2 + 32);
    size_t n = (size_t)sprintf(deep, "namespaces: ");
    for (size_t i = 0; i < depth; i++)
        deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[n++] = ']';
    deep[n++] = '\n';
    double t0 = lw_clock_monotonic();
    CHECK(yaml_rc(deep, n, &eb) != LW_OK);
    CHECK(lw_clock_monotonic() - t0 < 1.0);
    free(deep);
    /* size cap, through the file path too */
    size_t big = LW_CONFIG_MAX_FILE + 10;
    char *huge = malloc(big);
    memset(huge, '#', big);
    CHECK_EQ_INT(yaml_rc(huge, big, &eb), LW_ETOOBIG);
    const char *path = write_tmp("huge.yaml", huge, big);
    char flag[300];
    snprintf(flag, sizeof flag, "--config=%s", path);
    char *argv[] = {flag, NULL};
    struct lw_config c;
    CHECK_EQ_INT(load(&c, argv, NULL, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, path));
    lw_config_release(&c);
    unlink(path);
    free(huge);
    /* an over-long list */
    struct lw_buf l = LW_BUF_INIT(1 << 20);
    lw_buf_appendf(&l, "namespaces:\n");
    for (int i = 0; i < 300; i++)
        lw_buf_appendf(&l, "- ns%d\n", i);
    CHECK(yaml_rc(l.data, l.len, &eb) != LW_OK);
    CHECK(strstr(eb.msg, "namespaces"));
    lw_buf_release(&l);
}

TEST(every_option_roundtrips)
{
    /* defaults -> formatted value -> set again -> same formatted value, and
     * every option is reachable by flag, env and YAML */
    struct lw_config c;
    struct lw_errbuf eb;
    memset(&c, 0, sizeof c);
    CHECK_EQ_INT(lw_config_defaults(&c, &eb), LW_OK);
    for (size_t i = 0; i < lw_options_count; i++) {
        const struct lw_option *o = &lw_options[i];
        struct lw_buf a = LW_BUF_INIT(1 << 16), b = LW_BUF_INIT(1 << 16);
        CHECK_EQ_INT(lw_config_format_value(&c, o, &a), LW_OK);
        CHECK_EQ_INT(lw_config_set(&c, o->name, a.data ? a.data : "", "test", &eb), LW_OK);
        CHECK_EQ_INT(lw_config_format_value(&c, o, &b), LW_OK);
        CHECK_STR(a.data ? a.data : "", b.data ? b.data : "");
        CHECK(o->help && strlen(o->help) > 10 && o->group);
        CHECK(lw_config_find(o->name) == o);
        lw_buf_release(&a);
        lw_buf_release(&b);
    }
    lw_config_release(&c);
    /* env names are derived mechanically */
    char *envp[] = {"LEAKWATCH_KUBELET_INSECURE_SKIP_TLS_VERIFY=true",
                    "LEAKWATCH_DEBUG2_MIN_INTERVAL=90s", NULL};
    char *argv[] = {NULL};
    CHECK_EQ_INT(load(&c, argv, envp, &eb), LW_OK);
    CHECK_EQ_INT(c.kubelet_insecure_skip_tls_verify, 1);
    CHECK_NEAR(c.debug2_min_interval, 90, 0);
    lw_config_release(&c);
}

TEST(help_lists_everything)
{
    struct lw_buf h = LW_BUF_INIT(1 << 20);
    CHECK_EQ_INT(lw_config_help(&h), LW_OK);
    for (size_t i = 0; i < lw_options_count; i++) {
        char want[128];
        snprintf(want, sizeof want, "  --%s", lw_options[i].name);
        CHECK(strstr(h.data, want) != NULL);
    }
    CHECK(strstr(h.data, "LEAKWATCH_SCRAPE_INTERVAL"));
    CHECK(strstr(h.data, "or NODE_NAME"));
    /* no line wider than 100 columns */
    for (const char *p = h.data; *p;) {
        size_t l = strcspn(p, "\n");
        CHECK(l <= 100);
        p += l + (p[l] ? 1 : 0);
    }
    lw_buf_release(&h);
}

TEST(docs_in_sync)
{
    struct lw_buf gen = LW_BUF_INIT(1 << 20), cur = LW_BUF_INIT(1 << 20);
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_config_markdown(&gen), LW_OK);
    const char *path = "docs/configuration.md";
    const char *upd = getenv("LW_UPDATE_DOCS");
    if (upd && *upd == '1') {
        FILE *f = fopen(path, "wb");
        CHECK(f != NULL);
        if (f) {
            fwrite(gen.data, 1, gen.len, f);
            fclose(f);
            fprintf(stderr, "wrote %s\n", path);
        }
    }
    CHECK_EQ_INT(lw_read_file(path, &cur, &eb), LW_OK);
    int same = cur.len == gen.len && cur.data && memcmp(cur.data, gen.data, gen.len) == 0;
    if (!same)
        fprintf(stderr, "%s is out of date: regenerate with LW_UPDATE_DOCS=1 "
                        "build/tests/test_ops_config docs_in_sync (from the repo root)\n", path);
    CHECK(same);
    for (size_t i = 0; i < lw_options_count; i++) {
        char want[128];
        snprintf(want, sizeof want, "`--%s`", lw_options[i].name);
        CHECK(strstr(gen.data, want) != NULL);
    }
    lw_buf_release(&gen);
    lw_buf_release(&cur);
}

TEST(full_file_sets_every_option)
{
    /* the fuzz seed that names every option loads, and each key is an option */
    const char *path = "tests/fuzz/corpus/fuzz_config_yaml/full.yaml";
    struct lw_buf f = LW_BUF_INIT(1 << 20);
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_read_file(path, &f, &eb), LW_OK);
    for (size_t i = 1; i < lw_options_count; i++) { /* [0] is config itself */
        char want[128];
        snprintf(want, sizeof want, "\n%s:", lw_options[i].name);
        if (!f.data || !strstr(f.data, want)) {
            fprintf(stderr, "%s lacks %s\n", path, lw_options[i].name);
            CHECK(0);
        }
    }
    lw_buf_release(&f);
    char flag[300];
    snprintf(flag, sizeof flag, "--config=%s", path);
    char *argv[] = {flag, NULL};
    struct lw_config c;
    CHECK_EQ_INT(load(&c, argv, NULL, &eb), LW_OK);
    CHECK_EQ_INT(c.mode, LW_MODE_DAEMONSET);
    CHECK_EQ_INT(c.in_cluster, LW_FALSE);
    CHECK_NEAR(c.api_qps, 12.5, 1e-9);
    CHECK_EQ_INT(c.annotation_conventions.n, 2);
    CHECK_STR(c.annotation_conventions.v[1], "parca");
    CHECK_EQ_INT(c.max_response_bytes, 32 << 20);
    CHECK_NEAR(c.horizon, 2 * 86400, 0);
    CHECK_EQ_INT(c.goroutineleak_profile, 0);
    CHECK_EQ_INT(c.log_format, LW_LOG_JSON);
    CHECK_STR(c.metrics_bind_address, "[::]:9090");
    CHECK_STR(c.label_selector, "team=payments,tier!=batch");
    lw_config_release(&c);
}

TEST_LIST(T(full_file_sets_every_option), T(defaults), T(precedence), T(flag_forms_and_aliases), T(bad_flags_and_values),
          T(yaml_errors), T(yaml_caps), T(every_option_roundtrips), T(help_lists_everything),
          T(docs_in_sync));
TEST_MAIN()
