/* Upstream hosts, host sets and load balancers.
 *
 * A host (xp_host_t) is one resolved upstream address. It is refcounted so
 * that an in-flight request or a pooled connection keeps it alive after an
 * EDS or DNS update removed it from its cluster.
 *
 * A host set (xp_host_set_t) is an immutable, refcounted snapshot of a
 * cluster's hosts with everything the load balancing policies need
 * precomputed: per-priority host lists and priority load, a ring (RING_HASH)
 * or lookup table (MAGLEV). It is built off the workers (main thread, on an
 * EDS/DNS update or a health change) and then read by every worker without
 * locks.
 *
 * Mutable balancing state (round-robin position, EDF schedules, PRNG) lives
 * in an xp_lb_state_t owned by one worker per cluster, so choosing a host
 * takes no lock and writes no shared memory except the host's
 * active_requests counter (the data path's increment/decrement).
 *
 * Behaviour follows Envoy's documented load balancers
 * (intro/arch_overview/upstream/load_balancing): priority levels with an
 * overprovisioning factor of 1.4, the panic threshold (50 %), weighted round
 * robin, least request (P2C, or weights / (active + 1)^1.0), random, ring
 * hash (xxHash64 of "address_index") and Maglev. Which host a given hash maps
 * to is not bit-compatible with Envoy. */
#ifndef XP_UPSTREAM_LB_H
#define XP_UPSTREAM_LB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/common/ref.h"
#include "proxy/config/config.h"

/* ---- hosts ----------------------------------------------------------- */

typedef struct xp_host {
    xp_ref_t ref;
    xp_addr_t addr;
    /* "ip:port" (addr.str): the host's stable stat and log name. */
    const char *stat_name;
    char *hostname;  /* owned; the DNS name it came from, or NULL */
    uint32_t weight; /* >= 1 */
    uint32_t priority;
    /* Read only by xp_host_set_build: to change health, build a new host set
     * (on the thread that builds host sets). */
    bool healthy;
    /* Requests in flight to this host, across all workers (LEAST_REQUEST).
     * Use xp_host_rq_begin/end. */
    _Atomic uint32_t active_requests;
} xp_host_t;

/* A new host with one reference owned by the caller. weight 0 becomes 1;
 * hostname (may be NULL) is copied. */
xp_host_t *xp_host_new(const xp_addr_t *addr, const char *hostname, uint32_t weight,
                       uint32_t priority, bool healthy);
/* A host for a resolved endpoint (ep->addr must be filled); one reference
 * owned by the caller. */
xp_host_t *xp_host_from_endpoint(const xp_endpoint_cfg_t *ep);
void xp_host_ref(xp_host_t *h);
/* Drops one reference; frees on the last. NULL is ignored. */
void xp_host_unref(xp_host_t *h);
/* Unrefs every host of an array and frees the array (as handed out by the
 * DNS resolver). */
void xp_hosts_free(xp_host_t **hosts, size_t n);

static inline void xp_host_rq_begin(xp_host_t *h)
{
    atomic_fetch_add_explicit(&h->active_requests, 1, memory_order_relaxed);
}

static inline void xp_host_rq_end(xp_host_t *h)
{
    atomic_fetch_sub_explicit(&h->active_requests, 1, memory_order_relaxed);
}

/* ---- host sets ------------------------------------------------------- */

typedef struct xp_host_set xp_host_set_t;

/* Envoy's defaults (cluster.common_lb_config). */
#define XP_LB_OVERPROVISIONING_FACTOR 140 /* percent */
#define XP_LB_PANIC_THRESHOLD         50  /* percent */

