#!/usr/bin/env bash
# Local replies and the headers and stats Envoy documents: 404 for no route
# (http.<prefix>.no_route), 503 for a missing cluster (or
# cluster_not_found_response_code), 503 "no healthy upstream", 503 connect
# failure with Envoy's body, 504 "upstream request timeout";
# x-envoy-upstream-service-time on proxied responses only; server: envoy and
# server_name; x-forwarded-for with use_remote_address (and not without),
# x-forwarded-proto, x-request-id generated or preserved,
# x-envoy-expected-rq-timeout-ms; then the stats under Envoy's names must
# agree with the traffic this script sent.
# Args: XPROXY XP_UPSTREAM CONCURRENCY.
. "$(dirname "$0")/route_lib.sh"

# Checks that expose xproxy bugs not fixed yet (see the report).
KNOWN_FAILURES=()

up_start up1
UP1=$UP_PORT
closed_port
px_start l "$RT_DIR/route_local.yaml" "$CONC" "UP1=$UP1" "CLOSED=$CLOSED_PORT"
EDGE=$(px_port l edge)
NAMED=$(px_port l named)
check "listener ports from /listeners?format=json" [ -n "$EDGE" ] && [ -n "$NAMED" ]

# What this script sends to the edge listener, one connection per request.
N_TOTAL=0 N_2XX=0 N_4XX=0 N_5XX=0 N_C1=0 N_C1_2XX=0 N_NOROUTE=0 N_NC=0
# ereq PATH KIND [CURL ARGS...]: one request to the edge listener; KIND says
# where it goes (c1, noroute, nc, other) for the tallies.
ereq() {
    local path=$1 kind=$2
    shift 2
    req "http://127.0.0.1:$EDGE$path" "$@"
    N_TOTAL=$((N_TOTAL + 1))
    case "$R_CODE" in
    2??) N_2XX=$((N_2XX + 1)) ;;
    4??) N_4XX=$((N_4XX + 1)) ;;
    5??) N_5XX=$((N_5XX + 1)) ;;
    esac
    case "$kind" in
    c1)
        N_C1=$((N_C1 + 1))
        case "$R_CODE" in 2??) N_C1_2XX=$((N_C1_2XX + 1)) ;; esac
        ;;
    noroute) N_NOROUTE=$((N_NOROUTE + 1)) ;;
    nc) N_NC=$((N_NC + 1)) ;;
    esac
}

# HTTP/1.0 without http_protocol_options.accept_http_10: 426, as in Envoy.
req "http://127.0.0.1:$NAMED/e/a" -0
check "HTTP/1.0 without accept_http_10: 426 Upgrade Required" eq "$R_CODE" 426
check "HTTP/1.0 without accept_http_10: the connection closes" eq "$(rhdr connection)" close

# ---- proxied responses and the headers on the way -------------------------------
ereq /e/a c1
check "proxied: 200 from up1" eq "$R_CODE $(efield server)" "200 up1"
check "proxied: server: envoy (one line)" eq "$(rhdr server | tr '\n' ' ')" "envoy "
check "proxied: x-envoy-upstream-service-time is a number" matches "$(rhdr x-envoy-upstream-service-time)" '^[0-9]+$'
check "use_remote_address: x-forwarded-for is the peer" eq "$(ehdr x-forwarded-for)" 127.0.0.1
check "x-forwarded-proto http" eq "$(ehdr x-forwarded-proto)" http
check "x-request-id generated (UUID)" matches "$(ehdr x-request-id)" \
    '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
rid1=$(ehdr x-request-id)
check "x-envoy-expected-rq-timeout-ms 15000 (default route timeout)" eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 15000
ereq /e/b c1
check "x-request-id differs per request" [ "$(ehdr x-request-id)" != "$rid1" ]
ereq /e/c c1 -H "x-forwarded-for: 10.1.2.3"
check "use_remote_address: the peer is appended to x-forwarded-for" \
    matches "$(ehdr x-forwarded-for)" '^10\.1\.2\.3, ?127\.0\.0\.1$'
ereq /e/d c1 -H "x-forwarded-proto: https"
check "x-forwarded-proto from the client is replaced (no trusted hops)" eq "$(ehdr x-forwarded-proto)" http
ereq /e/e c1 -H "x-request-id: my-request-id-1"
check "x-request-id preserved when present (internal peer)" eq "$(ehdr x-request-id)" my-request-id-1
ereq /e/f c1 -H "server: client-server"
check "response server header overwritten" eq "$(rhdr server | tr '\n' ' ')" "envoy "
cx=$(px_stat l cluster.c1.upstream_cx_total)
check "upstream connections pooled: cluster.c1.upstream_cx_total 1..$CONC after 6 sequential requests" \
    between "$cx" 1 "$CONC"

