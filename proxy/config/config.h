/* The proxy's own configuration model: immutable, refcounted objects built by
 * xds/translate from Envoy's protobuf resources. Workers read them without
 * locks; a connection holds its listener and filter chain, a stream its route
 * table and cluster, until they end (see docs/architecture.md). protobuf-c
 * types never appear here.
 *
 * Ownership: every *_t with a `ref` member is created with one reference owned
 * by its creator; *_ref adds one, *_unref drops one and frees on the last.
 * Plain members (strings, arrays) belong to the object that holds them. */
#ifndef XP_CONFIG_CONFIG_H
#define XP_CONFIG_CONFIG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/accesslog/accesslog.h"
#include "proxy/common/ref.h"
#include "proxy/router/scope.h"

struct xp_route_table; /* proxy/router/route.h */

/* Where an RDS, EDS or SRDS resource comes from: the xDS stream (path NULL:
 * ADS or an api_config_source) or a file holding a DiscoveryResponse
 * (path_config_source, or the older `path`), re-read when it is replaced. */
typedef struct {
    char *path;      /* owned, or NULL */
    char *watch_dir; /* path_config_source.watched_directory.path, or NULL */
} xp_cfg_source_t;

void xp_cfg_source_clear(xp_cfg_source_t *s);

/* A resolved socket address plus its printable and stat-name forms. */
typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
    char str[64];  /* "127.0.0.1:8080", "[::1]:8080" */
    char stat[64]; /* "127.0.0.1_8080", "[__1]_8080" as Envoy names listener stats */
} xp_addr_t;

/* Fills a from an IP literal and port; XP_EINVAL if ip is not a literal. */
int xp_addr_from_ip(xp_addr_t *a, const char *ip, uint32_t port);
uint16_t xp_addr_port(const xp_addr_t *a);

/* ---- HTTP connection manager ---------------------------------------- */

typedef struct {
    char *upgrade_type; /* lower-cased, e.g. "websocket" */
    bool enabled;
} xp_upgrade_cfg_t;

typedef enum {
    XP_HTTP_FILTER_ROUTER,
    XP_HTTP_FILTER_ON_DEMAND, /* envoy.filters.http.on_demand: waits for VHDS virtual hosts */
} xp_http_filter_kind_t;

typedef struct {
    char *name;
    xp_http_filter_kind_t kind;
} xp_http_filter_cfg_t;

/* scoped_routes: each request's route table is the one of the scope whose
 * key its headers build (proxy/router/scope.h). */
typedef struct {
    char *name;
    xp_scope_key_builder_t builder;
    xp_cfg_source_t rds_source;    /* where scopes' route_configuration_name come from */
    xp_scope_set_t *inline_scopes; /* scoped_route_configurations_list (a reference), or NULL */
    bool srds;                     /* scoped_rds: the scopes come from SRDS */
    xp_cfg_source_t srds_source;   /* scoped_rds.scoped_rds_config_source */
} xp_scoped_routes_cfg_t;

void xp_scoped_routes_cfg_free(xp_scoped_routes_cfg_t *c);

/* The name of the SRDS scope set of a source in the snapshot: "" for the
 * xDS stream, else the file's path. Borrowed from c. */
static inline const char *xp_scoped_routes_set_name(const xp_scoped_routes_cfg_t *c)
{
    return c->srds_source.path ? c->srds_source.path : "";
}

/* An address range (Envoy's CidrRange). */
typedef struct {
    uint8_t family; /* AF_INET / AF_INET6 */
    uint8_t prefix_len;
    uint8_t addr[16];
} xp_cidr_t;

/* True when addr (4 bytes for AF_INET, 16 for AF_INET6) is inside c. */
bool xp_cidr_contains(const xp_cidr_t *c, int family, const uint8_t *addr);

