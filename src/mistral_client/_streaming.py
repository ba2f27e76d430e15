"""Stage 4 of the stream pipeline: the streams a caller iterates.

``ChatStream`` and ``AsyncChatStream`` only move bytes from the HTTP response into the shared
``ChunkDecoder`` and hand back its chunks; decoding, timing and accumulation live there.

Cancellation closes the socket itself (``shutdown``), not just our side of the pool: a read blocked in
another thread wakes at once, and the server sees the disconnect and stops generating tokens.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx2

from ._chunks import ChunkDecoder
from ._config import Timeout
from ._errors import check_event_stream
from ._exceptions import MistralError, StreamError
from ._models import ChatCompletion, ChatCompletionChunk
from ._result import StreamResult
from ._text_streams import Coalescer, async_buffered, async_text_stream, buffered, text_stream

# A response extension our async transport (``_http11.py``) sets: the body, to read it directly.
OWN_BODY = "mistral_client.body"

if TYPE_CHECKING:
    import asyncio

    from ._partial_json import PartialJSON

__all__ = ["AsyncChatStream", "ChatStream", "StreamConsumedError"]

# After [DONE] the rest of the body (the chunked terminator) is read so the connection can be
# reused; a server that keeps talking past this many bytes is cut off instead.
_MAX_DRAIN = 64 * 1024
# A caller that leaves the loop at the last chunk (``is_last``) has the whole answer, but [DONE] and
# the end of the body may still be on their way: they are waited for this long, so the connection
# can go back to the pool, and it is closed if they do not come.
_DRAIN_SECONDS = 0.1


class StreamConsumedError(MistralError, RuntimeError):
    """A stream is read once; iterating it again after it ended or was closed is a mistake."""


class _StreamState:
    """What the sync and async streams share: the decoder, cancel flags and the socket to cut."""

    _timeout: Timeout
    _response: httpx2.Response | None
    _decoder: ChunkDecoder | None

    def _init_state(self, timeout: Timeout, max_event_size: int | None, keep_chunks: bool, output_type: Any) -> None:
        self._timeout = timeout
        self._max_event_size = max_event_size
        self._keep_chunks = keep_chunks
        self._output_type = output_type
        self._partial_json: PartialJSON | None = None
        self._response = None
        self._decoder = None
        self._started: float | None = None
        self._cancel_requested = False
        self._deadline_passed = False
        self._closed = False
        self._iterating = False
        self._lock = threading.Lock()
        self._empty_result: StreamResult | None = None

    @property
    def result(self) -> StreamResult:
        """What the stream delivered so far; final once it ended, was cancelled or failed."""
        if self._decoder is not None:
            return self._decoder.result
        if self._empty_result is None:
            self._empty_result = StreamResult(output_type=self._output_type)
        return self._empty_result

    def partial_json(self) -> Any:
        """Best-effort value of the JSON text so far (choice 0), for progressive UIs: open strings,
        arrays and objects closed, a half key or literal left out; ``None`` before any value."""
        parser = self._partial_json
        if parser is None:
            from ._partial_json import PartialJSON

            parser = self._partial_json = PartialJSON()
        content = self.result.content
        if len(content) > len(parser.text):
            parser.feed(content[len(parser.text) :])
        return parser.value()

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
        return self._cancel_requested

    def cancel(self) -> None:
        """Stop the stream now.  Safe from any thread and from inside the loop that reads it."""
        with self._lock:
            self._cancel_requested = True
            if self._decoder is None or not (self._decoder.done or self._decoder.failed):
                self._cut()  # once the answer is complete, the connection can still go back to the pool

    def _expire(self) -> None:
        # The total deadline passed: wake the reader; it raises StreamTimeoutError.
        with self._lock:
            if self._decoder is not None and not self._decoder.done:
                self._deadline_passed = True
                self._cut()

    def _cut(self) -> None:
        # Called with the lock held.
        if self._response is not None:
            cut_socket(self._response)

    def _begin(self, response: httpx2.Response, started: float) -> None:
        error = check_event_stream(response)
        if error is not None:
            raise error
        with self._lock:
            self._response = response
            self._decoder = ChunkDecoder(
                started,
                max_event_size=self._max_event_size,
                keep_chunks=self._keep_chunks,
                output_type=self._output_type,
                request=response.request,
                request_id=response.headers.get("mistral-correlation-id"),
            )
            if self._cancel_requested:
                self._cut()

    def _cancelled_before_sending(self) -> bool:
        # A stream cancelled before its first use is never sent: no request, no tokens to pay for.
        if not self._cancel_requested:
            return False
        self._closed = True
        self.result.cancelled = True
        return True

    def _remaining(self) -> float | None:
        if self._timeout.total is None or self._started is None:
            return None
        return self._timeout.total - (perf_counter() - self._started)

    def _transport_failure(self, exc: httpx2.HTTPError) -> StreamError | None:
        """The error for a read that failed, or ``None`` when the failure is our own cancel."""
        assert self._decoder is not None
        if self._cancel_requested:
            return None
        if self._deadline_passed:
            return self._deadline_error(self._decoder)
        if isinstance(exc, httpx2.ReadTimeout):
            return self._decoder.broken(f"no data for {self._timeout.read}s (read timeout)", timeout=True)
        return self._decoder.broken(f"the connection broke mid-stream: {exc or type(exc).__name__}")

    def _deadline_error(self, decoder: ChunkDecoder) -> StreamError:
        return decoder.broken(f"the total deadline of {self._timeout.total}s passed", timeout=True)

    def _check_read(self, decoder: ChunkDecoder) -> None:
        """After the chunks of a read were handed out: raise what stopped the stream, if anything."""
        if decoder.failed:
            raise decoder.error()
        if self._deadline_passed and not decoder.complete:
            raise self._deadline_error(decoder)

    def _cut_by_us(self, decoder: ChunkDecoder) -> bool:
        """At EOF: true if our cancel ended the body (stop quietly); the deadline raises."""
        if decoder.complete:
            return False
        if self._deadline_passed:
            raise self._deadline_error(decoder)
        return self._cancel_requested

    def _unfinished_tail(self) -> bool:
        """The caller has the whole answer, but the body has not ended: [DONE] is still to come."""
        decoder = self._decoder
        return decoder is not None and decoder.complete and not decoder.done and not self._cancel_requested

    def _raw_reader(self, response: httpx2.Response) -> bool:
        # We ask for no compression on streams; a server that compresses anyway is decoded.
        return response.headers.get("content-encoding", "identity").lower() in ("", "identity")

    def _check_not_consumed(self) -> None:
        if self._cancel_requested and self._response is None:
            return  # cancelled before sending: iterating gives nothing, as the caller asked
        if self._closed or self._iterating:
            raise StreamConsumedError(
                "this stream was already read or closed; a stream is read once: call chat.stream() again "
                "(its result is in stream.result)"
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._response is not None else "not started"
        return f"<{type(self).__name__} {state} chunks={self.result.chunk_count}>"


class ChatStream(_StreamState):
    """A streamed chat completion: iterate it for ``ChatCompletionChunk``s, use it in a ``with``."""

    def __init__(
        self,
        send: Callable[[float], httpx2.Response],
        *,
        timeout: Timeout,
        max_event_size: int | None,
        keep_chunks: bool = True,
        output_type: Any = None,
    ) -> None:
        self._send = send
        self._iterator: Generator[ChatCompletionChunk, None, None] | None = None
        self._timer: threading.Timer | None = None
        self._init_state(timeout, max_event_size, keep_chunks, output_type)

    def __enter__(self) -> ChatStream:
        self._open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        if self._iterator is None or self._closed:
            self._check_not_consumed()
            self._iterating = True
            self._iterator = self._chunks()
        return self._iterator

    def __next__(self) -> ChatCompletionChunk:
        return next(self._iterator if self._iterator is not None else iter(self))

    @property
    def text_stream(self) -> Iterator[str]:
        """Only the text deltas, skipping chunks that carry none."""
        return text_stream(self)

    def buffered(self, min_chars: int = 32, max_delay: float = 0.05) -> Iterator[str]:
        """Text in pieces of at least ``min_chars``, or whatever arrived once the oldest buffered text is
        ``max_delay`` seconds old (checked as chunks arrive), for UIs that should not redraw per token."""
        return buffered(self, Coalescer(min_chars, max_delay))

    def until_done(self) -> StreamResult:
        """Read the stream to its end (if it is still open) and return the result."""
        if not self._closed:
            for _ in self:
                pass
        return self.result

    def get_final_completion(self) -> ChatCompletion:
        """Read to the end, then return the answer shaped as ``chat.complete`` returns it."""
        return self.until_done().to_completion()

    def close(self) -> None:
        """Stop the stream (if it is still running) and release its connection."""
        if self._closed:
            return
        if self._iterator is not None:
            self._iterator.close()  # runs the generator's cleanup
        self._finish()

    def _open(self) -> None:
        if self._response is not None or self._closed or self._cancelled_before_sending():
            return
        self._started = started = perf_counter()
        response = self._send(started)
        try:
            self._begin(response, started)
        except BaseException:
            response.close()
            self._closed = True
            raise
        remaining = self._remaining()
        if remaining is not None:
            self._timer = threading.Timer(max(remaining, 0.0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _chunks(self) -> Generator[ChatCompletionChunk, None, None]:
        reader: Iterator[bytes] | None = None
        try:
            self._open()
            response, decoder = self._response, self._decoder
            if response is None or decoder is None:
                return  # cancelled before it was sent
            deliver = decoder.deliver
            reader = response.iter_raw() if self._raw_reader(response) else response.iter_bytes()
            drained = 0
            try:
                for data in reader:
                    if decoder.done:
                        drained += len(data)
                        if drained > _MAX_DRAIN:
                            break
                        continue
                    for chunk in decoder.feed(data):
                        deliver(chunk)
                        yield chunk
                        if self._cancel_requested:
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
                if decoder.complete:
                    return  # failed after the last chunk: the answer is whole, the connection just not reused
                error = self._transport_failure(exc)
                if error is not None:
                    raise error from None
        except GeneratorExit:
            # The caller left the loop (``break``, ``close()``); at the last chunk, that is the end.
            if reader is not None and self._unfinished_tail():
                self._drain(reader)
            raise
        finally:
            self._finish()

    def _drain(self, reader: Iterator[bytes]) -> None:
        """Read what is left after the last chunk ([DONE], the end of the body) so that the connection
        goes back to the pool; past ``_DRAIN_SECONDS`` or ``_MAX_DRAIN`` bytes it is cut instead."""
        assert self._response is not None
        watch = SocketWatch(self._response, _DRAIN_SECONDS)
        drained = 0
        try:
            for data in reader:
                drained += len(data)
                if drained > _MAX_DRAIN:
                    break
        except httpx2.HTTPError:
            pass  # cut by the watch, or the server's doing: the connection is just not reused
        finally:
            watch.stop()

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._decoder is not None:
            self._decoder.stop()
        if self._response is not None:
            self._response.close()

    def __del__(self) -> None:
        # A stream dropped without ``with`` or ``close()`` must not keep its connection busy.
        if not getattr(self, "_closed", True) and getattr(self, "_response", None) is not None:
            try:
                self._finish()
            except Exception:
                pass


class AsyncChatStream(_StreamState):
    """The async twin of ``ChatStream``: ``async with`` and ``async for``."""

    def __init__(
        self,
        send: Callable[[float], Any],
        *,
        timeout: Timeout,
        max_event_size: int | None,
        keep_chunks: bool = True,
        output_type: Any = None,
    ) -> None:
        self._send = send
        self._iterator: AsyncGenerator[ChatCompletionChunk, None] | None = None
        self._timer_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: asyncio.Future[Any] | None = None  # a read running in its own task (``buffered``)
        self._init_state(timeout, max_event_size, keep_chunks, output_type)

    async def __aenter__(self) -> AsyncChatStream:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        if self._iterator is None or self._closed:
            self._check_not_consumed()
            self._iterating = True
            self._iterator = self._chunks()
        return self._iterator

    async def __anext__(self) -> ChatCompletionChunk:
        return await (self._iterator if self._iterator is not None else self.__aiter__()).__anext__()

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """Only the text deltas, skipping chunks that carry none."""
        return async_text_stream(self)

    def buffered(self, min_chars: int = 32, max_delay: float = 0.05) -> AsyncIterator[str]:
        """Text in pieces of at least ``min_chars``, or whatever arrived once the oldest buffered text is
        ``max_delay`` seconds old (on a timer: text is not held while the model pauses)."""
        return async_buffered(self, Coalescer(min_chars, max_delay))

    async def until_done(self) -> StreamResult:
        """Read the stream to its end (if it is still open) and return the result."""
        if not self._closed:
            async for _ in self:
                pass
        return self.result

    async def get_final_completion(self) -> ChatCompletion:
        """Read to the end, then return the answer shaped as ``chat.complete`` returns it."""
        return (await self.until_done()).to_completion()

    async def aclose(self) -> None:
        """Stop the stream (if it is still running) and release its connection."""
        if self._closed:
            return
        reader = self._reader
        if reader is not None and not reader.done():
            import asyncio

            # ``buffered`` reads in a task of its own; a generator cannot be closed while it runs.
            reader.cancel()
            await asyncio.wait((reader,))
        if self._iterator is not None:
            await self._iterator.aclose()
        await self._finish()

    async def _open(self) -> None:
        if self._response is not None or self._closed or self._cancelled_before_sending():
            return
        self._started = started = perf_counter()
        response = await self._send(started)
        try:
            self._begin(response, started)
        except BaseException:
            await response.aclose()
            self._closed = True
            raise
        import asyncio

        self._loop = asyncio.get_running_loop()
        remaining = self._remaining()
        if remaining is not None:
            self._timer_handle = self._loop.call_later(max(remaining, 0.0), self._expire)

    async def _chunks(self) -> AsyncGenerator[ChatCompletionChunk, None]:
        reader: AsyncIterator[bytes] | None = None
        try:
            await self._open()
            response, decoder = self._response, self._decoder
            if response is None or decoder is None:
                return  # cancelled before it was sent
            deliver = decoder.deliver
            raw = self._raw_reader(response)
            # Our transport's body, read without httpx2's two generator layers around it (a layer
            # costs per chunk); closing the response still goes through httpx2 (``_finish``).
            body = response.extensions.get(OWN_BODY) if raw else None
            # The iterator itself, not the body (whose every ``__aiter__`` starts anew): ``_drain`` goes on with it.
            reader = (body if body is not None else response.aiter_raw() if raw else response.aiter_bytes()).__aiter__()
            drained = 0
            try:
                async for data in reader:
                    if decoder.done:
                        drained += len(data)
                        if drained > _MAX_DRAIN:
                            break
                        continue
                    for chunk in decoder.feed(data):
                        deliver(chunk)
                        yield chunk
                        if self._cancel_requested:
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
                if body is not None and isinstance(exc, httpx2.RequestError):
                    exc.request = response.request  # as httpx2's reader does; by now without the key
                if decoder.complete:
                    return
                error = self._transport_failure(exc)
                if error is not None:
                    raise error from None
        except GeneratorExit:
            # The caller left the loop (``break``, ``aclose()``); at the last chunk, that is the end.
            if reader is not None and self._unfinished_tail():
                await self._drain(reader)
            raise
        finally:
            await self._finish()

    async def _drain(self, reader: AsyncIterator[bytes]) -> None:
        """Read what is left after the last chunk ([DONE], the end of the body) so that the connection
        goes back to the pool; past ``_DRAIN_SECONDS`` or ``_MAX_DRAIN`` bytes it is closed instead."""
        import asyncio

        async def rest() -> None:
            drained = 0
            async for data in reader:
                drained += len(data)
                if drained > _MAX_DRAIN:
                    return

        try:
            await asyncio.wait_for(rest(), _DRAIN_SECONDS)
        except (TimeoutError, asyncio.TimeoutError, httpx2.HTTPError):
            pass  # the connection is just not reused

    async def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer_handle is not None:
            self._timer_handle.cancel()
        decoder = self._decoder
        if decoder is not None:
            decoder.stop()
        response = self._response
        if response is None:
            return
        if decoder is not None and not decoder.complete:
            # Cut the socket before awaiting anything: if this task is being cancelled, the await
            # below may not run to completion, and the server must see the disconnect regardless.
            with self._lock:
                self._cut()
        try:
            await response.aclose()
        except Exception:
            if decoder is None or decoder.done:
                raise  # a cut socket may fail to close cleanly; a finished one should not

    def __del__(self) -> None:
        # Dropped without ``async with`` or ``aclose()``: cut the socket now (the server stops
        # generating) and let the loop release the connection from the pool.
        response, loop = getattr(self, "_response", None), getattr(self, "_loop", None)
        if getattr(self, "_closed", True) or response is None:
            return
        try:
            with self._lock:
                self._cut()
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(lambda: loop.create_task(response.aclose()))
        except Exception:
            pass


class SocketWatch:
    """Cuts a sync response's socket after ``seconds`` unless stopped first, waking a read blocked on it.

    For time limits that no per-read timeout can hold: a body that trickles in, a bounded drain.
    """

    __slots__ = ("_lock", "_response", "_stopped", "_timer", "fired")

    def __init__(self, response: httpx2.Response, seconds: float) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._stopped = False
        self.fired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if not self._stopped:  # stopped in time: the connection stays whole for the pool
                self.fired = True
                cut_socket(self._response)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._timer.cancel()


def cut_socket(response: httpx2.Response) -> None:
    """End the connection under ``response`` now: shutdown() wakes a blocked read and sends the FIN."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        shutdown_socket(sock)


def shutdown_socket(sock: Any) -> None:
    """``shutdown(SHUT_RDWR)`` on a socket, or on the wrapper an event loop hands out for one.

    asyncio's ``TransportSocket`` has ``shutdown()``; uvloop's refuses it, so there the call goes
    to a duplicate of the descriptor (a shutdown acts on the socket, whichever descriptor names it).
    """
    try:
        sock.shutdown(socket.SHUT_RDWR)
        return
    except OSError:
        return  # already closed
    except (AttributeError, TypeError):
        pass
    try:
        duplicate = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
    except (AttributeError, OSError, TypeError, ValueError):
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()
