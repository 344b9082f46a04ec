#!/usr/bin/env bash
# Keep-alive on both sides of xproxy's HTTP connection manager: sequential
# requests on one client connection ride one upstream connection
# (xp_upstream's conn_id constant, conn_requests increasing), later client
# connections reuse the worker's pool (upstream_cx_total never above the
# worker count), an upstream that closes is replaced, a client's
# "connection: close" does not cost the pooled upstream connection, and
# pipelined requests get their responses in order.
DIR=$(dirname "$0")
. "$DIR/stream_lib.sh"

# Checks that expose xproxy bugs not fixed yet (descriptions, exactly).
KNOWN_FAILURES=()

start_upstream up
start_xproxy
H="http://127.0.0.1:$HTTP_PORT"

# field NAME TEXT: every value of a JSON number field, space-separated.
field() {
    printf '%s' "$2" | grep -o "\"$1\":[0-9]*" | cut -d: -f2 | tr '\n' ' ' | sed 's/ $//'
}

out=$(curl -s --max-time 10 "$H/k/1" "$H/k/2" "$H/k/3" "$H/k/4" "$H/k/5")
ids=$(field conn_id "$out")
first_id=${ids%% *}
check "5 requests on one client connection: one upstream connection ($ids)" \
    eq "$ids" "$first_id $first_id $first_id $first_id $first_id"
check "conn_requests increases 1..5" eq "$(field conn_requests "$out")" "1 2 3 4 5"
check "upstream_cx_total is 1 after one client connection" eq "$(xstat cluster.up.upstream_cx_total)" 1
check "downstream_cx_total is 1" eq "$(xstat http.stream_http.downstream_cx_total)" 1
check "downstream_rq_total is 5" eq "$(xstat http.stream_http.downstream_rq_total)" 5
check "upstream_cx_active is 1 (pooled, idle)" eq "$(xstat cluster.up.upstream_cx_active)" 1

out=$(curl -s --max-time 10 "$H/k/6" "$H/k/7" "$H/k/8")
ids=$(field conn_id "$out")
if [ "$CONC" = 1 ]; then
    check "second client connection reuses the pooled upstream connection ($ids)" \
        eq "$ids" "$first_id $first_id $first_id"
    check "second client connection: conn_requests continues 6..8" \
        eq "$(field conn_requests "$out")" "6 7 8"
    check "upstream_cx_total still 1" eq "$(xstat cluster.up.upstream_cx_total)" 1
else
    set -- $ids
    check "second client connection: one upstream connection ($ids)" eq "$ids" "$1 $1 $1"
    n=$(xstat cluster.up.upstream_cx_total)
    check "upstream_cx_total ($n) at most 2 after two client connections" [ "$n" -le 2 ]
fi

# Many client connections in turn: at most one upstream connection per worker.
for i in $(seq 1 12); do
    curl -s --max-time 10 -o /dev/null -o /dev/null "$H/turn/$i" "$H/turn/$i/b"
done
n=$(xstat cluster.up.upstream_cx_total)
check "14 client connections in turn: upstream_cx_total ($n) <= workers ($CONC)" [ "$n" -le "$CONC" ]
check "downstream_cx_total is 14" eq "$(xstat http.stream_http.downstream_cx_total)" 14
check "every request answered 2xx" eq "$(xstat http.stream_http.downstream_rq_2xx)" 32

# The upstream closes after its response: the next request gets a new one.
out=$(curl -s --max-time 10 "$H/close" "$H/after-close")
ids=$(field conn_id "$out")
set -- $ids
check "after the upstream closed, the next request is answered (2 responses)" eq "$#" 2
check "after the upstream closed, a new upstream connection ($ids)" [ "${1:-0}" != "${2:-0}" ]
check "the new upstream connection starts at conn_requests 1" \
    eq "$(field conn_requests "$out" | cut -d' ' -f2)" 1

