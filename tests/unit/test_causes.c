/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_causes.c: the known-cause table on real profiles (tests/fixtures,
 * recorded from tests/go/leakzoo under Go 1.19 and 1.23). Each scenario's
 * leaking stack is the one with the most goroutines; every stack with at
 * least 10 goroutines is passed as "growing" context, as the analysis does.
 * One test per table entry, plus sanity checks on the table itself and a
 * check that the healthy control gets no confident hint.
 */
#include "harness.h"

#include "causes/causes.h"
#include "pprof/pprof.h"

#include <dirent.h>

static struct lw_profile *load(const char *ver, const char *scenario, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/%s/%s", lw_t_fixtures(), ver, scenario, file);
    struct lw_buf b = LW_BUF_INIT((size_t)256 << 20);
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    if (lw_read_file(path, &b, &eb) == LW_OK && lw_pprof_parse(b.data, b.len, NULL, &p, &eb) != LW_OK)
        p = NULL;
    if (!p)
        fprintf(stderr, "cannot load %s: %s\n", path, eb.msg);
    lw_buf_release(&b);
    return p;
}

static bool stack_has(const struct lw_stack *s, const char *func)
{
    for (uint32_t i = 0; i < s->nframes; i++)
        if (strstr(lw_stack_frame(s, i)->func, func))
            return true;
    return false;
}

/* The stack with the most goroutines (or bytes) that has a frame matching
 * func (NULL: any). */
static const struct lw_stack *biggest(const struct lw_profile *p, const char *func)
{
    const struct lw_stack *best = NULL;
    for (size_t i = 0; i < p->nstacks; i++) {
        const struct lw_stack *s = &p->stacks[i];
        int64_t v = p->kind == LW_KIND_HEAP ? lw_stack_inuse_bytes(s) : s->count;
        int64_t bv = -1;
        if (best)
            bv = p->kind == LW_KIND_HEAP ? lw_stack_inuse_bytes(best) : best->count;
        if ((!func || stack_has(s, func)) && v > bv)
            best = s;
    }
    return best;
}

/* Context: every goroutine stack of p with >= 10 goroutines grows. */
struct ctx {
    struct lw_cause_subject subj[64];
    const struct lw_stack *heap[64];
    struct lw_cause_context cx;
};

static void ctx_build(struct ctx *c, const struct lw_profile *g, const struct lw_profile *h,
                      double age)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; g && i < g->nstacks && c->cx.ngoroutines < 64; i++)
        if (g->stacks[i].count >= 10)
            c->subj[c->cx.ngoroutines++] =
                (struct lw_cause_subject){&g->stacks[i], 120.0, g->stacks[i].count, age};
    for (size_t i = 0; h && i < h->nstacks && c->cx.nheap < 64; i++)
        if (lw_stack_inuse_bytes(&h->stacks[i]) > 0)
            c->heap[c->cx.nheap++] = &h->stacks[i];
    c->cx.goroutines = c->subj;
    c->cx.heap_sites = c->heap;
}

/* Match the biggest goroutine stack with func in ver/scenario/file and
 * check the cause id; returns the confidence (0 if no match). */
static double expect_goroutine(const char *ver, const char *scenario, const char *file,
                               const char *func, double age, const char *want)
{
    struct lw_profile *p = load(ver, scenario, file);
    CHECK(p != NULL);
    if (!p)
        return 0;
    const struct lw_stack *s = biggest(p, func);
    CHECK(s != NULL);
    double conf = 0;
    if (s) {
        struct ctx c;
        ctx_build(&c, p, NULL, age);
        struct lw_cause_subject sub = {s, 120.0, s->count, age};
        struct lw_cause cause = {0};
        int m = lw_causes_match_goroutine(&sub, &c.cx, &cause);
        if (!m || strcmp(cause.id, want) != 0)
            fprintf(stderr, "  %s/%s/%s %s: got %s, want %s\n", ver, scenario, file,
                    func ? func : "(biggest)", m ? cause.id : "(none)", want);
        CHECK(m == 1);
        CHECK_STR(m ? cause.id : NULL, want);
        conf = m ? cause.confidence : 0;
        CHECK(conf > 0 && conf <= 1);
    }
    lw_profile_free(p);
    return conf;
}

