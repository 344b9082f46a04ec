/* Virtual host selection and route matching (proxy/router/match.c). */
#include "tests/router/route_test_util.h"

static void test_vhost_precedence(void)
{
    xp_route_table_t *t = xp_route_table_new("rc");
    const char *doms[][3] = {
        {"www.foo.com", "example.com:8080", NULL}, /* 0 */
        {"*.foo.com", NULL},                       /* 1 */
        {"*-bar.foo.com", NULL},                   /* 2 */
        {"foo.*", NULL},                           /* 3 */
        {"foo.bar.*", NULL},                       /* 4 */
        {"*", NULL},                               /* 5 */
        {"*.baz.foo.com", "[::1]", NULL},          /* 6 */
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(doms); i++) {
        char name[8];
        snprintf(name, sizeof(name), "vh%zu", i);
        xp_vhost_t *vh = xp_route_table_add_vhost(t, name);
        for (size_t j = 0; doms[i][j]; j++)
            xp_vhost_add_domain(vh, doms[i][j]);
    }
    xp_t_build(t);
    static const struct {
        const char *host;
        bool strip;
        const char *want;
    } cases[] = {
        {"www.foo.com", false, "vh0"},
        {"WWW.Foo.COM", false, "vh0"},     /* case-insensitive */
        {"a.foo.com", false, "vh1"},       /* suffix */
        {"x.baz.foo.com", false, "vh6"},   /* longer suffix first */
        {"baz-bar.foo.com", false, "vh2"}, /* "-bar.foo.com" longer than ".foo.com" */
        {"-bar.foo.com", false, "vh1"},    /* wildcard never matches "" */
        {".foo.com", false, "vh5"},        /* ditto: falls through to "*" */
        {"foo.bar.com", false, "vh4"},     /* longer prefix first */
        {"foo.x", false, "vh3"},           /* prefix */
        {"FOO.X", false, "vh3"},
        {"foo.", false, "vh5"}, /* "foo.*" needs >= 1 byte */
        {"a.foo.com.evil", false, "vh5"},
        {"example.com:8080", false, "vh0"}, /* port kept: domain has it */
        {"example.com:8080", true, "vh5"},  /* stripped: example.com unknown */
        {"www.foo.com:80", false, "vh5"},   /* as-is does not match */
        {"www.foo.com:80", true, "vh0"},
        {"a.foo.com:443", true, "vh1"},
        {"[::1]:80", true, "vh6"},
        {"[::1]", false, "vh6"},
        {"", false, "vh5"},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(cases); i++) {
        const xp_vhost_t *vh =
            xp_route_table_find_vhost(t, xp_str_c(cases[i].host), cases[i].strip);
        CHECK(vh && strcmp(vh->name.p, cases[i].want) == 0, "host \"%s\" strip=%d: got %s want %s",
              cases[i].host, cases[i].strip, vh ? vh->name.p : "(none)", cases[i].want);
    }
    xp_route_table_unref(t);

    /* no "*": unknown hosts find nothing; ignore_port_in_host_matching */
    t = xp_route_table_new("rc2");
    xp_vhost_add_domain(xp_route_table_add_vhost(t, "only"), "a.com");
    t->ignore_port_in_host_matching = true;
    xp_t_build(t);
    CHECK(xp_route_table_find_vhost(t, XP_STR_LIT("b.com"), false) == NULL, "b.com matched");
    CHECK(xp_route_table_find_vhost(t, XP_STR_LIT("a.com:99"), false) != NULL,
          "ignore_port_in_host_matching did not strip");
    xp_route_table_unref(t);
}

