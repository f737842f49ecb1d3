/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_scraper.c: pkg/scraper end to end over the event loop.
 *
 *  - A hostile local HTTP server (python3 http.server, written to a temp dir
 *    and started as a subprocess on 127.0.0.1) that serves real profiles
 *    recorded from tests/go/leakzoo, redirects, HTML, a gigabyte (with and
 *    without Content-Length), a trickle, a hang, invalid gzip, an empty body,
 *    404 on goroutineleak, and slow answers while counting requests in flight;
 *    it logs every request's path and headers so the test can prove what was
 *    (not) sent: no Authorization, no Cookie, no request to a redirect target.
 *  - A real Go pprof server: tests/go/leakzoo built in GOPATH mode and run
 *    with a leaking scenario (skipped, with a message, when go is missing).
 */
#define _GNU_SOURCE /* strcasestr */
#include "harness.h"
#include "scraper/scraper.h"

#include <ctype.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *server_py =
    "import http.server, socketserver, sys, time, threading, os\n"
    "portfile, logfile, fixdir = sys.argv[1], sys.argv[2], sys.argv[3]\n"
    "lock = threading.Lock()\n"
    "state = {'inflight': 0, 'max': 0}\n"
    "logf = open(logfile, 'a', buffering=1)\n"
    "def log(s):\n"
    "    with lock:\n"
    "        logf.write(s + '\\n')\n"
    "def fixture(name):\n"
    "    with open(os.path.join(fixdir, name), 'rb') as f:\n"
    "        return f.read()\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.0'\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "    def send(self, code, body, ctype='text/plain; charset=utf-8', extra=()):\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', ctype)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        for k, v in extra:\n"
    "            self.send_header(k, v)\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def profile(self, name, q, leak_served=False):\n"
    "        if name == 'goroutine' and q == 'debug=1':\n"
    "            return self.send(200, fixture('goroutine1.txt'))\n"
    "        if name == 'goroutine' and q == 'debug=2':\n"
    "            return self.send(200, fixture('goroutine2.txt'))\n"
    "        if name == 'heap' and q == 'debug=1':\n"
    "            return self.send(200, fixture('heap1.txt'))\n"
    "        if name == 'goroutineleak' and leak_served:\n"
    "            b = fixture('goroutine1.txt').replace(b'goroutine profile:', b'goroutineleak profile:', 1)\n"
    "            return self.send(200, b)\n"
    "        return self.send(404, b'Unknown profile\\n', extra=[('X-Go-Pprof', '1')])\n"
    "    def do_GET(self):\n"
    "        hdrs = '|'.join('%s: %s' % (k, v) for k, v in self.headers.items())\n"
    "        log('REQ %s %s' % (self.path, hdrs))\n"
    "        parts = self.path.split('/', 2)\n"
    "        mode = parts[1] if len(parts) > 1 else ''\n"
    "        rest = parts[2] if len(parts) > 2 else ''\n"
    "        path, _, q = rest.partition('?')\n"
    "        name = path.rsplit('/', 1)[-1]\n"
    "        try:\n"
    "            self.route(mode, name, q)\n"
    "        except (BrokenPipeError, ConnectionResetError):\n"
    "            pass\n"
    "    def route(self, mode, name, q):\n"
    "        if mode in ('ok', 'every', 'noleak'):\n"
    "            return self.profile(name, q)\n"
    "        if mode == 'leak':\n"
    "            return self.profile(name, q, True)\n"
    "        if mode == 'slow':\n"
    "            with lock:\n"
    "                state['inflight'] += 1\n"
    "                state['max'] = max(state['max'], state['inflight'])\n"
    "                logf.write('INFLIGHT %d\\n' % state['inflight'])\n"
    "            time.sleep(0.25)\n"
    "            with lock:\n"
    "                state['inflight'] -= 1\n"
    "            return self.profile(name, q)\n"
    "        if mode == 'redir':\n"
    "            port = self.server.server_address[1]\n"
    "            self.send_response(302)\n"
    "            self.send_header('Location', 'http://127.0.0.1:%d/redirected/debug/pprof/goroutine?debug=1' % port)\n"
    "            self.send_header('Content-Length', '0')\n"
    "            self.end_headers()\n"
    "            return\n"
    "        if mode == 'redirected':\n"
    "            return self.profile(name, q)\n"
    "        if mode == 'html':\n"
    "            return self.send(200, b'<!DOCTYPE html>\\n<html><body>pprof index</body></html>\\n', 'text/html')\n"
    "        if mode == 'empty':\n"
    "            return self.send(200, b'')\n"
    "        if mode == 'badgz':\n"
    "            return self.send(200, b'\\x1f\\x8b\\x08\\x00garbage that is not deflate' * 4, 'application/octet-stream')\n"
    "        if mode == 'err500':\n"
    "            return self.send(500, b'could not collect profile\\nsecond line\\n')\n"
    "        if mode == 'hugecl' or mode == 'huge':\n"
    "            self.send_response(200)\n"
    "            self.send_header('Content-Type', 'text/plain')\n"
    "            if mode == 'hugecl':\n"
    "                self.send_header('Content-Length', str(1 << 30))\n"
    "            self.end_headers()\n"
    "            chunk = b'goroutine profile: total 1\\n' + b'x' * 65509 + b'\\n'\n"
    "            sent = 0\n"
    "            try:\n"
    "                while sent < (1 << 30):\n"
    "                    self.wfile.write(chunk)\n"
    "                    sent += len(chunk)\n"
    "            finally:\n"
    "                log('SENT %s %d' % (mode, sent))\n"
    "            return\n"
    "        if mode == 'trickle':\n"
    "            self.send_response(200)\n"
    "            self.end_headers()\n"
    "            self.wfile.write(b'goroutine profile: total 1\\n')\n"
    "            for i in range(600):\n"
    "                self.wfile.write(b'1')\n"
    "                self.wfile.flush()\n"
    "                time.sleep(0.1)\n"
    "            return\n"
    "        if mode == 'hang':\n"
    "            time.sleep(30)\n"
    "            return\n"
    "        if mode == 'echo':\n"
    "            return self.send(200, b'ok\\n')\n"
    "        return self.send(404, b'404 page not found\\n')\n"
    "class S(socketserver.ThreadingMixIn, http.server.HTTPServer):\n"
    "    daemon_threads = True\n"
    "    request_queue_size = 64\n"
    "srv = S(('127.0.0.1', 0), H)\n"
    "if len(sys.argv) > 5:\n"
    "    import ssl\n"
    "    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "    ctx.load_cert_chain(sys.argv[4], sys.argv[5])\n"
    "    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
    "with open(portfile + '.tmp', 'w') as f:\n"
    "    f.write(str(srv.server_address[1]))\n"
    "os.rename(portfile + '.tmp', portfile)\n"
    "srv.serve_forever()\n";

