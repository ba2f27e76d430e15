"""``client.files``: upload, list, retrieve, download, delete, and signed URLs.

Files go both ways in blocks: ``download`` writes the body to disk as it arrives, so a multi-gigabyte
batch output never sits in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx2
import msgspec

from ..._config import Timeout, TimeoutLike, resolve_timeout
from ..._exceptions import APIConnectionError, APITimeoutError, InvalidRequestError
from ..._telemetry import begin
from ..._uploads import FileSource, Multipart, upload_file
from ..._wire.files import FILE_PURPOSES, DeletedFile, FileList, FileObject, SignedURL
from ._base import AsyncResource, Headers, decode, path_segment, query_string

__all__ = ["AsyncFiles", "check_purpose", "file_path"]

_decode_file = msgspec.json.Decoder(FileObject).decode
_decode_list = msgspec.json.Decoder(FileList).decode
_decode_deleted = msgspec.json.Decoder(DeletedFile).decode
_decode_url = msgspec.json.Decoder(SignedURL).decode


class AsyncFiles(AsyncResource):
    async def upload(
        self,
        file: FileSource,
        *,
        purpose: str = "batch",
        filename: str | None = None,
        expiry: int | None = None,
        visibility: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> FileObject:
        """Store ``file`` (a path, bytes, or a binary file object), read from disk in blocks as it is sent.

        ``purpose`` is ``batch`` (the default), ``fine-tune`` or ``ocr``; ``filename`` overrides the name the
        service keeps.  A path or a seekable file is sent again whole on a retry; a pipe is never retried.
        """
        method = "files.upload()"
        check_purpose(purpose, method)
        if expiry is not None and (isinstance(expiry, bool) or not isinstance(expiry, int) or expiry < 1):
            raise InvalidRequestError(f"{method}: expiry is whole hours >= 1, got {expiry!r}")
        if visibility is not None and visibility not in ("workspace", "user"):
            raise InvalidRequestError(f"{method}: visibility must be 'workspace' or 'user', got {visibility!r}")
        part = upload_file(file, filename=filename, what=f"{method}: file")
        fields = {"purpose": purpose}
        if expiry is not None:
            fields["expiry"] = str(expiry)
        if visibility is not None:
            fields["visibility"] = visibility
        data, sent = await self.post_json(
            "/files", Multipart(fields, [part]), timeout, extra_headers, operation="upload_file"
        )
        return decode(_decode_file, data, "a file card", sent)

    async def list(
        self,
        *,
        page: int | None = None,
        page_size: int | None = None,
        purpose: str | None = None,
        sample_type: str | None = None,
        source: str | None = None,
        search: str | None = None,
        timeout: TimeoutLike = None,
    ) -> FileList:
        """The stored files (``.data``), one page of them."""
        if purpose is not None:
            check_purpose(purpose, "files.list()")
        query = query_string(
            page=page, page_size=page_size, purpose=purpose, sample_type=sample_type, source=source, search=search
        )
        return decode(
            _decode_list, await self.get_json(f"/files{query}", timeout, operation="list_files"), "a file list"
        )

    async def retrieve(self, file_id: str, *, timeout: TimeoutLike = None) -> FileObject:
        """One file's card."""
        path = f"/files/{file_path(file_id, 'files.retrieve()')}"
        return decode(_decode_file, await self.get_json(path, timeout, operation="retrieve_file"), "a file card")

    async def delete(self, file_id: str, *, timeout: TimeoutLike = None) -> DeletedFile:
        path = f"/files/{file_path(file_id, 'files.delete()')}"
        data, sent = await self.call("DELETE", path, timeout=timeout, operation="delete_file")
        return decode(_decode_deleted, data, "a file deletion", sent)

    async def get_signed_url(
        self, file_id: str, *, expiry: int | None = None, timeout: TimeoutLike = None
    ) -> SignedURL:
        """A URL that downloads the file without the key, for ``expiry`` hours (the API's default: 24)."""
        if expiry is not None and (isinstance(expiry, bool) or not isinstance(expiry, int) or expiry < 1):
            raise InvalidRequestError(f"files.get_signed_url(): expiry is whole hours >= 1, got {expiry!r}")
        path = f"/files/{file_path(file_id, 'files.get_signed_url()')}/url{query_string(expiry=expiry)}"
        return decode(_decode_url, await self.get_json(path, timeout, operation="get_file_signed_url"), "a signed URL")

    async def download(self, file_id: str, to: str | os.PathLike[str], *, timeout: TimeoutLike = None) -> int:
        """Write the file's content to the path ``to`` as it arrives, never whole in memory; the bytes written.

        The content goes to ``to + '.part'`` first and is renamed at the end: a download that fails
        leaves no truncated file under the name asked for.
        """
        path = f"/files/{file_path(file_id, 'files.download()')}/content"
        target = Path(to)
        client = self._client
        limits = resolve_timeout(timeout, client.timeout)
        started = perf_counter()
        deadline = client._deadline(limits, started)
        call = begin(client._telemetry, "download_file", None)  # None unless an OpenTelemetry SDK records
        try:
            written = await self._download(path, target, file_id, limits, started, deadline, call)
        except BaseException as exc:
            if call is not None:
                call.failed(exc)
            raise
        if call is not None:
            call.answered(b"")
        return written

    async def _download(
        self, path: str, target: Path, file_id: str, limits: Timeout, started: float, deadline: float | None, call: Any
    ) -> int:
        response = await self._client._send(
            "GET",
            path,
            body=None,
            stream=False,
            timeout=limits,
            started=started,
            extra_headers={"Accept": "application/octet-stream"},
            call=call,
        )
        partial = target.with_name(target.name + ".part")
        written = 0
        try:
            # Local disk writes of a block each: shorter than the network read that brought the block.
            with open(partial, "wb") as out:  # noqa: ASYNC230
                async for block in response.aiter_bytes():
                    out.write(block)
                    written += len(block)
                    if deadline is not None and perf_counter() > deadline:
                        raise APITimeoutError(
                            f"the total deadline of {limits.total}s passed downloading {file_id}",
                            request=response.request,
                        )
            os.replace(partial, target)
        except httpx2.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise APIConnectionError(
                f"the connection broke downloading {file_id} after {written} bytes: {exc}", request=response.request
            ) from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        finally:
            await response.aclose()
        return written


def check_purpose(purpose: object, method: str) -> str:
    if not isinstance(purpose, str) or purpose not in FILE_PURPOSES:
        shown = ", ".join(repr(name) for name in FILE_PURPOSES)
        raise InvalidRequestError(f"{method}: purpose must be one of {shown}, got {purpose!r}")
    return purpose


def file_path(value: object, method: str, what: str = "file_id") -> str:
    """An id the API gave (``method`` as ``'files.retrieve()'``), escaped into one path segment."""
    return path_segment(
        value, what, method.removesuffix("()"), expected="the id the API gave, a non-empty string", safe=""
    )
