"""Byte-exact streams from a raw socket server: shapes the local server does not send on its own."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from mistral_client import AsyncChatStream, AsyncMistral, Mistral, StreamError, StreamResult
from tests.support.helpers import HI, MODEL, Runner
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse

HEAD = '{"id":"w1","object":"chat.completion.chunk","created":1,"model":"mistral-small-latest"'


def _event(choices: str, extra: str = "") -> str:
    return HEAD + f',"choices":{choices}{extra}' + "}"


def _serve(*bodies: bytes) -> Callable[[RawConnection], None]:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        for body in bodies:
            conn.send_chunk(body)
        conn.end_body()

    return handler


def test_list_content_gives_text_parts_only(kind: str) -> None:
    thinking = _event(
        '[{"index":0,"delta":{"content":[{"type":"thinking","thinking":[{"type":"text","text":"hmm"}]}]},'
        '"finish_reason":null}]'
    )
    answer = _event('[{"index":0,"delta":{"content":[{"type":"text","text":"3"}]},"finish_reason":null}]')
    with RawServer(
        _serve(sse(chunk_json("", role=True), thinking, answer, chunk_json("", finish="stop", usage=True), "[DONE]"))
    ) as raw:
        chunks, result = Runner(kind, raw.base_url).stream()
    assert [chunk.content for chunk in chunks] == ["", "", "3", ""]
    assert result.content == "3"


def test_whole_tool_calls_are_accumulated(kind: str) -> None:
    calls = _event(
        '[{"index":0,"delta":{"content":"","tool_calls":['
        '{"id":"abcDEF123","type":"function","index":0,'
        '"function":{"name":"get_weather","arguments":"{\\"city\\": \\"Paris\\"}"}},'
        '{"id":"xyzXYZ789","type":"function","index":1,"function":{"name":"get_time","arguments":"{}"}}]},'
        '"finish_reason":"tool_calls"}]',
        ',"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}',
    )
    with RawServer(_serve(sse(chunk_json("", role=True), calls, "[DONE]"))) as raw:
        chunks, result = Runner(kind, raw.base_url).stream()
    assert result.finish_reason == "tool_calls"
    assert [(call.id, call.function.name) for call in result.tool_calls] == [
        ("abcDEF123", "get_weather"),
        ("xyzXYZ789", "get_time"),
    ]
    assert json.loads(str(result.tool_calls[0].function.arguments)) == {"city": "Paris"}
    assert chunks[-1].is_last


def test_fragmented_tool_calls_are_joined_by_index(kind: str) -> None:
    def delta(body: str, finish: str = "null") -> str:
        return _event(f'[{{"index":0,"delta":{body},"finish_reason":{finish}}}]')

    events = [
        chunk_json("", role=True),
        delta(
            '{"tool_calls":[{"index":0,"id":"call00001","type":"function","function":{"name":"add","arguments":""}}]}'
        ),
        delta('{"tool_calls":[{"index":0,"function":{"arguments":"{\\"a\\": "}}]}'),
        delta(
            '{"tool_calls":[{"index":1,"id":"call00002","type":"function","function":{"name":"neg","arguments":""}}]}'
        ),
        delta('{"tool_calls":[{"index":0,"function":{"arguments":"1, \\"b\\": 2}"}}]}'),
        delta('{"tool_calls":[{"index":1,"function":{"arguments":"{\\"x\\": 5}"}}]}'),
        delta("{}", '"tool_calls"'),
    ]
    with RawServer(_serve(sse(*events, "[DONE]"))) as raw:
        _, result = Runner(kind, raw.base_url).stream()
    calls = result.tool_calls
    assert [(call.id, call.function.name, call.function.arguments) for call in calls] == [
        ("call00001", "add", '{"a": 1, "b": 2}'),
        ("call00002", "neg", '{"x": 5}'),
    ]


def test_crlf_split_across_reads_and_a_bom(kind: str) -> None:
    body = b"\xef\xbb\xbf" + sse(
        chunk_json("", role=True), chunk_json("A"), chunk_json("B", finish="stop", usage=True), "[DONE]"
    )
    body = body.replace(b"\n", b"\r\n")
    # every read boundary falls between a CR and its LF
    pieces = body.split(b"\n")
    reads = [piece + b"\n" if i else piece for i, piece in enumerate(pieces)]
    with RawServer(_serve(*[read for read in reads if read])) as raw:
        chunks, result = Runner(kind, raw.base_url).stream()
    assert result.content == "AB"
    assert len(chunks) == 3


def test_error_envelope_event_raises_with_partial(kind: str) -> None:
    error = '{"error":{"message":"overloaded","type":"server_error","code":"overloaded"}}'
    with (
        RawServer(_serve(sse(chunk_json("", role=True), chunk_json("Par"), error))) as raw,
        pytest.raises(StreamError) as info,
    ):
        Runner(kind, raw.base_url).stream()
    assert "overloaded" in str(info.value)
    assert info.value.type == "server_error"
    assert info.value.partial.content == "Par"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        # The API's error envelope with its field list inside `message`, mid-stream.
        (
            '{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","messages",0,"user",'
            '"name"],"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_error","code":null}',
            "messages.0.user.name: Extra inputs are not permitted",
        ),
        # Any other object where a message string belongs is shown as JSON, never as a Python repr.
        ('{"object":"error","message":{"reason":"overloaded"},"type":"server_error"}', '{"reason":"overloaded"}'),
    ],
)
def test_an_error_event_whose_message_is_an_object_keeps_the_partial(kind: str, error: str, shown: str) -> None:
    with (
        RawServer(_serve(sse(chunk_json("", role=True), chunk_json("Par"), error))) as raw,
        pytest.raises(StreamError) as info,
    ):
        Runner(kind, raw.base_url).stream()
    assert str(info.value).startswith(f"the server sent an error event: {shown}"), str(info.value)
    assert "malformed" not in str(info.value)
    assert info.value.type in ("invalid_request_error", "server_error")
    assert info.value.partial.content == "Par"


def test_event_larger_than_the_cap_fails_cleanly(kind: str) -> None:
    huge = chunk_json("x" * 200_000)
    server = RawServer(_serve(sse(chunk_json("", role=True), chunk_json("ok")), sse(huge)))
    with server as raw, pytest.raises(StreamError) as info:
        Runner(kind, raw.base_url).stream(client_kw={"max_event_size": 64 * 1024})
    assert "exceeded 65536 bytes" in str(info.value)
    assert info.value.partial.content == "ok"


def test_unknown_fields_and_padding_are_ignored(kind: str) -> None:
    odd = _event(
        '[{"index":0,"delta":{"content":"hi","future":1},"finish_reason":null,"logprobs":null}]',
        ',"p":"abcdefghij","service_tier":"x","novel":{"a":[1,2]}',
    )
    with RawServer(
        _serve(sse(chunk_json("", role=True), odd, chunk_json("", finish="model_length", usage=True), "[DONE]"))
    ) as raw:
        _, result = Runner(kind, raw.base_url).stream()
    assert result.content == "hi"
    assert result.finish_reason == "model_length"  # not in the spec's enum, sent by the live service


def test_cancel_within_one_read_keeps_only_delivered_chunks() -> None:
    # The whole answer arrives in one read; a cancel after the second chunk must not put the
    # undelivered rest into the result.
    events = [chunk_json("", role=True)] + [chunk_json(word) for word in ("a", "b", "c", "d")]
    events += [chunk_json("", finish="stop", usage=True), "[DONE]"]
    with (
        RawServer(_serve(sse(*events))) as raw,
        Mistral(base_url=raw.base_url) as client,
        client.chat.stream(model=MODEL, messages=HI) as stream,
    ):
        for count, _ in enumerate(stream, 1):
            if count == 2:
                stream.cancel()
    assert stream.result.chunk_count == 2
    assert stream.result.content == "a"
    assert stream.result.cancelled


def test_oversize_event_in_the_same_read_keeps_the_events_before_it(kind: str) -> None:
    # One HTTP chunk, so one read: two good events, then one far over the cap (the B3 vector).
    body = sse(chunk_json("", role=True), chunk_json("kept"), chunk_json("y" * 5000))
    with RawServer(_serve(body)) as raw, pytest.raises(StreamError) as info:
        Runner(kind, raw.base_url).stream(client_kw={"max_event_size": 1024})
    assert "exceeded 1024 bytes" in str(info.value)
    assert info.value.partial.content == "kept"
    assert info.value.partial.chunk_count == 2


def test_cancel_of_a_close_delimited_body_is_not_an_error(kind: str) -> None:
    # Without chunking the body ends at EOF, so our own socket cut reads as a clean end of body:
    # that must stop the stream as cancelled, not report a stream that "ended before finishing".
    def handler(conn: RawConnection) -> None:
        conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
        conn.send(sse(chunk_json("", role=True), chunk_json("wait")))
        conn.wait_client_close(10)

    with RawServer(handler) as raw:
        if kind == "sync":
            with Mistral(base_url=raw.base_url) as client, client.chat.stream(model=MODEL, messages=HI) as stream:
                for count, _ in enumerate(stream, 1):
                    if count == 2:  # the server now waits: cancel from another thread
                        threading.Timer(0.05, stream.cancel).start()
            result = stream.result
        else:

            async def main() -> StreamResult:
                async with (
                    AsyncMistral(base_url=raw.base_url) as client,
                    client.chat.stream(model=MODEL, messages=HI) as stream,
                ):
                    async for count, _ in _aenumerate(stream):
                        if count == 2:
                            threading.Timer(0.05, stream.cancel).start()
                return stream.result

            result = asyncio.run(main())
        assert raw.connections[0].closed_by_client.wait(5)
    assert result.cancelled
    assert result.content == "wait"


async def _aenumerate(stream: AsyncChatStream) -> AsyncIterator[tuple[int, object]]:
    count = 0
    async for item in stream:
        count += 1
        yield count, item
