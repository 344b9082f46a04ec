#!/usr/bin/env bash
# xp_upstream over real sockets: keep-alive reuse (conn_id/conn_requests),
# HTTP/1.0 and Connection: close, pipelining, streamed uploads (chunked and
# Content-Length + 100-continue) hashed like sha256sum, a 100 MiB streamed
# download in bounded memory, every endpoint, WebSocket handshake errors,
# and a clean exit on SIGTERM (under ASan a leak makes it non-zero).
UPSTREAM=$1
DIR=$(dirname "$0")
. "$DIR/lib.sh"

start_upstream "$UPSTREAM" up1 || exit 1
B="http://127.0.0.1:$UP_PORT"
c() { curl -s --max-time 20 "$@"; }

# Two listeners, both ports in the port file.
"$UPSTREAM" --listen 127.0.0.1:0 --listen 127.0.0.1:0 --port-file "$T_TMP/two" >/dev/null 2>&1 &
TWO=$!
T_PIDS+=("$TWO")
for _ in $(seq 1 100); do [ -s "$T_TMP/two" ] && break; sleep 0.05; done
check "--port-file lists both listeners" [ "$(wc -l <"$T_TMP/two")" = 2 ]
ok2=0
for p in $(cat "$T_TMP/two"); do
    contains "$(c "http://127.0.0.1:$p/x")" '"conn_requests":1' >/dev/null && ok2=$((ok2 + 1))
done
check "both listeners answer" [ "$ok2" = 2 ]
stop_pid "$TWO" 5
check "second instance exits 0 on SIGTERM" [ "$T_RC" = 0 ]

# Keep-alive: curl reuses one connection for two URLs.
out=$(c "$B/echo/a?q=1" "$B/echo/b" -H 'X-Multi: 1' -H 'X-Multi: 2')
l1=$(echo "$out" | sed -n 1p)
l2=$(echo "$out" | sed -n 2p)
id1=$(echo "$l1" | sed -n 's/.*"conn_id":\([0-9]*\).*/\1/p')
id2=$(echo "$l2" | sed -n 's/.*"conn_id":\([0-9]*\).*/\1/p')
check "echo: server name" contains "$l1" '"server":"up1"'
check "echo: method and full target" contains "$l1" '"method":"GET","path":"/echo/a?q=1"'
check "echo: repeated headers joined" contains "$l1" '"x-multi":"1,2"'
check "keep-alive: first request is #1" contains "$l1" '"conn_requests":1'
check "keep-alive: second request is #2" contains "$l2" '"conn_requests":2'
check "keep-alive: same conn_id ($id1 = $id2)" [ -n "$id1" -a "$id1" = "$id2" ]

# HTTP/1.0 without keep-alive: one request per connection.
out=$(c -0 "$B/echo/a" "$B/echo/b")
check "HTTP/1.0: a new connection per request" [ "$(echo "$out" | grep -c '"conn_requests":1')" = 2 ]
out=$(c -0 -H 'Connection: keep-alive' -D - "$B/echo/a" "$B/echo/b")
check "HTTP/1.0 keep-alive: reused" contains "$out" '"conn_requests":2'
check "HTTP/1.0 keep-alive: announced" contains "$out" "connection: keep-alive"
hdrs=$(c -D - -o /dev/null -H 'Connection: close' "$B/echo")
check "Connection: close is honoured" contains "$hdrs" "connection: close"

# Uploads: chunked and Content-Length (with Expect: 100-continue).
head -c 3000001 /dev/urandom >"$T_TMP/up.bin"
want=$(sha256sum "$T_TMP/up.bin" | cut -d' ' -f1)
out=$(c -H 'Transfer-Encoding: chunked' --data-binary @"$T_TMP/up.bin" "$B/upload")
check "chunked upload: sha256 matches sha256sum" contains "$out" "\"body_bytes\":3000001,\"sha256\":\"$want\""
out=$(c -v -H 'Expect: 100-continue' --data-binary @"$T_TMP/up.bin" "$B/upload" 2>"$T_TMP/curl.err")
check "Content-Length upload: sha256 matches" contains "$out" "\"sha256\":\"$want\""
check "Expect: 100-continue gets 100 Continue" contains "$(cat "$T_TMP/curl.err")" "HTTP/1.1 100 Continue"
out=$(c --data-binary @"$T_TMP/up.bin" "$B/upload?digest=none")
check "upload?digest=none: counted, not hashed" [ "$out" = '{"body_bytes":3000001}' ]
out=$(c --data-binary @"$T_TMP/up.bin" "$B/echo/post")
check "echo counts the request body" contains "$out" '"method":"POST","path":"/echo/post"'
check "echo body_bytes" contains "$out" '"body_bytes":3000001'

