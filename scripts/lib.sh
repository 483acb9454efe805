# Sourced by every script in scripts/: the shared set-up, and the one place
# that knows which tools the scripts need and how they are installed.
#
# Sourcing it enables strict mode, moves to the repository root and sets
#   root     the repository root
#   target   the cargo target directory, absolute ($CARGO_TARGET_DIR or target/)
#
# Machine tools (compilers, valgrind, node, redis-server, chromium ...) are
# installed by `.ci/run` (through `install_tools` below), never by a test
# script: a script that lacks one stops at `require`, naming it and its
# package. Project-local dependencies, pinned in lock or requirements files,
# are installed by `node_deps` (npm ci) and `py_venv` (pip into a virtualenv
# under the target directory).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
case "$target" in /*) ;; *) target=$root/$target ;; esac

# The header generator's pinned version (scripts/gen-header.sh).
CBINDGEN_VERSION=0.28.0

# Every tool a script may `require`, with the Debian package that has it.
TOOLS=(
  "cc gcc" "gcc gcc" "g++ g++" "readelf binutils" "strip binutils" "nm binutils"
  "cmake cmake" "pkg-config pkg-config" "valgrind valgrind"
  "node nodejs" "npm npm" "python3 python3" "venv python3-venv"
  "redis-server redis-server" "redis-cli redis-tools" "chromium chromium"
)

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# has_tool NAME: whether the tool is there (`venv`: python3 can make virtualenvs).
has_tool() {
  case "$1" in
    venv) python3 -c 'import ensurepip, venv' 2>/dev/null ;;
    cbindgen) [ "$(cbindgen_bin --version 2>/dev/null)" = "cbindgen $CBINDGEN_VERSION" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
  esac
}

# The pinned cbindgen (on PATH or in cargo's bin directory).
cbindgen_bin() {
  local b
  for b in "$(command -v cbindgen || true)" "${CARGO_HOME:-$HOME/.cargo}/bin/cbindgen"; do
    if [ -x "$b" ] && [ "$("$b" --version 2>/dev/null)" = "cbindgen $CBINDGEN_VERSION" ]; then
      "$b" "$@"
      return
    fi
  done
  return 127
}

# require TOOL...: stops the script, naming the first missing tool.
require() {
  local t e
  for t in "$@"; do
    has_tool "$t" && continue
    if [ "$t" = cbindgen ]; then
      die "cbindgen $CBINDGEN_VERSION is not installed (cargo install cbindgen --version $CBINDGEN_VERSION --locked; .ci/run installs it)"
    fi
    for e in "${TOOLS[@]}"; do
      [ "${e%% *}" = "$t" ] && die "'$t' is not installed (Debian package ${e#* }; .ci/run installs every tool the scripts need)"
    done
    die "'$t' is not installed"
  done
}

# Installs every tool in TOOLS that is missing (apt-get), the Rust
# components and the pinned cbindgen. Run by .ci/run.
install_tools() {
  local e pkgs=()
  for e in "${TOOLS[@]}"; do
    has_tool "${e%% *}" || pkgs+=("${e#* }")
  done
  if [ "${#pkgs[@]}" -gt 0 ]; then
    echo "installing: ${pkgs[*]}"
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
  if ! has_tool cbindgen; then
    echo "installing cbindgen $CBINDGEN_VERSION"
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
  fi
  for e in "${TOOLS[@]}" "cbindgen -"; do
    has_tool "${e%% *}" || die "'${e%% *}' could not be installed"
  done
}

# node_deps DIR: the npm packages of DIR's package-lock.json (npm ci).
node_deps() {
  require node npm
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

# py_venv [--via COMMAND] DIR [pip install arguments...]: a virtualenv at
# DIR (made again when missing or broken) with the given packages
# installed; sets `py` to its python. `PYTHON` names the interpreter to make
# it with (python3); COMMAND (a function or program) runs every step.
py_venv() {
  local via=()
  if [ "$1" = --via ]; then
    via=("$2")
    shift 2
  fi
  local dir=$1
  shift
  require venv
  if ! "$dir/bin/python" -c 'import sys' 2>/dev/null; then
    rm -rf "$dir"
    "${via[@]}" "${PYTHON:-python3}" -m venv "$dir"
    "${via[@]}" "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  fi
  py=$dir/bin/python
  if [ "$#" -gt 0 ]; then
    "${via[@]}" "$py" -m pip install --quiet --disable-pip-version-check "$@"
  fi
}

# start_listening LOG COMMAND...: starts a server in the background, its
# output in LOG, and waits (up to 30 s) for its "listening on ADDR" line.
# Sets `started_pid` and `started_addr` (empty when it did not start).
start_listening() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  started_pid=$!
  started_addr=
  local _
  for _ in $(seq 1 300); do
    started_addr=$(sed -n 's/^listening on //p' "$log" | head -1)
    [ -n "$started_addr" ] && return 0
    kill -0 "$started_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The workspace version (Cargo.toml's [workspace.package]).
workspace_version() {
  sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' "$root/Cargo.toml"
}

# A free loopback TCP port.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
