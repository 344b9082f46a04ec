/* The management server's small HTTP/1.1 servers (the admin API and the
 * REST-JSON xDS endpoints), each on its own thread with blocking sockets:
 * one request per connection ("Connection: close"), one connection at a
 * time, a client silent for 5 s is cut off. That is enough for tests,
 * scripts, the demo and a handful of polling proxies, and keeps the
 * server free of an event loop. */
#include "xds/server/server_internal.h"

#include "proxy/common/mem.h"
#include "proxy/http1/http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define XP__HTTP_MAX_BODY ((size_t)16 << 20)

void xp__reply(xp__reply_t *r, int status, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    r->status = status;
    r->ctype = "text/plain";
    xp_strbuf_printf(&r->body, "%s\n", buf);
}

static void xp__send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

static void xp__serve_conn(xp__http_listener_t *l, int fd, const char *peer)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    size_t cap = 8192, n = 0;
    char *buf = xp_malloc(cap + 1);
    char *hend = NULL;
    xp__reply_t r = {500, "text/plain", {0}};
    xp_strbuf_init(&r.body);
    size_t need = 0;
    for (;;) {
        if (n == cap) {
            if (cap > XP__HTTP_MAX_BODY + 65536) {
                xp__reply(&r, 413, "request too large");
                goto reply;
            }
            size_t hoff = hend ? (size_t)(hend - buf) : 0;
            cap *= 2;
            buf = xp_realloc(buf, cap + 1);
            if (hend)
                hend = buf + hoff; /* the buffer moved */
        }
        ssize_t got = recv(fd, buf + n, cap - n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            goto out; /* closed or timed out mid-request: nobody to answer */
        n += (size_t)got;
        buf[n] = '\0';
        if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
            size_t clen = 0;
            for (char *h = strstr(buf, "\r\n"); h && h < hend; h = strstr(h + 2, "\r\n"))
                if (!strncasecmp(h + 2, "content-length:", 15))
                    clen = strtoull(h + 17, NULL, 10);
            if (clen > XP__HTTP_MAX_BODY) {
                xp__reply(&r, 413, "body too large");
                goto reply;
            }
            need = (size_t)(hend - buf) + 4 + clen;
        }
        if (hend && n >= need)
            break;
    }
    {
        char method[16], target[4096];
        *hend = '\0';
        if (sscanf(buf, "%15s %4095s", method, target) != 2) {
            xp__reply(&r, 400, "bad request line");
        } else {
            char *body = hend + 4;
            size_t blen = need - (size_t)(body - buf);
            body[blen] = '\0';
            l->handler(l->srv, method, target, body, blen, peer, &r);
        }
    }
reply : {
    char head[256];
    /* A 304 has no body (RFC 9110 section 15.4.5), so no Content-Length. */
    bool no_body = r.status == 304 || r.status == 204;
    int hl =
        snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n", r.status, xp_http1_reason(r.status));
    if (!no_body)
        hl += snprintf(head + hl, sizeof(head) - (size_t)hl,
                       "Content-Type: %s\r\nContent-Length: %zu\r\n", r.ctype, r.body.len);
    hl += snprintf(head + hl, sizeof(head) - (size_t)hl, "Connection: close\r\n\r\n");
    xp__send_all(fd, head, (size_t)hl);
    if (!no_body)
        xp__send_all(fd, r.body.p, r.body.len);
}
out:
    free(xp_strbuf_take(&r.body));
    free(buf);
}

/* "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000", as gRPC names peers. */
static void xp__peer_str(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    snprintf(out, cap, "unknown");
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "ipv6:[%s]:%d", ip, ntohs(a->sin6_port));
    } else if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "ipv4:%s:%d", ip, ntohs(a->sin_port));
    }
}

static void *xp__http_main(void *arg)
{
    xp__http_listener_t *l = arg;
    for (;;) {
        struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->wake[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        char peer[80];
        xp__peer_str(fd, peer, sizeof(peer));
        xp__serve_conn(l, fd, peer);
        close(fd);
    }
    return NULL;
}

int xp__http_start(xp__http_listener_t *l, xp_xds_server_t *srv, const char *what,
                   xp__http_handler_t handler, const char *addr)
{
    l->srv = srv;
    l->what = what;
    l->handler = handler;
    l->fd = -1;
    char *host = xp_strdup(addr);
    char *colon = strrchr(host, ':');
    if (!colon) {
        fprintf(stderr, "xds-server: %s %s: expected host:port\n", l->what, addr);
        free(host);
        return -1;
    }
    *colon = '\0';
    char *h = host;
    if (h[0] == '[' && colon > h && colon[-1] == ']') {
        h++;
        colon[-1] = '\0';
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(h[0] ? h : NULL, colon + 1, &hints, &ai);
    free(host);
    if (gai) {
        fprintf(stderr, "xds-server: %s %s: %s\n", l->what, addr, gai_strerror(gai));
        return -1;
    }
    l->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (l->fd >= 0)
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l->fd < 0 || bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(l->fd, 64) < 0) {
        fprintf(stderr, "xds-server: %s %s: %s\n", l->what, addr, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(l->fd, (struct sockaddr *)&ss, &sl);
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (pipe2(l->wake, O_CLOEXEC) < 0 || pthread_create(&l->thread, NULL, xp__http_main, l) != 0) {
        fprintf(stderr, "xds-server: cannot start the %s thread\n", l->what);
        return -1;
    }
    l->started = true;
    return 0;
}

void xp__http_stop(xp__http_listener_t *l)
{
    if (l->started) {
        ssize_t w;
        do
            w = write(l->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(l->thread, NULL);
        l->started = false;
        close(l->wake[0]);
        close(l->wake[1]);
    }
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
