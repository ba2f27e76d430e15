"""/v1/files on the local server: upload (streamed to disk), list, retrieve, download, delete, signed URLs.

Every answer is checked against the official spec's schemas; the SDK's side is in test_files_sdk.py.
"""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer, ServerConfig, _files
from tests.support.openapi import conforms, spec

KEY = "sk-files"
LINES = b'{"custom_id":"a","body":{}}\n{"custom_id":"b","body":{}}\n{"custom_id":"c","body":{}}'


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx2.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        yield client


def upload(client: httpx2.Client, content: Any = LINES, name: str = "in.jsonl", **fields: str) -> httpx2.Response:
    return client.post("/v1/files", files={"file": (name, content)}, data={"purpose": "batch", **fields})


def test_upload_retrieve_download_delete(client: httpx2.Client, server: LocalServer) -> None:
    answer = upload(client)
    assert answer.status_code == 200, answer.text
    created = answer.json()
    conforms("CreateFileResponse", created)
    assert created["object"] == "file" and created["bytes"] == len(LINES)
    assert (created["filename"], created["purpose"], created["source"]) == ("in.jsonl", "batch", "upload")
    assert created["sample_type"] == "batch_request" and created["num_lines"] == 3
    file_id = created["id"]
    on_disk = server.app.state.files.folder / file_id
    assert on_disk.read_bytes() == LINES  # in the folder the server owns

    retrieved = client.get(f"/v1/files/{file_id}").json()
    conforms("GetFileResponse", retrieved)
    assert retrieved == {**created, "deleted": False}

    download = client.get(f"/v1/files/{file_id}/content")
    assert download.status_code == 200 and download.content == LINES
    assert download.headers["content-type"] == "application/octet-stream"

    deleted = client.delete(f"/v1/files/{file_id}").json()
    conforms("DeleteFileResponse", deleted)
    assert deleted == {"id": file_id, "object": "file", "deleted": True}
    assert not on_disk.exists()
    for path in (f"/v1/files/{file_id}", f"/v1/files/{file_id}/content"):
        gone = client.get(path)
        assert gone.status_code == 404 and gone.json()["type"] == "not_found"


@pytest.mark.parametrize(
    ("purpose", "sample_type"), [("batch", "batch_request"), ("fine-tune", "instruct"), ("ocr", "instruct")]
)
def test_every_purpose(client: httpx2.Client, purpose: str, sample_type: str) -> None:
    created = upload(client, purpose=purpose).json()
    conforms("CreateFileResponse", created)
    assert (created["purpose"], created["sample_type"]) == (purpose, sample_type)


