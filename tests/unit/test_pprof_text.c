/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pprof_text.c: the text parsers (goroutine debug=1, debug=2, heap
 * debug=1), sniffing and the lw_pprof_parse() dispatcher.
 *
 * Real profiles come from tests/fixtures/go1.19|go1.23/<scenario>/ (made by
 * tests/go/leakzoo); tiny synthetic inputs cover the header variants and
 * the bad-input cases (HTML, 404, junk, gzip bomb, truncation, CRLF) that a
 * healthy Go program never produces.
 */
#include "harness.h"
/* paths are built from $LW_FIXTURES, of unknown length; truncation is harmless here */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "pprof/pprof.h"
#include "pprof_compare.h"

#include <dirent.h>
#include <sys/stat.h>
#include <zlib.h>

/* ---- helpers ---- */

static int read_path(const char *path, struct lw_buf *b)
{
    struct lw_errbuf eb = {{0}};
    lw_buf_init(b, (size_t)1 << 30);
    int rc = lw_read_file(path, b, &eb);
    if (rc != LW_OK)
        fprintf(stderr, "  cannot read %s: %s\n", path, eb.msg);
    return rc;
}

static struct lw_profile *parse_str(const char *s, int *rc, struct lw_errbuf *eb)
{
    struct lw_profile *p = NULL;
    *rc = lw_pprof_parse(s, strlen(s), NULL, &p, eb);
    return p;
}

static struct lw_profile *parse_file(const char *path)
{
    struct lw_buf b;
    if (read_path(path, &b) != LW_OK)
        return NULL;
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(b.data, b.len, NULL, &p, &eb);
    if (rc != LW_OK)
        fprintf(stderr, "  %s: %s (%d)\n", path, eb.msg, rc);
    lw_buf_release(&b);
    return p;
}

static int64_t sum_counts(const struct lw_profile *p)
{
    int64_t s = 0;
    for (size_t i = 0; i < p->nstacks; i++)
        s += p->stacks[i].count;
    return s;
}

