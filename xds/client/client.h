/* The xDS client: transport and protocol engine below config translation.
 *
 * Speaks Envoy's xDS protocol (envoy/docs/root/api-docs/xds_protocol.rst) to
 * one management server, over one of two transports chosen by the config:
 *  - gRPC: ADS (one stream for every type) or one stream per type,
 *    State-of-the-World or Delta, with ACK/NACK, versions, nonces,
 *    subscriptions and reconnect with jittered exponential backoff;
 *  - REST-JSON polling ("REST-JSON polling subscriptions"): per type, an
 *    HTTP/1.1 POST of a JSON DiscoveryRequest to /v3/discovery:<type> every
 *    refresh_delay (plus Envoy's jitter, up to one more refresh_delay),
 *    answered by a JSON DiscoveryResponse or 304 (nothing new). State of
 *    the World only; version_info is the last accepted version and a NACK's
 *    error_detail rides on every poll until a response is accepted.
 * The callbacks see no difference between them.
 *
 * gRPC core is not linked: the first client loads it (grpc_lib.h).
 *
 * Threads: gRPC core runs on its own thread (one completion queue drained by
 * a dedicated thread); every completion is handed to the libuv loop given to
 * xp_xds_client_new() through a mutex-protected queue and a uv_async_t. REST
 * runs on the loop itself (libuv TCP, no thread, no gRPC). All API calls and
 * all callbacks happen on that loop's thread.
 *
 * The client never forgets what was accepted: when the control plane goes
 * away it reconnects and re-sends its subscriptions (SotW: with the last
 * accepted version_info; Delta: with initial_resource_versions) and never
 * reports an empty state because of a disconnect. */
#ifndef XP_XDS_CLIENT_CLIENT_H
#define XP_XDS_CLIENT_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/stats/stats.h"

typedef struct xp_xds_client xp_xds_client_t;

/* One resource of a response. Everything is borrowed for the duration of the
 * on_update call (the callee clones what it keeps: xp_proto_clone()). */
typedef struct {
    char *name;            /* Resource.name, or the message's name/cluster_name field */
    char *version;         /* Resource.version when wrapped (always in Delta), else version_info */
    ProtobufCMessage *msg; /* decoded with the type URL's descriptor; NULL for a raw type */
    char *const *aliases;  /* Delta: Resource.aliases (the subscribed names it answers) */
    size_t n_aliases;
    /* The resource as serialized by the server (always set). */
    const uint8_t *raw;
    size_t raw_len;
    void *owned_; /* the client's own: a copy of raw when it had to make one */
} xp_xds_resource_t;

typedef struct {
    /* A response for type_url, every resource already decoded and checked
     * (type URL, duplicate names, unknown behaviour-changing fields; any
     * problem there NACKs the response without calling this; raw_types
     * are only named, not decoded).
     *  SotW: res is the complete state of the type for a wildcard
     *        subscription, or the subscribed subset of what the server sent
     *        for a named one (names outside the subscription are dropped);
     *        removed is NULL, n_removed 0.
     *  Delta: res holds only the added/changed resources, removed the names
     *        the server removed, and the names and aliases of Resources
     *        without a body (the server says they do not exist);
     *        version_info is system_version_info.
     * Return 0 to ACK. Non-zero NACKs: set *error_detail to a malloc'd
     * message (the client frees it; NULL gives a generic text). Everything
     * passed is borrowed for the call. Runs on the loop thread; it may call
     * xp_xds_client_subscribe() (the change rides on the ACK/NACK) but not
     * xp_xds_client_free(). */
    int (*on_update)(void *ctx, const char *type_url, const char *version_info,
                     const xp_xds_resource_t *res, size_t n, char *const *removed, size_t n_removed,
                     bool delta, char **error_detail);
    /* The connection to the control plane went up (a stream got the
     * server's response headers or first response after a (re)connect while
     * no stream was up) or down (the last up stream failed). Headers count
     * because a Delta server has nothing to send to a client that
     * reconnects with up-to-date initial_resource_versions. May be NULL. */
    void (*on_connection)(void *ctx, bool connected);
} xp_xds_callbacks_t;

typedef enum {
    XP_XDS_TRANSPORT_GRPC, /* gRPC streams (the default) */
    XP_XDS_TRANSPORT_REST, /* REST-JSON polling over HTTP/1.1 */
} xp_xds_transport_t;

typedef struct {
    xp_xds_transport_t transport;
    const ProtobufCMessage *node; /* envoy.config.core.v3.Node, copied; may be NULL */
    xp_stats_t *stats;            /* may be NULL; borrowed, must outlive the client */
    /* gRPC */
    const char *target;                  /* "host:port" of the management server (copied) */
    bool ads;                            /* one ADS stream for all types; else one per type */
    bool delta;                          /* Delta xDS */
    bool set_node_on_first_message_only; /* else the node goes on every request */
    uint64_t backoff_base_ms;            /* 0: 500 ms */
    uint64_t backoff_max_ms;             /* 0: 30 s */
    uint64_t keepalive_ms;               /* gRPC keepalive time; 0 = off */
    /* rate_limit_settings (gRPC only; fill rate 0: no limit). Each stream
     * has a token bucket of max_tokens (full at first) refilled at
     * fill_rate per second; a request waits in the stream's queue until a
     * token is free, as in Envoy. */
    uint32_t rate_limit_max_tokens;
    double rate_limit_fill_rate;
    /* REST (the node goes on every request) */
    const char *const *hosts;    /* "host:port" (IP or name) of each endpoint of the management
                                  * server's cluster, copied; the next is tried after a failure */
    size_t n_hosts;              /* >= 1 */
    const char *authority;       /* Host header (Envoy sends the cluster name); copied */
    uint64_t refresh_delay_ms;   /* > 0: the pause after each poll (plus a jitter below it) */
    uint64_t request_timeout_ms; /* a poll (connect to last byte) longer fails; 0: 1 s */
    /* NULL-terminated type URLs (copied; may be NULL) whose resources reach
     * on_update undecoded: msg is NULL and only raw is set; the name is still
     * read (from the Resource wrapper or the message's name field, without
     * decoding the rest) and checked for duplicates, but decoding and the
     * unknown-field check are the receiver's job (for large resources most
     * of which did not change, e.g. route configurations). */
    const char *const *raw_types;
} xp_xds_client_config_t;

