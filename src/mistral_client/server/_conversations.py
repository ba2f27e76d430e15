"""The Conversations endpoints: start, append and restart a conversation (a whole answer, or a
stream of named events), and get, list, read (history, messages) and delete one.

A conversation is kept in memory (``_agent_store``) with its entries; what a turn answers is
decided in ``_conversation_engine``, how it streams (with the chat stream's faults) in
``_conversation_stream``. A turn is stored once it is complete (``conversation.response.done``):
one cut short by a fault or a client that left leaves the conversation as it was, and
``store: false`` keeps nothing.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._agent_store import Conversation, Stores, new_id, now, stores_of
from ._agents import agent_not_found, invalid_model, model_refused, with_faults
from ._conversation_engine import Outputs, Speaker, Turn, assemble, prompt_messages, turn_events
from ._conversation_requests import AppendRequest, ConversationRequest, RestartRequest, with_default_types
from ._conversation_stream import ConversationEventStream, conversation_body
from ._engine import EngineBusy, Prompt
from ._errors import engine_busy, error_response
from ._routes import begin_request, first_not_none, is_blocking
from ._state import knobs_of, shared_of
from ._stream import ClosingStreamingResponse

__all__ = ["CONVERSATION_ROUTES"]


def conversation_not_found(conversation_id: str) -> Response:
    return error_response(404, f"Conversation not found: {conversation_id}", "not_found", "3004")


def _invalid(message: str) -> Response:
    return error_response(400, message, "invalid_request_error", "3001")


def _value_error(message: str, loc: Sequence[str], value: Any) -> Response:
    detail = [{"type": "value_error", "loc": ["body", *loc], "msg": f"Value error, {message}", "input": value}]
    return JSONResponse({"detail": detail}, status_code=422)


# --- Endpoints -------------------------------------------------------------------------------------


async def start(request: Request) -> Response:
    body = await begin_request(request, ConversationRequest, with_default_types)
    if isinstance(body, Response):
        return body
    model, agent_id = body.get("model"), body.get("agent_id")
    if (model is None) == (agent_id is None):
        which = "both" if model is not None else "neither"
        return _value_error(f"exactly one of model and agent_id must be given, not {which}", [], body)
    stores = stores_of(request)
    settings = {name: body.get(name) for name in ("instructions", "tools", "completion_args", "guardrails")}
    if agent_id is not None:
        if settings["instructions"] is not None or settings["tools"] is not None:
            return _invalid("instructions and tools cannot be given with agent_id: they are the agent's")
        if stores.agents.get(agent_id, body.get("agent_version")) is None:
            return agent_not_found(agent_id)
    elif model_refused(request, str(model)):
        return invalid_model(str(model))
    stamp = now()
    conversation = Conversation(
        id=new_id("conv"),
        created_at=stamp,
        updated_at=stamp,
        model=model,
        agent_id=agent_id,
        agent_version=body.get("agent_version"),
        settings=settings,
        about={name: body.get(name) for name in ("name", "description", "metadata")},
    )
    inputs = _entries(body["inputs"])
    if (refusal := _order_problem([], inputs)) is not None:
        return refusal
    return await _answer(request, stores, conversation, inputs, body, store=body.get("store") is not False)


async def append(request: Request) -> Response:
    body = await begin_request(request, AppendRequest, with_default_types)
    if isinstance(body, Response):
        return body
    stores = stores_of(request)
    conversation_id = request.path_params["conversation_id"]
    conversation = stores.conversations.get(conversation_id)
    if conversation is None:
        return conversation_not_found(conversation_id)
    if "inputs" not in body and not body.get("tool_confirmations"):
        detail = [{"type": "missing", "loc": ["body", "inputs"], "msg": "Field required", "input": body}]
        return JSONResponse({"detail": detail}, status_code=422)
    if confirmations := body.get("tool_confirmations"):
        # This server's function calls never wait for a confirmation.
        call_id = confirmations[0]["tool_call_id"]
        return _invalid(f"No function call waits for a confirmation with tool_call_id {call_id}")
    inputs = _entries(body.get("inputs", []))
    if (refusal := _order_problem(conversation.entries, inputs)) is not None:
        return refusal
    return await _answer(request, stores, conversation, inputs, body, store=body.get("store", True))


async def restart(request: Request) -> Response:
    body = await begin_request(request, RestartRequest, with_default_types)
    if isinstance(body, Response):
        return body
    stores = stores_of(request)
    conversation_id = request.path_params["conversation_id"]
    original = stores.conversations.get(conversation_id)
    if original is None:
        return conversation_not_found(conversation_id)
    entry_id = body["from_entry_id"]
    position = next((i for i, e in enumerate(original.entries) if e.get("id") == entry_id), None)
    if position is None:
        return error_response(404, f"Entry not found in {conversation_id}: {entry_id}", "not_found", "3004")
    if original.agent_id is not None and body.get("agent_version") is not None:
        if stores.agents.get(original.agent_id, body["agent_version"]) is None:
            return error_response(
                404, f"Agent {original.agent_id} has no version {body['agent_version']}", "not_found", "3004"
            )
    stamp = now()
    conversation = Conversation(
        id=new_id("conv"),
        created_at=stamp,
        updated_at=stamp,
        model=original.model,
        agent_id=original.agent_id,
        agent_version=body.get("agent_version", original.agent_version),
        settings=copy.deepcopy(original.settings),
        about={**original.about, **({"metadata": body["metadata"]} if body.get("metadata") is not None else {})},
        entries=copy.deepcopy(original.entries[: position + 1]),
    )
    inputs = _entries(body.get("inputs", []))
    if (refusal := _order_problem(conversation.entries, inputs)) is not None:
        return refusal
    return await _answer(request, stores, conversation, inputs, body, store=body.get("store", True))


async def get_conversation(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    conversation = stores_of(request).conversations.get(conversation_id)
    if conversation is None:
        return conversation_not_found(conversation_id)
    return JSONResponse(conversation.shown())


async def list_conversations(request: Request) -> Response:
    query = request.query_params
    for name in ("page", "page_size"):
        value = query.get(name, "0")
        if not (value.isascii() and value.isdigit()):
            detail = {"type": "int_parsing", "loc": ["query", name], "msg": "Input should be a valid integer"}
            return JSONResponse({"detail": [{**detail, "input": value}]}, status_code=422)
    page, size = int(query.get("page", "0")), int(query.get("page_size", "100"))
    conversations = stores_of(request).conversations.all()[page * size : (page + 1) * size]
    return JSONResponse([c.shown() for c in conversations])


async def history(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    conversation = stores_of(request).conversations.get(conversation_id)
    if conversation is None:
        return conversation_not_found(conversation_id)
    return JSONResponse(
        {"object": "conversation.history", "conversation_id": conversation.id, "entries": conversation.entries}
    )


async def messages(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    conversation = stores_of(request).conversations.get(conversation_id)
    if conversation is None:
        return conversation_not_found(conversation_id)
    kept = [e for e in conversation.entries if e.get("type") in ("message.input", "message.output")]
    return JSONResponse({"object": "conversation.messages", "conversation_id": conversation.id, "messages": kept})


async def delete(request: Request) -> Response:
    conversation_id = request.path_params["conversation_id"]
    if not stores_of(request).conversations.delete(conversation_id):
        return conversation_not_found(conversation_id)
    return Response(status_code=204)


CONVERSATION_ROUTES = [
    Route("/v1/conversations", start, methods=["POST"]),
    Route("/v1/conversations", with_faults(list_conversations), methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", append, methods=["POST"]),
    Route("/v1/conversations/{conversation_id}", with_faults(get_conversation), methods=["GET"]),
    Route("/v1/conversations/{conversation_id}", with_faults(delete), methods=["DELETE"]),
    Route("/v1/conversations/{conversation_id}/history", with_faults(history), methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/messages", with_faults(messages), methods=["GET"]),
    Route("/v1/conversations/{conversation_id}/restart", restart, methods=["POST"]),
]


# --- A turn ----------------------------------------------------------------------------------------


def _entries(inputs: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inputs as the entries the conversation keeps: a string is a user's message."""
    given = [{"type": "message.input", "role": "user", "content": inputs}] if isinstance(inputs, str) else inputs
    entries = []
    for entry in given:
        kept = {"object": "entry", **copy.deepcopy(entry)}
        kept.setdefault("created_at", now())
        kept.setdefault("completed_at", None)
        kept.setdefault("id", new_id(_ID_PREFIX.get(kept["type"], "entry")))
        if kept["type"] == "message.input":
            kept.setdefault("prefix", False)
        entries.append(kept)
    return entries


