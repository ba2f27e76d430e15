"""Stage 2 for named-event streams: server-sent events -> typed events -> an accumulated result.

Chat streams send unnamed events of one shape; the conversations and audio APIs name each event
(``event: message.output.delta``) and give each name its own shape.  A family declares its table
once (``EventKinds``: name -> Struct, which names end the stream, which report a failure) and an
``EventResult`` subclass that assembles what the events carry; ``EventDecoder`` does the rest, as
``ChunkDecoder`` does for chat: latencies, the end, a failure raised only after everything before
it was handed out, the partial result on every error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from .._wire.events import StreamEvent, UnknownEvent
from .decoding import StreamDecoder, excerpt
from .sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    import httpx2

__all__ = ["EventDecoder", "EventKinds", "EventResult"]

_BAD_JSON = (msgspec.DecodeError, UnicodeDecodeError)
_DONE = b"[DONE]"


class _Typed(msgspec.Struct):
    type: Any = None


_peek_type = msgspec.json.Decoder(_Typed).decode


class EventKinds:
    """A family's event table: ``kinds`` maps each event name to its Struct; ``end`` names the events
    after which the stream is whole; ``errors`` those that report a failure (``error`` always does)."""

    def __init__(
        self, kinds: Mapping[str, type[StreamEvent]], *, end: Collection[str], errors: Collection[str] = ()
    ) -> None:
        self.kinds = dict(kinds)
        self.decoders = {name: msgspec.json.Decoder(kind).decode for name, kind in kinds.items()}
        self.end = frozenset(end)
        self.errors = frozenset(errors) | {"error"}


R = TypeVar("R", bound="EventResult")


class EventResult:
    """What a named-event stream delivered: its events (unless not kept) and timings.

    A family's subclass assembles what the events carry in ``apply``.  ``time_to_first_event`` runs
    from the call to the first event; ``total_latency`` to the end of the stream; ``cancelled`` is
    true when the caller stopped the stream before its last event.
    """

    def __init__(self, *, keep_events: bool = True) -> None:
        # ``None``, not ``[]``, when events are not kept: "none kept" must not read as "none arrived".
        self.events: list[StreamEvent] | None = [] if keep_events else None
        self.event_count = 0
        self.time_to_first_event: float | None = None
        self.total_latency: float | None = None
        self.cancelled = False

    def add(self, event: StreamEvent) -> None:
        self.event_count += 1
        if self.time_to_first_event is None:
            self.time_to_first_event = event.total_latency
        if self.events is not None:
            self.events.append(event)
        self.apply(event)

    def apply(self, event: StreamEvent) -> None:
        """Assemble what ``event`` carries (a subclass's work)."""

    @property
    def text(self) -> str:
        """The text the stream carried so far (a subclass says which)."""
        return ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} events={self.event_count} cancelled={self.cancelled}>"


class EventDecoder(StreamDecoder[StreamEvent, R], Generic[R]):
    """Feed it the body of a named-event stream, one read at a time; it returns the typed events."""

    def __init__(
        self,
        started: float,
        kinds: EventKinds,
        result: R,
        *,
        max_event_size: int | None = None,
        request: httpx2.Request | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(started, result, request=request, request_id=request_id)
        self._kinds = kinds
        self._sse = SSEDecoder(max_event_size)
        self._last = started
        self._error_event: StreamEvent | None = None

    def feed(self, data: bytes) -> list[StreamEvent]:
        if self.done or self.failed:
            return []
        events, too_large = self._events(data)
        out: list[StreamEvent] = []
        for sse in events:
            if self._take(sse, out):
                break
        if too_large is not None and not (self.done or self.failed):
            self._fail(str(too_large))
        self._returned += len(out)
        return out

    def eof(self) -> list[StreamEvent]:
        """The body ended: without the last event, the stream is broken."""
        if not (self.done or self.failed):
            self._sse.end()
            ends = " or ".join(sorted(self._kinds.end))
            self._fail(f"the connection closed before the stream finished (no {ends} event)")
        return []

    def received(self) -> str:
        return f"{self._delivered} events ({len(self.result.text)} characters of text)"

    def _before_error(self) -> None:
        if self._error_event is not None:
            self.result.add(self._error_event)  # not handed out, but it arrived: it belongs in the partial

    def _take(self, sse: ServerSentEvent, out: list[StreamEvent]) -> bool:
        """Decode one event into ``out``; true when the stream stops here (its end, or a failure)."""
        raw, name = sse.raw, sse.event
        if name == "message":  # no ``event:`` line: the data's ``type`` names it
            if raw == _DONE or (len(raw) < 16 and raw.strip() == _DONE):
                self.done = True  # the server says it is finished
                return True
            try:
                named = _peek_type(raw).type
            except _BAD_JSON:
                self._fail(f"malformed event in the stream: {excerpt(raw)}")
                return True
            name = named if isinstance(named, str) and named else "message"
        kinds = self._kinds
        decode = kinds.decoders.get(name)
        event: StreamEvent
        if decode is None:
            event = _unknown(name, raw)
        else:
            try:
                event = decode(raw)
            except _BAD_JSON:
                try:
                    # Invalid UTF-8 inside a JSON string is replaced (U+FFFD) instead of failing the stream.
                    event = decode(raw.decode("utf-8", "replace"))
                except _BAD_JSON:
                    self._fail(f"malformed {name} event in the stream: {excerpt(raw)}")
                    return True
        if not event.type:
            event.type = name
        now = perf_counter()
        event.event_latency = now - self._last
        event.total_latency = now - self.started
        self._last = now
        if name in kinds.errors:
            self._error_event = event
            self._fail_with_body(raw)
            return True
        out.append(event)
        if name in kinds.end:
            self.done = True
            self._last_at = self._returned + len(out)
            return True
        return False


def _unknown(name: str, raw: bytes) -> UnknownEvent:
    data: Any
    try:
        data = msgspec.json.decode(raw)
    except _BAD_JSON:
        data = raw.decode("utf-8", "replace")
    return UnknownEvent(type=name, data=data)
