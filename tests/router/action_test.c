/* Data-path helpers (proxy/router/action.c): rewrites, redirects, weighted
 * clusters, hash policies, retry_on parsing, regex substitution. */
#include "tests/router/route_test_util.h"

static char *xp__rewrite(const xp_route_t *r, const char *path)
{
    xp_route_request_t req = xp_t_req("GET", path, "h");
    char *out = NULL;
    size_t len = 0;
    int rc = xp_route_rewrite_path(r, &req, &out, &len);
    CHECK(rc == 0, "rewrite failed: %d", rc);
    CHECK(out == NULL || strlen(out) == len, "length mismatch");
    return out;
}

static void test_rewrites(void)
{
    /* ingress-nginx style: rewrite-target /$2 */
    xp_route_t *r = xp_t_route(NULL, XP_PATH_REGEX, "^/webapp-01/ide-x(/|$)(.*)", "c");
    r->action.regex_rewrite = xp_t_regex("^/webapp-01/ide-x(/|$)(.*)", false);
    r->action.regex_substitution = xp_str_dup(XP_STR_LIT("/\\2"));
    static const char *cases[][2] = {
        {"/webapp-01/ide-x/static/a.js?v=1", "/static/a.js?v=1"},
        {"/webapp-01/ide-x", "/"},
        {"/webapp-01/ide-x/", "/"},
        {"/webapp-01/ide-x?a=/webapp-01/ide-x/", "/?a=/webapp-01/ide-x/"},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(cases); i++) {
        char *out = xp__rewrite(r, cases[i][0]);
        CHECK_STR(out, cases[i][1]);
        free(out);
    }
    xp_route_unref(r);

    /* Envoy's documented examples */
    r = xp_t_route(NULL, XP_PATH_PREFIX, "/", "c");
    r->action.regex_rewrite = xp_t_regex("^/service/([^/]+)(/.*)$", false);
    r->action.regex_substitution = xp_str_dup(XP_STR_LIT("\\2/instance/\\1"));
    char *out = xp__rewrite(r, "/service/foo/v1/api");
    CHECK_STR(out, "/v1/api/instance/foo");
    free(out);
    xp_regex_free(r->action.regex_rewrite);
    xp_str_free(&r->action.regex_substitution);
    r->action.regex_rewrite = xp_t_regex("one", false);
    r->action.regex_substitution = xp_str_dup(XP_STR_LIT("two"));
    out = xp__rewrite(r, "/xxx/one/yyy/one/zzz?one");
    CHECK_STR(out, "/xxx/two/yyy/two/zzz?one"); /* global, query untouched */
    free(out);
    xp_route_unref(r);

    /* empty matches follow RE2's GlobalReplace */
    xp_regex_t *re = xp_t_regex("x*", false);
    size_t n;
    char *s = xp_regex_replace_all(re, XP_STR_LIT("abxd"), XP_STR_LIT("-"), &n);
    CHECK_STR(s, "-a-b-d-");
    free(s);
    char err[128];
    CHECK(xp_regex_check_substitution(re, XP_STR_LIT("\\1"), err, sizeof(err)) != 0,
          "\\1 accepted for a pattern without groups");
    CHECK(xp_regex_check_substitution(re, XP_STR_LIT("a\\\\b\\0"), err, sizeof(err)) == 0,
          "valid substitution rejected: %s", err);
    CHECK(xp_regex_check_substitution(re, XP_STR_LIT("\\n"), err, sizeof(err)) != 0,
          "\\n accepted");
    xp_regex_free(re);

    /* prefix_rewrite replaces what the route matched */
    r = xp_t_route(NULL, XP_PATH_PREFIX, "/api/", "c");
    r->action.has_prefix_rewrite = true;
    r->action.prefix_rewrite = xp_str_dup(XP_STR_LIT("/v2/"));
    out = xp__rewrite(r, "/api/users?id=1");
    CHECK_STR(out, "/v2/users?id=1");
    free(out);
    xp_route_unref(r);
    r = xp_t_route(NULL, XP_PATH_EXACT, "/old", "c");
    r->action.has_prefix_rewrite = true;
    r->action.prefix_rewrite = xp_str_dup(XP_STR_LIT("/new"));
    out = xp__rewrite(r, "/old?q");
    CHECK_STR(out, "/new?q");
    free(out);
    xp_route_unref(r);
    r = xp_t_route(NULL, XP_PATH_PREFIX, "/x", "c");
    out = xp__rewrite(r, "/x/y");
    CHECK(out == NULL, "no rewrite configured but got %s", out);
    xp_route_unref(r);
}

