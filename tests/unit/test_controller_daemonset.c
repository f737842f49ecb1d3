/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_controller_daemonset.c: `leakwatch controller --mode daemonset` and
 * its memory signal, with everything on loopback:
 *
 *  - the project's test API server over TLS (tests/apiserver) holding a Node
 *    "node-a" whose status.addresses gives 127.0.0.1, an opted-in pod on it
 *    whose status.hostIP is 127.0.0.2 (nothing listens there: the kubelet
 *    must be found through the Node object) and an opted-in pod on node-b;
 *  - a fake kubelet (python3, HTTPS with the API server's test certificate)
 *    serving /metrics/resource only to the service-account token, and a
 *    pprof server for the pod serving real profiles from tests/fixtures;
 *  - the real binary ($LEAKWATCH) with --kubelet-port pointing at the fake.
 *
 * It checks that the working set comes from the kubelet (metric, and the
 * leakwatch.io/summary annotation naming the source), that the token is sent
 * to the kubelet and never to the pod, that node-b's pod is not scraped,
 * that /metrics counts API requests by verb/resource/code, and that when the
 * kubelet fails metrics.k8s.io takes over and the summary says so. Last, a
 * node with no Node object: the pods' status.hostIP leads to the kubelet.
 */
#include "harness.h"

#include "base/base.h"
#include "loop/loop.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *fake_py =
    "import http.server, socketserver, ssl, sys, os, time, threading\n"
    "d, fixdir, crt, key, tokfile = sys.argv[1:6]\n"
    "lock = threading.Lock()\n"
    "logf = open(os.path.join(d, 'fake.log'), 'a', buffering=1)\n"
    "def log(s):\n"
    "    with lock:\n"
    "        logf.write(s + '\\n')\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.0'\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "    def send(self, code, body, ctype='text/plain; charset=utf-8'):\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Type', ctype)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def do_GET(self):\n"
    "        auth = self.headers.get('Authorization', '')\n"
    "        log('%s %s auth=%s' % (self.server.name, self.path, auth))\n"
    "        if self.server.name == 'kubelet':\n"
    "            return self.kubelet(auth)\n"
    "        name, _, q = self.path.rpartition('/')[2].partition('?')\n"
    "        if name in ('goroutine', 'heap') and q == 'debug=1':\n"
    "            f = 'goroutine1.txt' if name == 'goroutine' else 'heap1.txt'\n"
    "            with open(os.path.join(fixdir, f), 'rb') as fh:\n"
    "                return self.send(200, fh.read())\n"
    "        return self.send(404, b'Unknown profile\\n')\n"
    "    def kubelet(self, auth):\n"
    "        if self.path != '/metrics/resource':\n"
    "            return self.send(404, b'404 page not found\\n')\n"
    "        with open(tokfile) as f:\n"
    "            tok = f.read().strip()\n"
    "        if auth != 'Bearer ' + tok:\n"
    "            return self.send(401, b'Unauthorized\\n')\n"
    "        if os.path.exists(os.path.join(d, 'kubelet-down')):\n"
    "            return self.send(503, b'kubelet is down\\n')\n"
    "        ms = int(time.time() * 1000)\n"
    "        body = ('# HELP container_memory_working_set_bytes [STABLE] working set\\n'\n"
    "                '# TYPE container_memory_working_set_bytes gauge\\n'\n"
    "                'container_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=\"web\"} 123456789 %d\\n'\n"
    "                'container_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=\"elsewhere\"} 5 %d\\n'\n"
    "                'container_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=\"solo\"} 55555555 %d\\n'\n"
    "                'pod_memory_working_set_bytes{namespace=\"default\",pod=\"web\"} 123456789 %d\\n'\n"
    "                % (ms, ms, ms, ms))\n"
    "        return self.send(200, body.encode(), 'text/plain; version=0.0.4')\n"
    "class S(socketserver.ThreadingMixIn, http.server.HTTPServer):\n"
    "    daemon_threads = True\n"
    "pprof = S(('127.0.0.1', 0), H)\n"
    "pprof.name = 'pprof'\n"
    "kub = S(('127.0.0.1', 0), H)\n"
    "kub.name = 'kubelet'\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(crt, key)\n"
    "kub.socket = ctx.wrap_socket(kub.socket, server_side=True)\n"
    "for s in (pprof, kub):\n"
    "    threading.Thread(target=s.serve_forever, daemon=True).start()\n"
    "with open(os.path.join(d, 'ports.tmp'), 'w') as f:\n"
    "    f.write('%d %d\\n' % (pprof.server_address[1], kub.server_address[1]))\n"
    "os.rename(os.path.join(d, 'ports.tmp'), os.path.join(d, 'ports'))\n"
    "while True:\n"
    "    time.sleep(3600)\n";

static char dir[64];
static pid_t pids[3]; /* api server, fake kubelet/pprof, controller */
static int api_port, pprof_port, kubelet_port, metrics_port;
static char ca[128];

static void stop_pid(pid_t *p)
{
    if (*p <= 0)
        return;
    kill(*p, SIGTERM);
    int st;
    for (int i = 0; i < 200; i++) {
        if (waitpid(*p, &st, WNOHANG) == *p) {
            *p = 0;
            return;
        }
        usleep(25000);
    }
    kill(*p, SIGKILL);
    waitpid(*p, &st, 0);
    *p = 0;
}

static void cleanup(void)
{
    for (int i = 2; i >= 0; i--)
        stop_pid(&pids[i]);
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    curl_global_cleanup();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    lw_buf_append(ud, p, s * n);
    return s * n;
}

/* One HTTP call; the body (NUL-terminated, caller frees with lw_buf_release). */
static long http(const char *method, const char *url, const char *body, const char *token,
                 struct lw_buf *out)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char auth[300];
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    long code = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    curl_slist_free_all(h);
    lw_buf_append(out, "", 1); /* NUL */
    out->len--;
    return code;
}

