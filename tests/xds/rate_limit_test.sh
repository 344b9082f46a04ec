#!/usr/bin/env bash
# rate_limit_settings on a gRPC config source (argument 5: the variant; the
# gRPC ones only, REST ignores the setting with a warning), against the real
# xds-server:
#   - with a bucket of 2 tokens refilled at 2 per second, the requests of a
#     fresh start over ADS (subscriptions and ACKs of four types) wait for
#     tokens: control_plane.rate_limit_enforced counts the waits, every type is
#     still ACKed and the listener serves; after a burst of route updates
#     the last one is ACKed and served, and control_plane.pending_requests
#     is back to 0;
#   - a proxy on the same server without rate_limit_settings never waits
#     (the counter exists and stays 0);
#   - max_tokens 0 or fill_rate 0 is a startup error naming the field.
DIR=$(cd "$(dirname "$0")" && pwd)
. "$DIR/xds_lib.sh"
case "$VARIANT" in
types_rest)
    echo "rate_limit_settings applies to gRPC sources only"
    exit 2
    ;;
esac

# The api_config_source (ADS: ads_config) of the bootstrap gets SETTINGS.
# Per-type streams: the RDS and EDS sources in the resources get the same
# settings, so they share the LDS/CDS client and its stats.
ADS=0
[ "${VARIANT%%_*}" = ads ] && ADS=1
if [ "$ADS" = 1 ]; then
    rl_sed() { echo "s/^    transport_api_version: V3\$/&\\n    rate_limit_settings: $1/"; }
else
    rl_sed() { echo "s/transport_api_version: V3, grpc_services/rate_limit_settings: $1, &/"; }
    rl_json='"rate_limit_settings":{"max_tokens":2,"fill_rate":2},"transport_api_version"'
    CS=${CS/\"transport_api_version\"/$rl_json}
fi
stat_is() {
    local v
    v=$(px_stat "$1" "$2")
    [ "$v" = "$3" ] && return 0
    echo "  $2 = '$v', want $3"
    return 1
}
stat_above() {
    local v
    v=$(px_stat "$1" "$2")
    [ -n "$v" ] && [ "$v" -gt "$3" ] && return 0
    echo "  $2 = '$v', want more than $3"
    return 1
}

up_start up1
up_start up2
xds_start
put_main "$(rt / c1)"
put cluster c2 "$(cluster_eds c2)" || exit 1
put endpoint c2 "$(cla c2 "$UP_PORT_up2")" || exit 1

# ---- limited -------------------------------------------------------------------
PX_BOOT_SED=$(rl_sed "{ max_tokens: 2, fill_rate: 2 }") px_start lim
check "the bootstrap carries rate_limit_settings" \
    contains "$(cat "$XT_TMP/px.lim.yaml")" "rate_limit_settings: { max_tokens: 2, fill_rate: 2 }"
check "limited: every type ACKed within 20 s" poll 20 all_acked px-lim
check "limited: the listener serves through RDS and EDS" \
    poll 5 serves "http://127.0.0.1:$(px_port lim main)/a" 200 up1
# ADS: one stream, one bucket, and the start needs more than 2 requests.
# Per-type streams each have a bucket (as in Envoy) and need 2 at most.
[ "$ADS" = 1 ] && check "limited: control_plane.rate_limit_enforced counted the waits at start" \
    stat_above lim control_plane.rate_limit_enforced 0
enforced0=$(px_stat lim control_plane.rate_limit_enforced)

# A burst of route updates: requests queue behind the bucket, in order, and
# the last version is the one ACKed and served.
for i in 1 2 3 4 5 6; do
    put route r1 "$(route_cfg r1 "$(rt /b$i/ c2 /)","$(rt / c1)")" || break
done
check "limited: the last of 6 quick route updates is served" \
    poll 10 serves "http://127.0.0.1:$(px_port lim main)/b6/x" 200 up2 /x
check "limited: the last route version is ACKed" poll 10 acked px-lim route
check "limited: nothing left waiting (control_plane.pending_requests 0)" \
    poll 5 stat_is lim control_plane.pending_requests 0
check "limited: the burst had to wait for tokens too" \
    stat_above lim control_plane.rate_limit_enforced "$enforced0"

# ---- unlimited (ADS: per-type, the resources' RDS/EDS sources are limited) ----
if [ "$ADS" = 1 ]; then
    px_start free
    check "unlimited: every type ACKed" poll 10 all_acked px-free
    check "unlimited: serves" poll 5 serves "http://127.0.0.1:$(px_port free main)/b6/y" 200 up2 /y
    check "unlimited: control_plane.rate_limit_enforced exists and is 0" \
        stat_is free control_plane.rate_limit_enforced 0
fi

# ---- invalid settings ------------------------------------------------------------
# bad_start SETTINGS FIELD: xproxy exits 1 at startup naming FIELD.
bad_start() {
    local boot="$XT_TMP/bad.yaml" out rc
    bootstrap "$boot" px-bad
    sed -i -e "$(rl_sed "$1")" "$boot"
    out=$("$XPROXY" -c "$boot" --admin-address-path "$XT_TMP/bad.admin" 2>&1 </dev/null &
        pid=$!
        wait_exit "$pid" 10 || { kill -9 "$pid"; XP_RC=124; }
        echo "exit=$XP_RC")
    rc=${out##*exit=}
    if [ "$rc" != 1 ]; then
        echo "  exit status $rc: ${out:0:600}"
        return 1
    fi
    contains "$out" "$2"
}
if [ "$ADS" = 1 ]; then at=dynamic_resources.ads_config; else
    at=api_config_source # of lds_config or cds_config, whichever starts first
fi
check "max_tokens 0 is a startup error naming the field" \
    bad_start "{ max_tokens: 0 }" "$at.rate_limit_settings.max_tokens"
check "fill_rate 0 is a startup error naming the field" \
    bad_start "{ fill_rate: 0 }" "$at.rate_limit_settings.fill_rate"

px_stop lim
[ "$ADS" = 1 ] && px_stop free
xds_stop
finish
