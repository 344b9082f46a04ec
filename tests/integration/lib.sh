# Shared helpers for the integration tests (sourced). Each test counts its
# checks and exits non-zero if any failed; everything it starts is stopped on
# exit.
set -u
XP_CHECKS=0
XP_FAILED=0
XP_PIDS=()
XP_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/xp.XXXXXX")

xp_cleanup() {
    for p in "${XP_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done
    rm -rf "$XP_TMP"
}
trap xp_cleanup EXIT

ok() {
    XP_CHECKS=$((XP_CHECKS + 1))
    echo "ok - $*"
}

not_ok() {
    XP_CHECKS=$((XP_CHECKS + 1))
    XP_FAILED=$((XP_FAILED + 1))
    echo "FAIL - $*"
}

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# contains HAYSTACK NEEDLE
contains() {
    case "$1" in *"$2"*) return 0 ;; esac
    return 1
}

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

# wait_exit PID SECONDS: waits for the process, sets XP_RC; 1 if it hung.
wait_exit() {
    local pid=$1 secs=$2
    for _ in $(seq 1 $((secs * 20))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            XP_RC=$?
            return 0
        fi
        sleep 0.05
    done
    return 1
}

finish() {
    echo "$((XP_CHECKS - XP_FAILED)) passed, $XP_FAILED failed"
    [ "$XP_FAILED" -eq 0 ] && [ "$XP_CHECKS" -gt 0 ]
    exit $?
}

# not_contains HAYSTACK NEEDLE
not_contains() {
    ! contains "$1" "$2"
}
