#!/usr/bin/env bash
# The demo: installs what is missing, builds xproxy and runs it in the
# foreground on examples/demo/bootstrap.yaml (admin on 127.0.0.1:9901).
# Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bazel/setup.sh
bazel build //proxy:xproxy
cat <<'MSG'

xproxy is starting with examples/demo/bootstrap.yaml. Try, in another terminal:
  curl http://127.0.0.1:9901/ready
  curl http://127.0.0.1:9901/server_info
  curl http://127.0.0.1:9901/stats
  curl http://127.0.0.1:9901/config_dump
  curl http://127.0.0.1:9901/listeners
  curl -X POST http://127.0.0.1:9901/quitquitquit    # or Ctrl-C here
(Proxying on 127.0.0.1:10000 arrives with the data-path work; see docs/status.md.)

MSG
exec bazel-bin/proxy/xproxy -c examples/demo/bootstrap.yaml --concurrency 2 "$@"
