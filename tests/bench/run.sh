#!/usr/bin/env bash
# xproxy vs nginx vs HAProxy on loopback: the benchmark suite.
#
#   bash tests/bench/run.sh [--quick]
#
# Installs nginx, haproxy, wrk, curl and gcc from Debian if missing, builds
# xproxy and the test upstream with `bazel build -c opt` (and
# tests/bench/xpbench.c and relay.c with gcc), then runs every workload against each
# proxy in turn, in front of the same upstream, with equivalent configs and
# one worker each. Every proxy is started fresh for every measurement (in
# workloads 1, 2 and 4, for every repetition), from a temp dir with its own
# config, in the foreground, on high loopback ports, and must answer a GET
# and a WebSocket echo correctly before it is measured. Each measurement
# runs REPS times (5; 1 with --quick); the table shows medians. The proxies
# take turns in a different order in each repetition, so none is always the
# one measured first or last; in workloads 1, 2 and 4 the load alternates
# between them in slices of a few seconds (see below). It prints the table
# and writes docs/benchmarks.md.
#
# Not a pass/fail test and not run by CI: the targets in the table are
# reported, not enforced. Environment overrides: XPB_REPS, XPB_DURATION
# (seconds per wrk/echo run), XPB_SLICES (workloads 1, 2 and 4: the
# slices XPB_DURATION is cut into, 5; 1 with --quick), XPB_BIG_MIB (workload
# 5 size), XPB_WS_IDLE (workload 3 connections), XPB_RELOADS (workload 6
# updates), XPB_PORT_BASE,
# XPB_UPSTREAM_CPU, XPB_OUT (the markdown file), XPB_ONLY (a comma-separated
# list of workload numbers, e.g. XPB_ONLY=6 or XPB_ONLY=3,6: run only those;
# the table is printed and docs/benchmarks.md is left alone unless XPB_OUT
# names a file), XPB_RESUME and XPB_KEEP (see below).
set -euo pipefail

QUICK=0
for arg in "$@"; do
    case $arg in
    --quick) QUICK=1 ;;
    -h | --help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
        exit 0
        ;;
    *)
        echo "usage: $0 [--quick]" >&2
        exit 2
        ;;
    esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

if ((QUICK)); then
    REPS=${XPB_REPS:-1} DUR=${XPB_DURATION:-3} BIG_MIB=${XPB_BIG_MIB:-256} RELOADS=${XPB_RELOADS:-5}
else
    REPS=${XPB_REPS:-5} DUR=${XPB_DURATION:-10} BIG_MIB=${XPB_BIG_MIB:-1024} RELOADS=${XPB_RELOADS:-100}
fi
# 10,000 idle WebSockets need 20,000+ descriptors in the proxy (client and
# upstream side); the default is what fits under the hard limit.
WS_ECHO_N=200
WS_ECHO_SIZE=32
# Workloads 1, 2 and 4 cut each DUR into SLICES slices (see "in slices" below).
SLICES=${XPB_SLICES:-$((DUR >= 10 ? 5 : 1))}
if [[ ! $SLICES =~ ^[1-9][0-9]*$ || ! $DUR =~ ^[1-9][0-9]*$ ]] || ((DUR / SLICES < 1)); then
    echo "XPB_SLICES=$SLICES, XPB_DURATION=$DUR: want whole numbers, slices of at least 1 s" >&2
    exit 2
fi
SLICE_S=$((DUR / SLICES))
ONLY=${XPB_ONLY:-}
if [[ -n $ONLY && ! $ONLY =~ ^[1-8](,[1-8])*$ ]]; then
    echo "XPB_ONLY: a comma-separated list of workload numbers 1..8, not '$ONLY'" >&2
    exit 2
fi
# A subset run must not replace the full table in docs/benchmarks.md.
if [[ -n $ONLY ]]; then OUT=${XPB_OUT:-/dev/null}; else OUT=${XPB_OUT:-$ROOT/docs/benchmarks.md}; fi

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---- dependencies ------------------------------------------------------------

