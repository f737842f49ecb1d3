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

enum req_state { RS_QUEUED, RS_RUNNING, RS_WAIT_RETRY, RS_DONE };

struct lw_kube_req {
    struct lw_kube *k;
    struct lw_kube_req *prev, *next; /* all requests */
    struct lw_kube_req *qnext;       /* rate-limiter queue */
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
    struct lw_kube_req *qhead, *qtail;
    struct lw_timer *pump;
    struct lw_kube_req *all;
    struct lw_kube_stats st;
};

static void pump_arm(struct lw_kube *k, double delay);

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
    snprintf(k->user_agent, sizeof(k->user_agent), "%s",
             k->o.user_agent ? k->o.user_agent : "leakwatch/0.1");
    k->o.user_agent = k->user_agent;
    k->tokens = k->o.burst;
    k->last_refill = lw_loop_now(loop);
    return k;
}

static void req_free(struct lw_kube_req *r)
{
    struct lw_kube *k = r->k;
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

static void queue_remove(struct lw_kube *k, struct lw_kube_req *r)
{
    struct lw_kube_req **pp = &k->qhead, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (!*pp)
        return;
    *pp = r->qnext;
    if (k->qtail == r)
        k->qtail = prev;
    r->qnext = NULL;
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
    if (r->state == RS_RUNNING && r->easy)
        lw_loop_http_remove(k->loop, r->easy);
    req_free(r);
}

void lw_kube_free(struct lw_kube *k)
{
    if (!k)
        return;
    while (k->all) {
        struct lw_kube_req *r = k->all;
        if (r->state == RS_RUNNING && r->easy)
            lw_loop_http_remove(k->loop, r->easy);
        req_free(r);
    }
    lw_timer_cancel(k->loop, k->pump);
    if (k->ep && k->ep->release)
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

static void on_pump(struct lw_loop *loop, void *ud)
{
    struct lw_kube *k = ud;
    k->pump = NULL;
    refill(k);
    while (k->qhead) {
        if (k->o.qps > 0) {
            if (k->tokens < 1.0) {
                for (struct lw_kube_req *q = k->qhead; q; q = q->qnext)
                    if (!q->throttled) {
                        q->throttled = 1;
                        k->st.throttled++;
                    }
                pump_arm(k, (1.0 - k->tokens) / k->o.qps);
                return;
            }
            k->tokens -= 1.0;
        }
        struct lw_kube_req *r = k->qhead;
        k->qhead = r->qnext;
        if (!k->qhead)
            k->qtail = NULL;
        r->qnext = NULL;
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
    r->qnext = NULL;
    if (k->qtail)
        k->qtail->qnext = r;
    else
        k->qhead = r;
    k->qtail = r;
    pump_arm(k, 0);
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
    if (ro)
        r->no_retry = ro->no_retry;
    r->cb = cb;
    r->ud = ud;
    enqueue(r);
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
    enqueue(r);
    if (out)
        *out = r;
    return LW_OK;
}
