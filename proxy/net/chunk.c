#include "proxy/net/chunk.h"
#include "proxy/common/mem.h"

#include <stdlib.h>

/* At most this many spare chunks per thread (2 MiB): enough to absorb the
 * churn of a busy worker without holding memory after a burst. */
#define XP__FREE_MAX 64

static __thread xp_chunk_t *xp__free;
static __thread unsigned xp__nfree;

xp_chunk_t *xp_chunk_new(size_t size)
{
    xp_chunk_t *c;
    if (size <= XP_CHUNK_SIZE) {
        if (xp__free) {
            c = xp__free;
            xp__free = c->next_free;
            xp__nfree--;
        } else {
            c = xp_malloc(sizeof(*c) + XP_CHUNK_SIZE);
            c->size = XP_CHUNK_SIZE;
        }
    } else {
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = (uint32_t)size;
    }
    c->refs = 1;
    c->next_free = NULL;
    return c;
}

void xp_chunk_unref(xp_chunk_t *c)
{
    if (--c->refs)
        return;
    if (c->size == XP_CHUNK_SIZE && xp__nfree < XP__FREE_MAX) {
        c->next_free = xp__free;
        xp__free = c;
        xp__nfree++;
        return;
    }
    free(c);
}

void xp_chunk_thread_cleanup(void)
{
    while (xp__free) {
        xp_chunk_t *n = xp__free->next_free;
        free(xp__free);
        xp__free = n;
    }
    xp__nfree = 0;
}
