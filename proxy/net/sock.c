#include "proxy/net/sock.h"
#include "proxy/common/mem.h"
#include "proxy/net/uring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Writes waiting for the kernel: up to 16 buffers, each holding a
 * reference to its chunk (NULL for static bytes and for chunked framing,
 * which lives in hdrs). Gathered as the socket's batch, then handed to libuv
 * as the write request for whatever the kernel did not take at once. */
struct xp_sock_batch {
    uv_write_t req;
    size_t len; /* bytes not yet written */
    unsigned n;
    uv_buf_t bufs[16];
    xp_chunk_t *chunks[16];
    char hdrs[16][20];
    unsigned inl_len;
    char inl[512]; /* small bytes copied while batching (xp__put) */
};

#define XP__BATCH_MAX 16

/* The socket calls without glibc's cancellation bookkeeping. recv, send
 * and sendmsg are cancellation points, so in a process with threads glibc
 * brackets each system call with two atomic updates of the thread's cancel
 * state: about 120 instructions a call, 13% of xproxy's user-space
 * instructions per WebSocket echo. xproxy never cancels a thread. Under
 * AddressSanitizer the libc calls stay: its interceptors check the buffers
 * they read and fill. */
#if defined(__SANITIZE_ADDRESS__)
#define xp__sys_recv(fd, b, n)        recv(fd, b, n, 0)
#define xp__sys_send(fd, b, n, flags) send(fd, b, n, flags)
#define xp__sys_sendmsg(fd, m, flags) sendmsg(fd, m, flags)
#else
static inline ssize_t xp__sys_recv(int fd, void *b, size_t n)
{
    return syscall(SYS_recvfrom, fd, b, n, 0, NULL, NULL);
}

static inline ssize_t xp__sys_send(int fd, const void *b, size_t n, int flags)
{
    return syscall(SYS_sendto, fd, b, n, flags, NULL, 0);
}

static inline ssize_t xp__sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
    return syscall(SYS_sendmsg, fd, m, flags);
}
#endif

/* 0 when the kernel may take bytes for s now; else why not: UV_EAGAIN
 * while libuv still queues bytes or connects (the order holds), UV_EBADF
 * once the socket is gone or closing. */
static int xp__unsendable(const xp_sock_t *s)
{
    if (s->tcp.write_queue_size != 0 || s->tcp.connect_req != NULL)
        return UV_EAGAIN;
    if (s->tcp.io_watcher.fd < 0 || uv_is_closing((const uv_handle_t *)&s->tcp))
        return UV_EBADF;
    return 0;
}

/* A failed send's errno as xp__try_send returns it: UV_EAGAIN when the
 * kernel had no room (the rest then queues with libuv). */
static int xp__send_err(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == EINTR ? UV_EAGAIN : -e;
}

/* uv_try_write with send/sendmsg for write/writev: the socket calls skip
 * the file layer's checks, about 75 ns a call here (a loopback write-read
 * loop: 3.96 against 4.13 us per pair). EAGAIN when libuv still queues
 * bytes, so the order holds. uv_buf_t is laid out as struct iovec. */
static int xp__try_send(xp_sock_t *s, const uv_buf_t *v, unsigned n)
{
    int no = xp__unsendable(s);
    if (no)
        return no;
    int fd = s->tcp.io_watcher.fd; /* as uv_fileno, without its call */
    ssize_t r;
    do {
        if (n == 1) {
            r = xp__sys_send(fd, v->base, v->len, MSG_NOSIGNAL);
        } else {
            struct msghdr m = {.msg_iov = (struct iovec *)v, .msg_iovlen = n};
            r = xp__sys_sendmsg(fd, &m, MSG_NOSIGNAL);
        }
    } while (r < 0 && errno == EINTR);
    return r >= 0 ? (int)r : xp__send_err(errno);
}

static void xp__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    xp_chunk_t *c = xp_chunk_new(XP_CHUNK_SIZE);
    *buf = uv_buf_init(c->data, c->size);
}