static char *xp__location(const xp_route_t *r, const char *scheme, const char *host,
                          const char *path)
{
    xp_route_request_t req = xp_t_req("GET", path, host);
    req.scheme = xp_str_c(scheme);
    char *out = NULL;
    size_t len;
    int rc = xp_route_redirect_location(r, &req, &out, &len);
    CHECK(rc == 0, "redirect failed: %d", rc);
    return out;
}

static xp_route_t *xp__redirect(xp_path_match_kind_t kind, const char *match)
{
    xp_route_t *r = xp_t_route(NULL, kind, match, "unused");
    r->kind = XP_ROUTE_REDIRECT;
    return r;
}

static void test_redirects(void)
{
    static const struct {
        int setup;
        const char *scheme, *host, *path, *want;
    } cases[] = {
        /* 0: https_redirect drops the default http port */
        {0, "http", "foo.com:80", "/a?b=1", "https://foo.com/a?b=1"},
        {0, "http", "foo.com:8080", "/a", "https://foo.com:8080/a"},
        {0, "http", "foo.com", "/a", "https://foo.com/a"},
        {0, "http", "[::1]:80", "/", "https://[::1]/"},
        /* 1: host + port + path_redirect keeps the query */
        {1, "https", "foo.com:443", "/old?x=1", "https://bar.com:8443/new?x=1"},
        /* 2: path_redirect with strip_query */
        {2, "http", "foo.com", "/old?x=1", "http://foo.com/new"},
        /* 3: path_redirect with its own query: wins, not stripped */
        {3, "http", "foo.com", "/old?x=1", "http://foo.com/new?foo=1"},
        /* 4: prefix_rewrite */
        {4, "http", "foo.com", "/api/v1/x?y", "http://foo.com/v2/x?y"},
        /* 5: regex_rewrite + strip_query */
        {5, "http", "foo.com", "/webapp-01/ide-x/s?v=1", "http://foo.com/s"},
        /* 6: keep everything */
        {6, "http", "foo.com:80", "/p?q", "http://foo.com:80/p?q"},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(cases); i++) {
        xp_route_t *r;
        switch (cases[i].setup) {
        case 0:
            r = xp__redirect(XP_PATH_PREFIX, "/");
            r->redirect.scheme = xp_str_dup(XP_STR_LIT("https"));
            break;
        case 1:
            r = xp__redirect(XP_PATH_PREFIX, "/");
            r->redirect.host = xp_str_dup(XP_STR_LIT("bar.com"));
            r->redirect.port = 8443;
            r->redirect.path_kind = XP_REDIRECT_PATH_REPLACE;
            r->redirect.path = xp_str_dup(XP_STR_LIT("/new"));
            break;
        case 2:
        case 3:
            r = xp__redirect(XP_PATH_PREFIX, "/");
            r->redirect.path_kind = XP_REDIRECT_PATH_REPLACE;
            r->redirect.path =
                xp_str_dup(cases[i].setup == 2 ? XP_STR_LIT("/new") : XP_STR_LIT("/new?foo=1"));
            r->redirect.strip_query = true;
            break;
        case 4:
            r = xp__redirect(XP_PATH_PREFIX, "/api/v1/");
            r->redirect.path_kind = XP_REDIRECT_PATH_PREFIX;
            r->redirect.path = xp_str_dup(XP_STR_LIT("/v2/"));
            break;
        case 5:
            r = xp__redirect(XP_PATH_PREFIX, "/");
            r->redirect.path_kind = XP_REDIRECT_PATH_REGEX;
            r->redirect.regex = xp_t_regex("^/webapp-01/ide-x(/|$)(.*)", false);
            r->redirect.regex_substitution = xp_str_dup(XP_STR_LIT("/\\2"));
            r->redirect.strip_query = true;
            break;
        default:
            r = xp__redirect(XP_PATH_PREFIX, "/");
            break;
        }
        char *loc = xp__location(r, cases[i].scheme, cases[i].host, cases[i].path);
        CHECK(loc && strcmp(loc, cases[i].want) == 0, "case %zu: got %s want %s", i,
              loc ? loc : "(null)", cases[i].want);
        free(loc);
        xp_route_unref(r);
    }
}

