/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_watch.c: the network-free parts of pkg/kube: the capped line
 * splitter (lines split across chunks, CRLF, the cap), WatchEvent decoding
 * (every type, ERROR Status, junk), URL building with selector encoding,
 * Status error formatting, and the ignore-our-annotations comparison.
 */
#include "harness.h"
#include "kube/kube.h"

struct lines {
    char got[8][64];
    int n;
    int stop_at;
};

static int on_line(void *ud, const char *line, size_t len)
{
    struct lines *l = ud;
    if (l->n < 8) {
        snprintf(l->got[l->n], sizeof(l->got[0]), "%.*s", (int)len, line);
        l->n++;
    }
    return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

TEST(test_linesplit_chunks)
{
    struct lw_linesplit ls;
    lw_linesplit_init(&ls, 16);
    struct lines l = {0};
    const char *stream = "{\"a\":1}\n{\"b\":22}\r\n\nlast";
    /* feed byte by byte: chunk boundaries must not matter */
    for (const char *p = stream; *p; p++)
        CHECK_EQ_INT(lw_linesplit_feed(&ls, p, 1, on_line, &l), LW_OK);
    CHECK_EQ_INT(l.n, 3);
    CHECK_STR(l.got[0], "{\"a\":1}");
    CHECK_STR(l.got[1], "{\"b\":22}");
    CHECK_STR(l.got[2], "");
    CHECK_EQ_INT(lw_linesplit_pending(&ls), 4);
    /* the rest of the partial line completes it */
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "\n", 1, on_line, &l), LW_OK);
    CHECK_STR(l.got[3], "last");
    CHECK_EQ_INT(lw_linesplit_pending(&ls), 0);
    /* many lines in one chunk */
    struct lines m = {0};
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "x\ny\nz\n", 6, on_line, &m), LW_OK);
    CHECK_EQ_INT(m.n, 3);
    CHECK_STR(m.got[2], "z");
    /* the callback can stop feeding */
    struct lines s = {.stop_at = 1};
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "p\nq\n", 4, on_line, &s), 7);
    CHECK_EQ_INT(s.n, 1);
    lw_linesplit_release(&ls);
}

TEST(test_linesplit_cap)
{
    struct lw_linesplit ls;
    lw_linesplit_init(&ls, 8);
    struct lines l = {0};
    /* exactly the cap is fine, in one piece or split */
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "12345678\n", 9, on_line, &l), LW_OK);
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "1234", 4, on_line, &l), LW_OK);
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "5678\n", 5, on_line, &l), LW_OK);
    CHECK_EQ_INT(l.n, 2);
    CHECK_STR(l.got[1], "12345678");
    /* one byte more is an error, whether it arrives whole or in pieces */
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "123456789\n", 10, on_line, &l), LW_ETOOBIG);
    lw_linesplit_release(&ls);
    lw_linesplit_init(&ls, 8);
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "123456", 6, on_line, &l), LW_OK);
    CHECK_EQ_INT(lw_linesplit_feed(&ls, "789", 3, on_line, &l), LW_ETOOBIG);
    CHECK(lw_linesplit_pending(&ls) <= 8);
    /* an endless line without '\n' never holds more than the cap */
    lw_linesplit_release(&ls);
    lw_linesplit_init(&ls, 1000);
    char junk[100];
    memset(junk, 'x', sizeof(junk));
    int rc = LW_OK;
    for (int i = 0; i < 1000 && rc == LW_OK; i++)
        rc = lw_linesplit_feed(&ls, junk, sizeof(junk), on_line, &l);
    CHECK_EQ_INT(rc, LW_ETOOBIG);
    CHECK(ls.buf.cap <= 1001 * 2);
    lw_linesplit_release(&ls);
}

