/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_record.c: `leakwatch record URL --out DIR`: scrape a pprof base URL
 * on a schedule into a trace directory (docs/trace-format.md) that
 * `leakwatch analyze` reads. Optionally samples a cgroup's memory as the
 * container signal (usage.jsonl).
 */
#include "cli.h"
#include "scrape.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: leakwatch record URL --out DIR [flags]\n"
    "\n"
    "Scrape a Go pprof base URL (e.g. http://127.0.0.1:6060/debug/pprof) into DIR:\n"
    "  <unix-seconds>-goroutine.txt   goroutine ?debug=1, every --every\n"
    "  <unix-seconds>-goroutine2.txt  goroutine ?debug=2, every --debug2-every\n"
    "  <unix-seconds>-heap.pb.gz      heap profile (proto), every --heap-every\n"
    "  <unix-seconds>-heap1.txt       heap ?debug=1 with runtime.MemStats, with the heap\n"
    "  <unix-seconds>-goroutineleak.txt  when the target serves /goroutineleak (Go 1.26+)\n"
    "  usage.jsonl                    container memory, with --cgroup\n"
    "\n"
    "flags:\n"
    "  --out DIR            trace directory (created if missing)        [required]\n"
    "  --every D            goroutine sampling interval                  [15s]\n"
    "  --debug2-every D     debug=2 dump interval (costly for the target; 0 = never) [1m]\n"
    "  --heap-every D       heap profile interval                        [= --every]\n"
    "  --duration D         stop after D (default: until SIGINT/SIGTERM, or the target dies)\n"
    "  --timeout D          per-request timeout                          [10s]\n"
    "  --cgroup DIR         cgroup (v1 memory or v2) whose working set goes to usage.jsonl\n"
    "  --max-failures N     stop after N consecutive failed samples (0 = never) [0]\n"
    "\n"
    "Exit codes: 0 ok, 1 error (e.g. nothing could be scraped), 2 usage error.\n";

/* Working set of a cgroup, as the kubelet computes it: usage minus
 * inactive file pages. v1: memory.usage_in_bytes + memory.stat
 * total_inactive_file; v2: memory.current + memory.stat inactive_file. */
static int cgroup_working_set(const char *dir, int64_t *out)
{
    char path[4200];
    long long usage = -1, inactive = 0;
    const char *files[] = {"memory.usage_in_bytes", "memory.current"};
    for (size_t i = 0; i < 2 && usage < 0; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fscanf(f, "%lld", &usage) != 1)
            usage = -1;
        fclose(f);
    }
    if (usage < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/memory.stat", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char key[128];
        long long v;
        while (fscanf(f, "%127s %lld", key, &v) == 2) {
            if (strcmp(key, "total_inactive_file") == 0 || strcmp(key, "inactive_file") == 0) {
                inactive = v;
                if (key[0] == 't')
                    break;
            }
        }
        fclose(f);
    }
    *out = usage > inactive ? usage - inactive : usage;
    return 0;
}

