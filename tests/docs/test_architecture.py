"""docs/architecture.md names real places: every file or folder it points at exists, so it cannot go stale."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "mistral_client"
PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
# A name with a slash or a .py ending, in backticks or in the drawing: `_pipeline/sse.py`, web.py, cli/
PATH = re.compile(r"(?<![\w./-])((?:tests|scripts|_\w+|cli|server)/[\w./]*|[\w/]+\.py)(?![\w/])")


def places() -> set[str]:
    return {match.rstrip(".") for match in PATH.findall(PAGE)}


def test_every_place_the_page_names_exists() -> None:
    named = places()
    assert len(named) > 20, named  # the drawing and the walk-through name that many at least
    missing = [
        name
        for name in sorted(named)
        if not any((base / name).exists() for base in (ROOT, PACKAGE, *PACKAGE.iterdir()))
    ]
    assert missing == []


def test_every_layer_package_is_on_the_page() -> None:
    packages = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert packages == {"_async", "_sync", "_pipeline", "_transport", "_wire", "bulk", "cli", "server"}
    for name in packages:
        assert f"{name}/" in PAGE, name
    for module in PACKAGE.glob("*.py"):
        if module.name not in ("__init__.py", "__main__.py", "_version.py"):
            assert module.name in PAGE, module.name
