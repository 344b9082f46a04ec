#!/usr/bin/env bash
# Runs a test binary with LeakSanitizer told about gRPC core's process-wide
# allocations (lsan.supp: libgrpc/libgpr frames only).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
supp="$here/lsan.supp"
[ -f "$supp" ] || supp="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-__main__}/tests/xds_client/lsan.supp"
export LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
exec "$@"
