/* Micro-benchmark: ns per xp_vhost_match for 10 and 10,000 routes, prefix
 * and safe_regex, request to the last route; ns per scope key build and
 * lookup for 10 and 10,000 scopes. Not a test; numbers are indicative only.
 *   bazel run -c opt //proxy/router:match_bench */
#include "proxy/router/route.h"
#include "proxy/router/scope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double xp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static xp_route_table_t *xp__table(int n, bool regex)
{
    xp_route_table_t *t = xp_route_table_new("bench");
    xp_vhost_t *vh = xp_route_table_add_vhost(t, "vh");
    xp_vhost_add_domain(vh, "*");
    char buf[128], err[256];
    for (int i = 0; i < n; i++) {
        xp_route_t *r = xp_route_new();
        if (regex) {
            snprintf(buf, sizeof(buf), "^/webapp-01/ide-%d(/|$)(.*)", i);
            size_t off;
            r->match.kind = XP_PATH_REGEX;
            r->match.regex = xp_regex_compile(buf, strlen(buf), true, err, sizeof(err), &off);
            if (!r->match.regex) {
                fprintf(stderr, "regex: %s\n", err);
                exit(1);
            }
        } else {
            snprintf(buf, sizeof(buf), "/webapp-01/ide-%d/", i);
            r->match.kind = XP_PATH_PREFIX;
        }
        r->match.path = xp_str_dup(xp_str_c(buf));
        snprintf(buf, sizeof(buf), "ws-%d", i);
        r->action.cluster = xp_str_dup(xp_str_c(buf));
        xp_vhost_add_route(vh, r);
    }
    xp_diag_t d;
    xp_diag_init(&d);
    if (xp_route_table_build(t, "bench", &d) != 0) {
        xp_diag_print(&d, stderr, "");
        exit(1);
    }
    xp_diag_free(&d);
    return t;
}

static void xp__run(int n, bool regex)
{
    xp_route_table_t *t = xp__table(n, regex);
    char path[128];
    snprintf(path, sizeof(path), "/webapp-01/ide-%d/static/app.js?v=3", n - 1);
    xp_header_t hdrs[] = {{XP_STR_LIT("user-agent"), XP_STR_LIT("bench")}};
    xp_route_request_t req = {.method = XP_STR_LIT("GET"),
                              .path = xp_str_c(path),
                              .host = XP_STR_LIT("ide.example.com"),
                              .scheme = XP_STR_LIT("http"),
                              .headers = hdrs,
                              .nheaders = 1};
    const int iters = 1000000;
    const xp_route_t *r = NULL;
    double t0 = xp__now_ns();
    for (int i = 0; i < iters; i++) {
        const xp_vhost_t *vh = xp_route_table_find_vhost(t, req.host, false);
        r = xp_vhost_match(vh, &req, (uint64_t)i);
    }
    double t1 = xp__now_ns();
    if (r == NULL) {
        fprintf(stderr, "no match\n");
        exit(1);
    }
    printf("%-6s %6d routes: %7.1f ns/match (vhost + route)\n", regex ? "regex" : "prefix", n,
           (t1 - t0) / iters);
    xp_route_table_unref(t);
}

/* Scoped routing: the key from "x-tenant: id=7;t=tenant-<n-1>" (element
 * t), then the scope among n. */
static void xp__run_scopes(int n)
{
    xp_scope_t **v = calloc((size_t)n, sizeof(*v));
    char buf[64];
    for (int i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "tenant-%d", i);
        xp_str_t key = xp_str_c(buf);
        v[i] = xp_scope_new(buf, &key, 1, "rc", NULL, false);
    }
    xp_scope_set_t *set = xp_scope_set_new("", v, (size_t)n);
    xp_scope_fragment_builder_t fb = {.name = XP_STR_LIT("x-tenant"),
                                      .element_separator = XP_STR_LIT(";"),
                                      .by_key = true,
                                      .kv_separator = XP_STR_LIT("="),
                                      .kv_key = XP_STR_LIT("t")};
    xp_scope_key_builder_t b = {&fb, 1};
    char value[64];
    snprintf(value, sizeof(value), "id=7;t=tenant-%d", n - 1);
    xp_header_t hdrs[] = {{XP_STR_LIT("user-agent"), XP_STR_LIT("bench")},
                          {XP_STR_LIT("x-tenant"), xp_str_c(value)}};
    xp_route_request_t req = {.headers = hdrs, .nheaders = 2};
    const int iters = 1000000;
    const xp_scope_t *found = NULL;
    double t0 = xp__now_ns();
    for (int i = 0; i < iters; i++) {
        xp_str_t key[1];
        found = xp_scope_key_build(&b, &req, key) ? xp_scope_set_find(set, key, 1) : NULL;
    }
    double t1 = xp__now_ns();
    if (found != v[n - 1]) {
        fprintf(stderr, "scope not found\n");
        exit(1);
    }
    printf("scope  %6d scopes: %7.1f ns/lookup (key from a header + scope)\n", n,
           (t1 - t0) / iters);
    xp_scope_set_unref(set);
    for (int i = 0; i < n; i++)
        xp_scope_unref(v[i]);
    free(v);
}

int main(void)
{
    xp__run(10, false);
    xp__run(10000, false);
    xp__run(10, true);
    xp__run(10000, true);
    xp__run_scopes(10);
    xp__run_scopes(10000);
    xp_router_thread_cleanup();
    return 0;
}
