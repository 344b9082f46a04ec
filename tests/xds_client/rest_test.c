/* The xDS client's REST-JSON transport against a scriptable HTTP/1.1 server
 * on loopback (on the test's own libuv loop): what each poll sends (path,
 * Host, version_info, node, names, nonce, error_detail of a NACK), 200
 * (Content-Length and chunked), 304, another status, a server that never
 * answers (request_timeout), a dead host skipped for the next one, named
 * subscriptions polled only once they have names, and a clean free with a
 * poll in flight.
 *
 * Usage: rest_test */
#include "tests/xds_client/test_util.h"
#include "xds/client/client.h"

#include "proxy/common/mem.h"
#include "proxy/common/strbuf.h"

#include "envoy/config/core/v3/base.pb-c.h"

#include <string.h>

/* ---- the scripted server ---- */

typedef enum {
    ANSWER_JSON,    /* 200, Content-Length */
    ANSWER_CHUNKED, /* 200, chunked */
    ANSWER_304,
    ANSWER_500,
    ANSWER_SILENT, /* reads the request, never answers */
} answer_t;

typedef struct {
    char *path, *head, *body; /* of each request, in arrival order */
} req_t;

static struct {
    uv_tcp_t listener;
    int port;
    answer_t answer;
    char *json; /* the body of JSON answers */
    req_t reqs[512];
    size_t nreqs;
    int open_conns;
} S;

typedef struct {
    uv_tcp_t tcp;
    xp_strbuf_t in;
    bool answered;
    uv_write_t w;
    char *out;
} conn_t;

static void conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    free(xp_strbuf_take(&c->in));
    free(c->out);
    free(c);
    S.open_conns--;
}

static void conn_written(uv_write_t *w, int status)
{
    (void)status;
    conn_t *c = w->data;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t n, uv_buf_t *b)
{
    (void)h;
    b->base = xp_malloc(n);
    b->len = n;
}

/* A whole request is in: record it and answer as scripted. */
static void conn_request(conn_t *c, const char *hend)
{
    req_t *r = &S.reqs[S.nreqs++];
    CHECK(S.nreqs < XP_ARRAY_SIZE(S.reqs));
    r->head = xp_strndup(c->in.p, (size_t)(hend - c->in.p));
    r->body = xp_strdup(hend + 4);
    const char *sp = strchr(c->in.p, ' ');
    r->path = xp_strndup(sp + 1, (size_t)(strchr(sp + 1, ' ') - sp - 1));
    c->answered = true;
    switch (S.answer) {
    case ANSWER_JSON:
        c->out = xp_asprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             strlen(S.json), S.json);
        break;
    case ANSWER_CHUNKED: {
        /* in two chunks, split in the middle */
        size_t n = strlen(S.json), h = n / 2;
        c->out = xp_asprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
                             h, (int)h, S.json, n - h, S.json + h);
        break;
    }
    case ANSWER_304:
        c->out = xp_strdup("HTTP/1.1 304 Not Modified\r\n\r\n");
        break;
    case ANSWER_500:
        c->out = xp_strdup("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops");
        break;
    case ANSWER_SILENT:
        return;
    }
    uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
    c->w.data = c;
    CHECK(uv_write(&c->w, (uv_stream_t *)&c->tcp, &b, 1, conn_written) == 0);
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn_t *c = s->data;
    if (n > 0)
        xp_strbuf_printf(&c->in, "%.*s", (int)n, b->base);
    free(b->base);
    if (n < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, conn_closed);
        return;
    }
    const char *hend = c->in.p ? strstr(c->in.p, "\r\n\r\n") : NULL;
    if (c->answered || hend == NULL)
        return;
    const char *cl = strstr(c->in.p, "Content-Length: ");
    CHECK(cl != NULL && cl < hend);
    size_t want = (size_t)(hend + 4 - c->in.p) + strtoull(cl + 16, NULL, 10);
    if (c->in.len >= want)
        conn_request(c, hend);
}

static void on_conn(uv_stream_t *l, int status)
{
    CHECK(status == 0);
    conn_t *c = xp_calloc(1, sizeof(*c));
    xp_strbuf_init(&c->in);
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    S.open_conns++;
    CHECK(uv_accept(l, (uv_stream_t *)&c->tcp) == 0);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read);
}

static int listen_on(uv_loop_t *loop, uv_tcp_t *t)
{
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, t);
    CHECK(uv_tcp_bind(t, (const struct sockaddr *)&a, 0) == 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(t, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void set_listeners(const char *version, const char *names)
{
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "{\"version_info\":\"%s\",\"resources\":[", version);
    char *copy = xp_strdup(names), *save = NULL;
    bool first = true;
    for (char *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
        xp_strbuf_printf(&b,
                         "%s{\"@type\":\"type.googleapis.com/envoy.config.listener.v3.Listener\","
                         "\"name\":\"%s\",\"stat_prefix\":\"%s\"}",
                         first ? "" : ",", n, version);
        first = false;
    }
    free(copy);
    xp_strbuf_printf(&b, "],\"type_url\":\"%s\",\"nonce\":\"nonce-%s\"}", XP_XDS_TYPE_LISTENER,
                     version);
    free(S.json);
    S.json = xp_strbuf_take(&b);
}

/* ---- waiting ---- */

static size_t count_path(const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < S.nreqs; i++)
        n += strcmp(S.reqs[i].path, path) == 0;
    return n;
}

