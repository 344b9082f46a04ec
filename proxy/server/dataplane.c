#include "proxy/server/dataplane.h"
#include "proxy/accesslog/accesslog.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"
#include "proxy/core/wctx.h"
#include "proxy/http/hcm.h"
#include "proxy/net/chunk.h"
#include "proxy/net/sock.h"
#include "proxy/router/route.h"
#include "proxy/router/scope.h"
#include "proxy/runtime/runtime.h"
#include "proxy/tcp/tcp_proxy.h"
#include "proxy/upstream/cluster.h"
#include "proxy/upstream/dns.h"
#include "proxy/upstream/lb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- main thread ------------------------------------------------------- */

typedef struct xp__mlistener {
    char *name;
    char cfg_addr[64]; /* as configured (port may be 0) */
    xp_addr_t bound;   /* as bound */
    xp_listener_stats_t *stats;
    bool seen;
    char *took_from; /* renamed in this update: the workers' listener it was */
    struct xp__mlistener *next;
} xp__mlistener_t;

typedef struct xp__mcluster {
    char *name;
    xp_dataplane_t *dp;
    xp_cluster_stats_t *stats;
    xp_cluster_cfg_t *cfg; /* reference */
    xp_host_set_t *hosts;  /* reference or NULL */
    xp_dns_cluster_t *dns; /* DNS clusters */
    xp_cla_t *cla;         /* EDS clusters: the assignment in force */
    bool seen;
    struct xp__mcluster *next;
} xp__mcluster_t;

struct xp_dataplane {
    xp_server_t *s;
    xp_wctx_t *wctx; /* one per worker */
    xp__mlistener_t *listeners;
    xp__mcluster_t *clusters;
    xp_listener_cfg_t **cur; /* references, the listeners in force */
    size_t n_cur;
    xp_route_table_t **routes; /* references, RDS tables in force */
    size_t n_routes;
    xp_scope_set_t **scope_sets; /* references, SRDS sets in force */
    size_t n_scope_sets;
    uint64_t version;
    bool stopped;
    bool drained_listeners; /* /drain_listeners or SIGTERM: never accept again */
};

/* What a worker receives: the snapshot and, per listener in it (same
 * order), the socket to start accepting on, or -1 to keep its current one;
 * from[i], when set, is the name the listener had (its socket is kept). */
typedef struct {
    xp_snapshot_t *snap;
    size_t n;
    int *fds;
    char **from;
    xp_listener_stats_t **stats;
} xp__apply_msg_t;

static void xp__worker_apply(xp_worker_t *wk, void *arg);
static void xp__worker_stop(xp_worker_t *wk, void *arg);
static void xp__worker_exit(xp_worker_t *wk);

static void xp__on_shutdown(void *arg)
{
    xp_dataplane_t *dp = arg;
    dp->stopped = true;
    for (xp__mcluster_t *c = dp->clusters; c; c = c->next)
        if (c->dns) {
            xp_dns_stop(c->dns);
            c->dns = NULL;
        }
}

static void xp__drain_hook(void *arg, int close_listeners)
{
    xp_dataplane_drain(arg, close_listeners != 0);
}

static uint64_t xp__open_conns_hook(void *arg)
{
    (void)arg;
    return xp_open_connections();
}

/* On the worker's thread: its sockets' writes go together at the end of
 * each loop iteration (xp_sock_thread_batch). */
static void xp__worker_batch(xp_worker_t *wk, void *arg)
{
    (void)arg;
    int rc = xp_sock_thread_batch(&wk->loop);
    if (rc)
        XP_INFO("worker %d: io_uring unavailable (%s); a send call per write", wk->index,
                strerror(-rc));
    else
        XP_DEBUG("worker %d: the writes of each loop iteration go in one io_uring call",
                 wk->index);
}

xp_dataplane_t *xp_dataplane_new(xp_server_t *s)
{
    xp_dataplane_t *dp = xp_calloc(1, sizeof(*dp));
    dp->s = s;
    dp->wctx = xp_calloc((size_t)s->nworkers, sizeof(*dp->wctx));
    for (int i = 0; i < s->nworkers; i++) {
        xp_wctx_t *w = &dp->wctx[i];
        w->index = i;
        w->loop = &s->workers[i].loop;
        w->stats = s->stats;
        w->cm = xp_cm_new(w->loop, (uint64_t)i * 0x9e3779b97f4a7c15ull + 1);
        s->workers[i].on_exit = xp__worker_exit;
    }
    s->dataplane = dp;
    xp_server_on_shutdown(s, xp__on_shutdown, dp);
    s->drain.drain = xp__drain_hook;
    s->drain.open_connections = xp__open_conns_hook;
    s->drain.arg = dp;
    s->worker_on_stop = xp__worker_stop;
    if (s->opts.io_uring)
        for (int i = 0; i < s->nworkers; i++)
            xp_worker_post(&s->workers[i], xp__worker_batch, NULL);
    return dp;
}