static void test_vhost_errors(void)
{
    xp_route_table_t *t = xp_route_table_new("rc");
    xp_vhost_t *a = xp_route_table_add_vhost(t, "a");
    xp_vhost_add_domain(a, "www.foo.com");
    xp_vhost_add_domain(a, "*");
    xp_vhost_t *b = xp_route_table_add_vhost(t, "b");
    xp_vhost_add_domain(b, "WWW.foo.com");
    xp_vhost_add_domain(b, "*.x.com");
    xp_vhost_add_domain(b, "*");
    xp_route_table_add_vhost(t, "c"); /* no domains */
    xp_diag_t d;
    xp_diag_init(&d);
    CHECK(xp_route_table_build(t, "route_config", &d) != 0, "duplicates accepted");
    CHECK(d.nerrors == 3, "want 3 errors, got %zu", d.nerrors);
    CHECK(d.n >= 1 && strcmp(d.v[0].path, "route_config.virtual_hosts[1].domains[0]") == 0 &&
              strstr(d.v[0].msg, "duplicate domain"),
          "first error: %s: %s", d.n ? d.v[0].path : "", d.n ? d.v[0].msg : "");
    CHECK(d.n >= 2 && strcmp(d.v[1].path, "route_config.virtual_hosts[1].domains[2]") == 0 &&
              strstr(d.v[1].msg, "only one virtual host"),
          "second error: %s: %s", d.n > 1 ? d.v[1].path : "", d.n > 1 ? d.v[1].msg : "");
    CHECK(d.n >= 3 && strcmp(d.v[2].path, "route_config.virtual_hosts[2].domains") == 0,
          "third error: %s", d.n > 2 ? d.v[2].path : "");
    xp_diag_free(&d);
    xp_route_table_unref(t);
}

static xp_vhost_t *xp__vh(xp_route_table_t **t)
{
    *t = xp_route_table_new("rc");
    xp_vhost_t *vh = xp_route_table_add_vhost(*t, "vh");
    xp_vhost_add_domain(vh, "*");
    return vh;
}

static void test_path_kinds(void)
{
    xp_route_table_t *t;
    xp_vhost_t *vh = xp__vh(&t);
    xp_t_route(vh, XP_PATH_EXACT, "/foo", "exact");
    xp_t_route(vh, XP_PATH_SEPARATED_PREFIX, "/api", "sep");
    xp_t_route(vh, XP_PATH_REGEX, "^/webapp-01/ide-x(/|$)(.*)", "ide");
    xp_t_route(vh, XP_PATH_REGEX, "/v[0-9]+/.*", "ver");
    xp_t_route(vh, XP_PATH_REGEX, "/opt/abc?", "optc");
    xp_t_route(vh, XP_PATH_REGEX, "/plus/a+b", "plus");
    xp_t_route(vh, XP_PATH_REGEX, "^/alt1|/alt2", "alt");
    xp_t_route(vh, XP_PATH_REGEX, "/caf\xc3\xa9?x", "utf");
    xp_t_route(vh, XP_PATH_REGEX, "/esc\\.d(?:$|\\/)z?", "esc");
    xp_t_route(vh, XP_PATH_REGEX, "(.*)/tail", "tail");
    xp_t_route(vh, XP_PATH_PREFIX, "/q?a", "pq");
    xp_t_route(vh, XP_PATH_PREFIX, "/", "root");
    xp_t_build(t);
    static const struct {
        const char *path, *want;
    } cases[] = {
        {"/foo", "exact"},
        {"/foo?x=1", "exact"},
        {"/foo/", "root"},
        {"/fo", "root"},
        {"/FOO", "root"},
        {"/api", "sep"},
        {"/api/x", "sep"},
        {"/api?x=1", "sep"},
        {"/apix", "root"},
        {"/webapp-01/ide-x", "ide"},
        {"/webapp-01/ide-x/", "ide"},
        {"/webapp-01/ide-x/a.js?v=1", "ide"},
        {"/webapp-01/ide-xy", "root"},
        {"/v12/a", "ver"},
        {"/x/v1/a", "root"}, /* the regex must match the whole path */
        {"/opt/ab", "optc"},
        {"/opt/abc", "optc"},
        {"/opt/abcc", "root"},
        {"/plus/aaab", "plus"},
        {"/alt2", "alt"},
        {"/alt1", "alt"},
        {"/caf\xc3x", "utf"},
        {"/caf\xc3\xa9x", "utf"},
        {"/esc.d", "esc"},
        {"/esc.d/z", "esc"},
        {"/escxd", "root"},
        {"/a/b/tail?x", "tail"},
        {"/q?ab", "pq"}, /* prefix matches the query too */
        {"/q", "root"},
        {"nopath", ""},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(cases); i++) {
        const char *got = xp_t_match(vh, cases[i].path, NULL, 0, 0);
        CHECK(strcmp(got, cases[i].want) == 0, "path %s: got \"%s\" want \"%s\"", cases[i].path,
              got, cases[i].want);
    }
    xp_route_table_unref(t);
}

