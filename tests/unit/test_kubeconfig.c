/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kubeconfig.c: pkg/kubeconfig. The YAML loader's caps (huge input,
 * deep nesting, alias bombs), kubeconfig merging across files, relative
 * paths, inline data, contexts, every load-time error (naming file, context,
 * cluster/user and field, never the token), in-cluster config with token
 * rotation, and exec plugins (a shell script that checks its argv and
 * environment, counts its runs, and is cached until expiry / re-run on 401).
 * Key material is generated with the openssl CLI into a temporary directory.
 *
 * The same binary is also the tiny API client used by the end-to-end test
 * tests/cli/test_kubeconfig_e2e.sh: `test_kubeconfig --e2e ...` (see e2e_main).
 */
#include "harness.h"

#include "kubeconfig/kubeconfig.h"
#include "kubeconfig/kubeconfig_int.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tdir[256];

static void wr(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wr(const char *name, const char *fmt, ...)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", tdir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

static const char *tp(const char *name)
{
    static char bufs[8][600];
    static int i;
    i = (i + 1) % 8;
    snprintf(bufs[i], sizeof(bufs[i]), "%s/%s", tdir, name);
    return bufs[i];
}

static char *slurp(const char *path)
{
    char *d = NULL;
    size_t n;
    struct lw_errbuf eb;
    if (lw__read_small(path, 1 << 20, &d, &n, &eb))
        return NULL;
    return d;
}

/* key material: ca.crt, client.crt/key (signed by ca), other.key (unrelated) */
static char *ca_b64, *crt_b64, *key_b64, *other_key_b64;
static int have_certs;

static void gen_certs(void)
{
    if (have_certs)
        return;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "(cd %s && mkdir -p certs && cd certs && "
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout ca.key -out ca.crt -days 2 -subj /CN=t-ca && "
             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout client.key -out client.csr -subj /CN=t-client && "
             "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
             "-out client.crt -days 2 && "
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key)"
             " >/dev/null 2>&1",
             tdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "openssl failed\n");
        abort();
    }
    const char *names[] = {"certs/ca.crt", "certs/client.crt", "certs/client.key",
                           "certs/other.key"};
    char **outs[] = {&ca_b64, &crt_b64, &key_b64, &other_key_b64};
    for (int i = 0; i < 4; i++) {
        char *d = slurp(tp(names[i]));
        if (!d)
            abort();
        *outs[i] = lw__b64_encode(d, strlen(d));
        free(d);
    }
    have_certs = 1;
}

/* Load with only o->path / kubeconfig_env set. */
static int load(const char *path, const char *envlist, const char *context,
                struct lw_kube_endpoint *ep, struct lw_kubeconfig_info *info,
                struct lw_errbuf *eb)
{
    struct lw_kubeconfig_opts o;
    lw_kubeconfig_opts_default(&o);
    o.path = path;
    o.kubeconfig_env = envlist ? envlist : "";
    o.home = "/nonexistent";
    o.context = context;
    eb->msg[0] = 0;
    return lw_kubeconfig_load_file(&o, ep, info, eb);
}

/* Run apply() and return the "Authorization: Bearer " value ("" if none);
 * host gets the Host: header if any. */
static int apply_token(struct lw_kube_endpoint *ep, char *tok, size_t toklen, char *host,
                       size_t hostlen, struct lw_errbuf *eb)
{
    CURL *easy = curl_easy_init();
    struct curl_slist *h = NULL;
    tok[0] = 0;
    if (host)
        host[0] = 0;
    int rc = ep->apply(ep->ud, easy, &h, eb);
    for (struct curl_slist *l = h; l; l = l->next) {
        if (strncmp(l->data, "Authorization: Bearer ", 22) == 0)
            snprintf(tok, toklen, "%s", l->data + 22);
        if (host && strncmp(l->data, "Host: ", 6) == 0)
            snprintf(host, hostlen, "%s", l->data + 6);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(easy);
    return rc;
}

/* ---- YAML loader ---- */

static const struct lw__ycaps caps = {LW_KUBECONFIG_MAX_FILE, LW_KUBECONFIG_MAX_DEPTH,
                                      LW_KUBECONFIG_MAX_NODES};

TEST(yaml_basic)
{
    const char *y = "a: 1\nb: \"x y\"\nc: ~\nd: [1, 2, {e: f}]\nbase: &b {k: v, z: 1}\n"
                    "m:\n  <<: *b\n  z: 2\nq: 'true'\nr: true\na: 3\n";
    struct lw__ydoc doc;
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw__y_parse(y, strlen(y), &caps, &doc, &eb), LW_OK);
    const struct lw__ynode *r = doc.root;
    CHECK(r && r->type == LW_Y_MAP);
    CHECK_STR(lw__y_get(r, "a")->str, "3");   /* last occurrence wins */
    CHECK_STR(lw__y_get(r, "b")->str, "x y");
    CHECK(lw__y_get(r, "c") == NULL);
    CHECK(lw__y_get(r, "nope") == NULL);
    const struct lw__ynode *d = lw__y_get(r, "d");
    CHECK(d && d->type == LW_Y_SEQ && d->n == 3);
    CHECK_STR(lw__y_get(d->items[2], "e")->str, "f");
    const struct lw__ynode *m = lw__y_get(r, "m");
    CHECK_STR(lw__y_get(m, "k")->str, "v");   /* from the merge key */
    CHECK_STR(lw__y_get(m, "z")->str, "2");   /* own key beats the merge */
    CHECK(!lw__y_get(r, "q")->plain);
    CHECK(lw__y_get(r, "r")->plain);
    lw__y_release(&doc);

    CHECK_EQ_INT(lw__y_parse("", 0, &caps, &doc, &eb), LW_OK);
    CHECK(doc.root == NULL);
    lw__y_release(&doc);
}

TEST(yaml_bad)
{
    struct lw__ydoc doc;
    struct lw_errbuf eb;
    const char *bad = "a: 1\nb: [1, 2\nc: 3\n";
    CHECK_EQ_INT(lw__y_parse(bad, strlen(bad), &caps, &doc, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "line ") != NULL);
    CHECK(strstr(eb.msg, "invalid YAML") != NULL);
    lw__y_release(&doc);
    const char *undef = "a: *nope\n";
    CHECK_EQ_INT(lw__y_parse(undef, strlen(undef), &caps, &doc, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "unknown anchor") != NULL);
    lw__y_release(&doc);
    /* a node cannot refer to itself: the anchor is usable only once complete */
    const char *self = "a: &x [1, *x]\n";
    CHECK(lw__y_parse(self, strlen(self), &caps, &doc, &eb) != LW_OK);
    lw__y_release(&doc);
}

