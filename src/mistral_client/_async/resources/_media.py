"""Local media as the audio and OCR calls take it: a path, bytes, or a binary file object.

Everything that can be known before sending is checked here (the file exists, is a file, can be
read, is not empty, is not over the limit, a file object is binary and positioned), so a wrong
argument is an ``InvalidRequestError`` naming it, and nothing leaves the machine.  File objects and
paths are not read here: the upload reads them in blocks as it sends.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO, Any
from urllib.parse import quote

from ..._exceptions import InvalidRequestError

__all__ = ["FileLike", "LocalFile", "local_file", "path_segment", "read_all"]

FileLike = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]


@dataclass
class LocalFile:
    """A checked local file: its name, its bytes or a way to open it, its size."""

    name: str
    size: int
    data: bytes | None = None  # given as bytes
    path: str | None = None  # given as a path: opened when sent
    file: IO[bytes] | None = None  # given as a file object, read from ``offset``
    offset: int = 0
    seekable: bool = True  # a pipe is read once: a retry cannot send it again

    def open(self) -> IO[bytes]:
        """A binary file positioned at the start of the content (a path is opened anew)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        if self.path is not None:
            return open(self.path, "rb")
        assert self.file is not None
        if self.seekable:
            self.file.seek(self.offset)
        return self.file


def local_file(value: Any, what: str, method: str, *, max_size: int, name: str | None = None) -> LocalFile:
    """Check ``value`` (a path, bytes, or a binary file object) as the file ``what`` of ``method``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if not data:
            raise InvalidRequestError(f"{method}(): {what} is empty (0 bytes)")
        _check_size(len(data), max_size, what, method)
        return LocalFile(name or "file", len(data), data=data)
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        return _path_file(path, what, method, max_size, name)
    if hasattr(value, "read"):
        return _object_file(value, what, method, max_size, name)
    raise InvalidRequestError(
        f"{method}(): {what} must be a path, bytes or a binary file (open(..., 'rb')), got {type(value).__name__}"
    )


def read_all(local: LocalFile) -> bytes:
    """The whole content (for a JSON body that must carry it, base64)."""
    if local.data is not None:
        return local.data
    file = local.open()
    try:
        return file.read()
    finally:
        if local.path is not None:
            file.close()


def as_base64(local: LocalFile) -> str:
    return base64.b64encode(read_all(local)).decode("ascii")


def path_segment(value: object, what: str, method: str) -> str:
    """An id as one path segment (``a/b`` is not two), or an ``InvalidRequestError`` naming it."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"{method}(): {what} must be a non-empty string, got {value!r}")
    try:
        return quote(value, safe="")
    except UnicodeEncodeError:
        raise InvalidRequestError(f"{method}(): {what} has a character with no UTF-8 form; nothing was sent") from None


def _path_file(path: str, what: str, method: str, max_size: int, name: str | None) -> LocalFile:
    if not path:
        raise InvalidRequestError(f"{method}(): {what} is an empty path")
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise InvalidRequestError(f"{method}(): {what} {path!r} does not exist") from None
    except OSError as exc:
        raise InvalidRequestError(f"{method}(): {what} {path!r} cannot be read: {exc.strerror or exc}") from None
    import stat as stat_module

    if stat_module.S_ISDIR(stat.st_mode):
        raise InvalidRequestError(f"{method}(): {what} {path!r} is a directory, not a file")
    if not os.access(path, os.R_OK):
        raise InvalidRequestError(f"{method}(): {what} {path!r} cannot be read (permission denied)")
    if stat_module.S_ISREG(stat.st_mode):
        if stat.st_size == 0:
            raise InvalidRequestError(f"{method}(): {what} {path!r} is empty (0 bytes)")
        _check_size(stat.st_size, max_size, f"{what} {path!r}", method)
        size = stat.st_size
    else:
        size = -1  # a pipe or a device: its size is known once read
    return LocalFile(name or PurePath(path).name or "file", size, path=path)


def _object_file(value: Any, what: str, method: str, max_size: int, name: str | None) -> LocalFile:
    if isinstance(value, io.TextIOBase) or "b" not in getattr(value, "mode", "b"):
        raise InvalidRequestError(f"{method}(): {what} is a text file; open it in binary mode: open(path, 'rb')")
    if getattr(value, "closed", False):
        raise InvalidRequestError(f"{method}(): {what} is a closed file")
    size, offset = -1, 0
    seekable = bool(getattr(value, "seekable", lambda: False)())
    if seekable:  # a pipe's size is known once read
        try:
            offset = value.tell()
            end = value.seek(0, io.SEEK_END)
            value.seek(offset)
            size = end - offset
        except (AttributeError, OSError, ValueError):
            seekable, size = False, -1
    if size == 0:
        raise InvalidRequestError(f"{method}(): {what} has nothing left to read (0 bytes from its position)")
    if size > 0:
        _check_size(size, max_size, what, method)
    file_name = name or PurePath(str(getattr(value, "name", "") or "file")).name
    return LocalFile(file_name, size, file=value, offset=offset, seekable=seekable)


def _check_size(size: int, max_size: int, what: str, method: str) -> None:
    if size > max_size:
        raise InvalidRequestError(
            f"{method}(): {what} is {_mib(size)}, over the API's limit of {_mib(max_size)}; nothing was sent"
        )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB" if size >= 1024 * 1024 else f"{size} bytes"
