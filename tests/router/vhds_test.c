/* VHDS in the route model and its translation: RouteConfiguration.vhds is
 * accepted only with a Delta source (errors name the field); a VHDS virtual
 * host is translated on its own, sharing unchanged routes with its previous
 * version; a composed table holds the very virtual host objects of its RDS
 * table and of VHDS (nothing copied or compiled again), serves them all,
 * outlives the tables it was made from, and refuses a domain served twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/config/route/v3/route_components.pb-c.h"
#include "proto/api_registry.h"
#include "proxy/common/mem.h"
#include "proxy/router/route.h"
#include "tests/router/check.h"
#include "xds/codec/codec.h"
#include "xds/translate/route.h"

static void *parse(const char *yaml, const ProtobufCMessageDescriptor *desc)
{
    xp_diag_t d;
    xp_diag_init(&d);
    void *m = xp_codec_parse(yaml, strlen(yaml), desc, "", &d);
    xp_diag_print(&d, stderr, "parse: ");
    xp_diag_free(&d);
    return m;
}

static Envoy__Config__Route__V3__RouteConfiguration *rc(const char *yaml)
{
    return parse(yaml, &envoy__config__route__v3__route_configuration__descriptor);
}

static Envoy__Config__Route__V3__VirtualHost *vhost(const char *yaml)
{
    return parse(yaml, &envoy__config__route__v3__virtual_host__descriptor);
}

/* The message of the first diag entry at exactly `path`, or NULL. */
static const char *diag_at(const xp_diag_t *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].path, path) == 0)
            return d->v[i].msg;
    return NULL;
}

static const char *served_by(const xp_route_table_t *t, const char *host)
{
    const xp_vhost_t *vh = xp_route_table_find_vhost(t, xp_str_c(host), false);
    return vh ? vh->name.p : NULL;
}

