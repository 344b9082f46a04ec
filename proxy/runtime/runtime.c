#include "proxy/runtime/runtime.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"
#include "proxy/common/xxhash.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- entries ------------------------------------------------------------ */

static bool xp__all_digits(const char *p, size_t n)
{
    if (n && *p == '+') {
        p++;
        n--;
    }
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    return true;
}

void xp_runtime_entry_parse(xp_runtime_entry_t *e)
{
    e->has_bool = e->has_uint = e->has_double = false;
    const char *p = e->raw;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (n == 4 && strncasecmp(p, "true", 4) == 0) {
        e->has_bool = e->bool_value = true;
        return;
    }
    if (n == 5 && strncasecmp(p, "false", 5) == 0) {
        e->has_bool = true;
        e->bool_value = false;
        return;
    }
    if (n == 0 || n > 64)
        return;
    char buf[72];
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (xp__all_digits(buf, n)) {
        /* An integer is a boolean too (Envoy: non-zero is true); one that
         * does not fit 64 bits is not an integer. */
        errno = 0;
        unsigned long long v = strtoull(buf, NULL, 10);
        if (errno == 0) {
            e->has_bool = true;
            e->bool_value = v != 0;
        }
    }
    /* Decimal numbers only: strtod would also take hexadecimal. */
    if (strchr(buf, 'x') || strchr(buf, 'X'))
        return;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end != '\0' || errno == ERANGE)
        return;
    e->has_double = true;
    e->double_value = d;
    if (d >= 0 && d < 18446744073709551616.0) { /* 2^64 */
        e->has_uint = true;
        e->uint_value = (uint64_t)d; /* rounds down, as Envoy does */
    }
}

static void xp__entry_clear(xp_runtime_entry_t *e)
{
    free(e->key);
    free(e->raw);
}

/* ---- layers ------------------------------------------------------------- */

xp_runtime_layer_t *xp_runtime_layer_new(const char *name)
{
    xp_runtime_layer_t *l = xp_calloc(1, sizeof(*l));
    xp_ref_init(&l->ref);
    l->name = xp_strdup(name ? name : "");
    return l;
}

static xp_runtime_entry_t *xp__layer_add(xp_runtime_layer_t *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->entries = xp_realloc(l->entries, l->cap * sizeof(*l->entries));
    }
    xp_runtime_entry_t *e = &l->entries[l->n++];
    memset(e, 0, sizeof(*e));
    return e;
}

xp_runtime_layer_t *xp_runtime_layer_clone(const xp_runtime_layer_t *l)
{
    xp_runtime_layer_t *c = xp_runtime_layer_new(l->name);
    for (size_t i = 0; i < l->n; i++) {
        xp_runtime_entry_t *e = xp__layer_add(c);
        *e = l->entries[i];
        e->key = xp_strdup(l->entries[i].key);
        e->raw = xp_strdup(l->entries[i].raw);
    }
    return c;
}

xp_runtime_entry_t *xp_runtime_layer_put(xp_runtime_layer_t *l, const char *key, const char *raw)
{
    assert(!l->sealed);
    xp_runtime_entry_t *e = xp__layer_add(l);
    e->key = xp_strdup(key);
    e->raw = xp_strdup(raw);
    xp_runtime_entry_parse(e);
    return e;
}

void xp_runtime_layer_remove(xp_runtime_layer_t *l, const char *key)
{
    assert(!l->sealed);
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->entries[i].key, key) == 0)
            xp__entry_clear(&l->entries[i]);
        else
            l->entries[w++] = l->entries[i];
    }
    l->n = w;
}

static const xp_runtime_entry_t *xp__sort_base;

/* By key, then by position, so the last put of a key sorts last. */
static int xp__idx_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(xp__sort_base[x].key, xp__sort_base[y].key);
    return c ? c : (x < y ? -1 : x > y);
}

