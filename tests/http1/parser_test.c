/* Head parser tests: valid requests and responses of every shape, a table of
 * rejections each with its exact status, and incremental parsing at every
 * split point (and byte at a time, in a buffer that moves between calls). */
#include <stdlib.h>
#include <string.h>

#include "proxy/common/mem.h"
#include "proxy/http1/http1.h"
#include "tests/http1/test_util.h"

#define MAXH 128

static xp_http1_limits_t lim;

/* ---- helpers ----------------------------------------------------------- */

static int parse(bool response, xp_http1_method_t req_method, xp_http1_head_t *h, const char *buf,
                 size_t len, const xp_http1_limits_t *l)
{
    return response ? xp_http1_parse_response(h, buf, len, req_method, l)
                    : xp_http1_parse_request(h, buf, len, l);
}

static long off(xp_str_t s, const char *base)
{
    return s.p ? (long)(s.p - base) : -1;
}

static bool same_str(xp_str_t a, const char *ba, xp_str_t b, const char *bb)
{
    return a.len == b.len && (a.len == 0 || off(a, ba) == off(b, bb));
}

/* Two parses of the same bytes (possibly at different addresses) agree. */
static bool same_head(const xp_http1_head_t *a, const char *ba, const xp_http1_head_t *b,
                      const char *bb)
{
    if (a->num_headers != b->num_headers || a->minor_version != b->minor_version ||
        a->method_id != b->method_id || a->status_code != b->status_code ||
        a->body_mode != b->body_mode || a->content_length != b->content_length ||
        a->chunked != b->chunked || a->keep_alive != b->keep_alive || a->upgrade != b->upgrade ||
        a->expect_100_continue != b->expect_100_continue || a->host_idx != b->host_idx ||
        a->err_status != b->err_status)
        return false;
    if (!same_str(a->method, ba, b->method, bb) || !same_str(a->target, ba, b->target, bb) ||
        !same_str(a->reason, ba, b->reason, bb) ||
        !same_str(a->upgrade_value, ba, b->upgrade_value, bb))
        return false;
    for (size_t i = 0; i < a->num_headers; i++)
        if (!same_str(a->headers[i].name, ba, b->headers[i].name, bb) ||
            !same_str(a->headers[i].value, ba, b->headers[i].value, bb))
            return false;
    return true;
}

/* Parses raw in one call, then split at every offset (two calls), then a
 * byte at a time with the buffer copied to a new address for every call.
 * Checks every way gives the same result as the one-shot parse, which is
 * returned in *out (views into raw). */
static int parse_all_ways(const char *name, bool response, xp_http1_method_t rm, const char *raw,
                          size_t len, xp_http1_head_t *out, xp_header_t *out_hdrs,
                          const xp_http1_limits_t *l)
{
    xp_http1_head_init(out, out_hdrs, MAXH);
    int r0 = parse(response, rm, out, raw, len, l);

    xp_header_t hdrs[MAXH];
    xp_http1_head_t h;
    for (size_t k = 1; k < len; k++) {
        xp_http1_head_init(&h, hdrs, MAXH);
        int r = parse(response, rm, &h, raw, k, l);
        if (r == XP_EAGAIN)
            r = parse(response, rm, &h, raw, len, l);
        EXPECT(r == r0 && (r0 < 0 ? h.err_status == out->err_status : same_head(&h, raw, out, raw)),
               "%s: split at %zu gives %d (status %d), one-shot %d (status %d)", name, k, r,
               h.err_status, r0, out->err_status);
        if (r != r0)
            break;
    }

    /* Byte at a time, in a buffer that moves between calls. */
    xp_http1_head_init(&h, hdrs, MAXH);
    int r = XP_EAGAIN;
    char *prev = NULL;
    size_t k;
    for (k = 1; k <= len && r == XP_EAGAIN; k++) {
        char *b = malloc(k);
        memcpy(b, raw, k);
        r = parse(response, rm, &h, b, k, l);
        free(prev);
        prev = b;
    }
    /* Errors may be found before the whole input is there, with the same
     * status; a success must match the one-shot parse exactly. */
    if (r0 >= 0) {
        EXPECT(r == r0 && k - 1 == (size_t)r0 && same_head(&h, prev, out, raw),
               "%s: byte-at-a-time gives %d after %zu bytes, one-shot %d", name, r, k - 1, r0);
    } else {
        EXPECT(r < 0 && h.err_status == out->err_status,
               "%s: byte-at-a-time gives %d status %d (%s), one-shot %d status %d (%s)", name, r,
               h.err_status, h.err_msg ? h.err_msg : "", r0, out->err_status,
               out->err_msg ? out->err_msg : "");
    }
    free(prev);
    return r0;
}

