"""Text deltas joined for UIs that re-render: ``Coalescer`` says when the joined text is due.

A UI that redraws per token at 100 tokens/s spends its time redrawing; ``buffered`` hands it text
in pieces of at least ``min_chars``, and never holds text longer than ``max_delay`` seconds.  No I/O:
the sync and async ``buffered`` readers (``_backends.py``) both use it.
"""

from __future__ import annotations

from .._exceptions import InvalidRequestError

__all__ = ["Coalescer"]


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
