"""``client.audio``: ``transcriptions`` (speech to text), ``speech`` (text to speech) and ``voices``."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ..._config import TimeoutLike
from ..._exceptions import InvalidRequestError
from ..._pipeline.audio import Speech
from ..._wire.audio import (
    MAX_AUDIO_BYTES,
    SpeechRequest,
    SpeechResponse,
    TranscriptionResponse,
    Voice,
    VoiceCreateRequest,
    VoiceList,
    VoiceUpdateRequest,
    build_body,
    decode_base64,
)
from ._base import AsyncResource, Headers, decode
from ._media import FileLike, as_base64, local_file, path_segment

if TYPE_CHECKING:
    from ..client import AsyncMistral

__all__ = ["AsyncAudio", "AsyncSpeechAPI", "AsyncTranscriptions", "AsyncVoices"]

_decode_transcription = msgspec.json.Decoder(TranscriptionResponse).decode
_decode_speech = msgspec.json.Decoder(SpeechResponse).decode
_decode_voice = msgspec.json.Decoder(Voice).decode
_decode_voices = msgspec.json.Decoder(VoiceList).decode


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
        ref_audio: FileLike | None = None,
        response_format: Literal["pcm", "wav", "mp3", "flac", "opus"] | None = None,
        metadata: dict[str, Any] | None = None,
        timeout: TimeoutLike = None,
        extra_headers: Headers = None,
    ) -> Speech:
        """Say ``input`` in a voice (``voice_id``) or like a sample (``ref_audio``: a path, bytes or a
        binary file); ``.audio`` holds the file's bytes (``response_format``, mp3 unless said),
        ``.write_to(path)`` saves it."""
        body = _speech_body("audio.speech.create", input, model, voice_id, ref_audio, response_format, metadata, False)
        data, sent = await self.post_json("/audio/speech", body, timeout, extra_headers)
        answer = decode(_decode_speech, data, "a speech answer", sent)
        try:
            audio = decode_base64(answer.audio_data)
        except ValueError as exc:
            from ..._exceptions import APIError

            raise APIError(f"the speech answer's audio_data is not base64: {exc}", request=sent) from None
        return Speech.from_audio(audio, response_format or "mp3")


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
        query = []
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
                raise InvalidRequestError(
                    f"audio.voices.list(): limit must be a whole number from 1 to 100, got {limit!r}"
                )
            query.append(f"limit={limit}")
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise InvalidRequestError(f"audio.voices.list(): offset must be a whole number >= 0, got {offset!r}")
            query.append(f"offset={offset}")
        if type is not None:
            if type not in ("all", "custom", "preset"):
                raise InvalidRequestError(
                    f"audio.voices.list(): type must be 'all', 'custom' or 'preset', got {type!r}"
                )
            query.append(f"type={type}")
        path = "/audio/voices" + ("?" + "&".join(query) if query else "")
        return decode(_decode_voices, await self.get_json(path, timeout), "a voice list")

    async def get(self, voice_id: str, *, timeout: TimeoutLike = None) -> Voice:
        """One voice, by id."""
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', 'audio.voices.get')}"
        return decode(_decode_voice, await self.get_json(path, timeout), "a voice")

    async def create(
        self,
        *,
        name: str | None = None,
        sample: FileLike | None = None,
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
            "sample_filename": sample_filename or (local.name if local.name != "file" else None),
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
        data, sent = await self.post_json("/audio/voices", body, timeout, extra_headers)
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
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', method)}"
        payload = {
            "name": name,
            "languages": languages,
            "gender": gender,
            "age": age,
            "tags": tags,
            "description": description,
        }
        body = build_body(method, payload, VoiceUpdateRequest)
        data, sent = await self._call("PATCH", path, body, timeout, extra_headers)
        return decode(_decode_voice, data, "a voice", sent)

    async def delete(self, voice_id: str, *, timeout: TimeoutLike = None) -> Voice:
        """Delete a custom voice; the answer is the voice that was deleted."""
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', 'audio.voices.delete')}"
        data, sent = await self._call("DELETE", path, None, timeout, None)
        return decode(_decode_voice, data, "a voice", sent)

    async def sample(self, voice_id: str, *, timeout: TimeoutLike = None) -> bytes:
        """The voice's sample recording (WAV bytes)."""
        path = f"/audio/voices/{path_segment(voice_id, 'voice_id', 'audio.voices.sample')}/sample"
        return await self.get_json(path, timeout)


class AsyncTranscriptions(AsyncResource):
    pass


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
    import os
    import re

    return os.path.exists(text) or re.fullmatch(r"[A-Za-z0-9+/=\s]{16,}", text) is None
