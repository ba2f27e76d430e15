"""When to try a request again, and how long to wait first.

Only what cannot have produced tokens is retried: a connection that failed before an answer, and the
statuses the API uses for transient trouble.  Once a stream's body has started, nothing is retried:
the caller already holds part of an answer, and a second one would bill twice and differ.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from time import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2

__all__ = ["RETRY_STATUSES", "backoff", "retry_after"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
MAX_RETRY_AFTER = 60.0  # a server asking for longer is not waited for: the error is raised at once


def retry_after(headers: httpx2.Headers) -> float | None:
    """The wait the server advised, in seconds (``retry-after-ms``, then ``Retry-After``)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(float(value) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time(), 0.0)
    except (TypeError, ValueError, IndexError):
        return None


def backoff(attempt: int, headers: httpx2.Headers | None) -> float | None:
    """Seconds to wait before retry number ``attempt + 1``; ``None``: do not retry.

    A server that asks for more than ``MAX_RETRY_AFTER`` gets no early retry (it would only be
    refused again): the caller gets the error, with ``retry_after``, and decides.
    """
    advised = retry_after(headers) if headers is not None else None
    if advised is not None:
        return advised if advised <= MAX_RETRY_AFTER else None
    # Exponential with jitter, so that many clients failing together do not retry together.
    delay = min(INITIAL_BACKOFF * 2.0**attempt, MAX_BACKOFF)
    return delay * (1.0 - 0.25 * random.random())
