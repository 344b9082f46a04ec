#!/usr/bin/env bash
# xproxy's xDS client against the real xds-server, in one of the five
# transport variants (argument 5): every resource type ACKed in /nodes; a
# response with invalid listeners NACKed with the resource and field path
# while its valid sibling is applied and the old config keeps serving;
# routes, clusters, endpoints and listeners added, changed and removed take
# effect for new requests; warming (a route, its cluster and its assignment
# at once never answer 503; a listener waits for its RDS route before it
# binds); /config_dump's dynamic sections.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

# Checks that expose xproxy bugs not fixed yet (descriptions, exactly).
KNOWN_FAILURES=()

up_start up1
up_start up2
up_start up3
xds_start
put_main "$(rt /a c1),$(rt /b c1 /b1)"

px_start a
NODE=px-a
check "start: listener main bound (LDS + RDS)" poll 10 has_port a main
MAIN=$(px_port a main)
U=http://127.0.0.1:$MAIN
check "start: /a served by up1 through EDS cluster c1" poll 5 serves "$U/a/x" 200 up1 /a/x
check "start: /b prefix_rewrite /b1" serves "$U/b/x" 200 up1 /b1/x
check "start: xproxy /ready is LIVE" contains "$(curl -s --max-time 5 "http://$(px_admin a)/ready")" LIVE

# ---- 1. ACK round trips ----------------------------------------------------
for t in listener route cluster endpoint; do
    check "ACK: $t acked_version == sent_version" poll 5 acked "$NODE" "$t"
done
n=$(nodes)
check "ACK: /nodes shows node $NODE (cluster xds-test)" contains "$n" "\"id\":\"$NODE\",\"cluster\":\"xds-test\""
check "ACK: /nodes streams are $XT_MODE" contains "$n" "\"mode\":\"$XT_MODE\""
if [ "${VARIANT%%_*}" = ads ]; then
    check "ACK: one ADS stream" contains "$n" '"kind":"ads"'
else
    check "ACK: per-type streams, no ADS" not_contains "$n" '"kind":"ads"'
    check "ACK: a stream per type (4)" eq "$(printf '%s' "$n" | grep -o '"kind":"[a-z]*"' | wc -l)" 4
fi
check "ACK: route subscription names r1" contains "$(node_type "$NODE" route)" '"subscribed":["r1"]'
check "ACK: endpoint subscription names c1" contains "$(node_type "$NODE" endpoint)" '"subscribed":["c1"]'
check "ACK: no NACK so far" not_contains "$n" '"error_detail"'
att=$(px_stat a listener_manager.lds.update_attempt)
check "ACK: listener_manager.lds.update_attempt counts each LDS response once" eq "$att" 1

# ---- 2. NACK ---------------------------------------------------------------
rej0=$(px_stat a listener_manager.lds.update_rejected)
rej0=${rej0:-0}
BAD_PORT=$(listener_inline badport c1 70000)
BAD_FILTER=$(listener_inline badfilter c1 0 '{"name":"envoy.filters.http.cors"},')
GOOD=$(listener_inline good c1)
write_file nack.json "{\"version_info\":\"ignored\",\"resources\":[$BAD_PORT,$BAD_FILTER,$GOOD]}"
check "NACK: the valid sibling 'good' is bound" poll 5 has_port a good
GOOD_PORT=$(px_port a good)
check "NACK: the valid sibling serves traffic" serves "http://127.0.0.1:$GOOD_PORT/g" 200 up1 /g
nack_has() { contains "$(node_type "$NODE" listener)" "$1"; }
check "NACK: last_nack recorded" poll 5 nack_has '"error_detail":"'
j=$(node_type "$NODE" listener)
check "NACK: error_detail names listener[badport] and the field path" contains "$j" \
    'listener[badport].address.socket_address.port_value: port 70000 is out of range'
check "NACK: error_detail names listener[badfilter] and the http filter path" contains "$j" \
    "listener[badfilter].filter_chains[0].filters[0].typed_config.http_filters[0]: HTTP filter 'envoy.filters.http.cors'"
