#include "proxy/common/strbuf.h"
#include "proxy/common/mem.h"

#include <stdarg.h>
#include <stdio.h>

void xp_strbuf_init(xp_strbuf_t *b)
{
    b->cap = 256;
    b->len = 0;
    b->p = xp_malloc(b->cap);
    b->p[0] = '\0';
}

void xp_strbuf_printf(xp_strbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p + b->len, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n;
        b->p = xp_realloc(b->p, b->cap);
    }
}

void xp_strbuf_json_escape(xp_strbuf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            xp_strbuf_printf(b, "\\%c", c);
        else if (c < 0x20)
            xp_strbuf_printf(b, "\\u%04x", c);
        else
            xp_strbuf_printf(b, "%c", c);
    }
}

char *xp_strbuf_take(xp_strbuf_t *b)
{
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
