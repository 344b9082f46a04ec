#!/usr/bin/env bash
# Virtual host selection as Envoy documents it for VirtualHost.domains:
# exact names, then suffix wildcards ("*.foo.com", "*-bar.foo.com") longest
# first, then prefix wildcards ("foo.*") longest first, then "*"; a wildcard
# never matches the empty string; case-insensitive; the port is part of the
# Host unless strip_any_host_port / ignore_port_in_host_matching; no match is
# a 404 counted in http.<prefix>.no_route.
# Args: XPROXY XP_UPSTREAM CONCURRENCY.
. "$(dirname "$0")/route_lib.sh"

# Checks that expose xproxy bugs not fixed yet (see the report).
KNOWN_FAILURES=()

up_start up1
UP1=$UP_PORT
px_start vh "$RT_DIR/route_vhost.yaml" "$CONC" "UP1=$UP1"
MAIN=$(px_port vh main)
NOSTAR=$(px_port vh nostar)
STRIP=$(px_port vh strip)
IGNP=$(px_port vh ignoreport)
check "listener ports from /listeners?format=json" [ -n "$MAIN" ] && [ -n "$NOSTAR" ] &&
    [ -n "$STRIP" ] && [ -n "$IGNP" ]

# vh PORT HOST WANT: the virtual host that answers Host: HOST.
vh() {
    req "http://127.0.0.1:$1/" -H "Host: $2"
    check "port $1 Host '$2' -> $3" eq "$R_CODE $R_BODY" "200 $3"
}

vh "$MAIN" exact.example.com vh_exact
vh "$MAIN" EXACT.Example.COM vh_exact
vh "$MAIN" www.example.com vh_www
vh "$MAIN" WWW.EXAMPLE.COM vh_www
vh "$MAIN" a.example.com vh_suffix
vh "$MAIN" a.b.example.com vh_suffix
vh "$MAIN" A.Example.Com vh_suffix
vh "$MAIN" x.long.example.com vh_suffix_long
vh "$MAIN" long.example.com vh_suffix
vh "$MAIN" baz-bar.example.org vh_suffix_dash
vh "$MAIN" -bar.example.org vh_any
vh "$MAIN" example.com vh_any
vh "$MAIN" api.foo vh_prefix
vh "$MAIN" API.Foo.Net vh_prefix
vh "$MAIN" api.internal.foo vh_prefix_long
vh "$MAIN" api. vh_any
# precedence: exact > suffix > prefix > *
vh "$MAIN" api.exact vh_prefix_exact
vh "$MAIN" api.example.com vh_suffix
vh "$MAIN" unknown.host vh_any
# the port is part of the Host header
vh "$MAIN" port.example.com:8080 vh_exact_port
vh "$MAIN" PORT.example.com:8080 vh_exact_port
vh "$MAIN" port.example.com vh_suffix
vh "$MAIN" exact.example.com:8080 vh_any
vh "$MAIN" api.foo:9000 vh_prefix

# A virtual host that forwards: exact and "name:*" for any port.
req "http://127.0.0.1:$MAIN/vh-up?x=1" -H "Host: upstream.test"
check "Host upstream.test is proxied to up1" eq "$R_CODE $(efield server)" "200 up1"
check "upstream sees the Host unchanged" eq "$(ehdr host)" "upstream.test"
check "upstream sees the path and query" eq "$(efield path)" "/vh-up?x=1"
req "http://127.0.0.1:$MAIN/" -H "Host: upstream.test:1234"
check "Host upstream.test:1234 matches 'upstream.test:*'" eq "$R_CODE $(efield server)" "200 up1"

# No "*": an unmatched host is a 404 with no_route counted.
before=$(px_stat vh http.vh_nostar.no_route)
vh "$NOSTAR" exact.example.com vh_exact
vh "$NOSTAR" a.example.com vh_suffix
vh "$NOSTAR" api.x vh_prefix
req "http://127.0.0.1:$NOSTAR/" -H "Host: other.host"
check "no virtual host: 404" eq "$R_CODE" 404
check "no virtual host: empty body" eq "$R_BODY" ""
check "no virtual host: server: envoy" eq "$(rhdr server)" envoy
req "http://127.0.0.1:$NOSTAR/" -H "Host: exact.example.com:8080"
check "port kept: exact.example.com:8080 matches no virtual host (404)" eq "$R_CODE" 404
check "http.vh_nostar.no_route counts both" eq "$(px_stat vh http.vh_nostar.no_route)" $((before + 2))

# strip_any_host_port and ignore_port_in_host_matching drop the port.
vh "$STRIP" exact.example.com:8080 vh_exact
vh "$STRIP" a.example.com:1 vh_suffix
vh "$STRIP" api.foo:443 vh_prefix
vh "$IGNP" exact.example.com:8080 vh_exact
vh "$IGNP" a.example.com:8080 vh_suffix
req "http://127.0.0.1:$IGNP/" -H "Host: other.host:8080"
check "ignore_port_in_host_matching: unmatched host still 404" eq "$R_CODE" 404

px_stop vh
rt_finish
