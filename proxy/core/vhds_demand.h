/* On-demand virtual hosts (VHDS), the data plane's half: a worker whose
 * request matched no virtual host of a route configuration with VHDS asks
 * the main thread, which owns the xDS client, to fetch "<route config>/<host>"
 * (Envoy's resource naming). The question travels here (a mutex-protected
 * queue and a uv_async_t on the main loop); the answer goes back to every
 * worker as a message after the snapshot that carries the virtual host
 * (xp_dataplane_vhds_answered), so a worker resumes its waiting streams
 * with the new table already in place.
 *
 * One handler per process (the xDS manager's). */
#ifndef XP_CORE_VHDS_DEMAND_H
#define XP_CORE_VHDS_DEMAND_H

#include <stdbool.h>
#include <uv.h>

/* Runs on the main loop for each request posted; key is "<rc>/<host>",
 * borrowed for the call. */
typedef void (*xp_vhds_demand_fn)(void *ctx, const char *key);

/* Installs the handler on the main loop (main thread). Returns 0 or a
 * negative libuv error. */
int xp_vhds_demand_start(uv_loop_t *main_loop, xp_vhds_demand_fn fn, void *ctx);
/* Removes the handler and closes its handle; requests still queued are
 * dropped (their streams time out). Main thread; safe without a start. */
void xp_vhds_demand_stop(void);
/* Any thread: queues the request (key copied). False when no handler is
 * installed (nothing will answer). */
bool xp_vhds_demand_post(const char *key);

#endif
