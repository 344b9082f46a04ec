/* libFuzzer target for the HTTP/1 codec. The input is parsed as a request
 * head and as a response head, the rest as the body the head announces.
 * Invariants checked (abort on violation, so the fuzzer reports a crash):
 *   - every view (method, target, reason, names, values, body spans) lies
 *     inside the buffer the parser was given, and inside the head;
 *   - a head parsed in one call and in two calls (in separate exact-size
 *     buffers, so ASan sees any read past the given length) gives the same
 *     result; so does the body decoder one-shot vs. a byte at a time;
 *   - derived facts agree with each other (framing, limits, status codes);
 *   - a parsed request re-serialised by the writer parses back the same.
 * Built by Bazel as //tests/fuzz:http1_fuzz_corpus_test with a replay main,
 * and by tests/fuzz/run_fuzz.sh with -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/http1/http1.h"

#define MAXH 100

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "http1_fuzz: invariant failed at %s:%d: %s\n", __FILE__, __LINE__,     \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool in(xp_str_t s, const char *base, size_t len)
{
    if (s.len == 0)
        return true;
    return s.p >= base && s.p + s.len <= base + len;
}

static long off(xp_str_t s, const char *base)
{
    return s.len ? (long)(s.p - base) : -1;
}

static void check_head(const xp_http1_head_t *h, int r, const char *buf, size_t len,
                       const xp_http1_limits_t *lim)
{
    if (r == XP_EAGAIN)
        return;
    if (r < 0) {
        CHECK(r == XP_EPROTO || r == XP_ETOOBIG || r == XP_ENOTSUP);
        CHECK(h->err_msg != NULL);
        if (h->is_response)
            CHECK(h->err_status == 502);
        else
            CHECK(h->err_status == 400 || h->err_status == 414 || h->err_status == 431 ||
                  h->err_status == 501 || h->err_status == 505);
        return;
    }
    CHECK((size_t)r <= len && r >= 4);
    CHECK(memcmp(buf + r - 4, "\r\n\r\n", 4) == 0);
    CHECK((size_t)r <= (size_t)lim->max_headers_kb * 1024);
    CHECK(h->num_headers <= lim->max_headers_count && h->num_headers <= h->headers_cap);
    CHECK(h->err_status == 0 && h->err_msg == NULL);
    for (size_t i = 0; i < h->num_headers; i++) {
        CHECK(h->headers[i].name.len > 0);
        CHECK(in(h->headers[i].name, buf, (size_t)r));
        CHECK(in(h->headers[i].value, buf, (size_t)r));
        for (size_t j = 0; j < h->headers[i].value.len; j++) {
            unsigned char c = (unsigned char)h->headers[i].value.p[j];
            CHECK(c != '\r' && c != '\n' && c != 0);
        }
        if (h->headers[i].value.len > 0) {
            CHECK(h->headers[i].value.p[0] != ' ' && h->headers[i].value.p[0] != '\t');
        }
    }
    CHECK(h->has_body == (h->body_mode != XP_HTTP1_BODY_NONE));
    if (h->body_mode == XP_HTTP1_BODY_LENGTH)
        CHECK(h->content_length > 0 && !h->chunked);
    if (h->body_mode == XP_HTTP1_BODY_CHUNKED)
        CHECK(h->chunked && h->content_length == -1 && h->transfer_encoding_idx >= 0);
    if (h->upgrade)
        CHECK(h->upgrade_idx >= 0 && in(h->upgrade_value, buf, (size_t)r));
    if (h->is_response) {
        CHECK(h->status_code >= 100 && h->status_code <= 599);
        CHECK(in(h->reason, buf, (size_t)r));
        if (h->body_mode == XP_HTTP1_BODY_UNTIL_CLOSE)
            CHECK(!h->keep_alive);
    } else {
        CHECK(h->body_mode != XP_HTTP1_BODY_UNTIL_CLOSE);
        CHECK(h->method.len > 0 && in(h->method, buf, (size_t)r));
        CHECK(h->target.len > 0 && h->target.len <= lim->max_target_len);
        CHECK(in(h->target, buf, (size_t)r));
        CHECK(h->minor_version >= 0 && h->minor_version <= 9);
        if (h->minor_version >= 1)
            CHECK(h->host_idx >= 0);
        if (h->chunked)
            CHECK(h->minor_version >= 1 && h->content_length_idx < 0);
    }
}

static bool same(const xp_http1_head_t *a, const char *ba, const xp_http1_head_t *b, const char *bb)
{
    if (a->err_status != b->err_status || a->num_headers != b->num_headers ||
        a->body_mode != b->body_mode || a->content_length != b->content_length ||
        a->keep_alive != b->keep_alive || a->upgrade != b->upgrade ||
        a->status_code != b->status_code || a->method_id != b->method_id)
        return false;
    if (a->err_status != 0)
        return true;
    if (off(a->target, ba) != off(b->target, bb) || a->target.len != b->target.len)
        return false;
    for (size_t i = 0; i < a->num_headers; i++)
        if (off(a->headers[i].name, ba) != off(b->headers[i].name, bb) ||
            off(a->headers[i].value, ba) != off(b->headers[i].value, bb) ||
            a->headers[i].value.len != b->headers[i].value.len)
            return false;
    return true;
}

static int parse(xp_http1_head_t *h, bool response, const char *buf, size_t len,
                 xp_http1_method_t rm, const xp_http1_limits_t *lim)
{
    return response ? xp_http1_parse_response(h, buf, len, rm, lim)
                    : xp_http1_parse_request(h, buf, len, lim);
}

/* Body decoder: one call with many spans vs. a byte at a time with one span
 * (bounded, to keep the fuzzer fast). Returns bytes consumed. */
