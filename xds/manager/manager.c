#include "xds/manager/manager.h"
#include "envoy/admin/v3/config_dump.pb-c.h"
#include "envoy/admin/v3/config_dump_shared.pb-c.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/config/route/v3/scoped_route.pb-c.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/u64map.h"
#include "proxy/router/route.h"
#include "xds/client/client.h"
#include "xds/codec/codec.h"
#include "xds/manager/vhds.h"
#include "xds/manager/manager_internal.h"
#include "xds/runtime/loader.h"
#include "xds/translate/cluster.h"
#include "xds/translate/listener.h"
#include "xds/translate/route.h"
#include "xds/translate/scoped.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const xp__type_urls[XP__NTYPES] = {
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
    "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
};
const char *const xp__type_names[XP__NTYPES] = {
    "listener", "route_config", "cluster", "cluster_load_assignment", "scoped_route_configuration"};

/* The client a type's subscriptions go to. */
static xp_xds_client_t *xp__client(xp_xds_manager_t *m, int t)
{
    int i = (t == XP__LDS || t == XP__RDS || t == XP__SRDS) ? 0 : 1;
    return m->clients[i] ? m->clients[i] : m->clients[!i];
}

static void xp__obj_unref(int t, void *obj)
{
    if (obj == NULL)
        return;
    switch (t) {
    case XP__LDS:
        xp_listener_cfg_unref(obj);
        break;
    case XP__RDS:
        xp_route_table_unref(obj);
        break;
    case XP__CDS:
        xp_cluster_cfg_unref(obj);
        break;
    case XP__EDS:
        xp_cla_unref(obj);
        break;
    case XP__SRDS:
        xp_scope_unref(obj);
        break;
    }
}

static void *xp__obj_ref(int t, void *obj)
{
    if (t == XP__LDS)
        xp_listener_cfg_ref(obj);
    else if (t == XP__CDS)
        xp_cluster_cfg_ref(obj);
    else if (t == XP__RDS)
        xp_route_table_ref(obj);
    else if (t == XP__SRDS)
        xp_scope_ref(obj);
    else
        xp_cla_ref(obj);
    return obj;
}

static void xp__res_free(int t, xp__res_t *r)
{
    xp__obj_unref(t, r->obj);
    xp__obj_unref(t, r->applied);
    free(r->name);
    free(r->version);
    free(r->src);
    free(r->raw);
    free(r);
}

/* Resources are one namespace per type, except SRDS: each source is a set
 * of its own. */
static bool xp__src_match(int t, const xp__res_t *r, const char *src)
{
    return t != XP__SRDS || r->src == src || (r->src && src && strcmp(r->src, src) == 0);
}

xp__res_t *xp__find_src(xp_xds_manager_t *m, int t, const char *name, const char *src)
{
    for (xp__res_t *r = m->res[t]; r; r = r->next)
        if (strcmp(r->name, name) == 0 && xp__src_match(t, r, src))
            return r;
    return NULL;
}

static xp__res_t *xp__find(xp_xds_manager_t *m, int t, const char *name)
{
    return xp__find_src(m, t, name, NULL);
}

static void xp__remove_src(xp_xds_manager_t *m, int t, const char *name, const char *src)
{
    xp__res_t **pp = &m->res[t];
    while (*pp) {
        if (strcmp((*pp)->name, name) == 0 && xp__src_match(t, *pp, src)) {
            xp__res_t *r = *pp;
            *pp = r->next;
            xp_listener_cfg_t *serving = t == XP__LDS ? (r->warm ? r->obj : r->applied) : NULL;
            if (serving && xp_addr_port(&serving->addr) != 0) {
                m->leaving = xp_realloc(m->leaving, (m->n_leaving + 1) * sizeof(*m->leaving));
                xp_listener_cfg_ref(serving);
                m->leaving[m->n_leaving++] = serving;
            }
            xp__res_free(t, r);
            return;
        }
        pp = &(*pp)->next;
    }
}

static int xp__type_of(const char *url)
{
    for (int t = 0; t < XP__NTYPES; t++)
        if (strcmp(url, xp__type_urls[t]) == 0)
            return t;
    return -1;
}

/* prev: the accepted object of the same name, if any (route tables share
 * their unchanged routes with it). A route configuration from an xDS
 * client comes as bytes only (x->msg NULL: raw_types), and is decoded and
 * checked route by route as it is translated. */
static void *xp__translate(int t, const xp_xds_resource_t *x, xp_path_t *path, xp_diag_t *d,
                           void *prev)
{
    const ProtobufCMessage *msg = x->msg;
    switch (t) {
    case XP__LDS:
        return xp_translate_listener((const Envoy__Config__Listener__V3__Listener *)msg, path, d);
    case XP__RDS:
        if (msg == NULL)
            return xp_translate_route_config_bytes(x->raw, x->raw_len, xp_path_str(path), d, prev,
                                                   NULL);
        return xp_translate_route_config_reuse(
            (const Envoy__Config__Route__V3__RouteConfiguration *)msg, xp_path_str(path), d, prev,
            NULL);
    case XP__CDS:
        return xp_translate_cluster((const Envoy__Config__Cluster__V3__Cluster *)msg, path, d);
    case XP__EDS:
        return xp_translate_cla((const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)msg,
                                path, d);
    case XP__SRDS:
        return xp_translate_scope((const Envoy__Config__Route__V3__ScopedRouteConfiguration *)msg,
                                  path, d, prev);
    }
    return NULL;
}

/* ---- references, warming, applying --------------------------------------- */

bool xp__strv_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

void xp__strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void xp__refs_add(xp__refs_t *r, const char *name, const xp_cfg_source_t *src)
{
    if (xp__refs_has(r, name))
        return;
    r->v = xp_realloc(r->v, (r->n + 1) * sizeof(*r->v));
    r->v[r->n++] = (xp__ref_t){xp_strdup(name), src};
}

bool xp__refs_has(const xp__refs_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return true;
    return false;
}

void xp__refs_free(xp__refs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].name);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* What a listener's HTTP connection managers reference: RDS names and SRDS
 * sets (with the route configurations of their scopes). */
static void xp__listener_refs(xp_xds_manager_t *m, const xp_listener_cfg_t *l, xp__refs_t *refs)
{
    for (size_t i = 0; i <= l->n_chains; i++) {
        const xp_filter_chain_t *fc = i < l->n_chains ? l->chains[i] : l->default_chain;
        if (fc == NULL || fc->kind != XP_NET_FILTER_HCM)
            continue;
        if (fc->u.hcm->rds_name)
            xp__refs_add(&refs[XP__RDS], fc->u.hcm->rds_name, &fc->u.hcm->rds_source);
        if (fc->u.hcm->scoped)
            xp__scoped_refs(m, fc->u.hcm->scoped, refs);
    }
}

static void xp__cluster_refs(const xp_cluster_cfg_t *c, xp__refs_t *refs)
{
    if (c->type == XP_CLUSTER_EDS)
        xp__refs_add(&refs[XP__EDS], c->eds_service_name, &c->eds_source);
}

/* A listener is ready when each route configuration it names is served (a
 * warm one, or the previous version while a new one warms) and each scope
 * set it names has arrived with its scopes' route configurations. */
static bool xp__listener_ready(xp_xds_manager_t *m, const xp_listener_cfg_t *l)
{
    xp__refs_t refs[XP__NTYPES] = {{0}};
    xp__listener_refs(m, l, refs);
    bool ok = true;
    for (size_t i = 0; i < refs[XP__RDS].n; i++) {
        const xp__res_t *r = xp__find(m, XP__RDS, refs[XP__RDS].v[i].name);
        if (r == NULL || (!r->warm && r->applied == NULL))
            ok = false;
    }
    for (size_t i = 0; i < refs[XP__SRDS].n; i++)
        if (!xp__scope_set_ready(m, &refs[XP__SRDS].v[i]))
            ok = false;
    for (int t = 0; t < XP__NTYPES; t++)
        xp__refs_free(&refs[t]);
    return ok;
}

/* 1: the cluster is warming; 2: no such cluster (yet); 0: usable. */
static int xp__cluster_state(xp_xds_manager_t *m, xp_str_t name)
{
    for (const xp__res_t *r = m->res[XP__CDS]; r; r = r->next)
        if (strlen(r->name) == name.len && memcmp(r->name, name.p, name.len) == 0)
            return r->warm ? 0 : 1;
    size_t n;
    xp_cluster_cfg_t *const *sc = xp_bootstrap_clusters(m->bs, &n);
    for (size_t i = 0; i < n; i++)
        if (strlen(sc[i]->name) == name.len && memcmp(sc[i]->name, name.p, name.len) == 0)
            return 0;
    return 2;
}

