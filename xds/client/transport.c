/* The xDS client's gRPC transport.
 *
 * gRPC core runs its calls on one completion queue drained by a dedicated
 * thread. That thread does nothing but move each completion (tag + success)
 * into a mutex-protected list and wake the libuv loop with uv_async_send();
 * everything else (reading messages, protocol state, starting batches, which
 * grpc_call_start_batch allows from any thread) happens on the loop thread,
 * so the protocol code needs no locks. Every gRPC function is called
 * through xp__grpc (grpc_lib.h): gRPC core is loaded by the first client.
 *
 * A call has four kinds of batch (client_internal.h), at most one of each
 * outstanding. The stream counts started-but-uncompleted batches; the call
 * is released (grpc_call_unref) only when its status arrived and that count
 * is zero, and only then is the failure reported and the retry timer set. */
#include "xds/client/client_internal.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

const char *xp__stream_state_to_str(xp__stream_state_t st)
{
    switch (st) {
    case XP__STREAM_IDLE:
        return "idle";
    case XP__STREAM_OPEN:
        return "open";
    case XP__STREAM_DRAIN:
        return "drain";
    case XP__STREAM_BACKOFF:
        return "backoff";
    }
    return "?";
}

static void stream_set_state(xp__xds_stream_t *s, xp__stream_state_t to)
{
    xp__stream_state_t from = s->state;
    bool ok = false;
    switch (to) {
    case XP__STREAM_OPEN:
        ok = from == XP__STREAM_IDLE;
        break;
    case XP__STREAM_DRAIN:
        ok = from == XP__STREAM_OPEN;
        break;
    case XP__STREAM_BACKOFF:
        ok = from == XP__STREAM_DRAIN;
        break;
    case XP__STREAM_IDLE:
        ok = from == XP__STREAM_BACKOFF || from == XP__STREAM_DRAIN;
        break;
    }
    (void)ok;
    assert(ok && "illegal xDS stream state transition");
    XP_TRACE("xds: stream %s: %s -> %s", s->method, xp__stream_state_to_str(from),
             xp__stream_state_to_str(to));
    s->state = to;
}

/* ---- the completion-queue thread ---- */

static void *cq_thread(void *arg)
{
    xp_xds_client_t *c = arg;
    for (;;) {
        grpc_event ev = xp__grpc.grpc_completion_queue_next(
            c->cq, xp__grpc.gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        xp__xds_event_t *e = xp_malloc(sizeof(*e));
        e->next = NULL;
        e->op = ev.tag;
        e->success = ev.success != 0;
        pthread_mutex_lock(&c->mu);
        *c->evq_tail = e;
        c->evq_tail = &e->next;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->mu);
        uv_async_send(&c->async);
    }
    return NULL;
}

/* ---- batches ---- */

static void stream_cancel(xp__xds_stream_t *s, const char *why)
{
    XP_DEBUG("xds: cancelling %s: %s", s->method, why);
    xp__grpc.grpc_call_cancel(s->call, NULL);
}

static void start_batch(xp__xds_stream_t *s, xp__op_kind_t kind, const grpc_op *ops, size_t n)
{
    s->pending++;
    grpc_call_error err = xp__grpc.grpc_call_start_batch(s->call, ops, n, &s->ops[kind], NULL);
    if (err != GRPC_CALL_OK) {
        /* Only a programming error gets here (two batches of a kind). */
        s->pending--;
        XP_ERROR("xds: %s: grpc_call_start_batch(%d) failed: %d", s->method, (int)kind, (int)err);
        stream_cancel(s, "batch failed");
    }
}

static void start_recv(xp__xds_stream_t *s)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_bb;
    start_batch(s, XP__OP_RECV, &op, 1);
}

/* Envoy's token bucket behind rate_limit_settings: full at first, refilled
 * continuously at fill_rate per second; each request takes a token. On
 * false, *wait_ms is when the next one is whole. */
static bool take_token(xp__xds_stream_t *s, uint64_t *wait_ms)
{
    xp_xds_client_t *c = s->client;
    if (c->rl_fill_rate <= 0)
        return true;
    uint64_t now = uv_now(c->loop);
    s->tokens += (double)(now - s->tokens_at_ms) * c->rl_fill_rate / 1000.0;
    if (s->tokens > (double)c->rl_max_tokens)
        s->tokens = (double)c->rl_max_tokens;
    s->tokens_at_ms = now;
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
        return true;
    }
    *wait_ms = (uint64_t)((1.0 - s->tokens) * 1000.0 / c->rl_fill_rate) + 1;
    return false;
}

