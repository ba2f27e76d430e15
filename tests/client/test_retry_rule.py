"""The retry rule for transport failures: only what cannot have reached the model is sent again.

Cannot have reached it (retried): the connection was never made (refused, connect timeout), or it
failed while the request was still being written.  May have reached it (not retried): the request
was sent in full, then the connection closed or was reset, or stayed silent past the read timeout.

Every case through the sync client (httpx2's transport) and the async one (``_transport/http11.py``), with
``max_retries=1``: a retry shows as a second request on the raw server, and as the one INFO line
the client logs before it (the only count there is when no server accepts).
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from mistral_client import APIConnectionError, APITimeoutError, Mistral, Timeout, user
from tests.client.test_faults import _free_port, attempt
from tests.support.helpers import HI, MODEL
from tests.support.rawserver import RawConnection, RawServer, full_accept_queue

BIG = 16 * 1024 * 1024  # far more than the kernel buffers hold while the server reads nothing


def _reset(conn: RawConnection) -> None:
    # SO_LINGER 0: close() sends a RST instead of a FIN.
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()


def _reset_once_all_arrived(conn: RawConnection) -> None:
    # The whole request is in the server's kernel buffer (so the client's write is done), but the
    # server reads none of its body before resetting: the client cannot tell this from a reset after
    # reading it, and a reset after reading it may have started the model.
    length = int(conn.request.headers["content-length"]) - len(conn.request.body)
    if length:
        conn.sock.recv(length, socket.MSG_PEEK | socket.MSG_WAITALL)
    _reset(conn)


@contextmanager
def _served(handler: Callable[[RawConnection], None], **options: Any) -> Iterator[tuple[str, Callable[[], int]]]:
    with RawServer(handler, **options) as raw:
        yield raw.base_url, lambda: len(raw.connections)


@contextmanager
def _refused() -> Iterator[tuple[str, Callable[[], int]]]:
    yield f"http://127.0.0.1:{_free_port()}", lambda: -1


@contextmanager
def _full_accept_queue() -> Iterator[tuple[str, Callable[[], int]]]:
    with full_accept_queue() as base_url:
        yield base_url, lambda: -1


# name, the other end, request size, retried, the error after the last attempt
CASES: list[tuple[str, Callable[[], Any], int, bool, type[Exception]]] = [
    ("refused", _refused, 0, True, APIConnectionError),
    ("connect timeout", _full_accept_queue, 0, True, APITimeoutError),
    (
        "reset before the request was sent in full",
        lambda: _served(_reset, read_body=False, receive_buffer=4096),
        BIG,
        True,
        APIConnectionError,
    ),
    (
        "reset after the request was sent, unread",
        lambda: _served(_reset_once_all_arrived, read_body=False),
        0,
        False,
        APIConnectionError,
    ),
    ("reset after the request was read", lambda: _served(_reset), 0, False, APIConnectionError),
    ("closed after the request was read", lambda: _served(lambda c: c.sock.close()), 0, False, APIConnectionError),
    ("read timeout", lambda: _served(lambda c: c.wait_client_close(30)), 0, False, APITimeoutError),
]


@pytest.mark.parametrize(("case", "other_end", "size", "retried", "cls"), CASES, ids=[c[0] for c in CASES])
def test_the_retry_rule(
    kind: str,
    caplog: pytest.LogCaptureFixture,
    case: str,
    other_end: Callable[[], Any],
    size: int,
    retried: bool,
    cls: type[Exception],
) -> None:
    caplog.set_level(logging.INFO, logger="mistral_client")
    messages = [user("x" * size if size else "Say hello")]
    client_kw = {"max_retries": 1, "timeout": Timeout(connect=0.3, read=0.5)}
    with other_end() as (base_url, requests):
        outcome = attempt(kind, base_url, client_kw, model=MODEL, messages=messages)
        served = requests()
    assert type(outcome.error) is cls, outcome.error
    assert outcome.error.partial is None
    logged = [r for r in caplog.records if r.name == "mistral_client" and r.getMessage().startswith("retrying")]
    assert len(logged) == (1 if retried else 0), [r.getMessage() for r in logged]
    if served >= 0:  # a server that accepted counts the requests it got
        assert served == (2 if retried else 1)
    assert outcome.elapsed < 10


class _Silent(httpx2.BaseTransport):
    """httpx2's transport, minus the ``trace`` extension: a transport that says nothing of what it sent."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.extensions = {k: v for k, v in request.extensions.items() if k != "trace"}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@pytest.mark.parametrize(
    ("case", "other_end", "retried"),
    [
        ("refused", _refused, True),
        ("closed after the request was read", lambda: _served(lambda c: c.sock.close()), False),
    ],
    ids=["refused", "closed after the request was read"],
)
def test_a_transport_that_reports_nothing_is_judged_by_the_error(
    caplog: pytest.LogCaptureFixture, case: str, other_end: Callable[[], Any], retried: bool
) -> None:
    caplog.set_level(logging.INFO, logger="mistral_client")
    with other_end() as (base_url, requests), httpx2.Client(transport=_Silent()) as http:
        client = Mistral(base_url=base_url, http_client=http, max_retries=1)
        with pytest.raises(APIConnectionError):
            client.chat.complete(model=MODEL, messages=HI)
        served = requests()
    logged = [r for r in caplog.records if r.name == "mistral_client" and r.getMessage().startswith("retrying")]
    assert len(logged) == (1 if retried else 0)
    if served >= 0:
        assert served == (2 if retried else 1)
