"""asyncio glue for the extension module (internal).

A connection's outbox fires a notify callback (in Rust, on the emitting
thread, with no engine lock and without the GIL) that writes one byte to a
socket pair; the event loop watches the read end with ``add_reader`` and
drains the outbox with ``try_recv``. Ack waits run in the default executor
with the GIL released.

Coroutine handlers: the engine calls handlers synchronously on the thread
that caused the event. When a handler returns an awaitable, :func:`schedule`
runs it as a task on the engine's loop (``Engine(loop=...)``), else on the
loop of the ``*_async`` call that started the work, else on the loop running
in the calling thread. Coroutine middleware must decide before the connect
(or event) goes on, so :func:`resolve` waits for it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Set

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


async def call_blocking(method: Callable[..., Any], args: "tuple[Any, ...]") -> Any:
    """Runs ``method(*args)`` (a call that releases the GIL while it waits)
    in the default executor: the body of the ``*_async`` cluster twins."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(method, *args))


async def wait_acks(pending: "AckWait") -> List["AckReply"]:
    """Waits for an ack emit's replies in the default executor."""
    result: Any = await call_blocking(pending.wait, ())
    return list(result)


async def wait_ack(pending: "AckWait") -> "AckReply":
    """Waits for the one reply of a single-socket ack emit."""
    from ._roomcast import RoomcastError

    replies = await wait_acks(pending)
    if not replies:
        raise RoomcastError("no acknowledgement")
    return replies[0]


# The loop of the ``*_async`` call running in this worker thread, if any.
_caller_loop: "contextvars.ContextVar[Optional[asyncio.AbstractEventLoop]]" = contextvars.ContextVar(
    "roomcast_caller_loop", default=None
)

# Scheduled handler tasks, kept alive until they finish.
_pending: "Set[Any]" = set()


def _running() -> "Optional[asyncio.AbstractEventLoop]":
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _target(loop: "Optional[asyncio.AbstractEventLoop]") -> "Optional[asyncio.AbstractEventLoop]":
    if loop is not None:
        return loop
    caller = _caller_loop.get()
    if caller is not None:
        return caller
    return _running()


async def _await(aw: "Awaitable[Any]") -> Any:
    return await aw


def _as_coroutine(aw: "Awaitable[Any]") -> Any:
    return aw if asyncio.iscoroutine(aw) else _await(aw)


def schedule(
    loop: "Optional[asyncio.AbstractEventLoop]",
    aw: "Awaitable[Any]",
    on_fail: "Callable[[BaseException], None]",
) -> None:
    """Runs a handler's awaitable as a task; ``on_fail(exc)`` if it raises."""
    coro = _as_coroutine(aw)
    target = _target(loop)
    if target is None or target.is_closed():
        coro.close()
        raise RuntimeError(
            "a coroutine handler needs an asyncio loop: pass Engine(loop=...) "
            "or cause the event from code running on a loop"
        )
    fut: Any
    if target is _running():
        fut = target.create_task(coro)
    else:
        try:
            fut = asyncio.run_coroutine_threadsafe(coro, target)
        except RuntimeError:
            coro.close()
            raise
    _pending.add(fut)
    fut.add_done_callback(functools.partial(_finished, on_fail))


def _finished(on_fail: "Callable[[BaseException], None]", fut: Any) -> None:
    _pending.discard(fut)
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        on_fail(exc)


def resolve(loop: "Optional[asyncio.AbstractEventLoop]", aw: "Awaitable[Any]") -> Any:
    """The result of a middleware's awaitable, waited for in this thread."""
    coro = _as_coroutine(aw)
    if _running() is not None:
        # On a loop's own thread nothing may block: accept a coroutine that
        # finishes without suspending, refuse one that would wait.
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value
        coro.close()
        raise RuntimeError(
            "coroutine middleware suspended on the event loop's thread; use "
            "await conn.join_namespace_async(...) / await socket.dispatch_async(...)"
        )
    target = _target(loop)
    if target is None:
        return asyncio.run(coro)
    if target.is_closed() or not target.is_running():
        coro.close()
        raise RuntimeError("the engine's event loop is not running")
    return asyncio.run_coroutine_threadsafe(coro, target).result()


async def in_worker(fn: "Callable[..., Any]", *args: Any) -> Any:
    """Runs ``fn(*args)`` in the default executor; coroutine handlers and
    middleware it triggers run on the calling loop."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    ctx.run(_caller_loop.set, loop)
    return await loop.run_in_executor(None, functools.partial(ctx.run, fn, *args))
