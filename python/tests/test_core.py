import gc

import pytest

import roomcast
from conftest import drain


def test_all_exports():
    for name in roomcast.__all__:
        assert hasattr(roomcast, name), name


def test_engine_config_kwargs():
    e = roomcast.Engine(
        max_queue=8,
        max_queue_bytes=4096,
        overflow="drop_newest",
        max_payload=1024,
        max_rooms_per_socket=3,
        max_name_len=32,
        ack_timeout=2.5,
        remove_empty_dynamic=False,
    )
    c = e.config()
    assert c["max_queue"] == 8
    assert c["overflow"] == "drop_newest"
    assert c["ack_timeout"] == 2.5
    assert c["max_rooms_per_socket"] == 3


def test_engine_defaults():
    c = roomcast.Engine().config()
    assert c["max_queue"] == 1024
    assert c["overflow"] == "drop_oldest"
    assert c["max_payload"] == 1 << 20


@pytest.mark.parametrize(
    "kwargs,exc",
    [
        ({"max_queue": 0}, ValueError),
        ({"overflow": "explode"}, ValueError),
        ({"ack_timeout": -1.0}, ValueError),
        ({"ack_timeout": float("nan")}, ValueError),
        ({"max_queue": "10"}, TypeError),
        ({"max_queue": -1}, ValueError),
        ({"overflow": 3}, TypeError),
        ({"bogus": 1}, TypeError),
    ],
)
def test_engine_bad_config(kwargs, exc):
    with pytest.raises(exc):
        roomcast.Engine(**kwargs)


def test_engine_positional_rejected():
    with pytest.raises(TypeError):
        roomcast.Engine(10)  # type: ignore[misc]


def test_of_and_namespaces(engine):
    ns = engine.of("/chat")
    assert ns.name == "/chat"
    assert "/" in engine.namespaces()
    assert "/chat" in engine.namespaces()
    with pytest.raises(roomcast.InvalidName):
        engine.of("no-slash")
    with pytest.raises(ValueError):
        engine.of("")
    with pytest.raises(TypeError):
        engine.of(3)  # type: ignore[arg-type]


def test_join_rooms_emit(engine, chat):
    a, b = engine.connect(), engine.connect()
    sa = a.join_namespace("/chat")
    sb = b.join_namespace("/chat", auth={"token": "t"})
    assert sa.id != sb.id
    assert sa.namespace == "/chat"
    assert sa.rooms == [sa.id]
    sa.join("lobby")
    sb.join(["lobby", "x"])
    assert set(sb.rooms) == {sb.id, "lobby", "x"}
    assert sb.in_room("x")
    assert chat.room_size("lobby") == 2
    assert chat.socket_count() == 2
    assert "lobby" in chat.rooms()
    r = sa.to("lobby").emit("m", "hi")
    assert (r.recipients, r.queued, r.dropped) == (1, 1, 0)
    assert drain(a) == []
    [m] = drain(b)
    assert (m.kind, m.namespace, m.event, m.data, m.raw, m.ack_id, m.format) == (
        "event",
        "/chat",
        "m",
        "hi",
        b"hi",
        None,
        "text",
    )
    sb.leave("x")
    assert "x" not in sb.rooms
    with pytest.raises(ValueError):
        sb.leave(sb.id)


def test_payload_formats(engine, chat):
    c = engine.connect()
    s = c.join_namespace("/chat")
    values = [b"\x00\x01", bytearray(b"ba"), memoryview(b"mv"), "txt", {"a": [1, 2]}, [1], 3, 2.5, None, True]
    for v in values:
        s.emit("e", v)
    got = [m for m in drain(c)]
    assert [m.format for m in got] == ["binary"] * 3 + ["text"] + ["json"] * 6
    assert [m.data for m in got] == [b"\x00\x01", b"ba", b"mv", "txt", {"a": [1, 2]}, [1], 3, 2.5, None, True]
    assert got[4].raw == b'{"a":[1,2]}'
    assert all(isinstance(m.raw, bytes) for m in got)