/* n sockets bound to addr with SO_REUSEPORT (the first resolves port 0, the
 * rest take the same port). Returns 0 or -errno; on failure nothing is left
 * open. */
static int xp__bind(xp_addr_t *addr, int n, uint32_t backlog, int *fds)
{
    struct sockaddr_storage ss = addr->ss;
    for (int i = 0; i < n; i++)
        fds[i] = -1;
    for (int i = 0; i < n; i++) {
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        int err = 0;
        if (fd < 0)
            err = errno;
        else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
                 setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
            err = errno;
        else if (ss.ss_family == AF_INET6 &&
                 setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
            err = errno;
        else if (bind(fd, (struct sockaddr *)&ss, addr->len) || listen(fd, (int)backlog))
            err = errno;
        if (err) {
            if (fd >= 0)
                close(fd);
            for (int j = 0; j < i; j++)
                close(fds[j]);
            return -err;
        }
        fds[i] = fd;
        if (i == 0) {
            socklen_t len = sizeof(ss);
            getsockname(fd, (struct sockaddr *)&ss, &len);
        }
    }
    /* Record the bound form (port 0 resolved) for /listeners. */
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
    xp_addr_from_ip(addr, ip,
                    ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port));
    return 0;
}

static void xp__publish(xp_dataplane_t *dp, int **fds)
{
    xp_snapshot_t *snap = xp_snapshot_new(++dp->version);
    for (size_t i = 0; i < dp->n_cur; i++)
        xp_snapshot_add_listener(snap, dp->cur[i]);
    for (xp__mcluster_t *c = dp->clusters; c; c = c->next)
        xp_snapshot_add_cluster(snap, c->cfg, c->hosts, c->stats);
    for (size_t i = 0; i < dp->n_routes; i++)
        xp_snapshot_add_route(snap, dp->routes[i]);
    for (size_t i = 0; i < dp->n_scope_sets; i++)
        xp_snapshot_add_scope_set(snap, dp->scope_sets[i]);
    xp_snapshot_seal(snap);
    for (int w = 0; w < dp->s->nworkers; w++) {
        xp__apply_msg_t *m = xp_calloc(1, sizeof(*m));
        m->snap = snap;
        xp_snapshot_ref(snap);
        m->n = dp->n_cur;
        m->fds = xp_calloc(dp->n_cur + 1, sizeof(int));
        m->from = xp_calloc(dp->n_cur + 1, sizeof(char *));
        m->stats = xp_calloc(dp->n_cur + 1, sizeof(*m->stats));
        for (size_t i = 0; i < dp->n_cur; i++) {
            m->fds[i] = fds ? fds[i][w] : -1;
            for (xp__mlistener_t *ml = dp->listeners; ml; ml = ml->next)
                if (strcmp(ml->name, dp->cur[i]->name) == 0) {
                    m->stats[i] = ml->stats;
                    if (ml->took_from)
                        m->from[i] = xp_strdup(ml->took_from);
                }
        }
        xp_worker_post(&dp->s->workers[w], xp__worker_apply, m);
    }
    for (xp__mlistener_t *ml = dp->listeners; ml; ml = ml->next) {
        free(ml->took_from);
        ml->took_from = NULL;
    }
    xp_snapshot_unref(snap);
}

/* A listener renamed in this update: one going away (its name is not in
 * ls) on the same configured address (with a port) hands its sockets to
 * ls[i], as Envoy hands a draining listener's socket to a new one on its
 * address, so no connection waiting to be accepted is dropped. taken[]
 * marks donors already given to another listener. */
static xp__mlistener_t *xp__donor(xp_dataplane_t *dp, xp_listener_cfg_t *const *ls, size_t nl,
                                  size_t i, xp__mlistener_t **taken)
{
    if (xp_addr_port(&ls[i]->addr) == 0)
        return NULL;
    for (xp__mlistener_t *m = dp->listeners; m; m = m->next) {
        if (strcmp(m->cfg_addr, ls[i]->addr.str) != 0)
            continue;
        bool busy = false;
        for (size_t j = 0; j < nl && !busy; j++)
            busy = strcmp(ls[j]->name, m->name) == 0 || taken[j] == m;
        if (!busy)
            return m;
    }
    return NULL;
}

typedef struct {
    xp_dataplane_t *dp;
    char *key;
} xp__vhds_msg_t;

static void xp__worker_vhds_answered(xp_worker_t *wk, void *arg)
{
    xp__vhds_msg_t *m = arg;
    xp_wctx_t *w = &m->dp->wctx[wk->index];
    if (!w->stopping)
        xp_hcm_vhds_answered(w, m->key);
    free(m->key);
    free(m);
}

