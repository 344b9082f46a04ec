/* The type registry (full name -> descriptor) and the table of fields
 * upstream Envoy has but xproxy does not model. */
#include "xds/codec/codec_internal.h"

#include "proxy/common/mem.h"
#include "wkt_registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Open addressing over full names; rebuilt on every registration (a handful
 * at startup), read under a read lock. */
static struct {
    pthread_rwlock_t lock;
    const ProtobufCMessageDescriptor **slots;
    size_t cap, count;
    const ProtobufCMessageDescriptor *const **lists;
    size_t nlists;
    const xp_unmodeled_field_t **utabs;
    size_t *utab_n;
    size_t nutabs;
} xp__reg = {.lock = PTHREAD_RWLOCK_INITIALIZER};

static pthread_once_t xp__reg_once = PTHREAD_ONCE_INIT;

static uint64_t xp__hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Caller holds the write lock. */
static void xp__reg_insert(const ProtobufCMessageDescriptor *d)
{
    size_t len = strlen(d->name);
    size_t i = xp__hash(d->name, len) & (xp__reg.cap - 1);
    while (xp__reg.slots[i]) {
        if (strcmp(xp__reg.slots[i]->name, d->name) == 0)
            return;
        i = (i + 1) & (xp__reg.cap - 1);
    }
    xp__reg.slots[i] = d;
    xp__reg.count++;
}

static void xp__reg_add_locked(const ProtobufCMessageDescriptor *const *list)
{
    for (size_t i = 0; i < xp__reg.nlists; i++)
        if (xp__reg.lists[i] == list)
            return;
    xp__reg.lists = xp_realloc(xp__reg.lists, (xp__reg.nlists + 1) * sizeof(*xp__reg.lists));
    xp__reg.lists[xp__reg.nlists++] = list;
    size_t total = 0;
    for (size_t l = 0; l < xp__reg.nlists; l++)
        for (const ProtobufCMessageDescriptor *const *p = xp__reg.lists[l]; *p; p++)
            total++;
    size_t cap = 64;
    while (cap < total * 2)
        cap *= 2;
    free(xp__reg.slots);
    xp__reg.slots = xp_calloc(cap, sizeof(*xp__reg.slots));
    xp__reg.cap = cap;
    xp__reg.count = 0;
    for (size_t l = 0; l < xp__reg.nlists; l++)
        for (const ProtobufCMessageDescriptor *const *p = xp__reg.lists[l]; *p; p++)
            xp__reg_insert(*p);
}

static void xp__reg_init(void)
{
    pthread_rwlock_wrlock(&xp__reg.lock);
    xp__reg_add_locked(xp_proto_registry_wkt);
    pthread_rwlock_unlock(&xp__reg.lock);
}

void xp_codec_register(const ProtobufCMessageDescriptor *const *list)
{
    pthread_once(&xp__reg_once, xp__reg_init);
    pthread_rwlock_wrlock(&xp__reg.lock);
    xp__reg_add_locked(list);
    pthread_rwlock_unlock(&xp__reg.lock);
}

const ProtobufCMessageDescriptor *xp_codec_find_type(const char *url)
{
    if (url == NULL)
        return NULL;
    pthread_once(&xp__reg_once, xp__reg_init);
    const char *slash = strrchr(url, '/');
    const char *name = slash ? slash + 1 : url;
    size_t len = strlen(name);
    const ProtobufCMessageDescriptor *found = NULL;
    pthread_rwlock_rdlock(&xp__reg.lock);
    if (len > 0) {
        size_t i = xp__hash(name, len) & (xp__reg.cap - 1);
        while (xp__reg.slots[i]) {
            if (strcmp(xp__reg.slots[i]->name, name) == 0) {
                found = xp__reg.slots[i];
                break;
            }
            i = (i + 1) & (xp__reg.cap - 1);
        }
    }
    pthread_rwlock_unlock(&xp__reg.lock);
    return found;
}

