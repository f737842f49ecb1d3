/* SPDX-License-Identifier: Apache-2.0 */
/*
 * memsignal.c: the container working set, the number the kubelet evicts on
 * and close to what the OOM killer compares with memory.max
 * (kubernetes-api.md §7), from its two sources:
 *   - the kubelet's /metrics/resource (Prometheus text), metric
 *     container_memory_working_set_bytes{container,pod,namespace}, with a
 *     millisecond timestamp per sample; fetched directly from the node's
 *     kubelet in DaemonSet mode (needs only nodes/metrics);
 *   - metrics.k8s.io PodMetrics JSON, containers[].usage.memory (a quantity),
 *     coarser (metrics-server scrapes every 60 s) but cluster-wide.
 * Both become struct lw_ws_sample rows; the controller picks the best source
 * per pod and says which (enum lw_ws_source).
 */
#include "scraper/scraper.h"
#include "quantity/quantity.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *lw_ws_source_name(enum lw_ws_source s)
{
    switch (s) {
    case LW_WS_KUBELET: return "kubelet";
    case LW_WS_METRICS_API: return "metrics.k8s.io";
    }
    return "?";
}

void lw_ws_list_release(struct lw_ws_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
    free(l->slots);
    l->slots = NULL;
    l->nslots = l->indexed = 0;
}

static uint64_t ws_hash(const char *ns, const char *pod, const char *container)
{
    uint64_t h = lw_fnv1a(LW_FNV_INIT, ns, strlen(ns) + 1);
    h = lw_fnv1a(h, pod, strlen(pod) + 1);
    return lw_fnv1a(h, container, strlen(container) + 1);
}

int lw_ws_list_index(struct lw_ws_list *l)
{
    free(l->slots);
    l->slots = NULL;
    l->nslots = l->indexed = 0;
    if (l->n == 0 || l->n >= UINT32_MAX / 4)
        return LW_OK;
    size_t ns = 16;
    while (ns < 2 * l->n)
        ns *= 2;
    l->slots = calloc(ns, sizeof(*l->slots));
    if (!l->slots)
        return LW_ENOMEM;
    l->nslots = ns;
    for (size_t i = 0; i < l->n; i++) {
        const struct lw_ws_sample *s = &l->v[i];
        size_t j = (size_t)ws_hash(s->ns, s->pod, s->container) & (ns - 1);
        while (l->slots[j])
            j = (j + 1) & (ns - 1);
        l->slots[j] = (uint32_t)(i + 1);
    }
    l->indexed = l->n;
    return LW_OK;
}

const struct lw_ws_sample *lw_ws_find(const struct lw_ws_list *l, const char *ns, const char *pod,
                                      const char *container)
{
    if (l->slots && l->indexed == l->n) {
        /* the first match in list order, as the linear scan would find */
        const struct lw_ws_sample *best = NULL;
        size_t j = (size_t)ws_hash(ns, pod, container) & (l->nslots - 1);
        for (; l->slots[j]; j = (j + 1) & (l->nslots - 1)) {
            const struct lw_ws_sample *s = &l->v[l->slots[j] - 1];
            if (strcmp(s->ns, ns) == 0 && strcmp(s->pod, pod) == 0 &&
                strcmp(s->container, container) == 0 && (!best || s < best))
                best = s;
        }
        return best;
    }
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].ns, ns) == 0 && strcmp(l->v[i].pod, pod) == 0 &&
            strcmp(l->v[i].container, container) == 0)
            return &l->v[i];
    return NULL;
}

static int copy_field(char *dst, size_t dstlen, const char *src, const char *what,
                      struct lw_errbuf *eb)
{
    size_t n = strnlen(src, dstlen);
    if (n >= dstlen)
        return lw_errf(eb, LW_EINVAL, "%s longer than %zu bytes", what, dstlen - 1);
    memcpy(dst, src, n + 1);
    return LW_OK;
}

static int ws_push(struct lw_ws_list *l, const char *ns, const char *pod, const char *container,
                   double bytes, double t, enum lw_ws_source src, struct lw_errbuf *eb)
{
    size_t max = l->max ? l->max : 100000;
    if (l->n >= max)
        return lw_errf(eb, LW_ETOOBIG, "more than %zu working-set samples", max);
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 32;
        struct lw_ws_sample *v = realloc(l->v, nc * sizeof(*v));
        if (!v)
            return lw_errf(eb, LW_ENOMEM, "out of memory");
        l->v = v;
        l->cap = nc;
    }
    struct lw_ws_sample *s = &l->v[l->n];
    memset(s, 0, sizeof(*s));
    int rc;
    if ((rc = copy_field(s->ns, sizeof(s->ns), ns, "namespace", eb)) != LW_OK ||
        (rc = copy_field(s->pod, sizeof(s->pod), pod, "pod name", eb)) != LW_OK ||
        (rc = copy_field(s->container, sizeof(s->container), container, "container name", eb)) !=
            LW_OK)
        return rc;
    s->bytes = bytes;
    s->t = t;
    s->source = src;
    l->n++;
    return LW_OK;
}

