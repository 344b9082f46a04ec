/* Tiny assertion helpers for the upstream tests: a failed CHECK prints where
 * and why and the test exits non-zero at the end. */
#ifndef XP_TESTS_UPSTREAM_CHECK_H
#define XP_TESTS_UPSTREAM_CHECK_H

#include <stdio.h>

static int xp_test_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            xp_test_failures++;                                                                    \
        }                                                                                          \
    } while (0)

#define TEST_DONE()                                                                                \
    do {                                                                                           \
        if (xp_test_failures) {                                                                    \
            fprintf(stderr, "%d check(s) failed\n", xp_test_failures);                             \
            return 1;                                                                              \
        }                                                                                          \
        printf("all checks passed\n");                                                             \
        return 0;                                                                                  \
    } while (0)

#endif
