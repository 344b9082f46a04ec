/* The downstream side of the HTTP connection manager: reading and parsing
 * requests (RFC 9112), the stream lifecycle, local replies, keep-alive and
 * pipelining, connection timeouts. The upstream side is hcm_upstream.c. */
#include "proxy/http/hcm_internal.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/net/lazy_timer.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- stats ---------------------------------------------------------------- */

static pthread_mutex_t xp__stats_lock = PTHREAD_MUTEX_INITIALIZER;
static xp_hcm_stats_t *xp__stats_list;

xp_hcm_stats_t *xp_hcm_stats_get(xp_stats_t *st, const char *p)
{
    pthread_mutex_lock(&xp__stats_lock);
    xp_hcm_stats_t *s = xp__stats_list;
    while (s && strcmp(s->prefix, p) != 0)
        s = s->next;
    if (s == NULL) {
        s = xp_calloc(1, sizeof(*s));
        s->prefix = xp_strdup(p);
#define C(f) s->f = xp_stats_counterf(st, "http.%s." #f, p)
#define G(f) s->f = xp_stats_gaugef(st, "http.%s." #f, p)
        C(downstream_cx_total);
        G(downstream_cx_active);
        C(downstream_cx_http1_total);
        G(downstream_cx_http1_active);
        C(downstream_cx_destroy);
        C(downstream_cx_destroy_remote);
        C(downstream_cx_destroy_local);
        C(downstream_cx_protocol_error);
        C(downstream_cx_idle_timeout);
        C(downstream_cx_upgrades_total);
        G(downstream_cx_upgrades_active);
        C(downstream_cx_rx_bytes_total);
        C(downstream_cx_tx_bytes_total);
        C(downstream_rq_total);
        C(downstream_rq_http1_total);
        G(downstream_rq_active);
        C(downstream_rq_completed);
        C(downstream_rq_timeout);
        C(downstream_rq_idle_timeout);
        C(downstream_rq_header_timeout);
        C(downstream_rq_ws_on_non_ws_route);
        C(no_route);
        C(no_cluster);
        C(rq_direct_response);
        C(rq_redirect);
        C(rs_too_large);
#undef C
#undef G
        for (int i = 1; i <= 5; i++)
            s->downstream_rq_xx[i] = xp_stats_counterf(st, "http.%s.downstream_rq_%dxx", p, i);
        s->next = xp__stats_list;
        xp__stats_list = s;
    }
    pthread_mutex_unlock(&xp__stats_lock);
    return s;
}

const char *xp_hs_state_to_str(xp_hs_state_t s)
{
    static const char *const names[] = {"ROUTING", "CONNECTING", "UPSTREAM", "RETRY_WAIT",
                                        "LOCAL",   "TUNNEL",     "DONE"};
    return (unsigned)s < XP_ARRAY_SIZE(names) ? names[s] : "?";
}

void xp_hstream_set_state(xp_hstream_t *s, xp_hs_state_t st)
{
    /* DONE is final; TUNNEL only follows UPSTREAM. */
    if (s->state == XP_HS_DONE || (st == XP_HS_TUNNEL && s->state != XP_HS_UPSTREAM)) {
        XP_ERROR("http: illegal stream state change %s -> %s", xp_hs_state_to_str(s->state),
                 xp_hs_state_to_str(st));
        abort();
    }
    s->state = st;
}

uint64_t xp_now_ms(xp_hconn_t *c)
{
    return uv_now(c->w->loop);
}

static uint64_t xp__wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- writing downstream --------------------------------------------------- */

void xp_hstream_write_down(xp_hstream_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    xp_hconn_t *h = s->conn;
    xp_stat_add(h->st->downstream_cx_tx_bytes_total, (int64_t)len);
    if (xp_sock_write(&h->sock, c, p, len) != 0)
        xp_hconn_close(h, true);
}

