"""Stage 3 of the stream pipeline: chunks -> the accumulated result.

``StreamResult`` grows as chunks are decoded, so at any moment (the end, a cancel, an error) it is
exactly what the stream has delivered so far; errors raised mid-stream carry it as ``.partial``.
"""

from __future__ import annotations

from ._models import ChatCompletionChunk, FunctionCall, ToolCall, Usage, text_of

__all__ = ["ChoiceResult", "StreamResult"]


class _ToolCallBuilder:
    __slots__ = ("arguments", "id", "index", "name", "type")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.type: str | None = None
        self.name = ""
        self.arguments: list[str] = []

    def build(self) -> ToolCall:
        function = FunctionCall(name=self.name, arguments="".join(self.arguments))
        return ToolCall(function=function, id=self.id, type=self.type or "function", index=self.index)


class ChoiceResult:
    """One choice accumulated across the stream (``n > 1`` gives several)."""

    __slots__ = ("_by_index", "_calls", "_parts", "finish_reason", "index")

    def __init__(self, index: int) -> None:
        self.index = index
        self.finish_reason: str | None = None
        self._parts: list[str] = []
        self._calls: list[_ToolCallBuilder] = []
        self._by_index: dict[int, _ToolCallBuilder] = {}

    @property
    def content(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [call.build() for call in self._calls]

    def _add_tool_calls(self, deltas: list[ToolCall]) -> None:
        # Mistral's models send each call whole, OpenAI-style servers send an id and name first and
        # then argument pieces that carry only the index: both land in one builder per index.
        for delta in deltas:
            index = delta.index if delta.index is not None else len(self._calls)
            call = self._by_index.get(index)
            if call is None or (delta.id and call.id and delta.id != call.id):
                call = self._by_index[index] = _ToolCallBuilder(index)
                self._calls.append(call)
            if delta.id:
                call.id = delta.id
            if delta.type:
                call.type = delta.type
            function = delta.function
            if function.name:
                call.name = function.name
            arguments = function.arguments
            if arguments:
                if not isinstance(arguments, str):
                    import json

                    arguments = json.dumps(arguments, separators=(",", ":"))
                call.arguments.append(arguments)

    def __repr__(self) -> str:
        return f"ChoiceResult(index={self.index}, content={self.content!r}, finish_reason={self.finish_reason!r})"


class StreamResult:
    """Everything a stream delivered: text, tool calls, usage, chunks and timings.

    ``total_latency`` runs from the call to the end of the stream; ``time_to_first_token`` to the
    first chunk that carried content or a tool call.  ``cancelled`` is true when the caller stopped
    the stream before its end.
    """

    __slots__ = (
        "_choices",
        "cancelled",
        "chunk_count",
        "chunks",
        "created",
        "id",
        "model",
        "time_to_first_token",
        "total_latency",
        "usage",
    )

    def __init__(self, *, keep_chunks: bool = True) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.usage: Usage | None = None
        self.chunks: list[ChatCompletionChunk] | None = [] if keep_chunks else None
        self.chunk_count = 0
        self.time_to_first_token: float | None = None
        self.total_latency: float | None = None
        self.cancelled = False
        self._choices: dict[int, ChoiceResult] = {}

    @property
    def choices(self) -> list[ChoiceResult]:
        return [self._choices[index] for index in sorted(self._choices)]

    @property
    def content(self) -> str:
        """The whole text of choice 0."""
        choice = self._choices.get(0)
        return choice.content if choice is not None else ""

    @property
    def finish_reason(self) -> str | None:
        choice = self._choices.get(0)
        return choice.finish_reason if choice is not None else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The complete tool calls of choice 0, in the order they started."""
        choice = self._choices.get(0)
        return choice.tool_calls if choice is not None else []

    def add(self, chunk: ChatCompletionChunk) -> None:
        self.chunk_count += 1
        if self.chunks is not None:
            self.chunks.append(chunk)
        if not self.id:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            result = self._choices.get(choice.index)
            if result is None:
                result = self._choices[choice.index] = ChoiceResult(choice.index)
            delta = choice.delta
            content = delta.content
            if content:
                text = content if type(content) is str else text_of(content)
                if text:
                    result._parts.append(text)
                if self.time_to_first_token is None:
                    self.time_to_first_token = chunk.total_latency
            if delta.tool_calls:
                result._add_tool_calls(delta.tool_calls)
                if self.time_to_first_token is None:
                    self.time_to_first_token = chunk.total_latency
            if choice.finish_reason is not None:
                result.finish_reason = choice.finish_reason

    def __repr__(self) -> str:
        content = self.content
        shown = content if len(content) <= 60 else content[:57] + "..."
        return (
            f"StreamResult(id={self.id!r}, model={self.model!r}, content={shown!r}, "
            f"finish_reason={self.finish_reason!r}, chunk_count={self.chunk_count}, cancelled={self.cancelled})"
        )
