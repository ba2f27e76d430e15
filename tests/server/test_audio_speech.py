"""The local server's speech (``POST /v1/audio/speech``) and voices (``/v1/audio/voices``).

Speech is a real audio file of the requested format, whose length follows the text: the tests
open it with the standard library's ``wave`` and with mutagen, and FLAC with the format's own
checks. The speech response's schemas are inline in the spec's path (not components): they are
read from there.
"""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import Iterator
from typing import Any

import httpx2
import jsonschema
import pytest

from mistral_client.server import LocalServer
from mistral_client.server._media import tone, wav_bytes
from tests.server.test_audio import named_events
from tests.support.openapi import conforms, missing_reason, spec, spec_path
from tests.support.shared import defer, in_ci

PATH = "/v1/audio/speech"
VOICES = "/v1/audio/voices"


@pytest.fixture
def http(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def speech_conforms(media_type: str, document: Any) -> None:
    """``document`` validates against the speech path's inline schema for ``media_type``."""
    if not in_ci() and not spec_path().is_file():
        defer(missing_reason())
        return
    schema = spec()["paths"][PATH]["post"]["responses"]["200"]["content"][media_type]["schema"]
    jsonschema.Draft202012Validator(schema).validate(document)


def audio_of(response: httpx2.Response) -> bytes:
    assert response.status_code == 200, response.text
    speech_conforms("application/json", response.json())
    return base64.b64decode(response.json()["audio_data"])


def test_wav_is_a_real_file_whose_length_follows_the_text(http: httpx2.Client) -> None:
    short = audio_of(http.post(PATH, json={"input": "Hello there", "response_format": "wav"}))
    long = audio_of(http.post(PATH, json={"input": "Hello there " * 10, "response_format": "wav"}))
    with wave.open(io.BytesIO(short)) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getframerate()) == (1, 2, 24_000)
        assert file.getnframes() / 24_000 == pytest.approx(0.2 + 0.35 * 2)
    with wave.open(io.BytesIO(long)) as file:
        assert file.getnframes() / 24_000 == pytest.approx(0.2 + 0.35 * 20)
    assert audio_of(http.post(PATH, json={"input": "Hello there", "response_format": "wav"})) == short


@pytest.mark.parametrize(("response_format", "kind"), [("mp3", "MP3"), ("flac", "FLAC"), ("wav", "WAVE")])
def test_each_format_opens_as_itself(http: httpx2.Client, response_format: str, kind: str) -> None:
    import mutagen

    data = audio_of(http.post(PATH, json={"input": "one two three four", "response_format": response_format}))
    file = mutagen.File(io.BytesIO(data))
    assert type(file).__name__ == kind
    assert file.info.length == pytest.approx(0.2 + 0.35 * 4, abs=0.1)


def test_mp3_is_the_default_and_pcm_is_raw_samples(http: httpx2.Client) -> None:
    default = audio_of(http.post(PATH, json={"input": "Hello"}))
    assert default[:3] == b"ID3" or default[0] == 0xFF  # an MP3 frame or its tag
    pcm = audio_of(http.post(PATH, json={"input": "Hello", "response_format": "pcm"}))
    wav = audio_of(http.post(PATH, json={"input": "Hello", "response_format": "wav"}))
    assert len(pcm) == 2 * round(24_000 * 0.55) and wav.endswith(pcm)


@pytest.mark.parametrize("response_format", ["wav", "mp3"])
def test_the_stream_sends_base64_deltas_then_done(http: httpx2.Client, response_format: str) -> None:
    text = "a longer sentence to speak " * 6
    whole = audio_of(http.post(PATH, json={"input": text, "response_format": response_format}))
    response = http.post(PATH, json={"input": text, "response_format": response_format, "stream": True})
    assert response.headers["content-type"] == "text/event-stream"
    events = named_events(response.content)
    for name, data in events:
        assert data["type"] == name
        speech_conforms("text/event-stream", {"event": name, "data": data})
    names = [name for name, _ in events]
    assert names[-1] == "speech.audio.done" and set(names[:-1]) == {"speech.audio.delta"} and len(names) > 2
    streamed = b"".join(base64.b64decode(data["audio_data"]) for name, data in events[:-1])
    assert streamed == whole
    usage = events[-1][1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_stream_faults(http: httpx2.Client) -> None:
    body = {"input": "word " * 60, "response_format": "wav", "stream": True}
    events = named_events(http.post(PATH, json=body, headers={"x-mock-error-event-after": "2"}).content)
    assert [name for name, _ in events] == ["speech.audio.delta", "speech.audio.delta", "error"]
    with pytest.raises(httpx2.RemoteProtocolError):
        http.post(PATH, json=body, headers={"x-mock-disconnect-after": "1"})
    failed = http.post(PATH, json=body, headers={"x-mock-status": "503"})
    assert failed.status_code == 503 and failed.json()["type"] == "service_unavailable"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({}, 422, "input"),
        ({"input": 3}, 422, "input"),
        ({"input": "hi", "response_format": "ogg"}, 422, "response_format"),
        ({"input": "hi", "response_format": "opus"}, 400, "opus"),
        ({"input": "hi", "voice_id": "no-such-voice"}, 404, "no-such-voice"),
        ({"input": "hi", "ref_audio": "bm90IGF1ZGlv"}, 400, "ref_audio"),
    ],
)
def test_bad_requests(http: httpx2.Client, body: dict[str, Any], status: int, says: str) -> None:
    response = http.post(PATH, json=body)
    assert response.status_code == status, response.text
    assert says in json.dumps(response.json())
    if status == 422:
        conforms("HTTPValidationError", response.json())