static void test_weighted(void)
{
    xp_route_t *r = xp_route_new();
    xp_route_action_t *a = &r->action;
    a->cluster_kind = XP_CLUSTER_WEIGHTED;
    const char *names[] = {"a", "b", "c", "zero"};
    uint32_t weights[] = {10, 30, 60, 0};
    a->weighted = calloc(4, sizeof(*a->weighted));
    for (int i = 0; i < 4; i++) {
        a->weighted[i].name = xp_str_dup(xp_str_c(names[i]));
        a->weighted[i].weight = weights[i];
        a->total_weight += weights[i];
    }
    a->nweighted = 4;
    /* a deterministic LCG sequence: the shares follow the weights */
    unsigned counts[4] = {0};
    uint64_t x = 42;
    const int n = 100000;
    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const xp_weighted_cluster_t *w = xp_route_pick_weighted(a, x >> 11);
        counts[w - a->weighted]++;
    }
    for (int i = 0; i < 4; i++) {
        double share = (double)counts[i] / n * 100.0;
        CHECK(share > weights[i] - 1.0 && share < weights[i] + 1.0, "%s: %.2f%% for weight %u",
              names[i], share, weights[i]);
    }
    CHECK(counts[3] == 0, "zero-weight cluster picked %u times", counts[3]);
    /* exact boundaries: [0,10) a, [10,40) b, [40,100) c */
    CHECK(xp_route_pick_weighted(a, 9) == &a->weighted[0], "9 -> a");
    CHECK(xp_route_pick_weighted(a, 10) == &a->weighted[1], "10 -> b");
    CHECK(xp_route_pick_weighted(a, 139) == &a->weighted[1], "139 -> b");
    CHECK(xp_route_pick_weighted(a, 140) == &a->weighted[2], "140 -> c");
    const xp_weighted_cluster_t *wc;
    xp_route_request_t req = xp_t_req("GET", "/", "h");
    xp_str_t c = xp_route_cluster(r, &req, 99, &wc);
    CHECK(xp_str_eq(c, XP_STR_LIT("c")) && wc == &a->weighted[2], "xp_route_cluster weighted");
    xp_route_unref(r);

    r = xp_route_new();
    r->action.cluster_kind = XP_CLUSTER_HEADER;
    r->action.cluster_header = xp_str_dup(XP_STR_LIT("x-cluster"));
    xp_header_t h[] = {{XP_STR_LIT("X-Cluster"), XP_STR_LIT("dyn")}};
    req.headers = h;
    req.nheaders = 1;
    c = xp_route_cluster(r, &req, 0, &wc);
    CHECK(xp_str_eq(c, XP_STR_LIT("dyn")), "cluster_header");
    req.nheaders = 0;
    c = xp_route_cluster(r, &req, 0, &wc);
    CHECK(c.len == 0, "cluster_header missing should give empty");
    xp_route_unref(r);
}

