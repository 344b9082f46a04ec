/* The per-virtual-host route index: a radix tree of the literal prefixes of
 * the routes (prefix, path, path_separated_prefix, and the leading literal of
 * each safe_regex). Built once per table generation, read-only afterwards.
 *
 * Memory: one node per distinct branching point of the keys, i.e. at most
 * 2 x routes nodes, plus the key bytes once. Nodes, labels, kid arrays and
 * route lists all come from the index's arena, so building allocates a block
 * per 16 KiB and freeing the index frees the blocks, without walking the
 * tree (docs/bench_history.md: with a malloc'd kid array per node, an RDS
 * update of 10,000 routes ran 8% more instructions). */
#include "proxy/router/router_internal.h"

#include "proxy/common/mem.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct xp__arena_block {
    struct xp__arena_block *next;
    size_t used, size;
    _Alignas(max_align_t) char data[];
};

/* n bytes from ix's arena, aligned for any node; zeroed unless the
 * caller fills them (zero false). */
static void *xp__arena_get(xp__route_index_t *ix, size_t n, bool zero)
{
    n = (n + 15) & ~(size_t)15;
    struct xp__arena_block *b = ix->arena;
    if (b == NULL || b->size - b->used < n) {
        size_t size = n > 16384 ? n : 16384;
        b = xp_malloc(sizeof(*b) + size);
        b->next = ix->arena;
        b->used = 0;
        b->size = size;
        ix->arena = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    if (zero)
        memset(p, 0, n);
    return p;
}

static void *xp__arena_alloc(xp__route_index_t *ix, size_t n)
{
    return xp__arena_get(ix, n, true);
}

/* Grows an array that lives in ix's arena to twice cap (at least min)
 * elements of size sz, keeping the first n; the old one stays in the arena
 * until the index goes (at most as much again as the final arrays). */
static void *xp__arena_grow(xp__route_index_t *ix, void *old, uint32_t n, uint32_t *cap,
                            uint32_t min, size_t sz)
{
    uint32_t c = *cap ? 2 * *cap : min;
    void *v = xp__arena_get(ix, c * sz, false);
    if (n)
        memcpy(v, old, n * sz);
    *cap = c;
    return v;
}

static void xp__idx_push(xp__route_index_t *ix, xp__idxlist_t *l, uint32_t idx)
{
    if (l->cap == 0) {
        l->v = &l->one;
        l->cap = 1;
    } else if (l->n == l->cap) {
        l->v = xp__arena_grow(ix, l->v, l->n, &l->cap, 2, sizeof(*l->v));
    }
    l->v[l->n++] = idx;
}

static xp__rnode_t *xp__rnode_new(xp__route_index_t *ix, const char *label, uint32_t len)
{
    xp__rnode_t *n = xp__arena_alloc(ix, sizeof(*n));
    char *copy = xp__arena_alloc(ix, len + 1);
    memcpy(copy, label, len);
    n->label = copy;
    n->label_len = len;
    return n;
}

static void xp__kid_insert(xp__route_index_t *ix, xp__rnode_t *n, uint32_t pos, xp__rnode_t *kid)
{
    if (n->nkids == n->capkids) {
        uint32_t cap = n->capkids;
        n->kids = xp__arena_grow(ix, n->kids, n->nkids, &cap, 2, sizeof(*n->kids));
        n->kfirst = xp__arena_grow(ix, n->kfirst, n->nkids, &n->capkids, 2, 1);
    }
    memmove(&n->kids[pos + 1], &n->kids[pos], (n->nkids - pos) * sizeof(*n->kids));
    memmove(&n->kfirst[pos + 1], &n->kfirst[pos], n->nkids - pos);
    n->kids[pos] = kid;
    n->kfirst[pos] = (unsigned char)kid->label[0];
    n->nkids++;
}

/* How many leading bytes a[0..n) and b[0..n) share: eight at a time where
 * the byte order lets the lowest differing bit name the byte (the keys of
 * 10,000 workspace routes share their first 15 bytes, and comparing them a
 * byte at a time was two fifths of building their index). */
static uint32_t xp__common(const char *a, const char *b, uint32_t n)
{
    uint32_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return i + (uint32_t)__builtin_ctzll(x ^ y) / 8;
    }
#endif
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* The node for key (created, splitting edges, as needed). */
static xp__rnode_t *xp__rnode_insert(xp__route_index_t *ix, xp__rnode_t *root, const char *key,
                                     size_t len)
{
    xp__rnode_t *n = root;
    size_t pos = 0;
    while (pos < len) {
        unsigned char c = (unsigned char)key[pos];
        uint32_t k = xp__kid_pos(n, c);
        if (k == n->nkids || n->kfirst[k] != c) {
            xp__rnode_t *kid = xp__rnode_new(ix, key + pos, (uint32_t)(len - pos));
            xp__kid_insert(ix, n, k, kid);
            ix->nnodes++;
            return kid;
        }
        xp__rnode_t *kid = n->kids[k];
        uint32_t rest = len - pos < kid->label_len ? (uint32_t)(len - pos) : kid->label_len;
        uint32_t common = xp__common(kid->label, key + pos, rest);
        if (common < kid->label_len) {
            /* Split the edge: n -> mid(label[0..common)) -> kid(rest); both
             * labels stay slices of the one copy in the arena. */
            xp__rnode_t *mid = xp__arena_alloc(ix, sizeof(*mid));
            mid->label = kid->label;
            mid->label_len = common;
            kid->label += common;
            kid->label_len -= common;
            xp__kid_insert(ix, mid, 0, kid);
            n->kids[k] = mid;
            ix->nnodes++;
            kid = mid;
        }
        n = kid;
        pos += common;
    }
    return n;
}

size_t xp__regex_literal_prefix(const char *re, size_t len, char *out, size_t outcap, bool *sep)
{
    *sep = false;
    /* A top-level alternation ("^/a|/b") means no common literal. Scan for
     * '|' outside groups and classes, skipping escapes and \Q...\E. */
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = re[i];
        if (c == '\\') {
            if (i + 1 < len && re[i + 1] == 'Q') {
                const char *e = NULL;
                for (size_t j = i + 2; j + 1 < len; j++)
                    if (re[j] == '\\' && re[j + 1] == 'E') {
                        e = re + j;
                        break;
                    }
                if (e == NULL)
                    break;
                i = (size_t)(e - re) + 1;
            } else {
                i++;
            }
        } else if (c == '[') {
            /* skip the class: a ']' right after '[' or '[^' is literal */
            size_t j = i + 1;
            if (j < len && re[j] == '^')
                j++;
            if (j < len && re[j] == ']')
                j++;
            for (; j < len && re[j] != ']'; j++) {
                if (re[j] == '\\')
                    j++;
                else if (re[j] == '[' && j + 1 < len && re[j + 1] == ':') {
                    const char *e = memchr(re + j + 2, ']', len - j - 2);
                    if (e)
                        j = (size_t)(e - re);
                }
            }
            i = j;
        } else if (c == '(') {
            depth++;
        } else if (c == ')') {
            depth--;
        } else if (c == '|' && depth == 0) {
            return 0;
        }
    }

    size_t i = 0, n = 0;
    if (i < len && re[i] == '^')
        i++;
    while (i < len && n < outcap) {
        char c = re[i];
        char lit;
        if (c == '\\') {
            if (i + 1 >= len || isalnum((unsigned char)re[i + 1]))
                break; /* \d, \w, \b, \1, \Q, ... */
            lit = re[i + 1];
            i += 2;
        } else if (strchr(".[](){}*+?|^$", c) == NULL) {
            lit = c;
            i++;
        } else {
            break;
        }
        /* A quantifier after this literal makes it optional or repeated. */
        char q = i < len ? re[i] : '\0';
        if (q == '*' || q == '?' || q == '{') {
            /* drop it, and the earlier bytes of its UTF-8 character */
            if ((unsigned char)lit >= 0x80) {
                while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
                    n--;
                if (n > 0 && (unsigned char)out[n - 1] >= 0xc0)
                    n--;
            }
            return n;
        }
        out[n++] = lit;
        if (q == '+')
            return n;
    }
    if (n == 0 || i >= len || n >= outcap)
        return n;
    /* Boundary hint: a group whose alternatives are "/" or "$" only, e.g.
     * "(/|$)" or "(?:$|/)", not followed by a quantifier. */
    if (re[i] != '(')
        return n;
    size_t j = i + 1;
    if (j + 1 < len && re[j] == '?' && re[j + 1] == ':')
        j += 2;
    bool any = false;
    for (;;) {
        if (j < len && re[j] == '/')
            j++;
        else if (j + 1 < len && re[j] == '\\' && re[j + 1] == '/')
            j += 2;
        else if (j < len && re[j] == '$')
            j++;
        else
            return n;
        any = true;
        if (j < len && re[j] == '|') {
            j++;
            continue;
        }
        break;
    }
    if (!any || j >= len || re[j] != ')')
        return n;
    j++;
    if (j < len && (re[j] == '*' || re[j] == '?' || re[j] == '{' || re[j] == '+'))
        return n;
    *sep = true;
    return n;
}

