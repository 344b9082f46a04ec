/* The xDS client against the fake management server (fake_server.h) on
 * loopback: initial wildcard LDS/CDS, named RDS/EDS and subscription
 * changes, ACKs, NACKs with the previous version, pushes, duplicate names,
 * kill + restart of the server on the same port (backoff, on_connection,
 * subscriptions re-sent, Delta's initial_resource_versions), and a clean
 * free with a live stream.
 *
 * Usage: client_test sotw|delta ads|types */
#include "tests/xds_client/fake_server.h"
#include "tests/xds_client/test_util.h"
#include "xds/client/client.h"

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/core/v3/base.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"

#include <stdlib.h>
#include <string.h>

static bool delta, ads;
static fake_server_t *srv;

static void set_listener(const char *name, const char *stat_prefix)
{
    Envoy__Config__Listener__V3__Listener l = ENVOY__CONFIG__LISTENER__V3__LISTENER__INIT;
    l.name = (char *)name;
    l.stat_prefix = (char *)stat_prefix;
    fake_server_set(srv, XP_XDS_TYPE_LISTENER, name, &l.base);
}

static void set_cluster(const char *name, const char *alt)
{
    Envoy__Config__Cluster__V3__Cluster c = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
    c.name = (char *)name;
    c.alt_stat_name = (char *)alt;
    fake_server_set(srv, XP_XDS_TYPE_CLUSTER, name, &c.base);
}

static void set_route(const char *name)
{
    Envoy__Config__Route__V3__RouteConfiguration r =
        ENVOY__CONFIG__ROUTE__V3__ROUTE_CONFIGURATION__INIT;
    r.name = (char *)name;
    fake_server_set(srv, XP_XDS_TYPE_ROUTE, name, &r.base);
}

static void set_endpoints(const char *name)
{
    Envoy__Config__Endpoint__V3__ClusterLoadAssignment e =
        ENVOY__CONFIG__ENDPOINT__V3__CLUSTER_LOAD_ASSIGNMENT__INIT;
    e.cluster_name = (char *)name;
    fake_server_set(srv, XP_XDS_TYPE_ENDPOINT, name, &e.base);
}

/* The first request of type_url on a stream numbered above min_stream. */
static const fake_req_t *first_request(const char *type_url, int min_stream)
{
    size_t n = fake_server_requests(srv);
    for (size_t i = 0; i < n; i++) {
        const fake_req_t *r = fake_server_request(srv, i);
        if (r->stream > min_stream && strcmp(r->type_url, type_url) == 0)
            return r;
    }
    return NULL;
}

bool t_has_first_request(void *arg)
{
    t_first_wait_t *w = arg;
    return first_request(w->type_url, w->min_stream) != NULL;
}

typedef struct {
    const char *type_url;
    const char *version; /* NULL: any */
    bool nack;
} reply_wait_t;

/* The server saw an ACK (or NACK) of type_url with this version. */
static bool has_reply(void *arg)
{
    reply_wait_t *w = arg;
    const fake_req_t *r = fake_server_last_reply(srv, w->type_url);
    if (r == NULL || (r->error != NULL) != w->nack)
        return false;
    return delta || w->version == NULL || strcmp(r->version_info, w->version) == 0;
}

static void wait_reply(const char *type_url, const char *version, bool nack)
{
    reply_wait_t w = {type_url, version, nack};
    CHECK(t_run_until(has_reply, &w, 5000));
}

typedef struct {
    const char *type_url;
    size_t since;
    bool nack;
    const fake_req_t *found;
} new_reply_wait_t;

/* A reply (ACK or NACK as asked) of type_url logged at index >= since. */
static bool has_new_reply(void *arg)
{
    new_reply_wait_t *w = arg;
    size_t n = fake_server_requests(srv);
    for (size_t i = w->since; i < n; i++) {
        const fake_req_t *r = fake_server_request(srv, i);
        if (strcmp(r->type_url, w->type_url) == 0 && r->nonce[0] && (r->error != NULL) == w->nack) {
            w->found = r;
            return true;
        }
    }
    return false;
}

static void check_node(void)
{
    size_t n = fake_server_requests(srv);
    int streams_with_node = 0, last_stream = 0;
    for (size_t i = 0; i < n; i++) {
        const fake_req_t *r = fake_server_request(srv, i);
        if (ads) {
            /* set_node_on_first_message_only: only a stream's first request. */
            bool first = r->stream != last_stream;
            CHECK_EQ_INT(r->has_node, first);
        } else {
            CHECK(r->has_node);
        }
        if (r->stream != last_stream)
            streams_with_node += r->has_node;
        last_stream = r->stream;
    }
    CHECK(streams_with_node >= 1);
}