install_deps() {
    local need=() sudo=
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
    command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || need+=(haproxy)
    command -v wrk >/dev/null || need+=(wrk)
    command -v curl >/dev/null || need+=(curl)
    command -v gcc >/dev/null || need+=(gcc libc6-dev)
    command -v taskset >/dev/null || need+=(util-linux)
    ((${#need[@]})) || return 0
    [[ $(id -u) == 0 ]] || sudo=sudo
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y --no-install-recommends "${need[@]}" ||
        { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${need[@]}"; }
}
install_deps
export PATH=$PATH:/usr/sbin

# ---- workspace, ports, cpus ----------------------------------------------------

WORK=$(mktemp -d /tmp/xpbench.XXXXXX)
chmod 755 "$WORK" # nginx's workers run as nobody
BIN=$WORK/bin
mkdir -p "$BIN"
XPBENCH=$BIN/xpbench
BASE=${XPB_PORT_BASE:-27100}
# Workload 2 adds BASE + 11..13 and BASE + 21..23 (start_set); the relay is BASE + 7.
UP_PORT=$BASE XP_PORT=$((BASE + 1)) XP_ADMIN=$((BASE + 2)) NG_PORT=$((BASE + 3)) HA_PORT=$((BASE + 4))
XDS_PORT=$((BASE + 5)) XDS_ADMIN_PORT=$((BASE + 6))
NCPU=$(nproc)
# Where everything runs. Two cores: the upstream shares the proxy's core (the
# setup notes say why). Three or more: the upstream gets cpu 2 to itself.
# Four or more: workload 8 gives xproxy's two workers cpus 0 and 3, which
# nothing else uses; with fewer it runs unpinned.
if ((NCPU >= 3)); then
    CPU_PROXY=0 CPU_LG=1 CPU_UP=${XPB_UPSTREAM_CPU:-2}
elif ((NCPU >= 2)); then
    CPU_PROXY=0 CPU_LG=1 CPU_UP=${XPB_UPSTREAM_CPU:-0}
else
    CPU_PROXY= CPU_LG= CPU_UP=
fi
CPU_W8=
((NCPU >= 4)) && CPU_W8=0,3
HZ=$(getconf CLK_TCK)

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n ${IDLE_PID:-} ]] && stop_pid "$IDLE_PID"
    stop_all
    if ((rc == 0)) && [[ -z ${XPB_KEEP:-} ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build (or resume) -------------------------------------------------------------
# XPB_RESUME=DIR (a work dir kept by XPB_KEEP=1 or a failed run): reuse its
# binaries and results, run only the workloads that have no results yet.
if [[ -n ${XPB_RESUME:-} ]]; then
    rmdir "$BIN" && rm -rf "$WORK" && WORK=${XPB_RESUME%/} && BIN=$WORK/bin && XPBENCH=$BIN/xpbench
    log "resuming $WORK with its binaries and results"
fi

if [[ -z ${XPB_RESUME:-} ]]; then
log "building (bazel build -c opt)"
bazel build -c opt //proxy:xproxy //tests/tools:xp_upstream //tests/tools:xp_wsclient //xds/server:xds-server >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; exit 1; }
BB=$(bazel info -c opt bazel-bin 2>/dev/null)
# Copies: other builds in this workspace must not swap binaries mid-run.
cp "$BB/proxy/xproxy" "$BB/tests/tools/xp_upstream" "$BB/xds/server/xds-server" "$BIN/"
gcc -O2 -Wall -Wextra -o "$XPBENCH" "$ROOT/tests/bench/xpbench.c"
gcc -O2 -Wall -Wextra -o "$BIN/relay" "$ROOT/tests/bench/relay.c"
XP_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain -- proxy xds 2>/dev/null) ]]; then XP_COMMIT+=" + uncommitted changes"; fi
echo "$XP_COMMIT" >"$WORK/commit"
fi
XP_COMMIT=$(cat "$WORK/commit")

# ---- results ---------------------------------------------------------------------

RES=$WORK/results
CMDS=$WORK/commands
if [[ -z ${XPB_RESUME:-} ]]; then : >"$RES"; : >"$CMDS"; fi
todo() { # todo wN [PROXY]: true unless XPB_ONLY leaves workload N out or a
    # resumed run has its results (for PROXY only, when given)
    [[ -z $ONLY || ,$ONLY, == *,${1#w},* ]] || return 1
    if grep -q "^$1[a-z]*\.${2:+$2\.}" "$RES"; then log "workload ${1#w}${2:+ ($2)}: results kept from the resumed run"; return 1; fi
    wait_quiet
}
# Other builds and tests on the machine skew everything: before each
# workload wait (at most 90 s) for the 1-minute load average to drop below
# XPB_MAX_LOAD (default 1.5), and say in the notes when it did not.
wait_quiet() {
    local max=${XPB_MAX_LOAD:-1.5} i load
    for i in $(seq 90); do
        load=$(cut -d' ' -f1 /proc/loadavg)
        awk -v l="$load" -v m="$max" 'BEGIN {exit !(l < m)}' && return 0
        ((i == 1)) && log "waiting for the machine to be quiet (load $load)"
        sleep 1
    done
    echo "a workload started with the load average at $load (other processes were busy)." >>"$WORK/incidents"
}
record() { echo "$1 $2" >>"$RES"; }
cmdlog() { # the exact command, once per distinct line (ports and paths as run)
    grep -qxF -- "$*" "$CMDS" || echo "$*" >>"$CMDS"
}
median() { # median of the numbers on stdin, one per line, or "-"
    sort -g | awk '{ v[n++] = $1 }
        END { if (!n) print "-"; else if (n % 2) print v[(n - 1) / 2]; else print (v[n / 2 - 1] + v[n / 2]) / 2 }'
}
med() { awk -v k="$1" '$1 == k { print $2 }' "$RES" | median; } # median of KEY's values, or "-"

pct() { # pct KEY P: the P-th percentile (nearest rank) of KEY's values, or "-"
    awk -v k="$1" -v p="$2" '$1 == k { v[n++] = $2 }
        END { if (!n) { print "-"; exit }
              for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
              r = int(p * n / 100 + 0.999999); if (r < 1) r = 1; if (r > n) r = n
              print v[r - 1] }' "$RES"
}

to_ms() { # wrk latency "1.23ms" / "850.00us" / "1.02s" -> ms
    awk -v x="$1" 'BEGIN { v = x + 0
        if (x ~ /us$/) v /= 1000; else if (x ~ /ms$/) v += 0; else if (x ~ /s$/) v *= 1000
        printf "%.3f", v }'
}

# wrk_parse OUT: from `wrk --latency` output, sets W_RPS, W_REQS, W_SECS
# (the run's length), W_P50 and W_P99 (ms) and W_ERRS (lines reporting
# non-2xx answers or socket errors)
wrk_parse() {
    read -r W_RPS W_REQS W_SECS W_ERRS <<<"$(awk '/^Requests\/sec:/ {r = $2}
        /requests in/ {n = $1; s = $4; sub(/s,?$/, "", s)} /Non-2xx|Socket errors/ {e++}
        END {print r, n, s, e + 0}' <<<"$1")"
    W_P50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$1")")
    W_P99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$1")")
}

# run_wrk KEY PATH: a 1 s warm-up, then DUR seconds of 64 keep-alive
# connections; records KEY.rps, .p50, .p99 (ms), .cpu (% of one core),
# .us_req (proxy CPU µs per request), .errors
run_wrk() {
    local key=$1 path=$2 url out t0 t1
    url="http://127.0.0.1:$PROXY_PORT$path"
    pin "$CPU_LG" wrk -t1 -c64 -d1s "$url" >/dev/null
    cmdlog "taskset -c $CPU_LG wrk -t1 -c64 -d${DUR}s --latency $url"
    t0=$(cpu_ticks $MEASURE_PIDS)
    out=$(pin "$CPU_LG" wrk -t1 -c64 -d"${DUR}s" --latency "$url")
    t1=$(cpu_ticks $MEASURE_PIDS)
    echo "$out" >>"$WORK/wrk.log"
    wrk_parse "$out"
    if ((W_ERRS)); then # e.g. the upstream died: a rate of errors is no sample
        echo "$key: wrk saw errors (non-2xx or socket errors); sample dropped, see wrk.log." >>"$WORK/incidents"
        log "  $key: ERRORS, sample dropped"
        return 0
    fi
    record "$key.rps" "$W_RPS"
    record "$key.p50" "$W_P50"
    record "$key.p99" "$W_P99"
    record "$key.errors" "$W_ERRS"
    record "$key.cpu" "$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$DUR" 'BEGIN {printf "%.0f", 100 * d / hz / s}')"
    record "$key.us_req" "$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$W_REQS" 'BEGIN {printf "%.2f", 1e6 * d / hz / n}')"
    log "  $key: $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms"
}

INCIDENTS=()
ensure_upstream() { # restarts the upstream if it died, and says so in the notes
    kill -0 "$UPSTREAM_PID" 2>/dev/null && return 0
    local rc=0
    wait "$UPSTREAM_PID" 2>/dev/null || rc=$?
    INCIDENTS+=("xp_upstream exited (wait status $rc) before: $1; restarted.")
    echo "${INCIDENTS[-1]}" >>"$WORK/incidents"
    log "${INCIDENTS[-1]}"
    BG_PIDS=("${BG_PIDS[@]/$UPSTREAM_PID/}")
    start_upstream
}

begin() { # begin NAME MODE [CONC] [CPUS] [CHECK-PATH]: start + self-check
    ensure_upstream "$1 $2"
    start_proxy "$1" "$2" "${3:-1}" "${4-$CPU_PROXY}"
    if ! check_proxy "${5:-$SMALL_PATH}"; then
        echo "self-check failed for $1 ($2); logs in $WORK" >&2
        exit 1
    fi
}

# in_turn REP ITEM...: the items, rotated by REP - 1 places. The rates on a
# shared virtual machine drift within a minute; rotating the order from one
# repetition to the next keeps that drift from always favouring one proxy.
in_turn() {
    local rep=$1
    shift
    local n=$# i
    for ((i = 0; i < n; i++)); do
        local k=$(((i + rep - 1) % n + 1))
        printf '%s\n' "${!k}"
    done
}

# ---- workloads 1, 2 and 4: all of a repetition's proxies, load in slices ------
# The host's speed drifts by up to a third within seconds (setup notes),
# more than the targets' margins. So in each repetition of workloads 1, 2
# and 4 every proxy is started fresh and self-checked, and then the load
# alternates between them in SLICES slices of SLICE_S seconds each, their
# order rotated from slice to slice: each proxy's figure for the repetition
# sums its slices, spread over the same minute as the others'. The idle
# ones wait on their own ports (an idle proxy takes no CPU).
declare -A S_PID=() S_PORT=() S_MEAS=() S_PATH=()

# start_set MODE ITEM...: begin each ITEM, keeping its pids, port and path.
# An ITEM is a proxy NAME run with MODE, or NAME:MODE (workload 2: one
# process per mode at once, each mode on its own ports; its request is
# workload 2's, and its first route is checked too).
start_set() {
    local mode=$1 p name m path
    local xp=$XP_PORT xa=$XP_ADMIN ng=$NG_PORT XP_PORT XP_ADMIN NG_PORT
    shift
    for p; do
        name=${p%%:*} m=$mode path=$SMALL_PATH XP_PORT=$xp XP_ADMIN=$xa NG_PORT=$ng
        if [[ $p == *:* ]]; then
            m=${p#*:}
            case $m in
            plain) ;;
            prefix) XP_PORT=$((BASE + 11)) XP_ADMIN=$((BASE + 12)) NG_PORT=$((BASE + 13)) ;;
            regex) XP_PORT=$((BASE + 21)) XP_ADMIN=$((BASE + 22)) NG_PORT=$((BASE + 23)) ;;
            *) echo "start_set: unknown mode in $p" >&2; exit 1 ;;
            esac
            [[ $m == plain ]] || path=$W2_PATH
        fi
        begin "$name" "$m" 1 "$CPU_PROXY" "$path"
        [[ $path == "$SMALL_PATH" ]] || check_proxy "/webapp-01/ide-0$SMALL_PATH"
        S_PID[$p]=$PROXY_PID S_PORT[$p]=$PROXY_PORT S_MEAS[$p]=$MEASURE_PIDS S_PATH[$p]=$path
        PROXY_PID= # stopped by stop_set, not by the next begin's caller
    done
}

stop_set() {
    local p
    for p in "${!S_PID[@]}"; do
        PROXY_PID=${S_PID[$p]}
        stop_proxy
    done
    S_PID=() S_PORT=() S_MEAS=() S_PATH=()
}

