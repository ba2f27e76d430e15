"""client.agents and client.conversations end to end against the local server, sync and async:
the tool loop (run / run_stream), agents' lifecycle, and reading conversations back."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, Literal

import pytest

from mistral_client import AsyncMistral, Mistral
from mistral_client._exceptions import ToolLoopError
from mistral_client._wire.conversations import (
    FunctionCallEntry,
    FunctionCallEvent,
    FunctionResultEntry,
    MessageInputEntry,
    MessageOutputEntry,
    MessageOutputEvent,
)
from mistral_client.server import LocalServer
from tests.support.conversation_events import frame
from tests.support.rawserver import RawConnection, RawServer

MODEL = "mistral-small-latest"


def call(kind: str, base_url: str, method: str, *args: Any, **kw: Any) -> Any:
    """``client.<api>.<name>(*args, **kw)`` on a new client; a stream is read whole: (events, stream)."""
    api, name = method.split(".")
    streaming = name.endswith("_stream") or name == "stream"
    if kind == "sync":
        with Mistral(base_url=base_url, max_retries=0) as client:
            target = getattr(getattr(client, api), name)
            if not streaming:
                return target(*args, **kw)
            with target(*args, **kw) as stream:
                return list(stream), stream

    async def main() -> Any:
        async with AsyncMistral(base_url=base_url, max_retries=0) as client:
            target = getattr(getattr(client, api), name)
            if not streaming:
                return await target(*args, **kw)
            async with target(*args, **kw) as stream:
                return [event async for event in stream], stream

    return asyncio.run(main())


class Weather:
    """A function tool that records its calls."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = fail

    def tool(self) -> Any:
        def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict[str, Any]:
            """The weather in a city."""
            self.calls.append((city, unit))
            if self.fail:
                raise ValueError("the weather service is down")
            return {"city": city, "temperature": 21, "unit": unit}

        return get_weather


def test_the_tool_loop_runs_the_function_and_sends_its_result(kind: str, server: LocalServer) -> None:
    weather = Weather()
    result = call(kind, server.base_url, "conversations.run", "Weather in Paris?", model=MODEL, tools=[weather.tool()])
    assert result.rounds == 1
    (call_entry,) = result.function_calls
    arguments = call_entry.parsed_arguments()
    assert weather.calls == [(arguments["city"], arguments.get("unit", "celsius"))]
    (sent,) = result.function_results
    assert sent.tool_call_id == call_entry.tool_call_id
    assert json.loads(sent.result) == {"city": arguments["city"], "temperature": 21, "unit": weather.calls[0][1]}
    assert result.text and result.usage.total_tokens > 0
    history = call(kind, server.base_url, "conversations.history", result.conversation_id)
    assert [type(entry) for entry in history.entries] == [
        MessageInputEntry,
        FunctionCallEntry,
        FunctionResultEntry,
        MessageOutputEntry,
    ]
    assert history.entries[2].result == sent.result and history.entries[3].text == result.text


def test_the_tool_loop_as_a_stream(kind: str, server: LocalServer) -> None:
    weather = Weather()
    events, stream = call(
        kind, server.base_url, "conversations.run_stream", "Weather?", model=MODEL, tools=[weather.tool()]
    )
    names = [type(event).__name__ for event in events]
    # Two turns, one after the other: the call, then (after the function ran) the answer.
    assert names.count("ResponseStartedEvent") == 2 and names.count("ResponseDoneEvent") == 2
    first_done = names.index("ResponseDoneEvent")
    assert FunctionCallEvent.__name__ in names[:first_done] and MessageOutputEvent.__name__ in names[first_done:]
    result = stream.result
    assert result.rounds == 1 and len(weather.calls) == 1
    text = "".join(event.text for event in events if isinstance(event, MessageOutputEvent))
    assert result.text == text != ""
    assert (
        len(result.turns) == 2
        and result.turns[0].function_calls[0].tool_call_id == result.function_results[0].tool_call_id
    )


def test_run_streams_text_across_rounds(server: LocalServer) -> None:
    weather = Weather()
    with (
        Mistral(base_url=server.base_url) as client,
        client.conversations.run_stream("Weather?", model=MODEL, tools=[weather.tool()]) as stream,
    ):
        texts = list(stream.text_stream)
    assert "".join(texts) == stream.result.text != "" and len(weather.calls) == 1


def test_a_functions_error_is_sent_back_as_its_result(kind: str, server: LocalServer) -> None:
    weather = Weather(fail=True)
    result = call(kind, server.base_url, "conversations.run", "Weather?", model=MODEL, tools=[weather.tool()])
    assert len(weather.calls) == 1
    assert result.function_results[0].result == "error: ValueError: the weather service is down"
    assert result.text  # the model read the error and answered


