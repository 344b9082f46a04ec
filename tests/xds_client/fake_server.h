/* A scriptable xDS management server for the client tests, on gRPC core's
 * server API with its own completion-queue thread. It serves ADS and the
 * per-type services, SotW and Delta, from an in-memory resource table, and
 * records every request it receives so tests can assert on the wire.
 *
 * Not a reference implementation: just enough of the server side of
 * xds_protocol.rst (SotW: answer every request that is not an ACK/NACK of
 * the latest nonce, push on change; Delta: track what the client has, send
 * only differences, honour initial_resource_versions). */
#ifndef XP_TESTS_XDS_CLIENT_FAKE_SERVER_H
#define XP_TESTS_XDS_CLIENT_FAKE_SERVER_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct fake_server fake_server_t;

/* One received request, as recorded (all strings owned by the server). */
typedef struct {
    int stream; /* call number, from 1 */
    bool delta;
    bool has_node;
    char *type_url;
    char *version_info; /* SotW */
    char *nonce;        /* response_nonce */
    char *names;        /* SotW resource_names, sorted, joined with "," */
    char *subscribe;    /* Delta, joined with "," in request order */
    char *unsubscribe;  /* Delta */
    char *initial;      /* Delta initial_resource_versions "name=ver,..." sorted */
    char *error;        /* error_detail.message, or NULL (ACK) */
    int error_code;
} fake_req_t;

/* Listens on 127.0.0.1:port (0 = any) and returns the server, or NULL. The
 * resource table starts empty. */
fake_server_t *fake_server_start(int port);
int fake_server_port(const fake_server_t *s);
/* Stops listening and cancels every call ("the server is gone"), keeping
 * the resource table and the request log; fake_server_restart listens again
 * on the same port. */
void fake_server_kill(fake_server_t *s);
int fake_server_restart(fake_server_t *s);
void fake_server_free(fake_server_t *s);

/* Sets (adds or replaces) a resource; msg is packed now (not kept). The
 * type's SotW version becomes "v<N>" (N counts changes of that type) and
 * the resource's own version "<name>-<M>". Pushes to subscribed streams. */
void fake_server_set(fake_server_t *s, const char *type_url, const char *name,
                     const ProtobufCMessage *msg);
void fake_server_remove(fake_server_t *s, const char *type_url, const char *name);
/* While on, SotW responses of type_url wrap each resource in a
 * envoy.service.discovery.v3.Resource (name + per-resource version). */
void fake_server_wrap(fake_server_t *s, const char *type_url, bool on);
/* While on, responses of type_url carry every resource of the type,
 * subscribed or not (a misbehaving server). */
void fake_server_send_all(fake_server_t *s, const char *type_url, bool on);
/* The next SotW response of type_url carries its first resource twice. */
void fake_server_dup_next(fake_server_t *s, const char *type_url);
/* The type's current SotW version ("" before any set). Owned by the caller. */
char *fake_server_version(fake_server_t *s, const char *type_url);
/* Number of responses sent so far (all streams, all types) and of those
 * that carried the named resource. */
int fake_server_responses(fake_server_t *s);
int fake_server_sent_count(fake_server_t *s, const char *type_url, const char *name);
int fake_server_streams(fake_server_t *s);

/* The request log: fake_server_request(s, i) for i < fake_server_requests(s).
 * The returned record stays valid until fake_server_free. */
size_t fake_server_requests(fake_server_t *s);
const fake_req_t *fake_server_request(fake_server_t *s, size_t i);
/* The last request for type_url whose nonce is non-empty (an ACK or NACK),
 * or NULL. */
const fake_req_t *fake_server_last_reply(fake_server_t *s, const char *type_url);

#endif
