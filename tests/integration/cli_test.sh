#!/usr/bin/env bash
# Command-line flags: Envoy's names, clear errors for bad values.
XPROXY=$1
DIR=$(dirname "$0")
. "$DIR/lib.sh"

out=$("$XPROXY" --version 2>&1)
check "--version exits 0 and names xproxy" contains "$out" "xproxy version"
out=$("$XPROXY" --help 2>&1)
check "--help lists --config-path" contains "$out" "--config-path"
check "--help lists --concurrency" contains "$out" "--concurrency"

expect_fail() {
    local what=$1 needle=$2
    shift 2
    local out rc
    out=$("$XPROXY" "$@" 2>&1)
    rc=$?
    if [ "$rc" -ne 0 ] && contains "$out" "$needle"; then ok "$what"; else not_ok "$what (rc $rc): $out"; fi
}
good="$DIR/good/basic.yaml"
expect_fail "no config" "no configuration" --mode validate
expect_fail "unknown flag" "unknown option '--flux'" -c "$good" --flux
expect_fail "bad mode" "expected serve or validate" -c "$good" --mode dance
expect_fail "bad concurrency" "--concurrency" -c "$good" --concurrency zero
expect_fail "concurrency 0" "--concurrency" -c "$good" --concurrency 0
expect_fail "bad log level" "--log-level" -c "$good" --log-level loud
expect_fail "bad drain time" "--drain-time-s" -c "$good" --drain-time-s -5
expect_fail "missing value" "needs a value" -c "$good" --concurrency
expect_fail "bad --io-uring" "--io-uring: expected on or off, got 'maybe'" -c "$good" --io-uring maybe

out=$("$XPROXY" -c "$good" --mode validate --log-level warning --concurrency 3 --service-node n --service-cluster c --drain-time-s 5 --disable-hot-restart --io-uring off 2>&1)
check "Envoy flags accepted together" contains "$out" "OK"

finish