static void start_send(xp__xds_stream_t *s);

static void on_token_timer(uv_timer_t *t)
{
    xp__xds_stream_t *s = t->data;
    s->token_wait = false;
    start_send(s);
}

static void queued_add(xp__xds_stream_t *s, int d)
{
    s->n_queued += (size_t)d;
    if (s->client->pending_requests)
        xp_stat_add(s->client->pending_requests, d);
}

static void start_send(xp__xds_stream_t *s)
{
    xp__sendq_t *q = s->sendq;
    if (s->send_busy || s->token_wait || q == NULL || s->state != XP__STREAM_OPEN)
        return;
    uint64_t wait_ms;
    if (!take_token(s, &wait_ms)) {
        /* The queue waits; the messages keep their order. */
        s->token_wait = true;
        if (s->client->rate_limit_enforced)
            xp_stat_inc(s->client->rate_limit_enforced);
        uv_timer_start(&s->timer, on_token_timer, wait_ms, 0);
        return;
    }
    s->sendq = q->next;
    if (s->sendq == NULL)
        s->sendq_tail = &s->sendq;
    queued_add(s, -1);
    s->send_busy = true;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = q->bb;
    /* The buffer must live until the batch completes (freed in handle_event). */
    q->next = NULL;
    s->sendq_inflight = q;
    start_batch(s, XP__OP_SEND, &op, 1);
}

static void sendq_clear(xp__xds_stream_t *s)
{
    while (s->sendq) {
        xp__sendq_t *q = s->sendq;
        s->sendq = q->next;
        xp__grpc.grpc_byte_buffer_destroy(q->bb);
        free(q);
    }
    s->sendq_tail = &s->sendq;
    queued_add(s, -(int)s->n_queued);
    if (s->token_wait) {
        uv_timer_stop(&s->timer);
        s->token_wait = false;
    }
}

void xp__stream_send(xp__xds_stream_t *s, const ProtobufCMessage *req)
{
    if (s->state != XP__STREAM_OPEN)
        return;
    size_t len = protobuf_c_message_get_packed_size(req);
    grpc_slice slice = xp__grpc.grpc_slice_malloc(len);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(slice));
    xp__sendq_t *q = xp_malloc(sizeof(*q));
    q->next = NULL;
    q->bb = xp__grpc.grpc_raw_byte_buffer_create(&slice, 1);
    xp__grpc.grpc_slice_unref(slice);
    *s->sendq_tail = q;
    s->sendq_tail = &q->next;
    queued_add(s, 1);
    start_send(s);
}

/* ---- stream lifecycle ---- */

xp__xds_stream_t *xp__stream_new(xp_xds_client_t *c, xp__xds_type_t *t, const char *method)
{
    xp__xds_stream_t *s = xp_calloc(1, sizeof(*s));
    s->client = c;
    s->type = t;
    s->method = method;
    s->state = XP__STREAM_IDLE;
    s->sendq_tail = &s->sendq;
    s->backoff_next_ms = c->backoff_base_ms;
    s->tokens = (double)c->rl_max_tokens;
    s->tokens_at_ms = uv_now(c->loop);
    for (int k = 0; k < XP__OP_COUNT; k++) {
        s->ops[k].kind = (xp__op_kind_t)k;
        s->ops[k].stream = s;
    }
    uv_timer_init(c->loop, &s->timer);
    s->timer.data = s;
    c->open_handles++;
    return s;
}

void xp__stream_start(xp__xds_stream_t *s)
{
    xp_xds_client_t *c = s->client;
    if (s->state != XP__STREAM_IDLE || c->closing)
        return;
    s->call =
        xp__grpc.grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                          xp__grpc.grpc_slice_from_static_string(s->method), NULL,
                                          xp__grpc.gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    stream_set_state(s, XP__STREAM_OPEN);
    s->up = false;
    s->node_sent = false;
    s->send_busy = false;
    s->recv_bb = NULL;
    s->status = GRPC_STATUS_OK;
    s->status_details = xp__grpc.grpc_empty_slice();
    xp__grpc.grpc_metadata_array_init(&s->init_md);
    xp__grpc.grpc_metadata_array_init(&s->trail_md);
    XP_DEBUG("xds: starting %s on %s", s->method, c->target);

    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    start_batch(s, XP__OP_START, &op, 1);

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &s->trail_md;
    op.data.recv_status_on_client.status = &s->status;
    op.data.recv_status_on_client.status_details = &s->status_details;
    start_batch(s, XP__OP_STATUS, &op, 1);

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_INITIAL_METADATA;
    op.data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    start_batch(s, XP__OP_INIT_MD, &op, 1);

    start_recv(s);
    xp__client_on_stream_start(s);
}

