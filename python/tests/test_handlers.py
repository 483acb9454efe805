import logging

import pytest

import roomcast
from conftest import drain


def test_middleware_and_connection(engine, chat):
    seen = []

    @chat.use
    def auth(hs):
        seen.append((hs.auth, hs.headers, hs.query, hs.address))
        if hs.auth != {"token": "ok"}:
            raise roomcast.ConnectRefused("bad token", data={"code": 401})

    @chat.on_connection
    def joined(socket):
        socket.join("lobby")

    assert auth.__name__ == "auth" and joined.__name__ == "joined"  # decorators return the function
    c = engine.connect()
    with pytest.raises(roomcast.ConnectRefused) as info:
        c.join_namespace("/chat", auth={"token": "no"})
    assert info.value.message == "bad token"
    assert info.value.data == {"code": 401}
    s = c.join_namespace("/chat", auth={"token": "ok"}, headers={"h": "v"}, query={"q": "1"}, address="127.0.0.1")
    assert "lobby" in s.rooms
    assert seen[-1] == ({"token": "ok"}, {"h": "v"}, {"q": "1"}, "127.0.0.1")
    assert s.handshake.auth == {"token": "ok"}


def test_middleware_other_exception_refuses_and_logs(engine, chat, caplog):
    @chat.use
    def broken(hs):
        raise KeyError("boom")

    c = engine.connect()
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        with pytest.raises(roomcast.ConnectRefused):
            c.join_namespace("/chat")
    assert any("KeyError" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_event_handler_and_ack(engine, chat):
    got = []

    @chat.on("chat message")
    def on_chat(socket, data, ack):
        got.append((socket.id, data, ack is None))
        if ack is not None:
            assert ack.id == 7
            ack({"ok": True})
            with pytest.raises(roomcast.RoomcastError):
                ack("again")
        socket.to("room").emit("chat message", data)

    a, b = engine.connect(), engine.connect()
    sa, sb = a.join_namespace("/chat"), b.join_namespace("/chat")
    sb.join("room")
    assert sa.dispatch("chat message", {"t": 1}) == 1
    assert sa.dispatch("chat message", "x", ack_id=7) == 1
    assert sa.dispatch("other", 1) == "unhandled"
    assert got == [(sa.id, {"t": 1}, True), (sa.id, "x", False)]
    msgs = drain(a)
    assert [(m.kind, m.ack_id, m.data) for m in msgs] == [("ack", 7, {"ok": True})]
    assert [m.data for m in drain(b)] == [{"t": 1}, "x"]
    with pytest.raises(roomcast.InvalidName):
        sa.dispatch("connect", 1)
    with pytest.raises(TypeError):
        chat.on("x")(42)


def test_handler_exception_logged_and_on_error(engine, chat, caplog):
    failures = []

    @chat.on("bad")
    def bad(socket, data, ack):
        raise RuntimeError("handler broke")

    @chat.on_error
    def err(f):
        failures.append(f)

    c = engine.connect()
    s = c.join_namespace("/chat")
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        assert s.dispatch("bad", 1) == 1
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)
    assert len(failures) == 1
    assert failures[0]["socket_id"] == s.id and "handler broke" in failures[0]["message"]
    assert failures[0]["kind"] == "error"
    # the engine still works
    assert s.emit("e", 1).queued == 1


def test_disconnect_handlers(engine, chat):
    seen = []

    @chat.on_disconnecting
    def going(socket, reason):
        seen.append(("disconnecting", reason, "r" in socket.rooms))

    @chat.on_disconnect
    def gone(socket, reason):
        seen.append(("disconnect", reason, socket.connected))

    c = engine.connect()
    s = c.join_namespace("/chat")
    s.join("r")
    c.close("transport close")
    assert seen == [("disconnecting", "transport close", True), ("disconnect", "transport close", False)]


def test_emit_with_ack(engine, chat):
    conns = [engine.connect() for _ in range(3)]
    socks = [c.join_namespace("/chat") for c in conns]
    for s in socks[:2]:
        s.join("r")
    import threading

    def client(conn, sock, answer):
        msg = conn.recv(timeout=5)
        assert msg is not None and msg.ack_id is not None
        if answer:
            sock.receive_ack(msg.ack_id, {"from": sock.id})

    threads = [threading.Thread(target=client, args=(conns[0], socks[0], True)), threading.Thread(target=client, args=(conns[1], socks[1], False))]
    for t in threads:
        t.start()
    replies = chat.to("r").timeout(0.3).emit_with_ack("ask", {"q": 1})
    for t in threads:
        t.join()
    by_id = {r.socket_id: r for r in replies}
    assert by_id[socks[0].id].data == {"from": socks[0].id} and by_id[socks[0].id].error is None
    assert isinstance(by_id[socks[1].id].error, roomcast.AckTimeout)
    assert by_id[socks[1].id].data is None
    assert socks[0].receive_ack(12345, 1) is False
    assert engine.stats()["acks_ignored"] >= 1
    assert isinstance(repr(replies[0]), str)


def test_socket_emit_with_ack_timeout(engine):
    c = engine.connect()
    s = c.join_namespace("/")
    r = s.emit_with_ack("ask", 1, timeout=0.05)
    assert r.socket_id == s.id and isinstance(r.error, roomcast.AckTimeout)


def test_emit_with_ack_no_recipients(engine, chat):
    replies = chat.to("empty").timeout(0.05).emit_with_ack("e", 1)
    assert replies == [] or all(r.error is not None for r in replies)


def test_on_any_and_off(engine, chat):
    seen = []

    @chat.on_any
    def any_(socket, event, data):
        seen.append(("any", event, data))

    @chat.on("e")
    def e(socket, data, ack):
        seen.append(("e", data))

    c = engine.connect()
    s = c.join_namespace("/chat")
    s.dispatch("e", [1])
    chat.off("e")
    s.dispatch("e", [2])
    assert seen == [("any", "e", [1]), ("e", [1]), ("any", "e", [2])]


def test_of_dynamic(engine):
    asked = []

    def predicate(name, hs):
        asked.append(name)
        if name == "/boom":
            raise RuntimeError("predicate failed")
        return name.startswith("/room-")

    parent = engine.of_dynamic(predicate)
    joined = []

    @parent.on_connection
    def on_conn(socket):
        joined.append(socket.namespace)

    c = engine.connect()
    s = c.join_namespace("/room-1")
    assert s.namespace == "/room-1" and joined == ["/room-1"]
    with pytest.raises(roomcast.ConnectRefused):
        c.join_namespace("/other")
    with pytest.raises(roomcast.ConnectRefused):
        c.join_namespace("/boom")
    assert "/room-1" in asked and "/boom" in asked
    with pytest.raises(TypeError):
        engine.of_dynamic(3)


def test_disconnecting_socket_tells_its_rooms(engine, chat):
    @chat.on_disconnecting
    def going(socket, reason):
        for room in socket.rooms:
            if room != socket.id:
                socket.to(room).emit("left", {"room": room, "who": socket.id})

    a, b = engine.connect(), engine.connect()
    sa, sb = a.join_namespace("/chat"), b.join_namespace("/chat")
    sa.join(["r1", "r2"])
    sb.join(["r1"])
    a.close()
    assert sorted((m.event, m.data["room"], m.data["who"]) for m in drain(b)) == [("left", "r1", sa.id)]
    with pytest.raises(roomcast.Closed):
        sa.to("r1").emit("late", 1)
