/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build.c: the recorder's pure builders (no I/O): UTF-8 cleaning and cutting,
 * MicroTime, event names and reporting instances, Event bodies in both API
 * versions, series patches, one-line notes, the per-pod state machine and the
 * annotation merge patch. Everything the API server validates is produced
 * here, so tests can check it without a server (recorder.h has the contract).
 */
#include "recorder/recorder.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- UTF-8 --------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned min, cp;
    if ((c & 0xE0) == 0xC0) {
        len = 2, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

int lw_rec_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

size_t lw_rec_utf8_clean(char *dst, size_t dstsize, const char *src, size_t maxbytes)
{
    static const char ell[] = "\xe2\x80\xa6"; /* … */
    if (!dstsize)
        return 0;
    if (maxbytes > dstsize - 1)
        maxbytes = dstsize - 1;
    if (!src)
        src = "";
    const unsigned char *p = (const unsigned char *)src;
    size_t n = strlen(src), i = 0, o = 0;
    int cut = 0;
    while (i < n) {
        size_t l = utf8_seq(p + i, n - i);
        const char *piece;
        char one;
        size_t pl;
        if (!l) {
            one = '?', piece = &one, pl = 1, l = 1;
        } else if (l == 1 && (p[i] < 0x20 || p[i] == 0x7F)) {
            one = ' ', piece = &one, pl = 1;
        } else {
            piece = (const char *)p + i, pl = l;
        }
        if (o + pl > maxbytes) {
            cut = 1;
            break;
        }
        memcpy(dst + o, piece, pl);
        o += pl;
        i += l;
    }
    if (cut && maxbytes >= 3) {
        /* back off whole characters until the ellipsis fits */
        while (o + 3 > maxbytes) {
            /* drop the last whole character */
            size_t b = o - 1;
            while (b > 0 && ((unsigned char)dst[b] & 0xC0) == 0x80)
                b--;
            o = b;
        }
        memcpy(dst + o, ell, 3);
        o += 3;
    }
    dst[o] = '\0';
    return o;
}

/* ---- times and names -------------------------------------------------------------- */

const char *lw_rec_microtime(double t, char *out, size_t outlen)
{
    if (!isfinite(t) || t < 0)
        t = 0;
    double sec = floor(t);
    long long us = llround((t - sec) * 1e6);
    time_t s = (time_t)sec;
    if (us >= 1000000) {
        s++;
        us -= 1000000;
    }
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[40];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%06lldZ", base, us);
    return out;
}

static int dns_label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int lw_rec_is_dns_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (i == start || !alnum_lower(s[start]) || !alnum_lower(s[i - 1]))
                return 0;
            start = i + 1;
        } else if (!dns_label_char(s[i])) {
            return 0;
        }
    }
    return 1;
}

void lw_rec_event_name(const char *pod, uint64_t unix_nano, char *out, size_t outlen)
{
    char hex[24];
    int hl = snprintf(hex, sizeof(hex), "%llx", (unsigned long long)unix_nano);
    char name[LW_REC_NAME_MAX + 1];
    size_t room = LW_REC_NAME_MAX - 1 - (size_t)hl; /* pod part */
    size_t n = pod ? strlen(pod) : 0;
    if (n > room)
        n = room;
    memcpy(name, pod ? pod : "", n);
    /* the pod part must end a label properly */
    while (n > 0 && !alnum_lower(name[n - 1]))
        n--;
    snprintf(name + n, sizeof(name) - n, ".%s", hex);
    if (n == 0 || !lw_rec_is_dns_subdomain(name))
        snprintf(name, sizeof(name), "leakwatch.%s", hex);
    snprintf(out, outlen, "%s", name);
}

