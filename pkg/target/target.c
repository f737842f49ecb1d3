/* SPDX-License-Identifier: Apache-2.0 */
/*
 * target.c: pod object -> scrape target (see target.h for the contract and
 * docs/annotations.md for the user-facing rules).
 *
 * The work is done in a fixed order so that results are predictable:
 *   1. opt-in (quiet NONE when absent), 2. identity, 3. endpoint annotations
 *   (errors), 4. port and container resolution (errors), 5. container status
 *   and memory limit, 6. interval, 7. skip conditions (phase, podIP,
 *   container state), 8. URL assembly with a final paranoid check.
 * Annotation errors come before skips so a Pending pod with a bad annotation
 * is reported at once instead of when it starts.
 */
#include "target/target.h"

#include "quantity/quantity.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- annotation keys --------------------------------------------------- */

#define K_LW_SCRAPE "leakwatch.io/scrape"
#define K_LW_PORT "leakwatch.io/port"
#define K_LW_PORTNAME "leakwatch.io/port-name"
#define K_LW_PATH "leakwatch.io/path"
#define K_LW_SCHEME "leakwatch.io/scheme"
#define K_LW_CONTAINER "leakwatch.io/container"
#define K_LW_INTERVAL "leakwatch.io/interval"
#define K_PY_SCRAPE "profiles.grafana.com/goroutine.scrape"
#define K_PY_PORT "profiles.grafana.com/goroutine.port"
#define K_PY_PORTNAME "profiles.grafana.com/goroutine.port_name"
#define K_PY_PATH "profiles.grafana.com/goroutine.path"
#define K_PY_SCHEME "profiles.grafana.com/goroutine.scheme"
#define K_PA_SCRAPE "parca.dev/scrape"
#define K_PA_PORT "parca.dev/port"
#define K_PA_PATH "parca.dev/path"
#define K_DEFAULT_CONTAINER "kubectl.kubernetes.io/default-container"

#define DEFAULT_PATH "/debug/pprof"

struct conv_keys {
    const char *port, *port_name, *path, *scheme; /* NULL: not in this convention */
};

static const struct conv_keys KEYS_LW = {K_LW_PORT, K_LW_PORTNAME, K_LW_PATH, K_LW_SCHEME};
static const struct conv_keys KEYS_PY = {K_PY_PORT, K_PY_PORTNAME, K_PY_PATH, K_PY_SCHEME};
static const struct conv_keys KEYS_PA = {K_PA_PORT, NULL, K_PA_PATH, NULL};

struct ctx {
    const cJSON *meta, *annots, *spec, *status;
    const cJSON *containers; /* spec.containers (array or NULL) */
    struct lw_target_set *out;
    struct lw_target *t;
    const struct conv_keys *keys;
    char who[128]; /* "ns/name", sanitised, for messages */
    int err;       /* lw_err of an ERROR */
};

/* ---- small helpers ------------------------------------------------------ */

static const cJSON *obj(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsObject(v) ? v : NULL;
}