#define XP__UNKNOWN_CLUSTER_GRACE_MS 1000

/* Whether route r of a new table was in prev too (the same object): every
 * route of prev is put in *kept, on first need. */
static bool xp__route_kept(xp_u64map_t *kept, bool *made, const xp_route_table_t *prev,
                           const xp_route_t *r)
{
    if (!*made) {
        *made = true;
        size_t n = 0;
        for (size_t v = 0; prev && v < prev->nvhosts; v++)
            n += prev->vhosts[v]->nroutes;
        xp_u64map_init(kept, n);
        for (size_t v = 0; prev && v < prev->nvhosts; v++)
            for (size_t i = 0; i < prev->vhosts[v]->nroutes; i++)
                xp_u64map_put(kept, (uintptr_t)prev->vhosts[v]->routes[i],
                              prev->vhosts[v]->routes[i]);
    }
    return xp_u64map_get(kept, (uintptr_t)r) != NULL;
}

/* Make-before-break at the route level: a route configuration waits while a
 * new or changed route in it points at a cluster that is still warming (up
 * to initial_fetch_timeout), or at one not known yet (a short grace,
 * XP__UNKNOWN_CLUSTER_GRACE_MS: with per-type streams the route can arrive
 * just before its cluster). Routes carried over from the previous version
 * (the same objects) never hold it back, and after the grace a route to a
 * missing cluster answers 503 NC, as in Envoy. Sets *grace_wait when only
 * the grace keeps it back.
 *
 * Each virtual host is compared with its previous generation
 * (xp_route_table_prev_vhost) by its routes' pointers, so the routes at its
 * start and end that both share are not touched; of the others, only one
 * whose cluster is not usable is looked up among all the routes carried
 * over. */
static bool xp__routes_ready(xp_xds_manager_t *m, const xp__res_t *res, uint64_t now,
                             bool *grace_wait)
{
    const xp_route_table_t *t = res->obj, *prev = res->applied;
    *grace_wait = false;
    bool ready = true, made = false;
    xp_u64map_t kept = {0};
    for (size_t v = 0; v < t->nvhosts; v++) {
        const xp_vhost_t *vh = t->vhosts[v];
        size_t head, tail;
        xp_vhost_common_ends(vh, xp_route_table_prev_vhost(prev, v, vh->name), &head, &tail);
        for (size_t i = head; i < vh->nroutes - tail; i++) {
            const xp_route_t *r = vh->routes[i];
            if (r->kind != XP_ROUTE_FORWARD)
                continue;
            size_t nc = r->action.cluster_kind == XP_CLUSTER_WEIGHTED ? r->action.nweighted
                        : r->action.cluster_kind == XP_CLUSTER_NAME   ? 1
                                                                      : 0;
            for (size_t k = 0; k < nc; k++) {
                xp_str_t name = r->action.cluster_kind == XP_CLUSTER_WEIGHTED
                                    ? r->action.weighted[k].name
                                    : r->action.cluster;
                int st = xp__cluster_state(m, name);
                if (st == 0)
                    continue;
                if (xp__route_kept(&kept, &made, prev, r))
                    break;
                if (st == 1) {
                    xp_u64map_free(&kept);
                    return false;
                }
                if (now < res->since_ms + XP__UNKNOWN_CLUSTER_GRACE_MS) {
                    *grace_wait = true;
                    ready = false;
                }
            }
        }
    }
    xp_u64map_free(&kept);
    return ready;
}

static void xp__apply(xp_xds_manager_t *m);

static void xp__on_timer(uv_timer_t *t)
{
    xp_xds_manager_t *m = t->data;
    m->timer_on = false;
    xp__apply(m);
}

static void xp__subscribe(xp_xds_manager_t *m, int t, char **names, size_t n)
{
    bool same = n == m->n_subscribed[t];
    for (size_t i = 0; same && i < n; i++)
        same = xp__strv_has(m->subscribed[t], m->n_subscribed[t], names[i]);
    if (same) {
        xp__strv_free(names, n);
        return;
    }
    xp__strv_free(m->subscribed[t], m->n_subscribed[t]);
    m->subscribed[t] = names;
    m->n_subscribed[t] = n;
    xp_xds_client_t *c = xp__client(m, t);
    if (c)
        xp_xds_client_subscribe(c, xp__type_urls[t], false, names, n);
}

/* SRDS is a wildcard subscription (as in Envoy), on while a listener names
 * a scoped_rds on the xDS stream. Turned off, its scopes go: a new
 * subscription starts from the server's state again. */
static void xp__subscribe_srds(xp_xds_manager_t *m, bool want)
{
    if (want == m->srds_subscribed)
        return;
    m->srds_subscribed = want;
    xp_xds_client_t *c = xp__client(m, XP__SRDS);
    if (c)
        xp_xds_client_subscribe(c, xp__type_urls[XP__SRDS], want, NULL, 0);
    if (!want)
        m->got_first[XP__SRDS] = false;
}

/* Everything listeners and clusters in force or warming reference. */
static void xp__all_refs(xp_xds_manager_t *m, xp__refs_t *refs)
{
    size_t nsl = 0, nsc = 0;
    xp_listener_cfg_t *const *sl = xp_bootstrap_listeners(m->bs, &nsl);
    xp_cluster_cfg_t *const *sc = xp_bootstrap_clusters(m->bs, &nsc);
    for (int t = 0; t < XP__NTYPES; t++)
        xp__refs_free(&refs[t]);
    for (size_t i = 0; i < nsl; i++)
        xp__listener_refs(m, sl[i], refs);
    for (xp__res_t *r = m->res[XP__LDS]; r; r = r->next) {
        xp__listener_refs(m, r->obj, refs);
        if (r->applied)
            xp__listener_refs(m, r->applied, refs);
    }
    for (size_t i = 0; i < m->n_leaving; i++)
        xp__listener_refs(m, m->leaving[i], refs);
    for (size_t i = 0; i < nsc; i++)
        xp__cluster_refs(sc[i], refs);
    for (xp__res_t *r = m->res[XP__CDS]; r; r = r->next)
        xp__cluster_refs(r->obj, refs);
}

static bool xp__srds_wanted(const xp__refs_t *srds, const char *src)
{
    for (size_t i = 0; i < srds->n; i++) {
        const char *p = srds->v[i].src ? srds->v[i].src->path : NULL;
        if (p == src || (p && src && strcmp(p, src) == 0))
            return true;
    }
    return false;
}

/* A listener removed while a new one on its address (with a port) warms
 * keeps accepting, with its config, until the new one is warm, and then
 * hands it its socket (xp_dataplane_apply): a control plane that renames
 * its listeners never leaves the port closed. The others go. Appends the
 * kept ones to *ls; returns the new count, and sets *dropped when one went
 * (what only it referenced goes at the next apply). */
static size_t xp__keep_leaving(xp_xds_manager_t *m, xp_listener_cfg_t ***ls, size_t nl,
                               bool *dropped)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n_leaving; i++) {
        xp_listener_cfg_t *l = m->leaving[i];
        bool warming = false, taken = false;
        for (xp__res_t *r = m->res[XP__LDS]; r && !warming; r = r->next)
            warming = !r->warm && strcmp(((xp_listener_cfg_t *)r->obj)->addr.str, l->addr.str) == 0;
        for (size_t j = 0; j < nl && !taken; j++)
            taken = strcmp((*ls)[j]->addr.str, l->addr.str) == 0 ||
                    strcmp((*ls)[j]->name, l->name) == 0;
        if (!warming || taken) {
            xp_listener_cfg_unref(l);
            *dropped = true;
            continue;
        }
        m->leaving[k++] = l;
        *ls = xp_realloc(*ls, (nl + 1) * sizeof(**ls));
        (*ls)[nl++] = l;
    }
    m->n_leaving = k;
    return nl;
}

/* Recomputes references, subscriptions, path sources and warming, builds the
 * config set and applies it. Returns the number of apply errors (added to
 * diag). */
