/* Route tables share unchanged routes with their previous generation: an
 * update that changes one route of many translates only that one, and the
 * others are the very same objects (no copy, no regex compiled again). The
 * same from serialized bytes (as RDS delivers them): unchanged routes are
 * not even decoded, and what is decoded is checked as the message path is. */
#include <stdbool.h>
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
#include "tests/lib/check.h"

/* n workspace routes; route `changed` gets another rewrite, route `skip` is
 * left out, and before route `ins` goes one for workspace "x". */
static Envoy__Config__Route__V3__RouteConfiguration *config_ex(int n, int changed, int skip,
                                                               int ins)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "name: ws\nvirtual_hosts:\n- name: ide\n  domains: ['*']\n  routes:\n");
    for (int i = 0; i < n; i++) {
        if (i == ins)
            xp_strbuf_printf(&b, "  - match: { prefix: '/webapp-01/ide-x/' }\n"
                                 "    route: { cluster: c, prefix_rewrite: '/new/' }\n");
        if (i == skip)
            continue;
        xp_strbuf_printf(&b,
                         "  - match: { safe_regex: { regex: '/webapp-01/ide-%d(/|$)(.*)' } }\n"
                         "    route: { cluster: c, regex_rewrite: { pattern: { regex: "
                         "'^/webapp-01/ide-%d(/|$)(.*)' }, substitution: '/%s\\2' } }\n",
                         i, i, i == changed ? "v2" : "");
    }
    xp_diag_t d;
    xp_diag_init(&d);
    void *m = xp_codec_parse(b.p, b.len, &envoy__config__route__v3__route_configuration__descriptor,
                             "", &d);
    xp_diag_print(&d, stderr, "");
    xp_diag_free(&d);
    free(b.p);
    return m;
}

static Envoy__Config__Route__V3__RouteConfiguration *config(int n, int changed)
{
    return config_ex(n, changed, -1, -1);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1);
    protobuf_c_message_pack(m, b);
    return b;
}

static bool has_error(const xp_diag_t *d, const char *path_part, const char *msg_part)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].sev == XP_DIAG_ERROR && strstr(d->v[i].path, path_part) &&
            strstr(d->v[i].msg, msg_part))
            return true;
    for (size_t i = 0; i < d->n; i++)
        fprintf(stderr, "  diag: %s: %s\n", d->v[i].path, d->v[i].msg);
    return false;
}

/* What t does with a GET of path for host: the path rewritten by the
 * route it matches (*r), or "(none)". */
static const char *rewrite_at(const xp_route_table_t *t, const char *host, const char *path,
                              const xp_route_t **r)
{
    static char buf[128];
    xp_route_request_t rq = {0};
    rq.method = XP_STR_LIT("GET");
    rq.path = xp_str_c(path);
    rq.host = xp_str_c(host);
    *r = xp_route_table_match(t, &rq, false, 0, NULL);
    char *out = NULL;
    size_t len = 0;
    if (*r == NULL || xp_route_rewrite_path(*r, &rq, &out, &len) != 0 || out == NULL)
        return "(none)";
    snprintf(buf, sizeof(buf), "%s", out);
    free(out);
    return buf;
}

static const char *rewrite(const xp_route_table_t *t, const char *path, const xp_route_t **r)
{
    return rewrite_at(t, "a", path, r);
}

/* From bytes: the same sharing, the rest of the message translated as from
 * the decoded message, errors in new routes found with their paths. */
