"""``text_stream`` and ``buffered``: text-only views of a stream, against the local server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mistral_client import AsyncMistral, InvalidRequestError, Mistral, StreamError, StreamResult
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL


def read_buffered(
    kind: str, server: LocalServer, headers: dict[str, str], **buffering: Any
) -> tuple[list[str], StreamResult]:
    if kind == "sync":
        with (
            Mistral(base_url=server.base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream,
        ):
            return list(stream.buffered(**buffering)), stream.result

    async def main() -> tuple[list[str], StreamResult]:
        async with (
            AsyncMistral(base_url=server.base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream,
        ):
            return [piece async for piece in stream.buffered(**buffering)], stream.result

    return asyncio.run(main())


def test_text_stream_gives_only_the_text(kind: str, server: LocalServer) -> None:
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client, client.chat.stream(model=MODEL, messages=HI) as stream:
            texts, result = list(stream.text_stream), stream.result
    else:

        async def main() -> tuple[list[str], StreamResult]:
            async with (
                AsyncMistral(base_url=server.base_url) as client,
                client.chat.stream(model=MODEL, messages=HI) as stream,
            ):
                return [text async for text in stream.text_stream], stream.result

        texts, result = asyncio.run(main())
    assert all(texts) and "".join(texts) == result.content
    assert len(texts) == result.chunk_count - 2  # not the role chunk, not the empty final one


def test_buffered_pieces_have_at_least_min_chars(kind: str, server: LocalServer) -> None:
    pieces, result = read_buffered(kind, server, {"x-mock-tokens": "60"}, min_chars=40, max_delay=60)
    assert "".join(pieces) == result.content
    assert len(pieces) >= 2
    assert all(len(piece) >= 40 for piece in pieces[:-1])  # only the rest at the end may be shorter


def test_async_buffered_shows_text_while_the_model_pauses(server: LocalServer) -> None:
    # min_chars is out of reach: only the delay can release text. The model pauses a second after
    # five tokens; the async view releases those five on its timer, before the pause ends.
    headers = {"x-mock-tokens": "12", "x-mock-stall-after": "5", "x-mock-stall-seconds": "1"}
    pieces, result = read_buffered("async", server, headers, min_chars=10**6, max_delay=0.05)
    assert result.chunks is not None
    before_pause = "".join(chunk.content for chunk in result.chunks[:6])  # the role chunk and five tokens
    assert len(pieces) >= 2 and "".join(pieces) == result.content
    assert before_pause.startswith(pieces[0])


def test_sync_buffered_releases_overdue_text_when_the_next_chunk_comes(server: LocalServer) -> None:
    headers = {"x-mock-tokens": "12", "x-mock-stall-after": "5", "x-mock-stall-seconds": "0.3"}
    pieces, result = read_buffered("sync", server, headers, min_chars=10**6, max_delay=0.05)
    assert len(pieces) >= 2 and "".join(pieces) == result.content


def test_buffered_gives_what_arrived_before_a_failure(kind: str, server: LocalServer) -> None:
    pieces: list[str] = []

    def sync() -> None:
        with (
            Mistral(base_url=server.base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers={"x-mock-disconnect-after": "4"}) as stream,
        ):
            for piece in stream.buffered(min_chars=10**6):
                pieces.append(piece)

    async def main() -> None:
        async with (
            AsyncMistral(base_url=server.base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers={"x-mock-disconnect-after": "4"}) as stream,
        ):
            async for piece in stream.buffered(min_chars=10**6):
                pieces.append(piece)

    with pytest.raises(StreamError) as info:
        sync() if kind == "sync" else asyncio.run(main())
    assert pieces and "".join(pieces) == info.value.partial.content


def test_leaving_an_async_buffered_read_early_cancels_the_stream(server: LocalServer) -> None:
    headers = {"x-mock-tokens": "12", "x-mock-stall-after": "3", "x-mock-stall-seconds": "30"}

    async def main() -> StreamResult:
        async with (
            AsyncMistral(base_url=server.base_url) as client,
            client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream,
        ):
            async for _ in stream.buffered(min_chars=10**6, max_delay=0.05):
                break  # the timer released text while a read is still waiting on the paused model
            return stream.result

    result = asyncio.run(main())
    assert result.cancelled
    assert server.wait_for_disconnect(timeout=10)


@pytest.mark.parametrize(
    ("option", "value"), [("min_chars", -1), ("min_chars", 2.5), ("max_delay", -0.1), ("max_delay", "1")]
)
def test_bad_buffering_options_are_named(option: str, value: Any) -> None:
    with Mistral(base_url="http://127.0.0.1:9") as client:
        stream = client.chat.stream(model=MODEL, messages=HI)
        with pytest.raises(InvalidRequestError, match=option):
            stream.buffered(**{option: value})
        stream.close()
