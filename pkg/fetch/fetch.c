/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fetch.c: one bounded HTTP GET with libcurl (easy interface). The write
 * callback appends into a capped lw_buf and aborts the transfer the moment
 * the cap would be passed, so a huge or endless body never grows memory
 * past max_bytes. Redirects are not followed (a pprof endpoint that
 * redirects is misconfigured, and following could leave the target).
 */
#include "fetch/fetch.h"

#include <curl/curl.h>
#include <string.h>

void lw_fetch_opts_default(struct lw_fetch_opts *o)
{
    o->timeout_s = 30;
    o->max_bytes = 256u << 20;
}

int lw_fetch_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? LW_OK : LW_ENOMEM;
}

void lw_fetch_global_cleanup(void)
{
    curl_global_cleanup();
}

struct sink {
    struct lw_buf *buf;
    int toobig;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nmemb;
    if (lw_buf_append(s->buf, p, n) != LW_OK) {
        s->toobig = 1;
        return 0; /* abort the transfer */
    }
    return n;
}

/* First line of a body, printable, at most 120 bytes, for error messages. */
static void first_line(const struct lw_buf *b, size_t start, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = start; i < b->len && j + 1 < outlen && j < 120; i++) {
        unsigned char c = (unsigned char)b->data[i];
        if (c == '\n' || c == '\r')
            break;
        out[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[j] = '\0';
}

int lw_fetch(const char *url, const struct lw_fetch_opts *o, struct lw_buf *out, long *status,
             struct lw_errbuf *eb)
{
    struct lw_fetch_opts def;
    if (!o) {
        lw_fetch_opts_default(&def);
        o = &def;
    }
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return lw_errf(eb, LW_EINVAL, "%s: only http:// and https:// URLs are supported", url);
    CURL *c = curl_easy_init();
    if (!c)
        return lw_errf(eb, LW_ENOMEM, "%s: cannot create a curl handle", url);
    size_t start = out->len;
    size_t saved_max = out->max;
    /* the cap applies to this body, not to what the buffer already holds */
    out->max = start + o->max_bytes;
    struct sink s = {out, 0};
    char curlerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(o->timeout_s * 1000));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)LW_MIN(o->timeout_s * 1000, 10000));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "leakwatch/0.1");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    CURLcode cr = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    out->max = saved_max;
    if (status)
        *status = code;
    if (s.toobig) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return lw_errf(eb, LW_ETOOBIG, "%s: response larger than the %zu-byte limit", url,
                       o->max_bytes);
    }
    if (cr != CURLE_OK) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return lw_errf(eb, LW_ENET, "%s: %s", url, curlerr[0] ? curlerr : curl_easy_strerror(cr));
    }
    if (code != 200) {
        char line[128];
        first_line(out, start, line, sizeof(line));
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        return lw_errf(eb, LW_EHTTP, "%s: HTTP %ld%s%s", url, code, line[0] ? ": " : "", line);
    }
    if (out->data == NULL)
        lw_buf_append(out, "", 0);
    return LW_OK;
}
