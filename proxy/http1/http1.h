/* HTTP/1.1 codec core (RFC 9110 semantics, RFC 9112 message syntax).
 *
 * Pure functions over caller-owned buffers: no I/O, no allocation. The
 * connection layer owns the socket and the read buffer and calls:
 *
 *   xp_http1_head_init()       once per message, giving a header array
 *   xp_http1_parse_request()   each time bytes arrive, until it returns > 0
 *   xp_http1_body_init()       from the parsed head
 *   xp_http1_body_decode()     on the bytes after the head, until it returns
 *                              XP_HTTP1_DONE; what it did not consume belongs
 *                              to the next (pipelined) message
 *
 * Every xp_str_t produced here is a view into the buffer passed in: it stays
 * valid only while that buffer's bytes stay where they are. Nothing here
 * copies or allocates.
 *
 * Strictness is deliberate (request smuggling, RFC 9112 §11.2): anything that
 * two implementations could frame differently is rejected, not repaired. */
#ifndef XP_HTTP1_HTTP1_H
#define XP_HTTP1_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/common/error.h"
#include "proxy/common/str.h"

/* ---- limits ----------------------------------------------------------- */

/* Envoy's HttpConnectionManager defaults. */
#define XP_HTTP1_DEFAULT_MAX_HEADERS_KB    60
#define XP_HTTP1_DEFAULT_MAX_HEADERS_COUNT 100
/* Envoy has no separate URI limit (a long URI simply fills the header
 * section), so the default target limit equals the section limit: nothing
 * Envoy accepts is refused, and an over-long target answers 414, not 431. */
#define XP_HTTP1_DEFAULT_MAX_TARGET_LEN (60 * 1024)
/* Longest chunk-size line (size + extensions) accepted; longer → 400. */
#define XP_HTTP1_MAX_CHUNK_LINE 4096

typedef struct {
    /* Whole head (start line + field lines + final CRLF) above this many
     * KiB → 431. Envoy: max_request_headers_kb. Also bounds trailers. */
    uint32_t max_headers_kb;
    /* More field lines than this → 431. Envoy: max_headers_count. Also
     * bounds trailers. The header array given to xp_http1_head_init must
     * hold at least this many entries (fewer lowers the limit). */
    uint32_t max_headers_count;
    /* Request-target longer than this → 414. */
    uint32_t max_target_len;
} xp_http1_limits_t;

/* Fills in the defaults above. */
void xp_http1_limits_default(xp_http1_limits_t *lim);

/* ---- parsed head ------------------------------------------------------ */

typedef enum {
    XP_HTTP1_OTHER = 0, /* any other token: see head->method */
    XP_HTTP1_GET,
    XP_HTTP1_HEAD,
    XP_HTTP1_POST,
    XP_HTTP1_PUT,
    XP_HTTP1_DELETE,
    XP_HTTP1_CONNECT,
    XP_HTTP1_OPTIONS,
    XP_HTTP1_TRACE,
    XP_HTTP1_PATCH,
} xp_http1_method_t;

const char *xp_http1_method_to_str(xp_http1_method_t m); /* static; "OTHER" for OTHER */

/* How the message body is delimited (RFC 9112 §6.3). */
typedef enum {
    XP_HTTP1_BODY_NONE,        /* no body: done right after the head */
    XP_HTTP1_BODY_LENGTH,      /* Content-Length bytes */
    XP_HTTP1_BODY_CHUNKED,     /* chunked transfer coding, then trailers */
    XP_HTTP1_BODY_UNTIL_CLOSE, /* responses only: everything until EOF */
} xp_http1_body_mode_t;

const char *xp_http1_body_mode_to_str(xp_http1_body_mode_t m);

/* Resume state for an incomplete head; internal, zeroed by head_init. */
typedef struct {
    size_t scanned; /* bytes already searched for the end of the head */
    size_t start;   /* offset of the start line (after ignored CRLFs) */
    bool started;   /* start found */
    bool saw_lf;    /* a line terminator was seen (start line complete) */
    bool line_ok;   /* the request-line was checked already */
    bool tdone;     /* stopped following the request-target */
    size_t cur;     /* next request-line byte to look at */
    size_t tstart;  /* offset of the request-target, 0 until found */
} xp_http1_scan_t;

/* One head, request or response. Initialise with xp_http1_head_init before
 * the first parse call of each message and keep it (and the buffer prefix)
 * unchanged between calls that return XP_EAGAIN. */
