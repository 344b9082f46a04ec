/* Internals of proxy/http: the connection and stream objects. */
#ifndef XP_HTTP_HCM_INTERNAL_H
#define XP_HTTP_HCM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/accesslog/accesslog.h"
#include "proxy/config/config.h"
#include "proxy/core/wctx.h"
#include "proxy/http/hcm.h"
#include "proxy/http1/http1.h"
#include "proxy/net/sock.h"
#include "proxy/net/tunnel.h"
#include "proxy/router/route.h"
#include "proxy/upstream/cluster.h"

/* Stats of one HTTP connection manager, Envoy's names under
 * "http.<stat_prefix>.". Shared by every connection with that prefix. */
typedef struct xp_hcm_stats {
    char *prefix;
    struct xp_hcm_stats *next;
    xp_stat_t *downstream_cx_total, *downstream_cx_active, *downstream_cx_http1_total,
        *downstream_cx_http1_active, *downstream_cx_destroy, *downstream_cx_protocol_error,
        *downstream_cx_idle_timeout, *downstream_cx_upgrades_total, *downstream_cx_upgrades_active,
        *downstream_cx_rx_bytes_total, *downstream_cx_tx_bytes_total, *downstream_cx_destroy_remote,
        *downstream_cx_destroy_local;
    xp_stat_t *downstream_rq_total, *downstream_rq_http1_total, *downstream_rq_active,
        *downstream_rq_completed, *downstream_rq_timeout, *downstream_rq_idle_timeout,
        *downstream_rq_ws_on_non_ws_route, *no_route, *no_cluster, *rq_direct_response,
        *rq_redirect, *rs_too_large, *downstream_rq_header_timeout;
    xp_stat_t *downstream_rq_xx[6];
} xp_hcm_stats_t;

xp_hcm_stats_t *xp_hcm_stats_get(xp_stats_t *store, const char *prefix);

typedef enum {
    XP_HS_ROUTING,    /* head parsed, not yet forwarded */
    XP_HS_CONNECTING, /* waiting for an upstream connection */
    XP_HS_UPSTREAM,   /* request going up / response coming down */
    XP_HS_RETRY_WAIT, /* backing off before another attempt */
    XP_HS_LOCAL,      /* a local reply is being sent */
    XP_HS_TUNNEL,     /* upgraded: bytes flow both ways */
    XP_HS_DONE,
} xp_hs_state_t;

const char *xp_hs_state_to_str(xp_hs_state_t s);

typedef struct xp_hconn xp_hconn_t;
typedef struct xp_hstream xp_hstream_t;

/* A retained piece of request body, kept for retries. */
typedef struct {
    xp_chunk_t *chunk;
    const char *p;
    size_t len;
} xp_body_span_t;

struct xp_hstream {
    xp_hconn_t *conn;
    xp_hs_state_t state;
    uint64_t start_us; /* wall clock */
    uint64_t start_mono_ms;
    uint64_t upstream_start_ms;

    /* Request: the head lives in head_chunk (referenced) for the stream's life. */
    xp_chunk_t *head_chunk;
    xp_http1_head_t req;
    xp_header_t *req_headers; /* req.headers: the fields received, as sanitized
                               * before routing, room for what that adds */
    xp_http1_body_t req_body;
    bool req_complete; /* whole request body received */
    bool req_sent;     /* whole request (head+body) queued upstream */
    uint64_t req_body_bytes;
    xp_body_span_t *retained; /* body kept for retries */
    size_t n_retained, cap_retained;
    uint64_t retained_bytes;
    bool retain_overflow; /* too big to retry */
    xp_str_t host;        /* Host header value */
    xp_str_t path;        /* request-target */
    char *rewritten_path; /* malloc'd, or NULL */
    char *norm_path;      /* malloc'd normalized target, or NULL */
    char request_id[40];  /* generated x-request-id, "" when none was */
    bool internal;        /* Envoy's internal request: x-envoy-internal: true */
    bool edge;            /* an external request at an edge (use_remote_address) */
    bool sanitized;