_ID_PREFIX = {
    "message.input": "msg",
    "message.output": "msg",
    "function.call": "fc",
    "function.result": "fr",
    "tool.execution": "tool_exec",
    "agent.handoff": "handoff",
}


def _order_problem(history: Sequence[dict[str, Any]], inputs: Sequence[dict[str, Any]]) -> Response | None:
    """A 400 when the inputs do not follow from the conversation: a function call waiting for its
    result gets it before anything else, and a result answers a call that was made, once."""
    waiting = _waiting_calls(history)
    called = {e["tool_call_id"] for e in [*history, *inputs] if e.get("type") == "function.call"}
    answered = {e["tool_call_id"] for e in inputs if e.get("type") == "function.result"}
    given: set[str] = {e["tool_call_id"] for e in history if e.get("type") == "function.result"}
    for entry in inputs:
        if entry.get("type") != "function.result":
            continue
        call_id = entry["tool_call_id"]
        if call_id not in called:
            return _invalid(f"function.result for tool_call_id {call_id}, which no function.call made")
        if call_id in given:
            return _invalid(f"function.result for tool_call_id {call_id}, which already has its result")
        given.add(call_id)
    missing = [call_id for call_id in waiting if call_id not in answered]
    if missing:
        return _invalid(
            f"The conversation waits for the result of function call {', '.join(missing)}: "
            "append a function.result entry with this tool_call_id"
        )
    return None


