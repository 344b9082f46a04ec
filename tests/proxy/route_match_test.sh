#!/usr/bin/env bash
# Route matching as Envoy documents RouteMatch: prefix (on the whole :path,
# query included), path (exact, query removed), path_separated_prefix,
# safe_regex (whole path without the query), case_sensitive: false (not for
# regexes), header matchers (string_match exact/prefix/suffix/contains/
# safe_regex with ignore_case, the older exact_match/safe_regex_match,
# present_match, range_match [start, end), invert_match, several = AND),
# query_parameters (string_match, present_match), first match in order.
# Args: XPROXY XP_UPSTREAM CONCURRENCY.
. "$(dirname "$0")/route_lib.sh"

# Checks that expose xproxy bugs not fixed yet (see the report).
KNOWN_FAILURES=()

up_start up1
UP1=$UP_PORT
px_start m "$RT_DIR/route_match.yaml" "$CONC" "UP1=$UP1"
P=$(px_port m main)
check "listener port from /listeners?format=json" [ -n "$P" ]

# rt PATH WANT [CURL ARGS...]: the route that answers PATH.
rt() {
    local path=$1 want=$2
    shift 2
    req "http://127.0.0.1:$P$path" "$@"
    local desc="$path"
    [ $# -gt 0 ] && desc="$path [$*]"
    check "$desc -> $want" eq "$R_CODE $R_BODY" "200 $want"
}

# path: exact, query ignored, case-sensitive by default
rt /exact r_path
rt "/exact?q=1" r_path
rt /exact/ r_default
rt /exactly r_default
rt /Exact r_default
rt /caseless r_path_ci
rt "/CASELESS?z=1" r_path_ci
rt /caseless/x r_default
# prefix, case_sensitive false / default true
rt /pre r_prefix_ci
rt /PRE/x r_prefix_ci
rt /pREfix r_prefix_ci
rt /CaseSensitive/x r_prefix_cs
rt /casesensitive/x r_default
# path_separated_prefix: "/api" matches /api, /api/..., /api?...; not /apix
rt /api r_psp
rt /api/ r_psp
rt /api/v1/x r_psp
rt "/api?x=1" r_psp
rt /apix r_default
rt /API r_default
# safe_regex: whole path, query removed
rt /webapp-01/ide-x r_regex
rt /webapp-01/ide-x/ r_regex
rt "/webapp-01/ide-x/static/a.js?v=1" r_regex
rt /webapp-01/ide-xy r_default
rt /x/webapp-01/ide-x r_default
rt /items/123 r_regex_items
rt "/items/123?a=b" r_regex_items
rt /items/123/x r_default
rt /items/ r_default
# prefix includes the query string
rt "/qs?x=1" r_prefix_query
rt "/qs?x=12&y" r_prefix_query
rt "/qs?y=1" r_default
# headers
rt /h/ r_h_none
rt /h/ r_h_exact -H "x-exact: v1"
rt /h/ r_h_none -H "x-exact: v1x"
rt /h/ r_h_none -H "x-exact: V1"
rt /h/ r_h_exact -H "X-EXACT: v1"
rt /h/ r_h_exact_ci -H "x-exact-ci: mixed"
rt /h/ r_h_legacy -H "x-legacy: old"
rt /h/ r_h_none -H "x-legacy: older"
rt /h/ r_h_prefix -H "x-prefix: abc"
rt /h/ r_h_none -H "x-prefix: xab"
rt /h/ r_h_suffix -H "x-suffix: xyz"
rt /h/ r_h_none -H "x-suffix: yza"
rt /h/ r_h_contains -H "x-contains: a-mid-b"
rt /h/ r_h_none -H "x-contains: mi-d"
rt /h/ r_h_regex -H "x-regex: 123"
rt /h/ r_h_none -H "x-regex: 1234"
rt /h/ r_h_none -H "x-regex: a123"
rt /h/ r_h_legacy_regex -H "x-legacy-regex: v7"
rt /h/ r_h_present -H "x-present: anything"
rt /h/ r_h_range -H "x-range: 10"
rt /h/ r_h_range -H "x-range: 19"
rt /h/ r_h_none -H "x-range: 20"
rt /h/ r_h_none -H "x-range: 9"
rt /h/ r_h_none -H "x-range: abc"
rt /h/ r_h_range_neg -H "x-range-neg: -1"
rt /h/ r_h_none -H "x-range-neg: 0"
rt /h/ r_h_invert -H "x-inv: yes" -H "x-inv-on: 1"
rt /h/ r_h_none -H "x-inv: no" -H "x-inv-on: 1"
rt /h/ r_h_and -H "x-and-a: 1" -H "x-and-b: 2"
rt /h/ r_h_none -H "x-and-a: 1"
rt /h/ r_h_none -H "x-and-a: 1" -H "x-and-b: 3"
# first matching header route wins
rt /h/ r_h_exact -H "x-exact: v1" -H "x-prefix: abc"
# query parameters
rt /q/x r_q_none
rt "/q/x?debug=1" r_q_exact
rt "/q/x?a=b&debug=1" r_q_exact
rt "/q/x?debug=0" r_q_none
rt "/q/x?debug=10" r_q_none
rt "/q/x?trace=5" r_q_present
rt "/q/x?a=b&trace" r_q_present
rt "/q/x?env=prod-1&zone=eu-west" r_q_two
rt "/q/x?env=prod-1&zone=us-east" r_q_none
rt "/q/x?env=dev&zone=eu-west" r_q_none
# first match in configuration order
rt /order/x r_order_1
rt /orderly r_order_1
# a matched forwarding route
req "http://127.0.0.1:$P/up/a?b=c" -H "x-to-upstream: 1"
check "/up/ with x-to-upstream is proxied to up1" eq "$R_CODE $(efield server)" "200 up1"
check "/up/: upstream sees path and query unchanged" eq "$(efield path)" "/up/a?b=c"
rt /up/a r_default

check "no request was unrouted (no_route 0)" eq "$(px_stat m http.match.no_route)" 0
check "direct responses counted (rq_direct_response)" [ "$(px_stat m http.match.rq_direct_response)" -gt 50 ]

px_stop m
rt_finish
