/* Helpers for the xDS client tests: a recording callback set, loop runners
 * with deadlines, and CHECK macros. */
#ifndef XP_TESTS_XDS_CLIENT_TEST_UTIL_H
#define XP_TESTS_XDS_CLIENT_TEST_UTIL_H

#include "xds/client/client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define CHECK_EQ_STR(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                                     \
            fprintf(stderr, "%s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,      \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

enum { T_LDS, T_RDS, T_CDS, T_EDS, T_NTYPES };

typedef struct {
    int updates;
    char *version;      /* version_info of the last update */
    char *names;        /* sorted, joined names of its resources */
    char *res_versions; /* their versions, in the same order */
    char *removed;      /* removed names, sorted, joined */
} t_type_rec_t;

typedef struct {
    t_type_rec_t t[T_NTYPES];
    int total_updates;
    int total_resources; /* sum of n over every accepted update */
    int ups, downs;
    bool connected;
    int reject; /* type index whose updates are rejected, or -1 */
} t_rec_t;

extern t_rec_t t_rec;
extern const xp_xds_callbacks_t t_callbacks;
extern uv_loop_t *t_loop;

void t_rec_free(void);
int t_type_index(const char *type_url);

/* Runs t_loop until pred(arg) is true (checked every few ms) or timeout;
 * returns whether pred became true. */
bool t_run_until(bool (*pred)(void *), void *arg, int timeout_ms);
void t_run_for(int ms);

typedef struct {
    int type;
    const char *names;
} t_names_wait_t;
typedef struct {
    int type, above;
} t_count_wait_t;
typedef struct {
    const char *type_url;
    int min_stream;
} t_first_wait_t;

bool t_all_types_updated(void *arg);
bool t_names_are(void *arg);  /* t_names_wait_t: last update's names */
bool t_removed_is(void *arg); /* t_names_wait_t: last update's removed */
bool t_updates_above(void *arg);
bool t_is_up(void *arg);
bool t_is_down(void *arg);
bool t_has_first_request(void *arg); /* fake server: t_first_wait_t */

/* xp_xds_client_new(t_loop, ...), exiting with its error when it fails
 * (gRPC core could not be loaded). */
xp_xds_client_t *t_client_new(const xp_xds_client_config_t *cfg, void *ctx);

long long t_stat(xp_stats_t *s, const char *name);
int t_thread_count(void);
/* Waits until the process has at most `want` threads; returns the count. */
int t_wait_threads(int want, int timeout_ms);

#endif
