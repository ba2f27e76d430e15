"""The API key stays secret: logs, reprs, exceptions, tracebacks, redirects and plain http.

Every error path runs against a server that requires the key (so each call provably sent it),
with DEBUG logging on for every logger, captured both by pytest and by a plain stderr handler.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    AsyncMistral,
    AuthenticationError,
    InvalidRequestError,
    Mistral,
    MistralError,
    Timeout,
)
from mistral_client.server import LocalServer
from tests.support.helpers import HI, MODEL
from tests.support.rawserver import RawConnection, RawServer, chunk_json, sse

SECRET = "sk-live-DO-NOT-LEAK-7f3a9c2e41b8d6"
PIECES = (SECRET, SECRET[8:], "DO-NOT-LEAK")  # a key cut or re-encoded in a message would still show these


@pytest.fixture(scope="module")
def locked() -> Iterator[LocalServer]:
    """A server that answers only requests carrying the key."""
    with LocalServer(api_key=SECRET) as server:
        yield server


@pytest.fixture
def debug_logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Everything logged at DEBUG by anyone; read it after the test body via the returned list."""
    caplog.set_level(logging.DEBUG)
    for name in ("mistral_client", "httpx2", "httpcore2", "httpx", "httpcore", "hpack", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)  # restored after the test
    stderr = logging.StreamHandler(sys.__stderr__)  # the process's real stderr (fd 2), which capfd reads
    stderr.setLevel(logging.DEBUG)
    stderr.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(stderr)
    texts: list[str] = []
    try:
        yield texts
    finally:
        root.removeHandler(stderr)
    texts.append(caplog.text)
    texts.extend(repr(record.__dict__) for record in caplog.records)
    texts.append(capfd.readouterr().err)


def assert_clean(*texts: str) -> None:
    for text in texts:
        for piece in PIECES:
            assert piece not in text, f"the key leaked into: {text[:300]!r}"


def exception_texts(error: BaseException, *, with_locals: bool = True) -> list[str]:
    """Every way an exception gets shown or shipped: messages, reprs, tracebacks (with locals), the chain.

    ``with_locals=False`` for errors raised by a constructor: the key is its argument, so a
    traceback that prints the locals of every frame shows it, whatever the library does.
    """
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        texts.append("".join(traceback.format_exception(current)))
        if with_locals:
            tb = traceback.TracebackException.from_exception(current, capture_locals=True)
            texts.append("".join(tb.format()))
        for name in ("request", "response", "partial", "body"):
            value = getattr(current, name, None)
            if value is not None:
                texts.append(repr(value))
        request = getattr(current, "request", None)
        if isinstance(request, httpx2.Request):
            texts += [repr(dict(request.headers)), repr(request.headers.raw)]
        response = getattr(current, "response", None)
        if isinstance(response, httpx2.Response):
            texts += [repr(dict(response.request.headers)), repr(response.request.headers.raw)]
        current = current.__cause__ or current.__context__
    try:
        texts.append(repr(pickle.loads(pickle.dumps(error))))
    except Exception:
        pass  # not every exception pickles (a response does not); that is no leak
    return texts


# Faults on the server that requires the key: (extra headers, client options).
FAULTS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("ok", {}, {}),
    ("400", {"x-mock-status": "400"}, {}),
    ("403", {"x-mock-status": "403"}, {}),
    ("404", {"x-mock-status": "404"}, {}),
    ("422", {"x-mock-status": "422"}, {}),
    ("429-retried", {"x-mock-status": "429", "x-mock-retry-after": "0"}, {"max_retries": 1}),
    ("500-retried", {"x-mock-status": "500", "x-mock-retry-after": "0"}, {"max_retries": 1}),
    ("disconnect", {"x-mock-disconnect-after": "2"}, {}),
    ("malformed", {"x-mock-malformed-after": "2"}, {}),
    ("error-event", {"x-mock-error-event-after": "2"}, {}),
    ("finish-error", {"x-mock-finish-error-after": "2"}, {}),
    ("html", {"x-mock-html": "1"}, {}),
    ("stall", {"x-mock-stall-after": "1", "x-mock-stall-seconds": "30"}, {"timeout": Timeout(read=0.2)}),
    ("deadline", {"x-mock-tokens": "500", "x-mock-token-delay": "0.01"}, {"timeout": 0.2}),
    ("oversize", {"x-mock-tokens": "5"}, {"max_event_size": 100}),
]


