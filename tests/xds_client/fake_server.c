/* A scriptable xDS management server for the client tests (fake_server.h).
 *
 * One gRPC server, completion queue and thread per listening period (kill
 * tears all three down, restart makes new ones on the same port). Every
 * completion is handled on that thread under the server mutex; the test
 * thread only takes the mutex to change resources or read the log. */
#include "tests/xds_client/fake_server.h"

#include "proxy/common/mem.h"

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "google/rpc/status.pb-c.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name, *version;
    uint8_t *data;
    size_t len;
    int changes;
} fres_t;

typedef struct ftype {
    struct ftype *next;
    char *url;
    int changes;
    char version[32];
    fres_t *v;
    size_t n, cap;
    bool dup_next;
    bool send_all; /* ignore subscriptions: send every resource of the type */
    bool wrap;     /* SotW: each Any is a Resource wrapping the resource */
} ftype_t;

/* What one call asked for of one type, and (Delta) what the client has. */
typedef struct fsub {
    struct fsub *next;
    char *url;
    bool active, wildcard;
    char **names;
    size_t n;
    char *last_nonce;
    char **kname, **kver;
    size_t kn, kcap;
} fsub_t;

enum { T_START, T_RECV, T_SEND, T_CLOSE, T_STATUS, T_NEWCALL, T_SHUTDOWN };

typedef struct fcall fcall_t;
typedef struct {
    int kind;
    fcall_t *call;
} ftag_t;

typedef struct fsend {
    struct fsend *next;
    grpc_byte_buffer *bb;
} fsend_t;

struct fcall {
    fcall_t *next;
    fake_server_t *srv;
    int id;
    bool delta, done, status_sent;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    int pending;
    int cancelled;
    grpc_byte_buffer *recv_bb;
    fsend_t *sendq, *inflight;
    ftag_t tags[T_STATUS + 1];
    fsub_t *subs;
};

struct fake_server {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int port;
    /* the current listening period */
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t thread;
    bool running, shutting_down, shutdown_done, newcall_pending;
    fcall_t *calls;
    fcall_t *newcall; /* the call slot grpc_server_request_call fills */
    ftag_t newcall_tag, shutdown_tag;
    /* state kept across kill/restart */
    ftype_t *types;
    int nstreams, nonce_seq, responses;
    fake_req_t **log; /* records are allocated one by one so pointers stay valid */
    size_t nlog, caplog;
    /* per resource send counts */
    char **cnt_key;
    int *cnt_val;
    size_t ncnt;
};

