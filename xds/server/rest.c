/* REST-JSON xDS (Envoy's xds_protocol, "REST-JSON polling subscriptions"):
 * POST /v3/discovery:<type> with a JSON DiscoveryRequest, answered from the
 * same snapshot as the gRPC streams with a JSON DiscoveryResponse, or 304
 * when the poller already has what it would get.
 *
 * REST has no stream, so what a stream keeps per call is kept per (node id,
 * type URL) in a record (stream.h) and shown in /nodes as a per-type
 * "stream" of mode "rest":
 *  - the request's version_info is the version the client runs; without
 *    error_detail it ACKs that version, with error_detail it NACKs what we
 *    sent last (a client repeats the error_detail on every poll until it
 *    accepts something, so only a new NACK is logged);
 *  - 304 when the resources for the request's subscription are the ones
 *    last sent to that node (same names and versions) and the client runs
 *    the version sent with them, or NACKed them: sending them again would
 *    change nothing. A first poll (or the first after a restart of this
 *    server) always gets a 200.
 * The nonce is optional in REST; one is sent and recorded anyway. */
#include "xds/server/stream.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"
#include "xds/codec/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XP__REST_PREFIX "/v3/discovery:"

static uint64_t xp__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void xp__rec_free(xp__rest_rec_t *r)
{
    xp__sub_clear(&r->sub);
    free(r->node_id);
    free(r->node_cluster);
    free(r->peer);
    free(r);
}

/* Under mu: the record of (node, type), created when new; forgets records
 * of pollers that went quiet. */
static xp__rest_rec_t *xp__rec_for(xp_xds_server_t *srv, const Envoy__Config__Core__V3__Node *node,
                                   const char *type_url, const char *peer, uint64_t now)
{
    const char *id = node && node->id ? node->id : "";
    const char *cluster = node && node->cluster ? node->cluster : "";
    xp__rest_rec_t *found = NULL;
    for (xp__rest_rec_t **pp = &srv->rest_recs; *pp;) {
        xp__rest_rec_t *r = *pp;
        if (strcmp(r->node_id, id) == 0 && strcmp(r->sub.type_url, type_url) == 0) {
            found = r;
        } else if (now - r->last_poll_ms > XP__REST_FORGET_MS) {
            XP_INFO("xds-server: REST poller of %s for node \"%s\" silent for %d s: forgotten",
                    xp__rtype_short(r->sub.type_url), r->node_id, XP__REST_FORGET_MS / 1000);
            *pp = r->next;
            xp__rec_free(r);
            continue;
        }
        pp = &r->next;
    }
    if (!found) {
        found = xp_calloc(1, sizeof(*found));
        found->id = ++srv->stream_seq;
        found->node_id = xp_strdup(id);
        found->node_cluster = xp_strdup(cluster);
        found->sub.type_url = xp_strdup(type_url);
        found->next = srv->rest_recs;
        srv->rest_recs = found;
        XP_INFO("xds-server: REST poller %llu from %s: node \"%s\" (cluster \"%s\"), %s",
                (unsigned long long)found->id, peer, id, cluster, xp__rtype_short(type_url));
    }
    free(found->peer);
    found->peer = xp_strdup(peer);
    free(found->node_cluster);
    found->node_cluster = xp_strdup(cluster);
    found->last_poll_ms = now;
    return found;
}

static bool xp__is_nack(const Google__Rpc__Status *err)
{
    return err && (err->code != 0 || (err->message && err->message[0]));
}

/* Under mu: records the request's ACK or NACK. */
static void xp__rest_answer(xp__rest_rec_t *rec,
                            const Envoy__Service__Discovery__V3__DiscoveryRequest *req)
{
    xp__sub_t *sub = &rec->sub;
    const char *version = req->version_info ? req->version_info : "";
    if (!sub->sent_nonce[0])
        return; /* nothing sent to this poller yet (or before a restart) */
    if (xp__is_nack(req->error_detail)) {
        const char *msg = req->error_detail->message ? req->error_detail->message : "";
        /* The poller repeats its error_detail until it accepts something. */
        if (sub->nacked && strcmp(sub->nack_nonce, sub->sent_nonce) == 0 && sub->nack_msg &&
            strcmp(sub->nack_msg, msg) == 0)
            return;
        xp__sub_record_answer(rec->node_id, sub, version, req->error_detail);
    } else if (version[0] && strcmp(version, sub->acked_version) != 0) {
        xp__sub_record_answer(rec->node_id, sub, version, NULL);
    }
}

