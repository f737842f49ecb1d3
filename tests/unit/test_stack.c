/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stack.c: stack identity and frame classification (pkg/pprof/stack.c,
 * docs/stack-identity.md). The key property: the same goroutines get the
 * same identity from debug=1, debug=2 and proto profiles of one program,
 * checked on the real fixtures of every scenario, for Go 1.19 and 1.23.
 */
#include "harness.h"
/* paths are built from $LW_FIXTURES, of unknown length; truncation is harmless here */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif
#include "pprof/pprof.h"

#include <dirent.h>
#include <sys/stat.h>

static struct lw_stack mk(struct lw_frame *f, uint32_t n)
{
    struct lw_stack s;
    memset(&s, 0, sizeof(s));
    s.ftab = f;
    s.nframes = n;
    s.count = 1;
    return s;
}

TEST(test_is_std)
{
    CHECK(lw_func_is_std("net/http.(*persistConn).readLoop"));
    CHECK(lw_func_is_std("runtime.gopark"));
    CHECK(lw_func_is_std("internal/poll.runtime_pollWait"));
    CHECK(lw_func_is_std("sync.(*Mutex).Lock"));
    CHECK(lw_func_is_std("io.ReadAll"));
    CHECK(lw_func_is_std("crypto/tls.(*Conn).Read"));
    CHECK(lw_func_is_std("vendor/golang.org/x/net/http2/hpack.(*Decoder).Write"));
    CHECK(lw_func_is_std("slices.SortFunc[...]"));
    CHECK(lw_func_is_std("type:.eq.main.T"));
    CHECK(!lw_func_is_std("main.main"));
    CHECK(!lw_func_is_std("main.main.func13.1"));
    CHECK(!lw_func_is_std("main.(*Server[...]).Run"));
    CHECK(!lw_func_is_std("github.com/x/y.F"));
    CHECK(!lw_func_is_std("google.golang.org/grpc/internal/transport.(*http2Client).reader"));
    CHECK(!lw_func_is_std("golang.org/x/crypto/ssh.(*handshakeTransport).readLoop"));
    CHECK(!lw_func_is_std("example.com/mod@v1.2.3/pkg.F"));
    /* a dot-less module path that is not a standard package */
    CHECK(!lw_func_is_std("leakzoo/internal/db.(*Pool).Get"));
    CHECK(!lw_func_is_std("app.(*Server[...]).AggregateResults.func1"));
    CHECK(!lw_func_is_std(""));
    CHECK(!lw_func_is_std(NULL));
}

TEST(test_is_runtime)
{
    CHECK(lw_func_is_runtime("runtime.gopark"));
    CHECK(lw_func_is_runtime("runtime.Gosched"));
    CHECK(lw_func_is_runtime("internal/runtime/syscall.Syscall6"));
    CHECK(lw_func_is_runtime("panic"));
    CHECK(!lw_func_is_runtime("runtime/pprof.writeGoroutineStacks"));
    CHECK(!lw_func_is_runtime("internal/poll.runtime_pollWait"));
    CHECK(!lw_func_is_runtime("sync.runtime_SemacquireMutex"));
    CHECK(!lw_func_is_runtime("main.runtime"));
    CHECK(!lw_func_is_runtime(NULL));
}