# sliced KEY-PREFIX REP WHAT ITEM...: SLICES rounds of SLICE_S s of load on
# each ITEM of the running set, in rotated order; WHAT is "wrk" (each
# item's path) or "ws". Records, per ITEM, what run_wrk or workload 4
# recorded for one long run, under KEY-PREFIX.NAME (KEY-PREFIXMODE.NAME for
# NAME:MODE): the rate over all slices (also as @REP), the median of the
# slices' p50 and p99, CPU % and µs per request.
sliced() {
    local pre=$1 rep=$2 what=$3
    shift 3
    local -A n=() secs=() ticks=() p50s=() p99s=()
    local s p out t0 t1 c d
    for p; do # a warm-up, not measured
        if [[ $what == ws ]]; then
            pin "$CPU_LG" "$XPBENCH" ws-echo --port "${S_PORT[$p]}" --path /ws --n "$WS_ECHO_N" \
                --size "$WS_ECHO_SIZE" --seconds 1 --warmup 0 >/dev/null
        else
            pin "$CPU_LG" wrk -t1 -c64 -d1s "http://127.0.0.1:${S_PORT[$p]}${S_PATH[$p]}" >/dev/null
        fi
        settle ${S_MEAS[$p]}
    done
    if [[ $what == ws ]]; then
        cmdlog "taskset -c $CPU_LG $XPBENCH ws-echo --port PORT --path /ws --n $WS_ECHO_N --size $WS_ECHO_SIZE --seconds $SLICE_S --warmup 0   # per slice"
    else
        for p; do cmdlog "taskset -c $CPU_LG wrk -t1 -c64 -d${SLICE_S}s --latency http://127.0.0.1:${S_PORT[$p]}${S_PATH[$p]}   # per slice"; done
    fi
    for s in $(seq "$SLICES"); do
        for p in $(in_turn $((rep + s - 1)) "$@"); do
            ensure_upstream "$pre $p"
            t0=$(cpu_ticks ${S_MEAS[$p]})
            if [[ $what == ws ]]; then
                out=$(pin "$CPU_LG" "$XPBENCH" ws-echo --port "${S_PORT[$p]}" --path /ws --n "$WS_ECHO_N" \
                    --size "$WS_ECHO_SIZE" --seconds "$SLICE_S" --warmup 0) ||
                    { echo "ws-echo failed on $p: $out" >&2; exit 1; }
                t1=$(cpu_ticks ${S_MEAS[$p]})
                read -r c d <<<"$(awk '{printf "%d %.4f", $4, ($2 > 0 ? $4 / $2 : 0)}' <<<"$out")"
            else
                out=$(pin "$CPU_LG" wrk -t1 -c64 -d"${SLICE_S}s" --latency "http://127.0.0.1:${S_PORT[$p]}${S_PATH[$p]}")
                t1=$(cpu_ticks ${S_MEAS[$p]})
                echo "$out" >>"$WORK/wrk.log"
                wrk_parse "$out"
                if ((W_ERRS)); then
                    echo "$pre.$p: wrk saw errors (non-2xx or socket errors) in a slice of repetition $rep; the slice is left out, see wrk.log." >>"$WORK/incidents"
                    log "  $pre.$p: ERRORS, slice dropped"
                    settle ${S_MEAS[$p]}
                    continue
                fi
                c=$W_REQS d=$W_SECS
                p50s[$p]+=" $W_P50" p99s[$p]+=" $W_P99"
            fi
            settle ${S_MEAS[$p]}
            n[$p]=$((${n[$p]:-0} + c)) ticks[$p]=$((${ticks[$p]:-0} + t1 - t0))
            secs[$p]=$(awk -v a="${secs[$p]:-0}" -v b="$d" 'BEGIN {print a + b}')
        done
    done
    local unit=rps mid key m50 m99
    [[ $what == ws ]] && unit=mps
    for p; do
        [[ -n ${n[$p]:-} ]] || continue
        key=$pre.$p
        [[ $p == *:* ]] && key=$pre${p#*:}.${p%%:*}
        local rate
        rate=$(awk -v n="${n[$p]}" -v s="${secs[$p]}" 'BEGIN {printf "%.2f", n / s}')
        record "$key.$unit" "$rate"
        record "$key.$unit@$rep" "$rate"
        record "$key.cpu" "$(awk -v d="${ticks[$p]}" -v hz="$HZ" -v s="${secs[$p]}" 'BEGIN {printf "%.0f", 100 * d / hz / s}')"
        record "$key.us_req" "$(awk -v d="${ticks[$p]}" -v hz="$HZ" -v n="${n[$p]}" 'BEGIN {printf "%.2f", 1e6 * d / hz / n}')"
        mid="$rate $unit"
        if [[ $what != ws ]]; then
            m50=$(printf '%s\n' ${p50s[$p]} | median) m99=$(printf '%s\n' ${p99s[$p]} | median)
            record "$key.p50" "$m50"
            record "$key.p99" "$m99"
            record "$key.errors" 0
            mid+=", p50 $m50 ms, p99 $m99 ms"
        fi
        log "  $key: $mid"
    done
}

# settle PID...: wait (5 s at most) until the PIDs and the upstream have
# used no CPU for 100 ms. A proxy can still be working when its slice ends:
# nginx with 10,000 regex locations has up to 64 requests of about 4 ms each
# queued, which took a quarter of the next slice's core (the next proxy's
# p99 came out at 4-6 ms). The next slice starts on a quiet core.
settle() {
    local a b i
    a=$(cpu_ticks "$@" "$UPSTREAM_PID")
    for i in $(seq 50); do
        sleep 0.1
        b=$(cpu_ticks "$@" "$UPSTREAM_PID")
        ((a == b)) && return 0
        a=$b
    done
    echo "a slice's proxy ($*) was still busy 5 s after its slice." >>"$WORK/incidents"
}


PROXIES=(xproxy nginx haproxy)
start_upstream
save_check_want
cmdlog "taskset -c $CPU_UP $BIN/xp_upstream --listen 127.0.0.1:$UP_PORT --name bench"
cmdlog "taskset -c $CPU_PROXY $BIN/xproxy -c $WORK/xproxy-MODE.yaml --concurrency 1 --log-level warning   # SIGPIPE ignored, see notes"
cmdlog "taskset -c $CPU_PROXY nginx -p $WORK/nginx -e $WORK/nginx/error.log -c $WORK/nginx-MODE.conf"
cmdlog "taskset -c $CPU_PROXY haproxy -db -f $WORK/haproxy.cfg"
uptime_start=$(uptime)
busy_start=$(ps -eo pcpu,comm --sort=-pcpu | awk 'NR > 1 && $1 > 5 {printf "%s (%s%%) ", $2, $1}')

# ---- SIGPIPE probe: does xproxy survive clients closing mid-response? ----------

if [[ -s $WORK/sigpipe_note ]]; then SIGPIPE_NOTE=$(cat "$WORK/sigpipe_note"); else
log "probe: xproxy with the default SIGPIPE disposition"
XPB_XPROXY_SIGPIPE=default begin xproxy plain
pin "$CPU_LG" wrk -t1 -c64 -d1s "http://127.0.0.1:$PROXY_PORT$SMALL_PATH" >/dev/null
sleep 0.3
if kill -0 "$PROXY_PID" 2>/dev/null; then
    SIGPIPE_NOTE="xproxy survived a 1 s wrk run started with the default SIGPIPE disposition: since commit 8e99a08 it ignores SIGPIPE itself (proxy/main.c), as nginx and HAProxy do (builds before it could die of it, exit status 141). The measurements below also start it with SIGPIPE ignored (inherited across exec), which changes nothing now."
    stop_proxy
else
    wait "$PROXY_PID" 2>/dev/null && rc=0 || rc=$?
    SIGPIPE_NOTE="**xproxy does not ignore SIGPIPE**: started with the default disposition it died (exit status $rc = 128 + SIGPIPE) when wrk closed its connections at the end of a 1 s run. Every xproxy measurement below therefore starts it with SIGPIPE ignored (inherited across exec), which nginx and HAProxy do for themselves."
    BG_PIDS=("${BG_PIDS[@]/$PROXY_PID/}")
    PROXY_PID=
fi
echo "$SIGPIPE_NOTE" >"$WORK/sigpipe_note"
log "$SIGPIPE_NOTE"
fi

# ---- workload 1: keep-alive GET, 64 connections ---------------------------------

# Sharing a core with the upstream, the proxy's CPU time per request depends
# on how the two hand the core to each other (with xproxy's batched sends,
# /proc charges the upstream 1.4 us more per request and the proxy 1.9 us
# less, while perf's task clock sees the proxy's own time unchanged). So a
# second CPU per request row comes from a second run with the upstream moved
# beside the load generator: the proxy alone on its core, where /proc, perf
# and the core's busy time agree. That run's rate is capped by cpu LG (wrk +
# upstream), so the proxy is not saturated there (smaller batches per loop
# iteration, and more noise); its rate is not compared.
SOLO=0
[[ -n $CPU_UP && $CPU_UP == "$CPU_PROXY" ]] && SOLO=1
if todo w1; then
for rep in $(seq "$REPS"); do
    log "workload 1, repetition $rep/$REPS: $SLICES × $SLICE_S s slices"
    set_order=(direct $(in_turn "$rep" "${PROXIES[@]}" relay))
    start_set plain "${set_order[@]}"
    sliced w1 "$rep" wrk "${set_order[@]}"
    if ((SOLO)); then
        taskset -a -p -c "$CPU_LG" "$UPSTREAM_PID" >/dev/null
        sliced w1solo "$rep" wrk $(in_turn "$rep" "${PROXIES[@]}")
        taskset -a -p -c "$CPU_UP" "$UPSTREAM_PID" >/dev/null
    fi
    stop_set
done
fi

# ---- workload 2: 10,000 routes, the request hits the last ------------------------

W2_PATH=/webapp-01/ide-$LAST_ROUTE$SMALL_PATH
# Each proxy runs with workload 1's config (plain) beside its two workload-2
# configs, all at once on their own ports, the load in slices as in
# workloads 1 and 4: the 10,000 routes are compared with workload 1's
# config in the same minute.
if todo w2; then
for rep in $(seq "$REPS"); do
    log "workload 2, repetition $rep/$REPS: $SLICES × $SLICE_S s slices"
    set_order=($(in_turn "$rep" xproxy:plain xproxy:prefix xproxy:regex nginx:plain nginx:prefix nginx:regex))
    start_set plain "${set_order[@]}"
    sliced w2 "$rep" wrk "${set_order[@]}"
    stop_set
done
fi

# ---- workload 3: idle WebSockets, proxy RSS per connection -------------------------

# The proxy needs two descriptors per tunnel; stay under the hard limit.
NOFILE_HARD=$(ulimit -Hn)
[[ $NOFILE_HARD == unlimited ]] && NOFILE_HARD=1048576
ulimit -n "$NOFILE_HARD"
WS_IDLE=${XPB_WS_IDLE:-10000}
if ((2 * WS_IDLE + 1000 > NOFILE_HARD)); then WS_IDLE=$(((NOFILE_HARD - 1000) / 2 / 100 * 100)); fi
if todo w3; then
for rep in $(seq "$REPS"); do
    log "workload 3, repetition $rep/$REPS ($WS_IDLE idle WebSockets)"
    for p in $(in_turn "$rep" "${PROXIES[@]}"); do
        begin "$p" plain
        sleep 0.5
        before=$(rss_kib "$MEASURE_PIDS")
        rm -f "$WORK/idle.ready"
        cmdlog "taskset -c $CPU_LG $XPBENCH ws-idle --port $PROXY_PORT --path /ws --n $WS_IDLE --ready-file $WORK/idle.ready"
        pinned "$CPU_LG"
        "${PINNED[@]}" "$XPBENCH" ws-idle --port "$PROXY_PORT" --path /ws --n "$WS_IDLE" \
            --ready-file "$WORK/idle.ready" 2>>"$WORK/idle.log" &
        IDLE_PID=$!
        for _ in $(seq 1200); do [[ -s $WORK/idle.ready ]] && break; sleep 0.1; done
        read -r opened failed <"$WORK/idle.ready" || { opened=0; failed=$WS_IDLE; }
        sleep 1
        after=$(rss_kib "$MEASURE_PIDS")
        record "w3.$p.kib_per_ws" "$(awk -v a="$after" -v b="$before" -v n="$opened" 'BEGIN {printf "%.2f", n ? (a - b) / n : 0}')"
        record "w3.$p.failed" "$failed"
        log "  $p: $opened open ($failed failed), RSS $before -> $after KiB"
        stop_pid "$IDLE_PID"
        IDLE_PID=
        stop_proxy
    done
done
fi

# ---- workload 4: 200 WebSockets echoing as fast as they can ------------------------

if todo w4; then
for rep in $(seq "$REPS"); do
    log "workload 4, repetition $rep/$REPS: $SLICES × $SLICE_S s slices"
    set_order=(direct $(in_turn "$rep" "${PROXIES[@]}" relay))
    start_set plain "${set_order[@]}"
    sliced w4 "$rep" ws "${set_order[@]}"
    stop_set
done
fi

# ---- workload 5: 1 GiB download and upload -------------------------------------------

BIG=$((BIG_MIB * 1024 * 1024))
truncate -s "$BIG" "$WORK/big.bin" # sparse: reading it costs no disk I/O
if todo w5; then
for rep in $(seq "$REPS"); do
    log "workload 5, repetition $rep/$REPS ($BIG_MIB MiB each way)"
    for p in direct $(in_turn "$rep" "${PROXIES[@]}"); do
        begin "$p" plain
        reset_hwm "$MEASURE_PIDS"
        cmdlog "taskset -c $CPU_LG curl -sS -o /dev/null -w '%{size_download} %{speed_download}' http://127.0.0.1:$PROXY_PORT/bytes/$BIG"
        out=$(pin "$CPU_LG" curl -sS -o /dev/null -w '%{size_download} %{speed_download}' \
            "http://127.0.0.1:$PROXY_PORT/bytes/$BIG")
        read -r size speed <<<"$out"
        [[ $size == "$BIG" ]] || { echo "download through $p: $size of $BIG bytes" >&2; exit 1; }
        record "w5.$p.down" "$(awk -v s="$speed" 'BEGIN {printf "%.0f", s / 1048576}')"
        peak_down=$(hwm_kib "$MEASURE_PIDS")
        reset_hwm "$MEASURE_PIDS"
        cmdlog "taskset -c $CPU_LG curl -sS -H 'Expect:' -X POST -T $WORK/big.bin -o $WORK/upload.json -w '%{http_code} %{size_upload} %{speed_upload}' http://127.0.0.1:$PROXY_PORT/upload?digest=none"
        out=$(pin "$CPU_LG" curl -sS -H 'Expect:' -X POST -T "$WORK/big.bin" -o "$WORK/upload.json" \
            -w '%{http_code} %{size_upload} %{speed_upload}' "http://127.0.0.1:$PROXY_PORT/upload?digest=none")
        read -r code size speed <<<"$out"
        if [[ $code != 200 ]] || ! grep -q "\"body_bytes\":$BIG}" "$WORK/upload.json"; then
            echo "upload through $p: status $code, upstream saw: $(cat "$WORK/upload.json")" >&2
            exit 1
        fi
        record "w5.$p.up" "$(awk -v s="$speed" 'BEGIN {printf "%.0f", s / 1048576}')"
        peak_up=$(hwm_kib "$MEASURE_PIDS")
        if [[ $p != direct ]]; then
            record "w5.$p.peak_mib" "$(awk -v a="$peak_down" -v b="$peak_up" 'BEGIN {printf "%.1f", (a > b ? a : b) / 1024}')"
        fi
        log "  $p: down $(med "w5.$p.down") MiB/s, up $(med "w5.$p.up") MiB/s (medians so far), peak RSS $peak_down/$peak_up KiB"
        stop_proxy
    done
done
fi

# ---- workload 6: 10,000 routes, 100 updates ---------------------------------------------

if todo w6 nginx; then
log "workload 6: nginx reloads with 10,000 regex locations ($RELOADS updates)"
begin nginx regex 1 "$CPU_PROXY" "$W2_PATH"
cmdlog "kill -HUP <nginx master>; then curl http://127.0.0.1:$NG_PORT/webapp-01/ide-$LAST_ROUTE/x until the body has the new route's length"
for u in $(seq "$RELOADS"); do
    want=$((1000 + u))
    gen_nginx regex "$WORK/nginx-regex.conf" "$want"
    t0=$(date +%s%N)
    kill -HUP "$PROXY_PID"
    got=
    for _ in $(seq 3000); do
        got=$(pin "$CPU_LG" curl -s --max-time 2 -o /dev/null -w '%{size_download}' \
            "http://127.0.0.1:$NG_PORT/webapp-01/ide-$LAST_ROUTE/x" || true)
        [[ $got == "$want" ]] && break
        sleep 0.005
    done
    t1=$(date +%s%N)
    if [[ $got != "$want" ]]; then
        INCIDENTS+=("workload 6: nginx update $u was not visible after 30 s (answer length '$got'); sample dropped.")
        echo "${INCIDENTS[-1]}" >>"$WORK/incidents"
        log "${INCIDENTS[-1]}"
        ensure_upstream "workload 6 update $((u + 1))"
        continue
    fi
    record w6.nginx.ms "$(((t1 - t0) / 1000000))"
done
log "  nginx: median $(med w6.nginx.ms) ms per update"
stop_proxy
fi

if todo w6 xproxy; then
# xproxy: the same 10,000 regex routes as the RDS RouteConfiguration
# "bench", served by xds-server over ADS. Update u adds the route
# /webapp-01/ide-<10000 + (u+1)/2> (its rewrite answers 203) when u is odd
# and removes it again when u is even (the path then falls to "/": 200).
# Each update is one PUT of the whole RouteConfiguration to xds-server's
# admin API, which answers once it has published the new version to its
# streams, with the time of that publish (published_ns); xpbench push-poll
# times from the publish to the first GET of the route's path that has the
# new status. Proxy CPU: utime + stime over all updates, minus the same
# number of poll requests sent alone afterwards.
log "workload 6: xproxy, RDS updates pushed by xds-server ($RELOADS updates)"
ensure_upstream "workload 6 (xproxy)"
rm -rf "$WORK/xds"
gen_xds_dir "$WORK/xds"
start_xds "$WORK/xds"
start_proxy xproxy ads 1 "$CPU_PROXY"
for _ in $(seq 600); do # LDS, CDS and the 10,000-route RDS in
    [[ $(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$XP_PORT$W2_PATH" || true) == 200 ]] && break
    sleep 0.05
done
if ! check_proxy "$W2_PATH" || ! check_proxy "/webapp-01/ide-0$SMALL_PATH"; then
    echo "self-check failed for xproxy (ads); logs in $WORK" >&2
    exit 1
fi
cmdlog "taskset -c $CPU_LG $BIN/xds-server --dir $WORK/xds --listen 127.0.0.1:$XDS_PORT --admin 127.0.0.1:$XDS_ADMIN_PORT --log-level warning   # files: gen_xds_dir in tests/bench/lib.sh"
cmdlog "taskset -c $CPU_PROXY $BIN/xproxy -c $WORK/xproxy-ads.yaml --concurrency 1 --log-level warning"
cmdlog "taskset -c $CPU_LG $XPBENCH push-poll --admin-port $XDS_ADMIN_PORT --put /resources/route/bench --body-file <gen_rds_json [EXTRA]> --port $XP_PORT --path /webapp-01/ide-<EXTRA>/ --want-status 203|200 --interval-us 200"
W6_POLLS=0
c0=$(cpu_ticks "$PROXY_PID")
for u in $(seq "$RELOADS"); do
    k=$((10000 + (u + 1) / 2))
    if ((u % 2)); then
        gen_rds_json "$k" >"$WORK/w6.body"
        want=203
    else
        gen_rds_json >"$WORK/w6.body"
        want=200
    fi
    if ! out=$(pin "$CPU_LG" "$XPBENCH" push-poll --admin-port "$XDS_ADMIN_PORT" --put /resources/route/bench \
        --body-file "$WORK/w6.body" --port "$XP_PORT" --path "/webapp-01/ide-$k/" --want-status "$want" \
        --interval-us 200 2>&1); then
        INCIDENTS+=("workload 6: xproxy update $u: $out; sample dropped.")
        echo "${INCIDENTS[-1]}" >>"$WORK/incidents"
        log "${INCIDENTS[-1]}"
        continue
    fi
    read -r _ ms _ n _ put_ms _ reply_ms <<<"$out"
    record w6.xproxy.ms "$ms"
    record w6.xproxy.put_ms "$put_ms"
    record w6.xproxy.reply_ms "$reply_ms"
    W6_POLLS=$((W6_POLLS + n))
done
c1=$(cpu_ticks "$PROXY_PID")
pin "$CPU_LG" "$XPBENCH" push-poll --port "$XP_PORT" --path "/webapp-01/ide-$k/" --count "$W6_POLLS" --interval-us 200 >/dev/null
c2=$(cpu_ticks "$PROXY_PID")
n_ok=$(grep -c '^w6\.xproxy\.ms ' "$RES" || true)
if ((n_ok)); then
    record w6.xproxy.cpu_ms "$(awk -v u=$((c1 - c0)) -v b=$((c2 - c1)) -v hz="$HZ" -v n="$n_ok" 'BEGIN {printf "%.2f", 1000 * (u - b) / hz / n}')"
fi
record w6.xproxy.polls "$W6_POLLS"
log "  xproxy: p50 $(pct w6.xproxy.ms 50) ms, p99 $(pct w6.xproxy.ms 99) ms, CPU $(med w6.xproxy.cpu_ms) ms per update ($((c1 - c0)) ticks with $W6_POLLS polls, $((c2 - c1)) for the polls alone)"
stop_proxy
stop_pid "$XDS_PID"
fi

# ---- workload 7: idle with the demo config --------------------------------------------

if todo w7; then
gen_demo "$WORK/demo.yaml"
for rep in $(seq "$REPS"); do
    log "workload 7, repetition $rep/$REPS"
    for conc in 2 1; do
        ensure_upstream "workload 7"
        port_free "$XP_PORT"
        cmdlog "$XPBENCH ready --port $XP_ADMIN --path /ready -- taskset -c $CPU_PROXY $BIN/xproxy -c $WORK/demo.yaml --concurrency $conc   # demo.yaml: the static demo bootstrap (gen_demo in tests/bench/lib.sh) with the suite's ports"
        out=$("$XPBENCH" ready --port "$XP_ADMIN" --path /ready -- \
            ${CPU_PROXY:+taskset -c "$CPU_PROXY"} "$BIN/xproxy" -c "$WORK/demo.yaml" --concurrency "$conc" \
            --log-level warning 2>>"$WORK/xproxy.log")
        pid=$(awk '{print $4}' <<<"$out")
        BG_PIDS+=("$pid")
        record "w7.c$conc.ready_ms" "$(awk '{print $2}' <<<"$out")"
        sleep 1
        record "w7.c$conc.rss_mib" "$(awk -v r="$(rss_kib "$pid")" 'BEGIN {printf "%.2f", r / 1024}')"
        PROXY_PID=$pid
        stop_proxy
    done
    for p in nginx haproxy; do # the others idle, for context
        begin "$p" plain
        sleep 1
        r=0
        for q in $PROXY_PID $(pgrep -P "$PROXY_PID" || true); do r=$((r + $(rss_kib "$q"))); done
        record "w7.$p.rss_mib" "$(awk -v r="$r" 'BEGIN {printf "%.2f", r / 1024}')"
        stop_proxy
    done
done
fi
XP_SIZE=$(stat -c %s "$BIN/xproxy")
strip -o "$WORK/xproxy.stripped" "$BIN/xproxy"
XP_SIZE_STRIPPED=$(stat -c %s "$WORK/xproxy.stripped")
mib() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1048576}'; }

# ---- workload 8: --concurrency 2 vs 1 --------------------------------------------------

if [[ -n $CPU_W8 ]]; then
    cmdlog "taskset -c $CPU_W8 $BIN/xproxy -c $WORK/xproxy-plain.yaml --concurrency 1|2 --log-level warning   # workload 8"
else
    cmdlog "$BIN/xproxy -c $WORK/xproxy-plain.yaml --concurrency 1|2 --log-level warning   # workload 8: not pinned"
fi
if todo w8; then
for rep in $(seq "$REPS"); do
    log "workload 8, repetition $rep/$REPS"
    for conc in 1 2; do
        begin xproxy plain "$conc" "$CPU_W8" # "": unpinned
        run_wrk "w8.c$conc" "$SMALL_PATH"
        stop_proxy
    done
done
fi
uptime_end=$(uptime)

# ---- the table ----------------------------------------------------------------------------

# ratio X BEST: X / BEST with 2 decimals, "-" when either is missing
quotient() { # quotient FORMAT A B: A / B printed with FORMAT, or "-"
    awk -v f="$1" -v a="$2" -v b="$3" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf f, a / b }'
}
ratio() { quotient %.2f "$@"; }  # as shown in the table
rratio() { quotient %.6f "$@"; } # unrounded, for verdicts
best() { # best HIGHER|LOWER values...: the best of the non-"-" values
    local dir=$1
    shift
    printf '%s\n' "$@" | awk -v d="$dir" '$1 != "-" { v = $1 + 0; if (!n++ || (d == "HIGHER" ? v > b : v < b)) b = v }
        END { if (n) print b; else print "-" }'
}
# verdict VALUE OP LIMIT: for a ratio, VALUE is rratio's, unrounded; when
# the two decimals shown would meet LIMIT but VALUE does not, it is shown
verdict() {
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v == "-") { print "n/a"; exit }
        ok = (op == ">=") ? v >= l : v <= l
        r = sprintf("%.2f", v) + 0; shown = (op == ">=") ? r >= l : r <= l
        if (ok) print "met"; else if (shown) printf "**missed** (%.4f)\n", v; else print "**missed**" }'
}
fmt0() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.0f", v }'; }
fmt2() { awk -v v="$1" 'BEGIN { if (v == "-") print "-"; else printf "%.2f", v }'; }

