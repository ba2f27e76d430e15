"""``client.conversations``: start, append to and restart conversations (each also as a stream), read
them back (get, list, history, messages), delete them, and ``run``: the tool loop.

The tool loop (``run`` / ``run_stream``) takes Python functions as tools: their JSON schema is read
from their type hints; when the model calls one, the loop runs it, appends its result and lets the
model go on, until the model answers without a call or ``max_rounds`` rounds ran.  A function that
raises does not stop the loop: the error is sent back as the call's result, for the model to read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ..._backends import AsyncBackend
from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError, ToolLoopError
from ..._pipeline.conversations import ConversationResult, RunResult
from ..._telemetry import TelemetrySettings, execute_tool
from ..._wire.conversation_requests import build_conversation_body
from ..._wire.conversations import (
    ConversationHistory,
    ConversationInfo,
    ConversationMessages,
    ConversationResponse,
    FunctionCallEntry,
    FunctionResultEntry,
    decode_history,
    decode_info,
    decode_info_list,
    decode_messages,
    decode_response,
)
from ..conversation_stream import AsyncConversationStream
from ._base import AsyncResource, check_whole_number, decode, path_segment, query_string

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._wire.conversation_requests import AppendParams, ConversationParams, RestartParams, RunParams
    from ..._wire.tool_schema import ToolFunction

__all__ = ["AsyncConversations", "AsyncRunStream"]

Inputs = str | Sequence[Any]
# Called before each function call runs; ``False`` refuses it (the model is told it was refused).
AsyncConfirm = Callable[[FunctionCallEntry], "bool | Awaitable[bool]"]


class AsyncConversations(AsyncResource):
    # -- one turn ------------------------------------------------------------------------------------

    async def start(
        self,
        inputs: Inputs | None = None,
        *,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[ConversationParams],
    ) -> ConversationResponse:
        """Begin a conversation with a ``model`` or an ``agent_id``; ``inputs`` is a string or entries."""
        body = build_conversation_body("start", inputs, params, stream=False, method="conversations.start")
        return await self._turn("/conversations", body, timeout, extra_headers)

    def start_stream(
        self,
        inputs: Inputs | None = None,
        *,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        keep_events: bool = True,
        **params: Unpack[ConversationParams],
    ) -> AsyncConversationStream:
        """``start`` as a stream of events.  The request is sent when the ``with`` block (or the loop) starts."""
        body = build_conversation_body("start", inputs, params, stream=True, method="conversations.start_stream")
        return self._stream("/conversations", body, timeout, extra_headers, keep_events)

    async def append(
        self,
        conversation_id: str,
        inputs: Inputs | None = None,
        *,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[AppendParams],
    ) -> ConversationResponse:
        """Add entries (a user message, function results) to a conversation and run the model on it."""
        path = _conversation_path(conversation_id, "conversations.append")
        body = build_conversation_body("append", inputs, params, stream=False, method="conversations.append")
        return await self._turn(path, body, timeout, extra_headers)

    def append_stream(
        self,
        conversation_id: str,
        inputs: Inputs | None = None,
        *,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        keep_events: bool = True,
        **params: Unpack[AppendParams],
    ) -> AsyncConversationStream:
        path = _conversation_path(conversation_id, "conversations.append_stream")
        body = build_conversation_body("append", inputs, params, stream=True, method="conversations.append_stream")
        return self._stream(path, body, timeout, extra_headers, keep_events)

    async def restart(
        self,
        conversation_id: str,
        inputs: Inputs | None = None,
        *,
        from_entry_id: str,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[RestartParams],
    ) -> ConversationResponse:
        """A new conversation: the history up to ``from_entry_id``, then ``inputs``."""
        method = "conversations.restart"
        path = _conversation_path(conversation_id, method) + "/restart"
        body = build_conversation_body(
            "restart", inputs, params, stream=False, method=method, extra=_from(from_entry_id, method)
        )
        return await self._turn(path, body, timeout, extra_headers)

    def restart_stream(
        self,
        conversation_id: str,
        inputs: Inputs | None = None,
        *,
        from_entry_id: str,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        keep_events: bool = True,
        **params: Unpack[RestartParams],
    ) -> AsyncConversationStream:
        method = "conversations.restart_stream"
        path = _conversation_path(conversation_id, method) + "/restart"
        body = build_conversation_body(
            "restart", inputs, params, stream=True, method=method, extra=_from(from_entry_id, method)
        )
        return self._stream(path, body, timeout, extra_headers, keep_events)

    # -- reading back ----------------------------------------------------------------------------

    async def get(self, conversation_id: str, *, timeout: TimeoutLike = None) -> ConversationInfo:
        """A conversation's attributes: its model or agent, instructions, tools..."""
        data = await self.get_json(
            _conversation_path(conversation_id, "conversations.get"), timeout, operation="get_conversation"
        )
        return decode(decode_info, data, "a conversation")

    async def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
    ) -> list[ConversationInfo]:
        """The conversations, newest first, a page at a time."""
        check_whole_number("conversations.list", "page", page, 0)
        check_whole_number("conversations.list", "page_size", page_size, 1)
        query: dict[str, Any] = {"page": page, "page_size": page_size}
        if metadata is not None:
            query["metadata"] = msgspec.json.encode(metadata).decode()
        path = "/conversations" + query_string(**query)
        return decode(
            decode_info_list,
            await self.get_json(path, timeout, operation="list_conversations"),
            "a list of conversations",
        )

    async def history(self, conversation_id: str, *, timeout: TimeoutLike = None) -> ConversationHistory:
        """Every entry of a conversation, in order: messages, function calls and results, tool runs, handoffs."""
        path = _conversation_path(conversation_id, "conversations.history") + "/history"
        return decode(
            decode_history,
            await self.get_json(path, timeout, operation="get_conversation_history"),
            "a conversation's history",
        )

    async def messages(self, conversation_id: str, *, timeout: TimeoutLike = None) -> ConversationMessages:
        """The messages of a conversation only (the user's and the assistant's)."""
        path = _conversation_path(conversation_id, "conversations.messages") + "/messages"
        return decode(
            decode_messages,
            await self.get_json(path, timeout, operation="get_conversation_messages"),
            "a conversation's messages",
        )

    async def delete(self, conversation_id: str, *, timeout: TimeoutLike = None) -> None:
        await self.call(
            "DELETE",
            _conversation_path(conversation_id, "conversations.delete"),
            None,
            timeout,
            operation="delete_conversation",
        )

    # -- the tool loop ---------------------------------------------------------------------------

    async def run(
        self,
        inputs: Inputs | None = None,
        *,
        tools: Sequence[Any],
        max_rounds: int = 10,
        confirm: AsyncConfirm | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[RunParams],
    ) -> RunResult:
        """Start a conversation and run the functions the model calls until it answers.

        ``tools`` mixes Python functions (run here) with tool dicts and built-in tool names (run by
        the server).  With ``agent_id``, the agent's own tool definitions are used and ``tools``
        gives the functions that run when it calls them by name.  After ``max_rounds`` rounds of
        calls, ``ToolLoopError`` (its ``.partial`` is the ``RunResult`` so far).  ``confirm(call)`` is
        asked before each call; ``False`` refuses it.
        """
        loop = _Loop("conversations.run", tools, max_rounds, confirm, params)
        loop.telemetry = self._client._telemetry
        response = await self.start(
            inputs, timeout=timeout, extra_headers=extra_headers, tools=loop.sent_tools, **params
        )
        while True:
            loop.result.add_turn(response)
            results = await loop.results(response.function_calls)
            if results is None:
                return loop.result
            response = await self.append(
                loop.result.conversation_id, results, timeout=timeout, extra_headers=extra_headers, **loop.append_params
            )

    def run_stream(
        self,
        inputs: Inputs | None = None,
        *,
        tools: Sequence[Any],
        max_rounds: int = 10,
        confirm: AsyncConfirm | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[RunParams],
    ) -> AsyncRunStream:
        """``run`` as one stream of every round's events; ``.result`` is the ``RunResult``."""
        loop = _Loop("conversations.run_stream", tools, max_rounds, confirm, params)
        loop.telemetry = self._client._telemetry
        first = self.start_stream(inputs, timeout=timeout, extra_headers=extra_headers, tools=loop.sent_tools, **params)

        def following(conversation_id: str, results: list[FunctionResultEntry]) -> AsyncConversationStream:
            return self.append_stream(
                conversation_id, results, timeout=timeout, extra_headers=extra_headers, **loop.append_params
            )

        return AsyncRunStream(loop, first, following)

    # -- shared ------------------------------------------------------------------------------------

    async def _turn(
        self, path: str, body: bytes, timeout: TimeoutLike, extra_headers: dict[str, str] | None
    ) -> ConversationResponse:
        data, sent = await self.post_json(path, body, timeout, extra_headers, operation="invoke_agent")
        return decode(decode_response, data, "a conversation response", sent)

    def _stream(
        self, path: str, body: bytes, timeout: TimeoutLike, extra_headers: dict[str, str] | None, keep_events: bool
    ) -> AsyncConversationStream:
        return self.stream_of(
            AsyncConversationStream,
            path,
            body,
            timeout,
            extra_headers,
            operation="invoke_agent",
            keep_events=keep_events,
        )


