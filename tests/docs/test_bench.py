"""The benchmark suite runs: every scenario at a tiny size, so the harness cannot rot.

Nothing here asserts a time; speed targets are judged by ``python -m bench`` at full size.  The SDK
columns are checked only when the ``bench`` extra is installed; the uvloop run needs it too, and
skips without it (a failure when ``CI=true``, see tests/support/shared.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.shared import unavailable

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = (
    "bulk",
    "trickle",
    "many",
    "many_rates",
    "cold",
    "ttfc",
    "cancel",
    "large",
    "conversations",
    "bulk_runner",
    "telemetry",
)
OUR_TRANSPORT = "mistral_client._transport.http11.AsyncTransport"


def run_bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=180
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One run of every scenario at a tiny size, shared by the tests below: its output and folder."""
    out = tmp_path_factory.mktemp("bench")
    return run_bench("--quick", "--out", str(out)), out


@pytest.mark.timeout(180)  # the whole quick run (the fixture's), about a minute on 2 busy cores
def test_every_scenario_runs_at_a_tiny_size(quick: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, out = quick
    assert done.returncode == 0, done.stderr

    results = json.loads((out / "benchmarks.json").read_text())
    got = results["scenarios"]
    assert set(got) - {"many_uvloop"} == set(SCENARIOS)
    for scenario in ("bulk", "trickle", "ttfc"):
        assert {"ours", "ours-async", "httpx2", "httpx2+json"} <= set(got[scenario]), scenario
    assert {"ours", "ours (keep_chunks=True)", "httpx2", "loop-floor"} <= set(got["many"])
    loops = [("many", "asyncio.")] + ([("many_uvloop", "uvloop.")] if "many_uvloop" in got else [])
    for key, loop in loops:
        for name, row in got[key].items():  # every row keeps each run's value, K of them (1 for an SDK)
            runs = results["sizes"]["many_sdk_reps" if name in ("openai", "mistralai") else "many_reps"]
            assert len(row["us_per_chunk_runs"]) == runs, (key, name)
            assert row["loop"].startswith(loop), (key, name, row["loop"])
        assert got[key]["ours"]["transport"] == OUR_TRANSPORT
    assert set(got["many_rates"]) == ({"asyncio", "uvloop"} if "many_uvloop" in got else {"asyncio"})
    for by_gap in got["many_rates"].values():
        assert len(by_gap) == len(results["sizes"]["many_rate_gaps"])
        assert all(set(rows) == {"ours", "loop-floor"} for rows in by_gap.values())
    for scenario in ("bulk", "trickle"):
        assert len(got[scenario]["ours"]["us_per_chunk_runs"]) == results["sizes"]["reps"]
    assert {"ours", "httpx2"} <= set(got["cold"])
    # The command line's start-up (issue 17): --help and --version, each over an empty interpreter.
    commands = {"mistral-client --help", "mistral-client --version"}
    assert commands <= set(got["cold"])
    for command in commands:
        row = got["cold"][command]
        assert row["over_python_ms"] == pytest.approx(row["wall_ms"] - row["python_wall_ms"])
        assert row["peak_rss_mib"] > 0 and row["import_wall_ms"] is None
        assert f"| cold start: `{command}` <= 60 ms over an empty interpreter |" in done.stdout
        assert f"| `{command}` |" in done.stdout
    assert {"ours close", "ours-async aclose", "ours-async task cancel"} <= set(got["cancel"])
    assert all(way["missed"] == 0 for way in got["cancel"].values())  # every close reached the server
    assert {"ours (SSE)", "ours (SSE + chunk)", "httpx2 SSE"} <= set(got["large"])
    assert {"ours chat", "ours", "ours-async"} <= set(got["conversations"]) and "vs_chat" in got["conversations"]
    for sdk in ("openai", "mistralai"):
        if importlib.util.find_spec(sdk) is not None:
            for scenario in ("bulk", "trickle", "many", "cold", "ttfc"):
                assert sdk in got[scenario], (sdk, scenario)

    # The tables printed, and the page written with them.
    assert "ours" in got["bulk_runner"] and all(len(rows) == 2 for rows in got["bulk_runner"].values())
    telemetry = got["telemetry"]  # scenario 10: every mode of ours, and the SDK's spans really made
    for name in ("ours", "ours-async"):
        assert {"off", "api", "sdk", "floor"} <= set(telemetry[name]) and telemetry[name]["spans_exported"] > 0
        assert set(telemetry[name]["delta"]) == {"api", "sdk", "floor"}
    assert "many_us_per_chunk" in telemetry["ours-async"]["delta"]["sdk"]
    if importlib.util.find_spec("mistralai") is not None:
        assert telemetry["mistralai"]["spans_exported"] > 0  # its tracing was on in its sdk mode
    headings = ("### 1-2.", "### 3.", "### 4.", "### 5.", "### 6.", "### 7.", "### 8.", "### 9.", "### 10.")
    for heading in (*headings, "### Targets"):
        assert heading in done.stdout
    page = (out / "benchmarks.md").read_text()
    assert "## Reproduce" in page and "### 1-2." in page
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "benchmarks.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.timeout(180)
def test_the_many_streams_scenario_runs_on_uvloop_too(quick: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    if importlib.util.find_spec("uvloop") is None:
        unavailable("uvloop is not installed (it comes with the bench extra: pip install -e '.[bench]')")
    done, out = quick
    assert done.returncode == 0, done.stderr
    got = json.loads((out / "benchmarks.json").read_text())["scenarios"]
    assert set(got["many_uvloop"]) == set(got["many"])
    assert "### 3b. Many streams (uvloop)" in done.stdout


def test_a_proxy_variable_does_not_move_ours_off_its_transport(tmp_path: Path) -> None:
    # With HTTP_PROXY set, AsyncMistral sends through httpx2's transport (NO_PROXY is left to httpx2):
    # a many-streams run would then measure httpx2 under our name, on either loop.
    proxy = {"HTTP_PROXY": "http://proxy.invalid:3128", "NO_PROXY": "127.0.0.1,localhost"}
    done = run_bench("--quick", "--only", "3", "--many-reps", "1", "--out", str(tmp_path), env=proxy)
    assert done.returncode == 0, done.stderr

    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert results["proxy_variables_removed"] == ["HTTP_PROXY"]
    for key in {"many", "many_uvloop"} & set(results["scenarios"]):  # many_uvloop: only with uvloop installed
        assert results["scenarios"][key]["ours"]["transport"] == OUR_TRANSPORT
        assert results["scenarios"][key]["httpx2"]["transport"] == "httpx2.AsyncHTTPTransport"


def test_a_run_of_ours_on_another_transport_is_refused() -> None:
    from bench.scenarios import _checked

    assert _checked("ours-async", {"transport": OUR_TRANSPORT}) == {"transport": OUR_TRANSPORT}
    assert _checked("httpx2", {"transport": "httpx2.AsyncHTTPTransport"})
    with pytest.raises(RuntimeError, match="a proxy variable"):
        _checked("ours-async-relay", {"transport": "httpx2.AsyncHTTPTransport"})


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
