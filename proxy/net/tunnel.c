#include "proxy/net/tunnel.h"
#include "proxy/common/mem.h"
#include "proxy/net/lazy_timer.h"

#include <stdlib.h>
#include <string.h>

static const xp_sock_ops_t xp__tunnel_ops;

static xp_tunnel_t *xp__t(xp_sock_t *s, int *side)
{
    xp_tunnel_t *t = s->owner;
    *side = t->end[0].sock == s ? 0 : 1;
    return t;
}

/* Activity only moves the due time (net/lazy_timer.h): the timer, whose
 * repeat holds the idle timeout, sleeps again for the rest when it fires
 * early, so bytes moving cost no timer-heap work. */
static void xp__touch(xp_tunnel_t *t)
{
    if (t->timer)
        t->idle_due = uv_now(t->timer->loop) + uv_timer_get_repeat(t->timer);
}

static void xp__timer_closed(uv_handle_t *h)
{
    xp_tunnel_t *t = h->data;
    free(h);
    t->done(t);
}

static void xp__maybe_done(xp_tunnel_t *t)
{
    if (!t->end[0].closed_cb || !t->end[1].closed_cb)
        return;
    uv_timer_t *timer = t->timer;
    t->timer = NULL;
    if (timer && t->own_timer) {
        uv_close((uv_handle_t *)timer, xp__timer_closed);
        return;
    }
    if (timer)
        uv_timer_stop(timer);
    t->done(t);
}

void xp_tunnel_close(xp_tunnel_t *t, const char *reason)
{
    if (!t->finishing) {
        t->finishing = true;
        t->end_reason = reason;
    }
    for (int i = 0; i < 2; i++)
        xp_sock_close(t->end[i].sock);
}

static void xp__on_data(xp_sock_t *s, xp_chunk_t *c, char *p, size_t len)
{
    int side;
    xp_tunnel_t *t = xp__t(s, &side);
    xp_tunnel_end_t *other = &t->end[!side];
    t->end[side].rx_bytes += len;
    xp__touch(t);
    if (xp_sock_write(other->sock, c, p, len) != 0) {
        xp_tunnel_close(t, "error");
        return;
    }
    if (other->sock->wpending > t->limit) {
        xp_sock_read_stop(s);
        t->end[side].paused = true;
    }
}

static void xp__on_eof(xp_sock_t *s)
{
    int side;
    xp_tunnel_t *t = xp__t(s, &side);
    t->end[side].eof = true;
    xp__touch(t);
    /* Half-close: pass the FIN on; libuv sends it after queued writes. */
    xp_sock_shutdown(t->end[!side].sock);
    if (t->end[!side].eof && t->end[0].sock->wpending == 0 && t->end[1].sock->wpending == 0)
        xp_tunnel_close(t, "eof");
}

static void xp__on_error(xp_sock_t *s, int err)
{
    (void)err;
    int side;
    xp_tunnel_t *t = xp__t(s, &side);
    xp_tunnel_close(t, "error");
}

static void xp__on_written(xp_sock_t *s)
{
    int side;
    xp_tunnel_t *t = xp__t(s, &side);
    xp_tunnel_end_t *src = &t->end[!side];
    if (src->paused && s->wpending <= t->limit / 2) {
        src->paused = false;
        if (!src->eof)
            xp_sock_read_start(src->sock);
    }
    if (t->end[0].eof && t->end[1].eof && t->end[0].sock->wpending == 0 &&
        t->end[1].sock->wpending == 0)
        xp_tunnel_close(t, "eof");
}

static void xp__on_close(xp_sock_t *s)
{
    int side;
    xp_tunnel_t *t = xp__t(s, &side);
    t->end[side].closed_cb = true;
    if (t->closed)
        t->closed(t, side);
    xp__maybe_done(t);
}

static const xp_sock_ops_t xp__tunnel_ops = {
    .on_data = xp__on_data,
    .on_eof = xp__on_eof,
    .on_error = xp__on_error,
    .on_written = xp__on_written,
    .on_close = xp__on_close,
};

static void xp__on_idle(uv_timer_t *timer)
{
    xp_tunnel_t *t = timer->data;
    if (xp_lazy_timer_expired(timer, xp__on_idle, t->idle_due))
        xp_tunnel_close(t, "idle_timeout");
}

void xp_tunnel_start(xp_tunnel_t *t, uv_loop_t *loop, xp_sock_t *down, xp_sock_t *up,
                     uint32_t limit, uint64_t idle_ms, uv_timer_t *timer)
{
    t->end[0].sock = down;
    t->end[1].sock = up;
    t->limit = limit ? limit : 1024 * 1024;
    for (int i = 0; i < 2; i++) {
        t->end[i].sock->ops = &xp__tunnel_ops;
        t->end[i].sock->owner = t;
    }
    if (idle_ms) {
        if (timer == NULL) {
            timer = xp_malloc(sizeof(*timer));
            uv_timer_init(loop, timer);
            t->own_timer = true;
        }
        timer->data = t;
        t->timer = timer;
        t->idle_due = uv_now(loop) + idle_ms;
        uv_timer_start(timer, xp__on_idle, idle_ms, idle_ms); /* repeat: see xp__touch */
    }
    for (int i = 0; i < 2; i++)
        if (!t->end[i].eof)
            xp_sock_read_start(t->end[i].sock);
}

int xp_tunnel_write(xp_tunnel_t *t, int side, xp_chunk_t *c, const char *p, size_t len)
{
    return xp_sock_write(t->end[side].sock, c, p, len);
}