    /* Routing: references held until the stream ends. */
    xp_route_table_t *table;
    const xp_vhost_t *vhost; /* borrowed from table */
    xp_route_t *route;
    const xp_weighted_cluster_t *wc; /* borrowed from route */
    xp_wcluster_t *cluster;
    xp_host_t *host_sel; /* reference */
    const xp_retry_policy_t *retry;
    xp_retry_policy_t *retry_own; /* malloc'd when an internal request's x-envoy-*
                                   * fields shape the policy (retry points here) */
    uint64_t timeout_ms;          /* the route's, or x-envoy-upstream-rq-timeout-ms */
    uint64_t per_try_ms;          /* the policy's, or x-envoy-upstream-rq-per-try-timeout-ms;
                                   * 0 unless it fires before timeout_ms */
    bool timeout_204;             /* x-envoy-upstream-rq-timeout-alt-response: 204, not 504 */
    uint32_t attempts;
    bool pending;    /* counted in upstream_rq_pending_active */
    bool retry_open; /* holds a slot of the max_retries breaker */
    bool upgrade;    /* an allowed upgrade request */
    uint64_t hash;
    bool has_hash;

    /* Upstream. */
    xp_uconn_t *up;
    xp_chunk_t *resp_buf; /* accumulates a split response head */
    size_t resp_len;
    xp_http1_head_t resp;
    bool resp_scanning;        /* a response head is being parsed */
    xp_header_t *resp_headers; /* resp.headers once the final head is parsed */
    xp_http1_body_t resp_body;
    bool resp_started; /* response head sent downstream */
    bool resp_complete;
    bool resp_chunked_down; /* re-encoding the body as chunked downstream */
    bool resp_close_down;   /* downstream must close after this response */
    uint64_t resp_body_bytes;
    int status;
    uint32_t flags; /* XP_RF_* */
    const char *details;

    uv_timer_t timer; /* route / per-try timeout, retry backoff, VHDS wait */
    bool timer_init;
    bool timer_closing;

    /* On-demand VHDS (hcm_vhds.c): at most one wait per stream, while
     * linked in the worker's list of waiting streams. */
    bool vhds_tried;
    char *vhds_key; /* "<route config>/<host>" while waiting */
    xp_hstream_t *vhds_prev, *vhds_next;
};

typedef enum {
    XP_HC_ACTIVE,  /* reading requests */
    XP_HC_TUNNEL,  /* upgraded */
    XP_HC_CLOSING, /* closing: waiting for handles */
} xp_hc_state_t;

/* What only an HTTP/1.1 connection needs: the input being parsed, the
 * limits, a config switch waiting for the next request, and the addresses
 * as text (x-forwarded-for, access logs). Allocated at accept and freed when
 * the connection becomes a tunnel, which needs none of it. */
typedef struct {
    /* Unconsumed input: in->data[in_off .. in_len). */
    xp_chunk_t *in;
    size_t in_off, in_len;
    xp_http1_head_t head_scan; /* resumable parse of the next head */
    bool scanning;
    xp_http1_limits_t limits;
    /* Set by a config change: what the next request will run on. */
    xp_listener_cfg_t *next_listener;
    xp_filter_chain_t *next_chain;
    char peer[64], peer_ip[56], local[64];
} xp_hconn_http_t;

/* A downstream connection. While it speaks HTTP/1.1, `http` holds the
 * parsing state; once upgraded it is only a socket, the idle timer (which
 * becomes the tunnel's idle timeout), the tunnel and the references every
 * connection keeps (listener, filter chain, stats). */
struct xp_hconn {
    xp_conn_link_t link; /* first */
    xp_wctx_t *w;
    xp_hc_state_t state;
    bool close_after; /* Connection: close, or a protocol error */
    bool peer_eof;
    bool processing;    /* inside xp_hconn_process */
    bool lingering;     /* closing: reading and discarding until FIN or timeout */
    bool on_old_config; /* counted in downstream_cx_old_config */
    int open_handles;   /* sock + idle_timer */
    xp_sock_t sock;
    xp_listener_cfg_t *listener;
    xp_filter_chain_t *chain;
    const xp_hcm_cfg_t *hcm; /* borrowed from chain */
    xp_listener_stats_t *lstats;
    xp_hcm_stats_t *st;
    uint64_t id;
    xp_hconn_http_t *http; /* NULL once upgraded */
    xp_hstream_t *stream;

