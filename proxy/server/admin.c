#include "proxy/server/admin.h"
#include "proxy/common/log.h"
#include "proxy/http1/http1.h"
#include "proxy/common/mem.h"
#include "proxy/common/str.h"
#include "proxy/common/strbuf.h"

#include <fcntl.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define XP_ADMIN_MAX_HEAD 16384

typedef struct xp_admin_conn xp_admin_conn_t;

struct xp_admin {
    xp_server_t *server;
    uv_tcp_t listener;
    int port;
    int log_fd;             /* -1 when no access log */
    xp_admin_conn_t *conns; /* open connections, for stop */
    bool stopping;
    bool listener_closed;
};

struct xp_admin_conn {
    uv_tcp_t tcp;
    xp_admin_t *admin;
    xp_admin_conn_t *prev, *next;
    char buf[XP_ADMIN_MAX_HEAD];
    size_t len;
    bool responded;
    bool quit_after_write;
    uv_write_t wreq;
    char *out;
};

typedef struct {
    int status;
    const char *content_type;
    char *body; /* owned */
    bool quit;  /* shut the server down once written */
} xp_admin_resp_t;

typedef void (*xp_admin_handler)(xp_admin_t *a, const char *query, xp_admin_resp_t *r);

/* One query component, percent-decoded into a new string. */
static char *xp__unescape(const char *p, size_t n)
{
    char *out = xp_malloc(n + 1);
    out[xp_str_pct_decode(xp_str(p, n), out)] = '\0';
    return out;
}

/* The value of query parameter key in a query string "a=1&b=2",
 * percent-decoded, into out (truncated to outlen); false if absent. */
