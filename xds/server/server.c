/* Lifecycle of the management server: load, listen, start threads; stop in
 * the reverse order. */
#include "xds/server/server_internal.h"

#include "proxy/common/error.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_registry.h"

int xp_xds_server_start(const xp_xds_server_opts_t *opts, xp_xds_server_t **out)
{
    *out = NULL;
    struct stat st;
    if (!opts->dir || stat(opts->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "xds-server: --dir %s: not a directory\n", opts->dir ? opts->dir : "");
        return XP_EINVAL;
    }
    xp_codec_register(xp_proto_registry_api);
    xp_xds_server_t *srv = xp_calloc(1, sizeof(*srv));
    srv->dir = xp_strdup(opts->dir);
    srv->inotify_fd = srv->admin.fd = srv->rest.fd = -1;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_mutex_init(&srv->reload_mu, NULL);
    xp__reload(srv); /* the first snapshot: version 1, even when empty */
    grpc_init();
    if (xp__watch_start(srv) < 0 || xp__grpc_start(srv, opts->listen) < 0 ||
        (opts->admin &&
         xp__http_start(&srv->admin, srv, "--admin", xp__admin_route, opts->admin) < 0) ||
        (opts->rest && xp__http_start(&srv->rest, srv, "--rest", xp__rest_route, opts->rest) < 0)) {
        xp_xds_server_stop(srv);
        return XP_EIO;
    }
    *out = srv;
    return 0;
}

int xp_xds_server_xds_port(const xp_xds_server_t *srv)
{
    return srv->xds_port;
}

int xp_xds_server_admin_port(const xp_xds_server_t *srv)
{
    return srv->admin.port;
}

int xp_xds_server_rest_port(const xp_xds_server_t *srv)
{
    return srv->rest.port;
}

uint64_t xp_xds_server_reload(xp_xds_server_t *srv)
{
    return xp__reload(srv);
}

void xp_xds_server_stop(xp_xds_server_t *srv)
{
    if (!srv)
        return;
    xp__http_stop(&srv->admin);
    xp__http_stop(&srv->rest);
    xp__watch_stop(srv);
    xp__grpc_stop(srv);
    grpc_shutdown_blocking();
    xp__rest_forget_all(srv);
    xp__snap_free(srv->snap);
    xp__files_free(srv);
    pthread_mutex_destroy(&srv->mu);
    pthread_mutex_destroy(&srv->reload_mu);
    free(srv->dir);
    free(srv);
}
