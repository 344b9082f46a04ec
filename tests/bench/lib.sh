# Shared by tests/bench/run.sh, selfcheck.sh, preempt.sh and callgrind.sh: config
# generators for xproxy, nginx and HAProxy (equivalent configs: one worker,
# keep-alive to the upstream, streamed bodies, WebSocket upgrades), process
# start/stop helpers and /proc readers. Source it after setting:
#   WORK   a private temp dir (configs, logs, pid files)
#   BIN    dir holding xproxy and xp_upstream
#   UP_PORT XP_PORT XP_ADMIN NG_PORT HA_PORT   loopback ports
#   CPU_PROXY CPU_LG CPU_UP   taskset cpu lists for the proxy, the load
#                             generator and the upstream ("" = no pinning)
#   XPBENCH the built tests/bench/xpbench.c

# The ADS bootstrap pieces (workload 6), shared with the xDS tests.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/xds_bootstrap.sh"

SMALL_PATH=/bytes/128 # workload 1's request: a 128-byte body
SMALL_LEN=128
LAST_ROUTE=9999 # workload 2's request hits the last of 10,000 routes

declare -a BG_PIDS=()

# bench_tool_setup NAME PORT-BASE: for the one-purpose scripts (preempt.sh,
# callgrind.sh), which source this file first: a WORK dir, xproxy and
# xp_upstream built with -c opt into BIN, ports from XPB_PORT_BASE (else
# PORT-BASE), proxy and upstream on cpu 0, load generator on cpu 1, and
# everything started stopped (and WORK removed) on exit.
bench_tool_setup() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$WORK" # nginx's workers run as nobody
    BIN=$WORK/bin
    mkdir -p "$BIN"
    bazel build -c opt //proxy:xproxy //tests/tools:xp_upstream >"$WORK/build.log" 2>&1 ||
        { cat "$WORK/build.log"; exit 1; }
    local bb
    bb=$(bazel info -c opt bazel-bin 2>/dev/null)
    cp "$bb/proxy/xproxy" "$bb/tests/tools/xp_upstream" "$BIN/"
    local base=${XPB_PORT_BASE:-$2}
    UP_PORT=$base XP_PORT=$((base + 1)) XP_ADMIN=$((base + 2)) NG_PORT=$((base + 3))
    HA_PORT=$((base + 4))
    CPU_PROXY=0 CPU_LG=1 CPU_UP=0
    trap 'trap - EXIT; stop_all; rm -rf "$WORK"' EXIT
    trap 'exit 130' INT TERM
}

pin() { # pin CPULIST CMD...: run CMD in the foreground on CPULIST ("" = any)
    local cpus=$1
    shift
    if [[ -n $cpus ]]; then taskset -c "$cpus" "$@"; else "$@"; fi
}

pinned() { # pinned CPULIST: sets PINNED=(taskset -c CPULIST) or () for "$!"-safe
    # background starts: "${PINNED[@]}" cmd & (taskset execs, so $! is cmd)
    if [[ -n $1 ]]; then PINNED=(taskset -c "$1"); else PINNED=(); fi
}

port_free() { # port_free PORT: fail if something already listens there
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "127.0.0.1:$1 is already in use (a leftover process?)" >&2
        return 1
    fi
}

