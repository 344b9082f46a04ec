/* The admin HTTP server (Envoy's admin endpoints) on the main loop, bound only
 * to the bootstrap's admin.address. Requests are small and rare: one request
 * per connection, answered with Connection: close. */
#ifndef XP_SERVER_ADMIN_H
#define XP_SERVER_ADMIN_H

#include <sys/socket.h>

#include "proxy/server/server.h"

/* Listens on addr; returns 0 or a negative libuv error (e.g. UV_EADDRINUSE).
 * The admin object is owned by the server (s->admin). access_log_path may be
 * NULL (no admin access log). */
int xp_admin_start(xp_server_t *s, const struct sockaddr *addr, const char *access_log_path);
/* The bound port (useful when the bootstrap asked for port 0). */
int xp_admin_port(const xp_admin_t *a);
/* Closes the listener and every admin connection; frees on close. */
void xp_admin_stop(xp_admin_t *a);

#endif
