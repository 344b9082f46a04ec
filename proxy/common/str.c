#include "proxy/common/str.h"

#include <stdio.h>

bool xp_http_field_ok(xp_str_t s, xp_field_kind_t kind, char *why, size_t n)
{
    static const char *const what[] = {"a header name", "a header value", "a request path"};
    if (s.len > XP_HTTP_FIELD_MAX) {
        snprintf(why, n, "%zu bytes, longer than %d", s.len, XP_HTTP_FIELD_MAX);
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        bool ok;
        if (kind == XP_FIELD_NAME)
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (c && strchr("!#$%&'*+-.^_`|~", c));
        else
            ok = (c >= 0x20 || c == '\t') && c != 0x7f && !(kind == XP_FIELD_PATH && c == ' ');
        if (!ok) {
            snprintf(why, n, "byte 0x%02x at offset %zu cannot stand in %s", c, i, what[kind]);
            return false;
        }
    }
    return true;
}
