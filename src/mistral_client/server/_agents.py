"""The Agents endpoints: agents with versions and aliases (``/v1/agents...``), and
``POST /v1/agents/completions``, a chat completion with an agent's model, instructions and tools.

An agent is kept in memory (``_agent_store``); every update makes a new version, which becomes the
current one. The completion is the chat endpoint's answer (``_routes.answer_chat``) to a chat
request made from the agent and the request, so it streams, calls tools and fails as chat does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._agent_store import stores_of
from ._catalog import accepts, can
from ._conversation_requests import AgentsCompletionRequest, CreateAgentRequest, UpdateAgentRequest, with_default_types
from ._errors import error_response
from ._routes import answer_chat, begin_request, injected_answer
from ._state import shared_of

__all__ = ["AGENT_ROUTES", "agent_not_found", "invalid_model", "model_refused", "with_faults"]

_ALIAS = re.compile(r"[a-z]([a-z0-9_-]*[a-z0-9])?")


Endpoint = Callable[[Request], Awaitable[Response]]


def with_faults(endpoint: Endpoint) -> Endpoint:
    """An endpoint that reads no body, with the knobs' injected failures first (the others get
    them from ``begin_request``)."""

    @functools.wraps(endpoint)
    async def faulty(request: Request) -> Response:
        return injected_answer(request) or await endpoint(request)

    return faulty


def agent_not_found(agent_id: str) -> Response:
    return error_response(404, f"Agent not found: {agent_id}", "not_found", "3004")


def invalid_model(model: str) -> Response:
    return error_response(400, f"Invalid model: {model}", "invalid_model", "1500")


def model_refused(request: Request, model: str) -> bool:
    config = shared_of(request).config
    return not accepts(model, config.models, any_model=config.any_model) or not can(model, "completion_chat")


def _handoffs_unknown(request: Request, handoffs: Any) -> Response | None:
    agents = stores_of(request).agents
    for agent_id in handoffs or ():
        if not agents.exists(agent_id):
            return error_response(400, f"Unknown agent in handoffs: {agent_id}", "invalid_request_error", "3001")
    return None


async def create_agent(request: Request) -> Response:
    body = await begin_request(request, CreateAgentRequest, with_default_types)
    if isinstance(body, Response):
        return body
    if model_refused(request, body["model"]):
        return invalid_model(body["model"])
    if (refusal := _handoffs_unknown(request, body.get("handoffs"))) is not None:
        return refusal
    return JSONResponse(stores_of(request).agents.create(body))


async def list_agents(request: Request) -> Response:
    query = request.query_params
    page = _whole(query.get("page"), 0)
    size = _whole(query.get("page_size"), 20)
    if page is None or size is None or size < 1 or size > 1000:
        return _query_problem("page and page_size must be whole numbers (page_size 1-1000)")
    agents = _filtered(stores_of(request).agents.all(), query)
    return JSONResponse(agents[page * size : (page + 1) * size])


async def list_agent_pages(request: Request) -> Response:
    query = request.query_params
    size = _whole(query.get("page_size"), 20)
    start = _whole(query.get("page_token"), 0)
    if size is None or start is None or size < 1 or size > 1000:
        return _query_problem("page_size must be a whole number 1-1000, page_token one this endpoint gave")
    agents = _filtered(stores_of(request).agents.all(), query)
    following = str(start + size) if start + size < len(agents) else None
    return JSONResponse({"object": "list", "data": agents[start : start + size], "next_page_token": following})


async def get_agent(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    version = request.query_params.get("agent_version")
    agent = stores_of(request).agents.get(agent_id, version)
    if agent is None:
        return agent_not_found(agent_id) if version is None else _no_version(agent_id, version)
    return JSONResponse(agent)


async def update_agent(request: Request) -> Response:
    body = await begin_request(request, UpdateAgentRequest, with_default_types)
    if isinstance(body, Response):
        return body
    agent_id = request.path_params["agent_id"]
    agents = stores_of(request).agents
    if not agents.exists(agent_id):
        return agent_not_found(agent_id)
    if body.get("model") is not None and model_refused(request, body["model"]):
        return invalid_model(body["model"])
    if (refusal := _handoffs_unknown(request, body.get("handoffs"))) is not None:
        return refusal
    # A null leaves a field as it was, except the ones that may be cleared.
    changes = {k: v for k, v in body.items() if v is not None or k in ("instructions", "description", "handoffs")}
    updated = agents.update(agent_id, changes)
    return JSONResponse(updated) if updated is not None else agent_not_found(agent_id)


async def delete_agent(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    if not stores_of(request).agents.delete(agent_id):
        return agent_not_found(agent_id)
    return Response(status_code=204)


async def switch_version(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    version = _whole(request.query_params.get("version"), None)
    if version is None:
        return _query_problem("version is required: a whole number", "version")
    agent = stores_of(request).agents.switch(agent_id, version)
    if agent is None:
        return (
            _no_version(agent_id, version) if stores_of(request).agents.exists(agent_id) else agent_not_found(agent_id)
        )
    return JSONResponse(agent)


async def list_versions(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    query = request.query_params
    page, size = _whole(query.get("page"), 0), _whole(query.get("page_size"), 20)
    if page is None or size is None or size < 1 or size > 100:
        return _query_problem("page and page_size must be whole numbers (page_size 1-100)")
    versions = stores_of(request).agents.versions(agent_id)
    if versions is None:
        return agent_not_found(agent_id)
    return JSONResponse(versions[page * size : (page + 1) * size])


async def get_version(request: Request) -> Response:
    agent_id, version = request.path_params["agent_id"], request.path_params["version"]
    agent = stores_of(request).agents.get(agent_id, version)
    if agent is None:
        return (
            _no_version(agent_id, version) if stores_of(request).agents.exists(agent_id) else agent_not_found(agent_id)
        )
    return JSONResponse(agent)


async def set_alias(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    alias = request.query_params.get("alias") or ""
    version = _whole(request.query_params.get("version"), None)
    if not _ALIAS.fullmatch(alias) or len(alias) > 64:
        return _query_problem("alias must match ^[a-z]([a-z0-9_-]*[a-z0-9])?$ (1-64 characters)", "alias")
    if version is None:
        return _query_problem("version is required: a whole number", "version")
    agents = stores_of(request).agents
    if not agents.exists(agent_id):
        return agent_not_found(agent_id)
    made = agents.set_alias(agent_id, alias, version)
    return JSONResponse(made) if made is not None else _no_version(agent_id, version)


async def list_aliases(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    aliases = stores_of(request).agents.aliases(agent_id)
    return JSONResponse(aliases) if aliases is not None else agent_not_found(agent_id)


async def delete_alias(request: Request) -> Response:
    agent_id = request.path_params["agent_id"]
    alias = request.query_params.get("alias") or ""
    agents = stores_of(request).agents
    if not agents.exists(agent_id):
        return agent_not_found(agent_id)
    if not agents.delete_alias(agent_id, alias):
        return error_response(404, f"Alias not found: {alias}", "not_found", "3004")
    return Response(status_code=204)


async def agents_completions(request: Request) -> Response:
    body = await begin_request(request, AgentsCompletionRequest, with_default_types)
    if isinstance(body, Response):
        return body
    agent = stores_of(request).agents.get(body["agent_id"])
    if agent is None:
        return agent_not_found(body["agent_id"])
    request.state.model = agent["model"]
    return await answer_chat(request, chat_request(agent, body))


def chat_request(agent: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat request an agents completion stands for: the agent's model, instructions, function
    tools and completion arguments, under what the request itself sets."""
    chat: dict[str, Any] = {"model": agent["model"]}
    args = agent.get("completion_args") or {}
    for name in ("stop", "presence_penalty", "frequency_penalty", "temperature", "top_p", "max_tokens", "random_seed"):
        if args.get(name) is not None:
            chat[name] = args[name]
    if args.get("response_format") is not None:
        chat["response_format"] = args["response_format"]
    if args.get("tool_choice") not in (None, "auto"):
        chat["tool_choice"] = args["tool_choice"]
    functions = [tool for tool in agent.get("tools") or () if tool.get("type", "function") == "function"]
    if functions:
        chat["tools"] = functions
    chat.update({k: v for k, v in body.items() if k != "agent_id"})
    if agent.get("instructions"):
        chat["messages"] = [{"role": "system", "content": agent["instructions"]}, *body["messages"]]
    return chat


