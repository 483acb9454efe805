"""The optional parts of the extension module (cargo features).

Every build but one is the default build, which has the ``redis`` feature.
scripts/test-python.sh also builds the module with ``--no-default-features``
and runs this file (with test_core.py) against it, setting
ROOMCAST_EXPECT_REDIS=0: then the checks are that no Redis name exists and
that asking for one says why.
"""

import os

import pytest

import roomcast
import roomcast._roomcast as native

EXPECT_REDIS = os.environ.get("ROOMCAST_EXPECT_REDIS", "1") != "0"

default_build = pytest.mark.skipif(not EXPECT_REDIS, reason="build without the redis feature")
minimal_build = pytest.mark.skipif(EXPECT_REDIS, reason="default build (redis feature on)")


@default_build
def test_default_build_has_the_redis_adapter() -> None:
    assert "RedisAdapter" in roomcast.__all__
    assert roomcast.RedisAdapter is native.RedisAdapter
    from roomcast import RedisAdapter

    with pytest.raises(ValueError):
        RedisAdapter("not a url")


@minimal_build
def test_build_without_redis_has_no_redis_names() -> None:
    names = dir(native) + dir(roomcast) + roomcast.__all__
    assert [n for n in names if "redis" in n.lower()] == []
    assert not hasattr(roomcast, "RedisAdapter")
    assert not hasattr(native, "RedisAdapter")


@minimal_build
def test_asking_for_the_redis_adapter_says_the_feature_is_missing() -> None:
    with pytest.raises(AttributeError, match="compiled without the 'redis' feature"):
        getattr(roomcast, "RedisAdapter")
    with pytest.raises(ImportError, match="RedisAdapter"):
        from roomcast import RedisAdapter  # noqa: F401
    # Other unknown names keep the usual message.
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        getattr(roomcast, "Nope")


@minimal_build
def test_engine_refuses_an_adapter_it_cannot_have() -> None:
    with pytest.raises(TypeError, match="without the 'redis' feature"):
        roomcast.Engine(adapter=object())  # type: ignore[arg-type]
    e = roomcast.Engine(adapter=None)
    assert e.server_count() == 1


def test_cluster_operations_work_on_a_single_node_in_every_build() -> None:
    e = roomcast.Engine()
    ns = e.of("/chat")
    c = e.connect()
    s = c.join_namespace("/chat")
    s.join("r")
    assert [d["id"] for d in ns.cluster_fetch_sockets("r")] == [s.id]
    assert ns.server_side_emit("hello", {"x": 1}, timeout=0.05) == []
    assert ns.to("r").cluster_disconnect_sockets() == 1
    assert not s.connected


@default_build
def test_default_build_has_the_socketio_transport() -> None:
    import roomcast.socketio

    assert roomcast.socketio.SocketIoServer is native.SocketIoServer  # type: ignore[attr-defined]


@minimal_build
def test_importing_socketio_without_the_feature_says_so() -> None:
    assert not hasattr(native, "SocketIoServer")
    with pytest.raises(ImportError, match="compiled without the 'socketio' feature"):
        import roomcast.socketio  # noqa: F401
