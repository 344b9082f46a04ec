/* The access log writer: open errors, files shared by path, dropping instead
 * of blocking when the queue is full, and 4 threads x 10,000 lines arriving
 * intact and complete after shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxy/accesslog/accesslog.h"

static int failures, checks;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static char tmpdir[512];

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

/* Reads a whole file (caller frees); NULL if it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap + 1);
    size_t r;
    while ((r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap)
            p = realloc(p, (cap *= 2) + 1);
    }
    fclose(f);
    p[n] = '\0';
    *len = n;
    return p;
}

static size_t count_lines(const char *p, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += p[i] == '\n';
    return c;
}

/* Waits (up to 10 s) for path to hold `lines` lines. */
static bool wait_lines(const char *path, size_t lines)
{
    for (int i = 0; i < 1000; i++) {
        size_t n;
        char *p = slurp(path, &n);
        size_t c = p ? count_lines(p, n) : 0;
        free(p);
        if (c >= lines)
            return c == lines;
        usleep(10000);
    }
    return false;
}

static bool diag_has(const xp_diag_t *d, const char *path, const char *needle)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].path, path) == 0 && strstr(d->v[i].msg, needle))
            return true;
    fprintf(stderr, "  no diag at %s containing \"%s\"; have:\n", path, needle);
    xp_diag_print(d, stderr, "    ");
    return false;
}

static void test_open_errors(void)
{
    xp_diag_t d;
    xp_diag_init(&d);
    char path[600];
    tmp_path(path, sizeof(path), "bad.log");

    xp_access_log_cfg_t cfg = {.path = path, .format = "%RESPONSE_CODE% %NOPE%\n"};
    CHECK(xp_access_log_open(&cfg, &d, "access_log[0].typed_config") == NULL);
    CHECK(diag_has(&d, "access_log[0].typed_config", "unknown command operator %NOPE%"));
    CHECK(diag_has(&d, "access_log[0].typed_config", path));
    CHECK(access(path, F_OK) != 0); /* no file created for a bad format */

    cfg.format = NULL;
    cfg.path = "/nonexistent-dir/x/access.log";
    CHECK(xp_access_log_open(&cfg, &d, "access_log[1]") == NULL);
    CHECK(diag_has(&d, "access_log[1]", "cannot open access log /nonexistent-dir/x/access.log"));

    /* A FIFO nobody reads fails instead of hanging the caller. */
    char fifo[600];
    tmp_path(fifo, sizeof(fifo), "noreader.fifo");
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    cfg.path = fifo;
    CHECK(xp_access_log_open(&cfg, &d, "access_log[2]") == NULL);
    CHECK(diag_has(&d, "access_log[2]", "cannot open access log"));
    unlink(fifo);

    CHECK(d.nerrors == 3);
    CHECK(xp_access_log_open_files() == 0);
    xp_diag_free(&d);
}

static void test_shared(void)
{
    xp_diag_t d;
    xp_diag_init(&d);
    char a[600], b[600];
    tmp_path(a, sizeof(a), "shared.log");
    tmp_path(b, sizeof(b), "other.log");
    unlink(a);
    unlink(b);

    xp_access_log_cfg_t c1 = {.path = a, .format = "one %RESPONSE_CODE%\n"};
    xp_access_log_cfg_t c2 = {.path = a, .format = "two %RESPONSE_CODE%\n"};
    xp_access_log_cfg_t c3 = {.path = b};
    xp_access_log_t *l1 = xp_access_log_open(&c1, &d, "l1");
    xp_access_log_t *l2 = xp_access_log_open(&c2, &d, "l2");
    CHECK(l1 && l2 && l1 != l2);
    CHECK(xp_access_log_open_files() == 1); /* one file, one writer */
    xp_access_log_t *l3 = xp_access_log_open(&c3, &d, "l3");
    CHECK(l3 != NULL);
    CHECK(xp_access_log_open_files() == 2);
    CHECK(d.n == 0);

    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.response_code = 204;
    for (int i = 0; i < 100; i++) {
        xp_access_log_write(l1, &r);
        xp_access_log_write(l2, &r);
    }
    xp_access_log_write(l3, &r);

    xp_access_log_ref(l1);
    xp_access_log_unref(l1);
    CHECK(xp_access_log_open_files() == 2);
    xp_access_log_unref(l1);
    CHECK(xp_access_log_open_files() == 2); /* l2 still holds the shared file */
    xp_access_log_unref(l2);
    CHECK(xp_access_log_open_files() == 1);
    xp_access_log_unref(l3);
    CHECK(xp_access_log_open_files() == 0);

    /* The writers drain on their own after the last reference. */
    CHECK(wait_lines(a, 200));
    CHECK(wait_lines(b, 1));
    size_t n;
    char *p = slurp(a, &n);
    size_t ones = 0, twos = 0;
    for (char *line = p; line && *line;) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break;
        *nl = '\0';
        if (strcmp(line, "one 204") == 0)
            ones++;
        else if (strcmp(line, "two 204") == 0)
            twos++;
        line = nl + 1;
    }
    CHECK(ones == 100 && twos == 100);
    free(p);
    p = slurp(b, &n);
    CHECK(p && strstr(p, "\"- - -\" 204 - 0 0 - - \"-\" \"-\" \"-\" \"-\" \"-\"\n") != NULL);
    free(p);
    xp_diag_free(&d);
}

