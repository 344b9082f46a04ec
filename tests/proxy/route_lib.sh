# Shared helpers for the route_* proxy tests (sourced). The real xproxy runs
# in front of xp_upstream instances on loopback; every listener and the admin
# use port 0 and are read back; bootstraps are rendered from route_*.yaml
# templates (@NAME@ placeholders) into a temporary directory; everything
# started is stopped. Same conventions as tests/integration/lib.sh (which is
# not visible outside its package, so not sourced here).
#
# Arguments of every route test: XPROXY XP_UPSTREAM CONCURRENCY.
#
# Known failures: a test sets RT_KNOWN_FAILURES to the descriptions of checks
# that expose an xproxy bug not fixed yet. Such a check failing prints
# "KNOWN FAIL" and does not fail the test; passing, it says the entry can go.
set -u
XPROXY=$1
XP_UPSTREAM=$2
CONC=$3
RT_DIR=$(dirname "$0")
XP_CHECKS=0
XP_FAILED=0
XP_PIDS=()
XP_TMP=$(mktemp -d "${TEST_TMPDIR:-/tmp}/rt.XXXXXX")

rt_cleanup() {
    local p
    for p in "${XP_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rm -rf "$XP_TMP"
}
trap rt_cleanup EXIT

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
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

RT_KNOWN=0
RT_KNOWN_FAILURES=()
UNDER_ASAN=0
[ -n "${ASAN_OPTIONS:-}" ] && UNDER_ASAN=1

rt_is_known() {
    local k
    for k in "${RT_KNOWN_FAILURES[@]:-}"; do
        [ -n "$k" ] && [ "$k" = "$1" ] && return 0
    done
    return 1
}

ok() {
    XP_CHECKS=$((XP_CHECKS + 1))
    if rt_is_known "$*"; then
        echo "ok - $* (listed as a known failure but passes now: remove it from the list)"
    else
        echo "ok - $*"
    fi
}

not_ok() {
    XP_CHECKS=$((XP_CHECKS + 1))
    if rt_is_known "$*"; then
        RT_KNOWN=$((RT_KNOWN + 1))
        echo "KNOWN FAIL - $*"
        return
    fi
    XP_FAILED=$((XP_FAILED + 1))
    echo "FAIL - $*"
}

contains() {
    case "$1" in *"$2"*) return 0 ;; esac
    echo "  '$2' not in: ${1:0:700}"
    return 1
}

not_contains() {
    case "$1" in *"$2"*)
        echo "  '$2' unexpectedly in: ${1:0:700}"
        return 1
        ;;
    esac
    return 0
}

# eq GOT WANT
eq() {
    [ "$1" = "$2" ] && return 0
    echo "  got '$1', want '$2'"
    return 1
}

# between VALUE LOW HIGH (integers, inclusive)
between() {
    [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] && return 0
    echo "  got '$1', want $2..$3"
    return 1
}

# matches VALUE ERE
matches() {
    printf '%s' "$1" | grep -Eq "$2" && return 0
    echo "  '$1' does not match /$2/"
    return 1
}

