#!/usr/bin/env bash
# Regenerates include/roomcast.h from ffi/src with the pinned cbindgen CLI
# (its version is in scripts/lib.sh; .ci/run installs it).
#   scripts/gen-header.sh           regenerate include/roomcast.h
#   scripts/gen-header.sh --check   fail if the checked-in header differs
. "$(dirname "$0")/lib.sh"
require cbindgen

out=include/roomcast.h
if [ "${1:-}" = "--check" ]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  cbindgen_bin --quiet --config ffi/cbindgen.toml --crate roomcast-ffi --output "$fresh" ffi
  if ! diff -u "$out" "$fresh"; then
    echo "include/roomcast.h is out of date: run scripts/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "header up to date ($out, cbindgen $CBINDGEN_VERSION)"
else
  cbindgen_bin --quiet --config ffi/cbindgen.toml --crate roomcast-ffi --output "$out" ffi
  echo "wrote $out"
fi
