/* Worker threads: each owns one libuv loop and everything created on it
 * (connections, listener handles, pools). Other threads talk to a worker only
 * by posting a message, which runs on the worker's loop; nothing else of a
 * worker is touched from outside. */
#ifndef XP_SERVER_WORKER_H
#define XP_SERVER_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

typedef struct xp_worker xp_worker_t;
typedef void (*xp_worker_fn)(xp_worker_t *w, void *arg);

typedef struct xp__worker_msg {
    struct xp__worker_msg *next;
    xp_worker_fn fn;
    void *arg;
} xp__worker_msg_t;

struct xp_worker {
    int index;
    uv_loop_t loop;
    uv_async_t wakeup;
    pthread_t thread;
    pthread_mutex_t lock;
    xp__worker_msg_t *head, *tail; /* FIFO, guarded by lock */
    bool stopping;
    void *data; /* the owner's per-worker state */
    /* Runs on the worker thread after its loop has ended (thread-local
     * cleanup); may be NULL. */
    void (*on_exit)(xp_worker_t *w);
};

/* Starts the thread; `data` is stored in w->data before the loop runs.
 * Returns 0 or a negative libuv error. */
int xp_worker_start(xp_worker_t *w, int index, void *data);
/* Runs fn(w, arg) on the worker's loop, in posting order. Thread-safe. */
void xp_worker_post(xp_worker_t *w, xp_worker_fn fn, void *arg);
/* Asks the worker to finish: `on_stop` runs on its loop (it must close every
 * handle it owns), then the loop runs until no handle is left and the thread
 * exits. Blocks until the thread is joined. Returns the uv_loop_close()
 * result, so a leaked handle is visible to the caller. */
int xp_worker_stop(xp_worker_t *w, xp_worker_fn on_stop, void *arg);

#endif