static void bytes_path(const Envoy__Config__Route__V3__RouteConfiguration *a,
                       Envoy__Config__Route__V3__RouteConfiguration *b, int n)
{
    size_t la, lb;
    uint8_t *ba = pack(&a->base, &la), *bb = pack(&b->base, &lb);
    xp_diag_t d;
    xp_diag_init(&d);
    size_t reused = 99;
    xp_route_table_t *t1 = xp_translate_route_config_bytes(ba, la, "rc", &d, NULL, &reused);
    CHECK(t1 != NULL && reused == 0 && d.nerrors == 0);
    xp_route_table_t *t2 = xp_translate_route_config_bytes(bb, lb, "rc", &d, t1, &reused);
    CHECK(t2 != NULL && reused == (size_t)n - 1 && d.nerrors == 0);
    /* The decoded-message path agrees on everything but the sharing. */
    xp_route_table_t *m2 = xp_translate_route_config_reuse(b, "rc", &d, NULL, NULL);
    CHECK(m2 != NULL);
    if (t1 && t2 && m2) {
        CHECK(xp_str_eq(t2->name, m2->name) && t2->nvhosts == m2->nvhosts);
        const xp_vhost_t *v1 = t1->vhosts[0], *v2 = t2->vhosts[0], *vm = m2->vhosts[0];
        CHECK(v2->nroutes == (size_t)n && vm->nroutes == (size_t)n);
        CHECK(v2->ndomains == vm->ndomains && v2->ndomains == 1 &&
              xp_str_eq(v2->domains[0], vm->domains[0]));
        CHECK(xp_str_eq(v2->name, vm->name));
        CHECK(v1->routes[0] == v2->routes[0] && v1->routes[n - 1] == v2->routes[n - 1]);
        CHECK(v1->routes[7] != v2->routes[7]);
        for (int i = 0; i < n; i += 97)
            CHECK(xp_str_eq(v2->routes[i]->match.path, vm->routes[i]->match.path) &&
                  xp_str_eq(v2->routes[i]->action.regex_substitution,
                            vm->routes[i]->action.regex_substitution));
        const xp_route_t *r;
        CHECK(strcmp(rewrite(t2, "/webapp-01/ide-7/x", &r), "/v2x") == 0 && r == v2->routes[7]);
    }
    xp_route_table_unref(m2);

    /* A changed route with a field xproxy does not know: the table fails,
     * naming the route; the unchanged routes around it are not looked at. */
    Envoy__Config__Route__V3__Route *r5 = b->virtual_hosts[0]->routes[5];
    uint8_t one = 1;
    ProtobufCMessageUnknownField uf = {
        .tag = 999, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = &one};
    r5->base.n_unknown_fields = 1;
    r5->base.unknown_fields = &uf;
    size_t lu;
    uint8_t *bu = pack(&b->base, &lu);
    r5->base.n_unknown_fields = 0;
    r5->base.unknown_fields = NULL;
    xp_diag_t du;
    xp_diag_init(&du);
    CHECK(xp_translate_route_config_bytes(bu, lu, "rc", &du, t2, &reused) == NULL);
    CHECK(has_error(&du, "rc.virtual_hosts[0].routes[5]", "999"));
    xp_diag_free(&du);

    /* Bytes that are not a RouteConfiguration. */
    xp_diag_init(&du);
    CHECK(xp_translate_route_config_bytes(bb, lb / 2, "rc", &du, t2, &reused) == NULL);
    CHECK(has_error(&du, "rc", "cannot decode"));
    xp_diag_free(&du);
    static const uint8_t junk[] = {0x12, 0x05, 0x1a, 0x7f, 0x00, 0x00, 0x00};
    xp_diag_init(&du);
    CHECK(xp_translate_route_config_bytes(junk, sizeof(junk), "rc", &du, NULL, &reused) == NULL);
    CHECK(has_error(&du, "rc", "cannot decode"));
    xp_diag_free(&du);

    xp_route_table_unref(t1);
    xp_route_table_unref(t2);
    xp_diag_free(&d);
    free(ba);
    free(bb);
    free(bu);
}

/* From bytes, a route put in and then one taken out (as a workspace comes and
 * goes): the routes before and after are the very objects of the previous
 * generation, at their new places, and the index is patched, not built
 * again, yet matches as a new one would. */
