/* SPDX-License-Identifier: Apache-2.0 */
/*
 * logic.c: the controller's pure decisions (no I/O, no clock): restart
 * detection, memory source selection, the prediction record and the facts
 * of an OOMKilled post-mortem, RFC 3339 parsing of finishedAt, and the
 * annotation refresh interval for the fleet's size.
 * Kept apart from controller.c so tests/unit/test_controller.c can pin them.
 */
#include "controller/controller.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool lw_ctl_restart_detect(struct lw_ctl_incarnation *prev, const struct lw_target *t)
{
    if (!t->has_status)
        return false;
    bool restarted = false;
    if (prev->known) {
        if (prev->restart_count >= 0 && t->restart_count >= 0 &&
            t->restart_count != prev->restart_count)
            restarted = true;
        if (prev->container_id[0] && t->container_id[0] &&
            strcmp(prev->container_id, t->container_id) != 0)
            restarted = true;
    }
    prev->known = true;
    if (t->restart_count >= 0)
        prev->restart_count = t->restart_count;
    if (t->container_id[0])
        snprintf(prev->container_id, sizeof(prev->container_id), "%s", t->container_id);
    return restarted;
}

bool lw_ctl_oomkilled(const struct lw_target *t)
{
    return t->has_last_terminated && strcmp(t->last_reason, "OOMKilled") == 0;
}

enum lw_ctl_mem_source lw_ctl_pick_memory(double ws_t, double now, double max_age)
{
    if (ws_t <= 0 || max_age <= 0)
        return LW_CTL_MEM_RUNTIME;
    if (fabs(now - ws_t) <= max_age)
        return LW_CTL_MEM_WORKING_SET;
    return LW_CTL_MEM_RUNTIME;
}

void lw_ctl_prediction_reset(struct lw_ctl_prediction *p)
{
    memset(p, 0, sizeof(*p));
    p->goroutines = -1;
}

void lw_ctl_prediction_update(struct lw_ctl_prediction *p, const struct lw_verdict *v, double now)
{
    if (!v)
        return;
    if (v->goroutines.present)
        p->goroutines = v->goroutines.last;
    if (v->ntop > 0) {
        const char *name = lw_rec_top_name(&v->top[0]);
        if (name)
            snprintf(p->top_stack, sizeof(p->top_stack), "%s", name);
    }
    bool warn = v->verdict == LW_VERDICT_LEAK || v->oom.predicted;
    if (warn && p->first_warning_at == 0)
        p->first_warning_at = now;
    if (v->oom.predicted) {
        if (p->first_predicted_at == 0)
            p->first_predicted_at = now;
        p->predicted_oom_at = v->oom.at;
    }
}

void lw_ctl_postmortem(const struct lw_ctl_prediction *p, const char *container, double killed_at,
                       double limit_bytes, struct lw_postmortem *pm)
{
    memset(pm, 0, sizeof(*pm));
    pm->container = container;
    pm->killed_at = killed_at;
    pm->limit_bytes = limit_bytes > 0 ? limit_bytes : 0;
    /* predicted: the series that just ended carried a prediction. The
     * kill's finishedAt comes from the node's clock, so it is not compared
     * with ours (a skewed node must not turn a real prediction into a miss). */
    if (p->first_predicted_at > 0) {
        pm->predicted = true;
        pm->predicted_at = p->first_warning_at > 0 && p->first_warning_at < p->first_predicted_at
                               ? p->first_warning_at
                               : p->first_predicted_at;
        pm->predicted_oom_at = p->predicted_oom_at;
    }
    pm->top_stack = p->top_stack[0] ? p->top_stack : NULL;
    pm->goroutines = p->goroutines;
}

/* The summary names where the memory number came from: the engine says
 * "(container)" for any working set; we know which API gave it. A summary
 * without a memory phrase (not enough data yet) gets one. */
void lw_ctl_summary_memory(char *summary, size_t n, const char *source_phrase, double bytes)
{
    if (!source_phrase || !summary || n == 0)
        return;
    const char *ctr = "(container)";
    char *at = strstr(summary, ctr);
    char tmp[1024];
    if (at && strstr(source_phrase, "working set")) {
        snprintf(tmp, sizeof(tmp), "%.*s(%s)%s", (int)(at - summary), summary, source_phrase,
                 at + strlen(ctr));
        snprintf(summary, n, "%s", tmp);
    } else if (!strstr(summary, "; memory ") && bytes > 0) {
        char b[32];
        lw_fmt_bytes(bytes, b, sizeof(b));
        size_t len = strlen(summary);
        if (len < n)
            snprintf(summary + len, n - len, "%smemory %s (%s)", len ? "; " : "", b,
                     source_phrase);
    }
}

void lw_ctl_summary_insufficient(char *summary, size_t n, double since, size_t min_samples,
                                 double min_span_s)
{
    if (!summary || n == 0)
        return;
    char need[32];
    lw_rec_fmt_duration(min_span_s, need, sizeof(need));
    if (!(since > 0) || !isfinite(since)) {
        snprintf(summary, n,
                 "insufficient data: no goroutine sample yet (a verdict needs at least %zu "
                 "samples spanning %s)", min_samples, need);
        return;
    }
    char a[40], b[40];
    snprintf(summary, n,
             "insufficient data: goroutine samples since %s; a verdict from about %s (it needs "
             "at least %zu samples spanning %s)",
             lw_fmt_rfc3339(since, a, sizeof(a)), lw_fmt_rfc3339(since + min_span_s, b, sizeof(b)),
             min_samples, need);
}

static int digits(const char **s, int n, int *out)
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

int lw_ctl_parse_time(const char *s, double *out)
{
    if (!s || !out)
        return LW_EINVAL;
    int Y, M, D, h, m, sec;
    const char *p = s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
        digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
        return LW_EINVAL;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
        digits(&p, 2, &sec))
        return LW_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return LW_EINVAL;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return LW_EINVAL;
        for (int i = 0; isdigit((unsigned char)*p); p++, i++) {
            if (i < 9) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
        }
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
            return LW_EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else {
        return LW_EINVAL;
    }
    if (*p)
        return LW_EINVAL;
    /* days from civil (Howard Hinnant's algorithm), no timegm/TZ needed */
    int y = M <= 2 ? Y - 1 : Y;
    int era = y / 400;
    int yoe = y - era * 400;
    int mp = (M + 9) % 12;
    int doy = (153 * mp + 2) / 5 + D - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = (long)era * 146097 + doe - 719468;
    *out = (double)days * 86400.0 + h * 3600 + m * 60 + sec + frac - off;
    return LW_OK;
}

double lw_ctl_annot_refresh(size_t npods, double api_qps)
{
    double r = 300.0;
    if (api_qps > 0 && isfinite(api_qps))
        r = LW_MAX(r, (double)npods / (0.5 * api_qps));
    return LW_MIN(r, 3600.0);
}
