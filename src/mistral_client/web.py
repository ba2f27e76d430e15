"""Relay a chat stream to a browser: server-sent events (or plain text) from a Starlette/FastAPI route.

    from mistral_client.web import EventStreamResponse

    @app.get("/chat")
    async def chat(q: str) -> EventStreamResponse:
        return EventStreamResponse(client.chat.stream(model=Models.SMALL, messages=[user(q)]))

The response owns the stream: it opens it, relays it and closes it, however the response ends.
When the browser goes away the upstream connection is cut at once (the API stops generating tokens
nobody reads): the response listens on the ASGI receive channel for ``http.disconnect`` rather than
waiting for a write to fail, which would not come while the model is silent.

What the browser reads::

    data: {"content":"Hel"}                         one event per chunk that carries something
    data: {"content":"lo","finish_reason":"stop","usage":{...}}
    data: [DONE]

or, when the upstream fails (before or mid-stream)::

    event: error
    data: {"message":"...","error":"RateLimitError","status":429,"partial":{"content":"Hel",...}}

and ``: keep-alive`` comments while the model is silent, so proxies keep the connection open.
Every event is JSON: a newline inside a token cannot break the framing.  The event stream answers
200 at once, even when the upstream then refuses: ``EventSource`` cannot read the body of any other
status, and the keep-alives must flow while the model thinks.  ``TextStreamResponse`` instead holds
its status until the first text, so a failure before it gets a real status and a JSON error.

An upstream failure logs one line (status, type, request id); only a bug in the relay logs its traceback.

Needs the ``web`` extra (starlette); ``import mistral_client`` never imports this module.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from contextlib import aclosing
from typing import Any

import msgspec

try:
    import anyio
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
    from starlette.background import BackgroundTask
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send
except ModuleNotFoundError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ModuleNotFoundError(
        f"mistral_client.web needs the 'web' extra ({exc.name} is not installed): pip install 'mistral-client[web]'",
        name=exc.name,
    ) from None

from ._async.stream import AsyncChatStream
from ._exceptions import APIError, APIStatusError, APITimeoutError, MistralError, RateLimitError, StreamError
from ._pipeline.accumulating import StreamResult
from ._sync.stream import ChatStream
from ._wire.answers import ChatCompletionChunk, choice_zero

__all__ = ["EventStreamResponse", "TextStreamResponse", "chunk_event", "error_event"]

logger = logging.getLogger("mistral_client.web")

EventFunction = Callable[[ChatCompletionChunk], Any]
AnyChatStream = ChatStream | AsyncChatStream

SSE_HEADERS = {
    # A proxy or a browser that caches or buffers an event stream breaks it.
    "cache-control": "no-cache",
    "x-accel-buffering": "no",  # nginx buffers proxied responses unless told not to
}
_KEEPALIVE = b": keep-alive\n\n"
_DONE = b"data: [DONE]\n\n"
# Frames waiting between the upstream reader and the socket: enough to batch a fast stream into
# few writes, few enough that a slow browser holds the upstream back.
_BUFFERED_FRAMES = 64
# Once the client left, how long the upstream may take to notice its cut socket before it is cancelled.
_STOP_GRACE = 2.0
_encode = msgspec.json.Encoder().encode


def chunk_event(chunk: ChatCompletionChunk) -> dict[str, Any] | None:
    """The default event of a chunk: its text, tool calls, finish reason and usage; ``None`` skips it.

    Only choice 0 (the choice whose index is 0) is relayed (``n > 1`` is rare in a chat page); pass
    ``event=`` to send more.
    """
    event: dict[str, Any] = {}
    content = chunk.content
    if content:
        event["content"] = content
    choice = choice_zero(chunk.choices)
    if choice is not None and choice.delta.tool_calls:
        event["tool_calls"] = msgspec.to_builtins(choice.delta.tool_calls)
    if chunk.finish_reason is not None:
        event["finish_reason"] = chunk.finish_reason
    if chunk.usage is not None:
        event["usage"] = {name: value for name, value in msgspec.to_builtins(chunk.usage).items() if value is not None}
    return event or None


def error_event(exc: MistralError, delivered: StreamResult) -> dict[str, Any]:
    """The body of an ``error`` event: what went wrong, and what the browser had already been sent."""
    event = _error_fields(exc)
    event["partial"] = {
        "content": delivered.content,
        "finish_reason": delivered.finish_reason,
        "chunk_count": delivered.chunk_count,
    }
    return event


def _error_fields(exc: BaseException) -> dict[str, Any]:
    """What a browser may learn of a failure: the upstream's error as it was, a bug only by its name."""
    if not isinstance(exc, MistralError):
        return {"message": f"the relay failed ({type(exc).__name__})", "error": "RelayError"}
    fields: dict[str, Any] = {"message": str(exc), "error": type(exc).__name__}
    if isinstance(exc, APIStatusError):
        fields["status"] = exc.status_code
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        fields["retry_after"] = exc.retry_after  # the chat page counts it down before retrying
    if isinstance(exc, (APIStatusError, StreamError)):
        if exc.type:
            fields["type"] = exc.type
        if exc.code:
            fields["code"] = exc.code
        if exc.request_id:
            fields["request_id"] = exc.request_id
    return fields


