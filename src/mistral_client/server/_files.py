"""``/v1/files``: uploads streamed to disk, listed, described, downloaded, deleted, and signed URLs.

The files live in a folder the server owns (``ServerConfig.files_dir``; by default a temporary
folder, removed when the server stops or the process ends). An upload is parsed as it arrives
(python-multipart's streaming parser) and its file part written straight to that folder, so a
512 MB upload never sits in memory; the middleware leaves such a body unread for this route
(``is_streamed_upload``). The batch jobs (``_batch``) write their output and error files here too.

A signed URL is ``/signed/files/{id}?expires=...&signature=...``: outside ``/v1/``, so it needs no
key, like the live service's blob URLs; an HMAC with a secret drawn when the server starts makes
it unforgeable, and it stops working when it expires or the file is deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from ._errors import error_response, injected_failure
from ._state import knobs_of, shared_of

__all__ = [
    "FILE_ROUTES",
    "MAX_FILE_SIZE",
    "PURPOSES",
    "FileStore",
    "StoredFile",
    "files_of",
    "injected",
    "is_streamed_upload",
    "path_uuid_problem",
]

PURPOSES = ("fine-tune", "batch", "ocr")
SampleType = Literal["pretrain", "instruct", "batch_request", "batch_result", "batch_error"]
MAX_FILE_SIZE = 512 * 1000 * 1000  # the live service's documented cap: "a maximum of 512 MB"
_MAX_FIELD_SIZE = 64 << 10  # a form field that is not the file (purpose, expiry...) is a word or two
_SAMPLE_TYPES: dict[str, SampleType] = {"batch": "batch_request", "fine-tune": "instruct", "ocr": "instruct"}
_SIGNED_PATH = "/signed/files/"
_SAMPLE_TYPE_NAMES = ("pretrain", "instruct", "batch_request", "batch_result", "batch_error")
_SOURCES = ("upload", "repository", "mistral")


@dataclass
class StoredFile:
    """One file on disk and what the API says about it."""

    id: str
    path: Path
    size: int
    filename: str
    purpose: str
    sample_type: SampleType
    source: Literal["upload", "repository", "mistral"]
    created_at: int = field(default_factory=lambda: int(time.time()))
    num_lines: int | None = None
    mimetype: str | None = None
    expires_at: int | None = None
    visibility: str | None = "workspace"

    def answer(self, **extra: Any) -> dict[str, Any]:
        """The spec's ``FileSchema`` (and ``CreateFileResponse``/``GetFileResponse`` with ``extra``)."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "sample_type": self.sample_type,
            "source": self.source,
            "num_lines": self.num_lines,
            "mimetype": self.mimetype,
            "signature": None,
            "expires_at": self.expires_at,
            "visibility": self.visibility,
            **extra,
        }


