"""Agents on the wire: the agent completion request, an agent, its aliases, and what creates one.

``agents.complete``/``stream`` take a chat request with ``agent_id`` in place of ``model`` (and
without the sampling fields an agent fixes: ``temperature``, ``top_p``, ``safe_prompt``); the
answer is a chat completion, so chat's types and stream are used as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypedDict

import msgspec
from msgspec import UNSET, Meta, UnsetType

__all__ = [
    "Agent",
    "AgentAlias",
    "AgentCreateRequest",
    "AgentPage",
    "AgentParams",
    "AgentUpdateRequest",
    "AgentsCompletionRequest",
    "AgentsParams",
]

_Number = int | float


class AgentsCompletionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field of the API's ``AgentsCompletionRequest``; the unset ones are not sent."""

    agent_id: Annotated[str, Meta(min_length=1)]
    messages: Sequence[Mapping[str, Any]]
    max_tokens: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    stream: bool | UnsetType = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    random_seed: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    response_format: dict[str, Any] | UnsetType | None = UNSET
    tools: list[dict[str, Any]] | UnsetType | None = UNSET
    tool_choice: Literal["auto", "none", "any", "required"] | dict[str, Any] | UnsetType = UNSET
    presence_penalty: Annotated[float, Meta(ge=-2, le=2)] | UnsetType | None = UNSET
    frequency_penalty: Annotated[float, Meta(ge=-2, le=2)] | UnsetType | None = UNSET
    n: Annotated[int, Meta(ge=1)] | UnsetType | None = UNSET
    prediction: dict[str, Any] | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | UnsetType | None = UNSET
    prompt_mode: Literal["reasoning"] | UnsetType | None = UNSET
    guardrails: list[dict[str, Any]] | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET
    service_tier: Literal["auto", "standard_only"] | UnsetType | None = UNSET


class AgentsParams(TypedDict, total=False):
    """The optional fields of an agent completion, as keyword arguments (``None`` means "not set")."""

    max_tokens: int | None
    stop: str | list[str] | None
    random_seed: int | None
    metadata: dict[str, Any] | None
    response_format: dict[str, Any] | type | None
    tools: list[dict[str, Any]] | None
    tool_choice: str | dict[str, Any] | None
    presence_penalty: _Number | None
    frequency_penalty: _Number | None
    n: int | None
    prediction: dict[str, Any] | None
    parallel_tool_calls: bool | None
    reasoning_effort: str | None
    prompt_mode: str | None
    guardrails: list[dict[str, Any]] | None
    prompt_cache_key: str | None
    service_tier: str | None


class AgentCreateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The API's ``CreateAgentRequest``: a model and a name, with instructions and tools."""

    model: Annotated[str, Meta(min_length=1)]
    name: Annotated[str, Meta(min_length=1)]
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    completion_args: dict[str, Any] | None = None
    guardrails: list[dict[str, Any]] | None = None
    description: str | None = None
    handoffs: Annotated[list[str], Meta(min_length=1)] | None = None
    metadata: dict[str, Any] | None = None
    version_message: Annotated[str, Meta(max_length=500)] | None = None


class AgentUpdateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The API's ``UpdateAgentRequest``: each field given makes a new version of the agent."""

    model: str | None = None
    name: str | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    completion_args: dict[str, Any] | None = None
    guardrails: list[dict[str, Any]] | None = None
    description: str | None = None
    handoffs: Annotated[list[str], Meta(min_length=1)] | None = None
    deployment_chat: bool | None = None
    metadata: dict[str, Any] | None = None
    version_message: Annotated[str, Meta(max_length=500)] | None = None


class AgentParams(TypedDict, total=False):
    """The optional fields of ``agents.create`` and ``agents.update``."""

    instructions: str | None
    tools: list[Any] | None
    completion_args: dict[str, Any] | None
    guardrails: list[dict[str, Any]] | None
    description: str | None
    handoffs: list[str] | None
    metadata: dict[str, Any] | None
    version_message: str | None


class Agent(msgspec.Struct, gc=False, kw_only=True):
    """An agent: a model with instructions, tools and completion arguments, in numbered versions."""

    id: str = ""
    name: str | None = None
    model: str | None = None
    object: str | None = "agent"
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    completion_args: dict[str, Any] | None = None
    guardrails: list[dict[str, Any]] | None = None
    description: str | None = None
    handoffs: list[str] | None = None
    metadata: dict[str, Any] | None = None
    version: int | None = None
    versions: list[int] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    deployment_chat: bool | None = None
    source: str | None = None
    version_message: str | None = None


class AgentAlias(msgspec.Struct, gc=False, kw_only=True):
    """A name for one version of an agent (``agent_version="production"``)."""

    alias: str = ""
    version: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class AgentPage(msgspec.Struct, gc=False, kw_only=True):
    """One page of ``agents.list_page``: its agents, and the token of the next page (``None`` at the end)."""

    data: list[Agent] = msgspec.field(default_factory=list)
    next_page_token: str | None = None
    object: str | None = "list"