static void check_body(const xp_http1_head_t *h, const char *buf, size_t len,
                       const xp_http1_limits_t *lim)
{
    xp_http1_body_t b1, b2;
    xp_str_t spans[8];
    size_t consumed = 0, ns = 0, total1 = 0, pos = 0;
    int r1 = 0;

    xp_http1_body_init(&b1, h, lim);
    /* One pass over the whole rest, calling again while spans run out. */
    for (;;) {
        r1 = xp_http1_body_decode(&b1, buf + pos, len - pos, &consumed, spans, 8, &ns);
        CHECK(consumed <= len - pos && ns <= 8);
        for (size_t i = 0; i < ns; i++) {
            CHECK(spans[i].len > 0 && in(spans[i], buf + pos, consumed));
            total1 += spans[i].len;
        }
        pos += consumed;
        if (r1 != 0 || pos == len)
            break;
        CHECK(ns == 8); /* stopped only because spans ran out */
    }
    size_t end1 = pos;
    if (r1 < 0)
        CHECK(b1.err_status != 0 && b1.err_msg != NULL);
    if (h->body_mode == XP_HTTP1_BODY_LENGTH && r1 == XP_HTTP1_DONE)
        CHECK(total1 == (size_t)h->content_length);
    if (h->body_mode == XP_HTTP1_BODY_LENGTH)
        CHECK(total1 <= (size_t)h->content_length);
    if (h->body_mode == XP_HTTP1_BODY_UNTIL_CLOSE) {
        CHECK(r1 == 0 && total1 == len);
        CHECK(xp_http1_body_eof(&b1) == XP_HTTP1_DONE);
    }
    if (h->body_mode == XP_HTTP1_BODY_NONE)
        CHECK(r1 == XP_HTTP1_DONE && end1 == 0);
    if (h->body_mode == XP_HTTP1_BODY_CHUNKED && r1 == 0)
        CHECK(xp_http1_body_eof(&b1) == XP_EPROTO);

    /* Byte at a time, each byte in its own exact-size buffer. */
    if (len > 4096)
        return;
    xp_http1_body_init(&b2, h, lim);
    size_t total2 = 0, i;
    int r2 = 0;
    i = 0;
    do {
        size_t n = i < len ? 1 : 0;
        char *one = malloc(1);
        if (n)
            one[0] = buf[i];
        r2 = xp_http1_body_decode(&b2, one, n, &consumed, spans, 1, &ns);
        CHECK(consumed <= n && ns <= 1);
        if (ns == 1) {
            CHECK(spans[0].p == one && spans[0].len == 1);
            total2 += 1;
        }
        free(one);
        i += consumed;
        if (consumed == 0)
            break; /* done, error, or no input left */
    } while (r2 == 0);
    CHECK(r1 == r2 || (r1 < 0 && r2 < 0));
    if (r1 >= 0) {
        CHECK(total1 == total2);
        CHECK(end1 == i);
    } else {
        CHECK(b1.err_status == b2.err_status);
    }
}

