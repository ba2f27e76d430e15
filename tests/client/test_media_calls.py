"""The calls without a stream (transcription and speech ``create``, voices, OCR, moderation,
classification) through a real socket: what is sent, and how the answer reads, sync and async."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from mistral_client import AsyncMistral, Mistral, Speech, Transcription
from mistral_client.types import ClassificationResponse, ModerationResponse, OCRResponse, Voice, VoiceList
from tests.support.rawserver import RawConnection, RawServer

VOICE = {"id": "3f2a", "name": "Ann", "languages": ["en"], "created_at": "2026-01-01T00:00:00Z", "user_id": None}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
OCR_ANSWER = {
    "model": "mistral-ocr-2505",
    "pages": [
        {
            "index": 1,
            "markdown": "## Two\n\n[tbl-0.md](tbl-0.md)\n",
            "images": [],
            "tables": [{"id": "tbl-0.md", "content": "| a | b |\n|---|---|\n| 1 | 2 |", "format": "markdown"}],
            "dimensions": None,
        },
        {
            "index": 0,
            "markdown": "# One\n\n![img-0.jpeg](img-0.jpeg)\n",
            "images": [
                {
                    "id": "img-0.jpeg",
                    "top_left_x": 0,
                    "top_left_y": 0,
                    "bottom_right_x": 9,
                    "bottom_right_y": 9,
                    "image_base64": "QUJD",
                    "image_annotation": '{"label": "cat"}',
                }
            ],
            "header": "ACME report",
            "dimensions": {"dpi": 200, "height": 2200, "width": 1700},
        },
    ],
    "document_annotation": '{"title": "Report", "pages": 2}',
    "usage_info": {"pages_processed": 2, "doc_size_bytes": 1234},
}
ANSWERS: dict[str, Any] = {
    "/v1/audio/transcriptions": {
        "model": "voxtral-mini-2507",
        "text": "Hello world.",
        "language": "en",
        "segments": [{"text": "Hello world.", "start": 0.0, "end": 1.25}],
        "usage": {"prompt_audio_seconds": 2, "prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
    },
    "/v1/audio/speech": {"audio_data": base64.b64encode(b"ID3 audio").decode()},
    "/v1/audio/voices": {"items": [VOICE], "total": 1, "page": 1, "page_size": 10, "total_pages": 1},
    "/v1/audio/voices/3f2a": VOICE,
    "/v1/ocr": OCR_ANSWER,
    "/v1/moderations": {
        "id": "mod-1",
        "model": "mistral-moderation-latest",
        "results": [
            {
                "categories": {"violence_and_threats": True, "pii": True, "law": False},
                "category_scores": {"violence_and_threats": 0.9, "pii": 0.6, "law": 0.1},
            },
            {"categories": {"violence_and_threats": False}, "category_scores": {"violence_and_threats": 0.01}},
        ],
    },
    "/v1/chat/classifications": {
        "id": "c-1",
        "model": "ft:classifier:abc",
        "results": [{"intent": {"scores": {"buy": 0.2, "sell": 0.7, "hold": 0.1}}}],
    },
}
ANSWERS["/v1/chat/moderations"] = ANSWERS["/v1/moderations"]
ANSWERS["/v1/classifications"] = ANSWERS["/v1/chat/classifications"]


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Any] = []

    def __call__(self, conn: RawConnection) -> None:
        request = conn.request
        self.requests.append(request)
        path = request.path.partition("?")[0]
        if path.endswith("/sample"):
            conn.send_full(200, b"RIFF sample", content_type="audio/wav")
            return
        conn.send_full(200, json.dumps(ANSWERS[path]).encode())


def run(kind: str, method: str, *args: Any, **kw: Any) -> tuple[Any, Any]:
    """One call by its dotted name; the answer and the request the server saw."""
    recorder = Recorder()
    with RawServer(recorder) as raw:
        *path, name = method.split(".")
        if kind == "sync":
            with Mistral(api_key="k", base_url=raw.base_url) as client:
                target: Any = client
                for part in path:
                    target = getattr(target, part)
                answer = getattr(target, name)(*args, **kw)
        else:

            async def main() -> Any:
                async with AsyncMistral(api_key="k", base_url=raw.base_url) as client:
                    target: Any = client
                    for part in path:
                        target = getattr(target, part)
                    return await getattr(target, name)(*args, **kw)

            answer = asyncio.run(main())
    assert len(recorder.requests) == 1
    return answer, recorder.requests[0]


def test_transcription_create_uploads_the_file(kind: str, tmp_path: Path) -> None:
    audio = tmp_path / "talk.flac"
    audio.write_bytes(b"fLaC" + bytes(range(256)) * 8)
    result, sent = run(
        kind, "audio.transcriptions.create", audio, model="voxtral-mini-latest", timestamp_granularities=["segment"]
    )
    assert isinstance(result, Transcription) and result.text == "Hello world." and result.done
    assert result.to_srt() == "1\n00:00:00,000 --> 00:00:01,250\nHello world.\n"
    assert sent.path == "/v1/audio/transcriptions" and b'name="stream"\r\n\r\nfalse\r\n' in sent.body
    assert b'name="file"; filename="talk.flac"\r\nContent-Type: audio/flac\r\n\r\n' in sent.body
    assert audio.read_bytes() in sent.body


class CountingFile(io.BytesIO):
    """A binary file that records how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int | None] = []

    def read(self, size: int | None = -1) -> bytes:
        self.reads.append(size)
        return super().read(size)


