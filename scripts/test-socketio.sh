#!/usr/bin/env bash
# Socket.IO interop: the official clients (socket.io-client 4.8.1 on Node
# and python-socketio 5, each over WebSocket only, polling with upgrade and
# polling only)
# against socketio/examples/interop_server.rs on a free loopback port; and
# the Engine.IO layer: the official engine.io-client 6.6.8 (protocol 4), in
# the same three modes, against socketio/examples/eio_echo.rs.
# Clients come from their registries into ignored folders (node_modules,
# a venv under the target dir). Prints
# "socketio-interop tests: N passed, N failed"; exits non-zero on failure.
. "$(dirname "$0")/lib.sh"

echo "-- building the interop server"
cargo build --quiet -p roomcast-socketio --example interop_server --example eio_echo
server_bin=$target/debug/examples/interop_server
eio_bin=$target/debug/examples/eio_echo

echo "-- installing socket.io-client and engine.io-client (npm ci)"
node_deps socketio/tests/interop/node

venv=$target/socketio-interop-venv
echo "-- installing python-socketio into $venv"
py_venv "$venv" -r socketio/tests/interop/python/requirements.txt

log=$(mktemp)
eio_log=$(mktemp)
out=$(mktemp)
server_pid=
eio_pid=
cleanup() {
  for p in $server_pid $eio_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -f "$log" "$eio_log" "$out"
}
trap cleanup EXIT

start_listening "$log" "$server_bin" 0 || true
server_pid=$started_pid
addr=$started_addr
start_listening "$eio_log" "$eio_bin" 0 || true
eio_pid=$started_pid
eio_addr=$started_addr
if [ -z "$addr" ] || [ -z "$eio_addr" ]; then
  cat "$log" "$eio_log"; echo "an interop server did not start"
  echo "socketio-interop tests: 0 passed, 1 failed"; exit 1
fi
url="http://$addr"
echo "-- interop server at $url, Engine.IO echo server at http://$eio_addr"

passed=0
failed=0
run() { # run label command...
  local label=$1; shift
  local rc=0
  timeout 300 "$@" >"$out" 2>&1 || rc=$?
  cat "$out"
  local line
  line=$(grep -E "^$label results: [0-9]+ passed, [0-9]+ failed" "$out" | tail -1 || true)
  if [ -z "$line" ]; then
    echo "$label: no results (exit $rc)"
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + $(echo "$line" | awk '{print $3}')))
  failed=$((failed + $(echo "$line" | awk '{print $5}')))
  if [ "$rc" -ne 0 ] && [ "$(echo "$line" | awk '{print $5}')" -eq 0 ]; then
    echo "$label exited with $rc"; failed=$((failed + 1))
  fi
}

for mode in websocket polling polling-only; do
  run "node-$mode" node socketio/tests/interop/node/interop.mjs "$url" "$mode"
  run "python-$mode" "$py" socketio/tests/interop/python/interop.py "$url" "$mode"
  run "eio-$mode" node socketio/tests/interop/node/eio.mjs "http://$eio_addr" "$mode"
done

if ! kill -0 "$server_pid" 2>/dev/null; then
  cat "$log"; echo "the interop server died"; failed=$((failed + 1))
fi
if ! kill -0 "$eio_pid" 2>/dev/null; then
  cat "$eio_log"; echo "the Engine.IO echo server died"; failed=$((failed + 1))
fi
echo "socketio-interop tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