static const cJSON *arr(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsArray(v) ? v : NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* Copy s for a message: printable ASCII only (others become '?'), quotes
 * and backslashes replaced, cut at 48 bytes with "...". */
static const char *safe(const char *s, char *buf, size_t n)
{
    size_t i = 0, j = 0;
    if (!s)
        s = "";
    for (; s[i] && j + 4 < n && i < 48; i++) {
        unsigned char ch = (unsigned char)s[i];
        buf[j++] = (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    if (s[i] && j + 4 <= n) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = '\0';
    return buf;
}

/* Bounded copy that cuts (for free-text fields); non-printables become '?'. */
static void cut_copy(char *dst, size_t dstsize, const char *s)
{
    size_t j = 0;
    if (s)
        for (; s[j] && j + 1 < dstsize; j++) {
            unsigned char ch = (unsigned char)s[j];
            dst[j] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
    dst[j] = '\0';
}

static void copy_exact(char *dst, size_t dstsize, const char *s, size_t n)
{
    if (n >= dstsize)
        n = dstsize - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int set_fail(struct ctx *c, int err, const char *annot, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_fail(struct ctx *c, int err, const char *annot, const char *fmt, ...)
{
    char msg[LW_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->out->status = LW_TARGET_ERROR;
    snprintf(c->out->reason, sizeof(c->out->reason), "pod %s: %s", c->who, msg);
    if (annot)
        snprintf(c->out->annotation, sizeof(c->out->annotation), "%s", annot);
    c->err = err;
    return err;
}

static void set_skip(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_skip(struct ctx *c, const char *fmt, ...)
{
    char msg[LW_ERRBUF_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->out->status = LW_TARGET_SKIP;
    snprintf(c->out->reason, sizeof(c->out->reason), "pod %s: %s", c->who, msg);
}

/* Look up an annotation. 0 = absent, 1 = present (*v set), <0 = error set
 * (not a string, or longer than LW_TARGET_ANNOT_MAX). */
static int annot(struct ctx *c, const char *key, const char **v)
{
    *v = NULL;
    if (!key || !c->annots)
        return 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(c->annots, key);
    if (!a)
        return 0;
    if (!cJSON_IsString(a) || !a->valuestring)
        return set_fail(c, LW_EINVAL, key, "annotation %s must be a string", key);
    size_t n = strlen(a->valuestring);
    if (n > LW_TARGET_ANNOT_MAX)
        return set_fail(c, LW_EINVAL, key, "annotation %s is too long (%zu bytes, max %d)", key,
                        n, LW_TARGET_ANNOT_MAX);
    *v = a->valuestring;
    return 1;
}

static int is_dns_label(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
    }
    return s[0] != '-' && s[n - 1] != '-';
}

static int is_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LW_TARGET_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return 0;
    }
    return s[0] != '-' && s[0] != '.' && s[n - 1] != '-' && s[n - 1] != '.';
}

static int is_uid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LW_TARGET_UID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-'))
            return 0;
    }
    return 1;
}

/* IANA_SVC_NAME: 1-15 of [a-z0-9-], at least one letter, no leading,
 * trailing or double '-'. */
static int is_port_name(const char *s)
{
    size_t n = strlen(s);
    int letter = 0;
    if (n == 0 || n > LW_TARGET_PORTNAME_MAX || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'a' && ch <= 'z')
            letter = 1;
        else if (!((ch >= '0' && ch <= '9') || ch == '-'))
            return 0;
        if (ch == '-' && s[i + 1] == '-')
            return 0;
    }
    return letter;
}

/* Strict decimal port: 1-5 digits, value 1..65535. */
static int parse_port(const char *s, int *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return LW_EINVAL;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return LW_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return LW_ERANGE;
    *out = v;
    return LW_OK;
}

/* A container port entry: containerPort must be an integer in range. */
static int port_number(const cJSON *p)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 65535) ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    return (int)v->valuedouble;
}

static int port_is_tcp(const cJSON *p)
{
    const char *proto = str(p, "protocol");
    return !proto || strcmp(proto, "TCP") == 0;
}

/* ---- path validation ------------------------------------------------------ */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static int raw_path_char_ok(char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return strchr("-._~/:!$&'()*+,;=", ch) != NULL && ch != '\0';
}

int lw_target_check_path(const char *s, size_t n, struct lw_errbuf *eb)
{
    if (!s || n == 0)
        return lw_errf(eb, LW_EINVAL, "is empty");
    if (n > LW_TARGET_PATH_MAX)
        return lw_errf(eb, LW_EINVAL, "is too long (%zu bytes, max %d)", n, LW_TARGET_PATH_MAX);
    if (s[0] != '/')
        return lw_errf(eb, LW_EINVAL, "must start with '/'");
    /* decode into dec[] while checking the raw form */
    char dec[LW_TARGET_PATH_MAX + 1];
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return lw_errf(eb, LW_EINVAL, "has an invalid %%-escape at byte %zu", i);
            ch = (char)(hi * 16 + lo);
            i += 2;
            if (ch == '/')
                return lw_errf(eb, LW_EINVAL, "has an encoded '/' (%%2F)");
        } else if (!raw_path_char_ok(ch)) {
            unsigned char u = (unsigned char)ch;
            if (ch == '@')
                return lw_errf(eb, LW_EINVAL, "must not contain '@'");
            if (ch == '?' || ch == '#')
                return lw_errf(eb, LW_EINVAL, "must not contain a query or fragment ('%c')", ch);
            if (u < 0x20 || u == 0x7f)
                return lw_errf(eb, LW_EINVAL, "contains a control character (0x%02x) at byte %zu",
                               u, i);
            if (ch == ' ')
                return lw_errf(eb, LW_EINVAL, "contains a space at byte %zu", i);
            return lw_errf(eb, LW_EINVAL, "contains a forbidden character (0x%02x) at byte %zu", u,
                           i);
        }
        unsigned char u = (unsigned char)ch;
        if (u < 0x21 || u == 0x7f || ch == '\\' || ch == '@' || ch == '?' || ch == '#' ||
            u >= 0x80)
            return lw_errf(eb, LW_EINVAL, "contains a forbidden encoded byte (0x%02x)", u);
        dec[d++] = ch;
    }
    dec[d] = '\0';
    /* segments of the decoded form: no empty (except a trailing '/'), no "." or ".." */
    size_t i = 1;
    while (i <= d) {
        size_t j = i;
        while (j < d && dec[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 0 && j < d)
            return lw_errf(eb, LW_EINVAL, "has an empty segment (\"//\")");
        if ((len == 1 && dec[i] == '.') || (len == 2 && dec[i] == '.' && dec[i + 1] == '.'))
            return lw_errf(eb, LW_EINVAL, "has a \".\" or \"..\" segment");
        i = j + 1;
    }
    return LW_OK;
}

