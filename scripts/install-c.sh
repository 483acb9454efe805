#!/usr/bin/env bash
# Builds the C library in release mode and installs it under a prefix:
#   PREFIX/lib/libroomcast.so.X.Y.Z   shared library, SONAME libroomcast.so.X
#   PREFIX/lib/libroomcast.so.X, PREFIX/lib/libroomcast.so   symlinks
#   PREFIX/lib/libroomcast.a          static library
#   PREFIX/include/roomcast.h         the header
#   PREFIX/lib/pkgconfig/roomcast.pc  pkg-config file
#   PREFIX/lib/cmake/roomcast/roomcastConfig{,Version}.cmake
#                                     CMake package: roomcast::roomcast (shared)
#                                     and roomcast::roomcast_static
#
#   scripts/install-c.sh [--no-redis] [PREFIX]
#                                     PREFIX defaults to /usr/local; --no-redis
#                                     builds without the `redis` cargo feature
#                                     (no Redis adapter, no tokio or redis-rs)
#   DESTDIR=/tmp/stage scripts/install-c.sh /usr
#                                     stages the files under /tmp/stage/usr, with
#                                     every path inside them still saying /usr
# The CMake package finds its files relative to its own location, so a staged
# or moved prefix works as is; roomcast.pc names PREFIX (use
# PKG_CONFIG_SYSROOT_DIR=$DESTDIR to build against a staged copy).
# The libraries are installed without debug info unless KEEP_DEBUG=1.
# Optional parts: with the `redis` feature (the default) the installed header
# defines ROOMCAST_FEATURE_REDIS, which unhides its Redis declarations;
# roomcast.pc's `features` variable and CMake's roomcast_FEATURES list the
# features the library was built with.
# scripts/test-c-install.sh (run by scripts/test.sh) tests all of this.
. "$(dirname "$0")/lib.sh"

redis=1
if [ "${1:-}" = "--no-redis" ]; then redis=0; shift; fi
prefix=${1:-/usr/local}
case "$prefix" in /*) ;; *) echo "install-c.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;; esac
prefix=${prefix%/}
libdir=lib
destdir=${DESTDIR:-}

version=$(workspace_version)
major=${version%%.*}
soname="libroomcast.so.$major"
real="libroomcast.so.$version"

cargo_features=() features=""
[ "$redis" -eq 1 ] && features="redis" || cargo_features=(--no-default-features)
echo "== install-c: cargo build (release) with SONAME $soname, features: ${features:-none}"
# `cargo rustc` passes the link argument to this crate only, so the
# dependencies are shared with every other release build. rustc reports the
# system libraries the static library needs (native-static-libs); cargo
# replays that note when the build is already fresh.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo rustc --quiet --release -p roomcast-ffi "${cargo_features[@]}" -- -C "link-arg=-Wl,-soname,$soname" \
  --print native-static-libs 2>"$log"; then
  cat "$log" >&2
  exit 1
fi
out="$target/release"
static_libs=$(sed -n 's/^note: native-static-libs: //p' "$log" | tail -1)
[ -n "$static_libs" ] || { cat "$log" >&2; echo "install-c.sh: rustc printed no native-static-libs" >&2; exit 1; }

root="$destdir$prefix"
echo "== install-c: installing into $root"
install -d "$root/$libdir/pkgconfig" "$root/$libdir/cmake/roomcast" "$root/include"
install -m 0755 "$out/libroomcast.so" "$root/$libdir/$real"
ln -sfn "$real" "$root/$libdir/$soname"
ln -sfn "$soname" "$root/$libdir/libroomcast.so"
install -m 0644 "$out/libroomcast.a" "$root/$libdir/libroomcast.a"
# The installed header states the library's optional parts, so a program
# sees exactly the declarations the library has.
if [ "$redis" -eq 1 ]; then
  sed '/^#define ROOMCAST_H$/a\
\
/* Optional parts this library was built with (see "Optional parts" above). */\
#ifndef ROOMCAST_FEATURE_REDIS\
#define ROOMCAST_FEATURE_REDIS 1\
#endif' include/roomcast.h >"$root/include/roomcast.h"
  grep -q "^#define ROOMCAST_FEATURE_REDIS 1$" "$root/include/roomcast.h" ||
    { echo "install-c.sh: could not mark the header with ROOMCAST_FEATURE_REDIS" >&2; exit 1; }
  chmod 0644 "$root/include/roomcast.h"
else
  install -m 0644 include/roomcast.h "$root/include/roomcast.h"
fi
# The release profile keeps debug info for profiling; an installed library
# does not need it (KEEP_DEBUG=1 keeps it). Symbols stay: `--strip-debug`.
if [ "${KEEP_DEBUG:-0}" != 1 ]; then
  require strip
  strip --strip-debug "$root/$libdir/$real" "$root/$libdir/libroomcast.a"
fi

# For the CMake version file: the pointer size the library was built for.
[ -n "${CC:-}" ] || require cc
ptr_size=$(echo | ${CC:-cc} -dM -E - | awk '/__SIZEOF_POINTER__/ { print $3 }')

# The same list for CMake's INTERFACE_LINK_LIBRARIES: "-lm -lc" -> "m;c".
cmake_static_libs=$(sed -e 's/^-l//' -e 's/ -l/;/g' <<<"$static_libs")

subst() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$libdir|g" -e "s|@VERSION@|$version|g" \
    -e "s|@SONAME@|$soname|g" -e "s|@REALNAME@|$real|g" -e "s|@STATIC_LIBS@|$static_libs|g" \
    -e "s|@SIZEOF_VOID_P@|$ptr_size|g" -e "s|@FEATURES@|$features|g" \
    -e "s|@CMAKE_STATIC_LIBS@|$cmake_static_libs|g" "$1"
}
subst ffi/pkgconfig/roomcast.pc.in >"$root/$libdir/pkgconfig/roomcast.pc"
subst ffi/cmake/roomcastConfig.cmake.in >"$root/$libdir/cmake/roomcast/roomcastConfig.cmake"
subst ffi/cmake/roomcastConfigVersion.cmake.in >"$root/$libdir/cmake/roomcast/roomcastConfigVersion.cmake"
chmod 0644 "$root/$libdir/pkgconfig/roomcast.pc" "$root/$libdir/cmake/roomcast/"*.cmake

(cd "$root" && find . \( -type f -o -type l \) -path "*roomcast*" | sort | sed "s|^\.|  $root|")