/* ---- helpers ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(char **v, size_t n, bool sort)
{
    char **c = xp_malloc((n + 1) * sizeof(char *));
    if (n)
        memcpy(c, v, n * sizeof(char *));
    if (sort)
        qsort(c, n, sizeof(char *), cmp_str);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(c[i]) + 1;
    char *out = xp_malloc(len);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, ",");
        strcat(out, c[i]);
    }
    free(c);
    return out;
}

static ftype_t *find_type(fake_server_t *s, const char *url, bool create)
{
    for (ftype_t *t = s->types; t; t = t->next)
        if (strcmp(t->url, url) == 0)
            return t;
    if (!create)
        return NULL;
    ftype_t *t = xp_calloc(1, sizeof(*t));
    t->url = xp_strdup(url);
    t->next = s->types;
    s->types = t;
    return t;
}

static fres_t *find_res(ftype_t *t, const char *name)
{
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->v[i].name, name) == 0)
            return &t->v[i];
    return NULL;
}

static void count_sent(fake_server_t *s, const char *url, const char *name)
{
    char *key = xp_asprintf("%s|%s", url, name);
    for (size_t i = 0; i < s->ncnt; i++) {
        if (strcmp(s->cnt_key[i], key) == 0) {
            s->cnt_val[i]++;
            free(key);
            return;
        }
    }
    s->cnt_key = xp_realloc(s->cnt_key, (s->ncnt + 1) * sizeof(char *));
    s->cnt_val = xp_realloc(s->cnt_val, (s->ncnt + 1) * sizeof(int));
    s->cnt_key[s->ncnt] = key;
    s->cnt_val[s->ncnt++] = 1;
}

static bool sub_has(const fsub_t *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->names[i], name) == 0)
            return true;
    return false;
}

static void sub_add(fsub_t *u, const char *name)
{
    if (sub_has(u, name))
        return;
    u->names = xp_realloc(u->names, (u->n + 1) * sizeof(char *));
    u->names[u->n++] = xp_strdup(name);
}

static void sub_del(fsub_t *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->names[i], name) == 0) {
            free(u->names[i]);
            u->names[i] = u->names[--u->n];
            return;
        }
    }
}

static void sub_clear(fsub_t *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->names[i]);
    u->n = 0;
}

static long known_find(const fsub_t *u, const char *name)
{
    for (size_t i = 0; i < u->kn; i++)
        if (strcmp(u->kname[i], name) == 0)
            return (long)i;
    return -1;
}

static void known_set(fsub_t *u, const char *name, const char *ver)
{
    long i = known_find(u, name);
    if (i >= 0) {
        free(u->kver[i]);
        u->kver[i] = xp_strdup(ver);
        return;
    }
    if (u->kn == u->kcap) {
        u->kcap = u->kcap ? u->kcap * 2 : 8;
        u->kname = xp_realloc(u->kname, u->kcap * sizeof(char *));
        u->kver = xp_realloc(u->kver, u->kcap * sizeof(char *));
    }
    u->kname[u->kn] = xp_strdup(name);
    u->kver[u->kn++] = xp_strdup(ver);
}

static void known_del(fsub_t *u, const char *name)
{
    long i = known_find(u, name);
    if (i < 0)
        return;
    free(u->kname[i]);
    free(u->kver[i]);
    u->kn--;
    u->kname[i] = u->kname[u->kn];
    u->kver[i] = u->kver[u->kn];
}

static fsub_t *get_sub(fcall_t *c, const char *url)
{
    for (fsub_t *u = c->subs; u; u = u->next)
        if (strcmp(u->url, url) == 0)
            return u;
    fsub_t *u = xp_calloc(1, sizeof(*u));
    u->url = xp_strdup(url);
    u->next = c->subs;
    c->subs = u;
    return u;
}

static void sub_free(fsub_t *u)
{
    sub_clear(u);
    free(u->names);
    for (size_t i = 0; i < u->kn; i++) {
        free(u->kname[i]);
        free(u->kver[i]);
    }
    free(u->kname);
    free(u->kver);
    free(u->last_nonce);
    free(u->url);
    free(u);
}

/* ---- batches (called with the mutex held) ---- */

static void batch(fcall_t *c, int kind, grpc_op *ops, size_t n)
{
    c->pending++;
    if (grpc_call_start_batch(c->call, ops, n, &c->tags[kind], NULL) != GRPC_CALL_OK) {
        c->pending--;
        fprintf(stderr, "fake_server: start_batch(%d) failed\n", kind);
        grpc_call_cancel(c->call, NULL);
    }
}

static void send_next(fcall_t *c)
{
    if (c->inflight || !c->sendq || c->done)
        return;
    c->inflight = c->sendq;
    c->sendq = c->sendq->next;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = c->inflight->bb;
    batch(c, T_SEND, &op, 1);
}

static void send_msg(fcall_t *c, const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    grpc_slice sl = grpc_slice_malloc(len);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(sl));
    fsend_t *q = xp_calloc(1, sizeof(*q));
    q->bb = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    fsend_t **p = &c->sendq;
    while (*p)
        p = &(*p)->next;
    *p = q;
    c->srv->responses++;
    send_next(c);
}

static void start_recv(fcall_t *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    batch(c, T_RECV, &op, 1);
}

