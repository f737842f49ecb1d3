/* SPDX-License-Identifier: Apache-2.0 */
/*
 * leader.c: the Lease-based elector described in leader.h.
 *
 * One attempt at a time. An attempt is a short chain of requests:
 *   leader with a known object:  PUT (renew)      -- failure -> the GET chain
 *   otherwise:                   GET -> 404 -> POST (create)
 *                                    -> 200 -> judge expiry -> PUT (take over / renew)
 * Each attempt ends in attempt_ok() or attempt_failed(), which schedule the
 * next one. While leading, a deadline timer fires renew_deadline after the
 * start of the last successful write and steps us down; it is measured from
 * when that write was SENT, so a slow answer can only shorten leadership.
 */
#include "leader/leader.h"

#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEASE_API "/apis/coordination.k8s.io/v1/namespaces/"

enum state { ST_IDLE, ST_CANDIDATE, ST_LEADER, ST_RELEASING, ST_STOPPED };
enum op { OP_NONE, OP_FAST_PUT, OP_GET, OP_CREATE, OP_PUT, OP_RELEASE };

/* The election-relevant part of a Lease spec (client-go's LeaderElectionRecord). */
struct rec {
    char holder[LW_LEADER_ID_MAX];
    long dur;
    char acquire[LW_LEADER_TIME_MAX];
    char renew[LW_LEADER_TIME_MAX];
    long transitions;
};

struct lw_leader {
    struct lw_kube *k;
    struct lw_loop *loop;
    char ns[256], name[256], id[LW_LEADER_ID_MAX];
    char coll[600], path[900];
    double lease, renew_deadline, retry, jitter;
    long dur_s;
    double (*rand01)(void *ud);
    void *rand_ud;
    void (*on_started)(void *ud);
    void (*on_stopped)(void *ud);
    void (*on_new_leader)(void *ud, const char *id);
    void *ud;

    enum state st;
    enum op op;
    struct lw_kube_req *req;
    double req_sent;          /* loop time the running request was sent */
    struct lw_timer *t_next;  /* next attempt */
    struct lw_timer *t_dead;  /* leader: renew deadline */
    double valid_until;       /* leader: loop time leadership ends without a renewal */

    int have_obs;
    struct rec obs;           /* last observed record */
    double obs_time;          /* loop time it last changed (as seen by us) */
    cJSON *obj;               /* last Lease object seen (GET or write answer) */
    char rv[LW_LEADER_RV_MAX];

    int reported_set;
    char reported[LW_LEADER_ID_MAX];

    void (*release_done)(void *ud);
    void *release_ud;

    struct lw_leader_stats stats;
};

/* ---- small helpers ---------------------------------------------------------- */

static double default_rand(void *ud)
{
    (void)ud;
    return (double)random() / ((double)RAND_MAX + 1.0);
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int lw_leader_format_microtime(char *out, size_t n, double wall)
{
    if (!out || n < 28 || !isfinite(wall) || wall < 0 || wall > 253402300799.0)
        return LW_EINVAL;
    time_t s = (time_t)floor(wall);
    long us = (long)llround((wall - (double)s) * 1e6);
    if (us >= 1000000) {
        s++;
        us -= 1000000;
    }
    struct tm tm;
    if (!gmtime_r(&s, &tm))
        return LW_ERANGE;
    char base[32];
    if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return LW_ERANGE;
    int w = snprintf(out, n, "%s.%06ldZ", base, us);
    return w > 0 && (size_t)w < n ? LW_OK : LW_ERANGE;
}

/* Lease names and namespaces go into the URL: DNS-subdomain characters only. */
static int valid_dns_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(islower(c) || isdigit(c) || c == '-' || c == '.'))
            return 0;
    }
    return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

static int valid_identity(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= LW_LEADER_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isprint((unsigned char)s[i]))
            return 0;
    return 1;
}

