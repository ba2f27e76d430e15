"""The Conversations API on the wire: its stream's events, its entries and its answers.

A conversation stream sends named events (``event: message.output.delta`` then ``data: {...}``); each
of the ten names of the spec's ``SSETypes`` has one Struct here, and ``EVENT_TYPES`` maps the name to
it.  An event whose name is not among them is kept as an ``UnknownEvent``, never an error.

A tolerant reader, as ``answers.py``: every field may be missing or ``null`` (strings read as
``None`` then); fields the server adds are skipped.  The client sets the latencies of each event
(``StreamEvent``, the base every named-event stream's events share).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .answers import ContentPart, FunctionCall, ToolCall, text_of, thinking_of
from .events import StreamEvent, UnknownEvent

__all__ = [
    "EVENT_TYPES",
    "AgentHandoffDoneEvent",
    "AgentHandoffEntry",
    "AgentHandoffStartedEvent",
    "ConversationEvent",
    "ConversationHistory",
    "ConversationInfo",
    "ConversationMessages",
    "ConversationResponse",
    "ConversationUsage",
    "Entry",
    "FunctionCallEntry",
    "FunctionCallEvent",
    "FunctionResultEntry",
    "MessageInputEntry",
    "MessageOutputEntry",
    "MessageOutputEvent",
    "ResponseDoneEvent",
    "ResponseErrorEvent",
    "ResponseStartedEvent",
    "ToolExecutionDeltaEvent",
    "ToolExecutionDoneEvent",
    "ToolExecutionEntry",
    "ToolExecutionStartedEvent",
    "UnknownEntry",
    "UnknownEvent",
    "decode_entries",
    "decode_history",
    "decode_info",
    "decode_info_list",
    "decode_messages",
    "decode_response",
]

Content = str | list[ContentPart] | None


class ConversationUsage(msgspec.Struct, gc=False):
    """Tokens of a conversation turn; ``connectors`` counts the built-in tools' calls by name."""

    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    total_tokens: int | None = 0
    connector_tokens: int | None = None
    connectors: dict[str, int] | None = None


# -- the stream's events ---------------------------------------------------------------------------
# ``type`` repeats the SSE event name; ``output_index`` says which output of the turn an event adds to.


class _Event(StreamEvent, kw_only=True):
    # ``null`` is read too (a tolerant reader); the decoder then names the event by its SSE name.
    type: str | None = ""  # type: ignore[assignment]
    created_at: str | None = None


class ResponseStartedEvent(_Event, kw_only=True):
    conversation_id: str | None = None


class ResponseDoneEvent(_Event, kw_only=True):
    usage: ConversationUsage | None = None


class ResponseErrorEvent(_Event, kw_only=True):
    message: Any = None
    code: Any = None


class MessageOutputEvent(_Event, kw_only=True):
    """A piece of the assistant's text (``content``): a string, or parts (text, thinking, references)."""

    output_index: int | None = 0
    id: str | None = None
    content_index: int | None = 0
    model: str | None = None
    agent_id: str | None = None
    role: str | None = "assistant"
    # The spec sends one part per delta (an object); a list of parts is read as well.
    content: str | ContentPart | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        """The text of this delta (``""`` for parts that carry none)."""
        content = self.content
        if type(content) is str:
            return content
        return text_of([content] if isinstance(content, ContentPart) else content)

    @property
    def thinking(self) -> str:
        content = self.content
        return thinking_of([content] if isinstance(content, ContentPart) else content)


class FunctionCallEvent(_Event, kw_only=True):
    """A piece of a function call: the first names it, the following add to its ``arguments``."""

    output_index: int | None = 0
    id: str | None = None
    model: str | None = None
    agent_id: str | None = None
    name: str | None = None
    tool_call_id: str | None = None
    arguments: str | None = None
    confirmation_status: str | None = None


class ToolExecutionStartedEvent(_Event, kw_only=True):
    """A built-in tool (``web_search``, ``code_interpreter``...) began to run on the server."""

    output_index: int | None = 0
    id: str | None = None
    model: str | None = None
    agent_id: str | None = None
    name: str | None = None
    arguments: str | None = None


class ToolExecutionDeltaEvent(_Event, kw_only=True):
    output_index: int | None = 0
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


class ToolExecutionDoneEvent(_Event, kw_only=True):
    output_index: int | None = 0
    id: str | None = None
    name: str | None = None
    info: dict[str, Any] | None = None


class AgentHandoffStartedEvent(_Event, kw_only=True):
    output_index: int | None = 0
    id: str | None = None
    previous_agent_id: str | None = None
    previous_agent_name: str | None = None


