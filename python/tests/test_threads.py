import asyncio
import contextlib
import threading
import time

import roomcast


def test_several_emitters_one_drainer():
    e = roomcast.Engine(max_queue=100000, max_queue_bytes=1 << 26)
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")
    n_threads, per = 4, 2000

    def emitter(k):
        for i in range(per):
            ns.emit("e", [k, i])

    threads = [threading.Thread(target=emitter, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    got = []
    deadline = time.monotonic() + 20
    while len(got) < n_threads * per and time.monotonic() < deadline:
        got.extend(c.recv_many(max=512, timeout=0.1))
    for t in threads:
        t.join()
    assert len(got) == n_threads * per
    last = {}
    for m in got:
        k, i = m.data
        assert i > last.get(k, -1)  # per-emitter FIFO
        last[k] = i


def test_gil_released_while_blocking_in_recv():
    e = roomcast.Engine()
    c = e.connect()
    c.join_namespace("/")
    progress = []
    stop = threading.Event()

    def blocker():
        c.recv(timeout=0.5)

    t = threading.Thread(target=blocker)
    t.start()
    start = time.monotonic()
    while time.monotonic() - start < 0.3:
        progress.append(1)  # pure Python work needs the GIL
    stop.set()
    t.join()
    assert len(progress) > 10000


def test_blocking_recv_woken_by_other_thread():
    e = roomcast.Engine()
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")
    threading.Timer(0.05, lambda: ns.emit("late", 1)).start()
    m = c.recv(timeout=5)
    assert m is not None and m.event == "late"


def test_iterator_in_thread_ends_on_close():
    e = roomcast.Engine()
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")
    got = []
    t = threading.Thread(target=lambda: got.extend(m.data for m in c))
    t.start()
    for i in range(10):
        ns.emit("e", i)
    time.sleep(0.05)
    c.close()
    t.join(5)
    assert not t.is_alive()
    assert got == list(range(10))


def test_asyncio_recv_and_iteration():
    e = roomcast.Engine()
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")

    async def main():
        loop = asyncio.get_running_loop()

        def produce():
            for i in range(50):
                ns.emit("e", i)
            c.close()

        loop.call_later(0.02, lambda: threading.Thread(target=produce).start())
        first = await asyncio.wait_for(c.recv_async(), 5)
        rest = []

        async def collect():
            async for m in c:
                rest.append(m.data)

        await asyncio.wait_for(collect(), 5)
        return [first.data] + rest

    assert asyncio.run(main()) == list(range(50))


def test_asyncio_recv_closed():
    e = roomcast.Engine()
    c = e.connect()
    c.close()

    async def main():
        try:
            await c.recv_async()
        except roomcast.Closed:
            return True
        return False

    assert asyncio.run(main())


def test_asyncio_emit_with_ack():
    e = roomcast.Engine()
    ns = e.of("/chat")
    c = e.connect()
    s = c.join_namespace("/chat")

    async def main():
        fut = ns.timeout(2.0).emit_with_ack_async("ask", 1)
        msg = await asyncio.wait_for(c.recv_async(), 5)
        s.receive_ack(msg.ack_id, "yes")
        return await asyncio.wait_for(fut, 5)

    [r] = asyncio.run(main())
    assert r.data == "yes" and r.error is None


def test_asyncio_two_tasks_one_connection():
    e = roomcast.Engine()
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")

    async def main():
        t1 = asyncio.ensure_future(c.recv_async())
        t2 = asyncio.ensure_future(c.recv_async())
        await asyncio.sleep(0.02)
        threading.Thread(target=lambda: [ns.emit("e", i) for i in range(2)]).start()
        got = await asyncio.wait_for(asyncio.gather(t1, t2), 5)
        return sorted(m.data for m in got)

    assert asyncio.run(main()) == [0, 1]


def test_asyncio_cancelled_recv_leaves_connection_usable():
    e = roomcast.Engine()
    ns = e.of("/")
    c = e.connect()
    c.join_namespace("/")

    async def main():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(c.recv_async(), 0.02)
        ns.emit("e", "after")
        return await asyncio.wait_for(c.recv_async(), 5)

    assert asyncio.run(main()).data == "after"


def test_handlers_emitters_and_drainer_concurrently():
    e = roomcast.Engine(max_queue=100000, max_queue_bytes=1 << 26)
    ns = e.of("/chat")
    handled = []

    @ns.on("relay")
    def relay(socket, data, ack):
        handled.append(data)
        socket.broadcast.emit("relayed", data)
        if ack is not None:
            ack(data)

    sink = e.connect()
    sink.join_namespace("/chat")
    senders = [e.connect() for _ in range(3)]
    socks = [c.join_namespace("/chat") for c in senders]
    per = 300

    def dispatcher(k):
        for i in range(per):
            socks[k].dispatch("relay", [k, i], ack_id=i + 1 if i % 2 else None)

    def emitter():
        for i in range(per):
            ns.to("nobody").emit("x", i)
            ns.emit("direct", i)

    threads = [threading.Thread(target=dispatcher, args=(k,)) for k in range(3)]
    threads.append(threading.Thread(target=emitter))
    for t in threads:
        t.start()
    relayed = direct = 0
    deadline = time.monotonic() + 20
    while (relayed < 3 * per or direct < per) and time.monotonic() < deadline:
        for m in sink.recv_many(max=256, timeout=0.1):
            if m.event == "relayed":
                relayed += 1
            elif m.event == "direct":
                direct += 1
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert (relayed, direct, len(handled)) == (3 * per, per, 3 * per)


def test_overflow_disconnect_policy():
    e = roomcast.Engine(max_queue=2, overflow="disconnect")
    ns = e.of("/")
    c = e.connect()
    s = c.join_namespace("/")
    for i in range(3):
        ns.emit("e", i)
    assert not s.connected
    assert c.closed and c.close_reason == "queue overflow"
    assert [m.data for m in c] == [0, 1]


def test_gil_released_while_waiting_for_acks_and_in_recv_many():
    e = roomcast.Engine()
    ns = e.of("/")
    c = e.connect()
    s = c.join_namespace("/")
    results = []

    def waiter():
        results.append(ns.timeout(5).emit_with_ack("ask", 1))

    t = threading.Thread(target=waiter)
    t.start()
    # this thread needs the GIL to receive and answer while the other waits
    msg = c.recv(timeout=5)
    assert msg is not None and msg.ack_id is not None
    spins = 0
    start = time.monotonic()
    while time.monotonic() - start < 0.1:
        spins += 1
    assert s.receive_ack(msg.ack_id, "pong")
    t.join(5)
    assert not t.is_alive()
    assert [(r.socket_id, r.data, r.error) for r in results[0]] == [(s.id, "pong", None)]
    assert spins > 1000

    got = []
    drainer = threading.Thread(target=lambda: got.extend(c.recv_many(max=10, timeout=5)))
    drainer.start()
    time.sleep(0.05)
    ns.emit("late", 2)  # needs the GIL while the drainer blocks
    drainer.join(5)
    assert [m.data for m in got] == [2]
