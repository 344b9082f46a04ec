#!/usr/bin/env bash
# use_remote_address + xff_num_trusted_hops: the trusted client is the Nth
# address from the right of x-forwarded-for; an external one is sent upstream
# as x-envoy-external-address, which a client can never set itself; the peer
# is appended to x-forwarded-for.
XPROXY=$1
UPSTREAM=$2
DIR=$(dirname "$0")
. "$DIR/lib.sh"

"$UPSTREAM" --listen 127.0.0.1:0 --port-file "$XP_TMP/up.port" >/dev/null 2>&1 &
XP_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$XP_TMP/up.port" ] && break; sleep 0.05; done
UP=$(head -1 "$XP_TMP/up.port")
cat >"$XP_TMP/b.yaml" <<EOF2
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: x
          use_remote_address: true
          xff_num_trusted_hops: 1
          route_config: { virtual_hosts: [{ name: a, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: up } }] }] }
          http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
  clusters:
  - name: up
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } }] }] }
EOF2
start_xproxy -c "$XP_TMP/b.yaml" --concurrency 1 || exit 1
P=$(listener_port l) || { not_ok "listener 'l' bound"; finish; }

out=$(curl -s -H 'x-forwarded-for: 10.0.0.9, 203.0.113.7' "http://127.0.0.1:$P/x")
check "external trusted client sent as x-envoy-external-address" contains "$out" '"x-envoy-external-address":"203.0.113.7"'
check "the peer is appended to x-forwarded-for" contains "$out" '"x-forwarded-for":"10.0.0.9, 203.0.113.7,127.0.0.1"'
out=$(curl -s -H 'x-forwarded-for: 203.0.113.7, 10.0.0.2' -H 'x-envoy-external-address: spoofed' "http://127.0.0.1:$P/x")
check "internal trusted client: no x-envoy-external-address" not_contains "$out" 'x-envoy-external-address'
out=$(curl -s -H 'x-envoy-external-address: spoofed' "http://127.0.0.1:$P/x")
check "no x-forwarded-for: the peer (loopback) is the client, spoofed header dropped" not_contains "$out" 'spoofed'

kill -TERM "$XP_PID"
if wait_exit "$XP_PID" 10; then check "exit 0 on SIGTERM" [ "$XP_RC" = 0 ]; else not_ok "still running"; fi
finish
