"""What the API sends back, as plain msgspec Structs.

Fields follow the wire names.  Anything the server adds that is not listed here (the ``p`` padding,
``logprobs``, new fields) is skipped by the decoder, which is what keeps decoding cheap and
forward-compatible.  ``gc=False``: these objects hold no reference cycles, so the garbage collector
need not track the hundreds of thousands a busy relay decodes.

A tolerant reader: every field may be missing (it has a default) or ``null``.  A field whose
Python type has no ``None`` is declared ``OrNull[...]``: the decoder accepts ``null`` there and
``__post_init__`` puts the default back, so ``null`` reads exactly as a missing field would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, TypeVar, cast

import msgspec

from .._exceptions import ToolArgumentsError

_T = TypeVar("_T")
if TYPE_CHECKING:
    from typing import Annotated

    # For type checkers the field holds a T: ``__post_init__`` never lets a ``None`` stay.
    OrNull = Annotated[_T, "null on the wire reads as the default"]
else:
    OrNull = Optional  # what the decoder accepts: the type, or null

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
    prompt_tokens: OrNull[int] = 0
    completion_tokens: OrNull[int] = 0
    total_tokens: OrNull[int] = 0
    # UNSET when absent and None when null, so re-encoding a usage gives back what the server sent.
    prompt_tokens_details: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET

    def __post_init__(self) -> None:
        if self.prompt_tokens is None:
            self.prompt_tokens = 0
        if self.completion_tokens is None:
            self.completion_tokens = 0
        if self.total_tokens is None:
            self.total_tokens = 0


class ContentPart(msgspec.Struct, gc=False, omit_defaults=True):
    """One part of list-shaped content: ``text``, ``thinking`` (itself a list of parts), images..."""

    # A part without a type is text (the spec's default). The default here is None, not "text", so
    # that omit_defaults still writes the type when the part is sent back in a conversation.
    type: OrNull[str] = cast(str, None)
    text: str | None = None
    thinking: list[ContentPart] | None = None

    def __post_init__(self) -> None:
        if self.type is None:
            self.type = "text"


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
    name: OrNull[str] = ""
    # A JSON string on the wire; the spec also allows an object, which the accumulator re-encodes.
    arguments: OrNull[str | dict[str, Any]] = ""

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = ""
        if self.arguments is None:
            self.arguments = ""


class ToolCall(msgspec.Struct, gc=False):
    function: OrNull[FunctionCall] = msgspec.field(default_factory=FunctionCall)
    id: str | None = None
    type: str | None = "function"
    index: int | None = None

    def __post_init__(self) -> None:
        if self.function is None:
            self.function = FunctionCall()

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
    index: OrNull[int] = 0
    delta: OrNull[DeltaMessage] = msgspec.field(default_factory=DeltaMessage)
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = 0
        if self.delta is None:
            self.delta = DeltaMessage()


class ChatCompletionChunk(msgspec.Struct, gc=False):
    """One streamed chunk.  ``is_last`` and the latencies are set by the client, not sent by the API."""

    id: OrNull[str] = ""
    model: OrNull[str] = ""
    created: OrNull[int] = 0
    choices: OrNull[list[ChunkChoice]] = []
    usage: Usage | None = None
    object: OrNull[str] = "chat.completion.chunk"
    # Servers that report a failure inside the stream send {"object": "error", "message": ...}
    # or {"error": {...}}; keeping these two fields lets the decoder see that without a second parse.
    message: Any = None  # a string, or an object (a 422's field list) on some servers
    error: Any = None
    is_last: bool = False
    chunk_latency: float = 0.0
    total_latency: float = 0.0

    def __post_init__(self) -> None:
        # Every chunk passes here: one test in the usual case, where nothing is null.
        if self.id is None or self.model is None or self.created is None or self.choices is None or self.object is None:
            _restore_defaults(self, "chat.completion.chunk")

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

    role: OrNull[str] = "assistant"
    content: Content = None
    tool_calls: list[ToolCall] | None = None
    prefix: OrNull[bool] = False

    def __post_init__(self) -> None:
        if self.role is None:
            self.role = "assistant"
        if self.prefix is None:
            self.prefix = False

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
            from .structured import parse_output

            self.__dict__["_parsed"] = parse_output(self.text, output_type)
        return self.__dict__["_parsed"]


class Choice(msgspec.Struct, gc=False):
    index: OrNull[int] = 0
    message: OrNull[AssistantMessage] = msgspec.field(default_factory=AssistantMessage)
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = 0
        if self.message is None:
            self.message = AssistantMessage()


class ChatCompletion(msgspec.Struct, gc=False):
    """The answer of a non-streaming chat completion."""

    id: OrNull[str] = ""
    model: OrNull[str] = ""
    created: OrNull[int] = 0
    choices: OrNull[list[Choice]] = []
    usage: Usage | None = None
    object: OrNull[str] = "chat.completion"

    def __post_init__(self) -> None:
        _restore_defaults(self, "chat.completion")

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


def _restore_defaults(answer: ChatCompletionChunk | ChatCompletion, object_name: str) -> None:
    """The defaults of the fields a chunk and a whole answer share, where they came as null."""
    if answer.id is None:
        answer.id = ""
    if answer.model is None:
        answer.model = ""
    if answer.created is None:
        answer.created = 0
    if answer.choices is None:
        answer.choices = []
    if answer.object is None:
        answer.object = object_name


class Model(msgspec.Struct, gc=False):
    id: str  # the one field without a default: a card without an id is not a model card
    object: OrNull[str] = "model"
    created: OrNull[int] = 0
    owned_by: OrNull[str] = ""
    name: str | None = None
    description: str | None = None
    max_context_length: int | None = None
    aliases: OrNull[list[str]] = []
    capabilities: OrNull[dict[str, Any]] = {}
    deprecation: str | None = None
    default_model_temperature: float | None = None
    type: str | None = None

    def __post_init__(self) -> None:
        if self.object is None:
            self.object = "model"
        if self.created is None:
            self.created = 0
        if self.owned_by is None:
            self.owned_by = ""
        if self.aliases is None:
            self.aliases = []
        if self.capabilities is None:
            self.capabilities = {}


class ModelList(msgspec.Struct, gc=False):
    data: OrNull[list[Model]] = []
    object: OrNull[str] = "list"

    def __post_init__(self) -> None:
        if self.data is None:
            self.data = []
        if self.object is None:
            self.object = "list"


class Embedding(msgspec.Struct, gc=False):
    """One input's vector (a base64 string when ``encoding_format="base64"``)."""

    embedding: OrNull[list[float] | str] = []
    index: OrNull[int] = 0
    object: OrNull[str] = "embedding"

    def __post_init__(self) -> None:
        if self.embedding is None:
            self.embedding = []
        if self.index is None:
            self.index = 0
        if self.object is None:
            self.object = "embedding"


class EmbeddingResponse(msgspec.Struct, gc=False):
    id: OrNull[str] = ""
    model: OrNull[str] = ""
    data: OrNull[list[Embedding]] = []
    usage: Usage | None = None
    object: OrNull[str] = "list"

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""
        if self.model is None:
            self.model = ""
        if self.data is None:
            self.data = []
        if self.object is None:
            self.object = "list"

    @property
    def vectors(self) -> list[list[float]]:
        """The float vectors, in the order of the inputs."""
        return [item.embedding for item in sorted(self.data, key=lambda item: item.index)]  # type: ignore[misc]
