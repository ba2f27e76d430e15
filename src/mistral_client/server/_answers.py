"""What one request is answered with: text, tool calls, JSON or reasoning, for one or ``n`` choices.

An answer is a stream of items: a ``str`` is a content delta of choice 0 (the fast, common case),
a ``Piece`` any other delta, a ``Finish`` ends a choice. The streaming writer and the whole-JSON
answer read the same items, so a streamed answer and a non-streamed one always agree. The engine
only writes text; tool calls, JSON and thinking are shaped here, so any engine gets them.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._engine import Engine, Finish, Prompt, TemplateEngine, prompt_seed
from ._schema_values import value_for

__all__ = [
    "Item",
    "Piece",
    "ToolCallStyle",
    "answer_items",
    "assemble",
    "called_tools",
    "names",
    "tool_call_id",
]

ToolCallStyle = Literal["whole", "fragmented"]
THINKING_TOKENS = 8  # the length of the thinking part of a reasoning answer


@dataclass(frozen=True)
class Piece:
    """One chunk's delta for one choice."""

    delta: dict[str, Any]
    index: int = 0


Item = str | Piece | Finish

_ID_ALPHABET = string.ascii_letters + string.digits
# Token-like pieces of a JSON text: runs of word characters, runs of spaces, single other characters.
# Joined back they give the text exactly.
_JSON_PIECES = re.compile(r"\w+|\s+|[^\w\s]")
_THINKER = TemplateEngine(greetings=("Okay", "Hmm", "Right", "So"))


def answer_items(
    prompt: Prompt, engine: Engine, body: Mapping[str, Any], *, n: int = 1, style: ToolCallStyle = "whole"
) -> Iterator[Item]:
    """The items of the whole answer to a chat request ``body``, ``n`` choices interleaved."""
    if n == 1:
        return _choice_items(prompt, engine, body, style)
    return _interleave([_choice_items(replace(prompt, choice_index=i), engine, body, style) for i in range(n)])


def _choice_items(prompt: Prompt, engine: Engine, body: Mapping[str, Any], style: ToolCallStyle) -> Iterator[Item]:
    tools = called_tools(body)
    if tools:
        return _tool_call_items(prompt, tools, body, style)
    response_format = body.get("response_format") or {}
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind in ("json_object", "json_schema"):
        return _json_items(prompt, engine, response_format)
    if body.get("prompt_mode") == "reasoning":
        return _reasoning_items(prompt, engine)
    if prompt.choice_index == 0:
        return engine.generate(prompt)  # the common case, with no layer in between: bulk speed
    return _until_finish(engine.generate(prompt), prompt.choice_index)


# --- Tool calls ----------------------------------------------------------------------------------


