/* The xDS client: public API, subscriptions, response decoding, connection
 * state and stats. The protocol variants live in sotw.c and delta.c, the
 * gRPC plumbing in transport.c, REST polling in rest.c. */
#include "xds/client/client_internal.h"

#include "proxy/common/diag.h"
#include "proxy/common/error.h"
#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/xxhash.h"
#include "xds/codec/codec.h"

#include "proto/api_registry.h"
#include "google/rpc/status.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define XP__RESOURCE_URL "type.googleapis.com/envoy.service.discovery.v3.Resource"

/* Per-type services (used without ADS) and stat prefixes. LDS and CDS use
 * Envoy's own prefixes; Envoy scatters RDS and EDS stats per route config
 * and per cluster, so those are aggregated under "xds.rds" / "xds.eds". */
static const struct {
    const char *type_url, *stat_prefix, *sotw_method, *delta_method;
} xp__known_types[] = {
    {XP_XDS_TYPE_LISTENER, "listener_manager.lds",
     "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners",
     "/envoy.service.listener.v3.ListenerDiscoveryService/DeltaListeners"},
    {XP_XDS_TYPE_ROUTE, "xds.rds", "/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes",
     "/envoy.service.route.v3.RouteDiscoveryService/DeltaRoutes"},
    {XP_XDS_TYPE_CLUSTER, "cluster_manager.cds",
     "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters",
     "/envoy.service.cluster.v3.ClusterDiscoveryService/DeltaClusters"},
    {XP_XDS_TYPE_ENDPOINT, "xds.eds",
     "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints",
     "/envoy.service.endpoint.v3.EndpointDiscoveryService/DeltaEndpoints"},
    {XP_XDS_TYPE_SECRET, "xds.sds", "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets",
     "/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets"},
    {XP_XDS_TYPE_VIRTUAL_HOST, "xds.vhds", NULL,
     "/envoy.service.route.v3.VirtualHostDiscoveryService/DeltaVirtualHosts"},
    {XP_XDS_TYPE_SCOPED_ROUTE, "xds.srds",
     "/envoy.service.route.v3.ScopedRoutesDiscoveryService/StreamScopedRoutes",
     "/envoy.service.route.v3.ScopedRoutesDiscoveryService/DeltaScopedRoutes"},
    {XP_XDS_TYPE_RUNTIME, "runtime",
     "/envoy.service.runtime.v3.RuntimeDiscoveryService/StreamRuntime",
     "/envoy.service.runtime.v3.RuntimeDiscoveryService/DeltaRuntime"},
};

