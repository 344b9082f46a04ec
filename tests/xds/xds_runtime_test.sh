#!/usr/bin/env bash
# The layered runtime against the real xds-server, in one of the four
# transport variants (argument 5): a static layer, an RTDS layer fed by a
# Runtime resource and an admin layer, in that order. Values delivered over
# RTDS show in /runtime (Envoy's JSON shape) and switch which cluster a
# runtime_fraction route answers from; an update changes it; an invalid
# Runtime is NACKed naming the field while the old values keep serving;
# later layers override earlier ones; POST /runtime_modify writes the admin
# layer; the listener connection limit reads the same runtime.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"

XT_KNOWN_FAILURES=()

up_start up1
up_start up2
xds_start

# runtime_fraction routes: each sends to c2 when its key allows, else the
# next route sends to c1.
frac() { # PREFIX NUMERATOR KEY
    echo "{\"match\":{\"prefix\":\"$1\",\"runtime_fraction\":{\"default_value\":{\"numerator\":$2},\"runtime_key\":\"$3\"}},\"route\":{\"cluster\":\"c2\"}}"
}
ROUTES="$(frac /frac 0 routing.frac),$(rt /frac c1),$(frac /static 0 routing.static),$(rt /static c1)"
ROUTES="$ROUTES,$(frac /dflt 100 routing.unset),$(rt /dflt c1)"
put_main "$ROUTES"
put cluster c2 "$(cluster_eds c2)" || exit 1
put endpoint c2 "$(cla c2 "$UP_PORT_up2")" || exit 1

runtime_res() { # LAYER_JSON
    echo "{\"@type\":\"type.googleapis.com/envoy.service.runtime.v3.Runtime\",\"name\":\"rt0\",\"layer\":$1}"
}
put runtime rt0 "$(runtime_res '{"routing":{"frac":100},"shadow":{"key":"from_rtds"}}')" || exit 1

PX_BOOT_EXTRA="layered_runtime:
  layers:
  - name: static0
    static_layer:
      routing: { static: 100 }
      shadow.key: from_static
      only: { static: 7 }
  - name: rtds0
    rtds_layer: { name: rt0, rtds_config: $CS }
  - name: admin0
    admin_layer: {}"
