/* The config model: address forms (and Envoy's listener stat names), defaults,
 * and reference counting that frees on the last unref (ASan checks leaks and
 * use-after-free). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "proxy/config/config.h"
#include "tests/lib/check.h"

int main(void)
{
    xp_addr_t a;
    CHECK(xp_addr_from_ip(&a, "127.0.0.1", 10000) == 0);
    CHECK(strcmp(a.str, "127.0.0.1:10000") == 0);
    CHECK(strcmp(a.stat, "127.0.0.1_10000") == 0);
    CHECK(xp_addr_port(&a) == 10000 && a.ss.ss_family == AF_INET);
    CHECK(xp_addr_from_ip(&a, "::1", 443) == 0);
    CHECK(strcmp(a.str, "[::1]:443") == 0);
    CHECK(strcmp(a.stat, "[__1]_443") == 0);
    CHECK(xp_addr_port(&a) == 443 && a.ss.ss_family == AF_INET6);
    CHECK(xp_addr_from_ip(&a, "0:0:0:0:0:0:0:1", 1) == 0 && strcmp(a.str, "[::1]:1") == 0);
    CHECK(xp_addr_from_ip(&a, "localhost", 80) == XP_EINVAL);
    CHECK(xp_addr_from_ip(&a, "127.0.0.1", 65536) == XP_ERANGE);

    xp_cluster_cfg_t *c = xp_cluster_cfg_new("backend");
    CHECK(c->connect_timeout_ms == 5000);
    CHECK(c->cb.max_connections == 1024 && c->cb.max_retries == 3);
    c->endpoints = xp_calloc(2, sizeof(*c->endpoints));
    c->endpoints[0].hostname = xp_strdup("a.example");
    c->n_endpoints = 2;
    xp_cluster_cfg_ref(c);
    CHECK(xp_ref_count(&c->ref) == 2);
    xp_cluster_cfg_unref(c);
    CHECK(xp_ref_count(&c->ref) == 1);
    xp_cluster_cfg_unref(c);

    /* A filter chain shared by two listener generations outlives the first. */
    xp_filter_chain_t *fc = xp_filter_chain_new("chain");
    fc->kind = XP_NET_FILTER_TCP_PROXY;
    fc->u.tcp = xp_tcp_proxy_cfg_new();
    fc->u.tcp->cluster = xp_strdup("backend");
    CHECK(fc->u.tcp->idle_timeout_ms == 3600000 && fc->u.tcp->max_connect_attempts == 1);
    xp_listener_cfg_t *g1 = xp_listener_cfg_new("l");
    xp_listener_cfg_t *g2 = xp_listener_cfg_new("l");
    g1->chains = xp_calloc(1, sizeof(*g1->chains));
    g2->chains = xp_calloc(1, sizeof(*g2->chains));
    g1->chains[g1->n_chains++] = fc;
    xp_filter_chain_ref(fc);
    g2->chains[g2->n_chains++] = fc;
    CHECK(g1->per_connection_buffer_limit_bytes == 1024 * 1024);
    xp_listener_cfg_unref(g1);
    CHECK(xp_ref_count(&fc->ref) == 1);
    CHECK(strcmp(fc->u.tcp->cluster, "backend") == 0);
    xp_listener_cfg_unref(g2);

    xp_hcm_cfg_t *h = xp_hcm_cfg_new();
    CHECK(h->max_request_headers_kb == 60 && h->max_headers_count == 100);
    CHECK(h->stream_idle_timeout_ms == 300000 && h->generate_request_id);
    CHECK(strcmp(h->server_name, "envoy") == 0);
    xp_hcm_cfg_free(h);

    return check_result("config_test");
}
