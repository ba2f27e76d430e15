"""Small audio and PDF files the server writes itself: test media and the speech endpoint's audio.

Nothing here is downloaded: WAV comes from the standard library's ``wave``, FLAC (and FLAC in an Ogg
container) from a few lines of framing below (verbatim subframes: uncompressed, but a real FLAC
file any player opens), MP3 from ``lameenc`` when the ``media`` extra is installed, and the PDF
from a hand-written file with a real text layer (Helvetica text, one content stream per page), so
a PDF library reads its text back. ``python -m mistral_client.server._media DIR`` writes a
sample of each into DIR (``sample.wav``, ``sample.flac``, ``sample.ogg``, ``sample.mp3``,
``sample.pdf``, ``sample.png``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import struct
import sys
import wave
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "SAMPLE_PDF_FOOTER",
    "SAMPLE_PDF_HEADER",
    "SAMPLE_PDF_PAGES",
    "encode_audio",
    "flac_bytes",
    "mp3_bytes",
    "ogg_flac_bytes",
    "pdf_bytes",
    "png_bytes",
    "sample_pdf",
    "tone",
    "wav_bytes",
    "write_samples",
]

SAMPLE_RATE = 16_000


def tone(seconds: float, rate: int = SAMPLE_RATE, *, seed: str = "") -> bytes:
    """Mono 16-bit little-endian PCM: a sequence of soft tones, one every quarter second, whose
    pitches follow ``seed`` (the same seed, the same sound)."""
    count = max(0, round(seconds * rate))
    step = rate // 4 or 1
    digest = hashlib.sha256(seed.encode()).digest()
    parts = []
    for start in range(0, count, step):
        pitch = 220.0 + 20.0 * digest[(start // step) % len(digest)] / 8
        parts.append(_tone_piece(pitch, min(step, count - start), rate))
    return b"".join(parts)


@functools.lru_cache(maxsize=256)
def _tone_piece(pitch: float, length: int, rate: int) -> bytes:
    """One tone; a long speech reuses the few pitches there are, so each is computed once."""
    samples = array("h", bytes(2 * length))
    for i in range(length):
        # A raised-cosine envelope: no click at either end of each tone.
        envelope = 0.5 - 0.5 * math.cos(2 * math.pi * i / length)
        samples[i] = int(8000 * envelope * math.sin(2 * math.pi * pitch * i / rate))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


def wav_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(pcm)
    return out.getvalue()


# --- FLAC: verbatim frames (RFC 9639) --------------------------------------------------------------

_BLOCK = 4096
_RATE_CODES = {8000: 4, 16000: 5, 22050: 6, 24000: 7, 32000: 8, 44100: 9, 48000: 10}


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    crc, table = 0, _CRC16
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def _coded_number(n: int) -> bytes:
    """A frame number in FLAC's UTF-8-like coding."""
    if n < 0x80:
        return bytes([n])
    extra = 1
    while n >= 1 << (6 + 5 * extra):  # 2 bytes hold 11 bits, 3 hold 16, ...
        extra += 1
    first = (0xFF00 >> (extra + 1)) & 0xFF | (n >> (6 * extra))
    return bytes([first, *((0x80 | (n >> (6 * i)) & 0x3F) for i in range(extra - 1, -1, -1))])


def _streaminfo(pcm: bytes, rate: int, *, last: bool) -> bytes:
    header = bytes([(0x80 if last else 0) | 0]) + (34).to_bytes(3, "big")
    packed = (rate << 44) | (0 << 41) | (15 << 36) | len(pcm) // 2  # rate, channels-1, bits-1, samples
    # The MD5 of the samples as little-endian 16-bit: `flac -t` checks the decoded audio against it.
    digest = hashlib.md5(pcm, usedforsecurity=False).digest()
    return header + struct.pack(">HH", _BLOCK, _BLOCK) + bytes(6) + packed.to_bytes(8, "big") + digest


def _flac_frames(pcm: bytes, rate: int) -> list[tuple[bytes, int]]:
    """The frames, each with the number of samples it holds."""
    samples = array("h", pcm)
    if sys.byteorder == "little":
        samples.byteswap()  # FLAC stores big-endian
    data = samples.tobytes()
    frames = []
    for number, start in enumerate(range(0, len(samples), _BLOCK)):
        size = min(_BLOCK, len(samples) - start)
        header = bytearray(b"\xff\xf8")
        header.append((12 if size == _BLOCK else 7) << 4 | _RATE_CODES.get(rate, 0))
        header.append(0 << 4 | 4 << 1)  # mono, 16 bits a sample
        header += _coded_number(number)
        if size != _BLOCK:
            header += (size - 1).to_bytes(2, "big")
        if rate not in _RATE_CODES:
            header[2] = header[2] & 0xF0 | 0  # from STREAMINFO
        header.append(_crc8(bytes(header)))
        frame = bytes(header) + b"\x02" + data[2 * start : 2 * (start + size)]  # a verbatim subframe
        frames.append((frame + _crc16(frame).to_bytes(2, "big"), size))
    return frames


def flac_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    return b"fLaC" + _streaminfo(pcm, rate, last=True) + b"".join(frame for frame, _ in _flac_frames(pcm, rate))


# --- Ogg (RFC 3533) carrying FLAC -------------------------------------------------------------------


def _crc32_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


_CRC32 = _crc32_table()


