/* An open-addressing map from non-zero 64-bit keys (hashes, pointers) to
 * pointers, sized once for a known number of entries: O(1) lookups where a
 * scan or a sort per update would cost O(n) or O(n log n). Owned by its
 * creator; keys and values are not owned. */
#ifndef XP_COMMON_U64MAP_H
#define XP_COMMON_U64MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys; /* 0: empty slot */
    void **vals;
    size_t mask;
} xp_u64map_t;

/* An empty map for at most n entries (load factor at most 1/2). */
void xp_u64map_init(xp_u64map_t *m, size_t n);
/* Adds key -> val unless key is already there (the first value stays).
 * Key 0 is ignored. At most the n given to init. */
void xp_u64map_put(xp_u64map_t *m, uint64_t key, void *val);
/* The value for key, or NULL. */
void *xp_u64map_get(const xp_u64map_t *m, uint64_t key);
void xp_u64map_free(xp_u64map_t *m);

#endif
