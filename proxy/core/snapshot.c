#include "proxy/core/snapshot.h"
#include "proxy/common/mem.h"
#include "proxy/router/route.h"
#include "proxy/router/scope.h"
#include "proxy/upstream/lb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t xp__cstats_lock = PTHREAD_MUTEX_INITIALIZER;
static xp_cluster_stats_t *xp__cstats;

static void xp__cluster_stats_init(xp_cluster_stats_t *cs, xp_stats_t *st, const char *n);

xp_cluster_stats_t *xp_cluster_stats_get(xp_stats_t *st, const char *n)
{
    pthread_mutex_lock(&xp__cstats_lock);
    xp_cluster_stats_t *cs = xp__cstats;
    while (cs && strcmp(cs->name, n) != 0)
        cs = cs->next;
    if (cs == NULL) {
        cs = xp_calloc(1, sizeof(*cs));
        cs->name = xp_strdup(n);
        xp__cluster_stats_init(cs, st, n);
        cs->next = xp__cstats;
        xp__cstats = cs;
    }
    pthread_mutex_unlock(&xp__cstats_lock);
    return cs;
}

static void xp__cluster_stats_init(xp_cluster_stats_t *cs, xp_stats_t *st, const char *n)
{
#define C(f) cs->f = xp_stats_counterf(st, "cluster.%s." #f, n)
#define G(f) cs->f = xp_stats_gaugef(st, "cluster.%s." #f, n)
    C(upstream_cx_total);
    G(upstream_cx_active);
    C(upstream_cx_connect_fail);
    C(upstream_cx_connect_timeout);
    C(upstream_cx_destroy);
    C(upstream_cx_destroy_local);
    C(upstream_cx_destroy_remote);
    C(upstream_cx_overflow);
    C(upstream_cx_rx_bytes_total);
    C(upstream_cx_tx_bytes_total);
    C(upstream_cx_idle_timeout);
    C(upstream_cx_http1_total);
    C(upstream_rq_total);
    G(upstream_rq_active);
    C(upstream_rq_pending_total);
    G(upstream_rq_pending_active);
    C(upstream_rq_pending_overflow);
    C(upstream_rq_timeout);
    C(upstream_rq_per_try_timeout);
    C(upstream_rq_retry);
    C(upstream_rq_retry_success);
    C(upstream_rq_retry_overflow);
    C(upstream_rq_rx_reset);
    C(upstream_rq_tx_reset);
    C(upstream_rq_completed);
    G(membership_total);
    G(membership_healthy);
    C(membership_change);
    C(update_success);
    C(update_attempt);
#undef C
#undef G
    for (int i = 1; i <= 5; i++)
        cs->upstream_rq_xx[i] = xp_stats_counterf(st, "cluster.%s.upstream_rq_%dxx", n, i);
    cs->rq_retry_open = xp_stats_gaugef(st, "cluster.%s.circuit_breakers.default.rq_retry_open", n);
    cs->rq_pending_open =
        xp_stats_gaugef(st, "cluster.%s.circuit_breakers.default.rq_pending_open", n);
    cs->cx_open = xp_stats_gaugef(st, "cluster.%s.circuit_breakers.default.cx_open", n);
    cs->rq_open = xp_stats_gaugef(st, "cluster.%s.circuit_breakers.default.rq_open", n);
    cs->upstream_rq_xx[0] = NULL;
}

static _Atomic uint64_t xp__snapshots_alive;

uint64_t xp_snapshots_alive(void)
{
    return atomic_load_explicit(&xp__snapshots_alive, memory_order_relaxed);
}

xp_snapshot_t *xp_snapshot_new(uint64_t version)
{
    atomic_fetch_add_explicit(&xp__snapshots_alive, 1, memory_order_relaxed);
    xp_snapshot_t *s = xp_calloc(1, sizeof(*s));
    xp_ref_init(&s->ref);
    s->version = version;
    return s;
}

void xp_snapshot_ref(xp_snapshot_t *s)
{
    xp_ref_inc(&s->ref);
}

