"""``keep_chunks=False``: no chunk kept (``result.chunks is None``) and a result of bounded size.

Flat memory is asserted by structure, not by time or bytes: after thousands of chunks the result
holds a bounded number of objects (its text is joined as it arrives), where keeping the deltas
until the text is read would hold one string per chunk.  ``python -m bench.keep_chunks`` measures
the bytes; here it only has to run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mistral_client import AsyncMistral, Mistral, StreamResult
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL

ROOT = Path(__file__).resolve().parents[2]
TOKENS = 5000


def held_objects(result: StreamResult) -> int:
    """How many objects the result keeps alive (everything reachable from it)."""
    seen: set[int] = set()
    todo: list[object] = [result]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        todo.extend(gc.get_referents(obj))
    return len(seen)


def _stream(kind: str, base_url: str, **kw: Any) -> tuple[int, int, StreamResult]:
    """Chunks handed out, objects the result holds (counted right after the loop, before anything
    such as a repr could read its text), and the result."""
    headers = {"x-mock-tokens": str(TOKENS)}
    if kind == "sync":
        with (
            Mistral(base_url=base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers=headers, **kw) as stream,
        ):
            count = sum(1 for _ in stream)
            return count, held_objects(stream.result), stream.result

    async def main() -> tuple[int, int, StreamResult]:
        async with (
            AsyncMistral(base_url=base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers=headers, **kw) as stream,
        ):
            count = 0
            async for _ in stream:
                count += 1
            return count, held_objects(stream.result), stream.result

    return asyncio.run(main())


def test_without_kept_chunks_the_result_holds_a_bounded_number_of_objects(kind: str, server: LocalServer) -> None:
    count, held, result = _stream(kind, server.base_url, keep_chunks=False)
    assert result.chunks is None  # not kept: None, never an empty list that would read as "none arrived"
    assert result.chunk_count == count >= TOKENS
    # At most 256 joined blocks and 255 pieces since the last fold, plus a few dozen others; one
    # string per chunk (the deltas kept until read) would be over 5,000.
    assert held < 600, held
    # The text is whole: the same as with every chunk kept (the local server's answer is deterministic).
    _, held_with_chunks, kept = _stream(kind, server.base_url)
    assert held_with_chunks > TOKENS
    assert result.content == kept.content and len(result.content) > TOKENS
    assert result.finish_reason == kept.finish_reason


def test_the_keep_chunks_bench_runs() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-m", "bench.keep_chunks", "--quick"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "bytes per extra chunk" in done.stdout