def _stream(kind: str, base_url: str, headers: dict[str, str], client_kw: dict[str, Any]) -> tuple[list[str], Any]:
    """Run one stream with the key; returns the texts to check and the error (or None)."""
    texts: list[str] = []
    error: BaseException | None = None
    if kind == "sync":
        client = Mistral(api_key=SECRET, base_url=base_url, **client_kw)
        texts += [repr(client), repr(vars(client)), str(client)]
        try:
            with client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream:
                texts.append(repr(stream))
                for _ in stream:
                    pass
        except MistralError as exc:
            error = exc
        else:
            assert stream.response is not None
            texts += [repr(stream.result), repr(dict(stream.response.request.headers))]
        client.close()
        return texts, error

    async def main() -> tuple[list[str], Any]:
        nonlocal error
        client = AsyncMistral(api_key=SECRET, base_url=base_url, **client_kw)
        texts.extend([repr(client), repr(vars(client)), str(client)])
        try:
            async with client.chat.stream(model=MODEL, messages=HI, extra_headers=headers) as stream:
                texts.append(repr(stream))
                async for _ in stream:
                    pass
        except MistralError as exc:
            error = exc
        else:
            assert stream.response is not None
            texts.extend([repr(stream.result), repr(dict(stream.response.request.headers))])
        await client.close()
        return texts, error

    return asyncio.run(main())


@pytest.mark.parametrize(("name", "headers", "client_kw"), FAULTS, ids=[fault[0] for fault in FAULTS])
def test_no_error_path_shows_the_key(
    kind: str,
    locked: LocalServer,
    debug_logs: list[str],
    name: str,
    headers: dict[str, str],
    client_kw: dict[str, Any],
) -> None:
    locked.clear_records()
    texts, error = _stream(kind, locked.base_url, headers, client_kw)
    assert locked.requests, "nothing reached the server"
    assert all(r.headers["authorization"] == "[redacted]" for r in locked.requests)  # sent, and accepted:
    if name == "ok":
        assert error is None
    else:
        assert isinstance(error, APIError), f"{name}: no error was raised"
        assert not isinstance(error, AuthenticationError)  # ... the key was right
        texts += exception_texts(error)
    assert_clean(*texts, *debug_logs)


def test_wrong_key_connection_refused_and_timeouts(kind: str, debug_logs: list[str]) -> None:
    errors: list[BaseException] = []
    with LocalServer(api_key="another-key") as other:
        _, error = _stream(kind, other.base_url, {}, {})
        assert isinstance(error, AuthenticationError)
        errors.append(error)

    def silent(conn: RawConnection) -> None:
        conn.wait_client_close(30)

    with RawServer(silent) as raw:
        _, error = _stream(kind, raw.base_url, {}, {"timeout": Timeout(read=0.2)})
        assert raw.connections[0].request.headers["authorization"] == f"Bearer {SECRET}"  # it was sent
        errors.append(error)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, error = _stream(kind, f"http://127.0.0.1:{port}", {}, {"max_retries": 1})  # nothing listens: refused
    errors.append(error)

    def torn(conn: RawConnection) -> None:
        conn.send_head()
        conn.send_chunk(sse(chunk_json("", role=True), chunk_json("x")))
        conn.send(b"zz\r\n")  # not a chunk size: a protocol error in the middle of the body

    with RawServer(torn) as raw:
        _, error = _stream(kind, raw.base_url, {}, {})
        errors.append(error)
    assert [type(e).__name__ for e in errors] == [
        "AuthenticationError",
        "APITimeoutError",
        "APIConnectionError",
        "StreamError",
    ]
    assert_clean(*[text for error in errors for text in exception_texts(error)], *debug_logs)


def test_complete_and_models_do_not_show_the_key(locked: LocalServer, debug_logs: list[str]) -> None:
    texts: list[str] = []
    with Mistral(api_key=SECRET, base_url=locked.base_url, max_retries=0) as client:
        texts.append(repr(client.chat.complete(model=MODEL, messages=HI)))
        texts.append(repr(client.models.list()))
        for headers in ({"x-mock-status": "500"}, {"x-mock-status": "401"}):
            with pytest.raises(APIStatusError) as info:
                client.chat.complete(model=MODEL, messages=HI, extra_headers=headers)
            texts += exception_texts(info.value)
    assert_clean(*texts, *debug_logs)


