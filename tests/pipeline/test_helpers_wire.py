"""Stream helpers on byte-exact answers: the shapes the live API sends, served by a raw socket server.

Tool calls whole and in fragments, list-shaped reasoning content, interleaved ``n > 1`` choices,
and the final completion built from them; sync and async through the ``kind`` fixture.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from mistral_client import AsyncMistral, ChatCompletion, Mistral, StreamResult, ToolArgumentsError, user
from tests.support.rawserver import RawConnection, RawServer, sse

HEAD = '{"id":"w1","object":"chat.completion.chunk","created":7,"model":"mistral-small-latest",'
USAGE = '"usage":{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}'


def event(choices: list[dict[str, Any]], usage: bool = False) -> str:
    return HEAD + f'"choices":{json.dumps(choices)}' + ("," + USAGE if usage else "") + "}"


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "finish_reason": finish}


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(body)`` starts a raw server answering every request with that SSE body."""
    servers: list[RawServer] = []

    def start(body: bytes) -> RawServer:
        def handler(conn: RawConnection) -> None:
            conn.send_head()
            conn.send_chunk(body)
            conn.end_body()

        server = RawServer(handler).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def read(kind: str, base_url: str) -> tuple[StreamResult, ChatCompletion]:
    if kind == "sync":
        with Mistral(base_url=base_url) as client, client.chat.stream(model="m", messages=[user("hi")]) as stream:
            for _ in stream:
                pass
            return stream.result, stream.get_final_completion()

    async def main() -> tuple[StreamResult, ChatCompletion]:
        async with (
            AsyncMistral(base_url=base_url) as client,
            client.chat.stream(model="m", messages=[user("hi")]) as stream,
        ):
            async for _ in stream:
                pass
            return stream.result, await stream.get_final_completion()

    return asyncio.run(main())


WHOLE_CALLS = sse(
    event([delta(role="assistant", content="")]),
    event(
        [
            delta(
                tool_calls=[
                    {
                        "id": "D681PevKs",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        "index": 0,
                    },
                    {"id": "a1b2c3d4e", "function": {"name": "get_time", "arguments": "{}"}, "index": 1},
                ],
                content="",
            )
        ]
    ),
    event([delta(finish="tool_calls", content="")], usage=True),
    "[DONE]",
)


def call_start(index: int, call_id: str, name: str) -> str:
    call = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return event([delta(tool_calls=[call])])


def call_piece(index: int, arguments: str) -> str:
    return event([delta(tool_calls=[{"index": index, "function": {"arguments": arguments}}])])


# OpenAI-style: the id and name first, then argument pieces that carry only the index.
FRAGMENTED_CALLS = sse(
    event([delta(role="assistant")]),
    call_start(0, "call0ABCD", "get_weather"),
    call_piece(0, '{"ci'),
    call_start(1, "call1ABCD", "get_time"),
    call_piece(0, 'ty": "Pa'),
    call_piece(1, '{"tz": "UTC"}'),
    call_piece(0, 'ris"}'),
    event([delta(finish="tool_calls")], usage=True),
    "[DONE]",
)


def test_whole_tool_calls_accumulate_and_parse(kind: str, serve: Any) -> None:
    result, completion = read(kind, serve(WHOLE_CALLS).base_url)
    calls = result.tool_calls
    assert [(call.id, call.function.name) for call in calls] == [
        ("D681PevKs", "get_weather"),
        ("a1b2c3d4e", "get_time"),
    ]
    assert calls[0].parsed_arguments() == {"city": "Paris"}
    assert calls[1].parsed_arguments() == {}
    assert result.finish_reason == "tool_calls"
    assert completion.tool_calls == calls and completion.finish_reason == "tool_calls"


def test_fragmented_tool_calls_join_by_index(kind: str, serve: Any) -> None:
    result, completion = read(kind, serve(FRAGMENTED_CALLS).base_url)
    calls = result.tool_calls
    assert [call.id for call in calls] == ["call0ABCD", "call1ABCD"]
    assert [call.function.arguments for call in calls] == ['{"city": "Paris"}', '{"tz": "UTC"}']
    assert [call.parsed_arguments() for call in calls] == [{"city": "Paris"}, {"tz": "UTC"}]
    assert completion.choices[0].message.tool_calls == calls


def test_invalid_tool_arguments_raise_and_keep_the_raw_string(kind: str, serve: Any) -> None:
    body = sse(
        event(
            [delta(tool_calls=[{"id": "abcdefghi", "function": {"name": "f", "arguments": '{"a": 1,'}, "index": 0}])]
        ),
        event([delta(finish="tool_calls")], usage=True),
        "[DONE]",
    )
    result, _ = read(kind, serve(body).base_url)
    (call,) = result.tool_calls
    with pytest.raises(ToolArgumentsError, match="'f' are not valid JSON") as info:
        call.parsed_arguments()
    assert info.value.arguments == '{"a": 1,' and info.value.tool_call is call
    assert isinstance(info.value, ValueError)


