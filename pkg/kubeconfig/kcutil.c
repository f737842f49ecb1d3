/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kcutil.c: small helpers for pkg/kubeconfig: strict base64 (the *-data
 * fields are Go []byte, so base64 in YAML), PEM validation with OpenSSL (a
 * CA, certificate or key that OpenSSL cannot parse is refused at load time
 * rather than failing every TLS handshake later), RFC 3339 parsing for exec
 * plugin expiry, clocks and bounded small-file reads.
 */
#include "kubeconfig/kubeconfig_int.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int lw__b64_decode(const char *s, size_t len, char **out, size_t *outlen)
{
    char *o = malloc(len / 4 * 3 + 4);
    if (!o)
        return LW_ENOMEM;
    size_t n = 0, q = 0, pad = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64val(c);
        if (v < 0 || pad) {   /* junk, or data after padding */
            free(o);
            return LW_EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        if (++q == 4) {
            o[n++] = (char)(acc >> 16);
            o[n++] = (char)(acc >> 8);
            o[n++] = (char)acc;
            q = 0;
            acc = 0;
        }
    }
    /* q data chars left over: 2 needs "==", 3 needs "=", 0 needs none */
    if (q == 1 || (q == 2 && pad != 2) || (q == 3 && pad != 1) || (q == 0 && pad != 0)) {
        free(o);
        return LW_EINVAL;
    }
    if (q == 2) {
        o[n++] = (char)(acc >> 4);
    } else if (q == 3) {
        o[n++] = (char)(acc >> 10);
        o[n++] = (char)(acc >> 2);
    }
    o[n] = 0;
    *out = o;
    *outlen = n;
    return LW_OK;
}

char *lw__b64_encode(const void *p, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    char *o = malloc((len + 2) / 3 * 4 + 1);
    if (!o)
        return NULL;
    size_t n = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        o[n++] = tab[v >> 18];
        o[n++] = tab[(v >> 12) & 63];
        o[n++] = tab[(v >> 6) & 63];
        o[n++] = tab[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)s[i] << 16 | (i + 1 < len ? (unsigned)s[i + 1] << 8 : 0);
        o[n++] = tab[v >> 18];
        o[n++] = tab[(v >> 12) & 63];
        o[n++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        o[n++] = '=';
    }
    o[n] = 0;
    return o;
}

/* Never prompt for a pass phrase on the terminal: an encrypted key is an error. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static void ssl_reason(char *why, size_t whylen, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(why, whylen, "%s%s%s", fallback, r ? ": " : "", r ? r : "");
    ERR_clear_error();
}

int lw__pem_check_certs(const char *pem, size_t len, int *ncerts, char *why, size_t whylen)
{
    *ncerts = 0;
    if (len > INT32_MAX)
        return LW_ETOOBIG;
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return LW_ENOMEM;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, no_password, NULL);
        if (!x)
            break;
        X509_free(x);
        (*ncerts)++;
    }
    BIO_free(bio);
    unsigned long e = ERR_peek_last_error();
    /* reaching the end of the input is the normal way out of the loop */
    if (*ncerts > 0 && (!e || ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
        ERR_clear_error();
        return LW_OK;
    }
    ssl_reason(why, whylen, *ncerts ? "a PEM certificate block is corrupt"
                                    : "no PEM certificate found");
    return LW_EFORMAT;
}

int lw__pem_check_key(const char *pem, size_t len, char *why, size_t whylen)
{
    if (len > INT32_MAX)
        return LW_ETOOBIG;
    ERR_clear_error();
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return LW_ENOMEM;
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    if (!k) {
        ssl_reason(why, whylen, "no usable PEM private key (encrypted keys are not supported)");
        return LW_EFORMAT;
    }
    EVP_PKEY_free(k);
    ERR_clear_error();
    return LW_OK;
}

int lw__pem_check_pair(const char *cert, size_t certlen, const char *key, size_t keylen, char *why,
                       size_t whylen)
{
    if (certlen > INT32_MAX || keylen > INT32_MAX)
        return LW_ETOOBIG;
    ERR_clear_error();
    int rc = LW_EFORMAT;
    BIO *cb = BIO_new_mem_buf(cert, (int)certlen);
    BIO *kb = BIO_new_mem_buf(key, (int)keylen);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, no_password, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_password, NULL) : NULL;
    if (!x)
        ssl_reason(why, whylen, "client certificate: no PEM certificate found");
    else if (!k)
        ssl_reason(why, whylen, "client key: no usable PEM private key");
    else if (X509_check_private_key(x, k) != 1)
        ssl_reason(why, whylen, "client key does not match the client certificate");
    else
        rc = LW_OK;
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    ERR_clear_error();
    return rc;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int lw__rfc3339_parse(const char *s, double *out)
{
    int Y, M, D, h, m, sec;
    if (!s || strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return LW_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return LW_EINVAL;
    const char *p = s + 19;
    double frac = 0, scale = 0.1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return LW_EINVAL;
        while (isdigit((unsigned char)*p)) {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return LW_EINVAL;
        off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return LW_EINVAL;
    }
    if (*p)
        return LW_EINVAL;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out = (double)t - off + frac;
    return LW_OK;
}

double lw__now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double lw__now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int lw__read_small(const char *path, size_t cap, char **out, size_t *outlen, struct lw_errbuf *eb)
{
    struct lw_buf b = LW_BUF_INIT(cap);
    int rc = lw_read_file(path, &b, eb);
    if (rc) {
        lw_buf_release(&b);
        return rc;
    }
    *out = lw_buf_detach(&b, outlen);
    return LW_OK;
}
