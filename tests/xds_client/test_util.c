#include "tests/xds_client/test_util.h"
#include "tests/xds_client/fake_server.h"

#include "proxy/common/mem.h"

#include <dirent.h>
#include <time.h>

t_rec_t t_rec = {.reject = -1};
uv_loop_t *t_loop;

static const char *const t_urls[T_NTYPES] = {XP_XDS_TYPE_LISTENER, XP_XDS_TYPE_ROUTE,
                                             XP_XDS_TYPE_CLUSTER, XP_XDS_TYPE_ENDPOINT};

int t_type_index(const char *type_url)
{
    for (int i = 0; i < T_NTYPES; i++)
        if (strcmp(t_urls[i], type_url) == 0)
            return i;
    return -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_res(const void *a, const void *b)
{
    return strcmp(((const xp_xds_resource_t *)a)->name, ((const xp_xds_resource_t *)b)->name);
}

static char *join(char **v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *out = xp_malloc(len);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, v[i]);
    }
    return out;
}

static int on_update(void *ctx, const char *type_url, const char *version_info,
                     const xp_xds_resource_t *res, size_t n, char *const *removed, size_t n_removed,
                     bool delta, char **error_detail)
{
    (void)ctx;
    (void)delta;
    int ti = t_type_index(type_url);
    CHECK(ti >= 0);
    CHECK(t_loop != NULL);
    if (ti == t_rec.reject) {
        const char *last = "?"; /* the greatest name, whatever the server's order */
        for (size_t i = 0; i < n; i++)
            if (strcmp(last, "?") == 0 || strcmp(res[i].name, last) > 0)
                last = res[i].name;
        *error_detail = xp_asprintf("bad listener %s", last);
        return -1;
    }
    t_type_rec_t *t = &t_rec.t[ti];
    xp_xds_resource_t *sorted = xp_malloc((n + 1) * sizeof(*sorted));
    if (n)
        memcpy(sorted, res, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), cmp_res);
    char **names = xp_malloc((n + 1) * sizeof(char *));
    char **vers = xp_malloc((n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        CHECK(sorted[i].msg != NULL);
        names[i] = sorted[i].name;
        vers[i] = sorted[i].version;
    }
    free(t->names);
    free(t->res_versions);
    free(t->version);
    free(t->removed);
    t->names = join(names, n);
    t->res_versions = join(vers, n);
    t->version = xp_strdup(version_info);
    char **rm = xp_malloc((n_removed + 1) * sizeof(char *));
    if (n_removed)
        memcpy(rm, removed, n_removed * sizeof(char *));
    qsort(rm, n_removed, sizeof(char *), cmp_str);
    t->removed = join(rm, n_removed);
    free(rm);
    free(names);
    free(vers);
    free(sorted);
    t->updates++;
    t_rec.total_updates++;
    t_rec.total_resources += (int)n;
    return 0;
}

static void on_connection(void *ctx, bool up)
{
    (void)ctx;
    CHECK(up != t_rec.connected);
    t_rec.connected = up;
    if (up)
        t_rec.ups++;
    else
        t_rec.downs++;
}

const xp_xds_callbacks_t t_callbacks = {on_update, on_connection};

void t_rec_free(void)
{
    for (int i = 0; i < T_NTYPES; i++) {
        free(t_rec.t[i].version);
        free(t_rec.t[i].names);
        free(t_rec.t[i].res_versions);
        free(t_rec.t[i].removed);
    }
    memset(&t_rec, 0, sizeof(t_rec));
    t_rec.reject = -1;
}

typedef struct {
    bool (*pred)(void *);
    void *arg;
    bool ok;
    uint64_t deadline;
} t_wait_t;

static void on_tick(uv_timer_t *tm)
{
    t_wait_t *w = tm->data;
    if ((w->pred && w->pred(w->arg)) || uv_now(tm->loop) >= w->deadline) {
        w->ok = w->pred && w->pred(w->arg);
        uv_stop(tm->loop);
    }
}

bool t_run_until(bool (*pred)(void *), void *arg, int timeout_ms)
{
    if (pred && pred(arg))
        return true;
    uv_update_time(t_loop);
    t_wait_t w = {pred, arg, false, uv_now(t_loop) + (uint64_t)timeout_ms};
    uv_timer_t tm;
    uv_timer_init(t_loop, &tm);
    tm.data = &w;
    uv_timer_start(&tm, on_tick, 2, 2);
    uv_run(t_loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&tm, NULL);
    uv_run(t_loop, UV_RUN_NOWAIT);
    return w.ok;
}

void t_run_for(int ms)
{
    t_run_until(NULL, NULL, ms);
}

bool t_all_types_updated(void *arg)
{
    (void)arg;
    for (int i = 0; i < T_NTYPES; i++)
        if (t_rec.t[i].updates == 0)
            return false;
    return true;
}

bool t_names_are(void *arg)
{
    t_names_wait_t *w = arg;
    return t_rec.t[w->type].names && strcmp(t_rec.t[w->type].names, w->names) == 0;
}

bool t_removed_is(void *arg)
{
    t_names_wait_t *w = arg;
    return t_rec.t[w->type].removed && strcmp(t_rec.t[w->type].removed, w->names) == 0;
}

bool t_updates_above(void *arg)
{
    t_count_wait_t *w = arg;
    return t_rec.t[w->type].updates > w->above;
}

bool t_is_up(void *arg)
{
    (void)arg;
    return t_rec.connected;
}

bool t_is_down(void *arg)
{
    (void)arg;
    return !t_rec.connected;
}

long long t_stat(xp_stats_t *s, const char *name)
{
    xp_stat_t *st = xp_stats_find(s, name);
    return st ? (long long)xp_stat_get(st) : -1;
}

int t_thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

int t_wait_threads(int want, int timeout_ms)
{
    int n = t_thread_count();
    for (int i = 0; i < timeout_ms / 10 && n > want; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        n = t_thread_count();
    }
    return n;
}

xp_xds_client_t *t_client_new(const xp_xds_client_config_t *cfg, void *ctx)
{
    char *err = NULL;
    xp_xds_client_t *c = xp_xds_client_new(t_loop, cfg, &t_callbacks, ctx, &err);
    if (c == NULL) {
        fprintf(stderr, "xp_xds_client_new: %s\n", err);
        exit(1);
    }
    return c;
}