void xp_dataplane_vhds_answered(xp_dataplane_t *dp, const char *key)
{
    if (dp->stopped)
        return;
    for (int w = 0; w < dp->s->nworkers; w++) {
        xp__vhds_msg_t *m = xp_calloc(1, sizeof(*m));
        m->dp = dp;
        m->key = xp_strdup(key);
        xp_worker_post(&dp->s->workers[w], xp__worker_vhds_answered, m);
    }
}

static void xp__set_hosts(xp__mcluster_t *c, xp_host_t **hosts, size_t n)
{
    xp_host_set_t *hs = xp_host_set_build(hosts, n, c->cfg);
    if (c->hosts)
        xp_host_set_unref(c->hosts);
    c->hosts = hs;
    size_t healthy = 0;
    for (size_t i = 0; i < n; i++)
        healthy += hosts[i]->healthy;
    xp_stat_set(c->stats->membership_total, (int64_t)n);
    xp_stat_set(c->stats->membership_healthy, (int64_t)healthy);
    xp_stat_inc(c->stats->membership_change);
}

static void xp__dns_update(void *ctx, xp_host_t **hosts, size_t n)
{
    xp__mcluster_t *c = ctx;
    xp__set_hosts(c, hosts, n);
    xp_hosts_free(hosts, n);
    if (!c->dp->stopped)
        xp__publish(c->dp, NULL);
}

static xp__mcluster_t *xp__mcluster(xp_dataplane_t *dp, const char *name)
{
    for (xp__mcluster_t *c = dp->clusters; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    xp__mcluster_t *c = xp_calloc(1, sizeof(*c));
    c->name = xp_strdup(name);
    c->dp = dp;
    c->stats = xp_cluster_stats_get(dp->s->stats, name);
    c->next = dp->clusters;
    dp->clusters = c;
    return c;
}

static void xp__mcluster_free(xp__mcluster_t *c)
{
    xp_cla_unref(c->cla);
    if (c->dns)
        xp_dns_stop(c->dns);
    if (c->hosts)
        xp_host_set_unref(c->hosts);
    xp_cluster_cfg_unref(c->cfg);
    free(c->name);
    free(c);
}

static xp_cla_t *xp__find_cla(const xp_config_set_t *set, const char *name)
{
    for (size_t i = 0; i < set->n_assignments; i++)
        if (strcmp(set->assignments[i]->name, name) == 0)
            return set->assignments[i];
    return NULL;
}

static void xp__hosts_from(xp__mcluster_t *c, const xp_endpoint_cfg_t *eps, size_t n)
{
    xp_host_t **hosts = xp_calloc(n + 1, sizeof(*hosts));
    for (size_t k = 0; k < n; k++)
        hosts[k] = xp_host_from_endpoint(&eps[k]);
    xp__set_hosts(c, hosts, n);
    xp_hosts_free(hosts, n);
}

static void xp__apply_clusters(xp_dataplane_t *dp, const xp_config_set_t *set)
{
    xp_cluster_cfg_t *const *cs = set->clusters;
    size_t nc = set->n_clusters;
    for (xp__mcluster_t *c = dp->clusters; c; c = c->next)
        c->seen = false;
    for (size_t i = 0; i < nc; i++) {
        xp__mcluster_t *c = xp__mcluster(dp, cs[i]->name);
        c->seen = true;
        xp_cla_t *cla =
            cs[i]->type == XP_CLUSTER_EDS ? xp__find_cla(set, cs[i]->eds_service_name) : NULL;
        if (c->cfg == cs[i] && c->cla == cla)
            continue;
        if (c->cfg == cs[i]) {
            /* Only the endpoints changed (EDS): the cluster keeps its config,
             * pools and stats. An assignment that went away leaves the last
             * hosts serving. */
            if (cla == NULL)
                continue;
            xp_cla_ref(cla);
            xp_cla_unref(c->cla);
            c->cla = cla;
            xp__hosts_from(c, cla->endpoints, cla->n_endpoints);
            continue;
        }
        xp_stat_inc(c->stats->update_attempt);
        xp_cluster_cfg_ref(cs[i]);
        if (c->cfg)
            xp_cluster_cfg_unref(c->cfg);
        c->cfg = cs[i];
        if (c->dns) {
            xp_dns_stop(c->dns);
            c->dns = NULL;
        }
        if (cla)
            xp_cla_ref(cla);
        xp_cla_unref(c->cla);
        c->cla = cla;
        if (c->cfg->type == XP_CLUSTER_STATIC) {
            xp__hosts_from(c, c->cfg->endpoints, c->cfg->n_endpoints);
        } else if (c->cfg->type == XP_CLUSTER_EDS) {
            /* Warming until its first assignment: no host set yet. */
            if (cla)
                xp__hosts_from(c, cla->endpoints, cla->n_endpoints);
        } else if (c->cfg->type == XP_CLUSTER_STRICT_DNS ||
                   c->cfg->type == XP_CLUSTER_LOGICAL_DNS) {
            /* Keep serving the previous hosts until the first answer. */
            c->dns = xp_dns_start(dp->s->loop, c->cfg, xp__dns_update, c);
        }
        xp_stat_inc(c->stats->update_success);
    }
    xp__mcluster_t **pp = &dp->clusters;
    while (*pp) {
        xp__mcluster_t *c = *pp;
        if (!c->seen) {
            *pp = c->next;
            xp__mcluster_free(c);
        } else {
            pp = &c->next;
        }
    }
}

/* Opens the access logs of a list not opened yet (config objects are
 * filled in here, on the main thread, before any worker sees them). */
static int xp__open_logs(xp_access_log_cfg_t *v, size_t n, const char *owner, xp_diag_t *diag)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].log)
            continue;
        char where[256];
        snprintf(where, sizeof(where), "%s.access_log[%zu]", owner, i);
        v[i].log = xp_access_log_open(&v[i], diag, where);
        bad += v[i].log == NULL;
    }
    return bad;
}