TEST(test_decode_events)
{
    struct lw_watch_event ev;
    struct lw_errbuf eb;
    const char *added = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                        "{\"name\":\"a\",\"uid\":\"u1\",\"resourceVersion\":\"17\"}}}";
    CHECK_EQ_INT(lw_watch_decode(added, strlen(added), &ev, &eb), LW_OK);
    CHECK_EQ_INT(ev.type, LW_WATCH_ADDED);
    CHECK_STR(ev.rv, "17");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(ev.object, "metadata"), "name")->valuestring,
              "a");
    cJSON_Delete(ev.root);

    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
                     "\"metadata\":{\"resourceVersion\":\"12345\"}}}";
    CHECK_EQ_INT(lw_watch_decode(bm, strlen(bm), &ev, &eb), LW_OK);
    CHECK_EQ_INT(ev.type, LW_WATCH_BOOKMARK);
    CHECK_STR(ev.rv, "12345");
    cJSON_Delete(ev.root);

    const char *del = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}";
    CHECK_EQ_INT(lw_watch_decode(del, strlen(del), &ev, &eb), LW_OK);
    CHECK_EQ_INT(ev.type, LW_WATCH_DELETED);
    cJSON_Delete(ev.root);
    const char *mod = "{\"type\":\"MODIFIED\",\"object\":{}}";
    CHECK_EQ_INT(lw_watch_decode(mod, strlen(mod), &ev, &eb), LW_OK);
    CHECK_EQ_INT(ev.type, LW_WATCH_MODIFIED);
    CHECK(ev.rv == NULL);
    cJSON_Delete(ev.root);

    /* the 410 ERROR event as kube-apiserver sends it on a 200 stream */
    const char *err = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                      "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource "
                      "version: 5 (120)\",\"reason\":\"Expired\",\"code\":410}}";
    CHECK_EQ_INT(lw_watch_decode(err, strlen(err), &ev, &eb), LW_OK);
    CHECK_EQ_INT(ev.type, LW_WATCH_ERROR);
    CHECK_EQ_INT(ev.code, 410);
    CHECK_STR(ev.reason, "Expired");
    CHECK_STR(ev.message, "too old resource version: 5 (120)");
    cJSON_Delete(ev.root);

    const char *unk = "{\"type\":\"SOMETHING\",\"object\":{}}";
    CHECK_EQ_INT(lw_watch_decode(unk, strlen(unk), &ev, &eb), LW_OK);
    CHECK_EQ_INT(ev.type, LW_WATCH_UNKNOWN);
    CHECK_STR(ev.type_str, "SOMETHING");
    cJSON_Delete(ev.root);

    /* not events */
    const char *bad[] = {"{\"type\":\"ADDED\"", "[1,2]", "{\"type\":1,\"object\":{}}",
                         "{\"type\":\"ADDED\",\"object\":\"x\"}", "null", "{}"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(bad); i++) {
        eb.msg[0] = '\0';
        CHECK_EQ_INT(lw_watch_decode(bad[i], strlen(bad[i]), &ev, &eb), LW_EFORMAT);
        CHECK(eb.msg[0] != '\0');
    }
    CHECK_EQ_INT(lw_watch_decode("  \r", 3, &ev, &eb), LW_EEMPTY);
    /* the length is honoured: no reading past it */
    CHECK_EQ_INT(lw_watch_decode(added, 20, &ev, &eb), LW_EFORMAT);
}

TEST(test_build_url)
{
    struct lw_buf b = LW_BUF_INIT(4096);
    struct lw_kube_list_opts o = {0};
    o.label_selector = "app in (a,b),!x";
    o.field_selector = "spec.nodeName=node-1";
    o.resource_version = "123";
    o.allow_bookmarks = 1;
    o.timeout_seconds = 345;
    o.limit = 500; /* lists only */
    CHECK_EQ_INT(lw_kube_build_url(&b, "/api/v1/pods", &o, 1), LW_OK);
    CHECK_STR(b.data, "/api/v1/pods?watch=1&labelSelector=app%20in%20%28a%2Cb%29%2C%21x"
                      "&fieldSelector=spec.nodeName%3Dnode-1&resourceVersion=123"
                      "&allowWatchBookmarks=true&timeoutSeconds=345");
    lw_buf_reset(&b);
    struct lw_kube_list_opts l = {0};
    l.limit = 2;
    l.continue_token = "eyJ2Ijoi+/=";
    CHECK_EQ_INT(lw_kube_build_url(&b, "/api/v1/pods", &l, 0), LW_OK);
    CHECK_STR(b.data, "/api/v1/pods?limit=2&continue=eyJ2Ijoi%2B%2F%3D");
    lw_buf_reset(&b);
    CHECK_EQ_INT(lw_kube_build_url(&b, "/api/v1/pods", NULL, 0), LW_OK);
    CHECK_STR(b.data, "/api/v1/pods");
    lw_buf_reset(&b);
    CHECK_EQ_INT(lw_kube_build_url(&b, "/api/v1/pods?x=1", &l, 0), LW_OK);
    CHECK_STR(b.data, "/api/v1/pods?x=1&limit=2&continue=eyJ2Ijoi%2B%2F%3D");
    lw_buf_release(&b);
    /* capped */
    struct lw_buf small = LW_BUF_INIT(16);
    CHECK_EQ_INT(lw_kube_build_url(&small, "/api/v1/pods", &o, 1), LW_ETOOBIG);
    lw_buf_release(&small);
}

