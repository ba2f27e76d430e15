"""Leaving the loop at ``chunk.is_last`` ends a complete stream: not cancelled, connection reused.

``is_last`` is the documented way to know the end, but ``[DONE]`` and the end of the body may come
in a later read.  A raw server sends the last chunk, waits until the client has seen it (so the rest
is sure to come in a later read), then sends ``[DONE]``: the result must not say ``cancelled``, must
keep the finish reason, and the next stream must reuse the connection.  A server that never sends
the rest costs a bounded wait (in time and in bytes), then the connection is closed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from mistral_client import AsyncMistral, Mistral, StreamResult
from mistral_client import _backends as _streaming
from tests.support.helpers import HI, MODEL
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse


def _server(saw_last: threading.Event, then: Callable[[RawConnection], None]) -> Callable[[RawConnection], None]:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json("", role=True), chunk_json("Hello")))
        conn.send_chunk(sse(chunk_json("", finish="stop", usage=True)))
        assert saw_last.wait(10), "the client never saw the last chunk"
        saw_last.clear()
        then(conn)

    return handler


def _done(conn: RawConnection) -> None:
    conn.send_chunk(sse("[DONE]"))
    conn.end_body()


def _read_until_last(
    kind: str, base_url: str, saw_last: threading.Event, times: int
) -> list[tuple[StreamResult, float]]:
    """``times`` streams on one client, each left at its last chunk; their results and how long the
    leaving took (from the last chunk to the end of the ``with`` block)."""
    out: list[tuple[StreamResult, float]] = []
    if kind == "sync":
        with Mistral(base_url=base_url) as client:
            for _ in range(times):
                with client.chat.stream(model=MODEL, messages=HI) as stream:
                    for chunk in stream:
                        if chunk.is_last:
                            saw_last.set()
                            left = time.perf_counter()
                            break
                out.append((stream.result, time.perf_counter() - left))
        return out

    async def main() -> None:
        async with AsyncMistral(base_url=base_url) as client:
            for _ in range(times):
                async with client.chat.stream(model=MODEL, messages=HI) as stream:
                    async for chunk in stream:
                        if chunk.is_last:
                            saw_last.set()
                            left = time.perf_counter()
                            break
                out.append((stream.result, time.perf_counter() - left))

    asyncio.run(main())
    return out


def _assert_complete(result: StreamResult) -> None:
    assert result.cancelled is False
    assert result.finish_reason == "stop"
    assert result.content == "Hello"
    assert result.usage is not None and result.usage.total_tokens == 5
    assert result.chunks is not None and result.chunks[-1].is_last


def test_leaving_at_the_last_chunk_is_complete_and_keeps_the_connection(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server sends [DONE] once it learnt that the client saw the last chunk: a wide window keeps a
    # busy machine from turning that hand-over into a closed connection.
    monkeypatch.setattr(_streaming, "_DRAIN_SECONDS", 10.0)
    saw_last = threading.Event()
    with RawServer(_server(saw_last, _done)) as raw:
        results = _read_until_last(kind, raw.base_url, saw_last, times=2)
        ports = {conn.client_port for conn in raw.connections}
    assert len(results) == 2
    for result, _ in results:
        _assert_complete(result)
    assert len(ports) == 1, "the second stream did not reuse the first one's connection"


def test_a_server_that_never_ends_the_body_costs_a_bounded_wait(kind: str) -> None:
    saw_last = threading.Event()
    gone = threading.Event()

    def hold(conn: RawConnection) -> None:
        if conn.wait_client_close(10):
            gone.set()

    with RawServer(_server(saw_last, hold)) as raw:
        [(result, waited)] = _read_until_last(kind, raw.base_url, saw_last, times=1)
        assert gone.wait(10)  # the client closed the connection it could not reuse
    _assert_complete(result)
    assert waited < 5  # the drain waits a tenth of a second; the server would hold for 10 s


def test_a_server_that_talks_on_after_the_last_chunk_is_cut_off(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_streaming, "_DRAIN_SECONDS", 30.0)  # only the byte bound can end the drain
    saw_last = threading.Event()
    gone = threading.Event()

    def chatter(conn: RawConnection) -> None:
        try:
            for _ in range(16):
                conn.send_chunk(b": " + b"x" * 16_000 + b"\n\n")
        except OSError:
            gone.set()  # the client closed while we were still talking
            return
        if conn.wait_client_close(10):
            gone.set()

    with RawServer(_server(saw_last, chatter)) as raw:
        [(result, waited)] = _read_until_last(kind, raw.base_url, saw_last, times=1)
        assert gone.wait(10)
    _assert_complete(result)
    assert waited < 10


def test_on_chunk_stopping_at_the_last_chunk_is_complete(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # stream_collect's on_chunk returning False calls cancel(): after the last chunk, the answer is whole.
    saw_last = threading.Event()

    def stop_at_last(chunk: Any) -> bool:
        if chunk.is_last:
            saw_last.set()
            return False
        return True

    with RawServer(_server(saw_last, _done)) as raw:
        if kind == "sync":
            with Mistral(base_url=raw.base_url) as client:
                result = client.chat.stream_collect(model=MODEL, messages=HI, on_chunk=stop_at_last)
        else:

            async def main() -> StreamResult:
                async with AsyncMistral(base_url=raw.base_url) as client:
                    return await client.chat.stream_collect(model=MODEL, messages=HI, on_chunk=stop_at_last)

            result = asyncio.run(main())
    _assert_complete(result)
