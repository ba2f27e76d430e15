"""The wire types of ``/v1/batch/jobs``, and the Batch API's line formats.

A request line is ``{"custom_id": "...", "body": {...}}`` (the spec's BatchRequest); an output line
is ``{"id": ..., "custom_id": ..., "response": {"status_code": 200, "body": {...}}, "error": null}``
and an error line the same with ``error`` set.  ``parse_request_line`` checks one input line without
I/O, so the runner can report every bad line, with its number, before anything is sent.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import msgspec

__all__ = [
    "API_ENDPOINTS",
    "BATCH_JOB_STATUSES",
    "ApiEndpoint",
    "BatchJobStatus",
    "FINAL_STATUSES",
    "BatchError",
    "BatchJob",
    "BatchJobList",
    "BatchRequest",
    "DeletedBatchJob",
    "parse_request_line",
]

# The spec's ApiEndpoint: what a batch job (and the runner's direct engine) may send lines to.
ApiEndpoint = Literal[
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/fim/completions",
    "/v1/moderations",
    "/v1/chat/moderations",
    "/v1/ocr",
    "/v1/classifications",
    "/v1/chat/classifications",
    "/v1/conversations",
    "/v1/audio/transcriptions",
]
API_ENDPOINTS: tuple[str, ...] = get_args(ApiEndpoint)
# The spec's BatchJobStatus, in the order a job moves through them.
BatchJobStatus = Literal[
    "QUEUED",
    "RUNNING",
    "SUCCESS",
    "FAILED",
    "TIMEOUT_EXCEEDED",
    "CANCELLATION_REQUESTED",
    "CANCELLED",
]
BATCH_JOB_STATUSES: tuple[str, ...] = get_args(BatchJobStatus)
# A job in one of these will not change again: its output and error files are complete.
FINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})


class BatchError(msgspec.Struct, kw_only=True):
    message: str = ""
    count: int = 1


class BatchJob(msgspec.Struct, kw_only=True):
    """A batch job: ``.status`` (one of ``BATCH_JOB_STATUSES``), the counts, and the output files' ids."""

    id: str
    object: str = "batch"
    input_files: list[str] = msgspec.field(default_factory=list)
    metadata: dict[str, Any] | None = None
    endpoint: str | None = None
    model: str | None = None
    agent_id: str | None = None
    output_file: str | None = None
    error_file: str | None = None
    errors: list[BatchError] = msgspec.field(default_factory=list)
    outputs: list[dict[str, Any]] | None = None
    status: str = "QUEUED"
    created_at: int | None = None
    total_requests: int = 0
    completed_requests: int = 0
    succeeded_requests: int = 0
    failed_requests: int = 0
    started_at: int | None = None
    completed_at: int | None = None

    @property
    def done(self) -> bool:
        """The job will not change again (``SUCCESS``, ``FAILED``, ``TIMEOUT_EXCEEDED`` or ``CANCELLED``)."""
        return self.status in FINAL_STATUSES


class BatchJobList(msgspec.Struct, kw_only=True):
    data: list[BatchJob] = msgspec.field(default_factory=list)
    object: str = "list"
    total: int | None = None


class DeletedBatchJob(msgspec.Struct, kw_only=True):
    id: str
    object: str = "batch"
    deleted: bool = True


class BatchRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of a batch input: the body of one request, and the id its result will carry."""

    custom_id: str
    body: dict[str, Any]


class _Line(msgspec.Struct):
    custom_id: Any = None
    body: Any = msgspec.field(default_factory=lambda: _MISSING)


_MISSING: Any = object()
_decode_line = msgspec.json.Decoder(_Line).decode


def parse_request_line(line: bytes) -> BatchRequest | str:
    """One input line as a request, or what is wrong with it (a sentence naming the problem)."""
    try:
        parsed = _decode_line(line)
    except msgspec.ValidationError:
        return "not a JSON object"
    except msgspec.DecodeError as exc:
        return f"not JSON ({exc})"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    if parsed.body is _MISSING:
        return 'no "body": each line is {"custom_id": "...", "body": {...}}'
    if not isinstance(parsed.body, dict):
        return f'"body" must be a JSON object, got {_json_kind(parsed.body)}'
    if parsed.custom_id is None:
        return 'no "custom_id": the runner needs one per line to write and resume results'
    if not isinstance(parsed.custom_id, str) or not parsed.custom_id:
        return f'"custom_id" must be a non-empty string, got {msgspec.json.encode(parsed.custom_id).decode()}'
    return BatchRequest(custom_id=parsed.custom_id, body=parsed.body)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "an array"}.get(
        type(value), type(value).__name__
    )
