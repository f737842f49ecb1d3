/* SPDX-License-Identifier: Apache-2.0 */
/*
 * causes_table.c: the known-cause fingerprints (docs/causes.md).
 *
 * One entry per fingerprint; the matcher (causes.c) picks the matching entry
 * with the highest confidence, and on ties the earlier one, so put specific
 * entries (more evidence, higher confidence) before generic ones. Several
 * entries may share an id when different evidence leads to one diagnosis.
 * Every entry has a test in tests/unit/test_causes.c on a real profile.
 *
 * Evidence behind the entries: seed incidents (../shared/seeds), the Go
 * issues cited in anchors.md §6, and the fixtures under tests/fixtures/go1.19
 * (profiles of the programs in tests/go).
 */
#include "causes/causes_int.h"

#define READLOOP "net/http.(*persistConn).readLoop"
#define WRITELOOP "net/http.(*persistConn).writeLoop"
#define DIALCONN "net/http.(*Transport).dialConn"

#define HINT_PER_REQUEST \
    "likely an http.Transport (or http.Client with its own Transport) built per request: create it once and reuse it"
#define HINT_BODY \
    "likely response bodies never closed: defer resp.Body.Close() (and drain it) after every request"
#define HINT_HTTP_CONNS \
    "HTTP client connections pile up: reuse one http.Transport and close every resp.Body"
#define HINT_GRPC \
    "likely grpc.Dial/NewClient per call without Close: dial once and reuse the *grpc.ClientConn, Close any you replace"
#define HINT_SSH \
    "ssh.Dial's Timeout covers only the TCP connect: set conn.SetDeadline around the SSH handshake (net.DialTimeout + ssh.NewClientConn)"
#define HINT_TICKER \
    "a ticker loop that never exits: return on ctx.Done() (or a done channel) and defer ticker.Stop()"
#define HINT_SERVER_IDLE \
    "clients hold idle connections open: set http.Server ReadHeaderTimeout and IdleTimeout"