# per_rep W METRIC: xproxy / best other within each repetition, in run order
# (the proxies of one repetition share its minute, in alternating slices, so
# drift of the machine between repetitions cancels), e.g. "1.12, 0.98, 1.20"
per_rep() {
    local i x b out=()
    for i in $(seq "$REPS"); do
        x=$(med "$1.xproxy.$2@$i") b=$(best HIGHER "$(med "$1.nginx.$2@$i")" "$(med "$1.haproxy.$2@$i")")
        out+=("$(ratio "$x" "$b")")
    done
    local IFS=,
    sed 's/,/, /g' <<<"${out[*]}"
}

# per_rep_own W MODE: xproxy in MODE / xproxy plain, within each repetition
per_rep_own() {
    local i out=()
    for i in $(seq "$REPS"); do
        out+=("$(ratio "$(med "$1$2.xproxy.rps@$i")" "$(med "$1plain.xproxy.rps@$i")")")
    done
    local IFS=,
    sed 's/,/, /g' <<<"${out[*]}"
}

# relay_row W METRIC UNIT: workload W's reference row, the relay's median
# against the best other and xproxy's against the relay
relay_row() {
    local x b f
    x=$(med "$1.xproxy.$2") b=$(best HIGHER "$(med "$1.nginx.$2")" "$(med "$1.haproxy.$2")") f=$(med "$1.relay.$2")
    row "${1#w}" "reference, not a proxy: a bare byte relay (see setup): $3 $(fmt0 "$f")" "-" "-" "-" "-" "relay / best other $(ratio "$f" "$b"); xproxy / relay $(ratio "$x" "$f")" "" ""
}

