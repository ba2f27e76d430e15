"""Helpers for the local server's tests (tests/server/test_server*.py): requests, and reading SSE bodies strictly."""

from __future__ import annotations

import json
from typing import Any

import httpx2

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "user", "content": "Tell me a short story about a server"}]
CHAT = "/v1/chat/completions"
FIM = "/v1/fim/completions"
EMBEDDINGS = "/v1/embeddings"
DONE = b"[DONE]"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 2},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "hourly": {"type": "boolean"},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "filters": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "score": {"type": "number"}},
                    },
                },
            },
            "required": ["query"],
        },
    },
}


def chat(stream: bool = True, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": MESSAGES, "stream": stream, **fields}


def events(body: bytes, eol: bytes = b"\n") -> list[bytes]:
    """The data of each event, comments left out; fails unless framed as the server promises."""
    blocks = body.split(eol + eol)
    assert blocks[-1] == b"", f"body does not end with a blank line: {body[-40:]!r}"
    data = []
    for block in blocks[:-1]:
        if block.startswith(b":"):
            continue
        assert block.startswith(b"data: ") and eol not in block, block
        data.append(block[len(b"data: ") :])
    return data


def stream_events(client: httpx2.Client, body: dict[str, Any], path: str = CHAT, **headers: str) -> list[bytes]:
    with client.stream("POST", path, json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()
        return events(response.read())


def chunks(data: list[bytes]) -> list[dict[str, Any]]:
    return [json.loads(item) for item in data if item != DONE]


def content_chunks(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chunks whose delta has non-empty content: one per token."""
    return [c for c in parsed if c["choices"] and c["choices"][0]["delta"].get("content")]


def text_of(parsed: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in parsed
        if c["choices"]
        and c["choices"][0]["index"] == index
        and isinstance(c["choices"][0]["delta"].get("content"), str)
    )


def streamed_text(client: httpx2.Client, **fields: Any) -> str:
    return text_of(chunks(stream_events(client, chat(**fields))))


def read_until_broken(response: httpx2.Response) -> tuple[bytes, Exception | None]:
    received = b""
    try:
        for part in response.iter_raw():
            received += part
    except httpx2.HTTPError as exc:
        return received, exc
    return received, None
