"""Stream helpers against the local server's tool, JSON, reasoning, ``n`` and FIM modes, sync and async.

Each test streams and also asks for the same seeded answer without streaming, so the helpers are
checked against what ``chat.complete`` returns, not only against themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
import msgspec
import pytest

from mistral_client import AsyncMistral, ChatCompletion, InvalidRequestError, Mistral, Models, StreamResult, tool, user
from mistral_client.server import LocalServer
from tests.support.openapi import conforms

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
            "required": ["city", "unit"],
        },
    },
}


def drive(
    kind: str,
    server: LocalServer,
    sync: Callable[[Mistral], Any],
    run_async: Callable[[AsyncMistral], Awaitable[Any]],
) -> Any:
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client:
            return sync(client)

    async def main() -> Any:
        async with AsyncMistral(base_url=server.base_url) as client:
            return await run_async(client)

    return asyncio.run(main())


def stream_and_complete(kind: str, server: LocalServer, **request: Any) -> tuple[StreamResult, ChatCompletion, Any]:
    """The streamed result, its final completion, and ``chat.complete``'s answer to the same request."""
    request = {"model": Models.SMALL, "random_seed": 7, **request}

    def sync(client: Mistral) -> Any:
        with client.chat.stream(**request) as stream:
            final = stream.get_final_completion()
        return stream.result, final, client.chat.complete(**request)

    async def run_async(client: AsyncMistral) -> Any:
        async with client.chat.stream(**request) as stream:
            final = await stream.get_final_completion()
        return stream.result, final, await client.chat.complete(**request)

    result: tuple[StreamResult, ChatCompletion, Any] = drive(kind, server, sync, run_async)
    return result


def same_answer(final: ChatCompletion, completed: ChatCompletion) -> None:
    """The final completion of a stream and the non-streamed answer agree in everything but the id."""
    assert msgspec.to_builtins(final.choices) == msgspec.to_builtins(completed.choices)
    assert final.usage == completed.usage
    assert final.model == completed.model


@pytest.mark.parametrize("style", ["whole", "fragmented"])
def test_tool_calls_from_the_server(kind: str, server: LocalServer, style: str) -> None:
    messages = [user("What is the weather in Paris?")]
    result, final, completed = stream_and_complete(
        kind,
        server,
        messages=messages,
        tools=[WEATHER],
        tool_choice="any",
        extra_headers={"x-mock-tool-call-style": style},
    )
    (call,) = result.tool_calls
    assert call.function.name == "get_weather" and call.id is not None and len(call.id) == 9 and call.id.isalnum()
    arguments = call.parsed_arguments()
    jsonschema.validate(arguments, WEATHER["function"]["parameters"])  # type: ignore[index]
    assert result.finish_reason == "tool_calls"
    if style == "fragmented":
        assert result.chunks is not None and len(result.chunks) > 4  # the arguments came in pieces
    same_answer(final, completed)
    assert final.choices[0].message.tool_calls == completed.choices[0].message.tool_calls


def test_a_tool_loop_answers_the_call_and_gets_text(kind: str, server: LocalServer) -> None:
    def sync(client: Mistral) -> StreamResult:
        messages: list[Any] = [user("What is the weather in Paris?")]
        first = client.chat.stream_collect(model=Models.SMALL, messages=messages, tools=[WEATHER], tool_choice="any")
        messages.append(first.choices[0].message)
        for call in first.tool_calls:
            messages.append(tool('{"temperature": 21}', tool_call_id=call.id or "", name=call.function.name))
        return client.chat.stream_collect(model=Models.SMALL, messages=messages, tools=[WEATHER])

    async def run_async(client: AsyncMistral) -> StreamResult:
        messages: list[Any] = [user("What is the weather in Paris?")]
        first = await client.chat.stream_collect(
            model=Models.SMALL, messages=messages, tools=[WEATHER], tool_choice="any"
        )
        messages.append(first.choices[0].message)
        for call in first.tool_calls:
            messages.append(tool('{"temperature": 21}', tool_call_id=call.id or "", name=call.function.name))
        return await client.chat.stream_collect(model=Models.SMALL, messages=messages, tools=[WEATHER])

    answer = drive(kind, server, sync, run_async)
    assert answer.content and answer.finish_reason == "stop" and not answer.tool_calls
    sent = server.requests[-1].body
    assert [message["role"] for message in sent["messages"]] == ["user", "assistant", "tool"]
    conforms("ChatCompletionRequest", sent)


