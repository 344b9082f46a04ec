#include "proxy/upstream/cluster.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/net/lazy_timer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XP__BUCKETS 4096 /* power of two; chains stay short up to ~10^5 clusters */

struct xp_pool {
    char key[64];     /* host address, "ip:port" */
    xp_uconn_t *idle; /* most recently used first */
    size_t n_idle;
    xp_pool_t *next;
};

struct xp_cm {
    uv_loop_t *loop;
    xp_wcluster_t *buckets[XP__BUCKETS];
    size_t n_clusters;
    size_t open_conns;
    uint64_t seed;
    bool shutting_down;
};

typedef struct {
    xp_uconn_t u;
    bool closed_by_us;
} xp__uconn_impl_t;

static uint64_t xp__hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

xp_cm_t *xp_cm_new(uv_loop_t *loop, uint64_t seed)
{
    xp_cm_t *cm = xp_calloc(1, sizeof(*cm));
    cm->loop = loop;
    cm->seed = seed;
    return cm;
}

static xp_wcluster_t **xp__slot(xp_cm_t *cm, const char *name, size_t len)
{
    xp_wcluster_t **p = &cm->buckets[xp__hash(name, len) & (XP__BUCKETS - 1)];
    while (*p && !(strncmp((*p)->name, name, len) == 0 && (*p)->name[len] == '\0'))
        p = &(*p)->next_in_bucket;
    return p;
}

static void xp__maybe_free_cm(xp_cm_t *cm)
{
    if (cm->shutting_down && cm->n_clusters == 0 && cm->open_conns == 0)
        free(cm);
}

void xp_wcluster_ref(xp_wcluster_t *c)
{
    c->refs++;
}

void xp_wcluster_unref(xp_wcluster_t *c)
{
    if (--c->refs)
        return;
    xp_cm_t *cm = c->cm;
    xp_wcluster_t **slot = xp__slot(cm, c->name, strlen(c->name));
    if (*slot == c)
        *slot = c->next_in_bucket;
    cm->n_clusters--;
    for (xp_pool_t *p = c->pools; p;) {
        xp_pool_t *n = p->next;
        free(p);
        p = n;
    }
    xp_cluster_cfg_unref(c->cfg);
    if (c->hosts)
        xp_host_set_unref(c->hosts);
    xp_lb_state_clear(&c->lb);
    free(c->name);
    free(c);
    xp__maybe_free_cm(cm);
}

static void xp__close_idle(xp_wcluster_t *c)
{
    for (xp_pool_t *p = c->pools; p; p = p->next)
        while (p->idle)
            xp_uconn_close(p->idle);
}

void xp_cm_apply(xp_cm_t *cm, const xp_snapshot_t *snap)
{
    for (size_t b = 0; b < XP__BUCKETS; b++)
        for (xp_wcluster_t *c = cm->buckets[b]; c; c = c->next_in_bucket)
            c->seen = false;
    for (size_t i = 0; i < snap->n_clusters; i++) {
        const xp_snapshot_cluster_t *sc = &snap->clusters[i];
        const char *name = sc->cfg->name;
        xp_wcluster_t **slot = xp__slot(cm, name, strlen(name));
        xp_wcluster_t *c = *slot;
        if (c == NULL) {
            c = xp_calloc(1, sizeof(*c));
            c->name = xp_strdup(name);
            c->cm = cm;
            xp_lb_state_init(&c->lb, cm->seed ^ xp__hash(name, strlen(name)));
            *slot = c;
            cm->n_clusters++;
        }
        if (!c->configured) {
            /* new, or removed earlier and still alive: the manager holds a
             * reference again, and the old pools are reused */
            c->configured = true;
            c->refs++;
        }
        c->seen = true;
        if (c->cfg != sc->cfg) {
            xp_cluster_cfg_ref(sc->cfg);
            if (c->cfg)
                xp_cluster_cfg_unref(c->cfg);
            c->cfg = sc->cfg;
        }
        if (c->hosts != sc->hosts) {
            if (sc->hosts)
                xp_host_set_ref(sc->hosts);
            if (c->hosts)
                xp_host_set_unref(c->hosts);
            c->hosts = sc->hosts;
        }
        c->stats = sc->stats;
    }
    /* Removed clusters: idle pooled connections go now, busy ones when their
     * streams end, and the cluster with its last reference. */
    for (size_t b = 0; b < XP__BUCKETS; b++) {
        xp_wcluster_t *c = cm->buckets[b];
        while (c) {
            xp_wcluster_t *next = c->next_in_bucket;
            if (c->configured && !c->seen) {
                c->configured = false;
                xp_wcluster_ref(c); /* keep c while closing its pools */
                xp__close_idle(c);
                xp_wcluster_unref(c); /* the manager's */
                xp_wcluster_unref(c);
            }
            c = next;
        }
    }
}