# 100 MiB streamed with backpressure: counted by curl, bounded RSS.
n=$(c "$B/bytes/104857600" | wc -c)
check "/bytes/104857600 delivers 104857600 bytes ($n)" [ "$n" = 104857600 ]
n=$(c "$B/bytes/10485760?chunked=1" | wc -c)
check "/bytes?chunked=1 delivers 10485760 bytes ($n)" [ "$n" = 10485760 ]
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$UP_PID/status")
check "xp_upstream peak RSS ${hwm} kB < 32 MiB" [ "$hwm" -lt 32768 ]
check "/bytes pattern" [ "$(c "$B/bytes/70")" = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-
012345" ]
hdrs=$(c -I "$B/bytes/1000")
check "HEAD /bytes: Content-Length, no body" contains "$hdrs" "content-length: 1000"
for n in 0 7 128 1048576; do
    hdrs=$(c -D - -o "$T_TMP/b.out" -H 'Connection: close' "$B/bytes/$n")
    lines=$(echo "$hdrs" | tr -d '\r' | grep -c -x -e "content-length: $n" -e "connection: close")
    check "GET /bytes/$n: content-length: $n, connection: close, $n bytes" \
        [ "$lines:$(wc -c <"$T_TMP/b.out")" = "2:$n" ]
done

# Status codes.
check "/status/503 status" [ "$(c -o /dev/null -w '%{http_code}' "$B/status/503")" = 503 ]
check "/status/503 body" [ "$(c "$B/status/503")" = "status 503" ]
hdrs=$(c -D - "$B/status/204")
check "/status/204 has no body or length" [ "$(echo "$hdrs" | grep -ci content-length)" = 0 ]
check "/status/99 is a 400" [ "$(c -o /dev/null -w '%{http_code}' "$B/status/99")" = 400 ]

# Pipelining: two requests in one write, two responses in order.
pipelined() {
    exec 3<>"/dev/tcp/127.0.0.1/$UP_PORT" || return 1
    printf 'GET /echo/one HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo/two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc' >&3
    timeout 5 cat <&3
    exec 3<&-
}
out=$(pipelined)
first=$(echo "$out" | grep -n '"path":"/echo/one"' | cut -d: -f1)
second=$(echo "$out" | grep -n '"path":"/echo/two"' | cut -d: -f1)
check "pipelining: two responses" [ "$(echo "$out" | grep -c '^HTTP/1.1 200')" = 2 ]
check "pipelining: in order" [ "${first:-9}" -lt "${second:-0}" ]
check "pipelining: same connection, #2" contains "$out" '"body_bytes":3,"conn_id"'
check "pipelining: second is conn_requests 2" contains "$(echo "$out" | grep /echo/two)" '"conn_requests":2'

# Other endpoints.
t0=$(date +%s%N)
out=$(c "$B/delay/300")
t1=$(date +%s%N)
check "/delay/300 waits >= 300 ms" [ $(((t1 - t0) / 1000000)) -ge 300 ]
check "/delay answers with the echo" contains "$out" '"path":"/delay/300"'
hdrs=$(c -D - -o /dev/null "$B/headers?set=X-Test:yes&set=X-Two:a%20b")
check "/headers adds X-Test" contains "$hdrs" "X-Test:yes"
check "/headers percent-decodes" contains "$hdrs" "X-Two:a b"
check "/headers rejects a bad name" [ "$(c -o /dev/null -w '%{http_code}' "$B/headers?set=Bad%20Name:x")" = 400 ]
hdrs=$(c -D - -o /dev/null "$B/close")
check "/close answers with Connection: close" contains "$hdrs" "connection: close"
c "$B/reset" >/dev/null
rc=$?
check "/reset: no response (curl rc $rc)" contains " 52 56 " " $rc "
stats=$(c "$B/stats")
check "/stats fields" contains "$stats" '"connections_active":1,"requests_total":'
check "/stats ws fields" contains "$stats" '"ws_total":0,"ws_active":0}'

# WebSocket handshakes (RFC 6455 §4.2.1, §4.2.2).
wsh() { c -o /dev/null -w '%{http_code}' --max-time 2 -H 'Connection: Upgrade' -H 'Upgrade: websocket' "$@"; }
check "/ws without Upgrade is 400" [ "$(c -o /dev/null -w '%{http_code}' "$B/ws")" = 400 ]
check "bad Sec-WebSocket-Key is 400" [ "$(wsh -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: short' "$B/ws")" = 400 ]
check "missing Sec-WebSocket-Key is 400" [ "$(wsh -H 'Sec-WebSocket-Version: 13' "$B/ws")" = 400 ]
check "Sec-WebSocket-Version 8 is 426" [ "$(wsh -H 'Sec-WebSocket-Version: 8' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$B/ws")" = 426 ]
hdrs=$(c -D - -o /dev/null --max-time 1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$B/any/path")
check "upgrade on any path: 101 with the RFC 6455 §1.3 sample accept" \
    contains "$hdrs" "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# Malformed request: 400 and close.
out=$(exec 3<>"/dev/tcp/127.0.0.1/$UP_PORT"; printf 'GET / HTTP/1.1\nHost: a\n\n' >&3; timeout 5 cat <&3)
check "bare LF request is 400" contains "$out" "HTTP/1.1 400"

# SIGTERM with an idle keep-alive connection open.
exec 4<>"/dev/tcp/127.0.0.1/$UP_PORT"
printf 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n' >&4
sleep 0.2
stop_pid "$UP_PID" 5
check "exits 0 on SIGTERM with a connection open (rc $T_RC)" [ "$T_RC" = 0 ]
exec 4<&-
finish
