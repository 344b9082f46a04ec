/* Helpers shared by the translators of xds/translate: protobuf-c values to
 * plain C, with errors that name the field path. Internal to xds/. */
#ifndef XP_TRANSLATE_UTIL_H
#define XP_TRANSLATE_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "envoy/config/core/v3/address.pb-c.h"
#include "envoy/config/core/v3/config_source.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "proxy/common/diag.h"
#include "proxy/config/config.h"

/* Duration in milliseconds (rounded up so 1ns is not 0), or dflt when unset.
 * Negative durations are reported as errors and give dflt. */
uint64_t xp_tr_duration_ms(const Google__Protobuf__Duration *d, uint64_t dflt, xp_path_t *path,
                           const char *field, xp_diag_t *diag);

static inline uint32_t xp_tr_u32(const Google__Protobuf__UInt32Value *v, uint32_t dflt)
{
    return v ? v->value : dflt;
}

static inline bool xp_tr_bool(const Google__Protobuf__BoolValue *v, bool dflt)
{
    return v ? v->value : dflt;
}

/* An Address that must be a socket address. With allow_hostname, a name that
 * is not an IP literal is returned in *hostname (caller frees) and out holds
 * only the port; otherwise it is an error. Returns 0 or XP_EINVAL (errors
 * added under path + "." + field). */
int xp_tr_address(const Envoy__Config__Core__V3__Address *a, xp_path_t *path, const char *field,
                  bool allow_hostname, xp_addr_t *out, char **hostname, uint32_t *port,
                  xp_diag_t *diag);

/* Adds an error at path + "." + field. */
void xp_tr_field_error(xp_path_t *path, const char *field, xp_diag_t *diag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A ConfigSource for RDS, EDS or SRDS (src may be NULL: the xDS stream).
 * A path source (path_config_source, or the older `path`) must name an
 * existing file, as Envoy checks when it subscribes; anything else is the
 * xDS stream. Fills out (caller clears it); returns 0 or XP_EINVAL with the
 * error under path + "." + field. */
int xp_tr_config_source(const Envoy__Config__Core__V3__ConfigSource *src, xp_path_t *path,
                        const char *field, xp_cfg_source_t *out, xp_diag_t *diag);

/* The node this process runs as (bootstrap node.id and node.cluster after
 * --service-node/--service-cluster), for what Envoy takes from its local
 * info: add_user_agent. Set once by the bootstrap, before any translation
 * and before workers start; "" until then. */
void xp_tr_set_node(const char *id, const char *cluster);
const char *xp_tr_node_id(void);
const char *xp_tr_node_cluster(void);

/* Type URL without its "type.googleapis.com/" (or any "<prefix>/") part. */
const char *xp_tr_type_name(const char *type_url);

#endif
