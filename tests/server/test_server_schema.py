"""Everything the server emits validates against the official schemas, over a broad matrix of
requests: every answer mode crossed with every stream knob, streamed and not.

The one deliberate departure: the fragmented tool call style imitates OpenAI/vLLM, whose argument
pieces carry no function ``name``, which Mistral's ``FunctionCall`` schema requires. Those pieces
are checked to differ from the schema in exactly that and nothing else.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from tests.support.openapi import conforms, validator
from tests.support.servertools import CHAT, DONE, EMBEDDINGS, FIM, SEARCH, WEATHER, chat, events

ASK = [{"role": "user", "content": "Call get_weather and search_docs about Paris"}]
MODES: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {
    "plain": (CHAT, chat(), {}),
    "max_tokens": (CHAT, chat(max_tokens=3), {}),
    "stop": (CHAT, chat(stop=["e"]), {}),
    "tool whole": (CHAT, chat(messages=ASK, tools=[WEATHER], tool_choice="any"), {}),
    "tools whole": (CHAT, chat(messages=ASK, tools=[WEATHER, SEARCH]), {}),
    "tool fragmented": (
        CHAT,
        chat(messages=ASK, tools=[WEATHER, SEARCH], tool_choice="any"),
        {"x-mock-tool-call-style": "fragmented"},
    ),
    "json_object": (CHAT, chat(response_format={"type": "json_object"}), {}),
    "json_schema": (
        CHAT,
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": WEATHER["function"]["parameters"]},
            }
        ),
        {},
    ),
    "reasoning": (CHAT, chat(prompt_mode="reasoning"), {}),
    "n=3": (CHAT, chat(n=3), {}),
    "n=2 tools": (CHAT, chat(n=2, messages=ASK, tools=[WEATHER], tool_choice="any"), {}),
    "n=2 reasoning": (CHAT, chat(n=2, prompt_mode="reasoning", max_tokens=2), {}),
    "fim": (FIM, {"model": "codestral-latest", "prompt": "def f(", "suffix": "pass", "stream": True}, {}),
}
KNOBS: dict[str, dict[str, str]] = {
    "defaults": {},
    "separate usage": {"x-mock-usage-chunk": "separate"},
    "finish error": {"x-mock-finish-error-after": "2"},
    "crlf and keep-alives": {"x-mock-crlf": "1", "x-mock-keepalive": "1"},
    "no done": {"x-mock-no-done": "1"},
    "no tokens": {"x-mock-tokens": "0"},
    "one token": {"x-mock-tokens": "1"},
    "error event": {"x-mock-error-event-after": "1"},
    "malformed event": {"x-mock-malformed-after": "1"},
    "paced": {"x-mock-token-delay": "0.001", "x-mock-first-token-delay": "0.001"},
}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx2.Client]:
    with LocalServer() as server, httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def check_chunk(chunk: dict[str, Any], fragmented: bool) -> None:
    if fragmented:
        chunk = copy.deepcopy(chunk)
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                if set(call["function"]) == {"arguments"}:
                    conforms("CompletionChunk", chunk, valid=False)  # the known departure...
                    call["function"]["name"] = "get_weather"  # ...and the only one
    conforms("CompletionChunk", chunk)


@pytest.mark.parametrize(("mode", "knob"), list(itertools.product(MODES, KNOBS)))
def test_every_stream_chunk_validates(client: httpx2.Client, mode: str, knob: str) -> None:
    path, body, mode_headers = MODES[mode]
    headers = {"x-mock-tokens": "6", **mode_headers, **KNOBS[knob]}
    with client.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        data = events(response.read(), eol=b"\r\n" if "x-mock-crlf" in headers else b"\n")
    ends_early = "x-mock-error-event-after" in headers
    assert (data[-1] == DONE) == ("x-mock-no-done" not in headers and not ends_early)
    parsed = []
    for item in data:
        if item == DONE:
            continue
        try:
            value = json.loads(item)
        except json.JSONDecodeError:
            assert "x-mock-malformed-after" in headers, item
            continue
        if value.get("object") == "error":
            assert ends_early and item is data[-1]
            continue
        check_chunk(value, fragmented=mode == "tool fragmented")
        parsed.append(value)
    if ends_early:
        return
    usage_chunks = [c for c in parsed if "usage" in c]
    assert len(usage_chunks) == 1 and usage_chunks[0] is parsed[-1]
    indexes = {choice["index"] for c in parsed for choice in c["choices"]}
    finished = {choice["index"] for c in parsed for choice in c["choices"] if choice["finish_reason"]}
    assert finished == indexes, "every choice gets a finish reason"


NON_STREAM = [(name, path, {**body, "stream": False}, headers) for name, (path, body, headers) in MODES.items()]


@pytest.mark.parametrize(("mode", "path", "body", "headers"), NON_STREAM, ids=[m for m, *_ in NON_STREAM])
def test_every_whole_answer_validates(
    client: httpx2.Client, mode: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    for extra in ({}, {"x-mock-tokens": "0"}, {"x-mock-first-token-delay": "0.001"}):
        response = client.post(path, json=body, headers={**headers, **extra})
        assert response.status_code == 200
        answer = response.json()
        conforms("FIMCompletionResponse" if path == FIM else "ChatCompletionResponse", answer)
        assert "data" not in answer


def test_embeddings_validate(client: httpx2.Client) -> None:
    for fields in ({}, {"input": ["a", "b", ""]}, {"output_dimension": 8, "output_dtype": "int8"}):
        response = client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": "hello", **fields})
        validator("EmbeddingResponse").validate(response.json())


EMBEDDING_OPTIONS = list(
    itertools.product(
        ["mistral-embed", "codestral-embed-2505"],
        ["float", "int8", "uint8", "binary", "ubinary"],
        ["float", "base64"],
    )
)


@pytest.mark.parametrize(("model", "dtype", "encoding"), EMBEDDING_OPTIONS)
def test_embeddings_validate_for_every_option_the_request_allows(
    client: httpx2.Client, model: str, dtype: str, encoding: str
) -> None:
    fields = {"output_dtype": dtype, "encoding_format": encoding}
    request = {"model": model, "input": ["hello", "world"], **fields}
    validator("EmbeddingRequest").validate(request)
    response = client.post(EMBEDDINGS, json=request)
    assert response.status_code == 200, response.text
    validator("EmbeddingResponse").validate(response.json())


def test_models_validate(client: httpx2.Client) -> None:
    body = client.get("/v1/models").json()
    validator("ModelList").validate(body)
    for card in body["data"]:
        validator("BaseModelCard").validate(client.get(f"/v1/models/{card['id']}").json())


ERROR_ENVELOPE = {"object", "message", "type", "param", "code"}


def test_every_error_has_its_documented_shape(client: httpx2.Client) -> None:
    validation = [
        client.post(CHAT, json=chat(temperature=5)),
        client.post(FIM, json={"model": "codestral-latest"}),
        client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": 3}),
        client.post(CHAT, content=b"{", headers={"content-type": "application/json"}),
        client.post(CHAT, json=chat(), headers={"x-mock-status": "422"}),
    ]
    for response in validation:
        assert response.status_code == 422
        conforms("HTTPValidationError", response.json())
    enveloped = [
        client.post(CHAT, json=chat(model="nope")),
        client.post(CHAT, json=chat(messages=[{"role": "assistant", "content": "x"}])),
        client.post(CHAT, json=chat(), headers={"x-mock-tokens": "x"}),
        client.get("/v1/models/nope"),
        *(
            client.post(CHAT, json=chat(), headers={"x-mock-status": str(s)})
            for s in (400, 404, 429, 500, 502, 503, 504, 418)
        ),
        client.post(CHAT, json=chat(), headers={"x-mock-rate-limit": "0", "x-mock-id": "schema"}),
    ]
    for response in enveloped:
        assert response.status_code >= 400
        body = response.json()
        assert set(body) == ERROR_ENVELOPE and body["object"] == "error"
        assert isinstance(body["message"], str) and isinstance(body["code"], str) and body["param"] is None
    assert client.post(CHAT, json=chat(), headers={"x-mock-api-key": "k"}).json() == {"detail": "Unauthorized"}