static char tmpdir[256];
static pid_t srv_pid = -1;
static int srv_port;
static char logpath[300];
#define FIXDIR "go1.23/chan-send"

static void stop_server(void);

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static int start_server(void)
{
    if (srv_pid > 0)
        return 0;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/lw-scraper-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    char py[300], portfile[300], fix[600];
    snprintf(py, sizeof(py), "%s/srv.py", tmpdir);
    snprintf(portfile, sizeof(portfile), "%s/port", tmpdir);
    snprintf(logpath, sizeof(logpath), "%s/log", tmpdir);
    snprintf(fix, sizeof(fix), "%s/%s", lw_t_fixtures(), FIXDIR);
    write_file(py, server_py);
    write_file(logpath, "");
    atexit(stop_server);
    srv_pid = fork();
    if (srv_pid == 0) {
        execlp("python3", "python3", py, portfile, logpath, fix, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &srv_port) == 1;
            fclose(f);
            if (ok)
                return 0;
        }
        usleep(50000);
    }
    return -1;
}

static void stop_server(void)
{
    if (srv_pid > 0) {
        kill(srv_pid, SIGTERM);
        waitpid(srv_pid, NULL, 0);
        srv_pid = -1;
    }
    curl_global_cleanup();
    if (tmpdir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmpdir);
    }
}

/* Count log lines containing all of a and b (b may be NULL), case-insensitive on b. */
static int log_count(const char *a, const char *b)
{
    FILE *f = fopen(logpath, "r");
    if (!f)
        return -1;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strstr(line, a))
            continue;
        if (b && !strcasestr(line, b))
            continue;
        n++;
    }
    fclose(f);
    return n;
}

static long log_value(const char *prefix)
{
    FILE *f = fopen(logpath, "r");
    if (!f)
        return -1;
    char line[8192];
    long v = -1;
    size_t n = strlen(prefix);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, prefix, n) == 0)
            v = LW_MAX(v, atol(line + n));
    fclose(f);
    return v;
}

/* ---- results ------------------------------------------------------------------ */

struct rec {
    char key[128];
    enum lw_scrape_kind kind;
    int err;
    long status;
    char msg[LW_ERRBUF_SIZE];
    int has_profile;
    int64_t total;
    size_t nstacks;
    int memstats;
    int64_t heap_alloc;
    int format;
    int64_t max_goid, goid_cut, old; /* debug=2: old = goroutines at or below the cut, -1 unknown */
    bool leak_absent;
};
static struct rec recs[512];
static size_t nrecs;
static struct lw_scraper *g_scraper;
static const char *remove_on_result; /* uid to remove from inside the callback */
static struct lw_profile *taken;
static bool take_next; /* the callback takes the next goroutine profile (once) */

static void on_result(struct lw_scraper *s, struct lw_scrape_result *r, void *ud)
{
    CHECK(s == g_scraper);
    if (nrecs < LW_ARRAY_SIZE(recs)) {
        struct rec *x = &recs[nrecs];
        memset(x, 0, sizeof(*x));
        snprintf(x->key, sizeof(x->key), "%s", r->key);
        x->kind = r->kind;
        x->err = r->err;
        x->status = r->status;
        snprintf(x->msg, sizeof(x->msg), "%s", r->errmsg);
        x->leak_absent = r->leak_absent;
        CHECK((r->err == LW_OK) == (r->profile != NULL));
        if (r->profile) {
            x->has_profile = 1;
            x->total = r->profile->total;
            x->nstacks = r->profile->nstacks;
            x->memstats = r->profile->memstats.present;
            x->heap_alloc = r->profile->memstats.heap_alloc;
            x->format = r->profile->format;
            x->max_goid = r->profile->max_goid;
            x->goid_cut = r->profile->goid_cut;
            x->old = 0;
            for (size_t i = 0; i < r->profile->nstacks; i++) {
                int64_t o = lw_stack_old_goroutines(&r->profile->stacks[i]);
                x->old = o < 0 || x->old < 0 ? -1 : x->old + o;
            }
        }
    }
    nrecs++;
    if (remove_on_result && strncmp(r->key, remove_on_result, strlen(remove_on_result)) == 0) {
        CHECK_EQ_INT(lw_scraper_remove(s, remove_on_result, "app"), LW_OK);
        /* removing twice is harmless */
        CHECK_EQ_INT(lw_scraper_remove(s, remove_on_result, "app"), LW_ENOTFOUND);
        remove_on_result = NULL;
    }
    if (take_next && !taken && r->profile && r->kind == LW_SCRAPE_GOROUTINE1) {
        taken = r->profile; /* take ownership */
        r->profile = NULL;
        take_next = false;
    }
}

static const struct rec *find_rec(const char *uid, enum lw_scrape_kind k, int nth)
{
    size_t n = strlen(uid);
    for (size_t i = 0; i < nrecs && i < LW_ARRAY_SIZE(recs); i++)
        if (strncmp(recs[i].key, uid, n) == 0 && recs[i].key[n] == '/' && recs[i].kind == k &&
            nth-- == 0)
            return &recs[i];
    return NULL;
}

static double fake_now;
static double fake_clock(void *ud) { return fake_now; }

static struct lw_loop *new_loop(bool fake)
{
    struct lw_errbuf eb = {""};
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    struct lw_loop *l = lw_loop_new(&eb);
    CHECK(l != NULL);
    if (fake) {
        fake_now = 1000;
        lw_loop_set_clock(l, fake_clock, NULL);
    }
    return l;
}

static struct lw_scraper *new_scraper(struct lw_loop *l, int maxc, double timeout)
{
    struct lw_scraper_opts o;
    lw_scraper_opts_default(&o);
    o.max_concurrent = maxc;
    o.timeout = timeout;
    o.max_body = 1u << 20;
    o.first_spread = -1; /* scrape at once */
    struct lw_errbuf eb = {""};
    struct lw_scraper *s = lw_scraper_new(l, &o, on_result, NULL, &eb);
    CHECK(s != NULL);
    g_scraper = s;
    nrecs = 0;
    return s;
}

static int add(struct lw_scraper *s, const char *uid, const char *mode, double interval)
{
    char path[64];
    snprintf(path, sizeof(path), "/%s/debug/pprof", mode);
    struct lw_scrape_spec sp = {uid, "app", "127.0.0.1", srv_port, path, false, interval, NULL};
    struct lw_errbuf eb = {""};
    int rc = lw_scraper_upsert(s, &sp, &eb);
    if (rc != LW_OK)
        fprintf(stderr, "upsert %s: %s\n", uid, eb.msg);
    return rc;
}

/* Run the loop until every target has made `want` requests and nothing is in
 * flight or queued, or timeout seconds pass. */
