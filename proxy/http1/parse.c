/* HTTP/1.1 head parser: request-line / status-line and field section
 * (RFC 9112 §2-§5), plus the framing and connection facts derived from the
 * fields (RFC 9112 §6, §9; RFC 9110 §7.6, §7.8, §8.6, §10.1.1).
 *
 * Two passes over a complete head: find_end() locates the blank line that
 * ends it (only bytes not scanned before are searched, so a head arriving a
 * byte at a time costs O(n) in total, not O(n^2)); then the head is parsed
 * once, start to end. Because a complete head always ends in CRLF CRLF and no
 * character class below contains CR or LF, the scanning loops need no bounds
 * checks: they always stop at a CR at the latest. */
#include <string.h>

#include "proxy/http1/http1_internal.h"

void xp_http1_limits_default(xp_http1_limits_t *lim)
{
    lim->max_headers_kb = XP_HTTP1_DEFAULT_MAX_HEADERS_KB;
    lim->max_headers_count = XP_HTTP1_DEFAULT_MAX_HEADERS_COUNT;
    lim->max_target_len = XP_HTTP1_DEFAULT_MAX_TARGET_LEN;
}

void xp_http1_head_init(xp_http1_head_t *head, xp_header_t *headers, size_t headers_cap)
{
    memset(head, 0, sizeof(*head));
    head->headers = headers;
    head->headers_cap = headers_cap;
    head->content_length = -1;
    head->host_idx = -1;
    head->connection_idx = -1;
    head->upgrade_idx = -1;
    head->content_length_idx = -1;
    head->transfer_encoding_idx = -1;
}

static void xp__idx_removed(int *idx, size_t i)
{
    if (*idx == (int)i)
        *idx = -1;
    else if (*idx > (int)i)
        (*idx)--;
}

void xp_http1_head_remove(xp_http1_head_t *head, size_t i)
{
    if (i >= head->num_headers)
        return;
    memmove(&head->headers[i], &head->headers[i + 1],
            (head->num_headers - i - 1) * sizeof(head->headers[0]));
    head->num_headers--;
    xp__idx_removed(&head->host_idx, i);
    xp__idx_removed(&head->connection_idx, i);
    xp__idx_removed(&head->upgrade_idx, i);
    xp__idx_removed(&head->content_length_idx, i);
    xp__idx_removed(&head->transfer_encoding_idx, i);
}

bool xp_http1_head_append(xp_http1_head_t *head, xp_str_t name, xp_str_t value)
{
    if (head->num_headers >= head->headers_cap)
        return false;
    head->headers[head->num_headers++] = (xp_header_t){name, value};
    return true;
}

