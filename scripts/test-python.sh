#!/usr/bin/env bash
# Builds the Python package (python/, maturin backend) into a fresh
# virtualenv, runs its pytest suite and checks the stubs against the built
# module with mypy.stubtest; then builds the module without the `redis`
# cargo feature (MATURIN_PEP517_ARGS=--no-default-features, as python/README.md
# documents), checks its dependency graph has no tokio or redis-rs and runs
# tests/test_features.py and tests/test_core.py against it. Needs python3
# (>= 3.9, `PYTHON` names another) with venv, node and npm (socket.io-client
# from npm), and network access to PyPI for maturin, pytest, pytest-timeout,
# mypy, websockets, python-socketio, websocket-client, uvicorn, hypercorn and
# starlette.
. "$(dirname "$0")/lib.sh"
python=${PYTHON:-python3}
venv=${ROOMCAST_PYVENV:-$target/pyvenv}

echo "== python: cargo fmt and clippy (python/ is a member of the root workspace)"
cargo fmt -p roomcast-python -- --check
PYO3_PYTHON="$(command -v "$python")" cargo clippy -p roomcast-python --all-targets -- -D warnings

echo "== python: virtualenv in $venv"
rm -rf "$venv"
# websockets: examples/python/chat_server.py and its test. python-socketio
# (its client, and its server for the side-by-side run of the migration
# apps), websocket-client, uvicorn, hypercorn and starlette: the
# roomcast.socketio tests.
py_venv "$venv" "maturin>=1.5,<2" pytest pytest-timeout mypy websockets==15.0.1 \
  "python-socketio[client]==5.18.1" websocket-client==1.9.2 uvicorn==0.34.0 hypercorn==0.18.0 starlette==1.10.0

echo "== python: the official JavaScript client (socket.io-client, npm ci)"
node_deps "$root/socketio/tests/interop/node"

echo "== python: build and install the package (pip install ./python)"
# maturin sets PYO3_BUILD_EXTENSION_MODULE (no libpython link), which
# changes pyo3's build: a target dir of its own keeps the workspace's builds
# from being redone.
CARGO_TARGET_DIR="$target/python" "$py" -m pip install --quiet "$root/python"

echo "== python: a redis-server on a free loopback port for tests/test_redis_live.py"
. "$root/scripts/redis-server.sh"
trap stop_redis EXIT
start_redis
export ROOMCAST_REDIS_URL="$REDIS_URL"

echo "== python: pytest"
# Run from the tests directory so the installed package (not the source
# tree) is imported.
rc=0
(cd "$root/python" && "$py" -m pytest -p no:cacheprovider -q tests) || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests"
  exit 1
elif [ "$rc" -ne 0 ]; then
  echo "pytest failed (exit $rc)"
  exit 1
fi

echo "== python: stubtest"
# From an empty directory, so mypy sees only the installed package.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"; stop_redis' EXIT
(cd "$scratch" && "$py" -m mypy.stubtest roomcast._roomcast && "$py" -m mypy.stubtest roomcast)

echo "== python: mypy on the tests and the example (the stubs as a user sees them)"
(cd "$scratch" && "$py" -m mypy --ignore-missing-imports "$root/python/tests" "$root/examples/python")

echo "== python: the module without the redis feature"
./scripts/deps-without-redis.sh roomcast-python
PYO3_PYTHON="$(command -v "$python")" cargo clippy -p roomcast-python --no-default-features --all-targets -- -D warnings
MATURIN_PEP517_ARGS="--no-default-features" CARGO_TARGET_DIR="$target/python" \
  "$py" -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "$root/python"
rc=0
(cd "$root/python" && ROOMCAST_EXPECT_REDIS=0 "$py" -m pytest -p no:cacheprovider -q tests/test_features.py \
  tests/test_core.py) || rc=$?
[ "$rc" -eq 0 ] || { echo "pytest against the module without redis failed (exit $rc)"; exit 1; }