int xp__apply_into(xp_xds_manager_t *m, xp_diag_t *diag)
{
    uint64_t now = uv_now(m->s->loop);
    size_t nsl = 0, nsc = 0;
    xp_listener_cfg_t *const *sl = xp_bootstrap_listeners(m->bs, &nsl);
    xp_cluster_cfg_t *const *sc = xp_bootstrap_clusters(m->bs, &nsc);

    /* RDS names and SRDS sets referenced by listeners, EDS names by EDS
     * clusters. Path sources are read as they are first named; scopes a
     * file brings can name more routes, hence the second round. */
    xp__refs_t refs[XP__NTYPES] = {{0}};
    for (int round = 0; round < 2; round++) {
        xp__all_refs(m, refs);
        xp__files_sync(m, refs);
    }
    /* Routes, endpoints and scopes nothing references any more go. */
    for (int t = XP__RDS; t < XP__NTYPES; t++) {
        if (t == XP__CDS)
            continue;
        xp__res_t *r = m->res[t];
        while (r) {
            xp__res_t *next = r->next;
            if (t == XP__SRDS ? !xp__srds_wanted(&refs[t], r->src)
                              : !xp__refs_has(&refs[t], r->name))
                xp__remove_src(m, t, r->name, r->src);
            r = next;
        }
    }
    for (int t = XP__RDS; t <= XP__EDS; t += 2) {
        char **names = xp_calloc(refs[t].n + 1, sizeof(*names));
        size_t n = 0;
        for (size_t i = 0; i < refs[t].n; i++)
            if (refs[t].v[i].src == NULL || refs[t].v[i].src->path == NULL)
                names[n++] = xp_strdup(refs[t].v[i].name);
        xp__subscribe(m, t, names, n);
    }
    xp__subscribe_srds(m, xp__srds_wanted(&refs[XP__SRDS], NULL));
    xp_vhds_sync_begin(m->vhds);
    for (xp__res_t *r = m->res[XP__RDS]; r; r = r->next) {
        xp_vhds_sync_table(m->vhds, r->obj);
        xp_vhds_sync_table(m->vhds, r->applied);
    }
    xp_vhds_sync_end(m->vhds);

    /* Warming: a listener waits for its RDS tables, an EDS cluster for its
     * assignment, at most initial_fetch_timeout; meanwhile the previous
     * version (if any) keeps serving. */
    uint64_t next_deadline = 0;
    size_t nl = 0, nc = 0;
    xp_listener_cfg_t **ls = xp_calloc(nsl + 1, sizeof(*ls));
    xp_cluster_cfg_t **cs = xp_calloc(nsc + 1, sizeof(*cs));
    for (size_t i = 0; i < nsl; i++)
        ls[nl++] = sl[i];
    for (size_t i = 0; i < nsc; i++)
        cs[nc++] = sc[i];
    /* Clusters first (they wait for endpoints), then route configurations
     * (they wait for their clusters), then scopes (they wait for their route
     * configurations), then listeners (they wait for their route
     * configurations and scopes). */
    static const int order[4] = {XP__CDS, XP__RDS, XP__SRDS, XP__LDS};
    size_t nr = 0, na = 0;
    for (xp__res_t *r = m->res[XP__RDS]; r; r = r->next)
        nr++;
    for (xp__res_t *r = m->res[XP__EDS]; r; r = r->next)
        na++;
    xp_route_table_t **rs = xp_calloc(nr + 1, sizeof(*rs));
    xp_cla_t **as = xp_calloc(na + 1, sizeof(*as));
    nr = na = 0;
    for (int k = 0; k < 4; k++) {
        int t = order[k];
        for (xp__res_t *r = m->res[t]; r; r = r->next) {
            if (!r->warm) {
                bool ready;
                if (t == XP__LDS)
                    ready = xp__listener_ready(m, r->obj);
                else if (t == XP__RDS) {
                    bool grace = false;
                    ready = xp__routes_ready(m, r, now, &grace) && xp_vhds_ready(m->vhds, r->obj);
                    if (!ready && grace) {
                        uint64_t g = r->since_ms + XP__UNKNOWN_CLUSTER_GRACE_MS;
                        if (next_deadline == 0 || g < next_deadline)
                            next_deadline = g;
                    }
                } else if (t == XP__SRDS)
                    ready = xp__scope_ready(m, r->obj);
                else
                    ready = ((xp_cluster_cfg_t *)r->obj)->type != XP_CLUSTER_EDS ||
                            xp__find(m, XP__EDS, ((xp_cluster_cfg_t *)r->obj)->eds_service_name);
                if (ready || now >= r->since_ms + m->init_timeout_ms) {
                    r->warm = true;
                    xp__obj_unref(t, r->applied);
                    r->applied = xp__obj_ref(t, r->obj);
                } else if (next_deadline == 0 || r->since_ms + m->init_timeout_ms < next_deadline) {
                    next_deadline = r->since_ms + m->init_timeout_ms;
                }
            }
            void *use = r->warm ? r->obj : r->applied;
            if (use == NULL)
                continue;
            if (t == XP__LDS) {
                ls = xp_realloc(ls, (nl + 1) * sizeof(*ls));
                ls[nl++] = use;
            } else if (t == XP__CDS) {
                cs = xp_realloc(cs, (nc + 1) * sizeof(*cs));
                cs[nc++] = use;
            } else if (t == XP__RDS) {
                rs[nr++] = xp_vhds_table(m->vhds, use);
            }
        }
    }
    bool dropped = false;
    nl = xp__keep_leaving(m, &ls, nl, &dropped);
    if (dropped)
        next_deadline = now ? now : 1; /* apply again at once, without its references */
    for (xp__res_t *r = m->res[XP__EDS]; r; r = r->next)
        as[na++] = r->obj;
    xp__scope_sets_build(m, &refs[XP__SRDS]);
    for (int t = 0; t < XP__NTYPES; t++)
        xp__refs_free(&refs[t]);

    xp_config_set_t set = {ls, nl, cs, nc, rs, nr, as, na, m->sets, m->n_sets};
    size_t errors0 = diag->nerrors;
    xp_dataplane_apply(m->dp, &set, diag);
    free(ls);
    free(cs);
    free(rs);
    free(as);

    if (next_deadline && (!m->timer_on || next_deadline < m->timer_due)) {
        m->timer_on = true;
        m->timer_due = next_deadline;
        uv_timer_start(&m->timer, xp__on_timer, next_deadline > now ? next_deadline - now : 0, 0);
    }
    /* Ready: the first LDS and CDS are in and warm, or the initial fetch
     * timed out (Envoy goes ready regardless). */
    if (!m->live) {
        bool all = true;
        for (int t = XP__LDS; t <= XP__CDS; t += 2) {
            if (m->want[t] && !m->got_first[t])
                all = false;
            for (xp__res_t *r = m->res[t]; r; r = r->next)
                if (!r->warm)
                    all = false;
        }
        if (!xp_runtime_loader_ready(m->rt))
            all = false;
        if (all || now >= m->start_ms + m->init_timeout_ms) {
            m->live = true;
            if (m->s->state != XP_SERVER_DRAINING)
                xp_server_set_state(m->s, XP_SERVER_LIVE);
        } else if (!m->timer_on || m->start_ms + m->init_timeout_ms < m->timer_due) {
            m->timer_on = true;
            m->timer_due = m->start_ms + m->init_timeout_ms;
            uv_timer_start(&m->timer, xp__on_timer, m->start_ms + m->init_timeout_ms - now, 0);
        }
    }
    return (int)(diag->nerrors - errors0);
}

static void xp__apply(xp_xds_manager_t *m)
{
    xp_diag_t d;
    xp_diag_init(&d);
    xp__apply_into(m, &d);
    xp_diag_print(&d, stderr, "xds: ");
    xp_diag_free(&d);
}

/* ---- updates from the control plane -------------------------------------- */

