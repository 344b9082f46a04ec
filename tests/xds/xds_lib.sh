# Shared helpers for the xDS integration tests (sourced): the real xds-server,
# xproxy (its xDS client) and xp_upstream processes on loopback. Every port is
# 0 and read back (xds-server --port-file, xproxy --admin-address-path and
# /listeners?format=json, xp_upstream --port-file); everything started is
# stopped on exit.
#
# Arguments of every test: XPROXY XDS_SERVER XP_UPSTREAM XP_WSCLIENT VARIANT
# where VARIANT is how xproxy reaches the management server:
#   ads_sotw     ads_config.api_type GRPC,       lds/cds/rds/eds {ads: {}}
#   ads_delta    ads_config.api_type DELTA_GRPC, lds/cds/rds/eds {ads: {}}
#   types_sotw   lds_config/cds_config.api_config_source api_type GRPC, and the
#                RDS/EDS config_source the same api_config_source
#   types_delta  the same with DELTA_GRPC
#   types_rest   api_type REST: cluster_names [xds_rest] (xds-server's --rest
#                port), refresh_delay 0.2 s; RDS/EDS the same source
#
# Known failures: a test sets KNOWN_FAILURES (after sourcing) to the exact
# descriptions of checks that expose an xproxy bug not fixed yet. Such a check
# failing prints "KNOWN FAIL" and does not fail the test; passing, it says the
# entry can go.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/xds_bootstrap.sh"
export LC_ALL=C
XPROXY=$1
XDS_SERVER=$2
XP_UPSTREAM=$3
XP_WSCLIENT=$4
VARIANT=$5
XT_DIR=$(cd "$(dirname "$0")" && pwd)
XT_PIDS=()
XT_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/xdst.XXXXXX")
UNDER_ASAN=0
[ -n "${ASAN_OPTIONS:-}" ] && UNDER_ASAN=1
# gRPC core keeps process-wide allocations LeakSanitizer would report (the
# same suppressions as tests/xds_client: libgrpc/libgpr frames only).
XT_SUPP="$XT_DIR/lsan.supp"
[ -f "$XT_SUPP" ] || XT_SUPP="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-__main__}/tests/xds/lsan.supp"
export LSAN_OPTIONS="suppressions=$XT_SUPP${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

case "$VARIANT" in
ads_sotw | ads_delta | types_sotw | types_delta | types_rest) ;;
*)
    echo "unknown variant '$VARIANT'"
    exit 2
    ;;
esac
DELTA=0
case "$VARIANT" in *_delta) DELTA=1 ;; esac
REST=0
[ "$VARIANT" = types_rest ] && REST=1
# How /nodes names the variant's streams.
if [ "$REST" = 1 ]; then XT_MODE=rest; elif [ "$DELTA" = 1 ]; then XT_MODE=delta; else XT_MODE=sotw; fi

xt_cleanup() {
    local p
    for p in "${XT_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$XT_TMP"
}
trap xt_cleanup EXIT

# poll SECONDS COMMAND...: runs COMMAND every 50 ms until it succeeds (0) or
# SECONDS passed (1). Its output is discarded except for the last run.
poll() {
    local secs=$1
    shift
    local end=$(($(now_ms) + secs * 1000))
    while true; do
        if "$@" >"$XT_TMP/poll.out" 2>&1; then return 0; fi
        [ "$(now_ms)" -ge "$end" ] && break
        sleep 0.05
    done
    cat "$XT_TMP/poll.out"
    return 1
}

# up_start NAME: an xp_upstream named NAME on a free port; sets UP_PORT_<NAME>.
up_start() {
    local pf="$XT_TMP/port.$1"
    "$XP_UPSTREAM" --listen 127.0.0.1:0 --name "$1" --port-file "$pf" >"$XT_TMP/$1.log" 2>&1 &
    local pid=$!
    XT_PIDS+=("$pid")
    if ! wait_file "$pf" "$pid"; then
        echo "xp_upstream $1 did not start:"; cat "$XT_TMP/$1.log"
        exit 1
    fi
    printf -v "UP_PORT_$1" '%s' "$(head -1 "$pf")"
}