void lw_rec_reporting_instance(const char *id, char *out, size_t outlen)
{
    char host[256] = "";
    if (!id || !*id) {
        if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
            snprintf(host, sizeof(host), "unknown");
        host[sizeof(host) - 1] = '\0';
        id = host;
    }
    char raw[512];
    snprintf(raw, sizeof(raw), "leakwatch-%s", id);
    char clean[LW_REC_INSTANCE_MAX + 1];
    /* no ellipsis here: an identifier, cut plainly on a character boundary */
    size_t n = lw_rec_utf8_clean(clean, sizeof(clean), raw, sizeof(raw));
    if (n > LW_REC_INSTANCE_MAX) {
        n = LW_REC_INSTANCE_MAX;
        while (n > 0 && ((unsigned char)clean[n] & 0xC0) == 0x80)
            n--;
        clean[n] = '\0';
    }
    snprintf(out, outlen, "%s", clean);
}

const char *lw_rec_fmt_duration(double s, char *out, size_t outlen)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long long m = llround(s / 60.0);
    if (s < 60)
        snprintf(out, outlen, "%llds", (long long)llround(s));
    else if (m < 60)
        snprintf(out, outlen, "%lldm", m);
    else if (m < 24 * 60)
        snprintf(out, outlen, m % 60 ? "%lldh%lldm" : "%lldh", m / 60, m % 60);
    else if (m / 60 < 24 * 100)
        snprintf(out, outlen, (m / 60) % 24 ? "%lldd%lldh" : "%lldd", m / 1440, (m / 60) % 24);
    else
        snprintf(out, outlen, "%lldd", m / 1440);
    return out;
}

/* ---- reasons ------------------------------------------------------------------------ */

static const struct {
    const char *name, *type, *action;
} reasons[LW_REASON__COUNT] = {
    [LW_REASON_GOROUTINE_LEAK] = {"GoroutineLeak", "Warning", "Analyze"},
    [LW_REASON_MEMORY_LEAK] = {"MemoryLeak", "Warning", "Analyze"},
    [LW_REASON_OOM_PREDICTED] = {"OOMKillPredicted", "Warning", "Predict"},
    [LW_REASON_LEAK_RESOLVED] = {"LeakResolved", "Normal", "Analyze"},
    [LW_REASON_OOMKILLED] = {"OOMKilled", "Warning", "PostMortem"},
    [LW_REASON_SCRAPE_FAILED] = {"ScrapeFailed", "Warning", "Scrape"},
};

const char *lw_rec_reason_name(enum lw_rec_reason r)
{
    return (unsigned)r < LW_REASON__COUNT ? reasons[r].name : "Unknown";
}
const char *lw_rec_reason_type(enum lw_rec_reason r)
{
    return (unsigned)r < LW_REASON__COUNT ? reasons[r].type : "Warning";
}
const char *lw_rec_reason_action(enum lw_rec_reason r)
{
    return (unsigned)r < LW_REASON__COUNT ? reasons[r].action : "Analyze";
}

/* ---- Event bodies ---------------------------------------------------------------------- */

static cJSON *add_str(cJSON *o, const char *k, const char *v)
{
    return cJSON_AddStringToObject(o, k, v);
}

