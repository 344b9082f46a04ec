/* The REST-JSON transport (xds_protocol.rst, "REST-JSON polling
 * subscriptions"): no stream; per type, an HTTP/1.1 POST of the JSON form of
 * a DiscoveryRequest to the type's path (the google.api.http "post" option
 * of its Fetch* RPC, e.g. /v3/discovery:listeners), answered with a JSON
 * DiscoveryResponse (200) or 304 when the server has nothing new.
 *
 * Each type has a poller running on the client's loop: it connects to a host
 * of the management server's cluster, writes the request with
 * "Connection: close", reads the response (framed by the project's HTTP/1.1
 * parser, so Content-Length, chunked and read-until-close all work), closes,
 * and sleeps refresh_delay plus a random jitter below refresh_delay (Envoy's
 * RestApiFetcher) before the next poll. One poll per type is in flight at a
 * time, as the protocol expects. A poll that takes longer than
 * request_timeout (connect to last byte), cannot connect, or gets another
 * status fails: update_failure counts it, the next host is tried at the next
 * poll, and nothing accepted is forgotten.
 *
 * ACK/NACK: the request's version_info is the last accepted version; a
 * rejected response's error_detail goes with every poll until a response is
 * accepted (Envoy itself sends none; the server learns from it what
 * gRPC streams would have told it). The response nonce, optional in REST,
 * is echoed when the server sends one. */
#include "xds/client/client_internal.h"

#include "proxy/common/diag.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/http1/http1.h"
#include "xds/codec/codec.h"

#include "google/rpc/status.pb-c.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A response body larger than this fails the poll (a peer-controlled size;
 * 10,000 routes are a few MiB of JSON). */
#define XP__REST_MAX_RESPONSE ((size_t)256 << 20)
#define XP__REST_MAX_HEADERS  64

/* The REST paths of Envoy's v3 discovery services (their Fetch* RPCs). */
static const struct {
    const char *type_url, *path;
} xp__rest_paths[] = {
    {XP_XDS_TYPE_LISTENER, "/v3/discovery:listeners"},
    {XP_XDS_TYPE_ROUTE, "/v3/discovery:routes"},
    {XP_XDS_TYPE_CLUSTER, "/v3/discovery:clusters"},
    {XP_XDS_TYPE_ENDPOINT, "/v3/discovery:endpoints"},
    {XP_XDS_TYPE_SECRET, "/v3/discovery:secrets"},
    {"type.googleapis.com/envoy.service.runtime.v3.Runtime", "/v3/discovery:runtime"},
    {"type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
     "/v3/discovery:scoped-routes"},
    {"type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
     "/v3/discovery:extension_configs"},
};

const char *xp__rest_path(const char *type_url)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__rest_paths); i++)
        if (strcmp(xp__rest_paths[i].type_url, type_url) == 0)
            return xp__rest_paths[i].path;
    return NULL;
}

/* Poller states; poll_set_state() asserts the legal transitions. */
typedef enum {
    XP__POLL_IDLE,     /* nothing to ask for yet (a named type without names) */
    XP__POLL_WAIT,     /* the timer will start the next poll */
    XP__POLL_RESOLVE,  /* resolving the host name */
    XP__POLL_CONNECT,  /* TCP connect in flight */
    XP__POLL_EXCHANGE, /* request written or being written, response being read */
    XP__POLL_DONE,     /* outcome handled; waiting for the socket/resolver to be released */
} xp__poll_state_t;

struct xp__rest_poll {
    xp__xds_type_t *t;
    xp__poll_state_t state;
    uv_timer_t timer; /* WAIT: the next poll; RESOLVE..EXCHANGE: request_timeout */
    uv_tcp_t tcp;
    bool tcp_open; /* from uv_tcp_init until its close callback */
    uv_getaddrinfo_t gai;
    bool gai_pending;
    uv_connect_t connect;
    uv_write_t write;
    char *req;  /* the request bytes (until the socket is released) */
    char *host; /* the host being polled ("name:port"), for logs */
    uint64_t started_ms;
    bool up;    /* the last poll got an HTTP answer */
    bool again; /* the subscription changed during a poll: poll again at once */
    /* response */
    char *rbuf;
    size_t rlen, rcap;
    xp_http1_head_t head;
    xp_header_t headers[XP__REST_MAX_HEADERS];
    size_t head_len; /* 0 until the final head is parsed */
    int status;
    xp_http1_body_t body;
    size_t body_off; /* bytes of rbuf the body decoder consumed */
    char *bbuf;      /* the decoded body */
    size_t blen, bcap;
};

