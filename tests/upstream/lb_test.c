/* Host sets and load balancers: distributions, priorities, panic, retries,
 * lifetimes. Every statistical check uses a fixed seed, so results are
 * reproducible; no timing assertions. */
#include "proxy/upstream/lb.h"
#include "proxy/common/xxhash.h"
#include "proxy/common/mem.h"
#include "tests/upstream/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Test-side PRNG for hash keys (independent of the balancer's). */
static uint64_t xp__t_rng = 12345;
static uint64_t xp__t_rand(void)
{
    uint64_t z = (xp__t_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static xp_host_t *xp__t_host(int i, uint32_t weight, uint32_t priority, bool healthy)
{
    char ip[32];
    snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 250, i % 250 + 1);
    xp_addr_t a;
    if (xp_addr_from_ip(&a, ip, 8080) != 0)
        abort();
    return xp_host_new(&a, NULL, weight, priority, healthy);
}

static xp_cluster_cfg_t *xp__t_cfg(xp_lb_policy_t policy)
{
    xp_cluster_cfg_t *c = xp_cluster_cfg_new("c");
    c->lb_policy = policy;
    return c;
}

/* Builds a set over hosts and drops the test's references to the hosts, so
 * the set owns them. */
static xp_host_set_t *xp__t_build(xp_host_t **h, size_t n, xp_lb_policy_t policy)
{
    xp_cluster_cfg_t *c = xp__t_cfg(policy);
    xp_host_set_t *hs = xp_host_set_build(h, n, c);
    xp_cluster_cfg_unref(c);
    return hs;
}

static int xp__t_index(const xp_host_set_t *hs, const xp_host_t *h)
{
    for (size_t i = 0; i < xp_host_set_size(hs); i++)
        if (xp_host_set_host(hs, i) == h)
            return (int)i;
    return -1;
}

static void xp__t_unref_all(xp_host_t **h, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xp_host_unref(h[i]);
}

static void test_xxhash(void)
{
    /* Reference values from the xxHash library (XXH64). */
    static const struct {
        const char *s;
        uint64_t seed, want;
    } v[] = {
        {"", 0, 0xef46db3751d8e999ULL},
        {"a", 0, 0xd24ec4f1a98c6e5bULL},
        {"abc", 0, 0x44bc2cf5ad770999ULL},
        {"127.0.0.1:80_0", 0, 0x4bb2f57cda42c065ULL},
        {"The quick brown fox jumps over the lazy dog, 0123456789", 0, 0xbff9f5e02da6c67cULL},
        {"The quick brown fox jumps over the lazy dog, 0123456789", 1, 0x1b0ad838d14ba58cULL},
        {"abcdefghijklmnopqrstuvwxyz012345", 7, 0xe3aceb3c2758a38fULL},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(v); i++) {
        uint64_t got = xp_xxh64(v[i].s, strlen(v[i].s), v[i].seed);
        CHECK(got == v[i].want, "xxh64(\"%s\", %llu) = %016llx", v[i].s,
              (unsigned long long)v[i].seed, (unsigned long long)got);
    }
}

static void test_round_robin(void)
{
    xp_host_t *h[3] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 2, 0, true),
                       xp__t_host(2, 3, 0, true)};
    xp_host_set_t *hs = xp__t_build(h, 3, XP_LB_ROUND_ROBIN);
    for (uint64_t seed = 1; seed <= 5; seed++) {
        xp_lb_state_t st;
        xp_lb_state_init(&st, seed);
        /* Any window of one full cycle (6 picks) is exactly 1:2:3. */
        for (int cycle = 0; cycle < 50; cycle++) {
            int count[3] = {0};
            for (int i = 0; i < 6; i++)
                count[xp__t_index(hs, xp_lb_choose(hs, &st, XP_LB_ROUND_ROBIN, NULL))]++;
            CHECK(count[0] == 1 && count[1] == 2 && count[2] == 3, "seed %llu cycle %d: %d:%d:%d",
                  (unsigned long long)seed, cycle, count[0], count[1], count[2]);
        }
        xp_lb_state_clear(&st);
    }
    xp_host_set_unref(hs);
    xp__t_unref_all(h, 3);

    /* Equal weights: plain rotation, each host once per n picks. */
    xp_host_t *e[4];
    for (int i = 0; i < 4; i++)
        e[i] = xp__t_host(i, 5, 0, true);
    hs = xp__t_build(e, 4, XP_LB_ROUND_ROBIN);
    xp_lb_state_t st;
    xp_lb_state_init(&st, 7);
    int count[4] = {0};
    for (int i = 0; i < 400; i++)
        count[xp__t_index(hs, xp_lb_choose(hs, &st, XP_LB_ROUND_ROBIN, NULL))]++;
    for (int i = 0; i < 4; i++)
        CHECK(count[i] == 100, "host %d: %d", i, count[i]);
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp__t_unref_all(e, 4);
}

