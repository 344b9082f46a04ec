/* The runtime loader: the bootstrap's layered_runtime brought to the data
 * plane. It builds one proxy/runtime layer per configured layer (static
 * layers from their Struct, RTDS layers from the Runtime resources the xDS
 * manager hands over, the admin layer from POST /runtime_modify), makes a new
 * immutable snapshot whenever one of them changes and hands it to a publish
 * callback (the data plane posts it to every worker). An invalid Runtime
 * resource is rejected with the field that is wrong and the layer keeps its
 * previous values. Runs on the main loop. */
#ifndef XP_XDS_RUNTIME_LOADER_H
#define XP_XDS_RUNTIME_LOADER_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/common/diag.h"
#include "proxy/runtime/runtime.h"
#include "proxy/stats/stats.h"
#include "xds/client/client.h"

struct Envoy__Config__Bootstrap__V3__LayeredRuntime;
struct Envoy__Config__Core__V3__ConfigSource;

typedef struct xp_runtime_loader xp_runtime_loader_t;

/* Receives each new snapshot (borrowed: take a reference to keep it). */
typedef void (*xp_runtime_publish_fn)(void *ctx, xp_runtime_t *rt);

/* Checks layered_runtime as Envoy does (unique layer names, at most one
 * admin layer, static layers made only of runtime values, rtds layers with a
 * name and an rtds_config; disk layers are not implemented: a warning).
 * Problems go into diag at "layered_runtime.layers[i]..."; returns the
 * number of errors. lr may be NULL. */
int xp_runtime_check_bootstrap(const struct Envoy__Config__Bootstrap__V3__LayeredRuntime *lr,
                               xp_diag_t *diag);

/* A loader for lr (borrowed; must outlive the loader), checked beforehand
 * with xp_runtime_check_bootstrap. Without layers it has Envoy's default:
 * an empty static layer "base" and an admin layer "admin". stats (may be
 * NULL) gets runtime.num_keys, runtime.num_layers,
 * runtime.admin_overrides_active and runtime.load_success. publish is called
 * at once with the first snapshot and after every change. Owned by the
 * caller. */
xp_runtime_loader_t *
xp_runtime_loader_new(const struct Envoy__Config__Bootstrap__V3__LayeredRuntime *lr,
                      xp_stats_t *stats, xp_runtime_publish_fn publish, void *ctx);
void xp_runtime_loader_free(xp_runtime_loader_t *l);

/* The current snapshot (borrowed). */
const xp_runtime_t *xp_runtime_loader_snapshot(const xp_runtime_loader_t *l);

/* RTDS layers: how many, and the i-th one's resource name, config source
 * and field path ("layered_runtime.layers[2].rtds_layer.rtds_config"). All
 * borrowed. */
size_t xp_runtime_loader_n_rtds(const xp_runtime_loader_t *l);
const char *xp_runtime_loader_rtds(const xp_runtime_loader_t *l, size_t i,
                                   const struct Envoy__Config__Core__V3__ConfigSource **src,
                                   const char **field);

/* A Runtime response, with the xDS client's on_update contract (res are
 * envoy.service.runtime.v3.Runtime messages named by rtds_layer.name).
 * Valid resources replace their layer's values; an invalid one is NACKed
 * naming the field and its layer keeps its values; a Delta removal empties
 * the layer. Returns 0, or -1 with *error_detail (caller frees). */
int xp_runtime_loader_on_update(xp_runtime_loader_t *l, const xp_xds_resource_t *res, size_t n,
                                char *const *removed, size_t n_removed, char **error_detail);

/* Every RTDS layer has had its first response (accepted or not), as Envoy's
 * RTDS init target; true without RTDS layers. */
bool xp_runtime_loader_ready(const xp_runtime_loader_t *l);

/* POST /runtime_modify: sets keys[i] = values[i] in the admin layer (an
 * empty value removes the key). -1 with *error (caller frees) when there is
 * no admin layer. */
int xp_runtime_loader_modify(xp_runtime_loader_t *l, char *const *keys, char *const *values,
                             size_t n, char **error);

#endif
