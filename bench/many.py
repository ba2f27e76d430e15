"""Scenario 3 in a process of its own: many concurrent async streams through one client.

    python -m bench.many CLIENT BASE_URL STREAMS CHUNKS GAP

Prints one JSON line: client CPU per chunk, wall time, and peak RSS (the whole process, and above
what it held once imported, with its client built and one stream done).  A process per client keeps
each one's memory apart from the others'.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import httpx2

from bench.clients import ASYNC, POOL
from bench.scenarios import _drain_async, _expect, peak_rss_mib


async def run(name: str, base: str, streams: int, chunks: int, gap: float) -> dict[str, Any]:
    # Every client gets a pool wide enough for all its streams at once; httpx2's default of 100
    # connections would queue half of them.
    client = ASYNC[name](base, httpx2.AsyncClient(limits=POOL, timeout=60))
    headers = {"x-bench-n": str(chunks), "x-bench-mode": "trickle", "x-bench-gap": repr(gap)}
    _expect(name, await _drain_async(client, headers), chunks)
    base_rss = peak_rss_mib()
    cpu, wall = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(_drain_async(client, headers) for _ in range(streams)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for got in counts:
        _expect(name, got, chunks)
    await client.close()
    peak = peak_rss_mib()
    return {
        "us_per_chunk": cpu / (streams * chunks) * 1e6,
        "wall_s": wall,
        "peak_rss_mib": peak,
        "added_rss_mib": peak - base_rss,
    }


def main() -> None:
    name, base, streams, chunks, gap = sys.argv[1:6]
    result = asyncio.run(run(name, base, int(streams), int(chunks), float(gap)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
