"""The official ``mistralai`` SDK against the local server's files and batch jobs, its batch helper unchanged.

``mistralai.extra.batch.BatchClient`` uploads (or sends inline), creates, polls, downloads and
parses; here it runs whole against the local server. The SDK comes with the ``bench`` extra: without
it these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from tests.support.servertools import MODEL
from tests.support.shared import need

KEY = "sk-batch-sdk"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def sdk(server: LocalServer) -> Iterator[Any]:
    client = need("mistralai.client").Mistral(api_key=KEY, server_url=server.base_url)
    with client:
        yield client


@pytest.fixture
def batch() -> Any:
    return need("mistralai.extra.batch")


def chat_line(i: int) -> dict[str, Any]:
    return {"custom_id": f"q{i}", "body": {"messages": [{"role": "user", "content": f"question {i}"}]}}


def test_files_through_the_sdk(sdk: Any) -> None:
    content = b"".join(json.dumps(chat_line(i)).encode() + b"\n" for i in range(3))
    uploaded = sdk.files.upload(file={"file_name": "asks.jsonl", "content": content}, purpose="batch")
    assert (uploaded.filename, uploaded.size_bytes, uploaded.num_lines) == ("asks.jsonl", len(content), 3)
    assert uploaded.purpose == "batch" and uploaded.source == "upload"
    listed = sdk.files.list(purpose="batch", search="asks")
    assert uploaded.id in [f.id for f in listed.data] and listed.total >= 1
    assert sdk.files.retrieve(file_id=uploaded.id).deleted is False
    assert sdk.files.download(file_id=uploaded.id).read() == content
    url = sdk.files.get_signed_url(file_id=uploaded.id, expiry=1).url
    assert httpx2.get(url).content == content
    assert sdk.files.delete(file_id=uploaded.id).deleted is True
    with pytest.raises(need("mistralai.client.errors").SDKError) as caught:
        sdk.files.retrieve(file_id=uploaded.id)
    assert caught.value.status_code == 404


def test_batch_jobs_through_the_sdk(sdk: Any) -> None:
    job = sdk.batch.jobs.create(
        requests=[chat_line(i) for i in range(4)],
        endpoint="/v1/chat/completions",
        model=MODEL,
        metadata={"via": "sdk"},
        http_headers={"x-mock-batch-fail-every": "4"},
    )
    assert job.status == "QUEUED" and job.total_requests == 4
    while job.status in ("QUEUED", "RUNNING"):
        job = sdk.batch.jobs.get(job_id=job.id)
    assert job.status == "SUCCESS" and (job.succeeded_requests, job.failed_requests) == (3, 1)
    assert [line["custom_id"] for line in job.outputs] == ["q0", "q1", "q2", "q3"]
    assert job.errors[0].count == 1
    listed = sdk.batch.jobs.list(metadata={"via": "sdk"}, status=["SUCCESS"])
    assert [j.id for j in listed.data] == [job.id] and listed.total == 1

    slow = sdk.batch.jobs.create(
        requests=[chat_line(1)],
        endpoint="/v1/chat/completions",
        model=MODEL,
        http_headers={"x-mock-batch-line-delay": "30"},
    )
    assert sdk.batch.jobs.cancel(job_id=slow.id).status == "CANCELLATION_REQUESTED"
    while slow.status != "CANCELLED":
        slow = sdk.batch.jobs.get(job_id=slow.id)
        assert slow.status in ("CANCELLATION_REQUESTED", "CANCELLED")


def test_the_sdks_batch_client_runs_unchanged(server: LocalServer, batch: Any) -> None:
    mistralai = need("mistralai.client")
    models = need("mistralai.client.models")

    async def run() -> tuple[Any, Any, Any]:
        async with mistralai.Mistral(api_key=KEY, server_url=server.base_url) as sdk:
            chats = batch.BatchClient(
                sdk, endpoint="/v1/chat/completions", response_body_type=models.ChatCompletionResponse
            )
            inline = await chats.run(
                {
                    f"q{i}": models.ChatCompletionRequest(model=MODEL, messages=[models.UserMessage(content=f"q {i}")])
                    for i in range(5)
                },
                poll_interval_seconds=0.01,
            )
            # Past inline_threshold the helper uploads the input first, then deletes every file it made.
            uploaded = await chats.run(
                batch.BatchInput.from_jsonl_bytes(
                    b"".join(json.dumps(chat_line(i)).encode() + b"\n" for i in range(6))
                ),
                model=MODEL,
                inline_threshold=2,
                poll_interval_seconds=0.01,
                http_headers={"x-mock-batch-fail-every": "3"},
            )
            vectors = batch.BatchClient(sdk, endpoint="/v1/embeddings", response_body_type=models.EmbeddingResponse)
            handle = await vectors.create(
                batch.BatchInput.from_payload({"a": models.EmbeddingRequest(model="mistral-embed", inputs=["a", "b"])})
            )
            streamed = [item async for item in vectors.stream_results(handle, poll_interval_seconds=0.01)]
            return inline, uploaded, streamed

    inline, uploaded, streamed = asyncio.run(run())
    assert inline.status == "SUCCESS" and sorted(inline.by_id()) == [f"q{i}" for i in range(5)]
    assert all(answer.choices[0].message.content for answer in inline.by_id().values())
    assert uploaded.status == "SUCCESS" and (uploaded.succeeded, uploaded.failed) == (4, 2)
    assert sorted(uploaded.by_id()) == ["q0", "q1", "q3", "q4"]
    assert sorted(error.custom_id for error in uploaded.errors()) == ["q2", "q5"]
    assert {error.status_code for error in uploaded.errors()} == {500}
    assert uploaded.response_errors() == []
    [(custom_id, embedded)] = streamed
    assert custom_id == "a" and len(embedded.data) == 2
    assert [f.source for f in server.app.state.files.all() if f.source == "upload"] == []  # run() cleaned up