static void test_first_match_order(void)
{
    xp_route_table_t *t;
    xp_vhost_t *vh = xp__vh(&t);
    xp_t_route(vh, XP_PATH_PREFIX, "/a", "short");
    xp_t_route(vh, XP_PATH_PREFIX, "/a/b", "long");
    xp_t_build(t);
    CHECK_STR(xp_t_match(vh, "/a/b/c", NULL, 0, 0), "short");
    xp_route_table_unref(t);

    vh = xp__vh(&t);
    xp_t_route(vh, XP_PATH_PREFIX, "/a/b", "long");
    xp_t_route(vh, XP_PATH_PREFIX, "/a", "short");
    xp_t_route(vh, XP_PATH_PREFIX, "/", "root");
    xp_t_build(t);
    CHECK_STR(xp_t_match(vh, "/a/b/c", NULL, 0, 0), "long");
    CHECK_STR(xp_t_match(vh, "/a/x", NULL, 0, 0), "short");
    CHECK_STR(xp_t_match(vh, "/b", NULL, 0, 0), "root");
    xp_route_table_unref(t);

    /* case-insensitive and sensitive trees merge in config order */
    vh = xp__vh(&t);
    xp_t_route(vh, XP_PATH_REGEX, "/r.*", "regex-first");
    xp_route_t *ci = xp_t_route(vh, XP_PATH_PREFIX, "/X", "ci");
    ci->match.case_sensitive = false;
    xp_t_route(vh, XP_PATH_PREFIX, "/x/y", "cs");
    xp_route_t *cie = xp_t_route(vh, XP_PATH_EXACT, "/Bar", "ci-exact");
    cie->match.case_sensitive = false;
    xp_t_route(vh, XP_PATH_PREFIX, "", "all");
    xp_t_build(t);
    CHECK_STR(xp_t_match(vh, "/x/y", NULL, 0, 0), "ci");
    CHECK_STR(xp_t_match(vh, "/X/Y", NULL, 0, 0), "ci");
    CHECK_STR(xp_t_match(vh, "/bAR", NULL, 0, 0), "ci-exact");
    CHECK_STR(xp_t_match(vh, "/bar/", NULL, 0, 0), "all");
    CHECK_STR(xp_t_match(vh, "/rx", NULL, 0, 0), "regex-first");
    CHECK_STR(xp_t_match(vh, "", NULL, 0, 0), "all");
    xp_route_table_unref(t);
}

