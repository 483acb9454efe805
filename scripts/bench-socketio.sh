#!/usr/bin/env bash
# Socket.IO fan-out benchmark: roomcast-socketio against Node's socket.io
# 4.8.1 (installed from npm into socketio/bench/node/node_modules), the same
# Rust WebSocket clients measuring both in one run; prints deliveries/s
# (median of repetitions) and the ratio. Arguments go to the benchmark
# (e.g. --clients 50 --messages 2000 --size 64 --reps 5).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null || { apt-get update -qq; apt-get install -y -qq nodejs npm >/dev/null; }
(cd socketio/bench/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
cargo build --quiet --release -p roomcast-socketio --example bench_fanout
target=${CARGO_TARGET_DIR:-target}

log=$(mktemp)
node socketio/bench/node/server.mjs 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/^listening on //p' "$log")
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "the baseline server did not start"; exit 1; }
echo "command: scripts/bench-socketio.sh $*"
"$target/release/examples/bench_fanout" --baseline "http://$addr" "$@"
