"""The measurement behind ``_transport/http11.py`` and ``_transport/chunked.py``: httpx2's async transport against ours.

    python -m bench.http_layer

1. A chunked body with one event per chunk, fed one chunk at a time without I/O: h11 (two
   ``next_event`` calls and a ``receive_data`` per chunk) against ``ChunkedBody.feed``.
2. Plain httpx2 ``AsyncClient`` reading raw bytes from the bench server, one event per read: with
   httpx2's default transport (httpcore2 on anyio) and with ours.  One stream, then 200 at once.

CPU time of this process per event; medians of a few runs, each transport in turn.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import h11
import httpx2

from bench.clients import POOL
from bench.server import ServerProcess
from bench.wire import chunk_events, http_chunk
from mistral_client._transport.chunked import ChunkedBody
from mistral_client._transport.http11 import AsyncTransport

HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def decoders(n: int = 20_000) -> dict[str, float]:
    framed = [http_chunk(event) for event in chunk_events(n)]

    def with_h11() -> float:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="POST", target="/", headers=[("host", "x"), ("content-length", "0")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(HEAD)
        conn.next_event()
        start = time.process_time()
        for data in framed:
            conn.receive_data(data)
            while conn.next_event() is not h11.NEED_DATA:
                pass
        return (time.process_time() - start) / n * 1e6

    def with_ours() -> float:
        body = ChunkedBody()
        start = time.process_time()
        for data in framed:
            body.feed(data)
        return (time.process_time() - start) / n * 1e6

    return {"h11": min(with_h11() for _ in range(5)), "ChunkedBody": min(with_ours() for _ in range(5))}


async def _read(http: httpx2.AsyncClient, url: str, n: int, gap: float) -> int:
    headers = {"x-bench-n": str(n), "x-bench-mode": "trickle", "x-bench-gap": repr(gap)}
    reads = 0
    async with http.stream("POST", url, content=b"{}", headers=headers) as response:
        async for _ in response.aiter_raw():
            reads += 1
    return reads


async def _transport(name: str, url: str, streams: int, n: int, gap: float) -> float:
    transport: Any = AsyncTransport(limits=POOL) if name == "ours" else httpx2.AsyncHTTPTransport(limits=POOL)
    async with httpx2.AsyncClient(transport=transport, timeout=60) as http:
        await _read(http, url, 10, 0.0)
        start = time.process_time()
        await asyncio.gather(*(_read(http, url, n, gap) for _ in range(streams)))
        return (time.process_time() - start) / (streams * n) * 1e6


FULL = (("1 stream", 1, 3000, 50e-6), ("200 streams", 200, 500, 0.005))


def transports(base: str, reps: int = 3, sizes: tuple[tuple[str, int, int, float], ...] = FULL) -> dict[str, Any]:
    url = base + "/v1/chat/completions"
    out: dict[str, dict[str, float]] = {}
    for label, streams, n, gap in sizes:
        runs: dict[str, list[float]] = {"httpx2": [], "ours": []}
        for _ in range(reps):
            for name in runs:
                runs[name].append(asyncio.run(_transport(name, url, streams, n, gap)))
        out[label] = {name: statistics.median(values) for name, values in runs.items()}
    return out


def main() -> None:
    print("chunked body, one event per chunk, µs per event:")
    for name, us in decoders().items():
        print(f"  {name:12} {us:6.2f}")
    with ServerProcess() as base:
        print("httpx2.AsyncClient reading raw bytes, one event per read, µs of CPU per event:")
        for label, result in transports(base).items():
            print(f"  {label:12} httpx2's transport {result['httpx2']:6.1f}   ours {result['ours']:6.1f}")


if __name__ == "__main__":
    main()