xp_wcluster_t *xp_cm_get(xp_cm_t *cm, const char *name, size_t len)
{
    xp_wcluster_t *c = *xp__slot(cm, name, len);
    return c && c->configured ? c : NULL;
}

void xp_cm_shutdown(xp_cm_t *cm)
{
    /* shutting_down is set after the walk: until then no unref can free cm
     * under our feet. */
    for (size_t b = 0; b < XP__BUCKETS; b++) {
        xp_wcluster_t *c = cm->buckets[b];
        while (c) {
            xp_wcluster_t *next = c->next_in_bucket;
            if (c->configured) {
                c->configured = false;
                xp_wcluster_ref(c);
                xp__close_idle(c);
                xp_wcluster_unref(c);
                xp_wcluster_unref(c);
            }
            c = next;
        }
    }
    cm->shutting_down = true;
    xp__maybe_free_cm(cm);
}

size_t xp_cm_open_connections(const xp_cm_t *cm)
{
    return cm->open_conns;
}

xp_host_t *xp_wcluster_choose(xp_wcluster_t *c, const uint64_t *hash, const xp_host_t *avoid)
{
    if (c->hosts == NULL)
        return NULL;
    if (avoid)
        return xp_lb_choose_excluding(c->hosts, &c->lb, c->cfg->lb_policy, hash, avoid);
    return xp_lb_choose(c->hosts, &c->lb, c->cfg->lb_policy, hash);
}

/* ---- upstream connections ------------------------------------------------ */

static xp_pool_t *xp__pool(xp_wcluster_t *c, const char *key)
{
    for (xp_pool_t *p = c->pools; p; p = p->next)
        if (strcmp(p->key, key) == 0)
            return p;
    xp_pool_t *p = xp_calloc(1, sizeof(*p));
    snprintf(p->key, sizeof(p->key), "%s", key);
    p->next = c->pools;
    c->pools = p;
    return p;
}

static void xp__idle_remove(xp_uconn_t *u)
{
    xp_pool_t *p = u->pool;
    if (u->prev_idle)
        u->prev_idle->next_idle = u->next_idle;
    else
        p->idle = u->next_idle;
    if (u->next_idle)
        u->next_idle->prev_idle = u->prev_idle;
    u->prev_idle = u->next_idle = NULL;
    p->n_idle--;
}

static void xp__handle_closed(uv_handle_t *h)
{
    xp_uconn_t *u = h->data;
    if ((uv_handle_t *)u->timer == h) {
        free(u->timer);
        u->timer = NULL;
    }
    if (--u->open_handles > 0)
        return;
    xp_wcluster_t *c = u->cluster;
    c->cm->open_conns--;
    xp_host_unref(u->host);
    free(XP_CONTAINER_OF(u, xp__uconn_impl_t, u));
    /* Last: the cluster's (and so the manager's) memory may go with it. A
     * cluster that stays keeps the manager alive (n_clusters > 0). */
    xp_wcluster_unref(c);
}

static void xp__uconn_closing(xp_uconn_t *u, bool local)
{
    xp__uconn_impl_t *impl = XP_CONTAINER_OF(u, xp__uconn_impl_t, u);
    if (u->state == XP_UCONN_IDLE)
        xp__idle_remove(u);
    u->state = XP_UCONN_CLOSING;
    impl->closed_by_us = local;
    xp_cluster_stats_t *st = u->cluster->stats;
    xp_stat_dec(st->upstream_cx_active);
    xp_stat_inc(st->upstream_cx_destroy);
    xp_stat_inc(local ? st->upstream_cx_destroy_local : st->upstream_cx_destroy_remote);
    if (u->timer && !uv_is_closing((uv_handle_t *)u->timer))
        uv_close((uv_handle_t *)u->timer, xp__handle_closed);
}

