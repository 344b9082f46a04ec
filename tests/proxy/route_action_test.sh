#!/usr/bin/env bash
# Route actions as Envoy documents them: cluster, weighted_clusters (share of
# 2,000 requests within 5 points of each weight), cluster_header,
# prefix_rewrite and regex_rewrite (x-envoy-original-path), host_rewrite_literal,
# auto_host_rewrite (STRICT_DNS: the DNS name; endpoint hostname; STATIC
# without hostname: no effect), redirects (https_redirect, path_redirect with
# and without strip_query, host/port/scheme, prefix_rewrite, response_code),
# direct_response, request/response header edits at route, virtual host and
# route configuration level with every append_action (route first, then
# virtual host, then route configuration; removals before additions at each
# level), route timeouts (504 "upstream request timeout"; 0s disables).
# Args: XPROXY XP_UPSTREAM CONCURRENCY.
. "$(dirname "$0")/route_lib.sh"

# Checks that expose xproxy bugs not fixed yet (none now).
KNOWN_FAILURES=()

up_start up1
UP1=$UP_PORT
up_start up2
UP2=$UP_PORT
up_start up3
UP3=$UP_PORT
px_start a "$RT_DIR/route_action.yaml" "$CONC" "UP1=$UP1" "UP2=$UP2" "UP3=$UP3"
P=$(px_port a main)
check "listener port from /listeners?format=json" [ -n "$P" ]
U="http://127.0.0.1:$P"

# ---- cluster ----------------------------------------------------------------
req "$U/c1/x"
check "cluster c1 -> up1" eq "$R_CODE $(efield server)" "200 up1"
req "$U/c2/x"
check "cluster c2 -> up2" eq "$R_CODE $(efield server)" "200 up2"
check "default route timeout: x-envoy-expected-rq-timeout-ms 15000" \
    eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 15000
check "a proxied response without a date gets one" [ -n "$(rhdr date)" ]
req "$U/strip/headers?set=date:upstream-date"
check "an upstream's date is kept, not doubled" eq "$(rhdr date)" upstream-date

# ---- weighted_clusters: 50/30/20 over 2,000 requests on one connection ------
out=$(curl -s --max-time 120 "$U/w/[1-2000]")
n1=$(printf '%s' "$out" | grep -o '"server":"up1"' | wc -l)
n2=$(printf '%s' "$out" | grep -o '"server":"up2"' | wc -l)
n3=$(printf '%s' "$out" | grep -o '"server":"up3"' | wc -l)
echo "  weighted: up1=$n1 up2=$n2 up3=$n3"
check "weighted: all 2000 answered" eq "$((n1 + n2 + n3))" 2000
check "weighted: c1 (weight 50) share within 45..55 %" between "$n1" 900 1100
check "weighted: c2 (weight 30) share within 25..35 %" between "$n2" 500 700
check "weighted: c3 (weight 20) share within 15..25 %" between "$n3" 300 500

# ---- cluster_header ------------------------------------------------------------
req "$U/ch/x" -H "x-cluster: c2"
check "cluster_header x-cluster: c2 -> up2" eq "$R_CODE $(efield server)" "200 up2"
req "$U/ch/x" -H "x-cluster: c3"
check "cluster_header x-cluster: c3 -> up3" eq "$R_CODE $(efield server)" "200 up3"
nc_before=$(px_stat a http.action.no_cluster)
req "$U/ch/x"
check "cluster_header absent: 503" eq "$R_CODE" 503
req "$U/ch/x" -H "x-cluster: nope"
check "cluster_header naming no cluster: 503" eq "$R_CODE" 503
check "http.action.no_cluster counts both" eq "$(px_stat a http.action.no_cluster)" $((nc_before + 2))

# ---- path rewrites --------------------------------------------------------------
req "$U/pr/a/b?x=1"
check "prefix_rewrite /pr/ -> /new/ keeps the query" eq "$(efield path)" "/new/a/b?x=1"
check "prefix_rewrite sets x-envoy-original-path" eq "$(ehdr x-envoy-original-path)" "/pr/a/b?x=1"
req "$U/strip/echo"
check "prefix_rewrite /strip/ -> /" eq "$(efield path)" "/echo"
req "$U/webapp-01/ide-x/static/a.js?v=1"
check "regex_rewrite /webapp-01/ide-x/static/a.js?v=1 -> /static/a.js?v=1" \
    eq "$R_CODE $(efield path)" "200 /static/a.js?v=1"