def test_a_reference_audio_or_a_voice_changes_the_sound(http: httpx2.Client) -> None:
    plain = audio_of(http.post(PATH, json={"input": "Hello", "response_format": "wav"}))
    reference = base64.b64encode(wav_bytes(tone(1.0, seed="me"))).decode()
    cloned = audio_of(http.post(PATH, json={"input": "Hello", "response_format": "wav", "ref_audio": reference}))
    preset = http.get(VOICES).json()["items"][0]["id"]
    voiced = audio_of(http.post(PATH, json={"input": "Hello", "response_format": "wav", "voice_id": preset}))
    assert len({plain, cloned, voiced}) == 3 and len(plain) == len(cloned) == len(voiced)


# --- Voices ---------------------------------------------------------------------------------------


def test_voices_crud_and_sample(http: httpx2.Client) -> None:
    listed = http.get(VOICES).json()
    conforms("VoiceListResponse", listed)
    presets = listed["total"]
    sample = wav_bytes(tone(1.5, seed="mine"))
    created = http.post(
        VOICES, json={"name": "Mine", "sample_audio": base64.b64encode(sample).decode(), "languages": ["en"]}
    )
    assert created.status_code == 200, created.text
    voice = created.json()
    conforms("VoiceResponse", voice)
    assert voice["trimmed_seconds"] == 1.5 and voice["type"] == "custom" and voice["languages"] == ["en"]
    assert http.get(f"{VOICES}/{voice['id']}").json() == voice
    custom = http.get(VOICES, params={"type": "custom"}).json()
    assert [v["id"] for v in custom["items"]] == [voice["id"]] and custom["total"] == 1
    assert http.get(VOICES).json()["total"] == presets + 1
    renamed = http.patch(f"{VOICES}/{voice['id']}", json={"name": "Renamed", "age": 40}).json()
    conforms("VoiceResponse", renamed)
    assert (renamed["name"], renamed["age"], renamed["languages"]) == ("Renamed", 40, ["en"])
    got = http.get(f"{VOICES}/{voice['id']}/sample")
    assert got.status_code == 200 and got.headers["content-type"] == "audio/wav" and got.content == sample
    assert http.delete(f"{VOICES}/{voice['id']}").json()["name"] == "Renamed"
    assert http.get(f"{VOICES}/{voice['id']}").status_code == 404
    assert http.delete(f"{VOICES}/{voice['id']}").status_code == 404


def test_presets_have_a_sample_and_cannot_be_deleted(http: httpx2.Client) -> None:
    preset = http.get(VOICES, params={"type": "preset"}).json()["items"][0]
    sample = http.get(f"{VOICES}/{preset['id']}/sample")
    with wave.open(io.BytesIO(sample.content)) as file:
        assert file.getnframes() == 2 * 24_000
    refused = http.delete(f"{VOICES}/{preset['id']}")
    assert refused.status_code == 400 and "preset" in refused.json()["message"]


@pytest.mark.parametrize(
    ("params", "body", "status"),
    [
        ({"limit": "0"}, None, 422),
        ({"limit": "101"}, None, 422),
        ({"offset": "-1"}, None, 422),
        ({"type": "mine"}, None, 422),
        (None, {"name": "x"}, 422),
        (None, {"name": "x", "sample_audio": "not base64!"}, 400),
        (None, {"name": "x", "sample_audio": base64.b64encode(b"plain text").decode()}, 400),
    ],
)
def test_bad_voice_requests(
    http: httpx2.Client, params: dict[str, str] | None, body: dict[str, Any] | None, status: int
) -> None:
    response = http.get(VOICES, params=params) if body is None else http.post(VOICES, json=body)
    assert response.status_code == status, response.text
    if status == 422:
        conforms("HTTPValidationError", response.json())


def test_voices_paginate(server: LocalServer, http: httpx2.Client) -> None:
    page = http.get(VOICES, params={"limit": "2", "offset": "2"}).json()
    assert page["page"] == 2 and page["page_size"] == 2 and page["total_pages"] == (page["total"] + 1) // 2
