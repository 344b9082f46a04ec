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

# unhonoured NAME FIELDS-YAML PATH UNIMPLEMENTED IMPLEMENTED: basic.yaml with
# FIELDS-YAML (sed-escaped lines) after the HCM's stat_prefix validates, with
# a warning naming each unimplemented field under PATH and saying what
# xproxy does instead, and none for the implemented ones.
unhonoured() {
    local name=$1 fields=$2 path=$3 f out
    sed -e "s/^          stat_prefix: ingress_http\$/&\\$fields/" "$DIR/good/basic.yaml" >"$XP_TMP/$name.yaml"
    out=$("$XPROXY" --mode validate -c "$XP_TMP/$name.yaml" 2>&1)
    check "$name: unimplemented fields, still valid" contains "$out" "OK"
    for f in $4; do
        check "$name: $f: warning naming it" contains "$out" "warning: $path.$f: not implemented by xproxy; "
    done
    for f in $5; do
        check "$name: $f (implemented): no warning" not_contains "$out" "$path.$f"
    done
}
tc="static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
unhonoured http_protocol_options '
          http_protocol_options:\
            allow_absolute_url: false\
            header_key_format: { proper_case_words: {} }\
            enable_trailers: true\
            allow_chunked_length: true\
            override_stream_error_on_invalid_http_message: true\
            send_fully_qualified_url: true\
            accept_http_10: true' "$tc.http_protocol_options" \
    "allow_absolute_url header_key_format enable_trailers allow_chunked_length
     override_stream_error_on_invalid_http_message send_fully_qualified_url" accept_http_10
unhonoured http_connection_manager '
          add_user_agent: true\
          local_reply_config: {}\
          path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT\
          strip_trailing_host_dot: true\
          request_id_extension: {}\
          proxy_100_continue: true\
          stream_error_on_invalid_http_message: true\
          represent_ipv4_remote_address_as_ipv4_mapped_ipv6: true\
          proxy_status_config: {}\
          via: xproxy-edge\
          always_set_request_id_in_response: true\
          append_x_forwarded_port: true\
          forward_client_cert_details: ALWAYS_FORWARD_ONLY' "$tc" \
    "local_reply_config path_with_escaped_slashes_action strip_trailing_host_dot
     request_id_extension proxy_100_continue stream_error_on_invalid_http_message
     represent_ipv4_remote_address_as_ipv4_mapped_ipv6 proxy_status_config" \
    "add_user_agent via always_set_request_id_in_response append_x_forwarded_port
     forward_client_cert_details"

# A binary bootstrap whose node.metadata nests one value N lists deep: past
# protobuf's recursion limit (100 messages) it is refused with an error, as
# Envoy refuses it; nesting of 20,000 used to exhaust the stack in
# protobuf-c. WIRE is printf escapes, WLEN its length in bytes.
wrap() { # wrap FIELD-TAG-BYTE: WIRE becomes that LEN field holding WIRE
    local v=$WLEN hdr="\\x$1" n=1
    while ((v >= 128)); do hdr+=$(printf '\\x%02x' $(((v & 127) | 128))); v=$((v >> 7)); n=$((n + 1)); done
    hdr+=$(printf '\\x%02x' "$v")
    WIRE="$hdr$WIRE" WLEN=$((WLEN + n + 1))
}
deep_pb() { # deep_pb N FILE
    WIRE='\x1a\x01x' WLEN=3 # Value { string_value: "x" }
    local i
    for ((i = 0; i < $1; i++)); do wrap 0a; wrap 32; done # ListValue.values, Value.list_value
    wrap 12; WIRE="\\x0a\\x01k$WIRE" WLEN=$((WLEN + 3)) # the map entry: key "k", value
    wrap 0a; wrap 1a; wrap 0a # Struct.fields, Node.metadata, Bootstrap.node
    printf '%b' "$WIRE" >"$2"
}
deep_pb 40 "$XP_TMP/nest40.pb"
out=$("$XPROXY" --mode validate -c "$XP_TMP/nest40.pb" 2>&1)
check "a binary bootstrap nesting messages 84 deep is valid" contains "$out" "OK"
deep_pb 60 "$XP_TMP/nest60.pb"
out=$("$XPROXY" --mode validate -c "$XP_TMP/nest60.pb" 2>&1)
check "... one nesting them 124 deep is refused, naming the limit" contains "$out" "nest deeper than 100"

out=$("$XPROXY" --mode validate -c "$XP_TMP/missing.yaml" 2>&1)
check "missing file names the file" contains "$out" "missing.yaml"

# --config-yaml alone is a whole bootstrap; a bad one names its field.
out=$("$XPROXY" --mode validate --config-yaml 'admin: {address: {socket_address: {address: 127.0.0.1, port_value: 70000}}}' 2>&1)
check "--config-yaml errors name the path" contains "$out" "admin.address.socket_address.port_value"

finish
