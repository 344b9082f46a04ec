#!/usr/bin/env bash
# xproxy's user-space instructions per proxied request (workload 1's traffic)
# and per WebSocket echo (workload 4's), counted by valgrind's callgrind:
# figures that do not depend on machine noise, for before/after comparisons
# of data-path changes (docs/bench_history.md). Not a pass/fail test.
#
#   bash tests/bench/callgrind.sh     (wrk and valgrind installed; run.sh
#                                      installs wrk)
#
# xproxy runs under callgrind with instrumentation off while it starts;
# it is switched on for a 5 s wrk run (64 connections, keep-alive GET of
# workload 1's small body) and then for a 5 s `xpbench ws-echo` run (200
# WebSockets, 32-byte messages). The requests are counted from xproxy's
# own downstream_rq_total, the echoes by xpbench. Prints the totals and
# the functions that cost the most. XPB_CG_OUT=DIR keeps the two dumps
# (DIR/cg.w1, DIR/cg.w4) for callgrind_annotate, e.g. --tree=caller.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DUR=${XPB_DURATION:-5}
for tool in wrk valgrind callgrind_control callgrind_annotate gcc curl; do
    command -v "$tool" >/dev/null || { echo "$tool is missing" >&2; exit 2; }
done

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_tool_setup xpcallgrind 27400
gcc -O2 -Wall -Wextra -o "$BIN/xpbench" tests/bench/xpbench.c

start_upstream
gen_xproxy plain "$WORK/xproxy.yaml"

# run_instrumented NAME LOAD-COMMAND...: xproxy under callgrind, instrumented
# only while the load runs (after a 1 s uninstrumented warm-up of the same
# kind); its dump is $WORK/cg.NAME. Sets OUT (the load's output) and RQ
# (requests xproxy counted during the load).
run_instrumented() {
    local name=$1
    shift
    port_free "$XP_PORT"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.$name" \
        "$BIN/xproxy" -c "$WORK/xproxy.yaml" --concurrency 1 --log-level warning \
        >"$WORK/xproxy.$name.log" 2>&1 &
    local vg=$!
    BG_PIDS+=("$vg")
    wait_port "$XP_PORT" 60
    "$@" 1 >/dev/null
    callgrind_control -i on "$vg" >/dev/null 2>&1
    local n0
    n0=$(rq_total)
    OUT=$("$@" "$DUR")
    RQ=$(($(rq_total) - n0))
    callgrind_control -i off "$vg" >/dev/null 2>&1
    stop_pid "$vg"
}
rq_total() {
    curl -s --max-time 5 "http://127.0.0.1:$XP_ADMIN/stats?filter=^http.bench.downstream_rq_total$" |
        awk -F': ' '{print $2}'
}
load_w1() { pin "$CPU_LG" wrk -t1 -c64 -d"$1s" "http://127.0.0.1:$XP_PORT$SMALL_PATH"; }
load_w4() {
    pin "$CPU_LG" "$BIN/xpbench" ws-echo --port "$XP_PORT" --path /ws --n 200 --size 32 \
        --seconds "$1" --warmup 0
}

run_instrumented w1 load_w1
W1_N=$RQ
run_instrumented w4 load_w4
W4_N=$(sed -n 's/.*echoes \([0-9]*\).*/\1/p' <<<"$OUT")

report() { # report NAME COUNT WHAT WHAT-PLURAL
    local total
    total=$(callgrind_annotate "$WORK/cg.$1" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    printf '%s: %s instructions over %s %s = %d per %s\n' "$1" "$total" "$2" "$4" \
        $((total / $2)) "$3"
    callgrind_annotate --inclusive=no "$WORK/cg.$1" 2>/dev/null | sed -n '/file:function/,$p' |
        sed -n '3,14p' | sed -e 's#/proc/self/cwd/##' -e 's/^/    /' | cut -c1-120
}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "xproxy at $commit, -c opt, --concurrency 1, $(valgrind --version) --tool=callgrind"
report w1 "$W1_N" request requests
report w4 "$W4_N" echo echoes
if [[ -n ${XPB_CG_OUT:-} ]]; then
    mkdir -p "$XPB_CG_OUT"
    cp "$WORK/cg.w1" "$WORK/cg.w4" "$XPB_CG_OUT/"
fi