void xp__ingest(xp_xds_manager_t *m, int t, const char *version, const xp_xds_resource_t *res,
                size_t n, char *const *removed, size_t n_removed, bool delta, const char *src,
                xp_diag_t *d)
{
    uint64_t now = uv_now(m->s->loop);
    for (xp__res_t *r = m->res[t]; r; r = r->next)
        if (xp__src_match(t, r, src))
            r->seen = false;
    /* Translate everything first (SRDS checks the resulting set), then
     * commit what is valid. */
    xp__pending_t *p = xp_calloc(n + 1, sizeof(*p));
    for (size_t i = 0; i < n; i++) {
        const xp_xds_resource_t *x = &res[i];
        p[i].x = x;
        bool dup = false;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(res[k].name, x->name) == 0;
        if (dup) {
            /* The first one counts; the response is NACKed. */
            xp_diag_error(d, "", "duplicate %s '%s' in one response", xp__type_names[t], x->name);
            continue;
        }
        /* The bytes as received (xDS clients give them), or packed (files). */
        size_t len = x->raw ? x->raw_len : protobuf_c_message_get_packed_size(x->msg);
        xp__res_t *r = p[i].r = xp__find_src(m, t, x->name, src);
        uint8_t *raw = xp_malloc(len + 1);
        if (x->raw)
            memcpy(raw, x->raw, len);
        else
            protobuf_c_message_pack(x->msg, raw);
        if (r && r->raw_len == len && memcmp(r->raw, raw, len) == 0) {
            /* Unchanged: the same object keeps serving. */
            p[i].unchanged = true;
            free(raw);
            continue;
        }
        xp_path_t path;
        char root[300];
        snprintf(root, sizeof(root), "%s[%s]", xp__type_names[t], x->name);
        xp_path_init(&path, root);
        size_t e0 = d->nerrors;
        int unknown = x->msg ? xp_codec_check_unknown_fields(x->msg, root, d) : 0;
        void *obj = unknown ? NULL : xp__translate(t, x, &path, d, r ? r->obj : NULL);
        if (obj && t == XP__RDS)
            xp_vhds_check(m->vhds, obj, root, d);
        if (obj == NULL || d->nerrors != e0) {
            /* Invalid: NACKed; the last accepted version (if any) stays. */
            xp__obj_unref(t, obj);
            free(raw);
            continue;
        }
        p[i].obj = obj;
        p[i].raw = raw;
        p[i].len = len;
    }
    if (t == XP__SRDS)
        xp__scopes_check(m, p, n, removed, n_removed, delta, src, d);
    for (size_t i = 0; i < n; i++) {
        const xp_xds_resource_t *x = p[i].x;
        xp__res_t *r = p[i].r;
        const char *v = x->version ? x->version : version;
        if (p[i].obj == NULL) {
            if (r)
                r->seen = true;
            if (p[i].unchanged) {
                free(r->version);
                r->version = xp_strdup(v ? v : "");
            }
            free(p[i].raw);
            continue;
        }
        if (r == NULL) {
            r = xp_calloc(1, sizeof(*r));
            r->name = xp_strdup(x->name);
            r->next = m->res[t];
            m->res[t] = r;
        }
        free(r->src);
        r->src = src ? xp_strdup(src) : NULL;
        xp__obj_unref(t, r->obj);
        r->obj = p[i].obj;
        free(r->raw);
        r->raw = p[i].raw;
        r->raw_len = p[i].len;
        free(r->version);
        r->version = xp_strdup(v ? v : "");
        r->seen = true;
        r->warm = false;
        r->since_ms = now;
        r->last_updated = time(NULL);
    }
    free(p);
    if (delta) {
        for (size_t i = 0; i < n_removed; i++)
            xp__remove_src(m, t, removed[i], src);
    } else if (t == XP__LDS || t == XP__CDS || t == XP__SRDS) {
        /* State of the world: what the response does not name is gone. */
        xp__res_t *r = m->res[t];
        while (r) {
            xp__res_t *next = r->next;
            if (!r->seen && xp__src_match(t, r, src))
                xp__remove_src(m, t, r->name, r->src);
            r = next;
        }
    }
    if (src == NULL) {
        free(m->version[t]);
        m->version[t] = xp_strdup(version ? version : "");
        m->got_first[t] = true;
    }
}

static int xp__on_update(void *ctx, const char *type_url, const char *version,
                         const xp_xds_resource_t *res, size_t n, char *const *removed,
                         size_t n_removed, bool delta, char **error_detail)
{
    xp_xds_manager_t *m = ctx;
    if (strcmp(type_url, XP_XDS_TYPE_RUNTIME) == 0) {
        int rc = xp_runtime_loader_on_update(m->rt, res, n, removed, n_removed, error_detail);
        if (!m->live)
            xp__apply(m); /* the server may be waiting for RTDS to go LIVE */
        return rc;
    }
    int t = xp__type_of(type_url);
    if (t < 0 && xp_vhds_is_type(type_url))
        return xp_vhds_on_update(m->vhds, version, res, n, removed, n_removed, error_detail);
    if (t < 0) {
        *error_detail = xp_asprintf("type %s is not supported by xproxy", type_url);
        return -1;
    }
    xp_diag_t d;
    xp_diag_init(&d);
    xp__ingest(m, t, version, res, n, removed, n_removed, delta, NULL, &d);
    xp__apply_into(m, &d);
    /* Accepted with a warning (e.g. an access logger xproxy does not
     * implement): said in the log, as at startup. */
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].sev == XP_DIAG_WARNING)
            XP_WARN("xds: %s version %s: %s: %s", xp__type_names[t], version, d.v[i].path,
                    d.v[i].msg);
    if (d.nerrors) {
        *error_detail = xp_diag_join(&d, XP_DIAG_ERROR);
        XP_WARN("xds: rejected part of %s version %s: %s", xp__type_names[t], version,
                *error_detail);
        xp_diag_free(&d);
        return -1;
    }
    xp_diag_free(&d);
    return 0;
}

static void xp__on_connection(void *ctx, bool connected)
{
    (void)ctx;
    XP_INFO("xds: control plane %s", connected ? "connected" : "disconnected");
}

/* ---- start ----------------------------------------------------------------- */

/* The bootstrap's static cluster named cname when it has an endpoint. */
static const xp_cluster_cfg_t *xp__static_cluster(const xp_xds_manager_t *m, const char *cname)
{
    size_t n;
    xp_cluster_cfg_t *const *cs = xp_bootstrap_clusters(m->bs, &n);
    for (size_t i = 0; cname && i < n; i++)
        if (strcmp(cs[i]->name, cname) == 0)
            return cs[i]->n_endpoints ? cs[i] : NULL;
    return NULL;
}

/* "host:port" (name or address) of an endpoint; caller frees. */
static char *xp__endpoint_str(const xp_endpoint_cfg_t *e)
{
    if (e->hostname)
        return xp_asprintf("%s:%u", e->hostname, e->port);
    return xp_strdup(e->addr.str);
}

/* The gRPC target of an ApiConfigSource: envoy_grpc names a static cluster
 * (its first endpoint), google_grpc gives a target URI. */
static char *xp__target(const xp_xds_manager_t *m,
                        const Envoy__Config__Core__V3__ApiConfigSource *api, const char *path,
                        xp_diag_t *d)
{
    if (api->n_grpc_services == 0) {
        xp_diag_error(d, path, "grpc_services is required");
        return NULL;
    }
    const Envoy__Config__Core__V3__GrpcService *g = api->grpc_services[0];
    if (g->target_specifier_case ==
        ENVOY__CONFIG__CORE__V3__GRPC_SERVICE__TARGET_SPECIFIER_GOOGLE_GRPC)
        return xp_strdup(g->google_grpc->target_uri);
    const char *cname = g->envoy_grpc ? g->envoy_grpc->cluster_name : NULL;
    const xp_cluster_cfg_t *cl = xp__static_cluster(m, cname);
    if (cl)
        return xp__endpoint_str(&cl->endpoints[0]);
    xp_diag_error(d, path, "envoy_grpc.cluster_name '%s' is not a static cluster with an endpoint",
                  cname ? cname : "");
    return NULL;
}

