"""A conversation stream's events -> the ``ConversationResult``, without I/O.

The result grows as events are delivered, so at any moment (the end, a cancel, an error) it is
exactly what the caller has received; errors raised mid-stream carry it as ``.partial``.

Outputs are assembled by ``output_index``, as the API numbers them within a turn: the text of each
message, each function call's arguments joined (``parsed_arguments()`` decodes them), each built-in
tool's execution with its ``info``, each handoff.  ``to_response()`` gives the same shape that
``conversations.start`` returns without a stream.
"""

from __future__ import annotations

from typing import Any

from .._wire.conversations import (
    EVENT_TYPES,
    AgentHandoffDoneEvent,
    AgentHandoffEntry,
    AgentHandoffStartedEvent,
    ConversationResponse,
    ConversationUsage,
    Entry,
    FunctionCallEntry,
    FunctionCallEvent,
    FunctionResultEntry,
    MessageOutputEntry,
    MessageOutputEvent,
    ResponseDoneEvent,
    ResponseErrorEvent,
    ResponseStartedEvent,
    ToolExecutionDeltaEvent,
    ToolExecutionDoneEvent,
    ToolExecutionEntry,
    ToolExecutionStartedEvent,
)
from .._wire.events import StreamEvent
from .accumulating import _fold
from .events import EventKinds, EventResult

__all__ = ["CONVERSATION_EVENTS", "ConversationResult", "RunResult"]

_FOLD_EVERY = 256

# The conversation family's events: ``conversation.response.done`` ends a turn, ``.error`` fails it.
CONVERSATION_EVENTS = EventKinds(
    EVENT_TYPES, end={"conversation.response.done"}, errors={"conversation.response.error"}
)


