/* SPDX-License-Identifier: Apache-2.0 */
/*
 * watch.c: the pieces of a watch stream that need no network: the capped
 * line splitter, WatchEvent decoding, and list/watch URL building.
 *
 * Why a line splitter: the apiserver's JSON framer writes one WatchEvent per
 * json.Encoder.Encode call, i.e. one per '\n' (newlines inside strings are
 * escaped), while libcurl hands us arbitrary chunks. Each complete line is
 * parsed exactly once with cJSON_ParseWithLength (kubernetes-client/c's
 * strtok-and-reparse approach is what not to do, API doc §9). A single pod
 * can be large, but never unboundedly: a line over the cap ends the watch.
 */
#include "kube/kube.h"

#include <stdlib.h>
#include <string.h>

void lw_linesplit_init(struct lw_linesplit *ls, size_t max) { lw_buf_init(&ls->buf, max); }
void lw_linesplit_release(struct lw_linesplit *ls) { lw_buf_release(&ls->buf); }
size_t lw_linesplit_pending(const struct lw_linesplit *ls) { return ls->buf.len; }

static int emit(const char *p, size_t n, int (*on_line)(void *, const char *, size_t), void *ud)
{
    if (n && p[n - 1] == '\r')
        n--;
    return on_line(ud, p, n);
}

int lw_linesplit_feed(struct lw_linesplit *ls, const char *data, size_t n,
                      int (*on_line)(void *ud, const char *line, size_t len), void *ud)
{
    while (n) {
        const char *nl = memchr(data, '\n', n);
        if (!nl) {
            if (lw_buf_append(&ls->buf, data, n) != LW_OK)
                return LW_ETOOBIG;
            return LW_OK;
        }
        size_t part = (size_t)(nl - data);
        int rc;
        if (ls->buf.len) {
            if (lw_buf_append(&ls->buf, data, part) != LW_OK)
                return LW_ETOOBIG;
            rc = emit(ls->buf.data, ls->buf.len, on_line, ud);
            lw_buf_reset(&ls->buf);
        } else {
            if (part > ls->buf.max)
                return LW_ETOOBIG;
            rc = emit(data, part, on_line, ud);
        }
        if (rc != 0)
            return rc;
        data = nl + 1;
        n -= part + 1;
    }
    return LW_OK;
}

static const struct {
    const char *s;
    enum lw_watch_type t;
} watch_types[] = {
    {"ADDED", LW_WATCH_ADDED},       {"MODIFIED", LW_WATCH_MODIFIED},
    {"DELETED", LW_WATCH_DELETED},   {"BOOKMARK", LW_WATCH_BOOKMARK},
    {"ERROR", LW_WATCH_ERROR},
};

int lw_watch_decode(const char *line, size_t len, struct lw_watch_event *ev, struct lw_errbuf *eb)
{
    memset(ev, 0, sizeof(*ev));
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return lw_errf(eb, LW_EEMPTY, "watch: blank line");
    cJSON *root = cJSON_ParseWithLength(line, len);
    if (!root)
        return lw_errf(eb, LW_EFORMAT, "watch: event of %zu bytes is not valid JSON", len);
    cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "object");
    if (!cJSON_IsObject(root) || !cJSON_IsString(type) || !cJSON_IsObject(obj)) {
        cJSON_Delete(root);
        return lw_errf(eb, LW_EFORMAT,
                       "watch: event is not {\"type\": string, \"object\": object}");
    }
    ev->root = root;
    ev->object = obj;
    ev->type_str = type->valuestring;
    ev->type = LW_WATCH_UNKNOWN;
    for (size_t k = 0; k < LW_ARRAY_SIZE(watch_types); k++)
        if (strcmp(type->valuestring, watch_types[k].s) == 0)
            ev->type = watch_types[k].t;
    cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *rv = cJSON_GetObjectItemCaseSensitive(md, "resourceVersion");
    if (cJSON_IsString(rv))
        ev->rv = rv->valuestring;
    if (ev->type == LW_WATCH_ERROR) {
        cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
        cJSON *reason = cJSON_GetObjectItemCaseSensitive(obj, "reason");
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
        if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1000)
            ev->code = (long)code->valuedouble;
        ev->reason = cJSON_IsString(reason) ? reason->valuestring : "";
        ev->message = cJSON_IsString(msg) ? msg->valuestring : "";
        ev->rv = NULL; /* a Status carries no usable resourceVersion */
    }
    return LW_OK;
}

int lw_kube_urlencode(struct lw_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int rc;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            rc = lw_buf_append(b, p, 1);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            rc = lw_buf_append(b, e, 3);
        }
        if (rc != LW_OK)
            return rc;
    }
    return LW_OK;
}

static int add_param(struct lw_buf *b, int *first, const char *name, const char *value)
{
    int rc = lw_buf_appendf(b, "%s%s=", *first ? "" : "&", name);
    *first = 0;
    if (rc == LW_OK)
        rc = lw_kube_urlencode(b, value);
    return rc;
}

int lw_kube_build_url(struct lw_buf *out, const char *path, const struct lw_kube_list_opts *o,
                      int watch)
{
    int rc = lw_buf_append(out, path, strlen(path));
    int first = 0;
    if (rc != LW_OK)
        return rc;
    rc = lw_buf_append(out, strchr(path, '?') ? "&" : "?", 1);
    if (rc != LW_OK)
        return rc;
    first = 1;
    char num[32];
    if (watch && (rc = add_param(out, &first, "watch", "1")) != LW_OK)
        return rc;
    if (o && o->label_selector && *o->label_selector &&
        (rc = add_param(out, &first, "labelSelector", o->label_selector)) != LW_OK)
        return rc;
    if (o && o->field_selector && *o->field_selector &&
        (rc = add_param(out, &first, "fieldSelector", o->field_selector)) != LW_OK)
        return rc;
    if (o && o->resource_version &&
        (rc = add_param(out, &first, "resourceVersion", o->resource_version)) != LW_OK)
        return rc;
    if (!watch && o && o->limit > 0) {
        snprintf(num, sizeof(num), "%ld", o->limit);
        if ((rc = add_param(out, &first, "limit", num)) != LW_OK)
            return rc;
    }
    if (!watch && o && o->continue_token && *o->continue_token &&
        (rc = add_param(out, &first, "continue", o->continue_token)) != LW_OK)
        return rc;
    if (watch && o && o->allow_bookmarks &&
        (rc = add_param(out, &first, "allowWatchBookmarks", "true")) != LW_OK)
        return rc;
    if (watch && o && o->timeout_seconds > 0) {
        snprintf(num, sizeof(num), "%ld", o->timeout_seconds);
        if ((rc = add_param(out, &first, "timeoutSeconds", num)) != LW_OK)
            return rc;
    }
    if (first) { /* nothing added: drop the '?'/'&' */
        out->len--;
        out->data[out->len] = '\0';
    }
    return LW_OK;
}
