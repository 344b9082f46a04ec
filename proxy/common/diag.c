#include "proxy/common/diag.h"
#include "proxy/common/mem.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void xp_diag_init(xp_diag_t *d)
{
    memset(d, 0, sizeof(*d));
}

void xp_diag_free(xp_diag_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].path);
        free(d->v[i].msg);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

void xp_diag_add(xp_diag_t *d, xp_diag_sev_t sev, const char *path, const char *fmt, ...)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 8;
        d->v = xp_realloc(d->v, d->cap * sizeof(*d->v));
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *msg = xp_malloc((size_t)(n < 0 ? 0 : n) + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap);
    va_end(ap);
    xp_diag_entry_t *e = &d->v[d->n++];
    e->sev = sev;
    e->path = xp_strdup(path ? path : "");
    e->msg = msg;
    if (sev == XP_DIAG_ERROR)
        d->nerrors++;
}

static const char *xp__sev_name(xp_diag_sev_t sev)
{
    return sev == XP_DIAG_ERROR ? "error" : "warning";
}

void xp_diag_print(const xp_diag_t *d, FILE *f, const char *prefix)
{
    for (size_t i = 0; i < d->n; i++) {
        const xp_diag_entry_t *e = &d->v[i];
        if (e->path[0])
            fprintf(f, "%s%s: %s: %s\n", prefix ? prefix : "", xp__sev_name(e->sev), e->path,
                    e->msg);
        else
            fprintf(f, "%s%s: %s\n", prefix ? prefix : "", xp__sev_name(e->sev), e->msg);
    }
}

char *xp_diag_join(const xp_diag_t *d, xp_diag_sev_t sev)
{
    size_t total = 1;
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].sev <= sev)
            total += strlen(d->v[i].path) + strlen(d->v[i].msg) + 4;
    char *out = xp_malloc(total);
    size_t len = 0;
    for (size_t i = 0; i < d->n; i++) {
        const xp_diag_entry_t *e = &d->v[i];
        if (e->sev > sev)
            continue;
        len += (size_t)sprintf(out + len, "%s%s%s%s", len ? "; " : "", e->path,
                               e->path[0] ? ": " : "", e->msg);
    }
    out[len] = '\0';
    return out;
}

void xp_path_init(xp_path_t *p, const char *root)
{
    p->len = 0;
    p->buf[0] = '\0';
    if (root && root[0])
        xp_path_push_field(p, root);
}

static void xp__path_append(xp_path_t *p, const char *s)
{
    size_t n = strlen(s);
    if (p->len + n + 4 >= sizeof(p->buf)) {
        if (p->len + 4 < sizeof(p->buf)) {
            memcpy(p->buf + p->len, "...", 4);
            p->len += 3;
        }
        return;
    }
    memcpy(p->buf + p->len, s, n + 1);
    p->len += n;
}

size_t xp_path_push_field(xp_path_t *p, const char *field)
{
    size_t mark = p->len;
    if (p->len)
        xp__path_append(p, ".");
    xp__path_append(p, field);
    return mark;
}

size_t xp_path_push_index(xp_path_t *p, size_t index)
{
    size_t mark = p->len;
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "[%zu]", index);
    xp__path_append(p, tmp);
    return mark;
}

size_t xp_path_push_key(xp_path_t *p, const char *key)
{
    size_t mark = p->len;
    xp__path_append(p, "[\"");
    xp__path_append(p, key);
    xp__path_append(p, "\"]");
    return mark;
}

void xp_path_pop(xp_path_t *p, size_t mark)
{
    if (mark <= p->len) {
        p->len = mark;
        p->buf[mark] = '\0';
    }
}
