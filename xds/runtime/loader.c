#include "xds/runtime/loader.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/service/runtime/v3/rtds.pb-c.h"
#include "envoy/type/v3/percent.pb-c.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef Envoy__Config__Bootstrap__V3__LayeredRuntime xp__lr_t;
typedef Envoy__Config__Bootstrap__V3__RuntimeLayer xp__layer_pb_t;

typedef enum { XP__STATIC, XP__ADMIN, XP__RTDS } xp__kind_t;

typedef struct {
    xp__kind_t kind;
    const char *name;      /* RuntimeLayer.name (borrowed from the bootstrap) */
    const char *rtds_name; /* rtds_layer.name */
    const Envoy__Config__Core__V3__ConfigSource *src;
    char *src_field;
    bool got; /* RTDS: a first response came */
    xp_runtime_layer_t *cur;
} xp__lcfg_t;

struct xp_runtime_loader {
    xp__lcfg_t *v;
    size_t n;
    xp__lcfg_t *admin;
    xp_runtime_t *snap;
    xp_runtime_publish_fn publish;
    void *ctx;
    xp_stat_t *num_keys, *num_layers, *admin_active, *load_success;
};

/* ---- values --------------------------------------------------------------- */

/* A number as protobuf's JSON (and so Envoy's runtime) prints it: 15
 * significant digits, or 17 when 15 do not read back the same ("5", "0.5",
 * "1e+20"). */
static void xp__number_text(double d, char *out, size_t cap)
{
    snprintf(out, cap, "%.15g", d);
    if (strtod(out, NULL) != d)
        snprintf(out, cap, "%.17g", d);
}

/* Envoy reads a value that is not a boolean or a number as a
 * FractionalPercent in YAML or JSON when it parses as one. Problems go into
 * diag when it is given (a Struct that names numerator/denominator must be
 * one); otherwise a value that is not a fraction is just text. */
static void xp__fraction(xp_runtime_entry_t *e, const char *path, xp_diag_t *diag)
{
    if (e->has_bool || e->has_double || e->raw[0] == '\0')
        return;
    xp_diag_t scratch;
    xp_diag_init(&scratch);
    xp_diag_t *d = diag ? diag : &scratch;
    size_t e0 = d->nerrors;
    Envoy__Type__V3__FractionalPercent *fp = (Envoy__Type__V3__FractionalPercent *)xp_codec_parse(
        e->raw, strlen(e->raw), &envoy__type__v3__fractional_percent__descriptor, path, d);
    if (fp) {
        static const uint32_t dens[] = {100, 10000, 1000000};
        if ((unsigned)fp->denominator < XP_ARRAY_SIZE(dens)) {
            e->has_fraction = true;
            e->numerator = fp->numerator;
            e->denominator = dens[fp->denominator];
        } else {
            xp_diag_error(d, path, "denominator %d is not HUNDRED, TEN_THOUSAND or MILLION",
                          (int)fp->denominator);
        }
        protobuf_c_message_free_unpacked(&fp->base, NULL);
    }
    if (diag && d->nerrors == e0 && !e->has_fraction)
        xp_diag_error(d, path, "is not a FractionalPercent");
    xp_diag_free(&scratch);
}

static bool xp__is_fraction_struct(const Google__Protobuf__Struct *st)
{
    if (st->n_fields == 0)
        return true;
    for (size_t i = 0; i < st->n_fields; i++)
        if (strcmp(st->fields[i]->key, "numerator") == 0 ||
            strcmp(st->fields[i]->key, "denominator") == 0)
            return true;
    return false;
}

/* Flattens a Struct into l as Envoy's runtime does: nested objects become
 * dotted keys; an object that is empty or names numerator/denominator is a
 * FractionalPercent; strings, numbers and booleans are values; null and
 * lists are errors. */