/* A read's outcome, to the owner: n bytes at the start of c, or the end
 * (UV_EOF) or an error (another negative libuv code), after which reading
 * has stopped. Both read paths below end here. */
static void xp__deliver(xp_sock_t *s, xp_chunk_t *c, ssize_t n)
{
    if (n > 0) {
        s->ops->on_data(s, c, c->data, (size_t)n);
        return;
    }
    xp_sock_read_stop(s);
    if (n == UV_EOF)
        s->ops->on_eof(s);
    else
        s->ops->on_error(s, (int)n);
}

/* libuv's read callback: n 0 is "nothing to read after all". */
static void xp__read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    xp_chunk_t *c = buf->base ? XP_CONTAINER_OF(buf->base, xp_chunk_t, data) : NULL;
    if (n != 0)
        xp__deliver((xp_sock_t *)st, c, n);
    if (c)
        xp_chunk_unref(c);
}

/* Reads with recv instead of libuv's read(2): like send for writes, the
 * socket call skips the file layer, about 2% of the proxy's CPU per
 * request and per WebSocket message here (docs/bench_history.md). libuv
 * offers no choice of call, so each socket's readiness callback (the
 * uv__io_t that uv/unix.h lays out inside uv_tcp_t) is wrapped: readable
 * events are served here, everything else (connecting, queued writes, and
 * errors or hang-ups without data) goes on to libuv's own callback, whose
 * read path (xp__alloc, xp__read) stays registered and handles those. */
static _Atomic(uv__io_cb) xp__libuv_io; /* the same for every socket */

/* One readable event, as libuv's read loop does it: up to 32 reads while
 * they fill the chunk, stopping when the owner stops reading or closes. */
static void xp__recv(xp_sock_t *s, int fd)
{
    for (int i = 0; i < 32 && s->reading; i++) {
        xp_chunk_t *c = xp_chunk_new(XP_CHUNK_SIZE);
        size_t cap = c->size;
        ssize_t n;
        do {
            n = xp__sys_recv(fd, c->data, cap);
        } while (n < 0 && errno == EINTR);
        int err = n < 0 ? errno : 0;
        if (err != EAGAIN && err != EWOULDBLOCK)
            xp__deliver(s, c, n > 0 ? n : n == 0 ? UV_EOF : -err);
        xp_chunk_unref(c);
        if (n <= 0 || (size_t)n < cap)
            return;
    }
}

static void xp__io(uv_loop_t *loop, uv__io_t *w, unsigned int events)
{
    xp_sock_t *s = XP_CONTAINER_OF(w, xp_sock_t, tcp.io_watcher);
    if ((events & POLLIN) && s->reading && s->tcp.connect_req == NULL) {
        xp__recv(s, w->fd);
        if (w->fd < 0 || uv_is_closing((uv_handle_t *)&s->tcp))
            return;
        events &= ~(unsigned int)POLLIN;
        if (events == 0)
            return;
    }
    atomic_load_explicit(&xp__libuv_io, memory_order_relaxed)(loop, w, events);
}

void xp_sock_init(xp_sock_t *s, uv_loop_t *loop, const xp_sock_ops_t *ops, void *owner)
{
    memset(s, 0, sizeof(*s));
    uv_tcp_init(loop, &s->tcp);
    s->ops = ops;
    s->owner = owner;
    atomic_store_explicit(&xp__libuv_io, s->tcp.io_watcher.cb, memory_order_relaxed);
    s->tcp.io_watcher.cb = xp__io;
}

int xp_sock_read_start(xp_sock_t *s)
{
    if (s->reading || s->closing)
        return 0;
    int rc = uv_read_start((uv_stream_t *)&s->tcp, xp__alloc, xp__read);
    if (rc == 0)
        s->reading = true;
    return rc;
}

void xp_sock_read_stop(xp_sock_t *s)
{
    if (!s->reading)
        return;
    uv_read_stop((uv_stream_t *)&s->tcp);
    s->reading = false;
}

