/* Internals of the xDS client, shared by its files only.
 *
 * grpc_lib.c:  gRPC core loaded on first use (xp__grpc, the functions used).
 * transport.c: the gRPC channel, the completion-queue thread, calls and
 *              their batches, the hand-off to the loop, backoff.
 * rest.c:      the REST-JSON transport: one HTTP/1.1 POST per type every
 *              refresh_delay, on the loop (no gRPC, no thread).
 * sotw.c / delta.c: building requests and handling responses.
 * client.c:    public API, subscriptions, decoding, stats, connection state.
 *
 * A type (xp__xds_type_t) is reached either through a gRPC stream
 * (t->stream) or through a REST poller (t->poll); the protocol state of
 * the type (versions, nonce, subscription) is the same for both. */
#ifndef XP_XDS_CLIENT_CLIENT_INTERNAL_H
#define XP_XDS_CLIENT_CLIENT_INTERNAL_H

#include "xds/client/client.h"

#include <pthread.h>

#include "xds/client/grpc_lib.h"

#include "envoy/service/discovery/v3/discovery.pb-c.h"

typedef struct xp__xds_stream xp__xds_stream_t;
typedef struct xp__xds_type xp__xds_type_t;
typedef struct xp__rest_poll xp__rest_poll_t;

/* What a completion-queue tag stands for. Each stream has one op struct per
 * kind, and at most one batch of each kind is outstanding. */
typedef enum {
    XP__OP_START,   /* SEND_INITIAL_METADATA */
    XP__OP_SEND,    /* SEND_MESSAGE (one at a time; the rest wait in sendq) */
    XP__OP_INIT_MD, /* RECV_INITIAL_METADATA: the server's response headers */
    XP__OP_RECV,    /* RECV_MESSAGE */
    XP__OP_STATUS,  /* RECV_STATUS_ON_CLIENT: completes when the call ends */
    XP__OP_COUNT,
} xp__op_kind_t;

typedef struct {
    xp__op_kind_t kind;
    xp__xds_stream_t *stream;
} xp__xds_op_t;

/* A completion handed from the gRPC thread to the loop. */
typedef struct xp__xds_event {
    struct xp__xds_event *next;
    xp__xds_op_t *op;
    bool success;
} xp__xds_event_t;

typedef struct xp__sendq {
    struct xp__sendq *next;
    grpc_byte_buffer *bb;
} xp__sendq_t;

/* Stream states; xp__stream_set_state() asserts the legal transitions. */
typedef enum {
    XP__STREAM_IDLE,    /* never started */
    XP__STREAM_OPEN,    /* call created; `up` once the server answered */
    XP__STREAM_DRAIN,   /* call ended (status received or cancelled); waiting for batches */
    XP__STREAM_BACKOFF, /* waiting for the retry timer */
} xp__stream_state_t;

struct xp__xds_stream {
    xp_xds_client_t *client;
    xp__xds_type_t *type; /* per-type stream: its type; ADS: NULL */
    const char *method;   /* gRPC method path, static */
    xp__stream_state_t state;
    grpc_call *call;
    xp__xds_op_t ops[XP__OP_COUNT];
    int pending;    /* batches started and not yet completed */
    bool send_busy; /* a SEND_MESSAGE batch is outstanding */
    bool up;        /* a response arrived on the current call */
    bool node_sent; /* the current call carried the node */
    xp__sendq_t *sendq, **sendq_tail;
    xp__sendq_t *sendq_inflight; /* the message of the outstanding SEND batch */
    size_t n_queued;             /* messages in sendq */
    /* rate_limit_settings: the token bucket, and whether the queue waits
     * for a token on `timer` (free while the call is open). */
    double tokens;
    uint64_t tokens_at_ms;
    bool token_wait;
    /* batch buffers */
    grpc_metadata_array init_md, trail_md;
    grpc_byte_buffer *recv_bb;
    grpc_status_code status;
    grpc_slice status_details;
    uint64_t backoff_next_ms; /* Envoy's JitteredExponentialBackOffStrategy */
    uv_timer_t timer;
};

/* The stats of one type (all NULL without cfg->stats). */
typedef struct {
    xp_stat_t *attempt, *success, *rejected, *failure, *version;
} xp__type_stats_t;

/* A sorted set of owned strings. */
typedef struct {
    char **v;
    size_t n, cap;
} xp__names_t;

/* Name -> version pairs (Delta's accepted resources); unsorted, small. */
typedef struct {
    char **name, **version;
    size_t n, cap;
} xp__versions_t;

