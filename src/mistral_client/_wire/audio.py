"""Audio on the wire: transcription (Voxtral), speech and voices, as the official spec names them.

Requests are checked before anything is sent (the same bounds as the spec); answers and stream
events are tolerant readers: any field may be missing or ``null``, unknown fields are skipped.
"""

from __future__ import annotations

import binascii
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .._exceptions import InvalidRequestError
from .answers import OrNull
from .events import StreamEvent
from .requests import _encode

__all__ = [
    "AUDIO_FORMATS",
    "MAX_AUDIO_BYTES",
    "SPEECH_FORMATS",
    "AudioUsage",
    "SpeechAudioDelta",
    "SpeechAudioDone",
    "SpeechRequest",
    "SpeechResponse",
    "TranscriptionDone",
    "TranscriptionLanguage",
    "TranscriptionRequest",
    "TranscriptionResponse",
    "TranscriptionSegment",
    "TranscriptionSegmentEvent",
    "TranscriptionTextDelta",
    "Voice",
    "VoiceCreateRequest",
    "VoiceList",
    "VoiceUpdateRequest",
    "build_body",
    "decode_base64",
    "transcription_fields",
]

# What a file name's extension says about the audio inside: the content type the upload carries.
AUDIO_FORMATS = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".webm": "audio/webm",
    ".aac": "audio/aac",
}
SPEECH_FORMATS = ("pcm", "wav", "mp3", "flac", "opus")
# The largest audio file the client sends (checked before sending; the server has its own 413).
MAX_AUDIO_BYTES = 1024 * 1024 * 1024

_Language = Annotated[str, Meta(pattern=r"^\w{2}$")]
_BiasWord = Annotated[str, Meta(pattern=r"^[^,\s]+$")]


class TranscriptionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The form fields of ``POST /v1/audio/transcriptions`` (the audio itself is the ``file`` part)."""

    model: Annotated[str, Meta(min_length=1)]
    file_url: Annotated[str, Meta(min_length=1, max_length=2083)] | UnsetType | None = UNSET
    file_id: Annotated[str, Meta(min_length=1)] | UnsetType | None = UNSET
    language: _Language | UnsetType | None = UNSET
    temperature: float | UnsetType | None = UNSET
    stream: bool = False
    diarize: bool | UnsetType = UNSET
    context_bias: list[_BiasWord] | UnsetType = UNSET
    timestamp_granularities: list[Literal["segment", "word"]] | UnsetType = UNSET


class SpeechRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/audio/speech``: the text to say, in a voice (``voice_id``) or like a sample (``ref_audio``)."""

    input: Annotated[str, Meta(min_length=1)]
    model: str | UnsetType | None = UNSET
    voice_id: str | UnsetType | None = UNSET
    ref_audio: str | UnsetType | None = UNSET
    response_format: Literal["pcm", "wav", "mp3", "flac", "opus"] | UnsetType = UNSET
    stream: bool = False
    metadata: dict[str, Any] | UnsetType | None = UNSET
    prompt_cache_key: str | UnsetType | None = UNSET


class VoiceCreateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1)]
    sample_audio: Annotated[str, Meta(min_length=1)]  # base64
    sample_filename: str | UnsetType | None = UNSET
    slug: str | UnsetType | None = UNSET
    languages: list[str] | UnsetType = UNSET
    gender: str | UnsetType | None = UNSET
    age: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    tags: list[str] | UnsetType | None = UNSET
    color: str | UnsetType | None = UNSET
    description: Annotated[str, Meta(max_length=500)] | UnsetType | None = UNSET
    retention_notice: int | UnsetType = UNSET


class VoiceUpdateRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1)] | UnsetType | None = UNSET
    languages: list[str] | UnsetType | None = UNSET
    gender: str | UnsetType | None = UNSET
    age: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    tags: list[str] | UnsetType | None = UNSET
    description: Annotated[str, Meta(max_length=500)] | UnsetType | None = UNSET


# Answers.


