/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_target.c: arbitrary bytes parsed as a JSON pod, then
 * lw_target_from_pod(). Never crashes, and checks the security properties:
 * a produced URL always starts with "http://<podIP>:" or "https://<podIP>:"
 * (podIP being the pod's own status.podIP in canonical form, bracketed for
 * IPv6), has no CR/LF/space/'@'/'\\'/'?'/'#', and every output string is
 * NUL-terminated within its array. Errors always carry a message; a
 * not-opted-in pod never has one. lw_target_url() on the result obeys the
 * same rules.
 */
#include "target/target.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_terminated(const char *s, size_t n)
{
    if (!memchr(s, '\0', n))
        abort();
}

static void check_url(const char *u, const char *scheme, const char *ip, int v6)
{
    char want[128];
    size_t wl = (size_t)snprintf(want, sizeof(want), v6 ? "%s://[%s]:" : "%s://%s:", scheme, ip);
    if (strncmp(u, want, wl) != 0)
        abort();
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        abort();
    const char *q = strchr(u, '?');
    for (const char *p = u; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || ch == '@' || ch == '\\' || ch == '#')
            abort();
        if (ch == '?' && p != q)
            abort();
    }
    /* port: digits 1..65535 then '/' */
    const char *p = u + wl;
    long port = strtol(p, NULL, 10);
    if (port < 1 || port > 65535)
        abort();
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p != '/')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        size = 65536;
    cJSON *pod = cJSON_ParseWithLength((const char *)data, size);
    static struct lw_target_set s;
    struct lw_errbuf eb;
    eb.msg[0] = '\0';
    struct lw_target_opts o;
    lw_target_opts_default(&o);
    o.conventions = size ? (unsigned)(data[0] & 7) : 0; /* vary conventions, 0 = all */
    int rc = lw_target_from_pod(pod, (size & 1) ? &o : NULL, &s, &eb);
    check_terminated(s.reason, sizeof(s.reason));
    check_terminated(s.annotation, sizeof(s.annotation));
    check_terminated(s.target.url, sizeof(s.target.url));
    check_terminated(s.target.container_id, sizeof(s.target.container_id));
    check_terminated(s.target.last_reason, sizeof(s.target.last_reason));
    check_terminated(s.target.warning, sizeof(s.target.warning));
    if (strchr(s.reason, '\n') || strchr(s.reason, '\r'))
        abort();
    switch (s.status) {
    case LW_TARGET_NONE:
        if (rc != LW_OK || s.reason[0] || s.target.url[0])
            abort();
        break;
    case LW_TARGET_SKIP:
        if (rc != LW_OK || !s.reason[0] || s.target.url[0])
            abort();
        break;
    case LW_TARGET_ERROR:
        if (rc >= 0 || !s.reason[0] || strcmp(s.reason, eb.msg) != 0 || s.target.url[0])
            abort();
        break;
    case LW_TARGET_OK: {
        if (rc != LW_OK || s.reason[0])
            abort();
        /* the URL's host is the pod's own status.podIP, canonicalised */
        const cJSON *ipj = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(pod, "status"), "podIP");
        if (!cJSON_IsString(ipj))
            abort();
        unsigned char bin[16];
        char canon[64];
        int af = s.target.ipv6 ? AF_INET6 : AF_INET;
        if (inet_pton(af, ipj->valuestring, bin) != 1 || !inet_ntop(af, bin, canon, sizeof(canon)) ||
            strcmp(canon, s.target.ip) != 0)
            abort();
        check_url(s.target.url, s.target.scheme, s.target.ip, s.target.ipv6);
        if (s.target.interval_s < 5 || s.target.interval_s > 3600)
            abort();
        if (s.target.no_limit != (s.target.limit_bytes == 0))
            abort();
        char u[512];
        if (lw_target_url(&s.target, "heap", "debug=1", u, sizeof(u)) == LW_OK)
            check_url(u, s.target.scheme, s.target.ip, s.target.ipv6);
        if (lw_target_url(&s.target, "goroutine", NULL, u, sizeof(u)) != LW_OK ||
            strcmp(u, s.target.url) != 0)
            abort();
        break;
    }
    default:
        abort();
    }
    /* the path checker on the raw bytes too */
    if (size <= 300) {
        struct lw_errbuf pe;
        if (lw_target_check_path((const char *)data, size, &pe) == LW_OK) {
            if (data[0] != '/' || memchr(data, '@', size) || memchr(data, '\\', size) ||
                memchr(data, ' ', size) || memchr(data, '\n', size) || memchr(data, '?', size))
                abort();
        }
    }
    cJSON_Delete(pod);
    return 0;
}
