/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops_log.c: the logger. Records in both formats are parsed back (JSON
 * with cJSON, logfmt with a small strict parser written here) and every
 * field must round-trip, including quotes, backslashes, newlines, '=',
 * control bytes and invalid UTF-8 (replaced by U+FFFD). Also: level
 * filtering, one line per record on the fd, the timestamp shape, the record
 * cap, and the rate limiter with an injected clock.
 */
#include "harness.h"
#include "ops/ops.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <unistd.h>

static struct lw_buf fmt_rec(enum lw_log_format f, double t, enum lw_log_level l,
                             const char *msg, ...)
{
    struct lw_buf b = LW_BUF_INIT(1 << 20);
    va_list ap;
    va_start(ap, msg);
    CHECK_EQ_INT(lw_log_format_record(&b, f, t, l, msg, ap), LW_OK);
    va_end(ap);
    return b;
}

/* Strict logfmt parser: key=value pairs separated by single spaces, value
 * bare or "quoted" with \" \\ \n \r \t \uXXXX (XXXX < 0x80 only here).
 * Fills keys/vals (malloc'd) and returns the count, -1 on syntax error. */
static int parse_logfmt(const char *line, char **keys, char **vals, int max)
{
    int n = 0;
    const char *p = line;
    while (*p && *p != '\n') {
        if (n == max)
            return -1;
        const char *eq = strchr(p, '=');
        if (!eq || eq == p)
            return -1;
        for (const char *k = p; k < eq; k++)
            if (*k == ' ' || *k == '"')
                return -1;
        keys[n] = strndup(p, (size_t)(eq - p));
        p = eq + 1;
        char *v = malloc(strlen(p) + 1);
        size_t vl = 0;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\') {
                    p++;
                    switch (*p) {
                    case '"': v[vl++] = '"'; break;
                    case '\\': v[vl++] = '\\'; break;
                    case 'n': v[vl++] = '\n'; break;
                    case 'r': v[vl++] = '\r'; break;
                    case 't': v[vl++] = '\t'; break;
                    case 'u': {
                        unsigned x;
                        if (sscanf(p + 1, "%4x", &x) != 1 || x >= 0x80) {
                            free(v);
                            return -1;
                        }
                        v[vl++] = (char)x;
                        p += 4;
                        break;
                    }
                    default:
                        free(v);
                        return -1;
                    }
                    p++;
                } else {
                    if ((unsigned char)*p < 0x20) {
                        free(v);
                        return -1;
                    }
                    v[vl++] = *p++;
                }
            }
            if (*p != '"') {
                free(v);
                return -1;
            }
            p++;
        } else {
            while (*p && *p != ' ' && *p != '\n') {
                if (*p == '"' || *p == '=' || (unsigned char)*p < 0x20) {
                    free(v);
                    return -1;
                }
                v[vl++] = *p++;
            }
        }
        v[vl] = '\0';
        vals[n++] = v;
        if (*p == ' ')
            p++;
        else if (*p && *p != '\n')
            return -1;
    }
    return n;
}

static void free_kv(char **k, char **v, int n)
{
    for (int i = 0; i < n; i++) {
        free(k[i]);
        free(v[i]);
    }
}

static const char *tricky = "say \"hi\"\\ there\nnext=line\ttab\x01 end";

TEST(logfmt_roundtrip)
{
    struct lw_buf b = fmt_rec(LW_LOG_LOGFMT, 1795800600.123, LW_LOG_WARN, "scrape failed",
                              "pod", "ns/web-1", "err", tricky, "empty", "", "nullv", NULL,
                              "bad key!", "x", NULL);
    /* exactly one line */
    CHECK(b.len > 0 && b.data[b.len - 1] == '\n');
    CHECK(strchr(b.data, '\n') == b.data + b.len - 1);
    CHECK(strncmp(b.data, "ts=2026-11-27T17:30:00.123Z ", 28) == 0);
    char *k[16], *v[16];
    int n = parse_logfmt(b.data, k, v, 16);
    CHECK_EQ_INT(n, 8);
    if (n == 8) {
        CHECK_STR(k[0], "ts");
        CHECK_EQ_INT(strlen(v[0]), 24);
        CHECK(v[0][10] == 'T' && v[0][19] == '.' && v[0][23] == 'Z');
        CHECK_STR(v[0] + 19, ".123Z");
        CHECK_STR(k[1], "level");
        CHECK_STR(v[1], "warn");
        CHECK_STR(k[2], "msg");
        CHECK_STR(v[2], "scrape failed");
        CHECK_STR(k[3], "pod");
        CHECK_STR(v[3], "ns/web-1");
        CHECK_STR(k[4], "err");
        CHECK_STR(v[4], tricky);
        CHECK_STR(k[5], "empty");
        CHECK_STR(v[5], "");
        CHECK_STR(k[6], "nullv");
        CHECK_STR(v[6], "");
        CHECK_STR(k[7], "bad_key_");
        CHECK_STR(v[7], "x");
    }
    free_kv(k, v, n > 0 ? n : 0);
    /* bare values stay bare */
    CHECK(strstr(b.data, " pod=ns/web-1 "));
    lw_buf_release(&b);
}

