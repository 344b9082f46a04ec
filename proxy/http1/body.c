/* Body framing decoder (RFC 9112 §6.3, §7.1): Content-Length, chunked with
 * extensions and trailers, and read-until-close.
 *
 * Payload bytes are returned as spans into the caller's buffer; framing is
 * consumed. The chunked framing is a byte-at-a-time state machine (its
 * lines are short), the payload is handed out in bulk. All state lives in
 * xp_http1_body_t, so input may be split anywhere. */
#include <string.h>

#include "proxy/http1/http1_internal.h"

/* Chunked decoder states. */
enum {
    S_SIZE_START,     /* first HEXDIG of chunk-size */
    S_SIZE,           /* more HEXDIG, ";", BWS or CR */
    S_SIZE_WS,        /* BWS: only ";" may follow */
    S_EXT_NAME_START, /* BWS then chunk-ext-name */
    S_EXT_NAME,       /* in chunk-ext-name */
    S_EXT_AFTER_NAME, /* BWS after name: "=" or ";" */
    S_EXT_VAL_START,  /* BWS then token or quoted-string */
    S_EXT_VAL_TOKEN,  /* in token value */
    S_EXT_QVAL,       /* in quoted-string */
    S_EXT_QVAL_ESC,   /* after backslash */
    S_EXT_AFTER_QVAL, /* after closing quote */
    S_SIZE_LF,        /* CR seen, LF must follow */
    S_DATA,           /* chunk-data, `remaining` bytes */
    S_DATA_CR,        /* CRLF after chunk-data */
    S_DATA_LF,
    S_TRAILER_START, /* start of a trailer field line or the final CRLF */
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_FINAL_LF,
    S_ERROR,
};

void xp_http1_body_init(xp_http1_body_t *b, const xp_http1_head_t *head,
                        const xp_http1_limits_t *lim)
{
    memset(b, 0, sizeof(*b));
    b->mode = head->body_mode;
    b->is_response = head->is_response;
    b->st = S_SIZE_START;
    b->max_trailer_bytes = lim->max_headers_kb * 1024;
    b->max_trailer_count = lim->max_headers_count;
    if (b->mode == XP_HTTP1_BODY_LENGTH)
        b->remaining = (uint64_t)head->content_length;
    if (b->mode == XP_HTTP1_BODY_NONE || (b->mode == XP_HTTP1_BODY_LENGTH && b->remaining == 0))
        b->done = true;
}

