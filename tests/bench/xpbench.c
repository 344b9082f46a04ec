/* xpbench: the benchmark suite's own load tools, one small epoll program
 * (plain C, no dependencies, built by tests/bench/run.sh with gcc).
 *
 *   xpbench ws-idle  --port P [--path /ws] --n N --ready-file F
 *       opens N WebSockets (at most 256 handshakes in flight), writes
 *       "<open> <failed>" to F once every handshake has finished, then holds
 *       them idle until SIGTERM/SIGINT.
 *   xpbench ws-echo  --port P [--path /ws] --n N [--size B] --seconds S [--warmup W]
 *       opens N WebSockets, then on each keeps exactly one message of B bytes
 *       in flight (send, wait for the echo, send again) for W + S seconds;
 *       prints "msgs_per_s <rate> echoes <n> errors <e>" over the last S.
 *       --seconds 0 is a check: one echo on every connection, exit 0 if so.
 *   xpbench ready    --port P [--path /ready] -- CMD ARGS...
 *       starts CMD and polls GET PATH on 127.0.0.1:P every 0.5 ms until it
 *       answers 200; prints "ready_ms <ms> pid <pid>" and leaves CMD running.
 *   xpbench push-poll --admin-port A --put PATH --body-file F
 *                     --port P --path X --want-status S [--interval-us 200]
 *                     [--timeout-s 30]
 *       sends F as "PUT PATH" to 127.0.0.1:A (xds-server's admin API) and
 *       waits for its 200, whose published_ns says when (CLOCK_MONOTONIC)
 *       the new version was handed to the xDS streams; from the reply on,
 *       sends GET X on one keep-alive connection to 127.0.0.1:P every
 *       interval until a response has status S; prints "ms <published to
 *       first response with S> polls <requests> put_ms <PUT duration>
 *       reply_ms <published to reply received>". When the first poll
 *       already sees S, the change took effect somewhere within ms: the
 *       figure is an upper bound, never an undercount.
 *   xpbench push-poll --port P --path X --count N [--interval-us 200]
 *       without a PUT: N requests paced the same way whatever they answer
 *       (the CPU baseline of polling); prints "polls <N> ms <elapsed>".
 *
 * Every echo is checked (length and first bytes); a mismatch counts as an
 * error. The WebSocket handshake's accept key is not verified: the peers are
 * the suite's own upstream behind the proxy under test. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG 4096

static int port;
static const char *path;
static volatile sig_atomic_t stop_flag;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* A TCP connection to 127.0.0.1:p (TCP_NODELAY), blocking or not (then the
 * connect may still be in progress); -1 on failure. */
