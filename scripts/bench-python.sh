#!/usr/bin/env bash
# Python room fan-out benchmark: roomcast against python-socketio's Manager
# and AsyncManager in one process (python/bench/bench_vs_socketio.py).
# Builds the package into its own virtualenv, installs python-socketio and
# writes docs/bench/python.md. Not part of the test command (about 2 minutes
# on 2 cores). Pass --quick for a few-second correctness run (no file written).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON:-python3}
venv=${ROOMCAST_PYBENCH_VENV:-$root/target/pybench}

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet "maturin>=1.5,<2" "python-socketio==5.18.1"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/python" \
  "$py" -m pip install --quiet --force-reinstall --no-deps "$root/python"

if [ "${1:-}" = "--quick" ]; then
  exec "$py" python/bench/bench_vs_socketio.py "$@"
fi
mkdir -p docs/bench
"$py" python/bench/bench_vs_socketio.py --out docs/bench/python.md "$@"
