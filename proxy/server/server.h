/* The server: the main thread's loop (admin, signals, config publication),
 * the workers, and the stats store. One per process. */
#ifndef XP_SERVER_SERVER_H
#define XP_SERVER_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "proxy/server/options.h"
#include "proxy/server/worker.h"
#include "proxy/stats/stats.h"

/* Envoy's ServerInfo.State, with its numbering (server.state gauge). */
typedef enum {
    XP_SERVER_LIVE = 0,
    XP_SERVER_DRAINING = 1,
    XP_SERVER_PRE_INITIALIZING = 2,
    XP_SERVER_INITIALIZING = 3,
} xp_server_state_t;

const char *xp_server_state_to_str(xp_server_state_t s);

/* What the admin server asks of the configuration side (xds/), which keeps the
 * protobuf view of the config. Each returns a string owned by the caller. */
typedef struct {
    char *(*config_dump)(void *ctx, const char *resource_filter);
    char *(*node_json)(void *ctx);
    char *(*listeners)(void *ctx, int json);
    char *(*clusters)(void *ctx, int json);
    /* Sets gauges that are computed, not counted (may be NULL). */
    void (*refresh_stats)(void *ctx, xp_stats_t *stats);
    /* GET /runtime: Envoy's JSON of the runtime's layers and values (may be
     * NULL). */
    char *(*runtime)(void *ctx);
    /* POST /runtime_modify: keys[i] = values[i] into the admin layer (an
     * empty value removes the key). 0, or -1 with *error (caller frees). */
    int (*runtime_modify)(void *ctx, char *const *keys, char *const *values, size_t n,
                          char **error);
} xp_config_hooks_t;

typedef struct xp_admin xp_admin_t;

/* What draining needs from the data plane (set by it). */
typedef struct {
    void (*drain)(void *arg, int close_listeners);
    uint64_t (*open_connections)(void *arg);
    void *arg;
} xp_drain_hooks_t;

typedef struct xp_server {
    uv_loop_t *loop;
    xp_options_t opts;
    xp_stats_t *stats;
    xp_worker_t *workers;
    int nworkers;
    xp_admin_t *admin;
    xp_server_state_t state;
    uint64_t start_time_ms; /* wall clock, for uptime */
    uv_signal_t sig_term, sig_int;
    const xp_config_hooks_t *hooks;
    void *hooks_ctx;
    int exit_code;
    int shutting_down;
    /* Run on the main thread at shutdown, most recently added first; then
     * worker_on_stop (set by the data plane) on each worker before its loop
     * drains. */
    struct {
        void (*fn)(void *arg);
        void *arg;
    } shutdown_hooks[4];
    int n_shutdown_hooks;
    xp_worker_fn worker_on_stop;
    void *dataplane;
    /* The admin server's access loggers xproxy does not implement: part of
     * the server.access_logs_unimplemented gauge (the data plane adds its
     * listeners'). */
    size_t admin_logs_unimplemented;
    xp_drain_hooks_t drain;
    uv_timer_t drain_timer;
    bool drain_timer_on;
    bool exit_after_drain;
    uint64_t drain_deadline_ms;
} xp_server_t;

/* Sets up the main loop state, signal handlers and `concurrency` workers.
 * The server struct is the caller's; everything it points to is owned by it
 * until xp_server_destroy. */
int xp_server_init(xp_server_t *s, const xp_options_t *opts, uv_loop_t *loop);
void xp_server_set_state(xp_server_t *s, xp_server_state_t state);
/* Adds a main-thread shutdown hook (at most 4). */
void xp_server_on_shutdown(xp_server_t *s, void (*fn)(void *arg), void *arg);
/* /drain_listeners: stop accepting and let connections finish (keep-alive
 * ones close after their response; tunnels go on). graceful: keep accepting
 * (draining new connections too) for --drain-time-s, then stop. */
void xp_server_drain_listeners(xp_server_t *s, bool graceful);
/* SIGTERM: drain, then shut down once no connection is left or after
 * --drain-time-s, whichever comes first. A second call shuts down at once. */
void xp_server_drain_and_exit(xp_server_t *s);
/* Stops accepting, closes the admin server and signal handles, stops the
 * workers. Safe to call more than once; the main loop then runs dry. */
void xp_server_shutdown(xp_server_t *s);
/* Frees what init created; call after the main loop has returned. */
void xp_server_destroy(xp_server_t *s);

#endif