static const char xp__ads_sotw[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
static const char xp__ads_delta[] =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

xp_xds_client_t *xp_xds_client_new(uv_loop_t *loop, const xp_xds_client_config_t *cfg,
                                   const xp_xds_callbacks_t *cb, void *ctx, char **err)
{
    /* gRPC core is loaded for a gRPC source only; REST needs none of it. */
    if (cfg->transport == XP_XDS_TRANSPORT_GRPC && xp__grpc_load(err) != 0)
        return NULL;
    xp_codec_register(xp_proto_registry_api);
    xp_xds_client_t *c = xp_calloc(1, sizeof(*c));
    c->loop = loop;
    c->cb = *cb;
    c->ctx = ctx;
    c->transport = cfg->transport;
    if (c->transport == XP_XDS_TRANSPORT_REST) {
        c->n_hosts = cfg->n_hosts;
        c->hosts = xp_calloc(c->n_hosts + 1, sizeof(char *));
        for (size_t i = 0; i < c->n_hosts; i++)
            c->hosts[i] = xp_strdup(cfg->hosts[i]);
        c->authority = xp_strdup(cfg->authority ? cfg->authority : "");
        c->refresh_ms = cfg->refresh_delay_ms ? cfg->refresh_delay_ms : 1000;
        c->timeout_ms = cfg->request_timeout_ms ? cfg->request_timeout_ms : 1000;
        c->target = xp_asprintf("%s (REST)", c->authority);
    } else {
        c->target = xp_strdup(cfg->target);
    }
    c->ads = cfg->ads;
    c->delta = cfg->delta;
    c->node_first_only = cfg->set_node_on_first_message_only;
    c->node = cfg->node ? xp_proto_clone(cfg->node) : NULL;
    c->backoff_base_ms = cfg->backoff_base_ms ? cfg->backoff_base_ms : 500;
    c->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 30000;
    if (c->backoff_max_ms < c->backoff_base_ms)
        c->backoff_max_ms = c->backoff_base_ms;
    c->keepalive_ms = cfg->keepalive_ms;
    if (cfg->rate_limit_fill_rate > 0 && cfg->rate_limit_max_tokens > 0) {
        c->rl_fill_rate = cfg->rate_limit_fill_rate;
        c->rl_max_tokens = cfg->rate_limit_max_tokens;
    }
    c->stats = cfg->stats;
    size_t nraw = 0;
    while (cfg->raw_types && cfg->raw_types[nraw])
        nraw++;
    c->raw_types = xp_calloc(nraw + 1, sizeof(*c->raw_types));
    for (size_t i = 0; i < nraw; i++)
        c->raw_types[i] = xp_strdup(cfg->raw_types[i]);
    if (c->stats) {
        c->connected_stat = xp_stats_gauge(c->stats, "control_plane.connected_state");
        xp_stat_set(c->connected_stat, 0);
        c->rate_limit_enforced = xp_stats_counter(c->stats, "control_plane.rate_limit_enforced");
        c->pending_requests = xp_stats_gauge(c->stats, "control_plane.pending_requests");
    }
    c->types_tail = &c->types;
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 1;
    if (c->transport == XP_XDS_TRANSPORT_GRPC)
        xp__transport_init(c);
    return c;
}

uint64_t xp__client_random(xp_xds_client_t *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return c->rng;
}

bool xp_xds_client_connected(const xp_xds_client_t *c)
{
    return c->streams_up > 0;
}

xp__xds_type_t *xp__client_find_type(xp_xds_client_t *c, const char *url)
{
    for (xp__xds_type_t *t = c->types; t; t = t->next)
        if (strcmp(t->type_url, url) == 0)
            return t;
    return NULL;
}

static void type_stats_init(xp_xds_client_t *c, xp__xds_type_t *t, const char *prefix)
{
    if (c->stats == NULL)
        return;
    char *own = NULL;
    if (prefix == NULL) {
        const char *dot = strrchr(t->type_url, '.');
        own = xp_asprintf("xds.%s", dot ? dot + 1 : t->type_url);
        prefix = own;
    }
    t->st.attempt = xp_stats_counterf(c->stats, "%s.update_attempt", prefix);
    t->st.success = xp_stats_counterf(c->stats, "%s.update_success", prefix);
    t->st.rejected = xp_stats_counterf(c->stats, "%s.update_rejected", prefix);
    t->st.failure = xp_stats_counterf(c->stats, "%s.update_failure", prefix);
    t->st.version = xp_stats_gaugef(c->stats, "%s.version", prefix);
    free(own);
}

void xp__type_stats_update(xp__xds_type_t *t, int rc, const char *version)
{
    if (t->st.attempt == NULL)
        return;
    xp_stat_inc(t->st.attempt);
    if (rc != 0) {
        xp_stat_inc(t->st.rejected);
        return;
    }
    xp_stat_inc(t->st.success);
    /* Envoy's "version" gauge is the XXH64 of version_info; ours is a signed
     * gauge, so it keeps the low 63 bits. */
    xp_stat_set(t->st.version, (int64_t)(xp_xxh64(version, strlen(version), 0) & INT64_MAX));
}

static xp__xds_type_t *type_new(xp_xds_client_t *c, const char *url)
{
    const ProtobufCMessageDescriptor *desc = xp_codec_find_type(url);
    if (desc == NULL) {
        XP_ERROR("xds: cannot subscribe to %s: type not registered", url);
        return NULL;
    }
    const char *method = NULL, *prefix = NULL;
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__known_types); i++) {
        if (strcmp(xp__known_types[i].type_url, url) == 0) {
            prefix = xp__known_types[i].stat_prefix;
            method = c->delta ? xp__known_types[i].delta_method : xp__known_types[i].sotw_method;
        }
    }
    bool rest = c->transport == XP_XDS_TRANSPORT_REST;
    if (rest && xp__rest_path(url) == NULL) {
        XP_ERROR("xds: cannot subscribe to %s: no REST path known", url);
        return NULL;
    }
    if (!rest && !c->ads && method == NULL) {
        XP_ERROR("xds: cannot subscribe to %s: no per-type service known (use ADS)", url);
        return NULL;
    }
    xp__xds_type_t *t = xp_calloc(1, sizeof(*t));
    t->client = c;
    t->type_url = xp_strdup(url);
    t->desc = desc;
    t->ns_match = strcmp(url, XP_XDS_TYPE_VIRTUAL_HOST) == 0;
    for (char **r = c->raw_types; *r; r++)
        t->raw |= strcmp(*r, url) == 0;
    type_stats_init(c, t, prefix);
    if (rest) {
        t->poll = xp__rest_poll_new(t);
    } else if (c->ads) {
        if (c->ads_stream == NULL)
            c->ads_stream = xp__stream_new(c, NULL, c->delta ? xp__ads_delta : xp__ads_sotw);
        t->stream = c->ads_stream;
    } else {
        t->stream = xp__stream_new(c, t, method);
    }
    *c->types_tail = t;
    c->types_tail = &t->next;
    return t;
}