/* ---- the pod -------------------------------------------------------------- */

void lw_target_opts_default(struct lw_target_opts *o)
{
    o->conventions = LW_TARGET_CONV_ALL;
    o->default_interval_s = 30;
    o->min_interval_s = 5;
    o->max_interval_s = 3600;
}

static int ci_eq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

/* Opt-in. Returns 1 opted in (c->t->convention set), 0 not, <0 error. */
static int opt_in(struct ctx *c, unsigned conv)
{
    const char *v;
    int r;
    if (conv & LW_TARGET_CONV_LEAKWATCH) {
        r = annot(c, K_LW_SCRAPE, &v);
        if (r < 0)
            return r;
        if (r > 0) {
            if (ci_eq(v, "true")) {
                c->t->convention = LW_TARGET_CONV_LEAKWATCH;
                c->keys = &KEYS_LW;
                return 1;
            }
            if (ci_eq(v, "false"))
                return 0; /* explicit opt-out wins over other conventions */
            char b[64];
            return set_fail(c, LW_EINVAL, K_LW_SCRAPE,
                            "annotation %s is \"%s\"; it must be \"true\" or \"false\"",
                            K_LW_SCRAPE, safe(v, b, sizeof(b)));
        }
    }
    /* Other tools' keys: only "true" opts in, anything else is theirs to judge. */
    const cJSON *a;
    if ((conv & LW_TARGET_CONV_PYROSCOPE) && c->annots &&
        (a = cJSON_GetObjectItemCaseSensitive(c->annots, K_PY_SCRAPE)) && cJSON_IsString(a) &&
        a->valuestring && ci_eq(a->valuestring, "true")) {
        c->t->convention = LW_TARGET_CONV_PYROSCOPE;
        c->keys = &KEYS_PY;
        return 1;
    }
    if ((conv & LW_TARGET_CONV_PARCA) && c->annots &&
        (a = cJSON_GetObjectItemCaseSensitive(c->annots, K_PA_SCRAPE)) && cJSON_IsString(a) &&
        a->valuestring && ci_eq(a->valuestring, "true")) {
        c->t->convention = LW_TARGET_CONV_PARCA;
        c->keys = &KEYS_PA;
        return 1;
    }
    return 0;
}

static int identity(struct ctx *c)
{
    const char *name = str(c->meta, "name"), *ns = str(c->meta, "namespace"),
               *uid = str(c->meta, "uid");
    if (!name || !is_dns_subdomain(name))
        return set_fail(c, LW_EINVAL, NULL, "metadata.name is missing or not a valid name");
    if (!ns || !is_dns_label(ns, LW_TARGET_NS_MAX))
        return set_fail(c, LW_EINVAL, NULL, "metadata.namespace is missing or not a valid name");
    if (!uid || !is_uid(uid))
        return set_fail(c, LW_EINVAL, NULL, "metadata.uid is missing or malformed");
    snprintf(c->t->name, sizeof(c->t->name), "%s", name);
    snprintf(c->t->ns, sizeof(c->t->ns), "%s", ns);
    snprintf(c->t->uid, sizeof(c->t->uid), "%s", uid);
    return LW_OK;
}

static const cJSON *find_container(const cJSON *containers, const char *name)
{
    const cJSON *ct;
    cJSON_ArrayForEach(ct, containers)
    {
        const char *n = str(ct, "name");
        if (n && strcmp(n, name) == 0)
            return ct;
    }
    return NULL;
}

/* Resolve the port (and the container owning it). want_ct restricts the
 * search to one container (from leakwatch.io/container). */