static const char *const versions[] = {"go1.19", "go1.23"};
static const char *const gfiles[] = {"goroutine1.txt", "goroutine2.txt", "goroutine.pb.gz"};

TEST(table_is_sane)
{
    size_t n = lw_causes_count();
    CHECK(n >= 15);
    for (size_t i = 0; i < n; i++) {
        const char *id = lw_causes_id(i);
        CHECK(id && id[0]);
    }
    CHECK(lw_causes_id(n) == NULL);
    /* every id in the table is one this file tests (add both together) */
    static const char *const tested[] = {
        "http-transport-per-request", "http-body-not-closed", "http-client-conns",
        "grpc-dial-no-close", "ssh-handshake-no-deadline", "http-server-idle-conns",
        "ticker-not-stopped", "sleep-loop-never-exits", "chan-send-blocked",
        "chan-receive-blocked", "select-blocked", "sync-blocked", "blocked-in-user-code",
        "heap-retained-by-user-code", "lru-cache-filling", "pooled-connection"};
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < LW_ARRAY_SIZE(tested) && !found; k++)
            found = strcmp(lw_causes_id(i), tested[k]) == 0;
        if (!found)
            fprintf(stderr, "  table id %s has no test\n", lw_causes_id(i));
        CHECK(found);
    }
}

TEST(http_transport_per_request)
{
    for (size_t v = 0; v < 2; v++)
        for (size_t f = 0; f < 3; f++) {
            expect_goroutine(versions[v], "http-transport", gfiles[f],
                             "net/http.(*persistConn).readLoop", 0, "http-transport-per-request");
            /* writeLoop is always in select: told apart by its readLoop sibling */
            expect_goroutine(versions[v], "http-transport", gfiles[f],
                             "net/http.(*persistConn).writeLoop", 0, "http-transport-per-request");
        }
}

TEST(http_transport_heap_evidence)
{
    /* Transports made all the time show in the heap (when sampled): the
     * readLoop diagnosis gets firmer */
    for (size_t v = 0; v < 2; v++) {
        struct lw_profile *g = load(versions[v], "http-transport", "goroutine.pb.gz");
        struct lw_profile *h = load(versions[v], "http-transport", "heap.pb.gz");
        CHECK(g && h);
        bool sampled = false;
        for (size_t i = 0; h && i < h->nstacks; i++)
            sampled |= lw_stack_inuse_bytes(&h->stacks[i]) > 0 &&
                       stack_has(&h->stacks[i], "net/http.(*Transport).onceSetNextProtoDefaults");
        const struct lw_stack *s = g ? biggest(g, "net/http.(*persistConn).readLoop") : NULL;
        CHECK(s != NULL);
        if (s && h) {
            struct ctx c;
            ctx_build(&c, g, h, 0);
            struct lw_cause_subject sub = {s, 120.0, s->count, 0};
            struct lw_cause cause = {0};
            CHECK_EQ_INT(lw_causes_match_goroutine(&sub, &c.cx, &cause), 1);
            CHECK_STR(cause.id, "http-transport-per-request");
            CHECK_NEAR(cause.confidence, sampled ? 0.9 : 0.8, 1e-9);
            if (!sampled)
                fprintf(stderr, "  %s: no Transport setup sampled in this heap profile\n",
                        versions[v]);
        }
        lw_profile_free(g);
        lw_profile_free(h);
    }
}

TEST(http_body_not_closed)
{
    for (size_t v = 0; v < 2; v++)
        for (size_t f = 0; f < 3; f++) {
            expect_goroutine(versions[v], "http-body", gfiles[f], "net/http.(*persistConn).readLoop",
                             0, "http-body-not-closed");
            expect_goroutine(versions[v], "http-body", gfiles[f],
                             "net/http.(*persistConn).writeLoop", 0, "http-body-not-closed");
        }
}