def test_a_file_object_is_streamed_in_blocks_never_read_whole(kind: str) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    file = CountingFile(data)
    result, sent = run(kind, "audio.transcriptions.create", file, model="voxtral-mini-latest")
    assert result.text == "Hello world." and data in sent.body
    assert file.reads and all(size is not None and 0 < size < len(data) for size in file.reads)


def test_speech_create_decodes_the_audio(kind: str, tmp_path: Path) -> None:
    reference = tmp_path / "me.wav"
    reference.write_bytes(b"RIFF me")
    speech, sent = run(
        kind, "audio.speech.create", input="Hi", voice_id=None, ref_audio=reference, response_format="flac"
    )
    assert isinstance(speech, Speech) and speech.audio == b"ID3 audio" and speech.response_format == "flac"
    assert json.loads(sent.body) == {
        "input": "Hi",
        "ref_audio": base64.b64encode(b"RIFF me").decode(),
        "response_format": "flac",
        "stream": False,
    }
    assert speech.write_to(tmp_path / "out.flac") == 9 and (tmp_path / "out.flac").read_bytes() == b"ID3 audio"


def test_voices(kind: str, tmp_path: Path) -> None:
    voices, sent = run(kind, "audio.voices.list", limit=5, type="custom")
    assert isinstance(voices, VoiceList) and [v.name for v in voices.items] == ["Ann"]
    assert sent.path == "/v1/audio/voices?limit=5&type=custom"
    voice, sent = run(kind, "audio.voices.get", "3f2a")
    assert isinstance(voice, Voice) and voice.languages == ["en"] and sent.method == "GET"
    sample = tmp_path / "ann.wav"
    sample.write_bytes(b"RIFF ann")
    voice, sent = run(kind, "audio.voices.create", name="Ann", sample=sample, languages=["en"])
    assert json.loads(sent.body) == {
        "name": "Ann",
        "sample_audio": base64.b64encode(b"RIFF ann").decode(),
        "sample_filename": "ann.wav",
        "languages": ["en"],
    }
    _, sent = run(kind, "audio.voices.update", "3f2a", tags=["calm"])
    assert (sent.method, sent.path, json.loads(sent.body)) == ("PATCH", "/v1/audio/voices/3f2a", {"tags": ["calm"]})
    _, sent = run(kind, "audio.voices.delete", "3f2a")
    assert (sent.method, sent.path) == ("DELETE", "/v1/audio/voices/3f2a")
    audio, sent = run(kind, "audio.voices.sample", "3f2a")
    assert audio == b"RIFF sample" and sent.path == "/v1/audio/voices/3f2a/sample"


class Title(msgspec.Struct):
    title: str
    pages: int


@dataclass
class Label:
    label: str


