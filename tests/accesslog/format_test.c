/* The access log formatter: every operator with its value present and
 * missing, header fallbacks and truncation, START_TIME formats, Envoy's
 * default format, JSON dictionaries, and every compile error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/accesslog/accesslog.h"
#include "proxy/common/error.h"
#include "proxy/common/mem.h"

static int failures, checks;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void check_str(const char *file, int line, const char *what, const char *got,
                      const char *want)
{
    checks++;
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s:%d: %s\n  got:  [%s]\n  want: [%s]\n", file, line, what, got, want);
        failures++;
    }
}
#define CHECK_STR(what, got, want) check_str(__FILE__, __LINE__, (what), (got), (want))

#define S(lit) XP_STR_LIT(lit)

/* 2026-11-25T10:00:00.123456Z */
#define START_US 1795600800123456LL

static const xp_header_t req_headers[] = {
    {S("Host"), S("host-header.example")},
    {S("User-Agent"), S("curl/8.0")},
    {S("X-Forwarded-For"), S("10.0.0.1")},
    {S("x-request-id"), S("abc-123")},
    {S("X-Long"), S("0123456789")},
    {S("X-Esc"), S("a\"b\\c\td\x01")},
    {S("X-Empty"), S("")},
};
static const xp_header_t resp_headers[] = {
    {S("x-envoy-upstream-service-time"), S("12")},
    {S("Content-Type"), S("text/plain")},
};
static const xp_header_t trailers[] = {
    {S("grpc-status"), S("0")},
    {S("grpc-message"), S("all good")},
};

static void full_record(xp_access_log_record_t *r)
{
    xp_access_log_record_init(r);
    r->start_time_us = START_US;
    r->duration_us = 15999;
    r->last_downstream_rx_byte_us = 1500;
    r->first_upstream_tx_byte_us = 2000;
    r->first_upstream_rx_byte_us = 12000;
    r->last_downstream_tx_byte_us = 15500;
    r->protocol = "HTTP/1.1";
    r->method = S("GET");
    r->path = S("/api/v1?x=1");
    r->authority = S("example.com");
    r->scheme = S("http");
    r->request_headers = req_headers;
    r->n_request_headers = XP_ARRAY_SIZE(req_headers);
    r->response_headers = resp_headers;
    r->n_response_headers = XP_ARRAY_SIZE(resp_headers);
    r->response_trailers = trailers;
    r->n_response_trailers = XP_ARRAY_SIZE(trailers);
    r->response_code = 200;
    r->response_code_details = S("via_upstream");
    r->response_flags = XP_RF_UF | XP_RF_UH;
    r->bytes_received = 10;
    r->bytes_sent = 2048;
    r->upstream_host = S("10.1.1.1:8080");
    r->upstream_cluster = S("backend");
    r->upstream_local_address = S("10.1.1.2:40000");
    r->upstream_transport_failure_reason = S("TLS_error:bad_cert");
    r->downstream_remote_address = S("192.168.1.5:51000");
    r->downstream_local_address = S("[::1]:10000");
    r->route_name = S("r1");
    r->request_id = S("from-record");
    r->connection_id = 42;
    r->connection_termination_details = S("idle_timeout");
    r->requested_server_name = S("sni.example.com");
    r->attempt_count = 2;
}

/* Compiles fmt (must succeed) and formats r; the result is static. */
static const char *fmt1(const char *fmt, const xp_access_log_record_t *r)
{
    static char out[4096];
    char err[256] = "";
    xp_access_log_format_t *f = NULL;
    int rc = xp_access_log_format_compile(fmt, &f, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "unexpected compile error for [%s]: %s\n", fmt, err);
        failures++;
        return "<compile error>";
    }
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    size_t n = xp_access_log_format(f, r, &b);
    CHECK(n == b.len && strlen(b.p) == n);
    snprintf(out, sizeof(out), "%s", b.p);
    free(b.p);
    xp_access_log_format_free(f);
    return out;
}

