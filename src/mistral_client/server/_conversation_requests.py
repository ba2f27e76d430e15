"""The shapes the Agents and Conversations endpoints accept, strict as the spec has them.

The tools, guardrails, content chunks and the chat request's fields are the chat endpoint's
(``_requests``): only what these endpoints add is written here. Unknown fields are refused at every
depth, as the live service's request models do (``additionalProperties: false`` in the spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, UnsetType

from . import _requests as chat
from ._requests import AnyTool, GuardrailConfig

__all__ = [
    "AGENTS_COMPLETION_FIELDS",
    "AgentsCompletionRequest",
    "AppendRequest",
    "ConversationRequest",
    "CreateAgentRequest",
    "RestartRequest",
    "UpdateAgentRequest",
    "with_default_types",
]


class _Strict(Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


# --- Content and entries -------------------------------------------------------------------------

BuiltIn = Literal["web_search", "web_search_premium", "code_interpreter", "image_generation", "document_library"]


class ToolFileChunk(_Strict, tag_field="type", tag="tool_file"):
    tool: str
    file_id: str
    file_name: str | None = None
    file_type: str | None = None


class ToolReferenceChunk(_Strict, tag_field="type", tag="tool_reference"):
    tool: str
    title: str
    url: str | None = None
    favicon: str | None = None
    description: str | None = None


InputChunk = chat.TextChunk | chat.ImageURLChunk | ToolFileChunk | chat.DocumentURLChunk | chat.ThinkChunk
OutputChunk = InputChunk | ToolReferenceChunk


class _Entry(_Strict, tag_field="type", kw_only=True):
    object: Literal["entry"] = "entry"
    created_at: str | UnsetType = msgspec.UNSET
    completed_at: str | UnsetType | None = msgspec.UNSET
    id: str | UnsetType = msgspec.UNSET


class MessageInputEntry(_Entry, tag="message.input"):
    role: Literal["assistant", "user"]
    content: str | list[InputChunk]
    prefix: bool = False


class MessageOutputEntry(_Entry, tag="message.output"):
    content: str | list[OutputChunk]
    agent_id: str | None = None
    model: str | None = None
    role: Literal["assistant"] = "assistant"


class FunctionResultEntry(_Entry, tag="function.result"):
    tool_call_id: str
    result: str


class FunctionCallEntry(_Entry, tag="function.call"):
    tool_call_id: str
    name: str
    arguments: dict[str, Any] | str
    agent_id: str | None = None
    model: str | None = None
    confirmation_status: Literal["pending", "allowed", "denied"] | None = None


class ToolExecutionEntry(_Entry, tag="tool.execution"):
    name: str
    arguments: str
    agent_id: str | None = None
    model: str | None = None
    info: dict[str, Any] | UnsetType = msgspec.UNSET


class AgentHandoffEntry(_Entry, tag="agent.handoff"):
    previous_agent_id: str
    previous_agent_name: str
    next_agent_id: str
    next_agent_name: str


Entry = (
    MessageInputEntry
    | MessageOutputEntry
    | FunctionResultEntry
    | FunctionCallEntry
    | ToolExecutionEntry
    | AgentHandoffEntry
)


# --- Requests ------------------------------------------------------------------------------------


class CompletionArgs(_Strict):
    stop: str | list[str] | None = None
    presence_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Meta(ge=-2, le=2)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=1)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Meta(ge=0)] | None = None
    random_seed: Annotated[int, Meta(ge=0)] | None = None
    prediction: chat.Prediction | None = None
    response_format: chat.ResponseFormat | None = None
    tool_choice: Literal["auto", "none", "any", "required"] = "auto"
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


class ToolCallConfirmation(_Strict):
    tool_call_id: str
    confirmation: Literal["allow", "deny"]


Inputs = str | list[Entry]
Handoff = Literal["client", "server"]


class ConversationRequest(_Strict, kw_only=True):
    inputs: Inputs
    stream: bool | None = None
    store: bool | None = None
    handoff_execution: Handoff | None = None
    instructions: str | None = None
    tools: list[AnyTool] | None = None
    completion_args: CompletionArgs | None = None
    guardrails: list[GuardrailConfig] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    agent_id: str | None = None
    agent_version: str | int | None = None
    model: str | None = None


class AppendRequest(_Strict, kw_only=True):
    inputs: Inputs | UnsetType = msgspec.UNSET
    stream: bool = False
    store: bool = True
    handoff_execution: Handoff = "server"
    completion_args: CompletionArgs | UnsetType = msgspec.UNSET
    tool_confirmations: list[ToolCallConfirmation] | None = None


class RestartRequest(_Strict, kw_only=True):
    from_entry_id: str
    inputs: Inputs | UnsetType = msgspec.UNSET
    stream: bool = False
    store: bool = True
    handoff_execution: Handoff = "server"
    completion_args: CompletionArgs | UnsetType = msgspec.UNSET
    guardrails: list[GuardrailConfig] | None = None
    metadata: dict[str, Any] | None = None
    agent_version: str | int | None = None


class _AgentFields(_Strict, kw_only=True):
    instructions: str | None = None
    tools: list[AnyTool] | UnsetType = msgspec.UNSET
    completion_args: CompletionArgs | UnsetType = msgspec.UNSET
    guardrails: list[GuardrailConfig] | None = None
    description: str | None = None
    handoffs: Annotated[list[str], Meta(min_length=1)] | None = None
    metadata: dict[str, Any] | None = None
    version_message: Annotated[str, Meta(max_length=500)] | None = None


class CreateAgentRequest(_AgentFields, kw_only=True):
    model: str
    name: str


class UpdateAgentRequest(_AgentFields, kw_only=True):
    model: str | None = None
    name: str | None = None
    deployment_chat: bool | None = None


def _agents_completion() -> type[Struct]:
    """The chat request's strict fields that the spec's AgentsCompletionRequest has, and ``agent_id``."""
    chat_only = {"model", "temperature", "top_p", "safe_prompt"}
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [("agent_id", str)]
    for info in msgspec.structs.fields(chat.StrictChatRequest):
        if info.name in chat_only:
            continue
        if info.required:
            fields.append((info.name, info.type))
        elif info.default_factory is not msgspec.NODEFAULT:
            fields.append((info.name, info.type, msgspec.field(default_factory=info.default_factory)))
        else:
            fields.append((info.name, info.type, info.default))
    return msgspec.defstruct(
        "AgentsCompletionRequest", fields, kw_only=True, forbid_unknown_fields=True, module=__name__
    )


AgentsCompletionRequest = _agents_completion()
# The properties of AgentsCompletionRequest in the official spec (tests check this against it).
AGENTS_COMPLETION_FIELDS = frozenset(AgentsCompletionRequest.__struct_fields__)


def with_default_types(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the ``type`` its tools and entries default to in the spec spelled out.

    The spec lets a function tool and every entry leave out ``type`` (each has a default);
    msgspec's tagged unions need it written.
    """
    out = dict(body)
    if isinstance(out.get("tools"), list):
        out["tools"] = [
            {"type": "function", **t} if isinstance(t, dict) and "type" not in t else t for t in out["tools"]
        ]
    if isinstance(out.get("inputs"), list):
        out["inputs"] = [_entry_type(entry) for entry in out["inputs"]]
    return out


def _entry_type(entry: Any) -> Any:
    if not isinstance(entry, dict) or "type" in entry:
        return entry
    if "result" in entry:
        kind = "function.result"
    elif "next_agent_id" in entry:
        kind = "agent.handoff"
    elif "tool_call_id" in entry:
        kind = "function.call"
    elif "info" in entry or ("name" in entry and "arguments" in entry):
        kind = "tool.execution"
    else:
        kind = "message.input"
    return {"type": kind, **entry}
