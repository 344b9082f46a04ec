#!/usr/bin/env bash
# A control plane with habits of its own, as a third-party one has (argument
# 5: the variant). xds-server serves a directory that this script rewrites
# the way a snapshot-based control plane publishes: one DiscoveryResponse-
# shaped file per type, all four replaced together for every version. Every
# version renames everything: listeners edge-V-I (on the same three ports),
# their arbitrary network and HTTP filter names, route configurations
# rc-V-I, clusters svc-V-J and their assignments (the previous version's
# routes and clusters are kept one more version, make-before-break).
#
# After each of VERSIONS pushes, every listener must serve every route with
# the new version (its prefix_rewrite names the version, and the upstream
# echoes the path), and the time from the push to all of that is printed
# (the issue asks for under a second; a timing is reported, not checked).
# Meanwhile:
#   - a WebSocket opened before the first rename echoes through all of them,
#     and an idle keep-alive connection is served by the last version (the
#     renamed listener took over its socket and its connections);
#   - a client opening a new connection for every request keeps getting
#     answers: renaming a listener on the same address hands its socket to
#     the new name, so no connection waiting to be accepted is dropped.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

VERSIONS=20
[ "$UNDER_ASAN" = 1 ] && VERSIONS=12

up_start up1
up_start up2
up_start up3

# Three fixed ports for the listeners (renamed listeners keep their port):
# free ones, found by letting xp_upstream bind port 0 and stopping it.
PORTS=()
for i in 1 2 3; do
    up_start "probe$i"
    p="UP_PORT_probe$i"
    PORTS+=("${!p}")
    kill -TERM "${XT_PIDS[-1]}"
    wait "${XT_PIDS[-1]}" 2>/dev/null
done

T_LDS=type.googleapis.com/envoy.config.listener.v3.Listener
T_RDS=type.googleapis.com/envoy.config.route.v3.RouteConfiguration
T_CDS=type.googleapis.com/envoy.config.cluster.v3.Cluster
T_EDS=type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment
HCM_T=type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
ROUTER_T=type.googleapis.com/envoy.extensions.filters.http.router.v3.Router

# routes_of V: the route list of version V (/sJ/ -> svc-V-J, rewritten to
# /vV/sJ/; /ws -> svc-V-1).
routes_of() {
    local v=$1 j out='{"match":{"path":"/ws"},"route":{"cluster":"svc-'$v'-1"}}'
    for j in 1 2 3; do
        out="$out,{\"match\":{\"prefix\":\"/s$j/\"},\"route\":{\"cluster\":\"svc-$v-$j\",\"prefix_rewrite\":\"/v$v/s$j/\"}}"
    done
    echo "$out"
}

# The resources of version V, number K.
cla_of() {
    local u=("$UP_PORT_up1" "$UP_PORT_up2" "$UP_PORT_up3")
    echo "{\"@type\":\"$T_EDS\",\"cluster_name\":\"svc-$1-$2\",\"endpoints\":[{\"lb_endpoints\":[{\"endpoint\":{\"address\":{\"socket_address\":{\"address\":\"127.0.0.1\",\"port_value\":${u[$(($2 - 1))]}}}}}]}]}"
}
cluster_of() {
    echo "{\"@type\":\"$T_CDS\",\"name\":\"svc-$1-$2\",\"type\":\"EDS\",\"connect_timeout\":\"0.5s\",\"eds_cluster_config\":{\"service_name\":\"svc-$1-$2\",\"eds_config\":$CS}}"
}
rc_of() {
    echo "{\"@type\":\"$T_RDS\",\"name\":\"rc-$1-$2\",\"virtual_hosts\":[{\"name\":\"vh-$1\",\"domains\":[\"*\"],\"routes\":[$(routes_of "$1")]}]}"
}
# Listeners 1 and 2 use RDS, listener 3 inline routes.
listener_of() {
    local spec
    if [ "$2" -le 2 ]; then
        spec="\"rds\":{\"route_config_name\":\"rc-$1-$2\",\"config_source\":$CS}"
    else
        spec="\"route_config\":{\"name\":\"inline-$1\",\"virtual_hosts\":[{\"name\":\"vh\",\"domains\":[\"*\"],\"routes\":[$(routes_of "$1")]}]}"
    fi
    echo "{\"@type\":\"$T_LDS\",\"name\":\"edge-$1-$2\",\"address\":{\"socket_address\":{\"address\":\"127.0.0.1\",\"port_value\":${PORTS[$(($2 - 1))]}}},\"filter_chains\":[{\"filters\":[{\"name\":\"acme.ingress/$1.$2\",\"typed_config\":{\"@type\":\"$HCM_T\",\"stat_prefix\":\"in$2\",\"upgrade_configs\":[{\"upgrade_type\":\"websocket\"}],$spec,\"http_filters\":[{\"name\":\"acme-router-$1\",\"typed_config\":{\"@type\":\"$ROUTER_T\"}}]}}]}]}"
}

# response FILE V TYPE_URL FN N [VERSIONS]: a DiscoveryResponse of FN V' K
# for K in 1..N and V' in VERSIONS (default: V-1, when there is one, and V),
# written to $XT_TMP/FILE.tmp.
response() {
    local f=$1 v=$2 url=$3 fn=$4 n=$5 vs=${6:-"$(($2 - 1)) $2"} vv k res="" sep=""
    for vv in $vs; do
        [ "$vv" -ge 1 ] || continue
        for k in $(seq 1 "$n"); do
            res="$res$sep$($fn "$vv" "$k")"
            sep=,
        done
    done
    printf '{"version_info":"cp-%s","type_url":"%s","resources":[%s]}\n' "$v" "$url" "$res" >"$XT_TMP/$f.tmp"
}

