/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay_main.c: a driver that runs a libFuzzer entry point
 * (LLVMFuzzerTestOneInput) without libFuzzer, so every fuzz target also runs
 * in the ordinary test suite under gcc, ASan+UBSan and valgrind:
 *   1. every file under the given directories (recursively, each capped at
 *      8 MiB) is fed as is;
 *   2. then LW_FUZZ_ITERS (default 3000) deterministic mutations of those
 *      inputs are fed: truncations, bit flips, byte insertions and deletions,
 *      splices of two inputs, and runs of repeated bytes.
 * A crash, sanitizer report or hang (ctest timeout) fails the test.
 * Usage: fuzz_x_replay DIR [DIR...]
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    uint8_t *data;
    size_t len;
};
static struct input *inputs;
static size_t ninputs, capinputs;

static void add_input(const uint8_t *d, size_t n)
{
    if (ninputs == capinputs) {
        capinputs = capinputs ? capinputs * 2 : 64;
        inputs = realloc(inputs, capinputs * sizeof(*inputs));
        if (!inputs)
            abort();
    }
    inputs[ninputs].data = malloc(n ? n : 1);
    if (!inputs[ninputs].data)
        abort();
    memcpy(inputs[ninputs].data, d, n);
    inputs[ninputs].len = n;
    ninputs++;
}

static void load(const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0 || depth > 6)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            load(sub, depth + 1);
        }
        closedir(d);
        return;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > 8 * 1024 * 1024)
        return;
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)st.st_size, f) : 0;
    fclose(f);
    if (buf)
        add_input(buf, n);
    free(buf);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        load(argv[i], 0);
    if (ninputs == 0)
        add_input((const uint8_t *)"", 0);
    for (size_t i = 0; i < ninputs; i++)
        LLVMFuzzerTestOneInput(inputs[i].data, inputs[i].len);
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0); /* libFuzzer never passes NULL */

    const char *it = getenv("LW_FUZZ_ITERS");
    long iters = it ? atol(it) : 3000;
    size_t bufcap = 1 << 20;
    uint8_t *buf = malloc(bufcap);
    if (!buf)
        return 1;
    for (long k = 0; k < iters; k++) {
        const struct input *in = &inputs[next() % ninputs];
        /* mutate at most the first 1 MiB of big inputs, keeps runtime bounded */
        size_t n = in->len < bufcap / 2 ? in->len : bufcap / 2;
        memcpy(buf, in->data, n);
        int nmut = 1 + (int)(next() % 4);
        for (int m = 0; m < nmut; m++) {
            size_t pos = n ? next() % n : 0;
            switch (next() % 6) {
            case 0: /* truncate */
                n = pos;
                break;
            case 1: /* bit flip */
                if (n)
                    buf[pos] ^= (uint8_t)(1u << (next() % 8));
                break;
            case 2: /* random byte */
                if (n)
                    buf[pos] = (uint8_t)next();
                break;
            case 3: { /* delete a span */
                size_t len = n - pos ? next() % (n - pos) % 64 : 0;
                memmove(buf + pos, buf + pos + len, n - pos - len);
                n -= len;
                break;
            }
            case 4: { /* insert repeated bytes */
                size_t len = 1 + next() % 32;
                if (n + len >= bufcap)
                    break;
                memmove(buf + pos + len, buf + pos, n - pos);
                memset(buf + pos, (int)(next() % 4 == 0 ? 0xff : "\t\n 0:#@{"[next() % 8]), len);
                n += len;
                break;
            }
            case 5: { /* splice another input's tail */
                const struct input *o = &inputs[next() % ninputs];
                size_t from = o->len ? next() % o->len : 0;
                size_t len = o->len - from;
                if (pos + len >= bufcap)
                    len = bufcap - pos - 1;
                memcpy(buf + pos, o->data + from, len);
                n = pos + len;
                break;
            }
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    free(buf);
    for (size_t i = 0; i < ninputs; i++)
        free(inputs[i].data);
    free(inputs);
    printf("%zu inputs, %ld mutations: 0 crashes\n", ninputs, iters);
    return 0;
}
