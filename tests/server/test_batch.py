"""/v1/batch/jobs on the local server: jobs run their lines through the server's routes in the background.

Every answer is checked against the official spec's schemas. A job's state can only be watched by
asking for it, so the tests poll (``settled``), every few milliseconds, up to a generous deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from mistral_client.server._batch import ENDPOINTS, STATUSES
from tests.support.openapi import conforms, spec
from tests.support.servertools import CHAT, EMBEDDINGS, FIM, MODEL

KEY = "sk-batch"
IN_FLIGHT = ("QUEUED", "RUNNING", "CANCELLATION_REQUESTED")


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx2.Client]:
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx2.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        yield client


def ask(i: int) -> dict[str, Any]:
    return {"custom_id": f"id-{i}", "body": {"messages": [{"role": "user", "content": f"question {i}"}]}}


def jsonl(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def upload(client: httpx2.Client, content: bytes) -> str:
    answer = client.post("/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    assert answer.status_code == 200, answer.text
    file_id: str = answer.json()["id"]
    return file_id


def create(client: httpx2.Client, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    answer = client.post("/v1/batch/jobs", json={"endpoint": CHAT, "model": MODEL, **fields}, headers=headers)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    conforms("BatchJob", job)
    return job


def get(client: httpx2.Client, job_id: str, **params: Any) -> dict[str, Any]:
    answer = client.get(f"/v1/batch/jobs/{job_id}", params=params)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    conforms("BatchJob", job)
    return job


def settled(
    client: httpx2.Client, job_id: str, until: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 20
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll the job until ``until`` holds (default: it left the in-flight statuses); every state seen."""
    until = until or (lambda job: job["status"] not in IN_FLIGHT)
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        job = get(client, job_id)
        seen.append(job)
        if until(job):
            return job, seen
        assert time.monotonic() < deadline, f"job still {job['status']} after {timeout} s"
        time.sleep(0.005)


def lines_of(client: httpx2.Client, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    answer = client.get(f"/v1/files/{file_id}/content")
    assert answer.status_code == 200
    return [json.loads(line) for line in answer.content.splitlines()]


def test_a_job_from_a_file_runs_every_line_through_the_engine(client: httpx2.Client) -> None:
    file_id = upload(client, jsonl([ask(i) for i in range(20)]))
    job = create(client, input_files=[file_id], metadata={"run": "one"})
    assert job["status"] == "QUEUED" and job["input_files"] == [file_id] and job["metadata"] == {"run": "one"}
    assert job["object"] == "batch" and job["endpoint"] == CHAT and job["model"] == MODEL
    done, _ = settled(client, job["id"])
    assert done["status"] == "SUCCESS" and done["error_file"] is None and done["errors"] == []
    assert (done["total_requests"], done["completed_requests"], done["succeeded_requests"]) == (20, 20, 20)
    assert done["failed_requests"] == 0
    assert done["started_at"] is not None and done["completed_at"] >= done["started_at"] >= done["created_at"]
    assert done["outputs"] is None  # a job from files answers with files, unless asked inline
    output = lines_of(client, done["output_file"])
    assert sorted(line["custom_id"] for line in output) == sorted(f"id-{i}" for i in range(20))
    for line in output:
        assert set(line) == {"id", "custom_id", "response", "error"} and line["error"] is None
        assert line["response"]["status_code"] == 200
        conforms("ChatCompletionResponse", line["response"]["body"])
        assert line["response"]["body"]["model"] == MODEL
    described = client.get(f"/v1/files/{done['output_file']}").json()
    conforms("GetFileResponse", described)
    assert (described["source"], described["sample_type"], described["purpose"]) == ("mistral", "batch_result", "batch")
    assert described["num_lines"] == 20
    inline = get(client, job["id"], inline="true")
    assert inline["outputs"] == output


def test_answers_match_what_a_live_request_gets(client: httpx2.Client) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "same"}], "random_seed": 7}
    direct = client.post(CHAT, json=body).json()
    job = create(client, requests=[{"custom_id": "x", "body": body}])
    done, _ = settled(client, job["id"])
    [line] = done["outputs"]
    batched = line["response"]["body"]
    assert batched["choices"] == direct["choices"] and batched["usage"] == direct["usage"]