static bool str_is(xp_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* ---- valid requests ---------------------------------------------------- */

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    xp_http1_method_t method;
    const char *target;
    int minor;
    size_t nheaders;
    xp_http1_body_mode_t body;
    int64_t cl;
    bool keep_alive;
    bool upgrade;
    bool expect;
} req_case_t;

#define REQ(name, raw, m, t, minor, nh, body, cl, ka, up, ex)                                      \
    {                                                                                              \
        name, raw, sizeof(raw) - 1, m, t, minor, nh, body, cl, ka, up, ex                          \
    }

#define NONE_   XP_HTTP1_BODY_NONE
#define LENGTH_ XP_HTTP1_BODY_LENGTH
#define CHUNK_  XP_HTTP1_BODY_CHUNKED
#define CLOSE_  XP_HTTP1_BODY_UNTIL_CLOSE

static const req_case_t valid_reqs[] = {
    REQ("simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_GET, "/", 1, 1, NONE_, -1, true,
        false, false),
    REQ("leading empty lines", "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_GET, "/x", 1,
        1, NONE_, -1, true, false, false),
    REQ("HTTP/1.0 no Host", "GET /a?b=c HTTP/1.0\r\n\r\n", XP_HTTP1_GET, "/a?b=c", 0, 0, NONE_, -1,
        false, false, false),
    REQ("HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", XP_HTTP1_GET,
        "/", 0, 1, NONE_, -1, true, false, false),
    REQ("POST CL", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", XP_HTTP1_POST,
        "/p", 1, 2, LENGTH_, 5, true, false, false),
    REQ("POST CL 0", "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", XP_HTTP1_POST,
        "/p", 1, 2, NONE_, 0, true, false, false),
    REQ("POST chunked", "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        XP_HTTP1_POST, "/p", 1, 2, CHUNK_, -1, true, false, false),
    REQ("TE chunked any case with OWS and empty element",
        "PUT /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , CHUNKED \t\r\n\r\n", XP_HTTP1_PUT, "/p",
        1, 2, CHUNK_, -1, true, false, false),
    REQ("CL identical list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n",
        XP_HTTP1_POST, "/", 1, 2, LENGTH_, 7, true, false, false),
    REQ("CL repeated identical",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\ncontent-length: 007\r\n\r\n",
        XP_HTTP1_POST, "/", 1, 3, LENGTH_, 7, true, false, false),
    REQ("CL max int64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
        XP_HTTP1_POST, "/", 1, 2, LENGTH_, INT64_MAX, true, false, false),
    REQ("Connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
        XP_HTTP1_GET, "/", 1, 2, NONE_, -1, false, false, false),
    REQ("websocket upgrade",
        "GET /ws HTTP/1.1\r\nHost: a:8080\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        XP_HTTP1_GET, "/ws", 1, 5, NONE_, -1, true, true, false),
    REQ("Upgrade without Connection: upgrade",
        "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", XP_HTTP1_GET, "/ws", 1, 2,
        NONE_, -1, true, false, false),
    REQ("Upgrade ignored in 1.0",
        "GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", XP_HTTP1_GET,
        "/ws", 0, 2, NONE_, -1, false, false, false),
    REQ("Expect 100-continue",
        "PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n",
        XP_HTTP1_PUT, "/f", 1, 3, LENGTH_, 10, true, false, true),
    REQ("Expect ignored in 1.0",
        "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", XP_HTTP1_PUT, "/f",
        0, 2, LENGTH_, 10, false, false, false),
    REQ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_OPTIONS, "*", 1, 1, NONE_,
        -1, true, false, false),
    REQ("CONNECT authority-form",
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", XP_HTTP1_CONNECT,
        "example.com:443", 1, 1, NONE_, -1, true, false, false),
    REQ("CONNECT IPv6", "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", XP_HTTP1_CONNECT,
        "[::1]:8443", 1, 1, NONE_, -1, true, false, false),
    REQ("absolute-form", "GET http://example.com/a/b?q HTTP/1.1\r\nHost: example.com\r\n\r\n",
        XP_HTTP1_GET, "http://example.com/a/b?q", 1, 1, NONE_, -1, true, false, false),
    REQ("extension method", "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_OTHER, "/cache", 1,
        1, NONE_, -1, true, false, false),
    REQ("lowercase method is a token", "get / HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_OTHER, "/", 1,
        1, NONE_, -1, true, false, false),
    REQ("all common methods: HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_HEAD, "/", 1, 1,
        NONE_, -1, true, false, false),
    REQ("DELETE", "DELETE /r/1 HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_DELETE, "/r/1", 1, 1, NONE_,
        -1, true, false, false),
    REQ("TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_TRACE, "/", 1, 1, NONE_, -1, true,
        false, false),
    REQ("PATCH", "PATCH /r HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}", XP_HTTP1_PATCH,
        "/r", 1, 2, LENGTH_, 2, true, false, false),
    REQ("HTTP/1.2 treated as 1.x", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", XP_HTTP1_GET, "/", 2, 1,
        NONE_, -1, true, false, false),
    REQ("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", XP_HTTP1_GET, "/", 1, 1, NONE_, -1, true,
        false, false),
    REQ("empty values, OWS, obs-text",
        "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Ows: \t v a l \t\r\nX-Utf8: "
        "caf\xc3\xa9\r\n\r\n",
        XP_HTTP1_GET, "/", 1, 4, NONE_, -1, true, false, false),
    REQ("odd but valid target chars",
        "GET /a/b;c=d?e=f&g=%20|{}[]^`~!$'()*+,:@ HTTP/1.1\r\nHost: a\r\n\r\n", XP_HTTP1_GET,
        "/a/b;c=d?e=f&g=%20|{}[]^`~!$'()*+,:@", 1, 1, NONE_, -1, true, false, false),
    REQ("tokens with all tchars",
        "M!#$%&'*+-.^_`|~9 / HTTP/1.1\r\nHost: a\r\nX!#$%&'*+-.^_`|~: v\r\n\r\n", XP_HTTP1_OTHER,
        "/", 1, 2, NONE_, -1, true, false, false),
    REQ("GET with body", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", XP_HTTP1_GET,
        "/", 1, 2, LENGTH_, 3, true, false, false),
};

static void test_valid_requests(void)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(valid_reqs); i++) {
        const req_case_t *c = &valid_reqs[i];
        xp_header_t hdrs[MAXH];
        xp_http1_head_t h;
        int r = parse_all_ways(c->name, false, XP_HTTP1_OTHER, c->raw, c->len, &h, hdrs, &lim);
        /* Any bytes after the blank line are body, not head. */
        const char *eoh = strstr(c->raw + (c->raw[0] == '\r' ? 4 : 0), "\r\n\r\n");
        size_t want = eoh ? (size_t)(eoh + 4 - c->raw) : 0;
        EXPECT(r == (int)want, "%s: returned %d (%s), want %zu", c->name, r,
               h.err_msg ? h.err_msg : "", want);
        if (r <= 0)
            continue;
        EXPECT(h.method_id == c->method, "%s: method %s", c->name,
               xp_http1_method_to_str(h.method_id));
        EXPECT(str_is(h.target, c->target), "%s: target '%.*s'", c->name, (int)h.target.len,
               h.target.p);
        EXPECT(h.minor_version == c->minor, "%s: minor %d", c->name, h.minor_version);
        EXPECT(h.num_headers == c->nheaders, "%s: %zu headers", c->name, h.num_headers);
        EXPECT(h.body_mode == c->body, "%s: body %s", c->name,
               xp_http1_body_mode_to_str(h.body_mode));
        EXPECT(h.content_length == c->cl, "%s: content_length %lld", c->name,
               (long long)h.content_length);
        EXPECT(h.has_body == (c->body != NONE_), "%s: has_body", c->name);
        EXPECT(h.chunked == (c->body == CHUNK_), "%s: chunked", c->name);
        EXPECT(h.keep_alive == c->keep_alive, "%s: keep_alive %d", c->name, h.keep_alive);
        EXPECT(h.upgrade == c->upgrade, "%s: upgrade %d", c->name, h.upgrade);
        EXPECT(h.expect_100_continue == c->expect, "%s: expect %d", c->name, h.expect_100_continue);
        EXPECT(h.err_status == 0 && h.err_msg == NULL, "%s: error set on success", c->name);
    }
}

