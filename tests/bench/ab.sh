#!/usr/bin/env bash
# Before/after for one change to xproxy: builds xproxy at REV (from
# `git archive`, in a private Bazel workspace) and from the working tree, then
# runs the two in turn, ROUNDS times, on workloads 1 (keep-alive GET, 64
# connections) and 4 (200 WebSockets echoing 32-byte messages), laid out as
# in tests/bench/run.sh: proxy and upstream on cpu 0, load on cpu 1.
# Alternating the two in one run cancels most of the machine's drift, which
# is larger than a 2% change between two separate runs. Prints each run and
# the medians: rate, p99 and the proxy's CPU per request or message
# (utime + stime from /proc). Not a pass/fail test.
#
#   bash tests/bench/ab.sh REV [ROUNDS]    (wrk installed, e.g. by a run of
#                                            tests/bench/run.sh; ROUNDS: 5)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
[[ $# -ge 1 ]] || { sed -n '2,13p' "$0" >&2; exit 2; }
REV=$1 ROUNDS=${2:-5} DUR=${XPB_DURATION:-5}
command -v wrk >/dev/null || { echo "wrk is missing (bash tests/bench/run.sh installs it)" >&2; exit 2; }
[[ $(nproc) -ge 2 ]] || { echo "needs 2 cores" >&2; exit 2; }
git rev-parse --verify -q "$REV^{commit}" >/dev/null || { echo "ab.sh: $REV is not a commit" >&2; exit 2; }

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_tool_setup xpab 27700
XPBENCH=$BIN/xpbench
gcc -O2 -o "$XPBENCH" tests/bench/xpbench.c
mv "$BIN/xproxy" "$BIN/xproxy.after"

# The other build: its own workspace, and its Bazel server and output tree
# removed when done.
mkdir "$WORK/src"
trap 'trap - EXIT; stop_all; (cd "$WORK/src" && bazel shutdown >/dev/null 2>&1); rm -rf "$WORK"' EXIT
git archive "$REV" | tar -x -C "$WORK/src"
(cd "$WORK/src" && bazel build -c opt //proxy:xproxy >"$WORK/build-rev.log" 2>&1) ||
    { tail -20 "$WORK/build-rev.log"; exit 1; }
cp "$(cd "$WORK/src" && bazel info -c opt bazel-bin 2>/dev/null)/proxy/xproxy" "$BIN/xproxy.before"
(cd "$WORK/src" && bazel clean --expunge >/dev/null 2>&1) || true

before=$(git rev-parse --short "$REV")
after="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- proxy xds || echo +changes)"
echo "before: $before; after: the working tree ($after); $ROUNDS rounds of ${DUR} s each"
printf '%-7s %10s %9s %11s %12s %11s\n' build "w1 req/s" "w1 p99" "w1 us/req" "w4 msgs/s" "w4 us/msg"

# one BUILD: one run of both workloads through $BIN/xproxy.BUILD.
one() {
    cp "$BIN/xproxy.$1" "$BIN/xproxy"
    start_proxy xproxy plain 1
    pin "$CPU_LG" wrk -t1 -c64 -d1s "http://127.0.0.1:$PROXY_PORT$SMALL_PATH" >/dev/null
    local t0 t1 t2 t3 out n rps p99 ws mps
    t0=$(cpu_ticks "$MEASURE_PIDS")
    out=$(pin "$CPU_LG" wrk -t1 -c64 -d"${DUR}s" --latency "http://127.0.0.1:$PROXY_PORT$SMALL_PATH")
    t1=$(cpu_ticks "$MEASURE_PIDS")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {v = $2 + 0; if ($2 ~ /us$/) v /= 1000; else if ($2 !~ /ms$/) v *= 1000
                            printf "%.2fms", v}' <<<"$out")
    pin "$CPU_LG" "$XPBENCH" ws-echo --port "$PROXY_PORT" --path /ws --n 200 --size 32 \
        --seconds 1 --warmup 0 >/dev/null
    t2=$(cpu_ticks "$MEASURE_PIDS")
    ws=$(pin "$CPU_LG" "$XPBENCH" ws-echo --port "$PROXY_PORT" --path /ws --n 200 --size 32 \
        --seconds "$DUR" --warmup 0)
    t3=$(cpu_ticks "$MEASURE_PIDS")
    stop_proxy
    mps=$(awk '{print $2}' <<<"$ws")
    local echoes
    echoes=$(sed -n 's/.*echoes \([0-9]*\).*/\1/p' <<<"$ws")
    local tick
    tick=$(getconf CLK_TCK)
    printf '%-7s %10.0f %9s %11.2f %12.0f %11.2f\n' "$1" "$rps" "$p99" \
        "$(awk -v a="$t0" -v b="$t1" -v n="$n" -v k="$tick" 'BEGIN {print (b - a) * 1e6 / k / n}')" \
        "$mps" "$(awk -v a="$t2" -v b="$t3" -v n="$echoes" -v k="$tick" 'BEGIN {print (b - a) * 1e6 / k / n}')"
}

start_upstream
for _ in $(seq "$ROUNDS"); do
    one before
    one after
done | tee "$WORK/runs.txt"
stop_pid "$UPSTREAM_PID"

median() { # median BUILD COLUMN
    awk -v b="$1" -v c="$2" '$1 == b {gsub("ms", "", $c); print $c}' "$WORK/runs.txt" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
echo "medians:"
for b in before after; do
    printf '%-7s %10.0f %7.2fms %11.2f %12.0f %11.2f\n' "$b" "$(median "$b" 2)" "$(median "$b" 3)" \
        "$(median "$b" 4)" "$(median "$b" 5)" "$(median "$b" 6)"
done