/* gzip (one member) of data, via zlib. Caller frees. */
static unsigned char *gzip_mem(const void *data, size_t len, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)len) + 64;
    unsigned char *out = malloc(cap);
    zs.next_in = (unsigned char *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int zr = deflate(&zs, Z_FINISH);
    *outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    if (zr != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* Scenario directories present under fixtures/<ver>/ (not "huge"). */
#define MAX_SCEN 64
static int list_scenarios(const char *ver, char names[MAX_SCEN][64])
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", lw_t_fixtures(), ver);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_SCEN) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= 64)
            continue;
        char f[1200];
        snprintf(f, sizeof(f), "%s/%s/goroutine2.txt", dir, e->d_name);
        struct stat st;
        if (stat(f, &st) == 0)
            snprintf(names[n++], 64, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void fixture_path(char *out, size_t n, const char *ver, const char *scen, const char *file)
{
    snprintf(out, n, "%s/%s/%s/%s", lw_t_fixtures(), ver, scen, file);
}

/* Count "goroutine N [" header lines independently of the parser. */
static int64_t count_headers(const char *d, size_t n)
{
    int64_t c = 0;
    for (size_t i = 0; i + 11 < n; i++) {
        if ((i == 0 || d[i - 1] == '\n') && memcmp(d + i, "goroutine ", 10) == 0 &&
            d[i + 10] >= '0' && d[i + 10] <= '9')
            c++;
    }
    return c;
}

/* The smallest and largest goroutine id of the headers, read with strtoll. */
static void header_ids(const char *d, size_t n, int64_t *min, int64_t *max)
{
    *min = *max = -1;
    for (size_t i = 0; i + 11 < n; i++) {
        if ((i == 0 || d[i - 1] == '\n') && memcmp(d + i, "goroutine ", 10) == 0 &&
            d[i + 10] >= '0' && d[i + 10] <= '9') {
            int64_t id = strtoll(d + i + 10, NULL, 10);
            if (*min < 0 || id < *min)
                *min = id;
            if (id > *max)
                *max = id;
        }
    }
}

/* How many goroutine headers have an id at or below cut (an independent
 * scan of the text). */
static int64_t headers_at_or_below(const char *d, size_t n, int64_t cut)
{
    int64_t k = 0;
    for (size_t i = 0; i + 11 < n; i++)
        if ((i == 0 || d[i - 1] == '\n') && memcmp(d + i, "goroutine ", 10) == 0 &&
            d[i + 10] >= '0' && d[i + 10] <= '9' && strtoll(d + i + 10, NULL, 10) <= cut)
            k++;
    return k;
}

/* Every parsed profile must satisfy these, whatever the input. */
static void check_invariants(const struct lw_profile *p)
{
    CHECK(p->format != LW_FMT_UNKNOWN);
    CHECK(p->nstacks == 0 || p->stacks != NULL);
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *s = &p->stacks[i];
        CHECK(s->nframes == 0 || s->ftab != NULL);
        /* the side record: debug=2 and heap stacks have one, the others none */
        CHECK((s->ext != NULL) == (p->format == LW_FMT_DEBUG2 || p->kind == LW_KIND_HEAP));
        for (uint32_t k = 0; k < s->nframes; k++)
            if (!lw_stack_frame(s, k)->func) {
                CHECK(lw_stack_frame(s, k)->func != NULL);
                return;
            }
        if (p->kind != LW_KIND_HEAP)
            CHECK(s->count >= 0);
        if (p->format == LW_FMT_DEBUG2) {
            CHECK(s->count >= 1);
            CHECK(lw_stack_min_wait(s) >= 0 && lw_stack_min_wait(s) <= lw_stack_max_wait(s));
            CHECK(lw_stack_state(s) != NULL);
        }
    }
}

/* ---- sniffing and dispatch errors ---- */

TEST(test_sniff)
{
    CHECK_EQ_INT(lw_pprof_sniff("goroutine profile: total 3\n", 27), LW_FMT_DEBUG1);
    CHECK_EQ_INT(lw_pprof_sniff("goroutineleak profile: total 3\n", 31), LW_FMT_DEBUG1);
    CHECK_EQ_INT(lw_pprof_sniff("goroutine 1 [running]:\n", 23), LW_FMT_DEBUG2);
    CHECK_EQ_INT(lw_pprof_sniff("heap profile: 1: 2 [3: 4] @ heap/1048576\n", 41), LW_FMT_HEAP1);
    CHECK_EQ_INT(lw_pprof_sniff("<!DOCTYPE html>", 15), LW_FMT_UNKNOWN);
    CHECK_EQ_INT(lw_pprof_sniff("404 page not found\n", 19), LW_FMT_UNKNOWN);
    CHECK_EQ_INT(lw_pprof_sniff("goroutine x", 11), LW_FMT_UNKNOWN);
    CHECK_EQ_INT(lw_pprof_sniff("", 0), LW_FMT_UNKNOWN);
    CHECK_EQ_INT(lw_pprof_sniff(NULL, 0), LW_FMT_UNKNOWN);
    /* gzip'd text is sniffed inside */
    const char *t = "goroutine 7 [chan receive]:\nmain.f()\n\t/a.go:1 +0x1\n";
    size_t gl;
    unsigned char *gz = gzip_mem(t, strlen(t), &gl);
    CHECK(gz != NULL);
    if (gz)
        CHECK_EQ_INT(lw_pprof_sniff(gz, gl), LW_FMT_DEBUG2);
    free(gz);
    /* a real proto, when the fixtures are there */
    char path[1200];
    fixture_path(path, sizeof(path), "go1.19", "http-transport", "goroutine.pb.gz");
    struct lw_buf b;
    if (read_path(path, &b) == LW_OK) {
        CHECK_EQ_INT(lw_pprof_sniff(b.data, b.len), LW_FMT_PROTO);
        lw_buf_release(&b);
    }
}

TEST(test_bad_input_messages)
{
    struct lw_errbuf eb = {{0}};
    int rc;
    struct lw_profile *p;

    p = parse_str("<!DOCTYPE html>\n<html><body>pprof</body></html>\n", &rc, &eb);
    CHECK(p == NULL);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    CHECK(strstr(eb.msg, "HTML") != NULL);

    p = parse_str("404 page not found\n", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    CHECK(strstr(eb.msg, "404 page not found") != NULL && strstr(eb.msg, "not registered"));

    p = parse_str("Unknown profile\n", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    CHECK(strstr(eb.msg, "Unknown profile") != NULL);

    p = parse_str("", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EEMPTY);
    p = parse_str("  \n\r\n\t\n", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EEMPTY);

    p = parse_str("{\"error\": \"nope\"}", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    CHECK(strstr(eb.msg, "JSON") != NULL);

    p = parse_str("hello world, this is not a profile\n", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    CHECK(strstr(eb.msg, "hello world") != NULL);

    p = parse_str("threadcreate profile: total 5\n", &rc, &eb);
    CHECK_EQ_INT(rc, LW_EUNSUPPORTED);
    CHECK(strstr(eb.msg, "threadcreate") != NULL);

    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    junk[0] = 0x03; /* not a proto tag, not gzip */
    p = NULL;
    rc = lw_pprof_parse(junk, sizeof(junk), NULL, &p, &eb);
    CHECK(p == NULL);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    CHECK(eb.msg[0] != '\0');

    /* a corrupt gzip stream */
    unsigned char badgz[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff};
    rc = lw_pprof_parse(badgz, sizeof(badgz), NULL, &p, &eb);
    CHECK(rc != LW_OK && p == NULL);
    CHECK(strstr(eb.msg, "gzip") != NULL);
}

/* Real error bodies saved from Go servers (tests/fixtures/bad/). */
TEST(test_bad_fixtures)
{
    static const struct {
        const char *file;
        const char *want;
    } cases[] = {
        {"index.html", "HTML"},
        {"index-go1.23.html", "HTML"},
        {"404-mux.txt", "not registered"},
        {"404.txt", "Unknown profile"},
        {"400-seconds.txt", "seconds and debug params are incompatible"},
    };
    for (size_t i = 0; i < LW_ARRAY_SIZE(cases); i++) {
        char path[1200];
        snprintf(path, sizeof(path), "%s/bad/%s", lw_t_fixtures(), cases[i].file);
        struct lw_buf b;
        if (read_path(path, &b) != LW_OK) {
            CHECK(0);
            continue;
        }
        struct lw_errbuf eb = {{0}};
        struct lw_profile *p = NULL;
        int rc = lw_pprof_parse(b.data, b.len, NULL, &p, &eb);
        CHECK_EQ_INT(rc, LW_EFORMAT);
        CHECK(p == NULL);
        if (!strstr(eb.msg, cases[i].want))
            fprintf(stderr, "  %s: \"%s\" lacks \"%s\"\n", cases[i].file, eb.msg, cases[i].want);
        CHECK(strstr(eb.msg, cases[i].want) != NULL);
        CHECK_EQ_INT(lw_pprof_sniff(b.data, b.len), LW_FMT_UNKNOWN);
        lw_buf_release(&b);
    }
    /* a BOM and blank lines before a real profile are tolerated */
    char path[1200];
    fixture_path(path, sizeof(path), "go1.19", "ticker", "goroutine1.txt");
    struct lw_buf b;
    if (read_path(path, &b) == LW_OK) {
        struct lw_buf c = LW_BUF_INIT((size_t)1 << 30);
        lw_buf_append(&c, "\xef\xbb\xbf\n\n", 5);
        lw_buf_append(&c, b.data, b.len);
        struct lw_errbuf eb = {{0}};
        struct lw_profile *p = NULL, *q = NULL;
        CHECK_EQ_INT(lw_pprof_parse(c.data, c.len, NULL, &p, &eb), LW_OK);
        CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &q, &eb), LW_OK);
        if (p && q) {
            CHECK_EQ_INT(p->total, q->total);
            CHECK_EQ_INT(p->nstacks, q->nstacks);
        }
        lw_profile_free(p);
        lw_profile_free(q);
        lw_buf_release(&c);
        lw_buf_release(&b);
    }
}

TEST(test_input_too_big)
{
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_input = 64;
    const char *t = "goroutine profile: total 1\n1 @ 0x1 0x2\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n";
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(t, strlen(t), &l, &p, &eb);
    CHECK_EQ_INT(rc, LW_ETOOBIG);
    CHECK(p == NULL);
    CHECK(strstr(eb.msg, "limit") != NULL);
    /* each parser checks it too */
    CHECK_EQ_INT(lw_pprof_parse_debug1(t, strlen(t), &l, &p, &eb), LW_ETOOBIG);
    CHECK_EQ_INT(lw_pprof_parse_debug2(t, strlen(t), &l, &p, &eb), LW_ETOOBIG);
    CHECK_EQ_INT(lw_pprof_parse_heap1(t, strlen(t), &l, &p, &eb), LW_ETOOBIG);
    l.max_input = 1000;
    CHECK_EQ_INT(lw_pprof_parse(t, strlen(t), &l, &p, &eb), LW_OK);
    lw_profile_free(p);
    /* the stack cap */
    const char *two = "goroutine profile: total 2\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n"
                      "1 @ 0x2\n#\t0x2\tmain.g+0x1\t/a.go:2\n\n";
    l.max_stacks = 1;
    CHECK_EQ_INT(lw_pprof_parse(two, strlen(two), &l, &p, &eb), LW_ETOOBIG);
    CHECK(p == NULL);
}

/* 1 GiB of zeros as 1024 concatenated gzip members of 1 MiB each (~1 MB). */
TEST(test_gzip_bomb)
{
    size_t mib = (size_t)1 << 20;
    char *zeros = calloc(1, mib);
    size_t gl = 0;
    unsigned char *member = gzip_mem(zeros, mib, &gl);
    free(zeros);
    CHECK(member != NULL);
    if (!member)
        return;
    size_t total = gl * 1024;
    unsigned char *bomb = malloc(total);
    for (int i = 0; i < 1024; i++)
        memcpy(bomb + (size_t)i * gl, member, gl);
    free(member);
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_inflated = 16u << 20;
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(bomb, total, &l, &p, &eb);
    CHECK_EQ_INT(rc, LW_ETOOBIG);
    CHECK(p == NULL);
    CHECK(strstr(eb.msg, "gzip") != NULL);
    /* a small inflate of zeros under the cap: not a profile */
    rc = lw_pprof_parse(bomb, gl, &l, &p, &eb);
    CHECK_EQ_INT(rc, LW_EFORMAT);
    free(bomb);
}

/* ---- debug=1 ---- */

TEST(test_debug1_edge_cases)
{
    /* tab runs, file with ':' and spaces, short frame, zero-frame group,
     * labels, total != sum (kept), no trailing empty line */
    const char *t = "goroutine profile: total 9\n"
                    "3 @ 0x43b256 0x407e5b 0x6722df 0x46b241\n"
                    "# labels: {\"tenant\":\"a\\\"b\\tc\", \"worker\":\"w1\"}\n"
                    "#\t0x6722de\tmain.main.func1+0x1e\t\t\tC:/my app/main.go:54\n"
                    "#\t0x4b0351\n"
                    "#\t0x4ad5dd\tio.ReadAll+0xfd\t\t\t\t\t/usr/local/go/src/io/io.go:661\n"
                    "\n"
                    "1 @ 0x46b241\n"
                    "\n";
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(t, strlen(t), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (!p)
        return;
    CHECK_EQ_INT(p->format, LW_FMT_DEBUG1);
    CHECK_EQ_INT(p->kind, LW_KIND_GOROUTINE);
    CHECK_EQ_INT(p->total, 9); /* header total kept, though the groups sum to 4 */
    CHECK_EQ_INT(p->nstacks, 2);
    const struct lw_stack *s = &p->stacks[0];
    CHECK_EQ_INT(s->count, 3);
    struct lw_buf lb = LW_BUF_INIT(0);
    CHECK_STR(lw_test_labels(p, s, &lb), "{\"tenant\":\"a\\\"b\\tc\", \"worker\":\"w1\"}");
    lw_buf_release(&lb);
    CHECK_EQ_INT(s->nframes, 3);
    CHECK_STR(lw_stack_frame(s, 0)->func, "main.main.func1");
    CHECK_STR(lw_stack_frame(s, 0)->file, "C:/my app/main.go");
    CHECK_EQ_INT(lw_stack_frame(s, 0)->line, 54);
    CHECK_STR(lw_stack_frame(s, 1)->func, "?");
    CHECK(lw_stack_frame(s, 1)->file == NULL);
    CHECK_STR(lw_stack_frame(s, 2)->func, "io.ReadAll");
    CHECK_EQ_INT(lw_stack_frame(s, 2)->line, 661);
    CHECK(lw_stack_state(s) == NULL && lw_stack_created_by(s) == NULL);
    CHECK_EQ_INT(s->flags, 0);
    CHECK_EQ_INT(p->stacks[1].nframes, 0);
    CHECK_EQ_INT(p->stacks[1].count, 1);
    lw_profile_free(p);

    /* goroutineleak header */
    const char *lk = "goroutineleak profile: total 6\n"
                     "6 @ 0x104235dac 0x10428dd68 0x10423e0a4\n"
                     "#\t0x10428dd67\tapp.(*Server[...]).AggregateResults.func1+0x37\tapp/server.go:37\n"
                     "\n";
    rc = lw_pprof_parse(lk, strlen(lk), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->kind, LW_KIND_GOROUTINELEAK);
        CHECK_EQ_INT(p->total, 6);
        CHECK_EQ_INT(p->nstacks, 1);
        CHECK(p->stacks[0].flags & LW_STACK_LEAKED);
        CHECK_STR(lw_stack_frame(&p->stacks[0], 0)->func,
                  "app.(*Server[...]).AggregateResults.func1");
        lw_profile_free(p);
    }
    /* an empty leak profile is valid */
    rc = lw_pprof_parse("goroutineleak profile: total 0\n", 31, NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->total, 0);
        CHECK_EQ_INT(p->nstacks, 0);
        lw_profile_free(p);
    }
    /* structural errors name the line */
    const char *bad = "goroutine profile: total 1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n";
    rc = lw_pprof_parse(bad, strlen(bad), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_EINVAL);
    CHECK(strstr(eb.msg, "line 2") != NULL);
    const char *bad2 = "goroutine profile: total 1\n1 @ 0x1\nzzz\n\n";
    rc = lw_pprof_parse(bad2, strlen(bad2), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_EINVAL);
    CHECK(strstr(eb.msg, "line 3") != NULL);
    const char *big = "goroutine profile: total 99999999999999999999999\n";
    CHECK_EQ_INT(lw_pprof_parse(big, strlen(big), NULL, &p, &eb), LW_ERANGE);
}

/* ---- debug=2 ---- */

static const struct lw_stack *find_state(const struct lw_profile *p, const char *state)
{
    for (size_t i = 0; i < p->nstacks; i++)
        if (lw_stack_state(&p->stacks[i]) && strcmp(lw_stack_state(&p->stacks[i]), state) == 0)
            return &p->stacks[i];
    return NULL;
}

TEST(test_debug2_headers)
{
    /* every header variant of pprof-formats.md §4.3 (constructed) */
    const char *t =
        "goroutine 1 [chan receive, 3 minutes, locked to thread]:\n"
        "main.a()\n\t/app/a.go:1 +0x1\n\n"
        "goroutine 2 [chan send (leaked)]:\n"
        "main.b()\n\t/app/a.go:2 +0x1\n\n"
        "goroutine 3 [select (durable), synctest bubble 7]:\n"
        "main.c()\n\t/app/a.go:3 +0x1\n\n"
        "goroutine 4 [chan receive (synctest), synctest group 9]:\n"
        "main.d()\n\t/app/a.go:4 +0x1\n\n"
        "goroutine 5 [IO wait, 2 minutes labels:{\"tenant\": \"a]:b\", \"w\": \"1\"}]:\n"
        "main.e()\n\t/app/a.go:5 +0x1\n\n"
        "goroutine 6 [sleep] {tenant: acme, worker: w1}:\n"
        "main.f()\n\t/app/a.go:6 +0x1\n\n"
        "goroutine 7 gp=0xc000002380 m=0 mp=0x5a2b60 [running]:\n"
        "main.g()\n\t/app/a.go:7 +0x1d fp=0xc000067f50 sp=0xc000067f28 pc=0x4824fd\n\n"
        "goroutine 8 gp=0xc000102a80 m=nil [GC worker (idle), 14335 minutes]:\n"
        "main.h()\n\t/app/a.go:8\n\n"
        "goroutine 9 [semacquire (scan)]:\n"
        "main.i()\n\t/app/a.go:9 +0x1\n";
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(t, strlen(t), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (!p) {
        fprintf(stderr, "  %s\n", eb.msg);
        return;
    }
    check_invariants(p);
    CHECK_EQ_INT(p->format, LW_FMT_DEBUG2);
    CHECK_EQ_INT(p->total, 9);
    CHECK_EQ_INT(p->nstacks, 9);
    struct lw_buf lb = LW_BUF_INIT(0);
    const struct lw_stack *s = find_state(p, "chan receive");
    CHECK(s && lw_stack_max_wait(s) == 3 && lw_stack_min_wait(s) == 3);
    s = find_state(p, "chan send");
    CHECK(s && (s->flags & LW_STACK_LEAKED) && lw_stack_max_wait(s) == 0);
    s = find_state(p, "select (durable)");
    CHECK(s != NULL);
    s = find_state(p, "chan receive (synctest)");
    CHECK(s != NULL);
    s = find_state(p, "IO wait");
    CHECK(s && lw_stack_max_wait(s) == 2);
    if (s)
        CHECK_STR(lw_test_labels(p, s, &lb), "{\"tenant\": \"a]:b\", \"w\": \"1\"}");
    s = find_state(p, "sleep");
    if (s)
        CHECK_STR(lw_test_labels(p, s, &lb), "{tenant: acme, worker: w1}");
    lw_buf_release(&lb);
    CHECK(s != NULL);
    s = find_state(p, "running");
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(lw_stack_frame(s, 0)->file, "/app/a.go");
        CHECK_EQ_INT(lw_stack_frame(s, 0)->line, 7);
    }
    s = find_state(p, "GC worker (idle)");
    CHECK(s && lw_stack_max_wait(s) == 14335);
    if (s)
        CHECK_EQ_INT(lw_stack_frame(s, 0)->line, 8);
    s = find_state(p, "semacquire");
    CHECK(s != NULL);
    /* one goroutine per stack here: its id is the stack's smallest and largest */
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *st = &p->stacks[i];
        CHECK_EQ_INT(lw_stack_min_goid(st), lw_stack_frame(st, 0)->line);
        CHECK_EQ_INT(lw_stack_max_goid(st), lw_stack_frame(st, 0)->line);
    }
    CHECK_EQ_INT(p->go_version_hint, 0);
    lw_profile_free(p);

    /* ids: aggregated per stack; one too long for 63 bits is unknown (-1), not a wrap */
    const char *ids = "goroutine 41 [select]:\nmain.a()\n\t/a.go:1 +0x1\n\n"
                      "goroutine 7 [select]:\nmain.a()\n\t/a.go:1 +0x1\n\n"
                      "goroutine 19 [select]:\nmain.a()\n\t/a.go:1 +0x1\n\n"
                      "goroutine 99999999999999999999999 [select]:\nmain.b()\n\t/a.go:2 +0x1\n";
    rc = lw_pprof_parse(ids, strlen(ids), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->nstacks, 2);
        for (size_t i = 0; i < p->nstacks; i++) {
            const struct lw_stack *st = &p->stacks[i];
            bool a = strcmp(lw_stack_frame(st, 0)->func, "main.a") == 0;
            CHECK_EQ_INT(st->count, a ? 3 : 1);
            CHECK_EQ_INT(lw_stack_min_goid(st), a ? 7 : -1);
            CHECK_EQ_INT(lw_stack_max_goid(st), a ? 41 : -1);
        }
        lw_profile_free(p);
    }

    /* malformed headers are reported with their line */
    const char *bad = "goroutine 1 [running]:\nmain.a()\n\t/a.go:1\n\ngoroutine 2 running\nmain.b()\n";
    rc = lw_pprof_parse(bad, strlen(bad), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_EINVAL);
    CHECK(strstr(eb.msg, "line 5") != NULL);
}

TEST(test_debug2_frames_and_aggregation)
{
    const char *t =
        "goroutine 10 [chan receive, 5 minutes]:\n"
        "main.recv(0xc000012345?, {0x0?, 0x0?})\n\t/app/main.go:35 +0x25\n"
        "main.(*T[...]).run(...)\n\t/app/main.go:38\n"
        "created by main.main in goroutine 1\n\t/app/main.go:80 +0x5ca\n\n"
        "goroutine 11 [chan receive]:\n"
        "main.recv(0x1?, {0x0?, 0x0?})\n\t/app/main.go:35 +0x25\n"
        "main.(*T[...]).run(...)\n\t/app/main.go:38\n"
        "created by main.main in goroutine 1\n\t/app/main.go:80 +0x5ca\n\n"
        "goroutine 12 [chan receive, 9 minutes]:\n"
        "main.recv(0x2?, {0x0?, 0x0?})\n\t/app/main.go:35 +0x25\n"
        "main.(*T[...]).run(...)\n\t/app/main.go:38\n"
        "created by main.main in goroutine 7\n\t/app/main.go:80 +0x5ca\n\n"
        /* same frames, other creator line: another group */
        "goroutine 13 [chan receive]:\n"
        "main.recv(0x2?, {0x0?, 0x0?})\n\t/app/main.go:35 +0x25\n"
        "main.(*T[...]).run(...)\n\t/app/main.go:38\n"
        "created by main.main in goroutine 7\n\t/app/main.go:81 +0x5ca\n\n"
        /* elided frames, 1.21+ and pre-1.21 markers, pre-1.21 created by */
        "goroutine 14 [select]:\n"
        "main.deep()\n\t/app/d.go:1 +0x1\n"
        "...51 frames elided...\n"
        "main.deep()\n\t/app/d.go:2 +0x1\n"
        "created by main.start\n\t/app/d.go:9 +0x2\n\n"
        "goroutine 15 [select]:\n"
        "main.deep2()\n\t/app/d.go:1 +0x1\n"
        "...additional frames elided...\n"
        "created by main.start\n\t/app/d.go:9 +0x2\n"
        "[originating from goroutine 3]:\n"
        "main.ancestor()\n\t/app/d.go:99 +0x1\n\n"
        "goroutine 16 [runnable]:\n"
        "non-Go function at pc=0x7f0011\n"
        "panic({0x4a2b60?, 0xc000010000?})\n\t/usr/local/go/src/runtime/panic.go:770 +0x132\n"
        "main.cgo()\n\t<autogenerated>:1\n";
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse_debug2(t, strlen(t), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (!p) {
        fprintf(stderr, "  %s\n", eb.msg);
        return;
    }
    check_invariants(p);
    CHECK_EQ_INT(p->total, 7);
    CHECK_EQ_INT(p->nstacks, 5);
    CHECK_EQ_INT(p->go_version_hint, 121);
    const struct lw_stack *s = &p->stacks[0];
    CHECK_EQ_INT(s->count, 3);
    CHECK_EQ_INT(lw_stack_max_wait(s), 9);
    CHECK_EQ_INT(lw_stack_min_wait(s), 0);
    CHECK_STR(lw_stack_state(s), "chan receive");
    CHECK_EQ_INT(s->nframes, 2);
    CHECK_STR(lw_stack_frame(s, 0)->func, "main.recv");
    CHECK_STR(lw_stack_frame(s, 0)->file, "/app/main.go");
    CHECK_EQ_INT(lw_stack_frame(s, 0)->line, 35);
    CHECK_STR(lw_stack_frame(s, 1)->func, "main.(*T[...]).run");
    CHECK_EQ_INT(lw_stack_frame(s, 1)->line, 38);
    CHECK_STR(lw_stack_created_by(s), "main.main");
    CHECK_STR(lw_stack_created_by_file(s), "/app/main.go");
    CHECK_EQ_INT(lw_stack_created_by_line(s), 80);
    CHECK_EQ_INT(p->stacks[1].count, 1);
    CHECK_EQ_INT(lw_stack_created_by_line(&p->stacks[1]), 81);
    s = &p->stacks[2];
    CHECK(s->flags & LW_STACK_ELIDED);
    CHECK_EQ_INT(s->nframes, 2);
    CHECK_STR(lw_stack_created_by(s), "main.start");
    s = &p->stacks[3];
    CHECK(s->flags & LW_STACK_ELIDED);
    CHECK_EQ_INT(s->nframes, 1); /* the ancestor's frames are not this stack's */
    s = &p->stacks[4];
    CHECK_EQ_INT(s->nframes, 3);
    CHECK_STR(lw_stack_frame(s, 0)->func, "?");
    CHECK_STR(lw_stack_frame(s, 1)->func, "panic");
    CHECK_STR(lw_stack_frame(s, 2)->file, "<autogenerated>");
    CHECK_EQ_INT(lw_stack_frame(s, 2)->line, 1);
    lw_profile_free(p);

    /* frames past max_frames are cut and flagged */
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_frames = 1;
    rc = lw_pprof_parse_debug2(t, strlen(t), &l, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->stacks[0].nframes, 1);
        CHECK(p->stacks[0].flags & LW_STACK_TRUNCATED);
        CHECK_EQ_INT(p->stacks[0].count, 3);
        CHECK_STR(lw_stack_created_by(&p->stacks[0]), "main.main");
        CHECK_EQ_INT(lw_stack_created_by_line(&p->stacks[0]), 80);
        lw_profile_free(p);
    }
    /* a panic preamble before the first block is skipped; junk is not a dump */
    const char *crash = "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:3 +0x1d\n"
                        "exit status 2\n";
    rc = lw_pprof_parse_debug2(crash, strlen(crash), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->total, 1);
        lw_profile_free(p);
    }
    rc = lw_pprof_parse_debug2("no dump here\n", 13, NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_EFORMAT);
}

