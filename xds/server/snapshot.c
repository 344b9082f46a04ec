/* The resource directory: parsing files into resources, rescanning, and
 * building immutable snapshots.
 *
 * A rescan reads every file and compares a hash of its content with what
 * was last parsed, instead of trusting mtimes: file timestamps are only as
 * fine as the kernel's clock tick, so a file rewritten twice within a tick
 * would otherwise keep stale content. Reading everything costs O(total
 * bytes) per change, which is nothing for the directories this server is
 * meant for (tests, demos). */
#include "xds/server/server_internal.h"

#include "proxy/common/error.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/xxhash.h"
#include "xds/codec/codec.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "envoy/config/route/v3/route_components.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

static const xp__rtype_t xp__rtypes[] = {
    {"listener", XP__TYPE_PREFIX "envoy.config.listener.v3.Listener", true, "listeners"},
    {"route", XP__TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration", false, "routes"},
    {"cluster", XP__TYPE_PREFIX "envoy.config.cluster.v3.Cluster", true, "clusters"},
    {"endpoint", XP__TYPE_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment", false,
     "endpoints"},
    {"runtime", XP__TYPE_PREFIX "envoy.service.runtime.v3.Runtime", false, "runtime"},
    {"secret", XP__TYPE_PREFIX "envoy.extensions.transport_sockets.tls.v3.Secret", false,
     "secrets"},
    {"scoped_route", XP__TYPE_PREFIX "envoy.config.route.v3.ScopedRouteConfiguration", true,
     "scoped-routes"},
    /* VHDS is Delta only: no REST path */
    {"virtual_host", XP__VHOST_URL, false, NULL},
};

const xp__rtype_t *xp__rtype_by_short(const char *short_name)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__rtypes); i++)
        if (strcmp(xp__rtypes[i].short_name, short_name) == 0)
            return &xp__rtypes[i];
    return NULL;
}

const xp__rtype_t *xp__rtype_by_rest(const char *rest)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__rtypes); i++)
        if (xp__rtypes[i].rest && strcmp(xp__rtypes[i].rest, rest) == 0)
            return &xp__rtypes[i];
    return NULL;
}

const xp__rtype_t *xp__rtype_by_url(const char *type_url)
{
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__rtypes); i++)
        if (strcmp(xp__rtypes[i].type_url, type_url) == 0)
            return &xp__rtypes[i];
    return NULL;
}

const char *xp__rtype_short(const char *type_url)
{
    const xp__rtype_t *t = xp__rtype_by_url(type_url);
    return t ? t->short_name : type_url;
}

void xp__res_unref(xp__res_t *r)
{
    if (!r || --r->refs > 0)
        return;
    free(r->type_url);
    free(r->name);
    free(r->file);
    for (size_t i = 0; i < r->ndomains; i++)
        free(r->domains[i]);
    free(r->domains);
    if (r->any)
        protobuf_c_message_free_unpacked(&r->any->base, NULL);
    free(r);
}

void xp__snap_free(xp__snap_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        xp__res_unref(s->v[i]);
    free(s->v);
    free(s);
}

static int xp__res_key_cmp(const char *type_a, const char *name_a, const xp__res_t *b)
{
    int c = strcmp(type_a, b->type_url);
    return c ? c : strcmp(name_a, b->name);
}

xp__res_t *xp__snap_find(const xp__snap_t *s, const char *type_url, const char *name)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = xp__res_key_cmp(type_url, name, s->v[mid]);
        if (c == 0)
            return s->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

size_t xp__snap_type_begin(const xp__snap_t *s, const char *type_url)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(s->v[mid]->type_url, type_url) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const char *xp__msg_name(const ProtobufCMessage *m)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "name");
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "cluster_name");
    if (!f || f->type != PROTOBUF_C_TYPE_STRING || f->label == PROTOBUF_C_LABEL_REPEATED)
        return "";
    const char *s = *(const char *const *)((const char *)m + f->offset);
    return s ? s : "";
}

/* What on-demand VHDS needs of a VirtualHost: its domains (lower-cased)
 * and whether it is held back until asked for. */
