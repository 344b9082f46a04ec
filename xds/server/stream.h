/* Streams and subscriptions, shared by stream.c (gRPC plumbing) and
 * protocol.c (the xDS protocol). Internal to xds/server. Everything here
 * is touched only under srv->mu. */
#ifndef XP_XDS_SERVER_STREAM_H
#define XP_XDS_SERVER_STREAM_H

#include "xds/server/server_internal.h"

#include <grpc/grpc.h>
#include <stdbool.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"

typedef struct {
    const char *path;     /* "/envoy.service.discovery.v3.AggregatedDiscoveryService/..." */
    const char *kind;     /* "ads", or the service's short name ("lds", "cds", ...) */
    bool delta;           /* Delta (incremental) rather than State of the World */
    const char *type_url; /* per-type services: the type; NULL for ADS */
} xp__method_t;

typedef enum {
    XP__OP_NEW_CALL,
    XP__OP_SHUTDOWN,
    XP__OP_RECV,
    XP__OP_SEND,
    XP__OP_CLOSE,
    XP__OP_STATUS,
} xp__op_t;

/* What a completion-queue tag points at. */
typedef struct {
    xp__op_t op;
    xp__xstream_t *xs; /* NULL for NEW_CALL and SHUTDOWN */
} xp__tag_t;

/* A sorted set of names, each with an optional version (Delta: what the
 * client has). Lookups O(log n), inserts O(n). */
typedef struct {
    char *name;
    char *version; /* may be NULL */
} xp__kv_t;

typedef struct {
    xp__kv_t *v;
    size_t n, cap;
} xp__set_t;

/* One type URL on one stream. */
typedef struct {
    char *type_url;
    bool started;    /* a first request was seen */
    bool wildcard;   /* everything of the type */
    xp__set_t names; /* explicit subscriptions */
    bool need_send;  /* re-evaluate at the next pump */
    bool force_send; /* send even if nothing changed (first request, new names) */
    /* last response sent and the client's answers (versions are the
     * server's snapshot versions; Delta's system_version_info) */
    char sent_version[24], sent_nonce[24], acked_version[24];
    uint64_t sent_digest; /* SotW: hash of the names and versions last sent */
    bool nacked;
    char nack_version[24], nack_nonce[24];
    char *nack_msg;
    xp__set_t have; /* Delta: name -> version the client has */
    /* VHDS: on-demand names "<route config>/<host>" answered, each with the
     * virtual host that answered it ("" = none exists). */
    xp__set_t answered;
} xp__sub_t;

typedef enum {
    XP__XS_OPEN,
    XP__XS_FINISHING, /* our status is sent or queued behind a send */
    XP__XS_CLOSED,    /* the call is over; waiting for outstanding ops */
} xp__xs_state_t;

struct xp__xstream {
    xp_xds_server_t *srv;
    xp__xstream_t *prev, *next;
    uint64_t id;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    const xp__method_t *method; /* NULL: unknown method, being refused */
    char *peer;
    xp__xs_state_t state;
    int refs; /* gRPC ops in flight; freed at 0 */
    bool send_busy;
    grpc_byte_buffer *send_bb, *recv_bb;
    int cancelled;
    grpc_status_code status;
    char *status_msg;
    bool status_sent;
    xp__tag_t t_recv, t_send, t_close, t_status;
    char *node_id, *node_cluster; /* from the first request carrying a node */
    xp__sub_t *subs;
    size_t nsubs;
};

/* A REST poller's state for one type. REST has no stream, so what a stream
 * keeps per call is kept per (node id, type URL) and shown in /nodes like a
 * per-type stream of mode "rest". Forgotten after XP__REST_FORGET_MS
 * without a poll. */
#define XP__REST_FORGET_MS (5 * 60 * 1000)

struct xp__rest_rec {
    xp__rest_rec_t *next;
    uint64_t id; /* from stream_seq, so /nodes ids stay unique */
    char *node_id, *node_cluster;
    char *peer;            /* of the latest poll */
    uint64_t last_poll_ms; /* monotonic */
    xp__sub_t sub;
};

const char *xp__xs_state_to_str(xp__xs_state_t st);
/* The per-type service's short name ("lds") for a type URL, or "?". */
const char *xp__kind_of_type(const char *type_url);
/* Sends a status (after any send in flight) and stops reading. */
void xp__xs_finish(xp__xstream_t *xs, grpc_status_code code, const char *msg);
/* Starts a send of m (packed now; m stays the caller's). Requires !send_busy. */
void xp__xs_send(xp__xstream_t *xs, const ProtobufCMessage *m);
/* Sends the next pending response, if any and if no send is in flight. */
void xp__xs_pump(xp__xstream_t *xs);

/* protocol.c */
xp__kv_t *xp__set_get(const xp__set_t *s, const char *name);
/* Inserts or updates; version may be NULL. */
void xp__set_put(xp__set_t *s, const char *name, const char *version);
void xp__set_del(xp__set_t *s, const char *name);
void xp__set_del_at(xp__set_t *s, size_t i);
const char *xp__next_nonce(xp_xds_server_t *srv, char *buf, size_t cap);
/* Delta: the names the client has that the snapshot no longer holds, moved
 * out of sub->have (an array of *n owned strings, NULL-terminated). */
char **xp__delta_removed(const xp__snap_t *snap, xp__sub_t *sub, size_t *n);
void xp__on_sotw_request(xp__xstream_t *xs,
                         const Envoy__Service__Discovery__V3__DiscoveryRequest *req);
void xp__on_delta_request(xp__xstream_t *xs,
                          const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req);
/* Builds and sends sub's response if it has something to say; clears need_send. */
void xp__sub_send(xp__xstream_t *xs, xp__sub_t *sub);
void xp__sub_clear(xp__sub_t *sub);
/* Records a client's answer to our latest response for sub: a NACK when err
 * carries a code or message (version: what the client still runs), else an
 * ACK of version. node_id is for logs. */
void xp__sub_record_answer(const char *node_id, xp__sub_t *sub, const char *version,
                           const Google__Rpc__Status *err);
/* The resources a SotW response for sub carries now (borrowed from snap,
 * array owned by the caller) and a digest of their names and versions. */
uint64_t xp__sotw_collect(const xp__snap_t *snap, const xp__sub_t *sub,
                          Google__Protobuf__Any ***out, size_t *n);
/* Replaces sub's subscription with a SotW request's resource_names
 * (wildcard when empty for a wildcard type, or "*"). Returns whether it
 * changed. */
bool xp__sotw_subscribe(xp__sub_t *sub, char *const *names, size_t n);
/* A fresh nonce (srv's sequence) written into buf. Under mu. */
const char *xp__next_nonce(xp_xds_server_t *srv, char *buf, size_t cap);
/* Fills resp with the current snapshot's version, sub's type, anys
 * (borrowed) and a fresh nonce, and records them as sent to sub (digest
 * from xp__sotw_collect). Returns the nonce (sub->sent_nonce). Under mu. */
const char *xp__sotw_response(xp_xds_server_t *srv, xp__sub_t *sub, Google__Protobuf__Any **anys,
                              size_t n, uint64_t digest,
                              Envoy__Service__Discovery__V3__DiscoveryResponse *resp);

/* vhds.c */
/* Delta VirtualHost responses: the route configurations' virtual hosts to
 * clients subscribed to "<route config>", and answers to on-demand names
 * "<route config>/<host>" (the virtual host serving the host, with the name
 * as an alias, or a Resource without a body when none does). */
void xp__vhds_send(xp__xstream_t *xs, xp__sub_t *sub);

#endif