/* ---- heap debug=1 ---- */

TEST(test_heap1_unsample_and_memstats)
{
    /* the worked example of pprof-formats.md §5.5: 12: 49152 at R = 524288
     * gives 1542 objects / 6316063 bytes, as the proto reported */
    const char *t = "heap profile: 13: 49568 [14: 49808] @ heap/1048576\n"
                    "12: 49152 [12: 49152] @ 0x6712f1 0x6717bb\n"
                    "#\t0x6712f0\tmain.allocLoop+0x50\t/app/main.go:22\n"
                    "#\t0x6717ba\tmain.main+0x15a\t\t/app/main.go:50\n"
                    "\n"
                    "1: 416 [2: 656] @ 0x443388\n"
                    "#\t0x443387\truntime.malg+0x27\t\t/usr/local/go/src/runtime/proc.go:4076\n"
                    "\n"
                    "0: 0 [0: 0] @ 0x663236\n"
                    "\n"
                    "\n"
                    "# runtime.MemStats\n"
                    "# Alloc = 9526008\n"
                    "# TotalAlloc = 12000000\n"
                    "# HeapInuse = 10002432\n"
                    "# Stack = 491520 / 524288\n"
                    "# MSpan = 126240 / 130560\n"
                    "# PauseNs = [27090 33872 783737 0 0]\n"
                    "# NumGC = 3\n"
                    "# GCCPUFraction = 4.2e-05\n"
                    "# DebugGC = false\n"
                    "# MaxRSS = 9248768\n";
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(t, strlen(t), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (!p) {
        fprintf(stderr, "  %s\n", eb.msg);
        return;
    }
    CHECK_EQ_INT(p->kind, LW_KIND_HEAP);
    CHECK_EQ_INT(p->format, LW_FMT_HEAP1);
    CHECK_EQ_INT(p->heap_sample_rate, 524288);
    CHECK_EQ_INT(p->nstacks, 3);
    const struct lw_stack *s = &p->stacks[0];
    CHECK_EQ_INT(s->count, 1542);
    CHECK_EQ_INT(lw_stack_inuse_bytes(s), 6316063);
    CHECK_EQ_INT(lw_stack_alloc_objects(s), 1542);
    CHECK_EQ_INT(lw_stack_alloc_bytes(s), 6316063);
    CHECK_EQ_INT(s->nframes, 2);
    CHECK_STR(lw_stack_frame(s, 0)->func, "main.allocLoop");
    /* 1: 416 -> 1260 / 524496 (§5.5) */
    CHECK_EQ_INT(p->stacks[1].count, 1260);
    CHECK_EQ_INT(lw_stack_inuse_bytes(&p->stacks[1]), 524496);
    CHECK(lw_stack_alloc_bytes(&p->stacks[1]) > 656);
    CHECK_EQ_INT(lw_stack_inuse_bytes(&p->stacks[2]), 0);
    CHECK_EQ_INT(p->total, 6316063 + 524496);
    CHECK(p->memstats.present);
    CHECK_EQ_INT(p->memstats.alloc, 9526008);
    CHECK_EQ_INT(p->memstats.total_alloc, 12000000);
    CHECK_EQ_INT(p->memstats.heap_inuse, 10002432);
    CHECK_EQ_INT(p->memstats.stack_inuse, 491520);
    CHECK_EQ_INT(p->memstats.stack_sys, 524288);
    CHECK_EQ_INT(p->memstats.mspan_inuse, 126240);
    CHECK_EQ_INT(p->memstats.num_gc, 3);
    CHECK_EQ_INT(p->memstats.max_rss, 9248768);
    lw_profile_free(p);

    /* heap/0: profiling off, no records; rate 2: every allocation, no scaling */
    const char *off = "heap profile: 0: 0 [0: 0] @ heap/0\n\n# runtime.MemStats\n# Alloc = 5\n";
    rc = lw_pprof_parse(off, strlen(off), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->nstacks, 0);
        CHECK_EQ_INT(p->heap_sample_rate, 0);
        CHECK_EQ_INT(p->memstats.alloc, 5);
        CHECK(p->memstats.max_rss == 0);
        lw_profile_free(p);
    }
    const char *all = "heap profile: 2: 64 [2: 64] @ heap/2\n2: 64 [2: 64] @ 0x1\n\n";
    rc = lw_pprof_parse(all, strlen(all), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_OK);
    if (p) {
        CHECK_EQ_INT(p->stacks[0].count, 2);
        CHECK_EQ_INT(lw_stack_inuse_bytes(&p->stacks[0]), 64);
        CHECK(!p->memstats.present);
        lw_profile_free(p);
    }
    const char *bad = "heap profile: 1: 2 [3: 4] @ heap/1048576\n1: x [1: 2] @ 0x1\n\n";
    rc = lw_pprof_parse(bad, strlen(bad), NULL, &p, &eb);
    CHECK_EQ_INT(rc, LW_EINVAL);
    CHECK(strstr(eb.msg, "line 2") != NULL);
}

