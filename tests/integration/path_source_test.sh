#!/usr/bin/env bash
# lds_config from a path_config_source: the file is read at start, replaced
# files (rename, as deploy tools do) are re-read and applied in place, a
# broken file is reported and the last good config keeps serving.
XPROXY=$1
DIR=$(dirname "$0")
. "$DIR/lib.sh"

lds() { # version body
    cat >"$XP_TMP/lds.new" <<EOF2
version_info: "$1"
resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: l1
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
  filter_chains:
  - filters:
    - name: hcm
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: p
        route_config: { virtual_hosts: [{ name: a, domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "$2" } } }] }] }
        http_filters: [{ name: r, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]
EOF2
    mv "$XP_TMP/lds.new" "$XP_TMP/lds.yaml"
}
# wait_body PORT BODY: polls up to 5 s
wait_body() {
    for _ in $(seq 1 100); do
        [ "$(curl -s --max-time 1 "http://127.0.0.1:$1/")" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

lds 1 one
cat >"$XP_TMP/boot.yaml" <<EOF3
admin: { address: { socket_address: { address: 127.0.0.1, port_value: 0 } } }
dynamic_resources:
  lds_config: { path_config_source: { path: $XP_TMP/lds.yaml } }
EOF3
start_xproxy -c "$XP_TMP/boot.yaml" --concurrency 2 || exit 1
port=$(listener_port l1) || { not_ok "listener 'l1' from the file bound"; cat "$XP_TMP/xproxy.log"; finish; }
if wait_body "$port" one; then
    ok "listener from the file serves"
else
    not_ok "listener from the file serves"
    cat "$XP_TMP/xproxy.log"
fi
check "/ready after the file is loaded" contains "$(curl -s "http://$XP_ADMIN/ready")" LIVE

# A keep-alive client connection opened before the change.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\n' >&3
read -r -t 5 line <&3
check "keep-alive connection answered before the change" contains "$line" "200"

lds 2 two
check "replaced file applied in place" wait_body "$port" two

echo "not: [valid" >"$XP_TMP/lds.new" && mv "$XP_TMP/lds.new" "$XP_TMP/lds.yaml"
sleep 0.5
check "broken file: last good config keeps serving" [ "$(curl -s --max-time 2 "http://127.0.0.1:$port/")" = two ]
check "broken file is reported with its path" contains "$(cat "$XP_TMP/xproxy.log")" "lds.yaml is invalid"

lds 3 three
check "a fixed file is applied again" wait_body "$port" three
exec 3>&-

kill -TERM "$XP_PID"
if wait_exit "$XP_PID" 10; then check "exit 0 on SIGTERM" [ "$XP_RC" = 0 ]; else not_ok "still running"; fi
finish