wait_port() { # wait_port PORT [seconds]: until something listens
    local port=$1 deadline=$((SECONDS + ${2:-10}))
    while ((SECONDS < deadline)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.02
    done
    echo "nothing listens on 127.0.0.1:$port" >&2
    return 1
}

wait_gone() { # wait_gone PID [seconds]
    local pid=$1 deadline=$((SECONDS + ${2:-10}))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.02; done
    ! kill -0 "$pid" 2>/dev/null
}

stop_pid() { # stop_pid PID: TERM, then KILL after 5 s, and reap
    local pid=$1
    [[ -z $pid ]] && return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 5; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
}

stop_all() { # every process this suite started, by pid
    local p
    for p in "${BG_PIDS[@]}"; do stop_pid "$p"; done
    BG_PIDS=()
}

# ---- /proc readers (KiB, clock ticks) -------------------------------------

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
cpu_ticks() { # utime + stime of every pid given
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}

# ---- the upstream ----------------------------------------------------------

start_upstream() {
    port_free "$UP_PORT"
    pinned "${CPU_UP-$CPU_LG}"
    "${PINNED[@]}" "$BIN/xp_upstream" --listen "127.0.0.1:$UP_PORT" --name bench \
        >"$WORK/upstream.log" 2>&1 &
    UPSTREAM_PID=$!
    BG_PIDS+=("$UPSTREAM_PID")
    wait_port "$UP_PORT"
}

# ---- config generators -----------------------------------------------------

# gen_routes_xproxy MODE: the virtual host's routes, YAML.
#   plain:  one prefix "/" route
#   prefix: 10,000 "/webapp-01/ide-<i>/" prefixes (prefix_rewrite "/"), then "/"
#   regex:  10,000 ingress-nginx style safe_regex routes with regex_rewrite
gen_routes_xproxy() {
    local mode=$1
    case $mode in
    plain) ;;
    prefix)
        awk 'BEGIN { for (i = 0; i < 10000; i++)
            printf "              - match: { prefix: \"/webapp-01/ide-%d/\" }\n" \
                   "                route: { cluster: up, timeout: 0s, prefix_rewrite: \"/\" }\n", i }'
        ;;
    regex)
        awk 'BEGIN { for (i = 0; i < 10000; i++)
            printf "              - match: { safe_regex: { regex: \"^/webapp-01/ide-%d(/|$)(.*)\" } }\n" \
                   "                route: { cluster: up, timeout: 0s, regex_rewrite: { pattern: { regex: \"^/webapp-01/ide-%d(/|$)(.*)\" }, substitution: \"/\\\\2\" } }\n", i, i }'
        ;;
    *) echo "gen_routes_xproxy: bad mode $mode" >&2; return 1 ;;
    esac
    echo '              - match: { prefix: "/" }'
    echo '                route: { cluster: up, timeout: 0s }'
}

boot_head() { # boot_head NOTE: the first lines of every xproxy bootstrap here
    cat <<EOF
# generated by tests/bench ($1)
node: { id: bench, cluster: bench }
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $XP_ADMIN }
EOF
}

gen_xproxy() { # gen_xproxy MODE FILE
    local mode=$1 file=$2
    {
        boot_head "workload config: $mode"
        cat <<EOF
static_resources:
  listeners:
  - name: http
    address:
      socket_address: { address: 127.0.0.1, port_value: $XP_PORT }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          upgrade_configs: [{ upgrade_type: websocket }]
          route_config:
            name: bench
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
EOF
        gen_routes_xproxy "$mode"
        cat <<EOF
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: up
    connect_timeout: 2s
    type: STATIC
    circuit_breakers:
      thresholds: [{ max_connections: 1000000, max_pending_requests: 1000000, max_requests: 1000000 }]
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP_PORT } } }
EOF
    } >"$file"
}

# gen_demo FILE: the static demo bootstrap (examples/demo/bootstrap.yaml
# until the demo moved to xDS in commit d080284) with the suite's ports.
gen_demo() {
    cat >"$1" <<EOF
# The demo's bootstrap: admin on 127.0.0.1:9901, an HTTP listener on
# 127.0.0.1:10000 routing to a local upstream on 127.0.0.1:18080.
node:
  id: demo-node
  cluster: demo
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: $XP_ADMIN }
static_resources:
  listeners:
  - name: ingress_http
    address:
      socket_address: { address: 127.0.0.1, port_value: $XP_PORT }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress_http
          upgrade_configs: [{ upgrade_type: websocket }]
          route_config:
            name: local_route
            virtual_hosts:
            - name: workspaces
              domains: ["*"]
              routes:
              - match: { safe_regex: { regex: "/webapp-01/ide-[a-z0-9]+(/|$)(.*)" } }
                route:
                  cluster: upstream
                  timeout: 0s
                  regex_rewrite:
                    pattern: { regex: "^/webapp-01/ide-[a-z0-9]+(/|$)(.*)" }
                    substitution: "/\\\\2"
              - match: { prefix: "/" }
                route: { cluster: upstream }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: upstream
    connect_timeout: 1s
    type: STATIC
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: $UP_PORT }
EOF
}