void xp_uconn_close(xp_uconn_t *u)
{
    if (u->state == XP_UCONN_CLOSING)
        return;
    u->cb = NULL;
    xp__uconn_closing(u, true);
    xp_sock_close(&u->sock);
}

void xp_uconn_hand_over(xp_uconn_t *u)
{
    if (u->timer && !uv_is_closing((uv_handle_t *)u->timer))
        uv_close((uv_handle_t *)u->timer, xp__handle_closed);
}

void xp_uconn_sock_closed(xp_uconn_t *u)
{
    if (u->state != XP_UCONN_CLOSING)
        xp__uconn_closing(u, false);
    xp__handle_closed((uv_handle_t *)&u->sock.tcp);
}

/* Socket events: idle connections are watched here (any byte or FIN from an
 * idle upstream means it is unusable); busy ones go to their user. */
static void xp__on_data(xp_sock_t *s, xp_chunk_t *c, char *p, size_t len)
{
    xp_uconn_t *u = (xp_uconn_t *)s;
    xp_stat_add(u->cluster->stats->upstream_cx_rx_bytes_total, (int64_t)len);
    if (u->state == XP_UCONN_BUSY && u->user_ops)
        u->user_ops->on_data(s, c, p, len);
    else if (u->state == XP_UCONN_IDLE)
        xp_uconn_close(u);
}

static void xp__on_eof(xp_sock_t *s)
{
    xp_uconn_t *u = (xp_uconn_t *)s;
    if (u->state == XP_UCONN_BUSY && u->user_ops) {
        u->user_ops->on_eof(s);
    } else if (u->state != XP_UCONN_CLOSING) {
        xp__uconn_closing(u, false);
        xp_sock_close(&u->sock);
    }
}

static void xp__on_error(xp_sock_t *s, int err)
{
    xp_uconn_t *u = (xp_uconn_t *)s;
    if (u->state == XP_UCONN_BUSY && u->user_ops) {
        u->user_ops->on_error(s, err);
    } else if (u->state != XP_UCONN_CLOSING) {
        xp__uconn_closing(u, false);
        xp_sock_close(&u->sock);
    }
}

static void xp__on_written(xp_sock_t *s)
{
    xp_uconn_t *u = (xp_uconn_t *)s;
    if (u->state == XP_UCONN_BUSY && u->user_ops && u->user_ops->on_written)
        u->user_ops->on_written(s);
}

static void xp__on_close(xp_sock_t *s)
{
    xp_uconn_t *u = (xp_uconn_t *)s;
    if (u->state != XP_UCONN_CLOSING)
        xp__uconn_closing(u, false);
    xp__handle_closed((uv_handle_t *)&s->tcp);
}

static const xp_sock_ops_t xp__uconn_ops = {
    .on_data = xp__on_data,
    .on_eof = xp__on_eof,
    .on_error = xp__on_error,
    .on_written = xp__on_written,
    .on_close = xp__on_close,
};

static void xp__on_timer(uv_timer_t *t)
{
    xp_uconn_t *u = t->data;
    if (u->state == XP_UCONN_CONNECTING) {
        xp_stat_inc(u->cluster->stats->upstream_cx_connect_timeout);
        xp_stat_inc(u->cluster->stats->upstream_cx_connect_fail);
        xp_uconn_cb cb = u->cb;
        void *ctx = u->ctx;
        xp_uconn_close(u);
        if (cb)
            cb(ctx, NULL, UV_ETIMEDOUT);
    } else if (u->state == XP_UCONN_IDLE && xp_lazy_timer_expired(t, xp__on_timer, u->idle_due)) {
        xp_stat_inc(u->cluster->stats->upstream_cx_idle_timeout);
        xp_uconn_close(u);
    }
}