class AudioUsage(msgspec.Struct, gc=False):
    """The spec's ``UsageInfo`` of audio answers: tokens, and the seconds of audio read."""

    prompt_tokens: OrNull[int] = 0
    completion_tokens: OrNull[int] = 0
    total_tokens: OrNull[int] = 0
    prompt_audio_seconds: int | float | None = None

    def __post_init__(self) -> None:
        if self.prompt_tokens is None:
            self.prompt_tokens = 0
        if self.completion_tokens is None:
            self.completion_tokens = 0
        if self.total_tokens is None:
            self.total_tokens = 0


class TranscriptionSegment(msgspec.Struct, gc=False):
    """A stretch of speech: its text, where it starts and ends (seconds), and who spoke (``diarize``)."""

    text: OrNull[str] = ""
    start: OrNull[float] = 0.0
    end: OrNull[float] = 0.0
    speaker_id: str | None = None
    score: float | None = None
    type: str | None = "transcription_segment"

    def __post_init__(self) -> None:
        if self.text is None:
            self.text = ""
        if self.start is None:
            self.start = 0.0
        if self.end is None:
            self.end = 0.0


class TranscriptionResponse(msgspec.Struct, gc=False):
    """The answer of ``transcriptions.create`` as the API sends it."""

    model: OrNull[str] = ""
    text: OrNull[str] = ""
    language: str | None = None
    segments: OrNull[list[TranscriptionSegment]] = msgspec.field(default_factory=list)
    usage: AudioUsage | None = None

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = ""
        if self.text is None:
            self.text = ""
        if self.segments is None:
            self.segments = []


# The four events of a transcription stream (the SSE ``event:`` name is the ``type``).


class TranscriptionLanguage(StreamEvent, kw_only=True, gc=False):
    """``transcription.language``: the language heard, once known."""

    audio_language: OrNull[str] = ""
    type: str = "transcription.language"

    def __post_init__(self) -> None:
        if self.audio_language is None:
            self.audio_language = ""


class TranscriptionTextDelta(StreamEvent, kw_only=True, gc=False):
    """``transcription.text.delta``: the next piece of text."""

    text: OrNull[str] = ""
    type: str = "transcription.text.delta"

    def __post_init__(self) -> None:
        if self.text is None:
            self.text = ""


class TranscriptionSegmentEvent(StreamEvent, kw_only=True, gc=False):
    """``transcription.segment``: a finished segment (start, end, speaker)."""

    text: OrNull[str] = ""
    start: OrNull[float] = 0.0
    end: OrNull[float] = 0.0
    speaker_id: str | None = None
    type: str = "transcription.segment"

    def __post_init__(self) -> None:
        if self.text is None:
            self.text = ""
        if self.start is None:
            self.start = 0.0
        if self.end is None:
            self.end = 0.0

    def to_segment(self) -> TranscriptionSegment:
        return TranscriptionSegment(text=self.text, start=self.start, end=self.end, speaker_id=self.speaker_id)


class TranscriptionDone(StreamEvent, kw_only=True, gc=False):
    """``transcription.done``: the whole text, segments and usage; the stream's last event."""

    model: OrNull[str] = ""
    text: OrNull[str] = ""
    language: str | None = None
    segments: OrNull[list[TranscriptionSegment]] = msgspec.field(default_factory=list)
    usage: AudioUsage | None = None
    type: str = "transcription.done"

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = ""
        if self.text is None:
            self.text = ""
        if self.segments is None:
            self.segments = []


class SpeechResponse(msgspec.Struct, gc=False):
    """The answer of ``speech.create`` as the API sends it: the whole audio, base64."""

    audio_data: OrNull[str] = ""

    def __post_init__(self) -> None:
        if self.audio_data is None:
            self.audio_data = ""

    @property
    def audio(self) -> bytes:
        return decode_base64(self.audio_data)


