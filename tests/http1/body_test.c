/* Body framing decoder and writer tests. Every chunked vector is decoded in
 * one piece, split in two at every offset, and a byte at a time, with few
 * output spans so the "spans ran out" path is exercised; all ways must give
 * the same payload, the same end, and the same error status. */
#include <stdlib.h>
#include <string.h>

#include "proxy/common/mem.h"
#include "proxy/http1/http1.h"
#include "tests/http1/test_util.h"

static xp_http1_limits_t lim;

typedef struct {
    int r;           /* last return: XP_HTTP1_DONE, 0 or an error */
    size_t consumed; /* bytes consumed in total */
    int err_status;
    char payload[4096];
    size_t plen;
} result_t;

static void init_body(xp_http1_body_t *b, xp_http1_body_mode_t mode, int64_t cl, bool response)
{
    xp_header_t hdrs[1];
    xp_http1_head_t h;
    xp_http1_head_init(&h, hdrs, 1);
    h.body_mode = mode;
    h.content_length = cl;
    h.is_response = response;
    xp_http1_body_init(b, &h, &lim);
}

/* Feeds raw[0..len) in pieces ending at the offsets in cuts (ascending, the
 * last == len), like a connection whose reads return those pieces. */
static void decode_pieces(xp_http1_body_mode_t mode, int64_t cl, const char *raw, size_t len,
                          const size_t *cuts, size_t ncuts, size_t max_spans, result_t *res)
{
    xp_http1_body_t b;
    init_body(&b, mode, cl, false);
    memset(res, 0, sizeof(*res));
    EXPECT(ncuts > 0 && cuts[ncuts - 1] == len, "bad cuts");
    size_t pos = 0; /* first unconsumed byte */
    for (size_t c = 0; c < ncuts; c++) {
        size_t avail_end = cuts[c];
        for (;;) {
            xp_str_t spans[4];
            size_t consumed = 0, ns = 0;
            /* Copy the unconsumed bytes to a fresh buffer: spans must point
             * into the buffer given, never into an older one. */
            size_t n = avail_end - pos;
            char *copy = malloc(n ? n : 1);
            memcpy(copy, raw + pos, n);
            res->r = xp_http1_body_decode(&b, copy, n, &consumed, spans, max_spans, &ns);
            EXPECT(consumed <= n, "consumed %zu > %zu", consumed, n);
            EXPECT(ns <= max_spans, "nspans %zu > %zu", ns, max_spans);
            for (size_t i = 0; i < ns; i++) {
                EXPECT(spans[i].p >= copy && spans[i].p + spans[i].len <= copy + n,
                       "span outside the buffer");
                EXPECT(spans[i].len > 0, "empty span");
                if (res->plen + spans[i].len <= sizeof(res->payload))
                    memcpy(res->payload + res->plen, spans[i].p, spans[i].len);
                res->plen += spans[i].len;
            }
            free(copy);
            pos += consumed;
            res->consumed = pos;
            if (res->r != 0) {
                res->err_status = b.err_status;
                return;
            }
            if (pos == avail_end)
                break;
            EXPECT(ns == max_spans, "stopped early without filling spans (%zu/%zu)", ns, max_spans);
        }
    }
}

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    const char *payload; /* decoded payload */
    size_t framing_len;  /* bytes that belong to this body */
} chunk_ok_t;

#define OK(name, raw, payload, extra)                                                              \
    {                                                                                              \
        name, raw, sizeof(raw) - 1, payload, sizeof(raw) - 1 - (extra)                             \
    }

