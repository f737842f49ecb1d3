/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_faults_loop.c: regression test for the heap corruption found by
 * tests/cli/test_faults_targets.sh (a pod deleted while its scrape hangs).
 * The controller drops a pod's scrape from inside a watch event handler,
 * i.e. from inside another transfer's libcurl write callback, where libcurl
 * refuses curl_multi_remove_handle (CURLM_RECURSIVE_API_CALL); freeing the
 * easy handle then left it linked into the multi handle. lw_loop_http_discard
 * must make that safe: here a file:// transfer's write callback discards a
 * transfer hanging on a loopback listener that never answers, and frees the
 * caller's buffers at once. Run under valgrind/ASan by scripts/test.sh; the
 * hanging connection must be closed right after the callback returns.
 */
#include "harness.h"
#include "loop/loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

struct victim {
    CURL *easy;
    char *buf;       /* freed by the "handler", as the scraper frees its request */
    int done;        /* its completion callback must never run */
};

struct killer {
    struct lw_loop *loop;
    struct victim *v;
    int discarded;
    int done;
};

static size_t victim_write(char *p, size_t size, size_t n, void *ud)
{
    struct victim *v = ud;
    memcpy(v->buf, p, size * n < 8 ? size * n : 8); /* touches memory the caller freed */
    return size * n;
}

static void victim_done(struct lw_loop *l, CURL *e, CURLcode rc, void *ud)
{
    (void)l, (void)e, (void)rc;
    ((struct victim *)ud)->done = 1;
}

static size_t killer_write(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    struct killer *k = ud;
    if (!k->discarded && k->v->easy) {
        /* what pod_forget -> lw_scraper_remove does from a watch handler */
#ifdef LW_TEST_OLD_REMOVE /* what the callers did before: corrupts the heap */
        lw_loop_http_remove(k->loop, k->v->easy);
        curl_easy_cleanup(k->v->easy);
#else
        lw_loop_http_discard(k->loop, k->v->easy);
#endif
        k->v->easy = NULL;
        free(k->v->buf);
        k->v->buf = NULL;
        k->discarded = 1;
    }
    return size * n;
}

static void killer_done(struct lw_loop *l, CURL *e, CURLcode rc, void *ud)
{
    (void)l;
    struct killer *k = ud;
    CHECK_EQ_INT(rc, CURLE_OK);
    curl_easy_cleanup(e);
    k->done = 1;
}

TEST(test_discard_from_inside_another_callback)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lw_loop *l = lw_loop_new(NULL);
    CHECK(l != NULL);
    /* a listener that accepts nothing: the victim's request hangs */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(listen(ls, 4) == 0);
    socklen_t al = sizeof(a);
    CHECK(getsockname(ls, (struct sockaddr *)&a, &al) == 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/debug/pprof/goroutine?debug=1",
             ntohs(a.sin_port));

    struct victim v = {0};
    v.buf = malloc(64);
    v.easy = curl_easy_init();
    curl_easy_setopt(v.easy, CURLOPT_URL, url);
    curl_easy_setopt(v.easy, CURLOPT_WRITEFUNCTION, victim_write);
    curl_easy_setopt(v.easy, CURLOPT_WRITEDATA, &v);
    curl_easy_setopt(v.easy, CURLOPT_TIMEOUT_MS, 20000L);
    CHECK_EQ_INT(lw_loop_http_add(l, v.easy, victim_done, &v, NULL), LW_OK);
    /* let it connect and send its request */
    for (int i = 0; i < 20; i++)
        lw_loop_run_once(l, 0.02);
    int conn = accept(ls, NULL, NULL);
    CHECK(conn >= 0);

    /* a file:// transfer whose write callback discards the hanging one */
    char path[] = "/tmp/lwfaultsloopXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "watch-event\n", 12) == 12);
    close(fd);
    char furl[128];
    snprintf(furl, sizeof(furl), "file://%s", path);
    struct killer k = {.loop = l, .v = &v};
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, furl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, killer_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &k);
    CHECK_EQ_INT(lw_loop_http_add(l, e, killer_done, &k, NULL), LW_OK);
    CHECK_EQ_INT(lw_loop_run_until(l, &k.done, 10), LW_OK);
    CHECK_EQ_INT(k.discarded, 1);
    CHECK_EQ_INT(lw_loop_http_count(l), 0);

    /* the server answers now: nothing may reach the freed buffer, and the
     * discarded transfer's connection is closed (EOF) without waiting for its
     * 20 s timeout */
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    (void)!write(conn, resp, strlen(resp));
    for (int i = 0; i < 10; i++)
        lw_loop_run_once(l, 0.02);
    struct pollfd pf = {.fd = conn, .events = POLLIN};
    int closed = 0;
    for (int i = 0; i < 50 && !closed; i++) {
        char b[256];
        if (poll(&pf, 1, 20) == 1 && read(conn, b, sizeof(b)) <= 0)
            closed = 1;
        lw_loop_run_once(l, 0.01);
    }
    CHECK(closed);
    CHECK_EQ_INT(v.done, 0);
    close(conn);
    close(ls);
    unlink(path);
    lw_loop_free(l);
    curl_global_cleanup();
}

/* Outside any libcurl callback it is an immediate remove + cleanup. */
TEST(test_discard_outside_callbacks)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lw_loop *l = lw_loop_new(NULL);
    struct victim v = {0};
    v.easy = curl_easy_init();
    curl_easy_setopt(v.easy, CURLOPT_URL, "http://127.0.0.1:1/");
    CHECK_EQ_INT(lw_loop_http_add(l, v.easy, victim_done, &v, NULL), LW_OK);
    CHECK_EQ_INT(lw_loop_http_count(l), 1);
    lw_loop_http_discard(l, v.easy);
    lw_loop_http_discard(l, NULL);
    CHECK_EQ_INT(lw_loop_http_count(l), 0);
    for (int i = 0; i < 5; i++)
        lw_loop_run_once(l, 0.01);
    CHECK_EQ_INT(v.done, 0);
    lw_loop_free(l);
    curl_global_cleanup();
}

TEST_LIST(T(test_discard_from_inside_another_callback), T(test_discard_outside_callbacks));
TEST_MAIN()