cJSON *lw_rec_event_build(const struct lw_event_spec *s, int core, struct lw_errbuf *eb)
{
    if (!s->pod.ns || !lw_rec_is_dns_subdomain(s->pod.ns) || !s->pod.name || !*s->pod.name ||
        !s->pod.uid || !*s->pod.uid || strlen(s->pod.name) > 253 || strlen(s->pod.uid) > 128) {
        lw_errf(eb, LW_EINVAL, "event for pod %.60s/%.60s: namespace, name and uid are required",
                s->pod.ns ? s->pod.ns : "", s->pod.name ? s->pod.name : "");
        return NULL;
    }
    char name[LW_REC_NAME_MAX + 1], note[LW_REC_NOTE_MAX + 1], inst[LW_REC_INSTANCE_MAX + 1];
    char now[40], last[40];
    uint64_t nano = s->name_nano ? s->name_nano : (uint64_t)(s->t * 1e9);
    lw_rec_event_name(s->pod.name, nano, name, sizeof(name));
    lw_rec_utf8_clean(note, sizeof(note), s->note, LW_REC_NOTE_MAX);
    if (s->instance && *s->instance)
        lw_rec_utf8_clean(inst, sizeof(inst), s->instance, LW_REC_INSTANCE_MAX);
    else
        lw_rec_reporting_instance(NULL, inst, sizeof(inst));
    lw_rec_microtime(s->t, now, sizeof(now));

    cJSON *e = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(e, "metadata");
    cJSON *ref = cJSON_CreateObject();
    if (!e || !md || !ref) {
        cJSON_Delete(e);
        cJSON_Delete(ref);
        lw_errf(eb, LW_ENOMEM, "out of memory");
        return NULL;
    }
    add_str(md, "name", name);
    add_str(md, "namespace", s->pod.ns);
    if (s->class_hash) { /* for adoption by a later leader (adopt.c) */
        char ch[24];
        snprintf(ch, sizeof(ch), "%016llx", (unsigned long long)s->class_hash);
        cJSON *ann = cJSON_AddObjectToObject(md, "annotations");
        if (ann)
            add_str(ann, LW_REC_ANN_CLASS, ch);
    }
    add_str(ref, "apiVersion", "v1");
    add_str(ref, "kind", "Pod");
    add_str(ref, "namespace", s->pod.ns);
    add_str(ref, "name", s->pod.name);
    add_str(ref, "uid", s->pod.uid);
    const char *reason = lw_rec_reason_name(s->reason);
    const char *type = lw_rec_reason_type(s->reason);
    const char *action = lw_rec_reason_action(s->reason);
    if (!core) {
        add_str(e, "apiVersion", "events.k8s.io/v1");
        add_str(e, "kind", "Event");
        add_str(e, "eventTime", now);
        add_str(e, "type", type);
        add_str(e, "reason", reason);
        add_str(e, "action", action);
        add_str(e, "reportingController", LW_REC_CONTROLLER);
        add_str(e, "reportingInstance", inst);
        cJSON_AddItemToObject(e, "regarding", ref);
        add_str(e, "note", note);
        if (s->series_count >= 2) {
            cJSON *se = cJSON_AddObjectToObject(e, "series");
            cJSON_AddNumberToObject(se, "count", s->series_count);
            add_str(se, "lastObservedTime", lw_rec_microtime(s->series_last, last, sizeof(last)));
        }
    } else {
        /* the legacy form tools/record writes: no eventTime, count/timestamps */
        add_str(e, "apiVersion", "v1");
        add_str(e, "kind", "Event");
        cJSON_AddItemToObject(e, "involvedObject", ref);
        add_str(e, "reason", reason);
        add_str(e, "message", note);
        add_str(e, "type", type);
        cJSON *src = cJSON_AddObjectToObject(e, "source");
        add_str(src, "component", LW_REC_CONTROLLER);
        add_str(e, "firstTimestamp", lw_fmt_rfc3339(s->t, now, sizeof(now)));
        add_str(e, "lastTimestamp",
                lw_fmt_rfc3339(s->series_count >= 2 ? s->series_last : s->t, last, sizeof(last)));
        cJSON_AddNumberToObject(e, "count", s->series_count >= 2 ? s->series_count : 1);
        add_str(e, "action", action);
        add_str(e, "reportingComponent", LW_REC_CONTROLLER);
        add_str(e, "reportingInstance", inst);
    }
    return e;
}

cJSON *lw_rec_series_patch(int core, int count, double last, const char *note)
{
    char ts[40];
    cJSON *p = cJSON_CreateObject();
    if (!p)
        return NULL;
    if (!core) {
        cJSON *se = cJSON_AddObjectToObject(p, "series");
        cJSON_AddNumberToObject(se, "count", count);
        add_str(se, "lastObservedTime", lw_rec_microtime(last, ts, sizeof(ts)));
    } else {
        char msg[LW_REC_NOTE_MAX + 1];
        lw_rec_utf8_clean(msg, sizeof(msg), note, LW_REC_NOTE_MAX);
        cJSON_AddNumberToObject(p, "count", count);
        add_str(p, "lastTimestamp", lw_fmt_rfc3339(last, ts, sizeof(ts)));
        add_str(p, "message", msg);
    }
    return p;
}