TEST(http_client_conns_without_sibling)
{
    /* a writeLoop alone cannot say which of the two it is */
    struct lw_profile *p = load("go1.19", "http-body", "goroutine2.txt");
    CHECK(p != NULL);
    if (!p)
        return;
    const struct lw_stack *w = biggest(p, "net/http.(*persistConn).writeLoop");
    CHECK(w != NULL);
    struct lw_cause_subject sub = {w, 120.0, w ? w->count : 0, 0};
    struct lw_cause_context cx = {&sub, 1, NULL, 0};
    struct lw_cause c = {0};
    CHECK_EQ_INT(lw_causes_match_goroutine(&sub, &cx, &c), 1);
    CHECK_STR(c.id, "http-client-conns");
    CHECK(c.confidence < 0.7);
    lw_profile_free(p);
}

TEST(grpc_dial_without_close)
{
    const char *groups[] = {"google.golang.org/grpc.(*ccBalancerWrapper).watcher",
                            "google.golang.org/grpc.(*addrConn).resetTransport",
                            "google.golang.org/grpc/internal/transport.(*http2Client).reader",
                            "google.golang.org/grpc/internal/transport.newHTTP2Client.func3"};
    for (size_t v = 0; v < 2; v++)
        for (size_t f = 0; f < 3; f++)
            for (size_t g = 0; g < LW_ARRAY_SIZE(groups); g++)
                expect_goroutine(versions[v], "grpc-dial", gfiles[f], groups[g], 0,
                                 "grpc-dial-no-close");
}

TEST(ssh_handshake_without_deadline)
{
    for (size_t v = 0; v < 2; v++)
        for (size_t f = 0; f < 3; f++) {
            double c = expect_goroutine(versions[v], "ssh-handshake", gfiles[f],
                                        "golang.org/x/crypto/ssh.readVersion", 0,
                                        "ssh-handshake-no-deadline");
            /* the fixture's goroutines are young: no long wait seen yet */
            CHECK(c < 0.85);
        }
    /* with a wait of hours (as in seed incident-3) the hint is at full strength */
    struct lw_profile *p = load("go1.19", "ssh-handshake", "goroutine2.txt");
    if (!p)
        return;
    const struct lw_stack *big = biggest(p, "golang.org/x/crypto/ssh.readVersion");
    CHECK(big != NULL && big->ext != NULL);
    if (big && big->ext) {
        struct lw_stack_ext ext = *big->ext;
        ext.max_wait_minutes = 200000;
        struct lw_stack one = *big, *s = &one;
        one.ext = &ext;
        struct lw_cause_subject sub = {s, 0, s->count, 0};
        struct lw_cause c = {0};
        CHECK_EQ_INT(lw_causes_match_goroutine(&sub, NULL, &c), 1);
        CHECK_STR(c.id, "ssh-handshake-no-deadline");
        CHECK_NEAR(c.confidence, 0.85, 1e-9); /* long wait: no "not growing" discount */
    }
    lw_profile_free(p);
}

TEST(http_server_idle_conns)
{
    for (size_t v = 0; v < 2; v++)
        for (size_t f = 0; f < 3; f++)
            expect_goroutine(versions[v], "server-idle", gfiles[f], "net/http.(*conn).serve", 0,
                             "http-server-idle-conns");
}

TEST(chan_send_receive_select)
{
    for (size_t v = 0; v < 2; v++) {
        /* proto and debug=2 show what they are blocked on */
        for (size_t f = 1; f < 3; f++) {
            expect_goroutine(versions[v], "chan-send", gfiles[f], "main.lookupWithTimeout.func1", 0,
                             "chan-send-blocked");
            expect_goroutine(versions[v], "chan-send", gfiles[f], "main.subscribe.func1", 0,
                             "chan-receive-blocked");
            expect_goroutine(versions[v], "chan-send", gfiles[f], "main.watchUntilDone.func1", 0,
                             "select-blocked");
        }
        /* debug=1 hides the runtime frames: only "parked in user code" */
        expect_goroutine(versions[v], "chan-send", "goroutine1.txt", "main.lookupWithTimeout.func1",
                         0, "blocked-in-user-code");
    }
}

