#!/usr/bin/env bash
# Regenerates the published benchmark results in docs/bench/ (about 3
# minutes on 2 cores). Pass --quick for a few-second correctness run.
. "$(dirname "$0")/lib.sh"
cargo build --release -p roomcast-bench
if [ "${1:-}" = "--quick" ]; then
  exec "$target/release/roomcast-bench" --quick
fi
mkdir -p docs/bench
"$target/release/roomcast-bench" --json docs/bench/results.json --svg docs/bench/sweep.svg \
  --markdown docs/bench/results.md "$@"