static uint64_t xp__duration_ms(const Google__Protobuf__Duration *d)
{
    return (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
}

/* REST (api_type REST): the endpoints of the one static cluster in
 * cluster_names, refresh_delay (required, as in Envoy) and request_timeout
 * (default 1 s). Fills cc's REST fields; *hosts is the caller's to free. */
static int xp__rest_config(const xp_xds_manager_t *m,
                           const Envoy__Config__Core__V3__ApiConfigSource *api, const char *where,
                           xp_xds_client_config_t *cc, char ***hosts, xp_diag_t *d)
{
    char path[192];
    size_t e0 = d->nerrors;
#define XP__AT(field) (snprintf(path, sizeof(path), "%s.api_config_source.%s", where, field), path)
    if (api->n_grpc_services)
        xp_diag_error(d, XP__AT("grpc_services"),
                      "must be empty with api_type REST (the server is named by cluster_names)");
    const xp_cluster_cfg_t *cl = NULL;
    if (api->n_cluster_names != 1)
        xp_diag_error(d, XP__AT("cluster_names"),
                      "api_type REST needs exactly one static cluster (%zu given)",
                      api->n_cluster_names);
    else if ((cl = xp__static_cluster(m, api->cluster_names[0])) == NULL)
        xp_diag_error(d, XP__AT("cluster_names[0]"),
                      "'%s' is not a static cluster with an endpoint", api->cluster_names[0]);
    if (api->refresh_delay == NULL)
        xp_diag_error(d, XP__AT("refresh_delay"),
                      "refresh_delay is required for REST API configuration sources");
    else if (xp__duration_ms(api->refresh_delay) == 0)
        xp_diag_error(d, XP__AT("refresh_delay"), "must be at least 1ms");
    if (api->request_timeout && xp__duration_ms(api->request_timeout) == 0)
        xp_diag_error(d, XP__AT("request_timeout"), "must be at least 1ms");
#undef XP__AT
    if (d->nerrors != e0)
        return -1;
    *hosts = xp_calloc(cl->n_endpoints + 1, sizeof(char *));
    for (size_t i = 0; i < cl->n_endpoints; i++)
        (*hosts)[i] = xp__endpoint_str(&cl->endpoints[i]);
    cc->transport = XP_XDS_TRANSPORT_REST;
    cc->hosts = (const char *const *)*hosts;
    cc->n_hosts = cl->n_endpoints;
    cc->authority = cl->name; /* Envoy's Host header */
    cc->refresh_delay_ms = xp__duration_ms(api->refresh_delay);
    cc->request_timeout_ms = api->request_timeout ? xp__duration_ms(api->request_timeout) : 1000;
    return 0;
}

/* rate_limit_settings: Envoy's defaults (100 tokens, 10 per second) for
 * what is unset. A bucket without tokens or a rate would never send, so
 * both are checked here; REST polls on refresh_delay and ignores it. */
static int xp__rate_limit(const Envoy__Config__Core__V3__ApiConfigSource *api, const char *at,
                          bool rest, xp_xds_client_config_t *cc, xp_diag_t *d)
{
    const Envoy__Config__Core__V3__RateLimitSettings *rl = api->rate_limit_settings;
    if (rl == NULL)
        return 0;
    char path[192];
    if (rest) {
        snprintf(path, sizeof(path), "%s.rate_limit_settings", at);
        xp_diag_warn(d, path,
                     "applies to gRPC sources only; a REST source polls every "
                     "refresh_delay and ignores it");
        return 0;
    }
    cc->rate_limit_max_tokens = rl->max_tokens ? rl->max_tokens->value : 100;
    cc->rate_limit_fill_rate = rl->fill_rate ? rl->fill_rate->value : 10.0;
    int rc = 0;
    if (cc->rate_limit_max_tokens == 0) {
        snprintf(path, sizeof(path), "%s.rate_limit_settings.max_tokens", at);
        xp_diag_error(d, path, "must be at least 1 (no request could ever be sent)");
        rc = -1;
    }
    if (!(cc->rate_limit_fill_rate > 0) || cc->rate_limit_fill_rate > 1e9) {
        snprintf(path, sizeof(path), "%s.rate_limit_settings.fill_rate", at);
        xp_diag_error(d, path, "must be greater than 0 and at most 1e9 per second (got %g)",
                      cc->rate_limit_fill_rate);
        rc = -1;
    }
    return rc;
}

/* The API source behind a ConfigSource: ADS (the bootstrap's ads_config) or
 * its own api_config_source; NULL when it is neither. */
static const Envoy__Config__Core__V3__ApiConfigSource *
xp__api_of(const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr,
           const Envoy__Config__Core__V3__ConfigSource *src, bool *ads)
{
    *ads = src->config_source_specifier_case ==
           ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
    if (*ads)
        return dr->ads_config;
    if (src->config_source_specifier_case ==
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_API_CONFIG_SOURCE)
        return src->api_config_source;
    return NULL;
}

static bool xp__same_source(const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr,
                            const Envoy__Config__Core__V3__ConfigSource *a,
                            const Envoy__Config__Core__V3__ConfigSource *b)
{
    bool ads_a, ads_b;
    const Envoy__Config__Core__V3__ApiConfigSource *x = xp__api_of(dr, a, &ads_a);
    const Envoy__Config__Core__V3__ApiConfigSource *y = xp__api_of(dr, b, &ads_b);
    if (ads_a || ads_b)
        return ads_a == ads_b;
    if (x == NULL || y == NULL)
        return x == y;
    size_t lx = protobuf_c_message_get_packed_size(&x->base);
    size_t ly = protobuf_c_message_get_packed_size(&y->base);
    if (lx != ly)
        return false;
    uint8_t *bx = xp_malloc(lx + 1), *by = xp_malloc(ly + 1);
    protobuf_c_message_pack(&x->base, bx);
    protobuf_c_message_pack(&y->base, by);
    bool same = memcmp(bx, by, lx) == 0;
    free(bx);
    free(by);
    return same;
}

static xp_xds_client_t *
xp__client_for(xp_xds_manager_t *m,
               const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr,
               const Envoy__Config__Core__V3__ConfigSource *src, const char *field, xp_diag_t *diag)
{
    bool ads;
    const Envoy__Config__Core__V3__ApiConfigSource *api = xp__api_of(dr, src, &ads);
    char where[128];
    snprintf(where, sizeof(where), "%s", ads ? "dynamic_resources.ads_config" : field);
    if (api == NULL) {
        xp_diag_error(diag, where,
                      ads ? "ads_config is required for {ads: {}} sources"
                          : "an ADS, gRPC or REST api_config_source or path config source is "
                            "required");
        return NULL;
    }
    bool rest = api->api_type == ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__REST;
    if (rest && ads) {
        xp_diag_error(diag, "dynamic_resources.ads_config.api_type",
                      "ADS is not available over REST (use GRPC or DELTA_GRPC)");
        return NULL;
    }
    bool delta =
        api->api_type == ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__DELTA_GRPC ||
        api->api_type ==
            ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__AGGREGATED_DELTA_GRPC;
    xp_xds_client_config_t cc = {0};
    char **hosts = NULL;
    char *target = NULL;
    char api_at[160];
    snprintf(api_at, sizeof(api_at), "%s%s", where, ads ? "" : ".api_config_source");
    if (xp__rate_limit(api, api_at, rest, &cc, diag) != 0)
        return NULL;
    if (rest ? xp__rest_config(m, api, where, &cc, &hosts, diag) != 0
             : (target = xp__target(m, api, where, diag)) == NULL)
        return NULL;
    const Envoy__Config__Bootstrap__V3__Bootstrap *pb = xp_bootstrap_pb(m->bs);
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    if (pb->node)
        node = *pb->node;
    node.user_agent_name = (char *)"xproxy";
    node.user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = (char *)XP_VERSION;
    cc.target = target;
    cc.ads = ads;
    cc.delta = delta;
    cc.node = &node.base;
    cc.set_node_on_first_message_only = api->set_node_on_first_message_only;
    cc.stats = m->s->stats;
    /* Route configurations are decoded route by route against the previous
     * version (xp_translate_route_config_bytes). */
    static const char *const raw_types[] = {XP_XDS_TYPE_ROUTE, NULL};
    cc.raw_types = raw_types;
    static const xp_xds_callbacks_t cb = {xp__on_update, xp__on_connection};
    char *err = NULL;
    xp_xds_client_t *c = xp_xds_client_new(m->s->loop, &cc, &cb, m, &err);
    free(target);
    for (size_t i = 0; hosts && hosts[i]; i++)
        free(hosts[i]);
    free(hosts);
    if (c == NULL) {
        /* gRPC core is loaded only now, for the source that needs it. */
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &envoy__config__core__v3__api_config_source__api_type__descriptor, api->api_type);
        snprintf(where, sizeof(where), "%s%s.api_type",
                 ads ? "dynamic_resources.ads_config" : field, ads ? "" : ".api_config_source");
        xp_diag_error(diag, where, "%s needs gRPC core: %s", v ? v->name : "?", err);
        free(err);
    }
    return c;
}

static void xp__vhds_apply(void *ctx)
{
    xp__apply(ctx);
}

/* VHDS's client: the LDS or CDS one when the source is the same, else a
 * new one (owned by VHDS). */
