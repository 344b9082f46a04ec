/* ws_load: keeps many WebSockets open across many workspace paths for the
 * promise tests, and says whether a config change closed, lost or reordered
 * anything.
 *
 *   ws_load --port P [--host 127.0.0.1] --ids A-B [--ids C-D]...
 *           [--per N | --total N] [--path-fmt "/webapp-01/ide-%03d/ws"]
 *           [--interval-ms T]
 *           [--src] [--ready-file F] [--duration-ms T]
 *
 * For every workspace id in the ranges it opens --per WebSockets (default
 * 5; --total N instead spreads N round-robin over the ids) to path-fmt(id) (with --src each one is
 * bound to the source address 127.1.<id/256>.<id%256>, so a listener can pick a filter chain per
 * workspace by source_prefix_ranges), then every --interval-ms sends one
 * masked text message "<conn>:<seq>:<id>" on each connection and expects
 * exactly that text back, in order. It writes --ready-file ("ready N") once
 * every handshake has answered 101, and runs until SIGINT/SIGTERM (or
 * --duration-ms). Then it stops sending, waits up to 5 s for the echoes in
 * flight, closes every connection with a 1000 close handshake and prints one
 * JSON line:
 *
 *   {"connections":N,"opened":N,"handshake_failed":0,"sent":S,"received":R,
 *    "lost":0,"reordered":0,"mismatched":0,"closed_early":0,"close_ok":N,
 *    "stalled":0,"max_gap_ms":G,"elapsed_ms":E}
 *
 * closed_early counts connections that ended (EOF, reset, close frame,
 * error) before we closed them; stalled counts open connections without an
 * echo in the last 5 s when the run stopped; max_gap_ms is the longest time
 * any connection went without an echo while it had messages outstanding.
 * SIGUSR1 prints the same line (so far) on stderr without stopping.
 * Exit 0 when every connection opened and nothing was closed early, lost,
 * reordered, mismatched or stalled; 1 otherwise; 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/tools/ws.h"

#define MAX_RANGES 64
#define STALL_MS   5000
#define DRAIN_MS   5000
#define MAX_SHOWN  20
#define BATCH      64 /* connects started per loop turn while opening */

typedef enum { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSING, S_DONE } state_t;

typedef struct {
    int fd, idx, id;
    state_t st;
    char key[25];
    uint8_t *in, *out;
    size_t in_len, in_cap, out_off, out_len, out_cap;
    uint64_t next_seq, expect_seq;
    int64_t next_send, last_echo;
    bool closed_early, handshake_failed, close_ok, was_open;
} conn_t;

static struct {
    const char *host, *path_fmt, *ready_file;
    int port, per, total;
    int64_t interval_ms, duration_ms;
    bool src;
    int ranges[MAX_RANGES][2], nranges;
} opt = {"127.0.0.1", "/webapp-01/ide-%03d/ws", NULL, 0, 5, 0, 100, 0, false, {{0}}, 0};

static conn_t *conns;
static int nconns, ep;
static volatile sig_atomic_t stop_flag, report_flag;
static uint64_t sent, received, lost, reordered, mismatched;
static int64_t max_gap, t0;
static int shown;
static int stalled_at_stop = -1;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void note(const conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const conn_t *c, const char *fmt, ...)
{
    if (shown++ >= MAX_SHOWN)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ws_load: conn %d (ide %d) at +%" PRId64 " ms: ", c->idx, c->id, now_ms() - t0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        perror("ws_load: realloc");
        exit(2);
    }
    return q;
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        report_flag = 1;
    else
        stop_flag = 1;
}

static void watch(conn_t *c, uint32_t ev, int op)
{
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(ep, op, c->fd, &e);
}

static void finish(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->st = S_DONE;
}

/* The connection ended before we closed it. */
static void died(conn_t *c, const char *why)
{
    if (c->st == S_CONNECTING || c->st == S_HANDSHAKE) {
        c->handshake_failed = true;
        note(c, "handshake failed: %s", why);
    } else if (c->st == S_OPEN) {
        c->closed_early = true;
        note(c, "closed early: %s (sent %" PRIu64 ", echoed %" PRIu64 ")", why, c->next_seq,
             c->expect_seq);
    } else if (c->st == S_CLOSING && !c->close_ok) {
        note(c, "no close reply: %s", why);
    }
    finish(c);
}

