/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube_test_server.h: shared by the pkg/kube end-to-end tests
 * (test_kube_client.c, test_kube_informer.c). Starts the project's test API
 * server (tests/apiserver/apiserver.py) on 127.0.0.1 over plain HTTP with a
 * token file in a temporary directory, builds a loop and a client with a
 * trivial token-file credentials provider, and wraps the server's /_test/
 * control API (blocking libcurl calls: fine for a test driver).
 */
#ifndef LW_KUBE_TEST_SERVER_H
#define LW_KUBE_TEST_SERVER_H

#include "kube/kube.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A static token read from a file, cached until the server says 401. */
struct tokprov {
    char path[600];
    char token[256];
    char ca[128];      /* CA file when the server speaks TLS */
    int have;
    int unauth_calls;
};

static __attribute__((unused)) int prov_apply(void *ud, CURL *easy, struct curl_slist **headers, struct lw_errbuf *eb)
{
    struct tokprov *p = ud;
    if (p->ca[0])
        curl_easy_setopt(easy, CURLOPT_CAINFO, p->ca);
    if (!p->have) {
        FILE *f = fopen(p->path, "r");
        if (!f)
            return lw_errf(eb, LW_EIO, "token file %s: cannot open", p->path);
        size_t n = fread(p->token, 1, sizeof(p->token) - 1, f);
        fclose(f);
        while (n && (p->token[n - 1] == '\n' || p->token[n - 1] == ' '))
            n--;
        p->token[n] = '\0';
        p->have = 1;
    }
    char h[300];
    snprintf(h, sizeof(h), "Authorization: Bearer %s", p->token);
    struct curl_slist *nl = curl_slist_append(*headers, h);
    if (!nl)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    *headers = nl;
    return LW_OK;
}

static __attribute__((unused)) void prov_unauthorized(void *ud)
{
    struct tokprov *p = ud;
    p->have = 0;
    p->unauth_calls++;
}

/* Set before kt_setup() to serve HTTPS (a CA made by the server). */
static int kt_use_tls;

struct kt {
    char dir[64];
    char ca[128];
    pid_t pid;
    int port;
    char url[64];
    struct lw_loop *loop;
    struct lw_kube *kube;
    struct lw_kube_endpoint ep;
    struct tokprov prov;
};

static __attribute__((unused)) void kt_write_file(const char *path, const char *content)
{
    char tmp[700];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fputs(content, f);
    fclose(f);
    rename(tmp, path);
}

static __attribute__((unused)) void kt_write_token(struct kt *t, const char *tok)
{
    char path[128], line[300];
    snprintf(path, sizeof(path), "%s/token", t->dir);
    snprintf(line, sizeof(line), "%s\n", tok);
    kt_write_file(path, line);
}

static __attribute__((unused)) size_t kt_sink(char *p, size_t s, size_t n, void *ud)
{
    lw_buf_append(ud, p, s * n);
    return s * n;
}

/* A control-API call; returns the parsed answer (caller frees) or NULL. */
static cJSON *kt_ctl_json(struct kt *t, const char *method, const char *path, const char *json)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/_test/%s", t->url, path);
    struct lw_buf b = LW_BUF_INIT(16u << 20);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (json)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, kt_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    if (t->ca[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    cJSON *j = rc == CURLE_OK && b.len ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    if (rc != CURLE_OK)
        fprintf(stderr, "control call %s %s failed: %s\n", method, path, curl_easy_strerror(rc));
    lw_buf_release(&b);
    return j;
}

static __attribute__((unused)) void kt_ctl(struct kt *t, const char *method, const char *path, const char *json)
{
    cJSON_Delete(kt_ctl_json(t, method, path, json));
}

static __attribute__((unused)) void kt_seed_pod(struct kt *t, const char *ns, const char *name, const char *node,
                        const char *labels_json)
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"%s%s},"
             "\"spec\":{\"nodeName\":\"%s\",\"containers\":[{\"name\":\"app\",\"image\":"
             "\"leakzoo\",\"resources\":{\"limits\":{\"memory\":\"64Mi\"}}}]},"
             "\"status\":{\"podIP\":\"127.0.0.1\"}}",
             name, ns, labels_json ? ",\"labels\":" : "", labels_json ? labels_json : "", node);
    kt_ctl(t, "POST", "pods", body);
}

/* The last logged request with this method (a copy; caller frees). */
static cJSON *kt_last_request(struct kt *t, const char *method)
{
    cJSON *all = kt_ctl_json(t, "GET", "requests", NULL);
    cJSON *items = cJSON_GetObjectItem(all, "items"), *it, *last = NULL;
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *m = cJSON_GetObjectItem(it, "method");
        if (cJSON_IsString(m) && strcmp(m->valuestring, method) == 0)
            last = it;
    }
    cJSON *copy = last ? cJSON_Duplicate(last, 1) : NULL;
    cJSON_Delete(all);
    return copy;
}

