"""The Python examples of the README and of the package guide run."""

import re
from pathlib import Path


DOC = Path(__file__).resolve().parents[2] / "README.md"


def test_quick_example_runs(capsys):
    text = DOC.read_text()
    section = text.split("## Python in 30 seconds", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {"__name__": "doc_example"})
    out = capsys.readouterr().out
    assert "/chat chat message {'text': 'hi'}" in out
    assert "EmitReport(recipients=1, queued=1, dropped=0)" in out


GUIDE = Path(__file__).resolve().parents[1] / "README.md"


def test_coroutine_example_runs(capsys):
    text = GUIDE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    (code,) = [b for b in blocks if "asyncio.run(main())" in b]
    exec(compile(code, str(GUIDE), "exec"), {"__name__": "doc_example"})
    assert capsys.readouterr().out.strip() == "ack 1 42"


def test_package_readme_is_the_whole_guide():
    readme = GUIDE.read_text()
    for section in ("## Install", "## asyncio", "## Failures", "## The whole surface"):
        assert section in readme


def _socketio_blocks():
    text = GUIDE.read_text().split("## Socket.IO server: `roomcast.socketio`", 1)[1].split("## Failures", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_socketio_server_example_runs():
    import time

    import pytest

    socketio = pytest.importorskip("socketio")
    code = _socketio_blocks()[0]
    assert 'server.serve("127.0.0.1", 5000)' in code
    code = code.replace('server.serve("127.0.0.1", 5000)', 'server.start("127.0.0.1", 0)')
    env = {"__name__": "doc_example"}
    exec(compile(code, str(GUIDE), "exec"), env)
    server = env["server"]
    try:
        url = f"http://127.0.0.1:{server.address[1]}"
        a, b = socketio.Client(), socketio.Client()
        got = []
        b.on("chat message", lambda d: got.append(d))
        a.connect(url, transports=["websocket"])
        b.connect(url, transports=["websocket"])
        a.emit("chat message", "hello")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got == ["hello"]
        a.disconnect()
        b.disconnect()
    finally:
        server.shutdown()


def test_socketio_migration_example_defines_an_app():
    import asyncio

    code = _socketio_blocks()[1]
    env = {"__name__": "doc_example"}
    exec(compile(code, str(GUIDE), "exec"), env)
    sio = env["sio"]
    assert set(sio.handlers["/"]) == {"connect", "join"}
    assert asyncio.run(env["join"]("nobody", "r")) == "joined"
