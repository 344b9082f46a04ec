/* VHDS: virtual hosts of RDS route configurations delivered by the Virtual
 * Host Discovery Service (Delta xDS only, as in Envoy), merged into the
 * route tables the data plane serves, and fetched on demand for requests
 * whose host matches no virtual host (the on_demand HTTP filter).
 *
 * Naming (Envoy's): a VirtualHost resource is "<route config>/<name>"; the
 * proxy subscribes to "<route config>" (the server may then push that route
 * configuration's virtual hosts unasked) and, on demand, to
 * "<route config>/<host>", which the server answers with the virtual host
 * serving that host (the name among its aliases) or with a Resource without
 * a body (or a removal) when there is none.
 *
 * Tables: the route table served for a route configuration is its RDS table
 * composed with the VHDS virtual hosts (xp_route_table_compose): every
 * virtual host, RDS or VHDS, with its compiled routes, is shared between
 * generations; a VHDS update builds only the new virtual host and the
 * domain index. A VHDS virtual host whose domain another virtual host of the
 * route configuration already serves is rejected (NACK naming it).
 *
 * Part of xds/manager; main thread only. */
#ifndef XP_XDS_MANAGER_VHDS_H
#define XP_XDS_MANAGER_VHDS_H

#include <stdbool.h>

#include "envoy/config/core/v3/config_source.pb-c.h"
#include "proxy/common/diag.h"
#include "proxy/router/route.h"
#include "proxy/server/dataplane.h"
#include "proxy/server/server.h"
#include "xds/bootstrap/bootstrap.h"
#include "xds/client/client.h"

typedef struct xp_vhds xp_vhds_t;

/* What VHDS needs from the manager. */
typedef struct {
    /* Rebuilds and applies the config set (a VHDS update changed a table). */
    void (*apply)(void *ctx);
    /* The xDS client for a Delta source: one of the manager's when it is the
     * same source (*owned = false), else a new one (*owned = true, freed by
     * VHDS). NULL with errors in diag under `where`. */
    xp_xds_client_t *(*client_for)(void *ctx, const Envoy__Config__Core__V3__ConfigSource *src,
                                   const char *where, xp_diag_t *diag, bool *owned);
    void *ctx;
} xp_vhds_hooks_t;

/* Starts taking on-demand requests from the workers. Owned by the caller. */
xp_vhds_t *xp_vhds_new(xp_server_t *s, xp_dataplane_t *dp, const xp_bootstrap_t *bs,
                       const xp_vhds_hooks_t *hooks);
/* Frees everything (its own xDS clients too); run the loop once more. */
void xp_vhds_free(xp_vhds_t *v);

/* Whether type_url is VHDS's resource type. */
bool xp_vhds_is_type(const char *type_url);

/* A freshly translated RDS table: when it uses VHDS, checks what only the
 * bootstrap can tell (ads needs a Delta ads_config) and that a client for
 * its source can be made. Errors under `path` (the resource's root). */
void xp_vhds_check(xp_vhds_t *v, const xp_route_table_t *t, const char *path, xp_diag_t *diag);

/* Each apply: the RDS tables known now (warming ones included, NULLs and
 * tables without VHDS ignored). VHDS subscriptions and state follow them;
 * route configurations no longer present lose their VHDS virtual hosts. */
void xp_vhds_sync_begin(xp_vhds_t *v);
void xp_vhds_sync_table(xp_vhds_t *v, const xp_route_table_t *t);
void xp_vhds_sync_end(xp_vhds_t *v);

/* Whether t can serve: no VHDS, or the first VHDS response arrived since
 * its route configuration subscribed (Envoy's VHDS init target). */
bool xp_vhds_ready(const xp_vhds_t *v, const xp_route_table_t *t);

/* The table to serve for the RDS table `base`: base itself, or base
 * composed with its VHDS virtual hosts (borrowed; kept until the next
 * change). */
xp_route_table_t *xp_vhds_table(xp_vhds_t *v, xp_route_table_t *base);

/* A VHDS response (the manager's on_update for xp_vhds_is_type types).
 * Returns 0, or -1 with a malloc'd *error_detail (the valid virtual hosts
 * of the response still apply). */
int xp_vhds_on_update(xp_vhds_t *v, const char *version, const xp_xds_resource_t *res, size_t n,
                      char *const *removed, size_t n_removed, char **error_detail);

#endif