static void xp__walk(xp_runtime_layer_t *l, const Google__Protobuf__Struct *st, const char *prefix,
                     xp_path_t *path, xp_diag_t *d)
{
    for (size_t i = 0; i < st->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *f = st->fields[i];
        char *key = prefix ? xp_asprintf("%s.%s", prefix, f->key) : xp_strdup(f->key);
        size_t m = xp_path_push_field(path, f->key);
        const Google__Protobuf__Value *v = f->value;
        char num[64];
        switch (v ? v->kind_case : GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET) {
        case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
            xp__fraction(xp_runtime_layer_put(l, key, v->string_value), NULL, NULL);
            break;
        case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
            xp__number_text(v->number_value, num, sizeof(num));
            xp_runtime_layer_put(l, key, num);
            break;
        case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
            xp_runtime_layer_put(l, key, v->bool_value ? "true" : "false");
            break;
        case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
            if (xp__is_fraction_struct(v->struct_value)) {
                char *json = xp_codec_to_json(&v->struct_value->base, false);
                xp__fraction(xp_runtime_layer_put(l, key, json), xp_path_str(path), d);
                free(json);
            } else {
                xp__walk(l, v->struct_value, key, path, d);
            }
            break;
        case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
            xp_diag_error(d, xp_path_str(path), "runtime key '%s': a list is not a runtime value",
                          key);
            break;
        default:
            xp_diag_error(d, xp_path_str(path), "runtime key '%s': null is not a runtime value",
                          key);
            break;
        }
        xp_path_pop(path, m);
        free(key);
    }
}

/* A sealed layer named `name` from st (NULL: empty), or NULL with errors in
 * d (at root). */
static xp_runtime_layer_t *xp__struct_layer(const char *name, const Google__Protobuf__Struct *st,
                                            const char *root, xp_diag_t *d)
{
    xp_runtime_layer_t *l = xp_runtime_layer_new(name);
    size_t e0 = d->nerrors;
    if (st) {
        xp_path_t path;
        xp_path_init(&path, root);
        xp__walk(l, st, NULL, &path, d);
    }
    if (d->nerrors != e0) {
        xp_runtime_layer_unref(l);
        return NULL;
    }
    xp_runtime_layer_seal(l);
    return l;
}

/* ---- bootstrap -------------------------------------------------------------- */

int xp_runtime_check_bootstrap(const xp__lr_t *lr, xp_diag_t *d)
{
    size_t e0 = d->nerrors;
    int admin = -1;
    for (size_t i = 0; lr && i < lr->n_layers; i++) {
        const xp__layer_pb_t *l = lr->layers[i];
        char p[96];
        snprintf(p, sizeof(p), "layered_runtime.layers[%zu]", i);
        const char *name = l->name ? l->name : "";
        for (size_t j = 0; j < i; j++)
            if (strcmp(lr->layers[j]->name ? lr->layers[j]->name : "", name) == 0) {
                char pn[128];
                snprintf(pn, sizeof(pn), "%s.name", p);
                xp_diag_error(d, pn, "duplicate layer name '%s' (also layers[%zu])", name, j);
                break;
            }
        char root[128];
        switch (l->layer_specifier_case) {
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_STATIC_LAYER: {
            snprintf(root, sizeof(root), "%s.static_layer", p);
            xp_runtime_layer_unref(xp__struct_layer(name, l->static_layer, root, d));
            break;
        }
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_ADMIN_LAYER:
            if (admin >= 0)
                xp_diag_error(d, p, "at most one admin layer may be given (also layers[%d])",
                              admin);
            admin = (int)i;
            break;
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_RTDS_LAYER:
            snprintf(root, sizeof(root), "%s.rtds_layer", p);
            if (l->rtds_layer->name == NULL || l->rtds_layer->name[0] == '\0')
                xp_diag_error(d, root, "name (the Runtime resource to fetch) is required");
            if (l->rtds_layer->rtds_config == NULL)
                xp_diag_error(d, root, "rtds_config is required");
            break;
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_DISK_LAYER:
            xp_diag_warn(d, p, "disk runtime layers are not implemented; layer '%s' is ignored",
                         name);
            break;
        default:
            xp_diag_error(d, p, "one of static_layer, admin_layer or rtds_layer is required");
            break;
        }
    }
    return (int)(d->nerrors - e0);
}

/* ---- snapshots -------------------------------------------------------------- */

