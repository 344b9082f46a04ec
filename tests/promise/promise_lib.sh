# Shared helpers for the promise tests (sourced): xds-server serving a
# directory, xproxy fed by it over ADS (SotW), several xp_upstream echo
# servers, resource generators for the Cloud IDE layout, and update helpers
# that return the management server's version and wait for xproxy's ACK of it
# (from xds-server's GET /nodes). Every port is 0 and read back; everything
# started is stopped on exit.
#
# Arguments of every promise test: XPROXY XDS_SERVER XP_UPSTREAM XP_WSCLIENT
# WS_LOAD CONCURRENCY.
#
# Known failures: a test lists, in KNOWN_FAILURES, the descriptions of
# checks that expose a bug not fixed yet. Such a check failing prints
# "KNOWN FAIL" and does not fail the test; passing, it says the entry can go.
#
# The layout (shared by both tests):
#   - one listener "ingress" on 127.0.0.1:0 with a catch-all filter chain
#     (HCM, server_name "xproxy-g<gen>", RDS <rds name>) and, for some
#     workspaces, their own filter chain selected by source_prefix_ranges
#     127.1.<id/256>.<id%256>/32 (HCM, server_name "ide-<id>-g<gen>", same
#     RDS): xproxy's chain match supports destination port/IP and source
#     IP for plaintext, and one listening socket has one port, so source
#     addresses (clients bind 127.1.x.y) are how one listener tells
#     workspaces apart;
#   - workspace <id> is the route ^/webapp-01/ide-<id>(/|$)(.*) rewritten
#     to /\2 (regex_rewrite, as the ingress-nginx config of the report),
#     timeout 0, to EDS cluster grp-<g>;
#   - cluster grp-<g> (EDS, ADS) whose assignment names one xp_upstream.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/xds_bootstrap.sh"
export LC_ALL=C
XPROXY=$1
XDS_SERVER=$2
XP_UPSTREAM=$3
XP_WSCLIENT=$4
WS_LOAD=$5
CONC=$6
PR_PIDS=()
PR_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/promise.XXXXXX")
XDS_DIR=$PR_TMP/xds
mkdir -p "$XDS_DIR"
UNDER_ASAN=0
[ -n "${ASAN_OPTIONS:-}" ] && UNDER_ASAN=1

pr_cleanup() {
    local p
    for p in "${PR_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -n "${PROMISE_KEEP_TMP:-}" ]; then
        echo "kept $PR_TMP"
    else
        rm -rf "$PR_TMP"
    fi
}
trap pr_cleanup EXIT

finish() {
    check_summary
    exit $?
}

# now_us: sets NOW_US (monotonic enough: wall clock in microseconds, no fork).
now_us() { NOW_US=${EPOCHREALTIME/./}; }

# start_upstream NAME: an xp_upstream on a free port; sets UPORT[NAME].
declare -A UPORT
start_upstream() {
    local pf="$PR_TMP/port.$1"
    "$XP_UPSTREAM" --listen 127.0.0.1:0 --name "$1" --port-file "$pf" >"$PR_TMP/$1.log" 2>&1 &
    local pid=$!
    PR_PIDS+=("$pid")
    if ! wait_file "$pf" "$pid"; then
        echo "xp_upstream did not start:"; cat "$PR_TMP/$1.log"
        exit 1
    fi
    UPORT[$1]=$(head -1 "$pf")
}

# start_xds: xds-server on $XDS_DIR; sets XDS_PORT, XDS_ADMIN (host:port).
start_xds() {
    local pf="$PR_TMP/xds.ports"
    "$XDS_SERVER" --dir "$XDS_DIR" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --port-file "$pf" \
        --log-level warning >"$PR_TMP/xds-server.log" 2>&1 &
    XDS_PID=$!
    PR_PIDS+=("$XDS_PID")
    if ! wait_file "$pf" "$XDS_PID"; then
        echo "xds-server did not start:"; cat "$PR_TMP/xds-server.log"
        exit 1
    fi
    XDS_PORT=$(sed -n 's/^xds=//p' "$pf")
    XDS_ADMIN=127.0.0.1:$(sed -n 's/^admin=//p' "$pf")
}

# start_xproxy: xproxy --concurrency $CONC with an ADS bootstrap pointing at
# xds-server; sets XP_PID, XP_ADMIN, XP_LOG.
start_xproxy() {
    local boot="$PR_TMP/bootstrap.yaml" af="$PR_TMP/admin.addr"
    XP_LOG="$PR_TMP/xproxy.log"
    {
        cat <<EOF
node: { id: promise, cluster: promise }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
EOF
        ads_dynamic_resources GRPC
        xds_cluster "$XDS_PORT"
    } >"$boot"
    xproxy_launch PR_PIDS "$XP_LOG" "$af" -c "$boot" --concurrency "$CONC"
    XP_PID=$XL_PID
    XP_ADMIN=$XL_ADMIN
}

