"""When to try a request again, and how long to wait first.

Only what cannot have produced tokens is retried: the statuses the API uses for transient trouble
(429, 500, 502, 503, 504: an answer that says no generation happened), and the transport failures
below in which the request cannot have reached the model.  Once a stream's body has started,
nothing is retried: the caller already holds part of an answer, and a second one would bill twice
and differ.

Transport failures, by what the server can have seen of the request (``transport_retryable``):

- Cannot have reached the model, retried:
  the connection was never made (refused, unreachable, a DNS or TLS handshake failure: ``ConnectError``;
  longer than ``Timeout.connect``: ``ConnectTimeout``), or it broke, closed or timed out while the
  request was still being written.  A server acts on a request only once it has all of it (the
  body is one JSON document), and it did not.
- May have reached the model, not retried:
  the request was sent in full, and then the connection closed or was reset before the answer's
  head (``RemoteProtocolError``, ``ReadError``), or no answer came within ``Timeout.read``
  (``ReadTimeout``).  The server may be generating, or may have generated and lost the connection:
  a second request could pay for the answer twice.
- Never retried for other reasons: a request httpx2 refuses to send (``LocalProtocolError``,
  ``UnsupportedProtocol``) fails the same way again, and a wait for a free pooled connection
  (``PoolTimeout``) is bounded by the total deadline, which has then passed.

"Sent in full" means the transport handed the request's last byte to the operating system.  The
transports say when: httpx2's (httpcore2's) ``trace`` extension reports ``send_request_body.complete``,
and ``_transport/http11.py`` reports the same event once its write is flushed.  A reset that arrives after
that counts as "may have reached" even if the server read only part of the request: TCP does not
tell the client how much of it the server's application read.  A transport that reports nothing
(a custom one passed as ``http_client``) is judged by the error alone: connect and write errors
are retried, read errors are not.
"""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from time import time

import httpx2

__all__ = ["RETRY_STATUSES", "SentInFull", "backoff", "retry_after", "retry_delay", "transport_retryable"]

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


def retry_delay(
    retryable: bool, attempt: int, retries: int, deadline: float | None, headers: httpx2.Headers | None, now: float
) -> float | None:
    """Seconds to wait before sending again after a failed attempt; ``None``: raise the failure.

    The one retry decision both send loops use.  ``attempt`` counts from 0; ``deadline`` and ``now``
    are ``perf_counter`` times; ``headers`` are those of a refused answer (``None`` after a transport failure).
    """
    if not retryable or attempt >= retries:
        return None
    delay = backoff(attempt, headers)
    if delay is None:
        return None  # the server asked for a longer wait than a retry should make the caller sit through
    if deadline is not None and now + delay >= deadline:
        return None  # the wait would outlast the deadline: the real cause is more useful
    return delay


class SentInFull:
    """Listens to the transport's ``trace`` events for one request: was the request sent in full?

    ``trace`` is the callback for a sync transport, ``atrace`` for an async one (httpcore2 awaits it).
    """

    __slots__ = ("full", "traced")

    def __init__(self) -> None:
        self.traced = False  # the transport reported anything at all
        self.full = False

    def trace(self, event: str, info: object) -> None:
        self.traced = True
        if event.endswith(".send_request_body.complete"):  # http11. or http2.
            self.full = True

    async def atrace(self, event: str, info: object) -> None:
        self.trace(event, info)


_NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout)
_NOT_SENT_IN_FULL = (httpx2.WriteError, httpx2.WriteTimeout)
_MAY_BE_SENT = (httpx2.ReadError, httpx2.ReadTimeout, httpx2.RemoteProtocolError)


def transport_retryable(exc: httpx2.HTTPError, sent: SentInFull) -> bool:
    """True if ``exc``, raised before any answer, cannot have let the request reach the model."""
    if isinstance(exc, _NEVER_SENT):
        return True
    if not isinstance(exc, (*_NOT_SENT_IN_FULL, *_MAY_BE_SENT)):
        return False  # our own request refused by httpx2, a pool timeout: see the module's docstring
    if sent.traced:
        return not sent.full
    return isinstance(exc, _NOT_SENT_IN_FULL)
