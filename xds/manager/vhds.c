/* VHDS (see vhds.h): per route configuration, the virtual hosts VHDS
 * delivered and the on-demand names asked for; the merged tables; the
 * subscriptions; and the answers to workers' on-demand requests.
 *
 * Costs: finding a route configuration or an on-demand name is a linear
 * walk (route configurations with VHDS are few; on-demand names live only
 * while asked for or while their virtual host exists). Virtual hosts of a
 * route configuration are a sorted array (binary search, O(n) insert). A
 * VHDS update checks the domains it brings against a hash of every domain
 * of the route configuration kept with it (rebuilt only when its RDS table
 * changes); the table it then composes costs O(virtual hosts + domains)
 * for the domain index, nothing per route (about 3 ms of CPU for 10,000
 * virtual hosts on the 2-core test machine). */
#include "xds/manager/vhds.h"

#include "envoy/config/route/v3/route_components.pb-c.h"
#include "envoy/config/bootstrap/v3/bootstrap.pb-c.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/core/vhds_demand.h"
#include "xds/codec/codec.h"
#include "xds/translate/route.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- domains of a route configuration -------------------------------------- */

/* Lower-cased domain -> the VHDS virtual host serving it ("" for an RDS
 * one); an owner NULL is a domain given up. */
typedef struct {
    char *key;
    const char *owner;
} xp__dslot_t;

typedef struct {
    xp__dslot_t *v;
    size_t mask, n;
} xp__dmap_t;

static uint64_t xp__dhash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 1099511628211ull;
    }
    return h;
}

static xp__dslot_t *xp__dmap_slot(const xp__dmap_t *m, xp_str_t d)
{
    for (size_t i = xp__dhash(d.p, d.len) & m->mask;; i = (i + 1) & m->mask) {
        xp__dslot_t *s = &m->v[i];
        if (s->key == NULL || (strlen(s->key) == d.len && strncasecmp(s->key, d.p, d.len) == 0))
            return s;
    }
}

