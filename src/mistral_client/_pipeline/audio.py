"""Audio streams' events -> their accumulated results: ``Transcription`` and ``Speech``.

Both grow one event at a time, so at any moment (the end, a cancel, an error) a result is exactly
what the stream delivered; errors raised mid-stream carry it as ``.partial``.  ``create()`` answers
are turned into the same types, so code reads a transcription the same way however it came.
"""

from __future__ import annotations

import binascii
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
from .subtitles import to_srt, to_vtt

if TYPE_CHECKING:
    from os import PathLike

__all__ = ["Base64Stream", "Speech", "Transcription"]


class Transcription:
    """A transcription: ``text``, ``language``, ``segments`` (start, end, speaker), ``usage``, and the
    segments as subtitles (``to_srt()``, ``to_vtt()``).

    From a stream, it grows with each event: ``text`` from the deltas, ``segments`` as each one is
    finished; the ``transcription.done`` event then gives the final text, segments and usage.
    ``time_to_first_token`` is the time to the first text, ``total_latency`` to the end.
    """

    __slots__ = (
        "_parts",
        "cancelled",
        "done",
        "event_count",
        "language",
        "model",
        "segments",
        "time_to_first_token",
        "total_latency",
        "usage",
    )

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.language: str | None = None
        self.model = ""
        self.segments: list[TranscriptionSegment] = []
        self.usage: AudioUsage | None = None
        self.done = False
        self.event_count = 0
        self.time_to_first_token: float | None = None
        self.total_latency: float | None = None
        self.cancelled = False

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

    def add(self, event: Any, latency: float | None = None) -> None:
        """One event of the stream (any other type is counted and otherwise ignored)."""
        self.event_count += 1
        kind = type(event)
        if kind is TranscriptionTextDelta:
            if event.text:
                self._parts.append(event.text)
                if self.time_to_first_token is None:
                    self.time_to_first_token = latency
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
            f"done={self.done}, cancelled={self.cancelled})"
        )


class Base64Stream:
    """Decodes base64 that arrives in pieces cut anywhere (a piece need not hold whole 4-character groups)."""

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry = ""

    def feed(self, text: str) -> bytes:
        """The bytes that the base64 so far completes; ``binascii.Error`` if it is not base64."""
        if not self._carry and not len(text) % 4 and "=" not in text[:-2]:
            return binascii.a2b_base64(text)  # the usual delta: whole groups, encoded on its own
        text = self._carry + "".join(text.split())
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


class Speech:
    """Generated speech: ``audio`` (the bytes of the file, in ``response_format``), ``usage``, and
    ``write_to(path_or_file)``.  From a stream, ``audio`` holds what arrived so far."""

    __slots__ = (
        "_base64",
        "_parts",
        "cancelled",
        "chunk_count",
        "done",
        "event_count",
        "keep_audio",
        "response_format",
        "size",
        "time_to_first_token",
        "total_latency",
        "usage",
    )

    def __init__(self, response_format: str | None = None, *, keep_audio: bool = True) -> None:
        self._parts: list[bytes] = []
        self._base64 = Base64Stream()
        self.response_format = response_format
        self.keep_audio = keep_audio
        self.size = 0
        self.usage: AudioUsage | None = None
        self.done = False
        self.event_count = 0
        self.chunk_count = 0
        self.time_to_first_token: float | None = None
        self.total_latency: float | None = None
        self.cancelled = False

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

    def decode(self, delta: SpeechAudioDelta) -> bytes:
        """The bytes of a delta, decoded once, as it arrives (the decoder calls this; ``add`` keeps them)."""
        audio = self._base64.feed(delta.audio_data)
        delta.__dict__["_audio"] = audio
        return audio

    def add(self, event: Any, latency: float | None = None) -> None:
        self.event_count += 1
        kind = type(event)
        if kind is SpeechAudioDelta:
            audio = event.__dict__.get("_audio")
            if audio is None:
                audio = self.decode(event)
            if audio:
                self.chunk_count += 1
                self.size += len(audio)
                if self.keep_audio:
                    self._parts.append(audio)
                if self.time_to_first_token is None:
                    self.time_to_first_token = latency
        elif kind is SpeechAudioDone:
            self.done = True
            self.usage = event.usage
            tail = self._base64.end()
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
            f"cancelled={self.cancelled})"
        )
