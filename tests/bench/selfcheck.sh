#!/usr/bin/env bash
# The benchmark's correctness self-check: starts xproxy, nginx and HAProxy
# with the workload-1 configs of tests/bench/lib.sh in front of xp_upstream
# and checks that each answers a GET with the upstream's exact body and
# echoes a WebSocket message. Prints one line per proxy and exits non-zero
# if any fails.
#
#   bash tests/bench/selfcheck.sh [XPROXY XP_UPSTREAM]
#
# Without arguments it builds both with Bazel. It needs nginx, haproxy, curl
# and gcc installed (tests/bench/run.sh installs them); it never installs
# anything itself, so the Bazel target //tests/bench:selfcheck (tagged
# manual: CI never runs it) fails with a clear message when they are missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH=$PATH:/usr/sbin

missing=()
for tool in nginx haproxy curl gcc taskset; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
    echo "selfcheck: missing ${missing[*]} (bash tests/bench/run.sh installs them)" >&2
    exit 1
fi

WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/xpbcheck.XXXXXX")
chmod 755 "$WORK"
BIN=$WORK/bin
mkdir -p "$BIN"
if (($# >= 2)); then
    cp "$1" "$BIN/xproxy"
    cp "$2" "$BIN/xp_upstream"
else
    ROOT=$(cd "$HERE/../.." && pwd)
    (cd "$ROOT" && bazel build -c opt //proxy:xproxy //tests/tools:xp_upstream >"$WORK/build.log" 2>&1) ||
        { cat "$WORK/build.log" >&2; exit 1; }
    BB=$(cd "$ROOT" && bazel info -c opt bazel-bin 2>/dev/null)
    cp "$BB/proxy/xproxy" "$BB/tests/tools/xp_upstream" "$BIN/"
fi
XPBENCH=$BIN/xpbench
gcc -O2 -o "$XPBENCH" "$HERE/xpbench.c"

# Ports: a block above the benchmark's, moved by the pid so parallel
# checks do not collide.
BASE=${XPB_CHECK_PORT_BASE:-$((28000 + ($$ % 200) * 10))}
UP_PORT=$BASE XP_PORT=$((BASE + 1)) XP_ADMIN=$((BASE + 2)) NG_PORT=$((BASE + 3)) HA_PORT=$((BASE + 4))
CPU_PROXY= CPU_LG= CPU_UP=

# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
fail=0
trap 'stop_all; if ((fail)); then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi' EXIT

start_upstream
save_check_want || { echo "selfcheck: the upstream does not answer $SMALL_PATH" >&2; fail=1; exit 1; }
for p in xproxy nginx haproxy; do
    start_proxy "$p" plain
    if check_proxy "$SMALL_PATH"; then
        echo "ok   $p: GET $SMALL_PATH and a WebSocket echo"
    else
        echo "FAIL $p (logs in $WORK)"
        fail=1
    fi
    stop_proxy
done
exit "$fail"