static long ctl(const char *method, const char *path, const char *json)
{
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/_test/%s", api_port, path);
    struct lw_buf b = LW_BUF_INIT(1u << 20);
    long code = http(method, url, json, NULL, &b);
    if (code < 200 || code >= 300)
        fprintf(stderr, "control %s %s: HTTP %ld %s\n", method, path, code, b.data ? b.data : "");
    lw_buf_release(&b);
    return code;
}

static int read_ports(const char *path, int *a, int *b, int tries)
{
    for (int i = 0; i < tries; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            int n = b ? fscanf(f, "%d %d", a, b) : fscanf(f, "%d", a);
            fclose(f);
            if (n == (b ? 2 : 1))
                return 0;
        }
        usleep(50000);
    }
    return -1;
}

static char token[64];

/* The pod's annotation key, "" when absent (out has n bytes). */
static void pod_annotation(const char *name, const char *key, char *out, size_t n)
{
    char url[256];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/api/v1/namespaces/default/pods/%s",
             api_port, name);
    struct lw_buf b = LW_BUF_INIT(1u << 20);
    out[0] = '\0';
    if (http("GET", url, NULL, token, &b) == 200) {
        cJSON *j = cJSON_Parse(b.data);
        const cJSON *v = cJSON_GetObjectItem(
            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "annotations"), key);
        if (cJSON_IsString(v))
            snprintf(out, n, "%s", v->valuestring);
        cJSON_Delete(j);
    }
    lw_buf_release(&b);
}

