import pytest

import roomcast


@pytest.fixture
def engine() -> roomcast.Engine:
    return roomcast.Engine()


@pytest.fixture
def chat(engine: roomcast.Engine) -> roomcast.Namespace:
    return engine.of("/chat")


def drain(conn: roomcast.Connection) -> "list[roomcast.Message]":
    out: "list[roomcast.Message]" = []
    while True:
        msg = conn.try_recv()
        if msg is None:
            return out
        out.append(msg)