static void xp__rebuild(xp_runtime_loader_t *l)
{
    xp_runtime_layer_t **v = xp_calloc(l->n + 1, sizeof(*v));
    for (size_t i = 0; i < l->n; i++)
        v[i] = l->v[i].cur;
    xp_runtime_t *rt = xp_runtime_new(v, l->n);
    free(v);
    xp_runtime_unref(l->snap);
    l->snap = rt;
    if (l->num_keys) {
        xp_stat_set(l->num_keys, (int64_t)rt->n_values);
        xp_stat_set(l->num_layers, (int64_t)rt->n_layers);
        xp_stat_set(l->admin_active, l->admin && l->admin->cur->n ? 1 : 0);
        xp_stat_inc(l->load_success);
    }
    l->publish(l->ctx, rt);
}

static void xp__lcfg_add(xp_runtime_loader_t *l, xp__kind_t kind, const char *name,
                         xp_runtime_layer_t *cur)
{
    xp__lcfg_t *c = &l->v[l->n++];
    c->kind = kind;
    c->name = name;
    c->cur = cur ? cur : xp_runtime_layer_new(name);
    if (cur == NULL)
        xp_runtime_layer_seal(c->cur);
}

xp_runtime_loader_t *xp_runtime_loader_new(const xp__lr_t *lr, xp_stats_t *stats,
                                           xp_runtime_publish_fn publish, void *ctx)
{
    xp_runtime_loader_t *l = xp_calloc(1, sizeof(*l));
    l->publish = publish;
    l->ctx = ctx;
    size_t n = lr && lr->n_layers ? lr->n_layers : 2;
    l->v = xp_calloc(n, sizeof(*l->v));
    if (lr == NULL || lr->n_layers == 0) {
        /* Envoy's runtime without layered_runtime. */
        xp__lcfg_add(l, XP__STATIC, "base", NULL);
        xp__lcfg_add(l, XP__ADMIN, "admin", NULL);
        l->admin = &l->v[1];
    }
    for (size_t i = 0; lr && i < lr->n_layers; i++) {
        const xp__layer_pb_t *pl = lr->layers[i];
        const char *name = pl->name ? pl->name : "";
        xp_diag_t d;
        xp_diag_init(&d);
        switch (pl->layer_specifier_case) {
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_STATIC_LAYER:
            xp__lcfg_add(l, XP__STATIC, name, xp__struct_layer(name, pl->static_layer, "", &d));
            break;
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_ADMIN_LAYER:
            xp__lcfg_add(l, XP__ADMIN, name, NULL);
            if (l->admin == NULL)
                l->admin = &l->v[l->n - 1];
            break;
        case ENVOY__CONFIG__BOOTSTRAP__V3__RUNTIME_LAYER__LAYER_SPECIFIER_RTDS_LAYER: {
            /* Empty until its first response. */
            xp__lcfg_add(l, XP__RTDS, name, NULL);
            xp__lcfg_t *c = &l->v[l->n - 1];
            c->rtds_name = pl->rtds_layer->name;
            c->src = pl->rtds_layer->rtds_config;
            c->src_field = xp_asprintf("layered_runtime.layers[%zu].rtds_layer.rtds_config", i);
            break;
        }
        default:
            break; /* disk layers: not implemented (a warning at load) */
        }
        xp_diag_free(&d);
    }
    if (stats) {
        l->num_keys = xp_stats_gauge(stats, "runtime.num_keys");
        l->num_layers = xp_stats_gauge(stats, "runtime.num_layers");
        l->admin_active = xp_stats_gauge(stats, "runtime.admin_overrides_active");
        l->load_success = xp_stats_counter(stats, "runtime.load_success");
    }
    xp__rebuild(l);
    return l;
}

void xp_runtime_loader_free(xp_runtime_loader_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        xp_runtime_layer_unref(l->v[i].cur);
        free(l->v[i].src_field);
    }
    free(l->v);
    xp_runtime_unref(l->snap);
    free(l);
}

const xp_runtime_t *xp_runtime_loader_snapshot(const xp_runtime_loader_t *l)
{
    return l->snap;
}

static xp__lcfg_t *xp__rtds_at(const xp_runtime_loader_t *l, size_t i)
{
    for (size_t k = 0; k < l->n; k++)
        if (l->v[k].kind == XP__RTDS && i-- == 0)
            return &l->v[k];
    return NULL;
}

size_t xp_runtime_loader_n_rtds(const xp_runtime_loader_t *l)
{
    size_t n = 0;
    while (xp__rtds_at(l, n))
        n++;
    return n;
}

