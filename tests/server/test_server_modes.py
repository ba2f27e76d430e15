"""What the local server answers besides plain text: tool calls, JSON, reasoning, n choices, FIM, embeddings.

Driven over loopback with plain httpx2 (exact wire shapes) and with our client (sync and async).
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx2
import jsonschema
import pytest

from mistral_client import user
from mistral_client.server import Finish, LocalServer, Prompt, TemplateEngine
from tests.support.helpers import Runner
from tests.support.openapi import conforms
from tests.support.servertools import (
    CHAT,
    EMBEDDINGS,
    FIM,
    MODEL,
    SEARCH,
    WEATHER,
    chat,
    chunks,
    stream_events,
    streamed_text,
    text_of,
)

TOOL_ID = re.compile(r"[a-zA-Z0-9]{9}")
ASK_WEATHER = [{"role": "user", "content": "Call get_weather: what is the weather in Paris?"}]


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def tool_chat(stream: bool = True, **fields: Any) -> dict[str, Any]:
    return chat(stream, **{"messages": ASK_WEATHER, "tools": [WEATHER, SEARCH], **fields})


def parameters(name: str) -> dict[str, Any]:
    return next(t["function"]["parameters"] for t in (WEATHER, SEARCH) if t["function"]["name"] == name)


def tool_deltas(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for c in parsed if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls") or ()]


# --- Tool calls ----------------------------------------------------------------------------------


def test_forced_tool_call_arrives_whole_in_one_delta_with_finish_and_usage(client: httpx2.Client) -> None:
    data = stream_events(client, tool_chat(tool_choice="any"))
    assert data[-1] == b"[DONE]"
    parsed = chunks(data)
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
    role, call_chunk = parsed
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    (choice,) = call_chunk["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert call_chunk["usage"]["completion_tokens"] == 1
    (call,) = choice["delta"]["tool_calls"]
    assert set(call) == {"id", "type", "function", "index"}
    assert TOOL_ID.fullmatch(call["id"])
    assert (call["type"], call["index"], call["function"]["name"]) == ("function", 0, "get_weather")
    arguments = json.loads(call["function"]["arguments"])
    jsonschema.validate(arguments, parameters("get_weather"))
    assert set(arguments) == {"city", "days", "unit", "hourly"}


def test_fragmented_tool_call_by_header_accumulates_to_the_whole_one(client: httpx2.Client) -> None:
    (whole,) = tool_deltas(chunks(stream_events(client, tool_chat(tool_choice="required"))))
    parsed = chunks(
        stream_events(client, tool_chat(tool_choice="required"), **{"x-mock-tool-call-style": "fragmented"})
    )
    first, *rest = tool_deltas(parsed)
    assert first == {
        "index": 0,
        "id": whole["id"],
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert len(rest) > 5
    assert all(set(piece) == {"index", "function"} and set(piece["function"]) == {"arguments"} for piece in rest)
    assert "".join(piece["function"]["arguments"] for piece in rest) == whole["function"]["arguments"]
    # Every argument piece is its own chunk; the finish reason and usage come in the last chunk.
    assert parsed[-1]["choices"][0] == {"index": 0, "delta": {"content": ""}, "finish_reason": "tool_calls"}
    assert parsed[-1]["usage"]["completion_tokens"] == 1 + len(rest)
    assert all(c["choices"][0]["finish_reason"] is None for c in parsed[:-1])


def test_fragmented_tool_calls_by_config_and_header_back_to_whole() -> None:
    with LocalServer(tool_call_style="fragmented") as server, httpx2.Client(base_url=server.base_url) as client:
        fragmented = tool_deltas(chunks(stream_events(client, tool_chat(tool_choice="any"))))
        whole = tool_deltas(
            chunks(stream_events(client, tool_chat(tool_choice="any"), **{"x-mock-tool-call-style": "whole"}))
        )
    assert len(fragmented) > 5
    assert len(whole) == 1


def test_which_tools_are_called(client: httpx2.Client) -> None:
    def called(stream: bool = True, **fields: Any) -> list[str]:
        parsed = chunks(stream_events(client, tool_chat(**fields)))
        return [call["function"]["name"] for call in tool_deltas(parsed)]

    named_both = [{"role": "user", "content": "Use search_docs, then get weather for Oslo"}]
    assert called() == ["get_weather"]  # the prompt names it
    assert called(messages=[{"role": "user", "content": "Tell me a story"}]) == []
    assert called(messages=[{"role": "user", "content": "Tell me a story"}], tool_choice="any") == ["get_weather"]
    assert called(tool_choice="none") == []
    assert called(tool_choice={"type": "function", "function": {"name": "search_docs"}}) == ["search_docs"]
    assert called(messages=named_both) == ["get_weather", "search_docs"]
    assert called(messages=named_both, parallel_tool_calls=False) == ["get_weather"]

    parsed = chunks(stream_events(client, tool_chat(messages=named_both)))
    calls = tool_deltas(parsed)
    assert [call["index"] for call in calls] == [0, 1]
    assert len({call["id"] for call in calls}) == 2
    jsonschema.validate(json.loads(calls[1]["function"]["arguments"]), parameters("search_docs"))
    # With several calls, each whole call has its chunk; the last one carries the finish reason.
    assert [c["choices"][0]["finish_reason"] for c in parsed[1:]] == [None, "tool_calls"]


def test_after_the_tool_answers_the_model_writes_text(client: httpx2.Client) -> None:
    (call,) = tool_deltas(chunks(stream_events(client, tool_chat())))
    turn = [
        *ASK_WEATHER,
        {"role": "assistant", "content": "", "tool_calls": [{k: call[k] for k in ("id", "type", "function")}]},
        {"role": "tool", "tool_call_id": call["id"], "name": "get_weather", "content": '{"temp": 21}'},
    ]
    parsed = chunks(stream_events(client, tool_chat(messages=turn)))
    assert tool_deltas(parsed) == []
    assert text_of(parsed).endswith(".")
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"


def test_tool_calls_are_deterministic_and_the_seed_changes_them(client: httpx2.Client) -> None:
    def call(**fields: Any) -> dict[str, Any]:
        (only,) = tool_deltas(chunks(stream_events(client, tool_chat(tool_choice="any", **fields))))
        return only

    assert call() == call()
    assert call(random_seed=1) == call(random_seed=1)
    assert call(random_seed=1)["id"] != call(random_seed=2)["id"]


def test_non_stream_tool_call_matches_the_stream(client: httpx2.Client) -> None:
    (streamed,) = tool_deltas(chunks(stream_events(client, tool_chat(tool_choice="any"))))
    for style in ("whole", "fragmented"):
        response = client.post(
            CHAT, json=tool_chat(False, tool_choice="any"), headers={"x-mock-tool-call-style": style}
        )
        body = response.json()
        conforms("ChatCompletionResponse", body)
        (choice,) = body["choices"]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["content"] == ""
        assert choice["message"]["tool_calls"] == [streamed]


def test_tool_calls_through_the_client(run: Runner) -> None:
    messages = [user("What is the weather in Paris?")]
    for style in ("whole", "fragmented"):
        _, result = run.stream(
            messages=messages, tools=[WEATHER], tool_choice="any", extra_headers={"x-mock-tool-call-style": style}
        )
        assert result.finish_reason == "tool_calls"
        (call,) = result.tool_calls
        assert TOOL_ID.fullmatch(call.id or "")
        assert call.function.name == "get_weather"
        assert isinstance(call.function.arguments, str)
        jsonschema.validate(json.loads(call.function.arguments), parameters("get_weather"))
    completion = run.complete(messages=messages, tools=[WEATHER], tool_choice="any")
    assert completion.choices[0].finish_reason == "tool_calls"
    (completed,) = completion.choices[0].message.tool_calls or []
    assert (completed.id, completed.function.arguments) == (call.id, call.function.arguments)


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {}},
    {
        "type": "object",
        "properties": {"a": {"type": ["integer", "null"], "exclusiveMinimum": 3, "exclusiveMaximum": 5}},
    },
    {"type": "object", "properties": {"n": {"type": "number", "minimum": -1.5, "maximum": -1.25}}},
    {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 7, "minimum": 10, "maximum": 30}}},
    {"type": "object", "properties": {"s": {"type": "string", "minLength": 40, "maxLength": 45}}},
    {"type": "object", "properties": {"s": {"type": "string", "maxLength": 2}}},
    {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "c": {"const": [1, 2]}}},
    {"type": "object", "properties": {"tags": {"type": "array", "items": {"enum": ["x", "y", 3]}, "minItems": 4}}},
    {"type": "object", "properties": {"u": {"type": "array", "items": {"type": "boolean"}, "uniqueItems": True}}},
    {"type": "object", "properties": {"o": {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]}}},
    {"type": "object", "properties": {"o": {"oneOf": [{"type": "integer"}, {"type": "string"}]}}},
    {
        "type": "object",
        "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "properties": {"points": {"type": "array", "items": {"$ref": "#/$defs/point"}, "maxItems": 1}},
        "required": ["points"],
    },
    {
        "type": "object",
        "allOf": [
            {"properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ],
    },
    {"type": "object", "minProperties": 3, "additionalProperties": {"type": "integer"}},
    {"type": "object", "required": ["undeclared"], "properties": {"nested": {"properties": {"deep": {"items": {}}}}}},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=[str(i) for i in range(len(SCHEMAS))])
def test_tool_arguments_validate_against_many_schemas(client: httpx2.Client, schema: dict[str, Any]) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    for seed in range(3):
        body = chat(False, tools=[tool], tool_choice="any", random_seed=seed)
        (call,) = client.post(CHAT, json=body).json()["choices"][0]["message"]["tool_calls"]
        jsonschema.validate(json.loads(call["function"]["arguments"]), schema)


# --- JSON answers --------------------------------------------------------------------------------

BOOK = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "year": {"type": "integer", "minimum": 1450, "maximum": 2030},
    },
    "required": ["name", "authors", "year"],
    "additionalProperties": False,
}


def test_json_object_streams_a_json_object_in_pieces(client: httpx2.Client) -> None:
    parsed = chunks(stream_events(client, chat(response_format={"type": "json_object"})))
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
    text = text_of(parsed)
    value = json.loads(text)
    assert isinstance(value, dict) and value
    assert len(parsed) > 10  # in token-sized pieces, not one chunk
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"
    completion = client.post(CHAT, json=chat(False, response_format={"type": "json_object"})).json()
    assert completion["choices"][0]["message"]["content"] == text


def test_json_schema_answer_matches_the_schema(client: httpx2.Client) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "book", "schema": BOOK, "strict": True}}
    text = streamed_text(client, response_format=response_format)
    jsonschema.validate(json.loads(text), BOOK)
    completion = client.post(CHAT, json=chat(False, response_format=response_format)).json()
    conforms("ChatCompletionResponse", completion)
    assert completion["choices"][0]["message"]["content"] == text
    # max_tokens cuts the JSON like a real model would: a prefix, finish reason "length".
    parsed = chunks(stream_events(client, chat(response_format=response_format, max_tokens=3)))
    assert text.startswith(text_of(parsed)) and text_of(parsed) != text
    assert parsed[-1]["choices"][0]["finish_reason"] == "length"


# --- Reasoning -----------------------------------------------------------------------------------


def test_reasoning_streams_thinking_chunks_then_text(client: httpx2.Client) -> None:
    parsed = chunks(stream_events(client, chat(prompt_mode="reasoning")))
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
    contents = [c["choices"][0]["delta"]["content"] for c in parsed[1:-1]]
    kinds = [content[0]["type"] for content in contents]
    assert all(isinstance(content, list) and len(content) == 1 for content in contents)
    assert kinds == ["thinking"] * 8 + ["text"] * 30
    thinking = "".join(c[0]["thinking"][0]["text"] for c in contents[:8])
    answer = "".join(c[0]["text"] for c in contents[8:])
    assert all(c[0]["thinking"][0]["type"] == "text" for c in contents[:8])
    assert answer == streamed_text(client)  # the answer is the plain answer
    assert parsed[-1]["usage"]["completion_tokens"] == 38

    completion = client.post(CHAT, json=chat(False, prompt_mode="reasoning")).json()
    conforms("ChatCompletionResponse", completion)
    assert completion["choices"][0]["message"]["content"] == [
        {"type": "thinking", "thinking": [{"type": "text", "text": thinking}]},
        {"type": "text", "text": answer},
    ]


def test_reasoning_through_the_client(run: Runner) -> None:
    _, plain = run.stream()
    chunks_, result = run.stream(prompt_mode="reasoning", max_tokens=4)
    assert result.finish_reason == "length"
    assert result.content == plain.content[: len(result.content)] and result.content
    assert isinstance(chunks_[1].choices[0].delta.content, list)
    assert chunks_[1].choices[0].delta.content[0].type == "thinking"


# --- Several choices -----------------------------------------------------------------------------


def test_n_choices_interleave_one_choice_per_chunk(client: httpx2.Client) -> None:
    parsed = chunks(stream_events(client, chat(n=3, max_tokens=6)))
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
        assert len(chunk["choices"]) == 1
    assert [c["choices"][0]["index"] for c in parsed[:3]] == [0, 1, 2]
    assert all(c["choices"][0]["delta"] == {"role": "assistant", "content": ""} for c in parsed[:3])
    texts = [text_of(parsed, index) for index in range(3)]
    assert texts[0] == streamed_text(client, max_tokens=6)  # choice 0 is the lone answer
    assert len(set(texts)) == 3
    finishes = [
        (c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in parsed if c["choices"][0]["finish_reason"]
    ]
    assert sorted(finishes) == [(0, "length"), (1, "length"), (2, "length")]
    assert parsed[-1]["usage"]["completion_tokens"] == 18
    assert sum("usage" in c for c in parsed) == 1

    completion = client.post(CHAT, json=chat(False, n=3, max_tokens=6)).json()
    conforms("ChatCompletionResponse", completion)
    assert [c["index"] for c in completion["choices"]] == [0, 1, 2]
    assert [c["message"]["content"] for c in completion["choices"]] == texts
    assert completion["usage"]["completion_tokens"] == 18


def test_n_choices_through_the_client(run: Runner) -> None:
    _, result = run.stream(n=2, random_seed=5)
    _, again = run.stream(n=2, random_seed=5)
    assert [c.index for c in result.choices] == [0, 1]
    assert [c.content for c in result.choices] == [c.content for c in again.choices]
    assert result.choices[0].content != result.choices[1].content
    assert all(c.finish_reason == "stop" for c in result.choices)
    completion = run.complete(n=2, random_seed=5)
    assert [c.message.content for c in completion.choices] == [c.content for c in result.choices]


def test_n_choices_with_tool_calls(client: httpx2.Client) -> None:
    parsed = chunks(stream_events(client, tool_chat(n=2, tool_choice="any")))
    calls = {c["choices"][0]["index"]: c["choices"][0]["delta"]["tool_calls"] for c in parsed if tool_deltas([c])}
    assert sorted(calls) == [0, 1]
    assert calls[0][0]["id"] != calls[1][0]["id"]
    assert {c["choices"][0]["finish_reason"] for c in parsed if c["choices"][0]["finish_reason"]} == {"tool_calls"}


# --- FIM -----------------------------------------------------------------------------------------


def fim(stream: bool = False, **fields: Any) -> dict[str, Any]:
    return {
        "model": "codestral-latest",
        "prompt": "def add(a, b):\n",
        "suffix": "\nprint(add(1, 2))",
        "stream": stream,
        **fields,
    }


def test_fim_answers_like_chat_streamed_or_not(client: httpx2.Client) -> None:
    body = client.post(FIM, json=fim(max_tokens=5)).json()
    conforms("FIMCompletionResponse", body)
    assert body["model"] == "codestral-latest"
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 5
    parsed = chunks(stream_events(client, fim(True, max_tokens=5), path=FIM))
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
    assert text_of(parsed) == choice["message"]["content"]
    other = client.post(FIM, json=fim(suffix="pass", max_tokens=5)).json()
    assert other["choices"][0]["message"]["content"] != choice["message"]["content"]
    longer = client.post(FIM, json=fim(min_tokens=40), headers={"x-mock-tokens": "3"}).json()
    assert longer["usage"]["completion_tokens"] == 40


def test_fim_refuses_chat_models_and_unknown_fields(client: httpx2.Client) -> None:
    response = client.post(FIM, json=fim(model=MODEL))
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_model"
    response = client.post(FIM, json=fim(messages=[]))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "messages"]
    response = client.post(FIM, json={"model": "codestral-latest"})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "prompt"])


# --- Embeddings ----------------------------------------------------------------------------------


def test_embeddings_are_deterministic_unit_vectors(client: httpx2.Client) -> None:
    body = client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": ["hello world", "bye"]}).json()
    conforms("EmbeddingResponse", body)
    assert body["object"] == "list" and body["model"] == "mistral-embed"
    assert [d["index"] for d in body["data"]] == [0, 1]
    first, second = (d["embedding"] for d in body["data"])
    assert len(first) == len(second) == 1024
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-9)
    assert first != second
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
    again = client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": "hello world"}).json()
    assert again["data"][0]["embedding"] == first


def test_embedding_dimensions_and_types(client: httpx2.Client) -> None:
    def vector(**fields: Any) -> Any:
        body = {"model": "codestral-embed", "input": "x", **fields}
        response = client.post(EMBEDDINGS, json=body)
        assert response.status_code == 200, response.text
        return response.json()["data"][0]["embedding"]

    assert len(vector()) == 1536
    assert len(vector(output_dimension=256)) == 256
    int8 = vector(output_dtype="int8", output_dimension=64)
    assert len(int8) == 64 and all(-128 <= v <= 127 for v in int8) and len(set(int8)) > 10
    assert all(0 <= v <= 255 for v in vector(output_dtype="uint8"))
    binary = vector(output_dtype="binary", output_dimension=64)
    assert len(binary) == 8 and all(-128 <= v <= 127 for v in binary) and min(binary) < 0  # 8 dimensions a byte
    # base64 is taken, but the answer stays numbers: the spec's response has no room for a string.
    assert vector(encoding_format="base64", output_dimension=10) == vector(output_dimension=10)
    assert vector(encoding_format="base64", output_dtype="ubinary") == vector(output_dtype="ubinary")
    response = client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": "x", "output_dimension": 10**9})
    assert (response.status_code, response.json()["type"]) == (400, "invalid_request_error")
    assert "output_dimension" in response.json()["message"]
    response = client.post(EMBEDDINGS, json={"model": MODEL, "input": "x"})
    assert (response.status_code, response.json()["code"]) == (400, "1500")
    response = client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": "x", "output_dtype": "int4"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "output_dtype"]


# --- A model's pace --------------------------------------------------------------------------------


class GatedEngine(TemplateEngine):
    """Writes its first piece, then waits until the client has seen it (as a model computing the next)."""

    blocking: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()
        self.waited: list[bool] = []

    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        yield "First"
        self.waited.append(self.seen.wait(timeout=10))
        yield " and last."
        yield Finish("stop", completion_tokens=2)


def test_a_chat_piece_goes_out_before_the_model_computes_the_next() -> None:
    # Holding a piece until the next one is known would add a token's time to the first token.
    engine = GatedEngine()
    body = {"model": MODEL, "messages": [user("Hi")], "stream": True}
    with (
        LocalServer(engine=engine) as server,
        httpx2.Client(base_url=server.base_url) as client,
        client.stream("POST", CHAT, json=body) as response,
    ):
        lines = response.iter_lines()
        first = next(line for line in lines if '"content":"First"' in line)
        engine.seen.set()
        rest = [line for line in lines if line.startswith("data: {")]
    assert '"finish_reason":null' in first
    assert '"content":" and last."' in rest[0] and json.loads(rest[-1][6:])["choices"][0]["finish_reason"] == "stop"
    assert engine.waited == [True]  # the first piece reached the client while the engine waited
