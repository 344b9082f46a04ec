#!/usr/bin/env bash
# Installs what is missing, builds everything, runs every test twice (plain
# and under AddressSanitizer + UndefinedBehaviorSanitizer), and ends with the
# line "N passed, N failed" (one count per test target per build).
set -uo pipefail
cd "$(dirname "$0")/.."

bash bazel/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
passed=0
failed=0

run() {
    local name=$1
    shift
    echo "== bazel test $* //... ($name)"
    bazel test --keep_going --nocache_test_results "$@" //... 2>&1 | tee "$logdir/$name.log" |
        grep -E '^//|FAILED|ERROR' || true
    local p f
    p=$(grep -cE '^//[^ ]+ +(\(cached\) +)?PASSED' "$logdir/$name.log" || true)
    f=$(grep -cE '^//[^ ]+ +(\(cached\) +)?(FAILED|TIMEOUT|NO STATUS|FLAKY|INCOMPLETE)' "$logdir/$name.log" || true)
    # A build failure leaves no per-test lines: count it as a failure.
    if grep -qE '^(ERROR|FAILED: Build did NOT complete)' "$logdir/$name.log" && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    # What each failed target printed about its failure (the CI log keeps
    # only this script's output): its failed checks, sanitizer reports and
    # last lines (an early exit says why there).
    local t log
    for t in $(grep -oE '^//[^ ]+ +(FAILED|TIMEOUT|FLAKY|INCOMPLETE)' "$logdir/$name.log" | cut -d' ' -f1); do
        log="bazel-testlogs/${t#//}"
        log="${log/://}/test.log"
        echo "-- $t ($name): $log"
        [ -f "$log" ] || continue
        grep -E -A4 '^FAIL - |^==[0-9]+==ERROR|runtime error:|^---- ' "$log" | head -60
        echo "-- its last lines:"
        tail -n 6 "$log"
    done
}

run plain
run asan --config=asan

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