/* Works out r's index key once (see xp_route_t.index_key). */
static void xp__route_key(xp_route_t *r)
{
    const xp_route_match_t *m = &r->match;
    size_t cap = m->path.len + 1;
    char *key = xp_malloc(cap);
    size_t klen = 0;
    bool sep = false;
    switch (m->kind) {
    case XP_PATH_PREFIX:
    case XP_PATH_EXACT:
    case XP_PATH_SEPARATED_PREFIX:
        klen = m->path.len;
        for (size_t k = 0; k < klen; k++)
            key[k] = m->case_sensitive ? m->path.p[k] : (char)tolower((unsigned char)m->path.p[k]);
        r->index_key_folded = !m->case_sensitive;
        break;
    case XP_PATH_REGEX:
        klen = xp__regex_literal_prefix(m->path.p, m->path.len, key, cap, &sep);
        break;
    case XP_PATH_CONNECT:
        break;
    }
    r->index_key = key;
    r->index_key_len = (uint32_t)klen;
    r->index_list = m->kind == XP_PATH_EXACT                     ? 2
                    : m->kind == XP_PATH_SEPARATED_PREFIX || sep ? 1
                                                                 : 0;
    r->index_key_done = true;
}

xp__route_index_t *xp__route_index_build(const xp_vhost_t *vh)
{
    xp__route_index_t *ix = xp_calloc(1, sizeof(*ix));
    ix->cs = xp__rnode_new(ix, "", 0);
    ix->ci = xp__rnode_new(ix, "", 0);
    ix->nnodes = 2;
    for (size_t i = 0; i < vh->nroutes; i++) {
        /* Each route is a cache miss of its own (a quarter of the build
         * with 10,000 routes): ask for the next ones early. */
        if (i + 8 < vh->nroutes)
            __builtin_prefetch(vh->routes[i + 8]);
        if (i + 4 < vh->nroutes)
            __builtin_prefetch(vh->routes[i + 4]->index_key);
        xp_route_t *r = vh->routes[i];
        if (!r->index_key_done)
            xp__route_key(r);
        xp__rnode_t *node = xp__rnode_insert(ix, r->index_key_folded ? ix->ci : ix->cs,
                                             r->index_key, r->index_key_len);
        xp__idx_push(ix,
                     r->index_list == 2   ? &node->exact
                     : r->index_list == 1 ? &node->sep
                                          : &node->any,
                     (uint32_t)i);
    }
    return ix;
}

void xp__route_index_free(xp__route_index_t *ix)
{
    if (ix == NULL)
        return;
    while (ix->arena) {
        struct xp__arena_block *next = ix->arena->next;
        free(ix->arena);
        ix->arena = next;
    }
    free(ix);
}
