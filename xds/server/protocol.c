/* The xDS protocol as the management server speaks it (Envoy's
 * "xDS REST and gRPC protocol" document, api-docs/xds_protocol):
 *
 * State of the World: per type URL, the first request is answered with the
 * current resources (wildcard for LDS/CDS/SRDS when resource_names is empty
 * or holds "*"; otherwise the named ones); every response carries the
 * snapshot version and a fresh nonce. A request whose response_nonce is the
 * latest one sent is an ACK (no error_detail) or a NACK (error_detail; its
 * version_info is the version the client still runs); a request with an
 * older nonce is stale and ignored ("the management server should not send
 * a DiscoveryResponse for any DiscoveryRequest that has a stale nonce").
 * A change of resource_names re-subscribes.
 *
 * Delta: resource_names_subscribe / _unsubscribe change the subscription;
 * initial_resource_versions (first request of a type only) says what the
 * client already has, so those are not resent; each resource carries its
 * own version (a hash of its bytes); resources the client has that are
 * gone are listed in removed_resources. ACK/NACK by nonce + error_detail. */
#include "xds/server/stream.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "proxy/common/xxhash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sets ---- */

static size_t xp__set_lower(const xp__set_t *s, const char *name, bool *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

xp__kv_t *xp__set_get(const xp__set_t *s, const char *name)
{
    bool found;
    size_t i = xp__set_lower(s, name, &found);
    return found ? &s->v[i] : NULL;
}

void xp__set_put(xp__set_t *s, const char *name, const char *version)
{
    bool found;
    size_t i = xp__set_lower(s, name, &found);
    if (found) {
        free(s->v[i].version);
        s->v[i].version = version ? xp_strdup(version) : NULL;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xp_realloc(s->v, s->cap * sizeof(*s->v));
    }
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = (xp__kv_t){xp_strdup(name), version ? xp_strdup(version) : NULL};
    s->n++;
}

void xp__set_del_at(xp__set_t *s, size_t i)
{
    free(s->v[i].name);
    free(s->v[i].version);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

void xp__set_del(xp__set_t *s, const char *name)
{
    bool found;
    size_t i = xp__set_lower(s, name, &found);
    if (found)
        xp__set_del_at(s, i);
}

static void xp__set_clear(xp__set_t *s)
{
    while (s->n)
        xp__set_del_at(s, s->n - 1);
    free(s->v);
    *s = (xp__set_t){0};
}

void xp__sub_clear(xp__sub_t *sub)
{
    free(sub->type_url);
    free(sub->nack_msg);
    xp__set_clear(&sub->names);
    xp__set_clear(&sub->have);
    xp__set_clear(&sub->answered);
}

/* ---- common request handling ---- */

static void xp__copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

const char *xp__next_nonce(xp_xds_server_t *srv, char *buf, size_t cap)
{
    snprintf(buf, cap, "%llu", (unsigned long long)++srv->nonce_seq);
    return buf;
}

/* Node, type URL and subscription for a request; NULL if the stream was
 * finished because the request is unusable. */
static xp__sub_t *xp__sub_for(xp__xstream_t *xs, const Envoy__Config__Core__V3__Node *node,
                              const char *type_url)
{
    if (!xs->node_id && node) {
        xs->node_id = xp_strdup(node->id ? node->id : "");
        xs->node_cluster = xp_strdup(node->cluster ? node->cluster : "");
        XP_INFO("xds-server: stream %llu: node \"%s\" (cluster \"%s\")", (unsigned long long)xs->id,
                xs->node_id, xs->node_cluster);
    }
    if (!type_url || !type_url[0])
        type_url = xs->method->type_url;
    if (!type_url) {
        xp__xs_finish(xs, GRPC_STATUS_INVALID_ARGUMENT, "type_url is required on an ADS stream");
        return NULL;
    }
    for (size_t i = 0; i < xs->nsubs; i++)
        if (strcmp(xs->subs[i].type_url, type_url) == 0)
            return &xs->subs[i];
    xs->subs = xp_realloc(xs->subs, (xs->nsubs + 1) * sizeof(*xs->subs));
    xp__sub_t *sub = &xs->subs[xs->nsubs++];
    *sub = (xp__sub_t){0};
    sub->type_url = xp_strdup(type_url);
    return sub;
}

static bool xp__type_is_wildcard(const char *type_url)
{
    const xp__rtype_t *t = xp__rtype_by_url(type_url);
    return t && t->wildcard;
}

void xp__sub_record_answer(const char *node_id, xp__sub_t *sub, const char *version,
                           const Google__Rpc__Status *err)
{
    if (err && (err->code != 0 || (err->message && err->message[0]))) {
        sub->nacked = true;
        xp__copy(sub->nack_version, sizeof(sub->nack_version), version);
        xp__copy(sub->nack_nonce, sizeof(sub->nack_nonce), sub->sent_nonce);
        free(sub->nack_msg);
        sub->nack_msg = xp_strdup(err->message ? err->message : "");
        XP_WARN("xds-server: node \"%s\" NACKed %s version %s (nonce %s): %s",
                node_id ? node_id : "", xp__rtype_short(sub->type_url), sub->sent_version,
                sub->sent_nonce, sub->nack_msg);
    } else {
        xp__copy(sub->acked_version, sizeof(sub->acked_version), version);
        XP_DEBUG("xds-server: node \"%s\" ACKed %s version %s", node_id ? node_id : "",
                 xp__rtype_short(sub->type_url), version);
    }
}

/* ---- State of the World ---- */

void xp__on_sotw_request(xp__xstream_t *xs,
                         const Envoy__Service__Discovery__V3__DiscoveryRequest *req)
{
    xp__sub_t *sub = xp__sub_for(xs, req->node, req->type_url);
    if (!sub)
        return;
    const char *nonce = req->response_nonce ? req->response_nonce : "";
    if (nonce[0]) {
        if (strcmp(nonce, sub->sent_nonce) != 0) {
            XP_DEBUG("xds-server: stream %llu: stale nonce %s for %s (latest %s); ignored",
                     (unsigned long long)xs->id, nonce, sub->type_url, sub->sent_nonce);
            return;
        }
        xp__sub_record_answer(xs->node_id, sub, req->version_info, req->error_detail);
    }
    bool changed = xp__sotw_subscribe(sub, req->resource_names, req->n_resource_names);
    if (!sub->started || changed || !nonce[0]) {
        sub->started = true;
        sub->need_send = sub->force_send = true;
    } /* else a plain ACK/NACK */
}

bool xp__sotw_subscribe(xp__sub_t *sub, char *const *names_in, size_t n)
{
    bool wildcard = n == 0 && xp__type_is_wildcard(sub->type_url);
    xp__set_t names = {0};
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names_in[i], "*") == 0)
            wildcard = true;
        else
            xp__set_put(&names, names_in[i], NULL);
    }
    bool same = wildcard == sub->wildcard && names.n == sub->names.n;
    for (size_t i = 0; same && i < names.n; i++)
        same = strcmp(names.v[i].name, sub->names.v[i].name) == 0;
    xp__set_clear(&sub->names);
    sub->names = names;
    sub->wildcard = wildcard;
    return !same;
}