/* Access loggers of l that xproxy does not implement (accepted with a
 * warning when translated; nothing is logged through them). */
static size_t xp__unimplemented_logs(const xp_listener_cfg_t *l)
{
    size_t n = 0;
    for (size_t i = 0; i <= l->n_chains; i++) {
        const xp_filter_chain_t *fc = i < l->n_chains ? l->chains[i] : l->default_chain;
        if (fc)
            n += fc->kind == XP_NET_FILTER_HCM ? fc->u.hcm->n_unimplemented_logs
                                               : fc->u.tcp->n_unimplemented_logs;
    }
    return n;
}

static int xp__open_listener_logs(xp_listener_cfg_t *l, xp_diag_t *diag)
{
    int bad = 0;
    for (size_t i = 0; i <= l->n_chains; i++) {
        xp_filter_chain_t *fc = i < l->n_chains ? l->chains[i] : l->default_chain;
        if (fc == NULL)
            continue;
        char owner[256];
        snprintf(owner, sizeof(owner), "listener '%s' filter chain %zu", l->name, i);
        if (fc->kind == XP_NET_FILTER_HCM)
            bad += xp__open_logs(fc->u.hcm->access_logs, fc->u.hcm->n_access_logs, owner, diag);
        else
            bad += xp__open_logs(fc->u.tcp->access_logs, fc->u.tcp->n_access_logs, owner, diag);
    }
    return bad;
}

