#!/usr/bin/env bash
# Scoped routes over SRDS against the real xds-server, in one of the four
# transport variants (argument 5): a listener whose HCM picks its route
# configuration by a key built from the x-tenant header warms until its
# scopes and their routes arrive; scopes added, changed and removed take
# effect for new requests while a WebSocket through another scope stays
# open; a changed scope keeps serving its old routes until its new route
# configuration arrives; invalid scopes and key conflicts are NACKed naming
# the resource and field while the accepted scopes keep serving; with no
# listener naming SRDS the scopes go while a WebSocket through the removed
# listener stays open.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

KNOWN_FAILURES=()

up_start up1
up_start up2
up_start up3
xds_start
put listener main "$(listener_scoped main tenants)" || exit 1
put route r1 "$(route_cfg r1 "$(rt / c1)")" || exit 1
for c in 1 2 3; do
    put cluster c$c "$(cluster_eds c$c)" || exit 1
    up="UP_PORT_up$c"
    put endpoint c$c "$(cla c$c "${!up}")" || exit 1
done
put scoped_route a "$(scope a alpha r1)" || exit 1
put scoped_route b "$(scope b beta r2)" || exit 1

px_start a
NODE=px-a
# Scope b names r2, which is not there yet: the listener warms.
check "warming: the route subscription asks for r2 (from scope b)" poll 10 type_has "$NODE" route '"r2"'
sleep 0.5
check "warming: listener main is not bound while scope b's r2 is missing" no_port a main
put route r2 "$(route_cfg r2 "$(rt / c2)")" || exit 1
check "start: listener main bound once r2 arrives (LDS + SRDS + RDS)" poll 10 has_port a main
U=http://127.0.0.1:$(px_port a main)

# sreq TENANT PATH CODE [SERVER]: a request with x-tenant: id=7;t=TENANT.
sreq() { serves_h "x-tenant: id=7;t=$1" "$U$2" "${@:3}"; }

check "start: scope alpha routes with r1 (up1)" poll 5 sreq alpha /x 200 up1
check "start: scope beta routes with r2 (up2)" sreq beta /x 200 up2
check "start: an unknown key answers 404" sreq nope /x 404
nr0=$(px_stat a http.main.no_route)
req "$U/x"
check "start: no x-tenant header (no key) answers 404" eq "$R_CODE" 404
check "start: ... counted in http.main.no_route" eq "$(px_stat a http.main.no_route)" $((${nr0:-0} + 1))
check "ACK: scoped_route ACKed" poll 5 acked "$NODE" scoped_route
check "ACK: route ACKed (r1 and r2 from the scopes)" poll 5 type_has "$NODE" route '"subscribed":["r1","r2"]'
check "ACK: xds.srds.update_success counts" [ "$(px_stat a xds.srds.update_success)" -ge 1 ]

# A WebSocket through scope beta stays open through everything below.
ws_start "$(px_port a main)" through-beta --header "x-tenant: t=beta" --hold-ms 9000
check "ws: a WebSocket is established through scope beta (up2)" poll 5 ws_open up2

# ---- add, change, remove -------------------------------------------------------
check "add: key gamma answers 404 before its scope exists" sreq gamma /g 404
put route r3 "$(route_cfg r3 "$(rt / c3)")"
put scoped_route g "$(scope g gamma r3)"
check "add: a new scope (gamma -> r3, new route config) serves" poll 5 sreq gamma /g 200 up3
check "add: ... and the route subscription follows it" poll 5 type_has "$NODE" route '"subscribed":["r1","r2","r3"]'
check "add: scope beta unaffected" sreq beta /x 200 up2

put scoped_route a "$(scope a alpha2 r1)"
check "change: scope a answers for its new key alpha2" poll 5 sreq alpha2 /x 200 up1
check "change: ... and no longer for alpha" sreq alpha /x 404
put scoped_route a "$(scope a alpha2 r3)"
check "change: scope a's new route configuration r3 is used" poll 5 sreq alpha2 /x 200 up3