static const char *poll_state_to_str(xp__poll_state_t st)
{
    switch (st) {
    case XP__POLL_IDLE:
        return "idle";
    case XP__POLL_WAIT:
        return "wait";
    case XP__POLL_RESOLVE:
        return "resolve";
    case XP__POLL_CONNECT:
        return "connect";
    case XP__POLL_EXCHANGE:
        return "exchange";
    case XP__POLL_DONE:
        return "done";
    }
    return "?";
}

static void poll_set_state(xp__rest_poll_t *p, xp__poll_state_t to)
{
    xp__poll_state_t from = p->state;
    bool ok = false;
    switch (to) {
    case XP__POLL_IDLE:
        ok = from == XP__POLL_WAIT;
        break;
    case XP__POLL_WAIT:
        ok = from == XP__POLL_IDLE || from == XP__POLL_DONE;
        break;
    case XP__POLL_RESOLVE:
        ok = from == XP__POLL_WAIT;
        break;
    case XP__POLL_CONNECT:
        ok = from == XP__POLL_WAIT || from == XP__POLL_RESOLVE;
        break;
    case XP__POLL_EXCHANGE:
        ok = from == XP__POLL_CONNECT;
        break;
    case XP__POLL_DONE:
        ok = from == XP__POLL_RESOLVE || from == XP__POLL_CONNECT || from == XP__POLL_EXCHANGE;
        break;
    }
    (void)ok;
    assert(ok && "illegal REST poller state transition");
    XP_TRACE("xds: REST %s: %s -> %s", p->t->type_url, poll_state_to_str(from),
             poll_state_to_str(to));
    p->state = to;
}

static bool poll_has_interest(const xp__rest_poll_t *p)
{
    return p->t->wildcard || p->t->names.n > 0;
}

static void on_poll_timer(uv_timer_t *timer);

/* Arms the timer for the next poll. */
static void poll_schedule(xp__rest_poll_t *p, uint64_t delay_ms)
{
    poll_set_state(p, XP__POLL_WAIT);
    uv_timer_start(&p->timer, on_poll_timer, delay_ms, 0);
}

xp__rest_poll_t *xp__rest_poll_new(xp__xds_type_t *t)
{
    xp_xds_client_t *c = t->client;
    xp__rest_poll_t *p = xp_calloc(1, sizeof(*p));
    p->t = t;
    p->state = XP__POLL_IDLE;
    uv_timer_init(c->loop, &p->timer);
    p->timer.data = p;
    c->open_handles++;
    return p;
}

void xp__rest_subscription_changed(xp__xds_type_t *t)
{
    xp__rest_poll_t *p = t->poll;
    if (t->client->closing)
        return;
    /* Through the timer, so a subscribe() from inside on_update never
     * starts I/O re-entrantly. */
    if (p->state == XP__POLL_IDLE || p->state == XP__POLL_WAIT) {
        if (p->state == XP__POLL_WAIT)
            uv_timer_stop(&p->timer);
        else
            poll_set_state(p, XP__POLL_WAIT);
        uv_timer_start(&p->timer, on_poll_timer, 0, 0);
    } else {
        p->again = true;
    }
}

/* ---- ending a poll ---- */

static void response_reset(xp__rest_poll_t *p)
{
    free(p->rbuf);
    free(p->bbuf);
    free(p->req);
    free(p->host);
    p->rbuf = p->bbuf = p->req = p->host = NULL;
    p->rlen = p->rcap = p->blen = p->bcap = 0;
    p->head_len = 0;
    p->body_off = 0;
    p->status = 0;
}

/* Every handle and request of the poll is back: free its buffers and
 * schedule the next one. */
static void poll_released(xp__rest_poll_t *p)
{
    xp_xds_client_t *c = p->t->client;
    if (p->tcp_open || p->gai_pending)
        return;
    response_reset(p);
    if (c->closing)
        return;
    uint64_t delay = c->refresh_ms + xp__client_random(c) % c->refresh_ms;
    if (p->again)
        delay = 0;
    p->again = false;
    poll_schedule(p, delay);
}

static void on_tcp_closed(uv_handle_t *h)
{
    xp__rest_poll_t *p = h->data;
    xp_xds_client_t *c = p->t->client;
    p->tcp_open = false;
    poll_released(p);
    xp__client_handle_released(c); /* may free p and c: last */
}

/* The poll is over (its outcome is already handled): stop the timeout and
 * release the socket or the resolver. */
