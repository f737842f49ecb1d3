/* SPDX-License-Identifier: Apache-2.0 */
/*
 * load.c: the public loaders. Turns the in-cluster service account or the
 * chosen kubeconfig context into a provider (provider.c), checking
 * everything up front: referenced files are read once here, base64 and PEM
 * are validated, conflicting settings are refused as client-go's
 * validation.go refuses them. Every error names the kubeconfig file, the
 * context, the cluster or user, and the field; never a token value.
 */
#include "kubeconfig/kubeconfig_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_PEM_FILE (1u << 20)
#define MAX_TOKEN_FILE (256u << 10)

void lw_kubeconfig_opts_default(struct lw_kubeconfig_opts *o)
{
    memset(o, 0, sizeof(*o));
}

static void copy_str(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* "prefix: field: message" into eb. */
static int ferr(struct lw_errbuf *eb, int rc, const char *prefix, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int ferr(struct lw_errbuf *eb, int rc, const char *prefix, const char *field,
                const char *fmt, ...)
{
    char msg[LW_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lw_errf(eb, rc, "%s: %s: %s", prefix, field, msg);
}

static int get_str(const struct lw__ynode *m, const char *key, const char *prefix, const char **out,
                   struct lw_errbuf *eb)
{
    const struct lw__ynode *n = lw__y_get(m, key);
    *out = NULL;
    if (!n)
        return LW_OK;
    if (n->type != LW_Y_SCALAR)
        return ferr(eb, LW_EINVAL, prefix, key, "must be a string (line %d)", n->line);
    *out = n->str[0] ? n->str : NULL;
    return LW_OK;
}

static int get_bool(const struct lw__ynode *m, const char *key, const char *prefix, int *out,
                    struct lw_errbuf *eb)
{
    const struct lw__ynode *n = lw__y_get(m, key);
    *out = 0;
    if (!n)
        return LW_OK;
    if (n->type == LW_Y_SCALAR && n->plain) {
        static const char *const t[] = {"true", "yes", "on", "y"};
        static const char *const f[] = {"false", "no", "off", "n"};
        for (size_t i = 0; i < LW_ARRAY_SIZE(t); i++) {
            if (strcasecmp(n->str, t[i]) == 0) {
                *out = 1;
                return LW_OK;
            }
            if (strcasecmp(n->str, f[i]) == 0)
                return LW_OK;
        }
    }
    return ferr(eb, LW_EINVAL, prefix, key, "must be true or false (line %d)", n->line);
}

/* A relative path is resolved against the directory of the file that set it. */
static char *resolve_path(const char *dir, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", dir, p);
    return r;
}

/* Trim and check a bearer token; it goes into a header, so no control
 * characters. Returns a malloc'd copy or NULL with *rc set. */
static char *clean_token(const char *s, size_t len, int *rc)
{
    while (len && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                   s[len - 1] == '\r'))
        len--;
    if (!len) {
        *rc = LW_EEMPTY;
        return NULL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f) {
            *rc = LW_EINVAL;
            return NULL;
        }
    }
    char *t = malloc(len + 1);
    if (!t) {
        *rc = LW_ENOMEM;
        return NULL;
    }
    memcpy(t, s, len);
    t[len] = 0;
    *rc = LW_OK;
    return t;
}

/* Exported to provider.c: read a token file (re-opened every time). */
int lw__read_token_file(const char *path, char **tok, struct lw_errbuf *eb);
int lw__read_token_file(const char *path, char **tok, struct lw_errbuf *eb)
{
    char *data = NULL;
    size_t len = 0;
    struct lw_errbuf reb;
    int rc = lw__read_small(path, MAX_TOKEN_FILE, &data, &len, &reb);
    if (rc)
        return lw_errf(eb, rc, "token file %s", reb.msg);
    *tok = clean_token(data, len, &rc);
    explicit_bzero(data, len);
    free(data);
    if (rc == LW_EEMPTY)
        return lw_errf(eb, rc, "token file %s: empty", path);
    if (rc)
        return lw_errf(eb, rc, "token file %s: %s", path,
                       rc == LW_EINVAL ? "contains control characters" : lw_strerror(rc));
    return LW_OK;
}

/* PEM from FIELD-data (base64) or FIELD (a file), validated by check. */
enum pem_kind { PEM_CERTS, PEM_KEY };
static int load_pem(const struct lw__ynode *m, const char *dir, const char *field,
                    enum pem_kind kind, const char *prefix, int dry, char **out, size_t *outlen,
                    struct lw_errbuf *eb)
{
    char datafield[64];
    snprintf(datafield, sizeof(datafield), "%s-data", field);
    const char *data, *path;
    int rc;
    *out = NULL;
    *outlen = 0;
    if ((rc = get_str(m, datafield, prefix, &data, eb)) ||
        (rc = get_str(m, field, prefix, &path, eb)))
        return rc;
    const char *what = data ? datafield : field;
    char *abs = NULL;
    if (data) {   /* "-data" overrides the file, as in client-go */
        if (lw__b64_decode(data, strlen(data), out, outlen))
            return ferr(eb, LW_EINVAL, prefix, datafield, "not valid base64");
    } else if (path) {
        if (dry)
            return ferr(eb, LW_EIO, prefix, field, "file reads disabled");
        if (!(abs = resolve_path(dir, path)))
            return lw_errf(eb, LW_ENOMEM, "out of memory");
        struct lw_errbuf reb;
        if ((rc = lw__read_small(abs, MAX_PEM_FILE, out, outlen, &reb))) {
            free(abs);
            return ferr(eb, rc, prefix, field, "%s", reb.msg);
        }
    } else {
        return LW_OK;
    }
    char why[200];
    int n = 0;
    rc = kind == PEM_CERTS ? lw__pem_check_certs(*out, *outlen, &n, why, sizeof(why))
                           : lw__pem_check_key(*out, *outlen, why, sizeof(why));
    if (rc) {
        if (abs)
            ferr(eb, rc, prefix, what, "%s: %s", abs, why);
        else
            ferr(eb, rc, prefix, what, "%s", why);
        free(*out);
        *out = NULL;
    }
    free(abs);
    return rc;
}

/* Split "https://host:port/prefix" into pieces; host keeps IPv6 brackets. */
struct url_parts {
    char scheme[8];
    char host[512];
    char port[8];
    const char *rest;   /* path prefix (points into the url) */
};
static int split_url(const char *url, struct url_parts *u)
{
    memset(u, 0, sizeof(*u));
    const char *p = strstr(url, "://");
    if (!p || p - url > 5)
        return LW_EINVAL;
    snprintf(u->scheme, sizeof(u->scheme), "%.*s", (int)(p - url), url);
    const char *a = p + 3;
    const char *e = a + strcspn(a, "/?#");
    u->rest = e;
    if (memchr(a, '@', (size_t)(e - a)) || e == a)
        return LW_EINVAL;
    const char *hend = e;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(e - a));
        if (!rb)
            return LW_EINVAL;
        hend = rb + 1;
        if (hend < e && *hend != ':')
            return LW_EINVAL;
    } else {
        const char *c = memchr(a, ':', (size_t)(e - a));
        if (c)
            hend = c;
    }
    if ((size_t)(hend - a) >= sizeof(u->host) || hend == a)
        return LW_EINVAL;
    snprintf(u->host, sizeof(u->host), "%.*s", (int)(hend - a), a);
    if (hend < e) {
        const char *pp = hend + 1;
        if (e - pp < 1 || e - pp > 5 || strspn(pp, "0123456789") < (size_t)(e - pp))
            return LW_EINVAL;
        snprintf(u->port, sizeof(u->port), "%.*s", (int)(e - pp), pp);
    } else {
        snprintf(u->port, sizeof(u->port), "%s", strcmp(u->scheme, "http") == 0 ? "80" : "443");
    }
    return LW_OK;
}

