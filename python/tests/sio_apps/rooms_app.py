"""Rooms demo: echo to the sender, broadcast, join/leave/close rooms,
messages to a room, a server-initiated disconnect, and a background task
that emits to everyone."""

import roomcast.socketio as socketio

sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=None)
app = socketio.ASGIApp(sio, static_files={"/": "rooms.html"})
ticker_running = False


async def ticker():
    n = 0
    while True:
        await sio.sleep(0.5)
        n += 1
        await sio.emit("my_response", {"data": "tick", "n": n})


@sio.on("connect")
async def on_connect(sid, environ):
    global ticker_running
    if not ticker_running:
        ticker_running = True
        sio.start_background_task(ticker)
    await sio.emit("my_response", {"data": "Connected", "count": 0}, room=sid)


@sio.on("my_event")
async def echo(sid, message):
    await sio.emit("my_response", {"data": message["data"]}, room=sid)


@sio.on("my_broadcast_event")
async def shout(sid, message):
    await sio.emit("my_response", {"data": message["data"]})


@sio.on("join")
async def join(sid, message):
    await sio.enter_room(sid, message["room"])
    await sio.emit("my_response", {"data": "In room " + message["room"]}, room=sid)


@sio.on("leave")
async def leave(sid, message):
    await sio.leave_room(sid, message["room"])
    await sio.emit("my_response", {"data": "Out of room " + message["room"]}, room=sid)


@sio.on("close room")
async def close(sid, message):
    room = message["room"]
    await sio.emit("my_response", {"data": "Closing " + room}, room=room)
    await sio.close_room(room)


@sio.on("my_room_event")
async def to_room(sid, message):
    await sio.emit("my_response", {"data": message["data"]}, room=message["room"])


@sio.on("disconnect request")
async def kick(sid):
    await sio.disconnect(sid)


@sio.on("disconnect")
def on_disconnect(sid):
    print("gone", sid, flush=True)
