"""The official ``mistralai`` SDK against the local server's Agents and Conversations endpoints:
every answer and every event type parses into the SDK's own models (never its "unknown" fallback),
and each error the server gives surfaces as the SDK's typed error with the right status.

``mistralai`` comes with the ``bench`` extra: without it these tests skip, except in CI
(``CI=true``), which installs it: there they fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from mistral_client.server import LocalServer
from tests.support.conversations import BUILT_INS, MODEL, SSE_TYPES, WEATHER
from tests.support.shared import need

KEY = "sk-sdk-conversations"
# The SDK's model for each event type's data.
EVENT_MODELS = {
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


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def sdk(server: LocalServer) -> Iterator[Any]:
    client = need("mistralai.client").Mistral(api_key=KEY, server_url=server.base_url)
    with client:
        yield client


@pytest.fixture
def errors() -> Any:
    return need("mistralai.client.errors")


def read(events: Any) -> list[tuple[str, Any]]:
    """A mistralai event stream read to the end: each event's name and parsed data, checked to be
    the SDK's own model for that event type."""
    with events as stream:
        found = [(event.event, event.data) for event in stream]
    for name, data in found:
        assert type(data).__name__ == EVENT_MODELS[name], (name, data)
    return found


def names(events: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in events]


def streamed_text(events: list[tuple[str, Any]]) -> str:
    return "".join(d.content for n, d in events if n == "message.output.delta" and isinstance(d.content, str))


def test_start_append_and_read(sdk: Any) -> None:
    first = sdk.beta.conversations.start(model=MODEL, inputs="What is the weather in Paris?", tools=[WEATHER])
    (call,) = first.outputs
    assert type(call).__name__ == "FunctionCallEntry" and call.name == "get_weather"
    assert json.loads(call.arguments)["city"]
    result = {"tool_call_id": call.tool_call_id, "result": "sunny", "type": "function.result"}
    second = sdk.beta.conversations.append(conversation_id=first.conversation_id, inputs=[result])
    (message,) = second.outputs
    assert type(message).__name__ == "MessageOutputEntry" and message.content
    assert second.usage.completion_tokens > 0
    history = sdk.beta.conversations.get_history(conversation_id=first.conversation_id)
    assert [type(e).__name__ for e in history.entries] == [
        "MessageInputEntry",
        "FunctionCallEntry",
        "FunctionResultEntry",
        "MessageOutputEntry",
    ]
    messages = sdk.beta.conversations.get_messages(conversation_id=first.conversation_id)
    assert [e.content for e in messages.messages][1] == message.content
    shown = sdk.beta.conversations.get(conversation_id=first.conversation_id)
    assert type(shown).__name__ == "ModelConversation" and shown.model == MODEL
    listed = sdk.beta.conversations.list(page_size=1000)
    assert first.conversation_id in [c.id for c in listed]
    again = sdk.beta.conversations.restart(
        conversation_id=first.conversation_id, from_entry_id=message.id, inputs="And tomorrow?"
    )
    assert again.conversation_id != first.conversation_id and again.outputs
    sdk.beta.conversations.delete(conversation_id=first.conversation_id)


def test_streams_of_start_append_and_restart(sdk: Any) -> None:
    started = read(
        sdk.beta.conversations.start_stream(model=MODEL, inputs="Hello", http_headers={"x-mock-tokens": "5"})
    )
    assert names(started) == [
        "conversation.response.started",
        *["message.output.delta"] * 5,
        "conversation.response.done",
    ]
    conversation_id = started[0][1].conversation_id
    assert started[-1][1].usage.completion_tokens == 5
    appended = read(sdk.beta.conversations.append_stream(conversation_id=conversation_id, inputs="More"))
    assert appended[0][1].conversation_id == conversation_id and streamed_text(appended)
    history = sdk.beta.conversations.get_history(conversation_id=conversation_id)
    assert history.entries[-1].content == streamed_text(appended)
    restarted = read(
        sdk.beta.conversations.restart_stream(
            conversation_id=conversation_id, from_entry_id=history.entries[1].id, inputs="Again"
        )
    )
    assert restarted[0][1].conversation_id != conversation_id and names(restarted)[-1] == "conversation.response.done"


def test_every_event_type_parses(sdk: Any) -> None:
    expert = sdk.beta.agents.create(model=MODEL, name="expert", tools=[*BUILT_INS, WEATHER])
    triage = sdk.beta.agents.create(model=MODEL, name="triage", handoffs=[expert.id])
    seen = set(names(read(sdk.beta.conversations.start_stream(agent_id=triage.id, inputs="Go"))))
    error = {"x-mock-error-event-after": "1"}
    failing = read(sdk.beta.conversations.start_stream(model=MODEL, inputs="Go", http_headers=error))
    assert failing[-1][1].code == 3000 and failing[-1][1].message
    seen |= set(names(failing))
    seen |= set(names(read(sdk.beta.conversations.start_stream(model=MODEL, inputs="Go"))))
    assert seen == SSE_TYPES


