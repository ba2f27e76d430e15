"""What a run reports as it goes: the numbers (``BulkStats``), and a progress bar on a terminal.

The bar is ``rich``'s (the ``bulk`` extra), imported only when a bar is shown: a run whose stderr is
not a terminal, or a program that passes ``progress=False``, never loads it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["BulkStats", "ProgressBar"]


@dataclass
class BulkStats:
    """A run's counts so far; ``on_progress`` gets this after every result."""

    total: int | None = None  # requests in the input (None: an iterable, not counted ahead)
    skipped: int = 0  # already in the output (or errors) file when the run started
    succeeded: int = 0
    failed: int = 0
    tokens: int = 0
    concurrency: int = 0  # the direct engine's current limit
    throttled: int = 0  # answers that said to slow down (429, 503), retries included
    status: str | None = None  # the batch engine's job status
    job_id: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        """Results this run wrote."""
        return self.succeeded + self.failed

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def requests_per_second(self) -> float:
        return self.done / self.elapsed

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.elapsed

    @property
    def remaining(self) -> int | None:
        return None if self.total is None else max(self.total - self.skipped - self.done, 0)

    @property
    def time_left(self) -> float | None:
        """Seconds left at the pace so far (None: unknown yet)."""
        remaining, rate = self.remaining, self.requests_per_second
        if remaining is None or not self.done:
            return None
        return remaining / rate


def wants_bar(progress: bool | None, stream: IO[str] | None = None) -> bool:
    if progress is not None:
        return progress
    stream = stream or sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


class ProgressBar:
    """done/total, requests/s, tokens/s, errors and time left, redrawn in place on stderr."""

    def __init__(self, stats: BulkStats, description: str, file: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._stats = stats
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rates]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True) if file is None else Console(file=file, width=160),
            transient=False,
        )
        self._task: Any = self._progress.add_task(description, total=stats.total, completed=stats.skipped, rates="")
        self._last = 0.0

    def __enter__(self) -> ProgressBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.update(force=True)
        self._progress.stop()

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return  # rich redraws on its own clock; feeding it every result would cost more than the result
        self._last = now
        stats = self._stats
        rates = f"{stats.requests_per_second:,.0f} req/s  {stats.tokens_per_second:,.0f} tok/s  {stats.failed} errors"
        if stats.status:
            rates += f"  job {stats.status}"
        self._progress.update(self._task, completed=stats.skipped + stats.done, total=stats.total, rates=rates)
