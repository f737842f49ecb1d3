/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_watch.c: `leakwatch watch URL --limit Q`: live single-target mode.
 * Scrapes on a schedule into memory (nothing is written unless --out),
 * re-judges after every sample, keeps one status line up to date on a
 * terminal (a plain line per sample otherwise), and prints a findings block
 * whenever the verdict, the top stack or the OOM prediction changes.
 *
 * Adaptive escalation: goroutine ?debug=2 is costly for the target (it stops
 * the world for the whole dump), so it is requested only while a leak is
 * suspected, and at most every --debug2-every.
 */
#include "cli.h"
#include "scrape.h"

#include "pprof/pprof.h"
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help[] =
    "usage: leakwatch watch URL --limit Q [flags]\n"
    "\n"
    "Watch one Go service live through its pprof base URL (e.g.\n"
    "http://127.0.0.1:6060/debug/pprof): a status line that updates after every\n"
    "sample, and findings printed whenever they change.\n"
    "\n"
    "flags:\n"
    "  --limit Q           the memory limit (Kubernetes quantity); none = no OOM forecast\n"
    "  --every D           sampling interval                           [15s]\n"
    "  --debug2-every D    at most one debug=2 dump per D, only while a leak is suspected [2m]\n"
    "  --duration D        stop after D (default: until SIGINT/SIGTERM)\n"
    "  --timeout D         per-request timeout                         [10s]\n"
    "  --out DIR           also save every sample as a trace directory\n"
    "  --json              print each verdict as a JSON line instead of the status line\n"
    "\n"
    "Exit codes: as 'analyze' for the last verdict (0 no leak, 3 leak, 4 OOM predicted),\n"
    "1 error (the target could never be scraped), 2 usage error.\n";

static void feed(struct lw_series *s, double t, const struct scrape_sample *smp)
{
    for (int k = 0; k < LW_TF_NKINDS; k++) {
        if (!smp->have[k])
            continue;
        struct lw_profile *p = NULL;
        struct lw_errbuf eb = {""};
        struct lw_pprof_limits lim;
        lw_pprof_limits_default(&lim);
        lim.goid_cut = lw_series_goid_cut(s); /* used by a debug=2 dump only */
        if (lw_pprof_parse(smp->body[k].data, smp->body[k].len, &lim, &p, &eb) != LW_OK) {
            cli_warn("watch: sample %s: %s", lw_trace_suffix((enum lw_trace_file_kind)k), eb.msg);
            continue;
        }
        lw_series_add_profile(s, t, p);
        lw_profile_free(p);
    }
}

/* What makes a finding "new": verdict, OOM predicted, top stack and hint. */
static void finding_key(const struct lw_verdict *v, char *out, size_t len)
{
    snprintf(out, len, "%d|%d|%s|%s", (int)v->verdict, v->oom.predicted,
             v->ntop ? (v->top[0].leaf ? v->top[0].leaf : "") : "",
             v->ntop && v->top[0].hint ? v->top[0].hint : "");
}

