/* Diagnostics: the list of problems found in a piece of configuration, each
 * naming where (a field path such as
 * "static_resources.clusters[2].load_assignment.endpoints[0]") and what.
 * Used by the codec, the bootstrap loader and config translation, so a
 * startup error, a `--mode validate` report and a NACK's error_detail all
 * read the same way. */
#ifndef XP_COMMON_DIAG_H
#define XP_COMMON_DIAG_H

#include <stddef.h>
#include <stdio.h>

typedef enum {
    XP_DIAG_ERROR,
    XP_DIAG_WARNING,
} xp_diag_sev_t;

typedef struct {
    xp_diag_sev_t sev;
    char *path; /* owned; "" for the document root */
    char *msg;  /* owned */
} xp_diag_entry_t;

typedef struct {
    xp_diag_entry_t *v;
    size_t n, cap;
    size_t nerrors;
} xp_diag_t;

void xp_diag_init(xp_diag_t *d);
/* Frees every entry; the xp_diag_t itself is the caller's. */
void xp_diag_free(xp_diag_t *d);
void xp_diag_add(xp_diag_t *d, xp_diag_sev_t sev, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define xp_diag_error(d, path, ...) xp_diag_add((d), XP_DIAG_ERROR, (path), __VA_ARGS__)
#define xp_diag_warn(d, path, ...)  xp_diag_add((d), XP_DIAG_WARNING, (path), __VA_ARGS__)
/* Writes one line per entry: "<prefix>error: <path>: <msg>". */
void xp_diag_print(const xp_diag_t *d, FILE *f, const char *prefix);
/* All entries of at least `sev` severity joined with "; ", as a string owned
 * by the caller (for a NACK's error_detail). */
char *xp_diag_join(const xp_diag_t *d, xp_diag_sev_t sev);

/* A field path under construction. push returns a mark; pop(mark) undoes it.
 * Paths longer than the buffer are truncated with "..." (still unique enough
 * to read). */
typedef struct {
    char buf[1024];
    size_t len;
} xp_path_t;

void xp_path_init(xp_path_t *p, const char *root);
size_t xp_path_push_field(xp_path_t *p, const char *field);
size_t xp_path_push_index(xp_path_t *p, size_t index);
size_t xp_path_push_key(xp_path_t *p, const char *key);
void xp_path_pop(xp_path_t *p, size_t mark);
static inline const char *xp_path_str(const xp_path_t *p)
{
    return p->buf;
}

#endif
