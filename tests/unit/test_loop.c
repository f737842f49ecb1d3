/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_loop.c: the event loop without a network: timer order and repeats on
 * an injected fake clock, cancellation from callbacks, fd readiness, the
 * signalfd, real-clock timers, the reflector backoff sequence, and one
 * libcurl transfer (file://) through the multi handle.
 */
#include "harness.h"
#include "loop/loop.h"

#include <signal.h>
#include <unistd.h>

static double fake_now;
static double fake_clock(void *ud) { return fake_now; }

struct rec {
    char log[64];
    size_t n;
    struct lw_timer *other;
    struct lw_loop *loop;
};

static void mark(struct rec *r, char c)
{
    if (r->n + 1 < sizeof(r->log)) {
        r->log[r->n++] = c;
        r->log[r->n] = '\0';
    }
}
static void cb_a(struct lw_loop *l, void *ud) { mark(ud, 'a'); }
static void cb_b(struct lw_loop *l, void *ud) { mark(ud, 'b'); }
static void cb_c(struct lw_loop *l, void *ud) { mark(ud, 'c'); }

TEST(test_timer_order_fake_clock)
{
    struct lw_errbuf eb;
    struct lw_loop *l = lw_loop_new(&eb);
    CHECK(l);
    fake_now = 100;
    lw_loop_set_clock(l, fake_clock, NULL);
    struct rec r = {0};
    lw_timer_add(l, 3, 0, cb_c, &r);
    lw_timer_add(l, 1, 0, cb_a, &r);
    lw_timer_add(l, 2, 0, cb_b, &r);
    lw_timer_add(l, 2, 0, cb_c, &r); /* same due time: after b (added later) */
    CHECK_EQ_INT(lw_loop_timer_count(l), 4);
    lw_loop_run_once(l, 0);
    CHECK_STR(r.log, "");
    fake_now = 101.5;
    lw_loop_run_once(l, 0);
    CHECK_STR(r.log, "a");
    fake_now = 110;
    lw_loop_run_once(l, 0);
    CHECK_STR(r.log, "abcc");
    CHECK_EQ_INT(lw_loop_timer_count(l), 0);
    lw_loop_free(l);
}

static int reps;
static void cb_rep(struct lw_loop *l, void *ud)
{
    reps++;
    if (reps == 3)
        lw_timer_cancel(l, *(struct lw_timer **)ud); /* cancel itself */
}

TEST(test_repeating_timer_and_self_cancel)
{
    struct lw_loop *l = lw_loop_new(NULL);
    fake_now = 0;
    lw_loop_set_clock(l, fake_clock, NULL);
    reps = 0;
    struct lw_timer *t = NULL;
    t = lw_timer_add(l, 1, 1, cb_rep, &t);
    for (int i = 1; i <= 6; i++) {
        fake_now = i;
        lw_loop_run_once(l, 0);
    }
    CHECK_EQ_INT(reps, 3);
    CHECK_EQ_INT(lw_loop_timer_count(l), 0);
    /* a repeat that fell far behind fires once, not in a burst */
    reps = -100;
    t = lw_timer_add(l, 1, 1, cb_rep, &t);
    fake_now = 100;
    lw_loop_run_once(l, 0);
    CHECK_EQ_INT(reps, -99);
    CHECK_NEAR(lw_timer_due(t), 101, 1e-9);
    lw_loop_free(l); /* frees the pending repeat */
}

static void cb_cancel_other(struct lw_loop *l, void *ud)
{
    struct rec *r = ud;
    mark(r, 'x');
    lw_timer_cancel(l, r->other);
    r->other = NULL;
}

static void cb_readd(struct lw_loop *l, void *ud)
{
    struct rec *r = ud;
    mark(r, 'r');
    if (r->n < 5)
        lw_timer_add(l, 0, 0, cb_readd, r); /* must not run in the same pass */
}

TEST(test_cancel_from_callback_and_no_starvation)
{
    struct lw_loop *l = lw_loop_new(NULL);
    fake_now = 0;
    lw_loop_set_clock(l, fake_clock, NULL);
    struct rec r = {0};
    lw_timer_add(l, 1, 0, cb_cancel_other, &r);
    r.other = lw_timer_add(l, 1, 0, cb_a, &r);
    fake_now = 2;
    lw_loop_run_once(l, 0);
    CHECK_STR(r.log, "x");
    r.n = 0;
    r.log[0] = '\0';
    lw_timer_add(l, 0, 0, cb_readd, &r);
    lw_loop_run_once(l, 0);
    CHECK_STR(r.log, "r");
    lw_loop_run_once(l, 0);
    CHECK_STR(r.log, "rr");
    lw_loop_free(l);
}

static void cb_heap(struct lw_loop *l, void *ud)
{
    double *last = ud;
    double now = lw_loop_now(l);
    if (now < *last)
        last[1] = 1; /* out of order */
    last[0] = now;
}

TEST(test_heap_many_timers)
{
    struct lw_loop *l = lw_loop_new(NULL);
    fake_now = 0;
    lw_loop_set_clock(l, fake_clock, NULL);
    double st[2] = {0, 0};
    struct lw_timer *ts[500];
    unsigned x = 12345;
    for (int i = 0; i < 500; i++) {
        x = x * 1103515245u + 12345u;
        ts[i] = lw_timer_add(l, (double)(x % 1000), 0, cb_heap, st);
    }
    for (int i = 0; i < 500; i += 3) /* cancel a third from the middle of the heap */
        lw_timer_cancel(l, ts[i]);
    CHECK_EQ_INT(lw_loop_timer_count(l), 500 - 167);
    int fired = 0;
    for (int s = 0; s <= 1000; s++) {
        fake_now = s;
        fired += lw_loop_run_once(l, 0);
    }
    CHECK_EQ_INT(fired, 333);
    CHECK(st[1] == 0);
    lw_loop_free(l);
}

static void on_readable(struct lw_loop *l, int fd, int events, void *ud)
{
    char buf[16];
    ssize_t n = read(fd, buf, sizeof(buf));
    *(int *)ud += (int)n;
    lw_loop_unwatch(l, fd);
}

TEST(test_fd_watch)
{
    struct lw_loop *l = lw_loop_new(NULL);
    int p[2];
    CHECK(pipe(p) == 0);
    int got = 0;
    CHECK_EQ_INT(lw_loop_watch(l, p[0], LW_IO_READ, on_readable, &got, NULL), LW_OK);
    CHECK_EQ_INT(lw_loop_run_once(l, 0), 0);
    CHECK(write(p[1], "hello", 5) == 5);
    CHECK_EQ_INT(lw_loop_run_once(l, 1.0), 1);
    CHECK_EQ_INT(got, 5);
    CHECK(lw_loop_watch(l, -1, LW_IO_READ, on_readable, &got, NULL) == LW_EINVAL);
    close(p[0]);
    close(p[1]);
    lw_loop_free(l);
}

static int flag;
static void cb_flag(struct lw_loop *l, void *ud) { flag = 1; }

TEST(test_real_clock_timer)
{
    struct lw_loop *l = lw_loop_new(NULL);
    flag = 0;
    double t0 = lw_clock_monotonic();
    lw_timer_add(l, 0.05, 0, cb_flag, NULL);
    CHECK_EQ_INT(lw_loop_run_until(l, &flag, 5), LW_OK);
    double dt = lw_clock_monotonic() - t0;
    CHECK(dt >= 0.05);
    CHECK(dt < 2.0);
    /* nothing to do: run_until times out */
    flag = 0;
    CHECK_EQ_INT(lw_loop_run_until(l, &flag, 0.1), LW_ERANGE);
    lw_loop_free(l);
}

static int got_sig;
static void on_sig(struct lw_loop *l, int signo, void *ud)
{
    got_sig = signo;
    lw_loop_stop(l);
}

TEST(test_signalfd)
{
    struct lw_loop *l = lw_loop_new(NULL);
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_loop_on_signal(l, on_sig, NULL, &eb), LW_OK);
    got_sig = 0;
    raise(SIGTERM); /* blocked, so it waits on the signalfd */
    CHECK_EQ_INT(lw_loop_run_until(l, NULL, 5), LW_OK);
    CHECK_EQ_INT(got_sig, SIGTERM);
    lw_loop_free(l); /* restores the mask */
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    CHECK(!sigismember(&cur, SIGTERM));
}

