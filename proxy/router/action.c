/* Helpers the data path calls once a route is chosen: cluster choice, path
 * rewrites, redirect Location, hash policies, upgrade and retry lookups. */
#include "proxy/router/router_internal.h"

#include "proxy/common/error.h"
#include "proxy/common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- clusters ------------------------------------------------------------- */

const xp_weighted_cluster_t *xp_route_pick_weighted(const xp_route_action_t *a, uint64_t random)
{
    if (a->nweighted == 0 || a->total_weight == 0)
        return NULL;
    /* Envoy: selected = random % total; the cluster whose [begin, end) range
     * of cumulative weight contains it. */
    uint64_t sel = random % a->total_weight, begin = 0;
    for (size_t i = 0; i < a->nweighted; i++) {
        uint64_t end = begin + a->weighted[i].weight;
        if (sel >= begin && sel < end)
            return &a->weighted[i];
        begin = end;
    }
    return &a->weighted[a->nweighted - 1];
}

xp_str_t xp_route_cluster(const xp_route_t *r, const xp_route_request_t *req, uint64_t random,
                          const xp_weighted_cluster_t **wc)
{
    *wc = NULL;
    const xp_route_action_t *a = &r->action;
    switch (a->cluster_kind) {
    case XP_CLUSTER_NAME:
        return a->cluster;
    case XP_CLUSTER_WEIGHTED:
        *wc = xp_route_pick_weighted(a, random);
        return *wc ? (*wc)->name : xp_str("", 0);
    case XP_CLUSTER_HEADER: {
        xp_str_t v;
        if (xp_route_request_header(req, a->cluster_header, &v))
            return v;
        return xp_str("", 0);
    }
    }
    return xp_str("", 0);
}

/* ---- path rewrites ------------------------------------------------------ */

static size_t xp__noq_len(xp_str_t path)
{
    size_t i = 0;
    while (i < path.len && path.p[i] != '?' && path.p[i] != '#')
        i++;
    return i;
}

static char *xp__concat(xp_str_t a, xp_str_t b, size_t *out_len)
{
    char *p = malloc(a.len + b.len + 1); /* path length is the peer's: may fail */
    if (p == NULL)
        return NULL;
    if (a.len)
        memcpy(p, a.p, a.len);
    if (b.len)
        memcpy(p + a.len, b.p, b.len);
    p[a.len + b.len] = '\0';
    *out_len = a.len + b.len;
    return p;
}

/* Envoy's rewritePathByPrefixOrRegex: prefix_rewrite replaces the part of
 * the path the route matched (the prefix, or the whole path before '?'
 * for path/regex routes); regex_rewrite replaces every match in the path
 * before '?'. The query string is kept as is. */
static int xp__rewrite(const xp_route_match_t *m, bool has_prefix, xp_str_t prefix,
                       const xp_regex_t *re, xp_str_t sub, xp_str_t path, char **out,
                       size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t noq = xp__noq_len(path);
    if (has_prefix) {
        size_t matched = 0;
        switch (m->kind) {
        case XP_PATH_PREFIX:
        case XP_PATH_SEPARATED_PREFIX:
            matched = m->path.len <= path.len ? m->path.len : path.len;
            break;
        case XP_PATH_EXACT:
        case XP_PATH_REGEX:
            matched = noq;
            break;
        case XP_PATH_CONNECT:
            return XP_OK;
        }
        *out = xp__concat(prefix, xp_str(path.p + matched, path.len - matched), out_len);
        return *out ? XP_OK : XP_ENOMEM;
    }
    if (re) {
        size_t len;
        char *np = xp_regex_replace_all(re, xp_str(path.p, noq), sub, &len);
        if (np == NULL)
            return XP_ENOMEM;
        if (noq == path.len) { /* no query to put back */
            *out = np;
            *out_len = len;
            return XP_OK;
        }
        *out = xp__concat(xp_str(np, len), xp_str(path.p + noq, path.len - noq), out_len);
        free(np);
        return *out ? XP_OK : XP_ENOMEM;
    }
    return XP_OK;
}

