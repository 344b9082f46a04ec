# Shared helpers for the route_* proxy tests (sourced). The real xproxy runs
# in front of xp_upstream instances on loopback; every listener and the admin
# use port 0 and are read back; bootstraps are rendered from route_*.yaml
# templates (@NAME@ placeholders) into a temporary directory; everything
# started is stopped. Checks and their count come from tests/lib/check.sh.
#
# Arguments of every route test: XPROXY XP_UPSTREAM CONCURRENCY.
#
# Known failures: a test sets KNOWN_FAILURES to the descriptions of checks
# that expose an xproxy bug not fixed yet. Such a check failing prints
# "KNOWN FAIL" and does not fail the test; passing, it says the entry can go.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
XPROXY=$1
XP_UPSTREAM=$2
CONC=$3
RT_DIR=$(dirname "$0")
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

UNDER_ASAN=0
[ -n "${ASAN_OPTIONS:-}" ] && UNDER_ASAN=1

# up_start NAME: an xp_upstream named NAME on a free port; sets UP_PORT.
up_start() {
    local pf="$XP_TMP/port.$1"
    "$XP_UPSTREAM" --listen 127.0.0.1:0 --name "$1" --port-file "$pf" >"$XP_TMP/$1.log" 2>&1 &
    local pid=$!
    XP_PIDS+=("$pid")
    if ! wait_file "$pf" "$pid"; then
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
    wait_file "$pf" "$pid"
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
    xproxy_launch XP_PIDS "$log" "$af" -c "$boot" --concurrency "$conc"
    printf -v "PX_ADMIN_$name" '%s' "$XL_ADMIN"
    printf -v "PX_PID_$name" '%s' "$XL_PID"
    printf -v "PX_LOG_$name" '%s' "$log"
}

# px_port NAME LISTENER: the bound port of a listener of instance NAME.
px_port() {
    local a="PX_ADMIN_$1"
    admin_listener_port "${!a}" "$2"
}

# px_stat NAME STAT: one stat of instance NAME (empty when it does not exist).
px_stat() {
    local a="PX_ADMIN_$1"
    curl -s --max-time 5 "http://${!a}/stats?filter=$2" | sed -n "s/^$2: //p" | head -1
}

# px_stop NAME: SIGTERM; checks a clean exit and the log (check.sh).
px_stop() {
    local p="PX_PID_$1" l="PX_LOG_$1"
    stop_checked "${!p}" "${!l}" "xproxy $1"
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
    check_summary "concurrency $CONC"
    exit $?
}