TABLE=$WORK/table.md
row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 | $7 | $8 | $9 |" >>"$TABLE"; }
cat >"$TABLE" <<'EOF'
| # | metric | direct | xproxy | nginx | HAProxy | xproxy / best other | target | |
|---|---|---:|---:|---:|---:|---:|---|---|
EOF
# Workload 1
x=$(med w1.xproxy.rps) b=$(best HIGHER "$(med w1.nginx.rps)" "$(med w1.haproxy.rps)")
r=$(ratio "$x" "$b")
row 1 "keep-alive GET, 64 conns: req/s" "$(fmt0 "$(med w1.direct.rps)")" "$(fmt0 "$x")" "$(fmt0 "$(med w1.nginx.rps)")" "$(fmt0 "$(med w1.haproxy.rps)")" "$r" "≥ 1.15" "$(verdict "$(rratio "$x" "$b")" ">=" 1.15)"
row 1 "… xproxy / best other within each repetition" "-" "-" "-" "-" "$(per_rep w1 rps)" "" ""
x=$(med w1.xproxy.p50) b=$(best LOWER "$(med w1.nginx.p50)" "$(med w1.haproxy.p50)")
row 1 "p50 latency (ms)" "$(med w1.direct.p50)" "$x" "$(med w1.nginx.p50)" "$(med w1.haproxy.p50)" "$(ratio "$x" "$b")" "" ""
x=$(med w1.xproxy.p99) b=$(best LOWER "$(med w1.nginx.p99)" "$(med w1.haproxy.p99)")
r=$(ratio "$x" "$b")
row 1 "p99 latency (ms)" "$(med w1.direct.p99)" "$x" "$(med w1.nginx.p99)" "$(med w1.haproxy.p99)" "$r" "≤ 1.00 (no worse)" "$(verdict "$(rratio "$x" "$b")" "<=" 1.0)"
for W1CPU in w1 w1solo; do
    [[ $W1CPU == w1solo ]] && ! ((SOLO)) && continue
    x=$(med $W1CPU.xproxy.us_req) b=$(best LOWER "$(med $W1CPU.nginx.us_req)" "$(med $W1CPU.haproxy.us_req)")
    what="proxy CPU per request (µs), lower is better"
    ((SOLO)) && what+=$([[ $W1CPU == w1 ]] && echo ", sharing the upstream's core (see setup)" || echo ", upstream off the proxy's core")
    row 1 "$what" "-" "$x" "$(med $W1CPU.nginx.us_req)" "$(med $W1CPU.haproxy.us_req)" "$(ratio "$x" "$b")" "" ""
