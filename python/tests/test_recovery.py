"""Connection state recovery from Python: the session id, offsets, the
resume call, hooks that tell a pending drop from the final one, and the
cases that give a fresh socket."""

import time

import pytest

import roomcast


def events(conn):
    """Drains the connection: (text, offset) of each event."""
    out = []
    while (m := conn.recv(timeout=0)) is not None:
        if m.kind == "event":
            out.append((m.data, m.offset))
    return out


def test_a_short_drop_recovers_id_rooms_data_and_missed_events_in_order():
    engine = roomcast.Engine(max_disconnection_duration=60.0)
    chat = engine.of("/chat")
    conn = engine.connect()
    s = conn.join_namespace("/chat", auth={"name": "ada"})
    s.join("lobby")
    s.set_data({"name": "ada"})
    assert s.session_id and not s.recovered
    chat.to("lobby").emit("m", "seen")
    [(text, seen)] = events(conn)
    assert text == "seen" and isinstance(seen, int)
    conn.close("transport close")
    assert s.awaiting_recovery
    assert chat.room_size("lobby") == 1, "a kept socket counts as a member"
    chat.to("lobby").emit("m", "missed 1")
    chat.to("lobby").emit("m", "missed 2")

    conn2 = engine.connect()
    s2 = conn2.resume_namespace("/chat", s.session_id, seen)
    chat.to("lobby").emit("m", "newer")
    assert s2.recovered and s2.id == s.id
    assert s2.rooms == [s.id, "lobby"] and s2.data == {"name": "ada"}
    assert events(conn2) == [("missed 1", seen + 1), ("missed 2", seen + 2), ("newer", seen + 3)]
    stats = chat.recovery_stats()
    assert stats["kept_sockets"] == 0 and stats["next_offset"] == seen + 4


def test_hooks_tell_a_pending_drop_from_the_final_disconnect():
    engine = roomcast.Engine(max_disconnection_duration=0.1)
    ns = engine.of("/")
    seen = []

    @ns.on_connection
    def connected(socket):
        seen.append(("connection", socket.recovered))

    @ns.on_disconnect
    def gone(socket, reason):
        seen.append((reason, socket.awaiting_recovery))

    conn = engine.connect()
    s = conn.join_namespace("/")
    conn.close("ping timeout")
    conn2 = engine.connect()
    assert conn2.resume_namespace("/", s.session_id).recovered  # no event seen: no offset
    conn2.close("transport error")
    time.sleep(0.25)
    engine.sweep_recovery()
    assert seen == [
        ("connection", False),
        ("ping timeout", True),
        ("connection", True),
        ("transport error", True),
        ("recovery expired", False),
    ]


def test_too_late_offset_gone_or_unknown_gives_a_fresh_socket():
    engine = roomcast.Engine(max_disconnection_duration=0.1, recovery_max_events=2)
    ns = engine.of("/")
    conn = engine.connect()
    s = conn.join_namespace("/")
    s.join("r")
    conn.close("transport close")
    time.sleep(0.2)
    late = engine.connect()
    fresh = late.resume_namespace("/", s.session_id)
    assert not fresh.recovered and fresh.id != s.id and fresh.rooms == [fresh.id]

    fresh.join("r")
    late.close("transport close")
    for i in range(3):
        ns.to("r").emit("m", str(i))  # the first is trimmed: the log keeps 2
    again = engine.connect()
    s3 = again.resume_namespace("/", fresh.session_id, None)
    assert not s3.recovered and events(again) == []
    engine.of("/other")
    assert not again.resume_namespace("/other", "no-such-session").recovered


def test_a_namespace_sets_its_own_recovery():
    engine = roomcast.Engine()
    on = engine.of("/on")
    on.set_recovery(30.0, max_events=100)
    off = engine.of("/off")
    conn = engine.connect()
    assert conn.join_namespace("/on").session_id is not None
    assert conn.join_namespace("/off").session_id is None
    assert off.recovery_stats() is None
    with pytest.raises(ValueError):
        on.set_recovery(None)  # fixed once in use
    with pytest.raises(ValueError):
        roomcast.Engine(recovery_max_events=5)  # recovery is off
    off.volatile.emit("v", "x")
    off.emit("m", "y")
    assert [m.offset for m in iter(lambda: conn.recv(timeout=0), None)] == [None, None]