/* ---- kubelet /metrics/resource ------------------------------------------------- */

struct kctx {
    struct lw_ws_list *out;
    struct lw_errbuf *eb;
    int err;
};

static int on_kubelet_sample(void *ud, const struct lw_prom_sample *s)
{
    struct kctx *k = ud;
    if (strcmp(s->name, "container_memory_working_set_bytes") != 0)
        return 0;
    const char *ns = lw_prom_label(s, "namespace");
    const char *pod = lw_prom_label(s, "pod");
    const char *ctr = lw_prom_label(s, "container");
    if (!ns || !pod || !ctr || !ns[0] || !pod[0] || !ctr[0])
        return 0; /* not a container row */
    if (isnan(s->value) || s->value < 0 || isinf(s->value))
        return 0;
    struct lw_errbuf e = {""};
    int rc = ws_push(k->out, ns, pod, ctr, s->value, s->has_ts ? (double)s->ts_ms / 1000.0 : 0,
                     LW_WS_KUBELET, &e);
    if (rc != LW_OK) {
        lw_errf(k->eb, rc, "line %zu: %s", s->line, e.msg);
        k->err = rc;
        return rc;
    }
    return 0;
}

int lw_ws_from_kubelet(const char *data, size_t len, struct lw_ws_list *out, struct lw_errbuf *eb)
{
    struct kctx k = {out, eb, LW_OK};
    struct lw_errbuf pe = {""};
    int rc = lw_promtext_parse(data, len, NULL, on_kubelet_sample, &k, &pe);
    if (rc != LW_OK && k.err == LW_OK)
        lw_errf(eb, rc, "kubelet /metrics/resource: %s", pe.msg);
    return rc;
}

/* ---- metrics.k8s.io PodMetrics ---------------------------------------------------- */

/* RFC 3339 "2026-11-26T19:30:00Z" / "...00.123+02:00" -> unix seconds; -1 on junk. */
static double parse_rfc3339(const char *s)
{
    int Y, M, D, h, m, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6 || n < 19)
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || Y < 1970)
        return -1;
    const char *p = s + n;
    double frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return -1;
        while (*p >= '0' && *p <= '9') {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
            return -1;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    return (double)t - (double)off + frac;
}

static int one_podmetrics(const cJSON *pm, struct lw_ws_list *out, struct lw_errbuf *eb)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(pm, "metadata");
    const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
    if (!ns || !name)
        return lw_errf(eb, LW_EFORMAT, "PodMetrics without metadata.namespace/name");
    const char *ts = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pm, "timestamp"));
    double t = ts ? parse_rfc3339(ts) : 0;
    if (t < 0)
        return lw_errf(eb, LW_EFORMAT, "PodMetrics %s/%s: timestamp is not RFC 3339", ns, name);
    const cJSON *ctrs = cJSON_GetObjectItemCaseSensitive(pm, "containers");
    if (ctrs && !cJSON_IsArray(ctrs))
        return lw_errf(eb, LW_EFORMAT, "PodMetrics %s/%s: containers is not an array", ns, name);
    const cJSON *c;
    cJSON_ArrayForEach(c, ctrs)
    {
        const char *cn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name"));
        const cJSON *usage = cJSON_GetObjectItemCaseSensitive(c, "usage");
        const char *mem = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(usage, "memory"));
        if (!cn || !mem)
            return lw_errf(eb, LW_EFORMAT,
                           "PodMetrics %s/%s: a container without name or usage.memory", ns, name);
        int64_t bytes = 0;
        struct lw_errbuf qe = {""};
        int rc = lw_quantity_parse(mem, &bytes, &qe);
        if (rc != LW_OK)
            return lw_errf(eb, rc, "PodMetrics %s/%s container %s: usage.memory: %s", ns, name,
                           cn, qe.msg);
        struct lw_errbuf pe = {""};
        rc = ws_push(out, ns, name, cn, (double)bytes, t, LW_WS_METRICS_API, &pe);
        if (rc != LW_OK)
            return lw_errf(eb, rc, "PodMetrics %s/%s: %s", ns, name, pe.msg);
    }
    return LW_OK;
}

int lw_ws_from_podmetrics(const char *json, size_t len, struct lw_ws_list *out,
                          struct lw_errbuf *eb)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return lw_errf(eb, LW_EFORMAT, "PodMetrics: not valid JSON");
    int rc = LW_OK;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    if (!cJSON_IsObject(root)) {
        rc = lw_errf(eb, LW_EFORMAT, "PodMetrics: expected a JSON object");
    } else if (items) {
        if (!cJSON_IsArray(items)) {
            rc = lw_errf(eb, LW_EFORMAT, "PodMetricsList: items is not an array");
        } else {
            const cJSON *it;
            cJSON_ArrayForEach(it, items)
            {
                if ((rc = one_podmetrics(it, out, eb)) != LW_OK)
                    break;
            }
        }
    } else {
        rc = one_podmetrics(root, out, eb);
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- kubelet fetch over the loop ----------------------------------------------------- */

struct lw_kubelet_req {
    struct lw_loop *loop;
    CURL *easy;
    struct curl_slist *headers;
    struct lw_buf body;
    bool too_big;
    lw_kubelet_cb cb;
    void *ud;
    char url[1024];
    char curlerr[CURL_ERROR_SIZE];
};

static void kreq_free(struct lw_kubelet_req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    lw_buf_release(&r->body);
    free(r);
}

static size_t k_on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct lw_kubelet_req *r = ud;
    if (lw_buf_append(&r->body, p, size * nmemb) != LW_OK) {
        r->too_big = true;
        return 0;
    }
    return size * nmemb;
}

