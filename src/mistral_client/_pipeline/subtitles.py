"""Transcription segments as subtitles: SubRip (``.srt``) and WebVTT (``.vtt``).

Pure text work on ``(start, end, text, speaker)`` segments, so a transcription from ``create``, from a
stream, or from a stream that broke half-way (``.partial``) exports the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Cue", "to_srt", "to_vtt"]


class Cue(Protocol):
    """What a subtitle is made of: a segment of a transcription."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def speaker_id(self) -> str | None: ...


_BLANK_LINES = re.compile(r"\n\s*\n+")


def _timestamp(seconds: float, separator: str) -> str:
    # Rounded to the millisecond once, so that 59.9996 s is 00:01:00.000, never 00:00:60.000.
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _lines(text: str) -> str:
    # A blank line ends a cue in both formats: the text of one segment must not contain one.
    return _BLANK_LINES.sub("\n", text.strip().replace("\r\n", "\n").replace("\r", "\n"))


def _cues(segments: Iterable[Cue]) -> list[tuple[float, float, str, str | None]]:
    cues = []
    for segment in segments:
        text = _lines(segment.text)
        if not text:
            continue
        start = max(0.0, float(segment.start))
        end = max(start, float(segment.end))
        cues.append((start, end, text, segment.speaker_id))
    return cues


def to_srt(segments: Iterable[Cue], *, speakers: bool = True) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm`` times; the speaker (``diarize``) as a ``[name]``
    prefix when ``speakers`` is true.  Empty segments are left out; no segment gives ``""``."""
    blocks = []
    for number, (start, end, text, speaker) in enumerate(_cues(segments), 1):
        if speakers and speaker:
            text = f"[{speaker}] {text}"
        blocks.append(f"{number}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n")
    return "\n".join(blocks)


def to_vtt(segments: Iterable[Cue], *, speakers: bool = True) -> str:
    """WebVTT text: the ``WEBVTT`` header, then cues with ``HH:MM:SS.mmm`` times; the speaker as a
    voice tag (``<v name>``) when ``speakers`` is true.  ``&``, ``<`` and ``>`` are escaped, as the
    format asks, so text such as ``a --> b`` cannot be read as a cue timing."""
    blocks = ["WEBVTT\n"]
    for start, end, text, speaker in _cues(segments):
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if speakers and speaker:
            name = speaker.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            text = f"<v {name}>{text}"
        blocks.append(f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n")
    return "\n".join(blocks)
