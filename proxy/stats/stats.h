/* The stats store: counters and gauges under Envoy's stat names
 * ("cluster.backend.upstream_cx_total", "listener.0.0.0.0_10000.downstream_cx_active").
 *
 * Creating or looking up a stat takes a mutex (config time, main thread or a
 * new connection's first use of a name); the returned pointer is stable for
 * the life of the store, and updating it is one relaxed atomic add, so the hot
 * path never locks. Stats are never deleted while the process runs (Envoy
 * keeps them too until a cluster's stats scope is dropped); a removed
 * cluster's counters simply stop moving. */
#ifndef XP_STATS_STATS_H
#define XP_STATS_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    XP_STAT_COUNTER,
    XP_STAT_GAUGE,
} xp_stat_kind_t;

typedef struct xp_stat {
    xp_stat_kind_t kind;
    _Atomic int64_t value;
    char name[]; /* full dotted name */
} xp_stat_t;

typedef struct xp_stats xp_stats_t;

/* A new empty store, owned by the caller (xp_stats_free). */
xp_stats_t *xp_stats_new(void);
void xp_stats_free(xp_stats_t *s);

/* The stat with this name, created at 0 on first use. The pointer is owned by
 * the store and valid until xp_stats_free. Asking for an existing name with the
 * other kind returns the existing stat (names are unique). */
xp_stat_t *xp_stats_counter(xp_stats_t *s, const char *name);
xp_stat_t *xp_stats_gauge(xp_stats_t *s, const char *name);
/* printf-style name. */
xp_stat_t *xp_stats_counterf(xp_stats_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
xp_stat_t *xp_stats_gaugef(xp_stats_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* NULL if absent. */
xp_stat_t *xp_stats_find(xp_stats_t *s, const char *name);

static inline void xp_stat_add(xp_stat_t *st, int64_t d)
{
    atomic_fetch_add_explicit(&st->value, d, memory_order_relaxed);
}
static inline void xp_stat_inc(xp_stat_t *st)
{
    xp_stat_add(st, 1);
}
static inline void xp_stat_dec(xp_stat_t *st)
{
    xp_stat_add(st, -1);
}
static inline void xp_stat_set(xp_stat_t *st, int64_t v)
{
    atomic_store_explicit(&st->value, v, memory_order_relaxed);
}
static inline int64_t xp_stat_get(const xp_stat_t *st)
{
    return atomic_load_explicit(&((xp_stat_t *)st)->value, memory_order_relaxed);
}

/* A consistent list of all stats sorted by name; the array is owned by the
 * caller (free()), the stats by the store. */
xp_stat_t **xp_stats_snapshot(xp_stats_t *s, size_t *n);

/* Which stats a rendering shows: keep(name, arg) true; keep NULL: all. */
typedef struct {
    bool (*keep)(const char *name, void *arg);
    void *arg;
} xp_stats_filter_t;

/* Renders the store (the stats f keeps; f may be NULL). Each returns a
 * string owned by the caller.
 *  text:       "name: value\n" sorted by name (Envoy's /stats);
 *  json:       {"stats":[{"name":..,"value":..},...]};
 *  prometheus: Envoy's /stats/prometheus shape: "envoy_" prefix, dots to
 *              underscores, the cluster/listener/HCM name extracted as a tag. */
char *xp_stats_render_text(xp_stats_t *s, const xp_stats_filter_t *f);
char *xp_stats_render_json(xp_stats_t *s, const xp_stats_filter_t *f);
char *xp_stats_render_prometheus(xp_stats_t *s, const xp_stats_filter_t *f);

#endif