# ---- local replies ------------------------------------------------------------------
ereq /nothing-here noroute
check "no route: 404" eq "$R_CODE" 404
check "no route: empty body" eq "$R_BODY" ""
check "no route: server: envoy" eq "$(rhdr server)" envoy
check "no route: no x-envoy-upstream-service-time" eq "$(rhdr x-envoy-upstream-service-time)" ""
ereq / noroute
check "no route for /: 404" eq "$R_CODE" 404

ereq /nc nc
check "unknown cluster: 503" eq "$R_CODE" 503
check "unknown cluster: empty body" eq "$R_BODY" ""
ereq /nc404 nc
check "unknown cluster with cluster_not_found_response_code NOT_FOUND: 404" eq "$R_CODE" 404

ereq /nh other
check "no endpoints: 503" eq "$R_CODE" 503
check "no endpoints: body 'no healthy upstream'" eq "$R_BODY" "no healthy upstream"
check "no endpoints: content-type text/plain" eq "$(rhdr content-type)" text/plain
check "no endpoints: server: envoy" eq "$(rhdr server)" envoy

ereq /cf other
check "connect failure: 503" eq "$R_CODE" 503
check "connect failure: Envoy's body" contains "$R_BODY" \
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
check "cluster.closed.upstream_cx_connect_fail counted" [ "$(px_stat l cluster.closed.upstream_cx_connect_fail)" -ge 1 ]

ereq /to/echo c1
check "route timeout 0.5s: x-envoy-expected-rq-timeout-ms 500" eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 500
ereq /to/delay/2000 c1
check "route timeout: 504" eq "$R_CODE" 504
check "route timeout: body 'upstream request timeout'" eq "$R_BODY" "upstream request timeout"
check "route timeout: cluster.c1.upstream_rq_timeout 1" eq "$(px_stat l cluster.c1.upstream_rq_timeout)" 1

# ---- server_name, no use_remote_address ---------------------------------------------------
req "http://127.0.0.1:$NAMED/n" -H "Host: named.example.com"
check "server_name: proxied response says server: my-proxy" eq "$R_CODE $(rhdr server)" "200 my-proxy"
check "without use_remote_address: no x-forwarded-for added" eq "$(ehdr x-forwarded-for)" "<absent>"
check "without use_remote_address: x-forwarded-proto http" eq "$(ehdr x-forwarded-proto)" http
req "http://127.0.0.1:$NAMED/n" -H "Host: other.example.com"
check "server_name: local 404 says server: my-proxy" eq "$R_CODE $(rhdr server)" "404 my-proxy"
check "http.named.no_route 1" eq "$(px_stat l http.named.no_route)" 1

# ---- stats after the traffic ------------------------------------------------------------
echo "  sent to edge: total=$N_TOTAL 2xx=$N_2XX 4xx=$N_4XX 5xx=$N_5XX c1=$N_C1 noroute=$N_NOROUTE nc=$N_NC"
check "http.edge.downstream_rq_total" eq "$(px_stat l http.edge.downstream_rq_total)" "$N_TOTAL"
check "http.edge.downstream_rq_2xx" eq "$(px_stat l http.edge.downstream_rq_2xx)" "$N_2XX"
check "http.edge.downstream_rq_4xx" eq "$(px_stat l http.edge.downstream_rq_4xx)" "$N_4XX"
check "http.edge.downstream_rq_5xx" eq "$(px_stat l http.edge.downstream_rq_5xx)" "$N_5XX"
check "http.edge.downstream_cx_total (one connection per request)" eq "$(px_stat l http.edge.downstream_cx_total)" "$N_TOTAL"
check "http.edge.no_route" eq "$(px_stat l http.edge.no_route)" "$N_NOROUTE"
check "http.edge.no_cluster" eq "$(px_stat l http.edge.no_cluster)" "$N_NC"
check "listener.127.0.0.1_$EDGE.downstream_cx_total" \
    eq "$(px_stat l "listener.127.0.0.1_$EDGE.downstream_cx_total")" "$N_TOTAL"
check "cluster.c1.upstream_rq_total" eq "$(px_stat l cluster.c1.upstream_rq_total)" "$((N_C1 + 1))"
check "cluster.c1.upstream_rq_2xx" eq "$(px_stat l cluster.c1.upstream_rq_2xx)" "$((N_C1_2XX + 1))"
cx=$(px_stat l cluster.c1.upstream_cx_total)
check "cluster.c1.upstream_cx_total 1..requests" between "$cx" 1 "$((N_C1 + 1))"
check "cluster.noeps.upstream_cx_total 0" eq "$(px_stat l cluster.noeps.upstream_cx_total)" 0
jstats=$(curl -s --max-time 5 "http://$PX_ADMIN_l/stats?format=json")
check "/stats?format=json has http.edge.downstream_rq_total" contains "$jstats" \
    "{\"name\":\"http.edge.downstream_rq_total\",\"value\":$N_TOTAL}"

px_stop l
rt_finish
