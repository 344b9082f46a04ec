/* xp_upstream: an HTTP/1.1 + WebSocket upstream for integration tests,
 * the demo and benchmarks. One libuv loop; every connection keeps a fixed
 * read buffer and parses with //proxy/http1 (RFC 9112). Bodies are counted
 * (and hashed for /upload) as they stream, never stored. Endpoints are
 * listed in usage() below. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/common/mem.h"
#include "tests/tools/upstream.h"

xpu_stats_t xpu_stats;
bool xpu_verbose;

#define MAX_LISTEN 16
/* A string literal as the (pointer, length) pair xpu_buf_add takes. */
#define XPU_LIT(s) (s), sizeof(s) - 1

static uv_loop_t *loop;
static const char *server_name = "xp_upstream";
static uv_tcp_t listeners[MAX_LISTEN];
static int nlisteners;
static uv_signal_t sig_term, sig_int;
static xpu_conn_t *conns; /* every open connection, for shutdown */
static uint64_t next_conn_id = 1;
static xp_http1_limits_t limits;
static bool stopping;

/* 64 KiB of the repeating /bytes pattern: byte i of a body is
 * pattern[i % 64], and 65536 is a multiple of 64, so every chunk can
 * start at offset 0 of this buffer. */
#define PATTERN_CHUNK  (64 * 1024)
#define XPU_SMALL_BODY (16 * 1024) /* sent with the head in one write */
static char pattern[PATTERN_CHUNK];

static void conn_process(xpu_conn_t *c);
static void update_reading(xpu_conn_t *c);

/* ---- small helpers ---------------------------------------------------- */

void xpu_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[xp_upstream %s] ", server_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
    uv_write_t req;
    xpu_conn_t *c;
    size_t bytes;
    char *owned; /* freed on completion; NULL for static data */
    char hdr[XP_HTTP1_CHUNK_HEADER_MAX];
} wreq_t;

static void stream_pump(xpu_conn_t *c);

static void on_write(uv_write_t *req, int status)
{
    wreq_t *w = XP_CONTAINER_OF(req, wreq_t, req);
    xpu_conn_t *c = w->c;
    c->queued -= w->bytes;
    free(w->owned);
    free(w);
    if (c->closing)
        return;
    if (status < 0) {
        XPU_LOG("conn %" PRIu64 ": write: %s", c->id, uv_strerror(status));
        xpu_conn_close(c);
        return;
    }
    if (c->st == XPU_ST_WAIT && c->req.route == XPU_R_BYTES) {
        stream_pump(c);
        return;
    }
    if (c->queued < XPU_WRITE_LOW)
        conn_process(c);
}

/* The kernel first (uv_try_write): a write it takes whole costs no write
 * request, no completion callback and, as libuv finishes a request, no
 * epoll_ctl. The benchmark's upstream serves every proxy, so its cost per
 * request is a share of each proxy's core (tests/bench/run.sh). */
static void write_bufs(xpu_conn_t *c, wreq_t *w, uv_buf_t *bufs, unsigned n)
{
    w->c = c;
    int done = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    size_t left = done > 0 ? (size_t)done : 0;
    while (n && left >= bufs[0].len) { /* drop what went */
        left -= bufs[0].len;
        bufs++;
        n--;
    }
    if (n == 0) {
        free(w->owned);
        free(w);
        return;
    }
    bufs[0].base += left;
    bufs[0].len -= left;
    w->bytes = 0;
    for (unsigned i = 0; i < n; i++)
        w->bytes += bufs[i].len;
    c->queued += w->bytes;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, n, on_write);
    if (rc < 0) {
        c->queued -= w->bytes;
        free(w->owned);
        free(w);
        XPU_LOG("conn %" PRIu64 ": uv_write: %s", c->id, uv_strerror(rc));
        xpu_conn_close(c);
    }
}

void xpu_write(xpu_conn_t *c, const void *data, size_t len)
{
    if (c->closing || c->shut || len == 0)
        return;
    wreq_t *w = xp_calloc(1, sizeof(*w));
    w->owned = xp_malloc(len);
    memcpy(w->owned, data, len);
    uv_buf_t b = uv_buf_init(w->owned, (unsigned)len);
    write_bufs(c, w, &b, 1);
}

