/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_leader.c: pkg/leader against the project's test API server
 * (tests/apiserver/apiserver.py): acquire and renew, two candidates with
 * exactly one leader (checked against the server's Lease over time), takeover
 * after the leader dies, graceful release, the 409 race, 500/429 during
 * renewal (step down after the renew deadline, no split brain), the Lease
 * deleted while leading, and, on an injected fake clock, that expiry is
 * judged by the local time since the record last changed and not by the
 * remote renewTime. Real-time tests use a 3 s lease, 2 s renew deadline and
 * 0.4 s retry period so each one stays well under 30 s.
 */
#include "harness.h"
#include "kube_test_server.h"
#include "leader/leader.h"

#define LEASE_NS "default"
#define LEASE_NAME "leakwatch-test"
#define T_LEASE 3.0
#define T_RENEW 2.0
#define T_RETRY 0.4

/* ---- candidates and the split-brain monitor ----------------------------------- */

struct cand {
    struct lw_leader *le;
    struct lw_loop *loop;
    int started, stopped, new_leader_calls;
    double started_at, stopped_at;
    char last_new_leader[LW_LEADER_ID_MAX];
};

#define MAXC 3
static struct cand *g_cands[MAXC];
static int g_ncands;
static int g_both_leading;  /* on_started while another believed it led */

static void cb_started(void *ud)
{
    struct cand *c = ud;
    for (int i = 0; i < g_ncands; i++)
        if (g_cands[i] != c && g_cands[i]->le && lw_leader_is_leader(g_cands[i]->le))
            g_both_leading++;
    c->started++;
    c->started_at = lw_loop_now(c->loop);
}

static void cb_stopped(void *ud)
{
    struct cand *c = ud;
    c->stopped++;
    c->stopped_at = lw_loop_now(c->loop);
}

static void cb_new_leader(void *ud, const char *id)
{
    struct cand *c = ud;
    c->new_leader_calls++;
    snprintf(c->last_new_leader, sizeof(c->last_new_leader), "%s", id);
}

static struct lw_leader *mk_on(struct lw_kube *k, struct kt *t, struct cand *c, const char *id,
                               double lease, double renew, double retry);
static struct lw_leader *mk(struct kt *t, struct cand *c, const char *id, double lease,
                            double renew, double retry)
{
    return mk_on(t->kube, t, c, id, lease, renew, retry);
}

static struct lw_leader *mk_on(struct lw_kube *k, struct kt *t, struct cand *c, const char *id,
                               double lease, double renew, double retry)
{
    memset(c, 0, sizeof(*c));
    c->loop = t->loop;
    struct lw_leader_opts o = {0};
    o.ns = LEASE_NS;
    o.name = LEASE_NAME;
    o.identity = id;
    o.lease_duration = lease;
    o.renew_deadline = renew;
    o.retry_period = retry;
    o.on_started_leading = cb_started;
    o.on_stopped_leading = cb_stopped;
    o.on_new_leader = cb_new_leader;
    o.ud = c;
    struct lw_errbuf eb = {{0}};
    c->le = lw_leader_new(k, &o, &eb);
    if (!c->le)
        fprintf(stderr, "lw_leader_new: %s\n", eb.msg);
    CHECK(c->le != NULL);
    if (g_ncands < MAXC)
        g_cands[g_ncands++] = c;
    return c->le;
}

static void start(struct cand *c)
{
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_leader_start(c->le, &eb), LW_OK);
}

