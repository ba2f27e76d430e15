"""Stage 2 of the stream pipeline: server-sent events -> typed chunks.

``ChunkDecoder`` is the one decoding core behind the sync and the async stream: it takes the bytes
a read returned and gives back the chunks they complete, stamped with their latencies.  It does no
I/O, so both stream classes are thin loops around it.  They pass each chunk to ``deliver`` as they
hand it out, so the ``StreamResult`` is always exactly what the caller has received, even when a
cancel comes between two chunks of the same read.

A failure inside the stream does not raise from ``feed``: the chunks decoded before it are returned
first and ``failed`` is set, so a caller delivers everything that arrived, then raises ``error()``.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from .._exceptions import StreamError
from .._http_errors import describe_error_body
from .._wire.answers import ChatCompletionChunk
from .accumulating import StreamResult
from .sse import EventTooLargeError, ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    import httpx2

__all__ = ["ChunkDecoder", "StreamDecoder", "excerpt"]

T = TypeVar("T")
R = TypeVar("R")

_decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode
_DONE = b"[DONE]"
# msgspec reports invalid UTF-8 inside a JSON string as UnicodeDecodeError, not DecodeError.
_BAD_JSON = (msgspec.DecodeError, UnicodeDecodeError)


class StreamDecoder(Generic[T, R]):
    """What every stream's decoder shares, whatever its events: delivery into the result, the end,
    failures and the error that carries the partial result.

    A subclass decodes (``feed``, ``eof``) and says what arrived before a failure (``received``).
    ``result`` needs ``add(item)``, ``cancelled`` and ``total_latency``.
    """

    def __init__(
        self,
        started: float,
        result: R,
        *,
        request: httpx2.Request | None = None,
        request_id: str | None = None,
    ) -> None:
        self.result = result
        self.started = started
        self.done = False  # the end of the stream was reached (``[DONE]``, its last event, a finished body)
        self.failed = False
        self._failure: tuple[str, bool, dict[str, Any]] | None = None
        self._error: StreamError | None = None
        self._returned = self._delivered = 0  # items given to the caller, and handed out by it
        self._last_at = 0  # how many items the caller holds once it has the last one (0: not yet)
        self._request = request
        self._request_id = request_id
        self._sse: SSEDecoder  # set by the subclass, with its size limit

    def deliver(self, item: T) -> None:
        """The caller handed this item out: it is now part of the result."""
        self._delivered += 1
        self.result.add(item)  # type: ignore[attr-defined]

    def feed(self, data: bytes) -> list[T]:
        raise NotImplementedError

    def _events(self, data: bytes) -> tuple[list[ServerSentEvent], EventTooLargeError | None]:
        """The events ``data`` completes, and the error for one that grew too large (after them)."""
        try:
            return self._sse.feed(data), None
        except EventTooLargeError as exc:
            return exc.events, exc

    def eof(self) -> list[T]:
        raise NotImplementedError

    @property
    def delivered(self) -> int:
        return self._delivered

    @property
    def complete(self) -> bool:
        """The caller holds the whole answer: it was handed the last item, or the body ended and it
        was handed everything decoded.  What follows the last item (``[DONE]``) may still be unread."""
        if self.failed:
            return False
        last = self._last_at
        return (last != 0 and self._delivered >= last) or (self.done and self._delivered == self._returned)

    def stop(self) -> None:
        """The caller stopped reading: at the end, on a failure, or early (a cancel or a close)."""
        result: Any = self.result
        if result.total_latency is None:
            result.total_latency = perf_counter() - self.started
        if not self.failed and not self.complete:
            result.cancelled = True

    def broken(self, reason: str, *, timeout: bool = False) -> StreamError:
        """The error to raise for a transport failure in the middle of the stream."""
        self._fail(reason, timeout=timeout)
        return self.error()

    def error(self) -> StreamError:
        """The exception for the failure, built once everything before it was delivered."""
        if self._error is None:
            assert self._failure is not None
            from .._exceptions import StreamTimeoutError

            reason, timeout, fields = self._failure
            self._before_error()
            result: Any = self.result
            if result.total_latency is None:
                result.total_latency = perf_counter() - self.started
            cls = StreamTimeoutError if timeout else StreamError
            self._error = cls(
                f"{reason}; {self.received()} arrived before it; see .partial",
                partial=result,
                request=self._request,
                request_id=self._request_id,
                **fields,
            )
        return self._error

    def received(self) -> str:
        """What arrived, in a few words, for the error message."""
        return f"{self._delivered} items"

    def _before_error(self) -> None:
        """Put in the result what arrived but was not handed out (the event that carried the failure)."""

    def _fail(self, reason: str, *, timeout: bool = False, **fields: Any) -> None:
        if self.failed:
            return
        self.failed = True
        self._failure = (reason, timeout, fields)

    def _fail_with_body(self, raw: bytes) -> None:
        """Fail with what an error event says: its JSON read as an error answer's body."""
        body: Any
        try:
            body = msgspec.json.decode(raw)
        except _BAD_JSON:
            body = raw.decode("utf-8", "replace")
        if isinstance(body, dict):
            # The same reading as an error answer's body: a field list inside `message` is named
            # field by field, and an object where a string belongs is shown as JSON.
            message, fields, _ = describe_error_body(body)
            self._fail(
                f"the server sent an error event: {message or 'unknown error'}",
                body=body,
                type=fields["type"],
                code=fields["code"],
            )
        else:
            self._fail(f"the server sent an error event: {excerpt(raw)}", body=body)


