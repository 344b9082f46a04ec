#!/usr/bin/env bash
# The promise, seen from the stats, and the drain: WebSockets opened on one
# listener generation keep running after the listener is replaced (counted in
# downstream_cx_old_config, their config objects in server.config.*_alive),
# an idle keep-alive connection moves to the new chain, and SIGTERM stops
# accepting, lets the WebSockets finish, and exits as soon as none is left.
XPROXY=$1
UPSTREAM=$2
WSCLIENT=$3
DIR=$(dirname "$0")
. "$DIR/lib.sh"

"$UPSTREAM" --listen 127.0.0.1:0 --port-file "$XP_TMP/up.port" >/dev/null 2>&1 &
XP_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$XP_TMP/up.port" ] && break; sleep 0.05; done
UP=$(head -1 "$XP_TMP/up.port")

lds() { # version stat_prefix
    cat >"$XP_TMP/lds.new" <<EOF2
version_info: "$1"
resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: ide
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  filter_chains:
  - filters:
    - name: hcm
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: $2
        upgrade_configs: [{ upgrade_type: websocket }]
        route_config: { virtual_hosts: [{ name: a, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up, timeout: 0s } }] }] }
        http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
EOF2
    mv "$XP_TMP/lds.new" "$XP_TMP/lds.yaml"
}
lds 1 gen1
cat >"$XP_TMP/boot.yaml" <<EOF3
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  lds_config: { path_config_source: { path: $XP_TMP/lds.yaml } }
  cds_config: { path_config_source: { path: $XP_TMP/cds.yaml } }
EOF3
cat >"$XP_TMP/cds.yaml" <<EOF4
version_info: "1"
resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: up
  load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } }] }] }
EOF4
start_xproxy -c "$XP_TMP/boot.yaml" --concurrency 2 --drain-time-s 30 || exit 1
P=$(listener_port ide) || { not_ok "listener 'ide' bound"; finish; }
stat() { curl -s "http://$XP_ADMIN/stats?filter=$1" | sed -n "s/^$1: //p"; }
wait_stat() { # name value
    for _ in $(seq 1 100); do [ "$(stat "$1")" = "$2" ] && return 0; sleep 0.05; done
    return 1
}
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$P/" && break; sleep 0.05; done

"$WSCLIENT" --url "ws://127.0.0.1:$P/ws" --connections 3 --interval-ms 100 --hold-ms 4000 \
    --text m >"$XP_TMP/ws.out" 2>&1 &
WS=$!
exec 3<>"/dev/tcp/127.0.0.1/$P"
printf 'GET /a HTTP/1.1\r\nHost: a\r\n\r\n' >&3
sleep 0.8
check "nothing on an old generation yet" [ "$(stat "listener.127.0.0.1_$P.downstream_cx_old_config")" = 0 ]
check "one listener alive" [ "$(stat server.config.listeners_alive)" = 1 ]

lds 2 gen2 # the listener is replaced (same name and address)
check "3 WebSockets counted on the old generation" wait_stat "listener.127.0.0.1_$P.downstream_cx_old_config" 3
check "the old listener object stays alive for them" [ "$(stat server.config.listeners_alive)" = 2 ]
check "the listener kept its socket (new connections served)" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/b")" = 200 ]
before=$(stat http.gen2.downstream_rq_total)
printf 'GET /c HTTP/1.1\r\nHost: a\r\n\r\n' >&3
sleep 0.5
check "the idle keep-alive connection's next request runs on the new chain" \
    [ "$(stat http.gen2.downstream_rq_total)" = "$((${before:-0} + 1))" ]

kill -TERM "$XP_PID"
sleep 0.5
check "draining: new connections are refused" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$P/d")" = 000 ]
wait "$WS"
ws_rc=$?
check "WebSockets ran to their end through the change and the drain" [ "$ws_rc" = 0 ]
check "no WebSocket closed early" contains "$(cat "$XP_TMP/ws.out")" '"closed_early":0,"lost":0,"reordered":0'
if wait_exit "$XP_PID" 10; then
    check "exit 0 as soon as no connection is left (not after --drain-time-s 30)" [ "$XP_RC" = 0 ]
else
    not_ok "xproxy still running after its connections ended"
fi
exec 3>&-
finish