class _Loop:
    """The tool loop's state, shared by ``run`` and ``run_stream``: the functions and the result so far."""

    telemetry: TelemetrySettings | None = None  # each function run is an ``execute_tool`` span (_telemetry.py)

    def __init__(
        self, method: str, tools: Any, max_rounds: int, confirm: AsyncConfirm | None, params: Mapping[str, Any]
    ) -> None:
        from ..._wire.tool_schema import ToolFunction

        if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
            raise InvalidRequestError(f"{method}(): max_rounds must be a whole number >= 1, got {max_rounds!r}")
        if confirm is not None and not callable(confirm):
            raise InvalidRequestError(f"{method}(): confirm must be a callable taking a function call")
        if params.get("store") is False:
            raise InvalidRequestError(f"{method}(): the tool loop appends to the conversation, which needs store=True")
        if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence) or not tools:
            raise InvalidRequestError(f"{method}(): tools must be a non-empty list of functions or tool dicts")
        if _BLOCKING and confirm is not None and _is_async(confirm):
            raise InvalidRequestError(f"{method}(): confirm is an async function: the loop of Mistral cannot await it")
        self.functions: dict[str, ToolFunction] = {}
        self.tools: list[Any] = []
        for tool in tools:
            if _BLOCKING and _is_async(tool):
                raise InvalidRequestError(
                    f"{method}(): {getattr(tool, '__name__', tool)!r} is an async function: "
                    "the loop of Mistral cannot await it (AsyncMistral's can)"
                )
            if callable(tool) and not isinstance(tool, (str, Mapping)):
                function = ToolFunction(tool)
                self.functions[function.name] = function
                self.tools.append(function.schema)
            else:
                self.tools.append(tool)
        # An agent brings its own tool definitions (the API refuses tools beside agent_id): the
        # functions given are then only what runs when the agent calls them by name.
        self.sent_tools = None if params.get("agent_id") is not None else self.tools
        self.max_rounds = max_rounds
        self.confirm = confirm
        self.method = method
        self.append_params = {
            key: params[key] for key in ("store", "handoff_execution", "completion_args") if params.get(key) is not None
        }
        self.result = RunResult()

    async def results(self, calls: list[FunctionCallEntry]) -> list[FunctionResultEntry] | None:
        """The results to send back for ``calls``; ``None`` when the model asked for none (the end)."""
        if not any(call.name in self.functions for call in calls):
            # No call, or only calls to functions the loop was not given: those are the caller's to run.
            return None
        if self.result.rounds >= self.max_rounds:
            raise ToolLoopError(
                f"{self.method}(): the model still calls functions after max_rounds={self.max_rounds} rounds "
                f"({', '.join(call.name for call in calls)}); see .partial",
                partial=self.result,
            )
        results = [FunctionResultEntry(tool_call_id=call.tool_call_id, result=await self._run(call)) for call in calls]
        self.result.add_results(results)
        return results

    async def _run(self, call: FunctionCallEntry) -> str:
        function = self.functions.get(call.name)
        if function is None:
            return f"error: there is no function named {call.name!r}"
        if self.confirm is not None and not await AsyncBackend.awaited(self.confirm(call)):
            return "error: the user did not allow this call"
        try:
            positional, keywords = function.decode(call.parsed_arguments())
            with execute_tool(self.telemetry, call.name, call.tool_call_id, call.arguments) as tool:
                value = await AsyncBackend.awaited(function.function(*positional, **keywords))
                tool.returned(value)
        except Exception as exc:  # the model reads the error and may retry: it is not the caller's to handle
            return f"error: {type(exc).__name__}: {exc}"
        return tool_output(value)