/* ---- notes ------------------------------------------------------------------------------- */

void lw_rec_note_verdict(const struct lw_verdict *v, enum lw_rec_reason r, char *out, size_t outlen)
{
    char raw[2048], d[32], at[40];
    const char *sum = v && v->summary[0] ? v->summary : "no details";
    switch (r) {
    case LW_REASON_OOM_PREDICTED:
        if (v && v->oom.seconds_to_oom > 0 && v->oom.at > 0) {
            /* the GC peaks may get there materially earlier than the level
             * (docs/forecast.md §3.4): say when, as the earliest */
            char e[48] = "", de[32];
            if (v->oom.state == LW_FC_GROWING && v->oom.seconds_env > 0 &&
                v->oom.seconds_env < 0.8 * v->oom.seconds_to_oom)
                snprintf(e, sizeof(e), ", earliest ~%s",
                         lw_rec_fmt_duration(v->oom.seconds_env, de, sizeof(de)));
            snprintf(raw, sizeof(raw), "OOM kill predicted in ~%s (at %s%s, confidence %.2f); %s",
                     lw_rec_fmt_duration(v->oom.seconds_to_oom, d, sizeof(d)),
                     lw_fmt_rfc3339(v->oom.at, at, sizeof(at)), e, v->oom.confidence, sum);
        }
        else
            snprintf(raw, sizeof(raw), "OOM kill predicted; %s", sum);
        break;
    case LW_REASON_LEAK_RESOLVED:
        snprintf(raw, sizeof(raw), "leak resolved: %s", sum);
        break;
    default:
        snprintf(raw, sizeof(raw), "%s", sum);
        break;
    }
    size_t max = outlen ? LW_MIN(outlen - 1, (size_t)LW_REC_NOTE_MAX) : 0;
    lw_rec_utf8_clean(out, outlen, raw, max);
}

void lw_rec_note_oomkilled(const struct lw_postmortem *pm, char *out, size_t outlen)
{
    char raw[2048], d[32], lim[32], g[32];
    size_t n = 0;
#define ADD(...)                                                                     \
    do {                                                                             \
        if (n < sizeof(raw))                                                         \
            n += (size_t)snprintf(raw + n, sizeof(raw) - n, __VA_ARGS__);            \
    } while (0)
    ADD("container %s was OOM-killed", pm->container && *pm->container ? pm->container : "?");
    if (pm->limit_bytes > 0)
        ADD(" at its %s limit", lw_fmt_bytes(pm->limit_bytes, lim, sizeof(lim)));
    if (pm->predicted && pm->predicted_at > 0 && pm->killed_at >= pm->predicted_at) {
        ADD("; predicted %s before", lw_rec_fmt_duration(pm->killed_at - pm->predicted_at, d,
                                                          sizeof(d)));
        if (pm->predicted_oom_at > 0) {
            double err = pm->killed_at - pm->predicted_oom_at;
            ADD(" (the kill came %s %s the forecast time)",
                lw_rec_fmt_duration(fabs(err), lim, sizeof(lim)), err >= 0 ? "after" : "before");
        }
    } else if (pm->predicted) {
        ADD("; it had been predicted");
    } else {
        ADD("; not predicted");
    }
    if (pm->goroutines >= 0)
        ADD("; %s goroutines before death", lw_fmt_thousands(pm->goroutines, g, sizeof(g)));
    if (pm->top_stack && *pm->top_stack)
        ADD("; top stack: %s", pm->top_stack);
#undef ADD
    size_t max = outlen ? LW_MIN(outlen - 1, (size_t)LW_REC_NOTE_MAX) : 0;
    lw_rec_utf8_clean(out, outlen, raw, max);
}

