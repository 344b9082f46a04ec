/* A worker's runtime context: its loop, the snapshot it serves, its cluster
 * manager and listeners, and the list of its downstream connections (so
 * shutdown and drain can reach them). Touched only by the worker's thread. */
#ifndef XP_CORE_WCTX_H
#define XP_CORE_WCTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "proxy/core/snapshot.h"
#include "proxy/stats/stats.h"

struct xp_cm;
struct xp_wlistener;
struct xp_hstream;
struct xp_runtime;

/* Stats of one listener, Envoy's names under "listener.<address>.". Kept for
 * the process lifetime; connections decrement the active gauge on close. */
typedef struct xp_listener_stats {
    xp_stat_t *downstream_cx_total, *downstream_cx_active, *downstream_cx_destroy,
        *no_filter_chain_match, *downstream_cx_overflow;
    /* Connections still running on a listener or filter chain an update
     * replaced or removed (xproxy's own stat: the promise, made visible). */
    xp_stat_t *downstream_cx_old_config;
    char *addr;
    struct xp_listener_stats *next;
} xp_listener_stats_t;

/* The stats of the listener at that address (its stat form,
 * "127.0.0.1_10000"), created on first use and kept for the process
 * lifetime: connections of a removed listener still count into them. */
xp_listener_stats_t *xp_listener_stats_get(xp_stats_t *store, const char *addr_stat);

/* What a new downstream connection starts with: its accepted socket and the
 * config it will hold for its whole life (references taken by the callee). */
typedef struct {
    int fd;
    struct sockaddr_storage peer, local;
    xp_listener_cfg_t *listener;
    xp_filter_chain_t *chain;
    xp_listener_stats_t *lstats;
} xp_accept_t;

/* Every downstream connection links itself here while open. */
typedef struct xp_conn_link {
    struct xp_conn_link *prev, *next;
    /* Close the connection now (shutdown, end of drain). */
    void (*close_now)(struct xp_conn_link *l);
    /* The worker switched to a new snapshot (may be NULL): the connection
     * decides whether its next request can use the new config. */
    void (*config_changed)(struct xp_conn_link *l);
    /* Draining (may be NULL): finish what is in flight, take no more
     * requests (keep-alive connections close after their response). */
    void (*drain)(struct xp_conn_link *l);
} xp_conn_link_t;

typedef struct xp_wctx {
    int index;
    uv_loop_t *loop;
    xp_stats_t *stats;
    xp_snapshot_t *snap; /* reference to the generation new work uses */
    /* Reference to the runtime snapshot lookups use now (NULL until the
     * first one arrives); read without locks, swapped by message. */
    struct xp_runtime *runtime;
    struct xp_cm *cm;
    struct xp_wlistener *listeners;
    xp_conn_link_t conns; /* sentinel of a circular list */
    size_t n_conns;
    struct xp_hstream *vhds_waiting; /* streams waiting for on-demand VHDS (proxy/http) */
    bool stopping;
    bool draining; /* no new listeners; connections were told to drain */
} xp_wctx_t;

void xp_wctx_link(xp_wctx_t *w, xp_conn_link_t *l);
/* Calls config_changed on every linked connection (after a snapshot swap).
 * Connections may unlink themselves meanwhile. */
void xp_wctx_config_changed(xp_wctx_t *w);
/* The listener in the worker's snapshot that now serves l's connections,
 * borrowed: the one of l's name, else (a listener renamed in place takes
 * over the socket) the one on l's configured address when it has a port;
 * NULL if gone. */
xp_listener_cfg_t *xp_wctx_listener(const xp_wctx_t *w, const xp_listener_cfg_t *l);
void xp_wctx_unlink(xp_wctx_t *w, xp_conn_link_t *l);

/* Process-wide connection ids, as Envoy's %CONNECTION_ID%. */
uint64_t xp_next_connection_id(void);
/* Downstream connections open in the whole process (all workers). */
uint64_t xp_open_connections(void);

#endif
