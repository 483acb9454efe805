#!/usr/bin/env bash
# Runs the core's loom models: the outbox (push racing async and blocking
# receivers, close, drop_oldest eviction racing a batch receive), the spin
# lock under it, and the message reference count. The crate is built with
# `--cfg loom`, which swaps `core/src/sync.rs` to loom's primitives; only
# the `loom_tests` modules run in that build.
. "$(dirname "$0")/lib.sh"
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
# A target dir of its own: the cfg changes every crate's build.
export CARGO_TARGET_DIR="$target/loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
start=$(date +%s)
# A debug build: the models are small, so building the dependencies once
# more (the cfg changes them all) costs far more than running them.
cargo test -p roomcast --lib -- loom_tests --test-threads=2 "$@"
echo "loom models: $(( $(date +%s) - start )) s"
