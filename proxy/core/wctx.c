#include "proxy/core/wctx.h"
#include "proxy/common/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static _Atomic uint64_t xp__open_conns;

void xp_wctx_link(xp_wctx_t *w, xp_conn_link_t *l)
{
    if (w->conns.next == NULL)
        w->conns.next = w->conns.prev = &w->conns;
    l->next = w->conns.next;
    l->prev = &w->conns;
    w->conns.next->prev = l;
    w->conns.next = l;
    w->n_conns++;
    atomic_fetch_add_explicit(&xp__open_conns, 1, memory_order_relaxed);
}

void xp_wctx_unlink(xp_wctx_t *w, xp_conn_link_t *l)
{
    if (l->next == NULL)
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = NULL;
    w->n_conns--;
    atomic_fetch_sub_explicit(&xp__open_conns, 1, memory_order_relaxed);
}

static pthread_mutex_t xp__lstats_lock = PTHREAD_MUTEX_INITIALIZER;
static xp_listener_stats_t *xp__lstats;

xp_listener_stats_t *xp_listener_stats_get(xp_stats_t *st, const char *a)
{
    pthread_mutex_lock(&xp__lstats_lock);
    xp_listener_stats_t *ls = xp__lstats;
    while (ls && strcmp(ls->addr, a) != 0)
        ls = ls->next;
    if (ls == NULL) {
        ls = xp_calloc(1, sizeof(*ls));
        ls->addr = xp_strdup(a);
        ls->downstream_cx_total = xp_stats_counterf(st, "listener.%s.downstream_cx_total", a);
        ls->downstream_cx_active = xp_stats_gaugef(st, "listener.%s.downstream_cx_active", a);
        ls->downstream_cx_destroy = xp_stats_counterf(st, "listener.%s.downstream_cx_destroy", a);
        ls->no_filter_chain_match = xp_stats_counterf(st, "listener.%s.no_filter_chain_match", a);
        ls->downstream_cx_overflow = xp_stats_counterf(st, "listener.%s.downstream_cx_overflow", a);
        ls->downstream_cx_old_config =
            xp_stats_gaugef(st, "listener.%s.downstream_cx_old_config", a);
        ls->next = xp__lstats;
        xp__lstats = ls;
    }
    pthread_mutex_unlock(&xp__lstats_lock);
    return ls;
}

void xp_wctx_config_changed(xp_wctx_t *w)
{
    if (w->conns.next == NULL)
        return;
    /* Walk with a cursor that survives the current link unlinking itself. */
    xp_conn_link_t *l = w->conns.next;
    while (l != &w->conns) {
        xp_conn_link_t *next = l->next;
        if (l->config_changed)
            l->config_changed(l);
        l = next;
    }
}

xp_listener_cfg_t *xp_wctx_listener(const xp_wctx_t *w, const xp_listener_cfg_t *l)
{
    if (w->snap == NULL)
        return NULL;
    for (size_t i = 0; i < w->snap->n_listeners; i++)
        if (strcmp(w->snap->listeners[i]->name, l->name) == 0)
            return w->snap->listeners[i];
    if (xp_addr_port(&l->addr) == 0)
        return NULL;
    for (size_t i = 0; i < w->snap->n_listeners; i++)
        if (strcmp(w->snap->listeners[i]->addr.str, l->addr.str) == 0)
            return w->snap->listeners[i];
    return NULL;
}

static _Atomic uint64_t xp__conn_ids;

uint64_t xp_open_connections(void)
{
    return atomic_load_explicit(&xp__open_conns, memory_order_relaxed);
}

uint64_t xp_next_connection_id(void)
{
    return atomic_fetch_add_explicit(&xp__conn_ids, 1, memory_order_relaxed) + 1;
}
