"""Bad input to the audio, OCR, moderation and classification calls: an ``InvalidRequestError`` that
names what is wrong, raised before anything is sent (the raw server would see any connection)."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import pytest

from mistral_client import AsyncMistral, InvalidRequestError, Mistral
from mistral_client._wire.audio import MAX_AUDIO_BYTES
from mistral_client._wire.ocr import MAX_DOCUMENT_BYTES
from tests.support.rawserver import RawConnection, RawServer

AUDIO = {"model": "voxtral-mini-latest"}
OCR = {"model": "mistral-ocr-latest"}


def attempt(kind: str, method: str, *args: Any, **kw: Any) -> InvalidRequestError:
    """Call ``method`` (``"audio.transcriptions.create"``...) and return the error it raised, checking
    that nothing reached the server."""

    def handler(conn: RawConnection) -> None:
        conn.send_full(500, b'{"message":"should not be reached"}')

    with RawServer(handler) as raw:
        *path, name = method.split(".")
        with pytest.raises(InvalidRequestError) as caught:
            if kind == "sync":
                with Mistral(base_url=raw.base_url, max_retries=0) as client:
                    target: Any = client
                    for part in path:
                        target = getattr(target, part)
                    call = getattr(target, name)(*args, **kw)
                    if name == "stream":
                        with call as stream:
                            list(stream)
            else:

                async def main() -> None:
                    async with AsyncMistral(base_url=raw.base_url, max_retries=0) as client:
                        target: Any = client
                        for part in path:
                            target = getattr(target, part)
                        call = getattr(target, name)(*args, **kw)
                        if name == "stream":
                            async with call as stream:
                                [event async for event in stream]
                        else:
                            await call

                asyncio.run(main())
        assert raw.connections == [], "something was sent"
    return caught.value


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "talk.wav"
    path.write_bytes(b"RIFF" + bytes(60))
    return path


@pytest.mark.parametrize("method", ["audio.transcriptions.create", "audio.transcriptions.stream"])
def test_transcription_bad_input(kind: str, method: str, wav: Path, tmp_path: Path) -> None:
    assert "needs model=" in str(attempt(kind, method, wav))
    assert "needs audio" in str(attempt(kind, method, **AUDIO))
    error = attempt(kind, method, wav, file_url="https://example.com/a.wav", **AUDIO)
    assert "not as file and file_url" in str(error)
    assert "missing.wav' cannot be read: No such file" in str(attempt(kind, method, tmp_path / "missing.wav", **AUDIO))
    assert "not a file" in str(attempt(kind, method, tmp_path, **AUDIO))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert "empty (0 bytes)" in str(attempt(kind, method, empty, **AUDIO))
    with open(wav, encoding="latin-1") as text:
        assert "binary mode" in str(attempt(kind, method, text, **AUDIO))
    assert "must be a path, bytes or a binary file" in str(attempt(kind, method, 42, **AUDIO))
    assert "two-letter language code" in str(attempt(kind, method, wav, language="english", **AUDIO))
    assert "no spaces, no commas" in str(attempt(kind, method, wav, context_bias=["two words"], **AUDIO))
    assert "timestamp_granularities" in str(attempt(kind, method, wav, timestamp_granularities=["line"], **AUDIO))
    assert "temperature" in str(attempt(kind, method, wav, temperature="hot", **AUDIO))


def test_an_oversized_audio_file_is_refused(kind: str, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    with open(big, "wb") as file:  # sparse: no disk is used
        file.truncate(MAX_AUDIO_BYTES + 1)
    error = attempt(kind, "audio.transcriptions.create", big, **AUDIO)
    assert "over the limit" in str(error) and "nothing was sent" in str(error)


def test_an_unreadable_file_is_refused(kind: str, wav: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    wav.chmod(0)
    try:
        assert "permission denied" in str(attempt(kind, "audio.transcriptions.create", wav, **AUDIO))
    finally:
        wav.chmod(0o600)


def test_speech_and_voices_bad_input(kind: str, tmp_path: Path) -> None:
    assert "needs input=" in str(attempt(kind, "audio.speech.create"))
    assert "needs input=" in str(attempt(kind, "audio.speech.stream"))
    assert "response_format" in str(attempt(kind, "audio.speech.create", input="hi", response_format="aiff"))
    error = attempt(kind, "audio.speech.create", input="hi", ref_audio=str(tmp_path / "nope.wav"))
    assert "ref_audio" in str(error) and "No such file" in str(error)
    assert "needs name=" in str(attempt(kind, "audio.voices.create", sample=b"RIFF"))
    assert "needs sample=" in str(attempt(kind, "audio.voices.create", name="Ann"))
    assert "limit must be" in str(attempt(kind, "audio.voices.list", limit=0))
    assert "voice_id must be a non-empty string" in str(attempt(kind, "audio.voices.get", ""))
    assert "description" in str(attempt(kind, "audio.voices.update", "v1", description="x" * 501))


def test_ocr_bad_input(kind: str, tmp_path: Path) -> None:
    method = "ocr.process"
    assert "needs model=" in str(attempt(kind, method, document_url="https://example.com/a.pdf"))
    assert "needs a document" in str(attempt(kind, method, **OCR))
    error = attempt(kind, method, document_url="https://a/b.pdf", image_url="https://a/b.png", **OCR)
    assert "give one document, not 2" in str(error)
    unknown = tmp_path / "notes"
    unknown.write_bytes(b"plain words")
    assert "cannot tell what kind of document" in str(attempt(kind, method, unknown, **OCR))
    assert "table_format" in str(attempt(kind, method, document_url="https://a/b.pdf", table_format="csv", **OCR))
    assert "pages" in str(attempt(kind, method, document_url="https://a/b.pdf", pages=[-1], **OCR))
    error = attempt(kind, method, document_url="https://a/b.pdf", document_annotation_format=42, **OCR)
    assert "document_annotation_format" in str(error)
    big = tmp_path / "big.pdf"
    with open(big, "wb") as file:
        file.truncate(MAX_DOCUMENT_BYTES + 1)
    assert "over the limit" in str(attempt(kind, method, big, **OCR))
    assert "empty" in str(attempt(kind, method, io.BytesIO(), **OCR))


def test_moderation_and_classification_bad_input(kind: str) -> None:
    assert "needs model=" in str(attempt(kind, "moderations.create", input="hi"))
    assert "needs input=" in str(attempt(kind, "moderations.create", model="mistral-moderation-latest"))
    assert "input" in str(attempt(kind, "moderations.create", model="m", input=[]))
    assert "needs model=" in str(attempt(kind, "classifiers.classify", input="hi"))
    error = attempt(kind, "moderations.chat", model="m", input=[{"role": "robot", "content": "x"}])
    assert "invalid message" in str(error)
    assert "input[1] is empty" in str(
        attempt(kind, "classifiers.classify_chat", model="m", input=[[{"role": "user", "content": "a"}], []])
    )
    assert "needs input=" in str(attempt(kind, "classifiers.classify_chat", model="m"))