static void test_request_details(void)
{
    xp_header_t hdrs[MAXH];
    xp_http1_head_t h;
    const char raw[] = "GET /ws HTTP/1.1\r\nHost: example.com\r\nX-A:  spaced value \t\r\n"
                       "Connection: upgrade\r\nUpgrade: websocket\r\nX-Empty:\r\n\r\n";
    int r = parse_all_ways("details", false, XP_HTTP1_OTHER, raw, sizeof(raw) - 1, &h, hdrs, &lim);
    EXPECT(r == (int)sizeof(raw) - 1, "details: %d", r);
    EXPECT(str_is(h.method, "GET"), "method");
    EXPECT(h.host_idx == 0 && str_is(h.headers[0].value, "example.com"), "host idx/value");
    EXPECT(str_is(h.headers[1].name, "X-A") && str_is(h.headers[1].value, "spaced value"),
           "OWS trimmed: '%.*s'", (int)h.headers[1].value.len, h.headers[1].value.p);
    EXPECT(h.connection_idx == 2 && h.upgrade_idx == 3, "indices %d %d", h.connection_idx,
           h.upgrade_idx);
    EXPECT(str_is(h.upgrade_value, "websocket"), "upgrade value");
    EXPECT(h.headers[4].value.len == 0, "empty value");
    EXPECT(h.content_length_idx == -1 && h.transfer_encoding_idx == -1, "absent indices");
    EXPECT(xp_http1_find_header(&h, XP_STR_LIT("x-a"), 0) == 1, "find_header nocase");
    EXPECT(xp_http1_find_header(&h, XP_STR_LIT("x-a"), 2) == -1, "find_header from");
    /* Views point into the input buffer: zero copy. */
    EXPECT(h.target.p == raw + 4, "target is a view into buf");

    /* Exactly max_headers_count fields is fine; the array caps the count. */
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < 100; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: %d\r\n", i, i);
    n += (size_t)snprintf(big + n, sizeof(big) - n, "\r\n");
    xp_http1_head_init(&h, hdrs, MAXH);
    r = xp_http1_parse_request(&h, big, n, &lim);
    EXPECT(r == (int)n && h.num_headers == 100, "100 headers accepted: %d", r);
    xp_http1_head_init(&h, hdrs, 50);
    r = xp_http1_parse_request(&h, big, n, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "array of 50 caps count: %d %d", r,
           h.err_status);

    /* Pipelined requests: the second starts where the first head ends. */
    const char pipe[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    xp_http1_head_init(&h, hdrs, MAXH);
    r = xp_http1_parse_request(&h, pipe, sizeof(pipe) - 1, &lim);
    EXPECT(r == 28 && str_is(h.target, "/1"), "pipelined 1: %d", r);
    xp_http1_head_init(&h, hdrs, MAXH);
    int r2 = xp_http1_parse_request(&h, pipe + r, sizeof(pipe) - 1 - (size_t)r, &lim);
    EXPECT(r2 == 28 && str_is(h.target, "/2"), "pipelined 2: %d", r2);

    /* Incomplete heads ask for more. */
    xp_http1_head_init(&h, hdrs, MAXH);
    EXPECT(xp_http1_parse_request(&h, "GET / HTTP/1.1\r\nHost: a\r\n\r", 27, &lim) == XP_EAGAIN,
           "incomplete");
    xp_http1_head_init(&h, hdrs, MAXH);
    EXPECT(xp_http1_parse_request(&h, "", 0, &lim) == XP_EAGAIN, "empty input");
}

/* ---- rejected requests ------------------------------------------------- */

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    int status;
} bad_case_t;