TEST(ticker_loop_never_stopped)
{
    for (size_t v = 0; v < 2; v++) {
        /* woken by their tickers: debug=2 shows no wait although (per the
         * series) the stack is 10 minutes old */
        expect_goroutine(versions[v], "ticker", "goroutine2.txt", "main.startPoller.func1", 600,
                         "ticker-not-stopped");
        expect_goroutine(versions[v], "ticker", "goroutine2.txt", "main.startHeartbeat.func1", 600,
                         "ticker-not-stopped");
        /* young stacks prove nothing: the plain channel diagnosis */
        expect_goroutine(versions[v], "ticker", "goroutine2.txt", "main.startPoller.func1", 60,
                         "chan-receive-blocked");
        /* proto has no wait minutes */
        expect_goroutine(versions[v], "ticker", "goroutine.pb.gz", "main.startHeartbeat.func1", 600,
                         "select-blocked");
    }
}

/* Heap sites are sampled (one per 512 KiB allocated): check every site of
 * the kind a recording happens to have; *seen counts them. */
static void heap_sites_with(const char *ver, const char *scenario, const char *frame,
                            const char *goroutine_func, const char *want_heap,
                            const char *want_goroutine, size_t *seen)
{
    struct lw_profile *h = load(ver, scenario, "heap.pb.gz");
    struct lw_profile *g = load(ver, scenario, "goroutine.pb.gz");
    CHECK(h && g);
    for (size_t i = 0; h && g && i < h->nstacks; i++) {
        const struct lw_stack *st = &h->stacks[i];
        if (lw_stack_inuse_bytes(st) <= 0 || !stack_has(st, frame))
            continue;
        (*seen)++;
        struct ctx c;
        ctx_build(&c, g, h, 0);
        struct lw_cause cause = {0};
        CHECK_EQ_INT(lw_causes_match_heap(st, &c.cx, &cause), 1);
        CHECK_STR(cause.id, want_heap);
        if (goroutine_func) {
            /* the goroutines, with the growing site as context */
            const struct lw_stack *gs = biggest(g, goroutine_func);
            CHECK(gs != NULL);
            if (gs) {
                struct lw_cause_subject sub = {gs, 120.0, gs->count, 0};
                CHECK_EQ_INT(lw_causes_match_goroutine(&sub, &c.cx, &cause), 1);
                CHECK_STR(cause.id, want_goroutine);
            }
        }
    }
    lw_profile_free(h);
    lw_profile_free(g);
}

TEST(ticker_and_server_heap_sites)
{
    size_t tickers = 0, servers = 0;
    for (size_t v = 0; v < 2; v++) {
        /* time.Tick per loop iteration: a new ticker each time */
        heap_sites_with(versions[v], "ticker", "time.NewTicker", "main.startHeartbeat.func1",
                        "ticker-not-stopped", "ticker-not-stopped", &tickers);
        /* server-side connection buffers */
        heap_sites_with(versions[v], "server-idle", "net/http.(*conn).serve", NULL,
                        "http-server-idle-conns", NULL, &servers);
    }
    if (!tickers)
        fprintf(stderr, "  no time.NewTicker site sampled in these recordings\n");
    CHECK(servers >= 1);
}

TEST(sleep_loop_and_sync)
{
    expect_goroutine("go1.19", "huge", "goroutine2.txt.gz", "main.backoffSleeper", 0,
                     "sleep-loop-never-exits");
    expect_goroutine("go1.19", "huge", "goroutine2.txt.gz", "main.lockWaiter", 0, "sync-blocked");
    expect_goroutine("go1.19", "healthy", "goroutine1.txt", "time.Sleep", 0,
                     "sleep-loop-never-exits");
}

