/* Access log files: one writer thread per path, fed through a bounded byte
 * queue.
 *
 * Workers format into a thread-local buffer, then take the file's mutex only
 * to memcpy the line into the pending buffer (or to drop it when the bound is
 * reached). The writer swaps the pending buffer with its own and writes it
 * outside the lock, so workers never wait for the disk; under load lines
 * batch up while the writer is in write(2). Lines are written as soon as the
 * writer is free, which is sooner than Envoy's 1 s file_flush_interval.
 *
 * Lifetime: the registry (g.mu) maps paths to files and counts references
 * and running writers. A file is freed by whichever comes last: the last
 * unref of its logs, or its writer thread exiting. Writer threads are
 * detached so that dropping the last reference never waits for I/O;
 * xp_access_log_shutdown() waits for all of them instead.
 *
 * Lock order: g.mu, then a file's mu. */
#include "proxy/accesslog/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/common/error.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/ref.h"

typedef struct al_file {
    struct al_file *next; /* registry list while in_map (g.mu) */
    char *path;
    int fd;
    /* g.mu */
    uint32_t refs;
    bool in_map;
    bool thread_running;
    /* mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *pend;
    size_t pend_len, pend_cap;
    size_t limit;
    bool stop;
    /* writer thread only */
    char *wbuf;
    size_t wcap;
    bool warned;
} al_file_t;

struct xp_access_log {
    xp_ref_t ref;
    xp_access_log_format_t *fmt;
    al_file_t *file;
    _Atomic uint64_t dropped;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a writer thread exits */
    al_file_t *files;
    size_t live_threads;
    size_t limit;
} g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0};

/* ---- thread-local line buffer -------------------------------------------- */

static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;

static void tl_free(void *p)
{
    xp_strbuf_t *b = p;
    if (b) {
        free(b->p);
        free(b);
    }
}

static void tl_init(void)
{
    if (pthread_key_create(&tl_key, tl_free) != 0)
        abort();
}

static xp_strbuf_t *tl_buf(void)
{
    pthread_once(&tl_once, tl_init);
    xp_strbuf_t *b = pthread_getspecific(tl_key);
    if (!b) {
        b = xp_malloc(sizeof(*b));
        xp_strbuf_init(b);
        pthread_setspecific(tl_key, b);
    }
    b->len = 0;
    return b;
}

/* ---- file and writer thread ---------------------------------------------- */

static void file_free(al_file_t *f)
{
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->pend);
    free(f->wbuf);
    free(f->path);
    free(f);
}

static void write_all(al_file_t *f, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = f->fd, .events = POLLOUT};
            poll(&pfd, 1, 1000);
            continue;
        }
        if (!f->warned) {
            f->warned = true;
            XP_ERROR("access log %s: write failed: %s; dropping output", f->path,
                     w < 0 ? strerror(errno) : "short write");
        }
        return;
    }
}

static void *writer_main(void *arg)
{
    al_file_t *f = arg;
    /* Signals belong to the main thread; a blocked SIGPIPE turns a closed
     * FIFO into EPIPE here. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (f->pend_len == 0 && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->pend_len == 0)
            break; /* stopped and drained */
        char *p = f->pend;
        size_t n = f->pend_len, cap = f->pend_cap;
        f->pend = f->wbuf;
        f->pend_cap = f->wcap;
        f->pend_len = 0;
        f->wbuf = p;
        f->wcap = cap;
        pthread_mutex_unlock(&f->mu);

        write_all(f, f->wbuf, n);
        if (f->wcap > (1u << 20)) { /* give a burst's memory back */
            free(f->wbuf);
            f->wbuf = NULL;
            f->wcap = 0;
        }
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    close(f->fd);
    f->fd = -1;

    pthread_mutex_lock(&g.mu);
    f->thread_running = false;
    g.live_threads--;
    bool free_now = f->refs == 0;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    if (free_now)
        file_free(f);
    return NULL;
}

static int open_fd(const char *path)
{
    if (strcmp(path, "/dev/stdout") == 0)
        return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (strcmp(path, "/dev/stderr") == 0)
        return fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    /* O_NONBLOCK so that a FIFO without a reader fails (ENXIO) instead of
     * hanging the caller; the writer thread then uses blocking writes. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

/* Called with g.mu held. Returns the file with one more reference, or NULL
 * with errno set. */
static al_file_t *file_get(const char *path)
{
    for (al_file_t *f = g.files; f; f = f->next) {
        if (strcmp(f->path, path) == 0) {
            f->refs++;
            return f;
        }
    }
    int fd = open_fd(path);
    if (fd < 0)
        return NULL;
    al_file_t *f = xp_calloc(1, sizeof(*f));
    f->path = xp_strdup(path);
    f->fd = fd;
    f->refs = 1;
    f->limit = g.limit ? g.limit : XP_ACCESS_LOG_DEFAULT_QUEUE_LIMIT;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    int rc = pthread_create(&th, &attr, writer_main, f);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        close(fd);
        file_free(f);
        errno = rc;
        return NULL;
    }
    f->thread_running = true;
    g.live_threads++;
    f->in_map = true;
    f->next = g.files;
    g.files = f;
    return f;
}