static xp_xds_client_t *xp__vhds_client(void *ctx, const Envoy__Config__Core__V3__ConfigSource *src,
                                        const char *where, xp_diag_t *diag, bool *owned)
{
    xp_xds_manager_t *m = ctx;
    const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr =
        xp_bootstrap_pb(m->bs)->dynamic_resources;
    *owned = false;
    if (dr == NULL) {
        xp_diag_error(diag, where, "VHDS needs dynamic_resources");
        return NULL;
    }
    static const int types[2] = {XP__LDS, XP__CDS};
    for (int i = 0; i < 2; i++) {
        const Envoy__Config__Core__V3__ConfigSource *cs =
            types[i] == XP__LDS ? dr->lds_config : dr->cds_config;
        if (cs && !xp__is_path(cs) && xp__client(m, types[i]) && xp__same_source(dr, src, cs))
            return xp__client(m, types[i]);
    }
    *owned = true;
    return xp__client_for(m, dr, src, where, diag);
}

/* ---- runtime (RTDS) ---------------------------------------------------------- */

static void xp__publish_runtime(void *ctx, xp_runtime_t *rt)
{
    xp_xds_manager_t *m = ctx;
    xp_dataplane_set_runtime(m->dp, rt);
}

/* Each rtds_layer's rtds_config goes to the client of the same source (the
 * ADS stream, or the api_config_source LDS or CDS use), or to a client of
 * its own; each client then subscribes to its layers' Runtime names. */
static int xp__runtime_start(xp_xds_manager_t *m,
                             const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr,
                             const Envoy__Config__Core__V3__ConfigSource *lds,
                             const Envoy__Config__Core__V3__ConfigSource *cds, xp_diag_t *diag)
{
    size_t n = xp_runtime_loader_n_rtds(m->rt);
    xp_xds_client_t **of = xp_calloc(n + 1, sizeof(*of));
    const char **names = xp_calloc(n + 1, sizeof(*names));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const Envoy__Config__Core__V3__ConfigSource *src;
        const char *field;
        names[i] = xp_runtime_loader_rtds(m->rt, i, &src, &field);
        if (xp__is_path(src)) {
            xp_diag_error(diag, field, "path config sources are not supported for RTDS yet");
            rc = -1;
        } else if (lds && xp__same_source(dr, src, lds)) {
            of[i] = xp__client(m, XP__LDS);
        } else if (cds && xp__same_source(dr, src, cds)) {
            of[i] = xp__client(m, XP__CDS);
        } else {
            for (size_t k = 0; k < m->n_rt_clients && of[i] == NULL; k++)
                if (xp__same_source(dr, src, m->rt_srcs[k]))
                    of[i] = m->rt_clients[k];
            if (of[i] == NULL) {
                of[i] = xp__client_for(m, dr, src, field, diag);
                if (of[i] == NULL) {
                    rc = -1;
                    break;
                }
                m->rt_clients = xp_realloc(m->rt_clients, (m->n_rt_clients + 1) * sizeof(void *));
                m->rt_srcs = xp_realloc(m->rt_srcs, (m->n_rt_clients + 1) * sizeof(void *));
                m->rt_clients[m->n_rt_clients] = of[i];
                m->rt_srcs[m->n_rt_clients++] = src;
            }
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (of[i] == NULL)
            continue; /* already subscribed with an earlier layer's client */
        char **v = xp_calloc(n + 1, sizeof(*v));
        size_t k = 0;
        xp_xds_client_t *c = of[i];
        for (size_t j = i; j < n; j++)
            if (of[j] == c) {
                v[k++] = (char *)names[j];
                of[j] = NULL;
            }
        xp_xds_client_subscribe(c, XP_XDS_TYPE_RUNTIME, false, v, k);
        free(v);
    }
    free(of);
    free(names);
    return rc;
}

xp_runtime_loader_t *xp_xds_manager_runtime(xp_xds_manager_t *m)
{
    return m ? m->rt : NULL;
}

xp_xds_manager_t *xp_xds_manager_start(xp_server_t *s, xp_dataplane_t *dp, const xp_bootstrap_t *bs,
                                       xp_diag_t *diag)
{
    xp_xds_manager_t *m = xp_calloc(1, sizeof(*m));
    m->s = s;
    m->dp = dp;
    m->bs = bs;
    m->init_timeout_ms = 15000;
    m->start_ms = uv_now(s->loop);
    m->start_wall = time(NULL);
    uv_timer_init(s->loop, &m->timer);
    m->timer.data = m;
    const xp_vhds_hooks_t vh = {xp__vhds_apply, xp__vhds_client, m};
    m->vhds = xp_vhds_new(s, dp, bs, &vh);
    /* update_attempt/success/rejected per type are the xDS client's. */
    const Envoy__Config__Bootstrap__V3__Bootstrap *pb = xp_bootstrap_pb(bs);
    const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources *dr = pb->dynamic_resources;
    /* The runtime first: workers have it before any listener accepts. */
    m->rt = xp_runtime_loader_new(pb->layered_runtime, s->stats, xp__publish_runtime, m);
    bool rtds = xp_runtime_loader_n_rtds(m->rt) > 0;
    if (!rtds && (dr == NULL || (dr->lds_config == NULL && dr->cds_config == NULL))) {
        m->live = true;
        if (xp__apply_into(m, diag) != 0) {
            xp_xds_manager_free(m);
            return NULL;
        }
        if (s->state != XP_SERVER_DRAINING)
            xp_server_set_state(s, XP_SERVER_LIVE);
        return m;
    }
    /* Path sources are read here; what remains comes over gRPC. */
    static const Envoy__Config__Bootstrap__V3__Bootstrap__DynamicResources no_dr =
        ENVOY__CONFIG__BOOTSTRAP__V3__BOOTSTRAP__DYNAMIC_RESOURCES__INIT;
    if (dr == NULL)
        dr = &no_dr; /* RTDS alone */
    const Envoy__Config__Core__V3__ConfigSource *grpc_lds =
        xp__is_path(dr->lds_config) ? NULL : dr->lds_config;
    const Envoy__Config__Core__V3__ConfigSource *grpc_cds =
        xp__is_path(dr->cds_config) ? NULL : dr->cds_config;
    m->want[XP__LDS] = grpc_lds != NULL;
    m->want[XP__CDS] = grpc_cds != NULL;
    xp_server_set_state(s, XP_SERVER_INITIALIZING);
    if (xp__is_path(dr->cds_config) &&
        xp__file_src_start(m, XP__CDS, dr->cds_config, "dynamic_resources.cds_config", diag)) {
        xp_xds_manager_free(m);
        return NULL;
    }
    if (xp__is_path(dr->lds_config) &&
        xp__file_src_start(m, XP__LDS, dr->lds_config, "dynamic_resources.lds_config", diag)) {
        xp_xds_manager_free(m);
        return NULL;
    }
    if (grpc_lds == NULL && grpc_cds == NULL) {
        if (xp__runtime_start(m, dr, NULL, NULL, diag)) {
            xp_xds_manager_free(m);
            return NULL;
        }
        xp__apply_into(m, diag);
        return m;
    }
    const Envoy__Config__Core__V3__ConfigSource *src = grpc_cds ? grpc_cds : grpc_lds;
    if (src->initial_fetch_timeout)
        m->init_timeout_ms = (uint64_t)src->initial_fetch_timeout->seconds * 1000 +
                             (uint64_t)src->initial_fetch_timeout->nanos / 1000000;
    /* CDS (with EDS) and LDS (with RDS) each get the source their config
     * names; one client serves both when the sources are the same. */
    if (grpc_cds) {
        m->clients[1] = xp__client_for(m, dr, grpc_cds, "dynamic_resources.cds_config", diag);
        if (m->clients[1] == NULL) {
            xp_xds_manager_free(m);
            return NULL;
        }
    }
    if (grpc_lds && !(grpc_cds && xp__same_source(dr, grpc_lds, grpc_cds))) {
        m->clients[0] = xp__client_for(m, dr, grpc_lds, "dynamic_resources.lds_config", diag);
        if (m->clients[0] == NULL) {
            xp_xds_manager_free(m);
            return NULL;
        }
    }
    /* RTDS is asked for first, as Envoy initializes the runtime before
     * clusters and listeners. */
    if (xp__runtime_start(m, dr, grpc_lds, grpc_cds, diag)) {
        xp_xds_manager_free(m);
        return NULL;
    }
    /* Static resources serve at once; dynamic ones join as they arrive. */
    xp__apply_into(m, diag);
    if (m->want[XP__CDS])
        xp_xds_client_subscribe(xp__client(m, XP__CDS), xp__type_urls[XP__CDS], true, NULL, 0);
    if (m->want[XP__LDS])
        xp_xds_client_subscribe(xp__client(m, XP__LDS), xp__type_urls[XP__LDS], true, NULL, 0);
    return m;
}

