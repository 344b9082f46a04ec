#include "xds/manager/manager.h"
#include "envoy/admin/v3/config_dump.pb-c.h"
#include "envoy/admin/v3/config_dump_shared.pb-c.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"
#include "proxy/router/route.h"
#include "xds/client/client.h"
#include "xds/codec/codec.h"
#include "xds/runtime/loader.h"
#include "xds/translate/cluster.h"
#include "xds/translate/listener.h"
#include "xds/translate/route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { XP__LDS, XP__RDS, XP__CDS, XP__EDS, XP__NTYPES };

static const char *const xp__type_urls[XP__NTYPES] = {
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
};
static const char *const xp__type_names[XP__NTYPES] = {"listener", "route_config", "cluster",
                                                       "cluster_load_assignment"};

/* One accepted resource. obj is its translation (a reference); applied is the
 * version of a listener or cluster the data plane serves while a newer one
 * warms (make-before-break). */
typedef struct xp__res {
    char *name;
    char *version;
    uint8_t *raw; /* serialized resource: unchanged bytes keep the same object */
    size_t raw_len;
    void *obj;
    void *applied;
    bool warm;
    bool seen;
    uint64_t since_ms; /* when it started warming */
    time_t last_updated;
    struct xp__res *next;
} xp__res_t;

struct xp_xds_manager {
    xp_server_t *s;
    xp_dataplane_t *dp;
    const xp_bootstrap_t *bs;
    xp_xds_client_t *clients[2]; /* [0] LDS and RDS, [1] CDS and EDS; one may serve both */
    xp_runtime_loader_t *rt;     /* layered_runtime; RTDS rides the clients above or its own */
    xp_xds_client_t **rt_clients;
    const Envoy__Config__Core__V3__ConfigSource **rt_srcs;
    size_t n_rt_clients;
    xp__res_t *res[XP__NTYPES];
    char *version[XP__NTYPES];
    bool got_first[XP__NTYPES];
    bool want[XP__NTYPES]; /* LDS/CDS configured */
    char **subscribed[XP__NTYPES];
    size_t n_subscribed[XP__NTYPES];
    struct xp__file_src *files;
    uint64_t init_timeout_ms;
    uint64_t start_ms;
    time_t start_wall;
    uv_timer_t timer;
    bool timer_on;
    uint64_t timer_due;
    bool live;
};

/* The client a type's subscriptions go to. */
static xp_xds_client_t *xp__client(xp_xds_manager_t *m, int t)
{
    int i = (t == XP__LDS || t == XP__RDS) ? 0 : 1;
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
    free(r->raw);
    free(r);
}