def test_unserializable_payload_type_error(engine, chat):
    c = engine.connect()
    s = c.join_namespace("/chat")
    with pytest.raises(TypeError):
        s.emit("e", object())
    with pytest.raises(TypeError):
        s.emit(3, "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.join(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        s.join(["a", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        chat.to(b"room")  # type: ignore[arg-type]


def test_invalid_names(engine, chat):
    c = engine.connect()
    s = c.join_namespace("/chat")
    with pytest.raises(roomcast.InvalidName):
        s.join("")
    with pytest.raises(roomcast.InvalidName):
        chat.emit("", 1)
    with pytest.raises(roomcast.InvalidName):
        chat.emit("x" * 1000, 1)
    with pytest.raises(roomcast.InvalidName):
        c.join_namespace("bad")
    assert issubclass(roomcast.InvalidName, ValueError)
    assert issubclass(roomcast.InvalidName, roomcast.RoomcastError)


def test_payload_too_large():
    e = roomcast.Engine(max_payload=16)
    e.of("/")
    c = e.connect()
    s = c.join_namespace("/")
    with pytest.raises(roomcast.PayloadTooLarge):
        s.emit("e", b"x" * 17)
    with pytest.raises(ValueError):
        s.emit("e", "y" * 100)
    s.emit("e", b"x" * 16)


def test_exception_hierarchy():
    assert issubclass(roomcast.AckTimeout, TimeoutError)
    assert issubclass(roomcast.PayloadTooLarge, ValueError)
    for name in ("ConnectRefused", "Closed", "InvalidName", "PayloadTooLarge", "AckTimeout"):
        assert issubclass(getattr(roomcast, name), roomcast.RoomcastError)
    e = roomcast.ConnectRefused("nope", data={"k": 1})
    assert e.message == "nope" and e.data == {"k": 1} and str(e) == "nope"


def test_operators(engine, chat):
    conns = [engine.connect() for _ in range(4)]
    socks = [c.join_namespace("/chat") for c in conns]
    socks[0].join(["a"])
    socks[1].join(["a", "c"])
    socks[2].join(["b"])
    r = chat.to("a").to("b").except_("c").volatile.emit("ev", {"x": 1})
    assert r.recipients == 2
    assert [len(drain(c)) for c in conns] == [1, 0, 1, 0]
    assert chat.emit("all", 1).recipients == 4
    assert chat.except_("a").emit("e", 1).recipients == 2
    assert chat.in_(["a", "b"]).emit("e", 1).recipients == 3
    assert socks[0].broadcast.emit("e", "text").recipients == 3
    assert socks[0].to("a").emit("e", b"bytes").recipients == 1
    assert socks[0].except_("a").emit("e", 1).recipients == 2
    assert socks[0].emit("e", 1).recipients == 1
    assert chat.to(socks[3].id).emit("dm", 1).recipients == 1
    op = chat.to("a")
    op.to("b")  # operators are immutable: this does not change op
    assert op.emit("e", 1).recipients == 2
    assert len(chat.to("a").fetch_sockets()) == 2
    assert chat.to("a").sockets_join("z") == 2
    assert chat.room_size("z") == 2
    assert chat.to("z").sockets_leave("z") == 2
    assert len(chat.fetch_sockets()) == 4
    assert chat.socket(socks[1].id) == socks[1]
    assert chat.socket("nope") is None


def test_queue_overflow_drop_newest():
    e = roomcast.Engine(max_queue=2, overflow="drop_newest")
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")
    reports = [ns.emit("e", i) for i in range(4)]
    assert [r.queued for r in reports] == [1, 1, 0, 0]
    assert e.stats()["dropped"] == 2
    assert [m.data for m in drain(c)] == [0, 1]


def test_drop_oldest_lagged():
    e = roomcast.Engine(max_queue=2)
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")
    for i in range(5):
        ns.emit("e", i)
    kinds = [(m.kind, m.lagged) for m in drain(c)]
    assert ("lagged", 3) in kinds or any(k == "lagged" for k, _ in kinds)


def test_recv_timeout_and_closed(engine):
    c = engine.connect()
    s = c.join_namespace("/")
    assert c.recv(timeout=0.01) is None
    assert c.try_recv() is None
    assert c.recv_many(max=4, timeout=0.01) == []
    for i in range(5):
        s.emit("e", i)
    assert len(c) == 5
    assert [m.data for m in c.recv_many(max=3, timeout=0.1)] == [0, 1, 2]
    assert [m.data for m in c.recv_many()] == [3, 4]
    assert not c.closed
    c.close("transport close")
    assert c.closed and c.close_reason == "transport close"
    assert not s.connected
    with pytest.raises(roomcast.Closed):
        c.recv(timeout=0.1)
    with pytest.raises(roomcast.Closed):
        c.try_recv()
    with pytest.raises(roomcast.Closed):
        c.recv_many(timeout=0.1)
    with pytest.raises(roomcast.Closed):
        s.emit("e", 1)
    with pytest.raises(roomcast.Closed):
        s.join("r")
    with pytest.raises(roomcast.Closed):
        c.join_namespace("/")
    with pytest.raises(ValueError):
        c.recv(timeout=-1)
    with pytest.raises(ValueError):
        c.recv_many(max=0)


def test_close_bad_reason(engine):
    c = engine.connect()
    with pytest.raises(ValueError):
        c.close("because")
    c.close("server shutting down")
    assert c.close_reason == "server shutting down"


def test_iteration_ends_when_closed(engine):
    c = engine.connect()
    s = c.join_namespace("/")
    for i in range(3):
        s.emit("e", i)
    c.close()
    assert [m.data for m in c] == [0, 1, 2]


def test_socket_disconnect_message(engine, chat):
    c = engine.connect()
    s = c.join_namespace("/chat")
    assert c.socket("/chat") == s
    assert c.sockets() == [s]
    assert s.disconnect() is True
    assert s.disconnect() is False
    assert s.disconnect_reason == "server namespace disconnect"
    [m] = drain(c)
    assert (m.kind, m.namespace, m.reason, m.data, m.raw) == ("disconnect", "/chat", "server namespace disconnect", None, b"")
    assert chat.socket_count() == 0


def test_socket_disconnect_with_a_reason(engine, chat):
    seen = []
    chat.on_disconnect(lambda sock, reason: seen.append((sock.id, reason)))
    c = engine.connect()
    s = c.join_namespace("/chat")
    s.join("r")
    with pytest.raises(ValueError, match='unknown disconnect reason "bored"'):
        s.disconnect("bored")
    with pytest.raises(TypeError):
        s.disconnect(7)
    assert s.connected and sorted(s.rooms) == sorted([s.id, "r"])
    assert seen == []
    assert s.disconnect("ping timeout") is True
    assert s.disconnect("transport close") is False
    assert s.disconnect_reason == "ping timeout"
    assert seen == [(s.id, "ping timeout")]
    assert chat.room_size("r") == 0
    # a transport-side reason tells nobody; a server-side one queues a notice
    assert drain(c) == []
    t = c.join_namespace("/")
    assert t.disconnect("server shutting down") is True
    [m] = drain(c)
    assert (m.kind, m.namespace, m.reason) == ("disconnect", "/", "server shutting down")


def test_socket_emit_volatile_drops_instead_of_overflowing():
    e = roomcast.Engine(max_queue=2, overflow="disconnect")
    c = e.connect()
    s = c.join_namespace("/")
    r = s.emit_volatile("v", 1)
    assert (r.recipients, r.queued, r.dropped) == (1, 1, 0)
    s.emit("n", 2)
    r = s.emit_volatile("v", 3)
    assert (r.recipients, r.queued, r.dropped) == (1, 0, 1)
    assert s.connected and not c.closed
    assert [m.data for m in drain(c)] == [1, 2]
    with pytest.raises(TypeError):
        s.emit_volatile(None, 1)
    # the same overflow through a plain emit applies the policy
    for i in range(3):
        s.emit("n", i)
    assert c.closed and c.close_reason == "queue overflow"


def test_unknown_namespace_refused(engine):
    c = engine.connect()
    with pytest.raises(roomcast.ConnectRefused) as info:
        c.join_namespace("/nobody")
    assert info.value.message == "Invalid namespace"


def test_already_joined(engine):
    c = engine.connect()
    c.join_namespace("/")
    with pytest.raises(roomcast.RoomcastError):
        c.join_namespace("/")


def test_too_many_rooms():
    e = roomcast.Engine(max_rooms_per_socket=2)
    c = e.connect()
    s = c.join_namespace("/")
    s.join("a")
    with pytest.raises(roomcast.RoomcastError):
        s.join(["b", "c"])


def test_stats(engine, chat):
    c = engine.connect()
    c.join_namespace("/chat")
    chat.emit("e", 1)
    st = engine.stats()
    assert set(st) == {"connections", "sockets", "rooms", "namespaces", "emitted", "delivered", "dropped", "acks_ignored"}
    assert st["connections"] == 1 and st["sockets"] == 1 and st["emitted"] == 1 and st["delivered"] == 1


def test_disconnect_sockets(engine, chat):
    conns = [engine.connect() for _ in range(3)]
    for c in conns:
        c.join_namespace("/chat")
    assert chat.disconnect_sockets() == 3
    assert chat.socket_count() == 0


def test_reprs(engine, chat):
    c = engine.connect()
    s = c.join_namespace("/chat")
    s.emit("e", 1)
    m = c.recv(timeout=1)
    for obj in (engine, chat, c, s, m, chat.emit("e", 1)):
        assert isinstance(repr(obj), str)
    assert hash(s) == hash(chat.socket(s.id))


def test_no_leak_connect_emit_close():
    import resource

    e = roomcast.Engine()
    ns = e.of("/chat")

    def cycle(n):
        for _ in range(n):
            c = e.connect()
            s = c.join_namespace("/chat", auth={"k": "v"})
            s.join("r")
            ns.to("r").emit("e", {"x": "y" * 100})
            c.recv(timeout=1)
            c.close()
        gc.collect()

    cycle(2000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    objs = len(gc.get_objects())
    cycle(20000)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(gc.get_objects()) - objs < 100
    assert after - before < 20 * 1024  # KiB
    st = e.stats()
    assert st["connections"] == 0 and st["sockets"] == 0


def test_socket_data(engine):
    c = engine.connect()
    s = c.join_namespace("/")
    assert s.data is None
    s.set_data({"user": "ann"})
    assert s.data == {"user": "ann"}
    assert engine.of("/").socket(s.id).data == {"user": "ann"}


def test_connection_context_manager(engine):
    with engine.connect() as c:
        s = c.join_namespace("/")
        assert s.connected
    assert c.closed and c.close_reason == "transport close" and not s.connected
