/* A scripted xDS client for testing the management server: opens one
 * bidirectional stream (ADS or a per-type service, SotW or Delta) with gRPC
 * core's client API, runs the commands given as arguments in order, and
 * prints every response it receives, one line each:
 *
 *   RESP sotw type=listener version=2 nonce=5 resources=l1,l2
 *   RESP delta type=cluster version=2 nonce=6 resources=c1@<ver>,c2@<ver> removed=c3
 *
 * (with --json, each resource follows as "  JSON <name> <json>").
 *
 * usage: xds_client --server HOST:PORT --node ID [--cluster C] [--delta]
 *                   [--service ads|lds|rds|cds|eds|rtds|sds] [--method PATH] [--json]
 *                   [--deep-metadata N] CMD...
 * --deep-metadata N: the first request also carries node.metadata with one
 * value nested N lists deep, as raw bytes after the packed request (a second
 * occurrence of the node field, which a decoder merges into the first).
 * commands:
 *   sub:TYPE[:n1,n2]              SotW request (first, or a new name list; "*" allowed)
 *   dsub:TYPE[:n1,n2][:init=n=v,...]   Delta subscribe (+ initial_resource_versions)
 *   dunsub:TYPE:n1,n2             Delta unsubscribe
 *   ack:TYPE / nack:TYPE:MESSAGE  answer the last response of TYPE
 *   wait:TYPE[:MS]                wait for the next response of TYPE (default 3000 ms)
 *   quiet:TYPE:MS                 fail if a response of TYPE arrives within MS
 *   sleep:MS                      keep receiving for MS
 *   mark:TEXT                     print "MARK TEXT"
 * Exit: 0, 3 on a wait timeout, 4 on an unexpected response, 5 if the
 * stream failed, 2 on usage errors. Types: listener, route, cluster,
 * endpoint, runtime, secret. */
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_registry.h"
#include "envoy/service/discovery/v3/discovery.pb-c.h"

#define TP "type.googleapis.com/"

static const struct {
    const char *short_name, *type_url, *service, *sotw, *delta;
} types[] = {
    {"listener", TP "envoy.config.listener.v3.Listener",
     "envoy.service.listener.v3.ListenerDiscoveryService", "StreamListeners", "DeltaListeners"},
    {"route", TP "envoy.config.route.v3.RouteConfiguration",
     "envoy.service.route.v3.RouteDiscoveryService", "StreamRoutes", "DeltaRoutes"},
    {"cluster", TP "envoy.config.cluster.v3.Cluster",
     "envoy.service.cluster.v3.ClusterDiscoveryService", "StreamClusters", "DeltaClusters"},
    {"endpoint", TP "envoy.config.endpoint.v3.ClusterLoadAssignment",
     "envoy.service.endpoint.v3.EndpointDiscoveryService", "StreamEndpoints", "DeltaEndpoints"},
    {"runtime", TP "envoy.service.runtime.v3.Runtime",
     "envoy.service.runtime.v3.RuntimeDiscoveryService", "StreamRuntime", "DeltaRuntime"},
    {"secret", TP "envoy.extensions.transport_sockets.tls.v3.Secret",
     "envoy.service.secret.v3.SecretDiscoveryService", "StreamSecrets", "DeltaSecrets"},
};
#define NTYPES (sizeof(types) / sizeof(types[0]))

enum { TAG_START = 1, TAG_SEND, TAG_RECV, TAG_STATUS };

static grpc_completion_queue *cq;
static grpc_call *call;
static bool delta, want_json, stream_done, send_busy;
static grpc_byte_buffer *recv_bb, *sends[64];
static size_t nsends;
static grpc_status_code status_code;
static grpc_slice status_details;
static grpc_metadata_array md_initial, md_trailing;
static const char *node_id = "", *node_cluster = "";
static bool node_sent;

typedef struct {
    char last_version[64], last_nonce[64], acked_version[64];
    char names[4096]; /* SotW: the current comma-separated name list */
    int received, waited;
} tstate_t;
static tstate_t st[NTYPES];

static int type_index(const char *short_name)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (!strcmp(types[i].short_name, short_name))
            return (int)i;
    for (size_t i = 0; i < NTYPES; i++)
        if (!strcmp(types[i].type_url, short_name))
            return (int)i;
    return -1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void start_send(void)
{
    if (send_busy || !nsends || stream_done)
        return;
    grpc_op op = {0};
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = sends[0];
    send_busy = true;
    if (grpc_call_start_batch(call, &op, 1, (void *)(intptr_t)TAG_SEND, NULL) != GRPC_CALL_OK)
        abort();
}

