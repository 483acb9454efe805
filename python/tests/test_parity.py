"""Event middleware, fallback, room events, server-side operations and
failure reporting: the rest of the namespace surface."""

import logging

import pytest

import roomcast
from conftest import drain


def test_event_middleware_continue_drop_reject(engine, chat, caplog):
    order = []
    failures = []

    @chat.use_event_middleware
    def gate(socket, event, data):
        order.append(("mw", event, data))
        if event == "spam":
            return False
        if event == "bad":
            raise PermissionError("not allowed")
        return None

    @chat.on_any
    def any_(socket, event, data):
        order.append(("any", event))

    @chat.on("msg")
    def msg(socket, data, ack):
        order.append(("msg", data))

    @chat.on_error
    def err(f):
        failures.append(f)

    assert gate.__name__ == "gate"
    conn_s = engine.connect()
    s = conn_s.join_namespace("/chat")
    assert s.dispatch("msg", {"t": 1}) == 1
    assert s.dispatch("spam", "x") == "dropped"
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        assert s.dispatch("bad", 1) == "rejected"
    assert order == [("mw", "msg", {"t": 1}), ("any", "msg"), ("msg", {"t": 1}), ("mw", "spam", "x"), ("mw", "bad", 1)]
    assert len(failures) == 1
    assert failures[0]["site"] == "event_middleware" and failures[0]["event"] == "bad"
    assert failures[0]["kind"] == "rejected" and "not allowed" in failures[0]["message"]
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [PermissionError]


def test_event_middleware_true_and_truthy_values_continue(engine, chat):
    seen = []
    chat.use_event_middleware(lambda s, e, d: True)
    chat.use_event_middleware(lambda s, e, d: 0)  # only the bool False drops
    chat.on("x")(lambda s, d, a: seen.append(d))
    conn_s = engine.connect()
    s = conn_s.join_namespace("/chat")
    assert s.dispatch("x", 5) == 1
    assert seen == [5]


def test_fallback_gets_unhandled_events_with_ack(engine, chat):
    got = []

    @chat.on_fallback
    def fallback(socket, event, data, ack):
        got.append((event, data, ack is None))
        if ack is not None:
            ack({"echo": event})

    @chat.on("known")
    def known(socket, data, ack):
        got.append(("known", data, ack is None))

    c = engine.connect()
    s = c.join_namespace("/chat")
    assert s.dispatch("known", 1) == 1
    assert s.dispatch("other", [2], ack_id=3) == "fallback"
    assert got == [("known", 1, True), ("other", [2], False)]
    (m,) = drain(c)
    assert (m.kind, m.ack_id, m.data) == ("ack", 3, {"echo": "other"})


def test_room_events(engine, chat):
    evs = []

    @chat.on_room_event
    def room(ev):
        evs.append(ev)

    a, b = engine.connect(), engine.connect()
    sa, sb = a.join_namespace("/chat"), b.join_namespace("/chat")
    assert roomcast.RoomEvent in type(evs[0]).__mro__
    evs.clear()
    sa.join("r")
    sb.join("r")
    sa.leave("r")
    b.close()
    got = [(e.kind, e.room, e.socket_id) for e in evs]
    assert got == [
        ("created", "r", None),
        ("joined", "r", sa.id),
        ("joined", "r", sb.id),
        ("left", "r", sa.id),
        ("left", sb.id, sb.id),
        ("deleted", sb.id, None),
        ("left", "r", sb.id),
        ("deleted", "r", None),
    ]
    assert evs[0] == evs[0] and hash(evs[1]) == hash(evs[1]) and evs[0] != evs[1]
    assert repr(evs[1]) == f"RoomEvent(kind='joined', room='r', socket_id='{sa.id}')"
    assert repr(evs[0]) == "RoomEvent(kind='created', room='r', socket_id=None)"


