#!/usr/bin/env bash
# WebSocket through xproxy's HTTP connection manager (upgrade_configs:
# websocket): text and binary echo at the RFC 6455 length boundaries,
# fragmented messages, server- and client-initiated closes, 100 concurrent
# connections x 20 messages, a route with websocket disabled answering 403,
# and the upgrade gauges back at 0 once everything closed.
DIR=$(dirname "$0")
. "$DIR/stream_lib.sh"

# Checks that expose xproxy bugs not fixed yet (descriptions, exactly).
KNOWN_FAILURES=()

start_upstream up
start_xproxy
W="ws://127.0.0.1:$HTTP_PORT"

# run ARGS...: runs xp_wsclient; sets OUT (stdout), ERR (stderr), RC.
run() {
    OUT=$(timeout 60 "$XP_WSCLIENT" "$@" 2>"$SX_TMP/ws.err")
    RC=$?
    ERR=$(cat "$SX_TMP/ws.err")
    [ "$RC" = 0 ] || echo "  (rc $RC) $OUT ${ERR:0:600}"
}
json_ok() {
    contains "$OUT" "\"sent\":$1,\"received\":$1,\"mismatches\":0,\"close_code\":$2,\"handshake_status\":101"
}

run --url "$W/ws" --text hello
check "text echo through xproxy: exit 0" [ "$RC" = 0 ]
check "text echo: summary" json_ok 1 1000

run --url "$W/ws" --binary-size 0 --binary-size 125 --binary-size 126 --binary-size 65535 \
    --binary-size 65536 --binary-size 1048576 --text "" --text 'ünïcode "quoted"' --count 2
check "binary 0/125/126/65535/65536/1MiB + text, twice: exit 0" [ "$RC" = 0 ]
check "binary sizes: 16 messages verified" json_ok 16 1000

run --url "$W/ws" --binary-size 300000 --text abcdefgh --fragment 1000 --count 3
check "fragmented messages (1000-byte frames): exit 0" [ "$RC" = 0 ]
check "fragmented: summary" json_ok 6 1000

run --url "$W/ws?close_after=5" --text x --count 5 --expect-server-close
check "server-initiated close after 5 messages: exit 0" [ "$RC" = 0 ]
check "server-initiated close: code 1000" json_ok 5 1000

run --url "$W/ws" --text x --count 3 --close-code 4001
check "client-initiated close 4001: exit 0" [ "$RC" = 0 ]
check "client-initiated close: the upstream's reply reached the client" json_ok 3 4001

run --url "$W/ws" --text x --binary-size 700 --connections 100 --count 20 --interval-ms 10
check "100 connections x 20 rounds: exit 0" [ "$RC" = 0 ]
check "100x20: nothing lost, reordered or closed early" contains "$OUT" \
    '"sent":4000,"received":4000,"mismatches":0,"close_code":1000,"handshake_status":101,"connections":100,"closed_early":0,"lost":0,"reordered":0'

# A route with websocket disabled (route-level upgrade_configs enabled: false).
run --url "$W/nows/ws" --text x
check "websocket on a route that disables it: client fails" [ "$RC" != 0 ]
check "websocket on a route that disables it: 403" contains "$OUT" '"handshake_status":403'
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "http://127.0.0.1:$HTTP_PORT/nows/ws")
check "upgrade request on that route (curl): 403" eq "$code" 403
check "downstream_rq_ws_on_non_ws_route counted" \
    eq "$(xstat http.stream_http.downstream_rq_ws_on_non_ws_route)" 2
out=$(curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/nows/plain")
check "the same route still serves plain HTTP" contains "$out" '"path":"/plain"'

# An upgrade the upstream refuses: the response is relayed, no tunnel.
run --url "$W/status/404" --text x
check "upgrade refused upstream (404): relayed" contains "$OUT" '"handshake_status":404'

check "downstream_cx_upgrades_total is 105" eq "$(xstat http.stream_http.downstream_cx_upgrades_total)" 105
check "downstream_cx_upgrades_active back to 0" wait_stat http.stream_http.downstream_cx_upgrades_active 0
check "downstream_cx_active back to 0" wait_stat http.stream_http.downstream_cx_active 0
stats=$(curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/stats")
check "upstream saw 105 WebSockets, none open" contains "$stats" '"ws_total":105,"ws_active":0'
pooled=$(xstat cluster.up.upstream_cx_active)
check "upstream: open connections = xproxy's pooled ($pooled) + the /stats one" \
    contains "$stats" "\"connections_active\":$((pooled + 1)),"
stop_xproxy
finish
