/* SPDX-License-Identifier: Apache-2.0 */
/*
 * httpd.c: the operations HTTP server (/metrics, /healthz, /readyz) as fd
 * watchers on the pkg/loop event loop: no threads, no blocking calls.
 *
 * Each connection is a small state machine:
 *   READ   collect the request head (request line + headers) into a buffer
 *          of max_header_bytes; anything longer is answered with 431;
 *   WRITE  send the response (non-blocking, resumed on writability);
 *   DRAIN  after shutdown(SHUT_WR), read and discard what the client still
 *          sends for a moment, so closing does not reset the connection and
 *          destroy the response in flight (RFC 9112 section 9.6).
 * One timer per connection bounds its whole life (request_timeout for
 * READ/WRITE, a short linger for DRAIN), so a slow or silent client holds
 * one slot for a bounded time and never blocks the loop. Past max_conns a
 * new connection gets a best-effort 503 and is closed at once.
 */
#define _GNU_SOURCE /* accept4 */
#include "ops/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DRAIN_SECONDS 1.0
#define DRAIN_MAX_BYTES (256 * 1024)
#define ACCEPT_BATCH 64
#define RESPONSE_MAX (64 * 1024 * 1024)

enum conn_state { ST_READ, ST_WRITE, ST_DRAIN };

struct conn {
    struct conn *prev, *next;
    struct lw_httpd *srv;
    int fd;
    enum conn_state state;
    char *in;
    size_t inlen;
    struct lw_buf out;
    size_t outoff;
    size_t drained;
    struct lw_timer *timer;
};

struct lw_httpd {
    struct lw_loop *loop;
    struct lw_metrics *metrics;
    int lfd;
    int port;
    size_t max_conns, max_header;
    double timeout;
    int ready, live;
    struct conn *conns;
    size_t nconns;
};

int lw_parse_bind(const char *s, char *host, size_t hostlen, int *port, struct lw_errbuf *eb)
{
    if (!s || !*s)
        return lw_errf(eb, LW_EINVAL, "bind address is empty");
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return lw_errf(eb, LW_EINVAL, "bind address \"%s\": want [addr]:port", s);
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return lw_errf(eb, LW_EINVAL, "bind address \"%s\": want host:port or :port", s);
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl))
            return lw_errf(eb, LW_EINVAL, "bind address \"%s\": put IPv6 addresses in []", s);
    }
    if (hl >= hostlen)
        return lw_errf(eb, LW_EINVAL, "bind address \"%s\": host too long", s);
    const char *p = colon + 1;
    if (!*p)
        return lw_errf(eb, LW_EINVAL, "bind address \"%s\": missing port", s);
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return lw_errf(eb, LW_EINVAL, "bind address \"%s\": port is not a number", s);
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return lw_errf(eb, LW_ERANGE, "bind address \"%s\": port above 65535", s);
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return LW_OK;
}

static int open_listener(const char *host, int port, int *out_fd, int *out_port,
                         struct lw_errbuf *eb)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    int fd = -1, family;
    int any = !*host;
    if (any) {
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            int off = 0;
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
            struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
            a6->sin6_family = AF_INET6;
            a6->sin6_addr = in6addr_any;
            a6->sin6_port = htons((uint16_t)port);
            sl = sizeof *a6;
            family = AF_INET6;
        } else {
            struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
            a4->sin_family = AF_INET;
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
            a4->sin_port = htons((uint16_t)port);
            sl = sizeof *a4;
            family = AF_INET;
        }
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
            a4->sin_family = AF_INET;
            a4->sin_port = htons((uint16_t)port);
            sl = sizeof *a4;
            family = AF_INET;
        } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
            a6->sin6_family = AF_INET6;
            a6->sin6_port = htons((uint16_t)port);
            sl = sizeof *a6;
            family = AF_INET6;
        } else {
            return lw_errf(eb, LW_EINVAL, "bind host \"%s\" is not a numeric IP address", host);
        }
    }
    if (fd < 0)
        fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return lw_errf(eb, LW_EIO, "http: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        int e = errno;
        close(fd);
        return lw_errf(eb, LW_EIO, "http: bind [%s]:%d: %s", host, port, strerror(e));
    }
    if (listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        return lw_errf(eb, LW_EIO, "http: listen: %s", strerror(e));
    }
    sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    return LW_OK;
}