/* Normalise a kubeconfig server value into p->server. */
static int set_server(struct lw__provider *p, const char *server, const char *prefix,
                      struct lw_errbuf *eb)
{
    char buf[1024];
    if (strlen(server) >= sizeof(buf) - 8)
        return ferr(eb, LW_ETOOBIG, prefix, "server", "too long");
    if (strstr(server, "://"))
        snprintf(buf, sizeof(buf), "%s", server);
    else
        snprintf(buf, sizeof(buf), "https://%s", server);   /* host:port alone means https */
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '/')
        buf[--n] = 0;
    struct url_parts u;
    if (split_url(buf, &u) || (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) ||
        strpbrk(buf, " \t\r\n?#"))
        return ferr(eb, LW_EINVAL, prefix, "server", "\"%s\" is not an http(s) URL", server);
    snprintf(p->server, sizeof(p->server), "%s", buf);
    return LW_OK;
}

/* tls-server-name: the URL given to libcurl uses the name (so SNI and the
 * certificate check use it) and CONNECT_TO sends the connection to the real
 * host:port. */
static int setup_tls_server_name(struct lw__provider *p, const char *name, char *url_out,
                                 size_t url_len, const char *prefix, struct lw_errbuf *eb)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 253 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                             "0123456789.-") != nl)
        return ferr(eb, LW_EINVAL, prefix, "tls-server-name", "\"%s\" is not a DNS name", name);
    struct url_parts u;
    if (split_url(p->server, &u))
        return ferr(eb, LW_EINVAL, prefix, "server", "cannot parse");
    if (strcmp(u.scheme, "https") != 0)
        return ferr(eb, LW_EINVAL, prefix, "tls-server-name", "needs an https server");
    char map[1200];
    /* CONNECT_TO wants the target host without brackets for IPv6 */
    char host[512];
    snprintf(host, sizeof(host), "%s", u.host);
    if (host[0] == '[') {
        size_t hl = strlen(host);
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
        snprintf(map, sizeof(map), "%s:%s:[%s]:%s", name, u.port, host, u.port);
    } else {
        snprintf(map, sizeof(map), "%s:%s:%s:%s", name, u.port, host, u.port);
    }
    p->connect_to = curl_slist_append(NULL, map);
    if (!p->connect_to)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    snprintf(p->host_header, sizeof(p->host_header), "Host: %s:%s", u.host, u.port);
    if (snprintf(url_out, url_len, "https://%s:%s%s", name, u.port, u.rest) >= (int)url_len)
        return ferr(eb, LW_ETOOBIG, prefix, "server", "too long");
    return LW_OK;
}