def _filtered(agents: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    if (name := query.get("name")) is not None:
        agents = [a for a in agents if a["name"] == name]
    if (wanted := query.get("id")) is not None:
        agents = [a for a in agents if a["id"] == wanted]
    if search := (query.get("search") or "").lower():
        agents = [a for a in agents if search in a["name"].lower() or search in a["id"]]
    return agents


def _whole(raw: str | None, default: int | None) -> int | None:
    if raw is None:
        return default
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _query_problem(message: str, name: str = "page") -> Response:
    detail = [{"type": "value_error", "loc": ["query", name], "msg": message, "input": None}]
    return JSONResponse({"detail": detail}, status_code=422)


def _no_version(agent_id: str, version: object) -> Response:
    return error_response(404, f"Agent {agent_id} has no version {version}", "not_found", "3004")


AGENT_ROUTES = [
    # Before /v1/agents/{agent_id}: "completions" and "pages" are not agent ids.
    Route("/v1/agents/completions", agents_completions, methods=["POST"]),
    Route("/v1/agents/pages", with_faults(list_agent_pages), methods=["GET"]),
    Route("/v1/agents", create_agent, methods=["POST"]),
    Route("/v1/agents", with_faults(list_agents), methods=["GET"]),
    Route("/v1/agents/{agent_id}", with_faults(get_agent), methods=["GET"]),
    Route("/v1/agents/{agent_id}", update_agent, methods=["PATCH"]),
    Route("/v1/agents/{agent_id}", with_faults(delete_agent), methods=["DELETE"]),
    Route("/v1/agents/{agent_id}/version", with_faults(switch_version), methods=["PATCH"]),
    Route("/v1/agents/{agent_id}/versions", with_faults(list_versions), methods=["GET"]),
    Route("/v1/agents/{agent_id}/versions/{version}", with_faults(get_version), methods=["GET"]),
    Route("/v1/agents/{agent_id}/aliases", with_faults(set_alias), methods=["PUT"]),
    Route("/v1/agents/{agent_id}/aliases", with_faults(list_aliases), methods=["GET"]),
    Route("/v1/agents/{agent_id}/aliases", with_faults(delete_alias), methods=["DELETE"]),
]