# True in the generated blocking client (unasync renames the class): its loop cannot await.
_BLOCKING = AsyncBackend.__name__ == "SyncBackend"


def _is_async(function: Any) -> bool:
    import inspect

    return inspect.iscoroutinefunction(function)


def tool_output(value: Any) -> str:
    """A function's return value as the text the model reads: a string as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


class AsyncRunStream:
    """The tool loop as one stream: every round's events, in order; the functions run between rounds.

    ``RunStream`` for ``Mistral``.  ``.result`` is the ``RunResult``; ``.text_stream`` the
    assistant's text of every round; ``cancel()`` stops the loop (the round being streamed at once),
    from any thread.  An error of a round's stream is raised as it is, its ``.partial`` that round's.
    """

    def __init__(
        self,
        loop: _Loop,
        first: AsyncConversationStream,
        following: Callable[[str, list[FunctionResultEntry]], AsyncConversationStream],
    ) -> None:
        self._loop = loop
        self._following = following
        self.stream = first  # the round being streamed
        self._cancelled = False
        self._iterator: AsyncGenerator[Any, None] | None = None

    @property
    def result(self) -> RunResult:
        """What the loop did so far: the finished rounds' outputs and the results sent back."""
        return self._loop.result

    @property
    def current(self) -> ConversationResult:
        """What the round being streamed delivered so far."""
        return self.stream.result

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the loop now: no function runs after this, no round is sent."""
        self._cancelled = True
        self.stream.cancel()

    async def __aenter__(self) -> AsyncRunStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the loop (if it is still running) and release the round's connection."""
        if self._iterator is not None:
            await self._iterator.aclose()
        await self.stream.aclose()

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def __anext__(self) -> Any:
        return await self.__aiter__().__anext__()

    async def _events(self) -> AsyncGenerator[Any, None]:
        loop = self._loop
        while True:
            stream = self.stream
            async with stream:
                async for event in stream:
                    yield event
                    if self._cancelled:
                        break
            if self._cancelled or stream.cancelled:
                return
            turn = stream.result
            loop.result.add_turn(turn)
            results = await loop.results(turn.function_calls)
            if results is None or self._cancelled:
                return
            self.stream = self._following(loop.result.conversation_id, results)
            if self._cancelled:  # a cancel() that came while the functions ran: the next round is not sent
                self.stream.cancel()

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the assistant's text, of every round, as it arrives."""
        return _run_text(self)

    async def until_done(self) -> RunResult:
        """Run the loop to its end (if it is still running) and return its result."""
        async for _ in self:
            pass
        return self.result


async def _run_text(stream: AsyncRunStream) -> AsyncIterator[str]:
    from ..._wire.conversations import MessageOutputEvent

    async for event in stream:
        if type(event) is MessageOutputEvent:
            text = event.text
            if text:
                yield text


def _conversation_path(conversation_id: object, method: str) -> str:
    return f"/conversations/{path_segment(conversation_id, 'conversation_id', method)}"


def _from(from_entry_id: object, method: str) -> dict[str, Any]:
    if not isinstance(from_entry_id, str) or not from_entry_id.strip():
        raise InvalidRequestError(
            f"{method}(): from_entry_id must be the id of an entry of the conversation, got {from_entry_id!r}"
        )
    return {"from_entry_id": from_entry_id}