@pytest.mark.parametrize(
    ("endpoint", "body", "schema"),
    [
        (CHAT, {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "ChatCompletionResponse"),
        (FIM, {"model": "codestral-latest", "prompt": "def f(", "suffix": "):"}, "FIMCompletionResponse"),
        (EMBEDDINGS, {"model": "mistral-embed", "input": ["a", "b"]}, "EmbeddingResponse"),
    ],
)
def test_every_endpoint_the_server_speaks(
    client: httpx2.Client, endpoint: str, body: dict[str, Any], schema: str
) -> None:
    job = create(client, endpoint=endpoint, model=None, requests=[{"custom_id": "one", "body": body}])
    assert job["status"] == "QUEUED" and job["total_requests"] == 1
    done, _ = settled(client, job["id"])
    assert done["status"] == "SUCCESS", done["errors"]
    [line] = done["outputs"]
    assert line["custom_id"] == "one" and line["response"]["status_code"] == 200
    conforms(schema, line["response"]["body"])


def test_an_endpoint_this_server_lacks_fails_line_by_line() -> None:
    with LocalServer() as server, httpx2.Client(base_url=server.base_url) as client:
        # A server with no route for embeddings, as this one has none for some of the spec's endpoints.
        server.app.router.routes[:] = [r for r in server.app.router.routes if getattr(r, "path", "") != EMBEDDINGS]
        job = create(client, endpoint=EMBEDDINGS, requests=[ask(1), ask(2)])
        done, _ = settled(client, job["id"])
    assert done["status"] == "FAILED" and done["failed_requests"] == 2 and done["output_file"] is None
    errors = done["outputs"]
    assert [line["response"]["status_code"] for line in errors] == [404, 404]
    assert all(line["response"]["body"]["object"] == "error" and line["error"]["message"] for line in errors)
    assert done["errors"] == [{"message": errors[0]["error"]["message"], "count": 2}]


def test_bad_lines_fail_alone_and_say_why(client: httpx2.Client) -> None:
    good = {"custom_id": "good", "body": {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}}
    bad_model = {"custom_id": "bad-model", "body": {**good["body"], "model": "nope"}}
    content = jsonl([good]) + b"not json\n" + jsonl([{"custom_id": "no-body"}, ask(2), bad_model])
    content += jsonl([{"custom_id": "bad-field", "body": {**good["body"], "max_tokens": "many"}}])
    job = create(client, model=None, input_files=[upload(client, content)])
    done, _ = settled(client, job["id"])
    assert done["status"] == "SUCCESS"  # some lines failed, the job did not
    assert (done["total_requests"], done["succeeded_requests"], done["failed_requests"]) == (6, 1, 5)
    by_id = {line["custom_id"]: line for line in lines_of(client, done["error_file"])}
    assert [line["response"]["status_code"] for line in by_id.values()] == [400, 400, 422, 400, 422]
    assert "Line 2" in by_id[None]["error"]["message"] and "Line 3" in by_id["no-body"]["error"]["message"]
    assert by_id["bad-model"]["response"]["body"]["type"] == "invalid_model"
    assert by_id["bad-field"]["response"]["body"]["detail"][0]["loc"] == ["body", "max_tokens"]
    # "id-2" has no model of its own and the job names none: the route's own 422
    assert by_id["id-2"]["response"]["body"]["detail"][0]["loc"] == ["body", "model"]
    assert {error["message"] for error in done["errors"]} >= {"not valid JSON", "Invalid model: nope"}


def test_the_jobs_model_applies_to_every_line(client: httpx2.Client) -> None:
    line = {"custom_id": "x", "body": {"model": "open-mistral-nemo", "messages": [{"role": "user", "content": "x"}]}}
    done, _ = settled(client, create(client, requests=[line])["id"])
    assert done["outputs"][0]["response"]["body"]["model"] == MODEL


def test_status_and_counts_move_as_lines_finish(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(i) for i in range(8)], headers={"x-mock-batch-line-delay": "0.05"})
    assert job["status"] == "QUEUED" and job["started_at"] is None
    done, seen = settled(client, job["id"])
    assert done["status"] == "SUCCESS" and done["completed_requests"] == 8
    statuses = list(dict.fromkeys(state["status"] for state in seen))
    assert statuses == ["QUEUED", "RUNNING", "SUCCESS"] or statuses == ["RUNNING", "SUCCESS"]
    completed = [state["completed_requests"] for state in seen]
    assert completed == sorted(completed) and len(set(completed)) > 3  # counted as they finish, not at the end
    assert all(state["outputs"] is None for state in seen[:-1])