/* The server's Lease (caller frees), NULL when absent. */
static cJSON *server_lease(struct kt *t)
{
    cJSON *j = kt_ctl_json(t, "GET", "objects/leases/" LEASE_NS "/" LEASE_NAME, NULL);
    if (j && !cJSON_GetObjectItem(j, "spec")) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static const char *spec_str(const cJSON *lease, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(lease, "spec"), key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static long spec_num(const cJSON *lease, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(lease, "spec"), key);
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

/* Every 100 ms: whoever believes it leads must be the server's holder, and
 * at most one candidate may believe it leads. */
struct monitor {
    struct kt *t;
    int checks, violations, leaders_seen_max;
};

static void monitor_tick(struct lw_loop *loop, void *ud)
{
    struct monitor *m = ud;
    int believers = 0;
    const struct cand *b = NULL;
    for (int i = 0; i < g_ncands; i++)
        if (g_cands[i]->le && lw_leader_is_leader(g_cands[i]->le)) {
            believers++;
            b = g_cands[i];
        }
    if (believers > m->leaders_seen_max)
        m->leaders_seen_max = believers;
    if (believers > 1)
        m->violations++;
    if (b) {
        cJSON *l = server_lease(m->t);
        /* re-check: the blocking call took time and the deadline may have passed */
        if (lw_leader_is_leader(b->le) &&
            (!l || strcmp(spec_str(l, "holderIdentity"), lw_leader_identity(b->le)) != 0)) {
            fprintf(stderr, "split brain: %s believes it leads, server holder \"%s\"\n",
                    lw_leader_identity(b->le), l ? spec_str(l, "holderIdentity") : "(none)");
            m->violations++;
        }
        cJSON_Delete(l);
    }
    m->checks++;
}

static int any_leader(void)
{
    for (int i = 0; i < g_ncands; i++)
        if (g_cands[i]->le && lw_leader_is_leader(g_cands[i]->le))
            return 1;
    return 0;
}

/* Run the loop for secs of real time, or until cond() (when given) holds. */
static int run_for(struct kt *t, double secs, int (*cond)(void *), void *cud)
{
    double end = lw_clock_monotonic() + secs;
    while (lw_clock_monotonic() < end) {
        if (cond && cond(cud))
            return 1;
        lw_loop_run_once(t->loop, 0.02);
    }
    return cond ? cond(cud) : 1;
}

static int cond_any_leader(void *ud)
{
    (void)ud;
    return any_leader();
}

static int cond_is_leader(void *ud)
{
    return lw_leader_is_leader(((struct cand *)ud)->le);
}

static int cond_stopped(void *ud)
{
    return ((struct cand *)ud)->stopped > 0;
}

struct stop_wait {
    struct cand *c;
    int before;
};

static int cond_stopped_again(void *ud)
{
    struct stop_wait *w = ud;
    return w->c->stopped > w->before;
}

static int cond_flag(void *ud)
{
    return *(int *)ud;
}

static void reset_cands(void)
{
    g_ncands = 0;
    g_both_leading = 0;
}

static int setup(struct kt *t)
{
    reset_cands();
    struct lw_kube_opts ko = {0};
    ko.qps = -1;
    return kt_setup(t, &ko);
}

/* ---- pure functions -------------------------------------------------------------- */

TEST(test_microtime)
{
    char b[64];
    CHECK_EQ_INT(lw_leader_format_microtime(b, sizeof(b), 0), LW_OK);
    CHECK_STR(b, "1970-01-01T00:00:00.000000Z");
    CHECK_EQ_INT(lw_leader_format_microtime(b, sizeof(b), 1764190444.25), LW_OK);
    CHECK_STR(b, "2025-11-26T20:54:04.250000Z");
    CHECK_EQ_INT(lw_leader_format_microtime(b, sizeof(b), 1.9999999), LW_OK);
    CHECK_STR(b, "1970-01-01T00:00:02.000000Z");
    CHECK(lw_leader_format_microtime(b, sizeof(b), -1) != LW_OK);
    CHECK(lw_leader_format_microtime(b, sizeof(b), NAN) != LW_OK);
    CHECK(lw_leader_format_microtime(b, 10, 0) != LW_OK);
}

TEST(test_options)
{
    /* validation happens before the client is touched, but needs one */
    struct lw_errbuf eb;
    struct lw_loop *loop = lw_loop_new(&eb);
    struct lw_kube_endpoint ep = {0};
    struct tokprov prov = {0};
    snprintf(ep.server, sizeof(ep.server), "http://127.0.0.1:1");
    ep.ud = &prov;
    ep.apply = prov_apply;
    ep.unauthorized = prov_unauthorized;
    struct lw_kube *k = lw_kube_new(loop, &ep, NULL, &eb);
    CHECK(k != NULL);
    struct lw_leader_opts o = {0};
    o.ns = "default";
    o.name = "lw";
    struct lw_leader *le = lw_leader_new(k, &o, &eb);
    CHECK(le != NULL);
    /* identity: hostname (or prefix) + "_" + 16 hex digits, unique */
    o.id_prefix = "leakwatch-7d9f";
    struct lw_leader *le2 = lw_leader_new(k, &o, &eb);
    struct lw_leader *le3 = lw_leader_new(k, &o, &eb);
    CHECK(le2 && le3);
    if (le2 && le3) {
        const char *id = lw_leader_identity(le2);
        CHECK(strncmp(id, "leakwatch-7d9f_", 15) == 0);
        CHECK_EQ_INT(strlen(id), 15 + 16);
        CHECK(strcmp(id, lw_leader_identity(le3)) != 0);
        CHECK_STR(lw_leader_holder(le2), "");
        CHECK(!lw_leader_is_leader(le2));
    }
    lw_leader_free(le2);
    lw_leader_free(le3);
    lw_leader_free(le);
    o.id_prefix = NULL;

    o.lease_duration = 10; /* not greater than the default renew deadline */
    eb.msg[0] = 0;
    CHECK(lw_leader_new(k, &o, &eb) == NULL);
    CHECK(strstr(eb.msg, "renewDeadline") != NULL);
    o.lease_duration = 15;
    o.renew_deadline = 2.4; /* not greater than 1.2 * 2 s */
    CHECK(lw_leader_new(k, &o, &eb) == NULL);
    CHECK(strstr(eb.msg, "JitterFactor") != NULL);
    o.renew_deadline = 0;
    o.name = "Bad/Name";
    CHECK(lw_leader_new(k, &o, &eb) == NULL);
    CHECK(strstr(eb.msg, "DNS") != NULL);
    o.name = "lw";
    o.identity = "bad\nid";
    CHECK(lw_leader_new(k, &o, &eb) == NULL);
    o.identity = NULL;
    o.lease_duration = INFINITY;
    CHECK(lw_leader_new(k, &o, &eb) == NULL);
    CHECK(lw_leader_new(NULL, &o, &eb) == NULL);
    lw_kube_free(k);
    lw_loop_free(loop);
}

/* ---- against the test API server -------------------------------------------------- */

TEST(test_single_acquire_renew)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    CHECK(run_for(&t, 5, cond_is_leader, &a));
    CHECK_EQ_INT(a.started, 1);
    CHECK_STR(a.last_new_leader, "cand-a");
    CHECK_STR(lw_leader_holder(a.le), "cand-a");
    cJSON *l1 = server_lease(&t);
    CHECK(l1 != NULL);
    CHECK_STR(spec_str(l1, "holderIdentity"), "cand-a");
    CHECK_EQ_INT(spec_num(l1, "leaseTransitions"), 0);
    CHECK_EQ_INT(spec_num(l1, "leaseDurationSeconds"), 3);
    char renew1[64], acq1[64];
    snprintf(renew1, sizeof(renew1), "%s", spec_str(l1, "renewTime"));
    snprintf(acq1, sizeof(acq1), "%s", spec_str(l1, "acquireTime"));
    CHECK_EQ_INT(strlen(renew1), 27); /* MicroTime */
    CHECK_EQ_INT(kt_count_requests(&t, "POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases"), 1);

    /* what the create sent: a MicroTime acquire/renew, transitions 0 */
    cJSON *post = kt_last_request(&t, "POST");
    const cJSON *pb = cJSON_GetObjectItem(post, "body");
    CHECK_STR(spec_str(pb, "holderIdentity"), "cand-a");
    CHECK_EQ_INT(spec_num(pb, "leaseTransitions"), 0);
    CHECK_STR(spec_str(pb, "acquireTime"), spec_str(pb, "renewTime"));
    cJSON_Delete(post);

    run_for(&t, 2.0, NULL, NULL);
    cJSON *l2 = server_lease(&t);
    CHECK(l2 != NULL);
    CHECK_STR(spec_str(l2, "holderIdentity"), "cand-a");
    CHECK(strcmp(spec_str(l2, "renewTime"), renew1) > 0); /* renewTime advances */
    CHECK_STR(spec_str(l2, "acquireTime"), acq1);          /* acquireTime kept */
    CHECK_EQ_INT(spec_num(l2, "leaseTransitions"), 0);
    struct lw_leader_stats st;
    lw_leader_get_stats(a.le, &st);
    CHECK(st.renewals >= 3); /* about every 0.4 s */
    CHECK_EQ_INT(st.acquisitions, 1);
    CHECK_EQ_INT(st.creates, 1);
    CHECK_EQ_INT(st.stepdowns, 0);
    CHECK_EQ_INT(a.new_leader_calls, 1);
    CHECK(lw_leader_is_leader(a.le));
    /* renewals go straight to PUT (no GET each time) */
    int gets = kt_count_requests(&t, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/" LEASE_NAME);
    int puts = kt_count_requests(&t, "PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/" LEASE_NAME);
    CHECK(puts >= 3);
    CHECK_EQ_INT(gets, 1);
    cJSON_Delete(l1);
    cJSON_Delete(l2);
    lw_leader_free(a.le);
    kt_teardown(&t);
}

static struct cand *who_leads(struct cand *a, struct cand *b)
{
    if (a->le && lw_leader_is_leader(a->le))
        return a;
    if (b->le && lw_leader_is_leader(b->le))
        return b;
    return NULL;
}

TEST(test_two_candidates_then_leader_dies)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a, b;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    mk(&t, &b, "cand-b", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    start(&b);
    struct monitor m = {&t, 0, 0, 0};
    struct lw_timer *mt = lw_timer_add(t.loop, 0.1, 0.1, monitor_tick, &m);
    CHECK(run_for(&t, 5, cond_any_leader, NULL));
    run_for(&t, 3, NULL, NULL); /* several renewals; the standby keeps trying */
    struct cand *ldr = who_leads(&a, &b);
    struct cand *sby = ldr == &a ? &b : &a;
    CHECK(ldr != NULL);
    if (!ldr)
        goto out;
    CHECK_EQ_INT(ldr->started, 1);
    CHECK_EQ_INT(sby->started, 0);
    CHECK_STR(sby->last_new_leader, lw_leader_identity(ldr->le));
    CHECK_STR(lw_leader_holder(sby->le), lw_leader_identity(ldr->le));
    struct lw_leader_stats sst;
    lw_leader_get_stats(sby->le, &sst);
    CHECK(sst.attempts >= 3);
    CHECK_EQ_INT(sst.acquisitions, 0);

    /* the leader dies: no release, no more renewals */
    lw_leader_free(ldr->le);
    ldr->le = NULL;
    double died = lw_loop_now(t.loop);
    CHECK(run_for(&t, T_LEASE + 3 * T_RETRY + 2, cond_is_leader, sby));
    double took = sby->started_at - died;
    fprintf(stderr, "takeover after %.2f s (lease %.1f s, retry %.1f s)\n", took, T_LEASE, T_RETRY);
    CHECK(sby->started == 1);
    /* waited for the lease to expire on its own clock, but not much longer: it
     * saw the last renewal on a jittered retry (<= 2.2 x retry after it), the
     * lease runs from then, and it acts on the next jittered retry after the
     * expiry (<= 2.2 x retry again): lease + 4.4 x retry at worst */
    CHECK(took >= T_LEASE - T_RETRY - 0.2);
    CHECK(took <= T_LEASE + T_RETRY * 4.4 + 0.5);
    cJSON *l = server_lease(&t);
    CHECK_STR(spec_str(l, "holderIdentity"), lw_leader_identity(sby->le));
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 1);
    cJSON_Delete(l);
    run_for(&t, 1, NULL, NULL);
out:
    CHECK(m.checks >= 30);
    CHECK_EQ_INT(m.violations, 0);
    CHECK_EQ_INT(m.leaders_seen_max, 1);
    CHECK_EQ_INT(g_both_leading, 0);
    lw_timer_cancel(t.loop, mt);
    lw_leader_free(a.le);
    lw_leader_free(b.le);
    kt_teardown(&t);
}

static void on_released(void *ud)
{
    *(int *)ud = 1;
}

TEST(test_graceful_release)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a, b;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    CHECK(run_for(&t, 5, cond_is_leader, &a));
    mk(&t, &b, "cand-b", T_LEASE, T_RENEW, T_RETRY);
    start(&b);
    struct monitor m = {&t, 0, 0, 0};
    struct lw_timer *mt = lw_timer_add(t.loop, 0.1, 0.1, monitor_tick, &m);
    run_for(&t, 1.5, NULL, NULL);
    CHECK(lw_leader_is_leader(a.le));
    CHECK(!lw_leader_is_leader(b.le));

    int released = 0;
    double t0 = lw_loop_now(t.loop);
    CHECK_EQ_INT(lw_leader_release(a.le, on_released, &released), 1);
    /* stopped at once, before the release request even finished */
    CHECK_EQ_INT(a.stopped, 1);
    CHECK(!lw_leader_is_leader(a.le));
    CHECK(run_for(&t, 3, cond_flag, &released));
    cJSON *l = server_lease(&t);
    /* released, unless the standby was quicker than this check */
    if (l && strcmp(spec_str(l, "holderIdentity"), "") == 0)
        CHECK_EQ_INT(spec_num(l, "leaseDurationSeconds"), 1);
    cJSON_Delete(l);
    CHECK(run_for(&t, 3, cond_is_leader, &b));
    double took = b.started_at - t0;
    fprintf(stderr, "takeover after release: %.2f s (retry %.1f s)\n", took, T_RETRY);
    CHECK(took <= T_RETRY * 2.2 + 0.5); /* about a retry period, not a lease duration */
    l = server_lease(&t);
    CHECK_STR(spec_str(l, "holderIdentity"), "cand-b");
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 1);
    CHECK_EQ_INT(spec_num(l, "leaseDurationSeconds"), 3);
    cJSON_Delete(l);
    /* the released record was reported as "no leader", then the new one */
    CHECK_STR(b.last_new_leader, "cand-b");
    /* a released elector stays stopped */
    run_for(&t, 1, NULL, NULL);
    CHECK_EQ_INT(a.started, 1);
    CHECK_EQ_INT(lw_leader_release(a.le, NULL, NULL), 0);
    CHECK_EQ_INT(m.violations, 0);
    CHECK_EQ_INT(g_both_leading, 0);
    lw_timer_cancel(t.loop, mt);
    lw_leader_free(a.le);
    lw_leader_free(b.le);
    kt_teardown(&t);
}

