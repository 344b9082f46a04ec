#!/usr/bin/env bash
# The xDS management server as a real process on loopback, driven by the
# scripted gRPC client (xds_client.c) and curl: SotW and Delta, ADS and
# per-type services, ACK/NACK bookkeeping in /nodes, pushes on file
# changes, removals, initial_resource_versions, the admin API, REST-JSON
# (200 / 304, ACK and NACK in /nodes, subscriptions, errors), bad files,
# and a clean exit on SIGTERM with streams open (under ASan a leak makes
# that exit non-zero).
set -u
. "$(dirname "$0")/../lib/check.sh"
SERVER=$1
CLIENT=$2

PIDS=()
TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/xdss.XXXXXX")
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
# wait_for FILE PATTERN [SECONDS]: until grep -q finds it
wait_for() {
    local i
    for i in $(seq 1 $((${3:-5} * 50))); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    echo "  timed out waiting for '$2' in $1:"; sed 's/^/    /' "$1"
    return 1
}

D=$TMP/resources
mkdir -p "$D"
cat >"$D/l1.yaml" <<'EOF'
"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: l1
address: {socket_address: {address: 127.0.0.1, port_value: 10001}}
EOF
cat >"$D/l2.json" <<'EOF'
{"@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": "l2",
 "address": {"socket_address": {"address": "127.0.0.1", "port_value": 10002}}}
EOF
write_all() { # the DiscoveryResponse-shaped file; $1 = extra cluster entry
    cat >"$D/all.yaml" <<EOF
version_info: ignored
resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: c1
  connect_timeout: 1s
$1
- "@type": type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
  cluster_name: c1
  endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}}]}]
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: r1
- "@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: r2
EOF
}
C2='- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: c2
  connect_timeout: 2s'
write_all "$C2"

"$SERVER" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --rest 127.0.0.1:0 --dir "$D" \
    --port-file "$TMP/ports" --log-level debug >"$TMP/server.log" 2>&1 &
SPID=$!
PIDS+=("$SPID")
wait_for "$TMP/ports" admin= 10 || { cat "$TMP/server.log"; exit 1; }
XDS=127.0.0.1:$(sed -n 's/^xds=//p' "$TMP/ports")
ADMIN=127.0.0.1:$(sed -n 's/^admin=//p' "$TMP/ports")
REST=127.0.0.1:$(sed -n 's/^rest=//p' "$TMP/ports")
get() { curl -s --max-time 5 "http://$ADMIN$1"; }
code() { curl -s -o "$TMP/body" -w '%{http_code}' --max-time 5 "$@"; }
cl() { timeout 20 "$CLIENT" --server "$XDS" "$@"; }
# bg NAME ARGS...: a client in the background, output in $TMP/NAME.out
bg() {
    local name=$1
    shift
    timeout 30 "$CLIENT" --server "$XDS" "$@" >"$TMP/$name.out" 2>&1 &
    PIDS+=("$!")
    eval "PID_$name=$!"
}

check "port file has every port" matches "$(tr '\n' ' ' <"$TMP/ports")" \
    '^xds=[1-9][0-9]* admin=[1-9][0-9]* rest=[1-9][0-9]* $' 
check "/ready is LIVE" contains "$(get /ready)" LIVE
res=$(get /resources)
check "/resources: version 1" contains "$res" '"version":"1"'
check "/resources: listener l1" contains "$res" '"type":"listener","type_url":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"l1"'
check "/resources: endpoint named by cluster_name" contains "$res" '"type":"endpoint","type_url":"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment","name":"c1"'
check "/resources: cluster c2 from the DiscoveryResponse file" contains "$res" '"name":"c2"'

# --- SotW: wildcard LDS/CDS, RDS/EDS by name, ADS and per-type services ---
out=$(cl --node n0 sub:listener wait:listener sub:cluster wait:cluster)
check "SotW LDS wildcard: every listener" contains "$out" "RESP sotw type=listener version=1 nonce="
check "SotW LDS wildcard: l1,l2" contains "$out" "resources=l1,l2"
check "SotW CDS wildcard: c1,c2" contains "$out" "type=cluster version=1"
check "SotW CDS wildcard: c1,c2 listed" contains "$out" "resources=c1,c2"
out=$(cl --node n0 --json sub:route:r1 wait:route sub:endpoint:c1 wait:endpoint)
check "SotW RDS by name: only r1" contains "$out" "type=route version=1"
check "SotW RDS by name: r2 not sent" contains "$(grep 'type=route' <<<"$out")" "resources=r1"
check "SotW EDS by name" contains "$out" "type=endpoint version=1"
check "SotW resource content" contains "$out" '"port_value":8080'
out=$(cl --node n0 sub:route:r1 wait:route ack:route sub:route:r1,r2 wait:route)
check "SotW re-subscribe with new names sends them" contains "$out" "resources=r1,r2"
out=$(cl --node n0 --service cds sub:cluster wait:cluster ack:cluster quiet:cluster:300)
check "per-type CDS service" contains "$out" "RESP sotw type=cluster version=1"
check "ACK does not trigger a resend" not_contains "$out" "UNEXPECTED"
out=$(cl --node n0 --service lds --delta dsub:listener wait:listener)
check "per-type Delta LDS service" contains "$out" "RESP delta type=listener version=1"