static void test_operators(void)
{
    xp_access_log_record_t full, none;
    full_record(&full);
    xp_access_log_record_init(&none);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);

    static const struct {
        const char *fmt, *full, *none;
    } cases[] = {
        {"%START_TIME%", "2026-11-25T10:00:00.123Z", "1970-01-01T00:00:00.000Z"},
        {"%REQ(:METHOD)%", "GET", "-"},
        {"%REQ(:PATH)%", "/api/v1?x=1", "-"},
        {"%REQ(:AUTHORITY)%", "example.com", "-"},
        {"%REQ(:SCHEME)%", "http", "-"},
        {"%REQ(USER-AGENT)%", "curl/8.0", "-"},
        {"%REQ(user-agent)%", "curl/8.0", "-"},
        {"%REQ(X-EMPTY)%", "-", "-"},
        {"%RESP(CONTENT-TYPE)%", "text/plain", "-"},
        {"%TRAILER(GRPC-STATUS)%", "0", "-"},
        {"%TRAILER(GRPC-MESSAGE)%", "all good", "-"},
        {"%RESPONSE_CODE%", "200", "0"},
        {"%RESPONSE_CODE_DETAILS%", "via_upstream", "-"},
        {"%RESPONSE_FLAGS%", "UH,UF", "-"},
        {"%RESPONSE_FLAGS_LONG%", "NoHealthyUpstream,UpstreamConnectionFailure", "-"},
        {"%BYTES_RECEIVED%", "10", "0"},
        {"%BYTES_SENT%", "2048", "0"},
        {"%DURATION%", "15", "-"},
        {"%REQUEST_DURATION%", "1", "-"},
        {"%RESPONSE_DURATION%", "12", "-"},
        {"%RESPONSE_TX_DURATION%", "3", "-"},
        {"%PROTOCOL%", "HTTP/1.1", "-"},
        {"%UPSTREAM_HOST%", "10.1.1.1:8080", "-"},
        {"%UPSTREAM_CLUSTER%", "backend", "-"},
        {"%UPSTREAM_LOCAL_ADDRESS%", "10.1.1.2:40000", "-"},
        {"%UPSTREAM_TRANSPORT_FAILURE_REASON%", "TLS_error:bad_cert", "-"},
        {"%DOWNSTREAM_REMOTE_ADDRESS%", "192.168.1.5:51000", "-"},
        {"%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "192.168.1.5", "-"},
        {"%DOWNSTREAM_LOCAL_ADDRESS%", "[::1]:10000", "-"},
        {"%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%", "::1", "-"},
        {"%REQUESTED_SERVER_NAME%", "sni.example.com", "-"},
        {"%ROUTE_NAME%", "r1", "-"},
        {"%CONNECTION_ID%", "42", "0"},
        {"%CONNECTION_TERMINATION_DETAILS%", "idle_timeout", "-"},
        {"%UPSTREAM_REQUEST_ATTEMPT_COUNT%", "2", "0"},
        {"100%% of %%s", "100% of %s", "100% of %s"},
        {"", NULL, NULL}, /* default format: checked separately */
    };
    for (size_t i = 0; cases[i].full; i++) {
        char what[128];
        snprintf(what, sizeof(what), "%s (present)", cases[i].fmt);
        CHECK_STR(what, fmt1(cases[i].fmt, &full), cases[i].full);
        snprintf(what, sizeof(what), "%s (missing)", cases[i].fmt);
        CHECK_STR(what, fmt1(cases[i].fmt, &none), cases[i].none);
    }
    CHECK_STR("%HOSTNAME%", fmt1("%HOSTNAME%", &full), host[0] ? host : "-");

    /* Every flag, in Envoy's order. */
    none.response_flags = (1u << XP_RF_COUNT) - 1;
    CHECK_STR("all flags", fmt1("%RESPONSE_FLAGS%", &none),
              "LH,UH,UT,LR,UR,UF,UC,UO,NR,DI,FI,RL,UAEX,RLSE,DC,URX,SI,IH,DPE,UMSDR,RFCF,NFCF,"
              "DT,UPE,NC,OM,DF,DO");
    none.response_flags = XP_RF_DO | XP_RF_DC | XP_RF_NR;
    CHECK_STR("three flags long", fmt1("%RESPONSE_FLAGS_LONG%", &none),
              "NoRouteFound,DownstreamConnectionTermination,DropOverload");
    CHECK(strcmp(xp_response_flag_name(12, false), "UAEX") == 0);
    CHECK(xp_response_flag_name(XP_RF_COUNT, false) == NULL);
    none.response_flags = 0;

    /* Address without port: bare host, v6 without brackets. */
    none.downstream_remote_address = S("10.0.0.9");
    CHECK_STR("no port", fmt1("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", &none), "10.0.0.9");
    none.downstream_remote_address = S("[2001:db8::1]:443");
    CHECK_STR("v6", fmt1("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", &none), "2001:db8::1");

    /* RESPONSE_TX_DURATION needs both ends. */
    none.last_downstream_tx_byte_us = 5000;
    CHECK_STR("tx without rx", fmt1("%RESPONSE_TX_DURATION%", &none), "-");
}

