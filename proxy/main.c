/* xproxy: an Envoy-compatible proxy configured by xDS. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "proxy/accesslog/accesslog.h"
#include "proxy/common/diag.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"
#include "proxy/core/snapshot.h"
#include "proxy/core/wctx.h"
#include "proxy/router/route.h"
#include "proxy/router/scope.h"
#include "proxy/runtime/runtime.h"
#include "proxy/server/admin.h"
#include "proxy/server/dataplane.h"
#include "proxy/server/server.h"
#include "xds/bootstrap/bootstrap.h"
#include "xds/manager/manager.h"

/* What the admin hooks see. bs first: hooks that only need the bootstrap
 * cast ctx to xp_bootstrap_t **. */
typedef struct {
    xp_bootstrap_t *bs;
    xp_dataplane_t *dp;
    xp_xds_manager_t *xds;
} xp__ctx_t;

static char *xp__hook_config_dump(void *ctx, const char *resource)
{
    xp__ctx_t *c = ctx;
    if (c->xds == NULL)
        return xp_strdup("{\"configs\":[]}\n");
    return xp_xds_manager_config_dump(c->xds, resource);
}

/* At shutdown the xDS client stops first, so no update races the drain. */
static void xp__stop_xds(void *arg)
{
    xp__ctx_t *c = arg;
    xp_xds_manager_free(c->xds);
    c->xds = NULL;
}

static char *xp__hook_node(void *ctx)
{
    return xp_bootstrap_node_json(*(xp_bootstrap_t **)ctx);
}

/* Envoy's /listeners with the bound addresses. */
static char *xp__hook_listeners(void *ctx, int json)
{
    return xp_dataplane_listeners(((xp__ctx_t *)ctx)->dp, json);
}

/* Envoy's /clusters: the clusters in force with their current hosts. */
static char *xp__hook_clusters(void *ctx, int json)
{
    return xp_dataplane_clusters(((xp__ctx_t *)ctx)->dp, json);
}

/* Logs the bound admin address and, with --admin-address-path, writes it to
 * that file as Envoy does ("127.0.0.1:9901"), so tests can use port 0. */
static int xp__write_admin_address(const xp_options_t *o, const xp_addr_t *a, int port)
{
    char buf[96];
    const char *colon = strrchr(a->str, ':');
    snprintf(buf, sizeof(buf), "%.*s:%d", (int)(colon - a->str), a->str, port);
    XP_INFO("admin address: %s", buf);
    if (o->admin_address_path == NULL)
        return 0;
    FILE *f = fopen(o->admin_address_path, "w");
    int bad = f == NULL;
    if (f) {
        bad |= fprintf(f, "%s\n", buf) < 0;
        bad |= fclose(f) != 0;
    }
    if (bad)
        XP_ERROR("cannot write admin address to %s", o->admin_address_path);
    return bad ? -1 : 0;
}

/* /runtime and /runtime_modify: the manager's runtime loader (gone once
 * shutdown stopped xDS). */
static char *xp__hook_runtime(void *ctx)
{
    xp_runtime_loader_t *l = xp_xds_manager_runtime(((xp__ctx_t *)ctx)->xds);
    return xp_runtime_render_json(l ? xp_runtime_loader_snapshot(l) : NULL);
}

static int xp__hook_runtime_modify(void *ctx, char *const *keys, char *const *values, size_t n,
                                   char **error)
{
    xp_runtime_loader_t *l = xp_xds_manager_runtime(((xp__ctx_t *)ctx)->xds);
    if (l == NULL) {
        *error = xp_strdup("the runtime is gone (shutting down)");
        return -1;
    }
    return xp_runtime_loader_modify(l, keys, values, n, error);
}

/* How many config objects of all generations are alive: with the
 * listeners' downstream_cx_old_config, what shows that old generations go
 * once nothing runs on them. */
static void xp__hook_refresh(void *ctx, xp_stats_t *st)
{
    (void)ctx;
    xp_config_alive_t a;
    xp_config_alive(&a);
    xp_stat_set(xp_stats_gauge(st, "server.config.listeners_alive"), (int64_t)a.listeners);
    xp_stat_set(xp_stats_gauge(st, "server.config.filter_chains_alive"), (int64_t)a.filter_chains);
    xp_stat_set(xp_stats_gauge(st, "server.config.clusters_alive"), (int64_t)a.clusters);
    xp_stat_set(xp_stats_gauge(st, "server.config.assignments_alive"), (int64_t)a.assignments);
    xp_stat_set(xp_stats_gauge(st, "server.config.route_tables_alive"),
                (int64_t)xp_route_tables_alive());
    xp_stat_set(xp_stats_gauge(st, "server.config.scopes_alive"), (int64_t)xp_scopes_alive());
    xp_stat_set(xp_stats_gauge(st, "server.config.snapshots_alive"), (int64_t)xp_snapshots_alive());
    xp_stat_set(xp_stats_gauge(st, "server.config.runtimes_alive"), (int64_t)xp_runtimes_alive());
    xp_stat_set(xp_stats_gauge(st, "server.open_connections"), (int64_t)xp_open_connections());
}

