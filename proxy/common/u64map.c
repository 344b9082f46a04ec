#include "proxy/common/u64map.h"
#include "proxy/common/mem.h"

#include <stdlib.h>

/* Keys may be pointers (low bits zero, high bits alike): mix them. */
static size_t xp__slot(const xp_u64map_t *m, uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & m->mask;
}

void xp_u64map_init(xp_u64map_t *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    m->keys = xp_calloc(cap, sizeof(*m->keys));
    m->vals = xp_malloc(cap * sizeof(*m->vals));
    m->mask = cap - 1;
}

void xp_u64map_put(xp_u64map_t *m, uint64_t key, void *val)
{
    if (key == 0)
        return;
    size_t i = xp__slot(m, key);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & m->mask;
    if (m->keys[i] == 0) {
        m->keys[i] = key;
        m->vals[i] = val;
    }
}

void *xp_u64map_get(const xp_u64map_t *m, uint64_t key)
{
    if (key == 0 || m->keys == NULL)
        return NULL;
    for (size_t i = xp__slot(m, key); m->keys[i]; i = (i + 1) & m->mask)
        if (m->keys[i] == key)
            return m->vals[i];
    return NULL;
}

void xp_u64map_free(xp_u64map_t *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
}
