"""Stage 2 of the stream pipeline: server-sent events -> typed chunks.

``ChunkDecoder`` is the one decoding core behind the sync and the async stream: it takes the bytes
a read returned and gives back the chunks they complete, stamped with their latencies and already
added to the ``StreamResult``.  It does no I/O, so both stream classes are thin loops around it.

A failure inside the stream does not raise from ``feed``: the chunks decoded before it are returned
first and the error is left in ``.error``, so a caller delivers everything that arrived, then raises.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any

import msgspec

from ._exceptions import StreamError
from ._models import ChatCompletionChunk
from ._result import StreamResult
from ._sse import EventTooLargeError, SSEDecoder

if TYPE_CHECKING:
    import httpx2

__all__ = ["ChunkDecoder"]

_decode_chunk = msgspec.json.Decoder(ChatCompletionChunk).decode
_DONE = b"[DONE]"


class ChunkDecoder:
    """Feed it the body of a ``text/event-stream`` chat answer, one read at a time."""

    def __init__(
        self,
        started: float,
        *,
        max_event_size: int | None = None,
        keep_chunks: bool = True,
        request: httpx2.Request | None = None,
        request_id: str | None = None,
    ) -> None:
        self.result = StreamResult(keep_chunks=keep_chunks)
        self.started = started
        self.done = False  # [DONE] (or the end of a finished body) was reached
        self.error: StreamError | None = None
        self._last = started
        self._sse = SSEDecoder(max_event_size)
        # A chunk with a finish reason but no usage may be followed by a usage-only chunk; it is
        # held until the next event says which of the two ends the stream (``is_last``).
        self._held: ChatCompletionChunk | None = None
        self._request = request
        self._request_id = request_id

    def feed(self, data: bytes) -> list[ChatCompletionChunk]:
        if self.done or self.error is not None:
            return []
        try:
            events = self._sse.feed(data)
        except EventTooLargeError as exc:
            self._fail(str(exc))
            return []
        out: list[ChatCompletionChunk] = []
        for event in events:
            raw = event.raw
            if event.event != "message":
                if event.event == "error":
                    self._fail_with_event(raw, out)
                    break
                continue  # named events the chat API does not define (pings...) carry no chunk
            if raw == _DONE:
                self._end(out)
                break
            try:
                chunk = _decode_chunk(raw)
            except msgspec.DecodeError:
                lenient = self._decode_lenient(raw)
                if lenient is None:
                    self._release(out)
                    self._fail(f"malformed event in the stream: {_excerpt(raw)}")
                    break
                chunk = lenient
            if chunk.object == "error" or chunk.error is not None:
                self._fail_with_event(raw, out)
                break

            now = perf_counter()
            chunk.chunk_latency = now - self._last
            chunk.total_latency = now - self.started
            self._last = now
            self.result.add(chunk)

            finished = False
            for choice in chunk.choices:
                if choice.finish_reason is not None:
                    finished = True
                    if choice.finish_reason == "error":
                        self._release(out)
                        self._fail("the model stopped with finish_reason 'error'")
                        return out
            self._release(out)
            if chunk.usage is not None and (finished or not chunk.choices):
                chunk.is_last = True
                out.append(chunk)
            elif finished:
                self._held = chunk
            else:
                out.append(chunk)
        return out

    def eof(self) -> list[ChatCompletionChunk]:
        """The body ended.  Without [DONE], that is a broken stream unless the model had finished."""
        out: list[ChatCompletionChunk] = []
        if self.done or self.error is not None:
            return out
        self._sse.end()
        if any(choice.finish_reason is not None for choice in self.result._choices.values()):
            self._end(out)
        else:
            self._fail("the connection closed before the stream finished (no finish reason, no [DONE])")
        return out

    def stop(self, *, cancelled: bool) -> None:
        """The caller stopped reading (a cancel, a close, a transport failure)."""
        if not self.done and self.result.total_latency is None:
            self.result.cancelled = cancelled
            self.result.total_latency = perf_counter() - self.started

    def broken(self, reason: str, *, timeout: bool = False) -> StreamError:
        """The error to raise for a transport failure in the middle of the stream."""
        self._fail(reason, timeout=timeout)
        assert self.error is not None
        return self.error

    def _end(self, out: list[ChatCompletionChunk]) -> None:
        self.done = True
        held = self._held
        if held is not None:
            held.is_last = True
            out.append(held)
            self._held = None
        self.result.total_latency = perf_counter() - self.started

    def _release(self, out: list[ChatCompletionChunk]) -> None:
        if self._held is not None:
            out.append(self._held)
            self._held = None

    def _fail_with_event(self, raw: bytes, out: list[ChatCompletionChunk]) -> None:
        self._release(out)
        body: Any
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            body = raw.decode("utf-8", "replace")
        info = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
        if isinstance(info, dict):
            message = str(info.get("message") or info.get("detail") or "unknown error")
            self._fail(
                f"the server sent an error event: {message}",
                body=body,
                type=info.get("type"),
                code=info.get("code"),
            )
        else:
            self._fail(f"the server sent an error event: {_excerpt(raw)}", body=body)

    def _fail(self, reason: str, *, timeout: bool = False, **fields: Any) -> None:
        from ._exceptions import StreamTimeoutError

        result = self.result
        if result.total_latency is None:
            result.total_latency = perf_counter() - self.started
        received = f"{result.chunk_count} chunks ({len(result.content)} characters) arrived before it; see .partial"
        cls = StreamTimeoutError if timeout else StreamError
        self.error = cls(
            f"{reason}; {received}",
            partial=result,
            request=self._request,
            request_id=self._request_id,
            **fields,
        )

    @staticmethod
    def _decode_lenient(raw: bytes) -> ChatCompletionChunk | None:
        # Invalid UTF-8 inside a JSON string is replaced (U+FFFD) instead of failing the stream.
        try:
            return _decode_chunk(raw.decode("utf-8", "replace"))
        except msgspec.DecodeError:
            return None


def _excerpt(raw: bytes, limit: int = 200) -> str:
    text = raw[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(raw) > limit else ""))