class AgentHandoffDoneEvent(_Event, kw_only=True):
    output_index: int | None = 0
    id: str | None = None
    next_agent_id: str | None = None
    next_agent_name: str | None = None


ConversationEvent = (
    ResponseStartedEvent
    | ResponseDoneEvent
    | ResponseErrorEvent
    | MessageOutputEvent
    | FunctionCallEvent
    | ToolExecutionStartedEvent
    | ToolExecutionDeltaEvent
    | ToolExecutionDoneEvent
    | AgentHandoffStartedEvent
    | AgentHandoffDoneEvent
    | UnknownEvent
)

EVENT_TYPES: dict[str, type[StreamEvent]] = {
    "conversation.response.started": ResponseStartedEvent,
    "conversation.response.done": ResponseDoneEvent,
    "conversation.response.error": ResponseErrorEvent,
    "message.output.delta": MessageOutputEvent,
    "function.call.delta": FunctionCallEvent,
    "tool.execution.started": ToolExecutionStartedEvent,
    "tool.execution.delta": ToolExecutionDeltaEvent,
    "tool.execution.done": ToolExecutionDoneEvent,
    "agent.handoff.started": AgentHandoffStartedEvent,
    "agent.handoff.done": AgentHandoffDoneEvent,
}


# -- entries: what a conversation is made of ---------------------------------------------------------
# Entries go back to the API as inputs (their ``None`` fields are not sent).


class _Entry(msgspec.Struct, gc=False, kw_only=True, tag_field="type"):
    object: str | None = None
    id: str | None = None
    created_at: str | None = None
    completed_at: str | None = None

    @property
    def type(self) -> str:
        """The entry's type on the wire (``message.output``, ``function.call``...)."""
        return str(self.__struct_config__.tag)


class MessageInputEntry(_Entry, kw_only=True, tag="message.input"):
    role: str = "user"
    content: Content = None
    prefix: bool | None = None

    @property
    def text(self) -> str:
        return text_of(self.content)


class MessageOutputEntry(_Entry, kw_only=True, tag="message.output"):
    role: str | None = "assistant"
    content: Content = None
    agent_id: str | None = None
    model: str | None = None

    @property
    def text(self) -> str:
        return text_of(self.content)


class FunctionCallEntry(_Entry, kw_only=True, tag="function.call"):
    tool_call_id: str = ""
    name: str = ""
    arguments: str | dict[str, Any] = ""
    agent_id: str | None = None
    model: str | None = None
    confirmation_status: str | None = None

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict (``{}`` for none); ``ToolArgumentsError`` (keeping the raw string)
        if they are not a JSON object, as for a chat tool call."""
        arguments = self.arguments
        if isinstance(arguments, dict):
            return arguments
        # Chat's tool call reads them: one rule, and one error, for both APIs.
        call = ToolCall(function=FunctionCall(name=self.name, arguments=arguments), id=self.tool_call_id)
        return call.parsed_arguments()


class FunctionResultEntry(_Entry, kw_only=True, tag="function.result"):
    tool_call_id: str = ""
    result: str = ""


class ToolExecutionEntry(_Entry, kw_only=True, tag="tool.execution"):
    name: str = ""
    arguments: str = ""
    info: dict[str, Any] | None = None
    agent_id: str | None = None
    model: str | None = None


class AgentHandoffEntry(_Entry, kw_only=True, tag="agent.handoff"):
    previous_agent_id: str = ""
    previous_agent_name: str = ""
    next_agent_id: str = ""
    next_agent_name: str = ""


class UnknownEntry(msgspec.Struct, gc=False):
    """An entry of a type the client does not know, kept as the dict the server sent."""

    type: str
    data: dict[str, Any]


Entry = (
    MessageInputEntry
    | MessageOutputEntry
    | FunctionCallEntry
    | FunctionResultEntry
    | ToolExecutionEntry
    | AgentHandoffEntry
    | UnknownEntry
)
_KnownEntry = (
    MessageInputEntry
    | MessageOutputEntry
    | FunctionCallEntry
    | FunctionResultEntry
    | ToolExecutionEntry
    | AgentHandoffEntry
)
_ENTRY_TAGS = frozenset(
    {"message.input", "message.output", "function.call", "function.result", "tool.execution", "agent.handoff"}
)


def decode_entries(raw: Any) -> list[Entry]:
    """Entries from their JSON values; one of an unknown type is kept as an ``UnknownEntry``."""
    entries: list[Entry] = []
    for item in raw or ():
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind is None and "role" in item:
            kind = item["type"] = "message.input"  # the spec's default for an entry without a type
        if kind in _ENTRY_TAGS:
            try:
                entries.append(msgspec.convert(item, _KnownEntry))
                continue
            except msgspec.ValidationError:
                pass
        entries.append(UnknownEntry(type=str(kind), data=item))
    return entries


# -- answers ----------------------------------------------------------------------------------------


class ConversationResponse(msgspec.Struct, gc=False, kw_only=True):
    """The answer of ``conversations.start/append/restart``: the new entries (``outputs``) and usage."""

    conversation_id: str = ""
    outputs: list[Entry] = msgspec.field(default_factory=list)
    usage: ConversationUsage | None = None
    object: str | None = "conversation.response"
    guardrails: list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        """The text of the assistant's messages among the outputs, joined."""
        return "".join(entry.text for entry in self.outputs if isinstance(entry, MessageOutputEntry))

    @property
    def function_calls(self) -> list[FunctionCallEntry]:
        """The function calls the model asks the client to run."""
        return [entry for entry in self.outputs if isinstance(entry, FunctionCallEntry)]