static void conn_close(struct conn *c)
{
    struct lw_httpd *s = c->srv;
    lw_loop_unwatch(s->loop, c->fd);
    close(c->fd);
    lw_timer_cancel(s->loop, c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    free(c->in);
    lw_buf_release(&c->out);
    free(c);
}

static void on_conn_io(struct lw_loop *loop, int fd, int events, void *ud);

static void on_conn_timer(struct lw_loop *loop, void *ud)
{
    struct conn *c = ud;
    c->timer = NULL; /* one-shot: already gone once we return */
    conn_close(c);
}

static int rearm(struct conn *c, double secs)
{
    lw_timer_cancel(c->srv->loop, c->timer);
    c->timer = lw_timer_add(c->srv->loop, secs, 0, on_conn_timer, c);
    return c->timer ? LW_OK : LW_ENOMEM;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

static void start_drain(struct conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = ST_DRAIN;
    if (rearm(c, DRAIN_SECONDS) != LW_OK ||
        lw_loop_watch(c->srv->loop, c->fd, LW_IO_READ, on_conn_io, c, NULL) != LW_OK)
        conn_close(c);
}

/* Write what we can; returns 1 when the connection was closed. */
static int flush_out(struct conn *c)
{
    while (c->outoff < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->outoff, c->out.len - c->outoff, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (lw_loop_watch(c->srv->loop, c->fd, LW_IO_WRITE, on_conn_io, c, NULL)) {
                    conn_close(c);
                    return 1;
                }
                return 0;
            }
            conn_close(c);
            return 1;
        }
        c->outoff += (size_t)w;
    }
    lw_buf_release(&c->out);
    start_drain(c);
    return 0;
}

static void respond(struct conn *c, int status, const char *ctype, const char *body,
                    size_t bodylen, int head_only, const char *extra_header)
{
    c->state = ST_WRITE;
    free(c->in);
    c->in = NULL;
    lw_buf_reset(&c->out);
    int rc = lw_buf_appendf(&c->out,
                            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                            "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
                            status, reason(status), ctype, bodylen,
                            extra_header ? extra_header : "");
    if (!rc && !head_only && bodylen)
        rc = lw_buf_append(&c->out, body, bodylen);
    if (rc) {
        conn_close(c);
        return;
    }
    c->outoff = 0;
    flush_out(c);
}

static void respond_text(struct conn *c, int status, const char *text, int head_only,
                         const char *extra)
{
    respond(c, status, "text/plain; charset=utf-8", text, strlen(text), head_only, extra);
}

static int is_tchar(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static void handle_request(struct conn *c)
{
    struct lw_httpd *s = c->srv;
    char *line = c->in;
    char *eol = strpbrk(line, "\r\n");
    if (eol)
        *eol = '\0';
    /* method SP request-target SP HTTP-version */
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ')) {
        respond_text(c, 400, "bad request line\n", 0, NULL);
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    const char *method = line, *target = sp1 + 1, *version = sp2 + 1;
    for (const char *p = method; *p; p++)
        if (!is_tchar(*p)) {
            respond_text(c, 400, "bad method\n", 0, NULL);
            return;
        }
    if (strncmp(version, "HTTP/1.", 7) != 0 || !version[7] || version[8]) {
        respond_text(c, 400, "unsupported HTTP version\n", 0, NULL);
        return;
    }
    if (target[0] != '/') {
        respond_text(c, 400, "bad request target\n", 0, NULL);
        return;
    }
    size_t plen = strcspn(target, "?#");
    int head = strcmp(method, "HEAD") == 0;
    int known = (plen == 8 && memcmp(target, "/metrics", 8) == 0) ||
                (plen == 8 && memcmp(target, "/healthz", 8) == 0) ||
                (plen == 7 && memcmp(target, "/readyz", 7) == 0);
    if (!known) {
        respond_text(c, 404, "not found\n", head, NULL);
        return;
    }
    if (!head && strcmp(method, "GET") != 0) {
        respond_text(c, 405, "method not allowed\n", 0, "Allow: GET, HEAD\r\n");
        return;
    }
    if (plen == 7) {
        if (s->ready && s->live)
            respond_text(c, 200, "ok\n", head, NULL);
        else
            respond_text(c, 503, "not ready\n", head, NULL);
        return;
    }
    if (memcmp(target, "/healthz", 8) == 0) {
        if (s->live)
            respond_text(c, 200, "ok\n", head, NULL);
        else
            respond_text(c, 503, "shutting down\n", head, NULL);
        return;
    }
    struct lw_buf body = LW_BUF_INIT(RESPONSE_MAX);
    int rc = lw_metrics_render(s->metrics, &body);
    if (rc)
        respond_text(c, 500, "cannot render metrics\n", head, NULL);
    else
        respond(c, 200, LW_METRICS_CONTENT_TYPE, body.data, body.len, head, NULL);
    lw_buf_release(&body);
}

/* End of the request head: "\r\n\r\n" (or bare "\n\n", which RFC 9112 lets
 * a server accept). */
static int head_complete(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == '\n' && p[i + 1] == '\n')
            return 1;
        if (i + 3 < n && p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return 1;
    }
    return 0;
}

