/* Builders shared by the router tests. */
#ifndef XP_TESTS_ROUTER_UTIL_H
#define XP_TESTS_ROUTER_UTIL_H

#include "proxy/common/mem.h"
#include "proxy/router/route.h"
#include "tests/router/check.h"

#include <stdlib.h>

static inline xp_regex_t *xp_t_regex(const char *re, bool full)
{
    char err[256];
    size_t off = 0;
    xp_regex_t *r = xp_regex_compile(re, strlen(re), full, err, sizeof(err), &off);
    if (r == NULL) {
        fprintf(stderr, "bad test regex %s: %s at %zu\n", re, err, off);
        abort();
    }
    return r;
}

/* A forwarding route to `cluster` matching `path` by `kind`. */
static inline xp_route_t *xp_t_route(xp_vhost_t *vh, xp_path_match_kind_t kind, const char *path,
                                     const char *cluster)
{
    xp_route_t *r = xp_route_new();
    r->match.kind = kind;
    r->match.path = xp_str_dup(xp_str_c(path));
    if (kind == XP_PATH_REGEX)
        r->match.regex = xp_t_regex(path, true);
    r->name = xp_str_dup(xp_str_c(cluster));
    r->action.cluster = xp_str_dup(xp_str_c(cluster));
    if (vh)
        xp_vhost_add_route(vh, r);
    return r;
}

static inline xp_header_matcher_t *xp_t_hdr(xp_route_t *r, const char *name)
{
    xp_route_match_t *m = &r->match;
    m->headers = realloc(m->headers, (m->nheaders + 1) * sizeof(*m->headers));
    xp_header_matcher_t *h = &m->headers[m->nheaders++];
    memset(h, 0, sizeof(*h));
    h->name = xp_str_dup(xp_str_c(name));
    return h;
}

static inline void xp_t_strm(xp_str_matcher_t *s, xp_str_match_kind_t kind, const char *v)
{
    s->kind = kind;
    s->value = xp_str_dup(xp_str_c(v));
    if (kind == XP_STR_REGEX)
        s->regex = xp_t_regex(v, true);
}

static inline xp_query_matcher_t *xp_t_query(xp_route_t *r, const char *name)
{
    xp_route_match_t *m = &r->match;
    m->query = realloc(m->query, (m->nquery + 1) * sizeof(*m->query));
    xp_query_matcher_t *q = &m->query[m->nquery++];
    memset(q, 0, sizeof(*q));
    q->name = xp_str_dup(xp_str_c(name));
    return q;
}

static inline void xp_t_build(xp_route_table_t *t)
{
    xp_diag_t d;
    xp_diag_init(&d);
    if (xp_route_table_build(t, "route_config", &d) != 0) {
        xp_diag_print(&d, stderr, "build: ");
        abort();
    }
    xp_diag_free(&d);
}

static inline xp_route_request_t xp_t_req(const char *method, const char *path, const char *host)
{
    xp_route_request_t r;
    memset(&r, 0, sizeof(r));
    r.method = xp_str_c(method);
    r.path = xp_str_c(path);
    r.host = xp_str_c(host);
    r.scheme = XP_STR_LIT("http");
    return r;
}

/* Name of the route matched for (path, headers), "" when none. */
static inline const char *xp_t_match(const xp_vhost_t *vh, const char *path, const xp_header_t *h,
                                     size_t nh, uint64_t random)
{
    xp_route_request_t req = xp_t_req("GET", path, "h");
    req.headers = h;
    req.nheaders = nh;
    const xp_route_t *r = xp_vhost_match(vh, &req, random);
    /* the index must agree with a plain first-match scan */
    const xp_route_t *lin = NULL;
    for (size_t i = 0; i < vh->nroutes && !lin; i++)
        if (xp_route_match_eval(vh->routes[i], &req, random, NULL))
            lin = vh->routes[i];
    CHECK(r == lin, "index and linear scan disagree for %s: %s vs %s", path,
          r ? r->name.p : "(none)", lin ? lin->name.p : "(none)");
    return r ? r->name.p : "";
}

#endif
