/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quantity.c: Kubernetes resource quantities to whole bytes, exactly.
 * See quantity.h for the grammar and docs/quantity.md for the rules.
 *
 * DESIGN. No floating point. The quantity is a decimal digit string D with
 * a decimal point, scaled by 10^e (decimal suffix or exponent) and by 2^b
 * (binary suffix, b = 10 * k <= 60). Moving the decimal point by e splits
 * D into an integer part I and a fraction F in [0, 1), both exact digit
 * strings, and
 *     ceil(D * 10^e * 2^b) = I * 2^b + ceil(F * 2^b).
 * I * 2^b is checked against INT64_MAX with 64-bit overflow checks (I has at
 * most 19 significant digits or it overflows anyway). F * 2^b is computed by
 * doubling the fraction's digit string b times: the carry out of the top is
 * the next bit of floor(F * 2^b), and any non-zero digit left over means a
 * remainder, which rounds up. Everything is linear in the input length
 * (at most 60 doublings), for any number of digits or exponent.
 *
 * The suffix rules follow k8s.io/apimachinery/pkg/api/resource
 * (parseQuantityString + the suffixer): the suffix is one of the binary or
 * decimal SI suffixes, or "e"/"E" followed by an optional sign and at least
 * one digit. "E" alone is exa (10^18), "E3" is an exponent, "e" alone is an
 * error.
 */
