"""The chat stream's fault knobs on conversation streams, over real HTTP: each one, by request
header and as a server default, with what the client receives and what the conversation keeps."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest

from mistral_client.server import LocalServer, ServerConfig
from tests.support.conversations import CONVERSATIONS, MODEL, answer, checked, named_events, problem, stream, types
from tests.support.openapi import conforms
from tests.support.servertools import read_until_broken

START = {"model": MODEL, "inputs": "Tell me about Paris", "stream": True}
DELTA = "message.output.delta"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def raw(client: httpx2.Client, headers: dict[str, str], body: dict[str, object] = START) -> bytes:
    with client.stream("POST", CONVERSATIONS, json=body, headers=headers) as response:
        assert response.status_code == 200
        return response.read()


def stored(client: httpx2.Client, conversation_id: str) -> bool:
    return client.get(f"{CONVERSATIONS}/{conversation_id}").status_code == 200


def test_tokens(client: httpx2.Client) -> None:
    events = stream(client, CONVERSATIONS, START, **{"x-mock-tokens": "3"})
    assert types(events).count(DELTA) == 3
    assert types(stream(client, CONVERSATIONS, START, **{"x-mock-tokens": "0"})).count(DELTA) == 0


@pytest.mark.parametrize("after", [0, 2, 5])
def test_error_event_after(client: httpx2.Client, after: int) -> None:
    events = stream(client, CONVERSATIONS, START, **{"x-mock-error-event-after": str(after), "x-mock-tokens": "5"})
    assert types(events) == ["conversation.response.started", *[DELTA] * after, "conversation.response.error"]
    error = events[-1][1]
    assert error["code"] == 3000 and error["message"]
    # A turn cut short is not stored.
    assert not stored(client, events[0][1]["conversation_id"])


def test_error_event_after_on_a_function_call_and_a_tool_execution(client: httpx2.Client) -> None:
    tools = [{"type": "web_search"}, {"type": "function", "function": {"name": "f", "parameters": {}}}]
    events = stream(client, CONVERSATIONS, {**START, "tools": tools}, **{"x-mock-error-event-after": "1"})
    assert types(events) == [
        "conversation.response.started",
        "tool.execution.started",
        "tool.execution.delta",
        "conversation.response.error",
    ]


def test_disconnect_after(client: httpx2.Client, server: LocalServer) -> None:
    headers = {"x-mock-disconnect-after": "2"}
    with client.stream("POST", CONVERSATIONS, json=START, headers=headers) as response:
        received, error = read_until_broken(response)
    assert isinstance(error, httpx2.RemoteProtocolError)
    complete = received[: received.rindex(b"\n\n") + 2]
    events = checked(named_events(complete))
    assert types(events) == ["conversation.response.started", DELTA, DELTA]
    assert not stored(client, events[0][1]["conversation_id"])


def test_a_client_that_leaves_is_recorded_and_nothing_stored(client: httpx2.Client, server: LocalServer) -> None:
    server.recorder.clear()
    slow = {"x-mock-token-delay": "0.05", "x-mock-tokens": "1000"}
    with client.stream("POST", CONVERSATIONS, json=START, headers=slow) as response:
        lines = response.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
    record = server.recorder.wait_for_disconnect(timeout=5)
    assert record.chunks_sent < 1000
    assert not stored(client, first.split('"conversation_id":"')[1].split('"')[0])


def test_stall_after(server: LocalServer) -> None:
    headers = {"x-mock-stall-after": "2", "x-mock-stall-seconds": "30"}
    timeout = httpx2.Timeout(5, read=0.5)
    with (
        httpx2.Client(base_url=server.base_url, timeout=timeout) as client,
        client.stream("POST", CONVERSATIONS, json=START, headers=headers) as response,
    ):
        received, error = read_until_broken(response)
    assert isinstance(error, httpx2.ReadTimeout)
    assert types(checked(named_events(received))) == ["conversation.response.started", DELTA, DELTA]


def test_a_short_stall_and_pacing_still_complete(client: httpx2.Client) -> None:
    for headers in (
        {"x-mock-stall-after": "2", "x-mock-stall-seconds": "0.01"},
        {"x-mock-token-delay": "0.001", "x-mock-first-token-delay": "0.01"},
    ):
        events = stream(client, CONVERSATIONS, START, **headers)
        assert types(events)[-1] == "conversation.response.done"


def test_malformed_after(client: httpx2.Client) -> None:
    body = raw(client, {"x-mock-malformed-after": "2", "x-mock-tokens": "4"})
    blocks = body.split(b"\n\n")[:-1]
    assert blocks[3] == b'event: message.output.delta\ndata: {"id": "broken'
    good = [block + b"\n\n" for index, block in enumerate(blocks) if index != 3]
    assert types(checked(named_events(b"".join(good)))) == [
        "conversation.response.started",
        *[DELTA] * 4,
        "conversation.response.done",
    ]


def test_no_done(client: httpx2.Client) -> None:
    events = checked(named_events(raw(client, {"x-mock-no-done": "1", "x-mock-tokens": "3"})))
    assert types(events) == ["conversation.response.started", *[DELTA] * 3]
    assert stored(client, events[0][1]["conversation_id"])  # the turn was complete


def test_crlf_and_keepalive(client: httpx2.Client) -> None:
    body = raw(client, {"x-mock-crlf": "1", "x-mock-keepalive": "1", "x-mock-tokens": "2"})
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert body.count(b": keep-alive\r\n\r\n") == 4  # one before each event
    assert types(checked(named_events(body, b"\r\n")))[-1] == "conversation.response.done"


@pytest.mark.parametrize("stream_it", [False, True])
def test_status_and_fail_times(client: httpx2.Client, stream_it: bool) -> None:
    body = {**START, "stream": stream_it}
    failing = {"x-mock-status": "503", "x-mock-fail-times": "1", "x-mock-id": f"conv-fail-{stream_it}"}
    assert problem(client.post(CONVERSATIONS, json=body, headers=failing), 503)["type"] == "service_unavailable"
    assert client.post(CONVERSATIONS, json=body, headers=failing).status_code == 200
    detail = problem(client.post(CONVERSATIONS, json=body, headers={"x-mock-status": "422"}), 422)
    conforms("HTTPValidationError", detail)


def test_status_on_append_and_html(client: httpx2.Client) -> None:
    made = answer(client, CONVERSATIONS, {**START, "stream": False})
    path = f"{CONVERSATIONS}/{made['conversation_id']}"
    problem(client.post(path, json={"inputs": "More"}, headers={"x-mock-status": "429"}), 429)
    html = client.post(path, json={"inputs": "More"}, headers={"x-mock-html": "1"})
    assert html.status_code == 200 and html.text.startswith("<html>")
    assert len(client.get(f"{path}/history").json()["entries"]) == 2  # neither reached the conversation


def test_api_key_and_rate_limit(client: httpx2.Client) -> None:
    response = client.post(CONVERSATIONS, json=START, headers={"x-mock-api-key": "sk-other"})
    assert response.status_code == 401 and response.json() == {"detail": "Unauthorized"}
    limited = client.post(CONVERSATIONS, json=START, headers={"x-mock-rate-limit": "0", "x-mock-id": "conv-rl"})
    assert problem(limited, 429)["type"] == "rate_limited"


def test_knobs_as_server_defaults() -> None:
    config = ServerConfig(mock_headers={"x-mock-error-event-after": "1", "x-mock-tokens": "3"})
    with LocalServer(config=config) as server, httpx2.Client(base_url=server.base_url) as client:
        events = stream(client, CONVERSATIONS, START)
        assert types(events) == ["conversation.response.started", DELTA, "conversation.response.error"]
        overridden = stream(client, CONVERSATIONS, START, **{"x-mock-error-event-after": "99"})
        assert types(overridden).count(DELTA) == 3 and types(overridden)[-1] == "conversation.response.done"


def test_the_chat_only_knobs_change_nothing(client: httpx2.Client) -> None:
    plain = {"x-mock-tokens": "4"}
    body = {**START, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}
    expected = types(stream(client, CONVERSATIONS, body, **plain))
    for header, value in [
        ("x-mock-finish-error-after", "1"),
        ("x-mock-usage-chunk", "separate"),
        ("x-mock-tool-call-style", "fragmented"),
    ]:
        assert types(stream(client, CONVERSATIONS, body, **plain, **{header: value})) == expected, header


OPERATIONS = [
    ("POST", "/v1/conversations"),
    ("GET", "/v1/conversations"),
    ("POST", "/v1/conversations/conv_x"),
    ("GET", "/v1/conversations/conv_x"),
    ("DELETE", "/v1/conversations/conv_x"),
    ("GET", "/v1/conversations/conv_x/history"),
    ("GET", "/v1/conversations/conv_x/messages"),
    ("POST", "/v1/conversations/conv_x/restart"),
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/pages"),
    ("GET", "/v1/agents/ag_x"),
    ("PATCH", "/v1/agents/ag_x"),
    ("DELETE", "/v1/agents/ag_x"),
    ("PATCH", "/v1/agents/ag_x/version"),
    ("GET", "/v1/agents/ag_x/versions"),
    ("GET", "/v1/agents/ag_x/versions/0"),
    ("PUT", "/v1/agents/ag_x/aliases"),
    ("GET", "/v1/agents/ag_x/aliases"),
    ("DELETE", "/v1/agents/ag_x/aliases"),
    ("POST", "/v1/agents/completions"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_status_and_html_apply_to_every_operation(client: httpx2.Client, method: str, path: str) -> None:
    body = {} if method in ("POST", "PATCH") else None
    assert problem(client.request(method, path, json=body, headers={"x-mock-status": "503"}), 503)
    html = client.request(method, path, json=body, headers={"x-mock-html": "1"})
    assert html.status_code == 200 and html.text.startswith("<html>")
