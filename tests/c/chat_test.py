#!/usr/bin/env python3
"""Drives examples/c/chat_server.c over loopback TCP with scripted clients.

    chat_test.py [--timeout S] -- COMMAND...   (COMMAND starts the server; it
                                                 gets "0" appended as its port)

Checks who receives what (no echo to the sender, room isolation, each line
at most once per recipient, join/leave/nick notices), error replies, and a
clean exit on SIGTERM (exit status 0: the sanitizer or valgrind wrapping the
server turns leaks and memory errors into a non-zero status).

"Nothing else arrived" is checked without sleeping: the client then sends a
command whose reply comes back to itself only; the server handles lines in
order and each connection's messages arrive in order, so anything meant for
it would arrive before that reply.

Prints one line per test and, last, "N passed, N failed".
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import traceback

TIMEOUT = 20.0


class Client:
    def __init__(self, port, name):
        self.name = name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.nonce = 0
        assert self.line().startswith("* welcome"), "no welcome line"

    def send(self, text):
        data = text if isinstance(text, bytes) else text.encode()
        self.sock.sendall(data + b"\n")

    def line(self):
        deadline = time.monotonic() + TIMEOUT
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no line within {TIMEOUT}s (have {self.buf!r})")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"{self.name}: connection closed (have {self.buf!r})")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def expect(self, want):
        got = self.line()
        assert got == want, f"{self.name}: expected {want!r}, got {got!r}"

    def quiet(self):
        """Asserts nothing else is queued for this client."""
        self.nonce += 1
        probe = f"probe{self.nonce}"
        self.send(f"/leave {probe}")
        self.expect(f"* not in {probe}")

    def nick(self, name):
        self.send(f"/nick {name}")
        self.expect(f"* you are now {name}")

    def join(self, room):
        self.send(f"/join {room}")
        self.expect(f"* joined {room}")

    def close(self):
        self.sock.close()


class Server:
    def __init__(self, command):
        self.proc = subprocess.Popen(
            command + ["0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        first = self.proc.stdout.readline().strip()
        if not first.startswith("listening on 127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"server did not start: {first!r} {self.proc.stderr.read()}")
        self.port = int(first.rsplit(":", 1)[1])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("server did not exit within 120 s of SIGTERM")
        return self.proc.returncode, out, err


def run(command):
    server = Server(command)
    port = server.port
    results = []
    clients = []

    def client(name):
        c = Client(port, name)
        clients.append(c)
        return c

    def test(name, fn):
        try:
            fn()
            results.append(True)
            print(f"ok   {name}", flush=True)
        except Exception:
            results.append(False)
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()

    alice = client("alice")
    bob = client("bob")
    carol = client("carol")

    def nicks_and_join_notices():
        alice.nick("alice")
        bob.nick("bob")
        carol.nick("carol")
        alice.join("lobby")
        bob.join("lobby")
        alice.expect("* bob joined lobby")
        carol.join("games")
        alice.quiet()  # carol joined another room: no notice in the lobby
        carol.quiet()

    def line_reaches_room_but_not_sender():
        alice.send("hello lobby")
        bob.expect("alice: hello lobby")
        alice.quiet()  # no echo

    def rooms_are_isolated():
        carol.send("hello games")
        carol.quiet()  # alone in games
        alice.quiet()
        bob.quiet()
        alice.send("lobby only")
        bob.expect("alice: lobby only")
        carol.quiet()

    def each_line_once_per_recipient():
        alice.join("games")
        carol.expect("* alice joined games")
        bob.join("games")
        alice.expect("* bob joined games")
        carol.expect("* bob joined games")
        alice.send("to both rooms")
        bob.expect("alice: to both rooms")  # in lobby and games, receives it once
        carol.expect("alice: to both rooms")
        bob.quiet()
        carol.quiet()
        alice.quiet()

    def nick_change_is_announced():
        bob.nick("robert")
        alice.expect("* bob is now known as robert")
        carol.expect("* bob is now known as robert")
        alice.quiet()
        carol.quiet()

    def leave_notice_and_no_more_lines():
        bob.send("/leave games")
        alice.expect("* robert left games")
        carol.expect("* robert left games")
        bob.expect("* left games")
        carol.send("games talk")
        alice.expect("carol: games talk")
        bob.quiet()  # left games, not in it any more
        bob.send("/leave games")
        bob.expect("* not in games")

    def disconnect_is_announced():
        dave = client("dave")
        dave.nick("dave")
        dave.join("lobby")
        alice.expect("* dave joined lobby")
        bob.expect("* dave joined lobby")
        dave.close()
        clients.remove(dave)
        alice.expect("* dave left lobby")
        bob.expect("* dave left lobby")
        alice.quiet()

    def errors_get_replies():
        erin = client("erin")
        erin.send("talking to nobody")
        erin.expect("* join a room first: /join ROOM")
        erin.send("/bogus")
        erin.expect("* unknown command (try /nick, /join, /leave)")
        erin.send("/join")
        erin.expect("* usage: /join ROOM")
        erin.send("/nick two words")
        erin.expect("* usage: /nick NAME (1-32 characters, no spaces)")
        erin.send(b"\xff\xfe not utf-8")
        erin.expect("* lines must be UTF-8 text")
        erin.send("x" * 5000)
        erin.expect("* line too long (1024 bytes at most)")
        erin.join("lobby")
        erin.send("/join lobby")
        erin.expect("* already in lobby")
        erin.send("/join " + "r" * 300)  # longer than max_name_len (256)
        assert erin.line().startswith("* cannot join "), "oversized room name accepted"
        alice.expect("* guest5 joined lobby")
        bob.expect("* guest5 joined lobby")
        erin.quiet()

    def fan_out_to_many_clients():
        many = [client(f"m{i}") for i in range(20)]
        for m in many:
            m.join("crowd")
        # each join is announced to the members already there
        for i, m in enumerate(many):
            for _ in range(len(many) - 1 - i):
                assert m.line().endswith(" joined crowd")
        many[0].send("hi all")
        for m in many[1:]:
            m.expect("guest6: hi all")
        for m in many:
            m.quiet()

    test("nicks_and_join_notices", nicks_and_join_notices)
    test("line_reaches_room_but_not_sender", line_reaches_room_but_not_sender)
    test("rooms_are_isolated", rooms_are_isolated)
    test("each_line_once_per_recipient", each_line_once_per_recipient)
    test("nick_change_is_announced", nick_change_is_announced)
    test("leave_notice_and_no_more_lines", leave_notice_and_no_more_lines)
    test("disconnect_is_announced", disconnect_is_announced)
    test("errors_get_replies", errors_get_replies)
    test("fan_out_to_many_clients", fan_out_to_many_clients)

    def sigterm_shuts_down_cleanly():
        rc, out, err = server.stop()
        assert rc == 0, f"exit status {rc}; stderr:\n{err}"
        assert "shut down (" in out, f"no shutdown line in {out!r}"
        for c in clients:
            try:
                got = c.line()
            except AssertionError:
                continue  # closed before the goodbye reached it
            assert got == "* server shutting down", f"{c.name}: {got!r}"
        if err.strip():
            print(err, file=sys.stderr)

    test("sigterm_shuts_down_cleanly", sigterm_shuts_down_cleanly)
    for c in clients:
        c.close()
    if server.proc.poll() is None:
        server.proc.kill()
    return results


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=TIMEOUT)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    TIMEOUT = args.timeout
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the server command after --")
    try:
        results = run(command)
    except Exception:
        traceback.print_exc()
        results = [False]
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