out=$(cl --node n0 --method /envoy.service.discovery.v3.AggregatedDiscoveryService/Nope \
    sub:cluster wait:cluster:1000)
check "unknown method: UNIMPLEMENTED" contains "$out" "STATUS code=12 msg=unknown method"

# --- ACK / NACK recorded in /nodes; two nodes tracked at once ---
bg a --node node-a --cluster front sub:cluster wait:cluster ack:cluster sub:endpoint:c1 \
    wait:endpoint "nack:endpoint:endpoint c1: port 8080 refused" mark:ready sleep:4000
bg b --node node-b --delta dsub:cluster wait:cluster ack:cluster mark:ready sleep:4000
wait_for "$TMP/a.out" "MARK ready" && wait_for "$TMP/b.out" "MARK ready"
sleep 0.1
nodes=$(get /nodes)
check "/nodes: node-a" contains "$nodes" '"id":"node-a","cluster":"front"'
check "/nodes: node-b" contains "$nodes" '"id":"node-b"'
check "/nodes: node-a is ads/sotw" contains "$nodes" '"kind":"ads","mode":"sotw"'
check "/nodes: node-b is ads/delta" contains "$nodes" '"kind":"ads","mode":"delta"'
check "/nodes: ACK recorded" contains "$nodes" '"type":"cluster","type_url":"type.googleapis.com/envoy.config.cluster.v3.Cluster","wildcard":true,"subscribed":[],"sent_version":"1","sent_nonce":'
check "/nodes: acked_version 1" contains "$nodes" '"acked_version":"1","last_nack":null'
check "/nodes: NACK recorded with its message" contains "$nodes" '"error_detail":"endpoint c1: port 8080 refused"'
check "/nodes: NACK keeps the previous (empty) acked version" contains "$nodes" '"acked_version":"","last_nack":{"version":""'
check "/nodes: EDS subscription names" contains "$nodes" '"subscribed":["c1"]'
check "server log names the NACK" contains "$(cat "$TMP/server.log")" 'NACKed endpoint version 1'
kill "$PID_a" "$PID_b" 2>/dev/null
wait "$PID_a" "$PID_b" 2>/dev/null

# --- a file change is pushed (the time it took is printed); a removed file is pushed too ---
bg push --node node-push sub:listener wait:listener ack:listener mark:ready \
    wait:listener:5000 ack:listener wait:listener:5000 ack:listener sleep:200
bg dpush --node node-dpush --delta dsub:cluster wait:cluster ack:cluster mark:ready \
    wait:cluster:5000 ack:cluster sleep:200
wait_for "$TMP/push.out" "MARK ready" && wait_for "$TMP/dpush.out" "MARK ready"
t0=$(now_ms)
sed -i.bak 's/10001/10011/' "$D/l1.yaml" && rm -f "$D/l1.yaml.bak"
wait_for "$TMP/push.out" "version=2" 3
t1=$(now_ms)
check "a changed file is pushed (within the 3 s wait)" grep -q "version=2" "$TMP/push.out"
echo "# file change to push: $((t1 - t0)) ms (a timing is reported, not checked)"
n1=$(grep -m1 'type=listener' "$TMP/push.out" | sed 's/.*nonce=\([0-9]*\).*/\1/')
n2=$(grep 'version=2' "$TMP/push.out" | sed 's/.*nonce=\([0-9]*\).*/\1/')
check "the push has a new nonce ($n1 -> $n2)" [ -n "$n2" ] && [ "$n1" != "$n2" ]
check "the push carries every listener" contains "$(grep 'version=2' "$TMP/push.out")" "resources=l1,l2"
check "Delta stream not pushed for a listener change" not_contains "$(cat "$TMP/dpush.out")" "version=2"
rm "$D/l2.json"
wait_for "$TMP/push.out" "version=3" 3
check "SotW: removed file -> response without it" contains "$(grep 'version=3' "$TMP/push.out")" "resources=l1"
write_all "" # c2 goes away
wait_for "$TMP/dpush.out" "removed=c2" 3
check "Delta: removed resource in removed_resources" contains "$(cat "$TMP/dpush.out")" "version=4 nonce="
check "Delta: only the removal is sent" contains "$(cat "$TMP/dpush.out")" "resources= removed=c2"
wait "$PID_push" && ok "push client exited cleanly" || not_ok "push client exit"
wait "$PID_dpush" && ok "delta push client exited cleanly" || not_ok "delta push client exit"

