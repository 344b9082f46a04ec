#!/usr/bin/env bash
# The demo: installs what is missing, builds, and runs three processes on
# loopback: xds-server (the control plane, serving /tmp/xproxy-demo/xds),
# the bundled HTTP/WebSocket echo upstream (127.0.0.1:18080), and xproxy in the
# foreground taking everything over ADS: proxy on 127.0.0.1:10000, admin on
# 127.0.0.1:9901. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bazel/setup.sh
bazel build //proxy:xproxy //xds/server:xds-server //tests/tools:xp_upstream //tests/tools:xp_wsclient
bin=bazel-bin
export XP_DEMO_DIR=${XP_DEMO_DIR:-/tmp/xproxy-demo}
rm -rf "$XP_DEMO_DIR"
mkdir -p "$XP_DEMO_DIR/xds"
cp examples/demo/xds/*.yaml "$XP_DEMO_DIR/xds/"
examples/demo/workspace.sh add abc >/dev/null
examples/demo/workspace.sh add xyz >/dev/null

"$bin/xds/server/xds-server" --dir "$XP_DEMO_DIR/xds" --listen 127.0.0.1:18000 \
    --admin 127.0.0.1:18001 &
pids=$!
"$bin/tests/tools/xp_upstream" --listen 127.0.0.1:18080 --name demo-upstream &
pids="$pids $!"
trap 'kill $pids 2>/dev/null || true' EXIT

cat <<MSG

xproxy takes its config from xds-server. Try, in another terminal:
  curl -i http://127.0.0.1:10000/webapp-01/ide-abc/files      # workspace abc, rewritten to /files
  $bin/tests/tools/xp_wsclient --url ws://127.0.0.1:10000/webapp-01/ide-abc/ws --text hi --count 3
  # keep WebSockets open while workspaces come and go (none of them is closed):
  $bin/tests/tools/xp_wsclient --url ws://127.0.0.1:10000/webapp-01/ide-abc/ws --connections 50 --interval-ms 100 --hold-ms 30000 --text m &
  examples/demo/workspace.sh add 42; curl http://127.0.0.1:10000/webapp-01/ide-42/x
  examples/demo/workspace.sh remove abc; curl http://127.0.0.1:10000/webapp-01/ide-abc/x   # 404 for new requests
  curl http://127.0.0.1:18001/nodes              # what xproxy ACKed
  curl 'http://127.0.0.1:9901/config_dump?resource=dynamic_route_configs'
  curl -X POST http://127.0.0.1:9901/quitquitquit    # or Ctrl-C here

MSG
"$bin/proxy/xproxy" -c examples/demo/xds-bootstrap.yaml --concurrency 2 "$@"
