"""examples/fastapi_chat.py, the seed's two ASP.NET endpoints in FastAPI, under a real uvicorn.

The relay spends the operator's key, so every request needs a user's token and counts against that
user's limit; each test uses users of its own, so the module's one app keeps separate counts.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx2
import pytest

from mistral_client import Mistral, Models, user
from mistral_client._pipeline.sse import SSEDecoder
from mistral_client.server import LocalServer
from tests.support.uvicorn_thread import UvicornThread

pytest.importorskip("fastapi", reason="the FastAPI example needs fastapi (in the test extra)")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_chat.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_chat", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def upstream() -> Iterator[LocalServer]:
    # Long, paced answers: long enough that a client leaving mid-answer is unmistakable.
    with LocalServer(default_tokens=20_000, token_delay=0.002) as server:
        yield server


USERS = ("alice", "bob", "carol", "dave", "erin", "frank")
TOKENS = {name: f"{name}-token-{i}f9a2c" for i, name in enumerate(USERS)}


def auth(name: str) -> dict[str, str]:
    return {"authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture(scope="module")
def example(upstream: LocalServer) -> Iterator[UvicornThread]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MISTRAL_BASE_URL", upstream.base_url)  # read by the app's client at startup
        env.delenv("MISTRAL_API_KEY", raising=False)
        env.setenv("CHAT_APP_TOKENS", ",".join(f"{name}:{token}" for name, token in TOKENS.items()))
        with UvicornThread(load_example().app, lifespan="on") as running:
            yield running


def answer(upstream: LocalServer, message: str, tokens: int) -> str:
    """The start of the long answer: the same text as a short one but for the short one's last tokens."""
    with Mistral(base_url=upstream.base_url) as client:
        return client.chat.stream_collect(
            model=Models.SMALL, messages=[user(message)], extra_headers={"x-mock-tokens": str(tokens)}
        ).content


def test_text_endpoint_streams_the_answer(example: UvicornThread, upstream: LocalServer) -> None:
    upstream.clear_records()
    url = f"{example.base_url}/chat/stream"
    with httpx2.stream("POST", url, json="Tell me a joke", headers=auth("alice"), timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        first = next(response.iter_text())
    assert answer(upstream, "Tell me a joke", 40).startswith(first)
    assert upstream.wait_for_disconnect(timeout=5).chunks_sent < 20_000  # leaving cancelled the upstream


def test_sse_endpoint_relays_json_events(example: UvicornThread, upstream: LocalServer) -> None:
    upstream.clear_records()
    params = {"message": "Tell me a joke"}
    url = f"{example.base_url}/chat/sse"
    with httpx2.stream("GET", url, params=params, headers=auth("bob"), timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        decoder = SSEDecoder()
        events = []
        for data in response.iter_bytes():
            events += decoder.feed(data)
            if len(events) >= 5:
                break
    text = "".join(json.loads(event.data)["content"] for event in events)
    assert answer(upstream, "Tell me a joke", 40).startswith(text)
    record = upstream.wait_for_disconnect(timeout=5)
    assert 5 <= record.chunks_sent < 20_000


def test_the_example_bad_input_is_refused_by_fastapi(example: UvicornThread, upstream: LocalServer) -> None:
    upstream.clear_records()
    sse, text, dave = f"{example.base_url}/chat/sse", f"{example.base_url}/chat/stream", auth("dave")
    assert httpx2.get(sse, headers=dave, timeout=10).status_code == 422  # no message
    assert httpx2.post(text, json={"x": 1}, headers=dave, timeout=10).status_code == 422
    assert httpx2.post(text, json="x" * 4001, headers=dave, timeout=10).status_code == 422  # too long to pay for
    assert httpx2.get(sse, params={"message": "x" * 4001}, headers=dave, timeout=10).status_code == 422
    assert upstream.requests == []


@pytest.mark.parametrize("blank", ["", " \n\t "])  # two: a refusal counts against frank's five a minute
def test_an_empty_question_is_refused(example: UvicornThread, upstream: LocalServer, blank: str) -> None:
    upstream.clear_records()
    text = httpx2.post(f"{example.base_url}/chat/stream", json=blank, headers=auth("frank"), timeout=10)
    sse = httpx2.get(f"{example.base_url}/chat/sse", params={"message": blank}, headers=auth("frank"), timeout=10)
    for response in (text, sse):
        assert response.status_code == 422
        assert response.json()["detail"][0]["msg"] == "String should have at least 1 character"
    assert upstream.requests == []


def _post_raw(example: UvicornThread, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send a POST's head and some of its body over a socket, then read the answer without sending more."""
    with socket.create_connection(("127.0.0.1", example.port), timeout=5) as sock:
        sock.sendall(head.encode() + b"".join(body_parts))
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data, f"the connection closed without an answer: {received!r}"
            received += data
        raw_head, _, body = received.partition(b"\r\n\r\n")
        status_line, *lines = raw_head.decode().split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        while len(body) < int(headers["content-length"]):
            data = sock.recv(65536)
            assert data
            body += data
    return int(status_line.split()[1]), headers, body


def _head(example: UvicornThread, framing: str, token: str = TOKENS["frank"]) -> str:
    return (
        f"POST /chat/stream HTTP/1.1\r\nhost: 127.0.0.1:{example.port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {token}\r\n{framing}\r\n\r\n"
    )


def test_a_body_announced_too_big_is_refused_before_it_is_read(example: UvicornThread, upstream: LocalServer) -> None:
    upstream.clear_records()
    # 20 MB announced, 1 KB sent: the answer must come without the rest (the socket would time out).
    status, headers, body = _post_raw(example, _head(example, "content-length: 20000000"), [b'"' + b"x" * 1024])
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "the body is over 65536 bytes"}
    # The cap comes before the auth: a body too big to read is refused whatever its token.
    anyone = _head(example, "content-length: 20000000", token="not-a-token")
    assert _post_raw(example, anyone, [b'"' + b"x" * 1024])[0] == 413
    assert upstream.requests == []


def test_a_chunked_body_too_big_is_refused_once_it_passes_the_cap(
    example: UvicornThread, upstream: LocalServer
) -> None:
    upstream.clear_records()
    piece = b'"' + b"x" * 16383
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 5  # 80 KB, and no last chunk: the body never ends
    status, headers, body = _post_raw(example, _head(example, "transfer-encoding: chunked"), chunks)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "the body is over 65536 bytes"}
    assert upstream.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer not-a-token"},
        {"authorization": f"Basic {TOKENS['alice']}"},
        {"authorization": TOKENS["alice"]},
        {"authorization": f"Bearer {TOKENS['alice']}x"},
        {"authorization": "Bearer"},
    ],
    ids=["none", "unknown token", "basic scheme", "no scheme", "token plus one", "empty"],
)
def test_without_a_valid_token_nothing_is_relayed(
    example: UvicornThread, upstream: LocalServer, headers: dict[str, str]
) -> None:
    upstream.clear_records()
    for response in (
        httpx2.post(f"{example.base_url}/chat/stream", json="Tell me a joke", headers=headers, timeout=10),
        httpx2.get(f"{example.base_url}/chat/sse", params={"message": "hi"}, headers=headers, timeout=10),
        httpx2.get(f"{example.base_url}/chat/sse", headers=headers, timeout=10),  # bad input too: still 401
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "a valid bearer token is required"}
    assert upstream.requests == []  # the operator's key was not spent


