"""The local server's transcription (``POST /v1/audio/transcriptions``): real audio read, the spec's shapes.

The audio is the server's own test media (``mistral_client.server._media``): WAV, FLAC, FLAC in
Ogg and MP3 that it writes itself. Every answer and streamed event is checked against the official
spec's schemas, and the official ``mistralai`` SDK parses them (tests/server/test_audio_sdk.py).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mistral_client.server import LocalServer
from mistral_client.server._media import flac_bytes, mp3_bytes, ogg_flac_bytes, tone, wav_bytes
from tests.support.openapi import conforms

PATH = "/v1/audio/transcriptions"
MODEL = "voxtral-mini-latest"
KEY = {"authorization": "Bearer any"}  # as clients send it; the server has no key, so any does


def media(kind: str, seconds: float = 3.0, seed: str = "one") -> tuple[str, bytes]:
    pcm = tone(seconds, seed=seed)
    writers = {"wav": wav_bytes, "flac": flac_bytes, "ogg": ogg_flac_bytes, "mp3": mp3_bytes}
    return f"speech.{kind}", writers[kind](pcm)


@pytest.fixture
def http(server: LocalServer) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.base_url, timeout=10, headers=KEY) as client:
        yield client


def transcribe(http: httpx2.Client, file: tuple[str, bytes] | None = None, **fields: Any) -> httpx2.Response:
    data = {"model": MODEL, **fields}
    return http.post(PATH, data=data, files={"file": file} if file else None)


def named_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    """A named-event SSE body read strictly: every block is ``event: NAME`` then one ``data: JSON`` line."""
    assert body.endswith(b"\n\n"), body[-80:]
    events = []
    for block in body.decode().split("\n\n")[:-1]:
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        events.append((lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))))
    return events


# --- Real audio, its real length ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["wav", "flac", "ogg", "mp3"])
def test_each_format_is_read_for_its_length(http: httpx2.Client, kind: str) -> None:
    response = transcribe(http, media(kind, 4.0), timestamp_granularities="segment")
    assert response.status_code == 200, response.text
    body = response.json()
    conforms("TranscriptionResponse", body)
    assert body["model"] == MODEL and body["language"] == "en"
    # MP3 adds the encoder's padding frames (about 0.1 s); the others hold exactly 4 s.
    assert body["usage"]["prompt_audio_seconds"] == (5 if kind == "mp3" else 4)
    segments = body["segments"]
    assert segments[0]["start"] == 0 and segments[-1]["end"] == pytest.approx(4.0, abs=0.15)
    assert all(a["end"] == pytest.approx(b["start"], abs=0.001) for a, b in itertools.pairwise(segments))
    assert " ".join(segment["text"] for segment in segments) == body["text"]
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_longer_audio_gets_more_text_and_segments(http: httpx2.Client) -> None:
    short = transcribe(http, media("wav", 2.0), timestamp_granularities="segment").json()
    long = transcribe(http, media("wav", 12.0), timestamp_granularities="segment").json()
    assert len(long["text"].split()) == 30 and len(short["text"].split()) == 5  # 2.5 words a second
    assert len(long["segments"]) == 4 and len(short["segments"]) == 1  # at most 8 words each
    assert long["segments"][-1]["end"] == 12.0


def test_the_same_audio_gives_the_same_text_and_other_audio_another(http: httpx2.Client) -> None:
    first = transcribe(http, media("flac", 3.0, seed="a")).json()
    again = transcribe(http, media("flac", 3.0, seed="a")).json()
    other = transcribe(http, media("flac", 3.0, seed="b")).json()
    assert first == again and first["text"] != other["text"]
    assert first["segments"] == []  # no timestamps asked for: none given, as the live API does


def test_options_shape_the_answer(http: httpx2.Client) -> None:
    file = media("wav", 6.0)
    words = transcribe(http, file, timestamp_granularities="word").json()
    assert len(words["segments"]) == 15 and all(" " not in s["text"] for s in words["segments"])
    diarized = transcribe(http, file, diarize="true").json()
    assert [s["speaker_id"] for s in diarized["segments"]] == ["speaker_1", "speaker_2"]
    biased = transcribe(http, file, context_bias=["Voxtral", "Mistral"]).json()
    assert biased["text"].startswith("Voxtral Mistral ")
    french = transcribe(http, file, language="fr").json()
    assert french["language"] == "fr" and french["text"] != transcribe(http, file).json()["text"]
    for body in (words, diarized, biased, french):
        conforms("TranscriptionResponse", body)


def test_a_data_url_is_read_and_a_file_id_goes_through_the_hook(server: LocalServer, http: httpx2.Client) -> None:
    name, data = "short.wav", wav_bytes(tone(0.03))  # file_url is at most 2083 characters (the spec)
    url = "data:audio/wav;base64," + base64.b64encode(data).decode()
    by_url = transcribe(http, file_url=url)
    assert by_url.status_code == 200, by_url.text
    assert by_url.json()["usage"]["prompt_audio_seconds"] == 1
    assert by_url.json()["text"] == transcribe(http, (name, data)).json()["text"]
    ogg_name, ogg = media("ogg", 2.0)
    server.app.state.file_content = {"file-1": (ogg, ogg_name)}.get  # file id -> (bytes, name)
    try:
        by_id = transcribe(http, file_id="file-1")
        assert by_id.json()["text"] == transcribe(http, media("ogg", 2.0)).json()["text"]
        missing = transcribe(http, file_id="file-2")
        assert missing.status_code == 404 and "file-2" in missing.json()["message"]
    finally:
        del server.app.state.file_content
    too_long = transcribe(http, file_url="data:audio/wav;base64," + "A" * 2100)
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "file_url"]


def test_a_url_the_server_cannot_fetch_gets_a_length_its_address_decides(http: httpx2.Client) -> None:
    first = transcribe(http, file_url="https://example.com/talk.mp3").json()
    conforms("TranscriptionResponse", first)
    assert 5 <= first["usage"]["prompt_audio_seconds"] <= 30
    assert transcribe(http, file_url="https://example.com/talk.mp3").json() == first


# --- The stream -----------------------------------------------------------------------------------


def test_the_stream_sends_the_spec_named_events(http: httpx2.Client) -> None:
    file = media("wav", 7.0)
    whole = transcribe(http, file, timestamp_granularities="segment", diarize="true").json()
    response = transcribe(http, file, stream="true", timestamp_granularities="segment", diarize="true")
    assert response.status_code == 200 and response.headers["content-type"] == "text/event-stream"
    events = named_events(response.content)
    for name, data in events:
        assert data["type"] == name
        conforms("TranscriptionStreamEvents", {"event": name, "data": data})
    names = [name for name, _ in events]
    assert names[0] == "transcription.language" and events[0][1]["audio_language"] == "en"
    assert names[-1] == "transcription.done" and names.count("transcription.done") == 1
    deltas = "".join(data["text"] for name, data in events if name == "transcription.text.delta")
    done = events[-1][1]
    assert deltas == done["text"] == whole["text"]
    segments = [data for name, data in events if name == "transcription.segment"]
    assert [(s["text"], s["start"], s["end"], s["speaker_id"]) for s in segments] == [
        (s["text"], s["start"], s["end"], s["speaker_id"]) for s in whole["segments"]
    ]
    assert done["segments"] == whole["segments"] and done["usage"] == whole["usage"]
    # Each segment event follows the last delta of its words.
    first_segment = names.index("transcription.segment")
    seen = "".join(d["text"] for n, d in events[:first_segment] if n == "transcription.text.delta")
    assert seen.strip() == segments[0]["text"]


def test_without_timestamps_the_stream_has_no_segment_events(http: httpx2.Client) -> None:
    events = named_events(transcribe(http, media("mp3", 2.0), stream="true").content)
    assert {name for name, _ in events} == {"transcription.language", "transcription.text.delta", "transcription.done"}
    assert events[-1][1]["segments"] == []


@pytest.mark.parametrize(
    ("knob", "expect"), [("x-mock-error-event-after", "error"), ("x-mock-disconnect-after", "cut")]
)
def test_stream_faults(http: httpx2.Client, knob: str, expect: str) -> None:
    file = media("wav", 4.0)
    if expect == "error":
        response = http.post(PATH, data={"model": MODEL, "stream": "true"}, files={"file": file}, headers={knob: "3"})
        events = named_events(response.content)
        assert [name for name, _ in events][-1] == "error" and len(events) == 4
        assert events[-1][1]["object"] == "error" and events[-1][1]["type"] == "internal_error"
        return
    with pytest.raises(httpx2.RemoteProtocolError):
        http.post(PATH, data={"model": MODEL, "stream": "true"}, files={"file": file}, headers={knob: "3"})


def test_a_stall_pauses_the_stream_where_asked(http: httpx2.Client) -> None:
    headers = {"x-mock-stall-after": "2", "x-mock-stall-seconds": "0.3"}
    with http.stream(
        "POST", PATH, data={"model": MODEL, "stream": "true"}, files={"file": media("wav", 2.0)}, headers=headers
    ) as response:
        pieces = response.iter_bytes()
        first = next(pieces)
        rest = b"".join(pieces)
    assert len(named_events(first)) == 2  # what came before the pause was sent before it
    assert named_events(first + rest)[-1][0] == "transcription.done"


# --- Bad input ------------------------------------------------------------------------------------


def test_a_missing_model_is_422(http: httpx2.Client) -> None:
    response = http.post(PATH, data={}, files={"file": media("wav", 1.0)})
    assert response.status_code == 422
    conforms("HTTPValidationError", response.json())
    assert response.json()["detail"][0]["loc"] == ["body", "model"]
    assert response.json()["detail"][0]["type"] == "missing"


@pytest.mark.parametrize(
    ("name", "data", "named"),
    [
        ("talk.mp3", b"\xff\xfb" + bytes(400), "MP3"),
        ("talk.flac", b"fLaC" + bytes(20), "FLAC"),
        ("talk.wav", b"RIFF\0\0\0\0WAVEjunk", "WAV"),
        ("notes.txt", b"hello, this is text", ".txt"),
        ("talk.mp3", b"", "empty"),
    ],
)
def test_audio_the_server_cannot_read_is_a_400_naming_the_format(
    http: httpx2.Client, name: str, data: bytes, named: str
) -> None:
    response = transcribe(http, (name, data))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["object"] == "error" and body["type"] == "invalid_request_error"
    assert named in body["message"] and name in body["message"]


def test_a_file_over_the_size_limit_is_413() -> None:
    with LocalServer(max_body_size=50_000) as small, httpx2.Client(base_url=small.base_url, headers=KEY) as http:
        assert transcribe(http, media("wav", 1.0)).status_code == 200  # 32 kB
        response = transcribe(http, media("wav", 3.0))  # 96 kB
    assert response.status_code == 413 and "50000" in response.json()["message"]


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"model": "mistral-small-latest"}, 400, "Invalid model"),
        ({"temperature": "warm"}, 422, "temperature"),
        ({"language": "english"}, 422, "language"),
        ({"stream": "maybe"}, 422, "stream"),
        ({"timestamp_granularities": "minute"}, 422, "timestamp_granularities"),
        ({"context_bias": "two words"}, 422, "context_bias"),
        ({"file_url": "https://example.com/a.mp3"}, 400, "file and file_url"),
    ],
)
def test_bad_fields(http: httpx2.Client, fields: dict[str, str], status: int, says: str) -> None:
    response = transcribe(http, media("wav", 1.0), **fields)
    assert response.status_code == status, response.text
    assert says in json.dumps(response.json())
    if status == 422:
        conforms("HTTPValidationError", response.json())


def test_a_broken_form_is_a_400(http: httpx2.Client) -> None:
    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    response = http.post(PATH, content=b"--xyz\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--xyz--\r\n",
                         headers=headers)  # fmt: skip
    assert response.status_code == 400 and response.json()["object"] == "error", response.text


def test_no_audio_at_all_is_a_400(http: httpx2.Client) -> None:
    response = transcribe(http)
    assert response.status_code == 400 and "file, file_url or file_id" in response.json()["message"]


def test_an_upload_from_a_program_is_taken_and_a_cross_site_form_is_not(server: LocalServer) -> None:
    with httpx2.Client(base_url=server.base_url) as bare:  # no key, no Origin: a program
        assert bare.post(PATH, data={"model": MODEL}, files={"file": media("wav", 1.0)}).status_code == 200
        foreign = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
        refused = bare.post(PATH, data={"model": MODEL}, files={"file": media("wav", 1.0)}, headers=foreign)
        assert refused.status_code == 403 and "evil.example" in refused.json()["message"]
        # A browser that leaves Origin out still says where the form came from.
        marked = bare.post(
            PATH, data={"model": MODEL}, files={"file": media("wav", 1.0)}, headers={"sec-fetch-site": "cross-site"}
        )
        assert marked.status_code == 415 and "from a program" in marked.json()["message"]
        own = {"origin": server.base_url, "sec-fetch-site": "same-origin"}
        assert bare.post(PATH, data={"model": MODEL}, files={"file": media("wav", 1.0)}, headers=own).status_code == 200
        other_path = bare.post("/v1/chat/completions", data={"model": MODEL})
        assert other_path.status_code == 415  # only the upload paths take a form


def test_usage_counts_the_audio_seconds_rounded_up(http: httpx2.Client) -> None:
    usage = transcribe(http, media("wav", 2.2)).json()["usage"]
    assert usage["prompt_audio_seconds"] == 3 and usage["prompt_tokens"] == math.ceil(2.2 * 12.5)