const char *xp_http1_method_to_str(xp_http1_method_t m)
{
    static const char *const names[] = {"OTHER",  "GET",     "HEAD",    "POST",  "PUT",
                                        "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    return (unsigned)m < sizeof(names) / sizeof(names[0]) ? names[m] : "OTHER";
}

const char *xp_http1_body_mode_to_str(xp_http1_body_mode_t m)
{
    switch (m) {
    case XP_HTTP1_BODY_NONE:
        return "none";
    case XP_HTTP1_BODY_LENGTH:
        return "length";
    case XP_HTTP1_BODY_CHUNKED:
        return "chunked";
    case XP_HTTP1_BODY_UNTIL_CLOSE:
        return "until-close";
    }
    return "?";
}

/* Methods are case-sensitive (RFC 9110 §9.1). */
static xp_http1_method_t method_id(const char *m, size_t n)
{
#define M(lit, id)                                                                                 \
    if (n == sizeof(lit) - 1 && memcmp(m, lit, n) == 0)                                            \
        return id;
    switch (n) {
    case 3:
        M("GET", XP_HTTP1_GET);
        M("PUT", XP_HTTP1_PUT);
        break;
    case 4:
        M("POST", XP_HTTP1_POST);
        M("HEAD", XP_HTTP1_HEAD);
        break;
    case 5:
        M("TRACE", XP_HTTP1_TRACE);
        M("PATCH", XP_HTTP1_PATCH);
        break;
    case 6:
        M("DELETE", XP_HTTP1_DELETE);
        break;
    case 7:
        M("OPTIONS", XP_HTTP1_OPTIONS);
        M("CONNECT", XP_HTTP1_CONNECT);
        break;
    }
#undef M
    return XP_HTTP1_OTHER;
}

static int fail(xp_http1_head_t *h, int code, int status, const char *msg)
{
    /* A bad upstream response is answered downstream with 502 whatever the
     * reason (RFC 9110 §15.6.3). */
    h->err_status = h->is_response ? 502 : status;
    h->err_msg = msg;
    return code;
}

#define BAD(h, msg) fail((h), XP_EPROTO, 400, (msg))

/* Finds the end of the head: the empty line after the field lines (RFC 9112
 * §2.1). Every LF found on the way must follow a CR: a bare LF is not
 * accepted as a line terminator (§2.2 allows it; a proxy that does while the
 * next hop does not is a smuggling vector), so it is rejected right away.
 * Returns XP_OK with *end set, XP_EAGAIN, or an error. */
static int find_end(xp_http1_head_t *h, const char *buf, size_t len, bool skip_empty, size_t *end)
{
    xp_http1_scan_t *s = &h->scan_;
    size_t i = s->scanned;

    if (!s->started) {
        /* RFC 9112 §2.2: a server SHOULD ignore at least one empty line
         * (CRLF) received before the request-line. */
        while (i < len && skip_empty && (buf[i] == '\r' || buf[i] == '\n')) {
            if (buf[i] == '\n')
                return BAD(h, "bare LF");
            if (i + 1 >= len) {
                s->scanned = i;
                return XP_EAGAIN;
            }
            if (buf[i + 1] != '\n')
                return BAD(h, "bare CR");
            i += 2;
        }
        if (i >= len) {
            s->scanned = i;
            return XP_EAGAIN;
        }
        s->started = true;
        s->start = i;
    }

    const size_t start = s->start;
    while (i < len) {
        const char *lf = memchr(buf + i, '\n', len - i);
        if (lf == NULL)
            break;
        size_t k = (size_t)(lf - buf);
        if (k == start || buf[k - 1] != '\r')
            return BAD(h, "bare LF");
        s->saw_lf = true;
        /* buf[k-3..k] == CR LF CR LF: every earlier LF was checked to follow
         * a CR, and buf[start] is neither CR nor LF. */
        if (k >= start + 2 && buf[k - 2] == '\n') {
            s->scanned = k + 1;
            *end = k + 1;
            return XP_OK;
        }
        i = k + 1;
    }
    s->scanned = len;
    return XP_EAGAIN;
}

/* "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), case-sensitive. The && chain stops
 * at the first mismatch, so it never reads past the CR that ends the line.
 * Returns 1 for HTTP/1.x, 0 for another well-formed version, -1 otherwise. */
static int parse_version(const char *p, int *minor)
{
    if (!(p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/' && p[5] >= '0' &&
          p[5] <= '9' && p[6] == '.' && p[7] >= '0' && p[7] <= '9'))
        return -1;
    *minor = p[7] - '0';
    return p[5] == '1';
}

/* Field lines (RFC 9112 §5): field-name ":" OWS field-value OWS CRLF.
 * Returns a pointer just past the final CRLF, or NULL after fail(). */
static const char *parse_fields(xp_http1_head_t *h, const char *p, size_t max_count, int *err)
{
    size_t n = 0;
    for (;;) {
        if (*p == '\r') {
            if (p[1] != '\n')
                goto bare_cr;
            break;
        }
        const char *name = p;
        while (xp__is((unsigned char)*p, XP__C_TCHAR))
            p++;
        if (*p != ':' || p == name) {
            if (p == name && xp__is_ows((unsigned char)*p))
                /* RFC 9112 §5.2: obs-fold is rejected in requests (a proxy
                 * may not forward it); we reject it in responses too. */
                *err = BAD(h, "obs-fold line folding");
            else if (p != name && xp__is_ows((unsigned char)*p))
                /* RFC 9112 §5.1: no whitespace between name and colon. */
                *err = BAD(h, "whitespace between field name and colon");
            else if (p == name && *p == ':')
                *err = BAD(h, "empty field name");
            else
                *err = BAD(h, "invalid character in field name");
            return NULL;
        }
        size_t nlen = (size_t)(p - name);
        p++;
        while (xp__is_ows((unsigned char)*p))
            p++;
        const char *v = p;
        /* RFC 9110 §5.5: field-vchar, SP, HTAB, obs-text; no CTLs (NUL,
         * CR, LF included), so a bare CR or NUL stops the scan here. */
        while (xp__is((unsigned char)*p, XP__C_FVALUE))
            p++;
        if (*p != '\r') {
            *err = BAD(h, "invalid character in field value");
            return NULL;
        }
        if (p[1] != '\n')
            goto bare_cr;
        const char *ve = p;
        while (ve > v && xp__is_ows((unsigned char)ve[-1]))
            ve--;
        if (n == max_count) {
            *err = fail(h, XP_ETOOBIG, 431, "too many header fields");
            return NULL;
        }
        h->headers[n].name = xp_str(name, nlen);
        h->headers[n].value = xp_str(v, (size_t)(ve - v));
        n++;
        p += 2;
    }
    h->num_headers = n;
    return p + 2;

bare_cr:
    *err = BAD(h, "bare CR");
    return NULL;
}

static bool is_token(xp_str_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!xp__is((unsigned char)s.p[i], XP__C_TCHAR))
            return false;
    return true;
}

