"""Typed errors before the stream, retries, timeouts, bad input, and the API key kept secret."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from mistral_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidRequestError,
    Mistral,
    MistralError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
    StreamTimeoutError,
    Timeout,
    UnprocessableEntityError,
    user,
)
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL, Runner
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse

SECRET = "sk-test-THIS-KEY-MUST-NOT-LEAK-0123456789"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_status_errors_are_typed(run: Runner, server: LocalServer, status: int, cls: type[APIStatusError]) -> None:
    with pytest.raises(cls) as info:
        run.stream(client_kw={"max_retries": 0}, extra_headers={"x-mock-status": str(status)})
    error = info.value
    assert error.status_code == status
    assert error.message
    assert error.request_id and len(error.request_id) == 32
    assert error.request_id == server.requests[-1].correlation_id
    assert error.partial is None  # nothing was streamed
    assert str(status) in str(error)


def test_invalid_model_is_a_bad_request_with_type_and_code(run: Runner) -> None:
    with pytest.raises(BadRequestError) as info:
        run.stream(model="mistral-nope")
    assert info.value.type == "invalid_model"
    assert info.value.code == "1500"
    assert "mistral-nope" in info.value.message


def test_rate_limit_carries_retry_after(run: Runner) -> None:
    with pytest.raises(RateLimitError) as info:
        run.stream(client_kw={"max_retries": 0}, extra_headers={"x-mock-status": "429", "x-mock-retry-after": "7"})
    assert info.value.retry_after == 7.0
    assert info.value.type == "rate_limited"


def test_429_with_retry_after_is_retried(run: Runner, server: LocalServer, request: pytest.FixtureRequest) -> None:
    headers = {
        "x-mock-status": "429",
        "x-mock-retry-after": "0.05",
        "x-mock-fail-times": "2",
        "x-mock-id": request.node.name,
    }
    _, result = run.stream(extra_headers=headers)
    assert result.finish_reason == "stop"
    assert len(server.requests) == 3  # two 429s, then the stream


def test_500_is_retried_max_retries_times(run: Runner, server: LocalServer) -> None:
    with pytest.raises(InternalServerError):
        run.stream(client_kw={"max_retries": 1}, extra_headers={"x-mock-status": "500", "x-mock-retry-after": "0"})
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", ["400", "401", "422"])
def test_client_errors_are_not_retried(run: Runner, server: LocalServer, status: str) -> None:
    with pytest.raises(APIStatusError):
        run.stream(extra_headers={"x-mock-status": status})
    assert len(server.requests) == 1


def test_a_stream_that_broke_is_not_retried(run: Runner, server: LocalServer) -> None:
    with pytest.raises(StreamError):
        run.stream(extra_headers={"x-mock-disconnect-after": "2"})
    assert len(server.requests) == 1


def test_422_detail_names_the_field(run: Runner) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        run.stream(client_kw={"max_retries": 0}, extra_headers={"x-mock-status": "422"})
    assert isinstance(info.value.detail, list) and info.value.detail


def test_connection_refused_is_a_connection_error(kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # nothing listens on that port now
    runner = Runner(kind, f"http://127.0.0.1:{port}")
    with pytest.raises(APIConnectionError) as info:
        runner.stream(client_kw={"max_retries": 1})
    assert not isinstance(info.value, APIStatusError)
    assert "connection failed" in str(info.value)


def test_read_timeout_mid_stream_keeps_the_partial(run: Runner) -> None:
    with pytest.raises(StreamTimeoutError) as info:
        run.stream(
            client_kw={"timeout": Timeout(read=0.3)},
            extra_headers={"x-mock-tokens": "10", "x-mock-stall-after": "3", "x-mock-stall-seconds": "5"},
        )
    error = info.value
    assert isinstance(error, APITimeoutError) and isinstance(error, StreamError)
    assert error.partial.chunk_count == 4  # the role chunk and three content chunks
    assert error.partial.content
    assert "read timeout" in str(error)


def test_total_deadline_bounds_a_flowing_stream(run: Runner) -> None:
    with pytest.raises(StreamTimeoutError) as info:
        run.stream(timeout=0.3, extra_headers={"x-mock-tokens": "1000", "x-mock-token-delay": "0.01"})
    error = info.value
    assert "deadline" in str(error)
    assert 0 < error.partial.chunk_count < 1000
    assert error.partial.total_latency is not None and error.partial.total_latency < 1.5


def test_total_deadline_before_the_headers(run: Runner) -> None:
    with pytest.raises(APITimeoutError) as info:
        run.stream(timeout=0.2, extra_headers={"x-mock-first-token-delay": "3"})
    assert info.value.partial is None or info.value.partial.chunk_count == 0


def test_non_sse_answer_is_not_a_parse_failure(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_full(200, b"<html>502 Bad Gateway</html>", content_type="text/html; charset=utf-8")

    with RawServer(handler) as raw, pytest.raises(MistralError) as info:
        Runner(kind, raw.base_url).stream()
    assert "text/html" in str(info.value)
    assert not isinstance(info.value, StreamError)


def test_a_body_that_ends_without_finish_or_done_is_broken(kind: str) -> None:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json("", role=True), chunk_json("Half")))
        conn.end_body()  # a clean end of the HTTP body, but the stream never finished

    with RawServer(handler) as raw, pytest.raises(StreamError) as info:
        Runner(kind, raw.base_url).stream()
    assert "before the stream finished" in str(info.value)
    assert info.value.partial.content == "Half"


# --- bad input: a clear error before anything is sent ---------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"temprature": 0.5}, TypeError, "did you mean 'temperature'"),
        ({"messages": "hello"}, InvalidRequestError, "messages"),
        ({"messages": []}, InvalidRequestError, "empty"),
        ({"messages": [{"content": "no role"}]}, InvalidRequestError, "role"),
        ({"messages": [{"role": "robot", "content": "x"}]}, InvalidRequestError, "role"),
        ({"messages": [{"role": "user", "content": "x", "nme": "y"}]}, InvalidRequestError, "nme"),
        ({"temperature": 3}, InvalidRequestError, "temperature"),
        ({"temperature": "hot"}, InvalidRequestError, "temperature"),
        ({"max_tokens": -1}, InvalidRequestError, "max_tokens"),
        ({"model": None}, InvalidRequestError, "model"),
        ({"tool_choice": "sometimes"}, InvalidRequestError, "tool_choice"),
    ],
)
def test_bad_input_fails_before_sending(
    run: Runner, server: LocalServer, kwargs: dict[str, Any], exc: type[Exception], words: str
) -> None:
    with pytest.raises(exc) as info:
        run.stream(**kwargs)
    assert words in str(info.value)
    assert server.requests == []


def test_on_chunk_that_raises_propagates_and_closes(run: Runner, server: LocalServer) -> None:
    class Boom(Exception):
        pass

    def on_chunk(chunk: object) -> None:
        raise Boom("from the callback")

    with pytest.raises(Boom, match="from the callback"):
        run.collect(on_chunk, extra_headers={"x-mock-tokens": "300", "x-mock-token-delay": "0.01"})
    assert server.wait_for_disconnect(5).chunks_sent < 300


def test_on_chunk_must_be_callable(run: Runner, server: LocalServer) -> None:
    with pytest.raises(InvalidRequestError, match="on_chunk"):
        run.collect("print")  # type: ignore[arg-type]
    assert server.requests == []


# --- configuration and the API key ----------------------------------------------------------------


def test_official_host_without_key_fails_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MistralError, match="MISTRAL_API_KEY"):
        Mistral()


def test_base_url_and_key_come_from_the_environment(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_BASE_URL", server.base_url + "/v1")
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    with Mistral() as client:
        assert client.base_url == server.base_url + "/v1"
        client.chat.complete(model=MODEL, messages=HI)
    assert server.requests[-1].path == "/v1/chat/completions"
    assert server.requests[-1].headers["authorization"] == "[redacted]"  # sent (the server redacts it)


def test_v1_is_appended_once(server: LocalServer) -> None:
    assert Mistral(base_url=server.base_url).base_url == server.base_url + "/v1"
    assert Mistral(base_url=server.base_url + "/v1/").base_url == server.base_url + "/v1"


def test_key_never_leaks(server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with LocalServer(api_key="another-key") as locked:
        client = Mistral(api_key=SECRET, base_url=locked.base_url, max_retries=1)
        errors: list[BaseException] = []
        for headers in ({}, {"x-mock-status": "500", "x-mock-retry-after": "0"}):
            try:
                client.chat.complete(model=MODEL, messages=HI, extra_headers=headers)
            except MistralError as exc:
                errors.append(exc)
        assert [type(error) for error in errors] == [AuthenticationError, AuthenticationError]
    ok = Mistral(api_key=SECRET, base_url=server.base_url)
    try:
        with ok.chat.stream(model=MODEL, messages=HI, extra_headers={"x-mock-disconnect-after": "1"}) as stream:
            list(stream)
    except StreamError as exc:
        errors.append(exc)
    assert len(errors) == 3
    texts = [repr(client), repr(ok), repr(vars(client)), caplog.text]
    for error in errors:
        texts += [str(error), repr(error), repr(vars(error))]
        request = getattr(error, "request", None)
        assert request is not None
        texts += [repr(request), repr(dict(request.headers))]
    for text in texts:
        assert SECRET not in text
    assert "sk-test" not in caplog.text


def test_messages_helpers_are_the_wire_dicts() -> None:
    from mistral_client import assistant, system, tool

    assert user("hi") == {"role": "user", "content": "hi"}
    assert system("s") == {"role": "system", "content": "s"}
    assert assistant("a") == {"role": "assistant", "content": "a"}
    assert assistant(prefix=True) == {"role": "assistant", "prefix": True}
    assert tool("42", tool_call_id="abcDEF123") == {"role": "tool", "content": "42", "tool_call_id": "abcDEF123"}


def test_timeout_values_are_checked() -> None:
    with pytest.raises(MistralError):
        Timeout(read=-1)
    with pytest.raises(MistralError):
        Mistral(base_url="http://127.0.0.1:9", timeout="slow")  # type: ignore[arg-type]
    with pytest.raises(MistralError):
        Mistral(base_url="ftp://example")
