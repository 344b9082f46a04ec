#!/usr/bin/env bash
# VHDS end to end against the real xds-server, in one of the four transport
# variants (argument 5; VHDS itself is always Delta: over the Delta ADS
# stream in ads_delta, else over a DELTA_GRPC api_config_source, which in
# the SotW variants is a second, Delta, connection to the same server):
#  - an RDS route configuration with vhds serves its own virtual host and
#    the virtual hosts the server pushes, also without the on_demand filter;
#  - with the on_demand filter, a request for a host no virtual host serves
#    is held while the proxy subscribes to "<route config>/<host>", then
#    routed to the virtual host the server answers with; without the filter
#    the same request is a 404;
#  - a host the server has no virtual host for gets a 404 from the server's
#    answer (not the wait bound), and is served once a virtual host for it
#    appears; with the control plane gone the wait bound gives the 404;
#  - VHDS updates (a virtual host added, one removed) reach new requests
#    while a WebSocket through another VHDS virtual host stays open;
#  - a vhds config source that is not Delta is NACKed naming the field, and
#    so is vhds on an inline route_config.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

KNOWN_FAILURES=()

up_start ua
up_start ub
up_start uc
xds_start

XDS_CLUSTER_API='"transport_api_version":"V3","grpc_services":[{"envoy_grpc":{"cluster_name":"xds_cluster"}}]'
# The vhds config source: bounded on-demand waits of 2 s.
if [ "$VARIANT" = ads_delta ]; then
    VCS='{"ads":{},"resource_api_version":"V3","initial_fetch_timeout":"2s"}'
else
    VCS='{"api_config_source":{"api_type":"DELTA_GRPC",'$XDS_CLUSTER_API'},"resource_api_version":"V3","initial_fetch_timeout":"2s"}'
fi
ON_DEMAND='{"name":"envoy.filters.http.on_demand","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.on_demand.v3.OnDemand"}},'

# vroute NAME VHDS_CONFIG_SOURCE: a route configuration with one virtual
# host of its own (base.example -> ca) and VHDS.
vroute() {
    echo '{"@type":"type.googleapis.com/envoy.config.route.v3.RouteConfiguration","name":"'$1'","vhds":{"config_source":'$2'},"virtual_hosts":[{"name":"base","domains":["base.example"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"ca"}}]}]}'
}

# vhost NAME DOMAIN CLUSTER [on_demand]: a VHDS virtual host.
vhost() {
    local md=""
    [ "${4:-}" = on_demand ] && md=',"metadata":{"filter_metadata":{"xds-server":{"on_demand":true}}}'
    echo '{"@type":"type.googleapis.com/envoy.config.route.v3.VirtualHost","name":"'$1'","domains":["'$2'"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"'$3'"}}]'$md'}'
}

for c in a b c; do
    put cluster "c$c" "$(cluster_eds "c$c")" || exit 1
    p="UP_PORT_u$c"
    put endpoint "c$c" "$(cla "c$c" "${!p}")" || exit 1
done
put route rc1 "$(vroute rc1 "$VCS")" || exit 1
put virtual_host rc1/vh-a "$(vhost rc1/vh-a a.example ca)" || exit 1
put virtual_host rc1/vh-ws "$(vhost rc1/vh-ws ws.example cb)" || exit 1
put virtual_host rc1/vh-od "$(vhost rc1/vh-od od.example cc on_demand)" || exit 1
put virtual_host rc1/vh-post "$(vhost rc1/vh-post post.example ca on_demand)" || exit 1
put listener l1 "$(listener_rds l1 rc1 0 "$ON_DEMAND")" || exit 1
put listener l2 "$(listener_rds l2 rc1)" || exit 1

px_start a
NODE=px-a
check "start: l1 (on_demand) bound" poll 15 has_port a l1
check "start: l2 (no on_demand) bound" poll 15 has_port a l2
P1=$(px_port a l1)
P2=$(px_port a l2)

# hserves PORT HOST CODE [SERVER]: GET / with that Host answers CODE (from
# upstream SERVER).
hserves() { REQ_HOST=$2 serves "http://127.0.0.1:$1/" "$3" "${4:-}"; }

vh_sub() { node_type "$NODE" virtual_host; }
vh_subscribed() { contains "$(vh_sub)" "$1"; }
vh_not_subscribed() { not_contains "$(vh_sub)" "$1"; }

# ---- pushed virtual hosts ---------------------------------------------------------
check "rds: the route configuration's own virtual host serves" poll 10 hserves "$P2" base.example 200 ua
check "push: a pushed VHDS virtual host serves (no on_demand filter)" poll 10 hserves "$P2" a.example 200 ua
check "push: and through the listener with on_demand" hserves "$P1" ws.example 200 ub
check "push: the proxy subscribed the route configuration's name" poll 5 vh_subscribed '"subscribed":["rc1"]'
check "push: virtual_host ACKed" poll 5 acked "$NODE" virtual_host
if [ "$VARIANT" = ads_delta ]; then
    check "push: VHDS rides the Delta ADS stream" contains "$(node_json "$NODE")" '"kind":"ads","mode":"delta","peer"'
else
    check "push: VHDS has its Delta VirtualHostDiscoveryService stream" contains "$(node_json "$NODE")" '"kind":"vhds","mode":"delta"'
fi