static void on_conn_io(struct lw_loop *loop, int fd, int events, void *ud)
{
    struct conn *c = ud;
    if (c->state == ST_WRITE) {
        flush_out(c);
        return;
    }
    if (c->state == ST_DRAIN) {
        char tmp[4096];
        for (;;) {
            ssize_t r = recv(fd, tmp, sizeof tmp, 0);
            if (r > 0) {
                c->drained += (size_t)r;
                if (c->drained > DRAIN_MAX_BYTES) {
                    conn_close(c);
                    return;
                }
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            conn_close(c); /* EOF or error */
            return;
        }
    }
    /* ST_READ */
    size_t cap = c->srv->max_header;
    for (;;) {
        if (c->inlen >= cap) {
            respond_text(c, 431, "request header fields too large\n", 0, NULL);
            return;
        }
        ssize_t r = recv(fd, c->in + c->inlen, cap - c->inlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_close(c); /* client went away before a full request */
            return;
        }
        size_t from = c->inlen >= 3 ? c->inlen - 3 : 0;
        c->inlen += (size_t)r;
        c->in[c->inlen] = '\0';
        if (head_complete(c->in + from, c->inlen - from)) {
            if (memchr(c->in, '\0', c->inlen)) {
                respond_text(c, 400, "NUL byte in request\n", 0, NULL);
                return;
            }
            handle_request(c);
            return;
        }
    }
}

static void reject_busy(int fd)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                              "Content-Length: 5\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
                              "busy\n";
    ssize_t w = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w; /* best effort */
    close(fd);
}

static void on_accept(struct lw_loop *loop, int lfd, int events, void *ud)
{
    struct lw_httpd *s = ud;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error (ECONNABORTED, EMFILE): try next time */
        if (s->nconns >= s->max_conns) {
            reject_busy(fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (c)
            c->in = malloc(s->max_header + 1);
        if (!c || !c->in) {
            if (c)
                free(c);
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        c->state = ST_READ;
        lw_buf_init(&c->out, RESPONSE_MAX + 4096);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        if (rearm(c, s->timeout) != LW_OK ||
            lw_loop_watch(loop, fd, LW_IO_READ, on_conn_io, c, NULL) != LW_OK)
            conn_close(c);
    }
}

struct lw_httpd *lw_httpd_new(struct lw_loop *loop, const struct lw_httpd_opts *opts,
                              struct lw_metrics *metrics, struct lw_errbuf *eb)
{
    char host[128];
    int port;
    const char *bind_s = opts && opts->bind ? opts->bind : ":8080";
    if (lw_parse_bind(bind_s, host, sizeof host, &port, eb))
        return NULL;
    struct lw_httpd *s = calloc(1, sizeof *s);
    if (!s) {
        lw_errf(eb, LW_ENOMEM, "http: out of memory");
        return NULL;
    }
    s->loop = loop;
    s->metrics = metrics;
    s->max_conns = opts && opts->max_conns ? opts->max_conns : 64;
    s->max_header = opts && opts->max_header_bytes ? opts->max_header_bytes : 8192;
    s->timeout = opts && opts->request_timeout > 0 ? opts->request_timeout : 10.0;
    s->live = 1;
    if (open_listener(host, port, &s->lfd, &s->port, eb)) {
        free(s);
        return NULL;
    }
    if (lw_loop_watch(loop, s->lfd, LW_IO_READ, on_accept, s, eb)) {
        close(s->lfd);
        free(s);
        return NULL;
    }
    return s;
}

void lw_httpd_free(struct lw_httpd *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_close(s->conns);
    lw_loop_unwatch(s->loop, s->lfd);
    close(s->lfd);
    free(s);
}

void lw_httpd_set_ready(struct lw_httpd *s, int ready)
{
    s->ready = ready ? 1 : 0;
}

void lw_httpd_set_live(struct lw_httpd *s, int live)
{
    s->live = live ? 1 : 0;
}

int lw_httpd_port(const struct lw_httpd *s)
{
    return s->port;
}

size_t lw_httpd_conn_count(const struct lw_httpd *s)
{
    return s->nconns;
}
