/* xp_wsclient: a WebSocket test client (RFC 6455) for the integration
 * tests, the demo and churn benchmarks.
 *
 * One non-blocking poll loop drives 1..N connections, each through
 * connect → opening handshake (§4.1) → rounds of echoed messages → closing
 * handshake (§7.1.2). A payload is a pure function of (run seed, connection,
 * sequence number), so an echo is verified by regenerating it: nothing sent
 * is kept. With --connections, every message also carries its sequence
 * number (text: "<seq>:" prefix; binary ≥ 8 bytes: first 8 bytes, big
 * endian) so loss and reordering are told apart from corruption. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proxy/common/mem.h"
#include "proxy/http1/http1.h"
#include "tests/tools/ws.h"

#define MAX_MSGS         64
#define MAX_HEADERS      32
#define MAX_MESSAGE      (256u << 20) /* largest message accepted from the server */
#define MAX_ERRORS_SHOWN 10

typedef struct {
    uint8_t opcode; /* XPT_WS_TEXT or XPT_WS_BINARY */
    const char *text;
    size_t size; /* binary payload size */
} msg_t;

/* Options. */
static struct {
    char host[256], port[8], path[2048];
    const char *host_header;
    const char *headers[MAX_HEADERS];
    int nheaders;
    msg_t msgs[MAX_MSGS];
    int nmsgs;
    uint64_t count;
    bool count_set;
    int64_t interval_ms, timeout_ms, hold_ms;
    const char *stop_file; /* --stop-file: the hold ends once it exists */
    bool expect_server_close;
    unsigned close_code;
    int connections;
    bool multi;      /* --connections given: sequence numbers, extra summary */
    size_t fragment; /* max payload per frame, 0: one frame per message */
    bool verbose;
} opt = {.count = 1, .timeout_ms = 10000, .close_code = 1000, .connections = 1};

typedef struct {
    uint8_t *p;
    size_t off, len, cap; /* live bytes: p[off..len) */
} bytes_t;

typedef enum {
    C_CONNECTING,
    C_HANDSHAKE, /* upgrade request sent, reading the response */
    C_OPEN,
    C_CLOSING,  /* our close sent, waiting for the server's (§7.1.2) */
    C_WAIT_EOF, /* close frames exchanged, waiting for the TCP close (§7.1.1) */
    C_DONE,
} cstate_t;

typedef struct {
    int fd, idx;
    cstate_t st;
    bytes_t out, in, msg;
    uint8_t msg_opcode;
    bool in_message;
    char key[25];
    int handshake_status;
    int close_code; /* from the server's close frame; -1 none */
    uint64_t next_seq, matched, received, mismatches, reordered;
    int64_t highest; /* highest sequence number received, -1 none */
    uint64_t lowest; /* lowest sequence number not received */
    uint8_t *seen;   /* bitmap of received sequence numbers */
    size_t seen_cap; /* bytes */
    uint64_t rounds;
    int64_t next_round, progress, deadline;
    bool failed, closed_early;
} conn_t;

static conn_t *conns;
static uint64_t seed;
static int64_t t_start;
static int errors_shown;
static bytes_t scratch;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reserve(bytes_t *b, size_t extra)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + extra <= b->cap)
        return;
    if (b->off > 0) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap)
            return;
    }
    b->cap = (b->len + extra) * 2;
    b->p = xp_realloc(b->p, b->cap);
}

