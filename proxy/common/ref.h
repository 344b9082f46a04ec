/* Reference counts for immutable shared objects (config generations).
 * Atomic, because workers release what the main thread created. Take and
 * drop references per connection or per stream, never per byte. */
#ifndef XP_COMMON_REF_H
#define XP_COMMON_REF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    _Atomic uint32_t n;
} xp_ref_t;

static inline void xp_ref_init(xp_ref_t *r)
{
    atomic_init(&r->n, 1);
}

static inline void xp_ref_inc(xp_ref_t *r)
{
    atomic_fetch_add_explicit(&r->n, 1, memory_order_relaxed);
}

/* True when this was the last reference: the caller frees the object. */
static inline bool xp_ref_dec(xp_ref_t *r)
{
    return atomic_fetch_sub_explicit(&r->n, 1, memory_order_acq_rel) == 1;
}

static inline uint32_t xp_ref_count(const xp_ref_t *r)
{
    return atomic_load_explicit(&((xp_ref_t *)r)->n, memory_order_relaxed);
}

#endif
