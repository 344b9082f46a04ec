/* Internals of xp_upstream shared by upstream.c (HTTP/1.1) and
 * upstream_ws.c (WebSocket echo). Not a library: one process, one loop. */
#ifndef XP_TESTS_TOOLS_UPSTREAM_H
#define XP_TESTS_TOOLS_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <uv.h>

#include "proxy/http1/http1.h"
#include "tests/tools/ws.h"

/* Read buffer per connection: a whole request head (the parser's 60 KiB
 * limit) always fits. */
#define XPU_READ_BUF (128 * 1024)
/* Output backpressure: stop producing above HIGH queued bytes, resume
 * below LOW. */
#define XPU_WRITE_HIGH (256 * 1024)
#define XPU_WRITE_LOW  (64 * 1024)

/* A growable byte string (responses, JSON). Aborts on OOM: sizes here are
 * ours, never the peer's. */
typedef struct {
    char *p;
    size_t len, cap;
} xpu_buf_t;

void xpu_buf_add(xpu_buf_t *b, const void *p, size_t n);
void xpu_buf_addf(xpu_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends p[0..n) as JSON string contents (no quotes); lower: ASCII lowercased. */
void xpu_buf_json(xpu_buf_t *b, const char *p, size_t n, bool lower);

typedef enum {
    XPU_ST_HEAD,    /* waiting for / parsing a request head */
    XPU_ST_BODY,    /* reading the request body */
    XPU_ST_WAIT,    /* response in progress (timer, streaming); input paused */
    XPU_ST_WS,      /* upgraded: WebSocket frames */
    XPU_ST_CLOSING, /* last response queued: shutting down, input discarded */
} xpu_state_t;

typedef enum {
    XPU_R_ECHO,
    XPU_R_STATUS,
    XPU_R_BYTES,
    XPU_R_UPLOAD,
    XPU_R_DELAY,
    XPU_R_CLOSE,
    XPU_R_RESET,
    XPU_R_HEADERS,
    XPU_R_STATS,
    XPU_R_WS,
} xpu_route_t;

/* What is kept of a request once its head bytes are consumed. */
typedef struct {
    xpu_route_t route;
    uint64_t arg; /* status code, byte count or delay in ms */
    bool chunked_resp;
    bool head_method;
    bool keep_alive;
    int minor_version;
    uint64_t body_bytes;
    EVP_MD_CTX *sha; /* /upload only */
    xpu_buf_t echo;  /* JSON prefix: server, method, path, headers */
    xpu_buf_t extra; /* extra response header lines (/headers) */
} xpu_req_t;

/* WebSocket side of a connection (upstream_ws.c). */
typedef struct {
    bool in_frame;    /* a frame header was parsed, payload pending */
    bool in_message;  /* a fragmented data message is open */
    bool echo_frame;  /* the current data frame is being echoed */
    bool close_sent;  /* our close frame is queued: no more data (§5.5.1) */
    xpt_ws_frame_t f; /* current frame */
    uint64_t done;    /* payload bytes of f handled */
    uint64_t messages;
    uint64_t close_after; /* 0: never initiate a close */
    uint8_t ctl[XPT_WS_MAX_CONTROL];
} xpu_ws_t;

typedef struct xpu_conn_s {
    uv_tcp_t tcp;
    uv_timer_t timer; /* /delay, lingering close, WebSocket close wait */
    uv_shutdown_t shutdown;
    struct xpu_conn_s *prev, *next;
    int handles; /* open libuv handles; freed at 0 */
    uint64_t id;
    uint64_t nreq;
    xpu_state_t st;
    bool reading, closing, is_ws;
    bool shut, shut_done; /* shutdown requested / completed */
    bool eof;             /* the peer finished sending */
    size_t queued;        /* bytes handed to uv_write, not yet completed */
    char *buf;
    size_t start, len; /* unprocessed input: buf[start..start+len) */
    xp_http1_body_t body;
    xpu_req_t req;
    uint64_t stream_left; /* /bytes: payload still to queue */
    xpu_ws_t ws;
} xpu_conn_t;

typedef struct {
    uint64_t connections_total, connections_active, requests_total, ws_total, ws_active;
} xpu_stats_t;

extern xpu_stats_t xpu_stats;
extern bool xpu_verbose;

#define XPU_LOG(...)                                                                               \
    do {                                                                                           \
        if (xpu_verbose)                                                                           \
            xpu_log(__VA_ARGS__);                                                                  \
    } while (0)
void xpu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Queues a copy of data[0..len) for writing. */
void xpu_write(xpu_conn_t *c, const void *data, size_t len);
/* Writes b's bytes, taking its memory; b is left empty. */
void xpu_write_take(xpu_conn_t *c, xpu_buf_t *b);
/* Closes after the queued writes: shutdown, then discard input until EOF
 * (or a 2 s timer) so unread input does not turn into an RST that could
 * destroy the response in flight. */
void xpu_graceful_close(xpu_conn_t *c);
/* Closes now (pending writes are cancelled). */
void xpu_conn_close(xpu_conn_t *c);
void xpu_consume(xpu_conn_t *c, size_t n);

/* upstream_ws.c: the handshake succeeded and the 101 is queued; query is
 * the request's query string (may be empty). */
void xpu_ws_start(xpu_conn_t *c, xp_str_t query);
/* Handles buffered frames; stops at backpressure or when input runs out. */
void xpu_ws_process(xpu_conn_t *c);

/* upstream_util.c. */
void xpu_buf_free(xpu_buf_t *b);
/* Value of the n-th (0-based) name=value of a query string, or false. */
bool xpu_query_get(xp_str_t query, const char *name, int n, xp_str_t *value);
/* Percent-decodes s into b ('+' stays '+'). False on a bad escape. */
bool xpu_pct_decode(xp_str_t s, xpu_buf_t *b);
/* RFC 9110 §5.6.2 tchar. */
bool xpu_is_tchar(unsigned char ch);
/* True when the comma-separated list value contains token (any case). */
bool xpu_list_has_token(xp_str_t v, const char *token);

#endif
