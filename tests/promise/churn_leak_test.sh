#!/usr/bin/env bash
# No leak across config churn: xproxy fed by xds-server over ADS takes
# thousands of route add/remove updates (each one PUT through xds-server's
# admin API and ACKed before the next) while keep-alive HTTP clients and
# WebSockets run through it; then every connection is closed.
#
# Pass: xproxy's VmRSS with every connection closed after the churn is
# within 10 % of what it was, connections closed too, after a warm-up
# (plain build; under ASan the figures are printed but not asserted, its
# allocator's quarantine makes RSS meaningless); no keep-alive request to a
# stable workspace failed; no WebSocket closed, lost or reordered a message;
# the churned route answered 200 while present and 404 once removed (checked
# every 100 updates); every update ACKed, none NACKed; under ASan xproxy
# exits 0 on SIGTERM with no LeakSanitizer (or other sanitizer) report.
#
# Scale (environment): PROMISE_CHURN_UPDATES (default 2000 here; the issue
# asks for 10,000, which takes about 5x as long: run it by hand with
# PROMISE_CHURN_UPDATES=10000), PROMISE_CHURN_WARMUP (200),
# PROMISE_CHURN_WEBSOCKETS (40), PROMISE_CHURN_CLIENTS (3 keep-alive
# clients), PROMISE_CHURN_KA_RATE (100 requests/s per client),
# PROMISE_RSS_TOLERANCE_PCT (10).
DIR=$(dirname "$0")
. "$DIR/promise_lib.sh"

# Checks that expose bugs not fixed yet (descriptions, exactly).
KNOWN_FAILURES=()

NUPD=${PROMISE_CHURN_UPDATES:-2000}
WARMUP=${PROMISE_CHURN_WARMUP:-200}
NCONN=${PROMISE_CHURN_WEBSOCKETS:-40}
NCLIENTS=${PROMISE_CHURN_CLIENTS:-3}
TOL=${PROMISE_RSS_TOLERANCE_PCT:-10}
KA_RATE=${PROMISE_CHURN_KA_RATE:-100}
NBASE=10
echo "# $WARMUP warm-up + $NUPD route updates, $NCONN WebSockets, $NCLIENTS keep-alive clients," \
    "--concurrency $CONC$([ "$UNDER_ASAN" = 1 ] && echo ', ASan')"

start_upstream up0
start_upstream up1

BASE_LINES=()
for id in $(seq 1 "$NBASE"); do
    route_line "$id" "grp-0$((id % 2))"
    BASE_LINES+=("$RLINE")
done
for g in 0 1; do
    gen_cluster "grp-0$g" >"$XDS_DIR/cluster-grp-0$g.json"
    gen_eds "grp-0$g" "${UPORT[up$g]}" >"$XDS_DIR/endpoint-grp-0$g.json"
done
gen_routes churn "${BASE_LINES[@]}" >"$XDS_DIR/route-churn.json"
gen_listener 1 churn >"$XDS_DIR/listener-ingress.json"
start_xds
start_xproxy
PORT=
for _ in $(seq 1 200); do
    PORT=$(listener_port ingress)
    [ -n "$PORT" ] && [ "$(curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz")" = ok ] && break
    sleep 0.05
done
check "listener 'ingress' up from xds-server (port '$PORT')" [ -n "$PORT" ]
[ -n "$PORT" ] || { cat "$XP_LOG"; finish; }

# ---- traffic -----------------------------------------------------------------
# A keep-alive client: one curl fetching 100 URLs of the stable workspaces
# over one connection (at most KA_RATE a second), again and again until
# $PR_TMP/stop exists; every status is appended to its file.
keepalive_client() {
    local n=$1 args=() i
    for i in $(seq 1 100); do
        ws_id $(((i + n) % NBASE + 1))
        args+=(-o /dev/null "http://127.0.0.1:$PORT/webapp-01/ide-$WID/echo")
    done
    while [ ! -e "$PR_TMP/stop" ]; do
        curl -s --max-time 30 --rate "$KA_RATE/s" -w '%{http_code} %{num_connects}\n' "${args[@]}" \
            >>"$PR_TMP/ka.$n" 2>&1
    done
}
TRAFFIC_PIDS=()
start_traffic() {
    rm -f "$PR_TMP/stop" "$PR_TMP"/ka.* "$PR_TMP/ws.ready"
    local i
    for i in $(seq 1 "$NCLIENTS"); do
        keepalive_client "$i" &
        TRAFFIC_PIDS+=($!)
        PR_PIDS+=($!)
    done
    "$WS_LOAD" --port "$PORT" --ids "1-$NBASE" --total "$NCONN" --interval-ms 100 \
        --ready-file "$PR_TMP/ws.ready" >"$PR_TMP/ws.out" 2>"$PR_TMP/ws.err" &
    WS_PID=$!
    PR_PIDS+=("$WS_PID")
    wait_file "$PR_TMP/ws.ready" "$WS_PID" 60
}
# stop_traffic PHASE: stops the clients, checks what they saw.
stop_traffic() {
    touch "$PR_TMP/stop"
    local p
    for p in "${TRAFFIC_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    TRAFFIC_PIDS=()
    kill -INT "$WS_PID"
    wait "$WS_PID"
    local rc=$? out
    out=$(cat "$PR_TMP/ws.out")
    echo "# $1 ws_load: $out"
    head -5 "$PR_TMP/ws.err"
    check "$1: WebSockets: none closed early, lost, reordered or stalled (rc $rc)" eq "$rc" 0
    local total bad conns
    total=$(cat "$PR_TMP"/ka.* | wc -l)
    bad=$(cat "$PR_TMP"/ka.* | grep -vc '^200 ')
    conns=$(cat "$PR_TMP"/ka.* | awk '{c += $2} END {print c + 0}')
    echo "# $1 keep-alive: $total requests over $conns connections"
    check "$1: every keep-alive request to a stable workspace got 200 ($bad did not)" eq "$bad" 0
    [ "$bad" = 0 ] || cat "$PR_TMP"/ka.* | grep -v '^200 ' | sort | uniq -c | head -5
}

