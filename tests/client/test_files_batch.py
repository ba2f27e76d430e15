"""``client.files`` and ``client.batch.jobs`` against the local server, with the sync and the async client."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from mistral_client import AsyncMistral, InvalidRequestError, Mistral, NotFoundError
from mistral_client._wire.batch import API_ENDPOINTS, BATCH_JOB_STATUSES, BatchJob
from mistral_client.server import LocalServer
from tests.support.openapi import spec

LINES = [
    {
        "custom_id": f"c{number}",
        "body": {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]},
    }
    for number in range(3)
]


def jsonl(path: Path, lines: list[dict[str, Any]] = LINES) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def wait_done(kind: str, client_kw: dict[str, Any], job_id: str, timeout: float = 20) -> BatchJob:
    deadline = time.monotonic() + timeout
    while True:
        job = _get(kind, client_kw, job_id)
        if job.done or time.monotonic() > deadline:
            return job
        time.sleep(0.05)  # polling a job is what its API offers: there is no event to wait on


def _get(kind: str, client_kw: dict[str, Any], job_id: str) -> BatchJob:
    if kind == "sync":
        with Mistral(**client_kw) as client:
            return client.batch.jobs.get(job_id)

    async def main() -> BatchJob:
        async with AsyncMistral(**client_kw) as client:
            return await client.batch.jobs.get(job_id)

    return asyncio.run(main())


def on(kind: str, client_kw: dict[str, Any], method: str, *args: Any, **kw: Any) -> Any:
    """``client.files.upload(...)``, ``client.batch.jobs.create(...)``: a dotted path on either client."""
    names = method.split(".")
    if kind == "sync":
        with Mistral(**client_kw) as client:
            target: Any = client
            for name in names:
                target = getattr(target, name)
            return target(*args, **kw)

    async def main() -> Any:
        async with AsyncMistral(**client_kw) as client:
            target: Any = client
            for name in names:
                target = getattr(target, name)
            return await target(*args, **kw)

    return asyncio.run(main())


def test_files_round_trip(kind: str, server: LocalServer, tmp_path: Path) -> None:
    kw = {"base_url": server.base_url}
    source = jsonl(tmp_path / "in.jsonl")
    uploaded = on(kind, kw, "files.upload", source, purpose="batch")
    assert uploaded.id and uploaded.bytes == source.stat().st_size
    assert uploaded.filename == "in.jsonl" and uploaded.purpose == "batch"
    renamed = on(kind, kw, "files.upload", source.read_bytes(), filename="named.jsonl")
    assert renamed.filename == "named.jsonl"
    listed = on(kind, kw, "files.list", purpose="batch")
    assert {uploaded.id, renamed.id} <= {card.id for card in listed.data}
    assert on(kind, kw, "files.retrieve", uploaded.id).bytes == uploaded.bytes
    target = tmp_path / "back.jsonl"
    assert on(kind, kw, "files.download", uploaded.id, target) == source.stat().st_size
    assert target.read_bytes() == source.read_bytes()
    assert not (tmp_path / "back.jsonl.part").exists()
    assert on(kind, kw, "files.get_signed_url", uploaded.id, expiry=2).url.startswith("http")
    deleted = on(kind, kw, "files.delete", uploaded.id)
    assert deleted.id == uploaded.id and deleted.deleted
    with pytest.raises(NotFoundError):
        on(kind, kw, "files.retrieve", uploaded.id)


def test_a_failed_download_leaves_no_file(kind: str, server: LocalServer, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        on(
            kind,
            {"base_url": server.base_url},
            "files.download",
            "00000000-0000-4000-8000-000000000000",
            tmp_path / "x.jsonl",
        )
    assert list(tmp_path.iterdir()) == []


def test_a_download_cut_short_leaves_no_file(kind: str, tmp_path: Path) -> None:
    from mistral_client import APIConnectionError
    from tests.support.rawserver import RawConnection, RawServer

    def handler(conn: RawConnection) -> None:
        head = "HTTP/1.1 200 X\r\ncontent-type: application/octet-stream\r\ncontent-length: 100000\r\n\r\n"
        conn.send(head.encode() + b"x" * 5000)
        conn.sock.close()  # 5,000 of the 100,000 bytes promised

    with RawServer(handler) as raw, pytest.raises(APIConnectionError, match="after 5000 bytes"):
        on(kind, {"base_url": raw.base_url}, "files.download", "f-1", tmp_path / "out.jsonl")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its .part


def test_an_upload_is_streamed_not_read_whole(server: LocalServer, tmp_path: Path) -> None:
    import tracemalloc

    big = tmp_path / "big.jsonl"
    line = json.dumps(LINES[0]).encode() + b"\n"
    with open(big, "wb") as out:
        for _ in range(20 * 1024 * 1024 // len(line)):
            out.write(line)
    with Mistral(base_url=server.base_url) as client:
        tracemalloc.start()
        try:
            card = client.files.upload(big)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert card.bytes == big.stat().st_size
        assert peak < 4 * 1024 * 1024, peak  # 20 MB went out in blocks
        tracemalloc.start()
        try:
            client.files.download(card.id, tmp_path / "back.jsonl")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert (tmp_path / "back.jsonl").stat().st_size == card.bytes
        assert peak < 4 * 1024 * 1024, peak


@pytest.mark.parametrize(
    ("method", "args", "kw", "message"),
    [
        ("files.upload", ("IN",), {"purpose": "audio"}, "purpose must be one of 'batch', 'fine-tune', 'ocr'"),
        ("files.upload", ("nope.jsonl",), {}, "cannot be read"),
        ("files.retrieve", ("",), {}, "file_id must be the id the API gave"),
        ("files.list", (), {"purpose": "x"}, "purpose must be one of"),
        ("files.get_signed_url", ("f",), {"expiry": 0}, "expiry is whole hours >= 1"),
        ("batch.jobs.create", (), {"endpoint": "/v1/nothing", "input_files": ["f"]}, "endpoint must be one of"),
        ("batch.jobs.create", (), {"endpoint": "/v1/chat/completions"}, "exactly one of them"),
        (
            "batch.jobs.create",
            (),
            {"endpoint": "/v1/chat/completions", "requests": [{"custom_id": "a"}]},
            'requests\\[0\\] has no "body"',
        ),
        (
            "batch.jobs.create",
            (),
            {"endpoint": "/v1/chat/completions", "input_files": ["f"], "timeout_hours": 169},
            "timeout_hours is a whole number from 1 to 168",
        ),
        ("batch.jobs.list", (), {"status": "DONE"}, "status must be one of QUEUED, RUNNING"),
        ("batch.jobs.get", ("",), {}, "job_id must be"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_sent(
    kind: str, server: LocalServer, tmp_path: Path, method: str, args: tuple[Any, ...], kw: dict[str, Any], message: str
) -> None:
    args = tuple(
        jsonl(tmp_path / "in.jsonl") if arg == "IN" else tmp_path / arg if arg == "nope.jsonl" else arg for arg in args
    )
    with pytest.raises(InvalidRequestError, match=message):
        on(kind, {"base_url": server.base_url}, method, *args, **kw)
    assert server.recorder.requests == []


def test_a_job_from_an_uploaded_file_runs_to_success(kind: str, server: LocalServer, tmp_path: Path) -> None:
    kw = {"base_url": server.base_url}
    uploaded = on(kind, kw, "files.upload", jsonl(tmp_path / "in.jsonl"))
    job = on(
        kind, kw, "batch.jobs.create", input_files=[uploaded.id], endpoint="/v1/chat/completions", metadata={"k": "v"}
    )
    assert job.status in BATCH_JOB_STATUSES and job.input_files == [uploaded.id]
    job = wait_done(kind, kw, job.id)
    assert job.status == "SUCCESS" and job.done
    assert (job.total_requests, job.succeeded_requests, job.failed_requests) == (3, 3, 0)
    on(kind, kw, "files.download", job.output_file, tmp_path / "out.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(line["custom_id"] for line in lines) == ["c0", "c1", "c2"]
    assert all(line["response"]["status_code"] == 200 for line in lines)
    listed = on(kind, kw, "batch.jobs.list", status=["SUCCESS", "FAILED"])
    assert job.id in {listed_job.id for listed_job in listed.data}
    assert on(kind, kw, "batch.jobs.delete", job.id).deleted


def test_an_inline_job_and_a_cancelled_one(kind: str, server: LocalServer, tmp_path: Path) -> None:
    kw = {"base_url": server.base_url}
    job = on(
        kind, kw, "batch.jobs.create", requests=LINES, endpoint="/v1/chat/completions", model="mistral-small-latest"
    )
    assert wait_done(kind, kw, job.id).status == "SUCCESS"
    slow = on(
        kind,
        kw,
        "batch.jobs.create",
        requests=LINES,
        endpoint="/v1/chat/completions",
        extra_headers={"x-mock-batch-line-delay": "5"},
    )
    assert slow.status == "QUEUED"
    cancelled = on(kind, kw, "batch.jobs.cancel", slow.id)
    assert cancelled.status in ("CANCELLATION_REQUESTED", "CANCELLED")
    job = wait_done(kind, kw, slow.id)
    assert job.status == "CANCELLED" and job.succeeded_requests == 0


def test_the_statuses_and_endpoints_are_the_specs(kind: str) -> None:
    schemas = spec()["components"]["schemas"]
    assert list(BATCH_JOB_STATUSES) == schemas["BatchJobStatus"]["enum"]
    assert list(API_ENDPOINTS) == schemas["ApiEndpoint"]["enum"]