static bool settle(struct lw_loop *l, struct lw_scraper *s, const char *const *uids, size_t n,
                   uint64_t want, double timeout)
{
    double end = lw_clock_monotonic() + timeout;
    while (lw_clock_monotonic() < end) {
        lw_loop_run_once(l, 0.02);
        struct lw_scraper_stats st;
        lw_scraper_get_stats(s, &st);
        if (st.in_flight || st.queued)
            continue;
        bool all = true;
        for (size_t i = 0; i < n; i++) {
            struct lw_scrape_target_stats ts;
            if (lw_scraper_target_stats(s, uids[i], "app", &ts) != LW_OK || ts.requests < want)
                all = false;
        }
        if (all)
            return true;
    }
    return false;
}

/* ---- tests ---------------------------------------------------------------------- */

TEST(test_base_url)
{
    char out[512];
    struct lw_errbuf eb = {""};
    struct lw_scrape_spec sp = {"u", "c", "10.1.2.3", 6060, NULL, false, 0, NULL};
    CHECK_EQ_INT(lw_scrape_base_url(&sp, out, sizeof(out), &eb), LW_OK);
    CHECK_STR(out, "http://10.1.2.3:6060/debug/pprof");
    sp.ip = "fd00::1";
    sp.https = true;
    sp.path = "/admin/pprof/";
    CHECK_EQ_INT(lw_scrape_base_url(&sp, out, sizeof(out), &eb), LW_OK);
    CHECK_STR(out, "https://[fd00::1]:6060/admin/pprof");
    sp.ip = "10.1.2.3";
    sp.https = false;
    struct {
        const char *ip, *path;
        int port;
        const char *msg;
    } bad[] = {
        {"evil.example.com", "/debug/pprof", 80, "not an IPv4 or IPv6 address literal"},
        {"10.1.2.3@evil", "/debug/pprof", 80, "not an IPv4"},
        {"10.1.2.3:80", "/debug/pprof", 80, "not an IPv4"},
        {"0.0.0.0", "/debug/pprof", 80, "unspecified"},
        {"::", "/debug/pprof", 80, "unspecified"},
        {"", "/debug/pprof", 80, "no pod IP"},
        {"10.1.2.3", "/debug/pprof", 0, "port 0 out of range"},
        {"10.1.2.3", "/debug/pprof", 70000, "out of range"},
        {"10.1.2.3", "@evil/", 80, "must start with '/'"},
        {"10.1.2.3", "http://evil/x", 80, "must start with '/'"},
        {"10.1.2.3", "//evil.com/x", 80, "\"//\""},
        {"10.1.2.3", "/x/../../y", 80, "\"..\""},
        {"10.1.2.3", "/a/./b", 80, "\".\""},
        {"10.1.2.3", "/debug\r\nHost: evil", 80, "character 0x0d"},
        {"10.1.2.3", "/debug pprof", 80, "character 0x20"},
        {"10.1.2.3", "/debug?x=1", 80, "character 0x3f"},
        {"10.1.2.3", "/debug#frag", 80, "character 0x23"},
        {"10.1.2.3", "/a@b", 80, "character 0x40"},
        {"10.1.2.3", "/%2e%2e/", 80, "character 0x25"},
    };
    for (size_t i = 0; i < LW_ARRAY_SIZE(bad); i++) {
        sp.ip = bad[i].ip;
        sp.path = bad[i].path;
        sp.port = bad[i].port;
        eb.msg[0] = '\0';
        int rc = lw_scrape_base_url(&sp, out, sizeof(out), &eb);
        if (rc != LW_EINVAL || !strstr(eb.msg, bad[i].msg)) {
            fprintf(stderr, "case %zu (%s, %s, %d): rc %d msg \"%s\"\n", i, bad[i].ip,
                    bad[i].path, bad[i].port, rc, eb.msg);
            CHECK(0);
        }
    }
    /* upsert refuses the same, and bad keys */
    struct lw_loop *l = new_loop(false);
    struct lw_scraper *s = new_scraper(l, 2, 1);
    struct lw_scrape_spec sp2 = {"u", "c", "10.1.2.3", 80, "//x", false, 1, NULL};
    CHECK_EQ_INT(lw_scraper_upsert(s, &sp2, &eb), LW_EINVAL);
    sp2.path = NULL;
    sp2.uid = "a/b";
    CHECK_EQ_INT(lw_scraper_upsert(s, &sp2, &eb), LW_EINVAL);
    sp2.uid = "";
    CHECK_EQ_INT(lw_scraper_upsert(s, &sp2, &eb), LW_EINVAL);
    CHECK_EQ_INT(lw_scraper_count(s), 0);
    lw_scraper_free(s);
    lw_loop_free(l);
}