TEST(test_conflict_race)
{
    struct kt t;
    if (!setup(&t))
        return;
    /* a released Lease with history; the first two PUTs are held 0.8 s
     * before the server handles them, so both candidates GET the same
     * resourceVersion and PUT against it: the second PUT handled loses */
    kt_ctl(&t, "POST", "objects/leases",
           "{\"metadata\":{\"name\":\"" LEASE_NAME "\",\"namespace\":\"default\"},"
           "\"spec\":{\"leaseDurationSeconds\":1,\"leaseTransitions\":5,"
           "\"acquireTime\":\"2026-01-01T00:00:00.000000Z\","
           "\"renewTime\":\"2026-01-01T00:00:00.000000Z\"}}");
    kt_ctl(&t, "POST", "faults",
           "{\"verb\":\"update\",\"resource\":\"leases\",\"action\":\"delay\",\"seconds\":0.8,"
           "\"count\":2}");
    struct cand a, b;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    mk(&t, &b, "cand-b", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    start(&b);
    struct monitor m = {&t, 0, 0, 0};
    struct lw_timer *mt = lw_timer_add(t.loop, 0.1, 0.1, monitor_tick, &m);
    CHECK(run_for(&t, 5, cond_any_leader, NULL));
    run_for(&t, 1.5, NULL, NULL);
    struct lw_leader_stats sa, sb;
    lw_leader_get_stats(a.le, &sa);
    lw_leader_get_stats(b.le, &sb);
    CHECK_EQ_INT(sa.conflicts + sb.conflicts, 1); /* exactly one lost the race */
    CHECK_EQ_INT(sa.acquisitions + sb.acquisitions, 1);
    CHECK_EQ_INT(a.started + b.started, 1);
    cJSON *l = server_lease(&t);
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 6);
    cJSON_Delete(l);
    CHECK_EQ_INT(kt_count_requests(&t, "PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/" LEASE_NAME) > 2, 1);

    /* a 409 on a renewal: the leader re-reads, finds itself holder, renews on */
    struct cand *ldr = who_leads(&a, &b);
    CHECK(ldr != NULL);
    if (ldr) {
        struct lw_leader_stats s0, s1;
        lw_leader_get_stats(ldr->le, &s0);
        kt_ctl(&t, "POST", "faults", "{\"verb\":\"update\",\"resource\":\"leases\",\"code\":409,\"count\":1}");
        run_for(&t, 1.5, NULL, NULL);
        lw_leader_get_stats(ldr->le, &s1);
        CHECK_EQ_INT(s1.conflicts - s0.conflicts, 1);
        CHECK(s1.renewals > s0.renewals);
        CHECK(lw_leader_is_leader(ldr->le));
        CHECK_EQ_INT(ldr->stopped, 0);
    }
    CHECK_EQ_INT(m.violations, 0);
    CHECK_EQ_INT(g_both_leading, 0);
    lw_timer_cancel(t.loop, mt);
    lw_leader_free(a.le);
    lw_leader_free(b.le);
    kt_teardown(&t);
}

