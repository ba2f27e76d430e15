"""``python -m bench.partial_json`` runs, and measures what docs/streaming.md says it does."""

from __future__ import annotations

import json
from pathlib import Path

from bench import partial_json


def test_the_benchmark_runs_and_writes_nothing_when_quick(tmp_path: Path) -> None:
    out = tmp_path / "partial-json.json"
    got = partial_json.main(["--quick", "--json", str(out)])
    assert not out.exists()
    assert got["chunk_chars"] == 5 and 29_000 <= got["document_chars"] < 30_000
    assert set(got["per_call_us"]) == {"1000", "30000"}
    assert got["stream_ms"]["ours"] > 0 and got["stream_ms"]["jiter"] > 0
    # The differences from jiter are the documented ones only (the test of the rule checks which).
    assert 0 < got["prefixes_differing"] < got["prefixes_compared"] == got["chunks"]


def test_the_recorded_run_has_what_the_docs_quote() -> None:
    recorded = json.loads((Path(__file__).resolve().parents[2] / "docs" / "partial-json.json").read_text())
    assert set(recorded) >= {"stream_ms", "stream_speedup", "per_call_us", "per_call_growth", "prefixes_differing"}
