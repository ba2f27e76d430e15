"""What a conversation turn answers, as the events of a conversation stream.

A turn is a sequence of event payloads (``conversation.response.started`` first,
``conversation.response.done`` with the usage last), split like the live service's: one
``message.output.delta`` per token, function call arguments and tool arguments in token-like
pieces. The streamed answer sends them as they come; the whole answer (``outputs``) is assembled
from the same events (``Outputs``), so the two always agree.

The answer is deterministic, decided by the conversation so far:

- the last entry is a ``function.result``: the agent (or model) that made the call calls its next
  function not called since the user's last message, or, when none is left, answers in text;
- the speaker is an agent with ``handoffs``: it hands off to the first one it knows
  (``agent.handoff``), which goes on; an agent already in the turn is not handed to again, and with
  ``handoff_execution: "client"`` the turn ends at the handoff;
- the speaker has built-in tools: each runs once (``tool.execution.started/delta/done``), with
  results made from the question;
- the speaker has function tools (and ``tool_choice`` is not ``none``): it calls those the user's
  message names (``get_weather`` or ``get weather``), all in one turn, or else the first one, with
  arguments made from their JSON schemas, and the turn ends there, waiting for the results;
- otherwise, text from the server's engine (the deterministic one, or a real model) as it is
  made, with what the built-in tools found after its first sentence.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._agent_store import new_id, now
from ._answers import Piece, answer_items, names, tool_call_id
from ._catalog import can
from ._engine import Engine, Finish, Prompt, message_text, prompt_seed
from ._schema_values import value_for

__all__ = ["DELTA_EVENTS", "Outputs", "Speaker", "Turn", "assemble", "prompt_messages", "turn_events"]

# The events that carry a piece of an output: the stream's faults count these, as chat's count chunks.
DELTA_EVENTS = frozenset({"message.output.delta", "function.call.delta", "tool.execution.delta"})
# Token-like pieces of a JSON text, as chat's fragmented tool calls (joined back they give the text).
_PIECES = re.compile(r"\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class Speaker:
    """Who answers: a model with the conversation's settings, or an agent with its own."""

    model: str
    agent_id: str | None = None
    agent_name: str = ""
    instructions: str | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    completion_args: Mapping[str, Any] = field(default_factory=dict)
    handoffs: Sequence[str] = ()


@dataclass
class Turn:
    conversation_id: str
    speaker: Speaker
    history: list[dict[str, Any]]  # every entry so far, the new inputs included
    engine: Engine
    target_tokens: int
    find_agent: Callable[[str], Speaker | None]
    handoff_execution: str = "server"
    cancelled: threading.Event = field(default_factory=threading.Event)


def turn_events(turn: Turn) -> Iterator[dict[str, Any]]:
    """The events of the turn's answer, started to done."""
    yield {"type": "conversation.response.started", "created_at": now(), "conversation_id": turn.conversation_id}
    state = _State()
    speaker = turn.speaker
    last = turn.history[-1] if turn.history else {}
    if last.get("type") == "function.result":
        speaker = _caller(turn, last) or speaker
        called = _called_since_the_question(turn.history)
        waiting = [f for f in _functions(speaker) if f.get("name") not in called]
        if waiting:
            yield from _function_call(turn, speaker, waiting[0], state)
        else:
            yield from _text(turn, speaker, state, [])
    else:
        visited = {speaker.agent_id}
        while speaker.handoffs:
            known = (turn.find_agent(agent_id) for agent_id in speaker.handoffs if agent_id not in visited)
            target = next((agent for agent in known if agent is not None), None)
            if target is None:
                break
            yield from _handoff(speaker, target, state)
            visited.add(target.agent_id)
            speaker = target
            if turn.handoff_execution == "client":
                yield _done(state, _prompt_tokens(turn))
                return
        findings: list[dict[str, Any]] = []
        for tool in speaker.tools:
            if tool.get("type", "function") != "function":
                findings += yield from _tool_execution(turn, speaker, tool, state)
        functions = _functions(speaker)
        if functions:
            # The functions the question names, in one round (parallel calls), else the first.
            question = _last_question(turn.history).lower()
            for function in [f for f in functions if names(question, f)] or functions[:1]:
                yield from _function_call(turn, speaker, function, state)
        else:
            yield from _text(turn, speaker, state, findings)
    yield _done(state, _prompt_tokens(turn))


def _functions(speaker: Speaker) -> list[Mapping[str, Any]]:
    """The functions the speaker may call (none when ``tool_choice`` is ``none``)."""
    if speaker.completion_args.get("tool_choice") == "none":
        return []
    return [t["function"] for t in speaker.tools if t.get("type", "function") == "function"]


