"""Connect with auth (refused without the right token), a greeting with
several arguments, acks returned from handlers, per-client sessions, and a
namespace class."""

import roomcast.socketio as socketio

sio = socketio.AsyncServer(async_mode="asgi")
app = socketio.ASGIApp(sio)


@sio.event
async def connect(sid, environ, auth):
    if not auth or auth.get("token") != "open sesame":
        raise socketio.exceptions.ConnectionRefusedError("authentication failed", {"hint": "token"})
    await sio.save_session(sid, {"name": auth.get("name", "anon"), "count": 0})
    await sio.emit("hello", (1, 2, {"hello": "you"}), to=sid)


@sio.event
async def add(sid, a, b):
    return a + b


@sio.event
async def count(sid):
    async with sio.session(sid) as session:
        session["count"] += 1
        return session["name"], session["count"]


@sio.event
def disconnect(sid):
    pass


class Shouter(socketio.AsyncNamespace):
    async def on_connect(self, sid, environ):
        await self.emit("ready", {"rooms": sio.rooms(sid, namespace="/shout")}, to=sid)

    async def on_shout(self, sid, text):
        await self.emit("shouted", text.upper(), skip_sid=sid)
        return "ok"


sio.register_namespace(Shouter("/shout"))