px_start a
PX_BOOT_EXTRA=
NODE=px-a
A=$(px_admin a)
check "start: listener main bound" poll 10 has_port a main
U=http://127.0.0.1:$(px_port a main)
live() { contains "$(curl -s --max-time 5 "http://$A/ready")" LIVE; }
check "start: xproxy is LIVE" poll 5 live
check "RTDS: the Runtime resource rt0 is ACKed" poll 5 acked "$NODE" runtime
check "RTDS: the runtime subscription names rt0" type_has "$NODE" runtime '"subscribed":["rt0"]'

runtime_json() { curl -s --max-time 5 "http://$A/runtime" | xt_compact; }
# entry KEY FINAL V1 V2 V3: /runtime shows KEY with that final value and
# those values in the three layers.
entry() {
    contains "$(runtime_json)" "\"$1\":{\"final_value\":\"$2\",\"layer_values\":[\"$3\",\"$4\",\"$5\"]}"
}
rt_re() { matches_re "$(runtime_json)" "$1"; }
rj=$(runtime_json)
check "/runtime: the layers in order" contains "$rj" '"layers":["static0","rtds0","admin0"]'
check "/runtime: routing.frac from RTDS (nested keys flattened)" entry routing.frac 100 "" 100 ""
check "/runtime: shadow.key: RTDS overrides the static layer" entry shadow.key from_rtds from_static from_rtds ""
check "/runtime: only.static from the static layer" entry only.static 7 7 "" ""
check "/runtime: keys are sorted" matches_re "$rj" '"only.static".*"routing.frac".*"routing.static".*"shadow.key"'
check "/runtime: content type JSON" contains "$(curl -s -i --max-time 5 "http://$A/runtime")" "content-type: application/json"

# serves_all N URL SERVER: N requests all answered by SERVER.
serves_all() { serves_n "$1" "$2" 200 "$3"; }
check "route: runtime_fraction 100 (RTDS integer) sends /frac to c2" poll 5 serves_all 20 "$U/frac/x" up2
check "route: runtime_fraction 100 from the static layer sends /static to c2" serves_all 20 "$U/static/x" up2
check "route: a key no layer sets keeps its default (100%)" serves_all 20 "$U/dflt/x" up2

# ---- an update --------------------------------------------------------------
put runtime rt0 "$(runtime_res '{"routing":{"frac":{"numerator":0,"denominator":"TEN_THOUSAND"}},"shadow":{"key":"from_rtds"}}')"
check "update: a FractionalPercent 0/10000 sends /frac to c1" poll 5 serves_all 20 "$U/frac/x" up1
check "update: ... for every next request" serves_all 30 "$U/frac/x" up1
check "update: /runtime shows the FractionalPercent" poll 5 rt_re '"routing.frac":\{"final_value":"\{[^}]*TEN_THOUSAND'
check "update: the new version is ACKed" poll 5 acked "$NODE" runtime
check "update: other routes unchanged" serves_all 10 "$U/static/x" up2

# ---- an invalid Runtime: NACKed, the old values keep serving -----------------------
rej0=$(px_stat a runtime.update_rejected)
put runtime rt0 "$(runtime_res '{"routing":{"frac":100,"bad":[1,2],"pct":{"numerator":5,"denominator":"PERCENT"}},"shadow":{"key":"new"}}')"
nack_has() { contains "$(node_type "$NODE" runtime)" "$1"; }
check "NACK: the invalid Runtime is NACKed" poll 5 nack_has '"error_detail":"'
j=$(node_type "$NODE" runtime)
check "NACK: error_detail names the list value's field" contains "$j" 'runtime[rt0].layer.routing.bad: runtime key'
check "NACK: ... and says what is wrong" contains "$j" 'a list is not a runtime value'
check "NACK: error_detail names the bad FractionalPercent's field" contains "$j" 'runtime[rt0].layer.routing.pct'
check "NACK: the NACKed version is not acked" not_contains "$(jfield "$j" acked_version)" "$(jfield "$j" sent_version)"
check "NACK: /frac keeps the old 0% (not the rejected 100)" serves_all 30 "$U/frac/x" up1
check "NACK: /runtime keeps the old values" entry shadow.key from_rtds from_static from_rtds ""
check "NACK: runtime.update_rejected counts it" [ "$(px_stat a runtime.update_rejected)" -gt "${rej0:-0}" ]
check "NACK: xproxy logs the rejection" contains "$(cat "$PX_LOG_a")" "runtime[rt0].layer.routing.bad"

# ---- the admin layer ---------------------------------------------------------------
modify() { # QUERY: POST /runtime_modify?QUERY; sets M_CODE, M_BODY
    M_CODE=$(curl -s -o "$XT_TMP/mod.body" -w '%{http_code}' --max-time 5 -X POST "http://$A/runtime_modify?$1")
    M_BODY=$(cat "$XT_TMP/mod.body")
}
modify "shadow.key=from_admin"
check "admin: runtime_modify answers 200 OK" eq "$M_CODE $M_BODY" "200 OK"
check "admin: the admin layer overrides RTDS and static" entry shadow.key from_admin from_static from_rtds from_admin
check "admin: runtime.admin_overrides_active is 1" eq "$(px_stat a runtime.admin_overrides_active)" 1
modify "routing.frac=100"
check "admin: routing.frac=100 in the admin layer sends /frac to c2" poll 5 serves_all 20 "$U/frac/x" up2
# A FractionalPercent in JSON, percent-encoded: {"numerator":0}
modify "routing.frac=%7B%22numerator%22%3A0%7D&routing.static=0"
check "admin: a FractionalPercent value (JSON) sends /frac to c1" poll 5 serves_all 20 "$U/frac/x" up1
check "admin: routing.static=0 overrides the static layer's 100" serves_all 20 "$U/static/x" up1
check "admin: /runtime shows the decoded value over the RTDS one" rt_re \
    '"routing.frac":\{"final_value":"\{\\"numerator\\":0\}","layer_values":\["","\{[^]]*TEN_THOUSAND[^]]*","\{\\"numerator\\":0\}"\]'
modify "routing.frac=&routing.static=&shadow.key="
check "admin: empty values remove the overrides" entry shadow.key from_rtds from_static from_rtds ""
check "admin: /static back to the static layer's 100" poll 5 serves_all 20 "$U/static/x" up2
check "admin: runtime.admin_overrides_active back to 0" eq "$(px_stat a runtime.admin_overrides_active)" 0
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$A/runtime_modify?x=1")
check "admin: GET /runtime_modify is 405 (POST only)" eq "$code" 405
modify ""
check "admin: runtime_modify without parameters is 400 with usage" eq "$M_CODE" 400
check "admin: ... usage text" contains "$M_BODY" "usage: /runtime_modify?key1=value1"

# ---- the listener connection limit reads the same runtime ----------------------------
put runtime rt0 "$(runtime_res '{"routing":{"frac":100},"envoy.resource_limits.listener.main.connection_limit":0}')"
closes() { # URL: the connection is closed without an answer
    local c
    c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$1")
    [ "$c" = 000 ] && return 0
    echo "  $1 answered $c"
    return 1
}
check "limit: RTDS connection_limit 0 for main refuses new connections" poll 5 closes "$U/frac/x"
check "limit: downstream_cx_overflow counts them" [ "$(px_stat a "listener.127.0.0.1_$(px_port a main).downstream_cx_overflow")" -gt 0 ]
modify "envoy.resource_limits.listener.main.connection_limit=100"
check "limit: an admin override (100) lets connections in again" poll 5 serves_all 5 "$U/frac/x" up2
modify "envoy.resource_limits.listener.main.connection_limit="
check "limit: without the override the RTDS limit 0 applies again" poll 5 closes "$U/frac/x"
put runtime rt0 "$(runtime_res '{"routing":{"frac":100}}')"
check "limit: an RTDS update without the key removes the limit" poll 5 serves_all 10 "$U/frac/x" up2
check "RTDS: the fixed Runtime is ACKed again" poll 5 acked "$NODE" runtime

if [ "$DELTA" = 1 ]; then
    # Delta: a removed Runtime resource empties its layer.
    del runtime rt0
    check "remove (Delta): the RTDS layer empties: /frac back to its default 0%" poll 5 serves_all 20 "$U/frac/x" up1
    check "remove (Delta): /runtime no longer has routing.frac" not_contains "$(runtime_json)" '"routing.frac"'
    check "remove (Delta): the rtds0 layer stays listed" contains "$(runtime_json)" '"layers":["static0","rtds0","admin0"]'
fi

# Old runtime snapshots go once the workers switched.
alive() { eq "$(px_stat a server.config.runtimes_alive)" 1; }
check "server.config.runtimes_alive falls back to 1" poll 5 alive
check "end: every type ACKed" poll 5 all_acked "$NODE"
px_stop a
xds_stop
finish
