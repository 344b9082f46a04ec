# Shared helpers for the stream_* proxy tests (sourced). The real xproxy runs
# in front of xp_upstream on loopback, every port is 0 and read back, and
# everything started is stopped on exit.
#
# Arguments of every test: XPROXY XP_UPSTREAM XP_WSCLIENT STREAM_RAW TEMPLATE
# CONCURRENCY [EXTRA_FLAG] (one more xproxy flag: "--io-uring=off").
#
# Known failures: a test lists the descriptions of checks that expose an
# xproxy bug not fixed yet in KNOWN_FAILURES (before sourcing nothing
# special is needed; set it after). Such a check failing is reported as
# "KNOWN FAIL" and does not fail the test; if it passes, it says so, so the
# entry can be removed.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
export LC_ALL=C
XPROXY=$1
XP_UPSTREAM=$2
XP_WSCLIENT=$3
STREAM_RAW=$4
TEMPLATE=$5
CONC=$6
XP_EXTRA=${7:-}
SX_PIDS=()
SX_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/sx.XXXXXX")
SX_LOGS=()
UNDER_ASAN=0
[ -n "${ASAN_OPTIONS:-}" ] && UNDER_ASAN=1

sx_cleanup() {
    for p in "${SX_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$SX_TMP"
}
trap sx_cleanup EXIT

# start_upstream NAME: an xp_upstream on a free port; sets UP_PID, UP_PORT.
start_upstream() {
    local pf="$SX_TMP/port.$1"
    "$XP_UPSTREAM" --listen 127.0.0.1:0 --name "$1" --port-file "$pf" >"$SX_TMP/$1.log" 2>&1 &
    UP_PID=$!
    SX_PIDS+=("$UP_PID")
    if ! wait_file "$pf" "$UP_PID"; then
        echo "xp_upstream did not start:"; cat "$SX_TMP/$1.log"
        exit 1
    fi
    UP_PORT=$(head -1 "$pf")
}

# start_raw_server: stream_raw's until-close upstream; sets RAW_PID, RAW_PORT.
start_raw_server() {
    local pf="$SX_TMP/port.raw.$RANDOM"
    "$STREAM_RAW" server --port-file "$pf" >"$SX_TMP/raw.log" 2>&1 &
    RAW_PID=$!
    SX_PIDS+=("$RAW_PID")
    if ! wait_file "$pf" "$RAW_PID"; then
        echo "stream_raw server did not start:"; cat "$SX_TMP/raw.log"
        exit 1
    fi
    RAW_PORT=$(head -1 "$pf")
}

# dead_port: a port nobody listens on: below the ephemeral range
# (quiet_port, check.sh), where no test's bind to port 0 can start listening
# on it later; else one that was just free (a listener bound and closed).
dead_port() {
    local i
    for i in $(seq 1 20); do
        quiet_port || break
        # Nothing answers there now.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$QUIET_PORT") 2>/dev/null; then
            DEAD_PORT=$QUIET_PORT
            return 0
        fi
    done
    local pf="$SX_TMP/port.dead.$RANDOM"
    "$STREAM_RAW" server --port-file "$pf" >/dev/null 2>&1 &
    local pid=$!
    wait_file "$pf" "$pid"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    DEAD_PORT=$(head -1 "$pf")
}

# listener_port NAME: the bound port of a listener, from /listeners?format=json.
listener_port() { admin_listener_port "$XP_ADMIN" "$1"; }

# start_xproxy: renders the template (UP_PORT, RAW_PORT, DEAD_PORT must be
# set) and starts xproxy with --concurrency $CONC; sets XP_PID, XP_ADMIN,
# XP_LOG and the listener ports HTTP_PORT, HTTP_TO_PORT (1 s timeouts),
# TCP_PORT, TCP_RETRY_PORT, TCP_IDLE_PORT, TCP_DEAD_PORT.
start_xproxy() {
    local n=${#SX_LOGS[@]}
    local boot="$SX_TMP/bootstrap.$n.yaml" af="$SX_TMP/admin.$n"
    XP_LOG="$SX_TMP/xproxy.$n.log"
    SX_LOGS+=("$XP_LOG")
    sed -e "s/@UP_PORT@/$UP_PORT/g" -e "s/@RAW_PORT@/${RAW_PORT:-1}/g" \
        -e "s/@DEAD_PORT@/${DEAD_PORT:-1}/g" "$TEMPLATE" >"$boot"
    xproxy_launch SX_PIDS "$XP_LOG" "$af" -c "$boot" --concurrency "$CONC" ${XP_EXTRA:+"$XP_EXTRA"}
    XP_PID=$XL_PID
    XP_ADMIN=$XL_ADMIN
    HTTP_PORT=$(listener_port http)
    TCP_PORT=$(listener_port tcp)
    TCP_RETRY_PORT=$(listener_port tcp_retry)
    TCP_IDLE_PORT=$(listener_port tcp_idle)
    HTTP_TO_PORT=$(listener_port http_to)
    TCP_DEAD_PORT=$(listener_port tcp_dead)
    if [ -z "$HTTP_PORT" ] || [ -z "$TCP_PORT" ]; then
        echo "no listener ports:"; curl -s "http://$XP_ADMIN/listeners?format=json"; cat "$XP_LOG"
        exit 1
    fi
}

# xstat NAME: the value of one stat (empty if it does not exist).
xstat() {
    curl -s --max-time 5 "http://$XP_ADMIN/stats?filter=$1" | sed -n "s/^$1: //p" | head -1
}

# wait_stat NAME VALUE [SECONDS]: waits for a stat to reach a value.
wait_stat() {
    local secs=${3:-10} v
    for _ in $(seq 1 $((secs * 20))); do
        v=$(xstat "$1")
        [ "$v" = "$2" ] && return 0
        sleep 0.05
    done
    echo "  $1 is '$v', want '$2'"
    return 1
}

# up_requests: requests_total of the live xp_upstream, read directly (the
# /stats request itself counts, so callers subtract 1).
up_requests() {
    curl -s --max-time 5 "http://127.0.0.1:$UP_PORT/stats" | grep -o '"requests_total":[0-9]*' |
        cut -d: -f2
}

# raw PORT [ARGS]: stream_raw client; stdin is the request. Sets RAW_OUT
# (response), RAW_END (eof/reset/timeout), RAW_MS.
raw() {
    local port=$1
    shift
    "$STREAM_RAW" client "$port" "$@" >"$SX_TMP/raw.out" 2>"$SX_TMP/raw.err"
    RAW_OUT=$(tr -d '\0' <"$SX_TMP/raw.out")
    local last
    last=$(tail -1 "$SX_TMP/raw.err")
    RAW_END=$(echo "$last" | sed -n 's/.*end=\([a-z]*\).*/\1/p')
    RAW_MS=$(echo "$last" | sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p')
}

# raw_body_len: body bytes of the last raw response (after the head).
raw_body_len() {
    local hdr=${RAW_OUT%%$'\r\n\r\n'*}
    echo $(($(wc -c <"$SX_TMP/raw.out") - ${#hdr} - 4))
}

# first_status TEXT: the status code of the first response line.
first_status() {
    printf '%s' "$1" | head -1 | cut -d' ' -f2
}

# vmhwm PID: peak resident set in KiB.
vmhwm() {
    sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

# stop_xproxy: SIGTERM; checks a clean exit and a log without sanitizer
# reports (check.sh).
stop_xproxy() { stop_checked "$XP_PID" "$XP_LOG" "xproxy (--concurrency $CONC${XP_EXTRA:+ $XP_EXTRA})"; }

finish() {
    check_summary
    exit $?
}
