"""What the audio, OCR and moderation routes share: the media extra's check, the model families,
a file given by id or as a data URL, audio read for its format and length, and the named-event
stream the transcription and speech routes send.

The ``media`` extra (mutagen, pypdf, lameenc, python-multipart) is imported by the routes that
use it, when they are called: without it the server still starts, and those routes answer 501
with the line that installs it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import importlib.util
import io
import re
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from ._errors import PROXY_ERROR_PAGE, error_response, injected_failure
from ._knobs import Knobs
from ._records import Recorder, RequestRecord
from ._state import knobs_of, shared_of
from ._stream import InjectedDisconnect

__all__ = [
    "AUDIO_FORMATS",
    "Audio",
    "FileLookup",
    "injected",
    "NamedEvents",
    "UnreadableAudio",
    "answer_delay",
    "data_url",
    "invalid_model",
    "lookup_file",
    "missing_media",
    "named_event_body",
    "not_found",
    "read_audio",
    "serves",
    "validation_error",
]

# What a route needs from the media extra: the module's import name and its package's name.
_PACKAGES = {"mutagen": "mutagen", "pypdf": "pypdf", "lameenc": "lameenc", "python_multipart": "python-multipart"}


def missing_media(*modules: str) -> Response | None:
    """A 501 naming the media extra when one of ``modules`` is not installed, else None."""
    missing = [_PACKAGES.get(name, name) for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    message = f"this endpoint of the local server needs {', '.join(missing)}: pip install 'mistral-client[media]'"
    return error_response(501, message, "not_implemented", "3000")


def injected(request: Request) -> Response | None:
    """An injected failure (``x-mock-status``, ``x-mock-html``), as every route answers one."""
    shared, knobs = shared_of(request), knobs_of(request)
    if (failure := injected_failure(knobs, shared.failures_by_id)) is not None:
        return failure
    return HTMLResponse(PROXY_ERROR_PAGE) if knobs.html else None


async def answer_delay(request: Request) -> None:
    """``x-mock-first-token-delay`` before a whole (non-streamed) answer, as the chat routes wait."""
    knobs, config = knobs_of(request), shared_of(request).config
    delay = config.first_token_delay if knobs.first_token_delay is None else knobs.first_token_delay
    if delay > 0:
        await asyncio.sleep(delay)


def serves(request: Request, model: str, family: str) -> bool:
    """Whether the server answers ``model`` on a route for ``family`` (``voxtral``, ``mistral-ocr``,
    ``mistral-moderation``): a model of that family, or any model with ``--any-model``."""
    return shared_of(request).config.any_model or model.startswith(family)


def invalid_model(model: str) -> Response:
    return error_response(400, f"Invalid model: {model}", "invalid_model", "1500")


def not_found(message: str) -> Response:
    return error_response(404, message, "not_found", "3004")


def validation_error(loc: Sequence[str | int], kind: str, message: str, value: Any) -> Response:
    """A 422 in FastAPI's shape, as the live API answers a request its schema refuses."""
    return JSONResponse(
        {"detail": [{"type": kind, "loc": ["body", *loc], "msg": message, "input": value}]}, status_code=422
    )


# --- Files given by id or inline ------------------------------------------------------------------

# ``app.state.file_content``, when set, maps a file id to the file's bytes and name (or None): the
# routes read ``file_id`` through it, whichever store holds the files (/v1/files, a test's dict).
FileLookup = Callable[[str], "tuple[bytes, str] | None"]


def lookup_file(request: Request, file_id: str) -> tuple[bytes, str] | None:
    lookup: FileLookup | None = getattr(request.app.state, "file_content", None)
    return None if lookup is None else lookup(file_id)


