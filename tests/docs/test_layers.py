"""The layer order of docs/architecture.md is a contract: ``lint-imports`` checks pyproject's contracts.

Run here too, so the README's test line catches an import that goes the wrong way, not only CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lint_imports() -> subprocess.CompletedProcess[str]:
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]' (import-linter)")
    return subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_every_layer_contract_is_kept() -> None:
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    for contract in ("Layers:", "client < resources < stream", "transport imports nothing", "pipeline does no I/O"):
        assert contract in done.stdout, contract


def test_a_wrong_way_import_breaks_a_contract(tmp_path: Path) -> None:
    # The contracts are not vacuous: a transport module that imports the pipeline is refused.
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    bad = copy / "src" / "mistral_client" / "_transport" / "chunked.py"
    bad.write_text(bad.read_text() + "\nfrom .._pipeline import sse\n")
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert command is not None
    done = subprocess.run(
        [command, "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(copy / "src"), "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode != 0
    assert "mistral_client._transport.chunked -> mistral_client._pipeline.sse" in done.stdout, done.stdout