enum {
    F_OTHER,
    F_HOST,
    F_EXPECT,
    F_UPGRADE,
    F_CONNECTION,
    F_CONTENT_LENGTH,
    F_TRANSFER_ENCODING,
};

/* Field names are case-insensitive (RFC 9110 §5.1). */
static int classify(xp_str_t n)
{
    switch (n.len) {
    case 4:
        return xp__eq_lower(n.p, "host", 4) ? F_HOST : F_OTHER;
    case 6:
        return xp__eq_lower(n.p, "expect", 6) ? F_EXPECT : F_OTHER;
    case 7:
        return xp__eq_lower(n.p, "upgrade", 7) ? F_UPGRADE : F_OTHER;
    case 10:
        return xp__eq_lower(n.p, "connection", 10) ? F_CONNECTION : F_OTHER;
    case 14:
        return xp__eq_lower(n.p, "content-length", 14) ? F_CONTENT_LENGTH : F_OTHER;
    case 17:
        return xp__eq_lower(n.p, "transfer-encoding", 17) ? F_TRANSFER_ENCODING : F_OTHER;
    }
    return F_OTHER;
}

/* What the fields say, before request/response rules apply. */
typedef struct {
    int hosts;
    bool cl_seen;
    int64_t cl;
    bool te_seen;   /* any Transfer-Encoding field */
    int te_codings; /* non-empty elements over all TE fields */
    int te_chunked; /* how many of them are "chunked" */
    bool te_last_chunked;
    bool te_other;     /* a coding other than chunked */
    bool te_malformed; /* an element that is not a token */
    bool conn_close, conn_keep_alive, conn_upgrade;
    bool expect_continue;
} facts_t;

/* Content-Length = 1*DIGIT (RFC 9110 §8.6). A list of identical values
 * ("42, 42", or repeated fields) may be accepted as that value; any
 * difference, empty element, sign, space inside, hex or overflow is invalid.
 * We compare values numerically, so "042" and "42" agree. */
static bool parse_content_length(xp_str_t v, facts_t *f)
{
    xp_str_t list = v, el;
    if (v.len == 0)
        return false;
    while (xp_http1_next_elem(&list, &el)) {
        if (el.len == 0)
            return false;
        int64_t n = 0;
        for (size_t i = 0; i < el.len; i++) {
            unsigned d = (unsigned char)el.p[i] - '0';
            if (d > 9)
                return false;
            if (n > (INT64_MAX - (int64_t)d) / 10)
                return false;
            n = n * 10 + (int64_t)d;
        }
        if (f->cl_seen && f->cl != n)
            return false;
        f->cl_seen = true;
        f->cl = n;
    }
    return true;
}

