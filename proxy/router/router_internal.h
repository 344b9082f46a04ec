/* Internals of proxy/router shared by its .c files only. */
#ifndef XP_ROUTER_ROUTER_INTERNAL_H
#define XP_ROUTER_ROUTER_INTERNAL_H

#include "proxy/router/route.h"

#include <pcre2.h>

struct xp_regex {
    pcre2_code *code;
    xp_str_t pattern;
    uint32_t ncaptures;
    bool jit; /* compiled for PCRE2's JIT: matched through pcre2_jit_match */
};

/* The calling thread's cached match data (at least 16 ovector pairs). */
pcre2_match_data *xp__regex_md(void);

/* A growable array of route indexes, ascending. Most hold one entry, which
 * is kept in `at` itself so it costs no allocation; a longer one lives in
 * the index's data arena at offset `at`. */
typedef struct {
    uint32_t n, cap;
    uint32_t at;
} xp__idxlist_t;

/* A radix-tree node. `label` is the edge from the parent; children are
 * sorted by the first byte of their labels. Routes whose literal key ends at
 * this node are listed by how the rest of the path must look:
 *   any   - anything may follow (prefix, regexes with no boundary hint);
 *   sep   - end of path (before '?') or '/' must follow
 *           (path_separated_prefix, regexes like "^/x(/|$)...");
 *   exact - the path (before '?') must end here (match.path).
 * Nodes refer to each other by their number in the index's node array and
 * to their bytes by offsets into its data arena, never by pointer: copying
 * the two arrays copies the tree (see xp__route_index_next). */
typedef struct xp__rnode {
    uint32_t label, label_len; /* data offset; not NUL-terminated */
    uint32_t nkids, capkids;
    uint32_t kids;          /* data offset of capkids node numbers */
    uint32_t kfirst;        /* data offset of capkids bytes: each kid's first label
                             * byte, searched without touching the kids */
    xp__idxlist_t lists[3]; /* XP__LIST_ANY, _SEP, _EXACT */
} xp__rnode_t;

/* The lists of a node, by xp_route_t.index_list. */
enum { XP__LIST_ANY, XP__LIST_SEP, XP__LIST_EXACT };
/* The two roots, by node number. */
enum { XP__ROOT_CS, XP__ROOT_CI };

struct xp__route_index {
    xp__rnode_t *nodes; /* [XP__ROOT_CS] case-sensitive keys (and every
                         * regex), [XP__ROOT_CI] lower-cased keys of
                         * case-insensitive routes */
    uint32_t nnodes, capnodes;
    char *data; /* labels, kid arrays and longer route lists */
    uint32_t used, cap;
    /* How many generations were patched from a full build (bounded, so
     * what removals leave behind cannot pile up), and the sizes that build
     * had. */
    uint32_t patches, built_nodes, built_used;
};

static inline const uint32_t *xp__idx_v(const xp__route_index_t *ix, const xp__idxlist_t *l)
{
    return l->cap <= 1 ? &l->at : (const uint32_t *)(const void *)(ix->data + l->at);
}

static inline const uint32_t *xp__kids(const xp__route_index_t *ix, const xp__rnode_t *n)
{
    return (const uint32_t *)(const void *)(ix->data + n->kids);
}

static inline const unsigned char *xp__kfirst(const xp__route_index_t *ix, const xp__rnode_t *n)
{
    return (const unsigned char *)ix->data + n->kfirst;
}

/* Index of the first child of n whose label starts with a byte >= c. */
static inline uint32_t xp__kid_pos(const xp__route_index_t *ix, const xp__rnode_t *n,
                                   unsigned char c)
{
    const unsigned char *kf = xp__kfirst(ix, n);
    uint32_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (kf[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef enum {
    XP__DOM_EXACT,
    XP__DOM_SUFFIX, /* "*.foo.com": key ".foo.com" */
    XP__DOM_PREFIX, /* "foo.*": key "foo." */
} xp__dom_kind_t;

typedef struct {
    uint64_t hash; /* 0 = empty slot */
    xp__dom_kind_t kind;
    char *key; /* lower-cased, owned */
    size_t len;
    const xp_vhost_t *vh;
    size_t vh_index, domain_index; /* for duplicate reports */
} xp__dent_t;

struct xp__domain_index {
    xp__dent_t *slots;
    size_t mask, n;
    size_t *suffix_lens; /* distinct suffix key lengths, longest first */
    size_t nsuffix;
    size_t *prefix_lens;
    size_t nprefix;
    const xp_vhost_t *any; /* "*" */
};

uint64_t xp__dom_hash(xp__dom_kind_t kind, const char *s, size_t len);
const xp__dent_t *xp__dom_lookup(const xp__domain_index_t *d, xp__dom_kind_t kind, const char *s,
                                 size_t len);

/* Extracts the literal prefix every full match of regex `re` begins with
 * (conservative: may be shorter than possible, never wrong). *sep is set when
 * the literal is followed by a group whose alternatives are only "/" and "$"
 * (so the path must end or continue with '/'). Returns the prefix length
 * written into out (at most outcap). */
size_t xp__regex_literal_prefix(const char *re, size_t len, char *out, size_t outcap, bool *sep);

void xp__route_index_free(xp__route_index_t *ix);
xp__route_index_t *xp__route_index_build(const xp_vhost_t *vh);
/* vh's index made from prev's (the same virtual host's previous
 * generation, whose index is built) when the two share all but a few routes
 * at the start and end of their lists (the same route objects): a copy of
 * prev's index with the routes in between taken out and put in. Otherwise,
 * or past a bound on patches since the last full build, a full build. */
xp__route_index_t *xp__route_index_next(const xp_vhost_t *vh, const xp_vhost_t *prev);
void xp__domain_index_free(xp__domain_index_t *d);

#endif