static void expect_heap(const char *ver, const char *scenario, const char *file, const char *func,
                        const char *gfile, const char *want)
{
    struct lw_profile *h = load(ver, scenario, file);
    struct lw_profile *g = gfile ? load(ver, scenario, gfile) : NULL;
    CHECK(h != NULL);
    if (h) {
        const struct lw_stack *s = biggest(h, func);
        CHECK(s != NULL);
        struct ctx c;
        ctx_build(&c, g, h, 0);
        struct lw_cause cause = {0};
        int m = s ? lw_causes_match_heap(s, &c.cx, &cause) : 0;
        if (!m || strcmp(cause.id, want) != 0)
            fprintf(stderr, "  heap %s/%s/%s %s: got %s, want %s\n", ver, scenario, file, func,
                    m ? cause.id : "(none)", want);
        CHECK_STR(m ? cause.id : NULL, want);
    }
    lw_profile_free(h);
    lw_profile_free(g);
}

TEST(heap_sites)
{
    for (size_t v = 0; v < 2; v++) {
        const char *ver = versions[v];
        for (size_t f = 0; f < 2; f++) {
            const char *hf = f ? "heap1.txt" : "heap.pb.gz";
            expect_heap(ver, "grpc-dial", hf, "google.golang.org/grpc/internal/transport.newBufWriter",
                        NULL, "grpc-dial-no-close");
            expect_heap(ver, "grpc-dial", hf, "google.golang.org/grpc/internal/transport.newFramer",
                        NULL, "grpc-dial-no-close");
            expect_heap(ver, "heap-map", hf, "main.rememberSession", NULL,
                        "heap-retained-by-user-code");
        }
    }
    /* HTTP connection buffers (bufio under Transport.dialConn) are small and
     * only sampled now and then (MemProfileRate 512 KiB): check every one a
     * recording has, against its own goroutines; at least one must exist. */
    size_t seen = 0;
    const char *sc[] = {"http-transport", "http-body"};
    const char *want[] = {"http-transport-per-request", "http-body-not-closed"};
    for (size_t v = 0; v < 2; v++)
        for (size_t k = 0; k < 2; k++) {
            struct lw_profile *h = load(versions[v], sc[k], "heap.pb.gz");
            struct lw_profile *g = load(versions[v], sc[k], "goroutine.pb.gz");
            CHECK(h && g);
            struct ctx c;
            ctx_build(&c, g, h, 0);
            for (size_t i = 0; h && g && i < h->nstacks; i++) {
                const struct lw_stack *st = &h->stacks[i];
                if (lw_stack_inuse_bytes(st) <= 0)
                    continue;
                struct lw_cause cause = {0};
                if (stack_has(st, "net/http.(*Transport).dialConn")) {
                    seen++;
                    CHECK_EQ_INT(lw_causes_match_heap(st, &c.cx, &cause), 1);
                    CHECK_STR(cause.id, want[k]);
                    /* without the goroutines it cannot tell which */
                    CHECK_EQ_INT(lw_causes_match_heap(st, NULL, &cause), 1);
                    CHECK_STR(cause.id, "http-client-conns");
                }
                if (stack_has(st, "net/http.(*Transport).onceSetNextProtoDefaults")) {
                    /* runs once per Transport: growing, it counts Transports */
                    CHECK_EQ_INT(lw_causes_match_heap(st, NULL, &cause), 1);
                    CHECK_STR(cause.id, "http-transport-per-request");
                }
            }
            lw_profile_free(h);
            lw_profile_free(g);
        }
    CHECK(seen >= 1);
}

/* A stack of function names only (leaf first), for the name patterns of
 * library LRUs no fixture program uses. */
