"""Scenario 3 in a process of its own: many concurrent async streams through one client.

    python -m bench.many CLIENT BASE_URL STREAMS CHUNKS GAP [LOOP]

Prints one JSON line: client CPU per chunk, wall time, and peak RSS (the whole process, and above
what it held once imported, with its client built and one stream done).  A process per client keeps
each one's memory apart from the others'.  LOOP is ``asyncio`` (the default) or ``uvloop``.

Besides the clients of ``bench.clients``, CLIENT may be ``loop-floor``: no HTTP client at all, only
an asyncio ``Protocol`` per socket that counts reads until the body's terminator.  What that costs
per chunk is the event loop's own share, which no client running on that loop can go below.
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
from bench.wire import request_body


async def run(name: str, base: str, streams: int, chunks: int, gap: float) -> dict[str, Any]:
    if name == "loop-floor":
        client: Any = LoopFloor(base)
    elif name.startswith("ours"):
        client = ASYNC[name](base, None)  # as the README uses it: its own transport, a pool of 1000
    else:
        # A pool wide enough for all the streams at once; httpx2's default of 100 would queue half.
        client = ASYNC[name](base, httpx2.AsyncClient(limits=POOL, timeout=60))
    headers = {"x-bench-n": str(chunks), "x-bench-mode": "trickle", "x-bench-gap": repr(gap)}
    check = name != "loop-floor"  # it counts reads, which are fewer than events when they bunch up
    got = await _drain_async(client, headers)
    if check:
        _expect(name, got, chunks)
    base_rss = peak_rss_mib()
    cpu, wall = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(_drain_async(client, headers) for _ in range(streams)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for got in counts if check else ():
        _expect(name, got, chunks)
    await client.close()
    peak = peak_rss_mib()
    return {
        "us_per_chunk": cpu / (streams * chunks) * 1e6,
        "wall_s": wall,
        "peak_rss_mib": peak,
        "added_rss_mib": peak - base_rss,
    }


class _Counter(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[int]) -> None:
        self.done, self.reads, self.tail = done, 0, b""

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        self.tail = (self.tail + data)[-5:]
        if self.tail == b"0\r\n\r\n" and not self.done.done():
            self.done.set_result(self.reads)


class LoopFloor:
    """The event loop's own cost: one connection per stream, the request written, reads counted."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)

    async def open(self, headers: dict[str, str]) -> Any:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        transport, _ = await loop.create_connection(lambda: _Counter(done), self.host, self.port)
        body = request_body()
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        transport.write(
            f"POST /v1/chat/completions HTTP/1.1\r\nhost: bench\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        return _Drained(done, transport)

    @staticmethod
    def text(item: Any) -> None:
        return None

    async def close(self) -> None:
        return None


class _Drained:
    """A handle whose items are the stream's reads (each counted as a chunk: one event per read)."""

    def __init__(self, done: asyncio.Future[int], transport: asyncio.BaseTransport) -> None:
        self.done, self.transport = done, transport

    @property
    def items(self) -> Any:
        return self._items()

    async def _items(self) -> Any:
        reads = await self.done
        for _ in range(reads - 1):  # the last read carries [DONE] and the terminator
            yield None

    async def close(self) -> None:
        self.transport.close()


def main() -> None:
    name, base, streams, chunks, gap = sys.argv[1:6]
    loop = sys.argv[6] if len(sys.argv) > 6 else "asyncio"
    coroutine = run(name, base, int(streams), int(chunks), float(gap))
    if loop == "uvloop":
        import uvloop

        result = uvloop.run(coroutine)
    else:
        result = asyncio.run(coroutine)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