static void test_headers(void)
{
    xp_route_table_t *t;
    xp_vhost_t *vh = xp__vh(&t);
    xp_route_t *r;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/exact", "exact");
    xp_header_matcher_t *h = xp_t_hdr(r, "X-Env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_EXACT, "prod");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/icase", "icase");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_EXACT, "PROD");
    h->str.ignore_case = true;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/prefix", "prefix");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_PREFIX, "pr");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/suffix", "suffix");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_SUFFIX, "od");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/contains", "contains");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_CONTAINS, "ro");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/regex", "regex");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_REGEX, "p[a-z]+");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/present", "present");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_PRESENT;
    h->present = true;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/absent", "absent");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_PRESENT;
    h->present = false;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/range", "range");
    h = xp_t_hdr(r, "x-n");
    h->kind = XP_HDR_RANGE;
    h->range_start = -10;
    h->range_end = 0;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/invert", "invert");
    h = xp_t_hdr(r, "x-env");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_EXACT, "prod");
    h->invert = true;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/invmiss", "invmiss");
    h = xp_t_hdr(r, "x-n");
    h->kind = XP_HDR_RANGE;
    h->range_start = 0;
    h->range_end = 10;
    h->invert = true;
    h->treat_missing_as_empty = true;
    r = xp_t_route(vh, XP_PATH_PREFIX, "/method", "method");
    h = xp_t_hdr(r, ":method");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_EXACT, "GET");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/multi", "multi");
    h = xp_t_hdr(r, "x-m");
    h->kind = XP_HDR_STRING;
    xp_t_strm(&h->str, XP_STR_EXACT, "a,b");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/grpc", "grpc");
    r->match.grpc = true;
    xp_t_route(vh, XP_PATH_PREFIX, "/", "fallback");
    xp_t_build(t);

    xp_header_t prod[] = {{XP_STR_LIT("x-ENV"), XP_STR_LIT("prod")}};
    xp_header_t dev[] = {{XP_STR_LIT("x-env"), XP_STR_LIT("dev")}};
    xp_header_t neg[] = {{XP_STR_LIT("x-n"), XP_STR_LIT(" -5 ")}};
    xp_header_t zero[] = {{XP_STR_LIT("x-n"), XP_STR_LIT("0")}};
    xp_header_t nan[] = {{XP_STR_LIT("x-n"), XP_STR_LIT("5x")}};
    xp_header_t multi[] = {{XP_STR_LIT("x-m"), XP_STR_LIT("a")},
                           {XP_STR_LIT("y"), XP_STR_LIT("")},
                           {XP_STR_LIT("X-M"), XP_STR_LIT("b")}};
    xp_header_t grpc[] = {{XP_STR_LIT("content-type"), XP_STR_LIT("application/grpc+proto")}};
    xp_header_t notgrpc[] = {{XP_STR_LIT("content-type"), XP_STR_LIT("application/grpcx")}};
    static const struct {
        const char *path;
        int hdrs; /* 0 none, 1 prod, 2 dev, 3 neg, 4 zero, 5 nan, 6 multi, 7 grpc, 8 notgrpc */
        const char *want;
    } cases[] = {
        {"/exact", 1, "exact"},
        {"/exact", 2, "fallback"},
        {"/exact", 0, "fallback"},
        {"/icase", 1, "icase"},
        {"/prefix", 1, "prefix"},
        {"/prefix", 2, "fallback"},
        {"/suffix", 1, "suffix"},
        {"/suffix", 2, "fallback"},
        {"/contains", 1, "contains"},
        {"/contains", 2, "fallback"},
        {"/regex", 1, "regex"},
        {"/regex", 2, "fallback"},
        {"/present", 1, "present"},
        {"/present", 0, "fallback"},
        {"/absent", 0, "absent"},
        {"/absent", 1, "fallback"},
        {"/range", 3, "range"},
        {"/range", 4, "fallback"},
        {"/range", 5, "fallback"},
        {"/invert", 2, "invert"},
        {"/invert", 1, "fallback"},
        /* missing header: a value matcher fails even when inverted */
        {"/invert", 0, "fallback"},
        /* ...unless treat_missing_header_as_empty: "" is not in range -> inverted match */
        {"/invmiss", 0, "invmiss"},
        {"/invmiss", 4, "fallback"},
        {"/method", 0, "method"},
        {"/multi", 6, "multi"},
        {"/grpc", 7, "grpc"},
        {"/grpc", 8, "fallback"},
    };
    const xp_header_t *sets[] = {NULL, prod, dev, neg, zero, nan, multi, grpc, notgrpc};
    size_t ns[] = {0, 1, 1, 1, 1, 1, 3, 1, 1};
    for (size_t i = 0; i < XP_ARRAY_SIZE(cases); i++) {
        const char *got = xp_t_match(vh, cases[i].path, sets[cases[i].hdrs], ns[cases[i].hdrs], 0);
        CHECK(strcmp(got, cases[i].want) == 0, "%s with header set %d: got %s want %s",
              cases[i].path, cases[i].hdrs, got, cases[i].want);
    }
    xp_route_table_unref(t);
}

static bool xp__rt_zero(void *ctx, xp_str_t key, uint32_t *num, uint32_t *den)
{
    (void)ctx;
    if (!xp_str_eq(key, XP_STR_LIT("rt.key")))
        return false;
    *num = 0;
    *den = 100;
    return true;
}

