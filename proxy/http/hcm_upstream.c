/* The upstream side of the HTTP connection manager: routing a parsed request,
 * building the upstream request (rewrites, header edits, Envoy's x-forwarded-*
 * and x-envoy-* headers), streaming bodies both ways, retries, timeouts, and
 * turning an accepted upgrade into a byte tunnel. */
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/http/hcm_internal.h"
#include "proxy/runtime/runtime.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void xp__attempt(xp_hstream_t *s);
static void xp__pending_done(xp_hstream_t *s);
static void xp__send_request(xp_hstream_t *s);
static const xp_sock_ops_t xp__up_ops;

static uint64_t xp__rand(void)
{
    /* splitmix64 over a per-thread counter: cheap, good enough for weights,
     * jitter and request ids. */
    static __thread uint64_t x;
    if (x == 0)
        x = (uint64_t)(uintptr_t)&x ^ (uint64_t)uv_hrtime();
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool xp__hdr_is(xp_str_t name, const char *lit)
{
    return xp_str_eq_nocase(name, xp_str_c(lit));
}

static const xp_header_t *xp__find(const xp_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (xp__hdr_is(h[i].name, name))
            return &h[i];
    return NULL;
}

/* ---- releasing ------------------------------------------------------------ */

static void xp__drop_upstream(xp_hstream_t *s, bool reusable)
{
    if (s->up == NULL)
        return;
    xp_uconn_t *u = s->up;
    s->up = NULL;
    xp__pending_done(s);
    if (u->state == XP_UCONN_CONNECTING) {
        xp_uconn_close(u);
    } else {
        /* A reusable connection keeps reading (its pool watches it for a
         * close); stopping and restarting would cost two epoll_ctl calls
         * per request. */
        if (!reusable)
            xp_sock_read_stop(&u->sock);
        xp_uconn_release(u, reusable);
    }
    if (s->host_sel)
        xp_host_rq_end(s->host_sel);
    if (s->cluster)
        xp_stat_dec(s->cluster->stats->upstream_rq_active);
}

void xp_hstream_abort_upstream(xp_hstream_t *s)
{
    if (s->up && s->cluster) {
        xp_stat_inc(s->cluster->stats->upstream_rq_tx_reset);
    }
    xp__drop_upstream(s, false);
    if (s->timer_init)
        uv_timer_stop(&s->timer);
}

void xp_hstream_release(xp_hstream_t *s)
{
    xp__drop_upstream(s, false);
    if (s->retry_open) {
        xp_cluster_stats_t *cst = s->cluster->stats;
        atomic_fetch_sub_explicit(&cst->retries_open, 1, memory_order_relaxed);
        xp_stat_set(cst->rq_retry_open, 0);
        s->retry_open = false;
    }
    for (size_t i = 0; i < s->n_retained; i++)
        xp_chunk_unref(s->retained[i].chunk);
    free(s->retained);
    s->retained = NULL;
    s->n_retained = 0;
    if (s->host_sel)
        xp_host_unref(s->host_sel);
    s->host_sel = NULL;
    if (s->cluster)
        xp_wcluster_unref(s->cluster);
    s->cluster = NULL;
    if (s->route)
        xp_route_unref(s->route);
    s->route = NULL;
    if (s->table)
        xp_route_table_unref(s->table);
    s->table = NULL;
}

/* ---- timers --------------------------------------------------------------- */

void xp_hstream_timer_start(xp_hstream_t *s, uv_timer_cb cb, uint64_t ms)
{
    if (!s->timer_init) {
        uv_timer_init(s->conn->w->loop, &s->timer);
        s->timer.data = s;
        s->timer_init = true;
    }
    uv_timer_start(&s->timer, cb, ms, 0);
}

static bool xp__maybe_retry(xp_hstream_t *s, uint32_t cond, int status);

static void xp__on_timeout(uv_timer_t *t)
{
    xp_hstream_t *s = t->data;
    if (s->per_try_ms) {
        xp_stat_inc(s->cluster->stats->upstream_rq_per_try_timeout);
        if (!s->resp_started && xp__maybe_retry(s, XP_RETRY_5XX | XP_RETRY_GATEWAY_ERROR, 504))
            return;
    }
    xp_stat_inc(s->cluster->stats->upstream_rq_timeout);
    xp_stat_inc(s->conn->st->downstream_rq_timeout);
    if (s->timeout_204)
        xp_hstream_local_reply(s, 204, NULL, XP_RF_UT, "upstream_response_timeout");
    else
        xp_hstream_local_reply(s, 504, "upstream request timeout", XP_RF_UT,
                               "upstream_response_timeout");
}

static void xp__on_request_timeout(uv_timer_t *t)
{
    xp_hstream_t *s = t->data;
    xp_stat_inc(s->conn->st->downstream_rq_timeout);
    xp_hstream_local_reply(s, 408, "request timeout", 0, "request_overall_timeout");
}

/* HCM request_timeout: the whole request must arrive in time. It shares the
 * stream timer with the route timeout, which only starts once the request
 * is complete. */
void xp_hstream_start_request_timeout(xp_hstream_t *s)
{
    xp_hstream_timer_start(s, xp__on_request_timeout, s->conn->hcm->request_timeout_ms);
}

/* Envoy: the route timeout runs from the end of the downstream request; a
 * per-try timeout from the start of each attempt. One timer serves both. */
static void xp__arm_timeout(xp_hstream_t *s)
{
    if (s->upgrade || s->route == NULL)
        return;
    uint64_t ms = s->per_try_ms ? s->per_try_ms : s->req_complete ? s->timeout_ms : 0;
    if (ms)
        xp_hstream_timer_start(s, xp__on_timeout, ms);
    else if (s->req_complete && s->timer_init)
        uv_timer_stop(&s->timer); /* the request timeout is over */
}

/* ---- retries -------------------------------------------------------------- */

static void xp__on_backoff(uv_timer_t *t)
{
    xp_hstream_t *s = t->data;
    xp_hstream_set_state(s, XP_HS_CONNECTING);
    xp__attempt(s);
}

/* cond: the XP_RETRY_* conditions this failure satisfies; status: the
 * response status (0 for resets/connect failures). */
static bool xp__maybe_retry(xp_hstream_t *s, uint32_t cond, int status)
{
    const xp_retry_policy_t *p = s->retry;
    if (p == NULL || s->resp_started || s->retain_overflow)
        return false;
    bool match = (p->retry_on & cond) != 0;
    if (status && (p->retry_on & XP_RETRY_RETRIABLE_STATUS_CODES))
        for (size_t i = 0; i < p->nretriable_status_codes; i++)
            if (p->retriable_status_codes[i] == (uint32_t)status)
                match = true;
    if (!match)
        return false;
    if (s->attempts > p->num_retries) {
        s->flags |= XP_RF_URX;
        return false;
    }
    /* max_retries: retries in flight across the cluster (all workers). */
    xp_cluster_stats_t *cst = s->cluster->stats;
    if (!s->retry_open) {
        if (atomic_load_explicit(&cst->retries_open, memory_order_relaxed) >=
            (int64_t)s->cluster->cfg->cb.max_retries) {
            xp_stat_inc(cst->upstream_rq_retry_overflow);
            xp_stat_set(cst->rq_retry_open, 1);
            return false;
        }
        atomic_fetch_add_explicit(&cst->retries_open, 1, memory_order_relaxed);
        s->retry_open = true;
    }
    xp_stat_inc(s->cluster->stats->upstream_rq_retry);
    xp__drop_upstream(s, false);
    s->req_sent = false;
    /* The next attempt parses its response from scratch. */
    free(s->resp_headers);
    s->resp_headers = NULL;
    s->resp_scanning = false;
    if (s->resp_buf)
        xp_chunk_unref(s->resp_buf);
    s->resp_buf = NULL;
    s->resp_len = 0;
    /* Envoy's backoff: a random time in [0, base * 2^(n-1)), capped. */
    uint64_t base = p->backoff_base_ms ? p->backoff_base_ms : 25;
    uint64_t cap = p->backoff_max_ms ? p->backoff_max_ms : base * 10;
    uint64_t span = base << (s->attempts - 1 < 10 ? s->attempts - 1 : 10);
    if (span > cap)
        span = cap;
    xp_hstream_set_state(s, XP_HS_RETRY_WAIT);
    xp_hstream_timer_start(s, xp__on_backoff, span ? xp__rand() % span : 0);
    return true;
}

/* ---- routing -------------------------------------------------------------- */

/* The nth element (n >= 1) from the right of an x-forwarded-for list,
 * trimmed of blanks; false when the list has fewer. */
static bool xp__xff_nth(xp_str_t xff, uint32_t n, xp_str_t *out)
{
    const char *p = xff.p, *end = p + xff.len;
    for (uint32_t k = 1;; k++) {
        const char *comma = end;
        while (comma > p && comma[-1] != ',')
            comma--;
        if (k == n) {
            const char *a = comma, *b = end;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            *out = xp_str(a, (size_t)(b - a));
            return true;
        }
        if (comma == p)
            return false;
        end = comma - 1;
    }
}

/* An IP address in text: its family and bytes; false when it is not one. */
static bool xp__parse_ip(xp_str_t ip, int *family, uint8_t addr[16])
{
    char buf[64];
    if (ip.len == 0 || ip.len >= sizeof(buf))
        return false;
    memcpy(buf, ip.p, ip.len);
    buf[ip.len] = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        *family = AF_INET;
    else if (inet_pton(AF_INET6, buf, addr) == 1)
        *family = AF_INET6;
    else
        return false;
    return true;
}

/* The trusted client address (Envoy's rules). With use_remote_address and
 * xff_num_trusted_hops N: the Nth address from the right of the incoming
 * x-forwarded-for (N = 0: the connection's peer). Without use_remote_address:
 * the (N+1)th from the right. Fewer addresses than that, or not an IP
 * address there: the peer. A view into the request head or the connection. */
static xp_str_t xp__client_ip(const xp_hstream_t *s)
{
    const xp_hconn_t *h = s->conn;
    uint32_t n = h->hcm->xff_num_trusted_hops + (h->hcm->use_remote_address ? 0 : 1);
    const xp_header_t *xff = xp__find(s->req.headers, s->req.num_headers, "x-forwarded-for");
    xp_str_t v;
    int family;
    uint8_t addr[16];
    if (n && xff && xp__xff_nth(xff->value, n, &v) && xp__parse_ip(v, &family, addr))
        return v;
    return xp_str_c(h->http->peer_ip);
}

/* internal_address_config's ranges, or Envoy's default ones. */
static bool xp__internal_ip(const xp_hcm_cfg_t *hcm, xp_str_t ip)
{
    static const xp_cidr_t defaults[] = {
        {AF_INET, 8, {10}},        {AF_INET, 12, {172, 16}},
        {AF_INET, 16, {192, 168}}, {AF_INET, 32, {127, 0, 0, 1}},
        {AF_INET6, 8, {0xfd}},     {AF_INET6, 128, {[15] = 1}},
    };
    int family;
    uint8_t addr[16];
    if (!xp__parse_ip(ip, &family, addr))
        return false;
    const xp_cidr_t *r = hcm->n_internal_ranges ? hcm->internal_ranges : defaults;
    size_t n = hcm->n_internal_ranges ? hcm->n_internal_ranges : XP_ARRAY_SIZE(defaults);
    for (size_t i = 0; i < n; i++)
        if (xp_cidr_contains(&r[i], family, addr))
            return true;
    return false;
}

/* The x-envoy-* request fields Envoy removes from external requests: the
 * first three only at an edge. */
static const char *const xp__internal_only[] = {
    "x-envoy-decorator-operation",
    "x-envoy-downstream-service-cluster",
    "x-envoy-downstream-service-node",
    "x-envoy-retriable-status-codes",
    "x-envoy-retriable-header-names",
    "x-envoy-retry-on",
    "x-envoy-retry-grpc-on",
    "x-envoy-max-retries",
    "x-envoy-upstream-alt-stat-name",
    "x-envoy-upstream-rq-timeout-ms",
    "x-envoy-upstream-rq-per-try-timeout-ms",
    "x-envoy-upstream-rq-timeout-alt-response",
    "x-envoy-upstream-stream-duration-ms",
    "x-envoy-expected-rq-timeout-ms",
    "x-envoy-force-trace",
    "x-envoy-ip-tags",
    "x-envoy-original-url",
    "x-envoy-hedge-on-per-try-timeout",
};
#define XP__EDGE_ONLY 3

static bool xp__is_x_envoy(xp_str_t name)
{
    static const char prefix[] = "x-envoy-";
    return name.len > sizeof(prefix) - 1 &&
           xp_str_eq_nocase(xp_str(name.p, sizeof(prefix) - 1), XP_STR_LIT("x-envoy-"));
}

static bool xp__is_internal_only(xp_str_t name, bool edge)
{
    for (size_t i = edge ? 0 : XP__EDGE_ONLY; i < XP_ARRAY_SIZE(xp__internal_only); i++)
        if (xp__hdr_is(name, xp__internal_only[i]))
            return true;
    return false;
}

/* A version 4 UUID (RFC 9562 §5.4) into s->request_id: 8-4-4-4-12 hex
 * digits, version 4, variant 10. */
static void xp__new_request_id(xp_hstream_t *s)
{
    uint64_t a = xp__rand(), b = xp__rand();
    char *o = s->request_id;
    o = xp_hex_fixed(o, a >> 32, 8);
    *o++ = '-';
    o = xp_hex_fixed(o, a >> 16, 4);
    *o++ = '-';
    *o++ = '4';
    o = xp_hex_fixed(o, a, 3);
    *o++ = '-';
    o = xp_hex_fixed(o, ((b >> 48) & 0x3fff) | 0x8000, 4);
    *o++ = '-';
    o = xp_hex_fixed(o, b, 12);
    *o = '\0';
}

/* Removes every request field called name; true with the first one's value
 * when there was one. */
static bool xp__take_field(xp_http1_head_t *q, const char *name, xp_str_t *value)
{
    bool found = false;
    for (size_t i = q->num_headers; i-- > 0;)
        if (xp__hdr_is(q->headers[i].name, name)) {
            *value = q->headers[i].value;
            found = true;
            xp_http1_head_remove(q, i);
        }
    return found;
}

/* Replaces every request field called name with one of value. */
static void xp__set_field(xp_http1_head_t *q, const char *name, xp_str_t value)
{
    xp_str_t old;
    xp__take_field(q, name, &old);
    xp_http1_head_append(q, xp_str_c(name), value);
}

/* Envoy's connection manager, before routing: is the request internal (with
 * use_remote_address: no x-forwarded-for and an internal peer; without: an
 * x-forwarded-for of one internal address and no trusted hops) or, with
 * use_remote_address, external at an edge? x-envoy-internal is what xproxy
 * says, never what the client said; an external request loses the
 * internal-only x-envoy-* fields; an edge request gets a new x-request-id
 * unless preserve_external_request_id, and any request without one gets
 * one; x-forwarded-client-cert goes (no TLS: no client certificate) unless
 * ALWAYS_FORWARD_ONLY. Runs once per stream. */
static void xp__sanitize(xp_hstream_t *s)
{
    if (s->sanitized)
        return;
    s->sanitized = true;
    const xp_hcm_cfg_t *hcm = s->conn->hcm;
    const xp_header_t *xff = xp__find(s->req.headers, s->req.num_headers, "x-forwarded-for");
    xp_str_t only;
    if (hcm->use_remote_address)
        s->internal = xff == NULL && xp__internal_ip(hcm, xp_str_c(s->conn->http->peer_ip));
    else
        s->internal = xff && hcm->xff_num_trusted_hops == 0 &&
                      !memchr(xff->value.p, ',', xff->value.len) &&
                      xp__xff_nth(xff->value, 1, &only) && xp__internal_ip(hcm, only);
    s->edge = hcm->use_remote_address && !s->internal;
    bool new_id = s->edge && hcm->generate_request_id && !hcm->preserve_external_request_id;
    bool drop_xfcc = !hcm->forward_client_cert;
    xp_http1_head_t *q = &s->req;
    for (size_t i = q->num_headers; i-- > 0;) {
        xp_str_t name = q->headers[i].name;
        bool drop = xp__is_x_envoy(name)
                        ? xp__hdr_is(name, "x-envoy-internal") ||
                              (!s->internal && xp__is_internal_only(name, s->edge)) ||
                              (s->edge && xp__hdr_is(name, "x-envoy-external-address"))
                        : (new_id && xp__hdr_is(name, "x-request-id")) ||
                              (drop_xfcc && xp__hdr_is(name, "x-forwarded-client-cert"));
        if (drop)
            xp_http1_head_remove(q, i);
    }
    if (s->internal)
        xp_http1_head_append(q, XP_STR_LIT("x-envoy-internal"), XP_STR_LIT("true"));
    if (hcm->user_agent) {
        /* add_user_agent (Envoy): this node's cluster as the downstream
         * service, also as the user agent when the client sent none, and
         * its id as the downstream node. */
        xp__set_field(q, "x-envoy-downstream-service-cluster", xp_str_c(hcm->user_agent));
        const xp_header_t *ua = xp__find(q->headers, q->num_headers, "user-agent");
        if (ua == NULL || ua->value.len == 0)
            xp__set_field(q, "user-agent", xp_str_c(hcm->user_agent));
        if (hcm->service_node[0])
            xp__set_field(q, "x-envoy-downstream-service-node", xp_str_c(hcm->service_node));
    }
    /* Before routing, as in Envoy: route matching and access logs see it. */
    if (hcm->generate_request_id && !xp__find(q->headers, q->num_headers, "x-request-id")) {
        xp__new_request_id(s);
        xp_http1_head_append(q, XP_STR_LIT("x-request-id"), xp_str_c(s->request_id));
    }
}

/* Decimal request fields are read up to 19 digits (they were before
 * xp_str_to_u64 took overflow itself in hand). */
#define XP__FIELD_DEC_MAX UINT64_C(9999999999999999999)

/* Envoy's router: the x-envoy-* request fields that set timeouts and
 * retries are taken out of the request (never forwarded) and applied.
 * Sanitizing leaves them only in internal requests. Conditions and codes a
 * request names add to its route's retry policy; x-envoy-max-retries
 * replaces the number of retries; with neither a policy nor x-envoy-retry-on
 * there are no retries. */
static void xp__router_fields(xp_hstream_t *s)
{
    const xp_retry_policy_t *p = s->retry;
    s->timeout_ms = s->route->action.timeout_ms;
    s->per_try_ms = p ? p->per_try_timeout_ms : 0;
    xp_http1_head_t *q = &s->req;
    xp_str_t v, max_v = {0}, codes_v = {0};
    uint64_t n;
    if (s->internal) {
        if (xp__take_field(q, "x-envoy-upstream-rq-timeout-ms", &v) &&
            xp_str_to_u64(v, XP__FIELD_DEC_MAX, &n))
            s->timeout_ms = n;
        if (xp__take_field(q, "x-envoy-upstream-rq-per-try-timeout-ms", &v) &&
            xp_str_to_u64(v, XP__FIELD_DEC_MAX, &n))
            s->per_try_ms = n;
        s->timeout_204 = xp__take_field(q, "x-envoy-upstream-rq-timeout-alt-response", &v);
    }
    /* A per-try timeout at or above the route's (when it has one) is none
     * (Envoy): per_try_ms stays only when it fires first. */
    if (s->timeout_ms && s->per_try_ms >= s->timeout_ms)
        s->per_try_ms = 0;
    if (!s->internal)
        return;
    uint32_t on = 0, bits;
    if (xp__take_field(q, "x-envoy-retry-on", &v)) {
        xp_retry_on_parse(v, &bits, NULL, 0); /* unknown conditions are ignored */
        on |= bits;
    }
    if (xp__take_field(q, "x-envoy-retry-grpc-on", &v)) {
        xp_retry_on_parse(v, &bits, NULL, 0);
        on |= bits;
    }
    bool has_max = xp__take_field(q, "x-envoy-max-retries", &max_v);
    bool has_codes = xp__take_field(q, "x-envoy-retriable-status-codes", &codes_v);
    /* Consumed as Envoy does; xproxy has no hedging or retriable headers. */
    xp__take_field(q, "x-envoy-hedge-on-per-try-timeout", &v);
    xp__take_field(q, "x-envoy-retriable-header-names", &v);
    if (on == 0 && (p == NULL || p->retry_on == 0))
        return;
    if (on == 0 && !has_max && !has_codes)
        return; /* the route's policy as it is */
    size_t ncodes = p ? p->nretriable_status_codes : 0;
    for (size_t i = 0; has_codes && i < codes_v.len; i++)
        ncodes += codes_v.p[i] == ',';
    ncodes += has_codes;
    xp_retry_policy_t *own = xp_malloc(sizeof(*own) + ncodes * sizeof(uint32_t));
    *own = p ? *p : (xp_retry_policy_t){.num_retries = 1};
    own->retry_on |= on;
    if (has_max && xp_str_to_u64(max_v, XP__FIELD_DEC_MAX, &n))
        own->num_retries = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    own->retriable_status_codes = (uint32_t *)(own + 1);
    own->nretriable_status_codes = 0;
    for (size_t i = 0; p && i < p->nretriable_status_codes; i++)
        own->retriable_status_codes[own->nretriable_status_codes++] = p->retriable_status_codes[i];
    for (xp_str_t code; has_codes && xp_http1_next_elem(&codes_v, &code);)
        if (xp_str_to_u64(code, 999, &n))
            own->retriable_status_codes[own->nretriable_status_codes++] = (uint32_t)n;
    s->retry_own = own;
    s->retry = own;
}

/* The route configuration's internal_only_headers leave external requests. */
static void xp__remove_internal_only(xp_hstream_t *s, const xp_route_table_t *t)
{
    if (s->internal || t->ninternal_only_headers == 0)
        return;
    for (size_t i = s->req.num_headers; i-- > 0;)
        for (size_t k = 0; k < t->ninternal_only_headers; k++)
            if (xp_str_eq_nocase(s->req.headers[i].name, t->internal_only_headers[k])) {
                xp_http1_head_remove(&s->req, i);
                break;
            }
}

static void xp__route_request(xp_hstream_t *s, xp_route_request_t *rr)
{
    memset(rr, 0, sizeof(*rr));
    rr->method = s->req.method;
    rr->path = s->path;
    rr->host = s->host;
    rr->scheme = XP_STR_LIT("http");
    rr->headers = s->req.headers;
    rr->nheaders = s->req.num_headers;
    rr->source_ip = xp__client_ip(s);
    /* runtime_fraction keys read the worker's runtime snapshot of now. */
    rr->runtime = xp_runtime_fraction;
    rr->runtime_ctx = s->conn->w->runtime;
}

/* scoped_routes: the table of the scope whose key the request's headers
 * build, from the inline scopes or the SRDS set in the worker's snapshot.
 * NULL when no key can be built, no scope has it, or its route
 * configuration has not arrived: Envoy routes nothing then (404, NR). */
static xp_route_table_t *xp__scoped_table(const xp_hconn_t *h, const xp_scoped_routes_cfg_t *sr,
                                          const xp_route_request_t *rr)
{
    const xp_scope_set_t *set = sr->inline_scopes;
    if (set == NULL && h->w->snap)
        set = xp_snapshot_find_scope_set(h->w->snap, xp_scoped_routes_set_name(sr));
    if (set == NULL || set->n == 0)
        return NULL;
    xp_str_t stack[8];
    xp_str_t *key = sr->builder.n <= 8 ? stack : xp_malloc(sr->builder.n * sizeof(*key));
    const xp_scope_t *sc = NULL;
    if (xp_scope_key_build(&sr->builder, rr, key))
        sc = xp_scope_set_find(set, key, sr->builder.n);
    if (key != stack)
        free(key);
    if (sc == NULL)
        return NULL;
    if (sc->table)
        return sc->table;
    return h->w->snap ? xp_snapshot_find_route(h->w->snap, sc->rds_name) : NULL;
}

/* normalize_path / merge_slashes: the path part of the target (not the
 * query) with dot segments removed (RFC 3986 §5.2.4) and/or runs of '/'
 * merged. Returns false when the path climbs above the root (Envoy answers
 * 400). On change s->path points at s->norm_path. */
static bool xp__normalize(xp_hstream_t *s, bool dots, bool slashes)
{
    xp_str_t t = s->path;
    if (t.len == 0 || t.p[0] != '/')
        return true; /* absolute-form, authority-form, '*': left alone */
    size_t plen = 0;
    while (plen < t.len && t.p[plen] != '?')
        plen++;
    char *out = xp_malloc(t.len + 1);
    size_t o = 0;
    size_t i = 0;
    while (i < plen) {
        /* one segment: from a '/' up to the next '/' (exclusive) */
        size_t j = i + 1;
        while (j < plen && t.p[j] != '/')
            j++;
        xp_str_t seg = xp_str(t.p + i + 1, j - i - 1);
        if (slashes && seg.len == 0 && j < plen) {
            i = j; /* "//" -> "/" */
            continue;
        }
        if (dots && seg.len == 1 && seg.p[0] == '.') {
            if (j >= plen)
                out[o++] = '/';
            i = j;
            continue;
        }
        if (dots && seg.len == 2 && seg.p[0] == '.' && seg.p[1] == '.') {
            if (o == 0) {
                free(out);
                return false;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* drop the '/' too */
            if (j >= plen)
                out[o++] = '/';
            i = j;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, seg.p, seg.len);
        o += seg.len;
        i = j;
    }
    if (o == 0)
        out[o++] = '/';
    memcpy(out + o, t.p + plen, t.len - plen);
    o += t.len - plen;
    out[o] = '\0';
    if (o == t.len && memcmp(out, t.p, o) == 0) {
        free(out);
        return true;
    }
    s->norm_path = out;
    s->path = xp_str(out, o);
    return true;
}

void xp_hstream_route_and_forward(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    const xp_hcm_cfg_t *hcm = h->hcm;
    if (s->req.minor_version == 0 && !hcm->accept_http_10) {
        /* Envoy's default: HTTP/1.0 is refused unless
         * http_protocol_options.accept_http_10. */
        xp_stat_inc(h->st->downstream_cx_protocol_error);
        h->close_after = true;
        xp_hstream_local_reply(s, 426, NULL, XP_RF_DPE, "low_version");
        return;
    }
    if (s->host.len == 0 && s->req.host_idx < 0) {
        /* HTTP/1.0 may omit Host, but what goes upstream is HTTP/1.1, which
         * must carry one (RFC 9112 §3.2). */
        xp_hstream_local_reply(s, 400, "missing host header", XP_RF_DPE, "missing_host_header");
        return;
    }
    if ((hcm->normalize_path || hcm->merge_slashes) &&
        !xp__normalize(s, hcm->normalize_path, hcm->merge_slashes)) {
        xp_hstream_local_reply(s, 400, xp_http1_reason(400), XP_RF_DPE,
                               "path_normalization_failed");
        return;
    }
    if (s->req.expect_100_continue) {
        /* Envoy answers Expect: 100-continue itself and does not forward it. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        xp_hstream_write_down(s, NULL, cont, sizeof(cont) - 1);
    }
    xp_hstream_route(s);
}

void xp_hstream_route(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    const xp_hcm_cfg_t *hcm = h->hcm;
    /* Inline route_config, the RDS table of that name, or the table of the
     * request's scope, in the snapshot the worker serves now: a new request
     * always sees the newest routes, and this stream holds its table until
     * it ends. */
    xp__sanitize(s);
    xp_route_request_t rr;
    xp__route_request(s, &rr);
    xp_route_table_t *table = hcm->route_table;
    if (table == NULL && hcm->rds_name && h->w->snap)
        table = xp_snapshot_find_route(h->w->snap, hcm->rds_name);
    if (table == NULL && hcm->scoped)
        table = xp__scoped_table(h, hcm->scoped, &rr);
    if (table == NULL) {
        xp_stat_inc(h->st->no_route);
        xp_hstream_local_reply(s, 404, NULL, XP_RF_NR, "route_not_found");
        return;
    }
    xp__remove_internal_only(s, table);
    rr.nheaders = s->req.num_headers;
    s->table = xp_route_table_ref(table);
    uint64_t rnd = xp__rand();
    const xp_route_t *r = xp_route_table_match(
        s->table, &rr, hcm->strip_any_host_port || hcm->strip_matching_host_port, rnd, &s->vhost);
    if (r == NULL && s->vhost == NULL && hcm->on_demand && table->vhds.enabled &&
        xp_hstream_vhds_wait(s))
        return; /* resumes in xp_hstream_route once VHDS answered or the wait ended */
    if (r == NULL) {
        xp_stat_inc(h->st->no_route);
        xp_hstream_local_reply(s, 404, NULL, XP_RF_NR, "route_not_found");
        return;
    }
    s->route = xp_route_ref((xp_route_t *)r);
    if (r->kind == XP_ROUTE_DIRECT) {
        xp_stat_inc(h->st->rq_direct_response);
        char *body = NULL;
        if (r->direct.has_body)
            body = xp_strndup(r->direct.body.p, r->direct.body.len);
        xp_hstream_local_reply(s, r->direct.status, body, 0, "direct_response");
        free(body);
        return;
    }
    if (r->kind == XP_ROUTE_REDIRECT) {
        xp_stat_inc(h->st->rq_redirect);
        char *loc = NULL;
        size_t loclen = 0;
        if (xp_route_redirect_location(r, &rr, &loc, &loclen) != 0) {
            xp_hstream_local_reply(s, 500, NULL, 0, "redirect_failed");
            return;
        }
        xp_hstream_redirect(s, r->redirect.response_code, xp_str(loc, loclen));
        free(loc);
        return;
    }
    if (r->kind != XP_ROUTE_FORWARD) {
        xp_hstream_local_reply(s, 404, NULL, XP_RF_NR, "route_not_found");
        return;
    }
    if (s->req.upgrade) {
        bool hcm_default = false;
        for (size_t i = 0; i < hcm->n_upgrades; i++)
            if (xp_str_eq_nocase(s->req.upgrade_value, xp_str_c(hcm->upgrades[i].upgrade_type)))
                hcm_default = hcm->upgrades[i].enabled;
        if (!xp_route_upgrade_allowed(r, s->req.upgrade_value, hcm_default)) {
            xp_stat_inc(h->st->downstream_rq_ws_on_non_ws_route);
            xp_hstream_local_reply(s, 403, NULL, 0, "upgrade_failed");
            return;
        }
        s->upgrade = true;
    }
    xp_str_t cname = xp_route_cluster(r, &rr, rnd, &s->wc);
    xp_wcluster_t *c = cname.len ? xp_cm_get(h->w->cm, cname.p, cname.len) : NULL;
    if (c == NULL) {
        xp_stat_inc(h->st->no_cluster);
        xp_hstream_local_reply(s, r->action.cluster_not_found_code, NULL, XP_RF_NC,
                               "cluster_not_found");
        return;
    }
    xp_wcluster_ref(c);
    s->cluster = c;
    s->has_hash = xp_route_hash(&r->action, &rr, &s->hash, NULL);
    s->retry = xp_route_retry_policy(r, s->vhost);
    xp__router_fields(s);
    if (xp_route_rewrite_path(r, &rr, &s->rewritten_path, &(size_t){0}) != 0) {
        xp_hstream_local_reply(s, 500, NULL, 0, "rewrite_failed");
        return;
    }
    if ((uint64_t)xp_stat_get(c->stats->upstream_rq_active) >= c->cfg->cb.max_requests) {
        xp_stat_inc(c->stats->upstream_rq_pending_overflow);
        xp_hstream_local_reply(s, 503,
                               "upstream connect error or disconnect/reset before headers. reset "
                               "reason: overflow",
                               XP_RF_UO, "overflow");
        return;
    }
    xp_hstream_set_state(s, XP_HS_CONNECTING);
    xp__attempt(s);
}

/* ---- connecting ----------------------------------------------------------- */

static void xp__connect_failed(xp_hstream_t *s, int status)
{
    (void)status;
    s->flags |= XP_RF_UF;
    if (xp__maybe_retry(
            s, XP_RETRY_CONNECT_FAILURE | XP_RETRY_5XX | XP_RETRY_GATEWAY_ERROR | XP_RETRY_RESET,
            0))
        return;
    xp_hstream_local_reply(s, 503,
                           "upstream connect error or disconnect/reset before headers. reset "
                           "reason: connection failure",
                           XP_RF_UF, "upstream_reset_before_response_started{connection_failure}");
}

static void xp__pending_done(xp_hstream_t *s)
{
    if (!s->pending)
        return;
    s->pending = false;
    xp_stat_dec(s->cluster->stats->upstream_rq_pending_active);
    xp_stat_set(s->cluster->stats->rq_pending_open, 0);
}

static void xp__connected(void *ctx, xp_uconn_t *u, int status)
{
    xp_hstream_t *s = ctx;
    xp__pending_done(s);
    if (status != 0) {
        s->up = NULL;
        if (s->host_sel)
            xp_host_rq_end(s->host_sel);
        xp_stat_dec(s->cluster->stats->upstream_rq_active);
        xp__connect_failed(s, status);
        return;
    }
    s->up = u;
    xp__send_request(s);
}

static void xp__attempt(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    s->attempts++;
    xp_host_t *prev = s->host_sel;
    xp_host_t *host = xp_wcluster_choose(s->cluster, s->has_hash ? &s->hash : NULL,
                                         s->attempts > 1 ? prev : NULL);
    if (host == NULL) {
        xp_hstream_local_reply(s, 503, "no healthy upstream", XP_RF_UH, "no_healthy_upstream");
        return;
    }
    xp_host_ref(host);
    if (prev)
        xp_host_unref(prev);
    s->host_sel = host;
    s->upstream_start_ms = xp_now_ms(h);
    xp_uconn_t *u = NULL;
    int rc = xp_uconn_acquire(s->cluster, host, true, xp__connected, s, &u);
    if (rc == UV_EBUSY) {
        xp_hstream_local_reply(s, 503,
                               "upstream connect error or disconnect/reset before headers. reset "
                               "reason: overflow",
                               XP_RF_UO, "overflow");
        return;
    }
    xp_host_rq_begin(host);
    xp_stat_inc(s->cluster->stats->upstream_rq_total); /* per attempt, as Envoy's pools count */
    xp_stat_inc(s->cluster->stats->upstream_rq_active);
    if (rc < 0) {
        xp_host_rq_end(host);
        xp_stat_dec(s->cluster->stats->upstream_rq_active);
        xp__connect_failed(s, rc);
        return;
    }
    if (rc == 0) {
        /* Waiting for a new connection: a pending request (Envoy's
         * max_pending_requests breaker). */
        const xp_cluster_cfg_t *cfg = s->cluster->cfg;
        xp_cluster_stats_t *st = s->cluster->stats;
        if ((uint64_t)xp_stat_get(st->upstream_rq_pending_active) >= cfg->cb.max_pending_requests) {
            xp_stat_inc(st->upstream_rq_pending_overflow);
            xp_stat_set(st->rq_pending_open, 1);
            s->up = u;
            xp_hstream_local_reply(s, 503,
                                   "upstream connect error or disconnect/reset before headers. "
                                   "reset reason: overflow",
                                   XP_RF_UO, "overflow");
            return;
        }
        s->pending = true;
        xp_stat_inc(st->upstream_rq_pending_total);
        xp_stat_inc(st->upstream_rq_pending_active);
    }
    s->up = u;
    xp__arm_timeout(s);
    if (rc == 1)
        xp__send_request(s);
}

/* ---- the request going up ------------------------------------------------- */

/* A working list of header views that edits are applied to in order, as
 * Envoy does: each level's removals, then its additions, seeing what earlier
 * levels did. Views only: names and values stay in the buffers they came
 * from or in static/config memory. */
typedef struct {
    xp_header_t *v; /* local, or malloc'd when it outgrew local */
    size_t n, cap;
    void *own; /* a value's bytes that did not fit a caller's buffer, or NULL */
    xp_header_t local[48];
} xp__hlist_t;

static void xp__hl_init(xp__hlist_t *l, const xp_header_t *h, size_t n, size_t extra)
{
    l->cap = n + extra + 8;
    if (l->cap <= XP_ARRAY_SIZE(l->local)) {
        l->v = l->local;
        l->cap = XP_ARRAY_SIZE(l->local);
    } else {
        l->v = xp_malloc(l->cap * sizeof(*l->v));
    }
    if (n)
        memcpy(l->v, h, n * sizeof(*h));
    l->n = n;
    l->own = NULL;
}

static void xp__hl_free(xp__hlist_t *l)
{
    if (l->v != l->local)
        free(l->v);
    free(l->own);
}

static bool xp__hl_has(const xp__hlist_t *l, xp_str_t name)
{
    for (size_t i = 0; i < l->n; i++)
        if (xp_str_eq_nocase(l->v[i].name, name))
            return true;
    return false;
}

static void xp__hl_remove(xp__hlist_t *l, xp_str_t name)
{
    size_t i = 0;
    while (i < l->n && !xp_str_eq_nocase(l->v[i].name, name))
        i++;
    if (i == l->n)
        return; /* the usual case: nothing moves */
    size_t k = i;
    for (i++; i < l->n; i++)
        if (!xp_str_eq_nocase(l->v[i].name, name))
            l->v[k++] = l->v[i];
    l->n = k;
}

static void xp__hl_add(xp__hlist_t *l, xp_str_t name, xp_str_t value)
{
    if (l->n == l->cap) {
        l->cap *= 2;
        if (l->v == l->local) {
            l->v = xp_malloc(l->cap * sizeof(*l->v));
            memcpy(l->v, l->local, l->n * sizeof(*l->v));
        } else {
            l->v = xp_realloc(l->v, l->cap * sizeof(*l->v));
        }
    }
    l->v[l->n++] = (xp_header_t){name, value};
}

static void xp__hl_set(xp__hlist_t *l, xp_str_t name, xp_str_t value)
{
    xp__hl_remove(l, name);
    xp__hl_add(l, name, value);
}

/* headers_to_remove, then headers_to_add with their append_action. */
static void xp__hl_edit(xp__hlist_t *l, const xp_header_edits_t *e)
{
    for (size_t i = 0; i < e->nremove; i++)
        xp__hl_remove(l, e->remove[i]);
    for (size_t i = 0; i < e->nadd; i++) {
        const xp_header_add_t *a = &e->add[i];
        if (a->value.len == 0 && !a->keep_empty_value)
            continue;
        bool exists = xp__hl_has(l, a->name);
        switch (a->append) {
        case XP_APPEND_IF_EXISTS_OR_ADD:
            xp__hl_add(l, a->name, a->value);
            break;
        case XP_ADD_IF_ABSENT:
            if (!exists)
                xp__hl_add(l, a->name, a->value);
            break;
        case XP_OVERWRITE_IF_EXISTS_OR_ADD:
            xp__hl_set(l, a->name, a->value);
            break;
        case XP_OVERWRITE_IF_EXISTS:
            if (exists)
                xp__hl_set(l, a->name, a->value);
            break;
        }
    }
}

/* Route-level edits first, then virtual host, then route configuration (the
 * least specific applies last and wins, Envoy's default); a weighted
 * cluster's own edits come first of all. */
static void xp__hl_edit_levels(xp__hlist_t *l, const xp_hstream_t *s, bool request)
{
    if (s->wc)
        xp__hl_edit(l, request ? &s->wc->request_headers : &s->wc->response_headers);
    xp__hl_edit(l, request ? &s->route->request_headers : &s->route->response_headers);
    xp__hl_edit(l, request ? &s->vhost->request_headers : &s->vhost->response_headers);
    xp__hl_edit(l, request ? &s->table->request_headers : &s->table->response_headers);
}

static void xp__send_request(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    xp_uconn_t *u = s->up;
    xp_hstream_set_state(s, XP_HS_UPSTREAM);
    xp_uconn_attach(u, &xp__up_ops, s);
    xp_sock_read_start(&u->sock);
    /* The head, any retained or buffered body: one writev. */
    xp_sock_cork(&u->sock);

    const xp_header_t *rh = s->req.headers;
    size_t nrh = s->req.num_headers;
    char xff_local[320], timeout_ms[24];
    xp__hlist_t hl;
    xp__hl_init(&hl, rh, nrh, 16);

    /* What the connection manager sets before routing (Envoy's HCM). */
    xp__hl_remove(&hl, XP_STR_LIT("expect"));
    const xp_header_t *old_xff = xp__find(rh, nrh, "x-forwarded-for");
    if (h->hcm->use_remote_address && !h->hcm->skip_xff_append) {
        /* The client's list, then the peer: as long as the client made it. */
        size_t old = old_xff ? old_xff->value.len + 1 : 0, ip = strlen(h->http->peer_ip);
        char *xff = old + ip <= sizeof(xff_local) ? xff_local : (hl.own = xp_malloc(old + ip));
        if (old_xff) {
            memcpy(xff, old_xff->value.p, old - 1);
            xff[old - 1] = ',';
        }
        memcpy(xff + old, h->http->peer_ip, ip);
        xp__hl_set(&hl, XP_STR_LIT("x-forwarded-for"), xp_str(xff, old + ip));
    }
    /* x-forwarded-proto and -port: kept from a trusted downstream (no edge,
     * or an edge behind trusted hops), else what this hop is (plaintext). */
    bool untrusted = h->hcm->use_remote_address && h->hcm->xff_num_trusted_hops == 0;
    if (untrusted || !xp__find(rh, nrh, "x-forwarded-proto"))
        xp__hl_set(&hl, XP_STR_LIT("x-forwarded-proto"), XP_STR_LIT("http"));
    if (h->hcm->append_x_forwarded_port && (untrusted || !xp__find(rh, nrh, "x-forwarded-port"))) {
        const char *colon = strrchr(h->http->local, ':');
        if (colon)
            xp__hl_set(&hl, XP_STR_LIT("x-forwarded-port"), xp_str_c(colon + 1));
    }
    /* Via (RFC 9110 §7.6.3): a field line of its own is a list element. */
    if (h->hcm->via)
        xp__hl_add(&hl, XP_STR_LIT("via"), xp_str_c(h->hcm->via));
    /* x-envoy-external-address: the trusted client of an edge request (the
     * client's own value left in xp__sanitize); others keep theirs. */
    if (s->edge)
        xp__hl_add(&hl, XP_STR_LIT("x-envoy-external-address"), xp__client_ip(s));
    /* What the router sets. */
    xp__hl_remove(&hl, XP_STR_LIT("x-envoy-expected-rq-timeout-ms"));
    /* The per-try timeout when one applies, else the route's (Envoy). */
    uint64_t expected = s->per_try_ms ? s->per_try_ms : s->timeout_ms;
    if (expected && !s->upgrade) {
        size_t n = xp_u64_dec(timeout_ms, expected);
        xp__hl_add(&hl, XP_STR_LIT("x-envoy-expected-rq-timeout-ms"), xp_str(timeout_ms, n));
    }
    if (s->rewritten_path)
        xp__hl_set(&hl, XP_STR_LIT("x-envoy-original-path"), s->path);
    const xp_route_action_t *act = &s->route->action;
    xp_str_t new_host = {0};
    if (s->wc && s->wc->host_rewrite_literal.len)
        new_host = s->wc->host_rewrite_literal;
    else if (act->host_rewrite == XP_HOST_REWRITE_LITERAL)
        new_host = act->host_rewrite_value;
    else if (act->host_rewrite == XP_HOST_REWRITE_AUTO && s->host_sel->hostname)
        new_host = xp_str_c(s->host_sel->hostname); /* no name: Host unchanged, as Envoy */
    else if (act->host_rewrite == XP_HOST_REWRITE_HEADER) {
        for (size_t i = 0; i < nrh; i++)
            if (xp_str_eq_nocase(rh[i].name, act->host_rewrite_value) && rh[i].value.len)
                new_host = rh[i].value;
    }
    if (new_host.len) {
        xp__hl_set(&hl, XP_STR_LIT("host"), new_host);
        if (act->append_x_forwarded_host && s->host.len)
            xp__hl_add(&hl, XP_STR_LIT("x-forwarded-host"), s->host);
    } else if (s->req.host_idx < 0 && s->host.len) {
        xp__hl_set(&hl, XP_STR_LIT("host"), s->host); /* default_host_for_http_10 */
    }
    xp__hl_edit_levels(&hl, s, true);

    /* Framing: hop-by-hop fields go (the writer drops them); an upgrade
     * keeps its two, a chunked body says so. */
    xp_header_t add[3];
    size_t nadd = 0;
    if (s->req.chunked)
        add[nadd++] = (xp_header_t){XP_STR_LIT("transfer-encoding"), XP_STR_LIT("chunked")};
    if (s->upgrade) {
        add[nadd++] = (xp_header_t){XP_STR_LIT("connection"), XP_STR_LIT("upgrade")};
        add[nadd++] = (xp_header_t){XP_STR_LIT("upgrade"), s->req.upgrade_value};
    }
    rh = hl.v;
    nrh = hl.n;

    xp_http1_edit_t edit = {NULL, 0, add, nadd, true};
    xp_str_t target = s->rewritten_path ? xp_str_c(s->rewritten_path) : s->path;
    /* One pass: a buffer of the bound takes the head whatever is dropped. */
    size_t bound = xp_http1_request_head_bound(s->req.method, target, rh, nrh, &edit);
    xp_chunk_t *c = xp_chunk_new(bound);
    if (c == NULL) {
        xp__hl_free(&hl);
        xp_hstream_local_reply(s, 503, NULL, 0, "out_of_memory");
        return;
    }
    size_t need =
        xp_http1_write_request_head(c->data, bound, s->req.method, target, 1, rh, nrh, &edit);
    xp__hl_free(&hl);
    xp_sock_write(&u->sock, c, c->data, need);
    xp_chunk_unref(c);
    xp_stat_add(s->cluster->stats->upstream_cx_tx_bytes_total, (int64_t)need);

    /* Body retained for a retry goes again. */
    for (size_t i = 0; i < s->n_retained; i++) {
        const xp_body_span_t *b = &s->retained[i];
        if (s->req.chunked)
            xp_sock_write_chunked(&u->sock, b->chunk, b->p, b->len);
        else
            xp_sock_write(&u->sock, b->chunk, b->p, b->len);
    }
    if (s->req_complete) {
        if (s->req.chunked)
            xp_sock_write(&u->sock, NULL, "0\r\n\r\n", 5);
        s->req_sent = true;
        xp__arm_timeout(s);
    }
    /* Buffered body bytes in the connection's input can flow now. */
    xp_hconn_process(h);
    xp_sock_uncork(&u->sock);
}

void xp_hstream_request_body(xp_hstream_t *s, xp_chunk_t *c, const char *p, size_t len,
                             bool complete)
{
    xp_uconn_t *u = s->up;
    if (len) {
        s->req_body_bytes += len;
        if (s->req.chunked)
            xp_sock_write_chunked(&u->sock, c, p, len);
        else
            xp_sock_write(&u->sock, c, p, len);
        xp_stat_add(s->cluster->stats->upstream_cx_tx_bytes_total, (int64_t)len);
        /* Keep the body for a retry while it fits the buffer limit. */
        if (s->retry && !s->retain_overflow) {
            if (s->retained_bytes + len > s->conn->listener->per_connection_buffer_limit_bytes) {
                s->retain_overflow = true;
                for (size_t i = 0; i < s->n_retained; i++)
                    xp_chunk_unref(s->retained[i].chunk);
                s->n_retained = 0;
            } else {
                if (s->n_retained == s->cap_retained) {
                    s->cap_retained = s->cap_retained ? s->cap_retained * 2 : 8;
                    s->retained = xp_realloc(s->retained, s->cap_retained * sizeof(*s->retained));
                }
                s->retained[s->n_retained++] = (xp_body_span_t){xp_chunk_ref(c), p, len};
                s->retained_bytes += len;
            }
        }
    }
    if (complete) {
        s->req_complete = true;
        if (s->req.chunked)
            xp_sock_write(&u->sock, NULL, "0\r\n\r\n", 5);
        s->req_sent = true;
        xp__arm_timeout(s);
    }
}

/* ---- the response coming down --------------------------------------------- */

void xp_hstream_resume_upstream_read(xp_hstream_t *s)
{
    if (s->up && !s->resp_complete)
        xp_sock_read_start(&s->up->sock);
}

static void xp__upgrade_tunnel_closed(xp_tunnel_t *t, int side)
{
    xp_hconn_t *h = t->owner;
    if (side == 1) {
        xp_uconn_sock_closed(h->tunnel_up);
        h->tunnel_up = NULL;
    } else {
        h->open_handles--;
    }
}

static void xp__upgrade_tunnel_done(xp_tunnel_t *t)
{
    xp_hconn_t *h = t->owner;
    xp_stat_dec(h->st->downstream_cx_upgrades_active);
    /* Envoy counts an upgraded stream's idle timeout as a stream's. */
    if (t->end_reason && strcmp(t->end_reason, "idle_timeout") == 0)
        xp_stat_inc(h->st->downstream_rq_idle_timeout);
    xp_hconn_tunnel_done(h);
}

/* 101 relayed: the stream ends, the connection becomes a byte tunnel that
 * keeps nothing of the config. */
static void xp__start_tunnel(xp_hstream_t *s, const char *rest, size_t rest_len, xp_chunk_t *rc)
{
    xp_hconn_t *h = s->conn;
    xp_uconn_t *u = s->up;
    xp_hconn_http_t *http = h->http;
    /* Bytes the client sent after its upgrade request go up first. */
    size_t pending = http->in ? http->in_len - http->in_off : 0;
    if (pending)
        xp_sock_write(&u->sock, http->in, http->in->data + http->in_off, pending);
    if (rest_len)
        xp_hstream_write_down(s, rc, rest, rest_len);
    if (h->state != XP_HC_ACTIVE)
        return; /* a write down failed: closing; the stream goes with the socket */
    s->up = NULL;
    xp_host_rq_end(s->host_sel);
    xp_stat_dec(s->cluster->stats->upstream_rq_active);
    xp_stat_inc(h->st->downstream_cx_upgrades_total);
    xp_stat_inc(h->st->downstream_cx_upgrades_active);
    if (s->timer_init)
        uv_timer_stop(&s->timer);
    uv_timer_stop(&h->idle_timer);
    uint64_t idle = s->route->action.has_idle_timeout ? s->route->action.idle_timeout_ms
                                                      : h->hcm->stream_idle_timeout_ms;
    s->status = 101;
    s->resp_complete = true;
    xp_hstream_set_state(s, XP_HS_TUNNEL);
    h->stream = NULL;
    /* The stream ends here; its references (route, table, cluster) go, and
     * so does everything HTTP (input buffer, parser, addresses as text). */
    h->state = XP_HC_TUNNEL;
    xp_hstream_free(s);
    xp_hconn_http_free(h);
    memset(&h->tunnel, 0, sizeof(h->tunnel));
    h->tunnel.owner = h;
    h->tunnel.done = xp__upgrade_tunnel_done;
    h->tunnel.closed = xp__upgrade_tunnel_closed;
    h->tunnel_up = u;
    xp_uconn_hand_over(u);
    xp_tunnel_start(&h->tunnel, h->w->loop, &h->sock, &u->sock,
                    h->listener->per_connection_buffer_limit_bytes, idle, &h->idle_timer);
}

static void xp__response_done(xp_hstream_t *s, bool reusable)
{
    xp_hconn_t *h = s->conn;
    s->resp_complete = true;
    if (s->timer_init)
        uv_timer_stop(&s->timer);
    if (s->resp_chunked_down)
        xp_hstream_write_down(s, NULL, "0\r\n\r\n", 5);
    if (!s->req_complete) {
        /* The upstream answered before the request ended: neither side's
         * connection can carry another request. */
        h->close_after = true;
        reusable = false;
    }
    xp_stat_inc(s->cluster->stats->upstream_rq_completed);
    if (s->attempts > 1)
        xp_stat_inc(s->cluster->stats->upstream_rq_retry_success);
    xp__drop_upstream(s, reusable && s->resp.keep_alive && s->req_sent);
    xp_hconn_stream_done(h);
}

/* Decodes response body bytes and sends them down. Returns false when the
 * stream ended (completed or failed) inside. */
static bool xp__response_body(xp_hstream_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    xp_hconn_t *h = s->conn;
    while (len || s->resp_body.mode == XP_HTTP1_BODY_NONE || s->resp_body.done) {
        xp_str_t spans[8];
        size_t nspans = 0, used = 0;
        int rc = xp_http1_body_decode(&s->resp_body, p, len, &used, spans, XP_ARRAY_SIZE(spans),
                                      &nspans);
        if (rc < 0) {
            s->flags |= XP_RF_UPE;
            xp_hconn_close(h, true); /* the response is half sent: only a close tells */
            return false;
        }
        for (size_t i = 0; i < nspans; i++) {
            s->resp_body_bytes += spans[i].len;
            if (s->req.method_id == XP_HTTP1_HEAD)
                continue;
            if (s->resp_chunked_down) {
                xp_stat_add(h->st->downstream_cx_tx_bytes_total, (int64_t)spans[i].len);
                xp_sock_write_chunked(&h->sock, c, spans[i].p, spans[i].len);
            } else {
                xp_hstream_write_down(s, c, spans[i].p, spans[i].len);
            }
        }
        p += used;
        len -= used;
        if (rc == XP_HTTP1_DONE) {
            /* Bytes after the response: the upstream broke framing or
             * pipelined garbage; do not reuse its connection. */
            xp__response_done(s, len == 0);
            return false;
        }
        if (used == 0 && nspans == 0)
            break;
    }
    if (h->sock.wpending > h->listener->per_connection_buffer_limit_bytes && s->up)
        xp_sock_read_stop(&s->up->sock); /* resumed by the downstream's on_written */
    return true;
}

/* What the connection manager adds to every response, after the route's
 * edits (Envoy): date when there is none, server by
 * server_header_transformation, via, and the request's x-request-id with
 * always_set_request_id_in_response. */
static void xp__hl_hcm_response(xp__hlist_t *hl, const xp_hstream_t *s)
{
    const xp_hcm_cfg_t *hcm = s->conn->hcm;
    if (!xp__hl_has(hl, XP_STR_LIT("date")))
        xp__hl_add(hl, XP_STR_LIT("date"), xp_str_c(xp_hcm_date()));
    if (hcm->server_header_transformation == 0 /* OVERWRITE */)
        xp__hl_set(hl, XP_STR_LIT("server"), xp_str_c(hcm->server_name));
    else if (hcm->server_header_transformation == 1 /* APPEND_IF_ABSENT */ &&
             !xp__hl_has(hl, XP_STR_LIT("server")))
        xp__hl_add(hl, XP_STR_LIT("server"), xp_str_c(hcm->server_name));
    if (hcm->via)
        xp__hl_add(hl, XP_STR_LIT("via"), xp_str_c(hcm->via));
    const xp_header_t *rid;
    if (hcm->always_set_request_id_in_response &&
        (rid = xp__find(s->req.headers, s->req.num_headers, "x-request-id")) != NULL)
        xp__hl_set(hl, XP_STR_LIT("x-request-id"), rid->value);
}

xp_chunk_t *xp_hstream_reply_chunk(xp_hstream_t *s, int status, const char *body, size_t blen,
                                   xp_str_t location, size_t *head_len)
{
    xp_hconn_t *h = s->conn;
    char clen[24];
    xp__hlist_t hl;
    xp__hl_init(&hl, NULL, 0, 0);
    if (location.len)
        xp__hl_add(&hl, XP_STR_LIT("location"), location);
    if (status != 204)
        xp__hl_add(&hl, XP_STR_LIT("content-length"), xp_str(clen, xp_u64_dec(clen, blen)));
    if (blen)
        xp__hl_add(&hl, XP_STR_LIT("content-type"), XP_STR_LIT("text/plain"));
    if (s->route)
        xp__hl_edit_levels(&hl, s, false);
    xp__hl_hcm_response(&hl, s);
    xp_header_t close = {XP_STR_LIT("connection"), XP_STR_LIT("close")};
    xp_http1_edit_t edit = {NULL, 0, &close, h->close_after, false};
    xp_str_t reason = xp_str_c(xp_http1_reason(status));
    size_t bound = xp_http1_response_head_bound(status, reason, hl.v, hl.n, &edit);
    xp_chunk_t *c = xp_chunk_new(bound + blen);
    if (c) {
        *head_len =
            xp_http1_write_response_head(c->data, bound, 1, status, reason, hl.v, hl.n, &edit);
        if (blen)
            memcpy(c->data + *head_len, body, blen);
    }
    xp__hl_free(&hl);
    return c;
}

static void xp__send_response_head(xp_hstream_t *s)
{
    xp_hconn_t *h = s->conn;
    const xp_http1_head_t *r = &s->resp;
    char ust[24];
    const xp_header_t *rh = r->headers;
    size_t nrh = r->num_headers;

    bool upgrade = r->status_code == 101;
    switch (r->body_mode) {
    case XP_HTTP1_BODY_CHUNKED:
        s->resp_chunked_down = true;
        break;
    case XP_HTTP1_BODY_UNTIL_CLOSE:
        /* RFC 9112 §6.3: an HTTP/1.1 client can get it chunked and keep its
         * connection; an HTTP/1.0 one reads until close. */
        if (s->req.minor_version >= 1)
            s->resp_chunked_down = true;
        else
            h->close_after = true;
        break;
    default:
        break;
    }
    xp__hlist_t hl;
    xp__hl_init(&hl, rh, nrh, 16);
    size_t n = xp_u64_dec(ust, xp_now_ms(h) - s->upstream_start_ms);
    xp__hl_set(&hl, XP_STR_LIT("x-envoy-upstream-service-time"), xp_str(ust, n));
    xp__hl_edit_levels(&hl, s, false);
    xp__hl_hcm_response(&hl, s);
    xp_header_t add[2];
    size_t nadd = 0;
    if (upgrade) {
        add[nadd++] = (xp_header_t){XP_STR_LIT("connection"), XP_STR_LIT("upgrade")};
        add[nadd++] = (xp_header_t){XP_STR_LIT("upgrade"), r->upgrade_value};
    } else {
        if (s->resp_chunked_down)
            add[nadd++] = (xp_header_t){XP_STR_LIT("transfer-encoding"), XP_STR_LIT("chunked")};
        if (h->close_after)
            add[nadd++] = (xp_header_t){XP_STR_LIT("connection"), XP_STR_LIT("close")};
        else if (s->req.minor_version == 0)
            add[nadd++] = (xp_header_t){XP_STR_LIT("connection"), XP_STR_LIT("keep-alive")};
    }
    rh = hl.v;
    nrh = hl.n;
    xp_http1_edit_t edit = {NULL, 0, add, nadd, true};
    size_t bound = xp_http1_response_head_bound(r->status_code, r->reason, rh, nrh, &edit);
    xp_chunk_t *c = xp_chunk_new(bound);
    if (c == NULL) {
        xp__hl_free(&hl);
        xp_hconn_close(h, true);
        return;
    }
    size_t need =
        xp_http1_write_response_head(c->data, bound, 1, r->status_code, r->reason, rh, nrh, &edit);
    xp__hl_free(&hl);
    s->resp_started = true;
    s->status = r->status_code;
    xp_hstream_write_down(s, c, c->data, need);
    xp_chunk_unref(c);
}

/* The response head is complete at buf[0..head_len); rest follows. */
static void xp__response_head(xp_hstream_t *s, xp_chunk_t *c, const char *buf, size_t head_len,
                              size_t total)
{
    xp_hconn_t *h = s->conn;
    int status = s->resp.status_code;
    xp_stat_inc(s->cluster->stats
                    ->upstream_rq_xx[status / 100 >= 1 && status / 100 <= 5 ? status / 100 : 5]);
    if (status == 101) {
        if (!s->upgrade) {
            xp_hstream_local_reply(s, 502, "upstream sent 101 without an upgrade", XP_RF_UPE,
                                   "upstream_protocol_error");
            return;
        }
        xp__send_response_head(s);
        if (h->state == XP_HC_ACTIVE && h->stream == s)
            xp__start_tunnel(s, buf + head_len, total - head_len, c);
        return;
    }
    /* A status the retry policy covers is retried unseen (RFC 9110 §9.2.2:
     * the router only retries what the policy allows). */
    uint32_t cond = 0;
    if (status >= 500)
        cond |= XP_RETRY_5XX;
    if (status == 502 || status == 503 || status == 504)
        cond |= XP_RETRY_GATEWAY_ERROR;
    if (status == 409)
        cond |= XP_RETRY_RETRIABLE_4XX;
    if (xp__maybe_retry(s, cond, status))
        return;
    if (s->upgrade) {
        /* Upgrade refused: an ordinary response; the connection cannot be
         * reused safely by either side. */
        h->close_after = true;
    }
    xp__send_response_head(s);
    if (h->state != XP_HC_ACTIVE || h->stream != s)
        return;
    xp_http1_body_init(&s->resp_body, &s->resp, &h->http->limits);
    xp__response_body(s, c, buf + head_len, total - head_len);
}

static void xp__up_data_corked(xp_sock_t *sk, xp_chunk_t *c, char *p, size_t len);

/* Upstream bytes: everything they make us send downstream (a response head
 * and the body bytes that came with it) leaves in one writev. */
static void xp__up_data(xp_sock_t *sk, xp_chunk_t *c, char *p, size_t len)
{
    xp_uconn_t *u = (xp_uconn_t *)sk;
    xp_hstream_t *s = u->user;
    xp_sock_t *down = &s->conn->sock;
    xp_sock_cork(down);
    xp__up_data_corked(sk, c, p, len);
    xp_sock_uncork(down); /* the connection outlives this call: frees are deferred */
}

static void xp__up_data_corked(xp_sock_t *sk, xp_chunk_t *c, char *p, size_t len)
{
    xp_uconn_t *u = (xp_uconn_t *)sk;
    xp_hstream_t *s = u->user;
    xp_hconn_t *h = s->conn;
    xp_hconn_touch(h);
    if (s->resp_started) {
        xp__response_body(s, c, p, len);
        return;
    }
    /* Accumulate the head; parse from the read chunk directly when it holds
     * the whole head (the common case). */
    const char *buf = p;
    size_t blen = len;
    xp_chunk_t *hc = c;
    if (s->resp_len) {
        if (s->resp_len + len > s->resp_buf->size) {
            xp_chunk_t *n = xp_chunk_new(s->resp_len + len);
            if (n == NULL) {
                xp_hstream_local_reply(s, 502, NULL, XP_RF_UPE, "upstream_headers_too_large");
                return;
            }
            memcpy(n->data, s->resp_buf->data, s->resp_len);
            xp_chunk_unref(s->resp_buf);
            s->resp_buf = n;
        }
        memcpy(s->resp_buf->data + s->resp_len, p, len);
        s->resp_len += len;
        buf = s->resp_buf->data;
        blen = s->resp_len;
        hc = s->resp_buf;
    }
    const size_t max = h->http->limits.max_headers_count;
    for (;;) {
        xp_header_t *scratch = xp_hcm_scratch_headers(max);
        if (!s->resp_scanning) {
            xp_http1_head_init(&s->resp, scratch, max);
            s->resp_scanning = true;
        } else {
            s->resp.headers = scratch; /* written only by the completing call */
        }
        int rc = xp_http1_parse_response(&s->resp, buf, blen, s->req.method_id, &h->http->limits);
        if (rc == XP_EAGAIN) {
            if (hc == c) {
                /* keep the partial head in a private buffer */
                if (s->resp_buf)
                    xp_chunk_unref(s->resp_buf);
                s->resp_buf = xp_chunk_new(blen < XP_CHUNK_SIZE ? XP_CHUNK_SIZE : blen);
                memcpy(s->resp_buf->data, buf, blen);
                s->resp_len = blen;
            } else if (buf != hc->data) {
                /* An interim response went from the front: the partial head
                 * moves to the start, where the next read resumes it. */
                memmove(hc->data, buf, blen);
                s->resp_len = blen;
            }
            return;
        }
        if (rc < 0) {
            if (xp__maybe_retry(s, XP_RETRY_5XX | XP_RETRY_GATEWAY_ERROR | XP_RETRY_RESET, 0))
                return;
            xp_hstream_local_reply(s, 502,
                                   "upstream connect error or disconnect/reset before headers. "
                                   "reset reason: protocol error",
                                   XP_RF_UPE,
                                   "upstream_reset_before_response_started{protocol_error}");
            return;
        }
        if (s->resp.status_code >= 100 && s->resp.status_code < 200 && s->resp.status_code != 101) {
            /* Interim response (100 Continue was already sent by us): drop it
             * and parse the next head from what follows. */
            buf += rc;
            blen -= (size_t)rc;
            xp_http1_head_init(&s->resp, scratch, max);
            if (blen == 0) {
                if (s->resp_buf)
                    s->resp_len = 0;
                return;
            }
            continue;
        }
        /* Keep the buffer holding the head for the stream's life (logs). */
        if (hc == c) {
            if (s->resp_buf)
                xp_chunk_unref(s->resp_buf);
            s->resp_buf = xp_chunk_ref(c);
        }
        s->resp_len = 0;
        s->resp_scanning = false;
        s->resp_headers = xp_hcm_keep_headers(&s->resp);
        xp__response_head(s, hc, buf, (size_t)rc, blen);
        return;
    }
}

static void xp__up_reset(xp_hstream_t *s, bool eof)
{
    xp_hconn_t *h = s->conn;
    if (s->resp_started) {
        if (eof && s->resp_body.mode == XP_HTTP1_BODY_UNTIL_CLOSE) {
            xp__response_done(s, false);
            return;
        }
        s->flags |= XP_RF_UC;
        xp_hconn_close(h, true);
        return;
    }
    xp_stat_inc(s->cluster->stats->upstream_rq_rx_reset);
    if (xp__maybe_retry(s, XP_RETRY_RESET | XP_RETRY_5XX | XP_RETRY_GATEWAY_ERROR, 0))
        return;
    xp_hstream_local_reply(s, 503,
                           "upstream connect error or disconnect/reset before headers. reset "
                           "reason: connection termination",
                           XP_RF_UC,
                           "upstream_reset_before_response_started{connection_termination}");
}

static void xp__up_eof(xp_sock_t *sk)
{
    xp_uconn_t *u = (xp_uconn_t *)sk;
    xp__up_reset(u->user, true);
}

static void xp__up_error(xp_sock_t *sk, int err)
{
    (void)err;
    xp_uconn_t *u = (xp_uconn_t *)sk;
    xp__up_reset(u->user, false);
}

static void xp__up_written(xp_sock_t *sk)
{
    xp_uconn_t *u = (xp_uconn_t *)sk;
    xp_hstream_t *s = u->user;
    if (s && !s->req_complete &&
        sk->wpending <= s->conn->listener->per_connection_buffer_limit_bytes / 2)
        xp_hconn_process(s->conn);
}

static const xp_sock_ops_t xp__up_ops = {
    .on_data = xp__up_data,
    .on_eof = xp__up_eof,
    .on_error = xp__up_error,
    .on_written = xp__up_written,
    .on_close = NULL,
};