static void k_done(struct lw_loop *loop, CURL *easy, CURLcode rc, void *ud)
{
    struct lw_kubelet_req *r = ud;
    struct lw_ws_list l;
    memset(&l, 0, sizeof(l));
    struct lw_errbuf eb = {""};
    long status = 0;
    int err = LW_OK;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        err = lw_errf(&eb, LW_ETOOBIG, "%s: response larger than %zu bytes", r->url, r->body.max);
    } else if (rc != CURLE_OK) {
        err = lw_errf(&eb, LW_ENET, "%s: %s", r->url,
                      r->curlerr[0] ? r->curlerr : curl_easy_strerror(rc));
    } else if (status != 200) {
        char first[120];
        size_t k = 0;
        for (size_t i = 0; i < r->body.len && k + 1 < sizeof(first); i++) {
            unsigned char c = (unsigned char)r->body.data[i];
            if (c == '\n')
                break;
            first[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        }
        first[k] = '\0';
        err = lw_errf(&eb, LW_EHTTP, "%s: HTTP %ld%s%s%s", r->url, status, k ? ": " : "", first,
                      status == 401 || status == 403
                          ? " (the service account needs get on nodes/metrics)"
                          : "");
    } else {
        err = lw_ws_from_kubelet(r->body.data ? r->body.data : "", r->body.len, &l, &eb);
    }
    r->cb(&l, err, status, eb.msg, r->ud);
    lw_ws_list_release(&l);
    kreq_free(r);
}

int lw_kubelet_fetch(struct lw_loop *loop, const struct lw_kubelet_opts *o, lw_kubelet_cb cb,
                     void *ud, struct lw_kubelet_req **out, struct lw_errbuf *eb)
{
    if (out)
        *out = NULL;
    if (!o->url || (strncmp(o->url, "https://", 8) != 0 && strncmp(o->url, "http://", 7) != 0))
        return lw_errf(eb, LW_EINVAL, "kubelet URL must be http(s)://");
    for (const char *p = o->url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return lw_errf(eb, LW_EINVAL, "kubelet URL contains a space or control character");
    struct lw_kubelet_req *r = calloc(1, sizeof(*r));
    if (!r)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    if (strlen(o->url) >= sizeof(r->url)) {
        free(r);
        return lw_errf(eb, LW_EINVAL, "kubelet URL too long");
    }
    strcpy(r->url, o->url);
    r->loop = loop;
    r->cb = cb;
    r->ud = ud;
    lw_buf_init(&r->body, o->max_body ? o->max_body : (16u << 20));
    if (o->token) {
        char tok[8192];
        int rc = o->token(o->token_ud, tok, sizeof(tok), eb);
        if (rc != LW_OK) {
            kreq_free(r);
            return rc;
        }
        for (const char *p = tok; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                kreq_free(r);
                return lw_errf(eb, LW_EINVAL, "bearer token contains a control character");
            }
        char h[8300];
        snprintf(h, sizeof(h), "Authorization: Bearer %s", tok);
        memset(tok, 0, sizeof(tok));
        r->headers = curl_slist_append(NULL, h);
        memset(h, 0, sizeof(h));
        if (!r->headers) {
            kreq_free(r);
            return lw_errf(eb, LW_ENOMEM, "out of memory");
        }
    }
    r->easy = curl_easy_init();
    if (!r->easy) {
        kreq_free(r);
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    }
    CURL *c = r->easy;
    double timeout = o->timeout > 0 ? o->timeout : 10;
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
    /* a Content-Encoding is passed through as is: the size cap counts wire
     * bytes, so a compressed bomb cannot expand behind it */
    curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(LW_MIN(timeout, 5.0) * 1000));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->body.max);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, k_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curlerr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "leakwatch/0.1 (memsignal)");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->tls_verify ? 2L : 0L);
    if (o->tls_verify && o->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file);
    if (r->headers)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
    int rc = lw_loop_http_add(loop, c, k_done, r, eb);
    if (rc != LW_OK) {
        kreq_free(r);
        return rc;
    }
    if (out)
        *out = r;
    return LW_OK;
}

void lw_kubelet_cancel(struct lw_kubelet_req *r)
{
    if (!r)
        return;
    lw_loop_http_discard(r->loop, r->easy); /* also frees the easy handle */
    r->easy = NULL;
    kreq_free(r);
}
