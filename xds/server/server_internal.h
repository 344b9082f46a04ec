/* Shared by the files of xds/server only. */
#ifndef XP_XDS_SERVER_SERVER_INTERNAL_H
#define XP_XDS_SERVER_SERVER_INTERNAL_H

#include "xds/server/server.h"

#include "proxy/common/diag.h"
#include "proxy/common/strbuf.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/any.pb-c.h"

#define XP__TYPE_PREFIX "type.googleapis.com/"

/* The resource types the server knows by short name (admin API paths and
 * per-type gRPC services). Other registered types found in files are
 * served too, by type URL, through ADS. */
typedef struct {
    const char *short_name; /* "listener" */
    const char *type_url;   /* "type.googleapis.com/envoy.config.listener.v3.Listener" */
    bool wildcard;          /* empty resource_names means "all" (LDS, CDS, SRDS) */
    const char *rest;       /* REST path after "/v3/discovery:" ("listeners") */
} xp__rtype_t;

const xp__rtype_t *xp__rtype_by_short(const char *short_name);
const xp__rtype_t *xp__rtype_by_rest(const char *rest);
const xp__rtype_t *xp__rtype_by_url(const char *type_url);
/* Short name, or the type URL itself for types without one. */
const char *xp__rtype_short(const char *type_url);

/* One resource as served: immutable once built, shared between the file
 * cache and snapshots. Refcounts change only under srv->reload_mu. */
typedef struct {
    int refs;
    char *type_url;             /* "type.googleapis.com/<full name>" */
    char *name;                 /* `name`, or `cluster_name` for ClusterLoadAssignment */
    char version[17];           /* hex XXH64 of the serialized resource (Delta versions) */
    Google__Protobuf__Any *any; /* packed resource */
    char *file;                 /* basename of the file it came from */
    /* VirtualHost (VHDS): its domains, lower-cased, for on-demand lookups;
     * on_demand: sent only to clients that ask for one of its hosts
     * (metadata.filter_metadata["xds-server"].on_demand: true), not pushed
     * with its route configuration. */
    char **domains;
    size_t ndomains;
    bool on_demand;
} xp__res_t;

void xp__res_unref(xp__res_t *r);

/* An immutable set of resources sorted by (type_url, name), with the
 * server-wide version it was published as. Read only under srv->mu. */
typedef struct {
    uint64_t version;
    char version_str[24];
    uint64_t published_ns; /* CLOCK_MONOTONIC when it was handed to the streams */
    size_t n;
    xp__res_t **v;
} xp__snap_t;

void xp__snap_free(xp__snap_t *s);
#define XP__VHOST_URL XP__TYPE_PREFIX "envoy.config.route.v3.VirtualHost"
#define XP__ROUTE_URL XP__TYPE_PREFIX "envoy.config.route.v3.RouteConfiguration"

/* The resource of that type and name, or NULL. O(log n). */
xp__res_t *xp__snap_find(const xp__snap_t *s, const char *type_url, const char *name);
/* Index of the first resource of type_url (s->n when none). */
size_t xp__snap_type_begin(const xp__snap_t *s, const char *type_url);

/* What was last loaded from one file. */
typedef struct {
    char *name;    /* basename */
    uint64_t hash; /* XXH64 of the content last parsed (good or bad) */
    size_t nres;
    xp__res_t **res; /* last good content */
} xp__file_t;

typedef struct xp__xstream xp__xstream_t;
typedef struct xp__rest_rec xp__rest_rec_t;

/* ---- http.c: the small HTTP/1.1 servers (admin API, REST xDS) ---- */

typedef struct {
    int status;
    const char *ctype;
    xp_strbuf_t body;
} xp__reply_t;