static bool xp__query_param(const char *query, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key);
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        if (seg >= klen && strncmp(p, key, klen) == 0 && (seg == klen || p[klen] == '=')) {
            const char *v = seg == klen ? p + klen : p + klen + 1;
            char *dec = xp__unescape(v, seg - (size_t)(v - p));
            snprintf(out, outlen, "%s", dec);
            free(dec);
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

static void xp__h_ready(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    (void)query;
    xp_server_state_t st = a->server->state;
    r->status = st == XP_SERVER_LIVE ? 200 : 503;
    r->body = xp_asprintf("%s\n", xp_server_state_to_str(st));
}

static uint64_t xp__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void xp__h_server_info(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    (void)query;
    xp_server_t *s = a->server;
    char *node =
        s->hooks && s->hooks->node_json ? s->hooks->node_json(s->hooks_ctx) : xp_strdup("{}");
    uint64_t up = (xp__now_ms() - s->start_time_ms) / 1000;
    /* The command line as Envoy reports it (command_line_options), from the
     * parsed options. */
    r->content_type = "application/json";
    r->body = xp_asprintf("{\n \"version\": \"xproxy/%s\",\n \"state\": \"%s\",\n"
                          " \"hot_restart_version\": \"disabled\",\n"
                          " \"command_line_options\": {\n  \"concurrency\": %d,\n"
                          "  \"mode\": \"%s\",\n  \"log_level\": \"%s\",\n"
                          "  \"drain_time\": \"%ds\",\n  \"parent_shutdown_time\": \"%ds\"\n },\n"
                          " \"node\": %s,\n \"uptime_current_epoch\": \"%llus\",\n"
                          " \"uptime_all_epochs\": \"%llus\"\n}\n",
                          XP_VERSION, xp_server_state_to_str(s->state), s->opts.concurrency,
                          s->opts.mode == XP_MODE_SERVE ? "Serve" : "Validate",
                          xp_log_level_to_str(s->opts.log_level), s->opts.drain_time_s,
                          s->opts.parent_shutdown_time_s, node, (unsigned long long)up,
                          (unsigned long long)up);
    free(node);
}

/* Envoy's ?filter=: a regular expression searched for in each stat name. */
typedef struct {
    pcre2_code *re;
    pcre2_match_data *md;
    xp_stats_filter_t f;
} xp__stats_re_t;

static bool xp__stats_keep(const char *name, void *arg)
{
    xp__stats_re_t *sr = arg;
    return pcre2_match(sr->re, (PCRE2_SPTR)name, strlen(name), 0, 0, sr->md, NULL) >= 0;
}

/* Compiles the query's filter into sr (sr->f is what to render with). A
 * filter that does not compile answers 400 naming it and returns false. */
static bool xp__stats_filter(const char *query, xp_admin_resp_t *r, xp__stats_re_t *sr)
{
    char filter[512];
    memset(sr, 0, sizeof(*sr));
    if (!xp__query_param(query, "filter", filter, sizeof(filter)))
        return true;
    int code;
    PCRE2_SIZE off;
    sr->re = pcre2_compile((PCRE2_SPTR)filter, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (sr->re == NULL) {
        PCRE2_UCHAR msg[128];
        pcre2_get_error_message(code, msg, sizeof(msg));
        r->status = 400;
        r->body = xp_asprintf("filter '%s' is not a valid regular expression: %s at offset %zu\n",
                              filter, (const char *)msg, (size_t)off);
        return false;
    }
    sr->md = pcre2_match_data_create_from_pattern(sr->re, NULL);
    sr->f.keep = xp__stats_keep;
    sr->f.arg = sr;
    return true;
}

static void xp__stats_filter_free(xp__stats_re_t *sr)
{
    pcre2_match_data_free(sr->md);
    pcre2_code_free(sr->re);
}

static void xp__stats_refresh(xp_admin_t *a)
{
    xp_stat_set(xp_stats_gauge(a->server->stats, "server.uptime"),
                (int64_t)((xp__now_ms() - a->server->start_time_ms) / 1000));
    if (a->server->hooks && a->server->hooks->refresh_stats)
        a->server->hooks->refresh_stats(a->server->hooks_ctx, a->server->stats);
}

static void xp__h_stats(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    char fmt[32] = "";
    xp__stats_re_t sr;
    if (!xp__stats_filter(query, r, &sr))
        return;
    xp__query_param(query, "format", fmt, sizeof(fmt));
    xp__stats_refresh(a);
    const xp_stats_filter_t *f = sr.re ? &sr.f : NULL;
    if (strcmp(fmt, "json") == 0) {
        r->content_type = "application/json";
        r->body = xp_stats_render_json(a->server->stats, f);
    } else if (strcmp(fmt, "prometheus") == 0) {
        r->body = xp_stats_render_prometheus(a->server->stats, f);
    } else {
        r->body = xp_stats_render_text(a->server->stats, f);
    }
    xp__stats_filter_free(&sr);
}

static void xp__h_prometheus(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    xp__stats_re_t sr;
    if (!xp__stats_filter(query, r, &sr))
        return;
    xp__stats_refresh(a);
    r->body = xp_stats_render_prometheus(a->server->stats, sr.re ? &sr.f : NULL);
    xp__stats_filter_free(&sr);
}

static void xp__h_config_dump(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    char res[128];
    bool has = xp__query_param(query, "resource", res, sizeof(res));
    xp_server_t *s = a->server;
    r->content_type = "application/json";
    if (s->hooks && s->hooks->config_dump)
        r->body = s->hooks->config_dump(s->hooks_ctx, has ? res : NULL);
    else
        r->body = xp_strdup("{\"configs\":[]}\n");
}

static void xp__h_listeners(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    char fmt[16] = "";
    xp__query_param(query, "format", fmt, sizeof(fmt));
    xp_server_t *s = a->server;
    int json = strcmp(fmt, "json") == 0;
    if (json)
        r->content_type = "application/json";
    r->body =
        s->hooks && s->hooks->listeners ? s->hooks->listeners(s->hooks_ctx, json) : xp_strdup("");
}

static void xp__h_clusters(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    char fmt[16] = "";
    xp__query_param(query, "format", fmt, sizeof(fmt));
    xp_server_t *s = a->server;
    int json = strcmp(fmt, "json") == 0;
    if (json)
        r->content_type = "application/json";
    r->body =
        s->hooks && s->hooks->clusters ? s->hooks->clusters(s->hooks_ctx, json) : xp_strdup("");
}

static void xp__h_quit(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    (void)a;
    (void)query;
    r->body = xp_strdup("OK\n");
    r->quit = true;
}

static void xp__h_drain(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    char v[8];
    bool graceful = xp__query_param(query, "graceful", v, sizeof(v));
    xp_server_drain_listeners(a->server, graceful);
    r->body = xp_strdup("OK\n");
}

static void xp__h_runtime(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    (void)query;
    xp_server_t *s = a->server;
    r->content_type = "application/json";
    if (s->hooks && s->hooks->runtime)
        r->body = s->hooks->runtime(s->hooks_ctx);
    else
        r->body = xp_strdup("{\n \"layers\": [],\n \"entries\": {}\n}\n");
}

/* POST /runtime_modify?key1=value1&key2=value2: as Envoy, the first value
 * of a key counts, an empty value removes an admin override, and without an
 * admin layer the answer is 503. */
static void xp__h_runtime_modify(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    xp_server_t *s = a->server;
    char **keys = NULL, **vals = NULL;
    size_t n = 0;
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t seg = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', seg);
        size_t kl = eq ? (size_t)(eq - p) : seg;
        char *k = xp__unescape(p, kl);
        bool dup = k[0] == '\0';
        for (size_t i = 0; i < n && !dup; i++)
            dup = strcmp(keys[i], k) == 0;
        if (dup) {
            free(k);
        } else {
            keys = xp_realloc(keys, (n + 1) * sizeof(*keys));
            vals = xp_realloc(vals, (n + 1) * sizeof(*vals));
            keys[n] = k;
            vals[n++] = eq ? xp__unescape(eq + 1, seg - kl - 1) : xp_strdup("");
        }
        p = amp ? amp + 1 : NULL;
    }
    char *err = NULL;
    if (n == 0) {
        r->status = 400;
        r->body = xp_strdup("usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n"
                            "use an empty value to remove a previously added override\n");
    } else if (s->hooks == NULL || s->hooks->runtime_modify == NULL) {
        r->status = 503;
        r->body = xp_strdup("no runtime\n");
    } else if (s->hooks->runtime_modify(s->hooks_ctx, keys, vals, n, &err) != 0) {
        r->status = 503;
        r->body = xp_asprintf("%s\n", err ? err : "runtime_modify failed");
    } else {
        r->body = xp_strdup("OK\n");
    }
    free(err);
    for (size_t i = 0; i < n; i++) {
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
}

static void xp__h_help(xp_admin_t *a, const char *query, xp_admin_resp_t *r);

typedef struct {
    const char *path;
    bool mutating; /* needs POST, as in Envoy */
    xp_admin_handler fn;
    const char *help;
} xp_admin_route_t;

static const xp_admin_route_t xp__routes[] = {
    {"/clusters", false, xp__h_clusters, "upstream cluster status (?format=json)"},
    {"/config_dump", false, xp__h_config_dump,
     "dump current config (?resource=dynamic_listeners etc.)"},
    {"/drain_listeners", true, xp__h_drain,
     "stop accepting and drain connections (?graceful: accept for --drain-time-s first)"},
    {"/help", false, xp__h_help, "print this list"},
    {"/listeners", false, xp__h_listeners, "print listener info (?format=json)"},
    {"/quitquitquit", true, xp__h_quit, "exit the server"},
    {"/ready", false, xp__h_ready, "print server state, 200 when LIVE"},
    {"/runtime", false, xp__h_runtime, "print runtime values"},
    {"/runtime_modify", true, xp__h_runtime_modify,
     "modify runtime values (?key1=value1&key2=value2; an empty value removes the override)"},
    {"/server_info", false, xp__h_server_info, "print server version/status information"},
    {"/stats", false, xp__h_stats, "print server stats (?format=json|prometheus, ?filter=regex)"},
    {"/stats/prometheus", false, xp__h_prometheus, "print server stats in prometheus format"},
};

static void xp__h_help(xp_admin_t *a, const char *query, xp_admin_resp_t *r)
{
    (void)a;
    (void)query;
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_strbuf_printf(&b, "admin commands are:\n");
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__routes); i++)
        xp_strbuf_printf(&b, "  %s%s: %s\n", xp__routes[i].path,
                         xp__routes[i].mutating ? " (POST)" : "", xp__routes[i].help);
    r->body = xp_strbuf_take(&b);
}

