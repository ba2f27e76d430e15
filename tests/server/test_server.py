"""The local Mistral-compatible server, driven with plain httpx2 over real loopback HTTP.

What it emits is checked against the official OpenAPI schemas (tests/support/openapi.py), so the client's
tests that run against this server test against the real API's shapes.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import socket
from collections.abc import Iterator

import httpx2
import pytest

from mistral_client.server import (
    CHAT_COMPLETION_FIELDS,
    KNOWN_MODELS,
    Finish,
    LocalServer,
    Prompt,
    ServerConfig,
)
from tests.support.openapi import conforms, spec
from tests.support.servertools import (
    CHAT,
    DONE,
    MESSAGES,
    MODEL,
    chat,
    chunks,
    content_chunks,
    events,
    read_until_broken,
    stream_events,
    streamed_text,
    text_of,
)


@pytest.fixture(scope="module")
def _module_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def server(_module_server: LocalServer) -> LocalServer:
    _module_server.clear_records()
    return _module_server


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


# --- Streaming ---------------------------------------------------------------------------------


def test_stream_follows_the_captured_shape_and_the_spec(client: httpx2.Client) -> None:
    with client.stream("POST", CHAT, json=chat()) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        data = events(response.read())

    assert data[-1] == DONE
    assert DONE not in data[:-1]
    parsed = chunks(data)
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
        assert chunk["object"] == "chat.completion.chunk"
        assert (chunk["id"], chunk["created"], chunk["model"]) == (parsed[0]["id"], parsed[0]["created"], MODEL)
    first, middle, last = parsed[0], parsed[1:-1], parsed[-1]
    assert first["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    assert "usage" not in first
    assert len(middle) == 30
    for chunk in middle:
        assert list(chunk["choices"][0]["delta"]) == ["content"]
        assert chunk["choices"][0]["finish_reason"] is None
        assert "usage" not in chunk
        assert isinstance(chunk["p"], str)
    assert len({len(chunk["p"]) for chunk in middle}) > 5, "padding length should vary"
    assert last["choices"] == [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}]
    usage = last["usage"]
    assert usage["completion_tokens"] == 30
    assert usage["prompt_tokens"] == len(MESSAGES[0]["content"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    text = text_of(parsed)
    assert re.fullmatch(r"[A-Z][A-Za-z]*[!.?]( [A-Za-z]+| too|[.!?])*\.", text), text


def test_chunks_are_one_word_each_with_their_leading_space(client: httpx2.Client) -> None:
    pieces = [c["choices"][0]["delta"]["content"] for c in content_chunks(chunks(stream_events(client, chat())))]
    assert not pieces[0].startswith(" ")
    for piece in pieces[1:]:
        assert re.fullmatch(r" [A-Za-z]+|[.!?]", piece), piece


def test_usage_in_a_separate_chunk_on_request(client: httpx2.Client) -> None:
    data = stream_events(client, chat(), **{"x-mock-usage-chunk": "separate", "x-mock-tokens": "4"})
    assert data[-1] == DONE
    parsed = chunks(data)
    for chunk in parsed:
        conforms("CompletionChunk", chunk)
    *_, last_content, usage_only = parsed
    assert last_content["choices"][0]["delta"]["content"] == "."
    assert last_content["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in last_content
    assert usage_only["choices"] == []
    assert usage_only["usage"]["completion_tokens"] == 4
    assert len(content_chunks(parsed)) == 4


def test_usage_in_a_separate_chunk_by_config() -> None:
    with LocalServer(usage_chunk="separate") as server, httpx2.Client(base_url=server.base_url) as client:
        parsed = chunks(stream_events(client, chat()))
    assert parsed[-1]["choices"] == []
    assert parsed[-2]["choices"][0]["finish_reason"] == "stop"


def test_mock_tokens_sets_the_exact_number_of_content_chunks(client: httpx2.Client) -> None:
    for count in (0, 1, 2, 5000):
        parsed = chunks(stream_events(client, chat(), **{"x-mock-tokens": str(count)}))
        assert len(parsed) == count + 2  # role chunk, content chunks, final chunk
        assert len(content_chunks(parsed)) == count
        assert parsed[-1]["usage"]["completion_tokens"] == count
        assert parsed[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_and_non_stream_say_the_same(client: httpx2.Client) -> None:
    completion = client.post(CHAT, json=chat(stream=False)).json()
    assert completion["choices"][0]["message"]["content"] == streamed_text(client)


# --- Non-streaming and models --------------------------------------------------------------------


def test_non_stream_follows_the_captured_shape_and_the_spec(client: httpx2.Client) -> None:
    response = client.post(CHAT, json=chat(stream=False))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    conforms("ChatCompletionResponse", body)
    assert "data" not in body
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    (choice,) = body["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"].endswith(".")
    words = len(MESSAGES[0]["content"].split())
    assert body["usage"] == {"prompt_tokens": words, "completion_tokens": 30, "total_tokens": words + 30}


def test_spec_quirk_is_applied_only_to_data() -> None:
    parts = spec()["components"]["schemas"]["ChatCompletionResponse"]["allOf"]
    required = {name for part in parts for name in part.get("required", [])}
    assert "data" not in required
    assert {"id", "object", "model", "usage", "created", "choices"} <= required


def test_models_list_validates_against_the_spec(client: httpx2.Client) -> None:
    response = client.get("/v1/models")
    assert response.status_code == 200
    body = response.json()
    conforms("ModelList", body)
    assert body["object"] == "list"
    assert [card["id"] for card in body["data"]] == list(KNOWN_MODELS)
    chat_models = {card["id"] for card in body["data"] if card["capabilities"]["completion_chat"]}
    assert chat_models == set(KNOWN_MODELS) - {"mistral-embed", "codestral-embed"}


def test_one_model_card(client: httpx2.Client) -> None:
    card = client.get(f"/v1/models/{MODEL}").json()
    conforms("BaseModelCard", card)
    assert card["id"] == MODEL
    missing = client.get("/v1/models/open-mistral-7b")
    assert missing.status_code == 404
    assert missing.json()["object"] == "error"


# --- The engine ----------------------------------------------------------------------------------


def test_same_request_same_text_and_seed_changes_it(client: httpx2.Client) -> None:
    first = streamed_text(client, random_seed=7)
    assert streamed_text(client, random_seed=7) == first
    assert streamed_text(client, random_seed=8) != first
    assert streamed_text(client, random_seed=7, messages=[{"role": "user", "content": "Another"}]) != first
    assert streamed_text(client, random_seed=7, model="mistral-large-latest") != first


def test_max_tokens_cuts_the_text_with_finish_reason_length(client: httpx2.Client) -> None:
    full = streamed_text(client)
    parsed = chunks(stream_events(client, chat(max_tokens=5)))
    assert len(content_chunks(parsed)) == 5
    assert parsed[-1]["choices"][0]["finish_reason"] == "length"
    assert parsed[-1]["usage"]["completion_tokens"] == 5
    assert full.startswith(text_of(parsed))
    assert text_of(parsed) != full

    completion = client.post(CHAT, json=chat(stream=False, max_tokens=3)).json()
    assert completion["choices"][0]["finish_reason"] == "length"
    assert completion["usage"]["completion_tokens"] == 3


def test_stop_ends_the_text_before_the_stop_string(client: httpx2.Client) -> None:
    full = streamed_text(client)
    words = full.split(" ")
    # Two words from the middle: the stop string spans two chunks and is cut inside a chunk.
    stop = " ".join(words[4:6])[1:]
    assert stop in full
    parsed = chunks(stream_events(client, chat(stop=["never appears", stop])))
    assert text_of(parsed) == full[: full.index(stop)]
    assert parsed[-1]["choices"][0]["finish_reason"] == "stop"
    assert parsed[-1]["usage"]["completion_tokens"] == len(content_chunks(parsed))

    completion = client.post(CHAT, json=chat(stream=False, stop=stop)).json()
    assert completion["choices"][0]["message"]["content"] == full[: full.index(stop)]


def test_a_plugged_in_engine_decides_text_and_finish_reason() -> None:
    class Echo:
        def generate(self, prompt: Prompt) -> Iterator[str | Finish]:
            yield from prompt.messages[-1]["content"].split("|")
            yield Finish("tool_calls")

        def count_prompt_tokens(self, prompt: Prompt) -> int:
            return 99

    body = chat(messages=[{"role": "user", "content": "a|b|c"}])
    with LocalServer(config=ServerConfig(engine=Echo())) as server, httpx2.Client(base_url=server.base_url) as client:
        parsed = chunks(stream_events(client, body))
    assert text_of(parsed) == "abc"
    assert parsed[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert parsed[-1]["usage"] == {"prompt_tokens": 99, "completion_tokens": 3, "total_tokens": 102}


# --- Validation and authentication ---------------------------------------------------------------


def test_unknown_field_is_rejected_like_the_live_service(client: httpx2.Client) -> None:
    response = client.post(CHAT, json=chat(store=False))
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "type": "extra_forbidden",
                "loc": ["body", "store"],
                "msg": "Extra inputs are not permitted",
                "input": False,
            }
        ]
    }
    conforms("HTTPValidationError", response.json())


def test_missing_fields_and_wrong_bodies_are_422(client: httpx2.Client) -> None:
    response = client.post(CHAT, json={"stream": True})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(d["type"], d["loc"]) for d in detail] == [
        ("missing", ["body", "model"]),
        ("missing", ["body", "messages"]),
    ]
    conforms("HTTPValidationError", response.json())

    for bad in ([1, 2], "text"):
        response = client.post(CHAT, json=bad)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body"]
    response = client.post(CHAT, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
    response = client.post(CHAT, json=chat(max_tokens="ten"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "max_tokens"]


def test_every_spec_field_is_accepted_and_nothing_else() -> None:
    assert set(spec()["components"]["schemas"]["ChatCompletionRequest"]["properties"]) == CHAT_COMPLETION_FIELDS


def test_unknown_model_is_400(client: httpx2.Client) -> None:
    response = client.post(CHAT, json=chat(model="xyz"))
    assert response.status_code == 400
    assert response.json() == {
        "object": "error",
        "message": "Invalid model: xyz",
        "type": "invalid_model",
        "param": None,
        "code": "1500",
    }


def test_api_key_is_required_when_configured() -> None:
    with LocalServer(api_key="sekrit") as server, httpx2.Client(base_url=server.base_url) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}):
            for response in (
                client.post(CHAT, json=chat(), headers=headers),
                client.get("/v1/models", headers=headers),
            ):
                assert response.status_code == 401
                assert response.json() == {"detail": "Unauthorized"}
        good = {"authorization": "Bearer sekrit"}
        assert client.post(CHAT, json=chat(stream=False), headers=good).status_code == 200
        assert client.get("/v1/models", headers=good).status_code == 200
        assert all(r.headers["authorization"] == "[redacted]" for r in server.requests if "authorization" in r.headers)
        assert len(server.requests) == 6
        assert sum("authorization" in r.headers for r in server.requests) == 4


# --- Headers and records -------------------------------------------------------------------------

RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit-req-minute",
    "x-ratelimit-remaining-req-minute",
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimit-remaining-tokens-minute",
)


def test_every_answer_carries_correlation_id_and_rate_limit_headers(client: httpx2.Client) -> None:
    with client.stream("POST", CHAT, json=chat()) as streamed:
        streamed.read()
    answers = [
        streamed,
        client.post(CHAT, json=chat(stream=False)),
        client.post(CHAT, json=chat(model="xyz")),
        client.post(CHAT, json=chat(extra=1)),
        client.post(CHAT, json=chat(), headers={"x-mock-status": "503"}),
        client.post(CHAT, json=chat(), headers={"x-mock-html": "1"}),
        client.get("/v1/models"),
        client.get("/no/such/path"),
    ]
    ids = set()
    for response in answers:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["mistral-correlation-id"])
        ids.add(response.headers["mistral-correlation-id"])
        for name in RATE_LIMIT_HEADERS:
            assert response.headers[name].isdigit(), name
    assert len(ids) == len(answers)


def test_rate_limit_headers_count_requests_and_tokens() -> None:
    with (
        LocalServer(requests_per_minute=50, tokens_per_minute=1000) as server,
        httpx2.Client(base_url=server.base_url) as client,
    ):
        answers = [client.get("/v1/models"), client.post(CHAT, json=chat(stream=False)), client.get("/v1/models")]
    assert {r.headers["x-ratelimit-limit-req-minute"] for r in answers} == {"50"}
    assert {r.headers["x-ratelimit-limit-tokens-minute"] for r in answers} == {"1000"}
    assert [r.headers["x-ratelimit-remaining-req-minute"] for r in answers] == ["49", "48", "47"]
    prompt_tokens = answers[1].json()["usage"]["prompt_tokens"]
    remaining_tokens = [int(r.headers["x-ratelimit-remaining-tokens-minute"]) for r in answers]
    assert remaining_tokens == [1000, 1000 - prompt_tokens, 1000 - prompt_tokens]


def test_requests_are_recorded(client: httpx2.Client, server: LocalServer) -> None:
    response = client.post(CHAT, json=chat(stream=False), headers={"authorization": "Bearer abc", "x-mock-id": "r1"})
    client.get("/v1/models")
    first, second = server.requests
    assert (first.method, first.path, second.method, second.path) == ("POST", CHAT, "GET", "/v1/models")
    assert first.body == chat(stream=False)
    assert second.body is None
    assert first.headers["authorization"] == "[redacted]"
    assert first.headers["x-mock-id"] == "r1"
    assert first.correlation_id == response.headers["mistral-correlation-id"]
    assert first.client is not None and first.client[0] == "127.0.0.1"
    assert second.index == first.index + 1
    assert first.at <= second.at
    assert server.disconnects == []


def test_accepted_connections_get_tcp_nodelay(server: LocalServer) -> None:
    # asyncio sets TCP_NODELAY only on sockets created as IPPROTO_TCP; without it each answer sent
    # in two writes (headers, then body) waits for the client's delayed ACK: ~40 ms a request.
    assert server._server is not None
    listening = [sock for s in server._server.servers for sock in s.sockets]
    assert listening
    if type(listening[0]).__module__.startswith("uvloop"):
        return  # uvicorn picked uvloop (installed by the bench extra), which sets TCP_NODELAY itself
    assert all(sock.proto == socket.IPPROTO_TCP for sock in listening)


def test_connections_show_reuse(server: LocalServer) -> None:
    with httpx2.Client(base_url=server.base_url) as one:
        one.get("/v1/models")
        one.post(CHAT, json=chat(stream=False))
    with httpx2.Client(base_url=server.base_url) as another:
        another.get("/v1/models")
    ports = [r.client[1] for r in server.requests if r.client]
    assert ports[0] == ports[1] != ports[2]
    assert len(server.connections) == 2


def test_client_disconnect_is_recorded(client: httpx2.Client, server: LocalServer) -> None:
    slow = {"x-mock-token-delay": "0.05", "x-mock-tokens": "1000"}
    with client.stream("POST", CHAT, json=chat(), headers=slow) as response:
        correlation_id = response.headers["mistral-correlation-id"]
        lines = response.iter_lines()
        received = [line for line in itertools.islice(lines, 8) if line.startswith("data: ")]
    # Leaving the block closes a half-read response, which closes its connection.
    record = server.wait_for_disconnect(timeout=1.0)
    assert record.correlation_id == correlation_id
    assert record.request_index == server.requests[-1].index
    assert len(received) <= record.chunks_sent + 1 < 1000
    assert server.disconnects == [record]
    with pytest.raises(TimeoutError):
        server.wait_for_disconnect(timeout=0.05)


def test_a_complete_stream_records_no_disconnect(client: httpx2.Client, server: LocalServer) -> None:
    stream_events(client, chat())
    stream_events(client, chat(), **{"x-mock-token-delay": "0.001", "x-mock-tokens": "5"})
    with pytest.raises(TimeoutError):
        server.wait_for_disconnect(timeout=0.2)


# --- Faults --------------------------------------------------------------------------------------


def test_injected_status_with_retry_after(client: httpx2.Client) -> None:
    response = client.post(CHAT, json=chat(), headers={"x-mock-status": "429", "x-mock-retry-after": "1.5"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1.5"
    assert response.json() == {
        "object": "error",
        "message": "Rate limit exceeded",
        "type": "rate_limited",
        "param": None,
        "code": "1300",
    }
    response = client.post(CHAT, json=chat(), headers={"x-mock-status": "500"})
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    body = response.json()
    assert (body["object"], body["type"], body["param"]) == ("error", "internal_error", None)
    assert isinstance(body["message"], str) and isinstance(body["code"], str)


def test_injected_401_and_422_use_their_detail_shapes(client: httpx2.Client) -> None:
    response = client.post(CHAT, json=chat(), headers={"x-mock-status": "401"})
    assert (response.status_code, response.json()) == (401, {"detail": "Unauthorized"})
    response = client.post(CHAT, json=chat(), headers={"x-mock-status": "422"})
    assert response.status_code == 422
    conforms("HTTPValidationError", response.json())
    assert response.json()["detail"]


def test_fail_times_counts_per_mock_id(client: httpx2.Client) -> None:
    def status(mock_id: str) -> int:
        headers = {"x-mock-status": "503", "x-mock-fail-times": "2", "x-mock-id": mock_id}
        return client.post(CHAT, json=chat(stream=False), headers=headers).status_code

    assert [status("fail-a"), status("fail-a"), status("fail-b"), status("fail-a"), status("fail-a")] == [
        503,
        503,
        503,
        200,
        200,
    ]
    assert [status("fail-b"), status("fail-b")] == [503, 200]


def test_disconnect_after_n_chunks(
    client: httpx2.Client, server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG),
        client.stream("POST", CHAT, json=chat(), headers={"x-mock-disconnect-after": "3"}) as response,
    ):
        assert response.status_code == 200
        received, error = read_until_broken(response)
    assert isinstance(error, httpx2.RemoteProtocolError)
    parsed = chunks(events(received))
    assert len(content_chunks(parsed)) == 3
    assert len(parsed) == 4  # the role chunk, then three content chunks, nothing after them
    assert DONE not in received
    assert all(c["choices"][0]["finish_reason"] is None for c in parsed)
    # The server ended this stream, not the client, and says nothing about it.
    assert server.disconnects == []
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


def test_disconnect_after_zero_and_with_pacing(client: httpx2.Client) -> None:
    for headers in ({"x-mock-disconnect-after": "0"}, {"x-mock-disconnect-after": "2", "x-mock-token-delay": "0.01"}):
        with client.stream("POST", CHAT, json=chat(), headers=headers) as response:
            received, error = read_until_broken(response)
        assert isinstance(error, httpx2.RemoteProtocolError)
        assert len(content_chunks(chunks(events(received)))) == int(headers["x-mock-disconnect-after"])


def test_error_event_after_n_chunks(client: httpx2.Client) -> None:
    data = stream_events(client, chat(), **{"x-mock-error-event-after": "2"})
    assert DONE not in data
    assert len(content_chunks(chunks(data[:-1]))) == 2
    assert json.loads(data[-1]) == {
        "object": "error",
        "message": "Internal server error",
        "type": "internal_error",
        "param": None,
        "code": "3000",
    }


def test_finish_error_after_n_chunks(client: httpx2.Client) -> None:
    data = stream_events(client, chat(), **{"x-mock-finish-error-after": "4"})
    assert data[-1] == DONE
    parsed = chunks(data)
    assert len(content_chunks(parsed)) == 4
    assert parsed[-1]["choices"][0]["finish_reason"] == "error"
    assert parsed[-1]["usage"]["completion_tokens"] == 4
    conforms("CompletionChunk", parsed[-1])


def test_malformed_event_then_the_stream_goes_on(client: httpx2.Client) -> None:
    data = stream_events(client, chat(), **{"x-mock-malformed-after": "2", "x-mock-tokens": "6"})
    bad = data[3]  # role chunk, two content chunks, then the broken one
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad)
    rest = data[:3] + data[4:]
    assert rest[-1] == DONE
    assert len(content_chunks(chunks(rest))) == 6


def test_no_done(client: httpx2.Client) -> None:
    data = stream_events(client, chat(), **{"x-mock-no-done": "1"})
    assert DONE not in data
    assert json.loads(data[-1])["choices"][0]["finish_reason"] == "stop"


def test_html_proxy_page(client: httpx2.Client) -> None:
    response = client.post(CHAT, json=chat(), headers={"x-mock-html": "1"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<html>")


def test_crlf_line_endings(client: httpx2.Client) -> None:
    with client.stream("POST", CHAT, json=chat(), headers={"x-mock-crlf": "1"}) as response:
        body = response.read()
    assert re.search(rb"(?<!\r)\n", body) is None, "every LF follows a CR"
    data = events(body, eol=b"\r\n")
    assert data[-1] == DONE
    assert len(content_chunks(chunks(data))) == 30


def test_keepalive_comments_are_interleaved(client: httpx2.Client) -> None:
    with client.stream("POST", CHAT, json=chat(), headers={"x-mock-keepalive": "1", "x-mock-tokens": "3"}) as r:
        body = r.read()
    blocks = body.split(b"\n\n")[:-1]
    assert blocks[::2] == [b": keep-alive"] * 6  # before the role chunk, 3 content chunks, final chunk, [DONE]
    assert all(block.startswith(b"data: ") for block in blocks[1::2])
    assert events(body)[-1] == DONE


def test_stall_pauses_then_continues(client: httpx2.Client, server: LocalServer) -> None:
    long_stall = {"x-mock-stall-after": "2", "x-mock-stall-seconds": "30", "x-mock-tokens": "5"}
    with client.stream("POST", CHAT, json=chat(), headers=long_stall, timeout=httpx2.Timeout(10, read=0.5)) as r:
        received, error = read_until_broken(r)
    assert isinstance(error, httpx2.ReadTimeout)
    assert len(content_chunks(chunks(events(received)))) == 2
    assert server.wait_for_disconnect(timeout=1.0).chunks_sent == 2

    short_stall = {**long_stall, "x-mock-stall-seconds": "0.05"}
    data = stream_events(client, chat(), **short_stall)
    assert data[-1] == DONE
    assert len(content_chunks(chunks(data))) == 5


def test_first_token_delay_holds_back_every_event(client: httpx2.Client, server: LocalServer) -> None:
    headers = {"x-mock-first-token-delay": "30"}
    with client.stream("POST", CHAT, json=chat(), headers=headers, timeout=httpx2.Timeout(10, read=0.3)) as r:
        assert r.status_code == 200
        received, error = read_until_broken(r)
    assert isinstance(error, httpx2.ReadTimeout)
    assert received == b""
    assert server.wait_for_disconnect(timeout=1.0).chunks_sent == 0


def test_bad_knob_values_are_400(client: httpx2.Client) -> None:
    for name, value in [
        ("x-mock-tokens", "many"),
        ("x-mock-token-delay", "-1"),
        ("x-mock-status", "200"),
        ("x-mock-usage-chunk", "sometimes"),
    ]:
        response = client.post(CHAT, json=chat(), headers={name: value})
        assert response.status_code == 400, name
        assert name in response.json()["message"]
