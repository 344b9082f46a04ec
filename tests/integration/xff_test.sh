#!/usr/bin/env bash
# Envoy's request header sanitizing, by what the upstream receives:
# - the trusted client address (use_remote_address + xff_num_trusted_hops: the
#   Nth address from the right of x-forwarded-for), sent as
#   x-envoy-external-address on an edge request, whatever the client said;
# - internal or external (with use_remote_address: no x-forwarded-for and an
#   internal peer; without: an x-forwarded-for of one internal address),
#   internal_address_config deciding what is internal;
# - x-envoy-internal: true only when xproxy says so, also for route matching;
# - external requests lose the internal-only x-envoy-* fields and the route
#   configuration's internal_only_headers; an edge one gets a new
#   x-request-id and this hop's x-forwarded-proto;
# - the peer is appended to x-forwarded-for at an edge;
# - add_user_agent: the node's cluster and id as the downstream service;
# - long values: a long client x-forwarded-for, a long server_name, a huge
#   max_headers_count.
XPROXY=$1
UPSTREAM=$2
DIR=$(dirname "$0")
. "$DIR/lib.sh"

"$UPSTREAM" --listen 127.0.0.1:0 --port-file "$XP_TMP/up.port" >/dev/null 2>&1 &
XP_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$XP_TMP/up.port" ] && break; sleep 0.05; done
UP=$(head -1 "$XP_TMP/up.port")
# hcm NAME USE_REMOTE_ADDRESS HOPS [EXTRA]: one HTTP connection manager
# listener; routes: /internal-only answers 200 "internal" directly when the
# request carries x-envoy-internal: true, everything else goes upstream.
hcm() {
    cat <<EOF2
  - name: $1
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: $1
          use_remote_address: $2
          xff_num_trusted_hops: $3
          ${4:-}
          route_config:
            internal_only_headers: [x-internal-secret]
            virtual_hosts:
            - name: a
              domains: ["*"]
              routes:
              - match: { prefix: "/internal-only", headers: [{ name: x-envoy-internal, string_match: { exact: "true" } }] }
                direct_response: { status: 200, body: { inline_string: internal } }
              - match: { prefix: "/" }
                route: { cluster: up }
          http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
EOF2
}
SN=xproxy-$(printf '%0600d' 0 | tr 0 e) # 607 bytes
{
    echo 'node: { id: edge-1, cluster: edge-fleet }'
    echo 'admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }'
    echo 'static_resources:'
    echo '  listeners:'
    hcm l true 1
    # An edge where only 10/8 is internal: the loopback peer is external.
    hcm e true 0 'internal_address_config: { cidr_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }'
    # A sidecar: x-forwarded-for says who the client is. Its header count
    # limit is the largest a uint32 holds: each request's field array is
    # sized by what a head within max_request_headers_kb can hold instead.
    hcm s false 0 'common_http_protocol_options: { max_headers_count: 4294967295 }'
    # Via both ways, the request id echoed, x-forwarded-port, client certs
    # passed, the node named to the upstream, a long server name.
    hcm v true 0 'via: "1.1 xproxy-edge"
          add_user_agent: true
          server_name: '"$SN"'
          always_set_request_id_in_response: true
          append_x_forwarded_port: true
          forward_client_cert_details: ALWAYS_FORWARD_ONLY'
    cat <<EOF2
  clusters:
  - name: up
    load_assignment: { cluster_name: up, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP } } } }] }] }
EOF2
} >"$XP_TMP/b.yaml"
start_xproxy -c "$XP_TMP/b.yaml" --concurrency 1 || exit 1
P=$(listener_port l) || { not_ok "listener 'l' bound"; finish; }
E=$(listener_port e) || { not_ok "listener 'e' bound"; finish; }
S=$(listener_port s) || { not_ok "listener 's' bound"; finish; }
V=$(listener_port v) || { not_ok "listener 'v' bound"; finish; }

