/* Scoped routing resources: an HCM's scoped_routes and SRDS's
 * ScopedRouteConfiguration → proxy/router/scope.h and xp_scoped_routes_cfg_t,
 * validated as Envoy does, every problem named by its field path. */
#ifndef XP_TRANSLATE_SCOPED_H
#define XP_TRANSLATE_SCOPED_H

#include "envoy/config/route/v3/scoped_route.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "proxy/common/diag.h"
#include "proxy/config/config.h"
#include "proxy/router/scope.h"

/* One scope (one reference, the caller's), or NULL with errors added under
 * path. prev: the previous scope of that name, or NULL; an inline
 * route_configuration shares its unchanged routes with prev's table. */
xp_scope_t *xp_translate_scope(const Envoy__Config__Route__V3__ScopedRouteConfiguration *sc,
                               xp_path_t *path, xp_diag_t *diag, const xp_scope_t *prev);

/* An HCM's scoped_routes (owned by the caller, xp_scoped_routes_cfg_free),
 * or NULL with errors added under path (which names scoped_routes). */
xp_scoped_routes_cfg_t *xp_translate_scoped_routes(
    const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__ScopedRoutes *pb,
    xp_path_t *path, xp_diag_t *diag);

#endif