# ---- the management server ------------------------------------------------

RES_DIR=$XT_TMP/resources
mkdir -p "$RES_DIR"
XDS_PORT=0
XDS_ADMIN_PORT=0
XDS_REST_PORT=0
XDS_N=0

# xds_pick_ports: the first start's ports, which a restart must get back:
# three consecutive ports below the ephemeral range (quiet_port, check.sh),
# where nothing else takes one during an outage.
xds_pick_ports() {
    quiet_port 3 || return 1
    XDS_PORT=$QUIET_PORT XDS_ADMIN_PORT=$((QUIET_PORT + 1)) XDS_REST_PORT=$((QUIET_PORT + 2))
}

# xds_start: xds-server on RES_DIR (first time on free ports below the
# ephemeral range, or 0; afterwards on the same ports as before). Sets
# XDS_PID, XDS_PORT, XDS_REST_PORT, XDS_ADMIN, XDS_LOG.
xds_start() {
    XDS_N=$((XDS_N + 1))
    local pf="$XT_TMP/xds.ports.$XDS_N"
    XDS_LOG="$XT_TMP/xds.$XDS_N.log"
    local i first=0
    [ "$XDS_N" = 1 ] && first=1
    for i in $(seq 1 50); do
        # First start: new ports on each try (another test may hold these).
        # A restart: the same ports again (one just released may take a
        # moment).
        if [ "$first" = 1 ] && ! xds_pick_ports; then
            XDS_PORT=0 XDS_ADMIN_PORT=0 XDS_REST_PORT=0
        fi
        "$XDS_SERVER" --dir "$RES_DIR" --listen "127.0.0.1:$XDS_PORT" \
            --admin "127.0.0.1:$XDS_ADMIN_PORT" --rest "127.0.0.1:$XDS_REST_PORT" \
            --port-file "$pf" --log-level debug \
            >"$XDS_LOG" 2>&1 &
        XDS_PID=$!
        XT_PIDS+=("$XDS_PID")
        wait_file "$pf" "$XDS_PID" && break
        [ "$XDS_PORT" = 0 ] && break
        sleep 0.1
    done
    if [ ! -s "$pf" ]; then
        echo "xds-server did not start (ports $XDS_PORT, $XDS_ADMIN_PORT, $XDS_REST_PORT):"
        cat "$XDS_LOG"
        exit 1
    fi
    XDS_PORT=$(sed -n 's/^xds=//p' "$pf")
    XDS_ADMIN_PORT=$(sed -n 's/^admin=//p' "$pf")
    XDS_REST_PORT=$(sed -n 's/^rest=//p' "$pf")
    XDS_ADMIN=127.0.0.1:$XDS_ADMIN_PORT
}

# put TYPE NAME JSON: PUT /resources/TYPE/NAME; sets PUT_CODE, PUT_BODY.
put() {
    PUT_CODE=$(curl -s -o "$XT_TMP/put.body" -w '%{http_code}' --max-time 5 -X PUT \
        --data-binary "$3" "http://$XDS_ADMIN/resources/$1/$2")
    PUT_BODY=$(cat "$XT_TMP/put.body")
    [ "$PUT_CODE" = 200 ] || echo "  PUT $1/$2: $PUT_CODE $PUT_BODY"
    [ "$PUT_CODE" = 200 ]
}

del() {
    local c
    c=$(curl -s -o "$XT_TMP/del.body" -w '%{http_code}' --max-time 5 -X DELETE \
        "http://$XDS_ADMIN/resources/$1/$2")
    [ "$c" = 200 ] || echo "  DELETE $1/$2: $c $(cat "$XT_TMP/del.body")"
    [ "$c" = 200 ]
}

