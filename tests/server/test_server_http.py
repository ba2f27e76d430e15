"""The local server at the HTTP level: JSON for unknown paths and methods, and the request body cap."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx2
import pytest

from mistral_client import APIError, Mistral, user
from mistral_client.server import Finish, LocalServer, Prompt, ServerConfig
from tests.support.servertools import CHAT, chat

JSON = {"content-type": "application/json"}  # the guard refuses a POST of anything else (415)
ENVELOPE = {"object", "message", "type", "param", "code"}


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def error_body(response: httpx2.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    assert set(body) == ENVELOPE and body["object"] == "error" and body["param"] is None
    assert isinstance(body["message"], str) and isinstance(body["code"], str)
    return body


# --- Unknown paths and methods -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1/nope", "/v1/chat/completion", "/v2/models"])
def test_an_unknown_path_is_a_json_404(client: httpx2.Client, path: str) -> None:
    response = client.get(path)
    body = error_body(response, 404)
    assert (body["type"], body["message"]) == ("not_found", f"Not found: GET {path}")
    assert response.headers["mistral-correlation-id"]  # an answer like every other
    assert error_body(client.post(path, json={}), 404)["message"] == f"Not found: POST {path}"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", CHAT, "POST"),
        ("PUT", "/v1/fim/completions", "POST"),
        ("DELETE", "/v1/models", "GET, HEAD"),
        ("POST", "/v1/models/mistral-small-latest", "GET, HEAD"),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(client: httpx2.Client, method: str, path: str, allowed: str) -> None:
    # A JSON body: the guard refuses a POST of anything else (415) before routing.
    response = client.request(method, path, json={})
    body = error_body(response, 405)
    assert sorted(response.headers["allow"].split(", ")) == sorted(allowed.split(", "))
    assert body["message"] == f"Method not allowed: {method} {path} (allowed: {response.headers['allow']})"


def test_head_of_an_unknown_path_is_a_404_without_a_body(client: httpx2.Client) -> None:
    response = client.head("/nope")
    assert response.status_code == 404 and response.content == b""


class Broken:
    def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
        raise RuntimeError("a bug in the engine")

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        return 1


def test_an_unhandled_error_in_a_route_is_a_json_500() -> None:
    with LocalServer(engine=Broken()) as server, httpx2.Client(base_url=server.base_url, timeout=10) as client:
        body = error_body(client.post(CHAT, json=chat(stream=False)), 500)
    assert (body["type"], body["message"]) == ("internal_error", "Internal server error")
    assert "a bug in the engine" not in str(body)  # the traceback is for the log, not the client


# --- The body cap --------------------------------------------------------------------------------

CAP = 2000


@pytest.fixture(scope="module")
def capped() -> Iterator[LocalServer]:
    with LocalServer(max_body_size=CAP) as server:
        yield server


def big_chat(size: int) -> bytes:
    """A valid chat request of exactly ``size`` bytes."""
    head, tail = b'{"model":"mistral-small-latest","messages":[{"role":"user","content":"', b'"}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_body_over_the_cap_is_a_json_413(capped: LocalServer) -> None:
    capped.clear_records()
    with httpx2.Client(base_url=capped.base_url, timeout=10) as client:
        assert client.post(CHAT, content=big_chat(CAP), headers=JSON).status_code == 200
        response = client.post(CHAT, content=big_chat(CAP + 1), headers=JSON)
        body = error_body(response, 413)
        assert body["message"] == f"Request body too large: {CAP + 1} bytes; this server takes at most {CAP} " + (
            "(serve --max-body-size)"
        )
        assert body["type"] == "invalid_request_error"
        # The connection is still good: the server read and dropped the rest of the body.
        assert client.post(CHAT, content=big_chat(100), headers=JSON).status_code == 200
    assert [r.status for r in capped.responses] == [200, 413, 200]
    assert capped.requests[1].body is None and len(capped.connections) == 1


def test_a_chunked_body_is_refused_once_it_passes_the_cap(capped: LocalServer) -> None:
    def pieces() -> Iterator[bytes]:
        data = big_chat(CAP * 3)
        for start in range(0, len(data), 500):
            yield data[start : start + 500]

    with httpx2.Client(base_url=capped.base_url, timeout=10) as client:
        response = client.post(CHAT, content=pieces(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert error_body(response, 413)["message"] == (
        f"Request body too large: more than {CAP} bytes; this server takes at most {CAP} (serve --max-body-size)"
    )


def raw_answer(server: LocalServer, head: bytes, body: bytes) -> bytes:
    """Send a request that never finishes its body; return the status line the server answers with."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            part = sock.recv(65536)
            assert part, f"the server closed without answering: {answer!r}"
            answer += part
    return answer.split(b"\r\n", 1)[0]


def test_an_oversized_body_is_never_waited_for(capped: LocalServer) -> None:
    # Content-Length says too much: 413 before a byte of the body is sent.
    declared = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    status = raw_answer(capped, declared + b"Content-Length: 1000000000\r\n\r\n", b"")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    # Chunked: 413 as soon as the cap is passed, though the body has not ended.
    chunked = declared + b"Transfer-Encoding: chunked\r\n\r\n"
    status = raw_answer(capped, chunked, b"%x\r\n%s\r\n" % (CAP + 1, b"x" * (CAP + 1)))
    assert status == b"HTTP/1.1 413 Request Entity Too Large"


def test_the_cap_comes_before_the_key_and_the_rate_limit() -> None:
    with LocalServer(api_key="k", rate_limit=1, max_body_size=CAP) as server:
        with Mistral(base_url=server.base_url, api_key="k", max_retries=0) as client:
            with pytest.raises(APIError) as caught:
                client.chat.complete(model="mistral-small-latest", messages=[user("x" * CAP)])
            assert caught.value.status_code == 413 and "too large" in str(caught.value)
            client.chat.complete(model="mistral-small-latest", messages=[user("hi")])  # the 413 did not count
        with httpx2.Client(base_url=server.base_url) as http:  # no key
            error_body(http.post(CHAT, content=big_chat(CAP + 1), headers=JSON), 413)


def test_the_default_cap_is_ten_mebibytes(client: httpx2.Client) -> None:
    assert ServerConfig().max_body_size == 10 * 1024 * 1024
    response = client.post(CHAT, content=big_chat(25_000_000), headers=JSON)
    assert "25000000 bytes" in str(error_body(response, 413)["message"])


@pytest.mark.parametrize("size", [0, -1, True, 1.5, "10"])
def test_the_cap_is_checked(size: object) -> None:
    with pytest.raises(ValueError, match="max_body_size must be a number of bytes >= 1"):
        ServerConfig(max_body_size=size)  # type: ignore[arg-type]


def test_serve_max_body_size_flag() -> None:
    from tests.cli.test_cli import run_cli, serving

    for base_url in serving("--fast", "--max-body-size", str(CAP)):
        with httpx2.Client(base_url=base_url, timeout=10) as client:
            assert client.post(CHAT, content=big_chat(CAP), headers=JSON).status_code == 200
            error_body(client.post(CHAT, content=big_chat(CAP + 1), headers=JSON), 413)
    done = run_cli("serve", "--port", "0", "--max-body-size", "0")
    assert done.returncode == 2 and "--max-body-size" in done.stderr
