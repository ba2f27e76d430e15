"""Scenario 3 in a process of its own: many concurrent async streams through one client.

    python -m bench.many CLIENT BASE_URL STREAMS CHUNKS GAP [LOOP]

Prints one JSON line: client CPU per chunk, wall time, and peak RSS (the whole process, and above
what it held once imported, with its client built and one stream done).  A process per client keeps
each one's memory apart from the others'.  LOOP is ``asyncio`` (the default) or ``uvloop``.

It also prints what decides the CPU per chunk besides the client's own code, so that two runs can be
told apart: the event loop that ran (``loop``), the HTTP transport the client sent through
(``transport``: ``AsyncMistral`` falls back to httpx2's when a proxy variable is set, and then costs
what httpx2 costs on either loop), the share of the wall time it spent on the CPU (``busy``), and how
many times per chunk the process went to sleep waiting for data (``sleeps_per_chunk``, voluntary
context switches) or was preempted (``preempted_per_chunk``).  One wakeup of the loop handles every
socket that is ready by then, so the more events pile up between wakeups, the cheaper each one: a
client that is busy all the time, a server that falls behind and sends in bursts, or a machine busy
enough to delay the client, all make the cost per chunk fall.

Besides the clients of ``bench.clients``, CLIENT may be ``loop-floor``: no HTTP client at all, only
an asyncio ``Protocol`` per socket that counts reads until the body's terminator.  What that costs
per chunk is the event loop's own share, which no client running on that loop can go below.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from bench.clients import ASYNC, POOL
from bench.scenarios import _drain_async, _expect, peak_rss_mib
from bench.wire import request_body


async def run(
    name: str,
    base: str,
    streams: int,
    chunks: int,
    gap: float,
    *,
    options: dict[str, Any] | None = None,
    drain: Callable[[Any, dict[str, str]], Awaitable[int]] = _drain_async,
) -> dict[str, Any]:
    """``options`` go to our client's constructor, and ``drain`` reads each stream (bench.telemetry's modes)."""
    http: httpx2.AsyncClient | None = None
    if name == "loop-floor":
        client: Any = LoopFloor(base)
    elif name.startswith("ours"):
        client = ASYNC[name](base, None, **(options or {}))  # as the README uses it: its own transport, a pool of 1000
        http = client.client._http
    else:
        # A pool wide enough for all the streams at once; httpx2's default of 100 would queue half.
        http = httpx2.AsyncClient(limits=POOL, timeout=60)
        client = ASYNC[name](base, http)
    headers = {"x-bench-n": str(chunks), "x-bench-mode": "trickle", "x-bench-gap": repr(gap)}
    check = name != "loop-floor"  # it counts reads, which are fewer than events when they bunch up
    got = await drain(client, headers)
    if check:
        _expect(name, got, chunks)
    base_rss = peak_rss_mib()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu, wall = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(drain(client, headers) for _ in range(streams)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    for got in counts if check else ():
        _expect(name, got, chunks)
    await client.close()
    peak = peak_rss_mib()
    total = streams * chunks
    result: dict[str, Any] = {
        "us_per_chunk": cpu / total * 1e6,
        "wall_s": wall,
        "busy": cpu / wall,  # near 1: the client never waited for data, events piled up between its wakeups
        "peak_rss_mib": peak,
        "added_rss_mib": peak - base_rss,
        "sleeps_per_chunk": (after.ru_nvcsw - before.ru_nvcsw) / total,
        "preempted_per_chunk": (after.ru_nivcsw - before.ru_nivcsw) / total,
        "loop": _loop_name(),
        "transport": None if http is None else _transport_name(http, base),
    }
    if not check:  # the floor's items are its reads: how many events one read carried, on average
        result["reads_per_chunk"] = (sum(counts) + streams) / total
    return result


def _loop_name() -> str:
    loop = type(asyncio.get_running_loop())
    return f"{loop.__module__}.{loop.__qualname__}"


def _transport_name(http: httpx2.AsyncClient, base: str) -> str:
    """The class of the transport that carries requests to ``base``, proxies and mounts considered."""
    transport = http._transport_for_url(httpx2.URL(base))
    return f"{type(transport).__module__}.{type(transport).__qualname__}"


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