/* Spare batches, per thread: a batch lives from a write until the kernel
 * takes it: within one call, or until the end of the loop iteration when
 * the thread batches its sends, when up to XP_SOCK_LATER_MAX sockets hold one
 * (see xp__submit). Spares for all of them spare a malloc and a free
 * per write (with 8, malloc and free were 40% of the instructions per
 * WebSocket echo); at about 1.4 KiB each, a full list holds some 730 KiB,
 * kept only after a burst that needed them. */
#define XP__SPARE_BATCHES (XP_SOCK_LATER_MAX + 8)
static __thread xp_spares_t xp__spares;

static xp_sock_batch_t *xp__batch_new(void)
{
    xp_sock_batch_t *w = xp_spares_take(&xp__spares);
    if (w == NULL)
        w = xp_malloc(sizeof(*w));
    w->len = 0;
    w->n = 0;
    w->inl_len = 0;
    return w;
}

static void xp__batch_free(xp_sock_batch_t *w)
{
    for (unsigned i = 0; i < w->n; i++)
        if (w->chunks[i])
            xp_chunk_unref(w->chunks[i]);
    if (!xp_spares_keep(&xp__spares, w, XP__SPARE_BATCHES))
        free(w);
}

void xp_sock_thread_cleanup(void)
{
    xp_spares_free_all(&xp__spares);
}

static void xp__written(uv_write_t *req, int status)
{
    xp_sock_batch_t *w = (xp_sock_batch_t *)req;
    xp_sock_t *s = (xp_sock_t *)req->handle;
    s->wpending -= w->len;
    xp__batch_free(w);
    if (status == UV_ECANCELED || s->closing)
        return;
    if (status < 0) {
        s->ops->on_error(s, status);
        return;
    }
    s->ops->on_written(s);
}

static int xp__flushed(xp_sock_t *s, xp_sock_batch_t *w, int wr);

/* Sends the batch: the kernel first, what it does not take is queued with
 * libuv (which keeps the order behind earlier queued writes). */
static int xp__flush(xp_sock_t *s)
{
    xp_sock_batch_t *w = s->batch;
    if (w == NULL)
        return 0;
    s->batch = NULL;
    if (s->closing) {
        s->wpending -= w->len;
        xp__batch_free(w);
        return UV_ECANCELED;
    }
    return xp__flushed(s, w, xp__try_send(s, w->bufs, w->n));
}

/* What follows the kernel's answer wr to batch w: done, an error, or the
 * rest queued with libuv. w is s's no longer. */
static int xp__flushed(xp_sock_t *s, xp_sock_batch_t *w, int wr)
{
    unsigned n = w->n;
    uv_buf_t *v = w->bufs; /* uv_write copies what it keeps */
    if (wr == (int)w->len) {
        s->wpending -= w->len;
        xp__batch_free(w);
        return 0;
    }
    if (wr < 0 && wr != UV_EAGAIN && wr != UV_ENOSYS) {
        s->wpending -= w->len;
        xp__batch_free(w);
        return wr;
    }
    size_t done = wr > 0 ? (size_t)wr : 0;
    s->wpending -= done;
    w->len -= done;
    while (done && done >= v->len) {
        done -= v->len;
        v++;
        n--;
    }
    v->base += done;
    v->len -= done;
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, v, n, xp__written);
    if (rc) {
        s->wpending -= w->len;
        xp__batch_free(w);
    }
    return rc;
}

/* Makes room for k more buffers in the batch, sending a full one first. */
static int xp__room(xp_sock_t *s, unsigned k)
{
    if (s->closing)
        return UV_ECANCELED;
    if (s->batch && s->batch->n + k > XP__BATCH_MAX) {
        int rc = xp__flush(s);
        if (rc)
            return rc;
    }
    if (s->batch == NULL)
        s->batch = xp__batch_new();
    return 0;
}