/* The value of the first /metrics line starting with prefix, NAN if none. */
static double metric(const char *prefix)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", metrics_port);
    struct lw_buf b = LW_BUF_INIT(8u << 20);
    double v = NAN;
    if (http("GET", url, NULL, NULL, &b) == 200) {
        const char *p = b.data;
        size_t n = strlen(prefix);
        while (p && *p) {
            if (strncmp(p, prefix, n) == 0) {
                const char *sp = strchr(p, ' ');
                const char *nl = strchr(p, '\n');
                if (sp && (!nl || sp < nl))
                    v = strtod(sp + 1, NULL);
                break;
            }
            p = strchr(p, '\n');
            if (p)
                p++;
        }
    }
    lw_buf_release(&b);
    return v;
}

static int count_lines(const char *file, const char *a, const char *b)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        n += strstr(line, a) && (!b || strstr(line, b));
    fclose(f);
    return n;
}

/* An opted-in pod on node with its pprof under /<name>/debug/pprof. */
static void pod_json(char *out, size_t n, const char *name, int port, const char *node,
                     const char *host_ip)
{
    snprintf(out, n,
             "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\","
             "\"annotations\":{\"leakwatch.io/scrape\":\"true\",\"leakwatch.io/port\":\"%d\","
             "\"leakwatch.io/path\":\"/%s/debug/pprof\"}},"
             "\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"app\",\"image\":\"x\","
             "\"resources\":{\"limits\":{\"memory\":\"512Mi\"}}}]},"
             "\"status\":{\"phase\":\"Running\",\"podIP\":\"127.0.0.1\",\"hostIP\":\"%s\","
             "\"containerStatuses\":[{\"name\":\"app\",\"ready\":true,\"restartCount\":0,"
             "\"containerID\":\"containerd://%s1\",\"state\":{\"running\":{\"startedAt\":"
             "\"2026-11-26T20:00:00Z\"}}}]}}",
             name, name, port, name, node, host_ip, name);
}

/* Poll until cond() or timeout seconds. */
static bool wait_for(bool (*cond)(void), double timeout)
{
    double end = lw_clock_monotonic() + timeout;
    while (lw_clock_monotonic() < end) {
        if (cond())
            return true;
        usleep(200000);
    }
    return cond();
}

static const char *ws_metric =
    "leakwatch_memory_bytes{namespace=\"default\",pod=\"web\",container=\"app\","
    "source=\"working_set\"}";
static bool ws_from_kubelet(void) { return metric(ws_metric) == 123456789; }
static bool ws_from_mapi(void) { return metric(ws_metric) == 98765432; }
static bool solo_from_kubelet(void)
{
    return metric("leakwatch_memory_bytes{namespace=\"default\",pod=\"solo\",container=\"app\","
                  "source=\"working_set\"}") == 55555555;
}
static bool summary_says(const char *what)
{
    char s[1100];
    pod_annotation("web", "leakwatch.io/summary", s, sizeof(s));
    return strstr(s, what) != NULL;
}
static bool summary_kubelet(void) { return summary_says("(working set from the kubelet)"); }
static bool summary_mapi(void) { return summary_says("(working set from metrics.k8s.io)"); }

static bool watch_restarted(void)
{
    return metric("leakwatch_watch_restarts_total{reason=\"timeout\"}") >= 1 &&
           metric("leakwatch_api_requests_total{verb=\"watch\",resource=\"pods\",code=\"200\"}") >= 1;
}

/* "goroutine profile: total N" of the fixture the pod serves. */
static double fixture_goroutines(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/go1.23/chan-send/goroutine1.txt", lw_t_fixtures());
    FILE *f = fopen(p, "r");
    double n = -1;
    if (f) {
        if (fscanf(f, "goroutine profile: total %lf", &n) != 1)
            n = -1;
        fclose(f);
    }
    return n;
}


/* The controller's metrics port, from its log line {"msg":"serving /metrics
 * ...","port":"N"} in clog (polled for up to 10 s); 0 if it never came. */
