/* Non-owning string views. Most protocol code works on spans of a read
 * buffer, never NUL-terminated copies. */
#ifndef XP_COMMON_STR_H
#define XP_COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *p;
    size_t len;
} xp_str_t;

#define XP_STR_LIT(s) ((xp_str_t){(s), sizeof(s) - 1})

static inline xp_str_t xp_str(const char *p, size_t len)
{
    return (xp_str_t){p, len};
}

static inline xp_str_t xp_str_c(const char *s)
{
    return (xp_str_t){s, s ? strlen(s) : 0};
}

static inline bool xp_str_eq(xp_str_t a, xp_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool xp_str_eq_nocase(xp_str_t a, xp_str_t b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.p, b.p, a.len) == 0);
}

static inline bool xp_str_has_prefix(xp_str_t s, xp_str_t prefix)
{
    return s.len >= prefix.len && memcmp(s.p, prefix.p, prefix.len) == 0;
}

static inline int xp_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Writes v in decimal to out, which has room for 20 bytes (no NUL);
 * returns the length. For the data path, where snprintf costs more than the
 * rest of a header's handling. */
static inline size_t xp_u64_dec(char *out, unsigned long long v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Reads s as a decimal count: digits only, no sign, at most max; false
 * otherwise (also on overflow). */
static inline bool xp_str_to_u64(xp_str_t s, uint64_t max, uint64_t *out)
{
    if (s.len == 0 || s.len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Writes the low 4 * digits bits of v as that many lowercase hex digits,
 * zero-padded, to out (no NUL); returns out + digits. */
static inline char *xp_hex_fixed(char *out, unsigned long long v, int digits)
{
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = "0123456789abcdef"[v & 0xf];
    return out + digits;
}

/* Percent-decodes s (RFC 3986 §2.1) into out, which has room for s.len
 * bytes; a '%' not followed by two hex digits stays as it is. Returns the
 * decoded length. */
static inline size_t xp_str_pct_decode(xp_str_t s, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        int hi, lo;
        if (s.p[i] == '%' && i + 2 < s.len && (hi = xp_hex_digit(s.p[i + 1])) >= 0 &&
            (lo = xp_hex_digit(s.p[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = s.p[i];
        }
    }
    return n;
}

/* The longest header name or value a configuration may give (Envoy's
 * HeaderValue limit). */
#define XP_HTTP_FIELD_MAX 16384

/* What a configured string will be written as. */
typedef enum {
    XP_FIELD_NAME,  /* a header name: token characters (RFC 9110 §5.6.2) */
    XP_FIELD_VALUE, /* a header value: no control character but HTAB (§5.5) */
    XP_FIELD_PATH,  /* a request path: a header value's bytes but SP */
} xp_field_kind_t;

/* Checks s, taken from configuration, as what it will be written as.
 * Returns true when it may stand there; otherwise writes what is wrong and
 * where to why. */
bool xp_http_field_ok(xp_str_t s, xp_field_kind_t kind, char *why, size_t n);

/* A header field as it sits in a buffer: name and value are views. */
typedef struct {
    xp_str_t name;
    xp_str_t value;
} xp_header_t;

#endif