# write_file NAME CONTENT: writes a resource file into RES_DIR atomically.
write_file() {
    printf '%s\n' "$2" >"$XT_TMP/wf.tmp"
    mv "$XT_TMP/wf.tmp" "$RES_DIR/$1"
}

nodes() { curl -s --max-time 5 "http://$XDS_ADMIN/nodes"; }

# node_json NODE: the /nodes JSON object of one node.
node_json() {
    nodes | tr -d '\n' | sed 's/{"id":"/\n{"id":"/g' | grep "^{\"id\":\"$1\","
}

# node_type NODE TYPE: the /nodes JSON object of one type of one node (the
# first stream carrying it).
node_type() {
    node_json "$1" |
        grep -o "{\"type\":\"$2\",[^{}]*\\(\"last_nack\":null\\|\"last_nack\":{[^{}]*}\\)}" | head -1
}

# jfield JSON FIELD: a string field of a flat JSON object.
jfield() {
    local v
    v=$(printf '%s' "$1" | grep -o "\"$2\":\"[^\"]*\"" | head -1)
    v=${v#\"$2\":\"}
    echo "${v%\"}"
}

# acked NODE TYPE: the type was sent and its latest version is ACKed.
acked() {
    local j s a
    j=$(node_type "$1" "$2")
    s=$(jfield "$j" sent_version)
    a=$(jfield "$j" acked_version)
    [ -n "$j" ] && [ -n "$s" ] && [ "$s" = "$a" ] && return 0
    echo "  node $1 type $2: sent '$s' acked '$a' in: ${j:0:600}"
    return 1
}

all_acked() {
    local t
    for t in listener route cluster endpoint; do acked "$1" "$t" || return 1; done
}

# ---- resources (JSON, as PUT bodies) ---------------------------------------

# The RDS/EDS config_source, pointing the way the bootstrap's does.
REST_SRC="{ api_config_source: { api_type: REST, transport_api_version: V3, cluster_names: [xds_rest], refresh_delay: 0.2s, request_timeout: 1s }, resource_api_version: V3 }"
if [ "${VARIANT%%_*}" = ads ]; then
    CS='{"ads":{},"resource_api_version":"V3"}'
elif [ "$REST" = 1 ]; then
    CS='{"api_config_source":{"api_type":"REST","transport_api_version":"V3","cluster_names":["xds_rest"],"refresh_delay":"0.2s","request_timeout":"1s"},"resource_api_version":"V3"}'
else
    if [ "$DELTA" = 1 ]; then XT_API=DELTA_GRPC; else XT_API=GRPC; fi
    CS='{"api_config_source":{"api_type":"'$XT_API'","transport_api_version":"V3","grpc_services":[{"envoy_grpc":{"cluster_name":"xds_cluster"}}]},"resource_api_version":"V3"}'
fi
ROUTER='{"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}'

# listener_hcm NAME PORT ROUTE_SPECIFIER_JSON [EXTRA_HTTP_FILTERS_JSON,]: a
# listener with one HCM (stat_prefix NAME, WebSocket upgrades on) whose
# routes are given by ROUTE_SPECIFIER_JSON ("rds":{...}, ...).
listener_hcm() {
    cat <<EOF
{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"$1",
 "address":{"socket_address":{"address":"127.0.0.1","port_value":${2:-0}}},
 "filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{
  "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "stat_prefix":"$1","upgrade_configs":[{"upgrade_type":"websocket"}],
  $3,
  "http_filters":[${4:-}$ROUTER]}}]}]}
EOF
}

# listener_rds NAME RDS_NAME [PORT] [EXTRA_HTTP_FILTERS_JSON,]
listener_rds() {
    listener_hcm "$1" "${3:-0}" "\"rds\":{\"route_config_name\":\"$2\",\"config_source\":$CS}" "${4:-}"
}