static void shifted(int n)
{
    Envoy__Config__Route__V3__RouteConfiguration *c[3] = {config(n, -1), config_ex(n, -1, -1, 5),
                                                          config_ex(n, -1, 10, 5)};
    size_t len[3];
    uint8_t *b[3];
    for (int k = 0; k < 3; k++)
        b[k] = pack(&c[k]->base, &len[k]);
    xp_diag_t d;
    xp_diag_init(&d);
    size_t reused = 99;
    xp_route_table_t *t[3];
    t[0] = xp_translate_route_config_bytes(b[0], len[0], "rc", &d, NULL, &reused);
    t[1] = xp_translate_route_config_bytes(b[1], len[1], "rc", &d, t[0], &reused);
    CHECK(t[1] && reused == (size_t)n && d.nerrors == 0);
    t[2] = xp_translate_route_config_bytes(b[2], len[2], "rc", &d, t[1], &reused);
    CHECK(t[2] && reused == (size_t)n && d.nerrors == 0);
    if (t[0] && t[1] && t[2]) {
        const xp_vhost_t *v0 = t[0]->vhosts[0], *v1 = t[1]->vhosts[0], *v2 = t[2]->vhosts[0];
        CHECK(v1->nroutes == (size_t)n + 1 && v2->nroutes == (size_t)n);
        CHECK(xp_vhost_index_patches(v0) == 0 && xp_vhost_index_patches(v1) == 1 &&
              xp_vhost_index_patches(v2) == 2);
        bool same = true;
        for (int i = 0; i < n; i++) {
            same = same && v1->routes[i < 5 ? i : i + 1] == v0->routes[i];
            if (i != 10)
                same = same && v2->routes[i < 5 ? i : i < 10 ? i + 1 : i] == v0->routes[i];
        }
        CHECK(same); /* the routes around the change are the previous objects */
        CHECK(v2->routes[5] == v1->routes[5] && v1->routes[5] != v0->routes[5]);
        const xp_route_t *r;
        CHECK(strcmp(rewrite(t[1], "/webapp-01/ide-x/a", &r), "/new/a") == 0 && r == v1->routes[5]);
        CHECK(strcmp(rewrite(t[0], "/webapp-01/ide-x/a", &r), "(none)") == 0);
        CHECK(strcmp(rewrite(t[1], "/webapp-01/ide-10/a", &r), "/a") == 0 && r == v0->routes[10]);
        CHECK(strcmp(rewrite(t[2], "/webapp-01/ide-10/a", &r), "(none)") == 0);
        CHECK(strcmp(rewrite(t[2], "/webapp-01/ide-11/a", &r), "/a") == 0 && r == v0->routes[11] &&
              r == v2->routes[11]);
        char path[64];
        snprintf(path, sizeof(path), "/webapp-01/ide-%d/z", n - 1);
        CHECK(strcmp(rewrite(t[2], path, &r), "/z") == 0 && r == v0->routes[n - 1]);
    }
    for (int k = 0; k < 3; k++) {
        xp_route_table_unref(t[k]);
        protobuf_c_message_free_unpacked(&c[k]->base, NULL);
        free(b[k]);
    }
    xp_diag_free(&d);
}

/* Two virtual hosts of n routes each, in the order given. */
static uint8_t *two_vhosts(int n, bool swapped, size_t *len)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "name: ws\nvirtual_hosts:\n");
    for (int v = 0; v < 2; v++) {
        int which = swapped ? 1 - v : v;
        xp_strbuf_printf(&b, "- name: h%d\n  domains: ['h%d']\n  routes:\n", which, which);
        for (int i = 0; i < n; i++)
            xp_strbuf_printf(&b,
                             "  - match: { prefix: '/w-%d/' }\n"
                             "    route: { cluster: c, prefix_rewrite: '/h%d/' }\n",
                             i, which);
    }
    xp_diag_t d;
    xp_diag_init(&d);
    ProtobufCMessage *m = xp_codec_parse(
        b.p, b.len, &envoy__config__route__v3__route_configuration__descriptor, "", &d);
    xp_diag_print(&d, stderr, "");
    xp_diag_free(&d);
    free(b.p);
    uint8_t *out = m ? pack(m, len) : NULL;
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    return out;
}

/* Virtual hosts that change places have no previous generation to be
 * compared with side by side: their routes are still shared, found by hash
 * among all the previous table's, and their indexes are built in full. */