def test_every_nth_line_fails_with_the_knob(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(i) for i in range(10)], headers={"x-mock-batch-fail-every": "3"})
    done, _ = settled(client, job["id"])
    assert done["status"] == "SUCCESS"
    assert (done["succeeded_requests"], done["failed_requests"], done["completed_requests"]) == (7, 3, 10)
    failed = lines_of(client, done["error_file"])
    assert [line["custom_id"] for line in failed] == ["id-2", "id-5", "id-8"]
    assert all(line["response"]["status_code"] == 500 for line in failed)
    assert all(line["response"]["body"]["type"] == "internal_error" for line in failed)
    assert len(lines_of(client, done["output_file"])) == 7
    described = client.get(f"/v1/files/{done['error_file']}").json()
    assert described["sample_type"] == "batch_error" and described["num_lines"] == 3


def test_cancel_stops_between_lines_and_keeps_what_finished(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(i) for i in range(200)], headers={"x-mock-batch-line-delay": "0.02"})
    settled(client, job["id"], until=lambda job: job["completed_requests"] >= 2)
    answer = client.post(f"/v1/batch/jobs/{job['id']}/cancel")
    assert answer.status_code == 200
    requested = answer.json()
    conforms("BatchJob", requested)
    assert requested["status"] == "CANCELLATION_REQUESTED"
    done, _ = settled(client, job["id"])
    assert done["status"] == "CANCELLED" and 2 <= done["completed_requests"] < 200
    assert len(lines_of(client, done["output_file"])) == done["succeeded_requests"] == done["completed_requests"]
    again = client.post(f"/v1/batch/jobs/{job['id']}/cancel").json()
    assert again["status"] == "CANCELLED"  # a settled job stays as it is


def test_a_queued_job_cancelled_runs_nothing(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(1)], headers={"x-mock-batch-line-delay": "30"})
    assert client.post(f"/v1/batch/jobs/{job['id']}/cancel").json()["status"] == "CANCELLATION_REQUESTED"
    done, _ = settled(client, job["id"])
    assert done["status"] == "CANCELLED" and done["completed_requests"] == 0 and done["started_at"] is None
    assert done["output_file"] is None and done["error_file"] is None


def test_the_timeout_knob_ends_a_job_at_timeout_exceeded(client: httpx2.Client) -> None:
    headers = {"x-mock-batch-line-delay": "0.05", "x-mock-batch-timeout": "0.3"}
    job = create(client, requests=[ask(i) for i in range(100)], headers=headers)
    done, _ = settled(client, job["id"])
    assert done["status"] == "TIMEOUT_EXCEEDED" and 0 < done["completed_requests"] < 100


def test_a_job_whose_lines_all_fail_has_failed(client: httpx2.Client) -> None:
    done, _ = settled(client, create(client, requests=[ask(i) for i in range(3)], model="nope")["id"])
    assert done["status"] == "FAILED" and done["failed_requests"] == 3
    assert done["errors"] == [{"message": "Invalid model: nope", "count": 3}]
    empty = create(client, input_files=[upload(client, b"\n\n")])
    done, _ = settled(client, empty["id"])
    assert done["status"] == "FAILED" and done["total_requests"] == 0 and done["errors"][0]["message"]


def test_an_input_file_deleted_before_the_job_starts_fails_it(client: httpx2.Client) -> None:
    file_id = upload(client, jsonl([ask(1)]))
    job = create(client, input_files=[file_id], headers={"x-mock-batch-line-delay": "0.2"})
    client.delete(f"/v1/files/{file_id}")
    done, _ = settled(client, job["id"])
    assert done["status"] == "FAILED" and file_id in done["errors"][0]["message"]