TEST(test_format_error)
{
    struct lw_kube_result r;
    memset(&r, 0, sizeof(r));
    r.err = LW_EHTTP;
    r.status = 404;
    r.reason = "NotFound";
    r.message = "pods \"x\" not found";
    lw_kube_format_error(&r);
    CHECK_STR(r.errmsg, "pods \"x\" not found (NotFound, 404)");
    CHECK(!lw_kube_is_expired(&r));
    memset(&r, 0, sizeof(r));
    r.err = LW_EHTTP;
    r.status = 502;
    r.reason = r.message = "";
    lw_kube_format_error(&r);
    CHECK_STR(r.errmsg, "HTTP 502 without a Status body");
    memset(&r, 0, sizeof(r));
    r.err = LW_EHTTP;
    r.status = 200; /* an ERROR event on a 200 stream carries reason Expired */
    r.reason = "Expired";
    r.message = "too old";
    CHECK(lw_kube_is_expired(&r));
    r.reason = "Gone";
    CHECK(lw_kube_is_expired(&r));
    r.reason = "";
    r.status = 410;
    CHECK(lw_kube_is_expired(&r));
}

TEST(test_only_ignored_changed)
{
    const char *keys[] = {"leakwatch.io/status", "leakwatch.io/summary"};
    cJSON *a = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"1\","
                           "\"annotations\":{\"leakwatch.io/scrape\":\"true\"}},"
                           "\"spec\":{\"nodeName\":\"n\"}}");
    cJSON *b = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"2\","
                           "\"managedFields\":[{}],\"annotations\":{\"leakwatch.io/scrape\":"
                           "\"true\",\"leakwatch.io/status\":\"ok\"}},\"spec\":{\"nodeName\":\"n\"}}");
    cJSON *c = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"3\","
                           "\"annotations\":{\"leakwatch.io/scrape\":\"false\","
                           "\"leakwatch.io/status\":\"ok\"}},\"spec\":{\"nodeName\":\"n\"}}");
    cJSON *d = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"4\","
                           "\"annotations\":{\"leakwatch.io/status\":\"ok\"}},"
                           "\"spec\":{\"nodeName\":\"n\"}}");
    cJSON *e = cJSON_Parse("{\"metadata\":{\"name\":\"p\",\"resourceVersion\":\"5\"},"
                           "\"spec\":{\"nodeName\":\"n\"}}");
    CHECK(lw_informer_only_ignored_changed(a, b, keys, 2));
    CHECK(!lw_informer_only_ignored_changed(b, c, keys, 2)); /* someone else's annotation */
    CHECK(!lw_informer_only_ignored_changed(a, b, keys, 0));
    CHECK(lw_informer_only_ignored_changed(d, e, keys, 2)); /* only ours, then none */
    CHECK(!lw_informer_only_ignored_changed(a, NULL, keys, 2));
    /* a list item (no kind/apiVersion) against the same object from a watch */
    cJSON *w = cJSON_Duplicate(b, 1);
    cJSON_AddStringToObject(w, "kind", "Pod");
    cJSON_AddStringToObject(w, "apiVersion", "v1");
    CHECK(lw_informer_only_ignored_changed(a, w, keys, 2));
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(w, "spec"), "nodeName", cJSON_CreateString("m"));
    CHECK(!lw_informer_only_ignored_changed(a, w, keys, 2));
    cJSON_Delete(w);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    cJSON_Delete(d);
    cJSON_Delete(e);
}

TEST_LIST(T(test_linesplit_chunks), T(test_linesplit_cap), T(test_decode_events), T(test_build_url),
          T(test_format_error), T(test_only_ignored_changed));
TEST_MAIN()
