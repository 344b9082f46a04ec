/* Route tables share unchanged routes with their previous generation: an
 * update that changes one route of many translates only that one, and the
 * others are the very same objects (no copy, no regex compiled again). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/route/v3/route.pb-c.h"
#include "proto/api_registry.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"
#include "proxy/router/route.h"
#include "xds/codec/codec.h"
#include "xds/translate/route.h"

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* n workspace routes; route `changed` gets another rewrite. */
static Envoy__Config__Route__V3__RouteConfiguration *config(int n, int changed)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "name: ws\nvirtual_hosts:\n- name: ide\n  domains: ['*']\n  routes:\n");
    for (int i = 0; i < n; i++)
        xp_strbuf_printf(&b,
                         "  - match: { safe_regex: { regex: '/webapp-01/ide-%d(/|$)(.*)' } }\n"
                         "    route: { cluster: c, regex_rewrite: { pattern: { regex: "
                         "'^/webapp-01/ide-%d(/|$)(.*)' }, substitution: '/%s\\2' } }\n",
                         i, i, i == changed ? "v2" : "");
    xp_diag_t d;
    xp_diag_init(&d);
    void *m = xp_codec_parse(b.p, b.len, &envoy__config__route__v3__route_configuration__descriptor,
                             "", &d);
    xp_diag_print(&d, stderr, "");
    xp_diag_free(&d);
    free(b.p);
    return m;
}

int main(void)
{
    xp_codec_register(xp_proto_registry_api);
    enum { N = 2000 };
    Envoy__Config__Route__V3__RouteConfiguration *a = config(N, -1), *b = config(N, 7);
    CHECK(a && b);
    xp_diag_t d;
    xp_diag_init(&d);
    size_t reused = 99;
    xp_route_table_t *t1 = xp_translate_route_config_reuse(a, "route_config", &d, NULL, &reused);
    CHECK(t1 != NULL && reused == 0);
    xp_route_table_t *t2 = xp_translate_route_config_reuse(b, "route_config", &d, t1, &reused);
    CHECK(t2 != NULL);
    CHECK(reused == N - 1);
    if (t1 && t2) {
        const xp_vhost_t *v1 = t1->vhosts[0], *v2 = t2->vhosts[0];
        CHECK(v1->nroutes == N && v2->nroutes == N);
        CHECK(v1->routes[0] == v2->routes[0]); /* shared, same object */
        CHECK(v1->routes[N - 1] == v2->routes[N - 1]);
        CHECK(v1->routes[7] != v2->routes[7]); /* the changed one is new */
    }
    /* The old generation goes; the shared routes live on in the new one. */
    xp_route_table_unref(t1);
    if (t2) {
        xp_route_request_t rq = {0};
        rq.method = XP_STR_LIT("GET");
        rq.path = XP_STR_LIT("/webapp-01/ide-1999/x");
        rq.host = XP_STR_LIT("a");
        const xp_route_t *r = xp_route_table_match(t2, &rq, false, 0, NULL);
        CHECK(r != NULL);
        char *out = NULL;
        size_t len = 0;
        CHECK(r && xp_route_rewrite_path(r, &rq, &out, &len) == 0 && out && strcmp(out, "/x") == 0);
        free(out);
        rq.path = XP_STR_LIT("/webapp-01/ide-7/x");
        r = xp_route_table_match(t2, &rq, false, 0, NULL);
        CHECK(r && xp_route_rewrite_path(r, &rq, &out, &len) == 0 && out &&
              strcmp(out, "/v2x") == 0);
        free(out);
    }
    xp_route_table_unref(t2);
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    protobuf_c_message_free_unpacked(&b->base, NULL);
    printf("%s\n", failures ? "FAILED" : "reuse_test: all checks passed");
    return failures != 0;
}
