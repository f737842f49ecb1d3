/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c: requests and watches over the loop's libcurl multi handle.
 *
 * Life of a request: lw_kube_request() queues it behind the token-bucket
 * rate limiter; a loop timer ("pump") starts queued requests as tokens allow,
 * so nothing starts and no callback runs inside lw_kube_request() itself.
 * Each attempt uses a fresh easy handle with the endpoint's apply() (so a
 * rotated token or exec credential is picked up). On completion:
 *   - 401 (first time): endpoint->unauthorized(), one more attempt;
 *   - 429 / 5xx: retried after Retry-After (capped) or jittered exponential
 *     backoff, up to max_retries (a 5xx without Retry-After only for
 *     idempotent methods, since a POST may have been applied);
 *   - connection errors: retried for idempotent methods;
 *   - anything else: the callback, with the Status reason and message.
 * Retries go through the rate limiter again, as client-go's do.
 */
#include "kube/kube.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum req_state { RS_QUEUED, RS_RUNNING, RS_WAIT_RETRY, RS_DONE, RS_DROPPED };

/* A doubly linked FIFO of requests (a priority lane, or the dropped ones
 * whose callbacks are due): push and remove are O(1). */
struct reqlist {
    struct lw_kube_req *head, *tail;
    size_t n;
};

struct lw_kube_req {
    struct lw_kube *k;
    struct lw_kube_req *prev, *next; /* all requests */
    struct lw_kube_req *qprev, *qnext; /* in *qlist */
    struct reqlist *qlist;           /* the lane (or dropped list) it waits in; NULL = none */
    int lane;                        /* 0 = most important (lane_of()) */
    uint64_t qgen;                   /* k->throttle_gen when queued */
    int qwaited;                     /* queued while the limiter was throttling */
    enum req_state state;
    enum lw_kube_method method;
    char *path;
    char *body;
    double timeout;
    int no_retry;
    int is_watch;
    long watch_timeout;
    lw_kube_done_cb cb;
    lw_kube_event_cb on_event;
    void *ud;

    CURL *easy;
    struct curl_slist *hdrs;
    struct lw_buf resp;
    double retry_after;     /* from the last response; < 0 = none */
    int attempts;
    int did_unauth;
    struct lw_timer *retry_timer;
    struct lw_backoff bo;
    int in_curl_cb;
    int cancelled;
    int throttled;          /* counted once in stats.throttled */
    char apply_err[LW_ERRBUF_SIZE];

    /* watch state */
    struct lw_linesplit ls;
    int werr;               /* why our write callback stopped the transfer */
    cJSON *err_status;      /* Status of an ERROR event */
    char werrmsg[LW_ERRBUF_SIZE];
};

struct lw_kube {
    struct lw_loop *loop;
    struct lw_kube_endpoint *ep;
    struct lw_kube_opts o;
    char user_agent[128];
    double tokens, last_refill;
    struct reqlist lanes[LW_KUBE_PRIO__COUNT]; /* by lane_of(), most important first */
    struct reqlist dropped;  /* dropped at the cap; callbacks run from the pump */
    size_t nqueued;          /* in the lanes */
    int throttling;          /* requests are waiting for tokens */
    uint64_t throttle_gen;   /* +1 each time throttling starts */
    struct lw_timer *pump;
    struct lw_kube_req *all;
    struct lw_kube_stats st;
    int owns_ep;            /* 0 for a sibling: the parent releases the endpoint */
    void (*obs)(void *ud, const struct lw_kube_attempt *a);
    void *obs_ud;
};

static void pump_arm(struct lw_kube *k, double delay);
static void init_opts(struct lw_kube *k, const struct lw_kube_opts *opts);

struct lw_loop *lw_kube_loop(struct lw_kube *k) { return k->loop; }
void lw_kube_get_stats(const struct lw_kube *k, struct lw_kube_stats *st) { *st = k->st; }

struct lw_kube *lw_kube_new(struct lw_loop *loop, struct lw_kube_endpoint *ep,
                            const struct lw_kube_opts *opts, struct lw_errbuf *eb)
{
    struct lw_kube *k = calloc(1, sizeof(*k));
    if (!k) {
        if (ep && ep->release)
            ep->release(ep->ud);
        lw_errf(eb, LW_ENOMEM, "kube: out of memory");
        return NULL;
    }
    if (!ep || !ep->apply || !ep->server[0]) {
        if (ep && ep->release)
            ep->release(ep->ud);
        free(k);
        lw_errf(eb, LW_EINVAL, "kube: endpoint without server or apply()");
        return NULL;
    }
    k->loop = loop;
    k->ep = ep;
    k->owns_ep = 1;
    init_opts(k, opts);
    return k;
}

