"""The body of a streamed conversation answer: named events, pacing and the chat stream's faults.

Each event goes out as ``event: <type>`` and ``data: {...}`` (the spec's ``ConversationEvents``);
there is no ``[DONE]``: ``conversation.response.done`` ends the stream. The faults count delta
events (``message.output.delta``, ``function.call.delta``, ``tool.execution.delta``) as chat's count
content chunks; a fault due after the last delta fires before ``conversation.response.done``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from ._agent_store import now
from ._conversation_engine import DELTA_EVENTS
from ._engine import EngineBusy
from ._knobs import StreamFaults
from ._records import Recorder, RequestRecord
from ._stream import EventWriter, InjectedDisconnect, next_from, stop_engine

__all__ = ["ConversationEventStream", "conversation_body", "error_event"]

_encode = msgspec.json.Encoder().encode
_DONE = "conversation.response.done"
_ERROR = b"conversation.response.error"
_NAMES = {name: name.encode() for name in (*DELTA_EVENTS, _DONE)}


def error_event(created_at: str, message: str = "Internal server error", code: int = 3000) -> bytes:
    """An error event (a ResponseErrorEvent); by default the live service's internal error, which a fault sends."""
    return _encode({"type": "conversation.response.error", "created_at": created_at, "message": message, "code": code})


@dataclass
class ConversationEventStream:
    events: Iterator[dict[str, Any]]  # the turn's events, started to done (see _conversation_engine)
    faults: StreamFaults
    first_token_delay: float
    token_delay: float
    record: RequestRecord
    recorder: Recorder
    # A real model computes each token for milliseconds: the events are read from a worker thread.
    blocking: bool = False
    cancel: threading.Event | None = None
    # Called as the turn's last event is about to go out (not when a fault cuts the stream first):
    # a client that has seen ``conversation.response.done`` finds the turn stored.
    on_done: Callable[[], None] | None = None

    async def next_event(self) -> dict[str, Any] | None:
        return await next_from(self.events, self.blocking)

    def close(self) -> None:
        stop_engine(self.events, self.cancel)


async def conversation_body(stream: ConversationEventStream) -> AsyncGenerator[bytes, None]:
    faults = stream.faults
    out = EventWriter(
        crlf=faults.crlf, keepalive=faults.keepalive, batched=stream.token_delay <= 0 and not stream.blocking
    )
    sent = 0  # delta events so far
    fired = -1  # the point whose faults have fired
    complete = False
    try:
        if stream.first_token_delay > 0:
            await asyncio.sleep(stream.first_token_delay)
        while True:
            try:
                event = await stream.next_event()
            except EngineBusy:
                # A real model's queue was full when the text was due: the stream has begun, so the
                # refusal (a 429 before a stream) is an error event with the rate limit's code.
                out.named(_ERROR, error_event(now(), "server busy: model queue full", 1300))
                complete = True
                yield out.take()
                return
            if event is None:
                break
            kind = event["type"]
            if (kind in DELTA_EVENTS or kind == _DONE) and fired < sent:
                fired = sent
                if faults.malformed_after == sent:
                    out.named(_NAMES.get(kind) or kind.encode(), b'{"id": "broken')
                if faults.stall_after == sent:
                    if out.pending:
                        yield out.take()
                    await asyncio.sleep(faults.stall_seconds)
                if faults.error_event_after == sent:
                    out.named(_ERROR, error_event(event.get("created_at", "")))
                    complete = True
                    yield out.take()
                    return
                if faults.disconnect_after == sent:
                    if out.pending:
                        yield out.take()  # the client must get these bytes before the connection drops
                    raise InjectedDisconnect(f"x-mock-disconnect-after: {sent}")
            if kind in DELTA_EVENTS:
                if sent and stream.token_delay > 0:
                    await asyncio.sleep(stream.token_delay)
                sent += 1
            if kind == _DONE and stream.on_done is not None:
                stream.on_done()
            if kind == _DONE and faults.no_done:
                continue
            out.named(_NAMES.get(kind) or kind.encode(), _encode(event))
            if out.full:
                yield out.take()
        complete = True
        if out.pending:
            yield out.take()
    except (asyncio.CancelledError, GeneratorExit):
        if not complete:
            stream.recorder.add_disconnect(stream.record, sent)
        raise
    finally:
        stream.close()