def _called_since_the_question(history: Sequence[Mapping[str, Any]]) -> set[str]:
    """The names of the functions called since the user's last message."""
    called: set[str] = set()
    for entry in reversed(history):
        if entry.get("type") == "message.input" and entry.get("role") == "user":
            break
        if entry.get("type") == "function.call":
            called.add(str(entry.get("name")))
    return called


@dataclass
class _State:
    output_index: int = 0
    completion_tokens: int = 0
    connectors: dict[str, int] = field(default_factory=dict)

    def next_output(self) -> int:
        index = self.output_index
        self.output_index += 1
        return index


def _done(state: _State, prompt_tokens: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": state.completion_tokens,
        "total_tokens": prompt_tokens + state.completion_tokens,
    }
    if state.connectors:
        usage["connector_tokens"] = 0
        usage["connectors"] = dict(state.connectors)
    return {"type": "conversation.response.done", "created_at": now(), "usage": usage}


# --- The prompt ------------------------------------------------------------------------------------


def prompt_messages(instructions: str | None, history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversation as chat messages, for the engine (which only knows chat)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}] if instructions else []
    for entry in history:
        kind = entry.get("type")
        if kind in ("message.input", "message.output"):
            content = entry.get("content")
            text = content if isinstance(content, str) else message_text({"content": content})
            messages.append({"role": entry.get("role", "assistant"), "content": text})
        elif kind == "function.call":
            arguments = entry.get("arguments")
            text = arguments if isinstance(arguments, str) else json.dumps(arguments)
            call = {"name": entry.get("name", ""), "arguments": text}
            messages.append({"role": "assistant", "tool_calls": [{"id": entry.get("tool_call_id"), "function": call}]})
        elif kind == "function.result":
            messages.append({"role": "tool", "tool_call_id": entry.get("tool_call_id"), "content": entry.get("result")})
    return messages


