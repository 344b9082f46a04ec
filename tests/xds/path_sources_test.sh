#!/usr/bin/env bash
# RDS, EDS and SRDS from path config sources (rds.config_source,
# eds_cluster_config.eds_config and scoped_rds_config_source naming a file
# that holds a DiscoveryResponse), and scoped routes with inline scopes, one
# with an inline route configuration and one naming a route configuration
# read from a file through rds_config_source. Files replaced by rename (as deploy tools
# do) are re-read and applied in place while a WebSocket stays open; a file
# with an invalid resource is reported naming the resource and field, and a
# file that does not parse is reported, while the last good config keeps
# serving. No management server: the variant argument is not used.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

up_start up1
up_start up2
up_start up3
CFG=$XT_TMP/cfg
mkdir -p "$CFG"

# put_file NAME CONTENT: replaces CFG/NAME by rename.
put_file() {
    printf '%s\n' "$2" >"$CFG/.$1.tmp"
    mv "$CFG/.$1.tmp" "$CFG/$1"
}
# dr TYPE_URL RESOURCE_JSON...: a DiscoveryResponse (JSON) with these resources.
dr() {
    local v=$((${DR_V:-0} + 1))
    DR_V=$v
    local res
    res=$(printf '%s,' "${@:2}")
    echo "{\"version_info\":\"$v\",\"resources\":[${res%,}]}"
}
RC_URL=type.googleapis.com/envoy.config.route.v3.RouteConfiguration
CLA_URL=type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment

put_file rds.json "$(dr $RC_URL "$(route_cfg r1 "$(rt /a c1),$(rt /ws c1)")")"
put_file eds.json "$(dr $CLA_URL "$(cla c1 "$UP_PORT_up1")")"
put_file rds2.json "$(dr $RC_URL "$(route_cfg r2 "$(rt / c1)")")"
SR_URL=type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration
# iscope NAME KEY CLUSTER: a scope with an inline route configuration.
iscope() {
    local rc
    rc=$(route_cfg "r$1" "$(rt / "$3")")
    rc="{${rc#*\",}" # without its "@type" (not an Any here)
    echo "{\"@type\":\"$SR_URL\",\"name\":\"$1\",\"key\":{\"fragments\":[{\"string_key\":\"$2\"}]},\"route_configuration\":$rc}"
}
put_file srds.json "$(dr $SR_URL "$(scope x xk r2)" "$(iscope y yk c3)")"

# lst NAME: the start of a listener on port 0 with one HCM (stat_prefix
# NAME, router filter); its route specifier follows.
lst() {
    cat <<EOF
  - name: $1
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: $1
          http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
EOF
}
KEY_BUILDER='scope_key_builder: { fragments: [{ header_value_extractor: { name: x-tenant, element_separator: ";", element: { separator: "=", key: t } } }] }'
boot() { # RDS_PATH
    cat <<EOF
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
static_resources:
  listeners:
$(lst main)
          upgrade_configs: [{ upgrade_type: websocket }]
          rds: { route_config_name: r1, config_source: { path_config_source: { path: $1 } } }
$(lst scoped)
          scoped_routes:
            name: tenants
            $KEY_BUILDER
            rds_config_source: { path: $CFG/rds2.json }
            scoped_route_configurations_list:
              scoped_route_configurations:
              - name: a
                key: { fragments: [{ string_key: alpha }] }
                route_configuration:
                  name: ra
                  virtual_hosts: [{ name: all, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: c3 } }] }]
              - name: b
                key: { fragments: [{ string_key: beta }] }
                route_configuration_name: r2
$(lst fscoped)
          scoped_routes:
            name: from-file
            $KEY_BUILDER
            rds_config_source: { path: $CFG/rds2.json }
            scoped_rds: { scoped_rds_config_source: { path_config_source: { path: $CFG/srds.json } } }
  clusters:
  - name: c1
    type: EDS
    connect_timeout: 1s
    eds_cluster_config: { eds_config: { path_config_source: { path: $CFG/eds.json } } }
  - name: c3
    connect_timeout: 1s
    load_assignment: { cluster_name: c3, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: $UP_PORT_up3 } } } }] }] }
EOF
}

# A bootstrap naming a file that does not exist is rejected with the field.
boot "$CFG/missing.json" >"$XT_TMP/bad.yaml"
out=$("$XPROXY" -c "$XT_TMP/bad.yaml" --mode validate 2>&1)
check "validate: a missing RDS file fails validation" [ $? -ne 0 ]
check "validate: ... naming the field and the path" contains "$out" \
    "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rds.config_source.path_config_source.path: paths must refer to an existing path in the system: '$CFG/missing.json' does not exist"

boot "$CFG/rds.json" >"$XT_TMP/boot.yaml"
PX_BOOT_FILE=$XT_TMP/boot.yaml px_start a
check "start: listener main bound" poll 5 has_port a main
check "start: listener scoped bound" poll 5 has_port a scoped
check "start: listener fscoped bound" poll 5 has_port a fscoped
U=http://127.0.0.1:$(px_port a main)
S=http://127.0.0.1:$(px_port a scoped)
check "start: /a served through RDS and EDS from files (up1)" poll 5 serves "$U/a/x" 200 up1 /a/x

logged() { grep -qF "$1" "$PX_LOG_a"; }

