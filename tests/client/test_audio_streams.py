"""Transcription and speech streams through a real socket (the raw server): typed events, text,
audio decoded as it arrives, the partial result on every error, cancel, and bodies cut anywhere."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mistral_client import AsyncMistral, Mistral, Speech, StreamError, Transcription
from mistral_client.types import (
    TranscriptionDone,
    TranscriptionLanguage,
    TranscriptionSegmentEvent,
    TranscriptionTextDelta,
)
from tests.support.rawserver import RawConnection, RawServer

MODEL = "voxtral-mini-latest"


def named(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()


TRANSCRIPTION = [
    named("transcription.language", {"audio_language": "en"}),
    named("transcription.text.delta", {"text": "Hello "}),
    named("transcription.segment", {"text": "Hello", "start": 0.0, "end": 0.75, "speaker_id": "speaker_1"}),
    named("transcription.text.delta", {"text": "world."}),
    named("transcription.segment", {"text": "world.", "start": 0.75, "end": 1.5, "speaker_id": "speaker_2"}),
    named(
        "transcription.done",
        {
            "model": "voxtral-mini-2507",
            "text": "Hello world.",
            "language": "en",
            "segments": [
                {
                    "type": "transcription_segment",
                    "text": "Hello",
                    "start": 0.0,
                    "end": 0.75,
                    "speaker_id": "speaker_1",
                },
                {
                    "type": "transcription_segment",
                    "text": "world.",
                    "start": 0.75,
                    "end": 1.5,
                    "speaker_id": "speaker_2",
                },
            ],
            "usage": {"prompt_audio_seconds": 2, "prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
        },
    ),
]
AUDIO = bytes(range(256)) * 3  # every byte value, 768 bytes
SPEECH = [
    named("speech.audio.delta", {"audio_data": base64.b64encode(AUDIO[:100]).decode()}),
    named("speech.audio.delta", {"audio_data": base64.b64encode(AUDIO[100:101]).decode()}),
    named("speech.audio.delta", {"audio_data": base64.b64encode(AUDIO[101:]).decode()}),
    named("speech.audio.done", {"usage": {"prompt_tokens": 2, "total_tokens": 2}}),
]


def serve(events: list[bytes], *, end: bool = True, hold: threading.Event | None = None, pieces: Any = None) -> Any:
    def handler(conn: RawConnection) -> None:
        conn.send_head(extra="mistral-correlation-id: corr-19\r\n")
        body = b"".join(events)
        if pieces is not None:
            cuts = sorted({0, len(body), *(cut for cut in pieces if 0 < cut < len(body))})
            for start, stop in itertools.pairwise(cuts):
                conn.send_chunk(body[start:stop])
        else:
            for event in events:
                conn.send_chunk(event)
        if hold is not None:
            hold.wait(10)
            return
        if end:
            conn.end_body()
        else:
            conn.sock.close()

    return handler


def transcribe(kind: str, base_url: str, consume: str = "events", **kw: Any) -> tuple[Any, list[Any]]:
    kw.setdefault("model", MODEL)
    kw.setdefault("file_url", "https://example.com/a.wav")
    if kind == "sync":
        with Mistral(base_url=base_url, max_retries=0) as client, client.audio.transcriptions.stream(**kw) as stream:
            got = list(stream.text_stream) if consume == "text" else list(stream)
        return stream, got

    async def main() -> tuple[Any, list[Any]]:
        async with (
            AsyncMistral(base_url=base_url, max_retries=0) as client,
            client.audio.transcriptions.stream(**kw) as stream,
        ):
            got = [t async for t in stream.text_stream] if consume == "text" else [e async for e in stream]
        return stream, got

    return asyncio.run(main())


def speak(kind: str, base_url: str, target: Any = None, **kw: Any) -> tuple[Any, Any]:
    kw.setdefault("input", "Hello world.")
    if kind == "sync":
        with Mistral(base_url=base_url, max_retries=0) as client, client.audio.speech.stream(**kw) as stream:
            got = stream.write_to(target) if target is not None else list(stream.audio_stream)
        return stream, got

    async def main() -> tuple[Any, Any]:
        async with AsyncMistral(base_url=base_url, max_retries=0) as client, client.audio.speech.stream(**kw) as stream:
            if target is not None:
                got: Any = await stream.write_to(target)
            else:
                got = [piece async for piece in stream.audio_stream]
        return stream, got

    return asyncio.run(main())


def test_a_transcription_stream_gives_typed_events_and_the_result(kind: str) -> None:
    with RawServer(serve(TRANSCRIPTION)) as raw:
        stream, events = transcribe(kind, raw.base_url, language="en", diarize=True)
        sent = raw.connections[0].request
    assert [type(event) for event in events] == [
        TranscriptionLanguage,
        TranscriptionTextDelta,
        TranscriptionSegmentEvent,
        TranscriptionTextDelta,
        TranscriptionSegmentEvent,
        TranscriptionDone,
    ]
    result = stream.result
    assert isinstance(result, Transcription)
    assert result.text == "Hello world." and result.language == "en" and result.model == "voxtral-mini-2507"
    assert [(s.text, s.start, s.end, s.speaker_id) for s in result.segments] == [
        ("Hello", 0.0, 0.75, "speaker_1"),
        ("world.", 0.75, 1.5, "speaker_2"),
    ]
    assert result.usage is not None and result.usage.prompt_audio_seconds == 2
    assert result.done and not result.cancelled and result.event_count == 6
    assert result.total_latency >= result.time_to_first_token > 0
    assert stream.request_id == "corr-19"
    assert result.to_srt() == (
        "1\n00:00:00,000 --> 00:00:00,750\n[speaker_1] Hello\n\n2\n00:00:00,750 --> 00:00:01,500\n[speaker_2] world.\n"
    )
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    for field, value in (("model", MODEL), ("stream", "true"), ("diarize", "true"), ("language", "en")):
        assert f'name="{field}"\r\n\r\n{value}\r\n'.encode() in sent.body


def test_text_stream_gives_only_the_text(kind: str) -> None:
    with RawServer(serve(TRANSCRIPTION)) as raw:
        stream, texts = transcribe(kind, raw.base_url, consume="text")
    assert texts == ["Hello ", "world."] and stream.result.text == "Hello world."


def test_an_unknown_event_is_kept_not_an_error(kind: str) -> None:
    events = [TRANSCRIPTION[0], named("transcription.future", {"x": 1}), *TRANSCRIPTION[1:]]
    with RawServer(serve(events)) as raw:
        stream, got = transcribe(kind, raw.base_url)
    assert [event.type for event in got][1] == "transcription.future" and stream.result.text == "Hello world."


def test_a_cut_transcription_raises_with_what_arrived(kind: str) -> None:
    with RawServer(serve(TRANSCRIPTION[:3], end=False)) as raw, pytest.raises(StreamError) as caught:
        transcribe(kind, raw.base_url)
    partial = caught.value.partial
    assert isinstance(partial, Transcription) and partial.text == "Hello " and len(partial.segments) == 1
    assert partial.language == "en" and not partial.done
    assert "3 events (6 characters of text) arrived before it" in str(caught.value)
    assert partial.to_srt() == "1\n00:00:00,000 --> 00:00:00,750\n[speaker_1] Hello\n"


def test_an_error_event_raises_with_what_arrived(kind: str) -> None:
    error = b'event: error\ndata: {"message":"audio decoding failed","type":"invalid_request_error","code":"3310"}\n\n'
    with RawServer(serve([*TRANSCRIPTION[:2], error])) as raw, pytest.raises(StreamError) as caught:
        transcribe(kind, raw.base_url)
    assert "audio decoding failed" in str(caught.value) and caught.value.code == "3310"
    assert caught.value.partial.text == "Hello "


def test_cancel_stops_the_stream_and_keeps_the_result() -> None:
    hold = threading.Event()
    with RawServer(serve(TRANSCRIPTION[:2], hold=hold)) as raw:
        with Mistral(base_url=raw.base_url) as client:
            with client.audio.transcriptions.stream(model=MODEL, file_id="f-1") as stream:
                for event in stream:
                    if isinstance(event, TranscriptionTextDelta):
                        threading.Thread(target=stream.cancel).start()  # the next read blocks: the server holds
            assert raw.connections[0].wait_client_close(5)
        hold.set()
    assert stream.cancelled and stream.result.cancelled and stream.result.text == "Hello "


async def test_an_async_transcription_cancelled_from_the_loop() -> None:
    hold = threading.Event()
    with RawServer(serve(TRANSCRIPTION[:2], hold=hold)) as raw:
        async with (
            AsyncMistral(base_url=raw.base_url) as client,
            client.audio.transcriptions.stream(model=MODEL, file_id="f-1") as stream,
        ):
            async for event in stream:
                if isinstance(event, TranscriptionTextDelta):
                    asyncio.get_running_loop().call_soon(stream.cancel)
        hold.set()
    assert stream.result.cancelled and stream.result.text == "Hello " and stream.result.event_count == 2


def test_speech_audio_is_decoded_as_it_arrives(kind: str) -> None:
    with RawServer(serve(SPEECH)) as raw:
        stream, pieces = speak(kind, raw.base_url, response_format="wav")
        sent = json.loads(raw.connections[0].request.body)
    assert pieces == [AUDIO[:100], AUDIO[100:101], AUDIO[101:]]
    result = stream.result
    assert isinstance(result, Speech) and result.audio == AUDIO and result.size == len(AUDIO)
    assert result.response_format == "wav" and result.done and result.usage.total_tokens == 2
    assert sent == {"input": "Hello world.", "response_format": "wav", "stream": True}


def test_speech_write_to_a_path_and_a_file(kind: str, tmp_path: Path) -> None:
    with RawServer(serve(SPEECH)) as raw:
        _, written = speak(kind, raw.base_url, tmp_path / "out.wav")
        with open(tmp_path / "copy.wav", "wb") as file:
            stream, written_too = speak(kind, raw.base_url, file, keep_audio=False)
    assert written == written_too == len(AUDIO)
    assert (tmp_path / "out.wav").read_bytes() == (tmp_path / "copy.wav").read_bytes() == AUDIO
    assert stream.result.audio == b"" and stream.result.size == len(AUDIO)  # keep_audio=False: only written


def test_speech_cut_mid_stream_keeps_the_audio_so_far_and_no_half_file(kind: str, tmp_path: Path) -> None:
    target = tmp_path / "out.mp3"
    with RawServer(serve(SPEECH[:2], end=False)) as raw, pytest.raises(StreamError) as caught:
        speak(kind, raw.base_url, target)
    assert caught.value.partial.audio == AUDIO[:101] and not caught.value.partial.done
    assert not target.exists()  # a path is written whole or not at all


def test_a_delta_that_is_not_base64_fails_the_stream_there(kind: str) -> None:
    bad = named("speech.audio.delta", {"audio_data": "not base64!"})
    with RawServer(serve([SPEECH[0], bad, *SPEECH[1:]])) as raw, pytest.raises(StreamError) as caught:
        speak(kind, raw.base_url)
    assert "not base64" in str(caught.value) and caught.value.partial.audio == AUDIO[:100]


def test_base64_cut_across_deltas_is_joined(kind: str) -> None:
    text = base64.b64encode(AUDIO).decode()
    events = [named("speech.audio.delta", {"audio_data": text[i : i + 7]}) for i in range(0, len(text), 7)]
    with RawServer(serve([*events, SPEECH[-1]])) as raw:
        stream, pieces = speak(kind, raw.base_url)
    assert b"".join(pieces) == AUDIO == stream.result.audio


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=12), sync=st.booleans())
def test_each_stream_type_cut_anywhere_on_the_wire(cuts: list[int], sync: bool) -> None:
    kind = "sync" if sync else "async"
    with RawServer(serve(TRANSCRIPTION, pieces=cuts)) as raw:
        stream, _ = transcribe(kind, raw.base_url)
    assert stream.result.text == "Hello world." and len(stream.result.segments) == 2
    with RawServer(serve(SPEECH, pieces=cuts)) as raw:
        speech, _ = speak(kind, raw.base_url)
    assert speech.result.audio == AUDIO and speech.result.done


def test_a_tolerant_reader_of_the_events(kind: str) -> None:
    # null where a value belongs, fields this client does not know, a segment with no speaker: all read.
    events = [
        named("transcription.language", {"audio_language": None, "new_field": 1}),
        named("transcription.text.delta", {"text": "Hi", "logprob": -0.1}),
        named("transcription.segment", {"text": "Hi", "start": 0, "end": None}),
        named("transcription.done", {"model": None, "text": "Hi", "language": None, "segments": None, "usage": None}),
    ]
    with RawServer(serve(events)) as raw:
        stream, _ = transcribe(kind, raw.base_url)
    result = stream.result
    assert result.text == "Hi" and result.language is None and result.usage is None and result.done
    assert [(s.text, s.start, s.end, s.speaker_id) for s in result.segments] == [("Hi", 0.0, 0.0, None)]


def test_a_speech_stream_cancelled_keeps_the_audio_so_far() -> None:
    hold = threading.Event()
    with RawServer(serve(SPEECH[:1], hold=hold)) as raw:
        with Mistral(base_url=raw.base_url) as client, client.audio.speech.stream(input="Hi") as stream:
            for piece in stream.audio_stream:
                assert piece == AUDIO[:100]
                threading.Thread(target=stream.cancel).start()  # the next read blocks: the server holds
            assert raw.connections[0].wait_client_close(5)
        hold.set()
    assert stream.cancelled and stream.result.cancelled and stream.result.audio == AUDIO[:100]