static bool bounded_names(const char *const *funcs, uint32_t n)
{
    struct lw_frame fr[8] = {{0}};
    for (uint32_t i = 0; i < n && i < 8; i++)
        fr[i].func = funcs[i];
    struct lw_stack st = {.ftab = fr, .nframes = n};
    struct lw_cause c = {0};
    int m = lw_causes_match_bounded(&st, &c);
    if (m)
        CHECK_STR(c.id, "lru-cache-filling");
    return m == 1;
}

/* One profile file of a trace directory, parsed (NULL and a failed check
 * if it does not parse). */
static struct lw_profile *trace_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    struct lw_buf b = LW_BUF_INIT((size_t)64 << 20);
    struct lw_errbuf eb = {{0}};
    struct lw_profile *p = NULL;
    CHECK_EQ_INT(lw_read_file(path, &b, &eb), LW_OK);
    CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &p, &eb), LW_OK);
    lw_buf_release(&b);
    return p;
}

TEST(lru_cache_is_bounded)
{
    /* The warm-up trace (tests/go/leakzoo healthy.go: a container/list LRU
     * filling for 90 s): its list elements and map entries are allocated
     * under main.(*lruCache).put, which the table knows is bounded. */
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/traces/warmup", lw_t_fixtures());
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    size_t lru = 0, other = 0, files = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && files < 12) {
        if (!strstr(e->d_name, "-heap.pb.gz"))
            continue;
        files++;
        struct lw_profile *h = trace_file(dir, e->d_name);
        for (size_t i = 0; h && i < h->nstacks; i++) {
            const struct lw_stack *st = &h->stacks[i];
            struct lw_cause c = {0};
            bool want = stack_has(st, "main.(*lruCache).put");
            int m = lw_causes_match_bounded(st, &c);
            CHECK_EQ_INT(m, want ? 1 : 0);
            if (m) {
                CHECK_STR(c.id, "lru-cache-filling");
                CHECK(c.confidence > 0 && c.confidence <= 1);
                CHECK(c.hint && strstr(c.hint, "LRU"));
            }
            lru += want;
            other += !want;
            /* a bounded structure is not a leak cause */
            if (want && lw_causes_match_heap(st, NULL, &c))
                CHECK(strcmp(c.id, "lru-cache-filling") != 0);
        }
        lw_profile_free(h);
    }
    if (d)
        closedir(d);
    CHECK(files >= 6);
    CHECK(lru >= 1);
    CHECK(other >= 1);
    /* the map that never evicts, and net/http's per-Transport connLRU (it
     * grows when Transports leak), are not bounded */
    for (size_t v = 0; v < 2; v++) {
        const char *sc[] = {"heap-map", "http-transport"};
        for (size_t k = 0; k < 2; k++) {
            struct lw_profile *h = load(versions[v], sc[k], "heap.pb.gz");
            CHECK(h != NULL);
            for (size_t i = 0; h && i < h->nstacks; i++)
                CHECK_EQ_INT(lw_causes_match_bounded(&h->stacks[i], NULL), 0);
            lw_profile_free(h);
        }
    }
    /* the library LRUs by name: groupcache (and k8s.io/utils/lru over it),
     * hashicorp/golang-lru v1 and v2 (generic), a generic hand-written one */
    const char *gc[] = {"container/list.(*List).insertValue", "container/list.(*List).PushFront",
                        "github.com/golang/groupcache/lru.(*Cache).Add", "main.handler"};
    const char *hv1[] = {"container/list.(*List).insertValue",
                         "github.com/hashicorp/golang-lru/simplelru.(*LRU).Add",
                         "github.com/hashicorp/golang-lru.(*Cache).Add", "main.handler"};
    const char *hv2[] = {"github.com/hashicorp/golang-lru/v2/internal.(*LruList[...]).insertValue",
                         "github.com/hashicorp/golang-lru/v2/simplelru.(*LRU[...]).Add",
                         "main.handler"};
    const char *gen[] = {"main.(*LRU[...]).Put", "main.handler"};
    const char *conn[] = {"container/list.(*List).insertValue", "net/http.(*connLRU).add",
                          "net/http.(*Transport).tryPutIdleConn"};
    const char *sess[] = {"main.(*sessionStore).Put", "main.login"};
    const char *cache[] = {"main.(*cache).Set", "main.handler"};
    CHECK(bounded_names(gc, 4));
    CHECK(bounded_names(hv1, 4));
    CHECK(bounded_names(hv2, 3));
    CHECK(bounded_names(gen, 2));
    CHECK(!bounded_names(conn, 3));
    CHECK(!bounded_names(sess, 2));
    CHECK(!bounded_names(cache, 2)); /* "cache" alone says nothing about a bound */
    CHECK_EQ_INT(lw_causes_match_bounded(NULL, NULL), 0);
}