# --- l: an edge behind one trusted hop; loopback is internal (the default) ---
out=$(curl -s -H 'x-forwarded-for: 10.0.0.9, 203.0.113.7' "http://127.0.0.1:$P/x")
check "external trusted client sent as x-envoy-external-address" contains "$out" '"x-envoy-external-address":"203.0.113.7"'
check "the peer is appended to x-forwarded-for" contains "$out" '"x-forwarded-for":"10.0.0.9, 203.0.113.7,127.0.0.1"'
long=$(for i in $(seq 1 80); do printf '10.0.%d.%d, ' $((i / 250)) $((i % 250)); done)203.0.113.7
out=$(curl -s -H "x-forwarded-for: $long" "http://127.0.0.1:$P/x")
check "a ${#long}-byte x-forwarded-for gets the peer appended, whole" \
    contains "$out" "\"x-forwarded-for\":\"$long,127.0.0.1\""
out=$(curl -s -H 'x-forwarded-for: 203.0.113.7, 10.0.0.2' -H 'x-envoy-external-address: spoofed' "http://127.0.0.1:$P/x")
check "a request with x-forwarded-for is external at an edge: its trusted client (10.0.0.2) replaces the client's x-envoy-external-address" \
    contains "$out" '"x-envoy-external-address":"10.0.0.2"'
check "... and the client's value is gone" not_contains "$out" 'spoofed'
check "... and it is not internal" not_contains "$out" 'x-envoy-internal'
out=$(curl -s -H 'x-forwarded-for: 203.0.113.7, not-an-ip' "http://127.0.0.1:$P/x")
check "a trusted hop that is not an IP address: the peer is the trusted client" contains "$out" '"x-envoy-external-address":"127.0.0.1"'
out=$(curl -s -H 'x-envoy-ip-tags: t' -H 'x-envoy-external-address: from-internal' "http://127.0.0.1:$P/x")
check "no x-forwarded-for and an internal peer: internal, x-envoy-internal: true" contains "$out" '"x-envoy-internal":"true"'
check "... an internal request keeps its internal-only x-envoy-* fields" contains "$out" '"x-envoy-ip-tags":"t"'
check "... and its x-envoy-external-address (Envoy leaves it to internal clients)" contains "$out" '"x-envoy-external-address":"from-internal"'
out=$(curl -s "http://127.0.0.1:$P/internal-only")
check "route matching sees xproxy's x-envoy-internal" [ "$out" = internal ]

# --- e: an edge where the loopback peer is external ---
out=$(curl -s -H 'x-envoy-internal: true' -H 'x-envoy-retry-on: 5xx' -H 'x-envoy-max-retries: 9' \
    -H 'x-envoy-upstream-rq-timeout-ms: 1' -H 'x-envoy-decorator-operation: op' -H 'x-envoy-force-trace: 1' \
    -H 'X-Envoy-Ip-Tags: t' -H 'x-envoy-custom: kept' -H 'x-internal-secret: s3' -H 'x-request-id: client-id-1' \
    -H 'x-forwarded-proto: https' -H 'x-envoy-external-address: spoofed' "http://127.0.0.1:$E/x")
check "internal_address_config: a peer outside its ranges is external (no x-envoy-internal, the client's dropped)" \
    not_contains "$out" 'x-envoy-internal'
for f in x-envoy-retry-on x-envoy-max-retries x-envoy-upstream-rq-timeout-ms x-envoy-decorator-operation \
    x-envoy-force-trace x-envoy-ip-tags x-internal-secret; do
    check "edge request: $f removed" not_contains "${out,,}" "\"$f\""
done
check "edge request: other x-envoy-* fields pass" contains "$out" '"x-envoy-custom":"kept"'
check "edge request: x-request-id replaced by a generated one" \
    grep -Eq '"x-request-id":"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"' <<<"$out"
