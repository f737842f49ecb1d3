/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_analyze.c: `leakwatch analyze DIR --limit Q`: the verdict on a
 * recorded trace, or with --replay one verdict per sample time computed only
 * from data up to that time, as a live controller would have seen it.
 */
#include "cli.h"

#include "report/report.h"
#include "trace/trace.h"

#include <stdio.h>
#include <stdlib.h>

static const char help[] =
    "usage: leakwatch analyze DIR --limit Q [--json] [--replay]\n"
    "\n"
    "Judge a trace directory written by 'leakwatch record' (files may also sit in\n"
    "DIR/profiles/): is something leaking, which stacks, and when will the container\n"
    "be OOM-killed at its memory limit.\n"
    "\n"
    "flags:\n"
    "  --limit Q      the container memory limit, a Kubernetes quantity (128Mi, 1G, ...);\n"
    "                 without it there is no OOM forecast\n"
    "  --json         one JSON object (schema: docs/json.md) instead of text\n"
    "  --replay       one verdict per sample time, each from data up to that time only\n"
    "                 (JSON lines with --json). Without it the same verdicts are computed\n"
    "                 and only the last is printed: OOM warnings are held between verdicts\n"
    "                 (docs/analysis.md), so the last depends on the earlier ones\n"
    "  --quiet        do not warn about unreadable profile files\n"
    "\n"
    "Exit codes: 0 no leak (or insufficient data), 3 leak, 4 leak with OOM predicted,\n"
    "1 error (unreadable trace), 2 usage error. With --replay the last verdict counts.\n";

static void warn_cb(void *ud, const char *msg)
{
    if (!*(bool *)ud)
        cli_warn("analyze: skipped %s", msg);
}

int cmd_analyze(int argc, char **argv)
{
    const char *limit_s = NULL;
    bool json = false, replay = false, quiet = false;
    const struct cli_flag flags[] = {
        {"--limit", &limit_s, NULL},
        {"--json", NULL, &json},
        {"--replay", NULL, &replay},
        {"--quiet", NULL, &quiet},
    };
    const char *arg = NULL;
    int rc = cli_parse("analyze", help, argc, argv, flags, LW_ARRAY_SIZE(flags), &arg,
                       "a trace directory");
    if (rc)
        return rc == CLI_HELP_SHOWN ? LW_EXIT_OK : rc;
    double limit = 0;
    if (limit_s && (rc = cli_limit("analyze", limit_s, &limit)))
        return rc;

    struct lw_errbuf eb = {""};
    struct lw_trace tr;
    if (lw_trace_open(arg, &tr, &eb) != LW_OK) {
        cli_err("analyze: %s", eb.msg);
        return LW_EXIT_ERROR;
    }
    size_t nt = 0;
    double *times = lw_trace_times(&tr, &nt);
    struct lw_series *s = lw_series_new(NULL);
    int exit_code = LW_EXIT_OK;
    if (!times || !s) {
        cli_err("analyze: out of memory");
        exit_code = LW_EXIT_ERROR;
        goto out;
    }
    /* Every sample time is judged in order, also without --replay (only the
     * last verdict is printed then): the hysteresis between verdicts
     * (docs/analysis.md) makes the last verdict depend on the earlier ones,
     * and the plain verdict must equal the last replayed one. */
    double from = -1;
    for (size_t i = 0; i < nt; i++) {
        double to = times[i];
        if (i == nt - 1)
            to = 1e18; /* the last step takes everything that is left */
        if (lw_trace_feed(&tr, s, from, to, warn_cb, &quiet) != LW_OK) {
            cli_err("analyze: %s: out of memory while reading the trace", arg);
            exit_code = LW_EXIT_ERROR;
            goto out;
        }
        from = to;
        struct lw_verdict *v = NULL;
        if (lw_analyze_step(s, times[i], limit, &v) != LW_OK) {
            cli_err("analyze: out of memory");
            exit_code = LW_EXIT_ERROR;
            goto out;
        }
        if (!replay && i + 1 < nt) {
            lw_verdict_free(v);
            continue;
        }
        if (json) {
            char *j = lw_report_json(v);
            if (j) {
                puts(j);
                free(j);
            }
        } else if (replay) {
            printf("t=%.0f %s\n", v->t, v->summary);
        } else {
            lw_report_text(v, stdout);
        }
        exit_code = cli_verdict_exit(v);
        lw_verdict_free(v);
    }
    if (nt == 0) {
        cli_err("analyze: %s: no samples to analyze", arg);
        exit_code = LW_EXIT_ERROR;
    }
    if (tr.nskipped && !quiet)
        cli_warn("analyze: %zu unreadable profile files were skipped", tr.nskipped);
out:
    fflush(stdout);
    lw_series_free(s);
    free(times);
    lw_trace_close(&tr);
    return exit_code;
}