static void test_random(void)
{
    xp_host_t *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = xp__t_host(i, 1, 0, true);
    xp_host_set_t *hs = xp__t_build(h, 3, XP_LB_RANDOM);
    xp_lb_state_t st;
    xp_lb_state_init(&st, 42);
    int count[3] = {0};
    for (int i = 0; i < 60000; i++)
        count[xp__t_index(hs, xp_lb_choose(hs, &st, XP_LB_RANDOM, NULL))]++;
    for (int i = 0; i < 3; i++)
        CHECK(count[i] >= 19000 && count[i] <= 21000, "host %d: %d of 60000", i, count[i]);
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp__t_unref_all(h, 3);
}

static void test_least_request(void)
{
    /* Equal weights: P2C. One busy and one idle host: the idle one wins
     * unless both samples hit the busy one (1 in 4). */
    xp_host_t *h[2] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 1, 0, true)};
    atomic_store(&h[0]->active_requests, 10);
    xp_host_set_t *hs = xp__t_build(h, 2, XP_LB_LEAST_REQUEST);
    xp_lb_state_t st;
    xp_lb_state_init(&st, 3);
    int idle = 0;
    for (int i = 0; i < 4000; i++)
        idle += xp_lb_choose(hs, &st, XP_LB_LEAST_REQUEST, NULL) == h[1];
    CHECK(idle > 2800 && idle < 3200, "idle host chosen %d of 4000 (expect ~3000)", idle);

    /* Requests in flight tracked by the data path steer the choice. */
    atomic_store(&h[0]->active_requests, 0);
    int diff = 0;
    for (int i = 0; i < 1000; i++) {
        xp_host_t *c = xp_lb_choose(hs, &st, XP_LB_LEAST_REQUEST, NULL);
        xp_host_rq_begin(c);
        diff = (int)atomic_load(&h[0]->active_requests) - (int)atomic_load(&h[1]->active_requests);
        CHECK(diff >= -8 && diff <= 8, "imbalance %d after %d requests", diff, i);
    }
    xp_host_set_unref(hs);
    xp__t_unref_all(h, 2);

    /* Weighted: weight / (active + 1). Idle w=1 (1/1) vs busy w=2 with 5 in
     * flight (2/6): 3:1 for the idle host. */
    xp_host_t *w[2] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 2, 0, true)};
    atomic_store(&w[1]->active_requests, 5);
    hs = xp__t_build(w, 2, XP_LB_LEAST_REQUEST);
    idle = 0;
    for (int i = 0; i < 4000; i++)
        idle += xp_lb_choose(hs, &st, XP_LB_LEAST_REQUEST, NULL) == w[0];
    CHECK(idle > 2800 && idle < 3200, "idle host chosen %d of 4000 (expect ~3000)", idle);
    /* Nothing in flight: plain weights, 1:2. */
    atomic_store(&w[1]->active_requests, 0);
    xp_lb_state_clear(&st);
    xp_lb_state_init(&st, 4);
    int light = 0;
    for (int i = 0; i < 3000; i++)
        light += xp_lb_choose(hs, &st, XP_LB_LEAST_REQUEST, NULL) == w[0];
    CHECK(light >= 990 && light <= 1010, "weight-1 host chosen %d of 3000 (expect 1000)", light);
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp__t_unref_all(w, 2);
}

/* Same key, same host; even spread; proportional to weight; minimal
 * disruption when a host goes away. */