check "edge request: x-envoy-external-address is the peer" contains "$out" '"x-envoy-external-address":"127.0.0.1"'
check "edge request without trusted hops: x-forwarded-proto is this hop's" contains "$out" '"x-forwarded-proto":"http"'
out=$(curl -s -H 'x-envoy-internal: true' "http://127.0.0.1:$E/internal-only")
check "a client's x-envoy-internal cannot reach a route that matches on it" [ "$out" != internal ]
check "... the request went upstream instead" contains "$out" '"path":"/internal-only"'

# --- s: a sidecar (use_remote_address false) ---
out=$(curl -s -H 'x-forwarded-for: 10.1.2.3' -H 'x-envoy-ip-tags: t' -H 'x-internal-secret: s3' \
    -H 'x-request-id: client-id-2' -H 'x-forwarded-proto: https' "http://127.0.0.1:$S/x")
check "sidecar: one internal address in x-forwarded-for is internal" contains "$out" '"x-envoy-internal":"true"'
check "... keeps x-envoy-ip-tags" contains "$out" '"x-envoy-ip-tags":"t"'
check "... keeps internal_only_headers" contains "$out" '"x-internal-secret":"s3"'
check "... keeps x-request-id" contains "$out" '"x-request-id":"client-id-2"'
check "... keeps the edge's x-forwarded-proto" contains "$out" '"x-forwarded-proto":"https"'
check "... and x-forwarded-for unchanged" contains "$out" '"x-forwarded-for":"10.1.2.3"'
out=$(curl -s -H 'x-forwarded-for: 203.0.113.9' -H 'x-envoy-internal: true' -H 'x-envoy-retry-on: 5xx' \
    -H 'x-envoy-decorator-operation: op' -H 'x-internal-secret: s3' -H 'x-request-id: client-id-3' \
    -H 'x-envoy-external-address: 203.0.113.9' "http://127.0.0.1:$S/x")
check "sidecar, external client: not internal" not_contains "$out" 'x-envoy-internal'
check "... loses x-envoy-retry-on" not_contains "$out" 'x-envoy-retry-on'
check "... loses internal_only_headers" not_contains "$out" 'x-internal-secret'
check "... keeps x-envoy-decorator-operation (removed only at an edge)" contains "$out" '"x-envoy-decorator-operation":"op"'
check "... keeps x-request-id (not an edge)" contains "$out" '"x-request-id":"client-id-3"'
check "... keeps the edge's x-envoy-external-address" contains "$out" '"x-envoy-external-address":"203.0.113.9"'
out=$(curl -s -H 'x-forwarded-for: 10.1.2.3, 10.1.2.4' "http://127.0.0.1:$S/x")
check "sidecar: two addresses in x-forwarded-for are not internal" not_contains "$out" 'x-envoy-internal'
out=$(curl -s -H 'x-envoy-internal: true' "http://127.0.0.1:$S/x")
check "sidecar: no x-forwarded-for is not internal, even from loopback" not_contains "$out" 'x-envoy-internal'
check "... and x-forwarded-proto is added" contains "$out" '"x-forwarded-proto":"http"'

# --- x-forwarded-client-cert: no TLS, so only ALWAYS_FORWARD_ONLY passes it ---
out=$(curl -s -H 'x-forwarded-client-cert: By=spiffe://forged' "http://127.0.0.1:$P/x")
check "forward_client_cert_details SANITIZE (the default): a client's x-forwarded-client-cert is removed" \
    not_contains "$out" 'forged'
out=$(curl -s -D "$XP_TMP/v.head" -H 'x-forwarded-client-cert: By=spiffe://front' \
    -H 'via: 1.1 front' -H 'x-request-id: rid-v1' "http://127.0.0.1:$V/x")
check "ALWAYS_FORWARD_ONLY: x-forwarded-client-cert passes" contains "$out" '"x-forwarded-client-cert":"By=spiffe://front"'