# Make-before-break: scope a moves to r4, which does not exist yet.
put scoped_route a "$(scope a alpha2 r4)"
check "warming: the route subscription asks for r4" poll 5 type_has "$NODE" route '"r4"'
check "warming: scope a keeps serving r3 while r4 is missing" sreq alpha2 /x 200 up3
put route r4 "$(route_cfg r4 "$(rt / c1)")"
check "warming: scope a switches to r4 once it arrives" poll 5 sreq alpha2 /x 200 up1

del scoped_route g
check "remove: key gamma answers 404 once its scope is gone" poll 5 sreq gamma /g 404
check "remove: route r3 is no longer subscribed" poll 5 type_has "$NODE" route '"subscribed":["r2","r4"]'
check "remove: scope beta unaffected" sreq beta /x 200 up2
check "ws: still open after every scope change" ws_open up2

# ---- NACK ---------------------------------------------------------------------------
rej0=$(px_stat a xds.srds.update_rejected)
put scoped_route bad '{"@type":"type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration","name":"bad","route_configuration_name":"r1"}'
nack_has() { contains "$(node_type "$NODE" scoped_route)" "$1"; }
check "NACK: a scope without a key is NACKed naming the field" poll 5 nack_has \
    'scoped_route_configuration[bad].key: key is required'
check "NACK: xds.srds.update_rejected increments" [ "$(px_stat a xds.srds.update_rejected)" -gt "${rej0:-0}" ]
check "NACK: accepted scopes keep serving" sreq beta /x 200 up2
del scoped_route bad
check "NACK: fixed, SRDS is ACKed again" poll 5 acked "$NODE" scoped_route

put scoped_route c "$(scope c beta r1)"
check "NACK: a second scope with key beta is NACKed as a key conflict" poll 5 nack_has \
    "scoped_route_configuration[c].key: scope key conflict: scope 'b' has the same key"
check "NACK: key beta still routes with scope b (up2)" sreq beta /x 200 up2
del scoped_route c
check "NACK: conflict removed, SRDS is ACKed again" poll 5 acked "$NODE" scoped_route

# An inline route_configuration in a scope.
put scoped_route i '{"@type":"type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration","name":"i","key":{"fragments":[{"string_key":"inl"}]},"route_configuration":{"name":"ri","virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"c3"}}]}]}}'
check "inline: a scope with an inline route_configuration serves" poll 5 sreq inl /i 200 up3

# ---- /config_dump ----------------------------------------------------------------
cd_out=$(curl -s --max-time 5 "http://$(px_admin a)/config_dump?resource=dynamic_scoped_route_configs" | xt_compact)
check "config_dump: dynamic_scoped_route_configs lists scope b" contains "$cd_out" '"name":"b"'
check "config_dump: ... with its key" contains "$cd_out" '"string_key":"beta"'

# Old generations of changed scopes are gone: a, b and i are what is alive.
scopes3() { eq "$(px_stat a server.config.scopes_alive)" 3; }
check "lifetime: server.config.scopes_alive is 3 (a, b, i) after all the changes" poll 5 scopes3

# Scopes follow what listeners reference: without a listener naming SRDS,
# they go; the WebSocket through the removed listener does not.
del listener main
check "unreferenced: listener main removed" poll 5 no_port a main
scopes0() { eq "$(px_stat a server.config.scopes_alive)" 0; }
check "unreferenced: no scope is alive once no listener names SRDS" poll 5 scopes0
check "unreferenced: the WebSocket through the removed listener is still open" ws_open up2

# ---- the WebSocket ran through it all -------------------------------------------------
wait_exit "$WS" 15 || XP_RC=124
rc=$XP_RC
out=$(cat "$XT_TMP/ws.out")
check "ws: the WebSocket through scope beta exits 0 (rc $rc)" eq "$rc" 0
check "ws: it echoed every message and closed normally" matches_re "$out" \
    '"mismatches":0,"close_code":1000,"handshake_status":101'
check "ws: it sent messages throughout (>= 40)" matches_re "$out" '"sent":([4-9][0-9]|[1-9][0-9][0-9]),'

px_stop a
xds_stop
finish
