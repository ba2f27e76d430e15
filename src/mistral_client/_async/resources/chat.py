"""``client.chat``: complete, stream, and stream-and-collect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..._config import TimeoutLike
from ..._pipeline.accumulating import StreamResult
from ..._wire.answers import ChatCompletion
from ..._wire.requests import ChatCompletionRequest, build_chat_body
from ..stream import AsyncChatStream
from ._base import AsyncOnChunk, AsyncResource, check_on_chunk, collect, decode_completion

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..._wire.requests import ChatParams

__all__ = ["AsyncChat"]

_PATH = "/chat/completions"
Messages = Sequence[Mapping[str, Any]]


class AsyncChat(AsyncResource):
    async def complete(
        self,
        request: ChatCompletionRequest | None = None,
        /,
        *,
        model: str | None = None,
        messages: Messages | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[ChatParams],
    ) -> ChatCompletion:
        """Send a chat request and wait for the whole answer."""
        body, output_type = build_chat_body(request, model, messages, params, stream=False, method="chat.complete")
        data, sent = await self.post_json(_PATH, body, timeout, extra_headers, operation="chat")
        return decode_completion(data, sent, output_type)

    def stream(
        self,
        request: ChatCompletionRequest | None = None,
        /,
        *,
        model: str | None = None,
        messages: Messages | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        keep_chunks: bool = True,
        **params: Unpack[ChatParams],
    ) -> AsyncChatStream:
        """Stream a chat answer.  The request is sent when the ``with`` block (or the loop) starts.

        ``keep_chunks=False`` keeps no chunk (``stream.result.chunks`` is ``None``), for long streams relayed elsewhere.
        """
        body, output_type = build_chat_body(request, model, messages, params, stream=True, method="chat.stream")
        return self.open_stream(_PATH, body, timeout, extra_headers, keep_chunks, output_type, operation="chat")

    async def stream_collect(
        self,
        request: ChatCompletionRequest | None = None,
        /,
        *,
        on_chunk: AsyncOnChunk | None = None,
        model: str | None = None,
        messages: Messages | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[ChatParams],
    ) -> StreamResult:
        """Stream, call ``on_chunk`` for each chunk, and return the whole result.

        ``on_chunk`` returning ``False`` stops the stream; an exception it raises closes the stream
        and propagates unchanged.  The async client also awaits an ``on_chunk`` that is a coroutine function.
        """
        check_on_chunk(on_chunk)
        async with self.stream(
            request, model=model, messages=messages, timeout=timeout, extra_headers=extra_headers, **params
        ) as stream:
            await collect(stream, on_chunk)
        return stream.result
