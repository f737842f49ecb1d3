/* SPDX-License-Identifier: Apache-2.0 */
/* test_base.c: bounded buffers, arena caps, string interning, durations,
 * number formatting, and bounded gunzip. */
#include "harness.h"

#include "base/base.h"
#include "pprof/pprof_int.h"

#include <zlib.h>

TEST(buf_cap)
{
    struct lw_buf b = LW_BUF_INIT(10);
    CHECK_EQ_INT(lw_buf_append(&b, "12345", 5), LW_OK);
    CHECK_EQ_INT(lw_buf_append(&b, "67890", 5), LW_OK);
    CHECK_EQ_INT(lw_buf_append(&b, "x", 1), LW_ETOOBIG);
    CHECK_EQ_INT(b.len, 10);
    CHECK_STR(b.data, "1234567890"); /* NUL-terminated, unchanged by the failed append */
    lw_buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(lw_buf_appendf(&b, "%d-%s", 42, "ab"), LW_OK);
    CHECK_STR(b.data, "42-ab");
    CHECK_EQ_INT(lw_buf_appendf(&b, "%s", "too long for the rest"), LW_ETOOBIG);
    size_t n;
    char *d = lw_buf_detach(&b, &n);
    CHECK_EQ_INT(n, 5);
    CHECK(b.data == NULL);
    free(d);
    lw_buf_release(&b);
}

TEST(arena_cap)
{
    struct lw_arena a;
    lw_arena_init(&a, 256 * 1024);
    size_t got = 0;
    while (lw_arena_alloc(&a, 1000))
        got++;
    CHECK(got > 100 && got < 300);
    CHECK(a.used <= 256 * 1024);
    lw_arena_release(&a);
    lw_arena_init(&a, 0);
    char *big = lw_arena_alloc(&a, 1 << 20); /* a block of its own */
    CHECK(big != NULL);
    char *small = lw_arena_alloc(&a, 16);
    CHECK(small != NULL);
    CHECK(((uintptr_t)small & 15) == 0);
    lw_arena_release(&a);
}

TEST(strtab_interns)
{
    struct lw_arena a;
    lw_arena_init(&a, 0);
    struct lw_strtab t;
    lw_strtab_init(&t, &a);
    const char *x = lw_strtab_intern(&t, "net/http.readLoop", 17);
    const char *y = lw_strtab_intern(&t, "net/http.readLoopXYZ", 17);
    CHECK(x == y);
    char name[32];
    const char *first = NULL;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        const char *p = lw_strtab_intern(&t, name, strlen(name));
        if (i == 7)
            first = p;
    }
    CHECK_EQ_INT(t.count, 5001);
    CHECK(lw_strtab_intern(&t, "f7", 2) == first);
    CHECK_STR(first, "f7");
    lw_strtab_release(&t);
    lw_arena_release(&a);
}

TEST(durations)
{
    double s;
    CHECK_EQ_INT(lw_parse_duration("15s", &s), LW_OK);
    CHECK_NEAR(s, 15, 1e-9);
    CHECK_EQ_INT(lw_parse_duration("1h30m", &s), LW_OK);
    CHECK_NEAR(s, 5400, 1e-9);
    CHECK_EQ_INT(lw_parse_duration("500ms", &s), LW_OK);
    CHECK_NEAR(s, 0.5, 1e-9);
    CHECK_EQ_INT(lw_parse_duration("30", &s), LW_OK);
    CHECK_NEAR(s, 30, 1e-9);
    CHECK_EQ_INT(lw_parse_duration("", &s), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_duration("5x", &s), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_duration("-5s", &s), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_duration("1s2", &s), LW_EINVAL);
    CHECK_EQ_INT(lw_parse_duration("99999999h", &s), LW_ERANGE);
}

TEST(formatting)
{
    char b[32];
    CHECK_STR(lw_fmt_thousands(20311, b, sizeof(b)), "20,311");
    CHECK_STR(lw_fmt_thousands(-1204, b, sizeof(b)), "-1,204");
    CHECK_STR(lw_fmt_thousands(999, b, sizeof(b)), "999");
    CHECK_STR(lw_fmt_thousands(INT64_MIN, b, sizeof(b)), "-9,223,372,036,854,775,808");
    CHECK_STR(lw_fmt_bytes(1536, b, sizeof(b)), "1.5 KiB");
    CHECK_STR(lw_fmt_bytes(128.0 * 1024 * 1024, b, sizeof(b)), "128.0 MiB");
    CHECK_STR(lw_fmt_rfc3339(0, b, sizeof(b)), "1970-01-01T00:00:00Z");
    CHECK_STR(lw_fmt_rfc3339(1764185400, b, sizeof(b)), "2025-11-26T19:30:00Z");
}

static size_t deflate_gz(const void *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream zs = {0};
    deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return len;
}

TEST(gunzip_bounds)
{
    size_t n = 8u << 20;
    char *zeros = calloc(1, n);
    unsigned char *gz = malloc(1 << 20);
    size_t gl = deflate_gz(zeros, n, gz, 1 << 20);
    CHECK(gl > 0 && gl < 64 * 1024);
    struct lw_errbuf eb = {""};
    struct lw_buf out = LW_BUF_INIT(1u << 20); /* 1 MiB cap: a bomb */
    CHECK_EQ_INT(lw__gunzip(gz, gl, &out, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "limit") != NULL);
    CHECK(out.len <= (1u << 20));
    lw_buf_release(&out);
    lw_buf_init(&out, 16u << 20);
    CHECK_EQ_INT(lw__gunzip(gz, gl, &out, &eb), LW_OK);
    CHECK_EQ_INT(out.len, n);
    lw_buf_release(&out);
    lw_buf_init(&out, 16u << 20);
    CHECK_EQ_INT(lw__gunzip(gz, gl / 2, &out, &eb), LW_ETRUNC);
    lw_buf_release(&out);
    gz[gl / 2] ^= 0xff;
    lw_buf_init(&out, 16u << 20);
    int rc = lw__gunzip(gz, gl, &out, &eb);
    CHECK(rc == LW_EFORMAT || rc == LW_ETRUNC);
    lw_buf_release(&out);
    free(zeros);
    free(gz);
}

TEST_LIST(T(buf_cap), T(arena_cap), T(strtab_interns), T(durations), T(formatting),
          T(gunzip_bounds));
TEST_MAIN()
