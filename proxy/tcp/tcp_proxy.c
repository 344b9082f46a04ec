#include "proxy/tcp/tcp_proxy.h"
#include "proxy/accesslog/accesslog.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/net/tunnel.h"
#include "proxy/upstream/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    XP_TCPS_CONNECTING,
    XP_TCPS_TUNNEL,
    XP_TCPS_CLOSING,
} xp__tcps_state_t;

typedef struct {
    xp_stat_t *downstream_cx_total, *downstream_cx_no_route, *downstream_cx_rx_bytes_total,
        *downstream_cx_tx_bytes_total, *idle_timeout, *upstream_connect_attempts_exceeded;
} xp__tcp_stats_t;

typedef struct {
    xp_conn_link_t link; /* first */
    xp_wctx_t *w;
    xp_sock_t down;
    xp_uconn_t *up;
    xp_tunnel_t tunnel;
    xp_listener_cfg_t *listener;
    xp_filter_chain_t *chain;
    xp_listener_stats_t *lstats;
    xp_wcluster_t *cluster;
    xp_host_t *last_host;
    xp__tcp_stats_t st;
    uint32_t attempts;
    uint64_t start_us, start_ms, id, rx, tx;
    char peer[64], local[64], upstream_addr[64];
    xp__tcps_state_t state;
    bool on_old_config; /* counted in downstream_cx_old_config */
    bool down_closed;
} xp__tcps_t;

/* Envoy logs tcp_proxy sessions with the same operators; the HTTP ones
 * print "-". */
static void xp__access_log(xp__tcps_t *s)
{
    const xp_tcp_proxy_cfg_t *cfg = s->chain->u.tcp;
    if (cfg->n_access_logs == 0)
        return;
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.start_time_us = (int64_t)s->start_us;
    r.duration_us = (int64_t)(uv_now(s->w->loop) - s->start_ms) * 1000;
    r.bytes_received = s->rx;
    r.bytes_sent = s->tx;
    if (s->cluster)
        r.upstream_cluster = xp_str_c(s->cluster->name);
    r.upstream_host = xp_str_c(s->upstream_addr);
    r.downstream_remote_address = xp_str_c(s->peer);
    r.downstream_local_address = xp_str_c(s->local);
    r.connection_id = s->id;
    r.attempt_count = s->attempts;
    for (size_t i = 0; i < cfg->n_access_logs; i++)
        if (cfg->access_logs[i].log)
            xp_access_log_write(cfg->access_logs[i].log, &r);
}

static void xp__session_free(xp__tcps_t *s)
{
    xp__access_log(s);
    if (s->on_old_config)
        xp_stat_dec(s->lstats->downstream_cx_old_config);
    xp_wctx_unlink(s->w, &s->link);
    xp_stat_dec(s->lstats->downstream_cx_active);
    xp_stat_inc(s->lstats->downstream_cx_destroy);
    if (s->cluster)
        xp_wcluster_unref(s->cluster);
    xp_filter_chain_unref(s->chain);
    xp_listener_cfg_unref(s->listener);
    free(s);
}

/* ---- before the tunnel: the downstream socket is only watched for close */

static void xp__pre_data(xp_sock_t *sk, xp_chunk_t *c, char *p, size_t len)
{
    (void)sk;
    (void)c;
    (void)p;
    (void)len; /* not reading before connect */
}

static void xp__pre_close_down(xp_sock_t *sk)
{
    xp__tcps_t *s = sk->owner;
    s->state = XP_TCPS_CLOSING;
    if (s->up) {
        xp_uconn_close(s->up); /* connecting: cancels the callback */
        s->up = NULL;
    }
    xp__session_free(s);
}

static void xp__pre_eof(xp_sock_t *sk)
{
    xp_sock_close(sk);
}

static void xp__pre_error(xp_sock_t *sk, int err)
{
    (void)err;
    xp_sock_close(sk);
}

static void xp__pre_written(xp_sock_t *sk)
{
    (void)sk;
}

static const xp_sock_ops_t xp__pre_ops = {
    .on_data = xp__pre_data,
    .on_eof = xp__pre_eof,
    .on_error = xp__pre_error,
    .on_written = xp__pre_written,
    .on_close = xp__pre_close_down,
};

/* ---- tunnel ------------------------------------------------------------- */

static void xp__tunnel_side_closed(xp_tunnel_t *t, int side)
{
    xp__tcps_t *s = t->owner;
    if (side == 1) {
        xp_uconn_sock_closed(s->up);
        s->up = NULL;
    } else {
        s->down_closed = true;
    }
}

static void xp__tunnel_done(xp_tunnel_t *t)
{
    xp__tcps_t *s = t->owner;
    s->rx = t->end[0].rx_bytes;
    s->tx = t->end[1].rx_bytes;
    xp_stat_add(s->st.downstream_cx_rx_bytes_total, (int64_t)s->rx);
    xp_stat_add(s->st.downstream_cx_tx_bytes_total, (int64_t)s->tx);
    if (t->end_reason && strcmp(t->end_reason, "idle_timeout") == 0)
        xp_stat_inc(s->st.idle_timeout);
    xp__session_free(s);
}

