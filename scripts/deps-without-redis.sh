#!/usr/bin/env bash
# The dependency graph of a binding crate with and without its `redis` cargo
# feature. Prints the number of crates in each (`cargo tree -e normal`: what
# is compiled into the library, the crate itself included) and fails unless
# the default graph has tokio and redis-rs and the graph without the feature
# has neither.
#   scripts/deps-without-redis.sh roomcast-ffi        (the C library)
#   scripts/deps-without-redis.sh roomcast-python     (the Python module)
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=${1:?usage: scripts/deps-without-redis.sh roomcast-ffi|roomcast-python}

crates() { # the crates (name version) of the package's normal graph
  cargo tree --quiet -p "$pkg" "$@" -e normal --prefix none -f '{p}' | sed 's/ (\*)$//' | sort -u
}
with=$(crates)
without=$(crates --no-default-features)
heavy() { grep -E '^(tokio|redis) ' <<<"$1" || true; }

echo "$pkg dependency graph: $(wc -l <<<"$with") crates with redis (default), $(wc -l <<<"$without") without (--no-default-features)"
if [ "$(heavy "$with" | wc -l)" -ne 2 ]; then
  echo "deps-without-redis.sh: the default graph of $pkg should have tokio and redis:" >&2
  heavy "$with" >&2
  exit 1
fi
if [ -n "$(heavy "$without")" ]; then
  echo "deps-without-redis.sh: $pkg --no-default-features still depends on:" >&2
  heavy "$without" >&2
  cargo tree -p "$pkg" --no-default-features -e normal -i tokio >&2 || true
  exit 1
fi
echo "without redis: no tokio, no redis-rs"
