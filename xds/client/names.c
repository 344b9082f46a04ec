/* Small string sets and maps for subscriptions and Delta's accepted
 * versions. Name sets are sorted arrays (binary search, O(n) insert); the
 * version map is a plain array with linear lookup, which is fine for the
 * hundreds of resources a type usually has and is worth replacing with a
 * hash table if EDS with 10,000 clusters over Delta shows up in profiles. */
#include "xds/client/client_internal.h"

#include "proxy/common/mem.h"

#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Index of name, or -(insertion point) - 1. */
static long names_find(const xp__names_t *s, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(s->v[mid], name);
        if (r == 0)
            return (long)mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

void xp__names_set(xp__names_t *s, char *const *names, size_t n)
{
    xp__names_free(s);
    if (n == 0)
        return;
    s->v = xp_malloc(n * sizeof(char *));
    s->cap = n;
    for (size_t i = 0; i < n; i++)
        s->v[i] = xp_strdup(names[i]);
    qsort(s->v, n, sizeof(char *), cmp_str);
    /* drop duplicates */
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && strcmp(s->v[w - 1], s->v[i]) == 0)
            free(s->v[i]);
        else
            s->v[w++] = s->v[i];
    }
    s->n = w;
}

bool xp__names_has(const xp__names_t *s, const char *name)
{
    return names_find(s, name) >= 0;
}

bool xp__names_add(xp__names_t *s, const char *name)
{
    long i = names_find(s, name);
    if (i >= 0)
        return false;
    size_t at = (size_t)(-i - 1);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xp_realloc(s->v, s->cap * sizeof(char *));
    }
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(char *));
    s->v[at] = xp_strdup(name);
    s->n++;
    return true;
}

bool xp__names_equal(const xp__names_t *a, const xp__names_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

void xp__names_copy(xp__names_t *dst, const xp__names_t *src)
{
    xp__names_set(dst, src->v, src->n);
}

void xp__names_free(xp__names_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static long versions_find(const xp__versions_t *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0)
            return (long)i;
    return -1;
}

const char *xp__versions_get(const xp__versions_t *m, const char *name)
{
    long i = versions_find(m, name);
    return i < 0 ? NULL : m->version[i];
}

void xp__versions_put(xp__versions_t *m, const char *name, const char *version)
{
    long i = versions_find(m, name);
    if (i >= 0) {
        free(m->version[i]);
        m->version[i] = xp_strdup(version);
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->name = xp_realloc(m->name, m->cap * sizeof(char *));
        m->version = xp_realloc(m->version, m->cap * sizeof(char *));
    }
    m->name[m->n] = xp_strdup(name);
    m->version[m->n] = xp_strdup(version);
    m->n++;
}

void xp__versions_del(xp__versions_t *m, const char *name)
{
    long i = versions_find(m, name);
    if (i < 0)
        return;
    free(m->name[i]);
    free(m->version[i]);
    m->n--;
    m->name[i] = m->name[m->n];
    m->version[i] = m->version[m->n];
}

void xp__versions_free(xp__versions_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->name[i]);
        free(m->version[i]);
    }
    free(m->name);
    free(m->version);
    memset(m, 0, sizeof(*m));
}