check "NACK: the NACKed version is not acked" not_contains "$(jfield "$j" acked_version)" "$(jfield "$j" sent_version)"
check "NACK: listener badfilter not bound" no_port a badfilter
check "NACK: listener badport not bound" no_port a badport
check "NACK: previously accepted config keeps serving" serves_n 5 "$U/a/y" 200 up1 /a/y
rej1=$(px_stat a listener_manager.lds.update_rejected)
check "NACK: listener_manager.lds.update_rejected increments ($rej0 -> $rej1)" [ "${rej1:-0}" -gt "$rej0" ]
check "NACK: listener_manager.lds.update_rejected grows by exactly 1 per rejected update" eq "${rej1:-0}" $((rej0 + 1))
check "NACK: xproxy logs the rejection" contains "$(cat "$PX_LOG_a")" "listener[badport]"
# An accepted listener changed into an invalid one: the old one stays.
GOOD_BAD=$(listener_inline good c1 70000)
write_file nack.json "{\"version_info\":\"ignored\",\"resources\":[$GOOD_BAD]}"
check "NACK: a bad update of listener good is NACKed" poll 5 nack_has 'listener[good].address.socket_address.port_value'
check "NACK: listener good keeps its port and serves" serves "http://127.0.0.1:$GOOD_PORT/g2" 200 up1 /g2
check "NACK: listener good still on port $GOOD_PORT" eq "$(px_port a good)" "$GOOD_PORT"
rm -f "$RES_DIR/nack.json"
check "remove: listener good stops accepting once its file is gone" poll 5 refuses "$GOOD_PORT"
check "remove: listener good gone from /listeners" poll 5 no_port a good
check "NACK: after the fix the listener version is ACKed again" poll 5 acked "$NODE" listener
check "remove: main unaffected" serves "$U/a/z" 200 up1 /a/z

# ---- 3. add / change / remove ------------------------------------------------
check "route: /new is 404 before it exists" serves "$U/new" 404
t0=$(now_ms)
put route r1 "$(route_cfg r1 "$(rt /new c1),$(rt /a c1),$(rt /b c1 /b1)")"
check "route: a new route answers" poll 5 serves "$U/new/x" 200 up1 /new/x
t1=$(now_ms)
echo "# route: PUT to the new route answering: $((t1 - t0)) ms (a timing is reported, not checked)"

put route r1 "$(route_cfg r1 "$(rt /new c1),$(rt /a c1),$(rt /b c1 /b2)")"
check "route: a changed prefix_rewrite is used" poll 5 serves "$U/b/x" 200 up1 /b2/x
check "route: ... by every next request" serves_n 10 "$U/b/x" 200 up1 /b2/x

put cluster c2 "$(cluster_eds c2)"
put endpoint c2 "$(cla c2 "$UP_PORT_up2")"
put route r1 "$(route_cfg r1 "$(rt /new c1),$(rt /a c1),$(rt /b c2 /b2)")"
check "route: a changed cluster (new EDS cluster c2 -> up2) is used" poll 5 serves "$U/b/x" 200 up2 /b2/x
check "route: ... by every next request" serves_n 10 "$U/b/x" 200 up2 /b2/x
check "ACK: endpoint subscription now names c1 and c2" poll 5 type_has "$NODE" endpoint '"subscribed":["c1","c2"]'

put route r1 "$(route_cfg r1 "$(rt /a c1),$(rt /b c2 /b2)")"
check "route: a removed route answers 404" poll 5 serves "$U/new/x" 404
check "route: ... for every next request" serves_n 5 "$U/new/x" 404

put endpoint c1 "$(cla c1 "$UP_PORT_up3")"
check "EDS: an endpoint change moves new requests to up3" poll 5 serves "$U/a/x" 200 up3
check "EDS: ... every next request" serves_n 10 "$U/a/x" 200 up3