rt_wait_file() {
    for _ in $(seq 1 200); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# up_start NAME: an xp_upstream named NAME on a free port; sets UP_PORT.
up_start() {
    local pf="$XP_TMP/port.$1"
    "$XP_UPSTREAM" --listen 127.0.0.1:0 --name "$1" --port-file "$pf" >"$XP_TMP/$1.log" 2>&1 &
    local pid=$!
    XP_PIDS+=("$pid")
    if ! rt_wait_file "$pf" "$pid"; then
        echo "xp_upstream $1 did not start:"; cat "$XP_TMP/$1.log"
        exit 1
    fi
    UP_PORT=$(head -1 "$pf")
}

# closed_port: a port that was just bound and closed again (nothing listens).
closed_port() {
    local pf="$XP_TMP/port.closed.$RANDOM"
    "$XP_UPSTREAM" --listen 127.0.0.1:0 --name closed --port-file "$pf" >/dev/null 2>&1 &
    local pid=$!
    rt_wait_file "$pf" "$pid"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    CLOSED_PORT=$(head -1 "$pf")
}

# px_start NAME TEMPLATE CONC [KEY=VALUE...]: renders TEMPLATE with every
# @KEY@ replaced by VALUE and starts xproxy on it. Sets PX_ADMIN_<NAME>,
# PX_PID_<NAME> and PX_LOG_<NAME>; px_port NAME LISTENER gives a listener's
# bound port.
px_start() {
    local name=$1 tmpl=$2 conc=$3
    shift 3
    local boot="$XP_TMP/$name.yaml" af="$XP_TMP/$name.admin" log="$XP_TMP/$name.log"
    local sedargs=() kv
    for kv in "$@"; do
        sedargs+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
    done
    sed "${sedargs[@]}" "$tmpl" >"$boot"
    if grep -n '@[A-Z0-9_]*@' "$boot"; then
        echo "unreplaced placeholders in $tmpl"
        exit 1
    fi
    local extra=()
    if [ "$UNDER_ASAN" = 1 ]; then
        extra=(env "ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=16")
    fi
    rm -f "$af"
    "${extra[@]}" "$XPROXY" -c "$boot" --concurrency "$conc" --admin-address-path "$af" \
        >"$log" 2>&1 &
    local pid=$!
    XP_PIDS+=("$pid")
    if ! rt_wait_file "$af" "$pid"; then
        echo "xproxy $name did not start:"; cat "$log"
        exit 1
    fi
    printf -v "PX_ADMIN_$name" '%s' "$(cat "$af")"
    printf -v "PX_PID_$name" '%s' "$pid"
    printf -v "PX_LOG_$name" '%s' "$log"
}

# px_port NAME LISTENER: the bound port of a listener of instance NAME.
px_port() {
    local a="PX_ADMIN_$1"
    curl -s --max-time 5 "http://${!a}/listeners?format=json" |
        grep -o "\"name\":\"$2\",\"local_address\":{\"socket_address\":{\"address\":\"[^\"]*\",\"port_value\":[0-9]*" |
        grep -o '[0-9]*$'
}

# px_stat NAME STAT: one stat of instance NAME (empty when it does not exist).
px_stat() {
    local a="PX_ADMIN_$1"
    curl -s --max-time 5 "http://${!a}/stats?filter=$2" | sed -n "s/^$2: //p" | head -1
}

# px_sanitizer_check NAME: fails the test when the log of instance NAME has
# a sanitizer report, and shows it. Memory errors and leaks are two checks so
# a known leak cannot hide a memory error.
px_sanitizer_check() {
    local l="PX_LOG_$1" show=0
    if grep -qE 'ERROR: AddressSanitizer|runtime error:' "${!l}"; then
        not_ok "xproxy $1: no AddressSanitizer or UBSan error in its log"
        show=1
    else
        ok "xproxy $1: no AddressSanitizer or UBSan error in its log"
    fi
    if grep -q 'ERROR: LeakSanitizer' "${!l}"; then
        not_ok "xproxy $1: no LeakSanitizer report in its log"
        show=1
    else
        ok "xproxy $1: no LeakSanitizer report in its log"
    fi
    if [ "$show" = 1 ]; then
        echo "---- ${!l}"; cat "${!l}"; echo "----"
    fi
}

# px_stop NAME: SIGTERM, then checks the exit code and the log.
px_stop() {
    local p="PX_PID_$1" l="PX_LOG_$1"
    kill -TERM "${!p}" 2>/dev/null
    if wait_exit "${!p}" 20; then
        if [ "$XP_RC" = 0 ]; then ok "xproxy $1 exits 0 on SIGTERM"; else
            echo "  exit code $XP_RC"
            not_ok "xproxy $1 exits 0 on SIGTERM"
            tail -20 "${!l}"
        fi
    else
        not_ok "xproxy $1 exits within 20 s of SIGTERM"
        kill -9 "${!p}" 2>/dev/null
    fi
    px_sanitizer_check "$1"
}

# req URL [CURL ARGS...]: one request; sets R_CODE, R_BODY and R_HEAD (the
# response head, CRs removed, names as received).
req() {
    local url=$1
    shift
    local hf="$XP_TMP/resp.head" bf="$XP_TMP/resp.body"
    : >"$hf"
    : >"$bf"
    R_CODE=$(curl -s --max-time 10 -D "$hf" -o "$bf" -w '%{http_code}' "$@" "$url")
    R_BODY=$(cat "$bf")
    R_HEAD=$(tr -d '\r' <"$hf")
}

# rhdr NAME: the values of response header NAME in R_HEAD (case-insensitive,
# one per line, in order).
rhdr() {
    printf '%s\n' "$R_HEAD" | grep -i "^$1:" | sed 's/^[^:]*: *//'
}

# ehdr NAME: the value of request header NAME (lower case) as the upstream
# saw it, from the echo JSON in R_BODY (repeated headers joined with ",");
# "<absent>" when it is not there.
ehdr() {
    local v
    v=$(printf '%s' "$R_BODY" | grep -o "\"headers\":{.*}" |
        grep -o "\"$1\":\"[^\"]*\"" | head -1)
    if [ -z "$v" ]; then echo "<absent>"; else
        v=${v#\"$1\":\"}
        echo "${v%\"}"
    fi
}

# efield NAME: a top-level string field of the echo JSON (server, path, method).
efield() {
    local v
    v=$(printf '%s' "$R_BODY" | grep -o "\"$1\":\"[^\"]*\"" | head -1)
    v=${v#\"$1\":\"}
    echo "${v%\"}"
}

rt_finish() {
    local p
    for p in "${XP_PIDS[@]:-}"; do
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    echo "concurrency $CONC: $RT_KNOWN known failures"
    echo "$((XP_CHECKS - XP_FAILED - RT_KNOWN)) passed, $XP_FAILED failed"
    [ "$XP_FAILED" -eq 0 ] && [ "$XP_CHECKS" -gt 0 ]
    exit $?
}