const char *xp__sotw_response(xp_xds_server_t *srv, xp__sub_t *sub, Google__Protobuf__Any **anys,
                              size_t n, uint64_t digest,
                              Envoy__Service__Discovery__V3__DiscoveryResponse *resp)
{
    envoy__service__discovery__v3__discovery_response__init(resp);
    resp->version_info = (char *)srv->snap->version_str;
    resp->resources = anys;
    resp->n_resources = n;
    resp->type_url = sub->type_url;
    xp__copy(sub->sent_version, sizeof(sub->sent_version), srv->snap->version_str);
    resp->nonce = (char *)xp__next_nonce(srv, sub->sent_nonce, sizeof(sub->sent_nonce));
    sub->sent_digest = digest;
    return resp->nonce;
}

uint64_t xp__sotw_collect(const xp__snap_t *snap, const xp__sub_t *sub,
                          Google__Protobuf__Any ***out, size_t *nout)
{
    size_t cap = sub->wildcard ? snap->n : sub->names.n;
    Google__Protobuf__Any **anys = xp_calloc(cap + 1, sizeof(*anys));
    size_t n = 0;
    uint64_t digest = 0;
    if (sub->wildcard) {
        for (size_t i = xp__snap_type_begin(snap, sub->type_url);
             i < snap->n && strcmp(snap->v[i]->type_url, sub->type_url) == 0; i++) {
            anys[n++] = snap->v[i]->any;
            digest = xp_xxh64(snap->v[i]->version, 16,
                              digest ^ xp_xxh64(snap->v[i]->name, strlen(snap->v[i]->name), 0));
        }
    } else {
        for (size_t i = 0; i < sub->names.n; i++) {
            xp__res_t *r = xp__snap_find(snap, sub->type_url, sub->names.v[i].name);
            if (!r)
                continue;
            anys[n++] = r->any;
            digest = xp_xxh64(r->version, 16, digest ^ xp_xxh64(r->name, strlen(r->name), 0));
        }
    }
    *out = anys;
    *nout = n;
    return digest ^ n;
}

