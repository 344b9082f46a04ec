# Shared helpers for the tools' tests (sourced). Each test counts its checks
# and exits non-zero if any failed; everything it starts is stopped on exit.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
T_PIDS=()
T_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/xpt.XXXXXX")

t_cleanup() {
    for p in "${T_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null
    done
    rm -rf "$T_TMP"
}
trap t_cleanup EXIT

# start_upstream BINARY NAME [ARGS...]: one listener on a free port; sets
# UP_PID and UP_PORT.
start_upstream() {
    local bin=$1 name=$2
    shift 2
    local pf="$T_TMP/ports.$name"
    "$bin" --listen 127.0.0.1:0 --name "$name" --port-file "$pf" "$@" \
        >"$T_TMP/$name.log" 2>&1 &
    UP_PID=$!
    T_PIDS+=("$UP_PID")
    for _ in $(seq 1 200); do
        if [ -s "$pf" ]; then
            UP_PORT=$(head -1 "$pf")
            return 0
        fi
        if ! kill -0 "$UP_PID" 2>/dev/null; then
            echo "xp_upstream exited early:"; cat "$T_TMP/$name.log"
            return 1
        fi
        sleep 0.05
    done
    echo "xp_upstream did not write its port file"
    return 1
}

# stop_pid PID SECONDS: SIGTERM, wait; sets T_RC (124 if it hung).
stop_pid() {
    local pid=$1 secs=$2
    kill -TERM "$pid" 2>/dev/null
    if wait_exit "$pid" "$secs"; then
        T_RC=$XP_RC
        return 0
    fi
    T_RC=124
    return 1
}

finish() {
    check_summary
    exit $?
}
