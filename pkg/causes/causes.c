/* SPDX-License-Identifier: Apache-2.0 */
/*
 * causes.c: the matcher for the known-cause table (causes_table.c).
 *
 * A rule matches when its own pattern matches the stack, its sibling pattern
 * (if any) matches another growing goroutine stack of the same container,
 * and its heap list (if any) matches a growing heap allocation site. The
 * best match is the one with the highest confidence after these evidence
 * factors (docs/causes.md):
 *   - the rule names a long wait as evidence but the wait is unknown (no
 *     debug=2) or shorter: x0.8;
 *   - the goroutine stack is not growing and no long wait was seen: x0.5
 *     (a fingerprint on a stack that does not pile up is only a shape match).
 * Ties keep the earlier table entry, so more specific entries come first.
 */
#include "causes/causes_int.h"

#include <string.h>

/* ---- wait kind ----------------------------------------------------------- */

static int has_prefix(const char *s, const char *p)
{
    return s && strncmp(s, p, strlen(p)) == 0;
}

static unsigned wait_from_state(const char *st)
{
    static const struct {
        const char *prefix;
        unsigned kind;
    } map[] = {
        {"IO wait", LW_WAIT_IO},
        {"chan send", LW_WAIT_SEND},
        {"chan receive", LW_WAIT_RECV},
        {"select", LW_WAIT_SELECT},
        {"sleep", LW_WAIT_SLEEP},
        {"semacquire", LW_WAIT_SYNC},
        {"sync.", LW_WAIT_SYNC},
    };
    for (size_t i = 0; i < LW_ARRAY_SIZE(map); i++)
        if (has_prefix(st, map[i].prefix))
            return map[i].kind;
    return LW_WAIT_OTHER;
}

static unsigned wait_from_func(const char *f)
{
    static const struct {
        const char *prefix;
        unsigned kind;
    } map[] = {
        {"runtime.chansend", LW_WAIT_SEND},
        {"runtime.chanrecv", LW_WAIT_RECV},
        {"runtime.selectgo", LW_WAIT_SELECT},
        {"runtime.block", LW_WAIT_SELECT},
        {"runtime.netpollblock", LW_WAIT_IO},
        {"internal/poll.runtime_pollWait", LW_WAIT_IO},
        {"time.Sleep", LW_WAIT_SLEEP},
        {"runtime.timeSleep", LW_WAIT_SLEEP},
        {"runtime.semacquire", LW_WAIT_SYNC},
        {"sync.runtime_", LW_WAIT_SYNC},
        {"internal/sync.runtime_", LW_WAIT_SYNC},
        {"runtime.notifyListWait", LW_WAIT_SYNC},
    };
    for (size_t i = 0; i < LW_ARRAY_SIZE(map); i++)
        if (has_prefix(f, map[i].prefix))
            return map[i].kind;
    return 0;
}

unsigned lw_causes_wait_kind(const struct lw_stack *s)
{
    if (!s)
        return LW_WAIT_UNKNOWN;
    const char *state = lw_stack_state(s);
    if (state && state[0])
        return wait_from_state(state);
    /* The blocking call sits among the leading runtime frames (proto, debug=2)
     * or is the first non-runtime frame itself (time.Sleep, pollWait). debug=1
     * hides leading runtime frames, so chan/select waits are unknown there. */
    uint32_t leaf = s->nframes ? lw_stack_leaf_index(s) : 0;
    for (uint32_t i = 0; i < s->nframes && i <= leaf; i++) {
        unsigned k = wait_from_func(lw_stack_frame(s, i)->func);
        if (k)
            return k;
    }
    return LW_WAIT_UNKNOWN;
}

const char *lw_wait_kind_name(unsigned kind)
{
    switch (kind) {
    case LW_WAIT_IO: return "IO wait";
    case LW_WAIT_SEND: return "chan send";
    case LW_WAIT_RECV: return "chan receive";
    case LW_WAIT_SELECT: return "select";
    case LW_WAIT_SLEEP: return "sleep";
    case LW_WAIT_SYNC: return "sync";
    case LW_WAIT_OTHER: return "other";
    default: return "unknown";
    }
}

/* ---- pattern matching ---------------------------------------------------- */

static bool any_frame_has(const struct lw_stack *s, const char *needle)
{
    for (uint32_t i = 0; i < s->nframes; i++) {
        const char *f = lw_stack_frame(s, i)->func;
        if (f && strstr(f, needle))
            return true;
    }
    return false;
}

static bool str_has_one(const char *s, const char *const *list)
{
    for (size_t i = 0; i < LW_CP_MAX && list[i]; i++)
        if (s && strstr(s, list[i]))
            return true;
    return false;
}

static bool list_empty(const char *const *list)
{
    return list[0] == NULL;
}

/* Returns false if p does not match s; *long_wait is set when the pattern
 * asked for a long wait and the stack showed one, *wait_missing when it
 * asked and the wait is unknown. */