def test_room_event_handler_exception_reported_once(engine, chat, caplog, capfd):
    failures = []

    @chat.on_room_event
    def room(ev):
        if ev.kind == "joined" and ev.room == "bad":
            raise ValueError("presence down")

    @chat.on_error
    def err(f):
        failures.append(f)

    conn_s = engine.connect()

    s = conn_s.join_namespace("/chat")
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        s.join("bad")
    assert s.in_room("bad")
    assert len(failures) == 1
    assert failures[0]["site"] == "room_event" and failures[0]["socket_id"] == s.id
    assert len([r for r in caplog.records if r.exc_info]) == 1
    assert capfd.readouterr().err == ""


def test_handler_failure_without_on_error_logged_once_not_printed(engine, chat, caplog, capfd):
    @chat.on("x")
    def x(socket, data, ack):
        raise KeyError("k")

    conn_s = engine.connect()

    s = conn_s.join_namespace("/chat")
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        assert s.dispatch("x", 1) == 1
    assert len([r for r in caplog.records if r.exc_info]) == 1
    assert 'event handler of event "x"' in caplog.records[0].getMessage()
    assert capfd.readouterr().err == ""


def test_every_handler_kind_failing_keeps_the_engine_working(engine, chat, caplog):
    failures = []
    chat.on_error(failures.append)

    def boom(*_args):
        raise RuntimeError("boom")

    chat.on_connection(boom)
    chat.on("e")(boom)
    chat.on_any(boom)
    chat.on_fallback(boom)
    chat.on_disconnecting(boom)
    chat.on_disconnect(boom)
    chat.on_room_event(boom)
    with caplog.at_level(logging.CRITICAL, logger="roomcast"):
        c = engine.connect()
        s = c.join_namespace("/chat")
        s.dispatch("e", 1)
        s.dispatch("nobody", 1)
        c.close()
    sites = {f["site"] for f in failures}
    assert sites == {"connection", "event", "any", "fallback", "disconnecting", "disconnect", "room_event"}
    assert all(f["kind"] == "error" and "boom" in f["message"] for f in failures)
    c2 = engine.connect()
    s2 = c2.join_namespace("/chat")
    assert s2.connected and s2.emit("ok", 1).queued == 1


def test_on_error_hook_failing_is_logged(engine, chat, caplog):
    @chat.on_error
    def bad_hook(f):
        raise RuntimeError("hook broke")

    chat.on("e")(lambda s, d, a: 1 / 0)
    conn_s = engine.connect()
    s = conn_s.join_namespace("/chat")
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        assert s.dispatch("e", 1) == 1
    kinds = [r.exc_info[0] for r in caplog.records if r.exc_info]
    assert kinds == [ZeroDivisionError, RuntimeError]


def test_server_side_operations(engine, chat):
    conns = [engine.connect() for _ in range(4)]
    socks = [c.join_namespace("/chat") for c in conns]
    socks[0].join("a")
    socks[1].join(["a", "b"])
    assert chat.sockets_join("all") == 4
    assert chat.room_size("all") == 4
    assert sorted(s.id for s in chat.in_("a").fetch_sockets()) == sorted([socks[0].id, socks[1].id])
    assert [s.id for s in chat.in_("a").except_("b").fetch_sockets()] == [socks[0].id]
    assert chat.to("a").sockets_join(["c", "d"]) == 2
    assert socks[1].in_room("c") and socks[1].in_room("d") and not socks[2].in_room("c")
    assert chat.to("c").sockets_leave("c") == 2
    assert chat.room_size("c") == 0
    assert chat.sockets_leave("all") == 4
    assert "all" not in chat.rooms()
    assert chat.to("b").disconnect_sockets() == 1
    assert not socks[1].connected and socks[1].disconnect_reason == "server namespace disconnect"
    assert chat.socket_count() == 3
    last = drain(conns[1])[-1]
    assert (last.kind, last.reason, last.namespace) == ("disconnect", "server namespace disconnect", "/chat")
    with pytest.raises(roomcast.InvalidName):
        chat.to("").fetch_sockets()
    with pytest.raises(TypeError):
        chat.sockets_join(5)  # type: ignore[arg-type]
    st = engine.stats()
    assert st["sockets"] == 3 and st["connections"] == 4