# ---- workload 6: xproxy fed by xds-server ------------------------------------

# gen_rds_json [EXTRA]: the RouteConfiguration "bench" as a JSON resource:
# workload 2's 10,000 regex routes, then, when EXTRA is given, the route
# /webapp-01/ide-EXTRA of the same shape whose rewrite goes to /status/203
# (so a request shows whether it is served), then "/" (the upstream's echo:
# 200). One route per line.
gen_rds_json() {
    awk -v extra="${1:-}" '
        function rt(i, to) {
            return sprintf("{\"match\":{\"safe_regex\":{\"regex\":\"^/webapp-01/ide-%d(/|$)(.*)\"}},\"route\":{\"cluster\":\"up\",\"timeout\":\"0s\",\"regex_rewrite\":{\"pattern\":{\"regex\":\"^/webapp-01/ide-%d(/|$)(.*)\"},\"substitution\":\"%s\"}}}", i, i, to)
        }
        BEGIN {
            print "{\"@type\":\"type.googleapis.com/envoy.config.route.v3.RouteConfiguration\",\"name\":\"bench\","
            print " \"virtual_hosts\":[{\"name\":\"all\",\"domains\":[\"*\"],\"routes\":["
            for (i = 0; i < 10000; i++) print rt(i, "/\\\\2") ","
            if (extra != "") print rt(extra, "/status/203") ","
            print "{\"match\":{\"prefix\":\"/\"},\"route\":{\"cluster\":\"up\",\"timeout\":\"0s\"}}]}]}"
        }'
}

# gen_xds_dir DIR: xds-server's files: the listener (workload 1's, with RDS
# over ADS), the cluster "up" and gen_rds_json's RouteConfiguration.
gen_xds_dir() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/listener-http.json" <<EOF
{"@type":"type.googleapis.com/envoy.config.listener.v3.Listener","name":"http",
 "address":{"socket_address":{"address":"127.0.0.1","port_value":$XP_PORT}},
 "filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{
  "@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "stat_prefix":"bench","upgrade_configs":[{"upgrade_type":"websocket"}],
  "rds":{"route_config_name":"bench","config_source":{"ads":{},"resource_api_version":"V3"}},
  "http_filters":[{"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}
EOF
    cat >"$dir/cluster-up.json" <<EOF
{"@type":"type.googleapis.com/envoy.config.cluster.v3.Cluster","name":"up","type":"STATIC","connect_timeout":"2s",
 "circuit_breakers":{"thresholds":[{"max_connections":1000000,"max_pending_requests":1000000,"max_requests":1000000}]},
 "load_assignment":{"cluster_name":"up","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"127.0.0.1","port_value":$UP_PORT}}}}]}]}}
EOF
    gen_rds_json >"$dir/route-bench.json"
}

# gen_xproxy_ads FILE: a bootstrap with only the control plane static;
# listeners, clusters and routes come over ADS from xds-server.
gen_xproxy_ads() {
    {
        boot_head "workload 6: everything over ADS from xds-server"
        ads_dynamic_resources GRPC
        xds_cluster "$XDS_PORT"
    } >"$1"
}

# start_xds DIR [CPUS]: xds-server serving DIR (default cpu: the load
# generator's); sets XDS_PID.
start_xds() {
    local dir=$1 i
    port_free "$XDS_PORT"
    port_free "$XDS_ADMIN_PORT"
    rm -f "$WORK/xds.ports"
    pinned "${2-$CPU_LG}"
    "${PINNED[@]}" "$BIN/xds-server" --dir "$dir" --listen "127.0.0.1:$XDS_PORT" \
        --admin "127.0.0.1:$XDS_ADMIN_PORT" --port-file "$WORK/xds.ports" --log-level warning \
        >>"$WORK/xds-server.log" 2>&1 &
    XDS_PID=$!
    BG_PIDS+=("$XDS_PID")
    for i in $(seq 300); do
        [[ -s $WORK/xds.ports ]] && return 0
        sleep 0.05
    done
    echo "xds-server did not start; see $WORK/xds-server.log" >&2
    return 1
}

# nginx: the usual reverse-proxy setup for keep-alive upstreams and
# WebSockets (map $http_upgrade), streaming both ways (no buffering, like
# xproxy and HAProxy), no access log (neither of the others logs either).
gen_locations_nginx() { # MODE [target-len-for-the-last-regex-route]
    local mode=$1 last_len=${2:-}
    case $mode in
    plain) ;;
    prefix)
        awk 'BEGIN { for (i = 0; i < 10000; i++)
            printf "        location /webapp-01/ide-%d/ { proxy_pass http://up/; }\n", i }'
        ;;
    regex) # ingress-nginx's shape for rewrite-target /$2
        awk -v last="$last_len" 'BEGIN { for (i = 0; i < 10000; i++) {
            if (i == 9999 && last != "")
                printf "        location ~ \"^/webapp-01/ide-%d(/|$)(.*)\" { rewrite ^ /bytes/%s break; proxy_pass http://up; }\n", i, last
            else
                printf "        location ~ \"^/webapp-01/ide-%d(/|$)(.*)\" { rewrite \"^/webapp-01/ide-%d(/|$)(.*)\" /$2 break; proxy_pass http://up; }\n", i, i } }'
        ;;
    *) echo "gen_locations_nginx: bad mode $mode" >&2; return 1 ;;
    esac
}