static int resolve_port(struct ctx *c, const cJSON *want_ct, const cJSON **owner)
{
    const char *pv, *pnv;
    int r = annot(c, c->keys->port, &pv);
    if (r < 0)
        return r;
    r = annot(c, c->keys->port_name, &pnv);
    if (r < 0)
        return r;
    char b[64];
    int port = 0;
    *owner = NULL;
    if (pv) {
        r = parse_port(pv, &port);
        if (r != LW_OK)
            return set_fail(c, r, c->keys->port,
                            "annotation %s is \"%s\"; it must be a port number 1..65535",
                            c->keys->port, safe(pv, b, sizeof(b)));
    }
    if (pnv && !is_port_name(pnv))
        return set_fail(c, LW_EINVAL, c->keys->port_name,
                        "annotation %s is \"%s\"; it must be a port name (1-15 of a-z, 0-9, '-')",
                        c->keys->port_name, safe(pnv, b, sizeof(b)));

    const cJSON *ct, *p;
    if (pnv) {
        int found = 0, fport = 0;
        const cJSON *fct = NULL, *fp = NULL;
        cJSON_ArrayForEach(ct, c->containers)
        {
            if (want_ct && ct != want_ct)
                continue;
            cJSON_ArrayForEach(p, arr(ct, "ports"))
            {
                const char *n = str(p, "name");
                int num = port_number(p);
                if (!n || !num || strcmp(n, pnv) != 0)
                    continue;
                if (found && fct != ct)
                    return set_fail(c, LW_EINVAL, c->keys->port_name,
                                    "annotation %s: port name \"%s\" is declared by several "
                                    "containers; set %s",
                                    c->keys->port_name, pnv, K_LW_CONTAINER);
                if (!found) {
                    fct = ct;
                    fp = p;
                    fport = num;
                }
                found = 1;
            }
        }
        if (!found)
            return set_fail(c, LW_EINVAL, c->keys->port_name,
                            "annotation %s: no container port is named \"%s\"%s",
                            c->keys->port_name, pnv,
                            want_ct ? " in the selected container" : "");
        if (!port_is_tcp(fp))
            return set_fail(c, LW_EINVAL, c->keys->port_name,
                            "annotation %s: port \"%s\" is not a TCP port", c->keys->port_name, pnv);
        if (pv && port != fport)
            return set_fail(c, LW_EINVAL, c->keys->port,
                            "annotations %s (%d) and %s (\"%s\" = %d) disagree", c->keys->port,
                            port, c->keys->port_name, pnv, fport);
        port = fport;
        *owner = fct;
        snprintf(c->t->port_name, sizeof(c->t->port_name), "%s", pnv);
    } else if (pv) {
        /* a numeric port need not be declared; its owner is who declares it */
        cJSON_ArrayForEach(ct, c->containers)
        {
            if (want_ct && ct != want_ct)
                continue;
            cJSON_ArrayForEach(p, arr(ct, "ports"))
            {
                if (port_number(p) == port && port_is_tcp(p) && !*owner) {
                    *owner = ct;
                    const char *n = str(p, "name");
                    if (n && is_port_name(n))
                        snprintf(c->t->port_name, sizeof(c->t->port_name), "%s", n);
                }
            }
        }
    } else {
        /* neither: a single port named "pprof", else the single declared TCP port */
        int ntcp = 0, npprof = 0, tcp_port = 0, pprof_port = 0;
        const cJSON *tcp_ct = NULL, *pprof_ct = NULL;
        char list[160] = "";
        size_t ll = 0;
        cJSON_ArrayForEach(ct, c->containers)
        {
            if (want_ct && ct != want_ct)
                continue;
            cJSON_ArrayForEach(p, arr(ct, "ports"))
            {
                int num = port_number(p);
                if (!num || !port_is_tcp(p))
                    continue;
                const char *n = str(p, "name");
                ntcp++;
                tcp_port = num;
                tcp_ct = ct;
                if (n && strcmp(n, "pprof") == 0) {
                    npprof++;
                    pprof_port = num;
                    pprof_ct = ct;
                }
                if (ntcp <= 4 && ll < sizeof(list)) {
                    int w = snprintf(list + ll, sizeof(list) - ll, "%s%s%s%d", ll ? ", " : "",
                                     n && is_port_name(n) ? n : "", n && is_port_name(n) ? ":" : "",
                                     num);
                    if (w > 0)
                        ll += (size_t)w;
                }
            }
        }
        const char *pk = c->keys->port;
        if (npprof == 1) {
            port = pprof_port;
            *owner = pprof_ct;
            snprintf(c->t->port_name, sizeof(c->t->port_name), "pprof");
        } else if (ntcp == 1 && npprof == 0) {
            port = tcp_port;
            *owner = tcp_ct;
            cJSON_ArrayForEach(p, arr(tcp_ct, "ports"))
            {
                const char *n = str(p, "name");
                if (port_number(p) == port && port_is_tcp(p) && n && is_port_name(n))
                    snprintf(c->t->port_name, sizeof(c->t->port_name), "%s", n);
            }
        } else if (ntcp == 0) {
            return set_fail(c, LW_EINVAL, pk,
                            "no port: the pod declares no TCP container port%s; set %s",
                            want_ct ? " in the selected container" : "", pk);
        } else {
            return set_fail(c, LW_EINVAL, pk,
                            "ambiguous port: %d TCP ports declared (%s%s)%s; set %s%s%s", ntcp,
                            list, ntcp > 4 ? ", ..." : "",
                            npprof > 1 ? " and several named pprof" : "", pk,
                            c->keys->port_name ? " or " : "",
                            c->keys->port_name ? c->keys->port_name : "");
        }
    }
    c->t->port = (uint16_t)port;
    return LW_OK;
}

