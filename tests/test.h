/*
 * test.h — the unit-test harness: CHECK records a failure and goes on,
 * REQUIRE stops the current test function; TEST_MAIN runs the listed tests
 * and exits non-zero when any check failed.
 */
#ifndef RG_TEST_H
#define RG_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                \
    do {                                                                           \
        test_checks++;                                                             \
        if (!(cond)) {                                                             \
            test_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                          \
    } while (0)

#define REQUIRE(cond)                                                                \
    do {                                                                             \
        test_checks++;                                                               \
        if (!(cond)) {                                                               \
            test_failures++;                                                         \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            return;                                                                  \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                                     \
    do {                                                                                    \
        const char *a_ = (a), *b_ = (b);                                                    \
        test_checks++;                                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                            \
            test_failures++;                                                                \
            fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                \
        }                                                                                   \
    } while (0)

#define CHECK_INT(a, b)                                                                    \
    do {                                                                                   \
        long long a_ = (long long)(a), b_ = (long long)(b);                                \
        test_checks++;                                                                     \
        if (a_ != b_) {                                                                    \
            test_failures++;                                                               \
            fprintf(stderr, "%s:%d: CHECK_INT failed: %s == %lld, expected %lld\n", __FILE__, \
                    __LINE__, #a, a_, b_);                                                 \
        }                                                                                  \
    } while (0)

/* For setup and helpers that return a value: the test cannot go on, so it aborts. */
#define MUST(x)                                                                                    \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #x);                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef void (*test_fn)(void);
typedef struct test_case {
    const char *name;
    test_fn fn;
} test_case;

#define TEST(fn) {#fn, fn}

static inline int test_run(const test_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int before = test_failures;
        cases[i].fn();
        fprintf(stderr, "%s %s\n", test_failures == before ? "ok  " : "FAIL", cases[i].name);
    }
    fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#define TEST_MAIN(...)                                                      \
    int main(void)                                                          \
    {                                                                       \
        static const test_case cases[] = {__VA_ARGS__};                     \
        return test_run(cases, sizeof cases / sizeof cases[0]);             \
    }

#endif