/* Called with g.mu held. */
static void file_unmap(al_file_t *f)
{
    if (!f->in_map)
        return;
    for (al_file_t **pp = &g.files; *pp; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    f->in_map = false;
    f->next = NULL;
}

/* Called with g.mu held. */
static void file_stop(al_file_t *f)
{
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void file_unref(al_file_t *f)
{
    bool free_now = false;
    pthread_mutex_lock(&g.mu);
    if (--f->refs == 0) {
        file_unmap(f);
        file_stop(f);
        free_now = !f->thread_running;
    }
    pthread_mutex_unlock(&g.mu);
    if (free_now)
        file_free(f);
}

/* ---- public API ---------------------------------------------------------- */

xp_access_log_t *xp_access_log_open(const xp_access_log_cfg_t *cfg, xp_diag_t *diag,
                                    const char *path_for_errors)
{
    char err[512];
    const char *where = path_for_errors ? path_for_errors : "";
    if (!cfg->path || !*cfg->path) {
        xp_diag_error(diag, where, "access log path is empty");
        return NULL;
    }
    xp_access_log_format_t *fmt;
    if (xp_access_log_format_compile_cfg(cfg, &fmt, err, sizeof(err)) != 0) {
        xp_diag_error(diag, where, "access log %s: %s", cfg->path, err);
        return NULL;
    }
    pthread_mutex_lock(&g.mu);
    al_file_t *f = file_get(cfg->path);
    int e = errno;
    pthread_mutex_unlock(&g.mu);
    if (!f) {
        xp_diag_error(diag, where, "cannot open access log %s: %s", cfg->path, strerror(e));
        xp_access_log_format_free(fmt);
        return NULL;
    }
    xp_access_log_t *l = xp_calloc(1, sizeof(*l));
    xp_ref_init(&l->ref);
    l->fmt = fmt;
    l->file = f;
    atomic_init(&l->dropped, 0);
    return l;
}

xp_access_log_t *xp_access_log_ref(xp_access_log_t *l)
{
    xp_ref_inc(&l->ref);
    return l;
}

void xp_access_log_unref(xp_access_log_t *l)
{
    if (!l || !xp_ref_dec(&l->ref))
        return;
    file_unref(l->file);
    xp_access_log_format_free(l->fmt);
    free(l);
}

void xp_access_log_write(xp_access_log_t *l, const xp_access_log_record_t *r)
{
    xp_strbuf_t *b = tl_buf();
    size_t n = xp_access_log_format(l->fmt, r, b);
    al_file_t *f = l->file;
    bool dropped = true;

    pthread_mutex_lock(&f->mu);
    if (!f->stop && f->pend_len + n <= f->limit) {
        if (f->pend_len + n > f->pend_cap) {
            size_t cap = f->pend_cap ? f->pend_cap : 64 * 1024;
            while (cap < f->pend_len + n)
                cap *= 2;
            if (cap > f->limit)
                cap = f->limit;
            char *p = realloc(f->pend, cap);
            if (p) {
                f->pend = p;
                f->pend_cap = cap;
            }
        }
        if (f->pend_len + n <= f->pend_cap) {
            /* The writer waits only when the queue is empty: wake it on the
             * empty -> non-empty transition. */
            if (f->pend_len == 0)
                pthread_cond_signal(&f->cv);
            memcpy(f->pend + f->pend_len, b->p, n);
            f->pend_len += n;
            dropped = false;
        }
    }
    pthread_mutex_unlock(&f->mu);

    if (dropped)
        atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
    if (b->cap > 64 * 1024) { /* one huge line does not pin memory */
        free(b->p);
        xp_strbuf_init(b);
    }
}

uint64_t xp_access_log_dropped(const xp_access_log_t *l)
{
    return atomic_load_explicit(&((xp_access_log_t *)l)->dropped, memory_order_relaxed);
}

void xp_access_log_set_queue_limit(size_t bytes)
{
    pthread_mutex_lock(&g.mu);
    g.limit = bytes;
    pthread_mutex_unlock(&g.mu);
}

size_t xp_access_log_open_files(void)
{
    size_t n = 0;
    pthread_mutex_lock(&g.mu);
    for (al_file_t *f = g.files; f; f = f->next)
        n++;
    pthread_mutex_unlock(&g.mu);
    return n;
}

void xp_access_log_shutdown(void)
{
    pthread_mutex_lock(&g.mu);
    while (g.files) {
        al_file_t *f = g.files;
        file_unmap(f);
        file_stop(f);
    }
    while (g.live_threads)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);

    /* The calling (main) thread's line buffer. */
    pthread_once(&tl_once, tl_init);
    tl_free(pthread_getspecific(tl_key));
    pthread_setspecific(tl_key, NULL);
}
