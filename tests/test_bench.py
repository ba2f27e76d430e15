"""The benchmark suite runs: every scenario at a tiny size, so the harness cannot rot.

Nothing here asserts a time; speed targets are judged by ``python -m bench`` at full size.  The SDK
columns are checked only when the ``bench`` extra is installed; the uvloop run needs it too, and
skips without it (a failure when ``CI=true``, see tests/shared.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import unavailable

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("bulk", "trickle", "many", "cold", "ttfc", "cancel", "large")


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of every scenario at a tiny size, shared by the tests below: its output and folder."""
    out = tmp_path_factory.mktemp("bench")
    return run_bench("--quick", "--out", str(out)), out


def test_every_scenario_runs_at_a_tiny_size(quick: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = quick
    assert done.returncode == 0, done.stderr

    results = json.loads((out / "benchmarks.json").read_text())
    got = results["scenarios"]
    assert set(got) - {"many_uvloop"} == set(SCENARIOS)
    for scenario in ("bulk", "trickle", "ttfc"):
        assert {"ours", "ours-async", "httpx2", "httpx2+json"} <= set(got[scenario]), scenario
    assert {"ours", "ours (keep_chunks=True)", "httpx2", "loop-floor"} <= set(got["many"])
    assert {"ours", "httpx2"} <= set(got["cold"])
    assert {"ours close", "ours-async aclose", "ours-async task cancel"} <= set(got["cancel"])
    assert all(way["missed"] == 0 for way in got["cancel"].values())  # every close reached the server
    assert {"ours (SSE)", "ours (SSE + chunk)", "httpx2 SSE"} <= set(got["large"])
    for sdk in ("openai", "mistralai"):
        if importlib.util.find_spec(sdk) is not None:
            for scenario in ("bulk", "trickle", "many", "cold", "ttfc"):
                assert sdk in got[scenario], (sdk, scenario)

    # The tables printed, and the page written with them.
    for heading in ("### 1-2.", "### 3.", "### 4.", "### 5.", "### 6.", "### 7.", "### Targets"):
        assert heading in done.stdout
    page = (out / "benchmarks.md").read_text()
    assert "## Reproduce" in page and "### 1-2." in page
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "benchmarks.png").read_bytes().startswith(b"\x89PNG")


def test_the_many_streams_scenario_runs_on_uvloop_too(quick: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    if importlib.util.find_spec("uvloop") is None:
        unavailable("uvloop is not installed (it comes with the bench extra: pip install -e '.[bench]')")
    done, out = quick
    assert done.returncode == 0, done.stderr
    got = json.loads((out / "benchmarks.json").read_text())["scenarios"]
    assert set(got["many_uvloop"]) == set(got["many"])
    assert "### 3. Many streams (uvloop)" in done.stdout


def test_sse_decoder_comparison_runs() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "sse_decoders.py"), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "| (a)/(b) SSE only" in done.stdout


def test_the_http_layer_measurement_runs_at_a_tiny_size() -> None:
    from bench.http_layer import decoders, transports
    from bench.server import ServerProcess

    assert set(decoders(200)) == {"h11", "ChunkedBody"}
    with ServerProcess() as base:
        got = transports(base, reps=1, sizes=(("tiny", 3, 20, 0.0),))
    assert set(got["tiny"]) == {"httpx2", "ours"}