/* ---- exec plugin configuration ---- */

static cJSON *y_to_json(const struct lw__ynode *n, int depth)
{
    if (!n || depth > LW_KUBECONFIG_MAX_DEPTH)
        return cJSON_CreateNull();
    if (n->type == LW_Y_SCALAR) {
        if (lw__y_is_null(n))
            return cJSON_CreateNull();
        if (n->plain) {
            if (strcmp(n->str, "true") == 0)
                return cJSON_CreateTrue();
            if (strcmp(n->str, "false") == 0)
                return cJSON_CreateFalse();
            char *end;
            double d = strtod(n->str, &end);
            if (end != n->str && *end == 0 && strspn(n->str, "+-0123456789.eE") == n->len)
                return cJSON_CreateNumber(d);
        }
        return cJSON_CreateString(n->str);
    }
    cJSON *o = n->type == LW_Y_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
    for (size_t i = 0; o && i < n->n; i++) {
        if (n->type == LW_Y_MAP) {
            const struct lw__ynode *k = n->items[2 * i];
            if (k->type == LW_Y_SCALAR)
                cJSON_AddItemToObject(o, k->str, y_to_json(n->items[2 * i + 1], depth + 1));
        } else {
            cJSON_AddItemToArray(o, y_to_json(n->items[i], depth + 1));
        }
    }
    return o;
}

static int build_exec(const struct lw__ynode *ex, const char *dir, const char *prefix,
                      const struct lw__provider *p, const struct lw__ynode *cluster,
                      const struct lw_kubeconfig_opts *o, struct lw__exec **out,
                      struct lw_errbuf *eb)
{
    int rc;
    const char *cmd, *api, *hint, *mode;
    int provide = 0;
    if (ex->type != LW_Y_MAP)
        return ferr(eb, LW_EINVAL, prefix, "exec", "must be a map");
    if ((rc = get_str(ex, "command", prefix, &cmd, eb)) ||
        (rc = get_str(ex, "apiVersion", prefix, &api, eb)) ||
        (rc = get_str(ex, "installHint", prefix, &hint, eb)) ||
        (rc = get_str(ex, "interactiveMode", prefix, &mode, eb)) ||
        (rc = get_bool(ex, "provideClusterInfo", prefix, &provide, eb)))
        return rc;
    if (!cmd)
        return ferr(eb, LW_EINVAL, prefix, "exec.command", "not set");
    if (!api)
        return ferr(eb, LW_EINVAL, prefix, "exec.apiVersion", "not set");
    int v1 = strcmp(api, "client.authentication.k8s.io/v1") == 0;
    if (!v1 && strcmp(api, "client.authentication.k8s.io/v1beta1") != 0)
        return ferr(eb, LW_EUNSUPPORTED, prefix, "exec.apiVersion",
                    "\"%s\" is not supported (use client.authentication.k8s.io/v1 or /v1beta1)",
                    api);
    if (!mode && v1)
        return ferr(eb, LW_EINVAL, prefix, "exec.interactiveMode",
                    "must be specified for %s", api);
    if (mode && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0) {
        if (strcmp(mode, "Always") == 0)
            return ferr(eb, LW_EUNSUPPORTED, prefix, "exec.interactiveMode",
                        "Always needs a terminal; leakwatch runs plugins non-interactively");
        return ferr(eb, LW_EINVAL, prefix, "exec.interactiveMode",
                    "\"%s\" is not Never, IfAvailable or Always", mode);
    }
    const struct lw__ynode *args = lw__y_get(ex, "args"), *env = lw__y_get(ex, "env");
    if (args && args->type != LW_Y_SEQ)
        return ferr(eb, LW_EINVAL, prefix, "exec.args", "must be a list of strings");
    if (env && env->type != LW_Y_SEQ)
        return ferr(eb, LW_EINVAL, prefix, "exec.env", "must be a list of {name, value}");
    size_t nargs = args ? args->n : 0, nenv = env ? env->n : 0;
    if (nargs > 1024 || nenv > 1024)
        return ferr(eb, LW_ETOOBIG, prefix, "exec", "too many args or env entries");

