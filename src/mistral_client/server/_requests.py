"""Request validation: the official request schemas as msgspec Structs, and the live service's rules.

Schema errors answer 422 in FastAPI's shape (``{"detail": [{"type", "loc", "msg", "input"}]}``);
the rules the live service applies after the schema answer 400 in its ``{"object": "error"}``
envelope. The request Structs are the client's (``mistral_client._wire.requests``: the official
``ChatCompletionRequest``, ``FIMCompletionRequest`` and ``EmbeddingRequest``, field by field, with
their bounds), given the strict shapes below for the objects inside them; msgspec checks a body in
microseconds, where a JSON Schema validator would take milliseconds. Unions tagged in the spec
(messages by ``role``, content chunks and tools by ``type``) need their tag, as FastAPI's do;
a function tool may leave out ``"type": "function"``, as the spec allows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct, UnsetType

from mistral_client._wire import requests as _client

__all__ = [
    "CHAT_COMPLETION_FIELDS",
    "StrictChatRequest",
    "StrictEmbeddingRequest",
    "StrictFIMRequest",
    "RuleViolation",
    "chat_rule_violation",
    "schema_problems",
]


class _Strict(Struct, forbid_unknown_fields=True, omit_defaults=True):
    pass


# --- Content chunks ------------------------------------------------------------------------------


class TextChunk(_Strict, tag_field="type", tag="text"):
    text: str


class ImageURL(_Strict):
    url: str
    detail: Literal["low", "auto", "high"] | None = None


class ImageURLChunk(_Strict, tag_field="type", tag="image_url"):
    image_url: ImageURL | str


class DocumentURLChunk(_Strict, tag_field="type", tag="document_url"):
    document_url: str
    document_name: str | None = None


class ReferenceChunk(_Strict, tag_field="type", tag="reference"):
    reference_ids: list[int | str]


class FileChunk(_Strict, tag_field="type", tag="file"):
    file_id: str


class AudioChunk(_Strict, tag_field="type", tag="input_audio"):
    input_audio: str


class ToolReferenceChunk(_Strict, tag_field="type", tag="tool_reference"):
    tool: str
    title: str
    url: str | None = None
    favicon: str | None = None


class ThinkChunk(_Strict, tag_field="type", tag="thinking"):
    thinking: list[TextChunk | ToolReferenceChunk | ReferenceChunk]
    signature: str | None = None
    closed: bool = True


ContentChunk = TextChunk | ImageURLChunk | DocumentURLChunk | ReferenceChunk | FileChunk | ThinkChunk | AudioChunk


# --- Messages ------------------------------------------------------------------------------------


class FunctionCall(_Strict):
    name: str
    arguments: dict[str, Any] | str


class ToolCall(_Strict):
    function: FunctionCall
    id: str = "null"
    type: Literal["function"] = "function"
    index: int = 0


class SystemMessage(_Strict, tag_field="role", tag="system"):
    content: str | list[TextChunk | ThinkChunk]


class UserMessage(_Strict, tag_field="role", tag="user"):
    content: str | list[ContentChunk] | None


class AssistantMessage(_Strict, tag_field="role", tag="assistant"):
    content: str | list[ContentChunk] | None = None
    tool_calls: list[ToolCall] | None = None
    prefix: bool = False


class ToolMessage(_Strict, tag_field="role", tag="tool"):
    content: str | list[ContentChunk] | None
    tool_call_id: str | None = None
    name: str | None = None


Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage


# --- Tools and formats ---------------------------------------------------------------------------


class Function(_Strict):
    name: str
    parameters: dict[str, Any]
    description: str = ""
    strict: bool = False


class Tool(_Strict, tag_field="type", tag="function"):
    function: Function


class ToolConfiguration(_Strict):
    exclude: list[str] | None = None
    include: list[str] | None = None
    requires_confirmation: list[str] | None = None


class _BuiltInTool(_Strict, tag_field="type"):
    tool_configuration: ToolConfiguration | None = None


class WebSearchTool(_BuiltInTool, tag="web_search"):
    pass


class WebSearchPremiumTool(_BuiltInTool, tag="web_search_premium"):
    pass


class CodeInterpreterTool(_BuiltInTool, tag="code_interpreter"):
    pass


class ImageGenerationTool(_BuiltInTool, tag="image_generation"):
    pass


class DocumentLibraryTool(_BuiltInTool, kw_only=True, tag="document_library"):
    library_ids: Annotated[list[str], Meta(min_length=1)]


class OAuth2TokenAuth(_Strict, tag_field="type", tag="oauth2-token"):
    value: str


class APIKeyAuth(_Strict, tag_field="type", tag="api-key"):
    value: str


class CustomConnector(_BuiltInTool, kw_only=True, tag="connector"):
    connector_id: str
    authorization: OAuth2TokenAuth | APIKeyAuth | None = None


AnyTool = (
    Tool
    | WebSearchTool
    | WebSearchPremiumTool
    | CodeInterpreterTool
    | ImageGenerationTool
    | DocumentLibraryTool
    | CustomConnector
)


class FunctionName(_Strict):
    name: str


class ToolChoice(_Strict):
    function: FunctionName
    type: Literal["function"] = "function"


class JsonSchema(_Strict):
    name: str
    schema: dict[str, Any]
    description: str | None = None
    strict: bool = False


class ResponseFormat(_Strict):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchema | None = None


class Prediction(_Strict):
    type: Literal["content"] = "content"
    content: str = ""


# The spec leaves the guardrail objects open to extra fields.
class ModerationConfig(Struct, omit_defaults=True):
    model_name: str = ""
    custom_category_thresholds: dict[str, float | None] | None = None
    ignore_other_categories: bool = False
    action: Literal["none", "block"] = "none"


class GuardrailConfig(Struct, omit_defaults=True):
    block_on_error: bool = False
    moderation_llm_v1: ModerationConfig | None = None
    moderation_llm_v2: ModerationConfig | None = None


# --- Requests ------------------------------------------------------------------------------------
#
# The field list and every bound (temperature 0..1.5, max_tokens >= 0, ...) are the client's
# (``mistral_client._wire.requests``): a new parameter or bound is written there, once. The server only
# puts its strict shapes where the client takes any object (messages, tools, formats), and refuses
# unknown fields at every depth.


def _stricter(client: type[Struct], **shapes: Any) -> type[Struct]:
    """The client's request Struct with the server's types for the fields named in ``shapes``."""
    unknown = set(shapes) - set(client.__struct_fields__)
    if unknown:
        raise TypeError(f"{client.__name__} has no field {sorted(unknown)}")
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for info in msgspec.structs.fields(client):
        kind = shapes.get(info.name, info.type)
        if info.required:
            fields.append((info.name, kind))
        elif info.default_factory is not msgspec.NODEFAULT:
            fields.append((info.name, kind, msgspec.field(default_factory=info.default_factory)))
        else:
            fields.append((info.name, kind, info.default))
    return msgspec.defstruct(
        f"Strict{client.__name__}", fields, kw_only=True, forbid_unknown_fields=True, module=__name__
    )


StrictChatRequest = _stricter(
    _client.ChatCompletionRequest,
    # The client refuses an empty model id before sending; the spec takes any string, and the
    # service answers "Invalid model" (400), as this server does.
    model=str,
    messages=list[Message],
    response_format=ResponseFormat | UnsetType,
    tools=list[AnyTool] | UnsetType | None,
    tool_choice=ToolChoice | Literal["auto", "none", "any", "required"] | UnsetType,
    prediction=Prediction | UnsetType,
    guardrails=list[GuardrailConfig] | UnsetType | None,
)
StrictFIMRequest = _stricter(_client.FIMCompletionRequest)
# The client refuses an empty list of texts; the spec does not, and this server answers it with none.
StrictEmbeddingRequest = _stricter(_client.EmbeddingRequest, input=str | list[str])

# The properties of ChatCompletionRequest in the official spec (tests check this against it).
CHAT_COMPLETION_FIELDS = frozenset(StrictChatRequest.__struct_fields__)


# --- Schema errors -------------------------------------------------------------------------------


def schema_problems(body: Any, schema: type[Struct]) -> list[dict[str, Any]]:
    """FastAPI-style errors for ``body`` against ``schema``; empty when it is valid.

    Missing and unknown top-level fields are all listed, like FastAPI does; past those, msgspec
    stops at the first problem, so deeper ones are reported one at a time.
    """
    if not isinstance(body, dict):
        return [
            _problem(
                "model_attributes_type",
                [],
                "Input should be a valid dictionary or object to extract fields from",
                body,
            )
        ]
    problems = [_problem("missing", [name], "Field required", body) for name in _required(schema) if name not in body]
    problems += [
        _problem("extra_forbidden", [name], "Extra inputs are not permitted", value)
        for name, value in body.items()
        if name not in schema.__struct_fields__
    ]
    if problems:
        return problems
    if schema is StrictChatRequest and isinstance(body.get("tools"), list):
        # "type" defaults to "function" in the spec; msgspec's tagged union needs it spelled out.
        tools = [{"type": "function", **t} if isinstance(t, dict) and "type" not in t else t for t in body["tools"]]
        body = {**body, "tools": tools}
    try:
        msgspec.convert(body, schema)
    except msgspec.ValidationError as exc:
        return [_from_msgspec(str(exc), body)]
    return []


@functools.cache
def _required(schema: type[Struct]) -> tuple[str, ...]:
    return tuple(info.name for info in msgspec.structs.fields(schema) if info.required)


_MSGSPEC_ERROR = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_TYPE_NAMES = {
    "int": ("int_type", "Input should be a valid integer"),
    "float": ("float_type", "Input should be a valid number"),
    "str": ("string_type", "Input should be a valid string"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "null": ("none_required", "Input should be None"),
}
_BOUNDS = {
    ">=": ("greater_than_equal", "greater than or equal to"),
    ">": ("greater_than", "greater than"),
    "<=": ("less_than_equal", "less than or equal to"),
    "<": ("less_than", "less than"),
}


def _from_msgspec(message: str, body: Any) -> dict[str, Any]:
    """One msgspec error (``Expected `int`, got `str` - at `$.max_tokens```) as a FastAPI one."""
    match = _MSGSPEC_ERROR.match(message)
    what, path = (match.group("what"), match.group("path") or "") if match else (message, "")
    loc: list[str | int] = [
        m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PATH_PART.finditer(path)
    ]
    if field := re.match(r"Object contains unknown field `(.+)`$", what):
        loc.append(field.group(1))
        return _problem("extra_forbidden", loc, "Extra inputs are not permitted", _at(body, loc))
    if field := re.match(r"Object missing required field `(.+)`$", what):
        container = _at(body, loc)
        loc.append(field.group(1))
        return _problem("missing", loc, "Field required", container)
    value = _at(body, loc)
    if bound := re.match(r"Expected `\w+`(?: of length)? (>=|>|<=|<) (\S+)$", what):
        kind, words = _BOUNDS[bound.group(1)]
        if "of length" in what:
            kind = "too_short" if bound.group(1).startswith(">") else "too_long"
        return _problem(kind, loc, f"Input should be {words} {bound.group(2)}", value)
    if expected := re.match(r"Expected `(\w+)", what):
        kind, text = _TYPE_NAMES.get(expected.group(1), ("type_error", what))
        return _problem(kind, loc, text, value)
    if re.match(r"Invalid enum value", what):
        return _problem("literal_error", loc, f"Input should be one of the allowed values ({what})", value)
    if re.match(r"Invalid value", what):
        return _problem("union_tag_invalid", loc, f"Input tag {value!r} does not match any expected tag", value)
    return _problem("value_error", loc, what, value)


def _problem(kind: str, loc: list[str | int], message: str, value: Any) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": message, "input": value}


def _at(body: Any, loc: list[str | int]) -> Any:
    node = body
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


# --- The live service's rules --------------------------------------------------------------------


class RuleViolation(msgspec.Struct, frozen=True):
    """A 400 the live service answers for a request that passed the schema."""

    message: str
    type: str
    code: str


_TOOL_CALL_ID = re.compile(r"[a-zA-Z0-9]{9}")


def chat_rule_violation(body: Mapping[str, Any]) -> RuleViolation | None:
    """The first of the live service's message rules that ``body`` (schema-valid) breaks."""
    messages = body["messages"]
    if not messages:
        return RuleViolation("Messages list must not be empty", "invalid_request_message_order", "3230")
    previous = None
    for message in messages:
        role = message["role"]
        if previous == "tool" and role == "user":
            return RuleViolation(f"Unexpected role '{role}' after role 'tool'", "invalid_request_message_order", "3230")
        ids = [call.get("id", "null") for call in message.get("tool_calls") or ()] if role == "assistant" else []
        if role == "tool" and message.get("tool_call_id") is not None:
            ids.append(message["tool_call_id"])
        for call_id in ids:
            if not _TOOL_CALL_ID.fullmatch(call_id):
                return RuleViolation(
                    f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.",
                    "invalid_function_call",
                    "3280",
                )
        previous = role
    last = messages[-1]
    if last["role"] not in ("user", "tool") and not (last["role"] == "assistant" and last.get("prefix")):
        return RuleViolation(
            f"Expected last role User or Tool (or Assistant with prefix True) for serving but got {last['role']}",
            "invalid_request_message_order",
            "3230",
        )
    return None
