/* VHDS as the management server speaks it (Envoy's "Virtual Host Discovery
 * Service" page and xds_protocol's Delta rules), for the VirtualHost type:
 *
 *  - A VirtualHost resource named "<route config>/<x>" belongs to that route
 *    configuration (the host part has no '/': split at the last one).
 *  - A client subscribed to "<route config>" (Envoy subscribes the route
 *    configuration's name) gets every virtual host of it, except those
 *    marked on-demand (metadata.filter_metadata["xds-server"].on_demand:
 *    true), which it gets only once it asks for one of their hosts.
 *  - Any other subscribed name "<route config>/<host>" is an on-demand
 *    request: the answer is the virtual host of that route configuration
 *    whose domains match the host best (Envoy's precedence: exact, longest
 *    suffix wildcard, longest prefix wildcard, "*"; a ":port" is tried
 *    with and without), sent with the name among its aliases; when none
 *    does, a Resource whose name and alias are the requested name and
 *    which has no body. A host that gains a virtual host later is answered
 *    then ("clients must be prepared for the resource to be created").
 *  - Virtual hosts the client has are kept up to date and removed
 *    (removed_resources) when they leave the directory.
 *
 * Costs: telling a route configuration name from an on-demand name and
 * answering one walk the VirtualHost resources, O(virtual hosts) per
 * subscribed name per response: fine for a test and demo server. */
#include "xds/server/stream.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether resource name `name` belongs to route configuration rc[0..len). */
static bool xp__in_rc(const char *name, const char *rc, size_t len)
{
    const char *slash = strrchr(name, '/');
    return slash && (size_t)(slash - name) == len && memcmp(name, rc, len) == 0;
}

static size_t xp__vh_begin(const xp__snap_t *snap)
{
    return xp__snap_type_begin(snap, XP__VHOST_URL);
}

static bool xp__is_vh(const xp__snap_t *snap, size_t i)
{
    return i < snap->n && strcmp(snap->v[i]->type_url, XP__VHOST_URL) == 0;
}

/* A subscribed name is a route configuration when the server knows one of
 * that name or virtual hosts of it; otherwise an on-demand name. */
static bool xp__is_namespace(const xp__snap_t *snap, const char *n)
{
    if (xp__snap_find(snap, XP__ROUTE_URL, n))
        return true;
    size_t len = strlen(n);
    for (size_t i = xp__vh_begin(snap); xp__is_vh(snap, i); i++)
        if (xp__in_rc(snap->v[i]->name, n, len))
            return true;
    return false;
}

/* How well r's domains match host (0: not at all). */
static uint64_t xp__score(const xp__res_t *r, const char *host, size_t hlen)
{
    uint64_t best = 0;
    for (size_t i = 0; i < r->ndomains; i++) {
        const char *d = r->domains[i];
        size_t dl = strlen(d);
        uint64_t s = 0;
        if (dl == 1 && d[0] == '*')
            s = 1;
        else if (dl == hlen && memcmp(d, host, hlen) == 0)
            s = UINT64_MAX;
        else if (dl > 1 && d[0] == '*' && hlen > dl - 1 &&
                 memcmp(host + hlen - (dl - 1), d + 1, dl - 1) == 0)
            s = ((uint64_t)2 << 32) + dl;
        else if (dl > 1 && d[dl - 1] == '*' && hlen > dl - 1 && memcmp(host, d, dl - 1) == 0)
            s = ((uint64_t)1 << 32) + dl;
        if (s > best)
            best = s;
    }
    return best;
}

/* The virtual host answering on-demand name n ("<rc>/<host>"), or NULL. */
static xp__res_t *xp__resolve(const xp__snap_t *snap, const char *n)
{
    const char *slash = strrchr(n, '/');
    if (slash == NULL)
        return NULL;
    size_t rclen = (size_t)(slash - n);
    const char *host = slash + 1;
    size_t hlen = strlen(host);
    const char *colon = strrchr(host, ':');
    for (int pass = 0; pass < 2; pass++) {
        xp__res_t *best = NULL;
        uint64_t best_score = 0;
        for (size_t i = xp__vh_begin(snap); xp__is_vh(snap, i); i++) {
            xp__res_t *r = snap->v[i];
            if (!xp__in_rc(r->name, n, rclen))
                continue;
            uint64_t s = xp__score(r, host, hlen);
            if (s > best_score) {
                best = r;
                best_score = s;
            }
        }
        if (best || colon == NULL || host[0] == '[')
            return best;
        hlen = (size_t)(colon - host); /* again without the port */
    }
    return NULL;
}

/* One Resource of the response being built. */
typedef struct {
    xp__res_t *r; /* NULL: "does not exist" for aliases[0] */
    char **aliases;
    size_t naliases;
} xp__entry_t;

typedef struct {
    xp__entry_t *v;
    size_t n;
} xp__entries_t;

