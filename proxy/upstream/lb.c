/* Host sets and load balancers; see lb.h for the model and Envoy's
 * arch_overview/upstream/load_balancing pages for the behaviour followed. */
#include "proxy/upstream/lb.h"
#include "proxy/common/xxhash.h"
#include "proxy/common/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- xxHash64 (Yann Collet's published specification) ---------------- */

/* ---- hosts ------------------------------------------------------------ */

xp_host_t *xp_host_new(const xp_addr_t *addr, const char *hostname, uint32_t weight,
                       uint32_t priority, bool healthy)
{
    xp_host_t *h = xp_calloc(1, sizeof(*h));
    xp_ref_init(&h->ref);
    h->addr = *addr;
    h->stat_name = h->addr.str;
    h->hostname = hostname ? xp_strdup(hostname) : NULL;
    h->weight = weight ? weight : 1;
    h->priority = priority;
    h->healthy = healthy;
    atomic_init(&h->active_requests, 0);
    return h;
}

xp_host_t *xp_host_from_endpoint(const xp_endpoint_cfg_t *ep)
{
    /* Endpoint.hostname names the host (auto_host_rewrite); DNS endpoints
     * are named by what they resolve. */
    const char *name = ep->endpoint_hostname ? ep->endpoint_hostname : ep->hostname;
    return xp_host_new(&ep->addr, name, ep->weight, ep->priority, ep->healthy);
}

void xp_host_ref(xp_host_t *h)
{
    xp_ref_inc(&h->ref);
}

void xp_host_unref(xp_host_t *h)
{
    if (h == NULL || !xp_ref_dec(&h->ref))
        return;
    free(h->hostname);
    free(h);
}

void xp_hosts_free(xp_host_t **hosts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xp_host_unref(hosts[i]);
    free(hosts);
}

/* ---- host sets -------------------------------------------------------- */

/* One priority level. `hosts` is what the level balances over: its healthy
 * hosts, or all of them in panic. Indices in ring/maglev point into it. */
typedef struct {
    uint32_t priority;
    uint32_t load;     /* percent of traffic */
    uint32_t cum_load; /* load of this and every higher-priority level */
    bool panic;
    bool equal_weights;
    xp_host_t **hosts; /* borrowed from the set's `all` */
    uint32_t n;
    uint64_t *ring_hash; /* sorted; RING_HASH only */
    uint32_t *ring_host;
    size_t ring_n;
    uint32_t *maglev; /* MAGLEV only: slot -> index in hosts */
    size_t maglev_n;
} xp__level_t;

struct xp_host_set {
    xp_ref_t ref;
    uint64_t gen; /* unique per build, keys the workers' xp_lb_state_t */
    xp_lb_policy_t policy;
    uint32_t choice_count;
    xp_host_t **all; /* one reference each */
    size_t n_all;
    xp__level_t *levels; /* by ascending priority; only levels that have hosts */
    size_t n_levels;
};

static _Atomic uint64_t xp__next_gen = 1;

typedef struct {
    uint32_t priority;
    uint32_t idx;
} xp__prio_idx_t;

