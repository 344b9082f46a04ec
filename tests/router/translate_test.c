/* xds/translate/route.c: RouteConfiguration messages built in C become the
 * expected model, and bad ones are rejected with errors naming the field. */
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "tests/router/route_test_util.h"
#include "xds/translate/route.h"

typedef Envoy__Config__Route__V3__RouteConfiguration RC;
typedef Envoy__Config__Route__V3__VirtualHost VH;
typedef Envoy__Config__Route__V3__Route RT;
typedef Envoy__Config__Route__V3__RouteMatch RM;
typedef Envoy__Config__Route__V3__RouteAction RA;

static const char *xp__has(const xp_diag_t *d, const char *path, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].path, path) == 0 && (!needle || strstr(d->v[i].msg, needle)))
            return d->v[i].msg;
    return NULL;
}

static void xp__dump(const xp_diag_t *d)
{
    xp_diag_print(d, stderr, "  diag ");
}

static void test_good(void)
{
    /* vhost 0: ide.example.com, *.ide.example.com */
    char *doms[] = {"ide.example.com", "*.ide.example.com"};
    /* route 0: prefix /api/ -> cluster api, timeout 0 (disabled), retry, hash, websocket */
    RM m0 = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    m0.path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
    m0.prefix = "/api/";
    Google__Protobuf__BoolValue ci = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
    ci.value = false;
    m0.case_sensitive = &ci;
    Envoy__Config__Route__V3__HeaderMatcher hm = ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__INIT;
    hm.name = "x-env";
    Envoy__Type__Matcher__V3__StringMatcher sm = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__INIT;
    sm.match_pattern_case = ENVOY__TYPE__MATCHER__V3__STRING_MATCHER__MATCH_PATTERN_PREFIX;
    sm.prefix = "pr";
    hm.header_match_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__HEADER_MATCHER__HEADER_MATCH_SPECIFIER_STRING_MATCH;
    hm.string_match = &sm;
    Envoy__Config__Route__V3__HeaderMatcher *hms[] = {&hm};
    m0.n_headers = 1;
    m0.headers = hms;
    RA a0 = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
    a0.cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
    a0.cluster = "api";
    Google__Protobuf__Duration zero = GOOGLE__PROTOBUF__DURATION__INIT;
    a0.timeout = &zero;
    Envoy__Config__Route__V3__RetryPolicy rp = ENVOY__CONFIG__ROUTE__V3__RETRY_POLICY__INIT;
    rp.retry_on = "5xx,connect-failure";
    Google__Protobuf__Duration ptt = GOOGLE__PROTOBUF__DURATION__INIT;
    ptt.nanos = 250000000;
    rp.per_try_timeout = &ptt;
    a0.retry_policy = &rp;
    Envoy__Config__Route__V3__RouteAction__HashPolicy hp =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__INIT;
    Envoy__Config__Route__V3__RouteAction__HashPolicy__ConnectionProperties cp =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__CONNECTION_PROPERTIES__INIT;
    cp.source_ip = true;
    hp.policy_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__HASH_POLICY__POLICY_SPECIFIER_CONNECTION_PROPERTIES;
    hp.connection_properties = &cp;
    hp.terminal = true;
    Envoy__Config__Route__V3__RouteAction__HashPolicy *hps[] = {&hp};
    a0.n_hash_policy = 1;
    a0.hash_policy = hps;
    Envoy__Config__Route__V3__RouteAction__UpgradeConfig uc =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__UPGRADE_CONFIG__INIT;
    uc.upgrade_type = "websocket";
    Envoy__Config__Route__V3__RouteAction__UpgradeConfig *ucs[] = {&uc};
    a0.n_upgrade_configs = 1;
    a0.upgrade_configs = ucs;
    RT r0 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r0.name = "api";
    r0.match = &m0;
    r0.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r0.route = &a0;
    Envoy__Config__Core__V3__HeaderValue hv = ENVOY__CONFIG__CORE__V3__HEADER_VALUE__INIT;
    hv.key = "x-client";
    hv.value = "%DOWNSTREAM_REMOTE_ADDRESS%";
    Envoy__Config__Core__V3__HeaderValueOption hvo =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__INIT;
    hvo.header = &hv;
    Google__Protobuf__BoolValue no = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
    hvo.append = &no;
    Envoy__Config__Core__V3__HeaderValueOption *hvos[] = {&hvo};
    r0.n_request_headers_to_add = 1;
    r0.request_headers_to_add = hvos;

    /* route 1: ingress-nginx style regex + rewrite, weighted clusters */
    RM m1 = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    Envoy__Type__Matcher__V3__RegexMatcher re1 = ENVOY__TYPE__MATCHER__V3__REGEX_MATCHER__INIT;
    re1.regex = "^/webapp-01/ide-x(/|$)(.*)";
    m1.path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX;
    m1.safe_regex = &re1;
    RA a1 = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
    Envoy__Config__Route__V3__WeightedCluster wc = ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__INIT;
    Envoy__Config__Route__V3__WeightedCluster__ClusterWeight cw[2] = {
        ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__CLUSTER_WEIGHT__INIT,
        ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__CLUSTER_WEIGHT__INIT};
    Google__Protobuf__UInt32Value w[2] = {GOOGLE__PROTOBUF__UINT32_VALUE__INIT,
                                          GOOGLE__PROTOBUF__UINT32_VALUE__INIT};
    cw[0].name = "blue";
    w[0].value = 90;
    cw[0].weight = &w[0];
    cw[1].name = "green";
    w[1].value = 10;
    cw[1].weight = &w[1];
    Envoy__Config__Route__V3__WeightedCluster__ClusterWeight *cws[] = {&cw[0], &cw[1]};
    wc.n_clusters = 2;
    wc.clusters = cws;
    a1.cluster_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS;
    a1.weighted_clusters = &wc;
    Envoy__Type__Matcher__V3__RegexMatchAndSubstitute rs =
        ENVOY__TYPE__MATCHER__V3__REGEX_MATCH_AND_SUBSTITUTE__INIT;
    rs.pattern = &re1;
    rs.substitution = "/\\2";
    a1.regex_rewrite = &rs;
    RT r1 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r1.match = &m1;
    r1.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r1.route = &a1;

    /* route 2: exact path -> redirect; route 3: prefix / -> direct response */
    RM m2 = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    m2.path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH;
    m2.path = "/old";
    Envoy__Config__Route__V3__RedirectAction rd = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__INIT;
    rd.scheme_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__SCHEME_REWRITE_SPECIFIER_HTTPS_REDIRECT;
    rd.https_redirect = true;
    rd.path_rewrite_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__PATH_REWRITE_SPECIFIER_PATH_REDIRECT;
    rd.path_redirect = "/new";
    rd.response_code = ENVOY__CONFIG__ROUTE__V3__REDIRECT_ACTION__REDIRECT_RESPONSE_CODE__FOUND;
    RT r2 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r2.match = &m2;
    r2.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_REDIRECT;
    r2.redirect = &rd;
    RM m3 = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    m3.path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
    m3.prefix = "/";
    Envoy__Config__Route__V3__DirectResponseAction dr =
        ENVOY__CONFIG__ROUTE__V3__DIRECT_RESPONSE_ACTION__INIT;
    dr.status = 404;
    Envoy__Config__Core__V3__DataSource body = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__INIT;
    body.specifier_case = ENVOY__CONFIG__CORE__V3__DATA_SOURCE__SPECIFIER_INLINE_STRING;
    body.inline_string = "no such workspace\n";
    dr.body = &body;
    RT r3 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r3.match = &m3;
    r3.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_DIRECT_RESPONSE;
    r3.direct_response = &dr;

    RT *routes[] = {&r0, &r1, &r2, &r3};
    VH vh = ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__INIT;
    vh.name = "ide";
    vh.n_domains = 2;
    vh.domains = doms;
    vh.n_routes = 4;
    vh.routes = routes;
    VH *vhs[] = {&vh};
    RC rc = ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    rc.name = "local_route";
    rc.n_virtual_hosts = 1;
    rc.virtual_hosts = vhs;

    xp_diag_t d;
    xp_diag_init(&d);
    xp_route_table_t *t = xp_translate_route_config(&rc, "route_config", &d);
    CHECK(t != NULL && d.nerrors == 0, "good config rejected");
    if (t == NULL) {
        xp__dump(&d);
        xp_diag_free(&d);
        return;
    }
    CHECK_STR(t->name.p, "local_route");
    const xp_vhost_t *v = xp_route_table_find_vhost(t, XP_STR_LIT("a.ide.example.com"), false);
    CHECK(v && v->nroutes == 4, "vhost");
    const xp_route_t *x = v->routes[0];
    CHECK(x->kind == XP_ROUTE_FORWARD && xp_str_eq(x->action.cluster, XP_STR_LIT("api")) &&
              !x->match.case_sensitive && x->action.timeout_ms == 0 && x->action.has_retry_policy &&
              x->action.retry.num_retries == 1 && x->action.retry.per_try_timeout_ms == 250 &&
              x->action.retry.retry_on == (XP_RETRY_5XX | XP_RETRY_CONNECT_FAILURE) &&
              x->action.nhash == 1 && x->action.hash[0].kind == XP_HASH_SOURCE_IP &&
              x->action.hash[0].terminal && x->action.nupgrades == 1 &&
              x->action.upgrades[0].enabled,
          "route 0 action");
    CHECK(x->match.nheaders == 1 && x->match.headers[0].kind == XP_HDR_STRING &&
              x->match.headers[0].str.kind == XP_STR_PREFIX,
          "route 0 header matcher");
    CHECK(x->request_headers.nadd == 1 && x->request_headers.add[0].has_format &&
              x->request_headers.add[0].append == XP_OVERWRITE_IF_EXISTS_OR_ADD,
          "route 0 header edits");
    x = v->routes[1];
    CHECK(x->action.cluster_kind == XP_CLUSTER_WEIGHTED && x->action.total_weight == 100 &&
              x->action.timeout_ms == 15000,
          "route 1 weighted / default timeout");
    x = v->routes[2];
    CHECK(x->kind == XP_ROUTE_REDIRECT && x->redirect.response_code == 302, "route 2 redirect");
    x = v->routes[3];
    CHECK(x->kind == XP_ROUTE_DIRECT && x->direct.status == 404 &&
              xp_str_eq(x->direct.body, XP_STR_LIT("no such workspace\n")),
          "route 3 direct response");

    /* end to end: match then rewrite */
    xp_header_t h[] = {{XP_STR_LIT("X-Env"), XP_STR_LIT("prod")}};
    xp_route_request_t req = xp_t_req("GET", "/API/users", "ide.example.com");
    req.headers = h;
    req.nheaders = 1;
    const xp_route_t *got = xp_route_table_match(t, &req, false, 0, NULL);
    CHECK(got == v->routes[0], "case-insensitive prefix + header");
    req = xp_t_req("GET", "/webapp-01/ide-x/static/a.js?v=1", "ide.example.com");
    got = xp_route_table_match(t, &req, false, 0, NULL);
    CHECK(got == v->routes[1], "regex route");
    char *out = NULL;
    size_t len;
    if (got && xp_route_rewrite_path(got, &req, &out, &len) == 0)
        CHECK_STR(out, "/static/a.js?v=1");
    free(out);
    const xp_weighted_cluster_t *wcp;
    CHECK(got && xp_str_eq(xp_route_cluster(got, &req, 95, &wcp), XP_STR_LIT("green")),
          "weighted pick 95 -> green");
    req = xp_t_req("GET", "/old?a=1", "ide.example.com:80");
    got = xp_route_table_match(t, &req, false, 0, NULL);
    CHECK(got == NULL, "host with port must not match without strip_port");
    got = xp_route_table_match(t, &req, true, 0, NULL);
    out = NULL;
    CHECK(got && xp_route_redirect_location(got, &req, &out, &len) == 0, "redirect");
    CHECK_STR(out, "https://ide.example.com/new?a=1");
    free(out);
    xp_route_table_unref(t);
    xp_diag_free(&d);
}