TEST(json_roundtrip)
{
    const char *bad_utf8 = "caf\xc3\xa9 \xff\xfe ok \xe2\x82";
    struct lw_buf b = fmt_rec(LW_LOG_JSON, 1795800600.5, LW_LOG_ERROR, tricky, "pod", "ns/p",
                              "utf8", bad_utf8, "n", NULL, NULL);
    CHECK(strchr(b.data, '\n') == b.data + b.len - 1);
    cJSON *j = cJSON_Parse(b.data);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "level")), "error");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "msg")), tricky);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "pod")), "ns/p");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "n")), "");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "utf8")),
                  "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd ok \xef\xbf\xbd\xef\xbf\xbd");
        const char *ts = cJSON_GetStringValue(cJSON_GetObjectItem(j, "ts"));
        CHECK(ts && strlen(ts) == 24 && strcmp(ts + 19, ".500Z") == 0);
        cJSON_Delete(j);
    }
    lw_buf_release(&b);
}

TEST(record_cap)
{
    char *big = malloc(100000);
    memset(big, 'a', 99999);
    big[99999] = '\0';
    struct lw_buf b = fmt_rec(LW_LOG_JSON, 0, LW_LOG_INFO, "big", "v1", big, "v2", big, "v3",
                              big, "v4", big, "v5", big, NULL);
    CHECK(b.len <= 16 * 1024 + 8);
    cJSON *j = cJSON_Parse(b.data);
    CHECK(j != NULL); /* still valid JSON after cutting */
    if (j) {
        const char *v1 = cJSON_GetStringValue(cJSON_GetObjectItem(j, "v1"));
        CHECK(v1 && strlen(v1) < 5000 && strcmp(v1 + strlen(v1) - 3, "...") == 0);
        cJSON_Delete(j);
    }
    lw_buf_release(&b);
    b = fmt_rec(LW_LOG_LOGFMT, 0, LW_LOG_INFO, "big", "v1", big, "v2", big, "v3", big, "v4",
                big, "v5", big, NULL);
    CHECK(b.len <= 16 * 1024 + 8);
    char *k[16], *v[16];
    int n = parse_logfmt(b.data, k, v, 16);
    CHECK(n >= 4);
    free_kv(k, v, n > 0 ? n : 0);
    lw_buf_release(&b);
    free(big);
}

static double fake_t;
static double fake_now(void)
{
    return fake_t;
}

static char *read_pipe(int fd)
{
    static char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

TEST(levels_and_fd)
{
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    lw_log_set_clock(fake_now);
    fake_t = 1000;
    lw_log_setup(LW_LOG_WARN, LW_LOG_LOGFMT, pfd[1]);
    CHECK(!lw_log_enabled(LW_LOG_INFO));
    CHECK(lw_log_enabled(LW_LOG_ERROR));
    lw_log(LW_LOG_DEBUG, "d", NULL);
    lw_log(LW_LOG_INFO, "i", NULL);
    lw_log(LW_LOG_WARN, "w", "k", "v", NULL);
    lw_log(LW_LOG_ERROR, "e", NULL);
    char *out = read_pipe(pfd[0]);
    CHECK_EQ_INT(count_lines(out), 2);
    CHECK(strstr(out, "ts=1970-01-01T00:16:40.000Z level=warn msg=w k=v\n") == out);
    CHECK(strstr(out, "level=error msg=e\n"));
    enum lw_log_level l;
    CHECK_EQ_INT(lw_log_parse_level("debug", &l), LW_OK);
    CHECK_EQ_INT(l, LW_LOG_DEBUG);
    CHECK_EQ_INT(lw_log_parse_level("warning", &l), LW_OK);
    CHECK_EQ_INT(l, LW_LOG_WARN);
    CHECK_EQ_INT(lw_log_parse_level("loud", &l), LW_EINVAL);
    lw_log_setup(LW_LOG_INFO, LW_LOG_LOGFMT, -1);
    lw_log_set_clock(NULL);
    close(pfd[0]);
    close(pfd[1]);
}

TEST(rate_limit)
{
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    lw_log_set_clock(fake_now);
    fake_t = 5000;
    lw_log_setup(LW_LOG_INFO, LW_LOG_JSON, pfd[1]);
    lw_log_set_ratelimit(3, 60);
    for (int i = 0; i < 10; i++)
        lw_log(LW_LOG_WARN, "scrape failed", "pod", "a", NULL);
    lw_log(LW_LOG_INFO, "other message", NULL); /* different msg: own budget */
    char *out = read_pipe(pfd[0]);
    CHECK_EQ_INT(count_lines(out), 4);
    CHECK(strstr(out, "other message"));
    fake_t += 61; /* next window: one line carrying the count */
    lw_log(LW_LOG_WARN, "scrape failed", "pod", "a", NULL);
    out = read_pipe(pfd[0]);
    CHECK_EQ_INT(count_lines(out), 1);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    if (j) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "suppressed")), "7");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "pod")), "a");
        cJSON_Delete(j);
    }
    lw_log_set_ratelimit(0, 0);
    for (int i = 0; i < 10; i++)
        lw_log(LW_LOG_WARN, "scrape failed", NULL);
    out = read_pipe(pfd[0]);
    CHECK_EQ_INT(count_lines(out), 10);
    lw_log_setup(LW_LOG_INFO, LW_LOG_LOGFMT, -1);
    lw_log_set_clock(NULL);
    close(pfd[0]);
    close(pfd[1]);
}

TEST_LIST(T(logfmt_roundtrip), T(json_roundtrip), T(record_cap), T(levels_and_fd),
          T(rate_limit));
TEST_MAIN()