static long deep_metadata; /* --deep-metadata N, 0: none */

static size_t put_varint(uint8_t *o, size_t v)
{
    size_t n = 0;
    do {
        o[n] = v & 0x7f;
        v >>= 7;
        if (v)
            o[n] |= 0x80;
        n++;
    } while (v);
    return n;
}

/* Prefixes the len bytes ending at buf + cap with tag and len: returns the
 * new length (built from the end backwards, so nothing moves). */
static size_t wrap_field(uint8_t *buf, size_t cap, size_t len, uint8_t tag)
{
    uint8_t hdr[11];
    hdr[0] = tag;
    size_t h = 1 + put_varint(hdr + 1, len);
    memcpy(buf + cap - len - h, hdr, h);
    return len + h;
}

/* Puts the field tag, dlen, data before the len bytes ending at buf + cap. */
static size_t put_field(uint8_t *buf, size_t cap, size_t len, uint8_t tag, const void *data,
                        size_t dlen)
{
    uint8_t hdr[11];
    hdr[0] = tag;
    size_t h = 1 + put_varint(hdr + 1, dlen);
    uint8_t *at = buf + cap - len - dlen - h;
    memcpy(at, hdr, h);
    memcpy(at + h, data, dlen);
    return len + h + dlen;
}

/* The request's node field (DeltaDiscoveryRequest 1, DiscoveryRequest 2)
 * holding Node{id, metadata: {"k": [[...["x"]...]]}}, n lists deep. Whole:
 * protobuf-c does not merge a second occurrence of a message field. */
static uint8_t *deep_node(long n, size_t *out_len)
{
    size_t cap = (size_t)n * 10 + 64 + strlen(node_id); /* a level: 2 tags, 2 lengths */
    uint8_t *buf = xp_malloc(cap);
    size_t len = 3;
    memcpy(buf + cap - 3, "\x1a\x01x", 3); /* Value{string_value: "x"} */
    for (long i = 0; i < n; i++) {
        len = wrap_field(buf, cap, len, 0x0a); /* ListValue.values */
        len = wrap_field(buf, cap, len, 0x32); /* Value.list_value */
    }
    len = wrap_field(buf, cap, len, 0x12);                          /* the map entry's value */
    len = put_field(buf, cap, len, 0x0a, "k", 1);                   /* the map entry's key */
    len = wrap_field(buf, cap, len, 0x0a);                          /* Struct.fields */
    len = wrap_field(buf, cap, len, 0x1a);                          /* Node.metadata */
    len = put_field(buf, cap, len, 0x0a, node_id, strlen(node_id)); /* Node.id */
    len = wrap_field(buf, cap, len, delta ? 0x0a : 0x12); /* the request's node (1 or 2) */
    memmove(buf, buf + cap - len, len);
    *out_len = len;
    return buf;
}

static void queue_msg(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m), dlen = 0;
    uint8_t *deep = NULL;
    if (deep_metadata) {
        deep = deep_node(deep_metadata, &dlen);
        deep_metadata = 0;
    }
    grpc_slice s = grpc_slice_malloc(len + dlen);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    if (deep)
        memcpy(GRPC_SLICE_START_PTR(s) + len, deep, dlen);
    free(deep);
    if (nsends == 64)
        abort();
    sends[nsends++] = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    start_send();
}

static void start_recv(void)
{
    grpc_op op = {0};
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &recv_bb;
    if (grpc_call_start_batch(call, &op, 1, (void *)(intptr_t)TAG_RECV, NULL) != GRPC_CALL_OK)
        abort();
}

static void print_json(const char *name, const Google__Protobuf__Any *any)
{
    if (!want_json)
        return;
    xp_diag_t d;
    xp_diag_init(&d);
    ProtobufCMessage *m = xp_any_unpack(any, NULL, &d, "");
    xp_diag_free(&d);
    if (!m) {
        printf("  JSON %s (undecodable)\n", name);
        return;
    }
    char *j = xp_codec_to_json(m, false);
    printf("  JSON %s %s\n", name, j);
    free(j);
    protobuf_c_message_free_unpacked(m, NULL);
}

