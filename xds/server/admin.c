/* The management server's HTTP admin API (served by http.c):
 *
 *   GET    /ready                      200 "LIVE"
 *   GET    /resources                  {"version": "N", "resources": [{type, type_url,
 *                                      name, version, file}]}
 *   PUT    /resources/<type>/<name>    body: the resource (YAML/JSON, "@type" optional)
 *   DELETE /resources/<type>/<name>
 *   GET    /nodes                      connected nodes, their streams (and REST
 *                                      pollers) and per-type state
 *
 * PUT and DELETE change files in the directory (so the change persists and
 * goes through the same path as an edit), then rescan before answering, so
 * the reply carries the version that includes the change, and published_ns:
 * the CLOCK_MONOTONIC time at which that version was handed to the streams. */
#include "xds/server/server_internal.h"

#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int xp__hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes in place; false on a bad escape or a NUL. */
static bool xp__pct_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%') {
            int h = xp__hex(p[1]), l = h < 0 ? -1 : xp__hex(p[2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return false;
            *o++ = (char)(h * 16 + l);
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return true;
}

/* A file name for a resource: <type>-<name>.json, with everything outside
 * [A-Za-z0-9._-] percent-encoded (so "/" and ".." cannot escape). */
static char *xp__file_for(const char *short_name, const char *name)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "%s-", short_name);
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || (*p == '.' && p != (const unsigned char *)name))
            xp_strbuf_printf(&b, "%c", *p);
        else
            xp_strbuf_printf(&b, "%%%02X", *p);
    }
    xp_strbuf_printf(&b, ".json");
    return xp_strbuf_take(&b);
}

/* Under reload_mu: the file defining (type_url, name) and how many
 * resources it holds; NULL when none. */
static const xp__file_t *xp__file_holding(xp_xds_server_t *srv, const char *type_url,
                                          const char *name)
{
    for (size_t i = 0; i < srv->nfiles; i++)
        for (size_t j = 0; j < srv->files[i].nres; j++)
            if (!strcmp(srv->files[i].res[j]->type_url, type_url) &&
                !strcmp(srv->files[i].res[j]->name, name))
                return &srv->files[i];
    return NULL;
}

static void xp__get_resources(xp_xds_server_t *srv, xp__reply_t *r)
{
    pthread_mutex_lock(&srv->mu);
    const xp__snap_t *s = srv->snap;
    xp_strbuf_printf(&r->body, "{\"version\":\"%s\",\"resources\":[", s ? s->version_str : "");
    for (size_t i = 0; s && i < s->n; i++) {
        const xp__res_t *res = s->v[i];
        xp_strbuf_printf(&r->body, "%s\n{\"type\":\"", i ? "," : "");
        xp_strbuf_json_escape(&r->body, xp__rtype_short(res->type_url));
        xp_strbuf_printf(&r->body, "\",\"type_url\":\"");
        xp_strbuf_json_escape(&r->body, res->type_url);
        xp_strbuf_printf(&r->body, "\",\"name\":\"");
        xp_strbuf_json_escape(&r->body, res->name);
        xp_strbuf_printf(&r->body, "\",\"version\":\"%s\",\"file\":\"", res->version);
        xp_strbuf_json_escape(&r->body, res->file ? res->file : "");
        xp_strbuf_printf(&r->body, "\"}");
    }
    xp_strbuf_printf(&r->body, "]}\n");
    pthread_mutex_unlock(&srv->mu);
    r->status = 200;
    r->ctype = "application/json";
}

/* Decodes a PUT body into the resource message (name filled in from the
 * URL when missing). NULL with a 400 reply on error. */
static ProtobufCMessage *xp__put_decode(const xp__rtype_t *t, const char *name, const char *body,
                                        size_t len, xp__reply_t *r)
{
    const ProtobufCMessageDescriptor *desc = xp_codec_find_type(t->type_url);
    xp_diag_t diag;
    xp_diag_init(&diag);
    ProtobufCMessage *m = NULL;
    yaml_document_t doc;
    if (xp_codec_load_yaml(body, len, &doc, "", &diag) == 0) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        bool has_type = false;
        if (root && root->type == YAML_MAPPING_NODE)
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
                 p < root->data.mapping.pairs.top; p++) {
                yaml_node_t *k = yaml_document_get_node(&doc, p->key);
                has_type |= k && k->type == YAML_SCALAR_NODE &&
                            !strcmp((const char *)k->data.scalar.value, "@type");
            }
        if (!root) {
            xp_diag_error(&diag, "", "empty body");
        } else if (has_type) {
            Google__Protobuf__Any *any = (Google__Protobuf__Any *)xp_codec_parse_node(
                &doc, root, &google__protobuf__any__descriptor, "", &diag);
            if (any) {
                m = xp_any_unpack(any, desc, &diag, "");
                protobuf_c_message_free_unpacked(&any->base, NULL);
            }
        } else {
            m = xp_codec_parse_node(&doc, root, desc, "", &diag);
        }
        yaml_document_delete(&doc);
    }
    if (m) {
        const char *have = xp__msg_name(m);
        if (!have[0]) {
            const char *fname = protobuf_c_message_descriptor_get_field_by_name(desc, "name")
                                    ? "name"
                                    : "cluster_name";
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(desc, fname);
            char **slot = (char **)((char *)m + f->offset);
            if (*slot && *slot != f->default_value)
                free(*slot);
            *slot = xp_strdup(name);
        } else if (strcmp(have, name) != 0) {
            xp_diag_error(&diag, "name", "the resource is named \"%s\" but the URL says \"%s\"",
                          have, name);
        }
    }
    if (diag.nerrors) {
        char *msg = xp_diag_join(&diag, XP_DIAG_ERROR);
        xp__reply(r, 400, "error: %s", msg);
        free(msg);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        m = NULL;
    }
    xp_diag_free(&diag);
    return m;
}