/* ---- responses ---- */

static void sotw_respond(fcall_t *c, fsub_t *u)
{
    fake_server_t *s = c->srv;
    ftype_t *t = find_type(s, u->url, true);
    Envoy__Service__Discovery__V3__DiscoveryResponse r =
        ENVOY__SERVICE__DISCOVERY__V3__DISCOVERY_RESPONSE__INIT;
    Google__Protobuf__Any *anys = xp_calloc(t->n + 2, sizeof(*anys));
    Google__Protobuf__Any **ap = xp_calloc(t->n + 2, sizeof(*ap));
    uint8_t **wrapped = xp_calloc(t->n + 1, sizeof(*wrapped));
    size_t n = 0, nwrapped = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (!u->wildcard && !t->send_all && !sub_has(u, t->v[i].name))
            continue;
        google__protobuf__any__init(&anys[n]);
        anys[n].type_url = t->url;
        anys[n].value.data = t->v[i].data;
        anys[n].value.len = t->v[i].len;
        if (t->wrap) {
            Envoy__Service__Discovery__V3__Resource w =
                ENVOY__SERVICE__DISCOVERY__V3__RESOURCE__INIT;
            w.name = t->v[i].name;
            w.version = t->v[i].version;
            w.resource = &anys[n];
            size_t len = protobuf_c_message_get_packed_size(&w.base);
            uint8_t *buf = xp_malloc(len + 1);
            protobuf_c_message_pack(&w.base, buf);
            google__protobuf__any__init(&anys[n]);
            anys[n].type_url = "type.googleapis.com/envoy.service.discovery.v3.Resource";
            anys[n].value.data = buf;
            anys[n].value.len = len;
            wrapped[nwrapped++] = buf;
        }
        ap[n] = &anys[n];
        n++;
        count_sent(s, t->url, t->v[i].name);
    }
    if (t->dup_next && n > 0) {
        t->dup_next = false;
        ap[n++] = &anys[0];
    }
    char nonce[32];
    snprintf(nonce, sizeof(nonce), "n%d", ++s->nonce_seq);
    r.version_info = t->version;
    r.type_url = t->url;
    r.nonce = nonce;
    r.n_resources = n;
    r.resources = ap;
    free(u->last_nonce);
    u->last_nonce = xp_strdup(nonce);
    send_msg(c, &r.base);
    for (size_t i = 0; i < nwrapped; i++)
        free(wrapped[i]);
    free(wrapped);
    free(anys);
    free(ap);
}

static bool delta_wanted(const fsub_t *u, const char *name)
{
    return u->wildcard || sub_has(u, name);
}

/* Sends what the client lacks (differences only); nothing if up to date. */
static void delta_push(fcall_t *c, fsub_t *u)
{
    fake_server_t *s = c->srv;
    ftype_t *t = find_type(s, u->url, true);
    Envoy__Service__Discovery__V3__DeltaDiscoveryResponse r =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
    Envoy__Service__Discovery__V3__Resource *res = xp_calloc(t->n + 1, sizeof(*res));
    Envoy__Service__Discovery__V3__Resource **rp = xp_calloc(t->n + 1, sizeof(*rp));
    Google__Protobuf__Any *anys = xp_calloc(t->n + 1, sizeof(*anys));
    char **removed = xp_calloc(u->kn + 1, sizeof(char *));
    size_t n = 0, nrm = 0;
    for (size_t i = 0; i < t->n; i++) {
        fres_t *f = &t->v[i];
        if (!delta_wanted(u, f->name) && !t->send_all)
            continue;
        long k = known_find(u, f->name);
        if (k >= 0 && strcmp(u->kver[k], f->version) == 0)
            continue;
        envoy__service__discovery__v3__resource__init(&res[n]);
        google__protobuf__any__init(&anys[n]);
        anys[n].type_url = t->url;
        anys[n].value.data = f->data;
        anys[n].value.len = f->len;
        res[n].name = f->name;
        res[n].version = f->version;
        res[n].resource = &anys[n];
        rp[n] = &res[n];
        n++;
        known_set(u, f->name, f->version);
        count_sent(s, t->url, f->name);
    }
    for (size_t i = 0; i < u->kn;) {
        if (find_res(t, u->kname[i]) == NULL) {
            removed[nrm++] = xp_strdup(u->kname[i]);
            known_del(u, u->kname[i]);
        } else {
            i++;
        }
    }
    if (n + nrm > 0) {
        char nonce[32];
        snprintf(nonce, sizeof(nonce), "n%d", ++s->nonce_seq);
        r.system_version_info = t->version;
        r.type_url = t->url;
        r.nonce = nonce;
        r.n_resources = n;
        r.resources = rp;
        r.n_removed_resources = nrm;
        r.removed_resources = removed;
        send_msg(c, &r.base);
    }
    for (size_t i = 0; i < nrm; i++)
        free(removed[i]);
    free(removed);
    free(res);
    free(rp);
    free(anys);
}