static int resolve_container(struct ctx *c, const cJSON **ct_out)
{
    const char *cv;
    char b[64];
    int r = annot(c, K_LW_CONTAINER, &cv);
    if (r < 0)
        return r;
    int n = cJSON_GetArraySize(c->containers);
    if (!c->containers || n == 0)
        return set_fail(c, LW_EINVAL, NULL, "spec.containers is empty");
    const cJSON *want = NULL;
    if (cv) {
        if (!is_dns_label(cv, LW_TARGET_CONTAINER_MAX))
            return set_fail(c, LW_EINVAL, K_LW_CONTAINER,
                            "annotation %s is \"%s\"; it must be a container name", K_LW_CONTAINER,
                            safe(cv, b, sizeof(b)));
        want = find_container(c->containers, cv);
        if (!want)
            return set_fail(c, LW_EINVAL, K_LW_CONTAINER,
                            "annotation %s: no container named \"%s\" (init containers are not "
                            "scraped)",
                            K_LW_CONTAINER, cv);
    }
    const cJSON *owner = NULL;
    r = resolve_port(c, want, &owner);
    if (r < 0)
        return r;
    const cJSON *ct = want ? want : owner;
    if (!ct) {
        const char *dc;
        const cJSON *a = c->annots ? cJSON_GetObjectItemCaseSensitive(c->annots, K_DEFAULT_CONTAINER)
                                   : NULL;
        dc = cJSON_IsString(a) ? a->valuestring : NULL;
        if (dc)
            ct = find_container(c->containers, dc);
    }
    if (!ct && n == 1)
        ct = cJSON_GetArrayItem(c->containers, 0);
    if (!ct)
        return set_fail(c, LW_EINVAL, K_LW_CONTAINER,
                        "the pod has %d containers and port %u is not declared by any; set %s", n,
                        (unsigned)c->t->port, K_LW_CONTAINER);
    const char *name = str(ct, "name");
    if (!name || !is_dns_label(name, LW_TARGET_CONTAINER_MAX))
        return set_fail(c, LW_EINVAL, NULL, "container name \"%s\" is missing or invalid",
                        safe(name, b, sizeof(b)));
    snprintf(c->t->container, sizeof(c->t->container), "%s", name);
    snprintf(c->t->series_key, sizeof(c->t->series_key), "%s/%s", c->t->uid, name);
    *ct_out = ct;
    return LW_OK;
}

static const cJSON *find_status(const cJSON *status, const char *name)
{
    const cJSON *cs;
    cJSON_ArrayForEach(cs, arr(status, "containerStatuses"))
    {
        const char *n = str(cs, "name");
        if (n && strcmp(n, name) == 0)
            return cs; /* the first one: duplicates are possible but unexpected */
    }
    return NULL;
}

static void container_status(struct ctx *c, const cJSON *cs)
{
    struct lw_target *t = c->t;
    t->restart_count = -1;
    if (!cs)
        return;
    t->has_status = 1;
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(cs, "restartCount");
    if (cJSON_IsNumber(rc) && rc->valuedouble >= 0 && rc->valuedouble <= 2147483647.0)
        t->restart_count = (int32_t)rc->valuedouble;
    cut_copy(t->container_id, sizeof(t->container_id), str(cs, "containerID"));
    const cJSON *st = obj(cs, "state"), *s;
    if ((s = obj(st, "running"))) {
        t->state = LW_CSTATE_RUNNING;
    } else if ((s = obj(st, "terminated"))) {
        t->state = LW_CSTATE_TERMINATED;
        cut_copy(t->state_reason, sizeof(t->state_reason), str(s, "reason"));
    } else if ((s = obj(st, "waiting"))) {
        t->state = LW_CSTATE_WAITING;
        cut_copy(t->state_reason, sizeof(t->state_reason), str(s, "reason"));
    }
    const cJSON *lt = obj(obj(cs, "lastState"), "terminated");
    if (lt) {
        t->has_last_terminated = 1;
        cut_copy(t->last_reason, sizeof(t->last_reason), str(lt, "reason"));
        cut_copy(t->last_finished_at, sizeof(t->last_finished_at), str(lt, "finishedAt"));
        cut_copy(t->last_container_id, sizeof(t->last_container_id), str(lt, "containerID"));
        const cJSON *ec = cJSON_GetObjectItemCaseSensitive(lt, "exitCode");
        if (cJSON_IsNumber(ec) && ec->valuedouble >= -2147483648.0 &&
            ec->valuedouble <= 2147483647.0)
            t->last_exit_code = (int)ec->valuedouble;
    }
}