# ---- on demand ------------------------------------------------------------------------------
check "on-demand: without the on_demand filter an unknown host is a 404 (on-demand virtual hosts are not pushed)" hserves "$P2" od.example 404
check "on-demand: ... and nothing was asked for" vh_not_subscribed 'rc1/od.example'
check "on-demand: with on_demand the request is held, fetched and routed" hserves "$P1" od.example 200 uc
check "on-demand: the proxy subscribed rc1/od.example" vh_subscribed '"rc1/od.example"'
check "on-demand: the fetched virtual host serves the other listener too" hserves "$P2" od.example 200 uc
check "on-demand: a second request is served at once" hserves "$P1" od.example 200 uc

head -c 100000 /dev/zero | tr '\0' x >"$XT_TMP/body"
post_on_demand() {
    R_BODY=$(curl -s --max-time 10 -H "Host: post.example" --data-binary @"$XT_TMP/body" \
        "http://127.0.0.1:$P1/upload")
    contains "$R_BODY" '"body_bytes":100000'
}
check "on-demand: a request with a body waits, then streams its whole body upstream" post_on_demand

check "absent: a host the server has no virtual host for is a 404" hserves "$P1" nope.example 404
gave_up() { grep -q "no answer for on-demand virtual host rc1/nope.example" "$PX_LOG_a"; }
answered_not_timed_out() { ! gave_up; }
check "absent: the 404 came from the server's answer, not the wait bound" answered_not_timed_out
check "absent: the proxy does not stay subscribed to it" poll 5 vh_not_subscribed 'rc1/nope.example'
put virtual_host rc1/vh-nope "$(vhost rc1/vh-nope nope.example cc on_demand)"
check "absent: once a virtual host exists, the next request fetches it" poll 10 hserves "$P1" nope.example 200 uc

# ---- VHDS updates under a WebSocket --------------------------------------------
ws_start "$P1" through-vhds --host ws.example --hold-ms 6000
check "update: a WebSocket is open through VHDS virtual host ws.example" poll 10 ws_open ub
put virtual_host rc1/vh-new "$(vhost rc1/vh-new new.example ca)"
check "update: an added virtual host serves new requests" poll 10 hserves "$P2" new.example 200 ua
del virtual_host rc1/vh-a
check "update: a removed virtual host is gone for new requests" poll 10 hserves "$P2" a.example 404
check "update: ... also with on_demand (the server says it does not exist)" hserves "$P1" a.example 404
put virtual_host rc1/vh-new "$(vhost rc1/vh-new new.example cc)"
check "update: a changed virtual host serves its new route" poll 10 hserves "$P2" new.example 200 uc
check "update: the route configuration's own virtual host still serves" hserves "$P2" base.example 200 ua
check "update: the WebSocket is still open" ws_open ub
wait "$WS"
wsrc=$?
check "update: the WebSocket echoed every message and closed normally" eq "$wsrc" 0
[ "$wsrc" = 0 ] || cat "$XT_TMP/ws.out" "$XT_TMP/ws.err"

# ---- rejected ------------------------------------------------------------------------
SOTW_VCS='{"api_config_source":{"api_type":"GRPC",'$XDS_CLUSTER_API'},"resource_api_version":"V3"}'
put route rc-bad "$(vroute rc-bad "$SOTW_VCS")"
put listener l3 "$(listener_rds l3 rc-bad)"
route_nack() { type_has "$NODE" route "$1"; }
check "reject: a State-of-the-World vhds source is NACKed naming the field" \
    poll 10 route_nack 'route_config[rc-bad].vhds.config_source.api_config_source.api_type'
check "reject: ... saying why" route_nack 'Delta'
if [ "$VARIANT" = ads_sotw ]; then
    put route rc-bad "$(vroute rc-bad '{"ads":{},"resource_api_version":"V3"}')"
    check "reject: vhds over a State-of-the-World ADS stream is NACKed naming the field" \
        poll 10 route_nack 'route_config[rc-bad].vhds.config_source.ads'
fi
INLINE='{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"l4","address":{"socket_address":{"address":"127.0.0.1","port_value":0}},"filter_chains":[{"filters":[{"name":"hcm","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager","stat_prefix":"l4","route_config":{"name":"inl","vhds":{"config_source":'$VCS'},"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"route":{"cluster":"ca"}}]}]},"http_filters":['$ROUTER']}}]}]}'
put listener l4 "$INLINE"
listener_nack() { type_has "$NODE" listener "$1"; }
check "reject: vhds on an inline route_config is NACKed naming the field" \
    poll 10 listener_nack 'route_config.vhds'
check "reject: the VHDS virtual hosts keep serving" hserves "$P2" new.example 200 uc

# ---- the control plane gone: the wait bound ---------------------------------------------
kill -9 "$XDS_PID"
wait "$XDS_PID" 2>/dev/null
gone_gave_up() { grep -q "no answer for on-demand virtual host rc1/gone.example in time" "$PX_LOG_a"; }
check "bound: with the control plane gone an unknown host gets a 404" hserves "$P1" gone.example 404
check "bound: ... after the wait bound (no answer came)" poll 5 gone_gave_up
check "bound: the fetched virtual hosts keep serving" hserves "$P1" od.example 200 uc
check "bound: ... and the pushed ones" hserves "$P2" ws.example 200 ub
xds_start # same ports: the proxy reconnects and re-subscribes
# (after a jittered backoff of up to 30 s, Envoy's default maximum)
check "bound: virtual_host ACKed again after reconnecting" poll 35 acked "$NODE" virtual_host
check "bound: after reconnecting the on-demand host still serves" poll 15 hserves "$P1" nope.example 200 uc

px_stop a
xds_stop
finish
