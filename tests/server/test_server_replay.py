"""Record and replay, end to end: our client -> a recording LocalServer -> an upstream LocalServer, then
the same client against a replaying LocalServer with the upstream gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mistral_client import AsyncMistral, Mistral, NotFoundError, StreamError, user
from mistral_client.server import LocalServer, ServerConfig
from tests.support.servertools import CHAT, chat

KEY = "sk-upstream-9d8c7b6a"
HI = [user("Tell me about record and replay")]
MODEL = "mistral-small-latest"


@pytest.fixture(scope="module")
def upstream() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def recorder(upstream: LocalServer, recordings: Path) -> Iterator[LocalServer]:
    with LocalServer(record_dir=recordings, upstream=upstream.base_url) as server:
        yield server


def files(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text("utf-8")) for path in sorted(directory.glob("*.json"))]


def test_record_then_replay_through_the_client(upstream: LocalServer, recorder: LocalServer, recordings: Path) -> None:
    upstream.clear_records()
    headers = {"x-mock-tokens": "5", "x-mock-token-delay": "0.005"}
    with Mistral(base_url=recorder.base_url, api_key=KEY) as client:
        streamed = client.chat.stream_collect(model=MODEL, messages=HI, extra_headers=headers)
        completed = client.chat.complete(model=MODEL, messages=HI, max_tokens=3)
    assert streamed.usage is not None and streamed.usage.completion_tokens == 5
    # The upstream saw the requests, with the client's key, forwarded unchanged.
    assert [r.body["stream"] for r in upstream.requests] == [True, False]
    assert upstream.requests[0].headers["x-mock-tokens"] == "5"

    documents = files(recordings)
    assert len(documents) == 2
    for document in documents:
        assert document["request"]["path"] == CHAT
        assert "authorization" not in document["request"]["headers"]
        (exchange,) = document["exchanges"]
        assert exchange["status"] == 200
        assert dict(exchange["headers"])["mistral-correlation-id"]
        ats = [chunk["at"] for chunk in exchange["chunks"]]
        assert ats == sorted(ats) and ats[0] >= exchange["headers_at"] >= 0
    stream_document = next(d for d in documents if d["request"]["body"]["stream"])
    assert len(stream_document["exchanges"][0]["chunks"]) > 1  # paced: pieces arrived one by one
    for path in recordings.iterdir():
        assert KEY.encode() not in path.read_bytes()

    with LocalServer(replay_dir=recordings) as replay:
        with Mistral(base_url=replay.base_url) as client:  # no key, no upstream: offline
            replayed = client.chat.stream_collect(model=MODEL, messages=HI, extra_headers=headers)
            again = client.chat.complete(model=MODEL, messages=HI, max_tokens=3)

        async def main() -> str:
            async with AsyncMistral(base_url=replay.base_url) as aclient:
                result = await aclient.chat.stream_collect(model=MODEL, messages=HI, extra_headers=headers)
                return result.content

        assert asyncio.run(main()) == streamed.content
    assert replayed.content == streamed.content
    assert [c.choices[0].delta.content for c in replayed.chunks or []] == [
        c.choices[0].delta.content for c in streamed.chunks or []
    ]
    assert again.id == completed.id
    assert again.choices[0].message.content == completed.choices[0].message.content


def test_replay_gives_the_recorded_bytes_and_headers(recorder: LocalServer, recordings: Path) -> None:
    body = chat(max_tokens=4)
    auth = {"authorization": f"Bearer {KEY}", "x-mock-crlf": "1"}
    with httpx2.Client(base_url=recorder.base_url) as client:
        original = client.post(CHAT, json=body, headers=auth)
    with LocalServer(replay_dir=recordings) as replay, httpx2.Client(base_url=replay.base_url) as client:
        replayed = client.post(CHAT, json=body, headers={"x-mock-crlf": "1"})
        missing = client.post(CHAT, json=body)  # not the same x-mock-* headers: another recording
    assert replayed.content == original.content
    assert b"\r\n" in replayed.content
    for name in ("content-type", "mistral-correlation-id", "x-ratelimit-remaining-req-minute"):
        assert replayed.headers[name] == original.headers[name]
    assert missing.status_code == 404
    error = missing.json()
    assert (error["object"], error["type"]) == ("error", "not_found")
    assert "No recording for POST /v1/chat/completions" in error["message"]
    assert str(recordings) in error["message"] and ".json does not exist" in error["message"]


def test_unknown_request_is_a_clear_not_found_for_the_client(recordings: Path) -> None:
    recordings.mkdir()
    with (
        LocalServer(replay_dir=recordings) as replay,
        Mistral(base_url=replay.base_url) as client,
        pytest.raises(NotFoundError, match="No recording for POST /v1/chat/completions"),
    ):
        client.chat.complete(model=MODEL, messages=HI)


def test_a_retry_sequence_replays_in_order(recorder: LocalServer, recordings: Path) -> None:
    flaky = {"x-mock-status": "503", "x-mock-fail-times": "1", "x-mock-id": "replay-seq", "x-mock-retry-after": "0"}
    with Mistral(base_url=recorder.base_url, api_key=KEY, max_retries=1) as client:
        first = client.chat.complete(model=MODEL, messages=HI, extra_headers=flaky)
    (document,) = files(recordings)
    assert [e["status"] for e in document["exchanges"]] == [503, 200]
    with LocalServer(replay_dir=recordings) as replay, Mistral(base_url=replay.base_url, max_retries=1) as client:
        replayed = client.chat.complete(model=MODEL, messages=HI, extra_headers=flaky)
        assert [r.path for r in replay.requests] == [CHAT, CHAT]  # a 503, then the retry's 200
        # Past the end of the sequence the last exchange repeats.
        assert client.chat.complete(model=MODEL, messages=HI, extra_headers=flaky).id == first.id
    assert replayed.id == first.id


def test_a_broken_stream_is_recorded_and_replayed_broken(recorder: LocalServer, recordings: Path) -> None:
    broken = {"x-mock-disconnect-after": "2"}
    with (
        Mistral(base_url=recorder.base_url, api_key=KEY, max_retries=0) as client,
        pytest.raises(StreamError) as recorded,
    ):
        client.chat.stream_collect(model=MODEL, messages=HI, extra_headers=broken)
    (document,) = files(recordings)
    assert document["exchanges"][0]["broken"] is True
    with (
        LocalServer(replay_dir=recordings) as replay,
        Mistral(base_url=replay.base_url, max_retries=0) as client,
        pytest.raises(StreamError) as replayed,
    ):
        client.chat.stream_collect(model=MODEL, messages=HI, extra_headers=broken)
    assert replayed.value.partial.content == recorded.value.partial.content != ""


def test_replay_pace_recorded_or_fast(recorder: LocalServer, recordings: Path) -> None:
    with httpx2.Client(base_url=recorder.base_url) as client:
        client.post(CHAT, json=chat(max_tokens=3), headers={"authorization": f"Bearer {KEY}"})
    (path,) = recordings.glob("*.json")
    document = json.loads(path.read_text("utf-8"))
    document["exchanges"][0]["chunks"][-1]["at"] = 3600.0  # the last piece an hour late
    path.write_text(json.dumps(document), "utf-8")

    with LocalServer(replay_dir=recordings, replay_pace="fast") as replay, httpx2.Client(base_url=replay.base_url) as c:
        assert c.post(CHAT, json=chat(max_tokens=3), timeout=10).content.endswith(b"data: [DONE]\n\n")
    with (
        LocalServer(replay_dir=recordings) as replay,
        httpx2.Client(base_url=replay.base_url) as client,
        client.stream("POST", CHAT, json=chat(max_tokens=3), timeout=httpx2.Timeout(10, read=0.5)) as response,
        pytest.raises(httpx2.ReadTimeout),
    ):
        response.read()


def test_record_and_replay_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="go together"):
        ServerConfig(record_dir=tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        ServerConfig(replay_dir=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="http"):
        ServerConfig(record_dir=tmp_path, upstream="api.mistral.ai")


def test_an_unreachable_upstream_is_a_502_naming_it(tmp_path: Path) -> None:
    with LocalServer() as gone:
        address = gone.base_url
    with LocalServer(record_dir=tmp_path, upstream=address) as server, httpx2.Client(base_url=server.base_url) as c:
        response = c.post(CHAT, json=chat())
    assert response.status_code == 502
    assert address in response.json()["message"]
    assert list(tmp_path.iterdir()) == []
