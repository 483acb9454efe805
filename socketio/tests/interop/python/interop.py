"""Interop tests: python-socketio's client against examples/interop_server.rs.

python interop.py URL websocket|polling|polling-only
  websocket:    transports ["websocket"];
  polling:      transports ["polling", "websocket"] (polling, then the upgrade);
  polling-only: transports ["polling"].
Prints one line per test ("ok - name" / "not ok - name: error") and a
closing "python-<mode> results: P passed, F failed"; exits 1 on failure.
"""

import sys
import threading
import time
import traceback

import engineio
import socketio

URL = sys.argv[1]
MODE = sys.argv[2] if len(sys.argv) > 2 else "websocket"
TRANSPORTS = {"websocket": ["websocket"], "polling": ["polling", "websocket"], "polling-only": ["polling"]}[MODE]

clients = []


def client():
    c = socketio.Client(reconnection=False)
    clients.append(c)
    return c


def connect(c, namespaces=("/",), auth=None):
    c.connect(URL, namespaces=list(namespaces), auth=auth, transports=TRANSPORTS, wait_timeout=3)
    return c


def wait_for(cond, timeout=3.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def connect_with_auth():
    c = connect(client(), ["/admin"], auth={"token": "s3cret"})
    assert c.get_sid("/admin"), "no socket id"
    assert c.call("echo", {"a": 1}, namespace="/admin", timeout=2) == {"a": 1}


def refused(namespace, **kwargs):
    """Connects to `namespace`, which must refuse; returns its connect_error data."""
    c = client()
    errors = []
    c.on("connect_error", lambda data: errors.append(data), namespace=namespace)
    try:
        connect(c, [namespace], **kwargs)
        raise AssertionError("connect succeeded")
    except socketio.exceptions.ConnectionError:
        pass
    return errors


@test
def middleware_rejection_is_a_connect_error_with_data():
    errors = refused("/admin", auth={"token": "wrong"})
    assert errors == [{"message": "not authorized", "data": {"reason": "bad token"}}], errors


@test
def invalid_namespace():
    errors = refused("/nowhere")
    assert errors == [{"message": "Invalid namespace"}], errors


@test
def two_namespaces_on_one_connection():
    c = connect(client(), ["/", "/admin"], auth={"token": "s3cret"})
    assert c.get_sid("/") and c.get_sid("/admin") and c.get_sid("/") != c.get_sid("/admin")
    assert c.call("echo", "root", timeout=2) == "root"
    assert c.call("echo", "admin", namespace="/admin", timeout=2) == "admin"
    if MODE == "polling-only":
        assert c.transport() == "polling"
    if MODE == "polling":
        wait_for(lambda: c.transport() == "websocket")
        assert c.call("echo", "after upgrade", timeout=2) == "after upgrade"


@test
def join_a_room_and_broadcast_except_sender():
    room = "py-room-" + MODE
    got = []
    lock = threading.Lock()
    members = []
    for i in range(4):
        c = connect(client())

        def on_msg(msg, i=i):
            with lock:
                got.append((i, msg))

        c.on("room message", on_msg)
        members.append(c)
    for c in members[:3]:
        assert c.call("join", room, timeout=2) == "joined"
    members[0].emit("to room", {"room": room, "msg": {"text": "hi"}})
    time.sleep(0.5)
    assert sorted(got) == [(1, {"text": "hi"}), (2, {"text": "hi"})], got


@test
def acks_in_both_directions_with_timeouts():
    c = client()

    def question(q):
        if q == "stay silent":
            time.sleep(1.5)  # answer only after the server's 1 s timeout
        return "answer to " + q

    c.on("question", question)
    connect(c)
    assert c.call("echo", [1, "two"], timeout=2) == [1, "two"]
    try:
        c.call("not handled", 1, timeout=0.3)
        raise AssertionError("no timeout")
    except socketio.exceptions.TimeoutError:
        pass
    assert c.call("ask", "life", timeout=3) == "answer to life"
    assert c.call("ask", "stay silent", timeout=3) == "timeout"


@test
def binary_payloads_in_both_directions():
    c = client()
    got = []
    c.on("binary", lambda data: got.append(data))
    connect(c)
    buf = bytes([0, 1, 2, 253, 254, 255])
    c.emit("binary", buf)
    wait_for(lambda: got)
    assert got == [buf], got
    reply = c.call("echo", {"file": buf, "n": 1, "empty": b""}, timeout=2)
    assert reply == {"file": buf, "n": 1, "empty": b""}, reply


@test
def server_side_disconnect():
    c = client()
    reasons = []
    c.on("disconnect", lambda reason: reasons.append(reason))
    connect(c)
    c.emit("disconnect me")
    wait_for(lambda: reasons)
    assert reasons == [c.reason.SERVER_DISCONNECT], reasons


@test
def client_disconnect_and_reconnect():
    c = connect(client())
    first = c.get_sid("/")
    c.disconnect()
    connect(c)
    assert c.get_sid("/") != first
    assert c.call("echo", "again", timeout=2) == "again"
    # python-socketio queues the namespace DISCONNECT on a background writer
    # and then aborts the transport, so the server may see either reason, and
    # on polling it may see it after the new connection is up (or only at the
    # heartbeat timeout when the abort wins). Ask until the old socket is gone.
    gone = (first + " client namespace disconnect", first + " transport close", first + " ping timeout")
    deadline = time.monotonic() + 5.0
    while True:
        reasons = c.call("reasons", timeout=2)
        if any(r in reasons for r in gone) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert any(r in reasons for r in gone), reasons


@test
def heartbeat_timeout_when_the_client_stops_answering_pings():
    c = client()
    gone = threading.Event()
    c.on("disconnect", lambda reason: gone.set())
    connect(c)
    sid = c.get_sid("/")
    if MODE == "polling":
        wait_for(lambda: c.transport() == "websocket")
    send = c.eio._send_packet

    def no_pongs(pkt):
        if pkt.packet_type != engineio.packet.PONG:
            send(pkt)

    c.eio._send_packet = no_pongs
    assert gone.wait(5), "the server did not drop the silent client"
    observer = connect(client())
    reasons = observer.call("reasons", timeout=2)
    assert sid + " ping timeout" in reasons, reasons


def main():
    passed = failed = 0
    for fn in TESTS:
        name = fn.__name__.replace("_", " ")
        try:
            fn()
            passed += 1
            print(f"ok - [python {MODE}] {name}", flush=True)
        except Exception:
            failed += 1
            print(f"not ok - [python {MODE}] {name}: {traceback.format_exc()}", flush=True)
        while clients:
            c = clients.pop()
            try:
                c.disconnect()
            except Exception:
                pass
    print(f"python-{MODE} results: {passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
