"""What ``conversations.start/append/restart`` send, checked before anything leaves the machine.

The rules are the spec's (``ConversationRequest``, ``AppendConversationRequest``,
``RestartConversationRequest``): ``inputs`` is a string or a list of entries; a new conversation
names a ``model`` or an ``agent_id``, never both; unknown fields are refused.  ``tools`` takes the
API's dicts, the names of the built-in tools (``"web_search"``) and Python functions (their schema
read from their type hints, ``tool_schema.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypedDict

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .._exceptions import InvalidRequestError
from .conversations import UnknownEntry
from .requests import _encode, _without_none

__all__ = [
    "BUILTIN_TOOLS",
    "AppendParams",
    "CompletionArgs",
    "ConversationParams",
    "RestartParams",
    "RunParams",
    "build_conversation_body",
    "normalize_tools",
]

BUILTIN_TOOLS = frozenset(
    {"web_search", "web_search_premium", "code_interpreter", "image_generation", "document_library"}
)
_TOOL_TYPES = BUILTIN_TOOLS | {"function", "connector"}


class CompletionArgs(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The sampling arguments of a conversation turn (the spec's ``CompletionArgs``)."""

    stop: str | list[str] | None = None
    presence_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Meta(ge=0)] | None = None
    random_seed: Annotated[int, Meta(ge=0)] | None = None
    prediction: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    tool_choice: Literal["auto", "none", "any", "required"] | UnsetType = UNSET
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


_Inputs = str | list[dict[str, Any]]