static void xp__dmap_put(xp__dmap_t *m, xp_str_t d, const char *owner)
{
    if ((m->n + 1) * 2 > m->mask + 1) {
        xp__dmap_t g = {xp_calloc((m->mask + 1) * 2, sizeof(xp__dslot_t)), (m->mask + 1) * 2 - 1,
                        m->n};
        for (size_t i = 0; i <= m->mask; i++)
            if (m->v[i].key)
                *xp__dmap_slot(&g, xp_str_c(m->v[i].key)) = m->v[i];
        free(m->v);
        *m = g;
    }
    xp__dslot_t *s = xp__dmap_slot(m, d);
    if (s->key == NULL) {
        s->key = xp_strndup(d.p, d.len);
        for (char *p = s->key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        m->n++;
    }
    s->owner = owner;
}

static const char *xp__dmap_get(const xp__dmap_t *m, xp_str_t d)
{
    return m->v ? xp__dmap_slot(m, d)->owner : NULL;
}

static void xp__dmap_free(xp__dmap_t *m)
{
    for (size_t i = 0; m->v && i <= m->mask; i++)
        free(m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof(*m));
}

static void xp__dmap_vhost(xp__dmap_t *m, const xp_vhost_t *vh, const char *owner)
{
    for (size_t j = 0; j < vh->ndomains; j++)
        xp__dmap_put(m, vh->domains[j], owner);
}

/* One accepted VHDS virtual host. */
typedef struct {
    char *name; /* resource name "<rc>/<x>" */
    char *version;
    uint8_t *raw; /* serialized VirtualHost: unchanged bytes keep the object */
    size_t raw_len;
    xp_vhost_t *vh; /* reference */
} xp__vh_t;

/* An on-demand name "<rc>/<host>": asked and not answered yet (pending), or
 * answered by the virtual host `vhost` (kept subscribed while it exists). */
typedef struct xp__alias {
    char *key;
    bool pending;
    uint64_t deadline_ms; /* pending: when to stop waiting */
    char *vhost;          /* answered: the resource name that serves it */
    struct xp__alias *next;
} xp__alias_t;

/* An xDS client VHDS subscriptions go to, by source. */
typedef struct xp__vclient {
    bool ads;
    uint8_t *api; /* packed ApiConfigSource (not ads) */
    size_t api_len;
    xp_xds_client_t *c;
    bool owned;
    bool subscribed;
    struct xp__vclient *next;
} xp__vclient_t;

/* A route configuration that uses VHDS. */
typedef struct xp__vrc {
    char *name;
    uint8_t *src; /* vhds.config_source bytes the client was chosen for */
    size_t src_len;
    xp__vclient_t *client; /* NULL when none could be made */
    xp__vh_t **vh;         /* sorted by name */
    size_t nvh;
    xp__alias_t *aliases;
    uint64_t gen;                    /* bumped by every change of vh */
    xp_route_table_t *base, *merged; /* references: the cached composition */
    uint64_t merged_gen;
    /* Who serves each domain: base's virtual hosts first, then VHDS ones in
     * name order (one that clashes is left out); rebuilt when base changes,
     * kept up to date by updates. */
    xp__dmap_t dmap;
    const xp_route_table_t *dmap_base;
    bool got_first; /* a VHDS response arrived since it subscribed */
    bool seen;
    struct xp__vrc *next;
} xp__vrc_t;

struct xp_vhds {
    xp_server_t *s;
    xp_dataplane_t *dp;
    const xp_bootstrap_t *bs;
    xp_vhds_hooks_t hooks;
    xp__vrc_t *rcs;
    xp__vclient_t *clients;
    uv_timer_t timer; /* expiry of pending on-demand names */
    bool timer_on;
    uint64_t timer_due;
};

bool xp_vhds_is_type(const char *type_url)
{
    return strcmp(type_url, XP_XDS_TYPE_VIRTUAL_HOST) == 0;
}

/* ---- small helpers ------------------------------------------------------- */

static xp__vrc_t *xp__vrc_find(const xp_vhds_t *v, const char *name, size_t len)
{
    for (xp__vrc_t *r = v->rcs; r; r = r->next)
        if (strlen(r->name) == len && memcmp(r->name, name, len) == 0)
            return r;
    return NULL;
}

/* The route configuration a resource named "<rc>/<x>" belongs to (the
 * host part has no '/', the route configuration name may: Envoy matches
 * from the right). */
static xp__vrc_t *xp__vrc_of(const xp_vhds_t *v, const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? xp__vrc_find(v, name, (size_t)(slash - name)) : NULL;
}

static long xp__vh_index(const xp__vrc_t *r, const char *name, bool *found)
{
    size_t lo = 0, hi = r->nvh;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(r->vh[mid]->name, name);
        if (c == 0) {
            *found = true;
            return (long)mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return (long)lo;
}

static xp__vh_t *xp__vh_find(const xp__vrc_t *r, const char *name)
{
    bool found;
    long i = xp__vh_index(r, name, &found);
    return found ? r->vh[i] : NULL;
}

static void xp__vh_free(xp__vh_t *e)
{
    free(e->name);
    free(e->version);
    free(e->raw);
    xp_vhost_unref(e->vh);
    free(e);
}

static xp__alias_t *xp__alias_find(const xp__vrc_t *r, const char *key)
{
    for (xp__alias_t *a = r->aliases; a; a = a->next)
        if (strcmp(a->key, key) == 0)
            return a;
    return NULL;
}

static void xp__alias_free(xp__alias_t *a)
{
    free(a->key);
    free(a->vhost);
    free(a);
}

/* r's domain map, for its current base. */
static xp__dmap_t *xp__vrc_dmap(xp__vrc_t *r)
{
    if (r->dmap.v && r->dmap_base == r->base)
        return &r->dmap;
    xp__dmap_free(&r->dmap);
    r->dmap.v = xp_calloc(64, sizeof(xp__dslot_t));
    r->dmap.mask = 63;
    r->dmap_base = r->base;
    for (size_t i = 0; r->base && i < r->base->nvhosts; i++)
        xp__dmap_vhost(&r->dmap, r->base->vhosts[i], "");
    for (size_t i = 0; i < r->nvh; i++) {
        const xp_vhost_t *vh = r->vh[i]->vh;
        bool clash = false;
        for (size_t j = 0; j < vh->ndomains && !clash; j++)
            clash = xp__dmap_get(&r->dmap, vh->domains[j]) != NULL;
        if (!clash)
            xp__dmap_vhost(&r->dmap, vh, r->vh[i]->name);
    }
    return &r->dmap;
}

/* Whether every domain of VHDS virtual host e is its own in the map. */
static bool xp__vh_owns(const xp__dmap_t *m, const xp__vh_t *e)
{
    for (size_t j = 0; j < e->vh->ndomains; j++) {
        const char *o = xp__dmap_get(m, e->vh->domains[j]);
        if (o != e->name)
            return false;
    }
    return true;
}

/* Gives up the domains e holds in the map. */
static void xp__vh_release(xp__dmap_t *m, const xp__vh_t *e)
{
    for (size_t j = 0; j < e->vh->ndomains; j++)
        if (xp__dmap_get(m, e->vh->domains[j]) == e->name)
            xp__dmap_put(m, e->vh->domains[j], NULL);
}

/* ---- clients and subscriptions ---------------------------------------------- */

static xp__vclient_t *xp__vclient_get(xp_vhds_t *v, const uint8_t *src, size_t src_len,
                                      const char *where, xp_diag_t *diag)
{
    Envoy__Config__Core__V3__ConfigSource *cs =
        (Envoy__Config__Core__V3__ConfigSource *)xp_pb_unpack(
            &envoy__config__core__v3__config_source__descriptor, src_len, src);
    if (cs == NULL) {
        xp_diag_error(diag, where, "cannot decode the config source");
        return NULL;
    }
    bool ads = cs->config_source_specifier_case ==
               ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS;
    uint8_t *api = NULL;
    size_t api_len = 0;
    if (!ads && cs->api_config_source) {
        api_len = protobuf_c_message_get_packed_size(&cs->api_config_source->base);
        api = xp_malloc(api_len + 1);
        protobuf_c_message_pack(&cs->api_config_source->base, api);
    }
    xp__vclient_t *e = v->clients;
    while (e && !(e->ads == ads && e->api_len == api_len &&
                  (api_len == 0 || memcmp(e->api, api, api_len) == 0)))
        e = e->next;
    if (e == NULL) {
        bool owned = false;
        xp_xds_client_t *c = v->hooks.client_for(v->hooks.ctx, cs, where, diag, &owned);
        if (c) {
            e = xp_calloc(1, sizeof(*e));
            e->ads = ads;
            e->api = api;
            e->api_len = api_len;
            api = NULL;
            e->c = c;
            e->owned = owned;
            e->next = v->clients;
            v->clients = e;
        }
    }
    free(api);
    envoy__config__core__v3__config_source__free_unpacked(cs, NULL);
    return e;
}

/* Each client's subscription: the namespaces of its route configurations
 * and their on-demand names. Unchanged sets send nothing. */
static void xp__resubscribe(xp_vhds_t *v)
{
    for (xp__vclient_t *e = v->clients; e; e = e->next) {
        size_t n = 0, cap = 8;
        char **names = xp_malloc(cap * sizeof(*names));
        for (xp__vrc_t *r = v->rcs; r; r = r->next) {
            if (r->client != e)
                continue;
            if (n + 1 >= cap)
                names = xp_realloc(names, (cap *= 2) * sizeof(*names));
            names[n++] = r->name;
            for (xp__alias_t *a = r->aliases; a; a = a->next) {
                if (n + 1 >= cap)
                    names = xp_realloc(names, (cap *= 2) * sizeof(*names));
                names[n++] = a->key;
            }
        }
        if (n || e->subscribed) {
            e->subscribed = true;
            xp_xds_client_subscribe(e->c, XP_XDS_TYPE_VIRTUAL_HOST, false, names, n);
        }
        free(names);
    }
}

/* ---- answers to the workers ----------------------------------------------------- */

static void xp__answer(xp_vhds_t *v, const char *key)
{
    XP_DEBUG("vhds: on-demand %s answered", key);
    xp_dataplane_vhds_answered(v->dp, key);
}

static void xp__arm_timer(xp_vhds_t *v);

static void xp__on_timer(uv_timer_t *t)
{
    xp_vhds_t *v = t->data;
    v->timer_on = false;
    uint64_t now = uv_now(v->s->loop);
    bool dropped = false;
    for (xp__vrc_t *r = v->rcs; r; r = r->next) {
        xp__alias_t **pp = &r->aliases;
        while (*pp) {
            xp__alias_t *a = *pp;
            if (a->pending && now >= a->deadline_ms) {
                /* No answer in time: the waiting streams got their 404
                 * (their own timers); a later request asks again. */
                XP_INFO("vhds: no answer for on-demand virtual host %s in time", a->key);
                *pp = a->next;
                xp__answer(v, a->key);
                xp__alias_free(a);
                dropped = true;
                continue;
            }
            pp = &a->next;
        }
    }
    if (dropped)
        xp__resubscribe(v);
    xp__arm_timer(v);
}

static void xp__arm_timer(xp_vhds_t *v)
{
    uint64_t due = 0;
    for (xp__vrc_t *r = v->rcs; r; r = r->next)
        for (xp__alias_t *a = r->aliases; a; a = a->next)
            if (a->pending && (due == 0 || a->deadline_ms < due))
                due = a->deadline_ms;
    if (due == 0) {
        if (v->timer_on)
            uv_timer_stop(&v->timer);
        v->timer_on = false;
        return;
    }
    if (v->timer_on && v->timer_due <= due)
        return;
    uint64_t now = uv_now(v->s->loop);
    v->timer_on = true;
    v->timer_due = due;
    uv_timer_start(&v->timer, xp__on_timer, due > now ? due - now : 0, 0);
}

/* The table r serves now (composed or RDS), for host lookups. */
static const xp_route_table_t *xp__served(const xp__vrc_t *r)
{
    return r->merged && r->merged_gen == r->gen ? r->merged : r->base;
}

/* A worker's on-demand request. */
static void xp__on_demand(void *ctx, const char *key)
{
    xp_vhds_t *v = ctx;
    const char *slash = strrchr(key, '/');
    xp__vrc_t *r = slash ? xp__vrc_find(v, key, (size_t)(slash - key)) : NULL;
    if (r == NULL || r->client == NULL) {
        xp__answer(v, key); /* nothing to ask: the stream gets its 404 */
        return;
    }
    const xp_route_table_t *t = xp__served(r);
    xp__alias_t *a = xp__alias_find(r, key);
    if ((t && xp_route_table_find_vhost(t, xp_str_c(slash + 1), false)) || (a && !a->pending)) {
        /* Arrived meanwhile (the worker's snapshot is older than ours), or
         * answered already: route again with what there is. */
        xp__answer(v, key);
        return;
    }
    if (a)
        return; /* asked already; the answer goes to every waiting stream */
    a = xp_calloc(1, sizeof(*a));
    a->key = xp_strdup(key);
    a->pending = true;
    a->deadline_ms = uv_now(v->s->loop) + (t ? t->vhds.wait_ms : 5000);
    a->next = r->aliases;
    r->aliases = a;
    XP_DEBUG("vhds: asking for on-demand virtual host %s", key);
    xp__resubscribe(v);
    xp__arm_timer(v);
}

/* ---- lifecycle ------------------------------------------------------------------- */

xp_vhds_t *xp_vhds_new(xp_server_t *s, xp_dataplane_t *dp, const xp_bootstrap_t *bs,
                       const xp_vhds_hooks_t *hooks)
{
    xp_vhds_t *v = xp_calloc(1, sizeof(*v));
    v->s = s;
    v->dp = dp;
    v->bs = bs;
    v->hooks = *hooks;
    uv_timer_init(s->loop, &v->timer);
    v->timer.data = v;
    if (xp_vhds_demand_start(s->loop, xp__on_demand, v) != 0)
        XP_WARN("vhds: cannot take on-demand requests; they will get 404");
    return v;
}

static void xp__vrc_free(xp_vhds_t *v, xp__vrc_t *r, bool answer)
{
    for (size_t i = 0; i < r->nvh; i++)
        xp__vh_free(r->vh[i]);
    free(r->vh);
    while (r->aliases) {
        xp__alias_t *a = r->aliases;
        r->aliases = a->next;
        if (answer && a->pending)
            xp__answer(v, a->key);
        xp__alias_free(a);
    }
    xp_route_table_unref(r->base);
    xp_route_table_unref(r->merged);
    xp__dmap_free(&r->dmap);
    free(r->name);
    free(r->src);
    free(r);
}

static void xp__closed(uv_handle_t *h)
{
    free(h->data);
}

void xp_vhds_free(xp_vhds_t *v)
{
    if (v == NULL)
        return;
    xp_vhds_demand_stop();
    while (v->rcs) {
        xp__vrc_t *r = v->rcs;
        v->rcs = r->next;
        xp__vrc_free(v, r, false);
    }
    while (v->clients) {
        xp__vclient_t *e = v->clients;
        v->clients = e->next;
        if (e->owned)
            xp_xds_client_free(e->c);
        free(e->api);
        free(e);
    }
    uv_close((uv_handle_t *)&v->timer, xp__closed);
}

/* ---- route configurations ------------------------------------------------------ */

void xp_vhds_check(xp_vhds_t *v, const xp_route_table_t *t, const char *path, xp_diag_t *diag)
{
    if (!t->vhds.enabled || t->vhds.source == NULL)
        return;
    size_t e0 = diag->nerrors;
    char where[512];
    snprintf(where, sizeof(where), "%s.vhds.config_source", path);
    Envoy__Config__Core__V3__ConfigSource *cs =
        (Envoy__Config__Core__V3__ConfigSource *)xp_pb_unpack(
            &envoy__config__core__v3__config_source__descriptor, t->vhds.source_len,
            t->vhds.source);
    if (cs && cs->config_source_specifier_case ==
                  ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_ADS) {
        const Envoy__Config__Bootstrap__V3__Bootstrap *pb = xp_bootstrap_pb(v->bs);
        const Envoy__Config__Core__V3__ApiConfigSource *ads =
            pb->dynamic_resources ? pb->dynamic_resources->ads_config : NULL;
        char at[600];
        snprintf(at, sizeof(at), "%s.ads", where);
        if (ads == NULL)
            xp_diag_error(diag, at, "VHDS over ADS needs dynamic_resources.ads_config");
        else if (ads->api_type !=
                     ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__DELTA_GRPC &&
                 ads->api_type !=
                     ENVOY__CONFIG__CORE__V3__API_CONFIG_SOURCE__API_TYPE__AGGREGATED_DELTA_GRPC)
            xp_diag_error(diag, at,
                          "VHDS is served over Delta xDS only, but dynamic_resources.ads_config."
                          "api_type is not DELTA_GRPC");
    }
    if (cs)
        envoy__config__core__v3__config_source__free_unpacked(cs, NULL);
    if (diag->nerrors == e0)
        xp__vclient_get(v, t->vhds.source, t->vhds.source_len, where, diag);
}

void xp_vhds_sync_begin(xp_vhds_t *v)
{
    for (xp__vrc_t *r = v->rcs; r; r = r->next)
        r->seen = false;
}

void xp_vhds_sync_table(xp_vhds_t *v, const xp_route_table_t *t)
{
    if (t == NULL || !t->vhds.enabled)
        return;
    xp__vrc_t *r = xp__vrc_find(v, t->name.p, t->name.len);
    if (r && (r->src_len != t->vhds.source_len ||
              memcmp(r->src, t->vhds.source, t->vhds.source_len) != 0)) {
        /* Another source: what the old one delivered does not carry over. */
        xp__vrc_t **pp = &v->rcs;
        while (*pp != r)
            pp = &(*pp)->next;
        *pp = r->next;
        xp__vrc_free(v, r, true);
        r = NULL;
    }
    if (r == NULL) {
        r = xp_calloc(1, sizeof(*r));
        r->name = xp_strndup(t->name.p, t->name.len);
        r->src = xp_malloc(t->vhds.source_len + 1);
        memcpy(r->src, t->vhds.source, t->vhds.source_len);
        r->src_len = t->vhds.source_len;
        xp_diag_t d;
        xp_diag_init(&d);
        char where[300];
        snprintf(where, sizeof(where), "route_config[%s].vhds.config_source", r->name);
        r->client = xp__vclient_get(v, r->src, r->src_len, where, &d);
        xp_diag_print(&d, stderr, "vhds: ");
        xp_diag_free(&d);
        r->next = v->rcs;
        v->rcs = r;
    }
    if (r->base == NULL) /* VHDS updates check their domains against it */
        r->base = xp_route_table_ref((xp_route_table_t *)t);
    r->seen = true;
}

void xp_vhds_sync_end(xp_vhds_t *v)
{
    xp__vrc_t **pp = &v->rcs;
    while (*pp) {
        xp__vrc_t *r = *pp;
        if (!r->seen) {
            *pp = r->next;
            xp__vrc_free(v, r, true);
            continue;
        }
        pp = &r->next;
    }
    xp__resubscribe(v);
}

bool xp_vhds_ready(const xp_vhds_t *v, const xp_route_table_t *t)
{
    if (t == NULL || !t->vhds.enabled)
        return true;
    const xp__vrc_t *r = xp__vrc_find(v, t->name.p, t->name.len);
    return r == NULL || r->client == NULL || r->got_first;
}

xp_route_table_t *xp_vhds_table(xp_vhds_t *v, xp_route_table_t *base)
{
    if (base == NULL || !base->vhds.enabled)
        return base;
    xp__vrc_t *r = xp__vrc_find(v, base->name.p, base->name.len);
    if (r == NULL)
        return base;
    if (r->base != base) {
        xp_route_table_unref(r->base);
        r->base = xp_route_table_ref(base);
        r->gen++; /* the composition must follow the new RDS table */
    }
    if (r->nvh == 0)
        return base;
    if (r->merged && r->merged_gen == r->gen)
        return r->merged;
    /* RDS wins a domain both serve (possible only after an RDS update:
     * VHDS updates that collide are rejected). */
    const xp__dmap_t *m = xp__vrc_dmap(r);
    xp_vhost_t **extra = xp_calloc(r->nvh + 1, sizeof(*extra));
    size_t n = 0;
    for (size_t i = 0; i < r->nvh; i++) {
        if (!xp__vh_owns(m, r->vh[i])) {
            XP_WARN("vhds: virtual host %s left out of route configuration %s: one of its "
                    "domains is served by its RDS virtual hosts (or another VHDS one)",
                    r->vh[i]->name, r->name);
            continue;
        }
        extra[n++] = r->vh[i]->vh;
    }
    xp_diag_t d;
    xp_diag_init(&d);
    xp_route_table_t *t = xp_route_table_compose(base, extra, n, r->name, &d);
    free(extra);
    if (t == NULL) {
        xp_diag_print(&d, stderr, "vhds: ");
        XP_WARN("vhds: route configuration %s serves without its VHDS virtual hosts", r->name);
        xp_diag_free(&d);
        return base;
    }
    xp_diag_free(&d);
    xp_route_table_unref(r->merged);
    r->merged = t;
    r->merged_gen = r->gen;
    return t;
}

/* ---- updates ---------------------------------------------------------------------- */

/* Keys answered by one update, to tell the workers after it applied. */
typedef struct {
    char **v;
    size_t n;
} xp__keys_t;

static void xp__keys_add(xp__keys_t *k, const char *key)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->v[i], key) == 0)
            return;
    k->v = xp_realloc(k->v, (k->n + 1) * sizeof(*k->v));
    k->v[k->n++] = xp_strdup(key);
}

