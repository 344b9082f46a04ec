#include "proxy/net/chunk.h"
#include "proxy/common/mem.h"

#include <stdlib.h>

/* At most this many spare chunks per thread (2 MiB): enough to absorb the
 * churn of a busy worker without holding memory after a burst. */
#define XP__FREE_MAX 64

static __thread xp_spares_t xp__spares;

xp_chunk_t *xp_chunk_new(size_t size)
{
    xp_chunk_t *c;
    if (size <= XP_CHUNK_SIZE) {
        c = xp_spares_take(&xp__spares);
        if (c == NULL)
            c = xp_malloc(sizeof(*c) + XP_CHUNK_SIZE);
        c->size = XP_CHUNK_SIZE;
    } else {
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = (uint32_t)size;
    }
    c->refs = 1;
    return c;
}

void xp_chunk_unref(xp_chunk_t *c)
{
    if (--c->refs)
        return;
    if (c->size == XP_CHUNK_SIZE && xp_spares_keep(&xp__spares, c, XP__FREE_MAX))
        return;
    free(c);
}

void xp_chunk_thread_cleanup(void)
{
    xp_spares_free_all(&xp__spares);
}
