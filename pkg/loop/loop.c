/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.c: the event loop of loop.h: epoll, a timer heap, signalfd and the
 * libcurl multi-socket integration (curl's ephiperfifo.c pattern, with the
 * timerfd replaced by the epoll_wait timeout).
 *
 * Timers live in a binary min-heap ordered by (due, seq). A dispatch pass
 * fires only timers that were in the heap when the pass began (seq below the
 * pass's start), so a callback that re-arms a zero-delay timer cannot starve
 * I/O. A timer being fired is marked, so cancelling it from its own callback
 * only flags it and the dispatcher frees it afterwards.
 */
#include "loop/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

struct lw_timer {
    double due;
    double repeat;
    uint64_t seq;
    size_t idx;      /* position in the heap; SIZE_MAX when not in it */
    int firing;
    int cancelled;
    lw_timer_cb cb;
    void *ud;
};

struct io_watch {
    lw_io_cb cb;
    void *ud;
    int events;      /* 0 = not watched */
};

struct http_rec {
    struct http_rec *prev, *next;
    CURL *easy;
    lw_http_cb cb;
    void *ud;
};

struct lw_loop {
    int epfd;
    lw_clock_fn clock;
    void *clock_ud;
    int stopped;

    struct lw_timer **heap;
    size_t nheap, capheap;
    uint64_t next_seq;

    struct io_watch *io;
    size_t nio;      /* slots allocated, indexed by fd */

    int sigfd;
    sigset_t oldmask;
    lw_signal_cb sig_cb;
    void *sig_ud;

    CURLM *multi;
    double curl_deadline;   /* real monotonic seconds; < 0 = none */
    struct http_rec *http;  /* running transfers */
    size_t nhttp;
    int in_curl;               /* inside curl_multi_socket_action (libcurl callbacks may run) */
    struct http_rec *orphans;  /* discarded from inside a libcurl callback: reaped after it */
};

double lw_clock_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double lw_loop_now(const struct lw_loop *loop)
{
    return loop->clock ? loop->clock(loop->clock_ud) : lw_clock_monotonic();
}

void lw_loop_set_clock(struct lw_loop *loop, lw_clock_fn fn, void *ud)
{
    loop->clock = fn;
    loop->clock_ud = ud;
}

/* ---- timer heap ------------------------------------------------------------ */

static int t_less(const struct lw_timer *a, const struct lw_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_swap(struct lw_loop *l, size_t i, size_t j)
{
    struct lw_timer *t = l->heap[i];
    l->heap[i] = l->heap[j];
    l->heap[j] = t;
    l->heap[i]->idx = i;
    l->heap[j]->idx = j;
}

static void heap_up(struct lw_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!t_less(l->heap[i], l->heap[p]))
            break;
        heap_swap(l, i, p);
        i = p;
    }
}

static void heap_down(struct lw_loop *l, size_t i)
{
    for (;;) {
        size_t a = 2 * i + 1, b = a + 1, m = i;
        if (a < l->nheap && t_less(l->heap[a], l->heap[m]))
            m = a;
        if (b < l->nheap && t_less(l->heap[b], l->heap[m]))
            m = b;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

static int heap_push(struct lw_loop *l, struct lw_timer *t)
{
    if (l->nheap == l->capheap) {
        size_t nc = l->capheap ? l->capheap * 2 : 16;
        struct lw_timer **nh = realloc(l->heap, nc * sizeof(*nh));
        if (!nh)
            return LW_ENOMEM;
        l->heap = nh;
        l->capheap = nc;
    }
    t->seq = l->next_seq++;
    t->idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->idx);
    return LW_OK;
}

static void heap_remove(struct lw_loop *l, struct lw_timer *t)
{
    size_t i = t->idx;
    if (i == SIZE_MAX)
        return;
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->idx = i;
        heap_down(l, i);
        heap_up(l, l->heap[i]->idx);
    }
    t->idx = SIZE_MAX;
}

struct lw_timer *lw_timer_add(struct lw_loop *loop, double delay, double repeat, lw_timer_cb cb,
                              void *ud)
{
    struct lw_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (!(delay > 0))
        delay = 0;
    t->due = lw_loop_now(loop) + delay;
    t->repeat = repeat > 0 ? repeat : 0;
    t->cb = cb;
    t->ud = ud;
    t->idx = SIZE_MAX;
    if (heap_push(loop, t) != LW_OK) {
        free(t);
        return NULL;
    }
    return t;
}

void lw_timer_cancel(struct lw_loop *loop, struct lw_timer *t)
{
    if (!t)
        return;
    if (t->firing) {
        t->cancelled = 1;
        return;
    }
    heap_remove(loop, t);
    free(t);
}