# listener_port NAME: the bound port of a listener (empty if none yet).
listener_port() { admin_listener_port "$XP_ADMIN" "$1"; }

# xstat NAME: the value of one stat (empty if it does not exist).
xstat() {
    curl -s --max-time 5 "http://$XP_ADMIN/stats?filter=$1" | sed -n "s/^$1: //p" | head -1
}

# no_rejects STATS: "name: value" lines of *update_rejected, all 0.
no_rejects() {
    [ -n "$1" ] || { echo "  no update_rejected stats"; return 1; }
    printf '%s\n' "$1" | grep -v ': 0$' | grep -q . && { echo "  $1"; return 1; }
    return 0
}

# vm PID FIELD: VmRSS / VmHWM in KiB.
vm() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# stop_xproxy: SIGTERM; checks a clean exit and a log without sanitizer
# reports (check.sh).
stop_xproxy() { stop_checked "$XP_PID" "$XP_LOG" "xproxy (--concurrency $CONC)"; }

# ---- resources ---------------------------------------------------------------

TYPE_PREFIX=type.googleapis.com/envoy.config
HCM_TYPE=type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
ROUTER_TYPE=type.googleapis.com/envoy.extensions.filters.http.router.v3.Router

# ws_id ID: zero-padded workspace id, as in the paths (sets WID).
ws_id() { printf -v WID '%03d' "$1"; }

# src_ip ID: the source address workspace ID's clients bind (sets SRC).
src_ip() { SRC="127.1.$(($1 / 256)).$(($1 % 256))"; }

gen_cluster() { # NAME
    cat <<EOF
"@type": $TYPE_PREFIX.cluster.v3.Cluster
name: $1
type: EDS
connect_timeout: 1s
eds_cluster_config:
  eds_config: { ads: {}, resource_api_version: V3 }
EOF
}

gen_eds() { # NAME PORT
    cat <<EOF
"@type": $TYPE_PREFIX.endpoint.v3.ClusterLoadAssignment
cluster_name: $1
endpoints:
- lb_endpoints:
  - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $2 } } }
EOF
}

# hcm_chain INDENT STAT_PREFIX SERVER_NAME RDS: one HCM filter (list item).
hcm_filter() {
    cat <<EOF
  - name: envoy.filters.network.http_connection_manager
    typed_config:
      "@type": $HCM_TYPE
      stat_prefix: $1
      server_name: $2
      upgrade_configs: [{ upgrade_type: websocket }]
      rds: { route_config_name: $3, config_source: { ads: {}, resource_api_version: V3 } }
      http_filters:
      - name: envoy.filters.http.router
        typed_config: { "@type": $ROUTER_TYPE }
EOF
}

# gen_listener GEN RDS OWN_IDS...: the ingress listener, generation GEN
# (in stat prefixes and server names), catch-all chain plus one chain per
# own-chain workspace.
gen_listener() {
    local gen=$1 rds=$2 id
    shift 2
    cat <<EOF
"@type": $TYPE_PREFIX.listener.v3.Listener
name: ingress
address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
filter_chains:
- name: catch-all
  filters:
EOF
    hcm_filter "ingress_g$gen" "xproxy-g$gen" "$rds" | sed 's/^/  /'
    for id in "$@"; do
        src_ip "$id"
        ws_id "$id"
        cat <<EOF
- name: ide-$WID
  filter_chain_match: { source_prefix_ranges: [{ address_prefix: $SRC, prefix_len: 32 }] }
  filters:
EOF
        hcm_filter "ide_${WID}_g$gen" "ide-$WID-g$gen" "$rds" | sed 's/^/  /'
    done
}

# route_line ID CLUSTER: one workspace route (sets RLINE).
route_line() {
    ws_id "$1"
    local re="^/webapp-01/ide-$WID(/|\$)(.*)"
    RLINE="  - { match: { safe_regex: { regex: \"$re\" } }, route: { cluster: $2, timeout: 0s, regex_rewrite: { pattern: { regex: \"$re\" }, substitution: \"/\\\\2\" } } }"
}