static void test_vhds_config(void)
{
    struct {
        const char *yaml, *path, *msg; /* path NULL: valid */
        uint64_t wait_ms;
    } cases[] = {
        {"name: r\nvhds: { config_source: { ads: {} } }\n", NULL, NULL, 5000},
        {"name: r\nvhds: { config_source: { ads: {}, initial_fetch_timeout: 2s } }\n", NULL, NULL,
         2000},
        {"name: r\nvhds: { config_source: { api_config_source: { api_type: DELTA_GRPC, "
         "grpc_services: [{ envoy_grpc: { cluster_name: x } }] } } }\n",
         NULL, NULL, 5000},
        {"name: r\nvhds: { config_source: { api_config_source: { api_type: GRPC, "
         "grpc_services: [{ envoy_grpc: { cluster_name: x } }] } } }\n",
         "route_config.vhds.config_source.api_config_source.api_type", "DELTA_GRPC (is GRPC)", 0},
        {"name: r\nvhds: { config_source: { api_config_source: { api_type: DELTA_GRPC } } }\n",
         "route_config.vhds.config_source.api_config_source.grpc_services", "required", 0},
        {"name: r\nvhds: { config_source: { path_config_source: { path: /tmp/x } } }\n",
         "route_config.vhds.config_source", "Delta gRPC source", 0},
        {"name: r\nvhds: {}\n", "route_config.vhds.config_source", "required", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Envoy__Config__Route__V3__RouteConfiguration *m = rc(cases[i].yaml);
        CHECK(m != NULL, "case %zu parses", i);
        if (m == NULL)
            continue;
        xp_diag_t d;
        xp_diag_init(&d);
        xp_route_table_t *t = xp_translate_route_config(m, "route_config", &d);
        if (cases[i].path == NULL) {
            CHECK(t != NULL && d.nerrors == 0, "case %zu is valid", i);
            CHECK(t && t->vhds.enabled && t->vhds.source_len > 0, "case %zu keeps vhds", i);
            CHECK(t && t->vhds.wait_ms == cases[i].wait_ms, "case %zu wait %llu", i,
                  t ? (unsigned long long)t->vhds.wait_ms : 0ull);
        } else {
            const char *msg = diag_at(&d, cases[i].path);
            CHECK(t == NULL, "case %zu is rejected", i);
            CHECK(msg && strstr(msg, cases[i].msg), "case %zu: an error at %s saying '%s'", i,
                  cases[i].path, cases[i].msg);
            if (!msg)
                xp_diag_print(&d, stderr, "  got: ");
        }
        xp_route_table_unref(t);
        xp_diag_free(&d);
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
}

static void test_vhost_translation(void)
{
    Envoy__Config__Route__V3__VirtualHost *v1 =
        vhost("name: r/one\ndomains: [one.example]\nroutes:\n"
              "- { match: { prefix: /a }, route: { cluster: a } }\n"
              "- { match: { safe_regex: { regex: '/b/[0-9]+' } }, route: { cluster: b } }\n"
              "- { match: { prefix: / }, route: { cluster: c } }\n");
    Envoy__Config__Route__V3__VirtualHost *v2 =
        vhost("name: r/one\ndomains: [one.example, uno.example]\nroutes:\n"
              "- { match: { prefix: /a }, route: { cluster: a } }\n"
              "- { match: { safe_regex: { regex: '/b/[0-9]+' } }, route: { cluster: b } }\n"
              "- { match: { prefix: / }, route: { cluster: c2 } }\n");
    CHECK(v1 && v2, "virtual hosts parse");
    if (!v1 || !v2)
        return;
    xp_diag_t d;
    xp_diag_init(&d);
    size_t reused = 9;
    xp_vhost_t *a = xp_translate_vhost(v1, "virtual_host[r/one]", &d, NULL, &reused);
    CHECK(a && reused == 0 && a->index != NULL, "first version built with its index");
    xp_vhost_t *b = xp_translate_vhost(v2, "virtual_host[r/one]", &d, a, &reused);
    CHECK(b && reused == 2, "two unchanged routes shared (%zu)", reused);
    if (a && b) {
        CHECK(a->routes[0] == b->routes[0] && a->routes[1] == b->routes[1], "same route objects");
        CHECK(a->routes[2] != b->routes[2], "the changed route is new");
        CHECK(b->ndomains == 2, "domains");
    }
    CHECK(d.nerrors == 0, "no errors");
    xp_vhost_unref(a);
    if (b) { /* the shared routes live on in b */
        xp_route_request_t rq = {0};
        rq.method = XP_STR_LIT("GET");
        rq.path = XP_STR_LIT("/b/42");
        rq.host = XP_STR_LIT("uno.example");
        const xp_route_t *r = xp_vhost_match(b, &rq, 0);
        CHECK(r && strcmp(r->action.cluster.p, "b") == 0, "route /b/42 -> b");
    }
    xp_vhost_unref(b);
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(&v1->base, NULL);
    protobuf_c_message_free_unpacked(&v2->base, NULL);

    /* Its own domains are checked, with paths rooted at the resource. */
    Envoy__Config__Route__V3__VirtualHost *bad =
        vhost("name: r/bad\ndomains: [x.example, X.example]\nroutes: [{ match: { prefix: / }, "
              "direct_response: { status: 200 } }]\n");
    Envoy__Config__Route__V3__VirtualHost *none = vhost(
        "name: r/none\nroutes: [{ match: { prefix: / }, direct_response: { status: 200 } }]\n");
    xp_diag_init(&d);
    CHECK(bad && xp_translate_vhost(bad, "virtual_host[r/bad]", &d, NULL, NULL) == NULL,
          "a domain twice is rejected");
    CHECK(diag_at(&d, "virtual_host[r/bad].domains[1]") != NULL, "... naming domains[1]");
    CHECK(none && xp_translate_vhost(none, "virtual_host[r/none]", &d, NULL, NULL) == NULL,
          "no domain is rejected");
    CHECK(diag_at(&d, "virtual_host[r/none].domains") != NULL, "... naming domains");
    xp_diag_free(&d);
    if (bad)
        protobuf_c_message_free_unpacked(&bad->base, NULL);
    if (none)
        protobuf_c_message_free_unpacked(&none->base, NULL);
}

static void test_compose(void)
{
    Envoy__Config__Route__V3__RouteConfiguration *m =
        rc("name: r\nvhds: { config_source: { ads: {} } }\n"
           "response_headers_to_add: [{ header: { key: x-rc, value: r } }]\n"
           "virtual_hosts:\n"
           "- { name: base, domains: [base.example], routes: [{ match: { prefix: / }, route: { "
           "cluster: base } }] }\n"
           "- { name: wild, domains: ['*.wild.example'], routes: [{ match: { prefix: / }, "
           "route: { cluster: wild } }] }\n");
    Envoy__Config__Route__V3__VirtualHost *pa =
        vhost("name: r/a\ndomains: [a.example]\nroutes: [{ match: { prefix: / }, route: { cluster: "
              "a } }]\n");
    Envoy__Config__Route__V3__VirtualHost *pb =
        vhost("name: r/b\ndomains: [b.example]\nroutes: [{ match: { prefix: / }, route: { cluster: "
              "b } }]\n");
    Envoy__Config__Route__V3__VirtualHost *pc = vhost("name: r/clash\ndomains: [BASE.example]\n"
                                                      "routes: [{ match: { prefix: / }, route: { "
                                                      "cluster: c } }]\n");
    CHECK(m && pa && pb && pc, "messages parse");
    if (!m || !pa || !pb || !pc)
        return;
    xp_diag_t d;
    xp_diag_init(&d);
    xp_route_table_t *base = xp_translate_route_config(m, "r", &d);
    xp_vhost_t *a = xp_translate_vhost(pa, "virtual_host[r/a]", &d, NULL, NULL);
    xp_vhost_t *b = xp_translate_vhost(pb, "virtual_host[r/b]", &d, NULL, NULL);
    xp_vhost_t *clash = xp_translate_vhost(pc, "virtual_host[r/clash]", &d, NULL, NULL);
    CHECK(base && a && b && clash && d.nerrors == 0, "translated");
    if (!base || !a || !b || !clash)
        return;

    xp_vhost_t *g1[] = {a};
    xp_route_table_t *t1 = xp_route_table_compose(base, g1, 1, "r", &d);
    xp_vhost_t *g2[] = {a, b};
    xp_route_table_t *t2 = xp_route_table_compose(base, g2, 2, "r", &d);
    CHECK(t1 && t2 && d.nerrors == 0, "composed");
    if (t1 && t2) {
        CHECK(t2->nvhosts == 4 && t2->vhosts[0] == base->vhosts[0] &&
                  t2->vhosts[1] == base->vhosts[1] && t2->vhosts[2] == a && t2->vhosts[3] == b,
              "the very virtual host objects, RDS ones first");
        CHECK(t1->vhosts[2] == t2->vhosts[2], "generations share the unchanged VHDS one");
        CHECK_STR(t2->name.p, "r");
        CHECK(t2->vhds.enabled && t2->vhds.source_len == base->vhds.source_len &&
                  t2->vhds.source != base->vhds.source,
              "vhds settings copied");
        CHECK(t2->response_headers.nadd == 1 &&
                  strcmp(t2->response_headers.add[0].value.p, "r") == 0,
              "table-level header edits copied");
        CHECK_STR(served_by(t1, "a.example"), "r/a");
        CHECK(served_by(t1, "b.example") == NULL, "b is not in the first generation");
        CHECK_STR(served_by(t2, "b.example"), "r/b");
        CHECK_STR(served_by(t2, "x.wild.example"), "wild");
    }
    /* Dropping the sources and the older generation leaves t2 whole. */
    xp_route_table_unref(t1);
    xp_route_table_unref(base);
    xp_vhost_unref(a);
    xp_vhost_unref(b);
    if (t2) {
        xp_route_request_t rq = {0};
        rq.method = XP_STR_LIT("GET");
        rq.path = XP_STR_LIT("/");
        rq.host = XP_STR_LIT("a.example");
        const xp_route_t *r = xp_route_table_match(t2, &rq, false, 0, NULL);
        CHECK(r && strcmp(r->action.cluster.p, "a") == 0, "a.example -> a after the unrefs");
        rq.host = XP_STR_LIT("base.example");
        r = xp_route_table_match(t2, &rq, false, 0, NULL);
        CHECK(r && strcmp(r->action.cluster.p, "base") == 0, "base.example -> base");

        /* A domain served twice (case-insensitively) cannot be composed. */
        xp_vhost_t *g3[] = {clash};
        xp_route_table_t *t3 = xp_route_table_compose(t2, g3, 1, "r", &d);
        CHECK(t3 == NULL, "a duplicate domain is refused");
        CHECK(d.nerrors > 0 && diag_at(&d, "r.virtual_hosts[4].domains[0]") != NULL,
              "... naming it");
        xp_route_table_unref(t3);
    }
    xp_route_table_unref(t2);
    xp_vhost_unref(clash);
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    protobuf_c_message_free_unpacked(&pa->base, NULL);
    protobuf_c_message_free_unpacked(&pb->base, NULL);
    protobuf_c_message_free_unpacked(&pc->base, NULL);
}

int main(void)
{
    xp_codec_register(xp_proto_registry_api);
    test_vhds_config();
    test_vhost_translation();
    test_compose();
    xp_router_thread_cleanup();
    CHECK(xp_route_tables_alive() == 0, "every table freed (%lu alive)", xp_route_tables_alive());
    TEST_DONE();
}