def _waiting_calls(entries: Sequence[dict[str, Any]]) -> list[str]:
    results = {e.get("tool_call_id") for e in entries if e.get("type") == "function.result"}
    return [e["tool_call_id"] for e in entries if e.get("type") == "function.call" and e["tool_call_id"] not in results]


def _speaker(stores: Stores, conversation: Conversation, completion_args: dict[str, Any] | None) -> Speaker:
    """Who answers the next turn: the conversation's agent (or, right after a handoff the client
    executes, the agent handed to), else its model with its settings."""
    if conversation.agent_id is not None:
        last = conversation.entries[-1] if conversation.entries else {}
        handed_to = last.get("next_agent_id") if last.get("type") == "agent.handoff" else None
        speaker = (handed_to and _agent_speaker(stores, handed_to)) or _agent_speaker(
            stores, conversation.agent_id, conversation.agent_version
        )
        if speaker is not None:
            return replace(speaker, completion_args={**speaker.completion_args, **(completion_args or {})})
    settings = conversation.settings
    return Speaker(
        model=conversation.model or "",
        instructions=settings.get("instructions"),
        tools=settings.get("tools") or (),
        completion_args={**(settings.get("completion_args") or {}), **(completion_args or {})},
    )


def _agent_speaker(stores: Stores, agent_id: str, version: int | str | None = None) -> Speaker | None:
    agent = stores.agents.get(agent_id, version)
    if agent is None:
        return None
    return Speaker(
        model=agent["model"],
        agent_id=agent["id"],
        agent_name=agent["name"],
        instructions=agent.get("instructions"),
        tools=agent.get("tools") or (),
        completion_args=agent.get("completion_args") or {},
        handoffs=agent.get("handoffs") or (),
    )


async def _answer(
    request: Request,
    stores: Stores,
    conversation: Conversation,
    inputs: list[dict[str, Any]],
    body: dict[str, Any],
    *,
    store: bool,
) -> Response:
    shared, knobs = shared_of(request), knobs_of(request)
    config = shared.config
    speaker = _speaker(stores, conversation, body.get("completion_args"))
    if not speaker.model:
        return agent_not_found(conversation.agent_id or "")
    history = [*conversation.entries, *inputs]
    prompt = Prompt(model=speaker.model, messages=prompt_messages(speaker.instructions, history))
    shared.window.spend(tokens=config.engine.count_prompt_tokens(prompt))
    turn = Turn(
        conversation_id=conversation.id,
        speaker=speaker,
        history=history,
        engine=config.engine,
        target_tokens=config.default_tokens if knobs.tokens is None else knobs.tokens,
        find_agent=lambda agent_id: _agent_speaker(stores, agent_id),
        handoff_execution=body.get("handoff_execution") or "server",
    )

    def commit(outputs: list[dict[str, Any]]) -> None:
        if store:
            conversation.entries = [*history, *outputs]
            conversation.updated_at = now()
            stores.conversations.add(conversation)

    blocking = is_blocking(config.engine)
    if not body.get("stream"):
        delay = first_not_none(knobs.first_token_delay, config.first_token_delay)
        if delay > 0:
            await asyncio.sleep(delay)
        events = turn_events(turn)
        try:
            every = await asyncio.to_thread(list, events) if blocking else list(events)
        except EngineBusy as busy:
            return engine_busy(busy)
        outputs, usage = assemble(every)
        commit(outputs)
        return JSONResponse(
            {"object": "conversation.response", "conversation_id": conversation.id, "outputs": outputs, "usage": usage}
        )
    so_far = Outputs()
    stream = ConversationEventStream(
        events=_adding(turn_events(turn), so_far),
        faults=knobs.stream,
        first_token_delay=first_not_none(knobs.first_token_delay, config.first_token_delay),
        token_delay=first_not_none(knobs.token_delay, config.token_delay),
        record=request.state.record,
        recorder=shared.recorder,
        blocking=blocking,
        cancel=turn.cancelled,
        on_done=lambda: commit(so_far.entries()),
    )
    return ClosingStreamingResponse(conversation_body(stream))


def _adding(events: Iterator[dict[str, Any]], outputs: Outputs) -> Iterator[dict[str, Any]]:
    for event in events:
        outputs.add(event)
        yield event
