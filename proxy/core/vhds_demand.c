#include "proxy/core/vhds_demand.h"
#include "proxy/common/mem.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct xp__demand {
    struct xp__demand *next;
    char *key;
} xp__demand_t;

/* Guarded by xp__lock; the handle and handler belong to the main thread
 * but are published under the lock so posters see a consistent pair. */
static pthread_mutex_t xp__lock = PTHREAD_MUTEX_INITIALIZER;
static uv_async_t *xp__async;
static xp_vhds_demand_fn xp__fn;
static void *xp__ctx;
static xp__demand_t *xp__head, **xp__tail = &xp__head;

static xp__demand_t *xp__take_all(void)
{
    pthread_mutex_lock(&xp__lock);
    xp__demand_t *l = xp__head;
    xp__head = NULL;
    xp__tail = &xp__head;
    pthread_mutex_unlock(&xp__lock);
    return l;
}

static void xp__on_async(uv_async_t *a)
{
    (void)a;
    xp__demand_t *l = xp__take_all();
    while (l) {
        xp__demand_t *n = l->next;
        if (xp__fn) /* main thread: only stop() clears it, on this thread */
            xp__fn(xp__ctx, l->key);
        free(l->key);
        free(l);
        l = n;
    }
}

int xp_vhds_demand_start(uv_loop_t *main_loop, xp_vhds_demand_fn fn, void *ctx)
{
    uv_async_t *a = xp_calloc(1, sizeof(*a));
    int rc = uv_async_init(main_loop, a, xp__on_async);
    if (rc) {
        free(a);
        return rc;
    }
    pthread_mutex_lock(&xp__lock);
    xp__async = a;
    xp__fn = fn;
    xp__ctx = ctx;
    pthread_mutex_unlock(&xp__lock);
    return 0;
}

static void xp__closed(uv_handle_t *h)
{
    free(h);
}

void xp_vhds_demand_stop(void)
{
    pthread_mutex_lock(&xp__lock);
    uv_async_t *a = xp__async;
    xp__async = NULL;
    xp__fn = NULL;
    xp__ctx = NULL;
    pthread_mutex_unlock(&xp__lock);
    xp__demand_t *l = xp__take_all();
    while (l) {
        xp__demand_t *n = l->next;
        free(l->key);
        free(l);
        l = n;
    }
    if (a)
        uv_close((uv_handle_t *)a, xp__closed);
}

bool xp_vhds_demand_post(const char *key)
{
    xp__demand_t *d = xp_calloc(1, sizeof(*d));
    d->key = xp_strdup(key);
    pthread_mutex_lock(&xp__lock);
    if (xp__async == NULL) {
        pthread_mutex_unlock(&xp__lock);
        free(d->key);
        free(d);
        return false;
    }
    *xp__tail = d;
    xp__tail = &d->next;
    uv_async_send(xp__async);
    pthread_mutex_unlock(&xp__lock);
    return true;
}
