"""``/v1/batch/jobs``: jobs that run their lines through the server's own routes, in the background.

A job is created ``QUEUED`` from uploaded JSONL files (``input_files``) or inline ``requests``; a
task on the server's event loop then runs it: ``RUNNING`` while its lines go one by one through
the same route a live request to ``endpoint`` takes (validation, model checks, the engine, the
error shapes), then ``SUCCESS``, ``FAILED`` (the input could not be read, or no line succeeded),
``TIMEOUT_EXCEEDED`` or, after a cancel (``CANCELLATION_REQUESTED``), ``CANCELLED``. The counts move
as lines finish. Each line's result is appended, as it finishes, to an output file (successes) or
an error file (failures) in the ``FileStore`` (``_files``), each line
``{"id", "custom_id", "response": {"status_code", "body"}, "error"}``; the files are listed
(``source: "mistral"``) when the job ends. An endpoint of the spec's ``ApiEndpoint`` this server
has no route for fails line by line with its 404.

The job keeps the knobs of the request that created it: ``x-mock-batch-fail-every``,
``x-mock-batch-line-delay`` and ``x-mock-batch-timeout`` act on the job, and ``x-mock-tokens`` on
each line's answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from .._wire.batch import API_ENDPOINTS, BATCH_JOB_STATUSES, FINAL_STATUSES, ApiEndpoint
from ._errors import error_response, routing_error, server_error
from ._files import FileStore, StoredFile, files_of, injected, path_uuid_problem
from ._knobs import Knobs
from ._requests import schema_problems
from ._state import knobs_of

__all__ = ["BATCH_ROUTES", "ENDPOINTS", "STATUSES", "BatchJobs", "jobs_of"]

# The spec's lists, from the client's wire types (the server answers what the client may send).
ENDPOINTS, STATUSES = API_ENDPOINTS, BATCH_JOB_STATUSES
Endpoint = ApiEndpoint
_IN_FLIGHT = frozenset(STATUSES) - FINAL_STATUSES
_MAX_ERROR_KINDS = 100  # distinct messages kept in a job's ``errors``; the error file has every line

_log = logging.getLogger(__name__)


# --- The request -----------------------------------------------------------------------------------


class _BatchRequest(msgspec.Struct, forbid_unknown_fields=True):
    body: dict[str, Any]
    custom_id: str | None = None


_MetadataKey = Annotated[str, Meta(min_length=1, max_length=32)]
_MetadataValue = Annotated[str, Meta(min_length=1, max_length=512)]


class CreateBatchJobRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The spec's ``CreateBatchJobRequest``, field by field."""

    endpoint: Endpoint
    input_files: list[uuid.UUID] | None = None
    requests: Annotated[list[_BatchRequest], Meta(max_length=10_000)] | None = None
    model: str | None = None
    agent_id: str | None = None
    metadata: dict[_MetadataKey, _MetadataValue] | None = None
    timeout_hours: Annotated[int, Meta(ge=1, le=168)] = 24


# --- Jobs ------------------------------------------------------------------------------------------


@dataclass
class Job:
    id: str
    endpoint: str
    input_files: list[str]
    requests: list[dict[str, Any]] | None  # inline lines; None: the lines are in ``input_files``
    model: str | None
    agent_id: str | None
    metadata: dict[str, str] | None
    timeout_hours: int
    knobs: Knobs
    created_at: int = field(default_factory=lambda: int(time.time()))
    status: str = "QUEUED"
    started_at: int | None = None
    completed_at: int | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    output_file: str | None = None
    error_file: str | None = None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def answer(self, outputs: list[Any] | None = None) -> dict[str, Any]:
        """The spec's ``BatchJob``."""
        return {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": self.endpoint,
            "model": self.model,
            "agent_id": self.agent_id,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": [{"message": message, "count": count} for message, count in self.errors.items()],
            "outputs": outputs,
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": self.total,
            "completed_requests": self.succeeded + self.failed,
            "succeeded_requests": self.succeeded,
            "failed_requests": self.failed,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }

    def note_error(self, message: str) -> None:
        if message in self.errors or len(self.errors) < _MAX_ERROR_KINDS:
            self.errors[message] += 1