static void append(bytes_t *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void fail(conn_t *c, bool early, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void conn_finish(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->st = C_DONE;
}

/* One line on stderr about connection c (rate-limited). */
static void vnote(const conn_t *c, const char *fmt, va_list ap)
{
    if (errors_shown++ >= MAX_ERRORS_SHOWN)
        return;
    fprintf(stderr, "xp_wsclient: ");
    if (opt.multi)
        fprintf(stderr, "conn %d: ", c->idx);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void note(const conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const conn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vnote(c, fmt, ap);
    va_end(ap);
}

/* Connection c failed: say why and close it. early: the peer closed it. */
static void fail(conn_t *c, bool early, const char *fmt, ...)
{
    if (c->st == C_DONE)
        return;
    c->failed = true;
    c->closed_early = early;
    va_list ap;
    va_start(ap, fmt);
    vnote(c, fmt, ap);
    va_end(ap);
    conn_finish(c);
}

/* ---- payloads --------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The payload of message seq on connection idx, into scratch. */
static const msg_t *gen_payload(int idx, uint64_t seq)
{
    const msg_t *m = &opt.msgs[seq % (uint64_t)opt.nmsgs];
    scratch.off = scratch.len = 0;
    if (m->opcode == XPT_WS_TEXT) {
        if (opt.multi) {
            char pre[24];
            int n = snprintf(pre, sizeof(pre), "%" PRIu64 ":", seq);
            append(&scratch, pre, (size_t)n);
        }
        append(&scratch, m->text, strlen(m->text));
        return m;
    }
    reserve(&scratch, m->size + 8);
    uint64_t s = seed ^ ((uint64_t)idx << 40) ^ (seq * 0x2545f4914f6cdd1dULL);
    for (size_t i = 0; i < m->size; i += 8) {
        uint64_t r = splitmix(&s);
        memcpy(scratch.p + i, &r, 8); /* the slack of 8 absorbs the tail */
    }
    if (opt.multi && m->size >= 8)
        for (int i = 0; i < 8; i++)
            scratch.p[i] = (uint8_t)(seq >> (56 - 8 * i));
    scratch.len = m->size;
    return m;
}

/* Queues one frame, masked with a fresh key (§5.3: clients mask every frame
 * with an unpredictable key). */
static void queue_frame(conn_t *c, bool fin, uint8_t opcode, const uint8_t *p, size_t n)
{
    uint8_t mask[4], hdr[XPT_WS_MAX_HEADER];
    RAND_bytes(mask, 4);
    size_t hl = xpt_ws_write_header(hdr, fin, opcode, mask, n);
    append(&c->out, hdr, hl);
    size_t at = c->out.len;
    append(&c->out, p, n);
    xpt_ws_mask(c->out.p + at, n, mask, 0);
}

static void send_message(conn_t *c)
{
    uint64_t seq = c->next_seq++;
    if ((seq >> 3) >= c->seen_cap) {
        size_t old = c->seen_cap;
        c->seen_cap = old ? old * 2 : 64;
        c->seen = xp_realloc(c->seen, c->seen_cap);
        memset(c->seen + old, 0, c->seen_cap - old);
    }
    const msg_t *m = gen_payload(c->idx, seq);
    size_t len = scratch.len, frag = opt.fragment ? opt.fragment : len;
    if (len == 0) {
        queue_frame(c, true, m->opcode, NULL, 0);
        return;
    }
    /* §5.4: first frame carries the opcode, the rest are continuations. */
    for (size_t at = 0; at < len; at += frag) {
        size_t n = len - at < frag ? len - at : frag;
        queue_frame(c, at + n == len, at == 0 ? m->opcode : XPT_WS_CONT, scratch.p + at, n);
    }
}

static void send_close(conn_t *c, int code)
{
    uint8_t body[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    queue_frame(c, true, XPT_WS_CLOSE, body, code > 0 ? 2 : 0);
}

/* ---- receiving -------------------------------------------------------- */

static bool seen_get(const conn_t *c, uint64_t s)
{
    return (c->seen[s >> 3] >> (s & 7)) & 1;
}

static void on_message(conn_t *c, uint8_t opcode, const uint8_t *p, size_t len)
{
    c->received++;
    c->progress = now_ms();
    if (c->lowest >= c->next_seq) {
        c->mismatches++;
        fail(c, false, "unexpected message (%zu bytes) with nothing outstanding", len);
        return;
    }
    uint64_t seq = c->lowest;
    if (opt.multi && opcode == XPT_WS_TEXT) {
        uint64_t v = 0;
        size_t i = 0;
        while (i < len && i < 20 && p[i] >= '0' && p[i] <= '9')
            v = v * 10 + (uint64_t)(p[i++] - '0');
        if (i > 0 && i < len && p[i] == ':')
            seq = v;
    } else if (opt.multi && len >= 8) {
        seq = 0;
        for (int i = 0; i < 8; i++)
            seq = (seq << 8) | p[i];
    }
    if (seq >= c->next_seq || seen_get(c, seq)) {
        c->mismatches++;
        note(c, "message with unknown or repeated sequence number %" PRIu64, seq);
        return;
    }
    const msg_t *m = gen_payload(c->idx, seq);
    if (m->opcode != opcode || scratch.len != len || memcmp(scratch.p, p, len) != 0) {
        c->mismatches++;
        note(c,
             "message %" PRIu64 " differs: got opcode %u, %zu bytes; expected opcode %u, %zu bytes",
             seq, opcode, len, m->opcode, scratch.len);
    }
    if (c->highest >= 0 && (int64_t)seq < c->highest)
        c->reordered++;
    if ((int64_t)seq > c->highest)
        c->highest = (int64_t)seq;
    c->seen[seq >> 3] |= (uint8_t)(1u << (seq & 7));
    c->matched++;
    while (c->lowest < c->next_seq && seen_get(c, c->lowest))
        c->lowest++;
}

/* The hold is over: its time passed, or the stop file appeared. */
static bool hold_over(int64_t now)
{
    return now >= t_start + opt.hold_ms || (opt.stop_file && access(opt.stop_file, F_OK) == 0);
}

static bool sending_done(const conn_t *c, int64_t now)
{
    if (opt.hold_ms && !opt.count_set)
        return hold_over(now);
    return c->rounds >= opt.count;
}

static void on_close_frame(conn_t *c, const uint8_t *p, size_t len)
{
    if (len == 1) {
        fail(c, false, "close frame with a 1-byte body (§5.5.1)");
        return;
    }
    /* §7.1.5: no status code in the frame reads as 1005. */
    c->close_code = len >= 2 ? (p[0] << 8 | p[1]) : 1005;
    int64_t now = now_ms();
    if (c->st == C_CLOSING) {
        if (c->close_code != (int)opt.close_code &&
            !(c->close_code == 1005 && opt.close_code == 0)) {
            fail(c, false, "close reply has code %d, sent %u", c->close_code, opt.close_code);
            return;
        }
        c->st = C_WAIT_EOF;
        c->deadline = now + opt.timeout_ms;
        return;
    }
    bool expected = opt.expect_server_close && sending_done(c, now) && c->matched == c->next_seq;
    /* §5.5.1: answer with a close echoing the status code. */
    send_close(c, len >= 2 ? c->close_code : 0);
    c->st = C_WAIT_EOF;
    c->deadline = now + opt.timeout_ms;
    if (!expected) {
        c->closed_early = true;
        c->failed = true;
        note(c, "unexpected close from the server (code %d)", c->close_code);
    }
}

/* Handles every complete frame in c->in. */
static void process_frames(conn_t *c)
{
    while (c->st == C_OPEN || c->st == C_CLOSING) {
        uint8_t *in = c->in.p + c->in.off;
        size_t avail = c->in.len - c->in.off;
        xpt_ws_frame_t f;
        int hl = xpt_ws_parse_header(in, avail, &f);
        if (hl == 0)
            return;
        if (hl < 0) {
            fail(c, false, "bad frame length encoding (§5.2)");
            return;
        }
        if (f.masked || f.rsv || !xpt_ws_opcode_known(f.opcode)) {
            /* §5.1: a client closes on a masked frame; §5.2 RSV/opcodes. */
            fail(c, false, "bad frame from server (masked, RSV or reserved opcode %u)", f.opcode);
            return;
        }
        if (f.opcode >= XPT_WS_CLOSE && (!f.fin || f.len > XPT_WS_MAX_CONTROL)) {
            fail(c, false, "fragmented or oversized control frame (§5.5)");
            return;
        }
        if (f.len > MAX_MESSAGE || c->msg.len + f.len > MAX_MESSAGE) {
            fail(c, false, "message over %u bytes", MAX_MESSAGE);
            return;
        }
        if (avail < (size_t)hl + f.len) {
            reserve(&c->in, (size_t)hl + (size_t)f.len - avail);
            return;
        }
        const uint8_t *p = in + hl;
        size_t n = (size_t)f.len;
        c->in.off += (size_t)hl + n;
        switch (f.opcode) {
        case XPT_WS_PING:
            if (c->st == C_OPEN)
                queue_frame(c, true, XPT_WS_PONG, p, n); /* §5.5.2 */
            break;
        case XPT_WS_PONG:
            break;
        case XPT_WS_CLOSE:
            on_close_frame(c, p, n);
            return;
        default:
            /* §5.4: continuation only inside a message, new data only
             * outside one. */
            if ((f.opcode == XPT_WS_CONT) != c->in_message) {
                fail(c, false, "bad fragmentation from server (§5.4)");
                return;
            }
            if (!c->in_message) {
                c->msg_opcode = f.opcode;
                c->msg.off = c->msg.len = 0;
            }
            if (f.fin && !c->in_message) {
                on_message(c, f.opcode, p, n); /* unfragmented: no copy */
                break;
            }
            append(&c->msg, p, n);
            c->in_message = !f.fin;
            if (f.fin)
                on_message(c, c->msg_opcode, c->msg.p, c->msg.len);
        }
    }
}

/* Whether the header value (a comma list) contains token, any case. */
static bool has_token(const xp_http1_head_t *h, const char *name, const char *token)
{
    int i = xp_http1_find_header(h, xp_str_c(name), 0);
    for (; i >= 0; i = xp_http1_find_header(h, xp_str_c(name), i + 1)) {
        xp_str_t v = h->headers[i].value;
        size_t tl = strlen(token);
        for (size_t at = 0; at + tl <= v.len; at++)
            if (strncasecmp(v.p + at, token, tl) == 0 &&
                (at == 0 || v.p[at - 1] == ',' || v.p[at - 1] == ' ') &&
                (at + tl == v.len || v.p[at + tl] == ',' || v.p[at + tl] == ' '))
                return true;
    }
    return false;
}

/* §4.1 items 1-4 of the client's checks on the server's handshake. */
static void process_handshake(conn_t *c)
{
    xp_header_t hdrs[XP_HTTP1_DEFAULT_MAX_HEADERS_COUNT];
    xp_http1_head_t h;
    xp_http1_limits_t lim;
    xp_http1_limits_default(&lim);
    xp_http1_head_init(&h, hdrs, XP_ARRAY_SIZE(hdrs));
    int rc = xp_http1_parse_response(&h, (const char *)c->in.p + c->in.off, c->in.len - c->in.off,
                                     XP_HTTP1_GET, &lim);
    if (rc == XP_EAGAIN)
        return;
    if (rc < 0) {
        fail(c, false, "malformed handshake response: %s", h.err_msg ? h.err_msg : "?");
        return;
    }
    c->handshake_status = h.status_code;
    if (h.status_code != 101) {
        fail(c, false, "handshake failed: status %d %.*s (expected 101)", h.status_code,
             (int)h.reason.len, h.reason.p);
        return;
    }
    char accept[XPT_WS_ACCEPT_LEN + 1];
    xpt_ws_accept(c->key, 24, accept);
    int ai = xp_http1_find_header(&h, XP_STR_LIT("sec-websocket-accept"), 0);
    if (!has_token(&h, "upgrade", "websocket") || !has_token(&h, "connection", "upgrade")) {
        fail(c, false, "handshake: 101 without Upgrade: websocket / Connection: upgrade");
        return;
    }
    if (ai < 0 || !xp_str_eq(h.headers[ai].value, xp_str_c(accept))) {
        fail(c, false, "handshake: Sec-WebSocket-Accept missing or wrong (want %s)", accept);
        return;
    }
    c->in.off += (size_t)rc;
    c->st = C_OPEN;
    c->progress = now_ms();
    c->deadline = 0;
    if (opt.verbose)
        fprintf(stderr, "xp_wsclient: conn %d: open\n", c->idx);
    process_frames(c);
}

/* ---- I/O -------------------------------------------------------------- */

static void do_read(conn_t *c)
{
    size_t budget = 4u << 20; /* per poll round, for fairness */
    while (c->st != C_DONE && budget > 0) {
        reserve(&c->in, 64 * 1024);
        ssize_t n = recv(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            if (c->st == C_WAIT_EOF && n == 0) {
                if (opt.verbose)
                    fprintf(stderr, "xp_wsclient: conn %d: closed (code %d)\n", c->idx,
                            c->close_code);
                conn_finish(c);
            } else {
                fail(c, true, "connection %s %s", n == 0 ? "closed by the peer" : strerror(errno),
                     c->st == C_HANDSHAKE ? "before the handshake response"
                                          : "before the close handshake finished");
            }
            return;
        }
        c->in.len += (size_t)n;
        budget -= (size_t)n < budget ? (size_t)n : budget;
        if (c->st == C_HANDSHAKE)
            process_handshake(c);
        else
            process_frames(c);
    }
}

static void do_write(conn_t *c)
{
    while (c->st != C_DONE && c->out.off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n < 0) {
            fail(c, true, "send: %s", strerror(errno));
            return;
        }
        c->out.off += (size_t)n;
    }
    if (c->out.off == c->out.len)
        c->out.off = c->out.len = 0;
}

static void send_upgrade(conn_t *c)
{
    uint8_t raw[16];
    RAND_bytes(raw, sizeof(raw));
    EVP_EncodeBlock((unsigned char *)c->key, raw, 16); /* §4.1 item 7 */
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: "
                     "Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                     opt.path, opt.host_header, c->key);
    append(&c->out, req, (size_t)n);
    for (int i = 0; i < opt.nheaders; i++) {
        append(&c->out, opt.headers[i], strlen(opt.headers[i]));
        append(&c->out, "\r\n", 2);
    }
    append(&c->out, "\r\n", 2);
    c->st = C_HANDSHAKE;
}

static void start_connect(conn_t *c, const struct addrinfo *ai)
{
    c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fail(c, false, "socket: %s", strerror(errno));
        return;
    }
    c->st = C_CONNECTING;
    c->deadline = now_ms() + opt.timeout_ms;
    if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
        fail(c, false, "connect: %s", strerror(errno));
        return;
    }
}

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        fail(c, false, "connect to %s:%s: %s", opt.host, opt.port, strerror(err));
        return;
    }
    send_upgrade(c);
}