del cluster c2
check "CDS: removed cluster c2 -> 503 for routes to it" poll 5 serves "$U/b/x" 503
check "CDS: ... every next request" serves_n 5 "$U/b/x" 503
check "CDS: other routes unaffected" serves "$U/a/x" 200 up3
check "CDS: EDS subscription drops c2" poll 5 type_has "$NODE" endpoint '"subscribed":["c1"]'
del endpoint c2

put listener l2 "$(listener_inline l2 c1)"
check "LDS: a new listener binds a new port" poll 5 has_port a l2
L2=$(px_port a l2)
check "LDS: the new listener ($L2) accepts and serves" serves "http://127.0.0.1:$L2/l2" 200 up3 /l2
check "LDS: the new listener has its own port" [ "$L2" != "$MAIN" ]
del listener l2
check "LDS: a removed listener stops accepting" poll 5 refuses "$L2"
check "LDS: main still serves" serves "$U/a/x" 200 up3
check "LDS: main kept its port" eq "$(px_port a main)" "$MAIN"

# An access logger xproxy does not implement (the gRPC access log service) is
# accepted with a warning, and server.access_logs_unimplemented counts it
# while a listener in force has it.
ALS='"access_log":[{"name":"envoy.access_loggers.http_grpc","typed_config":{"@type":"type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig","common_config":{"log_name":"l3","transport_api_version":"V3","grpc_service":{"envoy_grpc":{"cluster_name":"als"}}}}}]'
check "ALS: server.access_logs_unimplemented is 0 before" eq "$(px_stat a server.access_logs_unimplemented)" 0
put listener l3 "$(listener_hcm l3 0 "$ALS,\"route_config\":{\"virtual_hosts\":[{\"name\":\"all\",\"domains\":[\"*\"],\"routes\":[$(rt / c1)]}]}")"
check "ALS: a listener with an unimplemented access logger is accepted and serves" \
    poll 5 has_port a l3
check "ALS: ... and serves" serves "http://127.0.0.1:$(px_port a l3)/l3" 200 up3 /l3
check "ALS: the listener version is ACKed" poll 5 acked "$NODE" listener
check "ALS: server.access_logs_unimplemented counts it" eq "$(px_stat a server.access_logs_unimplemented)" 1
check "ALS: the log warns, naming the field and the logger" \
    contains "$(cat "$PX_LOG_a")" "access_log[0].typed_config: access logger 'envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig' is not implemented"
del listener l3
check "ALS: the count goes back to 0 when the listener goes" \
    poll 5 eval '[ "$(px_stat a server.access_logs_unimplemented)" = 0 ]'

# ---- 4. warming ------------------------------------------------------------------
# A listener whose RDS route does not exist yet does not bind.
put listener lw "$(listener_rds lw rw)"
check "warming: RDS subscription asks for rw" poll 5 type_has "$NODE" route '"rw"'
unbound_for() { # LISTENER MS: stays unbound that long
    local end=$(($(now_ms) + $2))
    while [ "$(now_ms)" -lt "$end" ]; do no_port a "$1" || return 1; sleep 0.1; done
}
check "warming: listener lw without its route does not bind (1.5 s)" unbound_for lw 1500
dl=$(curl -s --max-time 5 "http://$(px_admin a)/config_dump?resource=dynamic_listeners" | xt_compact)
check "warming: config_dump shows lw in warming_state" contains "$dl" '"name":"lw","warming_state"'
put route rw "$(route_cfg rw "$(rt / c1)")"
check "warming: lw binds once its route arrives" poll 5 has_port a lw
check "warming: lw serves" serves "http://127.0.0.1:$(px_port a lw)/w" 200 up3 /w