static void test_hash_policy(xp_lb_policy_t policy, const char *name)
{
    enum { N = 10, KEYS = 100000 };
    xp_host_t *h[N];
    for (int i = 0; i < N; i++)
        h[i] = xp__t_host(i, 1, 0, true);
    /* Ring hash at its default size (1024) gives each of 10 hosts ~128
     * entries: shares vary by ~10 %. Envoy's docs suggest a larger minimum
     * ring for even spread; the test uses 16K (2048 entries per host). */
    xp_cluster_cfg_t *cfg = xp__t_cfg(policy);
    cfg->ring_hash_min_size = 16384;
    xp_host_set_t *hs = xp_host_set_build(h, N, cfg);
    xp_host_set_t *hs9 = xp_host_set_build(h, N - 1, cfg); /* h[9] removed */
    if (policy == XP_LB_RING_HASH) {
        size_t r = xp_host_set_ring_size(hs);
        CHECK(r >= 16384 && r <= 32768, "%s: ring size %zu", name, r);
    } else {
        CHECK(xp_host_set_maglev_size(hs) == 65537, "%s: table %zu", name,
              xp_host_set_maglev_size(hs));
    }
    xp_lb_state_t st;
    xp_lb_state_init(&st, 1);
    int count[N] = {0}, moved = 0, moved_other = 0;
    for (int k = 0; k < KEYS; k++) {
        uint64_t key = xp__t_rand();
        xp_host_t *a = xp_lb_choose(hs, &st, policy, &key);
        xp_host_t *b = xp_lb_choose(hs, &st, policy, &key);
        CHECK(a == b, "%s: key %llx maps to two hosts", name, (unsigned long long)key);
        count[xp__t_index(hs, a)]++;
        xp_host_t *c = xp_lb_choose(hs9, &st, policy, &key);
        moved += c != a;
        moved_other += c != a && a != h[N - 1];
    }
    int lo = KEYS / N * 90 / 100, hi = KEYS / N * 110 / 100;
    for (int i = 0; i < N; i++)
        CHECK(count[i] >= lo && count[i] <= hi, "%s: host %d got %d of %d keys", name, i, count[i],
              KEYS);
    CHECK(moved < KEYS / 5, "%s: removing 1 of %d hosts moved %d of %d keys", name, N, moved, KEYS);
    printf("%s: removing 1 of 10 hosts moved %.1f%% of keys (%.2f%% from remaining hosts)\n", name,
           100.0 * moved / KEYS, 100.0 * moved_other / KEYS);
    if (policy == XP_LB_RING_HASH)
        CHECK(moved_other == 0, "%s: %d keys of remaining hosts moved", name, moved_other);
    xp_host_set_unref(hs);
    xp_host_set_unref(hs9);

    /* At the default ring size the spread is wider, but keys still move
     * only from the removed host. */
    cfg->ring_hash_min_size = 1024;
    hs = xp_host_set_build(h, N, cfg);
    hs9 = xp_host_set_build(h, N - 1, cfg);
    int dc[N] = {0};
    moved = moved_other = 0;
    for (int k = 0; k < KEYS; k++) {
        uint64_t key = xp__t_rand();
        xp_host_t *a = xp_lb_choose(hs, &st, policy, &key);
        xp_host_t *c = xp_lb_choose(hs9, &st, policy, &key);
        dc[xp__t_index(hs, a)]++;
        moved += c != a;
        moved_other += c != a && a != h[N - 1];
    }
    int dmin = KEYS, dmax = 0;
    for (int i = 0; i < N; i++) {
        dmin = dc[i] < dmin ? dc[i] : dmin;
        dmax = dc[i] > dmax ? dc[i] : dmax;
    }
    CHECK(moved < KEYS / 5, "%s default size: moved %d of %d keys", name, moved, KEYS);
    printf("%s default size: keys per host %d..%d (ideal %d), removal moved %.1f%%\n", name, dmin,
           dmax, KEYS / N, 100.0 * moved / KEYS);
    xp_host_set_unref(hs);
    xp_host_set_unref(hs9);
    xp__t_unref_all(h, N);

    /* Weights 1:3 (two hosts each). */
    xp_host_t *w[4] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 3, 0, true),
                       xp__t_host(2, 1, 0, true), xp__t_host(3, 3, 0, true)};
    cfg->ring_hash_min_size = 16384;
    hs = xp_host_set_build(w, 4, cfg);
    xp_cluster_cfg_unref(cfg);
    int wc[4] = {0};
    for (int k = 0; k < KEYS; k++) {
        uint64_t key = xp__t_rand();
        wc[xp__t_index(hs, xp_lb_choose(hs, &st, policy, &key))]++;
    }
    int light = wc[0] + wc[2], heavy = wc[1] + wc[3];
    CHECK(light >= KEYS / 4 * 90 / 100 && light <= KEYS / 4 * 110 / 100 &&
              heavy >= KEYS * 3 / 4 * 90 / 100 && heavy <= KEYS * 3 / 4 * 110 / 100,
          "%s: weight 1 hosts got %d, weight 3 hosts %d of %d", name, light, heavy, KEYS);
    for (int i = 0; i < 4; i++) {
        int want = KEYS * (int)w[i]->weight / 8;
        CHECK(wc[i] >= want * 80 / 100 && wc[i] <= want * 120 / 100, "%s: host %d got %d, want ~%d",
              name, i, wc[i], want);
    }
    /* Without a hash: random. */
    int nh[4] = {0};
    for (int k = 0; k < 4000; k++)
        nh[xp__t_index(hs, xp_lb_choose(hs, &st, policy, NULL))]++;
    for (int i = 0; i < 4; i++)
        CHECK(nh[i] > 800 && nh[i] < 1200, "%s without hash: host %d got %d of 4000", name, i,
              nh[i]);
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp__t_unref_all(w, 4);
}

