/* The runtime (Envoy's layered runtime): key/value layers in order, later
 * layers overriding earlier ones, taken as one immutable, refcounted snapshot.
 *
 * The main thread builds layers (xds/runtime fills them from the bootstrap's
 * static layers, RTDS resources and the admin layer), seals them, makes a
 * snapshot and posts it to every worker; a worker swaps its pointer and
 * drops the old reference (proxy/server/dataplane.c). Lookups on the request
 * path read the worker's current snapshot without any lock: a binary search
 * over the merged keys. Layers are shared between snapshots, so a change to
 * one layer copies only that layer. */
#ifndef XP_RUNTIME_RUNTIME_H
#define XP_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/common/ref.h"
#include "proxy/common/str.h"

/* One value. raw is the text /runtime shows; the typed views are what
 * Envoy's runtime derives from it (see xp_runtime_entry_parse). */
typedef struct {
    char *key; /* dotted: "health_check.min_interval" */
    char *raw;
    bool has_bool, has_uint, has_double, has_fraction;
    bool bool_value;
    uint64_t uint_value;
    double double_value;
    uint32_t numerator, denominator; /* has_fraction: denominator 100, 10^4 or 10^6 */
} xp_runtime_entry_t;

/* A named layer. Built with put/remove, then sealed (sorted by key) and
 * never changed again; shared by reference between snapshots. */
typedef struct xp_runtime_layer {
    xp_ref_t ref;
    char *name;
    xp_runtime_entry_t *entries; /* sorted by key (strcmp) once sealed */
    size_t n, cap;
    bool sealed;
} xp_runtime_layer_t;

/* A new empty layer with one reference (owned by the caller). */
xp_runtime_layer_t *xp_runtime_layer_new(const char *name);
/* A new unsealed copy of l's entries (owned by the caller). */
xp_runtime_layer_t *xp_runtime_layer_clone(const xp_runtime_layer_t *l);
/* Adds key = raw (both copied) with its scalar views parsed; a later put of
 * the same key replaces an earlier one at seal. The entry stays the layer's;
 * the caller may set the fraction view before sealing. Unsealed layers only. */
xp_runtime_entry_t *xp_runtime_layer_put(xp_runtime_layer_t *l, const char *key, const char *raw);
/* Removes every entry of key (unsealed layers only). */
void xp_runtime_layer_remove(xp_runtime_layer_t *l, const char *key);
/* Sorts by key, keeping the last put of each key. */
void xp_runtime_layer_seal(xp_runtime_layer_t *l);
void xp_runtime_layer_ref(xp_runtime_layer_t *l);
void xp_runtime_layer_unref(xp_runtime_layer_t *l);
/* The entry of key in a sealed layer, borrowed; NULL if absent. */
const xp_runtime_entry_t *xp_runtime_layer_find(const xp_runtime_layer_t *l, xp_str_t key);

/* Envoy's reading of a value's text: an integer is also a boolean (non-zero
 * is true), "true"/"false" (any case) are booleans, a number >= 0 is also an
 * unsigned integer (rounded down), and leading or trailing whitespace is
 * ignored. Fractions (a FractionalPercent written as YAML/JSON) need the
 * codec and are set by xds/runtime. Fills e's views from e->raw. */
void xp_runtime_entry_parse(xp_runtime_entry_t *e);

/* A snapshot: the layers in order and, for each key, its final value. */
typedef struct xp_runtime {
    xp_ref_t ref;
    uint64_t generation;         /* unique per snapshot, increasing */
    xp_runtime_layer_t **layers; /* references, sealed */
    size_t n_layers;
    const xp_runtime_entry_t **values; /* final value of each key, sorted by key */
    size_t n_values;
    /* Hash index over values: slots hold index + 1 (0 = empty), open
     * addressing, at most half full; hashes[i] is values[i]'s key hash. */
    uint32_t *slots;
    uint64_t *hashes;
    size_t mask;
} xp_runtime_t;

/* A snapshot of these sealed layers (new references taken), with one
 * reference owned by the caller. */
xp_runtime_t *xp_runtime_new(xp_runtime_layer_t *const *layers, size_t n);
void xp_runtime_ref(xp_runtime_t *rt);
void xp_runtime_unref(xp_runtime_t *rt);
/* Snapshots alive (current ones plus those workers have not dropped yet). */
uint64_t xp_runtimes_alive(void);

/* The final value of key, borrowed from rt; NULL when absent or rt is NULL.
 * A hash lookup (cost independent of the number of keys), no allocation, no
 * lock. */
const xp_runtime_entry_t *xp_runtime_get(const xp_runtime_t *rt, xp_str_t key);
/* Envoy's getInteger: true and *out when key holds an unsigned integer. */
bool xp_runtime_get_u64(const xp_runtime_t *rt, xp_str_t key, uint64_t *out);
/* Envoy's featureEnabled(key, FractionalPercent default): true when key
 * overrides the default, with the fraction to use: a FractionalPercent
 * value as written, an integer N as N/100 (above 100: always). ctx is an
 * xp_runtime_t (may be NULL); the signature is the router's
 * xp_runtime_fraction_fn. */
bool xp_runtime_fraction(void *ctx, xp_str_t key, uint32_t *numerator, uint32_t *denominator);

/* /runtime in Envoy's shape: {"layers": [names], "entries": {key:
 * {"final_value": v, "layer_values": [one per layer, "" where unset]}}},
 * keys sorted. Caller frees. */
char *xp_runtime_render_json(const xp_runtime_t *rt);

#endif