const char *xp_hcm_date(void)
{
    static __thread time_t last;
    static __thread char buf[40];
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

static int xp__status_class(int status)
{
    int k = status / 100;
    return k >= 1 && k <= 5 ? k : 5;
}

static void xp__reply(xp_hstream_t *s, int status, const char *body, uint32_t flags,
                      const char *details, xp_str_t location)
{
    xp_hconn_t *h = s->conn;
    s->flags |= flags;
    s->details = details;
    s->status = status;
    if (s->resp_started) {
        /* Too late for a reply: the response is already on its way. */
        h->close_after = true;
        xp_hconn_close(h, true);
        return;
    }
    xp_hstream_abort_upstream(s);
    xp_hstream_set_state(s, XP_HS_LOCAL);
    /* Unread request body stays unread: the connection cannot be reused. */
    if (!s->req_complete)
        h->close_after = true;
    /* RFC 9110 §8.6: a 204 carries no content and no Content-Length. */
    size_t blen = body && status != 204 ? strlen(body) : 0;
    size_t head_len;
    s->resp_started = true;
    xp_chunk_t *c = xp_hstream_reply_chunk(s, status, body, blen, location, &head_len);
    if (c == NULL) {
        xp_hconn_close(h, true);
        return;
    }
    if (s->req.method_id == XP_HTTP1_HEAD)
        blen = 0; /* RFC 9110 §9.3.2: no content in a HEAD response */
    xp_hstream_write_down(s, c, c->data, head_len + blen);
    xp_chunk_unref(c);
    s->resp_complete = true;
    xp_hconn_stream_done(h);
}

void xp_hstream_local_reply(xp_hstream_t *s, int status, const char *body, uint32_t flags,
                            const char *details)
{
    xp__reply(s, status, body, flags, details, (xp_str_t){0});
}

void xp_hstream_redirect(xp_hstream_t *s, int status, xp_str_t location)
{
    /* Envoy answers a redirect as a direct response, with its details. */
    xp__reply(s, status, NULL, 0, "direct_response", location);
}

/* A protocol error before any stream exists: answer and close (RFC 9112
 * leaves no safe way to find the next request). */
static void xp__codec_error(xp_hconn_t *h, int status)
{
    xp_stat_inc(h->st->downstream_cx_protocol_error);
    xp_stat_inc(h->st->downstream_rq_xx[xp__status_class(status)]);
    if (status == 431)
        xp_stat_inc(h->st->rs_too_large);
    const char *reason = xp_http1_reason(status);
    char buf[512 + XP_HTTP_FIELD_MAX]; /* server_name is at most XP_HTTP_FIELD_MAX */
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\ncontent-length: %zu\r\ncontent-type: text/plain\r\n"
                     "date: %s\r\nserver: %s\r\nconnection: close\r\n\r\n%s",
                     status, reason, strlen(reason), xp_hcm_date(), h->hcm->server_name, reason);
    xp_sock_write_copy(&h->sock, buf, (size_t)n);
    h->close_after = true;
    xp_hconn_close(h, true);
}

/* ---- header arrays ---------------------------------------------------------- */

/* Heads are parsed into one scratch array per worker (as large as the
 * largest max_headers_count it met) and a complete head's fields are copied
 * into an array of their exact size: a connection waiting for its next head
 * and a stream hold no array sized for the limit, and no transient
 * limit-sized block per message sits between long-lived objects on the
 * heap. */
static __thread xp_header_t *xp__scratch;
static __thread size_t xp__scratch_cap;

xp_header_t *xp_hcm_scratch_headers(size_t n)
{
    if (n > xp__scratch_cap) {
        free(xp__scratch);
        xp__scratch = xp_malloc(n * sizeof(*xp__scratch));
        xp__scratch_cap = n;
    }
    return xp__scratch;
}

xp_header_t *xp_hcm_keep_headers(xp_http1_head_t *head)
{
    size_t n = head->num_headers;
    /* Spare entries for what sanitizing adds: x-envoy-internal,
     * x-request-id and add_user_agent's three. */
    xp_header_t *a = xp_malloc((n + 5) * sizeof(*a));
    memcpy(a, head->headers, n * sizeof(*a));
    head->headers = a;
    head->headers_cap = n + 5;
    return a;
}

/* Spare streams, per worker thread. A stream (over 1 KiB) is past glibc's
 * per-thread cache, and a malloc and free of one per request cost about
 * 800 instructions (tests/bench/callgrind.sh); a few spares make it a
 * memset. */
#define XP__SPARE_STREAMS 64
static __thread xp_spares_t xp__spares;

void xp_hcm_thread_cleanup(void)
{
    free(xp__scratch);
    xp__scratch = NULL;
    xp__scratch_cap = 0;
    xp_spares_free_all(&xp__spares);
}

/* ---- the connection ------------------------------------------------------- */

