/* xp_upstream's WebSocket echo (RFC 6455), after the 101.
 *
 * Data frames are echoed frame by frame as their bytes arrive: the header
 * is written as soon as it is parsed (same FIN, opcode and length, unmasked
 * as §5.1 requires of servers), then each slice of payload is unmasked and
 * written. Messages (and their fragmentation) come back unchanged without
 * ever being held whole, so a 10 GB message costs no memory. Control frames
 * (≤ 125 bytes, §5.5) are collected and answered between frames. */
#include <inttypes.h>
#include <string.h>

#include "tests/tools/upstream.h"

/* Close status codes, RFC 6455 §7.4.1. */
#define WS_NORMAL         1000
#define WS_PROTOCOL_ERROR 1002

/* Time allowed for the client's close reply to our close. */
#define WS_CLOSE_WAIT_MS 5000

static void send_frame(xpu_conn_t *c, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t frame[XPT_WS_MAX_HEADER + XPT_WS_MAX_CONTROL];
    size_t hl = xpt_ws_write_header(frame, true, opcode, NULL, len);
    memcpy(frame + hl, payload, len);
    xpu_write(c, frame, hl + len);
}

static void on_close_wait(uv_timer_t *t)
{
    xpu_conn_t *c = t->data;
    XPU_LOG("conn %" PRIu64 ": no close reply in time", c->id);
    xpu_graceful_close(c);
}

/* Queues our close frame; code 0 sends an empty body (§5.5.1). */
static void send_close(xpu_conn_t *c, unsigned code)
{
    if (c->ws.close_sent)
        return;
    c->ws.close_sent = true;
    uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    send_frame(c, XPT_WS_CLOSE, body, code ? 2 : 0);
}

/* §7.1.7 "Fail the WebSocket Connection": close frame, then TCP close. */
static void ws_fail(xpu_conn_t *c, const char *why)
{
    XPU_LOG("conn %" PRIu64 ": websocket: %s", c->id, why);
    send_close(c, WS_PROTOCOL_ERROR);
    xpu_graceful_close(c);
}

/* We sent the first close: wait (bounded) for the peer's. */
static void start_close(xpu_conn_t *c, unsigned code)
{
    send_close(c, code);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_close_wait, WS_CLOSE_WAIT_MS, 0);
}

/* §7.4: codes a peer may send in a close frame. 1005, 1006 and 1015 are
 * reserved for reporting and must never be on the wire. */