static void xp__vhost_info(xp__res_t *r, const Envoy__Config__Route__V3__VirtualHost *vh)
{
    r->domains = xp_calloc(vh->n_domains + 1, sizeof(*r->domains));
    for (size_t i = 0; i < vh->n_domains; i++) {
        char *d = xp_strdup(vh->domains[i] ? vh->domains[i] : "");
        for (char *p = d; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        r->domains[r->ndomains++] = d;
    }
    const Envoy__Config__Core__V3__Metadata *md = vh->metadata;
    for (size_t i = 0; md && i < md->n_filter_metadata; i++) {
        const Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *e = md->filter_metadata[i];
        if (!e->key || strcmp(e->key, "xds-server") != 0 || !e->value)
            continue;
        for (size_t k = 0; k < e->value->n_fields; k++) {
            const Google__Protobuf__Struct__FieldsEntry *f = e->value->fields[k];
            if (f->key && strcmp(f->key, "on_demand") == 0 && f->value &&
                f->value->kind_case == GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE)
                r->on_demand = f->value->bool_value;
        }
    }
}

/* Takes ownership of any. NULL (with an error at path) when it has no name. */
static xp__res_t *xp__res_new(Google__Protobuf__Any *any, xp_diag_t *diag, const char *path)
{
    ProtobufCMessage *m = xp_any_unpack(any, NULL, diag, path);
    if (!m) {
        protobuf_c_message_free_unpacked(&any->base, NULL);
        return NULL;
    }
    const char *name = xp__msg_name(m);
    if (!name[0]) {
        xp_diag_error(diag, path, "%s has no name (the \"name\" field%s is empty)",
                      m->descriptor->name,
                      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, "name")
                          ? ""
                          : ", or \"cluster_name\"");
        protobuf_c_message_free_unpacked(m, NULL);
        protobuf_c_message_free_unpacked(&any->base, NULL);
        return NULL;
    }
    xp__res_t *r = xp_calloc(1, sizeof(*r));
    r->refs = 1;
    r->name = xp_strdup(name);
    r->type_url = xp_asprintf(XP__TYPE_PREFIX "%s", m->descriptor->name);
    /* Normalise the URL ("@type" may have used another prefix). */
    free(any->type_url);
    any->type_url = xp_strdup(r->type_url);
    snprintf(r->version, sizeof(r->version), "%016" PRIx64,
             xp_xxh64(any->value.data, any->value.len, 0));
    r->any = any;
    if (m->descriptor == &envoy__config__route__v3__virtual_host__descriptor)
        xp__vhost_info(r, (const Envoy__Config__Route__V3__VirtualHost *)m);
    protobuf_c_message_free_unpacked(m, NULL);
    return r;
}

static yaml_node_t *xp__map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

int xp__parse_file(const char *text, size_t len, xp_diag_t *diag, xp__res_t ***out, size_t *nout)
{
    yaml_document_t doc;
    *out = NULL;
    *nout = 0;
    if (xp_codec_load_yaml(text, len, &doc, "", diag) < 0)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    size_t errors0 = diag->nerrors;
    xp__res_t **v = NULL;
    size_t n = 0;
    if (!root) {
        xp_diag_error(diag, "", "empty file (delete the file to remove its resources)");
    } else if (root->type != YAML_MAPPING_NODE) {
        xp_diag_error(diag, "",
                      "expected a mapping: one resource with \"@type\", or a "
                      "DiscoveryResponse with \"resources\"");
    } else if (xp__map_get(&doc, root, "@type")) {
        ProtobufCMessage *any =
            xp_codec_parse_node(&doc, root, &google__protobuf__any__descriptor, "", diag);
        if (any) {
            xp__res_t *r = xp__res_new((Google__Protobuf__Any *)any, diag, "");
            if (r) {
                v = xp_malloc(sizeof(*v));
                v[n++] = r;
            }
        }
    } else if (xp__map_get(&doc, root, "resources")) {
        Envoy__Service__Discovery__V3__DiscoveryResponse *dr =
            (Envoy__Service__Discovery__V3__DiscoveryResponse *)xp_codec_parse_node(
                &doc, root, &envoy__service__discovery__v3__discovery_response__descriptor, "",
                diag);
        if (dr) {
            v = xp_calloc(dr->n_resources + 1, sizeof(*v));
            for (size_t i = 0; i < dr->n_resources; i++) {
                char path[48];
                snprintf(path, sizeof(path), "resources[%zu]", i);
                xp__res_t *r = xp__res_new(dr->resources[i], diag, path);
                dr->resources[i] = NULL; /* owned by r (or freed) now */
                if (!r)
                    continue;
                for (size_t j = 0; j < n; j++) {
                    if (strcmp(v[j]->type_url, r->type_url) == 0 &&
                        strcmp(v[j]->name, r->name) == 0) {
                        xp_diag_error(diag, path, "duplicate %s \"%s\" (also resources[%zu])",
                                      xp__rtype_short(r->type_url), r->name, j);
                        break;
                    }
                }
                v[n++] = r;
            }
            dr->n_resources = 0;
            protobuf_c_message_free_unpacked(&dr->base, NULL);
        }
    } else {
        xp_diag_error(diag, "",
                      "expected \"@type\" (one resource) or \"resources\" (a "
                      "DiscoveryResponse-shaped file)");
    }
    yaml_document_delete(&doc);
    if (diag->nerrors > errors0) {
        for (size_t i = 0; i < n; i++)
            xp__res_unref(v[i]);
        free(v);
        return -1;
    }
    *out = v;
    *nout = n;
    return 0;
}