static void xp__entry_add(xp__entries_t *es, xp__res_t *r, char *alias)
{
    xp__entry_t *e = NULL;
    for (size_t i = 0; r && i < es->n && !e; i++)
        if (es->v[i].r == r)
            e = &es->v[i];
    if (e == NULL) {
        es->v = xp_realloc(es->v, (es->n + 1) * sizeof(*es->v));
        e = &es->v[es->n++];
        *e = (xp__entry_t){r, NULL, 0};
    }
    if (alias) {
        e->aliases = xp_realloc(e->aliases, (e->naliases + 1) * sizeof(*e->aliases));
        e->aliases[e->naliases++] = alias;
    }
}

void xp__vhds_send(xp__xstream_t *xs, xp__sub_t *sub)
{
    const xp__snap_t *snap = xs->srv->snap;
    xp__entries_t es = {0};
    /* Which subscribed names are route configurations. */
    bool *ns = xp_calloc(sub->names.n + 1, sizeof(*ns));
    for (size_t i = 0; i < sub->names.n; i++)
        ns[i] = xp__is_namespace(snap, sub->names.v[i].name);

    /* Pushed: the virtual hosts of subscribed route configurations (not
     * the on-demand ones), and every one the client has, when it changed. */
    for (size_t i = xp__vh_begin(snap); xp__is_vh(snap, i); i++) {
        xp__res_t *r = snap->v[i];
        xp__kv_t *h = xp__set_get(&sub->have, r->name);
        bool pushed = false;
        for (size_t k = 0; !r->on_demand && k < sub->names.n && !pushed; k++)
            pushed =
                ns[k] && xp__in_rc(r->name, sub->names.v[k].name, strlen(sub->names.v[k].name));
        if ((pushed || h) && !(h && h->version && strcmp(h->version, r->version) == 0))
            xp__entry_add(&es, r, NULL);
    }
    /* On demand: each name not answered yet, or whose answer changed. */
    for (size_t k = 0; k < sub->names.n; k++) {
        if (ns[k])
            continue;
        char *n = sub->names.v[k].name;
        xp__res_t *r = xp__resolve(snap, n);
        xp__kv_t *a = xp__set_get(&sub->answered, n);
        xp__kv_t *h = r ? xp__set_get(&sub->have, r->name) : NULL;
        if (r) {
            bool same = a && a->version && strcmp(a->version, r->name) == 0 && h && h->version &&
                        strcmp(h->version, r->version) == 0;
            if (!same) {
                xp__entry_add(&es, r, n);
                xp__set_put(&sub->answered, n, r->name);
            }
        } else if (!(a && a->version && a->version[0] == '\0')) {
            xp__entry_add(&es, NULL, n);
            xp__set_put(&sub->answered, n, "");
        }
    }
    free(ns);

    size_t nremoved = 0;
    char **removed = xp__delta_removed(snap, sub, &nremoved);
    if (es.n || nremoved || sub->force_send) {
        Envoy__Service__Discovery__V3__Resource *rv = xp_calloc(es.n + 1, sizeof(*rv));
        Envoy__Service__Discovery__V3__Resource **rp = xp_calloc(es.n + 1, sizeof(*rp));
        for (size_t i = 0; i < es.n; i++) {
            xp__entry_t *e = &es.v[i];
            envoy__service__discovery__v3__resource__init(&rv[i]);
            rv[i].aliases = e->aliases;
            rv[i].n_aliases = e->naliases;
            if (e->r) {
                rv[i].name = e->r->name;
                rv[i].version = e->r->version;
                rv[i].resource = e->r->any;
                xp__set_put(&sub->have, e->r->name, e->r->version);
            } else {
                rv[i].name = e->aliases[0];
            }
            rp[i] = &rv[i];
        }
        Envoy__Service__Discovery__V3__DeltaDiscoveryResponse resp =
            ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
        char nonce[24];
        resp.system_version_info = (char *)snap->version_str;
        resp.resources = rp;
        resp.n_resources = es.n;
        resp.removed_resources = removed;
        resp.n_removed_resources = nremoved;
        resp.type_url = sub->type_url;
        resp.nonce = (char *)xp__next_nonce(xs->srv, nonce, sizeof(nonce));
        xp__xs_send(xs, &resp.base);
        snprintf(sub->sent_version, sizeof(sub->sent_version), "%s", snap->version_str);
        snprintf(sub->sent_nonce, sizeof(sub->sent_nonce), "%s", nonce);
        XP_DEBUG("xds-server: stream %llu: sent delta virtual_host nonce %s (%zu resources, %zu "
                 "removed)",
                 (unsigned long long)xs->id, nonce, es.n, nremoved);
        free(rp);
        free(rv);
    }
    for (size_t i = 0; i < es.n; i++)
        free(es.v[i].aliases);
    free(es.v);
    for (size_t i = 0; i < nremoved; i++)
        free(removed[i]);
    free(removed);
}
