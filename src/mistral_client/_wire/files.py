"""The wire types of ``/v1/files``: a file's card, a list of them, a deletion, a signed URL.

Tolerant readers: every field but the id has a default, and unknown fields are ignored, so a card
the service grows still decodes.
"""

from __future__ import annotations

import msgspec

__all__ = ["FILE_PURPOSES", "DeletedFile", "FileList", "FileObject", "SignedURL"]

# The spec's FilePurpose.
FILE_PURPOSES = ("batch", "fine-tune", "ocr")


class FileObject(msgspec.Struct, kw_only=True):
    """A stored file: ``.id`` to name it in a batch job, ``.bytes``, ``.filename``, ``.purpose``..."""

    id: str
    object: str = "file"
    bytes: int | None = None
    created_at: int | None = None
    filename: str | None = None
    purpose: str | None = None
    sample_type: str | None = None
    num_lines: int | None = None
    mimetype: str | None = None
    source: str | None = None
    signature: str | None = None
    expires_at: int | None = None
    visibility: str | None = None
    deleted: bool | None = None


class FileList(msgspec.Struct, kw_only=True):
    data: list[FileObject] = msgspec.field(default_factory=list)
    object: str = "list"
    total: int | None = None


class DeletedFile(msgspec.Struct, kw_only=True):
    id: str
    object: str = "file"
    deleted: bool = True


class SignedURL(msgspec.Struct, kw_only=True):
    url: str
