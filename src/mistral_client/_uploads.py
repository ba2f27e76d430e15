"""Request bodies that carry files: ``multipart/form-data`` streamed from disk, never read whole.

httpx2's multipart encoder reads each file in blocks while the request is written, and rewinds it
before every attempt, so a retry sends the whole file again.  What is ours: opening paths only for
the call, checking before anything is sent what can be known (the file exists, is binary, fits the
size limit), and not retrying a file that cannot be rewound (a pipe): a retry would send a part.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from stat import S_ISREG
from typing import IO, Any, Union

from ._exceptions import InvalidRequestError

__all__ = ["FileSource", "Multipart", "UploadFile", "upload_file"]

FileSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


class UploadFile:
    """One file of a multipart body: a path (opened when sent), bytes, or a binary file object."""

    __slots__ = ("content_type", "field", "filename", "size", "source")

    def __init__(self, field: str, filename: str, source: Any, content_type: str, size: int | None) -> None:
        self.field = field
        self.filename = filename
        self.source = source
        self.content_type = content_type
        self.size = size  # None when it cannot be known before sending

    @property
    def rewindable(self) -> bool:
        source = self.source
        if isinstance(source, (str, bytes)):
            return True
        try:
            return bool(source.seekable())
        except (AttributeError, ValueError, OSError):
            return False

    def __repr__(self) -> str:
        return f"UploadFile(field={self.field!r}, filename={self.filename!r}, size={self.size!r})"


def upload_file(
    source: object,
    *,
    field: str = "file",
    filename: str | None = None,
    content_type: str = "application/octet-stream",
    max_bytes: int | None = None,
    what: str = "file",
) -> UploadFile:
    """Check ``source`` (a path, bytes, or a binary file object) before anything is sent.

    Raises ``InvalidRequestError`` naming what is wrong: a path that is not a readable file, a file
    object opened in text mode, something that is no file at all, or a file over ``max_bytes``.
    """
    size: int | None
    stored: Any
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not isinstance(path, str):
            raise InvalidRequestError(f"{what} must be a path given as str, not bytes: {path!r}")
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise InvalidRequestError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None
        if not os.path.isfile(path):
            raise InvalidRequestError(f"{what} {path!r} is not a file")
        if not os.access(path, os.R_OK):
            raise InvalidRequestError(f"{what} {path!r} cannot be read: permission denied")
        size, stored, name = stat.st_size, path, os.path.basename(path)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        stored = bytes(source)
        size, name = len(stored), field
    elif hasattr(source, "read"):
        if isinstance(source, io.TextIOBase):
            raise InvalidRequestError(f"{what} is a file opened in text mode; open it in binary mode ('rb')")
        stored, size = source, _remaining(source)
        raw_name = getattr(source, "name", None)
        name = os.path.basename(raw_name) if isinstance(raw_name, str) and raw_name else field
    else:
        raise InvalidRequestError(f"{what} must be a path, bytes or a binary file object, not {type(source).__name__}")
    if max_bytes is not None and size is not None and size > max_bytes:
        raise InvalidRequestError(f"{what} is {size} bytes, over the limit of {max_bytes} bytes")
    return UploadFile(field, filename or name, stored, content_type, size)


def _remaining(file: Any) -> int | None:
    # httpx2 sends a file object from its start (it rewinds it), so its whole size is what is sent.
    try:
        stat = os.fstat(file.fileno())
        if S_ISREG(stat.st_mode):  # a pipe's or a socket's size says nothing of what is to come
            return stat.st_size
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    try:
        if file.seekable():
            here = file.tell()
            end = file.seek(0, os.SEEK_END)
            file.seek(here)
            return int(end)
    except (AttributeError, OSError, ValueError):
        pass
    return None


class _Unsized:
    """A file that cannot be rewound, shown to httpx2 without ``fileno``: it would take a pipe's
    ``st_size`` (0) for its length; unsized, the body is sent chunked."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        return bytes(data) if data is not None else b""


class Multipart:
    """A ``multipart/form-data`` body: text fields (a list value repeats the field) and files."""

    __slots__ = ("fields", "files")

    def __init__(self, fields: Mapping[str, str | Sequence[str]], files: Sequence[UploadFile]) -> None:
        self.fields = {name: value if isinstance(value, str) else list(value) for name, value in fields.items()}
        self.files = list(files)

    @property
    def rewindable(self) -> bool:
        """Every file can be sent again from its start (a retry is safe)."""
        return all(file.rewindable for file in self.files)

    @contextmanager
    def opened(self) -> Iterator[tuple[dict[str, Any], list[tuple[str, Any]]]]:
        """The body as httpx2's ``data`` and ``files``, with paths open for as long as the call runs."""
        with ExitStack() as stack:
            files = []
            for file in self.files:
                source = file.source
                if isinstance(source, str):
                    source = stack.enter_context(open(source, "rb"))
                elif not isinstance(source, bytes) and not file.rewindable:
                    source = _Unsized(source)
                files.append((file.field, (file.filename, source, file.content_type)))
            yield dict(self.fields), files

    def __repr__(self) -> str:
        return f"Multipart(fields={sorted(self.fields)}, files={self.files})"