struct xp__xds_type {
    xp__xds_type_t *next; /* in subscription order */
    xp_xds_client_t *client;
    char *type_url;
    const ProtobufCMessageDescriptor *desc;
    bool raw;                 /* delivered undecoded (xp_xds_client_config_t.raw_types) */
    xp__xds_stream_t *stream; /* gRPC; ADS: the client's stream */
    xp__rest_poll_t *poll;    /* REST */
    bool wildcard;
    bool ns_match;     /* VHDS: a name also covers "<name>/..." (see client.h) */
    xp__names_t names; /* desired subscription (empty for wildcard) */
    bool in_update;    /* on_update for this type is running */
    /* SotW */
    bool sent;     /* a request for the type went out on the current call */
    char *version; /* version_info of the last accepted response, or NULL */
    char *nonce;   /* nonce of the latest response, or NULL */
    char *nack;    /* REST: error_detail of the last rejected response, sent
                    * with every poll until a response is accepted */
    /* Delta */
    xp__names_t sent_names; /* subscription as the server knows it on this call */
    bool sent_wildcard;
    xp__versions_t accepted;
    xp__type_stats_t st;
};

struct xp_xds_client {
    uv_loop_t *loop;
    xp_xds_callbacks_t cb;
    void *ctx;
    xp_xds_transport_t transport;
    char *target; /* for logs: the gRPC target, or "<cluster> (REST)" */
    bool ads, delta, node_first_only;
    ProtobufCMessage *node;
    uint64_t backoff_base_ms, backoff_max_ms, keepalive_ms;
    uint64_t rng; /* xorshift64 state for backoff jitter */
    xp_stats_t *stats;
    xp_stat_t *connected_stat;
    xp_stat_t *rate_limit_enforced, *pending_requests; /* NULL without stats */
    uint32_t rl_max_tokens;
    double rl_fill_rate; /* 0: no rate limit */
    char **raw_types; /* NULL-terminated */

    xp__xds_type_t *types, **types_tail;
    xp__xds_stream_t *ads_stream;
    int streams_up; /* gRPC streams or REST pollers whose last exchange worked */
    bool closing;
    int open_handles; /* uv handles not yet closed; the last close frees */

    /* transport */
    grpc_channel *channel;
    grpc_completion_queue *cq;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* signalled on every event while closing */
    xp__xds_event_t *evq, **evq_tail;
    uv_async_t async;

    /* REST */
    char **hosts; /* "host:port", tried in turn after a failure */
    size_t n_hosts, host_idx;
    char *authority; /* Host header */
    uint64_t refresh_ms, timeout_ms;
};

/* ---- transport.c ---- */
void xp__transport_init(xp_xds_client_t *c);
/* Cancels every call, waits for every batch, stops the thread. */
void xp__transport_shutdown(xp_xds_client_t *c);
xp__xds_stream_t *xp__stream_new(xp_xds_client_t *c, xp__xds_type_t *t, const char *method);
/* Starts the call if the stream is idle; no-op otherwise. */
void xp__stream_start(xp__xds_stream_t *s);
/* Queues a serialised request (owned by the stream afterwards). No-op when
 * the stream has no open call. */
void xp__stream_send(xp__xds_stream_t *s, const ProtobufCMessage *req);
/* Closes the stream's timer; the client's close callback frees it. */
void xp__stream_close(xp__xds_stream_t *s);
const char *xp__stream_state_to_str(xp__stream_state_t st);

/* ---- rest.c ---- */
/* A poller for t (REST clients call it from type_new). */
xp__rest_poll_t *xp__rest_poll_new(xp__xds_type_t *t);
/* The subscription of t changed: poll soon (never from inside the caller). */
void xp__rest_subscription_changed(xp__xds_type_t *t);
/* Stops every poll and closes the pollers' handles (freed by the close
 * callbacks through xp__client_handle_released). */
void xp__rest_shutdown(xp_xds_client_t *c);
void xp__rest_poll_free(xp__rest_poll_t *p);
/* The REST path of a known type ("/v3/discovery:listeners"), or NULL. */
const char *xp__rest_path(const char *type_url);

/* ---- client.c (called by the transports) ---- */
/* A libuv handle (or request) of the client was released; the last one
 * frees the client. */
void xp__client_handle_released(xp_xds_client_t *c);
/* *up is the transport unit's (stream's, poller's) own flag; the client is
 * connected while any is up (on_connection and connected_state follow). */
