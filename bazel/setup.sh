#!/usr/bin/env bash
# Installs the Debian 12 packages xproxy builds and tests with. Idempotent:
# apt-get runs only when something is missing.
set -euo pipefail

packages=(
    bazel-bootstrap      # the build (Bazel 4.2.3, works offline with bazel/ stubs)
    gcc libc6-dev        # C11 compiler
    protobuf-c-compiler  # protoc-c: generates C from proto/
    libprotobuf-c-dev    # protobuf-c runtime
    libprotobuf-dev      # google/protobuf/*.proto well-known types
    protobuf-compiler    # protoc, for tests/proto/compare_upstream.sh
    libgrpc-dev          # gRPC core C API: xDS transport
    libuv1-dev           # event loops, one per worker
    libyaml-dev          # YAML/JSON bootstrap parsing
    libpcre2-dev         # safe_regex route matching
    libssl-dev           # TLS (transport sockets)
    curl                 # integration tests and the demo
    procps               # ps/pkill in tests
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