static bool close_code_valid(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

static void on_control(xpu_conn_t *c)
{
    xpu_ws_t *ws = &c->ws;
    size_t len = (size_t)ws->f.len;
    switch (ws->f.opcode) {
    case XPT_WS_PING:
        /* §5.5.2: a Pong with the same Application data. */
        if (!ws->close_sent)
            send_frame(c, XPT_WS_PONG, ws->ctl, len);
        break;
    case XPT_WS_PONG:
        break; /* §5.5.3: unsolicited pongs are allowed and ignored */
    case XPT_WS_CLOSE: {
        unsigned code = 0;
        if (len == 1) {
            ws_fail(c, "close frame with a 1-byte body");
            return;
        }
        if (len >= 2) {
            code = ((unsigned)ws->ctl[0] << 8) | ws->ctl[1];
            if (!close_code_valid(code)) {
                ws_fail(c, "invalid close code");
                return;
            }
        }
        XPU_LOG("conn %" PRIu64 ": websocket close %u (we %s)", c->id, code,
                ws->close_sent ? "started it" : "reply");
        /* §5.5.1: reply with a close (echoing the status code), then the
         * server closes the TCP connection first (§7.1.1). */
        send_close(c, code);
        xpu_graceful_close(c);
        break;
    }
    }
}

/* A data message completed (FIN frame fully echoed). */
static void on_message_done(xpu_conn_t *c)
{
    xpu_ws_t *ws = &c->ws;
    ws->messages++;
    if (ws->close_after && ws->messages >= ws->close_after && !ws->close_sent) {
        XPU_LOG("conn %" PRIu64 ": close_after reached", c->id);
        start_close(c, WS_NORMAL);
    }
}

/* Validates a parsed frame header against §5.1-§5.5. NULL if fine. */
static const char *check_header(const xpu_ws_t *ws, const xpt_ws_frame_t *f)
{
    if (f->rsv)
        return "RSV bit set without a negotiated extension (§5.2)";
    if (!xpt_ws_opcode_known(f->opcode))
        return "reserved opcode (§5.2)";
    if (!f->masked)
        return "unmasked client frame (§5.1)";
    if (f->opcode >= XPT_WS_CLOSE) {
        if (!f->fin || f->len > XPT_WS_MAX_CONTROL)
            return "fragmented or oversized control frame (§5.5)";
        return NULL;
    }
    if (f->opcode == XPT_WS_CONT && !ws->in_message)
        return "continuation without a message (§5.4)";
    if (f->opcode != XPT_WS_CONT && ws->in_message)
        return "new message inside a fragmented one (§5.4)";
    return NULL;
}

void xpu_ws_process(xpu_conn_t *c)
{
    xpu_ws_t *ws = &c->ws;
    /* Echoed bytes gathered over one pass and written together, so a small
     * frame's header and payload leave in one segment; written before any
     * reply of our own, to keep the order. */
    xpu_buf_t out = {0};
    while (!c->closing && c->st == XPU_ST_WS && c->queued + out.len < XPU_WRITE_HIGH) {
        uint8_t *in = (uint8_t *)c->buf + c->start;
        if (!ws->in_frame) {
            int hl = xpt_ws_parse_header(in, c->len, &ws->f);
            if (hl == 0)
                break;
            const char *bad =
                hl < 0 ? "bad payload length encoding (§5.2)" : check_header(ws, &ws->f);
            if (bad) {
                xpu_write_take(c, &out);
                ws_fail(c, bad);
                return;
            }
            xpu_consume(c, (size_t)hl);
            ws->in_frame = true;
            ws->done = 0;
            ws->echo_frame = false;
            if (ws->f.opcode < XPT_WS_CLOSE) {
                ws->in_message = !ws->f.fin;
                /* §5.5.1: after our close, no more data frames from us. */
                if (!ws->close_sent) {
                    uint8_t hdr[XPT_WS_MAX_HEADER];
                    size_t n = xpt_ws_write_header(hdr, ws->f.fin, ws->f.opcode, NULL, ws->f.len);
                    xpu_buf_add(&out, hdr, n);
                    ws->echo_frame = true;
                }
            }
            continue;
        }
        uint64_t want = ws->f.len - ws->done;
        size_t n = c->len < want ? c->len : (size_t)want;
        if (n == 0 && want > 0)
            break;
        xpt_ws_mask(in, n, ws->f.mask, ws->done);
        if (ws->f.opcode >= XPT_WS_CLOSE)
            memcpy(ws->ctl + ws->done, in, n);
        else if (ws->echo_frame)
            xpu_buf_add(&out, in, n);
        ws->done += n;
        xpu_consume(c, n);
        if (ws->done < ws->f.len)
            continue;
        ws->in_frame = false;
        xpu_write_take(c, &out);
        if (ws->f.opcode >= XPT_WS_CLOSE)
            on_control(c);
        else if (ws->f.fin)
            on_message_done(c);
    }
    xpu_write_take(c, &out);
}

void xpu_ws_start(xpu_conn_t *c, xp_str_t query)
{
    memset(&c->ws, 0, sizeof(c->ws));
    xp_str_t v;
    if (xpu_query_get(query, "close_after", 0, &v)) {
        uint64_t n = 0;
        for (size_t i = 0; i < v.len && v.p[i] >= '0' && v.p[i] <= '9' && n < UINT64_MAX / 10; i++)
            n = n * 10 + (uint64_t)(v.p[i] - '0');
        c->ws.close_after = n;
        if (n == 0) /* close_after=0: close right away */
            start_close(c, WS_NORMAL);
    }
    if (xpu_query_get(query, "hello", 0, &v) && xp_str_eq(v, XP_STR_LIT("1")))
        send_frame(c, XPT_WS_TEXT, "hello", 5);
    XPU_LOG("conn %" PRIu64 ": websocket open (close_after %" PRIu64 ")", c->id, c->ws.close_after);
}