/* Envoy's JitteredExponentialBackOffStrategy: a uniformly random delay below
 * the current interval, which doubles up to the maximum; reset when a
 * response arrives. */
static uint64_t next_backoff_ms(xp__xds_stream_t *s)
{
    xp_xds_client_t *c = s->client;
    uint64_t cur = s->backoff_next_ms ? s->backoff_next_ms : 1;
    s->backoff_next_ms = cur * 2 < c->backoff_max_ms ? cur * 2 : c->backoff_max_ms;
    uint64_t d = xp__client_random(c) % cur;
    return d < c->backoff_max_ms ? d : c->backoff_max_ms;
}

static void on_retry_timer(uv_timer_t *t)
{
    xp__xds_stream_t *s = t->data;
    stream_set_state(s, XP__STREAM_IDLE);
    xp__stream_start(s);
}

/* The call is over and gRPC holds nothing of it any more. */
static void stream_finish_call(xp__xds_stream_t *s)
{
    xp_xds_client_t *c = s->client;
    char *details = xp__grpc.grpc_slice_to_c_string(s->status_details);
    grpc_status_code code = s->status;
    xp__grpc.grpc_call_unref(s->call);
    s->call = NULL;
    xp__grpc.grpc_metadata_array_destroy(&s->init_md);
    xp__grpc.grpc_metadata_array_destroy(&s->trail_md);
    xp__grpc.grpc_slice_unref(s->status_details);
    sendq_clear(s);
    if (c->closing) {
        xp__grpc.gpr_free(details);
        stream_set_state(s, XP__STREAM_IDLE);
        return;
    }
    stream_set_state(s, XP__STREAM_BACKOFF);
    uint64_t delay = next_backoff_ms(s);
    XP_WARN("xds: %s to %s closed: grpc status %d%s%s; retrying in %llu ms", s->method, c->target,
            (int)code, details[0] ? ": " : "", details, (unsigned long long)delay);
    xp__client_on_stream_failed(s, code, details);
    xp__grpc.gpr_free(details);
    uv_timer_start(&s->timer, on_retry_timer, delay, 0);
}

static void handle_event(xp_xds_client_t *c, xp__xds_op_t *op, bool success)
{
    xp__xds_stream_t *s = op->stream;
    s->pending--;
    switch (op->kind) {
    case XP__OP_START:
        break;
    case XP__OP_INIT_MD:
        /* The server accepted the stream. A Delta server with nothing new
         * for a reconnecting client (initial_resource_versions) sends no
         * response at all, so the headers are what says "connected". A
         * failed call completes this batch with success=0. */
        if (success && s->state == XP__STREAM_OPEN && !c->closing)
            xp__client_on_stream_up(s);
        break;
    case XP__OP_SEND:
        s->send_busy = false;
        xp__grpc.grpc_byte_buffer_destroy(s->sendq_inflight->bb);
        free(s->sendq_inflight);
        s->sendq_inflight = NULL;
        if (success)
            start_send(s);
        break;
    case XP__OP_RECV: {
        grpc_byte_buffer *bb = s->recv_bb;
        s->recv_bb = NULL;
        if (!success || bb == NULL)
            break; /* the stream ended; the status batch says how */
        if (!c->closing) {
            grpc_byte_buffer_reader rd;
            if (xp__grpc.grpc_byte_buffer_reader_init(&rd, bb)) {
                grpc_slice all = xp__grpc.grpc_byte_buffer_reader_readall(&rd);
                xp__grpc.grpc_byte_buffer_reader_destroy(&rd);
                s->backoff_next_ms = c->backoff_base_ms;
                if (s->state == XP__STREAM_OPEN)
                    xp__client_on_stream_up(s);
                xp__client_on_message(s, GRPC_SLICE_START_PTR(all), GRPC_SLICE_LENGTH(all));
                xp__grpc.grpc_slice_unref(all);
            }
        }
        xp__grpc.grpc_byte_buffer_destroy(bb);
        if (s->state == XP__STREAM_OPEN && !c->closing)
            start_recv(s);
        break;
    }
    case XP__OP_STATUS:
        if (s->state == XP__STREAM_OPEN)
            stream_set_state(s, XP__STREAM_DRAIN);
        break;
    default:
        break;
    }
    if (s->state == XP__STREAM_DRAIN && s->pending == 0)
        stream_finish_call(s);
}

