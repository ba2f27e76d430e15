"""Authentication, rate limits, the live API's headers on every answer, and knob defaults from the config."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx2
import pytest

from mistral_client import AsyncMistral, AuthenticationError, Mistral, RateLimitError, user
from mistral_client.server import KNOBS, LocalServer, ServerConfig
from tests.support.servertools import CHAT, EMBEDDINGS, FIM, MODEL, chat, chunks, content_chunks, stream_events

RATE_LIMIT_HEADERS = (
    "x-ratelimit-limit-req-minute",
    "x-ratelimit-remaining-req-minute",
    "x-ratelimit-limit-tokens-minute",
    "x-ratelimit-remaining-tokens-minute",
)


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def test_every_kind_of_answer_carries_the_live_headers(client: httpx2.Client, server: LocalServer) -> None:
    answers = [
        client.post(CHAT, json=chat(stream=False)),
        client.post(CHAT, json=chat(stream=False, prompt_mode="reasoning")),
        client.post(CHAT, json=chat(messages=[{"role": "system", "content": "x"}])),  # 400 message rule
        client.post(CHAT, json=chat(temperature=9)),  # 422
        client.post(CHAT, json=chat(), headers={"x-mock-api-key": "k"}),  # 401
        client.post(CHAT, json=chat(), headers={"x-mock-rate-limit": "0", "x-mock-id": "headers"}),  # 429
        client.post(CHAT, json=chat(), headers={"x-mock-tokens": "nope"}),  # 400 bad knob
        client.post(FIM, json={"model": "codestral-latest", "prompt": "x"}),
        client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": "x"}),
        client.get("/v1/models/nope"),
        client.get("/elsewhere"),
    ]
    with client.stream("POST", CHAT, json=chat(), headers={"x-mock-disconnect-after": "1"}) as broken:
        pass
    assert [r.status_code for r in answers] == [200, 200, 400, 422, 401, 429, 400, 200, 200, 404, 404]
    ids = set()
    for response in [*answers, broken]:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["mistral-correlation-id"])
        ids.add(response.headers["mistral-correlation-id"])
        for name in RATE_LIMIT_HEADERS:
            assert response.headers[name].isdigit(), (response.request.url, name)
    assert len(ids) == len(answers) + 1
    # The server's own records hold the same answers.
    recorded = {r.correlation_id: r for r in server.responses}
    for response in answers:
        record = recorded[response.headers["mistral-correlation-id"]]
        assert record.status == response.status_code
        assert record.body == response.content
        assert record.complete and not record.truncated


def test_api_key_by_header_and_through_the_client(server: LocalServer) -> None:
    headers = {"x-mock-api-key": "per-request-key"}
    with Mistral(base_url=server.base_url, api_key="wrong", max_retries=0) as client:
        with pytest.raises(AuthenticationError) as caught:
            client.chat.complete(model=MODEL, messages=[user("hi")], extra_headers=headers)
        assert caught.value.status_code == 401
    with Mistral(base_url=server.base_url, api_key="per-request-key") as client:
        answer = client.chat.complete(model=MODEL, messages=[user("hi")], extra_headers=headers)
    assert answer.choices[0].finish_reason == "stop"
    assert all(r.headers.get("authorization") == "[redacted]" for r in server.requests)
    assert not any(b"per-request-key" in r.body for r in server.responses)


def test_api_key_from_config_covers_every_endpoint() -> None:
    with LocalServer(api_key="sekrit") as server, httpx2.Client(base_url=server.base_url) as client:
        refused = [
            client.post(CHAT, json=chat()),
            client.post(FIM, json={"model": "codestral-latest", "prompt": "x"}),
            client.post(EMBEDDINGS, json={"model": "mistral-embed", "input": "x"}),
            client.get("/v1/models"),
            client.get(f"/v1/models/{MODEL}"),
        ]
        assert {(r.status_code, r.text) for r in refused} == {(401, '{"detail":"Unauthorized"}')}
        good = client.get("/v1/models", headers={"authorization": "Bearer sekrit"})
        assert good.status_code == 200

        async def main() -> None:
            async with AsyncMistral(base_url=server.base_url, api_key="nope") as aclient:
                with pytest.raises(AuthenticationError):
                    await aclient.chat.complete(model=MODEL, messages=[user("hi")])

        asyncio.run(main())


def test_rate_limit_from_config_answers_429_with_retry_after() -> None:
    with LocalServer(rate_limit=2) as server, httpx2.Client(base_url=server.base_url) as client:
        first, second, third = (client.post(CHAT, json=chat(stream=False)) for _ in range(3))
        assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
        assert [r.headers["x-ratelimit-remaining-req-minute"] for r in (first, second, third)] == ["1", "0", "0"]
        assert {r.headers["x-ratelimit-limit-req-minute"] for r in (first, second, third)} == {"2"}
        assert third.json() == {
            "object": "error",
            "message": "Rate limit exceeded",
            "type": "rate_limited",
            "param": None,
            "code": "1300",
        }
        assert 1 <= int(third.headers["retry-after"]) <= 60
        # The refused request is recorded like the others.
        assert len(server.requests) == 3
        with Mistral(base_url=server.base_url, max_retries=0) as sdk, pytest.raises(RateLimitError) as caught:
            sdk.chat.complete(model=MODEL, messages=[user("hi")])
        assert caught.value.retry_after is not None and 1 <= caught.value.retry_after <= 60

        async def main() -> None:
            async with AsyncMistral(base_url=server.base_url, max_retries=0) as aclient:
                with pytest.raises(RateLimitError):
                    async with aclient.chat.stream(model=MODEL, messages=[user("hi")]) as stream:
                        async for _ in stream:
                            pass

        asyncio.run(main())


def test_rate_limit_by_header_counts_per_mock_id(client: httpx2.Client) -> None:
    def status(mock_id: str) -> int:
        headers = {"x-mock-rate-limit": "2", "x-mock-id": mock_id}
        return client.post(CHAT, json=chat(stream=False), headers=headers).status_code

    assert [status("rl-a"), status("rl-a"), status("rl-b"), status("rl-a"), status("rl-b")] == [200, 200, 200, 429, 200]
    assert status("rl-b") == 429


def test_knob_defaults_from_the_config_and_the_request_wins() -> None:
    config = ServerConfig(mock_headers={"X-Mock-Tokens": "3", "x-mock-usage-chunk": "separate"})
    with LocalServer(config=config) as server, httpx2.Client(base_url=server.base_url) as client:
        parsed = chunks(stream_events(client, chat()))
        assert len(content_chunks(parsed)) == 3
        assert parsed[-1]["choices"] == []
        parsed = chunks(stream_events(client, chat(), **{"x-mock-tokens": "5", "x-mock-usage-chunk": "inline"}))
        assert len(content_chunks(parsed)) == 5
        assert parsed[-1]["choices"][0]["finish_reason"] == "stop"


def test_bad_knob_defaults_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="x-mock-token-delay"):
        ServerConfig(mock_headers={"x-mock-token-delay": "soon"})
    with pytest.raises(ValueError, match="tool_call_style"):
        ServerConfig(tool_call_style="bits")  # type: ignore[arg-type]


def test_every_knob_is_a_documented_header() -> None:
    from mistral_client.server import _app

    doc = _app.__doc__ or ""
    assert "x-mock-*" in doc
    names = [knob.header for knob in KNOBS]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"x-mock-[a-z-]+", name) for name in names)
    assert all(knob.help for knob in KNOBS)