static void xp__on_connect(uv_connect_t *req, int status)
{
    /* The request runs before the handle's close callback even when the
     * connection closes while connecting (ECANCELED): u is alive here. */
    xp_uconn_t *u = req->data;
    free(req);
    if (status == UV_ECANCELED || u->state == XP_UCONN_CLOSING)
        return;
    uv_timer_stop(u->timer);
    xp_uconn_cb cb = u->cb;
    void *ctx = u->ctx;
    u->cb = NULL;
    if (status < 0) {
        xp_stat_inc(u->cluster->stats->upstream_cx_connect_fail);
        xp_uconn_close(u);
        if (cb)
            cb(ctx, NULL, status);
        return;
    }
    xp_sock_nodelay(&u->sock);
    u->state = XP_UCONN_BUSY;
    if (cb)
        cb(ctx, u, 0);
}

int xp_uconn_acquire(xp_wcluster_t *c, xp_host_t *h, bool pooled, xp_uconn_cb cb, void *ctx,
                     xp_uconn_t **out)
{
    xp_pool_t *pool = pooled ? xp__pool(c, h->addr.str) : NULL;
    if (pool && pool->idle) {
        xp_uconn_t *u = pool->idle;
        xp__idle_remove(u);
        /* The idle timer stays set: firing while BUSY it does nothing. */
        u->state = XP_UCONN_BUSY;
        u->user_ops = NULL;
        u->user = NULL;
        *out = u;
        return 1;
    }
    if ((uint64_t)xp_stat_get(c->stats->upstream_cx_active) >= c->cfg->cb.max_connections) {
        xp_stat_inc(c->stats->upstream_cx_overflow);
        return UV_EBUSY;
    }
    xp__uconn_impl_t *impl = xp_calloc(1, sizeof(*impl));
    xp_uconn_t *u = &impl->u;
    xp_sock_init(&u->sock, c->cm->loop, &xp__uconn_ops, u);
    u->sock.tcp.data = u;
    u->timer = xp_malloc(sizeof(*u->timer));
    uv_timer_init(c->cm->loop, u->timer);
    u->timer->data = u;
    u->open_handles = 2;
    u->cluster = c;
    xp_wcluster_ref(c);
    u->host = h;
    xp_host_ref(h);
    u->pool = pool;
    u->state = XP_UCONN_CONNECTING;
    u->cb = cb;
    u->ctx = ctx;
    c->cm->open_conns++;
    xp_stat_inc(c->stats->upstream_cx_total);
    xp_stat_inc(c->stats->upstream_cx_active);
    if (pooled)
        xp_stat_inc(c->stats->upstream_cx_http1_total);
    *out = u;
    uv_connect_t *req = xp_malloc(sizeof(*req));
    req->data = u;
    int rc =
        uv_tcp_connect(req, &u->sock.tcp, (const struct sockaddr *)&h->addr.ss, xp__on_connect);
    if (rc) {
        free(req);
        xp_stat_inc(c->stats->upstream_cx_connect_fail);
        u->cb = NULL;
        xp_uconn_close(u);
        *out = NULL;
        return rc;
    }
    uv_timer_start(u->timer, xp__on_timer, c->cfg->connect_timeout_ms, 0);
    return 0;
}

void xp_uconn_attach(xp_uconn_t *u, const xp_sock_ops_t *ops, void *user)
{
    u->user_ops = ops;
    u->user = user;
}

void xp_uconn_release(xp_uconn_t *u, bool reusable)
{
    if (u->state != XP_UCONN_BUSY)
        return;
    xp_wcluster_t *c = u->cluster;
    u->user_ops = NULL;
    u->user = NULL;
    u->requests++;
    uint32_t max_rq = c->cfg->max_requests_per_connection;
    if (!reusable || u->pool == NULL || !c->configured || c->cm->shutting_down || u->sock.closing ||
        (max_rq && u->requests >= max_rq)) {
        xp_uconn_close(u);
        return;
    }
    xp_pool_t *p = u->pool;
    u->state = XP_UCONN_IDLE;
    u->next_idle = p->idle;
    if (p->idle)
        p->idle->prev_idle = u;
    p->idle = u;
    p->n_idle++;
    xp_lazy_timer_arm(u->timer, xp__on_timer, &u->idle_due, c->cfg->idle_timeout_ms);
    /* Watch for the upstream closing it while idle. */
    xp_sock_read_start(&u->sock);
}
