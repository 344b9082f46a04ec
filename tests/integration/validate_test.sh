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

out=$("$XPROXY" --mode validate -c "$XP_TMP/missing.yaml" 2>&1)
check "missing file names the file" contains "$out" "missing.yaml"

# --config-yaml alone is a whole bootstrap; a bad one names its field.
out=$("$XPROXY" --mode validate --config-yaml 'admin: {address: {socket_address: {address: 127.0.0.1, port_value: 70000}}}' 2>&1)
check "--config-yaml errors name the path" contains "$out" "admin.address.socket_address.port_value"

finish
