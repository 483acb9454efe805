#!/usr/bin/env bash
# Regenerates include/roomcast.h from ffi/src with the pinned cbindgen CLI,
# installing it (cargo install --locked) if it is missing or another version.
#   scripts/gen-header.sh           regenerate include/roomcast.h
#   scripts/gen-header.sh --check   fail if the checked-in header differs
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.28.0

bin=$(command -v cbindgen || true)
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if [ -z "$bin" ] && [ -x "$cargo_bin/cbindgen" ]; then bin="$cargo_bin/cbindgen"; fi
if [ -z "$bin" ] || [ "$("$bin" --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "installing cbindgen $CBINDGEN_VERSION" >&2
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet >&2
  bin="$cargo_bin/cbindgen"
fi

out=include/roomcast.h
if [ "${1:-}" = "--check" ]; then
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  "$bin" --quiet --config ffi/cbindgen.toml --crate roomcast-ffi --output "$fresh" ffi
  if ! diff -u "$out" "$fresh"; then
    echo "include/roomcast.h is out of date: run scripts/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "header up to date ($out, cbindgen $CBINDGEN_VERSION)"
else
  "$bin" --quiet --config ffi/cbindgen.toml --crate roomcast-ffi --output "$out" ffi
  echo "wrote $out"
fi
