/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h: what the leakwatch commands share: exit codes, a small flag
 * parser, and messages to stderr. Each command lives in cmd_<name>.c.
 *
 * Exit codes (docs/cli.md):
 *   0  success; for analyze/watch: no leak (or not enough data yet)
 *   1  runtime error: unreadable input, network failure, bad data
 *   2  usage error: unknown command or flag, bad flag value
 *   3  analyze/watch: a leak was found
 *   4  analyze/watch: a leak was found and an OOM kill is predicted
 */
#ifndef LW_CLI_H
#define LW_CLI_H

#include <stdbool.h>
#include <stddef.h>

enum {
    LW_EXIT_OK = 0,
    LW_EXIT_ERROR = 1,
    LW_EXIT_USAGE = 2,
    LW_EXIT_LEAK = 3,
    LW_EXIT_OOM = 4,
};

/* Flag table entry. value: where to store the string (NULL for booleans);
 * set: set to true when the flag appears. */
struct cli_flag {
    const char *name;   /* "--out" */
    const char **value; /* string flags */
    bool *set;          /* boolean flags (and "was given" for string flags) */
};

/* Parse argv[1..argc) (argv[0] is the command name) against flags, for a
 * command that takes exactly one positional argument (stored in *arg;
 * arg_what names it in the error, e.g. "a trace directory"). Handles
 * "--flag value", "--flag=value", "--" and -h/--help (prints help to stdout).
 * Returns 0 to go on, CLI_HELP_SHOWN when help was printed (exit 0), or
 * LW_EXIT_USAGE after printing an error naming the flag or argument. */
#define CLI_HELP_SHOWN (-1)
int cli_parse(const char *cmd, const char *help, int argc, char **argv,
              const struct cli_flag *flags, size_t nflags, const char **arg, const char *arg_what);

void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse "--limit" quantity / durations with a clear message; 0 or LW_EXIT_USAGE. */
int cli_limit(const char *cmd, const char *s, double *bytes);
int cli_duration(const char *cmd, const char *flag, const char *s, double *seconds);

/* Set by SIGINT/SIGTERM. */
extern volatile int cli_stop;
void cli_install_signals(void);
/* Sleep up to seconds, returning early when cli_stop is set. */
void cli_sleep(double seconds);
double cli_now(void);

int cmd_record(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_controller(int argc, char **argv);

/* Exit code for a verdict (0, 3 or 4). */
struct lw_verdict;
int cli_verdict_exit(const struct lw_verdict *v);

#endif