def test_ocr_with_a_url_and_annotation_types(kind: str) -> None:
    answer, sent = run(
        kind,
        "ocr.process",
        model="mistral-ocr-latest",
        document_url="https://example.com/report.pdf",
        pages=range(2),
        include_image_base64=True,
        table_format="markdown",
        extract_header=True,
        document_annotation_format=Title,
        bbox_annotation_format=Label,
    )
    body = json.loads(sent.body)
    assert body["document"] == {"type": "document_url", "document_url": "https://example.com/report.pdf"}
    assert body["pages"] == [0, 1] and body["table_format"] == "markdown" and body["extract_header"] is True
    assert body["document_annotation_format"]["json_schema"]["name"] == "Title"
    assert body["document_annotation_format"]["json_schema"]["schema"]["required"] == ["title", "pages"]
    assert isinstance(answer, OCRResponse) and answer.usage_info.pages_processed == 2
    assert answer.annotation == Title(title="Report", pages=2)
    assert answer.pages[1].images[0].annotation == Label(label="cat")
    assert answer.to_markdown() == "# One\n\n![img-0.jpeg](img-0.jpeg)\n\n## Two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    inlined = answer.to_markdown(inline_images=True, tables=False)
    assert "![img-0.jpeg](data:image/jpeg;base64,QUJD)" in inlined and "[tbl-0.md](tbl-0.md)" in inlined


def test_ocr_of_a_local_file_sends_it_in_the_call(kind: str, tmp_path: Path) -> None:
    scan = tmp_path / "scan.png"
    scan.write_bytes(PNG)
    _, sent = run(kind, "ocr.process", scan, model="mistral-ocr-latest")
    image = {"type": "image_url", "image_url": "data:image/png;base64," + base64.b64encode(PNG).decode()}
    assert json.loads(sent.body)["document"] == image
    _, sent = run(kind, "ocr.process", b"%PDF-1.4 fake", model="mistral-ocr-latest", document_name="a.pdf")
    document = json.loads(sent.body)["document"]
    assert document["document_url"].startswith("data:application/pdf;base64,") and document["document_name"] == "a.pdf"
    _, sent = run(kind, "ocr.process", file_id="9b1c", model="mistral-ocr-latest")
    assert json.loads(sent.body)["document"] == {"type": "file", "file_id": "9b1c"}


def test_moderation_results_by_category(kind: str) -> None:
    answer, sent = run(kind, "moderations.create", model="mistral-moderation-latest", input=["a", "b"])
    assert json.loads(sent.body) == {"model": "mistral-moderation-latest", "input": ["a", "b"]}
    assert isinstance(answer, ModerationResponse) and answer.flagged
    first, second = answer.results
    assert first.flagged_categories == ["violence_and_threats", "pii"] and first.score("pii") == 0.6
    assert not second.flagged and second.score("sexual") == 0.0
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    _, sent = run(kind, "moderations.chat", model="mistral-moderation-latest", input=conversation)
    assert json.loads(sent.body)["input"] == conversation and sent.path == "/v1/chat/moderations"


def test_classification_results_by_label(kind: str) -> None:
    answer, sent = run(kind, "classifiers.classify", model="ft:classifier:abc", input="buy or sell?")
    assert isinstance(answer, ClassificationResponse) and sent.path == "/v1/classifications"
    target = answer.results[0]["intent"]
    assert (target.label, target.score) == ("sell", 0.7)
    conversations = [[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]]
    _, sent = run(kind, "classifiers.classify_chat", model="ft:classifier:abc", input=conversations)
    assert json.loads(sent.body)["input"] == [{"messages": c} for c in conversations]


def test_the_json_bodies_sent_follow_the_official_spec(kind: str, tmp_path: Path) -> None:
    from tests.support.openapi import conforms

    user = {"role": "user", "content": "x"}

    scan = tmp_path / "scan.png"
    scan.write_bytes(PNG)
    sent = [
        ("OCRRequest", run(kind, "ocr.process", scan, model="m", pages=[0], table_format="html")[1]),
        ("OCRRequest", run(kind, "ocr.process", document_url="https://a/b.pdf", model="m", extract_footer=True)[1]),
        ("OCRRequest", run(kind, "ocr.process", file_id="3fa85f64-5717-4562-b3fc-2c963f66afa6", model="m")[1]),
        ("ClassificationRequest", run(kind, "moderations.create", model="m", input="hi")[1]),
        (
            "ChatModerationRequest",
            run(kind, "moderations.chat", model="m", input=[user])[1],
        ),
        (
            "ChatClassificationRequest",
            run(kind, "classifiers.classify_chat", model="m", input=[user])[1],
        ),
        ("SpeechRequest", run(kind, "audio.speech.create", input="Hi", voice_id="v", response_format="opus")[1]),
        ("VoiceCreateRequest", run(kind, "audio.voices.create", name="A", sample=b"RIFF", tags=["x"])[1]),
        ("VoiceUpdateRequest", run(kind, "audio.voices.update", "3f2a", name="B")[1]),
    ]
    for schema, request in sent:
        conforms(schema, json.loads(request.body))
