/* Tiny assertion helpers for the http1 tests: every failed check prints
 * file:line and a message and the test exits non-zero at the end, so one run
 * shows every broken case. */
#ifndef XP_TESTS_HTTP1_TEST_UTIL_H
#define XP_TESTS_HTTP1_TEST_UTIL_H

#include <stdio.h>

static int t_failures;
static int t_checks;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        t_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            t_failures++;                                                                          \
            fprintf(stderr, "%s:%d: FAIL (%s): ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static inline int t_finish(const char *name)
{
    if (t_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, t_failures, t_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, t_checks);
    return 0;
}

#endif