def test_bad_job_requests_are_refused(client: httpx2.Client) -> None:
    def post(body: Any) -> httpx2.Response:
        return client.post("/v1/batch/jobs", json=body)

    elsewhere = post({"endpoint": "/v1/elsewhere", "requests": [ask(1)]}).json()
    assert elsewhere["detail"][0]["loc"] == ["body", "endpoint"]
    conforms("HTTPValidationError", elsewhere)
    assert post({"requests": [ask(1)]}).json()["detail"][0]["type"] == "missing"
    assert post({"endpoint": CHAT, "requests": [ask(1)], "timeout_hours": 0}).status_code == 422
    assert post({"endpoint": CHAT, "requests": [{"custom_id": "x"}]}).status_code == 422
    assert post({"endpoint": CHAT, "requests": [ask(1)] * 10_001}).status_code == 422
    assert post({"endpoint": CHAT, "input_files": ["not-a-uuid"]}).status_code == 422
    assert post({"endpoint": CHAT, "metadata": {"k": ""}, "requests": [ask(1)]}).status_code == 422
    neither = post({"endpoint": CHAT})
    assert neither.status_code == 400 and neither.json()["object"] == "error"
    missing = post({"endpoint": CHAT, "input_files": ["00000000-0000-4000-8000-000000000000"]})
    assert missing.status_code == 404 and missing.json()["type"] == "not_found"
    assert client.get("/v1/batch/jobs/nope").status_code == 422
    assert client.get("/v1/batch/jobs/00000000-0000-4000-8000-000000000000").status_code == 404


def test_list_filters_pages_and_order(client: httpx2.Client) -> None:
    tag = {"suite": f"list-{time.monotonic_ns()}"}
    ids = [create(client, requests=[ask(i)], metadata=tag)["id"] for i in range(4)]
    failing = create(client, requests=[ask(9)], model="nope", metadata=tag)["id"]
    for job_id in [*ids, failing]:
        settled(client, job_id)
    listed = client.get("/v1/batch/jobs", params=tag).json()
    conforms("ListBatchJobsResponse", listed)
    assert listed["object"] == "list" and listed["total"] == 5
    assert [job["id"] for job in listed["data"]] == [failing, *reversed(ids)]
    oldest = client.get("/v1/batch/jobs", params={**tag, "order_by": "created", "page": 1, "page_size": 2}).json()
    assert [job["id"] for job in oldest["data"]] == ids[2:4] and oldest["total"] == 5
    by_status = client.get("/v1/batch/jobs", params=[*tag.items(), ("status", "FAILED")]).json()
    assert [job["id"] for job in by_status["data"]] == [failing]
    by_model = client.get("/v1/batch/jobs", params={**tag, "model": "nope"}).json()
    assert [job["id"] for job in by_model["data"]] == [failing]
    future = client.get("/v1/batch/jobs", params={**tag, "created_after": "2999-01-01T00:00:00Z"}).json()
    assert future["data"] == [] and future["total"] == 0
    assert client.get("/v1/batch/jobs", params={"status": "DONE"}).status_code == 422


def test_delete_a_job(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(1)], headers={"x-mock-batch-line-delay": "30"})
    deleted = client.delete(f"/v1/batch/jobs/{job['id']}").json()
    conforms("DeleteBatchJobResponse", deleted)
    assert deleted == {"id": job["id"], "object": "batch", "deleted": True}
    assert client.get(f"/v1/batch/jobs/{job['id']}").status_code == 404


def test_batch_lines_are_not_requests_to_the_server(client: httpx2.Client, server: LocalServer) -> None:
    before = len(server.requests)
    done, seen = settled(client, create(client, requests=[ask(i) for i in range(5)])["id"])
    assert done["succeeded_requests"] == 5
    assert len(server.requests) - before == 1 + len(seen)  # the create and the polls; no line


def test_statuses_and_endpoints_are_the_specs() -> None:
    schemas = spec()["components"]["schemas"]
    assert list(STATUSES) == schemas["BatchJobStatus"]["enum"]
    assert list(ENDPOINTS) == schemas["ApiEndpoint"]["enum"]


