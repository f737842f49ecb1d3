/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_top.c: `leakwatch top FILE`: the top stacks of one profile of any
 * supported format (goroutine debug=1/debug=2/proto, goroutineleak, heap
 * proto/debug=1; gzip'd or not), what `go tool pprof -top` gives, but per
 * stack and with the goroutine state, wait, creator and user call site.
 * Stacks are merged by identity (function names), so debug=2 goroutines that
 * differ only in line numbers or state count together. The file is streamed
 * through lw_pprof_parse_file(), never held whole in memory.
 */
#include "cli.h"

#include "pprof/pprof.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: leakwatch top FILE [-n N] [--json]\n"
    "\n"
    "Print the top stacks of one goroutine or heap profile in any format Go serves\n"
    "(goroutine ?debug=1, ?debug=2, proto; goroutineleak; heap proto or ?debug=1;\n"
    "gzip'd or plain). Goroutine stacks are ranked by count, heap sites by in-use bytes.\n"
    "\n"
    "flags:\n"
    "  -n N      how many stacks to print [10]\n"
    "  --json    JSON output\n"
    "\n"
    "Exit codes: 0 ok, 1 unreadable or malformed file, 2 usage error.\n";

struct agg {
    uint64_t id;
    const struct lw_stack *rep; /* largest member */
    int64_t count, inuse, alloc_bytes;
    int64_t max_wait;
};

static int64_t weight(const struct lw_profile *p, const struct agg *a)
{
    return p->kind == LW_KIND_HEAP ? a->inuse : a->count;
}

static const struct lw_profile *sort_prof;
static int agg_cmp(const void *x, const void *y)
{
    const struct agg *a = x, *b = y;
    int64_t wa = weight(sort_prof, a), wb = weight(sort_prof, b);
    if (wa != wb)
        return wa > wb ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Merge stacks by identity; returns a malloc'd array sorted by weight. */
static struct agg *aggregate(const struct lw_profile *p, size_t *nout)
{
    size_t nslots = 16;
    while (nslots < p->nstacks * 2)
        nslots *= 2;
    size_t *slots = malloc(nslots * sizeof(*slots));
    struct agg *aggs = malloc((p->nstacks ? p->nstacks : 1) * sizeof(*aggs));
    if (!slots || !aggs) {
        free(slots);
        free(aggs);
        return NULL;
    }
    for (size_t i = 0; i < nslots; i++)
        slots[i] = (size_t)-1;
    size_t n = 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *s = &p->stacks[i];
        uint64_t id = lw_stack_identity(s);
        size_t h = (size_t)id & (nslots - 1);
        while (slots[h] != (size_t)-1 && aggs[slots[h]].id != id)
            h = (h + 1) & (nslots - 1);
        struct agg *a;
        if (slots[h] == (size_t)-1) {
            slots[h] = n;
            a = &aggs[n++];
            memset(a, 0, sizeof(*a));
            a->id = id;
            a->rep = s;
            a->max_wait = -1;
        } else {
            a = &aggs[slots[h]];
            if (s->count > a->rep->count)
                a->rep = s;
        }
        a->count += s->count;
        a->inuse += lw_stack_inuse_bytes(s);
        a->alloc_bytes += lw_stack_alloc_bytes(s);
        if (lw_stack_max_wait(s) > a->max_wait)
            a->max_wait = lw_stack_max_wait(s);
    }
    free(slots);
    sort_prof = p;
    qsort(aggs, n, sizeof(*aggs), agg_cmp);
    *nout = n;
    return aggs;
}

static void user_frame_str(const struct lw_stack *s, char *out, size_t len)
{
    const struct lw_frame *f = lw_stack_user_frame(s);
    if (!f)
        out[0] = '\0';
    else if (f->file)
        snprintf(out, len, "%s %s:%d", f->func, f->file, f->line);
    else
        snprintf(out, len, "%s", f->func);
}

static void print_json(const struct lw_profile *p, const struct agg *aggs, size_t n, size_t limit)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", lw_prof_kind_name(p->kind));
    cJSON_AddStringToObject(o, "format", lw_prof_format_name(p->format));
    cJSON_AddNumberToObject(o, "total", (double)p->total);
    cJSON_AddNumberToObject(o, "stacks", (double)n);
    cJSON *arr = cJSON_AddArrayToObject(o, "top");
    for (size_t i = 0; i < n && i < limit; i++) {
        const struct agg *a = &aggs[i];
        const struct lw_stack *s = a->rep;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, e);
        cJSON_AddNumberToObject(e, "count", (double)a->count);
        if (p->kind == LW_KIND_HEAP) {
            cJSON_AddNumberToObject(e, "inuse_bytes", (double)a->inuse);
            cJSON_AddNumberToObject(e, "alloc_bytes", (double)a->alloc_bytes);
        }
        cJSON *fr = cJSON_AddArrayToObject(e, "frames");
        for (uint32_t k = lw_stack_leaf_index(s); k < s->nframes; k++)
            cJSON_AddItemToArray(fr, cJSON_CreateString(lw_stack_frame(s, k)->func));
        char uf[1024];
        user_frame_str(s, uf, sizeof(uf));
        cJSON_AddItemToObject(e, "user_frame", uf[0] ? cJSON_CreateString(uf) : cJSON_CreateNull());
        const char *cb = lw_stack_created_by(s), *state = lw_stack_state(s);
        cJSON_AddItemToObject(e, "created_by", cb ? cJSON_CreateString(cb) : cJSON_CreateNull());
        cJSON_AddItemToObject(e, "state", state ? cJSON_CreateString(state) : cJSON_CreateNull());
        if (a->max_wait >= 0)
            cJSON_AddNumberToObject(e, "max_wait_minutes", (double)a->max_wait);
        else
            cJSON_AddNullToObject(e, "max_wait_minutes");
    }
    char *txt = cJSON_PrintUnformatted(o);
    if (txt)
        puts(txt);
    free(txt);
    cJSON_Delete(o);
}