int xp_dataplane_apply(xp_dataplane_t *dp, const xp_config_set_t *set, xp_diag_t *diag)
{
    xp_listener_cfg_t *const *ls = set->listeners;
    size_t nl = set->n_listeners;
    int logs_bad = 0;
    for (size_t i = 0; i < nl; i++)
        logs_bad += xp__open_listener_logs(ls[i], diag);
    if (logs_bad)
        return -1;
    int nw = dp->s->nworkers;
    int **fds = xp_calloc(nl + 1, sizeof(*fds));
    xp_addr_t *bound = xp_calloc(nl + 1, sizeof(*bound));
    xp__mlistener_t **donor = xp_calloc(nl + 1, sizeof(*donor));
    int rc = 0;
    for (size_t i = 0; i < nl; i++) {
        xp__mlistener_t *ml = NULL;
        for (xp__mlistener_t *m = dp->listeners; m; m = m->next)
            if (strcmp(m->name, ls[i]->name) == 0)
                ml = m;
        if (ml && strcmp(ml->cfg_addr, ls[i]->addr.str) == 0)
            continue; /* same name and address: the workers keep their socket */
        if (ml == NULL && (donor[i] = xp__donor(dp, ls, nl, i, donor)) != NULL)
            continue; /* renamed: the workers keep the socket under the new name */
        fds[i] = xp_calloc((size_t)nw, sizeof(int));
        bound[i] = ls[i]->addr;
        int err = xp__bind(&bound[i], nw, ls[i]->backlog, fds[i]);
        if (err) {
            xp_diag_error(diag, "", "listener '%s': cannot bind %s: %s", ls[i]->name,
                          ls[i]->addr.str, strerror(-err));
            free(fds[i]);
            fds[i] = NULL;
            rc = -1;
        }
    }
    if (rc) {
        for (size_t i = 0; i < nl; i++) {
            if (fds[i])
                for (int w = 0; w < nw; w++)
                    close(fds[i][w]);
            free(fds[i]);
        }
        free(fds);
        free(bound);
        free(donor);
        return rc;
    }
    /* Listener records: new or moved ones get their bound address. */
    for (xp__mlistener_t *m = dp->listeners; m; m = m->next)
        m->seen = false;
    for (size_t i = 0; i < nl; i++) {
        xp__mlistener_t *ml = NULL;
        for (xp__mlistener_t *m = dp->listeners; m; m = m->next)
            if (strcmp(m->name, ls[i]->name) == 0)
                ml = m;
        if (ml == NULL && donor[i]) {
            ml = donor[i];
            XP_INFO("listener '%s' takes the socket of listener '%s' (%s)", ls[i]->name, ml->name,
                    ml->bound.str);
            ml->took_from = ml->name;
            ml->name = xp_strdup(ls[i]->name);
        } else if (ml == NULL) {
            ml = xp_calloc(1, sizeof(*ml));
            ml->name = xp_strdup(ls[i]->name);
            ml->next = dp->listeners;
            dp->listeners = ml;
        }
        ml->seen = true;
        if (fds[i]) {
            snprintf(ml->cfg_addr, sizeof(ml->cfg_addr), "%s", ls[i]->addr.str);
            ml->bound = bound[i];
            ml->stats = xp_listener_stats_get(dp->s->stats, ml->bound.stat);
            XP_INFO("listener '%s' bound to %s", ml->name, ml->bound.str);
        }
    }
    xp__mlistener_t **pp = &dp->listeners;
    while (*pp) {
        xp__mlistener_t *m = *pp;
        if (!m->seen) {
            *pp = m->next;
            free(m->name);
            free(m);
        } else {
            pp = &m->next;
        }
    }
    for (size_t i = 0; i < nl; i++)
        xp_listener_cfg_ref(ls[i]);
    for (size_t i = 0; i < dp->n_cur; i++)
        xp_listener_cfg_unref(dp->cur[i]);
    free(dp->cur);
    dp->cur = xp_calloc(nl + 1, sizeof(*dp->cur));
    memcpy(dp->cur, ls, nl * sizeof(*ls));
    dp->n_cur = nl;
    size_t unimplemented = dp->s->admin_logs_unimplemented;
    for (size_t i = 0; i < nl; i++)
        unimplemented += xp__unimplemented_logs(ls[i]);
    xp_stat_set(xp_stats_gauge(dp->s->stats, "server.access_logs_unimplemented"),
                (int64_t)unimplemented);

    xp__apply_clusters(dp, set);
    for (size_t i = 0; i < dp->n_routes; i++)
        xp_route_table_unref(dp->routes[i]);
    free(dp->routes);
    dp->routes = xp_calloc(set->n_routes + 1, sizeof(*dp->routes));
    for (size_t i = 0; i < set->n_routes; i++)
        dp->routes[i] = xp_route_table_ref(set->routes[i]);
    dp->n_routes = set->n_routes;
    for (size_t i = 0; i < dp->n_scope_sets; i++)
        xp_scope_set_unref(dp->scope_sets[i]);
    free(dp->scope_sets);
    dp->scope_sets = xp_calloc(set->n_scope_sets + 1, sizeof(*dp->scope_sets));
    for (size_t i = 0; i < set->n_scope_sets; i++)
        dp->scope_sets[i] = xp_scope_set_ref(set->scope_sets[i]);
    dp->n_scope_sets = set->n_scope_sets;

    /* Listeners that keep their socket get -1. */
    int **per = xp_calloc(nl + 1, sizeof(*per));
    int *none = xp_malloc((size_t)nw * sizeof(int));
    for (int w = 0; w < nw; w++)
        none[w] = -1;
    for (size_t i = 0; i < nl; i++)
        per[i] = fds[i] ? fds[i] : none;
    xp__publish(dp, per);
    for (size_t i = 0; i < nl; i++)
        free(fds[i]);
    free(fds);
    free(per);
    free(none);
    free(bound);
    free(donor);
    return 0;
}

char *xp_dataplane_listeners(xp_dataplane_t *dp, int json)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    if (json)
        xp_strbuf_printf(&b, "{\"listener_statuses\":[");
    for (size_t i = 0; i < dp->n_cur; i++) {
        const xp__mlistener_t *ml = NULL;
        for (xp__mlistener_t *m = dp->listeners; m; m = m->next)
            if (strcmp(m->name, dp->cur[i]->name) == 0)
                ml = m;
        const xp_addr_t *a = ml ? &ml->bound : &dp->cur[i]->addr;
        if (json) {
            const char *colon = strrchr(a->str, ':');
            const char *ip = a->str;
            int iplen = (int)(colon - ip);
            if (ip[0] == '[') {
                ip++;
                iplen -= 2;
            }
            xp_strbuf_printf(&b, "%s{\"name\":\"", i ? "," : "");
            xp_strbuf_json_escape(&b, dp->cur[i]->name);
            xp_strbuf_printf(&b,
                             "\",\"local_address\":{\"socket_address\":{\"address\":\"%.*s\","
                             "\"port_value\":%u}}}",
                             iplen, ip, xp_addr_port(a));
        } else {
            xp_strbuf_printf(&b, "%s::%s\n", dp->cur[i]->name, a->str);
        }
    }
    if (json)
        xp_strbuf_printf(&b, "]}\n");
    return xp_strbuf_take(&b);
}