    struct lw__exec *x = calloc(1, sizeof(*x));
    if (!x)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    *out = x;   /* the caller frees it on error too */
    x->command = (strchr(cmd, '/') && cmd[0] != '/') ? resolve_path(dir, cmd) : strdup(cmd);
    x->api_version = strdup(api);
    x->install_hint = hint ? strdup(hint) : NULL;
    x->what = strdup(prefix);
    x->argv = calloc(nargs + 2, sizeof(char *));
    x->env = calloc(nenv + 1, sizeof(char *));
    x->timeout_s = o->exec_timeout_s > 0 ? o->exec_timeout_s : 30;
    x->early_s = o->exec_early_s > 0 ? o->exec_early_s : 10;
    x->max_out = o->exec_max_output ? o->exec_max_output : (1u << 20);
    if (!x->command || !x->api_version || (hint && !x->install_hint) || !x->what || !x->argv ||
        !x->env || !(x->argv[0] = strdup(x->command)))
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    for (size_t i = 0; i < nargs; i++) {
        const struct lw__ynode *a = args->items[i];
        if (a->type != LW_Y_SCALAR)
            return ferr(eb, LW_EINVAL, prefix, "exec.args", "item %zu is not a string", i);
        if (!(x->argv[i + 1] = strdup(a->str)))
            return lw_errf(eb, LW_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nenv; i++) {
        const char *name, *value;
        const struct lw__ynode *e = env->items[i];
        if (e->type != LW_Y_MAP)
            return ferr(eb, LW_EINVAL, prefix, "exec.env", "item %zu is not {name, value}", i);
        if ((rc = get_str(e, "name", prefix, &name, eb)) ||
            (rc = get_str(e, "value", prefix, &value, eb)))
            return rc;
        if (!name || strchr(name, '='))
            return ferr(eb, LW_EINVAL, prefix, "exec.env", "item %zu has no valid name", i);
        size_t n = strlen(name) + (value ? strlen(value) : 0) + 2;
        if (!(x->env[i] = malloc(n)))
            return lw_errf(eb, LW_ENOMEM, "out of memory");
        snprintf(x->env[i], n, "%s=%s", name, value ? value : "");
        x->nenv++;
    }

    /* KUBERNETES_EXEC_INFO: an ExecCredential with spec.interactive=false
     * and, with provideClusterInfo, spec.cluster. */
    cJSON *root = cJSON_CreateObject(), *spec = cJSON_CreateObject();
    if (!root || !spec) {
        cJSON_Delete(root);
        cJSON_Delete(spec);
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(root, "kind", "ExecCredential");
    cJSON_AddStringToObject(root, "apiVersion", api);
    cJSON_AddItemToObject(root, "spec", spec);
    cJSON_AddBoolToObject(spec, "interactive", 0);
    if (provide) {
        cJSON *c = cJSON_AddObjectToObject(spec, "cluster");
        const char *tsn = NULL, *proxy = NULL;
        int dc = 0;
        struct lw_errbuf ign;
        get_str(cluster, "tls-server-name", prefix, &tsn, &ign);
        get_str(cluster, "proxy-url", prefix, &proxy, &ign);
        get_bool(cluster, "disable-compression", prefix, &dc, &ign);
        cJSON_AddStringToObject(c, "server", p->server);
        if (tsn)
            cJSON_AddStringToObject(c, "tls-server-name", tsn);
        if (p->insecure)
            cJSON_AddBoolToObject(c, "insecure-skip-tls-verify", 1);
        if (p->ca) {
            char *b = lw__b64_encode(p->ca, p->ca_len);
            if (b)
                cJSON_AddStringToObject(c, "certificate-authority-data", b);
            free(b);
        }
        if (proxy)
            cJSON_AddStringToObject(c, "proxy-url", proxy);
        if (dc)
            cJSON_AddBoolToObject(c, "disable-compression", 1);
        /* per-cluster plugin config: extensions[name=client.authentication.k8s.io/exec] */
        const struct lw__ynode *exts = lw__y_get(cluster, "extensions");
        for (size_t i = 0; exts && exts->type == LW_Y_SEQ && i < exts->n; i++) {
            const struct lw__ynode *nm = lw__y_get(exts->items[i], "name");
            if (nm && nm->type == LW_Y_SCALAR &&
                strcmp(nm->str, "client.authentication.k8s.io/exec") == 0) {
                cJSON_AddItemToObject(c, "config",
                                      y_to_json(lw__y_get(exts->items[i], "extension"), 0));
                break;
            }
        }
    }
    x->exec_info = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!x->exec_info || strlen(x->exec_info) > 128 * 1024)
        return ferr(eb, LW_ETOOBIG, prefix, "exec", "KUBERNETES_EXEC_INFO too large");
    return LW_OK;
}

/* ---- kubeconfig ---- */

static int build_from_selection(const struct lw__kcset *s, const struct lw__kcsel *sel,
                                const struct lw_kubeconfig_opts *o, int dry,
                                struct lw__provider *p, struct lw_kubeconfig_info *info,
                                char *url, size_t url_len, struct lw_errbuf *eb)
{
    const struct lw__kcfile *cf = &s->files[sel->cluster_file];
    char prefix[700];
    int rc;
    snprintf(prefix, sizeof(prefix), "kubeconfig %s: context \"%s\": cluster \"%s\"", cf->path,
             sel->context, sel->cluster);

    const char *server, *tsn, *proxy;
    if ((rc = get_str(sel->c, "server", prefix, &server, eb)) ||
        (rc = get_str(sel->c, "tls-server-name", prefix, &tsn, eb)) ||
        (rc = get_str(sel->c, "proxy-url", prefix, &proxy, eb)) ||
        (rc = get_bool(sel->c, "insecure-skip-tls-verify", prefix, &p->insecure, eb)))
        return rc;
    if (!server)
        return ferr(eb, LW_EINVAL, prefix, "server", "not set");
    if (proxy)
        return ferr(eb, LW_EUNSUPPORTED, prefix, "proxy-url",
                    "not supported; use the https_proxy environment variable");
    if ((rc = set_server(p, server, prefix, eb)))
        return rc;
    if ((rc = load_pem(sel->c, cf->dir, "certificate-authority", PEM_CERTS, prefix, dry, &p->ca,
                       &p->ca_len, eb)))
        return rc;
    if (p->insecure && p->ca)
        return ferr(eb, LW_EINVAL, prefix, "insecure-skip-tls-verify",
                    "specifying a root certificates file with the insecure flag is not allowed");
    int https = strncmp(p->server, "https://", 8) == 0;
    snprintf(url, url_len, "%s", p->server);
    if (tsn && (rc = setup_tls_server_name(p, tsn, url, url_len, prefix, eb)))
        return rc;

    /* user */
    const char *auth = "none";
    if (sel->u) {
        const struct lw__kcfile *uf = &s->files[sel->user_file];
        snprintf(prefix, sizeof(prefix), "kubeconfig %s: context \"%s\": user \"%s\"", uf->path,
                 sel->context, sel->user);
        snprintf(p->what, sizeof(p->what), "user \"%s\" in %s", sel->user, uf->path);
        const char *token, *token_file, *username, *password;
        if ((rc = get_str(sel->u, "token", prefix, &token, eb)) ||
            (rc = get_str(sel->u, "tokenFile", prefix, &token_file, eb)) ||
            (rc = get_str(sel->u, "username", prefix, &username, eb)) ||
            (rc = get_str(sel->u, "password", prefix, &password, eb)))
            return rc;
        const struct lw__ynode *ex = lw__y_get(sel->u, "exec");
        const struct lw__ynode *ap = lw__y_get(sel->u, "auth-provider");
        if (ex && ap)
            return ferr(eb, LW_EINVAL, prefix, "exec",
                        "auth-provider cannot be provided in combination with an exec plugin");
        if (ap)
            return ferr(eb, LW_EUNSUPPORTED, prefix, "auth-provider",
                        "not supported (removed from client-go); use an exec plugin");
        if ((username || password) && (token || token_file))
            return ferr(eb, LW_EINVAL, prefix, "token",
                        "username/password or bearer token may be set, but not both");
        if (username || password)
            return ferr(eb, LW_EUNSUPPORTED, prefix, "username",
                        "basic authentication is not supported");
        if (ex && (token || token_file))
            return ferr(eb, LW_EINVAL, prefix, "exec",
                        "more than one authentication method (token and exec); only one is "
                        "allowed");
        if ((rc = load_pem(sel->u, uf->dir, "client-certificate", PEM_CERTS, prefix, dry,
                           &p->cert, &p->cert_len, eb)) ||
            (rc = load_pem(sel->u, uf->dir, "client-key", PEM_KEY, prefix, dry, &p->key,
                           &p->key_len, eb)))
            return rc;
        if (!p->cert != !p->key)
            return ferr(eb, LW_EINVAL, prefix, p->cert ? "client-key" : "client-certificate",
                        "not set (client-certificate and client-key must both be specified)");
        if (p->cert) {
            char why[200];
            if (lw__pem_check_pair(p->cert, p->cert_len, p->key, p->key_len, why, sizeof(why)))
                return ferr(eb, LW_EINVAL, prefix, "client-key", "%s", why);
        }
        if (token) {
            p->token = clean_token(token, strlen(token), &rc);
            if (rc)
                return ferr(eb, rc, prefix, "token",
                            rc == LW_EINVAL ? "contains control characters" : "empty");
        }
        if (token_file) {
            if (!(p->token_file = resolve_path(uf->dir, token_file)))
                return lw_errf(eb, LW_ENOMEM, "out of memory");
            struct lw_errbuf teb;
            rc = dry ? lw_errf(&teb, LW_EIO, "file reads disabled")
                     : lw__read_token_file(p->token_file, &p->file_token, &teb);
            /* with `token` too, the file only has to be readable later
             * ("the last successfully read value takes precedence") */
            if (rc && !p->token)
                return ferr(eb, rc, prefix, "tokenFile", "%s", teb.msg);
            if (!rc)
                p->token_reads++;
            p->token_read_at = lw__now_mono();
        }
        if (ex && (rc = build_exec(ex, uf->dir, prefix, p, sel->c, o, &p->exec, eb)))
            return rc;
        if (p->exec)
            auth = p->cert ? "client-cert+exec" : "exec";
        else if (p->token_file)
            auth = p->cert ? "client-cert+token-file" : "token-file";
        else if (p->token)
            auth = p->cert ? "client-cert+token" : "token";
        else if (p->cert)
            auth = "client-cert";
    }
    if (!https && strcmp(auth, "none") != 0)
        return ferr(eb, LW_EINVAL, prefix, "server",
                    "refusing to send credentials to plain http://; use https");
    if (info) {
        copy_str(info->source, sizeof(info->source), s->files[sel->ctx_file].path);
        copy_str(info->context, sizeof(info->context), sel->context);
        copy_str(info->cluster, sizeof(info->cluster), sel->cluster);
        copy_str(info->user, sizeof(info->user), sel->user);
        copy_str(info->namespace_, sizeof(info->namespace_),
                 sel->namespace_ && *sel->namespace_ ? sel->namespace_ : "default");
        copy_str(info->auth, sizeof(info->auth), auth);
        info->insecure = p->insecure;
    }
    return LW_OK;
}

static int file_exists(const char *path, struct lw_errbuf *eb, int *exists)
{
    struct stat st;
    *exists = 0;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return LW_OK;
        return lw_errf(eb, LW_EIO, "kubeconfig %s: %s", path, strerror(errno));
    }
    *exists = 1;
    return LW_OK;
}

