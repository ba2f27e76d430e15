"""``client.chat``: complete, stream, and stream-and-collect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec

from ._config import TimeoutLike, resolve_timeout
from ._exceptions import APIError, InvalidRequestError
from ._models import ChatCompletion, ChatCompletionChunk
from ._request import ChatCompletionRequest, build_chat_body
from ._result import StreamResult
from ._streaming import AsyncChatStream, ChatStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._client import AsyncMistral, Mistral
    from ._request import ChatParams

__all__ = ["AsyncChat", "Chat"]

_decode_completion = msgspec.json.Decoder(ChatCompletion).decode
Messages = Sequence[Mapping[str, Any]]
# ``on_chunk`` may return False to stop the stream (the result then says ``cancelled``).
OnChunk = Callable[[ChatCompletionChunk], object]
AsyncOnChunk = Callable[[ChatCompletionChunk], "object | Awaitable[object]"]


def _check_on_chunk(on_chunk: object) -> None:
    if on_chunk is not None and not callable(on_chunk):
        raise InvalidRequestError(f"on_chunk must be a callable taking a chunk, got {type(on_chunk).__name__}")


def _decode(data: bytes, request: Any) -> ChatCompletion:
    try:
        completion = _decode_completion(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise APIError(f"the answer is not a chat completion: {exc}", request=request, body=data[:500]) from None
    if not completion.choices:  # every field has a default, so any JSON object would decode
        shown = data[:200].decode("utf-8", "replace")
        raise APIError(f"the answer is not a chat completion (no choices): {shown}", request=request, body=data[:500])
    return completion


class Chat:
    def __init__(self, client: Mistral) -> None:
        self._client = client

    def complete(
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
        body = build_chat_body(request, model, messages, params, stream=False, method="chat.complete")
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        response = client._send(
            "POST",
            "/chat/completions",
            body=body,
            stream=False,
            timeout=limits,
            started=perf_counter(),
            extra_headers=extra_headers,
        )
        return _decode(client._read(response), response.request)

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
    ) -> ChatStream:
        """Stream a chat answer.  The request is sent when the ``with`` block (or the loop) starts.

        ``keep_chunks=False`` keeps ``stream.result.chunks`` empty, for long streams relayed elsewhere.
        """
        body = build_chat_body(request, model, messages, params, stream=True, method="chat.stream")
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)

        def send(started: float) -> Any:
            return client._send(
                "POST",
                "/chat/completions",
                body=body,
                stream=True,
                timeout=limits,
                started=started,
                extra_headers=extra_headers,
            )

        return ChatStream(send, timeout=limits, max_event_size=client.max_event_size, keep_chunks=keep_chunks)

    def stream_collect(
        self,
        request: ChatCompletionRequest | None = None,
        /,
        *,
        on_chunk: OnChunk | None = None,
        model: str | None = None,
        messages: Messages | None = None,
        timeout: TimeoutLike = None,
        extra_headers: dict[str, str] | None = None,
        **params: Unpack[ChatParams],
    ) -> StreamResult:
        """Stream, call ``on_chunk`` for each chunk, and return the whole result.

        ``on_chunk`` returning ``False`` stops the stream; an exception it raises closes the stream
        and propagates unchanged.
        """
        _check_on_chunk(on_chunk)
        with self.stream(
            request, model=model, messages=messages, timeout=timeout, extra_headers=extra_headers, **params
        ) as stream:
            for chunk in stream:
                if on_chunk is not None and on_chunk(chunk) is False:
                    stream.cancel()
        return stream.result


class AsyncChat:
    def __init__(self, client: AsyncMistral) -> None:
        self._client = client

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
        body = build_chat_body(request, model, messages, params, stream=False, method="chat.complete")
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        response = await client._send(
            "POST",
            "/chat/completions",
            body=body,
            stream=False,
            timeout=limits,
            started=perf_counter(),
            extra_headers=extra_headers,
        )
        return _decode(await client._read(response), response.request)

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
        """Stream a chat answer: ``async with client.chat.stream(...) as s: async for chunk in s``."""
        body = build_chat_body(request, model, messages, params, stream=True, method="chat.stream")
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)

        def send(started: float) -> Any:
            return client._send(
                "POST",
                "/chat/completions",
                body=body,
                stream=True,
                timeout=limits,
                started=started,
                extra_headers=extra_headers,
            )

        return AsyncChatStream(send, timeout=limits, max_event_size=client.max_event_size, keep_chunks=keep_chunks)

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
        """Stream, call ``on_chunk`` (sync or async) for each chunk, and return the whole result."""
        _check_on_chunk(on_chunk)
        async with self.stream(
            request, model=model, messages=messages, timeout=timeout, extra_headers=extra_headers, **params
        ) as stream:
            async for chunk in stream:
                if on_chunk is None:
                    continue
                outcome = on_chunk(chunk)
                if isinstance(outcome, Awaitable):
                    outcome = await outcome
                if outcome is False:
                    stream.cancel()
        return stream.result
