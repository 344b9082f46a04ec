/* Access log formatter: a format string is compiled once into literal pieces
 * and operators; formatting a line walks the pieces and appends to a strbuf.
 * Grammar (Envoy's): %NAME%, %NAME(arg)%, %NAME(arg):Z%, and %% for '%'. */
#include "proxy/accesslog/accesslog.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proxy/common/error.h"
#include "proxy/common/mem.h"

typedef enum {
    OP_LITERAL,
    OP_START_TIME,
    OP_REQ,
    OP_RESP,
    OP_TRAILER,
    OP_RESPONSE_CODE,
    OP_RESPONSE_CODE_DETAILS,
    OP_RESPONSE_FLAGS,
    OP_RESPONSE_FLAGS_LONG,
    OP_BYTES_RECEIVED,
    OP_BYTES_SENT,
    OP_DURATION,
    OP_REQUEST_DURATION,
    OP_RESPONSE_DURATION,
    OP_RESPONSE_TX_DURATION,
    OP_PROTOCOL,
    OP_UPSTREAM_HOST,
    OP_UPSTREAM_CLUSTER,
    OP_UPSTREAM_LOCAL_ADDRESS,
    OP_UPSTREAM_TRANSPORT_FAILURE_REASON,
    OP_DOWNSTREAM_REMOTE_ADDRESS,
    OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT,
    OP_DOWNSTREAM_LOCAL_ADDRESS,
    OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT,
    OP_REQUESTED_SERVER_NAME,
    OP_ROUTE_NAME,
    OP_CONNECTION_ID,
    OP_CONNECTION_TERMINATION_DETAILS,
    OP_UPSTREAM_REQUEST_ATTEMPT_COUNT,
    OP_HOSTNAME,
} op_t;

enum {
    F_ARG_REQUIRED = 1, /* %NAME(arg)% */
    F_ARG_OPTIONAL = 2,
    F_MAXLEN = 4,  /* :Z allowed */
    F_NUMERIC = 8, /* typed as a number in JSON */
};

