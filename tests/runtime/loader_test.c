/* xds/runtime: layered_runtime checked and built as Envoy does (Struct
 * flattening, FractionalPercent values, default layers), RTDS responses
 * applied or rejected naming the field, the admin layer, and a new snapshot
 * published for every change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/service/runtime/v3/rtds.pb-c.h"
#include "proto/api_registry.h"
#include "xds/codec/codec.h"
#include "tests/router/check.h"
#include "xds/runtime/loader.h"

typedef Envoy__Config__Bootstrap__V3__LayeredRuntime lr_t;

static lr_t *parse_lr(const char *yaml)
{
    xp_diag_t d;
    xp_diag_init(&d);
    lr_t *lr = (lr_t *)xp_codec_parse(
        yaml, strlen(yaml), &envoy__config__bootstrap__v3__layered_runtime__descriptor, "", &d);
    CHECK(lr != NULL, "test YAML parses");
    xp_diag_free(&d);
    return lr;
}

/* What the publish callback saw. */
static int published;
static xp_runtime_t *last;

static void on_publish(void *ctx, xp_runtime_t *rt)
{
    (void)ctx;
    published++;
    xp_runtime_ref(rt);
    xp_runtime_unref(last);
    last = rt;
}

static const char *val(const char *key)
{
    const xp_runtime_entry_t *e = xp_runtime_get(last, xp_str_c(key));
    return e ? e->raw : NULL;
}

static void check_errors(const char *yaml, const char *path, const char *msg)
{
    lr_t *lr = parse_lr(yaml);
    xp_diag_t d;
    xp_diag_init(&d);
    int n = xp_runtime_check_bootstrap(lr, &d);
    char *all = xp_diag_join(&d, XP_DIAG_ERROR);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        found |= strcmp(d.v[i].path, path) == 0 && strstr(d.v[i].msg, msg) != NULL;
    CHECK(n > 0 && found, "want '%s: ...%s...' in: %s", path, msg, all);
    free(all);
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(&lr->base, NULL);
}

static void test_bootstrap_checks(void)
{
    check_errors("layers: [{name: a, static_layer: {x: null}}]",
                 "layered_runtime.layers[0].static_layer.x", "null is not a runtime value");
    check_errors("layers: [{name: a, static_layer: {x: {y: [1]}}}]",
                 "layered_runtime.layers[0].static_layer.x.y", "a list is not a runtime value");
    check_errors("layers: [{name: a, static_layer: {f: {numerator: 1, denom: 2}}}]",
                 "layered_runtime.layers[0].static_layer.f.denom", "");
    check_errors("layers: [{name: a, admin_layer: {}}, {name: a, static_layer: {}}]",
                 "layered_runtime.layers[1].name", "duplicate layer name 'a'");
    check_errors("layers: [{name: a, admin_layer: {}}, {name: b, admin_layer: {}}]",
                 "layered_runtime.layers[1]", "at most one admin layer");
    check_errors("layers: [{name: a, rtds_layer: {rtds_config: {ads: {}}}}]",
                 "layered_runtime.layers[0].rtds_layer", "name");
    check_errors("layers: [{name: a}]", "layered_runtime.layers[0]", "one of static_layer");
    /* A disk layer is a warning only. */
    lr_t *lr = parse_lr("layers: [{name: d, disk_layer: {symlink_root: /srv}}]");
    xp_diag_t d;
    xp_diag_init(&d);
    CHECK(xp_runtime_check_bootstrap(lr, &d) == 0 && d.n == 1 && d.v[0].sev == XP_DIAG_WARNING,
          "disk layer: one warning");
    xp_diag_free(&d);
    protobuf_c_message_free_unpacked(&lr->base, NULL);
}

static void test_static_and_default(void)
{
    /* No layered_runtime: Envoy's "base" and "admin" layers. */
    published = 0;
    xp_runtime_loader_t *l = xp_runtime_loader_new(NULL, NULL, on_publish, NULL);
    CHECK(published == 1 && last->n_layers == 2 && strcmp(last->layers[0]->name, "base") == 0 &&
              strcmp(last->layers[1]->name, "admin") == 0,
          "default layers base, admin");
    CHECK(xp_runtime_loader_ready(l), "ready without RTDS");
    char *k[] = {"x"}, *v[] = {"1"};
    char *err = NULL;
    CHECK(xp_runtime_loader_modify(l, k, v, 1, &err) == 0 && published == 2 &&
              strcmp(val("x"), "1") == 0,
          "runtime_modify works with the default layers");
    xp_runtime_loader_free(l);

    lr_t *lr = parse_lr("layers:\n"
                        "- name: s\n"
                        "  static_layer:\n"
                        "    health_check: {min_interval: 5, max: 0.5}\n"
                        "    a.b: {c: true}\n"
                        "    pct: {numerator: 7, denominator: TEN_THOUSAND}\n"
                        "    zero: {}\n"
                        "    str: '50'\n"
                        "    big: 1e18\n");
    l = xp_runtime_loader_new(lr, NULL, on_publish, NULL);
    CHECK(strcmp(val("health_check.min_interval"), "5") == 0, "nested keys are dotted");
    CHECK(strcmp(val("health_check.max"), "0.5") == 0, "0.5 as protobuf's JSON prints it");
    CHECK(strcmp(val("a.b.c"), "true") == 0, "dotted and nested keys join");
    CHECK(strcmp(val("big"), "1e+18") == 0, "big: %s", val("big"));
    const xp_runtime_entry_t *e = xp_runtime_get(last, XP_STR_LIT("big"));
    CHECK(e && e->has_uint && e->uint_value == 1000000000000000000ull, "1e+18 is a uint");
    e = xp_runtime_get(last, XP_STR_LIT("pct"));
    CHECK(e && e->has_fraction && e->numerator == 7 && e->denominator == 10000,
          "a FractionalPercent value");
    e = xp_runtime_get(last, XP_STR_LIT("zero"));
    CHECK(e && e->has_fraction && e->numerator == 0 && e->denominator == 100,
          "{} is a FractionalPercent of 0/100, as in Envoy");
    e = xp_runtime_get(last, XP_STR_LIT("str"));
    CHECK(e && e->has_uint && e->uint_value == 50, "a numeric string is a number");
    err = NULL;
    CHECK(xp_runtime_loader_modify(l, k, v, 1, &err) == -1 && err &&
              strcmp(err, "No admin layer specified") == 0,
          "runtime_modify without an admin layer: %s", err ? err : "(none)");
    free(err);
    xp_runtime_loader_free(l);
    protobuf_c_message_free_unpacked(&lr->base, NULL);
}

