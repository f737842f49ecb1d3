/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.h: a tiny header-only test harness (libuv/acutest style).
 *
 *   TEST(name) { CHECK(x); CHECK_EQ_INT(a, b); CHECK_STR(a, b); }
 *   TEST_MAIN(test_a, test_b, ...)
 *
 * Each failed check prints file:line and the expression, the test keeps
 * going, and the binary exits non-zero if anything failed. Prints one
 * closing line "N passed, M failed". `argv[1]`, when given, runs only the
 * test of that name.
 */
#ifndef LW_TEST_HARNESS_H
#define LW_TEST_HARNESS_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lw_t_failed_checks;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            lw_t_failed_checks++;                                                    \
        }                                                                            \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                              \
    do {                                                                                \
        long long lw_a_ = (long long)(a), lw_b_ = (long long)(b);                      \
        if (lw_a_ != lw_b_) {                                                           \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s == %lld, %s == %lld\n",     \
                    __FILE__, __LINE__, #a, lw_a_, #b, lw_b_);                          \
            lw_t_failed_checks++;                                                       \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double lw_a_ = (double)(a), lw_b_ = (double)(b);                               \
        if (!(fabs(lw_a_ - lw_b_) <= (tol))) {                                          \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s == %g, %s == %g (tol %g)\n",  \
                    __FILE__, __LINE__, #a, lw_a_, #b, lw_b_, (double)(tol));           \
            lw_t_failed_checks++;                                                       \
        }                                                                               \
    } while (0)

#define CHECK_STR(a, b)                                                                 \
    do {                                                                                \
        const char *lw_a_ = (a), *lw_b_ = (b);                                          \
        if (!lw_a_ || !lw_b_ || strcmp(lw_a_, lw_b_) != 0) {                            \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", %s == \"%s\"\n",    \
                    __FILE__, __LINE__, #a, lw_a_ ? lw_a_ : "(null)", #b,               \
                    lw_b_ ? lw_b_ : "(null)");                                          \
            lw_t_failed_checks++;                                                       \
        }                                                                               \
    } while (0)

struct lw_t_case {
    const char *name;
    void (*fn)(void);
};

/* Directory of test fixtures (tests/fixtures), from the environment. */
static inline const char *lw_t_fixtures(void)
{
    const char *d = getenv("LW_FIXTURES");
    return d ? d : "tests/fixtures";
}

/* TEST_LIST(T(test_a), T(test_b)); TEST_MAIN() */
#define TEST_LIST(...) static const struct lw_t_case lw_t_cases[] = {__VA_ARGS__}
#define T(fn) {#fn, fn}

#define TEST_MAIN()                                                                     \
    int main(int argc, char **argv)                                                     \
    {                                                                                   \
        int passed = 0, failed = 0;                                                     \
        for (size_t i = 0; i < sizeof(lw_t_cases) / sizeof(lw_t_cases[0]); i++) {      \
            if (argc > 1 && strcmp(argv[1], lw_t_cases[i].name) != 0)                   \
                continue;                                                               \
            int before = lw_t_failed_checks;                                            \
            lw_t_cases[i].fn();                                                         \
            if (lw_t_failed_checks == before) {                                         \
                passed++;                                                               \
                fprintf(stderr, "ok   %s\n", lw_t_cases[i].name);                       \
            } else {                                                                    \
                failed++;                                                               \
                fprintf(stderr, "FAIL %s\n", lw_t_cases[i].name);                       \
            }                                                                           \
        }                                                                               \
        printf("%d passed, %d failed\n", passed, failed);                               \
        return failed ? 1 : 0;                                                          \
    }

#endif
