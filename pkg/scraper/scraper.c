/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scraper.c: the asynchronous pprof scraper of scraper.h.
 *
 * Structure: targets live in a chained hash keyed by "<uid>/<container>".
 * Each has a one-shot loop timer re-armed every cycle with a jittered
 * interval; a cycle ORs the kinds due into the target's `pending` mask and
 * puts the target on a FIFO ready queue. dispatch() starts requests from the
 * queue while fewer than max_concurrent are in flight, one kind per target at
 * a time (a target never has two requests in flight: the runtime serialises
 * profile requests anyway, and it keeps one slow pod from taking every slot).
 * When a request completes the target goes back to the tail of the queue if
 * more kinds are pending.
 *
 * Removal from inside the result callback: the target is unhashed, its
 * timer cancelled and it is marked `removed`; the completion handler frees it
 * once the callback returns.
 */
#include "scraper/scraper.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PATH "/debug/pprof"
#define MAX_PATH_LEN 256
#define URL_MAX 512

struct req;

struct target {
    struct lw_scraper *s;
    struct target *hnext;            /* hash chain */
    struct target *qprev, *qnext;    /* ready queue */
    bool queued;
    char *key;
    char base[URL_MAX];
    void *ud;
    double interval;
    struct lw_timer *timer;
    unsigned pending;                /* 1 << enum lw_scrape_kind */
    bool suspected;
    bool have_debug2, have_leak;
    double last_debug2, last_leak;
    int64_t goid_cut;                /* lw_scraper_set_goid_cut: for its next debug=2 dump */
    struct req *inflight;
    struct lw_scrape_target_stats st;
    bool removed;
    int in_cb;
};

struct req {
    struct target *t;
    CURL *easy;
    enum lw_scrape_kind kind;
    struct lw_buf body;
    bool too_big;
    double started_loop, started_real;
    char url[URL_MAX + 64];
    char curlerr[CURL_ERROR_SIZE];
};

struct lw_scraper {
    struct lw_loop *loop;
    struct lw_scraper_opts o;
    char *ca_file;
    char *user_agent;
    lw_scrape_cb cb;
    void *ud;
    struct target **buckets;
    size_t nbuckets, ntargets;
    struct target *qhead, *qtail;
    size_t nqueued;
    size_t in_flight;
    struct lw_scraper_stats st;
};

static const char *const kind_names[LW_SCRAPE_NKINDS] = {"goroutine1", "heap", "goroutineleak",
                                                          "goroutine2"};
static const char *const kind_paths[LW_SCRAPE_NKINDS] = {
    "goroutine?debug=1", "heap?debug=1", "goroutineleak?debug=1", "goroutine?debug=2"};

const char *lw_scrape_kind_name(enum lw_scrape_kind k)
{
    return (unsigned)k < LW_SCRAPE_NKINDS ? kind_names[k] : "?";
}

void lw_scraper_opts_default(struct lw_scraper_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_concurrent = 8;
    o->timeout = 10;
    o->connect_timeout = 3;
    o->max_body = 32u << 20;
    o->jitter = 0.1;
    o->debug2_min_interval = 300;
    o->leak_min_interval = 60;
    o->leak_reprobe_interval = 3600;
    o->heap_every = 1;
    o->first_spread = 1.0;
    lw_pprof_limits_default(&o->limits);
    /* tighter than the CLI's: many targets share one process */
    o->limits.max_input = o->max_body;
    o->limits.max_inflated = 128u << 20;
    o->limits.max_arena = 256u << 20;
}

/* ---- URL validation --------------------------------------------------------- */