static int connect_to(int p, bool nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
        !(nonblock && errno == EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- WebSocket connections ------------------------------------------- */

enum { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_DEAD };

typedef struct {
    int fd, st;
    size_t hs_sent; /* bytes of the upgrade request written */
    char in[MAX_MSG + 64];
    size_t inlen;
    uint64_t echoes, errors;
} ws_t;

static char upgrade_req[512];
static size_t upgrade_len;
static uint8_t frame[MAX_MSG + 16];
static size_t frame_len, msg_size;

static void build_requests(void)
{
    upgrade_len = (size_t)snprintf(upgrade_req, sizeof(upgrade_req),
                                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n",
                                   path, port);
    /* One masked binary frame of msg_size bytes (RFC 6455 §5.2). */
    size_t h = 0;
    frame[h++] = 0x82;
    if (msg_size < 126) {
        frame[h++] = (uint8_t)(0x80 | msg_size);
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (uint8_t)(msg_size >> 8);
        frame[h++] = (uint8_t)msg_size;
    }
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < msg_size; i++)
        frame[h + i] = (uint8_t)('a' + i % 26) ^ mask[i % 4];
    frame_len = h + msg_size;
}

/* The echo the server sends back: unmasked, same payload. */
static size_t echo_len(void)
{
    return (msg_size < 126 ? 2 : 4) + msg_size;
}

static int send_all(int fd, const void *p, size_t n)
{
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    return w == (ssize_t)n ? 0 : -1; /* small writes on a fresh socket buffer */
}

static int epfd;
static ws_t *conns;
static int nconns, nopen, nfailed, ninflight;

static void ws_fail(ws_t *c)
{
    if (c->st == S_DEAD)
        return;
    if (c->st != S_OPEN)
        ninflight--;
    else
        nopen--;
    c->st = S_DEAD;
    nfailed++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
}

static void ws_start(ws_t *c)
{
    c->fd = connect_to(port, true);
    if (c->fd < 0) {
        c->st = S_DEAD;
        nfailed++;
        return;
    }
    c->st = S_CONNECTING;
    ninflight++;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* Handles readiness for a connection still in its handshake. Returns true
 * when it just became open. */
static int ws_handshake_event(ws_t *c, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        ws_fail(c);
        return 0;
    }
    if (c->st == S_CONNECTING && (events & EPOLLOUT)) {
        ssize_t w = send(c->fd, upgrade_req + c->hs_sent, upgrade_len - c->hs_sent, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
            ws_fail(c);
            return 0;
        }
        if (w > 0)
            c->hs_sent += (size_t)w;
        if (c->hs_sent == upgrade_len) {
            c->st = S_HANDSHAKE;
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
            epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
    if (events & EPOLLIN) {
        ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen, 0);
        if (r <= 0) {
            if (r < 0 && errno == EAGAIN)
                return 0;
            ws_fail(c);
            return 0;
        }
        c->inlen += (size_t)r;
        c->in[c->inlen] = '\0';
        char *end = strstr(c->in, "\r\n\r\n");
        if (!end) {
            if (c->inlen >= sizeof(c->in) - 1)
                ws_fail(c);
            return 0;
        }
        if (strncmp(c->in, "HTTP/1.1 101", 12) != 0) {
            ws_fail(c);
            return 0;
        }
        size_t rest = c->inlen - (size_t)(end + 4 - c->in);
        memmove(c->in, end + 4, rest);
        c->inlen = rest;
        c->st = S_OPEN;
        ninflight--;
        nopen++;
        return 1;
    }
    return 0;
}

static void parse_common(int argc, char **argv, int *i, int *n, int *seconds, int *warmup,
                         const char **ready_file)
{
    for (; *i < argc; (*i)++) {
        const char *a = argv[*i];
        if (!strcmp(a, "--")) {
            (*i)++;
            return;
        }
        if (*i + 1 >= argc) {
            fprintf(stderr, "xpbench: %s needs a value\n", a);
            exit(2);
        }
        const char *v = argv[++(*i)];
        if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--path"))
            path = v;
        else if (!strcmp(a, "--n"))
            *n = atoi(v);
        else if (!strcmp(a, "--size"))
            msg_size = (size_t)atoi(v);
        else if (!strcmp(a, "--seconds"))
            *seconds = atoi(v);
        else if (!strcmp(a, "--warmup"))
            *warmup = atoi(v);
        else if (!strcmp(a, "--ready-file"))
            *ready_file = v;
        else {
            fprintf(stderr, "xpbench: unknown option %s\n", a);
            exit(2);
        }
    }
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Opens all N connections, at most 256 handshakes at a time. */
static void open_all(void)
{
    int next = 0;
    struct epoll_event evs[256];
    double deadline = now_s() + 60;
    while ((next < nconns || ninflight > 0) && !stop_flag && now_s() < deadline) {
        while (next < nconns && ninflight < 256)
            ws_start(&conns[next++]);
        int k = epoll_wait(epfd, evs, 256, 100);
        for (int j = 0; j < k; j++) {
            ws_t *c = evs[j].data.ptr;
            if (c->st == S_CONNECTING || c->st == S_HANDSHAKE)
                ws_handshake_event(c, evs[j].events);
        }
    }
    for (int j = 0; j < nconns; j++)
        if (conns[j].st == S_CONNECTING || conns[j].st == S_HANDSHAKE)
            ws_fail(&conns[j]);
}

static int cmd_ws_idle(int argc, char **argv, int i)
{
    int n = 0, seconds = 0, warmup = 0;
    const char *ready_file = NULL;
    parse_common(argc, argv, &i, &n, &seconds, &warmup, &ready_file);
    if (!port || n <= 0 || !ready_file) {
        fprintf(stderr, "xpbench ws-idle: --port, --n and --ready-file are required\n");
        return 2;
    }
    raise_nofile();
    build_requests();
    nconns = n;
    conns = calloc((size_t)n, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    open_all();
    /* Idle: nothing is read any more; the proxy must hold the tunnels. */
    for (int j = 0; j < nconns; j++)
        if (conns[j].st == S_OPEN)
            epoll_ctl(epfd, EPOLL_CTL_DEL, conns[j].fd, NULL);
    FILE *f = fopen(ready_file, "w");
    if (!f)
        die(ready_file);
    fprintf(f, "%d %d\n", nopen, nfailed);
    fclose(f);
    while (!stop_flag)
        pause();
    for (int j = 0; j < nconns; j++)
        if (conns[j].st == S_OPEN)
            close(conns[j].fd);
    return 0;
}

static int cmd_ws_echo(int argc, char **argv, int i)
{
    int n = 200, seconds = 10, warmup = 1;
    const char *ready_file = NULL;
    msg_size = 32;
    parse_common(argc, argv, &i, &n, &seconds, &warmup, &ready_file);
    if (!port || n <= 0 || msg_size == 0 || msg_size > MAX_MSG - 16) {
        fprintf(stderr, "xpbench ws-echo: --port and --n are required; --size 1..%d\n",
                MAX_MSG - 16);
        return 2;
    }
    raise_nofile();
    build_requests();
    nconns = n;
    conns = calloc((size_t)n, sizeof(*conns));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    open_all();
    if (nopen != n) {
        fprintf(stderr, "xpbench ws-echo: only %d of %d WebSockets opened\n", nopen, n);
        return 1;
    }
    const size_t elen = echo_len();
    uint8_t unmasked[MAX_MSG];
    for (size_t k = 0; k < msg_size; k++)
        unmasked[k] = (uint8_t)('a' + k % 26);
    for (int j = 0; j < nconns; j++) {
        if (send_all(conns[j].fd, frame, frame_len) < 0)
            ws_fail(&conns[j]);
    }
    double t0 = now_s(), t_measure = t0 + warmup, t_end = t_measure + seconds;
    uint64_t counted = 0, errors = 0;
    struct epoll_event evs[256];
    int measuring = 0;
    /* --seconds 0: a check, one echo on every connection (5 s at most). */
    const int check = seconds == 0;
    if (check)
        t_end = t0 + 5;
    uint64_t total = 0;
    while (!stop_flag) {
        double t = now_s();
        if (t >= t_end || (check && total >= (uint64_t)nconns))
            break;
        if (!measuring && t >= t_measure)
            measuring = 1;
        int k = epoll_wait(epfd, evs, 256, 50);
        for (int j = 0; j < k; j++) {
            ws_t *c = evs[j].data.ptr;
            if (c->st != S_OPEN)
                continue;
            for (;;) {
                ssize_t r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    errors++;
                    ws_fail(c);
                    break;
                }
                c->inlen += (size_t)r;
                if (c->inlen < elen)
                    continue;
                /* One message in flight: exactly one echo can be here. */
                size_t h = msg_size < 126 ? 2 : 4;
                if (c->inlen != elen || c->in[0] != (char)0x82 ||
                    memcmp(c->in + h, unmasked, msg_size) != 0) {
                    errors++;
                    ws_fail(c);
                    break;
                }
                c->inlen = 0;
                c->echoes++;
                total++;
                if (check)
                    break;
                if (measuring)
                    counted++;
                if (send_all(c->fd, frame, frame_len) < 0) {
                    errors++;
                    ws_fail(c);
                }
                break;
            }
        }
    }
    if (check) {
        printf("echoes %llu of %d errors %llu\n", (unsigned long long)total, nconns,
               (unsigned long long)errors);
        return total >= (uint64_t)nconns && !errors ? 0 : 1;
    }
    double elapsed = now_s() - t_measure;
    printf("msgs_per_s %.0f echoes %llu errors %llu open %d\n", counted / elapsed,
           (unsigned long long)counted, (unsigned long long)errors, nopen);
    return errors ? 1 : 0;
}

/* GET path on 127.0.0.1:port; returns the status code or -1. */
static int http_get_status(void)
{
    int fd = connect_to(port, false);
    if (fd < 0)
        return -1;
    char req[256];
    int len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
        close(fd);
        return -1;
    }
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        ssize_t r = recv(fd, buf + got, sizeof(buf) - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    return atoi(buf + 9);
}

static int cmd_ready(int argc, char **argv, int i)
{
    int n = 0, seconds = 0, warmup = 0;
    const char *ready_file = NULL;
    path = "/ready";
    parse_common(argc, argv, &i, &n, &seconds, &warmup, &ready_file);
    if (!port || i >= argc) {
        fprintf(stderr, "xpbench ready: --port P -- CMD ARGS... required\n");
        return 2;
    }
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* Not our stdout: a caller reading it to EOF must not wait for CMD. */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execvp(argv[i], argv + i);
        _exit(127);
    }
    for (;;) {
        if (http_get_status() == 200)
            break;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "xpbench ready: %s exited before it was ready\n", argv[i]);
            return 1;
        }
        if (now_s() - t0 > 30) {
            fprintf(stderr, "xpbench ready: not ready after 30 s\n");
            return 1;
        }
        usleep(500);
    }
    printf("ready_ms %.2f pid %d\n", (now_s() - t0) * 1000, (int)pid);
    fflush(stdout);
    return 0;
}

