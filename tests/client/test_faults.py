"""The fault matrix: every way a call can fail, through the sync and the async client.

For each fault: the documented exception and its fields, ``.partial`` equal to exactly what arrived
before the fault, a call that returns within its limits, retries only where they are allowed
(counted on the server), and no connection left open, neither in the client's pool nor in the
kernel's socket table (the server's view).

Time bounds here are not performance checks: each is far below how long the fault would hold the
call if the limit did not work (a 30 s stall against a 0.3 s read timeout), so a busy machine
cannot break them.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx2
import pytest

from mistral_client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncMistral,
    AuthenticationError,
    BadRequestError,
    ChatCompletionChunk,
    InternalServerError,
    Mistral,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    StreamResult,
    StreamTimeoutError,
    Timeout,
    UnprocessableEntityError,
)
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL
from tests.support.leaks import assert_no_open_sockets, pool_states, wait_until
from tests.support.rawserver import RawConnection, RawServer, chunk_json, full_accept_queue, sse

TOKENS = 12  # content chunks in an answer the faults cut short


@dataclass
class Outcome:
    """What one streamed call did, and what its client held afterwards."""

    error: BaseException | None
    chunks: list[ChatCompletionChunk]  # handed to the caller, in order
    result: StreamResult | None
    elapsed: float
    pool_after_call: list[str]  # the pool while the client is still open
    pool_after_close: list[str]
    log: list[str] = field(default_factory=list)


def attempt(kind: str, base_url: str, client_kw: dict[str, Any] | None = None, **kw: Any) -> Outcome:
    """One streamed call; the error is caught and returned, the client is closed at the end."""
    kw.setdefault("model", MODEL)
    kw.setdefault("messages", HI)
    client_kw = {"base_url": base_url, **(client_kw or {})}
    chunks: list[ChatCompletionChunk] = []
    error: BaseException | None = None
    result: StreamResult | None = None
    if kind == "sync":
        client = Mistral(**client_kw)
        started = perf_counter()
        try:
            with client.chat.stream(**kw) as stream:
                for chunk in stream:
                    chunks.append(chunk)
            result = stream.result
        except MistralError as exc:
            error = exc
        elapsed = perf_counter() - started
        during = pool_states(client)
        client.close()
        return Outcome(error, chunks, result, elapsed, during, pool_states(client))

    async def main() -> Outcome:
        nonlocal error, result
        client = AsyncMistral(**client_kw)
        started = perf_counter()
        try:
            async with client.chat.stream(**kw) as stream:
                async for chunk in stream:
                    chunks.append(chunk)
            result = stream.result
        except MistralError as exc:
            error = exc
        elapsed = perf_counter() - started
        during = pool_states(client)
        await client.close()
        return Outcome(error, chunks, result, elapsed, during, pool_states(client))

    return asyncio.run(main())


def contents(chunks: list[ChatCompletionChunk] | None) -> list[str]:
    return [chunk.content for chunk in chunks or []]


@pytest.fixture
def reference(server: LocalServer) -> list[str]:
    """The chunk contents of the whole answer the faulty calls are cut from (the engine is deterministic)."""
    headers = {"x-mock-tokens": str(TOKENS)}
    with (
        Mistral(base_url=server.base_url) as client,
        client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream,
    ):
        answer = contents(list(stream))
    server.clear_records()
    assert len(answer) == TOKENS + 2  # the role chunk, the content chunks, the finish chunk
    return answer


def client_ports(server: LocalServer) -> list[int]:
    return [record.client[1] for record in server.requests if record.client is not None]


def assert_nothing_left_open(outcome: Outcome, server_port: int, ports: list[int], *, reusable: bool) -> None:
    """No connection busy in the pool; a connection that saw a fault was dropped; every socket closed.

    ``reusable``: the fault was a complete HTTP answer (a status error), so its connection may stay
    in the pool, idle, for the next call.
    """
    assert "active" not in outcome.pool_after_call, outcome.pool_after_call
    if reusable:
        assert set(outcome.pool_after_call) <= {"idle"}
    else:
        assert set(outcome.pool_after_call) <= {"closed"}
    assert outcome.pool_after_close == []
    assert_no_open_sockets(server_port, ports)


# --- before the stream: status errors -------------------------------------------------------------

STATUS_CASES = [
    # status, class, type, code, message, retried
    (400, BadRequestError, "invalid_request_error", "3001", "Invalid request", False),
    (401, AuthenticationError, None, None, "Unauthorized", False),
    (403, PermissionDeniedError, "invalid_request_error", "403", "Forbidden", False),
    (404, NotFoundError, "not_found", "3004", "Not found", False),
    (422, UnprocessableEntityError, None, None, "Injected by x-mock-status", False),
    (429, RateLimitError, "rate_limited", "1300", "Rate limit exceeded", True),
    (500, InternalServerError, "internal_error", "3000", "Internal server error", True),
    (503, InternalServerError, "service_unavailable", "3000", "Service unavailable", True),
]


@pytest.mark.parametrize(
    ("status", "cls", "type_", "code", "message", "retried"), STATUS_CASES, ids=[str(c[0]) for c in STATUS_CASES]
)
def test_status_error_before_the_stream(
    kind: str,
    server: LocalServer,
    status: int,
    cls: type[APIStatusError],
    type_: str | None,
    code: str | None,
    message: str,
    retried: bool,
) -> None:
    headers = {"x-mock-status": str(status), "x-mock-retry-after": "0"}
    outcome = attempt(kind, server.base_url, {"max_retries": 2}, extra_headers=headers)
    error = outcome.error
    assert type(error) is cls
    assert isinstance(error, APIStatusError)
    assert (error.status_code, error.type, error.code, error.message) == (status, type_, code, message)
    assert error.request_id == server.requests[-1].correlation_id
    assert error.partial is None and outcome.chunks == []
    assert error.request is not None and error.request.url.path == "/v1/chat/completions"
    assert str(status) in str(error) and message in str(error)
    if cls is RateLimitError:
        assert error.retry_after == 0.0
    if cls is UnprocessableEntityError:
        assert error.detail and error.detail[0]["msg"] == message
    assert len(server.requests) == (3 if retried else 1)
    assert outcome.elapsed < 10  # Retry-After: 0, so the retries do not wait
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=True)


def test_429_without_retry_after_backs_off_and_retries(kind: str, server: LocalServer) -> None:
    # No Retry-After: the client's own back-off (0.5 s at most for the first retry) is used.
    outcome = attempt(kind, server.base_url, {"max_retries": 1}, extra_headers={"x-mock-status": "429"})
    assert isinstance(outcome.error, RateLimitError)
    assert outcome.error.retry_after is None
    assert len(server.requests) == 2
    first, second = server.requests
    assert 0.3 <= second.at - first.at < 5  # it did wait, and not for long
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=True)


@pytest.mark.parametrize("status", ["429", "500", "503"])
def test_a_transient_status_then_the_stream(
    kind: str, server: LocalServer, reference: list[str], status: str, request: pytest.FixtureRequest
) -> None:
    headers = {
        "x-mock-status": status,
        "x-mock-retry-after": "0",
        "x-mock-fail-times": "1",
        "x-mock-id": request.node.nodeid,
        "x-mock-tokens": str(TOKENS),
    }
    outcome = attempt(kind, server.base_url, extra_headers=headers)
    assert outcome.error is None
    assert contents(outcome.chunks) == reference
    assert len(server.requests) == 2
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=True)


def test_max_retries_zero_sends_once(kind: str, server: LocalServer) -> None:
    outcome = attempt(kind, server.base_url, {"max_retries": 0}, extra_headers={"x-mock-status": "503"})
    assert isinstance(outcome.error, InternalServerError)
    assert len(server.requests) == 1


# --- before the stream: no answer -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mistral_client")
    port = _free_port()  # nothing listens there now
    outcome = attempt(kind, f"http://127.0.0.1:{port}", {"max_retries": 1})
    error = outcome.error
    assert type(error) is APIConnectionError
    assert "connection failed" in str(error)
    assert error.request is not None and error.request.url.port == port
    assert error.partial is None
    # Nothing answered, so nothing can be counted on a server: the client logs each retry.
    retries = [r for r in caplog.records if r.name == "mistral_client" and r.getMessage().startswith("retrying")]
    assert len(retries) == 1
    assert outcome.elapsed < 10
    assert outcome.pool_after_call in ([], ["closed"]) and outcome.pool_after_close == []


def test_connect_timeout_is_retried(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mistral_client")
    with full_accept_queue() as base_url:
        outcome = attempt(kind, base_url, {"timeout": Timeout(connect=0.2), "max_retries": 1})
    error = outcome.error
    assert type(error) is APITimeoutError
    assert "timed out connecting" in str(error)
    retries = [r for r in caplog.records if r.name == "mistral_client" and r.getMessage().startswith("retrying")]
    assert len(retries) == 1  # nothing reached a server: safe to send again
    assert outcome.elapsed < 10
    assert outcome.pool_after_close == []


def test_a_retry_after_beyond_a_minute_is_not_waited_for(kind: str, server: LocalServer) -> None:
    # Retrying sooner than the server asked would only be refused again: the caller decides.
    headers = {"x-mock-status": "429", "x-mock-retry-after": "120"}
    outcome = attempt(kind, server.base_url, {"max_retries": 3}, extra_headers=headers)
    assert isinstance(outcome.error, RateLimitError)
    assert outcome.error.retry_after == 120.0
    assert len(server.requests) == 1
    assert outcome.elapsed < 10


def test_read_timeout_before_the_headers_is_not_retried(kind: str) -> None:
    # The request went out and no answer came: the server may already be generating, and a second
    # request would pay for the answer twice.
    def handler(conn: RawConnection) -> None:
        conn.wait_client_close(30)  # never answer

    with RawServer(handler) as raw:
        outcome = attempt(kind, raw.base_url, {"timeout": Timeout(read=0.3), "max_retries": 2})
        error = outcome.error
        assert type(error) is APITimeoutError
        assert "timed out waiting for the response" in str(error)
        assert error.partial is None
        assert outcome.elapsed < 10  # the server would wait 30 s
        assert len(raw.connections) == 1
        assert raw.connections[0].closed_by_client.wait(5)
        assert_nothing_left_open(outcome, raw.port, _raw_ports(raw), reusable=False)


def test_silence_after_the_headers_is_a_stream_timeout(kind: str, server: LocalServer) -> None:
    # The local server sends its headers at once and the first event after the delay.
    headers = {"x-mock-first-token-delay": "30"}
    outcome = attempt(kind, server.base_url, {"timeout": Timeout(read=0.3), "max_retries": 2}, extra_headers=headers)
    error = outcome.error
    assert type(error) is StreamTimeoutError
    assert error.partial.chunk_count == 0 and outcome.chunks == []
    assert outcome.elapsed < 10
    assert len(server.requests) == 1
    assert server.wait_for_disconnect(5).chunks_sent == 0
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=False)


def test_total_deadline_before_the_headers(kind: str, server: LocalServer) -> None:
    headers = {"x-mock-first-token-delay": "30"}
    outcome = attempt(kind, server.base_url, extra_headers=headers, timeout=0.3)
    assert isinstance(outcome.error, APITimeoutError)
    assert outcome.error.partial is None or outcome.error.partial.chunk_count == 0
    assert outcome.elapsed < 10
    assert len(server.requests) == 1
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=False)


def test_total_deadline_bounds_the_retries(kind: str, server: LocalServer) -> None:
    # Each 503 asks for a 2 s wait; a 0.5 s deadline leaves no room for one: the 503 is raised now.
    headers = {"x-mock-status": "503", "x-mock-retry-after": "2"}
    outcome = attempt(kind, server.base_url, {"max_retries": 5}, extra_headers=headers, timeout=0.5)
    assert isinstance(outcome.error, InternalServerError)
    assert len(server.requests) == 1
    assert outcome.elapsed < 2


async def test_waiting_for_a_pooled_connection_is_not_a_connect_timeout(server: LocalServer) -> None:
    # Streams hold their connection for the whole answer: a call queued behind them waits as long
    # as they take, however short the connect timeout (only a total deadline bounds the wait).
    slow = {"x-mock-tokens": "20", "x-mock-token-delay": "0.03"}  # about 0.6 s each
    async with (
        httpx2.AsyncClient(limits=httpx2.Limits(max_connections=1)) as http,
        AsyncMistral(base_url=server.base_url, http_client=http, timeout=Timeout(connect=0.1)) as client,
    ):

        async def one(timeout: float | None = None) -> StreamResult:
            async with client.chat.stream(model=MODEL, messages=HI, extra_headers=slow, timeout=timeout) as stream:
                return await stream.until_done()

        first, second = await asyncio.gather(one(), one())
        assert first.finish_reason == second.finish_reason == "stop"
        assert len(server.connections) == 1  # the second waited for the first's connection

        holder = asyncio.create_task(one())
        await asyncio.to_thread(wait_until, lambda: len(server.requests) == 3, 5, "the holder's request arrived")
        with pytest.raises(APITimeoutError, match="waiting for a free connection"):
            await one(timeout=0.2)
        assert (await holder).finish_reason == "stop"
    assert len(server.requests) == 3  # the one that timed out never got a connection


# --- complete(): the answer's body ---------------------------------------------------------------------


def _complete(kind: str, base_url: str, client_kw: dict[str, Any] | None = None) -> BaseException | None:
    try:
        if kind == "sync":
            with Mistral(base_url=base_url, **(client_kw or {})) as client:
                client.chat.complete(model=MODEL, messages=HI)
        else:

            async def main() -> None:
                async with AsyncMistral(base_url=base_url, **(client_kw or {})) as client:
                    await client.chat.complete(model=MODEL, messages=HI)

            asyncio.run(main())
    except MistralError as exc:
        return exc
    return None


def test_complete_body_cut_short(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"id": ')
        conn.sock.close()

    with RawServer(handler) as raw:
        error = _complete(kind, raw.base_url, {"max_retries": 2})
        assert len(raw.connections) == 1  # the answer had started: not retried
    assert type(error) is APIConnectionError
    assert "broke reading the answer" in str(error)


def test_complete_body_goes_silent(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send(b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"id": ')
        conn.wait_client_close(30)

    with RawServer(handler) as raw:
        started = perf_counter()
        error = _complete(kind, raw.base_url, {"timeout": Timeout(read=0.2)})
        assert perf_counter() - started < 10
        assert raw.connections[0].closed_by_client.wait(5)
    assert type(error) is APITimeoutError
    assert "timed out reading the answer" in str(error)


def test_complete_body_that_is_not_a_completion(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_full(200, b'{"hello": "world"}')

    with RawServer(handler) as raw:
        error = _complete(kind, raw.base_url)
    assert type(error) is APIError
    assert "not a chat completion" in str(error)
    assert error.body == b'{"hello": "world"}'


def test_200_with_an_html_page(kind: str, server: LocalServer) -> None:
    outcome = attempt(kind, server.base_url, extra_headers={"x-mock-html": "1"})
    error = outcome.error
    assert type(error) is APIError
    assert "text/html" in str(error) and "proxy" in str(error)
    assert error.partial is None
    assert error.request is not None
    assert len(server.requests) == 1  # a 200 is not retried
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=False)


# --- in the stream: the local server's faults -------------------------------------------------------

MID_STREAM = [
    # header, exception, words in the message, chunks handed out (role + 4), last chunk kept in .partial
    ("x-mock-disconnect-after", StreamError, "connection broke mid-stream", False),
    ("x-mock-malformed-after", StreamError, "malformed event", False),
    ("x-mock-error-event-after", StreamError, "error event: Internal server error", False),
    ("x-mock-finish-error-after", StreamError, "finish_reason 'error'", True),
]


@pytest.mark.parametrize(("header", "cls", "words", "keeps_last"), MID_STREAM, ids=[c[0][7:] for c in MID_STREAM])
def test_mid_stream_fault(
    kind: str,
    server: LocalServer,
    reference: list[str],
    header: str,
    cls: type[StreamError],
    words: str,
    keeps_last: bool,
) -> None:
    outcome = attempt(kind, server.base_url, extra_headers={header: "4", "x-mock-tokens": str(TOKENS)})
    error = outcome.error
    assert type(error) is cls
    assert words in str(error)
    assert "5 chunks" in str(error) or (keeps_last and "6 chunks" in str(error))
    # Exactly what arrived: the chunks the caller was handed, the same objects, in order.
    assert contents(outcome.chunks) == reference[:5]
    partial = error.partial
    assert partial is not None and partial.chunks is not None
    if keeps_last:  # the chunk that says "error" arrived too, though it is not handed out
        assert partial.chunks[:-1] == outcome.chunks
        assert partial.finish_reason == "error"
        assert partial.chunk_count == 6
    else:
        assert partial.chunks == outcome.chunks
        assert partial.chunk_count == 5
    assert partial.content == "".join(reference[:5])
    assert not partial.cancelled
    assert error.request_id == server.requests[-1].correlation_id
    if header == "x-mock-error-event-after":
        assert (error.type, error.code) == ("internal_error", "3000")
    assert len(server.requests) == 1  # a stream that started is never retried
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=False)


def test_no_done_after_the_finish_is_a_complete_answer(kind: str, server: LocalServer, reference: list[str]) -> None:
    outcome = attempt(kind, server.base_url, extra_headers={"x-mock-no-done": "1", "x-mock-tokens": str(TOKENS)})
    assert outcome.error is None
    assert outcome.result is not None and outcome.result.finish_reason == "stop"
    assert contents(outcome.chunks) == reference
    assert outcome.chunks[-1].is_last
    assert len(server.requests) == 1
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=True)


def test_stall_longer_than_the_read_timeout(kind: str, server: LocalServer, reference: list[str]) -> None:
    headers = {"x-mock-tokens": str(TOKENS), "x-mock-stall-after": "4", "x-mock-stall-seconds": "30"}
    outcome = attempt(kind, server.base_url, {"timeout": Timeout(read=0.3)}, extra_headers=headers)
    error = outcome.error
    assert type(error) is StreamTimeoutError
    assert isinstance(error, APITimeoutError) and isinstance(error, StreamError)
    assert "no data for 0.3s (read timeout)" in str(error)
    assert contents(outcome.chunks) == reference[:5]
    assert error.partial.chunks == outcome.chunks
    assert outcome.elapsed < 10  # the stall is 30 s
    assert server.wait_for_disconnect(5).chunks_sent == 4  # the server saw the client leave
    assert len(server.requests) == 1
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=False)


def test_total_deadline_of_a_flowing_stream(kind: str, server: LocalServer, reference: list[str]) -> None:
    # Chunks keep coming (no read timeout fires) but the whole call may take 0.5 s; the answer needs 20 s.
    headers = {"x-mock-tokens": "1000", "x-mock-token-delay": "0.02"}
    outcome = attempt(kind, server.base_url, extra_headers=headers, timeout=0.5)
    error = outcome.error
    assert type(error) is StreamTimeoutError
    assert "total deadline of 0.5s" in str(error)
    arrived = error.partial.chunk_count
    assert 0 < arrived < 1000
    assert error.partial.chunks == outcome.chunks
    # The same words as the full answer, as far as they got.
    assert contents(outcome.chunks)[: len(reference) - 1] == reference[: min(arrived, len(reference) - 1)]
    assert outcome.elapsed < 10
    assert server.wait_for_disconnect(5).chunks_sent >= arrived - 1
    assert_nothing_left_open(outcome, server.port, client_ports(server), reusable=False)


# --- in the stream: byte-exact faults from a raw socket server ---------------------------------------


def _raw_ports(raw: RawServer) -> list[int]:
    return [conn.client_port for conn in raw.connections]


def test_no_finish_and_no_done_is_a_broken_stream(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json("", role=True), chunk_json("Half"), chunk_json(" way")))
        conn.end_body()  # a clean end of the body, but the answer never finished

    with RawServer(handler) as raw:
        outcome = attempt(kind, raw.base_url)
        error = outcome.error
        assert type(error) is StreamError
        assert "closed before the stream finished" in str(error)
        assert contents(outcome.chunks) == ["", "Half", " way"]
        assert error.partial.chunks == outcome.chunks
        assert len(raw.connections) == 1
        assert_nothing_left_open(outcome, raw.port, _raw_ports(raw), reusable=True)


def _huge_event_server(size: int, left: threading.Event) -> Callable[[RawConnection], None]:
    huge = sse(chunk_json("x" * size))

    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json("", role=True), chunk_json("before")))
        try:
            for start in range(0, len(huge), 1 << 16):
                conn.send_chunk(huge[start : start + (1 << 16)])
            conn.send_chunk(sse(chunk_json("", finish="stop", usage=True), "[DONE]"))
            conn.end_body()
        except OSError:
            left.set()  # the client closed the connection while we were still sending
            raise

    return handler


def test_10_mb_event_past_the_size_cap(kind: str) -> None:
    left = threading.Event()
    cap = 1 << 20
    with RawServer(_huge_event_server(10_000_000, left)) as raw:
        outcome = attempt(kind, raw.base_url, {"max_event_size": cap})
        error = outcome.error
        assert type(error) is StreamError
        assert f"exceeded {cap} bytes" in str(error)
        assert contents(outcome.chunks) == ["", "before"]
        assert error.partial.chunks == outcome.chunks
        assert error.partial.content == "before"
        assert left.wait(5), "the client did not close the connection it gave up on"
        assert_nothing_left_open(outcome, raw.port, _raw_ports(raw), reusable=False)


def test_10_mb_event_under_the_default_cap_is_delivered(kind: str) -> None:
    left = threading.Event()
    with RawServer(_huge_event_server(10_000_000, left)) as raw:
        outcome = attempt(kind, raw.base_url)
        assert outcome.error is None
        assert [len(text) for text in contents(outcome.chunks)] == [0, 6, 10_000_000, 0]
        assert not left.is_set()
        assert_nothing_left_open(outcome, raw.port, _raw_ports(raw), reusable=True)


def test_the_size_cap_is_checked_before_the_event_is_buffered(kind: str) -> None:
    # An event that never ends (no blank line, no end of body) must fail at the cap, not fill memory.
    left = threading.Event()

    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json("", role=True)))
        conn.send_chunk(b"data: " + b"y" * (1 << 16))
        try:
            while True:
                conn.send_chunk(b"y" * (1 << 16))
        except OSError:
            left.set()

    with RawServer(handler) as raw:
        outcome = attempt(kind, raw.base_url, {"max_event_size": 1 << 20})
        assert type(outcome.error) is StreamError
        assert "exceeded 1048576 bytes" in str(outcome.error)
        assert left.wait(5)
        assert_nothing_left_open(outcome, raw.port, _raw_ports(raw), reusable=False)


def test_every_exception_is_documented() -> None:
    import mistral_client

    table = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    exported = [
        name
        for name in mistral_client.__all__
        if isinstance(getattr(mistral_client, name), type) and issubclass(getattr(mistral_client, name), Exception)
    ]
    assert len(exported) >= 15
    missing = [name for name in exported if f"| `{name}` |" not in table]
    assert missing == [], f"docs/errors.md has no row for {missing}"
