"""The body of a streamed chat completion: server-sent events, pacing and mid-stream faults."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from ._answers import Item
from ._engine import Finish
from ._knobs import StreamFaults
from ._records import Recorder, RequestRecord

T = TypeVar("T")

__all__ = [
    "AnswerStream",
    "ClosingStreamingResponse",
    "EventWriter",
    "InjectedDisconnect",
    "StreamFaults",
    "next_from",
    "stop_engine",
    "stream_body",
    "usage",
]


@dataclass
class AnswerStream:
    """Everything one streamed answer needs."""

    items: Iterator[Item]  # the answer (see _answers); must end with a Finish
    chunk_base: dict[str, Any]  # id, object, created, model: the same in every chunk
    prompt_tokens: int
    faults: StreamFaults
    first_token_delay: float
    token_delay: float
    separate_usage: bool
    record: RequestRecord
    recorder: Recorder
    choices: int = 1
    # Mistral's tool calls: the last delta itself carries the finish reason (and the usage).
    end_on_last_piece: bool = False
    # A real model computes each piece for milliseconds: it is read from a worker thread, not the
    # loop, and told to stop (``cancel``, the prompt's) when the stream ends early.
    blocking: bool = False
    cancel: threading.Event | None = None

    async def next_item(self) -> Item | None:
        return await next_from(self.items, self.blocking)

    def close_items(self) -> None:
        """Stops the engine early (a client that left, an injected fault); a no-op once it has finished."""
        stop_engine(self.items, self.cancel)

    def chunk(
        self, delta: dict[str, Any], finish: str | None, number: int, usage_tokens: int | None = None, index: int = 0
    ) -> bytes:
        """One chunk; ``usage_tokens`` (completion tokens) makes it carry ``usage``."""
        body = {**self.chunk_base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
        if usage_tokens is not None:
            body["usage"] = usage(self.prompt_tokens, usage_tokens)
        body["p"] = _PADDINGS[number % len(_PADDINGS)]
        return _encode(body)

    def usage_only_chunk(self, completion_tokens: int) -> bytes:
        return _encode({**self.chunk_base, "choices": [], "usage": usage(self.prompt_tokens, completion_tokens)})


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class InjectedDisconnect(Exception):
    """Raised inside a response on purpose: uvicorn then closes the connection mid-body."""


def hide_injected_disconnects(record: logging.LogRecord) -> bool:
    """A filter for uvicorn's logger, which reports every exception that ends a response."""
    return not (record.exc_info and isinstance(record.exc_info[1], InjectedDisconnect))


class ClosingStreamingResponse(StreamingResponse):
    """Closes the body generator as soon as the response ends.

    Starlette cancels the task that sends the body when the client disconnects but may leave the
    generator suspended at a ``yield``; closing it here runs its ``finally`` now, not whenever it
    is garbage-collected, so the disconnect is recorded promptly.
    """

    def __init__(
        self, content: AsyncGenerator[bytes, None], *, status_code: int = 200, headers: dict[str, str] | None = None
    ) -> None:
        # Set as a header, not media_type, so Starlette adds no "; charset=utf-8": the live API sends none.
        super().__init__(content, status_code=status_code, headers=headers or {"content-type": "text/event-stream"})
        self._generator = content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._generator.aclose()


_encode = msgspec.json.Encoder().encode
_BATCH_BYTES = 64 * 1024
_ERROR_EVENT = _encode(
    {"object": "error", "message": "Internal server error", "type": "internal_error", "param": None, "code": "3000"}
)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Padding of random-looking but repeatable lengths, like the live service's "p" field.
_PADDINGS = tuple(_ALPHABET[: 1 + (i * 37) % len(_ALPHABET)] for i in range(61))


class EventWriter:
    """Frames data events and collects them until they are worth a write."""

    def __init__(self, *, crlf: bool, keepalive: bool, batched: bool) -> None:
        eol = b"\r\n" if crlf else b"\n"
        self._comment = b": keep-alive" + eol + eol if keepalive else b""
        self._eol = eol
        self._prefix = self._comment + b"data: "
        self._suffix = eol + eol
        self._batched = batched
        self._parts: list[bytes] = []
        self._size = 0

    def data(self, payload: bytes) -> None:
        self._parts += (self._prefix, payload, self._suffix)
        self._size += len(payload)

    def named(self, event: bytes, payload: bytes) -> None:
        """A named event (``event: <name>`` before its data), as conversation streams send."""
        self._parts += (self._comment, b"event: ", event, self._eol, b"data: ", payload, self._suffix)
        self._size += len(payload)

    @property
    def pending(self) -> bool:
        return bool(self._parts)

    @property
    def full(self) -> bool:
        # Unpaced streams go out in large writes: one write per event would cap the server at a
        # fraction of the chunk rate a client benchmark needs.
        return bool(self._parts) and (not self._batched or self._size >= _BATCH_BYTES)

    def take(self) -> bytes:
        joined = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return joined


