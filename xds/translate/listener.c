#include "xds/translate/listener.h"
#include "envoy/extensions/filters/http/on_demand/v3/on_demand.pb-c.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb-c.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb-c.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "proxy/router/route.h"
#include "xds/codec/codec.h"
#include "xds/translate/route.h"
#include "xds/translate/scoped.h"
#include "xds/translate/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define XP__HCM_TYPE                                                                               \
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
#define XP__TCP_PROXY_TYPE "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
#define XP__ROUTER_TYPE    "envoy.extensions.filters.http.router.v3.Router"
#define XP__ON_DEMAND_TYPE "envoy.extensions.filters.http.on_demand.v3.OnDemand"

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager
    xp__hcm_pb_t;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpFilter
    xp__http_filter_pb_t;
typedef Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy xp__tcp_pb_t;

#define XP__HCM(x) ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__##x

#define xp__err(path, field, diag, msg) xp_tr_field_error((path), (field), (diag), "%s", (msg))

static char *xp__lower_dup(const char *s)
{
    char *d = xp_strdup(s);
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

/* ---- address ranges ------------------------------------------------ */

static int xp__cidr(const Envoy__Config__Core__V3__CidrRange *r, xp_cidr_t *out, xp_path_t *path,
                    xp_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    uint32_t plen = xp_tr_u32(r->prefix_len, 0);
    if (r->address_prefix && inet_pton(AF_INET, r->address_prefix, out->addr) == 1) {
        out->family = AF_INET;
        if (plen > 32)
            goto bad_len;
    } else if (r->address_prefix && inet_pton(AF_INET6, r->address_prefix, out->addr) == 1) {
        out->family = AF_INET6;
        if (plen > 128)
            goto bad_len;
    } else {
        xp__err(path, "address_prefix", diag, "not an IP address");
        return XP_EINVAL;
    }
    out->prefix_len = (uint8_t)plen;
    return 0;
bad_len:
    xp__err(path, "prefix_len", diag, "prefix length too long for the address family");
    return XP_EINVAL;
}

static void xp__cidrs(Envoy__Config__Core__V3__CidrRange *const *v, size_t n, const char *field,
                      xp_cidr_t **out, size_t *n_out, xp_path_t *path, xp_diag_t *diag)
{
    if (n == 0)
        return;
    size_t m = xp_path_push_field(path, field);
    *out = xp_calloc(n, sizeof(**out));
    for (size_t i = 0; i < n; i++) {
        size_t m1 = xp_path_push_index(path, i);
        if (xp__cidr(v[i], &(*out)[*n_out], path, diag) == 0)
            (*n_out)++;
        xp_path_pop(path, m1);
    }
    xp_path_pop(path, m);
}

/* ---- HTTP connection manager --------------------------------------- */

/* envoy.filters.http.on_demand: only its VHDS part (a request whose host
 * matches no virtual host waits while the virtual host is fetched);
 * on-demand cluster discovery (odcds) is not implemented. */
static void xp__on_demand(const xp__http_filter_pb_t *f, xp_hcm_cfg_t *h, xp_path_t *path,
                          xp_diag_t *diag)
{
    size_t m = xp_path_push_field(path, "typed_config");
    Envoy__Extensions__Filters__Http__OnDemand__V3__OnDemand *od =
        (Envoy__Extensions__Filters__Http__OnDemand__V3__OnDemand *)xp_any_unpack(
            f->typed_config,
            &envoy__extensions__filters__http__on_demand__v3__on_demand__descriptor, diag,
            xp_path_str(path));
    if (od && od->odcds)
        xp__err(path, "odcds", diag,
                "on-demand cluster discovery is not supported by xproxy (only on-demand "
                "virtual hosts, VHDS)");
    if (od)
        protobuf_c_message_free_unpacked(&od->base, NULL);
    xp_path_pop(path, m);
    h->filters[h->n_filters].name = xp_strdup(f->name ? f->name : "");
    h->filters[h->n_filters].kind = XP_HTTP_FILTER_ON_DEMAND;
    h->n_filters++;
    h->on_demand = true;
}

static int xp__http_filters(const xp__hcm_pb_t *pb, xp_hcm_cfg_t *h, xp_path_t *path,
                            xp_diag_t *diag)
{
    size_t m0 = xp_path_push_field(path, "http_filters");
    h->filters = xp_calloc(pb->n_http_filters + 1, sizeof(*h->filters));
    bool have_router = false;
    for (size_t i = 0; i < pb->n_http_filters; i++) {
        const xp__http_filter_pb_t *f = pb->http_filters[i];
        size_t m1 = xp_path_push_index(path, i);
        /* Dispatch on the typed_config type URL: control planes name filters
         * freely, so the name decides nothing. */
        const char *type =
            f->config_type_case == XP__HCM(HTTP_FILTER__CONFIG_TYPE_TYPED_CONFIG) && f->typed_config
                ? xp_tr_type_name(f->typed_config->type_url)
                : "";
        if (f->disabled) {
            xp_path_pop(path, m1);
            continue;
        }
        if (strcmp(type, XP__ROUTER_TYPE) == 0) {
            if (i + 1 != pb->n_http_filters)
                xp_diag_error(diag, xp_path_str(path),
                              "the router filter must be the last HTTP filter");
            h->filters[h->n_filters].name = xp_strdup(f->name ? f->name : "");
            h->filters[h->n_filters].kind = XP_HTTP_FILTER_ROUTER;
            h->n_filters++;
            have_router = true;
        } else if (strcmp(type, XP__ON_DEMAND_TYPE) == 0) {
            xp__on_demand(f, h, path, diag);
        } else if (f->is_optional) {
            xp_diag_warn(diag, xp_path_str(path),
                         "optional HTTP filter '%s' (%s) is not implemented by xproxy; skipped",
                         f->name ? f->name : "", type[0] ? type : "no typed_config");
        } else {
            xp_diag_error(diag, xp_path_str(path),
                          "HTTP filter '%s' of type '%s' is not supported by xproxy (set "
                          "is_optional to skip it)",
                          f->name ? f->name : "", type[0] ? type : "(no typed_config)");
        }
        xp_path_pop(path, m1);
    }
    if (!have_router)
        xp_diag_error(diag, xp_path_str(path),
                      "the last HTTP filter must be the router "
                      "(envoy.extensions.filters.http.router.v3.Router)");
    xp_path_pop(path, m0);
    return 0;
}

/* Fields set that xproxy does not honour: accepted, each with a warning
 * naming it and saying what xproxy does instead (Envoy's default). */
typedef struct {
    bool set;
    const char *field, *instead;
} xp__unhonoured_t;

static void xp__warn_unhonoured(const xp__unhonoured_t *f, size_t n, xp_path_t *path,
                                xp_diag_t *diag)
{
    for (size_t i = 0; i < n; i++) {
        if (!f[i].set)
            continue;
        size_t m = xp_path_push_field(path, f[i].field);
        xp_diag_warn(diag, xp_path_str(path), "not implemented by xproxy; %s", f[i].instead);
        xp_path_pop(path, m);
    }
}

/* Http1ProtocolOptions fields that change Envoy's behaviour and that xproxy
 * does not implement. */
static void xp__http1_unhonoured(const Envoy__Config__Core__V3__Http1ProtocolOptions *o,
                                 xp_path_t *path, xp_diag_t *diag)
{
    const xp__unhonoured_t f[] = {
        {o->allow_absolute_url && !o->allow_absolute_url->value, "allow_absolute_url",
         "absolute-form request targets are accepted"},
        {o->header_key_format != NULL, "header_key_format",
         "header names are forwarded as they arrive"},
        {o->enable_trailers, "enable_trailers", "trailers of chunked bodies are dropped"},
        {o->allow_chunked_length, "allow_chunked_length",
         "a request with both Content-Length and Transfer-Encoding is rejected"},
        {o->override_stream_error_on_invalid_http_message != NULL,
         "override_stream_error_on_invalid_http_message",
         "an invalid HTTP/1 message is answered 400 and the connection closed"},
        {o->send_fully_qualified_url, "send_fully_qualified_url",
         "the request target goes upstream as the client sent it"},
    };
    xp__warn_unhonoured(f, XP_ARRAY_SIZE(f), path, diag);
}

/* The same for HttpConnectionManager fields. */
static void xp__hcm_unhonoured(const xp__hcm_pb_t *pb, xp_path_t *path, xp_diag_t *diag)
{
    const xp__unhonoured_t f[] = {
        {pb->local_reply_config != NULL, "local_reply_config",
         "local replies keep Envoy's default status and bodies"},
        {pb->path_with_escaped_slashes_action >
             XP__HCM(HTTP_CONNECTION_MANAGER__PATH_WITH_ESCAPED_SLASHES_ACTION__KEEP_UNCHANGED),
         "path_with_escaped_slashes_action", "escaped slashes in paths are kept unchanged"},
        {pb->strip_trailing_host_dot, "strip_trailing_host_dot",
         "a trailing dot in the host is kept"},
        {pb->request_id_extension != NULL, "request_id_extension",
         "x-request-id is a random UUID (version 4)"},
        {pb->n_original_ip_detection_extensions > 0, "original_ip_detection_extensions",
         "the client address comes from use_remote_address and xff_num_trusted_hops"},
        {pb->n_early_header_mutation_extensions > 0, "early_header_mutation_extensions",
         "request headers are not mutated before routing"},
        {pb->proxy_100_continue, "proxy_100_continue",
         "xproxy answers Expect: 100-continue itself"},
        {pb->stream_error_on_invalid_http_message &&
             pb->stream_error_on_invalid_http_message->value,
         "stream_error_on_invalid_http_message",
         "an invalid HTTP/1 message is answered 400 and the connection closed"},
        {pb->represent_ipv4_remote_address_as_ipv4_mapped_ipv6,
         "represent_ipv4_remote_address_as_ipv4_mapped_ipv6", "IPv4 addresses stay IPv4"},
        {pb->proxy_status_config != NULL, "proxy_status_config", "no Proxy-Status header is added"},
    };
    xp__warn_unhonoured(f, XP_ARRAY_SIZE(f), path, diag);
}

static xp_hcm_cfg_t *xp__hcm(const xp__hcm_pb_t *pb, xp_path_t *path, xp_diag_t *diag)
{
    size_t errors0 = diag->nerrors;
    xp_hcm_cfg_t *h = xp_hcm_cfg_new();
    if (pb->stat_prefix == NULL || pb->stat_prefix[0] == '\0')
        xp__err(path, "stat_prefix", diag, "stat_prefix is required");
    h->stat_prefix = xp_strdup(pb->stat_prefix ? pb->stat_prefix : "");

    if (pb->codec_type != XP__HCM(HTTP_CONNECTION_MANAGER__CODEC_TYPE__AUTO) &&
        pb->codec_type != XP__HCM(HTTP_CONNECTION_MANAGER__CODEC_TYPE__HTTP1))
        xp__err(path, "codec_type", diag, "only AUTO and HTTP1 are supported by xproxy yet");

    switch (pb->route_specifier_case) {
    case XP__HCM(HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_ROUTE_CONFIG): {
        size_t m = xp_path_push_field(path, "route_config");
        if (pb->route_config && pb->route_config->vhds)
            xp__err(path, "vhds", diag,
                    "VHDS needs a route configuration delivered by RDS (rds), not an inline "
                    "route_config");
        h->route_table = xp_translate_route_config(pb->route_config, xp_path_str(path), diag);
        xp_path_pop(path, m);
        break;
    }
    case XP__HCM(HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_RDS): {
        size_t m = xp_path_push_field(path, "rds");
        if (pb->rds->route_config_name == NULL || pb->rds->route_config_name[0] == '\0')
            xp__err(path, "route_config_name", diag, "route_config_name is required");
        else
            h->rds_name = xp_strdup(pb->rds->route_config_name);
        if (pb->rds->config_source == NULL)
            xp__err(path, "config_source", diag, "config_source is required");
        else
            xp_tr_config_source(pb->rds->config_source, path, "config_source", &h->rds_source,
                                diag);
        xp_path_pop(path, m);
        break;
    }
    case XP__HCM(HTTP_CONNECTION_MANAGER__ROUTE_SPECIFIER_SCOPED_ROUTES): {
        size_t m = xp_path_push_field(path, "scoped_routes");
        h->scoped = xp_translate_scoped_routes(pb->scoped_routes, path, diag);
        xp_path_pop(path, m);
        break;
    }
    default:
        xp_diag_error(diag, xp_path_str(path),
                      "one of route_config, rds or scoped_routes is "
                      "required");
    }

    xp__http_filters(pb, h, path, diag);

    for (size_t i = 0; i < pb->n_upgrade_configs; i++) {
        const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__HttpConnectionManager__UpgradeConfig
            *u = pb->upgrade_configs[i];
        size_t m = xp_path_push_field(path, "upgrade_configs");
        size_t m1 = xp_path_push_index(path, i);
        if (u->upgrade_type == NULL || u->upgrade_type[0] == '\0')
            xp__err(path, "upgrade_type", diag, "upgrade_type is required");
        if (u->n_filters)
            xp__err(path, "filters", diag, "per-upgrade filter chains are not supported");
        h->upgrades = xp_realloc(h->upgrades, (h->n_upgrades + 1) * sizeof(*h->upgrades));
        h->upgrades[h->n_upgrades].upgrade_type =
            xp__lower_dup(u->upgrade_type ? u->upgrade_type : "");
        h->upgrades[h->n_upgrades].enabled = xp_tr_bool(u->enabled, true);
        h->n_upgrades++;
        xp_path_pop(path, m1);
        xp_path_pop(path, m);
    }

    h->max_request_headers_kb = xp_tr_u32(pb->max_request_headers_kb, 60);
    if (h->max_request_headers_kb == 0 || h->max_request_headers_kb > 8192)
        xp__err(path, "max_request_headers_kb", diag, "must be between 1 and 8192");
    if (pb->common_http_protocol_options) {
        size_t m = xp_path_push_field(path, "common_http_protocol_options");
        h->idle_timeout_ms = xp_tr_duration_ms(pb->common_http_protocol_options->idle_timeout,
                                               h->idle_timeout_ms, path, "idle_timeout", diag);
        h->max_headers_count =
            xp_tr_u32(pb->common_http_protocol_options->max_headers_count, h->max_headers_count);
        if (h->max_headers_count == 0)
            xp__err(path, "max_headers_count", diag, "must be at least 1");
        /* A field line takes at least 4 bytes ("a:" CRLF): a head within
         * max_request_headers_kb holds no more, and every request's field
         * array is sized by this count. */
        uint32_t kb = h->max_request_headers_kb;
        uint32_t fit = (kb < 1 ? 1 : kb > 8192 ? 8192 : kb) * 256;
        if (h->max_headers_count > fit)
            h->max_headers_count = fit;
        xp_path_pop(path, m);
    }
    if (pb->http_protocol_options) {
        h->accept_http_10 = pb->http_protocol_options->accept_http_10;
        const char *dh = pb->http_protocol_options->default_host_for_http_10;
        if (dh && dh[0])
            h->default_host_for_http_10 = xp_strdup(dh);
        size_t m = xp_path_push_field(path, "http_protocol_options");
        xp__http1_unhonoured(pb->http_protocol_options, path, diag);
        xp_path_pop(path, m);
    }
    h->stream_idle_timeout_ms = xp_tr_duration_ms(
        pb->stream_idle_timeout, h->stream_idle_timeout_ms, path, "stream_idle_timeout", diag);
    h->request_timeout_ms =
        xp_tr_duration_ms(pb->request_timeout, 0, path, "request_timeout", diag);
    h->request_headers_timeout_ms =
        xp_tr_duration_ms(pb->request_headers_timeout, 0, path, "request_headers_timeout", diag);
    h->drain_timeout_ms =
        xp_tr_duration_ms(pb->drain_timeout, h->drain_timeout_ms, path, "drain_timeout", diag);
    h->use_remote_address = xp_tr_bool(pb->use_remote_address, false);
    h->xff_num_trusted_hops = pb->xff_num_trusted_hops;
    h->skip_xff_append = pb->skip_xff_append;
    if (pb->internal_address_config) {
        /* unix_sockets needs no reading: xproxy has no pipe listeners. */
        size_t m = xp_path_push_field(path, "internal_address_config");
        xp__cidrs(pb->internal_address_config->cidr_ranges,
                  pb->internal_address_config->n_cidr_ranges, "cidr_ranges", &h->internal_ranges,
                  &h->n_internal_ranges, path, diag);
        xp_path_pop(path, m);
    }
    h->generate_request_id = xp_tr_bool(pb->generate_request_id, true);
    h->preserve_external_request_id = pb->preserve_external_request_id;
    h->always_set_request_id_in_response = pb->always_set_request_id_in_response;
    h->append_x_forwarded_port = pb->append_x_forwarded_port;
    /* Without TLS no client presents a certificate: every mode but
     * ALWAYS_FORWARD_ONLY removes x-forwarded-client-cert (Envoy). */
    h->forward_client_cert =
        pb->forward_client_cert_details ==
        XP__HCM(HTTP_CONNECTION_MANAGER__FORWARD_CLIENT_CERT_DETAILS__ALWAYS_FORWARD_ONLY);
    if (xp_tr_bool(pb->add_user_agent, false)) {
        h->user_agent = xp_strdup(xp_tr_node_cluster());
        h->service_node = xp_strdup(xp_tr_node_id());
    }
    char why[96];
    if (pb->via && pb->via[0]) {
        if (!xp_http_field_ok(xp_str_c(pb->via), XP_FIELD_VALUE, why, sizeof(why)))
            xp__err(path, "via", diag, why);
        h->via = xp_strdup(pb->via);
    }
    xp__hcm_unhonoured(pb, path, diag);
    if (pb->server_name && pb->server_name[0]) {
        if (!xp_http_field_ok(xp_str_c(pb->server_name), XP_FIELD_VALUE, why, sizeof(why)))
            xp__err(path, "server_name", diag, why);
        free(h->server_name);
        h->server_name = xp_strdup(pb->server_name);
    }
    h->server_header_transformation = (int)pb->server_header_transformation;
    h->normalize_path = xp_tr_bool(pb->normalize_path, false);
    h->merge_slashes = pb->merge_slashes;
    h->strip_any_host_port =
        pb->strip_port_mode_case ==
            XP__HCM(HTTP_CONNECTION_MANAGER__STRIP_PORT_MODE_STRIP_ANY_HOST_PORT) &&
        pb->strip_any_host_port;
    h->strip_matching_host_port = pb->strip_matching_host_port;
    if (pb->n_access_log && xp_translate_access_logs(pb->access_log, pb->n_access_log, path, diag,
                                                     &h->access_logs, &h->n_access_logs) == 0)
        h->n_unimplemented_logs = pb->n_access_log - h->n_access_logs;
    if (diag->nerrors != errors0) {
        xp_hcm_cfg_free(h);
        return NULL;
    }
    return h;
}

/* ---- tcp_proxy ------------------------------------------------------ */

static xp_tcp_proxy_cfg_t *xp__tcp_proxy(const xp__tcp_pb_t *pb, xp_path_t *path, xp_diag_t *diag)
{
    size_t errors0 = diag->nerrors;
    xp_tcp_proxy_cfg_t *t = xp_tcp_proxy_cfg_new();
    if (pb->stat_prefix == NULL || pb->stat_prefix[0] == '\0')
        xp__err(path, "stat_prefix", diag, "stat_prefix is required");
    t->stat_prefix = xp_strdup(pb->stat_prefix ? pb->stat_prefix : "");
    if (pb->cluster_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__TCP_PROXY__V3__TCP_PROXY__CLUSTER_SPECIFIER_CLUSTER) {
        if (pb->cluster == NULL || pb->cluster[0] == '\0')
            xp__err(path, "cluster", diag, "cluster must not be empty");
        t->cluster = xp_strdup(pb->cluster ? pb->cluster : "");
    } else if (
        pb->cluster_specifier_case ==
        ENVOY__EXTENSIONS__FILTERS__NETWORK__TCP_PROXY__V3__TCP_PROXY__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS) {
        size_t m = xp_path_push_field(path, "weighted_clusters");
        size_t n = pb->weighted_clusters->n_clusters;
        t->weighted = xp_calloc(n + 1, sizeof(*t->weighted));
        for (size_t i = 0; i < n; i++) {
            const Envoy__Extensions__Filters__Network__TcpProxy__V3__TcpProxy__WeightedCluster__ClusterWeight
                *cw = pb->weighted_clusters->clusters[i];
            size_t m1 = xp_path_push_field(path, "clusters");
            size_t m2 = xp_path_push_index(path, i);
            if (cw->name == NULL || cw->name[0] == '\0')
                xp__err(path, "name", diag, "cluster name is required");
            if (cw->weight == 0)
                xp__err(path, "weight", diag, "weight must be at least 1");
            t->weighted[i].name = xp_strdup(cw->name ? cw->name : "");
            t->weighted[i].weight = cw->weight;
            t->total_weight += cw->weight;
            t->n_weighted++;
            xp_path_pop(path, m2);
            xp_path_pop(path, m1);
        }
        if (n == 0)
            xp_diag_error(diag, xp_path_str(path), "at least one cluster is required");
        xp_path_pop(path, m);
    } else {
        xp_diag_error(diag, xp_path_str(path), "cluster or weighted_clusters is required");
    }
    t->idle_timeout_ms =
        xp_tr_duration_ms(pb->idle_timeout, t->idle_timeout_ms, path, "idle_timeout", diag);
    t->max_connect_attempts = xp_tr_u32(pb->max_connect_attempts, 1);
    if (t->max_connect_attempts == 0)
        xp__err(path, "max_connect_attempts", diag, "must be at least 1");
    if (pb->tunneling_config)
        xp__err(path, "tunneling_config", diag, "tunneling over HTTP is not supported yet");
    if (pb->n_access_log && xp_translate_access_logs(pb->access_log, pb->n_access_log, path, diag,
                                                     &t->access_logs, &t->n_access_logs) == 0)
        t->n_unimplemented_logs = pb->n_access_log - t->n_access_logs;
    if (diag->nerrors != errors0) {
        xp_tcp_proxy_cfg_free(t);
        return NULL;
    }
    return t;
}

/* ---- filter chains -------------------------------------------------- */

static char **xp__strv(char *const *v, size_t n)
{
    char **out = xp_calloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xp_strdup(v[i]);
    return out;
}

static xp_filter_chain_t *xp__filter_chain(const Envoy__Config__Listener__V3__FilterChain *fc,
                                           xp_path_t *path, xp_diag_t *diag)
{
    size_t errors0 = diag->nerrors;
    xp_filter_chain_t *c = xp_filter_chain_new(fc->name);
    const Envoy__Config__Listener__V3__FilterChainMatch *fm = fc->filter_chain_match;
    if (fm) {
        size_t m = xp_path_push_field(path, "filter_chain_match");
        c->match.destination_port = xp_tr_u32(fm->destination_port, 0);
        if (c->match.destination_port > 65535)
            xp__err(path, "destination_port", diag, "port out of range (1..65535)");
        xp__cidrs(fm->prefix_ranges, fm->n_prefix_ranges, "prefix_ranges", &c->match.prefix_ranges,
                  &c->match.n_prefix_ranges, path, diag);
        xp__cidrs(fm->source_prefix_ranges, fm->n_source_prefix_ranges, "source_prefix_ranges",
                  &c->match.source_prefix_ranges, &c->match.n_source_prefix_ranges, path, diag);
        if (fm->n_server_names) {
            c->match.server_names = xp__strv(fm->server_names, fm->n_server_names);
            c->match.n_server_names = fm->n_server_names;
        }
        if (fm->transport_protocol && fm->transport_protocol[0])
            c->match.transport_protocol = xp_strdup(fm->transport_protocol);
        if (fm->n_application_protocols) {
            c->match.application_protocols =
                xp__strv(fm->application_protocols, fm->n_application_protocols);
            c->match.n_application_protocols = fm->n_application_protocols;
        }
        xp_path_pop(path, m);
    }
    if (fc->transport_socket)
        xp__err(path, "transport_socket", diag, "downstream TLS is not supported yet");

    size_t m0 = xp_path_push_field(path, "filters");
    if (fc->n_filters == 0)
        xp_diag_error(diag, xp_path_str(path),
                      "a filter chain needs a terminal filter (http_connection_manager or "
                      "tcp_proxy)");
    for (size_t i = 0; i < fc->n_filters; i++) {
        const Envoy__Config__Listener__V3__Filter *f = fc->filters[i];
        size_t m1 = xp_path_push_index(path, i);
        const char *type =
            f->config_type_case == ENVOY__CONFIG__LISTENER__V3__FILTER__CONFIG_TYPE_TYPED_CONFIG &&
                    f->typed_config
                ? xp_tr_type_name(f->typed_config->type_url)
                : "";
        bool last = i + 1 == fc->n_filters;
        size_t m2 = xp_path_push_field(path, "typed_config");
        if (strcmp(type, XP__HCM_TYPE) == 0 || strcmp(type, XP__TCP_PROXY_TYPE) == 0) {
            bool hcm = strcmp(type, XP__HCM_TYPE) == 0;
            if (!last) {
                xp_diag_error(diag, xp_path_str(path), "%s must be the last network filter", type);
            } else if (hcm) {
                xp__hcm_pb_t *pb = (xp__hcm_pb_t *)xp_any_unpack(
                    f->typed_config,
                    &envoy__extensions__filters__network__http_connection_manager__v3__http_connection_manager__descriptor,
                    diag, xp_path_str(path));
                if (pb) {
                    c->kind = XP_NET_FILTER_HCM;
                    c->u.hcm = xp__hcm(pb, path, diag);
                    protobuf_c_message_free_unpacked(&pb->base, NULL);
                }
            } else {
                xp__tcp_pb_t *pb = (xp__tcp_pb_t *)xp_any_unpack(
                    f->typed_config,
                    &envoy__extensions__filters__network__tcp_proxy__v3__tcp_proxy__descriptor,
                    diag, xp_path_str(path));
                if (pb) {
                    c->kind = XP_NET_FILTER_TCP_PROXY;
                    c->u.tcp = xp__tcp_proxy(pb, path, diag);
                    protobuf_c_message_free_unpacked(&pb->base, NULL);
                }
            }
        } else {
            xp_diag_error(diag, xp_path_str(path),
                          "network filter '%s' of type '%s' is not supported by xproxy",
                          f->name ? f->name : "", type[0] ? type : "(no typed_config)");
        }
        xp_path_pop(path, m2);
        xp_path_pop(path, m1);
    }
    xp_path_pop(path, m0);
    if (diag->nerrors != errors0 || (c->u.hcm == NULL && c->u.tcp == NULL)) {
        if (diag->nerrors == errors0)
            xp_diag_error(diag, xp_path_str(path), "filter chain has no terminal filter");
        xp_filter_chain_unref(c);
        return NULL;
    }
    return c;
}

/* ---- listener ------------------------------------------------------- */

xp_listener_cfg_t *xp_translate_listener(const Envoy__Config__Listener__V3__Listener *l,
                                         xp_path_t *path, xp_diag_t *diag)
{
    size_t errors0 = diag->nerrors;
    if (l->name == NULL || l->name[0] == '\0') {
        xp__err(path, "name", diag, "a listener needs a non-empty name");
        return NULL;
    }
    xp_listener_cfg_t *cfg = xp_listener_cfg_new(l->name);
    xp_tr_address(l->address, path, "address", false, &cfg->addr, NULL, NULL, diag);
    cfg->per_connection_buffer_limit_bytes =
        xp_tr_u32(l->per_connection_buffer_limit_bytes, cfg->per_connection_buffer_limit_bytes);
    cfg->backlog = xp_tr_u32(l->tcp_backlog_size, cfg->backlog);

    if (l->n_filter_chains == 0 && l->default_filter_chain == NULL)
        xp__err(path, "filter_chains", diag, "a listener needs at least one filter chain");
    cfg->chains = xp_calloc(l->n_filter_chains + 1, sizeof(*cfg->chains));
    size_t m0 = xp_path_push_field(path, "filter_chains");
    for (size_t i = 0; i < l->n_filter_chains; i++) {
        size_t m1 = xp_path_push_index(path, i);
        xp_filter_chain_t *c = xp__filter_chain(l->filter_chains[i], path, diag);
        if (c)
            cfg->chains[cfg->n_chains++] = c;
        xp_path_pop(path, m1);
    }
    xp_path_pop(path, m0);
    if (l->default_filter_chain) {
        size_t m = xp_path_push_field(path, "default_filter_chain");
        cfg->default_chain = xp__filter_chain(l->default_filter_chain, path, diag);
        xp_path_pop(path, m);
    }

    size_t m1 = xp_path_push_field(path, "listener_filters");
    for (size_t i = 0; i < l->n_listener_filters; i++) {
        size_t m2 = xp_path_push_index(path, i);
        const Envoy__Config__Listener__V3__ListenerFilter *lf = l->listener_filters[i];
        xp_diag_error(diag, xp_path_str(path), "listener filter '%s' is not supported yet",
                      lf->name ? lf->name : "");
        xp_path_pop(path, m2);
    }
    xp_path_pop(path, m1);

    if (xp_tr_bool(l->use_original_dst, false))
        xp__err(path, "use_original_dst", diag, "use_original_dst is not supported");
    if (xp_tr_bool(l->transparent, false))
        xp__err(path, "transparent", diag, "transparent listeners are not supported");
    if (l->api_listener)
        xp__err(path, "api_listener", diag, "API listeners are not supported");
    if (l->n_socket_options)
        xp__err(path, "socket_options", diag, "socket_options are not supported yet");
    if (l->n_access_log)
        xp__err(path, "access_log", diag, "listener-level access logs are not supported yet");

    if (diag->nerrors != errors0) {
        xp_listener_cfg_unref(cfg);
        return NULL;
    }
    return cfg;
}
