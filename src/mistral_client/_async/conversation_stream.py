"""The stream of a conversation turn: typed events in, the ``ConversationResult`` accumulated.

Everything but the table of events and the result is the named-event stream's (``stream.py``):
sending on first use, ``cancel()`` from any thread, the deadline, closing, and the partial result
on every error.
"""

from __future__ import annotations

from typing import Any

from .._pipeline.conversations import CONVERSATION_EVENTS, ConversationResult
from .._wire.conversations import ConversationResponse, MessageOutputEvent
from .stream import AsyncNamedEventStream

__all__ = ["AsyncConversationStream"]


class AsyncConversationStream(AsyncNamedEventStream[Any, ConversationResult]):
    """A conversation turn as it streams: iterate it for events, use it in a ``with``.

    ``ConversationStream`` for ``Mistral``.  Each event is a Struct of its type
    (``MessageOutputEvent``, ``FunctionCallEvent``...; ``UnknownEvent`` for a type the client does not
    know); ``.text_stream`` gives the assistant's text only; ``.result`` is what arrived so far.
    """

    kinds = CONVERSATION_EVENTS
    result_type = ConversationResult
    _again = "start a new turn (conversations.append_stream...)"

    def _text_of(self, item: Any) -> str:
        return item.text if type(item) is MessageOutputEvent else ""

    async def get_final_response(self) -> ConversationResponse:
        """Read to the end, then return the answer shaped as ``conversations.start`` returns it."""
        return (await self.until_done()).to_response()
