/* Micro-benchmark: ns per runtime_fraction lookup (xp_runtime_fraction) in a
 * snapshot of 10 and 10,000 keys, and the cost of a new snapshot when one
 * of two layers changes. Not a test; numbers are indicative only.
 *   bazel run -c opt //proxy/runtime:runtime_bench */
#include "proxy/runtime/runtime.h"

#include <stdio.h>
#include <time.h>

static double xp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void xp__run(int n)
{
    xp_runtime_layer_t *big = xp_runtime_layer_new("static");
    char key[96], val[16];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "routing.workspaces.ide-%d.canary", i);
        snprintf(val, sizeof(val), "%d", i % 101);
        xp_runtime_layer_put(big, key, val);
    }
    xp_runtime_layer_seal(big);
    xp_runtime_layer_t *small = xp_runtime_layer_new("admin");
    xp_runtime_layer_seal(small);
    xp_runtime_layer_t *v[] = {big, small};

    const int snaps = n > 1000 ? 50 : 5000;
    double t0 = xp__now_ns();
    for (int i = 0; i < snaps; i++)
        xp_runtime_unref(xp_runtime_new(v, 2));
    double snap_us = (xp__now_ns() - t0) / snaps / 1000;

    xp_runtime_t *rt = xp_runtime_new(v, 2);
    snprintf(key, sizeof(key), "routing.workspaces.ide-%d.canary", n - 1);
    xp_str_t k = xp_str_c(key);
    const int iters = 2000000;
    uint64_t hits = 0;
    t0 = xp__now_ns();
    for (int i = 0; i < iters; i++) {
        uint32_t num, den;
        hits += xp_runtime_fraction(rt, k, &num, &den) ? num : 0;
    }
    double ns = (xp__now_ns() - t0) / iters;
    printf("%6d keys: %6.1f ns per fraction lookup, %8.1f us per new snapshot (%llu)\n", n, ns,
           snap_us, (unsigned long long)(hits % 7));
    xp_runtime_unref(rt);
    xp_runtime_layer_unref(big);
    xp_runtime_layer_unref(small);
}

int main(void)
{
    xp__run(10);
    xp__run(10000);
    return 0;
}