static const req_t *last_req(const char *path)
{
    for (size_t i = S.nreqs; i-- > 0;)
        if (strcmp(S.reqs[i].path, path) == 0)
            return &S.reqs[i];
    return NULL;
}

typedef struct {
    const char *path;
    size_t above;
} req_wait_t;

static bool reqs_above(void *arg)
{
    req_wait_t *w = arg;
    return count_path(w->path) > w->above;
}

/* Waits for n more polls of path; returns the last. */
static const req_t *wait_polls(const char *path, size_t n)
{
    req_wait_t w = {path, count_path(path) + n - 1};
    CHECK(t_run_until(reqs_above, &w, 5000));
    return last_req(path);
}

typedef struct {
    xp_stats_t *stats;
    const char *name;
    long long above;
} stat_wait_t;

static bool stat_above(void *arg)
{
    stat_wait_t *w = arg;
    return t_stat(w->stats, w->name) > w->above;
}

static void check_has(const char *text, const char *what)
{
    if (strstr(text, what) == NULL) {
        fprintf(stderr, "'%s' not in: %s\n", what, text);
        exit(1);
    }
}

static void check_lacks(const char *text, const char *what)
{
    if (strstr(text, what) != NULL) {
        fprintf(stderr, "'%s' unexpectedly in: %s\n", what, text);
        exit(1);
    }
}

#define LDS "/v3/discovery:listeners"
#define RDS "/v3/discovery:routes"

