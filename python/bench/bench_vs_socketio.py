"""Room fan-out from Python: roomcast against python-socketio's in-process
managers, in one process and one run.

Scenario, per room size N (10, 1,000, 10,000 members): K emits of one small
JSON object to the room, then every recipient's copy is taken.

* roomcast: `ns.to("room").emit(...)` K times, then each of the N
  connections drains its outbox with one `recv_many` (N*K Message objects
  reach Python). The "emit only" column leaves the draining out.
* python-socketio Manager (sync `Server`) and AsyncManager (`AsyncServer`):
  `manager.emit(..., room="room")` K times; the server's per-recipient send
  (`_send_eio_packet`) is replaced by a counting no-op, so no network and no
  Engine.IO encoding is involved - only the manager's own fan-out (one call,
  or one asyncio task, per recipient).

Every repetition checks that exactly N*K deliveries happened. Reported:
median over the repetitions of ns per emit and deliveries per second, and
roomcast's ratio against each baseline.

Usage: python bench_vs_socketio.py [--quick] [--reps R] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from typing import Any, Callable

import roomcast
import socketio

PAYLOAD = {"user": "ann", "text": "hello, room", "n": 42}
ROOM = "room"


def emits_for(n: int, quick: bool) -> int:
    """Emits per repetition: about 200k deliveries (20k with --quick)."""
    target = 20_000 if quick else 200_000
    return max(5, min(1000, target // n))


# ------------------------------------------------------------------ roomcast


class Roomcast:
    name = "roomcast"

    def __init__(self, n: int, k: int) -> None:
        self.engine = roomcast.Engine(max_queue=k + 16, max_queue_bytes=1 << 30)
        self.ns = self.engine.of("/")
        self.conns = [self.engine.connect() for _ in range(n)]
        for c in self.conns:
            c.join_namespace("/").join(ROOM)
        self.n, self.k = n, k

    def emit_only(self) -> float:
        op = self.ns.to(ROOM)
        t0 = time.perf_counter_ns()
        for _ in range(self.k):
            op.emit("chat message", PAYLOAD)
        t1 = time.perf_counter_ns()
        self._drain()
        return float(t1 - t0)

    def emit_and_drain(self) -> float:
        t0 = time.perf_counter_ns()
        op = self.ns.to(ROOM)
        for _ in range(self.k):
            op.emit("chat message", PAYLOAD)
        got = self._drain()
        t1 = time.perf_counter_ns()
        assert got == self.n * self.k, (got, self.n * self.k)
        return float(t1 - t0)

    def _drain(self) -> int:
        got = 0
        k = self.k
        for c in self.conns:
            got += len(c.recv_many(k, 0))
        return got


# ----------------------------------------------------------- python-socketio


class SocketioSync:
    name = "python-socketio Manager"

    def __init__(self, n: int, k: int) -> None:
        self.sio = socketio.Server()
        self.count = 0

        def send(eio_sid: str, pkt: Any) -> None:
            self.count += 1

        self.sio._send_eio_packet = send  # type: ignore[method-assign]
        mgr = self.sio.manager
        for i in range(n):
            sid = mgr.connect(f"eio-{i}", "/")
            mgr.enter_room(sid, "/", ROOM)
        self.mgr = mgr
        self.n, self.k = n, k

    def emit_and_drain(self) -> float:
        self.count = 0
        emit = self.mgr.emit
        t0 = time.perf_counter_ns()
        for _ in range(self.k):
            emit("chat message", PAYLOAD, "/", room=ROOM)
        t1 = time.perf_counter_ns()
        assert self.count == self.n * self.k, (self.count, self.n * self.k)
        return float(t1 - t0)


class SocketioAsync:
    name = "python-socketio AsyncManager"

    def __init__(self, n: int, k: int, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sio = socketio.AsyncServer()
        self.count = 0

        async def send(eio_sid: str, pkt: Any) -> None:
            self.count += 1

        self.sio._send_eio_packet = send  # type: ignore[method-assign]
        mgr = self.sio.manager
        mgr.set_server(self.sio)

        async def setup() -> None:
            for i in range(n):
                sid = await mgr.connect(f"eio-{i}", "/")
                await mgr.enter_room(sid, "/", ROOM)

        loop.run_until_complete(setup())
        self.mgr = mgr
        self.n, self.k = n, k

    def emit_and_drain(self) -> float:
        self.count = 0
        emit = self.mgr.emit

        async def run() -> None:
            for _ in range(self.k):
                await emit("chat message", PAYLOAD, "/", room=ROOM)

        t0 = time.perf_counter_ns()
        self.loop.run_until_complete(run())
        t1 = time.perf_counter_ns()
        assert self.count == self.n * self.k, (self.count, self.n * self.k)
        return float(t1 - t0)


# ------------------------------------------------------------------- driver


def medians(fs: "list[Callable[[], float]]", reps: int) -> "list[float]":
    """Median time of each measurement; repetitions are interleaved (one of
    each per round) so that a noisy moment hits every system alike."""
    for f in fs:
        f()  # warm-up, not counted
    samples: list[list[float]] = [[] for _ in fs]
    for _ in range(reps):
        for f, out in zip(fs, samples):
            gc.collect()
            out.append(f())
    return [statistics.median(x) for x in samples]


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M/s" if x >= 1e6 else f"{x / 1e3:.0f} k/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small counts, for a correctness run")
    ap.add_argument("--reps", type=int, default=7, help="repetitions per measurement (median)")
    ap.add_argument("--sizes", default="10,1000,10000", help="room sizes, comma-separated")
    ap.add_argument("--out", help="also write the results as Markdown to this file")
    args = ap.parse_args()
    reps = 3 if args.quick else args.reps
    sizes = [int(s) for s in args.sizes.split(",")]
    loop = asyncio.new_event_loop()
    rows = []
    started = time.monotonic()
    for n in sizes:
        k = emits_for(n, args.quick)
        rc = Roomcast(n, k)
        sync = SocketioSync(n, k)
        asy = SocketioAsync(n, k, loop)
        t_rc, t_rc_emit, t_sync, t_async = medians(
            [rc.emit_and_drain, rc.emit_only, sync.emit_and_drain, asy.emit_and_drain], reps
        )
        row = {
            "n": n,
            "k": k,
            "rc": t_rc / k,
            "rc_emit": t_rc_emit / k,
            "sync": t_sync / k,
            "async": t_async / k,
        }
        rows.append(row)
        print(
            f"N={n:>6} K={k:>4}  roomcast {row['rc']:>12.0f} ns/emit (emit only {row['rc_emit']:.0f})"
            f"  socketio sync {row['sync']:>12.0f}  async {row['async']:>12.0f}"
            f"  ratios x{row['sync'] / row['rc']:.1f} / x{row['async'] / row['rc']:.1f}",
            flush=True,
        )
        del rc, sync, asy
    loop.close()
    elapsed = time.monotonic() - started

    shown = [a for a in sys.argv[1:] if a != "--out" and a != args.out]
    cmd = " ".join(["./scripts/bench-python.sh", *shown])
    lines = [
        "# Python: roomcast vs python-socketio room fan-out",
        "",
        f"Produced by `{cmd}` (runs `python/bench/bench_vs_socketio.py`) in {elapsed:.0f} s.",
        "",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.machine()}, {os.cpu_count()} CPUs; roomcast {roomcast.__version__}, "
        f"python-socketio {metadata.version('python-socketio')}. Load average when done: "
        f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min); other processes on the",
        "machine make single repetitions noisy, hence the interleaved medians.",
        "",
        "Per room size N: K emits of one small JSON object to a room of N members, then every",
        "copy is taken. roomcast: `ns.to(room).emit()` K times, then one `recv_many` per",
        "connection (N*K `Message` objects reach Python). python-socketio: `manager.emit(room=...)`",
        "K times with the server's per-recipient send replaced by a counting no-op (no network, no",
        "Engine.IO). Every repetition checks that exactly N*K deliveries happened.",
        f"Medians of {reps} interleaved repetitions (after one warm-up each).",
        "",
        "| members | emits/rep | roomcast fan-out | roomcast fan-out + drain | socketio Manager "
        "| socketio AsyncManager | fan-out vs Manager | fan-out vs Async | +drain vs Manager | +drain vs Async |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        n = r["n"]
        lines.append(
            f"| {n:,} | {r['k']} "
            f"| {r['rc_emit'] / 1e3:,.1f} µs ({fmt_rate(n * 1e9 / r['rc_emit'])}) "
            f"| {r['rc'] / 1e3:,.1f} µs ({fmt_rate(n * 1e9 / r['rc'])}) "
            f"| {r['sync'] / 1e3:,.1f} µs ({fmt_rate(n * 1e9 / r['sync'])}) "
            f"| {r['async'] / 1e3:,.1f} µs ({fmt_rate(n * 1e9 / r['async'])}) "
            f"| {r['sync'] / r['rc_emit']:.1f}x | {r['async'] / r['rc_emit']:.1f}x "
            f"| **{r['sync'] / r['rc']:.1f}x** | **{r['async'] / r['rc']:.1f}x** |"
        )
    lines += [
        "",
        "Times are per emit; deliveries per second in parentheses. \"Fan-out\" is roomcast's emit",
        "alone (every copy queued in its connection's outbox, ready for a transport), the",
        "counterpart of python-socketio's manager calling its per-recipient send; \"+ drain\" adds",
        "taking every copy out into Python `Message` objects. Ratios are python-socketio's time",
        "over roomcast's, so higher means roomcast is faster.",
        "",
    ]
    text = "\n".join(lines)
    print()
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