static const xp_config_hooks_t xp__hooks = {
    .config_dump = xp__hook_config_dump,
    .node_json = xp__hook_node,
    .listeners = xp__hook_listeners,
    .clusters = xp__hook_clusters,
    .refresh_stats = xp__hook_refresh,
    .runtime = xp__hook_runtime,
    .runtime_modify = xp__hook_runtime_modify,
};

/* The number of threads of this process (its /proc/self/task entries);
 * 0 when that cannot be read. */
static int xp__thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* gRPC's own threads can still be on their way out after
 * grpc_shutdown_blocking returned (detached pool threads). Waits, up to ms,
 * until this is the only thread, so that no thread is half-way through
 * exiting when the process ends: LeakSanitizer's exit-time check crashed on
 * one ("Tracer caught signal 11"). */
static void xp__await_lone_thread(int ms)
{
    int n = xp__thread_count(), waited = 0;
    for (; n > 1 && waited < ms; waited += 2) {
        usleep(2000);
        n = xp__thread_count();
    }
    if (waited)
        XP_DEBUG("waited %d ms for library threads to end; %d thread%s left", waited, n,
                 n == 1 ? "" : "s");
}

int main(int argc, char **argv)
{
    /* A peer that closes while we write must cost an EPIPE, not the
     * process. */
    signal(SIGPIPE, SIG_IGN);
    xp_options_t opts;
    if (xp_options_parse(argc, argv, &opts, stderr) != 0)
        return 1;
    if (opts.show_help) {
        xp_options_usage(stdout);
        return 0;
    }
    if (opts.show_version) {
        printf("xproxy version: %s (Envoy v3 API)\n", XP_VERSION);
        return 0;
    }
    xp_log_level = opts.log_level;

    xp_diag_t diag;
    xp_diag_init(&diag);
    xp_bootstrap_t *bs = xp_bootstrap_load(&opts, &diag);
    const char *what = opts.config_path ? opts.config_path : "--config-yaml";
    xp_diag_print(&diag, stderr, "");
    if (bs == NULL) {
        fprintf(stderr, "error: configuration '%s' is invalid: %zu error%s\n", what, diag.nerrors,
                diag.nerrors == 1 ? "" : "s");
        xp_diag_free(&diag);
        return 1;
    }
    xp_diag_free(&diag);
    if (opts.mode == XP_MODE_VALIDATE) {
        printf("configuration '%s' OK\n", what);
        xp_bootstrap_free(bs);
        return 0;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    xp_server_t server;
    if (xp_server_init(&server, &opts, &loop) != 0) {
        xp_server_shutdown(&server);
        uv_run(&loop, UV_RUN_DEFAULT);
        xp_server_destroy(&server);
        uv_loop_close(&loop);
        xp_bootstrap_free(bs);
        return 1;
    }
    xp__ctx_t hctx = {bs, NULL, NULL};
    server.hooks = &xp__hooks;
    server.hooks_ctx = &hctx;

    const xp_addr_t *admin_addr;
    const char *admin_log;
    int rc = 0;
    if (xp_bootstrap_admin(bs, &admin_addr, &admin_log, &server.admin_logs_unimplemented)) {
        rc = xp_admin_start(&server, (const struct sockaddr *)&admin_addr->ss, admin_log);
        if (rc)
            XP_ERROR("admin: cannot listen on %s: %s", admin_addr->str, uv_strerror(rc));
        else
            rc = xp__write_admin_address(&opts, admin_addr, xp_admin_port(server.admin));
    }
    if (rc == 0) {
        hctx.dp = xp_dataplane_new(&server);
        xp_diag_t dd;
        xp_diag_init(&dd);
        hctx.xds = xp_xds_manager_start(&server, hctx.dp, bs, &dd);
        xp_diag_print(&dd, stderr, "");
        xp_diag_free(&dd);
        if (hctx.xds == NULL)
            rc = -1;
        else
            xp_server_on_shutdown(&server, xp__stop_xds, &hctx);
    }
    if (rc == 0) {
        XP_INFO("xproxy %s started with %d worker%s", XP_VERSION, opts.concurrency,
                opts.concurrency == 1 ? "" : "s");
    } else {
        server.exit_code = 1;
        xp_server_shutdown(&server);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    int code = server.exit_code;
    xp_dataplane_free(hctx.dp);
    xp_server_destroy(&server);
    if (uv_loop_close(&loop) != 0) {
        XP_ERROR("main loop still has open handles at exit");
        code = 1;
    }
    xp_bootstrap_free(bs);
    xp_access_log_shutdown();
    xp__await_lone_thread(1000);
    XP_INFO("exiting");
    xp_leak_check_first_at_exit();
    return code;
}
