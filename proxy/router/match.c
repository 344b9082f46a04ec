/* Virtual host selection and route matching.
 *
 * Envoy's semantics (envoy.config.route.v3 docs):
 *   - VirtualHost.domains: exact names first, then suffix wildcards
 *     ("*.foo.com", "*-bar.foo.com") longest first, then prefix wildcards
 *     ("foo.*") longest first, then "*". A wildcard never matches the empty
 *     string. Case-insensitive.
 *   - Routes are tried in order; the first whose whole match holds wins.
 *   - match.prefix compares against :path as received (query included);
 *     match.path, match.path_separated_prefix and match.safe_regex compare
 *     against :path with the query string (and fragment) removed; the regex
 *     must match that whole string.
 *
 * Cost of xp_vhost_match: the path is walked once through the radix tree(s)
 * of literal keys (O(path length), a binary search over at most 256
 * children per branching node), which yields only the routes whose literal
 * key is a prefix of the path. Those candidates are checked in configuration
 * order (k-way merge of the per-node lists, O(lists) per candidate) until one
 * fully matches. So the cost grows with the number of routes that share a
 * prefix with this path, not with the table size; routes with no literal
 * prefix (prefix "", a regex starting with a class or group) are candidates
 * for every request and are the case that stays linear. */
#include "proxy/router/router_internal.h"

#include "proxy/common/mem.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- virtual hosts ---------------------------------------------------- */

/* "host:port" -> "host"; "[v6]:port" -> "[v6]"; bare IPv6 is left alone. */
static xp_str_t xp__strip_port(xp_str_t h)
{
    size_t i = h.len;
    while (i > 0 && isdigit((unsigned char)h.p[i - 1]))
        i--;
    if (i == 0 || i == h.len || h.p[i - 1] != ':')
        return h;
    size_t colon = i - 1;
    if (h.p[0] == '[') {
        if (colon > 0 && h.p[colon - 1] == ']')
            return xp_str(h.p, colon);
        return h;
    }
    if (memchr(h.p, ':', colon) != NULL)
        return h; /* unbracketed IPv6 literal: no port */
    return xp_str(h.p, colon);
}

const xp_vhost_t *xp_route_table_find_vhost(const xp_route_table_t *t, xp_str_t host,
                                            bool strip_port)
{
    const xp__domain_index_t *d = t->domains;
    if (d == NULL)
        return NULL;
    if (strip_port || t->ignore_port_in_host_matching)
        host = xp__strip_port(host);
    const xp__dent_t *e = xp__dom_lookup(d, XP__DOM_EXACT, host.p, host.len);
    if (e)
        return e->vh;
    /* One hash probe per distinct wildcard length, longest first; a wildcard
     * must cover at least one byte, hence len < host.len. */
    for (size_t i = 0; i < d->nsuffix; i++) {
        size_t l = d->suffix_lens[i];
        if (l >= host.len)
            continue;
        e = xp__dom_lookup(d, XP__DOM_SUFFIX, host.p + host.len - l, l);
        if (e)
            return e->vh;
    }
    for (size_t i = 0; i < d->nprefix; i++) {
        size_t l = d->prefix_lens[i];
        if (l >= host.len)
            continue;
        e = xp__dom_lookup(d, XP__DOM_PREFIX, host.p, l);
        if (e)
            return e->vh;
    }
    return d->any;
}

/* ---- request helpers ---------------------------------------------------- */

static bool xp__pseudo(const xp_route_request_t *req, xp_str_t name, xp_str_t *v)
{
    if (name.len == 0 || name.p[0] != ':')
        return false;
    if (xp_str_eq_nocase(name, XP_STR_LIT(":method")))
        *v = req->method;
    else if (xp_str_eq_nocase(name, XP_STR_LIT(":path")))
        *v = req->path;
    else if (xp_str_eq_nocase(name, XP_STR_LIT(":authority")))
        *v = req->host;
    else if (xp_str_eq_nocase(name, XP_STR_LIT(":scheme")))
        *v = req->scheme;
    else
        return false;
    return true;
}

