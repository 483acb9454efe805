"""roomcast.socketio.Server: the Rust Socket.IO transport in this process,
with the official Python and JavaScript clients."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from typing import Any, List

import pytest

socketio = pytest.importorskip("socketio")  # the official python-socketio client

import roomcast  # noqa: E402
import roomcast.socketio as rsio  # noqa: E402
from sio_helpers import chat_engine, chat_roundtrip, node_client  # noqa: E402


@pytest.fixture
def server() -> Any:
    srv = rsio.Server(chat_engine())
    srv.start("127.0.0.1", 0)
    yield srv
    srv.shutdown()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_python_client_rooms_acks_and_binary(server: rsio.Server, transport: str) -> None:
    assert server.address is not None
    chat_roundtrip(f"http://127.0.0.1:{server.address[1]}", transport)


def test_javascript_client() -> None:
    # The same scenario python-socketio's API runs in test_migration; here
    # the server is a plain Server with the facade's handlers.
    srv = rsio.AsyncServer()

    @srv.event
    async def ping_from_client(sid: str) -> None:
        await srv.emit("pong_from_server", room=sid)

    async def main() -> Any:
        task = asyncio.ensure_future(srv.serve_async("127.0.0.1", 0))
        while srv.address is None:
            await asyncio.sleep(0.01)
        url = f"http://127.0.0.1:{srv.address[1]}"
        out = [await asyncio.get_running_loop().run_in_executor(None, node_client, "latency", url, t)
               for t in ("websocket", "polling")]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return out

    for out in asyncio.run(main()):
        assert out == {"argCounts": [0] * 20, "seen": [["disconnect", "io client disconnect"]]}
    assert srv.address is None  # serve_async stopped it when cancelled


def test_options_path_payload_allow_request_and_cors() -> None:
    seen: List[dict] = []

    def allow(req: dict) -> bool:
        seen.append(req)
        return req["headers"].get("x-let-me-in") == "yes"

    srv = rsio.Server(chat_engine(), path="/rt", max_payload=2000, allow_request=allow,
                      ping_interval=1.0, ping_timeout=1.0)
    host, port = srv.start("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{port}"
        c = socketio.Client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(url, socketio_path="rt", transports=["polling"])
        assert seen and seen[-1]["path"].startswith("/rt") and seen[-1]["address"].startswith("127.0.0.1:")
        c = socketio.Client()
        c.connect(url, socketio_path="rt", headers={"X-Let-Me-In": "yes"}, transports=["websocket"])
        assert c.call("echo", "x" * 100, timeout=5) == "x" * 100
        # Over max_payload: the session closes.
        gone = threading.Event()
        c.on("disconnect", lambda *a: gone.set())
        c.emit("echo", "x" * 5000)
        assert gone.wait(5)
        c.disconnect()
    finally:
        srv.shutdown()
    assert srv.address is None
    srv = rsio.Server(chat_engine(), path="/rt", cors_allowed_origins=["https://ok.example"],
                      ping_interval=1.0, ping_timeout=1.0)
    host, port = srv.start("127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{port}"
        # CORS: the allowed origin is echoed, another one is refused.
        hdr = {"Origin": "https://ok.example"}
        req = urllib.request.Request(f"{url}/rt/?EIO=4&transport=polling", headers=hdr)
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "https://ok.example"
            assert b'"pingInterval":1000' in r.read()
        hdr["Origin"] = "https://evil.example"
        req = urllib.request.Request(f"{url}/rt/?EIO=4&transport=polling", headers=hdr)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code in (400, 403)
        e.value.close()
    finally:
        srv.shutdown()
    assert srv.address is None


def test_bad_options_raise() -> None:
    e = roomcast.Engine()
    with pytest.raises(ValueError):
        rsio.Server(e, ping_interval=0)
    with pytest.raises(ValueError):
        rsio.Server(e, max_payload=-1)
    with pytest.raises(TypeError):
        rsio.Server(e, cors_allowed_origins=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rsio.Server(e, allow_request=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rsio.Server(e, max_payload=10, max_http_buffer_size=10)
    srv = rsio.Server(e)
    srv.start("127.0.0.1", 0)
    try:
        with pytest.raises(roomcast.RoomcastError, match="already listening"):
            srv.start("127.0.0.1", 0)
    finally:
        srv.shutdown()
    srv.shutdown()  # idempotent


SERVE = """
import roomcast, roomcast.socketio as rsio, sys
srv = rsio.Server(roomcast.Engine())
orig = srv.start
def start(host, port):
    addr = orig(host, port)
    print("listening", addr[1], flush=True)
    return addr
srv.start = start
{body}
"""


def run_script(body: str) -> "subprocess.Popen[str]":
    code = SERVE.format(body=textwrap.dedent(body))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_stops_cleanly_on_ctrl_c() -> None:
    proc = run_script("""
        srv.serve("127.0.0.1", 0)
        print("stopped", srv.address, flush=True)
    """)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening"), proc.stderr.read() if proc.stderr else ""
    port = int(line.split()[1])
    c = socketio.Client()
    c.connect(f"http://127.0.0.1:{port}", transports=["websocket"])
    gone = threading.Event()
    c.on("disconnect", lambda *a: gone.set())
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t0 < 5
    assert proc.returncode == 0, err
    assert out.strip() == "stopped None"
    assert "Traceback" not in err
    assert gone.wait(5)  # the client was told (server shutting down)
    c.disconnect()


def test_a_started_server_stops_at_interpreter_exit() -> None:
    proc = run_script("""
        @srv.event
        def hello(sid, data):
            return data
        srv.start("127.0.0.1", 0)
        import socketio
        c = socketio.Client()
        c.connect("http://127.0.0.1:%d" % srv.address[1], transports=["websocket"])
        assert c.call("hello", 1, timeout=5) == 1
        print("exiting", flush=True)
        # no shutdown(), no disconnect(): the interpreter exits with both running
    """)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "exiting" in out
    assert "Traceback" not in err and "panicked" not in err, err


def test_coroutine_handlers_run_on_the_serving_loop() -> None:
    engine = roomcast.Engine()
    ns = engine.of("/")
    loops: List[Any] = []

    @ns.on("slow")
    async def slow(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        ack(data + 1)

    srv = rsio.Server(engine)

    async def main() -> Any:
        task = asyncio.ensure_future(srv.serve_async("127.0.0.1", 0))
        while srv.address is None:
            await asyncio.sleep(0.01)
        def client() -> Any:
            c = socketio.Client()
            c.connect(f"http://127.0.0.1:{srv.address[1]}", transports=["websocket"])  # type: ignore[index]
            try:
                return c.call("slow", 41, timeout=5)
            finally:
                c.disconnect()

        r = await asyncio.get_running_loop().run_in_executor(None, client)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return r, asyncio.get_running_loop()

    r, loop = asyncio.run(main())
    assert r == 42
    assert loops == [loop]
