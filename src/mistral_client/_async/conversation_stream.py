"""The stream of a conversation turn: typed events in, the ``ConversationResult`` accumulated.

The lifecycle (send on first use, ``cancel()`` from any thread, the deadline, closing, the
connection given back) is the chat stream's: only the decoder differs (``ConversationDecoder``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from .._http_errors import check_event_stream
from .._pipeline.conversations import ConversationDecoder, ConversationResult
from .._pipeline.lifecycle import State
from .._wire.conversations import ConversationResponse, MessageOutputEvent
from .stream import AsyncChatStream

if TYPE_CHECKING:
    import httpx2

__all__ = ["AsyncConversationStream"]


class AsyncConversationStream(AsyncChatStream):
    """A conversation turn as it streams: iterate it for events, use it in a ``with``.

    ``ConversationStream`` for ``Mistral``.  Each event is a Struct of its type
    (``MessageOutputEvent``, ``FunctionCallEvent``...; ``UnknownEvent`` for a name the client does not
    know); ``.text_stream`` gives the assistant's text only; ``.result`` is what arrived so far.
    """

    _decoder: Any
    _empty: ConversationResult | None = None

    async def __aenter__(self) -> AsyncConversationStream:
        await self._open()
        return self

    def __aiter__(self) -> AsyncIterator[Any]:
        return super().__aiter__()

    async def __anext__(self) -> Any:
        return await super().__anext__()

    @property
    def result(self) -> ConversationResult:  # type: ignore[override]
        """What the stream delivered so far; final once it ended, was cancelled or failed."""
        if self._decoder is not None:
            return self._decoder.result  # type: ignore[no-any-return]
        if self._empty is None:
            self._empty = ConversationResult(keep_events=self._keep_chunks)
        return self._empty

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the assistant's text, as it arrives."""
        return _text_deltas(self)

    async def until_done(self) -> ConversationResult:  # type: ignore[override]
        """Read the stream to its end (if it is still open) and return the result."""
        if self._lifecycle.state is not State.CLOSED:
            async for _ in self:
                pass
        return self.result

    async def get_final_response(self) -> ConversationResponse:
        """Read to the end, then return the answer shaped as ``conversations.start`` returns it."""
        return (await self.until_done()).to_response()

    def _begin(self, response: httpx2.Response, started: float) -> None:
        error = check_event_stream(response)
        if error is not None:
            raise error
        with self._lock:
            self._response = response
            self._decoder = ConversationDecoder(
                started,
                max_event_size=self._max_event_size,
                keep_events=self._keep_chunks,
                request=response.request,
                request_id=response.headers.get("mistral-correlation-id"),
            )
            if not self._lifecycle.answered():
                self._cut()

    def __repr__(self) -> str:
        state = (
            "closed"
            if self._lifecycle.state is State.CLOSED
            else "open"
            if self._response is not None
            else "not started"
        )
        return f"<{type(self).__name__} {state} events={self.result.event_count}>"


async def _text_deltas(stream: AsyncConversationStream) -> AsyncGenerator[str, None]:
    async for event in stream:
        if type(event) is MessageOutputEvent:
            text = event.text
            if text:
                yield text