# A route to a new cluster, the cluster (EDS) and its assignment in one
# snapshot (one file replacing route-r1.json): /warm never answers 503. The
# new route comes last, where the check of new routes' clusters ends.
CODES=$XT_TMP/warm.codes
: >"$CODES"
(
    while [ ! -e "$XT_TMP/warm.stop" ]; do
        curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' "$U/warm/x" >>"$CODES"
    done
) &
POLLER=$!
XT_PIDS+=("$POLLER")
has_404() { grep -q 404 "$CODES"; }
poll 5 has_404
R1=$(route_cfg r1 "$(rt /a c1),$(rt /b c2 /b2),$(rt /warm cw)")
write_file route-r1.json "{\"version_info\":\"ignored\",\"resources\":[$R1,$(cluster_eds cw),$(cla cw "$UP_PORT_up2")]}"
has_200() { grep -q 200 "$CODES"; }
check "warming: /warm answers 200 once route, cluster and endpoints are in" poll 5 has_200
sleep 1
touch "$XT_TMP/warm.stop"
wait "$POLLER" 2>/dev/null
echo "  /warm answers during the change: $(sort "$CODES" | uniq -c | tr -s ' \n' ' ')"
check "warming: no 503 while route, cluster and endpoints arrive together" not_contains "$(cat "$CODES")" 503
check "warming: only 404, then 200" eq "$(uniq "$CODES" | tr '\n' ' ')" "404 200 "
check "warming: /warm served by up2 through cw" serves "$U/warm/x" 200 up2 /warm/x

# ---- 8. /config_dump ---------------------------------------------------------------
A=$(px_admin a)
dl=$(curl -s --max-time 5 "http://$A/config_dump?resource=dynamic_listeners" | xt_compact)
check "config_dump: dynamic_listeners has main, active, with a version" matches_re "$dl" \
    '"name":"main","active_state":\{"version_info":"[^"]+","listener":\{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"main"'
check "config_dump: dynamic_listeners has lw, active" contains "$dl" '"name":"lw","active_state"'
check "config_dump: dynamic_listeners has a last_updated" contains "$dl" '"last_updated":"20'
check "config_dump: removed listeners are gone" not_contains "$dl" '"name":"l2"'
dc=$(curl -s --max-time 5 "http://$A/config_dump?resource=dynamic_active_clusters" | xt_compact)
check "config_dump: dynamic_active_clusters has c1 and cw with versions" matches_re "$dc" \
    '"configs":\[.*"@type":"type.googleapis.com/envoy.admin.v3.ClustersConfigDump.DynamicCluster","version_info":"[^"]+","cluster":\{"@type":"type.googleapis.com/envoy.config.cluster.v3.Cluster","name":"(c1|cw)"'
check "config_dump: dynamic_active_clusters has cw" contains "$dc" '"name":"cw"'
check "config_dump: the removed cluster c2 is gone" not_contains "$dc" '"name":"c2"'
dr=$(curl -s --max-time 5 "http://$A/config_dump?resource=dynamic_route_configs" | xt_compact)
check "config_dump: dynamic_route_configs has r1 and rw with versions" matches_re "$dr" \
    '"configs":\[.*"@type":"type.googleapis.com/envoy.admin.v3.RoutesConfigDump.DynamicRouteConfig","version_info":"[^"]+","route_config":\{"@type":"type.googleapis.com/envoy.config.route.v3.RouteConfiguration","name":"r(1|w)"'
check "config_dump: r1 has the latest routes" contains "$dr" '"prefix":"/warm"'
if [ "$DELTA" = 1 ]; then
    # Delta: each resource carries the server's own version of it.
    v=$(curl -s --max-time 5 "http://$XDS_ADMIN/resources" | grep -o '"type":"listener","type_url":"[^"]*","name":"main","version":"[^"]*"' | grep -o '[^"]*"$' | tr -d '"')
    check "config_dump: Delta version of main is the server's resource version ($v)" contains "$dl" "\"name\":\"main\",\"active_state\":{\"version_info\":\"$v\""
else
    v=$(jfield "$(node_type "$NODE" listener)" acked_version)
    check "config_dump: SotW version of lw is the ACKed listener version ($v)" contains "$dl" "\"name\":\"lw\",\"active_state\":{\"version_info\":\"$v\""
fi
check "config_dump: ?resource=dynamic_active_clusters has only clusters" not_contains "$dc" 'ListenersConfigDump'
check "config_dump: ?resource= answers Envoy's {\"configs\": [...]} shape" contains "$dc" '"configs"'
full=$(curl -s --max-time 5 "http://$A/config_dump")
check "config_dump: full /config_dump lists the dynamic listener main" contains "$full" '"name": "main"'

