/* scoped_routes and ScopedRouteConfiguration → scopes and key builders. The
 * rules are Envoy's (scoped_route.proto, http_connection_manager.proto and
 * the checks its scoped routing config makes): a key needs at least one
 * fragment, a HeaderValueExtractor needs an extract_type and may only take
 * index 0 of an unsplit value, and keys are unique within a set. */
#include "xds/translate/scoped.h"

#include "proxy/common/mem.h"
#include "xds/translate/route.h"
#include "xds/translate/util.h"

#include <stdlib.h>
#include <string.h>

typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__ScopedRoutes xp__sr_pb_t;
typedef Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__ScopedRoutes__ScopeKeyBuilder__FragmentBuilder__HeaderValueExtractor
    xp__hve_pb_t;
typedef Envoy__Config__Route__V3__ScopedRouteConfiguration xp__scope_pb_t;

#define XP__SR(x)                                                                                  \
    ENVOY__EXTENSIONS__FILTERS__NETWORK__HTTP_CONNECTION_MANAGER__V3__SCOPED_ROUTES__##x

static bool xp__empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

xp_scope_t *xp_translate_scope(const xp__scope_pb_t *sc, xp_path_t *path, xp_diag_t *diag,
                               const xp_scope_t *prev)
{
    size_t e0 = diag->nerrors;
    if (xp__empty(sc->name))
        xp_tr_field_error(path, "name", diag, "name is required");
    xp_str_t *key = NULL;
    size_t nkey = 0;
    if (sc->key == NULL) {
        xp_tr_field_error(path, "key", diag, "key is required");
    } else if (sc->key->n_fragments == 0) {
        xp_tr_field_error(path, "key.fragments", diag, "a key needs at least one fragment");
    } else {
        size_t m = xp_path_push_field(path, "key");
        size_t m1 = xp_path_push_field(path, "fragments");
        key = xp_calloc(sc->key->n_fragments, sizeof(*key));
        for (size_t i = 0; i < sc->key->n_fragments; i++) {
            const Envoy__Config__Route__V3__ScopedRouteConfiguration__Key__Fragment *f =
                sc->key->fragments[i];
            if (f->type_case !=
                ENVOY__CONFIG__ROUTE__V3__SCOPED_ROUTE_CONFIGURATION__KEY__FRAGMENT__TYPE_STRING_KEY) {
                size_t m2 = xp_path_push_index(path, i);
                xp_diag_error(diag, xp_path_str(path), "string_key is required");
                xp_path_pop(path, m2);
                continue;
            }
            key[nkey++] = xp_str_c(f->string_key);
        }
        xp_path_pop(path, m1);
        xp_path_pop(path, m);
    }
    bool named = !xp__empty(sc->route_configuration_name);
    if (named && sc->route_configuration)
        xp_tr_field_error(
            path, "route_configuration", diag,
            "only one of route_configuration_name and route_configuration may be set");
    else if (!named && sc->route_configuration == NULL)
        xp_tr_field_error(path, "route_configuration_name", diag,
                          "one of route_configuration_name or route_configuration is required");
    if (sc->on_demand)
        xp_diag_warn(diag, xp_path_str(path),
                     "on_demand: xproxy has no on-demand filter; the scope's routes are fetched "
                     "at once");
    xp_route_table_t *table = NULL;
    if (sc->route_configuration && !named) {
        size_t m = xp_path_push_field(path, "route_configuration");
        table = xp_translate_route_config_reuse(sc->route_configuration, xp_path_str(path), diag,
                                                prev ? prev->table : NULL, NULL);
        xp_path_pop(path, m);
    }
    xp_scope_t *s = NULL;
    if (diag->nerrors == e0)
        s = xp_scope_new(sc->name, key, nkey, named ? sc->route_configuration_name : NULL, table,
                         sc->on_demand);
    else if (table)
        xp_route_table_unref(table);
    free(key);
    return s;
}

static void xp__fragment(const xp__hve_pb_t *h, xp_path_t *path, xp_diag_t *diag,
                         xp_scope_fragment_builder_t *f)
{
    if (xp__empty(h->name))
        xp_tr_field_error(path, "name", diag, "name is required");
    f->name = xp_str_dup(xp_str_c(h->name));
    f->element_separator = xp_str_dup(xp_str_c(h->element_separator));
    switch (h->extract_type_case) {
    case XP__SR(SCOPE_KEY_BUILDER__FRAGMENT_BUILDER__HEADER_VALUE_EXTRACTOR__EXTRACT_TYPE_INDEX):
        f->index = h->index;
        if (h->index != 0 && xp__empty(h->element_separator))
            xp_tr_field_error(path, "index", diag, "Index > 0 for empty string element separator.");
        break;
    case XP__SR(
        SCOPE_KEY_BUILDER__FRAGMENT_BUILDER__HEADER_VALUE_EXTRACTOR__EXTRACT_TYPE_ELEMENT): {
        f->by_key = true;
        size_t m = xp_path_push_field(path, "element");
        if (xp__empty(h->element->separator))
            xp_tr_field_error(path, "separator", diag, "separator is required");
        if (xp__empty(h->element->key))
            xp_tr_field_error(path, "key", diag, "key is required");
        xp_path_pop(path, m);
        f->kv_separator = xp_str_dup(xp_str_c(h->element->separator));
        f->kv_key = xp_str_dup(xp_str_c(h->element->key));
        break;
    }
    default:
        xp_diag_error(diag, xp_path_str(path), "HeaderValueExtractor extract_type not set.");
    }
}