static void test_headers(void)
{
    xp_access_log_record_t r;
    full_record(&r);
    CHECK_STR("fallback", fmt1("%REQ(X-NOPE?USER-AGENT)%", &r), "curl/8.0");
    CHECK_STR("first wins", fmt1("%REQ(USER-AGENT?X-LONG)%", &r), "curl/8.0");
    CHECK_STR("both missing", fmt1("%REQ(X-NOPE?X-NADA)%", &r), "-");
    CHECK_STR("empty falls back", fmt1("%REQ(X-EMPTY?:METHOD)%", &r), "GET");
    CHECK_STR("original path", fmt1("%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", &r), "/api/v1?x=1");
    CHECK_STR("resp fallback", fmt1("%RESP(X-NOPE?CONTENT-TYPE)%", &r), "text/plain");
    CHECK_STR("trailer fallback", fmt1("%TRAILER(X-NOPE?GRPC-STATUS)%", &r), "0");
    CHECK_STR("truncate", fmt1("%REQ(X-LONG):4%", &r), "0123");
    CHECK_STR("truncate pseudo", fmt1("%REQ(:PATH):4%", &r), "/api");
    CHECK_STR("truncate fallback", fmt1("%REQ(X-NOPE?X-LONG):3%", &r), "012");
    CHECK_STR("no truncation", fmt1("%REQ(X-LONG):100%", &r), "0123456789");
    CHECK_STR("truncate resp", fmt1("%RESP(CONTENT-TYPE):4%", &r), "text");
    CHECK_STR("truncate trailer", fmt1("%TRAILER(GRPC-MESSAGE):3%", &r), "all");
    CHECK_STR("mixed", fmt1("a %REQ(:METHOD)%-%RESPONSE_CODE% z", &r), "a GET-200 z");

    /* x-request-id falls back to the record; :authority to Host. */
    xp_header_t h[] = {{S("Host"), S("h.example:8080")}};
    xp_access_log_record_t m;
    xp_access_log_record_init(&m);
    m.request_headers = h;
    m.n_request_headers = 1;
    m.request_id = S("gen-1");
    CHECK_STR("request id", fmt1("%REQ(X-REQUEST-ID)%", &m), "gen-1");
    CHECK_STR("authority from host", fmt1("%REQ(:AUTHORITY)%", &m), "h.example:8080");
    CHECK_STR("header wins over record", fmt1("%REQ(X-REQUEST-ID)%", &r), "abc-123");
}

