/* Scoped routing: key building from request headers, scopes and scope sets. */
#include "proxy/router/scope.h"

#include "proxy/common/mem.h"
#include "proxy/common/xxhash.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- the request's key ------------------------------------------------------ */

void xp_scope_key_builder_clear(xp_scope_key_builder_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        xp_scope_fragment_builder_t *f = &b->fragments[i];
        xp_str_free(&f->name);
        xp_str_free(&f->element_separator);
        xp_str_free(&f->kv_separator);
        xp_str_free(&f->kv_key);
    }
    free(b->fragments);
    b->fragments = NULL;
    b->n = 0;
}

/* The next element of *rest split on sep (sep empty: all of it); false when
 * nothing is left. */
static bool xp__next_element(xp_str_t *rest, bool *done, xp_str_t sep, xp_str_t *elem)
{
    if (*done)
        return false;
    if (sep.len == 0) {
        *elem = *rest;
        *done = true;
        return true;
    }
    for (size_t i = 0; i + sep.len <= rest->len; i++) {
        if (memcmp(rest->p + i, sep.p, sep.len) == 0) {
            *elem = xp_str(rest->p, i);
            rest->p += i + sep.len;
            rest->len -= i + sep.len;
            return true;
        }
    }
    *elem = *rest;
    *done = true;
    return true;
}

static bool xp__fragment(const xp_scope_fragment_builder_t *f, const xp_route_request_t *req,
                         xp_str_t *out)
{
    xp_str_t value;
    if (!xp_route_request_header(req, f->name, &value))
        return false;
    xp_str_t rest = value, elem;
    bool done = false;
    for (uint32_t i = 0; xp__next_element(&rest, &done, f->element_separator, &elem); i++) {
        if (!f->by_key) {
            if (i == f->index) {
                *out = elem;
                return true;
            }
            continue;
        }
        /* key<separator>value, split at the first separator. */
        xp_str_t k = elem, v = xp_str(elem.p + elem.len, 0);
        for (size_t j = 0; j + f->kv_separator.len <= elem.len; j++) {
            if (memcmp(elem.p + j, f->kv_separator.p, f->kv_separator.len) == 0) {
                k = xp_str(elem.p, j);
                v = xp_str(elem.p + j + f->kv_separator.len, elem.len - j - f->kv_separator.len);
                break;
            }
        }
        if (xp_str_eq(k, f->kv_key)) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool xp_scope_key_build(const xp_scope_key_builder_t *b, const xp_route_request_t *req,
                        xp_str_t *out)
{
    for (size_t i = 0; i < b->n; i++)
        if (!xp__fragment(&b->fragments[i], req, &out[i]))
            return false;
    return true;
}

/* ---- scopes ---------------------------------------------------------------- */

static atomic_ulong xp__scopes_alive;

unsigned long xp_scopes_alive(void)
{
    return atomic_load_explicit(&xp__scopes_alive, memory_order_relaxed);
}

uint64_t xp_scope_key_hash(const xp_str_t *key, size_t n)
{
    uint64_t h = n;
    for (size_t i = 0; i < n; i++)
        h = xp_xxh64(key[i].p, key[i].len, h + key[i].len);
    return h;
}

xp_scope_t *xp_scope_new(const char *name, const xp_str_t *key, size_t nkey, const char *rds_name,
                         struct xp_route_table *table, bool on_demand)
{
    xp_scope_t *s = xp_calloc(1, sizeof(*s));
    xp_ref_init(&s->ref);
    atomic_fetch_add_explicit(&xp__scopes_alive, 1, memory_order_relaxed);
    s->name = xp_strdup(name ? name : "");
    s->key = xp_calloc(nkey + 1, sizeof(*s->key));
    for (size_t i = 0; i < nkey; i++)
        s->key[i] = xp_str_dup(key[i]);
    s->nkey = nkey;
    s->hash = xp_scope_key_hash(s->key, nkey);
    s->rds_name = rds_name ? xp_strdup(rds_name) : NULL;
    s->table = table;
    s->on_demand = on_demand;
    return s;
}

xp_scope_t *xp_scope_ref(xp_scope_t *s)
{
    xp_ref_inc(&s->ref);
    return s;
}

void xp_scope_unref(xp_scope_t *s)
{
    if (s == NULL || !xp_ref_dec(&s->ref))
        return;
    atomic_fetch_sub_explicit(&xp__scopes_alive, 1, memory_order_relaxed);
    for (size_t i = 0; i < s->nkey; i++)
        xp_str_free(&s->key[i]);
    free(s->key);
    free(s->name);
    free(s->rds_name);
    if (s->table)
        xp_route_table_unref(s->table);
    free(s);
}

int xp_scope_key_cmp(const xp_str_t *a, size_t na, const xp_str_t *b, size_t nb)
{
    if (na != nb)
        return na < nb ? -1 : 1;
    for (size_t i = 0; i < na; i++) {
        if (a[i].len != b[i].len)
            return a[i].len < b[i].len ? -1 : 1;
        int c = a[i].len ? memcmp(a[i].p, b[i].p, a[i].len) : 0;
        if (c)
            return c;
    }
    return 0;
}

static int xp__scope_cmp(const void *x, const void *y)
{
    const xp_scope_t *a = *(xp_scope_t *const *)x, *b = *(xp_scope_t *const *)y;
    return xp_scope_key_cmp(a->key, a->nkey, b->key, b->nkey);
}

void xp_scopes_sort(xp_scope_t **v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), xp__scope_cmp);
}

