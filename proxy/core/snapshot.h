/* A configuration generation as the workers see it: every listener and
 * cluster in force, immutable and refcounted. The main thread builds a new
 * snapshot for each change (sharing unchanged objects with the previous one)
 * and posts it to every worker; a worker swaps its pointer and drops the old
 * reference. Connections and streams hold references to the objects they
 * use, never to the snapshot, so an old generation's objects stay exactly as
 * long as something runs on them. */
#ifndef XP_CORE_SNAPSHOT_H
#define XP_CORE_SNAPSHOT_H

#include <stdint.h>

#include "proxy/common/ref.h"
#include "proxy/config/config.h"
#include "proxy/stats/stats.h"

struct xp_host_set;

/* Stats of one cluster, Envoy's names under "cluster.<name>.". Created once
 * per cluster name and kept for the process lifetime (the store never deletes
 * stats), so every generation of a cluster shares its counters. The
 * active-connection and active-request gauges double as the circuit breakers'
 * counts. */
typedef struct xp_cluster_stats {
    xp_stat_t *upstream_cx_total, *upstream_cx_active, *upstream_cx_connect_fail,
        *upstream_cx_connect_timeout, *upstream_cx_destroy, *upstream_cx_destroy_local,
        *upstream_cx_destroy_remote, *upstream_cx_overflow, *upstream_cx_rx_bytes_total,
        *upstream_cx_tx_bytes_total, *upstream_cx_idle_timeout, *upstream_cx_http1_total;
    xp_stat_t *upstream_rq_total, *upstream_rq_active, *upstream_rq_pending_total,
        *upstream_rq_pending_active, *upstream_rq_pending_overflow, *upstream_rq_timeout,
        *upstream_rq_per_try_timeout, *upstream_rq_retry, *upstream_rq_retry_success,
        *upstream_rq_retry_overflow, *upstream_rq_rx_reset, *upstream_rq_tx_reset,
        *upstream_rq_completed;
    xp_stat_t *upstream_rq_xx[6]; /* [1]..[5]: upstream_rq_1xx..5xx */
    xp_stat_t *membership_total, *membership_healthy, *membership_change;
    xp_stat_t *update_success, *update_attempt;
    /* Retries in flight (the max_retries breaker); not a stat itself. */
    _Atomic int64_t retries_open;
    xp_stat_t *rq_retry_open; /* circuit_breakers.default.rq_retry_open: 1 at capacity */
    xp_stat_t *rq_pending_open, *cx_open, *rq_open;
    char *name;
    struct xp_cluster_stats *next;
} xp_cluster_stats_t;

/* The stats of that cluster, created on first use and kept for the process
 * lifetime: streams of a removed cluster still count into them. */
xp_cluster_stats_t *xp_cluster_stats_get(xp_stats_t *store, const char *name);

typedef struct {
    xp_cluster_cfg_t *cfg;     /* reference */
    struct xp_host_set *hosts; /* reference; NULL while the cluster warms */
    xp_cluster_stats_t *stats; /* owned by the server's cluster registry */
} xp_snapshot_cluster_t;

struct xp_route_table;

typedef struct xp_snapshot {
    xp_ref_t ref;
    uint64_t version;
    xp_listener_cfg_t **listeners; /* references */
    size_t n_listeners;
    xp_snapshot_cluster_t *clusters; /* sorted by name */
    size_t n_clusters;
    struct xp_route_table **routes; /* references, sorted by name (RDS) */
    size_t n_routes;
    struct xp_scope_set **scope_sets; /* references, sorted by name (SRDS) */
    size_t n_scope_sets;
} xp_snapshot_t;

/* Snapshots alive (current ones plus those workers have not dropped yet). */
uint64_t xp_snapshots_alive(void);

/* An empty snapshot with one reference. */
xp_snapshot_t *xp_snapshot_new(uint64_t version);
void xp_snapshot_ref(xp_snapshot_t *s);
void xp_snapshot_unref(xp_snapshot_t *s);
/* Adds (taking new references) and sorts; call before publishing. */
void xp_snapshot_add_listener(xp_snapshot_t *s, xp_listener_cfg_t *l);
void xp_snapshot_add_cluster(xp_snapshot_t *s, xp_cluster_cfg_t *c, struct xp_host_set *hosts,
                             xp_cluster_stats_t *stats);
void xp_snapshot_add_route(xp_snapshot_t *s, struct xp_route_table *t);
void xp_snapshot_add_scope_set(xp_snapshot_t *s, struct xp_scope_set *set);
void xp_snapshot_seal(xp_snapshot_t *s);
/* The route configuration of that name (RDS), borrowed; NULL if absent. */
struct xp_route_table *xp_snapshot_find_route(const xp_snapshot_t *s, const char *name);
/* The SRDS scope set of that name (xp_scoped_routes_set_name), borrowed;
 * NULL if absent. */
struct xp_scope_set *xp_snapshot_find_scope_set(const xp_snapshot_t *s, const char *name);
/* Binary search by name; NULL if absent. Borrowed. */
const xp_snapshot_cluster_t *xp_snapshot_find_cluster(const xp_snapshot_t *s, const char *name,
                                                      size_t len);

#endif