double lw_timer_due(const struct lw_timer *t) { return t->due; }
size_t lw_loop_timer_count(const struct lw_loop *loop) { return loop->nheap; }

static int run_timers(struct lw_loop *l)
{
    int n = 0;
    double now = lw_loop_now(l);
    uint64_t limit = l->next_seq;
    while (l->nheap && l->heap[0]->due <= now && l->heap[0]->seq < limit) {
        struct lw_timer *t = l->heap[0];
        heap_remove(l, t);
        t->firing = 1;
        t->cb(l, t->ud);
        n++;
        t->firing = 0;
        if (t->cancelled || t->repeat <= 0) {
            free(t);
            continue;
        }
        t->due += t->repeat;
        if (t->due < now)
            t->due = now + t->repeat; /* fell behind: don't fire a burst */
        if (heap_push(l, t) != LW_OK)
            free(t); /* out of memory: the repeating timer is lost */
    }
    return n;
}

/* ---- fds ------------------------------------------------------------------- */

int lw_loop_watch(struct lw_loop *loop, int fd, int events, lw_io_cb cb, void *ud,
                  struct lw_errbuf *eb)
{
    if (fd < 0)
        return lw_errf(eb, LW_EINVAL, "loop: watch of negative fd %d", fd);
    if (!(events & (LW_IO_READ | LW_IO_WRITE))) {
        lw_loop_unwatch(loop, fd);
        return LW_OK;
    }
    if ((size_t)fd >= loop->nio) {
        size_t n = loop->nio ? loop->nio : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct io_watch *nw = realloc(loop->io, n * sizeof(*nw));
        if (!nw)
            return lw_errf(eb, LW_ENOMEM, "loop: out of memory watching fd %d", fd);
        memset(nw + loop->nio, 0, (n - loop->nio) * sizeof(*nw));
        loop->io = nw;
        loop->nio = n;
    }
    struct io_watch *w = &loop->io[fd];
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = ((events & LW_IO_READ) ? EPOLLIN : 0) | ((events & LW_IO_WRITE) ? EPOLLOUT : 0);
    ev.data.fd = fd;
    int op = w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, fd, &ev) != 0) {
        /* the fd may have been closed and reused behind our back */
        if (op == EPOLL_CTL_MOD && errno == ENOENT)
            op = EPOLL_CTL_ADD;
        else if (op == EPOLL_CTL_ADD && errno == EEXIST)
            op = EPOLL_CTL_MOD;
        else
            return lw_errf(eb, LW_EIO, "loop: epoll_ctl fd %d: %s", fd, strerror(errno));
        if (epoll_ctl(loop->epfd, op, fd, &ev) != 0)
            return lw_errf(eb, LW_EIO, "loop: epoll_ctl fd %d: %s", fd, strerror(errno));
    }
    w->events = events & (LW_IO_READ | LW_IO_WRITE);
    w->cb = cb;
    w->ud = ud;
    return LW_OK;
}

void lw_loop_unwatch(struct lw_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nio || !loop->io[fd].events)
        return;
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL); /* EBADF if already closed: fine */
    memset(&loop->io[fd], 0, sizeof(loop->io[fd]));
}

/* ---- signals ----------------------------------------------------------------- */

static void on_sigfd(struct lw_loop *loop, int fd, int events, void *ud)
{
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (loop->sig_cb)
            loop->sig_cb(loop, (int)si.ssi_signo, loop->sig_ud);
    }
}

int lw_loop_on_signal(struct lw_loop *loop, lw_signal_cb cb, void *ud, struct lw_errbuf *eb)
{
    loop->sig_cb = cb;
    loop->sig_ud = ud;
    if (loop->sigfd >= 0)
        return LW_OK;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, &loop->oldmask) != 0)
        return lw_errf(eb, LW_EIO, "loop: sigprocmask: %s", strerror(errno));
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
        return lw_errf(eb, LW_EIO, "loop: signalfd: %s", strerror(e));
    }
    int rc = lw_loop_watch(loop, loop->sigfd, LW_IO_READ, on_sigfd, NULL, eb);
    if (rc != LW_OK) {
        close(loop->sigfd);
        loop->sigfd = -1;
        sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
    }
    return rc;
}

/* ---- libcurl multi -------------------------------------------------------------- */

static int check_done(struct lw_loop *l)
{
    int n = 0, left = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(l->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        struct http_rec *r = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_multi_remove_handle(l->multi, easy);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (!r)
            continue;
        if (r->prev)
            r->prev->next = r->next;
        else
            l->http = r->next;
        if (r->next)
            r->next->prev = r->prev;
        l->nhttp--;
        lw_http_cb cb = r->cb;
        void *ud = r->ud;
        free(r);
        cb(l, easy, rc, ud);
        n++;
    }
    return n;
}

