"""A WebSocket chat server: nicknames, rooms, join/leave notices, messages to
a room (except the sender) and private messages, on 127.0.0.1.

roomcast decides who gets what; the `websockets` package (15.x) carries the
frames. Each WebSocket is one roomcast connection with one socket in the
"/chat" namespace; a pump task drains its outbox into the WebSocket.

Run:   python examples/python/chat_server.py --port 8765
Prints "listening on ws://127.0.0.1:PORT" once ready (--port 0 picks a port).

Every frame is a JSON object with a "type":
  client -> server
    {"type": "nick", "name": "ann"}               set or change the nickname
    {"type": "join", "room": "lobby"}             join a room
    {"type": "leave", "room": "lobby"}            leave a room
    {"type": "msg", "room": "lobby", "text": ""}  say something in a room
    {"type": "private", "to": "bob", "text": ""}  private message
    {"type": "who", "room": "lobby"}              list the nicknames in a room
  server -> client
    {"type": "welcome", "nick": "guest-1"}
    {"type": "nick", "nick": "ann"}                  your nickname changed
    {"type": "notice", "room": "lobby", "text": "ann joined"}
    {"type": "msg", "room": "lobby", "from": "ann", "text": "hi"}
    {"type": "private", "from": "ann", "text": "psst"}
    {"type": "who", "room": "lobby", "nicks": ["ann", "bob"]}
    {"type": "error", "text": "..."}
    {"type": "lagged", "missed": 810}               you read too slowly: 810 messages
                                                     to you were dropped just before this
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from typing import Any, Optional

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

import roomcast

USER = "user:"  # the room holding the socket of one nickname
engine = roomcast.Engine()
chat = engine.of("/chat")
guests = itertools.count(1)


def nick_of(socket: roomcast.Socket) -> str:
    data = socket.data
    return str(data["nick"]) if isinstance(data, dict) else "?"


def chat_rooms(socket: roomcast.Socket) -> list[str]:
    """The rooms a user joined (not its own-id room nor its nickname room)."""
    return [r for r in socket.rooms if r != socket.id and not r.startswith(USER)]


def error(socket: roomcast.Socket, text: str) -> None:
    socket.emit("error", {"text": text})


def name_field(data: Any, key: str) -> Optional[str]:
    """data[key] when it is a usable room or nickname (1 to 32 characters)."""
    value = data.get(key) if isinstance(data, dict) else None
    if isinstance(value, str) and 0 < len(value) <= 32 and not value.startswith(USER):
        return value
    return None


@chat.on_connection
def welcome(socket: roomcast.Socket) -> None:
    nick = f"guest-{next(guests)}"
    socket.set_data({"nick": nick})
    socket.join(USER + nick)
    socket.emit("welcome", {"nick": nick})


@chat.on("nick")
def change_nick(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    new = name_field(data, "name")
    if new is None:
        return error(socket, "a nickname is 1 to 32 characters")
    if chat.room_size(USER + new) > 0:
        return error(socket, f"{new} is taken")
    old = nick_of(socket)
    socket.leave(USER + old)
    socket.join(USER + new)
    socket.set_data({"nick": new})
    socket.emit("nick", {"nick": new})
    for room in chat_rooms(socket):
        socket.to(room).emit("notice", {"room": room, "text": f"{old} is now {new}"})


@chat.on("join")
def join(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    room = name_field(data, "room")
    if room is None:
        return error(socket, "a room name is 1 to 32 characters")
    socket.join(room)
    socket.to(room).emit("notice", {"room": room, "text": f"{nick_of(socket)} joined"})


@chat.on("leave")
def leave(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    room = name_field(data, "room")
    if room is None or room not in chat_rooms(socket):
        return error(socket, f"not in {room}")
    socket.leave(room)
    socket.to(room).emit("notice", {"room": room, "text": f"{nick_of(socket)} left"})


@chat.on("msg")
def message(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    room = name_field(data, "room")
    if room is None or room not in chat_rooms(socket):
        return error(socket, f"not in {room}")
    text = str(data.get("text", ""))
    socket.to(room).emit("msg", {"room": room, "from": nick_of(socket), "text": text})


@chat.on("private")
def private(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    to = name_field(data, "to")
    if to is None or chat.room_size(USER + to) == 0:
        return error(socket, f"no user {to}")
    text = str(data.get("text", ""))
    socket.to(USER + to).emit("private", {"from": nick_of(socket), "text": text})


@chat.on("who")
def who(socket: roomcast.Socket, data: Any, ack: Any) -> None:
    room = name_field(data, "room")
    if room is None:
        return error(socket, "a room name is 1 to 32 characters")
    nicks = sorted(nick_of(s) for s in chat.in_(room).fetch_sockets())
    socket.emit("who", {"room": room, "nicks": nicks})


@chat.on_fallback
def unknown(socket: roomcast.Socket, event: str, data: Any, ack: Any) -> None:
    error(socket, f"unknown type {event!r}")


@chat.on_disconnecting
def farewell(socket: roomcast.Socket, reason: str) -> None:
    # Still in its rooms here: tell each of them (the socket itself is skipped).
    for room in chat_rooms(socket):
        socket.to(room).emit("notice", {"room": room, "text": f"{nick_of(socket)} left"})


async def pump(conn: roomcast.Connection, ws: ServerConnection) -> None:
    """Outbox -> WebSocket, until the connection closes."""
    async for msg in conn:
        if msg.kind == "event" and isinstance(msg.data, dict):
            await ws.send(json.dumps({"type": msg.event, **msg.data}))
        elif msg.kind == "lagged":
            # The outbox overflowed (a burst faster than this client reads)
            # and the engine dropped messages: say how many, rather than
            # letting the gap pass unnoticed.
            await ws.send(json.dumps({"type": "lagged", "missed": msg.lagged}))


async def handle(ws: ServerConnection) -> None:
    conn = engine.connect()
    socket = conn.join_namespace("/chat")
    sender = asyncio.create_task(pump(conn, ws))
    try:
        async for frame in ws:
            try:
                data = json.loads(frame)
                kind = data.pop("type")
            except (ValueError, TypeError, KeyError, AttributeError):
                error(socket, "frames are JSON objects with a type")
                continue
            try:
                socket.dispatch(str(kind), data)
            except roomcast.InvalidName:
                error(socket, f"unknown type {kind!r}")
    except ConnectionClosed:
        pass
    finally:
        conn.close("transport close")
        try:
            await sender
        except ConnectionClosed:
            pass


async def main(port: int) -> None:
    async with serve(handle, "127.0.0.1", port) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on ws://127.0.0.1:{bound}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0: any free port)")
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        pass