static void xp__timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void xp_xds_manager_free(xp_xds_manager_t *m)
{
    if (m == NULL)
        return;
    xp_vhds_free(m->vhds);
    for (int i = 0; i < 2; i++)
        if (m->clients[i])
            xp_xds_client_free(m->clients[i]);
    for (size_t i = 0; i < m->n_rt_clients; i++)
        xp_xds_client_free(m->rt_clients[i]);
    free(m->rt_clients);
    free(m->rt_srcs);
    xp_runtime_loader_free(m->rt);
    xp__files_free(m);
    for (size_t i = 0; i < m->n_sets; i++)
        xp_scope_set_unref(m->sets[i]);
    free(m->sets);
    for (size_t i = 0; i < m->n_leaving; i++)
        xp_listener_cfg_unref(m->leaving[i]);
    free(m->leaving);
    for (int t = 0; t < XP__NTYPES; t++) {
        while (m->res[t]) {
            xp__res_t *n = m->res[t]->next;
            xp__res_free(t, m->res[t]);
            m->res[t] = n;
        }
        free(m->version[t]);
        xp__strv_free(m->subscribed[t], m->n_subscribed[t]);
    }
    uv_close((uv_handle_t *)&m->timer, xp__timer_closed);
}

/* ---- /config_dump ------------------------------------------------------------ */

/* Built as envoy.admin.v3 messages and printed by the codec, so the shape is
 * Envoy's. Each level is packed into an Any as soon as it is complete, so the
 * temporary messages below only ever hold Anys they own. */

typedef struct {
    Google__Protobuf__Any **v;
    size_t n;
} xp__anys_t;

static void xp__anys_add(xp__anys_t *a, Google__Protobuf__Any *x)
{
    a->v = xp_realloc(a->v, (a->n + 1) * sizeof(*a->v));
    a->v[a->n++] = x;
}

static void xp__anys_free(xp__anys_t *a)
{
    for (size_t i = 0; i < a->n; i++)
        protobuf_c_message_free_unpacked(&a->v[i]->base, NULL);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static Google__Protobuf__Any *xp__pack_res(int t, const xp__res_t *r)
{
    const ProtobufCMessageDescriptor *desc = xp_codec_find_type(xp__type_urls[t]);
    ProtobufCMessage *msg = xp_pb_unpack(desc, r->raw_len, r->raw);
    if (msg == NULL)
        return NULL;
    Google__Protobuf__Any *a = xp_any_pack(msg);
    protobuf_c_message_free_unpacked(msg, NULL);
    return a;
}

/* One Dynamic{Cluster,RouteConfig,EndpointConfig}: they share the shape
 * {version_info, <resource> Any, last_updated}, so one builder fills any of
 * them through its descriptor. */
static void xp__dyn_item(xp__anys_t *out, const ProtobufCMessageDescriptor *d, const char *field,
                         int t, const xp__res_t *r)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = r->last_updated;
    ProtobufCMessage *it = xp_calloc(1, d->sizeof_message);
    protobuf_c_message_init(d, it);
    Google__Protobuf__Any *any = xp__pack_res(t, r);
    const ProtobufCFieldDescriptor *fv =
        protobuf_c_message_descriptor_get_field_by_name(d, "version_info");
    const ProtobufCFieldDescriptor *fa = protobuf_c_message_descriptor_get_field_by_name(d, field);
    const ProtobufCFieldDescriptor *ft =
        protobuf_c_message_descriptor_get_field_by_name(d, "last_updated");
    *(char **)((char *)it + fv->offset) = r->version;
    *(Google__Protobuf__Any **)((char *)it + fa->offset) = any;
    *(Google__Protobuf__Timestamp **)((char *)it + ft->offset) = &ts;
    xp__anys_add(out, xp_any_pack(it));
    free(it); /* its fields were borrowed */
    if (any)
        protobuf_c_message_free_unpacked(&any->base, NULL);
}

/* Envoy's ScopedRoutesConfigDump.DynamicScopedRouteConfigs: one per
 * scoped_routes (by name) on SRDS, with the scopes of its source. */
static void xp__scoped_item(xp_xds_manager_t *m, const xp_scoped_routes_cfg_t *sr, xp__anys_t *out)
{
    Envoy__Admin__V3__ScopedRoutesConfigDump__DynamicScopedRouteConfigs it =
        ENVOY__ADMIN__V3__SCOPED_ROUTES_CONFIG_DUMP__DYNAMIC_SCOPED_ROUTE_CONFIGS__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    xp__anys_t scopes = {0};
    for (xp__res_t *r = m->res[XP__SRDS]; r; r = r->next) {
        if (!(r->src == sr->srds_source.path ||
              (r->src && sr->srds_source.path && strcmp(r->src, sr->srds_source.path) == 0)))
            continue;
        Google__Protobuf__Any *a = xp__pack_res(XP__SRDS, r);
        if (a)
            xp__anys_add(&scopes, a);
        if (r->last_updated > ts.seconds)
            ts.seconds = r->last_updated;
        if (it.version_info == protobuf_c_empty_string || it.version_info == NULL)
            it.version_info = r->version;
    }
    if (sr->srds_source.path == NULL && m->version[XP__SRDS])
        it.version_info = m->version[XP__SRDS];
    it.name = sr->name;
    it.scoped_route_configs = scopes.v;
    it.n_scoped_route_configs = scopes.n;
    it.last_updated = &ts;
    xp__anys_add(out, xp_any_pack(&it.base));
    xp__anys_free(&scopes);
}

static void xp__scoped_items(xp_xds_manager_t *m, xp__anys_t *out)
{
    size_t nsl = 0;
    xp_listener_cfg_t *const *sl = xp_bootstrap_listeners(m->bs, &nsl);
    xp__refs_t done = {0};
    xp__res_t *r = m->res[XP__LDS];
    for (size_t i = 0; i < nsl || r; i++) {
        const xp_listener_cfg_t *l = i < nsl ? sl[i] : r->obj;
        if (i >= nsl)
            r = r->next;
        for (size_t k = 0; k <= l->n_chains; k++) {
            const xp_filter_chain_t *fc = k < l->n_chains ? l->chains[k] : l->default_chain;
            if (fc == NULL || fc->kind != XP_NET_FILTER_HCM || fc->u.hcm->scoped == NULL ||
                !fc->u.hcm->scoped->srds || xp__refs_has(&done, fc->u.hcm->scoped->name))
                continue;
            xp__refs_add(&done, fc->u.hcm->scoped->name, NULL);
            xp__scoped_item(m, fc->u.hcm->scoped, out);
        }
    }
    xp__refs_free(&done);
}