static double rand_val;
static double fixed_rand(void *ud) { return rand_val; }

TEST(test_backoff_sequence)
{
    struct lw_backoff b;
    lw_backoff_init(&b, 0.8, 30, 120);
    b.rand01 = fixed_rand;
    rand_val = 0;
    double want[] = {0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30};
    double t = 0;
    for (size_t i = 0; i < LW_ARRAY_SIZE(want); i++) {
        CHECK_NEAR(lw_backoff_next(&b, t), want[i], 1e-9);
        t += 10;
    }
    /* jitter 1.0: [d, 2d) */
    rand_val = 0.5;
    CHECK_NEAR(lw_backoff_next(&b, t), 45, 1e-9);
    /* 2 minutes without a failure: starts over */
    t += 121;
    rand_val = 0;
    CHECK_NEAR(lw_backoff_next(&b, t), 0.8, 1e-9);
    CHECK_NEAR(lw_backoff_next(&b, t + 119), 1.6, 1e-9);
    /* random jitter stays in [d, 2d) */
    b.rand01 = NULL;
    lw_backoff_reset(&b);
    for (int i = 0; i < 100; i++) {
        double d = lw_backoff_next(&b, t);
        CHECK(d >= 0.8 && d < 60.0);
        if (i == 0)
            CHECK(d < 1.6);
    }
}