/* Sets status, text/plain and appends the formatted line to the body. */
void xp__reply(xp__reply_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers one request; target may be modified; body is NUL-terminated;
 * peer is "ipv4:a.b.c.d:port". Runs on the listener's thread. */
typedef void (*xp__http_handler_t)(xp_xds_server_t *srv, const char *method, char *target,
                                   const char *body, size_t len, const char *peer, xp__reply_t *r);

typedef struct {
    const char *what; /* the option that configured it, for messages */
    xp_xds_server_t *srv;
    xp__http_handler_t handler;
    int fd, port;
    int wake[2];
    pthread_t thread;
    bool started;
} xp__http_listener_t;

/* Binds addr ("host:port", port 0 allowed) and starts a thread answering
 * with handler. what names the option for messages. -1 with the reason on
 * stderr. */
int xp__http_start(xp__http_listener_t *l, xp_xds_server_t *srv, const char *what,
                   xp__http_handler_t handler, const char *addr);
void xp__http_stop(xp__http_listener_t *l);

struct xp_xds_server {
    char *dir;

    /* mu guards snap, streams and everything in them. gRPC batches are
     * started under it; completions are delivered on the cq thread, never
     * inline, so holding it across grpc_call_start_batch cannot deadlock. */
    pthread_mutex_t mu;
    xp__snap_t *snap;
    xp__xstream_t *streams; /* doubly linked */
    size_t nstreams;
    xp__rest_rec_t *rest_recs; /* what REST pollers asked for and were sent */
    uint64_t nonce_seq;
    uint64_t stream_seq;
    bool stopping;

    /* reload_mu serializes rescans (watcher and admin). */
    pthread_mutex_t reload_mu;
    xp__file_t *files;
    size_t nfiles;

    /* gRPC */
    grpc_server *gs;
    grpc_completion_queue *cq;
    pthread_t cq_thread;
    bool cq_started;
    int xds_port;
    size_t accepts_pending; /* grpc_server_request_call tags not yet back */
    bool gs_shutdown;       /* the shutdown_and_notify tag came back */

    /* watcher */
    pthread_t watch_thread;
    bool watch_started;
    int inotify_fd;
    int watch_wake[2];

    xp__http_listener_t admin;
    xp__http_listener_t rest; /* REST-JSON xDS (POST /v3/discovery:<type>) */
};

/* ---- snapshot.c ---- */

/* Rescans the directory; publishes a new snapshot (version + 1) through
 * xp__streams_publish when any resource changed. Returns the current
 * version. Takes reload_mu and mu itself. */
uint64_t xp__reload(xp_xds_server_t *srv);
void xp__files_free(xp_xds_server_t *srv);
/* Parses one file's text into resources (owned by the caller: refs = 1
 * each, array from malloc). Problems go to diag with paths rooted at "";
 * returns -1 on any error (nothing to free), else 0. Empty text is an
 * error (a file caught half-written must not delete its resources). */
int xp__parse_file(const char *text, size_t len, xp_diag_t *diag, xp__res_t ***out, size_t *nout);
/* The name field of a resource message ("name", or "cluster_name"); "" if none. */
const char *xp__msg_name(const ProtobufCMessage *m);
/* Reads a whole file (limit 64 MiB) into a NUL-terminated malloc'd buffer. */
char *xp__read_file(const char *path, size_t *len);
/* Writes data to dir/name atomically (temporary dotfile + rename). 0 or -errno. */
int xp__write_file_atomic(const char *dir, const char *name, const char *data, size_t len);

/* ---- stream.c ---- */

int xp__grpc_start(xp_xds_server_t *srv, const char *listen);
void xp__grpc_stop(xp_xds_server_t *srv);
/* Called under mu after srv->snap became `now`: every subscription whose
 * type changed is re-evaluated and pushed. */
void xp__streams_publish(xp_xds_server_t *srv);
/* Appends the /nodes JSON (gRPC streams and REST pollers). Takes mu. */
void xp__nodes_json(xp_xds_server_t *srv, xp_strbuf_t *b);

/* ---- watch.c ---- */

int xp__watch_start(xp_xds_server_t *srv);
void xp__watch_stop(xp_xds_server_t *srv);

/* ---- admin.c: the admin API's handler ---- */

void xp__admin_route(xp_xds_server_t *srv, const char *method, char *target, const char *body,
                     size_t len, const char *peer, xp__reply_t *r);

/* ---- rest.c: the REST-JSON xDS handler ---- */

void xp__rest_route(xp_xds_server_t *srv, const char *method, char *target, const char *body,
                    size_t len, const char *peer, xp__reply_t *r);
/* Forgets every REST poller (at stop, once the REST listener is stopped). */
void xp__rest_forget_all(xp_xds_server_t *srv);

#endif