class FileStore:
    """The server's files: a folder on disk and an index of what is in it.

    ``folder`` None: a temporary folder, made on first use and removed by ``close()`` (``LocalServer.stop``)
    or when the process ends. A folder given by the operator is theirs: what was written there stays.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self._given = Path(folder) if folder is not None else None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()  # tests read the index from their own thread
        self._secret = secrets.token_bytes(32)

    @property
    def folder(self) -> Path:
        if self._given is not None:
            self._given.mkdir(parents=True, exist_ok=True)
            return self._given
        if self._temporary is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="mistral-client-files-")
        return Path(self._temporary.name)

    def new_path(self) -> tuple[str, Path]:
        """A fresh file id and the path its bytes go to (nothing is listed until ``add``)."""
        file_id = str(uuid.uuid4())
        return file_id, self.folder / file_id

    def add(self, stored: StoredFile) -> StoredFile:
        with self._lock:
            self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile | None:
        """The file, or None when there is none by that id (or it has expired)."""
        with self._lock:
            stored = self._files.get(file_id)
        if stored is not None and stored.expires_at is not None and stored.expires_at <= time.time():
            self.delete(file_id)
            return None
        return stored

    def delete(self, file_id: str) -> bool:
        with self._lock:
            stored = self._files.pop(file_id, None)
        if stored is None:
            return False
        stored.path.unlink(missing_ok=True)
        return True

    def all(self) -> list[StoredFile]:
        """Every live file, newest first."""
        with self._lock:
            ids = list(self._files)
        found = (self.get(file_id) for file_id in reversed(ids))
        return [stored for stored in found if stored is not None]

    def content(self, file_id: str) -> tuple[bytes, str] | None:
        """A file's bytes and name (None: no such file), for routes that take a ``file_id`` (OCR...)."""
        stored = self.get(file_id)
        return None if stored is None else (stored.path.read_bytes(), stored.filename)

    def sign(self, file_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def close(self) -> None:
        """Forget every file; remove the folder when it is a temporary one (a folder given stays as it is)."""
        with self._lock:
            self._files = {}
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None


def files_of(request: Request) -> FileStore:
    store: FileStore = request.app.state.files
    return store


def is_streamed_upload(scope: Scope) -> bool:
    """A body the middleware must leave unread: an upload, which the route streams to disk."""
    return bool(scope["method"] == "POST" and scope["path"] == "/v1/files")


# --- Routes ----------------------------------------------------------------------------------------


async def upload_file(request: Request) -> Response:
    if (failure := injected(request)) is not None:
        return failure
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        return _invalid("missing", ["body", "file"], "Field required", None)
    store = files_of(request)
    file_id, path = store.new_path()
    upload = _Upload(path)
    try:
        parser = MultipartParser(boundary, upload.callbacks())
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        upload.check_complete()
    except _TooLarge:
        upload.discard()
        message = f"File too large: this server takes files of at most {MAX_FILE_SIZE} bytes"
        return error_response(413, message, "invalid_request_error", "3001")
    except (MultipartParseError, _BadForm) as exc:
        upload.discard()
        return error_response(400, f"Invalid multipart body: {exc}", "invalid_request_error", "3001")
    finally:
        upload.close()
    if upload.file_size is None:
        upload.discard()
        return _invalid("missing", ["body", "file"], "Field required", None)
    purpose = upload.fields.get("purpose", "fine-tune")
    if purpose not in PURPOSES:
        upload.discard()
        allowed = ", ".join(f"'{p}'" for p in PURPOSES)
        return _invalid("enum", ["body", "purpose"], f"Input should be {allowed}", purpose)
    visibility = upload.fields.get("visibility", "workspace")
    if visibility not in ("workspace", "user"):
        upload.discard()
        return _invalid("enum", ["body", "visibility"], "Input should be 'workspace' or 'user'", visibility)
    expiry = upload.fields.get("expiry")
    if expiry is not None and expiry.lower() not in ("", "null") and not (expiry.isascii() and expiry.isdigit()):
        upload.discard()
        return _invalid("int_parsing", ["body", "expiry"], "Input should be a valid integer", expiry)
    filename = upload.filename or "upload"
    mimetype = upload.mimetype or mimetypes.guess_type(filename)[0]
    if mimetype is None and filename.endswith(".jsonl"):
        mimetype = "application/jsonl"
    jsonl = filename.endswith(".jsonl") or mimetype in ("application/jsonl", "application/x-ndjson")
    now = int(time.time())
    stored = store.add(
        StoredFile(
            id=file_id,
            path=path,
            size=upload.file_size,
            filename=filename,
            purpose=purpose,
            sample_type=_SAMPLE_TYPES[purpose],
            source="upload",
            created_at=now,
            num_lines=upload.lines if jsonl else None,
            mimetype=mimetype,
            expires_at=now + int(expiry) * 3600 if expiry and expiry.isdigit() else None,
            visibility=visibility,
        )
    )
    return JSONResponse(stored.answer())


async def list_files(request: Request) -> Response:
    if (failure := injected(request)) is not None:
        return failure
    query = request.query_params
    numbers = _whole_numbers(query, page=0, page_size=100)
    if isinstance(numbers, Response):
        return numbers
    page, page_size = numbers["page"], numbers["page_size"]
    purpose = query.get("purpose")
    if purpose is not None and purpose not in PURPOSES:
        return _invalid("enum", ["query", "purpose"], "Input should be 'fine-tune', 'batch' or 'ocr'", purpose)
    sample_types, sources, mimetypes_ = (set(query.getlist(name)) for name in ("sample_type", "source", "mimetypes"))
    for name, given, allowed in (("sample_type", sample_types, _SAMPLE_TYPE_NAMES), ("source", sources, _SOURCES)):
        if unknown := given - set(allowed):
            return _invalid("enum", ["query", name], f"Input should be one of {', '.join(allowed)}", sorted(unknown))
    search = query.get("search")
    matching = [
        stored
        for stored in files_of(request).all()
        if (purpose is None or stored.purpose == purpose)
        and (not sample_types or stored.sample_type in sample_types)
        and (not sources or stored.source in sources)
        and (not mimetypes_ or stored.mimetype in mimetypes_)
        and (not search or search.lower() in stored.filename.lower())
    ]
    include_total = query.get("include_total", "true").lower() not in ("false", "0")
    shown = matching[page * page_size : (page + 1) * page_size]
    return JSONResponse(
        {
            "data": [stored.answer() for stored in shown],
            "object": "list",
            "total": len(matching) if include_total else None,
        }
    )


async def retrieve_file(request: Request) -> Response:
    stored = _found(request)
    if isinstance(stored, Response):
        return stored
    return JSONResponse(stored.answer(deleted=False))


async def delete_file(request: Request) -> Response:
    stored = _found(request)
    if isinstance(stored, Response):
        return stored
    files_of(request).delete(stored.id)
    return JSONResponse({"id": stored.id, "object": "file", "deleted": True})


async def download_file(request: Request) -> Response:
    stored = _found(request)
    if isinstance(stored, Response):
        return stored
    return _send(stored)


async def signed_url(request: Request) -> Response:
    stored = _found(request)
    if isinstance(stored, Response):
        return stored
    hours = _whole_numbers(request.query_params, expiry=24)
    if isinstance(hours, Response):
        return hours
    if not 1 <= hours["expiry"] <= 168:
        return _invalid(
            "value_error", ["query", "expiry"], "Expiry must be between 1h and 168h", request.query_params["expiry"]
        )
    expires = int(time.time()) + hours["expiry"] * 3600
    signature = files_of(request).sign(stored.id, expires)
    url = f"{str(request.base_url).rstrip('/')}{_SIGNED_PATH}{stored.id}?expires={expires}&signature={signature}"
    return JSONResponse({"url": url})


async def signed_download(request: Request) -> Response:
    """What a signed URL serves: the file, with no key, while the signature holds."""
    store = files_of(request)
    file_id = request.path_params["file_id"]
    expires, signature = request.query_params.get("expires", ""), request.query_params.get("signature", "")
    stored = store.get(file_id)
    valid = (
        stored is not None
        and expires.isdigit()
        and int(expires) > time.time()
        and hmac.compare_digest(store.sign(file_id, int(expires)), signature)
    )
    if stored is None or not valid:
        # One answer for a bad signature, an expired URL and a deleted file: a URL tells nothing about others.
        return error_response(403, "Signed URL invalid or expired", "invalid_request_error", "3001")
    return _send(stored)


FILE_ROUTES = [
    Route("/v1/files", upload_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{file_id}", retrieve_file, methods=["GET"]),
    Route("/v1/files/{file_id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{file_id}/content", download_file, methods=["GET"]),
    Route("/v1/files/{file_id}/url", signed_url, methods=["GET"]),
    Route(_SIGNED_PATH + "{file_id}", signed_download, methods=["GET"]),
]


# --- Helpers ---------------------------------------------------------------------------------------


def _send(stored: StoredFile) -> Response:
    # Starlette's FileResponse reads the file in blocks as the client takes them: never whole.
    return FileResponse(stored.path, media_type="application/octet-stream", filename=stored.filename)


def injected(request: Request) -> Response | None:
    """The failure ``x-mock-status`` asks for (every files and batch route honours it), or None."""
    return injected_failure(knobs_of(request), shared_of(request).failures_by_id)


def _found(request: Request) -> StoredFile | Response:
    if (failure := injected(request)) is not None:
        return failure
    file_id = request.path_params["file_id"]
    if (problem := path_uuid_problem("file_id", file_id)) is not None:
        return problem
    stored = files_of(request).get(file_id)
    if stored is None:
        return error_response(404, f"File not found: {file_id}", "not_found", "3004")
    return stored


def path_uuid_problem(name: str, value: str) -> Response | None:
    """FastAPI's 422 for a path parameter that is not a UUID, as the spec's ``format: uuid`` makes it."""
    try:
        uuid.UUID(value)
    except ValueError:
        message = "Input should be a valid UUID, invalid character or length"
        return _invalid("uuid_parsing", ["path", name], message, value)
    return None


def _whole_numbers(query: Any, **defaults: int) -> dict[str, int] | Response:
    numbers = {}
    for name, default in defaults.items():
        raw = query.get(name)
        if raw is None:
            numbers[name] = default
        elif raw.isascii() and raw.isdigit():
            numbers[name] = int(raw)
        else:
            return _invalid("int_parsing", ["query", name], "Input should be a valid integer", raw)
    return numbers


def _invalid(kind: str, loc: list[str], message: str, value: Any) -> Response:
    return JSONResponse({"detail": [{"type": kind, "loc": loc, "msg": message, "input": value}]}, status_code=422)


class _TooLarge(Exception):
    pass


class _BadForm(Exception):
    pass


class _Upload:
    """The state of one multipart body as it is parsed: the file part goes to disk, fields to memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.mimetype: str | None = None
        self.file_size: int | None = None  # None: no file part (yet)
        self.lines = 0
        self._last_byte = b"\n"
        self._sink: Any = None
        self._field: bytearray | None = None
        self._name = ""
        self._headers: dict[str, str] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._ended = False

    def callbacks(self) -> Any:
        on: dict[str, Callable[..., None]] = {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }
        return on

    def _part_begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        name = bytes(self._header_field).decode("latin-1").strip().lower()
        # Latin-1 keeps the bytes as they came: a UTF-8 file name is decoded once, below.
        self._headers[name] = bytes(self._header_value).decode("latin-1").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition"))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if self._name == "file":
            if self.file_size is not None:
                raise _BadForm("more than one file part")
            # Only the last path segment: a name is a label, never a place on this machine.
            raw = (filename or b"").decode("utf-8", "replace")
            self.filename = raw.replace("\\", "/").rsplit("/", 1)[-1] or None
            content_type = self._headers.get("content-type", "").split(";", 1)[0].strip().lower()
            self.mimetype = content_type if content_type and content_type != "application/octet-stream" else None
            self.file_size = 0
            self._sink = self.path.open("wb")
        else:
            self._field = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if not piece:
            return
        if self._sink is not None:
            assert self.file_size is not None
            self.file_size += len(piece)
            if self.file_size > MAX_FILE_SIZE:
                raise _TooLarge
            # A blocking write on the event loop: the page cache takes a block in microseconds.
            self._sink.write(piece)
            self.lines += piece.count(b"\n")
            self._last_byte = piece[-1:]
        elif self._field is not None:
            if len(self._field) + len(piece) > _MAX_FIELD_SIZE:
                raise _BadForm(f"field {self._name!r} is longer than {_MAX_FIELD_SIZE} bytes")
            self._field.extend(piece)

    def _part_end(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
            if self.file_size and self._last_byte != b"\n":
                self.lines += 1  # a last line without its newline
        elif self._field is not None:
            self.fields[self._name] = self._field.decode("utf-8", "replace")
            self._field = None

    def _end(self) -> None:
        self._ended = True

    def check_complete(self) -> None:
        if not self._ended:
            raise _BadForm("the body ended before the closing boundary")

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