const struct lw_cause_rule lw__cause_rules[] = {
    /* ---- net/http client: persistConn read/write loops ----------------------
     * Body never closed: readLoop sits in its select waiting for the body to
     * be read or closed (waitForBodyRead). Transport per request: each
     * Transport's one connection goes idle in its own pool, readLoop parks in
     * bufio.(*Reader).Peek on the socket (IO wait), and nobody reuses it. */
    {
        /* idle readLoops and Transports being made all the time */
        .id = "http-transport-per-request",
        .confidence = 0.9,
        .hint = HINT_PER_REQUEST,
        .self = {.all = {READLOOP}, .waits = LW_WAIT_IO},
        .heap = {"net/http.(*Transport).onceSetNextProtoDefaults"},
    },
    {
        .id = "http-body-not-closed",
        .confidence = 0.8,
        .hint = HINT_BODY,
        .self = {.all = {READLOOP}, .waits = LW_WAIT_SELECT},
    },
    {
        /* debug=1 hides the runtime frames: readLoop parked in its own frame
         * (not under bufio Peek) is its select, waiting for the body. */
        .id = "http-body-not-closed",
        .confidence = 0.75,
        .hint = HINT_BODY,
        .self = {.leaf = {READLOOP}, .waits = LW_WAITS_UNKNOWN_OK},
    },
    {
        .id = "http-transport-per-request",
        .confidence = 0.8,
        .hint = HINT_PER_REQUEST,
        .self = {.all = {READLOOP}, .waits = LW_WAIT_IO},
    },
    {
        .id = "http-body-not-closed",
        .confidence = 0.75,
        .hint = HINT_BODY,
        .self = {.all = {WRITELOOP}},
        .need_sibling = true,
        .sibling = {.leaf = {READLOOP}, .waits = LW_WAIT_SELECT | LW_WAITS_UNKNOWN_OK},
    },
    {
        .id = "http-transport-per-request",
        .confidence = 0.75,
        .hint = HINT_PER_REQUEST,
        .self = {.all = {WRITELOOP}},
        .need_sibling = true,
        .sibling = {.all = {READLOOP}, .waits = LW_WAIT_IO},
    },
    {
        .id = "http-client-conns",
        .confidence = 0.6,
        .hint = HINT_HTTP_CONNS,
        .self = {.any = {READLOOP, WRITELOOP}},
    },

    /* ---- gRPC client transports (seed incident-2, grpc-go#4180) ------------ */
    {
        .id = "grpc-dial-no-close",
        .confidence = 0.8,
        .hint = HINT_GRPC,
        .self = {.any = {"google.golang.org/grpc/internal/transport.(*http2Client)",
                         "google.golang.org/grpc/internal/transport.newHTTP2Client",
                         "google.golang.org/grpc.(*addrConn)",
                         "google.golang.org/grpc.(*ccBalancerWrapper)",
                         "google.golang.org/grpc.(*ccResolverWrapper)",
                         "google.golang.org/grpc.(*ClientConn)"},
                 .none = {"(*http2Server)", "google.golang.org/grpc.(*Server)"}},
    },

    /* ---- x/crypto/ssh handshake without a deadline (incident-3, go#15113) -- */
    {
        .id = "ssh-handshake-no-deadline",
        .confidence = 0.85,
        .hint = HINT_SSH,
        .self = {.any = {"golang.org/x/crypto/ssh.readVersion",
                         "golang.org/x/crypto/ssh.exchangeVersions",
                         "golang.org/x/crypto/ssh.(*connection).clientHandshake",
                         "golang.org/x/crypto/ssh.(*handshakeTransport).waitSession"},
                 .none = {"golang.org/x/crypto/ssh.(*connection).serverHandshake"},
                 .waits = LW_WAIT_IO | LW_WAIT_RECV | LW_WAIT_SELECT | LW_WAITS_UNKNOWN_OK,
                 .min_wait_minutes = 5},
    },
    {
        .id = "http-server-idle-conns",
        .confidence = 0.7,
        .hint = HINT_SERVER_IDLE,
        /* waiting for the next request, not running a handler */
        .self = {.all = {"net/http.(*conn).serve"},
                 .none = {"net/http.serverHandler.ServeHTTP"},
                 .waits = LW_WAIT_IO},
    },

    /* ---- timers and tickers ---------------------------------------------- */
    {
        /* Blocked goroutines show "N minutes" once they are a few minutes
         * old; these are old and show none: something wakes them, a
         * ticker/timer (the stack itself cannot show it). */
        .id = "ticker-not-stopped",
        .confidence = 0.7,
        .hint = HINT_TICKER,
        .self = {.user_leaf = true, .waits = LW_WAIT_SELECT | LW_WAIT_RECV, .woken = true},
    },
    {
        /* tickers made in a loop (time.Tick per iteration) show in the heap */
        .id = "ticker-not-stopped",
        .confidence = 0.7,
        .hint = HINT_TICKER,
        .self = {.user_leaf = true, .waits = LW_WAIT_SELECT | LW_WAIT_RECV | LW_WAITS_UNKNOWN_OK},
        .heap = {"time.NewTicker", "time.NewTimer", "time.Tick"},
    },
    {
        .id = "sleep-loop-never-exits",
        .confidence = 0.6,
        .hint = "a time.Sleep loop in a goroutine that never exits: use a time.Ticker with a ctx.Done() case and return",
        .self = {.leaf = {"time.Sleep"}, .user_frame = true},
    },

    /* ---- goroutines blocked forever on a channel (LeakProf's patterns) ----- */
    {
        .id = "chan-send-blocked",
        .confidence = 0.7,
        .hint = "blocked forever sending on a channel nobody reads after the caller gave up: make it buffered (cap 1) or select on ctx.Done()",
        .self = {.user_leaf = true, .waits = LW_WAIT_SEND},
    },
    {
        .id = "chan-receive-blocked",
        .confidence = 0.6,
        .hint = "blocked forever receiving on a channel nobody sends on or closes: close it when done, or select on ctx.Done()",
        .self = {.user_leaf = true, .waits = LW_WAIT_RECV},
    },
    {
        .id = "select-blocked",
        .confidence = 0.55,
        .hint = "blocked forever in select with no case ready: add a ctx.Done() case and cancel the context when the caller returns",
        .self = {.user_leaf = true, .waits = LW_WAIT_SELECT},
    },
    {
        .id = "sync-blocked",
        .confidence = 0.45,
        .hint = "blocked forever on a lock or WaitGroup: check every path calls Unlock/Done",
        .self = {.leaf = {"sync.runtime_", "sync.(*", "internal/sync."}, .user_frame = true,
                 .waits = LW_WAIT_SYNC},
    },
    {
        .id = "blocked-in-user-code",
        .confidence = 0.4,
        .hint = "goroutines parked in user code pile up: likely blocked forever on a channel after the caller gave up; select on ctx.Done()",
        .self = {.user_leaf = true, .waits = LW_WAITS_UNKNOWN_OK},
    },

    /* ---- heap allocation sites ------------------------------------------- */
    {
        .id = "grpc-dial-no-close",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.75,
        .hint = HINT_GRPC,
        .self = {.any = {"google.golang.org/grpc/internal/transport.newBufWriter",
                         "google.golang.org/grpc/internal/transport.newFramer",
                         "google.golang.org/grpc/internal/transport.newHTTP2Client"},
                 .none = {"(*http2Server)", "newHTTP2Server"}},
    },
    {
        /* onceSetNextProtoDefaults runs once per Transport: a growing site
         * under it counts Transports being made (go1.19 fixture). */
        .id = "http-transport-per-request",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.8,
        .hint = HINT_PER_REQUEST,
        .self = {.all = {"net/http.(*Transport).onceSetNextProtoDefaults"}},
    },
    {
        .id = "http-transport-per-request",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.7,
        .hint = HINT_PER_REQUEST,
        .self = {.all = {DIALCONN}},
        .need_sibling = true,
        .sibling = {.all = {READLOOP}, .waits = LW_WAIT_IO},
    },
    {
        .id = "http-body-not-closed",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.7,
        .hint = HINT_BODY,
        .self = {.all = {DIALCONN}},
        .need_sibling = true,
        .sibling = {.leaf = {READLOOP}, .waits = LW_WAIT_SELECT | LW_WAITS_UNKNOWN_OK},
    },
    {
        .id = "http-client-conns",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.55,
        .hint = HINT_HTTP_CONNS,
        .self = {.all = {DIALCONN}},
    },
    {
        /* server-side connection buffers (newBufioReader/Writer under serve) */
        .id = "http-server-idle-conns",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.6,
        .hint = HINT_SERVER_IDLE,
        .self = {.all = {"net/http.(*conn).serve"},
                 .any = {"net/http.newBufioReader", "net/http.newBufioWriterSize"},
                 .none = {"net/http.serverHandler.ServeHTTP"}},
    },
    {
        .id = "ticker-not-stopped",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.6,
        .hint = "tickers created in a loop and never stopped: create one ticker outside the loop, defer t.Stop(), exit on ctx.Done()",
        .self = {.leaf = {"time.NewTicker", "time.NewTimer", "time.Tick"}, .user_frame = true},
    },
    {
        /* The site is the user's own allocation and its in-use bytes keep
         * growing: what it allocates stays referenced (heap-map fixture:
         * main.rememberSession filling a map with no eviction). */
        .id = "heap-retained-by-user-code",
        .target = LW_CAUSE_HEAP,
        .confidence = 0.5,
        .hint = "memory allocated here is never released: likely an unbounded map, cache or slice; bound it (evict by size or age)",
        .self = {.user_leaf = true,
                 /* library internals, not the user's data structures */
                 .none = {"google.golang.org/grpc/", "golang.org/x/net/"}},
    },

    /* ---- structures bounded by design (LW_CAUSE_BOUNDED) -------------------
     * Not leak causes: evidence that heap growth may be a cache filling up.
     * An LRU evicts its least recently used entry at capacity, so the memory
     * it holds rises while it fills and then stays flat; until it is full,
     * nothing in the memory series or the profiles tells its fill from a
     * leak (docs/evaluation.md, D1). Matched on the type or package name of
     * the common Go LRUs: a hand-written (*lru)/(*lruCache), groupcache and
     * k8s.io/utils "lru.", hashicorp/golang-lru "simplelru."/"golang-lru."
     * (ARC and 2Q included), generic (*LRU[K,V]). net/http's own
     * (*connLRU) does not match (case and prefix): one exists per Transport,
     * so it grows when Transports leak. */
    {
        .id = "lru-cache-filling",
        .target = LW_CAUSE_BOUNDED,
        .confidence = 0.6,
        .hint = "an LRU cache filling up: bounded by its capacity, so it levels off unless the capacity does not fit the memory limit",
        .self = {.any = {"lru.", "(*lru)", "(*lru[", "(*LRU)", "(*LRU[", "(*lruCache)", "(*LRUCache)",
                         "(*LruList"}},
    },

    /* ---- connections kept for reuse (LW_CAUSE_POOLED) ----------------------
     * Not leak causes: the goroutines of an HTTP connection, client side
     * (a Transport's pool) or server side (a keep-alive conn), which a
     * healthy process holds in numbers that follow its concurrency, so they
     * grow while the load grows. The analysis asks the debug=2 waits whether
     * such growth is in use (docs/analysis.md §2.1): a leaked connection is
     * one nobody uses, parked for as long as it has leaked. */
    {
        .id = "pooled-connection",
        .target = LW_CAUSE_POOLED,
        .confidence = 0.5,
        .hint = "HTTP connection goroutines, which a pool or keep-alive keeps in numbers that follow the load",
        .self = {.any = {"net/http.(*persistConn).readLoop", "net/http.(*persistConn).writeLoop",
                         "net/http.(*http2ClientConn).readLoop", "golang.org/x/net/http2.(*ClientConn).readLoop",
                         "net/http.(*conn).serve", "net/http.(*http2serverConn).serve",
                         "golang.org/x/net/http2.(*serverConn).serve"}},
    },
};

const size_t lw__cause_nrules = sizeof(lw__cause_rules) / sizeof(lw__cause_rules[0]);
