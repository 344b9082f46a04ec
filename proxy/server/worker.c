#include "proxy/server/worker.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include <stdlib.h>

static void xp__worker_drain(uv_async_t *a)
{
    xp_worker_t *w = XP_CONTAINER_OF(a, xp_worker_t, wakeup);
    pthread_mutex_lock(&w->lock);
    xp__worker_msg_t *m = w->head;
    w->head = w->tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (m) {
        xp__worker_msg_t *next = m->next;
        m->fn(w, m->arg);
        free(m);
        m = next;
    }
}

static void *xp__worker_main(void *arg)
{
    xp_worker_t *w = arg;
    XP_DEBUG("worker %d started", w->index);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (w->on_exit)
        w->on_exit(w);
    XP_DEBUG("worker %d stopped", w->index);
    return NULL;
}

int xp_worker_start(xp_worker_t *w, int index, void *data)
{
    w->index = index;
    w->data = data;
    w->on_exit = NULL;
    w->head = w->tail = NULL;
    w->stopping = false;
    int rc = uv_loop_init(&w->loop);
    if (rc)
        return rc;
    rc = uv_async_init(&w->loop, &w->wakeup, xp__worker_drain);
    if (rc)
        return rc;
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, xp__worker_main, w) != 0)
        return UV_EAGAIN;
    return 0;
}

void xp_worker_post(xp_worker_t *w, xp_worker_fn fn, void *arg)
{
    xp__worker_msg_t *m = xp_malloc(sizeof(*m));
    m->next = NULL;
    m->fn = fn;
    m->arg = arg;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = m;
    else
        w->head = m;
    w->tail = m;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->wakeup);
}

typedef struct {
    xp_worker_fn on_stop;
    void *arg;
} xp__stop_t;

static void xp__worker_do_stop(xp_worker_t *w, void *arg)
{
    xp__stop_t *s = arg;
    w->stopping = true;
    if (s->on_stop)
        s->on_stop(w, s->arg);
    uv_close((uv_handle_t *)&w->wakeup, NULL);
}

int xp_worker_stop(xp_worker_t *w, xp_worker_fn on_stop, void *arg)
{
    xp__stop_t s = {on_stop, arg};
    xp_worker_post(w, xp__worker_do_stop, &s);
    pthread_join(w->thread, NULL);
    /* Messages posted after the stop message never run; free them. */
    xp__worker_msg_t *m = w->head;
    while (m) {
        xp__worker_msg_t *next = m->next;
        free(m);
        m = next;
    }
    w->head = w->tail = NULL;
    pthread_mutex_destroy(&w->lock);
    int rc = uv_loop_close(&w->loop);
    if (rc)
        XP_ERROR("worker %d: loop still has open handles at exit (%s)", w->index, uv_strerror(rc));
    return rc;
}
