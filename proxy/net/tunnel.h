/* A byte tunnel between two connected sockets (tcp_proxy sessions and
 * upgraded HTTP connections such as WebSocket): bytes flow both ways without
 * copies, with backpressure (a side stops being read while the other side
 * has more than `limit` bytes queued), and half-close is respected (EOF on
 * one side becomes a FIN on the other; the tunnel ends when both sides have
 * finished, or on an error or the idle timeout). A config change never
 * touches a running tunnel: it holds nothing of the config but the numbers
 * copied at start. An idle tunnel holds no buffer. */
#ifndef XP_NET_TUNNEL_H
#define XP_NET_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/net/sock.h"

typedef struct xp_tunnel xp_tunnel_t;

typedef struct {
    xp_sock_t *sock;
    bool eof;       /* the peer sent FIN */
    bool closed_cb; /* closed() ran */
    bool paused;    /* reading stopped for backpressure */
    uint64_t rx_bytes;
} xp_tunnel_end_t;

struct xp_tunnel {
    xp_tunnel_end_t end[2]; /* 0: downstream, 1: upstream */
    uint32_t limit;
    bool own_timer; /* timer was allocated here (else it is the owner's) */
    bool finishing;
    /* The idle timeout's timer while it runs, NULL without one; when the
     * idle timeout ends (loop time, net/lazy_timer.h). */
    uv_timer_t *timer;
    uint64_t idle_due;
    void *owner;
    /* Called once side's socket is closed; the callee frees whatever holds
     * the socket. */
    void (*closed)(xp_tunnel_t *t, int side);
    /* Both sockets are closed and the idle timer is stopped (or, if it was
     * the tunnel's own, freed): the owner may free t. */
    void (*done)(xp_tunnel_t *t);
    const char *end_reason; /* why it ended: "eof", "error", "idle_timeout", "local" */
};

/* Takes over both sockets (their ops and owner are replaced) and starts
 * moving bytes. idle_ms 0 disables the idle timeout. timer, when not NULL,
 * is an initialised timer of the owner's that is idle for the tunnel's life
 * (an upgraded HTTP connection's idle timer): the tunnel runs its idle
 * timeout on it (setting its data and callback) and stops it before done();
 * the owner closes it. Without one the tunnel allocates its own timer when
 * idle_ms is set. */
void xp_tunnel_start(xp_tunnel_t *t, uv_loop_t *loop, xp_sock_t *down, xp_sock_t *up,
                     uint32_t limit, uint64_t idle_ms, uv_timer_t *timer);
/* Sends bytes to one side before (or while) the tunnel runs, e.g. the 101
 * response head or bytes that arrived with the upgrade request. */
int xp_tunnel_write(xp_tunnel_t *t, int side, xp_chunk_t *c, const char *p, size_t len);
/* Ends the tunnel now (shutdown, drain deadline). */
void xp_tunnel_close(xp_tunnel_t *t, const char *reason);

#endif
