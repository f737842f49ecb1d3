/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pprof_stream.c: the streaming parser (lw_pprof_stream_*,
 * lw_pprof_parse_fd, lw_pprof_parse_file). Its contract is "the same profile
 * as lw_pprof_parse() on the concatenated bytes", so every real fixture
 * (tests/fixtures/go1.19|go1.23, gzip'd or not, and the bad/ pages) is parsed
 * both ways at several chunk sizes and the models compared field by field;
 * then the stream's own cases: gzip cut, bomb, concatenated members and
 * trailing bytes split at every offset, CRLF and BOM split across chunks, the
 * line cap, sticky errors, files and fds, and memory that does not grow with
 * the number of goroutines.
 */
#include "harness.h"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "pprof/pprof.h"
#include "pprof_compare.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static int read_path(const char *path, struct lw_buf *b)
{
    struct lw_errbuf eb = {{0}};
    lw_buf_init(b, (size_t)1 << 30);
    int rc = lw_read_file(path, b, &eb);
    if (rc != LW_OK)
        fprintf(stderr, "  cannot read %s: %s\n", path, eb.msg);
    return rc;
}

/* Stream data in chunks of `chunk` bytes (0 = one feed). */
static int stream_parse(const void *data, size_t len, size_t chunk,
                        const struct lw_pprof_limits *lim, struct lw_profile **out,
                        struct lw_errbuf *eb)
{
    struct lw_pprof_stream *s;
    int rc = lw_pprof_stream_new(lim, &s, eb);
    if (rc)
        return rc;
    const char *d = data;
    size_t off = 0;
    if (chunk == 0)
        chunk = len ? len : 1;
    while (off < len && rc == LW_OK) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = lw_pprof_stream_feed(s, d + off, n, eb);
        off += n;
    }
    if (rc == LW_OK)
        rc = lw_pprof_stream_finish(s, out, eb);
    lw_pprof_stream_free(s);
    return rc;
}

/* Whole vs streamed at several chunk sizes: same rc, same model. */
static int check_same(const char *what, const void *data, size_t len,
                      const struct lw_pprof_limits *lim)
{
    static const size_t chunks[] = {0, 1, 2, 3, 7, 64, 4093, 65536};
    struct lw_errbuf eb = {{0}}, eb2 = {{0}};
    struct lw_profile *p = NULL;
    int rc = lw_pprof_parse(data, len, lim, &p, &eb);
    int ok = 1;
    for (size_t c = 0; c < LW_ARRAY_SIZE(chunks); c++) {
        if (chunks[c] < 4000 && len > 300000)
            continue; /* tiny chunks on the big files: slow under valgrind, add nothing */
        struct lw_profile *q = NULL;
        int rc2 = stream_parse(data, len, chunks[c], lim, &q, &eb2);
        if (rc2 != rc || (rc == LW_OK && !lw_same_profile(p, q)) || (rc != LW_OK && q)) {
            fprintf(stderr, "  %s, chunk %zu: whole rc %d (%s), stream rc %d (%s)\n", what,
                    chunks[c], rc, rc ? eb.msg : "ok", rc2, rc2 ? eb2.msg : "ok");
            ok = 0;
        }
        lw_profile_free(q);
    }
    lw_profile_free(p);
    return ok;
}

static int walk_fixtures(const char *dir, int *nfiles)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            ok &= walk_fixtures(path, nfiles);
            continue;
        }
        size_t l = strlen(e->d_name);
        if (l > 3 && strcmp(e->d_name + l - 3, ".md") == 0)
            continue;
        struct lw_buf b;
        if (read_path(path, &b) != LW_OK)
            return 0;
        ok &= check_same(path, b.data, b.len, NULL);
        (*nfiles)++;
        lw_buf_release(&b);
    }
    closedir(d);
    return ok;
}

static const char *fixtures(void)
{
    const char *f = getenv("LW_FIXTURES");
    return f ? f : "tests/fixtures";
}

TEST(every_fixture_streams_to_the_same_model)
{
    int n = 0;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/go1.19", fixtures());
    CHECK(walk_fixtures(dir, &n));
    snprintf(dir, sizeof(dir), "%s/go1.23", fixtures());
    CHECK(walk_fixtures(dir, &n));
    snprintf(dir, sizeof(dir), "%s/bad", fixtures());
    CHECK(walk_fixtures(dir, &n));
    CHECK(n >= 40); /* the fixtures were found */
}

/* gzip src into dst (one member) */
static void gz(const void *src, size_t n, struct lw_buf *dst)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    uLong cap = deflateBound(&zs, (uLong)n);
    char *out = malloc(cap);
    zs.next_in = (unsigned char *)src;
    zs.avail_in = (uInt)n;
    zs.next_out = (unsigned char *)out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    lw_buf_append(dst, out, cap - zs.avail_out);
    deflateEnd(&zs);
    free(out);
}

static int load(const char *rel, struct lw_buf *b)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", fixtures(), rel);
    return read_path(path, b);
}