TEST(test_identity_rules)
{
    /* proto keeps leading runtime frames and goexit; debug=1 hides them */
    struct lw_frame proto[] = {{"runtime.gopark", "proc.go", 1},
                               {"runtime.chanrecv", "chan.go", 2},
                               {"runtime.chanrecv1", "chan.go", 3},
                               {"main.worker[go.shape.int]", "/a/main.go", 10},
                               {"main.main.func1", "/a/main.go", 20},
                               {"runtime.goexit", "asm.s", 30}};
    struct lw_frame d1[] = {{"main.worker[...]", "/b/main.go", 11}, {"main.main.func1", NULL, 0}};
    struct lw_stack a = mk(proto, 6), b = mk(d1, 2);
    CHECK_EQ_INT(lw_stack_identity(&a), lw_stack_identity(&b));
    /* labels, state, creator and counts are not part of it */
    struct lw_stack_ext bx = LW_STACK_EXT_INIT;
    bx.state = "chan receive";
    bx.created_by = "main.main";
    bx.max_wait_minutes = 7;
    b.labels_ = "{\"a\":\"b\"}";
    b.ext = &bx;
    CHECK_STR(lw_stack_state(&b), "chan receive");
    CHECK_STR(lw_stack_created_by(&b), "main.main");
    CHECK_EQ_INT(lw_stack_max_wait(&b), 7);
    /* a stack without a side record reads as one at its defaults */
    struct lw_stack_ext dx = LW_STACK_EXT_INIT;
    struct lw_stack d = a;
    d.ext = &dx;
    CHECK(a.ext == NULL && lw_stack_state(&a) == NULL && lw_stack_created_by_file(&a) == NULL);
    CHECK_EQ_INT(lw_stack_max_wait(&a), lw_stack_max_wait(&d));
    CHECK_EQ_INT(lw_stack_min_wait(&a), lw_stack_min_wait(&d));
    CHECK_EQ_INT(lw_stack_max_wait(&a), -1);
    CHECK_EQ_INT(lw_stack_created_by_line(&a), lw_stack_created_by_line(&d));
    CHECK_EQ_INT(lw_stack_inuse_bytes(&a), lw_stack_inuse_bytes(&d));
    CHECK_EQ_INT(lw_stack_alloc_objects(&a), lw_stack_alloc_objects(&d));
    CHECK_EQ_INT(lw_stack_alloc_bytes(&a), lw_stack_alloc_bytes(&d));
    b.count = 99;
    CHECK_EQ_INT(lw_stack_identity(&a), lw_stack_identity(&b));
    /* a different function is a different identity */
    struct lw_frame other[] = {{"main.worker[...]", NULL, 0}, {"main.main.func2", NULL, 0}};
    struct lw_stack c = mk(other, 2);
    CHECK(lw_stack_identity(&b) != lw_stack_identity(&c));
    /* frame order matters */
    struct lw_frame swapped[] = {{"main.main.func1", NULL, 0}, {"main.worker[...]", NULL, 0}};
    struct lw_stack sw = mk(swapped, 2);
    CHECK(lw_stack_identity(&b) != lw_stack_identity(&sw));

    /* goroutine 1: debug=1 shows runtime.main at the root, debug=2 hides it */
    struct lw_frame g1a[] = {{"main.main", NULL, 0}, {"runtime.main", NULL, 0}};
    struct lw_frame g1b[] = {{"main.main", NULL, 0}};
    struct lw_stack m1 = mk(g1a, 2), m2 = mk(g1b, 1);
    CHECK_EQ_INT(lw_stack_identity(&m1), lw_stack_identity(&m2));
    /* runtime.gopanic (debug=1/proto) vs "panic" (debug=2) mid-stack */
    struct lw_frame pa[] = {{"main.f", NULL, 0}, {"runtime.gopanic", NULL, 0}, {"main.g", NULL, 0}};
    struct lw_frame pb[] = {{"main.f", NULL, 0}, {"panic", NULL, 0}, {"main.g", NULL, 0}};
    struct lw_stack sa = mk(pa, 3), sb = mk(pb, 3);
    CHECK_EQ_INT(lw_stack_identity(&sa), lw_stack_identity(&sb));
    /* exported runtime frames mid-stack stay (both formats show them) */
    struct lw_frame ea[] = {{"main.f", NULL, 0}, {"runtime.GC", NULL, 0}, {"main.g", NULL, 0}};
    struct lw_frame eb[] = {{"main.f", NULL, 0}, {"main.g", NULL, 0}};
    struct lw_stack xa = mk(ea, 3), xb = mk(eb, 2);
    CHECK(lw_stack_identity(&xa) != lw_stack_identity(&xb));

    /* all-runtime stacks use their runtime frames (minus goexit) */
    struct lw_frame rt1[] = {{"runtime.gopark", NULL, 0}, {"runtime.bgsweep", NULL, 0},
                             {"runtime.goexit", NULL, 0}};
    struct lw_frame rt2[] = {{"runtime.gopark", NULL, 0}, {"runtime.bgsweep", NULL, 0}};
    struct lw_frame rt3[] = {{"runtime.gopark", NULL, 0}, {"runtime.bgscavenge", NULL, 0}};
    struct lw_stack r1 = mk(rt1, 3), r2 = mk(rt2, 2), r3 = mk(rt3, 2);
    CHECK_EQ_INT(lw_stack_identity(&r1), lw_stack_identity(&r2));
    CHECK(lw_stack_identity(&r2) != lw_stack_identity(&r3));

    /* generics: nested brackets in shapes, and methods of generic types */
    struct lw_frame ga[] = {{"main.(*Cache[go.shape.string,go.shape.[]uint8]).Get", NULL, 0},
                            {"main.F[go.shape.struct { A [2]int }]", NULL, 0}};
    struct lw_frame gb[] = {{"main.(*Cache[...]).Get", NULL, 0}, {"main.F[...]", NULL, 0}};
    struct lw_stack ha = mk(ga, 2), hb = mk(gb, 2);
    CHECK_EQ_INT(lw_stack_identity(&ha), lw_stack_identity(&hb));
    /* an unbalanced '[' must not read past the name */
    struct lw_frame ub[] = {{"main.F[go.shape.int", NULL, 0}};
    struct lw_stack u = mk(ub, 1);
    (void)lw_stack_identity(&u);

    /* depth: only the innermost LW_IDENTITY_FRAMES frames count */
    struct lw_frame deep1[40], deep2[40];
    for (int i = 0; i < 40; i++) {
        deep1[i].func = deep2[i].func = "main.recurse";
        deep1[i].file = deep2[i].file = NULL;
        deep1[i].line = deep2[i].line = 0;
    }
    deep2[39].func = "main.start";
    struct lw_stack d32 = mk(deep1, 32), d40 = mk(deep2, 40);
    CHECK_EQ_INT(lw_stack_identity(&d32), lw_stack_identity(&d40));
    deep2[LW_IDENTITY_FRAMES - 1].func = "main.other";
    CHECK(lw_stack_identity(&d32) != lw_stack_identity(&d40));
    /* empty stack: stable value */
    struct lw_stack e1 = mk(NULL, 0), e2 = mk(NULL, 0);
    CHECK_EQ_INT(lw_stack_identity(&e1), lw_stack_identity(&e2));
}

