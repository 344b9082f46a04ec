/* Cluster and ClusterLoadAssignment resources → xp_cluster_cfg_t. */
#ifndef XP_TRANSLATE_CLUSTER_H
#define XP_TRANSLATE_CLUSTER_H

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "proxy/common/diag.h"
#include "proxy/config/config.h"

/* A new cluster config (one reference, the caller's), or NULL with errors
 * added under `path`. Warnings may be added either way. */
xp_cluster_cfg_t *xp_translate_cluster(const Envoy__Config__Cluster__V3__Cluster *c,
                                       xp_path_t *path, xp_diag_t *diag);

/* Endpoints of a load assignment as a new array (caller frees, with each
 * endpoint's hostname). allow_hostname: DNS clusters may name hosts. */
int xp_translate_load_assignment(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                                 bool allow_hostname, xp_path_t *path, xp_diag_t *diag,
                                 xp_endpoint_cfg_t **out, size_t *n_out);

/* An EDS resource as a new xp_cla_t (one reference), or NULL with errors
 * added under path. */
xp_cla_t *xp_translate_cla(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *cla,
                           xp_path_t *path, xp_diag_t *diag);

#endif
