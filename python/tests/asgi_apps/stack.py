"""ASGI apps for test_socketio_asgi.py: a roomcast engine with handlers on
its namespaces, served through roomcast.socketio.ASGIApp

* ``plain``: the ASGIApp alone (static files from this directory);
* ``wrapped``: ASGIApp in front of a Starlette app (other routes and the
  lifespan pass through to it);
* ``mounted``: a Starlette app with the ASGIApp mounted under ``/rt``.
"""

import contextlib
import sys
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import roomcast
import roomcast.socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sio_helpers import chat_engine  # noqa: E402

engine = chat_engine()


@engine.of("/").on("aecho")
async def aecho(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    """A coroutine handler: runs on the ASGI server's loop."""
    if ack:
        ack(data)


server = roomcast.socketio.AsyncServer(engine)
plain = roomcast.socketio.ASGIApp(server, static_files={"/": "index.html"})

state = {"started": False}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    state["started"] = True
    yield
    state["started"] = False


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True, "started": state["started"], "sessions": engine.stats()["connections"]})


web = Starlette(routes=[Route("/health", health)], lifespan=lifespan)
wrapped = roomcast.socketio.ASGIApp(server, other_asgi_app=web)

mounted = Starlette(
    routes=[Route("/health", health), Mount("/rt", app=roomcast.socketio.ASGIApp(server))],
    lifespan=lifespan,
)
