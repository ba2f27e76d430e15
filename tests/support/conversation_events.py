"""A conversation stream with every event type of the spec, as the live service frames them."""

from __future__ import annotations

import json
from typing import Any

CONVERSATION_ID = "conv_0123"

# (event name, data): each data validates against the spec's schema for its name.
EVENTS: list[tuple[str, dict[str, Any]]] = [
    (
        "conversation.response.started",
        {
            "type": "conversation.response.started",
            "created_at": "2026-11-30T01:00:00Z",
            "conversation_id": CONVERSATION_ID,
        },
    ),
    (
        "tool.execution.started",
        {
            "type": "tool.execution.started",
            "output_index": 0,
            "id": "tool_1",
            "name": "web_search",
            "arguments": '{"query":',
        },
    ),
    (
        "tool.execution.delta",
        {
            "type": "tool.execution.delta",
            "output_index": 0,
            "id": "tool_1",
            "name": "web_search",
            "arguments": '"paris"}',
        },
    ),
    (
        "tool.execution.done",
        {
            "type": "tool.execution.done",
            "output_index": 0,
            "id": "tool_1",
            "name": "web_search",
            "info": {"results": 2},
        },
    ),
    (
        "agent.handoff.started",
        {
            "type": "agent.handoff.started",
            "output_index": 1,
            "id": "hand_1",
            "previous_agent_id": "ag_a",
            "previous_agent_name": "router",
        },
    ),
    (
        "agent.handoff.done",
        {
            "type": "agent.handoff.done",
            "output_index": 1,
            "id": "hand_1",
            "next_agent_id": "ag_b",
            "next_agent_name": "weather",
        },
    ),
    (
        "message.output.delta",
        {
            "type": "message.output.delta",
            "output_index": 2,
            "id": "msg_1",
            "content_index": 0,
            "model": "mistral-medium-latest",
            "agent_id": "ag_b",
            "role": "assistant",
            "content": "Héllo",
        },
    ),
    (
        "message.output.delta",
        {
            "type": "message.output.delta",
            "output_index": 2,
            "id": "msg_1",
            "content_index": 0,
            "model": "mistral-medium-latest",
            "agent_id": "ag_b",
            "role": "assistant",
            "content": " 🌍 world",
        },
    ),
    (
        "function.call.delta",
        {
            "type": "function.call.delta",
            "output_index": 3,
            "id": "fc_1",
            "name": "get_weather",
            "tool_call_id": "call_1",
            "arguments": '{"city":',
        },
    ),
    (
        "function.call.delta",
        {
            "type": "function.call.delta",
            "output_index": 3,
            "id": "fc_1",
            "name": "get_weather",
            "tool_call_id": "call_1",
            "arguments": '"Paris"}',
        },
    ),
    (
        "conversation.response.done",
        {
            "type": "conversation.response.done",
            "usage": {
                "prompt_tokens": 5,
                "completion_tokens": 7,
                "total_tokens": 12,
                "connector_tokens": 3,
                "connectors": {"web_search": 1},
            },
        },
    ),
]
UNKNOWN = ("ping.future", {"type": "ping.future", "n": 1})
ERROR = (
    "conversation.response.error",
    {"type": "conversation.response.error", "message": "the model is overloaded", "code": 3000},
)
TEXT = "Héllo 🌍 world"


def frame(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def body(events: list[tuple[str, dict[str, Any]]] | None = None) -> bytes:
    return b"".join(frame(name, data) for name, data in (EVENTS if events is None else events))


def with_unknown() -> bytes:
    """Every event, with an event of a name the client does not know before the end."""
    return body([*EVENTS[:-1], UNKNOWN, EVENTS[-1]])