/* resources.limits.memory of r: 1 found (>0), 0 absent or zero, <0 error. */
static int mem_limit(struct ctx *c, const cJSON *res, const char *where, int64_t *out)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj(res, "limits"), "memory");
    if (!m)
        return 0;
    if (!cJSON_IsString(m) || !m->valuestring)
        return set_fail(c, LW_EINVAL, NULL, "%s.limits.memory is not a quantity string", where);
    struct lw_errbuf qe;
    qe.msg[0] = '\0';
    int64_t v = 0;
    int r = lw_quantity_parse(m->valuestring, &v, &qe);
    if (r != LW_OK) {
        char b[64];
        return set_fail(c, r, NULL, "%s.limits.memory \"%s\": %s", where,
                        safe(m->valuestring, b, sizeof(b)), qe.msg);
    }
    if (v <= 0)
        return 0;
    *out = v;
    return 1;
}

static int limits(struct ctx *c, const cJSON *ct, const cJSON *cs)
{
    struct lw_target *t = c->t;
    int64_t v = 0;
    int r;
    /* pod level first (reported separately), status before spec */
    enum lw_limit_source pod_src = LW_LIMIT_POD_STATUS;
    if ((r = mem_limit(c, obj(c->status, "resources"), "status.resources", &v)) < 0)
        return r;
    if (r == 0) {
        pod_src = LW_LIMIT_POD_SPEC;
        if ((r = mem_limit(c, obj(c->spec, "resources"), "spec.resources", &v)) < 0)
            return r;
    }
    if (r > 0)
        t->pod_limit_bytes = v;
    char where[128];
    snprintf(where, sizeof(where), "status.containerStatuses[%s].resources", t->container);
    if (cs && (r = mem_limit(c, obj(cs, "resources"), where, &v)) != 0) {
        if (r < 0)
            return r;
        t->limit_bytes = v;
        t->limit_source = LW_LIMIT_STATUS;
        return LW_OK;
    }
    snprintf(where, sizeof(where), "spec.containers[%s].resources", t->container);
    if ((r = mem_limit(c, obj(ct, "resources"), where, &v)) != 0) {
        if (r < 0)
            return r;
        t->limit_bytes = v;
        t->limit_source = LW_LIMIT_SPEC;
        return LW_OK;
    }
    if (t->pod_limit_bytes > 0) {
        t->limit_bytes = t->pod_limit_bytes;
        t->limit_source = pod_src;
        return LW_OK;
    }
    t->no_limit = 1;
    t->limit_source = LW_LIMIT_NONE;
    return LW_OK;
}

static int endpoint_annotations(struct ctx *c, const struct lw_target_opts *o)
{
    struct lw_target *t = c->t;
    const char *v;
    char b[64];
    struct lw_errbuf pe;
    int r = annot(c, c->keys->scheme, &v);
    if (r < 0)
        return r;
    if (!v || ci_eq(v, "http"))
        snprintf(t->scheme, sizeof(t->scheme), "http");
    else if (ci_eq(v, "https"))
        snprintf(t->scheme, sizeof(t->scheme), "https");
    else
        return set_fail(c, LW_EINVAL, c->keys->scheme,
                        "annotation %s is \"%s\"; it must be http or https", c->keys->scheme,
                        safe(v, b, sizeof(b)));

    r = annot(c, c->keys->path, &v);
    if (r < 0)
        return r;
    if (v) {
        pe.msg[0] = '\0';
        if (lw_target_check_path(v, strlen(v), &pe) != LW_OK)
            return set_fail(c, LW_EINVAL, c->keys->path, "annotation %s \"%s\" %s", c->keys->path,
                            safe(v, b, sizeof(b)), pe.msg);
    }
    const char *p = v ? v : (c->keys == &KEYS_PY ? DEFAULT_PATH "/goroutine" : DEFAULT_PATH);
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    /* last segment */
    size_t ls = n;
    while (ls > 0 && p[ls - 1] != '/')
        ls--;
    int names_goroutine = n - ls == 9 && memcmp(p + ls, "goroutine", 9) == 0;
    if (c->keys == &KEYS_PY || names_goroutine) {
        /* the path is the goroutine endpoint itself; the prefix is its parent */
        copy_exact(t->goroutine_path, sizeof(t->goroutine_path), p, n ? n : 1); /* "/" stays "/" */
        copy_exact(t->path, sizeof(t->path), p, ls ? ls - 1 : 0);
    } else {
        copy_exact(t->path, sizeof(t->path), p, n);
        snprintf(t->goroutine_path, sizeof(t->goroutine_path), "%s/goroutine", t->path);
    }

    r = annot(c, K_LW_INTERVAL, &v);
    if (r < 0)
        return r;
    t->interval_s = o->default_interval_s;
    if (v) {
        double s = 0;
        if (lw_parse_duration(v, &s) != LW_OK || !(s > 0))
            return set_fail(c, LW_EINVAL, K_LW_INTERVAL,
                            "annotation %s is \"%s\"; it must be a duration like 30s or 2m",
                            K_LW_INTERVAL, safe(v, b, sizeof(b)));
        if (s < o->min_interval_s || s > o->max_interval_s) {
            double cl = s < o->min_interval_s ? o->min_interval_s : o->max_interval_s;
            snprintf(t->warning, sizeof(t->warning), "%s \"%s\" clamped to %gs (allowed %gs..%gs)",
                     K_LW_INTERVAL, safe(v, b, sizeof(b)), cl, o->min_interval_s,
                     o->max_interval_s);
            s = cl;
        }
        t->interval_s = s;
    }
    return LW_OK;
}

