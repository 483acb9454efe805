#!/usr/bin/env bash
# Runs every check the project has: formatting, lints, unit, integration,
# property and stress tests, doctests, examples. CI calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (debug)"
cargo test --workspace

echo "== stress and property tests (release)"
cargo test --workspace --release --test stress --test model

echo "== examples"
cargo run --quiet --example quickstart
