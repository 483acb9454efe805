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
#   scripts/install-c.sh [PREFIX]     PREFIX defaults to /usr/local
#   DESTDIR=/tmp/stage scripts/install-c.sh /usr
#                                     stages the files under /tmp/stage/usr, with
#                                     every path inside them still saying /usr
# The CMake package finds its files relative to its own location, so a staged
# or moved prefix works as is; roomcast.pc names PREFIX (use
# PKG_CONFIG_SYSROOT_DIR=$DESTDIR to build against a staged copy).
# The libraries are installed without debug info unless KEEP_DEBUG=1.
# scripts/test-c-install.sh (run by scripts/test.sh) tests all of this.
. "$(dirname "$0")/lib.sh"

prefix=${1:-/usr/local}
case "$prefix" in /*) ;; *) echo "install-c.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;; esac
prefix=${prefix%/}
libdir=lib
destdir=${DESTDIR:-}

version=$(workspace_version)
major=${version%%.*}
soname="libroomcast.so.$major"
real="libroomcast.so.$version"

echo "== install-c: cargo build (release) with SONAME $soname"
# `cargo rustc` passes the link argument to this crate only, so the
# dependencies are shared with every other release build.
cargo rustc --quiet --release -p roomcast-ffi -- -C "link-arg=-Wl,-soname,$soname"
out="$target/release"

# The system libraries the static library needs (rustc's native-static-libs).
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

root="$destdir$prefix"
echo "== install-c: installing into $root"
install -d "$root/$libdir/pkgconfig" "$root/$libdir/cmake/roomcast" "$root/include"
install -m 0755 "$out/libroomcast.so" "$root/$libdir/$real"
ln -sfn "$real" "$root/$libdir/$soname"
ln -sfn "$soname" "$root/$libdir/libroomcast.so"
install -m 0644 "$out/libroomcast.a" "$root/$libdir/libroomcast.a"
install -m 0644 include/roomcast.h "$root/include/roomcast.h"
# The release profile keeps debug info for profiling; an installed library
# does not need it (KEEP_DEBUG=1 keeps it). Symbols stay: `--strip-debug`.
if [ "${KEEP_DEBUG:-0}" != 1 ]; then
  require strip
  strip --strip-debug "$root/$libdir/$real" "$root/$libdir/libroomcast.a"
fi

# For the CMake version file: the pointer size the library was built for.
[ -n "${CC:-}" ] || require cc
ptr_size=$(echo | ${CC:-cc} -dM -E - | awk '/__SIZEOF_POINTER__/ { print $3 }')

subst() {
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$libdir|g" -e "s|@VERSION@|$version|g" \
    -e "s|@SONAME@|$soname|g" -e "s|@REALNAME@|$real|g" -e "s|@STATIC_LIBS@|$static_libs|g" \
    -e "s|@SIZEOF_VOID_P@|$ptr_size|g" "$1"
}
subst ffi/pkgconfig/roomcast.pc.in >"$root/$libdir/pkgconfig/roomcast.pc"
subst ffi/cmake/roomcastConfig.cmake.in >"$root/$libdir/cmake/roomcast/roomcastConfig.cmake"
subst ffi/cmake/roomcastConfigVersion.cmake.in >"$root/$libdir/cmake/roomcast/roomcastConfigVersion.cmake"
chmod 0644 "$root/$libdir/pkgconfig/roomcast.pc" "$root/$libdir/cmake/roomcast/"*.cmake

(cd "$root" && find . \( -type f -o -type l \) -path "*roomcast*" | sort | sed "s|^\.|  $root|")
