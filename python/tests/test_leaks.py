"""Reference and memory leaks: loops over every binding path must not grow
Python reference counts (sys.gettotalrefcount on debug builds, per-object
counts everywhere) nor traced memory."""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
from typing import Any, Callable

import roomcast


def exercise(engine: roomcast.Engine, ns: roomcast.Namespace, payload: Any, n: int) -> None:
    for i in range(n):
        c = engine.connect()
        s = c.join_namespace("/leak", auth=payload, headers={"h": "v"})
        s.join(["r", "q"])
        ns.to("r").except_("x").emit("e", payload)
        s.emit("b", b"bytes")
        s.dispatch("ask", payload, ack_id=i + 1)
        s.dispatch("nobody", "x")
        replies = s.emit_with_ack("ping", payload, timeout=0.0)
        assert replies.error is not None
        for m in c.recv_many(max=16, timeout=0):
            (m.data, m.raw, m.event, m.kind)
        s.set_data(payload)
        (s.data, s.rooms, s.handshake.auth)
        c.close()
        try:
            c.try_recv()
        except roomcast.Closed:
            pass


def setup() -> "tuple[roomcast.Engine, roomcast.Namespace, dict[str, Any], list[Any]]":
    engine = roomcast.Engine()
    ns = engine.of("/leak")
    payload = {"k": ["v" * 50, 1, 2.5, None]}
    hits: list[Any] = []

    @ns.use
    def mw(hs: roomcast.Handshake) -> None:
        hs.auth

    @ns.use_event_middleware
    def emw(socket: roomcast.Socket, event: str, data: Any) -> None:
        return None

    @ns.on("ask")
    def ask(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        ack(data)

    @ns.on_fallback
    def fb(socket: roomcast.Socket, event: str, data: Any, ack: Any) -> None:
        pass

    @ns.on_room_event
    def rooms(ev: roomcast.RoomEvent) -> None:
        ev.room

    @ns.on_disconnect
    def gone(socket: roomcast.Socket, reason: str) -> None:
        pass

    return engine, ns, payload, [mw, emw, ask, fb, rooms, gone]


def measure(f: Callable[[], None]) -> int:
    gc.collect()
    if hasattr(sys, "gettotalrefcount"):
        before = sys.gettotalrefcount()
        f()
        gc.collect()
        return int(sys.gettotalrefcount() - before)
    return 0


def test_per_object_refcounts_stable() -> None:
    engine, ns, payload, handlers = setup()
    exercise(engine, ns, payload, 200)  # warm caches
    gc.collect()
    before = [sys.getrefcount(o) for o in [payload, *handlers]]
    exercise(engine, ns, payload, 2000)
    gc.collect()
    after = [sys.getrefcount(o) for o in [payload, *handlers]]
    assert after == before
    st = engine.stats()
    assert st["connections"] == 0 and st["sockets"] == 0 and st["rooms"] == 0


def test_total_refcount_and_traced_memory_flat() -> None:
    engine, ns, payload, _ = setup()
    exercise(engine, ns, payload, 500)
    # debug builds: the interpreter's total reference count
    assert abs(measure(lambda: exercise(engine, ns, payload, 2000))) < 200
    tracemalloc.start()
    try:
        exercise(engine, ns, payload, 500)
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        exercise(engine, ns, payload, 5000)
        gc.collect()
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now - base < 64 * 1024, f"traced memory grew by {now - base} bytes over 5000 cycles"
    n_objects = len(gc.get_objects())
    exercise(engine, ns, payload, 2000)
    gc.collect()
    assert len(gc.get_objects()) - n_objects < 50


def test_async_paths_do_not_leak() -> None:
    engine = roomcast.Engine()
    ns = engine.of("/")
    payload = {"x": "y" * 20}

    @ns.on("a")
    async def a(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        socket.emit("b", data)

    async def cycles(n: int) -> None:
        for _ in range(n):
            c = engine.connect()
            s = await c.join_namespace_async("/")
            s.dispatch("a", payload)
            m = await c.recv_async()
            assert m.data == payload
            c.close()
            async for _m in c:
                pass

    async def main() -> "tuple[int, int]":
        await cycles(100)
        gc.collect()
        rc0 = sys.getrefcount(payload)
        tracemalloc.start()
        try:
            await cycles(100)
            gc.collect()
            base, _ = tracemalloc.get_traced_memory()
            await cycles(1000)
            gc.collect()
            now, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert sys.getrefcount(payload) == rc0
        return base, now

    base, now = asyncio.run(asyncio.wait_for(main(), 50))
    assert now - base < 64 * 1024, f"traced memory grew by {now - base} bytes over 1000 async cycles"