static fake_req_t *log_add(fake_server_t *s, fcall_t *c, const char *url)
{
    if (s->nlog == s->caplog) {
        s->caplog = s->caplog ? s->caplog * 2 : 64;
        s->log = xp_realloc(s->log, s->caplog * sizeof(*s->log));
    }
    fake_req_t *l = xp_calloc(1, sizeof(*l));
    s->log[s->nlog++] = l;
    l->stream = c->id;
    l->delta = c->delta;
    l->type_url = xp_strdup(url);
    return l;
}

static void on_sotw_request(fcall_t *c, Envoy__Service__Discovery__V3__DiscoveryRequest *q)
{
    fake_req_t *l = log_add(c->srv, c, q->type_url);
    l->has_node = q->node != NULL;
    l->version_info = xp_strdup(q->version_info);
    l->nonce = xp_strdup(q->response_nonce);
    l->names = join(q->resource_names, q->n_resource_names, true);
    if (q->error_detail) {
        l->error = xp_strdup(q->error_detail->message);
        l->error_code = q->error_detail->code;
    }
    fsub_t *u = get_sub(c, q->type_url);
    bool first = !u->active;
    u->active = true;
    char *old = join(u->names, u->n, true);
    bool changed = strcmp(old, l->names) != 0;
    free(old);
    if (q->response_nonce[0] && (u->last_nonce == NULL || strcmp(q->response_nonce, u->last_nonce)))
        return; /* stale: answered by a newer response already */
    if (first)
        u->wildcard = q->n_resource_names == 0;
    sub_clear(u);
    for (size_t i = 0; i < q->n_resource_names; i++) {
        if (strcmp(q->resource_names[i], "*") == 0)
            u->wildcard = true;
        else
            sub_add(u, q->resource_names[i]);
    }
    if (first || changed)
        sotw_respond(c, u);
}

