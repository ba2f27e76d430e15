"""Conversation streams under the local server's fault knobs, through both clients: every fault is a
typed error whose ``.partial`` holds what arrived; statuses are typed errors, retried where chat's are."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mistral_client import (
    APIError,
    AsyncMistral,
    ConversationResult,
    Mistral,
    NotFoundError,
    RateLimitError,
    StreamError,
    StreamTimeoutError,
    Timeout,
    UnprocessableEntityError,
)
from mistral_client._wire.conversations import MessageOutputEvent
from mistral_client.server import LocalServer
from tests.support.conversation_events import body
from tests.support.rawserver import RawConnection, RawServer

MODEL = "mistral-small-latest"


def stream_all(kind: str, base_url: str, headers: dict[str, str], **client_kw: Any) -> tuple[list[Any], Any]:
    """A conversation started as a stream, read whole: its events and its result."""
    if kind == "sync":
        with (
            Mistral(base_url=base_url, **client_kw) as client,
            client.conversations.start_stream("Tell me about Paris", model=MODEL, extra_headers=headers) as stream,
        ):
            return list(stream), stream.result

    async def main() -> tuple[list[Any], Any]:
        async with (
            AsyncMistral(base_url=base_url, **client_kw) as client,
            client.conversations.start_stream("Tell me about Paris", model=MODEL, extra_headers=headers) as stream,
        ):
            return [event async for event in stream], stream.result

    return asyncio.run(main())


def texts(events: list[Any]) -> str:
    return "".join(event.text for event in events if isinstance(event, MessageOutputEvent))


def test_an_error_event_from_the_server(kind: str, server: LocalServer) -> None:
    headers = {"x-mock-error-event-after": "3", "x-mock-tokens": "6"}
    with pytest.raises(StreamError) as caught:
        stream_all(kind, server.base_url, headers)
    partial = caught.value.partial
    # started, three deltas, and the error event itself (it arrived, so it is in the partial)
    assert partial.conversation_id.startswith("conv") and partial.event_count == 5
    assert partial.text and partial.error is not None and caught.value.code == "3000"
    assert isinstance(partial, ConversationResult) and partial.events[-1].type == "conversation.response.error"


def test_a_disconnect_from_the_server(kind: str, server: LocalServer) -> None:
    with pytest.raises(StreamError) as caught:
        stream_all(kind, server.base_url, {"x-mock-disconnect-after": "2"})
    partial = caught.value.partial
    assert partial.event_count == 3 and partial.text and not partial.done


def test_a_stall_from_the_server(kind: str, server: LocalServer) -> None:
    headers = {"x-mock-stall-after": "2", "x-mock-stall-seconds": "30"}
    with pytest.raises(StreamTimeoutError) as caught:
        stream_all(kind, server.base_url, headers, timeout=Timeout(read=0.5))
    assert caught.value.partial.event_count == 3 and caught.value.partial.text


def test_a_malformed_event_from_the_server(kind: str, server: LocalServer) -> None:
    with pytest.raises(StreamError, match=r"malformed message\.output\.delta") as caught:
        stream_all(kind, server.base_url, {"x-mock-malformed-after": "2", "x-mock-tokens": "4"})
    assert caught.value.partial.event_count == 3


def test_keepalive_comments_and_crlf_are_read(kind: str, server: LocalServer) -> None:
    events, result = stream_all(
        kind, server.base_url, {"x-mock-crlf": "1", "x-mock-keepalive": "1", "x-mock-tokens": "2"}
    )
    assert result.done and len(events) == 4 and result.text == texts(events)


def test_statuses_are_typed_and_a_503_is_retried(kind: str, server: LocalServer) -> None:
    failing = {"x-mock-status": "503", "x-mock-fail-times": "1", "x-mock-id": f"conv-retry-{kind}"}
    _, result = stream_all(kind, server.base_url, failing)
    assert result.done and [response.status for response in server.responses] == [503, 200]
    with pytest.raises(UnprocessableEntityError):
        stream_all(kind, server.base_url, {"x-mock-status": "422"}, max_retries=0)
    with pytest.raises(RateLimitError):
        stream_all(kind, server.base_url, {"x-mock-rate-limit": "0", "x-mock-id": f"conv-rl-{kind}"}, max_retries=0)
    with pytest.raises(APIError, match="text/event-stream"):
        stream_all(kind, server.base_url, {"x-mock-html": "1"})


def test_an_unknown_conversation_is_not_found(kind: str, server: LocalServer) -> None:
    with Mistral(base_url=server.base_url) as client:
        if kind == "sync":
            with pytest.raises(NotFoundError):
                client.conversations.append("conv_nope", "hello")
            with pytest.raises(NotFoundError), client.conversations.append_stream("conv_nope", "hello") as stream:
                list(stream)
            return

    async def main() -> None:
        async with AsyncMistral(base_url=server.base_url) as client:
            with pytest.raises(NotFoundError):
                await client.conversations.append("conv_nope", "hello")
            with pytest.raises(NotFoundError):
                async with client.conversations.append_stream("conv_nope", "hello") as stream:
                    [event async for event in stream]

    asyncio.run(main())


def test_a_stream_sent_one_byte_at_a_time(kind: str) -> None:
    # Every event cut at every byte on the socket: the client's reads give the same events.
    whole = body()

    def handler(conn: RawConnection) -> None:
        conn.send_head()
        for index in range(len(whole)):
            conn.send_chunk(whole[index : index + 1])
        conn.end_body()

    with RawServer(handler) as raw:
        events, result = stream_all(kind, raw.base_url, {})

    def at_once(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(whole)
        conn.end_body()

    with RawServer(at_once) as raw:
        reference, whole_result = stream_all(kind, raw.base_url, {})
    assert [type(event) for event in events] == [type(event) for event in reference]
    assert result.outputs == whole_result.outputs and result.usage == whole_result.usage
    assert result.done and result.text == texts(reference)
