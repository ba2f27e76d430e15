"""Audio: ``POST /v1/audio/transcriptions`` (whole or streamed), ``POST /v1/audio/speech`` (whole or
streamed) and the voices (``/v1/audio/voices``: list, get, create, update, delete, sample).

Transcription reads the real file (mutagen: its format and length) and answers a deterministic
text, the same for the same audio and options, with segments placed in the audio's time. Speech
writes a real file of the requested format (``_media``) whose length follows the text. Voices live
in memory, per app, beside three presets.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import random
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._errors import error_response
from ._inputs import (
    Audio,
    UnreadableAudio,
    answer_delay,
    data_url,
    injected,
    invalid_model,
    lookup_file,
    missing_media,
    named_event_body,
    named_events,
    not_found,
    read_audio,
    serves,
    validation_error,
)
from ._media import encode_audio, tone
from ._requests import schema_problems
from ._state import shared_of
from ._stream import ClosingStreamingResponse

__all__ = ["AUDIO_ROUTES"]


# --- Transcription ---------------------------------------------------------------------------------

_WORDS = {
    "en": (
        "the", "river", "runs", "past", "a", "quiet", "town", "where", "people", "talk", "about", "weather",
        "and", "trains", "every", "morning", "light", "comes", "early", "over", "green", "hills",
    ),
    "fr": (
        "le", "fleuve", "passe", "près", "d'une", "ville", "calme", "où", "les", "gens", "parlent", "du",
        "temps", "et", "des", "trains", "chaque", "matin", "la", "lumière", "arrive", "tôt",
    ),
}  # fmt: skip
_WORDS_PER_SECOND = 2.5
_WORDS_PER_SEGMENT = 8
_AUDIO_TOKENS_PER_SECOND = 12.5  # Voxtral's audio encoder: one token per 80 ms
_LANGUAGE = re.compile(r"\w{2}")
_CONTEXT_WORD = re.compile(r"[^,\s]+")
_FLAGS = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class _Transcription:
    model: str
    language: str
    text: str
    segments: list[dict[str, Any]]  # empty unless timestamps or diarization were asked for
    words: list[str]  # the text's pieces in order, as the stream's deltas carry them
    per_segment: int  # pieces in each segment (the last may have fewer)
    usage: dict[str, int]


async def transcriptions(request: Request) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    if (missing := missing_media("mutagen", "python_multipart")) is not None:
        return missing
    content_type = request.headers.get("content-type", "")
    form = await request.form() if content_type.startswith(("multipart/form-data", "application/x-www-form")) else None
    try:
        return await _transcription(request, form if form is not None else FormData())
    finally:
        if form is not None:
            await form.close()  # the upload's spooled file


async def _transcription(request: Request, fields: FormData) -> Response:
    parsed = _transcription_fields(fields)
    if isinstance(parsed, Response):
        return parsed
    model = parsed["model"]
    if not serves(request, model, "voxtral"):
        return invalid_model(model)
    request.state.model = model
    source = await _audio_source(request, fields, parsed)
    if isinstance(source, Response):
        return source
    data, name = source
    if data is None:
        # A URL the server cannot fetch (it reaches no network): a length that its address decides.
        seconds = 5 + int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big") % 26
        audio = Audio(name.rpartition(".")[2].upper() or "MP3", float(seconds), None)
        key = name.encode()
    else:
        try:
            audio = read_audio(data, name)
        except UnreadableAudio as exc:
            return error_response(400, str(exc), "invalid_request_error", "3001")
        key = hashlib.sha256(data).digest()
    result = _transcribe(audio, key, parsed)
    shared_of(request).window.spend(tokens=result.usage["total_tokens"])
    if parsed["stream"]:
        return ClosingStreamingResponse(named_event_body(named_events(request, _transcription_events(result))))
    await answer_delay(request)
    return JSONResponse(_transcription_body(result))


def _transcription_fields(form: FormData) -> dict[str, Any] | Response:
    """The form's fields, checked as the spec's AudioTranscriptionRequest (FastAPI's 422 otherwise)."""
    model = form.get("model")
    if not isinstance(model, str):
        return validation_error(["model"], "missing", "Field required", None)
    parsed: dict[str, Any] = {"model": model}
    for name in ("stream", "diarize"):
        raw = form.get(name)
        if raw is None:
            parsed[name] = False
        elif not isinstance(raw, str) or raw.strip().lower() not in _FLAGS:
            return validation_error([name], "bool_parsing", "Input should be a valid boolean", _shown(raw))
        else:
            parsed[name] = _FLAGS[raw.strip().lower()]
    language = form.get("language")
    if language is not None and not (isinstance(language, str) and _LANGUAGE.fullmatch(language)):
        message = "String should match pattern '^\\w{2}$'"
        return validation_error(["language"], "string_pattern_mismatch", message, _shown(language))
    parsed["language"] = language
    raw_temperature = form.get("temperature")
    temperature = None
    if raw_temperature is not None:
        try:
            temperature = float(raw_temperature) if isinstance(raw_temperature, str) else math.nan
        except ValueError:
            temperature = math.nan
        if not math.isfinite(temperature):
            message = "Input should be a valid number, unable to parse string as a number"
            return validation_error(["temperature"], "float_parsing", message, _shown(raw_temperature))
    parsed["temperature"] = temperature
    bias = form.getlist("context_bias")
    for index, word in enumerate(bias):
        if not (isinstance(word, str) and _CONTEXT_WORD.fullmatch(word)):
            message = "String should match pattern '^[^,\\s]+$'"
            return validation_error(["context_bias", index], "string_pattern_mismatch", message, _shown(word))
    parsed["context_bias"] = list(bias)
    granularities = form.getlist("timestamp_granularities")
    for index, kind in enumerate(granularities):
        if kind not in ("segment", "word"):
            message = "Input should be 'segment' or 'word'"
            return validation_error(["timestamp_granularities", index], "enum", message, _shown(kind))
    parsed["timestamp_granularities"] = list(granularities)
    for name in ("file_url", "file_id"):
        value = form.get(name)
        if value is not None and not isinstance(value, str):
            return validation_error([name], "string_type", "Input should be a valid string", None)
        parsed[name] = value
    url = parsed["file_url"]
    if url is not None and not 1 <= len(url) <= 2083:
        return validation_error(["file_url"], "url_too_long", "URL should have at most 2083 characters", url[:80])
    return parsed


def _shown(value: Any) -> Any:
    return value if isinstance(value, str) else f"<file {getattr(value, 'filename', '')!r}>"


async def _audio_source(
    request: Request, form: FormData, parsed: Mapping[str, Any]
) -> tuple[bytes | None, str] | Response:
    """The audio's bytes and file name; bytes None for a URL the server cannot read."""
    upload = form.get("file")
    given = [name for name in ("file", "file_url", "file_id") if form.get(name) not in (None, "")]
    if not given:
        return error_response(
            400, "Provide the audio: one of file, file_url or file_id", "invalid_request_error", "3001"
        )
    if len(given) > 1:
        message = f"Provide one audio source, not {' and '.join(given)}"
        return error_response(400, message, "invalid_request_error", "3001")
    if isinstance(upload, UploadFile):
        return await upload.read(), upload.filename or ""
    if isinstance(upload, str):
        return validation_error(["file"], "value_error", "Expected UploadFile, received: <class 'str'>", upload[:80])
    if parsed["file_id"]:
        found = lookup_file(request, parsed["file_id"])
        if found is None:
            return not_found(f"No file with id {parsed['file_id']!r}")
        return found
    url: str = parsed["file_url"]
    try:
        inline = data_url(url)
    except ValueError as exc:
        return error_response(400, f"file_url: {exc}", "invalid_request_error", "3001")
    if inline is None:
        return None, url.split("?")[0].rpartition("/")[2] or url
    data, media_type = inline
    return data, "audio." + media_type.rpartition("/")[2] if media_type else ""


def _transcribe(audio: Audio, key: bytes, parsed: Mapping[str, Any]) -> _Transcription:
    language = parsed["language"] or "en"
    vocabulary = _WORDS.get(language, _WORDS["en"])
    seed = hashlib.sha256(key + f"\0{language}\0{parsed['temperature']}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    count = max(1, round(audio.seconds * _WORDS_PER_SECOND))
    words = [rng.choice(vocabulary) for _ in range(count)]
    # The context's words are heard: they come first, as a model biased towards them would write them.
    for index, word in enumerate(parsed["context_bias"][:count]):
        words[index] = word
    step = audio.seconds / count
    granular = parsed["timestamp_granularities"]
    per_segment = 1 if "word" in granular else _WORDS_PER_SEGMENT
    pieces: list[str] = []
    segments: list[dict[str, Any]] = []
    for number, start in enumerate(range(0, count, per_segment)):
        chunk = words[start : start + per_segment]
        if per_segment > 1:  # sentences: a capital and a full stop
            chunk = [chunk[0][:1].upper() + chunk[0][1:], *chunk[1:]]
            chunk[-1] += "."
        pieces += [" " + word if pieces or index else word for index, word in enumerate(chunk)]
        segment: dict[str, Any] = {
            "type": "transcription_segment",
            "text": " ".join(chunk),
            "start": round(start * step, 3),
            "end": round(min(audio.seconds, (start + len(chunk)) * step), 3),
        }
        if parsed["diarize"]:
            segment["speaker_id"] = f"speaker_{number % 2 + 1}"
        segments.append(segment)
    text = "".join(pieces)
    prompt_tokens = math.ceil(audio.seconds * _AUDIO_TOKENS_PER_SECOND)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": count,
        "total_tokens": prompt_tokens + count,
        "prompt_audio_seconds": math.ceil(audio.seconds),
    }
    shown = granular or parsed["diarize"]
    return _Transcription(parsed["model"], language, text, segments if shown else [], pieces, per_segment, usage)


def _transcription_body(result: _Transcription) -> dict[str, Any]:
    return {
        "model": result.model,
        "text": result.text,
        "language": result.language,
        "segments": result.segments,
        "usage": result.usage,
    }


def _transcription_events(result: _Transcription) -> list[tuple[str, dict[str, Any]]]:
    """transcription.language, then the text in deltas with each segment after its words, then done."""
    events: list[tuple[str, dict[str, Any]]] = [
        ("transcription.language", {"type": "transcription.language", "audio_language": result.language})
    ]
    for number, start in enumerate(range(0, len(result.words), result.per_segment)):
        for piece in result.words[start : start + result.per_segment]:
            events.append(("transcription.text.delta", {"type": "transcription.text.delta", "text": piece}))
        if result.segments:
            events.append(("transcription.segment", _segment_event(result.segments[number])))
    done = {**_transcription_body(result), "type": "transcription.done"}
    events.append(("transcription.done", done))
    return events


def _segment_event(segment: Mapping[str, Any]) -> dict[str, Any]:
    event = {key: value for key, value in segment.items() if key != "type"}
    return {"type": "transcription.segment", **event, "speaker_id": segment.get("speaker_id")}


# --- Speech ---------------------------------------------------------------------------------------

_SPEECH_RATE = 24_000
_SECONDS_PER_WORD = 0.35
_DELTA_BYTES = 16 * 1024
_WRITTEN = ("pcm", "wav", "flac", "mp3")
_MEDIA_TYPES = {"pcm": "audio/pcm", "wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg"}


class _SpeechRequest(msgspec.Struct, kw_only=True):
    input: str
    model: str | None = None
    metadata: dict[str, Any] | None = None
    stream: bool = False
    prompt_cache_key: str | None = None
    voice_id: str | None = None
    ref_audio: str | None = None
    response_format: Literal["pcm", "wav", "mp3", "flac", "opus"] = "mp3"


async def speech(request: Request) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    body = await _json_body(request, _SpeechRequest)
    if isinstance(body, Response):
        return body
    request.state.model = body.get("model") or "voxtral-mini-tts-latest"
    response_format = body.get("response_format", "mp3")
    if response_format not in _WRITTEN:
        written = ", ".join(_WRITTEN)
        message = f"response_format {response_format!r}: the local server writes {written}, not {response_format}"
        return error_response(400, message, "invalid_request_error", "3001")
    if response_format == "mp3" and (missing := missing_media("lameenc")) is not None:
        return missing
    voice = body.get("voice_id")
    seed = ""
    if voice is not None:
        if (found := _voice_store(request).get(voice)) is None:
            return not_found(f"Voice not found: {voice}")
        seed = found.id
    if body.get("ref_audio") is not None:
        if (missing := missing_media("mutagen")) is not None:
            return missing
        reference = _audio_from_base64(body["ref_audio"], "ref_audio")
        if isinstance(reference, Response):
            return reference
        seed = hashlib.sha256(reference).hexdigest()
    text: str = body["input"]
    words = len(text.split())
    seconds = 0.2 + _SECONDS_PER_WORD * words
    # Seconds of work for a long text (FLAC's checksums in Python): off the event loop.
    audio = await asyncio.to_thread(_speak, seconds, f"{seed}\0{text}", response_format)
    usage = {"prompt_tokens": words, "completion_tokens": math.ceil(seconds * 12.5), "total_tokens": 0}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    shared_of(request).window.spend(tokens=usage["total_tokens"])
    if not body.get("stream"):
        await answer_delay(request)
        return JSONResponse({"audio_data": base64.b64encode(audio).decode()})
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "speech.audio.delta",
            {"type": "speech.audio.delta", "audio_data": base64.b64encode(audio[i : i + _DELTA_BYTES]).decode()},
        )
        for i in range(0, len(audio), _DELTA_BYTES)
    ]
    events.append(("speech.audio.done", {"type": "speech.audio.done", "usage": usage}))
    return ClosingStreamingResponse(named_event_body(named_events(request, events)))