# publish V: the files of version V (routes and clusters of V-1 too), written
# within the server's settle time, in dependency order.
publish() {
    response endpoints "$1" "$T_EDS" cla_of 3
    response clusters "$1" "$T_CDS" cluster_of 3
    response routes "$1" "$T_RDS" rc_of 2
    response listeners "$1" "$T_LDS" listener_of 3 "$1"
    local f
    for f in endpoints clusters routes listeners; do mv "$XT_TMP/$f.tmp" "$RES_DIR/$f.json"; done
}

# serves_version V: every listener serves every /sJ/ route of version V.
serves_version() {
    local v=$1 i j
    for i in 1 2 3; do
        for j in 1 2 3; do
            serves "http://127.0.0.1:${PORTS[$((i - 1))]}/s$j/x" 200 "up$j" "/v$v/s$j/x" || return 1
        done
    done
}

publish 1
xds_start
px_start a
check "version 1: every listener serves every route" poll 10 serves_version 1
check "version 1: xproxy runs one listener per port, named as this version names them" \
    eval 'has_port a edge-1-1 && has_port a edge-1-2 && has_port a edge-1-3'

# ka_get PATH: one request on the keep-alive connection on fd 5 (listener
# 3); sets KA_STATUS and KA_BODY.
ka_get() {
    local line len=0
    KA_STATUS= KA_BODY=
    printf 'GET %s HTTP/1.1\r\nHost: ka\r\n\r\n' "$1" >&5 || return 1
    IFS= read -r -t 5 line <&5 || return 1
    KA_STATUS=$(echo "$line" | awk '{print $2}')
    while IFS= read -r -t 5 line <&5; do
        line=${line%$'\r'}
        [ -z "$line" ] && break
        case "${line,,}" in content-length:*) len=${line#*: } ;; esac
    done
    [ "$len" -gt 0 ] && IFS= read -r -N "$len" -t 5 KA_BODY <&5
    return 0
}
exec 5<>"/dev/tcp/127.0.0.1/${PORTS[2]}"
ka_get /s1/k
check "a keep-alive connection to listener 3 is served by version 1" \
    eval '[ "$KA_STATUS" = 200 ] && contains "$KA_BODY" "\"path\":\"/v1/s1/k\""'

# A WebSocket through listener 1 that must live through every rename.
ws_start "${PORTS[0]}" held --hold-ms 600000 --stop-file "$XT_TMP/stop"
# A client opening a new connection for every request to listener 2.
(
    ok_n=0 bad_n=0
    while [ ! -f "$XT_TMP/stop" ]; do
        c=$(curl -s --max-time 2 -o /dev/null -w '%{http_code} %{time_total}s %{errormsg}' \
            "http://127.0.0.1:${PORTS[1]}/s1/n")
        if [ "${c%% *}" = 200 ]; then ok_n=$((ok_n + 1)); else
            bad_n=$((bad_n + 1))
            echo "$(date -u +%T.%N) $c" >>"$XT_TMP/newconn.bad"
        fi
    done
    echo "$ok_n $bad_n" >"$XT_TMP/newconn.out"
) &
NC_PID=$!
XT_PIDS+=("$NC_PID")
sleep 0.3

worst=0 total=0 failed=0
for v in $(seq 2 "$VERSIONS"); do
    publish "$v"
    t0=$(now_ms) # the files are in place
    if poll 10 serves_version "$v" >/dev/null; then
        dt=$(($(now_ms) - t0))
        total=$((total + dt))
        [ "$dt" -gt "$worst" ] && worst=$dt
    else
        failed=$((failed + 1))
        echo "  version $v was not served by every listener within 10 s: $(cat "$XT_TMP/poll.out")"
    fi
done
n=$((VERSIONS - 1))
echo "# $n renaming updates: files in place to every listener serving the new version (checked every 50 ms, 9 requests a round): mean $((total / n)) ms, worst $worst ms"
check "every one of $n renaming updates was served by every listener" eq "$failed" 0
check "after the last: only this version's listeners are left" \
    eval "no_port a edge-$((VERSIONS - 1))-1 && has_port a edge-$VERSIONS-1 && has_port a edge-$VERSIONS-3"
check "after the last: the listeners kept their ports" eq "$(px_port a "edge-$VERSIONS-2")" "${PORTS[1]}"
check "the last version is ACKed for every type" poll 5 all_acked px-a
check "no listener update was NACKed" eq "$(px_stat a listener_manager.lds.update_rejected)" 0

ka_get /s1/k
check "the keep-alive connection opened before the renames is served by the last version" \
    eval '[ "$KA_STATUS" = 200 ] && contains "$KA_BODY" "\"path\":\"/v$VERSIONS/s1/k\""'
exec 5>&-

touch "$XT_TMP/stop"
wait "$NC_PID" 2>/dev/null
read -r nc_ok nc_bad <"$XT_TMP/newconn.out"
echo "# new-connection client: $nc_ok answered, $nc_bad not"
check "the new-connection client made requests throughout ($nc_ok)" [ "$nc_ok" -ge "$n" ]
check "no new connection failed while listeners were renamed ($nc_bad failed)" eq "$nc_bad" 0
[ -f "$XT_TMP/newconn.bad" ] && head -5 "$XT_TMP/newconn.bad"
wait_exit "$WS" 10 || XP_RC=124
ws_rc=$XP_RC
ws_json=$(cat "$XT_TMP/ws.out")
check "the WebSocket opened before the renames echoed every message through them (exit $ws_rc)" \
    eq "$ws_rc" 0
check "... with no mismatch" contains "$ws_json" '"mismatches":0'
check "... and echoed throughout" matches_re "$ws_json" '"received":[1-9][0-9]'

px_stop a
xds_stop
finish
