"""The test media the server writes itself: real files that real readers open, and never a download."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from mistral_client.server import write_samples
from mistral_client.server._media import SAMPLE_PDF_PAGES, flac_bytes, ogg_flac_bytes, tone


def test_write_samples_writes_each_kind(tmp_path: Path) -> None:
    import mutagen
    import pypdf

    written = {path.name: path for path in write_samples(tmp_path, seconds=2.0)}
    assert set(written) == {"sample.wav", "sample.flac", "sample.ogg", "sample.mp3", "sample.pdf", "sample.png"}
    kinds = {"sample.wav": "WAVE", "sample.flac": "FLAC", "sample.ogg": "OggFLAC", "sample.mp3": "MP3"}
    for name, kind in kinds.items():
        audio = mutagen.File(written[name])
        assert type(audio).__name__ == kind
        assert audio.info.length == pytest.approx(2.0, abs=0.1) and audio.info.sample_rate == 16_000
    with wave.open(str(written["sample.wav"])) as file:
        assert (file.getnchannels(), file.getsampwidth(), file.getnframes()) == (1, 2, 32_000)
    reader = pypdf.PdfReader(written["sample.pdf"])
    assert len(reader.pages) == len(SAMPLE_PDF_PAGES) == 3
    text = reader.pages[1].extract_text()
    assert "Local Server Sample" in text and "Region | Sales | Growth" in text and "Page 2 of 3" in text
    assert written["sample.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_module_writes_them_from_the_command_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mistral_client.server._media", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert sorted(Path(line).name for line in done.stdout.split()) == sorted(p.name for p in tmp_path.iterdir())
    assert len(list(tmp_path.iterdir())) == 6


def test_the_same_seed_gives_the_same_sound_and_another_seed_another() -> None:
    assert tone(1.0, seed="a") == tone(1.0, seed="a") != tone(1.0, seed="b")
    assert len(tone(1.5, 24_000)) == 2 * 36_000


@pytest.mark.skipif(shutil.which("flac") is None, reason="the reference decoder (Debian's flac) is not installed")
def test_the_reference_flac_decoder_checks_every_frame_and_the_md5(tmp_path: Path) -> None:
    # flac -t decodes every frame, checks each CRC and the decoded audio against STREAMINFO's MD5.
    pcm = tone(2.5, seed="check")  # frames of 4096 samples and a short last one
    (tmp_path / "a.flac").write_bytes(flac_bytes(pcm))
    (tmp_path / "a.ogg").write_bytes(ogg_flac_bytes(pcm))
    for args in (["a.flac"], ["--ogg", "a.ogg"]):
        done = subprocess.run(["flac", "-t", *args], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "ok" in done.stderr and "WARNING" not in done.stderr, done.stderr


def test_flac_holds_the_samples_verbatim() -> None:
    pcm = tone(0.5, seed="x")
    data = flac_bytes(pcm)
    # The first frame: 16 header bytes at most, a verbatim subframe byte, then big-endian samples.
    first = io.BytesIO(data[42:]).read(4096 * 2 + 16)
    samples = bytearray(pcm[: 2 * 4096])
    samples[0::2], samples[1::2] = pcm[1 : 2 * 4096 : 2], pcm[0 : 2 * 4096 : 2]
    assert bytes(samples) in first