static void xp__connect(xp__tcps_t *s);

static void xp__connected(void *ctx, xp_uconn_t *u, int status)
{
    xp__tcps_t *s = ctx;
    s->up = u;
    if (status != 0) {
        s->up = NULL;
        if (s->attempts < s->chain->u.tcp->max_connect_attempts) {
            xp__connect(s);
            return;
        }
        xp_stat_inc(s->st.upstream_connect_attempts_exceeded);
        xp_sock_close(&s->down);
        return;
    }
    s->state = XP_TCPS_TUNNEL;
    snprintf(s->upstream_addr, sizeof(s->upstream_addr), "%s", u->host->addr.str);
    memset(&s->tunnel, 0, sizeof(s->tunnel));
    s->tunnel.owner = s;
    s->tunnel.done = xp__tunnel_done;
    s->tunnel.closed = xp__tunnel_side_closed;
    xp_uconn_hand_over(u);
    xp_tunnel_start(&s->tunnel, s->w->loop, &s->down, &u->sock,
                    s->listener->per_connection_buffer_limit_bytes,
                    s->chain->u.tcp->idle_timeout_ms, NULL);
}

static void xp__connect(xp__tcps_t *s)
{
    s->attempts++;
    xp_host_t *h = xp_wcluster_choose(s->cluster, NULL, s->last_host);
    if (h == NULL) {
        xp_sock_close(&s->down);
        return;
    }
    s->last_host = h; /* only compared, never dereferenced later */
    xp_uconn_t *u = NULL;
    int rc = xp_uconn_acquire(s->cluster, h, false, xp__connected, s, &u);
    if (rc < 0) {
        xp_sock_close(&s->down);
        return;
    }
    s->up = u;
}

/* A session keeps its config; it only counts itself when that config is no
 * longer the current one. */
static void xp__config_changed(xp_conn_link_t *l)
{
    xp__tcps_t *s = (xp__tcps_t *)l;
    if (s->on_old_config || xp_wctx_listener(s->w, s->listener) == s->listener)
        return;
    s->on_old_config = true;
    xp_stat_inc(s->lstats->downstream_cx_old_config);
}

static void xp__close_now(xp_conn_link_t *l)
{
    xp__tcps_t *s = (xp__tcps_t *)l;
    if (s->state == XP_TCPS_TUNNEL)
        xp_tunnel_close(&s->tunnel, "local");
    else
        xp_sock_close(&s->down);
}

void xp_tcp_proxy_accept(xp_wctx_t *w, const xp_accept_t *a)
{
    xp__tcps_t *s = xp_calloc(1, sizeof(*s));
    s->w = w;
    s->listener = a->listener;
    s->chain = a->chain;
    s->lstats = a->lstats;
    s->link.close_now = xp__close_now;
    s->link.config_changed = xp__config_changed;
    s->id = xp_next_connection_id();
    s->start_ms = uv_now(w->loop);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->start_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
    xp_wctx_link(w, &s->link);
    const xp_tcp_proxy_cfg_t *cfg = a->chain->u.tcp;
    const char *p = cfg->stat_prefix;
    s->st.downstream_cx_total = xp_stats_counterf(w->stats, "tcp.%s.downstream_cx_total", p);
    s->st.downstream_cx_no_route = xp_stats_counterf(w->stats, "tcp.%s.downstream_cx_no_route", p);
    s->st.downstream_cx_rx_bytes_total =
        xp_stats_counterf(w->stats, "tcp.%s.downstream_cx_rx_bytes_total", p);
    s->st.downstream_cx_tx_bytes_total =
        xp_stats_counterf(w->stats, "tcp.%s.downstream_cx_tx_bytes_total", p);
    s->st.idle_timeout = xp_stats_counterf(w->stats, "tcp.%s.idle_timeout", p);
    s->st.upstream_connect_attempts_exceeded =
        xp_stats_counterf(w->stats, "tcp.%s.upstream_connect_attempts_exceeded", p);
    xp_stat_inc(s->st.downstream_cx_total);

    xp_sock_init(&s->down, w->loop, &xp__pre_ops, s);
    if (uv_tcp_open(&s->down.tcp, a->fd) != 0) {
        close(a->fd);
        xp_sock_close(&s->down);
        return;
    }
    xp_sock_nodelay(&s->down);
    xp_sock_peer_str(&s->down, s->peer, sizeof(s->peer));
    xp_sock_local_str(&s->down, s->local, sizeof(s->local));

    const char *cluster = cfg->cluster;
    if (cfg->n_weighted) {
        uint64_t r = (uint64_t)rand() % cfg->total_weight;
        for (size_t i = 0; i < cfg->n_weighted; i++) {
            if (r < cfg->weighted[i].weight) {
                cluster = cfg->weighted[i].name;
                break;
            }
            r -= cfg->weighted[i].weight;
        }
    }
    s->cluster = cluster ? xp_cm_get(w->cm, cluster, strlen(cluster)) : NULL;
    if (s->cluster == NULL) {
        xp_stat_inc(s->st.downstream_cx_no_route);
        xp_sock_close(&s->down);
        return;
    }
    xp_wcluster_ref(s->cluster);
    xp__connect(s);
}