TEST(test_cycle_probe_debug2)
{
    CHECK_EQ_INT(start_server(), 0);
    /* a proxy in the environment must not be used, nor ~/.netrc */
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
    char netrc[400];
    snprintf(netrc, sizeof(netrc), "%s/.netrc", tmpdir);
    write_file(netrc, "machine 127.0.0.1 login alice password secret\n");
    setenv("HOME", tmpdir, 1);

    struct lw_loop *l = new_loop(true);
    struct lw_scraper *s = new_scraper(l, 4, 5);
    take_next = true; /* the first goroutine profile is the caller's to keep */
    CHECK_EQ_INT(add(s, "pod-ok", "ok", 1000), LW_OK);
    const char *uids[] = {"pod-ok"};
    CHECK(settle(l, s, uids, 1, 3, 10));

    /* the fixture parsed directly gives the numbers the scraper must report */
    struct lw_buf b = LW_BUF_INIT(64 << 20);
    struct lw_errbuf eb = {""};
    char path[600];
    snprintf(path, sizeof(path), "%s/%s/goroutine1.txt", lw_t_fixtures(), FIXDIR);
    CHECK_EQ_INT(lw_read_file(path, &b, &eb), LW_OK);
    struct lw_profile *want = NULL;
    CHECK_EQ_INT(lw_pprof_parse(b.data, b.len, NULL, &want, &eb), LW_OK);
    lw_buf_release(&b);

    const struct rec *g1 = find_rec("pod-ok", LW_SCRAPE_GOROUTINE1, 0);
    CHECK(g1 && g1->err == LW_OK && g1->has_profile);
    if (g1 && want) {
        CHECK_EQ_INT(g1->total, want->total);
        CHECK_EQ_INT(g1->nstacks, want->nstacks);
        CHECK_EQ_INT(g1->format, LW_FMT_DEBUG1);
    }
    lw_profile_free(want);
    CHECK(taken != NULL && taken->kind == LW_KIND_GOROUTINE); /* the callback kept it */
    lw_profile_free(taken);
    taken = NULL;
    const struct rec *hp = find_rec("pod-ok", LW_SCRAPE_HEAP, 0);
    CHECK(hp && hp->err == LW_OK && hp->memstats && hp->heap_alloc > 0);
    const struct rec *lk = find_rec("pod-ok", LW_SCRAPE_GOROUTINELEAK, 0);
    CHECK(lk && lk->err == LW_ENOTFOUND && lk->leak_absent && lk->status == 404);
    CHECK(find_rec("pod-ok", LW_SCRAPE_GOROUTINE2, 0) == NULL);

    struct lw_scrape_target_stats ts;
    CHECK_EQ_INT(lw_scraper_target_stats(s, "pod-ok", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.leak_probe, LW_LEAK_ABSENT);
    CHECK_EQ_INT(ts.failed, 0);
    CHECK_EQ_INT(ts.ok, 2);
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutineleak?debug=1", NULL), 1);

    /* next cycle: no goroutineleak (404 remembered), no debug=2 (not suspected) */
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-ok", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 5, 10));
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutineleak?debug=1", NULL), 1);
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutine?debug=2", NULL), 0);
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutine?debug=1", NULL), 2);

    /* a restart re-probes */
    CHECK_EQ_INT(lw_scraper_restarted(s, "pod-ok", "app"), LW_OK);
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-ok", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 8, 10));
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutineleak?debug=1", NULL), 2);

    /* suspected: debug=2 once, then not again within debug2_min_interval */
    CHECK_EQ_INT(lw_scraper_set_suspected(s, "pod-ok", "app", true), LW_OK);
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-ok", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 11, 10));
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutine?debug=2", NULL), 1);
    const struct rec *g2 = find_rec("pod-ok", LW_SCRAPE_GOROUTINE2, 0);
    CHECK(g2 && g2->err == LW_OK && g2->format == LW_FMT_DEBUG2 && g2->nstacks > 0);
    /* no cut given yet: the goroutines that outlived an interval are unknown */
    CHECK(g2 && g2->max_goid > 1 && g2->goid_cut == 0 && g2->old == -1);
    int64_t cut = g2 ? g2->max_goid - 1 : 1;
    /* the controller gives the largest id of the dump it fed: the next
     * debug=2 dump of this target is parsed with it (the fixture served
     * again: all but the newest goroutine are at or below it) */
    CHECK_EQ_INT(lw_scraper_set_goid_cut(s, "pod-ok", "app", cut), LW_OK);
    CHECK_EQ_INT(lw_scraper_set_goid_cut(s, "pod-none", "app", cut), LW_ENOTFOUND);
    fake_now += 299; /* < 300 s */
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-ok", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 13, 10));
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutine?debug=2", NULL), 1);
    fake_now += 2; /* now past 300 s */
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-ok", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 16, 10));
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutine?debug=2", NULL), 2);
    const struct rec *g2b = find_rec("pod-ok", LW_SCRAPE_GOROUTINE2, 1);
    CHECK(g2b && g2b->goid_cut == cut && g2 && g2b->old == g2b->total - 1);
    /* only the debug=2 dump uses it */
    const struct rec *d1 = find_rec("pod-ok", LW_SCRAPE_GOROUTINE1, 3);
    CHECK(d1 && d1->goid_cut == 0);
    /* no longer suspected: never */
    CHECK_EQ_INT(lw_scraper_set_suspected(s, "pod-ok", "app", false), LW_OK);
    fake_now += 1000;
    lw_loop_run_once(l, 0); /* the periodic timer is due now too */
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-ok", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 18, 10));
    CHECK_EQ_INT(log_count("REQ /ok/debug/pprof/goroutine?debug=2", NULL), 2);
    CHECK_EQ_INT(lw_scraper_target_stats(s, "pod-ok", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.failed, 0);

    CHECK_EQ_INT(log_count("REQ /", NULL) > 10, 1);
    CHECK_EQ_INT(log_count("REQ /ok/", "authorization"), 0);
    CHECK_EQ_INT(log_count("REQ /ok/", "cookie"), 0);
    CHECK_EQ_INT(log_count("REQ /ok/", "Basic"), 0);
    CHECK_EQ_INT(log_count("REQ /ok/", "User-Agent: leakwatch/0.1 (scraper)"),
                 log_count("REQ /ok/", NULL));

    lw_scraper_free(s);
    lw_loop_free(l);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("ALL_PROXY");
}

TEST(test_leak_served)
{
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(true);
    struct lw_scraper *s = new_scraper(l, 4, 5);
    CHECK_EQ_INT(add(s, "leaky", "leak", 1000), LW_OK);
    const char *uids[] = {"leaky"};
    CHECK(settle(l, s, uids, 1, 3, 10));
    const struct rec *lk = find_rec("leaky", LW_SCRAPE_GOROUTINELEAK, 0);
    CHECK(lk && lk->err == LW_OK && lk->has_profile && !lk->leak_absent && lk->total > 0);
    struct lw_scrape_target_stats ts;
    CHECK_EQ_INT(lw_scraper_target_stats(s, "leaky", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.leak_probe, LW_LEAK_SERVED);
    CHECK_EQ_INT(ts.by_kind_ok[LW_SCRAPE_GOROUTINELEAK], 1);
    /* each goroutineleak request forces a GC on the target: at most every 60 s */
    fake_now += 59;
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "leaky", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 5, 10));
    CHECK_EQ_INT(log_count("REQ /leak/debug/pprof/goroutineleak?debug=1", NULL), 1);
    fake_now += 2;
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "leaky", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 8, 10));
    CHECK_EQ_INT(log_count("REQ /leak/debug/pprof/goroutineleak?debug=1", NULL), 2);
    CHECK(find_rec("leaky", LW_SCRAPE_GOROUTINELEAK, 1) != NULL);
    lw_scraper_free(s);
    lw_loop_free(l);
}

static struct lw_scraper *new_scraper_opts(struct lw_loop *l, const struct lw_scraper_opts *o)
{
    struct lw_errbuf eb = {""};
    struct lw_scraper *s = lw_scraper_new(l, o, on_result, NULL, &eb);
    CHECK(s != NULL);
    g_scraper = s;
    nrecs = 0;
    return s;
}

/* --heap-every N: the heap on the first cycle and every Nth after it; a 404
 * on goroutineleak stops it until the rare re-probe (fake loop clock). */
