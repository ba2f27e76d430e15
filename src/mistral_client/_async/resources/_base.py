"""``AsyncResource``: what every endpoint family shares, so that one is a small class on it.

``post_json``, ``get_json`` and ``call`` send a request without a stream and read its whole answer
within the total deadline (no endpoint can read a body unbounded); a body is JSON bytes or a
``Multipart`` form whose files are streamed (``_uploads.py``).  ``open_stream`` makes a chat stream,
``stream_of`` any other stream (``AsyncEventStream``), whose request is sent when it is first used;
``collect`` reads a stream for ``stream_collect``; ``decode`` turns an answer into its type or a
clear ``APIError``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

import httpx2
import msgspec

from ..._backends import AsyncBackend
from ..._config import Timeout, TimeoutLike, resolve_timeout
from ..._exceptions import APIError, InvalidRequestError
from ..._telemetry import begin
from ..._uploads import Multipart
from ..._wire.answers import ChatCompletion, ChatCompletionChunk
from ..stream import AsyncChatStream, AsyncEventStream

if TYPE_CHECKING:
    from ..client import AsyncMistral

__all__ = [
    "AsyncOnChunk",
    "AsyncResource",
    "Body",
    "Headers",
    "check_on_chunk",
    "check_whole_number",
    "collect",
    "decode",
    "decode_completion",
    "path_segment",
    "query_string",
]

T = TypeVar("T")
S = TypeVar("S", bound=AsyncEventStream[Any, Any])
Body = bytes | Multipart | None
Headers = dict[str, str] | None
# ``on_chunk`` may return False to stop the stream (the result then says ``cancelled``); the async
# client also awaits it when it returns an awaitable.
AsyncOnChunk = Callable[[ChatCompletionChunk], "object | Awaitable[object]"]

_decode_completion = msgspec.json.Decoder(ChatCompletion).decode


class AsyncResource:
    """An endpoint family (``client.chat``, ``client.models``...): sends through its client."""

    def __init__(self, client: AsyncMistral) -> None:
        self._client = client

    # ``operation=`` names a call for OpenTelemetry (``gen_ai.operation.name``, the span ``{operation} {model}``;
    # without it the call is not traced); ``model=`` where a JSON body has no ``model`` field to read it from.

    async def post_json(
        self,
        path: str,
        body: bytes | Multipart,
        timeout: TimeoutLike,
        extra_headers: Headers = None,
        *,
        operation: str | None = None,
        model: str | None = None,
    ) -> tuple[bytes, httpx2.Request]:
        """POST ``body`` and read the whole answer within the total deadline: the raw answer and its request."""
        return await self._call("POST", path, body, timeout, extra_headers, operation, model)

    async def call(
        self,
        method: str,
        path: str,
        body: Body = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        *,
        operation: str | None = None,
        model: str | None = None,
    ) -> tuple[bytes, httpx2.Request]:
        """Any method (``DELETE``, ``PATCH``...): the whole answer, read within the total deadline, and its request."""
        return await self._call(method, path, body, timeout, extra_headers, operation, model)

    async def get_json(
        self, path: str, timeout: TimeoutLike, *, operation: str | None = None, model: str | None = None
    ) -> bytes:
        """GET ``path`` and read the whole answer within the total deadline."""
        data, _ = await self._call("GET", path, None, timeout, None, operation, model)
        return data

    def open_stream(
        self,
        path: str,
        body: bytes,
        timeout: TimeoutLike,
        extra_headers: Headers,
        keep_chunks: bool = True,
        output_type: Any = None,
        *,
        operation: str | None = None,
        model: str | None = None,
    ) -> AsyncChatStream:
        """A chat stream of ``path``'s answer; the request is sent when the stream is first used."""
        return self.stream_of(
            AsyncChatStream,
            path,
            body,
            timeout,
            extra_headers,
            operation=operation,
            model=model,
            keep_chunks=keep_chunks,
            output_type=output_type,
        )

    def stream_of(
        self,
        kind: Callable[..., S],
        path: str,
        body: bytes | Multipart,
        timeout: TimeoutLike,
        extra_headers: Headers,
        *,
        operation: str | None = None,
        model: str | None = None,
        **options: Any,
    ) -> S:
        """A ``kind`` stream (an ``AsyncEventStream`` class) of ``path``'s answer, sent when first used;
        ``options`` go to its constructor (``keep_events=False``...)."""
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)

        async def send(started: float) -> Any:
            # The span starts with the request and is the caller's current context until the stream ends.
            call = stream._telemetry = begin(client._telemetry, operation, body, model, stream=True)
            if call is not None:
                call.enter()
            try:
                return await client._send(
                    "POST",
                    path,
                    body=body,
                    stream=True,
                    timeout=limits,
                    started=started,
                    extra_headers=extra_headers,
                    call=call,
                )
            except BaseException as exc:
                if call is not None:
                    call.failed(exc)
                raise

        stream = kind(send, timeout=limits, max_event_size=client.max_event_size, **options)
        return stream

    async def _call(
        self,
        method: str,
        path: str,
        body: Body,
        timeout: TimeoutLike,
        extra_headers: Headers,
        operation: str | None = None,
        model: str | None = None,
    ) -> tuple[bytes, httpx2.Request]:
        client = self._client
        limits: Timeout = resolve_timeout(timeout, client.timeout)
        started = perf_counter()
        call = begin(client._telemetry, operation, body, model)  # None unless an OpenTelemetry SDK records
        try:
            response = await client._send(
                method,
                path,
                body=body,
                stream=False,
                timeout=limits,
                started=started,
                extra_headers=extra_headers,
                call=call,
            )
            data = await client._read(response, limits, client._deadline(limits, started))
        except BaseException as exc:
            if call is not None:
                call.failed(exc)
            raise
        if call is not None:
            call.answered(data)
        return data, response.request