static const char *res_name(const Google__Protobuf__Any *any, char *buf, size_t cap)
{
    xp_diag_t d;
    xp_diag_init(&d);
    ProtobufCMessage *m = xp_any_unpack(any, NULL, &d, "");
    xp_diag_free(&d);
    snprintf(buf, cap, "?");
    if (!m)
        return buf;
    const char *fields[] = {"name", "cluster_name"};
    for (int i = 0; i < 2; i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(m->descriptor, fields[i]);
        if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED) {
            snprintf(buf, cap, "%s", *(char **)((char *)m + f->offset));
            break;
        }
    }
    protobuf_c_message_free_unpacked(m, NULL);
    return buf;
}

static void on_message(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    const ProtobufCMessageDescriptor *d =
        delta ? &envoy__service__discovery__v3__delta_discovery_response__descriptor
              : &envoy__service__discovery__v3__discovery_response__descriptor;
    ProtobufCMessage *m =
        protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (!m) {
        printf("UNDECODABLE response\n");
        return;
    }
    char nb[512];
    if (!delta) {
        Envoy__Service__Discovery__V3__DiscoveryResponse *resp = (void *)m;
        int t = type_index(resp->type_url);
        printf("RESP sotw type=%s version=%s nonce=%s resources=",
               t >= 0 ? types[t].short_name : resp->type_url, resp->version_info, resp->nonce);
        for (size_t i = 0; i < resp->n_resources; i++)
            printf("%s%s", i ? "," : "", res_name(resp->resources[i], nb, sizeof(nb)));
        printf("\n");
        for (size_t i = 0; i < resp->n_resources; i++)
            print_json(res_name(resp->resources[i], nb, sizeof(nb)), resp->resources[i]);
        if (t >= 0) {
            snprintf(st[t].last_version, sizeof(st[t].last_version), "%s", resp->version_info);
            snprintf(st[t].last_nonce, sizeof(st[t].last_nonce), "%s", resp->nonce);
            st[t].received++;
        }
    } else {
        Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *resp = (void *)m;
        int t = type_index(resp->type_url);
        printf("RESP delta type=%s version=%s nonce=%s resources=",
               t >= 0 ? types[t].short_name : resp->type_url, resp->system_version_info,
               resp->nonce);
        for (size_t i = 0; i < resp->n_resources; i++)
            printf("%s%s@%s", i ? "," : "", resp->resources[i]->name, resp->resources[i]->version);
        printf(" removed=");
        for (size_t i = 0; i < resp->n_removed_resources; i++)
            printf("%s%s", i ? "," : "", resp->removed_resources[i]);
        printf("\n");
        for (size_t i = 0; i < resp->n_resources; i++)
            if (resp->resources[i]->resource)
                print_json(resp->resources[i]->name, resp->resources[i]->resource);
        if (t >= 0) {
            snprintf(st[t].last_version, sizeof(st[t].last_version), "%s",
                     resp->system_version_info);
            snprintf(st[t].last_nonce, sizeof(st[t].last_nonce), "%s", resp->nonce);
            st[t].received++;
        }
    }
    fflush(stdout);
    protobuf_c_message_free_unpacked(m, NULL);
}

