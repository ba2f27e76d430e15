"""Bulk runs: thousands to millions of requests, resumable, on either engine.

    from mistral_client.bulk import run

    stats = run("requests.jsonl", output="results.jsonl")              # engine="direct"
    stats = run("requests.jsonl", output="results.jsonl", engine="batch")  # the Batch API

The input is the Batch API's own line format, ``{"custom_id": "...", "body": {...}}``, from a JSONL
file or any iterable.  Each result is appended to ``output`` (failures to ``errors``, by default
``results.errors.jsonl``) as it arrives, in the Batch API's output-line format; a run started again
with the same ``output`` skips every ``custom_id`` already written.  ``arun`` is the same run as an
async iterator of ``BulkResult``.  See docs/bulk.md.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ._input import BadInputError, Problem
from ._progress import BulkStats
from ._runner import BulkResult, BulkRunner, Engine, errors_path_for

__all__ = [
    "BadInputError",
    "BulkResult",
    "BulkRunner",
    "BulkStats",
    "Engine",
    "Problem",
    "arun",
    "errors_path_for",
    "run",
]


def arun(
    requests: str | os.PathLike[str] | Iterable[Mapping[str, Any]], *, output: str | os.PathLike[str], **options: Any
) -> BulkRunner:
    """A run to iterate: ``async for result in arun(...)``; ``BulkRunner``'s options (``engine``, ``client``...)."""
    return BulkRunner(requests, output=output, **options)


def run(
    requests: str | os.PathLike[str] | Iterable[Mapping[str, Any]], *, output: str | os.PathLike[str], **options: Any
) -> BulkStats:
    """Run to the end on an event loop of its own and return the counts; ``on_result`` sees each result.

    Ctrl-C (in the main thread) stops the run cleanly, every finished result on disk, and raises
    ``KeyboardInterrupt``: run the same call again to resume.
    """
    runner = BulkRunner(requests, output=output, **options)
    return run_blocking(runner)


def run_blocking(runner: BulkRunner) -> BulkStats:
    """``await runner.run()`` on a new event loop, with Ctrl-C turned into ``runner.stop()``."""

    async def main() -> BulkStats:
        loop = asyncio.get_running_loop()
        handled = False
        if threading.current_thread() is threading.main_thread() and hasattr(loop, "add_signal_handler"):
            try:
                loop.add_signal_handler(signal.SIGINT, runner.stop)
                handled = True
            except (NotImplementedError, RuntimeError):
                pass
        try:
            return await runner.run()
        finally:
            if handled:
                loop.remove_signal_handler(signal.SIGINT)

    stats = asyncio.run(main())
    if runner.stopped:
        raise KeyboardInterrupt(f"stopped: {runner.resume_hint()}")
    return stats
