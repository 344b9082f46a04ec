#include "xds/translate/cluster.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb-c.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"
#include "xds/translate/util.h"

#include <stdlib.h>
#include <string.h>

#define XP__HTTP_OPTS_EXT "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

static void xp__unsupported(xp_path_t *path, const char *field, const char *why, xp_diag_t *diag)
{
    size_t m = xp_path_push_field(path, field);
    xp_diag_error(diag, xp_path_str(path), "%s", why);
    xp_path_pop(path, m);
}

int xp_translate_load_assignment(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                                 bool allow_hostname, xp_path_t *path, xp_diag_t *diag,
                                 xp_endpoint_cfg_t **out, size_t *n_out)
{
    size_t total = 0, n = 0;
    int bad = 0;
    for (size_t i = 0; i < cla->n_endpoints; i++)
        total += cla->endpoints[i]->n_lb_endpoints;
    xp_endpoint_cfg_t *eps = xp_calloc(total + 1, sizeof(*eps));
    size_t m0 = xp_path_push_field(path, "endpoints");
    for (size_t i = 0; i < cla->n_endpoints; i++) {
        const Envoy__Config__Endpoint__V3__LocalityLbEndpoints *loc = cla->endpoints[i];
        size_t m1 = xp_path_push_index(path, i);
        size_t m2 = xp_path_push_field(path, "lb_endpoints");
        for (size_t j = 0; j < loc->n_lb_endpoints; j++) {
            const Envoy__Config__Endpoint__V3__LbEndpoint *lbe = loc->lb_endpoints[j];
            size_t m3 = xp_path_push_index(path, j);
            if (lbe->host_identifier_case !=
                ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT) {
                xp_diag_error(
                    diag, xp_path_str(path),
                    lbe->host_identifier_case ==
                            ENVOY__CONFIG__ENDPOINT__V3__LB_ENDPOINT__HOST_IDENTIFIER_ENDPOINT_NAME
                        ? "endpoint_name (named endpoints) is not supported by xproxy"
                        : "endpoint is required");
                bad++;
                xp_path_pop(path, m3);
                continue;
            }
            xp_endpoint_cfg_t *e = &eps[n];
            size_t m4 = xp_path_push_field(path, "endpoint");
            if (xp_tr_address(lbe->endpoint->address, path, "address", allow_hostname, &e->addr,
                              &e->hostname, &e->port, diag) != 0) {
                bad++;
                xp_path_pop(path, m4);
                xp_path_pop(path, m3);
                continue;
            }
            if (lbe->endpoint->hostname && lbe->endpoint->hostname[0])
                e->endpoint_hostname = xp_strdup(lbe->endpoint->hostname);
            xp_path_pop(path, m4);
            uint32_t w = xp_tr_u32(lbe->load_balancing_weight, 1);
            if (w == 0) {
                xp__unsupported(path, "load_balancing_weight", "weight must be at least 1", diag);
                bad++;
            }
            e->weight = w;
            e->priority = loc->priority;
            e->healthy = lbe->health_status != ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__UNHEALTHY &&
                         lbe->health_status != ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__DRAINING &&
                         lbe->health_status != ENVOY__CONFIG__CORE__V3__HEALTH_STATUS__TIMEOUT;
            n++;
            xp_path_pop(path, m3);
        }
        xp_path_pop(path, m2);
        xp_path_pop(path, m1);
    }
    xp_path_pop(path, m0);
    if (bad) {
        for (size_t i = 0; i < n; i++) {
            free(eps[i].hostname);
            free(eps[i].endpoint_hostname);
        }
        free(eps);
        return XP_EINVAL;
    }
    *out = eps;
    *n_out = n;
    return 0;
}

/* typed_extension_protocol_options: only the upstream HTTP options are
 * understood; they tell whether the cluster speaks HTTP/2 (the xDS cluster of
 * most bootstraps does). */