static void on_delta_request(fcall_t *c, Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *q)
{
    fake_req_t *l = log_add(c->srv, c, q->type_url);
    l->has_node = q->node != NULL;
    l->nonce = xp_strdup(q->response_nonce);
    l->subscribe = join(q->resource_names_subscribe, q->n_resource_names_subscribe, false);
    l->unsubscribe = join(q->resource_names_unsubscribe, q->n_resource_names_unsubscribe, false);
    char **iv = xp_calloc(q->n_initial_resource_versions + 1, sizeof(char *));
    for (size_t i = 0; i < q->n_initial_resource_versions; i++)
        iv[i] = xp_asprintf("%s=%s", q->initial_resource_versions[i]->key,
                            q->initial_resource_versions[i]->value);
    l->initial = join(iv, q->n_initial_resource_versions, true);
    for (size_t i = 0; i < q->n_initial_resource_versions; i++)
        free(iv[i]);
    free(iv);
    if (q->error_detail) {
        l->error = xp_strdup(q->error_detail->message);
        l->error_code = q->error_detail->code;
    }
    fsub_t *u = get_sub(c, q->type_url);
    if (!u->active) {
        u->active = true;
        for (size_t i = 0; i < q->n_initial_resource_versions; i++)
            known_set(u, q->initial_resource_versions[i]->key,
                      q->initial_resource_versions[i]->value);
    }
    for (size_t i = 0; i < q->n_resource_names_subscribe; i++) {
        if (strcmp(q->resource_names_subscribe[i], "*") == 0)
            u->wildcard = true;
        else
            sub_add(u, q->resource_names_subscribe[i]);
    }
    for (size_t i = 0; i < q->n_resource_names_unsubscribe; i++) {
        if (strcmp(q->resource_names_unsubscribe[i], "*") == 0) {
            u->wildcard = false;
        } else {
            sub_del(u, q->resource_names_unsubscribe[i]);
            known_del(u, q->resource_names_unsubscribe[i]);
        }
    }
    delta_push(c, u);
}

/* ---- the server thread ---- */

static void request_new_call(fake_server_t *s)
{
    fcall_t *c = xp_calloc(1, sizeof(*c));
    c->srv = s;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    for (int k = 0; k <= T_STATUS; k++) {
        c->tags[k].kind = k;
        c->tags[k].call = c;
    }
    s->newcall = c;
    s->newcall_pending = true;
    grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
                             &s->newcall_tag);
}

static void call_free(fcall_t *c)
{
    while (c->subs) {
        fsub_t *n = c->subs->next;
        sub_free(c->subs);
        c->subs = n;
    }
    while (c->sendq) {
        fsend_t *n = c->sendq->next;
        grpc_byte_buffer_destroy(c->sendq->bb);
        free(c->sendq);
        c->sendq = n;
    }
    if (c->call)
        grpc_call_unref(c->call);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    free(c);
}

static void on_new_call(fake_server_t *s, bool ok)
{
    fcall_t *c = s->newcall;
    s->newcall = NULL;
    s->newcall_pending = false;
    if (!ok) {
        call_free(c);
        return;
    }
    if (!s->shutting_down)
        request_new_call(s);
    c->id = ++s->nstreams;
    char *method = grpc_slice_to_c_string(c->details.method);
    c->delta = strstr(method, "/Delta") != NULL;
    gpr_free(method);
    c->next = s->calls;
    s->calls = c;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    batch(c, T_START, &op, 1);
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    batch(c, T_CLOSE, &op, 1);
    start_recv(c);
}

