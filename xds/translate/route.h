/* envoy.config.route.v3.RouteConfiguration (protobuf-c) -> xp_route_table_t.
 * protobuf-c types stop here: the proxy only sees proxy/router/route.h. */
#ifndef XP_TRANSLATE_ROUTE_H
#define XP_TRANSLATE_ROUTE_H

#include "envoy/config/route/v3/route.pb-c.h"
#include "proxy/common/diag.h"
#include "proxy/router/route.h"

/* Translates and validates rc into a built route table (refcount 1, owned by
 * the caller). `path` names rc in messages (e.g. "route_config", or the
 * resource name for RDS); every problem is added to diag as
 * "<path>.virtual_hosts[1].routes[3].match.safe_regex.regex: <what>".
 * Returns NULL when any error was found (warnings alone do not fail). */
xp_route_table_t *xp_translate_route_config(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                            const char *path, xp_diag_t *diag);

/* Same, sharing with prev (the previous generation of this table, may be
 * NULL) every route whose Route message is byte-for-byte unchanged: an
 * update that touches one route translates one route. *reused (may be NULL)
 * gets how many were shared. */
xp_route_table_t *
xp_translate_route_config_reuse(const Envoy__Config__Route__V3__RouteConfiguration *rc,
                                const char *path, xp_diag_t *diag, const xp_route_table_t *prev,
                                size_t *reused);

/* One VHDS virtual host (RouteConfiguration.vhds), checked and built on
 * its own (its domains against the rest of the table are the merger's
 * business). prev: the previous version of the same virtual host (may be
 * NULL): byte-identical routes are shared with it. `path` names it in
 * errors ("virtual_host[rc/vh].routes[0]..."). Returns a new virtual host
 * (refcount 1, owned by the caller) or NULL with errors in diag. */
xp_vhost_t *xp_translate_vhost(const Envoy__Config__Route__V3__VirtualHost *pv, const char *path,
                               xp_diag_t *diag, xp_vhost_t *prev, size_t *reused);

/* Same from the serialized RouteConfiguration (as an xDS response carries
 * it): a Route whose bytes equal one of prev's shares its object without
 * being decoded at all, so an update that touches one of 10,000 routes
 * decodes, checks and translates one route (plus the rest of the message
 * without its routes). Fields xproxy does not know are reported as
 * xp_codec_check_unknown_fields does (errors fail the table). */
xp_route_table_t *xp_translate_route_config_bytes(const uint8_t *data, size_t len, const char *path,
                                                  xp_diag_t *diag, const xp_route_table_t *prev,
                                                  size_t *reused);

#endif
