/* XXH64 (the xxHash specification), the hash Envoy uses for hash policies
 * and consistent-hashing load balancers. */
#ifndef XP_COMMON_XXHASH_H
#define XP_COMMON_XXHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t xp_xxh64(const void *data, size_t len, uint64_t seed);

#endif
