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
