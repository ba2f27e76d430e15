"""Text-only views of a stream: every text delta, or deltas coalesced for UIs that re-render.

A UI that redraws per token at 100 tokens/s spends its time redrawing; ``buffered`` hands it text
in pieces of at least ``min_chars``, and never holds text longer than ``max_delay`` seconds.  The
sync view can only notice the delay when the next chunk arrives; the async view also wakes on a
timer, so text is shown on time while the model pauses.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from time import perf_counter
from typing import TYPE_CHECKING

from ._exceptions import InvalidRequestError, MistralError

if TYPE_CHECKING:
    from ._streaming import AsyncChatStream, ChatStream

__all__ = ["Coalescer", "async_buffered", "async_text_stream", "buffered"]


class Coalescer:
    """Joins text deltas; says when the joined text is due.  No I/O, shared by both views."""

    __slots__ = ("_oldest", "_pieces", "_size", "max_delay", "min_chars")

    def __init__(self, min_chars: int, max_delay: float) -> None:
        if not isinstance(min_chars, int) or isinstance(min_chars, bool) or min_chars < 0:
            raise InvalidRequestError(f"buffered(): min_chars must be an int >= 0, got {min_chars!r}")
        if not isinstance(max_delay, (int, float)) or isinstance(max_delay, bool) or not max_delay >= 0:
            raise InvalidRequestError(f"buffered(): max_delay must be a number of seconds >= 0, got {max_delay!r}")
        self.min_chars = min_chars
        self.max_delay = float(max_delay)
        self._pieces: list[str] = []
        self._size = 0
        self._oldest = 0.0

    def add(self, text: str, now: float) -> str | None:
        """Buffer ``text``; the joined text if it is now due, else ``None``."""
        if not self._pieces:
            self._oldest = now
        self._pieces.append(text)
        self._size += len(text)
        if self._size >= self.min_chars or now - self._oldest >= self.max_delay:
            return self.flush()
        return None

    def deadline(self) -> float | None:
        """When the buffered text falls due (``perf_counter`` time), ``None`` when nothing is buffered."""
        return self._oldest + self.max_delay if self._pieces else None

    def flush(self) -> str | None:
        if not self._pieces:
            return None
        text = "".join(self._pieces)
        self._pieces.clear()
        self._size = 0
        return text


def text_stream(stream: ChatStream) -> Iterator[str]:
    for chunk in stream:
        text = chunk.content
        if text:
            yield text


async def async_text_stream(stream: AsyncChatStream) -> AsyncGenerator[str, None]:
    async for chunk in stream:
        text = chunk.content
        if text:
            yield text


def buffered(stream: ChatStream, coalescer: Coalescer) -> Iterator[str]:
    try:
        for text in text_stream(stream):
            due = coalescer.add(text, perf_counter())
            if due is not None:
                yield due
    except MistralError:
        rest = coalescer.flush()
        if rest is not None:
            yield rest  # what arrived before the failure is shown; the error follows
        raise
    rest = coalescer.flush()
    if rest is not None:
        yield rest


async def async_buffered(stream: AsyncChatStream, coalescer: Coalescer) -> AsyncIterator[str]:
    import asyncio

    texts = async_text_stream(stream)
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            if pending is None:
                # The stream's ``aclose`` waits for this read, so leaving ``async with`` stays safe.
                pending = stream._reader = asyncio.ensure_future(texts.__anext__())
            deadline = coalescer.deadline()
            if deadline is not None:
                # Wait for the next delta only until the buffered text falls due; the read goes on.
                await asyncio.wait((pending,), timeout=max(deadline - perf_counter(), 0.0))
                if not pending.done():
                    due = coalescer.flush()
                    if due is not None:
                        yield due
                    continue
            try:
                text = await pending
            except StopAsyncIteration:
                pending = None
                break
            pending = None
            due = coalescer.add(text, perf_counter())
            if due is not None:
                yield due
    except MistralError:
        pending = None
        rest = coalescer.flush()
        if rest is not None:
            yield rest
        raise
    finally:
        if pending is not None and not pending.done():
            pending.cancel()  # the consumer left early: stop the read, which closes the stream
            try:
                await pending
            except (asyncio.CancelledError, StopAsyncIteration, MistralError):
                pass
        await texts.aclose()
    rest = coalescer.flush()
    if rest is not None:
        yield rest
