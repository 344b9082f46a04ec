/* The per-virtual-host route index: a radix tree of the literal prefixes of
 * the routes (prefix, path, path_separated_prefix, and the leading literal of
 * each safe_regex). Read-only once made; each table generation has its own.
 *
 * Memory: one node per distinct branching point of the keys, i.e. at most
 * 2 x routes nodes, plus the key bytes once. The nodes are one array and
 * their labels, kid arrays and longer route lists one data arena, and they
 * refer to each other by number and offset: building allocates no more
 * than the two arrays' growth, freeing frees two blocks, and the next
 * generation of a virtual host that changed in a few routes copies both and
 * patches the copy (xp__route_index_next) instead of building it again
 * (docs/bench_history.md: RDS updates of 10,000 routes). */
#include "proxy/router/router_internal.h"

#include "proxy/common/mem.h"

#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* A node by number, valid until the next allocation (which may move the
 * node array or the data arena). */
static xp__rnode_t *xp__node(xp__route_index_t *ix, uint32_t n)
{
    return &ix->nodes[n];
}

static void *xp__at(xp__route_index_t *ix, uint32_t off)
{
    return ix->data + off;
}

/* n bytes from ix's data arena, 4-byte aligned, for the caller to fill:
 * their offset. Moves the arena when it grows. */
static uint32_t xp__data_get(xp__route_index_t *ix, size_t n)
{
    n = (n + 3) & ~(size_t)3;
    if (ix->cap - ix->used < n) {
        size_t cap = ix->cap ? ix->cap : 16384;
        while (cap - ix->used < n)
            cap *= 2;
        if (cap > UINT32_MAX) /* offsets are 32 bits: 4 GiB of keys */
            abort();
        ix->data = xp_realloc(ix->data, cap);
        ix->cap = (uint32_t)cap;
    }
    uint32_t off = ix->used;
    ix->used += (uint32_t)n;
    return off;
}

/* A new node (zeroed but for its label): its number. Moves the node array
 * when it grows. */
static uint32_t xp__node_new(xp__route_index_t *ix, uint32_t label, uint32_t label_len)
{
    if (ix->nnodes == ix->capnodes) {
        ix->capnodes = ix->capnodes ? 2 * ix->capnodes : 64;
        ix->nodes = xp_realloc(ix->nodes, ix->capnodes * sizeof(*ix->nodes));
    }
    xp__rnode_t *n = &ix->nodes[ix->nnodes];
    memset(n, 0, sizeof(*n));
    n->label = label;
    n->label_len = label_len;
    return ix->nnodes++;
}

/* Grows an array at data offset *off to twice cap (at least min) elements
 * of size sz, keeping the first n; the old one stays in the arena until the
 * index goes (at most as much again as the final arrays). */
static void xp__data_grow(xp__route_index_t *ix, uint32_t *off, uint32_t n, uint32_t *cap,
                          uint32_t min, size_t sz)
{
    uint32_t c = *cap ? 2 * *cap : min;
    uint32_t v = xp__data_get(ix, c * sz);
    if (n)
        memcpy(ix->data + v, ix->data + *off, n * sz);
    *off = v;
    *cap = c;
}

/* Puts idx into list `which` of node `node`, keeping it ascending (a full
 * build adds in order, so at the end; a patch may add in the middle). */
static void xp__idx_add(xp__route_index_t *ix, uint32_t node, int which, uint32_t idx)
{
    xp__idxlist_t *l = &xp__node(ix, node)->lists[which];
    if (l->cap == 0) {
        l->cap = 1;
        l->n = 1;
        l->at = idx;
        return;
    }
    if (l->n == l->cap) {
        uint32_t off = l->at, cap = l->cap;
        if (cap == 1) { /* the one entry leaves the node for the arena */
            off = xp__data_get(ix, 2 * sizeof(uint32_t));
            memcpy(ix->data + off, &l->at, sizeof(l->at)); /* nodes did not move */
            cap = 2;
        } else {
            xp__data_grow(ix, &off, l->n, &cap, 2, sizeof(uint32_t));
        }
        l = &xp__node(ix, node)->lists[which];
        l->at = off;
        l->cap = cap;
    }
    uint32_t *v = (uint32_t *)xp__idx_v(ix, l);
    uint32_t i = l->n;
    while (i > 0 && v[i - 1] > idx) {
        v[i] = v[i - 1];
        i--;
    }
    v[i] = idx;
    l->n++;
}

/* Takes idx out of list `which` of node `node`: false when it is not
 * there. */