class BatchJobs:
    """Every job this server was given, in the order they were created."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}


def jobs_of(request: Request) -> BatchJobs:
    jobs: BatchJobs = request.app.state.batch_jobs
    return jobs


# --- Routes ----------------------------------------------------------------------------------------


async def create_job(request: Request) -> Response:
    if (failure := injected(request)) is not None:
        return failure
    knobs = knobs_of(request)
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
        return JSONResponse({"detail": [{**detail, "ctx": {"error": str(exc)}}]}, status_code=422)
    if problems := schema_problems(body, CreateBatchJobRequest):
        return JSONResponse({"detail": problems}, status_code=422)
    asked = msgspec.convert(body, CreateBatchJobRequest)
    if (asked.input_files is None) == (asked.requests is None):
        message = "Exactly one of input_files or requests must be given"
        return error_response(400, message, "invalid_request_error", "3001")
    store = files_of(request)
    input_files = [str(file_id) for file_id in asked.input_files or ()]
    for file_id in input_files:
        if store.get(file_id) is None:
            return error_response(404, f"File not found: {file_id}", "not_found", "3004")
    job = Job(
        id=str(uuid.uuid4()),
        endpoint=asked.endpoint,
        input_files=input_files,
        requests=None if asked.requests is None else [msgspec.to_builtins(line) for line in asked.requests],
        model=asked.model,
        agent_id=asked.agent_id,
        metadata=asked.metadata,
        timeout_hours=asked.timeout_hours,
        knobs=knobs,
    )
    job.total = len(job.requests) if job.requests is not None else 0
    jobs_of(request).jobs[job.id] = job
    job.task = asyncio.get_running_loop().create_task(_run(request.app, store, job), name=f"batch job {job.id}")
    return JSONResponse(job.answer())


async def get_job(request: Request) -> Response:
    job = _found(request)
    if isinstance(job, Response):
        return job
    inline = request.query_params.get("inline", "").lower() in ("true", "1")
    outputs = _outputs(files_of(request), job) if (inline or job.requests is not None) else None
    return JSONResponse(job.answer(outputs))


async def list_jobs(request: Request) -> Response:
    if (failure := injected(request)) is not None:
        return failure
    query = request.query_params
    numbers: dict[str, int] = {}
    for name, default in (("page", 0), ("page_size", 100)):
        raw = query.get(name, str(default))
        if not (raw.isascii() and raw.isdigit()):
            return _invalid(["query", name], "int_parsing", "Input should be a valid integer", raw)
        numbers[name] = int(raw)
    statuses = set(query.getlist("status"))
    if unknown := statuses - set(STATUSES):
        return _invalid(["query", "status"], "enum", f"Input should be one of {', '.join(STATUSES)}", sorted(unknown))
    order = query.get("order_by", "-created")
    if order not in ("created", "-created"):
        return _invalid(["query", "order_by"], "enum", "Input should be 'created' or '-created'", order)
    after: float | None = None
    if (raw_after := query.get("created_after")) is not None:
        try:
            after = datetime.fromisoformat(raw_after.replace("Z", "+00:00")).timestamp()
        except ValueError:
            message = "Input should be a valid datetime"
            return _invalid(["query", "created_after"], "datetime_parsing", message, raw_after)
    # The SDK sends the metadata filter exploded, as one query parameter per key.
    metadata = {name: value for name, value in query.items() if name not in _LIST_PARAMETERS}
    model, agent_id = query.get("model"), query.get("agent_id")
    matching = [
        job
        for job in jobs_of(request).jobs.values()
        if (not statuses or job.status in statuses)
        and (model is None or job.model == model)
        and (agent_id is None or job.agent_id == agent_id)
        and (after is None or job.created_at > after)
        and all((job.metadata or {}).get(name) == value for name, value in metadata.items())
    ]
    if order == "-created":
        matching.reverse()
    page, size = numbers["page"], numbers["page_size"]
    shown = matching[page * size : (page + 1) * size]
    return JSONResponse({"data": [job.answer() for job in shown], "object": "list", "total": len(matching)})


_LIST_PARAMETERS = frozenset(
    {"page", "page_size", "model", "agent_id", "created_after", "created_by_me", "status", "order_by"}
)


async def cancel_job(request: Request) -> Response:
    job = _found(request)
    if isinstance(job, Response):
        return job
    if job.status in ("QUEUED", "RUNNING"):
        job.status = "CANCELLATION_REQUESTED"
        job.cancel_requested.set()
    return JSONResponse(job.answer())


async def delete_job(request: Request) -> Response:
    job = _found(request)
    if isinstance(job, Response):
        return job
    if job.task is not None and not job.task.done():
        job.task.cancel()
    del jobs_of(request).jobs[job.id]
    return JSONResponse({"id": job.id, "object": "batch", "deleted": True})


BATCH_ROUTES = [
    Route("/v1/batch/jobs", create_job, methods=["POST"]),
    Route("/v1/batch/jobs", list_jobs, methods=["GET"]),
    Route("/v1/batch/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/v1/batch/jobs/{job_id}", delete_job, methods=["DELETE"]),
    Route("/v1/batch/jobs/{job_id}/cancel", cancel_job, methods=["POST"]),
]


def _found(request: Request) -> Job | Response:
    if (failure := injected(request)) is not None:
        return failure
    job_id = request.path_params["job_id"]
    if (problem := path_uuid_problem("job_id", job_id)) is not None:
        return problem
    job = jobs_of(request).jobs.get(job_id)
    if job is None:
        return error_response(404, f"Batch job not found: {job_id}", "not_found", "3004")
    return job


def _invalid(loc: list[str], kind: str, message: str, value: Any) -> Response:
    return JSONResponse({"detail": [{"type": kind, "loc": loc, "msg": message, "input": value}]}, status_code=422)


def _outputs(store: FileStore, job: Job) -> list[Any] | None:
    """Every result line of a finished job (successes, then failures), for ``inline`` answers."""
    if job.status in _IN_FLIGHT:
        return None
    lines: list[Any] = []
    for file_id in (job.output_file, job.error_file):
        stored = store.get(file_id) if file_id else None
        if stored is not None:
            with stored.path.open("rb") as file:
                lines.extend(msgspec.json.decode(line) for line in file if line.strip())
    return lines


# --- Running a job ---------------------------------------------------------------------------------


class _Ended(Exception):
    """The job stops before its last line: ``status`` says why."""

    def __init__(self, status: str) -> None:
        self.status = status


async def _run(app: Starlette, store: FileStore, job: Job) -> None:
    knobs = job.knobs
    delay = knobs.batch_line_delay or 0.0
    limit = knobs.batch_timeout if knobs.batch_timeout is not None else job.timeout_hours * 3600.0
    deadline = time.monotonic() + limit
    line_knobs = Knobs(tokens=knobs.tokens, tool_call_style=knobs.tool_call_style)
    output_id, output_path = store.new_path()
    error_id, error_path = store.new_path()
    outcome = "SUCCESS"
    try:
        with output_path.open("wb") as output, error_path.open("wb") as errors:
            try:
                await _pause(job, delay, deadline)
                job.status, job.started_at = "RUNNING", int(time.time())
                lines = _lines(store, job)
                if job.requests is None:  # a pass over the files, off the event loop: they may be 512 MB
                    job.total = await asyncio.to_thread(lambda: sum(1 for _ in _lines(store, job)))
                for number, line in enumerate(lines, start=1):
                    await _pause(job, delay, deadline)
                    ok, result = await _one_line(app, job, number, line, line_knobs)
                    (output if ok else errors).write(msgspec.json.encode(result) + b"\n")
                    if ok:
                        job.succeeded += 1
                    else:
                        job.failed += 1
            except _Ended as ended:
                outcome = ended.status
            except _Unreadable as exc:
                outcome = "FAILED"
                job.note_error(str(exc))
            except Exception:  # a bug here: the job says so rather than staying RUNNING forever
                _log.exception("batch job %s failed", job.id)
                outcome = "FAILED"
                job.note_error("Internal error while running the job")
    finally:
        # Also when the server stops mid-job: what finished is listed, what did not is gone.
        job.output_file = _listed(store, output_id, output_path, job.succeeded, "batch_result", job)
        job.error_file = _listed(store, error_id, error_path, job.failed, "batch_error", job)
    if outcome == "SUCCESS" and job.succeeded == 0:
        outcome = "FAILED"
        if job.total == 0:
            job.note_error("The batch has no requests")
    job.status, job.completed_at = outcome, int(time.time())


async def _pause(job: Job, delay: float, deadline: float) -> None:
    """Wait ``delay`` seconds (none: just look), ending early on a cancel or the deadline."""
    if job.cancel_requested.is_set():
        raise _Ended("CANCELLED")
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Ended("TIMEOUT_EXCEEDED")
    if delay <= 0:
        # A line's route may never wait for anything: without this, a long job would hold the event
        # loop, and the server would answer nobody (not even the job's own polls) until it ended.
        await asyncio.sleep(0)
        return
    try:
        await asyncio.wait_for(job.cancel_requested.wait(), min(delay, left))
    except asyncio.TimeoutError:
        if delay >= left:
            raise _Ended("TIMEOUT_EXCEEDED") from None
        return
    raise _Ended("CANCELLED")


class _Unreadable(Exception):
    pass


def _lines(store: FileStore, job: Job) -> Iterator[Any]:
    """The job's lines: inline dicts, or the raw bytes of each non-blank line of its files in order."""
    if job.requests is not None:
        yield from job.requests
        return
    for file_id in job.input_files:
        stored: StoredFile | None = store.get(file_id)
        if stored is None:
            raise _Unreadable(f"Input file not found: {file_id}")
        with stored.path.open("rb") as file:
            for raw in file:
                if raw.strip():
                    yield raw


