/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.c: a verdict as one line of stable JSON (schema in docs/json.md) and
 * as a short text report. JSON fields are only ever added, never renamed or
 * removed; unknown values are null, never omitted.
 */
#include "report/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

static cJSON *num_or_null(double v, int known)
{
    return known && isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *str_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static double round2(double v)
{
    return round(v * 100) / 100;
}

char *lw_report_json(const struct lw_verdict *v)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "verdict", lw_verdict_name(v->verdict));
    cJSON_AddNumberToObject(o, "t", v->t);
    cJSON *kinds = cJSON_AddArrayToObject(o, "kinds");
    if (v->kinds & LW_LEAK_GOROUTINE)
        cJSON_AddItemToArray(kinds, cJSON_CreateString("goroutine"));
    if (v->kinds & LW_LEAK_HEAP)
        cJSON_AddItemToArray(kinds, cJSON_CreateString("heap"));
    if (v->kinds & LW_LEAK_MEMORY)
        cJSON_AddItemToArray(kinds, cJSON_CreateString("memory"));
    cJSON_AddStringToObject(o, "summary", v->summary);

    cJSON *g = cJSON_AddObjectToObject(o, "goroutines");
    cJSON_AddItemToObject(g, "first", num_or_null((double)v->goroutines.first, v->goroutines.present));
    cJSON_AddItemToObject(g, "last", num_or_null((double)v->goroutines.last, v->goroutines.present));
    cJSON_AddItemToObject(g, "growth_per_hour",
                          num_or_null(round2(v->goroutines.growth_per_hour), v->goroutines.present));
    /* additive: goroutine stacks that grew but are in use (docs/analysis.md §2.1) */
    if (v->in_use.stack) {
        cJSON *u = cJSON_AddObjectToObject(g, "in_use");
        cJSON_AddStringToObject(u, "stack", v->in_use.stack);
        cJSON_AddStringToObject(u, "why", lw_in_use_why_name(v->in_use.why));
        cJSON_AddItemToObject(u, "creator", str_or_null(v->in_use.creator));
        cJSON_AddNumberToObject(u, "count", (double)v->in_use.count);
        cJSON_AddNumberToObject(u, "stacks", (double)lw_verdict_in_use(v));
        cJSON_AddNumberToObject(u, "growth_per_hour", round2(v->in_use.growth_per_hour));
        cJSON_AddNumberToObject(u, "max_wait_minutes", (double)v->in_use.max_wait_minutes);
        cJSON_AddItemToObject(u, "leak_wait_minutes", num_or_null((double)v->in_use.leak_wait_minutes,
                                                                   v->in_use.why == LW_IN_USE_BUSY));
    } else {
        cJSON_AddNullToObject(g, "in_use");
    }

    int have_mem = v->memory.source != LW_MEM_NONE;
    cJSON *m = cJSON_AddObjectToObject(o, "memory");
    cJSON_AddItemToObject(m, "current_bytes", num_or_null(round(v->memory.current_bytes), have_mem));
    cJSON_AddItemToObject(m, "limit_bytes",
                          num_or_null(v->memory.limit_bytes, v->memory.limit_bytes > 0));
    cJSON_AddItemToObject(m, "growth_bytes_per_hour",
                          num_or_null(round(v->memory.growth_bytes_per_hour), have_mem));
    cJSON_AddStringToObject(m, "source", lw_mem_source_name(v->memory.source));
    cJSON_AddItemToObject(m, "bytes_per_goroutine",
                          num_or_null(round(v->bytes_per_goroutine), v->bytes_per_goroutine > 0));
    cJSON_AddItemToObject(m, "share_explained_by_goroutines",
                          num_or_null(round2(v->share_explained), v->bytes_per_goroutine > 0));
    /* additive: heap sites held by goroutines in use (docs/analysis.md §4.6) */
    if (v->held.site) {
        cJSON *h = cJSON_AddObjectToObject(m, "held_by_in_use");
        cJSON_AddStringToObject(h, "site", v->held.site);
        cJSON_AddStringToObject(h, "stack", v->held.holders);
        cJSON_AddNumberToObject(h, "goroutines", (double)v->held.goroutines);
        cJSON_AddNumberToObject(h, "bytes_per_goroutine", round(v->held.bytes_per_goroutine));
        cJSON_AddNumberToObject(h, "share_explained", round2(v->held.share));
        cJSON_AddNumberToObject(h, "sites", (double)v->held.n);
    } else {
        cJSON_AddNullToObject(m, "held_by_in_use");
    }

    cJSON *oom = cJSON_AddObjectToObject(o, "oom");
    int timed = (v->oom.state == LW_FC_GROWING || v->oom_held) && v->oom.limit_bytes > 0 &&
                isfinite(v->oom.seconds_to_oom);
    cJSON_AddBoolToObject(oom, "predicted", v->oom.predicted);
    cJSON_AddItemToObject(oom, "seconds_to_oom", num_or_null(round(v->oom.seconds_to_oom), timed));
    if (timed) {
        char ts[40];
        cJSON_AddStringToObject(oom, "at", lw_fmt_rfc3339(v->oom.at, ts, sizeof(ts)));
    } else {
        cJSON_AddNullToObject(oom, "at");
    }
    cJSON_AddItemToObject(oom, "at_unix", num_or_null(round(v->oom.at), timed));
    /* additive: when the GC peaks reach the limit, the earliest plausible kill */
    cJSON_AddItemToObject(oom, "earliest_seconds",
                          num_or_null(round(v->oom.seconds_env),
                                      v->oom.state == LW_FC_GROWING && v->oom.limit_bytes > 0 &&
                                          isfinite(v->oom.seconds_env)));
    /* additive: where the kill-time line starts (the (re)start, or a break in the growth) */
    cJSON_AddItemToObject(oom, "line_since_unix",
                          num_or_null(round(v->oom.line_since),
                                      v->oom.state == LW_FC_GROWING && v->oom.line_bytes > 0 &&
                                          v->oom.line_since > 0));
    /* additive: the excursion above that line at which the kill is expected */
    cJSON_AddItemToObject(oom, "kill_margin_bytes",
                          num_or_null(round(v->oom.kill_margin_bytes),
                                      v->oom.state == LW_FC_GROWING && v->oom.line_bytes > 0));
    cJSON_AddNumberToObject(oom, "confidence", round2(v->oom.confidence));
    cJSON_AddStringToObject(oom, "state", lw_fc_state_name(v->oom.state));
    cJSON_AddStringToObject(oom, "reason", v->oom.reason);
    cJSON_AddBoolToObject(oom, "held", v->oom_held); /* additive: docs/json.md */
    /* additive: an LRU cache filling, the warning waits (docs/analysis.md §4.4) */
    cJSON_AddBoolToObject(oom, "bounded_wait", v->bounded_wait);
    cJSON_AddItemToObject(oom, "bounded_site", str_or_null(v->bounded_wait ? v->bounded_site : NULL));
    cJSON_AddBoolToObject(oom, "unexplained_wait", v->unexplained_wait);
    /* additive: the memory follows goroutines in use (docs/analysis.md §4.6) */
    cJSON_AddBoolToObject(oom, "load_wait", v->load_wait);

    cJSON *top = cJSON_AddArrayToObject(o, "top_stacks");
    for (size_t i = 0; i < v->ntop; i++) {
        const struct lw_top_stack *s = &v->top[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(top, e);
        cJSON_AddStringToObject(e, "kind", s->kind);
        cJSON *fr = cJSON_AddArrayToObject(e, "frames");
        for (size_t k = 0; k < s->nframes; k++)
            cJSON_AddItemToArray(fr, cJSON_CreateString(s->frames[k]));
        cJSON_AddItemToObject(e, "leaf", str_or_null(s->leaf));
        cJSON_AddItemToObject(e, "user_frame", str_or_null(s->user_frame));
        cJSON_AddItemToObject(e, "created_by", str_or_null(s->created_by));
        cJSON_AddItemToObject(e, "state", str_or_null(s->state));
        cJSON_AddItemToObject(e, "max_wait_minutes",
                              num_or_null((double)s->max_wait_minutes, s->max_wait_minutes >= 0));
        cJSON_AddNumberToObject(e, "count", (double)s->count);
        cJSON_AddNumberToObject(e, "first_count", (double)s->first_count);
        cJSON_AddNumberToObject(e, "growth", round2(s->growth));
        cJSON_AddItemToObject(e, "hint", str_or_null(s->hint));
        cJSON_AddItemToObject(e, "cause", str_or_null(s->cause_id));
        cJSON_AddItemToObject(e, "hint_confidence", num_or_null(round2(s->hint_confidence), s->hint != NULL));
    }
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}

