/* A growable NUL-terminated string for building responses and dumps
 * (admin output, stats rendering). Appends are amortised O(1). */
#ifndef XP_COMMON_STRBUF_H
#define XP_COMMON_STRBUF_H

#include <stddef.h>

typedef struct {
    char *p; /* always NUL-terminated once initialised */
    size_t len, cap;
} xp_strbuf_t;

void xp_strbuf_init(xp_strbuf_t *b);
void xp_strbuf_printf(xp_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with JSON string escaping (no surrounding quotes). */
void xp_strbuf_json_escape(xp_strbuf_t *b, const char *s);
/* The string, now owned by the caller (free()); b is left empty. */
char *xp_strbuf_take(xp_strbuf_t *b);

#endif