/* Logged requests with method and path, optionally only watches (query.watch). */
static __attribute__((unused)) int kt_count_requests_q(struct kt *t, const char *method, const char *path, int watch)
{
    cJSON *all = kt_ctl_json(t, "GET", "requests", NULL);
    cJSON *items = cJSON_GetObjectItem(all, "items"), *it;
    int n = 0;
    cJSON_ArrayForEach(it, items)
    {
        const cJSON *m = cJSON_GetObjectItem(it, "method");
        const cJSON *p = cJSON_GetObjectItem(it, "path");
        const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(it, "query"), "watch");
        if (cJSON_IsString(m) && strcmp(m->valuestring, method) == 0 && cJSON_IsString(p) &&
            strcmp(p->valuestring, path) == 0 && (watch < 0 || (watch == (w != NULL))))
            n++;
    }
    cJSON_Delete(all);
    return n;
}

static __attribute__((unused)) int kt_count_requests(struct kt *t, const char *method, const char *path)
{
    return kt_count_requests_q(t, method, path, -1);
}

static __attribute__((unused)) int kt_open_watches(struct kt *t)
{
    cJSON *j = kt_ctl_json(t, "GET", "watches", NULL);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "items"));
    cJSON_Delete(j);
    return n;
}

static __attribute__((unused)) void kt_list_rv(struct kt *t, char *rv, size_t n)
{
    cJSON *j = kt_ctl_json(t, "GET", "health", NULL);
    const cJSON *v = cJSON_GetObjectItem(j, "resourceVersion");
    snprintf(rv, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(j);
}

/* Start the server and a client; 0 (with a failed check) when that fails. */
static __attribute__((unused)) int kt_setup(struct kt *t, const struct lw_kube_opts *opts)
{
    memset(t, 0, sizeof(*t));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(t->dir, sizeof(t->dir), "/tmp/lwkube.XXXXXX");
    if (!mkdtemp(t->dir)) {
        CHECK(!"mkdtemp");
        return 0;
    }
    kt_write_token(t, "tok-initial-1");
    char port_file[128], script[600], log[128];
    snprintf(port_file, sizeof(port_file), "%s/port", t->dir);
    snprintf(log, sizeof(log), "%s/server.log", t->dir);
    const char *src = getenv("LW_SOURCE_DIR");
    snprintf(script, sizeof(script), "%s/tests/apiserver/apiserver.py", src ? src : ".");
    snprintf(t->prov.path, sizeof(t->prov.path), "%s/token", t->dir);
    t->pid = fork();
    if (t->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        char tls[128];
        snprintf(tls, sizeof(tls), "%s/tls", t->dir);
        if (kt_use_tls)
            execlp("python3", "python3", script, "--port", "0", "--port-file", port_file,
                   "--token-file", t->prov.path, "--bookmark-interval", "1", "--tls-dir", tls,
                   (char *)NULL);
        else
            execlp("python3", "python3", script, "--port", "0", "--port-file", port_file,
                   "--token-file", t->prov.path, "--bookmark-interval", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int ok = fscanf(f, "%d", &t->port) == 1;
            fclose(f);
            if (ok && t->port > 0)
                break;
        }
        if (waitpid(t->pid, NULL, WNOHANG) == t->pid) {
            t->pid = 0;
            break;
        }
        usleep(50000);
    }
    if (t->port <= 0) {
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "cat '%s' >&2; rm -rf '%s'", log, t->dir);
        fprintf(stderr, "test API server did not start:\n");
        if (t->pid > 0) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, NULL, 0);
        }
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", t->dir);
        curl_global_cleanup();
        CHECK(!"test API server started");
        return 0;
    }
    snprintf(t->url, sizeof(t->url), "%s://127.0.0.1:%d", kt_use_tls ? "https" : "http",
             t->port);
    if (kt_use_tls) {
        snprintf(t->ca, sizeof(t->ca), "%s/tls/ca.crt", t->dir);
        snprintf(t->prov.ca, sizeof(t->prov.ca), "%s", t->ca);
    }
    struct lw_errbuf eb;
    t->loop = lw_loop_new(&eb);
    snprintf(t->ep.server, sizeof(t->ep.server), "%s", t->url);
    t->ep.ud = &t->prov;
    t->ep.apply = prov_apply;
    t->ep.unauthorized = prov_unauthorized;
    t->kube = lw_kube_new(t->loop, &t->ep, opts, &eb);
    CHECK(t->loop && t->kube);
    return t->loop && t->kube;
}

static __attribute__((unused)) void kt_teardown(struct kt *t)
{
    lw_kube_free(t->kube);
    lw_loop_free(t->loop);
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        int st, reaped = 0;
        for (int i = 0; i < 150 && !reaped; i++) {
            reaped = waitpid(t->pid, &st, WNOHANG) == t->pid;
            if (!reaped)
                usleep(20000);
        }
        if (!reaped) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &st, 0);
        }
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->dir);
    curl_global_cleanup();
}

#endif
