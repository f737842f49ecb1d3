/* SPDX-License-Identifier: Apache-2.0 */
/*
 * trace: the on-disk trace directory that `leakwatch record` writes and
 * `leakwatch analyze` reads (docs/trace-format.md):
 *
 *   DIR/<unix-seconds>-goroutine.txt      goroutine ?debug=1
 *   DIR/<unix-seconds>-goroutine2.txt     goroutine ?debug=2
 *   DIR/<unix-seconds>-goroutine.pb.gz    goroutine profile.proto (accepted, optional)
 *   DIR/<unix-seconds>-goroutineleak.txt  goroutineleak ?debug=1 (when served)
 *   DIR/<unix-seconds>-heap.pb.gz         heap profile.proto
 *   DIR/<unix-seconds>-heap1.txt          heap ?debug=1 (with MemStats)
 *   DIR/usage.jsonl                       {"t": <unix seconds>, "bytes": N} per line
 *   DIR/restarts.jsonl                    {"t": <unix seconds>} per line (optional)
 * Files may also sit in DIR/profiles/. Unknown files are ignored.
 */
#ifndef LW_TRACE_H
#define LW_TRACE_H

#include "analysis/analysis.h"
#include "base/base.h"

enum lw_trace_file_kind {
    LW_TF_GOROUTINE1 = 0,
    LW_TF_GOROUTINE2,
    LW_TF_GOROUTINELEAK,
    LW_TF_HEAP_PB,
    LW_TF_HEAP1,
    LW_TF_GOROUTINE_PB,
    LW_TF_NKINDS
};
/* File name suffix, e.g. "goroutine.txt". */
const char *lw_trace_suffix(enum lw_trace_file_kind k);

struct lw_trace_file {
    double t;
    enum lw_trace_file_kind kind;
    char *path;
};

struct lw_trace {
    struct lw_trace_file *files;   /* sorted by t, then kind */
    size_t nfiles;
    struct lw_mem_point *usage;    /* sorted by t */
    size_t nusage;
    double *restarts;
    size_t nrestarts;
    size_t nskipped;               /* unreadable/bad files skipped while feeding */
};

/* Index DIR (and DIR/profiles). LW_ENOTFOUND when it holds no trace files. */
int lw_trace_open(const char *dir, struct lw_trace *tr, struct lw_errbuf *eb);
void lw_trace_close(struct lw_trace *tr);

/* Distinct sample times (of goroutine files, else any file), sorted; caller frees. */
double *lw_trace_times(const struct lw_trace *tr, size_t *n);

/* Parse and feed every file and usage point with from < t <= to into s
 * (restarts in that window call lw_series_restart). A file that fails to
 * parse is skipped, counted in tr->nskipped, and reported through warn (may
 * be NULL) with its path and the reason. Returns 0 or LW_ENOMEM. */
typedef void (*lw_trace_warn_fn)(void *ud, const char *msg);
int lw_trace_feed(struct lw_trace *tr, struct lw_series *s, double from, double to,
                  lw_trace_warn_fn warn, void *ud);

/* Write helpers for `record`: path DIR/<t>-<suffix>, written atomically
 * (temp file + rename). */
int lw_trace_write_file(const char *dir, long t, enum lw_trace_file_kind k, const void *data,
                        size_t len, struct lw_errbuf *eb);
int lw_trace_append_usage(const char *dir, long t, int64_t bytes, struct lw_errbuf *eb);

#endif
