/* A small generic xDS management server: serves the resources found in a
 * directory of YAML/JSON files over gRPC (ADS and the per-type services,
 * State-of-the-World and Delta) and, optionally, REST-JSON (POST
 * /v3/discovery:<type> on its own port), pushes every change of the
 * directory to the subscribed streams, and answers an HTTP admin API (GET
 * /resources, PUT/DELETE /resources/<type>/<name>, GET /nodes, GET /ready).
 * VirtualHost resources are served over Delta as VHDS (vhds.c): pushed
 * with their route configuration, or only on demand when their metadata
 * has filter_metadata["xds-server"].on_demand: true.
 *
 * Threads: one gRPC completion-queue thread, one directory watcher
 * (inotify), one admin thread, one REST thread; plus gRPC's own. Used by the `xds-server`
 * binary, the integration tests and the demo. */
#ifndef XP_XDS_SERVER_SERVER_H
#define XP_XDS_SERVER_SERVER_H

#include <stdint.h>

typedef struct xp_xds_server xp_xds_server_t;

typedef struct {
    const char *listen; /* gRPC address "host:port"; port 0 picks one */
    const char *dir;    /* resource directory; must exist */
    const char *admin;  /* admin HTTP "host:port" (port 0 allowed), or NULL */
    const char *rest;   /* REST-JSON xDS HTTP "host:port" (port 0 allowed), or NULL */
} xp_xds_server_opts_t;

/* Loads the directory (bad files are reported on stderr and skipped),
 * starts listening and every thread. Returns 0 and a server owned by the
 * caller (free it with xp_xds_server_stop), or XP_EINVAL / XP_EIO with the
 * reason on stderr. Calls grpc_init(); xp_xds_server_stop calls
 * grpc_shutdown_blocking(). The caller should block SIGTERM/SIGINT (and
 * ignore SIGPIPE) before starting, so that no thread of the server takes
 * them. */
int xp_xds_server_start(const xp_xds_server_opts_t *opts, xp_xds_server_t **out);

/* The bound ports (useful with port 0); admin and rest are 0 when not
 * configured. */
int xp_xds_server_xds_port(const xp_xds_server_t *srv);
int xp_xds_server_admin_port(const xp_xds_server_t *srv);
int xp_xds_server_rest_port(const xp_xds_server_t *srv);

/* Rescans the directory now (what the watcher does on a change) and
 * publishes a new snapshot if any resource changed. Returns the snapshot
 * version after the rescan. Thread-safe. */
uint64_t xp_xds_server_reload(xp_xds_server_t *srv);

/* Stops accepting, cancels every stream, joins every thread and frees srv.
 * Not thread-safe with itself. */
void xp_xds_server_stop(xp_xds_server_t *srv);

#endif
