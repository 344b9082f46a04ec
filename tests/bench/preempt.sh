#!/usr/bin/env bash
# Why workload 1 (keep-alive GET, 64 connections) comes out as it does: for
# each proxy in front of the suite's upstream, sharing cpu 0 with it as in
# tests/bench/run.sh, the rate and the context switches per request of the
# proxy's busiest thread and of the upstream, with the upstream as an
# ordinary task and then as SCHED_BATCH (a batch task never preempts the
# running one when it wakes). Not a pass/fail test; one 5 s wrk run each.
#
#   bash tests/bench/preempt.sh     (wrk, nginx and haproxy installed, e.g.
#                                    by a run of tests/bench/run.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DUR=${XPB_DURATION:-5}
for tool in wrk nginx haproxy taskset chrt; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        { echo "$tool is missing (bash tests/bench/run.sh installs it)" >&2; exit 2; }
done
[[ $(nproc) -ge 2 ]] || { echo "needs 2 cores" >&2; exit 2; }

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_tool_setup xppreempt 27300

# switches PID TID: "voluntary nonvoluntary" context switches of a thread.
switches() {
    awk '/^voluntary_ctxt_switches/ {v = $2} /^nonvoluntary_ctxt_switches/ {n = $2}
         END {print v, n}' "/proc/$1/task/$2/status"
}
# busiest PID: the thread of PID with the most CPU time.
busiest() {
    local t
    for t in /proc/"$1"/task/*; do
        echo "$(awk '{print $14 + $15}' "$t/stat") ${t##*/}"
    done | sort -n | tail -1 | awk '{print $2}'
}

printf '%-8s %-8s %10s %22s %22s\n' upstream proxy "req/s" "proxy vol/invol per rq" "upstr. vol/invol per rq"
for policy in normal batch; do
    start_upstream
    [[ $policy == batch ]] && chrt -b -p 0 "$UPSTREAM_PID" >/dev/null
    for p in xproxy nginx haproxy; do
        start_proxy "$p" plain 1
        url=http://127.0.0.1:$PROXY_PORT$SMALL_PATH
        pin "$CPU_LG" wrk -t1 -c64 -d1s "$url" >/dev/null
        mp=${MEASURE_PIDS%% *}
        tid=$(busiest "$mp")
        read -r pv0 pn0 <<<"$(switches "$mp" "$tid")"
        read -r uv0 un0 <<<"$(switches "$UPSTREAM_PID" "$UPSTREAM_PID")"
        out=$(pin "$CPU_LG" wrk -t1 -c64 -d"${DUR}s" "$url")
        read -r pv1 pn1 <<<"$(switches "$mp" "$tid")"
        read -r uv1 un1 <<<"$(switches "$UPSTREAM_PID" "$UPSTREAM_PID")"
        n=$(awk '/requests in/ {print $1}' <<<"$out")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        printf '%-8s %-8s %10s %22s %22s\n' "$policy" "$p" "$rps" \
            "$(awk -v a="$((pv1 - pv0))" -v b="$((pn1 - pn0))" -v n="$n" 'BEGIN {printf "%.3f / %.3f", a / n, b / n}')" \
            "$(awk -v a="$((uv1 - uv0))" -v b="$((un1 - un0))" -v n="$n" 'BEGIN {printf "%.3f / %.3f", a / n, b / n}')"
        stop_proxy
    done
    stop_pid "$UPSTREAM_PID"
    BG_PIDS=()
done
