"""Input files for the bulk runner's tests, and reading back what a run wrote."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

MODEL = "mistral-small-latest"


def request_line(custom_id: str, **body: Any) -> dict[str, Any]:
    """A chat request whose first message is its custom_id: the server's records name each request by it."""
    return {
        "custom_id": custom_id,
        "body": {"model": MODEL, "messages": [{"role": "user", "content": custom_id}], "max_tokens": 4, **body},
    }


def write_requests(path: Path, count: int, prefix: str = "r") -> list[str]:
    ids = [f"{prefix}{number}" for number in range(count)]
    with open(path, "w", encoding="utf-8") as out:
        for custom_id in ids:
            out.write(json.dumps(request_line(custom_id)) + "\n")
    return ids


def read_results(path: Path) -> list[dict[str, Any]]:
    """Every line of a results file; each must be a whole JSON object (no torn line)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n"), "the results file ends in a torn line"
    return [json.loads(line) for line in text.splitlines()]


def result_ids(path: Path) -> list[str]:
    return [line["custom_id"] for line in read_results(path)]


def duplicates(ids: list[str]) -> dict[str, int]:
    return {custom_id: seen for custom_id, seen in Counter(ids).items() if seen > 1}


def seen_statuses(base_url: str) -> dict[str, list[int | None]]:
    """From a ``serve`` process's own records (``GET /mock/requests``): each chat request's custom_id
    (its first message: see ``request_line``) with the status of every time it was sent."""
    import httpx2

    answer = httpx2.get(f"{base_url}/mock/requests", params={"path": "/v1/chat/completions"}, timeout=30)
    answer.raise_for_status()
    counts: dict[str, list[int | None]] = {}
    for seen in answer.json()["data"]:
        messages = (seen.get("body") or {}).get("messages") or [{}]
        counts.setdefault(str(messages[0].get("content")), []).append(seen.get("status"))
    return counts
