/* DNS clusters against the system resolver (/etc/hosts for "localhost").
 * Counts callbacks and resolutions, never time; every test closes its loop
 * and checks uv_loop_close() == 0, so a leaked handle fails it. */
#include "proxy/upstream/dns.h"
#include "proxy/common/mem.h"
#include "tests/upstream/check.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    xp_dns_cluster_t *d;
    int calls;
    xp_host_t **hosts; /* the latest list, owned */
    size_t n;
    xp_host_t **prev; /* the one before, owned */
    size_t n_prev;
    bool stop_in_cb;
} xp__t_ctx_t;

static void xp__t_update(void *ctx, xp_host_t **hosts, size_t n)
{
    xp__t_ctx_t *c = ctx;
    xp_hosts_free(c->prev, c->n_prev);
    c->prev = c->hosts;
    c->n_prev = c->n;
    c->hosts = hosts;
    c->n = n;
    c->calls++;
    if (c->stop_in_cb) {
        xp_dns_stop(c->d);
        c->d = NULL;
    }
}

static void xp__t_ctx_free(xp__t_ctx_t *c)
{
    xp_hosts_free(c->hosts, c->n);
    xp_hosts_free(c->prev, c->n_prev);
    memset(c, 0, sizeof(*c));
}

static xp_cluster_cfg_t *xp__t_cfg(xp_cluster_type_t type, int family, size_t n)
{
    xp_cluster_cfg_t *c = xp_cluster_cfg_new("dns");
    c->type = type;
    c->dns_lookup_family = family;
    c->endpoints = xp_calloc(n, sizeof(*c->endpoints));
    c->n_endpoints = n;
    for (size_t i = 0; i < n; i++) {
        c->endpoints[i].port = 8080 + (uint32_t)i;
        c->endpoints[i].weight = 1;
        c->endpoints[i].healthy = true;
    }
    return c;
}

/* Runs the loop until cond holds (the loop stays busy with the DNS timer
 * and lookups while a cluster runs). */
#define RUN_UNTIL(loop, cond)                                                                      \
    do {                                                                                           \
        while (!(cond) && uv_run((loop), UV_RUN_ONCE) != 0) {                                      \
        }                                                                                          \
    } while (0)

static void xp__t_stop_and_close(uv_loop_t *loop, xp__t_ctx_t *c)
{
    xp_dns_stop(c->d);
    c->d = NULL;
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(loop) == 0, "a handle was left open");
}

/* Whether the system resolver has an address of `family` for name (the
 * expectation for tests that depend on the machine's /etc/hosts). */
static bool xp__t_sys_has(const char *name, int family, const char *want)
{
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return false;
    bool found = false;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char ip[64];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST) ==
                0 &&
            strcmp(ip, want) == 0)
            found = true;
    }
    freeaddrinfo(res);
    return found;
}

static bool xp__t_has(const xp__t_ctx_t *c, const char *addr)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->hosts[i]->stat_name, addr) == 0)
            return true;
    return false;
}

