/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fetch: one bounded HTTP GET with libcurl, for `record` and `watch`:
 * a total timeout, a response-size cap (LW_ETOOBIG past it, transfer
 * aborted), no redirects followed, http/https only. No credentials are ever
 * attached.
 */
#ifndef LW_FETCH_H
#define LW_FETCH_H

#include "base/base.h"

struct lw_fetch_opts {
    double timeout_s;    /* whole transfer, default 30 */
    size_t max_bytes;    /* default 256 MiB */
};
void lw_fetch_opts_default(struct lw_fetch_opts *o);

/* Call once at program start / end. */
int lw_fetch_global_init(void);
void lw_fetch_global_cleanup(void);

/* GET url into out (appended). On HTTP status != 200 returns LW_EHTTP with
 * *status set and eb naming the URL, the status and the first line of the
 * body. Transport failures are LW_ENET with curl's message. */
int lw_fetch(const char *url, const struct lw_fetch_opts *o, struct lw_buf *out, long *status,
             struct lw_errbuf *eb);

#endif