/* Timers: rounds, hold, deadlines. Returns when it next needs a tick. */
static int64_t tick(conn_t *c, int64_t now)
{
    if (c->st == C_DONE)
        return INT64_MAX;
    int64_t next = INT64_MAX;
    if (c->deadline && now >= c->deadline) {
        fail(c, false, "timed out %s",
             c->st == C_CONNECTING  ? "connecting"
             : c->st == C_HANDSHAKE ? "waiting for the handshake response"
             : c->st == C_CLOSING   ? "waiting for the close reply"
             : c->st == C_WAIT_EOF  ? "waiting for the server to close the TCP connection"
                                    : "waiting for the server's close frame");
        return INT64_MAX;
    }
    if (c->deadline)
        next = c->deadline;
    if (c->st != C_OPEN)
        return next;
    bool done = sending_done(c, now);
    if (!done && now >= c->next_round && c->out.off == c->out.len) {
        if (c->matched == c->next_seq)
            c->progress = now;
        for (int i = 0; i < opt.nmsgs; i++)
            send_message(c);
        c->rounds++;
        c->next_round = now + opt.interval_ms;
        done = sending_done(c, now);
    }
    if (!done && c->next_round < next)
        next = c->next_round > now ? c->next_round : now + 1;
    if (opt.hold_ms && !opt.count_set && !done && t_start + opt.hold_ms < next)
        next = t_start + opt.hold_ms;
    if (c->matched < c->next_seq) {
        if (now - c->progress >= opt.timeout_ms) {
            fail(c, false, "timed out waiting for echoes (%" PRIu64 " outstanding)",
                 c->next_seq - c->matched);
            return INT64_MAX;
        }
        if (c->progress + opt.timeout_ms < next)
            next = c->progress + opt.timeout_ms;
        return next;
    }
    if (!done)
        return next;
    if (!hold_over(now))
        return t_start + opt.hold_ms < next ? t_start + opt.hold_ms : next;
    if (opt.expect_server_close) {
        if (!c->deadline)
            c->deadline = now + opt.timeout_ms;
        return c->deadline;
    }
    send_close(c, (int)opt.close_code); /* §7.1.2: start the closing handshake */
    c->st = C_CLOSING;
    c->deadline = now + opt.timeout_ms;
    return now; /* flush it */
}

