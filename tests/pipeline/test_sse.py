"""Conformance vectors and properties for ``mistral_client._pipeline.sse`` (stage 1: bytes -> events).

The rules are those of the HTML standard, "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).
Events are compared as plain tuples, so no test depends on ``ServerSentEvent.__eq__``.
Tests tagged B1, B2, B4 are regression tests for decoder bugs these vectors found.
"""

from __future__ import annotations

import codecs
import json
import random
import re
from dataclasses import dataclass
from itertools import pairwise

import httpx2
import pytest
from httpx2._sse import _SSEParser
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mistral_client._pipeline.sse import EventTooLargeError, ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"

# (raw, data, event, id, retry)
Ev = tuple[bytes, str, str, str, int | None]


def ev(data: str, event: str = "message", id: str = "", retry: int | None = None) -> Ev:
    return (data.encode("utf-8"), data, event, id, retry)


def as_tuples(events: list[ServerSentEvent]) -> list[Ev]:
    return [(e.raw, e.data, e.event, e.id, e.retry) for e in events]


def decode_reads(reads: list[bytes], max_event_size: int | None = None) -> list[Ev]:
    decoder = SSEDecoder(max_event_size)
    events: list[ServerSentEvent] = []
    for read in reads:
        events.extend(decoder.feed(read))
    events.extend(decoder.end())
    return as_tuples(events)


