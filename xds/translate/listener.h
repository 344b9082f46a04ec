/* Listener resources (with their HTTP connection manager and tcp_proxy
 * filters) → xp_listener_cfg_t. */
#ifndef XP_TRANSLATE_LISTENER_H
#define XP_TRANSLATE_LISTENER_H

#include "envoy/config/accesslog/v3/accesslog.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "proxy/common/diag.h"
#include "proxy/config/config.h"

/* A new listener config (one reference, the caller's), or NULL with errors
 * added under `path`. */
xp_listener_cfg_t *xp_translate_listener(const Envoy__Config__Listener__V3__Listener *l,
                                         xp_path_t *path, xp_diag_t *diag);

/* access_log lists (HCM, tcp_proxy, admin): a new array, caller frees with
 * xp_access_log_cfg_clear on each element. A logger xproxy does not
 * implement is left out with a warning, so on success n - *n_out of the n
 * given are not implemented. */
int xp_translate_access_logs(Envoy__Config__Accesslog__V3__AccessLog *const *logs, size_t n,
                             xp_path_t *path, xp_diag_t *diag, xp_access_log_cfg_t **out,
                             size_t *n_out);

#endif