static const struct {
    const char *name;
    op_t op;
    unsigned flags;
} ops[] = {
    {"START_TIME", OP_START_TIME, F_ARG_OPTIONAL},
    {"REQ", OP_REQ, F_ARG_REQUIRED | F_MAXLEN},
    {"RESP", OP_RESP, F_ARG_REQUIRED | F_MAXLEN},
    {"TRAILER", OP_TRAILER, F_ARG_REQUIRED | F_MAXLEN},
    {"RESPONSE_CODE", OP_RESPONSE_CODE, F_NUMERIC},
    {"RESPONSE_CODE_DETAILS", OP_RESPONSE_CODE_DETAILS, 0},
    {"RESPONSE_FLAGS", OP_RESPONSE_FLAGS, 0},
    {"RESPONSE_FLAGS_LONG", OP_RESPONSE_FLAGS_LONG, 0},
    {"BYTES_RECEIVED", OP_BYTES_RECEIVED, F_NUMERIC},
    {"BYTES_SENT", OP_BYTES_SENT, F_NUMERIC},
    {"DURATION", OP_DURATION, F_NUMERIC},
    {"REQUEST_DURATION", OP_REQUEST_DURATION, F_NUMERIC},
    {"RESPONSE_DURATION", OP_RESPONSE_DURATION, F_NUMERIC},
    {"RESPONSE_TX_DURATION", OP_RESPONSE_TX_DURATION, F_NUMERIC},
    {"PROTOCOL", OP_PROTOCOL, 0},
    {"UPSTREAM_HOST", OP_UPSTREAM_HOST, 0},
    {"UPSTREAM_CLUSTER", OP_UPSTREAM_CLUSTER, 0},
    {"UPSTREAM_LOCAL_ADDRESS", OP_UPSTREAM_LOCAL_ADDRESS, 0},
    {"UPSTREAM_TRANSPORT_FAILURE_REASON", OP_UPSTREAM_TRANSPORT_FAILURE_REASON, 0},
    {"DOWNSTREAM_REMOTE_ADDRESS", OP_DOWNSTREAM_REMOTE_ADDRESS, 0},
    {"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT, 0},
    {"DOWNSTREAM_LOCAL_ADDRESS", OP_DOWNSTREAM_LOCAL_ADDRESS, 0},
    {"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT, 0},
    {"REQUESTED_SERVER_NAME", OP_REQUESTED_SERVER_NAME, 0},
    {"ROUTE_NAME", OP_ROUTE_NAME, 0},
    {"CONNECTION_ID", OP_CONNECTION_ID, F_NUMERIC},
    {"CONNECTION_TERMINATION_DETAILS", OP_CONNECTION_TERMINATION_DETAILS, 0},
    {"UPSTREAM_REQUEST_ATTEMPT_COUNT", OP_UPSTREAM_REQUEST_ATTEMPT_COUNT, F_NUMERIC},
    {"HOSTNAME", OP_HOSTNAME, 0},
};

static const char *const flag_names[XP_RF_COUNT][2] = {
    {"LH", "FailedLocalHealthCheck"},
    {"UH", "NoHealthyUpstream"},
    {"UT", "UpstreamRequestTimeout"},
    {"LR", "LocalReset"},
    {"UR", "UpstreamRemoteReset"},
    {"UF", "UpstreamConnectionFailure"},
    {"UC", "UpstreamConnectionTermination"},
    {"UO", "UpstreamOverflow"},
    {"NR", "NoRouteFound"},
    {"DI", "DelayInjected"},
    {"FI", "FaultInjected"},
    {"RL", "RateLimited"},
    {"UAEX", "UnauthorizedExternalService"},
    {"RLSE", "RateLimitServiceError"},
    {"DC", "DownstreamConnectionTermination"},
    {"URX", "UpstreamRetryLimitExceeded"},
    {"SI", "StreamIdleTimeout"},
    {"IH", "InvalidEnvoyRequestHeaders"},
    {"DPE", "DownstreamProtocolError"},
    {"UMSDR", "UpstreamMaxStreamDurationReached"},
    {"RFCF", "ResponseFromCacheFilter"},
    {"NFCF", "NoFilterConfigFound"},
    {"DT", "DurationTimeout"},
    {"UPE", "UpstreamProtocolError"},
    {"NC", "NoClusterFound"},
    {"OM", "OverloadManagerTerminated"},
    {"DF", "DnsResolutionFailed"},
    {"DO", "DropOverload"},
};

const char *xp_response_flag_name(unsigned bit, bool long_name)
{
    return bit < XP_RF_COUNT ? flag_names[bit][long_name ? 1 : 0] : NULL;
}

void xp_access_log_record_init(xp_access_log_record_t *r)
{
    memset(r, 0, sizeof(*r));
    r->duration_us = -1;
    r->last_downstream_rx_byte_us = -1;
    r->first_upstream_tx_byte_us = -1;
    r->first_upstream_rx_byte_us = -1;
    r->last_downstream_tx_byte_us = -1;
}

/* ---- compiled form ------------------------------------------------------- */

/* One part of a %START_TIME(...)% format: a strftime chunk, fractional
 * seconds (%f = 9 digits, %1f..%9f) or seconds since the epoch (%s). */
typedef struct {
    enum { TS_STRFTIME, TS_FRAC, TS_EPOCH } kind;
    unsigned digits;
    char *text; /* TS_STRFTIME, owned */
} time_seg_t;

typedef struct {
    op_t op;
    unsigned flags;
    uint32_t max_len; /* :Z, 0 = unlimited */
    char *s;          /* literal text, or the header name (owned) */
    size_t slen;
    char *alt; /* REQ/RESP/TRAILER X?Y: the fallback header name (owned) */
    size_t altlen;
    time_seg_t *segs; /* START_TIME with a format; NULL = Envoy's default */
    size_t nsegs;
} piece_t;

typedef struct {
    piece_t *v;
    size_t n, cap;
} plist_t;

typedef struct {
    char *prefix; /* `{"key":` or `,"key":`, escaped at compile time */
    size_t prefix_len;
    plist_t v;
    bool typed; /* exactly one operator: number / null / string */
} field_t;

struct xp_access_log_format {
    bool json;
    plist_t text;
    field_t *fields;
    size_t n_fields;
    char hostname[256];
};

static void plist_free(plist_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        piece_t *p = &l->v[i];
        free(p->s);
        free(p->alt);
        for (size_t j = 0; j < p->nsegs; j++)
            free(p->segs[j].text);
        free(p->segs);
    }
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static piece_t *plist_add(plist_t *l, op_t op)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xp_realloc(l->v, l->cap * sizeof(*l->v));
    }
    piece_t *p = &l->v[l->n++];
    memset(p, 0, sizeof(*p));
    p->op = op;
    return p;
}