static void poll_end(xp__rest_poll_t *p)
{
    poll_set_state(p, XP__POLL_DONE);
    uv_timer_stop(&p->timer);
    if (p->tcp_open && !uv_is_closing((uv_handle_t *)&p->tcp))
        uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
    if (p->gai_pending)
        uv_cancel((uv_req_t *)&p->gai); /* its callback still runs */
    poll_released(p);
}

static void poll_fail(xp__rest_poll_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A poll that failed: counted, logged, the next host is tried next time. */
static void poll_fail(xp__rest_poll_t *p, const char *fmt, ...)
{
    xp_xds_client_t *c = p->t->client;
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    XP_WARN("xds: REST poll of %s on %s failed: %s", xp__rest_path(p->t->type_url),
            p->host ? p->host : "?", why);
    if (p->t->st.failure)
        xp_stat_inc(p->t->st.failure);
    if (c->n_hosts > 1)
        c->host_idx = (c->host_idx + 1) % c->n_hosts;
    xp__client_set_up(c, &p->up, false);
    poll_end(p);
}

/* ---- responses ---- */

/* A 200: the body is a JSON DiscoveryResponse, handled like a gRPC SotW
 * response; a rejection is remembered for the next poll's error_detail. */
static void handle_response(xp__rest_poll_t *p)
{
    xp__xds_type_t *t = p->t;
    xp_diag_t d;
    xp_diag_init(&d);
    Envoy__Service__Discovery__V3__DiscoveryResponse *r =
        (Envoy__Service__Discovery__V3__DiscoveryResponse *)xp_codec_parse(
            p->bbuf ? p->bbuf : "", p->blen,
            &envoy__service__discovery__v3__discovery_response__descriptor, "", &d);
    char *err = NULL;
    int rc = -1;
    if (r == NULL) {
        char *why = xp_diag_join(&d, XP_DIAG_ERROR);
        err = xp_asprintf("cannot decode the JSON DiscoveryResponse: %s", why);
        free(why);
        XP_WARN("xds: rejecting a REST response for %s: %s", t->type_url, err);
        xp__type_stats_update(t, -1, "");
    } else if (r->type_url && r->type_url[0] && strcmp(r->type_url, t->type_url) != 0) {
        err = xp_asprintf("response type_url %s does not match the requested %s", r->type_url,
                          t->type_url);
        XP_WARN("xds: rejecting a REST response for %s: %s", t->type_url, err);
        xp__type_stats_update(t, -1, "");
    } else {
        rc = xp__sotw_apply(t, r, &err);
    }
    xp_diag_free(&d);
    if (r)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    free(t->nack);
    t->nack = rc == 0 ? NULL : err;
    if (rc == 0)
        free(err);
}

/* The whole response is in: act on its status. */
static void poll_complete(xp__rest_poll_t *p)
{
    xp_xds_client_t *c = p->t->client;
    XP_DEBUG("xds: REST %s on %s: %d (%zu bytes) in %llu ms", xp__rest_path(p->t->type_url),
             p->host, p->status, p->blen, (unsigned long long)(uv_now(c->loop) - p->started_ms));
    if (p->status != 200 && p->status != 304) {
        int n = (int)(p->blen < 200 ? p->blen : 200);
        poll_fail(p, "HTTP status %d%s%.*s", p->status, n ? ": " : "", n, p->bbuf ? p->bbuf : "");
        return;
    }
    xp__client_set_up(c, &p->up, true);
    if (p->status == 200)
        handle_response(p); /* may run on_update, which may subscribe */
    poll_end(p);
}

/* Parses what arrived; completes the poll when the response is whole.
 * Returns false when the poll ended (failed or completed). */
static bool response_progress(xp__rest_poll_t *p, bool eof)
{
    xp_http1_limits_t lim;
    xp_http1_limits_default(&lim);
    while (p->head_len == 0) {
        int rc = xp_http1_parse_response(&p->head, p->rbuf, p->rlen, XP_HTTP1_POST, &lim);
        if (rc == XP_EAGAIN) {
            if (eof)
                poll_fail(p, "the connection closed before a complete response head");
            return !eof;
        }
        if (rc < 0) {
            poll_fail(p, "malformed HTTP response: %s",
                      p->head.err_msg ? p->head.err_msg : "bad head");
            return false;
        }
        if (p->head.status_code >= 100 && p->head.status_code < 200) {
            /* An interim response: drop it, the final one follows. */
            memmove(p->rbuf, p->rbuf + rc, p->rlen - (size_t)rc);
            p->rlen -= (size_t)rc;
            xp_http1_head_init(&p->head, p->headers, XP__REST_MAX_HEADERS);
            continue;
        }
        p->head_len = (size_t)rc;
        p->body_off = p->head_len;
        p->status = p->head.status_code;
        xp_http1_body_init(&p->body, &p->head, &lim);
    }
    for (;;) {
        xp_str_t spans[16];
        size_t consumed = 0, nspans = 0;
        int rc = xp_http1_body_decode(&p->body, p->rbuf + p->body_off, p->rlen - p->body_off,
                                      &consumed, spans, XP_ARRAY_SIZE(spans), &nspans);
        p->body_off += consumed;
        for (size_t i = 0; i < nspans; i++) {
            if (p->blen + spans[i].len + 1 > p->bcap) {
                p->bcap = (p->blen + spans[i].len + 1) * 2;
                p->bbuf = xp_realloc(p->bbuf, p->bcap);
            }
            memcpy(p->bbuf + p->blen, spans[i].p, spans[i].len);
            p->blen += spans[i].len;
            p->bbuf[p->blen] = '\0';
        }
        if (rc == XP_HTTP1_DONE)
            break;
        if (rc < 0) {
            poll_fail(p, "malformed HTTP response body: %s",
                      p->body.err_msg ? p->body.err_msg : "framing");
            return false;
        }
        if (consumed == 0 || p->body_off == p->rlen) {
            if (!eof)
                return true;
            if (xp_http1_body_eof(&p->body) != XP_HTTP1_DONE) {
                poll_fail(p, "the connection closed in the middle of the response body");
                return false;
            }
            break;
        }
    }
    poll_complete(p);
    return false;
}

/* ---- I/O ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    xp__rest_poll_t *p = h->data;
    (void)suggested;
    if (p->rcap - p->rlen < 65536) {
        p->rcap = p->rcap ? p->rcap * 2 : 65536;
        p->rbuf = xp_realloc(p->rbuf, p->rcap + 1);
    }
    buf->base = p->rbuf + p->rlen;
    buf->len = p->rcap - p->rlen;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    xp__rest_poll_t *p = s->data;
    (void)buf;
    if (p->state != XP__POLL_EXCHANGE)
        return;
    if (nread == 0)
        return;
    if (nread < 0 && nread != UV_EOF) {
        poll_fail(p, "read: %s", uv_strerror((int)nread));
        return;
    }
    if (nread > 0) {
        p->rlen += (size_t)nread;
        p->rbuf[p->rlen] = '\0';
        if (p->rlen > XP__REST_MAX_RESPONSE) {
            poll_fail(p, "the response is larger than %zu bytes", XP__REST_MAX_RESPONSE);
            return;
        }
    }
    if (response_progress(p, nread == UV_EOF))
        return;
    /* Ended (completed or failed): poll_end closed the socket. */
}

