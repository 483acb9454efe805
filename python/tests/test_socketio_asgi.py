"""roomcast.socketio.ASGIApp under a real uvicorn (and hypercorn), alone, in front of a
Starlette app and mounted inside one, with the official Python client."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

socketio = pytest.importorskip("socketio")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

from sio_helpers import chat_roundtrip, node_client, uvicorn  # noqa: E402

APPS = Path(__file__).resolve().parent / "asgi_apps"


def get(url: str) -> "tuple[int, bytes]":
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


def chat(url: str, transport: str, path: str = "socket.io") -> None:
    chat_roundtrip(url, transport, path)
    c = socketio.Client()
    c.connect(url, transports=[transport], socketio_path=path)
    try:
        assert c.call("aecho", [1, "two"], timeout=5) == [1, "two"]  # a coroutine handler
    finally:
        c.disconnect()


@pytest.mark.parametrize("server", ["uvicorn", "hypercorn"])
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_asgi_app_under_uvicorn_and_hypercorn(transport: str, server: str) -> None:
    pytest.importorskip(server)
    with uvicorn("stack:plain", APPS, server=server) as url:
        chat(url, transport)
        status, body = get(url + "/")
        assert status == 200 and b"static page" in body
        with pytest.raises(urllib.error.HTTPError) as e:
            get(url + "/nothing-here")
        assert e.value.code == 404
        e.value.close()


def test_asgi_app_in_front_of_starlette_passes_routes_and_lifespan() -> None:
    with uvicorn("stack:wrapped", APPS) as url:
        status, body = get(url + "/health")
        assert status == 200 and json.loads(body)["started"] is True  # lifespan ran
        chat(url, "websocket")
        chat(url, "polling")


def test_asgi_app_mounted_in_starlette() -> None:
    with uvicorn("stack:mounted", APPS) as url:
        status, body = get(url + "/health")
        assert json.loads(body)["started"] is True
        chat(url, "websocket", path="rt/socket.io")
        chat(url, "polling", path="rt/socket.io")


def test_javascript_client_over_asgi() -> None:
    apps = Path(__file__).resolve().parent / "sio_apps"
    with uvicorn("latency_app:app", apps) as url:
        for transport in ("websocket", "polling"):
            out = node_client("latency", url, transport)
            assert out["argCounts"] == [0] * 20