TEST(gzip_members_trailing_bytes_and_cuts_at_every_offset)
{
    struct lw_buf t;
    CHECK_EQ_INT(load("go1.23/http-transport/goroutine1.txt", &t), LW_OK);
    /* two members: first half and second half of the text, then junk */
    struct lw_buf two = LW_BUF_INIT((size_t)1 << 30);
    gz(t.data, t.len / 2, &two);
    size_t first = two.len;
    gz(t.data + t.len / 2, t.len - t.len / 2, &two);
    size_t members = two.len;
    lw_buf_append(&two, "trailing junk", 13);
    CHECK(check_same("two members + junk", two.data, two.len, NULL));
    CHECK(check_same("two members", two.data, members, NULL));
    /* split the stream at every offset around the member boundary */
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    CHECK_EQ_INT(lw_pprof_parse(t.data, t.len, NULL, &p, &eb), LW_OK);
    for (size_t cut = first - 12; cut <= first + 12 && cut < two.len; cut++) {
        struct lw_pprof_stream *s;
        CHECK_EQ_INT(lw_pprof_stream_new(NULL, &s, &eb), LW_OK);
        CHECK_EQ_INT(lw_pprof_stream_feed(s, two.data, cut, &eb), LW_OK);
        CHECK_EQ_INT(lw_pprof_stream_feed(s, two.data + cut, two.len - cut, &eb), LW_OK);
        struct lw_profile *q = NULL;
        CHECK_EQ_INT(lw_pprof_stream_finish(s, &q, &eb), LW_OK);
        CHECK(q && lw_same_profile(p, q));
        lw_profile_free(q);
        lw_pprof_stream_free(s);
    }
    lw_profile_free(p);
    /* cut anywhere inside the gzip: LW_ETRUNC both ways */
    for (size_t cut = 1; cut < first; cut += first / 37 + 1) {
        struct lw_profile *q = NULL;
        int rc = stream_parse(two.data, cut, 5, NULL, &q, &eb);
        CHECK(rc == LW_ETRUNC || (cut < 10 && rc != LW_OK));
        CHECK(q == NULL);
        CHECK(check_same("cut gzip", two.data, cut, NULL));
    }
    lw_buf_release(&two);
    lw_buf_release(&t);
}

TEST(gzip_bomb_stops_at_max_inflated)
{
    size_t n = (size_t)8 << 20;
    char *zeros = calloc(1, n);
    memcpy(zeros, "goroutine profile: total 1\n", 27);
    struct lw_buf b = LW_BUF_INIT((size_t)1 << 30);
    gz(zeros, n, &b);
    free(zeros);
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_inflated = 1u << 20;
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    CHECK_EQ_INT(stream_parse(b.data, b.len, 1000, &l, &p, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "gzip bomb") != NULL);
    CHECK(p == NULL);
    CHECK(check_same("bomb", b.data, b.len, &l));
    lw_buf_release(&b);
}

TEST(crlf_and_bom_split_across_chunks)
{
    struct lw_buf t;
    CHECK_EQ_INT(load("go1.23/chan-send/goroutine2.txt", &t), LW_OK);
    struct lw_buf c = LW_BUF_INIT((size_t)1 << 30);
    lw_buf_append(&c, "\xef\xbb\xbf\r\n\n", 6);
    for (size_t i = 0; i < t.len; i++) {
        if (t.data[i] == '\n')
            lw_buf_append(&c, "\r", 1);
        lw_buf_append(&c, &t.data[i], 1);
    }
    CHECK(check_same("CRLF + BOM", c.data, c.len, NULL));
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL, *q = NULL;
    CHECK_EQ_INT(lw_pprof_parse(t.data, t.len, NULL, &p, &eb), LW_OK);
    CHECK_EQ_INT(stream_parse(c.data, c.len, 1, NULL, &q, &eb), LW_OK);
    CHECK(p && q && lw_same_profile(p, q)); /* CR, BOM and blank lines change nothing */
    lw_profile_free(p);
    lw_profile_free(q);
    /* cut mid-file at every offset of one line: same partial profile */
    for (size_t cut = c.len / 2; cut < c.len / 2 + 90; cut++)
        CHECK(check_same("cut CRLF", c.data, cut, NULL));
    lw_buf_release(&c);
    lw_buf_release(&t);
}

TEST(line_longer_than_the_cap_is_refused_when_split)
{
    size_t big = LW_PPROF_STREAM_LINE_MAX + 10;
    struct lw_buf b = LW_BUF_INIT((size_t)1 << 30);
    lw_buf_append(&b, "goroutine profile: total 1\n1 @ 0x1\n# labels: {\"k\":\"", 51);
    char *v = malloc(big);
    memset(v, 'v', big);
    lw_buf_append(&b, v, big);
    free(v);
    lw_buf_append(&b, "\"}\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n", 29);
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &p, &eb), LW_OK); /* whole: no line cap */
    struct lw_buf lb = LW_BUF_INIT(0);
    CHECK(p && p->nstacks == 1 && lw_test_labels(p, &p->stacks[0], &lb) &&
          lb.len > LW_PPROF_STREAM_LINE_MAX);
    lw_buf_release(&lb);
    lw_profile_free(p);
    p = NULL;
    CHECK_EQ_INT(stream_parse(b.data, b.len, 1 << 20, NULL, &p, &eb), LW_ETOOBIG);
    CHECK(strstr(eb.msg, "line 3: longer than") != NULL);
    CHECK(p == NULL);
    lw_buf_release(&b);
}

