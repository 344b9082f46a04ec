#!/usr/bin/env bash
# xproxy's xDS client when the management server goes away, in one of the
# five transport variants (argument 5). Two xproxy instances (different
# --service-node ids) on one xds-server both appear in /nodes and both
# serve; the server is killed (SIGKILL): traffic and an established WebSocket
# keep going on the last config; the server restarts on the same port with
# the same directory: both proxies reconnect (ACKs in /nodes), nothing is
# removed or rebound, Delta's initial_resource_versions spare the server
# resending unchanged resources, and a change after the restart is applied.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

# Checks that expose xproxy bugs not fixed yet (descriptions, exactly).
KNOWN_FAILURES=()

up_start up1
up_start up2
xds_start
put_main "$(rt / c1)"

px_start a
px_start b --service-node px-second
check "start: proxy a binds main" poll 10 has_port a main
check "start: proxy b binds main" poll 10 has_port b main
PA=$(px_port a main)
PB=$(px_port b main)

# ---- 7. two proxies on one server --------------------------------------------
check "two proxies: a serves" poll 5 serves "http://127.0.0.1:$PA/a" 200 up1 /a
check "two proxies: b serves" poll 5 serves "http://127.0.0.1:$PB/b" 200 up1 /b
check "two proxies: a has its own port" [ "$PA" != "$PB" ]
check "two proxies: px-a ACKed every type" poll 5 all_acked px-a
check "two proxies: px-second (--service-node) ACKed every type" poll 5 all_acked px-second
n=$(nodes)
check "two proxies: /nodes lists px-a" contains "$n" '"id":"px-a","cluster":"xds-test"'
check "two proxies: /nodes lists px-second" contains "$n" '"id":"px-second","cluster":"xds-test"'
check "two proxies: --service-node replaced the bootstrap's id" not_contains "$n" '"id":"px-b"'
check "two proxies: exactly two nodes" eq "$(printf '%s' "$n" | grep -o '"cluster":"xds-test"' | wc -l)" 2
check "start: control_plane.connected_state is 1" eq "$(px_stat a control_plane.connected_state)" 1

# ---- 5. the server goes away --------------------------------------------------------
ws_start "$PA" during-outage --hold-ms 6000
check "reconnect: a WebSocket is established through a" poll 5 ws_open up1
kill -9 "$XDS_PID"
wait "$XDS_PID" 2>/dev/null
disconnected() { grep -q "control plane disconnected" "$PX_LOG_a"; }
check "reconnect: a notices the control plane went away" poll 5 disconnected
cstate0() { eq "$(px_stat a control_plane.connected_state)" 0; }
check "reconnect: control_plane.connected_state is 0 while it is down" poll 5 cstate0
check "reconnect: a keeps serving the last config" serves_n 10 "http://127.0.0.1:$PA/x" 200 up1 /x
check "reconnect: b keeps serving the last config" serves_n 10 "http://127.0.0.1:$PB/x" 200 up1 /x
sleep 1 # a few reconnect attempts fail
check "reconnect: still serving after failed reconnect attempts" serves_n 5 "http://127.0.0.1:$PA/y" 200 up1 /y
check "reconnect: listener main still bound on $PA" eq "$(px_port a main)" "$PA"
check "reconnect: the WebSocket is still open" ws_open up1

OLD_LOG=$XDS_LOG
xds_start # same ports, same directory
# Each stream retries after a jittered backoff of up to 30 s (Envoy's
# default maximum), reached after a few failed attempts when the outage is
# long (under ASan on a loaded machine it is): wait past it.
secs=35
check "reconnect: px-a back in /nodes with every type ACKed" poll $secs all_acked px-a
check "reconnect: px-second back in /nodes with every type ACKed" poll $secs all_acked px-second
cstate1() { eq "$(px_stat a control_plane.connected_state)" 1; }
check "reconnect: control_plane.connected_state is 1 again" poll 5 cstate1
check "reconnect: the restarted server is on the same port" contains "$(cat "$XDS_LOG")" "xDS on port $XDS_PORT"
check "reconnect: a did not rebind main" eq "$(px_port a main)" "$PA"
check "reconnect: b did not rebind main" eq "$(px_port b main)" "$PB"
check "reconnect: a still serves after reconnecting" serves_n 5 "http://127.0.0.1:$PA/z" 200 up1 /z
dump=$( (curl -s --max-time 5 "http://$(px_admin a)/config_dump"; curl -s --max-time 5 "http://$(px_admin a)/config_dump?resource=dynamic_endpoint_configs") | xt_compact)
check "reconnect: no spurious removal: listener main" contains "$dump" '"name":"main","active_state"'
check "reconnect: no spurious removal: cluster c1" contains "$dump" '"cluster":{"@type":"type.googleapis.com/envoy.config.cluster.v3.Cluster","name":"c1"'
check "reconnect: no spurious removal: route r1" contains "$dump" '"route_config":{"@type":"type.googleapis.com/envoy.config.route.v3.RouteConfiguration","name":"r1"'
check "reconnect: no spurious removal: endpoints c1" contains "$dump" '"cluster_name":"c1"'

# ---- 6. Delta: initial_resource_versions -------------------------------------------------
log=$(cat "$XDS_LOG")
if [ "$DELTA" = 1 ]; then
    for t in listener cluster route endpoint; do
        check "delta reconnect: unchanged ${t}s not resent (0 resources, 0 removed)" \
            matches_re "$log" "sent delta $t nonce [0-9]+ \\(0 resources, 0 removed\\)"
    done
    check "delta reconnect: nothing resent to anyone" not_matches_re "$log" \
        'sent delta [a-z]+ nonce [0-9]+ \([1-9][0-9]* resources'
    check "delta reconnect: nothing removed" not_matches_re "$log" 'sent delta .*, [1-9][0-9]* removed\)'
    check "delta before the restart: resources were sent" matches_re "$(cat "$OLD_LOG")" \
        'sent delta listener nonce [0-9]+ \(1 resources, 0 removed\)'
else
    check "sotw reconnect: the full state is resent" matches_re "$log" 'sent listener version 1 nonce [0-9]+ \(1 resources\)'
fi

# A change after the restart is applied by both.
put endpoint c1 "$(cla c1 "$UP_PORT_up2")"
check "after restart: an endpoint change reaches a" poll 5 serves "http://127.0.0.1:$PA/n" 200 up2 /n
check "after restart: an endpoint change reaches b" poll 5 serves "http://127.0.0.1:$PB/n" 200 up2 /n
put route r1 "$(route_cfg r1 "$(rt /only c1)")"
check "after restart: a route change reaches a" poll 5 serves "http://127.0.0.1:$PA/n" 404
check "after restart: every type ACKed again (a)" poll 5 all_acked px-a
check "after restart: every type ACKed again (b)" poll 5 all_acked px-second

# The WebSocket opened before the outage ran through it.
wait_exit "$WS" 15 || XP_RC=124
rc=$XP_RC
out=$(cat "$XT_TMP/ws.out")
check "reconnect: the WebSocket across the outage exits 0 (rc $rc)" eq "$rc" 0
check "reconnect: the WebSocket echoed every message and closed normally" matches_re "$out" \
    '"mismatches":0,"close_code":1000,"handshake_status":101'
check "reconnect: the WebSocket sent messages throughout (>= 40)" matches_re "$out" \
    '"sent":([4-9][0-9]|[1-9][0-9][0-9]),'

px_stop a
px_stop b
xds_stop
finish