static void flush(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            watch(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
            return;
        }
        if (w <= 0) {
            died(c, strerror(errno));
            return;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void queue(conn_t *c, const void *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void send_frame(conn_t *c, uint8_t opcode, const void *payload, size_t len)
{
    uint8_t hdr[XPT_WS_MAX_HEADER], mask[4], buf[256];
    uint32_t r = (uint32_t)rand();
    memcpy(mask, &r, 4);
    size_t hl = xpt_ws_write_header(hdr, true, opcode, mask, len);
    queue(c, hdr, hl);
    memcpy(buf, payload, len);
    xpt_ws_mask(buf, len, mask, 0);
    queue(c, buf, len);
    flush(c);
}

static int fmt_msg(char *buf, size_t cap, const conn_t *c, uint64_t seq)
{
    return snprintf(buf, cap, "%d:%" PRIu64 ":%d", c->idx, seq, c->id);
}

static void send_next(conn_t *c, int64_t now)
{
    char msg[64];
    int n = fmt_msg(msg, sizeof(msg), c, c->next_seq);
    if (c->expect_seq == c->next_seq)
        c->last_echo = now; /* the gap clock starts with the first outstanding message */
    c->next_seq++;
    sent++;
    send_frame(c, XPT_WS_TEXT, msg, (size_t)n);
}

static void start_connect(conn_t *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("ws_load: socket");
        exit(2);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (opt.src) {
        struct sockaddr_in s = {.sin_family = AF_INET};
        char ip[32];
        snprintf(ip, sizeof(ip), "127.1.%d.%d", (c->id >> 8) & 255, c->id & 255);
        inet_pton(AF_INET, ip, &s.sin_addr);
        if (bind(c->fd, (struct sockaddr *)&s, sizeof(s)) < 0) {
            perror("ws_load: bind source");
            exit(2);
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &a.sin_addr);
    c->st = S_CONNECTING;
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
        struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
        died(c, strerror(errno));
        return;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
}

static void on_connected(conn_t *c)
{
    int err = 0;
    socklen_t l = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
        died(c, strerror(err));
        return;
    }
    uint8_t raw[16];
    for (int i = 0; i < 16; i++)
        raw[i] = (uint8_t)rand();
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int k = 0;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        c->key[k++] = b64[v >> 18 & 63];
        c->key[k++] = b64[v >> 12 & 63];
        c->key[k++] = b64[v >> 6 & 63];
        c->key[k++] = b64[v & 63];
    }
    c->key[k++] = b64[raw[15] >> 2];
    c->key[k++] = b64[(raw[15] & 3) << 4];
    c->key[k++] = '=';
    c->key[k++] = '=';
    c->key[k] = '\0';
    char path[512], req[1024];
    snprintf(path, sizeof(path), opt.path_fmt, c->id);
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: ide.example\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, c->key);
    c->st = S_HANDSHAKE;
    queue(c, req, (size_t)n);
    flush(c);
}

/* Parses the 101; returns bytes consumed, 0 if incomplete, -1 if failed. */
static long parse_handshake(conn_t *c)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end)
        return c->in_len > 16384 ? -1 : 0;
    *end = '\0';
    int status = 0;
    sscanf((char *)c->in, "HTTP/1.1 %d", &status);
    char want[XPT_WS_ACCEPT_LEN + 1];
    xpt_ws_accept(c->key, strlen(c->key), want);
    if (status != 101 || !strcasestr((char *)c->in, want)) {
        char first[128];
        snprintf(first, sizeof(first), "%s", (char *)c->in);
        char *nl = strpbrk(first, "\r\n");
        if (nl)
            *nl = '\0';
        c->handshake_failed = true;
        note(c, "handshake: '%s'", first);
        return -1;
    }
    return end + 4 - (char *)c->in;
}

static void on_message(conn_t *c, uint8_t opcode, const uint8_t *p, size_t len, int64_t now)
{
    if (opcode == XPT_WS_CLOSE) {
        if (c->st == S_CLOSING) {
            c->close_ok = true;
            return;
        }
        died(c, "close frame from the server");
        return;
    }
    if (opcode == XPT_WS_PING) {
        send_frame(c, XPT_WS_PONG, p, len);
        return;
    }
    if (opcode != XPT_WS_TEXT)
        return;
    char want[64], got[64];
    int wn = fmt_msg(want, sizeof(want), c, c->expect_seq);
    received++;
    if ((size_t)wn == len && memcmp(want, p, len) == 0) {
        if (now - c->last_echo > max_gap)
            max_gap = now - c->last_echo;
        c->last_echo = now;
        c->expect_seq++;
        return;
    }
    snprintf(got, sizeof(got), "%.*s", (int)(len < 60 ? len : 60), (const char *)p);
    int idx = -1, id = -1;
    uint64_t seq = 0;
    if (sscanf(got, "%d:%" SCNu64 ":%d", &idx, &seq, &id) == 3 && idx == c->idx && id == c->id) {
        if (seq > c->expect_seq) {
            lost += seq - c->expect_seq;
            note(c, "lost seq %" PRIu64 "..%" PRIu64, c->expect_seq, seq - 1);
            c->expect_seq = seq + 1;
        } else {
            reordered++;
            note(c, "reordered: got seq %" PRIu64 ", want %" PRIu64, seq, c->expect_seq);
        }
    } else {
        mismatched++;
        note(c, "mismatched echo '%s', want '%s'", got, want);
    }
    c->last_echo = now;
}