static void xp__protocol_options(const Envoy__Config__Cluster__V3__Cluster *c,
                                 xp_cluster_cfg_t *cfg, xp_path_t *path, xp_diag_t *diag)
{
    size_t m = xp_path_push_field(path, "typed_extension_protocol_options");
    for (size_t i = 0; i < c->n_typed_extension_protocol_options; i++) {
        const Envoy__Config__Cluster__V3__Cluster__TypedExtensionProtocolOptionsEntry *e =
            c->typed_extension_protocol_options[i];
        size_t mk = xp_path_push_key(path, e->key ? e->key : "");
        const char *type = e->value ? xp_tr_type_name(e->value->type_url) : "";
        if (strcmp(type, XP__HTTP_OPTS_EXT) != 0) {
            xp_diag_error(diag, xp_path_str(path),
                          "protocol options of type '%s' are not supported by xproxy", type);
            xp_path_pop(path, mk);
            continue;
        }
        Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *o =
            (Envoy__Extensions__Upstreams__Http__V3__HttpProtocolOptions *)xp_any_unpack(
                e->value,
                &envoy__extensions__upstreams__http__v3__http_protocol_options__descriptor, diag,
                xp_path_str(path));
        if (o) {
            if (o->upstream_protocol_options_case ==
                    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__UPSTREAM_PROTOCOL_OPTIONS_EXPLICIT_HTTP_CONFIG &&
                o->explicit_http_config->protocol_config_case ==
                    ENVOY__EXTENSIONS__UPSTREAMS__HTTP__V3__HTTP_PROTOCOL_OPTIONS__EXPLICIT_HTTP_CONFIG__PROTOCOL_CONFIG_HTTP2_PROTOCOL_OPTIONS)
                cfg->http2 = true;
            if (o->common_http_protocol_options && o->common_http_protocol_options->idle_timeout)
                cfg->idle_timeout_ms =
                    xp_tr_duration_ms(o->common_http_protocol_options->idle_timeout,
                                      cfg->idle_timeout_ms, path, "idle_timeout", diag);
            protobuf_c_message_free_unpacked(&o->base, NULL);
        }
        xp_path_pop(path, mk);
    }
    xp_path_pop(path, m);
}

