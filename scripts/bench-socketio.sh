#!/usr/bin/env bash
# Socket.IO fan-out benchmark: roomcast-socketio against Node's socket.io
# 4.8.1 (installed from npm into socketio/bench/node/node_modules), the same
# Rust WebSocket clients measuring both in one run; prints deliveries/s
# (median of repetitions) and the ratio. Arguments go to the benchmark
# (e.g. --clients 50 --messages 2000 --size 64 --reps 5).
. "$(dirname "$0")/lib.sh"
node_deps socketio/bench/node
cargo build --quiet --release -p roomcast-socketio --example bench_fanout

log=$(mktemp)
trap 'kill ${started_pid:-} 2>/dev/null || true; rm -f "$log"' EXIT
start_listening "$log" node socketio/bench/node/server.mjs 0 || { cat "$log"; die "the baseline server did not start"; }
addr=$started_addr
echo "command: scripts/bench-socketio.sh $*"
"$target/release/examples/bench_fanout" --baseline "http://$addr" "$@"