def test_bad_input_errors_do_not_show_the_key(locked: LocalServer, debug_logs: list[str]) -> None:
    locked.clear_records()
    texts: list[str] = []
    with Mistral(api_key=SECRET, base_url=locked.base_url) as client:
        for kwargs in ({"temprature": 1}, {"messages": "hi"}, {"messages": [{"content": "x"}]}):
            with pytest.raises((TypeError, ValueError)) as info:
                client.chat.stream(**{"model": MODEL, "messages": HI, **kwargs})
            texts += exception_texts(info.value)

    async def inside_a_loop() -> None:
        with Mistral(api_key=SECRET, base_url=locked.base_url) as client, pytest.raises(MistralError) as info:
            client.chat.complete(model=MODEL, messages=HI)
        texts.extend(exception_texts(info.value))

    asyncio.run(inside_a_loop())
    assert locked.requests == []
    assert_clean(*texts, *debug_logs)


def test_extra_headers_given_by_the_caller_are_sent_as_given(locked: LocalServer) -> None:
    # The key is added to the request, not to the caller's dict; an explicit Authorization wins.
    headers = {"x-trace": "1"}
    with Mistral(api_key="wrong", base_url=locked.base_url, max_retries=0) as client:
        client.chat.complete(model=MODEL, messages=HI, extra_headers={"Authorization": f"Bearer {SECRET}"})
        with pytest.raises(AuthenticationError):
            client.chat.complete(model=MODEL, messages=HI, extra_headers=headers)
    assert headers == {"x-trace": "1"}


# --- redirects ---------------------------------------------------------------------------------------


def _redirect_to(url: str, status: int = 307) -> Any:
    def handler(conn: RawConnection) -> None:
        conn.send_full(status, b"", extra=f"location: {url}\r\n")

    return handler


def test_redirects_are_not_followed(kind: str, server: LocalServer) -> None:
    # The API never redirects; following one would send the request where the caller did not choose.
    target = f"{server.base_url}/v1/chat/completions"
    with RawServer(_redirect_to(target)) as raw:
        _, error = _stream(kind, raw.base_url, {}, {})
        assert len(raw.connections) == 1
    assert isinstance(error, APIStatusError)
    assert error.status_code == 307
    assert target in str(error) and "not followed" in str(error) and "base_url" in str(error)
    assert server.requests == []  # nothing reached the other origin
    assert_clean(*exception_texts(error))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_drops_the_key(server: LocalServer, status: int) -> None:
    # With a caller's own httpx2 client that follows redirects: a different port is another origin.
    target = f"{server.base_url}/v1/chat/completions"
    with (
        RawServer(_redirect_to(target, status)) as raw,
        httpx2.Client(follow_redirects=True) as http,
        Mistral(api_key=SECRET, base_url=raw.base_url, http_client=http) as client,
    ):
        try:
            client.chat.complete(model=MODEL, messages=HI)
        except APIStatusError:
            pass  # 301-303 turn the POST into a GET, which the chat route refuses; the headers are what count
        assert raw.connections[0].request.headers["authorization"] == f"Bearer {SECRET}"
    assert len(server.requests) == 1
    assert "authorization" not in server.requests[0].headers


async def test_a_redirect_to_another_origin_drops_the_key_async(server: LocalServer) -> None:
    target = f"{server.base_url}/v1/chat/completions"
    with RawServer(_redirect_to(target)) as raw:
        async with (
            httpx2.AsyncClient(follow_redirects=True) as http,
            AsyncMistral(api_key=SECRET, base_url=raw.base_url, http_client=http) as client,
        ):
            result = await client.chat.complete(model=MODEL, messages=HI)
    assert result.choices[0].message.content
    assert "authorization" not in server.requests[0].headers


# --- plain http ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Mistral, AsyncMistral])
@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.5:8000", "http://[2001:db8::1]", "http://api"])
def test_the_key_is_not_sent_over_plain_http(cls: type[Mistral], url: str) -> None:
    with pytest.raises(MistralError) as info:
        cls(api_key=SECRET, base_url=url)
    message = str(info.value)
    assert "plain http" in message and "https://" in message and "allow_insecure_http=True" in message
    assert_clean(*exception_texts(info.value, with_locals=False))


def test_the_key_from_the_environment_is_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    monkeypatch.setenv("MISTRAL_BASE_URL", "http://gateway.internal")
    with pytest.raises(MistralError, match="allow_insecure_http"):
        Mistral()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1",
        "http://127.8.9.10:1",
        "http://localhost:1",
        "http://LocalHost:1",
        "http://[::1]:1",
        "https://example.com",
    ],
)
def test_loopback_and_https_are_allowed(url: str) -> None:
    Mistral(api_key=SECRET, base_url=url).close()


def test_opting_in_to_plain_http(kind: str) -> None:
    if kind == "sync":
        with Mistral(api_key=SECRET, base_url="http://gateway.internal", allow_insecure_http=True) as client:
            assert client.base_url == "http://gateway.internal/v1"
    else:

        async def main() -> None:
            async with AsyncMistral(api_key=SECRET, base_url="http://gateway.internal", allow_insecure_http=True):
                pass

        asyncio.run(main())


