#!/usr/bin/env bash
# Builds the Python package as a wheel a user installs with no compiler:
# abi3 (one wheel for CPython >= 3.9), manylinux2014 (glibc >= 2.17), linked
# through zig so the glibc symbol versions stay at 2.17 whatever this
# machine's glibc is; then checks it with auditwheel and, with --sdist,
# also builds the source distribution and a wheel from that sdist.
#   scripts/build-wheel.sh [--sdist] [OUTDIR]     OUTDIR defaults to target/wheels
# The build tools (pinned maturin, ziglang and auditwheel from PyPI) go into
# a virtualenv in target/wheel-tools. Needs python3 (>= 3.9), readelf and
# cargo. Prints the wheel's path on the last line.
. "$(dirname "$0")/lib.sh"
require readelf

sdist=0
if [ "${1:-}" = "--sdist" ]; then sdist=1; shift; fi
out=${1:-$root/target/wheels}
mkdir -p "$out"
out=$(cd "$out" && pwd)

MATURIN_VERSION=1.16.0
ZIG_VERSION=0.17.1
AUDITWHEEL_VERSION=6.8.2
tools=$root/target/wheel-tools
echo "== wheel: build tools in $tools"
py_venv "$tools" "maturin==$MATURIN_VERSION" "ziglang==$ZIG_VERSION" "auditwheel==$AUDITWHEEL_VERSION"
export PATH="$tools/bin:$PATH"
# The wheel build's outputs stay apart from the workspace's (maturin
# changes pyo3's build).
export CARGO_TARGET_DIR="$target/python"

arch=$(uname -m)
policy="manylinux_2_17_$arch"

check() { # auditwheel must find the wheel consistent with manylinux2014
  local report
  report=$(auditwheel show "$1")
  echo "$report"
  if ! tr -s ' \n' ' ' <<<"$report" | grep -q "is consistent with the following platform tag: \"$policy\""; then
    echo "build-wheel.sh: $(basename "$1") is not $policy (manylinux2014) compatible" >&2
    exit 1
  fi
  # An extension module resolves the interpreter's symbols at load time; a
  # libpython dependency would tie it to one build of CPython.
  local so
  so=$(mktemp)
  python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
sys.stdout.buffer.write(z.read(next(n for n in z.namelist() if n.endswith(".abi3.so"))))' "$1" >"$so"
  if readelf -d "$so" | grep -q "libpython"; then
    rm -f "$so"
    echo "build-wheel.sh: the extension module links libpython" >&2
    exit 1
  fi
  echo "extension module: $(du -k "$so" | cut -f1) KiB, no libpython dependency"
  rm -f "$so"
}

echo "== wheel: maturin build --release --zig --compatibility manylinux2014"
rm -f "$out"/roomcast-*.whl "$out"/roomcast-*.tar.gz
maturin build --quiet --release --zig --compatibility manylinux2014 -m python/Cargo.toml -o "$out"
wheel=$(ls "$out"/roomcast-*-cp39-abi3-manylinux*.whl)
echo "== wheel: auditwheel show"
check "$wheel"

if [ "$sdist" -eq 1 ]; then
  echo "== wheel: maturin sdist, then a wheel built from the unpacked sdist"
  maturin sdist -m python/Cargo.toml -o "$out"
  tarball=$(ls "$out"/roomcast-*.tar.gz)
  unpacked=$(mktemp -d)
  trap 'rm -rf "$unpacked"' EXIT
  tar -xzf "$tarball" -C "$unpacked"
  from_sdist="$unpacked/wheel"
  (cd "$unpacked"/roomcast-*/ &&
    maturin build --quiet --release --zig --compatibility manylinux2014 -o "$from_sdist")
  check "$(ls "$from_sdist"/roomcast-*.whl)"
  echo "sdist: $tarball ($(du -k "$tarball" | cut -f1) KiB) builds"
fi

echo "wheel: $(du -k "$wheel" | cut -f1) KiB"
echo "$wheel"