# listener_inline NAME CLUSTER [PORT] [EXTRA_HTTP_FILTERS_JSON,]: an inline
# route_config sending everything to CLUSTER.
listener_inline() {
    listener_hcm "$1" "${3:-0}" "\"route_config\":{\"name\":\"inline_$1\",\"virtual_hosts\":[{\"name\":\"all\",\"domains\":[\"*\"],
    \"routes\":[{\"match\":{\"prefix\":\"/\"},\"route\":{\"cluster\":\"$2\"}}]}]}" "${4:-}"
}

# listener_scoped NAME SCOPED_ROUTES_NAME [PORT]: an HCM with scoped_routes
# over SRDS (and RDS for the scopes' routes) from CS; the key is the value
# of element t in header x-tenant ("x-tenant: a=1;t=KEY").
listener_scoped() {
    listener_hcm "$1" "${3:-0}" "\"scoped_routes\":{\"name\":\"$2\",
   \"scope_key_builder\":{\"fragments\":[{\"header_value_extractor\":{\"name\":\"x-tenant\",\"element_separator\":\";\",\"element\":{\"separator\":\"=\",\"key\":\"t\"}}}]},
   \"rds_config_source\":$CS,\"scoped_rds\":{\"scoped_rds_config_source\":$CS}}"
}

# scope NAME KEY ROUTE_CONFIG_NAME: a ScopedRouteConfiguration.
scope() {
    echo "{\"@type\":\"type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration\",\"name\":\"$1\",\"route_configuration_name\":\"$3\",\"key\":{\"fragments\":[{\"string_key\":\"$2\"}]}}"
}

# route_cfg NAME ROUTES_JSON: one virtual host "*" with these routes.
route_cfg() {
    echo "{\"@type\":\"type.googleapis.com/envoy.config.route.v3.RouteConfiguration\",\"name\":\"$1\",\"virtual_hosts\":[{\"name\":\"all\",\"domains\":[\"*\"],\"routes\":[$2]}]}"
}

# rt PREFIX CLUSTER [PREFIX_REWRITE]: one route entry.
rt() {
    local rw=""
    [ -n "${3:-}" ] && rw=",\"prefix_rewrite\":\"$3\""
    echo "{\"match\":{\"prefix\":\"$1\"},\"route\":{\"cluster\":\"$2\"$rw}}"
}

cluster_eds() {
    echo "{\"@type\":\"type.googleapis.com/envoy.config.cluster.v3.Cluster\",\"name\":\"$1\",\"type\":\"EDS\",\"connect_timeout\":\"1s\",\"eds_cluster_config\":{\"eds_config\":$CS}}"
}

# cla NAME PORT: an assignment with one endpoint on 127.0.0.1:PORT.
cla() {
    echo "{\"@type\":\"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\",\"cluster_name\":\"$1\",\"endpoints\":[{\"lb_endpoints\":[{\"endpoint\":{\"address\":{\"socket_address\":{\"address\":\"127.0.0.1\",\"port_value\":$2}}}}]}]}"
}

# put_main ROUTES_JSON: listener main (RDS r1 with these routes) and the EDS
# cluster c1 on up1, the start most tests share; exits on failure.
put_main() {
    put listener main "$(listener_rds main r1)" || exit 1
    put route r1 "$(route_cfg r1 "$1")" || exit 1
    put cluster c1 "$(cluster_eds c1)" || exit 1
    put endpoint c1 "$(cla c1 "$UP_PORT_up1")" || exit 1
}

# ---- xproxy -------------------------------------------------------------------

