#include "xds/bootstrap/bootstrap.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "proto/api_registry.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"
#include "xds/runtime/loader.h"
#include "xds/translate/cluster.h"
#include "xds/translate/listener.h"
#include "xds/translate/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef Envoy__Config__Bootstrap__V3__Bootstrap xp__bootstrap_pb_t;

struct xp_bootstrap {
    xp__bootstrap_pb_t *pb;
    xp_listener_cfg_t **listeners;
    size_t n_listeners;
    xp_cluster_cfg_t **clusters;
    size_t n_clusters;
    bool has_admin;
    xp_addr_t admin_addr;
    char *admin_log_path;
    size_t admin_logs_unimplemented; /* admin access loggers not implemented */
    time_t loaded_at;
};

void xp_bootstrap_register_types(void)
{
    xp_codec_register(xp_proto_registry_api);
}

static char *xp__read_file(const char *path, size_t *len, xp_diag_t *diag)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        xp_diag_error(diag, "", "cannot read config file '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = xp_malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            buf = xp_realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static bool xp__has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* As Envoy: ".pb" is binary, ".json"/".yaml"/".yml" text (our codec reads
 * both the same way), anything else is tried as YAML. */
static xp__bootstrap_pb_t *xp__parse_file(const char *path, xp_diag_t *diag)
{
    size_t len;
    char *text = xp__read_file(path, &len, diag);
    if (text == NULL)
        return NULL;
    ProtobufCMessage *m;
    if (xp__has_suffix(path, ".pb")) {
        m = xp_pb_unpack(&envoy__config__bootstrap__v3__bootstrap__descriptor, len,
                         (const uint8_t *)text);
        if (m == NULL)
            xp_diag_error(diag, "",
                          "'%s' is not a binary Bootstrap message (or its messages nest deeper "
                          "than %d)",
                          path, XP_PB_MAX_DEPTH);
        else if (xp_codec_check_unknown_fields(m, "", diag) > 0) {
            protobuf_c_message_free_unpacked(m, NULL);
            m = NULL;
        }
    } else {
        m = xp_codec_parse(text, len, &envoy__config__bootstrap__v3__bootstrap__descriptor, "",
                           diag);
    }
    free(text);
    return (xp__bootstrap_pb_t *)m;
}

static void xp__err(xp_diag_t *d, const char *path, const char *msg)
{
    xp_diag_error(d, path, "%s", msg);
}

/* Fields of the Bootstrap that change behaviour and that xproxy does not
 * implement: naming them beats silently running differently from Envoy. */
static void xp__check_unsupported(const xp__bootstrap_pb_t *b, xp_diag_t *d)
{
    if (b->hds_config)
        xp__err(d, "hds_config", "health discovery service is not supported");
    if (b->n_bootstrap_extensions)
        xp__err(d, "bootstrap_extensions", "bootstrap extensions are not supported");
    if (b->n_fatal_actions)
        xp__err(d, "fatal_actions", "fatal actions are not supported");
    if (b->default_regex_engine)
        xp__err(d, "default_regex_engine", "xproxy uses its own regex engine (PCRE2)");
    if (b->listener_manager)
        xp__err(d, "listener_manager", "custom listener managers are not supported");
    if (b->header_prefix && b->header_prefix[0])
        xp__err(d, "header_prefix", "header_prefix is not supported");
    if (b->static_resources && b->static_resources->n_secrets)
        xp__err(d, "static_resources.secrets", "secrets (TLS) are not supported yet");
    if (b->admin && b->admin->n_socket_options)
        xp__err(d, "admin.socket_options", "socket_options are not supported yet");
    xp_runtime_check_bootstrap(b->layered_runtime, d);
}

