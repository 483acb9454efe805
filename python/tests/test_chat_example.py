"""Starts examples/python/chat_server.py and drives it with WebSocket clients."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

SERVER = Path(__file__).resolve().parents[2] / "examples" / "python" / "chat_server.py"


@pytest.fixture(scope="module")
def server_url() -> "Any":
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:"), (line, proc.stderr.read() if proc.stderr else "")
        yield line.split()[-1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            err = proc.stderr.read()
            proc.stderr.close()
            assert "Traceback" not in err, err


class Client:
    def __init__(self, ws: ClientConnection, nick: str) -> None:
        self.ws = ws
        self.nick = nick

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> "dict[str, Any]":
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        out: dict[str, Any] = json.loads(frame)
        return out

    async def nothing(self, wait: float = 0.2) -> None:
        """Asserts that no frame arrives for `wait` seconds."""
        with pytest.raises(asyncio.TimeoutError):
            frame = await asyncio.wait_for(self.ws.recv(), wait)
            pytest.fail(f"{self.nick} got an unexpected frame {frame!r}")

    async def sync(self) -> None:
        """Round trip: every frame sent before it has been handled."""
        await self.send(type="who", room="sync")
        assert (await self.recv())["type"] == "who"


async def client(url: str, nick: str, stack: "list[ClientConnection]") -> Client:
    ws = await connect(url)
    stack.append(ws)
    c = Client(ws, nick)
    assert (await c.recv())["type"] == "welcome"
    await c.send(type="nick", name=nick)
    assert await c.recv() == {"type": "nick", "nick": nick}
    return c


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_room_messages_no_echo_and_isolation(server_url: str) -> None:
    async def main() -> None:
        stack: list[ClientConnection] = []
        try:
            ann = await client(server_url, "ann", stack)
            bob = await client(server_url, "bob", stack)
            cat = await client(server_url, "cat", stack)
            dan = await client(server_url, "dan", stack)
            await ann.send(type="join", room="lobby")
            await ann.sync()
            await bob.send(type="join", room="lobby")
            assert await ann.recv() == {"type": "notice", "room": "lobby", "text": "bob joined"}
            await cat.send(type="join", room="lobby")
            for c in (ann, bob):
                assert await c.recv() == {"type": "notice", "room": "lobby", "text": "cat joined"}
            await dan.send(type="join", room="games")
            await ann.send(type="msg", room="lobby", text="hello")
            for c in (bob, cat):
                assert await c.recv() == {"type": "msg", "room": "lobby", "from": "ann", "text": "hello"}
            await dan.send(type="msg", room="games", text="anyone?")
            await ann.nothing()  # no echo to the sender, nothing from another room
            await dan.nothing()
            await bob.send(type="who", room="lobby")
            assert await bob.recv() == {"type": "who", "room": "lobby", "nicks": ["ann", "bob", "cat"]}
            # a room one is not in cannot be written to
            await dan.send(type="msg", room="lobby", text="sneak")
            assert (await dan.recv())["type"] == "error"
            await bob.nothing(0.1)
        finally:
            for ws in stack:
                await ws.close()

    run(main())


def test_leave_notice_and_nick_change(server_url: str) -> None:
    async def main() -> None:
        stack: list[ClientConnection] = []
        try:
            eve = await client(server_url, "eve", stack)
            fay = await client(server_url, "fay", stack)
            for c in (eve, fay):
                await c.send(type="join", room="room2")
                await c.sync()
            assert await eve.recv() == {"type": "notice", "room": "room2", "text": "fay joined"}
            await fay.send(type="nick", name="eve")  # taken
            assert await fay.recv() == {"type": "error", "text": "eve is taken"}
            await fay.send(type="nick", name="faye")
            assert await fay.recv() == {"type": "nick", "nick": "faye"}
            assert await eve.recv() == {"type": "notice", "room": "room2", "text": "fay is now faye"}
            await fay.send(type="msg", room="room2", text="renamed")
            assert await eve.recv() == {"type": "msg", "room": "room2", "from": "faye", "text": "renamed"}
            # the old nickname is free again; private messages follow the new one
            await eve.send(type="private", to="fay", text="?")
            assert await eve.recv() == {"type": "error", "text": "no user fay"}
            await eve.send(type="private", to="faye", text="psst")
            assert await fay.recv() == {"type": "private", "from": "eve", "text": "psst"}
            await fay.send(type="leave", room="room2")
            assert await eve.recv() == {"type": "notice", "room": "room2", "text": "faye left"}
            await fay.send(type="msg", room="room2", text="gone")
            assert (await fay.recv())["type"] == "error"
            await eve.nothing()
        finally:
            for ws in stack:
                await ws.close()

    run(main())


def test_private_messages_reach_only_the_addressee(server_url: str) -> None:
    async def main() -> None:
        stack: list[ClientConnection] = []
        try:
            gus = await client(server_url, "gus", stack)
            hal = await client(server_url, "hal", stack)
            ida = await client(server_url, "ida", stack)
            await gus.send(type="private", to="hal", text="secret")
            assert await hal.recv() == {"type": "private", "from": "gus", "text": "secret"}
            await gus.nothing()
            await ida.nothing()
        finally:
            for ws in stack:
                await ws.close()

    run(main())


def test_disconnect_cleans_up_and_notifies(server_url: str) -> None:
    async def main() -> None:
        stack: list[ClientConnection] = []
        try:
            jan = await client(server_url, "jan", stack)
            kim = await client(server_url, "kim", stack)
            for c in (jan, kim):
                await c.send(type="join", room="room3")
                await c.send(type="join", room="room4")
                await c.sync()
            for _ in range(2):
                assert (await jan.recv())["text"] == "kim joined"
            await kim.ws.close()
            notices = {json.dumps(await jan.recv(), sort_keys=True) for _ in range(2)}
            assert notices == {
                json.dumps({"type": "notice", "room": r, "text": "kim left"}, sort_keys=True) for r in ("room3", "room4")
            }
            for r in ("room3", "room4"):
                await jan.send(type="who", room=r)
                assert await jan.recv() == {"type": "who", "room": r, "nicks": ["jan"]}
            # the nickname is free again
            kim2 = await client(server_url, "kim", stack)
            await jan.send(type="private", to="kim", text="back?")
            assert await kim2.recv() == {"type": "private", "from": "jan", "text": "back?"}
        finally:
            for ws in stack:
                await ws.close()

    run(main())


def test_bad_frames_get_errors(server_url: str) -> None:
    async def main() -> None:
        stack: list[ClientConnection] = []
        try:
            lou = await client(server_url, "lou", stack)
            await lou.ws.send("not json")
            assert (await lou.recv())["type"] == "error"
            await lou.send(type="dance")
            assert await lou.recv() == {"type": "error", "text": "unknown type 'dance'"}
            await lou.send(type="join", room="")
            assert (await lou.recv())["type"] == "error"
            await lou.send(type="nick", name="x" * 40)
            assert (await lou.recv())["type"] == "error"
            await lou.send(type="connect")  # a reserved event name
            assert (await lou.recv())["type"] == "error"
        finally:
            for ws in stack:
                await ws.close()

    run(main())


def test_a_burst_shows_lag_instead_of_losing_messages_silently(server_url: str) -> None:
    """2,000 messages from one client to a reader that does not read during
    the burst: every message is either delivered or counted by a "lagged"
    notice, so the reader knows exactly how many it missed."""
    burst = 2000

    async def main() -> None:
        stack: list[ClientConnection] = []
        try:
            # A small read buffer: the reader's frames back up into the server.
            ws = await connect(server_url, max_queue=1, max_size=2**16)
            stack.append(ws)
            eve = Client(ws, "eve")
            assert (await eve.recv())["type"] == "welcome"
            await eve.send(type="join", room="burst")
            await eve.sync()
            fred = await client(server_url, "fred", stack)
            await fred.send(type="join", room="burst")
            assert await eve.recv() == {"type": "notice", "room": "burst", "text": "fred joined"}
            for i in range(burst):
                await fred.send(type="msg", room="burst", text=f"m{i} " + "x" * 200)
            await fred.send(type="msg", room="burst", text="end")
            await fred.sync()
            got, missed, last = 0, 0, -1
            while True:
                frame = await eve.recv(10)
                if frame["type"] == "lagged":
                    assert isinstance(frame["missed"], int) and frame["missed"] > 0
                    missed += frame["missed"]
                    continue
                assert frame["type"] == "msg", frame
                if frame["text"] == "end":
                    break
                n = int(frame["text"].split()[0][1:])
                assert n > last  # in order
                last = n
                got += 1
            assert got + missed == burst, (got, missed)
        finally:
            for w in stack:
                await w.close()

    run(main())