/* Collect the files: explicit path, else the KUBECONFIG list, else ~/.kube/config. */
static int collect_files(const struct lw_kubeconfig_opts *o, struct lw__kcset *s,
                         struct lw_errbuf *eb)
{
    if (o->path && *o->path)
        return lw__kcset_add_file(s, o->path, eb);
    const char *env = o->kubeconfig_env ? o->kubeconfig_env : getenv("KUBECONFIG");
    int rc;
    if (env && *env) {
        /* split a copy in place; seen[] points into it */
        char *copy = strdup(env);
        const char *seen[LW_KUBECONFIG_MAX_FILES];
        size_t nseen = 0, listed = 0;
        if (!copy)
            return lw_errf(eb, LW_ENOMEM, "out of memory");
        rc = LW_OK;
        for (char *p = copy, *next; p && rc == LW_OK; p = next) {
            next = strchr(p, ':');
            if (next)
                *next++ = 0;
            if (!*p)
                continue;   /* empty entries are ignored */
            int dup = 0;
            for (size_t i = 0; i < nseen; i++)
                dup |= strcmp(seen[i], p) == 0;
            if (dup)
                continue;
            if (nseen == LW_KUBECONFIG_MAX_FILES) {
                rc = lw_errf(eb, LW_ETOOBIG, "KUBECONFIG: more than %d files",
                             LW_KUBECONFIG_MAX_FILES);
                break;
            }
            seen[nseen++] = p;
            listed++;
            int exists;
            if ((rc = file_exists(p, eb, &exists)) == LW_OK && exists)
                rc = lw__kcset_add_file(s, p, eb);
        }
        free(copy);
        if (rc == LW_OK && s->n == 0)
            rc = lw_errf(eb, LW_ENOTFOUND, "KUBECONFIG=%s: none of its %zu files exists", env,
                         listed);
        return rc;
    }
    const char *home = o->home ? o->home : getenv("HOME");
    if (!home || !*home)
        return lw_errf(eb, LW_ENOTFOUND, "no kubeconfig: KUBECONFIG and HOME are not set");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/.kube/config", home);
    int exists;
    if ((rc = file_exists(path, eb, &exists)))
        return rc;
    if (!exists)
        return lw_errf(eb, LW_ENOTFOUND, "no kubeconfig: %s does not exist", path);
    return lw__kcset_add_file(s, path, eb);
}

