"""bench/telemetry.py (scenario 10, the cost of OpenTelemetry) runs at a tiny size and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_telemetry_bench_runs_at_a_tiny_size() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.telemetry", "--quick", "--clients", "ours,ours-async"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=300,
    ).stdout
    lines = out.splitlines()
    assert lines[-2].startswith("the client's own telemetry code, providers that do nothing: ")
    rows = [line.split() for line in lines[1:-2]]
    assert [(row[0], row[1]) for row in rows] == [
        (client, mode) for client in ("ours", "ours-async") for mode in ("off", "api", "sdk", "floor")
    ]
    # The sdk mode made spans (a mode that records nothing would measure nothing), the others none.
    exported = dict(part.rsplit(" ", 1) for part in lines[-1].removeprefix("spans exported: ").split(", "))
    assert set(exported) == {"ours", "ours-async"}
    assert all(int(count.replace(",", "")) > 0 for count in exported.values())
