"""Every Agents and Conversations operation of the official spec is served by the local server, and
each answer validates against the answer the spec gives that very operation (streams: each event
against the operation's ``text/event-stream`` schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from tests.support.conversations import BUILT_INS, MODEL, WEATHER, named_events
from tests.support.openapi import answer_validator, spec

FAMILIES = ("/v1/agents", "/v1/conversations")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


class Walker:
    """Calls operations by the spec's path, checks each answer against the spec, notes what it covered."""

    def __init__(self, client: httpx2.Client) -> None:
        self.client = client
        self.covered: set[tuple[str, str]] = set()

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None, **names: str) -> Any:
        url = path.split("#")[0].format(**names)
        streamed = path.endswith("#stream")
        body = {**json, "stream": True} if streamed else json
        response = self.client.request(method, url, json=body, params=params)
        status = str(response.status_code)
        assert status in ("200", "204"), (method, url, response.text)
        self.covered.add((path, method.lower()))
        if status == "204":
            assert response.content == b""
            return None
        if streamed:
            checker = answer_validator(path, method, status, "text/event-stream")
            events = named_events(response.content)
            for name, data in events:
                checker.validate({"event": name, "data": data})
            return events
        answer_validator(path, method, status).validate(response.json())
        return response.json()


def test_every_operation_is_served_and_answers_in_its_shape(server: LocalServer) -> None:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        walk = Walker(client)
        call = walk.call
        expert = call("POST", "/v1/agents", json={"model": MODEL, "name": "expert", "tools": [*BUILT_INS, WEATHER]})
        triage = call(
            "POST",
            "/v1/agents",
            json={"model": MODEL, "name": "triage", "instructions": "Route", "handoffs": [expert["id"]]},
        )
        agent = {"agent_id": triage["id"]}
        call("GET", "/v1/agents", params={"page_size": 100})
        call("GET", "/v1/agents/pages", params={"page_size": 1})
        call("GET", "/v1/agents/{agent_id}", **agent)
        call("PATCH", "/v1/agents/{agent_id}", json={"description": "Routes questions"}, **agent)
        call("PATCH", "/v1/agents/{agent_id}/version", params={"version": 0}, **agent)
        call("GET", "/v1/agents/{agent_id}/versions", **agent)
        call("GET", "/v1/agents/{agent_id}/versions/{version}", version="1", **agent)
        call("PUT", "/v1/agents/{agent_id}/aliases", params={"alias": "stable", "version": 1}, **agent)
        call("GET", "/v1/agents/{agent_id}/aliases", **agent)
        call("DELETE", "/v1/agents/{agent_id}/aliases", params={"alias": "stable"}, **agent)
        messages = [{"role": "user", "content": "Hi"}]
        call("POST", "/v1/agents/completions", json={"agent_id": expert["id"], "messages": messages})

        started = call("POST", "/v1/conversations", json={"inputs": "Weather?", **agent})
        conversation = {"conversation_id": started["conversation_id"]}
        waiting = started["outputs"][-1]
        assert waiting["type"] == "function.call"
        result = {"type": "function.result", "tool_call_id": waiting["tool_call_id"], "result": "21"}
        call("POST", "/v1/conversations/{conversation_id}", json={"inputs": [result]}, **conversation)
        call("POST", "/v1/conversations/{conversation_id}#stream", json={"inputs": "More"}, **conversation)
        call("POST", "/v1/conversations#stream", json={"inputs": "Weather?", "model": MODEL, "tools": BUILT_INS})
        history = call("GET", "/v1/conversations/{conversation_id}/history", **conversation)
        call("GET", "/v1/conversations/{conversation_id}/messages", **conversation)
        call("GET", "/v1/conversations/{conversation_id}", **conversation)
        call("GET", "/v1/conversations", params={"page_size": 100})
        entry = {"from_entry_id": history["entries"][0]["id"], "inputs": "Again"}
        call("POST", "/v1/conversations/{conversation_id}/restart", json=entry, **conversation)
        call("POST", "/v1/conversations/{conversation_id}/restart#stream", json=entry, **conversation)
        call("DELETE", "/v1/conversations/{conversation_id}", **conversation)
        call("DELETE", "/v1/agents/{agent_id}", **agent)

    operations = {
        (path, method)
        for path, item in spec()["paths"].items()
        if path.startswith(FAMILIES)
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert walk.covered == operations