class _Output:
    __slots__ = ("agent_id", "folded", "id", "index", "kind", "model", "parts", "thinking", "thinking_folded", "values")

    def __init__(self, kind: str, index: int, id: str | None) -> None:
        self.kind = kind
        self.index = index
        self.id = id
        self.parts: list[str] = []  # text, or a call's argument pieces
        self.thinking: list[str] = []
        self.folded = self.thinking_folded = 0  # leading joined blocks of each (``accumulating._fold``)
        self.model: str | None = None
        self.agent_id: str | None = None
        self.values: dict[str, Any] = {}

    def text(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
            self.folded = 1
        return self.parts[0] if self.parts else ""

    def build(self) -> Entry:
        values = self.values
        if self.kind == "message.output":
            return MessageOutputEntry(id=self.id, content=self.text(), model=self.model, agent_id=self.agent_id)
        if self.kind == "function.call":
            return FunctionCallEntry(
                id=self.id,
                tool_call_id=values.get("tool_call_id") or "",
                name=values.get("name") or "",
                arguments=self.text(),
                model=self.model,
                agent_id=self.agent_id,
                confirmation_status=values.get("confirmation_status"),
            )
        if self.kind == "tool.execution":
            return ToolExecutionEntry(
                id=self.id,
                name=values.get("name") or "",
                arguments=self.text(),
                info=values.get("info"),
                model=self.model,
                agent_id=self.agent_id,
            )
        return AgentHandoffEntry(
            id=self.id,
            previous_agent_id=values.get("previous_agent_id") or "",
            previous_agent_name=values.get("previous_agent_name") or "",
            next_agent_id=values.get("next_agent_id") or "",
            next_agent_name=values.get("next_agent_name") or "",
        )


class ConversationResult(EventResult):
    """Everything a conversation stream delivered: the conversation id, the outputs, usage, timings.

    ``time_to_first_event`` runs from the call to the first event, ``total_latency`` to the end of
    the stream; each event carries its own ``event_latency`` (since the one before) and
    ``total_latency``.  ``done`` is true once ``conversation.response.done`` arrived; ``cancelled``
    when the caller stopped before it; ``error`` holds a ``conversation.response.error`` event.
    """

    def __init__(self, *, keep_events: bool = True) -> None:
        super().__init__(keep_events=keep_events)
        self.conversation_id = ""
        self.usage: ConversationUsage | None = None
        self.time_to_first_token: float | None = None
        self.done = False
        self.error: ResponseErrorEvent | None = None
        self._outputs: list[_Output] = []
        self._by_index: dict[int, _Output] = {}

    # -- views -----------------------------------------------------------------------------------

    @property
    def outputs(self) -> list[Entry]:
        """The turn's outputs so far, in order, each assembled from its deltas."""
        return [output.build() for output in self._outputs]

    @property
    def text(self) -> str:
        """The assistant's text: every message output's text, joined."""
        return "".join(output.text() for output in self._outputs if output.kind == "message.output")

    @property
    def thinking(self) -> str:
        """The reasoning text of ``thinking`` parts (reasoning models); ``""`` for other models."""
        return "".join("".join(output.thinking) for output in self._outputs if output.kind == "message.output")

    @property
    def messages(self) -> list[MessageOutputEntry]:
        return [entry for entry in self.outputs if isinstance(entry, MessageOutputEntry)]

    @property
    def function_calls(self) -> list[FunctionCallEntry]:
        """The function calls, each with its arguments joined (``parsed_arguments()`` decodes them)."""
        return [entry for entry in self.outputs if isinstance(entry, FunctionCallEntry)]

    @property
    def tool_executions(self) -> list[ToolExecutionEntry]:
        """The built-in tools the server ran (``web_search``...), with their ``info``."""
        return [entry for entry in self.outputs if isinstance(entry, ToolExecutionEntry)]

    @property
    def handoffs(self) -> list[AgentHandoffEntry]:
        return [entry for entry in self.outputs if isinstance(entry, AgentHandoffEntry)]

    def to_response(self) -> ConversationResponse:
        """What was delivered, shaped as the ``ConversationResponse`` that ``conversations.start`` returns."""
        return ConversationResponse(conversation_id=self.conversation_id, outputs=self.outputs, usage=self.usage)

    # -- accumulation ----------------------------------------------------------------------------

    def apply(self, item: StreamEvent) -> None:
        """Assemble what ``event`` carries (``add``, the base's, counts and keeps it first)."""
        if self.events is None and not self.event_count % _FOLD_EVERY:
            for output in self._outputs:
                output.folded = _fold(output.parts, output.folded)
                output.thinking_folded = _fold(output.thinking, output.thinking_folded)
        event: Any = item
        kind = type(event)
        if kind is MessageOutputEvent:
            output = self._output("message.output", event)
            content = event.content
            if type(content) is str:
                if content:
                    output.parts.append(content)
            elif content:
                text = event.text
                if text:
                    output.parts.append(text)
                thinking = event.thinking
                if thinking:
                    output.thinking.append(thinking)
            if self.time_to_first_token is None:
                self.time_to_first_token = event.total_latency
        elif kind is FunctionCallEvent:
            output = self._output("function.call", event)
            values = output.values
            for field in ("name", "tool_call_id", "confirmation_status"):
                value = getattr(event, field)
                if value:
                    values[field] = value
            if event.arguments:
                output.parts.append(event.arguments)
            if self.time_to_first_token is None:
                self.time_to_first_token = event.total_latency
        elif kind is ToolExecutionStartedEvent or kind is ToolExecutionDeltaEvent:
            output = self._output("tool.execution", event)
            if event.name:
                output.values["name"] = event.name
            if event.arguments:
                output.parts.append(event.arguments)
        elif kind is ToolExecutionDoneEvent:
            output = self._output("tool.execution", event)
            if event.name:
                output.values["name"] = event.name
            if event.info is not None:
                output.values["info"] = event.info
        elif kind is AgentHandoffStartedEvent:
            output = self._output("agent.handoff", event)
            output.values["previous_agent_id"] = event.previous_agent_id
            output.values["previous_agent_name"] = event.previous_agent_name
        elif kind is AgentHandoffDoneEvent:
            output = self._output("agent.handoff", event)
            output.values["next_agent_id"] = event.next_agent_id
            output.values["next_agent_name"] = event.next_agent_name
        elif kind is ResponseStartedEvent:
            if event.conversation_id:
                self.conversation_id = event.conversation_id
        elif kind is ResponseDoneEvent:
            self.usage = event.usage
            self.done = True
        elif kind is ResponseErrorEvent:
            self.error = event

    def _output(self, kind: str, event: Any) -> _Output:
        index = event.output_index or 0
        output = self._by_index.get(index)
        if output is None or output.kind != kind or (event.id and output.id and event.id != output.id):
            output = self._by_index[index] = _Output(kind, index, event.id)
            self._outputs.append(output)
        elif event.id and not output.id:
            output.id = event.id
        model = getattr(event, "model", None)
        if model:
            output.model = model
        agent_id = getattr(event, "agent_id", None)
        if agent_id:
            output.agent_id = agent_id
        return output

    def __repr__(self) -> str:
        text = self.text
        shown = text if len(text) <= 60 else text[:57] + "..."
        return (
            f"ConversationResult(conversation_id={self.conversation_id!r}, text={shown!r}, "
            f"outputs={len(self._outputs)}, event_count={self.event_count}, done={self.done}, "
            f"cancelled={self.cancelled})"
        )


class RunResult:
    """What the tool loop (``conversations.run``) did: every round's outputs and the results sent back.

    ``entries`` holds, in order, each round's outputs and the ``FunctionResultEntry`` of each call the
    loop ran; ``text`` is the model's last answer; ``usage`` adds up every round's.
    """

    __slots__ = ("conversation_id", "entries", "rounds", "turns", "usage")

    def __init__(self) -> None:
        self.conversation_id = ""
        self.entries: list[Entry] = []
        self.rounds = 0  # how many times the loop ran functions and sent their results back
        self.turns: list[Any] = []  # each model turn: a ConversationResponse, or a stream's ConversationResult
        self.usage = ConversationUsage()

    def add_turn(self, turn: Any) -> None:
        """One answer of the model (a ``ConversationResponse`` or a ``ConversationResult``)."""
        self.turns.append(turn)
        if turn.conversation_id:
            self.conversation_id = turn.conversation_id
        self.entries.extend(turn.outputs)
        usage = turn.usage
        if usage is not None:
            total = self.usage
            for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
                setattr(total, field, (getattr(total, field) or 0) + (getattr(usage, field) or 0))
            if usage.connector_tokens is not None:
                total.connector_tokens = (total.connector_tokens or 0) + usage.connector_tokens
            if usage.connectors:
                connectors = total.connectors = dict(total.connectors or {})
                for name, count in usage.connectors.items():
                    connectors[name] = connectors.get(name, 0) + count

    def add_results(self, results: list[FunctionResultEntry]) -> None:
        self.rounds += 1
        self.entries.extend(results)

    @property
    def text(self) -> str:
        """The text of the model's last turn: its answer once the loop ended."""
        if not self.turns:
            return ""
        return self.turns[-1].text  # type: ignore[no-any-return]

    @property
    def function_calls(self) -> list[FunctionCallEntry]:
        return [entry for entry in self.entries if isinstance(entry, FunctionCallEntry)]

    @property
    def function_results(self) -> list[FunctionResultEntry]:
        return [entry for entry in self.entries if isinstance(entry, FunctionResultEntry)]

    def __repr__(self) -> str:
        text = self.text
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"RunResult(conversation_id={self.conversation_id!r}, rounds={self.rounds}, text={shown!r})"
