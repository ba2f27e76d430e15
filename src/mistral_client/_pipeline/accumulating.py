"""Stage 3 of the stream pipeline: chunks -> the accumulated result.

``StreamResult`` grows as chunks are decoded, so at any moment (the end, a cancel, an error) it is
exactly what the stream has delivered so far; errors raised mid-stream carry it as ``.partial``.
"""

from __future__ import annotations

from typing import Any

from .._wire.answers import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ContentPart,
    FunctionCall,
    ToolCall,
    Usage,
    text_of,
    thinking_of,
)

__all__ = ["ChoiceResult", "StreamResult"]

# Without kept chunks (``keep_chunks=False``) nothing else holds the deltas, so their pieces are
# joined as they come, every this many chunks: the result holds O(1) objects, not one per chunk.
_FOLD_EVERY = 256


def _fold(pieces: list[str], joined: int) -> int:
    """Join the pieces after the first ``joined`` (blocks joined before) into one block; once the
    blocks pile up, join them too.  Returns how many blocks there are now.

    Two levels, so that a character is copied a bounded number of times per 65,536 chunks, instead
    of once per fold (joining everything each time is quadratic on a long stream).
    """
    if len(pieces) - joined > 1:
        pieces[joined:] = ["".join(pieces[joined:])]
    joined = len(pieces)
    if joined >= _FOLD_EVERY:
        pieces[:] = ["".join(pieces)]
        joined = 1
    return joined


class _ToolCallBuilder:
    __slots__ = ("arguments", "folded", "id", "index", "name", "type")

    def __init__(self, index: int) -> None:
        self.index = index
        self.id: str | None = None
        self.type: str | None = None
        self.name = ""
        self.arguments: list[str] = []
        self.folded = 0  # leading entries of ``arguments`` that are joined blocks (``_fold``)

    def build(self) -> ToolCall:
        function = FunctionCall(name=self.name, arguments="".join(self.arguments))
        return ToolCall(function=function, id=self.id, type=self.type or "function", index=self.index)


class ChoiceResult:
    """One choice accumulated across the stream (``n > 1`` gives several)."""

    __slots__ = (
        "_by_index",
        "_calls",
        "_folded",
        "_output_type",
        "_parsed",
        "_parts",
        "_thinking",
        "_thinking_folded",
        "finish_reason",
        "index",
    )

    def __init__(self, index: int, output_type: Any = None) -> None:
        self.index = index
        self.finish_reason: str | None = None
        self._parts: list[str] = []
        self._thinking: list[str] = []
        self._folded = self._thinking_folded = 0  # leading joined blocks of each (``_fold``)
        self._calls: list[_ToolCallBuilder] = []
        self._by_index: dict[int, _ToolCallBuilder] = {}
        self._output_type = output_type
        self._parsed: tuple[int, Any] | None = None

    @property
    def content(self) -> str:
        """The whole text so far (reasoning left out)."""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
            self._folded = 1
        return self._parts[0] if self._parts else ""

    @property
    def thinking(self) -> str:
        """The reasoning text so far (``thinking`` parts of reasoning models), ``""`` for other models."""
        if len(self._thinking) > 1:
            self._thinking[:] = ["".join(self._thinking)]
            self._thinking_folded = 1
        return self._thinking[0] if self._thinking else ""

    def _fold(self) -> None:
        self._folded = _fold(self._parts, self._folded)
        self._thinking_folded = _fold(self._thinking, self._thinking_folded)
        for call in self._calls:
            call.folded = _fold(call.arguments, call.folded)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls so far, in the order they started; each call's arguments joined."""
        return [call.build() for call in self._calls]

    @property
    def parsed(self) -> Any:
        """The content decoded into the ``response_format`` type (``StructuredOutputError`` if it does not
        decode); ``None`` when the request gave no type."""
        if self._output_type is None:
            return None
        content = self.content
        if self._parsed is None or self._parsed[0] != len(content):
            from .._wire.structured import parse_output

            self._parsed = (len(content), parse_output(content, self._output_type))
        return self._parsed[1]

    @property
    def message(self) -> AssistantMessage:
        """The answer as an assistant message, shaped as ``chat.complete`` returns it; append it to
        ``messages`` to continue the conversation (after a tool call, say)."""
        content: str | list[ContentPart] = self.content
        if self._thinking:
            # Reasoning models answer with list content: the thinking part, then the text part.
            thinking = ContentPart(type="thinking", thinking=[ContentPart(type="text", text=self.thinking)])
            content = [thinking, ContentPart(type="text", text=self.content)]
        message = AssistantMessage(content=content, tool_calls=self.tool_calls or None)
        if self._output_type is not None:
            message.__dict__["_output_type"] = self._output_type
        return message

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
    the stream before its last chunk (leaving at ``is_last`` is the end, not a cancel).
    """

    __slots__ = (
        "_choices",
        "cancelled",
        "chunk_count",
        "chunks",
        "created",
        "id",
        "model",
        "output_type",
        "time_to_first_token",
        "total_latency",
        "usage",
    )

    def __init__(self, *, keep_chunks: bool = True, output_type: Any = None) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.usage: Usage | None = None
        # ``None``, not ``[]``, when chunks are not kept: "none kept" must not read as "none arrived"
        # (an empty list would make ``partial.chunks == received`` silently false, and ``len()`` 0).
        self.chunks: list[ChatCompletionChunk] | None = [] if keep_chunks else None
        self.chunk_count = 0
        self.time_to_first_token: float | None = None
        self.total_latency: float | None = None
        self.cancelled = False
        self.output_type = output_type
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
    def thinking(self) -> str:
        """The whole reasoning text of choice 0 (reasoning models); ``""`` for other models."""
        choice = self._choices.get(0)
        return choice.thinking if choice is not None else ""

    @property
    def finish_reason(self) -> str | None:
        choice = self._choices.get(0)
        return choice.finish_reason if choice is not None else None

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The complete tool calls of choice 0, in the order they started."""
        choice = self._choices.get(0)
        return choice.tool_calls if choice is not None else []

    @property
    def parsed(self) -> Any:
        """Choice 0's content decoded into the ``response_format`` type; ``None`` without one."""
        choice = self._choices.get(0)
        return choice.parsed if choice is not None else None

    def to_completion(self) -> ChatCompletion:
        """What was delivered, shaped as the ``ChatCompletion`` that ``chat.complete`` returns."""
        choices = [
            Choice(index=choice.index, message=choice.message, finish_reason=choice.finish_reason)
            for choice in self.choices
        ]
        return ChatCompletion(id=self.id, model=self.model, created=self.created, choices=choices, usage=self.usage)

    def add(self, chunk: ChatCompletionChunk) -> None:
        count = self.chunk_count = self.chunk_count + 1
        if not self.id:
            self.id, self.model, self.created = chunk.id, chunk.model, chunk.created
        chunks = self.chunks
        if chunks is not None:
            # Kept chunks share one copy of the id and model every chunk repeats: a third of their weight.
            if chunk.id == self.id and chunk.model == self.model:
                chunk.id, chunk.model = self.id, self.model
            chunks.append(chunk)
        elif not count % _FOLD_EVERY:
            for accumulated in self._choices.values():
                accumulated._fold()
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            result = self._choices.get(choice.index)
            if result is None:
                result = self._choices[choice.index] = ChoiceResult(choice.index, self.output_type)
            delta = choice.delta
            content = delta.content
            if content:
                if type(content) is str:
                    result._parts.append(content)
                else:
                    text = text_of(content)
                    if text:
                        result._parts.append(text)
                    thinking = thinking_of(content)
                    if thinking:
                        result._thinking.append(thinking)
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