static void xp__sotw_send(xp__xstream_t *xs, xp__sub_t *sub)
{
    const xp__snap_t *snap = xs->srv->snap;
    Google__Protobuf__Any **anys;
    size_t n;
    uint64_t digest = xp__sotw_collect(snap, sub, &anys, &n);
    if (!sub->force_send && sub->sent_nonce[0] && digest == sub->sent_digest) {
        free(anys);
        return;
    }
    Envoy__Service__Discovery__V3__DiscoveryResponse resp;
    const char *nonce = xp__sotw_response(xs->srv, sub, anys, n, digest, &resp);
    xp__xs_send(xs, &resp.base);
    free(anys);
    XP_DEBUG("xds-server: stream %llu: sent %s version %s nonce %s (%zu resources)",
             (unsigned long long)xs->id, xp__rtype_short(sub->type_url), snap->version_str, nonce,
             n);
}

/* ---- Delta ---- */

void xp__on_delta_request(xp__xstream_t *xs,
                          const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest *req)
{
    xp__sub_t *sub = xp__sub_for(xs, req->node, req->type_url);
    if (!sub)
        return;
    const char *nonce = req->response_nonce ? req->response_nonce : "";
    if (nonce[0]) {
        const Google__Rpc__Status *err = req->error_detail;
        bool nack = err && (err->code != 0 || (err->message && err->message[0]));
        /* Delta requests carry no version: a NACKed client still runs what
         * it last ACKed, an ACK accepts what we sent with that nonce. */
        if (strcmp(nonce, sub->sent_nonce) == 0)
            xp__sub_record_answer(xs->node_id, sub, nack ? sub->acked_version : sub->sent_version,
                                  err);
        else /* the ACK part is stale; subscription changes still count */
            XP_DEBUG("xds-server: stream %llu: stale nonce %s for %s", (unsigned long long)xs->id,
                     nonce, sub->type_url);
    }
    bool first = !sub->started;
    if (first) {
        sub->started = true;
        sub->wildcard = req->n_resource_names_subscribe == 0 && xp__type_is_wildcard(sub->type_url);
        for (size_t i = 0; i < req->n_initial_resource_versions; i++) {
            const Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
                *e = req->initial_resource_versions[i];
            if (e->key)
                xp__set_put(&sub->have, e->key, e->value ? e->value : "");
        }
        sub->need_send = sub->force_send = true;
    }
    for (size_t i = 0; i < req->n_resource_names_subscribe; i++) {
        const char *name = req->resource_names_subscribe[i];
        if (strcmp(name, "*") == 0)
            sub->wildcard = true;
        else
            xp__set_put(&sub->names, name, NULL);
        /* VHDS: an on-demand name asked again is answered again. */
        xp__set_del(&sub->answered, name);
        sub->need_send = true;
    }
    for (size_t i = 0; i < req->n_resource_names_unsubscribe; i++) {
        const char *name = req->resource_names_unsubscribe[i];
        if (strcmp(name, "*") == 0) {
            sub->wildcard = false;
            /* The client drops what it had only through the wildcard. */
            for (size_t j = sub->have.n; j-- > 0;)
                if (!xp__set_get(&sub->names, sub->have.v[j].name))
                    xp__set_del_at(&sub->have, j);
        } else {
            xp__set_del(&sub->names, name);
            xp__set_del(&sub->answered, name);
            if (!sub->wildcard)
                xp__set_del(&sub->have, name);
        }
    }
}

char **xp__delta_removed(const xp__snap_t *snap, xp__sub_t *sub, size_t *n)
{
    char **removed = xp_calloc(sub->have.n + 1, sizeof(*removed));
    *n = 0;
    for (size_t j = sub->have.n; j-- > 0;) {
        if (xp__snap_find(snap, sub->type_url, sub->have.v[j].name))
            continue;
        removed[(*n)++] = xp_strdup(sub->have.v[j].name);
        xp__set_del_at(&sub->have, j);
    }
    return removed;
}