static void add_literal(plist_t *l, const char *s, size_t n)
{
    if (n == 0)
        return;
    /* Merge with a preceding literal ("%%" splits runs). */
    if (l->n > 0 && l->v[l->n - 1].op == OP_LITERAL) {
        piece_t *p = &l->v[l->n - 1];
        p->s = xp_realloc(p->s, p->slen + n + 1);
        memcpy(p->s + p->slen, s, n);
        p->slen += n;
        p->s[p->slen] = '\0';
        return;
    }
    piece_t *p = plist_add(l, OP_LITERAL);
    p->s = xp_strndup(s, n);
    p->slen = n;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return XP_EINVAL;
}

static int compile_time(piece_t *p, const char *a, size_t n, const char *cmd, int cmdlen, char *err,
                        size_t errlen)
{
    char chunk[256];
    size_t clen = 0;
    size_t cap = 0;
#define FLUSH_CHUNK()                                                                              \
    do {                                                                                           \
        if (clen) {                                                                                \
            if (p->nsegs == cap) {                                                                 \
                cap = cap ? cap * 2 : 4;                                                           \
                p->segs = xp_realloc(p->segs, cap * sizeof(*p->segs));                             \
            }                                                                                      \
            p->segs[p->nsegs++] = (time_seg_t){TS_STRFTIME, 0, xp_strndup(chunk, clen)};           \
            clen = 0;                                                                              \
        }                                                                                          \
    } while (0)
#define ADD_SEG(k, d)                                                                              \
    do {                                                                                           \
        FLUSH_CHUNK();                                                                             \
        if (p->nsegs == cap) {                                                                     \
            cap = cap ? cap * 2 : 4;                                                               \
            p->segs = xp_realloc(p->segs, cap * sizeof(*p->segs));                                 \
        }                                                                                          \
        p->segs[p->nsegs++] = (time_seg_t){(k), (d), NULL};                                        \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        if (clen + 3 >= sizeof(chunk))
            return fail(err, errlen, "%.*s: time format longer than %zu bytes", cmdlen, cmd,
                        sizeof(chunk) - 3);
        if (a[i] != '%') {
            chunk[clen++] = a[i];
            continue;
        }
        if (i + 1 >= n)
            return fail(err, errlen, "%.*s: time format ends in a lone '%%'", cmdlen, cmd);
        char c = a[i + 1];
        if (c == 'f') {
            ADD_SEG(TS_FRAC, 9);
            i++;
        } else if (c == 's') {
            ADD_SEG(TS_EPOCH, 0);
            i++;
        } else if (isdigit((unsigned char)c)) {
            if (c == '0' || i + 2 >= n || a[i + 2] != 'f')
                return fail(err, errlen,
                            "%.*s: bad fractional seconds specifier (expected %%f or %%1f..%%9f)",
                            cmdlen, cmd);
            ADD_SEG(TS_FRAC, (unsigned)(c - '0'));
            i += 2;
        } else {
            chunk[clen++] = '%';
            chunk[clen++] = c;
            i++;
        }
    }
    FLUSH_CHUNK();
#undef FLUSH_CHUNK
#undef ADD_SEG
    return 0;
}