def _failure_status(exc: BaseException) -> int:
    """The status that stands for a failure before anything was relayed."""
    if isinstance(exc, APIStatusError):
        return exc.status_code  # the upstream's own refusal (429, 400, 503...) is the caller's answer too
    if isinstance(exc, APITimeoutError):
        return 504  # also a first token that never came (StreamTimeoutError)
    if isinstance(exc, APIError):
        return 502  # no answer, or one that broke before its first token
    return 500


def _log_failure(exc: BaseException, outcome: str) -> None:
    """One line per upstream failure: they are the upstream's news, not the relay's bug."""
    if not isinstance(exc, MistralError):
        # A bug in the relay (an event function, a generator): its traceback is what fixes it.
        logger.error("relaying a chat stream failed (%s)", outcome, exc_info=exc)
        return
    fields = _error_fields(exc)
    logger.warning(
        "upstream failed (%s): %s status=%s type=%s request_id=%s",
        outcome,
        fields["error"],
        fields.get("status", "-"),
        fields.get("type", "-"),
        fields.get("request_id", "-"),
    )


def _frame(data: object, event: str | None = None) -> bytes:
    head = b"event: %s\n" % event.encode() if event else b""
    return head + b"data: " + _encode(data) + b"\n\n"


class _RelayResponse(Response):
    """Streams frames from a producer task while a watcher listens for the client leaving.

    ``background`` runs once the response is over, however it ended (done, failed, client gone),
    so it can release what the stream needed (a per-request client, say).

    With ``hold_status`` the status line waits for the first frame, so a producer that fails before
    it can still answer with a status of its own (``_refuse``) instead of a 200 it cannot take back.
    """

    hold_status = False

    def __init__(
        self,
        *,
        media_type: str,
        status_code: int,
        headers: Mapping[str, str] | None,
        background: BackgroundTask | None,
        keepalive: float | None,
    ) -> None:
        self.status_code = status_code
        self.media_type = media_type
        self.background = background
        self.init_headers(headers)
        self._interval = math.inf if keepalive is None else keepalive
        self._finishing = False  # the last write is under way: a disconnect now is the normal end
        self._cut = False  # set by a producer that failed in a way only a cut body can tell
        self._refusal: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
        self._producer_scope: anyio.CancelScope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Shielded: when the client leaves, the producer is not cancelled but ends by itself once
        # its upstream socket is cut, so the upstream's own cleanup runs undisturbed.
        self._producer_scope = anyio.CancelScope(shield=True)
        sink, source = anyio.create_memory_object_stream[bytes](_BUFFERED_FRAMES)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._run_producer, sink)
                with anyio.CancelScope() as delivery:
                    group.start_soon(self._watch, receive, delivery)
                    try:
                        await self._deliver(send, source)
                    except OSError:
                        self._client_left()  # a server that reports the disconnect when a write fails
                    finally:
                        source.close()  # a producer blocked on a full buffer stops at once
                group.cancel_scope.cancel()  # only the watcher is still waiting
        finally:
            with anyio.CancelScope(shield=True):
                await self._close()
                if self.background is not None:
                    await self.background()

    async def _deliver(self, send: Send, source: MemoryObjectReceiveStream[bytes]) -> None:
        start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        started = not self.hold_status
        if started:
            await send(start)
        while True:
            frame = _KEEPALIVE
            with anyio.move_on_after(self._interval):
                try:
                    frame = await source.receive()
                except anyio.EndOfStream:
                    break
            frames = [frame]
            while len(frames) < _BUFFERED_FRAMES:  # whatever else is ready goes out in the same write
                try:
                    frames.append(source.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            if not started:
                await send(start)
                started = True
            await send({"type": "http.response.body", "body": b"".join(frames), "more_body": True})
        if not started and self._refusal is not None:
            status, headers, body = self._refusal
            self._finishing = True
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if not started:
            await send(start)  # an answer with no text: an empty body, but a whole one
        if self._cut:
            # No end of body: the server closes the connection on an app that returns without one
            # (uvicorn logs a line, without the traceback that raising would print on every failure).
            return
        self._finishing = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Receive, delivery: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
        if not self._finishing:
            self._client_left()
            delivery.cancel()

    def _client_left(self) -> None:
        producer = self._producer_scope
        assert producer is not None
        if self._stop_upstream():
            # Cut: the reader wakes at once. The grace only bounds an upstream that ignores its cut socket.
            producer.deadline = min(producer.deadline, anyio.current_time() + _STOP_GRACE)
        else:
            producer.cancel()

    async def _run_producer(self, sink: MemoryObjectSendStream[bytes]) -> None:
        assert self._producer_scope is not None
        with self._producer_scope, sink:
            try:
                await self._produce(sink)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the client left; nobody reads these frames

    async def _produce(self, sink: MemoryObjectSendStream[bytes]) -> None:
        raise NotImplementedError

    def _refuse(self, exc: BaseException) -> int:
        """Answer ``exc`` with a status and a JSON error; for a failure before the first frame."""
        # The response's own headers (the caller's among them) still hold; only the body changed.
        headers = [(k, v) for k, v in self.raw_headers if k not in (b"content-type", b"content-length")]
        headers.append((b"content-type", b"application/json"))
        if isinstance(exc, APIStatusError) and "retry-after" in exc.response.headers:
            headers.append((b"retry-after", exc.response.headers["retry-after"].encode("latin-1")))
        body = _encode(_error_fields(exc))
        headers.append((b"content-length", str(len(body)).encode()))
        self._refusal = (_failure_status(exc), headers, body)
        return self._refusal[0]

    def _stop_upstream(self) -> bool:
        """Cut the upstream now, from the event loop without blocking; false if only cancelling can."""
        return False

    async def _close(self) -> None:
        """Release the upstream; runs shielded after the response, however it ended."""


class EventStreamResponse(_RelayResponse):
    """A chat stream as ``text/event-stream``: JSON events, ``data: [DONE]``, an ``error`` event on failure.

    ``stream`` is a ``ChatStream`` or ``AsyncChatStream`` not yet read (``client.chat.stream(...)``
    without ``with``); the response opens and closes it.  ``event`` turns a chunk into the JSON of
    its event (``None`` skips the chunk); ``keepalive`` is the silence, in seconds, after which a
    comment is sent (``None``: never).
    """

    def __init__(
        self,
        stream: AnyChatStream,
        *,
        event: EventFunction = chunk_event,
        keepalive: float | None = 15.0,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        _check_stream(stream)
        if keepalive is not None and not (isinstance(keepalive, (int, float)) and keepalive > 0):
            raise ValueError(f"keepalive must be a number of seconds > 0 or None, got {keepalive!r}")
        if not callable(event):
            raise TypeError(f"event must be a callable taking a chunk, got {type(event).__name__}")
        super().__init__(
            media_type="text/event-stream",
            status_code=status_code,
            headers={**SSE_HEADERS, **(headers or {})},
            background=background,
            keepalive=keepalive,
        )
        self.stream = stream
        self._event = event

    async def _produce(self, sink: MemoryObjectSendStream[bytes]) -> None:
        stream, make_event = self.stream, self._event
        try:
            async with aclosing(_chunks(stream)) as chunks:
                async for chunk in chunks:
                    data = make_event(chunk)
                    if data is not None:
                        await sink.send(_frame(data))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise
        except MistralError as exc:
            if not stream.cancelled:
                _log_failure(exc, "error event sent")
                await sink.send(_frame(error_event(exc, stream.result), "error"))
            return
        except Exception as exc:
            # A bug (in ``event``, say): the browser learns that the answer broke, the log learns why.
            _log_failure(exc, "error event sent")
            await sink.send(_frame(_error_fields(exc), "error"))
            return
        if not stream.cancelled:
            await sink.send(_DONE)

    def _stop_upstream(self) -> bool:
        self.stream.cancel()
        # Before the answer's headers there is no socket to cut; an async request can be cancelled.
        return self.stream.response is not None or isinstance(self.stream, ChatStream)

    async def _close(self) -> None:
        await _close_stream(self.stream)


class TextStreamResponse(_RelayResponse):
    """The text of a chat stream as ``text/plain``, for clients that want no framing at all.

    ``source`` is a ``ChatStream``/``AsyncChatStream`` not yet read, or any async iterable of text
    (an ``async def`` generator that streams from the client, say).

    The status waits for the first piece of text.  A failure before it is answered with a status
    and a JSON error (``{"message", "error", "status", "type", "code", "request_id"}``): the
    upstream's own status when it refused (with its ``Retry-After``), 504 when it timed out, 502
    when it could not be reached or broke, 500 for a bug in the relay.  Plain text cannot carry an
    error once it has begun, so a failure after the first byte cuts the body without its end: the
    client sees a broken body rather than a shorter answer it could take for the whole one.
    """

    hold_status = True

    def __init__(
        self,
        source: AnyChatStream | AsyncIterable[str],
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        if isinstance(source, (ChatStream, AsyncChatStream)):
            _check_stream(source)
        elif not isinstance(source, AsyncIterable):
            raise TypeError(f"source must be a chat stream or an async iterable of str, got {type(source).__name__}")
        super().__init__(
            media_type="text/plain",
            status_code=status_code,
            headers={**SSE_HEADERS, **(headers or {})},
            background=background,
            keepalive=None,
        )
        self.source = source

    async def _produce(self, sink: MemoryObjectSendStream[bytes]) -> None:
        source = self.source
        texts = _chunk_texts(source) if isinstance(source, (ChatStream, AsyncChatStream)) else source
        sent = False
        try:
            async for text in texts:
                if not isinstance(text, str):
                    raise TypeError(f"a text source must yield str, got {type(text).__name__}")
                if text:
                    await sink.send(text.encode())
                    sent = True
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise
        except Exception as exc:
            if isinstance(source, (ChatStream, AsyncChatStream)) and source.cancelled:
                return
            if sent:
                _log_failure(exc, "body cut")
                self._cut = True
            else:
                _log_failure(exc, f"answered {self._refuse(exc)}")
        finally:
            if isinstance(texts, AsyncGenerator):
                await texts.aclose()

    def _stop_upstream(self) -> bool:
        source = self.source
        if isinstance(source, (ChatStream, AsyncChatStream)):
            source.cancel()
            return source.response is not None or isinstance(source, ChatStream)
        return False  # an opaque generator: cancelling it is the only way in

    async def _close(self) -> None:
        source = self.source
        if isinstance(source, (ChatStream, AsyncChatStream)):
            await _close_stream(source)
        elif isinstance(source, AsyncGenerator):
            await source.aclose()


async def _chunks(stream: AnyChatStream) -> AsyncGenerator[ChatCompletionChunk, None]:
    if isinstance(stream, AsyncChatStream):
        async for chunk in stream:
            yield chunk
        return
    # A sync stream is read in a worker thread; cancel() from the loop wakes a blocked read there.
    chunks = iter(stream)

    def read() -> ChatCompletionChunk | None:
        return next(chunks, None)

    while True:
        item = await anyio.to_thread.run_sync(read)
        if item is None:
            return
        yield item


async def _chunk_texts(stream: AnyChatStream) -> AsyncGenerator[str, None]:
    async with aclosing(_chunks(stream)) as chunks:
        async for chunk in chunks:
            if chunk.content:
                yield chunk.content


async def _close_stream(stream: AnyChatStream) -> None:
    if isinstance(stream, AsyncChatStream):
        await stream.aclose()
    else:
        await anyio.to_thread.run_sync(stream.close)


def _check_stream(stream: object) -> None:
    if not isinstance(stream, (ChatStream, AsyncChatStream)):
        raise TypeError(
            f"stream must be a ChatStream or AsyncChatStream (client.chat.stream(...)), got {type(stream).__name__}"
        )
    stream.check_not_consumed()  # a closed stream fails here, before any response is sent
