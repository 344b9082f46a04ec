/* Incremental (Delta) xDS (xds_protocol.rst, "Incremental xDS"):
 *  - subscriptions are differences: resource_names_subscribe and
 *    resource_names_unsubscribe against what this stream already asked for;
 *    a wildcard type subscribes "*";
 *  - the first request for a type on a stream carries the whole
 *    subscription and initial_resource_versions (the versions of the
 *    resources accepted so far), so the server sends only what changed;
 *  - responses carry changed resources (each with its own version) and
 *    removed names; every response is ACKed (response_nonce) or NACKed
 *    (response_nonce + error_detail). */
#include "xds/client/client_internal.h"

#include "proxy/common/log.h"
#include "proxy/common/mem.h"

#include "google/rpc/status.pb-c.h"

#include <stdlib.h>
#include <string.h>

typedef Envoy__Service__Discovery__V3__DeltaDiscoveryRequest__InitialResourceVersionsEntry
    xp__irv_t;

static bool delta_has_diff(const xp__xds_type_t *t)
{
    return t->wildcard != t->sent_wildcard || !xp__names_equal(&t->names, &t->sent_names);
}

static void delta_send(xp__xds_type_t *t, const char *nonce, const char *nack)
{
    xp__xds_stream_t *s = t->stream;
    Envoy__Service__Discovery__V3__DeltaDiscoveryRequest req =
        ENVOY__SERVICE__DISCOVERY__V3__DELTA_DISCOVERY_REQUEST__INIT;
    Google__Rpc__Status st;
    static char star[] = "*";
    size_t cap = t->names.n + t->sent_names.n + 1;
    char **sub = xp_malloc(cap * sizeof(char *)), **unsub = xp_malloc(cap * sizeof(char *));
    size_t nsub = 0, nunsub = 0;
    if (t->wildcard && !t->sent_wildcard)
        sub[nsub++] = star;
    if (!t->wildcard && t->sent_wildcard)
        unsub[nunsub++] = star;
    for (size_t i = 0; i < t->names.n; i++)
        if (!xp__names_has(&t->sent_names, t->names.v[i]))
            sub[nsub++] = t->names.v[i];
    for (size_t i = 0; i < t->sent_names.n; i++)
        if (!xp__names_has(&t->names, t->sent_names.v[i]))
            unsub[nunsub++] = t->sent_names.v[i];

    xp__irv_t *irv = NULL, **irvp = NULL;
    if (!t->sent && t->accepted.n) {
        irv = xp_malloc(t->accepted.n * sizeof(*irv));
        irvp = xp_malloc(t->accepted.n * sizeof(*irvp));
        for (size_t i = 0; i < t->accepted.n; i++) {
            envoy__service__discovery__v3__delta_discovery_request__initial_resource_versions_entry__init(
                &irv[i]);
            irv[i].key = t->accepted.name[i];
            irv[i].value = t->accepted.version[i];
            irvp[i] = &irv[i];
        }
        req.n_initial_resource_versions = t->accepted.n;
        req.initial_resource_versions = irvp;
    }
    req.node = (Envoy__Config__Core__V3__Node *)xp__client_node_for(s);
    req.type_url = t->type_url;
    req.n_resource_names_subscribe = nsub;
    req.resource_names_subscribe = sub;
    req.n_resource_names_unsubscribe = nunsub;
    req.resource_names_unsubscribe = unsub;
    req.response_nonce = nonce ? (char *)nonce : "";
    if (nack) {
        xp__nack_status(&st, nack);
        req.error_detail = &st;
    }
    XP_DEBUG("xds: -> delta %s nonce=%s +%zu -%zu initial=%zu%s%s", t->type_url, req.response_nonce,
             nsub, nunsub, req.n_initial_resource_versions, nack ? " NACK: " : "",
             nack ? nack : "");
    xp__stream_send(s, &req.base);
    free(irv);
    free(irvp);
    free(sub);
    free(unsub);
    /* The server now knows the current subscription. */
    xp__names_copy(&t->sent_names, &t->names);
    t->sent_wildcard = t->wildcard;
    t->sent = true;
}

