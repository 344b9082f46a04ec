#!/usr/bin/env bash
# --mode validate over a table of malformed bootstraps (tests/integration/bad):
# each must exit non-zero and name the broken field's full path and the
# problem. Valid bootstraps (tests/integration/good) must pass.
XPROXY=$1
DIR=$(dirname "$0")
. "$DIR/lib.sh"

n=0
for f in "$DIR"/bad/*.yaml; do
    n=$((n + 1))
    name=$(basename "$f" .yaml)
    path=$(sed -n 's/^# path: //p' "$f")
    msg=$(sed -n 's/^# message: //p' "$f")
    out=$("$XPROXY" --mode validate -c "$f" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        not_ok "$name: exit code 0, expected failure"
        continue
    fi
    if [ -n "$path" ] && ! contains "$out" "error: $path: "; then
        not_ok "$name: no error at '$path' in: $out"
        continue
    fi
    if ! contains "$out" "$msg"; then
        not_ok "$name: message lacks '$msg' in: $out"
        continue
    fi
    ok "$name"
done
check "at least 30 malformed bootstraps ($n)" [ "$n" -ge 30 ]

for f in "$DIR"/good/*; do
    out=$("$XPROXY" --mode validate -c "$f" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && contains "$out" "OK"; then
        ok "valid $(basename "$f")"
    else
        not_ok "valid $(basename "$f") rejected (rc $rc): $out"
    fi
done

# Http1ProtocolOptions fields xproxy does not implement: accepted, each
# with a warning naming it and saying what xproxy does instead.
h1="$XP_TMP/http1_options.yaml"
sed -e 's/^          stat_prefix: ingress_http$/&\
          http_protocol_options:\
            allow_absolute_url: false\
            header_key_format: { proper_case_words: {} }\
            enable_trailers: true\
            allow_chunked_length: true\
            override_stream_error_on_invalid_http_message: true\
            send_fully_qualified_url: true\
            accept_http_10: true/' "$DIR/good/basic.yaml" >"$h1"
out=$("$XPROXY" --mode validate -c "$h1" 2>&1)
check "unimplemented http_protocol_options: still valid" contains "$out" "OK"
hpo="static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_protocol_options"
for f in allow_absolute_url header_key_format enable_trailers allow_chunked_length \
    override_stream_error_on_invalid_http_message send_fully_qualified_url; do
    check "http_protocol_options.$f: warning naming it" \
        contains "$out" "warning: $hpo.$f: not implemented by xproxy; "
done
check "accept_http_10 (implemented): no warning" not_contains "$out" "$hpo.accept_http_10"

out=$("$XPROXY" --mode validate -c "$XP_TMP/missing.yaml" 2>&1)
check "missing file names the file" contains "$out" "missing.yaml"

# --config-yaml alone is a whole bootstrap; a bad one names its field.
out=$("$XPROXY" --mode validate --config-yaml 'admin: {address: {socket_address: {address: 127.0.0.1, port_value: 70000}}}' 2>&1)
check "--config-yaml errors name the path" contains "$out" "admin.address.socket_address.port_value"

finish
