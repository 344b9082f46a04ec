/* Loading an Envoy v3 bootstrap: file (YAML, JSON or binary by extension, as
 * Envoy decides) plus --config-yaml merged over it, CLI node overrides, then
 * validation and translation of static_resources into the proxy's model.
 * The protobuf view stays inside xds/; the proxy gets xp_* objects. */
#ifndef XP_XDS_BOOTSTRAP_H
#define XP_XDS_BOOTSTRAP_H

#include <stdbool.h>

#include "proxy/common/diag.h"
#include "proxy/config/config.h"
#include "proxy/server/options.h"

typedef struct xp_bootstrap xp_bootstrap_t;

/* Registers every compiled API type with the codec (for Any). Idempotent. */
void xp_bootstrap_register_types(void);

/* Loads and validates. Returns NULL when any error was found; every problem
 * (errors and warnings) is in diag, each naming its field path. The result
 * is owned by the caller (xp_bootstrap_free). */
xp_bootstrap_t *xp_bootstrap_load(const xp_options_t *opts, xp_diag_t *diag);
void xp_bootstrap_free(xp_bootstrap_t *b);

/* Static listeners and clusters (borrowed; valid until xp_bootstrap_free). */
xp_listener_cfg_t *const *xp_bootstrap_listeners(const xp_bootstrap_t *b, size_t *n);
xp_cluster_cfg_t *const *xp_bootstrap_clusters(const xp_bootstrap_t *b, size_t *n);

/* Admin server address, its access log file (NULL: none) and how many of
 * its access loggers xproxy does not implement; false when the bootstrap
 * has no admin section. */
bool xp_bootstrap_admin(const xp_bootstrap_t *b, const xp_addr_t **addr,
                        const char **access_log_path, size_t *logs_unimplemented);

/* Node as JSON for /server_info (caller frees). */
char *xp_bootstrap_node_json(const xp_bootstrap_t *b);

/* The decoded Bootstrap (envoy.config.bootstrap.v3.Bootstrap), for xds/. */
const struct Envoy__Config__Bootstrap__V3__Bootstrap *xp_bootstrap_pb(const xp_bootstrap_t *b);

#endif
