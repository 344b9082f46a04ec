#!/usr/bin/env bash
# Runs a test binary with LeakSanitizer told about gRPC core's process-wide
# allocations (lsan.supp: libgrpc/libgpr frames only).
#   run_test.sh [--server=PATH] BINARY ARGS...
# --server is handed over in XP_XDS_SERVER rather than on the command line,
# so that the test process's argv does not contain "xds-server" (a cleanup
# elsewhere that signals processes matching that name must not hit it).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
supp="$here/lsan.supp"
[ -f "$supp" ] || supp="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-__main__}/tests/xds_client/lsan.supp"
export LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
case "${1:-}" in
--server=*)
    XP_XDS_SERVER=$(cd "$(dirname "${1#--server=}")" && pwd)/$(basename "${1#--server=}")
    export XP_XDS_SERVER
    shift
    ;;
esac
exec "$@"
