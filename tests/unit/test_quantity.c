/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_quantity.c: lw_quantity_parse() against the Kubernetes quantity
 * grammar: documented Kubernetes examples, rounding up to whole bytes,
 * exponents, huge digit strings, overflow at the int64 edge, and the
 * errors (with messages naming the input and the problem). A randomized
 * cross-check against long double arithmetic covers the rest.
 */
#include "harness.h"

#include "quantity/quantity.h"

static int64_t qv(const char *s)
{
    int64_t v = -12345;
    struct lw_errbuf eb;
    int rc = lw_quantity_parse(s, &v, &eb);
    if (rc) {
        fprintf(stderr, "  %s: %s\n", s, eb.msg);
        return -1;
    }
    return v;
}

static int qerr(const char *s, const char *msg_part)
{
    int64_t v = 777;
    struct lw_errbuf eb = {{0}};
    int rc = lw_quantity_parse(s, &v, &eb);
    if (rc == LW_OK)
        fprintf(stderr, "  %s: unexpectedly parsed as %lld\n", s, (long long)v);
    else if (msg_part && !strstr(eb.msg, msg_part))
        fprintf(stderr, "  %s: message \"%s\" lacks \"%s\"\n", s, eb.msg, msg_part);
    if (rc != LW_OK && v != 777)
        fprintf(stderr, "  %s: output written on error\n", s);
    if (rc != LW_OK && msg_part && !strstr(eb.msg, msg_part))
        return 1; /* make the check fail */
    return rc;
}

TEST(kubernetes_documented_examples)
{
    /* kubernetes.io "Resource units in Kubernetes": these are all roughly the same value */
    CHECK_EQ_INT(qv("128974848"), 128974848);
    CHECK_EQ_INT(qv("129e6"), 129000000);
    CHECK_EQ_INT(qv("129M"), 129000000);
    CHECK_EQ_INT(qv("128974848000m"), 128974848);
    CHECK_EQ_INT(qv("123Mi"), 128974848);
    /* "400m" of memory is 0.4 bytes, which rounds up to 1 */
    CHECK_EQ_INT(qv("400m"), 1);
    CHECK_EQ_INT(qv("1Gi"), 1073741824);
    CHECK_EQ_INT(qv("64Mi"), 67108864);
    CHECK_EQ_INT(qv("1.5Gi"), 1610612736);
}

TEST(suffixes)
{
    CHECK_EQ_INT(qv("1Ki"), 1024);
    CHECK_EQ_INT(qv("1Mi"), 1LL << 20);
    CHECK_EQ_INT(qv("1Gi"), 1LL << 30);
    CHECK_EQ_INT(qv("1Ti"), 1LL << 40);
    CHECK_EQ_INT(qv("1Pi"), 1LL << 50);
    CHECK_EQ_INT(qv("1Ei"), 1LL << 60);
    CHECK_EQ_INT(qv("7Ei"), 7LL << 60);
    CHECK_EQ_INT(qv("1k"), 1000);
    CHECK_EQ_INT(qv("1M"), 1000000);
    CHECK_EQ_INT(qv("1G"), 1000000000);
    CHECK_EQ_INT(qv("1T"), 1000000000000LL);
    CHECK_EQ_INT(qv("1P"), 1000000000000000LL);
    CHECK_EQ_INT(qv("1E"), 1000000000000000000LL);
    CHECK_EQ_INT(qv("9E"), 9000000000000000000LL);
    CHECK_EQ_INT(qv("1m"), 1);
    CHECK_EQ_INT(qv("1000m"), 1);
    CHECK_EQ_INT(qv("1001m"), 2);
    CHECK_EQ_INT(qv("1u"), 1);
    CHECK_EQ_INT(qv("1n"), 1);
    CHECK_EQ_INT(qv("2000000000n"), 2);
    CHECK_EQ_INT(qv("0"), 0);
    CHECK_EQ_INT(qv("0Mi"), 0);
    CHECK_EQ_INT(qv("0m"), 0);
    CHECK_EQ_INT(qv("-0"), 0);
    CHECK_EQ_INT(qv("+0.0Gi"), 0);
    CHECK_EQ_INT(qv("+5"), 5);
    CHECK_EQ_INT(qv("00012"), 12);
}