# --- Delta initial_resource_versions ---
write_all "$C2"
sleep 0.3
res=$(get /resources)
v1=$(grep '"type":"cluster"' <<<"$res" | grep -o '"name":"c1","version":"[0-9a-f]*"' |
    grep -o '[0-9a-f]\{16\}')
out=$(cl --node n-delta --delta "dsub:cluster:init=c1=$v1,gone=0123")
check "Delta: unchanged c1 not resent" not_contains "$out" "c1@"
check "Delta: c2 sent with its version" contains "$out" "resources=c2@"
check "Delta: a resource the client has that is gone is removed" contains "$out" "removed=gone"
out=$(cl --node n-delta --delta "dsub:cluster:init=c1=stale" wait:cluster)
check "Delta: a stale version is resent" contains "$out" "c1@$v1"
out=$(cl --node n-delta --delta dsub:route:r2 wait:route dsub:route:r1 wait:route \
    dunsub:route:r2 quiet:route:300)
check "Delta RDS by name" contains "$out" "resources=r2@"
check "Delta subscribe adds r1 only" contains "$(grep -c 'resources=r1@' <<<"$out")" "1"
check "Delta unsubscribe sends nothing" not_contains "$out" "UNEXPECTED"

# --- admin API: PUT / DELETE ---
bg adm --node node-adm sub:route:r9 wait:route ack:route mark:ready wait:route:5000 ack:route \
    wait:route:5000 sleep:100
wait_for "$TMP/adm.out" "MARK ready"
check "RDS for a missing name: empty response" contains "$(cat "$TMP/adm.out")" "resources="
c=$(code -X PUT --data-binary $'virtual_hosts:\n- name: vh\n  domains: ["*"]' "http://$ADMIN/resources/route/r9")
check "PUT /resources/route/r9 is 200 ($c)" [ "$c" = 200 ]
check "PUT answers the new version" contains "$(cat "$TMP/body")" '"file":"route-r9.json"'
pub1=$(grep -o '"published_ns":"[0-9]*"' "$TMP/body" | grep -o '[0-9][0-9]*')
check "PUT says when the version was handed to the streams (published_ns)" [ -n "$pub1" ]
check "PUT wrote the file" [ -f "$D/route-r9.json" ]
check "PUT file has @type and name" contains "$(cat "$D/route-r9.json")" '"name": "r9"'
wait_for "$TMP/adm.out" "resources=r9" 3
check "PUT pushed to the subscriber" contains "$(cat "$TMP/adm.out")" "resources=r9"
check "/resources lists the PUT route" contains "$(get /resources)" '"name":"r9"'
c=$(code -X PUT --data-binary '{"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name": "other"}' "http://$ADMIN/resources/route/r9")
check "PUT with a different name is 400 ($c)" [ "$c" = 400 ]
c=$(code -X PUT --data-binary 'connect_timeout: soon' "http://$ADMIN/resources/cluster/c9")
check "PUT with a bad field is 400 ($c)" [ "$c" = 400 ]
check "PUT error names the field" contains "$(cat "$TMP/body")" "connect_timeout"
check "a rejected PUT writes nothing" [ ! -e "$D/cluster-c9.json" ]
c=$(code -X PUT --data-binary '{}' "http://$ADMIN/resources/nonsense/x")
check "PUT of an unknown type is 404 ($c)" [ "$c" = 404 ]
c=$(code -X DELETE "http://$ADMIN/resources/route/r9")
check "DELETE /resources/route/r9 is 200 ($c)" [ "$c" = 200 ]
pub2=$(grep -o '"published_ns":"[0-9]*"' "$TMP/body" | grep -o '[0-9][0-9]*')
later() { [ -n "$1" ] && [ -n "$2" ] && [ "$2" -gt "$1" ]; }
check "DELETE's published_ns is later than the PUT's ($pub1 < $pub2)" later "$pub1" "$pub2"
check "DELETE removed the file" [ ! -e "$D/route-r9.json" ]
wait_for "$TMP/adm.out" "nonce=[0-9]* resources=$" 3
check "DELETE pushed a response without it" [ "$(grep -c 'type=route' "$TMP/adm.out")" -ge 3 ]
check "/resources no longer lists r9" not_contains "$(get /resources)" '"name":"r9"'
c=$(code -X DELETE "http://$ADMIN/resources/route/r9")
check "DELETE of a missing resource is 404 ($c)" [ "$c" = 404 ]
c=$(code -X DELETE "http://$ADMIN/resources/route/r1")
check "DELETE of a resource in a shared file is 409 ($c)" [ "$c" = 409 ]
c=$(code -X PUT --data-binary 'name: c1' "http://$ADMIN/resources/cluster/c1")
check "PUT of a resource in a shared file is 409 ($c)" [ "$c" = 409 ]
c=$(code -X POST "http://$ADMIN/nodes")
check "POST /nodes is 405 ($c)" [ "$c" = 405 ]