void xp_runtime_layer_seal(xp_runtime_layer_t *l)
{
    /* Sealing happens on the main thread only, so the comparator's base
     * pointer can be a static. */
    size_t *idx = xp_calloc(l->n + 1, sizeof(*idx));
    for (size_t i = 0; i < l->n; i++)
        idx[i] = i;
    xp__sort_base = l->entries;
    qsort(idx, l->n, sizeof(*idx), xp__idx_cmp);
    xp__sort_base = NULL;
    xp_runtime_entry_t *out = xp_calloc(l->n + 1, sizeof(*out));
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        xp_runtime_entry_t *e = &l->entries[idx[i]];
        if (i + 1 < l->n && strcmp(e->key, l->entries[idx[i + 1]].key) == 0)
            xp__entry_clear(e); /* a later put of the same key wins */
        else
            out[w++] = *e;
    }
    free(idx);
    free(l->entries);
    l->entries = out;
    l->n = l->cap = w;
    l->sealed = true;
}

void xp_runtime_layer_ref(xp_runtime_layer_t *l)
{
    xp_ref_inc(&l->ref);
}

void xp_runtime_layer_unref(xp_runtime_layer_t *l)
{
    if (l == NULL || !xp_ref_dec(&l->ref))
        return;
    for (size_t i = 0; i < l->n; i++)
        xp__entry_clear(&l->entries[i]);
    free(l->entries);
    free(l->name);
    free(l);
}

/* strcmp order between a view and a NUL-terminated key. */
static int xp__key_cmp(xp_str_t k, const char *key)
{
    size_t kl = strlen(key);
    int c = memcmp(k.p, key, k.len < kl ? k.len : kl);
    if (c)
        return c;
    return k.len < kl ? -1 : k.len > kl;
}

static int xp__find_entry(const void *key, const void *elem)
{
    return xp__key_cmp(*(const xp_str_t *)key, ((const xp_runtime_entry_t *)elem)->key);
}

const xp_runtime_entry_t *xp_runtime_layer_find(const xp_runtime_layer_t *l, xp_str_t key)
{
    return bsearch(&key, l->entries, l->n, sizeof(*l->entries), xp__find_entry);
}

/* ---- snapshots ---------------------------------------------------------- */

static _Atomic uint64_t xp__runtimes_alive;
static _Atomic uint64_t xp__generation;

uint64_t xp_runtimes_alive(void)
{
    return atomic_load_explicit(&xp__runtimes_alive, memory_order_relaxed);
}

static int xp__val_cmp(const void *a, const void *b)
{
    const xp_runtime_entry_t *x = *(const xp_runtime_entry_t *const *)a;
    const xp_runtime_entry_t *y = *(const xp_runtime_entry_t *const *)b;
    return strcmp(x->key, y->key);
}

xp_runtime_t *xp_runtime_new(xp_runtime_layer_t *const *layers, size_t n)
{
    xp_runtime_t *rt = xp_calloc(1, sizeof(*rt));
    xp_ref_init(&rt->ref);
    rt->generation = atomic_fetch_add_explicit(&xp__generation, 1, memory_order_relaxed) + 1;
    rt->layers = xp_calloc(n + 1, sizeof(*rt->layers));
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        xp_runtime_layer_ref(layers[i]);
        rt->layers[i] = layers[i];
        total += layers[i]->n;
    }
    rt->n_layers = n;
    /* Walk the layers from the last: the first sight of a key is its final
     * value. Each layer's keys are unique, so a key already taken came from
     * a later layer. O(total log total). */
    const xp_runtime_entry_t **v = xp_calloc(total + 1, sizeof(*v));
    size_t nv = 0;
    for (size_t i = n; i-- > 0;) {
        size_t before = nv;
        for (size_t k = 0; k < layers[i]->n; k++) {
            const xp_runtime_entry_t *e = &layers[i]->entries[k];
            if (bsearch(&e, v, before, sizeof(*v), xp__val_cmp) == NULL)
                v[nv++] = e;
        }
        qsort(v, nv, sizeof(*v), xp__val_cmp);
    }
    rt->values = v;
    rt->n_values = nv;
    size_t cap = 8;
    while (cap < 2 * nv)
        cap *= 2;
    rt->slots = xp_calloc(cap, sizeof(*rt->slots));
    rt->hashes = xp_calloc(nv + 1, sizeof(*rt->hashes));
    rt->mask = cap - 1;
    for (size_t i = 0; i < nv; i++) {
        rt->hashes[i] = xp_xxh64(v[i]->key, strlen(v[i]->key), 0);
        size_t s = rt->hashes[i] & rt->mask;
        while (rt->slots[s])
            s = (s + 1) & rt->mask;
        rt->slots[s] = (uint32_t)i + 1;
    }
    atomic_fetch_add_explicit(&xp__runtimes_alive, 1, memory_order_relaxed);
    return rt;
}