/* Builds an immutable host set over hosts[0..n) (n may be 0) for
 * cfg->lb_policy and its parameters (cfg NULL = ROUND_ROBIN with Envoy's
 * defaults). Takes its own reference to every host; the caller keeps its
 * references. The result has one reference owned by the caller.
 *
 * Cost, paid here and never on the workers: O(n log n) for the priority
 * lists; RING_HASH O(R log R) time (a snprintf and an xxHash64 per entry)
 * and 12 bytes per entry for a ring of R entries (min_ring_size <= R <=
 * max_ring_size, 1024 .. 8M by default; under twice Envoy's ring for the
 * same hosts; very uneven weights push R to the maximum); MAGLEV O(M log M) expected slot
 * probes plus M * max_weight / sum(weights) rounds over the n hosts, and
 * 4 bytes per slot, for a table of M slots (65537 by default). Both per
 * priority level that can take load. A non-prime maglev_table_size is
 * raised to the next prime. */
xp_host_set_t *xp_host_set_build(xp_host_t *const *hosts, size_t n, const xp_cluster_cfg_t *cfg);
void xp_host_set_ref(xp_host_set_t *hs);
/* Drops one reference; the last one frees the set and unrefs its hosts. */
void xp_host_set_unref(xp_host_set_t *hs);

/* Every host of the set in build order, healthy or not (borrowed). */
size_t xp_host_set_size(const xp_host_set_t *hs);
xp_host_t *xp_host_set_host(const xp_host_set_t *hs, size_t i);
/* Share of traffic (0..100) that priority level `priority` takes. */
uint32_t xp_host_set_priority_load(const xp_host_set_t *hs, uint32_t priority);
/* True when that level balances over all its hosts because too few are
 * healthy (Envoy's panic mode). */
bool xp_host_set_in_panic(const xp_host_set_t *hs, uint32_t priority);
/* Entries of all RING_HASH rings / slots of all MAGLEV tables (0 for other
 * policies); for stats and tests. */
size_t xp_host_set_ring_size(const xp_host_set_t *hs);
size_t xp_host_set_maglev_size(const xp_host_set_t *hs);

/* ---- per-worker balancing state ------------------------------------- */

struct xp__lb_level_state; /* lb.c */

/* One per worker per cluster; touched only by its worker. Opaque apart from
 * its size: embed it where the worker keeps its per-cluster data. */
typedef struct {
    uint64_t rng; /* splitmix64 state */
    /* The schedule state below belongs to the host set with this generation
     * and policy; a different set resets it on the next choose. */
    uint64_t gen;
    int policy;
    struct xp__lb_level_state *levels; /* owned */
    size_t n_levels;
} xp_lb_state_t;

/* seed should differ per worker (e.g. worker index mixed with time) so that
 * workers do not walk the same sequence. Allocates nothing. */
void xp_lb_state_init(xp_lb_state_t *s, uint64_t seed);
/* Frees what the state allocated lazily (EDF schedules); init again to reuse. */
void xp_lb_state_clear(xp_lb_state_t *s);

/* Chooses a host for one request; NULL only when the set has no host.
 * The host is borrowed from hs: the caller refs it if it keeps it beyond hs.
 * policy should be the one the set was built for; RING_HASH/MAGLEV without
 * a hash (or on a set built without a ring/table) choose at random, as Envoy
 * does. O(1) for RANDOM, MAGLEV, equal-weight ROUND_ROBIN and unweighted
 * LEAST_REQUEST (choice_count samples); O(log n) for weighted ROUND_ROBIN
 * and weighted LEAST_REQUEST (EDF heap) and RING_HASH (binary search). The
 * first choose after the set changed sets up the worker's schedule: O(n). */
xp_host_t *xp_lb_choose(const xp_host_set_t *hs, xp_lb_state_t *st, xp_lb_policy_t policy,
                        const uint64_t *hash);
/* As xp_lb_choose, for a retry: tries to return a host other than `avoid`
 * (Envoy's previous_hosts retry predicate). Hash policies move to the next
 * distinct host on the ring / rehash on the Maglev table, so a retried key
 * still lands deterministically. Returns avoid only when no other host can
 * take load. */
xp_host_t *xp_lb_choose_excluding(const xp_host_set_t *hs, xp_lb_state_t *st, xp_lb_policy_t policy,
                                  const uint64_t *hash, const xp_host_t *avoid);

#endif
