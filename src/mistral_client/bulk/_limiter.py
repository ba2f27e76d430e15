"""How many requests the direct engine keeps in flight: additive increase, multiplicative decrease.

The limit grows by one for every ``limit`` answers that succeed (one a round trip) and halves on a
429 or a 503, at most once per round trip (the requests already in flight when it halves were sent
under the old limit, so their refusals are the same news).  A ``Retry-After`` holds every new
request back until it has passed.  ``x-ratelimit-remaining-req-minute`` caps the limit at what the
minute has left, so a run that reaches the service's limit sends one request into it, not ``limit``.
"""

from __future__ import annotations

import asyncio
import time

import httpx2

from .._retry import retry_after

__all__ = ["AIMDLimiter"]

_THROTTLED = frozenset({429, 503})


class AIMDLimiter:
    def __init__(self, initial: int, maximum: int) -> None:
        if maximum < 1:
            raise ValueError("maximum must be >= 1")
        self.maximum = maximum
        self.limit = float(min(max(initial, 1), maximum))
        self.in_flight = 0
        self.decreases = 0
        self.throttled = 0  # answers that said to slow down
        self._epoch = 0  # bumped on each decrease
        self._paused_until = 0.0  # time.monotonic()
        self._changed = asyncio.Condition()

    @property
    def current(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> int:
        """Wait for room; returns the epoch the request is sent in (give it to ``observe``)."""
        async with self._changed:
            while True:
                wait = self._paused_until - time.monotonic()
                if wait > 0:
                    try:
                        await asyncio.wait_for(self._changed.wait(), wait)
                    except (TimeoutError, asyncio.TimeoutError):
                        pass
                    continue
                if self.in_flight < self.current:
                    self.in_flight += 1
                    return self._epoch
                await self._changed.wait()

    async def release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def observe(self, response: httpx2.Response, epoch: int) -> None:
        """Read one answer (each attempt's, retries included): grow, or back off."""
        status = response.status_code
        headers = response.headers
        if status in _THROTTLED:
            self.throttled += 1
            advised = retry_after(headers)
            if advised:
                self._paused_until = max(self._paused_until, time.monotonic() + advised)
            if epoch == self._epoch:
                self.limit = max(1.0, self.limit / 2)
                self._epoch += 1
                self.decreases += 1
            return
        if not 200 <= status < 300:
            return
        remaining = _int(headers.get("x-ratelimit-remaining-req-minute"))
        if remaining is not None and remaining < self.limit:
            self.limit = float(max(1, remaining))
            return
        self.limit = min(float(self.maximum), self.limit + 1.0 / self.limit)

    async def wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
