/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c: leakwatch's structured logger (see ops.h). One record is built in
 * a bounded buffer and written with a single write(2), so lines from the
 * process never interleave. A tiny table keyed by the message text rate
 * limits repeated messages (client-go's event spam filter idea, applied to
 * logs): a flood of "scrape failed" costs a few lines per window plus a
 * suppressed=N count.
 */
#include "ops/ops.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAX_RECORD (16 * 1024)
#define LOG_RL_SLOTS 64

static struct {
    enum lw_log_level min;
    enum lw_log_format fmt;
    int fd;
    double (*now)(void);
    unsigned rl_burst;
    double rl_window;
} g_log = {LW_LOG_INFO, LW_LOG_LOGFMT, 2, NULL, 0, 0};

struct rl_slot {
    uint64_t key;     /* hash of msg; 0 = empty */
    double start;     /* window start */
    unsigned count;   /* records in this window */
    unsigned long suppressed;
};
static struct rl_slot g_rl[LOG_RL_SLOTS];

static double real_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void lw_log_setup(enum lw_log_level min, enum lw_log_format fmt, int fd)
{
    g_log.min = min;
    g_log.fmt = fmt;
    g_log.fd = fd < 0 ? 2 : fd;
}

void lw_log_set_ratelimit(unsigned burst, double window_seconds)
{
    g_log.rl_burst = burst;
    g_log.rl_window = window_seconds > 0 ? window_seconds : 0;
    memset(g_rl, 0, sizeof g_rl);
}

void lw_log_set_clock(double (*now)(void))
{
    g_log.now = now;
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *lw_log_level_name(enum lw_log_level l)
{
    return (unsigned)l < 4 ? level_names[l] : "unknown";
}

int lw_log_parse_level(const char *s, enum lw_log_level *out)
{
    if (!s)
        return LW_EINVAL;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum lw_log_level)i;
            return LW_OK;
        }
    if (strcmp(s, "warning") == 0) {
        *out = LW_LOG_WARN;
        return LW_OK;
    }
    return LW_EINVAL;
}

int lw_log_enabled(enum lw_log_level level)
{
    return level >= g_log.min;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Append s escaped for a double-quoted string (JSON rules, which logfmt
 * readers accept too), at most maxlen input bytes. */
static int put_escaped(struct lw_buf *b, const char *s, size_t maxlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    int cut = 0;
    if (n > maxlen) {
        n = maxlen;
        cut = 1;
    }
    while (i < n) {
        unsigned char c = p[i];
        char esc[8];
        int rc;
        if (c == '"') rc = lw_buf_append(b, "\\\"", 2);
        else if (c == '\\') rc = lw_buf_append(b, "\\\\", 2);
        else if (c == '\n') rc = lw_buf_append(b, "\\n", 2);
        else if (c == '\r') rc = lw_buf_append(b, "\\r", 2);
        else if (c == '\t') rc = lw_buf_append(b, "\\t", 2);
        else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rc = lw_buf_append(b, esc, 6);
        } else if (c < 0x80) {
            rc = lw_buf_append(b, &p[i], 1);
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                rc = lw_buf_append(b, "\xef\xbf\xbd", 3);
            } else {
                rc = lw_buf_append(b, &p[i], l);
                i += l - 1;
            }
        }
        if (rc)
            return rc;
        i++;
    }
    if (cut)
        return lw_buf_append(b, "...", 3);
    return LW_OK;
}

static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f || *p >= 0x80)
            return 1;
    return 0;
}

static int put_key(struct lw_buf *b, const char *k)
{
    char tmp[64];
    size_t n = 0;
    for (; k[n] && n < sizeof tmp - 1; n++) {
        char c = k[n];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        tmp[n] = ok ? c : '_';
    }
    if (n == 0)
        tmp[n++] = '_';
    return lw_buf_append(b, tmp, n);
}

static int put_value(struct lw_buf *b, enum lw_log_format fmt, const char *v, size_t maxlen)
{
    int rc;
    if (fmt == LW_LOG_LOGFMT && !needs_quotes(v) && strlen(v) <= maxlen)
        return lw_buf_append(b, v, strlen(v));
    if ((rc = lw_buf_append(b, "\"", 1)))
        return rc;
    if ((rc = put_escaped(b, v, maxlen)))
        return rc;
    return lw_buf_append(b, "\"", 1);
}

static int put_field(struct lw_buf *b, enum lw_log_format fmt, const char *k, const char *v,
                     size_t maxlen)
{
    int rc;
    if (fmt == LW_LOG_JSON) {
        if ((rc = lw_buf_append(b, ",\"", 2)) || (rc = put_key(b, k)) ||
            (rc = lw_buf_append(b, "\":", 2)))
            return rc;
    } else {
        if ((b->len && (rc = lw_buf_append(b, " ", 1))) || (rc = put_key(b, k)) ||
            (rc = lw_buf_append(b, "=", 1)))
            return rc;
    }
    return put_value(b, fmt, v ? v : "", maxlen);
}