/* The admin object goes once its listener and every connection are closed:
 * close callbacks run in no promised order. */
static void xp__admin_maybe_free(xp_admin_t *a)
{
    if (!a->listener_closed || a->conns != NULL)
        return;
    if (a->log_fd >= 0)
        close(a->log_fd);
    free(a);
}

static void xp__conn_closed(uv_handle_t *h)
{
    xp_admin_conn_t *c = XP_CONTAINER_OF(h, xp_admin_conn_t, tcp);
    xp_admin_t *a = c->admin;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->out);
    free(c);
    xp__admin_maybe_free(a);
}

static void xp__conn_close(xp_admin_conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, xp__conn_closed);
}

static void xp__written(uv_write_t *w, int status)
{
    (void)status;
    xp_admin_conn_t *c = XP_CONTAINER_OF(w, xp_admin_conn_t, wreq);
    xp_server_t *s = c->admin->server;
    bool quit = c->quit_after_write;
    xp__conn_close(c);
    if (quit) {
        XP_INFO("admin: /quitquitquit received, shutting down");
        xp_server_shutdown(s);
    }
}

static void xp__access_log(xp_admin_t *a, const char *method, const char *target, int status,
                           size_t bytes)
{
    if (a->log_fd < 0)
        return;
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(line, sizeof(line),
                     "[%04d-%02d-%02dT%02d:%02d:%02d.000Z] \"%s %s HTTP/1.1\" %d - 0 %zu\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     method, target, status, bytes);
    if (n > 0) {
        ssize_t w = write(a->log_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
        (void)w;
    }
}

static void xp__respond(xp_admin_conn_t *c, const xp_admin_resp_t *r)
{
    const char *body = r->body ? r->body : "";
    size_t blen = strlen(body);
    c->out =
        xp_asprintf("HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n"
                    "cache-control: no-cache, max-age=0\r\nx-content-type-options: nosniff\r\n"
                    "connection: close\r\n\r\n%s",
                    r->status, xp_http1_reason(r->status),
                    r->content_type ? r->content_type : "text/plain; charset=UTF-8", blen, body);
    c->responded = true;
    c->quit_after_write = r->quit;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_buf_t b = uv_buf_init(c->out, (unsigned)strlen(c->out));
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, xp__written) != 0)
        xp__conn_close(c);
}