int xp_route_rewrite_path(const xp_route_t *r, const xp_route_request_t *req, char **out,
                          size_t *out_len)
{
    *out = NULL;
    if (r->kind != XP_ROUTE_FORWARD)
        return XP_OK;
    const xp_route_action_t *a = &r->action;
    return xp__rewrite(&r->match, a->has_prefix_rewrite, a->prefix_rewrite, a->regex_rewrite,
                       a->regex_substitution, req->path, out, out_len);
}

/* ---- redirects ------------------------------------------------------------ */

/* Envoy's processRequestHost: drop the request's port when the redirect sets
 * its own, or when the scheme changes away from the port's default. */
static xp_str_t xp__redirect_host(xp_str_t host, xp_str_t req_scheme, xp_str_t new_scheme,
                                  bool new_port)
{
    if (host.len == 0)
        return host;
    size_t end = SIZE_MAX;
    if (host.p[0] == '[') {
        for (size_t i = host.len; i >= 2; i--)
            if (host.p[i - 2] == ']' && host.p[i - 1] == ':') {
                end = i - 1;
                break;
            }
    } else {
        for (size_t i = host.len; i > 0; i--)
            if (host.p[i - 1] == ':') {
                end = i - 1;
                break;
            }
    }
    if (end == SIZE_MAX)
        return host;
    xp_str_t port = xp_str(host.p + end, host.len - end);
    bool remove = new_port;
    if (!xp_str_eq(new_scheme, req_scheme)) {
        remove |= xp_str_eq(req_scheme, XP_STR_LIT("https")) && xp_str_eq(port, XP_STR_LIT(":443"));
        remove |= xp_str_eq(req_scheme, XP_STR_LIT("http")) && xp_str_eq(port, XP_STR_LIT(":80"));
    }
    return remove ? xp_str(host.p, end) : host;
}

int xp_route_redirect_location(const xp_route_t *r, const xp_route_request_t *req, char **out,
                               size_t *out_len)
{
    *out = NULL;
    if (r->kind != XP_ROUTE_REDIRECT)
        return XP_EINVAL;
    const xp_redirect_t *rd = &r->redirect;
    xp_str_t scheme = rd->scheme.len ? rd->scheme : req->scheme;
    if (scheme.len == 0)
        scheme = XP_STR_LIT("http");
    char port[16] = "";
    if (rd->port)
        snprintf(port, sizeof(port), ":%u", rd->port);
    xp_str_t host =
        rd->host.len
            ? rd->host
            : xp__redirect_host(req->host, req->scheme.len ? req->scheme : XP_STR_LIT("http"),
                                scheme, rd->port != 0);

    char *rewritten = NULL;
    size_t rlen = 0;
    xp_str_t path = req->path;
    xp_str_t tail = xp_str("", 0); /* appended after path */
    bool strip = rd->strip_query;
    switch (rd->path_kind) {
    case XP_REDIRECT_PATH_KEEP:
        break;
    case XP_REDIRECT_PATH_REPLACE: {
        path = rd->path;
        if (memchr(rd->path.p, '?', rd->path.len)) {
            strip = false; /* its own query wins and is never stripped */
        } else {
            const char *q = req->path.len ? memchr(req->path.p, '?', req->path.len) : NULL;
            if (q)
                tail = xp_str(q, req->path.len - (size_t)(q - req->path.p));
        }
        break;
    }
    case XP_REDIRECT_PATH_PREFIX:
    case XP_REDIRECT_PATH_REGEX: {
        int rc = xp__rewrite(&r->match, rd->path_kind == XP_REDIRECT_PATH_PREFIX, rd->path,
                             rd->regex, rd->regex_substitution, req->path, &rewritten, &rlen);
        if (rc != XP_OK)
            return rc;
        if (rewritten)
            path = xp_str(rewritten, rlen);
        break;
    }
    }
    if (strip) {
        /* the query is either in path or in tail, never both */
        const char *q = path.len ? memchr(path.p, '?', path.len) : NULL;
        if (q)
            path.len = (size_t)(q - path.p);
        tail = xp_str("", 0);
    }
    bool slash = path.len == 0 || path.p[0] != '/';
    size_t n = scheme.len + 3 + host.len + strlen(port) + slash + path.len + tail.len;
    char *p = malloc(n + 1);
    if (p == NULL) {
        free(rewritten);
        return XP_ENOMEM;
    }
    size_t len = 0;
#define XP__PUT(s, l)                                                                              \
    do {                                                                                           \
        if (l)                                                                                     \
            memcpy(p + len, (s), (l));                                                             \
        len += (l);                                                                                \
    } while (0)
    XP__PUT(scheme.p, scheme.len);
    XP__PUT("://", 3);
    XP__PUT(host.p, host.len);
    XP__PUT(port, strlen(port));
    if (slash)
        XP__PUT("/", 1);
    XP__PUT(path.p, path.len);
    XP__PUT(tail.p, tail.len);
#undef XP__PUT
    p[len] = '\0';
    free(rewritten);
    *out = p;
    if (out_len)
        *out_len = len;
    return XP_OK;
}