TEST(decimals_round_up)
{
    CHECK_EQ_INT(qv("500m"), 1);
    CHECK_EQ_INT(qv("0.5Ki"), 512);
    CHECK_EQ_INT(qv("1.0000001"), 2);
    CHECK_EQ_INT(qv("1.0"), 1);
    CHECK_EQ_INT(qv("1."), 1);
    CHECK_EQ_INT(qv(".5"), 1);
    CHECK_EQ_INT(qv(".5Ki"), 512);
    CHECK_EQ_INT(qv("0.1"), 1);
    CHECK_EQ_INT(qv("0.1Ki"), 103);     /* 102.4 */
    CHECK_EQ_INT(qv("1.5Mi"), 1572864);
    CHECK_EQ_INT(qv("0.001Ki"), 2);     /* 1.024 */
    CHECK_EQ_INT(qv("0.0009765625Ki"), 1); /* exactly 1 */
    CHECK_EQ_INT(qv("0.0009765626Ki"), 2);
    CHECK_EQ_INT(qv("2.5k"), 2500);
    CHECK_EQ_INT(qv("2.0005k"), 2001);  /* 2000.5 */
    CHECK_EQ_INT(qv("1.23456789G"), 1234567890);
    /* many digits: exact, no floating point */
    CHECK_EQ_INT(qv("1.00000000000000000000000000000000000000000001"), 2);
    CHECK_EQ_INT(qv("1.00000000000000000000000000000000000000000000"), 1);
    CHECK_EQ_INT(qv("0.000000000000000000000000000000000000000000001Ei"), 1);
    CHECK_EQ_INT(qv("00000000000000000000000000000000000000000000000000000042"), 42);
    CHECK_EQ_INT(qv("4200000000000000000000000000000000000000000000000e-47"), 42);
    CHECK_EQ_INT(qv("4200000000000000000000000000000000000000000000001e-47"), 43);
}

TEST(exponents)
{
    CHECK_EQ_INT(qv("1e3"), 1000);
    CHECK_EQ_INT(qv("1E3"), 1000); /* "E3" is an exponent, "E" alone is exa */
    CHECK_EQ_INT(qv("1e+3"), 1000);
    CHECK_EQ_INT(qv("1e-3"), 1);
    CHECK_EQ_INT(qv("1.5e3"), 1500);
    CHECK_EQ_INT(qv("1.5e0"), 2);
    CHECK_EQ_INT(qv("12e-1"), 2);
    CHECK_EQ_INT(qv("10e-1"), 1);
    CHECK_EQ_INT(qv("1e18"), 1000000000000000000LL);
    CHECK_EQ_INT(qv("0e999999"), 0);
    CHECK_EQ_INT(qv("1e-999999"), 1);
    CHECK_EQ_INT(qv("9223372036854775807e0"), INT64_MAX);
    CHECK_EQ_INT(qv("0.9223372036854775807e19"), INT64_MAX);
}

