"""conversations.*_stream through a real socket, sync and async: every event type, cancellation,
and the partial result on each fault (an error event, a cut connection, a stall)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from mistral_client import AsyncMistral, Mistral, StreamError, StreamTimeoutError, Timeout
from mistral_client._pipeline.conversations import ConversationResult
from mistral_client._wire.conversations import (
    EVENT_TYPES,
    FunctionCallEntry,
    MessageOutputEvent,
    ResponseStartedEvent,
)
from mistral_client._wire.events import UnknownEvent
from tests.support import conversation_events as C
from tests.support.rawserver import RawConnection, RawServer


def serve(body: bytes, *, end: bool = True, hold: threading.Event | None = None) -> Any:
    def handler(conn: RawConnection) -> None:
        conn.send_head(extra="mistral-correlation-id: corr-15\r\n")
        conn.send_chunk(body)
        if hold is not None:
            hold.wait(10)
            return
        if end:
            conn.end_body()
        else:
            conn.sock.close()

    return handler


def read(kind: str, base_url: str, consume: str = "events", **kw: Any) -> tuple[Any, list[Any]]:
    """Start a conversation as a stream and read it whole: the stream and what it gave."""
    timeout = kw.pop("timeout", None)
    kw.setdefault("model", "mistral-medium-latest")
    if kind == "sync":
        with Mistral(base_url=base_url, max_retries=0, timeout=timeout) as client:
            with client.conversations.start_stream("Weather in Paris?", **kw) as stream:
                got = list(stream.text_stream) if consume == "text" else list(stream)
            return stream, got

    async def main() -> tuple[Any, list[Any]]:
        async with AsyncMistral(base_url=base_url, max_retries=0, timeout=timeout) as client:
            async with client.conversations.start_stream("Weather in Paris?", **kw) as stream:
                if consume == "text":
                    got = [text async for text in stream.text_stream]
                else:
                    got = [event async for event in stream]
            return stream, got

    return asyncio.run(main())


def test_every_event_type_through_the_client(kind: str) -> None:
    with RawServer(serve(C.with_unknown())) as raw:
        stream, events = read(kind, raw.base_url)
        request = raw.connections[0].request
    assert request.path == "/v1/conversations" and request.headers["accept"] == "text/event-stream"
    kinds = [type(event) for event in events]
    assert kinds[:-2] == [EVENT_TYPES[name] for name, _ in C.EVENTS[:-1]]
    assert kinds[-2] is UnknownEvent and events[-2].data == {"type": "ping.future", "n": 1}
    assert kinds[-1] is EVENT_TYPES["conversation.response.done"]
    assert all(event.total_latency > 0 for event in events)
    result = stream.result
    assert isinstance(result, ConversationResult)
    assert result.conversation_id == C.CONVERSATION_ID and result.text == C.TEXT
    assert [type(output).__name__ for output in result.outputs] == [
        "ToolExecutionEntry",
        "AgentHandoffEntry",
        "MessageOutputEntry",
        "FunctionCallEntry",
    ]
    assert result.function_calls[0].parsed_arguments() == {"city": "Paris"}
    assert result.tool_executions[0].info == {"results": 2}
    assert result.handoffs[0].next_agent_name == "weather"
    assert result.usage is not None and result.usage.total_tokens == 12
    assert result.done and not result.cancelled and result.event_count == len(events)
    assert result.total_latency >= result.time_to_first_event > 0
    assert stream.request_id == "corr-15"


def test_text_stream_gives_only_the_assistants_text(kind: str) -> None:
    with RawServer(serve(C.body())) as raw:
        stream, texts = read(kind, raw.base_url, consume="text")
    assert texts == ["Héllo", " 🌍 world"]
    assert stream.result.text == C.TEXT and stream.result.done


def test_get_final_response_is_the_answer_shaped_as_start_returns_it(kind: str) -> None:
    with RawServer(serve(C.body())) as raw:
        if kind == "sync":
            with Mistral(base_url=raw.base_url) as client:
                response = client.conversations.append_stream("c1", "more").get_final_response()
        else:

            async def main() -> Any:
                async with AsyncMistral(base_url=raw.base_url) as client:
                    return await client.conversations.append_stream("c1", "more").get_final_response()

            response = asyncio.run(main())
    assert response.conversation_id == C.CONVERSATION_ID and response.text == C.TEXT
    assert isinstance(response.function_calls[0], FunctionCallEntry)


def test_an_error_event_raises_with_everything_so_far(kind: str) -> None:
    body = C.body([*C.EVENTS[:8], C.ERROR])
    with RawServer(serve(body)) as raw, pytest.raises(StreamError) as caught:
        read(kind, raw.base_url)
    error = caught.value
    assert "the model is overloaded" in str(error) and error.code == "3000" and error.request_id == "corr-15"
    partial = error.partial
    assert partial.conversation_id == C.CONVERSATION_ID and partial.text == C.TEXT
    assert partial.tool_executions[0].info == {"results": 2} and partial.handoffs[0].next_agent_id == "ag_b"
    assert partial.error is not None and partial.error.code == 3000
    assert not partial.done


def test_a_cut_connection_raises_with_everything_so_far(kind: str) -> None:
    body = C.body(C.EVENTS[:9])  # cut after the first piece of the function call
    with RawServer(serve(body, end=False)) as raw, pytest.raises(StreamError) as caught:
        read(kind, raw.base_url)
    partial = caught.value.partial
    assert partial.text == C.TEXT and partial.function_calls[0].arguments == '{"city":'
    assert not partial.done and partial.event_count == 9


def test_a_body_that_ends_without_done_is_an_error(kind: str) -> None:
    with RawServer(serve(C.body(C.EVENTS[:7]))) as raw, pytest.raises(StreamError) as caught:
        read(kind, raw.base_url)
    assert "conversation.response.done" in str(caught.value) and caught.value.partial.text == "Héllo"


def test_a_stall_raises_a_timeout_with_everything_so_far(kind: str) -> None:
    hold = threading.Event()
    try:
        with RawServer(serve(C.body(C.EVENTS[:7]), hold=hold)) as raw, pytest.raises(StreamTimeoutError) as caught:
            read(kind, raw.base_url, timeout=Timeout(read=0.5))
    finally:
        hold.set()
    partial = caught.value.partial
    assert partial.text == "Héllo" and partial.conversation_id == C.CONVERSATION_ID and not partial.done


def test_cancel_from_another_thread_mid_event() -> None:
    hold = threading.Event()
    half = C.frame(*C.EVENTS[7])[:25]  # the server stops inside an event
    with RawServer(serve(C.body(C.EVENTS[:7]) + half, hold=hold)) as raw:
        with Mistral(base_url=raw.base_url) as client:
            stream = client.conversations.start_stream("hi", model="m")
            seen = []
            with stream:
                for event in stream:
                    seen.append(event)
                    if type(event) is MessageOutputEvent:
                        threading.Thread(target=stream.cancel).start()  # the next read blocks
            closed = raw.connections[0].wait_client_close(5)
        hold.set()
    assert closed, "the server must see the disconnect"
    assert len(seen) == 7 and stream.cancelled
    result = stream.result
    assert result.cancelled and not result.done and result.text == "Héllo" and result.event_count == 7


async def test_async_cancel_mid_event() -> None:
    hold = threading.Event()
    half = C.frame(*C.EVENTS[7])[:25]
    with RawServer(serve(C.body(C.EVENTS[:7]) + half, hold=hold)) as raw:
        async with AsyncMistral(base_url=raw.base_url) as client:
            stream = client.conversations.start_stream("hi", model="m")
            seen = []
            async with stream:
                async for event in stream:
                    seen.append(event)
                    if type(event) is MessageOutputEvent:
                        threading.Thread(target=stream.cancel).start()
        hold.set()
    assert len(seen) == 7 and type(seen[0]) is ResponseStartedEvent
    assert stream.result.cancelled and stream.result.text == "Héllo"


def test_a_stream_cancelled_before_use_sends_nothing(kind: str) -> None:
    with RawServer(serve(C.body())) as raw:
        if kind == "sync":
            with Mistral(base_url=raw.base_url) as client:
                stream = client.conversations.start_stream("hi", model="m")
                stream.cancel()
                with stream:
                    events = list(stream)
        else:

            async def main() -> tuple[Any, list[Any]]:
                async with AsyncMistral(base_url=raw.base_url) as client:
                    stream = client.conversations.start_stream("hi", model="m")
                    stream.cancel()
                    async with stream:
                        return stream, [event async for event in stream]

            stream, events = asyncio.run(main())
        assert raw.connections == []
    assert events == [] and stream.result.cancelled


def test_without_kept_events_the_result_still_assembles(kind: str) -> None:
    with RawServer(serve(C.body())) as raw:
        stream, events = read(kind, raw.base_url, keep_events=False)
    result = stream.result
    assert result.events is None and result.event_count == len(events) == len(C.EVENTS)
    assert result.text == C.TEXT and result.function_calls[0].arguments == '{"city":"Paris"}'
