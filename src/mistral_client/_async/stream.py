"""Stage 4 of the stream pipeline: the stream a caller iterates (``scripts/unasync.py`` makes the sync one).

``AsyncEventStream`` is every stream's lifecycle, written once: sending on first use, reading,
``cancel()`` from any thread, the total deadline, the end, and the errors that carry the partial
result.  It only moves bytes from the HTTP response into a decoder (``_pipeline``) and hands back
what it decodes; decoding, timing and accumulation live there.  ``AsyncChatStream`` is the chat
answer's (``ChunkDecoder``); ``AsyncNamedEventStream`` is the base of the streams whose events are
named (conversations, audio), each a table of event types and a result (``_pipeline/events.py``).

Cancellation closes the socket itself (``shutdown``), not just our side of the pool: a read blocked in
another thread wakes at once, and the server sees the disconnect and stops generating tokens.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx2

from .._backends import DRAIN_BYTES, AsyncBackend, Timer
from .._config import Timeout
from .._exceptions import StreamError
from .._http_errors import check_event_stream
from .._pipeline.accumulating import StreamResult
from .._pipeline.coalescing import Coalescer
from .._pipeline.decoding import ChunkDecoder, StreamDecoder
from .._pipeline.events import EventDecoder, EventKinds, EventResult
from .._pipeline.lifecycle import Lifecycle, State, StreamConsumedError
from .._transport.sockets import cut_socket
from .._wire.answers import ChatCompletion, ChatCompletionChunk
from .._wire.events import StreamEvent

if TYPE_CHECKING:
    from typing_extensions import Self

    from .._pipeline.partial_json import PartialJSON

__all__ = ["AsyncChatStream", "AsyncEventStream", "AsyncNamedEventStream"]

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=StreamEvent)
RE = TypeVar("RE", bound=EventResult)


class AsyncEventStream(Generic[T, R]):
    """A streamed answer: iterate it for its items, use it in a ``with``; ``.result`` is what arrived.

    A subclass says how to decode (``_new_decoder``), what an empty result is (``_new_result``) and
    which text an item carries (``_text_of``).
    """

    _unit: ClassVar[str] = "items"
    _again: ClassVar[str] = "make a new stream"  # how to read it again, for StreamConsumedError

    def __init__(self, send: Callable[[float], Any], *, timeout: Timeout, max_event_size: int | None) -> None:
        self._send = send
        self._iterator: AsyncGenerator[T, None] | None = None
        self._timer: Timer | None = None
        self._loop: Any = None  # the loop that runs the stream (async only), for ``__del__``
        self._reader: Any = None  # a read running in its own task (the async ``buffered``)
        self._timeout = timeout
        self._max_event_size = max_event_size
        self._response: httpx2.Response | None = None
        self._decoder: StreamDecoder[T, R] | None = None
        self._started: float | None = None
        # The one state (``_pipeline/lifecycle.py``: the diagram); changed only under ``_lock``, as ``cancel()``
        # and the deadline's timer may change it from another thread.
        self._lifecycle = Lifecycle()
        self._lock = threading.Lock()
        self._empty_result: R | None = None

    def _new_decoder(self, response: httpx2.Response, started: float) -> StreamDecoder[T, R]:
        raise NotImplementedError

    def _new_result(self) -> R:
        raise NotImplementedError

    def _text_of(self, item: T) -> str:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[T]:
        if self._iterator is None or self._lifecycle.state is State.CLOSED:
            self.check_not_consumed()
            self._iterator = self._chunks()
        return self._iterator

    async def __anext__(self) -> T:
        return await (self._iterator if self._iterator is not None else self.__aiter__()).__anext__()

    @property
    def result(self) -> R:
        """What the stream delivered so far; final once it ended, was cancelled or failed."""
        if self._decoder is not None:
            return self._decoder.result
        if self._empty_result is None:
            self._empty_result = self._new_result()
        return self._empty_result

    @property
    def response(self) -> httpx2.Response | None:
        """The HTTP response, once the request was answered (headers, status)."""
        return self._response

    @property
    def request_id(self) -> str | None:
        """The ``mistral-correlation-id`` of the answer, to quote when reporting a problem."""
        return self._response.headers.get("mistral-correlation-id") if self._response is not None else None

    @property
    def cancelled(self) -> bool:
        return self._lifecycle.cancel_asked

    def cancel(self) -> None:
        """Stop the stream now.  Safe from any thread and from inside the loop that reads it."""
        with self._lock:
            met = self._lifecycle.cancel()
            if met is State.NEW:
                self.result.cancelled = True  # type: ignore[attr-defined]  # never sent, and it will not be: no tokens to pay for
            elif met is not State.CLOSED and met is not State.CANCELLED:
                if self._decoder is None or not (self._decoder.done or self._decoder.failed):
                    self._cut()  # once the answer is complete, the connection can still go back to the pool

    def check_not_consumed(self) -> None:
        """Raise ``StreamConsumedError`` if the stream was already read or closed (a stream is read once).

        For code that hands the stream on to be read later (``mistral_client.web``): it fails here,
        before it has sent anything of its own.
        """
        if self._lifecycle.cancel_asked and self._response is None:
            return  # cancelled before sending: iterating gives nothing, as the caller asked
        if self._lifecycle.state is State.CLOSED or self._iterator is not None:
            raise StreamConsumedError(
                f"this stream was already read or closed; a stream is read once: {self._again} "
                "(its result is in stream.result)"
            )

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text deltas, skipping items that carry none."""
        return _text_deltas(self)

    def buffered(self, min_chars: int = 32, max_delay: float = 0.05) -> AsyncIterator[str]:
        """Text in pieces of at least ``min_chars``, or whatever arrived once the oldest buffered text is
        ``max_delay`` seconds old, for UIs that should not redraw per token.  The async stream checks the
        delay on a timer (text is not held while the model pauses); the sync one as chunks arrive."""
        return AsyncBackend.buffered(_text_deltas(self), Coalescer(min_chars, max_delay), self._track_reader)

    async def until_done(self) -> R:
        """Read the stream to its end (if it is still open) and return the result."""
        if self._lifecycle.state is not State.CLOSED:
            async for _ in self:
                pass
        return self.result

    async def aclose(self) -> None:
        """Stop the stream (if it is still running) and release its connection."""
        if self._lifecycle.state is State.CLOSED:
            return
        await AsyncBackend.stop_reader(self._reader)
        if self._iterator is not None:
            await self._iterator.aclose()  # runs the generator's cleanup
        await self._finish()

    def _track_reader(self, reader: Any) -> None:
        self._reader = reader

    def _expire(self) -> None:
        # The total deadline passed: wake the reader; it raises StreamTimeoutError.
        with self._lock:
            if self._decoder is not None and not self._decoder.done and self._lifecycle.expire():
                self._cut()

    def _cut(self) -> None:
        # Called with the lock held.
        if self._response is not None:
            cut_socket(self._response)

    async def _open(self) -> None:
        with self._lock:
            if not self._lifecycle.send():
                return  # already sent, or closed (a cancel before the first use sends nothing)
        self._started = started = perf_counter()
        try:
            response = await self._send(started)
        except BaseException:
            with self._lock:  # nothing was answered: it may be sent again, unless it was cancelled
                self._lifecycle.send_failed()
            raise
        try:
            self._begin(response, started)
        except BaseException:
            await response.aclose()
            with self._lock:
                self._lifecycle.close()
            raise
        self._loop = AsyncBackend.running_loop()
        remaining = self._remaining()
        if remaining is not None:
            self._timer = AsyncBackend.call_later(remaining, self._expire)

    def _begin(self, response: httpx2.Response, started: float) -> None:
        error = check_event_stream(response)
        if error is not None:
            raise error
        with self._lock:
            self._response = response
            self._decoder = self._new_decoder(response, started)
            if not self._lifecycle.answered():
                self._cut()  # cancelled (or closed) while the request was on its way

    def _remaining(self) -> float | None:
        if self._timeout.total is None or self._started is None:
            return None
        return self._timeout.total - (perf_counter() - self._started)

    async def _chunks(self) -> AsyncGenerator[T, None]:
        reader: AsyncIterator[bytes] | None = None
        try:
            await self._open()
            response, decoder = self._response, self._decoder
            if response is None or decoder is None:
                return  # cancelled before it was sent
            deliver = decoder.deliver
            lifecycle, cancelled = self._lifecycle, State.CANCELLED
            reader = AsyncBackend.body_reader(response)
            drained = 0
            try:
                async for data in reader:
                    if decoder.done:
                        drained += len(data)
                        if drained > DRAIN_BYTES:
                            break
                        continue
                    for chunk in decoder.feed(data):
                        deliver(chunk)
                        yield chunk
                        if lifecycle.state is cancelled:
                            return
                    self._check_read(decoder)
                else:
                    if self._cut_by_us(decoder):
                        return
                    for chunk in decoder.eof():
                        deliver(chunk)
                        yield chunk
                    self._check_read(decoder)
            except httpx2.HTTPError as exc:
                if isinstance(exc, httpx2.RequestError):
                    exc.request = response.request  # as httpx2's reader does; by now without the key
                if decoder.complete:
                    return  # failed after the last chunk: the answer is whole, the connection just not reused
                error = self._transport_failure(exc)
                if error is not None:
                    raise error from None
        except GeneratorExit:
            # The caller left the loop (``break``, ``close()``); at the last chunk, that is the end.
            if reader is not None and self._unfinished_tail():
                assert self._response is not None
                await AsyncBackend.drain(self._response, reader)
            raise
        finally:
            await self._finish()

    def _transport_failure(self, exc: httpx2.HTTPError) -> StreamError | None:
        """The error for a read that failed, or ``None`` when the failure is our own cancel."""
        assert self._decoder is not None
        state = self._lifecycle.state
        if state is State.CANCELLED:
            return None
        if state is State.EXPIRED:
            return self._deadline_error(self._decoder)
        if isinstance(exc, httpx2.ReadTimeout):
            return self._decoder.broken(f"no data for {self._timeout.read}s (read timeout)", timeout=True)
        return self._decoder.broken(f"the connection broke mid-stream: {exc or type(exc).__name__}")

    def _deadline_error(self, decoder: StreamDecoder[T, R]) -> StreamError:
        return decoder.broken(f"the total deadline of {self._timeout.total}s passed", timeout=True)

    def _check_read(self, decoder: StreamDecoder[T, R]) -> None:
        """After the chunks of a read were handed out: raise what stopped the stream, if anything."""
        if decoder.failed:
            raise decoder.error()
        if self._lifecycle.state is State.EXPIRED and not decoder.complete:
            raise self._deadline_error(decoder)

    def _cut_by_us(self, decoder: StreamDecoder[T, R]) -> bool:
        """At EOF: true if our cancel ended the body (stop quietly); the deadline raises."""
        if decoder.complete:
            return False
        if self._lifecycle.state is State.EXPIRED:
            raise self._deadline_error(decoder)
        return self._lifecycle.state is State.CANCELLED

    def _unfinished_tail(self) -> bool:
        """The caller has the whole answer, but the body has not ended: [DONE] is still to come."""
        decoder = self._decoder
        return decoder is not None and decoder.complete and not decoder.done and not self._lifecycle.cancel_asked

    async def _finish(self) -> None:
        with self._lock:
            if not self._lifecycle.close():
                return
            decoder, response = self._decoder, self._response
            if decoder is not None and not decoder.complete:
                # Cut the socket before awaiting anything: if this task is being cancelled, the await
                # below may not run to completion, and the server must see the disconnect regardless.
                self._cut()
        if self._timer is not None:
            self._timer.cancel()
        if decoder is not None:
            decoder.stop()
        if response is None:
            return
        try:
            await response.aclose()
        except Exception:
            if decoder is None or decoder.done:
                raise  # a cut socket may fail to close cleanly; a finished one should not

    def __del__(self) -> None:
        # Dropped without ``async with`` or ``aclose()``: cut the socket now (the server stops
        # generating) and release the connection (the async stream on its loop).
        response, lifecycle = getattr(self, "_response", None), getattr(self, "_lifecycle", None)
        if lifecycle is None or lifecycle.state is State.CLOSED or response is None:
            return
        try:
            with self._lock:
                lifecycle.close()
                self._cut()
            if self._decoder is not None:
                self._decoder.stop()
            AsyncBackend.close_dropped(response, self._loop)
        except Exception:
            pass

    def __repr__(self) -> str:
        state = (
            "closed"
            if self._lifecycle.state is State.CLOSED
            else "open"
            if self._response is not None
            else "not started"
        )
        count = self._decoder.delivered if self._decoder is not None else 0
        return f"<{type(self).__name__} {state} {self._unit}={count}>"


