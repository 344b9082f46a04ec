/* DNS clusters: periodic uv_getaddrinfo rounds over a cluster's endpoint
 * names, turned into host lists; see dns.h. */
#include "proxy/upstream/dns.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One endpoint name and its last good addresses. */
typedef struct {
    struct xp_dns_cluster *d;
    size_t ep; /* index into cfg->endpoints */
    char *name;
    bool literal; /* an IP literal (or no name): never looked up */
    bool pending; /* req is in flight */
    uv_getaddrinfo_t req;
    xp_addr_t *addrs; /* owned */
    size_t n_addrs;
} xp__dns_target_t;

struct xp_dns_cluster {
    uv_loop_t *loop;
    xp_cluster_cfg_t *cfg; /* one reference */
    xp_dns_update_cb cb;
    void *ctx;
    uv_timer_t timer;
    xp__dns_target_t *t;
    size_t n_t;
    size_t pending; /* lookups in flight */
    bool delivered; /* first update made */
    bool stopping;
    bool timer_closed;
    /* The last delivered list (one reference each) and each host's target,
     * to reuse unchanged hosts. */
    xp_host_t **hosts;
    size_t *host_target;
    size_t n_hosts;
    xp_dns_stats_t stats;
};

static void xp__dns_on_timer(uv_timer_t *timer);

static void xp__dns_target_set_name(xp__dns_target_t *t, const xp_endpoint_cfg_t *ep,
                                    const char *name)
{
    free(t->name);
    t->name = name ? xp_strdup(name) : NULL;
    xp_addr_t a;
    if (name == NULL) {
        /* Translation resolved an IP literal already. */
        t->literal = true;
        a = ep->addr;
    } else {
        t->literal = xp_addr_from_ip(&a, name, ep->port) == 0;
    }
    /* A name keeps the addresses it had until a lookup succeeds. */
    if (t->literal) {
        free(t->addrs);
        t->addrs = xp_malloc(sizeof(*t->addrs));
        t->addrs[0] = a;
        t->n_addrs = 1;
    }
}

static void xp__dns_maybe_free(xp_dns_cluster_t *d)
{
    if (!d->stopping || !d->timer_closed || d->pending > 0)
        return;
    for (size_t i = 0; i < d->n_t; i++) {
        free(d->t[i].name);
        free(d->t[i].addrs);
    }
    free(d->t);
    for (size_t i = 0; i < d->n_hosts; i++)
        xp_host_unref(d->hosts[i]);
    free(d->hosts);
    free(d->host_target);
    xp_cluster_cfg_unref(d->cfg);
    free(d);
}

static void xp__dns_timer_closed(uv_handle_t *h)
{
    xp_dns_cluster_t *d = XP_CONTAINER_OF(h, xp_dns_cluster_t, timer);
    d->timer_closed = true;
    xp__dns_maybe_free(d);
}

static int xp__addr_cmp(const void *a, const void *b)
{
    return strcmp(((const xp_addr_t *)a)->str, ((const xp_addr_t *)b)->str);
}

/* Builds the list from every target's current addresses, reusing hosts
 * of the last list with the same target and address; delivers it if it
 * differs (or is the first). */