def _speak(seconds: float, seed: str, response_format: str) -> bytes:
    return encode_audio(tone(seconds, _SPEECH_RATE, seed=seed), response_format, _SPEECH_RATE)


async def _json_body(request: Request, schema: type[msgspec.Struct], *, open_fields: bool = True) -> Any:
    """The request's JSON object checked against ``schema``; a 422 in FastAPI's shape otherwise.
    ``open_fields``: unknown fields are let through (the spec's ``additionalProperties: true``)."""
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        detail = {"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}
        return JSONResponse({"detail": [{**detail, "ctx": {"error": str(exc)}}]}, status_code=422)
    checked = {k: v for k, v in body.items() if k in schema.__struct_fields__} if isinstance(body, dict) else body
    if problems := schema_problems(checked if open_fields else body, schema):
        return JSONResponse({"detail": problems}, status_code=422)
    return body


def _audio_from_base64(value: str, field: str) -> bytes | Response:
    """Base64 audio (or a data: URL of it) that the server can read; a 400 naming what is wrong."""
    try:
        inline = data_url(value)
        data = inline[0] if inline is not None else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return error_response(400, f"{field} is not valid base64 audio", "invalid_request_error", "3001")
    try:
        read_audio(data)
    except UnreadableAudio as exc:
        return error_response(400, f"{field}: {exc}", "invalid_request_error", "3001")
    return data


# --- Voices ---------------------------------------------------------------------------------------


@dataclass
class _Voice:
    id: str
    name: str
    created_at: str
    preset: bool
    fields: dict[str, Any]  # slug, languages, gender, age, tags, color, description, retention_notice
    sample: bytes | None = None  # the uploaded sample; presets' are made on demand
    trimmed_seconds: float | None = None

    def response(self) -> dict[str, Any]:
        return {
            "name": self.name,
            **self.fields,
            "id": self.id,
            "created_at": self.created_at,
            "user_id": None if self.preset else "local-user",
            "trimmed_seconds": self.trimmed_seconds,
            # Not in the spec's VoiceResponse, which leaves room for it; the SDK requires it.
            "type": "preset" if self.preset else "custom",
        }


_DEFAULTS: dict[str, Any] = {
    "slug": None,
    "languages": [],
    "gender": None,
    "age": None,
    "tags": None,
    "color": None,
    "description": None,
    "retention_notice": 30,
}
_PRESETS = (("Ava", "en", "female"), ("Louis", "fr", "male"), ("Noor", "en", "female"))


def _voice_store(request: Request) -> dict[str, _Voice]:
    state = request.app.state
    store: dict[str, _Voice] | None = getattr(state, "voices", None)
    if store is None:
        store = {}
        for name, language, gender in _PRESETS:
            voice_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mistral-client/voice/{name}"))
            fields = {**_DEFAULTS, "slug": name.lower(), "languages": [language], "gender": gender}
            fields["description"] = f"Preset voice {name}"
            store[voice_id] = _Voice(voice_id, name, "2026-01-01T00:00:00Z", True, fields)
        state.voices = store
    return store


class _VoiceCreate(msgspec.Struct, kw_only=True):
    name: str
    sample_audio: str
    slug: str | None = None
    languages: list[str] = []
    gender: str | None = None
    age: int | None = None
    tags: list[str] | None = None
    color: str | None = None
    description: str | None = None
    retention_notice: int = 30
    sample_filename: str | None = None


class _VoiceUpdate(msgspec.Struct, kw_only=True):
    name: str | None = None
    languages: list[str] | None = None
    gender: str | None = None
    age: int | None = None
    tags: list[str] | None = None
    description: str | None = None


async def list_voices(request: Request) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    query = request.query_params
    limit, offset, kind = query.get("limit", "10"), query.get("offset", "0"), query.get("type", "all")
    for name, value, low, high in (("limit", limit, 1, 100), ("offset", offset, 0, None)):
        if not value.isdigit():
            return _query_error(name, "int_parsing", "Input should be a valid integer", value)
        if int(value) < low or (high is not None and int(value) > high):
            bound = f"greater than or equal to {low}" if int(value) < low else f"less than or equal to {high}"
            return _query_error(name, "greater_than_equal" if int(value) < low else "less_than_equal",
                                f"Input should be {bound}", value)  # fmt: skip
    if kind not in ("all", "custom", "preset"):
        return _query_error("type", "enum", "Input should be 'all', 'custom' or 'preset'", kind)
    voices = [v for v in _voice_store(request).values() if kind == "all" or v.preset == (kind == "preset")]
    size, start = int(limit), int(offset)
    return JSONResponse(
        {
            "items": [voice.response() for voice in voices[start : start + size]],
            "total": len(voices),
            "page": start // size + 1,
            "page_size": size,
            "total_pages": math.ceil(len(voices) / size),
        }
    )


def _query_error(name: str, kind: str, message: str, value: str) -> Response:
    return JSONResponse({"detail": [{"type": kind, "loc": ["query", name], "msg": message, "input": value}]}, 422)


async def create_voice(request: Request) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    if (missing := missing_media("mutagen")) is not None:
        return missing
    body = await _json_body(request, _VoiceCreate)
    if isinstance(body, Response):
        return body
    if isinstance(body.get("description"), str) and len(body["description"]) > 500:
        message = "String should have at most 500 characters"
        return validation_error(["description"], "string_too_long", message, body["description"])
    sample = _audio_from_base64(body["sample_audio"], "sample_audio")
    if isinstance(sample, Response):
        return sample
    seconds = read_audio(sample, body.get("sample_filename") or "").seconds
    fields = {**_DEFAULTS, **{k: body[k] for k in _DEFAULTS if k in body}}
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    voice = _Voice(str(uuid.uuid4()), body["name"], created, False, fields, sample, round(seconds, 3))
    _voice_store(request)[voice.id] = voice
    return JSONResponse(voice.response())


async def voice(request: Request) -> Response:
    """GET, PATCH and DELETE of one voice."""
    if (refusal := injected(request)) is not None:
        return refusal
    voice_id = request.path_params["voice_id"]
    store = _voice_store(request)
    found = store.get(voice_id)
    if found is None:
        return not_found(f"Voice not found: {voice_id}")
    if request.method == "DELETE":
        if found.preset:
            return error_response(400, f"Voice {voice_id} is a preset: only custom voices can be deleted",
                                  "invalid_request_error", "3001")  # fmt: skip
        del store[voice_id]
    elif request.method == "PATCH":
        body = await _json_body(request, _VoiceUpdate, open_fields=False)
        if isinstance(body, Response):
            return body
        if found.preset:
            return error_response(400, f"Voice {voice_id} is a preset: only custom voices can be changed",
                                  "invalid_request_error", "3001")  # fmt: skip
        for key, value in body.items():
            if value is None:
                continue
            if key == "name":
                found.name = value
            else:
                found.fields[key] = value
    return JSONResponse(found.response())


async def voice_sample(request: Request) -> Response:
    if (refusal := injected(request)) is not None:
        return refusal
    voice_id = request.path_params["voice_id"]
    found = _voice_store(request).get(voice_id)
    if found is None:
        return not_found(f"Voice not found: {voice_id}")
    sample = found.sample
    if sample is None:
        sample = encode_audio(tone(2.0, _SPEECH_RATE, seed=found.id), "wav", _SPEECH_RATE)
    return Response(sample, media_type="audio/wav")


AUDIO_ROUTES = [
    Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
    Route("/v1/audio/speech", speech, methods=["POST"]),
    Route("/v1/audio/voices", list_voices, methods=["GET"]),
    Route("/v1/audio/voices", create_voice, methods=["POST"]),
    Route("/v1/audio/voices/{voice_id}", voice, methods=["GET", "PATCH", "DELETE"]),
    Route("/v1/audio/voices/{voice_id}/sample", voice_sample, methods=["GET"]),
]