int cmd_watch(int argc, char **argv)
{
    const char *limit_s = NULL, *every_s = "15s", *d2_s = "2m", *dur_s = NULL, *timeout_s = "10s",
               *out = NULL;
    bool json = false;
    const struct cli_flag flags[] = {
        {"--limit", &limit_s, NULL},  {"--every", &every_s, NULL}, {"--debug2-every", &d2_s, NULL},
        {"--duration", &dur_s, NULL}, {"--timeout", &timeout_s, NULL}, {"--out", &out, NULL},
        {"--json", NULL, &json},
    };
    const char *arg = NULL;
    int rc = cli_parse("watch", help, argc, argv, flags, LW_ARRAY_SIZE(flags), &arg,
                       "a pprof base URL");
    if (rc)
        return rc == CLI_HELP_SHOWN ? LW_EXIT_OK : rc;
    double limit = 0, every, d2, duration = 0, timeout;
    if ((limit_s && (rc = cli_limit("watch", limit_s, &limit))) ||
        (rc = cli_duration("watch", "--every", every_s, &every)) ||
        (rc = cli_duration("watch", "--debug2-every", d2_s, &d2)) ||
        (rc = cli_duration("watch", "--timeout", timeout_s, &timeout)) ||
        (dur_s && (rc = cli_duration("watch", "--duration", dur_s, &duration))))
        return rc;
    struct lw_errbuf eb = {""};
    struct scrape_target tg;
    if (scrape_target_init(&tg, arg, timeout, &eb) != LW_OK) {
        cli_err("watch: %s", eb.msg);
        return LW_EXIT_USAGE;
    }
    struct lw_series *series = lw_series_new(NULL);
    if (!series) {
        cli_err("watch: out of memory");
        return LW_EXIT_ERROR;
    }
    lw_fetch_global_init();
    cli_install_signals();
    bool tty = isatty(STDOUT_FILENO);
    double start = cli_now(), last_d2 = -1e18;
    long samples = 0, ok_samples = 0;
    bool suspected = false;
    char last_key[1024] = "";
    int exit_code = LW_EXIT_OK;
    while (!cli_stop) {
        double now = cli_now();
        if (duration > 0 && now - start >= duration)
            break;
        bool want_d2 = suspected && now - last_d2 >= d2;
        struct scrape_sample smp;
        scrape_sample(&tg, want_d2, true, &smp);
        if (smp.have[LW_TF_GOROUTINE2])
            last_d2 = now;
        if (out) {
            for (int k = 0; k < LW_TF_NKINDS; k++)
                if (smp.have[k] && lw_trace_write_file(out, (long)now, (enum lw_trace_file_kind)k,
                                                       smp.body[k].data, smp.body[k].len,
                                                       &eb) != LW_OK)
                    cli_warn("watch: %s", eb.msg);
        }
        if (smp.have[LW_TF_GOROUTINE1])
            ok_samples++;
        feed(series, now, &smp);
        scrape_sample_release(&smp);
        samples++;

        struct lw_verdict *v = NULL;
        if (lw_analyze(series, now, limit, &v) == LW_OK) {
            suspected = v->verdict == LW_VERDICT_LEAK || (v->kinds & LW_LEAK_GOROUTINE);
            exit_code = cli_verdict_exit(v);
            if (json) {
                char *j = lw_report_json(v);
                if (j)
                    puts(j);
                free(j);
            } else {
                char a[32], b[32], c[32], d[32];
                char oom[96] = "";
                if (v->oom.predicted)
                    snprintf(oom, sizeof(oom), "  OOM in %.0fm (%.0f%%)", v->oom.seconds_to_oom / 60,
                             v->oom.confidence * 100);
                printf("%s[%s] goroutines %s (%+.0f/h)  mem %s%s%s  %s%s%s", tty ? "\r\033[K" : "",
                       lw_fmt_rfc3339(now, c, sizeof(c)) + 11,
                       lw_fmt_thousands(v->goroutines.last, a, sizeof(a)),
                       v->goroutines.growth_per_hour,
                       lw_fmt_bytes(v->memory.current_bytes, b, sizeof(b)),
                       limit > 0 ? " / " : "",
                       limit > 0 ? lw_fmt_bytes(limit, d, sizeof(d)) : "",
                       lw_verdict_name(v->verdict), oom, tty ? "" : "\n");
                char key[1024];
                finding_key(v, key, sizeof(key));
                if (strcmp(key, last_key) != 0 && v->verdict != LW_VERDICT_INSUFFICIENT) {
                    printf("%s\n--- findings changed ---\n", tty ? "\n" : "");
                    lw_report_text(v, stdout);
                    printf("---\n");
                    memcpy(last_key, key, sizeof(key));
                }
            }
            fflush(stdout);
            lw_verdict_free(v);
        }
        double next = start + (double)samples * every;
        double wait = next - cli_now();
        if (wait > 0)
            cli_sleep(wait);
    }
    if (tty && !json)
        putchar('\n');
    lw_series_free(series);
    lw_fetch_global_cleanup();
    if (ok_samples == 0) {
        cli_err("watch: %s could not be scraped once", tg.base);
        return LW_EXIT_ERROR;
    }
    return exit_code;
}