check "regex_rewrite sets x-envoy-original-path" \
    eq "$(ehdr x-envoy-original-path)" "/webapp-01/ide-x/static/a.js?v=1"
req "$U/webapp-01/ide-x"
check "regex_rewrite /webapp-01/ide-x -> /" eq "$(efield path)" "/"
req "$U/c1/plain"
check "no rewrite: no x-envoy-original-path" eq "$(ehdr x-envoy-original-path)" "<absent>"

# ---- host rewrites ---------------------------------------------------------------
req "$U/hl" -H "Host: client.example.com"
check "host_rewrite_literal: upstream Host" eq "$(ehdr host)" "rewritten.example.com"
check "host_rewrite_literal: no x-forwarded-host by default" eq "$(ehdr x-forwarded-host)" "<absent>"
req "$U/ah-dns" -H "Host: client.example.com"
check "auto_host_rewrite, STRICT_DNS: upstream Host is the DNS name" \
    eq "$(efield server) $(ehdr host)" "up2 localhost"
req "$U/ah-hostname" -H "Host: client.example.com"
check "auto_host_rewrite, endpoint hostname: upstream Host is the hostname" \
    eq "$(efield server) $(ehdr host)" "up3 ep3.internal"
req "$U/ah-static" -H "Host: client.example.com"
check "auto_host_rewrite, STATIC without hostname: Host unchanged" \
    eq "$(efield server) $(ehdr host)" "up1 client.example.com"

# ---- redirects ---------------------------------------------------------------------
# redir PATH STATUS LOCATION
redir() {
    req "$U$1" -H "Host: redirect.example.com"
    check "redirect $1 -> $2 $3" eq "$R_CODE $(rhdr location)" "$2 $3"
}
redir "/https?a=1" 301 "https://redirect.example.com/https?a=1"
redir "/old-path-1?bar=1" 301 "http://redirect.example.com/new-path-1?bar=1"
redir "/old-path-2?bar=1" 301 "http://redirect.example.com/new-path-2"
redir "/old-path-3?bar=1" 301 "http://redirect.example.com/new-path-3?foo=1"
redir "/found/x" 302 "http://other.example.com/found/x"
redir "/see-other?q=1" 303 "http://redirect.example.com/seen?q=1"
redir "/temporary" 307 "http://redirect.example.com:8443/temporary"
redir "/permanent/a/b?q=2" 308 "http://redirect.example.com/moved/a/b?q=2"
redir "/scheme/x" 301 "https://secure.example.com:8443/scheme/x"
req "$U/https" -H "Host: redirect.example.com"
check "redirect: empty body" eq "$R_BODY" ""
check "redirect: server: envoy" eq "$(rhdr server)" envoy
check "redirect: a date" [ -n "$(rhdr date)" ]
check "redirect: the route configuration's response_headers_to_add (Envoy applies them)" \
    eq "$(rhdr x-resp-cfg)" config
check "redirect counted (http.action.rq_redirect >= 10)" [ "$(px_stat a http.action.rq_redirect)" -ge 10 ]

# ---- direct_response ----------------------------------------------------------------
req "$U/dr/teapot"
check "direct_response 418 with body" eq "$R_CODE $R_BODY" "418 short and stout"
check "direct_response body is text/plain" eq "$(rhdr content-type)" "text/plain"
check "direct_response content-length" eq "$(rhdr content-length)" 15
check "direct_response: the virtual host's response_headers_to_add" eq "$(rhdr x-resp-vh)" vhost
check "direct_response: the route configuration's response_headers_to_add" eq "$(rhdr x-resp-cfg)" config
check "direct_response: a date" [ -n "$(rhdr date)" ]
req "$U/dr/empty"
check "direct_response 204 without body" eq "$R_CODE:$R_BODY" "204:"
req "$U/dr/forbidden"
check "direct_response 403 with body" eq "$R_CODE $R_BODY" "403 forbidden by route"
check "direct_response: no x-envoy-upstream-service-time" eq "$(rhdr x-envoy-upstream-service-time)" ""