TEST(wait_kind_agrees_across_formats)
{
    /* proto (runtime frames) and debug=2 (state) must agree per identity */
    const char *sc[] = {"chan-send", "http-transport", "http-body", "grpc-dial", "ticker"};
    for (size_t v = 0; v < 2; v++)
        for (size_t i = 0; i < LW_ARRAY_SIZE(sc); i++) {
            struct lw_profile *a = load(versions[v], sc[i], "goroutine2.txt");
            struct lw_profile *b = load(versions[v], sc[i], "goroutine.pb.gz");
            CHECK(a && b);
            size_t compared = 0;
            for (size_t x = 0; a && b && x < a->nstacks; x++) {
                if (a->stacks[x].count < 10)
                    continue;
                uint64_t id = lw_stack_identity(&a->stacks[x]);
                for (size_t y = 0; y < b->nstacks; y++)
                    if (lw_stack_identity(&b->stacks[y]) == id) {
                        unsigned ka = lw_causes_wait_kind(&a->stacks[x]);
                        unsigned kb = lw_causes_wait_kind(&b->stacks[y]);
                        if (ka != kb)
                            fprintf(stderr, "  %s/%s: %s vs %s\n", versions[v], sc[i],
                                    lw_wait_kind_name(ka), lw_wait_kind_name(kb));
                        CHECK_EQ_INT(ka, kb);
                        compared++;
                    }
            }
            CHECK(compared > 0);
            lw_profile_free(a);
            lw_profile_free(b);
        }
}

TEST(healthy_gets_no_confident_hint)
{
    /* Stacks that do not grow only match by shape: never >= 0.5. */
    const char *sc[] = {"healthy", "http-transport", "chan-send", "server-idle", "grpc-dial"};
    for (size_t v = 0; v < 2; v++)
        for (size_t i = 0; i < LW_ARRAY_SIZE(sc); i++)
            for (size_t f = 0; f < 3; f++) {
                struct lw_profile *p = load(versions[v], sc[i], gfiles[f]);
                CHECK(p != NULL);
                for (size_t k = 0; p && k < p->nstacks; k++) {
                    struct lw_cause_subject sub = {&p->stacks[k], 0, p->stacks[k].count, 0};
                    struct lw_cause c = {0};
                    if (lw_causes_match_goroutine(&sub, NULL, &c)) {
                        if (c.confidence >= 0.5)
                            fprintf(stderr, "  %s/%s/%s: %s %.2f\n", versions[v], sc[i], gfiles[f],
                                    c.id, c.confidence);
                        CHECK(c.confidence < 0.5);
                    }
                }
                lw_profile_free(p);
            }
    /* and the healthy heap has no site the table blames in user code */
    for (size_t v = 0; v < 2; v++) {
        struct lw_profile *h = load(versions[v], "healthy", "heap.pb.gz");
        CHECK(h != NULL);
        for (size_t k = 0; h && k < h->nstacks; k++) {
            struct lw_cause c = {0};
            if (lw_stack_inuse_bytes(&h->stacks[k]) >= (1 << 20) &&
                lw_causes_match_heap(&h->stacks[k], NULL, &c))
                fprintf(stderr, "  healthy heap site: %s %.2f\n", c.id, c.confidence);
        }
        lw_profile_free(h);
    }
}

