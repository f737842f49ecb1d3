/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop: leakwatch's one event loop (redis `ae` / libuv style).
 *
 *  - epoll for fd readiness (lw_loop_watch),
 *  - a binary heap of timers on the loop's clock (lw_timer_add), one-shot or
 *    repeating,
 *  - a signalfd for SIGTERM/SIGINT (lw_loop_on_signal),
 *  - a libcurl multi handle driven by CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION
 *    and curl_multi_socket_action; finished transfers are reported through a
 *    completion callback found via CURLOPT_PRIVATE after curl_multi_info_read
 *    (lw_loop_http_add), as in curl's docs/examples/ephiperfifo.c,
 *  - a jittered exponential backoff helper (struct lw_backoff) shared by the
 *    API client and the informer.
 *
 * DESIGN
 *  - Single-threaded: every function here must be called from the thread
 *    that runs the loop, and every callback runs on it. Nothing locks.
 *  - Clock: timers use the loop clock, CLOCK_MONOTONIC unless a test injects
 *    its own with lw_loop_set_clock() (a fake clock makes backoff
 *    deterministic: advance it, then lw_loop_run_once(loop, 0) fires what is
 *    due). libcurl's own timeout always runs on the real monotonic clock, so
 *    transfers keep working under a fake clock.
 *  - Callbacks may add or cancel timers and watchers, and add or remove
 *    transfers, except that a transfer must not be removed from inside
 *    libcurl's own callbacks (write/header functions): return an error from
 *    the write function instead, libcurl then completes it.
 *  - Error returns mean the callback will never be called (libuv's rule).
 */
#ifndef LW_LOOP_H
#define LW_LOOP_H

#include "base/base.h"

#include <curl/curl.h>
#include <stdint.h>

struct lw_loop;
struct lw_timer;

/* Seconds on some monotonic scale. */
typedef double (*lw_clock_fn)(void *ud);

typedef void (*lw_timer_cb)(struct lw_loop *loop, void *ud);
typedef void (*lw_io_cb)(struct lw_loop *loop, int fd, int events, void *ud);
typedef void (*lw_signal_cb)(struct lw_loop *loop, int signo, void *ud);
/* A transfer finished (rc is libcurl's result; the HTTP status is on easy).
 * The easy handle has been removed from the multi handle and belongs to the
 * caller again (clean it up or re-add it). */
typedef void (*lw_http_cb)(struct lw_loop *loop, CURL *easy, CURLcode rc, void *ud);

enum lw_io_events {
    LW_IO_READ = 1 << 0,
    LW_IO_WRITE = 1 << 1,
    LW_IO_ERROR = 1 << 2, /* only reported, EPOLLERR/EPOLLHUP */
};

/* Caller owns the loop; free with lw_loop_free(). Needs curl_global_init()
 * done by the caller (once, in main, before any thread). */
struct lw_loop *lw_loop_new(struct lw_errbuf *eb);
/* Frees every timer (no callbacks), removes transfers still running from the
 * multi handle (no callbacks; their easy handles stay the owners' to free),
 * closes the signalfd and restores the signal mask. Owners (pkg/kube) should
 * be freed first. */
void lw_loop_free(struct lw_loop *loop);

/* NULL fn = CLOCK_MONOTONIC. */
void lw_loop_set_clock(struct lw_loop *loop, lw_clock_fn fn, void *ud);
double lw_loop_now(const struct lw_loop *loop);
/* The real monotonic clock, seconds. */
double lw_clock_monotonic(void);

/* ---- timers ------------------------------------------------------------- */

/* Fire cb after delay seconds (clamped at 0), then every repeat seconds if
 * repeat > 0. Returns a handle, NULL when out of memory. A one-shot timer's
 * handle is invalid once its callback has returned; cancelling it from inside
 * its own callback is allowed. Timers due at the same time fire in the order
 * they were added. */
struct lw_timer *lw_timer_add(struct lw_loop *loop, double delay, double repeat, lw_timer_cb cb,
                              void *ud);
/* Stop and free the timer; its callback will not run again. NULL is a no-op. */
void lw_timer_cancel(struct lw_loop *loop, struct lw_timer *t);
/* When the timer fires next, on the loop clock. */
double lw_timer_due(const struct lw_timer *t);
size_t lw_loop_timer_count(const struct lw_loop *loop);

/* ---- fds ------------------------------------------------------------------ */

/* Watch fd for events (LW_IO_READ|LW_IO_WRITE); calling it again for the same
 * fd replaces events/cb/ud. events == 0 is lw_loop_unwatch(). */
int lw_loop_watch(struct lw_loop *loop, int fd, int events, lw_io_cb cb, void *ud,
                  struct lw_errbuf *eb);
void lw_loop_unwatch(struct lw_loop *loop, int fd);

/* ---- signals -------------------------------------------------------------- */

/* Block SIGTERM and SIGINT and deliver them through a signalfd to cb. */
int lw_loop_on_signal(struct lw_loop *loop, lw_signal_cb cb, void *ud, struct lw_errbuf *eb);

/* ---- libcurl multi -------------------------------------------------------- */

/* The loop's multi handle (borrowed), e.g. for CURLMOPT_MAX_TOTAL_CONNECTIONS. */
CURLM *lw_loop_multi(struct lw_loop *loop);
/* Start a transfer. The loop sets CURLOPT_PRIVATE on easy (do not use it
 * yourself) and calls cb once when it finishes. */
int lw_loop_http_add(struct lw_loop *loop, CURL *easy, lw_http_cb cb, void *ud,
                     struct lw_errbuf *eb);
/* Abort a running transfer; its callback will not be called. Not from inside
 * a libcurl callback of the same multi handle. */
void lw_loop_http_remove(struct lw_loop *loop, CURL *easy);
/* Abort a running transfer (its callback will not be called) AND free the
 * easy handle (curl_easy_cleanup): the caller must not touch it again. Safe
 * from anywhere, also from inside a libcurl callback of another transfer
 * (e.g. a watch event handler dropping a pod's scrape), where libcurl
 * refuses curl_multi_remove_handle: the transfer is then paused, cut off
 * from the caller's buffers and callbacks, and reaped as soon as libcurl
 * returns. A NULL easy is ignored. */
void lw_loop_http_discard(struct lw_loop *loop, CURL *easy);
size_t lw_loop_http_count(const struct lw_loop *loop);

/* ---- running -------------------------------------------------------------- */

/* Wait at most max_wait seconds (< 0: until the next timer, or forever if
 * none) for I/O, then dispatch I/O, due timers and finished transfers once.
 * Returns the number of callbacks run, or an lw_err. */
int lw_loop_run_once(struct lw_loop *loop, double max_wait);
/* Run until lw_loop_stop() is called. */
int lw_loop_run(struct lw_loop *loop);
/* Run until *flag becomes non-zero, lw_loop_stop(), or timeout seconds of
 * real time have passed (LW_ERANGE then). For tests and simple drivers. */
int lw_loop_run_until(struct lw_loop *loop, const int *flag, double timeout);
void lw_loop_stop(struct lw_loop *loop);

/* ---- backoff ------------------------------------------------------------- */

/*
 * client-go's reflector backoff: delays start at init and double up to max;
 * each delay d is jittered to d + jitter*rand*d (jitter 1.0: uniform [d, 2d));
 * when no delay was asked for during reset seconds the sequence starts over
 * ("reset after 2 minutes of health"). rand01 returns [0,1); NULL = random().
 */
struct lw_backoff {
    double init, max, factor, jitter, reset;
    double cur;        /* next un-jittered delay; 0 = not started */
    double last;       /* loop-clock time of the last next() call */
    double (*rand01)(void *ud);
    void *rand_ud;
};
void lw_backoff_init(struct lw_backoff *b, double init, double max, double reset);
/* The delay to wait now (seconds), advancing the sequence. */
double lw_backoff_next(struct lw_backoff *b, double now);
void lw_backoff_reset(struct lw_backoff *b);

#endif