static void test_start_time(void)
{
    xp_access_log_record_t r;
    xp_access_log_record_init(&r);
    r.start_time_us = START_US;
    CHECK_STR("default", fmt1("%START_TIME%", &r), "2026-11-25T10:00:00.123Z");
    CHECK_STR("empty arg", fmt1("%START_TIME()%", &r), "2026-11-25T10:00:00.123Z");
    CHECK_STR("3f", fmt1("%START_TIME(%Y-%m-%dT%H:%M:%S.%3fz)%", &r), "2026-11-25T10:00:00.123z");
    CHECK_STR("6f", fmt1("%START_TIME(%H:%M:%S.%6f)%", &r), "10:00:00.123456");
    CHECK_STR("9f", fmt1("%START_TIME(%S.%9f)%", &r), "00.123456000");
    CHECK_STR("f", fmt1("%START_TIME(%f)%", &r), "123456000");
    CHECK_STR("1f", fmt1("%START_TIME(%1f)%", &r), "1");
    CHECK_STR("s", fmt1("%START_TIME(%s)%", &r), "1795600800");
    CHECK_STR("s.3f", fmt1("%START_TIME(%s.%3f)%", &r), "1795600800.123");
    CHECK_STR("strftime", fmt1("%START_TIME(%d/%b/%Y:%H:%M:%S %z)%", &r),
              "25/Nov/2026:10:00:00 +0000");
    CHECK_STR("percent", fmt1("%START_TIME(100%%)%", &r), "100%");
    CHECK_STR("two", fmt1("[%START_TIME(%Y)%|%START_TIME(%3f)%]", &r), "[2026|123]");
    r.start_time_us = 1795600800000999LL; /* leading zeros */
    CHECK_STR("pad 3f", fmt1("%START_TIME(%3f)%", &r), "000");
    CHECK_STR("pad 6f", fmt1("%START_TIME(%6f)%", &r), "000999");
    CHECK_STR("pad default", fmt1("%START_TIME%", &r), "2026-11-25T10:00:00.000Z");
}

static void test_default_format(void)
{
    xp_access_log_record_t r;
    full_record(&r);
    const char *want =
        "[2026-11-25T10:00:00.123Z] \"GET /api/v1?x=1 HTTP/1.1\" 200 UH,UF 10 2048 15 "
        "12 \"10.0.0.1\" \"curl/8.0\" \"abc-123\" \"example.com\" "
        "\"10.1.1.1:8080\"\n";
    CHECK_STR("default (NULL)", fmt1(NULL, &r), want);
    CHECK_STR("default (\"\")", fmt1("", &r), want);
    CHECK_STR("default (spelled out)", fmt1(XP_ACCESS_LOG_DEFAULT_FORMAT, &r), want);
    CHECK_STR("default format string", XP_ACCESS_LOG_DEFAULT_FORMAT,
              "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
              "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
              "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" "
              "\"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" "
              "\"%UPSTREAM_HOST%\"\n");

    /* X-Envoy-Original-Path wins over :path. */
    xp_header_t h[] = {{S("x-envoy-original-path"), S("/orig")}};
    r.request_headers = h;
    r.n_request_headers = 1;
    r.response_flags = 0;
    r.response_headers = NULL;
    r.n_response_headers = 0;
    CHECK_STR("original path", fmt1(NULL, &r),
              "[2026-11-25T10:00:00.123Z] \"GET /orig HTTP/1.1\" 200 - 10 2048 15 - \"-\" \"-\" "
              "\"from-record\" \"example.com\" \"10.1.1.1:8080\"\n");

    /* tcp_proxy: the same default, most fields missing. */
    xp_access_log_record_t t;
    xp_access_log_record_init(&t);
    t.start_time_us = START_US;
    t.bytes_received = 77;
    t.bytes_sent = 88;
    t.duration_us = 2500000;
    t.upstream_host = S("10.1.1.1:9000");
    t.response_flags = XP_RF_UF;
    CHECK_STR("tcp default", fmt1(NULL, &t),
              "[2026-11-25T10:00:00.123Z] \"- - -\" 0 UF 77 88 2500 - \"-\" \"-\" \"-\" \"-\" "
              "\"10.1.1.1:9000\"\n");
}

static const char *json1(char *const *keys, char *const *values, size_t n,
                         const xp_access_log_record_t *r)
{
    static char out[4096];
    char err[256] = "";
    xp_access_log_format_t *f = NULL;
    if (xp_access_log_format_compile_json(keys, values, n, &f, err, sizeof(err)) != 0) {
        fprintf(stderr, "unexpected JSON compile error: %s\n", err);
        failures++;
        return "<compile error>";
    }
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_access_log_format(f, r, &b);
    snprintf(out, sizeof(out), "%s", b.p);
    free(b.p);
    xp_access_log_format_free(f);
    return out;
}