TEST(test_leaf_and_user_frame)
{
    struct lw_frame f[] = {{"runtime.gopark", NULL, 0},
                           {"internal/poll.runtime_pollWait", NULL, 0},
                           {"net/http.(*persistConn).readLoop", NULL, 0},
                           {"main.handler", "/app/main.go", 5},
                           {"runtime.goexit", NULL, 0}};
    struct lw_stack s = mk(f, 5);
    CHECK_EQ_INT(lw_stack_leaf_index(&s), 1);
    const struct lw_frame *u = lw_stack_user_frame(&s);
    CHECK(u != NULL);
    if (u)
        CHECK_STR(u->func, "main.handler");
    struct lw_frame std_only[] = {{"?", NULL, 0}, {"net/http.(*persistConn).readLoop", NULL, 0}};
    struct lw_stack t = mk(std_only, 2);
    CHECK(lw_stack_user_frame(&t) == NULL);
    CHECK_EQ_INT(lw_stack_leaf_index(&t), 0);
    struct lw_frame rt[] = {{"runtime.gopark", NULL, 0}, {"runtime.goexit", NULL, 0}};
    struct lw_stack r = mk(rt, 2);
    CHECK_EQ_INT(lw_stack_leaf_index(&r), 0);
    struct lw_stack e = mk(NULL, 0);
    CHECK_EQ_INT(lw_stack_leaf_index(&e), 0);
    CHECK(lw_stack_user_frame(&e) == NULL);
}

/* ---- cross-format identity on real fixtures ---- */