static int wait_metrics_port(const char *clog)
{
    int port = 0;
    for (int i = 0; i < 200 && port <= 0; i++) {
        FILE *f = fopen(clog, "r");
        char l[4096];
        while (f && fgets(l, sizeof(l), f)) {
            const char *m = strstr(l, "serving /metrics");
            const char *p = m ? strstr(m, "\"port\":\"") : NULL;
            if (p)
                port = atoi(p + 8);
        }
        if (f)
            fclose(f);
        if (port <= 0)
            usleep(50000);
    }
    return port;
}

TEST(daemonset_kubelet_then_metrics_api)
{
    const char *bin = getenv("LEAKWATCH");
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "SKIP: $LEAKWATCH is not set to the leakwatch binary\n");
        return;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(cleanup);
    snprintf(dir, sizeof(dir), "/tmp/lw-ds.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(token, sizeof(token), "tok-ds-%d", (int)getpid());
    char path[256], line[128];
    snprintf(path, sizeof(path), "%s/token", dir);
    snprintf(line, sizeof(line), "%s\n", token);
    write_file(path, line);

    /* the API server (TLS, token file, a kubeconfig for the controller) */
    const char *src = getenv("LW_SOURCE_DIR");
    char script[512], portf[128], tls[128], kc[128], slog[128];
    snprintf(script, sizeof(script), "%s/tests/apiserver/apiserver.py", src ? src : ".");
    snprintf(portf, sizeof(portf), "%s/api.port", dir);
    snprintf(tls, sizeof(tls), "%s/tls", dir);
    snprintf(kc, sizeof(kc), "%s/kubeconfig", dir);
    snprintf(slog, sizeof(slog), "%s/api.log", dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", tls);
    if ((pids[0] = fork()) == 0) {
        int fd = open(slog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("python3", "python3", script, "--port", "0", "--port-file", portf, "--token-file",
               path, "--tls-dir", tls, "--kubeconfig-out", kc, "--bookmark-interval", "1",
               (char *)NULL);
        _exit(127);
    }
    CHECK_EQ_INT(read_ports(portf, &api_port, NULL, 300), 0);
    if (api_port <= 0)
        return;

    /* the fake kubelet (HTTPS, the API server's 127.0.0.1 certificate) and pprof */
    char py[128], fix[512], crt[160], key[160], ports[128], flog[128];
    snprintf(py, sizeof(py), "%s/fake.py", dir);
    write_file(py, fake_py);
    snprintf(fix, sizeof(fix), "%s/go1.23/chan-send", lw_t_fixtures());
    snprintf(crt, sizeof(crt), "%s/server.crt", tls);
    snprintf(key, sizeof(key), "%s/server.key", tls);
    snprintf(ports, sizeof(ports), "%s/ports", dir);
    snprintf(flog, sizeof(flog), "%s/fake.err", dir);
    if ((pids[1] = fork()) == 0) {
        int fd = open(flog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("python3", "python3", py, dir, fix, crt, key, path, (char *)NULL);
        _exit(127);
    }
    CHECK_EQ_INT(read_ports(ports, &pprof_port, &kubelet_port, 200), 0);
    if (kubelet_port <= 0)
        return;

    /* the node, a pod on it and one on another node */
    CHECK_EQ_INT(ctl("POST", "objects/nodes",
                     "{\"metadata\":{\"name\":\"node-a\"},\"status\":{\"addresses\":["
                     "{\"type\":\"Hostname\",\"address\":\"node-a\"},"
                     "{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"}]}}"),
                 200);
    char body[2048];
    pod_json(body, sizeof(body), "web", pprof_port, "node-a", "127.0.0.2");
    CHECK_EQ_INT(ctl("POST", "pods", body), 200);
    pod_json(body, sizeof(body), "elsewhere", pprof_port, "node-b", "127.0.0.1");
    CHECK_EQ_INT(ctl("POST", "pods", body), 200);

    /* the controller */
    char clog[128], kport[16];
    snprintf(clog, sizeof(clog), "%s/controller.log", dir);
    snprintf(kport, sizeof(kport), "%d", kubelet_port);
    if ((pids[2] = fork()) == 0) {
        int fd = open(clog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "controller", "--kubeconfig", kc, "--mode", "daemonset", "--node",
              "node-a", "--kubelet-port", kport, "--kubelet-insecure-skip-tls-verify",
              "--scrape-interval", "1s", "--scrape-timeout", "1s", "--heap-every", "1",
              "--metrics-bind-address", "127.0.0.1:0", "--log-format", "json", "--log-level",
              "debug", "--shutdown-timeout", "2s", (char *)NULL);
        _exit(127);
    }
    metrics_port = wait_metrics_port(clog);
    CHECK(metrics_port > 0);
    if (metrics_port <= 0)
        return;

    /* 1: the working set comes from the node's kubelet, found through the Node */
    CHECK(wait_for(ws_from_kubelet, 30));
    CHECK(wait_for(summary_kubelet, 30));
    CHECK(count_lines("controller.log", "\"msg\":\"kubelet address\"", "127.0.0.1") >= 1);
    CHECK(count_lines("controller.log", "\"msg\":\"memory source\"", "\"source\":\"kubelet\"") >=
          1);
    char bearer[96];
    snprintf(bearer, sizeof(bearer), "auth=Bearer %s", token);
    CHECK(count_lines("fake.log", "kubelet /metrics/resource", bearer) >= 1);
    /* the token never goes to a pod; node-b's pod is not ours */
    CHECK(count_lines("fake.log", "pprof /web/debug/pprof/goroutine?debug=1", NULL) >= 1);
    CHECK(count_lines("fake.log", "pprof /web/debug/pprof/heap?debug=1", NULL) >= 1);
    CHECK_EQ_INT(count_lines("fake.log", "pprof ", "Bearer"), 0);
    CHECK_EQ_INT(count_lines("fake.log", "/elsewhere/", NULL), 0);
    CHECK(count_lines("controller.log", "scraping pod", "\"pod\":\"web\"") >= 1);
    /* API requests by verb, resource and code */
    CHECK(metric("leakwatch_api_requests_total{verb=\"get\",resource=\"nodes\",code=\"200\"}") >=
          1);
    CHECK(metric("leakwatch_api_requests_total{verb=\"list\",resource=\"pods\",code=\"200\"}") >=
          1);
    CHECK(metric("leakwatch_api_requests_total{verb=\"patch\",resource=\"pods\",code=\"200\"}") >=
          1);
    /* per-pod gauges and scrape counters */
    CHECK(metric("leakwatch_goroutines{namespace=\"default\",pod=\"web\",container=\"app\"}") ==
          fixture_goroutines());
    CHECK(!isnan(metric("leakwatch_goroutine_growth_per_hour{namespace=\"default\",pod=\"web\"")));
    CHECK(metric("leakwatch_scrapes_total{profile=\"goroutine\",result=\"ok\"}") >= 1);
    CHECK(metric("leakwatch_scrapes_total{profile=\"heap\",result=\"ok\"}") >= 1);
    CHECK(isnan(metric("leakwatch_goroutines{namespace=\"default\",pod=\"elsewhere\"")));
    /* the server ends the watch: a restart by timeout */
    CHECK_EQ_INT(ctl("POST", "drop-watches", "{\"abrupt\":false}"), 200);
    CHECK(wait_for(watch_restarted, 10));
    /* metrics.k8s.io is not asked while the kubelet answers */
    CHECK(isnan(metric("leakwatch_api_requests_total{verb=\"list\",resource=\"pods.metrics.k8s.io\"")));

    /* 2: the kubelet fails; metrics.k8s.io takes over and the summary says so */
    CHECK_EQ_INT(ctl("POST", "config", "{\"metricsAPI\":true}"), 200);
    CHECK_EQ_INT(ctl("POST", "metrics/pods/default/web",
                     "{\"containers\":[{\"name\":\"app\",\"usage\":{\"cpu\":\"5m\","
                     "\"memory\":\"98765432\"}}]}"),
                 200);
    snprintf(path, sizeof(path), "%s/kubelet-down", dir);
    write_file(path, "1");
    CHECK(wait_for(ws_from_mapi, 40));
    CHECK(wait_for(summary_mapi, 30));
    CHECK(count_lines("controller.log", "kubelet metrics fetch failed", "HTTP 503") >= 1);
    /* a flat pod is never suspected: no debug=2; goroutineleak answered 404
     * once and is not asked again; the heap with every goroutine scrape
     * (--heap-every 1) */
    CHECK_EQ_INT(count_lines("fake.log", "pprof /web/debug/pprof/goroutine?debug=2", NULL), 0);
    CHECK_EQ_INT(count_lines("fake.log", "pprof /web/debug/pprof/goroutineleak", NULL), 1);
    int g1n = count_lines("fake.log", "pprof /web/debug/pprof/goroutine?debug=1", NULL);
    int hpn = count_lines("fake.log", "pprof /web/debug/pprof/heap?debug=1", NULL);
    CHECK(g1n >= 5 && hpn >= g1n - 1 && hpn <= g1n);
    CHECK(metric("leakwatch_api_requests_total{verb=\"list\",resource=\"pods.metrics.k8s.io\","
                 "code=\"200\"}") >= 1);

    /* clean shutdown */
    kill(pids[2], SIGTERM);
    int st = -1;
    for (int i = 0; i < 200; i++) {
        if (waitpid(pids[2], &st, WNOHANG) == pids[2]) {
            pids[2] = 0;
            break;
        }
        usleep(50000);
    }
    CHECK_EQ_INT(pids[2], 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* 3: a node without a Node object (or no RBAC to read it): the pods'
     * status.hostIP leads to the kubelet; and --heap-every 0 */
    unlink(path); /* the kubelet answers again */
    pod_json(body, sizeof(body), "solo", pprof_port, "node-c", "127.0.0.1");
    CHECK_EQ_INT(ctl("POST", "pods", body), 200);
    snprintf(clog, sizeof(clog), "%s/controller2.log", dir);
    if ((pids[2] = fork()) == 0) {
        int fd = open(clog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execl(bin, bin, "controller", "--kubeconfig", kc, "--mode", "daemonset", "--node",
              "node-c", "--kubelet-port", kport, "--kubelet-insecure-skip-tls-verify",
              "--scrape-interval", "1s", "--scrape-timeout", "1s", "--heap-every", "0",
              "--metrics-api=false", "--metrics-bind-address", "127.0.0.1:0", "--log-format",
              "json", "--shutdown-timeout", "2s", (char *)NULL);
        _exit(127);
    }
    metrics_port = wait_metrics_port(clog);
    CHECK(metrics_port > 0);
    /* --heap-every 0: no heap scrapes, the working set still reaches the series */
    CHECK(wait_for(solo_from_kubelet, 30));
    CHECK(count_lines("fake.log", "pprof /solo/debug/pprof/goroutine?debug=1", NULL) >= 1);
    CHECK_EQ_INT(count_lines("fake.log", "pprof /solo/debug/pprof/heap", NULL), 0);
    CHECK(count_lines("controller2.log", "using the pods' status.hostIP", "node-c") >= 1);
    CHECK(metric("leakwatch_api_requests_total{verb=\"get\",resource=\"nodes\",code=\"404\"}") >=
          1);
    stop_pid(&pids[2]);
    if (lw_t_failed_checks) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "tail -n 40 '%s/controller.log' >&2; tail -n 20 '%s/fake.log' >&2",
                 dir, dir);
        if (system(cmd) != 0)
            fprintf(stderr, "(no logs)\n");
    }
}

TEST_LIST(T(daemonset_kubelet_then_metrics_api));
TEST_MAIN()