static void xp__dispatch(xp_admin_conn_t *c)
{
    xp_admin_resp_t r = {.status = 200};
    /* Request line: METHOD SP target SP HTTP/1.x CRLF (RFC 9112 §3). The admin
     * only needs the method and target; headers and bodies are ignored. */
    char *eol = strstr(c->buf, "\r\n");
    /* Both spaces inside the request line (a later line's do not count). */
    char *sp1 = eol ? memchr(c->buf, ' ', (size_t)(eol - c->buf)) : NULL;
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        r.status = 400;
        r.body = xp_strdup("malformed request\n");
        xp__respond(c, &r);
        free(r.body);
        return;
    }
    *sp1 = '\0';
    *sp2 = '\0';
    const char *method = c->buf;
    char *target = sp1 + 1;
    char *q = strchr(target, '?');
    const char *query = "";
    if (q) {
        *q = '\0';
        query = q + 1;
    }
    const xp_admin_route_t *route = NULL;
    const char *want = strcmp(target, "/") == 0 ? "/help" : target;
    for (size_t i = 0; i < XP_ARRAY_SIZE(xp__routes); i++)
        if (strcmp(want, xp__routes[i].path) == 0)
            route = &xp__routes[i];
    if (route == NULL) {
        r.status = 404;
        xp__h_help(c->admin, query, &r);
    } else if (route->mutating && strcmp(method, "POST") != 0) {
        r.status = 405;
        r.body = xp_asprintf("%s requires POST\n", route->path);
    } else {
        route->fn(c->admin, query, &r);
    }
    xp__access_log(c->admin, method, target, r.status, r.body ? strlen(r.body) : 0);
    xp__respond(c, &r);
    free(r.body);
}

static void xp__alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    xp_admin_conn_t *c = XP_CONTAINER_OF(h, xp_admin_conn_t, tcp);
    b->base = c->buf + c->len;
    b->len = sizeof(c->buf) - 1 - c->len;
}

static void xp__read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    xp_admin_conn_t *c = XP_CONTAINER_OF(st, xp_admin_conn_t, tcp);
    if (n < 0) {
        xp__conn_close(c);
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    if (c->responded)
        return;
    if (strstr(c->buf, "\r\n\r\n")) {
        xp__dispatch(c);
    } else if (c->len >= sizeof(c->buf) - 1) {
        xp_admin_resp_t r = {.status = 431, .body = xp_strdup("request header too large\n")};
        xp__respond(c, &r);
        free(r.body);
    }
}

static void xp__accept(uv_stream_t *l, int status)
{
    xp_admin_t *a = XP_CONTAINER_OF(l, xp_admin_t, listener);
    if (status < 0)
        return;
    xp_admin_conn_t *c = xp_calloc(1, sizeof(*c));
    c->admin = a;
    uv_tcp_init(l->loop, &c->tcp);
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, xp__alloc, xp__read) != 0)
        xp__conn_close(c);
}

int xp_admin_start(xp_server_t *s, const struct sockaddr *addr, const char *access_log_path)
{
    xp_admin_t *a = xp_calloc(1, sizeof(*a));
    a->server = s;
    a->log_fd = -1;
    uv_tcp_init(s->loop, &a->listener);
    int rc = uv_tcp_bind(&a->listener, addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&a->listener, 128, xp__accept);
    if (rc) {
        a->stopping = true;
        s->admin = a;
        xp_admin_stop(a);
        s->admin = NULL;
        return rc;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&a->listener, (struct sockaddr *)&ss, &len);
    a->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    if (access_log_path && access_log_path[0]) {
        a->log_fd = open(access_log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (a->log_fd < 0)
            XP_WARN("admin: cannot open access log %s", access_log_path);
    }
    s->admin = a;
    return 0;
}

int xp_admin_port(const xp_admin_t *a)
{
    return a->port;
}

static void xp__listener_closed(uv_handle_t *h)
{
    xp_admin_t *a = XP_CONTAINER_OF(h, xp_admin_t, listener);
    a->listener_closed = true;
    xp__admin_maybe_free(a);
}

void xp_admin_stop(xp_admin_t *a)
{
    if (a == NULL)
        return;
    a->stopping = true;
    for (xp_admin_conn_t *c = a->conns; c; c = c->next)
        xp__conn_close(c);
    if (!uv_is_closing((uv_handle_t *)&a->listener))
        uv_close((uv_handle_t *)&a->listener, xp__listener_closed);
}