/* "ip:port" / "[ip]:port" as a SocketAddress JSON object. */
static void xp__addr_json(xp_strbuf_t *b, const char *str, uint32_t port)
{
    const char *colon = strrchr(str, ':');
    int iplen = colon ? (int)(colon - str) : (int)strlen(str);
    if (str[0] == '[') {
        str++;
        iplen -= 2;
    }
    xp_strbuf_printf(b, "{\"socket_address\":{\"address\":\"%.*s\",\"port_value\":%u}}", iplen, str,
                     port);
}

char *xp_dataplane_clusters(xp_dataplane_t *dp, int json)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    if (json)
        xp_strbuf_printf(&b, "{\"cluster_statuses\":[");
    bool first = true;
    for (xp__mcluster_t *c = dp->clusters; c; c = c->next) {
        const xp_cluster_cfg_t *cfg = c->cfg;
        const char *nm = cfg->name;
        size_t n = c->hosts ? xp_host_set_size(c->hosts) : 0;
        if (json) {
            xp_strbuf_printf(&b, "%s{\"name\":\"", first ? "" : ",");
            xp_strbuf_json_escape(&b, nm);
            xp_strbuf_printf(&b, "\",\"host_statuses\":[");
        } else {
            xp_strbuf_printf(&b,
                             "%s::observability_name::%s\n"
                             "%s::default_priority::max_connections::%u\n"
                             "%s::default_priority::max_pending_requests::%u\n"
                             "%s::default_priority::max_requests::%u\n"
                             "%s::default_priority::max_retries::%u\n",
                             nm, nm, nm, cfg->cb.max_connections, nm, cfg->cb.max_pending_requests,
                             nm, cfg->cb.max_requests, nm, cfg->cb.max_retries);
        }
        for (size_t j = 0; j < n; j++) {
            const xp_host_t *h = xp_host_set_host(c->hosts, j);
            if (json) {
                xp_strbuf_printf(&b, "%s{\"address\":", j ? "," : "");
                xp__addr_json(&b, h->addr.str, xp_addr_port(&h->addr));
                xp_strbuf_printf(&b, ",\"weight\":%u,\"priority\":%u}", h->weight, h->priority);
            } else {
                const char *a = h->addr.str;
                xp_strbuf_printf(
                    &b,
                    "%s::%s::hostname::%s\n%s::%s::health_flags::%s\n"
                    "%s::%s::weight::%u\n%s::%s::priority::%u\n"
                    "%s::%s::rq_active::%u\n",
                    nm, a, h->hostname ? h->hostname : "", nm, a,
                    h->healthy ? "healthy" : "/failed_eds_health", nm, a, h->weight, nm, a,
                    h->priority, nm, a,
                    atomic_load_explicit(&((xp_host_t *)h)->active_requests, memory_order_relaxed));
            }
        }
        if (json)
            xp_strbuf_printf(&b, "]}");
        first = false;
    }
    if (json)
        xp_strbuf_printf(&b, "]}\n");
    return xp_strbuf_take(&b);
}

void xp_dataplane_stop(xp_dataplane_t *dp)
{
    xp__on_shutdown(dp);
}

void xp_dataplane_free(xp_dataplane_t *dp)
{
    if (dp == NULL)
        return;
    while (dp->listeners) {
        xp__mlistener_t *n = dp->listeners->next;
        free(dp->listeners->name);
        free(dp->listeners);
        dp->listeners = n;
    }
    while (dp->clusters) {
        xp__mcluster_t *n = dp->clusters->next;
        xp__mcluster_free(dp->clusters);
        dp->clusters = n;
    }
    for (size_t i = 0; i < dp->n_cur; i++)
        xp_listener_cfg_unref(dp->cur[i]);
    free(dp->cur);
    for (size_t i = 0; i < dp->n_routes; i++)
        xp_route_table_unref(dp->routes[i]);
    free(dp->routes);
    for (size_t i = 0; i < dp->n_scope_sets; i++)
        xp_scope_set_unref(dp->scope_sets[i]);
    free(dp->scope_sets);
    free(dp->wctx);
    free(dp);
}

/* ---- worker threads ----------------------------------------------------- */

typedef struct xp_wlistener {
    uv_poll_t poll;
    int fd;
    char *name;
    xp_listener_cfg_t *cfg; /* reference: what new connections get */
    xp_listener_stats_t *stats;
    xp_wctx_t *w;
    /* The runtime's connection limit, read again when the worker's runtime
     * changes (by generation: a freed snapshot's address can come back). */
    char *limit_key;
    uint64_t limit_gen;
    uint64_t limit;
    bool has_limit;
    struct xp_wlistener *next;
} xp_wlistener_t;

static void xp__wl_closed(uv_handle_t *h)
{
    xp_wlistener_t *wl = (xp_wlistener_t *)h;
    close(wl->fd);
    xp_listener_cfg_unref(wl->cfg);
    free(wl->limit_key);
    free(wl->name);
    free(wl);
}

