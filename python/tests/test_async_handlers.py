"""Coroutine handlers and middleware: scheduled on the engine's loop (or the
running one), failures logged once and reported to on_error."""

import asyncio
import logging
import threading

import pytest

import roomcast


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_async_handler_runs_as_task_on_running_loop():
    async def main():
        e = roomcast.Engine()
        chat = e.of("/chat")
        events = []

        @chat.on("ask")
        async def ask(socket, data, ack):
            events.append(("start", data))
            await asyncio.sleep(0.01)
            socket.emit("answer", data * 2)
            if ack is not None:
                ack("done")
            events.append(("end", data))

        c = e.connect()
        s = c.join_namespace("/chat")
        assert s.dispatch("ask", 21, ack_id=1) == 1
        # the coroutine was scheduled, not run inline
        assert events == []
        m1 = await c.recv_async()
        m2 = await c.recv_async()
        assert (m1.event, m1.data) == ("answer", 42)
        assert (m2.kind, m2.ack_id, m2.data) == ("ack", 1, "done")
        assert events == [("start", 21), ("end", 21)]

    run(main())


def test_async_handler_scheduled_on_engine_loop_from_other_thread():
    async def main():
        loop = asyncio.get_running_loop()
        e = roomcast.Engine(loop=loop)
        assert e.loop is loop
        chat = e.of("/")
        threads = []

        @chat.on_connection
        async def hello(socket):
            threads.append(threading.get_ident())
            socket.emit("hello", socket.id)

        c = e.connect()
        sock = []
        t = threading.Thread(target=lambda: sock.append(c.join_namespace("/")))
        t.start()
        msg = await c.recv_async()
        await asyncio.to_thread(t.join)
        assert msg.event == "hello" and msg.data == sock[0].id
        assert threads == [threading.get_ident()]  # ran on the loop's thread

    run(main())


def test_async_handler_exception_reported_once(caplog, capfd):
    async def main():
        e = roomcast.Engine()
        chat = e.of("/chat")
        failures = []
        done = asyncio.Event()

        @chat.on("x")
        async def x(socket, data, ack):
            await asyncio.sleep(0)
            raise LookupError("late failure")

        @chat.on_error
        def err(f):
            failures.append(f)
            done.set()

        c = e.connect()
        s = c.join_namespace("/chat")
        with caplog.at_level(logging.ERROR, logger="roomcast"):
            assert s.dispatch("x", 1) == 1
            await done.wait()
            await asyncio.sleep(0.01)
        assert len(failures) == 1
        f = failures[0]
        assert (f["site"], f["event"], f["kind"], f["socket_id"]) == ("event", "x", "error", s.id)
        assert "late failure" in f["message"]
        assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [LookupError]
        # the engine still works
        assert s.emit("ok", 1).queued == 1
        assert (await c.recv_async()).event == "ok"

    run(main())
    assert capfd.readouterr().err == ""


def test_async_handler_without_loop_is_reported_and_closed(caplog):
    e = roomcast.Engine()
    chat = e.of("/")
    failures = []
    ran = []

    @chat.on("x")
    async def x(socket, data, ack):
        ran.append(1)

    chat.on_error(failures.append)
    c = e.connect()
    s = c.join_namespace("/")
    with caplog.at_level(logging.ERROR, logger="roomcast"):
        assert s.dispatch("x", 1) == 1
    assert ran == []
    assert len(failures) == 1 and "needs an asyncio loop" in failures[0]["message"]
    # the coroutine was closed: no "never awaited" warning (warnings are errors here)
    import gc

    gc.collect()


def test_async_handler_on_closed_engine_loop_is_reported():
    loop = asyncio.new_event_loop()
    loop.close()
    e = roomcast.Engine(loop=loop)
    chat = e.of("/")
    failures = []
    chat.on_error(failures.append)

    @chat.on_disconnect
    async def gone(socket, reason):
        pass

    c = e.connect()
    c.join_namespace("/")
    logging.getLogger("roomcast").disabled = True
    try:
        c.close()
    finally:
        logging.getLogger("roomcast").disabled = False
    assert [f["site"] for f in failures] == ["disconnect"]


def test_async_middleware_refuses_with_data_via_join_namespace_async():
    async def main():
        e = roomcast.Engine()
        chat = e.of("/chat")
        threads = []

        @chat.use
        async def auth(hs):
            threads.append(threading.get_ident())
            await asyncio.sleep(0.01)  # e.g. a database lookup
            if hs.auth != {"token": "ok"}:
                raise roomcast.ConnectRefused("bad token", data={"code": 401})

        c = e.connect()
        with pytest.raises(roomcast.ConnectRefused) as info:
            await c.join_namespace_async("/chat", auth={"token": "no"})
        assert info.value.data == {"code": 401} and info.value.message == "bad token"
        s = await c.join_namespace_async("/chat", auth={"token": "ok"})
        assert s.connected and s.namespace == "/chat"
        assert threads == [threading.get_ident()] * 2  # awaited on the calling loop

    run(main())


def test_async_middleware_on_loop_thread():
    async def main():
        e = roomcast.Engine()
        chat = e.of("/")

        @chat.use
        async def quick(hs):
            if hs.auth == "no":
                raise roomcast.ConnectRefused("no", data=[1])

        c = e.connect()
        with pytest.raises(roomcast.ConnectRefused) as info:
            c.join_namespace("/", auth="no")
        assert info.value.data == [1]
        assert c.join_namespace("/", auth="yes").connected

        slow_ns = e.of("/slow")

        @slow_ns.use
        async def slow(hs):
            await asyncio.sleep(0.01)

        logging.getLogger("roomcast").disabled = True
        try:
            with pytest.raises(roomcast.ConnectRefused) as info2:
                c.join_namespace("/slow")
        finally:
            logging.getLogger("roomcast").disabled = False
        assert "join_namespace_async" in info2.value.message
        assert (await c.join_namespace_async("/slow")).connected

    run(main())


