"""What a ``serve`` process saw, asked over HTTP (``GET /mock/requests``), and its files folder.

A bulk run's proof is on the server's side: each id answered once, a refused request retried no
more than the rules allow. The server runs in a process of its own here, as it does for that proof.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.support.serveproc import serving
from tests.support.servertools import CHAT, MODEL

KEY = "sk-seen"


def ask(i: int) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}]}


def test_the_requests_a_serve_process_saw_and_how_it_answered_them() -> None:
    with serving("--fast", "--api-key", KEY, "--rate-limit", "3") as served:
        with httpx2.Client(base_url=served.base_url, headers={"authorization": f"Bearer {KEY}"}) as client:
            statuses = [client.post(CHAT, json=ask(i)).status_code for i in range(5)]
            assert statuses == [200, 200, 200, 429, 429]
            client.get("/v1/models")  # another path: not in the answer below
            seen = client.get("/mock/requests", params={"path": CHAT})
            assert seen.status_code == 200  # past the rate limit: it is not the API
            answer = seen.json()
            assert answer["object"] == "list" and answer["total"] == 5
            assert [(entry["status"], entry["body"]) for entry in answer["data"]] == [
                (status, ask(i)) for i, status in enumerate(statuses)
            ]
            assert all(entry["method"] == "POST" and entry["path"] == CHAT for entry in answer["data"])
            times = [entry["at"] for entry in answer["data"]]
            assert times == sorted(times)
            later = client.get("/mock/requests", params={"since": answer["data"][3]["index"]}).json()
            assert [entry["body"] for entry in later["data"]] == [ask(3), ask(4), None]  # and the GET /v1/models
            assert client.get("/mock/requests", params={"since": "x"}).status_code == 400
        with httpx2.Client(base_url=served.base_url) as anonymous:
            assert anonymous.get("/mock/requests").status_code == 401  # it shows what was sent: the key guards it


def test_serve_keeps_files_in_the_folder_given(tmp_path: Path) -> None:
    with serving("--fast", "--files-dir", str(tmp_path)) as served, httpx2.Client(base_url=served.base_url) as client:
        created = client.post("/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"}).json()
        assert (tmp_path / created["id"]).read_bytes() == b"{}\n"


def test_serve_removes_its_temporary_files_folder_when_it_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the serve process makes its temporary folder
    with serving("--fast") as served, httpx2.Client(base_url=served.base_url) as client:
        created = client.post("/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "batch"}).json()
        [folder] = tmp_path.glob("mistral-client-files-*")
        assert (folder / created["id"]).is_file()
    assert not folder.exists()