void lw_rec_note_scrape_failed(const char *what, int failures, char *out, size_t outlen)
{
    char raw[1400];
    snprintf(raw, sizeof(raw), "pprof scrape failed %d time%s in a row: %s", failures,
             failures == 1 ? "" : "s", what && *what ? what : "unknown error");
    size_t max = outlen ? LW_MIN(outlen - 1, (size_t)LW_REC_NOTE_MAX) : 0;
    lw_rec_utf8_clean(out, outlen, raw, max);
}

/* ---- state machine ---------------------------------------------------------------------- */

/* Index of the frame that names the stack: for goroutines the root (the
 * goroutine's function, the last frame that is not runtime.*), as the
 * analysis summary's "top:" does; for heap sites the leaf. */
static size_t top_index(const struct lw_top_stack *t)
{
    if (!t->nframes || !t->frames)
        return 0;
    if (t->kind && strcmp(t->kind, "heap") == 0)
        return 0;
    size_t i = t->nframes - 1;
    while (i > 0 && t->frames[i] && strncmp(t->frames[i], "runtime.", 8) == 0)
        i--;
    return i;
}

const char *lw_rec_top_name(const struct lw_top_stack *t)
{
    if (!t)
        return NULL;
    if (t->nframes && t->frames && t->frames[top_index(t)])
        return t->frames[top_index(t)];
    return t->leaf ? t->leaf : t->user_frame;
}

void lw_rec_decide(enum lw_leak_state prev, const struct lw_verdict *v, struct lw_rec_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->next = prev;
    if (!v)
        return;
    switch (v->verdict) {
    case LW_VERDICT_INSUFFICIENT:
        return;
    case LW_VERDICT_NO_LEAK:
        d->next = LW_LEAK_OK;
        if (prev == LW_LEAK_LEAKING || prev == LW_LEAK_OOM)
            d->reasons[d->nreasons++] = LW_REASON_LEAK_RESOLVED;
        return;
    case LW_VERDICT_LEAK:
        break;
    }
    int oom = v->oom.predicted && v->memory.limit_bytes > 0;
    d->next = oom ? LW_LEAK_OOM : LW_LEAK_LEAKING;
    if (oom) {
        d->reasons[d->nreasons++] = LW_REASON_OOM_PREDICTED;
    } else {
        d->reasons[d->nreasons++] =
            (v->kinds & LW_LEAK_GOROUTINE) ? LW_REASON_GOROUTINE_LEAK : LW_REASON_MEMORY_LEAK;
        if (v->ntop > 0 && v->top)
            d->note_class = lw_rec_top_name(&v->top[0]);
    }
}

enum lw_pod_status lw_rec_status(enum lw_leak_state st, bool has_limit, bool scrape_failing,
                                 bool oomkilled)
{
    if (oomkilled)
        return LW_STATUS_OOMKILLED;
    if (st == LW_LEAK_OOM)
        return LW_STATUS_OOM_PREDICTED;
    if (st == LW_LEAK_LEAKING)
        return LW_STATUS_LEAKING;
    if (scrape_failing)
        return LW_STATUS_SCRAPE_FAILING;
    if (!has_limit)
        return LW_STATUS_NO_LIMIT;
    return LW_STATUS_OK;
}

const char *lw_pod_status_name(enum lw_pod_status s)
{
    static const char *const n[] = {"ok", "leaking", "oom-predicted", "oomkilled", "no-limit",
                                    "scrape-failing"};
    return (unsigned)s < LW_ARRAY_SIZE(n) ? n[s] : "ok";
}

/* ---- annotations -------------------------------------------------------------------------- */

const char *const lw_rec_annotation_keys[5] = {LW_ANN_STATUS, LW_ANN_SUMMARY, LW_ANN_OOM_AT,
                                               LW_ANN_TOP_STACK, LW_ANN_UPDATED_AT};

