/* Internals of proxy/router shared by its .c files only. */
#ifndef XP_ROUTER_ROUTER_INTERNAL_H
#define XP_ROUTER_ROUTER_INTERNAL_H

#include "proxy/router/route.h"

#include <pcre2.h>

struct xp_regex {
    pcre2_code *code;
    xp_str_t pattern;
    uint32_t ncaptures;
};

/* The calling thread's cached match data (at least 16 ovector pairs). */
pcre2_match_data *xp__regex_md(void);

/* A growable array of route indexes, ascending. Most hold one entry, which
 * lives in `one` (v points there) so it costs no allocation. */
typedef struct {
    uint32_t *v;
    uint32_t n, cap;
    uint32_t one;
} xp__idxlist_t;

/* A radix-tree node. `label` is the edge from the parent; children are
 * sorted by the first byte of their labels. Routes whose literal key ends at
 * this node are listed by how the rest of the path must look:
 *   any   - anything may follow (prefix, regexes with no boundary hint);
 *   sep   - end of path (before '?') or '/' must follow
 *           (path_separated_prefix, regexes like "^/x(/|$)...");
 *   exact - the path (before '?') must end here (match.path). */
typedef struct xp__rnode {
    const char *label; /* in the index's arena, not NUL-terminated */
    uint32_t label_len;
    uint32_t nkids, capkids;
    struct xp__rnode **kids;
    unsigned char *kfirst; /* kfirst[i] == kids[i]->label[0]: searched
                            * without touching the kids */
    xp__idxlist_t any, sep, exact;
} xp__rnode_t;

/* Index of the first child of n whose label starts with a byte >= c. */
static inline uint32_t xp__kid_pos(const xp__rnode_t *n, unsigned char c)
{
    uint32_t lo = 0, hi = n->nkids;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (n->kfirst[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct xp__route_index {
    xp__rnode_t *cs; /* case-sensitive keys (and every regex) */
    xp__rnode_t *ci; /* lower-cased keys of case-insensitive routes */
    size_t nnodes;
    /* Nodes, labels, kid arrays and longer route lists are carved from
     * blocks freed with the index (one allocation per block, none per
     * node). */
    struct xp__arena_block *arena;
};

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
void xp__domain_index_free(xp__domain_index_t *d);

#endif