def test_dynamic_namespace_children_share_parent_handlers(engine):
    parent = engine.of_dynamic(lambda name, hs: name.startswith("/game-"))
    got = []
    parent.on("move")(lambda s, d, a: got.append((s.namespace, d)))
    parent.on_room_event(lambda ev: got.append((ev.kind, ev.room)) if ev.room == "table" else None)
    conn_a = engine.connect()
    a = conn_a.join_namespace("/game-1")
    conn_b = engine.connect()
    b = conn_b.join_namespace("/game-2")
    a.dispatch("move", 1)
    b.dispatch("move", 2)
    a.join("table")
    assert got == [("/game-1", 1), ("/game-2", 2), ("created", "table"), ("joined", "table")]
    assert set(engine.namespaces()) >= {"/game-1", "/game-2"}
    child = engine.of("/game-1")
    assert child.socket_count() == 1 and child.socket(a.id) == a


def test_emit_operators_reports(engine, chat):
    conns = [engine.connect() for _ in range(3)]
    socks = [c.join_namespace("/chat") for c in conns]
    socks[1].join("r")
    socks[2].join("r")
    rep = socks[1].to("r").emit("m", "hi")  # room except the sender
    assert (rep.recipients, rep.queued, rep.dropped) == (1, 1, 0)
    assert [len(drain(c)) for c in conns] == [0, 0, 1]
    assert socks[1].broadcast.except_("r").emit("m", 1).recipients == 1
    assert chat.volatile.to("r").emit("m", 1).recipients == 2
    assert chat.timeout(0.5).to("r").except_("x").emit("m", 1).recipients == 2
    with pytest.raises(ValueError):
        chat.timeout(-1)
    with pytest.raises(ValueError):
        chat.to("r").timeout(float("nan"))
    with pytest.raises(TypeError):
        chat.timeout("1")  # type: ignore[arg-type]


def test_ack_answered_queue_len_and_wake_fd(engine, chat):
    import os
    import select

    seen = []

    @chat.on("q")
    def q(socket, data, ack):
        seen.append((ack.id, ack.answered))
        ack("a")
        seen.append(ack.answered)

    c = engine.connect()
    s = c.join_namespace("/chat")
    fd = c.wake_fd()
    assert c.wake_fd() == fd  # one per connection
    assert select.select([fd], [], [], 0)[0] == []
    assert len(c) == 0
    s.dispatch("q", None, ack_id=9)
    assert seen == [(9, False), True]
    assert len(c) == 1
    s.emit("e", 1)
    assert len(c) == 2
    # the fd became readable when the outbox went from empty to non-empty
    assert select.select([fd], [], [], 1)[0] == [fd]
    assert os.read(fd, 64)
    assert [m.kind for m in c.recv_many(max=10, timeout=0)] == ["ack", "event"]
    assert len(c) == 0
    c.close()
    assert select.select([fd], [], [], 1)[0] == [fd]  # closing wakes it too


def test_failing_handler_does_not_stop_the_next_one(engine, chat, caplog):
    ran = []

    @chat.on("e")
    def first(socket, data, ack):
        raise RuntimeError("first fails")

    @chat.on("e")
    def second(socket, data, ack):
        ran.append(data)
        ack("still answered")

    c = engine.connect()
    s = c.join_namespace("/chat")
    with caplog.at_level(logging.CRITICAL, logger="roomcast"):
        assert s.dispatch("e", 5, ack_id=2) == 2
    assert ran == [5]
    (m,) = drain(c)
    assert (m.kind, m.data) == ("ack", "still answered")