/* Writer round trip: serialise a parsed request and parse it back. */
static void check_roundtrip(const xp_http1_head_t *h, const xp_http1_limits_t *lim)
{
    size_t need = xp_http1_write_request_head(NULL, 0, h->method, h->target, h->minor_version,
                                              h->headers, h->num_headers, NULL);
    char *out = malloc(need);
    size_t got = xp_http1_write_request_head(out, need, h->method, h->target, h->minor_version,
                                             h->headers, h->num_headers, NULL);
    CHECK(got == need);
    CHECK(xp_http1_request_head_bound(h->method, h->target, h->headers, h->num_headers, NULL) >=
          need);
    xp_http1_edit_t drop = {NULL, 0, NULL, 0, true}; /* hop-by-hop fields dropped */
    CHECK(xp_http1_request_head_bound(h->method, h->target, h->headers, h->num_headers, &drop) >=
          xp_http1_write_request_head(NULL, 0, h->method, h->target, 1, h->headers, h->num_headers,
                                      &drop));
    xp_http1_limits_t big = *lim;
    big.max_headers_kb = 1024; /* "a:b" is written as "a: b" */
    xp_header_t hdrs[MAXH];
    xp_http1_head_t h2;
    xp_http1_head_init(&h2, hdrs, MAXH);
    int r = xp_http1_parse_request(&h2, out, got, &big);
    CHECK(r == (int)got);
    CHECK(h2.num_headers == h->num_headers && h2.body_mode == h->body_mode &&
          h2.content_length == h->content_length && h2.keep_alive == h->keep_alive &&
          h2.upgrade == h->upgrade && h2.method_id == h->method_id);
    CHECK(xp_str_eq(h2.target, h->target) && xp_str_eq(h2.method, h->method));
    for (size_t i = 0; i < h->num_headers; i++)
        CHECK(xp_str_eq(h2.headers[i].name, h->headers[i].name) &&
              xp_str_eq(h2.headers[i].value, h->headers[i].value));
    free(out);
}

static void run(const char *data, size_t size, bool response)
{
    xp_http1_limits_t lim;
    xp_http1_limits_default(&lim);
    /* Small limits now and then, so the limit paths are reachable. */
    if (size > 0 && (data[size - 1] & 0x7) == 0) {
        lim.max_headers_kb = 1;
        lim.max_headers_count = 4;
        lim.max_target_len = 16;
    }
    xp_http1_method_t rm = (xp_http1_method_t)(size % 10);

    xp_header_t hdrs[MAXH], hdrs2[MAXH];
    xp_http1_head_t h, h2;
    xp_http1_head_init(&h, hdrs, MAXH);
    int r = parse(&h, response, data, size, rm, &lim);
    CHECK(h.is_response == response);
    check_head(&h, r, data, size, &lim);

    /* Same bytes in two calls, each in an exact-size copy. */
    size_t k = size ? (size_t)(unsigned char)data[0] * size / 256 : 0;
    char *p1 = malloc(k ? k : 1), *p2 = malloc(size ? size : 1);
    memcpy(p1, data, k);
    memcpy(p2, data, size);
    xp_http1_head_init(&h2, hdrs2, MAXH);
    int r2 = parse(&h2, response, p1, k, rm, &lim);
    check_head(&h2, r2, p1, k, &lim);
    if (r2 == XP_EAGAIN) {
        r2 = parse(&h2, response, p2, size, rm, &lim);
        check_head(&h2, r2, p2, size, &lim);
        if (r >= 0) {
            CHECK(r2 == r && same(&h, data, &h2, p2));
        } else {
            CHECK(r2 < 0 && h2.err_status == h.err_status);
        }
    } else if (r2 >= 0) {
        /* complete within the prefix: the full parse found the same head */
        CHECK(r2 == r && same(&h, data, &h2, p1));
    } else {
        /* An error found on a prefix is an error on the whole input too,
         * though maybe another one: the one-shot parse sees later bytes
         * (a bare LF further on, say) before it looks at the request-line. */
        CHECK(r < 0);
    }
    free(p1);
    free(p2);

    if (r > 0) {
        check_body(&h, data + r, size - (size_t)r, &lim);
        if (!response)
            check_roundtrip(&h, &lim);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run((const char *)data, size, false);
    run((const char *)data, size, true);

    /* And the whole input as a chunked body on its own. */
    xp_header_t hd[1];
    xp_http1_head_t h;
    xp_http1_limits_t lim;
    xp_http1_limits_default(&lim);
    xp_http1_head_init(&h, hd, 1);
    h.body_mode = XP_HTTP1_BODY_CHUNKED;
    h.chunked = true;
    check_body(&h, (const char *)data, size, &lim);
    return 0;
}
