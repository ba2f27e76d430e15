"""Audio streams' events -> their accumulated results: ``Transcription`` and ``Speech``.

Both grow one event at a time, so at any moment (the end, a cancel, an error) a result is exactly
what the stream delivered; errors raised mid-stream carry it as ``.partial``.  ``create()`` answers
are turned into the same types, so code reads a transcription the same way however it came.
"""

from __future__ import annotations

import binascii
import re
from typing import IO, TYPE_CHECKING, Any

from .._wire.audio import (
    AudioUsage,
    SpeechAudioDelta,
    SpeechAudioDone,
    TranscriptionDone,
    TranscriptionLanguage,
    TranscriptionResponse,
    TranscriptionSegment,
    TranscriptionSegmentEvent,
    TranscriptionTextDelta,
)
from .._wire.events import StreamEvent
from .decoding import excerpt
from .events import EventDecoder, EventResult
from .subtitles import to_srt, to_vtt

if TYPE_CHECKING:
    from os import PathLike

_WHOLE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?").fullmatch
_CHARS = re.compile(r"[A-Za-z0-9+/=]*").fullmatch

__all__ = ["Base64Stream", "Speech", "SpeechDecoder", "Transcription"]


class Transcription(EventResult):
    """A transcription: ``text``, ``language``, ``segments`` (start, end, speaker), ``usage``, and the
    segments as subtitles (``to_srt()``, ``to_vtt()``).

    From a stream, it grows with each event: ``text`` from the deltas, ``segments`` as each one is
    finished; the ``transcription.done`` event then gives the final text, segments and usage.
    ``time_to_first_token`` is the time to the first text, ``total_latency`` to the end.
    """

    def __init__(self, *, keep_events: bool = True) -> None:
        super().__init__(keep_events=keep_events)
        self._parts: list[str] = []
        self.language: str | None = None
        self.model = ""
        self.segments: list[TranscriptionSegment] = []
        self.usage: AudioUsage | None = None
        self.done = False
        self.time_to_first_token: float | None = None

    @classmethod
    def from_response(cls, response: TranscriptionResponse) -> Transcription:
        result = cls()
        result._parts = [response.text] if response.text else []
        result.language = response.language
        result.model = response.model
        result.segments = list(response.segments)
        result.usage = response.usage
        result.done = True
        return result

    @property
    def text(self) -> str:
        """The whole text so far."""
        parts = self._parts
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def apply(self, event: Any) -> None:
        """One event of the stream (an unknown type is kept in ``events`` and otherwise ignored)."""
        kind = type(event)
        if kind is TranscriptionTextDelta:
            if event.text:
                self._parts.append(event.text)
                if self.time_to_first_token is None:
                    self.time_to_first_token = event.total_latency
        elif kind is TranscriptionSegmentEvent:
            self.segments.append(event.to_segment())
        elif kind is TranscriptionLanguage:
            self.language = event.audio_language or self.language
        elif kind is TranscriptionDone:
            self.done = True
            if event.text or not self._parts:
                self._parts = [event.text] if event.text else []
            if event.segments:
                self.segments = list(event.segments)
            self.language = event.language or self.language
            self.model = event.model or self.model
            self.usage = event.usage

    def to_srt(self, *, speakers: bool = True) -> str:
        """The segments as SubRip (``.srt``) subtitles (``""`` without segments)."""
        return to_srt(self.segments, speakers=speakers)

    def to_vtt(self, *, speakers: bool = True) -> str:
        """The segments as WebVTT (``.vtt``) subtitles."""
        return to_vtt(self.segments, speakers=speakers)

    def __repr__(self) -> str:
        text = self.text
        shown = text if len(text) <= 60 else text[:57] + "..."
        return (
            f"Transcription(text={shown!r}, language={self.language!r}, segments={len(self.segments)}, "
            f"done={self.done}, events={self.event_count}, cancelled={self.cancelled})"
        )


