/* xds-server: serves the YAML/JSON resources of a directory over xDS.
 *
 *   xds-server --listen 127.0.0.1:18000 --dir PATH [--admin 127.0.0.1:18001]
 *              [--rest 127.0.0.1:18002] [--port-file F] [--log-level info]
 *
 * Exits 0 on SIGTERM/SIGINT after cancelling every stream and joining
 * every thread. */
#include "xds/server/server.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void xp__usage(FILE *f)
{
    fprintf(f, "usage: xds-server --dir PATH [--listen HOST:PORT] [--admin HOST:PORT]\n"
               "                  [--rest HOST:PORT] [--port-file FILE] [--log-level LEVEL]\n"
               "  --listen     gRPC (xDS) address, default 127.0.0.1:18000; port 0 picks one\n"
               "  --dir        directory of resource files (*.yaml, *.yml, *.json), watched\n"
               "  --admin      HTTP admin API address (GET /resources, /nodes, /ready;\n"
               "               PUT/DELETE /resources/<type>/<name>)\n"
               "  --rest       REST-JSON xDS address (POST /v3/discovery:<type>, HTTP/1.1)\n"
               "  --port-file  written once listening:\n"
               "               \"xds=<port>\\nadmin=<port>\\nrest=<port>\\n\" (0: not enabled)\n"
               "  --log-level  trace, debug, info (default), warning, error, off\n");
}

static int xp__write_port_file(const char *path, int xds, int admin, int rest)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp%d", path, (int)getpid()) < 0)
        return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(tmp);
        return -1;
    }
    fprintf(f, "xds=%d\nadmin=%d\nrest=%d\n", xds, admin, rest);
    int rc = fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    free(tmp);
    return rc;
}

int main(int argc, char **argv)
{
    xp_xds_server_opts_t opts = {"127.0.0.1:18000", NULL, NULL, NULL};
    const char *port_file = NULL;
    xp_log_level = XP_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            xp__usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "xds-server: %s needs a value (or is unknown)\n", a);
            xp__usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--listen"))
            opts.listen = v;
        else if (!strcmp(a, "--dir"))
            opts.dir = v;
        else if (!strcmp(a, "--admin"))
            opts.admin = v;
        else if (!strcmp(a, "--rest"))
            opts.rest = v;
        else if (!strcmp(a, "--port-file"))
            port_file = v;
        else if (!strcmp(a, "--log-level") || !strcmp(a, "-l")) {
            if (xp_log_level_parse(v, &xp_log_level) < 0) {
                fprintf(stderr, "xds-server: unknown log level %s\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "xds-server: unknown option %s\n", a);
            xp__usage(stderr);
            return 2;
        }
        i++;
    }
    if (!opts.dir) {
        fprintf(stderr, "xds-server: --dir is required\n");
        xp__usage(stderr);
        return 2;
    }
    /* Block the stop signals in every thread (ours and gRPC's inherit the
     * mask) and take them here with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    xp_xds_server_t *srv;
    if (xp_xds_server_start(&opts, &srv) < 0)
        return 1;
    XP_INFO("xds-server: xDS on port %d, admin on port %d, REST on port %d, serving %s",
            xp_xds_server_xds_port(srv), xp_xds_server_admin_port(srv),
            xp_xds_server_rest_port(srv), opts.dir);
    if (port_file &&
        xp__write_port_file(port_file, xp_xds_server_xds_port(srv), xp_xds_server_admin_port(srv),
                            xp_xds_server_rest_port(srv)) < 0) {
        fprintf(stderr, "xds-server: cannot write %s\n", port_file);
        xp_xds_server_stop(srv);
        return 1;
    }
    int sig = 0;
    sigwait(&set, &sig);
    XP_INFO("xds-server: signal %d, stopping", sig);
    xp_xds_server_stop(srv);
    xp_leak_check_first_at_exit();
    return 0;
}