def test_a_cancel_needs_no_content_type_but_a_foreign_page_cannot_send_one(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(1)], headers={"x-mock-batch-line-delay": "30"})
    foreign = client.post(f"/v1/batch/jobs/{job['id']}/cancel", headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403 and get(client, job["id"])["status"] == "QUEUED"
    with_body = client.post(f"/v1/batch/jobs/{job['id']}/cancel", content=b"x", headers={"content-type": "text/plain"})
    assert with_body.status_code == 415
    bodiless = client.post(f"/v1/batch/jobs/{job['id']}/cancel")  # as the official SDK sends it: no Content-Type
    assert "content-type" not in bodiless.request.headers
    assert bodiless.status_code == 200 and bodiless.json()["status"] == "CANCELLATION_REQUESTED"


def test_a_line_asking_to_stream_gets_a_whole_answer(client: httpx2.Client) -> None:
    streaming = {"custom_id": "s", "body": {"messages": [{"role": "user", "content": "x"}], "stream": True}}
    done, _ = settled(client, create(client, requests=[streaming])["id"])
    [line] = done["outputs"]
    assert line["response"]["status_code"] == 200
    conforms("ChatCompletionResponse", line["response"]["body"])


def test_x_mock_tokens_sets_each_lines_length(client: httpx2.Client) -> None:
    done, _ = settled(client, create(client, requests=[ask(1), ask(2)], headers={"x-mock-tokens": "7"})["id"])
    assert [line["response"]["body"]["usage"]["completion_tokens"] for line in done["outputs"]] == [7, 7]


def test_knob_defaults_from_the_server_and_no_rate_limit_on_lines() -> None:
    config = {"rate_limit": 4, "mock_headers": {"x-mock-batch-fail-every": "2"}}
    with LocalServer(**config) as server, httpx2.Client(base_url=server.base_url) as client:
        job = create(client, requests=[ask(i) for i in range(10)])
        running = server.app.state.batch_jobs.jobs[job["id"]]  # watched in-process: a poll would count
        deadline = time.monotonic() + 20
        while running.status in IN_FLIGHT:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        # Ten lines ran under a limit of four requests a minute, of which this is the second.
        done = get(client, job["id"])
        assert (done["status"], done["succeeded_requests"], done["failed_requests"]) == ("SUCCESS", 5, 5)


def test_x_mock_status_fails_the_batch_and_files_routes_too(client: httpx2.Client, server: LocalServer) -> None:
    job = create(client, requests=[ask(1)])
    failing = {"x-mock-status": "503", "x-mock-retry-after": "1"}
    for method, path in [
        ("POST", "/v1/batch/jobs"),
        ("GET", "/v1/batch/jobs"),
        ("GET", f"/v1/batch/jobs/{job['id']}"),
        ("POST", f"/v1/batch/jobs/{job['id']}/cancel"),
        ("GET", "/v1/files"),
    ]:
        answer = client.request(method, path, headers=failing, json={} if path == "/v1/batch/jobs" else None)
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "1"), path
        assert answer.json()["type"] == "service_unavailable"
    before = set(server.app.state.files.folder.iterdir())
    refused = client.post("/v1/files", files={"file": ("x.jsonl", b"{}")}, headers={"x-mock-status": "500"})
    assert refused.status_code == 500 and set(server.app.state.files.folder.iterdir()) == before


def test_a_bug_while_running_fails_the_job_instead_of_hanging(
    client: httpx2.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mistral_client.server import _batch

    def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(_batch, "_one_line", broken)
    done, _ = settled(client, create(client, requests=[ask(1)])["id"])
    assert done["status"] == "FAILED" and done["errors"] == [
        {"message": "Internal error while running the job", "count": 1}
    ]


def test_the_server_answers_others_while_a_job_runs(client: httpx2.Client) -> None:
    job = create(client, requests=[ask(i) for i in range(5000)])
    meanwhile = get(client, job["id"])  # a job holding the event loop would answer this only once it ended
    assert meanwhile["status"] in IN_FLIGHT and meanwhile["completed_requests"] < 5000
    assert client.post(CHAT, json={**ask(1)["body"], "model": MODEL}).status_code == 200
    assert client.post(f"/v1/batch/jobs/{job['id']}/cancel").status_code == 200
    done, _ = settled(client, job["id"])
    assert done["status"] == "CANCELLED"


def test_a_line_goes_through_whatever_route_the_server_has_for_the_endpoint() -> None:
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"object": "conversation.response", "asked": await request.json()})

    with LocalServer() as server, httpx2.Client(base_url=server.base_url) as client:
        server.app.router.routes.insert(0, Route("/v1/conversations", echo, methods=["POST"]))
        line = {"custom_id": "c", "body": {"inputs": "hello", "model": MODEL}}
        for fields, asked in [
            ({"model": MODEL}, {"inputs": "hello", "model": MODEL}),
            ({"model": None, "agent_id": "ag-1"}, {"inputs": "hello", "agent_id": "ag-1"}),  # no model with an agent
        ]:
            job = create(client, endpoint="/v1/conversations", requests=[line], **fields)
            done, _ = settled(client, job["id"])
            assert done["status"] == "SUCCESS" and done["agent_id"] == fields.get("agent_id")
            assert done["outputs"][0]["response"]["body"]["asked"] == asked