static void xp__maybe_free(xp_hconn_t *h)
{
    if (h->open_handles > 0)
        return;
    xp_wctx_unlink(h->w, &h->link);
    if (h->on_old_config)
        xp_stat_dec(h->lstats->downstream_cx_old_config);
    xp_stat_dec(h->lstats->downstream_cx_active);
    xp_stat_inc(h->lstats->downstream_cx_destroy);
    xp_stat_dec(h->st->downstream_cx_active);
    xp_stat_dec(h->st->downstream_cx_http1_active);
    xp_stat_inc(h->st->downstream_cx_destroy);
    xp_hconn_http_free(h);
    xp_filter_chain_unref(h->chain);
    xp_listener_cfg_unref(h->listener);
    free(h);
}

void xp_hconn_http_free(xp_hconn_t *h)
{
    xp_hconn_http_t *http = h->http;
    if (http == NULL)
        return;
    h->http = NULL;
    if (http->in)
        xp_chunk_unref(http->in);
    if (http->next_chain)
        xp_filter_chain_unref(http->next_chain);
    if (http->next_listener)
        xp_listener_cfg_unref(http->next_listener);
    free(http);
}

/* The idle timer's data is not ours once a tunnel runs on it. */
static xp_hconn_t *xp__timer_conn(uv_timer_t *t)
{
    return XP_CONTAINER_OF(t, xp_hconn_t, idle_timer);
}

static void xp__handle_closed(uv_handle_t *hd)
{
    xp_hconn_t *h = xp__timer_conn((uv_timer_t *)hd);
    h->open_handles--;
    xp__maybe_free(h);
}

static void xp__sock_closed(xp_sock_t *sk)
{
    xp_hconn_t *h = sk->owner;
    if (h->stream) {
        /* The client went away mid-stream. */
        h->stream->flags |= XP_RF_DC;
        xp_hstream_abort_upstream(h->stream);
        xp_hstream_free(h->stream);
        h->stream = NULL;
    }
    h->open_handles--;
    xp__maybe_free(h);
}

/* The end of a connection: the idle timer and the socket go; the memory
 * with the last close callback. */
static void xp__final_close(xp_hconn_t *h)
{
    uv_timer_stop(&h->idle_timer);
    if (!uv_is_closing((uv_handle_t *)&h->idle_timer))
        uv_close((uv_handle_t *)&h->idle_timer, xp__handle_closed);
    xp_sock_close(&h->sock);
}

static void xp__linger_done(uv_timer_t *t)
{
    xp__final_close(xp__timer_conn(t));
}

void xp_hconn_close(xp_hconn_t *h, bool local)
{
    if (h->state == XP_HC_CLOSING)
        return;
    h->state = XP_HC_CLOSING;
    xp_stat_inc(local ? h->st->downstream_cx_destroy_local : h->st->downstream_cx_destroy_remote);
    xp_wctx_unlink(h->w, &h->link);
    if (local && h->close_after && !h->sock.closing && !h->peer_eof) {
        /* A graceful close after a response (RFC 9112 §9.6): FIN once the
         * response is written, then keep reading and discarding for a
         * while, so that request bytes we never read do not make the kernel
         * reset the connection and destroy the response in flight. */
        h->lingering = true;
        xp_sock_shutdown(&h->sock);
        xp_sock_read_start(&h->sock);
        uv_timer_start(&h->idle_timer, xp__linger_done, 2000, 0);
        return;
    }
    if (local && !h->sock.closing && h->sock.wpending > 0) {
        /* The peer is gone for reading but may still read: send what is
         * queued (gathered writes too), then close. */
        xp_sock_shutdown(&h->sock);
        if (h->sock.wpending > 0) {
            /* a reader that stalls gets the stream idle timeout, as a
             * stream would */
            uint64_t ms = h->hcm->stream_idle_timeout_ms ? h->hcm->stream_idle_timeout_ms : 2000;
            uv_timer_start(&h->idle_timer, xp__linger_done, ms, 0);
            return; /* on_written closes once it is out */
        }
    }
    xp__final_close(h);
}

void xp_hconn_tunnel_done(xp_hconn_t *h)
{
    /* The tunnel closed the socket; the idle timer is the last handle. */
    h->state = XP_HC_CLOSING;
    xp_wctx_unlink(h->w, &h->link);
    if (!uv_is_closing((uv_handle_t *)&h->idle_timer))
        uv_close((uv_handle_t *)&h->idle_timer, xp__handle_closed);
}