static bool path_char_ok(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

int lw_scrape_base_url(const struct lw_scrape_spec *spec, char *out, size_t outlen,
                       struct lw_errbuf *eb)
{
    if (!spec->ip || !spec->ip[0])
        return lw_errf(eb, LW_EINVAL, "target has no pod IP");
    char ip[64];
    size_t iplen = strnlen(spec->ip, sizeof(ip));
    if (iplen >= sizeof(ip))
        return lw_errf(eb, LW_EINVAL, "pod IP too long");
    memcpy(ip, spec->ip, iplen + 1);
    if (ip[0] == '[' && iplen > 2 && ip[iplen - 1] == ']') {
        memmove(ip, ip + 1, iplen - 2);
        ip[iplen - 2] = '\0';
    }
    unsigned char addr[16];
    bool v6 = false;
    if (inet_pton(AF_INET, ip, addr) == 1) {
        if (memcmp(addr, "\0\0\0\0", 4) == 0)
            return lw_errf(eb, LW_EINVAL, "pod IP %s is the unspecified address", ip);
    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        v6 = true;
        static const unsigned char zero[16];
        if (memcmp(addr, zero, 16) == 0)
            return lw_errf(eb, LW_EINVAL, "pod IP %s is the unspecified address", ip);
    } else {
        char shown[40];
        size_t k = 0;
        for (size_t i = 0; spec->ip[i] && k < sizeof(shown) - 1; i++)
            shown[k++] = isprint((unsigned char)spec->ip[i]) ? spec->ip[i] : '?';
        shown[k] = '\0';
        return lw_errf(eb, LW_EINVAL, "pod IP \"%s\" is not an IPv4 or IPv6 address literal",
                       shown);
    }
    if (spec->port < 1 || spec->port > 65535)
        return lw_errf(eb, LW_EINVAL, "port %d out of range 1-65535", spec->port);
    const char *path = spec->path && spec->path[0] ? spec->path : DEFAULT_PATH;
    size_t plen = strnlen(path, MAX_PATH_LEN + 1);
    if (plen > MAX_PATH_LEN)
        return lw_errf(eb, LW_EINVAL, "path longer than %d bytes", MAX_PATH_LEN);
    if (path[0] != '/')
        return lw_errf(eb, LW_EINVAL, "path must start with '/' (an absolute URL or host is not "
                                      "accepted)");
    for (size_t i = 0; i < plen; i++) {
        unsigned char c = (unsigned char)path[i];
        if (!path_char_ok(c))
            return lw_errf(eb, LW_EINVAL,
                           "path: character 0x%02x at offset %zu not allowed (letters, digits, "
                           "'-', '.', '_', '~', '/')",
                           c, i);
        if (c == '/' && path[i + 1] == '/')
            return lw_errf(eb, LW_EINVAL, "path: empty segment \"//\" not allowed");
        if (c == '/' && path[i + 1] == '.' &&
            (path[i + 2] == '/' || path[i + 2] == '\0' ||
             (path[i + 2] == '.' && (path[i + 3] == '/' || path[i + 3] == '\0'))))
            return lw_errf(eb, LW_EINVAL, "path: \".\" and \"..\" segments not allowed");
    }
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    int n = snprintf(out, outlen, "%s://%s%s%s:%d%.*s", spec->https ? "https" : "http",
                     v6 ? "[" : "", ip, v6 ? "]" : "", spec->port, (int)plen, path);
    if (n < 0 || (size_t)n >= outlen)
        return lw_errf(eb, LW_EINVAL, "URL too long");
    return LW_OK;
}

/* ---- target table ------------------------------------------------------------- */

static int make_key(const char *uid, const char *container, char *out, size_t outlen,
                    struct lw_errbuf *eb)
{
    if (!uid || !uid[0])
        return lw_errf(eb, LW_EINVAL, "target has no pod UID");
    if (!container)
        container = "";
    for (const char *p = uid; *p; p++)
        if (!isgraph((unsigned char)*p) || *p == '/')
            return lw_errf(eb, LW_EINVAL, "pod UID contains a space, '/' or control character");
    for (const char *p = container; *p; p++)
        if (!isgraph((unsigned char)*p))
            return lw_errf(eb, LW_EINVAL, "container name contains a space or control character");
    int n = snprintf(out, outlen, "%s/%s", uid, container);
    if (n < 0 || (size_t)n >= outlen)
        return lw_errf(eb, LW_EINVAL, "pod UID or container name too long");
    return LW_OK;
}

static size_t bucket_of(const struct lw_scraper *s, const char *key)
{
    return (size_t)(lw_fnv1a(LW_FNV_INIT, key, strlen(key)) & (s->nbuckets - 1));
}

static struct target *find(const struct lw_scraper *s, const char *uid, const char *container)
{
    char key[600];
    if (make_key(uid, container, key, sizeof(key), NULL) != LW_OK)
        return NULL;
    for (struct target *t = s->buckets[bucket_of(s, key)]; t; t = t->hnext)
        if (strcmp(t->key, key) == 0)
            return t;
    return NULL;
}

static void unhash(struct lw_scraper *s, struct target *t)
{
    struct target **pp = &s->buckets[bucket_of(s, t->key)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext;
    if (*pp) {
        *pp = t->hnext;
        s->ntargets--;
    }
    t->hnext = NULL;
}

static int grow(struct lw_scraper *s)
{
    size_t nb = s->nbuckets * 2;
    struct target **b = calloc(nb, sizeof(*b));
    if (!b)
        return LW_ENOMEM;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct target *t = s->buckets[i];
        while (t) {
            struct target *next = t->hnext;
            size_t h = (size_t)(lw_fnv1a(LW_FNV_INIT, t->key, strlen(t->key)) & (nb - 1));
            t->hnext = b[h];
            b[h] = t;
            t = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
    return LW_OK;
}

/* ---- ready queue ---------------------------------------------------------------- */

static void enqueue(struct lw_scraper *s, struct target *t)
{
    if (t->queued || t->inflight || t->removed || !t->pending)
        return;
    t->qnext = NULL;
    t->qprev = s->qtail;
    if (s->qtail)
        s->qtail->qnext = t;
    else
        s->qhead = t;
    s->qtail = t;
    t->queued = true;
    s->nqueued++;
}

static void dequeue(struct lw_scraper *s, struct target *t)
{
    if (!t->queued)
        return;
    if (t->qprev)
        t->qprev->qnext = t->qnext;
    else
        s->qhead = t->qnext;
    if (t->qnext)
        t->qnext->qprev = t->qprev;
    else
        s->qtail = t->qprev;
    t->qprev = t->qnext = NULL;
    t->queued = false;
    s->nqueued--;
}

/* ---- requests ------------------------------------------------------------------- */

static void req_free(struct req *r)
{
    if (!r)
        return;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    lw_buf_release(&r->body);
    free(r);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb;
    if (lw_buf_append(&r->body, p, n) != LW_OK) {
        r->too_big = true;
        return 0; /* CURLE_WRITE_ERROR: libcurl aborts the transfer */
    }
    return n;
}

static void on_done(struct lw_loop *loop, CURL *easy, CURLcode rc, void *ud);
static void dispatch(struct lw_scraper *s);

/* Copy at most max bytes of s into out, control characters as '?'. */
static void printable(char *out, size_t outlen, const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < outlen; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n' || c == '\r')
            break;
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[k] = '\0';
}

static void cancel_cleanup_inflight(struct lw_scraper *s, struct target *t)
{
    struct req *r = t->inflight;
    if (!r)
        return;
    lw_loop_http_discard(s->loop, r->easy); /* safe inside a watch handler's libcurl callback */
    r->easy = NULL;
    t->inflight = NULL;
    s->in_flight--;
    s->st.cancelled++;
    req_free(r);
}

/* Is a goroutineleak request due for t at now? Not when disabled; not within
 * leak_min_interval of the last one (each forces a GC on the target); after
 * a 404 only once leak_reprobe_interval has passed. */
static bool leak_due(const struct lw_scraper *s, const struct target *t, double now)
{
    if (s->o.leak_disabled)
        return false;
    if (t->st.leak_probe == LW_LEAK_ABSENT)
        return s->o.leak_reprobe_interval > 0 &&
               now - t->st.leak_absent_at >= s->o.leak_reprobe_interval;
    return !t->have_leak || now - t->last_leak >= s->o.leak_min_interval;
}

static int start(struct lw_scraper *s, struct target *t, enum lw_scrape_kind kind)
{
    struct req *r = calloc(1, sizeof(*r));
    if (!r)
        return LW_ENOMEM;
    r->t = t;
    r->kind = kind;
    lw_buf_init(&r->body, s->o.max_body);
    snprintf(r->url, sizeof(r->url), "%s/%s", t->base, kind_paths[kind]);
    r->easy = curl_easy_init();
    if (!r->easy) {
        req_free(r);
        return LW_ENOMEM;
    }
    CURL *c = r->easy;
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 0L);
    /* never via a proxy from the environment: only the pod's own IP */
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    /* a pod IP needs no name resolution, and libcurl's DNS cache (one per
     * multi handle) would keep an entry per pod that every transfer's
     * pruning walks: thousands of entries at thousands of pods */
    curl_easy_setopt(c, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    /* Plain-HTTP connections are not kept for reuse: a pod is scraped
     * every tens of seconds, so a cached connection is rarely reused, and
     * libcurl walks its whole connection cache each time one is returned to
     * it. At 5,000 pods this halved the controller's CPU (11.7% -> 5.2% of
     * a core, docs/benchmarks.md). HTTPS keeps reuse: a TLS handshake per
     * request would cost more than the walk. */
    if (strncmp(r->url, "http://", 7) == 0)
        curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    /* a Content-Encoding is passed through as is: the size cap counts wire
     * bytes, so a compressed bomb cannot expand behind it */
    curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(s->o.timeout * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(s->o.connect_timeout * 1000));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s->o.max_body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curlerr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, s->user_agent);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, s->o.tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, s->o.tls_verify ? 2L : 0L);
    if (s->o.tls_verify && s->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    r->started_loop = lw_loop_now(s->loop);
    r->started_real = lw_clock_monotonic();
    if (lw_loop_http_add(s->loop, c, on_done, r, NULL) != LW_OK) {
        req_free(r);
        return LW_ENOMEM;
    }
    t->inflight = r;
    s->in_flight++;
    s->st.started++;
    t->st.requests++;
    if (s->in_flight > s->st.max_in_flight_seen)
        s->st.max_in_flight_seen = s->in_flight;
    if (kind == LW_SCRAPE_GOROUTINE2) {
        t->have_debug2 = true;
        t->last_debug2 = r->started_loop;
        t->st.last_debug2 = r->started_loop;
    } else if (kind == LW_SCRAPE_GOROUTINELEAK) {
        t->have_leak = true;
        t->last_leak = r->started_loop;
    }
    return LW_OK;
}

static void dispatch(struct lw_scraper *s)
{
    while (s->in_flight < (size_t)s->o.max_concurrent && s->qhead) {
        struct target *t = s->qhead;
        dequeue(s, t);
        while (t->pending) {
            enum lw_scrape_kind k = LW_SCRAPE_GOROUTINE1;
            while (!(t->pending & (1u << k)))
                k++;
            t->pending &= ~(1u << k);
            if (k == LW_SCRAPE_GOROUTINE2 && !t->suspected)
                continue; /* no longer suspected by the time a slot freed up */
            if (k == LW_SCRAPE_GOROUTINELEAK && (s->o.leak_disabled ||
                                                 (t->st.leak_probe == LW_LEAK_ABSENT &&
                                                  !leak_due(s, t, lw_loop_now(s->loop)))))
                continue; /* a 404 came back while this one was queued */
            int rc = start(s, t, k);
            if (rc != LW_OK) {
                t->st.failed++;
                t->st.failures_in_row++;
                s->st.failed++;
                snprintf(t->st.last_error, sizeof(t->st.last_error),
                         "%s: could not start the request: %s", t->base, lw_strerror(rc));
                continue;
            }
            break;
        }
    }
}

/* Why a 200 body is not a profile, in words a user can act on. */
static void describe_junk(const char *b, size_t n, char *out, size_t outlen)
{
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    char first[48];
    printable(first, sizeof(first), b + i, n - i);
    if (n == 0 || i == n)
        snprintf(out, outlen, "empty response body");
    else if (b[i] == '<')
        snprintf(out, outlen,
                 "got an HTML page, not a profile (pprof mounted under another path, or the "
                 "wrong port?): \"%s\"",
                 first);
    else if (b[i] == '{' || b[i] == '[')
        snprintf(out, outlen, "got JSON, not a profile (the wrong port?): \"%s\"", first);
    else if (n - i >= 18 && memcmp(b + i, "404 page not found", 18) == 0)
        snprintf(out, outlen, "pprof is not registered on this server (404 page not found)");
    else if (n - i >= 15 && memcmp(b + i, "Unknown profile", 15) == 0)
        snprintf(out, outlen, "the server does not know this profile (Unknown profile)");
    else if (n - i >= 30 && memcmp(b + i, "Client sent an HTTP request to", 30) == 0)
        snprintf(out, outlen, "the target speaks HTTPS: set the scheme to https");
    else
        snprintf(out, outlen, "not a pprof profile (starts with \"%s\")", first);
}

static enum lw_prof_kind want_kind(enum lw_scrape_kind k)
{
    switch (k) {
    case LW_SCRAPE_HEAP: return LW_KIND_HEAP;
    case LW_SCRAPE_GOROUTINELEAK: return LW_KIND_GOROUTINELEAK;
    default: return LW_KIND_GOROUTINE;
    }
}

static void finish_target(struct lw_scraper *s, struct target *t);

static void on_done(struct lw_loop *loop, CURL *easy, CURLcode rc, void *ud)
{
    struct req *r = ud;
    struct target *t = r->t;
    struct lw_scraper *s = t->s;
    t->inflight = NULL;
    s->in_flight--;

    struct lw_scrape_result res;
    memset(&res, 0, sizeof(res));
    res.key = t->key;
    res.target_ud = t->ud;
    res.kind = r->kind;
    res.url = r->url;
    res.started = r->started_loop;
    res.latency = lw_clock_monotonic() - r->started_real;
    res.bytes = r->body.len;
    s->st.bytes += r->body.len;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
    bool counted_failure = true;

    if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        res.err = LW_ETOOBIG;
        snprintf(res.errmsg, sizeof(res.errmsg),
                 "%s: response larger than %zu bytes: transfer aborted", r->url, s->o.max_body);
        s->st.too_big++;
    } else if (rc != CURLE_OK) {
        res.err = LW_ENET;
        if (rc == CURLE_OPERATION_TIMEDOUT) {
            s->st.timeouts++;
            snprintf(res.errmsg, sizeof(res.errmsg),
                     "%s: timed out after %.1f s (%zu bytes received)", r->url, res.latency,
                     r->body.len);
        } else {
            snprintf(res.errmsg, sizeof(res.errmsg), "%s: %s", r->url,
                     r->curlerr[0] ? r->curlerr : curl_easy_strerror(rc));
        }
    } else if (res.status == 404 && r->kind == LW_SCRAPE_GOROUTINELEAK) {
        res.err = LW_ENOTFOUND;
        res.leak_absent = true;
        t->st.leak_probe = LW_LEAK_ABSENT;
        t->st.leak_absent_at = lw_loop_now(loop);
        counted_failure = false;
        snprintf(res.errmsg, sizeof(res.errmsg),
                 "%s: not served (HTTP 404): Go < 1.26 or built without "
                 "GOEXPERIMENT=goroutineleakprofile; not asked again until a restart%s",
                 r->url, s->o.leak_reprobe_interval > 0 ? " or a rare re-probe" : "");
    } else if (res.status >= 300 && res.status < 400) {
        res.err = LW_EHTTP;
        s->st.http_errors++;
        char *loc = NULL;
        char shown[160] = "";
        if (curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
            printable(shown, sizeof(shown), loc, strlen(loc));
        snprintf(res.errmsg, sizeof(res.errmsg),
                 "%s: HTTP %ld redirect to \"%s\" not followed (leakwatch only scrapes the pod's "
                 "own address)",
                 r->url, res.status, shown);
    } else if (res.status != 200) {
        res.err = LW_EHTTP;
        s->st.http_errors++;
        char first[160];
        printable(first, sizeof(first), r->body.data ? r->body.data : "", r->body.len);
        snprintf(res.errmsg, sizeof(res.errmsg), "%s: HTTP %ld%s%s", r->url, res.status,
                 first[0] ? ": " : "", first);
    } else {
        const char *b = r->body.data ? r->body.data : "";
        enum lw_prof_format f = lw_pprof_sniff(b, r->body.len);
        if (f == LW_FMT_UNKNOWN) {
            char why[300];
            describe_junk(b, r->body.len, why, sizeof(why));
            res.err = LW_EFORMAT;
            snprintf(res.errmsg, sizeof(res.errmsg), "%s: %s", r->url, why);
        } else {
            struct lw_errbuf pe = {""};
            struct lw_profile *p = NULL;
            struct lw_pprof_limits lim = s->o.limits;
            lim.goid_cut = r->kind == LW_SCRAPE_GOROUTINE2 ? t->goid_cut : 0;
            int prc = lw_pprof_parse(b, r->body.len, &lim, &p, &pe);
            if (prc != LW_OK) {
                res.err = prc;
                snprintf(res.errmsg, sizeof(res.errmsg), "%s: %s", r->url,
                         pe.msg[0] ? pe.msg : lw_strerror(prc));
            } else if (p->kind != want_kind(r->kind) ||
                       (r->kind == LW_SCRAPE_GOROUTINE2 && p->format != LW_FMT_DEBUG2)) {
                res.err = LW_EFORMAT;
                snprintf(res.errmsg, sizeof(res.errmsg), "%s: expected a %s profile, got %s %s",
                         r->url, kind_names[r->kind], lw_prof_kind_name(p->kind),
                         lw_prof_format_name(p->format));
                lw_profile_free(p);
            } else {
                res.profile = p;
                if (r->kind == LW_SCRAPE_GOROUTINELEAK)
                    t->st.leak_probe = LW_LEAK_SERVED;
            }
            if (res.err == LW_EFORMAT)
                s->st.format_errors++;
        }
    }
    if (r->body.data) {
        res.body = r->body.data;
        res.body_len = r->body.len;
    }

    t->st.last_latency = res.latency;
    if (res.err == LW_OK) {
        s->st.ok++;
        t->st.ok++;
        t->st.by_kind_ok[r->kind]++;
        t->st.failures_in_row = 0;
        t->st.last_ok = lw_loop_now(loop);
    } else if (counted_failure) {
        s->st.failed++;
        t->st.failed++;
        t->st.failures_in_row++;
        memcpy(t->st.last_error, res.errmsg, sizeof(t->st.last_error));
    }
    if (res.err == LW_ENET) {
        /* no connection, or a timeout: the rest of this cycle would fail the
         * same way (and a hung target would hold a slot for each), so it is
         * dropped; failures_in_row then counts dead cycles, not requests */
        t->pending = 0;
        t->st.cycles_cut++;
    }

    t->in_cb++;
    s->cb(s, &res, s->ud);
    t->in_cb--;
    lw_profile_free(res.profile);
    req_free(r);
    if (t->removed) {
        if (!t->in_cb)
            finish_target(s, t);
    } else {
        enqueue(s, t);
    }
    dispatch(s);
}

/* ---- cycles --------------------------------------------------------------------- */

static double rnd(struct lw_scraper *s)
{
    if (s->o.rand01)
        return s->o.rand01(s->o.rand_ud);
    return (double)random() / ((double)RAND_MAX + 1.0);
}

static void on_timer(struct lw_loop *loop, void *ud);

static void arm(struct lw_scraper *s, struct target *t, double delay)
{
    if (t->timer)
        lw_timer_cancel(s->loop, t->timer);
    t->timer = lw_timer_add(s->loop, delay, 0, on_timer, t);
}

static double next_delay(struct lw_scraper *s, const struct target *t)
{
    double j = s->o.jitter;
    return t->interval * (1.0 + j * (2.0 * rnd(s) - 1.0));
}

static void cycle(struct lw_scraper *s, struct target *t)
{
    double now = lw_loop_now(s->loop);
    t->pending |= 1u << LW_SCRAPE_GOROUTINE1;
    if (s->o.heap_every > 0 && t->st.cycles % (uint64_t)s->o.heap_every == 0)
        t->pending |= 1u << LW_SCRAPE_HEAP;
    t->st.cycles++;
    if (leak_due(s, t, now))
        t->pending |= 1u << LW_SCRAPE_GOROUTINELEAK;
    if (t->suspected && (!t->have_debug2 || now - t->last_debug2 >= s->o.debug2_min_interval))
        t->pending |= 1u << LW_SCRAPE_GOROUTINE2;
    enqueue(s, t);
    dispatch(s);
}

static void on_timer(struct lw_loop *loop, void *ud)
{
    struct target *t = ud;
    struct lw_scraper *s = t->s;
    t->timer = NULL; /* a one-shot handle dies when this returns */
    arm(s, t, next_delay(s, t));
    cycle(s, t);
}

/* ---- public API ----------------------------------------------------------------- */

struct lw_scraper *lw_scraper_new(struct lw_loop *loop, const struct lw_scraper_opts *o,
                                  lw_scrape_cb cb, void *ud, struct lw_errbuf *eb)
{
    struct lw_scraper *s = calloc(1, sizeof(*s));
    if (!s) {
        lw_errf(eb, LW_ENOMEM, "scraper: out of memory");
        return NULL;
    }
    struct lw_scraper_opts d;
    lw_scraper_opts_default(&d);
    if (o) {
        s->o = *o;
        if (s->o.max_concurrent <= 0)
            s->o.max_concurrent = d.max_concurrent;
        if (s->o.timeout <= 0)
            s->o.timeout = d.timeout;
        if (s->o.connect_timeout <= 0)
            s->o.connect_timeout = d.connect_timeout;
        if (s->o.max_body == 0)
            s->o.max_body = d.max_body;
        if (s->o.jitter == 0)
            s->o.jitter = d.jitter;
        else if (s->o.jitter < 0)
            s->o.jitter = 0;
        if (s->o.jitter > 0.5)
            s->o.jitter = 0.5;
        if (s->o.debug2_min_interval <= 0)
            s->o.debug2_min_interval = d.debug2_min_interval;
        if (s->o.leak_min_interval <= 0)
            s->o.leak_min_interval = d.leak_min_interval;
        if (s->o.leak_reprobe_interval == 0)
            s->o.leak_reprobe_interval = d.leak_reprobe_interval;
        if (s->o.heap_every == 0)
            s->o.heap_every = d.heap_every;
        if (s->o.first_spread == 0)
            s->o.first_spread = d.first_spread;
        if (s->o.limits.max_input == 0 && s->o.limits.max_arena == 0)
            s->o.limits = d.limits;
        if (s->o.limits.max_input < s->o.max_body)
            s->o.limits.max_input = s->o.max_body;
    } else {
        s->o = d;
    }
    s->loop = loop;
    s->cb = cb;
    s->ud = ud;
    s->nbuckets = 64;
    s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
    s->user_agent = strdup(s->o.user_agent ? s->o.user_agent : "leakwatch/0.1 (scraper)");
    s->ca_file = s->o.ca_file ? strdup(s->o.ca_file) : NULL;
    if (!s->buckets || !s->user_agent || (s->o.ca_file && !s->ca_file)) {
        free(s->buckets);
        free(s->user_agent);
        free(s->ca_file);
        free(s);
        lw_errf(eb, LW_ENOMEM, "scraper: out of memory");
        return NULL;
    }
    s->o.user_agent = NULL;
    s->o.ca_file = NULL;
    return s;
}

static void finish_target(struct lw_scraper *s, struct target *t)
{
    free(t->key);
    free(t);
}

/* Unhash, stop timers and transfers; free unless a callback is running for it. */
static void drop_target(struct lw_scraper *s, struct target *t)
{
    unhash(s, t);
    if (t->timer)
        lw_timer_cancel(s->loop, t->timer);
    t->timer = NULL;
    dequeue(s, t);
    cancel_cleanup_inflight(s, t);
    t->pending = 0;
    t->removed = true;
    if (!t->in_cb)
        finish_target(s, t);
}

void lw_scraper_free(struct lw_scraper *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        while (s->buckets[i])
            drop_target(s, s->buckets[i]);
    }
    free(s->buckets);
    free(s->user_agent);
    free(s->ca_file);
    free(s);
}

int lw_scraper_upsert(struct lw_scraper *s, const struct lw_scrape_spec *spec,
                      struct lw_errbuf *eb)
{
    char key[600], base[URL_MAX];
    int rc = make_key(spec->uid, spec->container, key, sizeof(key), eb);
    if (rc != LW_OK)
        return rc;
    rc = lw_scrape_base_url(spec, base, sizeof(base), eb);
    if (rc != LW_OK)
        return rc;
    double interval = spec->interval > 0 ? spec->interval : 30;
    if (interval < 0.05)
        interval = 0.05;
    struct target *t = find(s, spec->uid, spec->container);
    if (t) {
        t->ud = spec->ud;
        if (strcmp(t->base, base) != 0) {
            /* a new address is a different process: drop what is running */
            dequeue(s, t);
            cancel_cleanup_inflight(s, t);
            t->pending = 0;
            memcpy(t->base, base, sizeof(base));
            t->st.leak_probe = LW_LEAK_UNKNOWN;
            t->st.leak_absent_at = 0;
            t->have_leak = false;
            t->st.cycles = 0; /* the new process gets its heap at once */
            dispatch(s);
        }
        if (interval != t->interval) {
            t->interval = interval;
            arm(s, t, next_delay(s, t));
        }
        return LW_OK;
    }
    if (s->ntargets + 1 > s->nbuckets && grow(s) != LW_OK)
        return lw_errf(eb, LW_ENOMEM, "scraper: out of memory");
    t = calloc(1, sizeof(*t));
    if (!t || !(t->key = strdup(key))) {
        free(t);
        return lw_errf(eb, LW_ENOMEM, "scraper: out of memory");
    }
    t->s = s;
    memcpy(t->base, base, sizeof(base));
    t->ud = spec->ud;
    t->interval = interval;
    double first = s->o.first_spread < 0 ? 0 : rnd(s) * s->o.first_spread * interval;
    t->timer = lw_timer_add(s->loop, first, 0, on_timer, t);
    if (!t->timer) {
        free(t->key);
        free(t);
        return lw_errf(eb, LW_ENOMEM, "scraper: out of memory");
    }
    size_t h = bucket_of(s, key);
    t->hnext = s->buckets[h];
    s->buckets[h] = t;
    s->ntargets++;
    return LW_OK;
}

int lw_scraper_remove(struct lw_scraper *s, const char *uid, const char *container)
{
    struct target *t = find(s, uid, container);
    if (!t)
        return LW_ENOTFOUND;
    drop_target(s, t);
    dispatch(s);
    return LW_OK;
}

int lw_scraper_set_suspected(struct lw_scraper *s, const char *uid, const char *container,
                             bool suspected)
{
    struct target *t = find(s, uid, container);
    if (!t)
        return LW_ENOTFOUND;
    t->suspected = suspected;
    if (!suspected)
        t->pending &= ~(1u << LW_SCRAPE_GOROUTINE2);
    return LW_OK;
}

int lw_scraper_set_goid_cut(struct lw_scraper *s, const char *uid, const char *container,
                            int64_t cut)
{
    struct target *t = find(s, uid, container);
    if (!t)
        return LW_ENOTFOUND;
    t->goid_cut = cut > 0 ? cut : 0;
    return LW_OK;
}

int lw_scraper_restarted(struct lw_scraper *s, const char *uid, const char *container)
{
    struct target *t = find(s, uid, container);
    if (!t)
        return LW_ENOTFOUND;
    t->goid_cut = 0; /* goroutine ids start over */
    t->st.leak_probe = LW_LEAK_UNKNOWN;
    t->st.leak_absent_at = 0;
    t->have_leak = false;
    t->st.cycles = 0; /* the new process gets its heap on the next cycle */
    return LW_OK;
}

int lw_scraper_scrape_now(struct lw_scraper *s, const char *uid, const char *container)
{
    struct target *t = find(s, uid, container);
    if (!t)
        return LW_ENOTFOUND;
    arm(s, t, next_delay(s, t));
    cycle(s, t);
    return LW_OK;
}

size_t lw_scraper_count(const struct lw_scraper *s) { return s->ntargets; }

int lw_scraper_target_stats(const struct lw_scraper *s, const char *uid, const char *container,
                            struct lw_scrape_target_stats *st)
{
    struct target *t = find(s, uid, container);
    if (!t)
        return LW_ENOTFOUND;
    *st = t->st;
    return LW_OK;
}

void lw_scraper_get_stats(const struct lw_scraper *s, struct lw_scraper_stats *st)
{
    *st = s->st;
    st->targets = s->ntargets;
    st->in_flight = s->in_flight;
    st->queued = s->nqueued;
}