class SpeechAudioDelta(StreamEvent, kw_only=True, dict=True):
    """``speech.audio.delta``: the next piece of audio, base64 (``.audio`` gives the bytes)."""

    audio_data: OrNull[str] = ""
    type: str = "speech.audio.delta"

    def __post_init__(self) -> None:
        if self.audio_data is None:
            self.audio_data = ""

    @property
    def audio(self) -> bytes:
        """The audio bytes of this delta (the stream decodes them as the delta arrives)."""
        # ``dict=True``: the stream's decoder stores the bytes it decoded, off the wire fields.
        audio = self.__dict__.get("_audio")
        if audio is None:
            audio = self.__dict__["_audio"] = decode_base64(self.audio_data)
        return audio


class SpeechAudioDone(StreamEvent, kw_only=True, gc=False):
    """``speech.audio.done``: the end of the audio, with the usage."""

    usage: AudioUsage | None = None
    type: str = "speech.audio.done"


class Voice(msgspec.Struct, gc=False):
    """A voice for ``speech`` (a preset, or one made from a sample with ``voices.create``)."""

    id: OrNull[str] = ""
    name: OrNull[str] = ""
    slug: str | None = None
    languages: OrNull[list[str]] = msgspec.field(default_factory=list)
    gender: str | None = None
    age: int | None = None
    tags: list[str] | None = None
    color: str | None = None
    description: str | None = None
    retention_notice: int | None = None
    created_at: str | None = None
    user_id: str | None = None
    trimmed_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.id is None:
            self.id = ""
        if self.name is None:
            self.name = ""
        if self.languages is None:
            self.languages = []


class VoiceList(msgspec.Struct, gc=False):
    items: OrNull[list[Voice]] = msgspec.field(default_factory=list)
    total: OrNull[int] = 0
    page: OrNull[int] = 0
    page_size: OrNull[int] = 0
    total_pages: OrNull[int] = 0

    def __post_init__(self) -> None:
        if self.items is None:
            self.items = []
        for name in ("total", "page", "page_size", "total_pages"):
            if getattr(self, name) is None:
                setattr(self, name, 0)


def decode_base64(text: str) -> bytes:
    """Audio bytes from the API's base64 (missing padding tolerated)."""
    text = text.strip()
    if len(text) % 4:
        text += "=" * (-len(text) % 4)
    return binascii.a2b_base64(text)


def transcription_fields(method: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """Check a transcription's fields and return them as multipart form fields, in the spec's
    order: a list repeats its field (``context_bias``), a bool is ``true``/``false``."""
    payload = {key: value for key, value in payload.items() if value is not None}
    if isinstance(payload.get("context_bias"), str):
        payload["context_bias"] = [payload["context_bias"]]
    if isinstance(payload.get("timestamp_granularities"), str):
        payload["timestamp_granularities"] = [payload["timestamp_granularities"]]
    try:
        msgspec.convert(payload, TranscriptionRequest)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {_explain(exc)}") from None
    fields: list[tuple[str, str]] = []
    for name in TranscriptionRequest.__struct_fields__:
        if name not in payload:
            continue
        value = payload[name]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, bool):
                item = "true" if item else "false"
            elif isinstance(item, str):
                _check_text(method, name, item)
            fields.append((name, str(item)))
    return fields


def _explain(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if "context_bias" in text and "regex" in text:
        return f"{text} (each context_bias entry is one word or term: no spaces, no commas)"
    if "language" in text and "regex" in text:
        return f"{text} (a two-letter language code such as 'en' or 'fr')"
    return text


def _check_text(method: str, name: str, value: str) -> None:
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"{method}(): {name} has a lone surrogate at position {exc.start}, which cannot be sent as UTF-8"
        ) from None


def build_body(method: str, payload: dict[str, Any], request_type: type[msgspec.Struct]) -> bytes:
    """Check a JSON request (speech, voices) against its Struct; the body to send (``None``s left out)."""
    payload = {key: value for key, value in payload.items() if value is not None}
    try:
        msgspec.convert(payload, request_type)
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"{method}(): invalid request: {exc}") from None
    return _encode(method, payload)