# bootstrap FILE NODE_ID: a bootstrap for VARIANT with only the control
# plane's cluster static.
bootstrap() {
    local src api
    case "$VARIANT" in
    ads_sotw) api=GRPC ;;
    ads_delta) api=DELTA_GRPC ;;
    types_sotw) api=GRPC ;;
    types_delta) api=DELTA_GRPC ;;
    types_rest) api=REST ;;
    esac
    {
        echo "node: { id: $2, cluster: xds-test }"
        echo "admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }"
        echo "dynamic_resources:"
        if [ "${VARIANT%%_*}" = ads ]; then
            ads_dynamic_resources "$api" | tail -n +2
        elif [ "$REST" = 1 ]; then
            echo "  lds_config: $REST_SRC"
            echo "  cds_config: $REST_SRC"
        else
            src="{ api_config_source: { api_type: $api, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: xds_cluster } }] }, resource_api_version: V3 }"
            echo "  lds_config: $src"
            echo "  cds_config: $src"
        fi
        xds_cluster "$XDS_PORT"
        [ "$REST" = 1 ] && cat <<EOF
  - name: xds_rest
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: xds_rest
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $XDS_REST_PORT } } }
EOF
        # PX_BOOT_EXTRA: more top-level bootstrap YAML (e.g. layered_runtime).
        if [ -n "${PX_BOOT_EXTRA:-}" ]; then printf '%s\n' "$PX_BOOT_EXTRA"; fi
    } >"$1"
}

# px_start NAME [XPROXY ARGS...]: xproxy on a bootstrap for VARIANT with node
# id px-NAME (the args come after, so --service-node overrides it), or on the
# file PX_BOOT_FILE when that is set. Sets PX_ADMIN_<NAME>, PX_PID_<NAME>,
# PX_LOG_<NAME>.
px_start() {
    local name=$1
    shift
    local boot="$XT_TMP/px.$name.yaml" af="$XT_TMP/px.$name.admin" log="$XT_TMP/px.$name.log"
    if [ -n "${PX_BOOT_FILE:-}" ]; then
        cp "$PX_BOOT_FILE" "$boot"
    else
        bootstrap "$boot" "px-$name"
    fi
    # PX_BOOT_SED: a sed expression to edit the rendered bootstrap with.
    [ -n "${PX_BOOT_SED:-}" ] && sed -i -e "$PX_BOOT_SED" "$boot"
    xproxy_launch XT_PIDS "$log" "$af" -c "$boot" --concurrency 2 "$@"
    printf -v "PX_ADMIN_$name" '%s' "$XL_ADMIN"
    printf -v "PX_PID_$name" '%s' "$XL_PID"
    printf -v "PX_LOG_$name" '%s' "$log"
}

px_admin() { local a="PX_ADMIN_$1"; echo "${!a}"; }

# px_port NAME LISTENER: the bound port of a listener (empty when not bound).
px_port() { admin_listener_port "$(px_admin "$1")" "$2"; }

has_port() { [ -n "$(px_port "$1" "$2")" ]; }
no_port() {
    local p
    p=$(px_port "$1" "$2")
    [ -z "$p" ] && return 0
    echo "  listener $2 is bound to port $p"
    return 1
}

# px_stat NAME STAT: one stat's value (empty when it does not exist).
px_stat() {
    curl -s --max-time 5 "http://$(px_admin "$1")/stats?filter=$2" | sed -n "s/^$2: //p" | head -1
}

# ws_start PORT TEXT [XP_WSCLIENT ARGS...]: a WebSocket to 127.0.0.1:PORT/ws
# sending TEXT every 100 ms, in the background (output in $XT_TMP/ws.out,
# errors in $XT_TMP/ws.err); sets WS.
ws_start() {
    local port=$1 text=$2
    shift 2
    "$XP_WSCLIENT" --url "ws://127.0.0.1:$port/ws" --text "$text" --interval-ms 100 "$@" \
        >"$XT_TMP/ws.out" 2>"$XT_TMP/ws.err" &
    WS=$!
    XT_PIDS+=("$WS")
}

# ws_open UPSTREAM: the upstream started as UPSTREAM has exactly one
# WebSocket open.
ws_open() {
    local p="UP_PORT_$1"
    curl -s --max-time 5 "http://127.0.0.1:${!p}/stats" | grep -q '"ws_active":1'
}

