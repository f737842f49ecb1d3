/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_parse.c: time leakwatch's pprof parsers on one profile file (any
 * format, gzip'd or not), the leakwatch side of bench/parse/run.sh (which
 * builds it and runs it next to panicparse and google/pprof; results in
 * docs/benchmarks.md, "Parse speed").
 *
 * Build (from the repo root, after scripts/build.sh build):
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Ipkg bench/bench_parse.c \
 *       build/pkg/pprof/liblw_pprof.a build/pkg/base/liblw_base.a -lz -lm \
 *       -o build/bench_parse
 * Run:
 *   build/bench_parse [--buffer] FILE [runs]
 *
 * Default (stream): each run is lw_pprof_parse_file(), which reads the file
 * 256 KiB at a time and parses as it goes (what `leakwatch top` does), so the
 * peak RSS reported is that of the streaming path: the whole input is never
 * in memory. --buffer reads (and inflates) the file once up front and times
 * lw_pprof_parse() on the plain bytes instead.
 *
 * Prints a summary, then one machine-readable line:
 *   RESULT side=leakwatch mode=stream bytes=FILE_BYTES plain=PLAIN_BYTES runs=R
 *          best_s=.. mean_s=.. cpu_s=.. maxrss_kb=.. parse_kb=.. stacks=S total=T
 *          frames=F
 * (cpu_s: user+system CPU per run, freeing the profile included; maxrss_kb:
 * getrusage peak for the process).
 *
 * parse_kb is the parse's own memory, measured on the first run (a fresh
 * process, as the CLI parses; later runs reuse memory malloc kept from the
 * one before, which would hide it): the process's peak RSS during the run
 * (VmHWM, reset before it by writing 5 to /proc/self/clear_refs) minus its
 * RSS just before it (VmRSS: the bare process, after the file's plain size
 * was measured and zlib's state freed). It counts every page the parse
 * touches: the read buffer, zlib's state, the input (inflated bytes), the
 * parser's working arrays and the profile it returns (alive at the end of
 * the run). -1 when /proc/self/clear_refs cannot be written. (With --buffer
 * the plain bytes were read before the run and are not counted.)
 */
#include "pprof/pprof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* A "Name:  N kB" line of /proc/self/status, in KiB; -1 if absent. */
static long status_kb(const char *name)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    size_t n = strlen(name);
    long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* Reset VmHWM to the current RSS; 0 on success. */
static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Plain size of a file, inflating (without keeping) gzip'd ones; -1 on error.
 * If keep is not NULL the plain bytes are kept there. */
static long long plain_bytes(const char *path, struct lw_buf *keep)
{
    gzFile g = gzopen(path, "rb"); /* reads plain files as they are */
    if (!g)
        return -1;
    static char chunk[1 << 16];
    long long n = 0;
    int k;
    while ((k = gzread(g, chunk, sizeof(chunk))) > 0) {
        n += k;
        if (keep && lw_buf_append(keep, chunk, (size_t)k) != LW_OK) {
            gzclose(g);
            return -1;
        }
    }
    gzclose(g);
    return k < 0 ? -1 : n;
}

int main(int argc, char **argv)
{
    int ai = 1, buffer = 0;
    if (ai < argc && strcmp(argv[ai], "--buffer") == 0) {
        buffer = 1;
        ai++;
    }
    if (ai >= argc) {
        fprintf(stderr, "usage: %s [--buffer] FILE [runs]\n", argv[0]);
        return 2;
    }
    const char *path = argv[ai];
    int runs = ai + 1 < argc ? atoi(argv[ai + 1]) : 5;
    if (runs < 1)
        runs = 1;
    struct lw_errbuf eb = {{0}};
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    size_t file_bytes = (size_t)st.st_size;
    struct lw_buf plain = LW_BUF_INIT((size_t)2 << 30);
    long long pb = plain_bytes(path, buffer ? &plain : NULL);
    if (pb < 0) {
        fprintf(stderr, "%s: cannot read (or inflate)\n", path);
        return 1;
    }
    double best = 1e9, sum = 0, cpu_sum = 0;
    long parse_kb = -1, before = -1;
    struct lw_profile *p = NULL;
    for (int r = 0; r < runs; r++) {
        if (r == 0) /* not timed */
            before = reset_hwm() == 0 ? status_kb("VmRSS") : -1;
        double c0 = cpu(), t0 = now();
        int rc = buffer ? lw_pprof_parse(plain.data, plain.len, NULL, &p, &eb)
                        : lw_pprof_parse_file(path, NULL, &p, &eb);
        double dt = now() - t0;
        cpu_sum += cpu() - c0;
        if (rc != LW_OK) {
            fprintf(stderr, "%s: %s\n", path, eb.msg);
            return 1;
        }
        if (r == 0 && before >= 0) {
            long hwm = status_kb("VmHWM");
            parse_kb = hwm < 0 ? -1 : hwm > before ? hwm - before : 0;
        }
        if (r + 1 < runs) {
            double c1 = cpu(); /* freeing the profile counts as the run's CPU time, as before */
            lw_profile_free(p);
            cpu_sum += cpu() - c1;
        }
        best = dt < best ? dt : best;
        sum += dt;
    }
    double cpu_run = cpu_sum / runs;
    int64_t frames = 0;
    for (size_t i = 0; i < p->nstacks; i++)
        frames += p->stacks[i].nframes;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s: %s/%s, %zu bytes (%lld plain), total %" PRId64 ", %zu stacks, %" PRId64
           " frames\n",
           path, lw_prof_kind_name(p->kind), lw_prof_format_name(p->format), file_bytes, pb,
           p->total, p->nstacks, frames);
    printf("%s: best %.1f ms (%.0f MB/s of plain text), mean %.1f ms over %d runs\n",
           buffer ? "lw_pprof_parse (buffer)" : "lw_pprof_parse_file (stream)", best * 1e3,
           (double)pb / best / 1e6, sum / runs * 1e3, runs);
    printf("model memory: arena %.2f MB + stack array %.2f MB; peak RSS %ld KB; parse memory "
           "(first run: peak RSS during it - RSS before it) %ld KB (%.2fx the plain input)\n",
           (double)p->arena.used / 1e6, (double)p->nstacks * sizeof(struct lw_stack) / 1e6,
           ru.ru_maxrss, parse_kb, (double)parse_kb * 1024 / (double)pb);
    printf("RESULT side=leakwatch mode=%s bytes=%zu plain=%lld runs=%d best_s=%.6f mean_s=%.6f "
           "cpu_s=%.4f maxrss_kb=%ld parse_kb=%ld stacks=%zu total=%" PRId64
           " frames=%" PRId64 "\n",
           buffer ? "buffer" : "stream", file_bytes, pb, runs, best, sum / runs, cpu_run,
           ru.ru_maxrss, parse_kb, p->nstacks, p->total, frames);
    lw_profile_free(p);
    lw_buf_release(&plain);
    return 0;
}
