"""The chat page's relay endpoint refuses oversized bodies with a clear JSON 413 (issue 17)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest

from mistral_client.server import LocalServer


@pytest.fixture(scope="module")
def ui() -> Iterator[LocalServer]:
    with LocalServer(ui=True) as running:
        yield running


def big_body(size: int) -> bytes:
    text = "x" * size
    return json.dumps({"model": "mistral-small-latest", "messages": [{"role": "user", "content": text}]}).encode()


@pytest.mark.parametrize("megabytes", [3, 30])
def test_a_large_body_is_refused_with_a_json_413(ui: LocalServer, megabytes: int) -> None:
    response = httpx2.post(
        f"{ui.base_url}/ui/chat",
        content=big_body(megabytes * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    # 30 MB meets the whole server's --max-body-size first; the page's own cap is lower.
    assert "larger than 2 MB" in response.json()["message"] or megabytes > 10


def test_a_chunked_body_without_a_length_is_capped_too(ui: LocalServer) -> None:
    body = big_body(3 * 1024 * 1024)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = httpx2.post(f"{ui.base_url}/ui/chat", content=pieces(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "larger than 2 MB" in response.json()["message"]


def test_a_body_under_the_cap_is_answered(ui: LocalServer) -> None:
    response = httpx2.post(
        f"{ui.base_url}/ui/chat", content=big_body(1024 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.content.rstrip().endswith(b"data: [DONE]")