static bool pattern_match(const struct lw_cause_pattern *p, const struct lw_stack *s,
                          double details_age_s, bool *long_wait, bool *wait_missing)
{
    if (!s || s->nframes == 0)
        return false;
    for (size_t i = 0; i < LW_CP_MAX && p->all[i]; i++)
        if (!any_frame_has(s, p->all[i]))
            return false;
    if (!list_empty(p->any)) {
        bool ok = false;
        for (size_t i = 0; i < LW_CP_MAX && p->any[i] && !ok; i++)
            ok = any_frame_has(s, p->any[i]);
        if (!ok)
            return false;
    }
    for (size_t i = 0; i < LW_CP_MAX && p->none[i]; i++)
        if (any_frame_has(s, p->none[i]))
            return false;
    const char *leaf = lw_stack_frame(s, lw_stack_leaf_index(s))->func;
    if (!list_empty(p->leaf) && !str_has_one(leaf, p->leaf))
        return false;
    if (p->user_leaf && (lw_func_is_std(leaf) || lw_func_is_runtime(leaf)))
        return false;
    if (p->user_frame && !lw_stack_user_frame(s))
        return false;
    const char *creator = lw_stack_created_by(s);
    if (!list_empty(p->creator) && creator && !str_has_one(creator, p->creator))
        return false;
    if (p->waits) {
        unsigned w = lw_causes_wait_kind(s);
        if (w == LW_WAIT_UNKNOWN ? !(p->waits & LW_WAITS_UNKNOWN_OK) : !(p->waits & w))
            return false;
    }
    int64_t max_wait = lw_stack_max_wait(s);
    if (p->woken && !(max_wait == 0 && details_age_s >= LW_CAUSE_WOKEN_AGE_S))
        return false;
    if (p->min_wait_minutes > 0) {
        if (max_wait >= p->min_wait_minutes) {
            if (long_wait)
                *long_wait = true;
        } else if (wait_missing) {
            *wait_missing = true; /* unknown, or not (yet) that long */
        }
    }
    return true;
}

static bool heap_match(const struct lw_cause_rule *r, const struct lw_cause_context *ctx)
{
    if (list_empty(r->heap))
        return true;
    if (!ctx)
        return false;
    for (size_t h = 0; h < ctx->nheap; h++) {
        const struct lw_stack *site = ctx->heap_sites[h];
        if (!site)
            continue;
        for (size_t i = 0; i < LW_CP_MAX && r->heap[i]; i++)
            if (any_frame_has(site, r->heap[i]))
                return true;
    }
    return false;
}

static bool sibling_match(const struct lw_cause_rule *r, const struct lw_stack *self,
                          const struct lw_cause_context *ctx)
{
    if (!r->need_sibling)
        return true;
    if (!ctx)
        return false;
    for (size_t i = 0; i < ctx->ngoroutines; i++) {
        const struct lw_stack *o = ctx->goroutines[i].stack;
        if (o && o != self &&
            pattern_match(&r->sibling, o, ctx->goroutines[i].details_age_s, NULL, NULL))
            return true;
    }
    return false;
}

static int best_match(enum lw_cause_target target, const struct lw_stack *st, double growth,
                      double details_age_s, const struct lw_cause_context *ctx,
                      struct lw_cause *out)
{
    const struct lw_cause_rule *best = NULL;
    double best_conf = 0;
    for (size_t i = 0; i < lw__cause_nrules; i++) {
        const struct lw_cause_rule *r = &lw__cause_rules[i];
        if (r->target != target)
            continue;
        bool long_wait = false, wait_missing = false;
        if (!pattern_match(&r->self, st, details_age_s, &long_wait, &wait_missing))
            continue;
        if (!sibling_match(r, st, ctx) || !heap_match(r, ctx))
            continue;
        double conf = r->confidence;
        if (wait_missing)
            conf *= 0.8;
        if (target == LW_CAUSE_GOROUTINE && !(growth > 0) && !long_wait)
            conf *= 0.5;
        if (conf > best_conf) {
            best_conf = conf;
            best = r;
        }
    }
    if (!best)
        return 0;
    if (out) {
        out->id = best->id;
        out->hint = best->hint;
        out->confidence = best_conf;
    }
    return 1;
}

int lw_causes_match_goroutine(const struct lw_cause_subject *s, const struct lw_cause_context *ctx,
                              struct lw_cause *out)
{
    if (!s || !s->stack)
        return 0;
    return best_match(LW_CAUSE_GOROUTINE, s->stack, s->growth_per_hour, s->details_age_s, ctx,
                      out);
}

int lw_causes_match_heap(const struct lw_stack *site, const struct lw_cause_context *ctx,
                         struct lw_cause *out)
{
    if (!site)
        return 0;
    return best_match(LW_CAUSE_HEAP, site, 1.0, 0, ctx, out);
}

int lw_causes_match_bounded(const struct lw_stack *site, struct lw_cause *out)
{
    if (!site)
        return 0;
    return best_match(LW_CAUSE_BOUNDED, site, 1.0, 0, NULL, out);
}

int lw_causes_match_pooled(const struct lw_stack *st, struct lw_cause *out)
{
    if (!st)
        return 0;
    return best_match(LW_CAUSE_POOLED, st, 1.0, 0, NULL, out);
}

size_t lw_causes_count(void)
{
    return lw__cause_nrules;
}

const char *lw_causes_id(size_t i)
{
    return i < lw__cause_nrules ? lw__cause_rules[i].id : NULL;
}
