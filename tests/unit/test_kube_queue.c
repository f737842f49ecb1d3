/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kube_queue.c: the client's rate-limiter queue (pkg/kube/client.c;
 * docs/client.md "Priorities and the queue cap") without a server: the
 * endpoint's apply() refuses every attempt, so a request the pump starts
 * finishes at once, in start order, with the credentials error, and nothing
 * touches the network. A fake loop clock drives the token bucket.
 *
 * Costs are asserted as counts (stats.queue_steps: queue links followed),
 * never as times: cancelling 100,000 queued requests in any order, or a
 * throttled pump waking up again and again under a long queue, stays O(1)
 * per request / per wake-up. Also: lanes (HIGH before NORMAL before EVENT
 * before ANNOT, FIFO within one), the queue cap with its drop order and
 * counters, replacing the body of a waiting request, the throttled counter.
 */
#include "harness.h"
#include "kube/kube.h"

#include <stdlib.h>
#include <string.h>

static double fake_now = 1000;
static double fake_clock(void *ud)
{
    (void)ud;
    return fake_now;
}

static int refuse_apply(void *ud, CURL *easy, struct curl_slist **headers, struct lw_errbuf *eb)
{
    (void)ud, (void)easy, (void)headers;
    return lw_errf(eb, LW_EIO, "test: no credentials");
}

struct rec {
    char order[64][32]; /* paths, in completion (= start) order */
    int n;
    int dropped;        /* completions with LW_ENOMEM (dropped at the cap) */
    int other;
    char last_drop_msg[256];
};

static void on_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    (void)k;
    struct rec *r = ud;
    (void)res;
    if (res->err == LW_ENOMEM) {
        r->dropped++;
        snprintf(r->last_drop_msg, sizeof(r->last_drop_msg), "%s", res->errmsg);
    } else {
        r->other++;
    }
}

/* Records the path of each request as it completes (req() passes it as ud). */
struct tagged {
    struct rec *rec;
    char path[32];
};
static void on_done_tagged(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    struct tagged *t = ud;
    if (t->rec->n < 64)
        snprintf(t->rec->order[t->rec->n++], 32, "%s", t->path);
    on_done(k, res, t->rec);
}

struct env {
    struct lw_loop *loop;
    struct lw_kube *k;
};

static int setup(struct env *e, double qps, int burst, size_t max_queued)
{
    struct lw_errbuf eb;
    memset(e, 0, sizeof(*e));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fake_now = 1000;
    e->loop = lw_loop_new(&eb);
    if (!e->loop)
        return 0;
    lw_loop_set_clock(e->loop, fake_clock, NULL);
    struct lw_kube_endpoint *ep = calloc(1, sizeof(*ep));
    if (!ep)
        return 0;
    snprintf(ep->server, sizeof(ep->server), "http://127.0.0.1:9");
    ep->apply = refuse_apply;
    ep->release = free; /* the client releases it: frees the struct */
    ep->ud = ep;
    struct lw_kube_opts o;
    memset(&o, 0, sizeof(o));
    o.qps = qps;
    o.burst = burst;
    o.max_queued = max_queued;
    e->k = lw_kube_new(e->loop, ep, &o, &eb);
    return e->k != NULL;
}

static void teardown(struct env *e)
{
    lw_kube_free(e->k);
    lw_loop_free(e->loop);
    curl_global_cleanup();
}

static int req(struct env *e, enum lw_kube_prio prio, const char *path, void *ud,
               lw_kube_done_cb cb, struct lw_kube_req **out)
{
    struct lw_kube_req_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.prio = prio;
    struct lw_errbuf eb;
    return lw_kube_request(e->k, LW_KUBE_POST, path, "{}", &ro, cb, ud, out, &eb);
}

static struct lw_kube_stats stats(struct env *e)
{
    struct lw_kube_stats st;
    lw_kube_get_stats(e->k, &st);
    return st;
}

/* 100,000 queued requests cancelled front to back, back to front and in a
 * scattered order: a constant number of queue steps per request (the old
 * singly linked queue walked from the head for each: ~n²/2 = 5e9 steps). */