/* ---- push-poll: a control-plane push, then polling until it is served ---- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one HTTP/1.1 response framed by Content-Length (or without a body)
 * from fd; returns its status, or -1 (closed, malformed, other framing).
 * *keep is false when the connection cannot carry another request. */
static int read_response(int fd, char *buf, size_t cap, bool *keep)
{
    size_t got = 0;
    char *end = NULL;
    *keep = false;
    while (!end) {
        if (got + 1 >= cap)
            return -1;
        ssize_t r = recv(fd, buf + got, cap - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
        buf[got] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (strncmp(buf, "HTTP/1.", 7) != 0 || got < 12)
        return -1;
    int status = atoi(buf + 9);
    size_t head = (size_t)(end + 4 - buf);
    long long len = 0;
    bool close_conn = false;
    for (char *l = strstr(buf, "\r\n") + 2; l < end; l = strstr(l, "\r\n") + 2) {
        char *e = strstr(l, "\r\n");
        *e = '\0'; /* one field line at a time */
        if (!strncasecmp(l, "content-length:", 15))
            len = atoll(l + 15);
        else if (!strncasecmp(l, "transfer-encoding:", 18))
            return -1; /* not used by the peers measured here */
        else if (!strncasecmp(l, "connection:", 11) && strcasestr(l + 11, "close"))
            close_conn = true;
        *e = '\r';
    }
    long long left = len - (long long)(got - head);
    while (left > 0) {
        char sink[16384];
        ssize_t r = recv(fd, sink, left < (long long)sizeof(sink) ? (size_t)left : sizeof(sink), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        left -= r;
    }
    *keep = left == 0 && !close_conn;
    return status;
}

/* PUT body to 127.0.0.1:admin; the reply's status or -1. The reply (read
 * to the close) goes into buf, NUL-terminated. */
static int http_put(int admin, const char *target, const char *body, size_t blen, char *buf,
                    size_t cap)
{
    int fd = connect_to(admin, false);
    if (fd < 0)
        return -1;
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "PUT %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n",
                      target, blen);
    int status = -1;
    size_t got = 0;
    if (write_all(fd, head, (size_t)hl) == 0 && write_all(fd, body, blen) == 0) {
        ssize_t r;
        while (got + 1 < cap &&
               ((r = recv(fd, buf + got, cap - 1 - got, 0)) > 0 || (r < 0 && errno == EINTR)))
            got += r > 0 ? (size_t)r : 0;
        buf[got] = '\0';
        if (got >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
            status = atoi(buf + 9);
    }
    close(fd);
    return status;
}

static char *read_whole(const char *file, size_t *len)
{
    FILE *f = fopen(file, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

static int cmd_push_poll(int argc, char **argv, int i)
{
    int admin = 0, want = 0, interval_us = 200, timeout_s = 30, count = 0;
    const char *put = NULL, *body_file = NULL;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "xpbench: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--path"))
            path = v;
        else if (!strcmp(a, "--admin-port"))
            admin = atoi(v);
        else if (!strcmp(a, "--put"))
            put = v;
        else if (!strcmp(a, "--body-file"))
            body_file = v;
        else if (!strcmp(a, "--want-status"))
            want = atoi(v);
        else if (!strcmp(a, "--interval-us"))
            interval_us = atoi(v);
        else if (!strcmp(a, "--timeout-s"))
            timeout_s = atoi(v);
        else if (!strcmp(a, "--count"))
            count = atoi(v);
        else {
            fprintf(stderr, "xpbench: unknown option %s\n", a);
            return 2;
        }
    }
    bool baseline = count > 0;
    if (!port || (!baseline && (!admin || !put || !body_file || !want))) {
        fprintf(stderr, "xpbench push-poll: --port and --path, and either --admin-port, --put, "
                        "--body-file and --want-status, or --count\n");
        return 2;
    }
    double t_put = 0, t_pub = 0, t0;
    if (!baseline) {
        size_t blen = 0;
        char *body = read_whole(body_file, &blen);
        if (!body) {
            perror(body_file);
            return 1;
        }
        char reply[4096];
        t_put = now_s();
        int st = http_put(admin, put, body, blen, reply, sizeof(reply));
        free(body);
        const char *pub = strstr(reply, "\"published_ns\":\"");
        if (st != 200 || pub == NULL) {
            fprintf(stderr, "xpbench push-poll: PUT %s answered %d (want 200 with published_ns)\n",
                    put, st);
            return 1;
        }
        /* The control plane's CLOCK_MONOTONIC, the same clock as now_s(). */
        t_pub = (double)strtoull(pub + 16, NULL, 10) / 1e9;
    }
    t0 = now_s();
    char req[512];
    int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    int fd = -1, polls = 0, last = -1;
    char buf[16384];
    for (;;) {
        if (fd < 0 && (fd = connect_to(port, false)) < 0) {
            fprintf(stderr, "xpbench push-poll: cannot connect to port %d\n", port);
            return 1;
        }
        bool keep = false;
        int st =
            write_all(fd, req, (size_t)rl) == 0 ? read_response(fd, buf, sizeof(buf), &keep) : -1;
        polls++;
        if (!keep) {
            close(fd);
            fd = -1;
        }
        last = st;
        double t = now_s();
        if (baseline ? polls >= count : st == want) {
            if (baseline)
                printf("polls %d ms %.3f\n", polls, (t - t0) * 1000);
            else
                printf("ms %.3f polls %d put_ms %.1f reply_ms %.3f\n", (t - t_pub) * 1000, polls,
                       (t0 - t_put) * 1000, (t0 - t_pub) * 1000);
            break;
        }
        if (t - t0 > timeout_s) {
            fprintf(stderr, "xpbench push-poll: no status %d on %s after %d s (last %d)\n", want,
                    path, timeout_s, last);
            return 1;
        }
        if (interval_us > 0)
            usleep((useconds_t)interval_us);
    }
    if (fd >= 0)
        close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    path = "/ws";
    if (argc < 2) {
        fprintf(stderr,
                "usage: xpbench ws-idle|ws-echo|ready|push-poll [options] (see the source)\n");
        return 2;
    }
    if (!strcmp(argv[1], "ws-idle"))
        return cmd_ws_idle(argc, argv, 2);
    if (!strcmp(argv[1], "ws-echo"))
        return cmd_ws_echo(argc, argv, 2);
    if (!strcmp(argv[1], "ready"))
        return cmd_ready(argc, argv, 2);
    if (!strcmp(argv[1], "push-poll"))
        return cmd_push_poll(argc, argv, 2);
    fprintf(stderr, "xpbench: unknown command %s\n", argv[1]);
    return 2;
}