void lw_rec_annot_from_verdict(struct lw_annot *a, enum lw_pod_status st, const struct lw_verdict *v)
{
    memset(a, 0, sizeof(*a));
    a->status = st;
    if (!v)
        return;
    lw_rec_utf8_clean(a->summary, sizeof(a->summary), v->summary, sizeof(a->summary) - 1);
    if (v->oom.predicted && v->oom.at > 0)
        a->predicted_oom_at = v->oom.at;
    if (v->verdict == LW_VERDICT_LEAK && v->ntop > 0 && v->top) {
        const struct lw_top_stack *t = &v->top[0];
        char raw[2048];
        size_t n = 0, hi = top_index(t), lo = hi >= 4 ? hi - 4 : 0;
        /* up to 5 frames, leaf first, ending at the frame that names the stack */
        for (size_t i = lo; t->frames && i <= hi && i < t->nframes && n < sizeof(raw); i++) {
            char fr[200];
            lw_rec_utf8_clean(fr, sizeof(fr), t->frames[i], 160);
            n += (size_t)snprintf(raw + n, sizeof(raw) - n, "%s%s", i > lo ? " <- " : "", fr);
        }
        if (t->created_by && n < sizeof(raw))
            snprintf(raw + n, sizeof(raw) - n, " (created by %s)", t->created_by);
        lw_rec_utf8_clean(a->top_stack, sizeof(a->top_stack), raw, sizeof(a->top_stack) - 1);
    }
}

static const char *ann_get(const cJSON *pod, const char *key)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "annotations");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int str_differs(const char *have, const char *want)
{
    if (!want || !*want)
        return have != NULL;
    return !have || strcmp(have, want) != 0;
}

/* Parse our own RFC 3339 UTC ("...Z", seconds precision); -1 if not ours. */
static double parse_rfc3339(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n == 0 || s[n])
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm);
}

/* The next blank-separated token of *s (NULL at the end); *n its length. */
static const char *next_token(const char **s, size_t *n)
{
    const char *p = *s;
    while (*p == ' ')
        p++;
    if (!*p)
        return NULL;
    const char *t = p;
    while (*p && *p != ' ')
        p++;
    *n = (size_t)(p - t);
    *s = p;
    return t;
}

/* A token that is a number or a unit of one ("1,204", "(+3,180/h);",
 * "6h", "MiB") stands for a value, not for what the sentence says. */
static int is_value_token(const char *t, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "kB", "MB", "GB"};
    for (size_t i = 0; i < n; i++)
        if (t[i] >= '0' && t[i] <= '9')
            return 1;
    size_t m = n;
    while (m > 0 && (t[m - 1] == ',' || t[m - 1] == ';' || t[m - 1] == ')' || t[m - 1] == '.'))
        m--;
    for (size_t i = 0; i < LW_ARRAY_SIZE(units); i++)
        if (strlen(units[i]) == m && memcmp(t, units[i], m) == 0)
            return 1;
    return 0;
}

/* Do two summaries say the same thing with other numbers? Then the change
 * is not material (refreshed at most every o->refresh); a new phrase (a
 * leak found, the memory source named, "insufficient data" -> "no leak")
 * is. Exposed through lw_rec_summary_same_shape for tests. */
int lw_rec_summary_same_shape(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    size_t na = 0, nb = 0;
    for (;;) {
        const char *ta = next_token(&a, &na), *tb = next_token(&b, &nb);
        if (!ta || !tb)
            return !ta && !tb;
        int va = is_value_token(ta, na), vb = is_value_token(tb, nb);
        if (va != vb || (!va && (na != nb || memcmp(ta, tb, na) != 0)))
            return 0;
    }
}

