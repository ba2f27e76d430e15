"""The official ``mistralai`` SDK against the local server's audio routes: every answer and stream parses.

The SDK comes with the ``bench`` extra: without it these tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import asyncio
import base64
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from mistral_client.server import LocalServer
from mistral_client.server._media import flac_bytes, mp3_bytes, ogg_flac_bytes, tone, wav_bytes
from tests.support.shared import need

KEY = "sk-sdk-audio"
MODEL = "voxtral-mini-latest"


@pytest.fixture(scope="module")
def local() -> Iterator[LocalServer]:
    with LocalServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def sdk(local: LocalServer) -> Iterator[Any]:
    with need("mistralai.client").Mistral(api_key=KEY, server_url=local.base_url) as client:
        yield client


@pytest.mark.parametrize(
    ("name", "writer"), [("a.wav", wav_bytes), ("a.flac", flac_bytes), ("a.ogg", ogg_flac_bytes), ("a.mp3", mp3_bytes)]
)
def test_transcription_complete(sdk: Any, name: str, writer: Any) -> None:
    answer = sdk.audio.transcriptions.complete(
        model=MODEL,
        file={"file_name": name, "content": writer(tone(3.0))},
        timestamp_granularities=["segment"],
        diarize=True,
        context_bias=["Mistral"],
        language="en",
        temperature=0.2,
    )
    assert answer.model == MODEL and answer.text.startswith("Mistral ") and answer.language == "en"
    assert answer.usage.prompt_audio_seconds in (3, 4) and answer.segments[0].speaker_id == "speaker_1"
    assert answer.segments[-1].end == pytest.approx(3.0, abs=0.15)


def test_transcription_stream(sdk: Any) -> None:
    file = {"file_name": "a.wav", "content": wav_bytes(tone(5.0))}
    whole = sdk.audio.transcriptions.complete(model=MODEL, file=file, timestamp_granularities=["segment"])
    with sdk.audio.transcriptions.stream(model=MODEL, file=file, timestamp_granularities=["segment"]) as events:
        received = list(events)
    names = [event.event for event in received]
    assert names[0] == "transcription.language" and names[-1] == "transcription.done"
    assert "transcription.segment" in names
    text = "".join(event.data.text for event in received if event.event == "transcription.text.delta")
    done = received[-1].data
    assert text == done.text == whole.text and done.usage == whole.usage
    assert [s.text for s in done.segments] == [s.text for s in whole.segments]


def test_transcription_stream_async(local: LocalServer) -> None:
    client_class = need("mistralai.client").Mistral

    async def main() -> list[str]:
        async with client_class(api_key=KEY, server_url=local.base_url) as client:
            file = {"file_name": "a.flac", "content": flac_bytes(tone(2.0))}
            events = await client.audio.transcriptions.stream_async(model=MODEL, file=file)
            async with events as stream:
                return [event.event async for event in stream]

    names = asyncio.run(main())
    assert names[0] == "transcription.language" and names[-1] == "transcription.done"


def test_transcription_errors_are_the_sdks_errors(sdk: Any) -> None:
    errors = need("mistralai.client.errors")
    with pytest.raises(errors.SDKError) as unreadable:
        sdk.audio.transcriptions.complete(model=MODEL, file={"file_name": "a.mp3", "content": b"\xff\xfb" + bytes(99)})
    assert unreadable.value.status_code == 400 and "MP3" in unreadable.value.body
    with pytest.raises(errors.SDKError) as wrong_model:
        sdk.audio.transcriptions.complete(model="mistral-small-latest", file_url="https://example.com/a.mp3")
    assert wrong_model.value.status_code == 400 and "Invalid model" in wrong_model.value.body


@pytest.mark.parametrize("response_format", ["mp3", "wav", "flac", "pcm", "opus"])
def test_speech_complete_and_stream(sdk: Any, response_format: str) -> None:
    whole = sdk.audio.speech.complete(input="Hello from the local server", response_format=response_format)
    audio = base64.b64decode(whole.audio_data)
    with sdk.audio.speech.complete(
        input="Hello from the local server", response_format=response_format, stream=True
    ) as events:
        received = list(events)
    assert received[-1].event == "speech.audio.done" and received[-1].data.usage.total_tokens > 0
    assert b"".join(base64.b64decode(event.data.audio_data) for event in received[:-1]) == audio


def test_voices(sdk: Any) -> None:
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks offset paging deprecated
    presets = sdk.audio.voices.list()
    assert presets.total >= 3 and all(voice.type == "preset" for voice in presets.items)
    sample = base64.b64encode(wav_bytes(tone(1.0))).decode()
    voice = sdk.audio.voices.create(name="Mine", sample_audio=sample, gender="female")
    assert voice.type == "custom" and voice.trimmed_seconds == 1.0
    assert sdk.audio.voices.get(voice_id=voice.id).name == "Mine"
    assert sdk.audio.voices.update(voice_id=voice.id, name="Renamed").name == "Renamed"
    spoken = sdk.audio.speech.complete(input="Hi", voice_id=voice.id, response_format="wav")
    assert base64.b64decode(spoken.audio_data)[:4] == b"RIFF"
    assert sdk.audio.voices.delete(voice_id=voice.id).id == voice.id
    with pytest.raises(need("mistralai.client.errors").SDKError) as gone:
        sdk.audio.voices.get(voice_id=voice.id)
    assert gone.value.status_code == 404