void xp_snapshot_unref(xp_snapshot_t *s)
{
    if (s == NULL || !xp_ref_dec(&s->ref))
        return;
    atomic_fetch_sub_explicit(&xp__snapshots_alive, 1, memory_order_relaxed);
    for (size_t i = 0; i < s->n_listeners; i++)
        xp_listener_cfg_unref(s->listeners[i]);
    free(s->listeners);
    for (size_t i = 0; i < s->n_clusters; i++) {
        xp_cluster_cfg_unref(s->clusters[i].cfg);
        if (s->clusters[i].hosts)
            xp_host_set_unref(s->clusters[i].hosts);
    }
    free(s->clusters);
    for (size_t i = 0; i < s->n_routes; i++)
        xp_route_table_unref(s->routes[i]);
    free(s->routes);
    for (size_t i = 0; i < s->n_scope_sets; i++)
        xp_scope_set_unref(s->scope_sets[i]);
    free(s->scope_sets);
    free(s);
}

void xp_snapshot_add_listener(xp_snapshot_t *s, xp_listener_cfg_t *l)
{
    s->listeners = xp_realloc(s->listeners, (s->n_listeners + 1) * sizeof(*s->listeners));
    xp_listener_cfg_ref(l);
    s->listeners[s->n_listeners++] = l;
}

void xp_snapshot_add_cluster(xp_snapshot_t *s, xp_cluster_cfg_t *c, struct xp_host_set *hosts,
                             xp_cluster_stats_t *stats)
{
    s->clusters = xp_realloc(s->clusters, (s->n_clusters + 1) * sizeof(*s->clusters));
    xp_cluster_cfg_ref(c);
    if (hosts)
        xp_host_set_ref(hosts);
    s->clusters[s->n_clusters++] = (xp_snapshot_cluster_t){c, hosts, stats};
}

void xp_snapshot_add_route(xp_snapshot_t *s, struct xp_route_table *t)
{
    s->routes = xp_realloc(s->routes, (s->n_routes + 1) * sizeof(*s->routes));
    s->routes[s->n_routes++] = xp_route_table_ref(t);
}

void xp_snapshot_add_scope_set(xp_snapshot_t *s, struct xp_scope_set *set)
{
    s->scope_sets = xp_realloc(s->scope_sets, (s->n_scope_sets + 1) * sizeof(*s->scope_sets));
    s->scope_sets[s->n_scope_sets++] = xp_scope_set_ref(set);
}

static int xp__set_cmp(const void *a, const void *b)
{
    return strcmp((*(xp_scope_set_t *const *)a)->name, (*(xp_scope_set_t *const *)b)->name);
}

struct xp_scope_set *xp_snapshot_find_scope_set(const xp_snapshot_t *s, const char *name)
{
    xp_scope_set_t key = {.name = (char *)name};
    xp_scope_set_t *kp = &key;
    if (s->n_scope_sets == 0)
        return NULL;
    xp_scope_set_t **found =
        bsearch(&kp, s->scope_sets, s->n_scope_sets, sizeof(*s->scope_sets), xp__set_cmp);
    return found ? *found : NULL;
}

static int xp__route_cmp(const void *a, const void *b)
{
    const xp_route_table_t *x = *(xp_route_table_t *const *)a, *y = *(xp_route_table_t *const *)b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = memcmp(x->name.p, y->name.p, n);
    return c ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

struct xp_route_table *xp_snapshot_find_route(const xp_snapshot_t *s, const char *name)
{
    xp_route_table_t key = {0};
    key.name = xp_str_c(name);
    xp_route_table_t *kp = &key;
    if (s->n_routes == 0)
        return NULL;
    xp_route_table_t **found =
        bsearch(&kp, s->routes, s->n_routes, sizeof(*s->routes), xp__route_cmp);
    return found ? *found : NULL;
}

static int xp__by_name(const void *a, const void *b)
{
    return strcmp(((const xp_snapshot_cluster_t *)a)->cfg->name,
                  ((const xp_snapshot_cluster_t *)b)->cfg->name);
}

void xp_snapshot_seal(xp_snapshot_t *s)
{
    if (s->n_clusters)
        qsort(s->clusters, s->n_clusters, sizeof(*s->clusters), xp__by_name);
    if (s->n_routes)
        qsort(s->routes, s->n_routes, sizeof(*s->routes), xp__route_cmp);
    if (s->n_scope_sets)
        qsort(s->scope_sets, s->n_scope_sets, sizeof(*s->scope_sets), xp__set_cmp);
}

const xp_snapshot_cluster_t *xp_snapshot_find_cluster(const xp_snapshot_t *s, const char *name,
                                                      size_t len)
{
    size_t lo = 0, hi = s->n_clusters;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *n = s->clusters[mid].cfg->name;
        int c = strncmp(n, name, len);
        if (c == 0 && n[len] != '\0')
            c = 1;
        if (c == 0)
            return &s->clusters[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