static void on_readable(conn_t *c, int64_t now)
{
    const char *eof = NULL; /* the peer closed after the bytes read (processed first) */
    for (;;) {
        if (c->in_cap - c->in_len < 4096) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
            c->in = xrealloc(c->in, c->in_cap + 1);
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            eof = r == 0 ? "EOF" : strerror(errno);
            break;
        }
        c->in_len += (size_t)r;
    }
    size_t off = 0;
    if (c->st == S_HANDSHAKE) {
        long n = parse_handshake(c);
        if (n < 0) {
            finish(c);
            return;
        }
        if (n == 0) {
            if (eof)
                died(c, eof);
            return;
        }
        off = (size_t)n;
        c->st = S_OPEN;
        c->was_open = true;
        c->next_send = now + rand() % (opt.interval_ms ? opt.interval_ms : 1);
        c->last_echo = now;
    }
    while (c->fd >= 0 && off < c->in_len) {
        xpt_ws_frame_t f;
        int hl = xpt_ws_parse_header(c->in + off, c->in_len - off, &f);
        if (hl < 0) {
            died(c, "bad frame header");
            return;
        }
        if (hl == 0 || c->in_len - off - (size_t)hl < f.len)
            break;
        if (f.masked || !f.fin) {
            died(c, "masked or fragmented frame from the server");
            return;
        }
        on_message(c, f.opcode, c->in + off + hl, (size_t)f.len, now);
        off += (size_t)hl + (size_t)f.len;
    }
    if (c->fd >= 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->fd >= 0 && eof) {
        if (c->st == S_CLOSING && c->close_ok)
            finish(c);
        else
            died(c, eof);
    }
}