static struct lw_profile *load(const char *path)
{
    struct lw_buf b = LW_BUF_INIT((size_t)1 << 30);
    struct lw_errbuf eb = {{0}};
    if (lw_read_file(path, &b, &eb) != LW_OK) {
        fprintf(stderr, "  %s\n", eb.msg);
        return NULL;
    }
    struct lw_profile *p = NULL;
    if (lw_pprof_parse(b.data, b.len, NULL, &p, &eb) != LW_OK)
        fprintf(stderr, "  %s: %s\n", path, eb.msg);
    lw_buf_release(&b);
    return p;
}

static int has_id(const struct lw_profile *p, uint64_t id)
{
    for (size_t i = 0; i < p->nstacks; i++)
        if (lw_stack_identity(&p->stacks[i]) == id)
            return 1;
    return 0;
}

/* Goroutines of a whose identity is not in b. The profiling request itself
 * differs by design (debug=1 runs writeRuntimeProfile, debug=2
 * writeGoroutineStacks), and the server's background read of that request
 * is caught in a different state each time; everything else must match. */
static int64_t unmatched(const struct lw_profile *a, const struct lw_profile *b,
                         const char *what)
{
    int64_t miss = 0;
    for (size_t i = 0; i < a->nstacks; i++) {
        const struct lw_stack *s = &a->stacks[i];
        if (has_id(b, lw_stack_identity(s)))
            continue;
        miss += s->count;
        if (s->count >= 2) {
            fprintf(stderr, "  %s: %lld goroutines at %s not matched\n", what,
                    (long long)s->count, s->nframes ? lw_stack_frame(s, 0)->func : "(no frames)");
            CHECK(s->count < 2);
        }
    }
    if (miss > 3)
        fprintf(stderr, "  %s: %lld goroutines not matched\n", what, (long long)miss);
    return miss;
}

TEST(test_identity_across_formats)
{
    static const char *vers[] = {"go1.19", "go1.23"};
    int compared = 0;
    for (int v = 0; v < 2; v++) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", lw_t_fixtures(), vers[v]);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || strcmp(e->d_name, "huge") == 0)
                continue;
            char p1[1400], p2[1400], pp[1400], what[1500];
            snprintf(p1, sizeof(p1), "%s/%s/goroutine1.txt", dir, e->d_name);
            snprintf(p2, sizeof(p2), "%s/%s/goroutine2.txt", dir, e->d_name);
            snprintf(pp, sizeof(pp), "%s/%s/goroutine.pb.gz", dir, e->d_name);
            struct stat st;
            if (stat(p1, &st) != 0 || stat(p2, &st) != 0)
                continue;
            struct lw_profile *a = load(p1), *b = load(p2), *c = NULL;
            CHECK(a && b);
            if (a && b) {
                snprintf(what, sizeof(what), "%s/%s debug1->debug2", vers[v], e->d_name);
                CHECK(unmatched(a, b, what) <= 3);
                snprintf(what, sizeof(what), "%s/%s debug2->debug1", vers[v], e->d_name);
                CHECK(unmatched(b, a, what) <= 3);
                compared++;
            }
            if (a && stat(pp, &st) == 0 && (c = load(pp)) != NULL) {
                snprintf(what, sizeof(what), "%s/%s debug1->proto", vers[v], e->d_name);
                CHECK(unmatched(a, c, what) <= 3);
                snprintf(what, sizeof(what), "%s/%s proto->debug1", vers[v], e->d_name);
                CHECK(unmatched(c, a, what) <= 3);
            }
            lw_profile_free(a);
            lw_profile_free(b);
            lw_profile_free(c);
        }
        closedir(d);
    }
    if (!compared)
        fprintf(stderr, "  no fixtures under %s/go1.*/\n", lw_t_fixtures());
    CHECK(compared >= 4);
}

TEST_LIST(T(test_is_std), T(test_is_runtime), T(test_identity_rules), T(test_leaf_and_user_frame),
          T(test_identity_across_formats));
TEST_MAIN()