#include "quantity/quantity.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Quote s[0..n) for messages: at most 64 bytes, non-printables as '?'. */
static const char *show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0, lim = n > 64 ? 61 : n;
    buf[o++] = '"';
    for (size_t i = 0; i < lim && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (lim < n && o + 5 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

struct suffix {
    const char *s;
    int exp10;  /* decimal exponent */
    int exp2;   /* binary exponent */
};
static const struct suffix suffixes[] = {
    {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
    {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
};

#define MAX_EXP10 1000000000LL /* |exponent| beyond this is LW_ERANGE */

/*
 * ceil(I * 2^b + F * 2^b) where the value's significant digits are
 * dig[0..nd) (no leading or trailing zeros, nd >= 1) and the decimal point
 * sits after `point` digits (may be <= 0 or >= nd).
 */
static int compute(const char *dig, size_t nd, long long point, int b, int64_t *out)
{
    const uint64_t lim = (uint64_t)INT64_MAX;
    if (point > 19) /* I >= 10^19 > INT64_MAX */
        return LW_ERANGE;
    uint64_t ip = 0;
    size_t nint = point > 0 ? (size_t)point : 0;
    for (size_t i = 0; i < nint; i++) {
        unsigned d = i < nd ? (unsigned)(dig[i] - '0') : 0;
        if (__builtin_mul_overflow(ip, 10u, &ip) || __builtin_add_overflow(ip, d, &ip))
            return LW_ERANGE;
    }
    if (ip > lim || (b && ip > (lim >> b)))
        return LW_ERANGE;
    ip <<= b;
    /* fraction digits: -point zeros, then dig[nint..nd) */
    if (nint >= nd) {
        *out = (int64_t)ip;
        return LW_OK;
    }
    uint64_t fp = 0;
    bool rem;
    if (point < -25) {
        /* F < 10^-25: F * 2^60 < 1, so it only rounds up */
        rem = true;
    } else {
        size_t lead = point < 0 ? (size_t)(-point) : 0;
        size_t nf = lead + (nd - nint);
        char small[256];
        char *f = nf <= sizeof(small) ? small : malloc(nf);
        if (!f)
            return LW_ENOMEM;
        memset(f, 0, lead);
        for (size_t i = nint; i < nd; i++)
            f[lead + i - nint] = (char)(dig[i] - '0');
        /* F * 2^b by doubling: each carry out of the top digit is one bit */
        for (int k = 0; k < b; k++) {
            unsigned carry = 0;
            for (size_t i = nf; i-- > 0;) {
                unsigned v = (unsigned)f[i] * 2 + carry;
                carry = v >= 10;
                f[i] = (char)(v - (carry ? 10 : 0));
            }
            fp = fp * 2 + carry;
        }
        rem = false;
        for (size_t i = 0; i < nf && !rem; i++)
            rem = f[i] != 0;
        if (f != small)
            free(f);
    }
    uint64_t r = ip;
    if (__builtin_add_overflow(r, fp, &r) || __builtin_add_overflow(r, (uint64_t)rem, &r) ||
        r > lim)
        return LW_ERANGE;
    *out = (int64_t)r;
    return LW_OK;
}

int lw_quantity_parsen(const char *s, size_t n, int64_t *out_bytes, struct lw_errbuf *eb)
{
    char q[80];
    if (!s || n == 0)
        return lw_errf(eb, LW_EINVAL, "quantity \"\": empty");
    size_t i = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f')
            return lw_errf(eb, LW_EINVAL, "quantity %s: unexpected white space at position %zu",
                           show(s, n, q, sizeof(q)), k);
        if (c == '\0')
            return lw_errf(eb, LW_EINVAL, "quantity %s: NUL byte at position %zu",
                           show(s, n, q, sizeof(q)), k);
    }
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        i++;
    }
    /* number: digits [ "." digits ] | "." digits */
    size_t int0 = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    size_t int1 = i, frac0 = i, frac1 = i;
    if (i < n && s[i] == '.') {
        i++;
        frac0 = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        frac1 = i;
    }
    if (int1 == int0 && frac1 == frac0) {
        if (i < n)
            return lw_errf(eb, LW_EINVAL, "quantity %s: expected a number at position %zu",
                           show(s, n, q, sizeof(q)), i);
        return lw_errf(eb, LW_EINVAL, "quantity %s: no digits", show(s, n, q, sizeof(q)));
    }
    /* suffix */
    long long e10 = 0;
    int e2 = 0;
    const char *suf = s + i;
    size_t sn = n - i;
    if (sn) {
        bool found = false;
        for (size_t k = 0; k < LW_ARRAY_SIZE(suffixes); k++)
            if (strlen(suffixes[k].s) == sn && memcmp(suffixes[k].s, suf, sn) == 0) {
                e10 = suffixes[k].exp10;
                e2 = suffixes[k].exp2;
                found = true;
                break;
            }
        if (!found && (suf[0] == 'e' || suf[0] == 'E')) {
            size_t j = 1;
            bool eneg = false;
            if (j < sn && (suf[j] == '+' || suf[j] == '-'))
                eneg = suf[j++] == '-';
            if (j == sn)
                return lw_errf(eb, LW_EINVAL, "quantity %s: exponent '%c' without digits",
                               show(s, n, q, sizeof(q)), suf[0]);
            long long ev = 0;
            for (; j < sn; j++) {
                if (suf[j] < '0' || suf[j] > '9')
                    return lw_errf(eb, LW_EINVAL,
                                   "quantity %s: unexpected '%c' in the exponent at position %zu",
                                   show(s, n, q, sizeof(q)), suf[j], i + j);
                if (ev <= MAX_EXP10)
                    ev = ev * 10 + (suf[j] - '0');
            }
            if (ev > MAX_EXP10)
                return lw_errf(eb, LW_ERANGE, "quantity %s: exponent out of range",
                               show(s, n, q, sizeof(q)));
            e10 = eneg ? -ev : ev;
            found = true;
        }
        if (!found && (suf[0] == '.' || suf[0] == '+' || suf[0] == '-'))
            return lw_errf(eb, LW_EINVAL, "quantity %s: unexpected '%c' at position %zu",
                           show(s, n, q, sizeof(q)), suf[0], i);
        if (!found) {
            char sq[80];
            return lw_errf(eb, LW_EINVAL,
                           "quantity %s: unknown suffix %s at position %zu (want one of Ki Mi Gi "
                           "Ti Pi Ei, n u m k M G T P E, or e<exponent>)",
                           show(s, n, q, sizeof(q)), show(suf, sn, sq, sizeof(sq)), i);
        }
    }
    /* significant digits: integer digits then fraction digits, point after
     * the integer ones; strip leading and trailing zeros */
    size_t nint = int1 - int0, nfrac = frac1 - frac0;
    size_t nd = nint + nfrac;
    char dsmall[256];
    char *dig = nd <= sizeof(dsmall) ? dsmall : malloc(nd);
    if (!dig)
        return lw_errf(eb, LW_ENOMEM, "quantity: out of memory");
    memcpy(dig, s + int0, nint);
    memcpy(dig + nint, s + frac0, nfrac);
    long long point = (long long)nint;
    size_t lead = 0;
    while (lead < nd && dig[lead] == '0')
        lead++;
    size_t end = nd;
    while (end > lead && dig[end - 1] == '0')
        end--;
    int rc = LW_OK;
    int64_t v = 0;
    if (end > lead) {
        point -= (long long)lead;
        if (neg) {
            rc = lw_errf(eb, LW_ERANGE, "quantity %s: must not be negative",
                         show(s, n, q, sizeof(q)));
        } else {
            rc = compute(dig + lead, end - lead, point + e10, e2, &v);
            if (rc == LW_ERANGE)
                lw_errf(eb, rc, "quantity %s: more than %lld bytes (does not fit in int64)",
                        show(s, n, q, sizeof(q)), (long long)INT64_MAX);
            else if (rc)
                lw_errf(eb, rc, "quantity: out of memory");
        }
    }
    if (dig != dsmall)
        free(dig);
    if (rc == LW_OK)
        *out_bytes = v;
    return rc;
}

int lw_quantity_parse(const char *s, int64_t *out_bytes, struct lw_errbuf *eb)
{
    return lw_quantity_parsen(s, s ? strlen(s) : 0, out_bytes, eb);
}