static int pod_ip(struct ctx *c, const char *ip)
{
    struct lw_target *t = c->t;
    unsigned char bin[16];
    char b[64], canon[INET6_ADDRSTRLEN];
    if (strlen(ip) <= LW_TARGET_IP_MAX && inet_pton(AF_INET, ip, bin) == 1) {
        if (!inet_ntop(AF_INET, bin, canon, sizeof(canon)))
            return set_fail(c, LW_EINVAL, NULL, "status.podIP cannot be formatted");
        t->ipv6 = 0;
    } else if (strlen(ip) <= LW_TARGET_IP_MAX && inet_pton(AF_INET6, ip, bin) == 1) {
        if (!inet_ntop(AF_INET6, bin, canon, sizeof(canon)))
            return set_fail(c, LW_EINVAL, NULL, "status.podIP cannot be formatted");
        t->ipv6 = 1;
    } else {
        return set_fail(c, LW_EINVAL, NULL, "status.podIP \"%s\" is not an IP address",
                        safe(ip, b, sizeof(b)));
    }
    snprintf(t->ip, sizeof(t->ip), "%s", canon);
    return LW_OK;
}

static int build_url(struct ctx *c)
{
    struct lw_target *t = c->t;
    int w = snprintf(t->base_url, sizeof(t->base_url), t->ipv6 ? "%s://[%s]:%u" : "%s://%s:%u",
                     t->scheme, t->ip, (unsigned)t->port);
    if (w < 0 || (size_t)w >= sizeof(t->base_url))
        return set_fail(c, LW_ETOOBIG, NULL, "target URL too long");
    w = snprintf(t->url, sizeof(t->url), "%s%s", t->base_url, t->goroutine_path);
    if (w < 0 || (size_t)w >= sizeof(t->url))
        return set_fail(c, LW_ETOOBIG, c->keys->path, "target URL too long");
    /* belt and braces: nothing that could change the authority or the request line */
    for (const char *p = t->url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '@' || *p == '\\' || *p == '?' ||
            *p == '#')
            return set_fail(c, LW_EINVAL, c->keys->path, "target URL has a forbidden character");
    return LW_OK;
}