# gen_routes NAME LINES...: a RouteConfiguration from route lines.
gen_routes() {
    local name=$1
    shift
    cat <<EOF
"@type": $TYPE_PREFIX.route.v3.RouteConfiguration
name: $name
virtual_hosts:
- name: ide
  domains: ["*"]
  routes:
  - { match: { path: "/healthz" }, direct_response: { status: 200, body: { inline_string: "ok" } } }
EOF
    [ $# -gt 0 ] && printf '%s\n' "$@"
    return 0
}

# ---- updates -------------------------------------------------------------------

# Resources bigger than this go into the watched directory instead of the
# admin API (atomically, as the admin API would), with the version read back
# from GET /resources; cloud_ide_test.sh raises it once the admin API has
# taken a large PUT.
ADMIN_MAX_BODY=${PROMISE_ADMIN_MAX_BODY:-7800}
UPDATES=0

xds_version() {
    curl -s --max-time 5 "http://$XDS_ADMIN/resources" | head -c 200 |
        sed -n 's/^{"version":"\([0-9]*\)".*/\1/p'
}

# x_put TYPE NAME FILE: puts one resource; sets VERSION (the management
# server's snapshot version that includes it). Returns non-zero on error.
x_put() {
    local type=$1 name=$2 file=$3 out
    UPDATES=$((UPDATES + 1))
    if [ "$(stat -c %s "$file")" -gt "$ADMIN_MAX_BODY" ]; then
        local before v
        before=$(xds_version)
        cp "$file" "$XDS_DIR/.$type-$name.tmp"
        mv "$XDS_DIR/.$type-$name.tmp" "$XDS_DIR/$type-$name.json"
        for _ in $(seq 1 400); do
            v=$(xds_version)
            if [ -n "$v" ] && [ "$v" -gt "$before" ]; then
                VERSION=$v
                return 0
            fi
            sleep 0.005
        done
        echo "  x_put $type/$name: no new version after a file write"
        return 1
    fi
    out=$(curl -s --max-time 10 -H 'Expect:' -X PUT --data-binary "@$file" \
        "http://$XDS_ADMIN/resources/$type/$name")
    VERSION=
    [[ $out =~ \"version\":\"([0-9]+)\" ]] && VERSION=${BASH_REMATCH[1]}
    [ -n "$VERSION" ] && return 0
    echo "  PUT $type/$name: ${out:0:300}"
    return 1
}

# x_delete TYPE NAME: sets VERSION.
x_delete() {
    local out
    UPDATES=$((UPDATES + 1))
    out=$(curl -s --max-time 10 -X DELETE "http://$XDS_ADMIN/resources/$1/$2")
    VERSION=
    [[ $out =~ \"version\":\"([0-9]+)\" ]] && VERSION=${BASH_REMATCH[1]}
    [ -n "$VERSION" ] && return 0
    echo "  DELETE $1/$2: ${out:0:300}"
    return 1
}

# acked TYPE: the version node "promise" acked for TYPE (sets ACKED; NACK
# set when the last response of that type was NACKed).
acked() {
    local nodes re
    nodes=$(curl -s --max-time 5 "http://$XDS_ADMIN/nodes")
    ACKED=
    NACK=0
    re="\"type\":\"$1\",[^}]*\"acked_version\":\"([0-9]*)\",\"last_nack\":(.)"
    if [[ $nodes =~ $re ]]; then
        ACKED=${BASH_REMATCH[1]}
        [ "${BASH_REMATCH[2]}" = "{" ] && NACK=1
    fi
    return 0
}

# wait_acked TYPE VERSION [SECONDS]: until xproxy ACKed VERSION (or later)
# of TYPE; sets ACK_US (when the ACK was seen) and ACK_WAIT_MS.
wait_acked() {
    local t0 n=$((${3:-10} * 200))
    now_us
    t0=$NOW_US
    for _ in $(seq 1 "$n"); do
        acked "$1"
        if [ -n "$ACKED" ] && [ "$ACKED" -ge "$2" ]; then
            now_us
            ACK_US=$NOW_US
            ACK_WAIT_MS=$(((NOW_US - t0) / 1000))
            return 0
        fi
        sleep 0.002
    done
    echo "  $1 version $2 not acked (acked '$ACKED', nack $NACK)"
    return 1
}

# fetch ID [PATH]: GET /webapp-01/ide-<id>/<path> from the workspace's source
# address; sets CODE, SERVER_HDR (the server header) and UPNAME (the
# upstream's name from /echo).
fetch() {
    local out
    ws_id "$1"
    src_ip "$1"
    out=$(curl -s --max-time 3 --interface "$SRC" -w '\n%{http_code} %header{server}' \
        "http://127.0.0.1:$PORT/webapp-01/ide-$WID/${2:-echo}")
    local last=${out##*$'\n'}
    CODE=${last%% *}
    SERVER_HDR=${last#* }
    UPNAME=
    [[ $out =~ ^\{\"server\":\"([^\"]*)\" ]] && UPNAME=${BASH_REMATCH[1]}
    return 0
}

# stats helpers over lists of latencies (ms): sets MAX, MEDIAN, P95, COUNT.
lat_stats() {
    COUNT=$#
    MAX=0 MEDIAN=0 P95=0
    [ "$COUNT" -eq 0 ] && return 0
    local sorted
    sorted=($(printf '%s\n' "$@" | sort -n))
    MAX=${sorted[$((COUNT - 1))]}
    MEDIAN=${sorted[$((COUNT / 2))]}
    P95=${sorted[$((COUNT * 95 / 100))]}
}
