/* The xDS client against the project's management server
 * (//xds/server:xds-server) as a separate process on loopback: initial
 * wildcard LDS/CDS and named RDS/EDS from files, ACK and NACK state seen in
 * the server's GET /nodes, a file change pushed, the server killed and
 * restarted on the same port, and a clean free.
 *
 * Usage: XP_XDS_SERVER=path/to/xds-server real_server_test sotw|delta ads|types */
#include "tests/xds_client/test_util.h"
#include "xds/client/client.h"

#include "proxy/common/mem.h"

#include "envoy/config/core/v3/base.pb-c.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *server_bin;
static char dir[256], port_file[300], log_file[300];
static int xds_port, admin_port;
static pid_t server_pid;

static void write_file(const char *name, const char *text)
{
    char tmp[400], path[400];
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(tmp, "w");
    CHECK(f != NULL);
    fputs(text, f);
    CHECK(fclose(f) == 0);
    CHECK(rename(tmp, path) == 0);
}

static void write_listeners(const char *l2_prefix)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "resources:\n"
             "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
             "  name: l1\n  stat_prefix: a\n"
             "- \"@type\": type.googleapis.com/envoy.config.listener.v3.Listener\n"
             "  name: l2\n  stat_prefix: %s\n",
             l2_prefix);
    write_file("listeners.yaml", buf);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void start_server(int port)
{
    unlink(port_file);
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    server_pid = fork();
    CHECK(server_pid >= 0);
    if (server_pid == 0) {
        FILE *f = freopen(log_file, "a", stderr);
        (void)f;
        execl(server_bin, server_bin, "--listen", listen, "--dir", dir, "--admin", "127.0.0.1:0",
              "--port-file", port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int n = fscanf(f, "xds=%d\nadmin=%d\n", &xds_port, &admin_port);
            fclose(f);
            if (n == 2)
                return;
        }
        sleep_ms(10);
    }
    CHECK(!"xds-server did not write its port file");
}

/* A failed CHECK exits: never leave the server running. */
static void kill_server_at_exit(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
}

static void stop_server(void)
{
    kill(server_pid, SIGTERM);
    int st;
    CHECK(waitpid(server_pid, &st, 0) == server_pid);
    server_pid = 0;
}

/* GET /nodes from the server's admin, owned by the caller. */
static char *get_nodes(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "curl -s http://127.0.0.1:%d/nodes", admin_port);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    size_t cap = 4096, len = 0;
    char *out = xp_malloc(cap);
    size_t n;
    while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2)
            out = xp_realloc(out, cap *= 2);
    }
    out[len] = '\0';
    pclose(p);
    return out;
}

/* Progress lines with loop time, so a slow step shows in the test log. */
static void step(const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    fprintf(stderr, "step %lld.%03ld: %s\n", (long long)ts.tv_sec, ts.tv_nsec / 1000000, what);
}

static bool nodes_contain(void *arg)
{
    char *n = get_nodes();
    bool ok = strstr(n, arg) != NULL;
    free(n);
    return ok;
}