void xpu_write_take(xpu_conn_t *c, xpu_buf_t *b)
{
    if (c->closing || c->shut || b->len == 0) {
        xpu_buf_free(b);
        return;
    }
    wreq_t *w = xp_calloc(1, sizeof(*w));
    w->owned = b->p;
    uv_buf_t ub = uv_buf_init(b->p, (unsigned)b->len);
    memset(b, 0, sizeof(*b));
    write_bufs(c, w, &ub, 1);
}

/* ---- connection lifetime ---------------------------------------------- */

static void req_reset(xpu_req_t *r)
{
    if (r->sha)
        EVP_MD_CTX_free(r->sha);
    xpu_buf_free(&r->echo);
    xpu_buf_free(&r->extra);
    memset(r, 0, sizeof(*r));
}

static void on_handle_closed(uv_handle_t *h)
{
    xpu_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    req_reset(&c->req);
    free(c->buf);
    free(c);
}

static void conn_unlink(xpu_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    xpu_stats.connections_active--;
    if (c->is_ws)
        xpu_stats.ws_active--;
}

void xpu_conn_close(xpu_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    XPU_LOG("conn %" PRIu64 ": close", c->id);
    conn_unlink(c);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void conn_reset(xpu_conn_t *c)
{
    c->closing = true;
    XPU_LOG("conn %" PRIu64 ": reset", c->id);
    conn_unlink(c);
    /* SO_LINGER 0: the peer sees an RST, never a response. */
    if (uv_tcp_close_reset(&c->tcp, on_handle_closed) < 0)
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_linger_timeout(uv_timer_t *t)
{
    xpu_conn_close(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    xpu_conn_t *c = req->data;
    if (c->closing)
        return;
    c->shut_done = true;
    if (status < 0 || c->eof) {
        xpu_conn_close(c);
        return;
    }
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_linger_timeout, 2000, 0);
    update_reading(c);
}

void xpu_graceful_close(xpu_conn_t *c)
{
    if (c->closing || c->shut)
        return;
    c->st = XPU_ST_CLOSING;
    c->shut = true;
    c->shutdown.data = c;
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        xpu_conn_close(c);
}

void xpu_consume(xpu_conn_t *c, size_t n)
{
    c->start += n;
    c->len -= n;
    if (c->len == 0)
        c->start = 0;
}

/* ---- reading ---------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    xpu_conn_t *c = h->data;
    if (c->start > 0) {
        /* Compact: a partial head is re-parsed from its start on every
         * arrival, so moving it is safe. */
        memmove(c->buf, c->buf + c->start, c->len);
        c->start = 0;
    }
    *b = uv_buf_init(c->buf + c->len, (unsigned)(XPU_READ_BUF - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    xpu_conn_t *c = s->data;
    if (c->closing)
        return;
    if (n < 0) {
        XPU_LOG("conn %" PRIu64 ": read: %s", c->id, uv_strerror((int)n));
        c->reading = false; /* libuv stops reading after EOF or an error */
        if (n != UV_EOF) {
            xpu_conn_close(c);
            return;
        }
        /* Everything buffered was processed already; flush what is
         * queued (responses to pipelined requests), then close. */
        c->eof = true;
        if (c->shut_done)
            xpu_conn_close(c);
        else
            xpu_graceful_close(c);
        return;
    }
    if (n == 0)
        return;
    if (c->st == XPU_ST_CLOSING) {
        c->len = c->start = 0; /* discard */
        return;
    }
    c->len += (size_t)n;
    conn_process(c);
}

static void update_reading(xpu_conn_t *c)
{
    if (c->closing)
        return;
    bool want;
    if (c->st == XPU_ST_CLOSING)
        want = c->shut_done && !c->eof;
    else
        want = c->st != XPU_ST_WAIT && c->queued < XPU_WRITE_HIGH && c->len < XPU_READ_BUF;
    if (want && !c->reading)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else if (!want && c->reading)
        uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = want;
}

/* ---- responses -------------------------------------------------------- */

/* Queues a complete response. body may be NULL; close forces
 * Connection: close. */
static void respond(xpu_conn_t *c, int status, const char *ctype, const char *body, size_t body_len,
                    bool close)
{
    xpu_req_t *r = &c->req;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    xpu_buf_t out = {0};
    xpu_buf_addf(&out, "HTTP/1.1 %d %s\r\nx-xp-upstream: %s\r\n", status, xp_http1_reason(status),
                 server_name);
    if (!no_body) {
        xpu_buf_addf(&out, "content-length: %zu\r\n", body_len);
        if (ctype)
            xpu_buf_addf(&out, "content-type: %s\r\n", ctype);
    }
    if (close)
        xpu_buf_addf(&out, "connection: close\r\n");
    else if (r->minor_version == 0)
        xpu_buf_addf(&out, "connection: keep-alive\r\n");
    xpu_buf_add(&out, r->extra.p, r->extra.len);
    xpu_buf_add(&out, "\r\n", 2);
    if (!no_body && !r->head_method && body)
        xpu_buf_add(&out, body, body_len);
    xpu_write_take(c, &out);
}

/* Answers a request the parser or decoder rejected, then closes. */
static void respond_error(xpu_conn_t *c, int status, const char *msg)
{
    XPU_LOG("conn %" PRIu64 ": %d %s", c->id, status, msg ? msg : "");
    char body[160];
    int n = snprintf(body, sizeof(body), "%s\n", msg ? msg : xp_http1_reason(status));
    respond(c, status, "text/plain", body, (size_t)n, true);
    xpu_graceful_close(c);
}

/* The request is answered: next message, or close. */
static void request_done(xpu_conn_t *c)
{
    bool keep = c->req.keep_alive && !stopping;
    req_reset(&c->req);
    if (!keep) {
        xpu_graceful_close(c);
        return;
    }
    c->st = XPU_ST_HEAD;
}

static void respond_echo(xpu_conn_t *c, bool close)
{
    xpu_req_t *r = &c->req;
    xpu_buf_t body = {0};
    xpu_buf_add(&body, r->echo.p, r->echo.len);
    xpu_buf_addf(&body,
                 ",\"body_bytes\":%" PRIu64 ",\"conn_id\":%" PRIu64 ",\"conn_requests\":%" PRIu64
                 "}\n",
                 r->body_bytes, c->id, c->nreq);
    respond(c, 200, "application/json", body.p, body.len, close);
    xpu_buf_free(&body);
}

static void on_delay(uv_timer_t *t)
{
    xpu_conn_t *c = t->data;
    respond_echo(c, !c->req.keep_alive);
    request_done(c);
    conn_process(c);
}

/* /bytes: queue pattern chunks while under the high-water mark. */
static void stream_pump(xpu_conn_t *c)
{
    xpu_req_t *r = &c->req;
    while (c->stream_left > 0 && c->queued < XPU_WRITE_HIGH && !c->closing) {
        size_t n = c->stream_left < PATTERN_CHUNK ? (size_t)c->stream_left : PATTERN_CHUNK;
        c->stream_left -= n;
        wreq_t *w = xp_calloc(1, sizeof(*w));
        if (r->chunked_resp) {
            /* RFC 9112 §7.1: chunk-size CRLF chunk-data CRLF. */
            size_t hl = xp_http1_chunk_header(w->hdr, n);
            uv_buf_t bufs[3] = {uv_buf_init(w->hdr, (unsigned)hl),
                                uv_buf_init(pattern, (unsigned)n), uv_buf_init(XP_HTTP1_CRLF, 2)};
            write_bufs(c, w, bufs, 3);
        } else {
            uv_buf_t b = uv_buf_init(pattern, (unsigned)n);
            write_bufs(c, w, &b, 1);
        }
    }
    if (c->closing || c->stream_left > 0)
        return;
    if (r->chunked_resp) /* last-chunk, no trailers, final CRLF */
        xpu_write(c, XP_HTTP1_LAST_CHUNK, sizeof(XP_HTTP1_LAST_CHUNK) - 1);
    request_done(c);
    conn_process(c);
}

static void respond_bytes(xpu_conn_t *c)
{
    xpu_req_t *r = &c->req;
    /* Chunked needs HTTP/1.1 on the receiving side (RFC 9112 §7). */
    if (r->minor_version == 0)
        r->chunked_resp = false;
    /* A small whole body goes out with the head in one write, so one
     * segment carries the response, as a real server's would. This is the
     * benchmarks' workload 1 response: it is put together with copies
     * only, in one allocation, since the upstream shares the proxy's core. */
    bool whole = !r->head_method && !r->chunked_resp && r->arg <= XPU_SMALL_BODY;
    xpu_buf_t out = {.cap = 256 + strlen(server_name) + (whole ? (size_t)r->arg : 0)};
    out.p = xp_malloc(out.cap);
    xpu_buf_add(&out, XPU_LIT("HTTP/1.1 200 OK\r\nx-xp-upstream: "));
    xpu_buf_add(&out, server_name, strlen(server_name));
    xpu_buf_add(&out, XPU_LIT("\r\ncontent-type: application/octet-stream\r\n"));
    if (r->chunked_resp) {
        xpu_buf_add(&out, XPU_LIT("transfer-encoding: chunked\r\n"));
    } else {
        char num[20];
        xpu_buf_add(&out, XPU_LIT("content-length: "));
        xpu_buf_add(&out, num, xp_u64_dec(num, r->arg));
        xpu_buf_add(&out, XPU_LIT("\r\n"));
    }
    if (!r->keep_alive)
        xpu_buf_add(&out, XPU_LIT("connection: close\r\n"));
    else if (r->minor_version == 0)
        xpu_buf_add(&out, XPU_LIT("connection: keep-alive\r\n"));
    xpu_buf_add(&out, "\r\n", 2);
    if (whole)
        xpu_buf_add(&out, pattern, (size_t)r->arg);
    xpu_write_take(c, &out);
    if (r->head_method || whole) {
        request_done(c);
        return;
    }
    c->stream_left = r->arg;
    c->st = XPU_ST_WAIT;
    stream_pump(c);
}

static void respond_stats(xpu_conn_t *c)
{
    char body[400];
    int n = snprintf(body, sizeof(body),
                     "{\"connections_total\":%" PRIu64 ",\"connections_active\":%" PRIu64
                     ",\"requests_total\":%" PRIu64 ",\"ws_total\":%" PRIu64
                     ",\"ws_active\":%" PRIu64 "}\n",
                     xpu_stats.connections_total, xpu_stats.connections_active,
                     xpu_stats.requests_total, xpu_stats.ws_total, xpu_stats.ws_active);
    respond(c, 200, "application/json", body, (size_t)n, !c->req.keep_alive);
}

/* The whole request (head and body) is in: answer it. */
static void dispatch(xpu_conn_t *c)
{
    xpu_req_t *r = &c->req;
    switch (r->route) {
    case XPU_R_STATUS: {
        char body[32];
        int n = snprintf(body, sizeof(body), "status %d\n", (int)r->arg);
        respond(c, (int)r->arg, "text/plain", body, (size_t)n, !r->keep_alive);
        break;
    }
    case XPU_R_BYTES:
        respond_bytes(c);
        return;
    case XPU_R_UPLOAD: {
        xpu_buf_t body = {0};
        xpu_buf_addf(&body, "{\"body_bytes\":%" PRIu64, r->body_bytes);
        if (r->sha) {
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int mdlen = 0;
            EVP_DigestFinal_ex(r->sha, md, &mdlen);
            xpu_buf_addf(&body, ",\"sha256\":\"");
            for (unsigned i = 0; i < mdlen; i++)
                xpu_buf_addf(&body, "%02x", md[i]);
            xpu_buf_addf(&body, "\"");
        }
        xpu_buf_addf(&body, "}\n");
        respond(c, 200, "application/json", body.p, body.len, !r->keep_alive);
        xpu_buf_free(&body);
        break;
    }
    case XPU_R_DELAY:
        c->st = XPU_ST_WAIT;
        uv_timer_start(&c->timer, on_delay, r->arg, 0);
        return;
    case XPU_R_CLOSE:
        r->keep_alive = false;
        respond_echo(c, true);
        break;
    case XPU_R_RESET:
        conn_reset(c);
        return;
    case XPU_R_STATS:
        respond_stats(c);
        break;
    case XPU_R_ECHO:
    case XPU_R_HEADERS:
    case XPU_R_WS:
        respond_echo(c, !r->keep_alive);
        break;
    }
    request_done(c);
}

/* RFC 6455 §4.2.1 opening handshake checks, §4.2.2 the 101. Returns false
 * after answering an error. */
static bool ws_handshake(xpu_conn_t *c, const xp_http1_head_t *h, xp_str_t query)
{
    const char *bad = NULL;
    int key_idx = xp_http1_find_header(h, XP_STR_LIT("sec-websocket-key"), 0);
    int ver_idx = xp_http1_find_header(h, XP_STR_LIT("sec-websocket-version"), 0);
    if (h->method_id != XP_HTTP1_GET)
        bad = "websocket handshake: method must be GET";
    else if (h->minor_version < 1)
        bad = "websocket handshake: HTTP/1.1 required";
    else if (!h->upgrade || !xpu_list_has_token(h->upgrade_value, "websocket"))
        bad = "websocket handshake: needs Upgrade: websocket and Connection: upgrade";
    else if (h->has_body)
        bad = "websocket handshake: unexpected body";
    else if (key_idx < 0 ||
             xp_http1_find_header(h, XP_STR_LIT("sec-websocket-key"), key_idx + 1) >= 0 ||
             !xpt_ws_key_valid(h->headers[key_idx].value.p, h->headers[key_idx].value.len))
        bad = "websocket handshake: bad Sec-WebSocket-Key";
    if (bad) {
        respond_error(c, 400, bad);
        return false;
    }
    if (ver_idx < 0 || !xp_str_eq(h->headers[ver_idx].value, XP_STR_LIT("13"))) {
        /* §4.2.2 / §4.4: unsupported version → 426 naming the one we speak. */
        xpu_buf_add(&c->req.extra, "sec-websocket-version: 13\r\n", 27);
        respond_error(c, 426, "websocket handshake: Sec-WebSocket-Version must be 13");
        return false;
    }
    char accept[XPT_WS_ACCEPT_LEN + 1];
    xpt_ws_accept(h->headers[key_idx].value.p, h->headers[key_idx].value.len, accept);
    xpu_buf_t out = {0};
    xpu_buf_addf(&out,
                 "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: "
                 "Upgrade\r\nsec-websocket-accept: %s\r\nx-xp-upstream: %s\r\n\r\n",
                 accept, server_name);
    xpu_write_take(c, &out);
    c->is_ws = true;
    c->st = XPU_ST_WS;
    xpu_stats.ws_total++;
    xpu_stats.ws_active++;
    xpu_ws_start(c, query);
    return true;
}

/* The request as JSON, the start of the echo routes' body (respond_echo
 * ends it). Built only for the routes that answer with it: the benchmarks'
 * /bytes and /ws traffic shares a core with the proxy under test, so every
 * instruction here dilutes the difference between proxies. */
static void echo_head(xpu_req_t *r, const xp_http1_head_t *h)
{
    xp_str_t t = h->target;
    xpu_buf_addf(&r->echo, "{\"server\":\"");
    xpu_buf_json(&r->echo, server_name, strlen(server_name), false);
    xpu_buf_addf(&r->echo, "\",\"method\":\"");
    xpu_buf_json(&r->echo, h->method.p, h->method.len, false);
    xpu_buf_addf(&r->echo, "\",\"path\":\"");
    xpu_buf_json(&r->echo, t.p, t.len, false);
    xpu_buf_addf(&r->echo, "\",\"headers\":{");
    bool first = true;
    for (size_t i = 0; i < h->num_headers; i++) {
        xp_str_t name = h->headers[i].name;
        if (xp_http1_find_header(h, name, 0) != (int)i)
            continue; /* joined into its first occurrence */
        xpu_buf_addf(&r->echo, "%s\"", first ? "" : ",");
        first = false;
        xpu_buf_json(&r->echo, name.p, name.len, true);
        xpu_buf_addf(&r->echo, "\":\"");
        for (int j = (int)i, k = 0; j >= 0; j = xp_http1_find_header(h, name, j + 1), k++) {
            if (k)
                xpu_buf_add(&r->echo, ",", 1);
            xpu_buf_json(&r->echo, h->headers[j].value.p, h->headers[j].value.len, false);
        }
        xpu_buf_add(&r->echo, "\"", 1);
    }
    xpu_buf_add(&r->echo, "}", 1);
}

/* Copies what the response needs out of the head and picks the route.
 * Returns false after answering an error. */
static bool on_head(xpu_conn_t *c, const xp_http1_head_t *h)
{
    xpu_req_t *r = &c->req;
    r->keep_alive = h->keep_alive;
    r->minor_version = h->minor_version;
    r->head_method = h->method_id == XP_HTTP1_HEAD;

    /* Path and query of origin-form, or of absolute-form after the
     * authority (RFC 9112 §3.2.1, §3.2.2). */
    xp_str_t t = h->target, path = t, query = xp_str("", 0);
    if (t.len && t.p[0] != '/') {
        const char *s = memmem(t.p, t.len, "://", 3);
        const char *end = t.p + t.len;
        const char *p = s ? memchr(s + 3, '/', (size_t)(end - s - 3)) : NULL;
        path = p ? xp_str(p, (size_t)(end - p)) : XP_STR_LIT("/");
    }
    const char *qm = memchr(path.p, '?', path.len);
    if (qm) {
        query = xp_str(qm + 1, (size_t)(path.p + path.len - qm - 1));
        path.len = (size_t)(qm - path.p);
    }

    r->route = XPU_R_ECHO;
    xp_str_t v;
    if (xp_str_has_prefix(path, XP_STR_LIT("/status/"))) {
        r->route = XPU_R_STATUS;
        if (!xp_str_to_u64(xp_str(path.p + 8, path.len - 8), 599, &r->arg) || r->arg < 200) {
            respond_error(c, 400, "/status/<code>: code must be 200..599");
            return false;
        }
    } else if (h->upgrade_idx >= 0 &&
               xpu_list_has_token(h->headers[h->upgrade_idx].value, "websocket")) {
        r->route = XPU_R_WS;
    } else if (xp_str_eq(path, XP_STR_LIT("/ws"))) {
        r->route = XPU_R_WS;
    } else if (xp_str_has_prefix(path, XP_STR_LIT("/bytes/"))) {
        r->route = XPU_R_BYTES;
        if (!xp_str_to_u64(xp_str(path.p + 7, path.len - 7), UINT64_C(1000000000000), &r->arg)) {
            respond_error(c, 400, "/bytes/<n>: n must be 0..10^12");
            return false;
        }
        r->chunked_resp = xpu_query_get(query, "chunked", 0, &v) && xp_str_eq(v, XP_STR_LIT("1"));
    } else if (xp_str_has_prefix(path, XP_STR_LIT("/delay/"))) {
        r->route = XPU_R_DELAY;
        if (!xp_str_to_u64(xp_str(path.p + 7, path.len - 7), 3600000, &r->arg)) {
            respond_error(c, 400, "/delay/<ms>: ms must be 0..3600000");
            return false;
        }
    } else if (xp_str_eq(path, XP_STR_LIT("/upload"))) {
        r->route = XPU_R_UPLOAD;
        /* ?digest=none: count only. The benchmarks' upload shares a core
         * with the proxy, where hashing a GiB would take more of it than
         * the proxy does. */
        if (!(xpu_query_get(query, "digest", 0, &v) && xp_str_eq(v, XP_STR_LIT("none")))) {
            r->sha = EVP_MD_CTX_new();
            EVP_DigestInit_ex(r->sha, EVP_sha256(), NULL);
        }
    } else if (xp_str_eq(path, XP_STR_LIT("/close"))) {
        r->route = XPU_R_CLOSE;
    } else if (xp_str_eq(path, XP_STR_LIT("/reset"))) {
        r->route = XPU_R_RESET;
    } else if (xp_str_eq(path, XP_STR_LIT("/stats"))) {
        r->route = XPU_R_STATS;
    } else if (xp_str_eq(path, XP_STR_LIT("/headers"))) {
        r->route = XPU_R_HEADERS;
        for (int i = 0; xpu_query_get(query, "set", i, &v); i++) {
            xpu_buf_t d = {0};
            bool ok = xpu_pct_decode(v, &d);
            const char *colon = ok ? memchr(d.p, ':', d.len) : NULL;
            ok = colon && colon > d.p;
            for (const char *p = d.p; ok && p < colon; p++)
                ok = xpu_is_tchar((unsigned char)*p);
            for (const char *p = colon ? colon + 1 : NULL; ok && p < d.p + d.len; p++)
                ok = *p != '\r' && *p != '\n' && *p != '\0';
            if (ok) {
                xpu_buf_add(&r->extra, d.p, d.len);
                xpu_buf_add(&r->extra, "\r\n", 2);
            }
            xpu_buf_free(&d);
            if (!ok) {
                respond_error(c, 400, "/headers: set=Name:Value with a token name");
                return false;
            }
        }
    }
    if (r->route == XPU_R_WS)
        return ws_handshake(c, h, query);
    if (r->route == XPU_R_ECHO || r->route == XPU_R_HEADERS || r->route == XPU_R_CLOSE ||
        r->route == XPU_R_DELAY)
        echo_head(r, h);
    return true;
}

/* ---- the per-connection state machine --------------------------------- */

static void conn_process(xpu_conn_t *c)
{
    while (!c->closing && c->queued < XPU_WRITE_HIGH) {
        if (c->st == XPU_ST_HEAD) {
            if (c->len == 0)
                break;
            xp_header_t hdrs[XP_HTTP1_DEFAULT_MAX_HEADERS_COUNT];
            xp_http1_head_t h;
            /* The whole head is re-parsed on each arrival: simpler than
             * keeping parser state across buffer compaction, and heads
             * are small. */
            xp_http1_head_init(&h, hdrs, XP_ARRAY_SIZE(hdrs));
            int rc = xp_http1_parse_request(&h, c->buf + c->start, c->len, &limits);
            if (rc == XP_EAGAIN)
                break;
            if (rc < 0) {
                respond_error(c, h.err_status ? h.err_status : 400, h.err_msg);
                break;
            }
            c->nreq++;
            xpu_stats.requests_total++;
            XPU_LOG("conn %" PRIu64 " #%" PRIu64 ": %.*s %.*s", c->id, c->nreq, (int)h.method.len,
                    h.method.p, (int)h.target.len, h.target.p);
            bool ok = on_head(c, &h);
            xp_http1_body_init(&c->body, &h, &limits);
            bool body = h.has_body, expect = h.expect_100_continue;
            xpu_consume(c, (size_t)rc);
            if (!ok)
                break;
            if (c->st == XPU_ST_WS)
                continue;
            if (!body) {
                dispatch(c);
                continue;
            }
            /* RFC 9110 §10.1.1: the client may wait for 100 before the body. */
            if (expect)
                xpu_write(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            c->st = XPU_ST_BODY;
        } else if (c->st == XPU_ST_BODY) {
            xp_str_t spans[16];
            size_t consumed = 0, nspans = 0;
            int rc = xp_http1_body_decode(&c->body, c->buf + c->start, c->len, &consumed, spans,
                                          XP_ARRAY_SIZE(spans), &nspans);
            for (size_t i = 0; i < nspans; i++) {
                c->req.body_bytes += spans[i].len;
                if (c->req.sha)
                    EVP_DigestUpdate(c->req.sha, spans[i].p, spans[i].len);
            }
            xpu_consume(c, consumed);
            if (rc < 0) {
                respond_error(c, c->body.err_status ? c->body.err_status : 400, c->body.err_msg);
                break;
            }
            if (rc == XP_HTTP1_DONE) {
                dispatch(c);
                continue;
            }
            if (c->len == 0)
                break;
        } else if (c->st == XPU_ST_WS) {
            xpu_ws_process(c);
            break;
        } else {
            break; /* WAIT, CLOSING */
        }
    }
    update_reading(c);
}

/* ---- listeners, signals, main ----------------------------------------- */

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    xpu_conn_t *c = xp_calloc(1, sizeof(*c));
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->closing = true;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->buf = xp_malloc(XPU_READ_BUF);
    c->id = next_conn_id++;
    c->st = XPU_ST_HEAD;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    xpu_stats.connections_total++;
    xpu_stats.connections_active++;
    XPU_LOG("conn %" PRIu64 ": accepted", c->id);
    update_reading(c);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    XPU_LOG("signal %d: stopping", signum);
    stopping = true;
    for (int i = 0; i < nlisteners; i++)
        uv_close((uv_handle_t *)&listeners[i], NULL);
    while (conns)
        xpu_conn_close(conns);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
}

static int parse_listen(const char *spec, struct sockaddr_storage *ss)
{
    const char *colon = strrchr(spec, ':');
    if (!colon)
        return -1;
    char host[128];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || colon[1] == '\0')
        return -1;
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)ss);
    }
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: xp_upstream --listen HOST:PORT [--listen ...] [--name NAME]\n"
               "                   [--port-file FILE] [-v]\n"
               "Port 0 picks a free port; --port-file gets the bound ports, one per line,\n"
               "once every listener is up. SIGTERM/SIGINT stop it cleanly.\n"
               "Endpoints: /status/<code> /bytes/<n>[?chunked=1] /upload[?digest=none] /delay/<ms> "
               "/close\n"
               "/reset /headers?set=Name:Value /stats /ws[?close_after=N&hello=1];\n"
               "anything else echoes the request as JSON.\n");
}

