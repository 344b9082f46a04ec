/* A TCP connection as the proxy's protocol code sees it: data arrives in
 * chunks, writes take chunk references (zero copy), and the bytes queued for
 * writing are counted so a reader can stop when the other side falls behind.
 * This is the one I/O interface codecs talk to; a TLS transport socket will
 * sit behind the same calls. One worker thread owns a socket. */
#ifndef XP_NET_SOCK_H
#define XP_NET_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "proxy/net/chunk.h"

typedef struct xp_sock xp_sock_t;

typedef struct {
    /* len bytes at p (inside chunk c) arrived. Take a reference to c to keep
     * them past the call. */
    void (*on_data)(xp_sock_t *s, xp_chunk_t *c, char *p, size_t len);
    /* The peer finished sending (FIN). Reading has stopped. */
    void (*on_eof)(xp_sock_t *s);
    /* A read or write failed (reset, timeout...); err is a libuv error. The
     * owner normally closes the socket. */
    void (*on_error)(xp_sock_t *s, int err);
    /* A write completed; s->wpending is the number of bytes still queued. */
    void (*on_written)(xp_sock_t *s);
    /* The handle is closed: the owner may free the memory holding s. */
    void (*on_close)(xp_sock_t *s);
} xp_sock_ops_t;

typedef struct xp_sock_batch xp_sock_batch_t;

struct xp_sock {
    uv_tcp_t tcp; /* first: a uv handle pointer is the socket pointer */
    const xp_sock_ops_t *ops;
    void *owner;
    /* Bytes handed to a write call and not yet taken by the kernel: those
     * gathered while corked plus those libuv still queues. */
    size_t wpending;
    bool reading;
    bool closing;
    bool shut; /* our FIN queued */
    int corked;
    /* Writes gathered while corked or until the loop iteration ends (NULL
     * while none: an idle socket holds no write state). */
    xp_sock_batch_t *batch;
    /* 1 + this socket's place in its thread's list of batches to send when
     * the loop iteration ends; 0 while it has none there. */
    unsigned later;
};

/* Initialises s on loop (handle only; no socket yet). */
void xp_sock_init(xp_sock_t *s, uv_loop_t *loop, const xp_sock_ops_t *ops, void *owner);
/* Starts/stops delivering data. Idempotent. */
int xp_sock_read_start(xp_sock_t *s);
void xp_sock_read_stop(xp_sock_t *s);
/* Queues len bytes at p (inside c; c is referenced until written; c may be
 * NULL when p is static). Returns 0 or a libuv error. */
int xp_sock_write(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len);
/* Writes len bytes as one HTTP/1.1 chunk (size line, data, CRLF; RFC 9112
 * §7.1); nothing for len 0. */
int xp_sock_write_chunked(xp_sock_t *s, xp_chunk_t *c, const char *p, size_t len);
/* Copies the bytes first (for small, built-on-the-stack data). */
int xp_sock_write_copy(xp_sock_t *s, const char *p, size_t len);
/* Gathers writes until the matching uncork, which sends them with one
 * writev (a response head and the body bytes that came with it cost one
 * syscall, not two). Nests. Writes past the gather capacity (16 buffers)
 * are sent early. */
void xp_sock_cork(xp_sock_t *s);
int xp_sock_uncork(xp_sock_t *s);
/* Sends FIN once queued writes are done. */
void xp_sock_shutdown(xp_sock_t *s);
/* Closes; gathered writes are offered to the kernel first, writes libuv
 * still queues are dropped. on_close runs later. Idempotent. */
void xp_sock_close(xp_sock_t *s);
/* Disables Nagle; call once connected or accepted. */
void xp_sock_nodelay(xp_sock_t *s);
/* Frees this thread's spare write batches (at worker exit). */
void xp_sock_thread_cleanup(void);

/* From now on, writes to this thread's sockets on loop wait for the end of
 * the loop iteration (after the I/O callbacks, and before the loop blocks),
 * and then go to the kernel together: one io_uring system call for all of
 * them instead of a send each. On a shared core this also wakes each peer
 * once per iteration, not once per write. Returns 0, or a negative errno
 * when io_uring is unavailable here; writes then go at once, as without the
 * call. Call on the loop's thread, once. */
int xp_sock_thread_batch(uv_loop_t *loop);
/* The most sockets whose writes wait; the writes of more go at once. */
#define XP_SOCK_LATER_MAX 512
/* Sends what waits, and writes go at once again; releases the ring and
 * closes the two loop handles (the loop then runs to let them close). */
void xp_sock_thread_unbatch(void);
/* What batching did on this thread so far: system calls made, and the
 * sends they carried. */
typedef struct {
    unsigned long long calls;
    unsigned long long sends;
} xp_sock_batch_stats_t;
xp_sock_batch_stats_t xp_sock_thread_batch_stats(void);
/* "ip:port" of the peer / local end into buf; "-" when unknown. */
void xp_sock_peer_str(const xp_sock_t *s, char *buf, size_t len);
void xp_sock_local_str(const xp_sock_t *s, char *buf, size_t len);

#endif