/* Transfer-Encoding = #transfer-coding (RFC 9112 §6.1); multiple fields form
 * one list (RFC 9110 §5.3). Only "chunked" is implemented. */
static void parse_transfer_encoding(xp_str_t v, facts_t *f)
{
    xp_str_t list = v, el;
    f->te_seen = true;
    while (xp_http1_next_elem(&list, &el)) {
        if (el.len == 0)
            continue; /* RFC 9110 §5.6.1: empty elements are ignored */
        f->te_codings++;
        if (!is_token(el)) {
            f->te_malformed = true; /* includes parameters: chunked has none */
            f->te_last_chunked = false;
        } else if (XP__EQ_LIT(el, "chunked")) {
            f->te_chunked++;
            f->te_last_chunked = true;
        } else {
            f->te_other = true;
            f->te_last_chunked = false;
        }
    }
}

static void parse_connection(xp_str_t v, facts_t *f)
{
    xp_str_t list = v, el;
    while (xp_http1_next_elem(&list, &el)) {
        if (XP__EQ_LIT(el, "close"))
            f->conn_close = true;
        else if (XP__EQ_LIT(el, "keep-alive"))
            f->conn_keep_alive = true;
        else if (XP__EQ_LIT(el, "upgrade"))
            f->conn_upgrade = true;
    }
}

/* Walks the stored fields once: records indices, validates the framing
 * fields. Returns XP_OK or an error after fail(). */
static int scan_fields(xp_http1_head_t *h, facts_t *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < h->num_headers; i++) {
        const xp_header_t *hd = &h->headers[i];
        int idx = (int)i;
        switch (classify(hd->name)) {
        case F_HOST:
            if (f->hosts++ == 0)
                h->host_idx = idx;
            break;
        case F_CONTENT_LENGTH:
            if (h->content_length_idx < 0)
                h->content_length_idx = idx;
            if (!parse_content_length(hd->value, f))
                return BAD(h, "invalid or conflicting Content-Length");
            break;
        case F_TRANSFER_ENCODING:
            if (h->transfer_encoding_idx < 0)
                h->transfer_encoding_idx = idx;
            parse_transfer_encoding(hd->value, f);
            break;
        case F_CONNECTION:
            if (h->connection_idx < 0)
                h->connection_idx = idx;
            parse_connection(hd->value, f);
            break;
        case F_UPGRADE:
            if (h->upgrade_idx < 0)
                h->upgrade_idx = idx;
            break;
        case F_EXPECT: {
            xp_str_t list = hd->value, el;
            while (xp_http1_next_elem(&list, &el))
                if (XP__EQ_LIT(el, "100-continue"))
                    f->expect_continue = true;
            break;
        }
        default:
            break;
        }
    }
    return XP_OK;
}

static bool valid_host(xp_str_t v)
{
    for (size_t i = 0; i < v.len; i++)
        if (!xp__is((unsigned char)v.p[i], XP__C_HOST))
            return false;
    return true;
}

/* RFC 9112 §3.2: origin-form for most methods, absolute-form for any
 * (proxies), authority-form only for CONNECT, asterisk-form only for
 * OPTIONS. */
static bool valid_target_form(xp_http1_method_t m, xp_str_t t)
{
    if (m == XP_HTTP1_CONNECT) {
        /* authority-form = uri-host ":" port (§3.2.3) */
        return t.p[0] != '/' && valid_host(t) && memchr(t.p, ':', t.len) != NULL &&
               t.p[t.len - 1] != ':';
    }
    if (t.p[0] == '/')
        return true;
    if (t.len == 1 && t.p[0] == '*')
        return m == XP_HTTP1_OPTIONS;
    /* absolute-form: scheme ":" hier-part (RFC 3986 §3.1) */
    size_t i = 0;
    unsigned char c = (unsigned char)t.p[0];
    if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return false;
    for (i = 1; i < t.len; i++) {
        c = (unsigned char)t.p[i];
        if (c == ':')
            return i + 1 < t.len;
        if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '-' || c == '.'))
            return false;
    }
    return false;
}

/* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3).
 * p is the start of a line known to end in CRLF. Returns the start of the
 * next line, or NULL with *err set. */
static const char *parse_request_line(xp_http1_head_t *h, const char *p,
                                      const xp_http1_limits_t *lim, int *err)
{
    const char *m = p;
    while (xp__is((unsigned char)*p, XP__C_TCHAR))
        p++;
    if (p == m || *p != ' ')
        return *err = BAD(h, "invalid method"), NULL;
    h->method = xp_str(m, (size_t)(p - m));
    h->method_id = method_id(m, (size_t)(p - m));
    const char *t = ++p;
    while (xp__is((unsigned char)*p, XP__C_TARGET))
        p++;
    if ((size_t)(p - t) > lim->max_target_len)
        return *err = fail(h, XP_ETOOBIG, 414, "request-target too long"), NULL;
    if (p == t || *p != ' ')
        return *err = BAD(h, "invalid request-target"), NULL;
    h->target = xp_str(t, (size_t)(p - t));
    p++;
    int v = parse_version(p, &h->minor_version);
    if (v < 0)
        return *err = BAD(h, "invalid HTTP version"), NULL;
    if (v == 0)
        return *err = fail(h, XP_EPROTO, 505, "HTTP version not supported"), NULL;
    if (p[8] != '\r' || p[9] != '\n')
        return *err = BAD(h, "invalid request-line"), NULL;
    return p + 10;
}

/* While the request-line is incomplete, follows the method and then the
 * target over the bytes that arrived (each byte looked at once), so an
 * over-long target is answered with 414 as soon as it is over the limit
 * rather than after 60 KiB or a timeout. Returns true when it is. Stops
 * following at the first byte that ends the target or is not allowed: the
 * full parse reports those once the line is complete. */
static bool track_target(xp_http1_head_t *h, const char *buf, size_t len,
                         const xp_http1_limits_t *lim)
{
    xp_http1_scan_t *s = &h->scan_;
    if (s->tdone)
        return false;
    if (s->cur < s->start)
        s->cur = s->start;
    if (s->tstart == 0) {
        while (s->cur < len && xp__is((unsigned char)buf[s->cur], XP__C_TCHAR))
            s->cur++;
        if (s->cur == len)
            return false;
        if (buf[s->cur] != ' ' || s->cur == s->start) {
            s->tdone = true;
            return false;
        }
        s->tstart = ++s->cur;
    }
    while (s->cur < len && xp__is((unsigned char)buf[s->cur], XP__C_TARGET))
        s->cur++;
    if (s->cur - s->tstart > lim->max_target_len)
        return true;
    if (s->cur < len)
        s->tdone = true;
    return false;
}

