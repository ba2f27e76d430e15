"""The request knobs on every route of issue 19 (audio, speech, voices, OCR, moderation): an injected
status, the proxy's HTML page, and the delay before a whole answer, as on the chat routes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from mistral_client.server._media import tone, wav_bytes

DOCUMENT = {"type": "document_url", "document_url": "https://example.com/a.pdf"}
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/audio/transcriptions", {"data": {"model": "voxtral-mini-latest"}}),
    ("POST", "/v1/audio/speech", {"json": {"input": "hi", "response_format": "wav"}}),
    ("GET", "/v1/audio/voices", {}),
    ("POST", "/v1/ocr", {"json": {"model": "mistral-ocr-latest", "document": DOCUMENT}}),
    ("POST", "/v1/moderations", {"json": {"model": "mistral-moderation-latest", "input": "hi"}}),
    ("POST", "/v1/chat/moderations", {"json": {"model": "mistral-moderation-latest", "input": []}}),
    ("POST", "/v1/classifications", {"json": {"model": "ft:classifier:a", "input": "hi"}}),
    (
        "POST",
        "/v1/chat/classifications",
        {"json": {"model": "ft:classifier:a", "input": {"messages": [{"role": "user", "content": "hi"}]}}},
    ),
]


@pytest.fixture
def http(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def send(http: httpx2.Client, method: str, path: str, kw: dict[str, Any], headers: dict[str, str]) -> httpx2.Response:
    if path == "/v1/audio/transcriptions":
        kw = {**kw, "files": {"file": ("a.wav", wav_bytes(tone(0.5)))}}
    return http.request(method, path, headers=headers, **kw)


@pytest.mark.parametrize(("method", "path", "kw"), ROUTES, ids=[path for _, path, _ in ROUTES])
def test_knobs(http: httpx2.Client, method: str, path: str, kw: dict[str, Any]) -> None:
    assert send(http, method, path, kw, {}).status_code == 200
    failed = send(http, method, path, kw, {"x-mock-status": "429", "x-mock-retry-after": "3"})
    assert failed.status_code == 429 and failed.json()["type"] == "rate_limited"
    assert failed.headers["retry-after"] == "3"
    html = send(http, method, path, kw, {"x-mock-html": "1"})
    assert html.status_code == 200 and html.text.startswith("<html>")
    if method == "POST":
        started = time.monotonic()
        assert send(http, method, path, kw, {"x-mock-first-token-delay": "0.3"}).status_code == 200
        assert time.monotonic() - started >= 0.3