typedef struct {
    /* Caller-owned array the field lines are stored in (views into buf). */
    xp_header_t *headers;
    size_t headers_cap;
    size_t num_headers;

    xp_http1_scan_t scan_;

    int minor_version; /* HTTP/1.<minor>; 1.2..1.9 are reported as given */

    /* Requests. */
    xp_str_t method;
    xp_http1_method_t method_id;
    xp_str_t target; /* the request-target as sent (origin, absolute,
                      * authority or asterisk form; RFC 9112 §3.2) */

    /* Responses. */
    int status_code; /* 100..999 */
    xp_str_t reason;

    /* Derived facts (both directions unless noted). */
    bool is_response;
    xp_http1_body_mode_t body_mode;
    int64_t content_length;   /* -1 when absent (or ignored: HEAD/204/304) */
    bool chunked;             /* Transfer-Encoding ends in chunked */
    bool has_body;            /* body_mode != NONE */
    bool keep_alive;          /* connection persists after this message */
    bool upgrade;             /* request: Connection: upgrade + Upgrade (1.1);
                               * response: 101 with Upgrade */
    xp_str_t upgrade_value;   /* the Upgrade field value when upgrade */
    bool expect_100_continue; /* requests, HTTP/1.1 only (RFC 9110 §10.1.1) */
    bool connection_close;    /* Connection: close was sent */
    /* Index into headers of the first such field line, -1 if none. */
    int host_idx;
    int connection_idx;
    int upgrade_idx;
    int content_length_idx;
    int transfer_encoding_idx;

    /* On error: the status the proxy answers with (400, 414, 431, 501,
     * 505 for requests; 502 for any response error) and a static reason
     * for logs. 0 / NULL otherwise. */
    int err_status;
    const char *err_msg;
} xp_http1_head_t;

typedef xp_http1_head_t xp_http1_request_t;
typedef xp_http1_head_t xp_http1_response_t;

/* Resets head for a new message; headers is owned by the caller and must
 * outlive every use of the parsed head. */
void xp_http1_head_init(xp_http1_head_t *head, xp_header_t *headers, size_t headers_cap);

/* Iterates the elements of a comma-separated list (RFC 9110 §5.6.1), OWS
 * trimmed. Empty elements are returned too (len 0); callers skip them where
 * the grammar allows. Returns false at the end. */
static inline bool xp_http1_next_elem(xp_str_t *list, xp_str_t *elem)
{
    if (list->p == NULL)
        return false;
    const char *p = list->p, *e = p + list->len;
    const char *c = memchr(p, ',', list->len);
    const char *ee = c ? c : e;
    while (p < ee && (*p == ' ' || *p == '\t'))
        p++;
    const char *q = ee;
    while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    *elem = xp_str(p, (size_t)(q - p));
    if (c) {
        list->p = c + 1;
        list->len = (size_t)(e - c - 1);
    } else {
        list->p = NULL;
        list->len = 0;
    }
    return true;
}

/* Edits of a parsed head's field lines (views; the bytes stay where they
 * are). Removing the line at index i keeps the order of the others and the
 * *_idx fields pointing at the same lines (-1 for the removed one).
 * Appending needs room in the array: false when headers_cap is reached. */
void xp_http1_head_remove(xp_http1_head_t *head, size_t i);
bool xp_http1_head_append(xp_http1_head_t *head, xp_str_t name, xp_str_t value);

/* Parses a request head from buf[0..len). buf must hold the same bytes as on
 * the previous call with this head (it may have moved: only offsets are
 * kept), plus any newly arrived ones; only the new bytes are scanned.
 * Leading empty lines are ignored (RFC 9112 §2.2). The head's fields are
 * meaningful only after a return > 0.
 * Returns:
 *   > 0          the length of the head; the body (if any) starts there
 *   XP_EAGAIN    incomplete; call again with more bytes
 *   XP_EPROTO    malformed: err_status 400 (505 for HTTP/x.y, x != 1)
 *   XP_ETOOBIG   over a limit: 414 (request-target over max_target_len, or
 *                request-line alone over the head limit), 431 (head over
 *                max_headers_kb, or more than max_headers_count fields)
 *   XP_ENOTSUP   a transfer-coding other than chunked: 501
 * Errors are reported as soon as the bytes prove them (a bare LF, a bad
 * request-line, an over-long target), without waiting for the whole head;
 * on any error answer err_status and close.
 * Choices where the RFCs leave room (all stricter than Envoy or equal):
 *   - Content-Length: repeated fields or a list are accepted when every
 *     value is numerically identical ("5, 5", "5" + "05"), else 400
 *     (RFC 9110 §8.6 allows either).
 *   - Transfer-Encoding + Content-Length → 400 (RFC 9112 §6.1 allows it;
 *     Envoy's default). Transfer-Encoding in HTTP/1.0 → 400.
 *   - Transfer-Encoding: any coding other than "chunked" → 501 (so "gzip"
 *     alone is 501, not 400); "chunked" twice → 400; empty or non-token
 *     element (including parameters) → 400.
 *   - bare LF / bare CR anywhere in the head → 400; obs-fold → 400.
 *   - request-target: VCHAR except "#", form checked against the method
 *     (RFC 9112 §3.2); Host: exactly one in 1.1, at most one in 1.0, made
 *     of URI host/port characters. */
int xp_http1_parse_request(xp_http1_head_t *head, const char *buf, size_t len,
                           const xp_http1_limits_t *lim);

/* Same for a response head. req_method is the method of the request this
 * answers (HEAD and CONNECT change the framing, RFC 9112 §6.3). Every error
 * has err_status 502. 1xx heads parse like any other (body NONE); the caller
 * loops for the final response. */
int xp_http1_parse_response(xp_http1_head_t *head, const char *buf, size_t len,
                            xp_http1_method_t req_method, const xp_http1_limits_t *lim);

