"""The python-socketio server API on roomcast.socketio.Server (sync), with
the official python-socketio client."""

from __future__ import annotations

import threading
import time
from typing import Any, Dict, List

import pytest

socketio = pytest.importorskip("socketio")

import roomcast  # noqa: E402
import roomcast.socketio as rsio  # noqa: E402
from sio_helpers import wait_for  # noqa: E402


@pytest.fixture
def sio() -> Any:
    srv = rsio.Server()
    yield srv
    srv.shutdown()


def client(srv: rsio.Server, **kw: Any) -> Any:
    c = socketio.Client()
    assert srv.address is not None
    c.connect(f"http://127.0.0.1:{srv.address[1]}", transports=["websocket"], **kw)
    return c


def test_connect_environ_auth_refusal_and_disconnect(sio: rsio.Server) -> None:
    log: List[Any] = []

    @sio.event
    def connect(sid: str, environ: Dict[str, Any], auth: Any) -> Any:
        log.append(("connect", sid, environ["HTTP_X_APP"], "k=v" in environ["QUERY_STRING"].split("&"), auth))
        if auth.get("token") == "refuse":
            raise rsio.ConnectionRefusedError("nope", {"why": "token"})
        if auth.get("token") == "false":
            return False
        sio.save_session(sid, {"user": auth.get("user")})
        sio.enter_room(sid, "members")  # before the socket exists: applied after
        sio.emit("welcome", sid, to=sid)
        return None

    @sio.event
    def disconnect(sid: str, reason: str) -> None:
        log.append(("disconnect", sid, reason))

    sio.start("127.0.0.1", 0)
    errors: List[Any] = []
    bad = socketio.Client()
    bad.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        bad.connect(f"http://127.0.0.1:{sio.address[1]}", transports=["websocket"],  # type: ignore[index]
                    auth={"token": "refuse"}, headers={"X-App": "t"})
    with pytest.raises(socketio.exceptions.ConnectionError):
        bad.connect(f"http://127.0.0.1:{sio.address[1]}", transports=["websocket"],  # type: ignore[index]
                    auth={"token": "false"}, headers={"X-App": "t"})
    assert {"message": "nope", "data": {"why": "token"}} in errors
    assert {"message": "Connection rejected by server"} in errors or "Connection rejected by server" in errors

    welcome: List[str] = []
    c = socketio.Client()
    c.on("welcome", lambda sid: welcome.append(sid))
    assert sio.address is not None
    c.connect(f"http://127.0.0.1:{sio.address[1]}?k=v", transports=["websocket"],
              auth={"user": "ann"}, headers={"X-App": "t"})
    wait_for(lambda: welcome)
    sid = welcome[0]
    assert ("connect", sid, "t", True, {"user": "ann"}) in log
    assert sio.get_session(sid) == {"user": "ann"}
    assert sio.rooms(sid) == [sid, "members"]
    assert sio.get_environ(sid)["HTTP_X_APP"] == "t"  # type: ignore[index]
    sio.disconnect(sid)
    wait_for(lambda: any(e[0] == "disconnect" for e in log))
    assert ("disconnect", sid, "server namespace disconnect") in log
    assert sio.rooms(sid) == [] and sio.get_environ(sid) is None
    c.disconnect()


def test_events_args_acks_emit_targets_call_and_callback(sio: rsio.Server) -> None:
    sids: List[str] = []

    @sio.event
    def connect(sid: str, environ: Any) -> None:
        sids.append(sid)

    @sio.on("sum")
    def add(sid: str, *numbers: int) -> Any:
        return sum(numbers), len(numbers)

    @sio.on("join")
    def join(sid: str, room: str) -> None:
        sio.enter_room(sid, room)

    @sio.on("leave")
    def leave(sid: str, room: str) -> None:
        sio.leave_room(sid, room)

    @sio.on("*")
    def any_event(event: str, sid: str, *args: Any) -> str:
        return f"caught {event} {list(args)}"

    sio.start("127.0.0.1", 0)
    got: Dict[str, List[Any]] = {"a": [], "b": []}
    a, b = socketio.Client(), socketio.Client()
    for name, c in (("a", a), ("b", b)):
        c.on("news", lambda *args, name=name: got[name].append(args))
        c.on("message", lambda data, name=name: got[name].append(("message", data)))
        c.on("question", lambda x: x * 2)
        c.on("slow", lambda x: time.sleep(0.6))
        c.connect(f"http://127.0.0.1:{sio.address[1]}", transports=["websocket"])  # type: ignore[index]
    wait_for(lambda: len(sids) == 2)
    sa, sb = sids
    assert a.call("sum", (1, 2, 3), timeout=5) == (6, 3) or a.call("sum", (1, 2, 3), timeout=5) == [6, 3]
    assert a.call("whatever", {"x": 1}, timeout=5) == "caught whatever [{'x': 1}]"
    a.call("join", "r", timeout=5)
    b.call("join", "r", timeout=5)
    sio.emit("news", ("to r", 1), room="r", skip_sid=sa)
    sio.emit("news", "to all")
    sio.send("hello", to=sb)
    wait_for(lambda: ("to all",) in got["a"] and ("message", "hello") in got["b"])
    wait_for(lambda: ("to r", 1) in got["b"])
    assert ("to r", 1) not in got["a"]
    b.call("leave", "r", timeout=5)
    assert sio.rooms(sb) == [sb]
    sio.close_room("r")
    assert sio.rooms(sa) == [sa]
    # call: the client's ack handler answers.
    assert sio.call("question", 21, to=sa, timeout=5) == 42
    with pytest.raises(rsio.exceptions.TimeoutError):
        sio.call("slow", 1, to=sb, timeout=0.2)
    # callback: runs with the reply.
    replies: List[Any] = []
    sio.emit("question", 5, to=sb, callback=lambda r: replies.append(r))
    wait_for(lambda: replies == [10])
    a.disconnect()
    b.disconnect()


