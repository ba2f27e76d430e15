"""The results file: appended line by line, read back to resume.

Each result is one line written and flushed as it arrives, so a run killed at any instant (SIGKILL
included) leaves every finished result on disk, and at most one torn last line, which a resumed run
cuts off before appending.  ``fsync`` runs at most once a second (and at the end): after a power
loss, only the results of that last second are sent again.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import IO

import msgspec

from .._exceptions import InvalidRequestError

__all__ = ["ResultsFile"]

SYNC_EVERY = 1.0  # seconds between fsyncs


class _Id(msgspec.Struct):
    custom_id: str | None = None


_decode_id = msgspec.json.Decoder(_Id).decode


class ResultsFile:
    """A JSONL file of results that a run appends to; ``ids`` are those it already holds."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.ids: set[str] = set()
        self.cut = 0  # bytes of a torn last line cut off when opening
        self._file: IO[bytes] | None = None
        self._synced = time.monotonic()

    def open(self) -> ResultsFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab+")  # noqa: SIM115 - closed by close()
        _lock(self._file, self.path)
        self._file.seek(0)
        good_end = 0
        for number, line in enumerate(self._file, 1):
            if not line.endswith(b"\n"):
                break  # a write cut short by a kill: this result was not finished
            try:
                custom_id = _decode_id(line).custom_id
            except (msgspec.DecodeError, UnicodeDecodeError):
                custom_id = None
            if custom_id is None and line.strip():
                self.close()
                raise InvalidRequestError(
                    f"{self.path}, line {number}: not a result line with a custom_id; "
                    "is this the output of another program? (give a new file, or fix this one)"
                )
            if custom_id is not None:
                self.ids.add(custom_id)
            good_end += len(line)
        size = self._file.seek(0, os.SEEK_END)
        if size > good_end:
            self.cut = size - good_end
            self._file.truncate(good_end)
        return self

    def write(self, line: bytes) -> None:
        """Append one result line (ending with a newline) and hand it to the operating system."""
        assert self._file is not None
        self._file.write(line)
        self._file.flush()
        now = time.monotonic()
        if now - self._synced >= SYNC_EVERY:
            os.fsync(self._file.fileno())
            self._synced = now

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            finally:
                self._file.close()
                self._file = None


def _lock(file: IO[bytes], path: Path) -> None:
    """Two runs appending to one file would interleave their lines: the second is refused."""
    if sys.platform == "win32":
        return
    import fcntl

    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.close()
        raise InvalidRequestError(f"{path}: another run is writing to this file") from None