xp_cluster_cfg_t *xp_translate_cluster(const Envoy__Config__Cluster__V3__Cluster *c,
                                       xp_path_t *path, xp_diag_t *diag)
{
    size_t errors0 = diag->nerrors;
    if (c->name == NULL || c->name[0] == '\0') {
        xp__unsupported(path, "name", "a cluster needs a non-empty name", diag);
        return NULL;
    }
    xp_cluster_cfg_t *cfg = xp_cluster_cfg_new(c->name);

    if (c->cluster_discovery_type_case ==
        ENVOY__CONFIG__CLUSTER__V3__CLUSTER__CLUSTER_DISCOVERY_TYPE_CLUSTER_TYPE) {
        xp__unsupported(path, "cluster_type", "custom cluster types are not supported by xproxy",
                        diag);
    } else {
        switch (c->type) {
        case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STATIC:
            cfg->type = XP_CLUSTER_STATIC;
            break;
        case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__STRICT_DNS:
            cfg->type = XP_CLUSTER_STRICT_DNS;
            break;
        case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__LOGICAL_DNS:
            cfg->type = XP_CLUSTER_LOGICAL_DNS;
            break;
        case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__DISCOVERY_TYPE__EDS:
            cfg->type = XP_CLUSTER_EDS;
            break;
        default:
            xp__unsupported(path, "type",
                            "only STATIC, STRICT_DNS, LOGICAL_DNS and EDS clusters are supported "
                            "by xproxy",
                            diag);
        }
    }

    switch (c->lb_policy) {
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__ROUND_ROBIN:
        cfg->lb_policy = XP_LB_ROUND_ROBIN;
        break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__LEAST_REQUEST:
        cfg->lb_policy = XP_LB_LEAST_REQUEST;
        break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RANDOM:
        cfg->lb_policy = XP_LB_RANDOM;
        break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__RING_HASH:
        cfg->lb_policy = XP_LB_RING_HASH;
        break;
    case ENVOY__CONFIG__CLUSTER__V3__CLUSTER__LB_POLICY__MAGLEV:
        cfg->lb_policy = XP_LB_MAGLEV;
        break;
    default:
        xp__unsupported(path, "lb_policy",
                        "only ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH and MAGLEV are "
                        "supported by xproxy",
                        diag);
    }

    cfg->connect_timeout_ms = xp_tr_duration_ms(c->connect_timeout, cfg->connect_timeout_ms, path,
                                                "connect_timeout", diag);
    cfg->per_connection_buffer_limit_bytes =
        xp_tr_u32(c->per_connection_buffer_limit_bytes, cfg->per_connection_buffer_limit_bytes);
    cfg->dns_refresh_rate_ms = xp_tr_duration_ms(c->dns_refresh_rate, cfg->dns_refresh_rate_ms,
                                                 path, "dns_refresh_rate", diag);
    cfg->dns_lookup_family = (int)c->dns_lookup_family;
    cfg->max_requests_per_connection = xp_tr_u32(c->max_requests_per_connection, 0);

    if (c->ring_hash_lb_config) {
        if (c->ring_hash_lb_config->minimum_ring_size)
            cfg->ring_hash_min_size = c->ring_hash_lb_config->minimum_ring_size->value;
        if (c->ring_hash_lb_config->maximum_ring_size)
            cfg->ring_hash_max_size = c->ring_hash_lb_config->maximum_ring_size->value;
    }
    if (c->maglev_lb_config && c->maglev_lb_config->table_size)
        cfg->maglev_table_size = c->maglev_lb_config->table_size->value;
    if (c->least_request_lb_config && c->least_request_lb_config->choice_count)
        cfg->least_request_choice_count = c->least_request_lb_config->choice_count->value;

    if (c->circuit_breakers) {
        size_t m = xp_path_push_field(path, "circuit_breakers");
        for (size_t i = 0; i < c->circuit_breakers->n_thresholds; i++) {
            const Envoy__Config__Cluster__V3__CircuitBreakers__Thresholds *t =
                c->circuit_breakers->thresholds[i];
            /* Only the DEFAULT priority exists in xproxy's routing. */
            if (t->priority != ENVOY__CONFIG__CORE__V3__ROUTING_PRIORITY__DEFAULT)
                continue;
            cfg->cb.max_connections = xp_tr_u32(t->max_connections, cfg->cb.max_connections);
            cfg->cb.max_pending_requests =
                xp_tr_u32(t->max_pending_requests, cfg->cb.max_pending_requests);
            cfg->cb.max_requests = xp_tr_u32(t->max_requests, cfg->cb.max_requests);
            cfg->cb.max_retries = xp_tr_u32(t->max_retries, cfg->cb.max_retries);
        }
        xp_path_pop(path, m);
    }

    if (c->http2_protocol_options)
        cfg->http2 = true;
    if (c->common_http_protocol_options && c->common_http_protocol_options->idle_timeout)
        cfg->idle_timeout_ms = xp_tr_duration_ms(c->common_http_protocol_options->idle_timeout,
                                                 cfg->idle_timeout_ms, path, "idle_timeout", diag);
    xp__protocol_options(c, cfg, path, diag);

    /* Behaviour-changing features of later waves: reject rather than
     * silently proxy differently from Envoy. */
    if (c->n_health_checks)
        xp__unsupported(path, "health_checks", "active health checking is not supported yet", diag);
    if (c->outlier_detection)
        xp__unsupported(path, "outlier_detection", "outlier detection is not supported yet", diag);
    if (c->transport_socket)
        xp__unsupported(path, "transport_socket", "upstream TLS is not supported yet", diag);
    if (c->lb_subset_config)
        xp__unsupported(path, "lb_subset_config", "subset load balancing is not supported", diag);
    if (c->upstream_bind_config)
        xp__unsupported(path, "upstream_bind_config", "upstream_bind_config is not supported",
                        diag);

    bool dns = cfg->type == XP_CLUSTER_STRICT_DNS || cfg->type == XP_CLUSTER_LOGICAL_DNS;
    if (cfg->type == XP_CLUSTER_EDS) {
        if (c->load_assignment) {
            xp_diag_warn(diag, xp_path_str(path),
                         "load_assignment is ignored for EDS clusters (endpoints come from EDS)");
        }
        const char *sn = c->eds_cluster_config ? c->eds_cluster_config->service_name : NULL;
        cfg->eds_service_name = xp_strdup(sn && sn[0] ? sn : c->name);
        if (c->eds_cluster_config) {
            size_t m = xp_path_push_field(path, "eds_cluster_config");
            xp_tr_config_source(c->eds_cluster_config->eds_config, path, "eds_config",
                                &cfg->eds_source, diag);
            xp_path_pop(path, m);
        }
    } else if (c->load_assignment) {
        size_t m = xp_path_push_field(path, "load_assignment");
        if (xp_translate_load_assignment(c->load_assignment, dns, path, diag, &cfg->endpoints,
                                         &cfg->n_endpoints) == 0 &&
            cfg->type == XP_CLUSTER_LOGICAL_DNS && cfg->n_endpoints != 1)
            xp_diag_error(diag, xp_path_str(path),
                          "LOGICAL_DNS clusters take exactly one endpoint, got %zu",
                          cfg->n_endpoints);
        xp_path_pop(path, m);
    } else if (cfg->type == XP_CLUSTER_LOGICAL_DNS || cfg->type == XP_CLUSTER_STRICT_DNS) {
        xp__unsupported(path, "load_assignment", "a DNS cluster needs load_assignment", diag);
    }

    if (diag->nerrors != errors0) {
        xp_cluster_cfg_unref(cfg);
        return NULL;
    }
    return cfg;
}

xp_cla_t *xp_translate_cla(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                           xp_path_t *path, xp_diag_t *diag)
{
    if (cla->cluster_name == NULL || cla->cluster_name[0] == '\0') {
        xp__unsupported(path, "cluster_name", "cluster_name is required", diag);
        return NULL;
    }
    xp_endpoint_cfg_t *eps = NULL;
    size_t n = 0;
    /* EDS endpoints are addresses, never names to resolve. */
    if (xp_translate_load_assignment(cla, false, path, diag, &eps, &n) != 0)
        return NULL;
    return xp_cla_new(cla->cluster_name, eps, n);
}