class Base64Stream:
    """Decodes base64 that arrives in pieces cut anywhere (a piece need not hold whole 4-character groups)."""

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry = ""

    def feed(self, text: str) -> bytes:
        """The bytes that the base64 so far completes; ``binascii.Error`` if it is not base64."""
        if not self._carry and _WHOLE(text):
            return binascii.a2b_base64(text)  # the usual delta: whole groups, encoded on its own
        text = self._carry + "".join(text.split())
        if not _CHARS(text):  # binascii would skip the stray characters and decode the rest wrongly
            raise binascii.Error("a character that is not base64")
        out: list[bytes] = []
        # Deltas encoded one by one carry padding inside the joined text, where decoding would stop.
        while (pad := text.find("=")) >= 0:
            end = pad
            while end < len(text) and text[end] == "=":
                end += 1
            if end % 4 and end == len(text):
                self._carry = text  # the rest of the padding may be in the next piece
                return b"".join(out)
            out.append(binascii.a2b_base64(text[:end] + "=" * (-end % 4)))
            text = text[end:]
        whole = len(text) - len(text) % 4
        self._carry = text[whole:]
        out.append(binascii.a2b_base64(text[:whole]))
        return b"".join(out)

    def end(self) -> bytes:
        """The last bytes: a final group that came without its padding."""
        carry, self._carry = self._carry, ""
        if not carry.strip("="):
            return b""
        return binascii.a2b_base64(carry + "=" * (-len(carry) % 4))


class Speech(EventResult):
    """Generated speech: ``audio`` (the bytes of the file, in ``response_format``), ``usage``, and
    ``write_to(path_or_file)``.  From a stream, ``audio`` holds what arrived so far (nothing when
    the stream was opened with ``keep_audio=False``, for audio written elsewhere as it arrives)."""

    def __init__(
        self, response_format: str | None = None, *, keep_audio: bool = True, keep_events: bool = False
    ) -> None:
        super().__init__(keep_events=keep_events)
        self._parts: list[bytes] = []
        self._base64 = Base64Stream()
        self._tail = b""  # the last bytes, when the base64 ended without its padding
        self.response_format = response_format
        self.keep_audio = keep_audio
        self.size = 0
        self.usage: AudioUsage | None = None
        self.done = False
        self.chunk_count = 0
        self.time_to_first_token: float | None = None

    @classmethod
    def from_audio(cls, audio: bytes, response_format: str | None) -> Speech:
        result = cls(response_format)
        result._parts = [audio]
        result.size = len(audio)
        result.done = True
        return result

    @property
    def audio(self) -> bytes:
        """The audio bytes so far (``b""`` when the stream was told not to keep them)."""
        parts = self._parts
        if len(parts) > 1:
            parts[:] = [b"".join(parts)]
        return parts[0] if parts else b""

    @property
    def text(self) -> str:
        return ""

    def apply(self, event: Any) -> None:
        kind = type(event)
        if kind is SpeechAudioDelta:
            audio = event.__dict__.get("_audio")
            if audio is None:  # not through ``SpeechDecoder``
                audio = event.__dict__["_audio"] = self._base64.feed(event.audio_data)
            if audio:
                self.chunk_count += 1
                self.size += len(audio)
                if self.keep_audio:
                    self._parts.append(audio)
                if self.time_to_first_token is None:
                    self.time_to_first_token = event.total_latency
        elif kind is SpeechAudioDone:
            self.done = True
            self.usage = event.usage
            tail = self._tail = self._tail or self._base64.end()
            if tail:
                self.size += len(tail)
                if self.keep_audio:
                    self._parts.append(tail)

    def write_to(self, target: str | PathLike[str] | IO[bytes]) -> int:
        """Write the audio to a path or a binary file object; returns the number of bytes written."""
        audio = self.audio
        if hasattr(target, "write"):
            target.write(audio)
        else:
            with open(target, "wb") as file:
                file.write(audio)
        return len(audio)

    def __repr__(self) -> str:
        return (
            f"Speech(response_format={self.response_format!r}, size={self.size}, done={self.done}, "
            f"events={self.event_count}, cancelled={self.cancelled})"
        )


class SpeechDecoder(EventDecoder[Speech]):
    """The speech stream's decoder: each audio delta's base64 is decoded as the delta arrives, so
    a delta that is no base64 fails the stream there (``.partial`` holds the audio before it)."""

    def feed(self, data: bytes) -> list[StreamEvent]:
        out = super().feed(data)
        base64 = self.result._base64
        for index, event in enumerate(out):
            kind = type(event)
            try:
                if kind is SpeechAudioDelta:
                    event.__dict__["_audio"] = base64.feed(event.audio_data)  # type: ignore[attr-defined]
                elif kind is SpeechAudioDone:
                    self.result._tail = base64.end()
            except (binascii.Error, ValueError) as exc:
                self._returned -= len(out) - index
                self.done, self._last_at = False, 0
                shown: str = getattr(event, "audio_data", "")
                self._fail(f"the audio is not base64 ({exc}): {excerpt(shown.encode())}")
                return out[:index]
        return out