/* ---- command line and main -------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xp_wsclient --url ws://HOST[:PORT]/PATH [--host HEADER] [--header 'N: v']...\n"
            "         [--text STR]... [--binary-size N]... [--count K] [--interval-ms T]\n"
            "         [--expect-server-close] [--close-code C] [--timeout-ms T] [--hold-ms T]\n"
            "         [--stop-file PATH]\n"
            "         [--connections N] [--fragment BYTES] [-v]\n"
            "Sends every message K times (rounds --interval-ms apart), checks each echo, then\n"
            "closes (or waits for the server to). Prints a JSON summary; exit 0 iff all matched.\n"
            "--hold-ms without --count: rounds continue until T ms after start, or until\n"
            "PATH (--stop-file) exists.\n");
}

static bool parse_url(const char *url)
{
    if (strncmp(url, "ws://", 5) != 0)
        return false;
    const char *a = url + 5, *slash = strchr(a, '/');
    size_t alen = slash ? (size_t)(slash - a) : strlen(a);
    snprintf(opt.path, sizeof(opt.path), "%s", slash ? slash : "/");
    const char *hs = a, *he, *colon;
    if (*a == '[') {
        he = memchr(a, ']', alen);
        if (!he)
            return false;
        hs = a + 1;
        colon = he + 1 < a + alen && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memchr(a, ':', alen);
        he = colon ? colon : a + alen;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof(opt.host))
        return false;
    memcpy(opt.host, hs, (size_t)(he - hs));
    opt.host[he - hs] = '\0';
    size_t plen = colon ? (size_t)(a + alen - colon - 1) : 0;
    if (colon && (plen == 0 || plen >= sizeof(opt.port)))
        return false;
    snprintf(opt.port, sizeof(opt.port), "%.*s", colon ? (int)plen : 2, colon ? colon + 1 : "80");
    return true;
}

static int64_t num_arg(const char *name, const char *v, int64_t min, int64_t max)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || end == v || n < min || n > max) {
        fprintf(stderr, "xp_wsclient: %s: '%s' is not a number in %" PRId64 "..%" PRId64 "\n", name,
                v, min, max);
        exit(2);
    }
    return n;
}

static void parse_args(int argc, char **argv)
{
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool flag = !strcmp(a, "--expect-server-close") || !strcmp(a, "-v") || !strcmp(a, "-h") ||
                    !strcmp(a, "--help");
        if (!flag && !v) {
            fprintf(stderr, "xp_wsclient: %s needs a value\n", a);
            exit(2);
        }
        if (!flag)
            i++;
        if (!strcmp(a, "--url"))
            url = v;
        else if (!strcmp(a, "--host"))
            opt.host_header = v;
        else if (!strcmp(a, "--header") && opt.nheaders < MAX_HEADERS)
            opt.headers[opt.nheaders++] = v;
        else if ((!strcmp(a, "--text") || !strcmp(a, "--binary-size")) && opt.nmsgs < MAX_MSGS) {
            msg_t *m = &opt.msgs[opt.nmsgs++];
            m->opcode = a[2] == 't' ? XPT_WS_TEXT : XPT_WS_BINARY;
            m->text = v;
            if (m->opcode == XPT_WS_BINARY)
                m->size = (size_t)num_arg(a, v, 0, MAX_MESSAGE);
        } else if (!strcmp(a, "--count")) {
            opt.count = (uint64_t)num_arg(a, v, 0, INT64_MAX);
            opt.count_set = true;
        } else if (!strcmp(a, "--interval-ms"))
            opt.interval_ms = num_arg(a, v, 0, 86400000);
        else if (!strcmp(a, "--timeout-ms"))
            opt.timeout_ms = num_arg(a, v, 1, 86400000);
        else if (!strcmp(a, "--hold-ms"))
            opt.hold_ms = num_arg(a, v, 0, 86400000);
        else if (!strcmp(a, "--stop-file"))
            opt.stop_file = v;
        else if (!strcmp(a, "--close-code"))
            opt.close_code = (unsigned)num_arg(a, v, 0, 65535);
        else if (!strcmp(a, "--connections")) {
            opt.connections = (int)num_arg(a, v, 1, 100000);
            opt.multi = true;
        } else if (!strcmp(a, "--fragment"))
            opt.fragment = (size_t)num_arg(a, v, 0, MAX_MESSAGE);
        else if (!strcmp(a, "--expect-server-close"))
            opt.expect_server_close = true;
        else if (!strcmp(a, "-v"))
            opt.verbose = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "xp_wsclient: bad argument '%s'\n", a);
            usage(stderr);
            exit(2);
        }
    }
    if (!url || !parse_url(url)) {
        fprintf(stderr,
                "xp_wsclient: --url ws://HOST[:PORT]/PATH is required (wss is not supported)\n");
        exit(2);
    }
    if (opt.nmsgs == 0) {
        opt.msgs[0] = (msg_t){.opcode = XPT_WS_TEXT, .text = "xp_wsclient"};
        opt.nmsgs = 1;
    }
    if (!opt.host_header) {
        static char hh[300];
        bool v6 = strchr(opt.host, ':') != NULL;
        snprintf(hh, sizeof(hh), "%s%s%s%s%s", v6 ? "[" : "", opt.host, v6 ? "]" : "",
                 strcmp(opt.port, "80") ? ":" : "", strcmp(opt.port, "80") ? opt.port : "");
        opt.host_header = hh;
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    RAND_bytes((unsigned char *)&seed, sizeof(seed));
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int grc = getaddrinfo(opt.host, opt.port, &hints, &ai);
    if (grc != 0) {
        fprintf(stderr, "xp_wsclient: resolve %s: %s\n", opt.host, gai_strerror(grc));
        return 2;
    }
    int n = opt.connections;
    conns = xp_calloc((size_t)n, sizeof(conn_t));
    struct pollfd *pfd = xp_calloc((size_t)n, sizeof(struct pollfd));
    int *map = xp_calloc((size_t)n, sizeof(int));
    t_start = now_ms();
    for (int i = 0; i < n; i++) {
        conns[i].idx = i;
        conns[i].close_code = -1;
        conns[i].highest = -1;
        conns[i].next_round = t_start;
        start_connect(&conns[i], ai);
    }
    freeaddrinfo(ai);

    for (;;) {
        int64_t now = now_ms(), wake = INT64_MAX;
        int np = 0;
        for (int i = 0; i < n; i++) {
            conn_t *c = &conns[i];
            int64_t t = tick(c, now);
            wake = t < wake ? t : wake;
            if (c->st == C_DONE)
                continue;
            pfd[np].fd = c->fd;
            pfd[np].events = c->st == C_CONNECTING ? POLLOUT : POLLIN;
            if (c->out.off < c->out.len)
                pfd[np].events |= POLLOUT;
            pfd[np].revents = 0;
            map[np++] = i;
        }
        if (np == 0)
            break;
        int64_t wait = wake == INT64_MAX ? 1000 : wake - now;
        wait = wait < 0 ? 0 : wait > 1000 ? 1000 : wait;
        if (poll(pfd, (nfds_t)np, (int)wait) < 0 && errno != EINTR) {
            perror("xp_wsclient: poll");
            return 1;
        }
        for (int k = 0; k < np; k++) {
            conn_t *c = &conns[map[k]];
            short re = pfd[k].revents;
            if (!re || c->st == C_DONE)
                continue;
            if (c->st == C_CONNECTING) {
                on_connected(c);
                continue; /* the upgrade request goes out next round */
            }
            if (re & (POLLIN | POLLHUP | POLLERR))
                do_read(c);
            if (c->st != C_DONE && c->out.off < c->out.len)
                do_write(c);
        }
    }

    uint64_t sent = 0, received = 0, mism = 0, lost = 0, reord = 0, early = 0, failed = 0;
    int hs = 101;
    for (int i = 0; i < n; i++) {
        conn_t *c = &conns[i];
        sent += c->next_seq;
        received += c->received;
        mism += c->mismatches;
        lost += c->next_seq - c->matched;
        reord += c->reordered;
        early += c->closed_early;
        failed += c->failed;
        if (c->handshake_status != 101 && hs == 101)
            hs = c->handshake_status;
        free(c->out.p);
        free(c->in.p);
        free(c->msg.p);
        free(c->seen);
    }
    char cc[16] = "null";
    if (conns[0].close_code >= 0)
        snprintf(cc, sizeof(cc), "%d", conns[0].close_code);
    printf("{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"mismatches\":%" PRIu64
           ",\"close_code\":%s,\"handshake_status\":%d",
           sent, received, mism, cc, hs);
    if (opt.multi)
        printf(",\"connections\":%d,\"closed_early\":%" PRIu64 ",\"lost\":%" PRIu64
               ",\"reordered\":%" PRIu64 ",\"failed\":%" PRIu64,
               n, early, lost, reord, failed);
    printf("}\n");
    if (errors_shown > MAX_ERRORS_SHOWN)
        fprintf(stderr, "xp_wsclient: ... %d more errors\n", errors_shown - MAX_ERRORS_SHOWN);
    if (!failed && (mism || lost || reord))
        fprintf(stderr,
                "xp_wsclient: %" PRIu64 " mismatched, %" PRIu64 " lost, %" PRIu64
                " reordered messages\n",
                mism, lost, reord);
    free(conns);
    free(pfd);
    free(map);
    free(scratch.p);
    return failed || mism || lost || reord || early ? 1 : 0;
}
