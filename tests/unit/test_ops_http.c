/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops_http.c: the ops HTTP server end to end on 127.0.0.1 with raw
 * socket clients, the test driving the same pkg/loop the server runs on:
 * /metrics content and headers, HEAD, /healthz, /readyz before and after
 * ready, 404/405/400, oversized headers (431 then closed), a slow client
 * that never finishes its request does not delay another client and is
 * closed at the timeout, the connection cap, a large response to a client
 * that reads slowly, and bind-address parsing.
 */
#include "harness.h"
#include "ops/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

/* Drive the loop and read fd until EOF/reset or timeout; returns the bytes. */
static struct lw_buf read_until_eof(struct lw_loop *loop, int fd, double timeout, int *eof)
{
    struct lw_buf b = LW_BUF_INIT(64 << 20);
    double end = lw_clock_monotonic() + timeout;
    *eof = 0;
    int got = 0;
    while (lw_clock_monotonic() < end) {
        lw_loop_run_once(loop, got ? 0 : 0.005);
        char tmp[65536];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        got = r > 0;
        if (r > 0) {
            lw_buf_append(&b, tmp, (size_t)r);
            continue;
        }
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            *eof = 1;
            break;
        }
    }
    if (!b.data)
        lw_buf_append(&b, "", 0);
    return b;
}

static struct lw_buf request(struct lw_loop *loop, int port, const char *raw)
{
    int fd = connect_to(port);
    CHECK(fd >= 0);
    send_all(fd, raw, strlen(raw));
    int eof;
    struct lw_buf b = read_until_eof(loop, fd, 5, &eof);
    CHECK(eof);
    close(fd);
    return b;
}

/* After a client saw EOF the server still needs a turn of the loop to see
 * the client's close and free its draining connection. */
static void settle(struct lw_loop *loop, struct lw_httpd *srv, size_t want)
{
    for (int i = 0; i < 200 && lw_httpd_conn_count(srv) > want; i++)
        lw_loop_run_once(loop, 0.01);
}

static int status_of(const struct lw_buf *b)
{
    int st = 0;
    if (b->data && sscanf(b->data, "HTTP/1.1 %d ", &st) == 1)
        return st;
    return -1;
}

static const char *body_of(const struct lw_buf *b)
{
    const char *p = b->data ? strstr(b->data, "\r\n\r\n") : NULL;
    return p ? p + 4 : "";
}

struct fixture {
    struct lw_loop *loop;
    struct lw_metrics *reg;
    struct lw_httpd *srv;
    int port;
};

static void setup(struct fixture *f, size_t max_conns, double timeout)
{
    struct lw_errbuf eb;
    f->loop = lw_loop_new(&eb);
    f->reg = lw_metrics_new(0);
    const char *lab[] = {"pod"};
    struct lw_metric *g = lw_metrics_add(f->reg, LW_METRIC_GAUGE, "test_goroutines", "G.", 1,
                                         lab, 0, NULL, &eb);
    const char *v[] = {"web-1"};
    lw_metric_set(g, v, 1204);
    struct lw_httpd_opts o = {"127.0.0.1:0", max_conns, 0, timeout};
    f->srv = lw_httpd_new(f->loop, &o, f->reg, &eb);
    CHECK(f->srv != NULL);
    f->port = f->srv ? lw_httpd_port(f->srv) : 0;
    CHECK(f->port > 0);
}

static void teardown(struct fixture *f)
{
    lw_httpd_free(f->srv);
    lw_metrics_free(f->reg);
    lw_loop_free(f->loop);
}