static int finish(struct lw__provider *p, const char *url, struct lw_kube_endpoint *ep)
{
    lw__provider_to_endpoint(p, url, ep);
    return LW_OK;
}

int lw_kubeconfig_load_file(const struct lw_kubeconfig_opts *o, struct lw_kube_endpoint *ep,
                            struct lw_kubeconfig_info *info, struct lw_errbuf *eb)
{
    memset(ep, 0, sizeof(*ep));
    struct lw__kcset *s = calloc(1, sizeof(*s));
    struct lw__provider *p = calloc(1, sizeof(*p));
    char url[1024];
    int rc;
    if (!s || !p) {
        rc = lw_errf(eb, LW_ENOMEM, "out of memory");
        goto out;
    }
    p->refresh_s = o->token_refresh_s > 0 ? o->token_refresh_s : 60;
    struct lw__kcsel sel;
    if ((rc = collect_files(o, s, eb)) || (rc = lw__kcset_select(s, o->context, &sel, eb)))
        goto out;
    if (info)
        memset(info, 0, sizeof(*info));
    if ((rc = build_from_selection(s, &sel, o, 0, p, info, url, sizeof(url), eb)))
        goto out;
    /* fetch exec credentials now so a broken plugin fails at start-up */
    if (p->exec && (rc = lw__exec_run(p->exec, eb)))
        goto out;
    rc = finish(p, url, ep);
    p = NULL;
out:
    if (p)
        lw__provider_free(p);
    if (s)
        lw__kcset_release(s);
    free(s);
    return rc;
}