int xp_http1_parse_request(xp_http1_head_t *h, const char *buf, size_t len,
                           const xp_http1_limits_t *lim)
{
    size_t end = 0;
    const size_t max_head = (size_t)lim->max_headers_kb * 1024;

    h->is_response = false;
    int r = find_end(h, buf, len, true, &end);
    if (r == XP_EAGAIN) {
        const xp_http1_scan_t *s = &h->scan_;
        if (s->saw_lf && !s->line_ok) {
            /* The request-line is complete: check it now, so a bad one is
             * answered without waiting for the rest of the head. */
            if (parse_request_line(h, buf + s->start, lim, &r) == NULL)
                return r;
            h->scan_.line_ok = true;
        }
        if (s->started && !s->saw_lf && track_target(h, buf, len, lim))
            return fail(h, XP_ETOOBIG, 414, "request-target too long");
        if (len > max_head)
            return s->saw_lf ? fail(h, XP_ETOOBIG, 431, "header section too large")
                             : fail(h, XP_ETOOBIG, 414, "request-line too long");
        return XP_EAGAIN;
    }
    if (r < 0)
        return r;

    const char *p = parse_request_line(h, buf + h->scan_.start, lim, &r);
    if (p == NULL)
        return r;
    /* A request-line longer than the whole head limit answers 414, like an
     * incomplete one above (so the answer does not depend on how the bytes
     * arrived); a head over the limit answers 431. */
    if ((size_t)(p - buf) > max_head)
        return fail(h, XP_ETOOBIG, 414, "request-line too long");
    if (end > max_head)
        return fail(h, XP_ETOOBIG, 431, "header section too large");

    size_t max_count =
        lim->max_headers_count < h->headers_cap ? lim->max_headers_count : h->headers_cap;
    int err = 0;
    if (parse_fields(h, p, max_count, &err) == NULL)
        return err;

    facts_t f;
    if ((r = scan_fields(h, &f)) != XP_OK)
        return r;
    if (!valid_target_form(h->method_id, h->target))
        return BAD(h, "request-target form not allowed for method");

    /* RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0. */
    if (f.hosts > 1)
        return BAD(h, "multiple Host fields");
    if (f.hosts == 0 && h->minor_version >= 1)
        return BAD(h, "missing Host");
    if (f.hosts == 1 && !valid_host(h->headers[h->host_idx].value))
        return BAD(h, "invalid Host");

    if (f.te_seen) {
        /* RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing. */
        if (h->minor_version == 0)
            return BAD(h, "Transfer-Encoding in HTTP/1.0 request");
        /* §6.1 allows rejecting TE + CL; Envoy does, and so do we. */
        if (f.cl_seen)
            return BAD(h, "both Content-Length and Transfer-Encoding");
        if (f.te_codings == 0 || f.te_malformed)
            return BAD(h, "invalid Transfer-Encoding");
        /* §6.1: chunked MUST NOT be applied more than once. */
        if (f.te_chunked > 1)
            return BAD(h, "chunked applied more than once");
        /* §6.1: a coding we do not understand → 501. */
        if (f.te_other)
            return fail(h, XP_ENOTSUP, 501, "unsupported transfer-coding");
        /* §6.3 rule 4: chunked must be the final coding of a request. */
        if (!f.te_last_chunked)
            return BAD(h, "chunked is not the final transfer-coding");
        h->chunked = true;
        h->body_mode = XP_HTTP1_BODY_CHUNKED;
    } else if (f.cl_seen) {
        h->content_length = f.cl;
        h->body_mode = f.cl > 0 ? XP_HTTP1_BODY_LENGTH : XP_HTTP1_BODY_NONE;
    } else {
        /* §6.3 rule 7: a request without either has no body. */
        h->body_mode = XP_HTTP1_BODY_NONE;
    }
    h->has_body = h->body_mode != XP_HTTP1_BODY_NONE;

    /* RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with keep-alive. */
    h->connection_close = f.conn_close;
    h->keep_alive = !f.conn_close && (h->minor_version >= 1 || f.conn_keep_alive);
    /* RFC 9110 §7.8: Upgrade in an HTTP/1.0 request is ignored; it only
     * counts when listed in Connection. */
    if (h->minor_version >= 1 && f.conn_upgrade && h->upgrade_idx >= 0) {
        h->upgrade = true;
        h->upgrade_value = h->headers[h->upgrade_idx].value;
    }
    /* RFC 9110 §10.1.1: a 100-continue expectation in 1.0 is ignored. */
    h->expect_100_continue = f.expect_continue && h->minor_version >= 1;
    return (int)end;
}

