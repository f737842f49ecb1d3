/* SPDX-License-Identifier: Apache-2.0 */
/* test_trace.c: the trace directory: write/read round trip with real
 * profiles, DIR/profiles/, usage.jsonl and restarts.jsonl, sample times,
 * feeding in windows (replay), and skipping corrupt files with a warning. */
#include "harness.h"

#include "trace/trace.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static void mktmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lwtest-trace-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
}

static void rmtree(const char *d)
{
    DIR *dd = opendir(d);
    if (!dd)
        return;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        char p[1024];
        snprintf(p, sizeof(p), "%s/%s", d, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rmtree(p);
        else
            unlink(p);
    }
    closedir(dd);
    rmdir(d);
}

static int load_fixture(const char *rel, struct lw_buf *b)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", lw_t_fixtures(), rel);
    lw_buf_init(b, 64u << 20);
    struct lw_errbuf eb = {""};
    int rc = lw_read_file(path, b, &eb);
    if (rc)
        fprintf(stderr, "fixture: %s\n", eb.msg);
    return rc;
}

static int nwarn;
static char lastwarn[LW_ERRBUF_SIZE];
static void warn(void *ud, const char *msg)
{
    (void)ud;
    nwarn++;
    snprintf(lastwarn, sizeof(lastwarn), "%s", msg);
}

TEST(roundtrip_and_feed)
{
    mktmp();
    struct lw_buf g1, g2, hp, h1;
    CHECK_EQ_INT(load_fixture("go1.19/http-transport/goroutine1.txt", &g1), LW_OK);
    CHECK_EQ_INT(load_fixture("go1.19/http-transport/goroutine2.txt", &g2), LW_OK);
    CHECK_EQ_INT(load_fixture("go1.19/http-transport/heap.pb.gz", &hp), LW_OK);
    CHECK_EQ_INT(load_fixture("go1.19/http-transport/heap1.txt", &h1), LW_OK);
    struct lw_errbuf eb = {""};
    char prof[300];
    snprintf(prof, sizeof(prof), "%s/profiles", tmpdir);
    mkdir(prof, 0755);
    for (long t = 1000; t < 1100; t += 10) {
        CHECK_EQ_INT(lw_trace_write_file(tmpdir, t, LW_TF_GOROUTINE1, g1.data, g1.len, &eb), LW_OK);
        if (t % 40 == 0)
            CHECK_EQ_INT(lw_trace_write_file(prof, t, LW_TF_GOROUTINE2, g2.data, g2.len, &eb), LW_OK);
        CHECK_EQ_INT(lw_trace_write_file(tmpdir, t + 1, LW_TF_HEAP_PB, hp.data, hp.len, &eb), LW_OK);
        CHECK_EQ_INT(lw_trace_write_file(tmpdir, t + 1, LW_TF_HEAP1, h1.data, h1.len, &eb), LW_OK);
        CHECK_EQ_INT(lw_trace_append_usage(tmpdir, t, 1000000 + t * 100, &eb), LW_OK);
    }
    /* a corrupt profile, an unrelated file, a restart */
    CHECK_EQ_INT(lw_trace_write_file(tmpdir, 1095, LW_TF_GOROUTINE1, "<html>nope</html>", 17, &eb), LW_OK);
    char p[400];
    snprintf(p, sizeof(p), "%s/notes.txt", tmpdir); /* not a trace file: ignored */
    FILE *f = fopen(p, "w");
    fputs("hello", f);
    fclose(f);
    snprintf(p, sizeof(p), "%s/restarts.jsonl", tmpdir);
    f = fopen(p, "w");
    fputs("{\"t\": 1050}\n", f);
    fclose(f);

    struct lw_trace tr;
    CHECK_EQ_INT(lw_trace_open(tmpdir, &tr, &eb), LW_OK);
    CHECK_EQ_INT(tr.nfiles, 10 + 3 + 10 + 10 + 1);
    CHECK_EQ_INT(tr.nusage, 10);
    CHECK_EQ_INT(tr.nrestarts, 1);
    for (size_t i = 1; i < tr.nfiles; i++)
        CHECK(tr.files[i].t >= tr.files[i - 1].t);
    size_t nt = 0;
    double *ts = lw_trace_times(&tr, &nt);
    CHECK_EQ_INT(nt, 11); /* 10 goroutine times + the corrupt one at 1095 */
    CHECK_NEAR(ts[0], 1000, 0);
    CHECK_NEAR(ts[nt - 1], 1095, 0);

    struct lw_series *s = lw_series_new(NULL);
    nwarn = 0;
    /* feed in replay windows: every file exactly once */
    double from = -1;
    for (size_t i = 0; i < nt; i++) {
        CHECK_EQ_INT(lw_trace_feed(&tr, s, from, ts[i], warn, NULL), LW_OK);
        from = ts[i];
    }
    CHECK_EQ_INT(lw_trace_feed(&tr, s, from, 1e18, warn, NULL), LW_OK);
    CHECK_EQ_INT(nwarn, 1);
    CHECK_EQ_INT(tr.nskipped, 1);
    CHECK(strstr(lastwarn, "1095-goroutine.txt") != NULL);
    /* after the restart at 1050 only the samples from 1050 on remain */
    CHECK_EQ_INT(lw_series_samples(s), 5);
    lw_series_free(s);
    free(ts);
    lw_trace_close(&tr);
    lw_buf_release(&g1);
    lw_buf_release(&g2);
    lw_buf_release(&hp);
    lw_buf_release(&h1);
    rmtree(tmpdir);
}

TEST(open_errors)
{
    struct lw_trace tr;
    struct lw_errbuf eb = {""};
    CHECK_EQ_INT(lw_trace_open("/nonexistent/trace", &tr, &eb), LW_EIO);
    CHECK(strstr(eb.msg, "/nonexistent/trace") != NULL);
    mktmp();
    CHECK_EQ_INT(lw_trace_open(tmpdir, &tr, &eb), LW_ENOTFOUND);
    CHECK(strstr(eb.msg, "no trace files") != NULL);
    char p[400];
    snprintf(p, sizeof(p), "%s/usage.jsonl", tmpdir);
    FILE *f = fopen(p, "w");
    fputs("{\"t\": 5, \"bytes\": 10}\n{\"t\": -1, \"bytes\": 10}\n", f);
    fclose(f);
    CHECK_EQ_INT(lw_trace_open(tmpdir, &tr, &eb), LW_EINVAL);
    CHECK(strstr(eb.msg, "usage.jsonl:2") != NULL);
    f = fopen(p, "w");
    for (int i = 0; i < 5000; i++)
        fputc('x', f);
    fclose(f);
    CHECK_EQ_INT(lw_trace_open(tmpdir, &tr, &eb), LW_ETOOBIG);
    f = fopen(p, "w");
    fputs("{\"t\": 7, \"bytes\": 10}\n\n{\"t\": 5, \"bytes\": 20}", f); /* no final newline */
    fclose(f);
    CHECK_EQ_INT(lw_trace_open(tmpdir, &tr, &eb), LW_OK);
    CHECK_EQ_INT(tr.nusage, 2);
    CHECK_NEAR(tr.usage[0].t, 5, 0);
    size_t nt;
    double *ts = lw_trace_times(&tr, &nt); /* memory-only trace: usage times */
    CHECK_EQ_INT(nt, 2);
    free(ts);
    lw_trace_close(&tr);
    rmtree(tmpdir);
}

TEST_LIST(T(roundtrip_and_feed), T(open_errors));
TEST_MAIN()