/* ---- real fixtures ---- */

TEST(test_fixtures_debug1_debug2)
{
    static const char *vers[] = {"go1.19", "go1.23"};
    int seen = 0;
    for (int v = 0; v < 2; v++) {
        char names[MAX_SCEN][64];
        int n = list_scenarios(vers[v], names);
        for (int i = 0; i < n; i++) {
            char path[1200];
            fixture_path(path, sizeof(path), vers[v], names[i], "goroutine1.txt");
            struct lw_profile *p1 = parse_file(path);
            CHECK(p1 != NULL);
            if (p1) {
                check_invariants(p1);
                CHECK_EQ_INT(p1->format, LW_FMT_DEBUG1);
                CHECK_EQ_INT(p1->kind, LW_KIND_GOROUTINE);
                CHECK(p1->nstacks > 0);
                if (sum_counts(p1) != p1->total)
                    fprintf(stderr, "  %s: sum %lld != total %lld\n", path,
                            (long long)sum_counts(p1), (long long)p1->total);
                CHECK_EQ_INT(sum_counts(p1), p1->total);
                for (size_t k = 0; k < p1->nstacks; k++)
                    CHECK(!(p1->stacks[k].flags & LW_STACK_TRUNCATED));
                lw_profile_free(p1);
            }
            fixture_path(path, sizeof(path), vers[v], names[i], "goroutine2.txt");
            struct lw_buf b;
            if (read_path(path, &b) != LW_OK) {
                CHECK(0);
                continue;
            }
            int64_t headers = count_headers(b.data, b.len);
            struct lw_errbuf eb = {{0}};
            struct lw_profile *p2 = NULL;
            int rc = lw_pprof_parse(b.data, b.len, NULL, &p2, &eb);
            CHECK_EQ_INT(rc, LW_OK);
            if (p2) {
                check_invariants(p2);
                CHECK_EQ_INT(p2->format, LW_FMT_DEBUG2);
                CHECK_EQ_INT(p2->total, headers);
                CHECK_EQ_INT(sum_counts(p2), headers);
                CHECK(p2->nstacks > 0 && (int64_t)p2->nstacks <= headers);
                int64_t id0, id1, g0 = -1, g1 = -1;
                header_ids(b.data, b.len, &id0, &id1);
                for (size_t k = 0; k < p2->nstacks; k++) {
                    const struct lw_stack *st = &p2->stacks[k];
                    CHECK(lw_stack_min_goid(st) >= 1 &&
                          lw_stack_max_goid(st) >= lw_stack_min_goid(st));
                    CHECK(st->count > 1 || lw_stack_max_goid(st) == lw_stack_min_goid(st));
                    if (g0 < 0 || lw_stack_min_goid(st) < g0)
                        g0 = lw_stack_min_goid(st);
                    g1 = LW_MAX(g1, lw_stack_max_goid(st));
                }
                CHECK_EQ_INT(g0, id0);
                CHECK_EQ_INT(g1, id1);
                CHECK_EQ_INT(p2->max_goid, id1);
                CHECK_EQ_INT(p2->goid_cut, 0);
                for (size_t k = 0; k < p2->nstacks; k++)
                    CHECK_EQ_INT(lw_stack_old_goroutines(&p2->stacks[k]), -1); /* no cut: unknown */
                /* With a cut (the previous dump's largest id), each stack
                 * counts its goroutines at or below it: they add up to the
                 * headers at or below it, a stack wholly below counts all,
                 * one wholly above none. */
                int64_t cuts[] = {id0, (id0 + id1) / 2, id1};
                for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
                    struct lw_pprof_limits lim;
                    lw_pprof_limits_default(&lim);
                    lim.goid_cut = cuts[c];
                    struct lw_profile *pc = NULL;
                    CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, &lim, &pc, &eb), LW_OK);
                    if (!pc)
                        continue;
                    CHECK_EQ_INT(pc->goid_cut, cuts[c]);
                    int64_t old = 0;
                    for (size_t k = 0; k < pc->nstacks; k++) {
                        const struct lw_stack *st = &pc->stacks[k];
                        int64_t o = lw_stack_old_goroutines(st);
                        CHECK(o >= 0 && o <= st->count);
                        if (lw_stack_max_goid(st) <= cuts[c])
                            CHECK_EQ_INT(o, st->count);
                        if (lw_stack_min_goid(st) > cuts[c])
                            CHECK_EQ_INT(o, 0);
                        old += o;
                    }
                    CHECK_EQ_INT(old, headers_at_or_below(b.data, b.len, cuts[c]));
                    lw_profile_free(pc);
                }
                size_t with_creator = 0;
                for (size_t k = 0; k < p2->nstacks; k++)
                    if (lw_stack_created_by(&p2->stacks[k])) {
                        with_creator++;
                        CHECK(lw_stack_created_by_file(&p2->stacks[k]) != NULL);
                        CHECK(lw_stack_created_by_line(&p2->stacks[k]) > 0);
                    }
                CHECK(with_creator > 0);
                /* "created by X in goroutine N" is the 1.21+ form */
                CHECK_EQ_INT(p2->go_version_hint, v == 1 ? 121 : 0);
                lw_profile_free(p2);
                seen++;
            }
            lw_buf_release(&b);
        }
    }
    if (!seen)
        fprintf(stderr, "  no fixtures under %s/go1.*/<scenario>/\n", lw_t_fixtures());
    CHECK(seen >= 2);
}