static bool xp__idx_remove(xp__route_index_t *ix, uint32_t node, int which, uint32_t idx)
{
    xp__idxlist_t *l = &xp__node(ix, node)->lists[which];
    uint32_t *v = (uint32_t *)xp__idx_v(ix, l);
    for (uint32_t i = 0; i < l->n; i++) {
        if (v[i] == idx) {
            memmove(&v[i], &v[i + 1], (l->n - i - 1) * sizeof(*v));
            l->n--;
            return true;
        }
    }
    return false;
}

static void xp__kid_insert(xp__route_index_t *ix, uint32_t node, uint32_t pos, uint32_t kid)
{
    xp__rnode_t *n = xp__node(ix, node);
    if (n->nkids == n->capkids) {
        uint32_t kids = n->kids, kfirst = n->kfirst, cap = n->capkids, cap2 = n->capkids;
        xp__data_grow(ix, &kids, n->nkids, &cap, 2, sizeof(uint32_t));
        n = xp__node(ix, node);
        xp__data_grow(ix, &kfirst, n->nkids, &cap2, 2, 1);
        n = xp__node(ix, node);
        n->kids = kids;
        n->kfirst = kfirst;
        n->capkids = cap;
    }
    uint32_t *kv = xp__at(ix, n->kids);
    unsigned char *kf = xp__at(ix, n->kfirst);
    memmove(&kv[pos + 1], &kv[pos], (n->nkids - pos) * sizeof(*kv));
    memmove(&kf[pos + 1], &kf[pos], n->nkids - pos);
    kv[pos] = kid;
    kf[pos] = *(const unsigned char *)xp__at(ix, xp__node(ix, kid)->label);
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

/* The node for key under root (created, splitting edges, as needed). */
static uint32_t xp__rnode_insert(xp__route_index_t *ix, uint32_t root, const char *key, size_t len)
{
    uint32_t node = root;
    size_t pos = 0;
    while (pos < len) {
        unsigned char c = (unsigned char)key[pos];
        const xp__rnode_t *n = xp__node(ix, node);
        uint32_t k = xp__kid_pos(ix, n, c);
        if (k == n->nkids || xp__kfirst(ix, n)[k] != c) {
            uint32_t label = xp__data_get(ix, len - pos);
            memcpy(ix->data + label, key + pos, len - pos);
            uint32_t kid = xp__node_new(ix, label, (uint32_t)(len - pos));
            xp__kid_insert(ix, node, k, kid);
            return kid;
        }
        uint32_t kid = xp__kids(ix, n)[k];
        const xp__rnode_t *kn = xp__node(ix, kid);
        uint32_t rest = len - pos < kn->label_len ? (uint32_t)(len - pos) : kn->label_len;
        uint32_t common = xp__common(ix->data + kn->label, key + pos, rest);
        if (common < kn->label_len) {
            /* Split the edge: node -> mid(label[0..common)) -> kid(rest);
             * both labels stay slices of the one copy in the arena. */
            uint32_t mid = xp__node_new(ix, kn->label, common);
            xp__rnode_t *kp = xp__node(ix, kid);
            kp->label += common;
            kp->label_len -= common;
            xp__kid_insert(ix, mid, 0, kid);
            ((uint32_t *)xp__at(ix, xp__node(ix, node)->kids))[k] = mid;
            kid = mid;
        }
        node = kid;
        pos += common;
    }
    return node;
}

/* The node whose key is exactly key, or UINT32_MAX. */
static uint32_t xp__rnode_find(xp__route_index_t *ix, uint32_t root, const char *key, size_t len)
{
    uint32_t node = root;
    size_t pos = 0;
    while (pos < len) {
        const xp__rnode_t *n = xp__node(ix, node);
        unsigned char c = (unsigned char)key[pos];
        uint32_t k = xp__kid_pos(ix, n, c);
        if (k == n->nkids || xp__kfirst(ix, n)[k] != c)
            return UINT32_MAX;
        node = xp__kids(ix, n)[k];
        n = xp__node(ix, node);
        if (n->label_len > len - pos || memcmp(ix->data + n->label, key + pos, n->label_len) != 0)
            return UINT32_MAX;
        pos += n->label_len;
    }
    return node;
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
    r->index_list = m->kind == XP_PATH_EXACT                     ? XP__LIST_EXACT
                    : m->kind == XP_PATH_SEPARATED_PREFIX || sep ? XP__LIST_SEP
                                                                 : XP__LIST_ANY;
    r->index_key_done = true;
}

/* Routes at positions from..to of vh into ix. */
static void xp__index_add(xp__route_index_t *ix, const xp_vhost_t *vh, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        /* Each route is a cache miss of its own (a quarter of the build
         * with 10,000 routes): ask for the next ones early. */
        if (i + 8 < to)
            __builtin_prefetch(vh->routes[i + 8]);
        if (i + 4 < to)
            __builtin_prefetch(vh->routes[i + 4]->index_key);
        xp_route_t *r = vh->routes[i];
        if (!r->index_key_done)
            xp__route_key(r);
        uint32_t node = xp__rnode_insert(ix, r->index_key_folded ? XP__ROOT_CI : XP__ROOT_CS,
                                         r->index_key, r->index_key_len);
        xp__idx_add(ix, node, r->index_list, (uint32_t)i);
    }
}