# --- add_user_agent ---
check "add_user_agent: x-envoy-downstream-service-cluster is the node's cluster" \
    contains "$out" '"x-envoy-downstream-service-cluster":"edge-fleet"'
check "add_user_agent: x-envoy-downstream-service-node is the node's id" \
    contains "$out" '"x-envoy-downstream-service-node":"edge-1"'
check "add_user_agent: the client's user-agent is kept" contains "${out,,}" '"user-agent":"curl/'
ua=$(curl -s -H 'User-Agent:' -H 'x-envoy-downstream-service-cluster: forged' \
    -H 'x-envoy-downstream-service-node: forged-node' "http://127.0.0.1:$V/x")
check "add_user_agent: no user-agent from the client: the node's cluster" contains "$ua" '"user-agent":"edge-fleet"'
check "add_user_agent: the client's downstream service fields are replaced" not_contains "$ua" 'forged'
ua=$(curl -s -H 'User-Agent:' -H 'x-envoy-downstream-service-cluster: mine' "http://127.0.0.1:$P/x")
check "without add_user_agent: no user-agent is added" not_contains "${ua,,}" '"user-agent"'
check "without add_user_agent: an internal request's x-envoy-downstream-service-cluster passes" \
    contains "$ua" '"x-envoy-downstream-service-cluster":"mine"'

# --- via, always_set_request_id_in_response, append_x_forwarded_port ---
check "via: the request's Via gains this hop" grep -qi '"via":"1.1 front, *1.1 xproxy-edge"\|"via":"1.1 front".*"via":"1.1 xproxy-edge"' <<<"$out"
check "via: the response carries this hop" grep -qi '^via: 1.1 xproxy-edge' "$XP_TMP/v.head"
check "always_set_request_id_in_response: the request's x-request-id comes back" \
    grep -qi '^x-request-id: rid-v1' "$XP_TMP/v.head"
check "append_x_forwarded_port: the listener's port" contains "$out" "\"x-forwarded-port\":\"$V\""
out=$(curl -s -D "$XP_TMP/vlocal.head" -H 'x-request-id: rid-v2' "http://127.0.0.1:$V/internal-only")
check "a direct response (internal request from loopback)" [ "$out" = internal ]
check "... carries via" grep -qi '^via: 1.1 xproxy-edge' "$XP_TMP/vlocal.head"
check "... and the request's x-request-id" grep -qi '^x-request-id: rid-v2' "$XP_TMP/vlocal.head"
out=$(curl -s -D "$XP_TMP/vgen.head" "http://127.0.0.1:$V/x")
rid=$(grep -i '^x-request-id:' "$XP_TMP/vgen.head" | tr -d '\r' | awk '{print $2}')
check "a generated x-request-id comes back and is the one the upstream saw ($rid)" \
    contains "$out" "\"x-request-id\":\"${rid:-none}\""
out=$(curl -s -D "$XP_TMP/vdirect.head" -H 'x-forwarded-for: 10.9.9.9' -H 'x-request-id: rid-v3' "http://127.0.0.1:$P/internal-only")
check "no always_set_request_id_in_response: no x-request-id in the response" \
    not_contains "$(cat "$XP_TMP/vdirect.head")" 'rid-v3'

# --- a codec error's reply carries the whole server_name ---
exec 3<>"/dev/tcp/127.0.0.1/$V"
printf 'GET /x HTTP/1.1\r\nhost: a\r\nno colon here\r\n\r\n' >&3
resp=$(timeout 5 cat <&3 | tr -d '\r')
exec 3<&-
check "a malformed request is answered 400" contains "$resp" 'HTTP/1.1 400'
check "... with the whole 607-byte server_name" contains "$resp" "server: $SN"

kill -TERM "$XP_PID"
if wait_exit "$XP_PID" 10; then check "exit 0 on SIGTERM" [ "$XP_RC" = 0 ]; else not_ok "still running"; fi
finish