static const struct lw_stack *find_frame(const struct lw_profile *p, const char *func,
                                         const char *state)
{
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *s = &p->stacks[i];
        if (state && (!lw_stack_state(s) || strcmp(lw_stack_state(s), state) != 0))
            continue;
        for (uint32_t k = 0; k < s->nframes; k++)
            if (strcmp(lw_stack_frame(s, k)->func, func) == 0)
                return s;
    }
    return NULL;
}

TEST(test_fixture_http_transport)
{
    static const char *vers[] = {"go1.19", "go1.23"};
    for (int v = 0; v < 2; v++) {
        char path[1200];
        fixture_path(path, sizeof(path), vers[v], "http-transport", "goroutine2.txt");
        struct lw_profile *p = parse_file(path);
        CHECK(p != NULL);
        if (!p)
            continue;
        const struct lw_stack *s = find_frame(p, "net/http.(*persistConn).readLoop", "IO wait");
        CHECK(s != NULL);
        if (s) {
            CHECK_STR(lw_stack_created_by(s), "net/http.(*Transport).dialConn");
            CHECK(s->count >= 2);
            CHECK(lw_stack_frame(s, 0)->file && strstr(lw_stack_frame(s, 0)->file, ".go") != NULL);
        }
        s = find_frame(p, "net/http.(*persistConn).writeLoop", "select");
        CHECK(s != NULL);
        if (s)
            CHECK_STR(lw_stack_created_by(s), "net/http.(*Transport).dialConn");
        lw_profile_free(p);

        fixture_path(path, sizeof(path), vers[v], "http-transport", "goroutine1.txt");
        p = parse_file(path);
        CHECK(p != NULL);
        if (p) {
            s = find_frame(p, "net/http.(*persistConn).readLoop", NULL);
            CHECK(s != NULL && s->count >= 2);
            lw_profile_free(p);
        }
    }
}

