/* Per-worker cluster state: the worker's view of each cluster (its current
 * config and host set, load-balancer cursor), and upstream connections with
 * their keep-alive pools. Everything here belongs to one worker thread.
 *
 * A worker cluster is keyed by name and survives config updates: an update
 * swaps its config and host set, and its pools are kept (keyed by host
 * address), so warm upstream connections outlive the update. A cluster
 * removed from the config stays alive while streams or connections hold a
 * reference to it, then goes. */
#ifndef XP_UPSTREAM_CLUSTER_H
#define XP_UPSTREAM_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/core/snapshot.h"
#include "proxy/net/sock.h"
#include "proxy/upstream/lb.h"

typedef struct xp_cm xp_cm_t;
typedef struct xp_wcluster xp_wcluster_t;
typedef struct xp_uconn xp_uconn_t;
typedef struct xp_pool xp_pool_t;

struct xp_wcluster {
    char *name;
    uint32_t refs; /* worker-local: the cm's (while configured), streams', connections' */
    xp_cm_t *cm;
    xp_cluster_cfg_t *cfg; /* reference to the current generation */
    xp_host_set_t *hosts;  /* reference; NULL while warming */
    xp_cluster_stats_t *stats;
    xp_lb_state_t lb;
    xp_pool_t *pools;
    bool configured; /* in the current snapshot (the manager holds a reference) */
    bool seen;       /* scratch for xp_cm_apply */
    struct xp_wcluster *next_in_bucket;
};

/* A new, empty cluster manager for the worker running `loop`. */
xp_cm_t *xp_cm_new(uv_loop_t *loop, uint64_t seed);
/* Makes the worker's clusters match the snapshot. */
void xp_cm_apply(xp_cm_t *cm, const xp_snapshot_t *snap);
/* The configured cluster of that name, borrowed (ref it to keep it), or NULL. */
xp_wcluster_t *xp_cm_get(xp_cm_t *cm, const char *name, size_t len);
/* Closes idle pooled connections and marks every cluster removed; the
 * manager frees itself once the last reference to its clusters is gone. */
void xp_cm_shutdown(xp_cm_t *cm);
/* Number of upstream connections this worker has open (pooled or busy). */
size_t xp_cm_open_connections(const xp_cm_t *cm);

void xp_wcluster_ref(xp_wcluster_t *c);
void xp_wcluster_unref(xp_wcluster_t *c);
/* A host by the cluster's load-balancing policy (hash may be NULL; avoid,
 * when not NULL, is skipped if another host exists). Borrowed: ref to keep.
 * NULL when the cluster has no host. */
xp_host_t *xp_wcluster_choose(xp_wcluster_t *c, const uint64_t *hash, const xp_host_t *avoid);

/* ---- upstream connections ---------------------------------------------- */

typedef enum {
    XP_UCONN_CONNECTING,
    XP_UCONN_IDLE, /* in a pool */
    XP_UCONN_BUSY, /* owned by a stream or tunnel */
    XP_UCONN_CLOSING,
} xp_uconn_state_t;

/* Called once a connection attempt ends: status 0 (connected; the caller now
 * owns u) or a negative libuv error / UV_ETIMEDOUT (u is gone). */
typedef void (*xp_uconn_cb)(void *ctx, xp_uconn_t *u, int status);

struct xp_uconn {
    xp_sock_t sock; /* first member */
    xp_wcluster_t *cluster;
    xp_host_t *host;
    xp_pool_t *pool; /* NULL for unpooled (tcp_proxy) connections */
    xp_uconn_state_t state;
    /* Connect timeout, then idle timeout while pooled; closed (and freed
     * in its close callback) once a tunnel owns the connection. */
    uv_timer_t *timer;
    /* While pooled the idle timer is lazy (net/lazy_timer.h): idle_due is
     * when this idle spell ends, 0 for no idle timeout. */
    uint64_t idle_due;
    int open_handles; /* sock + timer; freed at 0 */
    xp_uconn_cb cb;
    void *ctx;
    uint32_t requests; /* served on this connection */
    xp_uconn_t *prev_idle, *next_idle;
    /* While BUSY: where socket events go. */
    const xp_sock_ops_t *user_ops;
    void *user;
};

/* Gets a connection to host h of cluster c. Pooled (HTTP): an idle one is
 * reused when available: returns 1 and sets *out, BUSY, no callback. Else a
 * connect starts: returns 0, *out is the connecting connection (cancel with
 * xp_uconn_close) and cb runs later. Returns UV_EBUSY when the cluster's
 * max_connections is reached (the caller answers 503 with the UO flag). */
int xp_uconn_acquire(xp_wcluster_t *c, xp_host_t *h, bool pooled, xp_uconn_cb cb, void *ctx,
                     xp_uconn_t **out);
/* Routes socket events of a BUSY connection to ops/user (on_close is not
 * used: closing is handled here). */
void xp_uconn_attach(xp_uconn_t *u, const xp_sock_ops_t *ops, void *user);
/* Hands a BUSY connection back: reusable ones go idle in their pool (closed
 * after the cluster's idle_timeout); others are closed. */
void xp_uconn_release(xp_uconn_t *u, bool reusable);
/* Closes now, in any state. Memory goes once libuv has closed the handles. */
void xp_uconn_close(xp_uconn_t *u);
/* A tunnel takes over this BUSY connection's socket: it will never be
 * pooled again, so its timer goes (an idle tunnel keeps only the socket). */
void xp_uconn_hand_over(xp_uconn_t *u);
/* For a connection whose socket was taken over by a tunnel: the tunnel
 * closed the socket; account for it and free. */
void xp_uconn_sock_closed(xp_uconn_t *u);

#endif
