"""Two roomcast.socketio servers, each on an engine with a RedisAdapter
(one cluster on the live redis-server scripts/test-python.sh starts):
a python-socketio app's room broadcast reaches clients of both."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, List

import pytest

socketio = pytest.importorskip("socketio")

import roomcast  # noqa: E402
import roomcast.socketio as rsio  # noqa: E402
from sio_helpers import wait_for  # noqa: E402


def test_a_room_spans_two_socketio_servers_through_redis() -> None:
    url = os.environ.get("ROOMCAST_REDIS_URL", "")
    assert url, "ROOMCAST_REDIS_URL is not set: run the suite through scripts/test-python.sh"
    prefix = "sio" + uuid.uuid4().hex[:8]
    adapters = [roomcast.RedisAdapter(url, prefix=prefix) for _ in range(2)]
    servers = [rsio.Server(roomcast.Engine(adapter=a)) for a in adapters]
    for a in adapters:
        assert a.wait_connected(5.0)
    wait_for(lambda: all(s.engine.server_count() == 2 for s in servers))
    for s in servers:

        @s.on("join")
        def join(sid: str, room: str, s: rsio.Server = s) -> str:
            s.enter_room(sid, room)
            return "ok"

        @s.on("shout")
        def shout(sid: str, data: Any, s: rsio.Server = s) -> None:
            s.emit("shouted", data, room=data["room"])

        s.start("127.0.0.1", 0)
    got: List[List[Any]] = [[], []]
    clients = []
    try:
        for i, s in enumerate(servers):
            c = socketio.Client()
            c.on("shouted", lambda d, i=i: got[i].append(d))
            c.connect(f"http://127.0.0.1:{s.address[1]}", transports=["websocket"])  # type: ignore[index]
            assert c.call("join", "everywhere", timeout=5) == "ok"
            clients.append(c)
        clients[0].emit("shout", {"room": "everywhere", "n": 1})
        wait_for(lambda: got[0] and got[1])
        time.sleep(0.1)
        assert got == [[{"room": "everywhere", "n": 1}], [{"room": "everywhere", "n": 1}]]
    finally:
        for c in clients:
            c.disconnect()
        for s in servers:
            s.shutdown()
        for a in adapters:
            a.close()
