"""What we send: the chat request, checked before it leaves the machine.

The API rejects unknown fields (422 ``extra_forbidden``) and out-of-range values, so the client
checks the same rules first: a typo costs an immediate error naming the field, not a round trip.
Only the fields the caller set are sent, and a ``0``, ``0.0`` or ``False`` the caller set is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypedDict

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ._exceptions import InvalidRequestError

__all__ = ["ChatCompletionRequest", "ChatParams", "build_chat_body"]

_Number = int | float
_Content = str | list[dict[str, Any]]


class ChatCompletionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field of the API's ``ChatCompletionRequest``; the unset ones are not sent."""

    model: Annotated[str, Meta(min_length=1)]
    messages: Sequence[Mapping[str, Any]]
    temperature: Annotated[float, Meta(ge=0, le=1.5)] | UnsetType | None = UNSET
    top_p: Annotated[float, Meta(gt=0, le=1)] | UnsetType | None = UNSET
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
    safe_prompt: bool | UnsetType = UNSET


class ChatParams(TypedDict, total=False):
    """The optional fields of a chat request, as keyword arguments (``None`` means "not set")."""

    temperature: _Number | None
    top_p: _Number | None
    max_tokens: int | None
    stop: str | list[str] | None
    random_seed: int | None
    metadata: dict[str, Any] | None
    response_format: dict[str, Any] | None
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
    safe_prompt: bool | None


# The messages are checked against the four message shapes of the spec (keyed by ``role``).
class _System(msgspec.Struct, tag_field="role", tag="system", forbid_unknown_fields=True):
    content: _Content


class _User(msgspec.Struct, tag_field="role", tag="user", forbid_unknown_fields=True):
    content: _Content | None


class _Assistant(msgspec.Struct, tag_field="role", tag="assistant", forbid_unknown_fields=True):
    content: _Content | UnsetType | None = UNSET
    tool_calls: list[dict[str, Any]] | UnsetType | None = UNSET
    prefix: bool | UnsetType = UNSET


class _Tool(msgspec.Struct, tag_field="role", tag="tool", forbid_unknown_fields=True):
    content: _Content | None
    tool_call_id: str | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET


_Messages = list[_System | _User | _Assistant | _Tool]
_FIELDS = frozenset(ChatCompletionRequest.__struct_fields__)
PARAM_NAMES = frozenset(ChatParams.__annotations__)


def check_params(method: str, params: Mapping[str, Any]) -> None:
    """A keyword that is no request field is a ``TypeError``, as for any Python call."""
    for name in params:
        if name not in PARAM_NAMES:
            import difflib

            close = difflib.get_close_matches(name, sorted(_FIELDS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}{hint}")


def build_chat_body(
    request: ChatCompletionRequest | None,
    model: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    params: Mapping[str, Any],
    *,
    stream: bool,
    method: str,
) -> bytes:
    """Check a chat call's arguments and return the JSON body to send."""
    if request is not None:
        if not isinstance(request, ChatCompletionRequest):
            raise InvalidRequestError(
                f"{method}() takes a ChatCompletionRequest as its only positional argument, "
                f"got {type(request).__name__}"
            )
        if model is not None or messages is not None or params:
            raise InvalidRequestError(f"{method}(): pass either a ChatCompletionRequest or keyword arguments, not both")
        payload: dict[str, Any] = msgspec.to_builtins(request)
    else:
        check_params(method, params)
        if model is None:
            raise InvalidRequestError(f"{method}() needs model=..., e.g. Models.SMALL ({'mistral-small-latest'!r})")
        if messages is None:
            raise InvalidRequestError(f"{method}() needs messages=[...], e.g. [user('Hello')]")
        payload = {"model": model, "messages": messages}
        payload.update((key, value) for key, value in params.items() if value is not None)
    payload = {key: value for key, value in payload.items() if value is not None}
    payload["stream"] = stream
    try:
        msgspec.convert(payload, ChatCompletionRequest)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    if not payload["messages"]:
        raise InvalidRequestError(f"{method}(): messages is empty; give at least one message")
    try:
        msgspec.convert(payload["messages"], _Messages)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid message: {_at(exc, 'messages')}") from None
    try:
        return msgspec.json.encode(payload)
    except TypeError as exc:
        raise InvalidRequestError(f"{method}(): a value cannot be sent as JSON: {exc}") from None


def _at(exc: msgspec.ValidationError, field: str) -> str:
    # msgspec says "- at `$[1].role`"; name the path from the request's root instead.
    return str(exc).replace("`$", f"`{field}", 1)
