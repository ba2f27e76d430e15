"""Local media as the audio and OCR calls take it: a path, bytes, or a binary file object.

The checks are ``_uploads.upload_file``'s (the file exists, can be read, is binary, fits the
limit), named after the call that was given the file; an empty file is refused too, since no
endpoint can do anything with one.  Transcription streams the file (``Multipart``); the JSON
endpoints that carry a file (OCR's data URL, a voice's sample, speech's ``ref_audio``) read it whole.
"""

from __future__ import annotations

import base64

from ..._exceptions import InvalidRequestError
from ..._uploads import FileSource, UploadFile, upload_file

__all__ = ["FileSource", "as_base64", "local_file", "read_all"]


def local_file(
    value: object,
    what: str,
    method: str,
    *,
    max_size: int,
    name: str | None = None,
    content_type: str = "application/octet-stream",
) -> UploadFile:
    """``value`` checked as the file ``what`` of ``method``; ``InvalidRequestError`` naming what is wrong."""
    try:
        file = upload_file(value, filename=name, content_type=content_type, max_bytes=max_size, what=what)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"{method}(): {exc}; nothing was sent") from None
    if getattr(file.source, "closed", False):
        raise InvalidRequestError(f"{method}(): {what} is a closed file")
    if file.size == 0:
        raise InvalidRequestError(f"{method}(): {what} is empty (0 bytes); nothing was sent")
    return file


def read_all(file: UploadFile) -> bytes:
    """The whole content, for a JSON body that carries it (base64)."""
    source = file.source
    if isinstance(source, bytes):
        return source
    if isinstance(source, str):
        with open(source, "rb") as opened:
            return opened.read()
    if file.rewindable:
        source.seek(0)  # as an upload sends a file object: from its start
    data = source.read()
    return bytes(data) if data is not None else b""


def as_base64(file: UploadFile) -> str:
    return base64.b64encode(read_all(file)).decode("ascii")