def _crc32_ogg(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected: not zlib's)."""
    crc, table = 0, _CRC32
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def _ogg_page(packet: bytes, *, sequence: int, granule: int, flags: int, serial: int = 0x6D63) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = b"OggS" + struct.pack("<BBqII", 0, flags, granule, serial, sequence)
    page = header + b"\0\0\0\0" + bytes([len(lacing), *lacing]) + packet
    crc = _crc32_ogg(page)
    return page[:22] + crc.to_bytes(4, "little") + page[26:]


def ogg_flac_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    first = b"\x7fFLAC\x01\x00" + (1).to_bytes(2, "big") + b"fLaC" + _streaminfo(pcm, rate, last=False)
    vendor = b"mistral-client"
    comment = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    comment_block = bytes([0x80 | 4]) + len(comment).to_bytes(3, "big") + comment
    pages = [
        _ogg_page(first, sequence=0, granule=0, flags=0x02),
        _ogg_page(comment_block, sequence=1, granule=0, flags=0),
    ]
    frames, done = _flac_frames(pcm, rate), 0
    for index, (frame, size) in enumerate(frames):
        done += size
        last = index == len(frames) - 1
        pages.append(_ogg_page(frame, sequence=2 + index, granule=done, flags=0x04 if last else 0))
    return b"".join(pages)


# --- MP3, through lameenc (the media extra) --------------------------------------------------------


def mp3_bytes(pcm: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """MP3 at 64 kbit/s; raises ImportError without the ``media`` extra."""
    import lameenc  # type: ignore[import-not-found,unused-ignore]

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


def encode_audio(pcm: bytes, response_format: str, rate: int = SAMPLE_RATE) -> bytes:
    """``pcm`` (mono 16-bit little-endian) as a file of ``response_format``: pcm, wav, flac, mp3."""
    if response_format == "pcm":
        return pcm
    if response_format == "wav":
        return wav_bytes(pcm, rate)
    if response_format == "flac":
        return flac_bytes(pcm, rate)
    if response_format == "mp3":
        return mp3_bytes(pcm, rate)
    raise ValueError(f"cannot write {response_format!r} audio")


# --- PDF with a text layer ---------------------------------------------------------------------------

SAMPLE_PDF_HEADER = "Local Server Sample"
SAMPLE_PDF_FOOTER = "Page {page} of {pages}"
SAMPLE_PDF_PAGES: tuple[tuple[str, ...], ...] = (
    (
        "Quarterly report",
        "",
        "The local server reads this text from the PDF's text layer.",
        "Each page comes back as markdown, in order.",
    ),
    (
        "Figures",
        "",
        "Region | Sales | Growth",
        "North | 120 | 4%",
        "South | 95 | 2%",
        "",
        "The table above is three rows of three cells.",
    ),
    (
        "Conclusion",
        "",
        "Streams first: every answer is checked against the official spec.",
    ),
)


def _pdf_text(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1", "replace") + b")"


def pdf_bytes(pages: Sequence[Sequence[str]], *, header: str | None = None, footer: str | None = None) -> bytes:
    """A PDF of US Letter pages, each line of ``pages`` a line of Helvetica text; an empty line is a
    gap. ``header`` is written at the top of every page and ``footer`` at the bottom (``{page}``
    and ``{pages}`` in them are the page's number and the count)."""
    objects: list[bytes] = []
    page_ids = [3 + 2 * i for i in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(b"%d 0 R" % n for n in page_ids)
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)))
    for number, (page_id, lines) in enumerate(zip(page_ids, pages, strict=True), start=1):
        ops = [b"BT /F1 11 Tf 14 TL 72 700 Td"]
        ops += [_pdf_text(line) + b" Tj T*" if line else b"T*" for line in lines]
        ops.append(b"ET")
        for text, y in ((header, 750), (footer, 40)):
            if text is not None:
                line = text.format(page=number, pages=len(pages))
                ops.append(b"BT /F1 9 Tf 72 %d Td %s Tj ET" % (y, _pdf_text(line)))
        content = b"\n".join(ops)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (page_id + 1, font_id)
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def sample_pdf() -> bytes:
    """The three-page sample: a header and a footer on every page, a table on page 2."""
    return pdf_bytes(SAMPLE_PDF_PAGES, header=SAMPLE_PDF_HEADER, footer=SAMPLE_PDF_FOOTER)


def png_bytes(width: int = 64, height: int = 32) -> bytes:
    """A grey-gradient PNG (8-bit greyscale) of ``width`` x ``height`` pixels."""
    rows = b"".join(b"\0" + bytes((x * 255 // max(1, width - 1)) for x in range(width)) for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_samples(directory: str | Path, seconds: float = 3.0) -> list[Path]:
    """Writes sample.wav, .flac, .ogg, .pdf, .png (and .mp3 with the media extra) into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    pcm = tone(seconds, seed="sample")
    files = {
        "sample.wav": wav_bytes(pcm),
        "sample.flac": flac_bytes(pcm),
        "sample.ogg": ogg_flac_bytes(pcm),
        "sample.pdf": sample_pdf(),
        "sample.png": png_bytes(),
    }
    try:
        files["sample.mp3"] = mp3_bytes(pcm)
    except ImportError:
        pass
    written = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_samples(sys.argv[1] if len(sys.argv) > 1 else "."):
        print(written_path)