static void test_ring_sizes(void)
{
    xp_host_t *h[3] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 1, 0, true),
                       xp__t_host(2, 2, 0, true)};
    xp_cluster_cfg_t *c = xp__t_cfg(XP_LB_RING_HASH);
    c->ring_hash_min_size = 100;
    c->ring_hash_max_size = 1000;
    xp_host_set_t *hs = xp_host_set_build(h, 3, c);
    /* min weight 1/4: ceil(0.25 * 100) = 25 entries, rounded up to 32 per
     * unit of weight: 128. */
    CHECK(xp_host_set_ring_size(hs) == 128, "ring %zu", xp_host_set_ring_size(hs));
    xp_host_set_unref(hs);
    c->ring_hash_min_size = 5000;
    hs = xp_host_set_build(h, 3, c);
    CHECK(xp_host_set_ring_size(hs) == 1000, "capped ring %zu", xp_host_set_ring_size(hs));
    xp_host_set_unref(hs);
    c->lb_policy = XP_LB_MAGLEV;
    c->maglev_table_size = 1000; /* not prime: raised to 1009 */
    hs = xp_host_set_build(h, 3, c);
    CHECK(xp_host_set_maglev_size(hs) == 1009, "maglev %zu", xp_host_set_maglev_size(hs));
    xp_lb_state_t st;
    xp_lb_state_init(&st, 1);
    int count[3] = {0};
    for (int k = 0; k < 40000; k++) {
        uint64_t key = xp__t_rand();
        count[xp__t_index(hs, xp_lb_choose(hs, &st, XP_LB_MAGLEV, &key))]++;
    }
    CHECK(count[2] > 18000 && count[2] < 22000, "maglev weight 2 of 4: %d of 40000", count[2]);
    xp_host_set_unref(hs);
    xp_cluster_cfg_unref(c);
    xp__t_unref_all(h, 3);
}

