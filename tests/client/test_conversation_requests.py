"""What conversations.* and agents.* send: checked before sending, and as the spec describes it."""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec
import pytest

from mistral_client import AsyncMistral, InvalidRequestError, Mistral
from mistral_client._wire.conversations import FunctionResultEntry, MessageOutputEntry
from mistral_client._wire.tool_schema import ToolFunction, function_tool
from tests.support import conversation_events as C
from tests.support.openapi import conforms
from tests.support.rawserver import RawConnection, RawServer, sse


def answer(conn: RawConnection) -> None:
    path = conn.request.path
    if conn.request.body and json.loads(conn.request.body).get("stream"):
        conn.send_head()
        conn.send_chunk(C.body())
        conn.end_body()
    elif path.startswith("/v1/conversations"):
        body = {"conversation_id": "c1", "outputs": [], "usage": {"total_tokens": 1}}
        conn.send_full(200, json.dumps(body).encode())
    else:
        conn.send_full(200, b"{}")


@pytest.fixture
def raw() -> Iterator[RawServer]:
    with RawServer(answer) as server:
        yield server


def sent(server: RawServer) -> list[dict[str, Any]]:
    return [json.loads(conn.request.body) for conn in server.connections if conn.request.body]


def call(kind: str, server: RawServer, method: str, *args: Any, **kw: Any) -> Any:
    """``client.<api>.<name>(*args, **kw)``; a stream is read to its end and its result returned."""
    api, name = method.split(".")
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client:
            value = getattr(getattr(client, api), name)(*args, **kw)
            if name.endswith("_stream") or name == "stream":
                with value as stream:
                    list(stream)
                return stream.result
            return value

    async def main() -> Any:
        async with AsyncMistral(base_url=server.base_url) as client:
            target = getattr(getattr(client, api), name)
            if name.endswith("_stream") or name == "stream":
                async with target(*args, **kw) as stream:
                    async for _ in stream:
                        pass
                return stream.result
            return await target(*args, **kw)

    return asyncio.run(main())


BAD_CALLS = [
    ("conversations.start", (), {"model": "m"}, "needs inputs"),
    ("conversations.start", ("",), {"model": "m"}, "needs inputs"),
    ("conversations.start", ([],), {"model": "m"}, "needs inputs"),
    ("conversations.start", ("hi",), {}, "needs model=... (e.g."),
    ("conversations.start", ("hi",), {"model": "m", "agent_id": "a"}, "not both"),
    ("conversations.start_stream", ("hi",), {}, "needs model="),
    ("conversations.start_stream", ("hi",), {"model": "m", "agent_id": "a"}, "not both"),
    ("conversations.start", ("hi",), {"model": "m", "agent_version": 2}, "agent_version=... needs agent_id"),
    ("conversations.start", ("hi",), {"model": "m", "handoff_execution": "nobody"}, "handoff_execution"),
    ("conversations.start", ("hi",), {"model": "m", "completion_args": {"temperature": 3}}, "temperature"),
    ("conversations.start", ("hi",), {"model": "m", "completion_args": {"temprature": 1}}, "temprature"),
    ("conversations.start", ("hi",), {"model": "m", "tools": ["web_serch"]}, "not a built-in tool"),
    ("conversations.start", ("hi",), {"model": "m", "tools": [{"type": "magic"}]}, "has type 'magic'"),
    ("conversations.start", ("hi",), {"model": "m", "tools": ["document_library"]}, "library_ids"),
    ("conversations.start", ("hi",), {"model": "m", "tools": [lambda x: x]}, "named function"),
    ("conversations.start", ("hi",), {"model": "m", "tools": "web_search"}, "tools must be a list"),
    ("conversations.start", ([{"role": "robot", "content": "x"}],), {"model": "m"}, "invalid entry"),
    ("conversations.start", ([{"type": "function.result", "result": "x"}],), {"model": "m"}, "tool_call_id"),
    ("conversations.start", ([{"type": "message.input", "content": "x"}],), {"model": "m"}, "role"),
    ("conversations.append", ("",), {"inputs": "hi"}, "conversation_id must be"),
    ("conversations.append", ("c1",), {}, "needs inputs"),
    ("conversations.append_stream", ("c1", []), {}, "needs inputs"),
    ("conversations.restart", ("c1", "hi"), {"from_entry_id": ""}, "from_entry_id must be"),
    ("conversations.restart_stream", ("c1",), {"from_entry_id": "e1"}, "needs inputs"),
    ("conversations.get", ("",), {}, "conversation_id must be"),
    ("conversations.list", (), {"page": -1}, "page must be"),
    ("conversations.run", ("hi",), {"model": "m", "tools": []}, "non-empty list"),
    ("conversations.run", ("hi",), {"model": "m", "tools": [print], "max_rounds": 0}, "max_rounds"),
    ("conversations.run", ("hi",), {"model": "m", "tools": [print], "store": False}, "store=True"),
    ("conversations.run", ("hi",), {"model": "m", "tools": [print], "confirm": "yes"}, "confirm must be"),
    ("conversations.run", ("hi",), {"model": "m", "tools": [print], "max_rounds": True}, "max_rounds"),
    ("agents.complete", (), {"messages": [{"role": "user", "content": "hi"}]}, "needs agent_id=..."),
    ("agents.stream", (), {"agent_id": "ag"}, "needs messages"),
    ("agents.complete", (), {"agent_id": "ag", "messages": [], "max_tokens": -1}, "max_tokens"),
    ("agents.create", (), {"model": "m", "name": ""}, "invalid request"),
    ("agents.get", ("",), {}, "agent_id must be"),
    ("agents.set_alias", ("ag", "Prod", 1), {}, "alias must be"),
    ("agents.set_version", ("ag", -1), {}, "version must be"),
    ("agents.list", (), {"page_size": 0}, "page_size must be"),
]