const char *xp_runtime_loader_rtds(const xp_runtime_loader_t *l, size_t i,
                                   const Envoy__Config__Core__V3__ConfigSource **src,
                                   const char **field)
{
    xp__lcfg_t *c = xp__rtds_at(l, i);
    if (c == NULL)
        return NULL;
    *src = c->src;
    *field = c->src_field;
    return c->rtds_name;
}

bool xp_runtime_loader_ready(const xp_runtime_loader_t *l)
{
    for (size_t k = 0; k < l->n; k++)
        if (l->v[k].kind == XP__RTDS && !l->v[k].got)
            return false;
    return true;
}

/* ---- RTDS ------------------------------------------------------------------- */

static void xp__replace(xp__lcfg_t *c, xp_runtime_layer_t *layer)
{
    xp_runtime_layer_unref(c->cur);
    c->cur = layer;
}

int xp_runtime_loader_on_update(xp_runtime_loader_t *l, const xp_xds_resource_t *res, size_t n,
                                char *const *removed, size_t n_removed, char **error_detail)
{
    xp_diag_t d;
    xp_diag_init(&d);
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        const Envoy__Service__Runtime__V3__Runtime *rt =
            (const Envoy__Service__Runtime__V3__Runtime *)res[i].msg;
        char root[300];
        snprintf(root, sizeof(root), "runtime[%s]", res[i].name);
        const char *rname = rt->name ? rt->name : "";
        if (strcmp(rname, res[i].name) != 0) {
            char p[320];
            snprintf(p, sizeof(p), "%s.name", root);
            xp_diag_error(&d, p, "is '%s' but the resource is named '%s'", rname, res[i].name);
        }
        char lroot[320];
        snprintf(lroot, sizeof(lroot), "%s.layer", root);
        xp_runtime_layer_t *built =
            strcmp(rname, res[i].name) == 0 ? xp__struct_layer("", rt->layer, lroot, &d) : NULL;
        bool known = false;
        for (size_t k = 0; k < l->n; k++) {
            xp__lcfg_t *c = &l->v[k];
            if (c->kind != XP__RTDS || strcmp(c->rtds_name, res[i].name) != 0)
                continue;
            known = true;
            c->got = true; /* as Envoy: a rejected first response also ends the wait */
            if (built) {
                /* The same values under this layer's name. */
                xp_runtime_layer_t *layer = xp_runtime_layer_clone(built);
                free(layer->name);
                layer->name = xp_strdup(c->name);
                xp_runtime_layer_seal(layer);
                xp__replace(c, layer);
                changed = true;
            }
        }
        xp_runtime_layer_unref(built);
        if (!known)
            xp_diag_error(&d, root, "no rtds_layer of layered_runtime names this resource");
    }
    for (size_t i = 0; i < n_removed; i++) {
        /* Delta: the resource is gone; its layers have no values any more. */
        for (size_t k = 0; k < l->n; k++) {
            xp__lcfg_t *c = &l->v[k];
            if (c->kind == XP__RTDS && strcmp(c->rtds_name, removed[i]) == 0) {
                xp_runtime_layer_t *empty = xp_runtime_layer_new(c->name);
                xp_runtime_layer_seal(empty);
                xp__replace(c, empty);
                c->got = true;
                changed = true;
            }
        }
    }
    if (changed)
        xp__rebuild(l);
    int rc = 0;
    if (d.nerrors) {
        *error_detail = xp_diag_join(&d, XP_DIAG_ERROR);
        rc = -1;
    }
    xp_diag_free(&d);
    return rc;
}

/* ---- admin layer ------------------------------------------------------------- */

int xp_runtime_loader_modify(xp_runtime_loader_t *l, char *const *keys, char *const *values,
                             size_t n, char **error)
{
    if (l->admin == NULL) {
        *error = xp_strdup("No admin layer specified");
        return -1;
    }
    xp_runtime_layer_t *layer = xp_runtime_layer_clone(l->admin->cur);
    for (size_t i = 0; i < n; i++) {
        xp_runtime_layer_remove(layer, keys[i]);
        if (values[i][0])
            xp__fraction(xp_runtime_layer_put(layer, keys[i], values[i]), NULL, NULL);
    }
    xp_runtime_layer_seal(layer);
    xp__replace(l->admin, layer);
    xp__rebuild(l);
    return 0;
}