static void xp__delta_send(xp__xstream_t *xs, xp__sub_t *sub)
{
    const xp__snap_t *snap = xs->srv->snap;
    size_t cap = (sub->wildcard ? snap->n : sub->names.n) + 1;
    Envoy__Service__Discovery__V3__Resource *rv = xp_calloc(cap, sizeof(*rv));
    Envoy__Service__Discovery__V3__Resource **rp = xp_calloc(cap, sizeof(*rp));
    size_t n = 0;
#define XP__ADD(r)                                                                                 \
    do {                                                                                           \
        xp__kv_t *h = xp__set_get(&sub->have, (r)->name);                                          \
        if (h && h->version && strcmp(h->version, (r)->version) == 0)                              \
            break;                                                                                 \
        envoy__service__discovery__v3__resource__init(&rv[n]);                                     \
        rv[n].name = (r)->name;                                                                    \
        rv[n].version = (r)->version;                                                              \
        rv[n].resource = (r)->any;                                                                 \
        rp[n] = &rv[n];                                                                            \
        n++;                                                                                       \
        xp__set_put(&sub->have, (r)->name, (r)->version);                                          \
    } while (0)
    if (sub->wildcard) {
        for (size_t i = xp__snap_type_begin(snap, sub->type_url);
             i < snap->n && strcmp(snap->v[i]->type_url, sub->type_url) == 0; i++)
            XP__ADD(snap->v[i]);
    }
    for (size_t i = 0; i < sub->names.n; i++) {
        xp__res_t *r = xp__snap_find(snap, sub->type_url, sub->names.v[i].name);
        if (r)
            XP__ADD(r);
    }
#undef XP__ADD
    size_t nremoved = 0;
    char **removed = xp__delta_removed(snap, sub, &nremoved);
    if (n || nremoved || sub->force_send) {
        Envoy__Service__Discovery__V3__DeltaDiscoveryResponse resp =
            ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_RESPONSE__INIT;
        char nonce[24];
        resp.system_version_info = (char *)snap->version_str;
        resp.resources = rp;
        resp.n_resources = n;
        resp.removed_resources = removed;
        resp.n_removed_resources = nremoved;
        resp.type_url = sub->type_url;
        resp.nonce = (char *)xp__next_nonce(xs->srv, nonce, sizeof(nonce));
        xp__xs_send(xs, &resp.base);
        xp__copy(sub->sent_version, sizeof(sub->sent_version), snap->version_str);
        xp__copy(sub->sent_nonce, sizeof(sub->sent_nonce), nonce);
        XP_DEBUG("xds-server: stream %llu: sent delta %s nonce %s (%zu resources, %zu removed)",
                 (unsigned long long)xs->id, xp__rtype_short(sub->type_url), nonce, n, nremoved);
    }
    for (size_t i = 0; i < nremoved; i++)
        free(removed[i]);
    free(removed);
    free(rp);
    free(rv);
}

void xp__sub_send(xp__xstream_t *xs, xp__sub_t *sub)
{
    if (xs->method->delta && strcmp(sub->type_url, XP__VHOST_URL) == 0)
        xp__vhds_send(xs, sub);
    else if (xs->method->delta)
        xp__delta_send(xs, sub);
    else
        xp__sotw_send(xs, sub);
    sub->need_send = sub->force_send = false;
}

/* ---- /nodes ---- */

static void xp__json_str(xp_strbuf_t *b, const char *s)
{
    xp_strbuf_printf(b, "\"");
    xp_strbuf_json_escape(b, s ? s : "");
    xp_strbuf_printf(b, "\"");
}

static void xp__sub_json(xp_strbuf_t *b, const xp__sub_t *sub)
{
    xp_strbuf_printf(b, "{\"type\":");
    xp__json_str(b, xp__rtype_short(sub->type_url));
    xp_strbuf_printf(b, ",\"type_url\":");
    xp__json_str(b, sub->type_url);
    xp_strbuf_printf(b, ",\"wildcard\":%s,\"subscribed\":[", sub->wildcard ? "true" : "false");
    for (size_t i = 0; i < sub->names.n; i++) {
        if (i)
            xp_strbuf_printf(b, ",");
        xp__json_str(b, sub->names.v[i].name);
    }
    xp_strbuf_printf(b, "],\"sent_version\":");
    xp__json_str(b, sub->sent_version);
    xp_strbuf_printf(b, ",\"sent_nonce\":");
    xp__json_str(b, sub->sent_nonce);
    xp_strbuf_printf(b, ",\"acked_version\":");
    xp__json_str(b, sub->acked_version);
    xp_strbuf_printf(b, ",\"last_nack\":");
    if (sub->nacked) {
        xp_strbuf_printf(b, "{\"version\":");
        xp__json_str(b, sub->nack_version);
        xp_strbuf_printf(b, ",\"nonce\":");
        xp__json_str(b, sub->nack_nonce);
        xp_strbuf_printf(b, ",\"error_detail\":");
        xp__json_str(b, sub->nack_msg);
        xp_strbuf_printf(b, "}");
    } else {
        xp_strbuf_printf(b, "null");
    }
    xp_strbuf_printf(b, "}");
}

