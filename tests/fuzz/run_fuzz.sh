#!/bin/sh
# Builds the HTTP/1 codec fuzz target with libFuzzer + ASan + UBSan (outside
# Bazel) and runs it on the seed corpus for the given seconds (default 600).
#   tests/fuzz/run_fuzz.sh [seconds] [extra libFuzzer flags...]
# New interesting inputs go to $XP_FUZZ_WORK/corpus (default
# /tmp/xproxy-fuzz-http1); crashes go to $XP_FUZZ_WORK/crash-*. Copy a crash
# input into tests/fuzz/corpus/http1/ once fixed, so the Bazel replay test
# (//tests/fuzz:http1_fuzz_corpus_test) keeps it fixed.
set -eu

secs=${1:-600}
[ $# -gt 0 ] && shift
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${XP_FUZZ_WORK:-/tmp/xproxy-fuzz-http1}
cc=${CC:-clang}

# Debian ships libFuzzer's runtime in libclang-rt-<ver>-dev.
if ! echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){(void)d;(void)n;return 0;}' |
    "$cc" -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
    ver=$("$cc" --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n1)
    echo "run_fuzz.sh: installing libclang-rt-${ver:-14}-dev for the libFuzzer runtime" >&2
    apt-get install -y "libclang-rt-${ver:-14}-dev"
fi

mkdir -p "$work/corpus"
bin="$work/http1_fuzz"
"$cc" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Werror -I"$root" \
    "$root/proxy/http1/body.c" "$root/proxy/http1/ctab.c" "$root/proxy/http1/parse.c" \
    "$root/proxy/http1/write.c" "$root/tests/fuzz/http1_fuzz.c" -o "$bin"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The first corpus directory receives new inputs; the seeds stay untouched.
exec "$bin" -max_total_time="$secs" -max_len=8192 -print_final_stats=1 \
    -dict="$root/tests/fuzz/http1.dict" -artifact_prefix="$work/" \
    "$@" "$work/corpus" "$root/tests/fuzz/corpus/http1"
