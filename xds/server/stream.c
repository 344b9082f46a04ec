/* gRPC plumbing of the management server: accepting calls, one state
 * machine per bidirectional stream, sends and receives over gRPC core's
 * completion queue. The xDS protocol itself is in protocol.c.
 *
 * One thread runs the completion queue. Every event is handled under
 * srv->mu, which the watcher also takes to publish a snapshot and start
 * sends, so stream state has one lock and no ordering puzzles. A stream
 * has at most one send in flight (gRPC's rule); pending work is a
 * per-subscription flag, so bursts of changes coalesce into one response
 * per type. */
#include "xds/server/stream.h"

#include "proxy/common/error.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XP__ADS  "/envoy.service.discovery.v3.AggregatedDiscoveryService/"
#define XP__T(s) XP__TYPE_PREFIX s

static const xp__method_t xp__methods[] = {
    {XP__ADS "StreamAggregatedResources", "ads", false, NULL},
    {XP__ADS "DeltaAggregatedResources", "ads", true, NULL},
#define XP__SVC(svc, stream, delta, kind, type)                                                    \
    {"/" svc "/" stream, kind, false, XP__T(type)},                                                \
    {                                                                                              \
        "/" svc "/" delta, kind, true, XP__T(type)                                                 \
    }
    XP__SVC("envoy.service.listener.v3.ListenerDiscoveryService", "StreamListeners",
            "DeltaListeners", "lds", "envoy.config.listener.v3.Listener"),
    XP__SVC("envoy.service.route.v3.RouteDiscoveryService", "StreamRoutes", "DeltaRoutes", "rds",
            "envoy.config.route.v3.RouteConfiguration"),
    XP__SVC("envoy.service.cluster.v3.ClusterDiscoveryService", "StreamClusters", "DeltaClusters",
            "cds", "envoy.config.cluster.v3.Cluster"),
    XP__SVC("envoy.service.endpoint.v3.EndpointDiscoveryService", "StreamEndpoints",
            "DeltaEndpoints", "eds", "envoy.config.endpoint.v3.ClusterLoadAssignment"),
    XP__SVC("envoy.service.runtime.v3.RuntimeDiscoveryService", "StreamRuntime", "DeltaRuntime",
            "rtds", "envoy.service.runtime.v3.Runtime"),
    XP__SVC("envoy.service.secret.v3.SecretDiscoveryService", "StreamSecrets", "DeltaSecrets",
            "sds", "envoy.extensions.transport_sockets.tls.v3.Secret"),
    XP__SVC("envoy.service.route.v3.ScopedRoutesDiscoveryService", "StreamScopedRoutes",
            "DeltaScopedRoutes", "srds", "envoy.config.route.v3.ScopedRouteConfiguration"),
#undef XP__SVC
    /* VHDS exists only as Delta. */
    {"/envoy.service.route.v3.VirtualHostDiscoveryService/DeltaVirtualHosts", "vhds", true,
     XP__VHOST_URL},
};

/* A pending grpc_server_request_call. */
typedef struct {
    xp__tag_t tag;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
} xp__accept_t;

static xp__tag_t xp__shutdown_tag = {XP__OP_SHUTDOWN, NULL};

const char *xp__kind_of_type(const char *type_url)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__methods); i++)
        if (xp__methods[i].type_url && strcmp(xp__methods[i].type_url, type_url) == 0)
            return xp__methods[i].kind;
    return "?";
}

const char *xp__xs_state_to_str(xp__xs_state_t st)
{
    switch (st) {
    case XP__XS_OPEN:
        return "open";
    case XP__XS_FINISHING:
        return "finishing";
    case XP__XS_CLOSED:
        return "closed";
    }
    return "?";
}

/* OPEN -> FINISHING (we sent, or will send, a status) -> CLOSED, or
 * straight to CLOSED when the call dies. */
static void xp__xs_set_state(xp__xstream_t *xs, xp__xs_state_t st)
{
    if (st == xs->state)
        return;
    if (!(st > xs->state)) {
        XP_ERROR("xds-server: stream %llu: illegal transition %s -> %s", (unsigned long long)xs->id,
                 xp__xs_state_to_str(xs->state), xp__xs_state_to_str(st));
        abort();
    }
    xs->state = st;
}

