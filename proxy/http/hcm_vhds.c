/* On-demand virtual hosts (Envoy's on_demand HTTP filter with VHDS): a
 * request whose host matches no virtual host of a route configuration that
 * uses VHDS is parked while the main thread fetches "<route config>/<host>"
 * over Delta xDS, then routed again with the worker's newest table, or
 * answered 404 if the virtual host does not exist or the wait bound
 * (vhds.config_source.initial_fetch_timeout, else 5 s) passes.
 *
 * A parked stream holds no table (the next generation is what it will use),
 * reads nothing (its body waits in the socket), and sits in its worker's
 * list; requests for the same name are asked once by the main thread
 * however many streams wait. Each stream waits at most once. */
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/core/vhds_demand.h"
#include "proxy/http/hcm_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static void xp__unlink(xp_hstream_t *s)
{
    xp_wctx_t *w = s->conn->w;
    if (s->vhds_prev)
        s->vhds_prev->vhds_next = s->vhds_next;
    else
        w->vhds_waiting = s->vhds_next;
    if (s->vhds_next)
        s->vhds_next->vhds_prev = s->vhds_prev;
    s->vhds_prev = s->vhds_next = NULL;
    free(s->vhds_key);
    s->vhds_key = NULL;
}

/* Routing again: the answer is in (or will not come); a stream that still
 * finds no virtual host gets its 404 now. */
static void xp__resume(xp_hstream_t *s)
{
    if (s->timer_init)
        uv_timer_stop(&s->timer);
    xp_hconn_t *h = s->conn;
    if (h->hcm->request_timeout_ms && !s->req_complete)
        xp_hstream_start_request_timeout(s); /* the wait used the stream timer */
    xp_hstream_route(s);
}

static void xp__on_wait_timeout(uv_timer_t *t)
{
    xp_hstream_t *s = t->data;
    XP_DEBUG("http: on-demand virtual host %s: no answer in time", s->vhds_key);
    xp__unlink(s);
    xp__resume(s);
}

bool xp_hstream_vhds_wait(xp_hstream_t *s)
{
    if (s->vhds_tried || s->host.len == 0)
        return false;
    s->vhds_tried = true;
    const xp_route_table_t *t = s->table;
    /* "<route config>/<host>": the host as received (port included, as
     * Envoy's :authority), lower-cased since hosts are case-insensitive. */
    size_t n = t->name.len + 1 + s->host.len;
    char *key = xp_malloc(n + 1);
    memcpy(key, t->name.p, t->name.len);
    key[t->name.len] = '/';
    for (size_t i = 0; i < s->host.len; i++)
        key[t->name.len + 1 + i] = (char)tolower((unsigned char)s->host.p[i]);
    key[n] = '\0';
    uint64_t wait_ms = t->vhds.wait_ms;
    if (!xp_vhds_demand_post(key)) {
        free(key);
        return false;
    }
    /* The answer comes with a newer table; this one is not needed. */
    xp_route_table_unref(s->table);
    s->table = NULL;
    s->vhost = NULL;
    xp_wctx_t *w = s->conn->w;
    s->vhds_key = key;
    s->vhds_prev = NULL;
    s->vhds_next = w->vhds_waiting;
    if (w->vhds_waiting)
        w->vhds_waiting->vhds_prev = s;
    w->vhds_waiting = s;
    xp_hstream_timer_start(s, xp__on_wait_timeout, wait_ms);
    XP_DEBUG("http: waiting up to %llu ms for on-demand virtual host %s",
             (unsigned long long)wait_ms, key);
    return true;
}

void xp_hstream_vhds_cancel(xp_hstream_t *s)
{
    if (s->vhds_key)
        xp__unlink(s);
}

void xp_hcm_vhds_answered(xp_wctx_t *w, const char *key)
{
    /* Detach every stream waiting for key first: routing one may end it
     * and start the next request of its connection, which may wait again
     * (for another name, or for this one if the answer was not enough) and
     * must not be resumed by this answer. */
    xp_hstream_t *ready = NULL, **tail = &ready;
    for (xp_hstream_t *s = w->vhds_waiting, *next; s; s = next) {
        next = s->vhds_next;
        if (strcmp(s->vhds_key, key) != 0)
            continue;
        xp__unlink(s);
        *tail = s;
        tail = &s->vhds_next;
    }
    while (ready) {
        xp_hstream_t *s = ready;
        ready = s->vhds_next;
        s->vhds_next = NULL;
        xp__resume(s);
    }
}