static void on_call_event(fcall_t *c, int kind, bool ok)
{
    c->pending--;
    switch (kind) {
    case T_SEND:
        grpc_byte_buffer_destroy(c->inflight->bb);
        free(c->inflight);
        c->inflight = NULL;
        if (ok)
            send_next(c);
        break;
    case T_RECV: {
        grpc_byte_buffer *bb = c->recv_bb;
        c->recv_bb = NULL;
        if (!ok || bb == NULL) {
            if (ok && !c->status_sent && !c->done) {
                c->status_sent = true;
                grpc_op op;
                memset(&op, 0, sizeof(op));
                op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
                op.data.send_status_from_server.status = GRPC_STATUS_OK;
                batch(c, T_STATUS, &op, 1);
            }
            break;
        }
        grpc_byte_buffer_reader rd;
        grpc_byte_buffer_reader_init(&rd, bb);
        grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        grpc_byte_buffer_destroy(bb);
        if (c->delta) {
            Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *q =
                envoy__service__discovery__v3__delta_discovery_request__unpack(
                    NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
            if (q) {
                on_delta_request(c, q);
                envoy__service__discovery__v3__delta_discovery_request__free_unpacked(q, NULL);
            }
        } else {
            Envoy__Service__Discovery__V3__DiscoveryRequest *q =
                envoy__service__discovery__v3__discovery_request__unpack(
                    NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
            if (q) {
                on_sotw_request(c, q);
                envoy__service__discovery__v3__discovery_request__free_unpacked(q, NULL);
            }
        }
        grpc_slice_unref(sl);
        if (!c->done)
            start_recv(c);
        break;
    }
    case T_CLOSE:
        c->done = true;
        break;
    default:
        break;
    }
    if (c->done && c->pending == 0) {
        for (fcall_t **p = &c->srv->calls; *p; p = &(*p)->next) {
            if (*p == c) {
                *p = c->next;
                break;
            }
        }
        call_free(c);
    }
}

static void *server_thread(void *arg)
{
    fake_server_t *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        ftag_t *tag = ev.tag;
        pthread_mutex_lock(&s->mu);
        if (tag == &s->newcall_tag)
            on_new_call(s, ev.success);
        else if (tag == &s->shutdown_tag)
            s->shutdown_done = true;
        else
            on_call_event(tag->call, tag->kind, ev.success);
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static int listen_on(fake_server_t *s, int port)
{
    s->server = grpc_server_create(NULL, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    grpc_server_credentials *cr = grpc_insecure_server_credentials_create();
    int got = grpc_server_add_http2_port(s->server, addr, cr);
    grpc_server_credentials_release(cr);
    if (got <= 0) {
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_destroy(s->cq);
        return -1;
    }
    s->port = got;
    grpc_server_start(s->server);
    s->shutting_down = s->shutdown_done = false;
    pthread_mutex_lock(&s->mu);
    request_new_call(s);
    pthread_mutex_unlock(&s->mu);
    pthread_create(&s->thread, NULL, server_thread, s);
    s->running = true;
    return 0;
}

fake_server_t *fake_server_start(int port)
{
    grpc_init();
    fake_server_t *s = xp_calloc(1, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->newcall_tag.kind = T_NEWCALL;
    s->shutdown_tag.kind = T_SHUTDOWN;
    if (listen_on(s, port) != 0) {
        free(s);
        grpc_shutdown();
        return NULL;
    }
    return s;
}

int fake_server_port(const fake_server_t *s)
{
    return s->port;
}

void fake_server_kill(fake_server_t *s)
{
    if (!s->running)
        return;
    pthread_mutex_lock(&s->mu);
    s->shutting_down = true;
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->server);
    while (!s->shutdown_done || s->calls || s->newcall_pending)
        pthread_cond_wait(&s->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    pthread_join(s->thread, NULL);
    grpc_completion_queue_destroy(s->cq);
    s->server = NULL;
    s->cq = NULL;
    s->running = false;
}

int fake_server_restart(fake_server_t *s)
{
    return listen_on(s, s->port);
}

void fake_server_free(fake_server_t *s)
{
    fake_server_kill(s);
    while (s->types) {
        ftype_t *t = s->types;
        s->types = t->next;
        for (size_t i = 0; i < t->n; i++) {
            free(t->v[i].name);
            free(t->v[i].version);
            free(t->v[i].data);
        }
        free(t->v);
        free(t->url);
        free(t);
    }
    for (size_t i = 0; i < s->nlog; i++) {
        fake_req_t *l = s->log[i];
        free(l->type_url);
        free(l->version_info);
        free(l->nonce);
        free(l->names);
        free(l->subscribe);
        free(l->unsubscribe);
        free(l->initial);
        free(l->error);
        free(l);
    }
    free(s->log);
    for (size_t i = 0; i < s->ncnt; i++)
        free(s->cnt_key[i]);
    free(s->cnt_key);
    free(s->cnt_val);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
    grpc_shutdown();
}

/* Pushes type t's change to every stream that follows it. */
static void push_type(fake_server_t *s, ftype_t *t, const char *name)
{
    if (!s->running)
        return;
    for (fcall_t *c = s->calls; c; c = c->next) {
        if (c->done)
            continue;
        for (fsub_t *u = c->subs; u; u = u->next) {
            if (!u->active || strcmp(u->url, t->url) != 0)
                continue;
            if (c->delta)
                delta_push(c, u);
            else if (u->wildcard || t->send_all || sub_has(u, name))
                sotw_respond(c, u);
        }
    }
}

static void bump(ftype_t *t)
{
    t->changes++;
    snprintf(t->version, sizeof(t->version), "v%d", t->changes);
}

void fake_server_set(fake_server_t *s, const char *type_url, const char *name,
                     const ProtobufCMessage *msg)
{
    pthread_mutex_lock(&s->mu);
    ftype_t *t = find_type(s, type_url, true);
    fres_t *f = find_res(t, name);
    if (f == NULL) {
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 8;
            t->v = xp_realloc(t->v, t->cap * sizeof(*t->v));
        }
        f = &t->v[t->n++];
        memset(f, 0, sizeof(*f));
        f->name = xp_strdup(name);
    }
    free(f->data);
    free(f->version);
    f->len = protobuf_c_message_get_packed_size(msg);
    f->data = xp_malloc(f->len + 1);
    protobuf_c_message_pack(msg, f->data);
    f->version = xp_asprintf("%s-%d", name, ++f->changes);
    bump(t);
    push_type(s, t, name);
    pthread_mutex_unlock(&s->mu);
}

void fake_server_remove(fake_server_t *s, const char *type_url, const char *name)
{
    pthread_mutex_lock(&s->mu);
    ftype_t *t = find_type(s, type_url, true);
    fres_t *f = find_res(t, name);
    if (f) {
        free(f->name);
        free(f->version);
        free(f->data);
        *f = t->v[--t->n];
        bump(t);
        push_type(s, t, name);
    }
    pthread_mutex_unlock(&s->mu);
}

void fake_server_wrap(fake_server_t *s, const char *type_url, bool on)
{
    pthread_mutex_lock(&s->mu);
    find_type(s, type_url, true)->wrap = on;
    pthread_mutex_unlock(&s->mu);
}

void fake_server_send_all(fake_server_t *s, const char *type_url, bool on)
{
    pthread_mutex_lock(&s->mu);
    find_type(s, type_url, true)->send_all = on;
    pthread_mutex_unlock(&s->mu);
}

void fake_server_dup_next(fake_server_t *s, const char *type_url)
{
    pthread_mutex_lock(&s->mu);
    find_type(s, type_url, true)->dup_next = true;
    pthread_mutex_unlock(&s->mu);
}

char *fake_server_version(fake_server_t *s, const char *type_url)
{
    pthread_mutex_lock(&s->mu);
    char *v = xp_strdup(find_type(s, type_url, true)->version);
    pthread_mutex_unlock(&s->mu);
    return v;
}

int fake_server_responses(fake_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->responses;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int fake_server_sent_count(fake_server_t *s, const char *type_url, const char *name)
{
    char *key = xp_asprintf("%s|%s", type_url, name);
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->ncnt; i++)
        if (strcmp(s->cnt_key[i], key) == 0)
            n = s->cnt_val[i];
    pthread_mutex_unlock(&s->mu);
    free(key);
    return n;
}

int fake_server_streams(fake_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nstreams;
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t fake_server_requests(fake_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->nlog;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const fake_req_t *fake_server_request(fake_server_t *s, size_t i)
{
    pthread_mutex_lock(&s->mu);
    const fake_req_t *l = i < s->nlog ? s->log[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return l;
}

const fake_req_t *fake_server_last_reply(fake_server_t *s, const char *type_url)
{
    const fake_req_t *r = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nlog; i++)
        if (strcmp(s->log[i]->type_url, type_url) == 0 && s->log[i]->nonce[0])
            r = s->log[i];
    pthread_mutex_unlock(&s->mu);
    return r;
}