char *xp__read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xp_malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= ((size_t)64 << 20)) {
                free(buf);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            buf = xp_realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int xp__write_file_atomic(const char *dir, const char *name, const char *data, size_t len)
{
    char *tmp = xp_asprintf("%s/.%s.tmp%d", dir, name, (int)getpid());
    char *dst = xp_asprintf("%s/%s", dir, name);
    int err = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err = -errno;
        goto out;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            err = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) < 0 && !err)
        err = -errno;
    if (!err && rename(tmp, dst) < 0)
        err = -errno;
    if (err)
        unlink(tmp);
out:
    free(tmp);
    free(dst);
    return err;
}

static bool xp__wanted_file(const char *name)
{
    if (name[0] == '.')
        return false;
    const char *dot = strrchr(name, '.');
    return dot && (!strcmp(dot, ".yaml") || !strcmp(dot, ".yml") || !strcmp(dot, ".json"));
}

static int xp__strptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted basenames of the wanted files; NULL with *n = 0 on error. */
static char **xp__list_dir(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "xds-server: %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    char **v = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!xp__wanted_file(e->d_name))
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xp_realloc(v, cap * sizeof(*v));
        }
        v[(*n)++] = xp_strdup(e->d_name);
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof(*v), xp__strptr_cmp);
    return v;
}

/* Reloads one file into `nf`, starting from `old` (may be NULL). Returns
 * true when its resources changed. */
static bool xp__load_one(xp_xds_server_t *srv, const char *name, xp__file_t *old, xp__file_t *nf)
{
    char *path = xp_asprintf("%s/%s", srv->dir, name);
    size_t len = 0;
    char *text = xp__read_file(path, &len);
    nf->name = xp_strdup(name);
    if (old) { /* start from the last good content */
        nf->hash = old->hash;
        nf->nres = old->nres;
        nf->res = old->res;
        old->res = NULL;
        old->nres = 0;
    }
    if (!text) {
        if (errno != ENOENT) /* vanished between readdir and open: not news */
            fprintf(stderr, "xds-server: %s: %s\n", path, strerror(errno));
        free(path);
        return false;
    }
    uint64_t h = xp_xxh64(text, len, 0);
    if (old && h == nf->hash) {
        free(text);
        free(path);
        return false;
    }
    nf->hash = h;
    xp_diag_t diag;
    xp_diag_init(&diag);
    xp__res_t **res;
    size_t nres;
    bool changed = false;
    if (xp__parse_file(text, len, &diag, &res, &nres) < 0) {
        char *prefix = xp_asprintf("xds-server: %s: ", path);
        xp_diag_print(&diag, stderr, prefix);
        fprintf(stderr, "xds-server: %s: rejected; %s\n", path,
                old ? "keeping its previous content" : "no resources loaded from it");
        free(prefix);
    } else {
        if (diag.n) { /* warnings only */
            char *prefix = xp_asprintf("xds-server: %s: ", path);
            xp_diag_print(&diag, stderr, prefix);
            free(prefix);
        }
        for (size_t i = 0; i < nres; i++)
            res[i]->file = xp_strdup(name);
        for (size_t i = 0; i < nf->nres; i++)
            xp__res_unref(nf->res[i]);
        free(nf->res);
        nf->res = res;
        nf->nres = nres;
        changed = true;
        XP_INFO("xds-server: loaded %s (%zu resources)", path, nres);
    }
    xp_diag_free(&diag);
    free(text);
    free(path);
    return changed;
}

