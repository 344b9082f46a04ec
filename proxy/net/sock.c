#include "proxy/net/sock.h"
#include "proxy/common/mem.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uv_write_t req;
    xp_chunk_t *chunk;
    size_t len;
    char hdr[24]; /* chunked framing written with the data */
    /* An uncorked batch: the chunks and framing it references. */
    unsigned nchunks;
    xp_chunk_t *chunks[16];
    char hdrs[16][20];
} xp__wreq_t;

static void xp__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    xp_chunk_t *c = xp_chunk_new(XP_CHUNK_SIZE);
    *buf = uv_buf_init(c->data, c->size);
}

static void xp__read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    xp_sock_t *s = (xp_sock_t *)st;
    xp_chunk_t *c = buf->base ? XP_CONTAINER_OF(buf->base, xp_chunk_t, data) : NULL;
    if (n > 0) {
        s->ops->on_data(s, c, buf->base, (size_t)n);
    } else if (n == UV_EOF) {
        s->reading = false;
        uv_read_stop(st);
        s->ops->on_eof(s);
    } else if (n < 0) {
        s->reading = false;
        uv_read_stop(st);
        s->ops->on_error(s, (int)n);
    }
    if (c)
        xp_chunk_unref(c);
}

void xp_sock_init(xp_sock_t *s, uv_loop_t *loop, const xp_sock_ops_t *ops, void *owner)
{
    memset(s, 0, sizeof(*s));
    uv_tcp_init(loop, &s->tcp);
    s->ops = ops;
    s->owner = owner;
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

static void xp__written(uv_write_t *req, int status)
{
    xp__wreq_t *w = (xp__wreq_t *)req;
    xp_sock_t *s = (xp_sock_t *)req->handle;
    s->wpending -= w->len;
    if (w->chunk)
        xp_chunk_unref(w->chunk);
    for (unsigned i = 0; i < w->nchunks; i++)
        if (w->chunks[i])
            xp_chunk_unref(w->chunks[i]);
    free(w);
    if (status == UV_ECANCELED || s->closing)
        return;
    if (status < 0) {
        s->ops->on_error(s, status);
        return;
    }
    s->ops->on_written(s);
}

static void xp__wreq_free(xp__wreq_t *w)
{
    if (w == NULL)
        return;
    for (unsigned i = 0; i < w->nchunks; i++)
        if (w->chunks[i])
            xp_chunk_unref(w->chunks[i]);
    free(w);
}

/* Writes bufs (at most 16), trying the kernel first; what is left is queued
 * with a request that holds a reference to c. w, when given, is a request
 * the caller prepared (its hdr or hdrs may be among bufs); it is used or
 * freed. */
static int xp__writev(xp_sock_t *s, xp_chunk_t *c, const uv_buf_t *bufs, unsigned n, xp__wreq_t *w)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (s->closing || n > 16 || total == 0) {
        xp__wreq_free(w);
        return s->closing ? UV_ECANCELED : (n > 16 ? UV_EINVAL : 0);
    }
    uv_buf_t local[16];
    memcpy(local, bufs, n * sizeof(*bufs));
    uv_buf_t *v = local;
    if (s->wpending == 0) {
        int wr = uv_try_write((uv_stream_t *)&s->tcp, v, n);
        if (wr == (int)total) {
            xp__wreq_free(w);
            return 0;
        }
        if (wr < 0 && wr != UV_EAGAIN && wr != UV_ENOSYS) {
            xp__wreq_free(w);
            return wr;
        }
        size_t done = wr > 0 ? (size_t)wr : 0;
        total -= done;
        while (done && done >= v->len) {
            done -= v->len;
            v++;
            n--;
        }
        v->base += done;
        v->len -= done;
    }
    if (w == NULL) {
        w = xp_malloc(sizeof(*w));
        w->nchunks = 0;
    }
    w->chunk = c ? xp_chunk_ref(c) : NULL;
    w->len = total;
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, v, n, xp__written);
    if (rc) {
        if (w->chunk)
            xp_chunk_unref(w->chunk);
        xp__wreq_free(w);
        return rc;
    }
    s->wpending += total;
    return 0;
}