done
row 1 "proxy CPU (% of one core)" "$(med w1.direct.cpu) (upstream)" "$(med w1.xproxy.cpu)" "$(med w1.nginx.cpu)" "$(med w1.haproxy.cpu)" "" "" ""
relay_row w1 rps req/s
# Workload 2
x1=$(med w2plain.xproxy.rps) n1=$(med w2plain.nginx.rps)
row 2 "workload 1's config beside them (plain): req/s" "-" "$(fmt0 "$x1")" "$(fmt0 "$n1")" "-" "" "" ""
for mode in prefix regex; do
    x=$(med "w2$mode.xproxy.rps")
    r=$(ratio "$x" "$x1")
    row 2 "10,000 $mode routes, last one hit: req/s (xproxy / own workload 1: plain beside it; workload 1's median)" "-" "$(fmt0 "$x")" "$(fmt0 "$(med "w2$mode.nginx.rps")") ($(ratio "$(med "w2$mode.nginx.rps")" "$n1")× its plain)" "-" "$r; $(ratio "$x" "$(med w1.xproxy.rps)")" "≥ 0.95" "$(verdict "$(rratio "$x" "$x1")" ">=" 0.95)"
    row 2 "… xproxy / plain within each repetition" "-" "-" "-" "-" "$(per_rep_own w2 "$mode")" "" ""
    row 2 "… p99 latency (ms)" "-" "$(med "w2$mode.xproxy.p99")" "$(med "w2$mode.nginx.p99")" "-" "" "" ""