def test_tool_arguments_that_are_not_an_object_are_refused() -> None:
    from mistral_client import FunctionCall, ToolCall

    with pytest.raises(ToolArgumentsError, match="not an object"):
        ToolCall(function=FunctionCall(name="f", arguments="[1, 2]")).parsed_arguments()
    # The spec also allows the arguments as an object.
    assert ToolCall(function=FunctionCall(name="f", arguments={"x": 1})).parsed_arguments() == {"x": 1}


REASONING = sse(
    event([delta(role="assistant", content="")]),
    event([delta(content=[{"type": "thinking", "thinking": [{"type": "text", "text": "Two plus "}]}])]),
    event([delta(content=[{"type": "thinking", "thinking": [{"type": "text", "text": "one is three."}]}])]),
    event([delta(content=[{"type": "text", "text": "3"}])]),
    event([delta(content=".", finish="stop")], usage=True),
    "[DONE]",
)


def test_thinking_is_kept_apart_from_the_answer(kind: str, serve: Any) -> None:
    result, completion = read(kind, serve(REASONING).base_url)
    assert result.thinking == "Two plus one is three."
    assert result.content == "3."
    chunks = result.chunks
    assert chunks is not None
    assert [chunk.thinking for chunk in chunks] == ["", "Two plus ", "one is three.", "", ""]
    assert [chunk.content for chunk in chunks] == ["", "", "", "3", "."]
    # The final completion has the shape of a reasoning model's non-streamed answer.
    content = msgspec.to_builtins(completion.choices[0].message.content)
    assert content == [
        {"type": "thinking", "thinking": [{"type": "text", "text": "Two plus one is three."}]},
        {"type": "text", "text": "3."},
    ]
    assert completion.thinking == "Two plus one is three." and completion.content == "3."


def test_n_choices_accumulate_by_index(kind: str, serve: Any) -> None:
    body = sse(
        event([delta(0, role="assistant", content=""), delta(1, role="assistant", content="")]),
        event([delta(1, content="B1")]),
        event([delta(0, content="A1")]),
        event([delta(0, content=" A2", finish="stop"), delta(1, content=" B2")]),
        event([delta(1, finish="length")], usage=True),
        "[DONE]",
    )
    result, completion = read(kind, serve(body).base_url)
    assert [(c.index, c.content, c.finish_reason) for c in result.choices] == [
        (0, "A1 A2", "stop"),
        (1, "B1 B2", "length"),
    ]
    assert result.content == "A1 A2"
    assert [(c.index, c.message.content, c.finish_reason) for c in completion.choices] == [
        (0, "A1 A2", "stop"),
        (1, "B1 B2", "length"),
    ]
    assert completion.usage is not None and completion.usage.total_tokens == 14


def test_final_completion_reads_to_the_end_and_matches_the_wire_schema(kind: str, serve: Any) -> None:
    from tests.support.openapi import conforms

    base_url = serve(WHOLE_CALLS).base_url
    if kind == "sync":
        with Mistral(base_url=base_url) as client, client.chat.stream(model="m", messages=[user("hi")]) as stream:
            completion = stream.get_final_completion()  # not iterated before: reads it all
            result = stream.result
    else:

        async def main() -> tuple[ChatCompletion, StreamResult]:
            async with (
                AsyncMistral(base_url=base_url) as client,
                client.chat.stream(model="m", messages=[user("hi")]) as stream,
            ):
                return await stream.get_final_completion(), stream.result

        completion, result = asyncio.run(main())
    assert result.cancelled is False and result.chunk_count == 3
    assert (completion.id, completion.model, completion.created) == ("w1", "mistral-small-latest", 7)
    wire = msgspec.to_builtins(completion)
    conforms("ChatCompletionResponse", wire)


def test_an_answer_message_can_continue_the_conversation(serve: Any) -> None:
    from mistral_client import tool

    seen: list[bytes] = []

    def handler(conn: RawConnection) -> None:
        seen.append(conn.request.body)
        conn.send_head()
        conn.send_chunk(WHOLE_CALLS)
        conn.end_body()

    with RawServer(handler) as server, Mistral(base_url=server.base_url) as client:
        messages: list[Any] = [user("Weather in Paris?")]
        result = client.chat.stream_collect(model="m", messages=messages)
        messages.append(result.choices[0].message)
        for call in result.tool_calls:
            messages.append(tool(json.dumps({"ok": call.parsed_arguments()}), tool_call_id=call.id or ""))
        client.chat.stream_collect(model="m", messages=messages)
    sent = json.loads(seen[1])["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                "id": "D681PevKs",
                "type": "function",
                "index": 0,
            },
            {"function": {"name": "get_time", "arguments": "{}"}, "id": "a1b2c3d4e", "type": "function", "index": 1},
        ],
        "prefix": False,
    }
    assert sent[2] == {"role": "tool", "content": '{"ok": {"city": "Paris"}}', "tool_call_id": "D681PevKs"}
