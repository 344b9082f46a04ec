/* Read buffers. A chunk is filled by one read and then travels, by
 * reference, into the writes that forward it, so forwarded bytes are never
 * copied. Chunks belong to one worker thread (non-atomic refcount) and the
 * common size is recycled through a small thread-local free list, so the
 * steady state allocates nothing. An idle connection holds no chunk: a read
 * takes one only when the socket is readable. */
#ifndef XP_NET_CHUNK_H
#define XP_NET_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#define XP_CHUNK_SIZE (32 * 1024)

typedef struct xp_chunk {
    uint32_t refs;
    uint32_t size; /* capacity of data */
    char data[];
} xp_chunk_t;

/* A chunk of at least `size` bytes with one reference, owned by the caller.
 * Sizes up to XP_CHUNK_SIZE come from the free list. Aborts on OOM only for
 * the standard size; larger (peer-driven) sizes return NULL on failure. */
xp_chunk_t *xp_chunk_new(size_t size);

static inline xp_chunk_t *xp_chunk_ref(xp_chunk_t *c)
{
    c->refs++;
    return c;
}

void xp_chunk_unref(xp_chunk_t *c);

/* Frees this thread's free list (at worker exit, so leak checkers stay
 * quiet). */
void xp_chunk_thread_cleanup(void);

#endif