/* ---- a full queue drops lines instead of blocking ------------------------ */

typedef struct {
    xp_access_log_t *log;
    int calls;
} drop_arg_t;

static void *drop_writer(void *arg)
{
    drop_arg_t *a = arg;
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.path = XP_STR_LIT("/padding/padding/padding/padding/padding/padding/padding/padding");
    for (int i = 0; i < 2500; i++) {
        xp_access_log_write(a->log, &r);
        a->calls++;
    }
    return NULL;
}

static int drain_fd;
static size_t drained_lines;

static void *drainer(void *arg)
{
    (void)arg;
    char buf[65536];
    ssize_t n;
    while ((n = read(drain_fd, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        drained_lines += count_lines(buf, (size_t)n);
    }
    return NULL;
}

static void test_drop(void)
{
    char fifo[600];
    tmp_path(fifo, sizeof(fifo), "slow.fifo");
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    /* A reader that never reads (until the end): the writer thread blocks in
     * write(2) once the pipe's buffer is full. */
    drain_fd = open(fifo, O_RDONLY | O_NONBLOCK);
    CHECK(drain_fd >= 0);

    xp_diag_t d;
    xp_diag_init(&d);
    xp_access_log_set_queue_limit(4096);
    xp_access_log_cfg_t cfg = {.path = fifo, .format = "%REQ(:PATH)% %BYTES_SENT%\n"};
    xp_access_log_t *l = xp_access_log_open(&cfg, &d, "fifo");
    xp_access_log_set_queue_limit(0);
    CHECK(l != NULL);
    if (!l) {
        xp_diag_print(&d, stderr, "  ");
        return;
    }

    /* Fill the pipe first, so the writer thread is stuck in write(2) before
     * the worker threads start. */
    int pipe_sz = fcntl(drain_fd, F_SETPIPE_SZ, 4096);
    CHECK(pipe_sz >= 4096);
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.path = XP_STR_LIT("/fill");
    int fill_calls = 0, queued = 0;
    for (int i = 0; i < 5000 && queued < pipe_sz; i++) {
        xp_access_log_write(l, &r);
        fill_calls++;
        usleep(200);
        ioctl(drain_fd, FIONREAD, &queued);
    }
    CHECK(queued >= pipe_sz);

    pthread_t th[4];
    drop_arg_t args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (drop_arg_t){l, 0};
        pthread_create(&th[i], NULL, drop_writer, &args[i]);
    }
    int calls = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        calls += args[i].calls;
    }
    uint64_t dropped = xp_access_log_dropped(l);
    printf("drop test: pipe of %d bytes full after %d lines; %d write calls returned, %llu "
           "dropped\n",
           pipe_sz, fill_calls, calls, (unsigned long long)dropped);
    CHECK(calls == 10000);
    CHECK(dropped > 0 && dropped < 10000);

    /* Now read everything: what was not dropped arrives, complete. */
    int fl = fcntl(drain_fd, F_GETFL);
    fcntl(drain_fd, F_SETFL, fl & ~O_NONBLOCK);
    pthread_t dt;
    pthread_create(&dt, NULL, drainer, NULL);
    xp_access_log_unref(l); /* writer drains, closes: the drainer sees EOF */
    pthread_join(dt, NULL);
    close(drain_fd);
    printf("drop test: %zu lines arrived\n", drained_lines);
    CHECK(drained_lines + dropped == 10000 + (size_t)fill_calls);
    unlink(fifo);
    xp_diag_free(&d);
}

/* ---- 4 threads x 10,000 lines -------------------------------------------- */

#define THREADS 4
#define LINES   10000

static xp_access_log_t *mt_log;

