"""The README and every guide in docs/ run: their ``python`` blocks are executed against the local server.

The blocks of one file run in order in one namespace, as a reader would paste them, with
``MISTRAL_BASE_URL`` pointing at a fresh local server.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from mistral_client.server import LocalServer

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_examples_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(path)
    if path.name != "README.md" or blocks:
        assert blocks, f"{path.name} has no runnable example"
    with LocalServer() as server:
        monkeypatch.setenv("MISTRAL_BASE_URL", server.base_url)
        namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
        output = io.StringIO()
        for number, block in enumerate(blocks, 1):
            code = compile(block, f"{path.name} block {number}", "exec")
            with contextlib.redirect_stdout(output):
                exec(code, namespace)
    assert output.getvalue().strip(), f"the examples of {path.name} printed nothing"
