"""The chat page's routes (``ServerConfig(ui=True)``, ``serve --ui``) over HTTP; test_browser runs the page."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mistral_client._pipeline.sse import SSEDecoder
from mistral_client.server import LocalServer

SRC = Path(__file__).resolve().parents[2] / "src"
HELLO = {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "Say hello"}]}


@pytest.fixture(scope="module")
def ui() -> Iterator[LocalServer]:
    with LocalServer(ui=True) as running:
        yield running


def events(body: bytes) -> list[tuple[str, Any]]:
    decoder = SSEDecoder()
    found = [*decoder.feed(body), *decoder.end()]
    return [(e.event, e.data if e.data == "[DONE]" else json.loads(e.data)) for e in found]


def test_the_page_is_off_unless_asked_for(server: LocalServer) -> None:
    assert httpx2.get(f"{server.base_url}/ui/").status_code == 404
    assert httpx2.post(f"{server.base_url}/ui/chat", json=HELLO).status_code == 404


def test_the_page_and_its_files_are_served_with_a_strict_policy(ui: LocalServer) -> None:
    assert httpx2.get(f"{ui.base_url}/").headers["location"] == "/ui/"
    page = httpx2.get(f"{ui.base_url}/ui/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="chat.js"' in page.text
    assert httpx2.get(f"{ui.base_url}/ui/chat.js").headers["content-type"].startswith("text/javascript")
    assert httpx2.get(f"{ui.base_url}/ui/chat.css").headers["content-type"].startswith("text/css")
    assert httpx2.get(f"{ui.base_url}/ui/secrets.txt").status_code == 404
    models = httpx2.get(f"{ui.base_url}/ui/models").json()["models"]
    assert "mistral-small-latest" in models and not [m for m in models if "embed" in m]


def test_the_relay_streams_from_the_servers_own_api(ui: LocalServer) -> None:
    ui.clear_records()
    response = httpx2.post(f"{ui.base_url}/ui/chat", json=HELLO)
    found = events(response.content)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert found[-1] == ("message", "[DONE]")
    assert [r.path for r in ui.requests] == ["/ui/chat", "/v1/chat/completions"]
    assert ui.requests[1].body["messages"] == HELLO["messages"]


def test_the_relay_passes_fault_headers_on(ui: LocalServer) -> None:
    response = httpx2.post(f"{ui.base_url}/ui/chat", json=HELLO, headers={"x-mock-status": "429"})
    [(kind, error)] = events(response.content)
    assert (kind, error["status"]) == ("error", 429)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"{not json", "must be JSON"),
        (b"[]", "JSON object"),
        (json.dumps({**HELLO, "model": "gpt-4"}).encode(), "model must be one of"),
        (json.dumps({**HELLO, "model": "mistral-embed"}).encode(), "model must be one of"),
        (json.dumps({**HELLO, "messages": []}).encode(), "messages must be a list"),
        (json.dumps({**HELLO, "messages": [{"role": "tool", "content": "x"}]}).encode(), "messages[0] must be"),
        (json.dumps({**HELLO, "messages": [{"role": "user", "content": 3}]}).encode(), "messages[0] must be"),
        (json.dumps({**HELLO, "messages": [{"role": "assistant", "content": "x"}]}).encode(), "last message"),
    ],
)
def test_the_relay_refuses_bad_requests_before_calling_the_api(ui: LocalServer, body: bytes, complaint: str) -> None:
    ui.clear_records()
    response = httpx2.post(f"{ui.base_url}/ui/chat", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert complaint in response.json()["message"]
    assert [r.path for r in ui.requests] == ["/ui/chat"]


def test_serve_ui_serves_the_page_and_relays_with_the_servers_key() -> None:
    key = "sk-test-ui-3b7e"
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "mistral_client", "serve", "--ui", "--port", "0", "--api-key", key]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        page_url = ""
        for line in proc.stderr:
            if "chat page: " in line:
                page_url = line.split("chat page: ", 1)[1].strip()
                break
        assert page_url.endswith("/ui/"), "serve --ui did not print the page's address"
        deadline = time.monotonic() + 10
        while True:
            try:
                page = httpx2.get(page_url, timeout=1)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, "serve --ui did not answer within 10 s"
                time.sleep(0.05)
        assert page.status_code == 200 and "chat.js" in page.text
        # The page's own calls need the key like the API (the page asks for it: test_browser).
        assert httpx2.post(page_url + "chat", json=HELLO, timeout=10).status_code == 401
        keyed = {"authorization": f"Bearer {key}"}
        found = events(httpx2.post(page_url + "chat", json=HELLO, headers=keyed, timeout=10).content)
        assert found[-1] == ("message", "[DONE]")  # the relay sent the key its own API requires
        assert httpx2.get(page_url.replace("/ui/", "/v1/models")).status_code == 401
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