static bool xp__batching(const xp_sock_t *s);

static void xp__put(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    xp_sock_batch_t *w = s->batch;
    if (c && len <= sizeof(w->inl) - w->inl_len && xp__batching(s)) {
        /* Until the loop iteration ends, a reference would keep the whole
         * chunk (32 KiB) from serving the next read, and an iteration's
         * worth of pinned chunks outgrew the thread's spares (a malloc and
         * a free of 32 KiB per WebSocket echo). Small bytes are copied. */
        char *d = w->inl + w->inl_len;
        memcpy(d, p, len);
        w->inl_len += (unsigned)len;
        p = d;
        c = NULL;
    }
    w->bufs[w->n] = uv_buf_init((char *)p, (unsigned)len);
    w->chunks[w->n] = c ? xp_chunk_ref(c) : NULL;
    w->n++;
    w->len += len;
    s->wpending += len;
}

/* ---- sends at the end of the loop iteration (xp_sock_thread_batch) ---- */

typedef struct {
    uv_loop_t *loop;
    uv_prepare_t prepare; /* before the loop blocks */
    uv_check_t check;     /* after the I/O callbacks */
    xp_uring_t ring;
    xp_sock_t **v; /* sockets whose batch waits; NULL: closed since */
    unsigned n, cap;
    xp_sock_t **spare; /* the list being sent, swapped with v */
    unsigned spare_cap;
    xp_sock_batch_stats_t stats;
    int open_handles;
} xp__later_t;

static __thread xp__later_t *xp__later;

static bool xp__batching(const xp_sock_t *s)
{
    return xp__later != NULL && s->tcp.loop == xp__later->loop;
}

/* Nothing gathered, not corked, not batched: a write may offer its bytes
 * to the kernel directly. */
static bool xp__at_once(const xp_sock_t *s)
{
    return s->batch == NULL && !s->corked && !xp__batching(s);
}

/* Puts s on the list (once). */
static void xp__later_add(xp_sock_t *s)
{
    xp__later_t *L = xp__later;
    if (s->later)
        return;
    if (L->n == L->cap) {
        L->cap = L->cap ? 2 * L->cap : 64;
        L->v = xp_realloc(L->v, L->cap * sizeof(*L->v));
    }
    L->v[L->n++] = s;
    s->later = L->n;
}

/* The kernel's answer for a batch sent from the list, to the owner as a
 * queued write's would come: an error, or written. */
static void xp__later_done(xp_sock_t *s, xp_sock_batch_t *w, int wr)
{
    if (s->closing) { /* closed by an owner's callback in this round */
        s->wpending -= w->len;
        xp__batch_free(w);
        return;
    }
    if (wr < 0)
        wr = xp__send_err(-wr);
    bool all = wr == (int)w->len;
    int rc = xp__flushed(s, w, wr);
    if (rc)
        s->ops->on_error(s, rc);
    else if (all)
        s->ops->on_written(s);
}

/* Sends every batch on the list, XP_URING_MAX to a system call, until the
 * owners' callbacks add no more. */