# sreq TENANT CODE [SERVER]: a request to the scoped listener with
# x-tenant: t=TENANT (none when TENANT is empty).
sreq() {
    if [ -n "$1" ]; then serves_h "x-tenant: t=$1" "$S/p" "${@:2}"; else serves "$S/p" "${@:2}"; fi
}
check "scopes: alpha uses its inline route configuration (c3, up3)" sreq alpha 200 up3
check "scopes: beta uses r2, read from rds_config_source's file (c1, up1)" sreq beta 200 up1
nr0=$(px_stat a http.scoped.no_route)
check "scopes: a key no scope has answers 404" sreq gamma 404
check "scopes: no x-tenant header answers 404" sreq "" 404
check "scopes: both counted in http.scoped.no_route" eq "$(px_stat a http.scoped.no_route)" $((${nr0:-0} + 2))

# Scopes from an SRDS file.
F=http://127.0.0.1:$(px_port a fscoped)
check "SRDS file: scope x (xk) routes with r2 (up1)" serves_h "x-tenant: t=xk" "$F/p" 200 up1
check "SRDS file: scope y (yk) with its inline route configuration (up3)" serves_h "x-tenant: t=yk" "$F/p" 200 up3
put_file srds.json "$(dr $SR_URL "$(scope x xk r2)" "$(iscope z zk c3)")"
check "SRDS file replaced: the new scope z serves" poll 5 serves_h "x-tenant: t=zk" "$F/p" 200 up3
check "SRDS file replaced: scope y, gone from the file, answers 404" serves_h "x-tenant: t=yk" "$F/p" 404
put_file srds.json "$(dr $SR_URL "$(scope x xk r2)" "$(iscope z zk c3)" '{"@type":"'$SR_URL'","name":"bad","route_configuration_name":"r2"}')"
check "bad SRDS file: the scope without a key is reported with the field" poll 5 logged \
    "scoped_route_configuration[bad].key: key is required"
check "bad SRDS file: scopes x and z keep serving" serves_h "x-tenant: t=zk" "$F/p" 200 up3
check "bad SRDS file: ... x too" serves_h "x-tenant: t=xk" "$F/p" 200 up1

ws_start "$(px_port a main)" through-files --hold-ms 7000
check "ws: a WebSocket is established through main (up1)" poll 5 ws_open up1

# ---- replaced files ------------------------------------------------------------
put_file rds.json "$(dr $RC_URL "$(route_cfg r1 "$(rt /a c1 /a2),$(rt /ws c1)")")"
check "RDS file replaced: the new prefix_rewrite is used" poll 5 serves "$U/a/x" 200 up1 /a2/x
put_file eds.json "$(dr $CLA_URL "$(cla c1 "$UP_PORT_up2")")"
check "EDS file replaced: cluster c1 moves to up2" poll 5 serves "$U/a/x" 200 up2 /a2/x
check "EDS file replaced: ... for scope beta too" sreq beta 200 up2
put_file rds2.json "$(dr $RC_URL "$(route_cfg r2 "$(rt / c3)")")"
check "scope's RDS file replaced: beta now routes to c3 (up3)" poll 5 sreq beta 200 up3
check "ws: still open after the replacements" ws_open up1

# ---- bad files -------------------------------------------------------------------
BAD_RE='{"match":{"safe_regex":{"regex":"("}},"route":{"cluster":"c1"}}'
put_file rds.json "$(dr $RC_URL "$(route_cfg r1 "$BAD_RE")")"
check "bad RDS file: reported with the resource and field" poll 5 logged \
    "route_config[r1].virtual_hosts[0].routes[0].match.safe_regex.regex"
check "bad RDS file: the last good routes keep serving" serves_n 3 "$U/a/x" 200 up2 /a2/x
put_file eds.json "$(dr $CLA_URL "$(cla c1 70000)")"
check "bad EDS file: reported with the resource and field" poll 5 logged \
    "cluster_load_assignment[c1].endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value"
check "bad EDS file: the last good endpoints keep serving" serves_n 3 "$U/a/x" 200 up2 /a2/x
put_file eds.json "not: [valid"
check "unparseable EDS file: reported" poll 5 logged "$CFG/eds.json is invalid"
check "unparseable EDS file: the last good endpoints keep serving" serves "$U/a/x" 200 up2 /a2/x
put_file eds.json "$(dr $CLA_URL "$(cla c1 "$UP_PORT_up1")")"
check "fixed EDS file: applied again (up1)" poll 5 serves "$U/a/x" 200 up1 /a2/x
put_file rds.json "$(dr $RC_URL "$(route_cfg r1 "$(rt /a c1 /a3),$(rt /ws c1)")")"
check "fixed RDS file: applied again" poll 5 serves "$U/a/x" 200 up1 /a3/x
# A file with another resource than the one referenced: only r1 counts.
put_file rds.json "$(dr $RC_URL "$(route_cfg other "$(rt / c3)")" "$(route_cfg r1 "$(rt /a c1 /a4),$(rt /ws c1)")")"
check "a file with other resources: the referenced one is used" poll 5 serves "$U/a/x" 200 up1 /a4/x
check "scopes: alpha unaffected by all of it" sreq alpha 200 up3

# ---- the WebSocket ran through it all ------------------------------------------------
wait_exit "$WS" 15 || XP_RC=124
rc=$XP_RC
out=$(cat "$XT_TMP/ws.out")
check "ws: the WebSocket exits 0 (rc $rc)" eq "$rc" 0
check "ws: it echoed every message and closed normally" matches_re "$out" \
    '"mismatches":0,"close_code":1000,"handshake_status":101'

px_stop a
finish
