#include "proxy/server/server.h"
#include "proxy/server/admin.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *xp_server_state_to_str(xp_server_state_t s)
{
    switch (s) {
    case XP_SERVER_LIVE:
        return "LIVE";
    case XP_SERVER_DRAINING:
        return "DRAINING";
    case XP_SERVER_PRE_INITIALIZING:
        return "PRE_INITIALIZING";
    case XP_SERVER_INITIALIZING:
        return "INITIALIZING";
    }
    return "UNKNOWN";
}

static bool xp__state_legal(xp_server_state_t from, xp_server_state_t to)
{
    /* PRE_INITIALIZING -> INITIALIZING -> LIVE -> DRAINING; any -> DRAINING. */
    switch (to) {
    case XP_SERVER_INITIALIZING:
        return from == XP_SERVER_PRE_INITIALIZING;
    case XP_SERVER_LIVE:
        return from == XP_SERVER_PRE_INITIALIZING || from == XP_SERVER_INITIALIZING;
    case XP_SERVER_DRAINING:
        return true;
    case XP_SERVER_PRE_INITIALIZING:
        return false;
    }
    return false;
}

void xp_server_set_state(xp_server_t *s, xp_server_state_t state)
{
    if (state == s->state)
        return;
    if (!xp__state_legal(s->state, state)) {
        XP_ERROR("server: illegal state change %s -> %s", xp_server_state_to_str(s->state),
                 xp_server_state_to_str(state));
        abort();
    }
    XP_DEBUG("server: state %s -> %s", xp_server_state_to_str(s->state),
             xp_server_state_to_str(state));
    s->state = state;
    xp_stat_set(xp_stats_gauge(s->stats, "server.state"), (int64_t)state);
    xp_stat_set(xp_stats_gauge(s->stats, "server.live"), state == XP_SERVER_LIVE);
}

static void xp__on_signal(uv_signal_t *sig, int signum)
{
    xp_server_t *s = sig->data;
    XP_INFO("caught %s, draining", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    xp_server_drain_and_exit(s);
}

static uint64_t xp__now_ms(xp_server_t *s)
{
    return uv_now(s->loop);
}

/* Ticks every 100 ms while draining: ends the graceful period or the exit
 * wait. */
static void xp__drain_tick(uv_timer_t *t)
{
    xp_server_t *s = t->data;
    uint64_t open = s->drain.open_connections ? s->drain.open_connections(s->drain.arg) : 0;
    bool deadline = xp__now_ms(s) >= s->drain_deadline_ms;
    if (s->exit_after_drain) {
        if (open == 0 || deadline) {
            XP_INFO("drain finished (%llu connection%s left), exiting", (unsigned long long)open,
                    open == 1 ? "" : "s");
            xp_server_shutdown(s);
        }
        return;
    }
    if (deadline) {
        /* graceful /drain_listeners: the period is over, stop accepting */
        if (s->drain.drain)
            s->drain.drain(s->drain.arg, 1);
        uv_timer_stop(t);
    }
}

static void xp__drain_start(xp_server_t *s, int close_listeners)
{
    if (s->drain.drain)
        s->drain.drain(s->drain.arg, close_listeners);
    s->drain_deadline_ms = xp__now_ms(s) + (uint64_t)s->opts.drain_time_s * 1000;
    if (!s->drain_timer_on) {
        uv_timer_init(s->loop, &s->drain_timer);
        s->drain_timer.data = s;
        s->drain_timer_on = true;
    }
    uv_timer_start(&s->drain_timer, xp__drain_tick, 100, 100);
}

void xp_server_drain_listeners(xp_server_t *s, bool graceful)
{
    if (s->shutting_down)
        return;
    xp_server_set_state(s, XP_SERVER_DRAINING);
    if (graceful)
        xp__drain_start(s, 0);
    else if (s->drain.drain)
        s->drain.drain(s->drain.arg, 1);
}

void xp_server_drain_and_exit(xp_server_t *s)
{
    if (s->shutting_down)
        return;
    if (s->exit_after_drain || s->opts.drain_time_s == 0) {
        xp_server_shutdown(s);
        return;
    }
    s->exit_after_drain = true;
    xp_server_set_state(s, XP_SERVER_DRAINING);
    xp__drain_start(s, 1);
}

int xp_server_init(xp_server_t *s, const xp_options_t *opts, uv_loop_t *loop)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->opts = *opts;
    s->stats = xp_stats_new();
    s->state = XP_SERVER_PRE_INITIALIZING;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->start_time_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

    xp_stat_set(xp_stats_gauge(s->stats, "server.concurrency"), opts->concurrency);
    xp_stat_set(xp_stats_gauge(s->stats, "server.state"), s->state);
    xp_stats_gauge(s->stats, "server.live");
    xp_stats_gauge(s->stats, "server.uptime");
    xp_stat_set(xp_stats_gauge(s->stats, "server.hot_restart_epoch"), 0);

    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    s->sig_term.data = s->sig_int.data = s;
    uv_signal_start(&s->sig_term, xp__on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, xp__on_signal, SIGINT);

    s->nworkers = opts->concurrency;
    s->workers = xp_calloc((size_t)s->nworkers, sizeof(*s->workers));
    for (int i = 0; i < s->nworkers; i++) {
        int rc = xp_worker_start(&s->workers[i], i, s);
        if (rc) {
            XP_ERROR("cannot start worker %d: %s", i, uv_strerror(rc));
            s->nworkers = i;
            return rc;
        }
    }
    return 0;
}

void xp_server_on_shutdown(xp_server_t *s, void (*fn)(void *arg), void *arg)
{
    if (s->n_shutdown_hooks == (int)XP_ARRAY_SIZE(s->shutdown_hooks))
        abort();
    s->shutdown_hooks[s->n_shutdown_hooks].fn = fn;
    s->shutdown_hooks[s->n_shutdown_hooks].arg = arg;
    s->n_shutdown_hooks++;
}

void xp_server_shutdown(xp_server_t *s)
{
    if (s->shutting_down)
        return;
    s->shutting_down = 1;
    xp_server_set_state(s, XP_SERVER_DRAINING);
    if (s->drain_timer_on && !uv_is_closing((uv_handle_t *)&s->drain_timer))
        uv_close((uv_handle_t *)&s->drain_timer, NULL);
    xp_admin_stop(s->admin);
    s->admin = NULL;
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    for (int i = s->n_shutdown_hooks - 1; i >= 0; i--)
        s->shutdown_hooks[i].fn(s->shutdown_hooks[i].arg);
    for (int i = 0; i < s->nworkers; i++)
        if (xp_worker_stop(&s->workers[i], s->worker_on_stop, s->dataplane) != 0)
            s->exit_code = 1;
    s->nworkers = 0;
}

void xp_server_destroy(xp_server_t *s)
{
    free(s->workers);
    s->workers = NULL;
    xp_stats_free(s->stats);
    s->stats = NULL;
}
