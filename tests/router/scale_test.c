/* 10,000 routes: the last one is found, and the index keeps the work per
 * request small (a structural assertion on candidate counts, not timing). */
#include "tests/router/route_test_util.h"

#define N 10000

static xp_route_table_t *xp__build(bool regex)
{
    xp_route_table_t *t = xp_route_table_new("scale");
    xp_vhost_t *vh = xp_route_table_add_vhost(t, "ide");
    xp_vhost_add_domain(vh, "ide.example.com");
    char buf[96], name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "ws-%d", i);
        if (regex)
            snprintf(buf, sizeof(buf), "^/webapp-01/ide-%d(/|$)(.*)", i);
        else
            snprintf(buf, sizeof(buf), "/webapp-01/ide-%d/", i);
        xp_route_t *r = xp_t_route(vh, regex ? XP_PATH_REGEX : XP_PATH_PREFIX, buf, name);
        if (regex) {
            r->action.regex_rewrite = xp_t_regex(buf, false);
            r->action.regex_substitution = xp_str_dup(XP_STR_LIT("/\\2"));
        }
    }
    xp_t_route(vh, XP_PATH_PREFIX, "/", "default");
    xp_t_build(t);
    return t;
}

static void xp__check(xp_route_table_t *t, const char *path, const char *want,
                      uint32_t max_candidates)
{
    xp_route_request_t req = xp_t_req("GET", path, "IDE.example.com");
    const xp_vhost_t *vh = xp_route_table_find_vhost(t, req.host, false);
    CHECK(vh != NULL, "vhost not found");
    if (vh == NULL)
        return;
    xp_route_match_stats_t st;
    const xp_route_t *r = xp_vhost_match_ex(vh, &req, 0, &st);
    CHECK(r && strcmp(r->name.p, want) == 0, "%s: got %s want %s", path, r ? r->name.p : "(none)",
          want);
    CHECK(st.candidates <= max_candidates, "%s: %u candidates examined (max %u), %u regex runs",
          path, st.candidates, max_candidates, st.regex_evals);
}

int main(void)
{
    xp_route_table_t *t = xp__build(false);
    xp__check(t, "/webapp-01/ide-9999/static/app.js?v=1", "ws-9999", 1);
    xp__check(t, "/webapp-01/ide-0/", "ws-0", 1);
    xp__check(t, "/webapp-01/ide-5000/x", "ws-5000", 1);
    /* no workspace route: only the default is a candidate */
    xp__check(t, "/webapp-01/ide-10000/x", "default", 1);
    xp_route_table_unref(t);

    t = xp__build(true);
    xp__check(t, "/webapp-01/ide-9999/static/app.js?v=1", "ws-9999", 3);
    xp__check(t, "/webapp-01/ide-9999", "ws-9999", 3);
    xp__check(t, "/webapp-01/ide-999/a", "ws-999", 3);
    xp__check(t, "/webapp-01/ide-99999", "default", 3);
    const xp_vhost_t *vh = t->vhosts[0];
    xp_route_request_t req = xp_t_req("GET", "/webapp-01/ide-9999/static/a.js?v=1", "h");
    const xp_route_t *r = xp_vhost_match(vh, &req, 0);
    char *out = NULL;
    size_t len;
    CHECK(r && xp_route_rewrite_path(r, &req, &out, &len) == 0, "rewrite failed");
    CHECK_STR(out, "/static/a.js?v=1");
    free(out);
    xp_route_table_unref(t);
    xp_router_thread_cleanup();
    TEST_DONE();
}