def query_string(**values: Any) -> str:
    """``?name=value&...`` of the values that are not ``None`` (booleans as ``true``/``false``), or ``""``."""
    pairs = [(name, str(value).lower() if isinstance(value, bool) else value) for name, value in values.items()]
    present = [(name, value) for name, value in pairs if value is not None]
    return "?" + urlencode(present) if present else ""


def check_whole_number(method: str, name: str, value: object, least: int, most: int | None = None) -> None:
    """``value`` is ``None`` or a whole number (not a bool) from ``least`` (to ``most``); else an
    ``InvalidRequestError`` naming it, before anything is sent."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least or (most is not None and value > most):
        bounds = f">= {least}" if most is None else f"from {least} to {most}"
        raise InvalidRequestError(f"{method}(): {name} must be a whole number {bounds}, got {value!r}")


def path_segment(
    value: object, what: str, method: str, *, expected: str = "a non-empty string", safe: str = ":"
) -> str:
    """An id escaped into one segment of a path ('a/b' names no other route; a fine-tuned id keeps its
    colons unless ``safe`` says otherwise), or an ``InvalidRequestError`` naming it before anything is sent."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{method}(): {what} must be {expected}, got {value!r}")
    try:
        return quote(value, safe=safe)
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"{method}(): {what} has a character with no UTF-8 form (a lone surrogate); nothing was sent"
        ) from None


def check_on_chunk(on_chunk: object) -> None:
    if on_chunk is not None and not callable(on_chunk):
        raise InvalidRequestError(f"on_chunk must be a callable taking a chunk, got {type(on_chunk).__name__}")


async def collect(stream: AsyncChatStream, on_chunk: AsyncOnChunk | None) -> None:
    """Read ``stream`` to its end, calling ``on_chunk`` on each chunk; its ``False`` cancels the stream."""
    async for chunk in stream:
        if on_chunk is None:
            continue
        if await AsyncBackend.awaited(on_chunk(chunk)) is False:
            stream.cancel()


def decode(decoder: Callable[[bytes], T], data: bytes, what: str, request: Any = None) -> T:
    """``decoder(data)``, or an ``APIError`` saying the answer is not ``what``."""
    try:
        return decoder(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise APIError(f"the answer is not {what}: {exc}", request=request, body=data[:500]) from None


def decode_completion(data: bytes, request: Any, output_type: Any = None) -> ChatCompletion:
    completion = decode(_decode_completion, data, "a chat completion", request)
    if not completion.choices:  # every field has a default, so any JSON object would decode
        shown = data[:200].decode("utf-8", "replace")
        raise APIError(f"the answer is not a chat completion (no choices): {shown}", request=request, body=data[:500])
    if output_type is not None:
        for choice in completion.choices:
            choice.message.__dict__["_output_type"] = output_type  # ``.parsed`` decodes on first use
    return completion
