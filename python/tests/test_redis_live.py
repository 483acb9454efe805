"""roomcast.RedisAdapter against a live redis-server whose URL
scripts/test-python.sh passes in ROOMCAST_REDIS_URL (these tests fail, not
skip, without it). Two engines in this process are two nodes of one
cluster; the ``*_async`` cluster twins are awaited on asyncio."""

import asyncio
import os
import threading
import time
import uuid

import pytest

import roomcast


def redis_url() -> str:
    url = os.environ.get("ROOMCAST_REDIS_URL", "")
    assert url, "ROOMCAST_REDIS_URL is not set: run the suite through scripts/test-python.sh"
    return url


@pytest.fixture
def nodes():
    prefix = "t" + uuid.uuid4().hex[:8]  # a cluster of its own per test
    adapters = [roomcast.RedisAdapter(redis_url(), prefix=prefix, request_timeout=2.0) for _ in range(2)]
    engines = [roomcast.Engine(adapter=a) for a in adapters]
    for a in adapters:
        assert a.wait_connected(5.0)
    deadline = time.monotonic() + 5
    while not all(e.server_count() == 2 for e in engines):
        assert time.monotonic() < deadline, "the nodes did not see each other"
        time.sleep(0.02)
    yield engines
    for a in adapters:
        a.close()


def recv_event(conn: roomcast.Connection):
    msg = conn.recv(timeout=3.0)
    assert msg is not None, "nothing received in 3 s"
    assert msg.kind == "event"
    return msg.event, msg.data


def one_socket_each_in_room(a: roomcast.Engine, b: roomcast.Engine, room: str):
    """A connection with a socket in "/" on each node, both sockets in `room`."""
    ca, cb = a.connect(), b.connect()
    sa, sb = ca.join_namespace("/"), cb.join_namespace("/")
    sa.join(room)
    sb.join(room)
    return ca, cb, sa, sb


def test_the_url_is_given():
    assert redis_url().startswith("redis://127.0.0.1:")


def test_a_room_spans_both_nodes_with_the_sender_excluded(nodes):
    a, b = nodes
    ca, cb, sa, sb = one_socket_each_in_room(a, b, "r")
    a.of("/").to("r").emit("all", 1)
    assert recv_event(ca) == ("all", 1)
    assert recv_event(cb) == ("all", 1)
    sa.to("r").emit("others", 2)
    assert recv_event(cb) == ("others", 2)
    assert ca.try_recv() is None
    # a socket in two selected rooms on the other node gets it once
    sb.join("q")
    a.of("/").to(["r", "q"]).except_("nobody").emit("once", 3)
    assert recv_event(cb) == ("once", 3)
    assert recv_event(ca) == ("once", 3)
    time.sleep(0.2)
    assert cb.try_recv() is None
    # local() stays on its node
    a.of("/").local.to("r").emit("here", 4)
    assert recv_event(ca) == ("here", 4)
    time.sleep(0.2)
    assert cb.try_recv() is None


def test_cluster_queries_merge_both_nodes(nodes):
    a, b = nodes
    ca, cb, sa, sb = one_socket_each_in_room(a, b, "r")
    sb.set_data({"user": "bo"})
    got = a.of("/").cluster_fetch_sockets("r")
    assert sorted(s["id"] for s in got) == sorted([sa.id, sb.id])
    bo = next(s for s in got if s["id"] == sb.id)
    assert bo["data"] == {"user": "bo"} and bo["node"] != "local"
    assert a.of("/").to("r").cluster_sockets_join("s") == 2
    deadline = time.monotonic() + 3
    while not sb.in_room("s"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert sa.in_room("s")
    assert a.of("/").to("s").cluster_sockets_leave("s") == 2
    assert a.of("/").to("r").cluster_disconnect_sockets() == 2
    deadline = time.monotonic() + 3
    while sb.connected:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not sa.connected


def test_server_side_emit_with_replies_from_the_other_node(nodes):
    a, b = nodes
    seen = []

    @b.of("/").on_server_side("ask")
    def ask(data):
        seen.append((threading.current_thread().name, data))
        return {"from": "b", "got": data}

    @a.of("/").on_server_side("ask")
    def not_me(data):  # the emitting node's own handler does not run
        raise AssertionError("ran on the emitting node")

    assert a.of("/").server_side_emit("ask", {"n": 1}, timeout=3.0) == [{"from": "b", "got": {"n": 1}}]
    assert [d for _, d in seen] == [{"n": 1}]


def test_async_twins_do_not_block_the_loop(nodes):
    a, b = nodes
    ca, cb, sa, sb = one_socket_each_in_room(a, b, "r")

    @b.of("/").on_server_side("slow")
    def slow(data):
        time.sleep(0.3)
        return data * 2

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(ticker())
        replies = await a.of("/").server_side_emit_async("slow", 21, timeout=3.0)
        assert replies == [42]
        assert ticks >= 10, ticks  # the loop kept running during the 0.3 s wait
        ns = a.of("/")
        got = await ns.cluster_fetch_sockets_async("r")
        assert sorted(s["id"] for s in got) == sorted([sa.id, sb.id])
        assert len(await ns.to("r").cluster_fetch_sockets_async()) == 2
        assert await ns.to("r").cluster_sockets_join_async(["s", "u"]) == 2
        assert await ns.to("s").cluster_sockets_leave_async("u") == 2
        assert await ns.to("s").cluster_disconnect_sockets_async() == 2
        t.cancel()

    asyncio.run(main())
    deadline = time.monotonic() + 3
    while sb.connected:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_async_twins_check_arguments_at_the_call():
    engine = roomcast.Engine()
    ns = engine.of("/")
    with pytest.raises(TypeError):
        ns.to("r").cluster_sockets_join_async(5)
    with pytest.raises(TypeError):
        ns.cluster_fetch_sockets_async(rooms=3.5)
    with pytest.raises(ValueError):
        ns.server_side_emit_async("ev", 1, timeout=-1.0)

    async def single_node():
        # no adapter: this node only, no other node to answer
        assert await ns.server_side_emit_async("ev", 1, timeout=0.1) == []
        assert await ns.server_side_emit_async("ev") is None
        assert await ns.to("r").cluster_sockets_join_async("s") == 0

    asyncio.run(single_node())


def test_an_unreachable_redis_fails_the_async_twin_clearly():
    adapter = roomcast.RedisAdapter("redis://127.0.0.1:1", request_timeout=0.2)
    engine = roomcast.Engine(adapter=adapter)

    async def main():
        with pytest.raises(roomcast.RoomcastError):
            await engine.of("/").cluster_fetch_sockets_async()

    asyncio.run(main())
    adapter.close()