static void xp__dns_finish_round(xp_dns_cluster_t *d)
{
    d->stats.rounds++;
    size_t n = 0;
    for (size_t i = 0; i < d->n_t; i++)
        n += d->t[i].n_addrs;
    xp_host_t **hosts = xp_malloc((n ? n : 1) * sizeof(*hosts));
    size_t *host_target = xp_malloc((n ? n : 1) * sizeof(size_t));
    size_t k = 0, reused = 0;
    for (size_t i = 0; i < d->n_t; i++) {
        const xp__dns_target_t *t = &d->t[i];
        const xp_endpoint_cfg_t *ep = &d->cfg->endpoints[t->ep];
        for (size_t j = 0; j < t->n_addrs; j++) {
            xp_host_t *h = NULL;
            for (size_t o = 0; o < d->n_hosts && h == NULL; o++)
                if (d->host_target[o] == i && strcmp(d->hosts[o]->addr.str, t->addrs[j].str) == 0)
                    h = d->hosts[o];
            if (h) {
                xp_host_ref(h);
                reused += k < d->n_hosts && d->hosts[k] == h;
            } else {
                h = xp_host_new(&t->addrs[j], t->literal ? NULL : t->name, ep->weight, ep->priority,
                                ep->healthy);
            }
            hosts[k] = h;
            host_target[k] = i;
            k++;
        }
    }
    bool changed = !d->delivered || n != d->n_hosts || reused != n;
    if (changed) {
        for (size_t i = 0; i < d->n_hosts; i++)
            xp_host_unref(d->hosts[i]);
        free(d->hosts);
        free(d->host_target);
        d->hosts = hosts;
        d->host_target = host_target;
        d->n_hosts = n;
    } else {
        for (size_t i = 0; i < n; i++)
            xp_host_unref(hosts[i]);
        free(hosts);
        free(host_target);
    }

    bool lookups = false;
    for (size_t i = 0; i < d->n_t; i++)
        lookups |= !d->t[i].literal;
    if (lookups)
        uv_timer_start(&d->timer, xp__dns_on_timer,
                       d->cfg->dns_refresh_rate_ms ? d->cfg->dns_refresh_rate_ms : 5000, 0);

    if (changed) {
        d->delivered = true;
        d->stats.updates++;
        d->stats.last_change_ms = uv_now(d->loop);
        XP_DEBUG("dns cluster '%s': %zu host(s)", d->cfg->name, n);
        xp_host_t **out = xp_malloc((n ? n : 1) * sizeof(*out));
        for (size_t i = 0; i < n; i++) {
            out[i] = d->hosts[i];
            xp_host_ref(out[i]);
        }
        /* Last thing touching d: the callback may stop it. */
        d->cb(d->ctx, out, n);
    }
}

static bool xp__is_v4(const struct addrinfo *ai)
{
    return ai->ai_family == AF_INET;
}

/* Keeps the addresses dns_lookup_family asks for, in resolver order, with
 * duplicates dropped; fills t->addrs. */
static void xp__dns_take(xp_dns_cluster_t *d, xp__dns_target_t *t, const struct addrinfo *res)
{
    int fam = d->cfg->dns_lookup_family;
    bool has4 = false, has6 = false;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        has4 |= ai->ai_family == AF_INET;
        has6 |= ai->ai_family == AF_INET6;
    }
    bool want4 = fam == XP_DNS_V4_ONLY || fam == XP_DNS_ALL || (fam == XP_DNS_V4_PREFERRED) ||
                 (fam == XP_DNS_AUTO && !has6);
    bool want6 = fam == XP_DNS_V6_ONLY || fam == XP_DNS_ALL || (fam == XP_DNS_AUTO) ||
                 (fam == XP_DNS_V4_PREFERRED && !has4);
    size_t cap = 0, n = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        cap++;
    xp_addr_t *v = xp_malloc((cap ? cap : 1) * sizeof(*v));
    uint32_t port = d->cfg->endpoints[t->ep].port;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (xp__is_v4(ai) ? !want4 : !want6)
            continue;
        char ip[INET6_ADDRSTRLEN];
        const void *src = xp__is_v4(ai)
                              ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                              : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        if (inet_ntop(ai->ai_family, src, ip, sizeof(ip)) == NULL ||
            xp_addr_from_ip(&v[n], ip, port) != 0)
            continue;
        bool dup = false;
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(v[i].str, v[n].str) == 0;
        if (!dup)
            n++;
    }
    if (d->cfg->type == XP_CLUSTER_LOGICAL_DNS) {
        n = n > 1 ? 1 : n; /* the first address, as the resolver ordered them */
    } else {
        /* A resolver that rotates its answers must not look like a change. */
        qsort(v, n, sizeof(*v), xp__addr_cmp);
    }
    free(t->addrs);
    t->addrs = v;
    t->n_addrs = n;
}