static void test_errors(void)
{
    /* vhost 0: good; vhost 1: bad in many ways */
    char *d0[] = {"a.com"};
    char *d1[] = {"A.com"};
    VH v0 = ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__INIT;
    v0.name = "v0";
    v0.n_domains = 1;
    v0.domains = d0;
    VH v1 = ENVOY__CONFIG__ROUTE__V3__VIRTUAL_HOST__INIT;
    v1.name = "v1";
    v1.n_domains = 1;
    v1.domains = d1;

    /* routes[0]: no action */
    RM pm = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    pm.path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PREFIX;
    pm.prefix = "/";
    RT r0 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r0.match = &pm;
    /* routes[1]: weights sum to 0, hedge_policy */
    RA a1 = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
    Envoy__Config__Route__V3__WeightedCluster wc = ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__INIT;
    Envoy__Config__Route__V3__WeightedCluster__ClusterWeight cw =
        ENVOY__CONFIG__ROUTE__V3__WEIGHTED_CLUSTER__CLUSTER_WEIGHT__INIT;
    cw.name = "c";
    Envoy__Config__Route__V3__WeightedCluster__ClusterWeight *cws[] = {&cw};
    wc.n_clusters = 1;
    wc.clusters = cws;
    a1.cluster_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_WEIGHTED_CLUSTERS;
    a1.weighted_clusters = &wc;
    Envoy__Config__Route__V3__HedgePolicy hedge = ENVOY__CONFIG__ROUTE__V3__HEDGE_POLICY__INIT;
    a1.hedge_policy = &hedge;
    RT r1 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r1.match = &pm;
    r1.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r1.route = &a1;
    /* routes[2]: bad retry_on, bad substitution, append + append_action */
    RA a2 = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
    a2.cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
    a2.cluster = "c";
    Envoy__Config__Route__V3__RetryPolicy rp = ENVOY__CONFIG__ROUTE__V3__RETRY_POLICY__INIT;
    rp.retry_on = "5xx,sometimes";
    a2.retry_policy = &rp;
    Envoy__Type__Matcher__V3__RegexMatcher rre = ENVOY__TYPE__MATCHER__V3__REGEX_MATCHER__INIT;
    rre.regex = "^/a/(.*)";
    Envoy__Type__Matcher__V3__RegexMatchAndSubstitute rs =
        ENVOY__TYPE__MATCHER__V3__REGEX_MATCH_AND_SUBSTITUTE__INIT;
    rs.pattern = &rre;
    rs.substitution = "/\\3";
    a2.regex_rewrite = &rs;
    RT r2 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r2.match = &pm;
    r2.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r2.route = &a2;
    Envoy__Config__Core__V3__HeaderValue hv = ENVOY__CONFIG__CORE__V3__HEADER_VALUE__INIT;
    hv.key = "x-a";
    hv.value = "1";
    Envoy__Config__Core__V3__HeaderValueOption hvo =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__INIT;
    hvo.header = &hv;
    Google__Protobuf__BoolValue yes = GOOGLE__PROTOBUF__BOOL_VALUE__INIT;
    yes.value = true;
    hvo.append = &yes;
    hvo.append_action =
        ENVOY__CONFIG__CORE__V3__HEADER_VALUE_OPTION__HEADER_APPEND_ACTION__ADD_IF_ABSENT;
    Envoy__Config__Core__V3__HeaderValueOption *hvos[] = {&hvo};
    r2.n_response_headers_to_add = 1;
    r2.response_headers_to_add = hvos;
    RA ok = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__INIT;
    ok.cluster_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__CLUSTER_SPECIFIER_CLUSTER;
    ok.cluster = "c";
    /* routes[3]: bad regex */
    RM bm = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    Envoy__Type__Matcher__V3__RegexMatcher bre = ENVOY__TYPE__MATCHER__V3__REGEX_MATCHER__INIT;
    bre.regex = "^/ws/(unclosed";
    bm.path_specifier_case = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_SAFE_REGEX;
    bm.safe_regex = &bre;
    RT r3 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r3.match = &bm;
    r3.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r3.route = &ok;
    /* routes[4]: no path specifier, path_separated_prefix errors elsewhere */
    RM em = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    RT r4 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r4.match = &em;
    r4.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r4.route = &ok;
    RM sp = ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__INIT;
    sp.path_specifier_case =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_MATCH__PATH_SPECIFIER_PATH_SEPARATED_PREFIX;
    sp.path_separated_prefix = "/api/";
    RT r5 = ENVOY__CONFIG__ROUTE__V3__ROUTE__INIT;
    r5.match = &sp;
    r5.action_case = ENVOY__CONFIG__ROUTE__V3__ROUTE__ACTION_ROUTE;
    r5.route = &ok;
    RT *rts[] = {&r0, &r1, &r2, &r3, &r4, &r5};
    v1.n_routes = 6;
    v1.routes = rts;
    VH *vhs[] = {&v0, &v1};
    RC rc = ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    rc.n_virtual_hosts = 2;
    rc.virtual_hosts = vhs;
    Envoy__Config__Route__V3__RouteAction__RequestMirrorPolicy mp =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_ACTION__REQUEST_MIRROR_POLICY__INIT;
    Envoy__Config__Route__V3__RouteAction__RequestMirrorPolicy *mps[] = {&mp};
    rc.n_request_mirror_policies = 1;
    rc.request_mirror_policies = mps;

    xp_diag_t d;
    xp_diag_init(&d);
    xp_route_table_t *t = xp_translate_route_config(&rc, "route_config", &d);
    CHECK(t == NULL, "bad config accepted");
    static const struct {
        const char *path, *needle;
    } want[] = {
        {"route_config.virtual_hosts[1].domains[0]", "duplicate domain"},
        {"route_config.virtual_hosts[1].routes[0]", "one of route, redirect or direct_response"},
        {"route_config.virtual_hosts[1].routes[1].route.weighted_clusters.clusters", "sum to 0"},
        {"route_config.virtual_hosts[1].routes[1].route.hedge_policy", "not supported"},
        {"route_config.virtual_hosts[1].routes[2].route.retry_policy.retry_on", "\"sometimes\""},
        {"route_config.virtual_hosts[1].routes[2].route.regex_rewrite.substitution", "\\3"},
        {"route_config.virtual_hosts[1].routes[2].response_headers_to_add[0].append",
         "append_action"},
        {"route_config.virtual_hosts[1].routes[3].match.safe_regex.regex", "offset 14"},
        {"route_config.virtual_hosts[1].routes[4].match", "one of prefix, path"},
        {"route_config.virtual_hosts[1].routes[5].match.path_separated_prefix",
         "must not end with '/'"},
        {"route_config.request_mirror_policies", "not supported"},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(want); i++)
        CHECK(xp__has(&d, want[i].path, want[i].needle), "missing error %s: ...%s...", want[i].path,
              want[i].needle);
    CHECK(d.nerrors == XP_ARRAY_SIZE(want), "%zu errors, want %zu", d.nerrors, XP_ARRAY_SIZE(want));
    if (xp_test_failures)
        xp__dump(&d);
    const char *msg =
        xp__has(&d, "route_config.virtual_hosts[1].routes[3].match.safe_regex.regex", NULL);
    CHECK(msg && strstr(msg, "missing closing parenthesis"), "PCRE2 message: %s",
          msg ? msg : "(none)");
    xp_route_table_unref(t);
    xp_diag_free(&d);
}

int main(void)
{
    test_good();
    test_errors();
    xp_router_thread_cleanup();
    TEST_DONE();
}
