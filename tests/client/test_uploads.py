"""Multipart bodies (``_uploads.py``) through a real socket: files streamed in blocks, sent whole
again on a retry, never retried when they cannot be rewound, and bad files refused before sending."""

from __future__ import annotations

import asyncio
import io
import os
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest

from mistral_client import AsyncMistral, InternalServerError, InvalidRequestError, Mistral
from mistral_client._async.resources._base import AsyncResource
from mistral_client._sync.resources._base import Resource
from mistral_client._uploads import Multipart, upload_file
from tests.support.rawserver import RawConnection, RawServer


def ok(conn: RawConnection) -> None:
    conn.send_full(200, b'{"ok":true}')


def post(kind: str, base_url: str, form: Multipart, **client_kw: Any) -> bytes:
    client_kw.setdefault("max_retries", 0)
    if kind == "sync":
        with Mistral(api_key="k", base_url=base_url, **client_kw) as client:
            return Resource(client).post_json("/up", form, None)[0]

    async def main() -> bytes:
        async with AsyncMistral(api_key="k", base_url=base_url, **client_kw) as client:
            return (await AsyncResource(client).post_json("/up", form, None))[0]

    return asyncio.run(main())


def parts(headers: dict[str, str], body: bytes) -> dict[str, tuple[str | None, bytes]]:
    message = BytesParser(policy=HTTP).parsebytes(f"content-type: {headers['content-type']}\r\n\r\n".encode() + body)
    out = {}
    for part in message.iter_parts():
        out[part.get_param("name", header="content-disposition")] = (part.get_filename(), part.get_payload(decode=True))
    return out


def test_a_path_is_sent_as_a_file_part_with_its_fields(kind: str, tmp_path: Path) -> None:
    audio = tmp_path / "talk.wav"
    audio.write_bytes(os.urandom(300_000))
    form = Multipart({"model": "voxtral", "timestamp_granularities": ["segment", "word"]}, [upload_file(audio)])
    with RawServer(ok) as raw:
        assert post(kind, raw.base_url, form) == b'{"ok":true}'
    request = raw.connections[0].request
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert int(request.headers["content-length"]) == len(request.body)  # sizes known: no chunked upload
    assert "authorization" in request.headers
    got = parts(request.headers, request.body)
    assert got["file"] == ("talk.wav", audio.read_bytes())
    assert got["model"] == (None, b"voxtral")
    assert request.body.count(b'name="timestamp_granularities"') == 2


class CountingFile(io.RawIOBase):
    """A binary file that remembers the largest read it was asked for."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.largest = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, size: int = -1) -> bytes:
        self.largest = max(self.largest, size if size >= 0 else 1 << 62)
        return self._inner.read(size)


def test_a_file_object_is_read_in_blocks_never_whole(kind: str) -> None:
    data = os.urandom(2_000_000)
    source = CountingFile(data)
    with RawServer(ok) as raw:
        post(kind, raw.base_url, Multipart({}, [upload_file(source, filename="doc.pdf")]))
    assert parts(raw.connections[0].request.headers, raw.connections[0].request.body)["file"] == ("doc.pdf", data)
    assert 0 < source.largest <= 1 << 17


def test_a_retry_sends_the_whole_file_again(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100_000)
    answers = iter([503, 200])

    def flaky(conn: RawConnection) -> None:
        status = next(answers)
        conn.send_full(status, b'{"message":"busy"}' if status == 503 else b"{}", extra="retry-after: 0\r\n")

    with RawServer(flaky) as raw:
        post(kind, raw.base_url, Multipart({}, [upload_file(path)]), max_retries=2)
    first, second = (c.request for c in raw.connections)
    assert len(raw.connections) == 2
    assert (
        parts(first.headers, first.body)["file"][1]
        == parts(second.headers, second.body)["file"][1]
        == path.read_bytes()
    )


def test_a_file_that_cannot_be_rewound_is_not_retried(kind: str) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b"streamed")
    os.close(write_end)

    def busy(conn: RawConnection) -> None:
        conn.send_full(503, b'{"message":"busy"}', extra="retry-after: 0\r\nconnection: close\r\n")
        conn.sock.close()

    with os.fdopen(read_end, "rb") as pipe, RawServer(busy) as raw, pytest.raises(InternalServerError):
        post(kind, raw.base_url, Multipart({}, [upload_file(pipe)]), max_retries=3)
    assert len(raw.connections) == 1


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("missing.wav", "cannot be read"),
        (".", "is not a file"),
        (12, "must be a path, bytes or a binary file object, not int"),
        (io.StringIO("text"), "opened in text mode"),
        (b"x" * 11, "11 bytes, over the limit of 10 bytes"),
    ],
)
def test_a_bad_file_is_refused_before_anything_is_sent(source: object, words: str, tmp_path: Path) -> None:
    if source == "missing.wav":
        source = tmp_path / "missing.wav"
    with pytest.raises(InvalidRequestError, match=words) as caught:
        upload_file(source, max_bytes=10, what="audio file")
    assert str(caught.value).startswith("audio file")