#define BAD(name, raw, status)                                                                     \
    {                                                                                              \
        name, raw, sizeof(raw) - 1, status                                                         \
    }
#define H11 "GET / HTTP/1.1\r\nHost: a\r\n"
#define P11 "POST / HTTP/1.1\r\nHost: a\r\n"

static const bad_case_t bad_reqs[] = {
    /* framing: Content-Length (RFC 9110 §8.6, RFC 9112 §6.3) */
    BAD("CL + TE", P11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE + CL", P11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("double CL differing", P11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    BAD("CL list differing", P11 "Content-Length: 5, 6\r\n\r\n", 400),
    BAD("CL plus sign", P11 "Content-Length: +5\r\n\r\n", 400),
    BAD("CL minus sign", P11 "Content-Length: -1\r\n\r\n", 400),
    BAD("CL inner space", P11 "Content-Length: 1 0\r\n\r\n", 400),
    BAD("CL hex", P11 "Content-Length: 0x10\r\n\r\n", 400),
    BAD("CL empty", P11 "Content-Length:\r\n\r\n", 400),
    BAD("CL empty list element", P11 "Content-Length: 5,\r\n\r\n", 400),
    BAD("CL overflow", P11 "Content-Length: 9223372036854775808\r\n\r\n", 400),
    BAD("CL huge", P11 "Content-Length: 99999999999999999999999\r\n\r\n", 400),
    BAD("CL decimal point", P11 "Content-Length: 5.0\r\n\r\n", 400),
    /* framing: Transfer-Encoding (RFC 9112 §6.1) */
    BAD("HTTP/1.0 + TE", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE gzip", P11 "Transfer-Encoding: gzip\r\n\r\n", 501),
    BAD("TE gzip, chunked", P11 "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
    BAD("TE chunked, gzip", P11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 501),
    BAD("TE unknown token", P11 "Transfer-Encoding: xchunked\r\n\r\n", 501),
    BAD("TE identity", P11 "Transfer-Encoding: identity\r\n\r\n", 501),
    BAD("TE chunked, chunked", P11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
    BAD("TE chunked twice as fields",
        P11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("TE empty", P11 "Transfer-Encoding:\r\n\r\n", 400),
    BAD("TE only commas", P11 "Transfer-Encoding: , ,\r\n\r\n", 400),
    BAD("TE with parameter", P11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 400),
    BAD("TE quoted", P11 "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),
    BAD("TE vertical tab", P11 "Transfer-Encoding: chunked\x0b\r\n\r\n", 400),
    BAD("TE space before colon", P11 "Transfer-Encoding : chunked\r\n\r\n", 400),
    /* line syntax (RFC 9112 §2.2, §5) */
    BAD("bare LF after header", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
    BAD("bare LF request-line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    BAD("bare LF terminator", "GET / HTTP/1.1\nHost: a\n\n", 400),
    BAD("bare LF before request-line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("bare CR in value", H11 "X-A: a\rb\r\n\r\n", 400),
    BAD("bare CR in request-line", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400),
    BAD("bare CR as line end", H11 "X-A: a\rX-B: b\r\n\r\n", 400),
    BAD("bare CR before request-line", "\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("CR CR LF at end", H11 "\r\r\n\r\n", 400),
    BAD("obs-fold SP", H11 "X-A: a\r\n b\r\n\r\n", 400),
    BAD("obs-fold HTAB", H11 "X-A: a\r\n\tb\r\n\r\n", 400),
    BAD("obs-fold first line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    BAD("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    BAD("tab before colon", H11 "X-A\t: a\r\n\r\n", 400),
    BAD("empty field name", H11 ": a\r\n\r\n", 400),
    BAD("no colon", H11 "X-A\r\n\r\n", 400),
    BAD("invalid name char", H11 "X@A: a\r\n\r\n", 400),
    BAD("non-ASCII name", H11 "X-\xc3\xa9: a\r\n\r\n", 400),
    BAD("NUL in value", H11 "X-A: a\0b\r\n\r\n", 400),
    BAD("SOH in value", H11 "X-A: a\x01\r\n\r\n", 400),
    BAD("DEL in value", H11 "X-A: a\x7f\r\n\r\n", 400),
    BAD("ESC in value", H11 "X-A: \x1b[0m\r\n\r\n", 400),
    /* request-line (RFC 9112 §3) */
    BAD("invalid method char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("method with NUL", "G\0T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("double SP after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("double SP before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("trailing space after version", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    BAD("lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("short version", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
    BAD("two-digit minor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    BAD("missing version", "GET /\r\nHost: a\r\n\r\n", 400),
    BAD("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    BAD("HTTP/0.9", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    BAD("HTTP/3.0", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    BAD("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    /* request-target form (RFC 9112 §3.2) */
    BAD("asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("CONNECT origin-form", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("CONNECT without port", "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("bad scheme", "GET 1http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    /* Host (RFC 9112 §3.2) */
    BAD("missing Host", "GET / HTTP/1.1\r\n\r\n", 400),
    BAD("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    BAD("two Hosts same", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    BAD("two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    BAD("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    BAD("Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    BAD("Host with at", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
};

static void test_bad_requests(void)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(bad_reqs); i++) {
        const bad_case_t *c = &bad_reqs[i];
        xp_header_t hdrs[MAXH];
        xp_http1_head_t h;
        int r = parse_all_ways(c->name, false, XP_HTTP1_OTHER, c->raw, c->len, &h, hdrs, &lim);
        EXPECT(r < 0 && r != XP_EAGAIN && h.err_status == c->status,
               "%s: returned %d status %d (%s), want status %d", c->name, r, h.err_status,
               h.err_msg ? h.err_msg : "-", c->status);
        int want_code = c->status == 501                         ? XP_ENOTSUP
                        : (c->status == 414 || c->status == 431) ? XP_ETOOBIG
                                                                 : XP_EPROTO;
        EXPECT(r == want_code, "%s: code %d want %d", c->name, r, want_code);
        EXPECT(h.err_msg != NULL, "%s: no err_msg", c->name);
    }
}

/* Limits: 414 and 431, with the defaults and with custom limits. */
static void test_limits(void)
{
    xp_header_t hdrs[MAXH];
    xp_http1_head_t h;
    size_t cap = 200 * 1024;
    char *buf = malloc(cap);
    size_t n;
    int r;

    /* 70 KiB target with defaults → 414, complete or not. */
    n = (size_t)snprintf(buf, cap, "GET /");
    memset(buf + n, 'a', 70 * 1024);
    n += 70 * 1024;
    size_t partial = n;
    n += (size_t)snprintf(buf + n, cap - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    r = parse_all_ways("long URI", false, XP_HTTP1_OTHER, buf, n, &h, hdrs, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 414, "long URI: %d %d", r, h.err_status);
    xp_http1_head_init(&h, hdrs, MAXH);
    r = xp_http1_parse_request(&h, buf, partial, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 414, "long URI, incomplete: %d %d", r, h.err_status);

    /* Custom target limit. */
    xp_http1_limits_t small = lim;
    small.max_target_len = 10;
    const char ok10[] = "GET /123456789 HTTP/1.1\r\nHost: a\r\n\r\n";
    const char long11[] = "GET /1234567890 HTTP/1.1\r\nHost: a\r\n\r\n";
    r = parse_all_ways("target at limit", false, 0, ok10, sizeof(ok10) - 1, &h, hdrs, &small);
    EXPECT(r == (int)sizeof(ok10) - 1, "target of 10 with limit 10: %d", r);
    r = parse_all_ways("target over limit", false, 0, long11, sizeof(long11) - 1, &h, hdrs, &small);
    EXPECT(r == XP_ETOOBIG && h.err_status == 414, "target of 11 with limit 10: %d %d", r,
           h.err_status);

    /* One huge header → 431 (complete head, and before the end arrives). */
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(buf + n, 'v', 61 * 1024);
    n += 61 * 1024;
    partial = n;
    n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    xp_http1_head_init(&h, hdrs, MAXH);
    r = xp_http1_parse_request(&h, buf, n, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "huge header: %d %d", r, h.err_status);
    xp_http1_head_init(&h, hdrs, MAXH);
    r = xp_http1_parse_request(&h, buf, partial, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "huge header, incomplete: %d %d", r,
           h.err_status);
    /* Exactly at the limit is fine. */
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    size_t fill = 60 * 1024 - n - 4;
    memset(buf + n, 'v', fill);
    n += fill;
    n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    xp_http1_head_init(&h, hdrs, MAXH);
    r = xp_http1_parse_request(&h, buf, n, &lim);
    EXPECT(n == 60 * 1024 && r == (int)n, "head of exactly 60 KiB: %d", r);

    /* Many small headers over 60 KiB total → 431 even under the count limit. */
    xp_http1_limits_t many = lim;
    many.max_headers_count = 100000;
    xp_header_t *bigarr = malloc(sizeof(xp_header_t) * 100000);
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; n < 62 * 1024; i++)
        n += (size_t)snprintf(buf + n, cap - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    xp_http1_head_init(&h, bigarr, 100000);
    r = xp_http1_parse_request(&h, buf, n, &many);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "many headers over size: %d %d", r,
           h.err_status);
    free(bigarr);

    /* 101 headers → 431 with the default count limit. */
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, cap - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    r = parse_all_ways("too many headers", false, 0, buf, n, &h, hdrs, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "101 headers: %d %d", r, h.err_status);

    /* Custom small limits. */
    xp_http1_limits_t tiny = lim;
    tiny.max_headers_count = 2;
    const char three[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    r = parse_all_ways("3 headers, limit 2", false, 0, three, sizeof(three) - 1, &h, hdrs, &tiny);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "3 headers limit 2: %d %d", r, h.err_status);
    tiny = lim;
    tiny.max_headers_kb = 1;
    n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(buf + n, 'x', 1024);
    n += 1024;
    n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    r = parse_all_ways("1 KiB limit", false, 0, buf, n, &h, hdrs, &tiny);
    EXPECT(r == XP_ETOOBIG && h.err_status == 431, "1 KiB limit: %d %d", r, h.err_status);
    free(buf);
}

/* ---- responses --------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    xp_http1_method_t req_method;
    int status;
    xp_http1_body_mode_t body;
    int64_t cl;
    bool keep_alive;
    bool upgrade;
} resp_case_t;

#define RESP(name, raw, rm, st, body, cl, ka, up)                                                  \
    {                                                                                              \
        name, raw, sizeof(raw) - 1, rm, st, body, cl, ka, up                                       \
    }

static const resp_case_t valid_resps[] = {
    RESP("200 CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", XP_HTTP1_GET, 200, LENGTH_,
         5, true, false),
    RESP("200 CL 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", XP_HTTP1_GET, 200, NONE_, 0,
         true, false),
    RESP("200 chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", XP_HTTP1_GET, 200,
         CHUNK_, -1, true, false),
    RESP("200 until close", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", XP_HTTP1_GET,
         200, CLOSE_, -1, false, false),
    RESP("200 TE gzip until close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
         XP_HTTP1_GET, 200, CLOSE_, -1, false, false),
    RESP("200 TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
         XP_HTTP1_GET, 200, CHUNK_, -1, true, false),
    RESP("204", "HTTP/1.1 204 No Content\r\n\r\n", XP_HTTP1_DELETE, 204, NONE_, -1, true, false),
    RESP("304 with CL", "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", XP_HTTP1_GET,
         304, NONE_, 100, true, false),
    RESP("100 continue", "HTTP/1.1 100 Continue\r\n\r\n", XP_HTTP1_PUT, 100, NONE_, -1, true,
         false),
    RESP("103 early hints", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
         XP_HTTP1_GET, 103, NONE_, -1, true, false),
    RESP("HEAD response with CL", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", XP_HTTP1_HEAD,
         200, NONE_, 1000, true, false),
    RESP("HEAD response chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
         XP_HTTP1_HEAD, 200, NONE_, -1, true, false),
    RESP("101 upgrade",
         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
         XP_HTTP1_GET, 101, NONE_, -1, true, true),
    RESP("CONNECT 200", "HTTP/1.1 200 Connection established\r\n\r\n", XP_HTTP1_CONNECT, 200, NONE_,
         -1, true, false),
    RESP("CONNECT 407 has body", "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n",
         XP_HTTP1_CONNECT, 407, LENGTH_, 3, true, false),
    RESP("1.0 keep-alive CL",
         "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n", XP_HTTP1_GET,
         200, LENGTH_, 2, true, false),
    RESP("1.0 CL no keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", XP_HTTP1_GET, 200,
         LENGTH_, 2, false, false),
    RESP("close", "HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
         XP_HTTP1_GET, 500, LENGTH_, 2, false, false),
    RESP("no reason, SP", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", XP_HTTP1_GET, 200, NONE_, 0,
         true, false),
    RESP("no reason, no SP", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", XP_HTTP1_GET, 404, NONE_,
         0, true, false),
    RESP("reason with obs-text", "HTTP/1.1 200 Tr\xc3\xa8s bien\r\nContent-Length: 0\r\n\r\n",
         XP_HTTP1_GET, 200, NONE_, 0, true, false),
};

static const bad_case_t bad_resps[] = {
    BAD("HTTP/2 response", "HTTP/2.0 200 OK\r\n\r\n", 502),
    BAD("lowercase version", "http/1.1 200 OK\r\n\r\n", 502),
    BAD("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", 502),
    BAD("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", 502),
    BAD("status 600", "HTTP/1.1 600 OK\r\n\r\n", 502),
    BAD("status 099", "HTTP/1.1 099 OK\r\n\r\n", 502),
    BAD("no SP after version", "HTTP/1.1200 OK\r\n\r\n", 502),
    BAD("CL + TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        502),
    BAD("TE in 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 502),
    BAD("chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 502),
    BAD("CL differing", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 502),
    BAD("CL negative", "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", 502),
    BAD("obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", 502),
    BAD("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 502),
    BAD("bare CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n", 502),
    BAD("NUL in value", "HTTP/1.1 200 OK\r\nX-A: \0\r\n\r\n", 502),
    BAD("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", 502),
    BAD("leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n", 502),
};

static void test_responses(void)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(valid_resps); i++) {
        const resp_case_t *c = &valid_resps[i];
        xp_header_t hdrs[MAXH];
        xp_http1_head_t h;
        int r = parse_all_ways(c->name, true, c->req_method, c->raw, c->len, &h, hdrs, &lim);
        const char *eoh = strstr(c->raw, "\r\n\r\n");
        EXPECT(r == (int)(eoh + 4 - c->raw), "%s: returned %d (%s)", c->name, r,
               h.err_msg ? h.err_msg : "");
        if (r <= 0)
            continue;
        EXPECT(h.is_response && h.status_code == c->status, "%s: status %d", c->name,
               h.status_code);
        EXPECT(h.body_mode == c->body, "%s: body %s", c->name,
               xp_http1_body_mode_to_str(h.body_mode));
        EXPECT(h.content_length == c->cl, "%s: cl %lld", c->name, (long long)h.content_length);
        EXPECT(h.keep_alive == c->keep_alive, "%s: keep_alive %d", c->name, h.keep_alive);
        EXPECT(h.upgrade == c->upgrade, "%s: upgrade %d", c->name, h.upgrade);
        EXPECT(h.has_body == (c->body != NONE_), "%s: has_body", c->name);
    }
    xp_header_t hdrs[MAXH];
    xp_http1_head_t h;
    const char ok[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    parse_all_ways("reason", true, XP_HTTP1_GET, ok, sizeof(ok) - 1, &h, hdrs, &lim);
    EXPECT(str_is(h.reason, "Not Found") && h.minor_version == 1, "reason '%.*s'",
           (int)h.reason.len, h.reason.p);

    for (size_t i = 0; i < XP_ARRAY_SIZE(bad_resps); i++) {
        const bad_case_t *c = &bad_resps[i];
        int r = parse_all_ways(c->name, true, XP_HTTP1_GET, c->raw, c->len, &h, hdrs, &lim);
        EXPECT(r < 0 && r != XP_EAGAIN && h.err_status == 502, "%s: returned %d status %d", c->name,
               r, h.err_status);
    }

    /* Response header limits answer 502 too. */
    size_t cap = 70 * 1024;
    char *buf = malloc(cap);
    size_t n = (size_t)snprintf(buf, cap, "HTTP/1.1 200 OK\r\nX: ");
    memset(buf + n, 'x', 61 * 1024);
    n += 61 * 1024;
    n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    xp_http1_head_init(&h, hdrs, MAXH);
    int r = xp_http1_parse_response(&h, buf, n, XP_HTTP1_GET, &lim);
    EXPECT(r == XP_ETOOBIG && h.err_status == 502, "huge response head: %d %d", r, h.err_status);
    free(buf);
}

/* Removing a field line keeps the others' order and the *_idx fields on the
 * same lines; appending stops at the array's capacity. */
static void test_head_edits(void)
{
    xp_header_t hdrs[6];
    xp_http1_head_t h;
    const char raw[] = "POST /u HTTP/1.1\r\nX-Envoy-Retry-On: 5xx\r\nHost: a\r\n"
                       "Content-Length: 3\r\nX-Drop: 1\r\nConnection: keep-alive\r\n\r\nabc";
    xp_http1_head_init(&h, hdrs, 6);
    int r = xp_http1_parse_request(&h, raw, sizeof(raw) - 1, &lim);
    EXPECT(r > 0 && h.num_headers == 5, "edits: parsed %d, %zu fields", r, h.num_headers);
    EXPECT(h.host_idx == 1 && h.content_length_idx == 2 && h.connection_idx == 4, "indices before");
    xp_http1_head_remove(&h, 0);
    EXPECT(h.num_headers == 4 && str_is(h.headers[0].name, "Host"), "first removed");
    EXPECT(h.host_idx == 0 && h.content_length_idx == 1 && h.connection_idx == 3,
           "indices moved down: %d %d %d", h.host_idx, h.content_length_idx, h.connection_idx);
    xp_http1_head_remove(&h, 2); /* X-Drop */
    EXPECT(h.num_headers == 3 && str_is(h.headers[2].name, "Connection") && h.connection_idx == 2 &&
               h.content_length_idx == 1,
           "middle removed: %d %d", h.connection_idx, h.content_length_idx);
    xp_http1_head_remove(&h, 0); /* Host itself */
    EXPECT(h.host_idx == -1 && h.content_length_idx == 0 && h.connection_idx == 1,
           "removed line's index is -1: %d", h.host_idx);
    xp_http1_head_remove(&h, 7); /* out of range: nothing */
    EXPECT(h.num_headers == 2, "out of range ignored");
    for (int i = 0; i < 4; i++)
        EXPECT(xp_http1_head_append(&h, XP_STR_LIT("x-envoy-internal"), XP_STR_LIT("true")),
               "append %d", i);
    EXPECT(h.num_headers == 6 && str_is(h.headers[5].value, "true"), "appended");
    EXPECT(!xp_http1_head_append(&h, XP_STR_LIT("x"), XP_STR_LIT("y")) && h.num_headers == 6,
           "append past capacity refused");
}

int main(void)
{
    xp_http1_limits_default(&lim);
    test_valid_requests();
    test_request_details();
    test_bad_requests();
    test_limits();
    test_responses();
    test_head_edits();
    printf("tables: %zu valid requests, %zu rejected requests, %zu valid responses, "
           "%zu rejected responses\n",
           XP_ARRAY_SIZE(valid_reqs), XP_ARRAY_SIZE(bad_reqs), XP_ARRAY_SIZE(valid_resps),
           XP_ARRAY_SIZE(bad_resps));
    return t_finish("parser_test");
}
