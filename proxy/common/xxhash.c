#include "proxy/common/xxhash.h"

#include <string.h>

#define XP__XXP1 0x9E3779B185EBCA87ULL
#define XP__XXP2 0xC2B2AE3D27D4EB4FULL
#define XP__XXP3 0x165667B19E3779F9ULL
#define XP__XXP4 0x85EBCA77C2B2AE63ULL
#define XP__XXP5 0x27D4EB2F165667C5ULL

static inline uint64_t xp__rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* The specification reads lanes little-endian. */
static inline uint64_t xp__le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t xp__le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t xp__xxround(uint64_t acc, uint64_t lane)
{
    acc += lane * XP__XXP2;
    acc = xp__rotl64(acc, 31);
    return acc * XP__XXP1;
}

static inline uint64_t xp__xxmerge(uint64_t acc, uint64_t v)
{
    acc ^= xp__xxround(0, v);
    return acc * XP__XXP1 + XP__XXP4;
}

uint64_t xp_xxh64(const void *data, size_t len, uint64_t seed)
{
    const uint8_t *p = data, *end = p + len;
    uint64_t acc;
    if (len >= 32) {
        uint64_t v1 = seed + XP__XXP1 + XP__XXP2, v2 = seed + XP__XXP2, v3 = seed,
                 v4 = seed - XP__XXP1;
        const uint8_t *limit = end - 32;
        do {
            v1 = xp__xxround(v1, xp__le64(p));
            v2 = xp__xxround(v2, xp__le64(p + 8));
            v3 = xp__xxround(v3, xp__le64(p + 16));
            v4 = xp__xxround(v4, xp__le64(p + 24));
            p += 32;
        } while (p <= limit);
        acc = xp__rotl64(v1, 1) + xp__rotl64(v2, 7) + xp__rotl64(v3, 12) + xp__rotl64(v4, 18);
        acc = xp__xxmerge(acc, v1);
        acc = xp__xxmerge(acc, v2);
        acc = xp__xxmerge(acc, v3);
        acc = xp__xxmerge(acc, v4);
    } else {
        acc = seed + XP__XXP5;
    }
    acc += (uint64_t)len;
    for (; end - p >= 8; p += 8) {
        acc ^= xp__xxround(0, xp__le64(p));
        acc = xp__rotl64(acc, 27) * XP__XXP1 + XP__XXP4;
    }
    if (end - p >= 4) {
        acc ^= (uint64_t)xp__le32(p) * XP__XXP1;
        acc = xp__rotl64(acc, 23) * XP__XXP2 + XP__XXP3;
        p += 4;
    }
    for (; p < end; p++) {
        acc ^= (uint64_t)*p * XP__XXP5;
        acc = xp__rotl64(acc, 11) * XP__XXP1;
    }
    acc ^= acc >> 33;
    acc *= XP__XXP2;
    acc ^= acc >> 29;
    acc *= XP__XXP3;
    acc ^= acc >> 32;
    return acc;
}