static void xp__apply_cli(xp__bootstrap_pb_t *b, const xp_options_t *o)
{
    if (!o->service_node && !o->service_cluster && !o->service_zone)
        return;
    if (b->node == NULL) {
        b->node = xp_malloc(sizeof(*b->node));
        envoy__config__core__v3__node__init(b->node);
    }
    /* protobuf-c frees strings that differ from the default ("" is static),
     * so replace them with heap copies. */
    if (o->service_node) {
        if (b->node->id && b->node->id != protobuf_c_empty_string)
            free(b->node->id);
        b->node->id = xp_strdup(o->service_node);
    }
    if (o->service_cluster) {
        if (b->node->cluster && b->node->cluster != protobuf_c_empty_string)
            free(b->node->cluster);
        b->node->cluster = xp_strdup(o->service_cluster);
    }
    if (o->service_zone) {
        if (b->node->locality == NULL) {
            b->node->locality = xp_malloc(sizeof(*b->node->locality));
            envoy__config__core__v3__locality__init(b->node->locality);
        }
        if (b->node->locality->zone && b->node->locality->zone != protobuf_c_empty_string)
            free(b->node->locality->zone);
        b->node->locality->zone = xp_strdup(o->service_zone);
    }
}

static void xp__translate_static(xp_bootstrap_t *bs, xp_diag_t *d)
{
    const Envoy__Config__Bootstrap__V3__Bootstrap__StaticResources *sr = bs->pb->static_resources;
    if (sr == NULL)
        return;
    xp_path_t path;
    xp_path_init(&path, "static_resources");

    bs->listeners = xp_calloc(sr->n_listeners + 1, sizeof(*bs->listeners));
    size_t m = xp_path_push_field(&path, "listeners");
    for (size_t i = 0; i < sr->n_listeners; i++) {
        size_t mi = xp_path_push_index(&path, i);
        xp_listener_cfg_t *l = xp_translate_listener(sr->listeners[i], &path, d);
        if (l) {
            for (size_t j = 0; j < bs->n_listeners; j++) {
                if (strcmp(bs->listeners[j]->name, l->name) == 0) {
                    size_t mn = xp_path_push_field(&path, "name");
                    xp_diag_error(d, xp_path_str(&path), "duplicate listener name '%s'", l->name);
                    xp_path_pop(&path, mn);
                } else if (xp_addr_port(&l->addr) != 0 &&
                           strcmp(bs->listeners[j]->addr.str, l->addr.str) == 0) {
                    size_t ma = xp_path_push_field(&path, "address");
                    xp_diag_error(d, xp_path_str(&path),
                                  "listener '%s' has the same address %s as listener '%s'", l->name,
                                  l->addr.str, bs->listeners[j]->name);
                    xp_path_pop(&path, ma);
                }
            }
            bs->listeners[bs->n_listeners++] = l;
        }
        xp_path_pop(&path, mi);
    }
    xp_path_pop(&path, m);

    bs->clusters = xp_calloc(sr->n_clusters + 1, sizeof(*bs->clusters));
    m = xp_path_push_field(&path, "clusters");
    for (size_t i = 0; i < sr->n_clusters; i++) {
        size_t mi = xp_path_push_index(&path, i);
        xp_cluster_cfg_t *c = xp_translate_cluster(sr->clusters[i], &path, d);
        if (c) {
            for (size_t j = 0; j < bs->n_clusters; j++) {
                if (strcmp(bs->clusters[j]->name, c->name) == 0) {
                    size_t mn = xp_path_push_field(&path, "name");
                    xp_diag_error(d, xp_path_str(&path), "duplicate cluster name '%s'", c->name);
                    xp_path_pop(&path, mn);
                }
            }
            bs->clusters[bs->n_clusters++] = c;
        }
        xp_path_pop(&path, mi);
    }
    xp_path_pop(&path, m);
}