/* Faults on every Lease update: the leader must step down after the renew
 * deadline (not before it gave renewals a chance, not long after), and the
 * standby cannot take over meanwhile. */
static void errors_round(struct kt *t, struct cand *a, struct cand *b, const char *fault)
{
    CHECK(run_for(t, 6, cond_any_leader, NULL));
    struct cand *ldr = who_leads(a, b);
    if (!ldr)
        return;
    int stopped0 = ldr->stopped;
    kt_ctl(t, "POST", "faults", fault);
    double t0 = lw_loop_now(t->loop);
    struct lw_leader_stats s0;
    lw_leader_get_stats(ldr->le, &s0);
    struct stop_wait w = {ldr, stopped0};
    CHECK(run_for(t, T_RENEW + T_RETRY + 2, cond_stopped_again, &w));
    double after = ldr->stopped_at - t0;
    fprintf(stderr, "stepped down %.2f s after the faults began (renew deadline %.1f s)\n", after,
            T_RENEW);
    CHECK(ldr->stopped == stopped0 + 1);
    CHECK(after >= T_RENEW - T_RETRY - 0.2);
    CHECK(after <= T_RENEW + 0.3);
    struct lw_leader_stats s1;
    lw_leader_get_stats(ldr->le, &s1);
    CHECK(s1.errors - s0.errors >= 3); /* it kept trying */
    CHECK(!lw_leader_is_leader(ldr->le));
    /* nobody can write the Lease: nobody leads */
    run_for(t, 1.0, NULL, NULL);
    CHECK(!any_leader());
    kt_ctl(t, "DELETE", "faults", NULL);
    CHECK(run_for(t, T_LEASE + 3 * T_RETRY + 2, cond_any_leader, NULL));
}