/* Transfers discarded while libcurl was running a callback: now that it has
 * returned, they can leave the multi handle and be freed. */
static void reap_orphans(struct lw_loop *l)
{
    while (l->orphans) {
        struct http_rec *r = l->orphans;
        l->orphans = r->next;
        curl_multi_remove_handle(l->multi, r->easy);
        curl_easy_cleanup(r->easy);
        free(r);
    }
}

/* Every entry into libcurl that may run transfer callbacks goes through here. */
static void curl_action(struct lw_loop *l, curl_socket_t fd, int flags)
{
    int running = 0;
    l->in_curl++;
    curl_multi_socket_action(l->multi, fd, flags, &running);
    l->in_curl--;
    if (!l->in_curl)
        reap_orphans(l);
}

static void curl_io(struct lw_loop *loop, int fd, int events, void *ud)
{
    (void)ud;
    int flags = ((events & LW_IO_READ) ? CURL_CSELECT_IN : 0) |
                ((events & LW_IO_WRITE) ? CURL_CSELECT_OUT : 0) |
                ((events & LW_IO_ERROR) ? CURL_CSELECT_ERR : 0);
    curl_action(loop, fd, flags);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct lw_loop *loop = userp;
    if (what == CURL_POLL_REMOVE) {
        lw_loop_unwatch(loop, (int)s);
        return 0;
    }
    int ev = ((what & CURL_POLL_IN) ? LW_IO_READ : 0) | ((what & CURL_POLL_OUT) ? LW_IO_WRITE : 0);
    /* an error here leaves the socket unwatched; curl's own timeout ends it */
    lw_loop_watch(loop, (int)s, ev, curl_io, NULL, NULL);
    return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct lw_loop *loop = userp;
    loop->curl_deadline = timeout_ms < 0 ? -1 : lw_clock_monotonic() + (double)timeout_ms / 1000.0;
    return 0;
}

CURLM *lw_loop_multi(struct lw_loop *loop) { return loop->multi; }
size_t lw_loop_http_count(const struct lw_loop *loop) { return loop->nhttp; }

int lw_loop_http_add(struct lw_loop *loop, CURL *easy, lw_http_cb cb, void *ud,
                     struct lw_errbuf *eb)
{
    struct http_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return lw_errf(eb, LW_ENOMEM, "loop: out of memory adding a transfer");
    r->easy = easy;
    r->cb = cb;
    r->ud = ud;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)r);
    CURLMcode mc = curl_multi_add_handle(loop->multi, easy);
    if (mc != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(r);
        return lw_errf(eb, LW_ENET, "loop: curl_multi_add_handle: %s", curl_multi_strerror(mc));
    }
    r->next = loop->http;
    if (loop->http)
        loop->http->prev = r;
    loop->http = r;
    loop->nhttp++;
    return LW_OK;
}

void lw_loop_http_remove(struct lw_loop *loop, CURL *easy)
{
    struct http_rec *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    curl_multi_remove_handle(loop->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (!r)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        loop->http = r->next;
    if (r->next)
        r->next->prev = r->prev;
    loop->nhttp--;
    free(r);
}

static size_t sink_write(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)size, (void)n, (void)ud;
    return 0; /* abort the transfer */
}

static size_t sink_read(char *p, size_t size, size_t n, void *ud)
{
    (void)p, (void)size, (void)n, (void)ud;
    return CURL_READFUNC_ABORT;
}

void lw_loop_http_discard(struct lw_loop *loop, CURL *easy)
{
    if (!easy)
        return;
    struct http_rec *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    if (!loop->in_curl || !r) {
        lw_loop_http_remove(loop, easy);
        curl_easy_cleanup(easy);
        return;
    }
    /* Inside a libcurl callback (e.g. a watch event handler removing a pod's
     * scrape): libcurl refuses curl_multi_remove_handle here
     * (CURLM_RECURSIVE_API_CALL), and curl_easy_cleanup would then free a
     * handle still linked into the multi handle (heap corruption). Stop the
     * transfer, cut every pointer into the caller's memory (freed as soon as
     * we return), and reap it once libcurl has returned. */
    curl_easy_pause(easy, CURLPAUSE_ALL);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, sink_write);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_READFUNCTION, sink_read);
    curl_easy_setopt(easy, CURLOPT_READDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (r->prev)
        r->prev->next = r->next;
    else
        loop->http = r->next;
    if (r->next)
        r->next->prev = r->prev;
    loop->nhttp--;
    r->prev = NULL;
    r->next = loop->orphans;
    loop->orphans = r;
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct lw_loop *lw_loop_new(struct lw_errbuf *eb)
{
    struct lw_loop *l = calloc(1, sizeof(*l));
    if (!l) {
        lw_errf(eb, LW_ENOMEM, "loop: out of memory");
        return NULL;
    }
    l->sigfd = -1;
    l->curl_deadline = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        lw_errf(eb, LW_EIO, "loop: epoll_create1: %s", strerror(errno));
        free(l);
        return NULL;
    }
    l->multi = curl_multi_init();
    if (!l->multi) {
        lw_errf(eb, LW_ENOMEM, "loop: curl_multi_init failed");
        close(l->epfd);
        free(l);
        return NULL;
    }
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    return l;
}