static void xp__t_resolve_localhost(int family, const char *fname)
{
    bool v4 = xp__t_sys_has("localhost", AF_INET, "127.0.0.1");
    bool v6 = xp__t_sys_has("localhost", AF_INET6, "::1");
    bool want4 = family == XP_DNS_V4_ONLY || family == XP_DNS_ALL ||
                 (family == XP_DNS_V4_PREFERRED) || (family == XP_DNS_AUTO && !v6);
    bool want6 = family == XP_DNS_V6_ONLY || family == XP_DNS_ALL || family == XP_DNS_AUTO ||
                 (family == XP_DNS_V4_PREFERRED && !v4);
    want4 = want4 && v4;
    want6 = want6 && v6;
    if (!v6)
        printf("note: this machine's resolver has no ::1 for localhost; %s expects %s\n", fname,
               want4 ? "127.0.0.1 only" : "no address");

    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_cluster_cfg_t *cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, family, 1);
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    cfg->endpoints[0].weight = 3;
    cfg->endpoints[0].priority = 1;
    xp__t_ctx_t c = {0};
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg); /* the cluster keeps its own reference */
    RUN_UNTIL(&loop, c.calls >= 1);
    CHECK(c.calls == 1, "%s: %d callbacks", fname, c.calls);
    CHECK(c.n == (size_t)want4 + (size_t)want6, "%s: %zu hosts", fname, c.n);
    CHECK(xp__t_has(&c, "127.0.0.1:8080") == want4, "%s: 127.0.0.1 %s", fname,
          want4 ? "missing" : "unexpected");
    CHECK(xp__t_has(&c, "[::1]:8080") == want6, "%s: ::1 %s", fname,
          want6 ? "missing" : "unexpected");
    for (size_t i = 0; i < c.n; i++) {
        CHECK(c.hosts[i]->weight == 3 && c.hosts[i]->priority == 1 && c.hosts[i]->healthy,
              "%s: endpoint attributes not carried", fname);
        CHECK(c.hosts[i]->hostname && strcmp(c.hosts[i]->hostname, "localhost") == 0,
              "%s: hostname", fname);
    }
    const xp_dns_stats_t *st = xp_dns_stats(c.d);
    CHECK(st->resolutions == 1 && st->failures == (c.n == 0), "%s: %llu resolutions %llu failed",
          fname, (unsigned long long)st->resolutions, (unsigned long long)st->failures);
    CHECK(st->updates == 1 && st->last_change_ms > 0 && st->rounds == 1, "%s: stats", fname);
    xp__t_stop_and_close(&loop, &c);
    xp__t_ctx_free(&c);
}

static void test_families(void)
{
    xp__t_resolve_localhost(XP_DNS_V4_ONLY, "V4_ONLY");
    xp__t_resolve_localhost(XP_DNS_V6_ONLY, "V6_ONLY");
    xp__t_resolve_localhost(XP_DNS_ALL, "ALL");
    xp__t_resolve_localhost(XP_DNS_AUTO, "AUTO");
    xp__t_resolve_localhost(XP_DNS_V4_PREFERRED, "V4_PREFERRED");
}

static void test_literals(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_cluster_cfg_t *cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, XP_DNS_V6_ONLY, 2);
    /* As translation leaves an IP endpoint: addr filled, no hostname. */
    xp_addr_from_ip(&cfg->endpoints[0].addr, "10.1.2.3", 8080);
    /* A literal given as a name. */
    cfg->endpoints[1].hostname = xp_strdup("192.0.2.7");
    xp__t_ctx_t c = {0};
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    CHECK(c.calls == 0, "callback before start returned");
    RUN_UNTIL(&loop, c.calls >= 1);
    CHECK(c.n == 2 && xp__t_has(&c, "10.1.2.3:8080") && xp__t_has(&c, "192.0.2.7:8081"),
          "literals: %zu hosts", c.n);
    CHECK(c.n < 1 || c.hosts[0]->hostname == NULL, "a literal has no hostname");
    CHECK(xp_dns_stats(c.d)->resolutions == 0, "literals were looked up");
    /* Nothing to refresh: the loop has nothing left to do but the stopped
     * cluster's close. */
    xp__t_stop_and_close(&loop, &c);
    xp_cluster_cfg_unref(cfg);
    xp__t_ctx_free(&c);
}

static void test_failure_keeps_hosts(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_cluster_cfg_t *cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, XP_DNS_V4_ONLY, 2);
    cfg->dns_refresh_rate_ms = 20;
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    cfg->endpoints[1].hostname = xp_strdup("nonexistent.invalid");
    xp__t_ctx_t c = {0};
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg);
    const xp_dns_stats_t *st = xp_dns_stats(c.d);
    /* The first update comes although one name failed. */
    RUN_UNTIL(&loop, c.calls >= 1);
    CHECK(c.n == 1 && xp__t_has(&c, "127.0.0.1:8080"), "first update: %zu hosts", c.n);
    CHECK(st->failures == 1 && st->resolutions == 2, "%llu of %llu failed",
          (unsigned long long)st->failures, (unsigned long long)st->resolutions);
    /* "localhost" stops resolving: its host stays. */
    xp_dns_set_name_for_test(c.d, 0, "nonexistent.invalid");
    RUN_UNTIL(&loop, st->rounds >= 4);
    CHECK(c.calls == 1, "a failure delivered an update (%d calls)", c.calls);
    CHECK(st->failures == 1 + 2 * 3, "%llu failures", (unsigned long long)st->failures);
    CHECK(c.n == 1 && xp__t_has(&c, "127.0.0.1:8080"), "hosts lost on failure");
    xp__t_stop_and_close(&loop, &c);
    xp__t_ctx_free(&c);
}