static void make_identity(char *out, size_t n, const char *prefix)
{
    char host[128] = "";
    if (!prefix || !*prefix) {
        if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
            snprintf(host, sizeof(host), "leakwatch");
        host[sizeof(host) - 1] = '\0';
        prefix = host;
    }
    unsigned char r[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, r, sizeof(r)) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
        for (int i = 0; i < 8; i++)
            r[i] = (unsigned char)(v >> (8 * i));
    }
    /* keep room for "_" + 16 hex digits */
    snprintf(out, n, "%.200s_%02x%02x%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3],
             r[4], r[5], r[6], r[7]);
}

static void copy_str(char *dst, size_t n, const cJSON *v)
{
    snprintf(dst, n, "%s", cJSON_IsString(v) && v->valuestring ? v->valuestring : "");
}

static long num_or(const cJSON *v, long dflt)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < -2147483648.0 ||
        v->valuedouble > 2147483647.0)
        return dflt;
    return (long)v->valuedouble;
}

/* Parse a Lease's record and resourceVersion. 0 when it has no usable RV. */
static int parse_lease(const cJSON *obj, struct rec *r, char *rv, size_t rvn)
{
    memset(r, 0, sizeof(*r));
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0] ||
        strlen(v->valuestring) >= rvn)
        return 0;
    snprintf(rv, rvn, "%s", v->valuestring);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    copy_str(r->holder, sizeof(r->holder), cJSON_GetObjectItemCaseSensitive(sp, "holderIdentity"));
    r->dur = num_or(cJSON_GetObjectItemCaseSensitive(sp, "leaseDurationSeconds"), 0);
    copy_str(r->acquire, sizeof(r->acquire), cJSON_GetObjectItemCaseSensitive(sp, "acquireTime"));
    copy_str(r->renew, sizeof(r->renew), cJSON_GetObjectItemCaseSensitive(sp, "renewTime"));
    r->transitions = num_or(cJSON_GetObjectItemCaseSensitive(sp, "leaseTransitions"), 0);
    return 1;
}

static int rec_equal(const struct rec *a, const struct rec *b)
{
    return strcmp(a->holder, b->holder) == 0 && a->dur == b->dur &&
           strcmp(a->acquire, b->acquire) == 0 && strcmp(a->renew, b->renew) == 0 &&
           a->transitions == b->transitions;
}

static void report_leader(struct lw_leader *le)
{
    if (le->reported_set && strcmp(le->reported, le->obs.holder) == 0)
        return;
    le->reported_set = 1;
    snprintf(le->reported, sizeof(le->reported), "%s", le->obs.holder);
    if (le->on_new_leader)
        le->on_new_leader(le->ud, le->reported);
}

/* Take obj as the newest observation; observed_time moves only when the
 * record differs from the previous one. Returns 0 when obj is unusable. */
static int observe(struct lw_leader *le, cJSON *obj)
{
    struct rec r;
    char rv[LW_LEADER_RV_MAX];
    if (!parse_lease(obj, &r, rv, sizeof(rv))) {
        cJSON_Delete(obj);
        return 0;
    }
    if (!le->have_obs || !rec_equal(&r, &le->obs)) {
        le->obs = r;
        le->obs_time = lw_loop_now(le->loop);
        le->have_obs = 1;
    }
    snprintf(le->rv, sizeof(le->rv), "%s", rv);
    cJSON_Delete(le->obj);
    le->obj = obj;
    return 1;
}