TEST(cancel_100k_is_linear)
{
    enum { N = 100000 };
    struct env e;
    CHECK(setup(&e, 1, 1, 2 * N));
    struct lw_kube_req **h = calloc(N, sizeof(*h));
    CHECK(h != NULL);
    struct rec r = {0};
    for (int order = 0; order < 3 && h; order++) {
        uint64_t s0 = stats(&e).queue_steps;
        for (int i = 0; i < N; i++)
            CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_EVENT, "/api/v1/x", &r, on_done, &h[i]), LW_OK);
        CHECK_EQ_INT((int)stats(&e).queued, N);
        for (int i = 0; i < N; i++) {
            int j = order == 0 ? i : order == 1 ? N - 1 - i : (int)(((long)i * 7919) % N);
            CHECK(lw_kube_req_waiting(h[j]));
            lw_kube_cancel(e.k, h[j]);
        }
        uint64_t steps = stats(&e).queue_steps - s0;
        CHECK_EQ_INT((int)stats(&e).queued, 0);
        CHECK((double)steps <= 3.0 * N); /* one push + one remove each, plus the cap check */
    }
    CHECK_EQ_INT((int)stats(&e).queued_max, N);
    CHECK_EQ_INT(r.other + r.dropped, 0); /* cancelled: no callbacks */
    free(h);
    teardown(&e);
}

/* A long throttled queue: each wake-up of the pump (one token per second
 * here) starts one request and costs a few steps, not a walk of the queue;
 * every request started after the bucket ran dry counts once as throttled. */
TEST(throttled_pump_is_o1)
{
    enum { N = 50000, WAKES = 200 };
    struct env e;
    CHECK(setup(&e, 1, 5, 2 * N));
    struct rec r = {0};
    for (int i = 0; i < N; i++)
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_ANNOT, "/api/v1/x", &r, on_done, NULL), LW_OK);
    lw_loop_run_once(e.loop, 0); /* the burst: 5 start (and fail at apply) */
    CHECK_EQ_INT(r.other, 5);
    CHECK_EQ_INT((int)stats(&e).throttled, 0);
    uint64_t s0 = stats(&e).queue_steps;
    for (int i = 0; i < WAKES; i++) {
        fake_now += 1.0;
        lw_loop_run_once(e.loop, 0);
    }
    CHECK_EQ_INT(r.other, 5 + WAKES);
    uint64_t steps = stats(&e).queue_steps - s0;
    CHECK(steps <= 20u * WAKES); /* the old pump walked all N at each wake-up */
    CHECK_EQ_INT((int)stats(&e).throttled, WAKES);
    CHECK_EQ_INT((int)stats(&e).queued, N - 5 - WAKES);
    teardown(&e);
}

/* Tokens go to the most important lane first, FIFO within a lane, whatever
 * the order of arrival: a Lease renewal queued behind a thousand Event and
 * annotation writes is the next one started. */
TEST(lanes_high_first)
{
    struct env e;
    CHECK(setup(&e, 1, 1, 0));
    struct rec r = {0};
    static struct tagged tg[2000];
    int nt = 0;
    /* the bucket's one token is spent on a first request */
    snprintf(tg[nt].path, 32, "/first");
    tg[nt].rec = &r;
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_NORMAL, tg[nt].path, &tg[nt], on_done_tagged, NULL), LW_OK);
    nt++;
    lw_loop_run_once(e.loop, 0);
    for (int i = 0; i < 500; i++) {
        tg[nt].rec = &r;
        snprintf(tg[nt].path, 32, "/annot/%d", i);
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_ANNOT, tg[nt].path, &tg[nt], on_done_tagged, NULL), LW_OK);
        nt++;
        tg[nt].rec = &r;
        snprintf(tg[nt].path, 32, "/event/%d", i);
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_EVENT, tg[nt].path, &tg[nt], on_done_tagged, NULL), LW_OK);
        nt++;
    }
    tg[nt].rec = &r;
    snprintf(tg[nt].path, 32, "/list");
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_NORMAL, tg[nt].path, &tg[nt], on_done_tagged, NULL), LW_OK);
    nt++;
    tg[nt].rec = &r;
    snprintf(tg[nt].path, 32, "/lease");
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_HIGH, tg[nt].path, &tg[nt], on_done_tagged, NULL), LW_OK);
    nt++;
    const char *want[] = {"/first", "/lease", "/list", "/event/0", "/event/1", "/event/2"};
    for (int i = 1; i < 6; i++) {
        fake_now += 1.0;
        lw_loop_run_once(e.loop, 0);
    }
    CHECK_EQ_INT(r.n, 6);
    for (int i = 0; i < 6 && i < r.n; i++)
        CHECK_STR(r.order[i], want[i]);
    CHECK_STR(lw_kube_prio_name(LW_KUBE_PRIO_ANNOT), "annotation");
    teardown(&e);
}

/* At the cap (10 here): a request of the least important lane is refused
 * (no callback), a more important one pushes out the newest request of the
 * least important non-empty lane (its callback runs from the pump, with
 * LW_ENOMEM), and nothing is ever pushed out for a less important one.
 * Every drop is counted, by lane. */
