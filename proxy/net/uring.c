#include "proxy/net/uring.h"

#include <errno.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

int xp_uring_init(xp_uring_t *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    /* SUBMIT_ALL (5.18) is also the floor: from then on a send flagged
     * MSG_DONTWAIT fails with EAGAIN instead of waiting in the kernel. */
    p.flags = IORING_SETUP_SUBMIT_ALL;
    int fd = (int)syscall(SYS_io_uring_setup, XP_URING_MAX, &p);
    if (fd < 0)
        return -errno;
    if (!(p.features & IORING_FEAT_SINGLE_MMAP) || p.sq_entries < XP_URING_MAX) {
        close(fd);
        return -ENOSYS;
    }
    size_t len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_len > len)
        len = cq_len;
    char *m =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (m == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    size_t sqe_len = p.sq_entries * sizeof(struct io_uring_sqe);
    void *sqes =
        mmap(NULL, sqe_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sqes == MAP_FAILED) {
        int e = errno;
        munmap(m, len);
        close(fd);
        return -e;
    }
    r->fd = fd;
    r->sq_map = m;
    r->sq_map_len = len;
    r->sqe_map = sqes;
    r->sqe_map_len = sqe_len;
    r->sqes = sqes;
    r->sq_head = (unsigned *)(m + p.sq_off.head);
    r->sq_tail = (unsigned *)(m + p.sq_off.tail);
    r->sq_mask = (unsigned *)(m + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(m + p.sq_off.array);
    r->cq_head = (unsigned *)(m + p.cq_off.head);
    r->cq_tail = (unsigned *)(m + p.cq_off.tail);
    r->cq_mask = (unsigned *)(m + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
    /* Slot i of the queue always names entry i. */
    for (unsigned i = 0; i < p.sq_entries; i++)
        r->sq_array[i] = i;
    return 0;
}

void xp_uring_close(xp_uring_t *r)
{
    if (r->fd < 0)
        return;
    munmap(r->sqe_map, r->sqe_map_len);
    munmap(r->sq_map, r->sq_map_len);
    close(r->fd);
    r->fd = -1;
}

/* Takes every completion posted so far into res; returns how many. */
static unsigned xp__reap(xp_uring_t *r, unsigned k, int *res)
{
    unsigned head = *r->cq_head;
    unsigned tail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
    unsigned got = 0;
    for (; head != tail; head++) {
        const struct io_uring_cqe *c = &r->cqes[head & *r->cq_mask];
        if (c->user_data < k) {
            res[c->user_data] = c->res;
            got++;
        }
    }
    __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    return got;
}

unsigned xp_uring_send_all(xp_uring_t *r, const xp_uring_send_t *v, unsigned k, int *res)
{
    struct msghdr msgs[XP_URING_MAX];
    if (k > XP_URING_MAX)
        k = XP_URING_MAX;
    unsigned head0 = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < k; i++) {
#if defined(__SANITIZE_ADDRESS__)
        /* The kernel reads these bytes where AddressSanitizer cannot see:
         * check them as its send interceptor would, and let a bad one
         * produce the usual report. */
        for (unsigned j = 0; j < v[i].n; j++) {
            const char *bad = __asan_region_is_poisoned(v[i].iov[j].iov_base, v[i].iov[j].iov_len);
            if (bad)
                (void)*(const volatile char *)bad;
        }
#endif
        struct io_uring_sqe *q = &r->sqes[(head0 + i) & *r->sq_mask];
        memset(q, 0, sizeof(*q));
        q->fd = v[i].fd;
        q->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
        q->user_data = i;
        if (v[i].n == 1) {
            q->opcode = IORING_OP_SEND;
            q->addr = (uint64_t)(uintptr_t)v[i].iov[0].iov_base;
            q->len = (uint32_t)v[i].iov[0].iov_len;
        } else {
            memset(&msgs[i], 0, sizeof(msgs[i]));
            msgs[i].msg_iov = (struct iovec *)v[i].iov;
            msgs[i].msg_iovlen = v[i].n;
            q->opcode = IORING_OP_SENDMSG;
            q->addr = (uint64_t)(uintptr_t)&msgs[i];
            q->len = 1;
        }
        res[i] = INT_MIN;
    }
    __atomic_store_n(r->sq_tail, head0 + k, __ATOMIC_RELEASE);
    int n;
    do {
        n = (int)syscall(SYS_io_uring_enter, r->fd, k, 0, 0, NULL, 0);
    } while (n < 0 && errno == EINTR);
    unsigned made = __atomic_load_n(r->sq_head, __ATOMIC_ACQUIRE) - head0;
    if (made < k) /* withdraw what the kernel did not take */
        __atomic_store_n(r->sq_tail, head0 + made, __ATOMIC_RELEASE);
    unsigned got = xp__reap(r, k, res);
    while (got < made) {
        /* Not seen here: non-blocking sends complete within the call. */
        n = (int)syscall(SYS_io_uring_enter, r->fd, 0, made - got, IORING_ENTER_GETEVENTS, NULL, 0);
        if (n < 0 && errno != EINTR)
            break;
        got += xp__reap(r, k, res);
    }
    for (unsigned i = 0; i < made; i++)
        if (res[i] == INT_MIN)
            res[i] = -EIO;
    return made;
}