def _prompt(turn: Turn, speaker: Speaker) -> Prompt:
    args = speaker.completion_args
    stop = args.get("stop")
    return Prompt(
        model=speaker.model,
        messages=prompt_messages(speaker.instructions, turn.history),
        max_tokens=args.get("max_tokens"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        random_seed=args.get("random_seed"),
        temperature=args.get("temperature"),
        top_p=args.get("top_p"),
        target_tokens=turn.target_tokens,
        cancelled=turn.cancelled,
    )


def _prompt_tokens(turn: Turn) -> int:
    return turn.engine.count_prompt_tokens(_prompt(turn, turn.speaker))


def _last_question(history: Sequence[Mapping[str, Any]]) -> str:
    """The text of the user's last message."""
    for entry in reversed(history):
        if entry.get("type") == "message.input" and entry.get("role") == "user":
            content = entry.get("content")
            return content if isinstance(content, str) else message_text({"content": content})
    return ""


def _question(turn: Turn) -> str:
    """The last thing the user asked, a few words of it: what the built-in tools look up."""
    return " ".join(_last_question(turn.history).split()[:8]) or "nothing"


# --- Outputs ---------------------------------------------------------------------------------------


def _identity(speaker: Speaker) -> dict[str, Any]:
    return {"model": speaker.model, "agent_id": speaker.agent_id}


def _text(turn: Turn, speaker: Speaker, state: _State, findings: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """A message output: the engine's text as it comes, one delta per piece, with the chunks the
    tools found after its first sentence (each at its own ``content_index``, the text after them
    at the next one), or at its end when no sentence ends."""
    output_index, entry_id = state.next_output(), new_id("msg")
    model, agent_id = speaker.model, speaker.agent_id
    content_index, pieces, pending = 0, 0, list(findings)

    def delta(content: Any) -> dict[str, Any]:
        return {
            "type": "message.output.delta",
            "created_at": now(),
            "output_index": output_index,
            "id": entry_id,
            "content_index": content_index,
            "model": model,
            "agent_id": agent_id,
            "role": "assistant",
            "content": content,
        }

    finish = Finish("stop")
    # Shaped as chat shapes it: JSON when completion_args ask for it, thinking first for a model
    # that reasons (magistral); else the engine's text as it is.
    asked = {
        "response_format": speaker.completion_args.get("response_format"),
        "prompt_mode": "reasoning" if can(model, "reasoning") else None,
    }
    thought = False
    for got in answer_items(_prompt(turn, speaker), turn.engine, asked):
        if isinstance(got, Finish):
            finish = got
            break
        item: Any = got
        if isinstance(got, Piece):
            part = got.delta["content"][0]  # thinking (a chunk of its own), then text
            if part["type"] == "thinking":
                thought = True
                pieces += 1
                yield delta(part)
                continue
            item = part["text"]
            if thought:
                thought, content_index = False, content_index + 1
        yield delta(item)
        pieces += 1
        if pending and item.rstrip().endswith((".", "!", "?")):
            # The sources come after the first sentence, as the live service cites them.
            for chunk in pending:
                content_index += 1
                yield delta(chunk)
            pending = []
            content_index += 1
    for chunk in pending:
        content_index += 1
        yield delta(chunk)
    state.completion_tokens += finish.completion_tokens if finish.completion_tokens is not None else pieces


def _function_call(
    turn: Turn, speaker: Speaker, function: Mapping[str, Any], state: _State
) -> Iterator[dict[str, Any]]:
    prompt = _prompt(turn, speaker)
    rng = random.Random(prompt_seed(prompt, f"function:{function.get('name')}"))
    call_id, name = tool_call_id(rng), str(function.get("name", ""))
    arguments = json.dumps(value_for(function.get("parameters") or {}, rng), ensure_ascii=False)
    output_index, entry_id = state.next_output(), new_id("fc")
    for piece in _PIECES.findall(arguments):
        yield {
            "type": "function.call.delta",
            "created_at": now(),
            "output_index": output_index,
            "id": entry_id,
            **_identity(speaker),
            "name": name,
            "tool_call_id": call_id,
            "arguments": piece,
        }
        state.completion_tokens += 1


def _tool_execution(
    turn: Turn, speaker: Speaker, tool: Mapping[str, Any], state: _State
) -> Generator[dict[str, Any], None, list[dict[str, Any]]]:
    """A built-in tool's run; returns the chunks the answer's text shows for it (references, files)."""
    kind = str(tool.get("type"))
    name = str(tool.get("connector_id", kind)) if kind == "connector" else kind
    question = _question(turn)
    rng = random.Random(prompt_seed(_prompt(turn, speaker), f"tool:{name}"))
    arguments, info, found = _built_in(kind, name, question, tool, rng)
    output_index, entry_id = state.next_output(), new_id("tool_exec")
    base = {"output_index": output_index, "id": entry_id}
    yield {
        "type": "tool.execution.started",
        "created_at": now(),
        **base,
        **_identity(speaker),
        "name": name,
        "arguments": "",
    }
    for piece in _PIECES.findall(json.dumps(arguments, ensure_ascii=False)):
        yield {"type": "tool.execution.delta", "created_at": now(), **base, "name": name, "arguments": piece}
    yield {"type": "tool.execution.done", "created_at": now(), **base, "name": name, "info": info}
    state.connectors[name] = state.connectors.get(name, 0) + 1
    return found


def _built_in(
    kind: str, name: str, question: str, tool: Mapping[str, Any], rng: random.Random
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """Arguments, info and the chunks found, for one built-in tool: made up, but the same each time."""
    slug = "-".join(question.lower().split()[:4]) or "nothing"
    if kind in ("web_search", "web_search_premium"):
        found = [
            {
                "type": "tool_reference",
                "tool": kind,
                "title": f"Result {n} for {question}",
                "url": f"https://example.com/{slug}/{n}",
                "favicon": None,
                "description": f"What page {n} says about {question}",
            }
            for n in (1, 2)
        ]
        return {"query": question}, {"results": len(found)}, found
    if kind == "code_interpreter":
        count = rng.randint(3, 30)
        code = f"print(sum(range({count})))"
        return {"code": code}, {"code": code, "code_output": f"{count * (count - 1) // 2}\n"}, []
    if kind == "image_generation":
        file_id = f"{rng.getrandbits(128):032x}"
        chunk = {
            "type": "tool_file",
            "tool": "image_generation",
            "file_id": file_id,
            "file_name": "image_generated_0",
            "file_type": "png",
        }
        return {"prompt": question}, {"file_id": file_id}, [chunk]
    if kind == "document_library":
        libraries = list(tool.get("library_ids") or ())
        found = [
            {"type": "tool_reference", "tool": "document_library", "title": f"Document 1 of {library}"}
            for library in libraries[:2]
        ]
        return {"query": question}, {"library_ids": libraries}, found
    return {"query": question}, {"connector": name}, []


def _handoff(source: Speaker, target: Speaker, state: _State) -> Iterator[dict[str, Any]]:
    output_index, entry_id = state.next_output(), new_id("handoff")
    base = {"output_index": output_index, "id": entry_id}
    yield {
        "type": "agent.handoff.started",
        "created_at": now(),
        **base,
        "previous_agent_id": source.agent_id or "",
        "previous_agent_name": source.agent_name,
    }
    yield {
        "type": "agent.handoff.done",
        "created_at": now(),
        **base,
        "next_agent_id": target.agent_id or "",
        "next_agent_name": target.agent_name,
    }


def _caller(turn: Turn, result: Mapping[str, Any]) -> Speaker | None:
    """The agent that made the call ``result`` answers, which answers next."""
    for entry in reversed(turn.history):
        if entry.get("type") == "function.call" and entry.get("tool_call_id") == result.get("tool_call_id"):
            agent_id = entry.get("agent_id")
            if agent_id and agent_id != turn.speaker.agent_id:
                return turn.find_agent(agent_id)
            return None
    return None


# --- The whole answer ------------------------------------------------------------------------------


class Outputs:
    """The outputs (entries) and usage that the events of one turn add up to, added as they go:
    a long stream keeps its text, not its events."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}
        self._parts: dict[str, dict[int, list[Any]]] = {}
        self.usage: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}

    def add(self, event: Mapping[str, Any]) -> None:
        kind, entry_id, stamp = event["type"], event.get("id", ""), event.get("created_at") or now()
        entry = self._entries.get(entry_id)
        if kind == "message.output.delta":
            if entry is None:
                entry = self._entries[entry_id] = _entry("message.output", event, stamp)
                entry.update(role="assistant", content="")
                self._parts[entry_id] = {}
            self._parts[entry_id].setdefault(event["content_index"], []).append(event["content"])
        elif kind == "function.call.delta":
            if entry is None:
                entry = self._entries[entry_id] = _entry("function.call", event, stamp)
                entry.update(tool_call_id=event["tool_call_id"], name=event["name"], arguments="")
            entry["arguments"] += event["arguments"]
        elif kind == "tool.execution.started":
            entry = self._entries[entry_id] = _entry("tool.execution", event, stamp)
            entry.update(name=event["name"], arguments=event["arguments"])
        elif kind == "tool.execution.delta" and entry is not None:
            entry["arguments"] += event["arguments"]
        elif kind == "tool.execution.done" and entry is not None:
            entry["info"] = event.get("info") or {}
        elif kind == "agent.handoff.started":
            entry = self._entries[entry_id] = {"object": "entry", "type": "agent.handoff", "created_at": stamp}
            entry.update(completed_at=None, id=entry_id)
            entry.update(previous_agent_id=event["previous_agent_id"], previous_agent_name=event["previous_agent_name"])
        elif kind == "agent.handoff.done" and entry is not None:
            entry.update(next_agent_id=event["next_agent_id"], next_agent_name=event["next_agent_name"])
        elif kind == "conversation.response.done":
            self.usage = dict(event["usage"])
        if entry is not None:
            entry["completed_at"] = stamp

    def entries(self) -> list[dict[str, Any]]:
        """The outputs so far, as the conversation keeps them."""
        return [
            {**entry, "content": _content(self._parts[entry_id])} if entry_id in self._parts else dict(entry)
            for entry_id, entry in self._entries.items()
        ]


def assemble(events: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The outputs (entries) and usage that the events of one turn add up to."""
    outputs = Outputs()
    for event in events:
        outputs.add(event)
    return outputs.entries(), outputs.usage


def _entry(kind: str, event: Mapping[str, Any], stamp: str) -> dict[str, Any]:
    return {
        "object": "entry",
        "type": kind,
        "created_at": stamp,
        "completed_at": None,
        "id": event["id"],
        "agent_id": event.get("agent_id"),
        "model": event.get("model"),
    }


def _content(by_index: Mapping[int, list[Any]]) -> str | list[dict[str, Any]]:
    """A message's content: a string when it is text alone, else its chunks in order (the text of
    one content index in one text chunk, its thinking in one thinking chunk)."""
    if set(by_index) <= {0} and all(isinstance(p, str) for p in by_index.get(0, [])):
        return "".join(by_index.get(0, []))
    chunks: list[dict[str, Any]] = []
    for index in sorted(by_index):
        parts = by_index[index]
        thinking = "".join(
            inner["text"]
            for p in parts
            if isinstance(p, dict) and p.get("type") == "thinking"
            for inner in p["thinking"]
            if inner.get("type") == "text"
        )
        if thinking:
            chunks.append({"type": "thinking", "thinking": [{"type": "text", "text": thinking}]})
        text = "".join(p for p in parts if isinstance(p, str))
        if text:
            chunks.append({"type": "text", "text": text})
        chunks += [dict(p) for p in parts if isinstance(p, dict) and p.get("type") != "thinking"]
    return chunks
