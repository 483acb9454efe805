#!/usr/bin/env bash
# Browser tests of the chat example (examples/chat): headless Chromium (Debian's
# package) driven by playwright-core, plus the
# official socket.io-client from Node, against every chat server that speaks
# examples/chat/PROTOCOL.md; the roomcast chat as two nodes sharing one
# redis-server (scripts/redis-server.sh);
# then a short checked run of the head-to-head load generator against each.
# Screenshots go to target/chat-artifacts/.
# Prints "chat-browser tests: N passed, N failed"; exits non-zero on failure.
. "$(dirname "$0")/lib.sh"
require chromium
node_deps examples/chat/tests

echo "building the chat servers"
cargo build --quiet --release -p roomcast-chat-bench
servers=("socketioxide:[\"$target/release/socketioxide-chat\",\"--quiet\"]")
if [ -f socketio/Cargo.toml ] && [ -f socketio/examples/chat.rs ]; then
  cargo build --quiet --release -p roomcast-socketio --example chat
  servers=("roomcast:[\"$target/release/examples/chat\",\"--quiet\"]" "${servers[@]}")
fi

artifacts=$target/chat-artifacts
rm -rf "$artifacts"
mkdir -p "$artifacts"
pass=0
fail=0
# run_suite NAME TEST_FILE CHAT_SERVER [VAR=VALUE ...]: one node --test run, counted.
run_suite() {
  local name=$1 file=$2 cmd=$3
  shift 3
  local out rc=0 p f
  out=$(mktemp)
  (cd examples/chat/tests && env "$@" CHAT_SERVER="$cmd" CHAT_SERVER_NAME="$name" CHAT_ARTIFACTS="$artifacts" \
    timeout 300 node --test --test-reporter=spec "$file") >"$out" 2>&1 || rc=$?
  # spec reporter: "ℹ pass N" / "ℹ fail N"
  p=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$out" | tail -1)
  f=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$out" | tail -1)
  if [ -z "$p" ] || [ -z "$f" ]; then
    cat "$out"
    echo "the $name run printed no summary (exit $rc)"
    p=${p:-0}
    f=$((${f:-0} + 1))
  elif [ "$f" -ne 0 ] || [ "$rc" -ne 0 ]; then
    cat "$out"
    [ "$f" -eq 0 ] && f=1
  else
    grep -E "^[✔✖]" "$out" | sed "s/^/  [$name] /"
  fi
  rm -f "$out"
  pass=$((pass + p))
  fail=$((fail + f))
}
for entry in "${servers[@]}"; do
  name=${entry%%:*}
  echo "-- chat page against the $name server"
  run_suite "$name" chat.test.js "${entry#*:}"
done
# Two roomcast nodes on one redis-server: a tab on each, messages cross.
if [ "${servers[0]%%:*}" = roomcast ]; then
  echo "-- chat page against two roomcast nodes sharing one redis-server"
  . scripts/redis-server.sh
  trap stop_redis EXIT
  start_redis
  run_suite roomcast-cluster cluster.test.js "${servers[0]#*:}" REDIS_URL="$REDIS_URL"
  stop_redis
fi
# The head-to-head load generator in a small, short run: every delivery under
# concurrent load is checked (no loss, no duplicate, no echo, no cross-room
# leak); it exits non-zero otherwise. Correctness only: no speed is judged.
for entry in "${servers[@]}"; do
  name=${entry%%:*}
  bin=$(printf '%s' "${entry#*:}" | sed 's/^\["\([^"]*\)".*/\1/')
  out=$(mktemp)
  if timeout 120 "$target/release/chat-bench" --reps 1 --clients 40 --room-size 5 --seconds 0.5 --memory 40,80 \
    --server "$name=$bin --quiet --addr 127.0.0.1 --port {port}" >"$out" 2>&1; then
    echo "  [$name] ✔ load generator: every delivery checked under concurrent senders"
    pass=$((pass + 1))
  else
    cat "$out"
    echo "  [$name] ✖ load generator check failed"
    fail=$((fail + 1))
  fi
  rm -f "$out"
done

echo "screenshots: $artifacts"
echo "chat-browser tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