static grpc_byte_buffer *xp__pack(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static ProtobufCMessage *xp__unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *d)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    ProtobufCMessage *m = xp_pb_unpack(d, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

static void xp__batch(xp__xstream_t *xs, const grpc_op *ops, size_t n, xp__tag_t *tag)
{
    grpc_call_error e = grpc_call_start_batch(xs->call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        /* Only a programming error gets here (two ops of a kind at once). */
        XP_ERROR("xds-server: stream %llu: grpc_call_start_batch: %d", (unsigned long long)xs->id,
                 (int)e);
        abort();
    }
    xs->refs++;
}

static void xp__start_recv(xp__xstream_t *xs)
{
    grpc_op op = {0};
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &xs->recv_bb;
    xp__batch(xs, &op, 1, &xs->t_recv);
}

static void xp__start_status(xp__xstream_t *xs)
{
    grpc_op ops[2] = {{0}};
    size_t n = 0;
    if (!xs->method) { /* refused at once: headers were never sent */
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = xs->status;
    grpc_slice details = grpc_slice_from_copied_string(xs->status_msg ? xs->status_msg : "");
    ops[n++].data.send_status_from_server.status_details = &details;
    xp__batch(xs, ops, n, &xs->t_status);
    grpc_slice_unref(details);
    xs->status_sent = true;
}

void xp__xs_finish(xp__xstream_t *xs, grpc_status_code code, const char *msg)
{
    if (xs->state != XP__XS_OPEN)
        return;
    xp__xs_set_state(xs, XP__XS_FINISHING);
    xs->status = code;
    xs->status_msg = xp_strdup(msg);
    if (code != GRPC_STATUS_OK)
        XP_WARN("xds-server: stream %llu (%s): closing: %s", (unsigned long long)xs->id,
                xs->node_id ? xs->node_id : "", msg);
    if (!xs->send_busy)
        xp__start_status(xs);
}

void xp__xs_send(xp__xstream_t *xs, const ProtobufCMessage *m)
{
    grpc_op op = {0};
    op.op = GRPC_OP_SEND_MESSAGE;
    xs->send_bb = xp__pack(m);
    op.data.send_message.send_message = xs->send_bb;
    xs->send_busy = true;
    xp__batch(xs, &op, 1, &xs->t_send);
}

void xp__xs_pump(xp__xstream_t *xs)
{
    if (xs->state != XP__XS_OPEN || xs->send_busy || !xs->srv->snap)
        return;
    for (size_t i = 0; i < xs->nsubs && !xs->send_busy; i++) {
        xp__sub_t *sub = &xs->subs[i];
        if (sub->need_send)
            xp__sub_send(xs, sub); /* clears need_send; may or may not send */
    }
}

void xp__streams_publish(xp_xds_server_t *srv)
{
    for (xp__xstream_t *xs = srv->streams; xs; xs = xs->next) {
        for (size_t i = 0; i < xs->nsubs; i++)
            if (xs->subs[i].started)
                xs->subs[i].need_send = true;
        xp__xs_pump(xs);
    }
}

static void xp__xs_free(xp__xstream_t *xs)
{
    xp_xds_server_t *srv = xs->srv;
    if (xs->prev)
        xs->prev->next = xs->next;
    else
        srv->streams = xs->next;
    if (xs->next)
        xs->next->prev = xs->prev;
    srv->nstreams--;
    XP_INFO("xds-server: stream %llu closed (node \"%s\")", (unsigned long long)xs->id,
            xs->node_id ? xs->node_id : "");
    for (size_t i = 0; i < xs->nsubs; i++)
        xp__sub_clear(&xs->subs[i]);
    free(xs->subs);
    grpc_call_unref(xs->call);
    grpc_call_details_destroy(&xs->details);
    grpc_metadata_array_destroy(&xs->md);
    if (xs->recv_bb)
        grpc_byte_buffer_destroy(xs->recv_bb);
    if (xs->send_bb)
        grpc_byte_buffer_destroy(xs->send_bb);
    free(xs->node_id);
    free(xs->node_cluster);
    free(xs->status_msg);
    free(xs->peer);
    free(xs);
}

static void xp__on_recv(xp__xstream_t *xs, bool ok)
{
    grpc_byte_buffer *bb = xs->recv_bb;
    xs->recv_bb = NULL;
    if (!ok) { /* the call is dead */
        xp__xs_set_state(xs, XP__XS_CLOSED);
        return;
    }
    if (!bb) { /* the client half-closed: we have nothing more to say either */
        xp__xs_finish(xs, GRPC_STATUS_OK, "");
        return;
    }
    if (xs->state != XP__XS_OPEN) {
        grpc_byte_buffer_destroy(bb);
        return;
    }
    const ProtobufCMessageDescriptor *d =
        xs->method->delta ? &envoy__service__discovery__v3__delta_discovery_request__descriptor
                          : &envoy__service__discovery__v3__discovery_request__descriptor;
    ProtobufCMessage *m = xp__unpack(bb, d);
    grpc_byte_buffer_destroy(bb);
    if (!m) {
        char msg[192];
        snprintf(msg, sizeof(msg), "cannot decode the %s (malformed, or nesting deeper than %d)",
                 d->name, XP_PB_MAX_DEPTH);
        xp__xs_finish(xs, GRPC_STATUS_INVALID_ARGUMENT, msg);
        return;
    }
    if (xs->method->delta)
        xp__on_delta_request(xs, (Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *)m);
    else
        xp__on_sotw_request(xs, (Envoy__Service__Discovery__V3__DiscoveryRequest *)m);
    protobuf_c_message_free_unpacked(m, NULL);
    xp__xs_pump(xs);
    if (xs->state == XP__XS_OPEN)
        xp__start_recv(xs);
}

static void xp__on_send(xp__xstream_t *xs, bool ok)
{
    xs->send_busy = false;
    if (xs->send_bb) {
        grpc_byte_buffer_destroy(xs->send_bb);
        xs->send_bb = NULL;
    }
    if (xs->state == XP__XS_FINISHING && !xs->status_sent) {
        xp__start_status(xs);
        return;
    }
    if (!ok)
        return; /* the close op will tell */
    xp__xs_pump(xs);
}

static bool xp__request_call(xp_xds_server_t *srv);

static void xp__on_new_call(xp_xds_server_t *srv, xp__accept_t *a, bool ok)
{
    srv->accepts_pending--;
    if (!ok || srv->stopping) {
        if (a->call) { /* matched just before the shutdown */
            grpc_call_cancel(a->call, NULL);
            grpc_call_unref(a->call);
        }
        grpc_call_details_destroy(&a->details);
        grpc_metadata_array_destroy(&a->md);
        free(a);
        return;
    }
    xp__request_call(srv); /* keep one request outstanding */
    const xp__method_t *method = NULL;
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__methods); i++)
        if (grpc_slice_str_cmp(a->details.method, xp__methods[i].path) == 0)
            method = &xp__methods[i];
    if (!method) {
        char *path = grpc_slice_to_c_string(a->details.method);
        XP_WARN("xds-server: unknown method %s", path);
        gpr_free(path);
        /* The call still needs its status sent and its close observed, so
         * it goes through a stream with no method that finishes at once. */
    }
    xp__xstream_t *xs = xp_calloc(1, sizeof(*xs));
    xs->srv = srv;
    xs->id = ++srv->stream_seq;
    xs->call = a->call;
    xs->details = a->details;
    xs->md = a->md;
    xs->method = method;
    xs->state = XP__XS_OPEN;
    xs->t_recv = (xp__tag_t){XP__OP_RECV, xs};
    xs->t_send = (xp__tag_t){XP__OP_SEND, xs};
    xs->t_close = (xp__tag_t){XP__OP_CLOSE, xs};
    xs->t_status = (xp__tag_t){XP__OP_STATUS, xs};
    char *peer = grpc_call_get_peer(xs->call);
    xs->peer = xp_strdup(peer ? peer : "");
    gpr_free(peer);
    free(a);
    xs->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = xs;
    srv->streams = xs;
    srv->nstreams++;

    grpc_op op = {0};
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &xs->cancelled;
    xp__batch(xs, &op, 1, &xs->t_close);
    if (!method) {
        xp__xs_finish(xs, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
        return;
    }
    XP_INFO("xds-server: stream %llu from %s: %s", (unsigned long long)xs->id, xs->peer,
            method->path);
    /* Headers right away, so a client waiting for them is not kept waiting
     * for the first response. */
    op = (grpc_op){0};
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    xs->send_busy = true;
    xp__batch(xs, &op, 1, &xs->t_send);
    xp__start_recv(xs);
}

static bool xp__request_call(xp_xds_server_t *srv)
{
    xp__accept_t *a = xp_calloc(1, sizeof(*a));
    a->tag = (xp__tag_t){XP__OP_NEW_CALL, NULL};
    grpc_call_details_init(&a->details);
    grpc_metadata_array_init(&a->md);
    grpc_call_error e =
        grpc_server_request_call(srv->gs, &a->call, &a->details, &a->md, srv->cq, srv->cq, a);
    if (e != GRPC_CALL_OK) {
        XP_ERROR("xds-server: grpc_server_request_call: %d", (int)e);
        grpc_call_details_destroy(&a->details);
        grpc_metadata_array_destroy(&a->md);
        free(a);
        return false;
    }
    srv->accepts_pending++;
    return true;
}

static void *xp__cq_main(void *arg)
{
    xp_xds_server_t *srv = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        xp__tag_t *t = ev.tag;
        bool ok = ev.success != 0;
        pthread_mutex_lock(&srv->mu);
        if (t->op == XP__OP_NEW_CALL) {
            xp__on_new_call(srv, (xp__accept_t *)t, ok);
        } else if (t->op == XP__OP_SHUTDOWN) {
            srv->gs_shutdown = true;
        } else {
            xp__xstream_t *xs = t->xs;
            switch (t->op) {
            case XP__OP_RECV:
                xp__on_recv(xs, ok);
                break;
            case XP__OP_SEND:
                xp__on_send(xs, ok);
                break;
            case XP__OP_CLOSE: /* the call is over (status sent, or cancelled) */
                xp__xs_set_state(xs, XP__XS_CLOSED);
                break;
            case XP__OP_STATUS:
            case XP__OP_NEW_CALL:
            case XP__OP_SHUTDOWN:
                break;
            }
            if (--xs->refs == 0)
                xp__xs_free(xs);
        }
        bool done = srv->gs_shutdown && srv->nstreams == 0 && srv->accepts_pending == 0;
        /* Destroyed under the lock: xp__grpc_stop uses srv->gs under it too. */
        if (done && srv->gs) {
            grpc_server_destroy(srv->gs);
            srv->gs = NULL;
            grpc_completion_queue_shutdown(srv->cq);
        }
        pthread_mutex_unlock(&srv->mu);
    }
    return NULL;
}