# req URL: one request (with "Host: $REQ_HOST" when set, and the curl
# arguments in XT_REQ_ARGS, e.g. a header); sets R_CODE, R_BODY.
XT_REQ_ARGS=()
req() {
    R_CODE=$(curl -s --max-time 5 -o "$XT_TMP/resp.body" -w '%{http_code}' \
        ${REQ_HOST:+-H "Host: $REQ_HOST"} "${XT_REQ_ARGS[@]}" "$1")
    R_BODY=$(cat "$XT_TMP/resp.body")
}

# serves_h HEADER URL CODE [SERVER [PATH]]: serves, sending HEADER too.
serves_h() {
    XT_REQ_ARGS=(-H "$1")
    serves "${@:2}"
    local rc=$?
    XT_REQ_ARGS=()
    return $rc
}

# efield NAME: a top-level string field of the upstream's echo JSON in R_BODY.
efield() { jfield "$R_BODY" "$1"; }

# serves URL CODE [SERVER [PATH]]: one request answers CODE (from upstream
# SERVER, which saw PATH).
serves() {
    req "$1"
    if [ "$R_CODE" != "$2" ]; then
        echo "  $1: got $R_CODE, want $2: ${R_BODY:0:300}"
        return 1
    fi
    if [ -n "${3:-}" ] && [ "$(efield server)" != "$3" ]; then
        echo "  $1: served by '$(efield server)', want '$3'"
        return 1
    fi
    if [ -n "${4:-}" ] && [ "$(efield path)" != "$4" ]; then
        echo "  $1: upstream saw path '$(efield path)', want '$4'"
        return 1
    fi
    return 0
}

# serves_n N URL CODE [SERVER [PATH]]: N requests in a row all do.
serves_n() {
    local n=$1 i
    shift
    for i in $(seq 1 "$n"); do serves "$@" || return 1; done
}

# refuses PORT: nothing accepts on 127.0.0.1:PORT.
refuses() {
    local c
    c=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/")
    [ "$c" = 000 ] && return 0
    echo "  port $1 answered $c"
    return 1
}

# px_sanitizer_check NAME: the log of xproxy NAME has no sanitizer report.
px_sanitizer_check() {
    local l="PX_LOG_$1"
    sanitizer_check "${!l}" "xproxy $1"
}

# px_stop NAME: SIGTERM; checks a clean exit and the log (check.sh).
px_stop() {
    local p="PX_PID_$1" l="PX_LOG_$1"
    stop_checked "${!p}" "${!l}" "xproxy $1"
}

# xds_stop: SIGTERM to the management server (after every xproxy stopped);
# checks it exits 0 within 10 s and its log (check.sh).
xds_stop() { stop_checked "$XDS_PID" "$XDS_LOG" "xds-server (its clients gone)" 10; }

finish() {
    local p
    for p in "${XT_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ "$CHK_FAILED" -ne 0 ]; then
        for p in "$XT_TMP"/px.*.log "${XDS_LOG:-}"; do
            [ -f "$p" ] || continue
            echo "---- tail of $p"; tail -40 "$p"
        done
    fi
    check_summary "variant $VARIANT"
    exit $?
}

# type_has NODE TYPE TEXT: the node's /nodes entry for TYPE contains TEXT.
type_has() { contains "$(node_type "$1" "$2")" "$3"; }

# matches_re TEXT ERE
matches_re() {
    printf '%s' "$1" | grep -Eq "$2" && return 0
    echo "  /$2/ does not match: ${1:0:800}"
    return 1
}

not_matches_re() {
    local m
    m=$(printf '%s' "$1" | grep -Eo "$2" | head -3)
    [ -z "$m" ] && return 0
    echo "  /$2/ unexpectedly matches: $m"
    return 1
}

# JSON without the pretty printer's whitespace, for matching.
xt_compact() {
    tr -d '\n' | sed -E 's/[[:space:]]*([][{}:,])[[:space:]]*/\1/g'
}
