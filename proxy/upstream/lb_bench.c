/* Micro-benchmark: ns per xp_lb_choose for each policy over 100 hosts, with
 * equal and with mixed weights. Not a test; numbers are indicative only.
 *   bazel run -c opt //proxy/upstream:lb_bench */
#include "proxy/upstream/lb.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double xp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void xp__bench(const char *name, xp_lb_policy_t policy, bool weighted)
{
    enum { N = 100, ITERS = 5000000 };
    xp_host_t *h[N];
    for (int i = 0; i < N; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "10.1.0.%d", i + 1);
        xp_addr_t a;
        xp_addr_from_ip(&a, ip, 80);
        h[i] = xp_host_new(&a, NULL, weighted ? (uint32_t)(i % 5 + 1) : 1, 0, true);
    }
    xp_cluster_cfg_t *cfg = xp_cluster_cfg_new("bench");
    cfg->lb_policy = policy;
    double t0 = xp__now_ns();
    xp_host_set_t *hs = xp_host_set_build(h, N, cfg);
    double build_us = (xp__now_ns() - t0) / 1e3;
    xp_lb_state_t st;
    xp_lb_state_init(&st, 1);
    uint64_t key = 0x12345678, sink = 0;
    bool hashed = policy == XP_LB_RING_HASH || policy == XP_LB_MAGLEV;
    t0 = xp__now_ns();
    for (int i = 0; i < ITERS; i++) {
        key = key * 6364136223846793005ULL + 1442695040888963407ULL;
        xp_host_t *c = xp_lb_choose(hs, &st, policy, hashed ? &key : NULL);
        sink += c->weight;
    }
    double ns = (xp__now_ns() - t0) / ITERS;
    printf("%-28s %6.1f ns/choose  (build %8.0f us)%s\n", name, ns, build_us, sink == 0 ? " " : "");
    xp_lb_state_clear(&st);
    xp_host_set_unref(hs);
    xp_cluster_cfg_unref(cfg);
    for (int i = 0; i < N; i++)
        xp_host_unref(h[i]);
}

int main(void)
{
    xp__bench("round_robin", XP_LB_ROUND_ROBIN, false);
    xp__bench("round_robin weighted", XP_LB_ROUND_ROBIN, true);
    xp__bench("least_request (P2C)", XP_LB_LEAST_REQUEST, false);
    xp__bench("least_request weighted", XP_LB_LEAST_REQUEST, true);
    xp__bench("random", XP_LB_RANDOM, false);
    xp__bench("ring_hash", XP_LB_RING_HASH, false);
    xp__bench("ring_hash weighted", XP_LB_RING_HASH, true);
    xp__bench("maglev", XP_LB_MAGLEV, false);
    xp__bench("maglev weighted", XP_LB_MAGLEV, true);
    return 0;
}
