"""roomcast.RedisAdapter without a Redis server: construction, errors and
local delivery while Redis is unreachable. The cluster behaviour itself is
tested against a real redis-server by scripts/test-redis.sh."""

import time

import pytest

import roomcast
from conftest import drain


def test_bad_url_raises_value_error():
    with pytest.raises(ValueError):
        roomcast.RedisAdapter("not a url")
    with pytest.raises(ValueError):
        roomcast.RedisAdapter("redis://127.0.0.1:1", heartbeat_interval=-1.0)


def test_engine_with_an_unreachable_redis_still_delivers_locally():
    adapter = roomcast.RedisAdapter("redis://127.0.0.1:1", prefix="t", request_timeout=0.2)
    assert len(adapter.node) == 16
    engine = roomcast.Engine(adapter=adapter, max_queue=64)
    assert not adapter.wait_connected(0.05)
    conn = engine.connect()
    sock = conn.join_namespace("/")
    sock.join("r")
    for i in range(10):
        assert engine.of("/").to("r").emit("ev", i).queued == 1
    assert [m.data for m in drain(conn)] == list(range(10))
    assert engine.server_count() == 1
    assert adapter.server_count() == 1
    deadline = time.monotonic() + 5
    while adapter.stats()["dropped"] < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = adapter.stats()
    assert stats["dropped"] >= 10
    assert stats["published"] == 0
    assert not stats["connected"]
    assert "RedisAdapter" in repr(adapter)
    adapter.close()
    assert engine.of("/").emit("after", "close").queued == 1


def test_cluster_operations_on_a_single_node():
    engine = roomcast.Engine()
    ns = engine.of("/")
    conn = engine.connect()
    sock = conn.join_namespace("/")
    sock.join("r")
    sock.set_data({"user": "ann"})
    got = ns.cluster_fetch_sockets("r")
    assert got == [{"id": sock.id, "namespace": "/", "rooms": [sock.id, "r"], "data": {"user": "ann"}, "node": "local"}]
    assert ns.cluster_fetch_sockets(except_="r") == []
    # No other node: nobody answers, nothing is missing.
    assert ns.server_side_emit("hello", {"x": 1}, timeout=0.1) == []
    assert ns.server_side_emit("hello") is None

    @ns.on_server_side("hello")
    def hello(data):
        return None

    assert callable(hello)
    with pytest.raises(roomcast.InvalidName):
        ns.server_side_emit("")


def test_cluster_operations_fail_clearly_when_redis_is_unreachable():
    adapter = roomcast.RedisAdapter("redis://127.0.0.1:1")
    engine = roomcast.Engine(adapter=adapter)
    ns = engine.of("/")
    with pytest.raises(roomcast.RoomcastError, match="unavailable"):
        ns.server_side_emit("hello", 1, timeout=0.1)
    with pytest.raises(roomcast.RoomcastError, match="unavailable"):
        ns.cluster_fetch_sockets()
    adapter.close()