static void xp__dns_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    xp__dns_target_t *t = XP_CONTAINER_OF(req, xp__dns_target_t, req);
    xp_dns_cluster_t *d = t->d;
    t->pending = false;
    d->pending--;
    if (d->stopping) {
        if (res)
            uv_freeaddrinfo(res);
        xp__dns_maybe_free(d);
        return;
    }
    d->stats.resolutions++;
    if (status == 0) {
        xp__dns_take(d, t, res);
    } else {
        d->stats.failures++;
        XP_WARN("dns cluster '%s': resolving '%s' failed: %s; keeping %zu address(es)",
                d->cfg->name, t->name, uv_strerror(status), t->n_addrs);
    }
    if (res)
        uv_freeaddrinfo(res);
    if (d->pending == 0)
        xp__dns_finish_round(d);
}

static void xp__dns_start_round(xp_dns_cluster_t *d)
{
    int fam = d->cfg->dns_lookup_family;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = fam == XP_DNS_V4_ONLY   ? AF_INET
                      : fam == XP_DNS_V6_ONLY ? AF_INET6
                                              : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    for (size_t i = 0; i < d->n_t; i++) {
        xp__dns_target_t *t = &d->t[i];
        if (t->literal)
            continue;
        int rc = uv_getaddrinfo(d->loop, &t->req, xp__dns_resolved, t->name, NULL, &hints);
        if (rc != 0) {
            d->stats.resolutions++;
            d->stats.failures++;
            XP_WARN("dns cluster '%s': cannot resolve '%s': %s", d->cfg->name, t->name,
                    uv_strerror(rc));
            continue;
        }
        t->pending = true;
        d->pending++;
    }
    if (d->pending == 0)
        xp__dns_finish_round(d);
}

static void xp__dns_on_timer(uv_timer_t *timer)
{
    xp__dns_start_round(XP_CONTAINER_OF(timer, xp_dns_cluster_t, timer));
}

xp_dns_cluster_t *xp_dns_start(uv_loop_t *loop, const xp_cluster_cfg_t *cfg, xp_dns_update_cb cb,
                               void *ctx)
{
    xp_dns_cluster_t *d = xp_calloc(1, sizeof(*d));
    d->loop = loop;
    d->cfg = (xp_cluster_cfg_t *)cfg; /* the reference count is the only mutable part */
    xp_cluster_cfg_ref(d->cfg);
    d->cb = cb;
    d->ctx = ctx;
    d->n_t = cfg->type == XP_CLUSTER_LOGICAL_DNS && cfg->n_endpoints > 1 ? 1 : cfg->n_endpoints;
    d->t = xp_calloc(d->n_t ? d->n_t : 1, sizeof(*d->t));
    for (size_t i = 0; i < d->n_t; i++) {
        d->t[i].d = d;
        d->t[i].ep = i;
        xp__dns_target_set_name(&d->t[i], &cfg->endpoints[i], cfg->endpoints[i].hostname);
    }
    uv_timer_init(loop, &d->timer);
    /* The first round starts from the loop, so no callback runs inside
     * xp_dns_start. */
    uv_timer_start(&d->timer, xp__dns_on_timer, 0, 0);
    return d;
}

void xp_dns_stop(xp_dns_cluster_t *d)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = true;
    for (size_t i = 0; i < d->n_t; i++)
        if (d->t[i].pending)
            uv_cancel((uv_req_t *)&d->t[i].req); /* UV_EBUSY if running: its result is dropped */
    uv_close((uv_handle_t *)&d->timer, xp__dns_timer_closed);
}

const xp_dns_stats_t *xp_dns_stats(const xp_dns_cluster_t *d)
{
    return &d->stats;
}

void xp_dns_set_name_for_test(xp_dns_cluster_t *d, size_t ep, const char *name)
{
    if (ep < d->n_t && !d->t[ep].pending)
        xp__dns_target_set_name(&d->t[ep], &d->cfg->endpoints[ep], name);
}
