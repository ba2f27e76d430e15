"""``mistral-client transcribe`` and ``mistral-client ocr``, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mistral_client.server._media import tone, wav_bytes
from tests.cli.test_cli import ERROR_PREFIX, TIMEOUT, cli_env, run_cli
from tests.client.test_media_calls import OCR_ANSWER
from tests.support.rawserver import RawConnection, RawServer


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "talk.wav"
    path.write_bytes(wav_bytes(tone(3.0, seed="cli")))
    return path


def test_transcribe_prints_the_text_and_writes_subtitles(wav: Path, tmp_path: Path) -> None:
    srt, vtt = tmp_path / "talk.srt", tmp_path / "talk.vtt"
    done = run_cli("transcribe", str(wav), "--srt", str(srt), "--vtt", str(vtt), "--diarize")
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip()
    assert text and "embedded local server" in done.stderr and f"to {srt}" in done.stderr
    assert srt.read_text().startswith("1\n00:00:00,000 --> ") and srt.read_text().rstrip().endswith(text.split()[-1])
    assert vtt.read_text().startswith("WEBVTT\n\n00:00:00.000 --> ") and "<v speaker_1>" in vtt.read_text()


def test_transcribe_streams_and_reads_stdin(wav: Path) -> None:
    whole = run_cli("transcribe", str(wav))
    streamed = run_cli("transcribe", str(wav), "--stream")
    piped = subprocess.run(
        [sys.executable, "-m", "mistral_client", "transcribe", "-"],
        input=wav.read_bytes(),
        env=cli_env(),
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert whole.returncode == streamed.returncode == piped.returncode == 0, piped.stderr
    assert whole.stdout == streamed.stdout == piped.stdout.decode() and whole.stdout.strip()


def test_transcribe_bad_file_is_one_usage_line(tmp_path: Path) -> None:
    done = run_cli("transcribe", str(tmp_path / "missing.wav"))
    assert done.returncode == 2 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.startswith(ERROR_PREFIX)]
    assert len(lines) == 1 and "missing.wav' cannot be read" in lines[0] and "nothing was sent" in lines[0]


def test_ocr_writes_one_markdown_file(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 not really")
    seen = []

    def handler(conn: RawConnection) -> None:
        seen.append(json.loads(conn.request.body))
        conn.send_full(200, json.dumps(OCR_ANSWER).encode())

    out = tmp_path / "scan.md"
    with RawServer(handler) as raw:
        done = run_cli("ocr", str(scan), "-o", str(out), "--pages", "0-1", env=cli_env(key="k", base_url=raw.base_url))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "# One\n\n![img-0.jpeg](img-0.jpeg)\n\n## Two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert "wrote 2 pages" in done.stderr and seen[0]["pages"] == [0, 1]
    assert seen[0]["document"]["document_url"].startswith("data:application/pdf;base64,")


def test_ocr_of_a_url_to_stdout() -> None:
    seen = []

    def handler(conn: RawConnection) -> None:
        seen.append(json.loads(conn.request.body))
        conn.send_full(200, json.dumps(OCR_ANSWER).encode())

    with RawServer(handler) as raw:
        done = run_cli("ocr", "https://example.com/page.png", env=cli_env(key="k", base_url=raw.base_url))
    assert done.returncode == 0 and done.stdout.startswith("# One\n")
    assert seen[0]["document"] == {"type": "image_url", "image_url": "https://example.com/page.png"}


def test_ocr_bad_pages_is_a_usage_error() -> None:
    done = run_cli("ocr", "x.pdf", "--pages", "3-1")
    assert done.returncode == 2 and "pages must be numbers" in done.stderr
