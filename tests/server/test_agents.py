"""The local server's Agents endpoints over real HTTP on loopback: agents with versions and aliases,
every answer checked against the official spec, and ``POST /v1/agents/completions`` answering as
chat does for the agent's model, instructions and tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from tests.support.conversations import AGENTS, MODEL, WEATHER, agent, problem
from tests.support.openapi import conforms
from tests.support.servertools import CHAT, chunks, content_chunks, events, text_of

COMPLETIONS = "/v1/agents/completions"
ASK = [{"role": "user", "content": "Tell me about Paris"}]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def ok(response: httpx2.Response, schema: str | None = None) -> Any:
    assert response.status_code == 200, response.text
    document = response.json()
    if schema is not None:
        conforms(schema, document)
    return document


# --- Agents --------------------------------------------------------------------------------------


def test_create_and_get(client: httpx2.Client) -> None:
    made = agent(
        client,
        name="weather",
        description="Knows the weather",
        instructions="Be brief",
        tools=[WEATHER, {"type": "web_search"}],
        completion_args={"temperature": 0.3},
        metadata={"team": "a"},
    )
    assert made["id"].startswith("ag_") and made["object"] == "agent"
    assert (made["version"], made["versions"], made["source"], made["deployment_chat"]) == (0, [0], "api", False)
    assert made["instructions"] == "Be brief" and made["completion_args"] == {"temperature": 0.3}
    assert [t["type"] for t in made["tools"]] == ["function", "web_search"]
    assert ok(client.get(f"{AGENTS}/{made['id']}"), "Agent") == made


def test_a_function_tool_without_a_type_is_a_function(client: httpx2.Client) -> None:
    made = agent(client, tools=[{"function": WEATHER["function"]}])
    assert made["tools"] == [WEATHER]


def test_list_and_pages(client: httpx2.Client) -> None:
    made = [agent(client, name=f"lister-{n}") for n in range(3)]
    listed = ok(client.get(AGENTS, params={"page_size": 1000}))
    for item in listed:
        conforms("Agent", item)
    ids = [a["id"] for a in listed]
    assert ids.index(made[2]["id"]) < ids.index(made[1]["id"]) < ids.index(made[0]["id"])  # newest first
    assert [a["id"] for a in ok(client.get(AGENTS, params={"name": "lister-1"}))] == [made[1]["id"]]
    first = ok(client.get(f"{AGENTS}/pages", params={"page_size": 2, "search": "lister-"}), "AgentListPage")
    assert [a["id"] for a in first["data"]] == [made[2]["id"], made[1]["id"]] and first["next_page_token"]
    params = {"page_size": 2, "search": "lister-", "page_token": first["next_page_token"]}
    second = ok(client.get(f"{AGENTS}/pages", params=params), "AgentListPage")
    assert [a["id"] for a in second["data"]] == [made[0]["id"]] and second["next_page_token"] is None


def test_updates_make_versions(client: httpx2.Client) -> None:
    made = agent(client, instructions="One")
    path = f"{AGENTS}/{made['id']}"
    updated = ok(client.patch(path, json={"instructions": "Two", "version_message": "v1"}), "Agent")
    assert (updated["version"], updated["versions"], updated["instructions"]) == (1, [0, 1], "Two")
    assert updated["name"] == made["name"] and updated["created_at"] == made["created_at"]
    assert ok(client.get(path, params={"agent_version": 0}), "Agent")["instructions"] == "One"
    assert ok(client.get(f"{path}/versions/0"), "Agent")["instructions"] == "One"
    versions = ok(client.get(f"{path}/versions"))
    assert [v["version"] for v in versions] == [0, 1]
    switched = ok(client.patch(f"{path}/version", params={"version": 0}), "Agent")
    assert (switched["version"], switched["instructions"]) == (0, "One")
    assert ok(client.get(path))["version"] == 0


def test_aliases(client: httpx2.Client) -> None:
    made = agent(client, instructions="One")
    path = f"{AGENTS}/{made['id']}"
    client.patch(path, json={"instructions": "Two"}).raise_for_status()
    alias = ok(client.put(f"{path}/aliases", params={"alias": "stable", "version": 0}), "AgentAliasResponse")
    assert (alias["alias"], alias["version"]) == ("stable", 0)
    assert ok(client.get(path, params={"agent_version": "stable"}))["instructions"] == "One"
    moved = ok(client.put(f"{path}/aliases", params={"alias": "stable", "version": 1}), "AgentAliasResponse")
    assert moved["version"] == 1 and moved["created_at"] == alias["created_at"]
    listed = ok(client.get(f"{path}/aliases"))
    assert [(a["alias"], a["version"]) for a in listed] == [("stable", 1)]
    assert client.delete(f"{path}/aliases", params={"alias": "stable"}).status_code == 204
    assert ok(client.get(f"{path}/aliases")) == []
    problem(client.get(path, params={"agent_version": "stable"}), 404)


def test_delete(client: httpx2.Client) -> None:
    made = agent(client)
    assert client.delete(f"{AGENTS}/{made['id']}").status_code == 204
    problem(client.get(f"{AGENTS}/{made['id']}"), 404)
    problem(client.delete(f"{AGENTS}/{made['id']}"), 404)


@pytest.mark.parametrize(
    ("method", "suffix", "params", "body"),
    [
        ("GET", "", None, None),
        ("PATCH", "", None, {"name": "x"}),
        ("DELETE", "", None, None),
        ("GET", "/versions", None, None),
        ("GET", "/versions/0", None, None),
        ("PATCH", "/version", {"version": 0}, None),
        ("GET", "/aliases", None, None),
        ("PUT", "/aliases", {"alias": "a", "version": 0}, None),
    ],
)
def test_an_unknown_agent_is_a_404(
    client: httpx2.Client, method: str, suffix: str, params: dict[str, Any] | None, body: Any
) -> None:
    response = client.request(method, f"{AGENTS}/ag_unknown{suffix}", params=params, json=body)
    assert "ag_unknown" in problem(response, 404)["message"]


def test_bad_agents(client: httpx2.Client) -> None:
    missing = problem(client.post(AGENTS, json={"model": MODEL}), 422)
    assert missing["detail"][0]["loc"] == ["body", "name"]
    problem(client.post(AGENTS, json={"model": MODEL, "name": "x", "temperature": 1}), 422)
    problem(client.post(AGENTS, json={"model": MODEL, "name": "x", "handoffs": []}), 422)
    assert "no-such" in problem(client.post(AGENTS, json={"model": "no-such", "name": "x"}), 400)["message"]
    unknown = problem(client.post(AGENTS, json={"model": MODEL, "name": "x", "handoffs": ["ag_nope"]}), 400)
    assert "ag_nope" in unknown["message"]
    made = agent(client)
    problem(client.put(f"{AGENTS}/{made['id']}/aliases", params={"alias": "Bad Alias", "version": 0}), 422)
    problem(client.put(f"{AGENTS}/{made['id']}/aliases", params={"alias": "ok", "version": 7}), 404)
    problem(client.get(f"{AGENTS}/{made['id']}/versions/7"), 404)


def test_agent_shapes_match_the_spec() -> None:
    """The request Structs have exactly the spec's fields (a new field there fails here)."""
    from mistral_client.server import _conversation_requests as shapes
    from tests.support.openapi import spec

    schemas = spec()["components"]["schemas"]
    expected = {
        shapes.CreateAgentRequest: "CreateAgentRequest",
        shapes.UpdateAgentRequest: "UpdateAgentRequest",
        shapes.AppendRequest: "AppendConversationRequest",
        shapes.RestartRequest: "RestartConversationRequest",
        shapes.ConversationRequest: "ConversationRequestBase",
        shapes.CompletionArgs: "CompletionArgs",
        shapes.AgentsCompletionRequest: "AgentsCompletionRequest",
    }
    for struct, name in expected.items():
        assert set(struct.__struct_fields__) == set(schemas[name]["properties"]), name
    assert set(schemas["AgentsCompletionRequest"]["properties"]) == shapes.AGENTS_COMPLETION_FIELDS


