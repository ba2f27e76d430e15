"""The stream's lifecycle (I/O-free)."""

from __future__ import annotations

from ._exceptions import MistralError

__all__ = ["StreamConsumedError"]


class StreamConsumedError(MistralError, RuntimeError):
    """A stream is read once; iterating it again after it ended or was closed is a mistake."""
