"""Request validation: the server agrees with the official ChatCompletionRequest schema, and applies
the live service's message rules as 400s in its error envelope."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mistral_client import AsyncMistral, BadRequestError, Mistral, UnprocessableEntityError, user
from mistral_client.server import LocalServer
from mistral_client.server._requests import StrictChatRequest, schema_problems
from tests.support.openapi import conforms, spec, validator
from tests.support.servertools import CHAT, MODEL, chat

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
CALL = {"id": "abcDEF123", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def spec_valid(body: Any) -> bool:
    return validator("ChatCompletionRequest").is_valid(body)


# Valid by the spec: the server must not answer 422 (it may answer 400 for a message rule).
VALID: list[dict[str, Any]] = [
    chat(),
    chat(stream=False, temperature=0, top_p=1, max_tokens=0, random_seed=0, stop="x", n=2),
    chat(stop=["a", "b"], presence_penalty=-2, frequency_penalty=2, safe_prompt=True, metadata={"k": [1]}),
    chat(response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": {}, "strict": True}}),
    chat(response_format={"type": "text"}, prediction={"type": "content", "content": "x"}),
    chat(tools=[TOOL], tool_choice="required", parallel_tool_calls=False),
    chat(tools=[{"function": {"name": "f", "parameters": {}}}], tool_choice={"function": {"name": "f"}}),
    chat(tools=[{"type": "web_search"}, {"type": "document_library", "library_ids": ["a"]}]),
    chat(tools=[{"type": "connector", "connector_id": "c", "authorization": {"type": "api-key", "value": "v"}}]),
    chat(reasoning_effort="high", prompt_mode="reasoning", service_tier="auto", prompt_cache_key="k"),
    chat(guardrails=[{"block_on_error": True, "moderation_llm_v1": {"action": "block", "extra": 1}}]),
    chat(temperature=None, top_p=None, max_tokens=None, n=None, tools=None, prompt_mode=None),
    chat(
        messages=[
            {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                    {"type": "image_url", "image_url": "https://x/y.png"},
                    {"type": "document_url", "document_url": "https://x/d.pdf"},
                    {"type": "file", "file_id": "5f1e0c9a-3b2d-4c8e-9a7f-1d2e3f4a5b6c"},
                    {"type": "input_audio", "input_audio": "AAAA"},
                    {"type": "reference", "reference_ids": [1, "a"]},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": [{"type": "text", "text": "hm"}]}],
                "tool_calls": [CALL, {**CALL, "id": "zzzZZZ999", "function": {"name": "f", "arguments": {"a": 1}}}],
            },
            {"role": "tool", "content": None, "tool_call_id": "abcDEF123", "name": "f"},
            {"role": "tool", "content": [{"type": "text", "text": "ok"}], "tool_call_id": "zzzZZZ999"},
        ]
    ),
    chat(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "prefix": True}]),
]

# Invalid by the spec, with the field path the 422 must name.
INVALID: list[tuple[dict[str, Any], list[str | int]]] = [
    (chat(store=False), ["body", "store"]),
    (chat(temperature=1.6), ["body", "temperature"]),
    (chat(top_p=0), ["body", "top_p"]),
    (chat(max_tokens=-1), ["body", "max_tokens"]),
    (chat(max_tokens="5"), ["body", "max_tokens"]),
    (chat(max_tokens=True), ["body", "max_tokens"]),
    (chat(stream=None), ["body", "stream"]),
    (chat(stop=[1]), ["body", "stop", 0]),
    (chat(n=0), ["body", "n"]),
    (chat(presence_penalty=2.5), ["body", "presence_penalty"]),
    (chat(prompt_mode="fast"), ["body", "prompt_mode"]),
    (chat(reasoning_effort="max"), ["body", "reasoning_effort"]),
    (chat(service_tier="gold"), ["body", "service_tier"]),
    (chat(response_format=None), ["body", "response_format"]),
    (chat(response_format={"type": "xml"}), ["body", "response_format", "type"]),
    (
        chat(response_format={"type": "json_schema", "json_schema": {"name": "n"}}),
        ["body", "response_format", "json_schema", "schema"],
    ),
    (chat(tool_choice="sometimes"), ["body", "tool_choice"]),
    (chat(tools=[{"type": "function", "function": {"name": "f"}}]), ["body", "tools", 0, "function", "parameters"]),
    (chat(tools=[{**TOOL, "extra": 1}]), ["body", "tools", 0, "extra"]),
    (chat(tools=[{"type": "document_library", "library_ids": []}]), ["body", "tools", 0, "library_ids"]),
    (chat(messages="hi"), ["body", "messages"]),
    (chat(messages=[{"role": "robot", "content": "x"}]), ["body", "messages", 0, "role"]),
    (chat(messages=[{"role": "user"}]), ["body", "messages", 0, "content"]),
    (chat(messages=[{"role": "user", "content": "x", "name": "bob"}]), ["body", "messages", 0, "name"]),
    (chat(messages=[{"role": "system", "content": None}]), ["body", "messages", 0, "content"]),
    (chat(messages=[{"role": "user", "content": [{"type": "text"}]}]), ["body", "messages", 0, "content", 0, "text"]),
    (
        chat(messages=[{"role": "user", "content": [{"type": "video", "url": "x"}]}]),
        ["body", "messages", 0, "content", 0, "type"],
    ),
    (
        chat(messages=[{"role": "assistant", "tool_calls": [{"id": "abcDEF123"}]}]),
        ["body", "messages", 0, "tool_calls", 0, "function"],
    ),
    (chat(metadata=[1]), ["body", "metadata"]),
    (chat(guardrails=[{"block_on_error": "yes"}]), ["body", "guardrails", 0, "block_on_error"]),
]


@pytest.mark.parametrize("body", VALID, ids=[str(i) for i in range(len(VALID))])
def test_what_the_spec_accepts_is_not_a_422(client: httpx2.Client, body: dict[str, Any]) -> None:
    conforms("ChatCompletionRequest", body)  # the sample itself must be valid by the spec
    response = client.post(CHAT, json={**body, "stream": False})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert response.json()["object"] == "error"


@pytest.mark.parametrize("body, loc", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_what_the_spec_refuses_is_a_422_naming_the_field(
    client: httpx2.Client, body: dict[str, Any], loc: list[str | int]
) -> None:
    conforms("ChatCompletionRequest", body, valid=False)  # the sample itself must be invalid by the spec
    response = client.post(CHAT, json=body)
    assert response.status_code == 422, response.text
    conforms("HTTPValidationError", response.json())
    (problem,) = response.json()["detail"]
    assert set(problem) == {"type", "loc", "msg", "input"}
    assert problem["loc"] == loc, problem
    assert problem["msg"] and problem["type"]


def test_some_422s_read_like_fastapi_ones(client: httpx2.Client) -> None:
    def detail(body: Any) -> list[dict[str, Any]]:
        response = client.post(CHAT, json=body)
        assert response.status_code == 422
        return list(response.json()["detail"])

    assert detail(chat(max_tokens=-1)) == [
        {
            "type": "greater_than_equal",
            "loc": ["body", "max_tokens"],
            "msg": "Input should be greater than or equal to 0",
            "input": -1,
        }
    ]
    assert detail(chat(max_tokens="5")) == [
        {"type": "int_type", "loc": ["body", "max_tokens"], "msg": "Input should be a valid integer", "input": "5"}
    ]
    missing = detail(chat(messages=[{"role": "user"}]))
    assert missing == [
        {
            "type": "missing",
            "loc": ["body", "messages", 0, "content"],
            "msg": "Field required",
            "input": {"role": "user"},
        }
    ]
    both = detail({"stream": True, "x": 1})
    assert [(p["type"], p["loc"]) for p in both] == [
        ("missing", ["body", "model"]),
        ("missing", ["body", "messages"]),
        ("extra_forbidden", ["body", "x"]),
    ]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-3, 3, allow_nan=False).filter(lambda f: not f.is_integer())
    | st.sampled_from(["auto", "any", "none", "required", "reasoning", "text", "json_object", "function", "", "user"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["type", "function", "name", "parameters", "content", "role", "json_schema", "schema"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)
FIELDS = sorted(set(StrictChatRequest.__struct_fields__) - {"model", "messages"})


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=3))
def test_the_structs_agree_with_the_spec_on_random_values(fields: dict[str, Any]) -> None:
    # Integral floats (2.0) are left out: the spec takes them as integers, msgspec does not.
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], **fields}
    problems = schema_problems(body, StrictChatRequest)
    assert (not problems) == spec_valid(body), (body, problems)


# --- The live service's rules ----------------------------------------------------------------------


RULES: list[tuple[list[dict[str, Any]], str, str, str]] = [
    (
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
        "Expected last role User or Tool (or Assistant with prefix True) for serving but got assistant",
        "invalid_request_message_order",
        "3230",
    ),
    (
        [{"role": "system", "content": "x"}],
        "Expected last role User or Tool (or Assistant with prefix True) for serving but got system",
        "invalid_request_message_order",
        "3230",
    ),
    (
        [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "content": "1", "tool_call_id": CALL["id"]},
            {"role": "user", "content": "and?"},
        ],
        "Unexpected role 'user' after role 'tool'",
        "invalid_request_message_order",
        "3230",
    ),
    (
        [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [{**CALL, "id": "call_0fypS1hVX"}]}],
        "Tool call id was call_0fypS1hVX but must be a-z, A-Z, 0-9, with a length of 9.",
        "invalid_function_call",
        "3280",
    ),
    (
        [{"role": "user", "content": "x"}, {"role": "tool", "content": "1", "tool_call_id": "abc-12345"}],
        "Tool call id was abc-12345 but must be a-z, A-Z, 0-9, with a length of 9.",
        "invalid_function_call",
        "3280",
    ),
]


@pytest.mark.parametrize("messages, message, kind, code", RULES, ids=[str(i) for i in range(len(RULES))])
def test_message_rules_are_400s_in_the_error_envelope(
    client: httpx2.Client, messages: list[dict[str, Any]], message: str, kind: str, code: str
) -> None:
    conforms("ChatCompletionRequest", chat(messages=messages))
    response = client.post(CHAT, json=chat(messages=messages))
    assert response.status_code == 400
    assert response.json() == {"object": "error", "message": message, "type": kind, "param": None, "code": code}


def test_unknown_and_wrong_kind_models_are_invalid_model(client: httpx2.Client) -> None:
    for model in ("xyz", "mistral-embed"):
        response = client.post(CHAT, json=chat(model=model))
        assert response.status_code == 400
        assert response.json() == {
            "object": "error",
            "message": f"Invalid model: {model}",
            "type": "invalid_model",
            "param": None,
            "code": "1500",
        }


def test_the_client_raises_typed_errors_for_both(server: LocalServer) -> None:
    base_url = server.base_url
    with Mistral(base_url=base_url) as client:
        with pytest.raises(BadRequestError, match="after role 'tool'") as caught:
            client.chat.complete(
                model=MODEL,
                messages=[
                    user("x"),
                    {"role": "assistant", "tool_calls": [CALL]},
                    {"role": "tool", "content": "1", "tool_call_id": CALL["id"]},
                    user("y"),
                ],
            )
        assert caught.value.status_code == 400
        with pytest.raises(UnprocessableEntityError):
            client.chat.complete(model=MODEL, messages=[user("x")], extra_headers={"x-mock-status": "422"})

    async def main() -> None:
        async with AsyncMistral(base_url=base_url) as client:
            with pytest.raises(BadRequestError, match="Invalid model"):
                async with client.chat.stream(model="xyz", messages=[user("x")]) as stream:
                    async for _ in stream:
                        pass

    asyncio.run(main())


@pytest.mark.parametrize(
    ("name", "strict"),
    [
        ("ChatCompletionRequest", "StrictChatRequest"),
        ("FIMCompletionRequest", "StrictFIMRequest"),
        ("EmbeddingRequest", "StrictEmbeddingRequest"),
    ],
)
def test_each_request_struct_has_the_fields_of_its_schema(name: str, strict: str) -> None:
    from mistral_client.server import _requests

    struct = getattr(_requests, strict)
    assert set(struct.__struct_fields__) == set(spec()["components"]["schemas"][name]["properties"])