static const chunk_ok_t chunk_ok[] = {
    OK("empty body", "0\r\n\r\n", "", 0),
    OK("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", 0),
    OK("two chunks", "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0),
    OK("uppercase hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 0),
    OK("lowercase hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", 0),
    OK("leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "hello", 0),
    OK("16 digits", "0000000000000005\r\nhello\r\n0\r\n\r\n", "hello", 0),
    OK("extension token", "5;name=value\r\nhello\r\n0\r\n\r\n", "hello", 0),
    OK("extension name only", "5;name\r\nhello\r\n0;last\r\n\r\n", "hello", 0),
    OK("extensions several", "5;a=1;b;c=\"x\"\r\nhello\r\n0\r\n\r\n", "hello", 0),
    OK("extension BWS", "5 ; a = 1 ;b = \"q\\\"uo;ted\"\r\nhello\r\n0\r\n\r\n", "hello", 0),
    OK("extension quoted escapes", "5;a=\"\\\\ \t\x80\"\r\nhello\r\n0\r\n\r\n", "hello", 0),
    OK("trailers", "5\r\nhello\r\n0\r\nX-Sum: abc\r\nX-Empty:\r\n\r\n", "hello", 0),
    OK("binary data with CRLF inside", "6\r\n\r\n\0\r\n\n\r\n0\r\n\r\n", "\r\n\0\r\n\n", 0),
    OK("pipelined next request", "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", 16),
    OK("many small chunks", "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n1\r\ne\r\n0\r\n\r\n", "abcde",
       0),
};

typedef struct {
    const char *name;
    const char *raw;
    size_t len;
    int status;
} chunk_bad_t;

#define NG(name, raw, status)                                                                      \
    {                                                                                              \
        name, raw, sizeof(raw) - 1, status                                                         \
    }

static const chunk_bad_t chunk_bad[] = {
    NG("empty size", "\r\nhello\r\n0\r\n\r\n", 400),
    NG("non-hex size", "g\r\n", 400),
    NG("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 400),
    NG("negative size", "-5\r\nhello\r\n", 400),
    NG("plus size", "+5\r\nhello\r\n", 400),
    NG("leading space", " 5\r\nhello\r\n", 400),
    NG("trailing space no extension", "5 \r\nhello\r\n0\r\n\r\n", 400),
    NG("17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    NG("overflow 2^64", "10000000000000000\r\n", 400),
    NG("over 2^63", "8000000000000000\r\n", 400),
    NG("all f", "ffffffffffffffff\r\n", 400),
    NG("bare LF after size", "5\nhello\r\n0\r\n\r\n", 400),
    NG("bare CR after size", "5\rhello\r\n0\r\n\r\n", 400),
    NG("data too long", "5\r\nhelloX\r\n0\r\n\r\n", 400),
    NG("data too short", "5\r\nhell\r\n0\r\n\r\n", 400),
    NG("data then bare LF", "5\r\nhello\n0\r\n\r\n", 400),
    NG("data then CR CR", "5\r\nhello\r\r0\r\n\r\n", 400),
    NG("empty extension name", "5;\r\nhello\r\n", 400),
    NG("extension empty value", "5;a=\r\nhello\r\n", 400),
    NG("extension bad char", "5;a@b\r\nhello\r\n", 400),
    NG("extension trailing ws", "5;a=b \r\nhello\r\n", 400),
    NG("extension unterminated quote", "5;a=\"abc\r\nhello\r\n", 400),
    NG("extension NUL", "5;a=\"a\0\"\r\nhello\r\n", 400),
    NG("extension bare LF", "5;a\nhello\r\n", 400),
    NG("size then junk", "5x\r\nhello\r\n", 400),
    NG("trailer obs-fold", "0\r\nX-A: 1\r\n 2\r\n\r\n", 400),
    NG("trailer space before colon", "0\r\nX-A : 1\r\n\r\n", 400),
    NG("trailer no colon", "0\r\nX-A\r\n\r\n", 400),
    NG("trailer bare LF", "0\r\nX-A: 1\n\r\n", 400),
    NG("trailer bare CR", "0\r\nX-A: 1\r\r\n", 400),
    NG("trailer NUL", "0\r\nX-A: \0\r\n\r\n", 400),
    NG("final CR then junk", "0\r\n\rX", 400),
    NG("final bare LF", "0\r\n\n", 400),
    NG("smuggle: LF-terminated last chunk", "0\n\r\nGET /admin HTTP/1.1\r\n\r\n", 400),
};

static void test_chunked(void)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(chunk_ok); i++) {
        const chunk_ok_t *c = &chunk_ok[i];
        size_t plen = strlen(c->payload);
        if (strcmp(c->name, "binary data with CRLF inside") == 0)
            plen = 6;
        for (size_t max_spans = 1; max_spans <= 4; max_spans += 3) {
            /* one piece, every two-piece split, byte at a time */
            for (size_t k = 0; k <= c->len + 1; k++) {
                size_t cuts[4096], ncuts = 0;
                if (k == c->len + 1) {
                    for (size_t j = 1; j <= c->len; j++)
                        cuts[ncuts++] = j;
                } else {
                    if (k > 0 && k < c->len)
                        cuts[ncuts++] = k;
                    cuts[ncuts++] = c->len;
                }
                result_t res;
                decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, c->raw, c->len, cuts, ncuts, max_spans,
                              &res);
                EXPECT(res.r == XP_HTTP1_DONE, "%s (split %zu, spans %zu): r=%d status %d", c->name,
                       k, max_spans, res.r, res.err_status);
                EXPECT(res.plen == plen && memcmp(res.payload, c->payload, plen) == 0,
                       "%s (split %zu): payload %zu bytes '%.*s'", c->name, k, res.plen,
                       (int)res.plen, res.payload);
                EXPECT(res.consumed == c->framing_len, "%s (split %zu): consumed %zu want %zu",
                       c->name, k, res.consumed, c->framing_len);
            }
        }
    }
    for (size_t i = 0; i < XP_ARRAY_SIZE(chunk_bad); i++) {
        const chunk_bad_t *c = &chunk_bad[i];
        for (size_t k = 0; k <= c->len + 1; k++) {
            size_t cuts[4096], ncuts = 0;
            if (k == c->len + 1) {
                for (size_t j = 1; j <= c->len; j++)
                    cuts[ncuts++] = j;
            } else {
                if (k > 0 && k < c->len)
                    cuts[ncuts++] = k;
                cuts[ncuts++] = c->len;
            }
            result_t res;
            decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, c->raw, c->len, cuts, ncuts, 2, &res);
            EXPECT(res.r < 0 && res.err_status == c->status,
                   "%s (split %zu): r=%d status %d, want status %d", c->name, k, res.r,
                   res.err_status, c->status);
        }
    }
}

static void test_chunked_limits(void)
{
    size_t cap = 128 * 1024;
    char *buf = malloc(cap);
    size_t n;
    result_t res;
    size_t cut;

    /* 101 trailer fields → 431 */
    n = (size_t)snprintf(buf, cap, "0\r\n");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(buf + n, cap - n, "T-%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    cut = n;
    decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, buf, n, &cut, 1, 4, &res);
    EXPECT(res.r == XP_ETOOBIG && res.err_status == 431, "101 trailers: %d %d", res.r,
           res.err_status);

    /* 100 trailer fields are fine */
    n = (size_t)snprintf(buf, cap, "0\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(buf + n, cap - n, "T-%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, cap - n, "\r\n");
    cut = n;
    decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, buf, n, &cut, 1, 4, &res);
    EXPECT(res.r == XP_HTTP1_DONE && res.consumed == n, "100 trailers: %d", res.r);

    /* trailer section over 60 KiB → 431 */
    n = (size_t)snprintf(buf, cap, "0\r\nX-Big: ");
    memset(buf + n, 'x', 61 * 1024);
    n += 61 * 1024;
    n += (size_t)snprintf(buf + n, cap - n, "\r\n\r\n");
    cut = n;
    decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, buf, n, &cut, 1, 4, &res);
    EXPECT(res.r == XP_ETOOBIG && res.err_status == 431, "huge trailer: %d %d", res.r,
           res.err_status);

    /* endless chunk extension → 400 */
    n = (size_t)snprintf(buf, cap, "5;a=");
    memset(buf + n, 'x', XP_HTTP1_MAX_CHUNK_LINE);
    n += XP_HTTP1_MAX_CHUNK_LINE;
    cut = n;
    decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, buf, n, &cut, 1, 4, &res);
    EXPECT(res.r == XP_EPROTO && res.err_status == 400, "long chunk extension: %d %d", res.r,
           res.err_status);

    /* large chunk arriving in pieces: payload spans straight from the buffer */
    n = (size_t)snprintf(buf, cap, "10000\r\n");
    memset(buf + n, 'd', 0x10000);
    n += 0x10000;
    n += (size_t)snprintf(buf + n, cap - n, "\r\n0\r\n\r\n");
    size_t cuts[] = {3, 7, 100, 5000, 40000, n};
    decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, buf, n, cuts, XP_ARRAY_SIZE(cuts), 1, &res);
    EXPECT(res.r == XP_HTTP1_DONE && res.plen == 0x10000 && res.consumed == n,
           "64 KiB chunk: r=%d plen=%zu", res.r, res.plen);
    free(buf);

    /* Response body errors answer 502. */
    xp_http1_body_t b;
    init_body(&b, XP_HTTP1_BODY_CHUNKED, -1, true);
    size_t consumed, ns;
    xp_str_t spans[2];
    int r = xp_http1_body_decode(&b, "zz\r\n", 4, &consumed, spans, 2, &ns);
    EXPECT(r == XP_EPROTO && b.err_status == 502, "response chunk error: %d %d", r, b.err_status);
    /* Errors are sticky. */
    r = xp_http1_body_decode(&b, "0\r\n\r\n", 5, &consumed, spans, 2, &ns);
    EXPECT(r == XP_EPROTO && consumed == 0, "sticky error: %d", r);
}

