"""examples/fastapi_chat.py, the seed's two ASP.NET endpoints in FastAPI, under a real uvicorn."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx2
import pytest

from mistral_client import Mistral, Models, user
from mistral_client._sse import SSEDecoder
from mistral_client.server import LocalServer
from uvicorn_thread import UvicornThread

pytest.importorskip("fastapi", reason="the FastAPI example needs fastapi (in the test extra)")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fastapi_chat.py"


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


@pytest.fixture(scope="module")
def example(upstream: LocalServer) -> Iterator[UvicornThread]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MISTRAL_BASE_URL", upstream.base_url)  # read by the app's client at startup
        env.delenv("MISTRAL_API_KEY", raising=False)
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
    with httpx2.stream("POST", f"{example.base_url}/chat/stream", json="Tell me a joke", timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        first = next(response.iter_text())
    assert answer(upstream, "Tell me a joke", 40).startswith(first)
    assert upstream.wait_for_disconnect(timeout=5).chunks_sent < 20_000  # leaving cancelled the upstream


def test_sse_endpoint_relays_json_events(example: UvicornThread, upstream: LocalServer) -> None:
    upstream.clear_records()
    params = {"message": "Tell me a joke"}
    with httpx2.stream("GET", f"{example.base_url}/chat/sse", params=params, timeout=10) as response:
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
    assert httpx2.get(f"{example.base_url}/chat/sse", timeout=10).status_code == 422  # no message
    assert httpx2.post(f"{example.base_url}/chat/stream", json={"x": 1}, timeout=10).status_code == 422
    assert upstream.requests == []
