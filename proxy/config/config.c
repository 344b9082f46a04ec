#include "proxy/config/config.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "proxy/router/route.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t xp__alive_listeners, xp__alive_chains, xp__alive_clusters, xp__alive_clas;

#define XP__ALIVE_INC(c) atomic_fetch_add_explicit(&(c), 1, memory_order_relaxed)
#define XP__ALIVE_DEC(c) atomic_fetch_sub_explicit(&(c), 1, memory_order_relaxed)

void xp_config_alive(xp_config_alive_t *out)
{
    out->listeners = atomic_load_explicit(&xp__alive_listeners, memory_order_relaxed);
    out->filter_chains = atomic_load_explicit(&xp__alive_chains, memory_order_relaxed);
    out->clusters = atomic_load_explicit(&xp__alive_clusters, memory_order_relaxed);
    out->assignments = atomic_load_explicit(&xp__alive_clas, memory_order_relaxed);
}

int xp_addr_from_ip(xp_addr_t *a, const char *ip, uint32_t port)
{
    memset(a, 0, sizeof(*a));
    if (port > 65535)
        return XP_ERANGE;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        a->len = sizeof(*v4);
        snprintf(a->str, sizeof(a->str), "%s:%u", ip, port);
        snprintf(a->stat, sizeof(a->stat), "%s_%u", ip, port);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        a->len = sizeof(*v6);
        char canon[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &v6->sin6_addr, canon, sizeof(canon));
        snprintf(a->str, sizeof(a->str), "[%s]:%u", canon, port);
        /* Envoy's listener stat names replace ':' with '_'. */
        snprintf(a->stat, sizeof(a->stat), "[%s]_%u", canon, port);
        for (char *p = a->stat; *p; p++)
            if (*p == ':')
                *p = '_';
        return 0;
    }
    return XP_EINVAL;
}