static void fmt_ts(double t, char *out, size_t n)
{
    /* round to the millisecond first so 0.123 does not print as .122 */
    long long total = llround(t * 1000.0);
    long long q = total / 1000, r = total % 1000;
    if (r < 0) {
        r += 1000;
        q--;
    }
    time_t secs = (time_t)q;
    int ms = (int)r;
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

int lw_log_format_record(struct lw_buf *out, enum lw_log_format fmt, double unix_time,
                         enum lw_log_level level, const char *msg, va_list ap)
{
    /* Built in a private capped buffer, so a record is all or nothing. */
    struct lw_buf b = LW_BUF_INIT(LOG_MAX_RECORD);
    char ts[40];
    int rc = LW_OK;
    fmt_ts(unix_time, ts, sizeof ts);
    if (fmt == LW_LOG_JSON) {
        rc = lw_buf_append(&b, "{\"ts\":\"", 7);
        if (!rc)
            rc = lw_buf_appendf(&b, "%s\",\"level\":\"%s\"", ts, lw_log_level_name(level));
    } else {
        rc = lw_buf_appendf(&b, "ts=%s level=%s", ts, lw_log_level_name(level));
    }
    /* Each value gets at most 4 KiB; the record as a whole is capped too. */
    if (!rc)
        rc = put_field(&b, fmt, "msg", msg ? msg : "", 4096);
    va_list aq;
    va_copy(aq, ap);
    for (;;) {
        const char *k = va_arg(aq, const char *);
        if (!k)
            break;
        const char *v = va_arg(aq, const char *);
        if (!rc && b.len + 64 < LOG_MAX_RECORD) {
            size_t room = LOG_MAX_RECORD - b.len - 64;
            int r2 = put_field(&b, fmt, k, v, LW_MIN((size_t)4096, room / 6));
            if (r2)
                rc = r2;
        }
    }
    va_end(aq);
    if (rc == LW_ETOOBIG)
        rc = LW_OK; /* keep what fits; the closing bytes below always fit */
    if (!rc) {
        b.max += 8;
        if (fmt == LW_LOG_JSON)
            rc = lw_buf_append(&b, "}\n", 2);
        else
            rc = lw_buf_append(&b, "\n", 1);
    }
    if (!rc)
        rc = lw_buf_append(out, b.data, b.len);
    lw_buf_release(&b);
    return rc;
}

/* Returns 1 to write, 0 to suppress; *suppressed gets the count to report. */
static int ratelimit(const char *msg, double now, unsigned long *suppressed)
{
    *suppressed = 0;
    if (!g_log.rl_burst || g_log.rl_window <= 0 || !msg)
        return 1;
    uint64_t key = lw_fnv1a(LW_FNV_INIT, msg, strlen(msg));
    if (key == 0)
        key = 1;
    size_t idx = key % LOG_RL_SLOTS;
    struct rl_slot *s = &g_rl[idx];
    if (s->key != key) {
        /* new message (or a collision: the newcomer takes the slot) */
        s->key = key;
        s->start = now;
        s->count = 1;
        s->suppressed = 0;
        return 1;
    }
    if (now - s->start >= g_log.rl_window) {
        *suppressed = s->suppressed;
        s->start = now;
        s->count = 1;
        s->suppressed = 0;
        return 1;
    }
    if (s->count < g_log.rl_burst) {
        s->count++;
        return 1;
    }
    s->suppressed++;
    return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere to report a failing log stream */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void emit(enum lw_log_level level, const char *msg, double now, unsigned long suppressed,
                 va_list ap)
{
    struct lw_buf b = LW_BUF_INIT(LOG_MAX_RECORD + 256);
    if (lw_log_format_record(&b, g_log.fmt, now, level, msg, ap) == LW_OK && b.len) {
        if (suppressed) {
            /* splice suppressed=N before the line end */
            char extra[64];
            int n;
            if (g_log.fmt == LW_LOG_JSON)
                n = snprintf(extra, sizeof extra, ",\"suppressed\":\"%lu\"}\n", suppressed);
            else
                n = snprintf(extra, sizeof extra, " suppressed=%lu\n", suppressed);
            b.len -= g_log.fmt == LW_LOG_JSON ? 2 : 1;
            b.data[b.len] = '\0';
            lw_buf_append(&b, extra, (size_t)n);
        }
        write_all(g_log.fd, b.data, b.len);
    }
    lw_buf_release(&b);
}

void lw_logv(enum lw_log_level level, const char *msg, va_list ap)
{
    if (level < g_log.min)
        return;
    double now = g_log.now ? g_log.now() : real_now();
    unsigned long suppressed;
    if (!ratelimit(msg, now, &suppressed))
        return;
    emit(level, msg, now, suppressed, ap);
}

void lw_log(enum lw_log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    lw_logv(level, msg, ap);
    va_end(ap);
}