bool xp__type_wants(const xp__xds_type_t *t, const char *name, char *const *aliases, size_t n)
{
    if (t->wildcard || xp__names_has(&t->names, name))
        return true;
    for (size_t i = 0; i < n; i++)
        if (xp__names_has(&t->names, aliases[i]))
            return true;
    const char *slash = t->ns_match ? strrchr(name, '/') : NULL;
    if (slash == NULL)
        return false;
    char *ns = xp_strndup(name, (size_t)(slash - name));
    bool in = xp__names_has(&t->names, ns);
    free(ns);
    return in;
}

/* Whether some type on s has something to ask for (a stream is only
 * opened then). */
static bool stream_has_interest(xp_xds_client_t *c, xp__xds_stream_t *s)
{
    for (xp__xds_type_t *t = c->types; t; t = t->next)
        if (t->stream == s && (t->wildcard || t->names.n > 0))
            return true;
    return false;
}

int xp_xds_client_subscribe(xp_xds_client_t *c, const char *type_url, bool wildcard,
                            char *const *names, size_t n)
{
    xp__xds_type_t *t = xp__client_find_type(c, type_url);
    bool fresh = t == NULL;
    if (fresh && (t = type_new(c, type_url)) == NULL)
        return XP_ENOTSUP;
    xp__names_t want = {0};
    if (!wildcard)
        xp__names_set(&want, names, n);
    if (!fresh && t->wildcard == wildcard && xp__names_equal(&t->names, &want)) {
        xp__names_free(&want);
        return 0;
    }
    xp__names_free(&t->names);
    t->names = want;
    t->wildcard = wildcard;
    /* Delta: what we stop asking for is no longer ours to report on a
     * reconnect (initial_resource_versions). */
    if (!wildcard) {
        for (size_t i = 0; i < t->accepted.n;) {
            if (!xp__type_wants(t, t->accepted.name[i], NULL, 0))
                xp__versions_del(&t->accepted, t->accepted.name[i]);
            else
                i++;
        }
    }
    XP_DEBUG("xds: subscription %s: %s%zu names", type_url, wildcard ? "wildcard, " : "",
             t->names.n);
    if (t->poll) {
        xp__rest_subscription_changed(t);
        return 0;
    }
    if (t->in_update)
        return 0; /* the ACK/NACK that follows carries the change */
    xp__xds_stream_t *s = t->stream;
    if (s->state == XP__STREAM_IDLE) {
        if (stream_has_interest(c, s))
            xp__stream_start(s); /* sends the initial request of every type on s */
    } else if (s->state == XP__STREAM_OPEN) {
        if (c->delta)
            xp__delta_subscription_changed(t);
        else
            xp__sotw_subscription_changed(t);
    }
    return 0;
}

ProtobufCMessage *xp__client_node_for(xp__xds_stream_t *s)
{
    xp_xds_client_t *c = s->client;
    if (c->node == NULL || s->state != XP__STREAM_OPEN || (c->node_first_only && s->node_sent))
        return NULL;
    s->node_sent = true;
    return c->node;
}