int main(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    t_loop = &loop;
    S.port = listen_on(&loop, &S.listener);
    CHECK(uv_listen((uv_stream_t *)&S.listener, 16, on_conn) == 0);
    /* A port nothing listens on: bound, never listening, so connects are
     * refused and nobody else can take it meanwhile. */
    uv_tcp_t dead;
    int dead_port = listen_on(&loop, &dead);

    xp_stats_t *stats = xp_stats_new();
    Envoy__Config__Core__V3__Node node = ENVOY__CONFIG__CORE__V3__NODE__INIT;
    node.id = "rest-node";
    node.cluster = "rest-cluster";
    char h0[64], h1[64];
    snprintf(h0, sizeof(h0), "127.0.0.1:%d", dead_port);
    snprintf(h1, sizeof(h1), "localhost:%d", S.port); /* a name: resolved */
    const char *hosts[] = {h0, h1};
    xp_xds_client_config_t cfg = {
        .transport = XP_XDS_TRANSPORT_REST,
        .node = &node.base,
        .stats = stats,
        .hosts = hosts,
        .n_hosts = 2,
        .authority = "xds_rest_cluster",
        .refresh_delay_ms = 30,
        .request_timeout_ms = 300,
    };
    set_listeners("v1", "l1,l2");
    S.answer = ANSWER_JSON;
    char *err = NULL;
    xp_xds_client_t *c = xp_xds_client_new(&loop, &cfg, &t_callbacks, &t_rec, &err);
    CHECK(c != NULL);

    /* 1. the first host refuses: counted as a failure, the next host is
     *    tried and the first response is delivered */
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_LISTENER, true, NULL, 0), 0);
    CHECK(t_run_until(t_updates_above, &(t_count_wait_t){T_LDS, 0}, 5000));
    CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1,l2");
    CHECK_EQ_STR(t_rec.t[T_LDS].version, "v1");
    CHECK_EQ_INT(t_stat(stats, "listener_manager.lds.update_failure"), 1);
    CHECK_EQ_INT(t_stat(stats, "listener_manager.lds.update_success"), 1);
    CHECK(t_rec.connected);
    CHECK_EQ_INT(t_stat(stats, "control_plane.connected_state"), 1);
    const req_t *r = last_req(LDS);
    CHECK(r != NULL);
    check_has(r->head, "POST /v3/discovery:listeners HTTP/1.1\r\n");
    check_has(r->head, "\r\nHost: xds_rest_cluster\r\n");
    check_has(r->head, "\r\nContent-Type: application/json\r\n");
    check_has(r->body, "\"id\":\"rest-node\"");
    check_has(r->body, "\"cluster\":\"rest-cluster\"");
    check_has(r->body, "\"type_url\":\"" XP_XDS_TYPE_LISTENER "\"");
    check_lacks(r->body, "version_info"); /* nothing accepted yet */
    check_lacks(r->body, "resource_names");

    /* 2. the next polls carry the accepted version and nonce; 304 changes
     *    nothing */
    S.answer = ANSWER_304;
    r = wait_polls(LDS, 3);
    check_has(r->body, "\"version_info\":\"v1\"");
    check_has(r->body, "\"response_nonce\":\"nonce-v1\"");
    check_lacks(r->body, "error_detail");
    CHECK_EQ_INT(t_rec.t[T_LDS].updates, 1);
    CHECK_EQ_INT(t_stat(stats, "listener_manager.lds.update_attempt"), 1);
    CHECK(t_rec.connected);

    /* 3. a rejected response: the error rides on every next poll, with the
     *    old version, until something is accepted */
    t_rec.reject = T_LDS;
    set_listeners("v2", "l1,l3");
    S.answer = ANSWER_JSON;
    CHECK(t_run_until(stat_above, &(stat_wait_t){stats, "listener_manager.lds.update_rejected", 0},
                      5000));
    S.answer = ANSWER_304;
    r = wait_polls(LDS, 2);
    check_has(r->body, "\"version_info\":\"v1\"");
    check_has(r->body, "\"response_nonce\":\"nonce-v2\"");
    check_has(r->body, "\"error_detail\":{\"code\":3,\"message\":\"bad listener l3\"}");
    r = wait_polls(LDS, 1);
    check_has(r->body, "\"error_detail\":{\"code\":3,\"message\":\"bad listener l3\"}");
    CHECK_EQ_STR(t_rec.t[T_LDS].version, "v1");
    t_rec.reject = -1;
    set_listeners("v3", "l1,l3");
    S.answer = ANSWER_CHUNKED; /* and framed with chunks */
    CHECK(t_run_until(t_names_are, &(t_names_wait_t){T_LDS, "l1,l3"}, 5000));
    CHECK_EQ_STR(t_rec.t[T_LDS].version, "v3");
    S.answer = ANSWER_304;
    r = wait_polls(LDS, 2);
    check_has(r->body, "\"version_info\":\"v3\"");
    check_lacks(r->body, "error_detail");

    /* 4. a JSON body that is not a DiscoveryResponse is NACKed with the
     *    field named */
    free(S.json);
    S.json = xp_strdup("{\"version_info\":\"v4\",\"bogus_field\":1}");
    S.answer = ANSWER_JSON;
    long long rej = t_stat(stats, "listener_manager.lds.update_rejected");
    CHECK(t_run_until(stat_above,
                      &(stat_wait_t){stats, "listener_manager.lds.update_rejected", rej}, 5000));
    S.answer = ANSWER_304;
    r = wait_polls(LDS, 2);
    check_has(r->body, "bogus_field");
    check_has(r->body, "\"version_info\":\"v3\"");
    CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1,l3");

    /* 5. another status: a failure; the last config stays; the client
     *    reports the connection down, then up again */
    long long fail = t_stat(stats, "listener_manager.lds.update_failure");
    int updates = t_rec.total_updates;
    S.answer = ANSWER_500;
    CHECK(t_run_until(t_is_down, NULL, 5000));
    CHECK(t_stat(stats, "listener_manager.lds.update_failure") > fail);
    CHECK_EQ_INT(t_stat(stats, "control_plane.connected_state"), 0);
    CHECK_EQ_INT(t_rec.total_updates, updates);
    S.answer = ANSWER_304;
    CHECK(t_run_until(t_is_up, NULL, 5000));

    /* 6. a server that never answers: request_timeout fails the poll */
    fail = t_stat(stats, "listener_manager.lds.update_failure");
    S.answer = ANSWER_SILENT;
    CHECK(t_run_until(stat_above,
                      &(stat_wait_t){stats, "listener_manager.lds.update_failure", fail}, 5000));
    CHECK(t_run_until(t_is_down, NULL, 5000));
    CHECK_EQ_STR(t_rec.t[T_LDS].names, "l1,l3");
    S.answer = ANSWER_304;
    CHECK(t_run_until(t_is_up, NULL, 5000));

    /* 7. a named type polls only once it has names, then asks for them */
    size_t rds0 = count_path(RDS);
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, NULL, 0), 0);
    t_run_for(150);
    CHECK_EQ_INT(count_path(RDS), rds0);
    char *names[] = {"r2", "r1"};
    CHECK_EQ_INT(xp_xds_client_subscribe(c, XP_XDS_TYPE_ROUTE, false, names, 2), 0);
    r = wait_polls(RDS, 1);
    check_has(r->body, "\"resource_names\":[\"r1\",\"r2\"]");
    check_has(r->body, "\"type_url\":\"" XP_XDS_TYPE_ROUTE "\"");

    /* 8. free with a poll in flight: no callback after, no handle left */
    S.answer = ANSWER_SILENT;
    wait_polls(LDS, 1);
    int cb_before = t_rec.total_updates + t_rec.ups + t_rec.downs;
    xp_xds_client_free(c);
    uv_close((uv_handle_t *)&S.listener, NULL);
    uv_close((uv_handle_t *)&dead, NULL);
    CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
    CHECK_EQ_INT(t_rec.total_updates + t_rec.ups + t_rec.downs, cb_before);
    CHECK_EQ_INT(S.open_conns, 0);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    for (size_t i = 0; i < S.nreqs; i++) {
        free(S.reqs[i].path);
        free(S.reqs[i].head);
        free(S.reqs[i].body);
    }
    free(S.json);
    xp_stats_free(stats);
    t_rec_free();
    printf("ok: REST transport (%zu requests)\n", S.nreqs);
    return 0;
}