void lw_loop_free(struct lw_loop *loop)
{
    if (!loop)
        return;
    while (loop->http)
        lw_loop_http_remove(loop, loop->http->easy);
    reap_orphans(loop);
    curl_multi_cleanup(loop->multi);
    for (size_t i = 0; i < loop->nheap; i++)
        free(loop->heap[i]);
    free(loop->heap);
    if (loop->sigfd >= 0) {
        close(loop->sigfd);
        sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
    }
    free(loop->io);
    close(loop->epfd);
    free(loop);
}

/* ---- running ---------------------------------------------------------------- */

int lw_loop_run_once(struct lw_loop *loop, double max_wait)
{
    double wait = max_wait;
    if (loop->nheap) {
        double t = loop->heap[0]->due - lw_loop_now(loop);
        if (t < 0)
            t = 0;
        if (wait < 0 || t < wait)
            wait = t;
    }
    if (loop->curl_deadline >= 0) {
        double t = loop->curl_deadline - lw_clock_monotonic();
        if (t < 0)
            t = 0;
        if (wait < 0 || t < wait)
            wait = t;
    }
    int ms = -1;
    if (wait >= 0) {
        double m = wait * 1000.0;
        ms = m > 3600000.0 ? 3600000 : (int)(m + 0.999); /* round up: never spin early */
    }
    struct epoll_event evs[64];
    int n = epoll_wait(loop->epfd, evs, (int)LW_ARRAY_SIZE(evs), ms);
    if (n < 0) {
        if (errno != EINTR)
            return LW_EIO;
        n = 0;
    }
    int ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        if ((size_t)fd >= loop->nio || !loop->io[fd].events)
            continue; /* unwatched by an earlier callback in this batch */
        struct io_watch w = loop->io[fd];
        int ev = ((evs[i].events & EPOLLIN) ? LW_IO_READ : 0) |
                 ((evs[i].events & EPOLLOUT) ? LW_IO_WRITE : 0) |
                 ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? LW_IO_ERROR : 0);
        w.cb(loop, fd, ev, w.ud);
        ran++;
    }
    if (loop->curl_deadline >= 0 && lw_clock_monotonic() >= loop->curl_deadline) {
        loop->curl_deadline = -1;
        curl_action(loop, CURL_SOCKET_TIMEOUT, 0);
    }
    ran += check_done(loop);
    ran += run_timers(loop);
    return ran;
}

int lw_loop_run(struct lw_loop *loop)
{
    loop->stopped = 0;
    while (!loop->stopped) {
        int rc = lw_loop_run_once(loop, -1);
        if (rc < 0)
            return rc;
    }
    return LW_OK;
}

int lw_loop_run_until(struct lw_loop *loop, const int *flag, double timeout)
{
    double end = lw_clock_monotonic() + timeout;
    loop->stopped = 0;
    while (!loop->stopped && !(flag && *flag)) {
        double left = end - lw_clock_monotonic();
        if (left <= 0)
            return LW_ERANGE;
        int rc = lw_loop_run_once(loop, left < 0.25 ? left : 0.25);
        if (rc < 0)
            return rc;
    }
    return LW_OK;
}

void lw_loop_stop(struct lw_loop *loop) { loop->stopped = 1; }

/* ---- backoff ------------------------------------------------------------------ */

void lw_backoff_init(struct lw_backoff *b, double init, double max, double reset)
{
    memset(b, 0, sizeof(*b));
    b->init = init;
    b->max = max;
    b->factor = 2.0;
    b->jitter = 1.0;
    b->reset = reset;
}

void lw_backoff_reset(struct lw_backoff *b) { b->cur = 0; }

double lw_backoff_next(struct lw_backoff *b, double now)
{
    if (b->cur <= 0 || (b->reset > 0 && now - b->last >= b->reset))
        b->cur = b->init;
    double d = b->cur;
    double nx = b->cur * (b->factor > 1 ? b->factor : 2.0);
    b->cur = nx > b->max ? b->max : nx;
    if (d > b->max)
        d = b->max;
    b->last = now;
    double r = b->rand01 ? b->rand01(b->rand_ud) : (double)random() / ((double)RAND_MAX + 1.0);
    return d + b->jitter * r * d;
}
