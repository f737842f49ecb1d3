/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hysteresis.c: keep the OOM warning and the leak verdict from flickering
 * between consecutive verdicts on one series (docs/analysis.md,
 * "Hysteresis"). Raise on the evidence of one verdict; withdraw only when
 * the evidence has been gone for LW_HOLD_STEPS verdicts in a row, at once
 * when memory shows no growth at all and no stack grows, or on a restart.
 */
#include "analysis/analysis_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void lw_verdict_state_init(struct lw_verdict_state *st)
{
    if (st)
        memset(st, 0, sizeof(*st));
}

size_t lw_series_restarts(const struct lw_series *s)
{
    return s ? s->restarts : 0;
}

/* Is there still evidence of growth behind a raised warning? */
static bool oom_supported(const struct lw_verdict *v)
{
    if (v->oom.state == LW_FC_GROWING && v->oom.confidence >= LW_HOLD_CONFIDENCE)
        return true;
    /* a memory plateau (Go memory grows in steps) does not cancel the
     * warning while the goroutines it is attributed to keep growing */
    return (v->kinds & LW_LEAK_GOROUTINE) && v->oom.state == LW_FC_PLATEAU;
}

/* No growth at all: memory flat (or unknown) and no stack grows. */
static bool no_growth(const struct lw_verdict *v)
{
    return (v->oom.state == LW_FC_FLAT || v->oom.state == LW_FC_INSUFFICIENT) &&
           !(v->kinds & (LW_LEAK_GOROUTINE | LW_LEAK_HEAP));
}

/* The kill time of a warning held through a pause of the growth (memory
 * grows in steps; the goroutines behind it still grow): the level now
 * meeting the limit less the last kill margin at the last real rate, as
 * if the growth resumed now. The last real prediction's own time would
 * pass while memory stands still, and say "any moment" for as long as the
 * pause lasts. Without a rate or a level, that last time. */
static double held_at(const struct lw_verdict *v, const struct lw_verdict_state *st)
{
    double level = v->oom.current_bytes, limit = v->oom.limit_bytes;
    if (!(st->oom_rate > 0.0) || !(level > 0.0) || !isfinite(level))
        return st->oom_at;
    double room = limit - st->oom_margin - level;
    double sec = room > 0.0 ? room / st->oom_rate : 0.0;
    if (sec > LW_FC_MAX_SECONDS)
        sec = LW_FC_MAX_SECONDS;
    return v->t + sec;
}

void lw_verdict_hysteresis(struct lw_verdict *v, struct lw_verdict_state *st, size_t restarts)
{
    if (!v || !st)
        return;
    if (restarts != st->restarts) {
        lw_verdict_state_init(st);
        st->restarts = restarts;
    }
    /* OOM warning */
    if (v->oom.predicted) {
        st->oom_on = true;
        st->oom_misses = 0;
        st->oom_at = v->oom.at;
        st->oom_seconds_lo = v->oom.seconds_lo;
        st->oom_seconds_hi = v->oom.seconds_hi;
        st->oom_confidence = v->oom.confidence;
        st->oom_rate = v->oom.growth_bytes_per_hour / 3600.0;
        st->oom_margin = v->oom.kill_margin_bytes;
    } else if (st->oom_on) {
        /* a bounded structure filling: the warning waits (analysis.c) */
        if (no_growth(v) || v->bounded_wait)
            st->oom_on = false;
        else if (oom_supported(v))
            st->oom_misses = 0;
        else if (++st->oom_misses >= LW_HOLD_STEPS)
            st->oom_on = false;
        if (st->oom_on && v->oom.limit_bytes > 0) {
            /* hold: the newest prediction when the forecast has one (it is
             * only below the raise threshold), else re-anchored */
            double at = v->oom.state == LW_FC_GROWING && v->oom.at > 0 ? v->oom.at
                                                                       : held_at(v, st);
            v->oom.predicted = true;
            v->oom.at = at;
            v->oom.seconds_to_oom = at > v->t ? at - v->t : 0;
            if (v->oom.state != LW_FC_GROWING) {
                v->oom.seconds_lo = v->oom.seconds_to_oom;
                v->oom.seconds_hi = v->oom.seconds_to_oom;
                v->oom.confidence = st->oom_confidence;
            }
            v->oom_held = true;
        } else {
            st->oom_on = false;
        }
    }
    /* A raised OOM warning is a leak verdict (kind memory) while held. */
    if (v->oom_held && v->verdict != LW_VERDICT_LEAK) {
        v->verdict = LW_VERDICT_LEAK;
        v->kinds |= LW_LEAK_MEMORY;
        v->leak_held = true;
    }
    if (v->oom_held) {
        size_t len = strlen(v->summary);
        if (len + 1 < sizeof(v->summary))
            snprintf(v->summary + len, sizeof(v->summary) - len,
                     "; OOM warning held (raised earlier, kill expected in ~%.0f s)",
                     v->oom.seconds_to_oom);
    }
}

int lw_analyze_step(struct lw_series *s, double now, double limit_bytes, struct lw_verdict **out)
{
    if (!out)
        return LW_EINVAL;
    *out = NULL;
    if (s && s->restarts != s->vstate.restarts) {
        lw_verdict_state_init(&s->vstate);
        s->vstate.restarts = s->restarts;
    }
    int rc = lw__analyze(s, now, limit_bytes, s && s->vstate.oom_on, out);
    if (rc == LW_OK && *out)
        lw_verdict_hysteresis(*out, &s->vstate, s->restarts);
    return rc;
}