/* Handles one event, waiting at most ms. */
static void step(double ms)
{
    gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                   gpr_time_from_micros((int64_t)(ms * 1000), GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_next(cq, dl, NULL);
    if (ev.type != GRPC_OP_COMPLETE)
        return;
    switch ((int)(intptr_t)ev.tag) {
    case TAG_SEND:
        grpc_byte_buffer_destroy(sends[0]);
        memmove(sends, sends + 1, --nsends * sizeof(*sends));
        send_busy = false;
        start_send();
        break;
    case TAG_RECV:
        if (ev.success && recv_bb) {
            on_message(recv_bb);
            grpc_byte_buffer_destroy(recv_bb);
            recv_bb = NULL;
            start_recv();
        }
        break;
    case TAG_STATUS: {
        char *det = grpc_slice_to_c_string(status_details);
        printf("STATUS code=%d msg=%s\n", (int)status_code, det);
        fflush(stdout);
        gpr_free(det);
        stream_done = true;
        break;
    }
    default:
        break;
    }
}

static void pump(double ms)
{
    double end = now_ms() + ms;
    for (double left; !stream_done && (left = end - now_ms()) > 0;)
        step(left);
}

static void fill_node(Envoy__Config__Core__V3__Node *node, Envoy__Config__Core__V3__Node **slot)
{
    if (node_sent)
        return;
    node_sent = true;
    if (deep_metadata)
        return; /* queue_msg appends the node as raw bytes */
    node->id = (char *)node_id;
    node->cluster = (char *)node_cluster;
    *slot = node;
}

static size_t split(char *s, char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static void sotw_request(int t, const char *nack_msg, bool ack)
{
    Envoy__Service__Discovery__V3__DiscoveryRequest req =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Rpc__Status err = GOOGLE__RPC__STATUS__INIT;
    fill_node(&node, &req.node);
    req.type_url = (char *)types[t].type_url;
    char names[4096], *v[256];
    snprintf(names, sizeof(names), "%s", st[t].names);
    req.resource_names = v;
    req.n_resource_names = split(names, v, 256);
    if (ack || nack_msg) {
        req.response_nonce = st[t].last_nonce;
        if (nack_msg) {
            req.version_info = st[t].acked_version;
            err.code = 3;
            err.message = (char *)nack_msg;
            req.error_detail = &err;
        } else {
            req.version_info = st[t].last_version;
            memcpy(st[t].acked_version, st[t].last_version, sizeof(st[t].acked_version));
        }
    } else {
        req.version_info = st[t].acked_version;
    }
    queue_msg(&req.base);
}

static void delta_request(int t, char *sub, char *unsub, char *init, const char *nack_msg, bool ack)
{
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest req =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    Google__Rpc__Status err = GOOGLE__RPC__STATUS__INIT;
    fill_node(&node, &req.node);
    req.type_url = (char *)types[t].type_url;
    char *sv[256], *uv[256], *iv[256];
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry ie[256],
        *ip[256];
    req.resource_names_subscribe = sv;
    req.n_resource_names_subscribe = sub ? split(sub, sv, 256) : 0;
    req.resource_names_unsubscribe = uv;
    req.n_resource_names_unsubscribe = unsub ? split(unsub, uv, 256) : 0;
    size_t ni = init ? split(init, iv, 256) : 0;
    for (size_t i = 0; i < ni; i++) {
        envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__init(
            &ie[i]);
        char *eq = strchr(iv[i], '=');
        ie[i].key = iv[i];
        ie[i].value = eq ? (*eq = '\0', eq + 1) : "";
        ip[i] = &ie[i];
    }
    req.initial_resource_versions = ip;
    req.n_initial_resource_versions = ni;
    if (ack || nack_msg) {
        req.response_nonce = st[t].last_nonce;
        if (nack_msg) {
            err.code = 3;
            err.message = (char *)nack_msg;
            req.error_detail = &err;
        }
    }
    queue_msg(&req.base);
}

static int wait_for(int t, double ms)
{
    st[t].waited++;
    double end = now_ms() + ms;
    while (st[t].received < st[t].waited && !stream_done && now_ms() < end)
        step(end - now_ms());
    if (st[t].received < st[t].waited) {
        printf("TIMEOUT waiting for %s\n", types[t].short_name);
        return stream_done ? 5 : 3;
    }
    return 0;
}

static int run(char *cmd)
{
    char *f[4] = {0};
    size_t nf = 0;
    size_t maxf = strncmp(cmd, "nack:", 5) == 0 || strncmp(cmd, "mark:", 5) == 0 ? 3 : 4;
    for (char *p = cmd; nf < maxf;) {
        f[nf++] = p;
        char *c = nf < maxf ? strchr(p, ':') : NULL;
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    if (!strcmp(f[0], "sleep"))
        return pump(atof(f[1] ? f[1] : "0")), 0;
    if (!strcmp(f[0], "mark")) {
        printf("MARK %s\n", f[1] ? f[1] : "");
        fflush(stdout);
        return 0;
    }
    int t = f[1] ? type_index(f[1]) : -1;
    if (t < 0) {
        fprintf(stderr, "xds_client: bad command or type: %s\n", f[0]);
        return 2;
    }
    if (!strcmp(f[0], "sub")) {
        snprintf(st[t].names, sizeof(st[t].names), "%s", f[2] ? f[2] : "");
        sotw_request(t, NULL, st[t].last_nonce[0] != 0);
    } else if (!strcmp(f[0], "dsub")) {
        char *init = f[3] && !strncmp(f[3], "init=", 5) ? f[3] + 5 : NULL;
        if (f[2] && !strncmp(f[2], "init=", 5)) {
            init = f[2] + 5;
            f[2] = NULL;
        }
        delta_request(t, f[2], NULL, init, NULL, false);
    } else if (!strcmp(f[0], "dunsub")) {
        delta_request(t, NULL, f[2], NULL, NULL, false);
    } else if (!strcmp(f[0], "ack") || !strcmp(f[0], "nack")) {
        const char *msg = f[0][0] == 'n' ? (f[2] ? f[2] : "rejected") : NULL;
        if (delta)
            delta_request(t, NULL, NULL, NULL, msg, !msg);
        else
            sotw_request(t, msg, !msg);
    } else if (!strcmp(f[0], "wait")) {
        return wait_for(t, f[2] ? atof(f[2]) : 3000);
    } else if (!strcmp(f[0], "quiet")) {
        int before = st[t].received;
        pump(f[2] ? atof(f[2]) : 500);
        if (st[t].received != before) {
            printf("UNEXPECTED response of %s\n", types[t].short_name);
            return 4;
        }
    } else {
        fprintf(stderr, "xds_client: unknown command %s\n", f[0]);
        return 2;
    }
    pump(0.001);
    return 0;
}

int main(int argc, char **argv)
{
    const char *server = NULL, *service = "ads", *raw_method = NULL;
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--delta"))
            delta = true;
        else if (!strcmp(argv[i], "--json"))
            want_json = true;
        else if (i + 1 < argc && !strcmp(argv[i], "--server"))
            server = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--deep-metadata"))
            deep_metadata = atol(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--node"))
            node_id = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--cluster"))
            node_cluster = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--service"))
            service = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--method"))
            raw_method = argv[++i];
        else {
            fprintf(stderr, "xds_client: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!server) {
        fprintf(stderr, "xds_client: --server is required\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    xp_codec_register(xp_proto_registry_api);
    char method[256];
    if (raw_method) {
        snprintf(method, sizeof(method), "%s", raw_method);
    } else if (!strcmp(service, "ads")) {
        snprintf(method, sizeof(method),
                 "/envoy.service.discovery.v3.AggregatedDiscoveryService/%s",
                 delta ? "DeltaAggregatedResources" : "StreamAggregatedResources");
    } else {
        static const char *svc[][2] = {{"lds", "listener"}, {"rds", "route"},    {"cds", "cluster"},
                                       {"eds", "endpoint"}, {"rtds", "runtime"}, {"sds", "secret"}};
        int t = -1;
        for (size_t k = 0; k < sizeof(svc) / sizeof(svc[0]); k++)
            if (!strcmp(svc[k][0], service))
                t = type_index(svc[k][1]);
        if (t < 0) {
            fprintf(stderr, "xds_client: unknown service %s\n", service);
            return 2;
        }
        snprintf(method, sizeof(method), "/%s/%s", types[t].service,
                 delta ? types[t].delta : types[t].sotw);
    }

    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create(server, creds, NULL);
    grpc_channel_credentials_release(creds);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_slice mslice = grpc_slice_from_static_string(method);
    call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, mslice, NULL,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&md_initial);
    grpc_metadata_array_init(&md_trailing);
    grpc_op ops[3] = {{0}};
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &md_initial;
    if (grpc_call_start_batch(call, ops, 2, (void *)(intptr_t)TAG_START, NULL) != GRPC_CALL_OK)
        abort();
    ops[0] = (grpc_op){0};
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &md_trailing;
    ops[0].data.recv_status_on_client.status = &status_code;
    ops[0].data.recv_status_on_client.status_details = &status_details;
    if (grpc_call_start_batch(call, ops, 1, (void *)(intptr_t)TAG_STATUS, NULL) != GRPC_CALL_OK)
        abort();
    start_recv();

    int rc = 0;
    for (; i < argc && rc == 0; i++) {
        char *cmd = xp_strdup(argv[i]);
        rc = run(cmd);
        free(cmd);
        if (stream_done && rc == 0) {
            printf("STREAM ENDED\n");
            rc = 5;
        }
    }
    /* Half-close and collect the server's status. */
    if (!stream_done) {
        double flush_end = now_ms() + 2000;
        while ((nsends || send_busy) && !stream_done && now_ms() < flush_end)
            step(flush_end - now_ms());
        grpc_op op = {0};
        op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        grpc_call_start_batch(call, &op, 1, (void *)(intptr_t)TAG_START, NULL);
        double end = now_ms() + 2000;
        while (!stream_done && now_ms() < end)
            step(end - now_ms());
        if (!stream_done)
            grpc_call_cancel(call, NULL);
    }
    while (!stream_done)
        step(100);
    pump(20);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    for (size_t k = 0; k < nsends; k++)
        grpc_byte_buffer_destroy(sends[k]);
    if (recv_bb)
        grpc_byte_buffer_destroy(recv_bb);
    grpc_slice_unref(status_details);
    grpc_metadata_array_destroy(&md_initial);
    grpc_metadata_array_destroy(&md_trailing);
    grpc_channel_destroy(ch);
    grpc_shutdown_blocking();
    return rc;
}