TEST(test_api_errors_step_down)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a, b;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    mk(&t, &b, "cand-b", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    start(&b);
    struct monitor m = {&t, 0, 0, 0};
    struct lw_timer *mt = lw_timer_add(t.loop, 0.1, 0.1, monitor_tick, &m);
    errors_round(&t, &a, &b, "{\"verb\":\"update\",\"resource\":\"leases\",\"code\":500,\"count\":-1}");
    errors_round(&t, &a, &b,
                 "[{\"verb\":\"update\",\"resource\":\"leases\",\"code\":429,\"retryAfter\":1,"
                 "\"count\":-1},{\"verb\":\"get\",\"resource\":\"leases\",\"code\":429,"
                 "\"retryAfter\":1,\"count\":-1}]");
    CHECK_EQ_INT(m.violations, 0);
    CHECK_EQ_INT(m.leaders_seen_max, 1);
    CHECK_EQ_INT(g_both_leading, 0);
    lw_timer_cancel(t.loop, mt);
    lw_leader_free(a.le);
    lw_leader_free(b.le);
    kt_teardown(&t);
}

/* Stepped down after failed renewals, then shut down: the Lease still names
 * us, so it is released anyway (client-go releases whenever it is the
 * observed holder), without a second on_stopped_leading. */
TEST(test_release_after_step_down)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    CHECK(run_for(&t, 5, cond_is_leader, &a));
    kt_ctl(&t, "POST", "faults", "{\"verb\":\"update\",\"resource\":\"leases\",\"code\":500,\"count\":-1}");
    CHECK(run_for(&t, T_RENEW + 2, cond_stopped, &a));
    kt_ctl(&t, "DELETE", "faults", NULL);
    cJSON *l = server_lease(&t);
    CHECK_STR(spec_str(l, "holderIdentity"), "cand-a");
    cJSON_Delete(l);
    int released = 0;
    CHECK_EQ_INT(lw_leader_release(a.le, on_released, &released), 1);
    CHECK(run_for(&t, 3, cond_flag, &released));
    CHECK_EQ_INT(a.stopped, 1);
    l = server_lease(&t);
    CHECK_STR(spec_str(l, "holderIdentity"), "");
    CHECK_EQ_INT(spec_num(l, "leaseDurationSeconds"), 1);
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 0);
    cJSON_Delete(l);
    lw_leader_free(a.le);
    kt_teardown(&t);
}

