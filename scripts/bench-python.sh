#!/usr/bin/env bash
# Python room fan-out benchmark: roomcast against python-socketio's Manager
# and AsyncManager in one process (python/bench/bench_vs_socketio.py).
# Builds the package into its own virtualenv, installs python-socketio and
# writes docs/bench/python.md. Not part of the test command (about 2 minutes
# on 2 cores). Pass --quick for a few-second correctness run (no file written).
. "$(dirname "$0")/lib.sh"
py_venv "${ROOMCAST_PYBENCH_VENV:-$target/pybench}" "maturin>=1.5,<2" "python-socketio==5.18.1"
CARGO_TARGET_DIR="$target/python" \
  "$py" -m pip install --quiet --force-reinstall --no-deps "$root/python"

if [ "${1:-}" = "--quick" ]; then
  exec "$py" python/bench/bench_vs_socketio.py "$@"
fi
mkdir -p docs/bench
"$py" python/bench/bench_vs_socketio.py --out docs/bench/python.md "$@"