int xp_http1_parse_response(xp_http1_head_t *h, const char *buf, size_t len,
                            xp_http1_method_t req_method, const xp_http1_limits_t *lim)
{
    size_t end = 0;
    const size_t max_head = (size_t)lim->max_headers_kb * 1024;

    h->is_response = true;
    int r = find_end(h, buf, len, false, &end);
    if (r == XP_EAGAIN) {
        if (len > max_head)
            return fail(h, XP_ETOOBIG, 502, "response header section too large");
        return XP_EAGAIN;
    }
    if (r < 0)
        return r;
    if (end > max_head)
        return fail(h, XP_ETOOBIG, 502, "response header section too large");

    /* status-line = HTTP-version SP status-code SP [ reason-phrase ]
     * (RFC 9112 §4) */
    const char *p = buf + h->scan_.start;
    int v = parse_version(p, &h->minor_version);
    if (v <= 0 || p[8] != ' ')
        return BAD(h, "invalid HTTP version in status-line");
    p += 9;
    if (!(p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
        return BAD(h, "invalid status code");
    h->status_code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
    p += 3;
    if (*p == ' ') {
        const char *rs = ++p;
        while (xp__is((unsigned char)*p, XP__C_FVALUE))
            p++;
        h->reason = xp_str(rs, (size_t)(p - rs));
    }
    /* A missing SP before an empty reason is tolerated: the reason carries
     * no meaning (§4) and the framing stays unambiguous. */
    if (p[0] != '\r' || p[1] != '\n')
        return BAD(h, "invalid status-line");

    size_t max_count =
        lim->max_headers_count < h->headers_cap ? lim->max_headers_count : h->headers_cap;
    int err = 0;
    if (parse_fields(h, p + 2, max_count, &err) == NULL)
        return err;
    facts_t f;
    if ((r = scan_fields(h, &f)) != XP_OK)
        return r;

    int sc = h->status_code;
    if (f.te_seen) {
        /* RFC 9112 §6.1: TE in a 1.0 message means faulty framing; TE with
         * CL is a smuggling signature (§6.3 rule 3 lets TE win; we refuse
         * rather than guess which one the client would have used). */
        if (h->minor_version == 0)
            return BAD(h, "Transfer-Encoding in HTTP/1.0 response");
        if (f.cl_seen)
            return BAD(h, "both Content-Length and Transfer-Encoding");
        if (f.te_codings == 0 || f.te_malformed || f.te_chunked > 1)
            return BAD(h, "invalid Transfer-Encoding");
    }

    /* RFC 9112 §6.3, in order. */
    if (req_method == XP_HTTP1_HEAD || sc < 200 || sc == 204 || sc == 304) {
        h->body_mode = XP_HTTP1_BODY_NONE; /* rule 1 */
    } else if (req_method == XP_HTTP1_CONNECT && sc < 300) {
        h->body_mode = XP_HTTP1_BODY_NONE; /* rule 2: the tunnel starts */
    } else if (f.te_seen) {
        /* rule 4: chunked last → chunked; otherwise read until close */
        h->chunked = f.te_last_chunked;
        h->body_mode = f.te_last_chunked ? XP_HTTP1_BODY_CHUNKED : XP_HTTP1_BODY_UNTIL_CLOSE;
    } else if (f.cl_seen) {
        h->content_length = f.cl; /* rule 6 */
        h->body_mode = f.cl > 0 ? XP_HTTP1_BODY_LENGTH : XP_HTTP1_BODY_NONE;
    } else {
        h->body_mode = XP_HTTP1_BODY_UNTIL_CLOSE; /* rule 8 */
    }
    if (f.cl_seen && h->body_mode == XP_HTTP1_BODY_NONE)
        h->content_length = f.cl; /* informative (e.g. HEAD), not framing */
    h->has_body = h->body_mode != XP_HTTP1_BODY_NONE;

    h->connection_close = f.conn_close;
    h->keep_alive = !f.conn_close && (h->minor_version >= 1 || f.conn_keep_alive) &&
                    h->body_mode != XP_HTTP1_BODY_UNTIL_CLOSE;
    if (sc == 101 && h->upgrade_idx >= 0) {
        h->upgrade = true;
        h->upgrade_value = h->headers[h->upgrade_idx].value;
    }
    return (int)end;
}

int xp_http1_find_header(const xp_http1_head_t *head, xp_str_t name, int from)
{
    for (size_t i = from < 0 ? 0 : (size_t)from; i < head->num_headers; i++)
        if (xp_str_eq_nocase(head->headers[i].name, name))
            return (int)i;
    return -1;
}

const char *xp_http1_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}
