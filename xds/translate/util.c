#include "xds/translate/util.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t xp_tr_duration_ms(const Google__Protobuf__Duration *d, uint64_t dflt, xp_path_t *path,
                           const char *field, xp_diag_t *diag)
{
    if (d == NULL)
        return dflt;
    if (d->seconds < 0 || d->nanos < 0) {
        size_t m = xp_path_push_field(path, field);
        xp_diag_error(diag, xp_path_str(path), "duration must not be negative");
        xp_path_pop(path, m);
        return dflt;
    }
    return (uint64_t)d->seconds * 1000 + ((uint64_t)d->nanos + 999999) / 1000000;
}

void xp_tr_field_error(xp_path_t *path, const char *field, xp_diag_t *diag, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t m = xp_path_push_field(path, field);
    xp_diag_error(diag, xp_path_str(path), "%s", msg);
    xp_path_pop(path, m);
}

static char *xp__node_id, *xp__node_cluster;

void xp_tr_set_node(const char *id, const char *cluster)
{
    free(xp__node_id);
    free(xp__node_cluster);
    xp__node_id = xp_strdup(id ? id : "");
    xp__node_cluster = xp_strdup(cluster ? cluster : "");
}

const char *xp_tr_node_id(void)
{
    return xp__node_id ? xp__node_id : "";
}

const char *xp_tr_node_cluster(void)
{
    return xp__node_cluster ? xp__node_cluster : "";
}

const char *xp_tr_type_name(const char *type_url)
{
    const char *slash = type_url ? strrchr(type_url, '/') : NULL;
    return slash ? slash + 1 : (type_url ? type_url : "");
}

int xp_tr_address(const Envoy__Config__Core__V3__Address *a, xp_path_t *path, const char *field,
                  bool allow_hostname, xp_addr_t *out, char **hostname, uint32_t *port,
                  xp_diag_t *diag)
{
    size_t m = xp_path_push_field(path, field);
    int rc = XP_EINVAL;
    if (a == NULL) {
        xp_diag_error(diag, xp_path_str(path), "an address is required");
        goto done;
    }
    if (a->address_case != ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_SOCKET_ADDRESS) {
        xp_diag_error(diag, xp_path_str(path),
                      a->address_case == ENVOY__CONFIG__CORE__V3__ADDRESS__ADDRESS_PIPE
                          ? "pipe (unix socket) addresses are not supported by xproxy"
                          : "socket_address is required");
        goto done;
    }
    const Envoy__Config__Core__V3__SocketAddress *sa = a->socket_address;
    size_t m2 = xp_path_push_field(path, "socket_address");
    if (sa->protocol != ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PROTOCOL__TCP) {
        size_t m3 = xp_path_push_field(path, "protocol");
        xp_diag_error(diag, xp_path_str(path), "only TCP is supported by xproxy");
        xp_path_pop(path, m3);
        goto done;
    }
    if (sa->port_specifier_case !=
        ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_PORT_VALUE) {
        size_t m3 = xp_path_push_field(path, "port_value");
        xp_diag_error(diag, xp_path_str(path),
                      sa->port_specifier_case ==
                              ENVOY__CONFIG__CORE__V3__SOCKET_ADDRESS__PORT_SPECIFIER_NAMED_PORT
                          ? "named_port is not supported; give port_value"
                          : "port_value is required");
        xp_path_pop(path, m3);
        goto done;
    }
    if (sa->port_value > 65535) {
        size_t m3 = xp_path_push_field(path, "port_value");
        xp_diag_error(diag, xp_path_str(path), "port %u is out of range (0..65535)",
                      sa->port_value);
        xp_path_pop(path, m3);
        goto done;
    }
    if (sa->address == NULL || sa->address[0] == '\0') {
        size_t m3 = xp_path_push_field(path, "address");
        xp_diag_error(diag, xp_path_str(path), "address is required");
        xp_path_pop(path, m3);
        goto done;
    }
    if (port)
        *port = sa->port_value;
    if (xp_addr_from_ip(out, sa->address, sa->port_value) == 0) {
        rc = 0;
    } else if (allow_hostname) {
        memset(out, 0, sizeof(*out));
        *hostname = xp_strdup(sa->address);
        rc = 0;
    } else {
        size_t m3 = xp_path_push_field(path, "address");
        xp_diag_error(diag, xp_path_str(path), "'%s' is not an IP address", sa->address);
        xp_path_pop(path, m3);
    }
    (void)m2;
done:
    xp_path_pop(path, m);
    return rc;
}

int xp_tr_config_source(const Envoy__Config__Core__V3__ConfigSource *src, xp_path_t *path,
                        const char *field, xp_cfg_source_t *out, xp_diag_t *diag)
{
    memset(out, 0, sizeof(*out));
    if (src == NULL)
        return 0;
    const char *file = NULL, *dir = NULL;
    const char *sub = "path";
    if (src->config_source_specifier_case ==
        ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH) {
        file = src->path;
    } else if (src->config_source_specifier_case ==
               ENVOY__CONFIG__CORE__V3__CONFIG_SOURCE__CONFIG_SOURCE_SPECIFIER_PATH_CONFIG_SOURCE) {
        sub = "path_config_source.path";
        file = src->path_config_source->path;
        if (src->path_config_source->watched_directory)
            dir = src->path_config_source->watched_directory->path;
    } else {
        return 0;
    }
    size_t m = xp_path_push_field(path, field);
    size_t m1 = xp_path_push_field(path, sub);
    int rc = XP_EINVAL;
    if (file == NULL || file[0] == '\0')
        xp_diag_error(diag, xp_path_str(path), "path is required");
    else if (access(file, F_OK) != 0)
        xp_diag_error(diag, xp_path_str(path),
                      "paths must refer to an existing path in the system: '%s' does not exist",
                      file);
    else
        rc = 0;
    xp_path_pop(path, m1);
    xp_path_pop(path, m);
    if (rc == 0) {
        out->path = xp_strdup(file);
        out->watch_dir = dir && dir[0] ? xp_strdup(dir) : NULL;
    }
    return rc;
}