/* Takes every queued event off the list (under the lock) and handles them
 * in arrival order. */
static void drain_events(xp_xds_client_t *c)
{
    pthread_mutex_lock(&c->mu);
    xp__xds_event_t *e = c->evq;
    c->evq = NULL;
    c->evq_tail = &c->evq;
    pthread_mutex_unlock(&c->mu);
    while (e) {
        xp__xds_event_t *next = e->next;
        handle_event(c, e->op, e->success);
        free(e);
        e = next;
    }
}

static void on_async(uv_async_t *a)
{
    drain_events(a->data);
}

void xp__transport_init(xp_xds_client_t *c)
{
    xp__grpc.grpc_init();
    grpc_arg args[8];
    size_t n = 0;
    memset(args, 0, sizeof(args));
#define XP__INT_ARG(k, v)                                                                          \
    do {                                                                                           \
        args[n].type = GRPC_ARG_INTEGER;                                                           \
        args[n].key = (char *)(k);                                                                 \
        args[n].value.integer = (int)(v);                                                          \
        n++;                                                                                       \
    } while (0)
    /* Our backoff is the one that counts (Envoy's strategy); keep gRPC's own
     * subchannel reconnect backoff from stretching it. */
    XP__INT_ARG(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, c->backoff_base_ms);
    XP__INT_ARG(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, c->backoff_base_ms);
    XP__INT_ARG(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, c->backoff_max_ms);
    if (c->keepalive_ms) {
        XP__INT_ARG(GRPC_ARG_KEEPALIVE_TIME_MS, c->keepalive_ms);
        XP__INT_ARG(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                    c->keepalive_ms < 20000 ? c->keepalive_ms : 20000);
        XP__INT_ARG(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
        XP__INT_ARG(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    }
#undef XP__INT_ARG
    grpc_channel_args ca = {.num_args = n, .args = args};
    grpc_channel_credentials *creds = xp__grpc.grpc_insecure_credentials_create();
    c->channel = xp__grpc.grpc_channel_create(c->target, creds, &ca);
    xp__grpc.grpc_channel_credentials_release(creds);
    c->cq = xp__grpc.grpc_completion_queue_create_for_next(NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->evq_tail = &c->evq;
    uv_async_init(c->loop, &c->async, on_async);
    c->async.data = c;
    c->open_handles++;
    if (pthread_create(&c->thread, NULL, cq_thread, c) != 0) {
        XP_ERROR("xds: cannot start the gRPC thread");
        abort();
    }
}

static int total_pending(xp_xds_client_t *c)
{
    int n = c->ads_stream ? c->ads_stream->pending : 0;
    for (xp__xds_type_t *t = c->types; t; t = t->next)
        if (t->stream && t->stream != c->ads_stream)
            n += t->stream->pending;
    return n;
}

static void cancel_stream(xp__xds_stream_t *s)
{
    if (s == NULL)
        return;
    if (s->state == XP__STREAM_OPEN) {
        stream_cancel(s, "client freed");
        stream_set_state(s, XP__STREAM_DRAIN);
    }
    if (s->state == XP__STREAM_BACKOFF)
        uv_timer_stop(&s->timer);
}

void xp__transport_shutdown(xp_xds_client_t *c)
{
    c->closing = true;
    cancel_stream(c->ads_stream);
    for (xp__xds_type_t *t = c->types; t; t = t->next)
        if (t->stream != c->ads_stream)
            cancel_stream(t->stream);
    /* Every started batch completes once its call is cancelled; wait for
     * them here (the loop is not running while we are in this function). */
    pthread_mutex_lock(&c->mu);
    while (total_pending(c) > 0 || c->evq != NULL) {
        while (c->evq == NULL)
            pthread_cond_wait(&c->cond, &c->mu);
        pthread_mutex_unlock(&c->mu);
        drain_events(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    xp__grpc.grpc_channel_destroy(c->channel);
    c->channel = NULL;
    xp__grpc.grpc_completion_queue_shutdown(c->cq);
    pthread_join(c->thread, NULL);
    xp__grpc.grpc_completion_queue_destroy(c->cq);
    c->cq = NULL;
    /* Events queued after the last drain: none can be left, the thread only
     * saw the shutdown event. */
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    /* The last client's call waits until gRPC's own threads are gone, so
     * none is still running when the process exits (as in xds-server). */
    xp__grpc.grpc_shutdown_blocking();
    uv_close((uv_handle_t *)&c->async, xp__client_handle_closed);
}

void xp__stream_close(xp__xds_stream_t *s)
{
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, xp__client_handle_closed);
}