static void init_opts(struct lw_kube *k, const struct lw_kube_opts *opts)
{
    if (opts)
        k->o = *opts;
    if (k->o.qps == 0)
        k->o.qps = 5.0;
    if (k->o.burst <= 0)
        k->o.burst = 10;
    if (k->o.max_retries == 0)
        k->o.max_retries = 10;
    if (k->o.max_retries < 0)
        k->o.max_retries = 0;
    if (k->o.retry_after_max <= 0)
        k->o.retry_after_max = 30;
    if (k->o.backoff_init <= 0)
        k->o.backoff_init = 0.5;
    if (k->o.backoff_max <= 0)
        k->o.backoff_max = 30;
    if (k->o.timeout <= 0)
        k->o.timeout = 30;
    if (k->o.connect_timeout <= 0)
        k->o.connect_timeout = 30;
    if (k->o.max_body == 0)
        k->o.max_body = 32u << 20;
    if (k->o.max_line == 0)
        k->o.max_line = 8u << 20;
    if (k->o.max_queued == 0)
        k->o.max_queued = 10000;
    snprintf(k->user_agent, sizeof(k->user_agent), "%s",
             k->o.user_agent ? k->o.user_agent : "leakwatch/0.1");
    k->o.user_agent = k->user_agent;
    k->tokens = k->o.burst;
    k->last_refill = lw_loop_now(k->loop);
}

struct lw_kube *lw_kube_new_sibling(struct lw_kube *parent, const struct lw_kube_opts *opts,
                                    struct lw_errbuf *eb)
{
    if (!parent) {
        lw_errf(eb, LW_EINVAL, "kube: sibling of no client");
        return NULL;
    }
    struct lw_kube *k = calloc(1, sizeof(*k));
    if (!k) {
        lw_errf(eb, LW_ENOMEM, "kube: out of memory");
        return NULL;
    }
    k->loop = parent->loop;
    k->ep = parent->ep;
    k->owns_ep = 0;
    init_opts(k, opts);
    return k;
}

void lw_kube_set_observer(struct lw_kube *k, void (*fn)(void *ud, const struct lw_kube_attempt *a),
                          void *ud)
{
    k->obs = fn;
    k->obs_ud = fn ? ud : NULL;
}

static void observe(struct lw_kube_req *r, long status, int err)
{
    struct lw_kube *k = r->k;
    if (!k->obs)
        return;
    struct lw_kube_attempt a = {r->method, r->is_watch, r->path, status, err};
    k->obs(k->obs_ud, &a);
}

const char *lw_kube_verb(enum lw_kube_method m, int watch, const char *path)
{
    switch (m) {
    case LW_KUBE_GET: {
        if (watch)
            return "watch";
        char res[8];
        int coll = 0;
        lw_kube_resource(path, res, sizeof(res), &coll);
        return coll ? "list" : "get";
    }
    case LW_KUBE_POST: return "create";
    case LW_KUBE_PUT: return "update";
    case LW_KUBE_PATCH_MERGE:
    case LW_KUBE_PATCH_STRATEGIC:
    case LW_KUBE_PATCH_JSON: return "patch";
    case LW_KUBE_DELETE: return "delete";
    }
    return "other";
}

/* Split path (up to '?') into at most max segments of at most 253 bytes. */
static size_t segments(const char *path, char seg[][254], size_t max)
{
    size_t n = 0;
    const char *p = path;
    while (p && *p == '/' && n < max) {
        p++;
        size_t len = strcspn(p, "/?#");
        if (len == 0 || len > 253)
            return 0;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        p += len;
        if (*p != '/')
            break;
    }
    return (p && *p && *p != '?' && *p != '#') ? 0 : n;
}

