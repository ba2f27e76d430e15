"""The total deadline (``timeout=<seconds>``) bounds the whole call, the answer's body included.

A raw server sends the head at once and then the body a byte at a time, never silent long enough
for a read timeout: only the total deadline can end the call.  Every endpoint without a stream
(chat, FIM, embeddings, models), sync and async, must raise ``APITimeoutError`` near the deadline,
not when the body is complete, and close the connection (the server sees it go).

The trickle lasts 15 s and the deadline is 0.5 s: the bound of 8 s below is not a speed check.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from mistral_client import APITimeoutError, AsyncMistral, InternalServerError, Mistral, MistralError, Timeout
from tests.support.helpers import HI, MODEL
from tests.support.rawserver import RawConnection, RawServer

TRICKLE_SECONDS = 15.0
GAP = 0.05
DEADLINE = 0.5

# name, path the request goes to, the call (on a client, sync or async)
CALLS: list[tuple[str, str, Callable[[Any, float], Any]]] = [
    ("chat.complete", "/v1/chat/completions", lambda c, t: c.chat.complete(model=MODEL, messages=HI, timeout=t)),
    (
        "fim.complete",
        "/v1/fim/completions",
        lambda c, t: c.fim.complete(model="codestral-latest", prompt="x", timeout=t),
    ),
    (
        "embeddings.create",
        "/v1/embeddings",
        lambda c, t: c.embeddings.create(model="mistral-embed", input="x", timeout=t),
    ),
    ("models.list", "/v1/models", lambda c, t: c.models.list(timeout=t)),
    ("models.retrieve", "/v1/models/m", lambda c, t: c.models.retrieve("m", timeout=t)),
]


def _trickler(status: int, gone: threading.Event) -> Callable[[RawConnection], None]:
    def handler(conn: RawConnection) -> None:
        steps = int(TRICKLE_SECONDS / GAP)
        conn.send(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {steps}\r\n\r\n".encode())
        try:
            for _ in range(steps):
                time.sleep(GAP)
                conn.send(b" ")
        except OSError:
            gone.set()  # the client closed the connection

    return handler


def _call(kind: str, base_url: str, call: Callable[[Any, float], Any], **client_kw: Any) -> tuple[Any, float]:
    """The call's outcome (its exception, or what it returned) and how long it took."""
    started = time.perf_counter()
    if kind == "sync":
        try:
            with Mistral(base_url=base_url, **client_kw) as client:
                outcome = call(client, DEADLINE)
        except MistralError as exc:
            outcome = exc
        return outcome, time.perf_counter() - started

    async def main() -> Any:
        try:
            async with AsyncMistral(base_url=base_url, **client_kw) as client:
                return await call(client, DEADLINE)
        except MistralError as exc:
            return exc

    outcome = asyncio.run(main())
    return outcome, time.perf_counter() - started


@pytest.mark.parametrize(("name", "path", "call"), CALLS, ids=[c[0] for c in CALLS])
def test_a_trickling_body_is_cut_at_the_total_deadline(kind: str, name: str, path: str, call: Any) -> None:
    gone = threading.Event()
    with RawServer(_trickler(200, gone)) as raw:
        error, elapsed = _call(kind, raw.base_url, call, timeout=Timeout(read=5))
        assert type(error) is APITimeoutError, error
        assert f"total deadline of {DEADLINE}s" in str(error) and "reading the answer" in str(error)
        assert error.request is not None and error.request.url.path == path
        assert error.partial is None
        assert elapsed < 8
        assert gone.wait(5), "the server never saw the client leave"
        assert len(raw.connections) == 1


def test_a_trickling_error_body_is_cut_at_the_total_deadline_and_not_retried(kind: str) -> None:
    gone = threading.Event()
    with RawServer(_trickler(503, gone)) as raw:
        error, elapsed = _call(kind, raw.base_url, CALLS[0][2], max_retries=3)
        assert type(error) is APITimeoutError, error
        assert f"total deadline of {DEADLINE}s" in str(error)
        assert elapsed < 8
        assert gone.wait(5)
        assert len(raw.connections) == 1


def test_an_answer_within_the_deadline_is_read_and_the_connection_kept(kind: str) -> None:
    # The watch on the deadline must not cut what arrived in time, nor the connection it came on.
    body = (
        b'{"id":"x","object":"chat.completion","created":1,"model":"m",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}'
    )

    def handler(conn: RawConnection) -> None:
        conn.send_full(200, body)

    def twice(client: Any, timeout: float) -> Any:
        if kind == "sync":
            return [client.chat.complete(model=MODEL, messages=HI, timeout=timeout).content for _ in range(2)]

        async def both() -> list[str]:
            return [(await client.chat.complete(model=MODEL, messages=HI, timeout=timeout)).content for _ in range(2)]

        return both()

    with RawServer(handler) as raw:
        answers, _ = _call(kind, raw.base_url, twice)
        assert answers == ["ok", "ok"]
        assert len({conn.client_port for conn in raw.connections}) == 1


def test_a_status_error_within_the_deadline_is_still_typed(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_full(500, b'{"message":"boom","type":"internal_error","code":"3000"}')

    with RawServer(handler) as raw:
        error, _ = _call(kind, raw.base_url, CALLS[0][2], max_retries=0)
    assert type(error) is InternalServerError
    assert error.message == "boom"