TEST(test_heap_every_leak_reprobe)
{
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(true);
    struct lw_scraper_opts o;
    lw_scraper_opts_default(&o);
    o.max_body = 1u << 20;
    o.first_spread = -1;
    o.heap_every = 3;
    o.leak_reprobe_interval = 100;
    struct lw_scraper *s = new_scraper_opts(l, &o);
    CHECK_EQ_INT(add(s, "pod-every", "every", 1000), LW_OK);
    const char *uids[] = {"pod-every"};
    const char *g1 = "REQ /every/debug/pprof/goroutine?debug=1";
    const char *hp = "REQ /every/debug/pprof/heap?debug=1";
    const char *lk = "REQ /every/debug/pprof/goroutineleak?debug=1";
    /* cycle 0: goroutine, heap, goroutineleak (404) */
    CHECK(settle(l, s, uids, 1, 3, 10));
    CHECK_EQ_INT(log_count(g1, NULL), 1);
    CHECK_EQ_INT(log_count(hp, NULL), 1);
    CHECK_EQ_INT(log_count(lk, NULL), 1);
    struct lw_scrape_target_stats ts;
    CHECK_EQ_INT(lw_scraper_target_stats(s, "pod-every", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.leak_probe, LW_LEAK_ABSENT);
    CHECK_NEAR(ts.leak_absent_at, 1000, 1e-9);
    /* cycles 1 and 2: the goroutine profile only */
    uint64_t want = 3;
    for (int i = 0; i < 2; i++) {
        fake_now += 10;
        CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-every", "app"), LW_OK);
        CHECK(settle(l, s, uids, 1, ++want, 10));
    }
    CHECK_EQ_INT(log_count(g1, NULL), 3);
    CHECK_EQ_INT(log_count(hp, NULL), 1);
    CHECK_EQ_INT(log_count(lk, NULL), 1);
    /* cycle 3: the heap again; 30 s after the 404: no re-probe */
    fake_now += 10;
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-every", "app"), LW_OK);
    want += 2;
    CHECK(settle(l, s, uids, 1, want, 10));
    CHECK_EQ_INT(log_count(hp, NULL), 2);
    CHECK_EQ_INT(log_count(lk, NULL), 1);
    /* 99 s after the 404: still not */
    fake_now += 69;
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-every", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, ++want, 10));
    CHECK_EQ_INT(log_count(lk, NULL), 1);
    /* 101 s: the rare re-probe; 404 again, remembered with its time */
    fake_now += 2;
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-every", "app"), LW_OK);
    want += 2;
    CHECK(settle(l, s, uids, 1, want, 10));
    CHECK_EQ_INT(log_count(lk, NULL), 2);
    CHECK_EQ_INT(log_count(hp, NULL), 2);
    CHECK_EQ_INT(lw_scraper_target_stats(s, "pod-every", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.leak_probe, LW_LEAK_ABSENT);
    CHECK_NEAR(ts.leak_absent_at, 1101, 1e-9);
    CHECK_EQ_INT(ts.cycles, 6);
    CHECK_EQ_INT(ts.failed, 0);
    CHECK(find_rec("pod-every", LW_SCRAPE_GOROUTINELEAK, 1) != NULL &&
          find_rec("pod-every", LW_SCRAPE_GOROUTINELEAK, 1)->leak_absent);
    /* cycle 6: the heap (6 % 3 == 0) but no goroutineleak (10 s after the 404) */
    fake_now += 10;
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-every", "app"), LW_OK);
    want += 2;
    CHECK(settle(l, s, uids, 1, want, 10));
    CHECK_EQ_INT(log_count(hp, NULL), 3);
    CHECK_EQ_INT(log_count(lk, NULL), 2);
    lw_scraper_free(s);

    /* --heap-every 0 and --goroutineleak-profile=false: goroutines only */
    lw_scraper_opts_default(&o);
    o.max_body = 1u << 20;
    o.first_spread = -1;
    o.heap_every = -1;
    o.leak_disabled = true;
    s = new_scraper_opts(l, &o);
    CHECK_EQ_INT(add(s, "pod-noleak", "noleak", 1000), LW_OK);
    const char *uids2[] = {"pod-noleak"};
    CHECK(settle(l, s, uids2, 1, 1, 10));
    for (int i = 0; i < 3; i++) {
        fake_now += 100;
        CHECK_EQ_INT(lw_scraper_scrape_now(s, "pod-noleak", "app"), LW_OK);
        CHECK(settle(l, s, uids2, 1, (uint64_t)i + 2, 10));
    }
    CHECK_EQ_INT(log_count("REQ /noleak/debug/pprof/goroutine?debug=1", NULL), 4);
    CHECK_EQ_INT(log_count("REQ /noleak/debug/pprof/heap", NULL), 0);
    CHECK_EQ_INT(log_count("REQ /noleak/debug/pprof/goroutineleak", NULL), 0);
    CHECK_EQ_INT(lw_scraper_target_stats(s, "pod-noleak", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.requests, 4);
    CHECK_EQ_INT(ts.leak_probe, LW_LEAK_UNKNOWN);
    lw_scraper_free(s);
    lw_loop_free(l);
}

static int token_cb(void *ud, char *out, size_t outlen, struct lw_errbuf *eb)
{
    snprintf(out, outlen, "%s", (const char *)ud);
    return LW_OK;
}

struct kres {
    int done, err;
    long status;
    size_t n;
    double bytes;
    char msg[LW_ERRBUF_SIZE];
};
static void on_kubelet(struct lw_ws_list *samples, int err, long status, const char *errmsg,
                       void *ud)
{
    struct kres *k = ud;
    k->done = 1;
    k->err = err;
    k->status = status;
    k->n = samples->n;
    k->bytes = samples->n ? samples->v[0].bytes : -1;
    snprintf(k->msg, sizeof(k->msg), "%s", errmsg);
}

TEST(test_kubelet_fetch)
{
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(false);
    struct lw_kubelet_opts ko;
    memset(&ko, 0, sizeof(ko));
    char url[160];
    /* the test server answers /echo/ with "ok": not Prometheus text */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo/metrics/resource", srv_port);
    ko.url = url;
    ko.token = token_cb;
    ko.token_ud = "tok-123";
    ko.timeout = 5;
    struct kres k = {0};
    struct lw_errbuf eb = {""};
    CHECK_EQ_INT(lw_kubelet_fetch(l, &ko, on_kubelet, &k, NULL, &eb), LW_OK);
    lw_loop_run_until(l, &k.done, 10);
    CHECK(k.done);
    CHECK_EQ_INT(k.err, LW_EINVAL);
    CHECK(strstr(k.msg, "kubelet /metrics/resource: line 1") != NULL);
    /* the kubelet gets the token (and the capture sees it); pods never do */
    CHECK_EQ_INT(log_count("REQ /echo/metrics/resource", "Authorization: Bearer tok-123"), 1);
    CHECK_EQ_INT(log_count("REQ /ok/", "authorization"), 0);

    /* a 404 says what failed; cancel runs no callback */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/nothing", srv_port);
    memset(&k, 0, sizeof(k));
    CHECK_EQ_INT(lw_kubelet_fetch(l, &ko, on_kubelet, &k, NULL, &eb), LW_OK);
    lw_loop_run_until(l, &k.done, 10);
    CHECK_EQ_INT(k.err, LW_EHTTP);
    CHECK(strstr(k.msg, "HTTP 404: 404 page not found") != NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hang/metrics/resource", srv_port);
    memset(&k, 0, sizeof(k));
    struct lw_kubelet_req *req = NULL;
    CHECK_EQ_INT(lw_kubelet_fetch(l, &ko, on_kubelet, &k, &req, &eb), LW_OK);
    for (int i = 0; i < 10; i++)
        lw_loop_run_once(l, 0.02);
    lw_kubelet_cancel(req);
    CHECK_EQ_INT(lw_loop_http_count(l), 0);
    for (int i = 0; i < 5; i++)
        lw_loop_run_once(l, 0.02);
    CHECK(!k.done);
    ko.url = "file:///etc/passwd";
    CHECK_EQ_INT(lw_kubelet_fetch(l, &ko, on_kubelet, &k, NULL, &eb), LW_EINVAL);
    lw_loop_free(l);
}

TEST(test_hostile_targets)
{
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(false);
    struct lw_scraper *s = new_scraper(l, 16, 1.5);
    const char *modes[] = {"redir", "html", "huge", "hugecl", "trickle", "hang",
                           "badgz", "empty", "err500", "nopprof"};
    for (size_t i = 0; i < LW_ARRAY_SIZE(modes); i++)
        CHECK_EQ_INT(add(s, modes[i], modes[i], 1000), LW_OK);
    double t0 = lw_clock_monotonic();
    /* goroutine, heap, goroutineleak each fail, except on trickle and hang:
     * a timeout ends the cycle (the other profiles would time out too) */
    const char *slow[] = {"trickle", "hang"};
    CHECK(settle(l, s, modes, LW_ARRAY_SIZE(modes), 1, 30));
    CHECK(settle(l, s, modes, 4, 3, 30));
    CHECK(settle(l, s, modes + 6, 4, 3, 30));
    double took = lw_clock_monotonic() - t0;
    /* one request on the slowest targets, cut at 1.5 s */
    CHECK(took < 1.5 + 2.5);
    for (size_t i = 0; i < LW_ARRAY_SIZE(slow); i++) {
        struct lw_scrape_target_stats ts;
        CHECK_EQ_INT(lw_scraper_target_stats(s, slow[i], "app", &ts), LW_OK);
        CHECK_EQ_INT(ts.requests, 1);
        CHECK_EQ_INT(ts.failures_in_row, 1);
        CHECK_EQ_INT(ts.cycles_cut, 1);
        CHECK_EQ_INT(lw_scraper_scrape_now(s, slow[i], "app"), LW_OK);
    }
    CHECK(settle(l, s, slow, 2, 2, 30));
    struct {
        const char *uid;
        int err;
        const char *msg;
    } want[] = {
        {"redir", LW_EHTTP, "HTTP 302 redirect to \"http://127.0.0.1:"},
        {"html", LW_EFORMAT, "got an HTML page"},
        {"huge", LW_ETOOBIG, "response larger than 1048576 bytes: transfer aborted"},
        {"hugecl", LW_ETOOBIG, "response larger than 1048576 bytes"},
        {"trickle", LW_ENET, "timed out after"},
        {"hang", LW_ENET, "timed out after"},
        {"badgz", 0, "gzip"},
        {"empty", LW_EFORMAT, "empty response body"},
        {"err500", LW_EHTTP, "HTTP 500: could not collect profile"},
        {"nopprof", LW_EHTTP, "HTTP 404: 404 page not found"},
    };
    for (size_t i = 0; i < LW_ARRAY_SIZE(want); i++) {
        const struct rec *r = find_rec(want[i].uid, LW_SCRAPE_GOROUTINE1, 0);
        CHECK(r != NULL);
        if (!r)
            continue;
        bool ok = r->err != LW_OK && !r->has_profile && strstr(r->msg, want[i].msg) &&
                  (want[i].err == 0 || r->err == want[i].err) && strstr(r->msg, "127.0.0.1");
        if (!ok) {
            fprintf(stderr, "%s: err %d msg \"%s\"\n", want[i].uid, r->err, r->msg);
            CHECK(0);
        }
        struct lw_scrape_target_stats ts;
        CHECK_EQ_INT(lw_scraper_target_stats(s, want[i].uid, "app", &ts), LW_OK);
        CHECK_EQ_INT(ts.ok, 0);
        /* goroutineleak 404 on "nopprof" is not a failure; trickle and hang: one per cycle */
        CHECK(ts.failures_in_row >= 2);
        CHECK(ts.last_error[0] != '\0');
    }
    /* the redirect was not followed */
    CHECK(log_count("REQ /redir/", NULL) >= 3);
    CHECK_EQ_INT(log_count("REQ /redirected/", NULL), 0);
    /* a gigabyte was cut early: the server could push little past the 1 MiB cap */
    long sent = log_value("SENT huge ");
    CHECK(sent > 0 && sent < (64L << 20));
    fprintf(stderr, "1 GiB target: server pushed at most %ld bytes before the abort (cap 1 MiB); "
                    "all 30 hostile requests done in %.2f s\n", sent, took);
    struct lw_scraper_stats st;
    lw_scraper_get_stats(s, &st);
    CHECK(st.too_big >= 4);
    CHECK(st.timeouts >= 4);
    CHECK_EQ_INT(st.ok, 0);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(lw_loop_http_count(l), 0);
    lw_scraper_free(s);
    lw_loop_free(l);
}

TEST(test_concurrency_cap)
{
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(false);
    struct lw_scraper *s = new_scraper(l, 3, 10);
    const char *uids[12];
    char names[12][16];
    for (int i = 0; i < 12; i++) {
        snprintf(names[i], sizeof(names[i]), "slow%d", i);
        uids[i] = names[i];
        CHECK_EQ_INT(add(s, names[i], "slow", 1000), LW_OK);
    }
    CHECK(settle(l, s, uids, 12, 3, 60));
    long maxin = log_value("INFLIGHT ");
    CHECK(maxin >= 2 && maxin <= 3);
    struct lw_scraper_stats st;
    lw_scraper_get_stats(s, &st);
    CHECK_EQ_INT(st.max_in_flight_seen, 3);
    CHECK_EQ_INT(st.ok, 24); /* goroutine1 + heap each; goroutineleak is 404 */
    CHECK_EQ_INT(st.failed, 0);
    CHECK_EQ_INT(log_count("REQ /slow/", NULL), 36);
    lw_scraper_free(s);
    lw_loop_free(l);
}

TEST(test_remove_mid_scrape)
{
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(false);
    struct lw_scraper *s = new_scraper(l, 4, 20);
    /* 1. removal while the transfer hangs: cancelled, no callback */
    int hangs0 = log_count("REQ /hang/", NULL);
    CHECK_EQ_INT(add(s, "hanger", "hang", 1000), LW_OK);
    for (int i = 0; i < 100 && log_count("REQ /hang/", NULL) <= hangs0; i++)
        lw_loop_run_once(l, 0.02);
    struct lw_scraper_stats st;
    lw_scraper_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 1);
    CHECK_EQ_INT(lw_scraper_remove(s, "hanger", "app"), LW_OK);
    lw_scraper_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(st.cancelled, 1);
    CHECK_EQ_INT(lw_loop_http_count(l), 0);
    CHECK_EQ_INT(lw_loop_timer_count(l), 0);
    for (int i = 0; i < 10; i++)
        lw_loop_run_once(l, 0.02);
    CHECK_EQ_INT(nrecs, 0);

    /* 2. removal from inside its own result callback */
    remove_on_result = "selfremove";
    CHECK_EQ_INT(add(s, "selfremove", "ok", 0.2), LW_OK);
    CHECK_EQ_INT(add(s, "other", "ok", 1000), LW_OK);
    const char *other[] = {"other"};
    CHECK(settle(l, s, other, 1, 3, 10));
    for (int i = 0; i < 40; i++) /* two more intervals of the removed target */
        lw_loop_run_once(l, 0.02);
    int self = 0;
    for (size_t i = 0; i < nrecs; i++)
        self += strncmp(recs[i].key, "selfremove/", 11) == 0;
    CHECK_EQ_INT(self, 1);
    CHECK_EQ_INT(lw_scraper_count(s), 1);

    /* 3. a new address for the same key cancels the running request */
    CHECK_EQ_INT(add(s, "other", "hang", 1000), LW_OK);
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "other", "app"), LW_OK);
    lw_scraper_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 1);
    size_t before = nrecs;
    CHECK_EQ_INT(add(s, "other", "ok", 1000), LW_OK);
    lw_scraper_get_stats(s, &st);
    CHECK_EQ_INT(st.in_flight, 0);
    CHECK_EQ_INT(nrecs, before);
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "other", "app"), LW_OK);
    CHECK(settle(l, s, other, 1, 6, 10));
    const struct rec *r = find_rec("other", LW_SCRAPE_GOROUTINE1, 1);
    CHECK(r && r->err == LW_OK);
    /* 4. a new pod (new UID) on the old pod's address is a new target with
     * its own stats, probe and results: series never mix */
    CHECK_EQ_INT(lw_scraper_remove(s, "other", "app"), LW_OK);
    CHECK_EQ_INT(add(s, "reuser", "ok", 1000), LW_OK);
    const char *reuser[] = {"reuser"};
    CHECK(settle(l, s, reuser, 1, 3, 10));
    struct lw_scrape_target_stats ts;
    CHECK_EQ_INT(lw_scraper_target_stats(s, "reuser", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.requests, 3);
    CHECK_EQ_INT(ts.leak_probe, LW_LEAK_ABSENT);
    CHECK_EQ_INT(lw_scraper_target_stats(s, "other", "app", &ts), LW_ENOTFOUND);
    CHECK(find_rec("reuser", LW_SCRAPE_GOROUTINE1, 0) != NULL);
    CHECK(find_rec("reuser", LW_SCRAPE_GOROUTINE1, 1) == NULL);
    CHECK_EQ_INT(lw_scraper_remove(s, "reuser", "app"), LW_OK);
    /* 5. freeing with transfers in flight */
    CHECK_EQ_INT(add(s, "hang2", "hang", 1000), LW_OK);
    for (int i = 0; i < 10; i++)
        lw_loop_run_once(l, 0.02);
    lw_scraper_free(s);
    CHECK_EQ_INT(lw_loop_http_count(l), 0);
    lw_loop_free(l);
}