static void moved_vhosts(int n)
{
    size_t la, lb;
    uint8_t *a = two_vhosts(n, false, &la), *b = two_vhosts(n, true, &lb);
    CHECK(a && b);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    xp_diag_t d;
    xp_diag_init(&d);
    size_t reused = 99;
    xp_route_table_t *t1 = xp_translate_route_config_bytes(a, la, "rc", &d, NULL, &reused);
    xp_route_table_t *t2 = xp_translate_route_config_bytes(b, lb, "rc", &d, t1, &reused);
    CHECK(t1 && t2 && reused == 2 * (size_t)n && d.nerrors == 0);
    if (t1 && t2) {
        CHECK(xp_str_eq(t2->vhosts[0]->name, t1->vhosts[1]->name));
        CHECK(t2->vhosts[0]->routes[3] == t1->vhosts[1]->routes[3]);
        CHECK(xp_vhost_index_patches(t2->vhosts[0]) == 0 &&
              xp_vhost_index_patches(t2->vhosts[1]) == 0);
        const xp_route_t *r;
        CHECK(strcmp(rewrite_at(t2, "h1", "/w-3/x", &r), "/h1/x") == 0 &&
              r == t1->vhosts[1]->routes[3]);
    }
    xp_route_table_unref(t1);
    xp_route_table_unref(t2);
    xp_diag_free(&d);
    free(a);
    free(b);
}

/* The wire reader the bytes path stands on. */
static void wire(void)
{
    /* name (1) = "ab", a varint (5) = 300, a fixed32 (7), name again = "xyz" */
    static const uint8_t m[] = {0x0a, 2, 'a', 'b',  0x28, 0xac, 0x02, 0x3d, 1,
                                2,    3, 4,   0x0a, 3,    'x',  'y',  'z'};
    const uint8_t *s = NULL;
    size_t slen = 0;
    CHECK(xp_wire_string(m, sizeof(m), 1, &s, &slen) == 1 && slen == 3 && !memcmp(s, "xyz", 3));
    CHECK(xp_wire_string(m, sizeof(m), 2, &s, &slen) == 0);
    const uint8_t *p = m;
    xp_wire_field_t f;
    CHECK(xp_wire_next(&p, m + sizeof(m), &f) == 0 && f.field == 1 && f.wire_type == 2 &&
          f.len == 2 && f.start == m && f.end == m + 4);
    CHECK(xp_wire_next(&p, m + sizeof(m), &f) == 0 && f.field == 5 && f.wire_type == 0 &&
          f.end == m + 7);
    CHECK(xp_wire_next(&p, m + sizeof(m), &f) == 0 && f.field == 7 && f.len == 4);
    /* malformed: a LEN past the end, a cut varint, a group, field 0 */
    static const uint8_t over[] = {0x0a, 9, 'a'}, cut[] = {0x28, 0xff}, grp[] = {0x0b},
                         zero[] = {0x00, 0x01};
    CHECK(xp_wire_string(over, sizeof(over), 1, &s, &slen) < 0);
    CHECK(xp_wire_string(cut, sizeof(cut), 1, &s, &slen) < 0);
    CHECK(xp_wire_string(grp, sizeof(grp), 1, &s, &slen) < 0);
    CHECK(xp_wire_string(zero, sizeof(zero), 1, &s, &slen) < 0);
    uint8_t v[10];
    CHECK(xp_wire_put_varint(v, 300) == 2 && v[0] == 0xac && v[1] == 0x02);
    CHECK(xp_wire_put_varint(v, 0) == 1 && v[0] == 0);
}

int main(void)
{
    xp_codec_register(xp_proto_registry_api);
    wire();
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
        const xp_route_t *r;
        CHECK(strcmp(rewrite(t2, "/webapp-01/ide-1999/x", &r), "/x") == 0 && r != NULL);
        CHECK(strcmp(rewrite(t2, "/webapp-01/ide-7/x", &r), "/v2x") == 0 && r != NULL);
    }
    xp_route_table_unref(t2);
    xp_diag_free(&d);
    if (a && b)
        bytes_path(a, b, N);
    shifted(N);
    moved_vhosts(50);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    protobuf_c_message_free_unpacked(&b->base, NULL);
    return check_result("reuse_test");
}