class Recipe(msgspec.Struct):
    title: str
    minutes: int
    steps: list[str]


def test_structured_output_from_the_server(kind: str, server: LocalServer) -> None:
    partials: list[Any] = []

    def sync(client: Mistral) -> Any:
        with client.chat.stream(model=Models.SMALL, messages=[user("A recipe")], response_format=Recipe) as stream:
            for _ in stream:
                partials.append(stream.partial_json())
        return stream.result

    async def run_async(client: AsyncMistral) -> Any:
        async with client.chat.stream(
            model=Models.SMALL, messages=[user("A recipe")], response_format=Recipe
        ) as stream:
            async for _ in stream:
                partials.append(stream.partial_json())
        return stream.result

    result = drive(kind, server, sync, run_async)
    recipe = result.parsed
    assert isinstance(recipe, Recipe) and recipe == msgspec.json.decode(result.content, type=Recipe)
    assert server.requests[-1].body["response_format"]["type"] == "json_schema"
    # Progressive values: dicts that only grow into the final one.
    seen = [value for value in partials if value is not None]
    assert len(seen) > 3 and seen[-1] == msgspec.to_builtins(recipe)
    assert all(isinstance(value, dict) and set(value) <= {"title", "minutes", "steps"} for value in seen)


def test_reasoning_keeps_thinking_apart(kind: str, server: LocalServer) -> None:
    result, final, completed = stream_and_complete(
        kind, server, messages=[user("What is 1+2?")], prompt_mode="reasoning"
    )
    assert result.thinking and result.content
    assert result.thinking not in result.content
    assert completed.thinking == result.thinking and completed.content == result.content
    same_answer(final, completed)


def test_n_choices(kind: str, server: LocalServer) -> None:
    result, final, completed = stream_and_complete(kind, server, messages=[user("Hi")], n=3)
    assert [choice.index for choice in result.choices] == [0, 1, 2]
    assert len({choice.content for choice in result.choices}) == 3  # each choice has its own text
    assert all(choice.finish_reason for choice in result.choices)
    same_answer(final, completed)


def test_fim_complete_and_stream(kind: str, server: LocalServer) -> None:
    request = {"model": Models.CODESTRAL, "prompt": "def add(a, b):\n", "suffix": "\n    return c", "random_seed": 1}

    def sync(client: Mistral) -> Any:
        with client.fim.stream(**request) as stream:
            chunks = list(stream)
        return chunks, stream.result, client.fim.complete(**request)

    async def run_async(client: AsyncMistral) -> Any:
        async with client.fim.stream(**request) as stream:
            chunks = [chunk async for chunk in stream]
        return chunks, stream.result, await client.fim.complete(**request)

    chunks, result, completed = drive(kind, server, sync, run_async)
    assert result.content and result.content == completed.content
    assert chunks[-1].is_last and chunks[-1].usage is not None
    for record in server.requests:
        assert record.path.endswith("/fim/completions")
        conforms("FIMCompletionRequest", record.body)


def test_embeddings(kind: str, server: LocalServer) -> None:
    texts = ["Embed this sentence.", "As well as this one."]

    def sync(client: Mistral) -> Any:
        return client.embeddings.create(model=Models.EMBED, input=texts), client.embeddings.create(
            model=Models.EMBED, input=texts[1]
        )

    async def run_async(client: AsyncMistral) -> Any:
        return await client.embeddings.create(model=Models.EMBED, input=texts), await client.embeddings.create(
            model=Models.EMBED, input=texts[1]
        )

    both, one = drive(kind, server, sync, run_async)
    vectors = both.vectors
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0
    assert vectors[0] != vectors[1] and one.vectors[0] == vectors[1]  # deterministic per text
    assert both.usage is not None and both.usage.prompt_tokens > 0
    conforms("EmbeddingRequest", server.requests[0].body)


def test_fim_refuses_a_callback_that_is_not_callable_before_sending(kind: str, server: LocalServer) -> None:
    request = {"model": Models.CODESTRAL, "prompt": "def f():\n", "on_chunk": 42}

    def sync(client: Mistral) -> Any:
        return client.fim.stream_collect(**request)

    async def run_async(client: AsyncMistral) -> Any:
        return await client.fim.stream_collect(**request)

    with pytest.raises(InvalidRequestError, match="on_chunk must be a callable"):
        drive(kind, server, sync, run_async)
    assert server.requests == []
