/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c: the leakwatch command line: dispatch to a command, shared flag
 * parsing and messages. Commands only parse flags and drive pkg/; the
 * judgement lives in pkg/analysis.
 */
#include "cli.h"

#include "analysis/analysis.h"
#include "quantity/quantity.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

volatile int cli_stop;

static const char usage[] =
    "leakwatch: find the Go goroutine or memory leak before Kubernetes OOMKills the pod\n"
    "\n"
    "usage: leakwatch COMMAND [flags]\n"
    "\n"
    "commands:\n"
    "  record URL --out DIR   scrape a pprof endpoint into a trace directory\n"
    "  analyze DIR --limit Q  judge a recorded trace: leak, top stacks, time to OOM\n"
    "  top FILE               top stacks of one profile (any goroutine/heap format)\n"
    "  watch URL --limit Q    live single-target mode with a status line\n"
    "  controller             watch opted-in pods in a cluster (docs/controller.md)\n"
    "  version                print the version\n"
    "\n"
    "Run 'leakwatch COMMAND --help' for a command's flags. Exit codes:\n"
    "  0 ok / no leak, 1 runtime error, 2 usage error, 3 leak found, 4 leak + OOM predicted\n"
    "Docs: docs/cli.md, docs/trace-format.md, docs/json.md, docs/forecast.md.\n";

void cli_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("leakwatch: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("leakwatch: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse(const char *cmd, const char *help, int argc, char **argv,
              const struct cli_flag *flags, size_t nflags, const char **arg, const char *arg_what)
{
    size_t npos = 0;
    bool want_help = false, only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (npos++ >= 1) {
                cli_err("%s: unexpected argument '%s' (see 'leakwatch %s --help')", cmd, a, cmd);
                return LW_EXIT_USAGE;
            }
            *arg = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            want_help = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        const struct cli_flag *f = NULL;
        for (size_t k = 0; k < nflags; k++)
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, a, nlen) == 0)
                f = &flags[k];
        if (!f) {
            cli_err("%s: unknown flag '%.*s' (see 'leakwatch %s --help')", cmd, (int)nlen, a, cmd);
            return LW_EXIT_USAGE;
        }
        if (f->value) {
            const char *v;
            if (eq) {
                v = eq + 1;
            } else if (i + 1 < argc) {
                v = argv[++i];
            } else {
                cli_err("%s: flag %s needs a value", cmd, f->name);
                return LW_EXIT_USAGE;
            }
            *f->value = v;
        } else if (eq) {
            cli_err("%s: flag %s takes no value", cmd, f->name);
            return LW_EXIT_USAGE;
        }
        if (f->set)
            *f->set = true;
    }
    if (want_help) {
        fputs(help, stdout);
        return CLI_HELP_SHOWN;
    }
    if (npos != 1) {
        cli_err("%s: need %s (see 'leakwatch %s --help')", cmd, arg_what, cmd);
        return LW_EXIT_USAGE;
    }
    return 0;
}

int cli_limit(const char *cmd, const char *s, double *bytes)
{
    struct lw_errbuf eb = {""};
    int64_t v;
    if (lw_quantity_parse(s, &v, &eb) != LW_OK) {
        cli_err("%s: --limit '%s': %s", cmd, s, eb.msg[0] ? eb.msg : "not a quantity");
        return LW_EXIT_USAGE;
    }
    *bytes = (double)v;
    return 0;
}

int cli_duration(const char *cmd, const char *flag, const char *s, double *seconds)
{
    int rc = lw_parse_duration(s, seconds);
    if (rc != LW_OK || *seconds <= 0) {
        cli_err("%s: %s '%s': expected a positive duration such as 15s, 2m or 1h30m", cmd, flag, s);
        return LW_EXIT_USAGE;
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void cli_sleep(double seconds)
{
    double end = cli_now() + seconds;
    while (!cli_stop) {
        double left = end - cli_now();
        if (left <= 0)
            break;
        if (left > 0.2)
            left = 0.2;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int cli_verdict_exit(const struct lw_verdict *v)
{
    if (v->verdict != LW_VERDICT_LEAK)
        return LW_EXIT_OK;
    return v->oom.predicted ? LW_EXIT_OOM : LW_EXIT_LEAK;
}

static int dispatch(const char *c, int argc, char **argv)
{
    if (strcmp(c, "record") == 0)
        return cmd_record(argc, argv);
    if (strcmp(c, "analyze") == 0)
        return cmd_analyze(argc, argv);
    if (strcmp(c, "top") == 0)
        return cmd_top(argc, argv);
    if (strcmp(c, "watch") == 0)
        return cmd_watch(argc, argv);
    if (strcmp(c, "controller") == 0)
        return cmd_controller(argc, argv);
    cli_err("unknown command '%s' (see 'leakwatch --help')", c);
    return LW_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return LW_EXIT_USAGE;
    }
    const char *c = argv[1];
    if (strcmp(c, "-h") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "help") == 0) {
        if (argc > 2 && strcmp(c, "help") == 0) {
            char help_flag[] = "--help";
            char *hv[] = {argv[2], help_flag, NULL};
            return dispatch(argv[2], 2, hv);
        }
        fputs(usage, stdout);
        return LW_EXIT_OK;
    }
    if (strcmp(c, "version") == 0 || strcmp(c, "--version") == 0) {
        printf("leakwatch 0.1.0\n");
        return LW_EXIT_OK;
    }
    return dispatch(c, argc - 1, argv + 1);
}
