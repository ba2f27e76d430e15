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

from .._exceptions import InvalidRequestError

__all__ = [
    "ChatCompletionRequest",
    "ChatParams",
    "EmbeddingRequest",
    "FIMCompletionRequest",
    "FIMParams",
    "build_chat_body",
    "build_embedding_body",
    "build_fim_body",
]

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
    # A dict as the API takes it, or a type (Struct, dataclass, TypedDict, pydantic model): see _structured.
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


class FIMCompletionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field of the API's ``FIMCompletionRequest`` (fill in the middle, codestral)."""

    model: str
    prompt: str
    suffix: str | UnsetType | None = UNSET
    temperature: Annotated[float, Meta(ge=0, le=1.5)] | UnsetType | None = UNSET
    top_p: Annotated[float, Meta(gt=0, le=1)] | UnsetType | None = UNSET
    max_tokens: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    min_tokens: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    stream: bool | UnsetType = UNSET
    stop: str | list[str] | UnsetType | None = UNSET
    random_seed: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET


class FIMParams(TypedDict, total=False):
    """The optional fields of a FIM request, as keyword arguments (``None`` means "not set")."""

    suffix: str | None
    temperature: _Number | None
    top_p: _Number | None
    max_tokens: int | None
    min_tokens: int | None
    stop: str | list[str] | None
    random_seed: int | None
    metadata: dict[str, Any] | None
    prompt_cache_key: str | None


class EmbeddingRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    model: str
    input: str | Annotated[list[str], Meta(min_length=1)]
    output_dimension: Annotated[int, Meta(gt=0)] | UnsetType | None = UNSET
    output_dtype: Literal["float", "int8", "uint8", "binary", "ubinary"] | UnsetType = UNSET
    encoding_format: Literal["float", "base64"] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET


_Messages = list[_System | _User | _Assistant | _Tool]
_FIELDS = frozenset(ChatCompletionRequest.__struct_fields__)
PARAM_NAMES = frozenset(ChatParams.__annotations__)
_FIM_PARAM_NAMES = frozenset(FIMParams.__annotations__)


def check_params(
    method: str, params: Mapping[str, Any], names: frozenset[str] = PARAM_NAMES, fields: frozenset[str] = _FIELDS
) -> None:
    """A keyword that is no request field is a ``TypeError``, as for any Python call."""
    for name in params:
        if name not in names:
            import difflib

            close = difflib.get_close_matches(name, sorted(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"{method}() got an unexpected keyword argument {name!r}{hint}")


def build_chat_body(
    request: msgspec.Struct | None,
    model: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    params: Mapping[str, Any],
    *,
    stream: bool,
    method: str,
    request_type: type[msgspec.Struct] = ChatCompletionRequest,
    target: str = "model",
) -> tuple[bytes, Any]:
    """Check a chat call's arguments; the JSON body to send, and the type the answer decodes into
    when ``response_format`` was given as a type (else ``None``).

    ``model`` is the value of the ``target`` field: the model, or the agent for ``agents.complete``
    (``request_type`` is then ``AgentsCompletionRequest``)."""
    output_type = None
    if request is not None:
        if not isinstance(request, request_type):
            raise InvalidRequestError(
                f"{method}() takes a {request_type.__name__} as its only positional argument, "
                f"got {type(request).__name__}"
            )
        if model is not None or messages is not None or params:
            raise InvalidRequestError(
                f"{method}(): pass either a {request_type.__name__} or keyword arguments, not both"
            )
        payload: dict[str, Any] = msgspec.to_builtins(request)
    else:
        fields = frozenset(request_type.__struct_fields__)
        check_params(method, params, fields - {target, "messages", "stream"}, fields)
        if model is None:
            example = "Models.SMALL ('mistral-small-latest')" if target == "model" else "an agent's id ('ag_...')"
            raise InvalidRequestError(f"{method}() needs {target}=..., e.g. {example}")
        if messages is None:
            raise InvalidRequestError(f"{method}() needs messages=[...], e.g. [user('Hello')]")
        payload = {target: model, "messages": messages}
        payload.update((key, value) for key, value in params.items() if value is not None)
        if "response_format" in payload:
            from .structured import response_format_for

            payload["response_format"], output_type = response_format_for(payload["response_format"])
    payload = {key: value for key, value in payload.items() if value is not None}
    payload["stream"] = stream
    # Messages may be the Structs an answer holds (``result.message``): check and send them as dicts.
    payload["messages"] = messages_as_dicts(payload["messages"])
    try:
        msgspec.convert(payload, request_type)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    if not payload["messages"]:
        raise InvalidRequestError(f"{method}(): messages is empty; give at least one message")
    try:
        msgspec.convert(payload["messages"], _Messages)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid message: {_at(exc, 'messages')}") from None
    return _encode(method, payload), output_type


def build_fim_body(
    model: str | None, prompt: str | None, params: Mapping[str, Any], *, stream: bool, method: str
) -> bytes:
    """Check a FIM call's arguments and return the JSON body to send."""
    check_params(method, params, _FIM_PARAM_NAMES, frozenset(FIMCompletionRequest.__struct_fields__))
    if model is None:
        raise InvalidRequestError(f"{method}() needs model=..., e.g. Models.CODESTRAL ({'codestral-latest'!r})")
    if prompt is None:
        raise InvalidRequestError(f"{method}() needs prompt=..., the code before the gap")
    payload = {"model": model, "prompt": prompt, **{key: value for key, value in params.items() if value is not None}}
    payload["stream"] = stream
    try:
        msgspec.convert(payload, FIMCompletionRequest)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    return _encode(method, payload)


def build_embedding_body(payload: dict[str, Any], *, method: str) -> bytes:
    payload = {key: value for key, value in payload.items() if value is not None}
    try:
        msgspec.convert(payload, EmbeddingRequest)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    return _encode(method, payload)


def messages_as_dicts(messages: Any) -> Any:
    if isinstance(messages, (list, tuple)) and all(type(message) is dict for message in messages):
        return messages
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        return messages  # the check that follows names the problem
    # An answer's message (a Struct): its unset fields are None on our side, absent on the wire.
    return [_without_none(msgspec.to_builtins(m)) if isinstance(m, msgspec.Struct) else m for m in messages]


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def _encode(method: str, payload: dict[str, Any]) -> bytes:
    try:
        return msgspec.json.encode(payload)
    except TypeError as exc:
        raise InvalidRequestError(f"{method}(): a value cannot be sent as JSON: {exc}") from None
    except UnicodeEncodeError:
        # A lone surrogate has no UTF-8 form.  msgspec is the one pass over every string, so it finds
        # it at no cost to a good request; only then is the payload searched to name the field.
        try:
            where = _unencodable(msgspec.to_builtins(payload), "")
        except (TypeError, ValueError):
            where = None
        raise InvalidRequestError(
            f"{method}(): {where or 'a string'} has a lone surrogate (a character in U+D800-U+DFFF), which "
            "cannot be encoded as UTF-8: the text was decoded wrongly, or a character was cut in half"
        ) from None


def _unencodable(value: Any, path: str) -> str | None:
    """Where the first string (or key) with no UTF-8 form is: ``messages[0].content, at position 3,``."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            return f"{path or 'the request'}, at position {exc.start},"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _unencodable(key, "-"):
                return f"a key of {path or 'the request'}"
            shown = f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"
            found = _unencodable(item, f"{path}{shown}".lstrip("."))
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unencodable(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _at(exc: msgspec.ValidationError, field: str) -> str:
    # msgspec says "- at `$[1].role`"; name the path from the request's root instead.
    return str(exc).replace("`$", f"`{field}", 1)