check "end: every type ACKed" poll 5 all_acked "$NODE"

# ---- per-type sources with different api_types for LDS and CDS ----------------------
if [ "${VARIANT%%_*}" = types ]; then
    if [ "$DELTA" = 1 ]; then lmode=delta; other=GRPC; cmode=sotw; else
        lmode=sotw; other=DELTA_GRPC; cmode=delta; fi
    # cds_config (and the RDS/EDS sources, which follow it) switch api_type.
    PX_BOOT_SED="/^  cds_config:/s/api_type: [A-Z_]*/api_type: $other/"
    if [ "$REST" = 1 ]; then # REST for LDS and RDS, gRPC for CDS and EDS
        lmode=rest; other=GRPC; cmode=sotw
        PX_BOOT_SED="/^  cds_config:/c\\  cds_config: { api_config_source: { api_type: GRPC, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: xds_cluster } }] }, resource_api_version: V3 }"
    fi
    px_start m
    PX_BOOT_SED=
    check "mixed sources: proxy m binds main" poll 10 has_port m main
    check "mixed sources: proxy m serves" poll 5 serves "http://127.0.0.1:$(px_port m main)/a/m" 200 up3 /a/m
    mixed_cds() { contains "$(node_json px-m)" "\"kind\":\"cds\",\"mode\":\"$cmode\""; }
    check "mixed sources: cds_config's api_type ($other) is used for CDS" poll 5 mixed_cds
    check "mixed sources: lds_config's api_type is honoured" contains "$(node_json px-m)" "\"kind\":\"lds\",\"mode\":\"$lmode\""
    px_stop m
fi

# ---- REST sources the way Envoy rejects them: an error naming the field ---------
if [ "$REST" = 1 ]; then
    # rejects SED TEXT: a bootstrap edited with SED makes xproxy exit 1 with TEXT.
    rejects() {
        local boot="$XT_TMP/bad.yaml" out rc
        bootstrap "$boot" px-bad
        sed -i -e "$1" "$boot"
        out=$(timeout 20 "$XPROXY" -c "$boot" --concurrency 1 2>&1)
        rc=$?
        [ "$rc" = 1 ] || { echo "  exit code $rc: ${out:0:600}"; return 1; }
        contains "$out" "$2"
    }
    AT=dynamic_resources.cds_config.api_config_source
    check "REST config: refresh_delay is required" rejects "s/refresh_delay: 0.2s, //" \
        "error: $AT.refresh_delay: refresh_delay is required for REST API configuration sources"
    check "REST config: cluster_names must name a static cluster" rejects \
        "/cds_config/s/cluster_names: \[xds_rest\]/cluster_names: [nope]/" \
        "error: $AT.cluster_names[0]: 'nope' is not a static cluster with an endpoint"
    check "REST config: exactly one cluster in cluster_names" rejects \
        "/cds_config/s/cluster_names: \[xds_rest\]/cluster_names: [xds_rest, xds_cluster]/" \
        "error: $AT.cluster_names: api_type REST needs exactly one static cluster (2 given)"
    check "REST config: no ADS over REST" rejects \
        "s/^  lds_config:.*/  ads_config: { api_type: REST, cluster_names: [xds_rest], refresh_delay: 1s }\n  lds_config: { ads: {} }/" \
        "error: dynamic_resources.ads_config.api_type: ADS is not available over REST"
    # rate_limit_settings is for gRPC sources: REST starts and warns.
    PX_BOOT_SED="/cds_config/s/refresh_delay: 0.2s,/& rate_limit_settings: { max_tokens: 1 },/" \
        px_start rl
    check "REST config: rate_limit_settings is ignored with a warning naming it" \
        contains "$(cat "$PX_LOG_rl")" "warning: $AT.rate_limit_settings: applies to gRPC sources only"
    check "REST config: ... and the proxy serves" poll 10 has_port rl main
    px_stop rl
fi

px_stop a
xds_stop
finish