/* `,"published_ns":"<n>"` for version v: when it was handed to the streams
 * (CLOCK_MONOTONIC, comparable with other processes on the host: a client
 * can time how long the push took to take effect), or "" when v is no
 * longer the current snapshot. Static buffer: the admin API is one thread. */
static const char *xp__published(xp_xds_server_t *srv, uint64_t v)
{
    static char buf[48];
    buf[0] = '\0';
    pthread_mutex_lock(&srv->mu);
    if (srv->snap && srv->snap->version == v)
        snprintf(buf, sizeof(buf), ",\"published_ns\":\"%" PRIu64 "\"", srv->snap->published_ns);
    pthread_mutex_unlock(&srv->mu);
    return buf;
}

static void xp__put(xp_xds_server_t *srv, const xp__rtype_t *t, const char *name, const char *body,
                    size_t len, xp__reply_t *r)
{
    ProtobufCMessage *m = xp__put_decode(t, name, body, len, r);
    if (!m)
        return;
    Google__Protobuf__Any *any = xp_any_pack(m);
    protobuf_c_message_free_unpacked(m, NULL);
    char *json = xp_codec_to_json(&any->base, true);
    protobuf_c_message_free_unpacked(&any->base, NULL);

    pthread_mutex_lock(&srv->reload_mu);
    const xp__file_t *f = xp__file_holding(srv, t->type_url, name);
    char *file = NULL;
    if (f && f->nres > 1)
        xp__reply(r, 409,
                  "error: %s \"%s\" is defined in %s/%s with %zu other resources; edit "
                  "that file",
                  t->short_name, name, srv->dir, f->name, f->nres - 1);
    else
        file = f ? xp_strdup(f->name) : xp__file_for(t->short_name, name);
    int err = file ? xp__write_file_atomic(srv->dir, file, json, strlen(json)) : 0;
    pthread_mutex_unlock(&srv->reload_mu);
    free(json);
    if (!file)
        return;
    if (err) {
        xp__reply(r, 500, "error: writing %s/%s: %s", srv->dir, file, strerror(-err));
    } else {
        uint64_t v = xp_xds_server_reload(srv);
        r->status = 200;
        r->ctype = "application/json";
        xp_strbuf_printf(&r->body, "{\"version\":\"%" PRIu64 "\"%s,\"file\":\"", v,
                         xp__published(srv, v));
        xp_strbuf_json_escape(&r->body, file);
        xp_strbuf_printf(&r->body, "\"}\n");
    }
    free(file);
}

static void xp__delete(xp_xds_server_t *srv, const xp__rtype_t *t, const char *name, xp__reply_t *r)
{
    pthread_mutex_lock(&srv->reload_mu);
    const xp__file_t *f = xp__file_holding(srv, t->type_url, name);
    char *path = NULL;
    if (!f)
        xp__reply(r, 404, "error: no %s named \"%s\"", t->short_name, name);
    else if (f->nres > 1)
        xp__reply(r, 409,
                  "error: %s \"%s\" is defined in %s/%s with %zu other resources; edit "
                  "that file",
                  t->short_name, name, srv->dir, f->name, f->nres - 1);
    else
        path = xp_asprintf("%s/%s", srv->dir, f->name);
    int err = path && unlink(path) < 0 ? errno : 0;
    pthread_mutex_unlock(&srv->reload_mu);
    if (!path)
        return;
    if (err) {
        xp__reply(r, 500, "error: removing %s: %s", path, strerror(err));
    } else {
        uint64_t v = xp_xds_server_reload(srv);
        r->status = 200;
        r->ctype = "application/json";
        xp_strbuf_printf(&r->body, "{\"version\":\"%" PRIu64 "\"%s}\n", v, xp__published(srv, v));
    }
    free(path);
}

void xp__admin_route(xp_xds_server_t *srv, const char *method, char *target, const char *body,
                     size_t len, const char *peer, xp__reply_t *r)
{
    (void)peer;
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(target, "/ready")) {
        if (get)
            xp__reply(r, 200, "LIVE");
        else
            xp__reply(r, 405, "use GET");
    } else if (!strcmp(target, "/nodes")) {
        if (!get) {
            xp__reply(r, 405, "use GET");
            return;
        }
        xp__nodes_json(srv, &r->body);
        r->status = 200;
        r->ctype = "application/json";
    } else if (!strcmp(target, "/resources") || !strcmp(target, "/resources/")) {
        if (!get) {
            xp__reply(r, 405, "use GET");
            return;
        }
        xp__get_resources(srv, r);
    } else if (!strncmp(target, "/resources/", 11)) {
        char *type = target + 11, *name = strchr(type, '/');
        if (!name || !name[1]) {
            xp__reply(r, 404, "use /resources/<type>/<name>");
            return;
        }
        *name++ = '\0';
        const xp__rtype_t *t = xp__rtype_by_short(type);
        if (!t) {
            xp__reply(r, 404,
                      "unknown type \"%s\" (listener, route, cluster, endpoint, "
                      "runtime, secret, scoped_route, virtual_host)",
                      type);
            return;
        }
        if (!xp__pct_decode(name)) {
            xp__reply(r, 400, "bad percent-encoding in the name");
            return;
        }
        if (!strcmp(method, "PUT") || !strcmp(method, "POST"))
            xp__put(srv, t, name, body, len, r);
        else if (!strcmp(method, "DELETE"))
            xp__delete(srv, t, name, r);
        else
            xp__reply(r, 405, "use PUT or DELETE");
    } else {
        xp__reply(r, 404, "not found; try /ready, /resources, /nodes");
    }
}