void lw_kube_resource(const char *path, char *out, size_t outlen, int *collection)
{
    char seg[9][254];
    size_t n = path ? segments(path, seg, 9) : 0;
    const char *group = NULL;
    size_t i = 0;
    if (collection)
        *collection = 0;
    if (n >= 3 && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "v1") == 0)
        i = 2;
    else if (n >= 4 && strcmp(seg[0], "apis") == 0)
        group = seg[1], i = 3;
    else
        goto other;
    const char *res, *name = NULL, *sub = NULL;
    if (strcmp(seg[i], "namespaces") == 0 && n - i >= 3) {
        res = seg[i + 2];
        name = n - i >= 4 ? seg[i + 3] : NULL;
        sub = n - i >= 5 ? seg[i + 4] : NULL;
        if (n - i > 5)
            goto other;
    } else {
        res = seg[i];
        name = n - i >= 2 ? seg[i + 1] : NULL;
        sub = n - i >= 3 ? seg[i + 2] : NULL;
        if (n - i > 3)
            goto other;
    }
    for (const char *c = res; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            goto other;
    if (sub)
        for (const char *c = sub; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
                goto other;
    if (group)
        for (const char *c = group; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                  *c == '.'))
                goto other;
    snprintf(out, outlen, "%s%s%s%s%s", res, group ? "." : "", group ? group : "",
             sub ? "/" : "", sub ? sub : "");
    if (collection)
        *collection = name == NULL;
    return;
other:
    snprintf(out, outlen, "other");
}

static void queue_remove(struct lw_kube *k, struct lw_kube_req *r);

static void req_free(struct lw_kube_req *r)
{
    struct lw_kube *k = r->k;
    queue_remove(k, r);
    if (r->prev)
        r->prev->next = r->next;
    else if (k->all == r)
        k->all = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->easy) {
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    curl_slist_free_all(r->hdrs);
    lw_timer_cancel(k->loop, r->retry_timer);
    lw_buf_release(&r->resp);
    lw_linesplit_release(&r->ls);
    cJSON_Delete(r->err_status);
    free(r->path);
    free(r->body);
    free(r);
}

/* ---- the queue: priority lanes, O(1) per operation --------------------------------- */

static void list_push(struct lw_kube *k, struct reqlist *l, struct lw_kube_req *r)
{
    r->qlist = l;
    r->qnext = NULL;
    r->qprev = l->tail;
    if (l->tail)
        l->tail->qnext = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
    k->st.queue_steps++;
}

/* Take r out of whatever list it is in (none: nothing). */
static void queue_remove(struct lw_kube *k, struct lw_kube_req *r)
{
    struct reqlist *l = r->qlist;
    if (!l)
        return;
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        l->head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        l->tail = r->qprev;
    l->n--;
    if (l != &k->dropped) {
        k->nqueued--;
        k->st.queued = k->nqueued;
    }
    r->qprev = r->qnext = NULL;
    r->qlist = NULL;
    k->st.queue_steps++;
}

/* Lane index, most important first. */
static int lane_of(enum lw_kube_prio p)
{
    switch (p) {
    case LW_KUBE_PRIO_HIGH: return 0;
    case LW_KUBE_PRIO_NORMAL: return 1;
    case LW_KUBE_PRIO_EVENT: return 2;
    case LW_KUBE_PRIO_ANNOT: return 3;
    default: return 1;
    }
}

static const enum lw_kube_prio lane_prio[LW_KUBE_PRIO__COUNT] = {
    LW_KUBE_PRIO_HIGH, LW_KUBE_PRIO_NORMAL, LW_KUBE_PRIO_EVENT, LW_KUBE_PRIO_ANNOT};

const char *lw_kube_prio_name(enum lw_kube_prio p)
{
    switch (p) {
    case LW_KUBE_PRIO_NORMAL: return "normal";
    case LW_KUBE_PRIO_HIGH: return "high";
    case LW_KUBE_PRIO_EVENT: return "event";
    case LW_KUBE_PRIO_ANNOT: return "annotation";
    default: return "?";
    }
}

int lw_kube_req_waiting(const struct lw_kube_req *r)
{
    return r && !r->cancelled && (r->state == RS_QUEUED || r->state == RS_WAIT_RETRY);
}

int lw_kube_replace_body(struct lw_kube *k, struct lw_kube_req *r, const char *body,
                         struct lw_errbuf *eb)
{
    (void)k;
    if (!lw_kube_req_waiting(r) || r->is_watch)
        return lw_errf(eb, LW_EINVAL, "kube: request already sent");
    char *nb = body ? strdup(body) : NULL;
    if (body && !nb)
        return lw_errf(eb, LW_ENOMEM, "kube: out of memory");
    free(r->body);
    r->body = nb;
    return LW_OK;
}

