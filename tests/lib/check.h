/* Checks for the C tests that count failures and go on, as check.sh does
 * for the shell tests: CHECK(cond) reports a false condition with its place
 * and counts it; check_result(NAME) ends main, printing the outcome and
 * returning the exit status. */
#ifndef XP_TESTS_LIB_CHECK_H
#define XP_TESTS_LIB_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static inline int check_result(const char *name)
{
    if (failures)
        printf("FAILED: %d check(s)\n", failures);
    else
        printf("%s: all checks passed\n", name);
    return failures != 0;
}

#endif