typedef struct {
    char *stat_prefix;
    /* Exactly one of: an inline route table, an RDS name, or scoped routes. */
    struct xp_route_table *route_table; /* owned reference, or NULL */
    char *rds_name;
    xp_cfg_source_t rds_source;
    xp_scoped_routes_cfg_t *scoped; /* owned, or NULL */
    xp_http_filter_cfg_t *filters;
    size_t n_filters;
    bool on_demand; /* an on_demand filter is in the chain */
    xp_upgrade_cfg_t *upgrades;
    size_t n_upgrades;
    uint32_t max_request_headers_kb; /* default 60 */
    uint32_t max_headers_count;      /* default 100 */
    uint64_t stream_idle_timeout_ms; /* default 300000; 0 disables */
    uint64_t request_timeout_ms;     /* default 0 (disabled) */
    uint64_t request_headers_timeout_ms;
    uint64_t idle_timeout_ms;  /* common_http_protocol_options.idle_timeout, default 1 h */
    uint64_t drain_timeout_ms; /* default 5000 */
    bool use_remote_address;
    uint32_t xff_num_trusted_hops;
    bool skip_xff_append;
    /* internal_address_config.cidr_ranges: the addresses whose requests are
     * internal. None: Envoy's default (10/8, 172.16/12, 192.168/16,
     * 127.0.0.1, fd00::/8, ::1). */
    xp_cidr_t *internal_ranges;
    size_t n_internal_ranges;
    bool generate_request_id; /* default true */
    bool preserve_external_request_id;
    bool always_set_request_id_in_response;
    bool append_x_forwarded_port;
    bool forward_client_cert; /* x-forwarded-client-cert passes (ALWAYS_FORWARD_ONLY) */
    char *via;                /* appended to Via both ways, or NULL */
    /* add_user_agent: the node's cluster ("" when none) as
     * x-envoy-downstream-service-cluster and as a missing user-agent, and
     * the node's id as x-envoy-downstream-service-node; NULL when off. */
    char *user_agent;
    char *service_node;
    char *server_name;                /* default "envoy" */
    int server_header_transformation; /* Envoy's enum: OVERWRITE, APPEND_IF_ABSENT, PASS_THROUGH */
    bool normalize_path;
    bool merge_slashes;
    bool strip_any_host_port;
    bool strip_matching_host_port;
    /* http_protocol_options: HTTP/1.0 requests are answered 426 unless
     * accepted; one without Host then gets this one (may be NULL). */
    bool accept_http_10;
    char *default_host_for_http_10;
    xp_access_log_cfg_t *access_logs;
    size_t n_access_logs;
    size_t n_unimplemented_logs; /* access loggers configured but not implemented */
} xp_hcm_cfg_t;

/* ---- tcp_proxy ------------------------------------------------------ */

typedef struct {
    char *name;
    uint32_t weight;
} xp_tcp_weighted_cluster_t;

typedef struct {
    char *stat_prefix;
    char *cluster; /* or weighted below */
    xp_tcp_weighted_cluster_t *weighted;
    size_t n_weighted;
    uint64_t total_weight;
    uint64_t idle_timeout_ms;      /* default 1 h; 0 disables */
    uint32_t max_connect_attempts; /* default 1 */
    xp_access_log_cfg_t *access_logs;
    size_t n_access_logs;
    size_t n_unimplemented_logs; /* as in xp_hcm_cfg_t */
} xp_tcp_proxy_cfg_t;

/* ---- listeners ------------------------------------------------------ */

typedef struct {
    uint32_t destination_port; /* 0 = any */
    xp_cidr_t *prefix_ranges;
    size_t n_prefix_ranges;
    xp_cidr_t *source_prefix_ranges;
    size_t n_source_prefix_ranges;
    char **server_names;
    size_t n_server_names;
    char *transport_protocol; /* NULL = any; "raw_buffer" or "tls" */
    char **application_protocols;
    size_t n_application_protocols;
} xp_chain_match_t;

typedef enum {
    XP_NET_FILTER_HCM,
    XP_NET_FILTER_TCP_PROXY,
} xp_net_filter_kind_t;

typedef struct xp_filter_chain {
    xp_ref_t ref;
    char *name;
    xp_chain_match_t match;
    xp_net_filter_kind_t kind;
    union {
        xp_hcm_cfg_t *hcm;
        xp_tcp_proxy_cfg_t *tcp;
    } u;
    uint64_t hash; /* digest of the source resource, to reuse unchanged chains */
} xp_filter_chain_t;

typedef struct xp_listener_cfg {
    xp_ref_t ref;
    char *name;
    xp_addr_t addr;
    uint32_t per_connection_buffer_limit_bytes; /* default 1 MiB */
    uint32_t backlog;                           /* tcp_backlog_size, default 1024 */
    xp_filter_chain_t **chains;
    size_t n_chains;
    xp_filter_chain_t *default_chain; /* may be NULL */
    uint64_t version;                 /* generation counter, for stats */
} xp_listener_cfg_t;

/* ---- clusters ------------------------------------------------------- */

typedef enum {
    XP_CLUSTER_STATIC,
    XP_CLUSTER_STRICT_DNS,
    XP_CLUSTER_LOGICAL_DNS,
    XP_CLUSTER_EDS,
} xp_cluster_type_t;

typedef enum {
    XP_LB_ROUND_ROBIN,
    XP_LB_LEAST_REQUEST,
    XP_LB_RANDOM,
    XP_LB_RING_HASH,
    XP_LB_MAGLEV,
} xp_lb_policy_t;