# ---- request header edits ---------------------------------------------------------------
req "$U/hdr" -H "x-app: client" -H "x-ow: client" -H "x-absent: client" -H "x-owe2: client" \
    -H "x-legacy: client" -H "x-remove-me: 1" -H "x-vh-remove: 1" -H "x-cfg-remove: 1"
check "hdr: proxied" eq "$R_CODE $(efield server)" "200 up1"
check "request append (route, vhost, config in that order)" eq "$(ehdr x-app)" "client,route,vhost,config"
check "request OVERWRITE_IF_EXISTS_OR_ADD at route and config: config wins" eq "$(ehdr x-ow)" "config"
check "request ADD_IF_ABSENT, present: kept" eq "$(ehdr x-absent)" "client"
check "request ADD_IF_ABSENT, absent: added" eq "$(ehdr x-absent2)" "route"
check "request OVERWRITE_IF_EXISTS, absent: not added" eq "$(ehdr x-owe)" "<absent>"
check "request OVERWRITE_IF_EXISTS, present: overwritten" eq "$(ehdr x-owe2)" "route"
check "request append: false overwrites" eq "$(ehdr x-legacy)" "route"
check "request vhost-level add" eq "$(ehdr x-vh)" "vhost"
check "request config-level add" eq "$(ehdr x-cfg)" "config"
check "request vhost ADD_IF_ABSENT after route added it: not added" eq "$(ehdr x-chain)" "route"
check "request config-level remove of a route-added header" eq "$(ehdr x-dropped)" "<absent>"
check "request route-level remove" eq "$(ehdr x-remove-me)" "<absent>"
check "request vhost-level remove" eq "$(ehdr x-vh-remove)" "<absent>"
check "request config-level remove" eq "$(ehdr x-cfg-remove)" "<absent>"
check "request empty value not added" eq "$(ehdr x-empty)" "<absent>"
check "request empty value with keep_empty_value added" eq "$(ehdr x-empty-kept)" ""
req "$U/hdr"
check "request append without a client value" eq "$(ehdr x-app)" "route,vhost,config"

# ---- response header edits ---------------------------------------------------------------
req "$U/hdr"
check "response append: route, vhost, config lines in order" \
    eq "$(rhdr x-resp-app | tr '\n' ' ')" "route vhost config "
check "response route-level add" eq "$(rhdr x-resp-route)" route
check "response OVERWRITE_IF_EXISTS_OR_ADD at route and config: config wins" \
    eq "$(rhdr x-resp-ow | tr '\n' ' ')" "config "
check "response vhost-level add" eq "$(rhdr x-resp-vh)" vhost
check "response config-level add" eq "$(rhdr x-resp-cfg)" config
check "response route-level remove of an upstream header" eq "$(rhdr x-xp-upstream)" ""
req "$U/headers?set=x-up-ow:orig&set=x-up-absent:orig&set=x-up-app:orig&set=x-up-remove:1&set=x-resp-vh-remove:1&set=x-resp-cfg-remove:1"
check "response OVERWRITE_IF_EXISTS_OR_ADD replaces the upstream's" eq "$(rhdr x-up-ow | tr '\n' ' ')" "route "
check "response ADD_IF_ABSENT keeps the upstream's" eq "$(rhdr x-up-absent | tr '\n' ' ')" "orig "
check "response append adds after the upstream's" eq "$(rhdr x-up-app | tr '\n' ' ')" "orig route "
check "response route remove" eq "$(rhdr x-up-remove)" ""
check "response vhost remove" eq "$(rhdr x-resp-vh-remove)" ""
check "response config remove" eq "$(rhdr x-resp-cfg-remove)" ""
check "response: upstream header without edit kept" eq "$(rhdr x-xp-upstream)" up1