uint16_t xp_addr_port(const xp_addr_t *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

static void xp__strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void xp_access_log_cfg_clear(xp_access_log_cfg_t *a)
{
    xp_access_log_unref(a->log);
    free(a->path);
    free(a->format);
    xp__strv_free(a->json_keys, a->n_json);
    xp__strv_free(a->json_values, a->n_json);
    memset(a, 0, sizeof(*a));
}

static void xp__access_logs_free(xp_access_log_cfg_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xp_access_log_cfg_clear(&v[i]);
    free(v);
}

xp_hcm_cfg_t *xp_hcm_cfg_new(void)
{
    xp_hcm_cfg_t *h = xp_calloc(1, sizeof(*h));
    h->max_request_headers_kb = 60;
    h->max_headers_count = 100;
    h->stream_idle_timeout_ms = 300000;
    h->idle_timeout_ms = 3600000;
    h->drain_timeout_ms = 5000;
    h->generate_request_id = true;
    h->server_name = xp_strdup("envoy");
    return h;
}

void xp_cfg_source_clear(xp_cfg_source_t *s)
{
    free(s->path);
    free(s->watch_dir);
    s->path = s->watch_dir = NULL;
}

void xp_scoped_routes_cfg_free(xp_scoped_routes_cfg_t *c)
{
    if (c == NULL)
        return;
    free(c->name);
    xp_scope_key_builder_clear(&c->builder);
    xp_cfg_source_clear(&c->rds_source);
    xp_scope_set_unref(c->inline_scopes);
    xp_cfg_source_clear(&c->srds_source);
    free(c);
}

void xp_hcm_cfg_free(xp_hcm_cfg_t *h)
{
    if (h == NULL)
        return;
    free(h->stat_prefix);
    if (h->route_table)
        xp_route_table_unref(h->route_table);
    free(h->rds_name);
    xp_cfg_source_clear(&h->rds_source);
    xp_scoped_routes_cfg_free(h->scoped);
    for (size_t i = 0; i < h->n_filters; i++)
        free(h->filters[i].name);
    free(h->filters);
    for (size_t i = 0; i < h->n_upgrades; i++)
        free(h->upgrades[i].upgrade_type);
    free(h->upgrades);
    free(h->server_name);
    free(h->default_host_for_http_10);
    free(h->internal_ranges);
    free(h->via);
    free(h->user_agent);
    free(h->service_node);
    xp__access_logs_free(h->access_logs, h->n_access_logs);
    free(h);
}

xp_tcp_proxy_cfg_t *xp_tcp_proxy_cfg_new(void)
{
    xp_tcp_proxy_cfg_t *t = xp_calloc(1, sizeof(*t));
    t->idle_timeout_ms = 3600000;
    t->max_connect_attempts = 1;
    return t;
}

void xp_tcp_proxy_cfg_free(xp_tcp_proxy_cfg_t *t)
{
    if (t == NULL)
        return;
    free(t->stat_prefix);
    free(t->cluster);
    for (size_t i = 0; i < t->n_weighted; i++)
        free(t->weighted[i].name);
    free(t->weighted);
    xp__access_logs_free(t->access_logs, t->n_access_logs);
    free(t);
}

xp_filter_chain_t *xp_filter_chain_new(const char *name)
{
    xp_filter_chain_t *c = xp_calloc(1, sizeof(*c));
    xp_ref_init(&c->ref);
    XP__ALIVE_INC(xp__alive_chains);
    c->name = xp_strdup(name ? name : "");
    return c;
}

void xp_filter_chain_ref(xp_filter_chain_t *c)
{
    xp_ref_inc(&c->ref);
}

void xp_filter_chain_unref(xp_filter_chain_t *c)
{
    if (c == NULL || !xp_ref_dec(&c->ref))
        return;
    XP__ALIVE_DEC(xp__alive_chains);
    free(c->name);
    free(c->match.prefix_ranges);
    free(c->match.source_prefix_ranges);
    xp__strv_free(c->match.server_names, c->match.n_server_names);
    free(c->match.transport_protocol);
    xp__strv_free(c->match.application_protocols, c->match.n_application_protocols);
    if (c->kind == XP_NET_FILTER_HCM)
        xp_hcm_cfg_free(c->u.hcm);
    else
        xp_tcp_proxy_cfg_free(c->u.tcp);
    free(c);
}

xp_listener_cfg_t *xp_listener_cfg_new(const char *name)
{
    xp_listener_cfg_t *l = xp_calloc(1, sizeof(*l));
    xp_ref_init(&l->ref);
    XP__ALIVE_INC(xp__alive_listeners);
    l->name = xp_strdup(name);
    l->per_connection_buffer_limit_bytes = 1024 * 1024;
    l->backlog = 1024;
    return l;
}

void xp_listener_cfg_ref(xp_listener_cfg_t *l)
{
    xp_ref_inc(&l->ref);
}

void xp_listener_cfg_unref(xp_listener_cfg_t *l)
{
    if (l == NULL || !xp_ref_dec(&l->ref))
        return;
    XP__ALIVE_DEC(xp__alive_listeners);
    for (size_t i = 0; i < l->n_chains; i++)
        xp_filter_chain_unref(l->chains[i]);
    free(l->chains);
    xp_filter_chain_unref(l->default_chain);
    free(l->name);
    free(l);
}

xp_cluster_cfg_t *xp_cluster_cfg_new(const char *name)
{
    xp_cluster_cfg_t *c = xp_calloc(1, sizeof(*c));
    xp_ref_init(&c->ref);
    XP__ALIVE_INC(xp__alive_clusters);
    c->name = xp_strdup(name);
    c->connect_timeout_ms = 5000;
    c->per_connection_buffer_limit_bytes = 1024 * 1024;
    c->dns_refresh_rate_ms = 5000;
    c->cb.max_connections = 1024;
    c->cb.max_pending_requests = 1024;
    c->cb.max_requests = 1024;
    c->cb.max_retries = 3;
    c->idle_timeout_ms = 3600000;
    c->ring_hash_min_size = 1024;
    c->ring_hash_max_size = 8 * 1024 * 1024;
    c->maglev_table_size = 65537;
    c->least_request_choice_count = 2;
    return c;
}

void xp_cluster_cfg_ref(xp_cluster_cfg_t *c)
{
    xp_ref_inc(&c->ref);
}

void xp_cluster_cfg_unref(xp_cluster_cfg_t *c)
{
    if (c == NULL || !xp_ref_dec(&c->ref))
        return;
    XP__ALIVE_DEC(xp__alive_clusters);
    for (size_t i = 0; i < c->n_endpoints; i++) {
        free(c->endpoints[i].hostname);
        free(c->endpoints[i].endpoint_hostname);
    }
    free(c->endpoints);
    free(c->eds_service_name);
    xp_cfg_source_clear(&c->eds_source);
    free(c->name);
    free(c);
}

xp_cla_t *xp_cla_new(const char *name, xp_endpoint_cfg_t *eps, size_t n)
{
    xp_cla_t *a = xp_calloc(1, sizeof(*a));
    xp_ref_init(&a->ref);
    XP__ALIVE_INC(xp__alive_clas);
    a->name = xp_strdup(name);
    a->endpoints = eps;
    a->n_endpoints = n;
    return a;
}

void xp_cla_ref(xp_cla_t *a)
{
    xp_ref_inc(&a->ref);
}

void xp_cla_unref(xp_cla_t *a)
{
    if (a == NULL || !xp_ref_dec(&a->ref))
        return;
    XP__ALIVE_DEC(xp__alive_clas);
    for (size_t i = 0; i < a->n_endpoints; i++) {
        free(a->endpoints[i].hostname);
        free(a->endpoints[i].endpoint_hostname);
    }
    free(a->endpoints);
    free(a->name);
    free(a);
}