static void test_refresh_and_change(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_cluster_cfg_t *cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, XP_DNS_V4_ONLY, 2);
    cfg->dns_refresh_rate_ms = 50;
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    cfg->endpoints[1].hostname = xp_strdup("localhost");
    xp__t_ctx_t c = {0};
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg);
    const xp_dns_stats_t *st = xp_dns_stats(c.d);
    RUN_UNTIL(&loop, st->rounds >= 3);
    CHECK(st->resolutions == 6, "%llu resolutions in 3 rounds",
          (unsigned long long)st->resolutions);
    CHECK(c.calls == 1, "unchanged refreshes delivered %d updates", c.calls);
    CHECK(c.n == 2 && xp__t_has(&c, "127.0.0.1:8080") && xp__t_has(&c, "127.0.0.1:8081"),
          "%zu hosts", c.n);
    xp_host_t *kept = c.n ? c.hosts[0] : NULL;
    /* Endpoint 1 now resolves elsewhere: one update, endpoint 0's host is the
     * same object. */
    xp_dns_set_name_for_test(c.d, 1, "127.0.0.9");
    RUN_UNTIL(&loop, c.calls >= 2);
    CHECK(c.n == 2 && xp__t_has(&c, "127.0.0.1:8080") && xp__t_has(&c, "127.0.0.9:8081"),
          "after change: %zu hosts", c.n);
    CHECK(c.n && c.hosts[0] == kept, "unchanged host was not reused");
    CHECK(st->updates == 2, "%llu updates", (unsigned long long)st->updates);
    xp__t_stop_and_close(&loop, &c);
    xp__t_ctx_free(&c);
}

static void test_logical(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_cluster_cfg_t *cfg = xp__t_cfg(XP_CLUSTER_LOGICAL_DNS, XP_DNS_ALL, 1);
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    xp__t_ctx_t c = {0};
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg);
    RUN_UNTIL(&loop, c.calls >= 1);
    CHECK(c.n == 1, "LOGICAL_DNS gave %zu hosts", c.n);
    xp__t_stop_and_close(&loop, &c);
    xp__t_ctx_free(&c);
}

static void test_stop_in_flight(void)
{
    /* Stop right after the first lookups were handed to the thread pool. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_cluster_cfg_t *cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, XP_DNS_ALL, 3);
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    cfg->endpoints[1].hostname = xp_strdup("nonexistent.invalid");
    cfg->endpoints[2].hostname = xp_strdup("localhost");
    xp__t_ctx_t c = {0};
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg);
    uv_run(&loop, UV_RUN_NOWAIT); /* runs the 0 ms timer: lookups in flight */
    int before = c.calls;         /* 0 unless the thread pool was very quick */
    xp__t_stop_and_close(&loop, &c);
    CHECK(c.calls == before, "callback after stop");
    xp__t_ctx_free(&c);

    /* Stop before anything ran. */
    uv_loop_init(&loop);
    cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, XP_DNS_ALL, 1);
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg);
    xp__t_stop_and_close(&loop, &c);
    CHECK(c.calls == 0, "callback after stop");
    xp__t_ctx_free(&c);

    /* Stop from inside the update callback. */
    uv_loop_init(&loop);
    cfg = xp__t_cfg(XP_CLUSTER_STRICT_DNS, XP_DNS_V4_ONLY, 1);
    cfg->endpoints[0].hostname = xp_strdup("localhost");
    c.stop_in_cb = true;
    c.d = xp_dns_start(&loop, cfg, xp__t_update, &c);
    xp_cluster_cfg_unref(cfg);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(c.calls == 1 && c.d == NULL, "stop in callback: %d calls", c.calls);
    CHECK(uv_loop_close(&loop) == 0, "a handle was left open");
    xp__t_ctx_free(&c);
}

int main(void)
{
    test_families();
    test_literals();
    test_failure_keeps_hosts();
    test_refresh_and_change();
    test_logical();
    test_stop_in_flight();
    TEST_DONE();
}
