/* Scoped routing (Envoy's scoped_routes / SRDS): a request picks its route
 * table by a key built from its headers. A scope (ScopedRouteConfiguration)
 * maps one key to a route table, named (fetched over RDS, looked up in the
 * worker's snapshot) or inline. A scope set is every scope of one source,
 * indexed by key.
 *
 * Scopes and sets are immutable and refcounted like route tables: an update
 * builds a new set that shares every unchanged scope with the previous one,
 * so changing one scope touches no other, and a stream holds only the route
 * table it picked (never the scope or the set). */
#ifndef XP_ROUTER_SCOPE_H
#define XP_ROUTER_SCOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/common/ref.h"
#include "proxy/router/route.h"

/* One fragment of the key: ScopeKeyBuilder.FragmentBuilder.HeaderValueExtractor.
 * The first value of header `name` is split on element_separator (no
 * separator: the whole value is the one element); the fragment is the
 * element at `index`, or (by_key) the value of the first element whose part
 * before kv_separator equals kv_key (an element without the separator has
 * an empty value). */
typedef struct {
    xp_str_t name;
    xp_str_t element_separator;
    bool by_key;
    uint32_t index;
    xp_str_t kv_separator;
    xp_str_t kv_key;
} xp_scope_fragment_builder_t;

typedef struct {
    xp_scope_fragment_builder_t *fragments; /* owned, strings too */
    size_t n;
} xp_scope_key_builder_t;

void xp_scope_key_builder_clear(xp_scope_key_builder_t *b);

/* The request's key: b->n fragments into out (views into req's header
 * values, valid as long as they are). False when a fragment cannot be built
 * (header absent, element missing): Envoy's "invalid key", which matches no
 * scope. */
bool xp_scope_key_build(const xp_scope_key_builder_t *b, const xp_route_request_t *req,
                        xp_str_t *out);

/* One ScopedRouteConfiguration. */
typedef struct xp_scope {
    xp_ref_t ref;
    char *name;
    xp_str_t *key; /* fragments (string_key), owned */
    size_t nkey;
    uint64_t hash;                /* of the key (xp_scope_key_hash) */
    char *rds_name;               /* route_configuration_name, or NULL */
    struct xp_route_table *table; /* inline route_configuration (a reference), or NULL */
    bool on_demand;
} xp_scope_t;

/* A hash of n key fragments (their count, lengths and bytes). */
uint64_t xp_scope_key_hash(const xp_str_t *key, size_t n);

/* A scope with one reference (the caller's). Copies name, rds_name and the
 * key fragments; takes over the caller's reference to table (may be NULL). */
xp_scope_t *xp_scope_new(const char *name, const xp_str_t *key, size_t nkey, const char *rds_name,
                         struct xp_route_table *table, bool on_demand);
xp_scope_t *xp_scope_ref(xp_scope_t *s);
void xp_scope_unref(xp_scope_t *s);
/* Scopes alive, all generations together. */
unsigned long xp_scopes_alive(void);

/* Orders by key (fragment count, then each fragment's length and bytes). */
int xp_scope_key_cmp(const xp_str_t *a, size_t na, const xp_str_t *b, size_t nb);
/* Sorts v by key. */
void xp_scopes_sort(xp_scope_t **v, size_t n);
/* In v sorted by key: the index of the first of two scopes with the same
 * key (the other is at +1), or n when every key is distinct. */
size_t xp_scopes_find_dup(xp_scope_t *const *v, size_t n);

typedef struct xp_scope_set {
    xp_ref_t ref;
    char *name;          /* what HCMs look it up by in the snapshot */
    xp_scope_t **scopes; /* references, sorted by key, keys distinct */
    size_t n;
    xp_scope_t **slots; /* open addressing by hash, 2..4 slots per scope (borrowed) */
    size_t mask;
} xp_scope_set_t;

/* A set of n scopes (new references taken; sorted here) with one reference.
 * The keys must be distinct (xp_scopes_find_dup). */
xp_scope_set_t *xp_scope_set_new(const char *name, xp_scope_t *const *scopes, size_t n);
xp_scope_set_t *xp_scope_set_ref(xp_scope_set_t *s);
void xp_scope_set_unref(xp_scope_set_t *s);
/* True when s holds exactly these scopes (same objects; v sorted by key). */
bool xp_scope_set_same(const xp_scope_set_t *s, xp_scope_t *const *v, size_t n);

/* The scope whose key equals key[0..n), or NULL. One hash and, in the
 * expected case, one probe whatever the number of scopes. Borrowed. */
const xp_scope_t *xp_scope_set_find(const xp_scope_set_t *s, const xp_str_t *key, size_t n);

#endif
