#!/usr/bin/env bash
# The Autobahn WebSocket test suite (autobahntestsuite from PyPI, its
# fuzzing client) against socketio/examples/ws_echo.rs, an echo host on
# the crate's own WebSocket layer, on loopback. Sections 1-7 and 9-10
# (12-13 are compression, which the crate does not offer). Writes the
# summary to docs/autobahn.md and exits non-zero if a case FAILED.
#
#   scripts/autobahn.sh            # all sections (section 9 takes minutes)
#   AUTOBAHN_CASES='["1.*","2.*"]' scripts/autobahn.sh
#
# autobahntestsuite runs on Python 2.7 only. It is taken from a `python2.7`
# on PATH or a pyenv 2.7 install; Debian 12 ships no Python 2 package, so on
# a machine without either the script says so and stops.
. "$(dirname "$0")/lib.sh"
cases=${AUTOBAHN_CASES:-'["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.*","10.*"]'}
port=${AUTOBAHN_PORT:-9001}

is_py27() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; }
py2=$(command -v python2.7 2>/dev/null || true)
if ! is_py27 "$py2" && command -v pyenv >/dev/null; then
  # (pyenv's python2.7 shim fails while another version is selected)
  v=$(pyenv versions --bare | grep -E '^2\.7' | tail -1 || true)
  [ -n "$v" ] && py2=$(pyenv root)/versions/$v/bin/python2.7
fi
if ! is_py27 "$py2"; then
  echo "autobahn: no Python 2.7 here (autobahntestsuite needs it; Debian 12 has no python2 package)"
  exit 2
fi

venv=$target/autobahn-venv
if [ ! -x "$venv/bin/wstest" ]; then
  echo "-- installing autobahntestsuite into $venv"
  "$py2" -m pip install -q --target "$target/autobahn-tools" 'virtualenv<20.22'
  PYTHONPATH=$target/autobahn-tools "$py2" -m virtualenv -q "$venv"
  "$venv/bin/pip" install -q autobahntestsuite
fi

echo "-- building the echo host"
cargo build --quiet --release -p roomcast-socketio --features fuzzing --example ws_echo
"$target/release/examples/ws_echo" "$port" >/dev/null &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done

work=$target/autobahn
rm -rf "$work"
mkdir -p "$work"
cat >"$work/spec.json" <<JSON
{
  "outdir": "$work/reports",
  "servers": [{"agent": "roomcast", "url": "ws://127.0.0.1:$port"}],
  "cases": $cases,
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
echo "-- running cases $cases"
start=$(date +%s)
# Bounded: section 9 (messages up to 16 MB) is the slow part.
(cd "$work" && timeout 1800 "$venv/bin/wstest" -m fuzzingclient -s spec.json) >"$work/wstest.log" 2>&1 || {
  tail -20 "$work/wstest.log"; echo "autobahn: wstest failed or timed out"; exit 1; }
secs=$(( $(date +%s) - start ))

python3 - "$work/reports/index.json" "$secs" "$cases" >docs/autobahn.md <<'PY'
import json, sys, collections
idx = json.load(open(sys.argv[1]))["roomcast"]
by_section = collections.defaultdict(collections.Counter)
bad = []
def key(c):
    return [int(x) for x in c.split(".")]
for case in sorted(idx, key=key):
    r = idx[case]
    by_section[case.split(".")[0]][r["behavior"]] += 1
    if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED") or r["behaviorClose"] not in ("OK", "INFORMATIONAL"):
        bad.append((case, r["behavior"], r["behaviorClose"]))
kinds = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
print("# Autobahn WebSocket test suite\n")
print("The fuzzing client of `autobahntestsuite` (PyPI) against `socketio/examples/ws_echo.rs`,")
print("an echo host on the crate's own WebSocket layer, on loopback. Produced by\n")
print("```text\nscripts/autobahn.sh\n```\n")
print(f"Cases: `{sys.argv[3]}`; {len(idx)} cases in {sys.argv[2]} s.\n")
print("| section | " + " | ".join(kinds) + " |")
print("| --- |" + " ---: |" * len(kinds))
for s in sorted(by_section, key=int):
    c = by_section[s]
    print(f"| {s} | " + " | ".join(str(c.get(k, 0)) for k in kinds) + " |")
print()
if bad:
    print("Not passing (behavior, close behavior):\n")
    for b in bad:
        print(f"- {b[0]}: {b[1]}, {b[2]}")
else:
    print("Every case is OK, NON-STRICT or INFORMATIONAL, with a clean close.")
PY
cat docs/autobahn.md
grep -q "^Not passing" docs/autobahn.md && exit 1
echo "autobahn: done"