/* ---- transport callbacks ---- */

void xp__client_on_stream_start(xp__xds_stream_t *s)
{
    xp_xds_client_t *c = s->client;
    for (xp__xds_type_t *t = c->types; t; t = t->next) {
        if (t->stream != s)
            continue;
        /* Nonces belong to a stream; the subscription is re-sent whole. */
        t->sent = false;
        free(t->nonce);
        t->nonce = NULL;
        xp__names_free(&t->sent_names);
        t->sent_wildcard = false;
        if (c->delta)
            xp__delta_send_initial(t);
        else
            xp__sotw_send_initial(t);
    }
}

void xp__client_set_up(xp_xds_client_t *c, bool *flag, bool up)
{
    if (*flag == up)
        return;
    *flag = up;
    c->streams_up += up ? 1 : -1;
    if ((up && c->streams_up == 1) || (!up && c->streams_up == 0)) {
        XP_INFO("xds: control plane %s %s", c->target, up ? "connected" : "disconnected");
        if (c->connected_stat)
            xp_stat_set(c->connected_stat, up ? 1 : 0);
        if (c->cb.on_connection)
            c->cb.on_connection(c->ctx, up);
    }
}

void xp__client_on_stream_up(xp__xds_stream_t *s)
{
    xp__client_set_up(s->client, &s->up, true);
}

void xp__client_on_message(xp__xds_stream_t *s, const uint8_t *data, size_t len)
{
    xp_xds_client_t *c = s->client;
    const ProtobufCMessageDescriptor *d =
        c->delta ? &envoy__service__discovery__v3__delta_discovery_response__descriptor
                 : &envoy__service__discovery__v3__discovery_response__descriptor;
    ProtobufCMessage *m = xp_pb_unpack(d, len, data);
    if (m == NULL) {
        XP_ERROR("xds: %s: undecodable %s (%zu bytes); restarting the stream", s->method, d->name,
                 len);
        xp__grpc.grpc_call_cancel(s->call, NULL);
        return;
    }
    if (c->delta)
        xp__delta_on_response(s, (Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *)m);
    else
        xp__sotw_on_response(s, (Envoy__Service__Discovery__V3__DiscoveryResponse *)m);
    protobuf_c_message_free_unpacked(m, NULL);
}

void xp__client_on_stream_failed(xp__xds_stream_t *s, grpc_status_code code, const char *details)
{
    xp_xds_client_t *c = s->client;
    (void)code;
    (void)details;
    for (xp__xds_type_t *t = c->types; t; t = t->next)
        if (t->stream == s && t->st.failure)
            xp_stat_inc(t->st.failure);
    xp__client_set_up(c, &s->up, false);
}

/* ---- decoding ---- */

/* The resource's name: its "name" field, or ClusterLoadAssignment's
 * "cluster_name". Borrowed from msg; NULL if it has neither. */
static const char *message_name(const ProtobufCMessage *msg)
{
    static const char *const fields[] = {"name", "cluster_name"};
    for (size_t i = 0; i < XP_ARRAY_SIZE(fields); i++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, fields[i]);
        if (f && f->type == PROTOBUF_C_TYPE_STRING && f->label != PROTOBUF_C_LABEL_REPEATED)
            return *(char *const *)((const char *)msg + f->offset);
    }
    return NULL;
}

/* The resource's bytes for on_update: borrowed from the response, which
 * outlives the call, or copied when they sit in a Resource wrapper that is
 * freed before it (wrapped). */
static void xp__keep_raw(xp_xds_resource_t *res, const Google__Protobuf__Any *any, bool wrapped)
{
    res->raw = any->value.data;
    res->raw_len = any->value.len;
    res->owned_ = NULL;
    if (wrapped) {
        uint8_t *raw = xp_malloc(any->value.len + 1);
        if (any->value.len)
            memcpy(raw, any->value.data, any->value.len);
        res->raw = raw;
        res->owned_ = raw;
    }
}

/* A raw type's resource: named (the hint, else its name field read from the
 * wire) but not decoded. */
