/* The data plane's control side, on the main thread: turns a set of listener
 * and cluster configs into a snapshot, binds what is new (one SO_REUSEPORT
 * socket per worker, so the kernel spreads connections across workers), keeps
 * the sockets of listeners whose name and address did not change, resolves
 * DNS clusters, and posts the result to every worker. */
#ifndef XP_SERVER_DATAPLANE_H
#define XP_SERVER_DATAPLANE_H

#include "proxy/common/diag.h"
#include "proxy/config/config.h"
#include "proxy/server/server.h"

typedef struct xp_dataplane xp_dataplane_t;

/* Attaches to s (s->dataplane) and gives each worker its context. */
xp_dataplane_t *xp_dataplane_new(xp_server_t *s);
struct xp_route_table;

/* Everything in force: static resources and what xDS delivered. Borrowed;
 * the data plane takes its own references. */
typedef struct {
    xp_listener_cfg_t *const *listeners;
    size_t n_listeners;
    xp_cluster_cfg_t *const *clusters;
    size_t n_clusters;
    struct xp_route_table *const *routes; /* RDS route configurations */
    size_t n_routes;
    xp_cla_t *const *assignments; /* EDS, matched to clusters by service name */
    size_t n_assignments;
    struct xp_scope_set *const *scope_sets; /* SRDS, one per source */
    size_t n_scope_sets;
} xp_config_set_t;

/* Makes the set the configuration in force. Listener sockets that cannot be
 * bound, or access logs that cannot be opened, are errors in diag (nothing of
 * this update is applied then). Returns 0 or -1. */
int xp_dataplane_apply(xp_dataplane_t *dp, const xp_config_set_t *set, xp_diag_t *diag);
struct xp_runtime;
/* Makes rt (a new reference is taken) the runtime every worker reads from
 * now on: posted to each worker, in order with snapshots. */
void xp_dataplane_set_runtime(xp_dataplane_t *dp, struct xp_runtime *rt);
/* Drains every worker: connections finish what is in flight and take no
 * more requests (keep-alive responses get Connection: close); tunnels go on.
 * close_listeners: stop accepting now (else listeners keep accepting and
 * new connections are drained too). */
void xp_dataplane_drain(xp_dataplane_t *dp, bool close_listeners);

/* Tells every worker that the on-demand VHDS request `key` ("<route
 * config>/<host>") is answered; posted after any snapshot already sent, so
 * the streams waiting for it route with the table that answers them. */
void xp_dataplane_vhds_answered(xp_dataplane_t *dp, const char *key);

/* Renders /listeners with the bound addresses (caller frees). */
char *xp_dataplane_listeners(xp_dataplane_t *dp, int json);
/* Renders /clusters: every cluster in force with its current hosts (caller
 * frees). */
char *xp_dataplane_clusters(xp_dataplane_t *dp, int json);
/* Stops accepting, closes every connection, stops the workers' data path
 * (called by xp_server_shutdown before the workers stop). */
void xp_dataplane_stop(xp_dataplane_t *dp);
void xp_dataplane_free(xp_dataplane_t *dp);

#endif
