#!/usr/bin/env bash
# Head-to-head chat benchmark: the roomcast chat server, a socketioxide server
# with the same handlers, the Node socket.io 4.8 reference server and the
# floor server (bench/chat/src/bin/floor_chat.rs: the same protocol subset
# with no engine), driven by one Rust load generator (bench/chat) over
# loopback. Writes docs/bench/chat.json and docs/bench/chat.md. Takes about
# 2 minutes per repetition (3 by default).
#   ./scripts/bench-chat.sh [extra chat-bench arguments, e.g. --reps 5]
. "$(dirname "$0")/lib.sh"
node_deps bench/chat/node

cargo build --quiet --release -p roomcast-chat-bench
servers=()
if [ -f socketio/Cargo.toml ] && [ -f socketio/examples/chat.rs ]; then
  cargo build --quiet --release -p roomcast-socketio --example chat
  servers+=(--server "roomcast=$target/release/examples/chat --quiet --addr 127.0.0.1 --port {port}")
fi
servers+=(--server "socketioxide=$target/release/socketioxide-chat --quiet --addr 127.0.0.1 --port {port}")
servers+=(--server "node=node $root/bench/chat/node/server.js {port}")
servers+=(--server "floor=$target/release/floor-chat --quiet --addr 127.0.0.1 --port {port}")

mkdir -p docs/bench
CHAT_BENCH_COMMAND="./scripts/bench-chat.sh${*:+ $*}" \
  "$target/release/chat-bench" "${servers[@]}" \
  --json docs/bench/chat.json --markdown docs/bench/chat.md "$@"