gen_nginx() { # gen_nginx MODE FILE [last-len]
    local mode=$1 file=$2 last_len=${3:-}
    mkdir -p "$WORK/nginx"
    {
        cat <<EOF
# generated by tests/bench (workload config: $mode)
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
pcre_jit on;
events { worker_connections 19990; multi_accept on; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_max_body_size 0;
    map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$NG_PORT;
        proxy_http_version 1.1;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$connection_upgrade;
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;
EOF
        gen_locations_nginx "$mode" "$last_len"
        cat <<EOF
        location / { proxy_pass http://up; }
    }
}
EOF
    } >"$file"
}

gen_haproxy() { # gen_haproxy FILE
    cat >"$1" <<EOF
# generated by tests/bench
global
    nbthread 1
    maxconn 9990
    noreuseport
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    timeout tunnel 3600s
frontend bench
    bind 127.0.0.1:$HA_PORT
    default_backend up
backend up
    server up1 127.0.0.1:$UP_PORT maxconn 9990
EOF
}

# ---- proxies ---------------------------------------------------------------

# start_proxy NAME MODE [CONCURRENCY] [CPUS]: starts one proxy with its
# config for MODE and sets PROXY_PID (the process to start/stop),
# MEASURE_PIDS (the processes doing the work: nginx's worker) and
# PROXY_PORT. NAME direct starts nothing (PROXY_PORT is the upstream).
start_proxy() {
    local name=$1 mode=$2 conc=${3:-1} cpus=${4-$CPU_PROXY}
    PROXY_PID= MEASURE_PIDS=
    pinned "$cpus"
    case $name in
    direct)
        PROXY_PORT=$UP_PORT
        MEASURE_PIDS=$UPSTREAM_PID
        return 0
        ;;
    xproxy)
        # MODE ads: gen_xproxy_ads's bootstrap (xds-server must be running).
        if [[ $mode == ads ]]; then
            gen_xproxy_ads "$WORK/xproxy-$mode.yaml"
        else
            gen_xproxy "$mode" "$WORK/xproxy-$mode.yaml"
        fi
        port_free "$XP_PORT"
        # Started with SIGPIPE ignored (inherited across exec) unless
        # XPB_XPROXY_SIGPIPE=default: xproxy ignores it itself since 8e99a08,
        # and run.sh's probe checks that with the default disposition.
        # XPB_XPROXY_ARGS: more flags, e.g. "--io-uring off" for a comparison.
        (
            [[ ${XPB_XPROXY_SIGPIPE:-ignore} == ignore ]] && trap '' PIPE
            # shellcheck disable=SC2086 # words on purpose
            exec "${PINNED[@]}" "$BIN/xproxy" -c "$WORK/xproxy-$mode.yaml" --concurrency "$conc" \
                --log-level warning ${XPB_XPROXY_ARGS:-} >>"$WORK/xproxy.log" 2>&1
        ) &
        PROXY_PID=$!
        PROXY_PORT=$XP_PORT
        wait_port "$XP_PORT" 30
        MEASURE_PIDS=$PROXY_PID
        ;;
    nginx)
        gen_nginx "$mode" "$WORK/nginx-$mode.conf"
        rm -f "$WORK/nginx/nginx.pid"
        port_free "$NG_PORT"
        "${PINNED[@]}" nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" \
            -c "$WORK/nginx-$mode.conf" >>"$WORK/nginx.log" 2>&1 &
        PROXY_PID=$!
        PROXY_PORT=$NG_PORT
        wait_port "$NG_PORT" 30
        local i
        for i in $(seq 100); do
            MEASURE_PIDS=$(pgrep -P "$PROXY_PID" | head -1 || true)
            [[ -n $MEASURE_PIDS ]] && break
            sleep 0.02
        done
        ;;
    haproxy)
        gen_haproxy "$WORK/haproxy.cfg"
        port_free "$HA_PORT"
        "${PINNED[@]}" haproxy -db -f "$WORK/haproxy.cfg" >>"$WORK/haproxy.log" 2>&1 &
        PROXY_PID=$!
        PROXY_PORT=$HA_PORT
        wait_port "$HA_PORT" 30
        MEASURE_PIDS=$PROXY_PID
        ;;
    relay)
        # tests/bench/relay.c, built into $BIN/relay by run.sh: the
        # reference point (a bare byte relay), not a proxy.
        PROXY_PORT=$((UP_PORT + 7))
        port_free "$PROXY_PORT"
        "${PINNED[@]}" "$BIN/relay" --listen "$PROXY_PORT" --upstream "$UP_PORT" >>"$WORK/relay.log" 2>&1 &
        PROXY_PID=$!
        wait_port "$PROXY_PORT" 30
        MEASURE_PIDS=$PROXY_PID
        ;;
    *) echo "start_proxy: unknown proxy $name" >&2; return 1 ;;
    esac
    BG_PIDS+=("$PROXY_PID")
}

