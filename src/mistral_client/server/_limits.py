"""Requests and tokens over a sliding minute (the x-ratelimit-* headers, refusals past a limit); the body cap."""

from __future__ import annotations

import math
import time
from collections import deque

__all__ = ["DEFAULT_MAX_BODY_SIZE", "RateWindow"]

_MINUTE = 60.0
# The largest request body served; a larger one gets 413 before anything else looks at it. The live
# API's cap is not published: 10 MiB holds the longest context (256k tokens, about 1 MB of text)
# several times over, and a few images sent inline as base64 data URLs.
DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024


class RateWindow:
    """What was spent in the last minute, overall and per ``x-mock-id``."""

    def __init__(self, requests_per_minute: int, tokens_per_minute: int) -> None:
        self.limits = (requests_per_minute, tokens_per_minute)
        self._spent: deque[tuple[float, int, int]] = deque()  # (monotonic time, requests, tokens)
        self._requests_by_id: dict[str, deque[float]] = {}

    def spend(self, *, requests: int = 0, tokens: int = 0, mock_id: str | None = None) -> None:
        now = time.monotonic()
        self._spent.append((now, requests, tokens))
        if requests and mock_id is not None:
            self._requests_by_id.setdefault(mock_id, deque()).append(now)

    def retry_after(self, limit: int, mock_id: str | None = None) -> int | None:
        """Whole seconds until one more request fits under ``limit``; None when it fits now."""
        now = time.monotonic()
        self._forget(now)
        times = (
            self._requests_by_id.get(mock_id, deque())
            if mock_id is not None
            else deque(t for t, requests, _ in self._spent for _ in range(requests))
        )
        if len(times) < limit:
            return None
        if limit == 0 or not times:
            return math.ceil(_MINUTE)
        # The request that has to leave the window before one more fits.
        oldest = times[len(times) - limit]
        return max(1, math.ceil(oldest + _MINUTE - now))

    def remaining(self, limit: int, mock_id: str | None = None) -> int:
        """Requests that still fit under ``limit`` this minute (counting only ``mock_id``'s when given)."""
        self._forget(time.monotonic())
        return max(0, limit - self._requests(mock_id))

    def headers(self, request_limit: int | None = None, mock_id: str | None = None) -> list[tuple[bytes, bytes]]:
        self._forget(time.monotonic())
        default_request_limit, token_limit = self.limits
        if request_limit is None:
            request_limit = default_request_limit
        tokens = sum(spent[2] for spent in self._spent)
        return [
            (b"x-ratelimit-limit-req-minute", b"%d" % request_limit),
            (b"x-ratelimit-remaining-req-minute", b"%d" % max(0, request_limit - self._requests(mock_id))),
            (b"x-ratelimit-limit-tokens-minute", b"%d" % token_limit),
            (b"x-ratelimit-remaining-tokens-minute", b"%d" % max(0, token_limit - tokens)),
        ]

    def _requests(self, mock_id: str | None) -> int:
        if mock_id is not None:
            return len(self._requests_by_id.get(mock_id, ()))
        return sum(spent[1] for spent in self._spent)

    def _forget(self, now: float) -> None:
        while self._spent and self._spent[0][0] < now - _MINUTE:
            self._spent.popleft()
        for mock_id, times in list(self._requests_by_id.items()):
            while times and times[0] < now - _MINUTE:
                times.popleft()
            if not times:  # every x-mock-id a client ever made up would otherwise stay forever
                del self._requests_by_id[mock_id]