/* Appends to the cork batch; false when it is full (the caller flushes). */
static bool xp__gather(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    if (s->ncork == XP_ARRAY_SIZE(s->cork_bufs))
        return false;
    s->cork_bufs[s->ncork] = uv_buf_init((char *)p, (unsigned)len);
    s->cork_chunks[s->ncork] = c ? xp_chunk_ref(c) : NULL;
    s->ncork++;
    return true;
}

void xp_sock_cork(xp_sock_t *s)
{
    s->corked++;
}

static int xp__flush_cork(xp_sock_t *s)
{
    unsigned n = s->ncork;
    if (n == 0)
        return 0;
    s->ncork = 0;
    xp__wreq_t *w = xp_malloc(sizeof(*w));
    w->nchunks = n;
    uv_buf_t bufs[16];
    for (unsigned i = 0; i < n; i++) {
        w->chunks[i] = s->cork_chunks[i];
        bufs[i] = s->cork_bufs[i];
        /* framing lives in the socket's scratch: move it into the request */
        if (bufs[i].base >= s->cork_hdr[0] && bufs[i].base < s->cork_hdr[0] + sizeof(s->cork_hdr)) {
            size_t k = (size_t)(bufs[i].base - s->cork_hdr[0]) / sizeof(s->cork_hdr[0]);
            memcpy(w->hdrs[k], s->cork_hdr[k], sizeof(w->hdrs[k]));
            bufs[i].base = w->hdrs[k] + (bufs[i].base - s->cork_hdr[k]);
        }
    }
    return xp__writev(s, NULL, bufs, n, w);
}

int xp_sock_uncork(xp_sock_t *s)
{
    if (s->corked > 0 && --s->corked > 0)
        return 0;
    if (s->closing) {
        for (unsigned i = 0; i < s->ncork; i++)
            if (s->cork_chunks[i])
                xp_chunk_unref(s->cork_chunks[i]);
        s->ncork = 0;
        return UV_ECANCELED;
    }
    return xp__flush_cork(s);
}

int xp_sock_write(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    if (s->corked && !s->closing && len) {
        if (xp__gather(s, c, p, len))
            return 0;
        int rc = xp__flush_cork(s);
        if (rc == 0 && xp__gather(s, c, p, len))
            return 0;
        if (rc)
            return rc;
    }
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    return xp__writev(s, c, &b, 1, NULL);
}

int xp_sock_write_chunked(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len)
{
    if (len == 0)
        return 0;
    if (s->corked && !s->closing) {
        if (s->ncork + 3 > XP_ARRAY_SIZE(s->cork_bufs)) {
            int rc = xp__flush_cork(s);
            if (rc)
                return rc;
        }
        char *hdr = s->cork_hdr[s->ncork];
        int hl = snprintf(hdr, sizeof(s->cork_hdr[0]), "%zx\r\n", len);
        xp__gather(s, NULL, hdr, (size_t)hl);
        xp__gather(s, c, p, len);
        xp__gather(s, NULL, "\r\n", 2);
        return 0;
    }
    xp__wreq_t *w = xp_malloc(sizeof(*w));
    w->nchunks = 0;
    int hl = snprintf(w->hdr, sizeof(w->hdr), "%zx\r\n", len);
    uv_buf_t v[3] = {uv_buf_init(w->hdr, (unsigned)hl), uv_buf_init((char *)p, (unsigned)len),
                     uv_buf_init((char *)"\r\n", 2)};
    return xp__writev(s, c, v, 3, w);
}

int xp_sock_write_copy(xp_sock_t *s, const char *p, size_t len)
{
    if (s->closing)
        return UV_ECANCELED;
    if (s->wpending == 0 && len && !s->corked) {
        /* Skip the copy when the kernel takes it all. */
        uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&s->tcp, &b, 1);
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
    xp__flush_cork(s);
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
    s->closing = true;
    for (unsigned i = 0; i < s->ncork; i++)
        if (s->cork_chunks[i])
            xp_chunk_unref(s->cork_chunks[i]);
    s->ncork = 0;
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