# --- REST-JSON: POST /v3/discovery:<type> ---
LT=type.googleapis.com/envoy.config.listener.v3.Listener
# rpost PATH JSON: the status code; the body in $TMP/body
rpost() {
    rm -f "$TMP/body"
    code -X POST -H 'Content-Type: application/json' --data-binary "$2" "http://$REST$1"
}
# rnode: /nodes entry of node rest-a
rnode() { get /nodes | tr -d '\n' | sed 's/{"id":"/\n{"id":"/g' | grep '^{"id":"rest-a"'; }
N='"node":{"id":"rest-a","cluster":"rc"}'
c=$(rpost /v3/discovery:listeners "{$N,\"type_url\":\"$LT\"}")
check "REST LDS: 200 ($c)" [ "$c" = 200 ]
body=$(cat "$TMP/body")
check "REST LDS: a JSON DiscoveryResponse of listeners" contains "$body" "\"type_url\":\"$LT\""
check "REST LDS: resources with @type" contains "$body" "{\"@type\":\"$LT\",\"name\":\"l1\""
check "REST LDS: same snapshot as gRPC" contains "$body" '"port_value":10011'
check "REST LDS: a nonce" contains "$body" '"nonce":"'
rv=$(grep -o '"version_info":"[0-9]*"' <<<"$body" | grep -o '[0-9]*')
check "REST LDS: the snapshot version ($rv)" contains "$(get /resources)" "\"version\":\"$rv\""
c=$(rpost /v3/discovery:listeners "{$N,\"version_info\":\"$rv\"}")
check "REST LDS: the same version again is 304 ($c)" [ "$c" = 304 ]
check "REST 304: no body" [ ! -s "$TMP/body" ]
n=$(rnode)
check "/nodes: the REST poller is an lds stream of mode rest" contains "$n" '"id":"rest-a","cluster":"rc","streams":[{"id":'
check "/nodes: ... kind lds, mode rest" contains "$n" '"kind":"lds","mode":"rest"'
check "/nodes: REST ACK recorded" contains "$n" "\"sent_version\":\"$rv\",\"sent_nonce\":\"$(grep -o '"nonce":"[0-9]*"' <<<"$body" | grep -o '[0-9]*')\",\"acked_version\":\"$rv\",\"last_nack\":null"
c=$(rpost /v3/discovery:listeners "{$N,\"version_info\":\"0\",\"error_detail\":{\"code\":3,\"message\":\"listener[l1].address: bad\"}}")
check "REST NACK of what was sent: 304 ($c)" [ "$c" = 304 ]
c=$(rpost /v3/discovery:listeners "{$N,\"version_info\":\"0\",\"error_detail\":{\"code\":3,\"message\":\"listener[l1].address: bad\"}}")
check "/nodes: REST NACK recorded with its message" contains "$(rnode)" '"last_nack":{"version":"0","nonce":"'
check "/nodes: ... and the field" contains "$(rnode)" '"error_detail":"listener[l1].address: bad"}'
check "server log names the REST NACK once" [ "$(grep -c 'node "rest-a" NACKed listener' "$TMP/server.log")" = 1 ]
sed -i 's/10011/10021/' "$D/l1.yaml"
sleep 0.3
c=$(rpost /v3/discovery:listeners "{$N,\"version_info\":\"$rv\"}")
check "REST LDS after a file change: 200 ($c)" [ "$c" = 200 ]
check "REST LDS after a file change: the new content" contains "$(cat "$TMP/body")" '"port_value":10021'
check "REST LDS after a file change: a newer version" not_contains "$(cat "$TMP/body")" "\"version_info\":\"$rv\""
c=$(rpost /v3/discovery:routes "{$N,\"resource_names\":[\"r1\"]}")
check "REST RDS by name: 200 ($c)" [ "$c" = 200 ]
check "REST RDS by name: r1" contains "$(cat "$TMP/body")" '"name":"r1"'
check "REST RDS by name: not r2" not_contains "$(cat "$TMP/body")" '"name":"r2"'
rv=$(grep -o '"version_info":"[0-9]*"' "$TMP/body" | grep -o '[0-9]*')
c=$(rpost /v3/discovery:routes "{$N,\"version_info\":\"$rv\",\"resource_names\":[\"r1\",\"r2\"]}")
check "REST RDS: a new name at the same version is answered ($c)" [ "$c" = 200 ]
check "REST RDS: ... with both" contains "$(cat "$TMP/body")" '"name":"r2"'
check "/nodes: two REST pollers for rest-a" [ "$(rnode | grep -o '"mode":"rest"' | wc -l)" = 2 ]
c=$(rpost /v3/discovery:listeners '{"node":{"id":"x"},"bogus":1}')
check "REST: a bad DiscoveryRequest is 400 ($c)" [ "$c" = 400 ]
check "REST: ... naming the field" contains "$(cat "$TMP/body")" "unknown field 'bogus'"
c=$(rpost /v3/discovery:listeners "{\"type_url\":\"type.googleapis.com/envoy.config.cluster.v3.Cluster\"}")
check "REST: a type_url not of the path is 400 ($c)" [ "$c" = 400 ]
c=$(rpost /v3/discovery:nonsense '{}')
check "REST: an unknown type is 404 ($c)" [ "$c" = 404 ]
c=$(code "http://$REST/v3/discovery:listeners")
check "REST: GET is 405 ($c)" [ "$c" = 405 ]

