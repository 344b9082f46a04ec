/* relay: the benchmark suite's reference point, not a proxy. A bare TCP
 * byte relay: each accepted connection gets its own connection to the
 * upstream, and bytes go across both ways as they come, with nothing
 * parsed, added or logged (plain C, no dependencies, built by
 * tests/bench/run.sh with gcc).
 *
 *   relay --listen PORT --upstream PORT      (both on 127.0.0.1)
 *
 * Its system calls are the fewest for a proxy that sends each message at
 * once, as nginx and HAProxy do: one epoll_wait per batch of ready sockets
 * (edge-triggered, so no socket is polled again after it has been served),
 * one recv and one send per message (a short read means the socket is
 * drained, as nginx assumes too). Workloads 1 and 4 pass through it
 * unchanged (HTTP/1.1 keep-alive and WebSocket frames are only bytes to
 * it), so its rate shows what the kernel's side allows when the proxy's
 * own work costs nothing. xproxy can pass it: it sends a loop iteration's
 * messages in one io_uring call.
 *
 * A connection and its upstream close together when either side ends or
 * fails; a partial send keeps the rest and stops reading the other side
 * until it has gone (EPOLLOUT). The upstream connect is blocking: fine for
 * the benchmark, which opens its connections before it measures. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_MAX_FD 65536
#define RELAY_BUF    (64 * 1024)

/* One side of a pair. pend holds what could not be sent to this side. */
typedef struct {
    int peer; /* the other side's fd, -1 when free */
    char *pend;
    size_t npend;
} side_t;

static side_t sides[RELAY_MAX_FD];
static int ep;
static struct sockaddr_in up_addr;
static char buf[RELAY_BUF];

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int port_arg(const char *flag, const char *v)
{
    char *end;
    long p = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || p < 1 || p > 65535) {
        fprintf(stderr, "relay: %s wants a port 1..65535, not '%s'\n", flag, v);
        exit(2);
    }
    return (int)p;
}

static void pair_close(int fd)
{
    int peer = sides[fd].peer;
    int fds[2] = {fd, peer};
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        free(sides[fds[i]].pend);
        sides[fds[i]] = (side_t){-1, NULL, 0};
        close(fds[i]); /* also leaves the epoll set */
    }
}

/* Sends p[0..n) to fd; keeps what the kernel did not take. 0, or -1 when
 * the pair is gone. */
static int send_to(int fd, const char *p, size_t n)
{
    side_t *s = &sides[fd];
    while (n > 0 && s->npend == 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (k < 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    if (n > 0) {
        char *q = realloc(s->pend, s->npend + n);
        if (q == NULL)
            return -1;
        memcpy(q + s->npend, p, n);
        s->pend = q;
        s->npend += n;
    }
    return 0;
}

/* fd is readable: recv and pass on until drained, or until its peer holds
 * unsent bytes (reading resumes when they have gone). */
static void on_readable(int fd)
{
    for (;;) {
        int peer = sides[fd].peer;
        if (peer < 0 || sides[peer].npend > 0)
            return;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0 || send_to(peer, buf, (size_t)n) < 0) {
            pair_close(fd);
            return;
        }
        if ((size_t)n < sizeof(buf))
            return; /* drained: the next bytes bring a new edge */
    }
}

/* fd is writable again: send what it holds, then read its peer again. */
static void on_writable(int fd)
{
    side_t *s = &sides[fd];
    if (s->npend == 0)
        return;
    char *p = s->pend;
    size_t n = s->npend;
    s->pend = NULL;
    s->npend = 0;
    int rc = send_to(fd, p, n);
    free(p);
    if (rc < 0) {
        pair_close(fd);
        return;
    }
    if (s->npend == 0 && s->peer >= 0)
        on_readable(s->peer);
}

static int watch(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void on_accept(int ls)
{
    for (;;) {
        int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0)
            return;
        int u = socket(AF_INET, SOCK_STREAM, 0);
        if (u < 0 || c >= RELAY_MAX_FD || u >= RELAY_MAX_FD ||
            connect(u, (struct sockaddr *)&up_addr, sizeof(up_addr)) < 0) {
            fprintf(stderr, "relay: upstream connect: %s\n", strerror(errno));
            close(c);
            if (u >= 0)
                close(u);
            continue;
        }
        if (fcntl(u, F_SETFL, fcntl(u, F_GETFL) | O_NONBLOCK) < 0) {
            close(c);
            close(u);
            continue;
        }
        sides[c] = (side_t){u, NULL, 0};
        sides[u] = (side_t){c, NULL, 0};
        if (watch(c) < 0 || watch(u) < 0)
            pair_close(c);
    }
}

int main(int argc, char **argv)
{
    int lport = 0, uport = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--listen"))
            lport = port_arg("--listen", argv[i + 1]);
        else if (!strcmp(argv[i], "--upstream"))
            uport = port_arg("--upstream", argv[i + 1]);
    }
    if (lport == 0 || uport == 0 || argc != 5) {
        fprintf(stderr, "usage: relay --listen PORT --upstream PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < RELAY_MAX_FD; i++)
        sides[i].peer = -1;
    up_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                   .sin_port = htons((uint16_t)uport),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in la = up_addr;
    la.sin_port = htons((uint16_t)lport);
    int one = 1;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (ls < 0)
        die("relay: socket");
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(ls, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(ls, 1024) < 0)
        die("relay: listen");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("relay: epoll_create1");
    struct epoll_event le = {.events = EPOLLIN, .data.fd = ls};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ls, &le) < 0)
        die("relay: epoll_ctl");
    struct epoll_event ev[512];
    for (;;) {
        int n = epoll_wait(ep, ev, 512, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("relay: epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == ls) {
                on_accept(ls);
                continue;
            }
            if (sides[fd].peer < 0)
                continue; /* closed earlier in this batch */
            if (ev[i].events & EPOLLOUT)
                on_writable(fd);
            if (sides[fd].peer >= 0 &&
                (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
                on_readable(fd);
        }
    }
}
