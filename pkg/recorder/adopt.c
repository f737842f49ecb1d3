/* SPDX-License-Identifier: Apache-2.0 */
/*
 * adopt.c: how a new leader (or a restarted controller) takes over the
 * Events leakwatch already wrote, so that its findings update their series
 * instead of creating a second Event for the same pod and reason (issue 4
 * point 2): parsing an Event of ours back into what the recorder keys a
 * series by (pod uid, reason, note class from the leakwatch.io/class
 * annotation), and listing them (core/v1, one store for both Event APIs,
 * fieldSelector reportingComponent, paged) before handing them to
 * lw_recorder_adopt() in order of their last observation. docs/events.md.
 */
#include "recorder/recorder.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADOPT_PAGE 500
#define ADOPT_MAX 5000
#define ADOPT_PAGES 40

/* ---- parsing ------------------------------------------------------------------------ */

static int num(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

/* RFC 3339 / MicroTime in UTC ("Z" or an offset) to unix seconds; -1 if not. */
static double parse_time(const cJSON *j)
{
    const char *s = cJSON_GetStringValue(j);
    int Y, M, D, h, m, sec;
    if (!s || num(&s, 4, &Y) || *s++ != '-' || num(&s, 2, &M) || *s++ != '-' || num(&s, 2, &D) ||
        (*s != 'T' && *s != 't') || !*s++ || num(&s, 2, &h) || *s++ != ':' || num(&s, 2, &m) ||
        *s++ != ':' || num(&s, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    double frac = 0, scale = 0.1;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        for (; isdigit((unsigned char)*s); s++, scale /= 10)
            frac += (*s - '0') * scale;
    }
    int off = 0, oh, om;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1;
        if (num(&s, 2, &oh) || *s++ != ':' || num(&s, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*s)
        return -1;
    /* days from civil (proleptic Gregorian) */
    int y = M <= 2 ? Y - 1 : Y;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * ((M + 9) % 12) + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    double days = (double)era * 146097 + doe - 719468;
    return days * 86400.0 + h * 3600 + m * 60 + sec + frac - off;
}

static const char *str_of(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int copy_str(char *dst, size_t n, const char *s)
{
    if (!s || !*s || strlen(s) >= n)
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

int lw_rec_adopted_parse(const cJSON *ev, struct lw_rec_adopted *a)
{
    memset(a, 0, sizeof(*a));
    if (!cJSON_IsObject(ev))
        return LW_EINVAL;
    /* ours: reportingController (events.k8s.io), reportingComponent or
     * source.component (core/v1) */
    const char *ctl = str_of(ev, "reportingController");
    if (!ctl || !*ctl)
        ctl = str_of(ev, "reportingComponent");
    if (!ctl || !*ctl)
        ctl = str_of(cJSON_GetObjectItemCaseSensitive(ev, "source"), "component");
    if (!ctl || strcmp(ctl, LW_REC_CONTROLLER) != 0)
        return LW_EINVAL;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(ev, "regarding");
    if (!cJSON_IsObject(ref))
        ref = cJSON_GetObjectItemCaseSensitive(ev, "involvedObject");
    const char *kind = str_of(ref, "kind");
    if (!kind || strcmp(kind, "Pod") != 0 || copy_str(a->ns, sizeof(a->ns), str_of(ref, "namespace")) ||
        copy_str(a->pod, sizeof(a->pod), str_of(ref, "name")) ||
        copy_str(a->uid, sizeof(a->uid), str_of(ref, "uid")))
        return LW_EINVAL;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(ev, "metadata");
    const char *name = str_of(md, "name");
    if (!name || !lw_rec_is_dns_subdomain(name) || copy_str(a->name, sizeof(a->name), name))
        return LW_EINVAL;
    const char *ns = str_of(md, "namespace");
    if (ns && *ns && strcmp(ns, a->ns) != 0)
        return LW_EINVAL; /* the series patch goes to the pod's namespace */
    const char *reason = str_of(ev, "reason");
    a->reason = LW_REASON__COUNT;
    for (int i = 0; reason && i < LW_REASON__COUNT; i++)
        if (strcmp(reason, lw_rec_reason_name((enum lw_rec_reason)i)) == 0)
            a->reason = (enum lw_rec_reason)i;
    if (a->reason == LW_REASON__COUNT)
        return LW_EINVAL;
    const char *ch = str_of(cJSON_GetObjectItemCaseSensitive(md, "annotations"), LW_REC_ANN_CLASS);
    if (ch) {
        char *end = NULL;
        if (strlen(ch) != 16)
            return LW_EINVAL;
        unsigned long long v = strtoull(ch, &end, 16);
        if (!end || *end)
            return LW_EINVAL;
        a->class_hash = (uint64_t)v;
    } else if (a->reason == LW_REASON_GOROUTINE_LEAK || a->reason == LW_REASON_MEMORY_LEAK ||
               a->reason == LW_REASON_OOMKILLED) {
        return LW_EINVAL; /* keyed by a class we cannot know */
    } else {
        a->class_hash = lw_rec_class_hash(NULL);
    }
    /* new-style (eventTime; series) or legacy (first/lastTimestamp; count) */
    double et = parse_time(cJSON_GetObjectItemCaseSensitive(ev, "eventTime"));
    const cJSON *series = cJSON_GetObjectItemCaseSensitive(ev, "series");
    if (et >= 0) {
        a->core = 0;
        a->first = a->last = et;
        a->count = 1;
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(series, "count");
        double sl = parse_time(cJSON_GetObjectItemCaseSensitive(series, "lastObservedTime"));
        if (cJSON_IsNumber(sc) && sc->valuedouble >= 2 && sl >= 0) {
            a->count = sc->valuedouble > 1e9 ? 1000000000 : (int)sc->valuedouble;
            a->last = sl;
        }
    } else {
        a->core = 1;
        const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(ev, "count");
        if (!cJSON_IsNumber(cnt))
            cnt = cJSON_GetObjectItemCaseSensitive(ev, "deprecatedCount");
        double ft = parse_time(cJSON_GetObjectItemCaseSensitive(ev, "firstTimestamp"));
        if (ft < 0)
            ft = parse_time(cJSON_GetObjectItemCaseSensitive(ev, "deprecatedFirstTimestamp"));
        double lt = parse_time(cJSON_GetObjectItemCaseSensitive(ev, "lastTimestamp"));
        if (lt < 0)
            lt = parse_time(cJSON_GetObjectItemCaseSensitive(ev, "deprecatedLastTimestamp"));
        if (ft < 0 && lt < 0)
            return LW_EINVAL;
        a->first = ft >= 0 ? ft : lt;
        a->last = lt >= a->first ? lt : a->first;
        a->count = cJSON_IsNumber(cnt) && cnt->valuedouble >= 1
                       ? (cnt->valuedouble > 1e9 ? 1000000000 : (int)cnt->valuedouble)
                       : 1;
    }
    if (!isfinite(a->first) || !isfinite(a->last) || a->last < a->first)
        return LW_EINVAL;
    return LW_OK;
}

/* ---- listing -------------------------------------------------------------------------- */

struct lw_rec_adopter {
    struct lw_recorder *r;
    struct lw_kube *k;
    struct lw_rec_adopt_opts o;
    struct lw_kube_req *req;
    struct lw_rec_adopter **out;
    bool selector;                 /* fieldSelector sent (dropped after a 400) */
    size_t pages, listed;
    char *cont;                    /* continue token of the next page */
    struct lw_rec_adopted *v;      /* kept: the newest o.max_events */
    size_t n, cap;
};

static void on_page(struct lw_kube *k, struct lw_kube_result *res, void *ud);

static int request_page(struct lw_rec_adopter *a, struct lw_errbuf *eb)
{
    struct lw_buf path = LW_BUF_INIT(8192);
    int rc = lw_buf_appendf(&path, "/api/v1/events?limit=%zu", a->o.page);
    if (rc == LW_OK && a->selector) {
        rc = lw_buf_appendf(&path, "&fieldSelector=");
        if (rc == LW_OK)
            rc = lw_kube_urlencode(&path, "reportingComponent=" LW_REC_CONTROLLER);
    }
    if (rc == LW_OK && a->cont) {
        rc = lw_buf_appendf(&path, "&continue=");
        if (rc == LW_OK)
            rc = lw_kube_urlencode(&path, a->cont);
    }
    struct lw_kube_req_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.timeout = a->o.timeout;
    if (rc == LW_OK)
        rc = lw_kube_request(a->k, LW_KUBE_GET, path.data, NULL, &ro, on_page, a, &a->req, eb);
    else
        lw_errf(eb, rc, "adopt: out of memory");
    lw_buf_release(&path);
    if (rc != LW_OK)
        a->req = NULL;
    return rc;
}

static int by_last(const void *x, const void *y)
{
    const struct lw_rec_adopted *a = x, *b = y;
    if (a->last != b->last)
        return a->last < b->last ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Keep the newest max_events: when full, the oldest kept one gives way. */
static void keep_one(struct lw_rec_adopter *a, const struct lw_rec_adopted *x)
{
    if (a->n == a->o.max_events) {
        size_t old = 0;
        for (size_t i = 1; i < a->n; i++)
            if (a->v[i].last < a->v[old].last)
                old = i;
        if (a->v[old].last < x->last)
            a->v[old] = *x;
        return;
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        if (nc > a->o.max_events)
            nc = a->o.max_events;
        struct lw_rec_adopted *nv = realloc(a->v, nc * sizeof(*nv));
        if (!nv)
            return; /* out of memory: fewer adopted */
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = *x;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void finish(struct lw_rec_adopter *a, int err, const char *msg)
{
    size_t adopted = 0;
    if (a->n) {
        qsort(a->v, a->n, sizeof(*a->v), by_last);
        double now = wall_now();
        for (size_t i = 0; i < a->n; i++)
            if (lw_recorder_adopt(a->r, &a->v[i], now) == 1)
                adopted++;
    }
    if (a->out)
        *a->out = NULL;
    struct lw_rec_adopt_opts o = a->o;
    size_t listed = a->listed;
    free(a->v);
    free(a->cont);
    free(a);
    if (o.done)
        o.done(o.ud, err, adopted, listed, msg ? msg : "");
}

static void on_page(struct lw_kube *k, struct lw_kube_result *res, void *ud)
{
    (void)k;
    struct lw_rec_adopter *a = ud;
    a->req = NULL;
    if (res->err != LW_OK) {
        if (a->selector && res->status == 400 && a->pages == 0) {
            /* the selector is refused: list all Events, filter here */
            a->selector = false;
            struct lw_errbuf eb;
            if (request_page(a, &eb) == LW_OK)
                return;
            finish(a, LW_EINVAL, eb.msg);
            return;
        }
        finish(a, res->err, res->errmsg);
        return;
    }
    a->pages++;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(res->body, "items"))
    {
        struct lw_rec_adopted x;
        if (lw_rec_adopted_parse(it, &x) != LW_OK)
            continue;
        a->listed++;
        if (a->o.keep && !a->o.keep(a->o.ud, x.uid))
            continue;
        keep_one(a, &x);
    }
    const char *cont = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(res->body, "metadata"), "continue"));
    free(a->cont);
    a->cont = cont && *cont && strlen(cont) < 4096 ? strdup(cont) : NULL;
    if (!a->cont) {
        finish(a, LW_OK, NULL);
        return;
    }
    if (a->pages >= a->o.max_pages) {
        finish(a, LW_ETRUNC, "adopt: page limit reached");
        return;
    }
    struct lw_errbuf eb;
    if (request_page(a, &eb) != LW_OK)
        finish(a, LW_ENOMEM, eb.msg);
}

int lw_recorder_adopt_start(struct lw_recorder *r, struct lw_kube *k,
                            const struct lw_rec_adopt_opts *o, struct lw_rec_adopter **out,
                            struct lw_errbuf *eb)
{
    if (out)
        *out = NULL;
    if (!r || !k)
        return lw_errf(eb, LW_EINVAL, "adopt: no recorder or client");
    struct lw_rec_adopter *a = calloc(1, sizeof(*a));
    if (!a)
        return lw_errf(eb, LW_ENOMEM, "adopt: out of memory");
    a->r = r;
    a->k = k;
    if (o)
        a->o = *o;
    if (a->o.page == 0)
        a->o.page = ADOPT_PAGE;
    if (a->o.max_events == 0)
        a->o.max_events = ADOPT_MAX;
    if (a->o.max_pages == 0)
        a->o.max_pages = ADOPT_PAGES;
    a->selector = true;
    int rc = request_page(a, eb);
    if (rc != LW_OK) {
        free(a);
        return rc;
    }
    a->out = out;
    if (out)
        *out = a;
    return LW_OK;
}

void lw_rec_adopter_cancel(struct lw_rec_adopter *a)
{
    if (!a)
        return;
    if (a->req)
        lw_kube_cancel(a->k, a->req);
    if (a->out)
        *a->out = NULL;
    free(a->v);
    free(a->cont);
    free(a);
}