static bool valid_header_char(char c)
{
    /* RFC 9110 tchar, plus ':' for pseudo-headers. */
    return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~:", c) != NULL;
}

static int compile_header_arg(piece_t *p, const char *a, size_t n, const char *cmd, int cmdlen,
                              char *err, size_t errlen)
{
    const char *q = memchr(a, '?', n);
    size_t n1 = q ? (size_t)(q - a) : n;
    if (n1 == 0 || (q && n1 + 1 == n))
        return fail(err, errlen, "%.*s: empty header name", cmdlen, cmd);
    if (q && memchr(q + 1, '?', n - n1 - 1))
        return fail(err, errlen, "%.*s: more than one alternative header (use X?Y)", cmdlen, cmd);
    for (size_t i = 0; i < n; i++)
        if (i != n1 && !valid_header_char(a[i]))
            return fail(err, errlen, "%.*s: invalid character in header name", cmdlen, cmd);
    p->s = xp_strndup(a, n1);
    p->slen = n1;
    if (q) {
        p->altlen = n - n1 - 1;
        p->alt = xp_strndup(q + 1, p->altlen);
    }
    return 0;
}

static int compile_list(const char *fmt, plist_t *l, char *err, size_t errlen)
{
    const char *p = fmt, *lit = fmt;
    while (*p) {
        if (*p != '%') {
            p++;
            continue;
        }
        add_literal(l, lit, (size_t)(p - lit));
        if (p[1] == '%') {
            add_literal(l, "%", 1);
            p += 2;
            lit = p;
            continue;
        }
        const char *cmd = p, *q = p + 1;
        while (isalnum((unsigned char)*q) || *q == '_')
            q++;
        size_t namelen = (size_t)(q - cmd - 1);
        if (namelen == 0)
            return fail(err, errlen,
                        "'%%' at position %zu does not start a command operator "
                        "(write '%%%%' for a literal '%%')",
                        (size_t)(cmd - fmt));
        const char *arg = NULL;
        size_t arglen = 0;
        if (*q == '(') {
            const char *close = strchr(q, ')');
            if (!close)
                return fail(err, errlen, "%.*s: missing ')'", (int)(q - cmd + 1), cmd);
            arg = q + 1;
            arglen = (size_t)(close - arg);
            q = close + 1;
        }
        const char *zs = NULL;
        size_t zlen = 0;
        if (*q == ':') {
            zs = ++q;
            while (*q && *q != '%')
                q++;
            zlen = (size_t)(q - zs);
        }
        if (*q != '%')
            return fail(err, errlen, "%.*s: command operator has no closing '%%'", (int)(q - cmd),
                        cmd);
        int cmdlen = (int)(q - cmd + 1);
        size_t k;
        for (k = 0; k < XP_ARRAY_SIZE(ops); k++)
            if (strlen(ops[k].name) == namelen && memcmp(ops[k].name, cmd + 1, namelen) == 0)
                break;
        if (k == XP_ARRAY_SIZE(ops))
            return fail(err, errlen, "unknown command operator %%%.*s%%", (int)namelen, cmd + 1);
        unsigned fl = ops[k].flags;
        if (!arg && (fl & F_ARG_REQUIRED))
            return fail(err, errlen, "%.*s: %%%s needs an argument: %%%s(name)%%", cmdlen, cmd,
                        ops[k].name, ops[k].name);
        if (arg && !(fl & (F_ARG_REQUIRED | F_ARG_OPTIONAL)))
            return fail(err, errlen, "%.*s: %%%s takes no argument", cmdlen, cmd, ops[k].name);
        uint64_t z = 0;
        if (zs) {
            if (!(fl & F_MAXLEN))
                return fail(err, errlen, "%.*s: %%%s takes no max length (:Z)", cmdlen, cmd,
                            ops[k].name);
            bool ok = zlen > 0 && zlen <= 9;
            for (size_t i = 0; ok && i < zlen; i++)
                ok = isdigit((unsigned char)zs[i]);
            if (ok)
                z = strtoull(zs, NULL, 10);
            if (!ok || z == 0)
                return fail(err, errlen,
                            "%.*s: bad max length ':%.*s' (expected a positive integer)", cmdlen,
                            cmd, (int)zlen, zs);
        }
        piece_t *pc = plist_add(l, ops[k].op);
        pc->flags = fl;
        pc->max_len = (uint32_t)z;
        int rc = 0;
        if (fl & F_ARG_REQUIRED)
            rc = compile_header_arg(pc, arg, arglen, cmd, cmdlen, err, errlen);
        else if (ops[k].op == OP_START_TIME && arg && arglen)
            rc = compile_time(pc, arg, arglen, cmd, cmdlen, err, errlen);
        if (rc)
            return rc;
        p = q + 1;
        lit = p;
    }
    add_literal(l, lit, (size_t)(p - lit));
    return 0;
}

