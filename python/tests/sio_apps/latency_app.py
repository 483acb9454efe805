"""Round-trip probe: the client pings, the server answers with no data."""

import roomcast.socketio as socketio

sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio)


@sio.event
async def ping_from_client(sid):
    await sio.emit("pong_from_server", room=sid)