/* ---- hashing -------------------------------------------------------------- */

/* The value of cookie `name` in any Cookie header. */
static bool xp__cookie(const xp_route_request_t *req, xp_str_t name, xp_str_t *out)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!xp_str_eq_nocase(req->headers[i].name, XP_STR_LIT("cookie")))
            continue;
        xp_str_t v = req->headers[i].value;
        size_t pos = 0;
        while (pos < v.len) {
            size_t end = pos;
            while (end < v.len && v.p[end] != ';')
                end++;
            size_t s = pos;
            while (s < end && v.p[s] == ' ')
                s++;
            const char *eq = memchr(v.p + s, '=', end - s);
            if (eq && xp_str_eq(xp_str(v.p + s, (size_t)(eq - (v.p + s))), name)) {
                xp_str_t val = xp_str(eq + 1, (size_t)(v.p + end - eq - 1));
                if (val.len >= 2 && val.p[0] == '"' && val.p[val.len - 1] == '"')
                    val = xp_str(val.p + 1, val.len - 2);
                *out = val;
                return true;
            }
            pos = end + 1;
        }
    }
    return false;
}

/* First raw (not decoded) value of a query parameter. */
static bool xp__query_raw(xp_str_t path, xp_str_t name, xp_str_t *out)
{
    const char *q = path.len ? memchr(path.p, '?', path.len) : NULL;
    if (q == NULL)
        return false;
    size_t pos = (size_t)(q - path.p) + 1;
    while (pos < path.len && path.p[pos] != '#') {
        size_t end = pos;
        while (end < path.len && path.p[end] != '&' && path.p[end] != '#')
            end++;
        const char *eq = memchr(path.p + pos, '=', end - pos);
        size_t klen = eq ? (size_t)(eq - (path.p + pos)) : end - pos;
        if (xp_str_eq(xp_str(path.p + pos, klen), name)) {
            *out = eq ? xp_str(eq + 1, (size_t)(path.p + end - eq - 1)) : xp_str("", 0);
            return true;
        }
        pos = end + 1;
    }
    return false;
}

bool xp_route_hash(const xp_route_action_t *a, const xp_route_request_t *req, uint64_t *hash,
                   xp_hash_cookie_t *set_cookie)
{
    bool have = false;
    uint64_t h = 0;
    if (set_cookie)
        set_cookie->policy = NULL;
    for (size_t i = 0; i < a->nhash; i++) {
        const xp_hash_policy_t *hp = &a->hash[i];
        bool got = false;
        uint64_t nh = 0;
        xp_str_t v;
        switch (hp->kind) {
        case XP_HASH_HEADER:
            if (xp_route_request_header(req, hp->name, &v)) {
                nh = xp_xxh64(v.p, v.len, 0);
                got = true;
            }
            break;
        case XP_HASH_COOKIE:
            if (xp__cookie(req, hp->name, &v)) {
                nh = xp_xxh64(v.p, v.len, 0);
                got = true;
            } else if (hp->cookie_has_ttl) {
                /* Envoy generates the cookie from the downstream address
                 * and asks for it to be set on the response. */
                char val[17];
                snprintf(val, sizeof(val), "%016llx",
                         (unsigned long long)xp_xxh64(req->source_ip.p, req->source_ip.len, 0));
                nh = xp_xxh64(val, 16, 0);
                got = true;
                if (set_cookie) {
                    set_cookie->policy = hp;
                    memcpy(set_cookie->value, val, sizeof(val));
                }
            }
            break;
        case XP_HASH_SOURCE_IP:
            if (req->source_ip.len) {
                nh = xp_xxh64(req->source_ip.p, req->source_ip.len, 0);
                got = true;
            }
            break;
        case XP_HASH_QUERY_PARAMETER:
            if (xp__query_raw(req->path, hp->name, &v)) {
                nh = xp_xxh64(v.p, v.len, 0);
                got = true;
            }
            break;
        }
        if (got) {
            /* rotating keeps two identical policies from cancelling out */
            h = (have ? (h << 1 | h >> 63) : 0) ^ nh;
            have = true;
        }
        if (hp->terminal && have)
            break;
    }
    *hash = h;
    return have;
}

