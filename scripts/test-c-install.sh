#!/usr/bin/env bash
# Tests scripts/install-c.sh the way a C user consumes the library: installs
# with PREFIX=/usr/local into a DESTDIR staging directory, checks the files
# and the SONAME, then builds examples/c/quickstart.c as an outside project
# (its own directory, nothing from the source tree on its paths) three times
# and runs each binary:
#   1. cc ... $(pkg-config --cflags --libs roomcast)        (shared)
#   2. cc ... $(pkg-config --static --cflags --libs roomcast), linking
#      libroomcast.a: Libs.private must name every system library it needs
#   3. CMake find_package(roomcast CONFIG REQUIRED), roomcast::roomcast
#   4. the same CMake project, roomcast::roomcast_static
# The installed header declares the Redis adapter (ROOMCAST_FEATURE_REDIS).
# Then the minimal library: scripts/deps-without-redis.sh proves its graph
# has no tokio or redis-rs, `install-c.sh --no-redis` installs it into a
# second staging directory, and the checks are that neither its symbols nor
# its header have Redis names and that the quickstart builds (pkg-config,
# shared and static) and runs against it.
# Needs cc, pkg-config, cmake, readelf and nm (.ci/run installs them).
# Outputs go to target/c-install/. Prints "c-install tests: N passed, N failed".
. "$(dirname "$0")/lib.sh"
require cc pkg-config cmake readelf nm

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

echo "== c-install: static build with pkg-config --static (Libs.private)"
static_flags=$(pkg-config --static --cflags --libs roomcast)
echo "pkg-config --static --cflags --libs roomcast: $static_flags"
# -l:libroomcast.a makes the linker take the archive where -lroomcast would
# prefer the shared library; the rest of the line is pkg-config's own.
# shellcheck disable=SC2086
if (cd "$app" && cc -std=c11 -Wall -Wextra -Wpedantic -Werror quickstart.c ${static_flags/-lroomcast/-l:libroomcast.a} \
  -o quickstart_pc_static) && ! readelf -d "$app/quickstart_pc_static" | grep -q "libroomcast" &&
  "$app/quickstart_pc_static" >/dev/null; then
  ok "pkg-config --static build runs (libroomcast.a; Libs.private: $(sed -n 's/^Libs.private: //p' "$lib/pkgconfig/roomcast.pc"))"
else
  bad "pkg-config --static build"
fi

echo "== c-install: the installed header and pkg-config file state the redis feature"
cat >"$app/redis_probe.c" <<'C'
#include <roomcast.h>
int main(void) {
    roomcast_redis *r = NULL;
    if (roomcast_redis_new("not a url", &r) != ROOMCAST_RESULT_INVALID_ARGUMENT) return 1;
    roomcast_redis_free(r);
    return 0;
}
C
# shellcheck disable=SC2086
if [ "$(pkg-config --variable=features roomcast)" = redis ] &&
  (cd "$app" && cc -std=c11 -Wall -Wextra -Werror redis_probe.c $flags -o redis_probe) && run "$app/redis_probe"; then
  ok "features=redis; the Redis declarations are visible with no extra define"
else
  bad "redis feature of the default install"
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

echo "== c-install: minimal library (no redis feature)"
if ./scripts/deps-without-redis.sh roomcast-ffi; then
  ok "cargo tree: no tokio or redis-rs without the redis feature"
else
  bad "cargo tree of roomcast-ffi --no-default-features"
fi
mstage="$work/stage-minimal"
DESTDIR="$mstage" ./scripts/install-c.sh --no-redis "$prefix"
mlib="$mstage$prefix/lib"
redis_syms=$(nm -D --defined-only "$mlib/libroomcast.so.$version" | grep -ci redis || true)
all_syms=$(nm -D --defined-only "$mlib/libroomcast.so.$version" | grep -c " T roomcast_" || true)
if [ "$redis_syms" -eq 0 ] && [ "$all_syms" -gt 100 ] && ! grep -q "ROOMCAST_FEATURE_REDIS 1" "$mstage$prefix/include/roomcast.h"; then
  ok "minimal library: $all_syms roomcast_ functions, none about redis; header without ROOMCAST_FEATURE_REDIS"
else
  bad "minimal library has redis symbols ($redis_syms) or a header defining ROOMCAST_FEATURE_REDIS"
fi
echo "libroomcast.so.$version: $(du -k "$lib/libroomcast.so.$version" | cut -f1) KiB with redis, $(du -k "$mlib/libroomcast.so.$version" | cut -f1) KiB without; libroomcast.a: $(du -k "$lib/libroomcast.a" | cut -f1) KiB with, $(du -k "$mlib/libroomcast.a" | cut -f1) KiB without"
export PKG_CONFIG_PATH="$mlib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$mstage"
mflags=$(pkg-config --cflags --libs roomcast)
mstatic=$(pkg-config --static --cflags --libs roomcast)
# shellcheck disable=SC2086
if [ -z "$(pkg-config --variable=features roomcast)" ] &&
  (cd "$app" && cc -std=c11 -Wall -Wextra -Wpedantic -Werror quickstart.c $mflags -o quickstart_min &&
    cc -std=c11 -Wall -Wextra -Wpedantic -Werror quickstart.c ${mstatic/-lroomcast/-l:libroomcast.a} \
      -o quickstart_min_static) &&
  LD_LIBRARY_PATH="$mlib" "$app/quickstart_min" && "$app/quickstart_min_static" >/dev/null; then
  ok "quickstart against the minimal library (pkg-config, shared and static) runs"
else
  bad "quickstart against the minimal library"
fi
# shellcheck disable=SC2086
if (cd "$app" && cc -std=c11 -Wall -Wextra -Werror redis_probe.c $mflags -o redis_probe_min) >"$work/probe_min.log" 2>&1; then
  bad "a program using roomcast_redis_new compiled against the minimal header"
else
  ok "the minimal header has no Redis declarations ($(grep -m1 -o "unknown type name .roomcast_redis." "$work/probe_min.log" || echo "compile error"))"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

echo "c-install tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