static char *xp__name_raw(xp__xds_type_t *t, const Google__Protobuf__Any *any,
                          const char *name_hint, const char *version, bool wrapped,
                          xp__resources_t *out)
{
    char *name = NULL;
    if (name_hint && name_hint[0]) {
        name = xp_strdup(name_hint);
    } else {
        static const char *const fields[] = {"name", "cluster_name"};
        for (size_t i = 0; i < XP_ARRAY_SIZE(fields) && name == NULL; i++) {
            const ProtobufCFieldDescriptor *f =
                protobuf_c_message_descriptor_get_field_by_name(t->desc, fields[i]);
            const uint8_t *s;
            size_t slen;
            if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING ||
                f->label == PROTOBUF_C_LABEL_REPEATED)
                continue;
            int rc = xp_wire_string(any->value.data, any->value.len, f->id, &s, &slen);
            if (rc < 0)
                return xp_asprintf("cannot decode a %s", t->desc->name);
            if (rc > 0 && slen > 0 && memchr(s, '\0', slen) == NULL)
                name = xp_strndup((const char *)s, slen);
            break;
        }
    }
    if (name == NULL)
        return xp_asprintf("a %s has no name", t->desc->name);
    xp_xds_resource_t *res = &out->v[out->n++];
    res->name = name;
    res->version = xp_strdup(version ? version : "");
    res->msg = NULL;
    xp__keep_raw(res, any, wrapped);
    return NULL;
}

/* wrapped: any sits in a Resource that goes before on_update runs. */
static char *xp__decode(xp__xds_type_t *t, const Google__Protobuf__Any *any, const char *name_hint,
                        const char *version, bool wrapped, xp__resources_t *out);

char *xp__decode_resource(xp__xds_type_t *t, const Google__Protobuf__Any *any,
                          const char *name_hint, const char *version, xp__resources_t *out)
{
    return xp__decode(t, any, name_hint, version, false, out);
}

static char *xp__decode(xp__xds_type_t *t, const Google__Protobuf__Any *any, const char *name_hint,
                        const char *version, bool wrapped, xp__resources_t *out)
{
    const char *url = any->type_url ? any->type_url : "";
    if (strcmp(url, XP__RESOURCE_URL) == 0) {
        Envoy__Service__Discovery__V3__Resource *r =
            (Envoy__Service__Discovery__V3__Resource *)xp_pb_unpack(
                &envoy__service__discovery__v3__resource__descriptor, any->value.len,
                any->value.data);
        if (r == NULL)
            return xp_asprintf("cannot decode a %s", XP__RESOURCE_URL);
        char *err = NULL;
        if (r->resource == NULL)
            err = xp_asprintf("Resource %s has no resource", r->name);
        else
            err = xp__decode(t, r->resource, r->name[0] ? r->name : name_hint,
                             r->version[0] ? r->version : version, true, out);
        envoy__service__discovery__v3__resource__free_unpacked(r, NULL);
        return err;
    }
    if (strcmp(url, t->type_url) != 0)
        return xp_asprintf("resource type %s does not match the response type %s", url,
                           t->type_url);
    if (t->raw)
        return xp__name_raw(t, any, name_hint, version, wrapped, out);
    ProtobufCMessage *msg = xp_pb_unpack(t->desc, any->value.len, any->value.data);
    if (msg == NULL)
        return xp_asprintf("cannot decode a %s%s%s", t->desc->name, name_hint ? " named " : "",
                           name_hint ? name_hint : "");
    const char *name = name_hint && name_hint[0] ? name_hint : message_name(msg);
    if (name == NULL || name[0] == '\0') {
        protobuf_c_message_free_unpacked(msg, NULL);
        return xp_asprintf("a %s has no name", t->desc->name);
    }
    xp_diag_t diag;
    xp_diag_init(&diag);
    xp_codec_check_unknown_fields(msg, name, &diag);
    char *err = NULL;
    if (diag.nerrors) {
        err = xp_diag_join(&diag, XP_DIAG_ERROR);
    } else if (diag.n) {
        char *w = xp_diag_join(&diag, XP_DIAG_WARNING);
        XP_WARN("xds: %s %s: ignored: %s", t->desc->name, name, w);
        free(w);
    }
    xp_diag_free(&diag);
    if (err) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return err;
    }
    xp_xds_resource_t *res = &out->v[out->n++];
    res->name = xp_strdup(name);
    res->version = xp_strdup(version ? version : "");
    res->msg = msg;
    xp__keep_raw(res, any, wrapped);
    return NULL;
}

