/* stream_raw: raw-socket helper for the stream_* proxy tests.
 *
 *   stream_raw client PORT [--shut-wr] [--timeout-ms T] [--pause-ms T] [--reset]
 *       Connects to 127.0.0.1:PORT, sends stdin as-is (nothing if stdin is
 *       empty), optionally shuts down its write side, then reads until the
 *       peer closes, resets, or T ms pass (default 10000). The bytes received
 *       go to stdout; the last line on stderr is
 *       "end=eof|reset|timeout elapsed_ms=N bytes=N", elapsed counted from
 *       the end of sending. --pause-ms waits before sending (lets a proxy
 *       finish connecting upstream). Writing and reading run together, so a
 *       server that answers before the request is fully sent is still read.
 *       --reset: when T passes, close with an RST (SO_LINGER 0), not a FIN.
 *
 *   stream_raw server --port-file F
 *       Listens on 127.0.0.1:0 (port written to F), and for each connection
 *       reads a request head and answers without any framing, ending the
 *       body by closing the connection (RFC 9112 §6.3 item 8). The request
 *       target picks the response: "v=0" answers HTTP/1.0, otherwise
 *       HTTP/1.1 with "connection: close"; "n=N" sends N body bytes (byte i
 *       is 'a' + i % 26); "split1xx" sends a 100 Continue and then a 200
 *       with a 2-byte body "ok", cut in three writes 50 ms apart, the cuts
 *       inside the 100's status line and inside the 200's head. One
 *       connection at a time; runs until killed.
 *
 * Exit status: 0 on success, 2 on usage or socket errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_all(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    *len = n;
    return b;
}

static int write_full(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int client(int argc, char **argv)
{
    int port = atoi(argv[2]);
    bool shut_wr = false, reset = false;
    long long timeout_ms = 10000, pause_ms = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--shut-wr"))
            shut_wr = true;
        else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
            timeout_ms = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--pause-ms") && i + 1 < argc)
            pause_ms = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reset"))
            reset = true;
        else {
            fprintf(stderr, "stream_raw: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    size_t reqlen;
    char *req = read_all(0, &reqlen);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "stream_raw: connect to port %d: %s\n", port, strerror(errno));
        return 2;
    }
    if (pause_ms)
        usleep((useconds_t)pause_ms * 1000);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t sent = 0;
    bool wr_done = reqlen == 0;
    if (wr_done && shut_wr)
        shutdown(fd, SHUT_WR);
    const char *end = "timeout";
    long long start = now_ms(), sent_at = wr_done ? start : 0;
    size_t got = 0;
    char buf[65536];
    for (;;) {
        long long base = wr_done ? sent_at : start;
        long long left = base + timeout_ms - now_ms();
        if (left <= 0)
            break;
        struct pollfd p = {fd, (short)(POLLIN | (wr_done ? 0 : POLLOUT)), 0};
        int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (!wr_done && (p.revents & POLLOUT)) {
            ssize_t w = write(fd, req + sent, reqlen - sent);
            if (w > 0)
                sent += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                sent = reqlen; /* the peer gave up on the request: keep reading */
            if (sent == reqlen) {
                wr_done = true;
                sent_at = now_ms();
                if (shut_wr)
                    shutdown(fd, SHUT_WR);
            }
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r > 0) {
                if (write_full(1, buf, (size_t)r) != 0)
                    return 2;
                got += (size_t)r;
                continue;
            }
            if (r == 0) {
                end = "eof";
                break;
            }
            if (errno != EAGAIN && errno != EINTR) {
                end = "reset";
                break;
            }
        }
    }
    long long elapsed = now_ms() - (sent_at ? sent_at : start);
    fprintf(stderr, "end=%s elapsed_ms=%lld bytes=%zu\n", end, elapsed, got);
    if (reset && !strcmp(end, "timeout")) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    close(fd);
    free(req);
    return 0;
}

static void serve_one(int c)
{
    char head[65536];
    size_t n = 0;
    while (n < sizeof(head) - 1) {
        ssize_t r = read(c, head + n, sizeof(head) - 1 - n);
        if (r <= 0)
            return;
        n += (size_t)r;
        head[n] = 0;
        if (strstr(head, "\r\n\r\n"))
            break;
    }
    char *eol = strstr(head, "\r\n");
    if (eol)
        *eol = 0;
    if (strstr(head, "split1xx")) {
        static const char *const piece[] = {
            "HTTP/1.1 100 Cont",
            "inue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Le",
            "ngth: 2\r\nx-raw: split1xx\r\n\r\nok",
        };
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        for (size_t i = 0; i < sizeof(piece) / sizeof(piece[0]); i++) {
            if (i)
                nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
            if (write_full(c, piece[i], strlen(piece[i])) != 0)
                return;
        }
        return;
    }
    bool v10 = strstr(head, "v=0") != NULL;
    const char *np = strstr(head, "n=");
    long long body = np ? atoll(np + 2) : 10;
    char out[256];
    int hl =
        snprintf(out, sizeof(out),
                 "HTTP/1.%d 200 OK\r\ncontent-type: text/plain\r\nx-raw: until-close\r\n%s\r\n",
                 v10 ? 0 : 1, v10 ? "" : "connection: close\r\n");
    if (write_full(c, out, (size_t)hl) != 0)
        return;
    char chunk[4096];
    long long off = 0;
    while (off < body) {
        size_t k = 0;
        for (; k < sizeof(chunk) && off < body; k++, off++)
            chunk[k] = (char)('a' + off % 26);
        if (write_full(c, chunk, k) != 0)
            return;
    }
}

static int server(int argc, char **argv)
{
    const char *port_file = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
            port_file = argv[++i];
        else {
            fprintf(stderr, "stream_raw: bad argument '%s'\n", argv[i]);
            return 2;
        }
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("stream_raw: listen");
        return 2;
    }
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        if (f == NULL) {
            perror(tmp);
            return 2;
        }
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
        rename(tmp, port_file);
    }
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            perror("stream_raw: accept");
            return 2;
        }
        serve_one(c);
        close(c);
    }
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 3 && !strcmp(argv[1], "client"))
        return client(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "server"))
        return server(argc, argv);
    fprintf(stderr,
            "usage: stream_raw client PORT [--shut-wr] [--timeout-ms T] [--pause-ms T] [--reset]\n"
            "       stream_raw server --port-file F\n");
    return 2;
}