static void on_write(uv_write_t *w, int status)
{
    xp__rest_poll_t *p = w->data;
    if (status < 0 && status != UV_ECANCELED && p->state == XP__POLL_EXCHANGE)
        poll_fail(p, "write: %s", uv_strerror(status));
}

/* The HTTP request for the type as it stands now. */
static char *build_request(xp__rest_poll_t *p)
{
    xp__xds_type_t *t = p->t;
    xp_xds_client_t *c = t->client;
    Envoy__Service__Discovery__V3__DiscoveryRequest req;
    Google__Rpc__Status st;
    xp__sotw_request_fill(t, c->node, t->nack, &req, &st);
    char *json = xp_codec_to_json(&req.base, false);
    XP_DEBUG("xds: REST -> %s version=%s nonce=%s names=%zu%s%s", xp__rest_path(t->type_url),
             req.version_info, req.response_nonce, t->names.n, t->nack ? " NACK: " : "",
             t->nack ? t->nack : "");
    size_t len = strlen(json);
    char *out = xp_asprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                            "Accept: application/json\r\nContent-Length: %zu\r\n"
                            "Connection: close\r\n\r\n%s",
                            xp__rest_path(t->type_url), c->authority, len, json);
    free(json);
    return out;
}

static void on_connect(uv_connect_t *req, int status)
{
    xp__rest_poll_t *p = req->data;
    if (status == UV_ECANCELED || p->state != XP__POLL_CONNECT)
        return;
    if (status < 0) {
        poll_fail(p, "connect: %s", uv_strerror(status));
        return;
    }
    poll_set_state(p, XP__POLL_EXCHANGE);
    xp_http1_head_init(&p->head, p->headers, XP__REST_MAX_HEADERS);
    p->req = build_request(p);
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
    p->write.data = p;
    int rc = uv_write(&p->write, (uv_stream_t *)&p->tcp, &b, 1, on_write);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (rc < 0)
        poll_fail(p, "write: %s", uv_strerror(rc));
}

