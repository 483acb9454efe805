#!/usr/bin/env bash
# Runs every check the project has: formatting, lints, examples, unit,
# integration, property and stress tests, doctests. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== examples"
cargo run --quiet --example quickstart >/dev/null

echo "== cargo test (debug)"
cargo test --workspace 2>&1 | tee -a "$log"

echo "== stress and property tests (release)"
cargo test --workspace --release --test stress --test model 2>&1 | tee -a "$log"

# One closing line for the whole run.
awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "all tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