/* `key` was answered by virtual host `vhost` (NULL: it does not exist). */
static bool xp__resolve(xp__vrc_t *r, const char *key, const char *vhost, xp__keys_t *answered)
{
    xp__alias_t **pp = &r->aliases;
    while (*pp && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->next;
    xp__alias_t *a = *pp;
    if (a == NULL)
        return false;
    if (a->pending)
        xp__keys_add(answered, key);
    if (vhost == NULL) {
        *pp = a->next; /* nothing to follow: unsubscribed, asked again if needed */
        xp__alias_free(a);
        return true;
    }
    a->pending = false;
    free(a->vhost);
    a->vhost = xp_strdup(vhost);
    return true;
}

/* Removes virtual host i of r. */
static void xp__vh_remove(xp__vrc_t *r, size_t i)
{
    xp__vh_t *e = r->vh[i];
    if (r->dmap.v)
        xp__vh_release(&r->dmap, e);
    /* On-demand names it answered are answered no more. */
    xp__alias_t **pp = &r->aliases;
    while (*pp) {
        xp__alias_t *a = *pp;
        if (!a->pending && a->vhost && strcmp(a->vhost, e->name) == 0) {
            *pp = a->next;
            xp__alias_free(a);
            continue;
        }
        pp = &a->next;
    }
    memmove(&r->vh[i], &r->vh[i + 1], (r->nvh - i - 1) * sizeof(*r->vh));
    r->nvh--;
    r->gen++;
    xp__vh_free(e);
}

/* One added or changed virtual host of a response. Returns whether the
 * route configuration changed. */
static bool xp__add(xp__vrc_t *r, const xp_xds_resource_t *x, xp_diag_t *d)
{
    size_t len = protobuf_c_message_get_packed_size(x->msg);
    uint8_t *raw = xp_malloc(len + 1);
    protobuf_c_message_pack(x->msg, raw);
    bool found;
    long at = xp__vh_index(r, x->name, &found);
    xp__vh_t *old = found ? r->vh[at] : NULL;
    if (old && old->raw_len == len && memcmp(old->raw, raw, len) == 0) {
        free(old->version);
        old->version = xp_strdup(x->version ? x->version : "");
        free(raw);
        return false;
    }
    char root[600];
    snprintf(root, sizeof(root), "virtual_host[%s]", x->name);
    size_t e0 = d->nerrors;
    xp_vhost_t *vh = xp_codec_check_unknown_fields(x->msg, root, d)
                         ? NULL
                         : xp_translate_vhost((const Envoy__Config__Route__V3__VirtualHost *)x->msg,
                                              root, d, old ? old->vh : NULL, NULL);
    if (vh == NULL || d->nerrors != e0) {
        xp_vhost_unref(vh);
        free(raw);
        return false; /* NACKed; the previous version (if any) stays */
    }
    xp__dmap_t *m = xp__vrc_dmap(r);
    for (size_t j = 0; j < vh->ndomains; j++) {
        const char *owner = xp__dmap_get(m, vh->domains[j]);
        if (owner && strcmp(owner, x->name) != 0) {
            char at_path[700];
            snprintf(at_path, sizeof(at_path), "%s.domains[%zu]", root, j);
            xp_diag_error(d, at_path,
                          "domain \"%s\" is already served by %s of route configuration \"%s\"; "
                          "domains must be unique across virtual hosts",
                          vh->domains[j].p, owner[0] ? owner : "an RDS virtual host", r->name);
        }
    }
    if (d->nerrors != e0) {
        xp_vhost_unref(vh);
        free(raw);
        return false;
    }
    if (old) {
        xp__vh_release(m, old);
        xp_vhost_unref(old->vh);
        free(old->raw);
        free(old->version);
    } else {
        old = xp_calloc(1, sizeof(*old));
        old->name = xp_strdup(x->name);
        r->vh = xp_realloc(r->vh, (r->nvh + 1) * sizeof(*r->vh));
        memmove(&r->vh[at + 1], &r->vh[at], (r->nvh - (size_t)at) * sizeof(*r->vh));
        r->vh[at] = old;
        r->nvh++;
    }
    old->vh = vh;
    old->raw = raw;
    old->raw_len = len;
    old->version = xp_strdup(x->version ? x->version : "");
    xp__dmap_vhost(m, vh, old->name);
    r->gen++;
    return true;
}

int xp_vhds_on_update(xp_vhds_t *v, const char *version, const xp_xds_resource_t *res, size_t n,
                      char *const *removed, size_t n_removed, char **error_detail)
{
    uint64_t t0 = uv_hrtime();
    xp_diag_t d;
    xp_diag_init(&d);
    xp__keys_t answered = {0};
    bool changed = false;
    for (xp__vrc_t *r = v->rcs; r; r = r->next)
        if (!r->got_first && r->client) {
            r->got_first = true; /* Envoy's VHDS init target: any response */
            changed = true;
        }
    for (size_t i = 0; i < n; i++) {
        const xp_xds_resource_t *x = &res[i];
        xp__vrc_t *r = xp__vrc_of(v, x->name);
        for (size_t k = 0; r == NULL && k < x->n_aliases; k++)
            r = xp__vrc_of(v, x->aliases[k]);
        if (r == NULL) {
            XP_DEBUG("vhds: %s belongs to no route configuration with VHDS; ignored", x->name);
            continue;
        }
        changed |= xp__add(r, x, &d);
        /* Answered whether accepted or not: a rejected one leaves the host
         * without a virtual host, which the waiting streams learn now. */
        bool ok = xp__vh_find(r, x->name) != NULL;
        for (size_t k = 0; k < x->n_aliases; k++) {
            xp__vrc_t *ar = xp__vrc_of(v, x->aliases[k]);
            if (ar)
                xp__resolve(ar, x->aliases[k], ok && ar == r ? x->name : NULL, &answered);
        }
        xp__resolve(r, x->name, ok ? x->name : NULL, &answered);
    }
    for (size_t i = 0; i < n_removed; i++) {
        xp__vrc_t *r = xp__vrc_of(v, removed[i]);
        if (r == NULL)
            continue;
        bool found;
        long at = xp__vh_index(r, removed[i], &found);
        if (found) {
            xp__vh_remove(r, (size_t)at);
            changed = true;
        }
        xp__resolve(r, removed[i], NULL, &answered);
    }
    if (changed)
        v->hooks.apply(v->hooks.ctx); /* new tables reach the workers first */
    XP_DEBUG("vhds: version %s: %zu virtual hosts, %zu removed, applied in %.2f ms", version, n,
             n_removed, (double)(uv_hrtime() - t0) / 1e6);
    xp__resubscribe(v);
    xp__arm_timer(v);
    for (size_t i = 0; i < answered.n; i++) {
        xp__answer(v, answered.v[i]);
        free(answered.v[i]);
    }
    free(answered.v);
    int rc = 0;
    if (d.nerrors) {
        *error_detail = xp_diag_join(&d, XP_DIAG_ERROR);
        XP_WARN("vhds: rejected part of an update: %s", *error_detail);
        rc = -1;
    }
    xp_diag_free(&d);
    return rc;
}
