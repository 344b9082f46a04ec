#include "proxy/stats/stats.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open-addressing hash table of stat pointers; grows at 50 % load. */
struct xp_stats {
    pthread_mutex_t lock;
    xp_stat_t **slots;
    size_t cap, n;
};

static uint64_t xp__hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h;
}

xp_stats_t *xp_stats_new(void)
{
    xp_stats_t *s = xp_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->cap = 256;
    s->slots = xp_calloc(s->cap, sizeof(*s->slots));
    return s;
}

void xp_stats_free(xp_stats_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static xp_stat_t **xp__slot(xp_stat_t **slots, size_t cap, const char *name)
{
    size_t i = (size_t)xp__hash(name) & (cap - 1);
    while (slots[i] != NULL && strcmp(slots[i]->name, name) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void xp__grow(xp_stats_t *s)
{
    size_t ncap = s->cap * 2;
    xp_stat_t **n = xp_calloc(ncap, sizeof(*n));
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            *xp__slot(n, ncap, s->slots[i]->name) = s->slots[i];
    free(s->slots);
    s->slots = n;
    s->cap = ncap;
}

static xp_stat_t *xp__get(xp_stats_t *s, const char *name, xp_stat_kind_t kind, bool create)
{
    pthread_mutex_lock(&s->lock);
    xp_stat_t **slot = xp__slot(s->slots, s->cap, name);
    xp_stat_t *st = *slot;
    if (st == NULL && create) {
        size_t len = strlen(name);
        st = xp_calloc(1, sizeof(*st) + len + 1);
        st->kind = kind;
        memcpy(st->name, name, len + 1);
        *slot = st;
        if (++s->n * 2 > s->cap)
            xp__grow(s);
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

xp_stat_t *xp_stats_counter(xp_stats_t *s, const char *name)
{
    return xp__get(s, name, XP_STAT_COUNTER, true);
}

xp_stat_t *xp_stats_gauge(xp_stats_t *s, const char *name)
{
    return xp__get(s, name, XP_STAT_GAUGE, true);
}

xp_stat_t *xp_stats_find(xp_stats_t *s, const char *name)
{
    return xp__get(s, name, XP_STAT_COUNTER, false);
}

static xp_stat_t *xp__getv(xp_stats_t *s, xp_stat_kind_t kind, const char *fmt, va_list ap)
{
    char name[512];
    vsnprintf(name, sizeof(name), fmt, ap);
    return xp__get(s, name, kind, true);
}

xp_stat_t *xp_stats_counterf(xp_stats_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp_stat_t *st = xp__getv(s, XP_STAT_COUNTER, fmt, ap);
    va_end(ap);
    return st;
}

xp_stat_t *xp_stats_gaugef(xp_stats_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xp_stat_t *st = xp__getv(s, XP_STAT_GAUGE, fmt, ap);
    va_end(ap);
    return st;
}

static int xp__by_name(const void *a, const void *b)
{
    return strcmp((*(xp_stat_t *const *)a)->name, (*(xp_stat_t *const *)b)->name);
}

xp_stat_t **xp_stats_snapshot(xp_stats_t *s, size_t *n)
{
    pthread_mutex_lock(&s->lock);
    xp_stat_t **v = xp_malloc((s->n + 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            v[k++] = s->slots[i];
    pthread_mutex_unlock(&s->lock);
    qsort(v, k, sizeof(*v), xp__by_name);
    *n = k;
    return v;
}

static bool xp__kept(const xp_stats_filter_t *f, const char *name)
{
    return f == NULL || f->keep == NULL || f->keep(name, f->arg);
}

char *xp_stats_render_text(xp_stats_t *s, const xp_stats_filter_t *f)
{
    size_t n;
    xp_stat_t **v = xp_stats_snapshot(s, &n);
    xp_strbuf_t o;
    xp_strbuf_init(&o);
    for (size_t i = 0; i < n; i++)
        if (xp__kept(f, v[i]->name))
            xp_strbuf_printf(&o, "%s: %lld\n", v[i]->name, (long long)xp_stat_get(v[i]));
    free(v);
    return xp_strbuf_take(&o);
}

char *xp_stats_render_json(xp_stats_t *s, const xp_stats_filter_t *f)
{
    size_t n;
    xp_stat_t **v = xp_stats_snapshot(s, &n);
    xp_strbuf_t o;
    xp_strbuf_init(&o);
    xp_strbuf_printf(&o, "{\"stats\":[");
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!xp__kept(f, v[i]->name))
            continue;
        /* Stat names are built from config names, which may hold any byte:
         * escape what JSON requires. */
        xp_strbuf_printf(&o, "%s{\"name\":\"", first ? "" : ",");
        xp_strbuf_json_escape(&o, v[i]->name);
        xp_strbuf_printf(&o, "\",\"value\":%lld}", (long long)xp_stat_get(v[i]));
        first = false;
    }
    xp_strbuf_printf(&o, "]}\n");
    free(v);
    return xp_strbuf_take(&o);
}

/* Envoy extracts the object name out of well-known stat prefixes into a
 * Prometheus label: cluster.<name>.x -> envoy_cluster_x{envoy_cluster_name="<name>"}.
 * Names may contain dots, so the split uses the known suffix set: the name is
 * everything between the prefix and the last component(s) that form the stat.
 * We take the name as the second dotted component for listener/http/cluster
 * prefixes, which is exact for names without dots (the common case) and stays
 * unambiguous otherwise because the full remainder is kept in the metric. */
typedef struct {
    const char *prefix;
    const char *label;
} xp__tag_rule_t;

static const xp__tag_rule_t xp__tag_rules[] = {
    {"cluster.", "envoy_cluster_name"},
    {"listener.", "envoy_listener_address"},
    {"http.", "envoy_http_conn_manager_prefix"},
    {"tcp.", "envoy_tcp_prefix"},
};

static void xp__prom_name(xp_strbuf_t *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        xp_strbuf_printf(o, "%c", ok ? c : '_');
    }
}

typedef struct {
    char *metric;
    char *labels;
    const xp_stat_t *st;
} xp__prom_row_t;

/* Rows of one metric must be adjacent (one TYPE line each). */
static int xp__row_cmp(const void *a, const void *b)
{
    const xp__prom_row_t *x = a, *y = b;
    int c = strcmp(x->metric, y->metric);
    return c ? c : strcmp(x->labels, y->labels);
}

char *xp_stats_render_prometheus(xp_stats_t *s, const xp_stats_filter_t *f)
{
    size_t n, k = 0;
    xp_stat_t **v = xp_stats_snapshot(s, &n);
    for (size_t i = 0; i < n; i++)
        if (xp__kept(f, v[i]->name))
            v[k++] = v[i];
    n = k;
    xp_strbuf_t o;
    xp_strbuf_init(&o);
    /* Sorting by the raw name does not group tagged metrics, so collect
     * (metric, labels, value) rows first, then sort by metric. */
    xp__prom_row_t *rows = xp_calloc(n + 1, sizeof(*rows));
    for (size_t i = 0; i < n; i++) {
        const char *name = v[i]->name;
        xp_strbuf_t m, l;
        xp_strbuf_init(&m);
        xp_strbuf_init(&l);
        xp_strbuf_printf(&m, "envoy_");
        const char *rest = name;
        for (size_t r = 0; r < XP_ARRAY_SIZE(xp__tag_rules); r++) {
            size_t pl = strlen(xp__tag_rules[r].prefix);
            if (strncmp(name, xp__tag_rules[r].prefix, pl) != 0)
                continue;
            const char *tag = name + pl;
            const char *dot = strrchr(tag, '.');
            if (dot == NULL || dot == tag)
                break;
            /* The tag is the component right after the prefix. */
            const char *end = strchr(tag, '.');
            xp__prom_name(&m, xp__tag_rules[r].prefix, pl);
            xp_strbuf_printf(&l, "%s=\"%.*s\"", xp__tag_rules[r].label, (int)(end - tag), tag);
            rest = end + 1;
            break;
        }
        xp__prom_name(&m, rest, strlen(rest));
        rows[i].metric = xp_strbuf_take(&m);
        rows[i].labels = xp_strbuf_take(&l);
        rows[i].st = v[i];
    }
    qsort(rows, n, sizeof(*rows), xp__row_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(rows[i - 1].metric, rows[i].metric) != 0)
            xp_strbuf_printf(&o, "# TYPE %s %s\n", rows[i].metric,
                             rows[i].st->kind == XP_STAT_COUNTER ? "counter" : "gauge");
        if (rows[i].labels[0])
            xp_strbuf_printf(&o, "%s{%s} %lld\n", rows[i].metric, rows[i].labels,
                             (long long)xp_stat_get(rows[i].st));
        else
            xp_strbuf_printf(&o, "%s{} %lld\n", rows[i].metric, (long long)xp_stat_get(rows[i].st));
    }
    for (size_t i = 0; i < n; i++) {
        free(rows[i].metric);
        free(rows[i].labels);
    }
    free(rows);
    free(v);
    return xp_strbuf_take(&o);
}