def test_every_output_entry_parses(sdk: Any) -> None:
    expert = sdk.beta.agents.create(model=MODEL, name="expert", tools=[*BUILT_INS, WEATHER])
    triage = sdk.beta.agents.create(model=MODEL, name="triage", handoffs=[expert.id])
    response = sdk.beta.conversations.start(agent_id=triage.id, inputs="Go")
    kinds = [type(o).__name__ for o in response.outputs]
    assert kinds == ["AgentHandoffEntry", *["ToolExecutionEntry"] * len(BUILT_INS), "FunctionCallEntry"]
    assert response.usage.connectors == {t["type"]: 1 for t in BUILT_INS}
    built_ins = sdk.beta.conversations.start(model=MODEL, inputs="Go", tools=BUILT_INS)
    content = built_ins.outputs[-1].content
    assert {type(c).__name__ for c in content} == {"TextChunk", "ToolReferenceChunk", "ToolFileChunk"}
    shown = sdk.beta.conversations.get(conversation_id=response.conversation_id)
    assert type(shown).__name__ == "AgentConversation" and shown.agent_id == triage.id
    thinking = sdk.beta.conversations.start(model="magistral-small-latest", inputs="17 * 3?")
    assert [type(c).__name__ for c in thinking.outputs[0].content] == ["ThinkChunk", "TextChunk"]
    streamed = read(sdk.beta.conversations.start_stream(model="magistral-small-latest", inputs="17 * 3?"))
    assert type(streamed[1][1].content).__name__ == "ThinkChunk"


def test_async_streams(server: LocalServer) -> None:
    mistral = need("mistralai.client")

    async def go() -> list[tuple[str, Any]]:
        async with mistral.Mistral(api_key=KEY, server_url=server.base_url) as client:
            stream = await client.beta.conversations.start_stream_async(model=MODEL, inputs="Hi", tools=[WEATHER])
            found = []
            async with stream as events:
                found = [(event.event, event.data) async for event in events]
            call = next(d for n, d in found if n == "function.call.delta")
            result = {"tool_call_id": call.tool_call_id, "result": "21", "type": "function.result"}
            conversation_id = found[0][1].conversation_id
            answer = await client.beta.conversations.append_async(conversation_id=conversation_id, inputs=[result])
            assert type(answer.outputs[0]).__name__ == "MessageOutputEntry"
            return found

    found = asyncio.run(go())
    assert {n for n, _ in found} == {
        "conversation.response.started",
        "function.call.delta",
        "conversation.response.done",
    }


def test_agents_crud(sdk: Any) -> None:
    made = sdk.beta.agents.create(model=MODEL, name="crud", instructions="One", tools=[WEATHER, {"type": "web_search"}])
    assert made.id.startswith("ag_") and made.version == 0
    assert sdk.beta.agents.get(agent_id=made.id).instructions == "One"
    updated = sdk.beta.agents.update(agent_id=made.id, instructions="Two")
    assert (updated.version, updated.versions) == (1, [0, 1])
    assert sdk.beta.agents.get_version(agent_id=made.id, version="0").instructions == "One"
    assert [v.version for v in sdk.beta.agents.list_versions(agent_id=made.id)] == [0, 1]
    assert sdk.beta.agents.update_version(agent_id=made.id, version=0).instructions == "One"
    alias = sdk.beta.agents.create_version_alias(agent_id=made.id, alias="stable", version=1)
    assert (alias.alias, alias.version) == ("stable", 1)
    assert [a.alias for a in sdk.beta.agents.list_version_aliases(agent_id=made.id)] == ["stable"]
    sdk.beta.agents.delete_version_alias(agent_id=made.id, alias="stable")
    with pytest.warns(DeprecationWarning):  # the SDK's own note: GET /v1/agents is deprecated for /pages
        assert made.id in [a.id for a in sdk.beta.agents.list(page_size=1000)]
    page = sdk.beta.agents.list_pages(page_size=1, search="crud")
    assert [a.id for a in page.result.data] == [made.id]
    sdk.beta.agents.delete(agent_id=made.id)


def test_agents_complete_and_stream(sdk: Any) -> None:
    made = sdk.beta.agents.create(model=MODEL, name="completer", instructions="Be brief")
    ask = [{"role": "user", "content": "Hi"}]
    whole = sdk.agents.complete(agent_id=made.id, messages=ask, http_headers={"x-mock-tokens": "4"})
    assert whole.model == MODEL and whole.usage.completion_tokens == 4
    with sdk.agents.stream(agent_id=made.id, messages=ask, http_headers={"x-mock-tokens": "4"}) as stream:
        pieces = [event.data.choices[0].delta.content for event in stream if event.data.choices]
    assert "".join(p for p in pieces if isinstance(p, str)) == whole.choices[0].message.content


def test_errors_are_typed(sdk: Any, errors: Any) -> None:
    with pytest.raises(errors.MistralError) as caught:
        sdk.beta.conversations.get(conversation_id="conv_nope")
    assert caught.value.status_code == 404
    with pytest.raises(errors.HTTPValidationError) as invalid:
        sdk.beta.conversations.start(inputs="Hi")  # neither model nor agent_id
    assert invalid.value.status_code == 422
    waiting = sdk.beta.conversations.start(model=MODEL, inputs="Hi", tools=[WEATHER])
    with pytest.raises(errors.MistralError) as refused:
        sdk.beta.conversations.append(conversation_id=waiting.conversation_id, inputs="Never mind")
    assert refused.value.status_code == 400
    with pytest.raises(errors.MistralError) as missing:
        sdk.beta.agents.get(agent_id="ag_nope")
    assert missing.value.status_code == 404
    with pytest.raises(errors.MistralError) as unavailable:
        sdk.beta.conversations.start(model=MODEL, inputs="Hi", http_headers={"x-mock-status": "503"})
    assert unavailable.value.status_code == 503