TEST(test_many_targets)
{
    /* 200 targets, cap 8: every one gets its turn, the cap holds, the queue drains */
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(false);
    struct lw_scraper *s = new_scraper(l, 8, 10);
    enum { N = 200 };
    static char names[N][16];
    const char *uids[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "many%d", i);
        uids[i] = names[i];
        CHECK_EQ_INT(add(s, names[i], "ok", 1000), LW_OK);
    }
    CHECK_EQ_INT(lw_scraper_count(s), N);
    double t0 = lw_clock_monotonic();
    CHECK(settle(l, s, uids, N, 3, 60));
    double took = lw_clock_monotonic() - t0;
    struct lw_scraper_stats st;
    lw_scraper_get_stats(s, &st);
    CHECK_EQ_INT(st.ok, 2 * N);
    CHECK_EQ_INT(st.failed, 0);
    CHECK(st.max_in_flight_seen <= 8);
    fprintf(stderr, "%d targets x 3 requests through a cap of 8: %.2f s (%.0f req/s, python server)\n",
            N, took, 3 * N / took);
    for (int i = 0; i < N; i += 50)
        CHECK_EQ_INT(lw_scraper_remove(s, uids[i], "app"), LW_OK);
    CHECK_EQ_INT(lw_scraper_count(s), N - 4);
    lw_scraper_free(s);
    lw_loop_free(l);
}