static void test_json(void)
{
    xp_access_log_record_t r, none;
    full_record(&r);
    xp_access_log_record_init(&none);
    char *keys[] = {"code",   "dur",   "bytes", "ua",   "missing", "mixed", "lit", "esc",
                    "key\"q", "start", "flags", "conn", "trunc",   "empty", "pct"};
    char *vals[] = {"%RESPONSE_CODE%",
                    "%DURATION%",
                    "%BYTES_SENT%",
                    "%REQ(USER-AGENT)%",
                    "%REQ(X-NOPE)%",
                    "%RESPONSE_CODE% %REQ(X-NOPE)%",
                    "plain",
                    "%REQ(X-ESC)%",
                    "x",
                    "%START_TIME%",
                    "%RESPONSE_FLAGS%",
                    "%CONNECTION_ID%",
                    "%REQ(X-LONG):2%",
                    "",
                    "%%"};
    size_t n = XP_ARRAY_SIZE(keys);
    CHECK_STR("json full", json1(keys, vals, n, &r),
              "{\"code\":200,\"dur\":15,\"bytes\":2048,\"ua\":\"curl/8.0\",\"missing\":null,"
              "\"mixed\":\"200 -\",\"lit\":\"plain\",\"esc\":\"a\\\"b\\\\c\\td\\u0001\","
              "\"key\\\"q\":\"x\",\"start\":\"2026-11-25T10:00:00.123Z\",\"flags\":\"UH,UF\","
              "\"conn\":42,\"trunc\":\"01\",\"empty\":\"\",\"pct\":\"%\"}\n");
    CHECK_STR("json missing", json1(keys, vals, n, &none),
              "{\"code\":0,\"dur\":null,\"bytes\":0,\"ua\":null,\"missing\":null,"
              "\"mixed\":\"0 -\",\"lit\":\"plain\",\"esc\":null,"
              "\"key\\\"q\":\"x\",\"start\":\"1970-01-01T00:00:00.000Z\",\"flags\":\"-\","
              "\"conn\":0,\"trunc\":null,\"empty\":\"\",\"pct\":\"%\"}\n");
    CHECK_STR("json empty", json1(NULL, NULL, 0, &r), "{}\n");

    /* Through the config. */
    xp_access_log_cfg_t cfg = {
        .path = "/dev/null", .json_keys = keys, .json_values = vals, .n_json = 2};
    xp_access_log_format_t *f = NULL;
    char err[256];
    CHECK(xp_access_log_format_compile_cfg(&cfg, &f, err, sizeof(err)) == 0);
    xp_strbuf_t b;
    xp_strbuf_init(&b);
    xp_access_log_format(f, &r, &b);
    xp_access_log_format(f, &none, &b); /* appends */
    CHECK_STR("json cfg", b.p, "{\"code\":200,\"dur\":15}\n{\"code\":0,\"dur\":null}\n");
    free(b.p);
    xp_access_log_format_free(f);
}