TEST(yaml_huge)
{
    struct lw__ydoc doc;
    struct lw_errbuf eb;
    /* size cap */
    size_t big = LW_KUBECONFIG_MAX_FILE + 10;
    char *s = malloc(big);
    memset(s, '#', big);
    CHECK_EQ_INT(lw__y_parse(s, big, &caps, &doc, &eb), LW_ETOOBIG);
    lw__y_release(&doc);
    /* node cap: 300k tiny items in ~1.2 MB */
    size_t n = 300000, o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(s + o, "- a\n", 4);
        o += 4;
    }
    CHECK_EQ_INT(lw__y_parse(s, o, &caps, &doc, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "nodes") != NULL);
    lw__y_release(&doc);
    /* depth cap: [[[[...]]]] 1000 deep */
    o = 0;
    for (int i = 0; i < 1000; i++)
        s[o++] = '[';
    for (int i = 0; i < 1000; i++)
        s[o++] = ']';
    CHECK_EQ_INT(lw__y_parse(s, o, &caps, &doc, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "nested") != NULL);
    lw__y_release(&doc);
    free(s);

    /* and through the kubeconfig loader: the file is named */
    FILE *f = fopen(tp("huge.yaml"), "w");
    fputs("clusters:\n", f);
    for (int i = 0; i < 250000; i++)
        fputs("- x\n", f);
    fclose(f);
    struct lw_kube_endpoint ep;
    CHECK_EQ_INT(load(tp("huge.yaml"), NULL, NULL, &ep, NULL, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "huge.yaml") != NULL);
}

TEST(yaml_alias_bomb)
{
    const char *bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\","
                       "\"lol\"]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                       "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                       "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    struct lw__ydoc doc;
    struct lw_errbuf eb;
    clock_t t0 = clock();
    CHECK_EQ_INT(lw__y_parse(bomb, strlen(bomb), &caps, &doc, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "aliases counted expanded") != NULL);
    CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
    lw__y_release(&doc);
    /* ordinary alias use is fine */
    const char *ok = "x: &x {server: https://a}\ny: *x\n";
    CHECK_EQ_INT(lw__y_parse(ok, strlen(ok), &caps, &doc, &eb), LW_OK);
    CHECK_STR(lw__y_get(lw__y_get(doc.root, "y"), "server")->str, "https://a");
    lw__y_release(&doc);
    /* many anchors */
    struct lw_buf b = LW_BUF_INIT(1 << 20);
    for (int i = 0; i < 300; i++)
        lw_buf_appendf(&b, "k%d: &a%d v\n", i, i);
    CHECK_EQ_INT(lw__y_parse(b.data, b.len, &caps, &doc, &eb), LW_ETOOBIG);
    lw__y_release(&doc);
    lw_buf_release(&b);
}

TEST(base64_rfc3339)
{
    char *o;
    size_t n;
    CHECK_EQ_INT(lw__b64_decode("aGVsbG8=", 8, &o, &n), LW_OK);
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(o, "hello", 5) == 0);
    free(o);
    CHECK_EQ_INT(lw__b64_decode("aGVs\nbG8h", 9, &o, &n), LW_OK);
    CHECK_STR(o, "hello!");
    free(o);
    CHECK_EQ_INT(lw__b64_decode("aGVsbG8", 7, &o, &n), LW_EINVAL);   /* missing padding */
    CHECK_EQ_INT(lw__b64_decode("aGV*bG8=", 8, &o, &n), LW_EINVAL);
    CHECK_EQ_INT(lw__b64_decode("aGVsbG8=aa==", 12, &o, &n), LW_EINVAL);
    char *e = lw__b64_encode("hello!?", 7);
    CHECK_STR(e, "aGVsbG8hPw==");
    free(e);
    double t;
    CHECK_EQ_INT(lw__rfc3339_parse("2026-11-26T19:30:00Z", &t), LW_OK);
    CHECK_NEAR(t, 1795721400.0, 0.001);
    CHECK_EQ_INT(lw__rfc3339_parse("2026-11-26T20:30:00.25+01:00", &t), LW_OK);
    CHECK_NEAR(t, 1795721400.25, 0.001);
    CHECK_EQ_INT(lw__rfc3339_parse("2026-11-26 19:30:00", &t), LW_EINVAL);
    CHECK_EQ_INT(lw__rfc3339_parse("2026-13-26T19:30:00Z", &t), LW_EINVAL);
}

/* ---- kubeconfig files ---- */

