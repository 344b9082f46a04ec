/* xp_sock's writes batched per loop iteration (xp_sock_thread_batch), over
 * real loopback TCP connections: writes wait for the end of the iteration,
 * then go in one io_uring call, each peer gets its bytes in order, the
 * owner hears of completions and errors as from queued writes, and after
 * xp_sock_thread_unbatch writes go at once again. Where this kernel or
 * sandbox refuses io_uring, the test checks that xp_sock_thread_batch says
 * so and that writes still go at once. */
#include "proxy/net/sock.h"
#include "proxy/net/uring.h"
#include "tests/lib/check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define N 10

typedef struct tsock {
    xp_sock_t s;
    int peer; /* the accepted end, a plain blocking socket */
    int written, errors, last_err;
    struct tsock *chain; /* on_written writes "chained" here, once */
    bool heap;
} tsock_t;

static uv_loop_t loop;
static int lfd = -1;
static struct sockaddr_in laddr;
static int closed_count;

static void on_data(xp_sock_t *s, xp_chunk_t *c, char *p, size_t len)
{
    (void)s, (void)c, (void)p, (void)len;
}

static void on_eof(xp_sock_t *s)
{
    (void)s;
}

static void on_error(xp_sock_t *s, int err)
{
    tsock_t *t = s->owner;
    t->errors++;
    t->last_err = err;
}

static void on_written(xp_sock_t *s)
{
    tsock_t *t = s->owner;
    t->written++;
    if (t->chain) {
        CHECK(xp_sock_write(&t->chain->s, NULL, "chained", 7) == 0);
        t->chain = NULL;
    }
}

static void on_close(xp_sock_t *s)
{
    tsock_t *t = s->owner;
    closed_count++;
    if (t->heap)
        free(t);
}

static const xp_sock_ops_t ops = {on_data, on_eof, on_error, on_written, on_close};

static void make_pair(tsock_t *t)
{
    memset(t, 0, sizeof(*t));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(c, (struct sockaddr *)&laddr, sizeof(laddr)) == 0);
    t->peer = accept(lfd, NULL, NULL);
    CHECK(t->peer >= 0);
    xp_sock_init(&t->s, &loop, &ops, t);
    CHECK(uv_tcp_open(&t->s.tcp, c) == 0);
}

/* Bytes waiting at the peer, without blocking: -1 with errno EAGAIN when
 * none, 0 at EOF. */
static ssize_t peer_read(tsock_t *t, char *buf, size_t cap)
{
    return recv(t->peer, buf, cap, MSG_DONTWAIT);
}

/* Runs fn inside one loop iteration (a due timer), then lets the iteration
 * finish without blocking. */
static void (*step_fn)(void);
static uv_timer_t step_timer;

static void step_cb(uv_timer_t *h)
{
    (void)h;
    step_fn();
}