static void print_text(const struct lw_profile *p, const struct agg *aggs, size_t n, size_t limit)
{
    char a1[32], a2[32], a3[32];
    bool heap = p->kind == LW_KIND_HEAP;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += weight(p, &aggs[i]);
    if (heap)
        printf("heap profile (%s): %s in use in %zu allocation sites\n", lw_prof_format_name(p->format),
               lw_fmt_bytes((double)total, a1, sizeof(a1)), n);
    else
        printf("%s profile (%s): %s goroutines in %zu stacks\n", lw_prof_kind_name(p->kind),
               lw_prof_format_name(p->format), lw_fmt_thousands(total, a1, sizeof(a1)), n);
    if (p->memstats.present)
        printf("runtime: HeapInuse %s, StackInuse %s, Sys %s\n",
               lw_fmt_bytes((double)p->memstats.heap_inuse, a1, sizeof(a1)),
               lw_fmt_bytes((double)p->memstats.stack_inuse, a2, sizeof(a2)),
               lw_fmt_bytes((double)p->memstats.sys, a3, sizeof(a3)));
    printf("%12s %6s  %s\n", heap ? "in-use" : "count", "share", "stack (leaf first)");
    for (size_t i = 0; i < n && i < limit; i++) {
        const struct agg *a = &aggs[i];
        const struct lw_stack *s = a->rep;
        int64_t w = weight(p, a);
        if (heap)
            lw_fmt_bytes((double)w, a1, sizeof(a1));
        else
            lw_fmt_thousands(w, a1, sizeof(a1));
        uint32_t leaf = lw_stack_leaf_index(s);
        printf("%12s %5.1f%%  %s\n", a1, total ? 100.0 * (double)w / (double)total : 0.0,
               s->nframes ? lw_stack_frame(s, leaf)->func : "(no frames)");
        const char *state = lw_stack_state(s), *cb = lw_stack_created_by(s);
        if (state || a->max_wait >= 0) {
            printf("%20s state: %s", "", state ? state : "?");
            if (a->max_wait >= 0)
                printf(a->max_wait > 0 ? ", longest wait %lld minutes" : ", waiting < 1 minute", (long long)a->max_wait);
            putchar('\n');
        }
        for (uint32_t k = leaf + 1; k < s->nframes && k < leaf + 4; k++)
            printf("%20s %s\n", "", lw_stack_frame(s, k)->func);
        if (s->nframes > leaf + 4)
            printf("%20s ... %u more frames\n", "", s->nframes - leaf - 4);
        if (cb)
            printf("%20s created by %s\n", "", cb);
        char uf[1024];
        user_frame_str(s, uf, sizeof(uf));
        if (uf[0])
            printf("%20s user call site: %s\n", "", uf);
    }
}

int cmd_top(int argc, char **argv)
{
    const char *n_s = "10";
    bool json = false;
    const struct cli_flag flags[] = {{"-n", &n_s, NULL}, {"--json", NULL, &json}};
    const char *arg = NULL;
    int rc = cli_parse("top", help, argc, argv, flags, LW_ARRAY_SIZE(flags), &arg,
                       "one profile file");
    if (rc)
        return rc == CLI_HELP_SHOWN ? LW_EXIT_OK : rc;
    char *end;
    long limit = strtol(n_s, &end, 10);
    if (*end || limit <= 0) {
        cli_err("top: -n '%s': expected a positive integer", n_s);
        return LW_EXIT_USAGE;
    }
    struct lw_pprof_limits lim;
    lw_pprof_limits_default(&lim);
    struct lw_errbuf eb = {""};
    struct lw_profile *p = NULL;
    /* streamed: the file is parsed as it is read, so a 500 MB debug=2 dump
     * needs memory for its distinct stacks only */
    rc = lw_pprof_parse_file(arg, &lim, &p, &eb);
    if (rc == LW_EIO) {
        cli_err("top: %s", eb.msg); /* names the file already */
        return LW_EXIT_ERROR;
    }
    if (rc != LW_OK) {
        cli_err("top: %s: %s", arg, eb.msg[0] ? eb.msg : lw_strerror(rc));
        return LW_EXIT_ERROR;
    }
    size_t n = 0;
    struct agg *aggs = aggregate(p, &n);
    if (!aggs) {
        cli_err("top: out of memory");
        lw_profile_free(p);
        return LW_EXIT_ERROR;
    }
    if (json)
        print_json(p, aggs, n, (size_t)limit);
    else
        print_text(p, aggs, n, (size_t)limit);
    free(aggs);
    lw_profile_free(p);
    return LW_EXIT_OK;
}
