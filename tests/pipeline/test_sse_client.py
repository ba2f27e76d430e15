"""SSE conformance end to end: the rules of ``test_sse.py``, through the sync and async client.

A raw socket server sends one chat answer framed in each way the WHATWG rules allow (line ends,
BOM, comments, multi-line data, odd fields...), whole and again one byte per HTTP chunk; the client
must deliver the same text every time.  The decoder-level vectors and the property tests are in
``test_sse.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from mistral_client import StreamError
from mistral_client._config import DEFAULT_MAX_EVENT_SIZE
from tests.support.helpers import Runner
from tests.support.rawserver import RawConnection, RawServer, chunk_json

WORDS = ["Hel", "lo", " wor", "ld", "!"]


def events() -> list[str]:
    """The JSON payloads of a normal answer: role, the words, the finish with usage."""
    return [
        chunk_json("", role=True),
        *(chunk_json(word) for word in WORDS),
        chunk_json("", finish="stop", usage=True),
    ]


def plain(payloads: list[str], done: bool = True) -> bytes:
    body = "".join(f"data: {payload}\n\n" for payload in payloads)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


def multiline(payload: str) -> str:
    """The same JSON spread over several ``data:`` lines (joined by LF, it is still that JSON)."""
    pretty = json.dumps(json.loads(payload), indent=1)
    return "\n".join(f"data: {line}" for line in pretty.split("\n"))


# name -> the body bytes; every one must give WORDS, finish "stop".
FRAMINGS: dict[str, Callable[[], bytes]] = {
    "LF": lambda: plain(events()),
    "CR": lambda: plain(events()).replace(b"\n", b"\r"),
    "CRLF": lambda: plain(events()).replace(b"\n", b"\r\n"),
    "mixed line ends": lambda: b"".join(
        line + (b"\n", b"\r", b"\r\n")[i % 3] for i, line in enumerate(plain(events()).split(b"\n")[:-1])
    ),
    "leading BOM": lambda: b"\xef\xbb\xbf" + plain(events()),
    "comments and keep-alives": lambda: (
        b": hello\n\n" + plain(events()).replace(b"\n\n", b"\n: keep-alive\n\n:\n\n") + b": bye\n\n"
    ),
    "multi-line data": lambda: (
        "".join(multiline(payload) + "\n\n" for payload in events()) + "data: [DONE]\n\n"
    ).encode(),
    "data: without the space": lambda: plain(events()).replace(b"data: ", b"data:"),
    "two spaces after data: kept as JSON whitespace": lambda: plain(events()).replace(b"data: ", b"data:  "),
    "field without colon": lambda: plain(events()).replace(b"data: ", b"data\nfoo\ndata: "),
    "unknown fields": lambda: plain(events()).replace(b"data: ", b"foo: bar\nx-y:\ndata: "),
    "id, also with NUL, and retry": lambda: plain(events()).replace(
        b"data: ", b"id: 7\nid: a\x00b\nretry: 1000\nretry: \xef\xbc\x91\xef\xbc\x92\ndata: "
    ),
    "event: without data": lambda: b"event: ping\n\n" + plain(events()).replace(b"\n\n", b"\n\nevent: x\n\n"),
    "named events are not chunks": lambda: b'event: ping\ndata: {"t": 1}\n\n' + plain(events()),
    "incomplete last event at EOF after the finish": lambda: plain(events(), done=False) + b'data: {"id": ',
    "events after [DONE]": lambda: plain(events()) + b"data: not json\n\ndata: [DONE]\n\n",
}


def _serve(body: bytes, byte_by_byte: bool) -> Callable[[RawConnection], None]:
    def handler(conn: RawConnection) -> None:
        conn.send_head()
        pieces = [body[i : i + 1] for i in range(len(body))] if byte_by_byte else [body]
        for piece in pieces:
            conn.send_chunk(piece)
        conn.end_body()

    return handler


@pytest.mark.parametrize("reads", ["whole", "byte by byte"])
@pytest.mark.parametrize("framing", list(FRAMINGS))
def test_framing_gives_the_same_answer(kind: str, framing: str, reads: str) -> None:
    body = FRAMINGS[framing]()
    with RawServer(_serve(body, reads == "byte by byte")) as raw:
        chunks, result = Runner(kind, raw.base_url).stream()
    assert [chunk.content for chunk in chunks] == ["", *WORDS, ""]
    assert result.content == "".join(WORDS)
    assert result.finish_reason == "stop"
    assert chunks[-1].is_last and result.usage is not None
    assert not result.cancelled


def test_invalid_utf8_becomes_replacement_characters(kind: str) -> None:
    body = plain([chunk_json("", role=True), chunk_json("caf"), chunk_json("", finish="stop", usage=True)])
    body = body.replace(b'"caf"', b'"caf\xc3"', 1).replace(b'"content":""}', b'"content":"\xff\xfe ok"}', 1)
    with RawServer(_serve(body, False)) as raw:
        chunks, result = Runner(kind, raw.base_url).stream()
    assert [chunk.content for chunk in chunks] == ["\ufffd\ufffd ok", "caf\ufffd", ""]
    assert result.finish_reason == "stop"


def _event_of_size(size: int) -> bytes:
    """A content chunk whose ``data:`` line is exactly ``size`` bytes (what the cap counts)."""
    empty = len(b"data: " + chunk_json("").encode())
    line = b"data: " + chunk_json("x" * (size - empty)).encode()
    assert len(line) == size
    return line + b"\n\n"


@pytest.mark.parametrize("over", [0, 1], ids=["exactly 16 MiB", "one byte more"])
def test_a_16_mib_event_at_the_default_cap(kind: str, over: int) -> None:
    body = (
        plain([chunk_json("", role=True)], done=False)
        + _event_of_size(DEFAULT_MAX_EVENT_SIZE + over)
        + plain([chunk_json("", finish="stop", usage=True)])
    )

    def handler(conn: RawConnection) -> None:
        conn.send_head()
        try:
            for start in range(0, len(body), 1 << 16):
                conn.send_chunk(body[start : start + (1 << 16)])
            conn.end_body()
        except OSError:
            pass  # the client stopped reading at the cap

    with RawServer(handler) as raw:
        runner = Runner(kind, raw.base_url)
        if over:
            with pytest.raises(StreamError, match=f"exceeded {DEFAULT_MAX_EVENT_SIZE} bytes") as info:
                runner.stream()
            assert info.value.partial.chunk_count == 1
        else:
            chunks, result = runner.stream()
            assert len(chunks[1].content) > DEFAULT_MAX_EVENT_SIZE - 300
            assert result.finish_reason == "stop"
