"""The chat handlers of examples/chat/PROTOCOL.md (namespace "/") on the
Python Socket.IO servers of the head-to-head benchmark:

  roomcast        roomcast.socketio.Server (sync handlers on its transport
                  threads, its own listener)
  roomcast-asgi   the same Server behind roomcast.socketio.ASGIApp, under uvicorn
  python-socketio python-socketio's AsyncServer + ASGIApp under uvicorn (its
                  recommended deployment)

The chat logic (Chat below) is shared; only the calls into each server
differ (sync emits, or awaited ones).

  python chat_server.py --impl roomcast --port 3000
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Dict, List, Optional, Tuple

Emit = Tuple[str, Any, str, Optional[str]]  # event, payload, room, skip_sid


def key(room: str) -> str:
    return "#" + room


class Chat:
    """Who is called what and in which room; each handler returns its ack
    reply and the emits to make."""

    def __init__(self) -> None:
        self.names: Dict[str, str] = {}
        self.room_of: Dict[str, Optional[str]] = {}
        self.members: Dict[str, Dict[str, str]] = {}

    def connect(self, sid: str, auth: Any) -> bool:
        name = str((auth or {}).get("name") or "").strip() if isinstance(auth, dict) else ""
        if not name or len(name) > 24:
            return False
        self.names[sid] = name
        self.room_of[sid] = None
        return True

    def _leave(self, sid: str, out: List[Emit]) -> None:
        room = self.room_of.get(sid)
        if room is None:
            return
        self.room_of[sid] = None
        m = self.members.get(room, {})
        m.pop(sid, None)
        if not m:
            self.members.pop(room, None)
        out.append(("user left", {"id": sid, "name": self.names[sid], "room": room}, key(room), sid))

    def join(self, sid: str, data: Any) -> Tuple[Any, List[Emit], Optional[str], Optional[str]]:
        """(ack, emits, room to enter, room to leave)."""
        room = str((data or {}).get("room") or "").strip() if isinstance(data, dict) else ""
        if not room or len(room) > 32:
            return {"error": "room names are 1 to 32 characters"}, [], None, None
        out: List[Emit] = []
        enter = old = None
        if self.room_of.get(sid) != room:
            old = self.room_of.get(sid)
            self._leave(sid, out)
            self.members.setdefault(room, {})[sid] = self.names[sid]
            self.room_of[sid] = room
            enter = room
            out.append(("user joined", {"id": sid, "name": self.names[sid], "room": room}, key(room), sid))
        members = [{"id": i, "name": n} for i, n in self.members.get(room, {}).items()]
        return {"room": room, "members": members}, out, enter, old

    def leave(self, sid: str) -> Tuple[Any, List[Emit], Optional[str]]:
        old = self.room_of.get(sid)
        out: List[Emit] = []
        self._leave(sid, out)
        return {"room": None}, out, old

    def message(self, sid: str, data: Any) -> List[Emit]:
        room = self.room_of.get(sid)
        text = data.get("text") if isinstance(data, dict) else None
        if room is None or not isinstance(text, str) or not text or len(text) > 1000:
            return []
        payload = {"id": sid, "name": self.names[sid], "room": room, "text": text, "time": int(time.time() * 1000)}
        return [("message", payload, key(room), sid)]

    def typing(self, sid: str, data: Any) -> List[Emit]:
        room = self.room_of.get(sid)
        if room is None:
            return []
        typing = bool(data.get("typing")) if isinstance(data, dict) else False
        return [("typing", {"id": sid, "name": self.names[sid], "typing": typing}, key(room), sid)]

    def private(self, sid: str, data: Any) -> Tuple[Any, List[Emit]]:
        to = data.get("to") if isinstance(data, dict) else None
        text = data.get("text") if isinstance(data, dict) else None
        ok = to in self.names and isinstance(text, str) and bool(text) and len(text) <= 1000
        out: List[Emit] = []
        if ok:
            out.append(("private message",
                        {"id": sid, "name": self.names[sid], "text": text, "time": int(time.time() * 1000)},
                        str(to), None))
        return {"ok": ok}, out

    def list_rooms(self) -> Any:
        return sorted(({"name": r, "members": len(m)} for r, m in self.members.items()), key=lambda r: r["name"])

    def disconnect(self, sid: str) -> List[Emit]:
        out: List[Emit] = []
        self._leave(sid, out)
        self.names.pop(sid, None)
        self.room_of.pop(sid, None)
        return out


def sync_server(sio: Any, refuse: Any) -> None:
    """Registers the chat on a server with sync emits (roomcast.socketio.Server)."""
    chat = Chat()

    def send(out: List[Emit]) -> None:
        for event, data, room, skip in out:
            sio.emit(event, data, room=room, skip_sid=skip)

    @sio.event
    def connect(sid: str, environ: Any, auth: Any = None) -> None:
        if not chat.connect(sid, auth):
            raise refuse("name required")

    @sio.event
    def join(sid: str, data: Any = None) -> Any:
        ack, out, enter, old = chat.join(sid, data)
        if old is not None:
            sio.leave_room(sid, key(old))
        if enter is not None:
            sio.enter_room(sid, key(enter))
        send(out)
        return ack

    @sio.event
    def leave(sid: str, data: Any = None) -> Any:
        ack, out, old = chat.leave(sid)
        if old is not None:
            sio.leave_room(sid, key(old))
        send(out)
        return ack

    @sio.event
    def message(sid: str, data: Any = None) -> None:
        send(chat.message(sid, data))

    @sio.event
    def typing(sid: str, data: Any = None) -> None:
        send(chat.typing(sid, data))

    @sio.on("private message")
    def private(sid: str, data: Any = None) -> Any:
        ack, out = chat.private(sid, data)
        send(out)
        return ack

    @sio.on("list rooms")
    def list_rooms(sid: str, data: Any = None) -> Any:
        return chat.list_rooms()

    @sio.event
    def disconnect(sid: str, reason: Any = None) -> None:
        send(chat.disconnect(sid))


def async_server(sio: Any, refuse: Any) -> None:
    """The same chat with awaited emits (python-socketio's AsyncServer)."""
    chat = Chat()

    async def send(out: List[Emit]) -> None:
        for event, data, room, skip in out:
            await sio.emit(event, data, room=room, skip_sid=skip)

    @sio.event
    async def connect(sid: str, environ: Any, auth: Any = None) -> None:
        if not chat.connect(sid, auth):
            raise refuse("name required")

    @sio.event
    async def join(sid: str, data: Any = None) -> Any:
        ack, out, enter, old = chat.join(sid, data)
        if old is not None:
            await sio.leave_room(sid, key(old))
        if enter is not None:
            await sio.enter_room(sid, key(enter))
        await send(out)
        return ack

    @sio.event
    async def leave(sid: str, data: Any = None) -> Any:
        ack, out, old = chat.leave(sid)
        if old is not None:
            await sio.leave_room(sid, key(old))
        await send(out)
        return ack

    @sio.event
    async def message(sid: str, data: Any = None) -> None:
        await send(chat.message(sid, data))

    @sio.event
    async def typing(sid: str, data: Any = None) -> None:
        await send(chat.typing(sid, data))

    @sio.on("private message")
    async def private(sid: str, data: Any = None) -> Any:
        ack, out = chat.private(sid, data)
        await send(out)
        return ack

    @sio.on("list rooms")
    async def list_rooms(sid: str, data: Any = None) -> Any:
        return chat.list_rooms()

    @sio.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        await send(chat.disconnect(sid))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=["roomcast", "roomcast-asgi", "python-socketio"], required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3000)
    a = p.parse_args()
    if a.impl.startswith("roomcast"):
        import roomcast.socketio as rsio

        sio = rsio.Server(threads=2)
        sync_server(sio, rsio.ConnectionRefusedError)
        if a.impl == "roomcast":
            host, port = sio.start(a.host, a.port)
            print(f"listening on {host}:{port}", flush=True)
            try:
                sio.wait()
            except KeyboardInterrupt:
                pass
            sio.shutdown()
            return
        app: Any = rsio.ASGIApp(sio)
    else:
        import socketio

        psio = socketio.AsyncServer(async_mode="asgi", transports=["websocket"])
        async_server(psio, socketio.exceptions.ConnectionRefusedError)
        app = socketio.ASGIApp(psio)
    import asyncio
    import socket

    import uvicorn

    # Bound here, so "listening on" is printed once connections are accepted.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(4096)
    print(f"listening on {a.host}:{sock.getsockname()[1]}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", backlog=4096))
    asyncio.run(server.serve(sockets=[sock]))


if __name__ == "__main__":
    main()