TEST(int64_edge)
{
    CHECK_EQ_INT(qv("9223372036854775807"), INT64_MAX);
    CHECK_EQ_INT(qv("9223372036854775806.5"), INT64_MAX);
    CHECK_EQ_INT(qv("9223372036854775807000m"), INT64_MAX);
    CHECK_EQ_INT(qv("8191.99Pi"), 9223360777855707382LL); /* 2^63 - 11258999068426.24, up */
    /* 2^63 - 0.0011: rounding up reaches 2^63, which does not fit */
    CHECK_EQ_INT(qerr("8191.999999999999999999Pi", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("9223372036854775808", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("9223372036854775807.1", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("9223372036854775807001m", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("8Ei", "does not fit"), LW_ERANGE);
    CHECK_EQ_INT(qv("7.99999999999999999913Ei"), INT64_MAX); /* 2^63 - 1.0025... -> ceil */
    CHECK_EQ_INT(qerr("10E", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("1e19", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("1e999999999", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("1e99999999999999999999", "exponent out of range"), LW_ERANGE);
    CHECK_EQ_INT(qerr("99999999999999999999999999999999999999", NULL), LW_ERANGE);
    CHECK_EQ_INT(qerr("100000000000000000000Ki", NULL), LW_ERANGE);
}

TEST(rejects)
{
    CHECK_EQ_INT(qerr("", "empty"), LW_EINVAL);
    CHECK_EQ_INT(qerr(" ", "white space"), LW_EINVAL);
    CHECK_EQ_INT(qerr(" 1Mi", "position 0"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1Mi ", "position 3"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1 Mi", "\"1 Mi\""), LW_EINVAL);
    CHECK_EQ_INT(qerr("1.2.3", "unexpected '.' at position 3"), LW_EINVAL);
    CHECK_EQ_INT(qerr("Mi", "expected a number"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1MiB", "unknown suffix \"MiB\""), LW_EINVAL);
    CHECK_EQ_INT(qerr("1e", "exponent 'e' without digits"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1e+", "without digits"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1e1.5", "in the exponent"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1e3Mi", "in the exponent"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1K", "unknown suffix \"K\""), LW_EINVAL);
    CHECK_EQ_INT(qerr("1mi", "unknown suffix"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1Kii", "unknown suffix"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1i", "unknown suffix"), LW_EINVAL);
    CHECK_EQ_INT(qerr(".", "no digits"), LW_EINVAL);
    CHECK_EQ_INT(qerr("+", "no digits"), LW_EINVAL);
    CHECK_EQ_INT(qerr("-", "no digits"), LW_EINVAL);
    CHECK_EQ_INT(qerr("--1", "expected a number"), LW_EINVAL);
    CHECK_EQ_INT(qerr("+-1", "expected a number"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1-", "unexpected '-'"), LW_EINVAL);
    CHECK_EQ_INT(qerr("0x10", "unknown suffix"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1,5Gi", "unknown suffix"), LW_EINVAL);
    CHECK_EQ_INT(qerr("abc", "expected a number"), LW_EINVAL);
    CHECK_EQ_INT(qerr("1\t", "white space"), LW_EINVAL);
    CHECK_EQ_INT(qerr("-1", "must not be negative"), LW_ERANGE);
    CHECK_EQ_INT(qerr("-0.5Mi", "must not be negative"), LW_ERANGE);
    CHECK_EQ_INT(qerr("-1e-30", "must not be negative"), LW_ERANGE);
    int64_t v = 5;
    struct lw_errbuf eb;
    CHECK_EQ_INT(lw_quantity_parse(NULL, &v, &eb), LW_EINVAL);
    CHECK_EQ_INT(v, 5);
    /* length-delimited: no NUL needed, and an embedded NUL is junk */
    CHECK_EQ_INT(lw_quantity_parsen("128Mi-garbage", 5, &v, &eb), LW_OK);
    CHECK_EQ_INT(v, 128LL << 20);
    CHECK_EQ_INT(lw_quantity_parsen("12\0" "8", 4, &v, &eb), LW_EINVAL);
    /* a long junk input is shown shortened in the message */
    char longjunk[300];
    memset(longjunk, 'x', sizeof(longjunk) - 1);
    longjunk[sizeof(longjunk) - 1] = '\0';
    longjunk[0] = '1';
    CHECK_EQ_INT(lw_quantity_parse(longjunk, &v, &eb), LW_EINVAL);
    CHECK(strlen(eb.msg) < 300 && strstr(eb.msg, "...") != NULL);
}

/* Random quantities against long double arithmetic (exact within ~1 ulp of
 * the ceiling for values below 2^62). */
TEST(random_vs_long_double)
{
    static const struct {
        const char *s;
        long double mult;
    } suf[] = {
        {"", 1}, {"Ki", 1024.0L}, {"Mi", 1048576.0L}, {"Gi", 1073741824.0L}, {"k", 1e3L},
        {"M", 1e6L}, {"G", 1e9L}, {"m", 1e-3L}, {"u", 1e-6L}, {"n", 1e-9L},
        {"e2", 1e2L}, {"e-2", 1e-2L}, {"E5", 1e5L},
    };
    uint64_t rng = 0x243f6a8885a308d3ULL;
    int compared = 0;
    for (int it = 0; it < 20000; it++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        unsigned ni = (unsigned)(rng % 8), nf = (unsigned)((rng >> 8) % 6);
        char buf[64];
        size_t o = 0;
        uint64_t r2 = rng;
        for (unsigned i = 0; i < ni; i++, r2 /= 10)
            buf[o++] = (char)('0' + r2 % 10);
        if (nf || ni == 0) {
            buf[o++] = '.';
            for (unsigned i = 0; i < nf + (ni == 0); i++, r2 /= 7)
                buf[o++] = (char)('0' + r2 % 10);
        }
        buf[o] = '\0';
        size_t si = (size_t)((rng >> 20) % LW_ARRAY_SIZE(suf));
        char full[80];
        snprintf(full, sizeof(full), "%s%s", buf, suf[si].s);
        long double want = strtold(buf, NULL) * suf[si].mult;
        int64_t got = -1;
        struct lw_errbuf eb;
        int rc = lw_quantity_parse(full, &got, &eb);
        if (want > 4e18L) {
            continue;
        }
        CHECK_EQ_INT(rc, LW_OK);
        long double c = ceill(want);
        long double tol = want * 1e-15L + 1;
        if (fabsl((long double)got - c) > tol) {
            fprintf(stderr, "  %s: got %lld, long double says %.3Lf\n", full, (long long)got, want);
            CHECK(0);
        }
        compared++;
    }
    CHECK(compared > 15000);
}

TEST_LIST(T(kubernetes_documented_examples), T(suffixes), T(decimals_round_up), T(exponents),
          T(int64_edge), T(rejects), T(random_vs_long_double));
TEST_MAIN()
