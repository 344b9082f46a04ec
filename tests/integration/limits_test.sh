#!/usr/bin/env bash
# Limits: a listener's connection limit from the runtime key Envoy documents
# (envoy.resource_limits.listener.<name>.connection_limit, static layer, and
# an admin layer override through POST /runtime_modify), and the
# max_pending_requests and max_retries circuit breakers.
XPROXY=$1
UPSTREAM=$2
DIR=$(dirname "$0")
. "$DIR/lib.sh"

"$UPSTREAM" --listen 127.0.0.1:0 --port-file "$XP_TMP/up.port" >/dev/null 2>&1 &
XP_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$XP_TMP/up.port" ] && break; sleep 0.05; done
UP=$(head -1 "$XP_TMP/up.port")

hcm() { # stat_prefix cluster retry
    cat <<EOF2
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: $1
          route_config:
            virtual_hosts:
            - name: a
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: $2 $3 }
          http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
EOF2
}
cat >"$XP_TMP/b.yaml" <<EOF3
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
layered_runtime:
  layers:
  - name: static
    static_layer:
      envoy.resource_limits.listener.limited.connection_limit: 2
  - name: admin
    admin_layer: {}
static_resources:
  listeners:
  - name: limited
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
$(hcm lim nopend "")
  - name: retries
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
$(hcm ret noretry ", retry_policy: { retry_on: 5xx, num_retries: 3 }")
  clusters:
  - name: nopend
    circuit_breakers: { thresholds: [{ max_pending_requests: 0 }] }
    load_assignment: { cluster_name: nopend, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } }] }] }
  - name: noretry
    circuit_breakers: { thresholds: [{ max_retries: 0 }] }
    load_assignment: { cluster_name: noretry, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } }] }] }
EOF3
start_xproxy -c "$XP_TMP/b.yaml" --concurrency 2 || exit 1
P1=$(listener_port limited) || { not_ok "listener 'limited' bound"; finish; }
P2=$(listener_port retries) || { not_ok "listener 'retries' bound"; finish; }
stat() { curl -s "http://$XP_ADMIN/stats?filter=$1" | sed -n "s/^$1: //p"; }

# max_pending_requests 0: a request that needs a new connection overflows.
out=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$P1/x")
check "max_pending_requests: 503" contains "$out" " 503"
check "max_pending_requests: Envoy's overflow text" contains "$out" "reset reason: overflow"
check "max_pending_requests: upstream_rq_pending_overflow" [ "$(stat cluster.nopend.upstream_rq_pending_overflow)" = 1 ]

# max_retries 0: a 503 the policy would retry passes through unretried.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P2/status/503")
check "max_retries: the upstream's 503 passes through" [ "$code" = 503 ]
check "max_retries: no retry" [ "$(stat cluster.noretry.upstream_rq_retry)" = 0 ]
check "max_retries: upstream_rq_retry_overflow" [ "$(stat cluster.noretry.upstream_rq_retry_overflow)" = 1 ]

# connection_limit 2: two open connections, the third is refused.
exec 3<>"/dev/tcp/127.0.0.1/$P1"
exec 4<>"/dev/tcp/127.0.0.1/$P1"
sleep 0.3
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$P1/x")
check "connection_limit: the third connection is closed" [ "$code" = 000 ]
check "connection_limit: downstream_cx_overflow" [ "$(stat "listener.127.0.0.1_$P1.downstream_cx_overflow")" -ge 1 ]
# The admin layer overrides the static limit for the next accepts.
KEY=envoy.resource_limits.listener.limited.connection_limit
mod=$(curl -s -X POST "http://$XP_ADMIN/runtime_modify?$KEY=3")
check "runtime_modify: OK" [ "$mod" = OK ]
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$P1/x")
check "connection_limit: an admin override to 3 lets the third connection in" [ "$code" != 000 ]
rt=$(curl -s "http://$XP_ADMIN/runtime" | tr -d ' \n')
check "/runtime: the static value and the override" contains "$rt" "\"$KEY\":{\"final_value\":\"3\",\"layer_values\":[\"2\",\"3\"]}"
curl -s -X POST "http://$XP_ADMIN/runtime_modify?$KEY=" >/dev/null
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$P1/x")
check "connection_limit: removing the override brings the static 2 back" [ "$code" = 000 ]
exec 3>&-
sleep 0.3
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$P1/x")
check "connection_limit: room again once one closes" [ "$code" != 000 ]
exec 4>&-

kill -TERM "$XP_PID"
if wait_exit "$XP_PID" 10; then check "exit 0 on SIGTERM" [ "$XP_RC" = 0 ]; else not_ok "still running"; fi
finish
