/* SPDX-License-Identifier: Apache-2.0 */
/* scrape.c: see scrape.h. */
#include "scrape.h"

#include "cli.h"
#include "pprof/pprof.h"

#include <string.h>

int scrape_target_init(struct scrape_target *tg, const char *url, double timeout_s,
                       struct lw_errbuf *eb)
{
    memset(tg, 0, sizeof(*tg));
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return lw_errf(eb, LW_EINVAL,
                       "%s: expected an http:// or https:// pprof base URL such as "
                       "http://127.0.0.1:6060/debug/pprof",
                       url);
    size_t n = strlen(url);
    if (n >= sizeof(tg->base) - 64)
        return lw_errf(eb, LW_EINVAL, "%.64s...: URL too long", url);
    memcpy(tg->base, url, n + 1);
    while (n > 0 && tg->base[n - 1] == '/')
        tg->base[--n] = '\0';
    lw_fetch_opts_default(&tg->fopts);
    tg->fopts.timeout_s = timeout_s;
    return LW_OK;
}

static void sample_error(struct scrape_sample *s, const char *msg)
{
    if (s->nerrors++ == 0) {
        size_t n = strnlen(msg, sizeof(s->first_error) - 1);
        memcpy(s->first_error, msg, n);
        s->first_error[n] = '\0';
    }
    cli_warn("%s", msg);
}

/* Fetch base+path into s->body[k] if its content sniffs as `want`. */
static int get(struct scrape_target *tg, const char *path, enum lw_trace_file_kind k,
               enum lw_prof_format want, struct scrape_sample *s, bool quiet_404)
{
    char url[2200];
    snprintf(url, sizeof(url), "%s/%s", tg->base, path);
    struct lw_buf *b = &s->body[k];
    lw_buf_init(b, 0);
    struct lw_errbuf eb = {""};
    long status = 0;
    int rc = lw_fetch(url, &tg->fopts, b, &status, &eb);
    if (rc != LW_OK) {
        if (!(quiet_404 && rc == LW_EHTTP && status == 404))
            sample_error(s, eb.msg);
        lw_buf_release(b);
        return rc == LW_EHTTP && status == 404 ? LW_ENOTFOUND : rc;
    }
    enum lw_prof_format f = lw_pprof_sniff(b->data, b->len);
    if (f != want) {
        char msg[2400];
        if (f == LW_FMT_UNKNOWN) {
            struct lw_profile *p = NULL;
            struct lw_errbuf pe = {""};
            lw_pprof_parse(b->data, b->len, NULL, &p, &pe); /* for its message */
            lw_profile_free(p);
            snprintf(msg, sizeof(msg), "%s: not a pprof profile: %s", url,
                     pe.msg[0] ? pe.msg : "unrecognised content");
        } else {
            snprintf(msg, sizeof(msg), "%s: expected a %s profile, got %s", url,
                     lw_prof_format_name(want), lw_prof_format_name(f));
        }
        sample_error(s, msg);
        lw_buf_release(b);
        return LW_EFORMAT;
    }
    s->have[k] = true;
    return LW_OK;
}

void scrape_sample(struct scrape_target *tg, bool want_debug2, bool want_heap,
                   struct scrape_sample *s)
{
    memset(s, 0, sizeof(*s));
    get(tg, "goroutine?debug=1", LW_TF_GOROUTINE1, LW_FMT_DEBUG1, s, false);
    if (want_debug2)
        get(tg, "goroutine?debug=2", LW_TF_GOROUTINE2, LW_FMT_DEBUG2, s, false);
    if (want_heap) {
        get(tg, "heap", LW_TF_HEAP_PB, LW_FMT_PROTO, s, false);
        get(tg, "heap?debug=1", LW_TF_HEAP1, LW_FMT_HEAP1, s, false);
    }
    if (tg->leak_state >= 0) {
        int rc = get(tg, "goroutineleak?debug=1", LW_TF_GOROUTINELEAK, LW_FMT_DEBUG1, s, true);
        if (rc == LW_OK)
            tg->leak_state = 1;
        else if (tg->leak_state == 0)
            tg->leak_state = -1; /* not served (Go < 1.26, experiment off): stop asking */
    }
}

void scrape_sample_release(struct scrape_sample *s)
{
    for (int k = 0; k < LW_TF_NKINDS; k++)
        lw_buf_release(&s->body[k]);
}