# A client "connection: close": xproxy closes the client connection, and the
# upstream connection goes back to the pool.
raw "$HTTP_PORT" < <(printf 'GET /cc/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
check "client connection: close -> 200" eq "$(first_status "$RAW_OUT")" 200
check "client connection: close -> response says connection: close" \
    contains "$(printf '%s' "$RAW_OUT" | tr 'A-Z' 'a-z')" "connection: close"
check "client connection: close -> xproxy closes the connection" eq "$RAW_END" eof
cc_id=$(field conn_id "$RAW_OUT")
if [ "$CONC" = 1 ]; then
    raw "$HTTP_PORT" < <(printf 'GET /cc/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
    check "upstream connection kept after a client's connection: close" \
        eq "$(field conn_id "$RAW_OUT")" "$cc_id"
fi

# Pipelining: requests written at once, answered in order.
raw "$HTTP_PORT" < <(printf 'GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
check "pipelined pair: two responses" eq "$(printf '%s' "$RAW_OUT" | grep -c '^HTTP/1.1 200')" 2
check "pipelined pair: in order" \
    eq "$(printf '%s' "$RAW_OUT" | grep -o '"path":"/p[0-9]"' | tr '\n' ' ')" '"path":"/p1" "path":"/p2" '
check "pipelined pair: closed after the second" eq "$RAW_END" eof
ids=$(field conn_id "$RAW_OUT")
set -- $ids
check "pipelined pair: one upstream connection ($ids)" eq "${1:-x}" "${2:-y}"

# A slow first request, a body in the middle, a third: still in order.
raw "$HTTP_PORT" < <(printf 'GET /delay/300 HTTP/1.1\r\nHost: a\r\n\r\nPOST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /p3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
check "pipelined slow/body/fast: three responses" \
    eq "$(printf '%s' "$RAW_OUT" | grep -c '^HTTP/1.1 200')" 3
order=$(printf '%s' "$RAW_OUT" | grep -o -e '"path":"/delay/300"' -e '"sha256":"[0-9a-f]*"' -e '"path":"/p3"' | tr '\n' ' ')
check "pipelined slow/body/fast: in order" eq "$order" \
    '"path":"/delay/300" "sha256":"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" "path":"/p3" '

# HTTP/1.0 client with keep-alive, then a plain HTTP/1.0 request.
raw "$HTTP_PORT" < <(printf 'GET /h10a HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /h10b HTTP/1.0\r\nHost: a\r\n\r\n')
check "HTTP/1.0 keep-alive: two responses" eq "$(printf '%s' "$RAW_OUT" | grep -c '^HTTP/1.1 200')" 2
check "HTTP/1.0 keep-alive: first response says keep-alive" \
    contains "$(printf '%s' "$RAW_OUT" | tr 'A-Z' 'a-z')" "connection: keep-alive"
check "HTTP/1.0 without keep-alive: closed after it" eq "$RAW_END" eof

# HTTP/1.0 allows a request without Host; the request xproxy sends upstream
# is HTTP/1.1, which must carry one (RFC 9112 §3.2): the listener's
# default_host_for_http_10 (h10.example) is used, as in Envoy.
raw "$HTTP_PORT" < <(printf 'GET /h10-no-host HTTP/1.0\r\n\r\n')
check "HTTP/1.0 without Host: 200" eq "$(first_status "$RAW_OUT")" 200
check "HTTP/1.0 without Host: sent upstream with default_host_for_http_10" \
    contains "$RAW_OUT" '"host":"h10.example"'

n=$(xstat cluster.up.upstream_cx_total)
check "after everything: upstream_cx_total ($n) <= workers + 2 replaced" [ "$n" -le $((CONC + 2)) ]
check "no request is active" wait_stat http.stream_http.downstream_rq_active 0
check "no client connection is active" wait_stat http.stream_http.downstream_cx_active 0

stop_xproxy
finish
