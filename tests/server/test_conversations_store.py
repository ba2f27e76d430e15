"""The conversation store under random use: whatever the sequence of questions, function results and
refused appends, every answer validates against the spec and a conversation's history is exactly
its inputs and outputs in order, its messages exactly the messages among them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mistral_client.server import LocalServer
from tests.support.conversations import BUILT_INS, CONVERSATIONS, MODEL, WEATHER, answer, problem
from tests.support.openapi import conforms

SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
TOOLS = [WEATHER, SEARCH, *BUILT_INS]
STEPS = st.lists(st.sampled_from(["ask", "results", "ask while waiting", "stream"]), min_size=1, max_size=6)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


def shape(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What an entry says, less the ids and times the server gives it."""
    return [(e["type"], e.get("content"), e.get("tool_call_id"), e.get("result"), e.get("name")) for e in entries]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tools=st.lists(st.sampled_from(TOOLS), unique_by=lambda t: str(t), max_size=3), steps=STEPS)
def test_the_history_is_the_inputs_and_outputs_in_order(
    server: LocalServer, tools: list[dict[str, Any]], steps: list[str]
) -> None:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        first = {"type": "message.input", "role": "user", "content": "Weather in Paris?"}
        made = answer(client, CONVERSATIONS, {"model": MODEL, "inputs": [first], "tools": tools})
        path = f"{CONVERSATIONS}/{made['conversation_id']}"
        expected = [first, *made["outputs"]]
        for number, step in enumerate(steps):
            waiting = [e for e in expected if e["type"] == "function.call"][
                len([e for e in expected if e["type"] == "function.result"]) :
            ]
            question = {"type": "message.input", "role": "user", "content": f"Question {number}"}
            if step == "ask while waiting" and waiting:
                problem(client.post(path, json={"inputs": [question]}), 400)
                continue
            if step == "results" and waiting:
                inputs = [
                    {"type": "function.result", "tool_call_id": call["tool_call_id"], "result": "ok"}
                    for call in waiting
                ]
            elif waiting:
                continue  # a question now would be refused (tested above)
            else:
                inputs = [question]
            if step == "stream":
                with client.stream("POST", path, json={"inputs": inputs, "stream": True}) as response:
                    assert response.status_code == 200
                    response.read()
                outputs = client.get(f"{path}/history").json()["entries"][len(expected) + len(inputs) :]
            else:
                outputs = answer(client, path, {"inputs": inputs})["outputs"]
            assert outputs
            expected += [*inputs, *outputs]
        history = client.get(f"{path}/history").json()
        conforms("ConversationHistory", history)
        assert shape(history["entries"]) == shape(expected)
        messages = client.get(f"{path}/messages").json()
        conforms("ConversationMessages", messages)
        kept = [e for e in expected if e["type"] in ("message.input", "message.output")]
        assert shape(messages["messages"]) == shape(kept)