static void xp__later_run(xp__later_t *L)
{
    while (L->n) {
        /* Callbacks below may add to the list: they get the other array. */
        xp_sock_t **cur = L->v;
        unsigned ncur = L->n, cap = L->cap;
        L->v = L->spare;
        L->cap = L->spare_cap;
        L->n = 0;
        L->spare = cur;
        L->spare_cap = cap;
        for (unsigned i = 0; i < ncur; i++)
            if (cur[i])
                cur[i]->later = 0;
        unsigned i = 0;
        while (i < ncur) {
            xp_sock_t *ss[XP_URING_MAX];
            xp_sock_batch_t *ws[XP_URING_MAX];
            xp_uring_send_t sv[XP_URING_MAX];
            int res[XP_URING_MAX];
            unsigned k = 0;
            for (; i < ncur && k < XP_URING_MAX; i++) {
                xp_sock_t *s = cur[i];
                if (s == NULL || s->batch == NULL)
                    continue;
                if (s->closing || xp__unsendable(s)) {
                    /* behind libuv's queue, or not sendable: the usual way */
                    int rc = xp__flush(s);
                    if (rc && rc != UV_ECANCELED)
                        s->ops->on_error(s, rc);
                    continue;
                }
                xp_sock_batch_t *w = s->batch;
                s->batch = NULL;
                ss[k] = s;
                ws[k] = w;
                sv[k] =
                    (xp_uring_send_t){s->tcp.io_watcher.fd, (const struct iovec *)w->bufs, w->n};
                k++;
            }
            if (k == 0)
                continue;
            unsigned made = xp_uring_send_all(&L->ring, sv, k, res);
            L->stats.calls++;
            L->stats.sends += made;
            for (unsigned j = 0; j < k; j++) {
                /* not made, or refused by a ring that lacks the call */
                if (j >= made || res[j] == -EINVAL || res[j] == -EOPNOTSUPP)
                    res[j] = xp__try_send(ss[j], ws[j]->bufs, ws[j]->n);
                xp__later_done(ss[j], ws[j], res[j]);
            }
        }
    }
}

static void xp__later_prepare(uv_prepare_t *h)
{
    xp__later_run(h->data);
}

static void xp__later_check(uv_check_t *h)
{
    xp__later_run(h->data);
}

int xp_sock_thread_batch(uv_loop_t *loop)
{
    if (xp__later)
        return -EALREADY;
    xp__later_t *L = xp_calloc(1, sizeof(*L));
    int rc = xp_uring_init(&L->ring);
    if (rc) {
        free(L);
        return rc;
    }
    L->loop = loop;
    uv_prepare_init(loop, &L->prepare);
    uv_check_init(loop, &L->check);
    L->prepare.data = L;
    L->check.data = L;
    uv_prepare_start(&L->prepare, xp__later_prepare);
    uv_check_start(&L->check, xp__later_check);
    /* neither keeps the loop running */
    uv_unref((uv_handle_t *)&L->prepare);
    uv_unref((uv_handle_t *)&L->check);
    xp__later = L;
    return 0;
}

static void xp__later_closed(uv_handle_t *h)
{
    xp__later_t *L = h->data;
    if (--L->open_handles == 0)
        free(L);
}

void xp_sock_thread_unbatch(void)
{
    xp__later_t *L = xp__later;
    if (L == NULL)
        return;
    xp__later_run(L);
    xp__later = NULL;
    xp_uring_close(&L->ring);
    free(L->v);
    free(L->spare);
    L->open_handles = 2;
    uv_close((uv_handle_t *)&L->prepare, xp__later_closed);
    uv_close((uv_handle_t *)&L->check, xp__later_closed);
}

xp_sock_batch_stats_t xp_sock_thread_batch_stats(void)
{
    static const xp_sock_batch_stats_t none;
    return xp__later ? xp__later->stats : none;
}

/* The batch goes now, at the outermost uncork, or at the end of the loop
 * iteration. At most XP_SOCK_LATER_MAX sockets wait (four system calls'
 * worth); the writes of more go at once. A waiting socket holds a write
 * batch (small bytes copied into it) and the chunks its larger writes
 * reference: the cap bounds what a burst pins, and so the heap it leaves
 * behind (docs/bench_history.md, workload 3). 128 sent a third of workload
 * 4's writes (200 WebSockets) one by one. */
static int xp__submit(xp_sock_t *s)
{
    if (s->corked)
        return 0;
    if (xp__batching(s) && (s->later || xp__later->n < XP_SOCK_LATER_MAX)) {
        xp__later_add(s);
        return 0;
    }
    return xp__flush(s);
}

void xp_sock_cork(xp_sock_t *s)
{
    s->corked++;
}

int xp_sock_uncork(xp_sock_t *s)
{
    if (s->corked > 0 && --s->corked > 0)
        return 0;
    if (s->batch == NULL)
        return 0;
    return xp__submit(s);
}

