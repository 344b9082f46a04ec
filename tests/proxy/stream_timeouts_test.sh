#!/usr/bin/env bash
# The HTTP connection manager's timeouts and the upstream pool's idle
# timeout, on the template's http_to listener (connection idle_timeout,
# request_headers_timeout and stream_idle_timeout all 1 s) in front of the
# up_idle cluster (idle_timeout 1 s):
# - requests every 0.4 s for 2.4 s keep one client connection and one pooled
#   upstream connection: activity moves each timeout on;
# - once idle, both are closed by their idle timeouts, not before 1 s;
# - a head that stops arriving is closed by request_headers_timeout;
# - an upstream that answers after 3 s gets the client a 408 after 1 s.
# Each closing is counted in its own stat.
DIR=$(dirname "$0")
. "$DIR/stream_lib.sh"

start_upstream up
start_xproxy

# ka_get FD PATH: one GET on the open connection FD; prints its status code
# (nothing when the connection is gone).
ka_get() {
    printf 'GET %s HTTP/1.1\r\nhost: t\r\n\r\n' "$2" >&"$1" 2>/dev/null || return 0
    local line len=0 status
    IFS= read -r -t 5 line <&"$1" || return 0
    status=$(echo "$line" | cut -d' ' -f2)
    while IFS= read -r -t 5 line <&"$1"; do
        line=${line%$'\r'}
        [ -z "$line" ] && break
        case ${line,,} in content-length:*) len=${line#*: } ;; esac
    done
    [ "$len" -gt 0 ] && read -r -N "$len" -t 5 _ <&"$1"
    echo "$status"
}

# wait_close FD T0: waits up to 6 s for the peer to close FD; sets CLOSE_RC
# (1: closed; above 128: still open) and CLOSE_MS (ms from T0 to then).
wait_close() {
    IFS= read -r -t 6 _ <&"$1"
    CLOSE_RC=$?
    CLOSE_MS=$(($(now_ms) - $2))
}

S=http.stream_http_to
C=cluster.up_idle

# ---- activity keeps both connections; idleness closes them ----------------
exec 3<>"/dev/tcp/127.0.0.1/$HTTP_TO_PORT"
codes=""
for i in 1 2 3 4 5 6; do
    codes="$codes$(ka_get 3 "/bytes/$i") "
    [ "$i" -lt 6 ] && sleep 0.4
done
t_last=$(now_ms)
check "6 requests 0.4 s apart on one connection all answered ($codes)" eq "$codes" "200 200 200 200 200 200 "
check "one client connection" eq "$(xstat $S.downstream_cx_total)" 1
check "one upstream connection, pooled between the requests" eq "$(xstat $C.upstream_cx_total)" 1
check "no connection idle timeout yet" eq "$(xstat $S.downstream_cx_idle_timeout)" 0
check "no upstream idle timeout yet" eq "$(xstat $C.upstream_cx_idle_timeout)" 0
wait_close 3 "$t_last"
exec 3<&-
check "the idle client connection is closed (read rc $CLOSE_RC)" [ "$CLOSE_RC" = 1 ]
check "not before 1 s of idleness ($CLOSE_MS ms)" [ "$CLOSE_MS" -ge 900 ]
check "counted in downstream_cx_idle_timeout" wait_stat $S.downstream_cx_idle_timeout 1
check "the idle upstream connection is closed: upstream_cx_idle_timeout" \
    wait_stat $C.upstream_cx_idle_timeout 1
check "no upstream connection left" wait_stat $C.upstream_cx_active 0

# ---- request_headers_timeout -----------------------------------------------
exec 4<>"/dev/tcp/127.0.0.1/$HTTP_TO_PORT"
printf 'GET /bytes/5 HTTP/1.1\r\nhost: t\r\n' >&4
wait_close 4 "$(now_ms)"
exec 4<&-
check "a head that stops arriving is closed (read rc $CLOSE_RC)" [ "$CLOSE_RC" = 1 ]
check "not before 1 s ($CLOSE_MS ms)" [ "$CLOSE_MS" -ge 900 ]
check "counted in downstream_rq_header_timeout" wait_stat $S.downstream_rq_header_timeout 1
check "not as a connection idle timeout" eq "$(xstat $S.downstream_cx_idle_timeout)" 1

# ---- stream_idle_timeout ---------------------------------------------------
out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 10 \
    "http://127.0.0.1:$HTTP_TO_PORT/delay/3000")
code=${out%% *}
secs=${out#* }
check "an upstream silent for 3 s: 408 ($code)" eq "$code" 408
check "after 1 s, not before ($secs s)" awk -v s="$secs" 'BEGIN { exit !(s >= 0.9 && s < 2.9) }'
check "counted in downstream_rq_idle_timeout" wait_stat $S.downstream_rq_idle_timeout 1

# ---- an upgraded connection's idle timeout (stream_idle_timeout) -----------
t0=$(now_ms)
out=$(timeout 20 "$XP_WSCLIENT" --url "ws://127.0.0.1:$HTTP_TO_PORT/ws" --text x --count 6 \
    --interval-ms 400 --expect-server-close --timeout-ms 8000 2>&1)
ms=$(($(now_ms) - t0))
echo "$out"
check "a WebSocket echoing every 0.4 s for 2 s stays open: 6 echoes" \
    contains "$out" '"sent":6,"received":6,"mismatches":0'
check "then idle, it is closed, after 1 s ($ms ms in all)" [ "$ms" -ge 2900 ]
check "counted in downstream_rq_idle_timeout, as Envoy counts it" \
    wait_stat $S.downstream_rq_idle_timeout 2

stop_xproxy
finish