TEST(merge_three_files)
{
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    struct lw_kubeconfig_info info;
    /* file 1 sets no current-context; defines cluster "shared" and user "u" */
    wr("m1.yaml", "apiVersion: v1\nkind: Config\nclusters:\n- name: shared\n  cluster:\n"
                  "    server: https://one.example:6443\n    insecure-skip-tls-verify: true\n"
                  "users:\n- name: u\n  user:\n    token: tok-from-file1\n"
                  "contexts:\n- name: c1\n  context: {cluster: shared, user: u}\n");
    /* file 2: first current-context; its "shared" and "u" are discarded whole */
    wr("m2.yaml", "current-context: c2\nclusters:\n- name: shared\n  cluster:\n"
                  "    server: https://two.example\n- name: only2\n  cluster:\n"
                  "    server: https://only2.example:443/prefix/\n"
                  "users:\n- name: u\n  user:\n    token: tok-from-file2\n"
                  "contexts:\n- name: c2\n  context: {cluster: shared, user: u, namespace: ns2}\n"
                  "- name: c1\n  context: {cluster: only2}\n");
    wr("m3.yaml", "current-context: c3\ncontexts:\n- name: c3\n  context: {cluster: only2}\n");
    char list[2048];
    snprintf(list, sizeof(list), "%s::%s:%s:%s:%s", tp("m1.yaml"), tp("missing.yaml"),
             tp("m2.yaml"), tp("m3.yaml"), tp("m1.yaml"));
    CHECK_EQ_INT(load(NULL, list, NULL, &ep, &info, &eb), LW_OK);
    CHECK_STR(info.context, "c2");   /* first file that sets it: m2, not m3 */
    CHECK_STR(info.cluster, "shared");
    CHECK_STR(ep.server, "https://one.example:6443");   /* file 1's cluster wins */
    CHECK_EQ_INT(info.insecure, 1);                   /* ...whole, with its fields */
    CHECK_STR(info.namespace_, "ns2");
    CHECK_STR(info.auth, "token");
    CHECK(strstr(info.source, "m2.yaml") != NULL);
    char tok[256];
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-from-file1");
    lw_kubeconfig_endpoint_release(&ep);
    lw_kubeconfig_endpoint_release(&ep);   /* idempotent */

    /* --context picks another; c1 comes from file 1 (not file 2's c1) */
    CHECK_EQ_INT(load(NULL, list, "c1", &ep, &info, &eb), LW_OK);
    CHECK_STR(info.cluster, "shared");
    CHECK_STR(info.namespace_, "default");
    lw_kubeconfig_endpoint_release(&ep);
    CHECK_EQ_INT(load(NULL, list, "c3", &ep, &info, &eb), LW_OK);
    CHECK_STR(ep.server, "https://only2.example:443/prefix");   /* trailing slash dropped */
    CHECK_STR(info.auth, "none");
    lw_kubeconfig_endpoint_release(&ep);

    /* unknown context, via --context and via current-context */
    CHECK_EQ_INT(load(NULL, list, "nope", &ep, &info, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "context \"nope\" not found") != NULL);
    CHECK(strstr(eb.msg, "--context") != NULL);
    wr("m4.yaml", "current-context: ghost\n");
    CHECK_EQ_INT(load(tp("m4.yaml"), NULL, NULL, &ep, &info, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "\"ghost\"") != NULL);
    /* no current-context at all */
    CHECK_EQ_INT(load(tp("m1.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "no context chosen") != NULL);
    /* more than 32 distinct entries */
    {
        struct lw_buf lb = LW_BUF_INIT(1 << 16);
        for (int i = 0; i < 40; i++)
            lw_buf_appendf(&lb, "%s/many-%d.yaml:", tdir, i);
        CHECK_EQ_INT(load(NULL, lb.data, NULL, &ep, &info, &eb), LW_ETOOBIG);
        CHECK(strstr(eb.msg, "more than 32") != NULL);
        lw_buf_release(&lb);
    }
    /* KUBECONFIG with only missing files; explicit missing path */
    snprintf(list, sizeof(list), "%s:%s", tp("x1"), tp("x2"));
    CHECK_EQ_INT(load(NULL, list, NULL, &ep, &info, &eb), LW_ENOTFOUND);
    CHECK_EQ_INT(load(tp("x1"), NULL, NULL, &ep, &info, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "x1") != NULL);
    /* context refers to a missing cluster / user */
    wr("m5.yaml", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: gone, user: u}\n"
                  "- name: b\n  context: {cluster: k, user: gone}\n"
                  "clusters:\n- name: k\n  cluster: {server: https://k}\n");
    CHECK_EQ_INT(load(tp("m5.yaml"), NULL, NULL, &ep, &info, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "cluster \"gone\"") != NULL);
    CHECK_EQ_INT(load(tp("m5.yaml"), NULL, "b", &ep, &info, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "user \"gone\"") != NULL);
    /* duplicate names within one file */
    wr("m6.yaml", "clusters:\n- name: k\n  cluster: {server: https://a}\n"
                  "- name: k\n  cluster: {server: https://b}\n");
    CHECK_EQ_INT(load(tp("m6.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "duplicate name \"k\"") != NULL);
}

TEST(relative_paths_and_files)
{
    gen_certs();
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    struct lw_kubeconfig_info info;
    mkdir(tp("sub"), 0700);
    mkdir(tp("sub/creds"), 0700);
    wr("sub/creds/tok", "  file-token-1\n");
    /* certificate paths relative to sub/, where the file lives; the cwd is the repo */
    wr("sub/config", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                     "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
                     "    certificate-authority: ../certs/ca.crt\n"
                     "users:\n- name: u\n  user:\n    client-certificate: ../certs/client.crt\n"
                     "    client-key: ../certs/client.key\n    tokenFile: creds/tok\n");
    CHECK_EQ_INT(load(tp("sub/config"), NULL, NULL, &ep, &info, &eb), LW_OK);
    if (eb.msg[0])
        fprintf(stderr, "  %s\n", eb.msg);
    CHECK_STR(info.auth, "client-cert+token-file");
    struct lw__provider *p = ep.ud;
    CHECK(p && p->ca && strstr(p->ca, "BEGIN CERTIFICATE"));
    CHECK(p && p->cert && p->key);
    char tok[256];
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "file-token-1");   /* trimmed */
    lw_kubeconfig_endpoint_release(&ep);

    /* the same through a relative kubeconfig path (cwd-relative) */
    char cwd[512];
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    CHECK_EQ_INT(chdir(tdir), 0);
    CHECK_EQ_INT(load("sub/config", NULL, NULL, &ep, &info, &eb), LW_OK);
    lw_kubeconfig_endpoint_release(&ep);
    CHECK_EQ_INT(chdir(cwd), 0);

    /* missing CA file: names the file, context, cluster and field */
    wr("sub/config2", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                      "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
                      "    certificate-authority: nothere/ca.crt\n");
    CHECK_EQ_INT(load(tp("sub/config2"), NULL, NULL, &ep, &info, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "sub/config2") != NULL);
    CHECK(strstr(eb.msg, "context \"c\"") != NULL);
    CHECK(strstr(eb.msg, "cluster \"k\"") != NULL);
    CHECK(strstr(eb.msg, "certificate-authority") != NULL);
    CHECK(strstr(eb.msg, "sub/nothere/ca.crt") != NULL);
    /* bad PEM in a CA file */
    wr("sub/garbage.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                          "-----END CERTIFICATE-----\n");
    wr("sub/config3", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                      "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
                      "    certificate-authority: garbage.crt\n");
    CHECK_EQ_INT(load(tp("sub/config3"), NULL, NULL, &ep, &info, &eb), LW_EFORMAT);
    CHECK(strstr(eb.msg, "certificate-authority") != NULL);
    CHECK(strstr(eb.msg, "garbage.crt") != NULL);
    /* an empty CA file */
    wr("sub/empty.crt", "%s", "");
    wr("sub/config4", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                      "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:1\n"
                      "    certificate-authority: empty.crt\n");
    CHECK_EQ_INT(load(tp("sub/config4"), NULL, NULL, &ep, &info, &eb), LW_EFORMAT);
    CHECK(strstr(eb.msg, "no PEM certificate") != NULL);
    /* unreadable token file, no token: error names user and field */
    wr("sub/config5", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                      "clusters:\n- name: k\n  cluster: {server: https://127.0.0.1:1}\n"
                      "users:\n- name: u\n  user: {tokenFile: creds/none}\n");
    CHECK_EQ_INT(load(tp("sub/config5"), NULL, NULL, &ep, &info, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "user \"u\"") != NULL && strstr(eb.msg, "tokenFile") != NULL);
}

TEST(inline_data_and_pem_errors)
{
    gen_certs();
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    struct lw_kubeconfig_info info;
    wr("i1.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://[fd00::1]:6443\n"
                  "    certificate-authority-data: %s\n"
                  "    certificate-authority: /does/not/matter\n"   /* -data overrides */
                  "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
                  "    client-key-data: %s\n",
       ca_b64, crt_b64, key_b64);
    CHECK_EQ_INT(load(tp("i1.yaml"), NULL, NULL, &ep, &info, &eb), LW_OK);
    CHECK_STR(ep.server, "https://[fd00::1]:6443");
    CHECK_STR(info.auth, "client-cert");
    char tok[64];
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "");
    lw_kubeconfig_endpoint_release(&ep);

    /* not base64 */
    wr("i2.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                  "    certificate-authority-data: '***'\n");
    CHECK_EQ_INT(load(tp("i2.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "certificate-authority-data: not valid base64") != NULL);
    /* base64 of something that is not PEM */
    wr("i3.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                  "    certificate-authority-data: aGVsbG8gd29ybGQ=\n");
    CHECK_EQ_INT(load(tp("i3.yaml"), NULL, NULL, &ep, &info, &eb), LW_EFORMAT);
    CHECK(strstr(eb.msg, "i3.yaml") && strstr(eb.msg, "cluster \"k\"") &&
          strstr(eb.msg, "certificate-authority-data") && strstr(eb.msg, "no PEM certificate"));
    /* a key that does not match the certificate */
    wr("i4.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                  "clusters:\n- name: k\n  cluster: {server: https://k}\n"
                  "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
                  "    client-key-data: %s\n",
       crt_b64, other_key_b64);
    CHECK_EQ_INT(load(tp("i4.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "user \"u\"") && strstr(eb.msg, "does not match"));
    /* certificate without key */
    wr("i5.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                  "clusters:\n- name: k\n  cluster: {server: https://k}\n"
                  "users:\n- name: u\n  user:\n    client-certificate-data: %s\n",
       crt_b64);
    CHECK_EQ_INT(load(tp("i5.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "client-key") && strstr(eb.msg, "both"));
    /* a key where a certificate should be */
    wr("i6.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                  "    certificate-authority-data: %s\n",
       key_b64);
    CHECK_EQ_INT(load(tp("i6.yaml"), NULL, NULL, &ep, &info, &eb), LW_EFORMAT);
    /* insecure with a CA is refused */
    wr("i7.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                  "    insecure-skip-tls-verify: true\n    certificate-authority-data: %s\n",
       ca_b64);
    CHECK_EQ_INT(load(tp("i7.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "insecure") != NULL);
    /* a quoted boolean is not a boolean */
    wr("i8.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                  "    insecure-skip-tls-verify: 'maybe'\n");
    CHECK_EQ_INT(load(tp("i8.yaml"), NULL, NULL, &ep, &info, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "insecure-skip-tls-verify: must be true or false") != NULL);
}

TEST(bad_yaml_and_shapes)
{
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    wr("b1.yaml", "current-context: c\nclusters:\n- name: k\n  cluster: {server: https://k\n");
    CHECK_EQ_INT(load(tp("b1.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "b1.yaml") && strstr(eb.msg, "line"));
    wr("b2.yaml", "- just\n- a list\n");
    CHECK_EQ_INT(load(tp("b2.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "top level") != NULL);
    wr("b3.yaml", "clusters: {a: b}\n");
    CHECK_EQ_INT(load(tp("b3.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "clusters: must be a list") != NULL);
    wr("b4.yaml", "users:\n- user: {token: x}\n");
    CHECK_EQ_INT(load(tp("b4.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "missing name") != NULL);
    /* an empty file is an empty config; with another file it is fine */
    wr("b5.yaml", "%s", "");
    wr("b6.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster: {server: 'http://127.0.0.1:8001'}\n");
    char list[1200];
    snprintf(list, sizeof(list), "%s:%s", tp("b5.yaml"), tp("b6.yaml"));
    CHECK_EQ_INT(load(NULL, list, NULL, &ep, NULL, &eb), LW_OK);
    CHECK_STR(ep.server, "http://127.0.0.1:8001");   /* kubectl proxy: no credentials */
    lw_kubeconfig_endpoint_release(&ep);
    /* but credentials are never sent over plain http */
    wr("b7.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                  "clusters:\n- name: k\n  cluster: {server: 'http://127.0.0.1:8001'}\n"
                  "users:\n- name: u\n  user: {token: SECRET-tok-b7}\n");
    CHECK_EQ_INT(load(tp("b7.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "plain http") != NULL);
    CHECK(strstr(eb.msg, "SECRET") == NULL);
    /* server missing / not a URL */
    wr("b8.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster: {insecure-skip-tls-verify: true}\n");
    CHECK_EQ_INT(load(tp("b8.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "cluster \"k\": server: not set") != NULL);
    wr("b9.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster: {server: 'ftp://x'}\n");
    CHECK_EQ_INT(load(tp("b9.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    /* host:port alone means https */
    wr("b10.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                   "clusters:\n- name: k\n  cluster: {server: '10.0.0.1:6443'}\n");
    CHECK_EQ_INT(load(tp("b10.yaml"), NULL, NULL, &ep, NULL, &eb), LW_OK);
    CHECK_STR(ep.server, "https://10.0.0.1:6443");
    lw_kubeconfig_endpoint_release(&ep);
}

TEST(tokens_never_in_errors)
{
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    const char *hdr = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                      "clusters:\n- name: k\n  cluster: {server: https://k}\n";
    wr("t1.yaml", "%susers:\n- name: u\n  user: {token: SECRET-tok-1, username: bob}\n", hdr);
    CHECK_EQ_INT(load(tp("t1.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "not both") != NULL);
    CHECK(strstr(eb.msg, "SECRET") == NULL);
    wr("t2.yaml", "%susers:\n- name: u\n  user: {token: \"SECRET-tok-2\\nX-Evil: 1\"}\n", hdr);
    CHECK_EQ_INT(load(tp("t2.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "control characters") != NULL);
    CHECK(strstr(eb.msg, "SECRET") == NULL);
    wr("t3.yaml", "%susers:\n- name: u\n  user:\n    token: SECRET-tok-3\n"
                  "    auth-provider: {name: gcp}\n", hdr);
    CHECK_EQ_INT(load(tp("t3.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EUNSUPPORTED);
    CHECK(strstr(eb.msg, "auth-provider") != NULL);
    CHECK(strstr(eb.msg, "SECRET") == NULL);
    /* a token with a control character in a token file */
    wr("t4.tok", "SECRET-tok-4\x01zz\n");
    wr("t4.yaml", "%susers:\n- name: u\n  user: {tokenFile: t4.tok}\n", hdr);
    CHECK_EQ_INT(load(tp("t4.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "t4.tok") != NULL);
    CHECK(strstr(eb.msg, "SECRET") == NULL);
    /* token + tokenFile: the file wins once it reads, the token covers a bad file */
    wr("t5.tok", "from-file\n");
    wr("t5.yaml", "%susers:\n- name: u\n  user: {token: static-tok, tokenFile: t5.tok}\n", hdr);
    CHECK_EQ_INT(load(tp("t5.yaml"), NULL, NULL, &ep, NULL, &eb), LW_OK);
    char tok[64];
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "from-file");
    lw_kubeconfig_endpoint_release(&ep);
    wr("t6.yaml", "%susers:\n- name: u\n  user: {token: static-tok, tokenFile: nothere.tok}\n",
       hdr);
    CHECK_EQ_INT(load(tp("t6.yaml"), NULL, NULL, &ep, NULL, &eb), LW_OK);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "static-tok");
    /* the file appears: not polled on every request, but read after a 401 */
    wr("nothere.tok", "late-file-tok\n");
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "static-tok");
    ep.unauthorized(ep.ud);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "late-file-tok");
    lw_kubeconfig_endpoint_release(&ep);
}

TEST(tls_server_name)
{
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    wr("s1.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://10.1.2.3:6443/base\n"
                  "    tls-server-name: kube.internal\n");
    CHECK_EQ_INT(load(tp("s1.yaml"), NULL, NULL, &ep, NULL, &eb), LW_OK);
    CHECK_STR(ep.server, "https://kube.internal:6443/base");
    struct lw__provider *p = ep.ud;
    CHECK(p->connect_to && strcmp(p->connect_to->data, "kube.internal:6443:10.1.2.3:6443") == 0);
    char tok[16], host[128];
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), host, sizeof(host), &eb), LW_OK);
    CHECK_STR(host, "10.1.2.3:6443");
    lw_kubeconfig_endpoint_release(&ep);
    wr("s2.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://[fd00::2]\n"
                  "    tls-server-name: api.example\n");
    CHECK_EQ_INT(load(tp("s2.yaml"), NULL, NULL, &ep, NULL, &eb), LW_OK);
    p = ep.ud;
    CHECK(p->connect_to && strcmp(p->connect_to->data, "api.example:443:[fd00::2]:443") == 0);
    CHECK_STR(ep.server, "https://api.example:443");
    lw_kubeconfig_endpoint_release(&ep);
    wr("s3.yaml", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
                  "clusters:\n- name: k\n  cluster:\n    server: https://k\n"
                  "    tls-server-name: 'bad name:1'\n");
    CHECK_EQ_INT(load(tp("s3.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "tls-server-name") != NULL);
}

/* ---- in-cluster ---- */

TEST(incluster)
{
    gen_certs();
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    struct lw_kubeconfig_info info;
    struct lw_kubeconfig_opts o;
    lw_kubeconfig_opts_default(&o);
    o.service_host = "fd00::1";
    o.service_port = "443";
    /* own copies: tp()'s buffers rotate */
    char tokp[600], cap[600], nsp[600], cap2[600], cap3[600], nsp2[600];
    snprintf(tokp, sizeof(tokp), "%s", tp("sa-token"));
    snprintf(cap, sizeof(cap), "%s", tp("certs/ca.crt"));
    snprintf(nsp, sizeof(nsp), "%s", tp("sa-ns"));
    snprintf(cap2, sizeof(cap2), "%s", tp("certs/none.crt"));
    snprintf(cap3, sizeof(cap3), "%s", tp("certs/client.key"));
    snprintf(nsp2, sizeof(nsp2), "%s", tp("none"));
    o.sa_token_path = tokp;
    o.sa_ca_path = cap;
    o.sa_namespace_path = nsp;
    o.token_refresh_s = 0.3;
    wr("sa-token", "tok-A\n");
    wr("sa-ns", "monitoring\n");
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_OK);
    CHECK_STR(ep.server, "https://[fd00::1]:443");
    CHECK_STR(info.namespace_, "monitoring");
    CHECK_STR(info.source, "in-cluster");
    struct lw__provider *p = ep.ud;
    char tok[64];
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-A");
    /* rotation: cached within the period... */
    wr("sa-token", "tok-B\n");
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-A");
    unsigned reads = p->token_reads;
    /* ...re-read right after a 401 */
    ep.unauthorized(ep.ud);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-B");
    CHECK_EQ_INT(p->token_reads, reads + 1);
    /* ...and after the refresh period */
    wr("sa-token", "tok-C\n");
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-B");
    usleep(350 * 1000);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-C");
    /* the kubelet's symlink swap is seen (re-opened by path) */
    wr("sa-token.2", "tok-D\n");
    CHECK_EQ_INT(rename(tp("sa-token.2"), tp("sa-token")), 0);
    ep.unauthorized(ep.ud);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-D");
    /* an empty or missing file keeps the last good token */
    wr("sa-token", "%s", "");
    ep.unauthorized(ep.ud);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-D");
    unlink(tp("sa-token"));
    usleep(350 * 1000);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "tok-D");
    lw_kubeconfig_endpoint_release(&ep);

    /* IPv4, default namespace when the file is missing */
    o.service_host = "10.96.0.1";
    o.sa_namespace_path = nsp2;
    wr("sa-token", "tok-E");
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_OK);
    CHECK_STR(ep.server, "https://10.96.0.1:443");
    CHECK_STR(info.namespace_, "default");
    lw_kubeconfig_endpoint_release(&ep);
    /* not in a cluster */
    o.service_port = "";
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_ENOTFOUND);
    o.service_port = "443";
    /* missing CA: fail closed, naming the file */
    o.sa_ca_path = cap2;
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "none.crt") != NULL);
    /* bad CA */
    o.sa_ca_path = cap3;
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_EFORMAT);
    CHECK(strstr(eb.msg, "client.key") != NULL);
    /* missing / empty token */
    o.sa_ca_path = cap;
    wr("sa-token", "  \n");
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_EEMPTY);
    CHECK(strstr(eb.msg, "sa-token") != NULL);
    unlink(tp("sa-token"));
    CHECK_EQ_INT(lw_kubeconfig_load_incluster(&o, &ep, &info, &eb), LW_EIO);
    /* lw_kubeconfig_load: in-cluster when no kubeconfig is named */
    wr("sa-token", "tok-F");
    o.kubeconfig_env = "";
    CHECK_EQ_INT(lw_kubeconfig_load(&o, &ep, &info, &eb), LW_OK);
    CHECK_STR(info.source, "in-cluster");
    lw_kubeconfig_endpoint_release(&ep);
    o.service_host = "";
    o.home = tdir;   /* no .kube/config there */
    CHECK_EQ_INT(lw_kubeconfig_load(&o, &ep, &info, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "not in a cluster") != NULL);
}

/* ---- exec plugins ---- */

static const char plugin_sh[] =
    "#!/bin/sh\n"
    "n=$(( $(cat \"$COUNT_FILE\" 2>/dev/null || echo 0) + 1 ))\n"
    "echo $n > \"$COUNT_FILE\"\n"
    "[ \"$1\" = \"--flag\" ] && [ \"$2\" = \"two words\" ] && [ $# = 2 ] || "
    "{ echo \"bad argv: $*\" >&2; exit 2; }\n"
    "[ \"$FOO\" = \"bar baz\" ] || { echo \"FOO not set from exec.env\" >&2; exit 2; }\n"
    "case \"$KUBERNETES_EXEC_INFO\" in "
    "*'\"apiVersion\":\"client.authentication.k8s.io/v1\"'*) ;; "
    "*) echo \"bad KUBERNETES_EXEC_INFO apiVersion\" >&2; exit 2;; esac\n"
    "case \"$KUBERNETES_EXEC_INFO\" in *'\"kind\":\"ExecCredential\"'*) ;; "
    "*) echo \"bad KUBERNETES_EXEC_INFO kind\" >&2; exit 2;; esac\n"
    "case \"$KUBERNETES_EXEC_INFO\" in *'\"interactive\":false'*) ;; "
    "*) echo \"KUBERNETES_EXEC_INFO: not interactive=false\" >&2; exit 2;; esac\n"
    "case \"$KUBERNETES_EXEC_INFO\" in "
    "*'\"cluster\":{\"server\":\"https://10.1.2.3:6443\"'*'\"config\":{\"audience\":\"lw\"}'*) ;; "
    "*) echo \"KUBERNETES_EXEC_INFO: no spec.cluster: $KUBERNETES_EXEC_INFO\" >&2; exit 2;; esac\n"
    "[ -t 0 ] && { echo \"stdin is a terminal\" >&2; exit 2; }\n"
    "if [ -n \"$FAIL\" ]; then echo '  boom: no credentials for you' >&2; echo more >&2; "
    "exit 3; fi\n"
    "if [ -n \"$SLEEP\" ]; then sleep \"$SLEEP\"; fi\n"
    "if [ -n \"$FLOOD\" ]; then head -c 3000000 /dev/zero | tr '\\0' x; exit 0; fi\n"
    "if [ -n \"$BADVER\" ]; then echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
    "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\"}}'; exit 0; fi\n"
    "if [ -n \"$CERT\" ]; then\n"
    "  c=$(awk '{printf \"%s\\\\n\", $0}' \"$CERT\")\n"
    "  k=$(awk '{printf \"%s\\\\n\", $0}' \"$KEY\")\n"
    "  printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"clientCertificateData\":\"%s\",\"clientKeyData\":\"%s\"}}' \"$c\" \"$k\";"
    " exit 0\n"
    "fi\n"
    "exp=''\n"
    "if [ -n \"$EXPIRE_IN\" ]; then exp=\",\\\"expirationTimestamp\\\":\\\"$(date -u -d "
    "@$(( $(date +%s) + EXPIRE_IN )) +%Y-%m-%dT%H:%M:%SZ)\\\"\"; fi\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"exec-tok-%s\"%s}}\\n' \"$n\" \"$exp\"\n";

static unsigned runs_in_file(const char *name)
{
    char *d = slurp(tp(name));
    unsigned n = d ? (unsigned)atoi(d) : 0;
    free(d);
    return n;
}

/* A kubeconfig whose user runs plugin.sh with extra env lines. */
static void write_exec_config(const char *file, const char *count, const char *extra_env,
                              const char *command, const char *extra_exec)
{
    wr(file, "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster:\n    server: https://10.1.2.3:6443\n"
             "    insecure-skip-tls-verify: true\n"
             "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
             "      extension: {audience: lw}\n"
             "users:\n- name: u\n  user:\n    exec:\n"
             "      apiVersion: client.authentication.k8s.io/v1\n"
             "      command: %s\n      args: [--flag, two words]\n"
             "      interactiveMode: Never\n      provideClusterInfo: true\n"
             "      installHint: 'install it with: apt install lw-plugin'\n%s"
             "      env:\n      - {name: FOO, value: bar baz}\n"
             "      - {name: COUNT_FILE, value: %s}\n%s",
       command, extra_exec ? extra_exec : "", tp(count), extra_env ? extra_env : "");
}

TEST(exec_plugin_cache_and_401)
{
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    struct lw_kubeconfig_info info;
    wr("plugin.sh", "%s", plugin_sh);
    chmod(tp("plugin.sh"), 0755);
    /* far expiry: run once at load, cached across requests, re-run after a 401 */
    write_exec_config("e1.yaml", "e1.count", "      - {name: EXPIRE_IN, value: '3600'}\n",
                      "./plugin.sh", NULL);
    CHECK_EQ_INT(load(tp("e1.yaml"), NULL, NULL, &ep, &info, &eb), LW_OK);
    if (eb.msg[0])
        fprintf(stderr, "  %s\n", eb.msg);
    CHECK_STR(info.auth, "exec");
    CHECK_EQ_INT(runs_in_file("e1.count"), 1);
    char tok[64];
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
        CHECK_STR(tok, "exec-tok-1");
    }
    CHECK_EQ_INT(runs_in_file("e1.count"), 1);
    ep.unauthorized(ep.ud);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "exec-tok-2");
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_EQ_INT(runs_in_file("e1.count"), 2);
    lw_kubeconfig_endpoint_release(&ep);

    /* expiry within the early-refresh window: every request re-runs */
    write_exec_config("e2.yaml", "e2.count", "      - {name: EXPIRE_IN, value: '5'}\n",
                      "./plugin.sh", NULL);
    CHECK_EQ_INT(load(tp("e2.yaml"), NULL, NULL, &ep, &info, &eb), LW_OK);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "exec-tok-3");
    CHECK_EQ_INT(runs_in_file("e2.count"), 3);
    lw_kubeconfig_endpoint_release(&ep);

    /* no expirationTimestamp: cached for good (until a 401) */
    write_exec_config("e3.yaml", "e3.count", NULL, "./plugin.sh", NULL);
    CHECK_EQ_INT(load(tp("e3.yaml"), NULL, NULL, &ep, &info, &eb), LW_OK);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_EQ_INT(runs_in_file("e3.count"), 1);
    lw_kubeconfig_endpoint_release(&ep);

    /* a plugin that returns a client certificate */
    gen_certs();
    char env[1400];
    snprintf(env, sizeof(env), "      - {name: CERT, value: %s}\n      - {name: KEY, value: %s}\n",
             tp("certs/client.crt"), tp("certs/client.key"));
    write_exec_config("e4.yaml", "e4.count", env, "./plugin.sh", NULL);
    CHECK_EQ_INT(load(tp("e4.yaml"), NULL, NULL, &ep, &info, &eb), LW_OK);
    if (eb.msg[0])
        fprintf(stderr, "  %s\n", eb.msg);
    struct lw__provider *p = ep.ud;
    CHECK(p && p->exec && p->exec->cert && strstr(p->exec->cert, "BEGIN CERTIFICATE"));
    CHECK_EQ_INT(apply_token(&ep, tok, sizeof(tok), NULL, 0, &eb), LW_OK);
    CHECK_STR(tok, "");
    lw_kubeconfig_endpoint_release(&ep);
}

TEST(exec_plugin_errors)
{
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    wr("plugin.sh", "%s", plugin_sh);
    chmod(tp("plugin.sh"), 0755);
    /* failure: exit status and the first stderr line, trimmed */
    write_exec_config("f1.yaml", "f1.count", "      - {name: FAIL, value: '1'}\n", "./plugin.sh",
                      NULL);
    CHECK_EQ_INT(load(tp("f1.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "exit status 3: boom: no credentials for you") != NULL);
    CHECK(strstr(eb.msg, "more") == NULL);
    CHECK(strstr(eb.msg, "user \"u\"") != NULL);
    /* the checks inside the script fail when argv is wrong */
    write_exec_config("f2.yaml", "f2.count", NULL, "./plugin.sh",
                      "      args: [--flag, two, words]\n");
    CHECK_EQ_INT(load(tp("f2.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EIO);
    /* (the later `args` key wins, as in JSON) */
    CHECK(strstr(eb.msg, "bad argv") != NULL);
    /* missing command: installHint shown */
    write_exec_config("f3.yaml", "f3.count", NULL, "lw-no-such-plugin-xyz", NULL);
    CHECK_EQ_INT(load(tp("f3.yaml"), NULL, NULL, &ep, NULL, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "lw-no-such-plugin-xyz") != NULL);
    CHECK(strstr(eb.msg, "apt install lw-plugin") != NULL);
    write_exec_config("f4.yaml", "f4.count", NULL, "./nothere.sh", NULL);
    CHECK_EQ_INT(load(tp("f4.yaml"), NULL, NULL, &ep, NULL, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "apt install lw-plugin") != NULL);
    /* wrong apiVersion in the output */
    write_exec_config("f5.yaml", "f5.count", "      - {name: BADVER, value: '1'}\n", "./plugin.sh",
                      NULL);
    CHECK_EQ_INT(load(tp("f5.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "plugin returned version client.authentication.k8s.io/v1beta1") != NULL);
    /* output cap */
    write_exec_config("f6.yaml", "f6.count", "      - {name: FLOOD, value: '1'}\n", "./plugin.sh",
                      NULL);
    CHECK_EQ_INT(load(tp("f6.yaml"), NULL, NULL, &ep, NULL, &eb), LW_ETOOBIG);
    /* timeout */
    write_exec_config("f7.yaml", "f7.count", "      - {name: SLEEP, value: '20'}\n", "./plugin.sh",
                      NULL);
    struct lw_kubeconfig_opts o;
    lw_kubeconfig_opts_default(&o);
    o.path = tp("f7.yaml");
    o.exec_timeout_s = 0.5;
    double t0 = lw__now_mono();
    CHECK_EQ_INT(lw_kubeconfig_load_file(&o, &ep, NULL, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "did not finish within 0.5 s") != NULL);
    CHECK(lw__now_mono() - t0 < 5);
    /* configuration errors */
    const char *hdr = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
                      "clusters:\n- name: k\n  cluster: {server: https://k}\n";
    wr("f8.yaml", "%susers:\n- name: u\n  user:\n    exec: {command: x, "
                  "apiVersion: client.authentication.k8s.io/v1}\n", hdr);
    CHECK_EQ_INT(load(tp("f8.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "interactiveMode: must be specified") != NULL);
    wr("f9.yaml", "%susers:\n- name: u\n  user:\n    exec: {command: x, "
                  "apiVersion: client.authentication.k8s.io/v1alpha1}\n", hdr);
    CHECK_EQ_INT(load(tp("f9.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EUNSUPPORTED);
    CHECK(strstr(eb.msg, "exec.apiVersion") != NULL);
    wr("f10.yaml", "%susers:\n- name: u\n  user:\n    exec: {apiVersion: "
                   "client.authentication.k8s.io/v1beta1}\n", hdr);
    CHECK_EQ_INT(load(tp("f10.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "exec.command: not set") != NULL);
    wr("f11.yaml", "%susers:\n- name: u\n  user:\n    token: SECRET-x\n    exec: {command: x, "
                   "apiVersion: client.authentication.k8s.io/v1beta1}\n", hdr);
    CHECK_EQ_INT(load(tp("f11.yaml"), NULL, NULL, &ep, NULL, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "only one") != NULL && strstr(eb.msg, "SECRET") == NULL);
}

TEST(exec_env_no_leak)
{
    /* exec.env goes to the child only */
    struct lw_errbuf eb;
    struct lw_kube_endpoint ep;
    wr("plugin.sh", "%s", plugin_sh);
    chmod(tp("plugin.sh"), 0755);
    write_exec_config("g1.yaml", "g1.count", NULL, "./plugin.sh", NULL);
    CHECK_EQ_INT(load(tp("g1.yaml"), NULL, NULL, &ep, NULL, &eb), LW_OK);
    CHECK(getenv("FOO") == NULL);
    CHECK(getenv("KUBERNETES_EXEC_INFO") == NULL);
    lw_kubeconfig_endpoint_release(&ep);
}

TEST_LIST(T(yaml_basic), T(yaml_bad), T(yaml_huge), T(yaml_alias_bomb), T(base64_rfc3339),
          T(merge_three_files), T(relative_paths_and_files), T(inline_data_and_pem_errors),
          T(bad_yaml_and_shapes), T(tokens_never_in_errors), T(tls_server_name), T(incluster),
          T(exec_plugin_cache_and_401), T(exec_plugin_errors), T(exec_env_no_leak));

/* ---- the end-to-end client --------------------------------------------------
 * test_kubeconfig --e2e [--kubeconfig F] [--context C] [--incluster HOST PORT SADIR]
 *                       [--between CMD] PATH
 * GETs PATH with the endpoint (on a 401: unauthorized() and one retry, as the
 * API client does); with --between runs CMD (sh -c) and GETs again. Prints
 * one line per request; exit 0 when every GET ended in 200 with a PodList. */

static size_t e2e_write(char *p, size_t sz, size_t n, void *ud)
{
    if (lw_buf_append(ud, p, sz * n))
        return 0;
    return sz * n;
}

static int e2e_get_once(CURL *easy, struct lw_kube_endpoint *ep, const char *path, long *status,
                        struct lw_buf *body)
{
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", ep->server, path);
    struct curl_slist *h = NULL;
    struct lw_errbuf eb;
    int rc = ep->apply(ep->ud, easy, &h, &eb);
    if (rc) {
        printf("apply error: %s\n", eb.msg);
        curl_slist_free_all(h);
        return rc;
    }
    char cerr[CURL_ERROR_SIZE] = "";
    lw_buf_reset(body);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, e2e_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(easy);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        printf("curl error %d: %s: %s\n", (int)cc, curl_easy_strerror(cc), cerr);
        return LW_ENET;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, status);
    return LW_OK;
}

static int e2e_get(CURL *easy, struct lw_kube_endpoint *ep, const char *path, const char *label)
{
    struct lw_buf body = LW_BUF_INIT(8 << 20);
    long status = 0;
    int rc = e2e_get_once(easy, ep, path, &status, &body);
    if (rc == LW_OK && status == 401) {
        printf("%s: 401 -> unauthorized()\n", label);
        ep->unauthorized(ep->ud);
        rc = e2e_get_once(easy, ep, path, &status, &body);
        label = "retry";
    }
    int ok = 0;
    if (rc == LW_OK) {
        cJSON *j = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
        const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "items");
        ok = status == 200 && cJSON_IsString(kind) && strcmp(kind->valuestring, "PodList") == 0;
        printf("%s: %ld %s items=%d\n", label, status,
               cJSON_IsString(kind) ? kind->valuestring : "?",
               cJSON_IsArray(items) ? cJSON_GetArraySize(items) : -1);
        cJSON_Delete(j);
    }
    lw_buf_release(&body);
    return ok;
}

static int e2e_main(int argc, char **argv)
{
    struct lw_kubeconfig_opts o;
    lw_kubeconfig_opts_default(&o);
    o.kubeconfig_env = "";
    o.home = "/nonexistent";
    const char *between = NULL, *path = NULL;
    int incluster = 0;
    char tokp[1024], cap[1024], nsp[1024];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--kubeconfig") == 0 && i + 1 < argc) {
            o.path = argv[++i];
        } else if (strcmp(argv[i], "--context") == 0 && i + 1 < argc) {
            o.context = argv[++i];
        } else if (strcmp(argv[i], "--between") == 0 && i + 1 < argc) {
            between = argv[++i];
        } else if (strcmp(argv[i], "--incluster") == 0 && i + 3 < argc) {
            incluster = 1;
            o.service_host = argv[++i];
            o.service_port = argv[++i];
            const char *d = argv[++i];
            snprintf(tokp, sizeof(tokp), "%s/token", d);
            snprintf(cap, sizeof(cap), "%s/ca.crt", d);
            snprintf(nsp, sizeof(nsp), "%s/namespace", d);
            o.sa_token_path = tokp;
            o.sa_ca_path = cap;
            o.sa_namespace_path = nsp;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "usage: test_kubeconfig --e2e [options] PATH\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lw_kube_endpoint ep;
    struct lw_kubeconfig_info info;
    struct lw_errbuf eb;
    int rc = incluster ? lw_kubeconfig_load_incluster(&o, &ep, &info, &eb)
                       : lw_kubeconfig_load_file(&o, &ep, &info, &eb);
    if (rc) {
        printf("load error: %s\n", eb.msg);
        curl_global_cleanup();
        return 3;
    }
    printf("loaded: %s context=%s auth=%s server=%s\n", info.source, info.context, info.auth,
           ep.server);
    CURL *easy = curl_easy_init();
    int ok = e2e_get(easy, &ep, path, "get1");
    if (ok && between) {
        fflush(stdout);
        if (system(between) != 0)
            printf("between command failed\n");
        ok = e2e_get(easy, &ep, path, "get2");
    }
    curl_easy_cleanup(easy);
    lw_kubeconfig_endpoint_release(&ep);
    curl_global_cleanup();
    return ok ? 0 : 1;
}

#define main lw_t_main
TEST_MAIN()
#undef main

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--e2e") == 0)
        return e2e_main(argc, argv);
    snprintf(tdir, sizeof(tdir), "/tmp/lwkc.XXXXXX");
    if (!mkdtemp(tdir)) {
        perror("mkdtemp");
        return 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = lw_t_main(argc, argv);
    curl_global_cleanup();
    free(ca_b64);
    free(crt_b64);
    free(key_b64);
    free(other_key_b64);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tdir);
    return rc;
}