async def _one_line(app: Starlette, job: Job, number: int, line: Any, knobs: Knobs) -> tuple[bool, dict[str, Any]]:
    """(succeeded, the result line) for one input line."""
    line_id = f"batch-{job.id[:8]}-{number}"
    if isinstance(line, bytes):
        try:
            line = msgspec.json.decode(line)
        except msgspec.DecodeError:
            return False, _failed(job, line_id, None, 400, f"Line {number}: not valid JSON", "invalid_request_error")
    custom_id = line.get("custom_id") if isinstance(line, dict) else None
    custom_id = custom_id if isinstance(custom_id, str) or custom_id is None else str(custom_id)
    body = line.get("body") if isinstance(line, dict) else None
    if not isinstance(body, dict):
        message = f"Line {number}: expected an object with a 'body' object"
        return False, _failed(job, line_id, custom_id, 400, message, "invalid_request_error")
    every = job.knobs.batch_fail_every
    if every and number % every == 0:
        message = "Internal server error (x-mock-batch-fail-every)"
        return False, _failed(job, line_id, custom_id, 500, message, "internal_error", "3000")
    if job.agent_id and job.endpoint == "/v1/conversations":
        body = {**body, "agent_id": job.agent_id}  # an agent's conversation names no model
        body.pop("model", None)
    elif job.model:
        body = {**body, "model": job.model}
    body.pop("stream", None)  # a batch line's answer is whole
    status, answer = await _dispatch(app, job.endpoint, body, knobs)
    response = {"status_code": status, "body": answer}
    if status < 400:
        return True, {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
    message = _message_of(answer)
    job.note_error(message)
    code = answer.get("code") if isinstance(answer, dict) else None
    error = {"message": message, "code": code if isinstance(code, str) else str(status)}
    return False, {"id": line_id, "custom_id": custom_id, "response": response, "error": error}


def _failed(
    job: Job, line_id: str, custom_id: str | None, status: int, message: str, kind: str, code: str = "3001"
) -> dict[str, Any]:
    job.note_error(message.split(": ", 1)[-1] if message.startswith("Line ") else message)
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": code}
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": status, "body": body},
        "error": {"message": message, "code": code},
    }