TEST(null_and_empty)
{
    struct lw_cause c;
    CHECK_EQ_INT(lw_causes_match_goroutine(NULL, NULL, &c), 0);
    CHECK_EQ_INT(lw_causes_match_heap(NULL, NULL, &c), 0);
    struct lw_stack empty = {0};
    struct lw_cause_subject sub = {&empty, 10, 1, 0};
    CHECK_EQ_INT(lw_causes_match_goroutine(&sub, NULL, &c), 0);
    CHECK_EQ_INT(lw_causes_wait_kind(NULL), LW_WAIT_UNKNOWN);
    CHECK_STR(lw_wait_kind_name(LW_WAIT_SEND), "chan send");
}

/* Connections kept for reuse (LW_CAUSE_POOLED): in the poolramp trace
 * (tests/go/leakzoo healthy.go: one pooled Transport to an in-process
 * upstream) the client's persistConn loops and the upstream's conn.serve
 * match, the calls and handlers in flight do not; in the leak fixtures the
 * same connection stacks match too (the analysis, not the table, tells a
 * leak from a pool: docs/analysis.md §2.1), and a leak's own stacks do not. */
TEST(pooled_connections)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/traces/poolramp", lw_t_fixtures());
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    size_t files = 0, pooled = 0, other = 0, serve = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && files < 4) {
        if (!strstr(e->d_name, "-goroutine2.txt"))
            continue;
        files++;
        struct lw_profile *g = trace_file(dir, e->d_name);
        for (size_t i = 0; g && i < g->nstacks; i++) {
            const struct lw_stack *st = &g->stacks[i];
            bool want = stack_has(st, "net/http.(*persistConn).readLoop") ||
                        stack_has(st, "net/http.(*persistConn).writeLoop") ||
                        stack_has(st, "net/http.(*conn).serve");
            struct lw_cause c = {0};
            int m = lw_causes_match_pooled(st, &c);
            CHECK_EQ_INT(m, want ? 1 : 0);
            if (m) {
                CHECK_STR(c.id, "pooled-connection");
                CHECK(c.confidence > 0 && c.confidence <= 1);
            }
            pooled += want;
            serve += stack_has(st, "net/http.(*conn).serve");
            other += !want;
            /* not a leak cause */
            struct lw_cause_subject subj = {st, 10.0, st->count, 0};
            if (lw_causes_match_goroutine(&subj, NULL, &c))
                CHECK(strcmp(c.id, "pooled-connection") != 0);
        }
        lw_profile_free(g);
    }
    if (d)
        closedir(d);
    CHECK(files >= 4);
    CHECK(pooled >= 3 * files);
    CHECK(serve >= files);
    CHECK(other >= files);
    /* a leak of other stacks is not a pool */
    for (size_t v = 0; v < 2; v++) {
        const char *sc[] = {"ssh-handshake", "chan-send", "grpc-dial"};
        for (size_t k = 0; k < 3; k++) {
            struct lw_profile *g = load(versions[v], sc[k], "goroutine2.txt");
            CHECK(g != NULL);
            for (size_t i = 0; g && i < g->nstacks; i++)
                if (!stack_has(&g->stacks[i], "net/http."))
                    CHECK_EQ_INT(lw_causes_match_pooled(&g->stacks[i], NULL), 0);
            lw_profile_free(g);
        }
    }
}

TEST_LIST(T(table_is_sane), T(http_transport_per_request), T(http_transport_heap_evidence),
          T(http_body_not_closed),
          T(http_client_conns_without_sibling), T(grpc_dial_without_close),
          T(ssh_handshake_without_deadline), T(http_server_idle_conns), T(chan_send_receive_select),
          T(ticker_loop_never_stopped), T(ticker_and_server_heap_sites), T(sleep_loop_and_sync),
          T(heap_sites), T(lru_cache_is_bounded), T(pooled_connections),
          T(wait_kind_agrees_across_formats), T(healthy_gets_no_confident_hint), T(null_and_empty));
TEST_MAIN()
