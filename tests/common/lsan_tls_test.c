/* LeakSanitizer and dynamic TLS, under the options .bazelrc gives
 * --config=asan tests.
 *
 * xproxy maps gRPC core with dlopen, so the thread-locals of gRPC and of the
 * libraries it brings are dynamic TLS: glibc allocates a block per thread on
 * first use, with malloc. GCC 12's sanitizer runtime intercepts
 * __tls_get_addr and, for a block that starts 16 bytes past a page boundary,
 * assumes a glibc older than 2.25 and reads the two words before the block
 * as its address and length. ASan's allocator puts small blocks exactly
 * there (a 16-byte chunk header after a page-aligned chunk), so those words
 * are its own header and the recorded range is garbage. LeakSanitizer's
 * tracer later scans that range and dies ("Tracer caught signal 11 ...
 * LeakSanitizer has encountered a fatal error"), failing a test that leaked
 * nothing. intercept_tls_get_addr=0 skips the recording.
 *
 * Here THREADS threads use a small thread-local of a library mapped with
 * dlopen (argv[1]) and stay alive while leak checks run: under ASan a check
 * must complete, find a leaked object, and find nothing once it is freed.
 * Without ASan the thread-locals are still checked to be per thread. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/check.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#define THREADS 64

static char *(*tiny_tls)(void);
static pthread_barrier_t touched, release;
static char *blocks[THREADS];

static void *run(void *arg)
{
    size_t i = (size_t)(uintptr_t)arg;
    blocks[i] = tiny_tls();
    blocks[i][0] = (char)(i + 1);
    pthread_barrier_wait(&touched);
    pthread_barrier_wait(&release); /* alive while the checks run */
    return NULL;
}

#if defined(__SANITIZE_ADDRESS__)
/* The leaked object's address, kept only in a form no scan reads as a
 * pointer. */
static uintptr_t hidden;
#define HIDE 0x5a5a5a5a5a5a5a5aULL

static __attribute__((noinline)) void leak_one(void)
{
    char *p = malloc(24);
    memset(p, 1, 24);
    hidden = (uintptr_t)p ^ HIDE;
}

/* Overwrites the stack below the caller, where leak_one's frame was. */
static __attribute__((noinline)) void scrub_stack(void)
{
    volatile char pad[4096];
    memset((char *)pad, 0, sizeof pad);
}
#endif

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: lsan_tls_test LIBRARY\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (lib == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    tiny_tls = (char *(*)(void))dlsym(lib, "xp_tiny_tls");
    if (tiny_tls == NULL) {
        fprintf(stderr, "dlsym xp_tiny_tls: %s\n", dlerror());
        return 1;
    }

    pthread_barrier_init(&touched, NULL, THREADS + 1);
    pthread_barrier_init(&release, NULL, THREADS + 1);
    pthread_t t[THREADS];
    for (size_t i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, run, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    pthread_barrier_wait(&touched);

    /* Each thread has its own block, holding what it wrote. */
    int at16 = 0;
    for (size_t i = 0; i < THREADS; i++) {
        CHECK(blocks[i][0] == (char)(i + 1));
        for (size_t j = 0; j < i; j++)
            CHECK(blocks[i] != blocks[j]);
        at16 += (uintptr_t)blocks[i] % 4096 == 16;
    }
    printf("%d of %d dynamic TLS blocks start 16 bytes past a page boundary\n", at16, THREADS);

#if defined(__SANITIZE_ADDRESS__)
    /* A check while the threads live: it completes (a tracer crash ends
     * the process here), and it finds a real leak... */
    leak_one();
    scrub_stack();
    printf("a leak check with one object leaked (a report follows):\n");
    fflush(stdout);
    CHECK(__lsan_do_recoverable_leak_check() != 0);
    /* ... and nothing once that is freed. */
    free((void *)(hidden ^ HIDE));
    hidden = 0;
    CHECK(__lsan_do_recoverable_leak_check() == 0);
#endif

    pthread_barrier_wait(&release);
    for (size_t i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&touched);
    pthread_barrier_destroy(&release);
    dlclose(lib);
    return check_result("lsan_tls_test");
}