void xp_runtime_ref(xp_runtime_t *rt)
{
    xp_ref_inc(&rt->ref);
}

void xp_runtime_unref(xp_runtime_t *rt)
{
    if (rt == NULL || !xp_ref_dec(&rt->ref))
        return;
    for (size_t i = 0; i < rt->n_layers; i++)
        xp_runtime_layer_unref(rt->layers[i]);
    free(rt->layers);
    free(rt->values);
    free(rt->slots);
    free(rt->hashes);
    free(rt);
    atomic_fetch_sub_explicit(&xp__runtimes_alive, 1, memory_order_relaxed);
}

const xp_runtime_entry_t *xp_runtime_get(const xp_runtime_t *rt, xp_str_t key)
{
    if (rt == NULL || key.len == 0)
        return NULL;
    uint64_t h = xp_xxh64(key.p, key.len, 0);
    for (size_t s = h & rt->mask; rt->slots[s]; s = (s + 1) & rt->mask) {
        size_t i = rt->slots[s] - 1;
        if (rt->hashes[i] == h && xp__key_cmp(key, rt->values[i]->key) == 0)
            return rt->values[i];
    }
    return NULL;
}

bool xp_runtime_get_u64(const xp_runtime_t *rt, xp_str_t key, uint64_t *out)
{
    const xp_runtime_entry_t *e = xp_runtime_get(rt, key);
    if (e == NULL || !e->has_uint)
        return false;
    *out = e->uint_value;
    return true;
}

bool xp_runtime_fraction(void *ctx, xp_str_t key, uint32_t *numerator, uint32_t *denominator)
{
    const xp_runtime_entry_t *e = xp_runtime_get(ctx, key);
    if (e == NULL)
        return false;
    if (e->has_fraction) {
        *numerator = e->numerator;
        *denominator = e->denominator;
        return true;
    }
    if (!e->has_uint)
        return false;
    /* An integer is a percentage; above 100 the feature is always on. */
    if (e->uint_value > 100) {
        *numerator = *denominator = 1;
    } else {
        *numerator = (uint32_t)e->uint_value;
        *denominator = 100;
    }
    return true;
}

/* ---- /runtime ----------------------------------------------------------- */

static void xp__json_str(xp_strbuf_t *b, const char *s)
{
    xp_strbuf_printf(b, "\"");
    xp_strbuf_json_escape(b, s);
    xp_strbuf_printf(b, "\"");
}

char *xp_runtime_render_json(const xp_runtime_t *rt)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "{\n \"layers\": [");
    for (size_t i = 0; rt && i < rt->n_layers; i++) {
        xp_strbuf_printf(&b, "%s\n  ", i ? "," : "");
        xp__json_str(&b, rt->layers[i]->name);
    }
    xp_strbuf_printf(&b, "%s],\n \"entries\": {", rt && rt->n_layers ? "\n " : "");
    for (size_t k = 0; rt && k < rt->n_values; k++) {
        const char *key = rt->values[k]->key;
        /* As Envoy: the final value is the last layer's non-empty one. */
        const char *final = "";
        for (size_t i = 0; i < rt->n_layers; i++) {
            const xp_runtime_entry_t *e = xp_runtime_layer_find(rt->layers[i], xp_str_c(key));
            if (e && e->raw[0])
                final = e->raw;
        }
        xp_strbuf_printf(&b, "%s\n  ", k ? "," : "");
        xp__json_str(&b, key);
        xp_strbuf_printf(&b, ": {\n   \"final_value\": ");
        xp__json_str(&b, final);
        xp_strbuf_printf(&b, ",\n   \"layer_values\": [");
        for (size_t i = 0; i < rt->n_layers; i++) {
            const xp_runtime_entry_t *e = xp_runtime_layer_find(rt->layers[i], xp_str_c(key));
            xp_strbuf_printf(&b, "%s\n    ", i ? "," : "");
            xp__json_str(&b, e ? e->raw : "");
        }
        xp_strbuf_printf(&b, "\n   ]\n  }");
    }
    xp_strbuf_printf(&b, "%s}\n}\n", rt && rt->n_values ? "\n " : "");
    return xp_strbuf_take(&b);
}
