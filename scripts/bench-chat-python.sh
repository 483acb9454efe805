#!/usr/bin/env bash
# The chat head-to-head (bench/chat's load generator) for Python servers
# with the same chat handlers (bench/chat/python/chat_server.py):
# roomcast.socketio.Server with Python handlers on its own listener, the
# same behind roomcast.socketio.ASGIApp under uvicorn, and python-socketio's
# AsyncServer + ASGIApp under uvicorn. Writes docs/bench/chat-python.json
# and docs/bench/chat-python.md. Needs python3 (>= 3.9) with venv and pip,
# and PyPI for python-socketio, uvicorn and maturin.
#   ./scripts/bench-chat-python.sh [extra chat-bench arguments, e.g. --reps 3]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
python=${PYTHON:-python3}

cargo build --quiet --release -p roomcast-chat-bench

venv=$target/bench-chat-pyvenv
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "maturin>=1.5,<2" python-socketio==5.18.1 uvicorn==0.34.0 websockets==15.0.1
# The package as a user installs it (release build, maturin).
CARGO_TARGET_DIR="$target/python" "$venv/bin/python" -m pip install --quiet "$root/python"

py=$venv/bin/python
server=$root/bench/chat/python/chat_server.py
# BENCH_SERVERS picks some of them (names as in the table).
want=" ${BENCH_SERVERS:-roomcast-py python-socketio roomcast-py-asgi} "
servers=()
for s in "roomcast-py=roomcast" "python-socketio=python-socketio" "roomcast-py-asgi=roomcast-asgi"; do
  name=${s%%=*}
  [[ "$want" == *" $name "* ]] && servers+=(--server "$name=$py $server --impl ${s#*=} --port {port}")
done
[ "${#servers[@]}" -gt 0 ] || { echo "BENCH_SERVERS names none of roomcast-py, python-socketio, roomcast-py-asgi"; exit 1; }

mkdir -p docs/bench
CHAT_BENCH_COMMAND="./scripts/bench-chat-python.sh${*:+ $*}" \
  "$target/release/chat-bench" "${servers[@]}" \
  --json docs/bench/chat-python.json --markdown docs/bench/chat-python.md "$@"