int lw__kc_dry_build(const struct lw__kcset *s, const char *context,
                     struct lw_kubeconfig_info *info, struct lw_errbuf *eb)
{
    struct lw__kcsel sel;
    struct lw_kubeconfig_opts o;
    lw_kubeconfig_opts_default(&o);
    int rc = lw__kcset_select(s, context, &sel, eb);
    if (rc)
        return rc;
    struct lw__provider *p = calloc(1, sizeof(*p));
    if (!p)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    char url[1024];
    rc = build_from_selection(s, &sel, &o, 1, p, info, url, sizeof(url), eb);
    lw__provider_free(p);
    return rc;
}

/* ---- in-cluster ---- */

int lw_kubeconfig_load_incluster(const struct lw_kubeconfig_opts *o, struct lw_kube_endpoint *ep,
                                 struct lw_kubeconfig_info *info, struct lw_errbuf *eb)
{
    memset(ep, 0, sizeof(*ep));
    const char *host = o->service_host ? o->service_host : getenv("KUBERNETES_SERVICE_HOST");
    const char *port = o->service_port ? o->service_port : getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
        return lw_errf(eb, LW_ENOTFOUND,
                       "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                       "KUBERNETES_SERVICE_PORT must both be set");
    if (strlen(host) > 400 || strpbrk(host, "/@?# \t\r\n[]") ||
        strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
        return lw_errf(eb, LW_EINVAL, "in-cluster: KUBERNETES_SERVICE_HOST/PORT are not a host "
                                      "and a port");
    const char *tok_path = o->sa_token_path ? o->sa_token_path : LW_SA_TOKEN_PATH;
    const char *ca_path = o->sa_ca_path ? o->sa_ca_path : LW_SA_CA_PATH;
    const char *ns_path = o->sa_namespace_path ? o->sa_namespace_path : LW_SA_NAMESPACE_PATH;

    struct lw__provider *p = calloc(1, sizeof(*p));
    if (!p)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    int rc;
    /* net.JoinHostPort: IPv6 literals get brackets */
    if (strchr(host, ':'))
        snprintf(p->server, sizeof(p->server), "https://[%s]:%s", host, port);
    else
        snprintf(p->server, sizeof(p->server), "https://%s:%s", host, port);
    snprintf(p->what, sizeof(p->what), "in-cluster service account");
    p->refresh_s = o->token_refresh_s > 0 ? o->token_refresh_s : 60;
    struct lw_errbuf reb;
    if ((rc = lw__read_token_file(tok_path, &p->file_token, &reb))) {
        lw_errf(eb, rc, "in-cluster: %s", reb.msg);
        goto fail;
    }
    p->token_reads = 1;
    p->token_read_at = lw__now_mono();
    if (!(p->token_file = strdup(tok_path))) {
        rc = lw_errf(eb, LW_ENOMEM, "out of memory");
        goto fail;
    }
    /* fail closed: no CA is an error, never a fallback to system roots */
    if ((rc = lw__read_small(ca_path, MAX_PEM_FILE, &p->ca, &p->ca_len, &reb))) {
        lw_errf(eb, rc, "in-cluster: CA file %s", reb.msg);
        goto fail;
    }
    char why[200];
    int n;
    if ((rc = lw__pem_check_certs(p->ca, p->ca_len, &n, why, sizeof(why)))) {
        lw_errf(eb, rc, "in-cluster: CA file %s: %s", ca_path, why);
        goto fail;
    }
    if (info) {
        memset(info, 0, sizeof(*info));
        copy_str(info->source, sizeof(info->source), "in-cluster");
        copy_str(info->auth, sizeof(info->auth), "token-file");
        copy_str(info->namespace_, sizeof(info->namespace_), "default");
        char *ns = NULL;
        size_t nslen = 0;
        if (lw__read_small(ns_path, 4096, &ns, &nslen, &reb) == LW_OK) {
            size_t a = strspn(ns, " \t\r\n"), b = nslen;
            while (b > a && strchr(" \t\r\n", ns[b - 1]))
                b--;
            if (b > a && b - a < sizeof(info->namespace_))
                snprintf(info->namespace_, sizeof(info->namespace_), "%.*s", (int)(b - a),
                         ns + a);
        }
        free(ns);
    }
    return finish(p, p->server, ep);
fail:
    lw__provider_free(p);
    return rc;
}

int lw_kubeconfig_load(const struct lw_kubeconfig_opts *o, struct lw_kube_endpoint *ep,
                       struct lw_kubeconfig_info *info, struct lw_errbuf *eb)
{
    const char *env = o->kubeconfig_env ? o->kubeconfig_env : getenv("KUBECONFIG");
    if ((o->path && *o->path) || (env && *env))
        return lw_kubeconfig_load_file(o, ep, info, eb);
    struct lw_errbuf ieb;
    int rc = lw_kubeconfig_load_incluster(o, ep, info, &ieb);
    if (rc != LW_ENOTFOUND) {
        if (rc)
            lw_errf(eb, rc, "%s", ieb.msg);
        return rc;
    }
    rc = lw_kubeconfig_load_file(o, ep, info, eb);
    if (rc == LW_ENOTFOUND) {
        char tmp[LW_ERRBUF_SIZE];
        snprintf(tmp, sizeof(tmp), "%s", eb ? eb->msg : "");
        lw_errf(eb, rc, "no Kubernetes configuration: not in a cluster, and %s", tmp);
    }
    return rc;
}

void lw_kubeconfig_endpoint_release(struct lw_kube_endpoint *ep)
{
    if (!ep)
        return;
    if (ep->release && ep->ud)
        ep->release(ep->ud);
    memset(ep, 0, sizeof(*ep));
}