static void test_errors(void)
{
    static const struct {
        const char *fmt, *msg;
    } cases[] = {
        {"%FOO%", "unknown command operator %FOO%"},
        {"x %start_time% y", "unknown command operator %start_time%"},
        {"%REQ(X%", "%REQ(: missing ')'"},
        {"%REQ%", "%REQ%: %REQ needs an argument: %REQ(name)%"},
        {"%RESP%", "%RESP%: %RESP needs an argument: %RESP(name)%"},
        {"%TRAILER%", "%TRAILER%: %TRAILER needs an argument: %TRAILER(name)%"},
        {"%REQ()%", "%REQ()%: empty header name"},
        {"%REQ(A?)%", "%REQ(A?)%: empty header name"},
        {"%REQ(A?B?C)%", "%REQ(A?B?C)%: more than one alternative header (use X?Y)"},
        {"%REQ(bad name)%", "%REQ(bad name)%: invalid character in header name"},
        {"%REQ(X):abc%", "%REQ(X):abc%: bad max length ':abc' (expected a positive integer)"},
        {"%REQ(X):%", "%REQ(X):%: bad max length ':' (expected a positive integer)"},
        {"%REQ(X):0%", "%REQ(X):0%: bad max length ':0' (expected a positive integer)"},
        {"%REQ(X):12a%", "%REQ(X):12a%: bad max length ':12a' (expected a positive integer)"},
        {"%REQ(X):12345678901%",
         "%REQ(X):12345678901%: bad max length ':12345678901' (expected a positive integer)"},
        {"%RESPONSE_CODE", "%RESPONSE_CODE: command operator has no closing '%'"},
        {"%REQ(X) rest", "%REQ(X): command operator has no closing '%'"},
        {"%REQ(X):5", "%REQ(X):5: command operator has no closing '%'"},
        {"%START_TIME(%Y", "%START_TIME(: missing ')'"},
        {"%RESPONSE_CODE(x)%", "%RESPONSE_CODE(x)%: %RESPONSE_CODE takes no argument"},
        {"%PROTOCOL:10%", "%PROTOCOL:10%: %PROTOCOL takes no max length (:Z)"},
        {"100% done", "'%' at position 3 does not start a command operator (write '%%' for a "
                      "literal '%')"},
        {"trailing %", "'%' at position 9 does not start a command operator (write '%%' for a "
                       "literal '%')"},
        {"%START_TIME(%0f)%",
         "%START_TIME(%0f)%: bad fractional seconds specifier (expected %f or %1f..%9f)"},
        {"%START_TIME(%3)%",
         "%START_TIME(%3)%: bad fractional seconds specifier (expected %f or %1f..%9f)"},
        {"%START_TIME(%Y%)%", "%START_TIME(%Y%)%: time format ends in a lone '%'"},
    };
    for (size_t i = 0; i < XP_ARRAY_SIZE(cases); i++) {
        char err[256] = "";
        xp_access_log_format_t *f = (xp_access_log_format_t *)1;
        int rc = xp_access_log_format_compile(cases[i].fmt, &f, err, sizeof(err));
        char what[128];
        snprintf(what, sizeof(what), "error for [%s]", cases[i].fmt);
        CHECK(rc == XP_EINVAL);
        CHECK(f == NULL);
        CHECK_STR(what, err, cases[i].msg);
    }

    /* JSON: the message names the key. */
    char *keys[] = {"a", "b", "a"};
    char *bad[] = {"%RESPONSE_CODE%", "%BAD%", "x"};
    char *good[] = {"%RESPONSE_CODE%", "%DURATION%", "x"};
    char err[256] = "";
    xp_access_log_format_t *f = NULL;
    CHECK(xp_access_log_format_compile_json(keys, bad, 2, &f, err, sizeof(err)) == XP_EINVAL);
    CHECK_STR("json error", err, "json_format[\"b\"]: unknown command operator %BAD%");
    CHECK(xp_access_log_format_compile_json(keys, good, 3, &f, err, sizeof(err)) == XP_EINVAL);
    CHECK_STR("json duplicate", err, "json_format: duplicate key \"a\"");

    /* Config-level checks and the validation helper. */
    xp_access_log_cfg_t cfg = {.path = "/tmp/x.log",
                               .format = "%DURATION%",
                               .json_keys = keys,
                               .json_values = good,
                               .n_json = 1};
    CHECK(xp_access_log_validate(&cfg, err, sizeof(err)) == XP_EINVAL);
    CHECK_STR("both formats", err, "format and json_format are mutually exclusive");
    cfg.n_json = 0;
    CHECK(xp_access_log_validate(&cfg, err, sizeof(err)) == 0);
    cfg.format = "%NOPE%";
    CHECK(xp_access_log_validate(&cfg, err, sizeof(err)) == XP_EINVAL);
    CHECK_STR("validate", err, "unknown command operator %NOPE%");
    cfg.format = NULL;
    cfg.path = "";
    CHECK(xp_access_log_validate(&cfg, err, sizeof(err)) == XP_EINVAL);
    CHECK_STR("empty path", err, "access log path is empty");
}

int main(void)
{
    test_operators();
    test_headers();
    test_start_time();
    test_default_format();
    test_json();
    test_errors();
    if (failures) {
        fprintf(stderr, "format_test: %d of %d checks FAILED\n", failures, checks);
        return 1;
    }
    printf("format_test: all %d checks passed\n", checks);
    return 0;
}