static void test_length_and_close(void)
{
    const char raw[] = "hello worldGET /next";
    for (size_t k = 0; k <= 11; k++) {
        size_t cuts[2], ncuts = 0;
        if (k > 0 && k < 11)
            cuts[ncuts++] = k;
        cuts[ncuts++] = sizeof(raw) - 1;
        result_t res;
        decode_pieces(XP_HTTP1_BODY_LENGTH, 11, raw, sizeof(raw) - 1, cuts, ncuts, 1, &res);
        EXPECT(res.r == XP_HTTP1_DONE && res.consumed == 11 && res.plen == 11 &&
                   memcmp(res.payload, "hello world", 11) == 0,
               "CL body split %zu: r=%d consumed=%zu", k, res.r, res.consumed);
    }

    xp_http1_body_t b;
    xp_str_t spans[2];
    size_t consumed, ns;
    /* Content-Length truncated by EOF → error; until-close ends at EOF. */
    init_body(&b, XP_HTTP1_BODY_LENGTH, 10, false);
    int r = xp_http1_body_decode(&b, "abc", 3, &consumed, spans, 2, &ns);
    EXPECT(r == 0 && consumed == 3 && ns == 1, "CL partial: %d", r);
    EXPECT(xp_http1_body_eof(&b) == XP_EPROTO && b.err_status == 400, "CL truncated");

    init_body(&b, XP_HTTP1_BODY_CHUNKED, -1, true);
    r = xp_http1_body_decode(&b, "5\r\nab", 5, &consumed, spans, 2, &ns);
    EXPECT(r == 0 && ns == 1 && spans[0].len == 2, "chunked partial: %d", r);
    EXPECT(xp_http1_body_eof(&b) == XP_EPROTO && b.err_status == 502, "chunked truncated");

    init_body(&b, XP_HTTP1_BODY_UNTIL_CLOSE, -1, true);
    r = xp_http1_body_decode(&b, "abc", 3, &consumed, spans, 2, &ns);
    EXPECT(r == 0 && consumed == 3 && ns == 1 && spans[0].len == 3, "until close: %d", r);
    r = xp_http1_body_decode(&b, "", 0, &consumed, spans, 2, &ns);
    EXPECT(r == 0 && consumed == 0 && ns == 0, "until close, no data: %d", r);
    EXPECT(xp_http1_body_eof(&b) == XP_HTTP1_DONE, "until close eof");

    init_body(&b, XP_HTTP1_BODY_NONE, -1, false);
    r = xp_http1_body_decode(&b, "GET", 3, &consumed, spans, 2, &ns);
    EXPECT(r == XP_HTTP1_DONE && consumed == 0 && ns == 0, "no body: %d", r);
    init_body(&b, XP_HTTP1_BODY_LENGTH, 0, false);
    r = xp_http1_body_decode(&b, "GET", 3, &consumed, spans, 2, &ns);
    EXPECT(r == XP_HTTP1_DONE && consumed == 0, "CL 0: %d", r);

    /* From a parsed head: HEAD response with CL has no body. */
    xp_header_t hdrs[8];
    xp_http1_head_t h;
    const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\n";
    xp_http1_head_init(&h, hdrs, 8);
    int hl = xp_http1_parse_response(&h, resp, sizeof(resp) - 1, XP_HTTP1_HEAD, &lim);
    xp_http1_body_init(&b, &h, &lim);
    r = xp_http1_body_decode(&b, resp + hl, sizeof(resp) - 1 - (size_t)hl, &consumed, spans, 2,
                             &ns);
    EXPECT(hl > 0 && r == XP_HTTP1_DONE && consumed == 0, "HEAD response: %d %d", hl, r);
}

