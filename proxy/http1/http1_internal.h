/* Internal to proxy/http1: character classes and small helpers shared by the
 * head parser, the body decoder and the writers. */
#ifndef XP_HTTP1_HTTP1_INTERNAL_H
#define XP_HTTP1_HTTP1_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "proxy/http1/http1.h"

/* Character classes, one bit each, looked up in xp__http1_ctab. */
#define XP__C_TCHAR 1 /* token char, RFC 9110 §5.6.2 */
#define XP__C_FVALUE                                                                               \
    2 /* field-vchar / SP / HTAB / obs-text, RFC 9110 §5.5;                                       \
       * also reason-phrase, RFC 9112 §4 */
#define XP__C_TARGET                                                                               \
    4                   /* request-target byte: VCHAR except "#" (a fragment is                    \
                         * not part of a request-target, RFC 9112 §3.2) */
#define XP__C_HEX    8  /* HEXDIG */
#define XP__C_QDTEXT 16 /* qdtext, RFC 9110 §5.6.4 */
#define XP__C_HOST   32 /* uri-host / port bytes, RFC 3986 §3.2.2 */

extern const uint8_t xp__http1_ctab[256];

static inline int xp__is(unsigned char c, unsigned cls)
{
    return xp__http1_ctab[c] & cls;
}

static inline int xp__is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static inline unsigned char xp__lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* a (any case) equals the lowercase literal b of the same length. */
static inline int xp__eq_lower(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (xp__lower((unsigned char)a[i]) != (unsigned char)b[i])
            return 0;
    return 1;
}

#define XP__EQ_LIT(s, lit) ((s).len == sizeof(lit) - 1 && xp__eq_lower((s).p, lit, sizeof(lit) - 1))

#endif