static void test_hash(void)
{
    CHECK(xp_xxh64("", 0, 0) == 0xEF46DB3751D8E999ull, "xxh64(\"\") = %016llx",
          (unsigned long long)xp_xxh64("", 0, 0));
    CHECK(xp_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ull, "xxh64(abc) = %016llx",
          (unsigned long long)xp_xxh64("abc", 3, 0));
    const char *longs = "Nobody inspects the spammish repetition, twice over and over";
    uint64_t hl = xp_xxh64(longs, strlen(longs), 0);
    CHECK(hl == xp_xxh64(longs, strlen(longs), 0) && hl != xp_xxh64(longs, strlen(longs) - 1, 0),
          "long input hashing unstable");

    xp_route_t *r = xp_route_new();
    xp_route_action_t *a = &r->action;
    a->hash = calloc(4, sizeof(*a->hash));
    a->nhash = 4;
    a->hash[0] =
        (xp_hash_policy_t){.kind = XP_HASH_HEADER, .name = xp_str_dup(XP_STR_LIT("x-user"))};
    a->hash[1] = (xp_hash_policy_t){.kind = XP_HASH_COOKIE,
                                    .name = xp_str_dup(XP_STR_LIT("sid")),
                                    .cookie_has_ttl = true,
                                    .cookie_ttl_ms = 3600000,
                                    .terminal = true};
    a->hash[2] = (xp_hash_policy_t){.kind = XP_HASH_SOURCE_IP};
    a->hash[3] =
        (xp_hash_policy_t){.kind = XP_HASH_QUERY_PARAMETER, .name = xp_str_dup(XP_STR_LIT("u"))};
    xp_route_request_t req = xp_t_req("GET", "/?u=7", "h");
    req.source_ip = XP_STR_LIT("10.0.0.1");
    xp_header_t h[] = {{XP_STR_LIT("X-User"), XP_STR_LIT("alice")},
                       {XP_STR_LIT("cookie"), XP_STR_LIT("a=1; sid=\"s1\"")}};
    req.headers = h;
    req.nheaders = 2;
    uint64_t hash;
    xp_hash_cookie_t ck;
    CHECK(xp_route_hash(a, &req, &hash, &ck), "no hash");
    uint64_t ha = xp_xxh64("alice", 5, 0), hs = xp_xxh64("s1", 2, 0);
    uint64_t want = ((ha << 1) | (ha >> 63)) ^ hs; /* terminal after the cookie */
    CHECK(hash == want, "header+cookie hash %016llx want %016llx", (unsigned long long)hash,
          (unsigned long long)want);
    CHECK(ck.policy == NULL, "cookie present, nothing to set");
    /* no cookie: generated (ttl set) and reported */
    req.nheaders = 1;
    CHECK(xp_route_hash(a, &req, &hash, &ck), "no hash");
    CHECK(ck.policy == &a->hash[1] && strlen(ck.value) == 16, "cookie to set not reported");
    /* nothing but the query parameter and source ip */
    a->hash[1].cookie_has_ttl = false;
    req.nheaders = 0;
    CHECK(xp_route_hash(a, &req, &hash, NULL), "no hash");
    uint64_t hi = xp_xxh64("10.0.0.1", 8, 0), hq = xp_xxh64("7", 1, 0);
    want = ((hi << 1) | (hi >> 63)) ^ hq;
    CHECK(hash == want, "ip+query hash");
    req.source_ip = xp_str("", 0);
    req.path = XP_STR_LIT("/");
    CHECK(!xp_route_hash(a, &req, &hash, NULL), "hash without inputs");
    xp_route_unref(r);
}

static void test_retry_upgrade(void)
{
    uint32_t f;
    char bad[64];
    CHECK(
        xp_retry_on_parse(XP_STR_LIT("5xx, connect-failure,refused-stream,retriable-status-codes"),
                          &f, bad, sizeof(bad)) == 0,
        "valid retry_on rejected");
    CHECK(f == (XP_RETRY_5XX | XP_RETRY_CONNECT_FAILURE | XP_RETRY_REFUSED_STREAM |
                XP_RETRY_RETRIABLE_STATUS_CODES),
          "flags %x", f);
    CHECK(xp_retry_on_parse(XP_STR_LIT("5xx,bogus"), &f, bad, sizeof(bad)) != 0 &&
              strcmp(bad, "bogus") == 0,
          "bogus accepted");

    xp_route_t *r = xp_route_new();
    r->action.upgrades = calloc(1, sizeof(*r->action.upgrades));
    r->action.upgrades[0] = (xp_upgrade_config_t){xp_str_dup(XP_STR_LIT("websocket")), false};
    r->action.nupgrades = 1;
    CHECK(!xp_route_upgrade_allowed(r, XP_STR_LIT("WebSocket"), true), "route disable ignored");
    CHECK(xp_route_upgrade_allowed(r, XP_STR_LIT("h2c"), true), "hcm default ignored");
    xp_vhost_t vh;
    memset(&vh, 0, sizeof(vh));
    CHECK(xp_route_retry_policy(r, &vh) == NULL, "no policy expected");
    vh.has_retry_policy = true;
    CHECK(xp_route_retry_policy(r, &vh) == &vh.retry, "vhost policy expected");
    r->action.has_retry_policy = true;
    CHECK(xp_route_retry_policy(r, &vh) == &r->action.retry, "route policy expected");
    CHECK(r->action.retry.num_retries == 1 && r->action.timeout_ms == 15000, "defaults");
    xp_route_unref(r);
}

int main(void)
{
    test_rewrites();
    test_redirects();
    test_weighted();
    test_hash();
    test_retry_upgrade();
    xp_router_thread_cleanup();
    TEST_DONE();
}