class _Start(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    inputs: _Inputs
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: Literal["client", "server"] | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[dict[str, Any]] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    agent_id: Annotated[str, Meta(min_length=1)] | None = None
    agent_version: str | int | None = None
    model: Annotated[str, Meta(min_length=1)] | None = None


class _Append(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    inputs: _Inputs
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: Literal["client", "server"] | None = None
    completion_args: CompletionArgs | None = None
    tool_confirmations: list[dict[str, Any]] | None = None


class _Restart(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    inputs: _Inputs
    from_entry_id: Annotated[str, Meta(min_length=1)]
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: Literal["client", "server"] | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    agent_version: str | int | None = None


class RunParams(TypedDict, total=False):
    """The optional fields of ``conversations.run`` (``tools`` is its own argument there)."""

    model: str | None
    agent_id: str | None
    agent_version: str | int | None
    instructions: str | None
    completion_args: dict[str, Any] | None
    store: bool | None
    handoff_execution: Literal["client", "server"] | None
    guardrails: list[dict[str, Any]] | None
    name: str | None
    description: str | None
    metadata: dict[str, Any] | None


class ConversationParams(RunParams, total=False):
    """The optional fields of ``conversations.start`` (``None`` means "not set")."""

    tools: Sequence[Any] | None


class AppendParams(TypedDict, total=False):
    """The optional fields of ``conversations.append`` (``None`` means "not set")."""

    completion_args: dict[str, Any] | None
    store: bool | None
    handoff_execution: Literal["client", "server"] | None
    tool_confirmations: list[dict[str, Any]] | None


class RestartParams(TypedDict, total=False):
    """The optional fields of ``conversations.restart`` (``None`` means "not set")."""

    completion_args: dict[str, Any] | None
    store: bool | None
    handoff_execution: Literal["client", "server"] | None
    guardrails: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None
    agent_version: str | int | None


# The entries a caller may send, each with the fields the spec requires (keyed by ``type``).
class _In(msgspec.Struct, forbid_unknown_fields=True, tag_field="type"):
    object: str | None = None
    id: str | None = None
    created_at: str | None = None
    completed_at: str | None = None


class _MessageInput(_In, kw_only=True, tag="message.input"):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]
    prefix: bool | None = None


class _MessageOutput(_In, kw_only=True, tag="message.output"):
    content: str | list[dict[str, Any]]
    role: Literal["assistant"] | None = None
    agent_id: str | None = None
    model: str | None = None


class _FunctionResult(_In, kw_only=True, tag="function.result"):
    tool_call_id: str
    result: str


class _FunctionCall(_In, kw_only=True, tag="function.call"):
    tool_call_id: str
    name: str
    arguments: str | dict[str, Any]
    agent_id: str | None = None
    model: str | None = None
    confirmation_status: Literal["pending", "allowed", "denied"] | None = None


class _ToolExecution(_In, kw_only=True, tag="tool.execution"):
    name: str
    arguments: str
    info: dict[str, Any] | None = None
    agent_id: str | None = None
    model: str | None = None


class _Handoff(_In, kw_only=True, tag="agent.handoff"):
    previous_agent_id: str
    previous_agent_name: str
    next_agent_id: str
    next_agent_name: str


_Entries = list[_MessageInput | _MessageOutput | _FunctionResult | _FunctionCall | _ToolExecution | _Handoff]
_KINDS: dict[str, type[msgspec.Struct]] = {"start": _Start, "append": _Append, "restart": _Restart}


def normalize_tools(tools: Any, method: str) -> list[dict[str, Any]]:
    """The API's tool dicts for ``tools``: dicts as given, built-in names and functions converted."""
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise InvalidRequestError(f"{method}(): tools must be a list, got {type(tools).__name__}")
    out: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        if isinstance(tool, str):
            if tool not in BUILTIN_TOOLS:
                raise InvalidRequestError(
                    f"{method}(): tools[{index}] is {tool!r}, not a built-in tool "
                    f"(one of {', '.join(sorted(BUILTIN_TOOLS))})"
                )
            if tool == "document_library":
                raise InvalidRequestError(
                    f"{method}(): tools[{index}]: document_library needs its libraries: "
                    "{'type': 'document_library', 'library_ids': [...]}"
                )
            out.append({"type": tool})
        elif isinstance(tool, Mapping):
            kind = tool.get("type", "function")
            if kind not in _TOOL_TYPES:
                raise InvalidRequestError(
                    f"{method}(): tools[{index}] has type {kind!r}; the API takes {', '.join(sorted(_TOOL_TYPES))}"
                )
            out.append(dict(tool))
        elif callable(tool):
            from .tool_schema import ToolFunction

            out.append(ToolFunction(tool).schema)
        else:
            raise InvalidRequestError(
                f"{method}(): tools[{index}] is a {type(tool).__name__}; "
                "give a dict, a built-in tool's name or a function"
            )
    return out


def entries_as_dicts(inputs: Any) -> Any:
    """Entries as the API takes them: Structs (a previous answer's outputs) become dicts."""
    if isinstance(inputs, str) or not isinstance(inputs, Sequence):
        return inputs
    out = []
    for entry in inputs:
        if isinstance(entry, UnknownEntry):
            out.append(entry.data)
        elif isinstance(entry, msgspec.Struct):
            out.append(_without_none(msgspec.to_builtins(entry)))
        else:
            out.append(entry)
    return out


def build_conversation_body(
    kind: Literal["start", "append", "restart"],
    inputs: Any,
    params: Mapping[str, Any],
    *,
    stream: bool,
    method: str,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """Check a conversation call's arguments and return the JSON body to send."""
    request_type = _KINDS[kind]
    fields = request_type.__struct_fields__
    for name in params:
        if name not in fields or name in ("inputs", "stream", "from_entry_id"):
            import difflib

            close = difflib.get_close_matches(name, sorted(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}{hint}")
    if inputs is None or (not isinstance(inputs, str) and isinstance(inputs, Sequence) and not inputs) or inputs == "":
        raise InvalidRequestError(
            f"{method}() needs inputs=...: the user's message as a string, or a list of entries "
            "(e.g. [{'role': 'user', 'content': 'Hello'}])"
        )
    payload: dict[str, Any] = {"inputs": entries_as_dicts(inputs)}
    payload.update(extra or {})
    payload.update((key, value) for key, value in params.items() if value is not None)
    if kind == "start":
        has_model, has_agent = "model" in payload, "agent_id" in payload
        if has_model and has_agent:
            raise InvalidRequestError(f"{method}(): give model=... or agent_id=..., not both")
        if not has_model and not has_agent:
            raise InvalidRequestError(
                f"{method}() needs model=... (e.g. 'mistral-medium-latest') or agent_id=... (an agent's id)"
            )
        if "agent_version" in payload and not has_agent:
            raise InvalidRequestError(f"{method}(): agent_version=... needs agent_id=...")
    if "tools" in payload:
        payload["tools"] = normalize_tools(payload["tools"], method)
    payload["stream"] = stream
    try:
        msgspec.convert(payload, request_type)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    if not isinstance(payload["inputs"], str):
        entries = [
            {"type": "message.input", **entry} if isinstance(entry, dict) and "type" not in entry else entry
            for entry in payload["inputs"]
        ]
        try:
            msgspec.convert(entries, _Entries)
        except msgspec.ValidationError as exc:
            raise InvalidRequestError(f"{method}(): invalid entry: {str(exc).replace('`$', '`inputs', 1)}") from None
    return _encode(method, payload)
