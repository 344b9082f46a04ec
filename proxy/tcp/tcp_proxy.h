/* The tcp_proxy network filter: connect to a host of the configured cluster
 * (retrying the connect up to max_connect_attempts), then tunnel bytes both
 * ways until either side finishes. A config change never closes a session:
 * the session holds its own references. */
#ifndef XP_TCP_TCP_PROXY_H
#define XP_TCP_TCP_PROXY_H

#include "proxy/core/wctx.h"

/* Takes the accepted connection (the fd and references in a are the
 * callee's from here). */
void xp_tcp_proxy_accept(xp_wctx_t *w, const xp_accept_t *a);

#endif