class ChunkDecoder(StreamDecoder[ChatCompletionChunk, StreamResult]):
    """Feed it the body of a ``text/event-stream`` chat answer, one read at a time."""

    def __init__(
        self,
        started: float,
        *,
        max_event_size: int | None = None,
        keep_chunks: bool = True,
        output_type: Any = None,
        request: httpx2.Request | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            started,
            StreamResult(keep_chunks=keep_chunks, output_type=output_type),
            request=request,
            request_id=request_id,
        )
        self._finished = False  # some choice has a finish reason
        self._last_chunk: ChatCompletionChunk | None = None  # the finish_reason "error" chunk
        self._last = started
        self._sse = SSEDecoder(max_event_size)
        # A chunk with a finish reason but no usage may be followed by a usage-only chunk; it is
        # held until the next event says which of the two ends the stream (``is_last``).
        self._held: ChatCompletionChunk | None = None

    def deliver(self, chunk: ChatCompletionChunk) -> None:
        """The caller handed this chunk out: it is now part of the result."""
        self._delivered += 1
        self.result.add(chunk)

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        if self.done or self.failed:
            return []
        events, too_large = self._events(data)
        out: list[ChatCompletionChunk] = []
        for event in events:
            raw = event.raw
            if event.event != "message":
                if event.event == "error":
                    self._fail_with_event(raw, out)
                    break
                continue  # named events the chat API does not define (pings...) carry no chunk
            # "data:  [DONE]" keeps a space; it is still the end (the length test keeps chunks cheap).
            if raw == _DONE or (len(raw) < 16 and raw.strip() == _DONE):
                self._end(out)
                break
            try:
                chunk = _decode_chunk(raw)
            except _BAD_JSON:
                lenient = self._decode_lenient(raw)
                if lenient is None:
                    self._release(out)
                    self._fail(f"malformed event in the stream: {excerpt(raw)}")
                    break
                chunk = lenient
            if chunk.object == "error" or chunk.error is not None:
                self._fail_with_event(raw, out)
                break

            now = perf_counter()
            chunk.chunk_latency = now - self._last
            chunk.total_latency = now - self.started
            self._last = now

            finished = False
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    finished = self._finished = True
                    if choice.finish_reason == "error":
                        self._release(out)
                        # Not handed out, but it arrived: what it carries belongs in the partial.
                        self._fail("the model stopped with finish_reason 'error'", last=chunk)
                        self._returned += len(out)
                        return out
            self._release(out)
            if chunk.usage is not None and (finished or not chunk.choices):
                chunk.is_last = True
                out.append(chunk)
                self._last_at = self._returned + len(out)
            elif finished:
                self._held = chunk
            else:
                out.append(chunk)
        if too_large is not None and not (self.done or self.failed):
            self._release(out)
            self._fail(str(too_large))
        self._returned += len(out)
        return out

    def eof(self) -> list[ChatCompletionChunk]:
        """The body ended.  Without [DONE], that is a broken stream unless the model had finished."""
        out: list[ChatCompletionChunk] = []
        if self.done or self.failed:
            return out
        self._sse.end()
        if self._finished:
            self._end(out)
        else:
            self._fail("the connection closed before the stream finished (no finish reason, no [DONE])")
        self._returned += len(out)
        return out

    def received(self) -> str:
        result = self.result
        return f"{result.chunk_count} chunks ({len(result.content)} characters)"

    def _before_error(self) -> None:
        if self._last_chunk is not None:
            self.result.add(self._last_chunk)

    def _end(self, out: list[ChatCompletionChunk]) -> None:
        self.done = True
        held = self._held
        if held is not None:
            held.is_last = True
            out.append(held)
            self._held = None
            self._last_at = self._returned + len(out)

    def _release(self, out: list[ChatCompletionChunk]) -> None:
        if self._held is not None:
            out.append(self._held)
            self._held = None

    def _fail_with_event(self, raw: bytes, out: list[ChatCompletionChunk]) -> None:
        self._release(out)
        self._fail_with_body(raw)

    def _fail(
        self, reason: str, *, timeout: bool = False, last: ChatCompletionChunk | None = None, **fields: Any
    ) -> None:
        if not self.failed:
            self._last_chunk = last
        super()._fail(reason, timeout=timeout, **fields)

    @staticmethod
    def _decode_lenient(raw: bytes) -> ChatCompletionChunk | None:
        # Invalid UTF-8 inside a JSON string is replaced (U+FFFD) instead of failing the stream.
        try:
            return _decode_chunk(raw.decode("utf-8", "replace"))
        except msgspec.DecodeError:
            return None


def excerpt(raw: bytes, limit: int = 200) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > limit else ""))
