#!/usr/bin/env bash
# Tests scripts/install-c.sh the way a C user consumes the library: installs
# with PREFIX=/usr/local into a DESTDIR staging directory, checks the files
# and the SONAME, then builds examples/c/quickstart.c as an outside project
# (its own directory, nothing from the source tree on its paths) three times
# and runs each binary:
#   1. cc ... $(pkg-config --cflags --libs roomcast)        (shared)
#   2. CMake find_package(roomcast CONFIG REQUIRED), roomcast::roomcast
#   3. the same CMake project, roomcast::roomcast_static
# Needs cc, pkg-config, cmake and readelf (.ci/run installs them).
# Outputs go to target/c-install/. Prints "c-install tests: N passed, N failed".
. "$(dirname "$0")/lib.sh"
require cc pkg-config cmake readelf

work="$target/c-install"
rm -rf "$work"
mkdir -p "$work"
stage="$work/stage"
prefix=/usr/local
passed=0 failed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
bad() { echo "FAILED: $*"; failed=$((failed + 1)); }

echo "== c-install: DESTDIR=$stage scripts/install-c.sh $prefix"
DESTDIR="$stage" ./scripts/install-c.sh "$prefix"
lib="$stage$prefix/lib"
version=$(workspace_version)

echo "== c-install: installed files"
missing=0
for f in "lib/libroomcast.so.$version" lib/libroomcast.so.0 lib/libroomcast.so lib/libroomcast.a \
  include/roomcast.h lib/pkgconfig/roomcast.pc lib/cmake/roomcast/roomcastConfig.cmake \
  lib/cmake/roomcast/roomcastConfigVersion.cmake; do
  [ -e "$stage$prefix/$f" ] || { echo "missing: $prefix/$f"; missing=1; }
done
[ "$missing" -eq 0 ] && ok "all files under DESTDIR" || bad "installed files"

echo "== c-install: SONAME"
readelf -d "$lib/libroomcast.so.$version" | grep -E "SONAME|NEEDED"
if readelf -d "$lib/libroomcast.so.$version" | grep -q "Library soname: \[libroomcast.so.0\]"; then
  ok "SONAME libroomcast.so.0"
else
  bad "SONAME is not libroomcast.so.0"
fi

# The outside project: only the quickstart source, copied away from the tree.
app="$work/app"
mkdir -p "$app"
cp examples/c/quickstart.c "$app/"
cat >"$app/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(roomcast_quickstart C)
find_package(roomcast 0.1 CONFIG REQUIRED)
add_executable(quickstart quickstart.c)
target_link_libraries(quickstart PRIVATE roomcast::roomcast)
add_executable(quickstart_static quickstart.c)
target_link_libraries(quickstart_static PRIVATE roomcast::roomcast_static)
CMAKE
# The staged library is found at run time through LD_LIBRARY_PATH, as an
# installed one would be through the loader's default paths.
run() { LD_LIBRARY_PATH="$lib" "$@"; }

echo "== c-install: build with pkg-config"
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$stage"
flags=$(pkg-config --cflags --libs roomcast)
echo "pkg-config --cflags --libs roomcast: $flags (modversion $(pkg-config --modversion roomcast))"
# shellcheck disable=SC2086
if (cd "$app" && cc -std=c11 -Wall -Wextra -Wpedantic -Werror quickstart.c $flags -o quickstart_pc) &&
  readelf -d "$app/quickstart_pc" | grep -q "Shared library: \[libroomcast.so.0\]" &&
  run "$app/quickstart_pc"; then
  ok "pkg-config build runs (NEEDED libroomcast.so.0)"
else
  bad "pkg-config build"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

echo "== c-install: build with CMake find_package(roomcast CONFIG REQUIRED)"
if cmake -S "$app" -B "$app/build" -DCMAKE_PREFIX_PATH="$stage$prefix" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" \
  >"$work/cmake.log" 2>&1 && cmake --build "$app/build" >>"$work/cmake.log" 2>&1; then
  grep -E "roomcast" "$app/build/CMakeCache.txt" | grep -E "^roomcast_DIR" || true
  if readelf -d "$app/build/quickstart" | grep -q "Shared library: \[libroomcast.so.0\]" &&
    run "$app/build/quickstart"; then
    ok "CMake build runs, roomcast::roomcast (NEEDED libroomcast.so.0)"
  else
    bad "CMake roomcast::roomcast"
  fi
  if ! readelf -d "$app/build/quickstart_static" | grep -q "libroomcast" &&
    "$app/build/quickstart_static"; then
    ok "CMake build runs, roomcast::roomcast_static"
  else
    bad "CMake roomcast::roomcast_static"
  fi
else
  cat "$work/cmake.log"
  bad "CMake configure/build"
fi

echo "== c-install: CMake refuses an incompatible version request"
mkdir -p "$work/app2"
sed 's/find_package(roomcast 0.1 CONFIG REQUIRED)/find_package(roomcast 0.2 CONFIG REQUIRED)/' \
  "$app/CMakeLists.txt" >"$work/app2/CMakeLists.txt"
cp "$app/quickstart.c" "$work/app2/"
if cmake -S "$work/app2" -B "$work/app2/build" -DCMAKE_PREFIX_PATH="$stage$prefix" >"$work/cmake2.log" 2>&1; then
  bad "find_package(roomcast 0.2) accepted $version"
else
  ok "find_package(roomcast 0.2) rejects $version"
fi

echo "c-install tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