size_t xp_scopes_find_dup(xp_scope_t *const *v, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (xp__scope_cmp(&v[i], &v[i + 1]) == 0)
            return i;
    return n;
}

/* ---- scope sets -------------------------------------------------------------- */

xp_scope_set_t *xp_scope_set_new(const char *name, xp_scope_t *const *scopes, size_t n)
{
    xp_scope_set_t *s = xp_calloc(1, sizeof(*s));
    xp_ref_init(&s->ref);
    s->name = xp_strdup(name ? name : "");
    s->scopes = xp_calloc(n + 1, sizeof(*s->scopes));
    for (size_t i = 0; i < n; i++)
        s->scopes[i] = xp_scope_ref(scopes[i]);
    s->n = n;
    xp_scopes_sort(s->scopes, n);
    size_t cap = 4;
    while (cap < 2 * n)
        cap *= 2;
    s->slots = xp_calloc(cap, sizeof(*s->slots));
    s->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        size_t k = s->scopes[i]->hash & s->mask;
        while (s->slots[k])
            k = (k + 1) & s->mask;
        s->slots[k] = s->scopes[i];
    }
    return s;
}

xp_scope_set_t *xp_scope_set_ref(xp_scope_set_t *s)
{
    xp_ref_inc(&s->ref);
    return s;
}

void xp_scope_set_unref(xp_scope_set_t *s)
{
    if (s == NULL || !xp_ref_dec(&s->ref))
        return;
    for (size_t i = 0; i < s->n; i++)
        xp_scope_unref(s->scopes[i]);
    free(s->scopes);
    free(s->slots);
    free(s->name);
    free(s);
}

bool xp_scope_set_same(const xp_scope_set_t *s, xp_scope_t *const *v, size_t n)
{
    if (s->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s->scopes[i] != v[i])
            return false;
    return true;
}

const xp_scope_t *xp_scope_set_find(const xp_scope_set_t *s, const xp_str_t *key, size_t n)
{
    uint64_t h = xp_scope_key_hash(key, n);
    for (size_t k = h & s->mask; s->slots[k]; k = (k + 1) & s->mask) {
        const xp_scope_t *sc = s->slots[k];
        if (sc->hash == h && xp_scope_key_cmp(sc->key, sc->nkey, key, n) == 0)
            return sc;
    }
    return NULL;
}
