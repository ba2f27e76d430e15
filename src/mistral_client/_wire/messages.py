"""Messages and model names: the plain values a request is made of.

Messages are the wire dicts themselves (``user("hi") == {"role": "user", "content": "hi"}``), so
they can be logged, stored and edited like any dict; the helpers only spare typing and never add a
key the caller did not give (the API rejects unknown keys).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "AssistantMessageParam",
    "MessageParam",
    "Models",
    "SystemMessageParam",
    "ToolMessageParam",
    "UserMessageParam",
    "assistant",
    "system",
    "tool",
    "user",
]

ContentParam = str | list[dict[str, Any]]


class SystemMessageParam(TypedDict):
    role: Literal["system"]
    content: ContentParam


class UserMessageParam(TypedDict):
    role: Literal["user"]
    content: ContentParam | None


class _AssistantRequired(TypedDict):
    role: Literal["assistant"]


class AssistantMessageParam(_AssistantRequired, total=False):
    content: ContentParam | None
    tool_calls: list[dict[str, Any]]
    prefix: bool


class _ToolRequired(TypedDict):
    role: Literal["tool"]
    content: ContentParam | None


class ToolMessageParam(_ToolRequired, total=False):
    tool_call_id: str
    name: str


MessageParam = SystemMessageParam | UserMessageParam | AssistantMessageParam | ToolMessageParam


def system(content: ContentParam) -> SystemMessageParam:
    return {"role": "system", "content": content}


def user(content: ContentParam) -> UserMessageParam:
    return {"role": "user", "content": content}


def assistant(
    content: ContentParam | None = None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    prefix: bool | None = None,
) -> AssistantMessageParam:
    message: AssistantMessageParam = {"role": "assistant"}
    if content is not None:
        message["content"] = content
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    if prefix is not None:
        message["prefix"] = prefix
    return message


def tool(content: ContentParam, *, tool_call_id: str, name: str | None = None) -> ToolMessageParam:
    """The answer to a tool call, matched to the call by ``tool_call_id``."""
    message: ToolMessageParam = {"role": "tool", "content": content, "tool_call_id": tool_call_id}
    if name is not None:
        message["name"] = name
    return message


class Models:
    """Mistral's public model families: ``-latest`` aliases point at the newest release of each.

    The one list of model names: the local server answers to these (and to their dated releases,
    ``mistral-small-2506``) and lists them in ``/v1/models``.
    """

    LARGE = "mistral-large-latest"
    MEDIUM = "mistral-medium-latest"
    SMALL = "mistral-small-latest"
    MINISTRAL_3B = "ministral-3b-latest"
    MINISTRAL_8B = "ministral-8b-latest"
    MINISTRAL_14B = "ministral-14b-latest"
    MAGISTRAL_MEDIUM = "magistral-medium-latest"
    MAGISTRAL_SMALL = "magistral-small-latest"
    CODESTRAL = "codestral-latest"
    DEVSTRAL_MEDIUM = "devstral-medium-latest"
    DEVSTRAL_SMALL = "devstral-small-latest"
    PIXTRAL_LARGE = "pixtral-large-latest"
    VOXTRAL_SMALL = "voxtral-small-latest"
    VOXTRAL_MINI = "voxtral-mini-latest"
    NEMO = "open-mistral-nemo"
    EMBED = "mistral-embed"
    CODESTRAL_EMBED = "codestral-embed"