/* The leak each scenario makes shows up with the right state and user frame. */
TEST(test_fixture_scenarios)
{
    static const struct {
        const char *scen, *state, *user_prefix;
    } cases[] = {
        {"chan-send", "chan send", "main.lookupWithTimeout"},
        {"ssh-handshake", "IO wait", "golang.org/x/crypto/ssh.readVersion"},
        {"grpc-dial", "IO wait", "golang.org/x/net/http2."},
        {"ticker", "chan receive", "main.startPoller"},
    };
    static const char *vers[] = {"go1.19", "go1.23"};
    int64_t max_minutes = 0;
    for (int v = 0; v < 2; v++) {
        for (size_t i = 0; i < LW_ARRAY_SIZE(cases); i++) {
            char path[1200];
            fixture_path(path, sizeof(path), vers[v], cases[i].scen, "goroutine2.txt");
            struct lw_profile *p = parse_file(path);
            CHECK(p != NULL);
            if (!p)
                continue;
            const struct lw_stack *found = NULL;
            for (size_t k = 0; k < p->nstacks; k++) {
                const struct lw_stack *st = &p->stacks[k];
                if (lw_stack_max_wait(st) > max_minutes)
                    max_minutes = lw_stack_max_wait(st);
                const struct lw_frame *u = lw_stack_user_frame(st);
                if (st->count >= 10 && strcmp(lw_stack_state(st), cases[i].state) == 0 && u &&
                    strncmp(u->func, cases[i].user_prefix, strlen(cases[i].user_prefix)) == 0)
                    found = st;
            }
            /* a group of >= 10 goroutines: the leak, in its state, at its user frame */
            if (!found)
                fprintf(stderr, "  %s/%s: no [%s] group at %s\n", vers[v], cases[i].scen,
                        cases[i].state, cases[i].user_prefix);
            CHECK(found != NULL);
            if (found) {
                CHECK(lw_stack_created_by(found) != NULL);
                CHECK(found->nframes >= 1 && lw_stack_frame(found, 0)->file != NULL);
            }
            lw_profile_free(p);
        }
    }
    /* some fixture ran long enough for the runtime to print ", N minutes" */
    CHECK(max_minutes >= 1);
}