static void poll_connect(xp__rest_poll_t *p, const struct sockaddr *sa)
{
    xp_xds_client_t *c = p->t->client;
    poll_set_state(p, XP__POLL_CONNECT);
    uv_tcp_init(c->loop, &p->tcp);
    p->tcp.data = p;
    p->tcp_open = true;
    c->open_handles++;
    uv_tcp_nodelay(&p->tcp, 1);
    p->connect.data = p;
    int rc = uv_tcp_connect(&p->connect, &p->tcp, sa, on_connect);
    if (rc < 0)
        poll_fail(p, "connect: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    xp__rest_poll_t *p = req->data;
    xp_xds_client_t *c = p->t->client;
    p->gai_pending = false;
    if (c->closing || p->state != XP__POLL_RESOLVE) {
        uv_freeaddrinfo(res);
        if (!c->closing)
            poll_released(p);
        xp__client_handle_released(c); /* may free p and c: last */
        return;
    }
    /* The first IPv4 address, else the first one (one address per poll; a
     * failure moves on to the cluster's next host). */
    const struct addrinfo *ai = res;
    for (const struct addrinfo *a = res; a && ai == res; a = a->ai_next)
        if (a->ai_family == AF_INET)
            ai = a;
    if (status < 0 || res == NULL)
        poll_fail(p, "cannot resolve: %s", uv_strerror(status));
    else
        poll_connect(p, ai->ai_addr);
    uv_freeaddrinfo(res);
    xp__client_handle_released(c);
}

static void on_timeout(xp__rest_poll_t *p)
{
    xp_xds_client_t *c = p->t->client;
    poll_fail(p, "no complete response within request_timeout (%llu ms)",
              (unsigned long long)c->timeout_ms);
}

static void on_poll_timer(uv_timer_t *timer)
{
    xp__rest_poll_t *p = timer->data;
    xp_xds_client_t *c = p->t->client;
    if (p->state != XP__POLL_WAIT) { /* the request timeout */
        on_timeout(p);
        return;
    }
    if (!poll_has_interest(p)) {
        poll_set_state(p, XP__POLL_IDLE);
        return;
    }
    p->started_ms = uv_now(c->loop);
    p->host = xp_strdup(c->hosts[c->host_idx % c->n_hosts]);
    uv_timer_start(&p->timer, on_poll_timer, c->timeout_ms, 0);
    /* "host:port" or "[v6]:port" */
    char *host = xp_strdup(p->host);
    char *colon = strrchr(host, ':');
    const char *port = colon ? colon + 1 : "80";
    if (colon)
        *colon = '\0';
    char *h = host;
    if (h[0] == '[' && colon && colon > h && colon[-1] == ']') {
        h++;
        colon[-1] = '\0';
    }
    struct sockaddr_storage ss;
    int portn = atoi(port);
    if (uv_ip4_addr(h, portn, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(h, portn, (struct sockaddr_in6 *)&ss) == 0) {
        poll_connect(p, (const struct sockaddr *)&ss);
    } else {
        poll_set_state(p, XP__POLL_RESOLVE);
        struct addrinfo hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        p->gai.data = p;
        int rc = uv_getaddrinfo(c->loop, &p->gai, on_resolved, h, port, &hints);
        if (rc < 0) {
            poll_fail(p, "cannot resolve: %s", uv_strerror(rc));
        } else {
            p->gai_pending = true;
            c->open_handles++;
        }
    }
    free(host);
}

/* ---- teardown ---- */

static void on_timer_closed(uv_handle_t *h)
{
    xp__rest_poll_t *p = h->data;
    xp__client_handle_released(p->t->client); /* may free p: last */
}

void xp__rest_shutdown(xp_xds_client_t *c)
{
    c->closing = true;
    for (xp__xds_type_t *t = c->types; t; t = t->next) {
        xp__rest_poll_t *p = t->poll;
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, on_timer_closed);
        if (p->tcp_open && !uv_is_closing((uv_handle_t *)&p->tcp))
            uv_close((uv_handle_t *)&p->tcp, on_tcp_closed);
        if (p->gai_pending)
            uv_cancel((uv_req_t *)&p->gai);
    }
}

void xp__rest_poll_free(xp__rest_poll_t *p)
{
    if (p == NULL)
        return;
    response_reset(p);
    free(p);
}
