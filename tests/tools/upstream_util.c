/* xp_upstream's small helpers: byte strings, JSON escaping, query strings,
 * numbers and header list tokens. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/common/mem.h"
#include "tests/tools/upstream.h"

void xpu_buf_add(xpu_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2 + 64;
        b->p = xp_realloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void xpu_buf_addf(xpu_buf_t *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        xpu_buf_add(b, tmp, (size_t)n);
        return;
    }
    char *big = xp_malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    xpu_buf_add(b, big, (size_t)n);
    free(big);
}

void xpu_buf_json(xpu_buf_t *b, const char *p, size_t n, bool lower)
{
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        bool plain = ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\' &&
                     !(lower && ch >= 'A' && ch <= 'Z');
        if (plain) {
            run++;
            continue;
        }
        xpu_buf_add(b, p + i - run, run);
        run = 0;
        if (lower && ch >= 'A' && ch <= 'Z') {
            char l = (char)(ch + 32);
            xpu_buf_add(b, &l, 1);
        } else if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            xpu_buf_add(b, esc, 2);
        } else {
            /* Controls, and obs-text bytes as Latin-1 code points so the
             * JSON stays valid UTF-8. */
            xpu_buf_addf(b, "\\u%04x", ch);
        }
    }
    xpu_buf_add(b, p + n - run, run);
}

void xpu_buf_free(xpu_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

bool xpu_query_get(xp_str_t q, const char *name, int n, xp_str_t *value)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < q.len) {
        size_t j = i;
        while (j < q.len && q.p[j] != '&')
            j++;
        xp_str_t kv = xp_str(q.p + i, j - i);
        if (kv.len >= nl && memcmp(kv.p, name, nl) == 0 && (kv.len == nl || kv.p[nl] == '=')) {
            if (n-- == 0) {
                *value = kv.len == nl ? xp_str("", 0) : xp_str(kv.p + nl + 1, kv.len - nl - 1);
                return true;
            }
        }
        i = j + 1;
    }
    return false;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s into b (a '+' stays a '+'). False on a bad escape. */
bool xpu_pct_decode(xp_str_t s, xpu_buf_t *b)
{
    for (size_t i = 0; i < s.len; i++) {
        char ch = s.p[i];
        if (ch == '%') {
            if (i + 2 >= s.len)
                return false;
            int h = hexval(s.p[i + 1]), l = hexval(s.p[i + 2]);
            if (h < 0 || l < 0)
                return false;
            ch = (char)(h * 16 + l);
            i += 2;
        }
        xpu_buf_add(b, &ch, 1);
    }
    return true;
}

/* RFC 9110 §5.6.2 tchar. */
bool xpu_is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* True when the comma-separated list value contains token (any case). */
bool xpu_list_has_token(xp_str_t v, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t j = i;
        while (j < v.len && v.p[j] != ',')
            j++;
        size_t e = j;
        while (e > i && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e - i == tl && strncasecmp(v.p + i, token, tl) == 0)
            return true;
        i = j;
    }
    return false;
}
