"""The stream's lifecycle as one explicit state (I/O-free, as h11 keeps a connection's).

A stream is used by its reader (the caller's loop) and may be stopped from elsewhere: ``cancel()``
from any thread, the total deadline's timer.  Every change of state goes through ``Lifecycle.to``
under the stream's lock, and a change this diagram does not allow raises ``LifecycleError`` (a bug,
never the caller's doing), so what a cancel from another thread can meet is this table, not a
dozen methods' reading of six flags::

    NEW ──send──► SENDING ──answered (2xx)──► OPEN ──deadline──► EXPIRED
     ▲               │   │                     │                    │
     └──send failed──┘   └───────cancel────────┴──► CANCELLED ◄─────┘ cancel

    any state but CLOSED ──the end, a failure, close(); cancel() before the first use──► CLOSED

- ``NEW``: made, nothing sent.  A ``cancel()`` here closes it: it is never sent (``result.cancelled``).
- ``SENDING``: first used; the request is on its way.  A ``cancel()`` meanwhile makes it
  ``CANCELLED``, and the socket is cut as soon as the answer comes.
- ``OPEN``: the body is being read (or waits to be); the decoder says how far it got.
- ``CANCELLED``: ``cancel()`` was called; the socket is cut (unless the answer was already whole),
  and the reader stops quietly at its next step.
- ``EXPIRED``: the total deadline passed before the answer was whole; the socket is cut, and the
  reader raises ``StreamTimeoutError`` with what it had delivered.
- ``CLOSED``: final; the response is closed and the result is final.

``cancel_asked`` remembers that ``cancel()`` was called, whatever the state (``stream.cancelled``).
"""

from __future__ import annotations

import enum

from .._exceptions import MistralError

__all__ = ["Lifecycle", "LifecycleError", "State", "StreamConsumedError"]


class StreamConsumedError(MistralError, RuntimeError):
    """A stream is read once; iterating it again after it ended or was closed is a mistake."""


class LifecycleError(RuntimeError):
    """A change of state the diagram does not allow: a bug in the stream, not the caller's doing."""


class State(enum.Enum):
    NEW = "new"
    SENDING = "sending"
    OPEN = "open"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    CLOSED = "closed"


_ALLOWED: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.SENDING, State.CLOSED}),
    State.SENDING: frozenset({State.OPEN, State.NEW, State.CANCELLED, State.CLOSED}),
    State.OPEN: frozenset({State.CANCELLED, State.EXPIRED, State.CLOSED}),
    State.CANCELLED: frozenset({State.CLOSED}),
    State.EXPIRED: frozenset({State.CANCELLED, State.CLOSED}),
    State.CLOSED: frozenset(),
}


class Lifecycle:
    """Where a stream is in the diagram above; changed only through ``to``, under the stream's lock."""

    __slots__ = ("cancel_asked", "state")

    def __init__(self) -> None:
        self.state = State.NEW
        self.cancel_asked = False

    def to(self, new: State) -> None:
        if new not in _ALLOWED[self.state]:
            raise LifecycleError(f"a stream cannot go from {self.state.name} to {new.name}")
        self.state = new

    # The events, each one change (or none) of the diagram.

    def send(self) -> bool:
        """First use: NEW -> SENDING.  False when there is nothing to send (already sent, or closed)."""
        if self.state is not State.NEW:
            return False
        self.to(State.SENDING)
        return True

    def send_failed(self) -> None:
        """No answer came: back to NEW (it may be sent again), or CLOSED if it was cancelled meanwhile."""
        if self.state is State.SENDING:
            self.to(State.NEW)
        elif self.state is not State.CLOSED:
            self.to(State.CLOSED)

    def answered(self) -> bool:
        """A 2xx answer came: SENDING -> OPEN.  False if it was cancelled or closed on the way: cut it."""
        if self.state is not State.SENDING:
            return False
        self.to(State.OPEN)
        return True

    def cancel(self) -> State:
        """``cancel()``: the state it met.  A stream never sent closes (NEW -> CLOSED); a live one is
        CANCELLED; a closed one stays closed."""
        self.cancel_asked = True
        met = self.state
        if met is State.NEW:
            self.to(State.CLOSED)
        elif met is not State.CLOSED and met is not State.CANCELLED:
            self.to(State.CANCELLED)
        return met

    def expire(self) -> bool:
        """The total deadline passed: OPEN -> EXPIRED.  False in any other state (nothing to stop)."""
        if self.state is not State.OPEN:
            return False
        self.to(State.EXPIRED)
        return True

    def close(self) -> bool:
        """The end, a failure, ``close()``: -> CLOSED.  False if it was closed already."""
        if self.state is State.CLOSED:
            return False
        self.to(State.CLOSED)
        return True

    def __repr__(self) -> str:
        return f"<Lifecycle {self.state.name}{' cancel asked' if self.cancel_asked else ''}>"
