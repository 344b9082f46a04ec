/* Timeouts restarted by every bit of activity (idle timeouts) without work
 * in libuv's timer heap each time: activity only moves a due time (loop
 * time, ms); the timer is started only when it is not running or would fire
 * after the new due time, and when it fires early it sleeps again for the
 * rest. */
#ifndef XP_NET_LAZY_TIMER_H
#define XP_NET_LAZY_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* The timeout now ends ms from now (ms 0: there is none, *due = 0). */
static inline void xp_lazy_timer_arm(uv_timer_t *t, uv_timer_cb cb, uint64_t *due, uint64_t ms)
{
    if (ms == 0) {
        *due = 0;
        return;
    }
    *due = uv_now(t->loop) + ms;
    if (!uv_is_active((uv_handle_t *)t) || uv_timer_get_due_in(t) > ms)
        uv_timer_start(t, cb, ms, 0);
}

/* For the timer's callback: true when the timeout has run out; false when
 * there is none or it moved on (the timer is then set for the rest, keeping
 * its repeat). */
static inline bool xp_lazy_timer_expired(uv_timer_t *t, uv_timer_cb cb, uint64_t due)
{
    if (due == 0)
        return false;
    uint64_t now = uv_now(t->loop);
    if (now >= due)
        return true;
    uv_timer_start(t, cb, due - now, uv_timer_get_repeat(t));
    return false;
}

#endif