static const char *xp__xs_node(const xp__xstream_t *xs)
{
    return xs->node_id ? xs->node_id : "";
}

static bool xp__xs_listed(const xp__xstream_t *xs)
{
    return xs->method && xs->state != XP__XS_CLOSED;
}

/* Whether node id appears before stream `xs_end` or REST record `rec_end`
 * (NULL: the end of that list), so each node is printed once. */
static bool xp__node_seen(xp_xds_server_t *srv, const char *id, const xp__xstream_t *xs_end,
                          const xp__rest_rec_t *rec_end)
{
    for (const xp__xstream_t *p = srv->streams; p && p != xs_end; p = p->next)
        if (xp__xs_listed(p) && strcmp(xp__xs_node(p), id) == 0)
            return true;
    if (xs_end)
        return false;
    for (const xp__rest_rec_t *r = srv->rest_recs; r && r != rec_end; r = r->next)
        if (strcmp(r->node_id, id) == 0)
            return true;
    return false;
}

static void xp__node_json(xp_xds_server_t *srv, xp_strbuf_t *b, const char *id, const char *cluster,
                          bool first)
{
    xp_strbuf_printf(b, "%s{\"id\":", first ? "" : ",");
    xp__json_str(b, id);
    xp_strbuf_printf(b, ",\"cluster\":");
    xp__json_str(b, cluster);
    xp_strbuf_printf(b, ",\"streams\":[");
    bool first_stream = true;
    for (xp__xstream_t *s = srv->streams; s; s = s->next) {
        if (!xp__xs_listed(s) || strcmp(xp__xs_node(s), id) != 0)
            continue;
        xp_strbuf_printf(
            b, "%s{\"id\":%llu,\"kind\":\"%s\",\"mode\":\"%s\",\"peer\":", first_stream ? "" : ",",
            (unsigned long long)s->id, s->method->kind, s->method->delta ? "delta" : "sotw");
        first_stream = false;
        xp__json_str(b, s->peer);
        xp_strbuf_printf(b, ",\"types\":[");
        for (size_t i = 0; i < s->nsubs; i++) {
            if (i)
                xp_strbuf_printf(b, ",");
            xp__sub_json(b, &s->subs[i]);
        }
        xp_strbuf_printf(b, "]}");
    }
    /* REST pollers look like per-type streams of mode "rest". */
    for (xp__rest_rec_t *r = srv->rest_recs; r; r = r->next) {
        if (strcmp(r->node_id, id) != 0)
            continue;
        xp_strbuf_printf(b, "%s{\"id\":%llu,\"kind\":\"%s\",\"mode\":\"rest\",\"peer\":",
                         first_stream ? "" : ",", (unsigned long long)r->id,
                         xp__kind_of_type(r->sub.type_url));
        first_stream = false;
        xp__json_str(b, r->peer);
        xp_strbuf_printf(b, ",\"types\":[");
        xp__sub_json(b, &r->sub);
        xp_strbuf_printf(b, "]}");
    }
    xp_strbuf_printf(b, "]}");
}

/* O(n^2) in streams and REST pollers to group by node without a map: fine
 * for an admin call. */
void xp__nodes_json(xp_xds_server_t *srv, xp_strbuf_t *b)
{
    pthread_mutex_lock(&srv->mu);
    xp_strbuf_printf(b, "{\"version\":");
    xp__json_str(b, srv->snap ? srv->snap->version_str : "");
    xp_strbuf_printf(b, ",\"nodes\":[");
    bool first = true;
    for (xp__xstream_t *xs = srv->streams; xs; xs = xs->next) {
        if (!xp__xs_listed(xs) || xp__node_seen(srv, xp__xs_node(xs), xs, NULL))
            continue;
        xp__node_json(srv, b, xp__xs_node(xs), xs->node_cluster, first);
        first = false;
    }
    for (xp__rest_rec_t *r = srv->rest_recs; r; r = r->next) {
        if (xp__node_seen(srv, r->node_id, NULL, r))
            continue;
        xp__node_json(srv, b, r->node_id, r->node_cluster, first);
        first = false;
    }
    xp_strbuf_printf(b, "]}\n");
    pthread_mutex_unlock(&srv->mu);
}