def test_each_user_gets_five_questions_a_minute(example: UvicornThread, upstream: LocalServer) -> None:
    upstream.clear_records()

    def ask(name: str) -> tuple[int, str, dict[str, str]]:
        url = f"{example.base_url}/chat/stream"
        with httpx2.stream("POST", url, json="Tell me a joke", headers=auth(name), timeout=10) as response:
            first = next(response.iter_text()) if response.status_code == 200 else response.read().decode()
            return response.status_code, first, dict(response.headers)

    answers = [ask("carol") for _ in range(5)]
    assert [status for status, _, _ in answers] == [200] * 5
    assert all(text for _, text, _ in answers)  # each one streamed
    status, body, headers = ask("carol")
    assert status == 429
    assert json.loads(body) == {"detail": "too many questions, try again later"}
    assert 55 <= int(headers["retry-after"]) <= 60
    refused = httpx2.get(f"{example.base_url}/chat/sse", params={"message": "hi"}, headers=auth("carol"), timeout=10)
    assert refused.status_code == 429  # one limit for both endpoints
    assert ask("erin")[0] == 200  # another user has a count of their own
    for _ in range(6):
        upstream.wait_for_disconnect(timeout=5)  # every stream that started was cut when its reader left
    assert len(upstream.requests) == 6  # five for carol, one for erin: nothing relayed for a refusal


def test_with_no_tokens_set_every_request_is_refused(upstream: LocalServer) -> None:
    upstream.clear_records()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MISTRAL_BASE_URL", upstream.base_url)
        env.delenv("MISTRAL_API_KEY", raising=False)
        env.delenv("CHAT_APP_TOKENS", raising=False)
        with UvicornThread(load_example().app, lifespan="on") as running:
            for headers in ({}, {"authorization": "Bearer"}, {"authorization": "Bearer x"}):
                response = httpx2.post(f"{running.base_url}/chat/stream", json="hi", headers=headers, timeout=10)
                assert response.status_code == 401
    assert upstream.requests == []


def test_an_upstream_refusal_reaches_the_text_client_as_its_status() -> None:
    # An upstream that refuses every request (400 is not retried): the refusal comes before any text.
    with LocalServer(mock_headers={"x-mock-status": "400"}) as refusing, pytest.MonkeyPatch.context() as env:
        env.setenv("MISTRAL_BASE_URL", refusing.base_url)
        env.delenv("MISTRAL_API_KEY", raising=False)
        env.setenv("CHAT_APP_TOKENS", f"alice:{TOKENS['alice']}")
        with UvicornThread(load_example().app, lifespan="on") as running:
            response = httpx2.post(
                f"{running.base_url}/chat/stream", json="Tell me a joke", headers=auth("alice"), timeout=10
            )
        request_id = refusing.requests[0].correlation_id
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    refusal = response.json()
    assert (refusal["error"], refusal["status"], refusal["request_id"]) == ("BadRequestError", 400, request_id)


def test_the_docs_show_the_example_as_it_is() -> None:
    # docs/web.md's first python block is the example, less its module docstring and __future__ import.
    docs = (EXAMPLE.parents[1] / "docs" / "web.md").read_text(encoding="utf-8")
    block = re.findall(r"^```python\n(.*?)^```", docs, re.S | re.M)[0]
    source = EXAMPLE.read_text(encoding="utf-8")
    assert block == source[source.index("import math") :]