cJSON *lw_rec_annot_patch(const struct lw_annot *a, const cJSON *pod, double now,
                          const struct lw_annot_opts *o)
{
    double refresh = o && o->refresh > 0 ? o->refresh : 300;
    double tol = o && o->oom_tolerance > 0 ? o->oom_tolerance : 300;
    char oomat[40] = "", upd[40];
    if (a->predicted_oom_at > 0)
        lw_fmt_rfc3339(a->predicted_oom_at, oomat, sizeof(oomat));
    const char *status = lw_pod_status_name(a->status);

    /* cut to fit: sum(len(key)+len(value)) of ours <= 4096 */
    char summary[1024], top[1024];
    size_t fixed = 0;
    for (size_t i = 0; i < LW_ARRAY_SIZE(lw_rec_annotation_keys); i++)
        fixed += strlen(lw_rec_annotation_keys[i]);
    fixed += strlen(status) + strlen(oomat) + 20 /* updated-at */;
    size_t budget = LW_REC_ANNOT_TOTAL_MAX - 1 - fixed;
    size_t tl = lw_rec_utf8_clean(top, sizeof(top), a->top_stack, LW_MIN(sizeof(top) - 1, budget / 2));
    lw_rec_utf8_clean(summary, sizeof(summary), a->summary,
                      LW_MIN(sizeof(summary) - 1, budget - tl));

    const char *h_status = ann_get(pod, LW_ANN_STATUS), *h_sum = ann_get(pod, LW_ANN_SUMMARY),
               *h_oom = ann_get(pod, LW_ANN_OOM_AT), *h_top = ann_get(pod, LW_ANN_TOP_STACK),
               *h_upd = ann_get(pod, LW_ANN_UPDATED_AT);
    int material = str_differs(h_status, status) || str_differs(h_top, top) || !h_upd ||
                   (a->summary[0] && !h_sum) ||
                   (h_sum && summary[0] && !lw_rec_summary_same_shape(h_sum, summary));
    if (!material && (oomat[0] != 0) != (h_oom != NULL))
        material = 1;
    if (!material && oomat[0]) {
        double had = parse_rfc3339(h_oom), left = a->predicted_oom_at - now;
        double t2 = LW_MAX(tol, 0.1 * (left > 0 ? left : 0));
        if (had < 0 || fabs(had - a->predicted_oom_at) > t2)
            material = 1;
    }
    int differs = material || str_differs(h_sum, summary) || str_differs(h_oom, oomat);
    if (!material) {
        double last = parse_rfc3339(h_upd);
        if (!differs || (last >= 0 && now - last < refresh))
            return NULL;
    }
    cJSON *p = cJSON_CreateObject();
    cJSON *ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(p, "metadata"), "annotations");
    if (!ann) {
        cJSON_Delete(p);
        return NULL;
    }
    add_str(ann, LW_ANN_STATUS, status);
    if (summary[0])
        add_str(ann, LW_ANN_SUMMARY, summary);
    else if (h_sum)
        cJSON_AddNullToObject(ann, LW_ANN_SUMMARY);
    if (oomat[0])
        add_str(ann, LW_ANN_OOM_AT, oomat);
    else if (h_oom)
        cJSON_AddNullToObject(ann, LW_ANN_OOM_AT);
    if (top[0])
        add_str(ann, LW_ANN_TOP_STACK, top);
    else if (h_top)
        cJSON_AddNullToObject(ann, LW_ANN_TOP_STACK);
    add_str(ann, LW_ANN_UPDATED_AT, lw_fmt_rfc3339(now, upd, sizeof(upd)));
    return p;
}

cJSON *lw_rec_annot_optout_patch(const cJSON *pod)
{
    cJSON *p = NULL, *ann = NULL;
    for (size_t i = 0; i < LW_ARRAY_SIZE(lw_rec_annotation_keys); i++) {
        const cJSON *annots = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "annotations");
        if (!cJSON_GetObjectItemCaseSensitive(annots, lw_rec_annotation_keys[i]))
            continue;
        if (!p) {
            p = cJSON_CreateObject();
            ann = cJSON_AddObjectToObject(cJSON_AddObjectToObject(p, "metadata"), "annotations");
            if (!ann) {
                cJSON_Delete(p);
                return NULL;
            }
        }
        cJSON_AddNullToObject(ann, lw_rec_annotation_keys[i]);
    }
    return p;
}