done
# Workload 3
x=$(med w3.xproxy.kib_per_ws) b=$(best LOWER "$(med w3.nginx.kib_per_ws)" "$(med w3.haproxy.kib_per_ws)")
row 3 "$WS_IDLE idle WebSockets: proxy RSS added per connection (KiB)" "-" "$x" "$(med w3.nginx.kib_per_ws)" "$(med w3.haproxy.kib_per_ws)" "$(ratio "$x" "$b")" "≤ 2 KiB" "$(verdict "$x" "<=" 2)"
# Workload 4
x=$(med w4.xproxy.mps) b=$(best HIGHER "$(med w4.nginx.mps)" "$(med w4.haproxy.mps)")
r=$(ratio "$x" "$b")
row 4 "$WS_ECHO_N WebSockets echoing $WS_ECHO_SIZE-byte messages: messages/s" "$(fmt0 "$(med w4.direct.mps)")" "$(fmt0 "$x")" "$(fmt0 "$(med w4.nginx.mps)")" "$(fmt0 "$(med w4.haproxy.mps)")" "$r" "≥ 1.15" "$(verdict "$(rratio "$x" "$b")" ">=" 1.15)"
row 4 "… xproxy / best other within each repetition" "-" "-" "-" "-" "$(per_rep w4 mps)" "" ""
row 4 "proxy CPU (% of one core)" "$(med w4.direct.cpu) (upstream)" "$(med w4.xproxy.cpu)" "$(med w4.nginx.cpu)" "$(med w4.haproxy.cpu)" "" "" ""
relay_row w4 mps messages/s
# Workload 5
for dir in down up; do
    x=$(med "w5.xproxy.$dir") b=$(best HIGHER "$(med "w5.nginx.$dir")" "$(med "w5.haproxy.$dir")")
    r=$(ratio "$x" "$b")
    label=$([[ $dir == down ]] && echo download || echo upload)
    row 5 "$BIG_MIB MiB $label (MiB/s)" "$(med "w5.direct.$dir")" "$x" "$(med "w5.nginx.$dir")" "$(med "w5.haproxy.$dir")" "$r" "≥ 1.0" "$(verdict "$(rratio "$x" "$b")" ">=" 1.0)"
done
x=$(med w5.xproxy.peak_mib) b=$(best LOWER "$(med w5.nginx.peak_mib)" "$(med w5.haproxy.peak_mib)")
row 5 "proxy peak RSS during the transfers (MiB)" "-" "$x" "$(med w5.nginx.peak_mib)" "$(med w5.haproxy.peak_mib)" "$(ratio "$x" "$b")" "< 32 MiB" "$(verdict "$x" "<=" 31.99)"
# Workload 6
x=$(pct w6.xproxy.ms 50) b=$(med w6.nginx.ms)
row 6 "10,000 routes, $RELOADS updates of one route: push to served, p50 (ms)" "-" "$(fmt2 "$x")" "$b (reload)" "-" "$(ratio "$x" "$b")" "" ""
x=$(pct w6.xproxy.ms 99) b=$(pct w6.nginx.ms 99)
row 6 "… p99 (ms)" "-" "$(fmt2 "$x")" "$b (reload)" "-" "$(ratio "$x" "$b")" "≤ 20 ms" "$(verdict "$x" "<=" 20)"
x=$(med w6.xproxy.cpu_ms)
row 6 "… proxy CPU per update (ms)" "-" "$x" "-" "-" "" "≤ 5 ms" "$(verdict "$x" "<=" 5)"
# Workload 7
x=$(med w7.c2.rss_mib)
row 7 "idle RSS, demo config (MiB)" "-" "$x (2 workers, as demo.sh); $(med w7.c1.rss_mib) (1)" "$(med w7.nginx.rss_mib) (master + worker)" "$(med w7.haproxy.rss_mib)" "" "≤ 8 MiB" "$(verdict "$x" "<=" 8)"
x=$(med w7.c2.ready_ms)
row 7 "start to admin /ready 200 (ms)" "-" "$x (2 workers); $(med w7.c1.ready_ms) (1)" "-" "-" "" "≤ 100 ms" "$(verdict "$x" "<=" 100)"
row 7 "binary size (MiB)" "-" "$(mib "$XP_SIZE") ($(mib "$XP_SIZE_STRIPPED") stripped)" "$(mib "$(stat -c %s "$(command -v nginx)")") (dynamic)" "$(mib "$(stat -c %s "$(command -v haproxy)")") (dynamic)" "" "" ""
# Workload 8
c1=$(med w8.c1.rps) c2=$(med w8.c2.rps)
if [[ -n $CPU_W8 ]]; then
    r=$(ratio "$c2" "$c1")
    row 8 "--concurrency 2 vs 1, workload 1 on cpus $CPU_W8: req/s" "-" "$(fmt0 "$c2") vs $(fmt0 "$c1")" "-" "-" "$r (scaling)" "≥ 1.7" "$(verdict "$(rratio "$c2" "$c1")" ">=" 1.7)"
else
    row 8 "--concurrency 2 vs 1, workload 1 unpinned: req/s" "-" "$(fmt0 "$c2") vs $(fmt0 "$c1")" "-" "-" "$(ratio "$c2" "$c1") (scaling)" "≥ 1.7 with two free cores" "none free"
fi