class ConversationInfo(msgspec.Struct, gc=False, kw_only=True):
    """A conversation's attributes (``conversations.get`` / ``list``): with a ``model`` or an ``agent_id``."""

    id: str = ""
    object: str | None = "conversation"
    created_at: str | None = None
    updated_at: str | None = None
    model: str | None = None
    agent_id: str | None = None
    agent_version: str | int | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    completion_args: dict[str, Any] | None = None
    guardrails: list[dict[str, Any]] | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None


class ConversationHistory(msgspec.Struct, gc=False, kw_only=True):
    conversation_id: str = ""
    entries: list[Entry] = msgspec.field(default_factory=list)
    object: str | None = "conversation.history"


class ConversationMessages(msgspec.Struct, gc=False, kw_only=True):
    conversation_id: str = ""
    messages: list[Entry] = msgspec.field(default_factory=list)
    object: str | None = "conversation.messages"


# The answers are decoded in one pass where every entry is of a known type (always, today), and
# entry by entry otherwise, so that a new entry type is kept rather than failing the answer.
class _FastResponse(msgspec.Struct, gc=False, kw_only=True):
    conversation_id: str | None = ""
    outputs: list[_KnownEntry] = msgspec.field(default_factory=list)
    usage: ConversationUsage | None = None
    object: str | None = "conversation.response"
    guardrails: list[dict[str, Any]] | None = None


class _SlowResponse(msgspec.Struct, gc=False, kw_only=True):
    conversation_id: str | None = ""
    outputs: list[Any] = msgspec.field(default_factory=list)
    usage: ConversationUsage | None = None
    object: str | None = "conversation.response"
    guardrails: list[dict[str, Any]] | None = None


class _SlowHistory(msgspec.Struct, gc=False, kw_only=True):
    conversation_id: str | None = ""
    entries: list[Any] | None = None
    messages: list[Any] | None = None
    object: str | None = None


_fast_response = msgspec.json.Decoder(_FastResponse).decode
_slow_response = msgspec.json.Decoder(_SlowResponse).decode
_slow_history = msgspec.json.Decoder(_SlowHistory).decode
_info = msgspec.json.Decoder(ConversationInfo).decode
_info_list = msgspec.json.Decoder(list[ConversationInfo]).decode


def decode_response(data: bytes) -> ConversationResponse:
    try:
        fast = _fast_response(data)
        outputs: list[Entry] = list(fast.outputs)
        return ConversationResponse(
            conversation_id=fast.conversation_id or "",
            outputs=outputs,
            usage=fast.usage,
            object=fast.object,
            guardrails=fast.guardrails,
        )
    except msgspec.ValidationError:
        slow = _slow_response(data)
        return ConversationResponse(
            conversation_id=slow.conversation_id or "",
            outputs=decode_entries(slow.outputs),
            usage=slow.usage,
            object=slow.object,
            guardrails=slow.guardrails,
        )


def decode_history(data: bytes) -> ConversationHistory:
    slow = _slow_history(data)
    return ConversationHistory(
        conversation_id=slow.conversation_id or "", entries=decode_entries(slow.entries), object=slow.object
    )


def decode_messages(data: bytes) -> ConversationMessages:
    slow = _slow_history(data)
    return ConversationMessages(
        conversation_id=slow.conversation_id or "", messages=decode_entries(slow.messages), object=slow.object
    )


def decode_info(data: bytes) -> ConversationInfo:
    return _info(data)


def decode_info_list(data: bytes) -> list[ConversationInfo]:
    return _info_list(data)