def test_plain_http_without_a_key_has_nothing_to_protect() -> None:
    Mistral(base_url="http://gateway.internal").close()


def test_the_key_is_sent_to_loopback_over_http(locked: LocalServer) -> None:
    locked.clear_records()
    with Mistral(api_key=SECRET, base_url=locked.base_url.replace("127.0.0.1", "localhost")) as client:
        client.chat.complete(model=MODEL, messages=HI)
    assert len(locked.requests) == 1


# --- malformed keys ------------------------------------------------------------------------------------

# A key that cannot go into a header as given: refused when the client is built, naming the problem
# and the length, never the key (before, h11 quoted the whole "Bearer ..." header in a "connection
# failed", and a non-ASCII key raised a UnicodeEncodeError carrying the header as its .object).
MALFORMED_KEYS: list[tuple[str, str, str]] = [
    ("newline inside", f"{SECRET[:20]}\n{SECRET[20:]}", "a line break at position 20"),
    ("CRLF injection", f"{SECRET}\r\nX-Evil: 1", f"a line break at position {len(SECRET)}"),
    ("carriage return", f"{SECRET}\rX", "a line break"),
    ("space inside", f"{SECRET[:8]} {SECRET[8:]}", "a space at position 8"),
    ("tab inside", f"{SECRET[:8]}\t{SECRET[8:]}", "a tab at position 8"),
    ("non-ASCII", f"{SECRET[:8]}\u00e9{SECRET[8:]}", "a non-ASCII character at position 8"),
    ("non-breaking space", f"{SECRET}\u00a0x", "a non-ASCII character"),
    ("undecodable byte", f"{SECRET}\udce9", "a non-ASCII character"),  # how os.environ shows a Latin-1 byte
    ("NUL", f"{SECRET}\x00", "a control character"),
    ("escape", f"\x1b[31m{SECRET}", "a control character at position 0"),
    ("DEL", f"{SECRET}\x7f", "a control character"),
]