static xp__res_t *xp__find(xp_xds_manager_t *m, int t, const char *name)
{
    for (xp__res_t *r = m->res[t]; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static void xp__remove(xp_xds_manager_t *m, int t, const char *name)
{
    xp__res_t **pp = &m->res[t];
    while (*pp) {
        if (strcmp((*pp)->name, name) == 0) {
            xp__res_t *r = *pp;
            *pp = r->next;
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
 * their unchanged routes with it). */
static void *xp__translate(int t, const ProtobufCMessage *msg, xp_path_t *path, xp_diag_t *d,
                           void *prev)
{
    switch (t) {
    case XP__LDS:
        return xp_translate_listener((const Envoy__Config__Listener__V3__Listener *)msg, path, d);
    case XP__RDS:
        return xp_translate_route_config_reuse(
            (const Envoy__Config__Route__V3__RouteConfiguration *)msg, xp_path_str(path), d, prev,
            NULL);
    case XP__CDS:
        return xp_translate_cluster((const Envoy__Config__Cluster__V3__Cluster *)msg, path, d);
    case XP__EDS:
        return xp_translate_cla((const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *)msg,
                                path, d);
    }
    return NULL;
}

/* ---- references, warming, applying --------------------------------------- */

static bool xp__strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static void xp__strv_add(char ***v, size_t *n, const char *s)
{
    if (xp__strv_has(*v, *n, s))
        return;
    *v = xp_realloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xp_strdup(s);
}

static void xp__strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void xp__listener_rds(const xp_listener_cfg_t *l, char ***v, size_t *n)
{
    for (size_t i = 0; i <= l->n_chains; i++) {
        const xp_filter_chain_t *fc = i < l->n_chains ? l->chains[i] : l->default_chain;
        if (fc && fc->kind == XP_NET_FILTER_HCM && fc->u.hcm->rds_name)
            xp__strv_add(v, n, fc->u.hcm->rds_name);
    }
}

/* A listener is ready when each route configuration it names is served (a
 * warm one, or the previous version while a new one warms). */
static bool xp__listener_ready(xp_xds_manager_t *m, const xp_listener_cfg_t *l)
{
    char **names = NULL;
    size_t n = 0;
    xp__listener_rds(l, &names, &n);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const xp__res_t *r = xp__find(m, XP__RDS, names[i]);
        if (r == NULL || (!r->warm && r->applied == NULL))
            ok = false;
    }
    xp__strv_free(names, n);
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

static bool xp__table_has_route(const xp_route_table_t *t, const xp_route_t *r)
{
    for (size_t v = 0; t && v < t->nvhosts; v++)
        for (size_t i = 0; i < t->vhosts[v]->nroutes; i++)
            if (t->vhosts[v]->routes[i] == r)
                return true;
    return false;
}

/* Make-before-break at the route level: a route configuration waits while a
 * new or changed route in it points at a cluster that is still warming (up
 * to initial_fetch_timeout), or at one not known yet (a short grace: with
 * per-type streams the route can arrive just before its cluster). Routes
 * carried over from the previous version never hold it back, and after the
 * grace a route to a missing cluster answers 503 NC, as in Envoy. Sets
 * *grace_wait when only the grace keeps it back. */
#define XP__UNKNOWN_CLUSTER_GRACE_MS 1000
static bool xp__routes_ready(xp_xds_manager_t *m, const xp__res_t *res, uint64_t now,
                             bool *grace_wait)
{
    const xp_route_table_t *t = res->obj, *prev = res->applied;
    *grace_wait = false;
    bool ready = true;
    for (size_t v = 0; v < t->nvhosts; v++) {
        const xp_vhost_t *vh = t->vhosts[v];
        for (size_t i = 0; i < vh->nroutes; i++) {
            const xp_route_t *r = vh->routes[i];
            if (r->kind != XP_ROUTE_FORWARD || xp__table_has_route(prev, r))
                continue;
            for (size_t k = 0; k < (r->action.cluster_kind == XP_CLUSTER_WEIGHTED
                                        ? r->action.nweighted
                                        : (r->action.cluster_kind == XP_CLUSTER_NAME ? 1 : 0));
                 k++) {
                xp_str_t name = r->action.cluster_kind == XP_CLUSTER_WEIGHTED
                                    ? r->action.weighted[k].name
                                    : r->action.cluster;
                int st = xp__cluster_state(m, name);
                if (st == 1)
                    return false;
                if (st == 2 && now < res->since_ms + XP__UNKNOWN_CLUSTER_GRACE_MS) {
                    *grace_wait = true;
                    ready = false;
                }
            }
        }
    }
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

/* Recomputes RDS/EDS subscriptions and warming, builds the config set and
 * applies it. Returns the number of apply errors (added to diag). */
static int xp__apply_into(xp_xds_manager_t *m, xp_diag_t *diag)
{
    uint64_t now = uv_now(m->s->loop);
    size_t nsl = 0, nsc = 0;
    xp_listener_cfg_t *const *sl = xp_bootstrap_listeners(m->bs, &nsl);
    xp_cluster_cfg_t *const *sc = xp_bootstrap_clusters(m->bs, &nsc);

    /* RDS names referenced by listeners; EDS names by EDS clusters. */
    char **rds = NULL, **eds = NULL;
    size_t nrds = 0, neds = 0;
    for (size_t i = 0; i < nsl; i++)
        xp__listener_rds(sl[i], &rds, &nrds);
    for (xp__res_t *r = m->res[XP__LDS]; r; r = r->next) {
        xp__listener_rds(r->obj, &rds, &nrds);
        if (r->applied)
            xp__listener_rds(r->applied, &rds, &nrds);
    }
    for (size_t i = 0; i < nsc; i++)
        if (sc[i]->type == XP_CLUSTER_EDS)
            xp__strv_add(&eds, &neds, sc[i]->eds_service_name);
    for (xp__res_t *r = m->res[XP__CDS]; r; r = r->next) {
        const xp_cluster_cfg_t *c = r->obj;
        if (c->type == XP_CLUSTER_EDS)
            xp__strv_add(&eds, &neds, c->eds_service_name);
    }
    /* Routes and endpoints nothing references any more go. */
    for (int t = XP__RDS; t <= XP__EDS; t += 2) {
        char **v = t == XP__RDS ? rds : eds;
        size_t n = t == XP__RDS ? nrds : neds;
        xp__res_t *r = m->res[t];
        while (r) {
            xp__res_t *next = r->next;
            if (!xp__strv_has(v, n, r->name))
                xp__remove(m, t, r->name);
            r = next;
        }
    }
    xp__subscribe(m, XP__RDS, rds, nrds);
    xp__subscribe(m, XP__EDS, eds, neds);

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
     * (they wait for their clusters), then listeners (they wait for their
     * route configurations). */
    static const int order[3] = {XP__CDS, XP__RDS, XP__LDS};
    size_t nr = 0, na = 0;
    for (xp__res_t *r = m->res[XP__RDS]; r; r = r->next)
        nr++;
    for (xp__res_t *r = m->res[XP__EDS]; r; r = r->next)
        na++;
    xp_route_table_t **rs = xp_calloc(nr + 1, sizeof(*rs));
    xp_cla_t **as = xp_calloc(na + 1, sizeof(*as));
    nr = na = 0;
    for (int k = 0; k < 3; k++) {
        int t = order[k];
        for (xp__res_t *r = m->res[t]; r; r = r->next) {
            if (!r->warm) {
                bool ready;
                if (t == XP__LDS)
                    ready = xp__listener_ready(m, r->obj);
                else if (t == XP__RDS) {
                    bool grace = false;
                    ready = xp__routes_ready(m, r, now, &grace);
                    if (!ready && grace) {
                        uint64_t g = r->since_ms + XP__UNKNOWN_CLUSTER_GRACE_MS;
                        if (next_deadline == 0 || g < next_deadline)
                            next_deadline = g;
                    }
                } else
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
            } else {
                rs[nr++] = use;
            }
        }
    }
    for (xp__res_t *r = m->res[XP__EDS]; r; r = r->next)
        as[na++] = r->obj;

    xp_config_set_t set = {ls, nl, cs, nc, rs, nr, as, na};
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
    if (t < 0) {
        *error_detail = xp_asprintf("type %s is not supported by xproxy", type_url);
        return -1;
    }
    xp_diag_t d;
    xp_diag_init(&d);
    uint64_t now = uv_now(m->s->loop);
    for (xp__res_t *r = m->res[t]; r; r = r->next)
        r->seen = false;
    for (size_t i = 0; i < n; i++) {
        const xp_xds_resource_t *x = &res[i];
        for (size_t k = 0; k < i; k++)
            if (strcmp(res[k].name, x->name) == 0) {
                xp_diag_error(&d, "", "duplicate %s '%s' in one response", xp__type_names[t],
                              x->name);
                break;
            }
        size_t len = protobuf_c_message_get_packed_size(x->msg);
        uint8_t *raw = xp_malloc(len + 1);
        protobuf_c_message_pack(x->msg, raw);
        xp__res_t *r = xp__find(m, t, x->name);
        if (r && r->raw_len == len && memcmp(r->raw, raw, len) == 0) {
            /* Unchanged: the same object keeps serving. */
            r->seen = true;
            free(r->version);
            r->version = xp_strdup(x->version ? x->version : version);
            free(raw);
            continue;
        }
        xp_path_t path;
        char root[300];
        snprintf(root, sizeof(root), "%s[%s]", xp__type_names[t], x->name);
        xp_path_init(&path, root);
        size_t e0 = d.nerrors;
        int unknown = xp_codec_check_unknown_fields(x->msg, root, &d);
        void *obj = unknown ? NULL : xp__translate(t, x->msg, &path, &d, r ? r->obj : NULL);
        if (obj == NULL || d.nerrors != e0) {
            /* Invalid: NACKed; the last accepted version (if any) stays. */
            xp__obj_unref(t, obj);
            free(raw);
            if (r)
                r->seen = true;
            continue;
        }
        if (r == NULL) {
            r = xp_calloc(1, sizeof(*r));
            r->name = xp_strdup(x->name);
            r->next = m->res[t];
            m->res[t] = r;
        }
        xp__obj_unref(t, r->obj);
        r->obj = obj;
        free(r->raw);
        r->raw = raw;
        r->raw_len = len;
        free(r->version);
        r->version = xp_strdup(x->version ? x->version : version);
        r->seen = true;
        r->warm = false;
        r->since_ms = now;
        r->last_updated = time(NULL);
    }
    if (delta) {
        for (size_t i = 0; i < n_removed; i++)
            xp__remove(m, t, removed[i]);
    } else if (t == XP__LDS || t == XP__CDS) {
        /* State of the world: what the response does not name is gone. */
        xp__res_t *r = m->res[t];
        while (r) {
            xp__res_t *next = r->next;
            if (!r->seen)
                xp__remove(m, t, r->name);
            r = next;
        }
    }
    free(m->version[t]);
    m->version[t] = xp_strdup(version ? version : "");
    m->got_first[t] = true;
    xp__apply_into(m, &d);
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

/* ---- path config sources -------------------------------------------------- */

/* lds_config / cds_config from a file holding a DiscoveryResponse (YAML or
 * JSON), re-read whenever its directory reports a change to it (editors and
 * deploy tools replace files by rename, so the directory is watched, as
 * Envoy does). A file that does not parse is reported and the last good
 * content keeps serving. */
typedef struct xp__file_src {
    xp_xds_manager_t *m;
    int type;
    char *path;
    char *dir;
    char *base;
    uv_fs_event_t ev;
    uv_timer_t debounce;
    int open_handles; /* counted down by close callbacks */
    struct xp__file_src *next;
} xp__file_src_t;

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

static void xp__file_load(xp__file_src_t *f)
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
        res[k].name = (char *)name;
        res[k].version = dr->version_info;
        res[k].msg = msg;
        k++;
    }
    char *err = NULL;
    if (d.nerrors == 0)
        xp__on_update(m, xp__type_urls[f->type], dr->version_info, res, k, NULL, 0, false, &err);
    xp_diag_print(&d, stderr, "xds: ");
    if (err) {
        XP_WARN("xds: %s: %s", f->path, err);
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
    xp__file_load(t->data);
}

static void xp__file_event(uv_fs_event_t *ev, const char *filename, int events, int status)
{
    (void)events;
    xp__file_src_t *f = ev->data;
    if (status < 0 || (filename && strcmp(filename, f->base) != 0))
        return;
    /* A burst of events (write, close, rename) becomes one reload. */
    uv_timer_start(&f->debounce, xp__file_debounced, 50, 0);
}

static int xp__file_src_start(xp_xds_manager_t *m, int type,
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
    uv_fs_event_init(m->s->loop, &f->ev);
    f->ev.data = f;
    uv_timer_init(m->s->loop, &f->debounce);
    f->debounce.data = f;
    f->next = m->files;
    m->files = f;
    int rc = uv_fs_event_start(&f->ev, xp__file_event, f->dir, 0);
    if (rc) {
        xp_diag_error(diag, where, "cannot watch %s: %s", f->dir, uv_strerror(rc));
        return -1;
    }
    m->want[type] = true;
    xp__file_load(f);
    return 0;
}

static void xp__file_closed(uv_handle_t *h)
{
    xp__file_src_t *f = h->data;
    if (--f->open_handles > 0)
        return;
    free(f->path);
    free(f->dir);
    free(f->base);
    free(f);
}

static bool xp__is_path(const Envoy__Config__Core__V3__ConfigSource *src)
{
    return src &&
           (src->config_source_specifier_case ==
                ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH ||
            src->config_source_specifier_case ==
                ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH_CONFIG_SOURCE);
}

/* ---- start ----------------------------------------------------------------- */

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
    size_t n;
    xp_cluster_cfg_t *const *cs = xp_bootstrap_clusters(m->bs, &n);
    for (size_t i = 0; cname && i < n; i++) {
        if (strcmp(cs[i]->name, cname) != 0)
            continue;
        if (cs[i]->n_endpoints == 0)
            break;
        const xp_endpoint_cfg_t *e = &cs[i]->endpoints[0];
        if (e->hostname)
            return xp_asprintf("%s:%u", e->hostname, e->port);
        return xp_strdup(e->addr.str);
    }
    xp_diag_error(d, path, "envoy_grpc.cluster_name '%s' is not a static cluster with an endpoint",
                  cname ? cname : "");
    return NULL;
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
                          : "an ADS, gRPC api_config_source or path config source is required");
        return NULL;
    }
    if (api->api_type == ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__REST) {
        xp_diag_error(diag, where, "the REST transport is not supported yet");
        return NULL;
    }
    bool delta =
        api->api_type == ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__DELTA_GRPC ||
        api->api_type ==
            ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__AGGREGATED_DELTA_GRPC;
    char *target = xp__target(m, api, where, diag);
    if (target == NULL)
        return NULL;
    const Envoy__Config__Bootstrap__V3__Bootstrap *pb = xp_bootstrap_pb(m->bs);
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    if (pb->node)
        node = *pb->node;
    node.user_agent_name = (char *)"xproxy";
    node.user_agent_version_type_case =
        ENVOY__CONFIG__CORE__V3__NODE__USER_AGENT_VERSION_TYPE_USER_AGENT_VERSION;
    node.user_agent_version = (char *)XP_VERSION;
    xp_xds_client_config_t cc = {
        .target = target,
        .ads = ads,
        .delta = delta,
        .node = &node.base,
        .set_node_on_first_message_only = api->set_node_on_first_message_only,
        .stats = m->s->stats,
    };
    static const xp_xds_callbacks_t cb = {xp__on_update, xp__on_connection};
    xp_xds_client_t *c = xp_xds_client_new(m->s->loop, &cc, &cb, m);
    free(target);
    return c;
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
    for (int i = 0; i < 2; i++)
        if (m->clients[i])
            xp_xds_client_free(m->clients[i]);
    for (size_t i = 0; i < m->n_rt_clients; i++)
        xp_xds_client_free(m->rt_clients[i]);
    free(m->rt_clients);
    free(m->rt_srcs);
    xp_runtime_loader_free(m->rt);
    while (m->files) {
        xp__file_src_t *f = m->files;
        m->files = f->next;
        f->open_handles = 2;
        uv_close((uv_handle_t *)&f->ev, xp__file_closed);
        uv_close((uv_handle_t *)&f->debounce, xp__file_closed);
    }
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
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, r->raw_len, r->raw);
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
        v[i] = protobuf_c_message_unpack(d, NULL, a->v[i]->value.len, a->v[i]->value.data);
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
    }
    Envoy__Admin__V3__ConfigDump cfg = ENVOY__ADMIN__V3__CONFIG_DUMP__INIT;
    cfg.configs = configs.v;
    cfg.n_configs = configs.n;
    char *json = xp_codec_to_json(&cfg.base, true);
    xp__anys_free(&configs);
    return json;
}