TEST(test_jitter)
{
    /* a fake clock: the cycle times must stay within +-10% of the interval */
    CHECK_EQ_INT(start_server(), 0);
    struct lw_loop *l = new_loop(true);
    struct lw_scraper *s = new_scraper(l, 4, 5);
    CHECK_EQ_INT(add(s, "jit", "ok", 30), LW_OK);
    double last = -1, mind = 1e9, maxd = 0;
    int cycles = 0;
    for (int step = 0; step < 700 && cycles < 8; step++) {
        fake_now += 0.5;
        size_t before = nrecs;
        lw_loop_run_once(l, 0);
        /* let the requests finish on real time */
        for (int i = 0; i < 200 && lw_loop_http_count(l); i++)
            lw_loop_run_once(l, 0.02);
        if (nrecs > before) {
            if (last >= 0) {
                mind = LW_MIN(mind, fake_now - last);
                maxd = LW_MAX(maxd, fake_now - last);
            }
            last = fake_now;
            cycles++;
        }
    }
    CHECK(cycles >= 8);
    CHECK(mind >= 27 - 0.5 && maxd <= 33 + 0.5);
    CHECK(maxd > mind); /* it does vary */
    lw_scraper_free(s);
    lw_loop_free(l);
}

TEST(test_https)
{
    CHECK_EQ_INT(start_server(), 0);
    char cmd[1400], cert[300], key[300], py[300], portfile[300], fix[600];
    snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
    snprintf(key, sizeof(key), "%s/key.pem", tmpdir);
    snprintf(py, sizeof(py), "%s/srv.py", tmpdir);
    snprintf(portfile, sizeof(portfile), "%s/tlsport", tmpdir);
    snprintf(fix, sizeof(fix), "%s/%s", lw_t_fixtures(), FIXDIR);
    snprintf(cmd, sizeof(cmd),
             "command -v openssl >/dev/null || exit 77; openssl req -x509 -newkey rsa:2048 "
             "-nodes -keyout '%s' -out '%s' -days 1 -subj /CN=pod -addext "
             "subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
        fprintf(stderr, "SKIP test_https: no openssl\n");
        return;
    }
    CHECK_EQ_INT(rc, 0);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", py, portfile, logpath, fix, cert, key, (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (int i = 0; i < 100 && !port; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (!port)
            usleep(50000);
    }
    CHECK(port > 0);
    struct {
        bool verify;
        const char *ca;
        bool ok;
    } cases[] = {{false, NULL, true}, {true, cert, true}, {true, key /* not a CA */, false}};
    for (size_t i = 0; i < LW_ARRAY_SIZE(cases); i++) {
        struct lw_loop *l = new_loop(false);
        struct lw_scraper_opts o;
        lw_scraper_opts_default(&o);
        o.first_spread = -1;
        o.tls_verify = cases[i].verify;
        o.ca_file = cases[i].ca;
        struct lw_errbuf eb = {""};
        struct lw_scraper *s = lw_scraper_new(l, &o, on_result, NULL, &eb);
        g_scraper = s;
        nrecs = 0;
        struct lw_scrape_spec sp = {"tls", "app", "127.0.0.1", port, "/ok/debug/pprof", true, 1000,
                                    NULL};
        CHECK_EQ_INT(lw_scraper_upsert(s, &sp, &eb), LW_OK);
        const char *uids[] = {"tls"};
        /* a failed handshake ends the cycle: the other profiles would fail alike */
        CHECK(settle(l, s, uids, 1, cases[i].ok ? 3 : 1, 15));
        const struct rec *r = find_rec("tls", LW_SCRAPE_GOROUTINE1, 0);
        CHECK(r != NULL);
        if (r && (r->err == LW_OK) != cases[i].ok) {
            fprintf(stderr, "https case %zu: err %d %s\n", i, r->err, r->msg);
            CHECK(0);
        }
        if (r && !cases[i].ok)
            CHECK(r->err == LW_ENET && strstr(r->msg, "https://127.0.0.1:"));
        lw_scraper_free(s);
        lw_loop_free(l);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- a real Go pprof server -------------------------------------------------- */

static char zoo_bin[400];

static int build_leakzoo(void)
{
    const char *src = getenv("LW_SOURCE_DIR");
    char cmd[1600];
    snprintf(zoo_bin, sizeof(zoo_bin), "%s/leakzoo", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "command -v go >/dev/null 2>&1 || exit 77; cd '%s/tests/go/leakzoo' && "
             "GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=%s/gocache go build -o '%s' . "
             ">'%s/gobuild.log' 2>&1 || { cat '%s/gobuild.log' >&2; exit 1; }",
             src ? src : ".", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", zoo_bin, tmpdir,
             tmpdir);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

TEST(test_leakzoo_e2e)
{
    CHECK_EQ_INT(start_server(), 0);
    int b = build_leakzoo();
    if (b == 77) {
        fprintf(stderr, "SKIP test_leakzoo_e2e: no go toolchain\n");
        return;
    }
    CHECK_EQ_INT(b, 0);
    if (b != 0)
        return;
    char addrfile[400];
    snprintf(addrfile, sizeof(addrfile), "%s/zoo.addr", tmpdir);
    pid_t zoo = fork();
    if (zoo == 0) {
        execl(zoo_bin, zoo_bin, "-scenario", "chan-send", "-rate", "50", "-max", "400",
              "-addr-file", addrfile, (char *)NULL);
        _exit(127);
    }
    char addr[128] = "";
    for (int i = 0; i < 200 && !addr[0]; i++) {
        FILE *f = fopen(addrfile, "r");
        if (f) {
            if (!fgets(addr, sizeof(addr), f))
                addr[0] = '\0';
            fclose(f);
        }
        if (!addr[0])
            usleep(50000);
    }
    CHECK(addr[0] != '\0');
    char *colon = strrchr(addr, ':');
    int port = colon ? atoi(colon + 1) : 0;
    if (colon)
        *colon = '\0';
    struct lw_loop *l = new_loop(false);
    struct lw_scraper *s = new_scraper(l, 4, 10);
    struct lw_scrape_spec sp = {"zoo-uid", "app", addr, port, "/debug/pprof", false, 1000, NULL};
    struct lw_errbuf eb = {""};
    CHECK_EQ_INT(lw_scraper_upsert(s, &sp, &eb), LW_OK);
    const char *uids[] = {"zoo-uid"};
    CHECK(settle(l, s, uids, 1, 3, 20));
    const struct rec *g1 = find_rec("zoo-uid", LW_SCRAPE_GOROUTINE1, 0);
    const struct rec *hp = find_rec("zoo-uid", LW_SCRAPE_HEAP, 0);
    const struct rec *lk = find_rec("zoo-uid", LW_SCRAPE_GOROUTINELEAK, 0);
    CHECK(g1 && g1->err == LW_OK && g1->total > 0 && g1->nstacks > 0);
    if (g1 && g1->err)
        fprintf(stderr, "goroutine1: %s\n", g1->msg);
    CHECK(hp && hp->err == LW_OK && hp->memstats && hp->heap_alloc > 0);
    /* go1.19/1.23 binaries do not serve goroutineleak */
    CHECK(lk && lk->leak_absent && lk->status == 404);
    int64_t first = g1 ? g1->total : 0;
    /* the leak grows: a second scrape a second later sees more goroutines */
    usleep(1200000);
    CHECK_EQ_INT(lw_scraper_set_suspected(s, "zoo-uid", "app", true), LW_OK);
    CHECK_EQ_INT(lw_scraper_scrape_now(s, "zoo-uid", "app"), LW_OK);
    CHECK(settle(l, s, uids, 1, 6, 20));
    const struct rec *g1b = find_rec("zoo-uid", LW_SCRAPE_GOROUTINE1, 1);
    CHECK(g1b && g1b->err == LW_OK && g1b->total > first);
    const struct rec *g2 = find_rec("zoo-uid", LW_SCRAPE_GOROUTINE2, 0);
    CHECK(g2 && g2->err == LW_OK && g2->format == LW_FMT_DEBUG2 && g2->total >= first);
    struct lw_scrape_target_stats ts;
    CHECK_EQ_INT(lw_scraper_target_stats(s, "zoo-uid", "app", &ts), LW_OK);
    CHECK_EQ_INT(ts.failed, 0);
    CHECK(ts.last_latency > 0 && ts.last_latency < 10);
    fprintf(stderr, "leakzoo: goroutines %lld -> %lld, debug=2 groups %zu, latency %.3f s\n",
            (long long)first, g1b ? (long long)g1b->total : -1LL, g2 ? g2->nstacks : 0,
            ts.last_latency);
    lw_scraper_free(s);
    lw_loop_free(l);
    kill(zoo, SIGTERM);
    waitpid(zoo, NULL, 0);
}

TEST_LIST(T(test_base_url), T(test_cycle_probe_debug2), T(test_leak_served), T(test_heap_every_leak_reprobe),
          T(test_kubelet_fetch),
          T(test_hostile_targets), T(test_concurrency_cap), T(test_remove_mid_scrape),
          T(test_many_targets), T(test_jitter), T(test_https), T(test_leakzoo_e2e));
TEST_MAIN()