def test_bad_uploads_are_refused_with_the_apis_shapes(client: httpx2.Client) -> None:
    wrong = upload(client, purpose="audio")
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["body", "purpose"]
    conforms("HTTPValidationError", wrong.json())
    no_file = client.post("/v1/files", files={"other": ("x", b"1")}, data={"purpose": "batch"})
    assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "file"]
    as_json = client.post("/v1/files", json={"purpose": "batch"})
    assert as_json.status_code == 422 and as_json.json()["detail"][0]["loc"] == ["body", "file"]
    cut = client.post(
        "/v1/files",
        content=b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nabc',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert cut.status_code == 400 and "multipart" in cut.json()["message"]
    bad_expiry = upload(client, expiry="soon")
    assert bad_expiry.status_code == 422 and bad_expiry.json()["detail"][0]["loc"] == ["body", "expiry"]


def test_a_file_name_is_a_label_never_a_path(client: httpx2.Client, server: LocalServer) -> None:
    created = upload(client, name="../../etc/evil.jsonl").json()
    assert created["filename"] == "evil.jsonl"
    assert (server.app.state.files.folder / created["id"]).is_file()
    assert upload(client, name="C:\\Users\\me\\in.jsonl").json()["filename"] == "in.jsonl"
    assert upload(client, name="données 日本.jsonl").json()["filename"] == "données 日本.jsonl"  # UTF-8, kept


def test_list_filters_and_pages(client: httpx2.Client) -> None:
    marker = "listing-" + hashlib.sha256(b"list").hexdigest()[:8]
    ids = [upload(client, name=f"{marker}-{i}.jsonl").json()["id"] for i in range(5)]
    ocr = upload(client, name=f"{marker}-scan.pdf", content=b"%PDF-1.4", purpose="ocr").json()
    listed = client.get("/v1/files", params={"search": marker}).json()
    conforms("ListFilesResponse", listed)
    assert listed["object"] == "list" and listed["total"] == 6
    assert [f["id"] for f in listed["data"]] == [ocr["id"], *reversed(ids)]  # newest first
    page = client.get("/v1/files", params={"search": marker, "page": 1, "page_size": 2}).json()
    assert [f["id"] for f in page["data"]] == [ids[3], ids[2]] and page["total"] == 6
    only_ocr = client.get("/v1/files", params={"search": marker, "purpose": "ocr"}).json()
    assert [f["id"] for f in only_ocr["data"]] == [ocr["id"]] and only_ocr["data"][0]["num_lines"] is None
    by_type = client.get("/v1/files", params={"search": marker, "mimetypes": ["application/pdf"]}).json()
    assert [f["id"] for f in by_type["data"]] == [ocr["id"]]
    by_source = client.get("/v1/files", params=[("search", marker), ("source", "mistral")]).json()
    assert by_source["data"] == [] and by_source["total"] == 0
    untotalled = client.get("/v1/files", params={"search": marker, "include_total": "false"}).json()
    conforms("ListFilesResponse", untotalled)
    assert untotalled["total"] is None and len(untotalled["data"]) == 6
    assert client.get("/v1/files", params={"page": "x"}).status_code == 422
    assert client.get("/v1/files", params={"source": "elsewhere"}).json()["detail"][0]["loc"] == ["query", "source"]
    assert client.get("/v1/files", params={"sample_type": "x"}).json()["detail"][0]["loc"] == ["query", "sample_type"]


def test_the_enums_are_the_specs() -> None:
    schemas = spec()["components"]["schemas"]
    assert list(_files.PURPOSES) == schemas["FilePurpose"]["enum"]
    assert list(_files._SAMPLE_TYPE_NAMES) == schemas["SampleType"]["enum"]
    assert list(_files._SOURCES) == schemas["Source"]["enum"]


def test_ids_are_uuids(client: httpx2.Client) -> None:
    bad = client.get("/v1/files/not-a-uuid")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "file_id"]
    conforms("HTTPValidationError", bad.json())
    missing = client.delete("/v1/files/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json()["object"] == "error"


def test_signed_url_serves_the_file_without_a_key_until_it_is_deleted(client: httpx2.Client) -> None:
    file_id = upload(client).json()["id"]
    answer = client.get(f"/v1/files/{file_id}/url", params={"expiry": 2}).json()
    conforms("GetSignedUrlResponse", answer)
    url = answer["url"]
    assert url.startswith(str(client.base_url).rstrip("/") + "/")
    keyless = httpx2.get(url)
    assert keyless.status_code == 200 and keyless.content == LINES
    forged = httpx2.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"))
    assert forged.status_code == 403 and forged.json()["object"] == "error"
    assert httpx2.get(url.replace("expires=", "expires=1")).status_code == 403  # the signature covers the expiry
    for hours in (0, 169):
        assert client.get(f"/v1/files/{file_id}/url", params={"expiry": hours}).status_code == 422
    client.delete(f"/v1/files/{file_id}")
    assert httpx2.get(url).status_code == 403


def test_expired_files_are_gone(client: httpx2.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    created = upload(client, expiry="1").json()
    conforms("CreateFileResponse", created)
    assert created["expires_at"] == created["created_at"] + 3600
    later = created["created_at"] + 3601
    monkeypatch.setattr(_files.time, "time", lambda: later)
    assert client.get(f"/v1/files/{created['id']}").status_code == 404


def test_a_large_file_is_streamed_to_disk_and_back_never_held(client: httpx2.Client, server: LocalServer) -> None:
    block = (json.dumps({"custom_id": "x" * 20, "body": {"messages": []}}) + "\n").encode() * 1000
    blocks = (64 << 20) // len(block) + 1  # 64 MiB, far past the 10 MiB cap on JSON bodies
    digest = hashlib.sha256()
    for _ in range(blocks):
        digest.update(block)

    class Body:  # a file the client reads in pieces: nothing of it exists whole, on either side
        sent = 0

        def read(self, size: int = -1) -> bytes:
            if self.sent == blocks:
                return b""
            self.sent += 1
            return block

    tracemalloc.start()
    try:
        answer = upload(client, content=Body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert created["bytes"] == blocks * len(block) and created["num_lines"] == blocks * 1000
    assert peak < 16 << 20, f"the upload took {peak >> 20} MiB of memory"  # client and server: one process
    on_disk: Path = server.app.state.files.folder / created["id"]
    written = hashlib.sha256()
    with on_disk.open("rb") as file:
        while block_read := file.read(1 << 20):
            written.update(block_read)
    assert written.hexdigest() == digest.hexdigest()
    # And back: the download is read from disk in blocks as the client takes them.
    downloaded = hashlib.sha256()
    tracemalloc.start()
    try:
        with client.stream("GET", f"/v1/files/{created['id']}/content") as answer:
            for piece in answer.iter_bytes():
                downloaded.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert downloaded.hexdigest() == digest.hexdigest()
    assert peak < 16 << 20, f"the download took {peak >> 20} MiB of memory"
    client.delete(f"/v1/files/{created['id']}")


def test_a_file_past_the_cap_is_refused_and_not_kept(
    client: httpx2.Client, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_files, "MAX_FILE_SIZE", 1000)
    before = set(server.app.state.files.folder.iterdir())
    answer = upload(client, content=b"x" * 1001)
    assert answer.status_code == 413 and "1000 bytes" in answer.json()["message"]
    assert set(server.app.state.files.folder.iterdir()) == before


def test_uploads_need_the_key_and_a_form_from_no_foreign_page(server: LocalServer) -> None:
    with httpx2.Client(base_url=server.base_url) as anonymous:
        assert upload(anonymous).status_code == 401
        # A form a browser sent from another site (no key: a page cannot add one without a preflight).
        cross_site = anonymous.post("/v1/files", files={"file": ("x", b"1")}, headers={"sec-fetch-site": "cross-site"})
        assert cross_site.status_code == 415 and "multipart/form-data" in cross_site.json()["message"]
    headers = {"authorization": f"Bearer {KEY}", "origin": "https://evil.example"}
    with httpx2.Client(base_url=server.base_url, headers=headers) as foreign:
        assert upload(foreign).status_code == 403
    with httpx2.Client(base_url=server.base_url, headers={"authorization": f"Bearer {KEY}"}) as plain:
        refused = plain.post("/v1/files", content=b"x", headers={"content-type": "text/plain"})
        assert refused.status_code == 415 and "multipart/form-data" in refused.json()["message"]


def test_files_live_in_the_folder_given_and_a_temporary_one_goes_with_the_server(tmp_path: Path) -> None:
    with (
        LocalServer(config=ServerConfig(files_dir=tmp_path / "files")) as server,
        httpx2.Client(base_url=server.base_url) as client,
    ):
        file_id = upload(client).json()["id"]
        assert (tmp_path / "files" / file_id).read_bytes() == LINES
    assert (tmp_path / "files" / file_id).read_bytes() == LINES  # the operator's folder: left as it is
    with LocalServer() as server, httpx2.Client(base_url=server.base_url) as client:
        upload(client)
        folder = server.app.state.files.folder
        assert folder.is_dir()
    assert not folder.exists()


def test_routes_that_take_a_file_id_read_it_through_the_app(client: httpx2.Client, server: LocalServer) -> None:
    file_id = upload(client, name="scan.pdf", content=b"%PDF-1.4 ...", purpose="ocr").json()["id"]
    assert server.app.state.file_content(file_id) == (b"%PDF-1.4 ...", "scan.pdf")
    assert server.app.state.file_content("00000000-0000-4000-8000-000000000000") is None