# ---- timeouts -------------------------------------------------------------------------------
req "$U/to/echo"
check "timeout 0.5s: x-envoy-expected-rq-timeout-ms 500" eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 500
to_before=$(px_stat a cluster.c1.upstream_rq_timeout)
t0=$(now_ms)
req "$U/to/delay/2000"
ms=$(($(now_ms) - t0))
check "timeout 0.5s: /delay/2000 -> 504" eq "$R_CODE" 504
check "timeout 0.5s: body 'upstream request timeout'" eq "$R_BODY" "upstream request timeout"
check "timeout 0.5s: answered after 400..1900 ms ($ms)" between "$ms" 400 1900
check "cluster.c1.upstream_rq_timeout counts it" eq "$(px_stat a cluster.c1.upstream_rq_timeout)" $((to_before + 1))
req "$U/nto/delay/1200"
check "timeout 0s: /delay/1200 -> 200" eq "$R_CODE $(efield server)" "200 up1"
ust=$(rhdr x-envoy-upstream-service-time)
check "x-envoy-upstream-service-time of /delay/1200 is 1200..3000 ms ($ust)" between "$ust" 1200 3000
check "timeout 0s: no x-envoy-expected-rq-timeout-ms" eq "$(ehdr x-envoy-expected-rq-timeout-ms)" "<absent>"

# x-envoy-upstream-rq-timeout-ms and -per-try-timeout-ms: from internal
# requests (one internal address in x-forwarded-for) only, consumed.
INT=(-H 'x-forwarded-for: 10.0.0.1')
t0=$(now_ms)
req "$U/nto/delay/2000" "${INT[@]}" -H 'x-envoy-upstream-rq-timeout-ms: 300'
ms=$(($(now_ms) - t0))
check "internal x-envoy-upstream-rq-timeout-ms 300 on a route without a timeout: 504" eq "$R_CODE" 504
check "... answered after 200..1500 ms ($ms)" between "$ms" 200 1500
req "$U/nto/delay/2000" "${INT[@]}" -H 'x-envoy-upstream-rq-timeout-ms: 300' \
    -H 'x-envoy-upstream-rq-timeout-alt-response: 204'
check "... with x-envoy-upstream-rq-timeout-alt-response the timeout answers 204, no body" \
    eq "$R_CODE:$R_BODY" "204:"
check "... and no content-length (RFC 9110 §8.6)" not_contains "${R_HEAD,,}" "content-length"
req "$U/nto/echo" "${INT[@]}" -H 'x-envoy-upstream-rq-timeout-ms: 700'
check "... the upstream sees x-envoy-expected-rq-timeout-ms 700" eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 700
check "... and not the field itself" eq "$(ehdr x-envoy-upstream-rq-timeout-ms)" "<absent>"
req "$U/nto/delay/1200" -H 'x-forwarded-for: 203.0.113.1' -H 'x-envoy-upstream-rq-timeout-ms: 300'
check "external request: the field is dropped, the route's (none) applies: 200" eq "$R_CODE" 200
check "... and it does not reach the upstream" eq "$(ehdr x-envoy-upstream-rq-timeout-ms)" "<absent>"
req "$U/to/echo" "${INT[@]}" -H 'x-envoy-upstream-rq-per-try-timeout-ms: 200'
check "a per-try field below the route timeout (500): x-envoy-expected-rq-timeout-ms 200" \
    eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 200
req "$U/to/echo" "${INT[@]}" -H 'x-envoy-upstream-rq-per-try-timeout-ms: 900'
check "a per-try field above the route timeout is ignored: 500" eq "$(ehdr x-envoy-expected-rq-timeout-ms)" 500
pt_before=$(px_stat a cluster.c1.upstream_rq_per_try_timeout)
req "$U/nto/delay/2000" "${INT[@]}" -H 'x-envoy-upstream-rq-per-try-timeout-ms: 300'
check "internal per-try field 300 on a route without a timeout: 504" eq "$R_CODE" 504
check "... counted in cluster.c1.upstream_rq_per_try_timeout" \
    eq "$(px_stat a cluster.c1.upstream_rq_per_try_timeout)" $((${pt_before:-0} + 1))

px_stop a
rt_finish