    /* Connection idle / request headers / stream idle timeout; the
     * tunnel's idle timeout once upgraded. While ACTIVE it is lazy
     * (net/lazy_timer.h): idle_due is when the timeout ends, 0 for none. */
    uv_timer_t idle_timer;
    union {
        uint64_t idle_due;  /* ACTIVE */
        xp_tunnel_t tunnel; /* TUNNEL */
    };
    xp_uconn_t *tunnel_up;
};

/* hcm.c */
/* The worker's scratch array of at least n fields to parse a head into;
 * valid until the next call on this thread. */
xp_header_t *xp_hcm_scratch_headers(size_t n);
/* Copies head's fields (parsed into the scratch) into a new array with room
 * for the fields sanitizing adds, points head at it and returns it (the
 * caller frees it). */
xp_header_t *xp_hcm_keep_headers(xp_http1_head_t *head);
void xp_hconn_process(xp_hconn_t *c);
void xp_hconn_stream_done(xp_hconn_t *c);
void xp_hconn_close(xp_hconn_t *c, bool local);
void xp_hconn_tunnel_done(xp_hconn_t *c);
/* Frees the HTTP/1.1 state (upgraded, or at the end); idempotent. */
void xp_hconn_http_free(xp_hconn_t *c);
/* Activity on the stream: restarts the stream idle timeout. */
void xp_hconn_touch(xp_hconn_t *c);
void xp_hstream_free(xp_hstream_t *s);
void xp_hstream_set_state(xp_hstream_t *s, xp_hs_state_t st);
void xp_hstream_local_reply(xp_hstream_t *s, int status, const char *body, uint32_t flags,
                            const char *details);
/* A redirect: a local reply with a location and no body. */
void xp_hstream_redirect(xp_hstream_t *s, int status, xp_str_t location);
/* "Date" value for this second, cached per thread. */
const char *xp_hcm_date(void);
void xp_hstream_write_down(xp_hstream_t *s, xp_chunk_t *c, const char *p, size_t len);
uint64_t xp_now_ms(xp_hconn_t *c);

/* hcm_upstream.c */
void xp_hstream_route_and_forward(xp_hstream_t *s);
/* Picks the table, virtual host and route and acts on them (the part of
 * route_and_forward that runs again after an on-demand VHDS wait). */
void xp_hstream_route(xp_hstream_t *s);
/* A reply xproxy makes itself, as one chunk: the head, then blen bytes of
 * body (*head_len is the head's length). The head has what Envoy gives such
 * a reply (content-length but on a 204, content-type with a body, location
 * when given), the chosen route's response edits, then what the connection
 * manager adds to every response. NULL when out of memory. */
xp_chunk_t *xp_hstream_reply_chunk(xp_hstream_t *s, int status, const char *body, size_t blen,
                                   xp_str_t location, size_t *head_len);
/* (Re)arms the stream timer. */
void xp_hstream_timer_start(xp_hstream_t *s, uv_timer_cb cb, uint64_t ms);
void xp_hstream_request_body(xp_hstream_t *s, xp_chunk_t *c, const char *p, size_t len,
                             bool complete);
void xp_hstream_abort_upstream(xp_hstream_t *s);
void xp_hstream_resume_upstream_read(xp_hstream_t *s);
void xp_hstream_release(xp_hstream_t *s);
void xp_hstream_start_request_timeout(xp_hstream_t *s);

/* hcm_vhds.c */
/* The stream's host matched no virtual host of s->table, which uses VHDS,
 * and the HCM has the on_demand filter: asks the main thread for
 * "<route config>/<host>" and parks the stream (its table reference is
 * dropped) until the answer or the table's wait bound. False when it does
 * not wait (already waited once, or nothing can answer). */
bool xp_hstream_vhds_wait(xp_hstream_t *s);
/* Unparks a stream that ends while waiting (xp_hstream_free). */
void xp_hstream_vhds_cancel(xp_hstream_t *s);

#endif