typedef struct {
    xp_addr_t addr;          /* resolved; for DNS clusters filled by the resolver */
    char *hostname;          /* DNS clusters: the name to resolve; else NULL */
    char *endpoint_hostname; /* Endpoint.hostname (auto_host_rewrite); may be NULL */
    uint32_t port;
    uint32_t weight; /* load_balancing_weight, default 1 */
    uint32_t priority;
    bool healthy; /* health_status != UNHEALTHY/DRAINING */
} xp_endpoint_cfg_t;

typedef struct {
    uint32_t max_connections;      /* default 1024 */
    uint32_t max_pending_requests; /* default 1024 */
    uint32_t max_requests;         /* default 1024 */
    uint32_t max_retries;          /* default 3 */
} xp_circuit_breakers_t;

typedef struct xp_cluster_cfg {
    xp_ref_t ref;
    char *name;
    xp_cluster_type_t type;
    xp_lb_policy_t lb_policy;
    uint64_t connect_timeout_ms; /* default 5000 */
    uint32_t per_connection_buffer_limit_bytes;
    xp_endpoint_cfg_t *endpoints;
    size_t n_endpoints;
    char *eds_service_name;       /* EDS clusters; NULL = cluster name */
    xp_cfg_source_t eds_source;   /* eds_cluster_config.eds_config */
    uint64_t dns_refresh_rate_ms; /* default 5000 */
    int dns_lookup_family;        /* Envoy's enum: AUTO, V4_ONLY, V6_ONLY, V4_PREFERRED, ALL */
    xp_circuit_breakers_t cb;
    uint64_t idle_timeout_ms;             /* pooled upstream connections, default 1 h */
    uint32_t max_requests_per_connection; /* 0 = unlimited */
    uint64_t ring_hash_min_size;          /* default 1024 */
    uint64_t ring_hash_max_size;          /* default 8M */
    uint64_t maglev_table_size;           /* default 65537 */
    uint32_t least_request_choice_count;  /* default 2 */
    bool http2; /* the cluster asks for HTTP/2 upstream (xDS clusters do) */
} xp_cluster_cfg_t;

/* The filter chain for a new connection by Envoy's staged
 * filter_chain_match rules (plaintext connections: no SNI or ALPN), or the
 * default chain, or NULL. Borrowed. */
xp_filter_chain_t *xp_listener_select_chain(const xp_listener_cfg_t *l,
                                            const struct sockaddr *local,
                                            const struct sockaddr *peer);

/* An endpoint assignment (ClusterLoadAssignment, EDS), by cluster name or
 * eds service name. */
typedef struct xp_cla {
    xp_ref_t ref;
    char *name;
    xp_endpoint_cfg_t *endpoints;
    size_t n_endpoints;
} xp_cla_t;

/* Takes over eps (array and hostnames); one reference. */
xp_cla_t *xp_cla_new(const char *name, xp_endpoint_cfg_t *eps, size_t n);
void xp_cla_ref(xp_cla_t *a);
void xp_cla_unref(xp_cla_t *a);

/* ---- lifetime ------------------------------------------------------- */

/* Config objects alive right now, all generations together (the current one
 * plus whatever connections and streams still hold). */
typedef struct {
    uint64_t listeners, filter_chains, clusters, assignments;
} xp_config_alive_t;

void xp_config_alive(xp_config_alive_t *out);

void xp_filter_chain_ref(xp_filter_chain_t *c);
void xp_filter_chain_unref(xp_filter_chain_t *c);
void xp_listener_cfg_ref(xp_listener_cfg_t *l);
void xp_listener_cfg_unref(xp_listener_cfg_t *l);
void xp_cluster_cfg_ref(xp_cluster_cfg_t *c);
void xp_cluster_cfg_unref(xp_cluster_cfg_t *c);

/* Frees the members of an HCM / tcp_proxy / access log config (and the
 * struct itself for the first two). */
void xp_hcm_cfg_free(xp_hcm_cfg_t *h);
void xp_tcp_proxy_cfg_free(xp_tcp_proxy_cfg_t *t);
void xp_access_log_cfg_clear(xp_access_log_cfg_t *a);

/* Allocation helpers that set Envoy's defaults; the result has one reference. */
xp_listener_cfg_t *xp_listener_cfg_new(const char *name);
xp_filter_chain_t *xp_filter_chain_new(const char *name);
xp_cluster_cfg_t *xp_cluster_cfg_new(const char *name);
xp_hcm_cfg_t *xp_hcm_cfg_new(void);
xp_tcp_proxy_cfg_t *xp_tcp_proxy_cfg_new(void);

#endif