class AsyncChatStream(AsyncEventStream[ChatCompletionChunk, StreamResult]):
    """A streamed chat completion: iterate it for ``ChatCompletionChunk``s, use it in a ``with``.

    ``ChatStream`` for ``Mistral``; ``AsyncChatStream``, its async twin, with ``async with`` and ``async for``.
    """

    _unit = "chunks"
    _again = "call chat.stream() again"

    def __init__(
        self,
        send: Callable[[float], Any],
        *,
        timeout: Timeout,
        max_event_size: int | None,
        keep_chunks: bool = True,
        output_type: Any = None,
    ) -> None:
        super().__init__(send, timeout=timeout, max_event_size=max_event_size)
        self._keep_chunks = keep_chunks
        self._output_type = output_type
        self._partial_json: PartialJSON | None = None

    def _new_decoder(self, response: httpx2.Response, started: float) -> ChunkDecoder:
        return ChunkDecoder(
            started,
            max_event_size=self._max_event_size,
            keep_chunks=self._keep_chunks,
            output_type=self._output_type,
            request=response.request,
            request_id=response.headers.get("mistral-correlation-id"),
        )

    def _new_result(self) -> StreamResult:
        return StreamResult(output_type=self._output_type)

    def _text_of(self, item: ChatCompletionChunk) -> str:
        return item.content

    def partial_json(self) -> Any:
        """Best-effort value of the JSON text so far (choice 0), for progressive UIs: open strings,
        arrays and objects closed, a half key or literal left out; ``None`` before any value."""
        parser = self._partial_json
        if parser is None:
            from .._pipeline.partial_json import PartialJSON

            parser = self._partial_json = PartialJSON()
        content = self.result.content
        if len(content) > parser.length:
            parser.feed(content[parser.length :])
        return parser.value()

    async def get_final_completion(self) -> ChatCompletion:
        """Read to the end, then return the answer shaped as ``chat.complete`` returns it."""
        return (await self.until_done()).to_completion()


