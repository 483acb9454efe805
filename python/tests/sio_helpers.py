"""Helpers of the Socket.IO tests: free ports, uvicorn in a subprocess, the
official JavaScript client (tests/js/drive.cjs on Node)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "socketio" / "tests" / "interop" / "node" / "node_modules"
DRIVE = Path(__file__).resolve().parent / "js" / "drive.cjs"
APPS = Path(__file__).resolve().parent / "sio_apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, proc: Optional["subprocess.Popen[str]"] = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


@contextlib.contextmanager
def uvicorn(app: str, app_dir: Path, env: Optional[dict] = None, server: str = "uvicorn") -> Iterator[str]:
    """Runs ``app`` under ``server`` (uvicorn or hypercorn) from ``app_dir``
    on a free loopback port; yields its URL. Asserts that it logged no
    traceback."""
    port = free_port()
    if server == "uvicorn":
        cmd = ["-m", "uvicorn", app, "--app-dir", str(app_dir), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--lifespan", "on"]
    else:
        cmd = ["-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    proc = subprocess.Popen(
        [sys.executable, *cmd],
        cwd=app_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "Traceback" not in err, err


def node_client(scenario: str, url: str, transport: str = "websocket") -> Any:
    """Runs a drive.cjs scenario with the official socket.io-client."""
    node = shutil.which("node")
    assert node is not None, "node is required (apt-get install nodejs)"
    assert (NODE_MODULES / "socket.io-client").is_dir(), (
        f"socket.io-client is missing: run npm ci in {NODE_MODULES.parent}"
    )
    r = subprocess.run(
        [node, str(DRIVE), scenario, url, transport],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    """Polls ``cond()`` until it is true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def chat_engine() -> Any:
    """An engine with handlers on its "/" namespace (roomcast Socket
    objects): join (acks "joined ROOM"), say (to a room, except the
    sender), echo (acks its data)."""
    import roomcast

    engine = roomcast.Engine()
    ns = engine.of("/")

    @ns.on("join")
    def join(socket: roomcast.Socket, room: Any, ack: Any) -> None:
        socket.join(room)
        if ack:
            ack("joined " + room)

    @ns.on("say")
    def say(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        socket.to(data["room"]).emit("said", data["text"])

    @ns.on("echo")
    def echo(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        if ack:
            ack(data)

    return engine


def chat_roundtrip(url: str, transport: str, path: str = "socket.io") -> None:
    """Two official python-socketio clients against ``chat_engine``'s
    handlers: rooms, acks, binary and a 50 kB payload."""
    import socketio

    a, b = socketio.Client(), socketio.Client()
    said: List[Any] = []
    b.on("said", lambda text: said.append(text))
    try:
        a.connect(url, transports=[transport], socketio_path=path)
        b.connect(url, transports=[transport], socketio_path=path)
        assert a.call("join", "r", timeout=5) == "joined r"
        assert b.call("join", "r", timeout=5) == "joined r"
        a.emit("say", {"room": "r", "text": "hi"})
        assert a.call("echo", b"\x00bytes", timeout=5) == b"\x00bytes"
        assert a.call("echo", {"big": "x" * 50_000}, timeout=5) == {"big": "x" * 50_000}
        wait_for(lambda: said)
        assert said == ["hi"]
    finally:
        a.disconnect()
        b.disconnect()
