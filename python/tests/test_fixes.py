"""Usability fixes: interruptible waits, logged tracebacks, Python reprs,
argument names and errors, exception names, connection lifetime, typed
decorators and documented properties."""

from __future__ import annotations

import gc
import inspect
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import roomcast

WAITS = {
    "socket.emit_with_ack": "s.emit_with_ack('q', 1)",
    "operator.emit_with_ack": "ns.timeout(30).emit_with_ack('q', 1)",
    "namespace.emit_with_ack": "ns.emit_with_ack('q', 1)",
    "recv": "conn.recv()",
}


@pytest.mark.parametrize("call", sorted(WAITS))
def test_blocking_waits_end_on_ctrl_c(call: str) -> None:
    # The client never answers; the ack timeout is 30 s.
    script = textwrap.dedent(
        f"""
        import roomcast, sys
        engine = roomcast.Engine(ack_timeout=30)
        ns = engine.of("/")
        conn = engine.connect()
        s = conn.join_namespace("/")
        print("waiting", flush=True)
        try:
            {WAITS[call]}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "waiting"
        time.sleep(0.3)
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=5)
        elapsed = time.monotonic() - start
        assert proc.stdout.read().strip() == "interrupted"
        assert rc == 3
        assert elapsed < 2.0, elapsed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_handler_exceptions_are_logged_with_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    engine = roomcast.Engine()
    ns = engine.of("/")

    def deep_helper() -> None:
        raise RuntimeError("boom")

    @ns.on("go")
    def go(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        deep_helper()

    conn = engine.connect()
    s = conn.join_namespace("/")
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        s.dispatch("go", 1)
    [rec] = [r for r in caplog.records if r.exc_info]
    assert rec.exc_info is not None
    etype, value, tb = rec.exc_info
    assert etype is RuntimeError and str(value) == "boom"
    assert tb is not None  # a traceback on every Python version
    text = caplog.text
    assert "Traceback (most recent call last)" in text
    assert "deep_helper" in text and "raise RuntimeError" in text


def test_reprs_read_as_python() -> None:
    engine = roomcast.Engine()
    ns = engine.of("/")
    conn = engine.connect()
    s = conn.join_namespace("/")
    s.emit("hello", {"a": 1})
    msg = conn.try_recv()
    assert msg is not None
    reprs = [repr(engine), repr(ns), repr(conn), repr(s), repr(msg), repr(ns.emit("x", 1))]
    for r in reprs:
        assert "Some(" not in r and "false" not in r and "true" not in r and '"' not in r, r
    assert repr(msg) == "<roomcast.Message kind='event' namespace='/' event='hello' ack_id=None>"
    assert repr(conn) == f"<roomcast.Connection {conn.id} closed=False>"
    assert repr(s) == f"<roomcast.Socket '{s.id}' in '/' connected=True>"
    assert repr(engine) == "<roomcast.Engine namespaces=['/']>"
    conn.close()
    assert repr(conn).endswith("closed=True>")


def test_timeout_keyword_is_seconds_and_the_old_name_still_works() -> None:
    ns = roomcast.Engine().of("/")
    assert ns.timeout(seconds=1.5) is not None
    assert ns.to("r").timeout(seconds=1.5) is not None
    assert ns.timeout(0.5) is not None
    assert ns.to("r").timeout(seconds_=0.5) is not None  # earlier name
    with pytest.raises(TypeError, match="once"):
        ns.timeout(1, seconds_=1)
    with pytest.raises(TypeError, match="seconds"):
        ns.timeout()
    with pytest.raises(ValueError):
        ns.timeout(seconds=-1)


@pytest.mark.parametrize(
    "call",
    [
        lambda e, c, s: roomcast.Engine(max_queue=-1),
        lambda e, c, s: roomcast.Engine(max_payload=-5),
        lambda e, c, s: roomcast.Engine(max_queue=2**80),
        lambda e, c, s: c.recv_many(max=-1),
        lambda e, c, s: s.dispatch("e", 1, ack_id=-1),
        lambda e, c, s: s.receive_ack(-1, None),
    ],
)
def test_negative_integers_raise_value_error(call: Any) -> None:
    e = roomcast.Engine()
    c = e.connect()
    s = c.join_namespace("/")
    with pytest.raises(ValueError) as info:
        call(e, c, s)
    assert not isinstance(info.value, OverflowError)


def test_leaving_the_own_room_is_a_roomcast_error() -> None:
    s = roomcast.Engine().connect().join_namespace("/")
    with pytest.raises(roomcast.OwnRoomError) as info:
        s.leave(s.id)
    assert isinstance(info.value, roomcast.RoomcastError)
    assert isinstance(info.value, ValueError)
    assert s.in_room(s.id)


def test_exception_names_have_the_error_suffix_and_old_names_remain() -> None:
    pairs = {
        "ConnectRefused": roomcast.ConnectRefusedError,
        "Closed": roomcast.ClosedError,
        "InvalidName": roomcast.InvalidNameError,
        "PayloadTooLarge": roomcast.PayloadTooLargeError,
        "AckTimeout": roomcast.AckTimeoutError,
    }
    for old, new in pairs.items():
        assert getattr(roomcast, old) is new
        assert new.__name__ == old + "Error"
        assert issubclass(new, roomcast.RoomcastError)
    with pytest.raises(roomcast.ClosedError):
        c = roomcast.Engine().connect()
        c.close()
        c.recv()


def test_a_socket_keeps_its_connection_open() -> None:
    engine = roomcast.Engine()
    ns = engine.of("/")
    s = engine.connect().join_namespace("/")  # the Connection object is gone at once
    gc.collect()
    assert s.connected
    assert ns.socket_count() == 1
    assert s.emit("still", "here").queued == 1
    s.join("room")
    assert ns.room_size("room") == 1
    # The connection's own sockets() keep it too.
    conn = engine.connect()
    conn.join_namespace("/")
    [s2] = conn.sockets()
    del conn
    gc.collect()
    assert s2.connected
    # Once nothing refers to the connection, it closes.
    del s, s2
    gc.collect()
    assert ns.socket_count() == 0


def test_every_public_property_has_a_docstring() -> None:
    missing = []
    for name in roomcast.__all__:
        cls = getattr(roomcast, name)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        for attr, value in vars(cls).items():
            if attr.startswith("_"):
                continue
            if inspect.isgetsetdescriptor(value) or inspect.ismemberdescriptor(value) or isinstance(value, property):
                if not (value.__doc__ or "").strip():
                    missing.append(f"{name}.{attr}")
    assert missing == []


def test_decorators_are_typed_for_mypy(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    src = tmp_path / "handlers.py"
    src.write_text(
        textwrap.dedent(
            """
            from typing import Any, Optional
            import roomcast

            ns = roomcast.Engine().of("/")

            @ns.on("good")
            def good(socket: roomcast.Socket, data: Any, ack: Optional[roomcast.Ack]) -> None: ...

            @ns.on("good_async")
            async def good_async(socket: roomcast.Socket, data: Any, ack: Optional[roomcast.Ack]) -> None: ...

            @ns.on("bad")
            def bad(socket: roomcast.Socket) -> None: ...

            @ns.on_connection
            def bad_connect(socket: roomcast.Socket, extra: int) -> None: ...

            @ns.on_disconnect
            def bad_disconnect(socket: roomcast.Socket, reason: int) -> None: ...
            """
        )
    )
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", os.devnull, str(src)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    errors = [line for line in r.stdout.splitlines() if ": error:" in line]
    lines = sorted(int(line.split(":")[1]) for line in errors)
    assert lines == [13, 16, 19], r.stdout  # the decorator lines
