"""python-socketio apps on roomcast with the import changed: the apps in
sio_apps/ (the shapes of python-socketio's ASGI examples) run under uvicorn
on roomcast.socketio and, with the import line restored, on python-socketio
itself; the official JavaScript client must see the same thing from both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("socketio")
pytest.importorskip("uvicorn")

from sio_helpers import APPS, node_client, uvicorn  # noqa: E402

ROOMCAST_IMPORT = "import roomcast.socketio as socketio\n"


def on_python_socketio(app: str, tmp: Path) -> Path:
    """A copy of the app with python-socketio's import: the only line that
    differs."""
    src = (APPS / f"{app}.py").read_text()
    assert src.count(ROOMCAST_IMPORT) == 1
    (tmp / f"{app}.py").write_text(src.replace(ROOMCAST_IMPORT, "import socketio\n"))
    return tmp


EXPECTED = {
    "rooms_app": lambda out: (
        out["ticks"] is True
        and out["a"][0] == ["my_response", {"data": "Connected", "count": 0}]
        and ["my_response", {"data": "to r again"}] in out["b"]
        and ["my_response", {"data": "to r again"}] not in out["a"]
        and ["my_response", {"data": "nobody"}] not in out["a"] + out["b"]
        and out["a"][-1] == ["disconnect", "io server disconnect"]
    ),
    "greet_app": lambda out: (
        out["bad"] == [["connect_error", "authentication failed", {"hint": "token"}]]
        and out["c"][0] == ["hello", 1, 2, {"hello": "you"}]
        and out["sum"] == 5
        and out["ok"] == "ok"
        and ["shouted", "HEY"] in out["y"]
        and ["shouted", "HEY"] not in out["x"]
    ),
    "latency_app": lambda out: out["argCounts"] == [0] * 20,
}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("app", sorted(EXPECTED))
def test_python_socketio_app_runs_on_roomcast_with_the_import_changed(app: str, transport: str, tmp_path: Path) -> None:
    scenario = app.split("_")[0]
    with uvicorn(f"{app}:app", APPS) as url:
        ours: Any = node_client(scenario, url, transport)
    assert EXPECTED[app](ours), ours
    with uvicorn(f"{app}:app", on_python_socketio(app, tmp_path)) as url:
        theirs: Any = node_client(scenario, url, transport)
    assert ours == theirs