static int cmp_res_name(const void *a, const void *b)
{
    return strcmp((*(xp_xds_resource_t *const *)a)->name, (*(xp_xds_resource_t *const *)b)->name);
}

char *xp__check_duplicates(const xp__resources_t *r)
{
    if (r->n < 2)
        return NULL;
    /* Sorting pointers: O(n log n), so 10,000 endpoints stay cheap. */
    xp_xds_resource_t **p = xp_malloc(r->n * sizeof(*p));
    for (size_t i = 0; i < r->n; i++)
        p[i] = &r->v[i];
    qsort(p, r->n, sizeof(*p), cmp_res_name);
    char *err = NULL;
    for (size_t i = 1; i < r->n && err == NULL; i++)
        if (strcmp(p[i - 1]->name, p[i]->name) == 0)
            err = xp_asprintf("duplicate resource name %s", p[i]->name);
    free(p);
    return err;
}

void xp__resource_free(xp_xds_resource_t *r)
{
    free(r->name);
    free(r->version);
    free(r->owned_);
    if (r->msg)
        protobuf_c_message_free_unpacked(r->msg, NULL);
}

void xp__resources_free(xp__resources_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        xp__resource_free(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

int xp__call_update(xp__xds_type_t *t, const char *version, const xp__resources_t *r,
                    char *const *removed, size_t n_removed, bool delta, char **err)
{
    xp_xds_client_t *c = t->client;
    *err = NULL;
    t->in_update = true;
    int rc =
        c->cb.on_update(c->ctx, t->type_url, version, r->v, r->n, removed, n_removed, delta, err);
    t->in_update = false;
    if (rc != 0 && *err == NULL)
        *err = xp_strdup("rejected by the client");
    if (rc == 0 && *err != NULL) {
        free(*err);
        *err = NULL;
    }
    return rc;
}

void xp__nack_status(void *status, const char *msg)
{
    Google__Rpc__Status *st = status;
    google__rpc__status__init(st);
    st->code = 3; /* INVALID_ARGUMENT, as Envoy sends */
    st->message = (char *)msg;
}

/* ---- teardown ---- */

static void type_free(xp__xds_type_t *t)
{
    free(t->type_url);
    xp__names_free(&t->names);
    xp__names_free(&t->sent_names);
    xp__versions_free(&t->accepted);
    free(t->version);
    free(t->nonce);
    free(t->nack);
    free(t);
}

static void client_release(xp_xds_client_t *c)
{
    xp__xds_type_t *t = c->types;
    while (t) {
        xp__xds_type_t *next = t->next;
        if (t->stream != c->ads_stream)
            free(t->stream);
        xp__rest_poll_free(t->poll);
        type_free(t);
        t = next;
    }
    free(c->ads_stream);
    if (c->node)
        protobuf_c_message_free_unpacked(c->node, NULL);
    for (size_t i = 0; i < c->n_hosts; i++)
        free(c->hosts[i]);
    free(c->hosts);
    free(c->authority);
    for (char **r = c->raw_types; r && *r; r++)
        free(*r);
    free(c->raw_types);
    free(c->target);
    free(c);
}

void xp__client_handle_released(xp_xds_client_t *c)
{
    if (--c->open_handles == 0)
        client_release(c);
}

void xp__client_handle_closed(uv_handle_t *h)
{
    if (h->type == UV_ASYNC)
        xp__client_handle_released(h->data);
    else
        xp__client_handle_released(((xp__xds_stream_t *)h->data)->client);
}

void xp_xds_client_free(xp_xds_client_t *c)
{
    if (c == NULL)
        return;
    if (c->transport == XP_XDS_TRANSPORT_REST) {
        c->closing = true;
        if (c->types == NULL) { /* no handle was ever opened */
            client_release(c);
            return;
        }
        xp__rest_shutdown(c);
        return;
    }
    xp__transport_shutdown(c); /* closes the async handle */
    if (c->ads_stream)
        xp__stream_close(c->ads_stream);
    for (xp__xds_type_t *t = c->types; t; t = t->next)
        if (t->stream != c->ads_stream)
            xp__stream_close(t->stream);
}