/* The worker serves a new snapshot. A keep-alive connection keeps the chain
 * its current request runs on; its next request uses the new listener's
 * chain when that is still an HTTP connection manager for this connection,
 * else the connection ends after the in-flight response (Connection: close)
 * or now if idle. Tunnels are never touched. */
static void xp__switch_chain(xp_hconn_t *h);

static void xp__config_changed(xp_conn_link_t *l)
{
    xp_hconn_t *h = (xp_hconn_t *)l;
    if (h->state == XP_HC_CLOSING)
        return;
    xp_listener_cfg_t *nl = xp_wctx_listener(h->w, h->listener);
    if (nl == h->listener)
        return;
    if (!h->on_old_config) {
        h->on_old_config = true;
        xp_stat_inc(h->lstats->downstream_cx_old_config);
    }
    if (h->state != XP_HC_ACTIVE)
        return; /* a tunnel keeps what it has */
    xp_filter_chain_t *fc = NULL;
    if (nl) {
        struct sockaddr_storage local, peer;
        int len = sizeof(local);
        memset(&local, 0, sizeof(local));
        memset(&peer, 0, sizeof(peer));
        uv_tcp_getsockname(&h->sock.tcp, (struct sockaddr *)&local, &len);
        len = sizeof(peer);
        uv_tcp_getpeername(&h->sock.tcp, (struct sockaddr *)&peer, &len);
        fc = xp_listener_select_chain(nl, (struct sockaddr *)&local, (struct sockaddr *)&peer);
    }
    if (fc && fc->kind == XP_NET_FILTER_HCM) {
        xp_listener_cfg_ref(nl);
        xp_filter_chain_ref(fc);
        if (h->http->next_listener)
            xp_listener_cfg_unref(h->http->next_listener);
        if (h->http->next_chain)
            xp_filter_chain_unref(h->http->next_chain);
        h->http->next_listener = nl;
        h->http->next_chain = fc;
        if (h->stream == NULL)
            xp__switch_chain(h);
        return;
    }
    h->close_after = true;
    if (h->stream == NULL)
        xp_hconn_close(h, true);
}

static void xp__drain(xp_conn_link_t *l)
{
    xp_hconn_t *h = (xp_hconn_t *)l;
    if (h->state != XP_HC_ACTIVE)
        return;
    h->close_after = true;
    if (h->stream == NULL)
        xp_hconn_close(h, true);
}

static void xp__close_now(xp_conn_link_t *l)
{
    xp_hconn_t *h = (xp_hconn_t *)l;
    if (h->state == XP_HC_TUNNEL) {
        xp_tunnel_close(&h->tunnel, "local");
        return;
    }
    h->close_after = false; /* no graceful flush at shutdown */
    xp_hconn_close(h, true);
}

/* Between requests: move to the chain a config change picked. */
static void xp__switch_chain(xp_hconn_t *h)
{
    if (h->http->next_chain == NULL)
        return;
    xp_filter_chain_unref(h->chain);
    xp_listener_cfg_unref(h->listener);
    h->chain = h->http->next_chain;
    h->listener = h->http->next_listener;
    if (h->on_old_config && xp_wctx_listener(h->w, h->listener) == h->listener) {
        h->on_old_config = false;
        xp_stat_dec(h->lstats->downstream_cx_old_config);
    }
    h->http->next_chain = NULL;
    h->http->next_listener = NULL;
    h->hcm = h->chain->u.hcm;
    xp_hcm_stats_t *st = xp_hcm_stats_get(h->w->stats, h->hcm->stat_prefix);
    if (st != h->st) {
        /* The connection now counts under the new stat prefix. */
        xp_stat_dec(h->st->downstream_cx_active);
        xp_stat_dec(h->st->downstream_cx_http1_active);
        xp_stat_inc(st->downstream_cx_active);
        xp_stat_inc(st->downstream_cx_http1_active);
        h->st = st;
    }
    h->http->limits.max_headers_kb = h->hcm->max_request_headers_kb;
    h->http->limits.max_headers_count = h->hcm->max_headers_count;
    h->http->limits.max_target_len = h->hcm->max_request_headers_kb * 1024;
    h->http->scanning = false;
}