void lw_kube_cancel(struct lw_kube *k, struct lw_kube_req *r)
{
    if (!r || r->cancelled || r->state == RS_DONE)
        return; /* RS_DONE: inside its own done callback; finish() frees it */
    r->cancelled = 1;
    if (r->in_curl_cb)
        return; /* our write callback sees the flag and ends the transfer */
    if (r->state == RS_QUEUED)
        queue_remove(k, r);
    if (r->state == RS_RUNNING && r->easy) {
        lw_loop_http_discard(k->loop, r->easy); /* safe inside another transfer's callback */
        r->easy = NULL;
    }
    req_free(r);
}

void lw_kube_free(struct lw_kube *k)
{
    if (!k)
        return;
    while (k->all) {
        struct lw_kube_req *r = k->all;
        if (r->state == RS_RUNNING && r->easy) {
            lw_loop_http_discard(k->loop, r->easy);
            r->easy = NULL;
        }
        req_free(r);
    }
    lw_timer_cancel(k->loop, k->pump);
    if (k->owns_ep && k->ep && k->ep->release)
        k->ep->release(k->ep->ud);
    free(k);
}

/* ---- errors ----------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

void lw_kube_format_error(struct lw_kube_result *res)
{
    if (res->err == LW_OK) {
        res->errmsg[0] = '\0';
        return;
    }
    if (res->status && ((res->message && *res->message) || (res->reason && *res->reason))) {
        snprintf(res->errmsg, sizeof(res->errmsg), "%s (%s, %ld)",
                 *res->message ? res->message : res->reason,
                 *res->reason ? res->reason : "Unknown", res->status);
    } else if (res->status && !res->errmsg[0]) {
        snprintf(res->errmsg, sizeof(res->errmsg), "HTTP %ld without a Status body",
                 res->status);
    } else if (!res->errmsg[0]) {
        snprintf(res->errmsg, sizeof(res->errmsg), "%s", lw_strerror(res->err));
    }
}

int lw_kube_is_expired(const struct lw_kube_result *res)
{
    return res->status == 410 || strcmp(res->reason ? res->reason : "", "Expired") == 0 ||
           strcmp(res->reason ? res->reason : "", "Gone") == 0;
}

/* ---- curl callbacks ------------------------------------------------------------ */

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct lw_kube_req *r = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
        r->retry_after = -1; /* a new response (after 100-continue, ...) */
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char tmp[32];
        size_t m = LW_MIN(len - 12, sizeof(tmp) - 1);
        memcpy(tmp, p + 12, m);
        tmp[m] = '\0';
        char *end;
        double v = strtod(tmp, &end);
        /* only delta-seconds: an HTTP-date is ignored (backoff applies) */
        if (end != tmp && isfinite(v) && v >= 0)
            r->retry_after = v;
    }
    return len;
}

static int watch_line(void *ud, const char *line, size_t len)
{
    struct lw_kube_req *r = ud;
    struct lw_watch_event ev;
    struct lw_errbuf eb = {{0}};
    int rc = lw_watch_decode(line, len, &ev, &eb);
    if (rc == LW_EEMPTY)
        return 0;
    if (rc != LW_OK) {
        r->werr = rc;
        snprintf(r->werrmsg, sizeof(r->werrmsg), "%s", eb.msg);
        return 1;
    }
    if (ev.type == LW_WATCH_ERROR) {
        r->werr = LW_EHTTP;
        r->err_status = cJSON_DetachItemFromObjectCaseSensitive(ev.root, "object");
        cJSON_Delete(ev.root);
        return 1;
    }
    int stop = r->on_event ? r->on_event(r->k, &ev, r->ud) : 0;
    cJSON_Delete(ev.root);
    if (stop) {
        r->werr = 1; /* stopped by the caller: not an error */
        return 1;
    }
    return 0;
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct lw_kube_req *r = ud;
    size_t len = size * n;
    if (r->cancelled)
        return 0;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->is_watch && status == 200) {
        r->in_curl_cb = 1;
        int rc = lw_linesplit_feed(&r->ls, p, len, watch_line, r);
        r->in_curl_cb = 0;
        if (rc == LW_ETOOBIG) {
            r->werr = LW_ETOOBIG;
            snprintf(r->werrmsg, sizeof(r->werrmsg),
                     "watch: an event line is over the %zu-byte cap", r->ls.buf.max);
        }
        return (rc != LW_OK || r->cancelled) ? 0 : len;
    }
    if (lw_buf_append(&r->resp, p, len) != LW_OK) {
        r->werr = LW_ETOOBIG;
        snprintf(r->werrmsg, sizeof(r->werrmsg), "response body over the %zu-byte cap",
                 r->resp.max);
        return 0;
    }
    return len;
}