struct xfer {
    int done;
    CURLcode rc;
    char body[64];
    size_t n;
};
static size_t xfer_write(char *p, size_t s, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = s * n;
    size_t m = LW_MIN(len, sizeof(x->body) - 1 - x->n);
    memcpy(x->body + x->n, p, m);
    x->n += m;
    x->body[x->n] = '\0';
    return len;
}
static void xfer_done(struct lw_loop *l, CURL *e, CURLcode rc, void *ud)
{
    struct xfer *x = ud;
    x->done = 1;
    x->rc = rc;
    curl_easy_cleanup(e);
}

TEST(test_curl_multi_file)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct lw_loop *l = lw_loop_new(NULL);
    char path[] = "/tmp/lwlooptestXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, "payload-42\n", 11) == 11);
    close(fd);
    char url[128];
    snprintf(url, sizeof(url), "file://%s", path);
    struct xfer x = {0};
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    CHECK_EQ_INT(lw_loop_http_add(l, e, xfer_done, &x, NULL), LW_OK);
    CHECK_EQ_INT(lw_loop_http_count(l), 1);
    CHECK_EQ_INT(lw_loop_run_until(l, &x.done, 10), LW_OK);
    CHECK_EQ_INT(x.rc, CURLE_OK);
    CHECK_STR(x.body, "payload-42\n");
    CHECK_EQ_INT(lw_loop_http_count(l), 0);
    /* a missing file completes with an error through the same path */
    struct xfer y = {0};
    e = curl_easy_init();
    snprintf(url, sizeof(url), "file://%s.missing", path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    CHECK_EQ_INT(lw_loop_http_add(l, e, xfer_done, &y, NULL), LW_OK);
    CHECK_EQ_INT(lw_loop_run_until(l, &y.done, 10), LW_OK);
    CHECK(y.rc != CURLE_OK);
    /* removing a transfer: no callback, the handle is ours again */
    struct xfer z = {0};
    e = curl_easy_init();
    snprintf(url, sizeof(url), "file://%s", path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    CHECK_EQ_INT(lw_loop_http_add(l, e, xfer_done, &z, NULL), LW_OK);
    lw_loop_http_remove(l, e);
    curl_easy_cleanup(e);
    lw_loop_run_once(l, 0.05);
    CHECK_EQ_INT(z.done, 0);
    unlink(path);
    lw_loop_free(l);
    curl_global_cleanup();
}

TEST_LIST(T(test_timer_order_fake_clock), T(test_repeating_timer_and_self_cancel),
          T(test_cancel_from_callback_and_no_starvation), T(test_heap_many_timers),
          T(test_fd_watch), T(test_real_clock_timer), T(test_signalfd), T(test_backoff_sequence),
          T(test_curl_multi_file));
TEST_MAIN()