TEST(test_lease_deleted_while_leading)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    CHECK(run_for(&t, 5, cond_is_leader, &a));
    run_for(&t, 0.5, NULL, NULL);
    kt_ctl(&t, "DELETE", "objects/leases/" LEASE_NS "/" LEASE_NAME, NULL);
    run_for(&t, 2.0, NULL, NULL);
    /* documented behaviour: the leader recreates it on its next renewal */
    cJSON *l = server_lease(&t);
    CHECK(l != NULL);
    CHECK_STR(spec_str(l, "holderIdentity"), "cand-a");
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 0);
    cJSON_Delete(l);
    struct lw_leader_stats st;
    lw_leader_get_stats(a.le, &st);
    CHECK_EQ_INT(st.creates, 2);
    CHECK_EQ_INT(st.stepdowns, 0);
    CHECK_EQ_INT(a.started, 1);
    CHECK(lw_leader_is_leader(a.le));
    lw_leader_free(a.le);
    kt_teardown(&t);
}

/* Someone else wins while we still think we lead (the Lease replaced under
 * us): the next renewal sees a foreign holder and steps down at once. */
TEST(test_foreign_holder_steps_down)
{
    struct kt t;
    if (!setup(&t))
        return;
    struct cand a;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    CHECK(run_for(&t, 5, cond_is_leader, &a));
    kt_ctl(&t, "PATCH", "objects/leases/" LEASE_NS "/" LEASE_NAME,
           "{\"spec\":{\"holderIdentity\":\"intruder\"}}");
    double t0 = lw_loop_now(t.loop);
    CHECK(run_for(&t, 3, cond_stopped, &a));
    CHECK(a.stopped_at - t0 <= 2 * T_RETRY + 0.3);
    CHECK_STR(a.last_new_leader, "intruder");
    /* and does not take it back before it expires on our clock */
    run_for(&t, 1.0, NULL, NULL);
    CHECK(!lw_leader_is_leader(a.le));
    lw_leader_free(a.le);
    kt_teardown(&t);
}

