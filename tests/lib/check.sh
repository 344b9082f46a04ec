# Checks and their count, shared by every shell test (sourced by the
# per-area helper libraries). A test reports one line per check ("ok - ..."
# or "FAIL - ...") and ends with check_summary, whose last line is
# "N passed, M failed" and whose status is 0 only when something was checked
# and nothing failed.
#
# Known failures: a test may list, in KNOWN_FAILURES, the exact descriptions
# of checks that fail because of a known bug; those print "KNOWN FAIL" and are
# not counted as failed, and one that passes says it should leave the list.

CHK_CHECKS=0
CHK_FAILED=0
CHK_KNOWN=0
KNOWN_FAILURES=()

chk_is_known() {
    local k
    for k in "${KNOWN_FAILURES[@]:-}"; do
        [ -n "$k" ] && [ "$k" = "$1" ] && return 0
    done
    return 1
}

ok() {
    CHK_CHECKS=$((CHK_CHECKS + 1))
    if chk_is_known "$*"; then
        echo "ok - $* (listed as a known failure but passes now: remove it from the list)"
    else
        echo "ok - $*"
    fi
}

not_ok() {
    CHK_CHECKS=$((CHK_CHECKS + 1))
    if chk_is_known "$*"; then
        CHK_KNOWN=$((CHK_KNOWN + 1))
        echo "KNOWN FAIL - $*"
        return
    fi
    CHK_FAILED=$((CHK_FAILED + 1))
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
    echo "  '$2' not in: ${1:0:800}"
    return 1
}

# not_contains HAYSTACK NEEDLE
not_contains() {
    case "$1" in *"$2"*)
        echo "  '$2' unexpectedly in: ${1:0:800}"
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

# le GOT MAX (integers)
le() {
    [ -n "$1" ] && [ "$1" -le "$2" ] && return 0
    echo "  got '$1', want at most $2"
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

# quiet_port [COUNT]: sets QUIET_PORT to the first of COUNT (1) consecutive
# random ports below the kernel's ephemeral range, or fails where that range
# starts too low to leave room. Ports bound to 0 and the source ports of
# outgoing connections, this test's or those of tests running beside it,
# come from the ephemeral range, so a port from below it stays free once
# released (a server restarted on it binds again) or free of listeners (a
# port nobody listens on stays so). Whether it is free now is the caller's
# to find out.
CHK_EPH_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
[[ "$CHK_EPH_LOW" =~ ^[0-9]+$ ]] || CHK_EPH_LOW=32768
quiet_port() {
    local n=${1:-1}
    [ "$CHK_EPH_LOW" -gt 12000 ] || return 1
    QUIET_PORT=$((CHK_EPH_LOW - 10000 + RANDOM % (9900 / n) * n))
}

# wait_file FILE PID [SECONDS]: waits (10 s by default) for FILE to be
# non-empty; fails early when PID is gone.
wait_file() {
    local n=$((${3:-10} * 20))
    for _ in $(seq 1 "$n"); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# xproxy_launch PIDS LOG ADMIN_FILE ARGS...: starts $XPROXY with ARGS in the
# background, its output to LOG, its admin address written to ADMIN_FILE
# (under ASan with a small quarantine, so its RSS stays about the program's
# own); appends its pid to the array named PIDS (the caller's cleanup list)
# and waits for the admin address. Sets XL_PID and XL_ADMIN; exits the test
# when xproxy does not start.
xproxy_launch() {
    local pids=$1 log=$2 af=$3
    shift 3
    local extra=()
    [ -n "${ASAN_OPTIONS:-}" ] && extra=(env "ASAN_OPTIONS=$ASAN_OPTIONS:quarantine_size_mb=16")
    rm -f "$af"
    "${extra[@]}" "$XPROXY" "$@" --admin-address-path "$af" >"$log" 2>&1 &
    XL_PID=$!
    eval "$pids+=(\"\$XL_PID\")"
    if ! wait_file "$af" "$XL_PID"; then
        echo "xproxy did not start:"; cat "$log"
        exit 1
    fi
    XL_ADMIN=$(cat "$af")
}

# wait_exit PID SECONDS: waits for the child PID to exit and sets XP_RC to
# its exit code; returns 1 when it still runs after SECONDS.
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

# now_ms: wall-clock milliseconds (no fork).
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# What sanitizer reports start with: memory errors (ASan, UBSan), and leaks
# (LSan, or LSan failing itself: its tracer crashing leaves only that line).
SANITIZER_MEM_RE='ERROR: AddressSanitizer|runtime error:'
SANITIZER_LEAK_RE='ERROR: LeakSanitizer|Sanitizer has encountered a fatal error'

# sanitizer_check LOG WHAT: fails when LOG holds a sanitizer report, and
# shows it. Memory errors and leaks are two checks, so a leak listed in
# KNOWN_FAILURES cannot hide a memory error.
sanitizer_check() {
    local show=0
    check_absent "$1" "$SANITIZER_MEM_RE" "$2: no AddressSanitizer or UBSan error in its log" || show=1
    check_absent "$1" "$SANITIZER_LEAK_RE" "$2: no LeakSanitizer report in its log" || show=1
    if [ "$show" = 1 ]; then
        echo "---- $1"
        grep -B2 -A40 -E "$SANITIZER_MEM_RE|$SANITIZER_LEAK_RE" "$1" | head -150
        echo "----"
    fi
}

# check_absent FILE ERE WHAT: the check WHAT passes when FILE has no match.
check_absent() {
    if grep -qE "$2" "$1"; then
        not_ok "$3"
        return 1
    fi
    ok "$3"
}

# stop_checked PID LOG WHAT [SECS]: SIGTERM, then checks that WHAT exits 0
# within SECS (20) seconds (under ASan a leak makes the status non-zero; the
# tail of LOG is shown when it is not 0) and that LOG holds no sanitizer
# report.
stop_checked() {
    local pid=$1 log=$2 what=$3 secs=${4:-20} rc
    kill -TERM "$pid" 2>/dev/null
    wait_exit "$pid" "$secs" || XP_RC=124
    rc=$XP_RC
    if [ "$rc" = 0 ]; then ok "$what exits 0 on SIGTERM"; else
        echo "  exit code $rc (124: still running after $secs s); the tail of $log:"
        tail -30 "$log"
        not_ok "$what exits 0 on SIGTERM"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    sanitizer_check "$log" "$what"
}

# check_summary [LABEL]: the count; returns 0 when all passed.
check_summary() {
    if [ "$CHK_KNOWN" -gt 0 ]; then
        echo "${1:+$1: }$CHK_KNOWN known failure(s) (listed in KNOWN_FAILURES, not counted below)"
    fi
    echo "$((CHK_CHECKS - CHK_FAILED - CHK_KNOWN)) passed, $CHK_FAILED failed"
    [ "$CHK_FAILED" -eq 0 ] && [ "$CHK_CHECKS" -gt 0 ]
}

# admin_listener_port ADMIN NAME: the port listener NAME is bound to, from
# xproxy's /listeners?format=json at ADMIN (host:port); empty if none yet.
admin_listener_port() {
    curl -s --max-time 5 "http://$1/listeners?format=json" |
        grep -o "\"name\":\"$2\",\"local_address\":{\"socket_address\":{\"address\":\"[^\"]*\",\"port_value\":[0-9]*" |
        grep -o '[0-9]*$'
}