def test_the_confirmation_hook_can_refuse_a_call(kind: str, server: LocalServer) -> None:
    weather = Weather()
    asked: list[FunctionCallEntry] = []

    def confirm(entry: FunctionCallEntry) -> bool:
        asked.append(entry)
        return False

    result = call(
        kind, server.base_url, "conversations.run", "Weather?", model=MODEL, tools=[weather.tool()], confirm=confirm
    )
    assert weather.calls == [] and [entry.name for entry in asked] == ["get_weather"]
    assert result.function_results[0].result == "error: the user did not allow this call"


async def test_the_async_loop_awaits_async_functions_and_hooks(server: LocalServer) -> None:
    ran: list[str] = []

    async def get_weather(city: str) -> str:
        await asyncio.sleep(0)
        ran.append(city)
        return f"sunny in {city}"

    async def confirm(entry: FunctionCallEntry) -> bool:
        await asyncio.sleep(0)
        return entry.name == "get_weather"

    async with AsyncMistral(base_url=server.base_url) as client:
        result = await client.conversations.run("Weather?", model=MODEL, tools=[get_weather], confirm=confirm)
    assert len(ran) == 1 and result.function_results[0].result == f"sunny in {ran[0]}"


def test_max_rounds_stops_a_model_that_keeps_calling(kind: str) -> None:
    turns = 0

    def always_calls(conn: RawConnection) -> None:
        nonlocal turns
        turns += 1
        call_event = {
            "type": "function.call.delta",
            "id": f"fc_{turns}",
            "name": "get_weather",
            "tool_call_id": f"call_{turns}",
            "arguments": '{"city":"Paris"}',
        }
        events = [
            ("conversation.response.started", {"type": "conversation.response.started", "conversation_id": "c1"}),
            ("function.call.delta", call_event),
            ("conversation.response.done", {"type": "conversation.response.done", "usage": {"total_tokens": 1}}),
        ]
        conn.send_head()
        conn.send_chunk(b"".join(frame(name, data) for name, data in events))
        conn.end_body()

    weather = Weather()
    with RawServer(always_calls) as raw, pytest.raises(ToolLoopError) as caught:
        call(kind, raw.base_url, "conversations.run_stream", "hi", model=MODEL, tools=[weather.tool()], max_rounds=2)
    partial = caught.value.partial
    assert "max_rounds=2" in str(caught.value)
    assert partial.rounds == 2 and len(weather.calls) == 2 and len(partial.turns) == 3
    assert partial.conversation_id == "c1" and turns == 3


