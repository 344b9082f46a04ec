#include "proxy/common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void xp__oom(size_t n)
{
    fprintf(stderr, "xproxy: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xp_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        xp__oom(n);
    return p;
}

void *xp_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        xp__oom(count * n);
    return p;
}

void *xp_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        xp__oom(n);
    return q;
}

char *xp_strndup(const char *s, size_t n)
{
    char *p = xp_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xp_strdup(const char *s)
{
    return xp_strndup(s, strlen(s));
}

char *xp_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = xp_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>

static void xp__leak_check(void)
{
    __lsan_do_leak_check();
}
#endif

void xp_leak_check_first_at_exit(void)
{
#if defined(__SANITIZE_ADDRESS__)
    atexit(xp__leak_check); /* registered last, so run first */
#endif
}