int main(int argc, char **argv)
{
    CHECK(argc == 3);
    delta = strcmp(argv[1], "delta") == 0;
    ads = strcmp(argv[2], "ads") == 0;
    int threads_before = t_thread_count();

    srv = fake_server_start(0);
    CHECK(srv != NULL);
    set_listener("l1", "a");
    set_listener("l2", "a");
    set_cluster("c1", "a");
    set_cluster("c2", "a");
    set_route("r1");
    set_route("r2");
    set_route("r3");
    set_endpoints("c1");
    set_endpoints("c2");

    uv_loop_t loop;
    uv_loop_init(&loop);
    t_loop = &loop;
    xp_stats_t *stats = xp_stats_new();
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.id = "test-node";
    node.cluster = "test-cluster";
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", fake_server_port(srv));
    xp_xds_client_config_t cfg = {
        .target = target,
        .ads = ads,
        .delta = delta,
        .node = &node.base,
        .set_node_on_first_message_only = ads,
        .backoff_base_ms = 50,
        .backoff_max_ms = 400,
        .keepalive_ms = 10000,
        .stats = stats,
    };
    xp_xds_client_t *c = t_client_new(&cfg, &t_rec);

    /* 1. initial: wildcard LDS/CDS, named RDS/EDS */
    char *r1[] = {"r1"}, *e1[] = {"c1"};
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_LISTENER, true, NULL, 0), 0);
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_CLUSTER, true, NULL, 0), 0);
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, r1, 1), 0);
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_ENDPOINT, false, e1, 1), 0);
    CHECK(xp_xds_client_subscribe(c, "type.googleapis.com/no.such.Type", true, NULL, 0) != 0);
    CHECK(t_run_until(t_all_types_updated, NULL, 5000));
    CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1,l2");
    CHECK_EQ_STR(t_rec.t[T_CDS].names, "c1,c2");
    CHECK_EQ_STR(t_rec.t[T_RDS].names, "r1");
    CHECK_EQ_STR(t_rec.t[T_EDS].names, "c1");
    CHECK_EQ_INT(t_rec.ups, 1);
    CHECK_EQ_INT(t_rec.downs, 0);
    CHECK_EQ_INT(t_stat(stats, "control_plane.connected_state"), 1);
    char *v = fake_server_version(srv, XP_XDS_TYPE_LISTENER);
    if (!delta)
        CHECK_EQ_STR(t_rec.t[T_LDS].version, v);
    free(v);
    const char *urls[] = {XP_XDS_TYPE_LISTENER, XP_XDS_TYPE_CLUSTER, XP_XDS_TYPE_ROUTE,
                          XP_XDS_TYPE_ENDPOINT};
    for (int i = 0; i < 4; i++) {
        char *sv = fake_server_version(srv, urls[i]);
        wait_reply(urls[i], sv, false);
        free(sv);
        const fake_req_t *f = first_request(urls[i], 0);
        CHECK(f != NULL);
        CHECK_EQ_STR(f->nonce, "");
        if (!delta)
            CHECK_EQ_STR(f->version_info, "");
    }
    if (delta) {
        CHECK_EQ_STR(first_request(XP_XDS_TYPE_LISTENER, 0)->subscribe, "*");
        CHECK_EQ_STR(first_request(XP_XDS_TYPE_ROUTE, 0)->subscribe, "r1");
    } else {
        CHECK_EQ_STR(first_request(XP_XDS_TYPE_LISTENER, 0)->names, "");
        CHECK_EQ_STR(first_request(XP_XDS_TYPE_ROUTE, 0)->names, "r1");
    }
    CHECK_EQ_INT(fake_server_streams(srv), ads ? 1 : 4);
    CHECK_EQ_INT(t_stat(stats, "listener_manager.lds.update_success"), 1);
    CHECK_EQ_INT(t_stat(stats, "cluster_manager.cds.update_success"), 1);
    CHECK(t_stat(stats, "listener_manager.lds.version") != 0);

    /* 2. RDS subscription change */
    char *r23[] = {"r3", "r2"};
    xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, r23, 2);
    CHECK(t_run_until(t_names_are, &(t_names_wait_t){T_RDS, "r2,r3"}, 5000));
    if (delta) {
        const fake_req_t *last = fake_server_last_reply(srv, XP_XDS_TYPE_ROUTE);
        CHECK(last != NULL);
        size_t n = fake_server_requests(srv);
        bool seen = false;
        for (size_t i = 0; i < n; i++) {
            const fake_req_t *r = fake_server_request(srv, i);
            if (strcmp(r->type_url, XP_XDS_TYPE_ROUTE) == 0 && strcmp(r->unsubscribe, "r1") == 0)
                seen = strcmp(r->subscribe, "r2,r3") == 0;
        }
        CHECK(seen);
    }
    /* resources outside the subscription are not passed on */
    int rds = t_rec.t[T_RDS].updates;
    fake_server_send_all(srv, XP_XDS_TYPE_ROUTE, true);
    set_route("r1");
    CHECK(t_run_until(t_updates_above, &(t_count_wait_t){T_RDS, rds}, 5000));
    CHECK_EQ_STR(t_rec.t[T_RDS].names, delta ? "" : "r2,r3");
    fake_server_send_all(srv, XP_XDS_TYPE_ROUTE, false);
    /* the same subscription again sends nothing (once the ACKs of the
     * responses above have all arrived: none for 100 ms) */
    size_t nreq;
    int settle = 0;
    do {
        nreq = fake_server_requests(srv);
        t_run_for(100);
    } while (fake_server_requests(srv) != nreq && ++settle < 50);
    CHECK(settle < 50);
    xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, r23, 2);
    t_run_for(100);
    CHECK_EQ_INT(fake_server_requests(srv), nreq);

    /* 3. a change on the server is pushed and ACKed */
    int lds_updates = t_rec.t[T_LDS].updates;
    fake_server_wrap(srv, XP_XDS_TYPE_LISTENER, true); /* SotW: Resource-wrapped */
    set_listener("l1", "b");
    CHECK(t_run_until(t_updates_above, &(t_count_wait_t){T_LDS, lds_updates}, 5000));
    char *v_ok = fake_server_version(srv, XP_XDS_TYPE_LISTENER);
    if (delta) {
        CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1");
        CHECK_EQ_STR(t_rec.t[T_LDS].res_versions, "l1-2");
    } else {
        CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1,l2");
        CHECK_EQ_STR(t_rec.t[T_LDS].version, v_ok);
        CHECK_EQ_STR(t_rec.t[T_LDS].res_versions, "l1-2,l2-1"); /* Resource.version */
    }
    fake_server_wrap(srv, XP_XDS_TYPE_LISTENER, false);
    wait_reply(XP_XDS_TYPE_LISTENER, v_ok, false);

    /* 4. NACK: previous version, error text, code 3 */
    t_rec.reject = T_LDS;
    set_listener("l2", "b");
    wait_reply(XP_XDS_TYPE_LISTENER, v_ok, true);
    const fake_req_t *nack = fake_server_last_reply(srv, XP_XDS_TYPE_LISTENER);
    CHECK_EQ_STR(nack->error, "bad listener l2");
    CHECK_EQ_INT(nack->error_code, 3);
    if (!delta)
        CHECK_EQ_STR(nack->version_info, v_ok);
    CHECK_EQ_INT(t_stat(stats, "listener_manager.lds.update_rejected"), 1);
    free(v_ok);
    t_rec.reject = -1;
    set_listener("l2", "c");
    v_ok = fake_server_version(srv, XP_XDS_TYPE_LISTENER);
    wait_reply(XP_XDS_TYPE_LISTENER, v_ok, false);
    free(v_ok);

    /* 5. duplicate names in one response: NACK without on_update (SotW) */
    if (!delta) {
        int cds = t_rec.t[T_CDS].updates;
        fake_server_dup_next(srv, XP_XDS_TYPE_CLUSTER);
        set_cluster("c2", "b");
        wait_reply(XP_XDS_TYPE_CLUSTER, NULL, true);
        CHECK(strstr(fake_server_last_reply(srv, XP_XDS_TYPE_CLUSTER)->error,
                     "duplicate resource name c1") != NULL);
        CHECK_EQ_INT(t_rec.t[T_CDS].updates, cds);
    } else {
        /* Delta removal */
        fake_server_remove(srv, XP_XDS_TYPE_CLUSTER, "c2");
        CHECK(t_run_until(t_removed_is, &(t_names_wait_t){T_CDS, "c2"}, 5000));
    }

    /* 5b. an unknown (behaviour-changing) field: NACK naming the resource */
    {
        int cds = t_rec.t[T_CDS].updates;
        Envoy__Config__Cluster__V3__Cluster bad = ENVOY__CONFIG__CLUSTER__V3__CLUSTER__INIT;
        uint8_t one = 1;
        ProtobufCMessageUnknownField uf = {
            .tag = 999, .wire_type = PROTOBUF_C_WIRE_TYPE_VARINT, .len = 1, .data = &one};
        bad.name = "c3";
        bad.base.n_unknown_fields = 1;
        bad.base.unknown_fields = &uf;
        new_reply_wait_t w = {XP_XDS_TYPE_CLUSTER, fake_server_requests(srv), true, NULL};
        fake_server_set(srv, XP_XDS_TYPE_CLUSTER, "c3", &bad.base);
        CHECK(t_run_until(has_new_reply, &w, 5000));
        const char *err = w.found->error;
        CHECK(strstr(err, "c3") != NULL && strstr(err, "999") != NULL);
        CHECK_EQ_INT(t_rec.t[T_CDS].updates, cds);
        w = (new_reply_wait_t){XP_XDS_TYPE_CLUSTER, fake_server_requests(srv), false, NULL};
        fake_server_remove(srv, XP_XDS_TYPE_CLUSTER, "c3");
        CHECK(t_run_until(has_new_reply, &w, 5000));
    }

    /* 6. the server goes away and comes back on the same port */
    check_node();
    int streams = fake_server_streams(srv);
    int updates = t_rec.total_updates;
    int sent_l1 = fake_server_sent_count(srv, XP_XDS_TYPE_LISTENER, "l1");
    int sent_r2 = fake_server_sent_count(srv, XP_XDS_TYPE_ROUTE, "r2");
    fake_server_kill(srv);
    CHECK(t_run_until(t_is_down, NULL, 5000));
    CHECK_EQ_INT(t_rec.downs, 1);
    CHECK_EQ_INT(t_stat(stats, "control_plane.connected_state"), 0);
    CHECK(t_stat(stats, "listener_manager.lds.update_failure") >= 1);
    t_run_for(600); /* a few failed attempts with backoff */
    CHECK_EQ_INT(t_rec.downs, 1);
    CHECK_EQ_INT(fake_server_restart(srv), 0);
    CHECK(t_run_until(t_is_up, NULL, 5000));
    CHECK_EQ_INT(t_rec.ups, 2);
    CHECK_EQ_INT(t_stat(stats, "control_plane.connected_state"), 1);
    for (int i = 0; i < 4; i++)
        CHECK(t_run_until(t_has_first_request, &(t_first_wait_t){urls[i], streams}, 5000));
    const fake_req_t *lf = first_request(XP_XDS_TYPE_LISTENER, streams);
    const fake_req_t *rf = first_request(XP_XDS_TYPE_ROUTE, streams);
    const fake_req_t *ef = first_request(XP_XDS_TYPE_ENDPOINT, streams);
    CHECK_EQ_STR(lf->nonce, "");
    if (delta) {
        CHECK_EQ_STR(lf->subscribe, "*");
        CHECK_EQ_STR(lf->initial, "l1=l1-2,l2=l2-3");
        CHECK_EQ_STR(rf->subscribe, "r2,r3");
        CHECK_EQ_STR(rf->initial, "r2=r2-1,r3=r3-1");
        CHECK_EQ_STR(ef->initial, "c1=c1-1");
        /* nothing changed: nothing resent, nothing reported */
        t_run_for(200);
        CHECK_EQ_INT(t_rec.total_updates, updates);
        CHECK_EQ_INT(fake_server_sent_count(srv, XP_XDS_TYPE_LISTENER, "l1"), sent_l1);
        CHECK_EQ_INT(fake_server_sent_count(srv, XP_XDS_TYPE_ROUTE, "r2"), sent_r2);
        /* a later change sends only what changed */
        set_route("r3");
        CHECK(t_run_until(t_names_are, &(t_names_wait_t){T_RDS, "r3"}, 5000));
        CHECK_EQ_INT(fake_server_sent_count(srv, XP_XDS_TYPE_ROUTE, "r2"), sent_r2);
    } else {
        CHECK_EQ_STR(lf->version_info, t_rec.t[T_LDS].version);
        CHECK_EQ_STR(rf->names, "r2,r3");
        CHECK_EQ_STR(rf->version_info, t_rec.t[T_RDS].version);
        CHECK_EQ_STR(ef->names, "c1");
        (void)sent_l1;
        (void)sent_r2;
        (void)updates;
    }
    check_node();

    /* 7. free with a live stream: no callback after, no handle left */
    int cb_before = t_rec.total_updates + t_rec.ups + t_rec.downs;
    xp_xds_client_free(c);
    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(t_rec.total_updates + t_rec.ups + t_rec.downs, cb_before);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    fake_server_free(srv);
    xp_stats_free(stats);
    t_rec_free();
    int threads_after = t_wait_threads(threads_before, 3000);
    CHECK_EQ_INT(threads_after, threads_before);
    printf("ok: %s over %s\n", argv[1], argv[2]);
    return 0;
}
