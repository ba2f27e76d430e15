"""Audio through both clients against the local server: real audio in, real audio out."""

from __future__ import annotations

import asyncio
import io
import wave
from pathlib import Path
from typing import Any

from mistral_client import AsyncMistral, Mistral, Speech, Transcription
from mistral_client.server import LocalServer
from mistral_client.server._media import tone, wav_bytes
from mistral_client.types import TranscriptionDone, TranscriptionSegmentEvent, TranscriptionTextDelta

MODEL = "voxtral-mini-latest"
SEGMENTS: dict[str, Any] = {"model": MODEL, "timestamp_granularities": ["segment"]}
SAY = {"input": "Hello there, this is a test.", "response_format": "wav"}
KEY: dict[str, str] = {}  # the local server takes an upload from a program without a key


def use(kind: str, base_url: str, work: Any) -> Any:
    """``work(client)`` on the sync client, or awaited on the async one."""
    if kind == "sync":
        with Mistral(base_url=base_url, **KEY) as client:
            return work(client)

    async def main() -> Any:
        async with AsyncMistral(base_url=base_url, **KEY) as client:
            return await work(client)

    return asyncio.run(main())


def test_transcribe_a_wav_file(kind: str, server: LocalServer, tmp_path: Path) -> None:
    path = tmp_path / "talk.wav"
    path.write_bytes(wav_bytes(tone(2.5, seed="talk")))

    def work(client: Any) -> Any:
        return client.audio.transcriptions.create(
            path, model=MODEL, timestamp_granularities=["segment"], diarize=True, language="en"
        )

    result = use(kind, server.base_url, work)
    assert isinstance(result, Transcription) and result.text and result.language == "en"
    assert result.segments and result.segments[-1].end == 2.5 and result.segments[0].speaker_id
    assert result.usage is not None and result.usage.prompt_audio_seconds == 3  # 2.5 s, whole seconds
    srt = result.to_srt()
    assert srt.startswith("1\n00:00:00,000 --> ") and result.segments[0].text in srt


def test_stream_a_transcription(kind: str, server: LocalServer) -> None:
    audio = wav_bytes(tone(2.0, seed="stream"))
    if kind == "sync":
        with (
            Mistral(base_url=server.base_url, **KEY) as client,
            client.audio.transcriptions.stream(io.BytesIO(audio), **SEGMENTS) as stream,
        ):
            events = list(stream)
    else:

        async def main() -> tuple[Any, list[Any]]:
            async with (
                AsyncMistral(base_url=server.base_url, **KEY) as client,
                client.audio.transcriptions.stream(io.BytesIO(audio), **SEGMENTS) as stream,
            ):
                return stream, [event async for event in stream]

        stream, events = asyncio.run(main())
    deltas = [event.text for event in events if isinstance(event, TranscriptionTextDelta)]
    assert len(deltas) > 1 and isinstance(events[-1], TranscriptionDone)
    assert any(isinstance(event, TranscriptionSegmentEvent) for event in events)
    result = stream.result
    assert result.text == "".join(deltas) == events[-1].text and result.done and stream.request_id


def test_speech_is_a_playable_file(kind: str, server: LocalServer, tmp_path: Path) -> None:
    def work(client: Any) -> Any:
        return client.audio.speech.create(input="Hello there, this is a test.", response_format="wav")

    speech = use(kind, server.base_url, work)
    assert isinstance(speech, Speech)
    with wave.open(io.BytesIO(speech.audio)) as played:
        assert played.getnframes() > 0
    target = tmp_path / "stream.wav"
    if kind == "sync":
        with Mistral(base_url=server.base_url) as client, client.audio.speech.stream(**SAY) as stream:
            written = stream.write_to(target)
    else:

        async def main() -> int:
            async with AsyncMistral(base_url=server.base_url) as client, client.audio.speech.stream(**SAY) as s:
                return await s.write_to(target)

        written = asyncio.run(main())
    assert written == target.stat().st_size > 44
    with wave.open(str(target)) as played:
        assert played.getnframes() > 0


def test_voices_round_trip(kind: str, server: LocalServer) -> None:
    sample = wav_bytes(tone(1.0, seed="ann"))
    steps = [
        ("create", (), {"name": "Ann", "sample": sample, "sample_filename": "ann.wav", "languages": ["en"]}),
        ("list", (), {"type": "custom", "limit": 100}),
        ("get", ("ID",), {}),
        ("update", ("ID",), {"tags": ["calm"]}),
        ("sample", ("ID",), {}),
        ("delete", ("ID",), {}),
    ]

    def args(values: tuple[str, ...], made: Any) -> tuple[Any, ...]:
        return tuple(made.id if value == "ID" else value for value in values)

    if kind == "sync":
        with Mistral(base_url=server.base_url) as client:
            out: list[Any] = []
            for name, values, kw in steps:
                out.append(getattr(client.audio.voices, name)(*args(values, out[0] if out else None), **kw))
    else:

        async def main() -> list[Any]:
            async with AsyncMistral(base_url=server.base_url) as client:
                done: list[Any] = []
                for name, values, kw in steps:
                    call = getattr(client.audio.voices, name)(*args(values, done[0] if done else None), **kw)
                    done.append(await call)
                return done

        out = asyncio.run(main())
    made, listed, got, changed, recording, gone = out
    assert made.name == "Ann" and made.id in [voice.id for voice in listed.items]
    assert got.id == made.id and changed.tags == ["calm"] and gone.id == made.id
    assert recording[:4] == b"RIFF"