/* A Lease body for a write: a copy of base (or a fresh object) with spec set. */
static char *build_body(struct lw_leader *le, const cJSON *base, const char *holder, long dur,
                        const char *acquire, const char *renew, long transitions)
{
    cJSON *o = base ? cJSON_Duplicate(base, 1) : cJSON_CreateObject();
    if (!o)
        return NULL;
    if (!base) {
        cJSON *md = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(o, "kind", "Lease");
        if (md) {
            cJSON_AddStringToObject(md, "name", le->name);
            cJSON_AddStringToObject(md, "namespace", le->ns);
            cJSON_AddItemToObject(o, "metadata", md);
        }
    } else {
        cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
    }
    cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "spec");
    if (!cJSON_IsObject(sp)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "spec");
        sp = cJSON_AddObjectToObject(o, "spec");
    }
    char *out = NULL;
    if (sp) {
        static const char *const keys[] = {"holderIdentity", "leaseDurationSeconds", "acquireTime",
                                           "renewTime", "leaseTransitions"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            cJSON_DeleteItemFromObjectCaseSensitive(sp, keys[i]);
        if (holder[0])
            cJSON_AddStringToObject(sp, "holderIdentity", holder);
        cJSON_AddNumberToObject(sp, "leaseDurationSeconds", (double)dur);
        cJSON_AddStringToObject(sp, "acquireTime", acquire);
        cJSON_AddStringToObject(sp, "renewTime", renew);
        cJSON_AddNumberToObject(sp, "leaseTransitions", (double)transitions);
        out = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    return out;
}

/* ---- the attempt machinery ---------------------------------------------------- */

static void on_done(struct lw_kube *k, struct lw_kube_result *res, void *ud);
static void attempt_start(struct lw_loop *loop, void *ud);
static void on_deadline(struct lw_loop *loop, void *ud);

static void schedule_next(struct lw_leader *le, double delay)
{
    lw_timer_cancel(le->loop, le->t_next);
    le->t_next = lw_timer_add(le->loop, delay, 0, attempt_start, le);
    /* Out of memory: nothing more will happen; is_leader still expires on time. */
}

static double jittered_retry(struct lw_leader *le)
{
    double r = le->rand01(le->rand_ud);
    if (!(r >= 0) || r >= 1)
        r = 0;
    return le->retry + r * le->jitter * le->retry;
}

static void cancel_request(struct lw_leader *le)
{
    if (le->req)
        lw_kube_cancel(le->k, le->req);
    le->req = NULL;
    le->op = OP_NONE;
    le->stats.in_flight = 0;
}

static void step_down(struct lw_leader *le)
{
    cancel_request(le);
    lw_timer_cancel(le->loop, le->t_dead);
    le->t_dead = NULL;
    le->st = ST_CANDIDATE;
    le->valid_until = 0;
    le->stats.stepdowns++;
    schedule_next(le, jittered_retry(le));
    if (le->on_stopped)
        le->on_stopped(le->ud);
}

static void on_deadline(struct lw_loop *loop, void *ud)
{
    struct lw_leader *le = ud;
    le->t_dead = NULL;
    if (le->st == ST_LEADER)
        step_down(le);
}

static void attempt_failed(struct lw_leader *le)
{
    le->op = OP_NONE;
    le->stats.attempts++;
    if (le->st == ST_LEADER)
        schedule_next(le, le->retry);
    else if (le->st == ST_CANDIDATE)
        schedule_next(le, jittered_retry(le));
}

static void attempt_ok(struct lw_leader *le, double sent)
{
    le->op = OP_NONE;
    le->stats.attempts++;
    int was_leader = le->st == ST_LEADER;
    le->st = ST_LEADER;
    le->valid_until = sent + le->renew_deadline;
    lw_timer_cancel(le->loop, le->t_dead);
    le->t_dead = lw_timer_add(le->loop, le->valid_until - lw_loop_now(le->loop), 0, on_deadline, le);
    schedule_next(le, le->retry);
    if (was_leader) {
        le->stats.renewals++;
    } else {
        le->stats.acquisitions++;
        if (le->on_started)
            le->on_started(le->ud);
    }
    if (le->st == ST_LEADER)
        report_leader(le);
}

static int send_req(struct lw_leader *le, enum lw_kube_method m, const char *path, const char *body,
                    enum op op)
{
    struct lw_kube_req_opts ro = {0};
    ro.no_retry = 1;
    ro.prio = LW_KUBE_PRIO_HIGH; /* never behind other requests, even on a shared client */
    double now = lw_loop_now(le->loop);
    ro.timeout = le->renew_deadline;
    if (le->st == ST_LEADER) {
        ro.timeout = le->valid_until - now;
        if (ro.timeout < 0.05)
            ro.timeout = 0.05;
    }
    struct lw_errbuf eb;
    le->op = op;
    le->req_sent = now;
    int rc = lw_kube_request(le->k, m, path, body, &ro, on_done, le, &le->req, &eb);
    if (rc != LW_OK) {
        le->req = NULL;
        le->op = OP_NONE;
        le->stats.errors++;
        return rc;
    }
    le->stats.in_flight = 1;
    return LW_OK;
}

static void send_get(struct lw_leader *le)
{
    if (send_req(le, LW_KUBE_GET, le->path, NULL, OP_GET) != LW_OK)
        attempt_failed(le);
}

/* Renew the record we hold: keep acquireTime and leaseTransitions. */
static char *renew_body(struct lw_leader *le, const char *now_s)
{
    const char *acq = le->obs.acquire[0] ? le->obs.acquire : now_s;
    return build_body(le, le->obj, le->id, le->dur_s, acq, now_s, le->obs.transitions);
}

static void attempt_start(struct lw_loop *loop, void *ud)
{
    struct lw_leader *le = ud;
    le->t_next = NULL;
    if (le->req || (le->st != ST_CANDIDATE && le->st != ST_LEADER))
        return;
    char now_s[LW_LEADER_TIME_MAX];
    lw_leader_format_microtime(now_s, sizeof(now_s), wall_now());
    if (le->st == ST_LEADER && le->obj && strcmp(le->obs.holder, le->id) == 0) {
        /* fast path (client-go's optimistic renew): PUT with our last RV */
        char *body = renew_body(le, now_s);
        int rc = body ? send_req(le, LW_KUBE_PUT, le->path, body, OP_FAST_PUT) : LW_ENOMEM;
        cJSON_free(body);
        if (rc == LW_OK)
            return;
    }
    send_get(le);
}

static void handle_get(struct lw_leader *le, struct lw_kube_result *res)
{
    char now_s[LW_LEADER_TIME_MAX];
    lw_leader_format_microtime(now_s, sizeof(now_s), wall_now());
    if (res->err == LW_EHTTP && res->status == 404) {
        /* no Lease: create it holding it */
        char *body = build_body(le, NULL, le->id, le->dur_s, now_s, now_s, 0);
        int rc = body ? send_req(le, LW_KUBE_POST, le->coll, body, OP_CREATE) : LW_ENOMEM;
        cJSON_free(body);
        if (rc != LW_OK)
            attempt_failed(le);
        return;
    }
    if (res->err != LW_OK || !res->body) {
        le->stats.errors++;
        attempt_failed(le);
        return;
    }
    cJSON *obj = res->body;
    res->body = NULL;
    if (!observe(le, obj)) {
        le->stats.errors++;
        attempt_failed(le);
        return;
    }
    report_leader(le);
    if (le->st != ST_CANDIDATE && le->st != ST_LEADER)
        return; /* a callback released the elector */
    const struct rec *o = &le->obs;
    int ours = strcmp(o->holder, le->id) == 0;
    double dur = o->dur > 0 ? (double)o->dur : le->lease;
    if (o->holder[0] && !ours && lw_loop_now(le->loop) < le->obs_time + dur) {
        /* held by someone else and not expired on our clock */
        if (le->st == ST_LEADER)
            step_down(le); /* we know we lost: stop now, not at the deadline */
        else
            attempt_failed(le);
        return;
    }
    char *body;
    if (ours)
        body = renew_body(le, now_s);
    else
        body = build_body(le, le->obj, le->id, le->dur_s, now_s, now_s, o->transitions + 1);
    int rc = body ? send_req(le, LW_KUBE_PUT, le->path, body, OP_PUT) : LW_ENOMEM;
    cJSON_free(body);
    if (rc != LW_OK)
        attempt_failed(le);
}

static void handle_write(struct lw_leader *le, struct lw_kube_result *res, double sent)
{
    if (res->err == LW_OK && res->body) {
        cJSON *obj = res->body;
        res->body = NULL;
        if (observe(le, obj) && strcmp(le->obs.holder, le->id) == 0) {
            attempt_ok(le, sent);
            return;
        }
    }
    if (res->err == LW_EHTTP && res->status == 409)
        le->stats.conflicts++;
    else
        le->stats.errors++;
    attempt_failed(le);
}

static void on_done(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    struct lw_leader *le = ud;
    enum op op = le->op;
    double sent = le->req_sent;
    le->req = NULL;
    le->op = OP_NONE;
    le->stats.in_flight = 0;
    switch (op) {
    case OP_FAST_PUT:
        if (res->err == LW_OK && res->body) {
            handle_write(le, res, sent);
            return;
        }
        if (res->err == LW_EHTTP && res->status == 409)
            le->stats.conflicts++;
        else
            le->stats.errors++;
        send_get(le); /* see what is there now (deleted? taken?) */
        return;
    case OP_GET:
        handle_get(le, res);
        return;
    case OP_CREATE:
    case OP_PUT:
        handle_write(le, res, sent);
        if (op == OP_CREATE && le->st == ST_LEADER && res->err == LW_OK)
            le->stats.creates++;
        return;
    case OP_RELEASE:
        if (res->err == LW_OK && res->body) {
            cJSON *obj = res->body;
            res->body = NULL;
            observe(le, obj);
        }
        le->st = ST_STOPPED;
        if (le->release_done)
            le->release_done(le->release_ud);
        return;
    case OP_NONE:
        return;
    }
}

/* ---- public ------------------------------------------------------------------ */

struct lw_leader *lw_leader_new(struct lw_kube *k, const struct lw_leader_opts *o,
                                struct lw_errbuf *eb)
{
    if (!k || !o) {
        lw_errf(eb, LW_EINVAL, "leader: no client or options");
        return NULL;
    }
    if (!valid_dns_name(o->ns) || !valid_dns_name(o->name)) {
        lw_errf(eb, LW_EINVAL, "leader: lease namespace/name %s/%s is not a DNS subdomain",
                o->ns ? o->ns : "(null)", o->name ? o->name : "(null)");
        return NULL;
    }
    double lease = o->lease_duration > 0 ? o->lease_duration : 15;
    double renew = o->renew_deadline > 0 ? o->renew_deadline : 10;
    double retry = o->retry_period > 0 ? o->retry_period : 2;
    double jitter = o->jitter > 0 ? o->jitter : 1.2;
    if (!isfinite(lease) || !isfinite(renew) || !isfinite(retry) || !isfinite(jitter) ||
        lease > 86400) {
        lw_errf(eb, LW_EINVAL, "leader: durations must be finite (lease at most a day)");
        return NULL;
    }
    if (!(lease > renew)) {
        lw_errf(eb, LW_EINVAL, "leader: leaseDuration %.3gs must be greater than renewDeadline %.3gs",
                lease, renew);
        return NULL;
    }
    if (!(renew > jitter * retry)) {
        lw_errf(eb, LW_EINVAL,
                "leader: renewDeadline %.3gs must be greater than retryPeriod*JitterFactor %.3gs",
                renew, jitter * retry);
        return NULL;
    }
    if (lease < 1) {
        lw_errf(eb, LW_EINVAL, "leader: leaseDuration %.3gs is under the 1 s a Lease can express",
                lease);
        return NULL;
    }
    struct lw_leader *le = calloc(1, sizeof(*le));
    if (!le) {
        lw_errf(eb, LW_ENOMEM, "leader: out of memory");
        return NULL;
    }
    le->k = k;
    le->loop = lw_kube_loop(k);
    snprintf(le->ns, sizeof(le->ns), "%s", o->ns);
    snprintf(le->name, sizeof(le->name), "%s", o->name);
    if (o->identity) {
        if (!valid_identity(o->identity)) {
            lw_errf(eb, LW_EINVAL, "leader: identity must be 1..%d printable characters",
                    LW_LEADER_ID_MAX - 1);
            free(le);
            return NULL;
        }
        snprintf(le->id, sizeof(le->id), "%s", o->identity);
    } else {
        make_identity(le->id, sizeof(le->id), o->id_prefix);
    }
    snprintf(le->coll, sizeof(le->coll), LEASE_API "%s/leases", le->ns);
    snprintf(le->path, sizeof(le->path), LEASE_API "%s/leases/%s", le->ns, le->name);
    le->lease = lease;
    le->renew_deadline = renew;
    le->retry = retry;
    le->jitter = jitter;
    le->dur_s = (long)(lease + 0.5);
    le->rand01 = o->rand01 ? o->rand01 : default_rand;
    le->rand_ud = o->rand_ud;
    le->on_started = o->on_started_leading;
    le->on_stopped = o->on_stopped_leading;
    le->on_new_leader = o->on_new_leader;
    le->ud = o->ud;
    le->st = ST_IDLE;
    return le;
}

int lw_leader_start(struct lw_leader *le, struct lw_errbuf *eb)
{
    if (le->st != ST_IDLE)
        return lw_errf(eb, LW_EINVAL, "leader: already started");
    le->st = ST_CANDIDATE;
    schedule_next(le, 0);
    if (!le->t_next) {
        le->st = ST_IDLE;
        return lw_errf(eb, LW_ENOMEM, "leader: out of memory for a timer");
    }
    return LW_OK;
}

int lw_leader_is_leader(const struct lw_leader *le)
{
    return le && le->st == ST_LEADER && lw_loop_now(le->loop) < le->valid_until;
}

const char *lw_leader_identity(const struct lw_leader *le)
{
    return le->id;
}

const char *lw_leader_holder(const struct lw_leader *le)
{
    return le->have_obs ? le->obs.holder : "";
}

void lw_leader_get_stats(const struct lw_leader *le, struct lw_leader_stats *st)
{
    *st = le->stats;
}

static void stop_all(struct lw_leader *le)
{
    cancel_request(le);
    lw_timer_cancel(le->loop, le->t_next);
    lw_timer_cancel(le->loop, le->t_dead);
    le->t_next = le->t_dead = NULL;
}

int lw_leader_release(struct lw_leader *le, void (*done)(void *ud), void *ud)
{
    if (!le || le->st == ST_RELEASING)
        return le && le->st == ST_RELEASING;
    int leading = le->st == ST_LEADER;
    stop_all(le);
    le->st = ST_STOPPED;
    le->valid_until = 0;
    if (leading) {
        le->stats.stepdowns++;
        if (le->on_stopped)
            le->on_stopped(le->ud);
    }
    /* Like client-go, release whenever the last record we saw names us: also
     * after a step-down whose renewals failed, so a standby need not wait
     * for the lease to expire. A stale resourceVersion just gets a 409. */
    if (!le->obj || strcmp(le->obs.holder, le->id) != 0)
        return 0;
    char now_s[LW_LEADER_TIME_MAX];
    lw_leader_format_microtime(now_s, sizeof(now_s), wall_now());
    char *body = build_body(le, le->obj, "", 1, now_s, now_s, le->obs.transitions);
    le->st = ST_RELEASING;
    le->release_done = done;
    le->release_ud = ud;
    struct lw_kube_req_opts ro = {0};
    ro.no_retry = 1;
    ro.prio = LW_KUBE_PRIO_HIGH; /* never behind other requests, even on a shared client */
    ro.timeout = le->renew_deadline;
    struct lw_errbuf eb;
    int rc = body ? lw_kube_request(le->k, LW_KUBE_PUT, le->path, body, &ro, on_done, le, &le->req,
                                    &eb)
                  : LW_ENOMEM;
    cJSON_free(body);
    if (rc != LW_OK) {
        le->req = NULL;
        le->st = ST_STOPPED;
        le->stats.errors++;
        return 0;
    }
    le->op = OP_RELEASE;
    le->stats.in_flight = 1;
    return 1;
}

void lw_leader_free(struct lw_leader *le)
{
    if (!le)
        return;
    stop_all(le);
    cJSON_Delete(le->obj);
    free(le);
}