# ---- churn -------------------------------------------------------------------
CHURN_BAD=0 SPOT=0
churn_bad() {
    CHURN_BAD=$((CHURN_BAD + 1))
    [ "$CHURN_BAD" -le 10 ] && echo "  update $UPDATES: $*"
}
# churn N: N updates alternating "add ide-<1000+k>" and "remove it".
CHURN_K=0
churn() {
    local i id lines
    for i in $(seq 1 "$1"); do
        id=$((1000 + CHURN_K / 2))
        lines=("${BASE_LINES[@]}")
        if [ $((CHURN_K % 2)) = 0 ]; then
            route_line "$id" grp-00
            lines+=("$RLINE")
        fi
        gen_routes churn "${lines[@]}" >"$PR_TMP/r.yaml"
        if ! x_put route churn "$PR_TMP/r.yaml"; then
            churn_bad "PUT failed"
        elif ! wait_acked route "$VERSION" 10; then
            churn_bad "version $VERSION not acked"
        elif [ $((CHURN_K % 100)) -lt 2 ]; then
            # Spot checks: the churned workspace is there, then gone.
            SPOT=$((SPOT + 1))
            fetch "$id"
            if [ $((CHURN_K % 2)) = 0 ]; then
                [ "$CODE" = 200 ] || churn_bad "ide-$id added: code $CODE"
            else
                [ "$CODE" = 404 ] || churn_bad "ide-$id removed: code $CODE"
            fi
        fi
        CHURN_K=$((CHURN_K + 1))
    done
}

rss_idle() { # waits for every downstream connection to be gone, then VmRSS
    for _ in $(seq 1 100); do
        [ "$(xstat http.ingress_g1.downstream_cx_active)" = 0 ] && break
        sleep 0.05
    done
    sleep 1
    vm "$XP_PID" VmRSS
}

start_traffic
check "warm-up: $NCONN WebSockets open" eq "$(cat "$PR_TMP/ws.ready" 2>/dev/null)" "ready $NCONN of $NCONN"
churn "$WARMUP"
stop_traffic warm-up
RSS0=$(rss_idle)
check "warm-up: every downstream connection closed" eq "$(xstat http.ingress_g1.downstream_cx_active)" 0
echo "# after warm-up, connections closed: VmRSS $RSS0 KiB (VmHWM $(vm "$XP_PID" VmHWM) KiB)"

start_traffic
check "churn: $NCONN WebSockets open" eq "$(cat "$PR_TMP/ws.ready" 2>/dev/null)" "ready $NCONN of $NCONN"
now_us
T0=$NOW_US
churn "$NUPD"
now_us
T1=$NOW_US
RSS_LOADED=$(vm "$XP_PID" VmRSS)
stop_traffic churn
MS=$(((T1 - T0) / 1000))
echo "# $NUPD updates in $MS ms: $((NUPD * 1000000 / (T1 - T0))) updates/s (each PUT, then" \
    "waited for xproxy's ACK); VmRSS at the end of the churn, traffic running: $RSS_LOADED KiB"
check "$NUPD route updates PUT and ACKed, spot checks right ($SPOT, $CHURN_BAD problems)" \
    eq "$CHURN_BAD" 0
RSS1=$(rss_idle)
check "churn: every downstream connection closed" eq "$(xstat http.ingress_g1.downstream_cx_active)" 0
echo "# after churn, connections closed: VmRSS $RSS1 KiB (warm-up $RSS0 KiB," \
    "$(((RSS1 - RSS0) * 100 / RSS0))%), VmHWM $(vm "$XP_PID" VmHWM) KiB"
if [ "$UNDER_ASAN" = 1 ]; then
    echo "# (ASan: RSS not asserted)"
else
    check "VmRSS after the churn ($RSS1 KiB) within $TOL% of after warm-up ($RSS0 KiB)" \
        le "$RSS1" $((RSS0 + RSS0 * TOL / 100))
fi
acked route
check "no NACK of route" eq "$NACK" 0
rejected=$(curl -s --max-time 5 "http://$XP_ADMIN/stats?filter=update_rejected")
check "xproxy's update_rejected stats exist and are all 0" no_rejects "$rejected"
stop_xproxy
kill -TERM "$XDS_PID" 2>/dev/null
wait "$XDS_PID" 2>/dev/null
sanitizer_check "$PR_TMP/xds-server.log" xds-server
finish
