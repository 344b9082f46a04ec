/* The HTTP connection manager (HTTP/1.1): parses requests, routes them,
 * forwards them to upstream clusters over pooled keep-alive connections with
 * streamed bodies and backpressure, retries, timeouts, local replies, and
 * upgrades (WebSocket) that become byte tunnels.
 *
 * Lifetime: a connection holds its listener and filter chain from accept to
 * close; each stream holds the route table, route and cluster it routed with
 * until it ends. A config change never closes a connection; a keep-alive
 * connection simply routes its next request with whatever it holds. */
#ifndef XP_HTTP_HCM_H
#define XP_HTTP_HCM_H

#include "proxy/core/wctx.h"

/* Takes the accepted connection (fd and references in a are the callee's). */
void xp_hcm_accept(xp_wctx_t *w, const xp_accept_t *a);
/* Frees this thread's parsing scratch (at worker exit). */
void xp_hcm_thread_cleanup(void);

/* Worker thread: the main thread has answered the on-demand VHDS request
 * "<route config>/<host>" (the virtual host arrived, does not exist, or the
 * answer is all there will be); streams of this worker waiting for it route
 * again with the worker's current snapshot. */
void xp_hcm_vhds_answered(xp_wctx_t *w, const char *key);

#endif