# ---- docs/benchmarks.md ----------------------------------------------------------------

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
{
    cat <<EOF
# Benchmarks: xproxy vs nginx vs HAProxy

Generated by \`bash tests/bench/run.sh$( ((QUICK)) && echo " --quick")\` — do not edit by hand; rerun it.
$( ((QUICK)) && echo "**Quick smoke run: one repetition, short durations. Not a measurement.**")

- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- machine: \`$(uname -a)\`
- cpu: $CPU_MODEL, $NCPU cores; memory $MEM
- xproxy: commit $XP_COMMIT, \`bazel build -c opt\` (-O2, not stripped)
- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'); HAProxy: $(haproxy -v | head -1 | awk '{print $3}'); wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}'); curl $(curl -V | head -1 | awk '{print $2}')
- repetitions: $REPS per measurement, medians shown; wrk and echo runs ${DUR} s each after a 1 s warm-up, in workloads 1, 2 and 4 as $SLICES × $SLICE_S s slices alternating between the proxies
- load average at start: ${uptime_start##*load average: }; at end: ${uptime_end##*load average: }$( [[ -n $busy_start ]] && echo "; busy processes at start: $busy_start")

## Results

"xproxy / best other" divides xproxy's median by the best median of nginx
and HAProxy: above 1 is better for rates, below 1 is better for latency,
memory and CPU. "direct" is wrk or the client talking to the upstream
itself: it shows the upstream is not the bottleneck. The "within each
repetition" rows give the same ratio per repetition, in run order: on a
shared virtual machine the rates move by tens of percent from one run to
the next, and these rows show how far the medians can be trusted.

EOF
    cat "$TABLE"
    cat <<EOF

## Setup

- One upstream for everything: \`xp_upstream\` (//tests/tools), one libuv
  thread. Workload 1 fetches \`$SMALL_PATH\` (a $SMALL_LEN-byte body); the
  WebSocket workloads use its \`/ws\` echo; workload 5 downloads
  \`/bytes/$BIG\` and uploads to \`/upload?digest=none\` (which counts the
  body and answers with its length, checked; the tests check that bodies
  pass through xproxy intact, by SHA-256). The upstream shares the proxy's
  core (below), so it does as little per request as it can: no hashing of
  uploads, and the small response's head put together without printf.
- One worker each: xproxy \`--concurrency 1\`, nginx \`worker_processes 1\`,
  HAProxy \`nbthread 1\`. Equivalent configs, generated by
  tests/bench/lib.sh: keep-alive to the upstream (nginx \`keepalive 128\`,
  HAProxy \`http-reuse always\`, xproxy's pool), bodies streamed both ways
  (nginx \`proxy_buffering off\`, \`proxy_request_buffering off\`), WebSocket
  upgrades on, no access logs, keep-alive request limits lifted. Every proxy
  is started fresh for every measurement (in workloads 1, 2 and 4, for every
  repetition) and must answer a GET (body compared with the upstream's) and
  a WebSocket echo first.
- Workloads 1, 2 and 4 in slices: the machine's speed drifts by up to a third
  within seconds, the same for every process on it (cpu 0 stays fully busy
  with the same split between user, system and softirq time while a proxy's
  rate moves by a third). Ten seconds of one proxy and then ten of the next
  compared different moments as much as different proxies. So each
  repetition starts every proxy (and the relay) fresh, checks each, warms
  each up for 1 s, and then alternates the load between them in $SLICES
  slices of $SLICE_S s, the order rotated from slice to slice. A proxy's rate
  for the repetition is its requests (or echoes) over all its slices
  divided by their time; its p50 and p99 are the medians of its slices'
  (wrk reports percentiles per run). The proxies not under load wait idle
  on their own ports, and a slice starts only once the previous one's
  proxy and the upstream have used no CPU for 100 ms (nginx with 10,000
  regex locations works on for a quarter of a second after its load
  stops).
- CPUs ($NCPU cores): the proxy runs on cpu $CPU_PROXY, the load generator
  (wrk, xpbench, curl) on cpu $CPU_LG, and the upstream on cpu $CPU_UP$(
    [[ $CPU_UP == "$CPU_PROXY" ]] && printf '%s' " —
  **sharing the proxy's core**. With only two cores something has to
  share; with the upstream beside the load generator instead, wrk + upstream
  saturate cpu 1 at about the rate the proxies reach and every proxy
  measures the same. Sharing the proxy's core makes the proxy the
  bottleneck (its cost adds to a fixed upstream cost, so differences
  between proxies are diluted, not hidden)"); the "direct" column is the
  upstream alone on cpu $CPU_UP with the client on cpu $CPU_LG. "Proxy CPU
  per request" is the proxy's own CPU time (utime + stime from /proc)
  divided by the requests served: the undiluted efficiency figure$(
    ((SOLO)) && printf '%s' ". On a
  shared core the split of time between proxy and upstream depends on how
  they hand the core over: with xproxy's batched sends /proc moves about 2
  µs per request from the proxy to the upstream, which perf's task clock
  does not see. So a second row comes from a second run per repetition
  with the upstream moved to cpu $CPU_LG (\`taskset -a -p -c $CPU_LG\`), the
  proxy alone on its core, where /proc and perf agree. That run's rate is
  capped by cpu $CPU_LG (wrk + upstream), so the proxy is not saturated
  there (smaller batches per loop iteration, noisier figures); its rate is
  not shown").
- The reference rows of workloads 1 and 4: \`tests/bench/relay.c\`, a
  bare TCP byte relay on cpu $CPU_PROXY in the proxies' place. It parses,
  adds and logs nothing; it makes one edge-triggered \`epoll_wait\` per
  batch of ready sockets and one \`recv\` and one \`send\` per message.
  Both workloads pass through it unchanged, so it shows what the kernel's
  side of the work allows when a proxy's own work costs nothing and each
  message is sent at once, as nginx and HAProxy send it. It is not a hard
  ceiling for xproxy: xproxy sends the messages of a loop iteration in one
  \`io_uring_enter\`, which it does not. It runs in the same repetitions
  as the proxies.
- Workload 2: 10,000 routes in one virtual host, the request hits the last
  (\`$W2_PATH\`). Prefix routes are \`/webapp-01/ide-<i>/\` with
  \`prefix_rewrite: /\` (nginx: \`location /webapp-01/ide-<i>/ { proxy_pass http://up/; }\`);
  regex routes are ingress-nginx's shape, \`safe_regex\`
  \`^/webapp-01/ide-<i>(/|$)(.*)\` with \`regex_rewrite\` to \`/\\2\`
  (nginx: \`location ~ "^/webapp-01/ide-<i>(/|$)(.*)" { rewrite ... /\$2 break; proxy_pass http://up; }\`,
  \`pcre_jit on\`). HAProxy is not configured with 10,000 routes.
  In each repetition xproxy and nginx each run three processes at once, on
  their own ports: workload 1's config (plain) and the two configs of
  10,000 routes. The load alternates between the six in slices, as in
  workloads 1 and 4, so the routes are compared with the plain config in
  the same minute; the target's ratio is against that plain figure, and
  the table gives the ratio against workload 1's median beside it.
- Workload 3: $WS_IDLE WebSockets through the proxy, opened by
  \`xpbench ws-idle\` and then left idle; the figure is the proxy's VmRSS
  after minus before, divided by the connections opened (nginx: the worker
  process). The issue asks for 10,000: a proxied WebSocket costs the proxy
  two descriptors and this machine's hard \`ulimit -n\` is $NOFILE_HARD,
  which a process cannot raise, so the suite opens as many as fit.
- Workload 4: \`xpbench ws-echo\`, one epoll thread, $WS_ECHO_N connections,
  each with exactly one $WS_ECHO_SIZE-byte binary message in flight (send,
  wait for the echo, check it, send again).
- Workload 5: curl with \`-o /dev/null\` and \`-T\` from a sparse file;
  peak RSS is VmHWM, reset (\`/proc/PID/clear_refs\`) before each transfer.
- Workload 6: 10,000 regex routes of workload 2's shape, then $RELOADS
  updates. xproxy (\`--concurrency 1\`) gets everything over ADS from
  \`xds-server\` (//xds/server, pinned to cpu $CPU_LG) serving a directory:
  the listener, the cluster and the RouteConfiguration \`bench\` (gen_xds_dir
  in tests/bench/lib.sh). Update u adds the route \`/webapp-01/ide-<10000 +
  (u+1)/2>\` (its rewrite goes to the upstream's \`/status/203\`) when u is
  odd and removes it when u is even (the path then falls to \`/\`, which
  answers 200): one PUT of the whole RouteConfiguration (10,001 or 10,002
  routes, about 2 MB of JSON) to xds-server's admin API, which parses it,
  writes the file, publishes the new version to its streams and then
  answers with \`published_ns\`, the CLOCK_MONOTONIC time of that publish.
  \`xpbench push-poll\` does the PUT itself and times from that moment to
  the first response with the new status, polling the route's path with
  GETs on one keep-alive connection every 200 µs from the moment the answer
  arrives ($(med w6.xproxy.reply_ms) ms after the publish, median; when the
  first poll already sees the change the figure is an upper bound). The PUT
  itself, mostly xds-server parsing the JSON, took $(med w6.xproxy.put_ms) ms
  (median) and is not counted. p50 and p99 are over the $RELOADS updates
  (nearest rank). Proxy
  CPU per update: xproxy's utime + stime (/proc, $HZ ticks/s) over the whole
  update loop, minus the same for the same number of poll requests sent
  alone afterwards ($(med w6.xproxy.polls) in all), divided by the updates.
  nginx: the same 10,000 regex locations (workload 2's config); each update
  rewrites the config so that the last location answers a body of a new
  length, sends SIGHUP to the master and polls (curl, every 5 ms) until a
  request sees the new length. Every nginx reload also replaces its worker,
  which closes every WebSocket (not measured here).
- Workload 7: the static demo bootstrap (examples/demo/bootstrap.yaml
  until commit d080284 moved the demo to xDS; kept as \`gen_demo\` in
  tests/bench/lib.sh) with the suite's ports, started
  by \`xpbench ready\`, which forks the proxy and polls admin \`/ready\`
  every 0.5 ms; RSS is read 1 s after it answered 200. nginx and HAProxy
  idle RSS (workload-1 config) is there for context.
$(if [[ -n $CPU_W8 ]]; then printf '%s' "- Workload 8: xproxy with 1 and then 2 workers on cpus $CPU_W8, which
  nothing else uses; wrk on cpu $CPU_LG and the upstream on cpu $CPU_UP."; else printf '%s' "- Workload 8: xproxy with 1 and then 2 workers, not pinned, wrk on cpu
  $CPU_LG and the upstream on cpu $CPU_UP. The machine has only $NCPU cores and
  the load generator and upstream share them with the proxy, so this shows
  whether a second worker helps at all, not how xproxy scales."; fi)

## Notes

- $SIGPIPE_NOTE
$([[ -s $WORK/incidents ]] && sed 's/^/- Incident: /' "$WORK/incidents")
- Other processes on the machine (other builds and tests) can disturb the
  figures; the load averages above say how busy it was.

## Profiles: before and after

$(cat "$ROOT/docs/bench_history.md")

## Exact commands

\`\`\`
bash tests/bench/run.sh$( ((QUICK)) && echo " --quick")
bazel build -c opt //proxy:xproxy //tests/tools:xp_upstream //tests/tools:xp_wsclient //xds/server:xds-server
gcc -O2 -Wall -Wextra -o $XPBENCH tests/bench/xpbench.c
$(cat "$CMDS")
\`\`\`

<details><summary>Workload-1 configs (generated)</summary>

xproxy:
\`\`\`yaml
$(cat "$WORK/xproxy-plain.yaml" 2>/dev/null || echo "(not generated: workload 1 was not run)")
\`\`\`

nginx:
\`\`\`nginx
$(cat "$WORK/nginx-plain.conf" 2>/dev/null || echo "(not generated: workload 1 was not run)")
\`\`\`

HAProxy:
\`\`\`
$(cat "$WORK/haproxy.cfg" 2>/dev/null || echo "(not generated: workload 1 was not run)")
\`\`\`
</details>
EOF
} >"$OUT"

echo
cat "$TABLE"
echo
log "wrote $OUT"