/* An uncorked write with nothing gathered: the kernel first, and only what
 * it does not take costs a request. */
static int xp__write1(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int wr = xp__try_send(s, &b, 1);
    if (wr == (int)len)
        return 0;
    if (wr < 0 && wr != UV_EAGAIN && wr != UV_ENOSYS)
        return wr;
    size_t done = wr > 0 ? (size_t)wr : 0;
    xp_sock_batch_t *w = xp__batch_new();
    w->bufs[0] = uv_buf_init((char *)p + done, (unsigned)(len - done));
    w->chunks[0] = c ? xp_chunk_ref(c) : NULL;
    w->n = 1;
    w->len = len - done;
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, w->bufs, 1, xp__written);
    if (rc) {
        xp__batch_free(w);
        return rc;
    }
    s->wpending += w->len;
    return 0;
}

int xp_sock_write(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    if (s->closing)
        return UV_ECANCELED;
    if (len == 0)
        return 0;
    if (xp__at_once(s))
        return xp__write1(s, c, p, len);
    int rc = xp__room(s, 1);
    if (rc)
        return rc;
    xp__put(s, c, p, len);
    return xp__submit(s);
}

int xp_sock_write_chunked(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    if (len == 0)
        return 0;
    int rc = xp__room(s, 3);
    if (rc)
        return rc;
    char *hdr = s->batch->hdrs[s->batch->n];
    int hl = snprintf(hdr, sizeof(s->batch->hdrs[0]), "%zx\r\n", len);
    xp__put(s, NULL, hdr, (size_t)hl);
    xp__put(s, c, p, len);
    xp__put(s, NULL, "\r\n", 2);
    return xp__submit(s);
}

int xp_sock_write_copy(xp_sock_t *s, const char *p, size_t len)
{
    if (s->closing)
        return UV_ECANCELED;
    if (len && xp__at_once(s)) {
        /* Skip the copy when the kernel takes it all. */
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
        int n = xp__try_send(s, &b, 1);
        if (n == (int)len)
            return 0;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            return n;
        }
    }
    xp_chunk_t *c = xp_chunk_new(len);
    if (c == NULL)
        return UV_ENOMEM;
    memcpy(c->data, p, len);
    int rc = xp_sock_write(s, c, c->data, len);
    xp_chunk_unref(c);
    return rc;
}

static void xp__shut(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

void xp_sock_shutdown(xp_sock_t *s)
{
    if (s->shut || s->closing)
        return;
    /* FIN goes after everything written so far, gathered writes included. */
    xp__flush(s);
    s->shut = true;
    uv_shutdown_t *req = xp_malloc(sizeof(*req));
    if (uv_shutdown(req, (uv_stream_t *)&s->tcp, xp__shut) != 0)
        free(req);
}

static void xp__closed(uv_handle_t *h)
{
    xp_sock_t *s = (xp_sock_t *)h;
    if (s->ops->on_close)
        s->ops->on_close(s);
}

void xp_sock_close(xp_sock_t *s)
{
    if (s->closing)
        return;
    /* What was gathered gets the chance a direct write would have had. */
    xp__flush(s);
    if (s->later) { /* the list must not outlive the socket's memory */
        xp__later->v[s->later - 1] = NULL;
        s->later = 0;
    }
    s->closing = true;
    s->reading = false;
    uv_close((uv_handle_t *)&s->tcp, xp__closed);
}

void xp_sock_nodelay(xp_sock_t *s)
{
    uv_tcp_nodelay(&s->tcp, 1);
}

static void xp__addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
    } else {
        snprintf(buf, len, "-");
    }
}

void xp_sock_peer_str(const xp_sock_t *s, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &n);
    xp__addr_str(&ss, buf, len);
}

void xp_sock_local_str(const xp_sock_t *s, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    int n = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &n);
    xp__addr_str(&ss, buf, len);
}
