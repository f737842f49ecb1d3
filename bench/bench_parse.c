/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_parse.c: time lw_pprof_parse() on one profile file (any format,
 * gzip'd or not) and print throughput and the model's memory, so parser
 * speed claims in docs/pprof-parsers.md can be re-measured.
 *
 * Build (from the repo root, after scripts/build.sh build):
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Ipkg bench/bench_parse.c \
 *       build/pkg/pprof/liblw_pprof.a build/pkg/base/liblw_base.a -lz -lm \
 *       -o build/bench_parse
 * Run:
 *   /usr/bin/time -v build/bench_parse tests/fixtures/go1.19/huge/goroutine2.txt.gz [runs]
 *
 * The file is read (and, if gzip'd, inflated) once up front; the timed part
 * is the parse of the plain bytes, repeated `runs` times (default 5), best
 * and mean reported. A last untimed pass through lw_pprof_parse() on the raw
 * file checks the whole path (gunzip + sniff + parse) and times it too.
 */
#include "pprof/pprof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Inflate with zlib directly (the library's gunzip is private). */
static int inflate_all(const char *in, size_t n, struct lw_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return -1;
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    unsigned char chunk[1 << 16];
    int zr;
    do {
        zs.next_out = chunk;
        zs.avail_out = sizeof(chunk);
        zr = inflate(&zs, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END) {
            inflateEnd(&zs);
            return -1;
        }
        if (lw_buf_append(out, chunk, sizeof(chunk) - zs.avail_out) != LW_OK) {
            inflateEnd(&zs);
            return -1;
        }
    } while (zr != Z_STREAM_END);
    inflateEnd(&zs);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE [runs]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1)
        runs = 1;
    struct lw_errbuf eb = {{0}};
    struct lw_buf raw = LW_BUF_INIT((size_t)2 << 30);
    if (lw_read_file(argv[1], &raw, &eb) != LW_OK) {
        fprintf(stderr, "%s\n", eb.msg);
        return 1;
    }
    struct lw_buf plain = LW_BUF_INIT((size_t)2 << 30);
    const char *data = raw.data;
    size_t len = raw.len;
    if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
        if (inflate_all(raw.data, raw.len, &plain) != 0) {
            fprintf(stderr, "%s: gunzip failed\n", argv[1]);
            return 1;
        }
        data = plain.data;
        len = plain.len;
    }
    double best = 1e9, sum = 0;
    struct lw_profile *p = NULL;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        int rc = lw_pprof_parse(data, len, NULL, &p, &eb);
        double dt = now() - t0;
        if (rc != LW_OK) {
            fprintf(stderr, "%s: %s\n", argv[1], eb.msg);
            return 1;
        }
        if (r + 1 < runs)
            lw_profile_free(p);
        best = dt < best ? dt : best;
        sum += dt;
    }
    int64_t frames = 0;
    for (size_t i = 0; i < p->nstacks; i++)
        frames += p->stacks[i].nframes;
    printf("%s: %s/%s, %zu bytes plain, total %" PRId64 ", %zu stacks, %" PRId64 " frames\n",
           argv[1], lw_prof_kind_name(p->kind), lw_prof_format_name(p->format), len, p->total,
           p->nstacks, frames);
    printf("parse: best %.1f ms (%.0f MB/s), mean %.1f ms over %d runs\n", best * 1e3,
           (double)len / best / 1e6, sum / runs * 1e3, runs);
    printf("model memory: arena %.2f MB + stack array %.2f MB\n", (double)p->arena.used / 1e6,
           (double)p->nstacks * sizeof(struct lw_stack) / 1e6);
    lw_profile_free(p);
    lw_buf_release(&plain);
    double t0 = now();
    int rc = lw_pprof_parse(raw.data, raw.len, NULL, &p, &eb);
    double dt = now() - t0;
    if (rc != LW_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], eb.msg);
        return 1;
    }
    printf("whole path (gunzip if any + sniff + parse) on the raw %zu bytes: %.1f ms\n", raw.len,
           dt * 1e3);
    lw_profile_free(p);
    lw_buf_release(&raw);
    return 0;
}