TEST(cap_drops_least_important_first)
{
    struct env e;
    CHECK(setup(&e, 0.001, 1, 10));
    struct rec r = {0};
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_NORMAL, "/first", &r, on_done, NULL), LW_OK);
    lw_loop_run_once(e.loop, 0); /* spends the token */
    CHECK_EQ_INT(r.other, 1);
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_ANNOT, "/annot", &r, on_done, NULL), LW_OK);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_EVENT, "/event", &r, on_done, NULL), LW_OK);
    CHECK_EQ_INT((int)stats(&e).queued, 10);
    /* full: another annotation patch is refused */
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_ANNOT, "/annot", &r, on_done, NULL), LW_ENOMEM);
    CHECK_EQ_INT((int)stats(&e).dropped, 1);
    CHECK_EQ_INT((int)stats(&e).dropped_prio[LW_KUBE_PRIO_ANNOT], 1);
    /* Events push annotation patches out, one each */
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_EVENT, "/event", &r, on_done, NULL), LW_OK);
    CHECK_EQ_INT((int)stats(&e).queued, 10);
    CHECK_EQ_INT((int)stats(&e).dropped_prio[LW_KUBE_PRIO_ANNOT], 7);
    CHECK_EQ_INT(r.dropped, 0); /* not inside lw_kube_request */
    lw_loop_run_once(e.loop, 0);
    CHECK_EQ_INT(r.dropped, 6);
    CHECK(strstr(r.last_drop_msg, "dropped, the request queue is full") != NULL);
    CHECK(strstr(r.last_drop_msg, "annotation") != NULL);
    /* only Events now: another Event is refused, a NORMAL request pushes one out */
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_EVENT, "/event", &r, on_done, NULL), LW_ENOMEM);
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_NORMAL, "/get", &r, on_done, NULL), LW_OK);
    CHECK_EQ_INT((int)stats(&e).dropped_prio[LW_KUBE_PRIO_EVENT], 2);
    /* fill with HIGH: each pushes out an Event (then the NORMAL one), then HIGH is refused */
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_HIGH, "/lease", &r, on_done, NULL), LW_OK);
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_HIGH, "/lease", &r, on_done, NULL), LW_ENOMEM);
    struct lw_kube_stats st = stats(&e);
    CHECK_EQ_INT((int)st.dropped_prio[LW_KUBE_PRIO_EVENT], 11);
    CHECK_EQ_INT((int)st.dropped_prio[LW_KUBE_PRIO_NORMAL], 1);
    CHECK_EQ_INT((int)st.dropped_prio[LW_KUBE_PRIO_HIGH], 1);
    CHECK_EQ_INT((int)st.dropped, 1 + 6 + 1 + 1 + 9 + 1 + 1);
    CHECK_EQ_INT((int)st.queued, 10);
    lw_loop_run_once(e.loop, 0);
    CHECK_EQ_INT(r.dropped, 6 + 1 + 9 + 1);
    teardown(&e); /* the 10 queued leases: freed without callbacks */
    CHECK_EQ_INT(r.other, 1);
}

/* A waiting request's body can be replaced (it keeps its place); once an
 * attempt has started it cannot. */
TEST(replace_body_only_while_waiting)
{
    struct env e;
    CHECK(setup(&e, 0.001, 1, 0));
    struct rec r = {0};
    struct lw_kube_req *a = NULL, *b = NULL;
    struct lw_errbuf eb;
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_ANNOT, "/a", &r, on_done, &a), LW_OK);
    CHECK_EQ_INT(req(&e, LW_KUBE_PRIO_ANNOT, "/b", &r, on_done, &b), LW_OK);
    CHECK(lw_kube_req_waiting(a) && lw_kube_req_waiting(b));
    CHECK_EQ_INT(lw_kube_replace_body(e.k, b, "{\"v\":2}", &eb), LW_OK);
    CHECK_EQ_INT(lw_kube_replace_body(e.k, b, NULL, &eb), LW_OK);
    lw_loop_run_once(e.loop, 0); /* a takes the token and finishes (apply refuses) */
    CHECK_EQ_INT(r.other, 1);
    CHECK(lw_kube_req_waiting(b));
    CHECK_EQ_INT(lw_kube_replace_body(e.k, b, "{\"v\":3}", &eb), LW_OK);
    CHECK(!lw_kube_req_waiting(NULL));
    teardown(&e);
}

TEST_LIST(T(cancel_100k_is_linear), T(throttled_pump_is_o1), T(lanes_high_first),
          T(cap_drops_least_important_first), T(replace_body_only_while_waiting));
TEST_MAIN()
