/* Asynchronous name resolution for STRICT_DNS and LOGICAL_DNS clusters.
 *
 * Runs on the main libuv loop. Lookups use uv_getaddrinfo (libuv's thread
 * pool), so the loop never blocks. Every dns_refresh_rate the cluster's
 * endpoint names are resolved again, all at once (a "round"); when a round
 * completes and the resulting hosts differ from the last ones delivered, the
 * update callback gets the new list. What happens follows Envoy's
 * documentation of these cluster types:
 *
 *  - STRICT_DNS: every address of every name becomes a host with its
 *    endpoint's port, weight, priority and health.
 *  - LOGICAL_DNS: only the first address of the (single) endpoint.
 *  - dns_lookup_family (Envoy's Cluster.DnsLookupFamily numbers):
 *    AUTO (0) IPv6 addresses if the name has any, else IPv4; V4_ONLY (1);
 *    V6_ONLY (2); V4_PREFERRED (3) IPv4 if any, else IPv6; ALL (4) both.
 *  - An endpoint whose address is an IP literal resolves to itself without
 *    a lookup.
 *  - A failed lookup keeps that name's last good addresses (none before its
 *    first success) and is retried at the next refresh.
 *
 * Hosts whose endpoint and address survive a refresh are the same xp_host_t
 * objects in the next list, so their active_requests and any per-host state
 * keyed by pointer carry over. */
#ifndef XP_UPSTREAM_DNS_H
#define XP_UPSTREAM_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "proxy/config/config.h"
#include "proxy/upstream/lb.h"

/* Envoy's Cluster.DnsLookupFamily values, as cfg->dns_lookup_family holds
 * them. */
enum {
    XP_DNS_AUTO = 0,
    XP_DNS_V4_ONLY = 1,
    XP_DNS_V6_ONLY = 2,
    XP_DNS_V4_PREFERRED = 3,
    XP_DNS_ALL = 4,
};

typedef struct xp_dns_cluster xp_dns_cluster_t;

/* Counters for stats and the admin page; read on the main thread. */
typedef struct {
    uint64_t resolutions;    /* lookups completed, successful or not (one per name per round) */
    uint64_t failures;       /* of those, failed */
    uint64_t rounds;         /* refresh rounds completed */
    uint64_t updates;        /* update callbacks delivered */
    uint64_t last_change_ms; /* uv_now() of the last delivered update; 0 = none yet */
} xp_dns_stats_t;

/* Called on the loop's thread with a new host list. The callback owns
 * `hosts` (free() it) and one reference to each host: xp_hosts_free(hosts, n)
 * releases both, after e.g. xp_host_set_build() took its own references.
 * The first call comes once every name has been tried once, even if some or
 * all failed (n may be 0), so that the cluster can finish initialising;
 * later calls only when the list changed. The callback may call
 * xp_dns_stop(). */
typedef void (*xp_dns_update_cb)(void *ctx, xp_host_t **hosts, size_t n);

/* Starts resolving cfg's endpoints (cfg->type STRICT_DNS or LOGICAL_DNS;
 * refresh every cfg->dns_refresh_rate_ms, 5000 if 0). Takes a reference to
 * cfg. Nothing is called back before this returns. The result is owned by
 * the caller and released with xp_dns_stop(). */
xp_dns_cluster_t *xp_dns_start(uv_loop_t *loop, const xp_cluster_cfg_t *cfg, xp_dns_update_cb cb,
                               void *ctx);

/* Stops: no callback is made after this returns. In-flight lookups are
 * cancelled (uv_cancel; one already running in the thread pool finishes
 * and its result is dropped) and the timer closed; the object is freed once
 * libuv has called back for all of them, so the loop must keep running
 * (uv_run until it returns) before uv_loop_close(). */
void xp_dns_stop(xp_dns_cluster_t *d);

/* Borrowed; valid until xp_dns_stop(). */
const xp_dns_stats_t *xp_dns_stats(const xp_dns_cluster_t *d);

/* Tests only: resolve endpoint `ep` as `name` from the next round on (to
 * exercise failures and changes without a DNS server). */
void xp_dns_set_name_for_test(xp_dns_cluster_t *d, size_t ep, const char *name);

#endif
