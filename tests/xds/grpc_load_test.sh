#!/usr/bin/env bash
# gRPC core is loaded only for a bootstrap that needs it (argument 5: the
# variant of the xDS config; arguments 6 and 7: the generated header with
# libgrpc's soname, and a shared object that is not gRPC core). Read from
# /proc/PID/maps of the running processes:
#   - a static bootstrap serves without mapping libgrpc, libgpr or (without
#     sanitizers) libstdc++, even with LD_LIBRARY_PATH offering a broken
#     libgrpc (it never looks);
#   - an xDS bootstrap maps libgrpc and serves what the control plane sends
#     (over REST it serves without mapping libgrpc);
#   - with the soname resolving to an empty file, or to a library without
#     gRPC's functions, the xDS bootstrap exits 1 with an error naming the
#     config field, the library and what is wrong.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"
SONAME=$(sed -n 's/^#define XP_GRPC_SONAME "\(.*\)"$/\1/p' "$6")
NOT_GRPC=$7
if [ -z "$SONAME" ]; then
    echo "no XP_GRPC_SONAME in $6"
    exit 1
fi

# Directories that hold a broken library under libgrpc's soname.
mkdir -p "$XT_TMP/empty" "$XT_TMP/other"
: >"$XT_TMP/empty/$SONAME"
cp "$NOT_GRPC" "$XT_TMP/other/$SONAME"

# maps_has PID PATTERN: a mapping of the running process names PATTERN.
maps_has() { grep -q "$2" "/proc/$1/maps"; }
maps_lacks() {
    local m
    m=$(grep "$2" "/proc/$1/maps" | awk '{print $6}' | sort -u)
    [ -z "$m" ] && return 0
    echo "  mapped: $m"
    return 1
}
ready() { contains "$(curl -s --max-time 5 "http://$(px_admin "$1")/ready")" LIVE; }

up_start up1
xds_start
put listener main "$(listener_inline main c1)" || exit 1
put cluster c1 "$(cluster_eds c1)" || exit 1
put endpoint c1 "$(cla c1 "$UP_PORT_up1")" || exit 1

# ---- a static bootstrap ------------------------------------------------------
cat >"$XT_TMP/static.yaml" <<YAML
node: { id: px-static, cluster: xds-test }
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
  - name: main
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: main
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, route: { cluster: c1 } }]
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
  - name: c1
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: c1
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP_PORT_up1 } } }
YAML
PX_BOOT_FILE=$XT_TMP/static.yaml LD_LIBRARY_PATH=$XT_TMP/empty px_start static
check "static: /ready is LIVE" poll 5 ready static
check "static: listener main bound" poll 5 has_port static main
check "static: serves through the static listener" \
    serves "http://127.0.0.1:$(px_port static main)/s" 200 up1 /s
check "static: $SONAME is not mapped (LD_LIBRARY_PATH offers a broken one)" \
    maps_lacks "$PX_PID_static" libgrpc
check "static: libgpr is not mapped" maps_lacks "$PX_PID_static" libgpr
# (The sanitizer build maps it anyway: libubsan needs it.)
[ "$UNDER_ASAN" = 0 ] && check "static: libstdc++ is not mapped" maps_lacks "$PX_PID_static" 'libstdc++'
px_stop static

# ---- an xDS bootstrap ----------------------------------------------------------
px_start a
check "xds: listener main bound from LDS" poll 10 has_port a main
check "xds: serves the control plane's config" \
    poll 5 serves "http://127.0.0.1:$(px_port a main)/x" 200 up1 /x
check "xds: control_plane.connected_state is 1" eq "$(px_stat a control_plane.connected_state)" 1
if [ "$REST" = 1 ]; then
    # REST polls over HTTP/1.1 from the main loop: gRPC core stays unloaded.
    check "xds (REST): $SONAME is not mapped" maps_lacks "$PX_PID_a" libgrpc
    px_stop a
    finish
fi
check "xds: $SONAME is mapped" maps_has "$PX_PID_a" "/$SONAME"
px_stop a

# ---- gRPC core cannot be used ----------------------------------------------------
if [ "${VARIANT%%_*}" = ads ]; then
    FIELD=dynamic_resources.ads_config.api_type
else
    FIELD=dynamic_resources.cds_config.api_config_source.api_type
fi
if [ "$DELTA" = 1 ]; then API=DELTA_GRPC; else API=GRPC; fi

# broken NAME LIBDIR: xproxy on the variant's bootstrap with LD_LIBRARY_PATH
# LIBDIR; sets BROKEN_RC (124: still running after 10 s) and BROKEN_ERR.
broken() {
    local boot="$XT_TMP/$1.yaml" log="$XT_TMP/px.$1.log" pid
    bootstrap "$boot" "px-$1"
    LD_LIBRARY_PATH=$2 "$XPROXY" -c "$boot" --concurrency 2 >"$log" 2>&1 &
    pid=$!
    XT_PIDS+=("$pid")
    wait_exit "$pid" 10 || XP_RC=124
    BROKEN_RC=$XP_RC
    BROKEN_ERR=$(cat "$log")
    printf -v "PX_LOG_$1" '%s' "$log"
}

broken empty "$XT_TMP/empty"
check "empty file: exits 1" eq "$BROKEN_RC" 1
check "empty file: the error names the field, the api_type and the library" contains "$BROKEN_ERR" \
    "error: $FIELD: $API needs gRPC core: cannot load gRPC core ($SONAME): $XT_TMP/empty/$SONAME: file too short"
px_sanitizer_check empty

broken other "$XT_TMP/other"
check "library without gRPC: exits 1" eq "$BROKEN_RC" 1
check "library without gRPC: the error names the field, the library and the missing function" \
    contains "$BROKEN_ERR" \
    "error: $FIELD: $API needs gRPC core: cannot use gRPC core ($SONAME): $XT_TMP/other/$SONAME: undefined symbol: grpc_version_string"
px_sanitizer_check other

xds_stop
finish