class AsyncNamedEventStream(AsyncEventStream[E, RE]):
    """The base of a stream whose events are named (``event: <type>``): a family sets ``kinds`` (its
    table of event types) and ``result_type`` (its ``EventResult``), and says which text an event carries."""

    kinds: ClassVar[EventKinds]
    result_type: ClassVar[type[EventResult]] = EventResult
    _unit = "events"

    def __init__(
        self,
        send: Callable[[float], Any],
        *,
        timeout: Timeout,
        max_event_size: int | None,
        keep_events: bool = True,
    ) -> None:
        super().__init__(send, timeout=timeout, max_event_size=max_event_size)
        self._keep_events = keep_events

    def _new_decoder(self, response: httpx2.Response, started: float) -> StreamDecoder[E, RE]:
        decoder = EventDecoder(
            started,
            self.kinds,
            self._new_result(),
            max_event_size=self._max_event_size,
            request=response.request,
            request_id=response.headers.get("mistral-correlation-id"),
        )
        return decoder  # type: ignore[return-value]

    def _new_result(self) -> RE:
        return self.result_type(keep_events=self._keep_events)  # type: ignore[return-value]

    def _text_of(self, item: E) -> str:
        return ""


async def _text_deltas(stream: AsyncEventStream[T, Any]) -> AsyncGenerator[str, None]:
    text_of = stream._text_of
    async for item in stream:
        text = text_of(item)
        if text:
            yield text