bool xp_route_request_header(const xp_route_request_t *req, xp_str_t name, xp_str_t *value)
{
    if (xp__pseudo(req, name, value))
        return true;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (xp_str_eq_nocase(req->headers[i].name, name)) {
            *value = req->headers[i].value;
            return true;
        }
    }
    return false;
}

/* All values of `name` joined with "," (as Envoy does for matching).
 * Returns 1 when present (*v set; *heap set if it had to allocate), 0 when
 * absent, -1 when out of memory. */
static int xp__header_all(const xp_route_request_t *req, xp_str_t name, xp_str_t *v, char **heap)
{
    *heap = NULL;
    if (xp__pseudo(req, name, v))
        return 1;
    size_t count = 0, total = 0, first = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (xp_str_eq_nocase(req->headers[i].name, name)) {
            if (count++ == 0)
                first = i;
            total += req->headers[i].value.len + 1;
        }
    }
    if (count == 0)
        return 0;
    if (count == 1) {
        *v = req->headers[first].value;
        return 1;
    }
    char *buf = malloc(total); /* header sizes are the peer's: may fail */
    if (buf == NULL)
        return -1;
    size_t len = 0;
    for (size_t i = first; i < req->nheaders; i++) {
        if (!xp_str_eq_nocase(req->headers[i].name, name))
            continue;
        if (len)
            buf[len++] = ',';
        if (req->headers[i].value.len)
            memcpy(buf + len, req->headers[i].value.p, req->headers[i].value.len);
        len += req->headers[i].value.len;
    }
    *heap = buf;
    *v = xp_str(buf, len);
    return 1;
}

/* ---- string matchers ------------------------------------------------------ */

static bool xp__contains(xp_str_t s, xp_str_t needle, bool nocase)
{
    if (needle.len == 0)
        return true;
    for (size_t i = 0; i + needle.len <= s.len; i++) {
        if (nocase ? strncasecmp(s.p + i, needle.p, needle.len) == 0
                   : memcmp(s.p + i, needle.p, needle.len) == 0)
            return true;
    }
    return false;
}

static bool xp__str_match(const xp_str_matcher_t *m, xp_str_t s, xp_route_match_stats_t *st)
{
    xp_str_t v = m->value;
    switch (m->kind) {
    case XP_STR_EXACT:
        return m->ignore_case ? xp_str_eq_nocase(s, v) : xp_str_eq(s, v);
    case XP_STR_PREFIX:
        return s.len >= v.len &&
               (m->ignore_case ? strncasecmp(s.p, v.p, v.len) == 0 : memcmp(s.p, v.p, v.len) == 0);
    case XP_STR_SUFFIX: {
        if (s.len < v.len)
            return false;
        const char *tail = s.p + s.len - v.len;
        return v.len == 0 || (m->ignore_case ? strncasecmp(tail, v.p, v.len) == 0
                                             : memcmp(tail, v.p, v.len) == 0);
    }
    case XP_STR_CONTAINS:
        return xp__contains(s, v, m->ignore_case);
    case XP_STR_REGEX:
        if (st)
            st->regex_evals++;
        return xp_regex_match(m->regex, s);
    }
    return false;
}

