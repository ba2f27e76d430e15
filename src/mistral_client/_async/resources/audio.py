"""``client.audio``: ``transcriptions`` (speech to text), ``speech`` (text to speech) and ``voices``."""

from __future__ import annotations

import builtins
import contextlib
import os
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import PurePath
from typing import IO, TYPE_CHECKING, Any, Literal

import msgspec

from ..._config import Timeout, TimeoutLike
from ..._exceptions import APIError, InvalidRequestError
from ..._pipeline.audio import Speech, SpeechDecoder, Transcription
from ..._pipeline.events import EventKinds
from ..._uploads import Multipart
from ..._wire.audio import (
    AUDIO_FORMATS,
    MAX_AUDIO_BYTES,
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechRequest,
    SpeechResponse,
    TranscriptionDone,
    TranscriptionLanguage,
    TranscriptionResponse,
    TranscriptionSegmentEvent,
    TranscriptionTextDelta,
    Voice,
    VoiceCreateRequest,
    VoiceList,
    VoiceUpdateRequest,
    build_body,
    decode_base64,
    transcription_fields,
)
from ..._wire.events import StreamEvent
from ..stream import AsyncNamedEventStream
from ._base import AsyncResource, Headers, check_whole_number, decode, path_segment, query_string
from ._media import FileSource, as_base64, local_file

if TYPE_CHECKING:
    import httpx2

    from ..client import AsyncMistral

__all__ = [
    "AsyncAudio",
    "AsyncSpeechAPI",
    "AsyncSpeechStream",
    "AsyncTranscriptionStream",
    "AsyncTranscriptions",
    "AsyncVoices",
]

_TRANSCRIPTIONS = "/audio/transcriptions"

_decode_transcription = msgspec.json.Decoder(TranscriptionResponse).decode
_decode_speech = msgspec.json.Decoder(SpeechResponse).decode
_decode_voice = msgspec.json.Decoder(Voice).decode
_decode_voices = msgspec.json.Decoder(VoiceList).decode


class AsyncTranscriptionStream(AsyncNamedEventStream[StreamEvent, Transcription]):
    """A streamed transcription: iterate it for its events, ``.text_stream`` for the text;
    ``.result`` is the ``Transcription`` so far (``segments``, ``to_srt()``...)."""

    kinds = EventKinds(
        {
            "transcription.language": TranscriptionLanguage,
            "transcription.text.delta": TranscriptionTextDelta,
            "transcription.segment": TranscriptionSegmentEvent,
            "transcription.done": TranscriptionDone,
        },
        end={"transcription.done"},
    )
    result_type = Transcription
    _again = "call audio.transcriptions.stream() again"

    def _text_of(self, item: StreamEvent) -> str:
        return item.text if type(item) is TranscriptionTextDelta else ""