static void xp__file_clear(xp__file_t *f)
{
    for (size_t i = 0; i < f->nres; i++)
        xp__res_unref(f->res[i]);
    free(f->res);
    free(f->name);
}

void xp__files_free(xp_xds_server_t *srv)
{
    for (size_t i = 0; i < srv->nfiles; i++)
        xp__file_clear(&srv->files[i]);
    free(srv->files);
    srv->files = NULL;
    srv->nfiles = 0;
}

typedef struct {
    xp__res_t *r;
    size_t order; /* file order: the first definition of a duplicate wins */
} xp__ord_t;

static int xp__ord_cmp(const void *a, const void *b)
{
    const xp__ord_t *x = a, *y = b;
    int c = xp__res_key_cmp(x->r->type_url, x->r->name, y->r);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool xp__snap_same(const xp__snap_t *a, xp__res_t **v, size_t n)
{
    if (!a || a->n != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (a->v[i] != v[i] &&
            (strcmp(a->v[i]->type_url, v[i]->type_url) || strcmp(a->v[i]->name, v[i]->name) ||
             strcmp(a->v[i]->version, v[i]->version)))
            return false;
    return true;
}

uint64_t xp__reload(xp_xds_server_t *srv)
{
    pthread_mutex_lock(&srv->reload_mu);
    size_t nnames;
    char **names = xp__list_dir(srv->dir, &nnames);
    xp__file_t *files = xp_calloc(nnames + 1, sizeof(*files));
    bool changed = false;
    for (size_t i = 0; i < nnames; i++) {
        xp__file_t *old = NULL;
        for (size_t j = 0; j < srv->nfiles; j++)
            if (srv->files[j].name && strcmp(srv->files[j].name, names[i]) == 0)
                old = &srv->files[j];
        changed |= xp__load_one(srv, names[i], old, &files[i]);
        free(names[i]);
    }
    free(names);
    for (size_t j = 0; j < srv->nfiles; j++)
        changed |= srv->files[j].nres > 0; /* still holding resources: the file is gone */
    xp__files_free(srv);
    srv->files = files;
    srv->nfiles = nnames;

    /* The new resource set, sorted, duplicates dropped (first file wins). */
    size_t total = 0;
    for (size_t i = 0; i < nnames; i++)
        total += files[i].nres;
    xp__ord_t *ord = xp_calloc(total + 1, sizeof(*ord));
    size_t k = 0;
    for (size_t i = 0; i < nnames; i++)
        for (size_t j = 0; j < files[i].nres; j++, k++)
            ord[k] = (xp__ord_t){files[i].res[j], k};
    qsort(ord, total, sizeof(*ord), xp__ord_cmp);
    xp__res_t **v = xp_calloc(total + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        xp__res_t *r = ord[i].r;
        if (n && !strcmp(v[n - 1]->type_url, r->type_url) && !strcmp(v[n - 1]->name, r->name)) {
            if (changed)
                fprintf(stderr, "xds-server: %s/%s: %s \"%s\" is already defined in %s; ignored\n",
                        srv->dir, r->file, xp__rtype_short(r->type_url), r->name, v[n - 1]->file);
            continue;
        }
        v[n++] = r;
    }
    free(ord);

    pthread_mutex_lock(&srv->mu);
    xp__snap_t *old = srv->snap;
    uint64_t version = old ? old->version : 0;
    pthread_mutex_unlock(&srv->mu);
    if (old && xp__snap_same(old, v, n)) {
        free(v);
        pthread_mutex_unlock(&srv->reload_mu);
        return version;
    }
    xp__snap_t *s = xp_calloc(1, sizeof(*s));
    s->version = version + 1;
    snprintf(s->version_str, sizeof(s->version_str), "%" PRIu64, s->version);
    s->v = v;
    s->n = n;
    for (size_t i = 0; i < n; i++)
        v[i]->refs++;
    pthread_mutex_lock(&srv->mu);
    srv->snap = s;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->published_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    xp__streams_publish(srv);
    pthread_mutex_unlock(&srv->mu);
    /* Readers only touch srv->snap under mu, so nobody sees `old` now. */
    xp__snap_free(old);
    XP_INFO("xds-server: version %s (%zu resources)", s->version_str, n);
    pthread_mutex_unlock(&srv->reload_mu);
    return s->version;
}