static ProtobufCMessage *runtime_msg(const char *yaml)
{
    xp_diag_t d;
    xp_diag_init(&d);
    ProtobufCMessage *m = xp_codec_parse(yaml, strlen(yaml),
                                         &envoy__service__runtime__v3__runtime__descriptor, "", &d);
    CHECK(m != NULL, "Runtime YAML parses");
    xp_diag_free(&d);
    return m;
}

static int update(xp_runtime_loader_t *l, const char *name, const char *yaml, char **err)
{
    xp_xds_resource_t r = {.name = (char *)name, .version = (char *)"1", .msg = runtime_msg(yaml)};
    *err = NULL;
    int rc = xp_runtime_loader_on_update(l, &r, 1, NULL, 0, err);
    protobuf_c_message_free_unpacked(r.msg, NULL);
    return rc;
}

static void test_rtds_and_admin(void)
{
    lr_t *lr = parse_lr("layers:\n"
                        "- {name: s, static_layer: {k: from_static, s: 1}}\n"
                        "- {name: r, rtds_layer: {name: rt, rtds_config: {ads: {}}}}\n"
                        "- {name: adm, admin_layer: {}}\n"
                        "- {name: r2, rtds_layer: {name: other, rtds_config: {ads: {}}}}\n");
    published = 0;
    xp_runtime_loader_t *l = xp_runtime_loader_new(lr, NULL, on_publish, NULL);
    CHECK(xp_runtime_loader_n_rtds(l) == 2, "two RTDS layers");
    const Envoy__Config__Core__V3__ConfigSource *src;
    const char *field;
    const char *nm = xp_runtime_loader_rtds(l, 1, &src, &field);
    CHECK(nm && strcmp(nm, "other") == 0 && src &&
              strcmp(field, "layered_runtime.layers[3].rtds_layer.rtds_config") == 0,
          "second RTDS layer: %s at %s", nm, field);
    CHECK(!xp_runtime_loader_ready(l), "not ready before RTDS");
    char *err;
    CHECK(update(l, "rt", "{name: rt, layer: {k: from_rtds, n: {m: 3}}}", &err) == 0 && !err,
          "a valid Runtime is accepted");
    CHECK(published == 2 && strcmp(val("k"), "from_rtds") == 0 && strcmp(val("n.m"), "3") == 0,
          "RTDS overrides static, published");
    CHECK(!xp_runtime_loader_ready(l), "still waiting for 'other'");
    CHECK(update(l, "other", "{name: other, layer: {k: [1]}}", &err) == -1 && err &&
              strstr(err, "runtime[other].layer.k: ") != NULL,
          "invalid: NACKed naming the field: %s", err ? err : "(none)");
    free(err);
    CHECK(published == 2 && strcmp(val("k"), "from_rtds") == 0, "nothing published");
    CHECK(xp_runtime_loader_ready(l), "a rejected first response also ends the wait");
    CHECK(update(l, "rt", "{name: wrong, layer: {k: x}}", &err) == -1 && err &&
              strstr(err, "runtime[rt].name: is 'wrong'") != NULL,
          "a name that differs from the resource name: %s", err ? err : "(none)");
    free(err);
    CHECK(strcmp(val("k"), "from_rtds") == 0, "... keeps the old values");

    char *k[] = {"k"}, *v[] = {"from_admin"};
    CHECK(xp_runtime_loader_modify(l, k, v, 1, &err) == 0, "modify");
    CHECK(strcmp(val("k"), "from_admin") == 0, "admin overrides RTDS");
    CHECK(update(l, "other", "{name: other, layer: {k: from_r2}}", &err) == 0, "r2 accepted");
    CHECK(strcmp(val("k"), "from_r2") == 0, "a layer after admin overrides it");
    char *e0[] = {"k"}, *ev[] = {""};
    CHECK(xp_runtime_loader_modify(l, e0, ev, 1, &err) == 0 && strcmp(val("k"), "from_r2") == 0,
          "remove");
    char *removed[] = {"other"};
    CHECK(xp_runtime_loader_on_update(l, NULL, 0, removed, 1, &err) == 0 &&
              strcmp(val("k"), "from_rtds") == 0,
          "a Delta removal empties the layer");
    CHECK(last->n_layers == 4, "the emptied layer stays (4 layers)");
    xp_runtime_loader_free(l);
    protobuf_c_message_free_unpacked(&lr->base, NULL);
}

int main(void)
{
    xp_codec_register(xp_proto_registry_api);
    test_bootstrap_checks();
    test_static_and_default();
    test_rtds_and_admin();
    xp_runtime_unref(last);
    TEST_DONE();
}
