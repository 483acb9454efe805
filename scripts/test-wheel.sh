#!/usr/bin/env bash
# Tests the wheel the way a user gets it: scripts/build-wheel.sh builds the
# abi3 manylinux2014 wheel (and, with --sdist, the sdist and a wheel from
# it); the wheel is then installed into a fresh virtualenv by a pip that sees
# no Rust (cargo, rustc and rustup off PATH, CARGO_* and RUSTUP_* unset, no
# source tree, binary only) and the package's pytest suite runs against that
# install. Each other CPython 3.9-3.13 found (on PATH or under pyenv) also gets the same wheel
# and a smoke test (abi3: one wheel for all of them).
# Prints "N passed, N failed" through pytest; exits non-zero on any failure.
. "$(dirname "$0")/lib.sh"

dist=$root/target/wheels
./scripts/build-wheel.sh "$@" "$dist"
wheel=$(ls "$dist"/roomcast-*-cp39-abi3-manylinux*.whl)
python=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')

# A PATH with no Rust on it, and no Rust variables.
norust_path=$(tr ':' '\n' <<<"$PATH" | grep -v -e '\.cargo/bin' -e '/\.rustup' | paste -sd: -)
norust() {
  env -u CARGO_HOME -u RUSTUP_HOME -u RUSTUP_TOOLCHAIN -u CARGO -u CARGO_TARGET_DIR \
    -u CARGO_BUILD_TARGET_DIR PATH="$norust_path" "$@"
}
if norust bash -c 'command -v cargo || command -v rustc || command -v rustup'; then
  echo "test-wheel.sh: Rust is still reachable without ~/.cargo/bin on PATH" >&2
  exit 1
fi

venv=$root/target/wheel-venv
scratch=$(mktemp -d)
. "$root/scripts/redis-server.sh"
trap 'rm -rf "$scratch"; stop_redis' EXIT

echo "== wheel: fresh virtualenv $venv ($("$python" --version)), no Rust on PATH"
rm -rf "$venv"
PYTHON=$python py_venv --via norust "$venv" pytest pytest-timeout websockets==15.0.1 \
  "python-socketio[client]==5.18.1" websocket-client==1.9.2 uvicorn==0.34.0 hypercorn==0.18.0 starlette==1.10.0
start=$(date +%s.%N)
(cd "$scratch" && norust "$py" -m pip install --quiet --no-index --only-binary :all: "$wheel")
end=$(date +%s.%N)
echo "wheel install into the fresh venv: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
(cd "$scratch" && norust "$py" -c 'import roomcast, roomcast._roomcast as m; print("installed:", m.__file__)')

echo "== wheel: a redis-server for tests/test_redis_live.py"
start_redis
export ROOMCAST_REDIS_URL="$REDIS_URL"

echo "== wheel: pytest against the installed wheel"
# From python/, so `import roomcast` finds the installed package (the
# source package lives in python/python/, not on sys.path).
rc=0
(cd "$root/python" && norust "$py" -m pytest -p no:cacheprovider -q tests) || rc=$?
[ "$rc" -eq 0 ] || { echo "pytest against the wheel failed (exit $rc)"; exit 1; }

# (pyenv's shims answer only for the selected version, so its install
# directories are looked at too.)
for v in 3.9 3.10 3.12 3.13; do
  other=""
  for c in "$(command -v "python$v" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
    if [ -x "$c" ] && "$c" -c 'import sys' 2>/dev/null; then other=$c; break; fi
  done
  [ -n "$other" ] || continue
  [ "$("$other" -c 'import sys; print(sys.executable)')" = "$python" ] && continue
  echo "== wheel: smoke test on $("$other" --version)"
  rm -rf "$scratch/v$v"
  norust "$other" -m venv "$scratch/v$v"
  (cd "$scratch" && norust "$scratch/v$v/bin/python" -m pip install --quiet --no-index --only-binary :all: "$wheel" &&
    norust "$scratch/v$v/bin/python" -c '
import roomcast
e = roomcast.Engine(); chat = e.of("/chat")
a, b = e.connect(), e.connect()
sa = a.join_namespace("/chat"); sb = b.join_namespace("/chat")
sa.join("lobby"); sb.join("lobby")
chat.to("lobby").emit("hi", {"n": 1})
m = b.recv(timeout=1.0)
assert (m.event, m.data) == ("hi", {"n": 1}), m
print("ok")') || { echo "the wheel does not work on Python $v"; exit 1; }
done