@pytest.mark.parametrize("source", ["argument", "environment"])
@pytest.mark.parametrize(("name", "key", "problem"), MALFORMED_KEYS, ids=[case[0] for case in MALFORMED_KEYS])
def test_a_malformed_key_is_refused_without_showing_it(
    kind: str,
    source: str,
    name: str,
    key: str,
    problem: str,
    debug_logs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cls = Mistral if kind == "sync" else AsyncMistral
    if source == "environment":
        if "\x00" in key:
            pytest.skip("an environment variable cannot hold a NUL")
        monkeypatch.setenv("MISTRAL_API_KEY", key)
    with pytest.raises(InvalidRequestError) as info:
        cls(api_key=key if source == "argument" else None)  # the official host: https, a key is needed
    message = str(info.value)
    assert problem in message
    assert f"({len(key.strip())} characters)" in message
    assert ("passed as api_key" if source == "argument" else "in MISTRAL_API_KEY") in message
    assert info.value.__cause__ is None and info.value.__context__ is None
    # with_locals=False: the constructor's own argument is the key, whatever the library does.
    assert_clean(*exception_texts(info.value, with_locals=False), *debug_logs)


def test_the_issue_example_is_a_bad_key_not_a_connection_failure(locked: LocalServer) -> None:
    locked.clear_records()
    with pytest.raises(InvalidRequestError, match=r"the API key passed as api_key \(14 characters\) contains a line"):
        Mistral(api_key="abc\r\nX-Evil: 1", base_url=locked.base_url)
    assert locked.requests == []


@pytest.mark.parametrize("source", ["argument", "environment"])
@pytest.mark.parametrize("padded", [f"{SECRET}\n", f"{SECRET}\r\n", f"  {SECRET}\t\n"])
def test_whitespace_around_the_key_is_removed_and_said(
    kind: str,
    source: str,
    padded: str,
    locked: LocalServer,
    debug_logs: list[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A key read from a file keeps its newline; the server accepts only the exact key.
    locked.clear_records()
    if source == "environment":
        monkeypatch.setenv("MISTRAL_API_KEY", padded)
    client_kw = {"api_key": padded if source == "argument" else None, "base_url": locked.base_url}
    if kind == "sync":
        with Mistral(**client_kw) as client:
            content = client.chat.complete(model=MODEL, messages=HI).choices[0].message.content
    else:

        async def main() -> Any:
            async with AsyncMistral(**client_kw) as client:
                return (await client.chat.complete(model=MODEL, messages=HI)).choices[0].message.content

        content = asyncio.run(main())
    assert content and len(locked.requests) == 1
    said = [r.getMessage() for r in caplog.records if r.name == "mistral_client" and r.levelno == logging.DEBUG]
    where = "api_key" if source == "argument" else "MISTRAL_API_KEY"
    assert any("removed whitespace around the API key" in line and where in line for line in said), said
    assert_clean(*debug_logs)


def test_a_key_without_whitespace_is_not_logged_about(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mistral_client")
    Mistral(api_key=SECRET, base_url="http://127.0.0.1:1").close()
    assert not any("API key" in record.getMessage() for record in caplog.records)


def test_a_blank_key_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", " \n")
    with pytest.raises(MistralError, match="no API key"):
        Mistral()
    assert repr(Mistral(api_key="\n", base_url="http://127.0.0.1:1")).endswith("api_key=none, max_retries=2)")


# --- secrets in extra_headers, and headers of the caller's own http_client ---------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {SECRET}\n"},  # a per-request key read from a file
        {"Authorization": f"Bearer {SECRET}\r\nX-Evil: 1"},
        {"x-api-key": f"{SECRET}\u00e9"},
        {"x-api-key": f"{SECRET}\x00"},
        {"x-api-key": f"{SECRET} "},
        {f"Authorization: Bearer {SECRET}": ""},  # the whole line given as a name
        {f"x\n{SECRET}": "v"},
    ],
    ids=["newline", "crlf", "non-ascii", "nul", "trailing space", "line as name", "newline in name"],
)
def test_a_bad_header_is_refused_without_showing_it(
    kind: str, locked: LocalServer, debug_logs: list[str], headers: dict[str, str]
) -> None:
    locked.clear_records()
    texts, error = _stream(kind, locked.base_url, headers, {})
    assert isinstance(error, InvalidRequestError), error
    assert "extra_headers" in str(error)
    if not next(iter(headers)).startswith(("Authorization:", "x\n")):
        assert f"extra_headers[{next(iter(headers))!r}]" in str(error)  # named, the value not shown
    assert locked.requests == []  # refused before anything was sent
    # with_locals=False: the caller's headers dict holds the secret in every frame it is passed to.
    assert_clean(*texts, *exception_texts(error, with_locals=False), *debug_logs)


def test_a_bad_header_on_the_callers_own_http_client(
    kind: str, locked: LocalServer, debug_logs: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Its headers go out with every request: checked when the client is built, like extra_headers.
    locked.clear_records()
    bad = f"Bearer {SECRET}\n"
    errors: list[BaseException] = []
    if kind == "sync":
        with httpx2.Client(headers={"Authorization": bad}) as http:
            with pytest.raises(InvalidRequestError, match=r"http_client.headers\['authorization'\]: the value") as info:
                Mistral(base_url=locked.base_url, http_client=http)
            errors.append(info.value)
            # Set after the client was built, it is h11 that refuses it, in an error quoting the value.
            http.headers.pop("authorization")
            client = Mistral(base_url=locked.base_url, http_client=http, max_retries=0)
            http.headers["Authorization"] = bad
            with pytest.raises(APIConnectionError) as late:
                client.chat.complete(model=MODEL, messages=HI)
            errors.append(late.value)
    else:
        from mistral_client._transport.http11 import AsyncTransport

        async def main() -> None:
            for transport in (AsyncTransport(limits=httpx2.Limits()), None):  # ours, and httpx2's
                async with httpx2.AsyncClient(headers={"Authorization": bad}, transport=transport) as http:
                    with pytest.raises(InvalidRequestError, match=r"http_client.headers\['authorization'\]") as info:
                        AsyncMistral(base_url=locked.base_url, http_client=http)
                    errors.append(info.value)
                    http.headers.pop("authorization")
                    client = AsyncMistral(base_url=locked.base_url, http_client=http, max_retries=0)
                    http.headers["Authorization"] = bad
                    with pytest.raises(APIConnectionError) as late:
                        await client.chat.complete(model=MODEL, messages=HI)
                    errors.append(late.value)

        asyncio.run(main())
    assert locked.requests == []
    for error in errors:
        if isinstance(error, APIConnectionError):
            assert str(error) == (
                "the request could not be sent: Illegal header value (not shown: it may be a credential)"
            )
    assert_clean(*[text for error in errors for text in exception_texts(error, with_locals=False)])
    # httpcore2's own DEBUG trace of the failure (httpx2's transport) quotes h11's error; ours does not.
    assert_clean(*[repr(r.__dict__) for r in caplog.records if not r.name.startswith("httpcore")])