def _message_of(answer: Any) -> str:
    if isinstance(answer, dict):
        if isinstance(answer.get("message"), str):
            return str(answer["message"])
        detail = answer.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            first = detail[0]
            where = ".".join(str(part) for part in first.get("loc", []) if part != "body")
            return f"{first.get('msg', 'Invalid request')}: {where}" if where else str(first.get("msg"))
        if isinstance(detail, str):
            return detail
    return "Request failed"


async def _dispatch(app: Starlette, path: str, body: dict[str, Any], knobs: Knobs) -> tuple[int, Any]:
    """Run ``body`` through the app's route for ``path`` (past the middleware: a batch line is no
    HTTP request, so it is neither recorded nor rate limited); the answer's status and JSON."""
    raw = msgspec.json.encode(body)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(raw))],
        "client": None,
        "server": None,
        "app": app,
        "state": {"knobs": knobs, "record": None},
    }
    delivered = asyncio.Event()
    status, parts = 500, []

    async def receive() -> Message:
        if not delivered.is_set():
            delivered.set()
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # the "client" never leaves
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))

    request = Request(scope)
    try:
        await app.router(scope, receive, send)
    except HTTPException as exc:  # no route for this endpoint here (404), as a live request would get
        fallback = await routing_error(request, exc)
        return fallback.status_code, msgspec.json.decode(fallback.body)
    except Exception:
        _log.exception("batch job line failed in %s", path)
        fallback = await server_error(request, Exception())
        return fallback.status_code, msgspec.json.decode(fallback.body)
    try:
        return status, msgspec.json.decode(b"".join(parts))
    except msgspec.DecodeError:
        return 502, {"object": "error", "message": "The answer was not JSON", "type": "internal_error", "code": "3000"}


def _listed(
    store: FileStore, file_id: str, path: Any, lines: int, sample_type: Literal["batch_result", "batch_error"], job: Job
) -> str | None:
    """List a result file the job wrote (None, and the file removed, when it has no line)."""
    if lines == 0:
        path.unlink(missing_ok=True)
        return None
    kind = "output" if sample_type == "batch_result" else "error"
    store.add(
        StoredFile(
            id=file_id,
            path=path,
            size=path.stat().st_size,
            filename=f"{job.id}_{kind}.jsonl",
            purpose="batch",
            sample_type=sample_type,
            source="mistral",
            num_lines=lines,
            mimetype="application/jsonl",
        )
    )
    return file_id