static void xp__on_idle(uv_timer_t *t)
{
    xp_hconn_t *h = xp__timer_conn(t);
    if (!xp_lazy_timer_expired(t, xp__on_idle, h->idle_due))
        return;
    if (h->stream) {
        xp_stat_inc(h->st->downstream_rq_idle_timeout);
        xp_hstream_local_reply(h->stream, 408, "stream timeout", XP_RF_SI, "stream_idle_timeout");
        return;
    }
    if (h->http->scanning) {
        xp_stat_inc(h->st->downstream_rq_header_timeout);
        xp_hconn_close(h, true);
        return;
    }
    xp_stat_inc(h->st->downstream_cx_idle_timeout);
    xp_hconn_close(h, true);
}

/* Between requests the timer is the connection idle timeout; while a head
 * is arriving, request_headers_timeout (when set); during a stream,
 * stream_idle_timeout. Restarted on activity, lazily (net/lazy_timer.h), so
 * back-to-back requests cost no work in libuv's timer heap. */
static void xp__arm_idle(xp_hconn_t *h)
{
    if (h->state != XP_HC_ACTIVE)
        return;
    uint64_t ms;
    if (h->stream)
        ms = h->hcm->stream_idle_timeout_ms;
    else if (h->http->scanning && h->hcm->request_headers_timeout_ms)
        ms = h->hcm->request_headers_timeout_ms;
    else
        ms = h->hcm->idle_timeout_ms;
    xp_lazy_timer_arm(&h->idle_timer, xp__on_idle, &h->idle_due, ms);
}

void xp_hconn_touch(xp_hconn_t *h)
{
    xp__arm_idle(h);
}

/* Makes room to append len bytes after the unconsumed input, copying it to a
 * private chunk when the current one is shared or full. */
static bool xp__in_reserve(xp_hconn_t *h, size_t len)
{
    size_t pending = h->http->in ? h->http->in_len - h->http->in_off : 0;
    if (h->http->in && h->http->in->refs == 1 && h->http->in_len + len <= h->http->in->size)
        return true;
    size_t need = pending + len;
    xp_chunk_t *n = xp_chunk_new(need < XP_CHUNK_SIZE ? XP_CHUNK_SIZE : need);
    if (n == NULL)
        return false;
    if (pending)
        memcpy(n->data, h->http->in->data + h->http->in_off, pending);
    if (h->http->in)
        xp_chunk_unref(h->http->in);
    h->http->in = n;
    h->http->in_off = 0;
    h->http->in_len = pending;
    return true;
}

static void xp__on_data(xp_sock_t *sk, xp_chunk_t *c, char *p, size_t len)
{
    xp_hconn_t *h = sk->owner;
    if (h->state == XP_HC_CLOSING)
        return; /* lingering: discard */
    xp_stat_add(h->st->downstream_cx_rx_bytes_total, (int64_t)len);
    if (h->http->in && h->http->in_len > h->http->in_off) {
        if (!xp__in_reserve(h, len)) {
            xp_hconn_close(h, true);
            return;
        }
        memcpy(h->http->in->data + h->http->in_len, p, len);
        h->http->in_len += len;
    } else {
        if (h->http->in)
            xp_chunk_unref(h->http->in);
        h->http->in = xp_chunk_ref(c);
        h->http->in_off = (size_t)(p - c->data);
        h->http->in_len = h->http->in_off + len;
    }
    xp__arm_idle(h);
    /* Whatever this input makes us write, up or down, goes in one writev per
     * socket. Sockets outlive the call (frees are deferred to close
     * callbacks), so uncorking after is safe whatever happened. */
    xp_sock_t *up = h->stream && h->stream->up && h->stream->up->state == XP_UCONN_BUSY
                        ? &h->stream->up->sock
                        : NULL;
    xp_sock_cork(&h->sock);
    if (up)
        xp_sock_cork(up);
    xp_hconn_process(h);
    if (up)
        xp_sock_uncork(up);
    xp_sock_uncork(&h->sock);
}

static void xp__on_eof(xp_sock_t *sk)
{
    xp_hconn_t *h = sk->owner;
    h->peer_eof = true;
    if (h->state == XP_HC_CLOSING) {
        if (h->sock.wpending == 0)
            xp__final_close(h);
        return;
    }
    /* A half-closed client may still want its response (RFC 9112 §9.6);
     * without a stream there is nothing left to do. */
    if (h->stream == NULL)
        xp_hconn_close(h, false);
}

