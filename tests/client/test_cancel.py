"""Cancellation closes the socket (the server sees it), and a finished stream gives its connection back."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

from mistral_client import AsyncMistral, ChatCompletionChunk, Mistral, StreamConsumedError, StreamResult
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL

SLOW = {"x-mock-tokens": "500", "x-mock-token-delay": "0.02"}


def test_cancel_from_another_thread_wakes_a_blocked_read(server: LocalServer) -> None:
    # The server stalls after 2 chunks: the reader is blocked in recv() when cancel() comes.
    headers = {"x-mock-tokens": "10", "x-mock-stall-after": "2", "x-mock-stall-seconds": "30"}
    with (
        Mistral(base_url=server.base_url) as client,
        client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream,
    ):
        got: list[str] = []
        second = threading.Event()
        cancelled_at: list[float] = []

        def reader() -> None:
            for chunk in stream:
                got.append(chunk.content)
                if len(got) == 3:  # role chunk + 2 content chunks: the stall begins
                    second.set()

        thread = threading.Thread(target=reader)
        thread.start()
        assert second.wait(5)
        cancelled_at.append(time.monotonic())
        stream.cancel()
        thread.join(5)
        assert not thread.is_alive(), "cancel() did not wake the blocked reader"
    disconnect = server.wait_for_disconnect(5)
    assert disconnect.at - cancelled_at[0] < 1.0
    assert stream.result.cancelled
    assert stream.result.chunk_count == 3
    assert stream.result.content == "".join(got)


def test_cancel_inside_the_loop_stops_iteration(server: LocalServer) -> None:
    with (
        Mistral(base_url=server.base_url) as client,
        client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW) as stream,
    ):
        count = 0
        for _ in stream:
            count += 1
            if count == 4:
                stream.cancel()
        assert count == 4  # no chunk after the cancel
    assert stream.result.cancelled
    assert server.wait_for_disconnect(5).chunks_sent < 500


def test_leaving_the_with_block_closes_the_connection(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        with client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW) as stream:
            for chunk in stream:
                if chunk.content:
                    break
        left = time.monotonic()
        record = server.wait_for_disconnect(5)
        assert record.at - left < 1.0
        assert stream.result.cancelled
        with pytest.raises(StreamConsumedError):
            list(stream)


def test_a_dropped_stream_is_closed_when_collected(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        stream = client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW)
        next(iter(stream))
        del stream
        gc.collect()
        assert server.wait_for_disconnect(5).chunks_sent < 500


def test_finished_stream_returns_its_connection_to_the_pool(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        for _ in range(3):
            with client.chat.stream(model=MODEL, messages=HI) as stream:
                assert stream.until_done().finish_reason == "stop"
        client.chat.complete(model=MODEL, messages=HI)
    ports = [record.client for record in server.requests]
    assert len(ports) == 4
    assert len(set(ports)) == 1, f"expected one reused connection, got {ports}"


def test_cancelled_stream_does_not_poison_the_pool(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        with client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW) as stream:
            next(iter(stream))
            stream.cancel()
        result = client.chat.stream_collect(model=MODEL, messages=HI)
    assert result.finish_reason == "stop"
    assert len(server.connections) == 2  # the cut connection was not reused


def test_iterating_a_consumed_stream_is_an_error(server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client, client.chat.stream(model=MODEL, messages=HI) as stream:
        list(stream)
        with pytest.raises(StreamConsumedError, match="read once"):
            list(stream)


# --- async ------------------------------------------------------------------------------------------


async def test_async_cancel_inside_the_loop(server: LocalServer) -> None:
    async with (
        AsyncMistral(base_url=server.base_url) as client,
        client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW) as stream,
    ):
        count = 0
        async for _ in stream:
            count += 1
            if count == 3:
                stream.cancel()
        assert count == 3
    assert stream.result.cancelled
    assert server.wait_for_disconnect(5).chunks_sent < 500


async def test_cancelling_the_task_closes_the_stream(server: LocalServer) -> None:
    started = asyncio.Event()
    holder: list[object] = []

    async def consume() -> None:
        async with (
            AsyncMistral(base_url=server.base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW) as stream,
        ):
            holder.append(stream)
            async for _ in stream:
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await asyncio.to_thread(server.wait_for_disconnect, 5)
    assert record.at - cancelled_at < 1.0
    assert holder[0].result.cancelled  # type: ignore[attr-defined]


async def test_aclose_closes_the_connection(server: LocalServer) -> None:
    async with AsyncMistral(base_url=server.base_url) as client:
        stream = client.chat.stream(model=MODEL, messages=HI, extra_headers=SLOW)
        await stream.__anext__()
        await stream.aclose()
        assert stream.result.cancelled
        record = await asyncio.to_thread(server.wait_for_disconnect, 5)
        assert record.chunks_sent < 500


async def test_async_cancel_from_another_thread(server: LocalServer) -> None:
    headers = {"x-mock-tokens": "10", "x-mock-stall-after": "2", "x-mock-stall-seconds": "30"}
    async with (
        AsyncMistral(base_url=server.base_url) as client,
        client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream,
    ):
        count = 0
        async for _ in stream:
            count += 1
            if count == 3:
                threading.Timer(0.05, stream.cancel).start()  # lands while the read is waiting
        assert count == 3
    assert stream.result.cancelled
    await asyncio.to_thread(server.wait_for_disconnect, 5)


async def test_async_finished_streams_reuse_one_connection(server: LocalServer) -> None:
    async with AsyncMistral(base_url=server.base_url) as client:
        for _ in range(3):
            async with client.chat.stream(model=MODEL, messages=HI) as stream:
                assert (await stream.until_done()).finish_reason == "stop"
    assert len(server.connections) == 1


def test_a_stream_cancelled_before_its_first_use_is_never_sent(kind: str, server: LocalServer) -> None:
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client:
            stream = client.chat.stream(model=MODEL, messages=HI)
            stream.cancel()
            with stream:
                chunks, result = list(stream), stream.result
    else:

        async def main() -> tuple[list[ChatCompletionChunk], StreamResult]:
            async with AsyncMistral(base_url=server.base_url) as client:
                stream = client.chat.stream(model=MODEL, messages=HI)
                stream.cancel()
                async with stream:
                    return [chunk async for chunk in stream], stream.result

        chunks, result = asyncio.run(main())
    assert chunks == [] and result.cancelled and result.chunk_count == 0
    assert server.requests == []