def test_an_agent_made_used_versioned_and_deleted(kind: str, server: LocalServer) -> None:
    weather = Weather()
    url = server.base_url
    agent = call(
        kind, url, "agents.create", model=MODEL, name="weather", instructions="Be brief.", tools=[weather.tool()]
    )
    assert agent.id and agent.version == 0 and agent.tools[0]["function"]["name"] == "get_weather"
    assert call(kind, url, "agents.get", agent.id).name == "weather"
    assert agent.id in [listed.id for listed in call(kind, url, "agents.list")]

    completion = call(kind, url, "agents.complete", agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    chunks, stream = call(kind, url, "agents.stream", agent_id=agent.id, messages=[{"role": "user", "content": "hi"}])
    assert completion.choices and chunks[-1].is_last and stream.result.finish_reason is not None

    updated = call(kind, url, "agents.update", agent.id, description="Answers about the weather.")
    assert updated.version == 1 and updated.description == "Answers about the weather."
    assert sorted(version.version for version in call(kind, url, "agents.list_versions", agent.id)) == [0, 1]
    assert call(kind, url, "agents.get_version", agent.id, 0).description is None
    alias = call(kind, url, "agents.set_alias", agent.id, "stable", 0)
    assert (alias.alias, alias.version) == ("stable", 0)
    assert call(kind, url, "agents.get", agent.id, agent_version="stable").version == 0
    assert [a.alias for a in call(kind, url, "agents.list_aliases", agent.id)] == ["stable"]
    assert call(kind, url, "agents.set_version", agent.id, 0).version == 0

    # The agent in a conversation, with the tool loop.
    result = call(kind, url, "conversations.run", "Weather?", agent_id=agent.id, tools=[weather.tool()])
    assert result.rounds == 1 and len(weather.calls) == 1
    info = call(kind, url, "conversations.get", result.conversation_id)
    assert info.agent_id == agent.id and info.model is None

    call(kind, url, "agents.delete_alias", agent.id, "stable")
    call(kind, url, "agents.delete", agent.id)
    assert agent.id not in [listed.id for listed in call(kind, url, "agents.list")]


def test_a_conversation_read_back_restarted_and_deleted(kind: str, server: LocalServer) -> None:
    url = server.base_url
    first = call(kind, url, "conversations.start", "Hello there", model=MODEL, instructions="Be brief.")
    assert first.conversation_id and first.text
    _, stream = call(kind, url, "conversations.append_stream", first.conversation_id, "And again?")
    assert stream.result.conversation_id == first.conversation_id and stream.result.text
    messages = call(kind, url, "conversations.messages", first.conversation_id)
    assert [type(entry) for entry in messages.messages] == [MessageInputEntry, MessageOutputEntry] * 2
    assert messages.messages[1].text == first.text and messages.messages[3].text == stream.result.text
    info = call(kind, url, "conversations.get", first.conversation_id)
    assert (info.model, info.instructions) == (MODEL, "Be brief.")
    assert first.conversation_id in [c.id for c in call(kind, url, "conversations.list", page_size=100)]

    restarted = call(
        kind, url, "conversations.restart", first.conversation_id, "Hi instead", from_entry_id=messages.messages[1].id
    )
    assert restarted.conversation_id != first.conversation_id and restarted.text
    history = call(kind, url, "conversations.history", restarted.conversation_id)
    assert [entry.text for entry in history.entries[:2]] == ["Hello there", first.text]  # type: ignore[union-attr]

    call(kind, url, "conversations.delete", first.conversation_id)
    from mistral_client import NotFoundError

    with pytest.raises(NotFoundError):
        call(kind, url, "conversations.get", first.conversation_id)


SLOW = {"x-mock-token-delay": "0.05", "x-mock-tokens": "1000"}


def test_run_stream_cancelled_from_another_thread_mid_answer(server: LocalServer) -> None:
    weather = Weather()
    with (
        Mistral(base_url=server.base_url) as client,
        client.conversations.run_stream("Weather?", model=MODEL, tools=[weather.tool()], extra_headers=SLOW) as stream,
    ):
        seen = []
        for event in stream:
            seen.append(event)
            if (
                isinstance(event, MessageOutputEvent)
                and len([e for e in seen if isinstance(e, MessageOutputEvent)]) == 1
            ):
                threading.Thread(target=stream.cancel).start()  # the next read blocks: the server is slow
    assert server.wait_for_disconnect(5).chunks_sent < 1000
    assert stream.cancelled and stream.current.cancelled and stream.current.text
    assert stream.result.rounds == 1 and len(weather.calls) == 1


def test_a_cancel_while_the_functions_run_sends_no_next_round(kind: str, server: LocalServer) -> None:
    holder: dict[str, Any] = {}

    def get_weather(city: str) -> str:
        holder["stream"].cancel()  # as a UI's stop button would, while the function runs
        return "sunny"

    if kind == "sync":
        with (
            Mistral(base_url=server.base_url) as client,
            client.conversations.run_stream("Weather?", model=MODEL, tools=[get_weather]) as stream,
        ):
            holder["stream"] = stream
            events = list(stream)
    else:

        async def main() -> tuple[Any, list[Any]]:
            async with (
                AsyncMistral(base_url=server.base_url) as client,
                client.conversations.run_stream("Weather?", model=MODEL, tools=[get_weather]) as stream,
            ):
                holder["stream"] = stream
                return stream, [event async for event in stream]

        stream, events = asyncio.run(main())
    assert [request.path for request in server.requests] == ["/v1/conversations"]
    assert stream.cancelled and type(events[-1]).__name__ == "ResponseDoneEvent"
    assert stream.result.rounds == 1 and len(stream.result.turns) == 1


async def test_leaving_an_async_run_stream_closes_its_round(server: LocalServer) -> None:
    weather = Weather()
    async with (
        AsyncMistral(base_url=server.base_url) as client,
        client.conversations.run_stream("Weather?", model=MODEL, tools=[weather.tool()], extra_headers=SLOW) as stream,
    ):
        async for event in stream:
            if isinstance(event, MessageOutputEvent):
                break
    assert server.wait_for_disconnect(5).chunks_sent < 1000
    assert stream.result.rounds == 1 and stream.current.cancelled


def test_built_in_tools_and_a_handoff_from_the_local_server(kind: str, server: LocalServer) -> None:
    url = server.base_url
    tools = ["web_search", "web_search_premium", "code_interpreter", "image_generation"]
    tools_and_library = [*tools, {"type": "document_library", "library_ids": ["lib_1"]}]
    events, stream = call(kind, url, "conversations.start_stream", "Paris facts?", model=MODEL, tools=tools_and_library)
    result = stream.result
    names = {type(event).__name__ for event in events}
    assert {"ToolExecutionStartedEvent", "ToolExecutionDoneEvent", "MessageOutputEvent"} <= names
    assert [execution.name for execution in result.tool_executions] == [*tools, "document_library"]
    assert all(execution.info is not None for execution in result.tool_executions)
    assert result.text and result.done
    # The same turn, not streamed, reads back as the stream assembled it.
    history = call(kind, url, "conversations.history", result.conversation_id)
    stored = [entry for entry in history.entries if entry.type != "message.input"]
    assert [entry.type for entry in stored] == [output.type for output in result.outputs]

    helper = call(kind, url, "agents.create", model=MODEL, name="helper", instructions="Answer.")
    router = call(kind, url, "agents.create", model=MODEL, name="router", handoffs=[helper.id])
    events, stream = call(kind, url, "conversations.start_stream", "Route me", agent_id=router.id)
    names = [type(event).__name__ for event in events]
    assert "AgentHandoffStartedEvent" in names and "AgentHandoffDoneEvent" in names
    (handoff,) = stream.result.handoffs
    assert (handoff.previous_agent_id, handoff.next_agent_id) == (router.id, helper.id)
    assert (handoff.previous_agent_name, handoff.next_agent_name) == ("router", "helper")
    assert stream.result.messages[-1].agent_id == helper.id


def test_arguments_that_do_not_fit_are_sent_back_as_an_error(kind: str) -> None:
    bodies: list[dict[str, Any]] = []
    arguments = iter(['{"city":', '{"town":"Paris"}'])  # not JSON; then not the function's parameters

    def scripted(conn: RawConnection) -> None:
        bodies.append(json.loads(conn.request.body))
        started = {"type": "conversation.response.started", "conversation_id": "c1"}
        done = {"type": "conversation.response.done", "usage": {"total_tokens": 1}}
        given = next(arguments, None)
        if given is not None:
            middle = (
                "function.call.delta",
                {"id": "f", "name": "get_weather", "tool_call_id": "t", "arguments": given},
            )
        else:
            middle = ("message.output.delta", {"id": "m", "content": "Sorry."})
        conn.send_head()
        conn.send_chunk(
            b"".join(
                frame(*event)
                for event in [("conversation.response.started", started), middle, ("conversation.response.done", done)]
            )
        )
        conn.end_body()

    weather = Weather()
    with RawServer(scripted) as raw:
        _, stream = call(kind, raw.base_url, "conversations.run_stream", "hi", model=MODEL, tools=[weather.tool()])
    result = stream.result
    assert weather.calls == [] and result.rounds == 2 and result.text == "Sorry."
    first, second = (body["inputs"][0]["result"] for body in bodies[1:])
    assert first.startswith("error: ToolArgumentsError: the arguments of tool call 'get_weather' are not valid JSON")
    assert second == "error: ValidationError: Object contains unknown field `town`"
    assert [body["inputs"][0]["tool_call_id"] for body in bodies[1:]] == ["t", "t"]


def test_parallel_calls_run_in_order_and_go_back_in_one_append(kind: str) -> None:
    bodies: list[dict[str, Any]] = []

    def scripted(conn: RawConnection) -> None:
        bodies.append(json.loads(conn.request.body))
        events: list[tuple[str, dict[str, Any]]] = [
            ("conversation.response.started", {"type": "conversation.response.started", "conversation_id": "c1"})
        ]
        if len(bodies) == 1:
            for index, city in enumerate(["Paris", "Lyon"]):
                for piece in ('{"city":', f'"{city}"}}'):
                    delta = {
                        "output_index": index,
                        "id": f"f{index}",
                        "name": "get_weather",
                        "tool_call_id": f"t{index}",
                    }
                    events.append(("function.call.delta", {**delta, "arguments": piece}))
        else:
            events.append(("message.output.delta", {"id": "m", "content": "Both sunny."}))
        events.append(
            ("conversation.response.done", {"type": "conversation.response.done", "usage": {"total_tokens": 2}})
        )
        conn.send_head()
        conn.send_chunk(b"".join(frame(*event) for event in events))
        conn.end_body()

    weather = Weather()
    with RawServer(scripted) as raw:
        _, stream = call(kind, raw.base_url, "conversations.run_stream", "hi", model=MODEL, tools=[weather.tool()])
    assert [city for city, _ in weather.calls] == ["Paris", "Lyon"]
    assert [entry["tool_call_id"] for entry in bodies[1]["inputs"]] == ["t0", "t1"]
    assert bodies[1]["inputs"][1]["type"] == "function.result" and '"Lyon"' in bodies[1]["inputs"][1]["result"]
    result = stream.result
    assert result.rounds == 1 and result.text == "Both sunny." and result.usage.total_tokens == 4


def test_agents_page_by_page(kind: str, server: LocalServer) -> None:
    url = server.base_url
    made = {call(kind, url, "agents.create", model=MODEL, name=f"paged-{kind}-{n}").id for n in range(3)}
    seen: list[str] = []
    token = None
    while True:
        page = call(kind, url, "agents.list_page", page_size=2, page_token=token, search=f"paged-{kind}")
        assert len(page.data) <= 2
        seen += [agent.id for agent in page.data]
        token = page.next_page_token
        if token is None:
            break
    assert set(seen) == made and len(seen) == 3
