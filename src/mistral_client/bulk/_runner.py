"""``BulkRunner``: one interface, two engines, one resumable pair of files.

``engine="direct"`` sends the requests itself on an ``AsyncMistral``, as many at once as
``AIMDLimiter`` allows, each retried by the client's own rule (``_retry.py``); ``engine="batch"``
hands them to the Batch API (upload, job, poll, download).  Either way each result is appended to
the output file (or the errors file) as it arrives, and a run started again with the same output
file skips every ``custom_id`` already there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Literal

import msgspec

from .._async.client import AsyncMistral
from .._config import check_extra_headers
from .._exceptions import APIError, APIStatusError, InvalidRequestError
from .._sync.client import Mistral
from .._wire.batch import API_ENDPOINTS, BatchJob, BatchRequest
from ._input import RequestSource
from ._limiter import AIMDLimiter
from ._output import ResultsFile
from ._progress import BulkStats, ProgressBar, wants_bar

__all__ = ["BulkResult", "BulkRunner", "Engine", "errors_path_for"]

logger = logging.getLogger("mistral_client")
Engine = Literal["direct", "batch"]
DEFAULT_ENDPOINT = "/v1/chat/completions"
# The direct engine sends JSON bodies; a transcription's body is a file upload (batch engine only).
DIRECT_ENDPOINTS = tuple(endpoint for endpoint in API_ENDPOINTS if endpoint != "/v1/audio/transcriptions")
POLL_FIRST = 0.5  # seconds before the first poll of a job; the wait grows by half each poll
POLL_MAX = 30.0


@dataclass(frozen=True)
class BulkResult:
    """One request's outcome: ``ok`` with ``.body`` (the answer, as JSON), or ``.error`` (a message)."""

    custom_id: str
    status_code: int | None
    raw: bytes | None  # the answer's JSON as it came
    error: str | None = None
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def body(self) -> Any:
        """The answer (or the error answer) decoded: a dict for a JSON object, None when there was none."""
        return None if self.raw is None else msgspec.json.decode(self.raw)


class _Usage(msgspec.Struct):
    total_tokens: int | None = None


class _Answer(msgspec.Struct):
    usage: _Usage | None = None


class _Response(msgspec.Struct):
    status_code: int | None = None
    body: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))  # kept as it came


class _Line(msgspec.Struct):
    """A result line of the Batch API's output or error file."""

    custom_id: str | None = None
    response: _Response | None = None
    error: Any = None


_decode_answer = msgspec.json.Decoder(_Answer).decode
_decode_line = msgspec.json.Decoder(_Line).decode
_encode = msgspec.json.encode


def errors_path_for(output: str | os.PathLike[str]) -> Path:
    """``results.jsonl`` -> ``results.errors.jsonl``: where failures go unless told otherwise."""
    path = Path(output)
    return path.with_name(f"{path.stem}.errors{path.suffix or '.jsonl'}")