static void xp__wl_close(xp_wlistener_t *wl)
{
    uv_poll_stop(&wl->poll);
    uv_close((uv_handle_t *)&wl->poll, xp__wl_closed);
}

/* Envoy's envoy.resource_limits.listener.<name>.connection_limit: read per
 * accept from the worker's runtime (cached until the runtime changes). */
static bool xp__wl_limit(xp_wlistener_t *wl, uint64_t *limit)
{
    const xp_runtime_t *rt = wl->w->runtime;
    uint64_t gen = rt ? rt->generation : 0;
    if (gen != wl->limit_gen) {
        wl->limit_gen = gen;
        wl->has_limit = xp_runtime_get_u64(rt, xp_str_c(wl->limit_key), &wl->limit);
    }
    *limit = wl->limit;
    return wl->has_limit;
}

static void xp__dispatch(xp_wlistener_t *wl, int fd, const struct sockaddr_storage *peer)
{
    xp_accept_t a;
    memset(&a, 0, sizeof(a));
    a.fd = fd;
    a.peer = *peer;
    socklen_t len = sizeof(a.local);
    getsockname(fd, (struct sockaddr *)&a.local, &len);
    xp_filter_chain_t *fc =
        xp_listener_select_chain(wl->cfg, (struct sockaddr *)&a.local, (struct sockaddr *)&a.peer);
    if (fc == NULL) {
        xp_stat_inc(wl->stats->no_filter_chain_match);
        close(fd);
        return;
    }
    uint64_t limit;
    if (xp__wl_limit(wl, &limit) &&
        (uint64_t)xp_stat_get(wl->stats->downstream_cx_active) >= limit) {
        /* The listener's connection limit (all workers together). */
        xp_stat_inc(wl->stats->downstream_cx_overflow);
        close(fd);
        return;
    }
    xp_stat_inc(wl->stats->downstream_cx_total);
    xp_stat_inc(wl->stats->downstream_cx_active);
    xp_listener_cfg_ref(wl->cfg);
    xp_filter_chain_ref(fc);
    a.listener = wl->cfg;
    a.chain = fc;
    a.lstats = wl->stats;
    if (fc->kind == XP_NET_FILTER_HCM)
        xp_hcm_accept(wl->w, &a);
    else
        xp_tcp_proxy_accept(wl->w, &a);
    if (wl->w->draining && wl->w->conns.next != &wl->w->conns && wl->w->conns.next->drain)
        wl->w->conns.next->drain(wl->w->conns.next); /* the newest connection */
}

static void xp__on_accept(uv_poll_t *p, int status, int events)
{
    (void)events;
    xp_wlistener_t *wl = (xp_wlistener_t *)p;
    if (status < 0)
        return;
    /* Accept a batch per wakeup: fair to other handles, cheap under load. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(wl->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                XP_WARN("listener '%s': accept: %s", wl->name, strerror(errno));
            return;
        }
        xp__dispatch(wl, fd, &peer);
    }
}

static xp_wlistener_t *xp__wl_find(xp_wctx_t *w, const char *name, xp_wlistener_t ***prevp)
{
    xp_wlistener_t **pp = &w->listeners;
    while (*pp && strcmp((*pp)->name, name) != 0)
        pp = &(*pp)->next;
    if (prevp)
        *prevp = pp;
    return *pp;
}

static void xp__worker_apply(xp_worker_t *wk, void *arg)
{
    xp__apply_msg_t *m = arg;
    xp_dataplane_t *dp = ((xp_server_t *)wk->data)->dataplane;
    xp_wctx_t *w = &dp->wctx[wk->index];
    if (w->stopping) {
        for (size_t i = 0; i < m->n; i++)
            if (m->fds[i] >= 0)
                close(m->fds[i]);
        goto done;
    }
    xp_snapshot_ref(m->snap);
    if (w->snap)
        xp_snapshot_unref(w->snap);
    w->snap = m->snap;
    xp_cm_apply(w->cm, m->snap);
    xp_wctx_config_changed(w);

    /* Renamed listeners keep their socket (and what waits in its queue). */
    for (size_t i = 0; i < m->n; i++) {
        xp_wlistener_t *wl = m->from[i] ? xp__wl_find(w, m->from[i], NULL) : NULL;
        const char *name = m->snap->listeners[i]->name;
        if (wl == NULL || xp__wl_find(w, name, NULL))
            continue;
        free(wl->name);
        wl->name = xp_strdup(name);
        free(wl->limit_key);
        wl->limit_key = xp_asprintf("envoy.resource_limits.listener.%s.connection_limit", name);
        wl->limit_gen = UINT64_MAX; /* read the new key on the next accept */
    }

    /* Listeners not in the snapshot stop accepting; their connections go on. */
    xp_wlistener_t **pp = &w->listeners;
    while (*pp) {
        xp_wlistener_t *wl = *pp;
        bool keep = false;
        for (size_t i = 0; i < m->n; i++)
            if (strcmp(m->snap->listeners[i]->name, wl->name) == 0 && m->fds[i] < 0)
                keep = true;
        if (!keep) {
            *pp = wl->next;
            xp__wl_close(wl);
        } else {
            pp = &wl->next;
        }
    }
    for (size_t i = 0; i < m->n; i++) {
        xp_listener_cfg_t *cfg = m->snap->listeners[i];
        xp_wlistener_t *wl = xp__wl_find(w, cfg->name, NULL);
        if (wl) {
            /* Same socket; new connections get the new config at once. */
            xp_listener_cfg_ref(cfg);
            xp_listener_cfg_unref(wl->cfg);
            wl->cfg = cfg;
            continue;
        }
        if (m->fds[i] < 0)
            continue;
        if (w->draining && dp->drained_listeners) {
            close(m->fds[i]); /* drained: accept nothing new */
            continue;
        }
        wl = xp_calloc(1, sizeof(*wl));
        wl->fd = m->fds[i];
        wl->name = xp_strdup(cfg->name);
        wl->limit_key =
            xp_asprintf("envoy.resource_limits.listener.%s.connection_limit", cfg->name);
        xp_listener_cfg_ref(cfg);
        wl->cfg = cfg;
        wl->stats = m->stats[i];
        wl->w = w;
        uv_poll_init_socket(w->loop, &wl->poll, wl->fd);
        uv_poll_start(&wl->poll, UV_READABLE, xp__on_accept);
        wl->next = w->listeners;
        w->listeners = wl;
    }
done:
    xp_snapshot_unref(m->snap);
    for (size_t i = 0; i < m->n; i++)
        free(m->from[i]);
    free(m->from);
    free(m->fds);
    free(m->stats);
    free(m);
}

