/* Internals of xds/manager, shared by manager.c (resources, warming,
 * applying, /config_dump), files.c (path config sources) and scoped.c
 * (SRDS scope sets). Everything runs on the main loop. */
#ifndef XP_XDS_MANAGER_INTERNAL_H
#define XP_XDS_MANAGER_INTERNAL_H

#include "envoy/config/core/v3/config_source.pb-c.h"
#include "proxy/config/config.h"
#include "proxy/router/scope.h"
#include "xds/client/client.h"
#include "xds/manager/vhds.h"
#include "xds/runtime/loader.h"
#include "xds/manager/manager.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum { XP__LDS, XP__RDS, XP__CDS, XP__EDS, XP__SRDS, XP__NTYPES };

extern const char *const xp__type_urls[XP__NTYPES];
/* As resources are named in error paths: "route_config[r1].virtual_hosts...". */
extern const char *const xp__type_names[XP__NTYPES];

/* One accepted resource. obj is its translation (a reference); applied is the
 * version the data plane serves while a newer one warms (make-before-break). */
typedef struct xp__res {
    char *name;
    char *version;
    char *src;    /* the file it came from, or NULL for the xDS stream */
    uint8_t *raw; /* serialized resource: unchanged bytes keep the same object */
    size_t raw_len;
    void *obj;
    void *applied;
    bool warm;
    bool seen;
    uint64_t since_ms; /* when it started warming */
    time_t last_updated;
    struct xp__res *next;
} xp__res_t;

/* A resource referenced by name (from a listener or cluster), with where it
 * comes from (borrowed from the referencing config). SRDS references name
 * a scope set: "" for the xDS stream's, else the file's path. */
typedef struct {
    char *name;
    const xp_cfg_source_t *src;
} xp__ref_t;

typedef struct {
    xp__ref_t *v;
    size_t n;
} xp__refs_t;

/* Adds name (copied) unless it is there already (the first source wins). */
void xp__refs_add(xp__refs_t *r, const char *name, const xp_cfg_source_t *src);
bool xp__refs_has(const xp__refs_t *r, const char *name);
void xp__refs_free(xp__refs_t *r);

typedef struct xp__file_src xp__file_src_t;

struct xp_xds_manager {
    xp_server_t *s;
    xp_dataplane_t *dp;
    const xp_bootstrap_t *bs;
    xp_xds_client_t *clients[2]; /* [0] LDS, RDS, SRDS; [1] CDS and EDS; one may serve both */
    xp__res_t *res[XP__NTYPES];
    /* Listeners removed while serving, kept accepting while a new listener
     * on their address warms (references); see xp__apply_into. */
    xp_listener_cfg_t **leaving;
    size_t n_leaving;
    char *version[XP__NTYPES];
    bool got_first[XP__NTYPES];
    bool want[XP__NTYPES]; /* LDS/CDS configured */
    char **subscribed[XP__NTYPES];
    size_t n_subscribed[XP__NTYPES];
    bool srds_subscribed; /* the wildcard SRDS subscription is on */
    xp__file_src_t *files;
    xp_runtime_loader_t *rt; /* layered_runtime; RTDS rides the clients above or its own */
    xp_xds_client_t **rt_clients;
    const Envoy__Config__Core__V3__ConfigSource **rt_srcs;
    size_t n_rt_clients;
    xp_vhds_t *vhds; /* VHDS: virtual hosts merged into RDS tables (vhds.c) */
    xp_scope_set_t **sets; /* SRDS scope sets last applied (references) */
    size_t n_sets;
    uint64_t init_timeout_ms;
    uint64_t start_ms;
    time_t start_wall;
    uv_timer_t timer;
    bool timer_on;
    uint64_t timer_due;
    bool live;
};

/* One resource of an update on its way in (xp__ingest): translated (obj),
 * unchanged (its bytes equal the accepted ones), or invalid (obj NULL). */
typedef struct {
    const xp_xds_resource_t *x;
    xp__res_t *r; /* the accepted resource of that name, or NULL */
    uint8_t *raw;
    size_t len;
    void *obj;
    bool unchanged;
} xp__pending_t;

/* ---- manager.c ---- */

bool xp__strv_has(char *const *v, size_t n, const char *s);
/* Frees the strings and the array. */
void xp__strv_free(char **v, size_t n);

/* The accepted resource of that name; SRDS resources are also matched by
 * source (src NULL: the xDS stream). */
xp__res_t *xp__find_src(xp_xds_manager_t *m, int t, const char *name, const char *src);
/* Takes in one update of type t (from the xDS stream, src NULL, or a file):
 * valid resources replace the accepted ones, invalid ones are reported in
 * diag and leave the accepted ones; SotW updates of LDS, CDS and SRDS also
 * remove what they do not name (of the same source). Does not apply. */
void xp__ingest(xp_xds_manager_t *m, int t, const char *version, const xp_xds_resource_t *res,
                size_t n, char *const *removed, size_t n_removed, bool delta, const char *src,
                xp_diag_t *diag);
/* Recomputes references, subscriptions, path sources and warming, builds the
 * config set and applies it. Returns the number of apply errors. */
int xp__apply_into(xp_xds_manager_t *m, xp_diag_t *diag);

/* ---- files.c ---- */

bool xp__is_path(const Envoy__Config__Core__V3__ConfigSource *src);
/* lds_config / cds_config from a file, for the manager's whole life. */
int xp__file_src_start(xp_xds_manager_t *m, int type,
                       const Envoy__Config__Core__V3__ConfigSource *src, const char *where,
                       xp_diag_t *diag);
/* Makes the RDS, EDS and SRDS file sources what refs[] name: starts (and
 * reads) new ones, re-reads those that gained a name, stops unreferenced
 * ones. Ingests without applying (the caller is applying). */
void xp__files_sync(xp_xds_manager_t *m, const xp__refs_t *refs);
/* The file source of that type and path has been read successfully. */
bool xp__file_loaded(xp_xds_manager_t *m, int type, const char *path);
void xp__files_free(xp_xds_manager_t *m);

/* ---- scoped.c ---- */

/* Adds what an HCM's scoped_routes references: its SRDS set and the route
 * configurations its scopes name. */
void xp__scoped_refs(xp_xds_manager_t *m, const xp_scoped_routes_cfg_t *sr, xp__refs_t *refs);
/* The SRDS set named by ref has arrived and none of its scopes is new and
 * still waiting for its route configuration. */
bool xp__scope_set_ready(xp_xds_manager_t *m, const xp__ref_t *ref);
/* A scope is ready when its route configuration is served (or inline). */
bool xp__scope_ready(xp_xds_manager_t *m, const xp_scope_t *sc);
/* An SRDS update's keys must stay unique in its source's set: rejects (obj
 * dropped, error in diag) every new scope whose key another scope of the
 * resulting set has, preferring to keep scopes already accepted. */
void xp__scopes_check(xp_xds_manager_t *m, xp__pending_t *p, size_t n, char *const *removed,
                      size_t n_removed, bool delta, const char *src, xp_diag_t *diag);
/* The scope sets refs[XP__SRDS] names, from the SRDS resources in force
 * (warm ones, else what a warming one replaces); unchanged sets are kept.
 * Replaces m->sets. */
void xp__scope_sets_build(xp_xds_manager_t *m, const xp__refs_t *srds_refs);

#endif
