#!/usr/bin/env bash
# Browser tests of the chat example (examples/chat): headless Chromium (Debian's
# package, installed here when missing) driven by playwright-core, plus the
# official socket.io-client from Node, against every chat server that speaks
# examples/chat/PROTOCOL.md. Screenshots go to target/chat-artifacts/.
# Prints "chat-browser tests: N passed, N failed"; exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac

if ! command -v chromium >/dev/null; then
  echo "installing chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || { echo "node is required"; echo "chat-browser tests: 0 passed, 1 failed"; exit 1; }

(cd examples/chat/tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "building the chat servers"
cargo build --quiet --release -p roomcast-chat-bench --bin socketioxide-chat
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
for entry in "${servers[@]}"; do
  name=${entry%%:*}
  cmd=${entry#*:}
  echo "-- chat page against the $name server"
  out=$(mktemp)
  rc=0
  (cd examples/chat/tests && CHAT_SERVER="$cmd" CHAT_SERVER_NAME="$name" CHAT_ARTIFACTS="$artifacts" \
    timeout 300 node --test --test-reporter=spec chat.test.js) >"$out" 2>&1 || rc=$?
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
done
echo "screenshots: $artifacts"
echo "chat-browser tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