TEST(test_fixtures_heap1)
{
    static const char *vers[] = {"go1.19", "go1.23"};
    int seen = 0;
    for (int v = 0; v < 2; v++) {
        char names[MAX_SCEN][64];
        int n = list_scenarios(vers[v], names);
        for (int i = 0; i < n; i++) {
            char path[1200];
            fixture_path(path, sizeof(path), vers[v], names[i], "heap1.txt");
            struct stat st;
            if (stat(path, &st) != 0)
                continue;
            struct lw_profile *p = parse_file(path);
            CHECK(p != NULL);
            if (!p)
                continue;
            seen++;
            check_invariants(p);
            CHECK_EQ_INT(p->kind, LW_KIND_HEAP);
            CHECK_EQ_INT(p->heap_sample_rate, 524288);
            CHECK(p->memstats.present);
            CHECK(p->memstats.heap_alloc > 0 && p->memstats.sys >= p->memstats.heap_sys);
            CHECK(p->memstats.max_rss > 0);
            int64_t sum = 0;
            for (size_t k = 0; k < p->nstacks; k++) {
                const struct lw_stack *s = &p->stacks[k];
                sum += lw_stack_inuse_bytes(s);
                CHECK(lw_stack_inuse_bytes(s) >= 0 &&
                      lw_stack_alloc_bytes(s) >= lw_stack_inuse_bytes(s));
            }
            CHECK_EQ_INT(p->total, sum);
            CHECK(p->total >= 0); /* 0 is real: no GC finished yet (go1.23/chan-send) */
            if (strcmp(names[i], "heap-map") == 0) {
                /* the never-evicting map dominates the in-use heap */
                CHECK(p->total > (8 << 20));
                const struct lw_stack *top = NULL;
                for (size_t k = 0; k < p->nstacks; k++)
                    if (!top || lw_stack_inuse_bytes(&p->stacks[k]) > lw_stack_inuse_bytes(top))
                        top = &p->stacks[k];
                const struct lw_frame *u = top ? lw_stack_user_frame(top) : NULL;
                CHECK(u != NULL && strncmp(u->func, "main.", 5) == 0);
            }
            /* unsampled in-use bytes are an estimate of the live heap */
            CHECK(p->total < 4 * p->memstats.heap_alloc + (4 << 20));
            lw_profile_free(p);
        }
    }
    CHECK(seen >= 2);
}

TEST(test_fixture_huge)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s/go1.19/huge/goroutine2.txt.gz", lw_t_fixtures());
    struct lw_profile *p = parse_file(path);
    CHECK(p != NULL);
    if (!p)
        return;
    check_invariants(p);
    CHECK_EQ_INT(p->format, LW_FMT_DEBUG2);
    CHECK(p->total >= 100000);
    CHECK_EQ_INT(sum_counts(p), p->total);
    /* aggregation: far fewer stacks than goroutines */
    CHECK(p->nstacks * 10 < (size_t)p->total);
    /* the model is much smaller than the dump */
    CHECK(p->arena.used < 64u << 20);
    /* debug=1 and proto of the same process: same totals (+-2 for the
     * request goroutines), and every big debug=2 group is there by identity */
    static const char *others[] = {"goroutine1.txt.gz", "goroutine.pb.gz"};
    for (size_t o = 0; o < LW_ARRAY_SIZE(others); o++) {
        snprintf(path, sizeof(path), "%s/go1.19/huge/%s", lw_t_fixtures(), others[o]);
        struct lw_profile *q = parse_file(path);
        CHECK(q != NULL);
        if (!q)
            continue;
        CHECK(q->total >= p->total - 2 && q->total <= p->total + 2);
        /* groups split differently (debug=1/proto by labels, debug=2 by
         * creator, state and deep frames), so compare sums per identity */
        for (size_t i = 0; i < p->nstacks; i++) {
            uint64_t id = lw_stack_identity(&p->stacks[i]);
            int64_t np = 0, nq = 0;
            for (size_t k = 0; k < p->nstacks; k++)
                if (lw_stack_identity(&p->stacks[k]) == id)
                    np += p->stacks[k].count;
            if (np < 100)
                continue;
            for (size_t k = 0; k < q->nstacks; k++)
                if (lw_stack_identity(&q->stacks[k]) == id)
                    nq += q->stacks[k].count;
            if (nq < np - 2 || nq > np + 2)
                fprintf(stderr, "  %s: %s: %lld vs %lld in debug=2\n", others[o],
                        lw_stack_frame(&p->stacks[i], 0)->func, (long long)nq, (long long)np);
            CHECK(nq >= np - 2 && nq <= np + 2);
        }
        lw_profile_free(q);
    }
    lw_profile_free(p);
}

/* ---- robustness ---- */

/* Parse every prefix at many cut points: no crash, and either an error with
 * a message or a valid profile with no more goroutines than the full one. */
static void cut_everywhere(const char *path)
{
    struct lw_buf b;
    if (read_path(path, &b) != LW_OK) {
        CHECK(0);
        return;
    }
    struct lw_errbuf eb = {{0}};
    struct lw_profile *full = NULL;
    CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &full, &eb), LW_OK);
    size_t step = b.len / 300 + 1;
    for (size_t cut = 0; cut < b.len; cut += (cut < 200 ? 1 : step)) {
        struct lw_profile *p = NULL;
        eb.msg[0] = '\0';
        int rc = lw_pprof_parse(b.data, cut, NULL, &p, &eb);
        if (rc != LW_OK) {
            CHECK(p == NULL);
            CHECK(eb.msg[0] != '\0');
            continue;
        }
        check_invariants(p);
        if (full && full->format == LW_FMT_DEBUG2)
            CHECK(p->total <= full->total);
        if (full)
            CHECK(p->nstacks <= full->nstacks + 1);
        lw_profile_free(p);
    }
    lw_profile_free(full);
    lw_buf_release(&b);
}

TEST(test_truncated_fixtures)
{
    char path[1200];
    static const char *files[] = {"goroutine1.txt", "goroutine2.txt", "heap1.txt",
                                  "goroutine.pb.gz"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(files); i++) {
        fixture_path(path, sizeof(path), "go1.23", "http-transport", files[i]);
        cut_everywhere(path);
    }
    /* a debug=2 dump cut mid-line (the 64 MiB cap): the goroutines before the
     * cut are kept and the last one is flagged */
    fixture_path(path, sizeof(path), "go1.19", "http-transport", "goroutine2.txt");
    struct lw_buf b;
    if (read_path(path, &b) == LW_OK) {
        size_t cut = b.len * 2 / 3;
        while (cut > 0 && (b.data[cut] == '\n' || b.data[cut - 1] == '\n'))
            cut--;
        struct lw_errbuf eb = {{0}};
        struct lw_profile *p = NULL;
        int rc = lw_pprof_parse(b.data, cut, NULL, &p, &eb);
        CHECK_EQ_INT(rc, LW_OK);
        if (p) {
            int64_t before = count_headers(b.data, cut);
            CHECK(p->total == before || p->total == before - 1);
            int flagged = 0;
            for (size_t k = 0; k < p->nstacks; k++)
                flagged += (p->stacks[k].flags & LW_STACK_TRUNCATED) != 0;
            CHECK(flagged <= 1);
            lw_profile_free(p);
        }
        lw_buf_release(&b);
    }
}