int lw_target_from_pod(const struct cJSON *pod, const struct lw_target_opts *opts,
                       struct lw_target_set *out, struct lw_errbuf *eb)
{
    struct lw_target_opts o;
    lw_target_opts_default(&o);
    if (opts) {
        if (opts->conventions)
            o.conventions = opts->conventions & LW_TARGET_CONV_ALL;
        if (opts->default_interval_s > 0)
            o.default_interval_s = opts->default_interval_s;
        if (opts->min_interval_s > 0)
            o.min_interval_s = opts->min_interval_s;
        if (opts->max_interval_s > 0)
            o.max_interval_s = opts->max_interval_s;
        if (o.max_interval_s < o.min_interval_s)
            o.max_interval_s = o.min_interval_s;
        if (o.default_interval_s < o.min_interval_s)
            o.default_interval_s = o.min_interval_s;
        if (o.default_interval_s > o.max_interval_s)
            o.default_interval_s = o.max_interval_s;
    }
    if (!out)
        return lw_errf(eb, LW_EINVAL, "lw_target_from_pod: no output");
    memset(out, 0, sizeof(*out));
    struct ctx c;
    memset(&c, 0, sizeof(c));
    c.out = out;
    c.t = &out->target;
    c.t->restart_count = -1;
    snprintf(c.who, sizeof(c.who), "?/?");
    int r;
    if (!cJSON_IsObject(pod)) {
        r = set_fail(&c, LW_EINVAL, NULL, "not a JSON object");
        goto done;
    }
    c.meta = obj(pod, "metadata");
    c.annots = obj(c.meta, "annotations");
    c.spec = obj(pod, "spec");
    c.status = obj(pod, "status");
    c.containers = arr(c.spec, "containers");
    {
        char b1[64], b2[64];
        snprintf(c.who, sizeof(c.who), "%s/%s", safe(str(c.meta, "namespace"), b1, sizeof(b1)),
                 safe(str(c.meta, "name"), b2, sizeof(b2)));
    }
    r = opt_in(&c, o.conventions);
    if (r <= 0)
        goto done; /* NONE (0) or an error */
    if ((r = identity(&c)) < 0)
        goto done;
    if ((r = endpoint_annotations(&c, &o)) < 0)
        goto done;
    const cJSON *ct = NULL;
    if ((r = resolve_container(&c, &ct)) < 0)
        goto done;
    const cJSON *cs = find_status(c.status, c.t->container);
    container_status(&c, cs);
    if ((r = limits(&c, ct, cs)) < 0)
        goto done;
    c.t->host_network = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c.spec, "hostNetwork"));

    /* skip conditions */
    const char *phase = str(c.status, "phase");
    const char *ip = str(c.status, "podIP");
    char b[64];
    r = LW_OK;
    if (cJSON_GetObjectItemCaseSensitive(c.meta, "deletionTimestamp") &&
        !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c.meta, "deletionTimestamp"))) {
        set_skip(&c, "terminating");
        goto done;
    }
    if (!phase || strcmp(phase, "Running") != 0) {
        set_skip(&c, "phase is %s, not Running", phase ? safe(phase, b, sizeof(b)) : "unknown");
        goto done;
    }
    if (!ip || !*ip) {
        set_skip(&c, "no status.podIP yet");
        goto done;
    }
    if ((r = pod_ip(&c, ip)) < 0)
        goto done;
    if (!cs) {
        set_skip(&c, "no status for container %s yet", c.t->container);
        goto done;
    }
    if (c.t->state != LW_CSTATE_RUNNING) {
        set_skip(&c, "container %s is %s%s%s%s", c.t->container,
                 c.t->state == LW_CSTATE_WAITING      ? "waiting"
                 : c.t->state == LW_CSTATE_TERMINATED ? "terminated"
                                                      : "not running",
                 c.t->state_reason[0] ? " (" : "", c.t->state_reason,
                 c.t->state_reason[0] ? ")" : "");
        goto done;
    }
    if ((r = build_url(&c)) < 0)
        goto done;
    out->status = LW_TARGET_OK;
done:
    if (out->status == LW_TARGET_ERROR) {
        if (eb)
            snprintf(eb->msg, sizeof(eb->msg), "%s", out->reason);
        return c.err ? c.err : LW_EINVAL;
    }
    return LW_OK;
}

/* ---- URLs for other endpoints -------------------------------------------- */

int lw_target_url(const struct lw_target *t, const char *profile, const char *query, char *out,
                  size_t outlen)
{
    if (!t || !profile || !*profile || !out || outlen == 0 || !t->base_url[0])
        return LW_EINVAL;
    for (const char *p = profile; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return LW_EINVAL;
    if (query)
        for (const char *p = query; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '_' || *p == '=' || *p == '&' || *p == '.' || *p == '-'))
                return LW_EINVAL;
    int w;
    const char *qs = query && *query ? "?" : "", *q = query && *query ? query : "";
    if (strcmp(profile, "goroutine") == 0)
        w = snprintf(out, outlen, "%s%s%s%s", t->base_url, t->goroutine_path, qs, q);
    else
        w = snprintf(out, outlen, "%s%s/%s%s%s", t->base_url, t->path, profile, qs, q);
    if (w < 0 || (size_t)w >= outlen) {
        out[0] = '\0';
        return LW_ETOOBIG;
    }
    return LW_OK;
}

const char *lw_target_status_name(enum lw_target_status s)
{
    switch (s) {
    case LW_TARGET_NONE: return "none";
    case LW_TARGET_SKIP: return "skip";
    case LW_TARGET_ERROR: return "error";
    case LW_TARGET_OK: return "ok";
    }
    return "?";
}

const char *lw_limit_source_name(enum lw_limit_source s)
{
    switch (s) {
    case LW_LIMIT_NONE: return "none";
    case LW_LIMIT_STATUS: return "container-status";
    case LW_LIMIT_SPEC: return "container-spec";
    case LW_LIMIT_POD_STATUS: return "pod-status";
    case LW_LIMIT_POD_SPEC: return "pod-spec";
    }
    return "?";
}

const char *lw_target_conv_name(enum lw_target_conv c)
{
    switch (c) {
    case LW_TARGET_CONV_LEAKWATCH: return "leakwatch.io";
    case LW_TARGET_CONV_PYROSCOPE: return "profiles.grafana.com";
    case LW_TARGET_CONV_PARCA: return "parca.dev";
    case LW_TARGET_CONV_ALL: break;
    }
    return "?";
}
