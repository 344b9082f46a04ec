# Shared helpers for the integration tests (sourced). Each test counts its
# checks and exits non-zero if any failed; everything it starts is stopped on
# exit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
XP_PIDS=()
XP_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/xp.XXXXXX")

xp_cleanup() {
    for p in "${XP_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done
    rm -rf "$XP_TMP"
}
trap xp_cleanup EXIT

# Starts xproxy in the background with an admin address file; sets XP_PID and
# XP_ADMIN (host:port). Extra arguments go to xproxy.
start_xproxy() {
    local addr_file="$XP_TMP/admin.$RANDOM"
    "$XPROXY" --admin-address-path "$addr_file" "$@" >"$XP_TMP/xproxy.log" 2>&1 &
    XP_PID=$!
    XP_PIDS+=("$XP_PID")
    for _ in $(seq 1 200); do
        if [ -s "$addr_file" ]; then
            XP_ADMIN=$(cat "$addr_file")
            return 0
        fi
        if ! kill -0 "$XP_PID" 2>/dev/null; then
            echo "xproxy exited early:"; cat "$XP_TMP/xproxy.log"
            return 1
        fi
        sleep 0.05
    done
    echo "xproxy did not write its admin address"; cat "$XP_TMP/xproxy.log"
    return 1
}

finish() {
    check_summary
    exit $?
}

# listener_port NAME: waits up to 5 s for listener NAME to be bound (every
# listener asks for port 0) and prints its port.
listener_port() {
    local p
    for _ in $(seq 1 100); do
        p=$(admin_listener_port "$XP_ADMIN" "$1")
        [ -n "$p" ] && { echo "$p"; return 0; }
        sleep 0.05
    done
    return 1
}
