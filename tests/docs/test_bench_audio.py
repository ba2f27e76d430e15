"""``python -m bench.audio`` (issue 19) runs at a tiny size and writes what docs/audio.md quotes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.support.shared import unavailable

ROOT = Path(__file__).resolve().parents[2]


def test_the_transcription_stream_bench_runs_at_a_tiny_size(tmp_path: Path) -> None:
    if importlib.util.find_spec("mistralai") is None:
        unavailable("the bench compares with the official SDK, not installed here: pip install -e '.[bench]'")
    out = tmp_path / "audio.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.audio", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert set(result["us_per_event"]) == {"ours", "ours-async", "mistralai", "mistralai-async"}
    assert set(result["times_cheaper"]) == {"sync", "async"} and result["quick"] is True
    assert "cheaper per event than mistralai's" in done.stdout
    # The committed run is a real one, not a quick one, and it has what the page quotes.
    committed = json.loads((ROOT / "docs" / "audio.json").read_text())
    assert committed["quick"] is False and committed["sizes"][1] > committed["sizes"][0]