static void xp__on_error(xp_sock_t *sk, int err)
{
    (void)err;
    xp_hconn_t *h = sk->owner;
    if (h->state == XP_HC_CLOSING)
        xp__final_close(h);
    else
        xp_hconn_close(h, false);
}

static void xp__on_written(xp_sock_t *sk)
{
    xp_hconn_t *h = sk->owner;
    if (h->state == XP_HC_CLOSING) {
        /* Lingering connections wait for the client's FIN or the timer. */
        if (sk->wpending == 0 && !h->lingering)
            xp__final_close(h);
        return;
    }
    if (h->stream && h->stream->state == XP_HS_UPSTREAM &&
        sk->wpending <= h->listener->per_connection_buffer_limit_bytes / 2)
        xp_hstream_resume_upstream_read(h->stream);
}

static const xp_sock_ops_t xp__hconn_ops = {
    .on_data = xp__on_data,
    .on_eof = xp__on_eof,
    .on_error = xp__on_error,
    .on_written = xp__on_written,
    .on_close = xp__sock_closed,
};

/* ---- streams ---------------------------------------------------------------- */

static xp_hstream_t *xp__stream_alloc(void)
{
    xp_hstream_t *s = xp_spares_take(&xp__spares);
    if (s == NULL)
        return xp_calloc(1, sizeof(*s));
    memset(s, 0, sizeof(*s));
    return s;
}

static void xp__stream_mem_free(xp_hstream_t *s)
{
    if (!xp_spares_keep(&xp__spares, s, XP__SPARE_STREAMS))
        free(s);
}

static void xp__stream_timer_closed(uv_handle_t *hd)
{
    xp__stream_mem_free(hd->data);
}

static void xp__access_log(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    const xp_hcm_cfg_t *hcm = h->hcm;
    if (hcm->n_access_logs == 0)
        return;
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.start_time_us = (int64_t)s->start_us;
    r.duration_us = (int64_t)(xp__wall_us() - s->start_us);
    r.protocol = s->req.minor_version == 0 ? "HTTP/1.0" : "HTTP/1.1";
    r.method = s->req.method;
    r.path = s->path;
    r.authority = s->host;
    r.scheme = XP_STR_LIT("http");
    r.request_headers = s->req.headers;
    r.n_request_headers = s->req.num_headers;
    if (s->resp_headers && s->resp.status_code) {
        r.response_headers = s->resp.headers;
        r.n_response_headers = s->resp.num_headers;
    }
    r.response_code = (uint32_t)s->status;
    r.response_code_details = xp_str_c(s->details ? s->details : (s->status ? "via_upstream" : ""));
    r.response_flags = s->flags;
    r.bytes_received = s->req_body_bytes;
    r.bytes_sent = s->resp_body_bytes;
    if (s->host_sel)
        r.upstream_host = xp_str_c(s->host_sel->addr.str);
    if (s->cluster)
        r.upstream_cluster = xp_str_c(s->cluster->name);
    r.downstream_remote_address = xp_str_c(h->http->peer);
    r.downstream_local_address = xp_str_c(h->http->local);
    if (s->route)
        r.route_name = s->route->name;
    if (s->request_id[0])
        r.request_id = xp_str_c(s->request_id);
    r.connection_id = h->id;
    r.attempt_count = s->attempts;
    for (size_t i = 0; i < hcm->n_access_logs; i++)
        if (hcm->access_logs[i].log)
            xp_access_log_write(hcm->access_logs[i].log, &r);
}

void xp_hstream_free(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    xp_hstream_vhds_cancel(s);
    xp__access_log(s);
    xp_stat_dec(h->st->downstream_rq_active);
    if (s->status)
        xp_stat_inc(h->st->downstream_rq_xx[xp__status_class(s->status)]);
    xp_stat_inc(h->st->downstream_rq_completed);
    xp_hstream_release(s);
    xp_chunk_unref(s->head_chunk);
    free(s->req_headers);
    free(s->resp_headers);
    free(s->retry_own);
    free(s->rewritten_path);
    free(s->norm_path);
    if (s->resp_buf)
        xp_chunk_unref(s->resp_buf);
    if (s->timer_init) {
        /* The stream memory goes with its timer's close callback. */
        uv_timer_stop(&s->timer);
        s->timer.data = s;
        s->state = XP_HS_DONE;
        uv_close((uv_handle_t *)&s->timer, xp__stream_timer_closed);
        return;
    }
    xp__stream_mem_free(s);
}

