"""A tolerant reader: any field of an answer may be null or missing, unknown fields are ignored, and a
422's field errors are read wherever the API puts them.

Each wire Struct is decoded from documents with every field null, every field missing, and an
unknown field added; then the same shapes go through the sync and the async client over a raw
socket server, as the live service sent them (2026 embeddings and chat usage with null details).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from mistral_client import (
    BadRequestError,
    ChatCompletion,
    ChatCompletionChunk,
    StreamResult,
    UnprocessableEntityError,
    user,
)
from mistral_client._wire import answers as models
from tests.support.helpers import call
from tests.support.rawserver import RawConnection, RawServer, sse

# Every Struct the client decodes from an answer, with what a document needs besides its fields.
WIRE = {
    models.Usage: {},
    models.ContentPart: {},
    models.FunctionCall: {},
    models.ToolCall: {},
    models.DeltaMessage: {},
    models.ChunkChoice: {},
    models.ChatCompletionChunk: {},
    models.AssistantMessage: {},
    models.Choice: {},
    models.ChatCompletion: {},
    models.Model: {"id": "mistral-small-latest"},  # a card's one required field
    models.ModelList: {},
    models.Embedding: {},
    models.EmbeddingResponse: {},
}
# Set by the client on each chunk, never sent by the API.
CLIENT_SIDE = {"is_last", "chunk_latency", "total_latency"}


def wire_fields(cls: type[msgspec.Struct], required: dict[str, Any]) -> list[str]:
    return [name for name in cls.__struct_fields__ if name not in CLIENT_SIDE and name not in required]


def test_every_struct_the_client_decodes_is_listed_here() -> None:
    structs = {
        value for value in vars(models).values() if isinstance(value, type) and issubclass(value, msgspec.Struct)
    }
    assert structs == set(WIRE)


@pytest.mark.parametrize("cls", list(WIRE), ids=lambda cls: cls.__name__)
def test_null_reads_as_missing(cls: type[msgspec.Struct]) -> None:
    required = WIRE[cls]
    missing = msgspec.json.decode(json.dumps(required), type=cls)
    nulls = msgspec.json.decode(json.dumps({**required, **dict.fromkeys(wire_fields(cls, required))}), type=cls)
    for name in wire_fields(cls, required):
        annotation = cls.__annotations__[name]
        if annotation.startswith("OrNull["):
            # The Python type has no None: the field holds its default, exactly as when missing.
            assert getattr(nulls, name) == getattr(missing, name), name
            assert getattr(nulls, name) is not None, name
        else:
            assert getattr(nulls, name) is None, name  # a field that may be None says so


@pytest.mark.parametrize("cls", list(WIRE), ids=lambda cls: cls.__name__)
def test_unknown_fields_are_ignored(cls: type[msgspec.Struct]) -> None:
    required = WIRE[cls]
    extra = {"zz_new_field": {"nested": [1, None, "x"]}, "p": "abcdefgh", "prompt_audio_seconds": None}
    assert msgspec.json.decode(json.dumps({**required, **extra}), type=cls) == msgspec.json.decode(
        json.dumps(required), type=cls
    )


def test_a_field_of_the_wrong_type_is_still_an_error() -> None:
    # Tolerance is for null and absence, not for a different shape.
    with pytest.raises(msgspec.ValidationError, match=r"\$\.choices\[0\]\.index"):
        msgspec.json.decode(b'{"choices":[{"index":"zero"}]}', type=models.ChatCompletionChunk)


def test_a_null_usage_detail_reencodes_as_it_came() -> None:
    usage = msgspec.json.decode(b'{"prompt_tokens":3,"prompt_tokens_details":null}', type=models.Usage)
    assert (
        msgspec.json.encode(usage)
        == b'{"prompt_tokens":3,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":null}'
    )
    absent = msgspec.json.decode(b'{"prompt_tokens":3}', type=models.Usage)
    assert b"prompt_tokens_details" not in msgspec.json.encode(absent)


def test_a_content_part_without_a_type_is_text_and_is_sent_back_with_one() -> None:
    parts = msgspec.json.decode(b'[{"text":"a"},{"type":null,"text":"b"}]', type=list[models.ContentPart])
    assert models.text_of(parts) == "ab"
    assert msgspec.json.encode(parts) == b'[{"type":"text","text":"a"},{"type":"text","text":"b"}]'


# --- Through the clients --------------------------------------------------------------------------

# The usage of a 2026 embeddings answer, as the live service sends it.
NULL_USAGE = (
    '{"prompt_audio_seconds":null,"prompt_tokens":11,"total_tokens":11,"completion_tokens":0,'
    '"request_count":null,"prompt_tokens_details":null,"completion_tokens_details":null,'
    '"service_tier":null,"prompt_token_details":null}'
)
EMBEDDINGS = (
    '{"id":"817d","object":"list","data":[{"object":"embedding","embedding":[0.5,-0.25],"index":0}],'
    f'"model":"mistral-embed","usage":{NULL_USAGE}}}'
)
COMPLETION = (
    '{"id":"c1","created":null,"model":"mistral-small-latest","object":null,"usage":' + NULL_USAGE + ","
    '"choices":[{"index":0,"finish_reason":"stop","logprobs":null,'
    '"message":{"role":null,"tool_calls":null,"prefix":null,"content":"OK"}}]}'
)
STREAM = sse(
    '{"id":"s1","object":"chat.completion.chunk","created":null,"model":"mistral-small-latest",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"logprobs":null}]}',
    '{"id":"s1","object":null,"created":5,"model":"mistral-small-latest",'
    '"choices":[{"index":null,"delta":{"role":null,"content":"Hel","tool_calls":null},"finish_reason":null}]}',
    '{"id":"s1","object":"chat.completion.chunk","created":5,"model":"mistral-small-latest",'
    '"choices":[{"index":0,"delta":{"content":[{"type":null,"text":"lo"}]},"finish_reason":null}]}',
    '{"id":"s1","object":"chat.completion.chunk","created":5,"model":"mistral-small-latest",'
    '"choices":[{"index":0,"delta":{"content":"","tool_calls":[{"id":"abcDEF123","type":null,"index":null,'
    '"function":{"name":"f","arguments":null}}]},"finish_reason":"tool_calls"}],"usage":' + NULL_USAGE + "}",
    "[DONE]",
)
MODELS = (
    '{"object":null,"data":[{"id":"mistral-small-latest","object":null,"created":null,"owned_by":null,'
    '"capabilities":null,"aliases":null,"name":null,"max_context_length":null,"deprecation":null}]}'
)


def answering(body: bytes | str, content_type: str = "application/json", status: int = 200) -> RawServer:
    data = body.encode() if isinstance(body, str) else body

    def handler(conn: RawConnection) -> None:
        conn.send_full(status, data, content_type=content_type, extra="mistral-correlation-id: req-7\r\n")

    return RawServer(handler)


def through(kind: str, base_url: str, method: str, **kw: Any) -> Any:
    return call(kind, {"base_url": base_url, "max_retries": 0}, method, **kw)


CHAT = {"model": "mistral-small-latest", "messages": [user("Hi")]}


def test_embeddings_with_null_usage_details(kind: str) -> None:
    with answering(EMBEDDINGS) as server:
        answer = through(kind, server.base_url, "embeddings.create", model="mistral-embed", input="Hello")
    assert answer.vectors == [[0.5, -0.25]]
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.total_tokens) == (11, 11)
    assert answer.usage.prompt_tokens_details is None


def test_a_chat_answer_with_nulls(kind: str) -> None:
    with answering(COMPLETION) as server:
        answer: ChatCompletion = through(kind, server.base_url, "chat.complete", **CHAT)
    assert (answer.id, answer.created, answer.object, answer.content) == ("c1", 0, "chat.completion", "OK")
    assert answer.choices[0].message.role == "assistant" and answer.choices[0].message.prefix is False
    assert answer.usage is not None and answer.usage.total_tokens == 11


def test_a_stream_with_nulls_keeps_its_finish_reason_and_usage(kind: str) -> None:
    with answering(STREAM, "text/event-stream") as server:
        chunks: list[ChatCompletionChunk]
        result: StreamResult
        chunks, result, _ = through(kind, server.base_url, "chat.stream", **CHAT)
    assert result.content == "Hello" and not result.cancelled
    assert result.finish_reason == "tool_calls" and chunks[-1].is_last
    assert result.usage is not None and (result.usage.prompt_tokens, result.usage.total_tokens) == (11, 11)
    (call,) = result.tool_calls
    assert (call.id, call.type, call.function.name, call.function.arguments) == ("abcDEF123", "function", "f", "")
    assert call.parsed_arguments() == {}
    assert [chunk.object for chunk in chunks] == ["chat.completion.chunk"] * 4
    assert [chunk.choices[0].index for chunk in chunks] == [0, 0, 0, 0]


def test_a_model_list_with_nulls(kind: str) -> None:
    with answering(MODELS) as server:
        listed = through(kind, server.base_url, "models.list")
    (card,) = listed.data
    assert (listed.object, card.id, card.object, card.created, card.aliases, card.capabilities) == (
        "list",
        "mistral-small-latest",
        "model",
        0,
        [],
        {},
    )


# --- 422: the field errors, wherever they sit -------------------------------------------------------

FIELD_ERRORS = [
    {
        "type": "extra_forbidden",
        "loc": ["body", "messages", 0, "user", "name"],
        "msg": "Extra inputs are not permitted",
    },
    {"type": "less_than_equal", "loc": ["body", "temperature"], "msg": "Input should be less than or equal to 1"},
]
SHOWN = "messages.0.user.name: Extra inputs are not permitted; temperature: Input should be less than or equal to 1"
ENVELOPE = {"object": "error", "type": "invalid_request_error", "param": None, "code": None}
SHAPES = {
    "top level": {"detail": FIELD_ERRORS},
    "inside message": {**ENVELOPE, "message": {"detail": FIELD_ERRORS}},
    # A proxy that sent the same object again as a JSON string (seen in 2024).
    "inside message, as a string": {
        **ENVELOPE,
        "type": "internal_error_proxy",
        "code": "1000",
        "message": json.dumps({"detail": FIELD_ERRORS}),
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_422_lists_its_field_errors_in_every_shape(kind: str, shape: str) -> None:
    body = SHAPES[shape]
    with answering(json.dumps(body), status=422) as server, pytest.raises(UnprocessableEntityError) as caught:
        through(kind, server.base_url, "chat.complete", **CHAT)
    error = caught.value
    assert error.detail == FIELD_ERRORS
    assert error.message == SHOWN
    typed = f" type={body['type']}" if "type" in body else ""
    assert str(error).startswith(f"422 {SHOWN}{typed} ") and "{" not in str(error)
    assert (error.type, error.code, error.request_id) == (body.get("type"), body.get("code"), "req-7")


def test_a_message_that_is_an_object_shows_as_json(kind: str) -> None:
    body = {**ENVELOPE, "message": {"reason": "gateway", "retry": False}}
    with answering(json.dumps(body), status=400) as server, pytest.raises(BadRequestError) as caught:
        through(kind, server.base_url, "chat.complete", **CHAT)
    assert caught.value.message == '{"reason":"gateway","retry":false}'
    assert "{'" not in str(caught.value)