static void test_query_and_runtime(void)
{
    xp_route_table_t *t;
    xp_vhost_t *vh = xp__vh(&t);
    xp_route_t *r = xp_t_route(vh, XP_PATH_PREFIX, "/q", "q");
    xp_query_matcher_t *q = xp_t_query(r, "debug");
    q->has_string = true;
    xp_t_strm(&q->str, XP_STR_EXACT, "a b");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/p", "p");
    xp_t_query(r, "flag");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/r", "r");
    q = xp_t_query(r, "v");
    q->has_string = true;
    xp_t_strm(&q->str, XP_STR_REGEX, "[0-9]+");
    r = xp_t_route(vh, XP_PATH_PREFIX, "/frac", "frac");
    r->match.runtime_fraction =
        (xp_runtime_fraction_t){true, 50, 100, xp_str_dup(XP_STR_LIT("rt.key"))};
    xp_t_route(vh, XP_PATH_PREFIX, "/", "fallback");
    xp_t_build(t);
    CHECK_STR(xp_t_match(vh, "/q?x=1&debug=a%20b", NULL, 0, 0), "q");
    CHECK_STR(xp_t_match(vh, "/q?d%65bug=a%20b", NULL, 0, 0), "q"); /* name decoded too */
    CHECK_STR(xp_t_match(vh, "/q?debug=ab", NULL, 0, 0), "fallback");
    CHECK_STR(xp_t_match(vh, "/q?debug=a%20b#frag", NULL, 0, 0), "q");
    CHECK_STR(xp_t_match(vh, "/q", NULL, 0, 0), "fallback");
    CHECK_STR(xp_t_match(vh, "/p?flag", NULL, 0, 0), "p");
    CHECK_STR(xp_t_match(vh, "/p?a=1&flag=", NULL, 0, 0), "p");
    CHECK_STR(xp_t_match(vh, "/p?flags=1", NULL, 0, 0), "fallback");
    CHECK_STR(xp_t_match(vh, "/r?v=123", NULL, 0, 0), "r");
    CHECK_STR(xp_t_match(vh, "/r?v=12a&v=1", NULL, 0, 0), "fallback"); /* first value counts */
    CHECK_STR(xp_t_match(vh, "/frac", NULL, 0, 149), "frac");          /* 149 % 100 < 50 */
    CHECK_STR(xp_t_match(vh, "/frac", NULL, 0, 150), "fallback");
    xp_route_request_t req = xp_t_req("GET", "/frac", "h");
    req.runtime = xp__rt_zero;
    const xp_route_t *m = xp_vhost_match(vh, &req, 1);
    CHECK(m && strcmp(m->name.p, "fallback") == 0, "runtime override to 0%% ignored");
    xp_route_table_unref(t);
}

static void test_connect(void)
{
    xp_route_table_t *t;
    xp_vhost_t *vh = xp__vh(&t);
    xp_t_route(vh, XP_PATH_CONNECT, "", "connect");
    xp_t_route(vh, XP_PATH_PREFIX, "/", "root");
    xp_t_build(t);
    xp_route_request_t req = xp_t_req("CONNECT", "", "h:443");
    const xp_route_t *r = xp_vhost_match(vh, &req, 0);
    CHECK(r && strcmp(r->name.p, "connect") == 0, "CONNECT not matched");
    req = xp_t_req("GET", "/", "h");
    r = xp_vhost_match(vh, &req, 0);
    CHECK(r && strcmp(r->name.p, "root") == 0, "GET matched the connect route");
    xp_route_table_unref(t);
}

static void test_refcounts(void)
{
    /* a route shared by two table generations survives the first */
    xp_route_table_t *t1, *t2;
    xp_vhost_t *v1 = xp__vh(&t1), *v2 = xp__vh(&t2);
    xp_route_t *shared = xp_t_route(v1, XP_PATH_PREFIX, "/s", "shared");
    xp_vhost_add_route(v2, xp_route_ref(shared));
    xp_t_build(t1);
    xp_t_build(t2);
    xp_route_table_t *held = xp_route_table_ref(t1);
    xp_route_table_unref(t1);
    xp_route_table_unref(held); /* t1 gone */
    CHECK_STR(xp_t_match(v2, "/s/x", NULL, 0, 0), "shared");
    xp_route_table_unref(t2);
}

int main(void)
{
    test_vhost_precedence();
    test_vhost_errors();
    test_path_kinds();
    test_first_match_order();
    test_headers();
    test_query_and_runtime();
    test_connect();
    test_refcounts();
    xp_router_thread_cleanup();
    TEST_DONE();
}
