"""What the API sends back, as plain msgspec Structs.

Fields follow the wire names.  Anything the server adds that is not listed here (the ``p`` padding,
``logprobs``, new fields) is skipped by the decoder, which is what keeps decoding cheap and
forward-compatible.  ``gc=False``: these objects hold no reference cycles, so the garbage collector
need not track the hundreds of thousands a busy relay decodes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._exceptions import ToolArgumentsError

__all__ = [
    "AssistantMessage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "ContentPart",
    "DeltaMessage",
    "Embedding",
    "EmbeddingResponse",
    "FunctionCall",
    "Model",
    "ModelList",
    "ToolCall",
    "Usage",
    "text_of",
    "thinking_of",
]


class Usage(msgspec.Struct, gc=False):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    # UNSET when absent, so re-encoding a usage gives back what the server sent (the spec has no null here).
    prompt_tokens_details: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class ContentPart(msgspec.Struct, gc=False, omit_defaults=True):
    """One part of list-shaped content: ``text``, ``thinking`` (itself a list of parts), images..."""

    type: str
    text: str | None = None
    thinking: list[ContentPart] | None = None


Content = str | list[ContentPart] | None


def text_of(content: Content) -> str:
    """The text of a content value: the string itself, or its ``text`` parts joined."""
    if content is None:
        return ""
    if type(content) is str:
        return content
    return "".join(part.text for part in content if part.type == "text" and part.text)  # type: ignore[union-attr]


def thinking_of(content: Content) -> str:
    """The reasoning text of a content value: the text inside its ``thinking`` parts."""
    if content is None or type(content) is str:
        return ""
    return "".join(text_of(part.thinking) for part in content if part.type == "thinking")  # type: ignore[union-attr]


class FunctionCall(msgspec.Struct, gc=False):
    name: str = ""
    # A JSON string on the wire; the spec also allows an object, which the accumulator re-encodes.
    arguments: str | dict[str, Any] = ""


class ToolCall(msgspec.Struct, gc=False):
    function: FunctionCall = msgspec.field(default_factory=FunctionCall)
    id: str | None = None
    type: str | None = "function"
    index: int | None = None

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; ``ToolArgumentsError`` (keeping the raw string) if they are not a JSON object."""
        arguments = self.function.arguments
        if isinstance(arguments, dict):
            return arguments
        if not arguments.strip():
            return {}  # a call without parameters; some servers send "" rather than "{}"
        try:
            value = msgspec.json.decode(arguments)
        except msgspec.DecodeError as exc:
            raise ToolArgumentsError(self, f"are not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ToolArgumentsError(self, f"are JSON but not an object (a {type(value).__name__})")
        return value


class DeltaMessage(msgspec.Struct, gc=False):
    role: str | None = None
    content: Content = None
    tool_calls: list[ToolCall] | None = None


class ChunkChoice(msgspec.Struct, gc=False):
    index: int = 0
    delta: DeltaMessage = msgspec.field(default_factory=DeltaMessage)
    finish_reason: str | None = None


class ChatCompletionChunk(msgspec.Struct, gc=False):
    """One streamed chunk.  ``is_last`` and the latencies are set by the client, not sent by the API."""

    id: str = ""
    model: str = ""
    created: int = 0
    choices: list[ChunkChoice] = []
    usage: Usage | None = None
    object: str = "chat.completion.chunk"
    # Servers that report a failure inside the stream send {"object": "error", "message": ...}
    # or {"error": {...}}; keeping these two fields lets the decoder see that without a second parse.
    message: str | None = None
    error: Any = None
    is_last: bool = False
    chunk_latency: float = 0.0
    total_latency: float = 0.0

    @property
    def content(self) -> str:
        """The text delta of choice 0 (the choice whose ``index`` is 0), ``""`` when there is none
        (never ``None``)."""
        choices = self.choices
        if not choices:
            return ""
        choice = choices[0]
        if choice.index != 0:
            found = choice_zero(choices)
            if found is None:
                return ""
            choice = found
        content = choice.delta.content
        if type(content) is str:
            return content
        return text_of(content)

    @property
    def thinking(self) -> str:
        """The reasoning delta of choice 0 (``thinking`` parts of list-shaped content), ``""`` if none."""
        choice = choice_zero(self.choices)
        return thinking_of(choice.delta.content) if choice is not None else ""

    @property
    def finish_reason(self) -> str | None:
        """The finish reason of choice 0, if this chunk carries one."""
        choice = choice_zero(self.choices)
        return choice.finish_reason if choice is not None else None


def choice_zero(choices: list[ChunkChoice]) -> ChunkChoice | None:
    """The choice whose index is 0, or ``None`` if the chunk does not carry it.

    With ``n > 1`` the API interleaves the choices: a chunk holds any of them, in any order.  With
    ``n`` = 1 (nearly every stream) it is the first choice, found with one comparison.
    """
    for choice in choices:
        if choice.index == 0:
            return choice
    return None


class AssistantMessage(msgspec.Struct, dict=True):
    """The answer's message.  It can be appended to ``messages`` as is, to continue the conversation."""

    role: str = "assistant"
    content: Content = None
    tool_calls: list[ToolCall] | None = None
    prefix: bool = False

    @property
    def text(self) -> str:
        """The text of ``content``, whether a string or a list of parts (reasoning left out)."""
        return text_of(self.content)

    @property
    def thinking(self) -> str:
        """The reasoning text of list-shaped content; ``""`` for other models."""
        return thinking_of(self.content)

    @property
    def parsed(self) -> Any:
        """The content decoded into the type given as ``response_format``; ``None`` without one."""
        # ``dict=True`` lets the client attach the output type after decoding, off the wire fields.
        output_type = self.__dict__.get("_output_type")
        if output_type is None:
            return None
        if "_parsed" not in self.__dict__:
            from ._structured import parse_output

            self.__dict__["_parsed"] = parse_output(self.text, output_type)
        return self.__dict__["_parsed"]


class Choice(msgspec.Struct, gc=False):
    index: int = 0
    message: AssistantMessage = msgspec.field(default_factory=AssistantMessage)
    finish_reason: str | None = None


class ChatCompletion(msgspec.Struct, gc=False):
    """The answer of a non-streaming chat completion."""

    id: str = ""
    model: str = ""
    created: int = 0
    choices: list[Choice] = []
    usage: Usage | None = None
    object: str = "chat.completion"

    @property
    def content(self) -> str:
        """The text of choice 0's message."""
        return text_of(self.choices[0].message.content) if self.choices else ""

    @property
    def thinking(self) -> str:
        """The reasoning text of choice 0's message (reasoning models), ``""`` otherwise."""
        return thinking_of(self.choices[0].message.content) if self.choices else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls of choice 0's message."""
        return (self.choices[0].message.tool_calls or []) if self.choices else []

    @property
    def parsed(self) -> Any:
        """Choice 0's content decoded into the ``response_format`` type; ``None`` without one."""
        return self.choices[0].message.parsed if self.choices else None

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None


class Model(msgspec.Struct, gc=False):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = ""
    name: str | None = None
    description: str | None = None
    max_context_length: int | None = None
    aliases: list[str] = []
    capabilities: dict[str, Any] = {}
    deprecation: str | None = None
    default_model_temperature: float | None = None
    type: str | None = None


class ModelList(msgspec.Struct, gc=False):
    data: list[Model] = []
    object: str = "list"


class Embedding(msgspec.Struct, gc=False):
    """One input's vector (a base64 string when ``encoding_format="base64"``)."""

    embedding: list[float] | str = []
    index: int = 0
    object: str = "embedding"


class EmbeddingResponse(msgspec.Struct, gc=False):
    id: str = ""
    model: str = ""
    data: list[Embedding] = []
    usage: Usage | None = None
    object: str = "list"

    @property
    def vectors(self) -> list[list[float]]:
        """The float vectors, in the order of the inputs."""
        return [item.embedding for item in sorted(self.data, key=lambda item: item.index)]  # type: ignore[misc]