static void run_step(void (*fn)(void))
{
    step_fn = fn;
    uv_timer_start(&step_timer, step_cb, 0, 0);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static bool batched;
static tsock_t t[N];
static char msgs[N][2][24];

static void write_all(void)
{
    for (int i = 0; i < N; i++) {
        snprintf(msgs[i][0], sizeof(msgs[i][0]), "head-%d;", i);
        snprintf(msgs[i][1], sizeof(msgs[i][1]), "body-%d.", i);
        if (i % 2) { /* two buffers: a sendmsg */
            xp_sock_cork(&t[i].s);
            CHECK(xp_sock_write(&t[i].s, NULL, msgs[i][0], strlen(msgs[i][0])) == 0);
            CHECK(xp_sock_write(&t[i].s, NULL, msgs[i][1], strlen(msgs[i][1])) == 0);
            CHECK(xp_sock_uncork(&t[i].s) == 0);
        } else { /* one buffer: a send */
            CHECK(xp_sock_write(&t[i].s, NULL, msgs[i][0], strlen(msgs[i][0])) == 0);
        }
    }
    char buf[64];
    for (int i = 0; i < N; i++) {
        size_t want = strlen(msgs[i][0]) + (i % 2 ? strlen(msgs[i][1]) : 0);
        if (batched) { /* nothing has left yet */
            errno = 0;
            CHECK(peer_read(&t[i], buf, sizeof(buf)) == -1 && errno == EAGAIN);
            CHECK(t[i].s.wpending == want);
        } else {
            CHECK(t[i].s.wpending == 0);
        }
    }
}

static void check_all_arrived(void)
{
    for (int i = 0; i < N; i++) {
        char want[56], buf[64];
        snprintf(want, sizeof(want), "%s%s", msgs[i][0], i % 2 ? msgs[i][1] : "");
        ssize_t n = peer_read(&t[i], buf, sizeof(buf));
        CHECK(n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
        CHECK(t[i].s.wpending == 0);
        CHECK(t[i].errors == 0);
        /* a batch that went at the end of the iteration is reported */
        CHECK(t[i].written == (batched ? 1 : 0));
    }
}

/* ---- a write bigger than the socket buffers ---- */

#define BIG (8u << 20)
static char *big;

static void write_big(void)
{
    CHECK(xp_sock_write(&t[0].s, NULL, big, BIG) == 0);
}

static void check_big(void)
{
    /* The kernel took part; libuv queues the rest and writes it as the
     * peer reads. */
    CHECK(t[0].s.wpending > 0 && t[0].s.wpending < BIG);
    CHECK(t[0].written == 0);
    char *got = malloc(BIG);
    size_t have = 0;
    uint64_t deadline = uv_hrtime() + 10 * 1000000000ull;
    while (have < BIG && uv_hrtime() < deadline) {
        ssize_t n = peer_read(&t[0], got + have, BIG - have);
        if (n > 0)
            have += (size_t)n;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    CHECK(have == BIG);
    CHECK(memcmp(got, big, BIG) == 0);
    CHECK(t[0].s.wpending == 0);
    CHECK(t[0].written == 1);
    CHECK(t[0].errors == 0);
    free(got);
}

/* ---- a write, then close, in one iteration ---- */

static tsock_t *closing;

static void write_close(void)
{
    CHECK(xp_sock_write(&closing->s, NULL, "bye", 3) == 0);
    xp_sock_close(&closing->s);
}

/* ---- a peer that reset the connection ---- */

static void write_to_reset(void)
{
    int r = xp_sock_write(&t[1].s, NULL, "x", 1);
    /* at once the error comes back; batched it comes to on_error */
    CHECK(batched ? r == 0 : (r == UV_ECONNRESET || r == UV_EPIPE));
}

/* ---- a write made by an owner's callback while the batches go ---- */

static void write_chain(void)
{
    t[2].chain = &t[3];
    CHECK(xp_sock_write(&t[2].s, NULL, "first", 5) == 0);
}

/* ---- more sockets than one system call takes ---- */

#define LATER_MAX XP_SOCK_LATER_MAX
#define MANY      (LATER_MAX + 2)
static tsock_t *many;

static void write_many(void)
{
    for (int i = 0; i < MANY; i++)
        CHECK(xp_sock_write(&many[i].s, NULL, "m", 1) == 0);
    char b[4];
    int at_once = 0;
    for (int i = 0; i < MANY; i++)
        at_once += peer_read(&many[i], b, sizeof(b)) == 1;
    /* the first LATER_MAX wait, the rest go at once */
    int want = batched ? MANY - LATER_MAX : MANY;
    CHECK(at_once == want);
    if (at_once != want)
        fprintf(stderr, "at once: %d of %d, want %d\n", at_once, MANY, want);
}

static bool ring_offered(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_SUBMIT_ALL;
    int fd = (int)syscall(SYS_io_uring_setup, 8, &p);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

int main(void)
{
    CHECK(uv_loop_init(&loop) == 0);
    uv_timer_init(&loop, &step_timer);
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&laddr, 0, sizeof(laddr));
    laddr.sin_family = AF_INET;
    laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(laddr);
    CHECK(bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&laddr, &al) == 0);
    CHECK(listen(lfd, 64) == 0);
    for (int i = 0; i < N; i++)
        make_pair(&t[i]);

    bool offered = ring_offered();
    int rc = xp_sock_thread_batch(&loop);
    batched = rc == 0;
    printf("io_uring %s here; xp_sock_thread_batch: %s\n", offered ? "offered" : "refused",
           rc ? strerror(-rc) : "ok");
    CHECK(batched == offered);
    CHECK(xp_sock_thread_batch(&loop) != 0); /* once per thread */

    /* N writes in one iteration: one system call carries them all. */
    xp_sock_batch_stats_t st0 = xp_sock_thread_batch_stats();
    run_step(write_all);
    xp_sock_batch_stats_t st1 = xp_sock_thread_batch_stats();
    CHECK(st1.calls - st0.calls == (batched ? 1 : 0));
    CHECK(st1.sends - st0.sends == (batched ? N : 0));
    check_all_arrived();

    /* 8 MiB to a peer that has not read yet. */
    big = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)(i * 7 + i / 4096);
    t[0].written = 0;
    run_step(write_big);
    check_big();
    free(big);

    /* Write then close: the bytes, then EOF, and the socket's memory (freed
     * by on_close) is not touched again. */
    closing = malloc(sizeof(*closing));
    make_pair(closing);
    closing->heap = true;
    int closing_peer = closing->peer;
    closed_count = 0;
    run_step(write_close);
    run_step(write_chain); /* another iteration after the close */
    char buf[16];
    CHECK(recv(closing_peer, buf, sizeof(buf), MSG_DONTWAIT) == 3 && memcmp(buf, "bye", 3) == 0);
    CHECK(recv(closing_peer, buf, sizeof(buf), MSG_DONTWAIT) == 0);
    CHECK(closed_count == 1);
    close(closing_peer);

    /* The chained write (made in t[2]'s on_written, while the batches
     * went) left in the same iteration. */
    CHECK(peer_read(&t[2], buf, sizeof(buf)) == 5);
    if (batched) {
        CHECK(peer_read(&t[3], buf, sizeof(buf)) == 7 && memcmp(buf, "chained", 7) == 0);
    }

    /* A peer that reset: the error reaches the owner. */
    struct linger lg = {1, 0};
    CHECK(setsockopt(t[1].peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0);
    close(t[1].peer);
    t[1].peer = -1;
    t[1].errors = 0;
    usleep(10000);
    run_step(write_to_reset);
    if (batched) {
        CHECK(t[1].errors == 1);
        CHECK(t[1].last_err == UV_ECONNRESET || t[1].last_err == UV_EPIPE);
    }

    /* A burst over the cap: the writes past it are not held. Two
     * descriptors a pair: past the usual soft limit of 1024. */
    struct rlimit nof;
    CHECK(getrlimit(RLIMIT_NOFILE, &nof) == 0);
    nof.rlim_cur = nof.rlim_max;
    CHECK(setrlimit(RLIMIT_NOFILE, &nof) == 0);
    CHECK(nof.rlim_cur > 2 * MANY + 64);
    many = calloc(MANY, sizeof(*many));
    for (int i = 0; i < MANY; i++)
        make_pair(&many[i]);
    st0 = xp_sock_thread_batch_stats();
    run_step(write_many);
    st1 = xp_sock_thread_batch_stats();
    /* XP_URING_MAX sends to a system call */
    CHECK(st1.calls - st0.calls == (batched ? (LATER_MAX + XP_URING_MAX - 1) / XP_URING_MAX : 0));
    CHECK(st1.sends - st0.sends == (batched ? LATER_MAX : 0));
    int arrived = 0;
    for (int i = 0; i < MANY; i++) {
        arrived += peer_read(&many[i], buf, sizeof(buf)) == 1;
        CHECK(many[i].s.wpending == 0);
    }
    CHECK(arrived == (batched ? LATER_MAX : 0)); /* the rest were read above */

    /* Unbatched: a write leaves at once. */
    xp_sock_thread_unbatch();
    xp_sock_batch_stats_t st2 = xp_sock_thread_batch_stats();
    CHECK(st2.calls == 0 && st2.sends == 0);
    CHECK(xp_sock_write(&t[4].s, NULL, "now", 3) == 0);
    CHECK(peer_read(&t[4], buf, sizeof(buf)) == 3);
    CHECK(t[4].s.wpending == 0);

    for (int i = 0; i < N; i++) {
        xp_sock_close(&t[i].s);
        if (t[i].peer >= 0)
            close(t[i].peer);
    }
    for (int i = 0; i < MANY; i++) {
        xp_sock_close(&many[i].s);
        close(many[i].peer);
    }
    uv_close((uv_handle_t *)&step_timer, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0); /* the batching handles closed too */
    free(many);
    close(lfd);
    xp_sock_thread_cleanup();
    xp_chunk_thread_cleanup();
    return check_result("sock_test");
}