def test_async_middleware_without_loop_runs_to_completion():
    e = roomcast.Engine()
    chat = e.of("/")
    seen = []

    @chat.use
    async def auth(hs):
        await asyncio.sleep(0)
        seen.append(hs.auth)

    c = e.connect()
    assert c.join_namespace("/", auth={"a": 1}).connected
    assert seen == [{"a": 1}]


def test_async_event_middleware_and_dispatch_async():
    async def main():
        e = roomcast.Engine()
        chat = e.of("/")
        got = []

        @chat.use_event_middleware
        async def gate(socket, event, data):
            await asyncio.sleep(0)
            return event != "spam"

        @chat.on("msg")
        async def msg(socket, data, ack):
            got.append(data)
            socket.emit("seen", data)

        c = e.connect()
        s = c.join_namespace("/")
        assert await s.dispatch_async("spam", 1) == "dropped"
        assert await s.dispatch_async("msg", 2) == 1
        m = await c.recv_async()
        assert (m.event, m.data) == ("seen", 2) and got == [2]

    run(main())


def test_async_room_event_and_disconnect_handlers():
    async def main():
        e = roomcast.Engine()
        chat = e.of("/")
        seen = []
        gone = asyncio.Event()

        @chat.on_room_event
        async def room(ev):
            if ev.room == "r":
                seen.append((ev.kind, ev.room))

        @chat.on_disconnect
        async def bye(socket, reason):
            seen.append(("bye", reason))
            gone.set()

        c = e.connect()
        s = c.join_namespace("/")
        s.join("r")
        c.close("transport close")
        await gone.wait()
        assert seen == [("created", "r"), ("joined", "r"), ("left", "r"), ("deleted", "r"), ("bye", "transport close")]

    run(main())


def test_engine_loop_type_checked():
    with pytest.raises(TypeError, match="asyncio event loop"):
        roomcast.Engine(loop=3)  # type: ignore[arg-type]
    assert roomcast.Engine(loop=None).loop is None


def test_async_dynamic_predicate():
    async def main():
        e = roomcast.Engine()

        async def allowed(name, hs):
            await asyncio.sleep(0.01)
            return name.startswith("/team-")

        parent = e.of_dynamic(allowed)
        joined = []
        parent.on_connection(lambda s: joined.append(s.namespace))
        c = e.connect()
        s = await c.join_namespace_async("/team-7")
        assert s.namespace == "/team-7" and joined == ["/team-7"]
        with pytest.raises(roomcast.ConnectRefused):
            await c.join_namespace_async("/other")

    run(main())


def test_async_on_error_hook(caplog):
    async def main():
        e = roomcast.Engine()
        chat = e.of("/")
        got = asyncio.Queue()

        @chat.on_error
        async def err(f):
            await asyncio.sleep(0)
            await got.put(f["message"])
            if "second" in f["message"]:
                raise ValueError("hook failed too")

        @chat.on("x")
        def x(socket, data, ack):
            raise RuntimeError(data)

        c = e.connect()
        s = c.join_namespace("/")
        with caplog.at_level(logging.CRITICAL, logger="roomcast"):
            s.dispatch("x", "first")
        assert "first" in await got.get()
        with caplog.at_level(logging.ERROR, logger="roomcast"):
            s.dispatch("x", "second")
            assert "second" in await got.get()
            await asyncio.sleep(0.01)
        assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError, ValueError]

    run(main())


def test_socket_emit_with_ack_async():
    async def main():
        e = roomcast.Engine()
        c = e.connect()
        s = c.join_namespace("/")

        async def client():
            m = await c.recv_async()
            assert m.event == "ask" and m.data == {"q": 1}
            s.receive_ack(m.ack_id, {"a": 2})

        task = asyncio.create_task(client())
        r = await s.emit_with_ack_async("ask", {"q": 1}, timeout=5)
        await task
        assert (r.socket_id, r.data, r.error) == (s.id, {"a": 2}, None)
        r2 = await s.emit_with_ack_async("ask", 1, timeout=0.01)
        assert isinstance(r2.error, roomcast.AckTimeout)

    run(main())


def test_async_handlers_from_many_threads_counts_exact():
    n_threads, per = 4, 300

    async def main():
        loop = asyncio.get_running_loop()
        e = roomcast.Engine(loop=loop, max_queue=n_threads * per + 16)
        ns = e.of("/")
        seen = []
        done = asyncio.Event()

        @ns.on("tick")
        async def tick(socket, data, ack):
            await asyncio.sleep(0)
            seen.append(tuple(data))
            socket.emit("tock", data)
            if len(seen) == n_threads * per:
                done.set()

        c = e.connect()
        s = c.join_namespace("/")

        def worker(k):
            for i in range(per):
                assert s.dispatch("tick", [k, i]) == 1

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        await asyncio.wait_for(done.wait(), 30)
        for t in threads:
            await asyncio.to_thread(t.join)
        assert sorted(seen) == sorted((k, i) for k in range(n_threads) for i in range(per))
        got = []
        while len(got) < n_threads * per:
            got.extend(c.recv_many(max=1024, timeout=5))
        assert len(got) == n_threads * per and c.try_recv() is None

    run(main())