/* Stats (when cfg->stats is set):
 *   control_plane.connected_state   gauge 0/1 (see on_connection)
 *   control_plane.rate_limit_enforced counter: times a request had to wait
 *                                   for a token (rate_limit_settings)
 *   control_plane.pending_requests  gauge: requests queued on gRPC streams
 *   <prefix>.update_attempt         counter: responses received for the type (REST: 200s;
 *                                   a 304 changes nothing and counts nowhere)
 *   <prefix>.update_success         counter: ACKed
 *   <prefix>.update_rejected        counter: NACKed (decode problem or on_update != 0)
 *   <prefix>.update_failure         counter: the type's stream failed (REST: a poll
 *                                   failed: connect, timeout, HTTP status other than
 *                                   200/304, malformed HTTP)
 *   <prefix>.version                gauge: XXH64 of the last accepted version_info
 *                                   (low 63 bits; Envoy's gauge is unsigned)
 * <prefix> is Envoy's for LDS and CDS ("listener_manager.lds",
 * "cluster_manager.cds"); Envoy keeps RDS and EDS stats per route config and
 * per cluster, so those are aggregated as "xds.rds" and "xds.eds" (SDS
 * "xds.sds", SRDS "xds.srds", RTDS "runtime" as Envoy's, any other type
 * "xds.<MessageName>"). */

/* Type URLs of the resource types the client knows the per-type services of
 * (ADS carries any registered type). */
#define XP_XDS_TYPE_LISTENER "type.googleapis.com/envoy.config.listener.v3.Listener"
#define XP_XDS_TYPE_ROUTE    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
#define XP_XDS_TYPE_CLUSTER  "type.googleapis.com/envoy.config.cluster.v3.Cluster"
#define XP_XDS_TYPE_ENDPOINT "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
#define XP_XDS_TYPE_SECRET   "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
/* VHDS (Delta only). Names are "<route config>/<something>"; as in Envoy, a
 * subscribed name N also covers every resource named "N/<x>" (namespace
 * matching: the server may push the virtual hosts of a route
 * configuration unasked), and a resource is wanted when one of its aliases
 * is subscribed (on-demand "<route config>/<host>" requests). */
#define XP_XDS_TYPE_VIRTUAL_HOST "type.googleapis.com/envoy.config.route.v3.VirtualHost"
#define XP_XDS_TYPE_SCOPED_ROUTE                                                                   \
    "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration"
#define XP_XDS_TYPE_RUNTIME  "type.googleapis.com/envoy.service.runtime.v3.Runtime"

/* A new client owned by the caller (xp_xds_client_free). cfg and node are
 * copied; cb is copied; ctx is passed to every callback. Nothing is sent
 * until the first subscription. The first client loads gRPC core (a process
 * without one never maps it); when that fails, returns NULL and sets *err to
 * a malloc'd message naming the library and the reason (caller frees). */
xp_xds_client_t *xp_xds_client_new(uv_loop_t *loop, const xp_xds_client_config_t *cfg,
                                   const xp_xds_callbacks_t *cb, void *ctx, char **err);

/* Sets the desired subscription for type_url (names are copied).
 * wildcard=true (names ignored) subscribes to every resource of the type
 * (LDS/CDS). Otherwise exactly these names: calling again with another set
 * subscribes/unsubscribes the difference (RDS/EDS follow what listeners and
 * clusters reference). Sends a request when the subscription changed and a
 * stream is up or being set up; starts the stream on first use (REST: the
 * type's next poll happens at once). Returns 0, or XP_ENOTSUP for a type
 * whose descriptor is not registered (or, without ADS, whose per-type
 * service or REST path is unknown). */
int xp_xds_client_subscribe(xp_xds_client_t *c, const char *type_url, bool wildcard,
                            char *const *names, size_t n);

/* True while at least one stream is up (REST: the last poll of at least
 * one type got an HTTP answer); see on_connection. */
bool xp_xds_client_connected(const xp_xds_client_t *c);

/* Cancels the streams (REST: the polls in flight), waits for gRPC to hand
 * back every pending operation, stops the gRPC thread and closes the
 * client's libuv handles. No callback
 * runs after it returns; the memory is released by the handles' close
 * callbacks, so run the loop (uv_run) once more before uv_loop_close().
 * Must not be called from inside a callback. */
void xp_xds_client_free(xp_xds_client_t *c);

#endif