_DATA_URL = re.compile(r"data:(?P<type>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.S)


def data_url(url: str) -> tuple[bytes, str] | None:
    """The bytes and media type of a ``data:`` URL; None for any other URL; ValueError when broken."""
    match = _DATA_URL.fullmatch(url.strip())
    if match is None:
        if url.strip().lower().startswith("data:"):
            raise ValueError("a data: URL needs a comma before its data")
        return None
    if ";base64" in match["params"].lower():
        try:
            return base64.b64decode(match["data"], validate=True), match["type"]
        except (binascii.Error, ValueError):
            raise ValueError("the data: URL's base64 is not valid") from None
    return urllib.parse.unquote_to_bytes(match["data"]), match["type"]


# --- Audio ----------------------------------------------------------------------------------------

# mutagen's names for what it read, as the answers spell them.
AUDIO_FORMATS = {"WAVE": "WAV", "FLAC": "FLAC", "OggFLAC": "OGG", "OggVorbis": "OGG", "OggOpus": "OGG", "MP3": "MP3"}
_BY_EXTENSION = {"wav": "WAV", "wave": "WAV", "flac": "FLAC", "ogg": "OGG", "oga": "OGG", "opus": "OGG", "mp3": "MP3"}


@dataclass(frozen=True)
class Audio:
    format: str  # WAV, FLAC, OGG, MP3
    seconds: float
    sample_rate: int | None


class UnreadableAudio(ValueError):
    """Audio the server cannot read; the message names the format."""


def read_audio(data: bytes, filename: str = "") -> Audio:
    """The format and length of ``data`` (mutagen reads the headers); UnreadableAudio when it cannot."""
    import mutagen

    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    claimed = _BY_EXTENSION.get(extension)
    name = f" {filename!r}" if filename else ""
    if not data:
        raise UnreadableAudio(f"the audio file{name} is empty")
    try:
        file = mutagen.File(io.BytesIO(data))
    except mutagen.MutagenError as exc:
        what = _format_of_error(exc) or claimed or "audio"
        raise UnreadableAudio(f"cannot read the audio file{name}: not a valid {what} file ({exc})") from None
    kind = type(file).__name__ if file is not None else None
    if kind not in AUDIO_FORMATS:
        what = claimed or (f".{extension}" if extension else "unknown")
        raise UnreadableAudio(
            f"cannot read the audio file{name}: its format ({kind or what}) is not one the server reads "
            "(WAV, FLAC, OGG, MP3)"
        )
    assert file is not None
    seconds = float(getattr(file.info, "length", 0.0) or 0.0)
    if seconds <= 0:
        raise UnreadableAudio(f"cannot read the audio file{name}: the {AUDIO_FORMATS[kind]} file holds no audio")
    return Audio(AUDIO_FORMATS[kind], seconds, getattr(file.info, "sample_rate", None))


def _format_of_error(exc: Exception) -> str | None:
    module = type(exc).__module__
    for part, name in (("flac", "FLAC"), ("mp3", "MP3"), ("ogg", "OGG"), ("wave", "WAV"), ("_iff", "WAV")):
        if part in module:
            return name
    return None


# --- Named events: the transcription and speech streams -------------------------------------------


@dataclass
class NamedEvents:
    """One streamed answer of named events (``event: NAME`` then ``data: JSON``).

    The knobs count events already sent: ``x-mock-stall-after``, ``x-mock-disconnect-after`` and
    ``x-mock-error-event-after`` work as in chat streams (the error is an ``event: error`` with the
    API's error envelope); so do the delays, ``x-mock-crlf`` and ``x-mock-keepalive``.
    """

    events: Sequence[tuple[str, dict[str, Any]]]
    knobs: Knobs
    first_token_delay: float
    token_delay: float
    record: RequestRecord
    recorder: Recorder


_encode = msgspec.json.Encoder().encode
_ERROR = {
    "object": "error",
    "message": "Internal server error",
    "type": "internal_error",
    "param": None,
    "code": "3000",
}


def named_events(request: Request, events: Sequence[tuple[str, dict[str, Any]]]) -> NamedEvents:
    shared, knobs = shared_of(request), knobs_of(request)
    config = shared.config
    return NamedEvents(
        events=events,
        knobs=knobs,
        first_token_delay=config.first_token_delay if knobs.first_token_delay is None else knobs.first_token_delay,
        token_delay=config.token_delay if knobs.token_delay is None else knobs.token_delay,
        record=request.state.record,
        recorder=shared.recorder,
    )


async def named_event_body(stream: NamedEvents) -> AsyncGenerator[bytes, None]:
    faults = stream.knobs.stream
    eol = b"\r\n" if faults.crlf else b"\n"
    keepalive = b": keep-alive" + eol + eol if faults.keepalive else b""
    paced = stream.token_delay > 0
    pending: list[bytes] = []
    sent, complete = 0, False

    def frame(name: str, data: dict[str, Any]) -> bytes:
        return keepalive + b"event: " + name.encode() + eol + b"data: " + _encode(data) + eol + eol

    try:
        if stream.first_token_delay > 0:
            await asyncio.sleep(stream.first_token_delay)
        for name, data in stream.events:
            if faults.stall_after == sent:
                if pending:
                    yield b"".join(pending)
                    pending.clear()
                await asyncio.sleep(faults.stall_seconds)
            if faults.error_event_after == sent:
                pending.append(frame("error", _ERROR))
                complete = True
                yield b"".join(pending)
                return
            if faults.disconnect_after == sent:
                if pending:
                    yield b"".join(pending)
                raise InjectedDisconnect(f"x-mock-disconnect-after: {sent}")
            if paced and sent:
                await asyncio.sleep(stream.token_delay)
            pending.append(frame(name, data))
            sent += 1
            if paced:
                yield b"".join(pending)
                pending.clear()
        complete = True
        if pending:
            yield b"".join(pending)
    except (asyncio.CancelledError, GeneratorExit):
        if not complete:
            stream.recorder.add_disconnect(stream.record, sent)
        raise
