/* The xDS resource manager: the bootstrap's dynamic_resources brought to the
 * data plane. It owns the xDS client, keeps every accepted resource (with its
 * version and translated config object), translates and validates new ones
 * (a response's valid resources are applied and its invalid ones NACKed, the
 * gRPC A46 rule), subscribes RDS and EDS names as listeners and clusters
 * reference them (and SRDS while an HCM's scoped_routes names it), reads
 * path config sources, warms new listeners and clusters until their routes,
 * scopes and endpoints arrive (or initial_fetch_timeout passes), and applies
 * the result to the data plane as one config set. Runs on the main loop. */
#ifndef XP_XDS_MANAGER_H
#define XP_XDS_MANAGER_H

#include <stdbool.h>
#include <uv.h>

#include "proxy/common/diag.h"
#include "proxy/server/dataplane.h"
#include "proxy/server/server.h"
#include "xds/bootstrap/bootstrap.h"
#include "xds/runtime/loader.h"

typedef struct xp_xds_manager xp_xds_manager_t;

/* Applies the bootstrap's static resources and, when it has
 * dynamic_resources, starts the xDS client. The server goes LIVE when the
 * first LDS and CDS updates are in and warm, or after initial_fetch_timeout.
 * Returns NULL with errors in diag. Owned by the caller. */
xp_xds_manager_t *xp_xds_manager_start(xp_server_t *s, xp_dataplane_t *dp, const xp_bootstrap_t *bs,
                                       xp_diag_t *diag);
/* Stops the client (no callback after it returns) and frees. */
void xp_xds_manager_free(xp_xds_manager_t *m);
/* The runtime (layered_runtime with its RTDS layers), borrowed; NULL when
 * m is NULL. For /runtime and /runtime_modify. */
xp_runtime_loader_t *xp_xds_manager_runtime(xp_xds_manager_t *m);
/* /config_dump in Envoy's ConfigDump shape: bootstrap, clusters (static,
 * dynamic active and warming), listeners (static, dynamic with active or
 * warming state), dynamic route configurations and dynamic scoped route
 * configurations (one per scoped_routes on SRDS). resource: NULL, or one
 * repeated field (static_listeners, dynamic_listeners, static_clusters,
 * dynamic_active_clusters, dynamic_warming_clusters, dynamic_route_configs,
 * dynamic_scoped_route_configs, dynamic_endpoint_configs) whose items become
 * the configs. Caller frees. */
char *xp_xds_manager_config_dump(xp_xds_manager_t *m, const char *resource);

#endif
