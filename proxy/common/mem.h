/* Allocation policy (decided once, see docs/design notes): small fixed-size
 * allocations abort the process on failure, so callers never check them.
 * Buffers whose size a peer controls must use plain malloc()/realloc() and
 * turn failure into an error reply instead. */
#ifndef XP_COMMON_MEM_H
#define XP_COMMON_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define XP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* Pointer to the struct of `type` whose member `member` is at `ptr`. */
#define XP_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Each returns memory owned by the caller (free with free()); never NULL. */
void *xp_malloc(size_t n);
void *xp_calloc(size_t count, size_t n);
void *xp_realloc(void *p, size_t n);
char *xp_strdup(const char *s);
char *xp_strndup(const char *s, size_t n);
/* printf into a new string owned by the caller. */
char *xp_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A thread's spare objects of one kind: freed objects kept for reuse (up to
 * a cap the caller gives), so a hot path's allocation is a list pop. An
 * object on the list is dead; its first pointer-sized bytes hold the link,
 * so the kind needs no field for it. Not thread-safe: one per thread. */
typedef struct {
    void *head;
    unsigned n;
} xp_spares_t;

/* A spare object (contents undefined), or NULL when there is none. */
static inline void *xp_spares_take(xp_spares_t *l)
{
    void *o = l->head;
    if (o) {
        memcpy(&l->head, o, sizeof(void *));
        l->n--;
    }
    return o;
}

/* Keeps o for reuse unless max are kept already; false: the caller frees
 * it. Under AddressSanitizer nothing is kept, so that every object really
 * is freed and a use after free is reported, not read from a reused one. */
static inline bool xp_spares_keep(xp_spares_t *l, void *o, unsigned max)
{
#ifdef __SANITIZE_ADDRESS__
    max = 0;
#endif
    if (l->n >= max)
        return false;
    memcpy(o, &l->head, sizeof(void *));
    l->head = o;
    l->n++;
    return true;
}

/* Frees every spare (at thread exit, so leak checkers stay quiet). */
static inline void xp_spares_free_all(xp_spares_t *l)
{
    void *o;
    while ((o = xp_spares_take(l)) != NULL)
        free(o);
}

/* Called last in main, under LeakSanitizer (the --config=asan build): the
 * leak check runs as soon as main has returned, before the libraries'
 * exit-time destructors, and ends the process on a leak as LSan's own
 * exit-time check would (which then does nothing). Nothing otherwise. The
 * tracer crash this was meant to avoid ("Tracer caught signal 11") had
 * another cause, dynamic TLS, which .bazelrc's intercept_tls_get_addr=0
 * avoids (tests/common/lsan_tls_test.c). */
void xp_leak_check_first_at_exit(void);

#endif
