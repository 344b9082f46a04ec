#!/usr/bin/env bash
# Adds or removes a demo workspace: each workspace <id> gets the route
# /webapp-01/ide-<id>/... rewritten to /... (the ingress-nginx style of the
# original report). The route configuration is regenerated into the
# directory xds-server watches; xproxy gets it over ADS and applies it in
# place: established WebSockets of other (and removed) workspaces stay open.
#   examples/demo/workspace.sh add 42 | remove 42 | list
set -euo pipefail
dir=${XP_DEMO_DIR:-/tmp/xproxy-demo}
mkdir -p "$dir/workspaces"
case "${1:-list}" in
add) touch "$dir/workspaces/${2:?id}" ;;
remove) rm -f "$dir/workspaces/${2:?id}" ;;
list) ls "$dir/workspaces"; exit 0 ;;
*) echo "usage: $0 add ID | remove ID | list" >&2; exit 2 ;;
esac
tmp=$(mktemp "$dir/xds/.route.XXXXXX")
{
    echo '"@type": type.googleapis.com/envoy.config.route.v3.RouteConfiguration'
    echo 'name: workspaces'
    echo 'virtual_hosts:'
    echo '- name: ide'
    echo '  domains: ["*"]'
    echo '  routes:'
    for f in "$dir/workspaces"/*; do
        [ -e "$f" ] || continue
        id=$(basename "$f")
        echo "  - match: { safe_regex: { regex: \"/webapp-01/ide-$id(/|\$)(.*)\" } }"
        echo '    route:'
        echo '      cluster: workspaces'
        echo '      timeout: 0s'
        echo "      regex_rewrite: { pattern: { regex: \"^/webapp-01/ide-$id(/|\$)(.*)\" }, substitution: \"/\\\\2\" }"
    done
    echo '  - match: { prefix: "/" }'
    echo '    direct_response: { status: 404, body: { inline_string: "no such workspace\n" } }'
} > "$tmp"
mv "$tmp" "$dir/xds/route.yaml"
echo "workspaces: $(ls "$dir/workspaces" | tr '\n' ' ')"