void lw_report_text(const struct lw_verdict *v, FILE *out)
{
    char a[32], b[32], c[48];
    fprintf(out, "verdict: %s\n", lw_verdict_name(v->verdict));
    if (v->summary[0])
        fprintf(out, "summary: %s\n", v->summary);
    if (v->goroutines.present)
        fprintf(out, "goroutines: %s -> %s (%+.0f/h)\n", lw_fmt_thousands(v->goroutines.first, a, sizeof(a)),
                lw_fmt_thousands(v->goroutines.last, b, sizeof(b)), v->goroutines.growth_per_hour);
    if (v->memory.source != LW_MEM_NONE) {
        fprintf(out, "memory (%s): %s", lw_mem_source_name(v->memory.source),
                lw_fmt_bytes(v->memory.current_bytes, a, sizeof(a)));
        if (v->memory.limit_bytes > 0)
            fprintf(out, " of %s limit", lw_fmt_bytes(v->memory.limit_bytes, b, sizeof(b)));
        fprintf(out, ", %s/h\n", lw_fmt_bytes(v->memory.growth_bytes_per_hour, c, sizeof(c)));
    }
    if (v->bytes_per_goroutine > 0)
        fprintf(out, "per leaked goroutine: %s, explaining %.0f%% of memory growth\n",
                lw_fmt_bytes(v->bytes_per_goroutine, a, sizeof(a)), v->share_explained * 100);
    if (v->oom.predicted)
        fprintf(out, "OOM predicted: in %.0f min, at %s (confidence %.2f)\n",
                v->oom.seconds_to_oom / 60, lw_fmt_rfc3339(v->oom.at, c, sizeof(c)),
                v->oom.confidence);
    else
        fprintf(out, "OOM: not predicted (%s%s%s)\n", lw_fc_state_name(v->oom.state),
                v->oom.reason[0] ? ": " : "", v->oom.reason);
    for (size_t i = 0; i < v->ntop; i++) {
        const struct lw_top_stack *s = &v->top[i];
        fprintf(out, "\n#%zu %s stack: %s -> %s (%+.0f/h)\n", i + 1, s->kind,
                lw_fmt_thousands(s->first_count, a, sizeof(a)), lw_fmt_thousands(s->count, b, sizeof(b)),
                s->growth);
        if (s->state)
            fprintf(out, "   state: %s", s->state);
        if (s->max_wait_minutes >= 0)
            fprintf(out, "%slongest wait %lld minutes", s->state ? ", " : "   ",
                    (long long)s->max_wait_minutes);
        if (s->state || s->max_wait_minutes >= 0)
            fputc('\n', out);
        /* deep stacks: the leaf end says where it waits, the root end who
         * started it; the middle is plumbing (poll, bufio, net.conn) */
        for (size_t k = 0; k < s->nframes; k++) {
            if (s->nframes > 9 && k == 3) {
                fprintf(out, "   ... %zu frames ...\n", s->nframes - 8);
                k = s->nframes - 5;
            }
            fprintf(out, "   %s\n", s->frames[k]);
        }
        if (s->created_by)
            fprintf(out, "   created by %s\n", s->created_by);
        if (s->user_frame)
            fprintf(out, "   user call site: %s\n", s->user_frame);
        if (s->hint)
            fprintf(out, "   hint (%.0f%%): %s\n", s->hint_confidence * 100, s->hint);
    }
}
