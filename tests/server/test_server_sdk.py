"""The official SDKs against the local server: every answer it gives must parse in them.

``mistralai`` (built from the official OpenAPI description) runs every endpoint and answer mode:
chat, streams, tools, JSON schema, reasoning, ``n`` choices, FIM, embeddings in every dtype and
encoding, models, and each error status the server gives, which must surface as the SDK's typed
error with the right status. ``openai`` runs what it shares with Mistral's API: chat, streams,
embeddings, models, errors. Both come with the ``bench`` extra: without them these tests skip,
except in CI (``CI=true``), which installs it: there they fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mistral_client.server import KNOWN_MODELS, LocalServer
from tests.support.shared import need

KEY = "sk-sdk-test"
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
BOOK = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
DTYPES = ["float", "int8", "uint8", "binary", "ubinary"]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def errors() -> Any:
    return need("mistralai.client.errors")


@pytest.fixture
def sdk(server: LocalServer) -> Iterator[Any]:
    client = need("mistralai.client").Mistral(api_key=KEY, server_url=server.base_url)
    with client:
        yield client


@pytest.fixture
def oai(server: LocalServer) -> Iterator[Any]:
    client = need("openai").OpenAI(api_key=KEY, base_url=f"{server.base_url}/v1", max_retries=0)
    with client:
        yield client


def streamed(events: Any) -> list[Any]:
    """The chunks of a mistralai stream, read to the end."""
    with events as stream:
        return [event.data for event in stream]


# --- mistralai: answers ---------------------------------------------------------------------------


def test_complete(sdk: Any) -> None:
    answer = sdk.chat.complete(model="mistral-small-latest", messages=ASK, max_tokens=5, random_seed=1)
    choice = answer.choices[0]
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason == "length" and answer.usage.completion_tokens == 5
    assert answer.model == "mistral-small-latest" and answer.object == "chat.completion"


def test_stream(sdk: Any) -> None:
    chunks = streamed(sdk.chat.stream(model="mistral-small-latest", messages=ASK, max_tokens=5))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text and chunks[-1].choices[0].finish_reason == "length"
    assert chunks[-1].usage.completion_tokens == 5
    assert len({chunk.id for chunk in chunks}) == 1


def test_tools(sdk: Any) -> None:
    answer = sdk.chat.complete(model="mistral-small-latest", messages=ASK, tools=[WEATHER], tool_choice="any")
    (call,) = answer.choices[0].message.tool_calls
    assert answer.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and len(call.id) == 9
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    chunks = streamed(sdk.chat.stream(model="mistral-small-latest", messages=ASK, tools=[WEATHER], tool_choice="any"))
    calls = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or ()]
    assert [c.function.name for c in calls] == ["get_weather"] and len(calls[0].id) == 9
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_json_schema_response_format(sdk: Any) -> None:
    response_format = {"type": "json_schema", "json_schema": {"name": "book", "schema": BOOK}}
    answer = sdk.chat.complete(model="mistral-small-latest", messages=ASK, response_format=response_format)
    assert isinstance(json.loads(answer.choices[0].message.content)["title"], str)
    chunks = streamed(sdk.chat.stream(model="mistral-small-latest", messages=ASK, response_format=response_format))
    assert isinstance(json.loads("".join(c.choices[0].delta.content or "" for c in chunks))["title"], str)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("magistral-medium-latest", {}),
        ("magistral-small-2509", {}),
        ("mistral-small-latest", {"prompt_mode": "reasoning"}),
    ],
)
def test_reasoning(sdk: Any, model: str, fields: dict[str, Any]) -> None:
    thinking, text = sdk.chat.complete(model=model, messages=ASK, **fields).choices[0].message.content
    assert thinking.type == "thinking" and thinking.thinking[0].text
    assert text.type == "text" and text.text
    chunks = streamed(sdk.chat.stream(model=model, messages=ASK, **fields))
    parts = [
        part for c in chunks if isinstance(c.choices[0].delta.content, list) for part in c.choices[0].delta.content
    ]
    kinds = [part.type for part in parts]
    assert kinds[0] == "thinking" and kinds[-1] == "text" and kinds == sorted(kinds, reverse=True)


def test_n_choices(sdk: Any) -> None:
    answer = sdk.chat.complete(model="mistral-small-latest", messages=ASK, n=3)
    assert [choice.index for choice in answer.choices] == [0, 1, 2]
    assert all(choice.message.content for choice in answer.choices)
    chunks = streamed(sdk.chat.stream(model="mistral-small-latest", messages=ASK, n=3))
    finished = {c.choices[0].index for c in chunks if c.choices and c.choices[0].finish_reason}
    assert finished == {0, 1, 2} and chunks[-1].usage is not None


def test_fim(sdk: Any) -> None:
    answer = sdk.fim.complete(model="codestral-latest", prompt="def add(a, b):", suffix="return c", max_tokens=4)
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "length"
    chunks = streamed(sdk.fim.stream(model="codestral-2508", prompt="def add(a, b):", suffix="return c"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model == "codestral-2508"


@pytest.mark.parametrize("encoding", ["float", "base64"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model", ["mistral-embed", "codestral-embed"])
def test_embeddings_in_every_dtype_and_encoding(sdk: Any, model: str, dtype: str, encoding: str) -> None:
    answer = sdk.embeddings.create(
        model=model, inputs=["first", "second"], output_dtype=dtype, encoding_format=encoding, output_dimension=64
    )
    assert [item.index for item in answer.data] == [0, 1]
    first, second = (item.embedding for item in answer.data)
    assert len(first) == (8 if "binary" in dtype else 64) and first != second
    same = sdk.embeddings.create(model=model, inputs="first", output_dtype=dtype, output_dimension=64)
    assert same.data[0].embedding == first  # base64 asked, numbers answered: the same numbers


def test_models_list_and_retrieve(sdk: Any) -> None:
    listed = sdk.models.list()
    assert [card.id for card in listed.data] == list(KNOWN_MODELS)
    card = sdk.models.retrieve(model_id="magistral-medium-2509")
    assert card.id == "magistral-medium-2509" and card.capabilities.reasoning and card.capabilities.completion_chat
    assert sdk.models.retrieve(model_id="codestral-latest").capabilities.completion_fim


def test_async_stream_and_embeddings(sdk: Any) -> None:
    async def main() -> tuple[list[Any], Any]:
        events = await sdk.chat.stream_async(model="magistral-small-latest", messages=ASK, max_tokens=3)
        async with events as stream:
            chunks = [event.data async for event in stream]
        vectors = await sdk.embeddings.create_async(model="mistral-embed", inputs="x", encoding_format="base64")
        return chunks, vectors

    chunks, vectors = asyncio.run(main())
    assert chunks[-1].choices[0].finish_reason == "length"
    assert len(vectors.data[0].embedding) == 1024


# --- mistralai: every error status ----------------------------------------------------------------


def raises(errors: Any, call: Callable[[], Any], status: int, kind: str = "SDKError") -> Any:
    """The SDK error ``call`` raises: of class ``kind``, with ``status`` and a JSON body."""
    with pytest.raises(errors.MistralError) as caught:
        call()
    error = caught.value
    assert type(error).__name__ == kind, str(error)
    assert error.status_code == status and error.headers["content-type"] == "application/json"
    json.loads(error.body)
    return error


def test_400_invalid_model(sdk: Any, errors: Any) -> None:
    error = raises(errors, lambda: sdk.chat.complete(model="mistral-tiny-2019", messages=ASK), 400)
    assert json.loads(error.body)["type"] == "invalid_model"
    raises(errors, lambda: sdk.fim.complete(model="magistral-medium-latest", prompt="x"), 400)
    raises(errors, lambda: sdk.embeddings.create(model="mistral-small-latest", inputs="x"), 400)


def test_401_wrong_key(server: LocalServer, errors: Any) -> None:
    with need("mistralai.client").Mistral(api_key="wrong", server_url=server.base_url) as wrong:
        error = raises(errors, lambda: wrong.chat.complete(model="mistral-small-latest", messages=ASK), 401)
        raises(errors, lambda: streamed(wrong.chat.stream(model="mistral-small-latest", messages=ASK)), 401)
    assert json.loads(error.body) == {"detail": "Unauthorized"}


def test_404_unknown_model_and_path(server: LocalServer, sdk: Any, errors: Any) -> None:
    raises(errors, lambda: sdk.models.retrieve(model_id="mistral-tiny"), 404)
    with need("mistralai.client").Mistral(api_key=KEY, server_url=f"{server.base_url}/elsewhere") as lost:
        error = raises(errors, lambda: lost.chat.complete(model="mistral-small-latest", messages=ASK), 404)
    assert json.loads(error.body)["type"] == "not_found"


def test_413_body_too_large(errors: Any) -> None:
    sdk_module = need("mistralai.client")
    with LocalServer(max_body_size=1000) as small, sdk_module.Mistral(api_key="k", server_url=small.base_url) as sdk:
        long = [{"role": "user", "content": "x" * 1000}]
        raises(errors, lambda: sdk.chat.complete(model="mistral-small-latest", messages=long), 413)
        raises(errors, lambda: sdk.embeddings.create(model="mistral-embed", inputs=["x" * 1000]), 413)


def test_422_validation(sdk: Any, errors: Any) -> None:
    error = raises(
        errors,
        lambda: sdk.chat.complete(model="mistral-small-latest", messages=ASK, temperature=5),
        422,
        "HTTPValidationError",
    )
    (detail,) = error.data.detail
    assert detail.loc == ["body", "temperature"] and detail.type == "less_than_equal"
    error = raises(
        errors,
        lambda: sdk.fim.complete(model="codestral-latest", prompt="x", max_tokens=-1),
        422,
        "HTTPValidationError",
    )
    assert error.data.detail[0].loc == ["body", "max_tokens"]


def test_429_rate_limited(errors: Any) -> None:
    sdk_module = need("mistralai.client")
    with LocalServer(rate_limit=1) as limited, sdk_module.Mistral(api_key="k", server_url=limited.base_url) as sdk:
        sdk.chat.complete(model="mistral-small-latest", messages=ASK)
        error = raises(errors, lambda: sdk.chat.complete(model="mistral-small-latest", messages=ASK), 429)
    assert json.loads(error.body)["type"] == "rate_limited" and int(error.headers["retry-after"]) >= 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 502, 503, 504])
def test_every_injected_status(sdk: Any, errors: Any, status: int) -> None:
    fault = {"x-mock-status": str(status)}
    kind = "HTTPValidationError" if status == 422 else "SDKError"
    raises(
        errors, lambda: sdk.chat.complete(model="mistral-small-latest", messages=ASK, http_headers=fault), status, kind
    )
    raises(
        errors,
        lambda: streamed(sdk.chat.stream(model="mistral-small-latest", messages=ASK, http_headers=fault)),
        status,
        kind,
    )
    raises(errors, lambda: sdk.embeddings.create(model="mistral-embed", inputs="x", http_headers=fault), status, kind)


# --- openai ---------------------------------------------------------------------------------------


def test_openai_chat_stream_and_tools(oai: Any) -> None:
    answer = oai.chat.completions.create(model="mistral-small-latest", messages=ASK, max_tokens=4)
    assert answer.choices[0].message.content and answer.choices[0].finish_reason == "length"
    chunks = list(oai.chat.completions.create(model="mistral-small-latest", messages=ASK, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage.total_tokens > 0
    called = oai.chat.completions.create(
        model="mistral-small-latest", messages=ASK, tools=[WEATHER], tool_choice="required"
    )
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_openai_embeddings(oai: Any) -> None:
    floats = oai.embeddings.create(model="mistral-embed", input=["a", "b"], encoding_format="float").data[0].embedding
    assert len(floats) == 1024
    # Asked for base64 explicitly, openai hands back what came: the same numbers.
    assert (
        oai.embeddings.create(model="mistral-embed", input=["a"], encoding_format="base64").data[0].embedding == floats
    )
    # By default it asks for base64 and decodes strings only: numbers pass through.
    assert oai.embeddings.create(model="mistral-embed", input="a").data[0].embedding == floats


def test_openai_models_and_errors(oai: Any, server: LocalServer) -> None:
    openai = need("openai")
    assert [model.id for model in oai.models.list()] == list(KNOWN_MODELS)
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model="gpt-4o", messages=ASK)
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("mistral-tiny")
    with pytest.raises(openai.UnprocessableEntityError):
        oai.chat.completions.create(model="mistral-small-latest", messages=ASK, temperature=5)
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="mistral-small-latest", messages=ASK, extra_headers={"x-mock-status": "429"})
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="mistral-small-latest", messages=ASK, extra_headers={"x-mock-status": "503"})
    wrong = openai.OpenAI(api_key="wrong", base_url=f"{server.base_url}/v1", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="mistral-small-latest", messages=ASK)