static void test_priorities(void)
{
    xp_lb_policy_t policies[] = {XP_LB_ROUND_ROBIN, XP_LB_LEAST_REQUEST, XP_LB_RANDOM,
                                 XP_LB_RING_HASH, XP_LB_MAGLEV};
    for (size_t p = 0; p < XP_ARRAY_SIZE(policies); p++) {
        /* P0 all unhealthy -> everything to P1. */
        xp_host_t *h[4] = {xp__t_host(0, 1, 0, false), xp__t_host(1, 1, 0, false),
                           xp__t_host(2, 1, 1, true), xp__t_host(3, 1, 1, true)};
        xp_host_set_t *hs = xp__t_build(h, 4, policies[p]);
        CHECK(xp_host_set_priority_load(hs, 0) == 0 && xp_host_set_priority_load(hs, 1) == 100,
              "loads %u/%u", xp_host_set_priority_load(hs, 0), xp_host_set_priority_load(hs, 1));
        xp_lb_state_t st;
        xp_lb_state_init(&st, 9);
        for (int i = 0; i < 1000; i++) {
            uint64_t key = xp__t_rand();
            xp_host_t *c = xp_lb_choose(hs, &st, policies[p], &key);
            CHECK(c->priority == 1, "policy %d chose priority %u", (int)policies[p], c->priority);
        }
        xp_lb_state_clear(&st);
        xp_host_set_unref(hs);
        xp__t_unref_all(h, 4);
    }

    /* Spill: P0 half healthy -> health 70 %; P1 takes the other 30 %. */
    xp_host_t *s[12];
    for (int i = 0; i < 10; i++)
        s[i] = xp__t_host(i, 1, 0, i < 5);
    s[10] = xp__t_host(10, 1, 1, true);
    s[11] = xp__t_host(11, 1, 1, true);
    xp_host_set_t *hs = xp__t_build(s, 12, XP_LB_ROUND_ROBIN);
    CHECK(xp_host_set_priority_load(hs, 0) == 70 && xp_host_set_priority_load(hs, 1) == 30,
          "loads %u/%u", xp_host_set_priority_load(hs, 0), xp_host_set_priority_load(hs, 1));
    CHECK(!xp_host_set_in_panic(hs, 0) && !xp_host_set_in_panic(hs, 1), "no panic");
    xp_lb_state_t st;
    xp_lb_state_init(&st, 5);
    int p1 = 0;
    for (int i = 0; i < 10000; i++) {
        xp_host_t *c = xp_lb_choose(hs, &st, XP_LB_ROUND_ROBIN, NULL);
        CHECK(c->healthy, "unhealthy host %s chosen", c->stat_name);
        p1 += c->priority == 1;
    }
    CHECK(p1 > 2700 && p1 < 3300, "P1 got %d of 10000 (expect ~3000)", p1);
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp__t_unref_all(s, 12);

    /* 6 of 10 healthy: health 84 %, total < 100 but 60 % >= the panic
     * threshold, so only healthy hosts are used. */
    xp_host_t *q[10];
    for (int i = 0; i < 10; i++)
        q[i] = xp__t_host(i, 1, 0, i < 6);
    hs = xp__t_build(q, 10, XP_LB_RANDOM);
    CHECK(!xp_host_set_in_panic(hs, 0), "6/10 healthy is not panic");
    xp_lb_state_init(&st, 5);
    for (int i = 0; i < 1000; i++)
        CHECK(xp_lb_choose(hs, &st, XP_LB_RANDOM, NULL)->healthy, "unhealthy chosen");
    xp_host_set_unref(hs);
    xp__t_unref_all(q, 10);
}

static void test_panic(void)
{
    /* No healthy host anywhere: P0 takes everything, over all its hosts. */
    xp_host_t *h[4] = {xp__t_host(0, 1, 0, false), xp__t_host(1, 1, 0, false),
                       xp__t_host(2, 1, 1, false), xp__t_host(3, 1, 1, false)};
    xp_host_set_t *hs = xp__t_build(h, 4, XP_LB_ROUND_ROBIN);
    CHECK(xp_host_set_in_panic(hs, 0), "P0 in panic");
    xp_lb_state_t st;
    xp_lb_state_init(&st, 5);
    int count[4] = {0};
    for (int i = 0; i < 100; i++)
        count[xp__t_index(hs, xp_lb_choose(hs, &st, XP_LB_ROUND_ROBIN, NULL))]++;
    CHECK(count[0] == 50 && count[1] == 50 && count[2] == 0 && count[3] == 0,
          "panic spread %d %d %d %d", count[0], count[1], count[2], count[3]);
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp__t_unref_all(h, 4);

    /* 1 of 4 healthy (25 % < 50 %): panic, all four hosts take traffic. */
    xp_host_t *p[4] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 1, 0, false),
                       xp__t_host(2, 1, 0, false), xp__t_host(3, 1, 0, false)};
    hs = xp__t_build(p, 4, XP_LB_RING_HASH);
    CHECK(xp_host_set_in_panic(hs, 0), "1/4 healthy is panic");
    int seen[4] = {0};
    for (int i = 0; i < 4000; i++) {
        uint64_t key = xp__t_rand();
        seen[xp__t_index(hs, xp_lb_choose(hs, &st, XP_LB_RING_HASH, &key))]++;
    }
    for (int i = 0; i < 4; i++)
        CHECK(seen[i] > 500, "panic: host %d got %d of 4000", i, seen[i]);
    xp_host_set_unref(hs);
    xp__t_unref_all(p, 4);
}