class AsyncSpeechStream(AsyncNamedEventStream[StreamEvent, Speech]):
    """A streamed speech: iterate it for its events (``SpeechAudioDelta``, ``SpeechAudioDone``),
    ``.audio_stream`` for the audio bytes, ``write_to(path_or_file)`` to save them as they arrive."""

    kinds = EventKinds(
        {"speech.audio.delta": SpeechAudioDelta, "speech.audio.done": SpeechAudioDone}, end={"speech.audio.done"}
    )
    result_type = Speech
    _again = "call audio.speech.stream() again"

    def __init__(
        self,
        send: Callable[[float], Any],
        *,
        timeout: Timeout,
        max_event_size: int | None,
        response_format: str | None = None,
        keep_audio: bool = True,
        keep_events: bool = False,
    ) -> None:
        super().__init__(send, timeout=timeout, max_event_size=max_event_size, keep_events=keep_events)
        self._format = response_format
        self._keep_audio = keep_audio

    def _new_result(self) -> Speech:
        return Speech(self._format, keep_audio=self._keep_audio, keep_events=self._keep_events)

    def _new_decoder(self, response: httpx2.Response, started: float) -> SpeechDecoder:
        return SpeechDecoder(
            started,
            self.kinds,
            self._new_result(),
            max_event_size=self._max_event_size,
            request=response.request,
            request_id=response.headers.get("mistral-correlation-id"),
        )

    @property
    def audio_stream(self) -> AsyncIterator[bytes]:
        """The audio bytes, delta by delta, as they arrive."""
        return _audio_deltas(self)

    async def write_to(self, target: str | os.PathLike[str] | IO[bytes]) -> int:
        """Write the audio to a path or a binary file object as it arrives (reads the stream to its
        end); returns the number of bytes written.  A path is written whole or not at all: on an
        error the partial file is removed (the audio so far is in the error's ``.partial``)."""
        if hasattr(target, "write"):
            return await _write_audio(self, target)  # type: ignore[arg-type]
        path = os.fspath(target)
        try:
            with open(path, "wb") as file:  # noqa: ASYNC230 - a local file, written a delta at a time
                return await _write_audio(self, file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(path)
            raise


async def _audio_deltas(stream: AsyncSpeechStream) -> AsyncGenerator[bytes, None]:
    async for event in stream:
        if type(event) is SpeechAudioDelta:
            audio = event.audio
            if audio:
                yield audio
    tail = stream.result._tail if stream.result.done else b""
    if tail:  # the base64 ended without its padding: the last bytes came with the end
        yield tail


async def _write_audio(stream: AsyncSpeechStream, file: IO[bytes]) -> int:
    written = 0
    async for audio in _audio_deltas(stream):
        file.write(audio)
        written += len(audio)
    return written


class AsyncAudio:
    """``client.audio``: ``transcriptions``, ``speech`` and ``voices``."""

    def __init__(self, client: AsyncMistral) -> None:
        self.transcriptions = AsyncTranscriptions(client)
        self.speech = AsyncSpeechAPI(client)
        self.voices = AsyncVoices(client)


class AsyncSpeechAPI(AsyncResource):
    async def create(
        self,
        *,
        input: str | None = None,
        model: str | None = None,
        voice_id: str | None = None,
        ref_audio: FileSource | None = None,
        response_format: Literal["pcm", "wav", "mp3", "flac", "opus"] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> Speech:
        """Say ``input`` in a voice (``voice_id``) or like a sample (``ref_audio``: a path, bytes or a
        binary file); ``.audio`` holds the file's bytes (``response_format``, mp3 unless said),
        ``.write_to(path)`` saves it."""
        body = _speech_body("audio.speech.create", input, model, voice_id, ref_audio, response_format, metadata, False)
        data, sent = await self.post_json(
            "/audio/speech", body, timeout, extra_headers, operation="text_to_speech", model=model
        )
        answer = decode(_decode_speech, data, "a speech answer", sent)
        try:
            audio = decode_base64(answer.audio_data)
        except ValueError as exc:
            raise APIError(f"the speech answer's audio_data is not base64: {exc}", request=sent) from None
        return Speech.from_audio(audio, response_format or "mp3")

    def stream(
        self,
        *,
        input: str | None = None,
        model: str | None = None,
        voice_id: str | None = None,
        ref_audio: FileSource | None = None,
        response_format: Literal["pcm", "wav", "mp3", "flac", "opus"] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        keep_audio: bool = True,
    ) -> AsyncSpeechStream:
        """Stream speech: each ``SpeechAudioDelta`` carries its audio bytes (``.audio``, decoded as it
        arrives); ``stream.write_to(path_or_file)`` writes them as they come; ``.result`` is the
        ``Speech`` so far.  ``keep_audio=False`` keeps no audio in the result (a long stream written elsewhere)."""
        body = _speech_body("audio.speech.stream", input, model, voice_id, ref_audio, response_format, metadata, True)
        return self.stream_of(
            AsyncSpeechStream,
            "/audio/speech",
            body,
            timeout,
            extra_headers,
            operation="text_to_speech",
            model=model,
            response_format=response_format or "mp3",
            keep_audio=keep_audio,
        )


class AsyncVoices(AsyncResource):
    async def list(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        type: Literal["all", "custom", "preset"] | None = None,
        timeout: TimeoutLike = None,
    ) -> VoiceList:
        """The voices (``.items``), a page at a time (``limit`` 1 to 100, ``offset``)."""
        check_whole_number("audio.voices.list", "limit", limit, 1, 100)
        check_whole_number("audio.voices.list", "offset", offset, 0)
        if type is not None:
            if type not in ("all", "custom", "preset"):
                raise InvalidRequestError(
                    f"audio.voices.list(): type must be 'all', 'custom' or 'preset', got {type!r}"
                )
        path = "/audio/voices" + query_string(limit=limit, offset=offset, type=type)
        return decode(_decode_voices, await self.get_json(path, timeout, operation="list_voices"), "a voice list")

    async def get(self, voice_id: str, *, timeout: TimeoutLike = None) -> Voice:
        """One voice, by id."""
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', 'audio.voices.get', safe='')}"
        return decode(_decode_voice, await self.get_json(path, timeout, operation="get_voice"), "a voice")

    async def create(
        self,
        *,
        name: str | None = None,
        sample: FileSource | None = None,
        sample_filename: str | None = None,
        slug: str | None = None,
        languages: builtins.list[str] | None = None,
        gender: str | None = None,
        age: int | None = None,
        tags: builtins.list[str] | None = None,
        color: str | None = None,
        description: str | None = None,
        retention_notice: int | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> Voice:
        """A new voice from a sample of someone speaking (a path, bytes or a binary file)."""
        method = "audio.voices.create"
        if name is None:
            raise InvalidRequestError(f"{method}() needs name=..., the voice's name")
        if sample is None:
            raise InvalidRequestError(
                f"{method}() needs sample=..., a recording of the voice (a path, bytes or a file)"
            )
        local = local_file(sample, "sample", method, max_size=MAX_AUDIO_BYTES)
        payload = {
            "name": name,
            "sample_audio": as_base64(local),
            "sample_filename": sample_filename or (local.filename if local.filename != "file" else None),
            "slug": slug,
            "languages": languages,
            "gender": gender,
            "age": age,
            "tags": tags,
            "color": color,
            "description": description,
            "retention_notice": retention_notice,
        }
        body = build_body(method, payload, VoiceCreateRequest)
        data, sent = await self.post_json("/audio/voices", body, timeout, extra_headers, operation="create_voice")
        return decode(_decode_voice, data, "a voice", sent)

    async def update(
        self,
        voice_id: str,
        *,
        name: str | None = None,
        languages: builtins.list[str] | None = None,
        gender: str | None = None,
        age: int | None = None,
        tags: builtins.list[str] | None = None,
        description: str | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> Voice:
        """Change a voice's name, languages, gender, age, tags or description (what is not given stays)."""
        method = "audio.voices.update"
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', method, safe='')}"
        payload = {
            "name": name,
            "languages": languages,
            "gender": gender,
            "age": age,
            "tags": tags,
            "description": description,
        }
        body = build_body(method, payload, VoiceUpdateRequest)
        data, sent = await self.call("PATCH", path, body, timeout, extra_headers, operation="update_voice")
        return decode(_decode_voice, data, "a voice", sent)

    async def delete(self, voice_id: str, *, timeout: TimeoutLike = None) -> Voice:
        """Delete a custom voice; the answer is the voice that was deleted."""
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', 'audio.voices.delete', safe='')}"
        data, sent = await self.call("DELETE", path, None, timeout, operation="delete_voice")
        return decode(_decode_voice, data, "a voice", sent)

    async def sample(self, voice_id: str, *, timeout: TimeoutLike = None) -> bytes:
        """The voice's sample recording (WAV bytes)."""
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', 'audio.voices.sample', safe='')}/sample"
        return await self.get_json(path, timeout, operation="get_voice_sample")


class AsyncTranscriptions(AsyncResource):
    async def create(
        self,
        file: FileSource | None = None,
        /,
        *,
        model: str | None = None,
        file_url: str | None = None,
        file_id: str | None = None,
        language: str | None = None,
        temperature: float | None = None,
        diarize: bool | None = None,
        context_bias: builtins.list[str] | str | None = None,
        timestamp_granularities: builtins.list[Literal["segment", "word"]] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> Transcription:
        """Transcribe audio: ``file`` (a path, bytes or a binary file, streamed, never read whole),
        ``file_url`` or ``file_id``.  The answer has ``text``, ``language``, ``segments`` (with
        ``timestamp_granularities=["segment"]``; ``speaker_id`` with ``diarize=True``), ``usage``,
        and ``to_srt()`` / ``to_vtt()``."""
        body = _transcription_body(
            "audio.transcriptions.create",
            file,
            model,
            file_url,
            file_id,
            language,
            temperature,
            diarize,
            context_bias,
            timestamp_granularities,
            stream=False,
        )
        data, sent = await self.post_json(
            _TRANSCRIPTIONS, body, timeout, extra_headers, operation="transcription", model=model
        )
        return Transcription.from_response(decode(_decode_transcription, data, "a transcription", sent))

    def stream(
        self,
        file: FileSource | None = None,
        /,
        *,
        model: str | None = None,
        file_url: str | None = None,
        file_id: str | None = None,
        language: str | None = None,
        temperature: float | None = None,
        diarize: bool | None = None,
        context_bias: builtins.list[str] | str | None = None,
        timestamp_granularities: builtins.list[Literal["segment", "word"]] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
        keep_events: bool = True,
    ) -> AsyncTranscriptionStream:
        """Stream a transcription: iterate it for its events (``TranscriptionLanguage``,
        ``TranscriptionTextDelta``, ``TranscriptionSegmentEvent``, ``TranscriptionDone``), or
        ``.text_stream`` for the text; ``.result`` is the ``Transcription`` so far.  The request is
        sent when the ``with`` block (or the loop) starts."""
        body = _transcription_body(
            "audio.transcriptions.stream",
            file,
            model,
            file_url,
            file_id,
            language,
            temperature,
            diarize,
            context_bias,
            timestamp_granularities,
            stream=True,
        )
        return self.stream_of(
            AsyncTranscriptionStream,
            _TRANSCRIPTIONS,
            body,
            timeout,
            extra_headers,
            operation="transcription",
            model=model,
            keep_events=keep_events,
        )


def _transcription_body(
    method: str,
    file: Any,
    model: str | None,
    file_url: str | None,
    file_id: str | None,
    language: str | None,
    temperature: float | None,
    diarize: bool | None,
    context_bias: Any,
    timestamp_granularities: Any,
    *,
    stream: bool,
) -> Multipart:
    if model is None:
        raise InvalidRequestError(f"{method}() needs model=..., e.g. 'voxtral-mini-latest'")
    given = [
        name for name, value in (("file", file), ("file_url", file_url), ("file_id", file_id)) if value is not None
    ]
    if not given:
        raise InvalidRequestError(
            f"{method}() needs audio: a local file ({method}('talk.wav', ...)), file_url=... or file_id=..."
        )
    if len(given) > 1:
        raise InvalidRequestError(f"{method}(): give the audio once, not as {' and '.join(given)}")
    fields = transcription_fields(
        method,
        {
            "model": model,
            "file_url": file_url,
            "file_id": file_id,
            "language": language,
            "temperature": temperature,
            "stream": stream,
            "diarize": diarize,
            "context_bias": context_bias,
            "timestamp_granularities": timestamp_granularities,
        },
    )
    files = []
    if file is not None:
        upload = local_file(file, "the audio file", method, max_size=MAX_AUDIO_BYTES)
        upload.content_type = AUDIO_FORMATS.get(PurePath(upload.filename).suffix.lower(), "application/octet-stream")
        files.append(upload)
    grouped: dict[str, builtins.list[str]] = {}
    for name, value in fields:
        grouped.setdefault(name, []).append(value)
    return Multipart({name: values[0] if len(values) == 1 else values for name, values in grouped.items()}, files)


def _speech_body(
    method: str,
    input: str | None,
    model: str | None,
    voice_id: str | None,
    ref_audio: Any,
    response_format: str | None,
    metadata: dict[str, Any] | None,
    stream: bool,
) -> bytes:
    if input is None:
        raise InvalidRequestError(f"{method}() needs input=..., the text to say")
    reference = None
    if ref_audio is not None:
        if isinstance(ref_audio, str) and not _looks_like_path(ref_audio):
            reference = ref_audio  # already base64, as the API takes it
        else:
            reference = as_base64(local_file(ref_audio, "ref_audio", method, max_size=MAX_AUDIO_BYTES))
    payload = {
        "input": input,
        "model": model,
        "voice_id": voice_id,
        "ref_audio": reference,
        "response_format": response_format,
        "metadata": metadata,
        "stream": stream,
    }
    return build_body(method, payload, SpeechRequest)


def _looks_like_path(text: str) -> bool:
    # The API takes base64; a str that names a file, or is no base64, is read as a path.
    return os.path.exists(text) or re.fullmatch(r"[A-Za-z0-9+/=\s]{16,}", text) is None