/* Records a real API server would not send, or that other tools wrote:
 * no leaseDurationSeconds (judged with our own duration, not as expired),
 * no spec at all (nobody holds it: taken at once). */
TEST(test_odd_lease_records)
{
    struct kt t;
    if (!setup(&t))
        return;
    kt_ctl(&t, "POST", "objects/leases",
           "{\"metadata\":{\"name\":\"" LEASE_NAME "\",\"namespace\":\"default\"},"
           "\"spec\":{\"holderIdentity\":\"ghost\"}}");
    struct cand a;
    mk(&t, &a, "cand-a", T_LEASE, T_RENEW, T_RETRY);
    start(&a);
    double t0 = lw_loop_now(t.loop);
    run_for(&t, T_LEASE - 0.5, NULL, NULL);
    CHECK(!lw_leader_is_leader(a.le));
    CHECK_STR(lw_leader_holder(a.le), "ghost");
    CHECK(run_for(&t, 2.5, cond_is_leader, &a));
    CHECK(a.started_at - t0 >= T_LEASE);
    cJSON *l = server_lease(&t);
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 1);
    CHECK_EQ_INT(spec_num(l, "leaseDurationSeconds"), 3);
    cJSON_Delete(l);
    lw_leader_free(a.le);

    kt_ctl(&t, "DELETE", "objects/leases/" LEASE_NS "/" LEASE_NAME, NULL);
    kt_ctl(&t, "POST", "objects/leases",
           "{\"metadata\":{\"name\":\"" LEASE_NAME "\",\"namespace\":\"default\"}}");
    reset_cands();
    struct cand b;
    mk(&t, &b, "cand-b", T_LEASE, T_RENEW, T_RETRY);
    start(&b);
    CHECK(run_for(&t, 1.0, cond_is_leader, &b));
    l = server_lease(&t);
    CHECK_STR(spec_str(l, "holderIdentity"), "cand-b");
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 1);
    cJSON_Delete(l);
    lw_leader_free(b.le);
    kt_teardown(&t);
}

/* ---- expiry on the local clock (fake clock) --------------------------------------- */

static double g_fake_now = 1000.0;
static double fake_clock(void *ud)
{
    (void)ud;
    return g_fake_now;
}

/* Fire what is due, then wait (real time) for the attempt's requests. */
static void pump(struct kt *t, struct lw_leader *le)
{
    struct lw_leader_stats st;
    for (int i = 0; i < 1000; i++) {
        lw_loop_run_once(t->loop, 0.01);
        lw_leader_get_stats(le, &st);
        if (!st.in_flight && i > 3)
            break;
    }
}

static void advance(struct kt *t, struct lw_leader *le, double to_rel, double base)
{
    while (g_fake_now < base + to_rel) {
        g_fake_now += 0.5;
        pump(t, le);
    }
}

static void expiry_case(const char *renew_time, int ghost_renews_midway)
{
    struct kt t;
    if (!setup(&t))
        return;
    g_fake_now = 1000.0;
    lw_loop_set_clock(t.loop, fake_clock, NULL);
    char body[600];
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"" LEASE_NAME "\",\"namespace\":\"default\"},"
             "\"spec\":{\"holderIdentity\":\"ghost\",\"leaseDurationSeconds\":15,"
             "\"leaseTransitions\":2,\"acquireTime\":\"%s\",\"renewTime\":\"%s\"}}",
             renew_time, renew_time);
    kt_ctl(&t, "POST", "objects/leases", body);
    struct cand a;
    mk(&t, &a, "cand-a", 0, 0, 0); /* client-go defaults: 15 / 10 / 2 */
    start(&a);
    double base = g_fake_now;
    pump(&t, a.le);
    struct lw_leader_stats st;
    lw_leader_get_stats(a.le, &st);
    CHECK_EQ_INT(st.attempts, 1);
    CHECK(!lw_leader_is_leader(a.le));
    CHECK_STR(lw_leader_holder(a.le), "ghost");
    CHECK_STR(a.last_new_leader, "ghost");
    /* the earliest and latest moments the record was last seen to change */
    double lo = base, hi = base;
    if (ghost_renews_midway) {
        advance(&t, a.le, 10, base);
        kt_ctl(&t, "PATCH", "objects/leases/" LEASE_NS "/" LEASE_NAME,
               "{\"spec\":{\"renewTime\":\"2026-06-01T00:00:00.000000Z\"}}");
        /* seen by the next attempt, at most 2 s * (1 + 1.2) later */
        lo = g_fake_now;
        hi = g_fake_now + 4.4 + 0.5;
    }
    /* until 15 s after the (last) change was observed: never taken */
    advance(&t, a.le, lo + 14.5 - base, base);
    lw_leader_get_stats(a.le, &st);
    CHECK(st.attempts >= 4); /* it kept looking (every 2..4.4 s) */
    CHECK(!lw_leader_is_leader(a.le));
    CHECK_EQ_INT(a.started, 0);
    /* after expiry + one jittered retry period it holds it */
    advance(&t, a.le, hi + 15 + 4.4 + 0.5 - base, base);
    CHECK(lw_leader_is_leader(a.le));
    CHECK_EQ_INT(a.started, 1);
    CHECK(a.started_at >= lo + 15);
    CHECK(a.started_at <= hi + 15 + 4.4 + 0.5);
    cJSON *l = server_lease(&t);
    CHECK_STR(spec_str(l, "holderIdentity"), "cand-a");
    CHECK_EQ_INT(spec_num(l, "leaseTransitions"), 3);
    CHECK_EQ_INT(spec_num(l, "leaseDurationSeconds"), 15);
    cJSON_Delete(l);
    lw_leader_free(a.le);
    kt_teardown(&t);
}