xp__route_index_t *xp__route_index_build(const xp_vhost_t *vh)
{
    xp__route_index_t *ix = xp_calloc(1, sizeof(*ix));
    ix->cap = 16384;
    ix->data = xp_malloc(ix->cap);
    xp__node_new(ix, 0, 0); /* XP__ROOT_CS and XP__ROOT_CI: empty labels */
    xp__node_new(ix, 0, 0);
    xp__index_add(ix, vh, 0, vh->nroutes);
    ix->built_nodes = ix->nnodes;
    ix->built_used = ix->used;
    return ix;
}

/* Patches: a generation made from the last full build at most this many
 * times in a row, and while the copy has not grown by half of that build
 * (what removed routes leave behind: their nodes, if no other route keeps
 * them, and the grown arrays' old copies). */
#define XP__PATCHES_MAX 64

xp__route_index_t *xp__route_index_next(const xp_vhost_t *vh, const xp_vhost_t *prev)
{
    const xp__route_index_t *old = prev ? prev->index : NULL;
    if (old == NULL || old->patches >= XP__PATCHES_MAX ||
        old->nnodes > old->built_nodes + old->built_nodes / 2 ||
        old->used > old->built_used + old->built_used / 2)
        return xp__route_index_build(vh);
    /* The same route objects at the start and at the end: the routes in
     * between (old [head, m - tail), new [head, n - tail)) are patched. */
    size_t n = vh->nroutes, m = prev->nroutes, head, tail;
    xp_vhost_common_ends(vh, prev, &head, &tail);
    size_t out = m - head - tail, in = n - head - tail;
    if (out + in > 64 + n / 16)
        return xp__route_index_build(vh);

    xp__route_index_t *ix = xp_malloc(sizeof(*ix));
    *ix = *old;
    ix->nodes = xp_malloc((size_t)old->capnodes * sizeof(*ix->nodes));
    memcpy(ix->nodes, old->nodes, (size_t)old->nnodes * sizeof(*ix->nodes));
    ix->data = xp_malloc(old->cap);
    memcpy(ix->data, old->data, old->used);
    ix->patches = old->patches + 1;
    for (size_t i = head; i < m - tail; i++) {
        const xp_route_t *r = prev->routes[i];
        uint32_t node = xp__rnode_find(ix, r->index_key_folded ? XP__ROOT_CI : XP__ROOT_CS,
                                       r->index_key, r->index_key_len);
        if (node == UINT32_MAX || !xp__idx_remove(ix, node, r->index_list, (uint32_t)i)) {
            xp__route_index_free(ix); /* cannot happen: prev's index has it */
            return xp__route_index_build(vh);
        }
    }
    if (n != m) { /* the routes after the patch move by n - m */
        uint32_t from = (uint32_t)(m - tail);
        uint32_t delta = (uint32_t)(n - m); /* modulo 2^32: adding it moves down, too */
        for (uint32_t k = 0; k < ix->nnodes; k++) {
            xp__rnode_t *nd = &ix->nodes[k];
            for (int w = 0; w < 3; w++) {
                xp__idxlist_t *l = &nd->lists[w];
                uint32_t *v = (uint32_t *)xp__idx_v(ix, l);
                for (uint32_t j = l->n; j > 0 && v[j - 1] >= from; j--)
                    v[j - 1] += delta;
            }
        }
    }
    xp__index_add(ix, vh, head, n - tail);
    return ix;
}

unsigned xp_vhost_index_patches(const xp_vhost_t *vh)
{
    return vh->index ? vh->index->patches : 0;
}

void xp__route_index_free(xp__route_index_t *ix)
{
    if (ix == NULL)
        return;
    free(ix->nodes);
    free(ix->data);
    free(ix);
}