int main(int argc, char **argv)
{
    const char *listen_specs[MAX_LISTEN];
    int nspecs = 0;
    const char *port_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--listen") && has_val) {
            if (nspecs == MAX_LISTEN) {
                fprintf(stderr, "xp_upstream: at most %d --listen\n", MAX_LISTEN);
                return 2;
            }
            listen_specs[nspecs++] = argv[++i];
        } else if (!strcmp(a, "--name") && has_val) {
            server_name = argv[++i];
        } else if (!strcmp(a, "--port-file") && has_val) {
            port_file = argv[++i];
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            xpu_verbose = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "xp_upstream: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (nspecs == 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-\n"[i % 64];
    xp_http1_limits_default(&limits);
    loop = uv_default_loop();

    char ports[MAX_LISTEN * 8] = "";
    for (int i = 0; i < nspecs; i++) {
        struct sockaddr_storage ss;
        if (parse_listen(listen_specs[i], &ss) < 0) {
            fprintf(stderr, "xp_upstream: bad --listen '%s' (HOST:PORT)\n", listen_specs[i]);
            return 2;
        }
        uv_tcp_init(loop, &listeners[i]);
        nlisteners++;
        int rc = uv_tcp_bind(&listeners[i], (struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&listeners[i], 1024, on_connection);
        if (rc < 0) {
            fprintf(stderr, "xp_upstream: listen %s: %s\n", listen_specs[i], uv_strerror(rc));
            return 1;
        }
        struct sockaddr_storage bound;
        int blen = sizeof(bound);
        uv_tcp_getsockname(&listeners[i], (struct sockaddr *)&bound, &blen);
        int port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
        snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%d\n", port);
        XPU_LOG("listening on %s (port %d)", listen_specs[i], port);
    }
    if (port_file) {
        /* Written to a temporary name and renamed: readers never see a
         * partial file. */
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", port_file, (int)getpid());
        FILE *f = fopen(tmp, "w");
        if (!f || fputs(ports, f) < 0 || fclose(f) != 0 || rename(tmp, port_file) != 0) {
            fprintf(stderr, "xp_upstream: --port-file %s: %s\n", port_file, strerror(errno));
            return 1;
        }
    }
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);

    uv_run(loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(loop);
    if (rc != 0) {
        fprintf(stderr, "xp_upstream: loop not empty at exit: %s\n", uv_strerror(rc));
        return 1;
    }
    return 0;
}