@pytest.mark.parametrize(("method", "args", "kw", "message"), BAD_CALLS)
def test_bad_input_is_refused_before_sending(
    kind: str, raw: RawServer, method: str, args: tuple[Any, ...], kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        call(kind, raw, method, *args, **kw)
    assert message in str(caught.value)
    assert raw.connections == []


@pytest.mark.parametrize(
    ("method", "args", "kw", "name"),
    [
        ("conversations.start", ("hi",), {"model": "m", "temprature": 1}, "temprature"),
        ("conversations.append", ("c", "hi"), {"model": "m"}, "model"),
        ("agents.complete", (), {"agent_id": "a", "messages": [], "temperature": 0.5}, "temperature"),
        ("agents.create", (), {"model": "m", "name": "n", "instruction": "x"}, "instruction"),
    ],
)
def test_an_unknown_keyword_is_a_type_error(
    kind: str, raw: RawServer, method: str, args: tuple[Any, ...], kw: dict[str, Any], name: str
) -> None:
    with pytest.raises(TypeError, match=repr(name)):
        call(kind, raw, method, *args, **kw)
    assert raw.connections == []


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


def get_weather(
    city: Annotated[str, msgspec.Meta(description="The city's name")], unit: Unit = Unit.CELSIUS, days: int = 1
) -> dict[str, Any]:
    """The weather in a city.

    Only the first paragraph is the tool's description.
    """
    return {"city": city, "unit": unit.value, "days": days}


def test_start_sends_what_the_spec_takes(kind: str, raw: RawServer) -> None:
    tools = [
        get_weather,
        "web_search",
        "web_search_premium",
        "code_interpreter",
        "image_generation",
        {"type": "document_library", "library_ids": ["lib_1"]},
    ]
    kw: dict[str, Any] = {
        "instructions": "Be brief.",
        "tools": tools,
        "completion_args": {"temperature": 0.2, "max_tokens": 50, "tool_choice": "auto"},
        "store": True,
        "handoff_execution": "server",
        "name": "weather chat",
        "metadata": {"team": "a"},
    }
    call(kind, raw, "conversations.start", "What's the weather?", model="mistral-medium-latest", **kw)
    call(kind, raw, "conversations.start_stream", [{"role": "user", "content": "hi"}], agent_id="ag_1", agent_version=2)
    first, second = sent(raw)
    conforms("ConversationRequest", first)
    conforms("ConversationStreamRequest", second)
    assert first["stream"] is False and second["stream"] is True
    assert first["inputs"] == "What's the weather?" and first["model"] == "mistral-medium-latest"
    assert [tool["type"] for tool in first["tools"]] == [
        "function",
        "web_search",
        "web_search_premium",
        "code_interpreter",
        "image_generation",
        "document_library",
    ]
    assert first["tools"][0] == function_tool(get_weather)
    inputs = [{"role": "user", "content": "hi"}]
    assert second == {"inputs": inputs, "agent_id": "ag_1", "agent_version": 2, "stream": True}
    assert [conn.request.path for conn in raw.connections] == ["/v1/conversations", "/v1/conversations"]


def test_append_and_restart_send_their_own_shapes(kind: str, raw: RawServer) -> None:
    entries = [
        FunctionResultEntry(tool_call_id="call_1", result='{"temp": 21}'),
        MessageOutputEntry(content="earlier answer"),
        {"role": "user", "content": "and tomorrow?"},
    ]
    call(kind, raw, "conversations.append", "conv/1", entries, store=True, completion_args={"max_tokens": 5})
    call(kind, raw, "conversations.append_stream", "c1", "more", handoff_execution="client")
    call(kind, raw, "conversations.restart", "c1", "again", from_entry_id="msg_1", metadata={"a": 1})
    call(kind, raw, "conversations.restart_stream", "c1", "again", from_entry_id="msg_1", agent_version="prod")
    append, append_stream, restart, restart_stream = sent(raw)
    conforms("ConversationAppendRequest", append)
    conforms("ConversationAppendStreamRequest", append_stream)
    conforms("ConversationRestartRequest", restart)
    conforms("ConversationRestartStreamRequest", restart_stream)
    assert append["inputs"] == [
        {"type": "function.result", "tool_call_id": "call_1", "result": '{"temp": 21}'},
        {"type": "message.output", "role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": "and tomorrow?"},
    ]
    assert restart["from_entry_id"] == "msg_1" and restart_stream["agent_version"] == "prod"
    paths = [conn.request.path for conn in raw.connections]
    # An id with a slash stays one path segment.
    assert paths == [
        "/v1/conversations/conv%2F1",
        "/v1/conversations/c1",
        "/v1/conversations/c1/restart",
        "/v1/conversations/c1/restart",
    ]


def test_agents_complete_sends_chats_request_with_agent_id(kind: str) -> None:
    chunk = (
        '{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        '"delta":{"content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,'
        '"total_tokens":2}}'
    )
    completion = {
        "id": "a",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }

    def handler(conn: RawConnection) -> None:
        if json.loads(conn.request.body)["stream"]:
            conn.send_head()
            conn.send_chunk(sse(chunk, "[DONE]"))
            conn.end_body()
        else:
            conn.send_full(200, json.dumps(completion).encode())

    messages = [{"role": "user", "content": "hi"}]
    with RawServer(handler) as server:
        answer = call(kind, server, "agents.complete", agent_id="ag_1", messages=messages, max_tokens=5)
        result = call(kind, server, "agents.stream", agent_id="ag_1", messages=messages, tools=[])
        bodies = sent(server)
        paths = {conn.request.path for conn in server.connections}
    assert answer.content == "Hi" and result.content == "Hi" and result.finish_reason == "stop"
    assert paths == {"/v1/agents/completions"}
    for body in bodies:
        conforms("AgentsCompletionRequest", body)
    assert bodies[0] == {"agent_id": "ag_1", "messages": messages, "max_tokens": 5, "stream": False}


def test_a_functions_schema_comes_from_its_type_hints() -> None:
    tool = function_tool(get_weather)
    conforms("FunctionTool", tool)
    function = tool["function"]
    assert function["name"] == "get_weather"
    assert function["description"] == "The weather in a city."
    parameters = function["parameters"]
    assert parameters["required"] == ["city"]
    assert parameters["properties"]["city"] == {"type": "string", "description": "The city's name"}
    assert parameters["properties"]["days"] == {"type": "integer", "default": 1}
    assert parameters["$defs"]["Unit"]["enum"] == ["celsius", "fahrenheit"]


def test_a_call_decodes_its_arguments_into_the_functions_types() -> None:
    function = ToolFunction(get_weather)
    positional, keywords = function.decode({"city": "Paris", "unit": "fahrenheit"})
    assert get_weather(*positional, **keywords) == {"city": "Paris", "unit": "fahrenheit", "days": 1}
    with pytest.raises(msgspec.ValidationError, match="days"):
        function.decode({"city": "Paris", "days": "many"})
    with pytest.raises(msgspec.ValidationError, match="city"):
        function.decode({})

    def pick(mode: Literal["a", "b"], /, *, flags: list[str] | None = None) -> str:
        return mode + "".join(flags or [])

    picked = ToolFunction(pick)
    assert picked.schema["function"]["parameters"]["properties"]["mode"] == {"enum": ["a", "b"]}
    positional, keywords = picked.decode({"mode": "b", "flags": ["x"]})
    assert pick(*positional, **keywords) == "bx"


def test_agents_and_reading_calls_send_what_the_spec_takes(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        path = conn.request.path
        if conn.request.method == "DELETE":
            conn.send_full(204, b"")
        elif "/aliases" in path and conn.request.method == "GET":
            conn.send_full(200, b'[{"alias":"stable","version":1,"created_at":"t","updated_at":"t"}]')
        elif path.startswith(("/v1/agents?", "/v1/conversations?")) or "/versions?" in path:
            conn.send_full(200, b"[]")
        elif path.endswith(("/history", "/messages")):
            conn.send_full(200, b'{"conversation_id":"c1","entries":[],"messages":[]}')
        else:
            conn.send_full(200, b'{"id":"ag_1","name":"n","model":"m","version":1,"alias":"stable"}')

    with RawServer(handler) as server:
        weather = get_weather
        made = call(
            kind, server, "agents.create", model="m", name="n", tools=[weather, "web_search"], handoffs=["ag_2"]
        )
        call(kind, server, "agents.update", "ag_1", instructions="Be brief.", deployment_chat=True)
        call(kind, server, "agents.list", page=1, page_size=5, search="weather")
        call(kind, server, "agents.get", "ag_1", agent_version="stable")
        call(kind, server, "agents.set_version", "ag_1", 2)
        call(kind, server, "agents.list_versions", "ag_1", page_size=3)
        call(kind, server, "agents.get_version", "ag_1", 2)
        call(kind, server, "agents.set_alias", "ag_1", "stable", 1)
        aliases = call(kind, server, "agents.list_aliases", "ag_1")
        call(kind, server, "agents.delete_alias", "ag_1", "stable")
        call(kind, server, "agents.delete", "ag_1")
        call(kind, server, "conversations.list", page=2, page_size=10, metadata={"team": "a"})
        call(kind, server, "conversations.history", "c1")
        call(kind, server, "conversations.messages", "c1")
        call(kind, server, "conversations.delete", "c1")
        sent_requests = [(conn.request.method, conn.request.path) for conn in server.connections]
        bodies = sent(server)
    assert made.id == "ag_1" and aliases[0].alias == "stable"
    create, update = bodies
    conforms("CreateAgentRequest", create)
    conforms("UpdateAgentRequest", update)
    assert create["tools"][0] == function_tool(get_weather) and create["tools"][1] == {"type": "web_search"}
    assert update == {"instructions": "Be brief.", "deployment_chat": True}
    assert sent_requests == [
        ("POST", "/v1/agents"),
        ("PATCH", "/v1/agents/ag_1"),
        ("GET", "/v1/agents?page=1&page_size=5&search=weather"),
        ("GET", "/v1/agents/ag_1?agent_version=stable"),
        ("PATCH", "/v1/agents/ag_1/version?version=2"),
        ("GET", "/v1/agents/ag_1/versions?page_size=3"),
        ("GET", "/v1/agents/ag_1/versions/2"),
        ("PUT", "/v1/agents/ag_1/aliases?alias=stable&version=1"),
        ("GET", "/v1/agents/ag_1/aliases"),
        ("DELETE", "/v1/agents/ag_1/aliases?alias=stable"),
        ("DELETE", "/v1/agents/ag_1"),
        ("GET", "/v1/conversations?page=2&page_size=10&metadata=%7B%22team%22%3A%22a%22%7D"),
        ("GET", "/v1/conversations/c1/history"),
        ("GET", "/v1/conversations/c1/messages"),
        ("DELETE", "/v1/conversations/c1"),
    ]


async def _async_tool(city: str) -> str:
    return city


async def _async_confirm(call: Any) -> bool:
    return True


def test_the_blocking_loop_refuses_async_functions(raw: RawServer) -> None:
    with Mistral(base_url=raw.base_url) as client:
        with pytest.raises(InvalidRequestError, match="'_async_tool' is an async function"):
            client.conversations.run("hi", model="m", tools=[_async_tool])
        with pytest.raises(InvalidRequestError, match="confirm is an async function"):
            client.conversations.run_stream("hi", model="m", tools=[print], confirm=_async_confirm)
    assert raw.connections == []


def test_each_keyword_typeddict_names_exactly_its_requests_fields() -> None:
    # The keyword arguments a type checker accepts are the fields the request check accepts.
    from mistral_client._wire import conversation_requests as requests
    from mistral_client._wire.agents import AgentsCompletionRequest, AgentsParams

    def names(typed: Any) -> set[str]:
        return set(typed.__annotations__) | {
            name for base in typed.__mro__[1:] for name in getattr(base, "__annotations__", {})
        }

    assert names(AgentsParams) == set(AgentsCompletionRequest.__struct_fields__) - {"agent_id", "messages", "stream"}
    assert set(requests.ConversationParams.__optional_keys__) == set(requests._Start.__struct_fields__) - {
        "inputs",
        "stream",
    }
    assert set(requests.AppendParams.__optional_keys__) == set(requests._Append.__struct_fields__) - {
        "inputs",
        "stream",
    }
    restart = set(requests._Restart.__struct_fields__) - {"inputs", "stream", "from_entry_id"}
    assert set(requests.RestartParams.__optional_keys__) == restart
    assert set(requests.RunParams.__optional_keys__) == set(requests.ConversationParams.__optional_keys__) - {"tools"}
