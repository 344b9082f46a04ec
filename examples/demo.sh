#!/usr/bin/env bash
# The demo: installs what is missing, builds xproxy and the bundled upstream
# (HTTP and WebSocket echo on 127.0.0.1:18080), and runs xproxy in the
# foreground on examples/demo/bootstrap.yaml: proxy on 127.0.0.1:10000, admin
# on 127.0.0.1:9901. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bazel/setup.sh
bazel build //proxy:xproxy //tests/tools:xp_upstream //tests/tools:xp_wsclient
bin=bazel-bin

"$bin/tests/tools/xp_upstream" --listen 127.0.0.1:18080 --name demo-upstream &
upstream=$!
trap 'kill "$upstream" 2>/dev/null || true' EXIT

cat <<MSG

xproxy is starting with examples/demo/bootstrap.yaml. Try, in another terminal:
  curl -i http://127.0.0.1:10000/hello                      # proxied to the echo upstream
  curl -i http://127.0.0.1:10000/webapp-01/ide-abc/files    # workspace route, rewritten to /files
  $bin/tests/tools/xp_wsclient --url ws://127.0.0.1:10000/webapp-01/ide-abc/ws --text hi --count 3
  curl http://127.0.0.1:9901/stats | grep -E '^(http|cluster)\.'
  curl http://127.0.0.1:9901/config_dump
  curl -X POST http://127.0.0.1:9901/quitquitquit          # or Ctrl-C here

MSG
"$bin/proxy/xproxy" -c examples/demo/bootstrap.yaml --concurrency 2 "$@"
