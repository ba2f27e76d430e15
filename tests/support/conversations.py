"""Helpers for the local server's Agents and Conversations tests: requests, and reading named-event
streams strictly (``event: <type>`` then ``data: {...}``, the type inside matching the name)."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from tests.support.openapi import conforms

MODEL = "mistral-small-latest"
CONVERSATIONS = "/v1/conversations"
AGENTS = "/v1/agents"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}
BUILT_INS = [
    {"type": "web_search"},
    {"type": "web_search_premium"},
    {"type": "code_interpreter"},
    {"type": "image_generation"},
    {"type": "document_library", "library_ids": ["lib-1"]},
]
SSE_TYPES = {
    "conversation.response.started",
    "conversation.response.done",
    "conversation.response.error",
    "message.output.delta",
    "tool.execution.started",
    "tool.execution.delta",
    "tool.execution.done",
    "agent.handoff.started",
    "agent.handoff.done",
    "function.call.delta",
}
# The component schema of each event's data.
EVENT_SCHEMAS = {
    "conversation.response.started": "ResponseStartedEvent",
    "conversation.response.done": "ResponseDoneEvent",
    "conversation.response.error": "ResponseErrorEvent",
    "message.output.delta": "MessageOutputEvent",
    "tool.execution.started": "ToolExecutionStartedEvent",
    "tool.execution.delta": "ToolExecutionDeltaEvent",
    "tool.execution.done": "ToolExecutionDoneEvent",
    "agent.handoff.started": "AgentHandoffStartedEvent",
    "agent.handoff.done": "AgentHandoffDoneEvent",
    "function.call.delta": "FunctionCallEvent",
}
Event = tuple[str, dict[str, Any]]


def named_events(body: bytes, eol: bytes = b"\n") -> list[Event]:
    """Each event's name and data; fails unless every event is framed as the spec's ConversationEvents."""
    blocks = body.split(eol + eol)
    assert blocks[-1] == b"", f"body does not end with a blank line: {body[-40:]!r}"
    found = []
    for block in blocks[:-1]:
        if block.startswith(b":"):
            continue
        lines = block.split(eol)
        assert len(lines) == 2 and lines[0].startswith(b"event: ") and lines[1].startswith(b"data: "), block
        name, data = lines[0][len(b"event: ") :].decode(), json.loads(lines[1][len(b"data: ") :])
        assert data["type"] == name, block
        found.append((name, data))
    return found


def checked(events: list[Event]) -> list[Event]:
    """``events``, each validated against the spec's ConversationEvents and its own schema."""
    for name, data in events:
        assert name in SSE_TYPES, name
        conforms("ConversationEvents", {"event": name, "data": data})
        conforms(EVENT_SCHEMAS[name], data)
    return events


def stream(client: httpx2.Client, path: str, body: dict[str, Any], **headers: str) -> list[Event]:
    """The events of a streamed answer, checked against the spec."""
    with client.stream("POST", path, json={**body, "stream": True}, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "text/event-stream"
        return checked(named_events(response.read()))


def answer(client: httpx2.Client, path: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    """A whole answer, checked against the spec's ConversationResponse."""
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    conforms("ConversationResponse", document)
    return document


def types(events: list[Event]) -> list[str]:
    return [name for name, _ in events]


def text(events: list[Event], output_index: int | None = None) -> str:
    """The text of the message deltas (of one output, or all)."""
    return "".join(
        data["content"]
        for name, data in events
        if name == "message.output.delta"
        and isinstance(data["content"], str)
        and (output_index is None or data["output_index"] == output_index)
    )


def agent(client: httpx2.Client, **fields: Any) -> dict[str, Any]:
    """A new agent (model and name filled in), checked against the spec's Agent."""
    response = client.post(AGENTS, json={"model": MODEL, "name": "helper", **fields})
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()
    conforms("Agent", made)
    return made


def problem(response: httpx2.Response, status: int) -> dict[str, Any]:
    """The error body of ``response``, which must have ``status`` and the API's error shape."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if status == 422:
        conforms("HTTPValidationError", body)
    else:
        assert body["object"] == "error" and body["message"] and body["type"], body
    return body