/* ---- attempts ------------------------------------------------------------------ */

static void on_done(struct lw_loop *loop, CURL *easy, CURLcode rc, void *ud);

static int is_idempotent(enum lw_kube_method m)
{
    return m == LW_KUBE_GET || m == LW_KUBE_PUT || m == LW_KUBE_DELETE;
}

static void finish(struct lw_kube_req *r, struct lw_kube_result *res)
{
    struct lw_kube *k = r->k;
    r->state = RS_DONE;
    res->attempts = r->attempts;
    if (!res->reason)
        res->reason = "";
    if (!res->message)
        res->message = "";
    lw_kube_format_error(res);
    if (res->err == LW_EHTTP)
        k->st.api_errors++;
    if (r->cb)
        r->cb(k, res, r->ud);
    cJSON_Delete(res->body);
    req_free(r);
}

/* Start one attempt now; on a local failure finish the request. */
static void start_attempt(struct lw_kube_req *r)
{
    struct lw_kube *k = r->k;
    struct lw_errbuf eb = {{0}};
    struct lw_kube_result res;
    memset(&res, 0, sizeof(res));

    r->attempts++;
    r->retry_after = -1;
    r->werr = 0;
    r->werrmsg[0] = '\0';
    lw_buf_reset(&r->resp);
    lw_linesplit_release(&r->ls);
    lw_linesplit_init(&r->ls, k->o.max_line);
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    r->easy = curl_easy_init();
    if (!r->easy) {
        res.err = LW_ENOMEM;
        snprintf(res.errmsg, sizeof(res.errmsg), "kube: curl_easy_init failed");
        finish(r, &res);
        return;
    }
    struct lw_buf url = LW_BUF_INIT(64 * 1024);
    if (lw_buf_appendf(&url, "%s%s", k->ep->server, r->path) != LW_OK) {
        lw_buf_release(&url);
        res.err = LW_ETOOBIG;
        snprintf(res.errmsg, sizeof(res.errmsg), "kube: URL too long");
        finish(r, &res);
        return;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    lw_buf_release(&url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, k->user_agent);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(k->o.connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 30L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (r->is_watch) {
        /* the server ends the stream at timeoutSeconds; allow a margin */
        long t = r->watch_timeout > 0 ? r->watch_timeout + 60 : 0;
        curl_easy_setopt(e, CURLOPT_TIMEOUT, t);
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(r->timeout * 1000));
    }
    const char *ctype = "application/json";
    switch (r->method) {
    case LW_KUBE_GET:
        break;
    case LW_KUBE_POST:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
        break;
    case LW_KUBE_PUT:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        break;
    case LW_KUBE_PATCH_MERGE:
        ctype = "application/merge-patch+json";
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        break;
    case LW_KUBE_PATCH_STRATEGIC:
        ctype = "application/strategic-merge-patch+json";
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        break;
    case LW_KUBE_PATCH_JSON:
        ctype = "application/json-patch+json";
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        break;
    case LW_KUBE_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    }
    if (r->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
        char h[96];
        snprintf(h, sizeof(h), "Content-Type: %s", ctype);
        r->hdrs = curl_slist_append(r->hdrs, h);
    }
    r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json");
    r->hdrs = curl_slist_append(r->hdrs, "Expect:");
    int arc = k->ep->apply(k->ep->ud, e, &r->hdrs, &eb);
    if (arc != LW_OK || !r->hdrs) {
        res.err = arc != LW_OK ? arc : LW_ENOMEM;
        observe(r, 0, res.err);
        snprintf(res.errmsg, sizeof(res.errmsg), "kube: credentials: %s",
                 eb.msg[0] ? eb.msg : lw_strerror(res.err));
        finish(r, &res);
        return;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    if (lw_loop_http_add(k->loop, e, on_done, r, &eb) != LW_OK) {
        res.err = LW_ENET;
        snprintf(res.errmsg, sizeof(res.errmsg), "%s", eb.msg);
        finish(r, &res);
        return;
    }
    r->state = RS_RUNNING;
    k->st.requests++;
}

/* ---- rate limiter ---------------------------------------------------------------- */

static void refill(struct lw_kube *k)
{
    double now = lw_loop_now(k->loop);
    if (k->o.qps > 0) {
        k->tokens += (now - k->last_refill) * k->o.qps;
        if (k->tokens > k->o.burst)
            k->tokens = k->o.burst;
    }
    k->last_refill = now;
}

/* The first request of the most important non-empty lane. */
static struct lw_kube_req *queue_first(struct lw_kube *k)
{
    for (int i = 0; i < LW_KUBE_PRIO__COUNT; i++) {
        k->st.queue_steps++;
        if (k->lanes[i].head)
            return k->lanes[i].head;
    }
    return NULL;
}

/* Requests dropped at the cap get their callback here, never inside
 * lw_kube_request(). */
static void finish_dropped(struct lw_kube *k)
{
    while (k->dropped.head) {
        struct lw_kube_req *r = k->dropped.head;
        queue_remove(k, r);
        struct lw_kube_result res;
        memset(&res, 0, sizeof(res));
        res.err = LW_ENOMEM;
        snprintf(res.errmsg, sizeof(res.errmsg),
                 "kube: %s %s: dropped, the request queue is full (%zu queued)",
                 lw_kube_prio_name(lane_prio[r->lane]), r->path, k->o.max_queued);
        finish(r, &res);
    }
}

/* Start queued requests while tokens last. The throttled state is kept for
 * the queue as a whole (k->throttling, k->throttle_gen), not per request:
 * running out of tokens costs O(1) however long the queue is, and the timer
 * wakes the pump when the next token is due. */
static void on_pump(struct lw_loop *loop, void *ud)
{
    (void)loop;
    struct lw_kube *k = ud;
    k->pump = NULL;
    finish_dropped(k);
    refill(k);
    for (;;) {
        struct lw_kube_req *r = queue_first(k);
        if (!r) {
            k->throttling = 0;
            return;
        }
        if (k->o.qps > 0) {
            if (k->tokens < 1.0) {
                if (!k->throttling) {
                    k->throttling = 1;
                    k->throttle_gen++;
                }
                pump_arm(k, (1.0 - k->tokens) / k->o.qps);
                return;
            }
            k->tokens -= 1.0;
        }
        queue_remove(k, r);
        if (!r->throttled && (r->qwaited || r->qgen != k->throttle_gen)) {
            r->throttled = 1; /* it waited for a token */
            k->st.throttled++;
        }
        start_attempt(r);
    }
}

static void pump_arm(struct lw_kube *k, double delay)
{
    if (k->pump)
        return;
    k->pump = lw_timer_add(k->loop, delay, 0, on_pump, k);
}

static void enqueue(struct lw_kube_req *r)
{
    struct lw_kube *k = r->k;
    r->state = RS_QUEUED;
    r->qgen = k->throttle_gen;
    r->qwaited = k->throttling;
    list_push(k, &k->lanes[r->lane], r);
    k->nqueued++;
    k->st.queued = k->nqueued;
    if (k->st.queued > k->st.queued_max)
        k->st.queued_max = k->st.queued;
    pump_arm(k, 0);
}

/* Admit a new request at the queue cap (docs/client.md "Priorities and the
 * queue cap"): when the queue is full, the newest request of the least
 * important lane that is less important than r is dropped (its callback runs
 * from the pump with LW_ENOMEM); when there is none, r itself is refused
 * (LW_ENOMEM, no callback). Retries re-enter the queue without this check. */
static int admit(struct lw_kube_req *r, struct lw_errbuf *eb)
{
    struct lw_kube *k = r->k;
    if (k->nqueued >= k->o.max_queued) {
        struct lw_kube_req *victim = NULL;
        for (int i = LW_KUBE_PRIO__COUNT - 1; i > r->lane && !victim; i--) {
            k->st.queue_steps++;
            victim = k->lanes[i].tail;
        }
        if (!victim) {
            k->st.dropped++;
            k->st.dropped_prio[lane_prio[r->lane]]++;
            return lw_errf(eb, LW_ENOMEM, "kube: request queue full (%zu queued): %s request dropped",
                           k->o.max_queued, lw_kube_prio_name(lane_prio[r->lane]));
        }
        queue_remove(k, victim);
        victim->state = RS_DROPPED;
        list_push(k, &k->dropped, victim);
        k->st.dropped++;
        k->st.dropped_prio[lane_prio[victim->lane]]++;
        if (k->pump) { /* waiting for a token: the victim's callback is due now */
            lw_timer_cancel(k->loop, k->pump);
            k->pump = NULL;
        }
    }
    enqueue(r);
    return LW_OK;
}

static void on_retry_timer(struct lw_loop *loop, void *ud)
{
    struct lw_kube_req *r = ud;
    r->retry_timer = NULL;
    enqueue(r);
}

static void schedule_retry(struct lw_kube_req *r, double delay)
{
    r->k->st.retries++;
    r->state = RS_WAIT_RETRY;
    if (delay <= 0) {
        enqueue(r);
        return;
    }
    r->retry_timer = lw_timer_add(r->k->loop, delay, 0, on_retry_timer, r);
    if (!r->retry_timer)
        enqueue(r);
}

static void on_done(struct lw_loop *loop, CURL *easy, CURLcode rc, void *ud)
{
    struct lw_kube_req *r = ud;
    struct lw_kube *k = r->k;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    r->easy = NULL;
    if (r->cancelled) {
        req_free(r);
        return;
    }
    {
        long code = status;
        int oerr = LW_OK;
        if (r->is_watch && r->werr == LW_EHTTP && r->err_status) {
            /* an ERROR event on a 200 stream: its Status code (410...) */
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(r->err_status, "code");
            code = cJSON_IsNumber(c) ? (long)c->valuedouble : 500;
            oerr = LW_EHTTP;
        } else if (rc != CURLE_OK && !(r->is_watch && r->werr == 1)) {
            oerr = status ? LW_EHTTP : LW_ENET;
            if (r->werr < 0 || (r->is_watch && status == 200))
                oerr = r->werr < 0 ? r->werr : LW_ENET;
        } else if (status < 200 || status >= 300) {
            oerr = LW_EHTTP;
        }
        observe(r, code, oerr);
    }
    int can_retry = !r->no_retry && !r->is_watch && r->attempts <= k->o.max_retries;
    struct lw_kube_result res;
    memset(&res, 0, sizeof(res));
    res.status = status;

    if (rc != CURLE_OK && !r->werr) {
        k->st.net_errors++;
        if (can_retry && is_idempotent(r->method) && rc != CURLE_URL_MALFORMAT &&
            rc != CURLE_UNSUPPORTED_PROTOCOL) {
            schedule_retry(r, lw_backoff_next(&r->bo, lw_loop_now(k->loop)));
            return;
        }
        res.err = LW_ENET;
        res.status = 0;
        snprintf(res.errmsg, sizeof(res.errmsg), "%s %s: %s", r->is_watch ? "watch" : "request",
                 r->path, curl_easy_strerror(rc));
        finish(r, &res);
        return;
    }
    if (status == 401) {
        k->st.unauthorized++;
        if (!r->did_unauth) {
            r->did_unauth = 1;
            if (k->ep->unauthorized)
                k->ep->unauthorized(k->ep->ud);
            r->state = RS_WAIT_RETRY;
            enqueue(r);
            return;
        }
    }
    if ((status == 429 || status >= 500) && can_retry &&
        (status == 429 || r->retry_after >= 0 || is_idempotent(r->method))) {
        double d = r->retry_after >= 0 ? LW_MIN(r->retry_after, k->o.retry_after_max)
                                       : lw_backoff_next(&r->bo, lw_loop_now(k->loop));
        schedule_retry(r, d);
        return;
    }

    if (r->is_watch && status == 200) {
        if (r->werr == LW_EHTTP && r->err_status) {
            res.watch_error_event = 1;
            res.body = r->err_status;
            r->err_status = NULL;
            const cJSON *code = cJSON_GetObjectItemCaseSensitive(res.body, "code");
            res.status = cJSON_IsNumber(code) ? (long)code->valuedouble : 500;
            res.reason = jstr(res.body, "reason");
            res.message = jstr(res.body, "message");
            res.err = LW_EHTTP;
        } else if (r->werr < 0) {
            res.err = r->werr;
            snprintf(res.errmsg, sizeof(res.errmsg), "%s", r->werrmsg);
        } else if (rc != CURLE_OK && r->werr == 0) {
            res.err = LW_ENET;
        } else {
            res.err = LW_OK; /* ended by the server (timeoutSeconds) or by the caller */
        }
        finish(r, &res);
        return;
    }
    if (r->werr == LW_ETOOBIG) {
        res.err = LW_ETOOBIG;
        snprintf(res.errmsg, sizeof(res.errmsg), "%s %s: %s", r->is_watch ? "watch" : "request",
                 r->path, r->werrmsg);
        finish(r, &res);
        return;
    }
    if (r->resp.len)
        res.body = cJSON_ParseWithLength(r->resp.data, r->resp.len);
    res.err = (status >= 200 && status < 300) ? LW_OK : LW_EHTTP;
    if (res.err != LW_OK && cJSON_IsObject(res.body)) {
        res.reason = jstr(res.body, "reason");
        res.message = jstr(res.body, "message");
    }
    if (res.err == LW_OK && r->resp.len && !res.body) {
        res.err = LW_EFORMAT;
        snprintf(res.errmsg, sizeof(res.errmsg), "request %s: response is not JSON", r->path);
    }
    finish(r, &res);
}

/* ---- public entry points ---------------------------------------------------------- */

static struct lw_kube_req *req_new(struct lw_kube *k, enum lw_kube_method m, const char *path,
                                   const char *body, int *err, struct lw_errbuf *eb)
{
    if (!path || path[0] != '/') {
        *err = lw_errf(eb, LW_EINVAL, "kube: request path must start with '/'");
        return NULL;
    }
    *err = LW_ENOMEM;
    struct lw_kube_req *r = calloc(1, sizeof(*r));
    if (!r) {
        lw_errf(eb, LW_ENOMEM, "kube: out of memory");
        return NULL;
    }
    r->k = k;
    r->method = m;
    r->path = strdup(path);
    r->body = body ? strdup(body) : NULL;
    if (!r->path || (body && !r->body)) {
        free(r->path);
        free(r->body);
        free(r);
        lw_errf(eb, LW_ENOMEM, "kube: out of memory");
        return NULL;
    }
    r->timeout = k->o.timeout;
    r->retry_after = -1;
    r->lane = lane_of(LW_KUBE_PRIO_NORMAL);
    lw_buf_init(&r->resp, k->o.max_body);
    lw_linesplit_init(&r->ls, k->o.max_line);
    lw_backoff_init(&r->bo, k->o.backoff_init, k->o.backoff_max, 0);
    r->next = k->all;
    if (k->all)
        k->all->prev = r;
    k->all = r;
    return r;
}

int lw_kube_request(struct lw_kube *k, enum lw_kube_method m, const char *path, const char *body,
                    const struct lw_kube_req_opts *ro, lw_kube_done_cb cb, void *ud,
                    struct lw_kube_req **out, struct lw_errbuf *eb)
{
    int err;
    struct lw_kube_req *r = req_new(k, m, path, body, &err, eb);
    if (!r)
        return err;
    if (ro && ro->timeout > 0)
        r->timeout = ro->timeout;
    if (ro) {
        r->no_retry = ro->no_retry;
        r->lane = lane_of(ro->prio);
    }
    r->cb = cb;
    r->ud = ud;
    if ((err = admit(r, eb)) != LW_OK) {
        req_free(r);
        return err;
    }
    if (out)
        *out = r;
    return LW_OK;
}

int lw_kube_watch(struct lw_kube *k, const char *path, const struct lw_kube_list_opts *o,
                  lw_kube_event_cb on_event, lw_kube_done_cb done, void *ud,
                  struct lw_kube_req **out, struct lw_errbuf *eb)
{
    struct lw_buf url = LW_BUF_INIT(64 * 1024);
    if (!path || path[0] != '/')
        return lw_errf(eb, LW_EINVAL, "kube: watch path must start with '/'");
    if (lw_kube_build_url(&url, path, o, 1) != LW_OK) {
        lw_buf_release(&url);
        return lw_errf(eb, LW_ETOOBIG, "kube: watch URL too long");
    }
    int err;
    struct lw_kube_req *r = req_new(k, LW_KUBE_GET, url.data, NULL, &err, eb);
    lw_buf_release(&url);
    if (!r)
        return err;
    r->is_watch = 1;
    r->watch_timeout = o ? o->timeout_seconds : 0;
    r->on_event = on_event;
    r->cb = done;
    r->ud = ud;
    if ((err = admit(r, eb)) != LW_OK) {
        req_free(r);
        return err;
    }
    if (out)
        *out = r;
    return LW_OK;
}