def byte_reads(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def chunked(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def decode(stream: bytes) -> list[Ev]:
    """The events of ``stream`` fed in one read; checks that one byte per read gives the same."""
    whole = decode_reads([stream])
    assert decode_reads(byte_reads(stream)) == whole
    return whole


# --------------------------------------------------------------------------------------------
# Line ends
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", ["\n", "\r", "\r\n"], ids=["LF", "CR", "CRLF"])
def test_line_ends(eol: str) -> None:
    stream = f"data: a{eol}data: b{eol}{eol}data: c{eol}{eol}".encode()
    assert decode(stream) == [ev("a\nb"), ev("c")]


def test_mixed_line_ends_in_one_stream() -> None:
    # lines: "data: a" CRLF, "data: b" CR, "data: c" LF, "" CRLF, "data: d" CR, "" CR
    assert decode(b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r") == [ev("a\nb\nc"), ev("d")]


def test_cr_then_crlf_is_two_line_ends() -> None:
    assert decode(b"data: a\r\r\ndata: b\n\n") == [ev("a"), ev("b")]


@pytest.mark.parametrize(
    "reads",
    [
        [b"data: a\r", b"\ndata: b\r\n\r\n"],
        [b"data: a\r", b"\n", b"data: b\r\n\r\n"],
        [b"data: a\r\ndata: b\r", b"\n\r", b"\n"],
    ],
)
def test_crlf_split_across_reads_is_one_line_end(reads: list[bytes]) -> None:
    # Counting the LF as a second line end would dispatch "a" on its own.
    assert decode_reads(reads) == [ev("a\nb")]


def test_lone_cr_at_end_of_read_then_normal_line() -> None:
    # The first byte of the next read is not a LF: it must not be swallowed, nor glued to "data: a".
    assert decode_reads([b"data: a\r", b"data: b\r", b"\r"]) == [ev("a\nb")]


def test_trailing_cr_does_not_delay_dispatch() -> None:
    # "\r\n\r" may still be followed by "\n", but the CR already ended the event.
    decoder = SSEDecoder()
    assert as_tuples(decoder.feed(b"data: a\r\n\r")) == [ev("a")]
    assert as_tuples(decoder.feed(b"\ndata: b\r\n\r\n")) == [ev("b")]


def test_empty_read_between_cr_and_lf() -> None:
    # B1: an empty read used to clear the "last read ended in CR" flag: CR, b"", LF made two line ends
    assert decode_reads([b"data: a\r", b"", b"\ndata: b\n\n"]) == [ev("a\nb")]


def test_empty_reads_elsewhere_change_nothing() -> None:
    reads = [b"", b"", b"data: a", b"", b"\n", b"", b"\n", b""]
    assert decode_reads(reads) == [ev("a")]


# --------------------------------------------------------------------------------------------
# Byte order mark
# --------------------------------------------------------------------------------------------


def test_leading_bom_is_stripped_and_first_event_kept() -> None:
    assert decode(BOM + b"data: first\n\ndata: second\n\n") == [ev("first"), ev("second")]


def test_second_leading_bom_is_part_of_the_field_name() -> None:
    # Only one BOM is stripped: the next line's field name is "\ufeffdata", an unknown field.
    assert decode(BOM + BOM + b"data: x\n\ndata: y\n\n") == [ev("y")]


def test_bom_later_in_the_stream_is_kept() -> None:
    assert decode(b"data: a\n\n" + BOM + b"data: b\n\n") == [ev("a")]
    assert decode(BOM + b"data: " + BOM + b"z\n\n") == [ev("\ufeffz")]


@pytest.mark.parametrize(
    "reads",
    [
        [BOM[:1], BOM[1:] + b"data: x\n\n"],
        [BOM[:1], BOM[1:], b"data: x\n\n"],
        [BOM[:2], BOM[2:] + b"data: x\n\n"],
        [b"", BOM[:1], b"", BOM[1:2], BOM[2:], b"", b"data: x\n\n"],
    ],
    ids=["1+2", "1+2+rest", "2+1", "byte-by-byte-with-empty-reads"],
)
def test_bom_split_across_reads(reads: list[bytes]) -> None:
    assert decode_reads(reads) == [ev("x")]


@pytest.mark.parametrize("reads", [[b"d", b"ata: x\n\n"], [b"da", b"ta: x\n\n"], [b"\n", b"data: x\n\n"]])
def test_first_read_shorter_than_a_bom_is_not_lost(reads: list[bytes]) -> None:
    assert decode_reads(reads) == [ev("x")]


# --------------------------------------------------------------------------------------------
# Fields
# --------------------------------------------------------------------------------------------


def test_comments_and_keep_alives_are_ignored() -> None:
    stream = b": keep-alive\n\n:\n\ndata: x\n: in the middle\ndata: y\n\n"
    stream += b": keep-alive\r\n\r\n:data: not data\n\n"
    assert decode(stream) == [ev("x\ny")]


def test_data_lines_are_joined_with_lf() -> None:
    assert decode(b"data: a\ndata:\ndata: c\n\n") == [ev("a\n\nc")]
    # only the one LF appended after the last line is removed
    assert decode(b"data: a\ndata:\n\n") == [ev("a\n")]


@pytest.mark.parametrize(
    ("line", "data"),
    [
        (b"data:x", "x"),
        (b"data: x", "x"),
        (b"data:  x", " x"),
        (b"data: x ", "x "),
        (b"data:\tx", "\tx"),
        (b"data:", ""),
        (b"data: ", ""),
        (b"data: a: b", "a: b"),
    ],
)
def test_one_space_after_the_colon_is_removed(line: bytes, data: str) -> None:
    assert decode(line + b"\n\n") == [ev(data)]


def test_field_name_without_colon_has_empty_value() -> None:
    assert decode(b"data\n\n") == [ev("")]
    assert decode(b"data\ndata\n\n") == [ev("\n")]
    assert decode(b"data: a\ndata\n\n") == [ev("a\n")]
    assert decode(b"event: ping\nevent\ndata: x\n\n") == [ev("x")]


def test_unknown_fields_are_ignored() -> None:
    stream = (
        b"foo: bar\n"
        b"DATA: upper\n"
        b"Data: mixed\n"
        b" data: leading space\n"
        b"data : space before colon\n"
        b"datax\n"
        b"data: x\n\n"
        b"foo: only an unknown field\n\n"
    )
    assert decode(stream) == [ev("x")]


def test_event_type() -> None:
    stream = b"event: a\nevent: b\ndata: x\n\ndata: y\n\nevent:\ndata: z\n\n"
    assert decode(stream) == [ev("x", event="b"), ev("y"), ev("z")]


def test_event_without_data_dispatches_nothing_and_does_not_leak() -> None:
    assert decode(b"event: ping\n\ndata: x\n\n") == [ev("x")]
    assert decode(b"event: ping\n\n") == []


def test_id_containing_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid: \x00\ndata: c\n\n")
    assert as_tuples(events) == [ev("a", id="1"), ev("b", id="1"), ev("c", id="1")]
    assert decoder.last_event_id == "1"


def test_id_persists_until_changed() -> None:
    stream = b"id: 7\ndata: a\n\ndata: b\n\nid: 8\n\ndata: c\n\nid\ndata: d\n\n"
    assert decode(stream) == [ev("a", id="7"), ev("b", id="7"), ev("c", id="8"), ev("d", id="")]


def test_last_event_id_follows_dispatched_events() -> None:
    decoder = SSEDecoder()
    assert decoder.last_event_id == ""
    decoder.feed(b"id: 1\ndata: a\n\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"data: b\n\n")
    assert decoder.last_event_id == "1"
    decoder.feed(b"id: 2\n\n")  # a blank line commits the id even when no event is dispatched
    assert decoder.last_event_id == "2"


def test_last_event_id_of_an_undispatched_event_is_not_committed() -> None:
    # B4: the id used to be committed when its line was read, not when the event was dispatched
    decoder = SSEDecoder()
    decoder.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    decoder.end()
    assert decoder.last_event_id == "1"  # a reconnect must not claim event 2 was received


def test_retry_with_ascii_digits() -> None:
    decoder = SSEDecoder()
    assert decoder.retry is None
    events = decoder.feed(b"retry: 1500\ndata: a\n\ndata: b\n\nretry:0\ndata: c\n\nretry: 007\n")
    assert as_tuples(events) == [ev("a", retry=1500), ev("b", retry=1500), ev("c", retry=0)]
    assert decoder.retry == 7


@pytest.mark.parametrize(
    "value",
    ["\u0661\u0662", "\uff11\uff12", "\u00b2", "12ms", "-5", "+5", "1.5", " 5", "5 ", "", "1_000", "0x10"],
    ids=repr,
)
def test_retry_other_than_ascii_digits_is_ignored(value: str) -> None:
    fresh = SSEDecoder()
    assert as_tuples(fresh.feed(f"retry: {value}\ndata: a\n\n".encode())) == [ev("a")]
    assert fresh.retry is None

    decoder = SSEDecoder()
    events = decoder.feed(f"retry: 100\nretry: {value}\ndata: a\n\n".encode())
    assert as_tuples(events) == [ev("a", retry=100)]
    assert decoder.retry == 100


def test_invalid_utf8_is_replaced_not_raised() -> None:
    # a lone 0xFF and a truncated 3-byte sequence
    assert decode(b"data: a\xffb\xe2\x82\n\n") == [(b"a\xffb\xe2\x82", "a\ufffdb\ufffd", "message", "", None)]
    assert decode(b"event: \xff\nid: \xfe\ndata: x\n\n") == [ev("x", event="\ufffd", id="\ufffd")]


def test_multibyte_characters_split_across_reads() -> None:
    text = "caf\u00e9 \u2014 \U0001f600 \u4e2d\u6587"
    assert decode(f"data: {text}\n\n".encode()) == [ev(text)]


@pytest.mark.parametrize(
    "tail",
    [b"data: b\n", b"data: b", b"data: b\r", b"data: b\r\n", b"event: x\ndata: b\n", b"data: b\n:\n"],
)
def test_incomplete_last_event_is_discarded_at_eof(tail: bytes) -> None:
    decoder = SSEDecoder()
    assert as_tuples(decoder.feed(b"data: a\n\n" + tail)) == [ev("a")]
    assert decoder.end() == []
    assert decode(b"data: a\n\n" + tail) == [ev("a")]


def test_done_sentinel_is_just_an_event() -> None:
    assert decode(b"data: [DONE]\n\n") == [(b"[DONE]", "[DONE]", "message", "", None)]


def test_16_mib_event_in_64_kib_reads() -> None:
    size = 16 << 20
    payload = random.Random(16).randbytes(size).translate(bytes.maketrans(b"\r\n", b"RN"))
    stream = b"data: " + payload + b"\n\ndata: next\n\n"
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for read in chunked(stream, 64 << 10):
        events.extend(decoder.feed(read))
    assert len(events) == 2
    assert len(events[0].raw) == size
    assert events[0].raw == payload
    assert events[1].raw == b"next"


# --------------------------------------------------------------------------------------------
# max_event_size
# --------------------------------------------------------------------------------------------

CAP = 1000


def line_of(size: int, fill: bytes = b"x") -> bytes:
    """A data line of exactly ``size`` bytes (line end not included)."""
    return b"data: " + fill * (size - 6)


def test_cap_large_event_in_one_read_without_newline_raises() -> None:
    with pytest.raises(EventTooLargeError):
        SSEDecoder(CAP).feed(line_of(CAP + 1))


def test_cap_large_unterminated_line_after_an_event_raises() -> None:
    with pytest.raises(EventTooLargeError):
        SSEDecoder(CAP).feed(b"data: a\n\n" + line_of(10 * CAP))


@pytest.mark.parametrize(
    "reads",
    [
        [line_of(CAP + 1) + b"\n\n"],
        [line_of(10 * CAP) + b"\n\ndata: next\n\n"],
        [line_of(600) + b"\n", line_of(600) + b"\n\n"],
    ],
    ids=["one-line", "ten-times", "overflow-with-the-blank-line"],
)
def test_cap_large_complete_event_in_one_read_raises(reads: list[bytes]) -> None:
    # B2: the size used to be checked only at the end of feed(), after a blank line had reset it
    decoder = SSEDecoder(CAP)
    with pytest.raises(EventTooLargeError):
        for read in reads:
            decoder.feed(read)


@pytest.mark.parametrize("read_size", [1, 7, 100, 999])
def test_cap_holds_while_an_event_trickles_in_without_newline(read_size: int) -> None:
    decoder = SSEDecoder(CAP)
    fed = 0
    with pytest.raises(EventTooLargeError):
        for read in chunked(line_of(50 * CAP), read_size):
            fed += len(read)
            decoder.feed(read)
    # raised on the first read that took the buffered event past the cap
    assert CAP < fed <= CAP + read_size


def test_cap_counts_all_lines_of_one_event() -> None:
    decoder = SSEDecoder(CAP)
    lines = 0
    with pytest.raises(EventTooLargeError):
        for _ in range(100):
            lines += 1
            decoder.feed(line_of(100) + b"\n")
    assert lines <= 11  # 11 lines of 100 bytes are the first to pass 1000


@pytest.mark.parametrize("size", [CAP - 1, CAP])
@pytest.mark.parametrize("read_size", [None, 1, 64])
def test_cap_event_at_or_just_under_the_cap_passes(size: int, read_size: int | None) -> None:
    # 50 such events in a row: the count restarts with every event
    stream = (line_of(size) + b"\n\n") * 50
    reads = [stream] if read_size is None else chunked(stream, read_size)
    assert decode_reads(reads, max_event_size=CAP) == [ev("x" * (size - 6))] * 50


def test_cap_none_means_no_cap() -> None:
    assert decode_reads([line_of(1 << 20) + b"\n\n"], max_event_size=None) == [ev("x" * ((1 << 20) - 6))]


# --------------------------------------------------------------------------------------------
# A Mistral stream as the live service sent it
# --------------------------------------------------------------------------------------------

MISTRAL_CHUNKS = [
    b'{"id":"b581...","object":"chat.completion.chunk","created":1787865810,"model":"mistral-small-latest",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
    b'{"id":"b581...","object":"chat.completion.chunk","created":1787865810,"model":"mistral-small-latest",'
    b'"choices":[{"index":0,"delta":{"content":"OK"},"finish_reason":null}],'
    b'"p":"abcdefghijklmnopqrstuvwxyz0123456789"}',
    b'{"id":"b581...","object":"chat.completion.chunk","created":1787865810,"model":"mistral-small-latest",'
    b'"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":19,"total_tokens":21,"completion_tokens":2},"p":"abcdef"}',
    b"[DONE]",
]
MISTRAL_STREAM = b"".join(b"data: " + chunk + b"\n\n" for chunk in MISTRAL_CHUNKS)


def _check_mistral_events(events: list[Ev]) -> None:
    assert [raw for raw, *_ in events] == MISTRAL_CHUNKS
    assert all(e[2:] == ("message", "", None) for e in events)
    chunks = [json.loads(data) for _, data, *_ in events[:-1]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "OK"
    assert [c.get("p") for c in chunks] == [None, "abcdefghijklmnopqrstuvwxyz0123456789", "abcdef"]
    assert chunks[-1]["usage"]["completion_tokens"] == 2


def test_captured_mistral_stream_whole_and_byte_by_byte() -> None:
    _check_mistral_events(decode_reads([MISTRAL_STREAM]))
    _check_mistral_events(decode_reads(byte_reads(MISTRAL_STREAM)))


def test_mistral_stream_through_a_proxy_with_crlf_and_keep_alives() -> None:
    stream = b": connected\r\n\r\n" + MISTRAL_STREAM.replace(b"\n\n", b"\r\n: keep-alive\r\n\r\n")
    assert b"\n\n" not in stream
    _check_mistral_events(decode(stream))


# --------------------------------------------------------------------------------------------
# Properties: any split of the reads, and a reference implementation of the standard on str
# --------------------------------------------------------------------------------------------


@dataclass
class Reference:
    events: list[tuple[str, str, str, int | None]]  # (data, event, id, retry)
    last_event_id: str
    retry: int | None


def reference_decode(stream: bytes) -> Reference:
    """The WHATWG algorithm, written out plainly on str.

    ``retry`` on an event is the reconnection time in force when it was dispatched (the decoder's
    contract; browsers keep it on the EventSource, not on the event).
    """
    if stream.startswith(BOM):
        stream = stream[3:]
    lines = re.split(r"\r\n|\r|\n", stream.decode("utf-8", "replace"))
    del lines[-1]  # not terminated by a line end: discarded at EOF
    events: list[tuple[str, str, str, int | None]] = []
    data = event_type = id_buffer = last_event_id = ""
    retry: int | None = None
    for line in lines:
        if line == "":  # dispatch
            last_event_id = id_buffer
            if data:
                events.append((data.removesuffix("\n"), event_type or "message", last_event_id, retry))
            data = event_type = ""
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\0" not in value:
                id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return Reference(events, last_event_id, retry)


def reference_overflow_at(stream: bytes, cap: int) -> int | None:
    """The offset of the byte that takes an event past ``cap``, or None.

    An event's size is the bytes of its lines, line ends not counted, including a line still
    unfinished (the decoder's measure).
    """
    start = 3 if stream.startswith(BOM) else 0
    size = line = 0
    after_cr = False
    for i in range(start, len(stream)):
        byte = stream[i : i + 1]
        if byte == b"\n" and after_cr:
            after_cr = False
        elif byte in (b"\r", b"\n"):
            size = size if line else 0  # a blank line ends the event
            line = 0
            after_cr = byte == b"\r"
        else:
            line += 1
            size += 1
            after_cr = False
            if size > cap:
                return i
    return None


def test_reference_implementation_agrees_with_the_vectors() -> None:
    # guards the oracle itself
    stream = BOM + b"data: a\r\ndata:b\r\rid: 1\nevent: e\nretry: 5\ndata\n\n"
    stream += b": c\nfoo\nid: \x00\ndata: x\n\ndata: y"
    ref = reference_decode(stream)
    assert ref.events == [("a\nb", "message", "", None), ("", "e", "1", 5), ("x", "message", "1", 5)]
    assert (ref.last_event_id, ref.retry) == ("1", 5)
    assert reference_overflow_at(b"data: a\r\ndata: bb\n\n: c\n", 14) == 16
    assert reference_overflow_at(b"data: a\r\ndata: bb\n\n: c\n", 15) is None
    assert reference_overflow_at(BOM + b"data: a\r\n\r\ndata: a\r\n", 6) == 9


_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=12)
_value = st.one_of(
    _text.map(str.encode),
    st.binary(max_size=6).map(lambda b: b.translate(None, b"\r\n")),
    st.sampled_from([b"", b" ", b"  x", b":", b"\x00", b"a\x00b", BOM, b"\xe2\x82"]),
)
_retry_value = st.one_of(
    st.integers(0, 10**7).map(lambda i: str(i).encode()),
    st.sampled_from(["\u0661\u0662", "\uff15", "-1", "+1", " 5", "1.5", "", "12ms"]).map(str.encode),
)
_data_line = st.builds(lambda sep, v: b"data" + sep + v, st.sampled_from([b":", b": ", b":  ", b""]), _value)
_field_line = st.one_of(
    _data_line,
    _data_line,
    _data_line,
    st.builds(  # any field, with or without a colon
        lambda name, sep, v: name + sep + v if sep else name,
        st.sampled_from([b"data", b"event", b"id", b"retry", b"foo", b"", b"Data", b"data ", b" data"]),
        st.sampled_from([b"", b":", b": "]),
        _value,
    ),
    _value.map(lambda v: b":" + v),  # comment
    _retry_value.map(lambda v: b"retry: " + v),
    _value.map(lambda v: b"event: " + v),
    _value.map(lambda v: b"id: " + v),
)
_eol = st.sampled_from([b"\n", b"\r", b"\r\n"])
_lines = st.lists(st.tuples(_field_line, _eol), max_size=6)


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    """Events (field lines, then a blank line), then maybe an unfinished event.

    Every line end is drawn on its own, so a CR ending a line followed by a LF "blank line" makes a
    CRLF: the oracle, not this structure, says what the stream means.
    """
    parts = [BOM] if draw(st.booleans()) else []
    for lines in draw(st.lists(_lines, max_size=8)):
        parts += [content + eol for content, eol in lines]
        parts.append(draw(_eol))
    tail = draw(_lines)
    parts += [content + eol for content, eol in tail]
    if tail and draw(st.booleans()):
        parts[-1] = tail[-1][0]  # end without the last line end
    return b"".join(parts)


_cuts = st.lists(st.integers(0, 1 << 12), max_size=24)


def _reads(stream: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``stream`` at ``cuts`` (repeated cuts make empty reads)."""
    points = sorted(c % (len(stream) + 1) for c in cuts)
    return [stream[a:b] for a, b in pairwise([0, *points, len(stream)])]


def _byte_reads_and_empty_reads(stream: bytes) -> list[bytes]:
    return [read for byte in byte_reads(stream) for read in (b"", byte)]


def _data_tuples(events: list[Ev]) -> list[tuple[str, str, str, int | None]]:
    return [(data, event, id, retry) for _, data, event, id, retry in events]


@settings(max_examples=300, deadline=None)
@given(stream=event_streams(), cuts=_cuts)
def test_any_split_gives_the_events_of_the_reference(stream: bytes, cuts: list[int]) -> None:
    ref = reference_decode(stream)
    whole = decode_reads([stream])
    assert _data_tuples(whole) == ref.events
    assert all(raw.decode("utf-8", "replace") == data for raw, data, *_ in whole)
    assert decode_reads(_reads(stream, cuts)) == whole
    assert decode_reads(byte_reads(stream)) == whole
    assert decode_reads(_byte_reads_and_empty_reads(stream)) == whole

    decoder = SSEDecoder()
    for read in _reads(stream, cuts):
        decoder.feed(read)
    decoder.end()
    assert decoder.retry == ref.retry


@settings(max_examples=200, deadline=None)
@given(stream=event_streams(), cuts=_cuts)
@example(stream=b"id: 1\ndata: a\n\nid: 2\ndata: b\n", cuts=[])
def test_last_event_id_is_that_of_the_reference(stream: bytes, cuts: list[int]) -> None:
    # B4; the @example is the minimal vector
    decoder = SSEDecoder()
    for read in _reads(stream, cuts):
        decoder.feed(read)
    decoder.end()
    assert decoder.last_event_id == reference_decode(stream).last_event_id


@settings(max_examples=200, deadline=None)
@given(stream=event_streams())
def test_raw_is_the_data_bytes_for_valid_utf8(stream: bytes) -> None:
    try:
        stream.decode("utf-8")
    except UnicodeDecodeError:
        return
    for raw, data, *_ in decode_reads([stream]):
        assert raw == data.encode("utf-8")


def _check_cap(reads: list[bytes], cap: int, expected: list[Ev], overflow_at: int | None) -> None:
    """Feed ``reads``: the decoder raises in the read holding byte ``overflow_at``, or never."""
    decoder = SSEDecoder(cap)
    events: list[ServerSentEvent] = []
    fed = 0
    try:
        for read in reads:
            fed += len(read)
            events.extend(decoder.feed(read))
    except EventTooLargeError:
        assert overflow_at is not None, "raised although no event exceeds the cap"
        assert fed - len(read) <= overflow_at < fed, "raised in the wrong read"
        assert as_tuples(events) == expected[: len(events)]
    else:
        assert overflow_at is None, "an event larger than the cap got through"
        assert as_tuples(events) == expected


@settings(max_examples=200, deadline=None)
@given(stream=event_streams(), cap=st.integers(2, 200))
def test_cap_byte_by_byte_raises_as_soon_as_an_event_exceeds_it(stream: bytes, cap: int) -> None:
    _check_cap(byte_reads(stream), cap, decode_reads([stream]), reference_overflow_at(stream, cap))


@settings(max_examples=200, deadline=None)
@given(stream=event_streams(), cuts=_cuts, cap=st.integers(2, 200))
@example(stream=b"data: " + b"x" * 20 + b"\n\n", cuts=[], cap=10)
def test_cap_any_split_raises_as_soon_as_an_event_exceeds_it(stream: bytes, cuts: list[int], cap: int) -> None:
    # B2; the @example is the minimal vector
    overflow_at = reference_overflow_at(stream, cap)
    expected = decode_reads([stream])
    _check_cap([stream], cap, expected, overflow_at)
    _check_cap(_reads(stream, cuts), cap, expected, overflow_at)


# --------------------------------------------------------------------------------------------
# Where httpx2's SSE parser differs from the standard: the reason this decoder exists.
# If one of these fails, httpx2 was fixed: reconsider using it (see the _pipeline/sse.py docstring).
# --------------------------------------------------------------------------------------------


def httpx2_events(stream: bytes) -> list[tuple[str, str, str, int | None]]:
    """httpx2's parser fed the way EventSource feeds it: text from an incremental UTF-8 decoder."""
    parser = _SSEParser()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(stream, final=True)
    events = [*parser.decode(text), *parser.flush()]
    return [(e.data, e.event, e.id, e.retry) for e in events]


def ours(stream: bytes) -> list[tuple[str, str, str, int | None]]:
    return _data_tuples(decode_reads([stream]))


def test_httpx2_agrees_on_a_plain_stream() -> None:
    # guards the helper: the differences below are not an artefact of how httpx2 is fed
    assert httpx2_events(MISTRAL_STREAM) == ours(MISTRAL_STREAM)
    assert len(ours(MISTRAL_STREAM)) == 4


class TestHttpx2DiffersFromTheStandard:
    """Documents httpx2 behaviour that is wrong by the standard: ours right, httpx2's wrong."""

    def test_leading_bom(self) -> None:
        stream = BOM + b"data: first\n\ndata: second\n\n"
        expected = [("first", "message", "", None), ("second", "message", "", None)]
        assert ours(stream) == expected
        # httpx2 keeps the BOM in the first field name ("\ufeffdata") and loses the first event
        assert httpx2_events(stream) != expected
        assert "first" not in [data for data, *_ in httpx2_events(stream)]

    def test_leading_bom_through_event_source(self) -> None:
        stream = BOM + b"data: first\n\ndata: second\n\n"

        def handler(request: httpx2.Request) -> httpx2.Response:
            return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=stream)

        with (
            httpx2.Client(transport=httpx2.MockTransport(handler)) as client,
            client.stream("GET", "http://test/") as response,
        ):
            datas = [sse.data for sse in httpx2.EventSource(response)]
        assert [data for data, *_ in ours(stream)] == ["first", "second"]
        assert datas != ["first", "second"]

    def test_event_without_data(self) -> None:
        stream = b"event: ping\n\ndata: x\n\n"
        expected = [("x", "message", "", None)]
        assert ours(stream) == expected
        # httpx2 dispatches ("", "ping", "", None) for the data-less event
        assert httpx2_events(stream) != expected
        assert "ping" in [event for _, event, *_ in httpx2_events(stream)]

    def test_retry_in_non_ascii_digits(self) -> None:
        stream = "retry: \u0661\u0662\ndata: x\n\n".encode()
        expected = [("x", "message", "", None)]
        assert ours(stream) == expected
        # httpx2 takes int("١٢") == 12
        assert httpx2_events(stream) != expected
        assert [retry for *_, retry in httpx2_events(stream)] == [12]


def test_b3_oversize_error_keeps_the_events_completed_before_it() -> None:
    decoder = SSEDecoder(max_event_size=10)
    with pytest.raises(EventTooLargeError) as info:
        decoder.feed(b"data: a\n\ndata: " + b"x" * 20 + b"\n\n")
    assert [event.raw for event in info.value.events] == [b"a"]
    # the decoder refuses the rest: the tail of the oversize event must not come out as events
    assert decoder.feed(b"xxxx\n\ndata: b\n\n") == []
