/* SPDX-License-Identifier: Apache-2.0 */
/*
 * provider.c: the lw_kube_endpoint functions (see pkg/kube/kube_auth.h).
 *
 * apply() runs before every request:
 *  - credentials first, since they can fail: an exec plugin is re-run when
 *    it has no credential, after a 401, or within exec_early_s of
 *    expirationTimestamp; a token file is re-read (re-opened by path, so the
 *    kubelet's ..data symlink swap is seen) when older than refresh_s or
 *    after a 401, keeping the last good token if the read fails (client-go's
 *    cachingTokenSource);
 *  - TLS: peer and host verification on unless insecure-skip-tls-verify;
 *    the CA, client certificate and key as in-memory blobs (CURL_BLOB_COPY),
 *    CURLOPT_CAPATH cleared so only the configured CA is trusted (a CA blob
 *    replaces CURLOPT_CAINFO but not the default CA directory);
 *  - tls-server-name through CURLOPT_CONNECT_TO (see kubeconfig.h);
 *  - "Authorization: Bearer <token>" appended to the caller's header list.
 * unauthorized() only marks the credential stale; the next apply() renews
 * it, which is what client-go does (ResetTokenOlderThan / maybeRefreshCreds).
 */
#include "kubeconfig/kubeconfig_int.h"

#include <stdlib.h>
#include <string.h>

int lw__read_token_file(const char *path, char **tok, struct lw_errbuf *eb);

static void free_secret(char *s, size_t len)
{
    if (s) {
        explicit_bzero(s, len);
        free(s);
    }
}

void lw__provider_free(struct lw__provider *p)
{
    if (!p)
        return;
    free(p->ca);
    curl_slist_free_all(p->connect_to);
    free(p->cert);
    free_secret(p->key, p->key_len);
    free_secret(p->token, p->token ? strlen(p->token) : 0);
    free(p->token_file);
    free_secret(p->file_token, p->file_token ? strlen(p->file_token) : 0);
    if (p->exec) {
        lw__exec_free(p->exec);
        free(p->exec);
    }
    free(p);
}

static int token_file_current(struct lw__provider *p, struct lw_errbuf *eb)
{
    double now = lw__now_mono();
    /* with a static `token` as fallback, a missing file is still polled only
     * once per period, not on every request */
    int have = p->file_token || p->token;
    if (have && !p->token_force && now - p->token_read_at < p->refresh_s)
        return LW_OK;
    char *tok = NULL;
    struct lw_errbuf reb;
    int rc = lw__read_token_file(p->token_file, &tok, &reb);
    p->token_read_at = now;
    if (rc == LW_OK) {
        free_secret(p->file_token, p->file_token ? strlen(p->file_token) : 0);
        p->file_token = tok;
        p->token_force = 0;
        p->token_reads++;
        return LW_OK;
    }
    /* keep the last good token (the kubelet may be mid-rotation) */
    p->token_force = 0;
    if (have)
        return LW_OK;
    return lw_errf(eb, rc, "%s: %s", p->what, reb.msg);
}

static int exec_current(struct lw__exec *x, struct lw_errbuf *eb)
{
    if (x->have && !x->stale && (x->expiry == 0 || lw__now_real() < x->expiry - x->early_s))
        return LW_OK;
    return lw__exec_run(x, eb);
}

#define SETOPT(opt, val)                                                                   \
    do {                                                                                   \
        CURLcode cc_ = curl_easy_setopt(easy, opt, val);                                   \
        if (cc_ != CURLE_OK)                                                               \
            return lw_errf(eb, LW_EUNSUPPORTED, "%s: libcurl refused " #opt ": %s", p->what, \
                           curl_easy_strerror(cc_));                                       \
    } while (0)

static int set_blob(CURL *easy, CURLoption opt, const char *data, size_t len, const char *name,
                    const struct lw__provider *p, struct lw_errbuf *eb)
{
    struct curl_blob blob;
    blob.data = (void *)data;
    blob.len = len;
    blob.flags = CURL_BLOB_COPY;
    CURLcode cc = curl_easy_setopt(easy, opt, &blob);
    if (cc != CURLE_OK)
        return lw_errf(eb, LW_EUNSUPPORTED, "%s: libcurl refused %s: %s", p->what, name,
                       curl_easy_strerror(cc));
    return LW_OK;
}

static int append_header(struct curl_slist **headers, const char *h, struct lw_errbuf *eb)
{
    struct curl_slist *n = curl_slist_append(*headers, h);
    if (!n)
        return lw_errf(eb, LW_ENOMEM, "out of memory");
    *headers = n;
    return LW_OK;
}

static int apply(void *ud, CURL *easy, struct curl_slist **headers, struct lw_errbuf *eb)
{
    struct lw__provider *p = ud;
    int rc;
    const char *token = p->token;
    const char *cert = p->cert, *key = p->key;
    size_t cert_len = p->cert_len, key_len = p->key_len;
    if (p->exec) {
        if ((rc = exec_current(p->exec, eb)))
            return rc;
        token = p->exec->token;
        if (p->exec->cert) {
            cert = p->exec->cert;
            cert_len = p->exec->cert_len;
            key = p->exec->key;
            key_len = p->exec->key_len;
        }
    } else if (p->token_file) {
        if ((rc = token_file_current(p, eb)))
            return rc;
        if (p->file_token)   /* the last successfully read value wins over `token` */
            token = p->file_token;
    }

    SETOPT(CURLOPT_SSL_VERIFYPEER, p->insecure ? 0L : 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, p->insecure ? 0L : 2L);
    if (p->ca) {
        if ((rc = set_blob(easy, CURLOPT_CAINFO_BLOB, p->ca, p->ca_len, "CURLOPT_CAINFO_BLOB", p,
                           eb)))
            return rc;
        SETOPT(CURLOPT_CAPATH, (char *)NULL);
    }
    if (cert) {
        if ((rc = set_blob(easy, CURLOPT_SSLCERT_BLOB, cert, cert_len, "CURLOPT_SSLCERT_BLOB", p,
                           eb)) ||
            (rc = set_blob(easy, CURLOPT_SSLKEY_BLOB, key, key_len, "CURLOPT_SSLKEY_BLOB", p, eb)))
            return rc;
        SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
        SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (p->connect_to) {
        SETOPT(CURLOPT_CONNECT_TO, p->connect_to);
        if ((rc = append_header(headers, p->host_header, eb)))
            return rc;
    }
    if (token) {
        size_t n = strlen(token) + sizeof("Authorization: Bearer ");
        char *h = malloc(n);
        if (!h)
            return lw_errf(eb, LW_ENOMEM, "out of memory");
        snprintf(h, n, "Authorization: Bearer %s", token);
        rc = append_header(headers, h, eb);
        free_secret(h, n);
        if (rc)
            return rc;
    }
    return LW_OK;
}

static void unauthorized(void *ud)
{
    struct lw__provider *p = ud;
    if (p->exec)
        p->exec->stale = 1;
    if (p->token_file)
        p->token_force = 1;
}

static void release(void *ud)
{
    lw__provider_free(ud);
}

void lw__provider_to_endpoint(struct lw__provider *p, const char *url, struct lw_kube_endpoint *ep)
{
    memset(ep, 0, sizeof(*ep));
    snprintf(ep->server, sizeof(ep->server), "%s", url);
    ep->ud = p;
    ep->apply = apply;
    ep->unauthorized = unauthorized;
    ep->release = release;
}