/* debug=2 and heap stacks keep creator, state, waits and heap values in a
 * side record from the profile's memory: it counts against max_arena, so a
 * cap just under what a parse used fails cleanly. */
TEST(test_side_records_count_against_the_cap)
{
    static const char *files[] = {"goroutine2.txt", "heap1.txt"};
    for (size_t f = 0; f < LW_ARRAY_SIZE(files); f++) {
        char path[1200];
        fixture_path(path, sizeof(path), "go1.23", "http-transport", files[f]);
        struct lw_buf b;
        if (read_path(path, &b) != LW_OK) {
            CHECK(0);
            continue;
        }
        struct lw_errbuf eb = {{0}};
        struct lw_profile *p = NULL;
        CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &p, &eb), LW_OK);
        if (p) {
            CHECK(p->nstacks > 0);
            for (size_t k = 0; k < p->nstacks; k++)
                CHECK(p->stacks[k].ext != NULL);
            struct lw_pprof_limits l;
            lw_pprof_limits_default(&l);
            l.max_arena = p->arena.used - 1;
            struct lw_profile *q = NULL;
            CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, &l, &q, &eb), LW_ENOMEM);
            CHECK(q == NULL);
            lw_profile_free(p);
        }
        lw_buf_release(&b);
    }
}

/* Same profile with CRLF line ends and without the final newline. */
TEST(test_crlf_and_missing_final_newline)
{
    static const char *files[] = {"goroutine1.txt", "goroutine2.txt", "heap1.txt"};
    for (size_t f = 0; f < LW_ARRAY_SIZE(files); f++) {
        char path[1200];
        fixture_path(path, sizeof(path), "go1.19", "chan-send", files[f]);
        struct lw_buf b;
        if (read_path(path, &b) != LW_OK) {
            CHECK(0);
            continue;
        }
        struct lw_buf crlf = LW_BUF_INIT((size_t)1 << 30);
        for (size_t i = 0; i < b.len; i++) {
            if (b.data[i] == '\n')
                lw_buf_append(&crlf, "\r", 1);
            lw_buf_append(&crlf, b.data + i, 1);
        }
        struct lw_errbuf eb = {{0}};
        struct lw_profile *a = NULL, *c = NULL, *t = NULL;
        CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &a, &eb), LW_OK);
        CHECK_EQ_INT(lw_pprof_parse(crlf.data, crlf.len, NULL, &c, &eb), LW_OK);
        size_t tl = b.len;
        while (tl > 0 && b.data[tl - 1] == '\n')
            tl--;
        CHECK_EQ_INT(lw_pprof_parse(b.data, tl, NULL, &t, &eb), LW_OK);
        if (a && c && t) {
            CHECK_EQ_INT(a->total, c->total);
            CHECK_EQ_INT(a->nstacks, c->nstacks);
            CHECK_EQ_INT(a->total, t->total);
            /* debug=2: a dump without its final LF looks cut, so its last
             * goroutine is flagged and may form a group of its own */
            CHECK(t->nstacks == a->nstacks ||
                  (a->format == LW_FMT_DEBUG2 && t->nstacks == a->nstacks + 1));
            for (size_t i = 0; i < a->nstacks && i < c->nstacks; i++) {
                CHECK_EQ_INT(a->stacks[i].count, c->stacks[i].count);
                CHECK_EQ_INT(a->stacks[i].nframes, c->stacks[i].nframes);
                CHECK_EQ_INT(lw_stack_identity(&a->stacks[i]), lw_stack_identity(&c->stacks[i]));
                for (uint32_t k = 0; k < a->stacks[i].nframes && k < c->stacks[i].nframes; k++) {
                    const struct lw_frame *fa = lw_stack_frame(&a->stacks[i], k);
                    const struct lw_frame *fc = lw_stack_frame(&c->stacks[i], k);
                    CHECK_STR(fa->func, fc->func);
                    CHECK_EQ_INT(fa->line, fc->line);
                }
                if (lw_stack_state(&a->stacks[i]))
                    CHECK_STR(lw_stack_state(&a->stacks[i]), lw_stack_state(&c->stacks[i]));
            }
            /* the last frame of the unterminated copy still has its line */
            const struct lw_stack *ls = &t->stacks[t->nstacks - 1];
            const struct lw_stack *la = &a->stacks[a->nstacks - 1];
            if (ls->nframes && la->nframes && !lw_stack_created_by(la) && a->kind != LW_KIND_HEAP)
                CHECK_EQ_INT(lw_stack_frame(ls, ls->nframes - 1)->line,
                             lw_stack_frame(la, la->nframes - 1)->line);
            if (a->kind == LW_KIND_HEAP)
                CHECK_EQ_INT(a->memstats.max_rss, c->memstats.max_rss);
        }
        lw_profile_free(a);
        lw_profile_free(c);
        lw_profile_free(t);
        lw_buf_release(&crlf);
        lw_buf_release(&b);
    }
}

/* gzip'd text (how big fixtures are stored) parses like the plain text */
TEST(test_gzipped_text)
{
    char path[1200];
    fixture_path(path, sizeof(path), "go1.23", "chan-send", "goroutine2.txt");
    struct lw_buf b;
    if (read_path(path, &b) != LW_OK) {
        CHECK(0);
        return;
    }
    size_t gl;
    unsigned char *gz = gzip_mem(b.data, b.len, &gl);
    struct lw_errbuf eb = {{0}};
    struct lw_profile *a = NULL, *g = NULL;
    CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &a, &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_parse(gz, gl, NULL, &g, &eb), LW_OK);
    if (a && g) {
        CHECK_EQ_INT(g->format, LW_FMT_DEBUG2);
        CHECK_EQ_INT(a->total, g->total);
        CHECK_EQ_INT(a->nstacks, g->nstacks);
    }
    /* the inflated size counts against max_inflated, not max_input */
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_input = gl;
    l.max_inflated = b.len - 1;
    struct lw_profile *x = NULL;
    CHECK_EQ_INT(lw_pprof_parse(gz, gl, &l, &x, &eb), LW_ETOOBIG);
    l.max_inflated = b.len;
    CHECK_EQ_INT(lw_pprof_parse(gz, gl, &l, &x, &eb), LW_OK);
    lw_profile_free(x);
    /* a cut gzip stream is an error, not a silent partial profile */
    CHECK_EQ_INT(lw_pprof_parse(gz, gl / 2, NULL, &x, &eb), LW_ETRUNC);
    CHECK(x == NULL);
    lw_profile_free(a);
    lw_profile_free(g);
    free(gz);
    lw_buf_release(&b);
}

TEST_LIST(T(test_sniff), T(test_bad_input_messages), T(test_bad_fixtures), T(test_input_too_big), T(test_gzip_bomb),
          T(test_debug1_edge_cases), T(test_debug2_headers), T(test_debug2_frames_and_aggregation),
          T(test_heap1_unsample_and_memstats), T(test_fixtures_debug1_debug2),
          T(test_fixture_http_transport), T(test_fixture_scenarios), T(test_fixtures_heap1), T(test_fixture_huge),
          T(test_truncated_fixtures), T(test_crlf_and_missing_final_newline),
          T(test_gzipped_text), T(test_side_records_count_against_the_cap));
TEST_MAIN()