/* Fields of upstream Envoy's API that proto/ does not model.  harmless =
 * true: only names, metadata or statistics; the field is reported as a
 * warning and ignored.  harmless = false: it changes behaviour, so a config
 * using it is rejected naming the field.  Field numbers are upstream's
 * (envoy/api v3).  Extend freely; keep it sorted by message. */
static const xp_unmodeled_field_t xp__unmodeled_builtin[] = {
    {"envoy.config.bootstrap.v3.Bootstrap", "stats_flush_interval", 7, true},
    {"envoy.config.bootstrap.v3.Bootstrap", "stats_config", 13, true},
    {"envoy.config.bootstrap.v3.Bootstrap", "layered_runtime", 17, true},
    {"envoy.config.bootstrap.v3.Bootstrap", "tracing", 9, false},
    {"envoy.config.bootstrap.v3.Bootstrap", "overload_manager", 15, false},
    {"envoy.config.cluster.v3.Cluster", "health_checks", 8, false},
    {"envoy.config.cluster.v3.Cluster", "circuit_breakers", 10, false},
    {"envoy.config.cluster.v3.Cluster", "outlier_detection", 19, false},
    {"envoy.config.cluster.v3.Cluster", "metadata", 25, true},
    {"envoy.config.cluster.v3.Cluster", "alt_stat_name", 28, true},
    {"envoy.config.endpoint.v3.LbEndpoint", "metadata", 3, true},
    {"envoy.config.listener.v3.Listener", "metadata", 6, true},
    {"envoy.config.listener.v3.Listener", "stat_prefix", 28, true},
    {"envoy.config.listener.v3.FilterChain", "metadata", 5, true},
    {"envoy.config.listener.v3.FilterChain", "name", 7, true},
    {"envoy.config.route.v3.Route", "metadata", 4, true},
    {"envoy.config.route.v3.Route", "decorator", 5, true},
    {"envoy.config.route.v3.VirtualHost", "virtual_clusters", 5, true},
};

void xp_codec_register_unmodeled(const xp_unmodeled_field_t *entries, size_t n)
{
    pthread_rwlock_wrlock(&xp__reg.lock);
    xp__reg.utabs = xp_realloc(xp__reg.utabs, (xp__reg.nutabs + 1) * sizeof(*xp__reg.utabs));
    xp__reg.utab_n = xp_realloc(xp__reg.utab_n, (xp__reg.nutabs + 1) * sizeof(*xp__reg.utab_n));
    xp__reg.utabs[xp__reg.nutabs] = entries;
    xp__reg.utab_n[xp__reg.nutabs] = n;
    xp__reg.nutabs++;
    pthread_rwlock_unlock(&xp__reg.lock);
}

static const xp_unmodeled_field_t *xp__unmodeled_scan(const xp_unmodeled_field_t *tab, size_t n,
                                                      const char *message, const char *field,
                                                      uint32_t number)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].message, message) != 0)
            continue;
        if (field ? strcmp(tab[i].field, field) == 0 : tab[i].number == number)
            return &tab[i];
    }
    return NULL;
}

const xp_unmodeled_field_t *xp_codec_find_unmodeled(const char *message, const char *field_name,
                                                    uint32_t number)
{
    char snake[256];
    if (field_name) {
        xp__snake_name(field_name, snake, sizeof(snake));
        field_name = snake;
    }
    const xp_unmodeled_field_t *e = NULL;
    pthread_rwlock_rdlock(&xp__reg.lock);
    for (size_t t = xp__reg.nutabs; t-- > 0 && !e;)
        e = xp__unmodeled_scan(xp__reg.utabs[t], xp__reg.utab_n[t], message, field_name, number);
    pthread_rwlock_unlock(&xp__reg.lock);
    if (!e)
        e = xp__unmodeled_scan(xp__unmodeled_builtin, XP_ARRAY_SIZE(xp__unmodeled_builtin), message,
                               field_name, number);
    return e;
}