/* Answers one DiscoveryRequest for type t. */
static void xp__rest_discovery(xp_xds_server_t *srv, const xp__rtype_t *t,
                               const Envoy__Service__Discovery__V3__DiscoveryRequest *req,
                               const char *peer, xp__reply_t *r)
{
    uint64_t now = xp__mono_ms();
    pthread_mutex_lock(&srv->mu);
    xp__rest_rec_t *rec = xp__rec_for(srv, req->node, t->type_url, peer, now);
    xp__sub_t *sub = &rec->sub;
    xp__rest_answer(rec, req);
    xp__sotw_subscribe(sub, req->resource_names, req->n_resource_names);
    sub->started = true;
    const xp__snap_t *snap = srv->snap;
    Google__Protobuf__Any **anys;
    size_t n;
    uint64_t digest = xp__sotw_collect(snap, sub, &anys, &n);
    const char *version = req->version_info ? req->version_info : "";
    if (sub->sent_nonce[0] && digest == sub->sent_digest &&
        (strcmp(version, sub->sent_version) == 0 || xp__is_nack(req->error_detail))) {
        pthread_mutex_unlock(&srv->mu);
        free(anys);
        r->status = 304;
        XP_TRACE("xds-server: REST %s for node \"%s\": not modified (version %s)", t->short_name,
                 rec->node_id, version);
        return;
    }
    Envoy__Service__Discovery__V3__DiscoveryResponse resp;
    const char *nonce = xp__sotw_response(srv, sub, anys, n, digest, &resp);
    char *json = xp_codec_to_json(&resp.base, false);
    free(anys);
    XP_DEBUG("xds-server: REST poller %llu (node \"%s\"): sent %s version %s nonce %s "
             "(%zu resources)",
             (unsigned long long)rec->id, rec->node_id, t->short_name, snap->version_str, nonce, n);
    pthread_mutex_unlock(&srv->mu);
    r->status = 200;
    r->ctype = "application/json";
    xp_strbuf_printf(&r->body, "%s", json);
    free(json);
}

void xp__rest_route(xp_xds_server_t *srv, const char *method, char *target, const char *body,
                    size_t len, const char *peer, xp__reply_t *r)
{
    char *q = strchr(target, '?');
    if (q)
        *q = '\0';
    const xp__rtype_t *t = NULL;
    if (strncmp(target, XP__REST_PREFIX, strlen(XP__REST_PREFIX)) == 0)
        t = xp__rtype_by_rest(target + strlen(XP__REST_PREFIX));
    if (!t) {
        xp__reply(r, 404,
                  "not found; POST " XP__REST_PREFIX
                  "<listeners|routes|clusters|endpoints|runtime|secrets|scoped-routes>");
        return;
    }
    if (strcmp(method, "POST") != 0) {
        xp__reply(r, 405, "use POST with a JSON DiscoveryRequest");
        return;
    }
    xp_diag_t diag;
    xp_diag_init(&diag);
    Envoy__Service__Discovery__V3__DiscoveryRequest *req =
        (Envoy__Service__Discovery__V3__DiscoveryRequest *)xp_codec_parse(
            body, len, &envoy__service__discovery__v3__discovery_request__descriptor, "", &diag);
    if (!req) {
        char *msg = xp_diag_join(&diag, XP_DIAG_ERROR);
        xp__reply(r, 400, "error: the body is not a JSON DiscoveryRequest: %s", msg);
        XP_WARN("xds-server: REST %s from %s: bad DiscoveryRequest: %s", target, peer, msg);
        free(msg);
    } else if (req->type_url && req->type_url[0] && strcmp(req->type_url, t->type_url) != 0) {
        xp__reply(r, 400, "error: type_url: %s does not match %s (%s)", req->type_url, target,
                  t->type_url);
    } else {
        xp__rest_discovery(srv, t, req, peer, r);
    }
    if (req)
        protobuf_c_message_free_unpacked(&req->base, NULL);
    xp_diag_free(&diag);
}

void xp__rest_forget_all(xp_xds_server_t *srv)
{
    while (srv->rest_recs) {
        xp__rest_rec_t *r = srv->rest_recs;
        srv->rest_recs = r->next;
        xp__rec_free(r);
    }
}