static void xp__worker_runtime(xp_worker_t *wk, void *arg)
{
    xp_dataplane_t *dp = ((xp_server_t *)wk->data)->dataplane;
    xp_wctx_t *w = &dp->wctx[wk->index];
    xp_runtime_t *rt = arg; /* the message's reference */
    if (w->stopping) {
        xp_runtime_unref(rt);
        return;
    }
    xp_runtime_unref(w->runtime);
    w->runtime = rt;
}

void xp_dataplane_set_runtime(xp_dataplane_t *dp, xp_runtime_t *rt)
{
    for (int i = 0; i < dp->s->nworkers; i++) {
        xp_runtime_ref(rt);
        xp_worker_post(&dp->s->workers[i], xp__worker_runtime, rt);
    }
}

static void xp__worker_drain(xp_worker_t *wk, void *arg)
{
    xp_dataplane_t *dp = ((xp_server_t *)wk->data)->dataplane;
    xp_wctx_t *w = &dp->wctx[wk->index];
    bool close_listeners = arg != NULL;
    w->draining = true;
    if (close_listeners) {
        while (w->listeners) {
            xp_wlistener_t *n = w->listeners->next;
            xp__wl_close(w->listeners);
            w->listeners = n;
        }
    }
    if (w->conns.next == NULL)
        return;
    xp_conn_link_t *l = w->conns.next;
    while (l != &w->conns) {
        xp_conn_link_t *next = l->next;
        if (l->drain)
            l->drain(l);
        l = next;
    }
}

void xp_dataplane_drain(xp_dataplane_t *dp, bool close_listeners)
{
    dp->drained_listeners |= close_listeners;
    for (int i = 0; i < dp->s->nworkers; i++)
        xp_worker_post(&dp->s->workers[i], xp__worker_drain, close_listeners ? dp : NULL);
}

static void xp__worker_stop(xp_worker_t *wk, void *arg)
{
    xp_dataplane_t *dp = arg;
    xp_wctx_t *w = &dp->wctx[wk->index];
    w->stopping = true;
    while (w->listeners) {
        xp_wlistener_t *n = w->listeners->next;
        xp__wl_close(w->listeners);
        w->listeners = n;
    }
    /* close_now unlinks each connection as it goes. */
    while (w->conns.next && w->conns.next != &w->conns) {
        xp_conn_link_t *l = w->conns.next;
        xp_wctx_unlink(w, l);
        l->close_now(l);
    }
    xp_cm_shutdown(w->cm);
    w->cm = NULL;
    xp_sock_thread_unbatch();
    if (w->snap)
        xp_snapshot_unref(w->snap);
    w->snap = NULL;
    xp_runtime_unref(w->runtime);
    w->runtime = NULL;
}

static void xp__worker_exit(xp_worker_t *wk)
{
    (void)wk;
    xp_sock_thread_cleanup();
    xp_chunk_thread_cleanup();
    xp_hcm_thread_cleanup();
    xp_router_thread_cleanup();
}