class BulkRunner:
    """Runs a JSONL file (or an iterable) of ``{"custom_id": ..., "body": {...}}`` to an output file.

    ``async for result in runner`` yields each ``BulkResult`` as it is written; ``await runner.run()``
    runs to the end and returns the ``BulkStats``.  ``stop()`` (from the loop, or any thread) ends
    the run cleanly: nothing new is sent, what is in flight is dropped (a run started again sends
    it), and the files are closed with every finished result in them.
    """

    def __init__(
        self,
        requests: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
        *,
        output: str | os.PathLike[str],
        errors: str | os.PathLike[str] | None = None,
        engine: Engine = "direct",
        client: AsyncMistral | Mistral | None = None,
        base_url: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        model: str | None = None,
        concurrency: int = 16,
        initial_concurrency: int | None = None,
        retry_errors: bool = False,
        progress: bool | None = None,
        on_result: Callable[[BulkResult], object] | None = None,
        on_progress: Callable[[BulkStats], object] | None = None,
        poll_interval: float = POLL_MAX,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        if engine not in ("direct", "batch"):
            raise InvalidRequestError(f"engine must be 'direct' or 'batch', got {engine!r}")
        allowed = DIRECT_ENDPOINTS if engine == "direct" else API_ENDPOINTS
        if endpoint not in allowed:
            raise InvalidRequestError(
                f"endpoint {endpoint!r}: the {engine} engine sends to one of {', '.join(allowed)}"
            )
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidRequestError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
        for name, callback in (("on_result", on_result), ("on_progress", on_progress)):
            if callback is not None and not callable(callback):
                raise InvalidRequestError(f"{name} must be a callable, got {type(callback).__name__}")
        if client is not None and not isinstance(client, (AsyncMistral, Mistral)):
            raise InvalidRequestError(f"client must be an AsyncMistral or a Mistral, got {type(client).__name__}")
        if extra_headers is not None:
            check_extra_headers(extra_headers)
        self.source = RequestSource(requests)
        self.output = Path(output)
        self.errors = Path(errors) if errors is not None else errors_path_for(output)
        if self.output.resolve() == self.errors.resolve():
            raise InvalidRequestError(f"output and errors are the same file: {self.output}")
        self.engine = engine
        self.endpoint = endpoint
        self.model = model
        self.concurrency = concurrency
        self.initial_concurrency = min(initial_concurrency or max(1, concurrency // 4), concurrency)
        self.retry_errors = retry_errors
        self.progress = progress
        self.on_result = on_result
        self.on_progress = on_progress
        self.poll_interval = poll_interval
        self.metadata = metadata
        self.stats = BulkStats()
        self.stopped = False
        # None: an AsyncMistral(base_url=base_url) made, and closed, by the run; a Mistral: one like it.
        self.client = client
        self.base_url = base_url
        self.extra_headers = dict(extra_headers) if extra_headers is not None else None
        self._stop_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._used = False
        self._bar: ProgressBar | None = None

    # --- Public ---

    def stop(self) -> None:
        """End the run cleanly, from the event loop or any other thread (a signal handler, a UI)."""
        self.stopped = True
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> BulkStats:
        async for _ in self:
            pass
        return self.stats

    def __aiter__(self) -> AsyncIterator[BulkResult]:
        if self._used:
            raise InvalidRequestError("a BulkRunner runs once; make another to run again (it resumes from output)")
        self._used = True
        return self._results()

    def resume_hint(self) -> str:
        kept = self.stats.skipped + self.stats.done
        return f"run it again with the same output file ({self.output}): its {kept:,} results are kept, not sent again"

    # --- The run ---

    async def _results(self) -> AsyncIterator[BulkResult]:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self.stopped:
            self._stop_event.set()
        self.source.check()  # every bad line reported before anything is sent
        self.stats.total = self.source.total
        self.stats.started = time.monotonic()
        owned = not isinstance(self.client, AsyncMistral)
        client = self.client if isinstance(self.client, AsyncMistral) else _async_client(self.client, self.base_url)
        try:
            output = ResultsFile(self.output).open()
        except BaseException:
            if owned:
                await client.close()
            raise
        try:
            errors = ResultsFile(self.errors).open()
        except BaseException:
            output.close()
            if owned:
                await client.close()
            raise
        try:
            if self.retry_errors and errors.ids:
                # Their requests are sent again: the file starts over (a failure is written again).
                errors.close()
                self.errors.unlink()
                errors = ResultsFile(self.errors).open()
            done = output.ids | errors.ids
            self.stats.skipped = len(done) if self.stats.total is None else _count_in(self.source, done)
            bar = ProgressBar(self.stats, self.output.name) if wants_bar(self.progress) else None
            self._bar = bar
            if bar is not None:
                bar.__enter__()
            try:
                engine = self._direct if self.engine == "direct" else self._batch
                async for result in engine(client, done, output, errors):
                    yield result
            finally:
                if bar is not None:
                    bar.__exit__(None, None, None)
        finally:
            output.close()
            errors.close()
            if owned:
                await client.close()

    def _record(self, result: BulkResult, output: ResultsFile, errors: ResultsFile) -> None:
        """Write one result, count it, and tell the callbacks and the bar: all before it is yielded."""
        (output if result.ok else errors).write(_result_line(result))
        if result.ok:
            self.stats.succeeded += 1
        else:
            self.stats.failed += 1
        if self.on_result is not None:
            self.on_result(result)
        if self.on_progress is not None:
            self.on_progress(self.stats)
        if self._bar is not None:
            self._bar.update()

    # --- engine="direct" ---

    async def _direct(
        self, client: AsyncMistral, done: set[str], output: ResultsFile, errors: ResultsFile
    ) -> AsyncIterator[BulkResult]:
        limiter = AIMDLimiter(self.initial_concurrency, self.concurrency)
        path = self.endpoint.removeprefix("/v1")
        queue: asyncio.Queue[BulkResult | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        stop = self._stop_event
        assert stop is not None
        tasks: set[asyncio.Task[None]] = set()
        failures: list[BaseException] = []  # a callback's exception, or the disk's: the run's own failure

        async def one(request: BatchRequest, epoch: int) -> None:
            # The slot is held until the result is handed over: a consumer slower than the service
            # slows the sending, rather than results piling up in memory.
            try:
                try:
                    result = await self._send_one(client, path, request, limiter, epoch)
                except Exception as exc:  # whatever it is, it is this request's failure, not the run's
                    name = type(exc).__name__
                    result = BulkResult(request.custom_id, None, None, f"{name}: {exc}", name)
                self.stats.concurrency = limiter.current
                self.stats.throttled = limiter.throttled
                try:
                    self._record(result, output, errors)
                except Exception as exc:
                    failures.append(exc)
                    stop.set()
                    return
                await queue.put(result)
            finally:
                await limiter.release()

        async def feed() -> None:
            try:
                for _, request in self.source:
                    if request.custom_id in done:
                        continue
                    if self.model is not None and "model" not in request.body:
                        request.body["model"] = self.model
                    epoch = await limiter.acquire()
                    if stop.is_set():
                        await limiter.release()
                        break
                    task = asyncio.create_task(one(request, epoch))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.wait(set(tasks))
            finally:
                await queue.put(None)

        feeder = asyncio.create_task(feed())
        stopper = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                try:
                    item = queue.get_nowait()  # the usual case under load: no waiting, no task made
                except asyncio.QueueEmpty:
                    getter = asyncio.ensure_future(queue.get())
                    await asyncio.wait({getter, stopper, feeder}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        # Stopped (the loop's test ends it), or the feeder ended: its last act put the
                        # end marker in the queue, which the next turn takes (the item stays queued).
                        getter.cancel()
                        continue
                    item = getter.result()
                if item is None:
                    break
                yield item
        finally:
            stopper.cancel()
            feeder.cancel()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(feeder, stopper, *tasks, return_exceptions=True)
        if failures:
            raise failures[0]
        if feeder.done() and not feeder.cancelled() and feeder.exception() is not None:
            raise feeder.exception()  # type: ignore[misc]

    async def _send_one(
        self, client: AsyncMistral, path: str, request: BatchRequest, limiter: AIMDLimiter, epoch: int
    ) -> BulkResult:
        limits = client.timeout
        started = perf_counter()
        try:
            response = await client._send(
                "POST",
                path,
                body=_encode(request.body),
                stream=False,
                timeout=limits,
                started=started,
                extra_headers=self.extra_headers,
                observe=lambda answer: limiter.observe(answer, epoch),
            )
            data = await client._read(response, limits, client._deadline(limits, started))
        except APIStatusError as exc:
            raw = exc.response.content or None
            return BulkResult(request.custom_id, exc.status_code, raw, str(exc), exc.code)
        except APIError as exc:
            return BulkResult(request.custom_id, None, None, str(exc), type(exc).__name__)
        try:
            answer = _decode_answer(data)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return BulkResult(request.custom_id, response.status_code, None, f"the answer is not JSON: {exc}")
        if answer.usage is not None and answer.usage.total_tokens:
            self.stats.tokens += answer.usage.total_tokens
        return BulkResult(request.custom_id, response.status_code, data)

    # --- engine="batch" ---

    async def _batch(
        self, client: AsyncMistral, done: set[str], output: ResultsFile, errors: ResultsFile
    ) -> AsyncIterator[BulkResult]:
        stop = self._stop_event
        assert stop is not None
        sidecar = self.output.with_name(self.output.name + ".job")
        job_id = sidecar.read_text(encoding="utf-8").strip() if sidecar.exists() else None
        if job_id is None:
            job_id = await self._start_job(client, done)
            if job_id is None:
                return  # nothing left to send
            sidecar.write_text(job_id + "\n", encoding="utf-8")
        self.stats.job_id = job_id
        wait = POLL_FIRST
        while True:
            job = await client.batch.jobs.get(job_id)
            self._job_progress(job)
            if job.done:
                break
            try:
                await asyncio.wait_for(stop.wait(), wait)
                return  # stopped: the job goes on; a run started again picks it up from the sidecar
            except (TimeoutError, asyncio.TimeoutError):
                pass
            wait = min(wait * 1.5, self.poll_interval)
        for file_id in (job.output_file, job.error_file):
            if file_id is None:
                continue
            async for result in self._download(client, file_id, done):
                self._record(result, output, errors)
                done.add(result.custom_id)
                yield result
            if stop.is_set():
                return
        sidecar.unlink(missing_ok=True)

    def _job_progress(self, job: BatchJob) -> None:
        self.stats.status = job.status
        if self.on_progress is not None:
            self.on_progress(self.stats)

    async def _start_job(self, client: AsyncMistral, done: set[str]) -> str | None:
        """Upload what is left to send, and create the job: its id (None: nothing left)."""
        handle, name = tempfile.mkstemp(prefix=f".{self.output.name}.", suffix=".input.jsonl", dir=self.output.parent)
        try:
            count = 0
            with os.fdopen(handle, "wb") as pending:
                for _, request in self.source:
                    if request.custom_id not in done:
                        pending.write(_encode(request) + b"\n")
                        count += 1
            if not count:
                return None
            uploaded = await client.files.upload(name, purpose="batch", filename=f"{self.output.stem}.input.jsonl")
        finally:
            os.unlink(name)
        job = await client.batch.jobs.create(
            input_files=[uploaded.id],
            endpoint=self.endpoint,
            model=self.model,
            metadata=self.metadata,
            extra_headers=self.extra_headers,
        )
        return job.id

    async def _download(self, client: AsyncMistral, file_id: str, done: set[str]) -> AsyncIterator[BulkResult]:
        """The result lines of one of the job's files, downloaded to disk first (never whole in memory)."""
        target = self.output.with_name(f".{self.output.name}.{uuid.uuid4().hex}.download")
        try:
            await client.files.download(file_id, target)
            with open(target, "rb") as lines:  # noqa: ASYNC230 - a local file, read a line at a time
                for number, line in enumerate(lines, 1):
                    result = _parse_result_line(line)
                    if result is None:
                        if line.strip():
                            logger.warning(
                                "batch file %s, line %d: not a result with a custom_id; skipped", file_id, number
                            )
                        continue
                    if result.custom_id in done:
                        continue
                    yield result
        finally:
            target.unlink(missing_ok=True)


def _result_line(result: BulkResult) -> bytes:
    """The Batch API's own output-line shape, so both engines write the same files."""
    head = b'{"id":' + _encode(uuid.uuid4().hex) + b',"custom_id":' + _encode(result.custom_id)
    status = b"null" if result.status_code is None else str(result.status_code).encode()
    body = b"null" if result.raw is None else _one_line(result.raw)
    response = b"null" if result.status_code is None else b'{"status_code":' + status + b',"body":' + body + b"}"
    error = b"null" if result.error is None else _encode({"message": result.error, "code": result.error_code})
    return head + b',"response":' + response + b',"error":' + error + b"}\n"


def _one_line(raw: bytes) -> bytes:
    if b"\n" not in raw and b"\r" not in raw:
        return raw
    try:
        return _encode(msgspec.json.decode(raw))  # pretty-printed JSON: compacted onto one line
    except msgspec.DecodeError:
        return _encode(raw.decode("utf-8", "replace"))


def _parse_result_line(line: bytes) -> BulkResult | None:
    if not line.strip():
        return None
    try:
        parsed = _decode_line(line)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if parsed.custom_id is None:
        return None
    status: int | None = None
    raw: bytes | None = None
    if parsed.response is not None:
        status = parsed.response.status_code
        raw = bytes(parsed.response.body)
        raw = None if raw == b"null" else raw
    error = parsed.error
    if error is None and status is not None and not 200 <= status < 300:
        error = f"status {status}"
    if error is None:
        return BulkResult(parsed.custom_id, status, raw)
    message = error.get("message") if isinstance(error, dict) else error
    code = error.get("code") if isinstance(error, dict) else None
    return BulkResult(parsed.custom_id, status, raw, str(message), None if code is None else str(code))


def _count_in(source: RequestSource, done: set[str]) -> int:
    return sum(1 for _, request in source if request.custom_id in done) if done else 0


def _async_client(client: Mistral | None, base_url: str | None) -> AsyncMistral:
    """The runner's own ``AsyncMistral``: from the environment, or configured as the ``Mistral`` given."""
    if client is None:
        return AsyncMistral(base_url=base_url)
    key = client._api_key.get() if client._api_key is not None else ""
    return AsyncMistral(
        api_key=key,
        base_url=client.base_url,
        timeout=client.timeout,
        max_retries=client.max_retries,
        max_event_size=client.max_event_size,
        allow_insecure_http=True,  # the Mistral given was allowed to send its key there already
    )
