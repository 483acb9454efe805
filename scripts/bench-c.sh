#!/usr/bin/env bash
# FFI overhead benchmark: the same workloads through the C API
# (ffi/examples/ffi_bench.c against the release libroomcast.a) and through
# the Rust API (ffi/examples/ffi_bench.rs), run alternately in one go
# (C, Rust, C, Rust, ...), medians of the repetitions, ratio C / Rust.
# Also counts instructions per operation with valgrind's callgrind (the
# difference between two run lengths, so setup and warm-up cancel out): a
# measure the machine's load cannot disturb. Writes docs/bench/c-ffi.md.
# Not part of the test command.
#   scripts/bench-c.sh [REPS]      default 9 repetitions of each side
#   scripts/bench-c.sh --quick     one small repetition: checks it runs
. "$(dirname "$0")/lib.sh"
require gcc valgrind python3
reps=${1:-9}
quick=()
if [ "$reps" = "--quick" ]; then reps=1 quick=(--quick); fi
out="$target/ctest"
mkdir -p "$out" docs/bench

cargo build --quiet --release -p roomcast-ffi --lib --example ffi_bench
gcc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Wpedantic -Werror -Iinclude ffi/examples/ffi_bench.c \
  "$target/release/libroomcast.a" -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc -o "$out/ffi_bench_c"

load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
raw="$out/ffi_bench_raw.txt"
: >"$raw"
for i in $(seq 1 "$reps"); do
  "$out/ffi_bench_c" "${quick[@]}" | sed 's/^/c /' >>"$raw"
  "$target/release/examples/ffi_bench" "${quick[@]}" | sed 's/^/rust /' >>"$raw"
done

# Instructions per operation: Ir(long run) - Ir(short run) over the extra
# operations, for each workload and side.
ir="$out/ffi_bench_ir.txt"
: >"$ir"
collected() { # prints callgrind's instruction total for one run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for w in room_emit_drain join_leave round_trip dispatch; do
  if [ "$w" = room_emit_drain ]; then a=10 b=30; else a=2000 b=6000; fi
  for side in c rust; do
    if [ "$side" = c ]; then prog="$out/ffi_bench_c"; else prog="$target/release/examples/ffi_bench"; fi
    for t in 1 2 3; do # three measurements; the report takes their median
      lo=$(collected "$prog" --only "$w" --iters "$a")
      hi=$(collected "$prog" --only "$w" --iters "$b")
      echo "$side $w $(((hi - lo) / (b - a)))" >>"$ir"
    done
  done
done

cmd="scripts/bench-c.sh${1:+ $1}"
python3 - "$raw" "$reps" "$cmd" "${quick[*]:-}" "$ir" "$load" <<'PY'
import platform, statistics, subprocess, sys
raw, reps, cmd, quick, irfile, load = sys.argv[1:7]
reps = int(reps)
ir = {}
for line in open(irfile):
    side, name, n = line.split()
    ir.setdefault(name, {}).setdefault(side, []).append(int(n))
ir = {name: {side: int(statistics.median(v)) for side, v in sides.items()} for name, sides in ir.items()}
runs = {}
for line in open(raw):
    side, name, ns = line.split()
    runs.setdefault(name, {}).setdefault(side, []).append(float(ns))
what = {
    "room_emit_drain": ("emit to a 1,000-member room, every member receives and reads it", "emit"),
    "join_leave": ("one socket joins a room and leaves it", "join+leave"),
    "round_trip": ("emit to one socket, receive it, read it", "message"),
    "dispatch": ("inbound event dispatched to a handler", "event"),
}
cpu = "unknown CPU"
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
lines = [
    "# C FFI overhead",
    "",
    f"Command: `{cmd}` ({reps} repetitions of each side, run alternately; medians).",
    f"Machine: {cpu}, {__import__('os').cpu_count()} cores, {platform.system()} {platform.release()}; "
    f"{rustc}; {gcc}, `-O2`, static `libroomcast.a` (release). Load average when the run",
    f"started: {load} (the machine is shared, so the times are noisy; the instruction",
    "counts below are not).",
    "",
    "The same workloads, sizes and per-operation work through the C API",
    "(`ffi/examples/ffi_bench.c`) and the Rust API (`ffi/examples/ffi_bench.rs`).",
    "64-byte binary payloads, copied from the caller's buffer at every emit on",
    "both sides (the C API must copy; Rust does the same for a fair comparison).",
    "",
    "| workload | per | Rust (ns) | C (ns) | C / Rust | FFI overhead (ns) |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
]
for name in ["room_emit_drain", "join_leave", "round_trip", "dispatch"]:
    r = statistics.median(runs[name]["rust"])
    c = statistics.median(runs[name]["c"])
    desc, per = what[name]
    lines.append(f"| `{name}`: {desc} | {per} | {r:,.0f} | {c:,.0f} | {c / r:.2f}x | {c - r:+,.0f} |")
lines += [
    "",
    "Instructions per operation (valgrind callgrind; the difference between a",
    "short and a long run, so setup and warm-up cancel out; median of three;",
    "independent of the machine's load):",
    "",
    "| workload | per | Rust (instructions) | C (instructions) | C / Rust |",
    "| --- | --- | ---: | ---: | ---: |",
]
for name in ["room_emit_drain", "join_leave", "round_trip", "dispatch"]:
    r, c = ir[name]["rust"], ir[name]["c"]
    lines.append(f"| `{name}` | {what[name][1]} | {r:,} | {c:,} | {c / r:.2f}x |")
lines += [
    "",
    "`room_emit_drain` per delivery: "
    + ", ".join(
        f"{side} {statistics.median(runs['room_emit_drain'][side]) / 1000:.1f} ns" for side in ("rust", "c")
    )
    + " (three C calls per delivery: `roomcast_conn_try_recv`, `roomcast_message_data`,"
    " `roomcast_message_free`; the message handle is the engine's shared message, so"
    " receiving allocates nothing).",
    "",
    "Every repetition (ns per operation):",
    "",
    "| workload | side | runs |",
    "| --- | --- | --- |",
]
for name in ["room_emit_drain", "join_leave", "round_trip", "dispatch"]:
    for side in ("rust", "c"):
        lines.append(f"| {name} | {side} | {', '.join(f'{v:,.0f}' for v in runs[name][side])} |")
text = "\n".join(lines) + "\n"
print(text)
if not quick:
    open("docs/bench/c-ffi.md", "w").write(text)
    print("wrote docs/bench/c-ffi.md")
PY
