"""``client.chat``: complete, stream, and stream-and-collect."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ._config import Timeout, TimeoutLike, resolve_timeout
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
Headers = dict[str, str] | None
# ``on_chunk`` may return False to stop the stream (the result then says ``cancelled``).
OnChunk = Callable[[ChatCompletionChunk], object]
AsyncOnChunk = Callable[[ChatCompletionChunk], "object | Awaitable[object]"]


def check_on_chunk(on_chunk: object) -> None:
    if on_chunk is not None and not callable(on_chunk):
        raise InvalidRequestError(f"on_chunk must be a callable taking a chunk, got {type(on_chunk).__name__}")


def decode_completion(data: bytes, request: Any, output_type: Any = None) -> ChatCompletion:
    try:
        completion = _decode_completion(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise APIError(f"the answer is not a chat completion: {exc}", request=request, body=data[:500]) from None
    if not completion.choices:  # every field has a default, so any JSON object would decode
        shown = data[:200].decode("utf-8", "replace")
        raise APIError(f"the answer is not a chat completion (no choices): {shown}", request=request, body=data[:500])
    if output_type is not None:
        for choice in completion.choices:
            choice.message.__dict__["_output_type"] = output_type  # ``.parsed`` decodes on first use
    return completion


def complete_request(client: Mistral, path: str, body: bytes, timeout: TimeoutLike, extra_headers: Headers) -> Any:
    """Send a non-streaming request; the raw answer and its request."""
    return client._call("POST", path, body=body, timeout=timeout, extra_headers=extra_headers)


async def acomplete_request(
    client: AsyncMistral, path: str, body: bytes, timeout: TimeoutLike, extra_headers: Headers
) -> Any:
    return await client._call("POST", path, body=body, timeout=timeout, extra_headers=extra_headers)


def _sender(client: Mistral | AsyncMistral, path: str, body: bytes, limits: Timeout, headers: Headers) -> Any:
    # The stream calls this when it is first used; for the async client it returns a coroutine.
    def send(started: float) -> Any:
        return client._send(
            "POST", path, body=body, stream=True, timeout=limits, started=started, extra_headers=headers
        )

    return send


def open_stream(
    client: Mistral,
    path: str,
    body: bytes,
    timeout: TimeoutLike,
    extra_headers: Headers,
    keep_chunks: bool = True,
    output_type: Any = None,
) -> ChatStream:
    """A stream of ``path``'s answer; the request is sent when the stream is first used."""
    limits = resolve_timeout(timeout, client.timeout)
    send = _sender(client, path, body, limits, extra_headers)
    return ChatStream(
        send, timeout=limits, max_event_size=client.max_event_size, keep_chunks=keep_chunks, output_type=output_type
    )


def aopen_stream(
    client: AsyncMistral,
    path: str,
    body: bytes,
    timeout: TimeoutLike,
    extra_headers: Headers,
    keep_chunks: bool = True,
    output_type: Any = None,
) -> AsyncChatStream:
    limits = resolve_timeout(timeout, client.timeout)
    send = _sender(client, path, body, limits, extra_headers)
    return AsyncChatStream(
        send, timeout=limits, max_event_size=client.max_event_size, keep_chunks=keep_chunks, output_type=output_type
    )


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
        body, output_type = build_chat_body(request, model, messages, params, stream=False, method="chat.complete")
        data, sent = complete_request(self._client, "/chat/completions", body, timeout, extra_headers)
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
    ) -> ChatStream:
        """Stream a chat answer.  The request is sent when the ``with`` block (or the loop) starts.

        ``keep_chunks=False`` keeps no chunk (``stream.result.chunks`` is ``None``), for long streams relayed elsewhere.
        """
        body, output_type = build_chat_body(request, model, messages, params, stream=True, method="chat.stream")
        return open_stream(self._client, "/chat/completions", body, timeout, extra_headers, keep_chunks, output_type)

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
        check_on_chunk(on_chunk)
        with self.stream(
            request, model=model, messages=messages, timeout=timeout, extra_headers=extra_headers, **params
        ) as stream:
            collect(stream, on_chunk)
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
        body, output_type = build_chat_body(request, model, messages, params, stream=False, method="chat.complete")
        data, sent = await acomplete_request(self._client, "/chat/completions", body, timeout, extra_headers)
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
        """Stream a chat answer: ``async with client.chat.stream(...) as s: async for chunk in s``."""
        body, output_type = build_chat_body(request, model, messages, params, stream=True, method="chat.stream")
        return aopen_stream(self._client, "/chat/completions", body, timeout, extra_headers, keep_chunks, output_type)

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
        check_on_chunk(on_chunk)
        async with self.stream(
            request, model=model, messages=messages, timeout=timeout, extra_headers=extra_headers, **params
        ) as stream:
            await acollect(stream, on_chunk)
        return stream.result


def collect(stream: ChatStream, on_chunk: OnChunk | None) -> None:
    for chunk in stream:
        if on_chunk is not None and on_chunk(chunk) is False:
            stream.cancel()


async def acollect(stream: AsyncChatStream, on_chunk: AsyncOnChunk | None) -> None:
    async for chunk in stream:
        if on_chunk is None:
            continue
        outcome = on_chunk(chunk)
        if isinstance(outcome, Awaitable):
            outcome = await outcome
        if outcome is False:
            stream.cancel()
