"""Stage 1 of the stream pipeline: bytes -> server-sent events.

A sans-IO decoder for the WHATWG "text/event-stream" format, fed with whatever the socket returned.

Why not httpx2's ``EventSource``: it decodes every read to ``str`` before splitting lines, keeps a
BOM as part of the first field name (losing the first event), dispatches ``event:`` lines that carry
no data, and accepts ``retry`` values in non-ASCII digits.  This decoder works on bytes, so the JSON
payload reaches msgspec without a decode/encode round trip; ``bench/sse_decoders.py`` keeps the
measurement and ``tests/pipeline/test_sse.py`` the vectors where the two differ.
"""

from __future__ import annotations

__all__ = ["EventTooLargeError", "SSEDecoder", "ServerSentEvent"]

_BOM = b"\xef\xbb\xbf"


class EventTooLargeError(ValueError):
    """One event grew past the decoder's ``max_event_size``.

    ``events`` holds the events that the same read completed before it, so none is lost.
    """

    def __init__(self, message: str, events: list[ServerSentEvent]) -> None:
        super().__init__(message)
        self.events = events


class ServerSentEvent:
    """One dispatched event.  ``raw`` is the data as bytes (lines joined by ``\\n``)."""

    __slots__ = ("event", "id", "raw", "retry")

    def __init__(self, raw: bytes, event: str = "message", id: str = "", retry: int | None = None) -> None:
        self.raw = raw
        self.event = event
        self.id = id
        self.retry = retry

    @property
    def data(self) -> str:
        # Invalid UTF-8 becomes U+FFFD, as the standard asks, instead of an exception.
        return self.raw.decode("utf-8", "replace")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.raw, self.event, self.id, self.retry) == (other.raw, other.event, other.id, other.retry)

    def __hash__(self) -> int:
        return hash((self.raw, self.event, self.id, self.retry))

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"


class SSEDecoder:
    """Feed it bytes in reads of any size; it returns the events each read completes.

    ``max_event_size`` caps the bytes one event may buffer (``None``: no cap), so a hostile or
    broken server cannot make the client hold an unbounded event in memory.
    """

    def __init__(self, max_event_size: int | None = None) -> None:
        self.max_event_size = max_event_size
        self.last_event_id = ""
        self._id_buffer = ""
        self.retry: int | None = None
        self._head: bytes | None = b""  # bytes held until we know whether the stream opens with a BOM
        self._skip_lf = False  # the previous read ended in CR: a LF opening this one ends no line
        self._pending: list[bytes] = []  # pieces of the line not yet terminated
        self._pending_size = 0
        self._event_size = 0
        self._data: list[bytes] = []
        self._event = b""
        self._too_large = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._too_large:
            return []  # the rest of an oversize event would come out as bogus events
        if (
            not self._event_size  # no event in progress: nothing pending, no data, no event name
            and self._head is None
            and not self._skip_lf
            and chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
            and (self.max_event_size is None or len(chunk) - 2 <= self.max_event_size)
        ):
            # A live stream's usual read: exactly one event of one data line.  The line-by-line
            # path below gives the same event; this one skips its bookkeeping.
            self.last_event_id = self._id_buffer
            return [ServerSentEvent(chunk[6:-2], "message", self.last_event_id, self.retry)]
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._head = chunk
                return []
            self._head = None
            if chunk.startswith(_BOM):
                chunk = chunk[3:]
        if self._skip_lf and chunk:  # an empty read says nothing about the byte after the CR
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            self._skip_lf = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

        if b"\n" not in chunk:
            if chunk:
                self._pending.append(chunk)
                self._pending_size += len(chunk)
                self._event_size += len(chunk)
                self._check_size([])
            return []

        lines = chunk.split(b"\n")
        tail = lines.pop()
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = b"".join(self._pending)
            self._pending = []
            self._event_size -= self._pending_size  # the whole line is counted in the loop below
            self._pending_size = 0

        events: list[ServerSentEvent] = []
        cap = self.max_event_size
        data = self._data
        for line in lines:
            if not line:
                self.last_event_id = self._id_buffer
                if data:
                    raw = data[0] if len(data) == 1 else b"\n".join(data)
                    event = self._event.decode("utf-8", "replace") if self._event else "message"
                    events.append(ServerSentEvent(raw, event, self.last_event_id, self.retry))
                    data = self._data = []
                self._event = b""
                self._event_size = 0
                continue
            self._event_size += len(line)
            if cap is not None and self._event_size > cap:
                self._check_size(events)  # before the blank line that would dispatch it
            if line[:5] == b"data:":
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line[:1] != b":":
                self._field(line)
        if tail:
            self._pending.append(tail)
            self._pending_size = len(tail)
            self._event_size += len(tail)
            if cap is not None and self._event_size > cap:
                self._check_size(events)
        return events

    def end(self) -> list[ServerSentEvent]:
        """The stream ended.  An event without its closing blank line is discarded (WHATWG)."""
        self._pending = []
        self._pending_size = 0
        self._data = []
        self._event = b""
        self._event_size = 0
        return []

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":  # "data" with no colon: an empty data line
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id":
            if b"\0" not in value:
                # The buffer outlives the event; it becomes the last event ID only when one dispatches.
                self._id_buffer = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value and value.isdigit():  # bytes.isdigit() is ASCII-only, as the standard wants
                self.retry = int(value)
        # any other field is ignored

    def _check_size(self, events: list[ServerSentEvent]) -> None:
        if self.max_event_size is not None and self._event_size > self.max_event_size:
            size = self._event_size
            self.end()
            self._too_large = True
            message = f"a server-sent event exceeded {self.max_event_size} bytes ({size} so far)"
            raise EventTooLargeError(message, events)