static bool check_nodes(const char *needle)
{
    /* The admin is polled from the loop, between client events. */
    return t_run_until(nodes_contain, (void *)needle, 5000);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    server_bin = getenv("XP_XDS_SERVER");
    CHECK(server_bin != NULL);
    bool delta = strcmp(argv[1], "delta") == 0, ads = strcmp(argv[2], "ads") == 0;
    signal(SIGPIPE, SIG_IGN);
    atexit(kill_server_at_exit);
    const char *tmp = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
    snprintf(dir, sizeof(dir), "%s/xdsc.XXXXXX", tmp);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(port_file, sizeof(port_file), "%s.ports", dir);
    snprintf(log_file, sizeof(log_file), "%s.log", dir);
    write_listeners("a");
    write_file("clusters.yaml", "resources:\n"
                                "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
                                "  name: c1\n"
                                "- \"@type\": type.googleapis.com/envoy.config.cluster.v3.Cluster\n"
                                "  name: c2\n");
    write_file("routes.yaml",
               "resources:\n"
               "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
               "  name: r1\n"
               "- \"@type\": type.googleapis.com/envoy.config.route.v3.RouteConfiguration\n"
               "  name: r2\n");
    write_file("endpoints.yaml",
               "resources:\n"
               "- \"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
               "  cluster_name: c1\n"
               "- \"@type\": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\n"
               "  cluster_name: c2\n");
    step("start");
    start_server(0);
    step("server up");

    uv_loop_t loop;
    uv_loop_init(&loop);
    t_loop = &loop;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.id = "client-test-node";
    node.cluster = "client-test";
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", xds_port);
    xp_xds_client_config_t cfg = {
        .target = target,
        .ads = ads,
        .delta = delta,
        .node = &node.base,
        .backoff_base_ms = 50,
        .backoff_max_ms = 400,
    };
    xp_xds_client_t *c = t_client_new(&cfg, NULL);
    char *r1[] = {"r1"}, *e1[] = {"c1"};
    xp_xds_client_subscribe(c, XP_XDS_TYPE_LISTENER, true, NULL, 0);
    xp_xds_client_subscribe(c, XP_XDS_TYPE_CLUSTER, true, NULL, 0);
    xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, r1, 1);
    xp_xds_client_subscribe(c, XP_XDS_TYPE_ENDPOINT, false, e1, 1);
    step("initial fetch");
    CHECK(t_run_until(t_all_types_updated, NULL, 10000));
    CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1,l2");
    CHECK_EQ_STR(t_rec.t[T_CDS].names, "c1,c2");
    CHECK_EQ_STR(t_rec.t[T_RDS].names, "r1");
    CHECK_EQ_STR(t_rec.t[T_EDS].names, "c1");
    CHECK(check_nodes("\"id\":\"client-test-node\""));
    char needle[512];
    snprintf(needle, sizeof(needle), "\"acked_version\":\"%s\"", t_rec.t[T_LDS].version);
    CHECK(check_nodes(needle));

    step("subscription change");
    /* subscription change */
    char *r2[] = {"r2"};
    xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, r2, 1);
    CHECK(t_run_until(t_names_are, &(t_names_wait_t){T_RDS, "r2"}, 5000));
    CHECK(check_nodes("\"subscribed\":[\"r2\"]"));

    step("NACK");
    /* NACK: the error text reaches the server */
    t_rec.reject = T_LDS;
    write_listeners("b");
    CHECK(check_nodes("\"error_detail\":\"bad listener l2\""));
    t_rec.reject = -1;

    step("file change");
    /* a file change is pushed and accepted */
    int lds = t_rec.t[T_LDS].updates;
    write_listeners("c");
    CHECK(t_run_until(t_updates_above, &(t_count_wait_t){T_LDS, lds}, 5000));
    CHECK_EQ_STR(t_rec.t[T_LDS].names, delta ? "l2" : "l1,l2");
    snprintf(needle, sizeof(needle), "\"acked_version\":\"%s\"", t_rec.t[T_LDS].version);
    CHECK(check_nodes(needle));

    step("kill");
    /* kill and restart on the same port */
    int resources = t_rec.total_resources;
    stop_server();
    CHECK(t_run_until(t_is_down, NULL, 5000));
    t_run_for(300);
    step("restart");
    start_server(xds_port);
    CHECK(t_run_until(t_is_up, NULL, 5000));
    CHECK_EQ_INT(t_rec.ups, 2);
    CHECK_EQ_INT(t_rec.downs, 1);
    CHECK(check_nodes("\"subscribed\":[\"r2\"]"));
    CHECK(check_nodes("\"subscribed\":[\"c1\"]"));
    if (delta) {
        /* initial_resource_versions: nothing changed, nothing resent (the
         * server may still send an empty response to the first request) */
        t_run_for(300);
        CHECK_EQ_INT(t_rec.total_resources, resources);
    }

    step("free");
    xp_xds_client_free(c);
    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    stop_server();
    t_rec_free();
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s'", dir, port_file, log_file);
    CHECK(system(cmd) == 0);
    step("done");
    printf("ok: %s over %s against xds-server\n", argv[1], argv[2]);
    return 0;
}
