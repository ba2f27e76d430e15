"""The audio streams' decoding, I/O-free: every byte boundary, base64 cut anywhere, subtitles."""

from __future__ import annotations

import base64
import binascii
from time import perf_counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mistral_client._async.resources.audio import AsyncSpeechStream, AsyncTranscriptionStream
from mistral_client._pipeline.audio import Base64Stream, Speech, SpeechDecoder, Transcription
from mistral_client._pipeline.events import EventDecoder
from mistral_client._pipeline.subtitles import to_srt, to_vtt
from mistral_client._wire.audio import TranscriptionResponse, TranscriptionSegment
from tests.client.test_audio_streams import AUDIO, SPEECH, TRANSCRIPTION

TRANSCRIPTION_BODY = b"".join(TRANSCRIPTION)
SPEECH_BODY = b"".join(SPEECH)


def transcribe(pieces: list[bytes]) -> Transcription:
    decoder = EventDecoder(perf_counter(), AsyncTranscriptionStream.kinds, Transcription())
    for piece in pieces:
        for event in decoder.feed(piece):
            decoder.deliver(event)
    assert decoder.done and not decoder.failed
    return decoder.result


def speak(pieces: list[bytes]) -> Speech:
    decoder = SpeechDecoder(perf_counter(), AsyncSpeechStream.kinds, Speech("mp3"))
    for piece in pieces:
        for event in decoder.feed(piece):
            decoder.deliver(event)
    assert decoder.done and not decoder.failed
    return decoder.result


def test_a_transcription_cut_at_every_byte_boundary() -> None:
    whole = transcribe([TRANSCRIPTION_BODY])
    for cut in range(1, len(TRANSCRIPTION_BODY)):
        result = transcribe([TRANSCRIPTION_BODY[:cut], TRANSCRIPTION_BODY[cut:]])
        assert (result.text, result.language, result.segments) == (whole.text, whole.language, whole.segments)
        assert result.event_count == 6


def test_a_speech_stream_cut_at_every_byte_boundary() -> None:
    for cut in range(1, len(SPEECH_BODY)):
        result = speak([SPEECH_BODY[:cut], SPEECH_BODY[cut:]])
        assert result.audio == AUDIO and result.size == len(AUDIO) and result.chunk_count == 3


def test_one_byte_at_a_time() -> None:
    assert transcribe([bytes([b]) for b in TRANSCRIPTION_BODY]).text == "Hello world."
    assert speak([bytes([b]) for b in SPEECH_BODY]).audio == AUDIO


@given(blobs=st.lists(st.binary(max_size=40), min_size=1, max_size=6), data=st.data())
def test_base64_cut_anywhere_decodes_whole(blobs: list[bytes], data: st.DataObject) -> None:
    # Deltas encoded one by one (padding inside the joined text) or one text cut anywhere: the same bytes.
    for text in (
        "".join(base64.b64encode(blob).decode() for blob in blobs),
        base64.b64encode(b"".join(blobs)).decode(),
    ):
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
        decoder, out, start = Base64Stream(), b"", 0
        for cut in [*cuts, len(text)]:
            out += decoder.feed(text[start:cut])
            start = cut
        assert out + decoder.end() == b"".join(blobs)


def test_base64_that_is_not_base64_is_an_error() -> None:
    with pytest.raises(binascii.Error):
        Base64Stream().feed("abc$")
    with pytest.raises(binascii.Error):
        Base64Stream().feed("QUJD!Q==")  # binascii alone would skip the "!" and decode the rest
    decoder = Base64Stream()  # whitespace (a line-wrapped encoder) is dropped
    assert decoder.feed("QUJD\nQQ") == b"ABC" and decoder.end() == b"A"


def test_transcription_from_a_create_answer() -> None:
    answer = TranscriptionResponse(
        model="m", text="Hi", language="fr", segments=[TranscriptionSegment(text="Hi", start=0, end=1)]
    )
    result = Transcription.from_response(answer)
    assert (result.text, result.language, result.model, result.done) == ("Hi", "fr", "m", True)
    assert result.to_vtt() == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHi\n"


def seg(text: str, start: float, end: float, speaker: str | None = None) -> TranscriptionSegment:
    return TranscriptionSegment(text=text, start=start, end=end, speaker_id=speaker)


def test_srt_times_are_rounded_once_and_hours_grow() -> None:
    srt = to_srt([seg("a", 59.9996, 61.0004), seg("b", 3600 * 123 + 1.5, 3600 * 123 + 2)])
    assert srt == "1\n00:01:00,000 --> 00:01:01,000\na\n\n2\n123:00:01,500 --> 123:00:02,000\nb\n"


def test_srt_leaves_out_empty_segments_and_mends_bad_times() -> None:
    srt = to_srt([seg("  ", 0, 1), seg("x", -2, -3), seg("two\n\n\nlines\r\nhere", 1, 2)])
    assert srt == "1\n00:00:00,000 --> 00:00:00,000\nx\n\n2\n00:00:01,000 --> 00:00:02,000\ntwo\nlines\nhere\n"
    assert to_srt([]) == ""


def test_vtt_escapes_text_and_names_speakers() -> None:
    vtt = to_vtt([seg("a --> b & <c>", 0, 1, "Ann <1>")])
    assert vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n<v Ann &lt;1&gt;>a --&gt; b &amp; &lt;c&gt;\n"
    assert to_vtt([seg("hi", 0, 1, "Ann")], speakers=False) == "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nhi\n"
    assert to_srt([seg("hi", 0, 1, "Ann")], speakers=False) == "1\n00:00:00,000 --> 00:00:01,000\nhi\n"
