/* Path config sources: lds_config / cds_config, and the RDS, EDS and SRDS
 * sources listeners and clusters name (rds.config_source,
 * eds_cluster_config.eds_config, scoped_rds_config_source and
 * rds_config_source of scoped_routes), from a file holding a
 * DiscoveryResponse (YAML or JSON). The file is re-read whenever its
 * directory reports a change to it (editors and deploy tools replace files
 * by rename, so the directory is watched, as Envoy does). A file that does
 * not parse, or a resource in it that is invalid, is reported (with the
 * field) and the last good content keeps serving.
 *
 * One source per type and path. LDS and CDS sources live as long as the
 * manager; the others start when a config first names them and stop when
 * none does any more. An RDS or EDS file gives only the resources that are
 * referenced from it (Envoy gives each subscription the one it names). */
#include "xds/manager/manager_internal.h"

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"
#include "xds/codec/codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xp__file_src {
    xp_xds_manager_t *m;
    int type;
    char *path;
    char *dir;
    char *base;
    bool permanent; /* lds_config / cds_config */
    bool wanted;    /* marked by xp__files_sync */
    bool loaded;    /* read successfully at least once */
    bool reload;    /* to be read by xp__files_sync */
    bool watch_any; /* watched_directory given: any change in it reloads */
    char **names;   /* RDS/EDS: the names referenced from this file */
    size_t n_names;
    char **prev_names; /* during xp__files_sync: the names before it */
    size_t n_prev_names;
    uv_fs_event_t ev;
    uv_timer_t debounce;
    int open_handles; /* counted down by close callbacks */
    struct xp__file_src *next;
};

static const char *xp__resource_name(const ProtobufCMessage *msg)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "name");
    if (f == NULL)
        f = protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, "cluster_name");
    if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
        return NULL;
    return *(const char *const *)((const char *)msg + f->offset);
}

/* Reads the file and ingests it; with apply, applies the result too. */
static void xp__file_load(xp__file_src_t *f, bool apply)
{
    xp_xds_manager_t *m = f->m;
    FILE *fp = fopen(f->path, "rb");
    if (fp == NULL) {
        XP_WARN("xds: cannot read %s: %s", f->path, strerror(errno));
        return;
    }
    xp_strbuf_t text;
    xp_strbuf_init(&text);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        xp_strbuf_printf(&text, "%.*s", (int)n, buf);
    fclose(fp);
    xp_diag_t d;
    xp_diag_init(&d);
    Envoy__Service__Discovery__V3__DiscoveryResponse *dr =
        (Envoy__Service__Discovery__V3__DiscoveryResponse *)xp_codec_parse(
            text.p, text.len, &envoy__service__discovery__v3__discovery_response__descriptor, "",
            &d);
    free(text.p);
    if (dr == NULL) {
        xp_diag_print(&d, stderr, "xds: ");
        XP_WARN("xds: %s is invalid; the last good config keeps serving", f->path);
        xp_diag_free(&d);
        return;
    }
    xp_xds_resource_t *res = xp_calloc(dr->n_resources + 1, sizeof(*res));
    size_t k = 0;
    for (size_t i = 0; i < dr->n_resources; i++) {
        char where[64];
        snprintf(where, sizeof(where), "resources[%zu]", i);
        ProtobufCMessage *msg = xp_any_unpack(dr->resources[i], NULL, &d, where);
        if (msg == NULL)
            continue;
        const char *name = xp__resource_name(msg);
        if (msg->descriptor != xp_codec_find_type(xp__type_urls[f->type]) || name == NULL) {
            xp_diag_error(&d, where, "expected a %s with a name", xp__type_names[f->type]);
            protobuf_c_message_free_unpacked(msg, NULL);
            continue;
        }
        if ((f->type == XP__RDS || f->type == XP__EDS) &&
            !xp__strv_has(f->names, f->n_names, name)) {
            XP_DEBUG("xds: %s: %s '%s' is not referenced from this file; ignored", f->path,
                     xp__type_names[f->type], name);
            protobuf_c_message_free_unpacked(msg, NULL);
            continue;
        }
        res[k].name = (char *)name;
        res[k].version = dr->version_info;
        res[k].msg = msg;
        k++;
    }
    if (d.nerrors == 0) {
        f->loaded = true;
        /* lds_config / cds_config files are the type's only source. */
        xp__ingest(m, f->type, dr->version_info, res, k, NULL, 0, false,
                   f->permanent ? NULL : f->path, &d);
        if (apply)
            xp__apply_into(m, &d);
    }
    if (d.nerrors) {
        char *err = xp_diag_join(&d, XP_DIAG_ERROR);
        XP_WARN("xds: %s: rejected (the last good config keeps serving what it names): %s", f->path,
                err);
        free(err);
    }
    for (size_t i = 0; i < k; i++)
        protobuf_c_message_free_unpacked(res[i].msg, NULL);
    free(res);
    protobuf_c_message_free_unpacked(&dr->base, NULL);
    xp_diag_free(&d);
}

static void xp__file_debounced(uv_timer_t *t)
{
    xp__file_load(t->data, true);
}

static void xp__file_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
    (void)events;
    xp__file_src_t *f = ev->data;
    /* A watched_directory reloads on any change in it (a ConfigMap's
     * "..data" swap); otherwise only the file's own name counts. */
    if (status < 0 || (!f->watch_any && filename && strcmp(filename, f->base) != 0))
        return;
    /* A burst of events (write, close, rename) becomes one reload. */
    uv_timer_start(&f->debounce, xp__file_debounced, 50, 0);
}

/* A new source (not read yet), watching its directory; the error is in diag
 * when the directory cannot be watched (the source is there all the same). */