stop_proxy() {
    [[ -z ${PROXY_PID:-} ]] && return 0
    stop_pid "$PROXY_PID"
    local keep=() p
    for p in "${BG_PIDS[@]}"; do [[ $p != "$PROXY_PID" ]] && keep+=("$p"); done
    BG_PIDS=("${keep[@]}")
    PROXY_PID=
}

# check_proxy [PATH]: one GET through the current proxy must return 200 and
# the upstream's 128-byte body (saved by the caller in $WORK/check.want);
# one WebSocket must open and echo a message ($XPBENCH ws-echo check mode).
check_proxy() {
    local path=${1:-$SMALL_PATH} out
    out=$(curl -sS --max-time 5 -o "$WORK/check.body" -w '%{http_code}' \
        "http://127.0.0.1:$PROXY_PORT$path") || { echo "check: GET $path failed" >&2; return 1; }
    if [[ $out != 200 ]] || ! cmp -s "$WORK/check.body" "$WORK/check.want"; then
        echo "check: GET $path on port $PROXY_PORT: status $out, body $(wc -c <"$WORK/check.body") bytes (want 200 and the upstream's $SMALL_LEN bytes)" >&2
        return 1
    fi
    if ! "$XPBENCH" ws-echo --port "$PROXY_PORT" --n 1 --seconds 0 >"$WORK/check.ws" 2>&1; then
        echo "check: WebSocket echo on port $PROXY_PORT failed: $(cat "$WORK/check.ws")" >&2
        return 1
    fi
}

# save_check_want: the upstream's own answer to $SMALL_PATH, for check_proxy.
save_check_want() {
    curl -sS --max-time 5 -o "$WORK/check.want" "http://127.0.0.1:$UP_PORT$SMALL_PATH"
    [[ $(wc -c <"$WORK/check.want") == "$SMALL_LEN" ]]
}