# --- Agents completions --------------------------------------------------------------------------


def test_a_completion_is_the_chat_answer_for_the_agent(client: httpx2.Client) -> None:
    made = agent(client, instructions="Answer in French", completion_args={"max_tokens": 5})
    document = ok(client.post(COMPLETIONS, json={"agent_id": made["id"], "messages": ASK}), "ChatCompletionResponse")
    assert document["model"] == MODEL and document["usage"]["completion_tokens"] == 5
    as_chat = [{"role": "system", "content": "Answer in French"}, *ASK]
    same = ok(client.post(CHAT, json={"model": MODEL, "messages": as_chat, "max_tokens": 5}))
    assert document["choices"][0]["message"]["content"] == same["choices"][0]["message"]["content"]
    # The request's own fields win over the agent's.
    longer = ok(client.post(COMPLETIONS, json={"agent_id": made["id"], "messages": ASK, "max_tokens": 7}))
    assert longer["usage"]["completion_tokens"] == 7


def test_a_streamed_completion_and_its_faults(client: httpx2.Client) -> None:
    made = agent(client)
    body = {"agent_id": made["id"], "messages": ASK, "stream": True}
    with client.stream("POST", COMPLETIONS, json=body, headers={"x-mock-tokens": "4"}) as response:
        parsed = chunks(events(response.read()))
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
    assert len(content_chunks(parsed)) == 4 and parsed[0]["model"] == MODEL
    whole = ok(client.post(COMPLETIONS, json={**body, "stream": False}, headers={"x-mock-tokens": "4"}))
    assert text_of(parsed) == whole["choices"][0]["message"]["content"]
    with client.stream("POST", COMPLETIONS, json=body, headers={"x-mock-error-event-after": "2"}) as response:
        data = events(response.read())
    assert json.loads(data[-1])["object"] == "error" and len(content_chunks(chunks(data[:-1]))) == 2


def test_an_agents_function_tools_are_called(client: httpx2.Client) -> None:
    made = agent(client, tools=[WEATHER, {"type": "web_search"}], completion_args={"tool_choice": "any"})
    document = ok(client.post(COMPLETIONS, json={"agent_id": made["id"], "messages": ASK}), "ChatCompletionResponse")
    (call,) = document["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and document["choices"][0]["finish_reason"] == "tool_calls"


def test_bad_completions(client: httpx2.Client) -> None:
    problem(client.post(COMPLETIONS, json={"agent_id": "ag_nope", "messages": ASK}), 404)
    problem(client.post(COMPLETIONS, json={"messages": ASK}), 422)
    made = agent(client)
    problem(client.post(COMPLETIONS, json={"agent_id": made["id"], "messages": ASK, "model": MODEL}), 422)
    problem(client.post(COMPLETIONS, json={"agent_id": made["id"], "messages": []}), 400)