def called_tools(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The function definitions the answer calls: forced by ``tool_choice``, or named in the prompt."""
    functions = [
        tool["function"]
        for tool in body.get("tools") or ()
        if isinstance(tool, Mapping) and tool.get("type", "function") == "function" and "function" in tool
    ]
    if not functions:
        return []
    choice = body.get("tool_choice") or "auto"
    if choice == "none":
        return []
    if isinstance(choice, Mapping):
        wanted = choice.get("function", {}).get("name")
        return [f for f in functions if f.get("name") == wanted][:1]
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    named = []
    if isinstance(last, Mapping) and last.get("role") == "user":
        text = _plain_text(last.get("content")).lower()
        named = [f for f in functions if names(text, f)]
    if choice in ("any", "required"):
        named = named or functions[:1]
    if body.get("parallel_tool_calls") is False:
        named = named[:1]
    return named


def names(text: str, function: Mapping[str, Any]) -> bool:
    """Whether ``text`` (lower case) names the function: ``get_weather`` or ``get weather``."""
    name = str(function.get("name", "")).lower()
    return bool(name) and (name in text or name.replace("_", " ") in text)


def tool_call_id(rng: random.Random) -> str:
    """Nine characters of ``[a-zA-Z0-9]``, the only tool call ids the live service accepts."""
    return "".join(rng.choice(_ID_ALPHABET) for _ in range(9))


def _tool_call_items(
    prompt: Prompt, functions: Sequence[Mapping[str, Any]], body: Mapping[str, Any], style: ToolCallStyle
) -> Iterator[Item]:
    index = prompt.choice_index
    for number, function in enumerate(functions):
        rng = random.Random(prompt_seed(prompt, f"tool:{number}"))
        call_id = tool_call_id(rng)
        name = str(function.get("name", ""))
        arguments = json.dumps(value_for(function.get("parameters") or {}, rng), ensure_ascii=False)
        if style == "whole":
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            yield Piece({"tool_calls": [{**call, "index": number}]}, index)
            continue
        # OpenAI/vLLM: the id and name first with empty arguments, then the arguments in pieces.
        first = {"index": number, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        yield Piece({"tool_calls": [first]}, index)
        for part in _JSON_PIECES.findall(arguments):
            yield Piece({"tool_calls": [{"index": number, "function": {"arguments": part}}]}, index)
    yield Finish("tool_calls", index)


# --- JSON and reasoning --------------------------------------------------------------------------


def _json_items(prompt: Prompt, engine: Engine, response_format: Mapping[str, Any]) -> Iterator[Item]:
    if response_format.get("type") == "json_schema":
        spec = response_format.get("json_schema") or {}
        value = value_for(spec.get("schema") or {}, random.Random(prompt_seed(prompt, "json")))
    else:
        # json_object: the engine's text, wrapped so that it is a JSON object.
        text = "".join(item for item in engine.generate(replace(prompt, max_tokens=None)) if isinstance(item, str))
        value = {"answer": text}
    pieces = _JSON_PIECES.findall(json.dumps(value, ensure_ascii=False))
    limit = len(pieces) if prompt.max_tokens is None else min(len(pieces), prompt.max_tokens)
    yield from _as_choice(pieces[:limit], prompt.choice_index)
    yield Finish("length" if limit < len(pieces) else "stop", prompt.choice_index)


def _reasoning_items(prompt: Prompt, engine: Engine) -> Iterator[Item]:
    index = prompt.choice_index
    thinking = replace(prompt, target_tokens=THINKING_TOKENS, max_tokens=None, stop=())
    for item in _THINKER.generate(thinking):
        if isinstance(item, str):
            yield Piece({"content": [{"type": "thinking", "thinking": [{"type": "text", "text": item}]}]}, index)
    reason = "stop"
    for item in engine.generate(prompt):
        if isinstance(item, Finish):
            reason = item.reason
            break
        yield Piece({"content": [{"type": "text", "text": item}]}, index)
    yield Finish(reason, index)


def _until_finish(items: Iterator[str | Finish], index: int) -> Iterator[Item]:
    """The engine's items up to its Finish, which it may have forgotten; labelled with the choice."""
    for item in items:
        if isinstance(item, Finish):
            yield Finish(item.reason, index) if item.index != index else item
            return
        yield item if index == 0 else Piece({"content": item}, index)
    yield Finish("stop", index)


def _as_choice(pieces: Sequence[str], index: int) -> Iterator[Item]:
    if index == 0:
        yield from pieces
    else:
        for piece in pieces:
            yield Piece({"content": piece}, index)


# --- Several choices -----------------------------------------------------------------------------


def _interleave(choices: list[Iterator[Item]]) -> Iterator[Item]:
    """Round robin over the choices, one item each; every item is labelled with its choice."""
    active = list(enumerate(choices))
    while active:
        still = []
        for index, items in active:
            item = next(items, None)
            if item is None:
                item = Finish("stop", index)  # an engine that forgot its Finish
            if isinstance(item, Finish):
                yield Finish(item.reason, index)
                continue
            still.append((index, items))
            if isinstance(item, str):
                yield Piece({"content": item}, index) if index else item
            else:
                yield Piece(item.delta, index)
        active = still


# --- Whole answers -------------------------------------------------------------------------------


@dataclass
class _Choice:
    text: list[str]
    parts: list[dict[str, Any]]  # list-shaped content: thinking and text chunks
    calls: dict[int, dict[str, Any]]
    finish: str = "stop"


def assemble(items: Iterator[Item]) -> tuple[list[dict[str, Any]], int]:
    """The ``choices`` of a non-streamed answer and its completion token count, from the same items."""
    choices: dict[int, _Choice] = {}
    tokens = 0

    def choice(index: int) -> _Choice:
        return choices.setdefault(index, _Choice([], [], {}))

    for item in items:
        if isinstance(item, str):
            choice(0).text.append(item)
            tokens += 1
        elif isinstance(item, Piece):
            _add(choice(item.index), item.delta)
            tokens += 1
        else:
            choice(item.index).finish = item.reason
            if item.completion_tokens is not None:  # an engine that counts its own tokens (a real model)
                tokens += item.completion_tokens - len(choice(item.index).text)
    return [_message(index, c) for index, c in sorted(choices.items())] or [_message(0, _Choice([], [], {}))], tokens


def _add(choice: _Choice, delta: Mapping[str, Any]) -> None:
    content = delta.get("content")
    if isinstance(content, str):
        choice.text.append(content)
    elif isinstance(content, list):
        for part in content:
            last = choice.parts[-1] if choice.parts else None
            if last is not None and last["type"] == part["type"] == "thinking":
                last["thinking"][0]["text"] += part["thinking"][0]["text"]
            elif last is not None and last["type"] == part["type"] == "text":
                last["text"] += part["text"]
            else:
                choice.parts.append(json.loads(json.dumps(part)))  # a copy: merging edits it
    for call in delta.get("tool_calls") or ():
        known = choice.calls.get(call["index"])
        if known is None:
            choice.calls[call["index"]] = {
                "id": call.get("id", ""),
                "type": "function",
                "function": {"name": call["function"].get("name", ""), "arguments": call["function"]["arguments"]},
                "index": call["index"],
            }
        else:
            known["function"]["arguments"] += call["function"]["arguments"]


def _message(index: int, choice: _Choice) -> dict[str, Any]:
    content: str | list[dict[str, Any]] = choice.parts if choice.parts else "".join(choice.text)
    tool_calls = [choice.calls[k] for k in sorted(choice.calls)] or None
    return {
        "index": index,
        "finish_reason": choice.finish,
        "message": {"role": "assistant", "content": content, "tool_calls": tool_calls},
    }


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(c["text"] for c in content if isinstance(c, Mapping) and isinstance(c.get("text"), str))
    return ""