TEST(test_expiry_local_clock_past_renew)
{
    /* the remote renewTime is 26 years old: a remote-clock comparison would take it at once */
    expiry_case("2000-01-01T00:00:00.000000Z", 0);
}

TEST(test_expiry_local_clock_future_renew)
{
    /* the remote renewTime is centuries ahead: a remote-clock comparison would never take it */
    expiry_case("2999-01-01T00:00:00.000000Z", 0);
}

TEST(test_expiry_restarts_when_record_changes)
{
    expiry_case("2000-01-01T00:00:00.000000Z", 1);
}

static void count_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    (void)k, (void)res;
    (*(int *)ud)++;
}

/* The controller's situation: its client (here 2 qps) has a backlog of bulk
 * requests (a burst of Events, annotation patches). An elector on a sibling
 * client (same endpoint, its own rate limiter) acquires at once and renews
 * every retry period while the backlog drains: nothing it sends waits behind
 * them, whatever the shared client's queueing policy. */
TEST(test_own_client_not_starved)
{
    reset_cands();
    struct lw_kube_opts bulk = {.qps = 2, .burst = 2};
    struct kt t;
    if (!kt_setup(&t, &bulk))
        return;
    int done = 0;
    for (int i = 0; i < 40; i++) /* 20 s of backlog at 2 qps */
        CHECK_EQ_INT(lw_kube_request(t.kube, LW_KUBE_GET, "/api/v1/namespaces/default/events",
                                     NULL, NULL, count_done, &done, NULL, NULL),
                     LW_OK);
    /* on its own client: leads within a retry period or two, never steps down,
     * whatever waits in the shared client's queue */
    struct lw_errbuf eb;
    struct lw_kube *own = lw_kube_new_sibling(t.kube, NULL, &eb);
    CHECK(own != NULL);
    if (!own) {
        kt_teardown(&t);
        return;
    }
    struct cand b;
    mk_on(own, &t, &b, "own", T_LEASE, T_RENEW, T_RETRY);
    double t0 = lw_loop_now(t.loop);
    start(&b);
    CHECK(run_for(&t, 2.0, cond_is_leader, &b));
    CHECK(b.started_at - t0 < 1.0);
    run_for(&t, 4.0, NULL, NULL);
    struct lw_leader_stats st;
    lw_leader_get_stats(b.le, &st);
    CHECK_EQ_INT(b.stopped, 0);
    CHECK_EQ_INT(st.stepdowns, 0);
    CHECK(st.renewals >= 6); /* about every 0.4 s over 4 s */
    CHECK(lw_leader_is_leader(b.le));
    CHECK(done < 40);        /* the backlog was still there all along */
    struct lw_kube_stats ks;
    lw_kube_get_stats(own, &ks);
    CHECK_EQ_INT(ks.throttled, 0);
    lw_leader_free(b.le);
    lw_kube_free(own);
    kt_teardown(&t);
}

TEST_LIST(T(test_microtime), T(test_own_client_not_starved), T(test_options), T(test_single_acquire_renew),
          T(test_two_candidates_then_leader_dies), T(test_graceful_release),
          T(test_conflict_race), T(test_api_errors_step_down), T(test_release_after_step_down),
          T(test_lease_deleted_while_leading),
          T(test_foreign_holder_steps_down), T(test_odd_lease_records), T(test_expiry_local_clock_past_renew),
          T(test_expiry_local_clock_future_renew), T(test_expiry_restarts_when_record_changes));
TEST_MAIN()