static xp__file_src_t *xp__file_new(xp_xds_manager_t *m, int type, const char *path,
                                    const char *watch, const char *where, xp_diag_t *diag)
{
    xp__file_src_t *f = xp_calloc(1, sizeof(*f));
    f->m = m;
    f->type = type;
    f->path = xp_strdup(path);
    const char *slash = strrchr(path, '/');
    f->dir = watch ? xp_strdup(watch)
                   : (slash ? xp_strndup(path, (size_t)(slash - path)) : xp_strdup("."));
    if (f->dir[0] == '\0') {
        free(f->dir);
        f->dir = xp_strdup("/");
    }
    f->base = xp_strdup(slash ? slash + 1 : path);
    f->watch_any = watch != NULL;
    uv_fs_event_init(m->s->loop, &f->ev);
    f->ev.data = f;
    uv_timer_init(m->s->loop, &f->debounce);
    f->debounce.data = f;
    f->next = m->files;
    m->files = f;
    int rc = uv_fs_event_start(&f->ev, xp__file_event, f->dir, 0);
    if (rc)
        xp_diag_error(diag, where, "cannot watch %s: %s", f->dir, uv_strerror(rc));
    return f;
}

int xp__file_src_start(xp_xds_manager_t *m, int type,
                       const Envoy__Config__Core__V3__ConfigSource *src, const char *where,
                       xp_diag_t *diag)
{
    const char *path = NULL, *watch = NULL;
    if (src->config_source_specifier_case ==
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH) {
        path = src->path;
    } else {
        path = src->path_config_source->path;
        if (src->path_config_source->watched_directory)
            watch = src->path_config_source->watched_directory->path;
    }
    if (path == NULL || path[0] == '\0') {
        xp_diag_error(diag, where, "path is required");
        return -1;
    }
    size_t e0 = diag->nerrors;
    xp__file_src_t *f = xp__file_new(m, type, path, watch, where, diag);
    f->permanent = true;
    if (diag->nerrors != e0)
        return -1;
    m->want[type] = true;
    xp__file_load(f, true);
    return 0;
}

static void xp__file_closed(uv_handle_t *h)
{
    xp__file_src_t *f = h->data;
    if (--f->open_handles > 0)
        return;
    xp__strv_free(f->names, f->n_names);
    free(f->path);
    free(f->dir);
    free(f->base);
    free(f);
}

static void xp__file_close(xp__file_src_t *f)
{
    f->open_handles = 2;
    uv_close((uv_handle_t *)&f->ev, xp__file_closed);
    uv_close((uv_handle_t *)&f->debounce, xp__file_closed);
}

static xp__file_src_t *xp__file_find(xp_xds_manager_t *m, int type, const char *path)
{
    for (xp__file_src_t *f = m->files; f; f = f->next)
        if (f->type == type && strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

bool xp__file_loaded(xp_xds_manager_t *m, int type, const char *path)
{
    const xp__file_src_t *f = xp__file_find(m, type, path);
    return f && f->loaded;
}

void xp__files_sync(xp_xds_manager_t *m, const xp__refs_t *refs)
{
    static const int types[] = {XP__RDS, XP__EDS, XP__SRDS};
    /* The names every file is read for are collected from scratch; a file
     * is read again when it is to give a name it did not give before. */
    for (xp__file_src_t *f = m->files; f; f = f->next) {
        f->wanted = f->permanent;
        f->prev_names = f->names;
        f->n_prev_names = f->n_names;
        f->names = NULL;
        f->n_names = 0;
    }
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        int t = types[k];
        for (size_t i = 0; i < refs[t].n; i++) {
            const xp__ref_t *r = &refs[t].v[i];
            if (r->src == NULL || r->src->path == NULL)
                continue;
            xp__file_src_t *f = xp__file_find(m, t, r->src->path);
            if (f == NULL) {
                xp_diag_t d;
                xp_diag_init(&d);
                f = xp__file_new(m, t, r->src->path, r->src->watch_dir, r->src->path, &d);
                /* Not watchable: it is still read now, only changes go
                 * unnoticed (reported). */
                xp_diag_print(&d, stderr, "xds: warning: ");
                xp_diag_free(&d);
                f->reload = true;
            }
            f->wanted = true;
            if (t != XP__SRDS && !xp__strv_has(f->names, f->n_names, r->name)) {
                f->names = xp_realloc(f->names, (f->n_names + 1) * sizeof(*f->names));
                f->names[f->n_names++] = xp_strdup(r->name);
                if (!xp__strv_has(f->prev_names, f->n_prev_names, r->name))
                    f->reload = true;
            }
        }
    }
    /* Stop what nothing names; read what is new or names something new. */
    xp__file_src_t **pp = &m->files;
    while (*pp) {
        xp__file_src_t *f = *pp;
        xp__strv_free(f->prev_names, f->n_prev_names);
        f->prev_names = NULL;
        f->n_prev_names = 0;
        if (!f->wanted) {
            *pp = f->next;
            xp__file_close(f);
            continue;
        }
        if (f->reload) {
            f->reload = false;
            xp__file_load(f, false);
        }
        pp = &f->next;
    }
}

void xp__files_free(xp_xds_manager_t *m)
{
    while (m->files) {
        xp__file_src_t *f = m->files;
        m->files = f->next;
        xp__file_close(f);
    }
}

bool xp__is_path(const Envoy__Config__Core__V3__ConfigSource *src)
{
    return src &&
           (src->config_source_specifier_case ==
                ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH ||
            src->config_source_specifier_case ==
                ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH_CONFIG_SOURCE);
}