static void xp__translate_admin(xp_bootstrap_t *bs, xp_diag_t *d)
{
    const Envoy__Config__Bootstrap__V3__Admin *a = bs->pb->admin;
    if (a == NULL)
        return;
    xp_path_t path;
    xp_path_init(&path, "admin");
    if (a->address == NULL) {
        /* Envoy runs without an admin server when no address is given. */
        return;
    }
    if (xp_tr_address(a->address, &path, "address", false, &bs->admin_addr, NULL, NULL, d) == 0)
        bs->has_admin = true;
    if (a->access_log_path && a->access_log_path[0])
        bs->admin_log_path = xp_strdup(a->access_log_path);
    if (a->n_access_log) {
        xp_access_log_cfg_t *logs = NULL;
        size_t n = 0;
        if (xp_translate_access_logs(a->access_log, a->n_access_log, &path, d, &logs, &n) == 0) {
            /* The admin server writes one file; the first file logger wins. */
            if (n && bs->admin_log_path == NULL)
                bs->admin_log_path = xp_strdup(logs[0].path);
            bs->admin_logs_unimplemented = a->n_access_log - n;
            for (size_t i = 0; i < n; i++)
                xp_access_log_cfg_clear(&logs[i]);
            free(logs);
        }
    }
}

xp_bootstrap_t *xp_bootstrap_load(const xp_options_t *opts, xp_diag_t *diag)
{
    xp_bootstrap_register_types();
    size_t errors0 = diag->nerrors;
    xp__bootstrap_pb_t *pb = NULL;
    if (opts->config_path)
        pb = xp__parse_file(opts->config_path, diag);
    else {
        pb = xp_malloc(sizeof(*pb));
        envoy__config__bootstrap__v3__bootstrap__init(pb);
    }
    if (pb == NULL)
        return NULL;
    if (opts->config_yaml) {
        xp__bootstrap_pb_t *over = (xp__bootstrap_pb_t *)xp_codec_parse(
            opts->config_yaml, strlen(opts->config_yaml),
            &envoy__config__bootstrap__v3__bootstrap__descriptor, "", diag);
        if (over == NULL) {
            protobuf_c_message_free_unpacked(&pb->base, NULL);
            return NULL;
        }
        xp_proto_merge(&pb->base, &over->base);
        protobuf_c_message_free_unpacked(&over->base, NULL);
    }
    xp__apply_cli(pb, opts);

    xp_bootstrap_t *bs = xp_calloc(1, sizeof(*bs));
    bs->pb = pb;
    bs->loaded_at = time(NULL);
    xp__check_unsupported(pb, diag);
    xp_tr_set_node(pb->node ? pb->node->id : NULL, pb->node ? pb->node->cluster : NULL);
    xp__translate_static(bs, diag);
    xp__translate_admin(bs, diag);
    if (diag->nerrors != errors0) {
        xp_bootstrap_free(bs);
        return NULL;
    }
    return bs;
}

void xp_bootstrap_free(xp_bootstrap_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_listeners; i++)
        xp_listener_cfg_unref(b->listeners[i]);
    free(b->listeners);
    for (size_t i = 0; i < b->n_clusters; i++)
        xp_cluster_cfg_unref(b->clusters[i]);
    free(b->clusters);
    free(b->admin_log_path);
    if (b->pb)
        protobuf_c_message_free_unpacked(&b->pb->base, NULL);
    free(b);
}

xp_listener_cfg_t *const *xp_bootstrap_listeners(const xp_bootstrap_t *b, size_t *n)
{
    *n = b->n_listeners;
    return b->listeners;
}

xp_cluster_cfg_t *const *xp_bootstrap_clusters(const xp_bootstrap_t *b, size_t *n)
{
    *n = b->n_clusters;
    return b->clusters;
}

bool xp_bootstrap_admin(const xp_bootstrap_t *b, const xp_addr_t **addr,
                        const char **access_log_path, size_t *logs_unimplemented)
{
    *addr = &b->admin_addr;
    *access_log_path = b->admin_log_path;
    *logs_unimplemented = b->admin_logs_unimplemented;
    return b->has_admin;
}

const struct Envoy__Config__Bootstrap__V3__Bootstrap *xp_bootstrap_pb(const xp_bootstrap_t *b)
{
    return b->pb;
}

char *xp_bootstrap_node_json(const xp_bootstrap_t *b)
{
    if (b->pb->node == NULL)
        return xp_strdup("{}");
    return xp_codec_to_json(&b->pb->node->base, false);
}