TEST(routes)
{
    struct fixture f;
    setup(&f, 0, 0);
    struct lw_buf b = request(f.loop, f.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 200);
    CHECK(strstr(b.data, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    CHECK(strstr(b.data, "\r\nConnection: close\r\n"));
    CHECK(strstr(body_of(&b), "test_goroutines{pod=\"web-1\"} 1204\n"));
    /* Content-Length matches the body */
    const char *cl = strstr(b.data, "Content-Length: ");
    CHECK(cl && (size_t)atol(cl + 16) == strlen(body_of(&b)));
    lw_buf_release(&b);

    b = request(f.loop, f.port, "HEAD /metrics?x=1 HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 200);
    CHECK_STR(body_of(&b), "");
    cl = strstr(b.data, "Content-Length: ");
    CHECK(cl && atol(cl + 16) > 100);
    lw_buf_release(&b);

    b = request(f.loop, f.port, "GET /healthz HTTP/1.0\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 200);
    CHECK_STR(body_of(&b), "ok\n");
    lw_buf_release(&b);

    b = request(f.loop, f.port, "GET /readyz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 503);
    lw_buf_release(&b);
    lw_httpd_set_ready(f.srv, 1);
    b = request(f.loop, f.port, "GET /readyz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 200);
    lw_buf_release(&b);
    lw_httpd_set_live(f.srv, 0); /* shutting down: neither live nor ready */
    b = request(f.loop, f.port, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 503);
    lw_buf_release(&b);
    b = request(f.loop, f.port, "GET /readyz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 503);
    lw_buf_release(&b);

    b = request(f.loop, f.port, "GET /nope HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 404);
    lw_buf_release(&b);
    b = request(f.loop, f.port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    CHECK_EQ_INT(status_of(&b), 405);
    CHECK(strstr(b.data, "\r\nAllow: GET, HEAD\r\n"));
    lw_buf_release(&b);
    b = request(f.loop, f.port, "GARBAGE\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 400);
    lw_buf_release(&b);
    b = request(f.loop, f.port, "GET /metrics SPDY/3\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 400);
    lw_buf_release(&b);
    b = request(f.loop, f.port, "GET http://x/metrics HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 400);
    lw_buf_release(&b);
    settle(f.loop, f.srv, 0);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 0);
    teardown(&f);
}

TEST(oversized_headers)
{
    struct fixture f;
    setup(&f, 0, 0);
    int fd = connect_to(f.port);
    char hdr[2000];
    memset(hdr, 'a', sizeof hdr);
    send_all(fd, "GET /metrics HTTP/1.1\r\n", 23);
    /* 10 KiB of headers, never finished */
    for (int i = 0; i < 5; i++) {
        send_all(fd, "X-Pad: ", 7);
        send_all(fd, hdr, sizeof hdr);
        send_all(fd, "\r\n", 2);
        lw_loop_run_once(f.loop, 0.01);
    }
    int eof;
    struct lw_buf b = read_until_eof(f.loop, fd, 5, &eof);
    CHECK(eof);
    CHECK_EQ_INT(status_of(&b), 431);
    lw_buf_release(&b);
    close(fd);
    /* just under the cap is fine */
    char req[8192];
    size_t n = (size_t)snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nX-Pad: ");
    memset(req + n, 'b', 8000 - n);
    memcpy(req + 8000, "\r\n\r\n", 5);
    b = request(f.loop, f.port, req);
    CHECK_EQ_INT(status_of(&b), 200);
    lw_buf_release(&b);
    teardown(&f);
}

TEST(slow_client_does_not_block)
{
    struct fixture f;
    setup(&f, 0, 2.0);
    int slow = connect_to(f.port);
    send_all(slow, "GET /metr", 9); /* and then nothing */
    lw_loop_run_once(f.loop, 0.01);
    double t0 = lw_clock_monotonic();
    struct lw_buf b = request(f.loop, f.port, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 200);
    CHECK(lw_clock_monotonic() - t0 < 1.5); /* served while the slow one waits */
    lw_buf_release(&b);
    settle(f.loop, f.srv, 1);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 1);
    int eof;
    b = read_until_eof(f.loop, slow, 8, &eof);
    CHECK(eof); /* closed at the request timeout */
    CHECK(lw_clock_monotonic() - t0 >= 1.9);
    CHECK_EQ_INT(b.len, 0);
    lw_buf_release(&b);
    close(slow);
    settle(f.loop, f.srv, 0);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 0);
    teardown(&f);
}

TEST(request_in_pieces)
{
    struct fixture f;
    setup(&f, 0, 5);
    int fd = connect_to(f.port);
    const char *req = "GET /metrics HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n";
    for (const char *p = req; *p; p++) {
        send_all(fd, p, 1);
        lw_loop_run_once(f.loop, 0.001);
    }
    int eof;
    struct lw_buf b = read_until_eof(f.loop, fd, 5, &eof);
    CHECK(eof);
    CHECK_EQ_INT(status_of(&b), 200);
    CHECK(strstr(body_of(&b), "test_goroutines{pod=\"web-1\"} 1204\n"));
    lw_buf_release(&b);
    close(fd);
    /* a bare-LF request is accepted too */
    b = request(f.loop, f.port, "GET /healthz HTTP/1.1\nHost: a\n\n");
    CHECK_EQ_INT(status_of(&b), 200);
    lw_buf_release(&b);
    /* client disconnects mid-request: the slot is freed */
    fd = connect_to(f.port);
    send_all(fd, "GET /he", 7);
    lw_loop_run_once(f.loop, 0.01);
    close(fd);
    settle(f.loop, f.srv, 0);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 0);
    teardown(&f);
}

TEST(connection_cap)
{
    struct fixture f;
    setup(&f, 3, 5);
    int idle[3];
    for (int i = 0; i < 3; i++)
        idle[i] = connect_to(f.port);
    for (int i = 0; i < 20; i++)
        lw_loop_run_once(f.loop, 0.005);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 3);
    /* the fourth is refused, not queued behind the idle ones */
    int fd = connect_to(f.port);
    int eof;
    struct lw_buf b = read_until_eof(f.loop, fd, 3, &eof);
    CHECK(eof);
    CHECK(b.len == 0 || status_of(&b) == 503);
    CHECK(!strstr(b.data, "200 OK"));
    lw_buf_release(&b);
    close(fd);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 3);
    for (int i = 0; i < 3; i++)
        close(idle[i]);
    /* the server notices the closed clients and frees the slots */
    for (int i = 0; i < 20 && lw_httpd_conn_count(f.srv); i++)
        lw_loop_run_once(f.loop, 0.01);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 0);
    b = request(f.loop, f.port, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&b), 200);
    lw_buf_release(&b);
    teardown(&f);
}

TEST(large_response_slow_reader)
{
    struct fixture f;
    setup(&f, 0, 10);
    const char *lab[] = {"namespace", "pod", "container"};
    struct lw_metric *g = lw_metrics_add(f.reg, LW_METRIC_GAUGE, "big", "Big.", 3, lab, 0, NULL,
                                         NULL);
    char pod[64];
    for (int i = 0; i < 15000; i++) {
        snprintf(pod, sizeof pod, "some-fairly-long-pod-name-%06d", i);
        const char *v[] = {"namespace-with-a-long-name", pod, "application"};
        lw_metric_set(g, v, i);
    }
    int fd = connect_to(f.port);
    int rcv = 65536; /* small window: the ~1.7 MB answer cannot fit in flight */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25);
    /* let the server fill the socket and park on EPOLLOUT */
    for (int i = 0; i < 20; i++)
        lw_loop_run_once(f.loop, 0.005);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 1);
    /* meanwhile another client is served */
    struct lw_buf h = request(f.loop, f.port, "GET /healthz HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(status_of(&h), 200);
    lw_buf_release(&h);
    settle(f.loop, f.srv, 1);
    CHECK_EQ_INT(lw_httpd_conn_count(f.srv), 1); /* still parked on the slow reader */
    int eof;
    struct lw_buf b = read_until_eof(f.loop, fd, 10, &eof);
    CHECK(eof);
    CHECK_EQ_INT(status_of(&b), 200);
    const char *cl = strstr(b.data, "Content-Length: ");
    size_t want = cl ? (size_t)atol(cl + 16) : 0;
    CHECK(want > 1000000);
    CHECK_EQ_INT(strlen(body_of(&b)), want);
    CHECK(strstr(body_of(&b), "pod=\"some-fairly-long-pod-name-014999\",container=\"application\"} 14999\n"));
    lw_buf_release(&b);
    close(fd);
    teardown(&f);
}

TEST(bind_parsing)
{
    char host[64];
    int port;
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_parse_bind(":8080", host, sizeof host, &port, &eb), LW_OK);
    CHECK_STR(host, "");
    CHECK_EQ_INT(port, 8080);
    CHECK_EQ_INT(lw_parse_bind("127.0.0.1:0", host, sizeof host, &port, &eb), LW_OK);
    CHECK_STR(host, "127.0.0.1");
    CHECK_EQ_INT(port, 0);
    CHECK_EQ_INT(lw_parse_bind("[::1]:9090", host, sizeof host, &port, &eb), LW_OK);
    CHECK_STR(host, "::1");
    CHECK_EQ_INT(port, 9090);
    CHECK_EQ_INT(lw_parse_bind("8080", host, sizeof host, &port, &eb), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_bind(":65536", host, sizeof host, &port, &eb), LW_ERANGE);
    CHECK_EQ_INT(lw_parse_bind(":", host, sizeof host, &port, &eb), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_bind("::1:80", host, sizeof host, &port, &eb), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_bind(":8x", host, sizeof host, &port, &eb), LW_EINVAL);
    struct lw_loop *loop = lw_loop_new(&eb);
    struct lw_httpd_opts o = {"localhost:0", 0, 0, 0};
    CHECK(lw_httpd_new(loop, &o, NULL, &eb) == NULL);
    CHECK(strstr(eb.msg, "localhost"));
    /* IPv6 loopback, when the host has it */
    struct lw_httpd_opts o6 = {"[::1]:0", 0, 0, 0};
    struct lw_httpd *s6 = lw_httpd_new(loop, &o6, NULL, &eb);
    if (s6) {
        CHECK(lw_httpd_port(s6) > 0);
        lw_httpd_free(s6);
    }
    /* empty host: all addresses (dual-stack when IPv6 exists), reachable on 127.0.0.1 */
    struct lw_httpd_opts oa = {":0", 0, 0, 0};
    struct lw_httpd *sa = lw_httpd_new(loop, &oa, NULL, &eb);
    CHECK(sa != NULL);
    if (sa) {
        struct lw_buf b = request(loop, lw_httpd_port(sa), "GET /healthz HTTP/1.1\r\n\r\n");
        CHECK_EQ_INT(status_of(&b), 200);
        lw_buf_release(&b);
        lw_httpd_free(sa);
    }
    /* metrics == NULL serves the registry-less exposition */
    struct lw_httpd_opts o4 = {"127.0.0.1:0", 0, 0, 0};
    struct lw_httpd *s4 = lw_httpd_new(loop, &o4, NULL, &eb);
    CHECK(s4 != NULL);
    if (s4) {
        struct lw_buf b = request(loop, lw_httpd_port(s4), "GET /metrics HTTP/1.1\r\n\r\n");
        CHECK_EQ_INT(status_of(&b), 200);
        CHECK(strstr(body_of(&b), "leakwatch_metrics_series_dropped_total 0\n"));
        lw_buf_release(&b);
        lw_httpd_free(s4);
    }
    lw_loop_free(loop);
}

TEST_LIST(T(routes), T(oversized_headers), T(slow_client_does_not_block), T(request_in_pieces), T(connection_cap),
          T(large_response_slow_reader), T(bind_parsing));
TEST_MAIN()