/* ---- writers ----------------------------------------------------------- */

static void test_writers(void)
{
    xp_header_t hdrs[16];
    xp_http1_head_t h;
    const char req[] = "GET /old HTTP/1.1\r\nHost: old.example\r\nConnection: keep-alive, X-Hop\r\n"
                       "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nAccept: */*\r\nX-Drop: 1\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n";
    xp_http1_head_init(&h, hdrs, 16);
    int r = xp_http1_parse_request(&h, req, sizeof(req) - 1, &lim);
    EXPECT(r == (int)sizeof(req) - 1, "writer input parse: %d %s", r, h.err_msg ? h.err_msg : "");

    const xp_str_t skip[] = {XP_STR_LIT("host"), XP_STR_LIT("x-drop")};
    const xp_header_t add[] = {{XP_STR_LIT("Host"), XP_STR_LIT("new.example")},
                               {XP_STR_LIT("Transfer-Encoding"), XP_STR_LIT("chunked")},
                               {XP_STR_LIT("X-Forwarded-Proto"), XP_STR_LIT("http")}};
    xp_http1_edit_t edit = {skip, 2, add, 3, true};
    const char want[] = "GET /new HTTP/1.1\r\nAccept: */*\r\nHost: new.example\r\n"
                        "Transfer-Encoding: chunked\r\nX-Forwarded-Proto: http\r\n\r\n";
    char out[512];
    size_t need = xp_http1_write_request_head(out, 10, h.method, XP_STR_LIT("/new"), 1, h.headers,
                                              h.num_headers, &edit);
    EXPECT(need == sizeof(want) - 1, "request head needs %zu, want %zu", need, sizeof(want) - 1);
    size_t got = xp_http1_write_request_head(out, sizeof(out), h.method, XP_STR_LIT("/new"), 1,
                                             h.headers, h.num_headers, &edit);
    EXPECT(got == need && memcmp(out, want, got) == 0, "request head:\n%.*s", (int)got, out);

    /* The bound covers the edited head, and is exact for an unedited one. */
    size_t bound =
        xp_http1_request_head_bound(h.method, XP_STR_LIT("/new"), h.headers, h.num_headers, &edit);
    EXPECT(bound >= need, "request bound %zu < %zu", bound, need);
    EXPECT(xp_http1_request_head_bound(h.method, h.target, h.headers, h.num_headers, NULL) ==
               sizeof(req) - 1,
           "unedited request bound is exact");

    /* What we write, we parse back the same. */
    xp_header_t hdrs2[16];
    xp_http1_head_t h2;
    xp_http1_head_init(&h2, hdrs2, 16);
    r = xp_http1_parse_request(&h2, out, got, &lim);
    EXPECT(r == (int)got && h2.chunked && h2.num_headers == 4, "round trip: %d", r);

    /* No edit: the head comes back byte for byte. */
    got = xp_http1_write_request_head(out, sizeof(out), h.method, h.target, h.minor_version,
                                      h.headers, h.num_headers, NULL);
    EXPECT(got == sizeof(req) - 1 && memcmp(out, req, got) == 0, "identity:\n%.*s", (int)got, out);

    const xp_header_t rh[] = {{XP_STR_LIT("Content-Length"), XP_STR_LIT("0")}};
    got = xp_http1_write_response_head(out, sizeof(out), 1, 404, XP_STR_LIT(""), rh, 1, NULL);
    const char want404[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    EXPECT(got == sizeof(want404) - 1 && memcmp(out, want404, got) == 0, "404:\n%.*s", (int)got,
           out);
    got = xp_http1_write_response_head(out, sizeof(out), 0, 200, XP_STR_LIT("Fine"), NULL, 0, NULL);
    EXPECT(got == 21 && memcmp(out, "HTTP/1.0 200 Fine\r\n\r\n", 21) == 0, "200:\n%.*s", (int)got,
           out);
    EXPECT(xp_http1_write_response_head(NULL, 0, 1, 200, XP_STR_LIT("OK"), NULL, 0, NULL) == 19,
           "size query with NULL buffer");
    EXPECT(xp_http1_response_head_bound(404, XP_STR_LIT(""), rh, 1, NULL) == sizeof(want404) - 1,
           "response bound with the default reason");
    EXPECT(xp_http1_response_head_bound(7, XP_STR_LIT(""), NULL, 0, NULL) ==
               xp_http1_write_response_head(NULL, 0, 1, 7, XP_STR_LIT(""), NULL, 0, NULL),
           "response bound of an out-of-range status (written as 500)");

    char ch[XP_HTTP1_CHUNK_HEADER_MAX];
    size_t cl = xp_http1_chunk_header(ch, 0);
    EXPECT(cl == 3 && memcmp(ch, "0\r\n", 3) == 0, "chunk 0");
    cl = xp_http1_chunk_header(ch, 255);
    EXPECT(cl == 4 && memcmp(ch, "ff\r\n", 4) == 0, "chunk 255");
    cl = xp_http1_chunk_header(ch, SIZE_MAX);
    EXPECT(cl == 18 && memcmp(ch, "ffffffffffffffff\r\n", 18) == 0, "chunk max");

    /* Our chunked output decodes back. */
    char body[64];
    size_t n = xp_http1_chunk_header(body, 5);
    memcpy(body + n, "hello" XP_HTTP1_CRLF XP_HTTP1_LAST_CHUNK, 12);
    n += 12;
    result_t res;
    decode_pieces(XP_HTTP1_BODY_CHUNKED, -1, body, n, &n, 1, 4, &res);
    EXPECT(res.r == XP_HTTP1_DONE && res.plen == 5 && res.consumed == n, "chunk round trip");
    EXPECT(strcmp(xp_http1_reason(431), "Request Header Fields Too Large") == 0, "reason 431");
}

int main(void)
{
    xp_http1_limits_default(&lim);
    test_chunked();
    test_chunked_limits();
    test_length_and_close();
    test_writers();
    printf("tables: %zu valid chunked bodies, %zu rejected chunked bodies\n",
           XP_ARRAY_SIZE(chunk_ok), XP_ARRAY_SIZE(chunk_bad));
    return t_finish("body_test");
}
