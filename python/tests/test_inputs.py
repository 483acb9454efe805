"""Bad inputs of every kind: wrong types raise TypeError with a message that
names the problem; bad values raise ValueError (InvalidName, PayloadTooLarge
for the engine's own rules). Nothing crashes, nothing is half-done."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import roomcast


@pytest.fixture
def env() -> "dict[str, Any]":
    e = roomcast.Engine(max_payload=64)
    ns = e.of("/")
    c = e.connect()
    s = c.join_namespace("/")
    return {"e": e, "ns": ns, "c": c, "s": s}


TYPE_ERRORS: "list[tuple[str, Callable[[dict[str, Any]], object], str]]" = [
    ("engine option type", lambda v: roomcast.Engine(max_queue="1"), "max_queue"),  # type: ignore[arg-type]
    ("engine positional", lambda v: roomcast.Engine(10), "positional"),  # type: ignore[misc]
    ("engine unknown option", lambda v: roomcast.Engine(bogus=1), "bogus"),  # type: ignore[call-arg]
    ("engine loop", lambda v: roomcast.Engine(loop=object()), "asyncio event loop"),  # type: ignore[arg-type]
    ("namespace name", lambda v: v["e"].of(3), "name"),
    ("event name", lambda v: v["ns"].emit(None, 1), "event"),
    ("event name bytes", lambda v: v["s"].emit(b"e", 1), "event"),
    ("set payload", lambda v: v["ns"].emit("e", {1, 2}), "JSON-serializable"),
    ("object payload", lambda v: v["s"].emit("e", object()), "JSON-serializable"),
    ("nested bad payload", lambda v: v["ns"].emit("e", {"k": [object()]}), "JSON-serializable"),
    ("auth payload", lambda v: v["e"].connect().join_namespace("/", auth=object()), "JSON-serializable"),
    ("set_data", lambda v: v["s"].set_data(lambda: 1), "JSON-serializable"),
    ("ack payload", lambda v: v["s"].receive_ack(1, object()), "JSON-serializable"),
    ("headers value", lambda v: v["c"].join_namespace("/x", headers={"a": 1}), "headers"),
    ("query type", lambda v: v["c"].join_namespace("/x", query=["a"]), "query"),
    ("room None", lambda v: v["s"].join(None), "rooms must be a str or a list/tuple of str, not NoneType"),
    ("room set", lambda v: v["s"].leave({"a"}), "not set"),
    ("room bytes", lambda v: v["ns"].to(b"r"), "not bytes"),
    ("room list item", lambda v: v["ns"].to(["a", None]), "room names must be str, not NoneType"),
    ("except_ int", lambda v: v["ns"].except_(1), "not int"),
    ("sockets_join", lambda v: v["ns"].to("r").sockets_join(3.5), "not float"),
    ("timeout str", lambda v: v["c"].recv(timeout="1"), "timeout"),
    ("recv_many max", lambda v: v["c"].recv_many(max="2"), "max"),
    ("ack id str", lambda v: v["s"].dispatch("e", 1, ack_id="7"), "ack_id"),
    ("receive_ack id", lambda v: v["s"].receive_ack("7"), "ack_id"),
    ("close reason", lambda v: v["c"].close(3), "reason"),
    ("on event", lambda v: v["ns"].on(3), "event"),
    ("on handler", lambda v: v["ns"].on("e")(3), "handler must be callable, not int"),
    ("use handler", lambda v: v["ns"].use(None), "handler must be callable, not NoneType"),
    ("event middleware", lambda v: v["ns"].use_event_middleware("f"), "callable"),
    ("on_connection", lambda v: v["ns"].on_connection(1), "callable"),
    ("on_fallback", lambda v: v["ns"].on_fallback(1), "callable"),
    ("on_room_event", lambda v: v["ns"].on_room_event(1), "callable"),
    ("on_error", lambda v: v["ns"].on_error(1), "callable"),
    ("on_any", lambda v: v["ns"].on_any(1), "callable"),
    ("on_disconnect", lambda v: v["ns"].on_disconnect(1), "callable"),
    ("on_disconnecting", lambda v: v["ns"].on_disconnecting(1), "callable"),
    ("of_dynamic", lambda v: v["e"].of_dynamic("x"), "callable"),
    ("operator timeout", lambda v: v["ns"].to("r").timeout("1"), "seconds"),
    ("no public constructor", lambda v: roomcast.Socket(), "cannot create"),  # type: ignore[call-arg]
    ("no public constructor msg", lambda v: roomcast.Message(), "cannot create"),  # type: ignore[call-arg]
]


@pytest.mark.parametrize("what,call,text", TYPE_ERRORS, ids=[t[0] for t in TYPE_ERRORS])
def test_type_errors(env: "dict[str, Any]", what: str, call: Callable[[Any], object], text: str) -> None:
    with pytest.raises(TypeError, match=text.replace("(", r"\(").replace(")", r"\)")):
        call(env)
    # the engine is unharmed
    assert env["s"].emit("ok", 1).queued == 1


def circular() -> "list[Any]":
    x: list[Any] = []
    x.append(x)
    return x


VALUE_ERRORS: "list[tuple[str, Callable[[dict[str, Any]], object], Any]]" = [
    ("empty room", lambda v: v["s"].join(""), roomcast.InvalidName),
    ("long room", lambda v: v["s"].join("r" * 10_000), roomcast.InvalidName),
    ("empty event", lambda v: v["ns"].emit("", 1), roomcast.InvalidName),
    ("reserved event", lambda v: v["s"].emit("connect", 1), roomcast.InvalidName),
    ("reserved dispatch", lambda v: v["s"].dispatch("disconnect", 1), roomcast.InvalidName),
    ("namespace without slash", lambda v: v["e"].of("chat"), roomcast.InvalidName),
    ("join bad namespace", lambda v: v["c"].join_namespace("nope"), roomcast.InvalidName),
    ("operator empty room", lambda v: v["ns"].to("").emit("e", 1), roomcast.InvalidName),
    ("too large bytes", lambda v: v["ns"].emit("e", b"x" * 65), roomcast.PayloadTooLarge),
    ("too large text", lambda v: v["s"].emit("e", "y" * 65), roomcast.PayloadTooLarge),
    ("too large json", lambda v: v["s"].emit("e", ["z" * 70]), roomcast.PayloadTooLarge),
    ("too large ack reply", lambda v: v["s"].receive_ack(1, b"x" * 65), roomcast.PayloadTooLarge),
    ("too large dispatch", lambda v: v["s"].dispatch("e", b"x" * 65), roomcast.PayloadTooLarge),
    ("nan", lambda v: v["s"].emit("e", float("nan")), ValueError),
    ("circular", lambda v: v["s"].emit("e", circular()), ValueError),
    ("negative timeout", lambda v: v["c"].recv(timeout=-1), ValueError),
    ("infinite timeout", lambda v: v["c"].recv(timeout=float("inf")), ValueError),
    ("recv_many zero", lambda v: v["c"].recv_many(max=0), ValueError),
    ("negative max", lambda v: v["c"].recv_many(max=-1), ValueError),
    ("negative ack id", lambda v: v["s"].dispatch("e", 1, ack_id=-1), ValueError),
    ("unknown close reason", lambda v: v["c"].close("because"), ValueError),
    ("own room leave", lambda v: v["s"].leave(v["s"].id), roomcast.OwnRoomError),
    ("zero queue", lambda v: roomcast.Engine(max_queue=0), ValueError),
    ("negative queue", lambda v: roomcast.Engine(max_queue=-1), ValueError),
    ("unknown overflow", lambda v: roomcast.Engine(overflow="explode"), ValueError),  # type: ignore[arg-type]
    ("nan ack timeout", lambda v: roomcast.Engine(ack_timeout=float("nan")), ValueError),
    ("negative op timeout", lambda v: v["ns"].timeout(-0.5), ValueError),
]


@pytest.mark.parametrize("what,call,exc", VALUE_ERRORS, ids=[t[0] for t in VALUE_ERRORS])
def test_value_errors(env: "dict[str, Any]", what: str, call: Callable[[Any], object], exc: Any) -> None:
    with pytest.raises(exc):
        call(env)
    assert env["s"].emit("ok", 1).queued == 1
    assert env["e"].stats()["sockets"] == 1


def test_invalid_name_is_value_error_with_the_name(env: "dict[str, Any]") -> None:
    with pytest.raises(ValueError, match="room"):
        env["s"].join("")
    with pytest.raises(roomcast.PayloadTooLarge, match="64"):
        env["s"].emit("e", b"x" * 100)


def test_failed_multi_room_join_joins_nothing(env: "dict[str, Any]") -> None:
    s = env["s"]
    with pytest.raises(roomcast.InvalidName):
        s.join(["a", "", "b"])
    assert s.rooms == [s.id]


def test_closed_connection_operations(env: "dict[str, Any]") -> None:
    c, s = env["c"], env["s"]
    c.close()
    with pytest.raises(roomcast.Closed):
        s.emit("e", 1)
    with pytest.raises(roomcast.Closed):
        s.join("r")
    with pytest.raises(roomcast.Closed):
        c.join_namespace("/")
    with pytest.raises(roomcast.Closed):
        s.broadcast.emit("e", 1)
    assert s.disconnect() is False
    c.close()  # idempotent
    with pytest.raises(roomcast.Closed):
        c.recv_many(max=10, timeout=0)
    with pytest.raises(roomcast.Closed):
        c.recv(timeout=0)
    with pytest.raises(roomcast.Closed):
        c.try_recv()


@pytest.mark.parametrize("name", ["", "x" * 257, "a\x07b", "disconnect", "connect"])
def test_defect_4_on_and_off_refuse_names_dispatch_refuses(env: "dict[str, Any]", name: str) -> None:
    ns, s = env["ns"], env["s"]
    with pytest.raises(roomcast.InvalidName):
        s.dispatch(name, 1)
    with pytest.raises(roomcast.InvalidName):
        ns.on(name)
    with pytest.raises(roomcast.InvalidName):
        ns.off(name)
    # Nothing was registered: a valid event still finds no handler.
    assert s.dispatch("ev", 1) == "unhandled"


def test_defect_4_on_accepts_the_longest_valid_name(env: "dict[str, Any]") -> None:
    ns, s = env["ns"], env["s"]
    seen: "list[object]" = []
    name = "x" * 256
    ns.on(name)(lambda socket, data, ack: seen.append(data))
    s.dispatch(name, 7)
    assert seen == [7]
    ns.off(name)


def test_defect_5_join_auth_over_max_payload_is_refused_like_dispatch(env: "dict[str, Any]") -> None:
    e, s = env["e"], env["s"]
    big = b"x" * 65
    with pytest.raises(roomcast.PayloadTooLarge) as dispatched:
        s.dispatch("ev", big)
    c = e.connect()
    with pytest.raises(roomcast.PayloadTooLarge) as joined:
        c.join_namespace("/", auth=big)
    assert str(joined.value) == str(dispatched.value) == "payload of 65 bytes exceeds the limit of 64"
    assert c.sockets() == []
    c.join_namespace("/", auth=b"x" * 64)