static int xp__prio_idx_cmp(const void *a, const void *b)
{
    const xp__prio_idx_t *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

typedef struct {
    uint64_t hash;
    uint32_t host;
} xp__ring_entry_t;

static int xp__ring_cmp(const void *a, const void *b)
{
    const xp__ring_entry_t *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->host < y->host ? -1 : x->host > y->host;
}

/* Envoy's ring: every host gets entries in proportion to its normalized
 * weight, scaled so the lightest host gets at least ceil(min_weight *
 * min_size) entries and the ring stays within max_size. Entry keys are
 * "<address>_<n>" hashed with xxHash64 (seed 0).
 *
 * One deliberate difference: the lightest host's entry count is rounded up
 * to a power of two (the ring is then between min_size and 2 * min_size,
 * still capped at max_size). With Envoy's exact scale, removing one of N
 * equal hosts adds ~1/N more entries to every other host, which moves about
 * as many keys again between the remaining hosts; rounded, the remaining
 * hosts keep their entries unless the count crosses a power of two. */
static void xp__ring_build(xp__level_t *lv, uint64_t min_size, uint64_t max_size)
{
    if (max_size == 0)
        max_size = 8 * 1024 * 1024;
    if (min_size == 0)
        min_size = 1024;
    if (min_size > max_size)
        min_size = max_size;
    uint64_t total = 0, min_w = UINT64_MAX;
    for (uint32_t i = 0; i < lv->n; i++) {
        total += lv->hosts[i]->weight;
        if (lv->hosts[i]->weight < min_w)
            min_w = lv->hosts[i]->weight;
    }
    double min_norm = (double)min_w / (double)total;
    double per_min = ceil(min_norm * (double)min_size), p2 = 1;
    while (p2 < per_min)
        p2 *= 2;
    double scale = p2 / min_norm;
    if (scale > (double)max_size)
        scale = (double)max_size;
    size_t cap = (size_t)scale + lv->n + 1, n = 0;
    xp__ring_entry_t *e = xp_malloc(cap * sizeof(*e));
    double target = 0;
    char key[96];
    for (uint32_t i = 0; i < lv->n; i++) {
        target += scale * ((double)lv->hosts[i]->weight / (double)total);
        for (uint64_t k = 0; (double)n < target; k++) {
            if (n == cap) {
                cap *= 2;
                e = xp_realloc(e, cap * sizeof(*e));
            }
            int len = snprintf(key, sizeof(key), "%s_%llu", lv->hosts[i]->addr.str,
                               (unsigned long long)k);
            e[n].hash = xp_xxh64(key, (size_t)len, 0);
            e[n].host = i;
            n++;
        }
    }
    qsort(e, n, sizeof(*e), xp__ring_cmp);
    lv->ring_hash = xp_malloc((n ? n : 1) * sizeof(uint64_t));
    lv->ring_host = xp_malloc((n ? n : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        lv->ring_hash[i] = e[i].hash;
        lv->ring_host[i] = e[i].host;
    }
    lv->ring_n = n;
    free(e);
}

static bool xp__is_prime(uint64_t m)
{
    if (m < 2)
        return false;
    for (uint64_t d = 2; d * d <= m; d++)
        if (m % d == 0)
            return false;
    return true;
}

/* Maglev (Eisenbud et al., NSDI 2016) with Envoy's weighting: each host has
 * a permutation of the slots given by offset = h0 % M and skip = h1 % (M-1)
 * + 1 over its address; hosts take turns claiming their next free slot, and
 * a host of weight w takes a turn in w of every max_weight rounds. M prime
 * makes every permutation visit every slot. */
static void xp__maglev_build(xp__level_t *lv, uint64_t m)
{
    if (m < 2)
        m = 65537;
    while (!xp__is_prime(m))
        m++;
    uint32_t n = lv->n;
    uint64_t *pos = xp_malloc(n * sizeof(uint64_t));
    uint64_t *skip = xp_malloc(n * sizeof(uint64_t));
    uint64_t *target = xp_calloc(n, sizeof(uint64_t));
    uint64_t max_w = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *key = lv->hosts[i]->addr.str;
        size_t len = strlen(key);
        pos[i] = xp_xxh64(key, len, 0) % m;
        skip[i] = xp_xxh64(key, len, 1) % (m - 1) + 1;
        if (lv->hosts[i]->weight > max_w)
            max_w = lv->hosts[i]->weight;
    }
    uint32_t *table = xp_malloc(m * sizeof(uint32_t));
    memset(table, 0xff, m * sizeof(uint32_t));
    uint64_t filled = 0;
    for (uint64_t round = 1; filled < m; round++) {
        for (uint32_t i = 0; i < n && filled < m; i++) {
            if (round * lv->hosts[i]->weight < target[i])
                continue;
            target[i] += max_w;
            while (table[pos[i]] != UINT32_MAX) {
                pos[i] += skip[i];
                if (pos[i] >= m)
                    pos[i] -= m;
            }
            table[pos[i]] = i;
            filled++;
        }
    }
    lv->maglev = table;
    lv->maglev_n = m;
    free(pos);
    free(skip);
    free(target);
}

/* Envoy's priority load (arch_overview/upstream/load_balancing/priority):
 * health(P) = min(100, 1.4 * 100 * healthy / total); normalized total
 * health NTH = min(100, sum of health); each level in order takes
 * min(remaining, health * 100 / NTH) and the rounding remainder goes to the
 * first level with health. When NTH < 100 a level whose healthy share is
 * below the panic threshold balances over all its hosts. NTH == 0 sends
 * everything to the first level, in panic. */
static void xp__compute_loads(xp__level_t *lv, size_t nl, const uint32_t *healthy,
                              const uint32_t *total)
{
    uint32_t *health = xp_malloc(nl * sizeof(uint32_t));
    uint64_t sum = 0;
    for (size_t i = 0; i < nl; i++) {
        uint64_t h = (uint64_t)XP_LB_OVERPROVISIONING_FACTOR * healthy[i] / total[i];
        health[i] = h > 100 ? 100 : (uint32_t)h;
        sum += health[i];
    }
    uint32_t nth = sum > 100 ? 100 : (uint32_t)sum;
    if (nth == 0) {
        for (size_t i = 0; i < nl; i++) {
            lv[i].load = i == 0 ? 100 : 0;
            lv[i].panic = true;
        }
    } else {
        uint32_t remaining = 100;
        long first = -1;
        for (size_t i = 0; i < nl; i++) {
            uint32_t l = health[i] * 100 / nth;
            lv[i].load = l < remaining ? l : remaining;
            remaining -= lv[i].load;
            if (first < 0 && health[i] > 0)
                first = (long)i;
            lv[i].panic =
                nth < 100 && (uint64_t)healthy[i] * 100 / total[i] < XP_LB_PANIC_THRESHOLD;
        }
        lv[first].load += remaining;
    }
    uint32_t cum = 0;
    for (size_t i = 0; i < nl; i++) {
        cum += lv[i].load;
        lv[i].cum_load = cum;
    }
    free(health);
}

xp_host_set_t *xp_host_set_build(xp_host_t *const *hosts, size_t n, const xp_cluster_cfg_t *cfg)
{
    xp_host_set_t *hs = xp_calloc(1, sizeof(*hs));
    xp_ref_init(&hs->ref);
    hs->gen = atomic_fetch_add(&xp__next_gen, 1);
    hs->policy = cfg ? cfg->lb_policy : XP_LB_ROUND_ROBIN;
    hs->choice_count = cfg && cfg->least_request_choice_count ? cfg->least_request_choice_count : 2;
    hs->n_all = n;
    hs->all = xp_malloc((n ? n : 1) * sizeof(*hs->all));
    for (size_t i = 0; i < n; i++) {
        hs->all[i] = hosts[i];
        xp_host_ref(hosts[i]);
    }
    if (n == 0)
        return hs;

    /* Group by priority, keeping build order within a level. */
    xp__prio_idx_t *order = xp_malloc(n * sizeof(*order));
    for (size_t i = 0; i < n; i++)
        order[i] = (xp__prio_idx_t){hosts[i]->priority, (uint32_t)i};
    qsort(order, n, sizeof(*order), xp__prio_idx_cmp);
    size_t nl = 1;
    for (size_t i = 1; i < n; i++)
        nl += order[i].priority != order[i - 1].priority;
    hs->levels = xp_calloc(nl, sizeof(*hs->levels));
    hs->n_levels = nl;
    uint32_t *healthy = xp_calloc(nl, sizeof(uint32_t));
    uint32_t *total = xp_calloc(nl, sizeof(uint32_t));
    size_t *start = xp_calloc(nl, sizeof(size_t));
    for (size_t i = 0, l = 0; i < n; i++) {
        if (i > 0 && order[i].priority != order[i - 1].priority)
            start[++l] = i;
        hs->levels[l].priority = order[i].priority;
        total[l]++;
        healthy[l] += hs->all[order[i].idx]->healthy;
    }
    xp__compute_loads(hs->levels, nl, healthy, total);

    for (size_t l = 0; l < nl; l++) {
        xp__level_t *lv = &hs->levels[l];
        lv->hosts = xp_malloc(total[l] * sizeof(*lv->hosts));
        for (size_t i = start[l]; i < start[l] + total[l]; i++) {
            xp_host_t *h = hs->all[order[i].idx];
            if (lv->panic || h->healthy)
                lv->hosts[lv->n++] = h;
        }
        lv->equal_weights = true;
        for (uint32_t i = 1; i < lv->n; i++)
            if (lv->hosts[i]->weight != lv->hosts[0]->weight)
                lv->equal_weights = false;
        if (lv->load == 0 || lv->n == 0)
            continue; /* never chosen: skip the expensive structures */
        if (hs->policy == XP_LB_RING_HASH)
            xp__ring_build(lv, cfg->ring_hash_min_size, cfg->ring_hash_max_size);
        else if (hs->policy == XP_LB_MAGLEV)
            xp__maglev_build(lv, cfg->maglev_table_size);
    }
    free(order);
    free(healthy);
    free(total);
    free(start);
    return hs;
}

void xp_host_set_ref(xp_host_set_t *hs)
{
    xp_ref_inc(&hs->ref);
}

void xp_host_set_unref(xp_host_set_t *hs)
{
    if (hs == NULL || !xp_ref_dec(&hs->ref))
        return;
    for (size_t l = 0; l < hs->n_levels; l++) {
        xp__level_t *lv = &hs->levels[l];
        free(lv->hosts);
        free(lv->ring_hash);
        free(lv->ring_host);
        free(lv->maglev);
    }
    free(hs->levels);
    for (size_t i = 0; i < hs->n_all; i++)
        xp_host_unref(hs->all[i]);
    free(hs->all);
    free(hs);
}

size_t xp_host_set_size(const xp_host_set_t *hs)
{
    return hs->n_all;
}

xp_host_t *xp_host_set_host(const xp_host_set_t *hs, size_t i)
{
    return i < hs->n_all ? hs->all[i] : NULL;
}

static const xp__level_t *xp__level_of(const xp_host_set_t *hs, uint32_t priority)
{
    for (size_t l = 0; l < hs->n_levels; l++)
        if (hs->levels[l].priority == priority)
            return &hs->levels[l];
    return NULL;
}

uint32_t xp_host_set_priority_load(const xp_host_set_t *hs, uint32_t priority)
{
    const xp__level_t *lv = xp__level_of(hs, priority);
    return lv ? lv->load : 0;
}

bool xp_host_set_in_panic(const xp_host_set_t *hs, uint32_t priority)
{
    const xp__level_t *lv = xp__level_of(hs, priority);
    return lv && lv->panic;
}

size_t xp_host_set_ring_size(const xp_host_set_t *hs)
{
    size_t n = 0;
    for (size_t l = 0; l < hs->n_levels; l++)
        n += hs->levels[l].ring_n;
    return n;
}

size_t xp_host_set_maglev_size(const xp_host_set_t *hs)
{
    size_t n = 0;
    for (size_t l = 0; l < hs->n_levels; l++)
        n += hs->levels[l].maglev_n;
    return n;
}

/* ---- per-worker state ------------------------------------------------- */

/* An earliest-deadline-first entry. Weighted round robin keeps exact
 * rational deadlines (picks + 1) / weight, so a full cycle of sum(weights)
 * picks hands out exactly `weight` picks per host; weighted least request
 * keeps a floating deadline advanced by (active + 1) / weight on each pick,
 * Envoy's weight / (active + 1)^1.0 taken when the host is picked. */
typedef struct {
    uint64_t picks;
    double deadline;
    uint32_t idx;
    uint32_t weight; /* copy of the host's, to keep compares in the heap */
} xp__edf_t;

struct xp__lb_level_state {
    bool ready;
    uint64_t cursor;
    xp__edf_t *heap; /* n entries, a binary min-heap */
};

static inline uint64_t xp__rand(xp_lb_state_t *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) from the high bits (Lemire's multiply-shift). */
static inline uint32_t xp__below(uint64_t r, uint32_t n)
{
    return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

void xp_lb_state_init(xp_lb_state_t *s, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed;
    s->policy = -1;
}

void xp_lb_state_clear(xp_lb_state_t *s)
{
    for (size_t i = 0; i < s->n_levels; i++)
        free(s->levels[i].heap);
    free(s->levels);
    s->levels = NULL;
    s->n_levels = 0;
    s->gen = 0;
    s->policy = -1;
}

static inline bool xp__edf_less(bool exact, const xp__edf_t *a, const xp__edf_t *b)
{
    if (exact) {
        unsigned __int128 x = (unsigned __int128)(a->picks + 1) * b->weight;
        unsigned __int128 y = (unsigned __int128)(b->picks + 1) * a->weight;
        if (x != y)
            return x < y;
    } else if (a->deadline != b->deadline) {
        return a->deadline < b->deadline;
    }
    return a->idx < b->idx;
}

static void xp__edf_sift_down(const xp__level_t *lv, bool exact, xp__edf_t *heap, uint32_t i)
{
    uint32_t n = lv->n;
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && xp__edf_less(exact, &heap[l], &heap[m]))
            m = l;
        if (r < n && xp__edf_less(exact, &heap[r], &heap[m]))
            m = r;
        if (m == i)
            return;
        xp__edf_t t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static inline double xp__lr_step(const xp_host_t *h)
{
    uint32_t active =
        atomic_load_explicit(&((xp_host_t *)h)->active_requests, memory_order_relaxed);
    return ((double)active + 1.0) / (double)h->weight;
}

/* Pops the earliest entry, schedules its next deadline, returns its index. */
static uint32_t xp__edf_pick(const xp__level_t *lv, struct xp__lb_level_state *ls, bool exact)
{
    xp__edf_t *top = &ls->heap[0];
    uint32_t idx = top->idx;
    top->picks++;
    if (!exact)
        top->deadline += xp__lr_step(lv->hosts[idx]);
    xp__edf_sift_down(lv, exact, ls->heap, 0);
    return idx;
}

/* The worker's schedule for level li of hs under policy, set up on first
 * use after the set or policy changed. */
static struct xp__lb_level_state *xp__level_state(const xp_host_set_t *hs, xp_lb_state_t *st,
                                                  xp_lb_policy_t policy, size_t li)
{
    if (st->gen != hs->gen || st->policy != (int)policy) {
        uint64_t rng = st->rng;
        xp_lb_state_clear(st);
        st->rng = rng;
        st->gen = hs->gen;
        st->policy = (int)policy;
        st->n_levels = hs->n_levels;
        st->levels = xp_calloc(hs->n_levels ? hs->n_levels : 1, sizeof(*st->levels));
    }
    struct xp__lb_level_state *ls = &st->levels[li];
    if (ls->ready)
        return ls;
    const xp__level_t *lv = &hs->levels[li];
    ls->ready = true;
    /* Start each worker at a random point of the cycle so that workers do
     * not all send their first request to the same host. */
    ls->cursor = lv->n ? xp__below(xp__rand(st), lv->n) : 0;
    if (lv->equal_weights || lv->n == 0)
        return ls;
    bool exact = policy == XP_LB_ROUND_ROBIN;
    ls->heap = xp_malloc(lv->n * sizeof(*ls->heap));
    for (uint32_t i = 0; i < lv->n; i++)
        ls->heap[i] =
            (xp__edf_t){0, exact ? 0 : xp__lr_step(lv->hosts[i]), i, lv->hosts[i]->weight};
    for (uint32_t i = lv->n / 2; i-- > 0;)
        xp__edf_sift_down(lv, exact, ls->heap, i);
    if (exact)
        for (uint64_t k = ls->cursor; k > 0; k--)
            xp__edf_pick(lv, ls, true);
    return ls;
}

static size_t xp__pick_level(const xp_host_set_t *hs, uint64_t r)
{
    if (hs->n_levels == 1)
        return 0;
    uint32_t x = (uint32_t)(r % 100);
    for (size_t l = 0; l < hs->n_levels; l++)
        if (x < hs->levels[l].cum_load)
            return l;
    return 0; /* unreachable: the last cum_load is 100 */
}

/* Whether the hash drives the choice: a hash policy with a hash, on a set
 * built for it (then every level that takes load has its ring/table). */
static bool xp__hashed(const xp_host_set_t *hs, xp_lb_policy_t policy, const uint64_t *hash)
{
    return hash != NULL && (policy == XP_LB_RING_HASH || policy == XP_LB_MAGLEV) &&
           hs->policy == policy;
}

/* First ring entry at or after h, wrapping (binary search). */
static size_t xp__ring_find(const xp__level_t *lv, uint64_t h)
{
    size_t lo = 0, hi = lv->ring_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lv->ring_hash[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == lv->ring_n ? 0 : lo;
}

static inline uint64_t xp__mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static xp_host_t *xp__pick_hashed(const xp__level_t *lv, xp_lb_policy_t policy, uint64_t h,
                                  const xp_host_t *avoid)
{
    if (policy == XP_LB_RING_HASH) {
        size_t i = xp__ring_find(lv, h);
        /* Retry: the next distinct host clockwise, as if avoid were not on
         * the ring. */
        for (size_t step = 0; step < lv->ring_n; step++) {
            xp_host_t *host = lv->hosts[lv->ring_host[i]];
            if (host != avoid)
                return host;
            if (++i == lv->ring_n)
                i = 0;
        }
        return lv->hosts[lv->ring_host[i]];
    }
    xp_host_t *host = lv->hosts[lv->maglev[h % lv->maglev_n]];
    /* Retry: rehash with the attempt number, like Envoy's Maglev. */
    for (uint64_t attempt = 1; host == avoid && attempt <= 8; attempt++)
        host = lv->hosts[lv->maglev[xp__mix64(h + attempt) % lv->maglev_n]];
    return host;
}

static xp_host_t *xp__pick_in_level(const xp_host_set_t *hs, xp_lb_state_t *st,
                                    xp_lb_policy_t policy, size_t li)
{
    const xp__level_t *lv = &hs->levels[li];
    struct xp__lb_level_state *ls;
    switch (policy) {
    case XP_LB_ROUND_ROBIN:
        ls = xp__level_state(hs, st, policy, li);
        if (lv->equal_weights)
            return lv->hosts[ls->cursor++ % lv->n];
        return lv->hosts[xp__edf_pick(lv, ls, true)];
    case XP_LB_LEAST_REQUEST:
        if (lv->equal_weights) {
            /* Envoy's P2C: the least loaded of choice_count random picks. */
            xp_host_t *best = lv->hosts[xp__below(xp__rand(st), lv->n)];
            uint32_t best_n = atomic_load_explicit(&best->active_requests, memory_order_relaxed);
            for (uint32_t c = 1; c < hs->choice_count; c++) {
                xp_host_t *h = lv->hosts[xp__below(xp__rand(st), lv->n)];
                uint32_t a = atomic_load_explicit(&h->active_requests, memory_order_relaxed);
                if (a < best_n) {
                    best = h;
                    best_n = a;
                }
            }
            return best;
        }
        ls = xp__level_state(hs, st, policy, li);
        return lv->hosts[xp__edf_pick(lv, ls, false)];
    case XP_LB_RANDOM:
    case XP_LB_RING_HASH:
    case XP_LB_MAGLEV:
    default:
        /* Envoy's random balancer picks uniformly among available hosts. */
        return lv->hosts[xp__below(xp__rand(st), lv->n)];
    }
}

/* A host of level li other than avoid, at random; NULL if it has none. */
static xp_host_t *xp__other_in_level(const xp__level_t *lv, xp_lb_state_t *st,
                                     const xp_host_t *avoid)
{
    uint32_t others = 0;
    for (uint32_t i = 0; i < lv->n; i++)
        others += lv->hosts[i] != avoid;
    if (others == 0)
        return NULL;
    uint32_t k = xp__below(xp__rand(st), others);
    for (uint32_t i = 0; i < lv->n; i++)
        if (lv->hosts[i] != avoid && k-- == 0)
            return lv->hosts[i];
    return NULL;
}

xp_host_t *xp_lb_choose_excluding(const xp_host_set_t *hs, xp_lb_state_t *st, xp_lb_policy_t policy,
                                  const uint64_t *hash, const xp_host_t *avoid)
{
    if (hs->n_levels == 0)
        return NULL;
    bool hashed = xp__hashed(hs, policy, hash);
    /* Envoy picks the priority from the hash when there is one, so a key
     * sticks to its level. */
    size_t li = xp__pick_level(hs, hashed ? *hash : xp__rand(st));
    const xp__level_t *lv = &hs->levels[li];
    xp_host_t *h;
    if (hashed)
        h = xp__pick_hashed(lv, policy, *hash, avoid);
    else
        h = xp__pick_in_level(hs, st, policy, li);
    if (avoid == NULL || h != avoid)
        return h;

    /* Retry path: one more pick by the policy (advances the schedule, as
     * Envoy's host_selection_retry_max_attempts = 1 does), then any other
     * host of the level, then of any level that takes load. */
    if (!hashed) {
        h = xp__pick_in_level(hs, st, policy, li);
        if (h != avoid)
            return h;
    }
    if ((h = xp__other_in_level(lv, st, avoid)) != NULL)
        return h;
    for (size_t l = 0; l < hs->n_levels; l++)
        if (l != li && hs->levels[l].load > 0 &&
            (h = xp__other_in_level(&hs->levels[l], st, avoid)) != NULL)
            return h;
    return (xp_host_t *)avoid;
}

xp_host_t *xp_lb_choose(const xp_host_set_t *hs, xp_lb_state_t *st, xp_lb_policy_t policy,
                        const uint64_t *hash)
{
    return xp_lb_choose_excluding(hs, st, policy, hash, NULL);
}