static int body_fail(xp_http1_body_t *b, int code, int status, const char *msg)
{
    b->st = S_ERROR;
    b->err_status = b->is_response ? 502 : status;
    b->err_msg = msg;
    return code;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* One framing byte of a chunked body. Returns 0, XP_HTTP1_DONE, or an error. */
static int chunked_byte(xp_http1_body_t *b, unsigned char c)
{
    int d;

    if (b->st <= S_SIZE_LF && ++b->line_len > XP_HTTP1_MAX_CHUNK_LINE)
        return body_fail(b, XP_EPROTO, 400, "chunk-size line too long");
    if (b->st >= S_TRAILER_START) {
        if (++b->trailer_bytes > b->max_trailer_bytes)
            return body_fail(b, XP_ETOOBIG, 431, "trailer section too large");
    }

    switch (b->st) {
    /* chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF (RFC 9112 §7.1) */
    case S_SIZE_START:
        if ((d = hexval(c)) < 0)
            return body_fail(b, XP_EPROTO, 400, "invalid chunk size");
        b->chunk_size = (uint64_t)d;
        b->hex_digits = 1;
        b->st = S_SIZE;
        return 0;
    case S_SIZE:
        if ((d = hexval(c)) >= 0) {
            /* 16 digits fill 64 bits; anything longer overflows (leading
             * zeros included: no legitimate sender pads that much). */
            if (++b->hex_digits > 16)
                return body_fail(b, XP_EPROTO, 400, "chunk size overflow");
            b->chunk_size = (b->chunk_size << 4) | (uint64_t)d;
            return 0;
        }
        if (c == ';')
            b->st = S_EXT_NAME_START;
        else if (xp__is_ows(c))
            b->st = S_SIZE_WS;
        else if (c == '\r')
            b->st = S_SIZE_LF;
        else
            return body_fail(b, XP_EPROTO, 400, "invalid chunk size");
        return 0;

    /* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
     * chunk-ext-val = token / quoted-string (RFC 9112 §7.1.1). Accepted and
     * ignored, but validated: a lax extension parser is a smuggling vector. */
    case S_SIZE_WS:
        if (c == ';')
            b->st = S_EXT_NAME_START;
        else if (!xp__is_ows(c))
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_NAME_START:
        if (xp__is(c, XP__C_TCHAR))
            b->st = S_EXT_NAME;
        else if (!xp__is_ows(c))
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_NAME:
        if (xp__is(c, XP__C_TCHAR))
            return 0;
        if (c == '=')
            b->st = S_EXT_VAL_START;
        else if (c == ';')
            b->st = S_EXT_NAME_START;
        else if (xp__is_ows(c))
            b->st = S_EXT_AFTER_NAME;
        else if (c == '\r')
            b->st = S_SIZE_LF;
        else
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_AFTER_NAME:
        if (c == '=')
            b->st = S_EXT_VAL_START;
        else if (c == ';')
            b->st = S_EXT_NAME_START;
        else if (!xp__is_ows(c))
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_VAL_START:
        if (c == '"')
            b->st = S_EXT_QVAL;
        else if (xp__is(c, XP__C_TCHAR))
            b->st = S_EXT_VAL_TOKEN;
        else if (!xp__is_ows(c))
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_VAL_TOKEN:
    case S_EXT_AFTER_QVAL:
        if (b->st == S_EXT_VAL_TOKEN && xp__is(c, XP__C_TCHAR))
            return 0;
        if (c == ';')
            b->st = S_EXT_NAME_START;
        else if (xp__is_ows(c))
            b->st = S_SIZE_WS;
        else if (c == '\r')
            b->st = S_SIZE_LF;
        else
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_QVAL:
        /* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
         * (RFC 9110 §5.6.4) */
        if (c == '"')
            b->st = S_EXT_AFTER_QVAL;
        else if (c == '\\')
            b->st = S_EXT_QVAL_ESC;
        else if (!xp__is(c, XP__C_QDTEXT))
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        return 0;
    case S_EXT_QVAL_ESC:
        /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
        if (!xp__is(c, XP__C_FVALUE))
            return body_fail(b, XP_EPROTO, 400, "invalid chunk extension");
        b->st = S_EXT_QVAL;
        return 0;
    case S_SIZE_LF:
        if (c != '\n')
            return body_fail(b, XP_EPROTO, 400, "bare CR in chunk-size line");
        if (b->chunk_size > (uint64_t)INT64_MAX)
            return body_fail(b, XP_EPROTO, 400, "chunk size overflow");
        b->line_len = 0;
        if (b->chunk_size == 0) {
            b->st = S_TRAILER_START; /* last-chunk */
        } else {
            b->remaining = b->chunk_size;
            b->st = S_DATA;
        }
        return 0;

    /* chunk-data is followed by CRLF, exactly. */
    case S_DATA_CR:
        if (c != '\r')
            return body_fail(b, XP_EPROTO, 400, "chunk data not followed by CRLF");
        b->st = S_DATA_LF;
        return 0;
    case S_DATA_LF:
        if (c != '\n')
            return body_fail(b, XP_EPROTO, 400, "chunk data not followed by CRLF");
        b->st = S_SIZE_START;
        return 0;

    /* trailer-section = *( field-line CRLF ), then CRLF (RFC 9112 §7.1.2).
     * Parsed with the head's rules and limits, then dropped. */
    case S_TRAILER_START:
        if (c == '\r') {
            b->st = S_FINAL_LF;
        } else if (xp__is(c, XP__C_TCHAR)) {
            if (++b->trailer_count > b->max_trailer_count)
                return body_fail(b, XP_ETOOBIG, 431, "too many trailer fields");
            b->st = S_TRAILER_NAME;
        } else {
            return body_fail(b, XP_EPROTO, 400, "invalid trailer field");
        }
        return 0;
    case S_TRAILER_NAME:
        if (c == ':')
            b->st = S_TRAILER_VALUE;
        else if (!xp__is(c, XP__C_TCHAR))
            return body_fail(b, XP_EPROTO, 400, "invalid trailer field name");
        return 0;
    case S_TRAILER_VALUE:
        if (c == '\r')
            b->st = S_TRAILER_LF;
        else if (!xp__is(c, XP__C_FVALUE))
            return body_fail(b, XP_EPROTO, 400, "invalid character in trailer value");
        return 0;
    case S_TRAILER_LF:
        if (c != '\n')
            return body_fail(b, XP_EPROTO, 400, "bare CR in trailer");
        b->st = S_TRAILER_START;
        return 0;
    case S_FINAL_LF:
        if (c != '\n')
            return body_fail(b, XP_EPROTO, 400, "bare CR after trailers");
        b->done = true;
        return XP_HTTP1_DONE;
    }
    return body_fail(b, XP_EPROTO, 400, "chunked decoder in error state");
}

int xp_http1_body_decode(xp_http1_body_t *b, const char *buf, size_t len, size_t *consumed,
                         xp_str_t *spans, size_t max_spans, size_t *nspans)
{
    size_t i = 0, ns = 0;
    int r = 0;

    *consumed = 0;
    *nspans = 0;
    if (b->st == S_ERROR)
        return XP_EPROTO;
    if (b->done)
        return XP_HTTP1_DONE;

    switch (b->mode) {
    case XP_HTTP1_BODY_NONE:
        b->done = true;
        return XP_HTTP1_DONE;
    case XP_HTTP1_BODY_UNTIL_CLOSE:
        if (len > 0 && max_spans > 0) {
            spans[0] = xp_str(buf, len);
            *nspans = 1;
            *consumed = len;
        }
        return 0;
    case XP_HTTP1_BODY_LENGTH: {
        size_t n = len < b->remaining ? len : (size_t)b->remaining;
        if (n > 0 && max_spans > 0) {
            spans[0] = xp_str(buf, n);
            *nspans = 1;
            *consumed = n;
            b->remaining -= n;
        }
        if (b->remaining == 0) {
            b->done = true;
            return XP_HTTP1_DONE;
        }
        return 0;
    }
    case XP_HTTP1_BODY_CHUNKED:
        break;
    }

    while (i < len) {
        if (b->st == S_DATA) {
            if (ns == max_spans)
                break;
            size_t n = len - i < b->remaining ? len - i : (size_t)b->remaining;
            spans[ns++] = xp_str(buf + i, n);
            i += n;
            b->remaining -= n;
            if (b->remaining == 0)
                b->st = S_DATA_CR;
            continue;
        }
        r = chunked_byte(b, (unsigned char)buf[i++]);
        if (r != 0)
            break;
    }
    *consumed = i;
    *nspans = ns;
    return r;
}

int xp_http1_body_eof(xp_http1_body_t *b)
{
    if (b->st == S_ERROR)
        return XP_EPROTO;
    if (b->done)
        return XP_HTTP1_DONE;
    if (b->mode == XP_HTTP1_BODY_UNTIL_CLOSE || b->mode == XP_HTTP1_BODY_NONE) {
        b->done = true;
        return XP_HTTP1_DONE;
    }
    return body_fail(b, XP_EPROTO, 400, "connection closed before the end of the body");
}
