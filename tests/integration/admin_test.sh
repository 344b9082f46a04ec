#!/usr/bin/env bash
# Runs the real binary on a valid bootstrap and talks to its admin server:
# every endpoint, method checks, binding only to the configured address,
# --config-yaml merging and CLI node overrides, and clean exits on
# /quitquitquit and SIGTERM (under ASan a leak makes the exit code non-zero).
XPROXY=$1
DIR=$(dirname "$0")
. "$DIR/lib.sh"

get() { curl -s --max-time 5 "http://$XP_ADMIN$1"; }
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

start_xproxy -c "$DIR/good/basic.yaml" --concurrency 2 \
    --config-yaml 'node: {id: merged-node}' --service-cluster cli-cluster || exit 1

check "/ready is 200" [ "$(status "http://$XP_ADMIN/ready")" = 200 ]
check "/ready says LIVE" contains "$(get /ready)" "LIVE"

info=$(get /server_info)
check "/server_info state LIVE" contains "$info" '"state": "LIVE"'
check "/server_info concurrency" contains "$info" '"concurrency": 2'
check "--config-yaml merged over the file (node.id)" contains "$info" '"id":"merged-node"'
check "--service-cluster overrides node.cluster" contains "$info" '"cluster":"cli-cluster"'

stats=$(get /stats)
check "/stats server.live" contains "$stats" "server.live: 1"
check "/stats server.concurrency" contains "$stats" "server.concurrency: 2"
check "/stats server.state LIVE=0" contains "$stats" "server.state: 0"
check "/stats?format=json" contains "$(get '/stats?format=json')" '{"name":"server.live","value":1}'
check "/stats?filter" [ "$(get '/stats?filter=concurrency')" = "server.concurrency: 2" ]
# filter is a regular expression searched for in each name, as in Envoy
# (percent-encoded in the query).
check "/stats?filter is a regex (^server\\.(live|concurrency)\$)" \
    [ "$(get '/stats?filter=%5Eserver%5C.(live%7Cconcurrency)%24')" = "$(printf 'server.concurrency: 2\nserver.live: 1')" ]
check "/stats?filter with format=json" \
    [ "$(get '/stats?format=json&filter=%5Eserver%5C.live%24')" = '{"stats":[{"name":"server.live","value":1}]}' ]
check "/stats/prometheus?filter" \
    [ "$(get '/stats/prometheus?filter=%5Eserver%5C.live%24')" = "$(printf '# TYPE envoy_server_live gauge\nenvoy_server_live{} 1')" ]
check "/stats?filter: a bad regex is a 400" [ "$(status "http://$XP_ADMIN/stats?filter=(live")" = 400 ]
check "/stats?filter: ... naming the filter and the problem" \
    contains "$(get '/stats?filter=(live')" "filter '(live' is not a valid regular expression: missing closing parenthesis"
# A request line without spaces, a later line with one: 400, and the
# server goes on (the space used to be looked for past the request line).
exec 3<>"/dev/tcp/${XP_ADMIN%:*}/${XP_ADMIN##*:}"
printf 'GET\r\nA: b\r\n\r\n' >&3
resp=$(timeout 5 cat <&3 | tr -d '\r' | head -1)
exec 3<&-
check "a request line without spaces is a 400" contains "$resp" "HTTP/1.1 400"
check "... and the admin still answers" [ "$(status "http://$XP_ADMIN/ready")" = 200 ]
prom=$(get /stats/prometheus)
check "/stats/prometheus TYPE line" contains "$prom" "# TYPE envoy_server_live gauge"
check "/stats/prometheus sample" contains "$prom" "envoy_server_live{} 1"

dump=$(get /config_dump)
check "/config_dump bootstrap" contains "$dump" '"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"'
check "/config_dump static listener" contains "$dump" '"@type": "type.googleapis.com/envoy.config.listener.v3.Listener"'
check "/config_dump static cluster" contains "$dump" '"name": "xds_cluster"'
check "/config_dump snake_case names" contains "$dump" '"connect_timeout": "0.250s"'
ldump=$(get '/config_dump?resource=static_listeners')
check "/config_dump?resource filters" [ "${ldump#*BootstrapConfigDump}" = "$ldump" ]
check "/config_dump?resource keeps the listeners" contains "$ldump" "ingress_tcp"

check "/listeners" contains "$(get /listeners)" "ingress_http::127.0.0.1:"
check "/listeners?format=json" contains "$(get '/listeners?format=json')" '"name":"ingress_tcp"'
cl=$(get /clusters)
check "/clusters circuit breakers" contains "$cl" "backend::default_priority::max_connections::2048"
check "/clusters hosts" contains "$cl" "backend::127.0.0.1:18081::weight::3"
check "/help lists endpoints" contains "$(get /help)" "/config_dump"
check "unknown path is 404" [ "$(status "http://$XP_ADMIN/nope")" = 404 ]
check "GET /quitquitquit is refused" [ "$(status "http://$XP_ADMIN/quitquitquit")" = 405 ]

port=${XP_ADMIN##*:}
check "admin bound only to 127.0.0.1 (127.0.0.2 refused)" \
    [ "$(status "http://127.0.0.2:$port/ready")" = 000 ]

check "POST /quitquitquit answers OK" contains "$(curl -s -X POST --max-time 5 "http://$XP_ADMIN/quitquitquit")" "OK"
if wait_exit "$XP_PID" 10; then
    check "exit code 0 after /quitquitquit" [ "$XP_RC" = 0 ]
else
    not_ok "xproxy still running 10 s after /quitquitquit"
fi
check "log says it exits cleanly" contains "$(cat "$XP_TMP/xproxy.log")" "exiting"

# SIGTERM with 4 workers and an open idle admin connection.
start_xproxy -c "$DIR/good/basic.yaml" --concurrency 4 || exit 1
exec 3<>"/dev/tcp/${XP_ADMIN%:*}/${XP_ADMIN##*:}"
kill -TERM "$XP_PID"
if wait_exit "$XP_PID" 10; then
    check "exit code 0 after SIGTERM" [ "$XP_RC" = 0 ]
else
    not_ok "xproxy still running 10 s after SIGTERM"
fi
exec 3>&-

# JSON bootstrap with camelCase names serves too.
start_xproxy -c "$DIR/good/camel.json" --concurrency 1 || exit 1
check "JSON bootstrap: node id" contains "$(get /server_info)" '"id":"json-node"'
kill -INT "$XP_PID"
if wait_exit "$XP_PID" 10; then
    check "exit code 0 after SIGINT" [ "$XP_RC" = 0 ]
else
    not_ok "xproxy still running 10 s after SIGINT"
fi

# An admin access logger xproxy does not implement (the gRPC access log
# service): accepted with a warning naming it, and counted in
# server.access_logs_unimplemented with the listeners' (basic.yaml has none).
ALS='{name: envoy.access_loggers.http_grpc, typed_config: {"@type": type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig, common_config: {log_name: a, transport_api_version: V3, grpc_service: {envoy_grpc: {cluster_name: als}}}}}'
start_xproxy -c "$DIR/good/basic.yaml" --concurrency 1 --config-yaml "admin: {access_log: [$ALS]}" ||
    exit 1
check "admin ALS logger: counted in server.access_logs_unimplemented" \
    [ "$(get '/stats?filter=%5Eserver.access_logs_unimplemented%24')" = "server.access_logs_unimplemented: 1" ]
check "admin ALS logger: the warning names the field" \
    contains "$(cat "$XP_TMP/xproxy.log")" "admin.access_log[0].typed_config: access logger 'envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig' is not implemented"
stop_checked "$XP_PID" "$XP_TMP/xproxy.log" "xproxy with an admin ALS logger"

# Admin port in use: a clear error, non-zero exit.
start_xproxy -c "$DIR/good/basic.yaml" --concurrency 1 || exit 1
busy=${XP_ADMIN##*:}
out=$(timeout 10 "$XPROXY" -c "$DIR/good/basic.yaml" --concurrency 1 \
    --config-yaml "admin: {address: {socket_address: {address: 127.0.0.1, port_value: $busy}}}" 2>&1)
rc=$?
check "admin address in use: non-zero exit" [ "$rc" -ne 0 ]
check "admin address in use: says so" contains "$out" "address already in use"
kill -TERM "$XP_PID"
wait_exit "$XP_PID" 10

finish
