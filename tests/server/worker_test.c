/* Workers: messages run on the worker's own thread in posting order, and a
 * stopped worker's loop closes with no handle left (a leak would fail). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "proxy/server/worker.h"
#include "tests/lib/check.h"

typedef struct {
    pthread_t thread;
    int seen[1000];
    int n;
    int wrong_thread;
    uv_timer_t *timer;
} state_t;

static void record(xp_worker_t *w, void *arg)
{
    state_t *st = w->data;
    if (!pthread_equal(pthread_self(), w->thread))
        st->wrong_thread++;
    st->seen[st->n++] = (int)(intptr_t)arg;
}

static void start_timer(xp_worker_t *w, void *arg)
{
    (void)arg;
    state_t *st = w->data;
    st->timer = malloc(sizeof(*st->timer));
    uv_timer_init(&w->loop, st->timer);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

static void close_timer(xp_worker_t *w, void *arg)
{
    (void)arg;
    state_t *st = w->data;
    uv_close((uv_handle_t *)st->timer, on_timer_closed);
}

int main(void)
{
    enum { N = 3 };
    xp_worker_t w[N];
    state_t st[N];
    memset(st, 0, sizeof(st));
    for (int i = 0; i < N; i++)
        CHECK(xp_worker_start(&w[i], i, &st[i]) == 0);
    for (int k = 0; k < 1000; k++)
        for (int i = 0; i < N; i++)
            xp_worker_post(&w[i], record, (void *)(intptr_t)k);
    for (int i = 0; i < N; i++)
        xp_worker_post(&w[i], start_timer, NULL);
    for (int i = 0; i < N; i++)
        CHECK(xp_worker_stop(&w[i], close_timer, NULL) == 0);
    for (int i = 0; i < N; i++) {
        CHECK(st[i].n == 1000);
        CHECK(st[i].wrong_thread == 0);
        for (int k = 0; k < st[i].n; k++)
            if (st[i].seen[k] != k) {
                CHECK(st[i].seen[k] == k);
                break;
            }
    }

    /* A worker that leaves a handle open is reported by stop. */
    xp_worker_t leaky;
    state_t ls;
    memset(&ls, 0, sizeof(ls));
    CHECK(xp_worker_start(&leaky, 9, &ls) == 0);
    xp_worker_post(&leaky, start_timer, NULL);
    CHECK(xp_worker_stop(&leaky, NULL, NULL) != 0);
    /* close it now so the test itself does not leak */
    uv_close((uv_handle_t *)ls.timer, on_timer_closed);
    uv_run(&leaky.loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&leaky.loop) == 0);

    return check_result("worker_test");
}