static void report(FILE *f)
{
    int opened = 0, hs_failed = 0, early = 0, close_ok = 0, stalled = 0;
    uint64_t pending = 0;
    int64_t now = now_ms();
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        opened += c->was_open;
        hs_failed += c->handshake_failed;
        early += c->closed_early;
        close_ok += c->close_ok;
        if (c->st == S_OPEN && c->next_seq > c->expect_seq && now - c->last_echo > STALL_MS)
            stalled++;
        if (stalled_at_stop >= 0)
            stalled = stalled_at_stop;
        pending += c->next_seq - c->expect_seq;
    }
    fprintf(f,
            "{\"connections\":%d,\"opened\":%d,\"handshake_failed\":%d,\"sent\":%" PRIu64
            ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"reordered\":%" PRIu64
            ",\"mismatched\":%" PRIu64 ",\"closed_early\":%d,\"close_ok\":%d,\"stalled\":%d"
            ",\"pending\":%" PRIu64 ",\"max_gap_ms\":%" PRId64 ",\"elapsed_ms\":%" PRId64 "}\n",
            nconns, opened, hs_failed, sent, received, lost, reordered, mismatched, early, close_ok,
            stalled, pending, max_gap, now - t0);
    fflush(f);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ws_load --port P [--host IP] --ids A-B [--ids C-D]... [--per N|--total N]\n"
            "               [--path-fmt FMT] [--interval-ms T] [--src] [--ready-file F]\n"
            "               [--duration-ms T]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--src")) {
            opt.src = true;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port"))
            opt.port = atoi(v);
        else if (!strcmp(a, "--host"))
            opt.host = v;
        else if (!strcmp(a, "--per"))
            opt.per = atoi(v);
        else if (!strcmp(a, "--total"))
            opt.total = atoi(v);
        else if (!strcmp(a, "--path-fmt"))
            opt.path_fmt = v;
        else if (!strcmp(a, "--interval-ms"))
            opt.interval_ms = atoll(v);
        else if (!strcmp(a, "--duration-ms"))
            opt.duration_ms = atoll(v);
        else if (!strcmp(a, "--ready-file"))
            opt.ready_file = v;
        else if (!strcmp(a, "--ids") && opt.nranges < MAX_RANGES) {
            int lo, hi;
            if (sscanf(v, "%d-%d", &lo, &hi) != 2) {
                if (sscanf(v, "%d", &lo) != 1)
                    usage();
                hi = lo;
            }
            opt.ranges[opt.nranges][0] = lo;
            opt.ranges[opt.nranges][1] = hi;
            opt.nranges++;
        } else
            usage();
    }
    if (opt.port <= 0 || opt.nranges == 0 || opt.per <= 0 || opt.interval_ms <= 0)
        usage();
    int nids = 0;
    for (int r = 0; r < opt.nranges; r++)
        nids += opt.ranges[r][1] - opt.ranges[r][0] + 1;
    if (nids <= 0)
        usage();
    int *ids = calloc((size_t)nids, sizeof(*ids)), m = 0;
    for (int r = 0; r < opt.nranges; r++)
        for (int id = opt.ranges[r][0]; id <= opt.ranges[r][1]; id++)
            ids[m++] = id;
    /* --total spreads N connections round-robin over the ids; else --per
     * connections per id. */
    nconns = opt.total ? opt.total : nids * opt.per;
    conns = calloc((size_t)nconns, sizeof(*conns));
    for (int k = 0; k < nconns; k++)
        conns[k] = (conn_t){
            .fd = -1, .idx = k, .id = opt.total ? ids[k % nids] : ids[k / opt.per], .st = S_IDLE};
    free(ids);
    srand((unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    ep = epoll_create1(EPOLL_CLOEXEC);
    t0 = now_ms();

    int next_connect = 0;
    bool ready = false, stopping = false, closing = false;
    int64_t stop_at = 0, close_at = 0;
    struct epoll_event evs[256];
    for (;;) {
        int64_t now = now_ms();
        if (report_flag) {
            report_flag = 0;
            report(stderr);
        }
        if (!stopping && (stop_flag || (opt.duration_ms && now - t0 >= opt.duration_ms))) {
            stopping = true;
            stop_at = now;
            stalled_at_stop = 0;
            for (int i = 0; i < nconns; i++)
                if (conns[i].st == S_OPEN && now - conns[i].last_echo > STALL_MS) {
                    stalled_at_stop++;
                    note(&conns[i], "stalled: no echo for %" PRId64 " ms",
                         now - conns[i].last_echo);
                }
        }
        /* Open in batches so the listen backlog is never the limit. */
        for (int b = 0; b < BATCH && next_connect < nconns && !stopping; b++)
            start_connect(&conns[next_connect++]);
        int open = 0, done = 0;
        uint64_t pending = 0;
        for (int i = 0; i < nconns; i++) {
            conn_t *c = &conns[i];
            open += c->st == S_OPEN;
            done += c->st == S_DONE;
            if (c->st == S_OPEN)
                pending += c->next_seq - c->expect_seq;
            if (c->st == S_OPEN && !stopping && now >= c->next_send) {
                send_next(c, now);
                c->next_send += opt.interval_ms;
                if (c->next_send < now)
                    c->next_send = now + opt.interval_ms;
            }
        }
        if (!ready && next_connect == nconns && open + done == nconns && opt.ready_file) {
            ready = true;
            char tmp[4096];
            snprintf(tmp, sizeof(tmp), "%s.tmp", opt.ready_file);
            FILE *f = fopen(tmp, "w");
            if (f) {
                fprintf(f, "ready %d of %d\n", open, nconns);
                fclose(f);
                rename(tmp, opt.ready_file);
            }
        }
        if (stopping && !closing && (pending == 0 || now - stop_at >= DRAIN_MS)) {
            closing = true;
            close_at = now;
            for (int i = 0; i < nconns; i++) {
                conn_t *c = &conns[i];
                if (c->st == S_OPEN) {
                    if (c->next_seq > c->expect_seq) {
                        lost += c->next_seq - c->expect_seq;
                        note(c, "%" PRIu64 " messages never echoed", c->next_seq - c->expect_seq);
                    }
                    if (now - c->last_echo > max_gap && c->next_seq > c->expect_seq)
                        max_gap = now - c->last_echo;
                    uint8_t code[2] = {1000 >> 8, 1000 & 255};
                    c->st = S_CLOSING;
                    send_frame(c, XPT_WS_CLOSE, code, 2);
                } else if (c->st != S_DONE && c->st != S_CLOSING) {
                    finish(c);
                }
            }
        }
        if (closing && (done == nconns || now - close_at >= DRAIN_MS))
            break;
        int n = epoll_wait(ep, evs, 256, 5);
        now = now_ms();
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if (c->st == S_CONNECTING) {
                on_connected(c);
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                flush(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                on_readable(c, now);
        }
    }
    int still = 0;
    for (int i = 0; i < nconns; i++)
        if (conns[i].st != S_DONE) {
            still++;
            if (conns[i].st == S_CLOSING && !conns[i].close_ok)
                note(&conns[i], "no close reply within %d ms", DRAIN_MS);
            finish(&conns[i]);
        }
    report(stdout);
    int bad = 0;
    for (int i = 0; i < nconns; i++)
        bad += conns[i].handshake_failed || conns[i].closed_early || !conns[i].close_ok;
    for (int i = 0; i < nconns; i++) {
        free(conns[i].in);
        free(conns[i].out);
    }
    free(conns);
    close(ep);
    return bad || lost || reordered || mismatched || stalled_at_stop > 0 ? 1 : 0;
}