static void xp__key_builder(const xp__sr_pb_t *pb, xp_path_t *path, xp_diag_t *diag,
                            xp_scope_key_builder_t *b)
{
    if (pb->scope_key_builder == NULL) {
        xp_tr_field_error(path, "scope_key_builder", diag, "scope_key_builder is required");
        return;
    }
    size_t m = xp_path_push_field(path, "scope_key_builder");
    size_t m1 = xp_path_push_field(path, "fragments");
    size_t n = pb->scope_key_builder->n_fragments;
    if (n == 0)
        xp_diag_error(diag, xp_path_str(path), "at least one fragment is required");
    b->fragments = xp_calloc(n + 1, sizeof(*b->fragments));
    for (size_t i = 0; i < n; i++) {
        const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__ScopedRoutes__ScopeKeyBuilder__FragmentBuilder
            *fb = pb->scope_key_builder->fragments[i];
        size_t m2 = xp_path_push_index(path, i);
        if (fb->type_case !=
            XP__SR(SCOPE_KEY_BUILDER__FRAGMENT_BUILDER__TYPE_HEADER_VALUE_EXTRACTOR)) {
            xp_tr_field_error(path, "header_value_extractor", diag,
                              "header_value_extractor is required");
        } else {
            size_t m3 = xp_path_push_field(path, "header_value_extractor");
            xp__fragment(fb->header_value_extractor, path, diag, &b->fragments[b->n++]);
            xp_path_pop(path, m3);
        }
        xp_path_pop(path, m2);
    }
    xp_path_pop(path, m1);
    xp_path_pop(path, m);
}

/* The inline list as a set; keys (and names) must be unique. */
static xp_scope_set_t *xp__inline_scopes(const xp__sr_pb_t *pb, xp_path_t *path, xp_diag_t *diag)
{
    const Envoy__Extensions__Filters__Network__HttpConnectionManager__V3__ScopedRouteConfigurationsList
        *list = pb->scoped_route_configurations_list;
    size_t e0 = diag->nerrors;
    size_t m = xp_path_push_field(path, "scoped_route_configurations_list");
    size_t m1 = xp_path_push_field(path, "scoped_route_configurations");
    if (list->n_scoped_route_configurations == 0)
        xp_diag_error(diag, xp_path_str(path), "at least one scope is required");
    xp_scope_t **v = xp_calloc(list->n_scoped_route_configurations + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < list->n_scoped_route_configurations; i++) {
        size_t m2 = xp_path_push_index(path, i);
        xp_scope_t *s = xp_translate_scope(list->scoped_route_configurations[i], path, diag, NULL);
        for (size_t k = 0; s && k < n; k++) {
            if (strcmp(v[k]->name, s->name) == 0) {
                xp_tr_field_error(path, "name", diag, "duplicate scope name");
            } else if (xp_scope_key_cmp(v[k]->key, v[k]->nkey, s->key, s->nkey) == 0) {
                xp_tr_field_error(path, "key", diag,
                                  "scope key conflict: scope '%s' has the same key", v[k]->name);
            }
        }
        if (s)
            v[n++] = s;
        xp_path_pop(path, m2);
    }
    xp_path_pop(path, m1);
    xp_path_pop(path, m);
    xp_scope_set_t *set = diag->nerrors == e0 ? xp_scope_set_new(pb->name, v, n) : NULL;
    for (size_t i = 0; i < n; i++)
        xp_scope_unref(v[i]);
    free(v);
    return set;
}

xp_scoped_routes_cfg_t *xp_translate_scoped_routes(const xp__sr_pb_t *pb, xp_path_t *path,
                                                   xp_diag_t *diag)
{
    size_t e0 = diag->nerrors;
    xp_scoped_routes_cfg_t *c = xp_calloc(1, sizeof(*c));
    if (xp__empty(pb->name))
        xp_tr_field_error(path, "name", diag, "name is required");
    c->name = xp_strdup(pb->name ? pb->name : "");
    xp__key_builder(pb, path, diag, &c->builder);
    xp_tr_config_source(pb->rds_config_source, path, "rds_config_source", &c->rds_source, diag);
    switch (pb->config_specifier_case) {
    case XP__SR(CONFIG_SPECIFIER_SCOPED_ROUTE_CONFIGURATIONS_LIST):
        c->inline_scopes = xp__inline_scopes(pb, path, diag);
        break;
    case XP__SR(CONFIG_SPECIFIER_SCOPED_RDS): {
        size_t m = xp_path_push_field(path, "scoped_rds");
        c->srds = true;
        if (pb->scoped_rds->scoped_rds_config_source == NULL)
            xp_tr_field_error(path, "scoped_rds_config_source", diag,
                              "scoped_rds_config_source is required");
        else
            xp_tr_config_source(pb->scoped_rds->scoped_rds_config_source, path,
                                "scoped_rds_config_source", &c->srds_source, diag);
        if (!xp__empty(pb->scoped_rds->srds_resources_locator))
            xp_tr_field_error(path, "srds_resources_locator", diag,
                              "xdstp:// resource locators are not supported by xproxy");
        xp_path_pop(path, m);
        break;
    }
    default:
        xp_diag_error(diag, xp_path_str(path),
                      "one of scoped_route_configurations_list or scoped_rds is required");
    }
    if (diag->nerrors != e0) {
        xp_scoped_routes_cfg_free(c);
        return NULL;
    }
    return c;
}