void xp_hconn_stream_done(xp_hconn_t *h)
{
    xp_hstream_t *s = h->stream;
    if (s == NULL)
        return;
    h->stream = NULL;
    xp_hstream_free(s);
    if (h->state != XP_HC_ACTIVE)
        return;
    if (h->close_after || h->peer_eof) {
        xp_hconn_close(h, true);
        return;
    }
    xp__switch_chain(h);
    xp__arm_idle(h);
    /* Inside xp_hconn_process (a local reply to a pipelined request) the
     * loop there picks up the next request: no recursion per request. */
    if (!h->processing)
        xp_hconn_process(h);
}

static xp_hstream_t *xp__stream_new(xp_hconn_t *h, size_t head_len)
{
    xp_hstream_t *s = xp__stream_alloc();
    s->conn = h;
    s->state = XP_HS_ROUTING;
    s->start_us = xp__wall_us();
    s->start_mono_ms = xp_now_ms(h);
    /* The parsed head and its header array move into the stream. */
    s->req = h->http->head_scan;
    s->req_headers = xp_hcm_keep_headers(&s->req);
    h->http->scanning = false;
    s->head_chunk = xp_chunk_ref(h->http->in);
    s->path = s->req.target;
    if (s->req.host_idx >= 0)
        s->host = s->req.headers[s->req.host_idx].value;
    else if (s->req.minor_version == 0 && h->hcm->default_host_for_http_10)
        s->host = xp_str_c(h->hcm->default_host_for_http_10);
    xp_http1_body_init(&s->req_body, &s->req, &h->http->limits);
    s->req_complete = s->req.body_mode == XP_HTTP1_BODY_NONE;
    h->http->in_off += head_len;
    if (!s->req.keep_alive)
        h->close_after = true;
    xp_stat_inc(h->st->downstream_rq_total);
    xp_stat_inc(h->st->downstream_rq_http1_total);
    xp_stat_inc(h->st->downstream_rq_active);
    if (h->hcm->request_timeout_ms && !s->req_complete)
        xp_hstream_start_request_timeout(s);
    return s;
}

static void xp__process(xp_hconn_t *h);

void xp_hconn_process(xp_hconn_t *h)
{
    if (h->processing)
        return;
    h->processing = true;
    xp__process(h);
    h->processing = false;
}