int cmd_record(int argc, char **argv)
{
    const char *out = NULL, *every_s = "15s", *d2_s = "1m", *heap_s = NULL, *dur_s = NULL,
               *timeout_s = "10s", *cgroup = NULL, *maxfail_s = "0";
    const struct cli_flag flags[] = {
        {"--out", &out, NULL},           {"--every", &every_s, NULL},
        {"--debug2-every", &d2_s, NULL}, {"--heap-every", &heap_s, NULL},
        {"--duration", &dur_s, NULL},    {"--timeout", &timeout_s, NULL},
        {"--cgroup", &cgroup, NULL},     {"--max-failures", &maxfail_s, NULL},
    };
    const char *arg = NULL;
    int rc = cli_parse("record", help, argc, argv, flags, LW_ARRAY_SIZE(flags), &arg,
                       "a pprof base URL");
    if (rc)
        return rc == CLI_HELP_SHOWN ? LW_EXIT_OK : rc;
    if (!out) {
        cli_err("record: need --out DIR (see 'leakwatch record --help')");
        return LW_EXIT_USAGE;
    }
    double every, d2 = 0, heap_every, duration = 0, timeout;
    if ((rc = cli_duration("record", "--every", every_s, &every)) ||
        (rc = cli_duration("record", "--timeout", timeout_s, &timeout)))
        return rc;
    if (strcmp(d2_s, "0") != 0 && (rc = cli_duration("record", "--debug2-every", d2_s, &d2)))
        return rc;
    heap_every = every;
    if (heap_s && (rc = cli_duration("record", "--heap-every", heap_s, &heap_every)))
        return rc;
    if (dur_s && (rc = cli_duration("record", "--duration", dur_s, &duration)))
        return rc;
    char *end;
    long maxfail = strtol(maxfail_s, &end, 10);
    if (*end || maxfail < 0) {
        cli_err("record: --max-failures '%s': expected a non-negative integer", maxfail_s);
        return LW_EXIT_USAGE;
    }
    struct lw_errbuf eb = {""};
    struct scrape_target tg;
    if (scrape_target_init(&tg, arg, timeout, &eb) != LW_OK) {
        cli_err("record: %s", eb.msg);
        return LW_EXIT_USAGE;
    }
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        cli_err("record: %s: cannot create: %s", out, strerror(errno));
        return LW_EXIT_ERROR;
    }
    if (cgroup) {
        int64_t ws;
        if (cgroup_working_set(cgroup, &ws) != 0) {
            cli_err("record: --cgroup %s: no memory.usage_in_bytes or memory.current there", cgroup);
            return LW_EXIT_USAGE;
        }
    }
    lw_fetch_global_init();
    cli_install_signals();
    double start = cli_now(), last_d2 = -1e18, last_heap = -1e18;
    long samples = 0, failed_in_row = 0, written = 0, last_t = -1;
    int result = LW_EXIT_OK;
    while (!cli_stop) {
        double now = cli_now();
        if (duration > 0 && now - start >= duration)
            break;
        long t = (long)now;
        if (t == last_t) { /* one sample per second at most: file names are seconds */
            cli_sleep(1.0 - (now - (double)t));
            continue;
        }
        bool want_d2 = d2 > 0 && now - last_d2 >= d2 - 0.5;
        bool want_heap = now - last_heap >= heap_every - 0.5;
        struct scrape_sample s;
        scrape_sample(&tg, want_d2, want_heap, &s);
        int nsaved = 0;
        for (int k = 0; k < LW_TF_NKINDS; k++) {
            if (!s.have[k])
                continue;
            if (lw_trace_write_file(out, t, (enum lw_trace_file_kind)k, s.body[k].data,
                                    s.body[k].len, &eb) != LW_OK) {
                cli_err("record: %s", eb.msg);
                scrape_sample_release(&s);
                lw_fetch_global_cleanup();
                return LW_EXIT_ERROR;
            }
            nsaved++;
        }
        if (s.have[LW_TF_GOROUTINE2])
            last_d2 = now;
        if (s.have[LW_TF_HEAP_PB] || s.have[LW_TF_HEAP1])
            last_heap = now;
        scrape_sample_release(&s);
        if (cgroup) {
            int64_t ws;
            if (cgroup_working_set(cgroup, &ws) == 0 && lw_trace_append_usage(out, t, ws, &eb) != LW_OK)
                cli_warn("record: %s", eb.msg);
        }
        samples++;
        written += nsaved;
        last_t = t;
        failed_in_row = s.have[LW_TF_GOROUTINE1] ? 0 : failed_in_row + 1;
        if (maxfail > 0 && failed_in_row >= maxfail) {
            cli_err("record: %ld consecutive samples failed; last: %s", failed_in_row,
                    s.first_error);
            result = LW_EXIT_ERROR;
            break;
        }
        double next = start + (double)samples * every;
        double wait = next - cli_now();
        if (wait > 0)
            cli_sleep(wait);
    }
    lw_fetch_global_cleanup();
    fprintf(stderr, "leakwatch: record: %ld samples, %ld files written to %s\n", samples, written,
            out);
    if (result == LW_EXIT_OK && written == 0) {
        cli_err("record: nothing could be scraped from %s", tg.base);
        return LW_EXIT_ERROR;
    }
    return result;
}
