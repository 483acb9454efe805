"""asyncio glue for the extension module (internal).

A connection's outbox fires a notify callback (in Rust, on the emitting
thread, with no engine lock and without the GIL) that writes one byte to a
socket pair; the event loop watches the read end with ``add_reader`` and
drains the outbox with ``try_recv``. Ack waits run in the default executor
with the GIL released.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:
    from ._roomcast import AckReply, AckWait, Connection, Message


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


# Futures waiting on each wake-up fd (several tasks may await one connection).
_waiters: Dict[int, List["asyncio.Future[None]"]] = {}


def _readable(fd: int) -> None:
    _drain(fd)
    for fut in _waiters.get(fd, ()):
        if not fut.done():
            fut.set_result(None)


async def recv(conn: "Connection") -> "Message":
    """The next message of ``conn``; raises ``Closed`` once closed and drained."""
    msg = conn.try_recv()
    if msg is not None:
        return msg
    loop = asyncio.get_running_loop()
    fd = conn.wake_fd()
    while True:
        fut: asyncio.Future[None] = loop.create_future()
        waiters = _waiters.setdefault(fd, [])
        if not waiters:
            loop.add_reader(fd, _readable, fd)
        waiters.append(fut)
        try:
            # Checked after the reader is installed: a message that arrived
            # in between is seen here, a later one wakes the reader.
            msg = conn.try_recv()
            if msg is not None:
                return msg
            await fut
        finally:
            waiters.remove(fut)
            if not waiters:
                loop.remove_reader(fd)
                del _waiters[fd]
        msg = conn.try_recv()
        if msg is not None:
            return msg


async def anext(conn: "Connection") -> "Message":
    """``__anext__``: like :func:`recv`, ending the iteration when closed."""
    from ._roomcast import Closed

    try:
        return await recv(conn)
    except Closed:
        raise StopAsyncIteration from None


async def wait_acks(pending: "AckWait") -> List["AckReply"]:
    """Waits for an ack emit's replies in the default executor."""
    loop = asyncio.get_running_loop()
    result: Any = await loop.run_in_executor(None, pending.wait)
    return list(result)