# --- a bad file is reported and the old content kept ---
before=$(get /resources)
vl1=$(grep '"type":"listener"' <<<"$before" | grep -o '"name":"l1","version":"[0-9a-f]*"')
cat >"$D/l1.yaml" <<'EOF'
"@type": type.googleapis.com/envoy.config.listener.v3.Listener
name: l1
address: {socket_address: {address: 127.0.0.1, port_value: "not a port"}}
EOF
printf 'resources: [\n' >"$D/broken.yaml"
sleep 0.5
log=$(cat "$TMP/server.log")
check "bad file reported with its path" contains "$log" "$D/l1.yaml: error: address.socket_address.port_value"
check "bad file: old content kept (said)" contains "$log" "$D/l1.yaml: rejected; keeping its previous content"
check "bad YAML reported" contains "$log" "$D/broken.yaml: error: invalid YAML/JSON"
after=$(get /resources)
check "bad file: l1 still served unchanged" contains "$after" "$vl1"
check "bad file: no version bump" contains "$after" "$(grep -o '"version":"[0-9]*"' <<<"$before" | head -1)"
out=$(cl --node n0 sub:listener wait:listener)
check "bad file: l1 still sent" contains "$out" "resources=l1"

# --- a request nesting too deep: refused, and the server goes on ---
out=$(cl --node shallow --deep-metadata 40 sub:listener wait:listener 2>&1)
check "node.metadata nesting 84 messages deep: served" contains "$out" "resources=l1"
out=$(cl --node deep --deep-metadata 20000 sub:listener wait:listener:2000 2>&1)
check "node.metadata nesting 20,004 messages deep: no response" not_contains "$out" "RESP"
check "... the stream is refused, saying why" contains "$out" "nesting deeper than 100"
out=$(cl --node n0 sub:listener wait:listener)
check "... and the server still serves" contains "$out" "resources=l1"

# --- SIGTERM with streams open ---
bg last --node node-last sub:cluster wait:cluster sleep:10000
wait_for "$TMP/last.out" "type=cluster"
kill -TERM "$SPID"
rc=0
for _ in $(seq 1 200); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$SPID" 2>/dev/null; then
    not_ok "server exits on SIGTERM"
else
    wait "$SPID"
    rc=$?
    check "SIGTERM exits 0 (rc=$rc)" [ "$rc" = 0 ]
fi
wait_for "$TMP/last.out" "STATUS" 5
check "open stream ended by the shutdown" contains "$(cat "$TMP/last.out")" "STATUS code="
wait "$PID_last"
check "the client saw its stream end (rc=$?)" contains "$(cat "$TMP/last.out")" "STREAM ENDED"
if [ "$CHK_FAILED" -ne 0 ]; then
    echo "--- server log"
    tail -n 60 "$TMP/server.log"
fi
check_summary
