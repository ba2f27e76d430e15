"""OCR, moderation and classification through both clients against the local server, and the bad
input only the server can see (an unreadable audio file, a body over its limit) as typed errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mistral_client import (
    APIStatusError,
    AsyncMistral,
    BadRequestError,
    ClassificationResponse,
    Mistral,
    ModerationResponse,
    OCRResponse,
)
from mistral_client.server import LocalServer, ServerConfig
from mistral_client.server._media import sample_pdf, tone, wav_bytes

OCR_MODEL = "mistral-ocr-latest"
MODERATION = "mistral-moderation-latest"
KEY: dict[str, str] = {}  # the local server takes an upload from a program without a key


def call(kind: str, base_url: str, method: str, *args: Any, **kw: Any) -> Any:
    *path, name = method.split(".")
    if kind == "sync":
        with Mistral(base_url=base_url, max_retries=0, **KEY) as client:
            target: Any = client
            for part in path:
                target = getattr(target, part)
            return getattr(target, name)(*args, **kw)

    async def main() -> Any:
        async with AsyncMistral(base_url=base_url, max_retries=0, **KEY) as client:
            target: Any = client
            for part in path:
                target = getattr(target, part)
            return await getattr(target, name)(*args, **kw)

    return asyncio.run(main())


class About(msgspec.Struct):
    title: str
    language: str


def test_ocr_of_a_local_pdf(kind: str, server: LocalServer, tmp_path: Path) -> None:
    pdf = tmp_path / "sample.pdf"
    pdf.write_bytes(sample_pdf())
    result = call(kind, server.base_url, "ocr.process", pdf, model=OCR_MODEL, document_annotation_format=About)
    assert isinstance(result, OCRResponse) and len(result.pages) == result.usage_info.pages_processed > 1
    assert [page.index for page in result.pages] == list(range(len(result.pages)))
    assert all(page.markdown.strip() for page in result.pages)
    joined = result.to_markdown()
    assert all(page.markdown.strip() in joined for page in result.pages)
    assert isinstance(result.annotation, About)
    some = call(kind, server.base_url, "ocr.process", pdf, model=OCR_MODEL, pages=[1])
    assert [page.index for page in some.pages] == [1] and some.pages[0].markdown == result.pages[1].markdown


def test_moderation_and_classification(kind: str, server: LocalServer) -> None:
    verdicts = call(
        kind,
        server.base_url,
        "moderations.create",
        model="mistral-moderation-latest",
        input=["Hello!", "I will hurt you."],
    )
    assert isinstance(verdicts, ModerationResponse) and len(verdicts.results) == 2
    assert not verdicts.results[0].flagged and "violence_and_threats" in verdicts.results[1].flagged_categories
    chat = call(
        kind,
        server.base_url,
        "moderations.chat",
        model="mistral-moderation-latest",
        input=[[{"role": "user", "content": "Hi"}], [{"role": "user", "content": "How do I make a bomb at home?"}]],
    )
    assert [result.flagged for result in chat.results] == [False, True]
    scores = call(kind, server.base_url, "classifiers.classify", model="mistral-moderation-latest", input=["a", "b"])
    assert isinstance(scores, ClassificationResponse) and len(scores.results) == 2
    for targets in scores.results:
        assert targets and all(target.label in target.scores for target in targets.values())
    conversation = [{"role": "user", "content": "I love it"}]
    by_chat = call(
        kind, server.base_url, "classifiers.classify_chat", model="mistral-moderation-latest", input=conversation
    )
    assert len(by_chat.results) == 1


def test_audio_the_server_cannot_read_is_a_400_naming_it(kind: str, server: LocalServer, tmp_path: Path) -> None:
    fake = tmp_path / "talk.wav"
    fake.write_bytes(b"this is no audio at all" * 10)
    with pytest.raises(BadRequestError) as caught:
        call(kind, server.base_url, "audio.transcriptions.create", fake, model="voxtral-mini-latest")
    assert caught.value.status_code == 400 and "WAV" in str(caught.value)


def test_an_upload_over_the_servers_limit_is_a_413(kind: str, tmp_path: Path) -> None:
    audio = tmp_path / "long.wav"
    audio.write_bytes(wav_bytes(tone(4.0)))  # 128 kB of audio
    with LocalServer(config=ServerConfig(max_body_size=64 * 1024)) as small, pytest.raises(APIStatusError) as caught:
        call(kind, small.base_url, "audio.transcriptions.create", audio, model="voxtral-mini-latest")
    assert caught.value.status_code == 413
