/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape.h: one sample of a Go pprof endpoint for `record` and `watch`:
 * goroutine ?debug=1, optionally ?debug=2, heap (proto and ?debug=1), and
 * goroutineleak ?debug=1 when the target serves it (probed once). Every body
 * is sniffed before it is kept, so an HTML page from a wrong port is an
 * error naming the URL, not a saved file.
 */
#ifndef LW_CMD_SCRAPE_H
#define LW_CMD_SCRAPE_H

#include "fetch/fetch.h"
#include "trace/trace.h"

#include <stdbool.h>

struct scrape_target {
    char base[2048];           /* ".../debug/pprof", no trailing slash */
    struct lw_fetch_opts fopts;
    int leak_state;            /* 0 unknown, 1 served, -1 not served */
};

struct scrape_sample {
    struct lw_buf body[LW_TF_NKINDS];
    bool have[LW_TF_NKINDS];
    int nerrors;
    char first_error[LW_ERRBUF_SIZE];
};

/* 0, or LW_EINVAL when url is not http(s). */
int scrape_target_init(struct scrape_target *tg, const char *url, double timeout_s,
                       struct lw_errbuf *eb);
/* Scrape what is asked; errors of single endpoints are counted in
 * s->nerrors (first message kept) and reported through warn. */
void scrape_sample(struct scrape_target *tg, bool want_debug2, bool want_heap,
                   struct scrape_sample *s);
void scrape_sample_release(struct scrape_sample *s);

#endif