void xp__delta_send_initial(xp__xds_type_t *t)
{
    if (!t->wildcard && t->names.n == 0)
        return;
    delta_send(t, NULL, NULL);
}

void xp__delta_subscription_changed(xp__xds_type_t *t)
{
    if (!delta_has_diff(t))
        return;
    delta_send(t, NULL, NULL);
}

static bool wanted(const xp__xds_type_t *t, const char *name)
{
    return xp__type_wants(t, name, NULL, 0);
}

void xp__delta_on_response(xp__xds_stream_t *s,
                           Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r)
{
    xp_xds_client_t *c = s->client;
    xp__xds_type_t *t = xp__client_find_type(c, r->type_url);
    if (t == NULL || t->stream != s) {
        XP_WARN("xds: ignoring a delta response for %s: not subscribed on %s", r->type_url,
                s->method);
        return;
    }
    xp__resources_t res = {xp_calloc(r->n_resources + 1, sizeof(xp_xds_resource_t)), 0};
    size_t nrm_cap = r->n_resources + r->n_removed_resources + r->n_removed_resource_names + 1;
    for (size_t i = 0; i < r->n_resources; i++)
        nrm_cap += r->resources[i]->n_aliases;
    char **removed = xp_malloc(nrm_cap * sizeof(char *));
    size_t nrm = 0;
    char *err = NULL;
    for (size_t i = 0; i < r->n_resources && err == NULL; i++) {
        Envoy__Service__Discovery__V3__Resource *rr = r->resources[i];
        const char *name = rr->name[0]         ? rr->name
                           : rr->resource_name ? rr->resource_name->name
                                               : "";
        if (name[0] && !xp__type_wants(t, name, rr->aliases, rr->n_aliases)) {
            XP_DEBUG("xds: %s: ignoring unsubscribed %s", t->type_url, name);
            continue;
        }
        if (rr->resource == NULL) {
            /* A Resource without a body: the server says it does not exist
             * (VHDS names the alias it could not resolve). */
            if (name[0])
                removed[nrm++] = (char *)name;
            for (size_t k = 0; k < rr->n_aliases; k++)
                if (strcmp(rr->aliases[k], name) != 0)
                    removed[nrm++] = rr->aliases[k];
            continue;
        }
        err = xp__decode_resource(t, rr->resource, name[0] ? name : NULL, rr->version, &res);
        if (err == NULL) {
            res.v[res.n - 1].aliases = rr->aliases;
            res.v[res.n - 1].n_aliases = rr->n_aliases;
        }
        if (err == NULL && !xp__type_wants(t, res.v[res.n - 1].name, rr->aliases, rr->n_aliases)) {
            res.n--;
            xp__resource_free(&res.v[res.n]);
        }
    }
    if (err == NULL)
        err = xp__check_duplicates(&res);
    for (size_t i = 0; i < r->n_removed_resources; i++)
        if (wanted(t, r->removed_resources[i]) ||
            xp__versions_get(&t->accepted, r->removed_resources[i]))
            removed[nrm++] = r->removed_resources[i];
    for (size_t i = 0; i < r->n_removed_resource_names; i++) {
        const char *n = r->removed_resource_names[i]->name;
        if (wanted(t, n) || xp__versions_get(&t->accepted, n))
            removed[nrm++] = (char *)n;
    }
    int rc = -1;
    if (err == NULL)
        rc = xp__call_update(t, r->system_version_info, &res, removed, nrm, true, &err);
    xp__type_stats_update(t, rc, r->system_version_info);
    if (rc == 0) {
        /* (the callee may have unsubscribed some of them meanwhile) */
        for (size_t i = 0; i < res.n; i++)
            if (xp__type_wants(t, res.v[i].name, res.v[i].aliases, res.v[i].n_aliases))
                xp__versions_put(&t->accepted, res.v[i].name, res.v[i].version);
        for (size_t i = 0; i < nrm; i++)
            xp__versions_del(&t->accepted, removed[i]);
        delta_send(t, r->nonce, NULL);
    } else {
        XP_WARN("xds: rejecting delta %s (nonce %s): %s", t->type_url, r->nonce, err);
        delta_send(t, r->nonce, err);
    }
    free(err);
    free(removed);
    xp__resources_free(&res);
}