void xp__client_set_up(xp_xds_client_t *c, bool *up, bool on);
/* The next number of the client's xorshift64 generator (jitter only). */
uint64_t xp__client_random(xp_xds_client_t *c);
/* A new call started on s: send the initial requests of its types. */
void xp__client_on_stream_start(xp__xds_stream_t *s);
/* The server accepted the call (response headers or a first message). */
void xp__client_on_stream_up(xp__xds_stream_t *s);
/* A message arrived on s (bytes borrowed). */
void xp__client_on_message(xp__xds_stream_t *s, const uint8_t *data, size_t len);
/* The call on s ended (after it was open). */
void xp__client_on_stream_failed(xp__xds_stream_t *s, grpc_status_code code, const char *details);
void xp__client_handle_closed(uv_handle_t *h);

/* Node for the next request on s (NULL if it should not carry one). */
ProtobufCMessage *xp__client_node_for(xp__xds_stream_t *s);
void xp__type_stats_update(xp__xds_type_t *t, int rc, const char *version);

/* ---- names.c ---- */
void xp__names_set(xp__names_t *s, char *const *names, size_t n);
bool xp__names_has(const xp__names_t *s, const char *name);
bool xp__names_add(xp__names_t *s, const char *name); /* false if present */
bool xp__names_equal(const xp__names_t *a, const xp__names_t *b);
void xp__names_copy(xp__names_t *dst, const xp__names_t *src);
void xp__names_free(xp__names_t *s);
const char *xp__versions_get(const xp__versions_t *m, const char *name);
void xp__versions_put(xp__versions_t *m, const char *name, const char *version);
void xp__versions_del(xp__versions_t *m, const char *name);
void xp__versions_free(xp__versions_t *m);

/* ---- sotw.c / delta.c ---- */
/* The SotW request for t as it stands (version_info, names, nonce) with
 * node and, for a NACK, error_detail (status: a Google__Rpc__Status to
 * fill). Everything is borrowed from t, node and nack. */
void xp__sotw_request_fill(const xp__xds_type_t *t, ProtobufCMessage *node, const char *nack,
                           Envoy__Service__Discovery__V3__DiscoveryRequest *req, void *status);
/* Decodes and delivers a SotW response for t, records its nonce and, when
 * accepted, its version. Returns 0 (ACK) or non-zero with *err an owned
 * NACK message. */
int xp__sotw_apply(xp__xds_type_t *t, const Envoy__Service__Discovery__V3__DiscoveryResponse *r,
                   char **err);
/* The request a (re)started stream sends for t, if any. */
void xp__sotw_send_initial(xp__xds_type_t *t);
void xp__sotw_subscription_changed(xp__xds_type_t *t);
void xp__sotw_on_response(xp__xds_stream_t *s, Envoy__Service__Discovery__V3__DiscoveryResponse *r);
void xp__delta_send_initial(xp__xds_type_t *t);
void xp__delta_subscription_changed(xp__xds_type_t *t);
void xp__delta_on_response(xp__xds_stream_t *s,
                           Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r);

/* ---- decoding (client.c) ---- */
typedef struct {
    xp_xds_resource_t *v;
    size_t n;
} xp__resources_t;
/* Decodes one Any of t's type (or a Resource wrapping one) into out->v[n++].
 * wrapper may be a Resource already unwrapped by the caller (Delta). Returns
 * NULL or an error message owned by the caller. */
char *xp__decode_resource(xp__xds_type_t *t, const Google__Protobuf__Any *any,
                          const char *name_hint, const char *version, xp__resources_t *out);
/* Duplicate-name check; returns an owned error or NULL. */
char *xp__check_duplicates(const xp__resources_t *r);
void xp__resource_free(xp_xds_resource_t *r);
void xp__resources_free(xp__resources_t *r);
/* Calls on_update with in_update set; returns its rc and the error. */
int xp__call_update(xp__xds_type_t *t, const char *version, const xp__resources_t *r,
                    char *const *removed, size_t n_removed, bool delta, char **err);
/* Filled google.rpc.Status for a NACK (message borrowed). */
void xp__nack_status(void *status, const char *msg);
/* The type state named by url, or NULL. */
xp__xds_type_t *xp__client_find_type(xp_xds_client_t *c, const char *url);
/* Whether the subscription of t covers a resource of that name (or with one
 * of those aliases): wildcard, the name or an alias subscribed, or (VHDS)
 * the name's namespace. */
bool xp__type_wants(const xp__xds_type_t *t, const char *name, char *const *aliases, size_t n);

#endif