/* Case-insensitive search; returns an index into head->headers or -1. */
int xp_http1_find_header(const xp_http1_head_t *head, xp_str_t name, int from);

/* Standard reason phrase for a status ("Unknown" if none); static. */
const char *xp_http1_reason(int status);

/* ---- body framing ----------------------------------------------------- */

#define XP_HTTP1_DONE 1 /* body_decode: message complete */

/* Internal state of the body decoder; see body.c for the states. */
typedef struct {
    xp_http1_body_mode_t mode;
    uint8_t st; /* chunked parser state */
    bool done;
    bool is_response;
    uint8_t hex_digits;  /* digits in the current chunk-size */
    uint64_t remaining;  /* bytes left in the body / current chunk */
    uint64_t chunk_size; /* size being parsed */
    uint32_t line_len;   /* bytes in the current chunk-size line */
    uint32_t trailer_bytes;
    uint32_t trailer_count;
    uint32_t max_trailer_bytes;
    uint32_t max_trailer_count;
    int err_status; /* 400/431 for requests, 502 for responses */
    const char *err_msg;
} xp_http1_body_t;

/* Prepares the decoder for the body of a parsed head. */
void xp_http1_body_init(xp_http1_body_t *b, const xp_http1_head_t *head,
                        const xp_http1_limits_t *lim);

/* Decodes body bytes from buf[0..len). Writes up to max_spans views into buf
 * (payload only: chunk framing, extensions and trailers are consumed and
 * dropped) and sets *nspans and *consumed. Returns
 *   XP_HTTP1_DONE  message complete; buf[*consumed..] is the next message
 *   0              more input needed, or spans ran out (*consumed < len):
 *                  call again with buf + *consumed
 *   XP_EPROTO      framing error (b->err_status: 400, 502 for responses)
 *   XP_ETOOBIG     trailer section over the limits (431, 502 for responses)
 * Any split of the input across calls gives the same payload bytes. */
int xp_http1_body_decode(xp_http1_body_t *b, const char *buf, size_t len, size_t *consumed,
                         xp_str_t *spans, size_t max_spans, size_t *nspans);

/* The peer closed the connection. Returns XP_HTTP1_DONE when that ends the
 * message (until-close bodies, or already done), XP_EPROTO when it
 * truncated it (err_status set). */
int xp_http1_body_eof(xp_http1_body_t *b);

/* ---- writers ---------------------------------------------------------- */

/* Changes applied while serialising a parsed header list. */
typedef struct {
    const xp_str_t *skip; /* drop fields with these names (case-insensitive) */
    size_t nskip;
    const xp_header_t *add; /* appended after the kept fields, in order */
    size_t nadd;
    /* Also drop the hop-by-hop fields (RFC 9110 §7.6.1): Connection,
     * Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade, and any
     * field named in a Connection header of hdrs. Re-add what the next hop
     * needs (e.g. Transfer-Encoding: chunked, Connection: upgrade) via add. */
    bool drop_hop_by_hop;
} xp_http1_edit_t;

/* Serialise "method SP target SP HTTP/1.<minor> CRLF", the kept fields, the
 * added fields and the final CRLF into dst. Returns the length the head needs;
 * when that is > cap, dst holds an unspecified prefix and the caller retries
 * with a buffer of the returned size. Names and values are written as given: they must come
 * from a parsed head or validated config (no CR/LF). edit may be NULL. */
size_t xp_http1_write_request_head(char *dst, size_t cap, xp_str_t method, xp_str_t target,
                                   int minor_version, const xp_header_t *hdrs, size_t nhdrs,
                                   const xp_http1_edit_t *edit);

/* Same for "HTTP/1.<minor> SP status SP reason CRLF" + fields + CRLF. An
 * empty reason is replaced by xp_http1_reason(status). */
size_t xp_http1_write_response_head(char *dst, size_t cap, int minor_version, int status,
                                    xp_str_t reason, const xp_header_t *hdrs, size_t nhdrs,
                                    const xp_http1_edit_t *edit);

/* At least the length the matching write returns for the same arguments,
 * without its work (fields a write would drop are counted): a buffer of this
 * size takes the head in one write. */
size_t xp_http1_request_head_bound(xp_str_t method, xp_str_t target, const xp_header_t *hdrs,
                                   size_t nhdrs, const xp_http1_edit_t *edit);
size_t xp_http1_response_head_bound(int status, xp_str_t reason, const xp_header_t *hdrs,
                                    size_t nhdrs, const xp_http1_edit_t *edit);

/* Chunked framing (RFC 9112 §7.1): chunk_header writes "%zx\r\n" (at most
 * XP_HTTP1_CHUNK_HEADER_MAX bytes) and returns its length; the payload is
 * followed by XP_HTTP1_CRLF, the body ends with XP_HTTP1_LAST_CHUNK. */
#define XP_HTTP1_CHUNK_HEADER_MAX 18
#define XP_HTTP1_CRLF             "\r\n"
#define XP_HTTP1_LAST_CHUNK       "0\r\n\r\n"
size_t xp_http1_chunk_header(char *dst, size_t size);

#endif