static xp_access_log_format_t *format_new(bool json)
{
    xp_access_log_format_t *f = xp_calloc(1, sizeof(*f));
    f->json = json;
    if (gethostname(f->hostname, sizeof(f->hostname) - 1) != 0)
        f->hostname[0] = '\0';
    return f;
}

void xp_access_log_format_free(xp_access_log_format_t *f)
{
    if (!f)
        return;
    plist_free(&f->text);
    for (size_t i = 0; i < f->n_fields; i++) {
        free(f->fields[i].prefix);
        plist_free(&f->fields[i].v);
    }
    free(f->fields);
    free(f);
}

int xp_access_log_format_compile(const char *fmt, xp_access_log_format_t **out, char *err,
                                 size_t errlen)
{
    *out = NULL;
    if (!fmt || !*fmt)
        fmt = XP_ACCESS_LOG_DEFAULT_FORMAT;
    xp_access_log_format_t *f = format_new(false);
    int rc = compile_list(fmt, &f->text, err, errlen);
    if (rc) {
        xp_access_log_format_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- output helpers ------------------------------------------------------ */

static void sb_reserve(xp_strbuf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->p = xp_realloc(b->p, cap);
    b->cap = cap;
}

static inline void sb_put(xp_strbuf_t *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_put_json(xp_strbuf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_put(b, s + run, i - run);
        run = i + 1;
        char e[6] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            e[1] = '"';
            break;
        case '\\':
            e[1] = '\\';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            elen = 6;
        }
        sb_put(b, e, elen);
    }
    sb_put(b, s + run, n - run);
}

/* ---- evaluation ---------------------------------------------------------- */

typedef enum { V_MISSING, V_STR, V_NUM } vkind_t;

typedef struct {
    vkind_t kind;
    xp_str_t s;
    uint64_t num;
} val_t;

static bool name_is(xp_str_t name, const char *lit, size_t litlen)
{
    return name.len == litlen && strncasecmp(name.p, lit, litlen) == 0;
}

static xp_str_t find_header(const xp_header_t *h, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (name_is(h[i].name, name, len))
            return h[i].value;
    return xp_str(NULL, 0);
}

#define IS(lit) (len == sizeof(lit) - 1 && strncasecmp(name, lit, len) == 0)

static xp_str_t request_header(const xp_access_log_record_t *r, const char *name, size_t len)
{
    if (len && name[0] == ':') {
        if (IS(":method"))
            return r->method;
        if (IS(":path"))
            return r->path;
        if (IS(":scheme"))
            return r->scheme;
        if (IS(":authority")) {
            if (r->authority.len)
                return r->authority;
            return find_header(r->request_headers, r->n_request_headers, "host", 4);
        }
    }
    xp_str_t v = find_header(r->request_headers, r->n_request_headers, name, len);
    if (!v.len && IS("x-request-id"))
        v = r->request_id;
    return v;
}

#undef IS

static xp_str_t header_value(const piece_t *p, const xp_access_log_record_t *r, const char *name,
                             size_t len)
{
    switch (p->op) {
    case OP_REQ:
        return request_header(r, name, len);
    case OP_RESP:
        return find_header(r->response_headers, r->n_response_headers, name, len);
    default:
        return find_header(r->response_trailers, r->n_response_trailers, name, len);
    }
}

/* "1.2.3.4:80" -> "1.2.3.4", "[::1]:80" -> "::1"; no port: unchanged. */
static xp_str_t strip_port(xp_str_t a)
{
    if (a.len && a.p[0] == '[') {
        const char *e = memchr(a.p, ']', a.len);
        if (e)
            return xp_str(a.p + 1, (size_t)(e - a.p - 1));
        return a;
    }
    const char *c = memchr(a.p ? a.p : "", ':', a.len);
    if (c && !memchr(c + 1, ':', a.len - (size_t)(c - a.p) - 1))
        return xp_str(a.p, (size_t)(c - a.p));
    return a;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static size_t format_time(const piece_t *p, int64_t us, char *buf, size_t cap)
{
    int64_t secs = floor_div(us, 1000000);
    int64_t sub_us = us - secs * 1000000;
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    if (!p->segs) {
        /* Envoy's default: %Y-%m-%dT%H:%M:%S.%3fZ in UTC. */
        size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
        n += (size_t)snprintf(buf + n, cap - n, ".%03dZ", (int)(sub_us / 1000));
        return n;
    }
    size_t n = 0;
    for (size_t i = 0; i < p->nsegs && n + 1 < cap; i++) {
        const time_seg_t *s = &p->segs[i];
        int w = 0;
        switch (s->kind) {
        case TS_STRFTIME:
            n += strftime(buf + n, cap - n, s->text, &tm); /* 0 when empty or too long */
            break;
        case TS_EPOCH:
            w = snprintf(buf + n, cap - n, "%" PRId64, secs);
            break;
        case TS_FRAC: {
            uint64_t ns = (uint64_t)sub_us * 1000;
            for (unsigned d = s->digits; d < 9; d++)
                ns /= 10;
            w = snprintf(buf + n, cap - n, "%0*" PRIu64, (int)s->digits, ns);
            break;
        }
        }
        if (w > 0)
            n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
    }
    return n;
}

static size_t format_flags(uint32_t flags, bool long_name, char *buf, size_t cap)
{
    size_t n = 0;
    for (unsigned bit = 0; bit < XP_RF_COUNT; bit++) {
        if (!(flags & (1u << bit)))
            continue;
        const char *name = flag_names[bit][long_name ? 1 : 0];
        size_t len = strlen(name);
        if (n + len + 2 > cap)
            break;
        if (n)
            buf[n++] = ',';
        memcpy(buf + n, name, len);
        n += len;
    }
    return n;
}

static val_t v_str(xp_str_t s)
{
    return (val_t){s.len ? V_STR : V_MISSING, s, 0};
}

static val_t v_num(uint64_t n)
{
    return (val_t){V_NUM, {NULL, 0}, n};
}

static val_t v_ms(int64_t us)
{
    if (us < 0)
        return (val_t){V_MISSING, {NULL, 0}, 0};
    return v_num((uint64_t)us / 1000);
}

/* scratch must hold 1024 bytes; the result may point into it. */
static val_t eval(const xp_access_log_format_t *f, const piece_t *p,
                  const xp_access_log_record_t *r, char *scratch)
{
    switch (p->op) {
    case OP_LITERAL:
        return (val_t){V_STR, xp_str(p->s, p->slen), 0};
    case OP_START_TIME:
        return v_str(xp_str(scratch, format_time(p, r->start_time_us, scratch, 1024)));
    case OP_REQ:
    case OP_RESP:
    case OP_TRAILER: {
        xp_str_t v = header_value(p, r, p->s, p->slen);
        if (!v.len && p->alt)
            v = header_value(p, r, p->alt, p->altlen);
        if (p->max_len && v.len > p->max_len)
            v.len = p->max_len;
        return v_str(v);
    }
    case OP_RESPONSE_CODE:
        return v_num(r->response_code);
    case OP_RESPONSE_CODE_DETAILS:
        return v_str(r->response_code_details);
    case OP_RESPONSE_FLAGS:
    case OP_RESPONSE_FLAGS_LONG: {
        /* Envoy prints "-" for no flags, in JSON too (not null). */
        size_t n = format_flags(r->response_flags, p->op == OP_RESPONSE_FLAGS_LONG, scratch, 1024);
        return (val_t){V_STR, n ? xp_str(scratch, n) : XP_STR_LIT("-"), 0};
    }
    case OP_BYTES_RECEIVED:
        return v_num(r->bytes_received);
    case OP_BYTES_SENT:
        return v_num(r->bytes_sent);
    case OP_DURATION:
        return v_ms(r->duration_us);
    case OP_REQUEST_DURATION:
        return v_ms(r->last_downstream_rx_byte_us);
    case OP_RESPONSE_DURATION:
        return v_ms(r->first_upstream_rx_byte_us);
    case OP_RESPONSE_TX_DURATION:
        if (r->first_upstream_rx_byte_us < 0 || r->last_downstream_tx_byte_us < 0)
            return v_ms(-1);
        return v_ms(r->last_downstream_tx_byte_us >= r->first_upstream_rx_byte_us
                        ? r->last_downstream_tx_byte_us - r->first_upstream_rx_byte_us
                        : 0);
    case OP_PROTOCOL:
        return v_str(xp_str_c(r->protocol));
    case OP_UPSTREAM_HOST:
        return v_str(r->upstream_host);
    case OP_UPSTREAM_CLUSTER:
        return v_str(r->upstream_cluster);
    case OP_UPSTREAM_LOCAL_ADDRESS:
        return v_str(r->upstream_local_address);
    case OP_UPSTREAM_TRANSPORT_FAILURE_REASON:
        return v_str(r->upstream_transport_failure_reason);
    case OP_DOWNSTREAM_REMOTE_ADDRESS:
        return v_str(r->downstream_remote_address);
    case OP_DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT:
        return v_str(strip_port(r->downstream_remote_address));
    case OP_DOWNSTREAM_LOCAL_ADDRESS:
        return v_str(r->downstream_local_address);
    case OP_DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT:
        return v_str(strip_port(r->downstream_local_address));
    case OP_REQUESTED_SERVER_NAME:
        return v_str(r->requested_server_name);
    case OP_ROUTE_NAME:
        return v_str(r->route_name);
    case OP_CONNECTION_ID:
        return v_num(r->connection_id);
    case OP_CONNECTION_TERMINATION_DETAILS:
        return v_str(r->connection_termination_details);
    case OP_UPSTREAM_REQUEST_ATTEMPT_COUNT:
        return v_num(r->attempt_count);
    case OP_HOSTNAME:
        return v_str(xp_str_c(f->hostname));
    }
    return v_str(xp_str(NULL, 0));
}

/* Text form of v: "-" when missing. */
static void put_val(xp_strbuf_t *b, val_t v, bool json)
{
    char num[24];
    xp_str_t s = v.s;
    if (v.kind == V_MISSING)
        s = XP_STR_LIT("-");
    else if (v.kind == V_NUM)
        s = xp_str(num, xp_u64_dec(num, v.num));
    if (json)
        sb_put_json(b, s.p, s.len);
    else
        sb_put(b, s.p, s.len);
}

size_t xp_access_log_format(const xp_access_log_format_t *f, const xp_access_log_record_t *r,
                            xp_strbuf_t *out)
{
    size_t start = out->len;
    char scratch[1024];
    if (!f->json) {
        for (size_t i = 0; i < f->text.n; i++)
            put_val(out, eval(f, &f->text.v[i], r, scratch), false);
        return out->len - start;
    }
    if (f->n_fields == 0)
        sb_put(out, "{", 1);
    for (size_t i = 0; i < f->n_fields; i++) {
        const field_t *fd = &f->fields[i];
        sb_put(out, fd->prefix, fd->prefix_len);
        if (fd->typed) {
            val_t v = eval(f, &fd->v.v[0], r, scratch);
            if (v.kind == V_MISSING) {
                sb_put(out, "null", 4);
                continue;
            }
            if (v.kind == V_NUM && (fd->v.v[0].flags & F_NUMERIC)) {
                put_val(out, v, false);
                continue;
            }
        }
        sb_put(out, "\"", 1);
        for (size_t j = 0; j < fd->v.n; j++)
            put_val(out, eval(f, &fd->v.v[j], r, scratch), true);
        sb_put(out, "\"", 1);
    }
    sb_put(out, "}\n", 2);
    return out->len - start;
}

/* ---- JSON and config ----------------------------------------------------- */

int xp_access_log_format_compile_json(char *const *keys, char *const *values, size_t n,
                                      xp_access_log_format_t **out, char *err, size_t errlen)
{
    *out = NULL;
    xp_access_log_format_t *f = format_new(true);
    f->fields = xp_calloc(n ? n : 1, sizeof(*f->fields));
    for (size_t i = 0; i < n; i++) {
        const char *key = keys[i] ? keys[i] : "";
        for (size_t j = 0; j < i; j++) {
            if (strcmp(keys[j] ? keys[j] : "", key) == 0) {
                xp_access_log_format_free(f);
                return fail(err, errlen, "json_format: duplicate key \"%s\"", key);
            }
        }
        field_t *fd = &f->fields[f->n_fields++];
        xp_strbuf_t pre = {NULL, 0, 0};
        sb_put(&pre, i ? ",\"" : "{\"", 2);
        sb_put_json(&pre, key, strlen(key));
        sb_put(&pre, "\":", 2);
        fd->prefix = pre.p;
        fd->prefix_len = pre.len;
        char sub[512];
        int rc = compile_list(values[i] ? values[i] : "", &fd->v, sub, sizeof(sub));
        if (rc) {
            xp_access_log_format_free(f);
            return fail(err, errlen, "json_format[\"%s\"]: %s", key, sub);
        }
        fd->typed = fd->v.n == 1 && fd->v.v[0].op != OP_LITERAL;
    }
    *out = f;
    return 0;
}

int xp_access_log_format_compile_cfg(const xp_access_log_cfg_t *cfg, xp_access_log_format_t **out,
                                     char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->n_json && cfg->format && *cfg->format)
        return fail(err, errlen, "format and json_format are mutually exclusive");
    if (cfg->n_json)
        return xp_access_log_format_compile_json(cfg->json_keys, cfg->json_values, cfg->n_json, out,
                                                 err, errlen);
    return xp_access_log_format_compile(cfg->format, out, err, errlen);
}

int xp_access_log_validate(const xp_access_log_cfg_t *cfg, char *err, size_t errlen)
{
    if (!cfg->path || !*cfg->path)
        return fail(err, errlen, "access log path is empty");
    xp_access_log_format_t *f;
    int rc = xp_access_log_format_compile_cfg(cfg, &f, err, errlen);
    xp_access_log_format_free(f);
    return rc;
}
