"""``client.batch.jobs``: create, get, list, cancel and delete batch jobs.

A job runs the lines of uploaded ``.jsonl`` files (``input_files``) or of ``requests`` given inline
on the service's own machines; its ``output_file`` and ``error_file`` are read with ``client.files``.
For a whole run (upload, poll, download, resume) use ``mistral_client.bulk``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError
from ..._wire.batch import API_ENDPOINTS, BATCH_JOB_STATUSES, BatchJob, BatchJobList, DeletedBatchJob
from ._base import AsyncResource, Headers, decode, query_string
from .files import file_path

__all__ = ["AsyncBatch", "AsyncBatchJobs"]

_PATH = "/batch/jobs"
_MAX_INLINE = 10_000  # the spec's maxItems for ``requests``
_decode_job = msgspec.json.Decoder(BatchJob).decode
_decode_list = msgspec.json.Decoder(BatchJobList).decode
_decode_deleted = msgspec.json.Decoder(DeletedBatchJob).decode


class AsyncBatchJobs(AsyncResource):
    async def create(
        self,
        *,
        endpoint: str,
        input_files: Iterable[str] | None = None,
        requests: Iterable[Mapping[str, Any]] | None = None,
        model: str | None = None,
        agent_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        timeout_hours: int | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> BatchJob:
        """Start a job over ``input_files`` (ids of files uploaded with purpose ``batch``) or inline ``requests``
        (``{"custom_id": ..., "body": {...}}`` each, at most 10,000)."""
        method = "batch.jobs.create()"
        if endpoint not in API_ENDPOINTS:
            raise InvalidRequestError(f"{method}: endpoint must be one of {', '.join(API_ENDPOINTS)}, got {endpoint!r}")
        files = None if input_files is None else list(input_files)
        lines = None if requests is None else [dict(line) for line in requests]
        if (files is None) == (lines is None):
            raise InvalidRequestError(f"{method}: give input_files=[file ids] or requests=[...], exactly one of them")
        if files is not None:
            if not files:
                raise InvalidRequestError(f"{method}: input_files is empty")
            for file_id in files:
                file_path(file_id, method, "each of input_files")
        if lines is not None:
            if not 1 <= len(lines) <= _MAX_INLINE:
                raise InvalidRequestError(f"{method}: requests holds 1 to {_MAX_INLINE:,} lines, got {len(lines):,}")
            for number, line in enumerate(lines):
                if not isinstance(line.get("body"), Mapping):
                    raise InvalidRequestError(f'{method}: requests[{number}] has no "body" object')
        if timeout_hours is not None and (
            isinstance(timeout_hours, bool) or not isinstance(timeout_hours, int) or not 1 <= timeout_hours <= 168
        ):
            raise InvalidRequestError(f"{method}: timeout_hours is a whole number from 1 to 168, got {timeout_hours!r}")
        payload = {
            "input_files": files,
            "requests": lines,
            "endpoint": endpoint,
            "model": model,
            "agent_id": agent_id,
            "metadata": None if metadata is None else dict(metadata),
            "timeout_hours": timeout_hours,
        }
        body = msgspec.json.encode({name: value for name, value in payload.items() if value is not None})
        data, sent = await self.post_json(_PATH, body, timeout, extra_headers, operation="create_batch_job")
        return decode(_decode_job, data, "a batch job", sent)

    async def get(self, job_id: str, *, inline: bool | None = None, timeout: TimeoutLike = None) -> BatchJob:
        """A job's status and counts (``.done`` once it will not change again)."""
        path = f"{_PATH}/{file_path(job_id, 'batch.jobs.get()', 'job_id')}{query_string(inline=inline)}"
        return decode(_decode_job, await self.get_json(path, timeout, operation="get_batch_job"), "a batch job")

    async def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        model: str | None = None,
        agent_id: str | None = None,
        created_after: str | None = None,
        created_by_me: bool | None = None,
        status: str | Iterable[str] | None = None,
        order_by: str | None = None,
        timeout: TimeoutLike = None,
    ) -> BatchJobList:
        """One page of jobs, newest first by default; ``status`` filters on one status or several."""
        statuses = [status] if isinstance(status, str) else None if status is None else list(status)
        for name in statuses or ():
            if name not in BATCH_JOB_STATUSES:
                raise InvalidRequestError(
                    f"batch.jobs.list(): status must be one of {', '.join(BATCH_JOB_STATUSES)}, got {name!r}"
                )
        query = query_string(
            page=page,
            page_size=page_size,
            model=model,
            agent_id=agent_id,
            created_after=created_after,
            created_by_me=created_by_me,
            order_by=order_by,
        )
        for name in statuses or ():
            query += ("&" if query else "?") + f"status={name}"
        return decode(
            _decode_list,
            await self.get_json(f"{_PATH}{query}", timeout, operation="list_batch_jobs"),
            "a batch job list",
        )

    async def cancel(self, job_id: str, *, timeout: TimeoutLike = None) -> BatchJob:
        """Ask the service to stop the job: it moves to ``CANCELLATION_REQUESTED``, then ``CANCELLED``."""
        path = f"{_PATH}/{file_path(job_id, 'batch.jobs.cancel()', 'job_id')}/cancel"
        data, sent = await self.post_json(path, b"", timeout, operation="cancel_batch_job")
        return decode(_decode_job, data, "a batch job", sent)

    async def delete(self, job_id: str, *, timeout: TimeoutLike = None) -> DeletedBatchJob:
        path = f"{_PATH}/{file_path(job_id, 'batch.jobs.delete()', 'job_id')}"
        data, sent = await self.call("DELETE", path, timeout=timeout, operation="delete_batch_job")
        return decode(_decode_deleted, data, "a batch job deletion", sent)


class AsyncBatch(AsyncResource):
    """``client.batch``: the Batch API (``.jobs``)."""

    jobs: AsyncBatchJobs

    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.jobs = AsyncBatchJobs(client)