static void test_retry_exclusion(void)
{
    xp_lb_policy_t policies[] = {XP_LB_ROUND_ROBIN, XP_LB_LEAST_REQUEST, XP_LB_RANDOM,
                                 XP_LB_RING_HASH, XP_LB_MAGLEV};
    for (size_t p = 0; p < XP_ARRAY_SIZE(policies); p++) {
        xp_host_t *h[3] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 2, 0, true),
                           xp__t_host(2, 1, 1, true)};
        xp_host_set_t *hs = xp__t_build(h, 3, policies[p]);
        xp_lb_state_t st;
        xp_lb_state_init(&st, 11);
        for (int i = 0; i < 2000; i++) {
            uint64_t key = xp__t_rand();
            xp_host_t *first = xp_lb_choose(hs, &st, policies[p], &key);
            xp_host_t *retry = xp_lb_choose_excluding(hs, &st, policies[p], &key, first);
            CHECK(retry != NULL && retry != first, "policy %d retried on the same host",
                  (int)policies[p]);
            if (policies[p] == XP_LB_RING_HASH || policies[p] == XP_LB_MAGLEV) {
                xp_host_t *again = xp_lb_choose_excluding(hs, &st, policies[p], &key, first);
                CHECK(again == retry, "policy %d: retry of a key is not deterministic",
                      (int)policies[p]);
            }
        }
        xp_lb_state_clear(&st);
        xp_host_set_unref(hs);
        xp__t_unref_all(h, 3);
    }
    /* A single host: nothing else to choose. */
    xp_host_t *one = xp__t_host(0, 1, 0, true);
    xp_host_set_t *hs = xp__t_build(&one, 1, XP_LB_ROUND_ROBIN);
    xp_lb_state_t st;
    xp_lb_state_init(&st, 1);
    CHECK(xp_lb_choose_excluding(hs, &st, XP_LB_ROUND_ROBIN, NULL, one) == one, "single host");
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp_host_unref(one);
}

static void test_lifetimes(void)
{
    xp_host_t *h[3];
    for (int i = 0; i < 3; i++)
        h[i] = xp__t_host(i, 1, 0, true);
    xp_host_set_t *hs = xp__t_build(h, 3, XP_LB_ROUND_ROBIN);
    xp__t_unref_all(h, 3); /* the set holds the only references now */
    xp_lb_state_t st;
    xp_lb_state_init(&st, 1);
    xp_host_t *kept = xp_lb_choose(hs, &st, XP_LB_ROUND_ROBIN, NULL);
    xp_host_ref(kept);     /* an in-flight request keeps its host */
    xp_host_set_unref(hs); /* an update replaced the set */
    xp_host_rq_begin(kept);
    CHECK(strncmp(kept->stat_name, "10.0.0.", 7) == 0, "stat name %s", kept->stat_name);
    xp_host_rq_end(kept);
    xp_host_unref(kept);

    /* One worker state used with two generations in turn: the schedule is
     * rebuilt, never read against the wrong set. */
    xp_host_t *a[2] = {xp__t_host(0, 1, 0, true), xp__t_host(1, 3, 0, true)};
    xp_host_set_t *s1 = xp__t_build(a, 2, XP_LB_ROUND_ROBIN);
    xp_host_set_t *s2 = xp__t_build(a, 1, XP_LB_ROUND_ROBIN);
    for (int i = 0; i < 100; i++) {
        CHECK(xp__t_index(s1, xp_lb_choose(s1, &st, XP_LB_ROUND_ROBIN, NULL)) >= 0, "s1");
        CHECK(xp_lb_choose(s2, &st, XP_LB_ROUND_ROBIN, NULL) == a[0], "s2");
    }
    xp_host_set_unref(s1);
    xp_host_set_unref(s2);
    xp__t_unref_all(a, 2);

    /* An empty set chooses nothing. */
    xp_host_set_t *empty = xp_host_set_build(NULL, 0, NULL);
    CHECK(xp_lb_choose(empty, &st, XP_LB_ROUND_ROBIN, NULL) == NULL, "empty set");
    CHECK(xp_host_set_size(empty) == 0, "empty size");
    xp_host_set_unref(empty);
    xp_lb_state_clear(&st);
}

int main(void)
{
    test_xxhash();
    test_round_robin();
    test_random();
    test_least_request();
    test_hash_policy(XP_LB_RING_HASH, "ring_hash");
    test_hash_policy(XP_LB_MAGLEV, "maglev");
    test_ring_sizes();
    test_priorities();
    test_panic();
    test_retry_exclusion();
    test_lifetimes();
    TEST_DONE();
}