static void xp__process(xp_hconn_t *h)
{
    while (h->state == XP_HC_ACTIVE) {
        size_t avail = h->http->in ? h->http->in_len - h->http->in_off : 0;
        xp_hstream_t *s = h->stream;
        if (s) {
            if (s->req_complete || avail == 0) {
                /* Pipelined bytes wait for this stream to finish. */
                if (avail)
                    xp_sock_read_stop(&h->sock);
                else if (!h->peer_eof)
                    xp_sock_read_start(&h->sock);
                return;
            }
            if (s->state == XP_HS_LOCAL) {
                h->http->in_off = h->http->in_len; /* the reply closes the connection */
                return;
            }
            if (s->state != XP_HS_UPSTREAM || s->up == NULL) {
                /* Body waits for an upstream connection. */
                xp_sock_read_stop(&h->sock);
                return;
            }
            xp_str_t spans[8];
            size_t nspans = 0, used = 0;
            int rc = xp_http1_body_decode(&s->req_body, h->http->in->data + h->http->in_off, avail,
                                          &used, spans, XP_ARRAY_SIZE(spans), &nspans);
            xp_chunk_t *in = xp_chunk_ref(h->http->in);
            h->http->in_off += used;
            if (rc < 0) {
                xp_chunk_unref(in);
                xp_stat_inc(h->st->downstream_cx_protocol_error);
                xp_hstream_local_reply(s, s->req_body.err_status ? s->req_body.err_status : 400,
                                       xp_http1_reason(400), XP_RF_DPE, "codec_error");
                return;
            }
            bool done = rc == XP_HTTP1_DONE;
            for (size_t i = 0; i < nspans; i++)
                xp_hstream_request_body(s, in, spans[i].p, spans[i].len, done && i + 1 == nspans);
            if (done && nspans == 0)
                xp_hstream_request_body(s, in, NULL, 0, true);
            xp_chunk_unref(in);
            if (h->state != XP_HC_ACTIVE || h->stream != s)
                return;
            if (s->up && s->up->sock.wpending > h->listener->per_connection_buffer_limit_bytes) {
                xp_sock_read_stop(&h->sock); /* resumed by the upstream's on_written */
                return;
            }
            continue;
        }
        if (avail == 0) {
            if (h->http->in) {
                xp_chunk_unref(h->http->in); /* idle: hold no buffer */
                h->http->in = NULL;
                h->http->in_off = h->http->in_len = 0;
            }
            if (!h->peer_eof)
                xp_sock_read_start(&h->sock);
            return;
        }
        size_t max = h->http->limits.max_headers_count;
        xp_header_t *scratch = xp_hcm_scratch_headers(max);
        if (!h->http->scanning) {
            xp_http1_head_init(&h->http->head_scan, scratch, max);
            h->http->scanning = true;
            xp__arm_idle(h);
        } else {
            /* The parser writes fields only in the call that completes the
             * head, so the scratch may have been used (or moved) meanwhile. */
            h->http->head_scan.headers = scratch;
        }
        int rc = xp_http1_parse_request(&h->http->head_scan, h->http->in->data + h->http->in_off,
                                        avail, &h->http->limits);
        if (rc == XP_EAGAIN) {
            if (h->peer_eof)
                xp_hconn_close(h, false);
            else
                xp_sock_read_start(&h->sock);
            return;
        }
        if (rc < 0) {
            xp__codec_error(h, h->http->head_scan.err_status ? h->http->head_scan.err_status : 400);
            return;
        }
        h->stream = xp__stream_new(h, (size_t)rc);
        xp__arm_idle(h);
        xp_hstream_route_and_forward(h->stream);
    }
}

void xp_hcm_accept(xp_wctx_t *w, const xp_accept_t *a)
{
    xp_hconn_t *h = xp_calloc(1, sizeof(*h));
    h->w = w;
    h->state = XP_HC_ACTIVE;
    h->listener = a->listener;
    h->chain = a->chain;
    h->hcm = a->chain->u.hcm;
    h->lstats = a->lstats;
    h->st = xp_hcm_stats_get(w->stats, h->hcm->stat_prefix);
    h->id = xp_next_connection_id();
    h->link.close_now = xp__close_now;
    h->link.config_changed = xp__config_changed;
    h->link.drain = xp__drain;
    h->http = xp_calloc(1, sizeof(*h->http));
    xp_http1_limits_default(&h->http->limits);
    h->http->limits.max_headers_kb = h->hcm->max_request_headers_kb;
    h->http->limits.max_headers_count = h->hcm->max_headers_count;
    h->http->limits.max_target_len = h->hcm->max_request_headers_kb * 1024;
    xp_wctx_link(w, &h->link);
    xp_stat_inc(h->st->downstream_cx_total);
    xp_stat_inc(h->st->downstream_cx_active);
    xp_stat_inc(h->st->downstream_cx_http1_total);
    xp_stat_inc(h->st->downstream_cx_http1_active);

    uv_timer_init(w->loop, &h->idle_timer);
    xp_sock_init(&h->sock, w->loop, &xp__hconn_ops, h);
    h->sock.tcp.data = h;
    h->open_handles = 2;
    if (uv_tcp_open(&h->sock.tcp, a->fd) != 0) {
        close(a->fd);
        xp_hconn_close(h, true);
        return;
    }
    xp_sock_nodelay(&h->sock);
    xp_sock_peer_str(&h->sock, h->http->peer, sizeof(h->http->peer));
    xp_sock_local_str(&h->sock, h->http->local, sizeof(h->http->local));
    /* The peer IP without port, for x-forwarded-for and hash policies. */
    const char *colon = strrchr(h->http->peer, ':');
    size_t iplen = colon ? (size_t)(colon - h->http->peer) : strlen(h->http->peer);
    const char *ip = h->http->peer;
    if (ip[0] == '[') {
        ip++;
        iplen -= 2;
    }
    snprintf(h->http->peer_ip, sizeof(h->http->peer_ip), "%.*s", (int)iplen, ip);
    xp__arm_idle(h);
    xp_sock_read_start(&h->sock);
}