/* The items of one repeated field of a *ConfigDump, each packed. */
static void xp__items(xp_xds_manager_t *m, const char *field, xp__anys_t *out)
{
    const Envoy__Config__Bootstrap__V3__Bootstrap *pb = xp_bootstrap_pb(m->bs);
    const Envoy__Config__Bootstrap__V3__Bootstrap__StaticResources *sr = pb->static_resources;
    Google__Protobuf__Timestamp boot_ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    boot_ts.seconds = m->start_wall;
    if (strcmp(field, "static_listeners") == 0) {
        for (size_t i = 0; sr && i < sr->n_listeners; i++) {
            Envoy__Admin__V3__ListenersConfigDump__StaticListener it =
                ENVOY__ADMIN__V3__LISTENERS_CONFIG_DUMP__STATIC_LISTENER__INIT;
            it.listener = xp_any_pack(&sr->listeners[i]->base);
            it.last_updated = &boot_ts;
            xp__anys_add(out, xp_any_pack(&it.base));
            protobuf_c_message_free_unpacked(&it.listener->base, NULL);
        }
    } else if (strcmp(field, "static_clusters") == 0) {
        for (size_t i = 0; sr && i < sr->n_clusters; i++) {
            Envoy__Admin__V3__ClustersConfigDump__StaticCluster it =
                ENVOY__ADMIN__V3__CLUSTERS_CONFIG_DUMP__STATIC_CLUSTER__INIT;
            it.cluster = xp_any_pack(&sr->clusters[i]->base);
            it.last_updated = &boot_ts;
            xp__anys_add(out, xp_any_pack(&it.base));
            protobuf_c_message_free_unpacked(&it.cluster->base, NULL);
        }
    } else if (strcmp(field, "dynamic_listeners") == 0) {
        for (xp__res_t *r = m->res[XP__LDS]; r; r = r->next) {
            Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
            ts.seconds = r->last_updated;
            Envoy__Admin__V3__ListenersConfigDump__DynamicListenerState st =
                ENVOY__ADMIN__V3__LISTENERS_CONFIG_DUMP__DYNAMIC_LISTENER_STATE__INIT;
            st.version_info = r->version;
            st.listener = xp__pack_res(XP__LDS, r);
            st.last_updated = &ts;
            Envoy__Admin__V3__ListenersConfigDump__DynamicListener it =
                ENVOY__ADMIN__V3__LISTENERS_CONFIG_DUMP__DYNAMIC_LISTENER__INIT;
            it.name = r->name;
            if (r->warm)
                it.active_state = &st;
            else
                it.warming_state = &st;
            xp__anys_add(out, xp_any_pack(&it.base));
            if (st.listener)
                protobuf_c_message_free_unpacked(&st.listener->base, NULL);
        }
    } else if (strcmp(field, "dynamic_active_clusters") == 0 ||
               strcmp(field, "dynamic_warming_clusters") == 0) {
        bool active = field[8] == 'a';
        for (xp__res_t *r = m->res[XP__CDS]; r; r = r->next)
            if (r->warm == active)
                xp__dyn_item(out,
                             &envoy__admin__v3__clusters_config_dump__dynamic_cluster__descriptor,
                             "cluster", XP__CDS, r);
    } else if (strcmp(field, "dynamic_route_configs") == 0) {
        for (xp__res_t *r = m->res[XP__RDS]; r; r = r->next)
            xp__dyn_item(out,
                         &envoy__admin__v3__routes_config_dump__dynamic_route_config__descriptor,
                         "route_config", XP__RDS, r);
    } else if (strcmp(field, "dynamic_scoped_route_configs") == 0) {
        xp__scoped_items(m, out);
    } else if (strcmp(field, "dynamic_endpoint_configs") == 0) {
        for (xp__res_t *r = m->res[XP__EDS]; r; r = r->next)
            xp__dyn_item(
                out, &envoy__admin__v3__endpoints_config_dump__dynamic_endpoint_config__descriptor,
                "endpoint_config", XP__EDS, r);
    }
}

/* Unpacks items packed by xp__items back into an array of messages of the
 * item type, for a section message's repeated field (owned; free each). */
static void **xp__unpacked(const xp__anys_t *a, const ProtobufCMessageDescriptor *d)
{
    void **v = xp_calloc(a->n + 1, sizeof(*v));
    for (size_t i = 0; i < a->n; i++)
        v[i] = xp_pb_unpack(d, a->v[i]->value.len, a->v[i]->value.data);
    return v;
}

static void xp__free_unpacked(void **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i])
            protobuf_c_message_free_unpacked(v[i], NULL);
    free(v);
}

char *xp_xds_manager_config_dump(xp_xds_manager_t *m, const char *resource)
{
    xp__anys_t configs = {0};
    if (resource) {
        /* ?resource=<field>: every item of that field, each its own config. */
        xp__items(m, resource, &configs);
    } else {
        Google__Protobuf__Timestamp boot_ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        boot_ts.seconds = m->start_wall;
        Envoy__Admin__V3__BootstrapConfigDump bd = ENVOY__ADMIN__V3__BOOTSTRAP_CONFIG_DUMP__INIT;
        bd.bootstrap = (Envoy__Config__Bootstrap__V3__Bootstrap *)xp_bootstrap_pb(m->bs);
        bd.last_updated = &boot_ts;
        xp__anys_add(&configs, xp_any_pack(&bd.base));

        xp__anys_t sc = {0}, ac = {0}, wc = {0};
        xp__items(m, "static_clusters", &sc);
        xp__items(m, "dynamic_active_clusters", &ac);
        xp__items(m, "dynamic_warming_clusters", &wc);
        Envoy__Admin__V3__ClustersConfigDump cd = ENVOY__ADMIN__V3__CLUSTERS_CONFIG_DUMP__INIT;
        cd.version_info = m->version[XP__CDS] ? m->version[XP__CDS] : (char *)"";
        cd.static_clusters = (Envoy__Admin__V3__ClustersConfigDump__StaticCluster **)xp__unpacked(
            &sc, &envoy__admin__v3__clusters_config_dump__static_cluster__descriptor);
        cd.n_static_clusters = sc.n;
        cd.dynamic_active_clusters =
            (Envoy__Admin__V3__ClustersConfigDump__DynamicCluster **)xp__unpacked(
                &ac, &envoy__admin__v3__clusters_config_dump__dynamic_cluster__descriptor);
        cd.n_dynamic_active_clusters = ac.n;
        cd.dynamic_warming_clusters =
            (Envoy__Admin__V3__ClustersConfigDump__DynamicCluster **)xp__unpacked(
                &wc, &envoy__admin__v3__clusters_config_dump__dynamic_cluster__descriptor);
        cd.n_dynamic_warming_clusters = wc.n;
        xp__anys_add(&configs, xp_any_pack(&cd.base));
        xp__free_unpacked((void **)cd.static_clusters, sc.n);
        xp__free_unpacked((void **)cd.dynamic_active_clusters, ac.n);
        xp__free_unpacked((void **)cd.dynamic_warming_clusters, wc.n);
        xp__anys_free(&sc);
        xp__anys_free(&ac);
        xp__anys_free(&wc);

        xp__anys_t sl = {0}, dl = {0};
        xp__items(m, "static_listeners", &sl);
        xp__items(m, "dynamic_listeners", &dl);
        Envoy__Admin__V3__ListenersConfigDump ld = ENVOY__ADMIN__V3__LISTENERS_CONFIG_DUMP__INIT;
        ld.version_info = m->version[XP__LDS] ? m->version[XP__LDS] : (char *)"";
        ld.static_listeners =
            (Envoy__Admin__V3__ListenersConfigDump__StaticListener **)xp__unpacked(
                &sl, &envoy__admin__v3__listeners_config_dump__static_listener__descriptor);
        ld.n_static_listeners = sl.n;
        ld.dynamic_listeners =
            (Envoy__Admin__V3__ListenersConfigDump__DynamicListener **)xp__unpacked(
                &dl, &envoy__admin__v3__listeners_config_dump__dynamic_listener__descriptor);
        ld.n_dynamic_listeners = dl.n;
        xp__anys_add(&configs, xp_any_pack(&ld.base));
        xp__free_unpacked((void **)ld.static_listeners, sl.n);
        xp__free_unpacked((void **)ld.dynamic_listeners, dl.n);
        xp__anys_free(&sl);
        xp__anys_free(&dl);

        xp__anys_t dr = {0};
        xp__items(m, "dynamic_route_configs", &dr);
        Envoy__Admin__V3__RoutesConfigDump rd = ENVOY__ADMIN__V3__ROUTES_CONFIG_DUMP__INIT;
        rd.dynamic_route_configs =
            (Envoy__Admin__V3__RoutesConfigDump__DynamicRouteConfig **)xp__unpacked(
                &dr, &envoy__admin__v3__routes_config_dump__dynamic_route_config__descriptor);
        rd.n_dynamic_route_configs = dr.n;
        xp__anys_add(&configs, xp_any_pack(&rd.base));
        xp__free_unpacked((void **)rd.dynamic_route_configs, dr.n);
        xp__anys_free(&dr);

        xp__anys_t ds = {0};
        xp__items(m, "dynamic_scoped_route_configs", &ds);
        Envoy__Admin__V3__ScopedRoutesConfigDump sd =
            ENVOY__ADMIN__V3__SCOPED_ROUTES_CONFIG_DUMP__INIT;
        sd.dynamic_scoped_route_configs =
            (Envoy__Admin__V3__ScopedRoutesConfigDump__DynamicScopedRouteConfigs **)xp__unpacked(
                &ds,
                &envoy__admin__v3__scoped_routes_config_dump__dynamic_scoped_route_configs__descriptor);
        sd.n_dynamic_scoped_route_configs = ds.n;
        xp__anys_add(&configs, xp_any_pack(&sd.base));
        xp__free_unpacked((void **)sd.dynamic_scoped_route_configs, ds.n);
        xp__anys_free(&ds);
    }
    Envoy__Admin__V3__ConfigDump cfg = ENVOY__ADMIN__V3__CONFIG_DUMP__INIT;
    cfg.configs = configs.v;
    cfg.n_configs = configs.n;
    char *json = xp_codec_to_json(&cfg.base, true);
    xp__anys_free(&configs);
    return json;
}