/* absl::SimpleAtoi-like: optional surrounding whitespace and sign. */
static bool xp__parse_i64(xp_str_t s, int64_t *out)
{
    size_t i = 0, n = s.len;
    while (i < n && isspace((unsigned char)s.p[i]))
        i++;
    while (n > i && isspace((unsigned char)s.p[n - 1]))
        n--;
    bool neg = false;
    if (i < n && (s.p[i] == '+' || s.p[i] == '-'))
        neg = s.p[i++] == '-';
    if (i == n)
        return false;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s.p[i]))
            return false;
        unsigned d = (unsigned)(s.p[i] - '0');
        if (v > (lim - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static bool xp__header_match(const xp_header_matcher_t *h, const xp_route_request_t *req,
                             xp_route_match_stats_t *st)
{
    xp_str_t v;
    char *heap;
    int present = xp__header_all(req, h->name, &v, &heap);
    if (present < 0)
        return false;
    bool r;
    if (h->kind == XP_HDR_PRESENT) {
        r = (present == 1) == h->present;
    } else if (present == 0 && !h->treat_missing_as_empty) {
        /* A missing header fails a value matcher, inverted or not (Envoy's
         * documented treat_missing_header_as_empty example). */
        return false;
    } else {
        if (present == 0)
            v = xp_str("", 0);
        if (h->kind == XP_HDR_RANGE) {
            int64_t x;
            r = xp__parse_i64(v, &x) && x >= h->range_start && x < h->range_end;
        } else {
            r = xp__str_match(&h->str, v, st);
        }
    }
    free(heap);
    return r != h->invert;
}

/* ---- query parameters ----------------------------------------------------- */

/* A decoded view of s: s itself when it has no '%', else decoded into buf
 * (or a heap block stored in *heap). false when out of memory. */
static bool xp__decoded(xp_str_t s, char *buf, size_t bufcap, char **heap, xp_str_t *out)
{
    *heap = NULL;
    if (s.len == 0 || memchr(s.p, '%', s.len) == NULL) {
        *out = s;
        return true;
    }
    char *dst = buf;
    if (s.len > bufcap) {
        dst = *heap = malloc(s.len);
        if (dst == NULL)
            return false;
    }
    *out = xp_str(dst, xp_str_pct_decode(s, dst));
    return true;
}

/* The first value of query parameter `name` in the query string q (after
 * '?'), decoded into buf/heap as xp__decoded. 1 found, 0 absent, -1 OOM. */
static int xp__query_param(xp_str_t q, xp_str_t name, char *buf, size_t bufcap, char **heap,
                           xp_str_t *value)
{
    *heap = NULL;
    size_t i = 0;
    while (i <= q.len) {
        size_t end = i;
        while (end < q.len && q.p[end] != '&')
            end++;
        xp_str_t kv = xp_str(q.p + i, end - i);
        i = end + 1;
        if (kv.len == 0)
            continue;
        const char *eq = memchr(kv.p, '=', kv.len);
        xp_str_t k = xp_str(kv.p, eq ? (size_t)(eq - kv.p) : kv.len);
        xp_str_t v = eq ? xp_str(eq + 1, kv.len - k.len - 1) : xp_str("", 0);
        char kbuf[256];
        char *kheap;
        xp_str_t kd;
        if (!xp__decoded(k, kbuf, sizeof(kbuf), &kheap, &kd))
            return -1;
        bool same = xp_str_eq(kd, name);
        free(kheap);
        if (!same)
            continue;
        return xp__decoded(v, buf, bufcap, heap, value) ? 1 : -1;
    }
    return 0;
}

static bool xp__query_match(const xp_query_matcher_t *m, xp_str_t query, xp_route_match_stats_t *st)
{
    char buf[512];
    char *heap;
    xp_str_t v;
    int found = xp__query_param(query, m->name, buf, sizeof(buf), &heap, &v);
    if (found <= 0)
        return false;
    bool r = !m->has_string || xp__str_match(&m->str, v, st);
    free(heap);
    return r;
}

/* ---- whole route match ------------------------------------------------------ */

static xp_str_t xp__path_noq(xp_str_t path)
{
    size_t i = 0;
    while (i < path.len && path.p[i] != '?' && path.p[i] != '#')
        i++;
    return xp_str(path.p, i);
}

static xp_str_t xp__query_of(xp_str_t path)
{
    const char *q = path.len ? memchr(path.p, '?', path.len) : NULL;
    if (q == NULL)
        return xp_str("", 0);
    size_t start = (size_t)(q - path.p) + 1, end = start;
    while (end < path.len && path.p[end] != '#')
        end++;
    return xp_str(path.p + start, end - start);
}

static bool xp__has_prefix(xp_str_t s, xp_str_t p, bool cs)
{
    return s.len >= p.len &&
           (p.len == 0 || (cs ? memcmp(s.p, p.p, p.len) : strncasecmp(s.p, p.p, p.len)) == 0);
}

static bool xp__eval(const xp_route_t *r, const xp_route_request_t *req, xp_str_t noq,
                     uint64_t random, xp_route_match_stats_t *st)
{
    const xp_route_match_t *m = &r->match;
    if (st)
        st->candidates++;
    switch (m->kind) {
    case XP_PATH_PREFIX:
        if (!xp__has_prefix(req->path, m->path, m->case_sensitive))
            return false;
        break;
    case XP_PATH_EXACT:
        if (noq.len != m->path.len || !xp__has_prefix(noq, m->path, m->case_sensitive))
            return false;
        break;
    case XP_PATH_SEPARATED_PREFIX:
        if (!xp__has_prefix(noq, m->path, m->case_sensitive) ||
            (noq.len != m->path.len && noq.p[m->path.len] != '/'))
            return false;
        break;
    case XP_PATH_REGEX:
        if (st)
            st->regex_evals++;
        if (!xp_regex_match(m->regex, noq))
            return false;
        break;
    case XP_PATH_CONNECT:
        if (!xp_str_eq(req->method, XP_STR_LIT("CONNECT")))
            return false;
        break;
    }
    if (m->grpc) {
        xp_str_t ct;
        if (!xp_route_request_header(req, XP_STR_LIT("content-type"), &ct))
            return false;
        static const xp_str_t g = {"application/grpc", 16};
        if (!xp_str_has_prefix(ct, g) ||
            (ct.len > g.len && ct.p[g.len] != '+' && ct.p[g.len] != ';'))
            return false;
    }
    for (size_t i = 0; i < m->nheaders; i++)
        if (!xp__header_match(&m->headers[i], req, st))
            return false;
    if (m->nquery) {
        xp_str_t q = xp__query_of(req->path);
        for (size_t i = 0; i < m->nquery; i++)
            if (!xp__query_match(&m->query[i], q, st))
                return false;
    }
    if (m->runtime_fraction.set) {
        uint32_t num = m->runtime_fraction.numerator, den = m->runtime_fraction.denominator;
        if (req->runtime && m->runtime_fraction.runtime_key.len)
            (void)req->runtime(req->runtime_ctx, m->runtime_fraction.runtime_key, &num, &den);
        if (den == 0 || random % den >= num)
            return false;
    }
    return true;
}

bool xp_route_match_eval(const xp_route_t *r, const xp_route_request_t *req, uint64_t random,
                         xp_route_match_stats_t *stats)
{
    return xp__eval(r, req, xp__path_noq(req->path), random, stats);
}

/* ---- indexed lookup ----------------------------------------------------- */

typedef struct {
    const uint32_t *v;
    uint32_t n;
} xp__span_t;

typedef struct {
    xp__span_t *v;
    size_t n, cap;
    xp__span_t inline_v[32];
} xp__spans_t;

static void xp__spans_push(xp__spans_t *s, const xp__route_index_t *ix, const xp__idxlist_t *l)
{
    if (l->n == 0)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        if (s->v == s->inline_v) {
            s->v = xp_malloc(cap * sizeof(*s->v));
            memcpy(s->v, s->inline_v, s->n * sizeof(*s->v));
        } else {
            s->v = xp_realloc(s->v, cap * sizeof(*s->v));
        }
        s->cap = cap;
    }
    s->v[s->n++] = (xp__span_t){xp__idx_v(ix, l), l->n};
}

static void xp__node_lists(const xp__route_index_t *ix, const xp__rnode_t *n, xp_str_t path,
                           size_t qlen, size_t pos, xp__spans_t *s)
{
    xp__spans_push(s, ix, &n->lists[XP__LIST_ANY]);
    if (n->lists[XP__LIST_SEP].n && (pos == qlen || (pos < qlen && path.p[pos] == '/')))
        xp__spans_push(s, ix, &n->lists[XP__LIST_SEP]);
    if (n->lists[XP__LIST_EXACT].n && pos == qlen)
        xp__spans_push(s, ix, &n->lists[XP__LIST_EXACT]);
}

/* Walks `path` down the tree from root, collecting the route lists of every
 * node whose key is a prefix of the path. fold: compare lower-cased (ci
 * tree). */
static void xp__walk(const xp__route_index_t *ix, uint32_t root, xp_str_t path, size_t qlen,
                     bool fold, xp__spans_t *s)
{
    const xp__rnode_t *n = &ix->nodes[root];
    size_t pos = 0;
    for (;;) {
        xp__node_lists(ix, n, path, qlen, pos, s);
        if (pos == path.len || n->nkids == 0)
            return;
        unsigned char c = (unsigned char)path.p[pos];
        if (fold)
            c = (unsigned char)tolower(c);
        uint32_t lo = xp__kid_pos(ix, n, c);
        if (lo == n->nkids || xp__kfirst(ix, n)[lo] != c)
            return;
        const xp__rnode_t *k = &ix->nodes[xp__kids(ix, n)[lo]];
        if (k->label_len > path.len - pos)
            return;
        const char *label = ix->data + k->label;
        if (fold) {
            for (uint32_t i = 1; i < k->label_len; i++)
                if ((char)tolower((unsigned char)path.p[pos + i]) != label[i])
                    return;
        } else if (memcmp(path.p + pos, label, k->label_len) != 0) {
            return;
        }
        pos += k->label_len;
        n = k;
    }
}

const xp_route_t *xp_vhost_match_ex(const xp_vhost_t *vh, const xp_route_request_t *req,
                                    uint64_t random, xp_route_match_stats_t *stats)
{
    if (stats)
        memset(stats, 0, sizeof(*stats));
    if (vh->index == NULL)
        return NULL;
    xp_str_t noq = xp__path_noq(req->path);
    xp__spans_t s;
    s.v = s.inline_v;
    s.n = 0;
    s.cap = XP_ARRAY_SIZE(s.inline_v);
    xp__walk(vh->index, XP__ROOT_CS, req->path, noq.len, false, &s);
    xp__walk(vh->index, XP__ROOT_CI, req->path, noq.len, true, &s);

    /* Merge by route index: configuration order decides. */
    const xp_route_t *found = NULL;
    for (;;) {
        size_t best = SIZE_MAX;
        uint32_t best_idx = UINT32_MAX;
        for (size_t i = 0; i < s.n; i++) {
            if (s.v[i].n && s.v[i].v[0] < best_idx) {
                best_idx = s.v[i].v[0];
                best = i;
            }
        }
        if (best == SIZE_MAX)
            break;
        s.v[best].v++;
        s.v[best].n--;
        const xp_route_t *r = vh->routes[best_idx];
        if (xp__eval(r, req, noq, random, stats)) {
            found = r;
            break;
        }
    }
    if (s.v != s.inline_v)
        free(s.v);
    return found;
}

const xp_route_t *xp_vhost_match(const xp_vhost_t *vh, const xp_route_request_t *req,
                                 uint64_t random)
{
    return xp_vhost_match_ex(vh, req, random, NULL);
}

const xp_route_t *xp_route_table_match(const xp_route_table_t *t, const xp_route_request_t *req,
                                       bool strip_port, uint64_t random, const xp_vhost_t **vh_out)
{
    const xp_vhost_t *vh = xp_route_table_find_vhost(t, req->host, strip_port);
    if (vh_out)
        *vh_out = vh;
    return vh ? xp_vhost_match(vh, req, random) : NULL;
}
