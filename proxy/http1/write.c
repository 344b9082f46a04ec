/* Serialisers for request and response heads and chunked framing
 * (RFC 9112 §3, §4, §5, §7.1). Two-phase by design: the returned length is
 * always the full size, so a caller with a too-small buffer learns how much
 * to reserve and calls again. */
#include "proxy/http1/http1_internal.h"

typedef struct {
    char *dst;
    size_t cap;
    size_t n;
} wbuf_t;

static void put(wbuf_t *w, const char *s, size_t n)
{
    if (w->n + n <= w->cap && n > 0)
        memcpy(w->dst + w->n, s, n);
    w->n += n;
}

static void put_str(wbuf_t *w, xp_str_t s)
{
    put(w, s.p, s.len);
}

/* Hop-by-hop fields a proxy must not forward (RFC 9110 §7.6.1, plus the
 * non-standard Proxy-Connection and Keep-Alive that old clients send). */
static bool is_hop_by_hop(xp_str_t n)
{
    return XP__EQ_LIT(n, "connection") || XP__EQ_LIT(n, "keep-alive") ||
           XP__EQ_LIT(n, "proxy-connection") || XP__EQ_LIT(n, "te") ||
           XP__EQ_LIT(n, "transfer-encoding") || XP__EQ_LIT(n, "upgrade");
}

/* Is `name` listed as a connection option in any Connection field of hdrs?
 * O(fields × options); both are small. */
static bool named_in_connection(const xp_header_t *hdrs, size_t nhdrs, xp_str_t name)
{
    for (size_t i = 0; i < nhdrs; i++) {
        if (!XP__EQ_LIT(hdrs[i].name, "connection"))
            continue;
        xp_str_t list = hdrs[i].value, el;
        while (xp_http1_next_elem(&list, &el))
            if (xp_str_eq_nocase(el, name))
                return true;
    }
    return false;
}

/* has_conn: hdrs has a Connection field whose options may name more. */
static bool skipped(const xp_header_t *hdrs, size_t nhdrs, xp_str_t name, const xp_http1_edit_t *e,
                    bool has_conn)
{
    if (e == NULL)
        return false;
    for (size_t i = 0; i < e->nskip; i++)
        if (xp_str_eq_nocase(e->skip[i], name))
            return true;
    return e->drop_hop_by_hop &&
           (is_hop_by_hop(name) || (has_conn && named_in_connection(hdrs, nhdrs, name)));
}

static void put_field(wbuf_t *w, const xp_header_t *h)
{
    put_str(w, h->name);
    put(w, ": ", 2);
    put_str(w, h->value);
    put(w, "\r\n", 2);
}

static size_t put_fields(wbuf_t *w, const xp_header_t *hdrs, size_t nhdrs, const xp_http1_edit_t *e)
{
    bool has_conn = false;
    for (size_t i = 0; e != NULL && e->drop_hop_by_hop && i < nhdrs && !has_conn; i++)
        has_conn = XP__EQ_LIT(hdrs[i].name, "connection");
    for (size_t i = 0; i < nhdrs; i++)
        if (!skipped(hdrs, nhdrs, hdrs[i].name, e, has_conn))
            put_field(w, &hdrs[i]);
    if (e != NULL)
        for (size_t i = 0; i < e->nadd; i++)
            put_field(w, &e->add[i]);
    put(w, "\r\n", 2);
    return w->n;
}

static void put_version(wbuf_t *w, int minor)
{
    char v[8] = {'H', 'T', 'T', 'P',
                 '/', '1', '.', (char)('0' + (minor < 0 || minor > 9 ? 1 : minor))};
    put(w, v, sizeof(v));
}

size_t xp_http1_write_request_head(char *dst, size_t cap, xp_str_t method, xp_str_t target,
                                   int minor_version, const xp_header_t *hdrs, size_t nhdrs,
                                   const xp_http1_edit_t *edit)
{
    wbuf_t w = {dst, cap, 0};
    put_str(&w, method);
    put(&w, " ", 1);
    put_str(&w, target);
    put(&w, " ", 1);
    put_version(&w, minor_version);
    put(&w, "\r\n", 2);
    return put_fields(&w, hdrs, nhdrs, edit);
}

size_t xp_http1_write_response_head(char *dst, size_t cap, int minor_version, int status,
                                    xp_str_t reason, const xp_header_t *hdrs, size_t nhdrs,
                                    const xp_http1_edit_t *edit)
{
    wbuf_t w = {dst, cap, 0};
    if (status < 100 || status > 999)
        status = 500;
    char sc[5] = {' ', (char)('0' + status / 100), (char)('0' + status / 10 % 10),
                  (char)('0' + status % 10), ' '};
    put_version(&w, minor_version);
    put(&w, sc, sizeof(sc));
    if (reason.len == 0)
        reason = xp_str_c(xp_http1_reason(status));
    put_str(&w, reason);
    put(&w, "\r\n", 2);
    return put_fields(&w, hdrs, nhdrs, edit);
}

/* Every field as "name: value\r\n", then the final CRLF. */
static size_t fields_bound(const xp_header_t *hdrs, size_t nhdrs, const xp_http1_edit_t *e)
{
    size_t n = 2;
    for (size_t i = 0; i < nhdrs; i++)
        n += hdrs[i].name.len + hdrs[i].value.len + 4;
    for (size_t i = 0; e != NULL && i < e->nadd; i++)
        n += e->add[i].name.len + e->add[i].value.len + 4;
    return n;
}

size_t xp_http1_request_head_bound(xp_str_t method, xp_str_t target, const xp_header_t *hdrs,
                                   size_t nhdrs, const xp_http1_edit_t *edit)
{
    return method.len + 1 + target.len + 1 + 8 + 2 + fields_bound(hdrs, nhdrs, edit);
}

size_t xp_http1_response_head_bound(int status, xp_str_t reason, const xp_header_t *hdrs,
                                    size_t nhdrs, const xp_http1_edit_t *edit)
{
    if (status < 100 || status > 999)
        status = 500;
    if (reason.len == 0)
        reason = xp_str_c(xp_http1_reason(status));
    return 8 + 5 + reason.len + 2 + fields_bound(hdrs, nhdrs, edit);
}

size_t xp_http1_chunk_header(char *dst, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = hex[size & 0xf];
        size >>= 4;
    } while (size != 0);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    dst[n] = '\r';
    dst[n + 1] = '\n';
    return n + 2;
}