/* ---- upgrades and retries ------------------------------------------------ */

bool xp_route_upgrade_allowed(const xp_route_t *r, xp_str_t upgrade_type, bool hcm_default)
{
    if (r->kind == XP_ROUTE_FORWARD)
        for (size_t i = 0; i < r->action.nupgrades; i++)
            if (xp_str_eq_nocase(r->action.upgrades[i].type, upgrade_type))
                return r->action.upgrades[i].enabled;
    return hcm_default;
}

const xp_retry_policy_t *xp_route_retry_policy(const xp_route_t *r, const xp_vhost_t *vh)
{
    if (r->kind == XP_ROUTE_FORWARD && r->action.has_retry_policy)
        return &r->action.retry;
    if (vh && vh->has_retry_policy)
        return &vh->retry;
    return NULL;
}

int xp_retry_on_parse(xp_str_t s, uint32_t *flags, char *bad, size_t badlen)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } names[] = {
        {"5xx", XP_RETRY_5XX},
        {"gateway-error", XP_RETRY_GATEWAY_ERROR},
        {"reset", XP_RETRY_RESET},
        {"reset-before-request", XP_RETRY_RESET_BEFORE_REQUEST},
        {"connect-failure", XP_RETRY_CONNECT_FAILURE},
        {"envoy-ratelimited", XP_RETRY_ENVOY_RATELIMITED},
        {"retriable-4xx", XP_RETRY_RETRIABLE_4XX},
        {"refused-stream", XP_RETRY_REFUSED_STREAM},
        {"retriable-status-codes", XP_RETRY_RETRIABLE_STATUS_CODES},
        {"http3-post-connect-failure", XP_RETRY_HTTP3_POST_CONNECT_FAILURE},
        {"cancelled", XP_RETRY_GRPC_CANCELLED},
        {"deadline-exceeded", XP_RETRY_GRPC_DEADLINE_EXCEEDED},
        {"internal", XP_RETRY_GRPC_INTERNAL},
        {"resource-exhausted", XP_RETRY_GRPC_RESOURCE_EXHAUSTED},
        {"unavailable", XP_RETRY_GRPC_UNAVAILABLE},
    };
    *flags = 0;
    int rc = XP_OK;
    size_t pos = 0;
    while (pos <= s.len) {
        size_t end = pos;
        while (end < s.len && s.p[end] != ',')
            end++;
        size_t a = pos, b = end;
        while (a < b && isspace((unsigned char)s.p[a]))
            a++;
        while (b > a && isspace((unsigned char)s.p[b - 1]))
            b--;
        pos = end + 1;
        if (a == b)
            continue;
        xp_str_t tok = xp_str(s.p + a, b - a);
        bool ok = false;
        for (size_t i = 0; i < XP_ARRAY_SIZE(names); i++) {
            if (xp_str_eq(tok, xp_str_c(names[i].name))) {
                *flags |= names[i].bit;
                ok = true;
                break;
            }
        }
        if (!ok && rc == XP_OK) {
            if (bad && badlen)
                snprintf(bad, badlen, "%.*s", (int)tok.len, tok.p);
            rc = XP_EINVAL;
        }
    }
    return rc;
}
