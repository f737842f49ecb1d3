/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_trace_jsonl.c: the trace reader's JSON-lines parser (usage.jsonl)
 * on arbitrary bytes: lw_trace_open must return OK or a clear error, never
 * crash or leak. Also fuzzes the duration parser on the same bytes. */
#include "trace/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void cleanup(void)
{
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/lwfuzz-jsonl-%d", (int)getpid());
        if (mkdir(dir, 0700) != 0)
            return 0;
        atexit(cleanup);
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/usage.jsonl", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    if (size)
        fwrite(data, 1, size, f);
    fclose(f);
    struct lw_trace tr;
    struct lw_errbuf eb = {""};
    int rc = lw_trace_open(dir, &tr, &eb);
    if (rc == LW_OK) {
        for (size_t i = 1; i < tr.nusage; i++)
            if (tr.usage[i].t < tr.usage[i - 1].t)
                abort(); /* must be sorted */
        lw_trace_close(&tr);
    } else if (eb.msg[0] == '\0' && rc != LW_ENOMEM) {
        abort(); /* every error has a message */
    }
    unlink(path);
    char s[64];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    double d;
    if (lw_parse_duration(s, &d) == LW_OK && !(d >= 0))
        abort();
    return 0;
}
