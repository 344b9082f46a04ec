#!/usr/bin/env bash
# xp_wsclient against xp_upstream on loopback: text and binary echo at every
# payload-length boundary (7/16/64-bit, RFC 6455 §5.2), fragmentation,
# client- and server-initiated closes, 50 concurrent connections, a hold
# period, and the failures that must make the client exit non-zero.
UPSTREAM=$1
WSCLIENT=$2
DIR=$(dirname "$0")
. "$DIR/lib.sh"

start_upstream "$UPSTREAM" ws1 || exit 1
U="ws://127.0.0.1:$UP_PORT"

# run ARGS...: runs the client; sets OUT (stdout), ERR (stderr), RC.
run() {
    OUT=$(timeout 60 "$WSCLIENT" "$@" 2>"$T_TMP/err")
    RC=$?
    ERR=$(cat "$T_TMP/err")
    [ "$RC" = 0 ] || echo "  (rc $RC) $OUT $ERR"
}
json_ok() {
    contains "$OUT" "\"sent\":$1,\"received\":$1,\"mismatches\":0,\"close_code\":$2,\"handshake_status\":101"
}

run --url "$U/ws" --text hello
check "text echo: exit 0" [ "$RC" = 0 ]
check "text echo: summary" json_ok 1 1000

run --url "$U/ws" --binary-size 0 --binary-size 125 --binary-size 126 --binary-size 65535 \
    --binary-size 65536 --binary-size 1048576 --text "" --text 'ünïcode "quoted"' --count 2
check "binary 0/125/126/65535/65536/1MiB + text, twice: exit 0" [ "$RC" = 0 ]
check "binary sizes: 16 messages verified" json_ok 16 1000

run --url "$U/any/path" --binary-size 300000 --text abcdefgh --fragment 1000 --count 3
check "fragmented messages (1000-byte frames) echo: exit 0" [ "$RC" = 0 ]
check "fragmented: summary" json_ok 6 1000

run --url "$U/ws?close_after=5" --text x --count 5 --expect-server-close
check "server-initiated close after 5: exit 0" [ "$RC" = 0 ]
check "server-initiated close: code 1000" json_ok 5 1000

run --url "$U/ws" --text x --count 3 --close-code 4001
check "client-initiated close 4001: exit 0" [ "$RC" = 0 ]
check "client-initiated close: server replied 4001" json_ok 3 4001

run --url "$U/ws" --text x --connections 50 --count 20 --interval-ms 10
check "50 connections x 20 messages, 10 ms apart: exit 0" [ "$RC" = 0 ]
check "50x20: summary" contains "$OUT" '"sent":1000,"received":1000,"mismatches":0,"close_code":1000,"handshake_status":101,"connections":50,"closed_early":0,"lost":0,"reordered":0'

run --url "$U/ws" --binary-size 2000 --text y --connections 10 --hold-ms 400 --interval-ms 20
check "hold 400 ms, 10 connections: exit 0" [ "$RC" = 0 ]
check "hold: lost/reordered 0" contains "$OUT" '"closed_early":0,"lost":0,"reordered":0'

stats=$(curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/stats")
check "upstream saw the WebSockets and none is left open" contains "$stats" '"ws_total":65,"ws_active":0}'

# Failures.
run --url "$U/status/400" --text x
check "bad handshake (400): non-zero exit" [ "$RC" != 0 ]
check "bad handshake: status in summary" contains "$OUT" '"handshake_status":400'
check "bad handshake: says why" contains "$ERR" "handshake failed: status 400"

run --url "$U/ws?close_after=2" --text x --count 5
check "unexpected server close: non-zero exit" [ "$RC" != 0 ]
check "unexpected server close: says so" contains "$ERR" "unexpected close"

run --url "$U/ws?close_after=2" --text x --connections 3 --interval-ms 10 --hold-ms 300
check "server closes during hold: non-zero exit" [ "$RC" != 0 ]
check "server closes during hold: closed_early counted" contains "$OUT" '"connections":3,"closed_early":3'

run --url "$U/ws" --text x --expect-server-close --timeout-ms 300
check "server never closes: non-zero exit" [ "$RC" != 0 ]
check "server never closes: timeout message" contains "$ERR" "timed out waiting for the server's close frame"

# A port nobody listens on.
"$UPSTREAM" --listen 127.0.0.1:0 --port-file "$T_TMP/dead" >/dev/null 2>&1 &
dead=$!
T_PIDS+=("$dead")
for _ in $(seq 1 100); do [ -s "$T_TMP/dead" ] && break; sleep 0.05; done
stop_pid "$dead" 5
run --url "ws://127.0.0.1:$(cat "$T_TMP/dead")/ws" --text x
check "connection refused: non-zero exit" [ "$RC" != 0 ]
check "connection refused: says so" contains "$ERR" "connect to 127.0.0.1"

run --url "http://127.0.0.1:$UP_PORT/ws"
check "non-ws URL: usage error" [ "$RC" = 2 ]

stop_pid "$UP_PID" 5
check "xp_upstream exits 0 on SIGTERM (rc $T_RC)" [ "$T_RC" = 0 ]
finish