static void *mt_writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char tid[8], seq[16];
    snprintf(tid, sizeof(tid), "t%d", t);
    xp_header_t h[2] = {{XP_STR_LIT("x-thread"), xp_str_c(tid)}, {XP_STR_LIT("x-seq"), {0}}};
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.request_headers = h;
    r.n_request_headers = 2;
    r.path = XP_STR_LIT("/a-long-path-to-make-interleaving-visible/0123456789abcdefghijklmnopqrst"
                        "uvwxyz/0123456789abcdefghijklmnopqrstuvwxyz/0123456789abcdefghij");
    r.start_time_us = 1795600800123456LL;
    for (int i = 0; i < LINES; i++) {
        snprintf(seq, sizeof(seq), "%d", i);
        h[1].value = xp_str_c(seq);
        r.bytes_sent = (uint64_t)i;
        xp_access_log_write(mt_log, &r);
    }
    return NULL;
}

static void test_threads(void)
{
    char path[600];
    tmp_path(path, sizeof(path), "mt.log");
    unlink(path);
    xp_diag_t d;
    xp_diag_init(&d);
    xp_access_log_cfg_t cfg = {
        .path = path,
        .format = "%REQ(X-THREAD)% %REQ(X-SEQ)% %BYTES_SENT% %REQ(:PATH)% %START_TIME%\n",
    };
    mt_log = xp_access_log_open(&cfg, &d, "mt");
    CHECK(mt_log != NULL);
    if (!mt_log)
        return;

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, mt_writer, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK(xp_access_log_dropped(mt_log) == 0);

    xp_access_log_shutdown();
    CHECK(xp_access_log_open_files() == 0);

    size_t n;
    char *p = slurp(path, &n);
    CHECK(p != NULL);
    if (!p)
        return;
    const char *want_tail =
        " /a-long-path-to-make-interleaving-visible/0123456789abcdefghijklmnopqrst"
        "uvwxyz/0123456789abcdefghijklmnopqrstuvwxyz/0123456789abcdefghij "
        "2026-11-25T10:00:00.123Z";
    size_t lines = 0, bad = 0;
    int next[THREADS] = {0};
    for (char *line = p; *line;) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            bad++; /* unterminated last line */
            break;
        }
        *nl = '\0';
        lines++;
        int t, seq, bytes, off = 0;
        if (sscanf(line, "t%d %d %d%n", &t, &seq, &bytes, &off) != 3 || t < 0 || t >= THREADS ||
            seq != bytes || seq != next[t] || strcmp(line + off, want_tail) != 0) {
            if (bad++ < 3)
                fprintf(stderr, "  bad line %zu: [%s]\n", lines, line);
        } else {
            next[t]++;
        }
        line = nl + 1;
    }
    printf("threads test: %zu lines, %zu bad\n", lines, bad);
    CHECK(lines == THREADS * LINES);
    CHECK(bad == 0);
    for (int t = 0; t < THREADS; t++)
        CHECK(next[t] == LINES); /* every line, in each thread's order */
    free(p);

    /* After shutdown the old log drops; a new open gets a new writer. */
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    xp_access_log_write(mt_log, &r);
    CHECK(xp_access_log_dropped(mt_log) == 1);
    xp_access_log_t *again = xp_access_log_open(&cfg, &d, "again");
    CHECK(again != NULL && xp_access_log_open_files() == 1);
    xp_access_log_write(again, &r);
    xp_access_log_shutdown();
    p = slurp(path, &n);
    CHECK(p && count_lines(p, n) == THREADS * LINES + 1);
    const char *last = "- - 0 - 1970-01-01T00:00:00.000Z\n";
    CHECK(p && n > strlen(last) && strcmp(p + n - strlen(last), last) == 0);
    free(p);

    xp_access_log_unref(again);
    xp_access_log_unref(mt_log);
    xp_diag_free(&d);
}

static void test_stdout(void)
{
    xp_diag_t d;
    xp_diag_init(&d);
    xp_access_log_cfg_t cfg = {.path = "/dev/stdout",
                               .format = "stdout log line %RESPONSE_CODE%\n"};
    xp_access_log_t *l = xp_access_log_open(&cfg, &d, "stdout");
    CHECK(l != NULL);
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.response_code = 200;
    fflush(stdout);
    xp_access_log_write(l, &r);
    xp_access_log_unref(l);
    xp_diag_free(&d);
}

int main(void)
{
    const char *t = getenv("TEST_TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t && *t ? t : "/tmp");

    test_open_errors();
    test_shared();
    test_drop();
    test_stdout();
    test_threads(); /* ends with xp_access_log_shutdown() */

    if (failures) {
        fprintf(stderr, "writer_test: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("writer_test: all %d checks passed\n", checks);
    return 0;
}
