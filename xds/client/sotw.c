/* State-of-the-World xDS (xds_protocol.rst, "ACK/NACK and resource type
 * instance version", "When to send an update"):
 *  - the first request for a type on a stream carries no nonce, and the
 *    version_info of the last accepted response (empty on the very first
 *    stream), so a reconnecting client does not get what it already has;
 *  - every response is answered: ACK = its version_info and nonce; NACK =
 *    the previously accepted version_info, its nonce and error_detail;
 *  - a subscription change is a new request with the current version_info
 *    and the latest nonce;
 *  - for a non-wildcard type an empty resource_names would read as a
 *    (legacy) wildcard in the first request, so no request is sent until
 *    there is a name to ask for. */
#include "xds/client/client_internal.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include "google/rpc/status.pb-c.h"

#include <stdlib.h>
#include <string.h>

void xp__sotw_request_fill(const xp__xds_type_t *t, ProtobufCMessage *node, const char *nack,
                           Envoy__Service__Discovery__V3__DiscoveryRequest *req, void *status)
{
    envoy__service__discovery__v3__discovery_request__init(req);
    req->version_info = t->version ? t->version : "";
    req->node = (Envoy__Config__Core__V3__Node *)node;
    if (!t->wildcard) {
        req->n_resource_names = t->names.n;
        req->resource_names = t->names.v;
    }
    req->type_url = t->type_url;
    req->response_nonce = t->nonce ? t->nonce : "";
    if (nack) {
        xp__nack_status(status, nack);
        req->error_detail = status;
    }
}

static void sotw_send(xp__xds_type_t *t, const char *nack)
{
    xp__xds_stream_t *s = t->stream;
    Envoy__Service__Discovery__V3__DiscoveryRequest req;
    Google__Rpc__Status st;
    xp__sotw_request_fill(t, xp__client_node_for(s), nack, &req, &st);
    XP_DEBUG("xds: -> %s version=%s nonce=%s names=%zu%s%s", t->type_url, req.version_info,
             req.response_nonce, t->names.n, nack ? " NACK: " : "", nack ? nack : "");
    xp__stream_send(s, &req.base);
    t->sent = true;
}

void xp__sotw_send_initial(xp__xds_type_t *t)
{
    if (!t->wildcard && t->names.n == 0)
        return;
    sotw_send(t, NULL);
}

void xp__sotw_subscription_changed(xp__xds_type_t *t)
{
    if (!t->sent && !t->wildcard && t->names.n == 0)
        return;
    sotw_send(t, NULL);
}

int xp__sotw_apply(xp__xds_type_t *t, const Envoy__Service__Discovery__V3__DiscoveryResponse *r,
                   char **err)
{
    free(t->nonce);
    t->nonce = xp_strdup(r->nonce ? r->nonce : "");
    const char *version = r->version_info ? r->version_info : "";

    xp__resources_t res = {xp_calloc(r->n_resources + 1, sizeof(xp_xds_resource_t)), 0};
    *err = NULL;
    for (size_t i = 0; i < r->n_resources && *err == NULL; i++)
        *err = xp__decode_resource(t, r->resources[i], NULL, version, &res);
    if (*err == NULL)
        *err = xp__check_duplicates(&res);
    int rc = -1;
    if (*err == NULL) {
        if (!t->wildcard) {
            /* Resources outside a named subscription are not ours. */
            size_t w = 0;
            for (size_t i = 0; i < res.n; i++) {
                if (xp__names_has(&t->names, res.v[i].name)) {
                    res.v[w++] = res.v[i];
                } else {
                    XP_DEBUG("xds: %s: ignoring unsubscribed %s", t->type_url, res.v[i].name);
                    xp__resource_free(&res.v[i]);
                }
            }
            res.n = w;
        }
        rc = xp__call_update(t, version, &res, NULL, 0, false, err);
    }
    xp__type_stats_update(t, rc, version);
    if (rc == 0) {
        free(t->version);
        t->version = xp_strdup(version);
    } else {
        XP_WARN("xds: rejecting %s version %s: %s", t->type_url, version, *err);
    }
    xp__resources_free(&res);
    return rc;
}

void xp__sotw_on_response(xp__xds_stream_t *s, Envoy__Service__Discovery__V3__DiscoveryResponse *r)
{
    xp_xds_client_t *c = s->client;
    xp__xds_type_t *t = xp__client_find_type(c, r->type_url);
    if (t == NULL || t->stream != s) {
        /* Envoy does the same: no subscriber, nothing to ACK for. */
        XP_WARN("xds: ignoring a response for %s: not subscribed on %s", r->type_url, s->method);
        return;
    }
    char *err = NULL;
    xp__sotw_apply(t, r, &err);
    sotw_send(t, err);
    free(err);
}