int xp__grpc_start(xp_xds_server_t *srv, const char *listen)
{
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    srv->gs = grpc_server_create(NULL, NULL);
    grpc_server_register_completion_queue(srv->gs, srv->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    srv->xds_port = grpc_server_add_http2_port(srv->gs, listen, creds);
    grpc_server_credentials_release(creds);
    if (srv->xds_port <= 0) {
        fprintf(stderr, "xds-server: cannot listen on %s\n", listen);
        grpc_server_destroy(srv->gs);
        srv->gs = NULL;
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(srv->cq);
        srv->cq = NULL;
        return XP_EIO;
    }
    grpc_server_start(srv->gs);
    pthread_mutex_lock(&srv->mu);
    xp__request_call(srv);
    pthread_mutex_unlock(&srv->mu);
    if (pthread_create(&srv->cq_thread, NULL, xp__cq_main, srv) != 0) {
        fprintf(stderr, "xds-server: cannot start the gRPC thread\n");
        abort();
    }
    srv->cq_started = true;
    return 0;
}

void xp__grpc_stop(xp_xds_server_t *srv)
{
    if (!srv->cq_started)
        return;
    /* Under the lock, so the completion-queue thread cannot destroy the
     * server between the two calls. */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    if (srv->gs) {
        grpc_server_shutdown_and_notify(srv->gs, srv->cq, &xp__shutdown_tag);
        grpc_server_cancel_all_calls(srv->gs);
    }
    pthread_mutex_unlock(&srv->mu);
    pthread_join(srv->cq_thread, NULL);
    srv->cq_started = false;
    grpc_completion_queue_destroy(srv->cq);
    srv->cq = NULL;
}
