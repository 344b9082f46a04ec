/* Many sends in one system call: the smallest io_uring a worker needs to
 * hand the kernel every write of one loop iteration at once (sock.c). Only
 * non-blocking sends: each completes while the call runs, so a submission
 * is a plain call that returns every result. Made with the raw system calls
 * (the kernel's ABI in <linux/io_uring.h>), no library. One thread uses a
 * ring. */
#ifndef XP_NET_URING_H
#define XP_NET_URING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The most sends one xp_uring_send_all takes. */
#define XP_URING_MAX 128

typedef struct {
    int fd; /* -1: no ring */
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
    void *sq_map, *sqe_map;
    size_t sq_map_len, sqe_map_len;
} xp_uring_t;

/* One send: iov[0..n) to the socket fd, as sendmsg(fd, iov, MSG_NOSIGNAL |
 * MSG_DONTWAIT) would. */
typedef struct {
    int fd;
    const struct iovec *iov;
    unsigned n;
} xp_uring_send_t;

/* Sets r up. Returns 0, or a negative errno when this kernel or sandbox
 * offers no io_uring fit for it (too old: before 5.18; forbidden, e.g. by a
 * container's seccomp profile); r is then unusable and needs no close. */
int xp_uring_init(xp_uring_t *r);
void xp_uring_close(xp_uring_t *r);

/* Makes the k (≤ XP_URING_MAX) sends in one system call. res[i] gets what
 * sendmsg would have returned for send i: bytes taken, or a negative errno
 * (-EAGAIN when the socket buffer is full). Returns how many sends, from
 * the first, were made: k, or fewer when the kernel would not take them all
 * (short of memory, interrupted); the caller makes the rest itself. */
unsigned xp_uring_send_all(xp_uring_t *r, const xp_uring_send_t *v, unsigned k, int *res);

#endif