async def stream_body(stream: AnswerStream) -> AsyncGenerator[bytes, None]:
    faults = stream.faults
    # A model paces itself: its pieces go out as they come, however fast.
    batched = stream.token_delay <= 0 and not stream.blocking
    out = EventWriter(crlf=faults.crlf, keepalive=faults.keepalive, batched=batched)
    sent = 0  # content chunks so far
    complete = False  # everything handed over: a client leaving now has missed nothing
    try:
        if stream.first_token_delay > 0:
            await asyncio.sleep(stream.first_token_delay)
        for index in range(stream.choices):
            out.data(stream.chunk({"role": "assistant", "content": ""}, None, 0, index=index))
        item: Item | None = await stream.next_item()
        finish, finish_sent, usage_sent = Finish("stop"), False, False
        # A lone answer can end on its last content chunk; with several, a Finish may be followed by more.
        can_end_early = stream.choices == 1 and (stream.separate_usage or stream.end_on_last_piece)
        fault_points = {
            point
            for point in (
                faults.stall_after,
                faults.disconnect_after,
                faults.error_event_after,
                faults.finish_error_after,
                faults.malformed_after,
            )
            if point is not None
        }
        open_choices = list(range(stream.choices))
        while item is not None:
            # Faults fire at the point "after N content chunks", before anything else goes out there.
            if faults.malformed_after == sent:
                out.data(b'{"id": "broken')
            if faults.stall_after == sent:
                if out.pending:
                    yield out.take()
                await asyncio.sleep(faults.stall_seconds)
            if faults.error_event_after == sent:
                out.data(_ERROR_EVENT)
                complete = True
                yield out.take()
                return
            if faults.disconnect_after == sent:
                if out.pending:
                    yield out.take()  # the client must get these bytes before the connection drops
                raise InjectedDisconnect(f"x-mock-disconnect-after: {sent}")
            if faults.finish_error_after == sent:
                for index in open_choices[:-1]:
                    out.data(stream.chunk({"content": ""}, "error", sent + 1, index=index))
                finish = Finish("error", open_choices[-1] if open_choices else 0)
                break
            if isinstance(item, Finish) and stream.choices == 1:
                finish = item
                break
            if isinstance(item, Finish):
                following = await stream.next_item()
                if following is None:
                    finish = item
                    break
                # One of several choices is done; the others go on.
                out.data(stream.chunk({"content": ""}, item.reason, sent + 1, index=item.index))
                if item.index in open_choices:
                    open_choices.remove(item.index)
                item = following
                continue
            ending = following = None
            if can_end_early:
                # The next item is read first to know whether this piece is the last one, which holds
                # this piece back for a token's time: only a stream that ends on its last piece does it.
                following = await stream.next_item()
                if following is None:
                    following = Finish("stop")  # an engine that forgot its Finish
                # A fault due right after this piece needs the stream to go on past it.
                if isinstance(following, Finish) and sent + 1 not in fault_points:
                    ending = following
            last_reason = ending.reason if ending is not None else None
            if sent and stream.token_delay > 0:
                await asyncio.sleep(stream.token_delay)
            delta, index = ({"content": item}, 0) if isinstance(item, str) else (item.delta, item.index)
            inline_usage = _tokens(ending, sent + 1) if last_reason is not None and not stream.separate_usage else None
            out.data(stream.chunk(delta, last_reason, sent + 1, inline_usage, index))
            sent += 1
            if out.full:
                yield out.take()
            if ending is not None:
                finish, finish_sent, usage_sent = ending, True, inline_usage is not None
                break
            item = following if can_end_early else await stream.next_item()

        if not usage_sent and sent and stream.token_delay > 0:
            # The finish comes with the end-of-text token: one token's time after the last one.
            if out.pending:
                yield out.take()
            await asyncio.sleep(stream.token_delay)
        if not usage_sent and not stream.separate_usage:
            out.data(
                stream.chunk(
                    {"content": ""}, finish.reason, sent + 1, usage_tokens=_tokens(finish, sent), index=finish.index
                )
            )
        elif not usage_sent:
            if not finish_sent:
                out.data(stream.chunk({"content": ""}, finish.reason, sent + 1, index=finish.index))
            out.data(stream.usage_only_chunk(_tokens(finish, sent)))
        if not faults.no_done:
            out.data(b"[DONE]")
        complete = True
        yield out.take()
    except (asyncio.CancelledError, GeneratorExit):
        if not complete:
            stream.recorder.add_disconnect(stream.record, sent)
        raise
    finally:
        stream.close_items()


def _tokens(finish: Finish | None, pieces: int) -> int:
    """Completion tokens: the engine's own count when it keeps one (a real model), else one per piece."""
    return finish.completion_tokens if finish is not None and finish.completion_tokens is not None else pieces


async def next_from(items: Iterator[T], blocking: bool) -> T | None:
    """The engine's next piece, or ``None`` at its end; a real model's (``blocking``) from a worker
    thread, so the loop keeps serving while it computes."""
    if blocking:
        return await asyncio.to_thread(next, items, None)
    return next(items, None)


def stop_engine(items: Iterator[Any], cancel: threading.Event | None) -> None:
    """Stop an engine early (a client that left, an injected fault); a no-op once it has finished."""
    if cancel is not None:
        cancel.set()
    try:
        close = getattr(items, "close", None)
        if close is not None:
            close()
    except ValueError:
        pass  # a generator still running in the worker thread: the cancel event stops its engine
