"""The generic named-event stream (``AsyncNamedEventStream`` / ``NamedEventStream``), through a real
socket: a family is a table of event types and a result, and gets chat streams' guarantees."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from mistral_client import AsyncMistral, Mistral, StreamError
from mistral_client._async.resources._base import AsyncResource
from mistral_client._async.stream import AsyncNamedEventStream
from mistral_client._sync.resources._base import Resource
from mistral_client._sync.stream import NamedEventStream
from mistral_client._wire.events import StreamEvent
from tests.pipeline.test_events import KINDS, Delta, TextResult, named
from tests.support.rawserver import RawConnection, RawServer


class SyncTextStream(NamedEventStream[StreamEvent, TextResult]):
    kinds = KINDS
    result_type = TextResult

    def _text_of(self, item: StreamEvent) -> str:
        return item.content if isinstance(item, Delta) else ""


class AsyncTextStream(AsyncNamedEventStream[StreamEvent, TextResult]):
    kinds = KINDS
    result_type = TextResult

    def _text_of(self, item: StreamEvent) -> str:
        return item.content if isinstance(item, Delta) else ""


WHOLE = [
    named("t.delta", '{"content":"Hel"}'),
    named("t.delta", '{"content":"lo"}'),
    named("t.done", '{"usage":{"total_tokens":5}}'),
]


def serve(events: list[bytes], *, end: bool = True, hold: threading.Event | None = None) -> Any:
    def handler(conn: RawConnection) -> None:
        conn.send_head(extra="mistral-correlation-id: corr-9\r\n")
        for event in events:
            conn.send_chunk(event)
        if hold is not None:
            hold.wait(10)
            return
        if end:
            conn.end_body()
        else:
            conn.sock.close()

    return handler


def read(kind: str, base_url: str, consume: str = "text", **options: Any) -> tuple[Any, Any]:
    if kind == "sync":
        with Mistral(api_key="k", base_url=base_url, max_retries=0) as client:
            stream = Resource(client).stream_of(SyncTextStream, "/x", b"{}", None, None, **options)
            with stream:
                got = list(stream.text_stream) if consume == "text" else list(stream)
            return stream, got

    async def main() -> tuple[Any, Any]:
        async with AsyncMistral(api_key="k", base_url=base_url, max_retries=0) as client:
            stream = AsyncResource(client).stream_of(AsyncTextStream, "/x", b"{}", None, None, **options)
            async with stream:
                got = [t async for t in stream.text_stream] if consume == "text" else [e async for e in stream]
            return stream, got

    return asyncio.run(main())


def test_a_whole_stream(kind: str) -> None:
    with RawServer(serve(WHOLE)) as raw:
        stream, texts = read(kind, raw.base_url)
    assert texts == ["Hel", "lo"]
    result = stream.result
    assert result.text == "Hello" and result.usage == {"total_tokens": 5} and not result.cancelled
    assert result.event_count == 3 and result.total_latency >= result.time_to_first_event > 0
    assert stream.request_id == "corr-9"
    assert repr(stream).endswith("closed events=3>")


def test_events_not_kept(kind: str) -> None:
    with RawServer(serve(WHOLE)) as raw:
        stream, events = read(kind, raw.base_url, consume="events", keep_events=False)
    assert [e.type for e in events] == ["t.delta", "t.delta", "t.done"]
    assert stream.result.events is None and stream.result.text == "Hello"


def test_a_cut_connection_raises_with_the_partial(kind: str) -> None:
    with RawServer(serve(WHOLE[:1], end=False)) as raw, pytest.raises(StreamError) as caught:
        read(kind, raw.base_url)
    error = caught.value
    assert error.partial.text == "Hel" and error.request_id == "corr-9"
    assert "1 events (3 characters of text) arrived before it" in str(error)


def test_an_error_event_raises_with_the_partial(kind: str) -> None:
    events = [WHOLE[0], named("t.error", '{"message":"model overloaded","code":3505}')]
    with RawServer(serve(events)) as raw, pytest.raises(StreamError) as caught:
        read(kind, raw.base_url)
    assert "model overloaded" in str(caught.value) and caught.value.partial.text == "Hel"


def test_cancel_from_another_thread_stops_a_blocked_read() -> None:
    hold = threading.Event()
    with RawServer(serve(WHOLE[:1], hold=hold)) as raw, Mistral(api_key="k", base_url=raw.base_url) as client:
        stream = Resource(client).stream_of(SyncTextStream, "/x", b"{}", None, None)
        with stream:
            seen = []
            for event in stream:
                seen.append(event)
                threading.Thread(target=stream.cancel).start()  # the next read blocks: the server holds
        hold.set()
    assert [e.type for e in seen] == ["t.delta"]
    assert stream.cancelled and stream.result.cancelled and stream.result.text == "Hel"


async def test_an_async_stream_cancelled_mid_event() -> None:
    hold = threading.Event()
    half = named("t.delta", '{"content":"wor"}')
    with RawServer(serve([WHOLE[0], half[:10]], hold=hold)) as raw:
        async with AsyncMistral(api_key="k", base_url=raw.base_url) as client:
            stream = AsyncResource(client).stream_of(AsyncTextStream, "/x", b"{}", None, None)
            async with stream:
                async for _event in stream:
                    asyncio.get_running_loop().call_soon(stream.cancel)
        hold.set()
    assert stream.result.cancelled and stream.result.text == "Hel" and stream.result.event_count == 1