TEST(errors_are_sticky_and_finish_is_once)
{
    struct lw_errbuf eb = {{0}};
    struct lw_pprof_stream *s;
    CHECK_EQ_INT(lw_pprof_stream_new(NULL, &s, &eb), LW_OK);
    const char *bad = "goroutine profile: total 1\nthis is not a profile line\n";
    CHECK_EQ_INT(lw_pprof_stream_feed(s, bad, strlen(bad), &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "line 2: unexpected text") != NULL);
    eb.msg[0] = '\0';
    CHECK_EQ_INT(lw_pprof_stream_feed(s, "1 @ 0x1\n", 8, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "line 2") != NULL);
    struct lw_profile *p = (struct lw_profile *)1;
    CHECK_EQ_INT(lw_pprof_stream_finish(s, &p, &eb), LW_EINVAL);
    CHECK(p == NULL);
    lw_pprof_stream_free(s);

    CHECK_EQ_INT(lw_pprof_stream_new(NULL, &s, &eb), LW_OK);
    const char *ok = "goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go:1\n\n";
    CHECK_EQ_INT(lw_pprof_stream_feed(s, ok, strlen(ok), &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_stream_finish(s, &p, &eb), LW_OK);
    CHECK(p && p->nstacks == 1 && strcmp(lw_stack_frame(&p->stacks[0], 0)->func, "main.f") == 0);
    lw_profile_free(p);
    CHECK_EQ_INT(lw_pprof_stream_feed(s, ok, 3, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "already finished") != NULL);
    CHECK_EQ_INT(lw_pprof_stream_finish(s, &p, &eb), LW_EINVAL);
    lw_pprof_stream_free(s);

    /* empty stream, and a stream freed without finishing (no leak) */
    CHECK_EQ_INT(lw_pprof_stream_new(NULL, &s, &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_stream_finish(s, &p, &eb), LW_EEMPTY);
    lw_pprof_stream_free(s);
    CHECK_EQ_INT(lw_pprof_stream_new(NULL, &s, &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_stream_feed(s, ok, 40, &eb), LW_OK);
    lw_pprof_stream_free(s);
    /* max_input counts every byte fed */
    struct lw_pprof_limits l;
    lw_pprof_limits_default(&l);
    l.max_input = 50;
    CHECK_EQ_INT(lw_pprof_stream_new(&l, &s, &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_stream_feed(s, ok, 30, &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_stream_feed(s, ok + 30, strlen(ok) - 30, &eb), LW_ETOOBIG);
    lw_pprof_stream_free(s);
}

TEST(parse_file_and_fd)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/go1.23/huge/goroutine2.txt.gz", fixtures());
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    CHECK_EQ_INT(lw_pprof_parse_file(path, NULL, &p, &eb), LW_OK);
    CHECK(p && p->format == LW_FMT_DEBUG2 && p->total > 100000);
    /* 100,000 goroutines in a few stacks: the model stays tiny (buckets, not
     * goroutines, are kept) */
    CHECK(p && p->nstacks < 100 && p->arena.used < ((size_t)1 << 20));
    struct lw_buf b;
    CHECK_EQ_INT(read_path(path, &b), LW_OK);
    CHECK(check_same("huge debug2", b.data, b.len, NULL));
    lw_buf_release(&b);
    lw_profile_free(p);
    p = NULL;

    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK_EQ_INT(lw_pprof_parse_fd(fd, NULL, &p, &eb), LW_OK);
    CHECK(p && p->total > 100000);
    lw_profile_free(p);
    close(fd);

    p = (struct lw_profile *)1;
    CHECK_EQ_INT(lw_pprof_parse_file("/nonexistent/profile.txt", NULL, &p, &eb), LW_EIO);
    CHECK(p == NULL);
    CHECK(strstr(eb.msg, "/nonexistent/profile.txt") != NULL);
    CHECK_EQ_INT(lw_pprof_parse_file(fixtures(), NULL, &p, &eb), LW_EIO); /* a directory */
    snprintf(path, sizeof(path), "%s/bad/index.html", fixtures());
    CHECK_EQ_INT(lw_pprof_parse_file(path, NULL, &p, &eb), LW_EFORMAT);
    CHECK(strstr(eb.msg, "HTML") != NULL);
}

TEST_LIST(T(every_fixture_streams_to_the_same_model),
          T(gzip_members_trailing_bytes_and_cuts_at_every_offset),
          T(gzip_bomb_stops_at_max_inflated), T(crlf_and_bom_split_across_chunks),
          T(line_longer_than_the_cap_is_refused_when_split), T(errors_are_sticky_and_finish_is_once),
          T(parse_file_and_fd));
TEST_MAIN()
