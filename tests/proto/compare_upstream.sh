#!/usr/bin/env bash
# Checks that every message, field, enum value and rpc declared in xproxy's
# proto/ exists identically (field: name, number, label, type, type name,
# oneof; rpc: request/response types and streaming) in the upstream protos
# of the same files. Our files are a subset, so only what we declare is
# checked; every difference is listed and the script exits 1.
#
# Usage: tests/proto/compare_upstream.sh [UPSTREAM_DEPS_DIR]
#   UPSTREAM_DEPS_DIR holds envoy-api/, googleapis/, protoc-gen-validate/ and
#   xds/ (the layout of the @grpc/grpc-js-xds npm package's deps/). Without
#   an argument the package is fetched with `npm pack` into a temp dir.
# Needs protoc on PATH and the protobuf well-known types in /usr/include.
# Not part of CI (it may need the network).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ours_root=$(cd "$here/../../proto" && pwd)
wkt_root=${WKT_ROOT:-/usr/include}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ $# -ge 1 ]; then
  deps=$(cd "$1" && pwd)
else
  (cd "$work" && npm pack --silent @grpc/grpc-js-xds >/dev/null && tar xzf grpc-grpc-js-xds-*.tgz)
  deps="$work/package/deps"
fi

# Our .proto files, relative to proto/.
mapfile -t files < <(cd "$ours_root" && find . -name '*.proto' | sed 's|^\./||' | sort)
if [ ${#files[@]} -eq 0 ]; then
  echo "no .proto files under $ours_root" >&2
  exit 2
fi

# --- descriptor sets --------------------------------------------------------
protoc -I"$ours_root" -I"$wkt_root" --include_imports \
  --descriptor_set_out="$work/ours.pb" "${files[@]}"

# The validate.proto bundled with some upstream snapshots lags behind the
# Envoy protos that use it (e.g. StringRules.ignore_empty). Options do not
# matter for this check, so a private copy is patched with any bool rule the
# compiler reports missing, and the compile is retried.
mkdir -p "$work/pgv"
cp -r "$deps/protoc-gen-validate/validate" "$work/pgv/"
inc=(-I"$deps/envoy-api" -I"$deps/googleapis" -I"$work/pgv" -I"$deps/xds")
[ -d "$deps/udpa" ] && inc+=(-I"$deps/udpa")
[ -d "$deps/cncf-xds" ] && inc+=(-I"$deps/cncf-xds")
inc+=(-I"$wkt_root")
extra=0
for attempt in $(seq 1 50); do
  if protoc "${inc[@]}" --include_imports --descriptor_set_out="$work/up.pb" \
    "${files[@]}" 2>"$work/up.err"; then
    break
  fi
  missing=$(sed -n 's/.*Message type "validate\.\([A-Za-z]*\)" has no field named "\([a-z_]*\)".*/\1 \2/p' \
    "$work/up.err" | sort -u)
  if [ -z "$missing" ] || [ "$attempt" -eq 50 ]; then
    cat "$work/up.err" >&2
    echo "upstream protos do not compile (a file of ours with no upstream twin?)" >&2
    exit 2
  fi
  while read -r msg fld; do
    # Add "optional bool <fld> = <unused number>;" first in "message <msg> {".
    extra=$((extra + 1))
    n=$((900 + extra))
    sed -i "0,/^message $msg {/s//message $msg {\n  optional bool $fld = $n;/" \
      "$work/pgv/validate/validate.proto"
  done <<<"$missing"
done

decode() {
  protoc -I"$wkt_root" --decode=google.protobuf.FileDescriptorSet \
    google/protobuf/descriptor.proto <"$1"
}
decode "$work/ours.pb" >"$work/ours.txt"
decode "$work/up.pb" >"$work/up.txt"

# --- flatten a decoded FileDescriptorSet into one line per fact -------------
# F <message> <field> <number> <label> <type> <type_name> <oneof>
# M <message>
# E <enum> <value> <number>
# R <service> <method> <input> <output> <client_streaming> <server_streaming>
cat >"$work/flat.awk" <<'AWK'
function unq(s) { sub(/^[^:]*: */, "", s); gsub(/"/, "", s); return s }
function prefix(   i, p) {
  p = pkg
  for (i = 1; i <= mdepth; i++) p = p (p == "" ? "" : ".") mname[i]
  return p
}
/\{$/ {
  k = $1
  sp++; kind[sp] = k
  if (k == "message_type" || k == "nested_type") {
    mdepth++; mname[mdepth] = ""; nf[mdepth] = 0; no[mdepth] = 0
  } else if (k == "field") {
    fname = fnum = flabel = ftype = ftn = ""; foneof = "-"
  } else if (k == "enum_type") {
    ename = ""; edepth = sp
  } else if (k == "value") {
    vname = vnum = ""
  } else if (k == "oneof_decl") {
    oname = ""
  } else if (k == "method") {
    rname = rin = rout = ""; rcs = rss = "false"
  }
  next
}
/^ *\}$/ {
  k = kind[sp]
  if (k == "field" && kind[sp - 1] != "extension") {
    nf[mdepth]++
    fl[mdepth, nf[mdepth]] = fname " " fnum " " flabel " " ftype " " (ftn == "" ? "-" : ftn)
    fo[mdepth, nf[mdepth]] = foneof
  } else if (k == "oneof_decl") {
    on[mdepth, no[mdepth]] = oname; no[mdepth]++
  } else if (k == "value" && kind[sp - 1] == "enum_type") {
    print "E " prefix() "." ename " " vname " " vnum
  } else if (k == "method") {
    print "R " pkg "." sname " " rname " " rin " " rout " " rcs " " rss
  } else if (k == "message_type" || k == "nested_type") {
    full = prefix()
    print "M " full
    for (i = 1; i <= nf[mdepth]; i++) {
      o = fo[mdepth, i]
      print "F " full " " fl[mdepth, i] " " (o == "-" ? "-" : on[mdepth, o])
    }
    mdepth--
  }
  sp--
  next
}
{
  k = kind[sp]
  if (k == "file" && $1 == "package:") pkg = unq($0)
  else if (k == "file" && $1 == "name:") { pkg = ""; mdepth = 0 }
  else if ((k == "message_type" || k == "nested_type") && $1 == "name:") mname[mdepth] = unq($0)
  else if (k == "field") {
    if ($1 == "name:") fname = unq($0)
    else if ($1 == "number:") fnum = unq($0)
    else if ($1 == "label:") flabel = unq($0)
    else if ($1 == "type:") ftype = unq($0)
    else if ($1 == "type_name:") ftn = unq($0)
    else if ($1 == "oneof_index:") foneof = unq($0)
  }
  else if (k == "enum_type" && $1 == "name:") ename = unq($0)
  else if (k == "value" && $1 == "name:") vname = unq($0)
  else if (k == "value" && $1 == "number:") vnum = unq($0)
  else if (k == "oneof_decl" && $1 == "name:") oname = unq($0)
  else if (k == "service" && $1 == "name:") sname = unq($0)
  else if (k == "method") {
    if ($1 == "name:") rname = unq($0)
    else if ($1 == "input_type:") rin = unq($0)
    else if ($1 == "output_type:") rout = unq($0)
    else if ($1 == "client_streaming:") rcs = unq($0)
    else if ($1 == "server_streaming:") rss = unq($0)
  }
}
AWK
awk -f "$work/flat.awk" "$work/ours.txt" | sort -u >"$work/ours.flat"
awk -f "$work/flat.awk" "$work/up.txt" | sort -u >"$work/up.flat"

# Only facts from our own files are checked (the well-known types come from
# the same /usr/include on both sides).
grep -v -E '^[FEMR] google\.protobuf\.' "$work/ours.flat" >"$work/ours.chk" || true
comm -23 "$work/ours.chk" "$work/up.flat" >"$work/diff"

nfield=$(grep -c '^F' "$work/ours.chk" || true)
nenum=$(grep -c '^E' "$work/ours.chk" || true)
nrpc=$(grep -c '^R' "$work/ours.chk" || true)
nmsg=$(grep -c "^M" "$work/ours.chk" || true)
echo "checked ${#files[@]} files: $nfield fields in $nmsg messages, $nenum enum values, $nrpc rpcs"
if [ -s "$work/diff" ]; then
  echo "NOT identical upstream ($(wc -l <"$work/diff")):"
  while read -r line; do
    read -r kind name member _rest <<<"$line"
    echo "  ours:     $line"
    # Show upstream's version of the same message/field/value/rpc, if any.
    pat="^$kind $(printf '%s' "$name" | sed 's/\./\\./g')"
    [ "$kind" = M ] || pat="$pat $member "
    theirs=$(grep -E "$pat" "$work/up.flat" || true)
    if [ -n "$theirs" ]; then
      printf '%s\n' "$theirs" | sed 's/^/  upstream: /'
    else
      echo "  upstream: (none)"
    fi
  done <"$work/diff"
  exit 1
fi
echo "OK: all identical upstream"
