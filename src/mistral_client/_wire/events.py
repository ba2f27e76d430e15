"""What every named-event stream's events share (conversations, transcriptions, speech...).

The API names each event twice: ``event: <type>`` on the wire and a ``type`` field in its data.
Each family declares one Struct per type on ``StreamEvent``; a type the client does not know
arrives as an ``UnknownEvent`` holding its data, never as an error (the API adds event types).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["StreamEvent", "UnknownEvent"]


class StreamEvent(msgspec.Struct, kw_only=True):
    """One event of a stream.  ``event_latency`` and ``total_latency`` are set by the client, not sent."""

    type: str = ""
    event_latency: float = 0.0  # seconds since the previous event (or since the request, for the first)
    total_latency: float = 0.0  # seconds since the request


class UnknownEvent(StreamEvent, kw_only=True):
    """An event of a type this client does not know: its decoded JSON data (or text, if not JSON)."""

    data: Any = None