def test_session_context_background_task_and_sleep(sio: rsio.Server) -> None:
    done = threading.Event()

    def task(x: int) -> None:
        sio.sleep(0.01)
        if x == 7:
            done.set()

    t = sio.start_background_task(task, 7)
    assert done.wait(5)
    t.join()
    with sio.session("nobody") as s:
        s["n"] = 1
    assert sio.get_session("nobody") == {"n": 1}


def test_namespace_class_and_engine_handlers_side_by_side(sio: rsio.Server) -> None:
    seen: List[Any] = []

    class Chat(rsio.Namespace):
        def on_connect(self, sid: str, environ: Any) -> None:
            seen.append(("connect", self.rooms(sid)))

        def on_msg(self, sid: str, text: str) -> str:
            self.emit("msg", text, skip_sid=sid)
            return "sent"

    sio.register_namespace(Chat("/chat"))
    with pytest.raises(ValueError):
        sio.register_namespace(rsio.AsyncNamespace("/x"))

    # A plain roomcast handler on the same engine namespace runs too.
    @sio.engine.of("/chat").on("msg")
    def observe(socket: roomcast.Socket, data: Any, ack: Any) -> None:
        seen.append(("engine saw", data))

    sio.start("127.0.0.1", 0)
    got: List[Any] = []
    a, b = socketio.Client(), socketio.Client()
    b.on("msg", lambda text: got.append(text), namespace="/chat")
    for c in (a, b):
        c.connect(f"http://127.0.0.1:{sio.address[1]}", namespaces=["/chat"], transports=["websocket"])  # type: ignore[index]
    assert a.call("msg", "hi", namespace="/chat", timeout=5) == "sent"
    wait_for(lambda: got == ["hi"])
    assert ("engine saw", "hi") in seen
    connects = [e[1] for e in seen if e[0] == "connect"]
    assert len(connects) == 2 and all(len(rooms) == 1 for rooms in connects)  # [sid] during connect
    a.disconnect()
    b.disconnect()


def test_argument_lists_round_trip_through_payloads() -> None:
    """Every argument list maps to a payload and back (binary nested at any
    depth included), over random shapes (seeded, bounded)."""
    import random

    from roomcast.socketio import _args_of, _payload

    rng = random.Random(20)

    def value(depth: int) -> Any:
        kind = rng.randrange(8 if depth < 3 else 5)
        if kind == 0:
            return rng.randrange(-1000, 1000)
        if kind == 1:
            return rng.choice(["", "a", "sioArgs", "é", "x" * 50])
        if kind == 2:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(5)))
        if kind == 3:
            return rng.choice([None, True, False, 1.5])
        if kind == 4:
            # Looks like a placeholder but names no attachment: kept as is.
            return {"_placeholder": True, "num": 10**6} if rng.random() < 0.3 else "s"
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        if kind == 6:
            return {f"k{i}": value(depth + 1) for i in range(rng.randrange(4))}
        return {"sioArgs": [value(depth + 1)]}

    from roomcast.socketio import _args_of as decode

    # Hostile envelopes from a client: nothing raises.
    for bad in ({"sioArgs": [{"_placeholder": True, "num": 5}], "sioAttachments": ["AA=="]},
                {"sioArgs": [1], "sioAttachments": [3]}, {"sioArgs": "x"},
                {"sioArgs": [1], "sioAttachments": ["not base64!"]}):
        decode(bad)
    for _ in range(2000):
        args = [value(0) for _ in range(rng.randrange(4))]
        p = _payload(args)
        # Through the engine's JSON encoding, as on the wire.
        import json

        wire = p if isinstance(p, (bytes, str)) else json.loads(json.dumps(p))
        assert _args_of(wire) == args, args
